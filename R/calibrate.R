#' Calibrate survey weights to margins and totals, with bounds
#'
#' Generalised regression calibration: final weights `w = w0 * g` whose
#' weighted totals of the auxiliaries equal known population totals, with
#' the g-weights `g = w / w0` a function of a linear combination of the
#' auxiliaries, as `survey::calibrate()`. The auxiliaries are the levels of
#' categorical margins (as [wt_rake()] takes them) and numeric columns with
#' a single population total each, together.
#'
#' @section Methods and bounds:
#' `bounds = c(L, U)` limits g, as `survey::calibrate(bounds = )` does; it
#' must contain 1. Bounds are relative to the starting weights, so these
#' should be on the population scale (sum near the population total); with
#' starting weights of 1 and population totals, only unbounded methods can
#' reach the targets. (survey rescales starting weights internally when
#' every target exceeds 20 times its sample total and then applies the
#' bounds to the rescaled weights; umfrage does not rescale.)
#' * `"linear"`: `g = 1 + u` (the GREG estimator; without bounds weights may
#'   turn negative), truncated to `[L, U]` with finite bounds.
#' * `"raking"`: `g = exp(u)` (for categorical margins only, the same
#'   weights as [wt_rake()]), truncated to `[L, U]` with finite bounds.
#' * `"logit"`: a logistic function that keeps every g strictly inside
#'   `(L, U)`; needs finite bounds with `L < 1 < U`.
#'
#' Bounds are the way to trim weights and keep the margins: [wt_trim()]
#' caps weights but breaks the margins; `wt_calibrate(..., method =
#' "logit", bounds = c(0.3, 3))` meets the margins with every weight within
#' 0.3 to 3 times its starting weight.
#'
#' @section How it works:
#' Newton iterations on the p coefficients (p = number of auxiliary
#' columns), each solving the p x p system `X' diag(w0 g') X` with a
#' pseudo-inverse, as survey's `grake()`. Categorical margins work through
#' cell codes: with categorical margins only, every iteration runs on
#' per-cell sums of the starting weights (one pass over the rows to make the
#' cells, one to map the result back). With numeric auxiliaries, an
#' iteration takes one pass over the rows (in C, on [umfrage_threads()]
#' threads) that yields the achieved totals and the system at once; few are
#' needed because Newton first runs on an approximation from the cells'
#' moments of the numeric columns, and then on the rows from its solution.
#' The weights come from one more Newton step after the first iterate
#' within `epsilon`, so that they are as close to the solution as survey's
#' (whose iterations run from elsewhere), not merely within `epsilon`. That
#' step is small, so when the pass that converged stored each row's g (the
#' iterations predict which pass will), a pass without `exp()` writes the
#' weights from g to first order in the step (the error is of the step's
#' square, below rounding), sums their totals (the misfit reported is that
#' of the weights returned) and takes their fingerprint.
#' `wt_summary()` shows the iterations on the rows; the diagnostics also
#' hold `passes`, the passes over the rows that evaluate g with `exp()`
#' (besides the pass that codes the rows and the one that writes the
#' weights).
#' Convergence means `|target - achieved| / (1 + |target|) < epsilon` for
#' every column, survey's criterion.
#'
#' Before iterating, `wt_calibrate()` checks what no iteration can fix:
#' numeric auxiliaries that are collinear with each other or with the
#' margins (the error names them), targets whose margins disagree, and
#' bounds under which a level's target is out of reach even with every g at
#' a bound (the error names the level and the reachable range). If the
#' iterations stop improving (10 steps without reducing the largest error
#' by 0.1 %), it stops with an error naming the margin furthest off, instead
#' of iterating to `maxit`.
#'
#' @section Targets:
#' Categorical margins as in [wt_rake()] (a named list of named numeric
#' vectors, joint margins as data frames, or a long data frame with
#' `variable`, `level`, `target`); numeric auxiliaries as list elements
#' named after a numeric column of `data`, holding one unnamed number, the
#' population total of that column. Categorical margins are read as
#' shares (summing to 1 within 0.02), percents (to 100 within 2) or totals
#' by the rule of [wt_rake()]; proportions are scaled to `total` or to the
#' sum of the starting weights. Numeric totals are never scaled.
#'
#' @section Variance:
#' Weights from categorical margins carry their margins and numeric
#' auxiliaries, so [tab()] uses the calibration-adjusted variance (residuals
#' on the margins' indicators and the numeric auxiliaries, weighted by the
#' starting weights: what `survey::calibrate()` does for every calibration
#' function). Calibrations on numeric auxiliaries alone carry no state:
#' [tab()] treats those weights as fixed. With `q`, the residuals are as
#' survey's: weighted by `w0 / q` for the linear method without bounds
#' (survey's `regcalibrate()`), by `w0` otherwise (its `grake()` route).
#'
#' @section Heteroscedasticity factor q:
#' `q` (survey's `variance =`, Calmar's q) weights the distance of each row
#' by `1 / q`: g is a function of `x' lambda / q` and the Newton system is
#' `X' diag(w0 g' / q) X`, as in survey's `grake()`. A row with a large q
#' may move further from its starting weight. `q` must be positive and
#' finite in every row. With `q`, every iteration runs on the rows (g then
#' varies within the calibration cells).
#'
#' @param data A data frame holding the auxiliary variables; not grouped.
#'   Or a database table ([db_table()] or a dbplyr table), with `weights`
#'   a column name or `NULL`: see [db_weights].
#' @param targets Margins and totals: see Targets.
#' @param weights Starting weights: `NULL` for 1, a numeric vector, or the
#'   name (or one-sided formula) of a column of `data`.
#' @param method `"linear"`, `"raking"` or `"logit"`: see Methods and bounds.
#' @param bounds Lower and upper limit of g = final / starting weight.
#' @param epsilon Convergence tolerance (see How it works).
#' @param maxit Largest number of Newton iterations.
#' @param total Sum of the weights when categorical `targets` are
#'   proportions.
#' @param q `NULL`, or the heteroscedasticity factor: a positive numeric
#'   vector with one value per row, or the name (or one-sided formula) of
#'   such a column of `data`; see Heteroscedasticity factor q.
#' @return A `umfrage_weights` vector (see [wt_summary()] for its
#'   diagnostics: iterations, convergence, the range of g, achieved totals).
#' @seealso [wt_rake()], [wt_trim()], [wt_summary()]; `survey::calibrate()`,
#'   whose weights these match.
#' @examples
#' set.seed(3)
#' d <- data.frame(sex = sample(c("f", "m"), 400, TRUE),
#'                 age = sample(c("young", "mid", "old"), 400, TRUE),
#'                 income = rlnorm(400, 7, 0.5))
#' tg <- list(sex = c(f = 5100, m = 4900),
#'            age = c(young = 3000, mid = 4000, old = 3000),
#'            income = 1.4e7)
#' # bounds are on final / starting weight: start on the population scale
#' w <- wt_calibrate(d, tg, weights = rep(10000 / 400, 400), method = "logit",
#'                   bounds = c(0.3, 3))
#' wt_summary(w)
#' sum(w * d$income)
#' @export
wt_calibrate <- function(data, targets, weights = NULL,
                         method = c("linear", "raking", "logit"),
                         bounds = c(-Inf, Inf), epsilon = 1e-10, maxit = 100L,
                         total = NULL, q = NULL) {
  # database sources (db_weights.R)
  if (is_db_source(data)) {
    if (!is.null(q)) stopf("'q' is not supported on database tables yet")
    return(db_wt_calibrate(data, targets, weights, method, bounds, epsilon, maxit, total))
  }
  check_data(data)
  method <- match.arg(method)
  w0 <- get_weights(weights, data)
  hq <- get_q(q, data)
  epsilon <- check_number(epsilon, "epsilon", min = 0)
  maxit <- check_count(maxit, "maxit")
  check_bounds(bounds, method)
  ct <- calib_targets(targets, data, total)
  parts <- ct$parts
  reading <- ct$reading
  scale <- ct$scale
  prep <- NULL
  if (length(ct$margins)) {
    prep <- prepare_margins(data, ct$margins)
    if (scale) {
      # proportions: to the sum of the starting weights
      tot <- if (is.null(w0)) nrow(data) else sum(w0)
      prep$targets <- lapply(prep$targets, function(t) t * tot)
    }
  }
  xnum <- lapply(parts$numeric, function(v) as.double(data_col(data, v)))
  # starting weights far from 1 (beyond 2^+-256): calibrate on a safe
  # scale, weights and totals times the same power of two (exact), and
  # scale back; the Newton system and tolerances then work as near 1
  f <- weight_scale(w0)$f
  if (f > 2^-256 && f < 2^256) f <- 1
  res <- .Call(C_calibrate,
               if (is.null(prep)) list() else prep$codes,
               if (is.null(prep)) integer() else as.integer(prep$nlev),
               if (is.null(w0) || f == 1) w0 else w0 * f,
               if (is.null(prep)) list() else lapply(prep$margins, as.integer),
               if (is.null(prep)) list() else lapply(prep$targets, function(t) t * f),
               unname(xnum), as.double(unlist(parts$totals)) * f,
               match(method, c("linear", "raking", "logit")) - 1L,
               as.double(bounds), list(epsilon, maxit, hq))
  if (f != 1) {
    res$weights <- res$weights / f
    res$columns[, 1:2] <- res$columns[, 1:2] / f
    res$cell_w <- res$cell_w / f
    # the C routine's fingerprint is of the weights on the safe scale
    res$fingerprint <- wt_fingerprint(res$weights)
  }
  if (res$status != 0L) calibrate_status_error(res, prep, parts, data, w0, bounds, method)
  cols <- res$columns
  m <- cols[, 3L]
  tab <- data.frame(
    variable = vapply(seq_len(nrow(cols)), function(k)
      if (m[k] >= 0) paste(prep$vars[prep$margins[[m[k] + 1L]] + 1L], collapse = ":")
      else parts$numeric[cols[k, 4L] + 1L], ""),
    level = vapply(seq_len(nrow(cols)), function(k)
      if (m[k] >= 0) margin_level_names(prep, m[k] + 1L)[cols[k, 4L] + 1L] else "(total)", ""),
    target = cols[, 2L], achieved = cols[, 1L], n = cols[, 5L],
    sample_share = cols[, 5L] / nrow(data), stringsAsFactors = FALSE)
  # the state for tab()'s variance, from the C routine's sums: the totals
  # of the numeric auxiliaries (achieved at the final weights) and, per
  # calibration cell, of the weights (unless the cells outnumber the rows)
  state <- if (!is.null(prep))
    cal_state(prep, w0, res$weights, "calibrate", numeric = parts$numeric,
              numeric_totals = cols[m < 0, 1L][order(cols[m < 0, 4L])],
              calfun = method, bounds = as.double(bounds),
              cells = if (length(res$cell_w) <= length(res$weights))
                list(sum_w = res$cell_w, constant = res$cell_constant),
              check = res$fingerprint)
  if (!is.null(state) && !is.null(hq)) state$q <- hq
  diag <- list(
    method = "calibrate", calfun = method, bounds = as.double(bounds),
    q = if (!is.null(hq)) if (is.character(q) && length(q) == 1L) q else "(vector)",
    iterations = res$iterations, converged = res$converged,
    max_error = res$max_error, trace = res$trace, g_range = res$g_range,
    mode = if (length(parts$numeric)) "rows" else "cells", ncell = res$ncell,
    passes = res$passes,
    total = if (is.null(prep)) sum(res$weights) else sum(prep$targets[[1L]], na.rm = TRUE),
    margins = tab,
    calibration = state,
    weighted_start = !is.null(w0), epsilon = epsilon, maxit = maxit,
    reading = reading, check = res$fingerprint)
  structure(res$weights, class = "umfrage_weights", umfrage = diag)
}

