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
#' @param data A data frame.
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
    x <- data[[spec]]
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
#' survey reads its lonely-PSU rule from `options(survey.lonely.psu)` when it
#' computes a variance; set that option to the design's `lonely_psu` to get
#' the same variances.
#'
#' @param x An `umfrage_design`.
#' @return A `survey.design2` object.
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
  d$.umfrage_w <- if (is.null(x$weights)) 1 else x$weights
  d$.umfrage_psu <- x$psu
  d$.umfrage_stratum <- x$stratum
  args <- list(ids = ~.umfrage_psu, weights = ~.umfrage_w, data = d)
  if (length(x$strata_levels) > 1L || !is.null(x$vars$strata)) args$strata <- ~.umfrage_stratum
  if (any(is.finite(x$pop_psu))) {
    d$.umfrage_fpc <- x$pop_psu[x$stratum]
    args$data <- d
    args$fpc <- ~.umfrage_fpc
  }
  do.call(survey::svydesign, args)
}
