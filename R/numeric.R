#' Numeric rows: means, totals, ratios, quantiles and mean scores in a table
#'
#' Row specs for [tab()]: put them in `rows` (alone or in a list with
#' column names and [mr_set()]s) to get, per banner column and `by` layer,
#' a weighted mean, total, ratio of two totals, quantiles, or the mean
#' score of a categorical variable, with design-based standard error,
#' confidence interval, design effect and significance letters (quantiles:
#' Woodruff intervals, no design effect, no letters).
#'
#' * `mean_of(y)`: the weighted mean of `y`, `sum(w y) / sum(w)`, as
#'   `survey::svymean()`.
#' * `total_of(y)`: the weighted total `sum(w y)`, as `survey::svytotal()`.
#' * `ratio_of(y, x)`: the ratio of totals `sum(w y) / sum(w x)`, as
#'   `survey::svyratio()`.
#' * `score_of(var, scores)`: the weighted mean of the scores of the levels
#'   of the categorical variable `var` (a mean-score row of an ordinal
#'   scale); a level with score `NA` (e.g. "don't know") is left out, as a
#'   missing value.
#' * `quantile_of(y, probs)`: the weighted quantiles of `y` at `probs`, one
#'   row per probability, as `survey::svyquantile(ci = TRUE)`; see
#'   Quantiles.
#'
#' In every column (and the Total) the estimate is computed over the rows of
#' the column with `y` (and `x`) not missing, as `svymean(na.rm = TRUE)`:
#' a row with a missing value leaves the domain but stays in the design
#' (its PSU and stratum still count for the variance, as in survey).
#'
#' The standard error is the linearised (Taylor series) one of survey, with
#' strata, clusters, finite population corrections and the lonely-PSU rule
#' of an [svy_design()]; for weights from [wt_rake()], [wt_poststrat()] or
#' [wt_calibrate()] (with `calibration = TRUE`) the calibration-adjusted
#' variance, as for percents. The interval is `estimate +/- t * se` with
#' the t quantile on the domain's degrees of freedom (`df`: its PSUs with a
#' row of positive weight minus their strata, as `survey::degf()` on the
#' domain), i.e. `confint(svymean(...), df = degf(domain))`. The design
#' effect `deff` is the variance over the variance of simple random
#' sampling of the domain's `n` rows of positive weight: for
#' `deff = "binomial"` or `"replace"` as `svymean(deff = "replace")` (the
#' weighted variance of `y` in the domain times `n / (n - 1)`, over `n`),
#' for `"survey"` as `svymean(deff = TRUE)` (times `(N - n) / N`, with `N`
#' the domain's weighted count; `NA` where `N <= n`); totals and ratios as
#' `svytotal()` and `svyratio()` do it.
#'
#' Letters compare the columns of a column variable (in the same layer): a
#' two-sided t test of the difference of two columns' estimates on its
#' linearised standard error (including their covariance), with the degrees
#' of freedom of the two columns together minus 1 -- for single column
#' variables what `survey::svyttest(y ~ I(col == a), subset(design, col == a |
#' col == b))` does -- then adjusted by `adjust` within the column variable
#' as for percents, with the same rules: no letter for a column with an
#' unweighted base below `min_base`, fewer than two PSUs (rows) of positive
#' weight, or a pair whose difference has a zero standard error. For MR sets
#' as column variables the items' domains overlap; the covariance of two
#' items comes from the rows they share, and the degrees of freedom are
#' those of the rows in either item.
#'
#' A constant `y` gives standard error 0 and no letters; a ratio whose
#' denominator totals 0 in a cell gives `NA` there, with a warning.
#'
#' @section Quantiles:
#' `quantile_of()` follows `survey::svyquantile(~y, design, probs, ci =
#' TRUE, na.rm = TRUE)` with survey 4.1.1's defaults (`qrule = "math"`,
#' Woodruff interval), per banner column (and MR item, and layer) as
#' `svyby(~y, ~col, design, svyquantile, ...)`. The estimate of the
#' p-quantile is the smallest value of `y` whose weighted share of the
#' column's rows (with `y` not missing) at or below it reaches `p`; no
#' interpolation. Its interval is Woodruff's: the share `F` of the column's
#' weight at or below the estimate gets the design-based t interval of a
#' weighted mean of the indicator of `y <= estimate` (standard error
#' calibration-adjusted for calibrated weights, as for means; t on the
#' column's degrees of freedom `df`, as for means), and the interval's
#' limits are the quantiles, under the same rule, at the two ends of F's
#' interval. The standard error is derived from the interval,
#' `(ci_high - ci_low) / (2 * qt(1 - (1 - level) / 2, df))`, as survey
#' does. A limit whose end of F's interval falls below 0 or above 1 is `NA`
#' (survey's `NaN`), and so is the SE; `df < 1` gives `NA` limits. The
#' arithmetic is survey's to the last bit, including two corners where it
#' departs from the rule as stated: where `p` times the column's weight is
#' below the weight of its smallest value (e.g. `p = 0`) the estimate is
#' the second smallest value, and where a share equals `p` in exact
#' arithmetic (equal weights, `p n` whole) floating-point comparisons
#' decide, usually for the next value. `ci = "none"` drops the interval
#' but keeps the SE.
#'
#' Quantile cells have no design effect (`deff` is `NA`; survey has none)
#' and no letters: there is no design-based test between column quantiles
#' here. (A sound and cheap one would be a design-based median test: the
#' difference between two columns of the share at or below their pooled
#' quantile, tested as a difference of means of an indicator, as
#' `survey::svyranktest(test = "median")` does for two groups; it is not
#' built.)
#'
#' Cost: a quantile needs an order of `y` within each column. One radix
#' sort of `y` over all rows (about 0.1 s at 1e6 rows) serves the Total,
#' every column variable, every layer and every probability of a
#' `quantile_of()` row; then, per column variable (per item of an MR set),
#' a few O(n) passes: the per-column totals, a walk in `y` order for the
#' estimates, the indicator and its per-PSU sums for F's SE (with
#' calibrated weights one pass per probability, plus the calibration's),
#' and a walk for the limits. At 1e6 rows a `quantile_of()` row with three
#' probabilities on a banner of 20 columns costs about five mean rows.
#'
#' @param y,x A column name or a one-sided formula naming one numeric
#'   column (`x`: the denominator of a ratio).
#' @param var A column name or one-sided formula naming one categorical
#'   column (factor, character, logical, labelled or numeric codes).
#' @param scores The score of each level of `var`: a numeric vector named by
#'   the levels (every level named; `NA` leaves a level out), or unnamed,
#'   one per level in level order.
#' @param probs Probabilities of `quantile_of()`: numbers in [0, 1],
#'   distinct, no `NA`.
#' @param label A display label of the row, or `NULL` (the statistic and the
#'   column's label, e.g. `"mean(income)"`).
#' @return A row spec of class `umfrage_numrow` for [tab()]'s `rows`.
#' @section Long form:
#' In `as.data.frame()` of the table the row variable of a numeric row is
#' named `"mean(y)"`, `"total(y)"`, `"ratio(y/x)"`, `"score(var)"` or
#' `"quantile(y)"`, and its single row (level) `"mean"`, `"total"`,
#' `"ratio"` or `"score"`; a quantile row has one level per probability,
#' `"25%"`, `"50%"`, ... (the display may call `"50%"` the median).
#' Column `stat` says which statistic a cell holds and `estimate` its value
#' in its own units; `se`, `ci_low` and `ci_high` are in the same units (not
#' percentage points), `pct` is `NA`, `n` and `base_n` count the rows used,
#' `n_w` and `base_w` their weights. `x$rows[[i]]` of a numeric row holds
#' `kind = "numeric"`, `stat`, `name`, `label`, `levels`, `vars` (the
#' columns), `scores` (score rows) and `probs` (quantile rows).
#' @seealso [tab()]
#' @examples
#' d <- data.frame(sex = rep(c("f", "m"), 50), age = rep(20:69, 2),
#'                 inc = 1000 + 10 * (1:100), hh = rep(1:4, 25),
#'                 q = factor(rep(c("bad", "ok", "good", "dk"), 25)))
#' tab(d, list(mean_of(~age), total_of(~inc), ratio_of(~inc, ~hh),
#'             score_of(~q, c(bad = 1, ok = 2, good = 3, dk = NA))), cols = "sex")
#' tab(d, quantile_of(~inc, c(0.25, 0.5, 0.75)), cols = "sex")
#' @name numeric_rows
NULL