# The heteroscedasticity factor q (survey::calibrate's `variance =`): NULL,
# or a double vector of positive finite values, one per row, from a numeric
# vector, a column name or a one-sided formula naming a column.
get_q <- function(q, data) {
  if (is.null(q)) return(NULL)
  if (inherits(q, "umfrage_weights")) q <- as.numeric(q)
  v <- get_weights(q, data, "q")
  attributes(v) <- NULL
  i <- which(is.na(v) | !(v > 0 & v < Inf))       # NA, NaN, <= 0 and Inf
  if (length(i))
    stopf("'q' must be positive and finite in every row; %d value(s) are not (first at row %d: %s)",
          length(i), i[1L], format(v[i[1L]]))
  v
}

# The targets of wt_calibrate() on data (or a database table's prototype
# row): split into categorical margins and numeric totals, the margins
# scaled by `total` (scale_targets()), with how they were read and whether
# they are proportions still to be scaled to the starting weights' sum.
calib_targets <- function(targets, data, total) {
  parts <- split_targets(targets, data)
  out <- list(parts = parts, margins = list(), reading = NULL, scale = FALSE)
  if (length(parts$margins)) {
    out$margins <- scale_targets(parts$margins, total)
    out$reading <- attr(out$margins, "reading")
    out$scale <- attr(out$margins, "scale")
  } else if (!is.null(total)) {
    stopf("'total' applies to categorical margins, and 'targets' has none")
  }
  out
}

