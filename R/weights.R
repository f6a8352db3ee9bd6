#' Rake survey weights to known margins
#'
#' Iterative proportional fitting (raking) of starting weights so that the
#' weighted totals of each margin variable equal known population targets,
#' computed in C on cells.
#'
#' @section How it works:
#' Each row is coded once into an integer cell over all margin variables
#' and the starting weights are summed per cell in one pass over the rows
#' (on [umfrage_threads()] threads). Iterative proportional fitting then runs
#' on the cells, and a second pass maps each cell's adjustment factor back to
#' its rows. When the product of the margins' level counts is too large for
#' cells (more than 65,536 cells and more than a quarter of the rows, or more
#' than 2^26 cells), raking runs on the rows instead, still in C. Option
#' `umfrage.rake_mode` (`"auto"`, `"cells"` or `"rows"`) overrides the choice;
#' both give the same weights.
#'
#' @section Convergence:
#' Convergence means the margins are met, not that steps became small: the
#' largest relative margin error |achieved - target| / target over all levels
#' of all margins is at most `epsilon` (for a level with target 0 the error is
#' measured against the total). If that does not happen within `maxit`
#' sweeps, the weights are returned with a warning that gives the largest
#' error and where it is, and `wt_summary()` shows `converged = FALSE`.
#'
#' @section Targets:
#' `targets` is either a named list with one element per margin variable in
#' `data`, each a named numeric vector `level = target`
#' (`list(sex = c(m = 0.49, f = 0.51), region = c(N = 300, S = 700))`), or a
#' long data frame with columns `variable`, `level` and `target`. A list
#' element may also be a data frame with several variable columns and a
#' `target` column: a joint margin (say, age group by sex), as in
#' `survey::rake(sample.margins = list(~sex + age))`.
#'
#' How targets are read: a margin whose targets sum to within 0.02 of 1
#' (0.98 to 1.02) is read as shares, one that sums to within 2 of 100 (98 to
#' 102) as percents, and any other as population totals. Shares and percents
#' are proportions: each margin is rescaled to sum to exactly 1, then scaled
#' to `total`, or to the sum of the starting weights; a message says so
#' unless the shares summed to 1 (within 1e-6). To have targets that sum to
#' about 1 or 100 read as population totals (say, a population of 100), pass
#' `total` equal to their sum. All margins must be read alike (proportions,
#' or totals). Totals must agree between margins within 1e-6 relative; each
#' margin is then rescaled to the first margin's total, so that all can be
#' met exactly. [wt_summary()] shows the reading.
#' Margin variables may be factors (targets named by level), character,
#' logical (`TRUE`/`FALSE`), integer or numeric (named by value), and
#' haven-style labelled vectors (named by value label or by value). SPSS
#' user-missing values of `haven::labelled_spss()` columns are `NA` (and
#' their labels are no levels), unless `options(umfrage.user_na = "level")`
#' (see [tab()], section Variables). Matrix, data-frame and list columns are
#' an error.
#' The NA
#' level of a factor made by `addNA()` takes the target named `"NA"`. Level
#' and target names are compared after composing Latin letters followed by
#' combining accents (Unicode NFD, as macOS and some exports write an o with
#' umlaut as o + U+0308)
#' into their precomposed (NFC) form, so both spellings match.
#'
#' Every level that occurs in the data needs a target; a target of 0 is
#' allowed and gives that level's rows weight 0. A level with a positive
#' target needs respondents with positive starting weight. Starting weights
#' of 0 are allowed and stay 0.
#'
#' @section Cap:
#' `cap` bounds every weight by `cap` times the mean weight, where the mean
#' is the total divided by the number of rows with positive starting weight.
#' It is enforced inside the iterations as anesrake does: after each sweep
#' weights above the bound are trimmed, then raking continues, so the result
#' meets both the cap and the margins when that is feasible. A level whose
#' target cannot be reached under the cap (its rows would need a mean weight
#' above the bound) is an error.
#'
#' @param data A data frame holding the margin variables; not grouped
#'   (`dplyr::ungroup()` a grouped one: weights are not made within groups).
#'   Or a database table ([db_table()] or a dbplyr table), with `weights`
#'   a column name or `NULL`: see [db_weights].
#' @param targets Population margins: see Targets.
#' @param weights Starting (design) weights: `NULL` for 1, a numeric vector
#'   with one value per row, or the name (or one-sided formula) of a column
#'   of `data`. Finite and non-negative.
#' @param epsilon Largest relative margin error accepted as converged.
#' @param maxit Largest number of raking sweeps (one sweep adjusts every
#'   margin once).
#' @param cap `NULL`, or a number >= 1 bounding weight / mean weight.
#' @param total Sum of the weights when `targets` are proportions (default:
#'   the sum of the starting weights). With totals it must agree with them;
#'   given equal to the targets' sum, it makes them read as totals.
#' @param verbose If `TRUE`, report the mode and the margin error after
#'   every sweep, as messages.
#' @return A numeric vector of class `umfrage_weights`, one weight per row,
#'   carrying its diagnostics (see [wt_summary()]). It drops into a data
#'   frame column; subsetting or arithmetic gives a plain numeric vector,
#'   since the margins no longer hold.
#' @seealso [wt_poststrat()], [wt_summary()]; `survey::rake()`, whose result
#'   these weights match.
#' @examples
#' set.seed(1)
#' d <- data.frame(
#'   sex = sample(c("f", "m"), 500, TRUE, prob = c(0.6, 0.4)),
#'   age = factor(sample(c("18-34", "35-59", "60+"), 500, TRUE))
#' )
#' w <- wt_rake(d, list(sex = c(f = 0.51, m = 0.49),
#'                      age = c("18-34" = 0.3, "35-59" = 0.4, "60+" = 0.3)),
#'              total = 1000)
#' wt_summary(w)
#' xtabs(w ~ sex, d)
#' @export
wt_rake <- function(data, targets, weights = NULL, epsilon = 1e-10,
                    maxit = 1000L, cap = NULL, total = NULL, verbose = FALSE) {
  # database sources (db_weights.R)
  if (is_db_source(data)) return(db_wt_rake(data, targets, weights, epsilon, maxit, cap, total, verbose))
  check_data(data)
  w0 <- get_weights(weights, data)
  epsilon <- check_number(epsilon, "epsilon", min = 0)
  maxit <- check_count(maxit, "maxit")
  if (!is.null(cap)) cap <- check_number(cap, "cap", min = 1)
  check_flag(verbose, "verbose")
  margins <- normalize_targets(targets)
  margins <- scale_targets(margins, total)
  prep <- prepare_margins(data, margins)
  res <- rake_call(prep, w0, data, attr(margins, "scale"), cap, epsilon, maxit)
  if (verbose) {
    message(sprintf("wt_rake: %s mode, %.0f cells, %d margins", res$mode,
                    res$ncell, length(margins)))
    for (i in seq_along(res$trace))
      message(sprintf("  sweep %d: largest relative margin error %.3g",
                      i - 1L, res$trace[i]))
  }
  if (!res$converged) {
    wh <- worst_level(prep, res$worst)
    warnf("wt_rake() did not converge in maxit = %d sweeps: largest relative margin error %.3g (variable %s, level %s) > epsilon = %.3g%s",
          maxit, res$max_error, q(wh[1]), q(wh[2]), epsilon,
          if (is.null(cap)) "" else sprintf("; cap = %s may be too tight to meet together with the margins", format(cap)))
  }
  new_weights(res, prep, "rake", nrow(data), w0,
              list(epsilon = epsilon, maxit = maxit, cap = cap,
                   reading = attr(margins, "reading")))
}