#' @rdname numeric_rows
#' @export
mean_of <- function(y, label = NULL) {
  y <- num_col_name(y, "y", "mean_of")
  new_numrow("mean", y = y, label = label, name = sprintf("mean(%s)", y))
}

#' @rdname numeric_rows
#' @export
total_of <- function(y, label = NULL) {
  y <- num_col_name(y, "y", "total_of")
  new_numrow("total", y = y, label = label, name = sprintf("total(%s)", y))
}

#' @rdname numeric_rows
#' @export
ratio_of <- function(y, x, label = NULL) {
  y <- num_col_name(y, "y", "ratio_of")
  x <- num_col_name(x, "x", "ratio_of")
  new_numrow("ratio", y = y, x = x, label = label, name = sprintf("ratio(%s/%s)", y, x))
}

#' @rdname numeric_rows
#' @export
score_of <- function(var, scores, label = NULL) {
  var <- num_col_name(var, "var", "score_of")
  if (missing(scores) || !is.numeric(scores) || is.object(scores) || !length(scores))
    stopf("score_of(): 'scores' must be a numeric vector of scores, one per level of %s, not %s",
          q(var), if (missing(scores)) "missing" else obj_desc_len(scores))
  if (any(is.infinite(scores)) || all(is.na(scores)))
    stopf("score_of(): 'scores' must be finite numbers (NA leaves a level out), and not all NA")
  nm <- names(scores)
  if (!is.null(nm)) {
    if (anyNA(nm) || any(nm == ""))
      stopf("score_of(): 'scores' must be named by level throughout, or not at all")
    if (anyDuplicated(nm))
      stopf("score_of(): 'scores' names level(s) twice: %s", qlist(nm[duplicated(nm)]))
  }
  new_numrow("score", var = var, scores = stats::setNames(as.double(scores), nm),
             label = label, name = sprintf("score(%s)", var))
}

#' @rdname numeric_rows
#' @export
quantile_of <- function(y, probs = c(0.25, 0.5, 0.75), label = NULL) {
  y <- num_col_name(y, "y", "quantile_of")
  probs <- tryCatch(check_probs(probs), error = function(e)
    stopf("quantile_of(): %s", conditionMessage(e)))
  r <- new_numrow("quantile", y = y, label = label, name = sprintf("quantile(%s)", y))
  r$probs <- probs
  r
}

# The row levels of a quantile row: "25%", "50%", "2.5%", ... (distinct).
quantile_levels <- function(probs) {
  make_distinct(paste0(vapply(probs, function(p) format(signif(100 * p, 12), digits = 12,
                                                       scientific = FALSE), ""), "%"))
}

num_col_name <- function(y, arg, fun) {
  if (inherits(y, "formula")) {
    v <- all.vars(y)
    if (length(y) != 2L || length(v) != 1L || !is.name(y[[2L]]))
      stopf("%s(): '%s' must name one column, like ~income, not %s", fun, arg,
            paste(deparse(y), collapse = " "))
    return(v)
  }
  if (is.character(y) && length(y) == 1L && !is.na(y) && nzchar(y)) return(y)
  stopf("%s(): '%s' must be a column name or a one-sided formula naming one column, not %s",
        fun, arg, obj_desc_len(y))
}

new_numrow <- function(stat, y = NULL, x = NULL, var = NULL, scores = NULL, label = NULL, name) {
  if (!is.null(label) && !(is.character(label) && length(label) == 1L && !is.na(label)))
    stopf("%s_of(): 'label' must be a single string or NULL", stat)
  structure(list(stat = stat, y = y, x = x, var = var, scores = scores, label = label,
                 name = name),
            class = c("umfrage_numrow", paste0("umfrage_", stat)))
}

#' @export
print.umfrage_numrow <- function(x, ...) {
  cat(sprintf("<umfrage_numrow> %s%s\n", x$name,
              if (is.null(x$label)) "" else paste0(": ", q(x$label))))
  if (!is.null(x$scores)) {
    s <- x$scores
    cat("  scores: ", paste0(if (is.null(names(s))) "" else paste0(names(s), " = "),
                              format(s), collapse = ", "), "\n", sep = "")
  }
  if (!is.null(x$probs)) cat("  probs: ", paste(format(x$probs), collapse = ", "), "\n", sep = "")
  invisible(x)
}