# Split calibration targets into categorical margins (normalised as for
# wt_rake) and numeric auxiliaries (name -> single total).
split_targets <- function(targets, data, arg = "targets") {
  if (is.data.frame(targets))
    return(list(margins = normalize_targets(targets, arg), numeric = character(), totals = list()))
  if (!is.list(targets) || length(targets) == 0L)
    stopf("'%s' must be a non-empty named list or a data frame with columns 'variable', 'level', 'target', not %s",
          arg, obj_desc(targets))
  nms <- names(targets)
  if (is.null(nms)) nms <- rep("", length(targets))
  is_num <- vapply(seq_along(targets), function(i) {
    el <- targets[[i]]
    nm <- nms[i]
    x <- if (!is.na(nm) && nm != "" && nm %in% names(data)) data_col(data, nm)
    !is.data.frame(el) && !is.null(x) &&
      is.numeric(x) && !is.object(x) && !is_labelled(x) &&
      is.numeric(el) && length(el) == 1L && is.null(names(el))
  }, NA)
  numeric <- nms[is_num]
  totals <- targets[is_num]
  for (i in seq_along(numeric)) {
    v <- totals[[i]]
    if (!is.finite(v))
      stopf("the total of numeric auxiliary %s must be finite, not %s", q(numeric[i]), format(v))
    x <- data_col(data, numeric[i])
    # numeric() of a factor or labelled column cannot reach here (is_num)
    if (if (is.double(x)) .Call(C_first_nonfinite, x) > 0 else anyNA(x))
      stopf("numeric auxiliary %s holds %d NA or infinite value(s) (first at row %d); calibration needs a value in every row",
            q(numeric[i]), sum(!is.finite(x)), which(!is.finite(x))[1L])
  }
  margins <- if (any(!is_num)) normalize_targets(targets[!is_num], arg) else list()
  list(margins = margins, numeric = numeric, totals = totals)
}