#' Post-stratify survey weights to known cell totals
#'
#' Scales the starting weights within each post-stratum (a joint cell of one
#' or more variables) so that the weighted cell totals equal known population
#' totals: `w = w0 * target / sum(w0 in cell)`. The same as
#' `survey::postStratify()`, computed in C in one pass to sum the cells and
#' one to map the factors back.
#'
#' @param data A data frame holding the cell variables; not grouped.
#'   Or a database table ([db_table()] or a dbplyr table), with `weights`
#'   a column name or `NULL`: see [db_weights].
#' @param targets The population cells: a data frame with one column per cell
#'   variable and a column `target` (or `Freq`, as `survey::postStratify()`
#'   takes), a `table`/`xtabs` of population counts, or a named list with a
#'   single named numeric vector (one variable). Shares (summing to 1
#'   within 0.02) and percents (to 100 within 2) are proportions, scaled to
#'   `total` or to the sum of the starting weights, as in [wt_rake()]. Every cell
#'   that occurs in the data needs a target; a cell with a positive target
#'   needs respondents.
#' @inheritParams wt_rake
#' @return A `umfrage_weights` vector, as [wt_rake()].
#' @seealso [wt_rake()], [wt_summary()]
#' @examples
#' set.seed(2)
#' d <- data.frame(sex = sample(c("f", "m"), 300, TRUE),
#'                 age = sample(c("young", "old"), 300, TRUE))
#' pop <- data.frame(sex = c("f", "m", "f", "m"),
#'                   age = c("young", "young", "old", "old"),
#'                   target = c(260, 240, 270, 230))
#' w <- wt_poststrat(d, pop)
#' xtabs(w ~ sex + age, d)
#' @export
wt_poststrat <- function(data, targets, weights = NULL, total = NULL) {
  # database sources (db_weights.R)
  if (is_db_source(data)) return(db_wt_poststrat(data, targets, weights, total))
  check_data(data)
  w0 <- get_weights(weights, data)
  if (is.table(targets) || inherits(targets, "xtabs")) {
    targets <- as.data.frame(targets, stringsAsFactors = FALSE)
    if (!"Freq" %in% names(targets))
      stopf("'targets' as a table must convert to a data frame with a 'Freq' column")
  }
  if (is.data.frame(targets)) {
    margins <- list(margin_from_df(targets, "targets", "the cell targets"))
  } else if (is.list(targets) && length(targets) == 1L && !is.data.frame(targets[[1L]])) {
    margins <- normalize_targets(targets)
  } else if (is.list(targets) && length(targets) == 1L) {
    margins <- list(margin_from_df(targets[[1L]], "targets", "the cell targets"))
  } else {
    stopf("'targets' must be a data frame of cells with a 'target' column, a table, or a list with one named vector; not %s",
          obj_desc(targets))
  }
  margins <- scale_targets(margins, total)
  prep <- prepare_margins(data, margins)
  res <- rake_call(prep, w0, data, attr(margins, "scale"), NULL, 1e-9, 10L)
  new_weights(res, prep, "poststrat", nrow(data), w0, list(reading = attr(margins, "reading")))
}