# The columns a numeric row spec reads.
numrow_cols <- function(s) c(s$y, s$x, s$var)

# ---- tab() integration -----------------------------------------------------------

# A numeric column for a numeric row: double, user-missing values NA.
num_values <- function(data, col, s) {
  v <- data_col(data, col, "x")
  fun <- paste0(s$stat, "_of()")
  if (is_labelled(v) && is.numeric(unclass(v))) {
    v <- unclass(v)
    attributes(v) <- NULL
  }
  if (is.factor(v) || is.character(v) || is.logical(v) || !is.numeric(v) || is.object(v))
    stopf("%s: column %s must be numeric, not %s%s", fun, q(col), obj_desc_len(v),
          if (is.factor(v) || is.character(v)) "; for the mean score of a categorical variable use score_of()" else "")
  v <- as.double(v)
  if (all(is.na(v)))
    stopf("%s: column %s is all missing: there is nothing to estimate", fun, q(col))
  if (any(is.infinite(v)))
    stopf("%s: column %s holds infinite values", fun, q(col))
  v
}

# The row variable of a numeric row spec (as tab_var() makes them):
# kind "numeric", the values y (and x), one level.
tab_var_num <- function(s, data) {
  miss <- setdiff(numrow_cols(s), names(data))
  if (length(miss)) stopf("%s in 'rows' names column(s) not in 'x': %s", s$name, qlist(miss))
  lab_of <- function(col) {
    l <- attr(.subset2(data, col), "label", exact = TRUE)
    if (is.character(l) && length(l) == 1L && !is.na(l)) l else col
  }
  if (s$stat == "score") {
    v <- data_col(data, s$var, "x")
    cl <- code_single(v, s$var, "rows")
    lev <- cl$levels
    sc <- s$scores
    if (is.null(names(sc))) {
      if (length(sc) != length(lev))
        stopf("score_of(): 'scores' has %d value(s) but %s has %d level(s) (%s); give one score per level, or name them",
              length(sc), q(s$var), length(lev), qlist(lev))
    } else {
      bad <- setdiff(names(sc), lev)
      if (length(bad))
        stopf("score_of(): 'scores' names %s, not level(s) of %s (levels: %s)", qlist(bad),
              q(s$var), qlist(lev))
      left <- setdiff(lev, names(sc))
      if (length(left))
        stopf("score_of(): 'scores' gives no score to level(s) %s of %s; give every level a score (NA leaves it out)",
              qlist(left), q(s$var))
      sc <- sc[lev]
    }
    y <- unname(sc)[as.integer(cl$codes)]
    if (all(is.na(y)))
      stopf("score_of(): no row of %s has a level with a score", q(s$var))
    x <- NULL
    vlab <- lab_of(s$var)
    scores <- stats::setNames(unname(sc), lev)
  } else {
    y <- num_values(data, s$y, s)
    x <- if (s$stat == "ratio") num_values(data, s$x, s) else NULL
    if (!is.null(x) && !any(!is.na(x) & !is.na(y)))
      stopf("ratio_of(): no row has both %s and %s", q(s$y), q(s$x))
    vlab <- if (is.null(x)) lab_of(s$y) else paste0(lab_of(s$y), "/", lab_of(s$x))
    scores <- NULL
  }
  label <- if (is.null(s$label)) sprintf("%s(%s)", s$stat, vlab) else s$label
  levels <- if (s$stat == "quantile") quantile_levels(s$probs) else s$stat
  list(name = s$name, label = label, levels = levels, kind = "numeric", stat = s$stat,
       vars = numrow_cols(s), var_label = vlab, scores = scores, probs = s$probs,
       y = y, x = x, desc = NULL)
}

# ---- all numeric rows at once ---------------------------------------------------

# Whether C_num_fast serves the design: everything without a variance;
# otherwise one-stage designs without calibration, and (rows as PSUs) no
# MR set among the column variables (their items' cross-products need
# C_num_pass's xprod). Calibrated and multistage designs take num_block()'s
# route through z_cov().
# (Internal option umfrage.num_fast = FALSE: always num_block()'s route, for
# tests that compare the two.)
num_fast_ok <- function(all_cvars, des, opt, cal) {
  if (!isTRUE(getOption("umfrage.num_fast", TRUE))) return(FALSE)
  if (!is.null(opt$rep)) return(FALSE)   # replicate designs (replicate.R)
  if (!opt$se) return(TRUE)
  if (!is.null(cal) || !is.null(des$ms)) return(FALSE)
  if (!des$clustered && any(vapply(all_cvars, function(v) identical(v$kind, "mr"), NA)))
    return(FALSE)
  TRUE
}

# The blocks of all mean/total/ratio/score rows of a tab() call from one C
# pass over the rows (C_num_fast: every spec, column variable, layer and
# design unit at once, and the inference from the per-unit sums in C): a
# list named by the rows' names, NULL where num_block() computes the row
# itself (quantile rows, or designs that num_fast_ok() leaves to z_cov()).
num_prepass <- function(rvars, cvars, bvars, total_var, w, des, opt, cal = NULL) {
  num <- which(vapply(rvars, function(rv)
    identical(rv$kind, "numeric") && !identical(rv$stat, "quantile"), NA))
  if (!length(num)) return(NULL)
  all_cvars <- c(list(total_var), cvars)
  if (!num_fast_ok(all_cvars, des, opt, cal)) return(NULL)
  bcodes <- lapply(bvars, function(v) v$desc[[3L]][[1L]])
  blev <- vapply(bvars, function(v) as.integer(v$desc[[2L]]), 1L)
  bna <- vapply(bvars, function(v) as.integer(v$desc[[4L]]), 1L)
  dl <- dinfo <- NULL
  if (opt$se) {
    dl <- design_layer(des)
    du <- design_units(des)
    dinfo <- list(clustered = as.integer(des$clustered), nd = if (is.null(dl)) 1L else dl$nd,
                  stratum = if (des$clustered) as.integer(des$psu_stratum),
                  scale = as.double(du$scale), center = as.integer(du$center),
                  nh = as.double(du$nh))
  }
  specs <- lapply(rvars[num], function(rv)
    list(rv$y, rv$x, switch(rv$stat, total = 1L, ratio = 2L, 0L)))
  o <- list(se = as.integer(opt$se), letters = as.integer(isTRUE(opt$letters)),
            alpha = as.double(opt$alpha),
            adjust = match(opt$adjust, c("bonferroni", "holm", "none")) - 1L,
            min_base = as.double(if (is.null(opt$min_base)) 0 else opt$min_base))
  res <- .Call(C_num_fast, specs, lapply(all_cvars, `[[`, "desc"), bcodes, as.integer(blev),
               as.integer(bna), w, if (!is.null(dl)) as.integer(dl$desc[[3L]][[1L]]), dinfo, o)
  nb <- as.integer(prod(blev))
  out <- Map(function(rv, r) num_fast_block(rv, r, all_cvars, bvars, nb, opt), rvars[num], res)
  names(out) <- vapply(rvars[num], `[[`, "", "name")
  out
}