calibrate_status_error <- function(res, prep, parts, data, w0, bounds, method) {
  st <- res$status
  info <- res$info
  col_label <- function(k) {
    # k: 0-based column; categorical columns come first, in margin order
    ncat <- res_ncat(prep, res)
    if (k >= ncat) return(sprintf("numeric auxiliary %s", q(parts$numeric[k - ncat + 1L])))
    lab <- cat_columns(prep)[k + 1L, ]
    sprintf("level %s of %s", q(lab$level), q(lab$variable))
  }
  if (st == 1L) code_problem(prep, data, info[1L] + 1L, "", "each level a target")
  if (st == 2L) weight_problem(w0, "weights")
  if (st == 3L) {
    m <- info[1L] + 1L
    stopf("level %s of %s occurs in %d row(s) of 'data' but has no target; give each level a target%s",
          q(margin_level_names(prep, m)[info[2L] + 1L]),
          q(paste(prep$vars[prep$margins[[m]] + 1L], collapse = ":")), as.integer(info[3L]),
          na_level_hint(prep, m, data))
  }
  if (st == 4L) {
    m <- info[1L] + 1L
    if (info[3L] == 0)
      stopf("target level(s) %s of %s have a positive target but no respondents in 'data'",
            q(margin_level_names(prep, m)[info[2L] + 1L]),
            q(paste(prep$vars[prep$margins[[m]] + 1L], collapse = ":")))
    stopf("target level %s of %s has a positive target but its %d row(s) all have starting weight 0",
          q(margin_level_names(prep, m)[info[2L] + 1L]),
          q(paste(prep$vars[prep$margins[[m]] + 1L], collapse = ":")), as.integer(info[3L]))
  }
  if (st == 5L) {
    k <- info[1L]
    ncat <- res_ncat(prep, res)
    if (info[2L] == 1)
      stopf("%s is 0 in every row with a positive starting weight: it cannot be calibrated",
            col_label(k))
    part <- info[-(1:2)] > 0
    nums <- parts$numeric[part[ncat + seq_along(parts$numeric)]]
    if (length(nums) > 1L)
      stopf("collinear auxiliaries: numeric %s are linearly dependent (on each other, possibly with the margins' level indicators), so their totals cannot be met separately; drop one of them",
            qlist(nums))
    stopf("collinear auxiliaries: numeric %s is linearly dependent on the margins' level indicators (e.g. a constant, or a sum of indicators), so its total cannot be met separately; drop it",
          qlist(nums))
  }
  if (st == 9L)
    stopf("the targets contradict each other along %s: margins that share rows imply different totals",
          col_label(info[1L]))
  if (st == 10L)
    stopf("numeric auxiliary %s is NA or infinite at row %d", q(parts$numeric[info[1L] + 1L]),
          as.integer(info[2L]))
  if (st == 6L)
    stopf("bounds c(%s, %s) make the targets unreachable: %s needs a total of %s but can reach only %s to %s with every g within the bounds%s",
          format(bounds[1L]), format(bounds[2L]), col_label(info[1L]),
          format(cat_target(prep, parts, res, info[1L]), digits = 7),
          format(info[2L], digits = 7), format(info[3L], digits = 7),
          if (method == "logit") " (method 'logit' keeps g strictly inside them)"
          else if (method == "raking") " (method 'raking' keeps g above 0)" else "")
  if (st == 7L)
    stopf("calibration cannot meet the targets%s: it stopped improving after %d iterations; furthest off is %s (achieved %s, target %s)",
          if (all(is.infinite(bounds))) "" else sprintf(" within bounds c(%s, %s)", format(bounds[1L]), format(bounds[2L])),
          as.integer(info[3L]), col_label(info[1L]), format(info[2L], digits = 7),
          format(cat_target(prep, parts, res, info[1L]), digits = 7))
  if (st == 8L)
    stopf("calibration did not converge in maxit iterations: largest relative error %.3g at %s (achieved %s, target %s); raise 'maxit' or relax 'bounds'",
          info[3L], col_label(info[1L]), format(info[2L], digits = 7),
          format(cat_target(prep, parts, res, info[1L]), digits = 7))
  stopf("internal error: unknown calibration status %d", st)
}