# ---- shared machinery ---------------------------------------------------------

# One-pass summary of a weight vector; stops (naming `arg`) unless the
# weights are finite and non-negative and, with zero_ok = FALSE, not all 0.
weight_stats <- function(w, arg, zero_ok = TRUE) {
  st <- .Call(C_weight_stats, w)
  if (st[["n_na"]] + st[["n_infinite"]] + st[["n_negative"]] > 0 ||
      (!zero_ok && st[["n_positive"]] == 0))
    weight_problem(w, arg)
  st
}

# Stop with what is wrong with a weight vector (called on error paths only).
weight_problem <- function(w, arg) {
  st <- .Call(C_weight_stats, as.double(w))
  first <- function(bad) which(bad)[1L]
  if (st[["n_na"]] > 0)
    stopf("'%s' holds %d NA value(s) (first at row %d)", arg, st[["n_na"]],
          first(is.na(w)))
  if (st[["n_infinite"]] > 0)
    stopf("'%s' holds %d infinite value(s) (first at row %d)", arg,
          st[["n_infinite"]], first(is.infinite(w)))
  if (st[["n_negative"]] > 0)
    stopf("'%s' holds %d negative value(s) (first at row %d); weights must be >= 0",
          arg, st[["n_negative"]], first(!is.na(w) & w < 0))
  if (st[["n_positive"]] == 0)
    stopf("'%s' are all zero", arg)
  stopf("'%s' are not usable", arg)
}

rake_mode <- function() {
  mode <- getOption("umfrage.rake_mode", "auto")
  if (!is.character(mode) || length(mode) != 1L || !mode %in% c("auto", "cells", "rows"))
    stopf("option 'umfrage.rake_mode' must be \"auto\", \"cells\" or \"rows\"")
  switch(mode, auto = NA, cells = TRUE, rows = FALSE)
}

rake_call <- function(prep, w0, data, scale, cap, epsilon, maxit) {
  res <- .Call(C_rake, prep$codes, prep$nlev, w0, prep$margins, prep$targets,
               scale, if (is.null(cap)) NA_real_ else as.double(cap),
               as.double(epsilon), as.integer(maxit), rake_mode())
  if (res$status != 0L) rake_status_error(res, prep, data, w0, cap)
  res
}

worst_level <- function(prep, worst) {
  m <- worst[1L] + 1L
  c(paste(prep$vars[prep$margins[[m]] + 1L], collapse = ":"),
    margin_level_names(prep, m)[worst[2L] + 1L])
}