# One row's block from C_num_fast's result r (per cell of all column
# variables, Total first, layer, then cell fastest within a column
# variable: the totals n npos sw sw2 U V suu svv suv, the variance of the
# estimate var, that of the weighted count var_nw, df, letters): the
# estimates, intervals and design effects as num_column() computes them,
# for all cells at once.
num_fast_block <- function(rv, r, all_cvars, bvars, nb, opt) {
  tot <- r$tot
  n <- tot[, 1L]; npos <- tot[, 2L]; sw <- tot[, 3L]; sw2 <- tot[, 4L]
  U <- tot[, 5L]; V <- tot[, 6L]; suu <- tot[, 7L]; svv <- tot[, 8L]; suv <- tot[, 9L]
  stat <- rv$stat
  shift <- r$shift
  est <- num_estimate(rv, n, U, V, shift)
  K <- length(n)
  na <- rep(NA_real_, K)
  out <- list(n = n, n_w = sw, sw2 = sw2, estimate = est, se = na, ci_low = na, ci_high = na,
              deff = na, df = na, se_n_w = na, letters = rep("", K))
  if (opt$se) {
    out$se <- sqrt(pmax(r$var, 0))
    if (stat != "ratio") out$se_n_w <- sqrt(pmax(r$var_nw, 0))
    out$df <- r$df
    if (opt$ci != "none") out <- num_t_ci(out, opt$level)
    out$deff <- num_deff(stat, est, U, V, sw, npos, suu, suv, svv, out$se^2, opt$deff)
    out$letters <- r$letters
  }
  ncs <- vapply(all_cvars, function(v) as.integer(v$desc[[2L]]), 1L) * nb
  grp <- rep(seq_along(ncs), ncs)
  idx <- split(seq_len(K), grp)
  cols <- lapply(idx, function(k) lapply(out, `[`, k))
  names(cols) <- NULL
  ncv <- length(all_cvars) - 1L
  sk <- r$skipped
  skipped <- new_df(list(row_var = rv$name, by_na = sk[1L], row_na = sk[2L], col_na = sk[3L]))
  list(rv = rv, cvars = all_cvars, bvars = bvars, cols = cols, numeric = TRUE,
       skipped = skipped)
}

# The cells of a numeric row for the whole banner: one C pass (two with
# calibrated weights: the starting weights' sums), then the inference per
# column variable and layer from the sums per design unit.
num_block <- function(rv, cvars, bvars, total_var, w, des, opt, cal = NULL, pre = NULL) {
  # replicate designs (replicate.R)
  if (!is.null(opt$rep)) return(rep_num_block(rv, cvars, bvars, total_var, w, des, opt, opt$rep))
  if (identical(rv$stat, "quantile")) return(quant_block(rv, cvars, bvars, total_var, w, des, opt, cal))
  # computed already by num_prepass() (all numeric rows of the table at once)
  if (!is.null(pre)) return(pre)
  all_cvars <- c(list(total_var), cvars)
  bcodes <- lapply(bvars, function(v) v$desc[[3L]][[1L]])
  blev <- vapply(bvars, function(v) as.integer(v$desc[[2L]]), 1L)
  bna <- vapply(bvars, function(v) as.integer(v$desc[[4L]]), 1L)
  shift <- if (rv$stat %in% c("mean", "score")) NA_real_ else 0
  ps <- num_sums(rv$y, rv$x, all_cvars, bcodes, blev, bna, w, des, opt, cal, shift)
  res <- ps$res
  if (!opt$se) cal <- NULL
  ncv <- length(cvars)
  skipped <- new_df(list(row_var = rv$name, by_na = res$skipped[1L], row_na = res$skipped[2L],
                         col_na = sum(res$skipped[2L + 1L + seq_len(ncv)])))
  du <- if (opt$se) design_units(des) else NULL
  cols <- lapply(seq_along(all_cvars), function(j) {
    num_column(rv, all_cvars[[j]], res$cols[[j]], res$xprod[[j]],
               if (is.null(ps$res0)) NULL else ps$res0$cols[[j]], res$shift,
               ps$nb, ps$G, ps$D, des, du, opt, cal,
               aux = if (!is.null(ps$aux)) list(w0 = lapply(ps$aux$w0, `[[`, j),
                                                w2 = if (!is.null(ps$aux$w2)) lapply(ps$aux$w2, `[[`, j)))
  })
  list(rv = rv, cvars = all_cvars, bvars = bvars, cols = cols, numeric = TRUE,
       skipped = skipped)
}