# The categorical columns as C numbers them: per margin, the levels with a
# target and rows (or a positive target), in level order.
cat_columns <- function(prep) {
  if (is.null(prep)) return(data.frame(variable = character(), level = character(), target = numeric()))
  out <- lapply(seq_along(prep$margins), function(m) {
    t <- prep$targets[[m]]
    cnt <- margin_counts(prep, m)
    keep <- !is.na(t) & !(cnt == 0 & t == 0)
    data.frame(variable = paste(prep$vars[prep$margins[[m]] + 1L], collapse = ":"),
               level = margin_level_names(prep, m)[keep], target = t[keep],
               stringsAsFactors = FALSE)
  })
  do.call(rbind, out)
}

margin_counts <- function(prep, m) {
  vars <- prep$margins[[m]] + 1L
  codes <- lapply(prep$codes[vars], as.integer)
  nl <- prep$nlev[vars]
  id <- rep(1L, length(codes[[1L]]))
  s <- 1L
  for (j in seq_along(codes)) { id <- id + (codes[[j]] - 1L) * s; s <- s * nl[j] }
  tabulate(id, prod(nl))
}

res_ncat <- function(prep, res) nrow(cat_columns(prep))

cat_target <- function(prep, parts, res, k) {
  cc <- cat_columns(prep)
  if (k < nrow(cc)) cc$target[k + 1L] else parts$totals[[k - nrow(cc) + 1L]]
}