rake_status_error <- function(res, prep, data, w0, cap) {
  info <- res$info
  st <- res$status
  if (st == 1L)
    code_problem(prep, data, info[1L] + 1L,
                 ": recode the NAs to a level (and give it a target) or drop those rows",
                 "each a target (0 drops its rows)")
  if (st == 2L) weight_problem(w0, "weights")
  m <- info[1L] + 1L
  lv <- margin_level_names(prep, m)[info[2L] + 1L]
  var <- paste(prep$vars[prep$margins[[m]] + 1L], collapse = ":")
  if (st == 3L)
    stopf("level(s) %s of %s occur in %d row(s) of 'data' but have no target; give each a target (0 drops its rows)%s",
          q(lv), q(var), as.integer(info[3L]), na_level_hint(prep, m, data))
  if (st == 4L) {
    if (info[3L] == 0)
      stopf("target level(s) %s of %s have a positive target but no respondents in 'data'",
            q(lv), q(var))
    stopf("target level %s of %s has a positive target but its %d row(s) all have starting weight 0",
          q(lv), q(var), as.integer(info[3L]))
  }
  if (st == 5L)
    stopf("cap = %s cannot be met: level %s of %s needs its %d row(s) to carry %.3g times the mean weight on average",
          format(cap), q(lv), q(var), as.integer(info[3L]), res$value)
  if (st == 6L)
    stopf("the targets cannot be met: level %s of %s has a positive target but zero targets of other margins leave its rows no weight",
          q(lv), q(var))
  stopf("internal error: unknown raking status %d", st)
}

# For a level without a target in a margin with an addNA() factor: how to
# give its NA level a target.
na_level_hint <- function(prep, m, data) {
  vars <- prep$vars[prep$margins[[m]] + 1L]
  na_lev <- vapply(vars, function(v) is.factor(data[[v]]) && anyNA(levels(data[[v]])), NA)
  if (!any(na_lev)) return("")
  sprintf("; the NA level of factor %s (made by addNA()) takes the target named \"NA\"",
          q(vars[na_lev][1L]))
}

# Stop for margin variable number j (1-based in prep$vars) whose rows have
# no level with a target: NA values, or values without a target. The
# advice texts differ between wt_rake() and wt_calibrate().
code_problem <- function(prep, data, j, na_advice, level_advice) {
  v <- prep$vars[j]
  x <- data_col(data, v)
  nna <- sum(is.na(x))
  if (nna > 0)
    stopf("variable %s has %d NA value(s) (first at row %d); every row needs a level with a target%s",
          q(v), nna, which(is.na(x))[1L], na_advice)
  bad <- is.na(prep$codes[[v]]) & !is.na(x)
  vals <- if (is_labelled(x)) as.vector(unclass(x)[bad]) else x[bad]
  stopf("level(s) %s of %s occur in %d row(s) of 'data' but have no target; give %s",
        qlist(vals), q(v), sum(bad), level_advice)
}

new_weights <- function(res, prep, method, n, w0, settings) {
  tab <- margin_table(res, prep, n)
  diag <- c(list(
    method = method,
    iterations = res$iterations, converged = res$converged,
    max_error = res$max_error, trace = res$trace, mode = res$mode,
    ncell = res$ncell, total = res$total,
    margins = tab,
    calibration = cal <- cal_state(prep, w0, res$weights, method,
                                   cells = rake_cells(prep, res, w0, settings$cap),
                                   check = res$fingerprint),
    weighted_start = !is.null(w0), check = cal$check), settings)
  structure(res$weights, class = "umfrage_weights", umfrage = diag)
}

# The diagnostics' margin table: one row per level of each margin (levels
# without a target that no row has are left out), built column by column.
margin_table <- function(res, prep, n) {
  M <- length(prep$margins)
  t <- unlist(res$targets, use.names = FALSE)
  cnt <- unlist(res$n, use.names = FALSE)
  nlev <- lengths(res$targets)
  var <- vapply(prep$margins, function(i) paste(prep$vars[i + 1L], collapse = ":"), "")
  keep <- !(is.na(t) & cnt == 0)
  t[is.na(t)] <- 0
  tab <- list(variable = rep(var, nlev)[keep],
              level = unlist(lapply(seq_len(M), margin_level_names, prep = prep),
                             use.names = FALSE)[keep],
              target = t[keep], achieved = unlist(res$achieved, use.names = FALSE)[keep],
              n = cnt[keep], sample_share = cnt[keep] / n)
  structure(tab, class = "data.frame", row.names = .set_row_names(sum(keep)))
}

