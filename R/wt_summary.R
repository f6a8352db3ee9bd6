#' Diagnostics of a weight vector
#'
#' Summarises weights: counts, sum, range, the ratio of the largest to the
#' smallest positive weight, the coefficient of variation, Kish's design
#' effect due to weighting, the effective sample size and the efficiency.
#' For weights made by [wt_rake()] or [wt_poststrat()] it adds the method,
#' iterations, convergence and a margin table (target, achieved, unweighted
#' count and share per level).
#'
#' Kish's design effect is `deff = n * sum(w^2) / sum(w)^2 = 1 + CV^2`, with
#' `n` the number of positive weights and `CV` the coefficient of variation
#' of those weights (standard deviation with divisor `n`, over the mean).
#' The effective sample size is `n_eff = sum(w)^2 / sum(w^2) = n / deff`,
#' the efficiency `n_eff / n = 1 / deff`. Rows with weight 0 are out of the
#' sample and do not count in `n`.
#'
#' @param w A numeric vector of weights (finite, non-negative), typically a
#'   `umfrage_weights` vector.
#' @return An object of class `umfrage_wt_summary`: a list with `stats` (a
#'   named list of the statistics) and `margins` (a data frame, or `NULL`
#'   for plain weights). `print()` shows both; `as.data.frame()` returns the
#'   statistics as a one-row data frame, or the margin table with
#'   `what = "margins"`.
#' @examples
#' wt_summary(c(1, 2, 2, 3, 0))
#' @export
wt_summary <- function(w) {
  if (!is.numeric(w))
    stopf("'w' must be a numeric vector of weights, not %s", obj_desc(w))
  if (length(w) == 0L) stopf("'w' has length 0")
  info <- if (inherits(w, "umfrage_weights")) attr(w, "umfrage") else NULL
  wd <- as.double(w)
  if (!is.null(info) && !fingerprint_ok(info$check, wd)) {
    # changed after it was made (pmin(), data.table::setorder(), ...): the
    # diagnostics describe other weights
    info <- list(stale = info$method)
  }
  weight_stats(wd, "w", zero_ok = FALSE)
  # on a safe scale (a power of two, exact; see weight_scale() in var.R):
  # sum(w^2) neither overflows nor underflows; sums scaled back
  f <- weight_scale(wd)$f
  wd <- wd * f
  st <- weight_stats(wd, "w", zero_ok = FALSE)
  npos <- st[["n_positive"]]
  s <- st[["sum"]]
  s2 <- st[["sum_sq"]]
  deff <- npos * s2 / s^2
  minpos <- if (st[["n_zero"]] > 0) min(wd[wd > 0]) else st[["min"]]
  stats <- list(
    n = st[["n"]], n_positive = npos, n_zero = st[["n_zero"]],
    sum = s / f, mean = s / st[["n"]] / f, min = st[["min"]] / f, max = st[["max"]] / f,
    ratio = st[["max"]] / minpos,
    cv = sqrt(max(deff - 1, 0)), deff = deff, n_eff = s^2 / s2,
    efficiency = 1 / deff,
    method = if (is.null(info$method)) NA_character_ else info$method,
    iterations = if (is.null(info$method)) NA_integer_ else info$iterations,
    converged = if (is.null(info$method)) NA else info$converged,
    max_error = if (is.null(info$method)) NA_real_ else info$max_error)
  margins <- if (is.null(info) || is.null(info$margins)) NULL else {
    m <- info$margins
    m$rel_error <- ifelse(m$target > 0, abs(m$achieved - m$target) / m$target,
                          abs(m$achieved) / info$total)
    m
  }
  structure(list(stats = stats, margins = margins, info = info), class = "umfrage_wt_summary")
}

#' @export
as.data.frame.umfrage_wt_summary <- function(x, row.names = NULL, optional = FALSE,
                                             ..., what = c("stats", "margins")) {
  what <- match.arg(what)
  if (what == "margins") {
    if (is.null(x$margins))
      stopf("these weights carry no margins (they were not made by wt_rake() or wt_poststrat())")
    return(x$margins)
  }
  as.data.frame(x$stats, stringsAsFactors = FALSE)
}