# The C passes of a numeric row (y, and x for ratios) for column variables
# `cvars` (tab_var() objects, desc used) in the layers given by the by
# codes `bcodes` (levels `blev`, NA-level flags `bna`): per (column cell x
# layer x calibration cell x design unit) the sums of C_num_pass; with
# calibrated weights the starting weights' sums (res0) and, for numeric
# auxiliaries, the passes weighted by cal$w0u / cal$w2u (aux). Shared by
# mean/total/ratio/score rows and by the calibrated SE of quantile rows'
# CDF (quant_se_fun()). Returns list(res, res0, aux, nb, G, D).
num_sums <- function(y, x, cvars, bcodes, blev, bna, w, des, opt, cal, shift) {
  cdesc <- lapply(cvars, `[[`, "desc")
  nb <- as.integer(prod(blev))
  dl <- if (opt$se) design_layer(des) else NULL
  if (!opt$se) cal <- NULL
  G <- if (is.null(cal)) 1L else as.integer(cal$G)
  D <- if (is.null(dl)) 1L else as.integer(dl$nd)
  rest <- c(bcodes, if (!is.null(cal)) cal$desc[[3L]], if (!is.null(dl)) dl$desc[[3L]])
  restlev <- c(blev, if (!is.null(cal)) G, if (!is.null(dl)) D)
  restna <- c(bna, if (!is.null(cal)) 0L, if (!is.null(dl)) 0L)
  # MR column variables with rows as PSUs: the items' cross-products per
  # (layer, stratum), for their covariance
  mr <- vapply(cvars, function(v) identical(v$kind, "mr"), NA)
  H <- length(des$strata_levels)
  want_x <- opt$se && !des$clustered && any(mr)
  xrest <- if (want_x) c(bcodes, if (H > 1L) list(as.integer(des$stratum)))
  xlev <- if (want_x) as.integer(c(blev, if (H > 1L) H, bna, if (H > 1L) 0L))
  res <- .Call(C_num_pass, y, x, cdesc, rest, as.integer(restlev), as.integer(restna),
               w, shift, xrest, xlev)
  res0 <- if (!is.null(cal))
    .Call(C_num_pass, y, x, cdesc, c(bcodes, cal$desc[[3L]]),
          as.integer(c(blev, G)), as.integer(c(bna, 0L)), cal$w0, res$shift, NULL, NULL)
  # calibration on numeric auxiliaries (z_cov()'s cz, when cal_setup()
  # provides them): per auxiliary k the sums of w0 u_k z per entry and, rows
  # as PSUs, of w^2 u_k z per (entry, design unit), from passes weighted by
  # cal$w0u[[k]] and cal$w2u[[k]]
  aux <- NULL
  if (!is.null(cal) && !is.null(cal$p)) {
    aux <- list(
      w0 = lapply(cal$w0u, function(v)
        .Call(C_num_pass, y, x, cdesc, bcodes, as.integer(blev), as.integer(bna), v,
              res$shift, NULL, NULL)$cols),
      w2 = if (!is.null(cal$w2u)) lapply(cal$w2u, function(v)
        .Call(C_num_pass, y, x, cdesc, c(bcodes, if (!is.null(dl)) dl$desc[[3L]]),
              as.integer(c(blev, if (!is.null(dl)) D)), as.integer(c(bna, if (!is.null(dl)) 0L)), v,
              res$shift, NULL, NULL)$cols))
  }
  list(res = res, res0 = res0, aux = aux, nb = nb, G = G, D = D)
}

# ---- quantile rows ------------------------------------------------------------

# The cells of a quantile row for the whole banner: one domain_quantiles()
# call (quantile.R) for the Total and every column variable, the by layers
# folded into the domain codes (domain = column + columns * (layer - 1); an
# MR set's items overlap, so each item is a domain system of its own, its
# domains the layers), so that one sort of y serves the whole table. The
# bases (n, n_w, sum w^2 per cell) come from one C_num_pass without design
# layers, as those of a mean row. Calibrated weights: the CDF's SE is the
# calibration-adjusted one of a domain mean (quant_se_fun()).
quant_block <- function(rv, cvars, bvars, total_var, w, des, opt, cal = NULL) {
  all_cvars <- c(list(total_var), cvars)
  bcodes <- lapply(bvars, function(v) v$desc[[3L]][[1L]])
  blev <- vapply(bvars, function(v) as.integer(v$desc[[2L]]), 1L)
  bna <- vapply(bvars, function(v) as.integer(v$desc[[4L]]), 1L)
  nb <- as.integer(prod(blev))
  probs <- rv$probs
  P <- length(probs)
  n <- length(rv$y)
  bres <- .Call(C_num_pass, rv$y, NULL, lapply(all_cvars, `[[`, "desc"), bcodes,
                as.integer(blev), as.integer(bna), w, NA_real_, NULL, NULL)
  layer <- if (length(bvars)) quant_layer(bcodes, blev, bna) else NULL
  # domain systems: per column variable one (single, Total) or one per item (MR)
  systems <- list()
  ndom <- integer()
  sys_of <- vector("list", length(all_cvars))
  for (j in seq_along(all_cvars)) {
    ds <- quant_domains(all_cvars[[j]]$desc, layer, nb)
    sys_of[[j]] <- length(systems) + seq_along(ds$codes)
    systems <- c(systems, ds$codes)
    ndom <- c(ndom, ds$ndom)
  }
  se_fun <- if (!opt$se) function(z, domain, ndom) matrix(NA_real_, ndom, ncol(z))
            else if (!is.null(opt$rep)) rep_quant_se_fun(opt$rep, w)  # replicate designs
            else if (!is.null(cal)) quant_se_fun(des, w, opt, cal)
  dq <- domain_quantiles(rv$y, w, systems, ndom, probs, des, level = opt$level,
                         se_fun = se_fun, what = sprintf("%s: column %s", rv$name, q(rv$vars)))
  rm(systems)
  ncv <- length(cvars)
  skipped <- new_df(list(row_var = rv$name, by_na = bres$skipped[1L], row_na = bres$skipped[2L],
                         col_na = sum(bres$skipped[2L + 1L + seq_len(ncv)])))
  cols <- lapply(seq_along(all_cvars), function(j) {
    cv <- all_cvars[[j]]
    nc <- as.integer(cv$desc[[2L]])
    A <- bres$cols[[j]]
    sy <- sys_of[[j]]
    r <- dq[dq$system %in% sy, , drop = FALSE]
    if (length(sy) > 1L) {
      # MR items: (item, layer, prob) -> (layer, item, prob), prob fastest
      item <- match(r$system, sy)
      r <- r[order(r$domain, item, match(r$prob, probs)), , drop = FALSE]
    }
    K <- nc * nb * P
    na <- rep(NA_real_, K)
    out <- list(n = A[, 1L], n_w = A[, 3L], sw2 = A[, 4L],
                estimate = r$estimate, se = if (opt$se) r$se else na,
                ci_low = if (opt$se && opt$ci != "none") r$ci_low else na,
                ci_high = if (opt$se && opt$ci != "none") r$ci_high else na,
                deff = na, df = if (opt$se) r$df else na, se_n_w = na,
                letters = rep("", K))
    stopifnot(length(out$estimate) == K)
    out
  })
  list(rv = rv, cvars = all_cvars, bvars = bvars, cols = cols, numeric = TRUE,
       skipped = skipped)
}