# What cal_state() needs from raking or post-stratification, without a pass
# over the rows: the totals of the margins' joint levels at the final
# weights are the level sums the C routine ended with (res$achieved, sums
# over its cells or rows). Raking and post-stratification multiply each
# row's starting weight by a factor of its cell, so w / w0 is constant
# within the cells, unless a cap trimmed rows of unequal starting weights
# (then the ratio check is not made); beyond 1e6 calibration cells it is not
# checked (NA), as cal_state() does.
rake_cells <- function(prep, res, w0, cap) {
  G <- prod(as.double(prep$nlev))
  totals <- res$achieved
  names(totals) <- names(prep$margins)
  list(totals = totals, constant = if (G > 1e6) NA else is.null(cap) || is.null(w0))
}

# ---- the calibration state carried by the weights ------------------------------
#
# tab() and as_svydesign() use it for the calibration-adjusted variance. It
# holds the margin variables and their target level names, the starting
# weights, the totals the weights achieved per joint level of each margin
# (in full, first variable fastest: the columns of cal_setup()'s indicator
# matrix), whether weight / starting weight is constant within each
# calibration cell (not so after a cap with unequal starting weights), and a
# fingerprint of the weights. Before the state is used, cal_misfit()
# checks that it still fits the weights and the rows.

cal_state <- function(prep, w0, w, method, numeric = character(), numeric_totals = double(),
                      calfun = NULL, bounds = NULL, cells = NULL, check = NULL) {
  # cells: NULL, or what a C routine already summed: per calibration cell
  # (1..G, first variable fastest) sum_w, the sums of w, or per margin
  # totals, the sums of w over its joint levels (as below); and constant,
  # whether w / w0 is constant within the cells (NA beyond 1e6 cells);
  # check: NULL, or wt_fingerprint(w) as a C routine took it while writing w
  G <- prod(as.double(prep$nlev))
  if (is.null(cells)) {
    codes <- lapply(prep$codes, as.integer)
    cc <- NA
    if (G <= 1e6) {
      g <- cal_cell_codes(codes, prep$nlev)
      cc <- ratio_misfit(g, as.integer(G), w, if (is.null(w0)) rep(1, length(w)) else w0) == 0L
    }
    totals <- lapply(prep$margins, function(i) {
      id <- cal_cell_codes(codes[i + 1L], prep$nlev[i + 1L])
      cell_sums(id, prod(prep$nlev[i + 1L]), w)
    })
  } else {
    cc <- cells$constant
    totals <- if (!is.null(cells$totals)) cells$totals
              else lapply(prep$margins, function(i) cell_margin_sums(cells$sum_w, prep$nlev, i + 1L))
  }
  list(vars = prep$vars,
       margins = lapply(prep$margins, function(i) prep$vars[i + 1L]),
       levels = lapply(prep$coded, `[[`, "levels"),
       lev = lapply(prep$coded, `[[`, "lev"),
       start = w0,
       totals = totals,
       cell_constant = cc, numeric = numeric, numeric_totals = numeric_totals,
       method = method, calfun = calfun, bounds = bounds,
       check = if (is.null(check)) wt_fingerprint(w) else check)
}

# Sums of the per-cell values s (cells 1..G of variables with nlev levels,
# first variable fastest) over the joint levels of the variables `vars`.
cell_margin_sums <- function(s, nlev, vars) {
  stride <- cumprod(c(1, as.double(nlev)))[vars]
  cell <- seq_along(s) - 1
  codes <- lapply(seq_along(vars), function(j) cell %/% stride[j] %% nlev[vars[j]] + 1)
  cell_sums(cal_cell_codes(codes, nlev[vars]), prod(nlev[vars]), s)
}

# Calibration cell (1-based, first variable fastest) of each row, from the
# variables' integer codes (no NA).
cal_cell_codes <- function(codes, nlev) {
  g <- rep(1, length(codes[[1L]]))
  stride <- 1
  for (j in seq_along(codes)) {
    g <- g + (codes[[j]] - 1) * stride
    stride <- stride * nlev[j]
  }
  if (stride <= .Machine$integer.max) as.integer(g) else g
}

# Sums of w per cell 1..G (w may be negative, as linear calibration allows).
cell_sums <- function(g, G, w) {
  s <- numeric(G)
  r <- rowsum(as.double(w), g, reorder = FALSE)
  s[as.integer(rownames(r))] <- r[, 1L]
  s
}