#' @export
format.umfrage_wt_summary <- function(x, digits = 4L, ...) {
  s <- x$stats
  f <- function(v) format(v, digits = digits, big.mark = ",", scientific = 12)
  lines <- c(
    sprintf("Weights: n = %s (%s positive), sum = %s, mean = %s",
            f(s$n), f(s$n_positive), f(s$sum), f(s$mean)),
    sprintf("  range %s to %s, max/min %s, CV %s",
            f(s$min), f(s$max), f(s$ratio), f(s$cv)),
    sprintf("  Kish design effect %s, effective n %s, efficiency %s%%",
            f(s$deff), f(s$n_eff), format(round(100 * s$efficiency, 1), nsmall = 1)))
  if (!is.null(x$info$stale)) {
    lines <- c(lines, sprintf("  changed after %s() made them: its diagnostics (convergence, margins) no longer apply",
                              paste0("wt_", x$info$stale)))
  } else if (!is.na(s$method) && s$method == "trim") {
    lines <- c(lines, sprintf("  trimming: %s weight(s) outside [%s, %s]%s, %d round(s)",
                              f(x$info$n_trimmed), f(x$info$lower), f(x$info$upper),
                              if (is.na(x$info$deff_target)) "" else
                                sprintf(" (bound found for design effect %s)", f(x$info$deff_target)),
                              s$iterations))
  } else if (!is.na(s$method)) {
    lines <- c(lines, sprintf("  %s: %s after %d %s, largest relative margin error %.2g",
                              method_label(x$info),
                              if (isTRUE(s$converged)) "converged" else "NOT converged",
                              s$iterations, if (s$method == "calibrate") "iteration(s)" else "sweep(s)",
                              s$max_error))
    if (s$method == "calibrate")
      lines <- c(lines, sprintf("  g = weight / starting weight from %s to %s",
                                f(x$info$g_range[1L]), f(x$info$g_range[2L])))
    r <- x$info$reading
    if (!is.null(r)) {
      kind <- unique(r$read_as)
      lines <- c(lines, sprintf("  targets read as %s (margin sums %s)%s",
                                paste(ifelse(kind == "totals", "population totals", kind), collapse = " and "),
                                paste(format(r$sum, digits = 7), collapse = ", "),
                                if (all(kind == "totals")) "" else
                                  sprintf(", each rescaled to sum to 1, then to %s", f(x$info$total))))
    }
  }
  lines
}

#' @export
print.umfrage_wt_summary <- function(x, digits = 4L, ...) {
  cat(format(x, digits = digits), sep = "\n")
  if (!is.null(x$margins)) {
    m <- x$margins
    num <- m$level == "(total)"
    fnum <- function(v) format(signif(v, digits + 3L), big.mark = ",", scientific = 15, trim = TRUE)
    first <- m$variable == m$variable[!num][1L]
    show <- data.frame(variable = m$variable, level = m$level,
                       target = fnum(m$target), achieved = fnum(m$achieved),
                       n = m$n, sample_pct = ifelse(num, NA, round(100 * m$sample_share, 1)),
                       target_pct = ifelse(num, NA, round(100 * m$target / sum(m$target[first & !num]), 1)),
                       stringsAsFactors = FALSE)
    cat("\nMargins:\n")
    print(show, row.names = FALSE)
  }
  invisible(x)
}

# "raking", "post-stratification", "logit calibration, bounds [0.3, 3]", ...
method_label <- function(info) {
  switch(info$method, rake = "raking", poststrat = "post-stratification", trim = "trimming",
         calibrate = paste0(info$calfun, " calibration",
                            if (any(is.finite(info$bounds)))
                              sprintf(" within bounds [%s, %s]", format(info$bounds[1L]),
                                      format(info$bounds[2L])) else ""),
         info$method)
}

# ---- the umfrage_weights class ------------------------------------------------