# The layer (1..prod(blev)) of each row from its by codes, first by variable
# fastest (as C_num_pass's rest codes); NA where a by variable is NA and
# has no "(missing)" level.
quant_layer <- function(bcodes, blev, bna) {
  id <- 1L
  stride <- 1L
  for (k in seq_along(bcodes)) {
    cc <- as.integer(bcodes[[k]])
    if (bna[k]) cc[is.na(cc)] <- blev[k]
    id <- id + (cc - 1L) * stride
    stride <- stride * blev[k]
  }
  id
}

# The domain systems of one column variable (tab_var()'s desc) for
# domain_quantiles(): list(codes = list of integer code vectors (or NULL:
# all rows), ndom). Rows outside a column (NA code without a "(missing)"
# level, NA layer, not in an MR item) get NA, as C_num_pass skips them.
quant_domains <- function(desc, layer, nb) {
  kind <- desc[[1L]]
  nc <- as.integer(desc[[2L]])
  lay <- if (is.null(layer)) 0L else (layer - 1L)
  if (kind == 3L) return(list(codes = list(layer), ndom = nb))
  if (kind == 0L) {
    cc <- as.integer(desc[[3L]][[1L]])
    if (desc[[4L]]) cc[is.na(cc)] <- nc
    return(list(codes = list(cc + nc * lay), ndom = nc * nb))
  }
  cols <- desc[[3L]]
  member <- if (kind == 1L) {
    lapply(cols, function(v) !is.na(v) & v)
  } else {
    lapply(seq_len(nc), function(a) {
      m <- logical(length(cols[[1L]]))
      for (v in cols) m <- m | (!is.na(v) & v == a)
      m
    })
  }
  codes <- lapply(member, function(m) {
    d <- lay + 1L
    if (length(d) == 1L) d <- rep(d, length(m))
    d[!m] <- NA_integer_
    d
  })
  list(codes = codes, ndom = rep(nb, length(codes)))
}

# domain_quantiles()'s se_fun for calibrated weights: the SE of the weighted
# mean of each column of z in each domain, calibration-adjusted as for mean
# rows (num_sums() and num_column(): z_cov() with cal and, for numeric
# auxiliaries, cz) -- what svyquantile() takes from svymean() of the
# indicator on a survey::calibrate() design. One pass per probability
# (plus the calibration passes). Attribute "se_count": the SE of each
# domain's weight total, as domain_mean_se() gives it.
quant_se_fun <- function(des, w, opt, cal) {
  du <- design_units(des)
  o <- opt
  o$letters <- FALSE
  o$ci <- "none"
  rv <- list(stat = "mean", name = "cdf")
  function(z, domain, ndom) {
    cv <- list(name = "domain", kind = "single", levels = as.character(seq_len(ndom)),
               desc = list(0L, as.integer(ndom), list(as.integer(domain)), 0L, 0L))
    se_count <- NULL
    out <- vapply(seq_len(ncol(z)), function(p) {
      ps <- num_sums(as.double(z[, p]), NULL, list(cv), list(), integer(), integer(), w, des,
                     o, cal, NA_real_)
      aux <- if (!is.null(ps$aux)) list(w0 = lapply(ps$aux$w0, `[[`, 1L),
                                        w2 = if (!is.null(ps$aux$w2)) lapply(ps$aux$w2, `[[`, 1L))
      r <- num_column(rv, cv, ps$res$cols[[1L]], ps$res$xprod[[1L]], ps$res0$cols[[1L]],
                      ps$res$shift, ps$nb, ps$G, ps$D, des, du, o, cal, aux = aux)
      # the (calibration-adjusted) SE of each domain's weight total, for the
      # engine's SE residue where the indicator is constant in a domain
      if (is.null(se_count)) se_count <<- r$se_n_w
      r$se
    }, numeric(ndom))
    out <- matrix(out, ndom, ncol(z))
    attr(out, "se_count") <- se_count
    out
  }
}