# 0 if w / w0 is constant within every cell g (relative tolerance tol; rows
# with w0 = 0 need w = 0), else the first row where it is not.
ratio_misfit <- function(g, G, w, w0, tol = 1e-8, sw = cell_sums(g, G, w),
                         s0 = cell_sums(g, G, w0)) {
  r <- ifelse(s0 != 0, sw / s0, 0)
  fit <- r[g] * w0
  bad <- abs(w - fit) > tol * abs(fit) + 1e-14 * sum(abs(sw)) / length(w)
  if (any(bad)) which(bad)[1L] else 0L
}

# A fingerprint of a weight vector: length, sum, sum of squares, sum of
# absolute values and the sum weighted by position, which changes when the
# weights are modified, subset or reordered (as data.table::setorder() does
# in place, keeping the attributes).
# The sums are taken on a safe scale (a power of two that brings the largest
# |w| to about 1, exact), so that weights near 1e160 or 1e-300 neither
# overflow nor underflow; the exponent is part of the fingerprint.
# In C (one pass, the same numbers as this R, which it replaces):
#   n <- length(w); mx <- if (n) max(abs(w)) else 0
#   e <- if (is.finite(mx) && mx > 0) min(max(-round(log2(mx)), -1020), 1020) else 0
#   if (e != 0) w <- w * 2^e
#   c(n, sum(w), sum(w * w), sum(abs(w)), sum(w * (seq_len(n) / n)), e)
wt_fingerprint <- function(w) .Call(C_fingerprint, as.double(w))

fingerprint_ok <- function(fp, w) {
  if (is.null(fp)) return(TRUE)
  now <- wt_fingerprint(w)
  if (length(fp) != length(now) || now[1L] != fp[1L] || now[6L] != fp[6L]) return(FALSE)
  sc <- c(fp[4L], fp[3L], fp[4L], fp[4L])
  isTRUE(all(abs(now[2:5] - fp[2:5]) <= 1e-12 * sc))
}

# NULL if the calibration state `cl` still fits the weights w of the rows,
# else what does not fit. g: calibration cell (1..G) of each row; now: the
# weighted totals of the margins' joint levels (as cl$totals, unlisted);
# num_now: those of the numeric auxiliaries (or NULL: not checked).
cal_misfit <- function(cl, w, w0, g, G, now, num_now = NULL,
                       Wg = cell_sums(g, G, w), W0g = cell_sums(g, G, w0)) {
  if (!fingerprint_ok(cl$check, w))
    return("the weights were changed, subset or reordered after they were made")
  if (isTRUE(cl$cell_constant)) {
    i <- ratio_misfit(g, G, w, w0, sw = Wg, s0 = W0g)
    if (i > 0L)
      return(sprintf("weight / starting weight is not constant within the calibration cells (first at row %d): the rows or the starting weights no longer line up with the weights",
                     i))
  }
  if (!is.null(cl$totals)) {
    was <- unlist(cl$totals)
    T <- sum(abs(w))
    if (length(now) != length(was) || any(abs(now - was) > 1e-6 * abs(was) + 1e-9 * T))
      return("the weighted totals of the margins' levels differ from those the weights were calibrated to")
  }
  if (!is.null(num_now) && length(cl$numeric_totals)) {
    was <- cl$numeric_totals
    if (any(abs(num_now - was) > 1e-6 * abs(was) + 1e-9 * abs(sum(w))))
      return("the weighted totals of the numeric auxiliaries differ from those the weights were calibrated to")
  }
  NULL
}

# ---- argument checks ------------------------------------------------------------

check_number <- function(x, arg, min = -Inf) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || !is.finite(x) || x < min)
    stopf("'%s' must be a single finite number%s, not %s", arg,
          if (is.finite(min)) sprintf(" >= %s", format(min)) else "",
          if (is.numeric(x) && length(x) == 1L) format(x) else obj_desc_len(x))
  as.double(x)
}

check_count <- function(x, arg) {
  if (!is.numeric(x) || length(x) != 1L || is.na(x) || x < 1 || x != round(x) ||
      x > .Machine$integer.max)
    stopf("'%s' must be a single whole number >= 1, not %s", arg,
          if (is.numeric(x) && length(x) == 1L) format(x) else obj_desc_len(x))
  as.integer(x)
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || length(x) != 1L || is.na(x))
    stopf("'%s' must be TRUE or FALSE", arg)
  invisible(x)
}

obj_desc_len <- function(x) {
  if (is.atomic(x) && !is.null(x)) sprintf("a %s vector of length %d", typeof(x), length(x))
  else obj_desc(x)
}