#' Weights made by umfrage
#'
#' [wt_rake()] and [wt_poststrat()] return a numeric vector of class
#' `umfrage_weights` that carries its diagnostics in the attribute
#' `"umfrage"`. It behaves as a numeric vector in a data frame column, in
#' `sum()`, `xtabs()` and the like. Subsetting (`[`, `[[`), replacing
#' elements (`[<-`, `[[<-`), `c()`, `rep()`, `sort()`, `rev()`, arithmetic
#' and math functions return a plain numeric vector, because the margins
#' the weights were calibrated on no longer hold afterwards.
#'
#' Some operations keep the attributes while changing the values:
#' `pmin()`/`pmax()` and, in place, `data.table::setorder()` or
#' `data.table::set()`. The weights carry a fingerprint of their values, so
#' `print()` and [wt_summary()] notice the change and no longer report the
#' diagnostics, and [tab()] checks that the calibration still fits the
#' weights and the rows before it uses the calibration-adjusted variance
#' (else it warns and treats the weights as fixed).
#'
#' @param x A `umfrage_weights` vector.
#' @param n Number of values to print.
#' @param ... Passed on.
#' @return `print()` returns `x` invisibly; `format()` a character vector;
#'   the others a plain numeric vector.
#' @name umfrage_weights
#' @keywords internal
NULL

#' @rdname umfrage_weights
#' @export
print.umfrage_weights <- function(x, n = 10L, ...) {
  info <- attr(x, "umfrage")
  v <- as.double(x)
  if (!fingerprint_ok(info$check, v))
    cat(sprintf("<umfrage_weights> %d weights, changed after wt_%s() made them (its diagnostics no longer apply): sum %s\n",
                length(v), info$method, format(sum(v), digits = 7, big.mark = ",", scientific = 12)))
  else if (identical(info$method, "trim"))
    cat(sprintf("<umfrage_weights> %d weights from wt_trim(): sum %s; %d trimmed to [%s, %s]\n",
                length(v), format(sum(v), digits = 7, big.mark = ",", scientific = 12),
                info$n_trimmed, format(info$lower, digits = 5), format(info$upper, digits = 5)))
  else
    cat(sprintf("<umfrage_weights> %d weights from %s: sum %s; %s after %d step(s), largest margin error %.2g\n",
                length(v), paste0("wt_", info$method, "()"),
                format(sum(v), digits = 7, big.mark = ",", scientific = 12),
                if (isTRUE(info$converged)) "converged" else "NOT converged",
                info$iterations, info$max_error))
  print(utils::head(v, n), ...)
  if (length(v) > n) cat(sprintf("... and %d more (wt_summary() for diagnostics)\n", length(v) - n))
  invisible(x)
}

#' @rdname umfrage_weights
#' @export
format.umfrage_weights <- function(x, ...) format(as.double(x), ...)

#' @rdname umfrage_weights
#' @export
`[.umfrage_weights` <- function(x, ...) as.double(x)[...]

#' @rdname umfrage_weights
#' @param value Replacement values.
#' @export
`[<-.umfrage_weights` <- function(x, ..., value) {
  x <- as.double(x)
  x[...] <- value
  x
}

#' @rdname umfrage_weights
#' @param i Index.
#' @export
`[[.umfrage_weights` <- function(x, i, ...) as.double(x)[[i, ...]]

#' @rdname umfrage_weights
#' @export
`[[<-.umfrage_weights` <- function(x, i, ..., value) {
  x <- as.double(x)
  x[[i, ...]] <- value
  x
}

#' @rdname umfrage_weights
#' @export
c.umfrage_weights <- function(...) {
  do.call(c, lapply(list(...), function(a)
    if (inherits(a, "umfrage_weights")) as.double(a) else a))
}

#' @rdname umfrage_weights
#' @export
rep.umfrage_weights <- function(x, ...) rep(as.double(x), ...)

#' @rdname umfrage_weights
#' @param e1,e2 Operands.
#' @export
Ops.umfrage_weights <- function(e1, e2) {
  if (inherits(e1, "umfrage_weights")) e1 <- as.double(e1)
  if (!missing(e2) && inherits(e2, "umfrage_weights")) e2 <- as.double(e2)
  if (missing(e2)) get(.Generic)(e1) else get(.Generic)(e1, e2)
}

#' @rdname umfrage_weights
#' @export
Math.umfrage_weights <- function(x, ...) get(.Generic)(as.double(x), ...)

#' @rdname umfrage_weights
#' @param row.names,optional See [as.data.frame()].
#' @export
as.data.frame.umfrage_weights <- function(x, row.names = NULL, optional = FALSE, ...) {
  nm <- deparse1(substitute(x))
  as.data.frame.vector(x, row.names = row.names, optional = optional, ...,
                       nm = nm)
}