# Estimates and inference of one column variable (nc columns) of a numeric
# row. A: the pass's (nc * nb * G * D) x 14 sums; X: cross-products of an
# MR set (or NULL); A0: the starting weights' sums (nc * nb * G) x 14.
num_column <- function(rv, cv, A, X, A0, shift, nb, G, D, des, du, opt, cal, aux = NULL) {
  nc <- as.integer(cv$desc[[2L]])
  Dp <- G * D
  st <- function(k, M = A, dp = Dp) array(M[, k], c(nc, nb, dp))
  tot <- function(k) matrix(rowSums(st(k), dims = 2L), nc, nb)
  n <- tot(1L); npos <- tot(2L); sw <- tot(3L); sw2 <- tot(4L)
  U <- tot(5L); V <- tot(6L); suu <- tot(7L); svv <- tot(8L); suv <- tot(9L)
  stat <- rv$stat
  est <- num_estimate(rv, n, U, V, shift)
  K <- nc * nb
  out <- list(n = as.vector(n), n_w = as.vector(sw), sw2 = as.vector(sw2),
              estimate = as.vector(est), se = rep(NA_real_, K), ci_low = rep(NA_real_, K),
              ci_high = rep(NA_real_, K), deff = rep(NA_real_, K), df = rep(NA_real_, K),
              se_n_w = rep(NA_real_, K), letters = rep("", K))
  if (!opt$se) return(out)
  # per (column, layer, design unit): rows of positive weight (df, PSUs)
  pos_d <- st(2L)
  if (G > 1L) {
    # sum the calibration cells (fastest of g, d) out
    pos_d <- array(apply(array(pos_d, c(nc, nb, G, D)), c(1L, 2L, 4L), sum), c(nc, nb, D))
  }
  dfs <- matrix(NA_real_, nc, nb)
  units <- matrix(0, nc, nb)
  for (b in seq_len(nb)) for (c in seq_len(nc)) {
    pd <- pos_d[c, b, ]
    dfs[c, b] <- domain_df(pd, des)
    units[c, b] <- if (des$clustered) sum(psu_counts(pd, des) > 0) else sum(pd)  # issue 17: PSUs
  }
  # Sigma of the totals (U_1..U_nc, V_1..V_nc) per layer, via z_cov()
  Kp <- 2L * nc
  grad <- function(b) {
    g <- matrix(0, Kp, nc)
    for (c in seq_len(nc)) {
      if (stat == "total") g[c, c] <- 1
      else if (V[c, b] != 0) {
        g[c, c] <- 1 / V[c, b]
        g[nc + c, c] <- -(U[c, b] / V[c, b]) / V[c, b]
      } else g[, c] <- NA_real_
    }
    g
  }
  single <- !identical(cv$kind, "mr")
  XA <- if (!is.null(X)) array(X, c(nc, nc, nb, nrow(X) / (nc * nc * nb), 4L))
  vm <- vector("list", nb)
  for (b in seq_len(nb)) {
    s1 <- rbind(matrix(st(5L)[, b, ], nc), matrix(st(6L)[, b, ], nc))
    s2 <- if (!is.null(cal)) rbind(matrix(st(10L)[, b, ], nc), matrix(st(11L)[, b, ], nc))
    w0z <- if (!is.null(cal))
      rbind(matrix(st(5L, A0, G)[, b, ], nc), matrix(st(6L, A0, G)[, b, ], nc))
    Q <- NULL
    if (!des$clustered) {
      # per stratum (the design units of rows-as-PSU designs; one if D = 1)
      Q <- lapply(seq_len(D), function(h) {
        idx <- (h - 1L) * G + seq_len(G)
        qs <- function(k) rowSums(matrix(st(k)[, b, idx, drop = FALSE], nc))
        Qh <- matrix(0, Kp, Kp)
        if (single || is.null(XA)) {
          i1 <- seq_len(nc); i2 <- nc + i1
          Qh[cbind(i1, i1)] <- qs(12L)
          Qh[cbind(i2, i2)] <- qs(13L)
          Qh[cbind(i1, i2)] <- Qh[cbind(i2, i1)] <- qs(14L)
        } else {
          xh <- if (dim(XA)[4L] == 1L) 1L else h
          Qh[seq_len(nc), seq_len(nc)] <- XA[, , b, xh, 1L]
          Qh[seq_len(nc), nc + seq_len(nc)] <- XA[, , b, xh, 2L]
          Qh[nc + seq_len(nc), seq_len(nc)] <- t(XA[, , b, xh, 2L])
          Qh[nc + seq_len(nc), nc + seq_len(nc)] <- XA[, , b, xh, 3L]
        }
        Qh
      })
    }
    Sigma <- if (is.null(aux)) z_cov(s1, s2, Q, des, du, cal, w0z) else {
      uz <- function(M, dp) {
        a <- array(M[, 5:6], c(nc, nb, dp, 2L))
        rbind(matrix(a[, b, , 1L], nc), matrix(a[, b, , 2L], nc))
      }
      cz <- list(w0 = vapply(aux$w0, function(M) uz(M, 1L)[, 1L], numeric(Kp)),
                 w2 = if (!is.null(aux$w2)) lapply(aux$w2, uz, dp = D))
      dim(cz$w0) <- c(Kp, length(aux$w0))
      z_cov(s1, s2, Q, des, du, cal, w0z, cz = cz)
    }
    g <- grad(b)
    gz <- g
    gz[is.na(gz)] <- 0
    Vb <- crossprod(gz, Sigma %*% gz)
    mag <- crossprod(abs(gz), abs(Sigma) %*% abs(gz))
    v <- diag(Vb)
    v[v <= 1e-12 * diag(mag)] <- 0
    v[is.na(est[, b])] <- NA_real_
    vm[[b]] <- list(V = Vb, mag = mag, v = v)
    k <- (b - 1L) * nc + seq_len(nc)
    out$se[k] <- sqrt(pmax(v, 0))
    if (stat != "ratio") out$se_n_w[k] <- sqrt(pmax(diag(Sigma)[nc + seq_len(nc)], 0))
  }
  out$df <- as.vector(dfs)
  if (opt$ci != "none") out <- num_t_ci(out, opt$level)
  # design effect: over simple random sampling of the domain's rows of
  # positive weight (svymean(deff = "replace") / deff = TRUE)
  out$deff <- as.vector(num_deff(stat, est, U, V, sw, npos, suu, suv, svv, out$se^2, opt$deff))
  # letters between the columns of a column variable
  if (cv$kind != "total") {
    mb <- if (is.null(opt$min_base)) 0 else opt$min_base
    out <- num_pair_letters(out, nc, nb, opt, function(b, a, c2) {
      if (is.na(est[a, b]) || is.na(est[c2, b])) return(NULL)
      if (units[a, b] < 2 || units[c2, b] < 2) return(NULL)
      if (n[a, b] < mb || n[c2, b] < mb) return(NULL)
      VV <- vm[[b]]$V; M <- vm[[b]]$mag
      vd <- VV[a, a] + VV[c2, c2] - 2 * VV[a, c2]
      md <- M[a, a] + M[c2, c2] + 2 * M[a, c2]
      dd <- est[a, b] - est[c2, b]
      if (!is.finite(vd) || !(vd > 1e-12 * md) || !is.finite(dd)) return(NULL)
      # df: the PSUs (rows) of positive weight in either column
      pd <- pos_d[a, b, ] + pos_d[c2, b, ]
      if (!single && !des$clustered) {
        both <- if (is.null(XA)) 0 else XA[a, c2, b, , 4L]
        pd <- pd - both
      }
      c(dd, vd, domain_df(pd, des) - 1)
    })
  }
  out
}

