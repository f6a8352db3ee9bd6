#' Describe a survey design
#'
#' A light description of a single-stage stratified cluster sample: which
#' columns hold the weights, strata, clusters (primary sampling units, PSUs)
#' and finite population corrections. [tab()] takes a design in place of a
#' data frame and then computes design-based standard errors, confidence
#' intervals and tests.
#'
#' Variances follow the usual with-replacement (or, with `fpc`,
#' without-replacement) estimator for the first stage, as
#' `survey::svydesign()` with `ids = cluster, strata = strata, fpc = fpc`:
#' within each stratum, the PSU totals of the linearised estimating
#' variable are centred at their stratum mean, and the sum of squares is
#' scaled by `n_h / (n_h - 1)` and `1 - n_h / N_h`. Without `cluster`, every
#' row is its own PSU; without `strata`, there is one stratum.
#'
#' @section Strata with a single PSU:
#' `lonely_psu` says what to do, with the choices of
#' `options(survey.lonely.psu)`: `"fail"` stops (naming the stratum);
#' `"certainty"` and `"remove"` let the stratum contribute no variance;
#' `"adjust"` centres its PSU at zero instead of its stratum mean, as survey
#' does.
#'
#' @param data A data frame, not grouped. SPSS user-missing values in the
#'   strata or cluster column are `NA` (see [tab()], section Variables).
#' @param weights Sampling weights: a column name or one-sided formula, a
#'   numeric vector, or `NULL`: all 1, or with `fpc` the population PSUs
#'   over the sampled PSUs of the row's stratum, `N_h / n_h`, as
#'   `survey::svydesign()` derives them.
#' @param strata Stratum column (name or one-sided formula), or `NULL`.
#' @param cluster PSU column (name or one-sided formula), or `NULL` (rows
#'   are PSUs). PSU labels may repeat across strata: a PSU is a (stratum,
#'   cluster) pair.
#' @param fpc Finite population correction column: per stratum either the
#'   number of PSUs in the population (values > 1) or the sampling fraction
#'   (values <= 1), constant within a stratum. `NULL`: sampling with
#'   replacement.
#' @param lonely_psu What to do with a stratum of one PSU (see above).
#' @return An object of class `umfrage_design`.
#' @seealso [as_svydesign()] to hand the same design to the survey package.
#' @examples
#' d <- data.frame(st = rep(1:2, each = 6), psu = rep(1:4, each = 3),
#'                 y = c(1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1),
#'                 w = rep(c(10, 20), each = 6), N = rep(c(8, 10), each = 6))
#' des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
#' des
#' @export
svy_design <- function(data, weights = NULL, strata = NULL, cluster = NULL,
                       fpc = NULL,
                       lonely_psu = getOption("survey.lonely.psu", "fail")) {
  check_data(data)
  lonely_psu <- match.arg(lonely_psu, c("fail", "certainty", "remove", "adjust"))
  w <- get_weights(weights, data)
  if (!is.null(w)) weight_stats(w, "weights")
  n <- nrow(data)
  col_of <- function(spec, arg) {
    if (is.null(spec)) return(NULL)
    if (inherits(spec, "formula")) {
      v <- all.vars(spec)
      if (length(spec) != 2L || length(v) != 1L)
        stopf("'%s' must name one column, like ~%s", arg, arg)
      spec <- v
    }
    if (!is.character(spec) || length(spec) != 1L || is.na(spec))
      stopf("'%s' must be a column name or a one-sided formula", arg)
    if (!spec %in% names(data)) stopf("'%s' names column %s, which is not in 'data'", arg, q(spec))
    x <- data_col(data, spec)
    if (anyNA(x))
      stopf("'%s' column %s holds %d NA value(s) (first at row %d); every row needs a %s",
            arg, q(spec), sum(is.na(x)), which(is.na(x))[1L], arg)
    list(name = spec, x = x)
  }
  sv <- col_of(strata, "strata")
  cv <- col_of(cluster, "cluster")
  fv <- col_of(fpc, "fpc")
  h <- if (is.null(sv)) rep(1L, n) else match(sv$x, sort(unique(sv$x)))
  hlev <- if (is.null(sv)) "1" else as.character(sort(unique(sv$x)))
  psu_key <- if (is.null(cv)) seq_len(n) else paste(h, cv$x, sep = "\r")
  psu <- match(psu_key, unique(psu_key))
  psu_stratum <- h[!duplicated(psu)][order(unique(psu))]
  n_psu <- tabulate(psu_stratum, length(hlev))
  # finite population correction: population PSUs per stratum
  pop <- rep(Inf, length(hlev))
  if (!is.null(fv)) {
    f <- fv$x
    if (!is.numeric(f)) stopf("'fpc' column %s must be numeric", q(fv$name))
    if (any(!is.finite(f)) || any(f <= 0)) stopf("'fpc' column %s must hold positive finite values", q(fv$name))
    fr <- tapply(f, h, function(v) diff(range(v)))
    if (any(fr > 0))
      stopf("'fpc' must be constant within a stratum, but varies in stratum %s",
            q(hlev[which(fr > 0)[1L]]))
    fh <- as.vector(tapply(f, h, `[`, 1L))
    pop <- ifelse(fh <= 1, n_psu / fh, fh)
    bad <- which(pop < n_psu - 1e-8)
    if (length(bad))
      stopf("'fpc' gives %s population PSUs in stratum %s, fewer than its %d sampled PSUs",
            format(pop[bad[1L]]), q(hlev[bad[1L]]), n_psu[bad[1L]])
  }
  # no weights but an fpc: each PSU stands for N_h / n_h population PSUs,
  # as survey::svydesign() derives the weights from fpc
  from_fpc <- is.null(w) && !is.null(fv)
  if (from_fpc) w <- (pop / n_psu)[h]
  lonely <- which(n_psu == 1L)
  if (length(lonely) && lonely_psu == "fail")
    stopf("stratum %s has only one PSU; choose lonely_psu = \"certainty\", \"remove\" or \"adjust\" (as options(survey.lonely.psu))",
          q(hlev[lonely[1L]]))
  structure(list(
    data = data, weights = w, calibration = attr(w, "calibration"),
    vars = list(strata = sv$name, cluster = cv$name, fpc = fv$name),
    stratum = h, strata_levels = hlev, psu = psu, psu_stratum = psu_stratum,
    n_psu = n_psu, pop_psu = pop, lonely_psu = lonely_psu,
    clustered = !is.null(cv), weights_from_fpc = from_fpc),
    class = "umfrage_design")
}