#' Trim weights
#'
#' Caps weights at bounds and, with `keep_total = TRUE`, spreads the trimmed
#' amount equally over the weights inside the bounds so that the total is
#' kept, repeating until no weight is outside: `survey::trimWeights(strict =
#' TRUE)`. Rows with weight 0 keep weight 0.
#'
#' With `deff`, `wt_trim()` finds the smallest trimming that brings Kish's
#' design effect (`n * sum(w^2) / sum(w)^2`, see [wt_summary()]) down to
#' `deff`: the largest upper bound (at most `upper`) whose trimming meets
#' it, by bisection.
#'
#' Trimming breaks calibrated margins: the trimmed weights no longer meet
#' the targets of [wt_rake()] or [wt_calibrate()], and carry none. To limit
#' weights and keep the margins, calibrate with bounds instead:
#' `wt_calibrate(data, targets, method = "logit", bounds = c(0.3, 3))`.
#'
#' @param w Weights: a numeric vector (finite, non-negative), such as a
#'   `umfrage_weights` vector.
#' @param lower,upper Bounds (`NULL`: none); with `relative = TRUE`
#'   multiples of the mean positive weight.
#' @param keep_total Spread the trimmed amount over the untrimmed weights.
#' @param deff `NULL`, or a target Kish design effect (>= 1).
#' @param relative Whether `lower` and `upper` are relative to the mean
#'   positive weight.
#' @param maxit Largest number of trimming rounds.
#' @return A `umfrage_weights` vector with method `"trim"` (see
#'   [wt_summary()]): the bound used, rounds, rows trimmed.
#' @examples
#' set.seed(4)
#' w <- rlnorm(1000, 0, 0.8)
#' wt_summary(wt_trim(w, upper = 3, relative = TRUE))
#' wt_summary(wt_trim(w, deff = 1.3))
#' @export
wt_trim <- function(w, lower = NULL, upper = NULL, keep_total = TRUE, deff = NULL,
                    relative = FALSE, maxit = 1000L) {
  if (!is.numeric(w) || length(w) == 0L)
    stopf("'w' must be a non-empty numeric vector of weights, not %s", obj_desc_len(w))
  wd <- as.double(w)
  st <- weight_stats(wd, "w", zero_ok = FALSE)
  check_flag(keep_total, "keep_total")
  check_flag(relative, "relative")
  maxit <- check_count(maxit, "maxit")
  mean_pos <- st[["sum"]] / st[["n_positive"]]
  lo <- if (is.null(lower)) -Inf else check_number(lower, "lower", min = 0)
  hi <- if (is.null(upper)) Inf else check_number(upper, "upper", min = 0)
  if (relative) { lo <- lo * mean_pos; hi <- hi * mean_pos }
  if (lo > hi) stopf("'lower' (%s) must not exceed 'upper' (%s)", format(lo), format(hi))
  target <- NA_real_
  if (!is.null(deff)) {
    target <- check_number(deff, "deff", min = 1)
    if (is.null(upper)) hi <- Inf
  } else if (is.null(lower) && is.null(upper)) {
    stopf("give 'lower', 'upper' or 'deff'")
  }
  if (keep_total && is.finite(hi) && hi * st[["n_positive"]] < st[["sum"]] * (1 - 1e-12))
    stopf("'upper' = %s is below the mean positive weight %s: no trimming can keep the total",
          format(hi), format(mean_pos))
  if (keep_total && lo * st[["n_positive"]] > st[["sum"]] * (1 + 1e-12))
    stopf("'lower' = %s is above the mean positive weight %s: no trimming can keep the total",
          format(lo), format(mean_pos))
  # on a safe scale (a power of two, exact: see weight_scale() in var.R),
  # so that the design effect's sum(w^2) neither overflows nor underflows
  f <- weight_scale(wd)$f
  res <- .Call(C_trim, wd * f, as.double(lo * f), as.double(hi * f), as.integer(keep_total),
               maxit, as.double(target))
  res$weights <- res$weights / f
  res$upper <- res$upper / f
  if (res$status == 1L) stopf("every positive weight is outside the bounds: nothing can take the trimmed amount")
  if (res$status == 2L) stopf("trimming did not settle in maxit = %d rounds", maxit)
  n_trim <- sum(wd > 0 & (wd < lo | wd > res$upper))
  structure(res$weights, class = "umfrage_weights", umfrage = list(
    method = "trim", iterations = res$rounds, converged = TRUE, max_error = 0,
    lower = lo, upper = res$upper, deff_target = target, n_trimmed = n_trim,
    total = sum(res$weights), margins = NULL, calibration = NULL,
    weighted_start = TRUE, check = wt_fingerprint(res$weights)))
}

# 'bounds' of wt_calibrate() (data frames and database tables): two numbers
# around 1, finite and strictly around 1 for method = "logit".
check_bounds <- function(bounds, method) {
  if (!is.numeric(bounds) || length(bounds) != 2L || anyNA(bounds))
    stopf("'bounds' must be two numbers c(lower, upper), not %s", obj_desc_len(bounds))
  if (!(bounds[1L] <= 1 && bounds[2L] >= 1))
    stopf("'bounds' = c(%s, %s) must contain 1 (g = 1 keeps a starting weight)",
          format(bounds[1L]), format(bounds[2L]))
  if (method == "logit" && !(all(is.finite(bounds)) && bounds[1L] < 1 && bounds[2L] > 1))
    stopf("method = \"logit\" needs finite 'bounds' with lower < 1 < upper, not c(%s, %s)",
          format(bounds[1L]), format(bounds[2L]))
  invisible(bounds)
}