# Long form of a numeric block: the columns of tab_cells(), plus stat and
# estimate; with bases = TRUE the column bases (the rows used). A quantile
# row has one level per probability (its cell vectors run level fastest,
# then column, then layer, as tab_cells()); the other stats one level.
num_cells <- function(b, bases = FALSE, i = 1L, min_base = 0, wscale = 1) {
  rv <- b$rv
  layers <- layer_grid(b$bvars)
  nb <- if (is.null(layers)) 1L else nrow(layers)
  L <- length(rv$levels)
  is_missing_level <- function(v) v$kind == "single" && identical(v$desc[[4L]], 1L)
  out <- lapply(seq_along(b$cvars), function(j) {
    cv <- b$cvars[[j]]
    cj <- b$cols[[j]]
    nc <- length(cv$levels)
    # the "(missing)" column shows only where it has rows
    empty_na <- is_missing_level(cv) && sum(cj$n[rep(seq_len(nc), times = nb) == nc]) == 0
    if (bases) {
      ci <- rep(seq_len(nc), times = nb)
      bi <- rep(seq_len(nb), each = nc)
      keep <- !(empty_na & ci == nc)
      m <- length(ci)
      small <- cj$n < min_base
      cols <- c(list(row_var = rep(rv$name, m), col_var = rep(cv$name, m), col = cv$levels[ci]),
                lapply(layers, function(l) l[bi]),
                list(base_n = cj$n, base_w = cj$n_w, small_base = small,
                     base_eff = ifelse(cj$sw2 > 0, cj$n_w^2 / cj$sw2, 0),
                     .row_var = rep(as.integer(i), m), .col_var = rep(j, m), .col = ci,
                     .layer = bi))
    } else {
      ri <- rep(seq_len(L), times = nc * nb)
      ci <- rep(rep(seq_len(nc), each = L), times = nb)
      bi <- rep(seq_len(nb), each = L * nc)
      k <- ci + nc * (bi - 1L)
      keep <- !(empty_na & ci == nc)
      m <- length(ci)
      small <- cj$n[k] < min_base
      f <- if (rv$stat == "total") wscale else 1
      na <- rep(NA_real_, m)
      n_eff <- ifelse(cj$sw2 > 0, cj$n_w^2 / cj$sw2, 0)
      cols <- c(list(row_var = rep(rv$name, m), row = rv$levels[ri],
                     col_var = rep(cv$name, m), col = cv$levels[ci]),
                lapply(layers, function(l) l[bi]),
                list(n = cj$n[k], n_w = cj$n_w[k], n_eff = n_eff[k],
                     pct = na, se = cj$se / f, ci_low = cj$ci_low / f, ci_high = cj$ci_high / f,
                     letters = cj$letters, se_n_w = cj$se_n_w, deff = cj$deff, df = cj$df,
                     base_n = cj$n[k], base_w = cj$n_w[k], small_base = small,
                     statistic = na, ndf = na, ddf = na, p_value = na,
                     stat = rep(rv$stat, m), estimate = cj$estimate / f),
                list(.row_var = rep(as.integer(i), m), .row = ri,
                     .col_var = rep(j, m), .col = ci, .layer = bi))
    }
    if (!all(keep)) cols <- lapply(cols, `[`, keep)
    cols
  })
  rbind_cols(out)
}

# t confidence intervals of numeric rows (linearised and replicate designs):
# estimate +- t(df) * se, NA where df is not positive.
num_t_ci <- function(out, level) {
  tq <- ifelse(out$df > 0, stats::qt(1 - (1 - level) / 2, pmax(out$df, 1)), NA_real_)
  out$ci_low <- out$estimate - tq * out$se
  out$ci_high <- out$estimate + tq * out$se
  out
}

# Design effect of numeric rows: the variance 'v' over that of simple random
# sampling of the domain's rows of positive weight (svymean(deff = "replace");
# type = "survey" adds the finite population factor, as deff = TRUE),
# from the cells' sums: U, V (numerator, denominator totals), sw (weight),
# npos (rows of positive weight), suu, suv, svv (weighted cross-products).
num_deff <- function(stat, est, U, V, sw, npos, suu, suv, svv, v, type) {
  e2 <- switch(stat, ratio = suu - 2 * est * suv + est^2 * svv,
               suu - U^2 / ifelse(sw > 0, sw, NA_real_))
  Nw <- sw
  s2 <- ifelse(npos > 1, e2 / Nw * npos / (npos - 1), NA_real_)
  vsrs <- switch(stat, mean = , score = s2 / npos, total = s2 * Nw^2 / npos,
                 ratio = s2 / V^2 * Nw^2 / npos)
  if (type == "survey") vsrs <- ifelse(Nw > npos, vsrs * (Nw - npos) / Nw, NA_real_)
  ifelse(!is.na(vsrs) & vsrs > 0, v / vsrs, NA_real_)
}

# The estimate of a numeric row from its totals U (of y) and V (of the
# weights or the denominator): mean and score U / V (plus the shift the
# totals were taken around), total U, ratio U / V; NA where the mean's V is
# not positive or the ratio's denominator is 0 (with a note for a ratio of
# a cell that has rows).
num_estimate <- function(rv, n, U, V, shift) {
  est <- switch(rv$stat, mean = , score = ifelse(V > 0, U / V + shift, NA_real_),
                total = U, ratio = ifelse(V != 0, U / V, NA_real_))
  if (rv$stat == "ratio" && any(n > 0 & V == 0))
    note_once("ratio0", sprintf("%s: the denominator totals 0 in some cell(s); their ratio is NA",
                                rv$name))
  est
}

# Letters between the nc columns of each of nb layers (out$letters, layer
# by layer), from t tests of the column pairs: test(b, a, c2) gives for
# columns a < c2 of layer b the difference, its variance and the test's df,
# or NULL where the pair is not tested; a pair with df <= 0 is not tested
# either. Where opt$letters is not TRUE or there is one column, out as it is.
num_pair_letters <- function(out, nc, nb, opt, test) {
  if (!isTRUE(opt$letters) || nc < 2L) return(out)
  lab <- col_letters(nc)
  sep <- if (any(nchar(lab) > 1L)) "," else ""
  pr <- utils::combn(nc, 2L)
  for (b in seq_len(nb)) {
    p <- rep(NA_real_, ncol(pr))
    d <- rep(0, ncol(pr))
    for (s in seq_len(ncol(pr))) {
      r <- test(b, pr[1L, s], pr[2L, s])
      if (is.null(r) || !(r[3L] > 0)) next
      p[s] <- 2 * stats::pt(-abs(r[1L]) / sqrt(r[2L]), r[3L])
      d[s] <- r[1L]
    }
    out$letters[(b - 1L) * nc + seq_len(nc)] <- num_letters(p, d, pr, nc, lab, sep, opt)
  }
  out
}

# Letters of the nc columns of one layer from the pairs' t-test p-values 'p'
# and differences 'd' (pairs 'pr' = combn(nc, 2), NA where not tested):
# adjusted by opt$adjust, the letter of the lower column of each pair with
# p < opt$alpha into the higher column's cell.
num_letters <- function(p, d, pr, nc, lab, sep, opt) {
  ok <- !is.na(p)
  if (any(ok) && opt$adjust != "none") p[ok] <- stats::p.adjust(p[ok], opt$adjust)
  flag <- matrix(FALSE, nc, nc)
  for (s in which(ok & p < opt$alpha)) {
    a <- pr[1L, s]; c2 <- pr[2L, s]
    if (d[s] > 0) flag[a, c2] <- TRUE else flag[c2, a] <- TRUE
  }
  vapply(seq_len(nc), function(c) paste(lab[flag[c, ]], collapse = sep), "")
}