#' @export
print.umfrage_design <- function(x, ...) {
  cat(sprintf("<umfrage_design> %d rows, %d PSU(s)%s in %d stratum/strata, %s weights%s\n",
              nrow(x$data), length(x$psu_stratum), if (x$clustered) " (clusters)" else " (rows)",
              length(x$strata_levels),
              if (is.null(x$weights)) "equal" else if (isTRUE(x$weights_from_fpc)) "fpc-derived" else "given",
              if (all(is.infinite(x$pop_psu))) ", with replacement" else ", with fpc"))
  invisible(x)
}

#' Hand a design to the survey package
#'
#' Builds the `survey::svydesign()` object that describes the same sample as
#' an [svy_design()], so that results can be checked against survey or
#' analysed further there. Needs the survey package.
#'
#' When the design's weights come from [wt_rake()], [wt_poststrat()] or
#' [wt_calibrate()], the returned design is calibrated as survey itself
#' would do it: built on the starting weights, then passed to
#' `survey::postStratify()` (post-stratification) or `survey::calibrate()`
#' (raking; calibration with the same `calfun` and `bounds`) on the margins
#' and totals the weights achieved. Its weights equal the design's (to
#' 1e-6 relative; else, or when the stored calibration no longer fits the
#' weights and rows, the design carries the weights as fixed, with a
#' warning), and survey's standard errors then equal [tab()]'s. Numeric
#' auxiliaries of [wt_calibrate()] are calibrated on too, though [tab()]
#' treats such weights as fixed.
#'
#' survey reads its lonely-PSU rule from `options(survey.lonely.psu)` when it
#' computes a variance; set that option to the design's `lonely_psu` to get
#' the same variances.
#'
#' @param x An `umfrage_design`.
#' @return A `survey.design2` object (calibrated, for calibrated weights).
#' @examples
#' if (requireNamespace("survey", quietly = TRUE)) {
#'   d <- data.frame(st = rep(1:2, each = 6), psu = rep(1:4, each = 3),
#'                   w = rep(c(10, 20), each = 6))
#'   as_svydesign(svy_design(d, weights = ~w, strata = ~st, cluster = ~psu))
#' }
#' @export
as_svydesign <- function(x) {
  if (!inherits(x, "umfrage_design"))
    stopf("'x' must be an svy_design(), not %s", obj_desc(x))
  if (!requireNamespace("survey", quietly = TRUE))
    stopf("as_svydesign() needs the survey package: install.packages(\"survey\")")
  d <- x$data
  w <- if (is.null(x$weights)) NULL else as.double(x$weights)
  cal <- if (is.null(x$calibration)) NULL else survey_calibration(x$calibration, d, w)
  d$.umfrage_w <- if (!is.null(cal)) cal$w0 else if (is.null(w)) 1 else w
  for (nm in names(cal$columns)) d[[nm]] <- cal$columns[[nm]]
  d$.umfrage_psu <- x$psu
  d$.umfrage_stratum <- x$stratum
  args <- list(ids = ~.umfrage_psu, weights = ~.umfrage_w, data = d)
  if (length(x$strata_levels) > 1L || !is.null(x$vars$strata)) args$strata <- ~.umfrage_stratum
  if (any(is.finite(x$pop_psu))) {
    d$.umfrage_fpc <- x$pop_psu[x$stratum]
    args$data <- d
    args$fpc <- ~.umfrage_fpc
  }
  s <- do.call(survey::svydesign, args)
  if (is.null(cal)) return(s)
  sc <- tryCatch(cal$calibrate(s), error = function(e) e)
  if (inherits(sc, "error")) {
    warnf("as_svydesign(): survey could not redo the calibration (%s); the design carries the weights as fixed",
          conditionMessage(sc))
  } else {
    dif <- max(abs(stats::weights(sc) - w)) / max(abs(w))
    if (dif <= 1e-6) return(sc)
    warnf("as_svydesign(): survey's calibration gives weights that differ from these by %.2g relative (as with a cap in wt_rake(), or bounds when survey::calibrate() rescales the starting weights because every target exceeds 20 times its sample total); the design carries the weights as fixed",
          dif)
  }
  d$.umfrage_w <- w
  args$data <- d
  do.call(survey::svydesign, args)
}

# What as_svydesign() needs to redo a calibration in survey: the starting
# weights, indicator columns of the margins' levels (a linearly independent
# subset, with the same span), numeric auxiliaries, and a function that
# calibrates a survey design built on the starting weights. NULL, with a
# warning, when the stored calibration does not fit the weights and rows.
survey_calibration <- function(cl, d, w) {
  fail <- function(why) {
    warnf("as_svydesign(): the calibration stored on the weights %s; the design carries the weights as fixed",
          why)
    NULL
  }
  n <- nrow(d)
  miss <- setdiff(c(cl$vars, cl$numeric), names(d))
  if (length(miss))
    return(fail(sprintf("needs variable(s) %s, which are not in the design's data", qlist(miss))))
  w0 <- if (is.null(cl$start)) rep(1, n) else as.double(cl$start)
  if (length(w0) != n || length(w) != n)
    return(fail(sprintf("was made for %d rows, the design has %d", length(w0), n)))
  coded <- lapply(cl$vars, function(v) code_var(d[[v]], v, cl$lev[[v]]))
  codes <- lapply(coded, function(cv) as.integer(cv$codes))
  if (any(vapply(codes, anyNA, NA)))
    return(fail("no longer fits: a margin variable has values without a target"))
  nlev <- vapply(coded, function(cv) as.double(cv$nlev), 0)
  names(codes) <- names(nlev) <- cl$vars
  lv <- lapply(cl$margins, function(mv) cal_cell_codes(codes[mv], nlev[mv]))
  L <- vapply(cl$margins, function(mv) prod(nlev[mv]), 0)
  now <- unlist(lapply(seq_along(lv), function(m) cell_sums(lv[[m]], L[m], w)))
  xnum <- lapply(cl$numeric, function(v) as.double(d[[v]]))
  num_now <- vapply(xnum, function(x) sum(x * w), 0)
  G <- prod(nlev)
  g <- if (G <= 1e6) cal_cell_codes(codes, nlev) else rep(1L, n)
  bad <- cal_misfit(if (G <= 1e6) cl else utils::modifyList(cl, list(cell_constant = NA)),
                    w, w0, g, max(G, 1), now, num_now)
  if (!is.null(bad)) return(fail(paste("no longer fits:", bad)))
  # one column per joint level with rows, then a linearly independent
  # subset (joint margins may overlap), found on the distinct cells
  key <- do.call(paste, c(unname(lv), sep = "\r"))
  first <- which(!duplicated(key))
  cand <- do.call(rbind, lapply(seq_along(lv), function(m) {
    lvl <- which(tabulate(lv[[m]], L[m]) > 0)
    data.frame(m = rep(m, length(lvl)), l = lvl)
  }))
  A <- vapply(seq_len(nrow(cand)), function(k) as.double(lv[[cand$m[k]]][first] == cand$l[k]),
              numeric(length(first)))
  A <- matrix(A, length(first))
  qa <- qr(A)
  keep <- sort(qa$pivot[seq_len(qa$rank)])
  cand <- cand[keep, , drop = FALSE]
  tot <- lapply(cl$totals, as.double)
  columns <- list()
  pop <- double()
  for (k in seq_len(nrow(cand))) {
    nm <- sprintf(".umfrage_cal%d_%d", cand$m[k], cand$l[k])
    columns[[nm]] <- as.double(lv[[cand$m[k]]] == cand$l[k])
    pop[nm] <- tot[[cand$m[k]]][cand$l[k]]
  }
  for (j in seq_along(xnum)) {
    nm <- sprintf(".umfrage_num%d", j)
    columns[[nm]] <- xnum[[j]]
    pop[nm] <- cl$numeric_totals[j]
  }
  fml <- stats::as.formula(paste("~ 0 +", paste(names(columns), collapse = " + ")))
  if (identical(cl$method, "poststrat") && !length(xnum)) {
    cell <- factor(lv[[1L]])
    columns <- list(.umfrage_cell = cell)
    lvl <- as.integer(levels(cell))
    pst <- data.frame(.umfrage_cell = factor(levels(cell), levels(cell)), Freq = tot[[1L]][lvl])
    calibrate <- function(s) survey::postStratify(s, ~.umfrage_cell, pst)
  } else {
    calfun <- if (identical(cl$method, "rake")) "raking" else cl$calfun
    bounds <- if (is.null(cl$bounds)) c(-Inf, Inf) else cl$bounds
    calibrate <- function(s) survey::calibrate(s, fml, pop, calfun = calfun, bounds = bounds,
                                               epsilon = 1e-12, maxit = 200)
  }
  list(w0 = w0, columns = columns, calibrate = calibrate)
}
