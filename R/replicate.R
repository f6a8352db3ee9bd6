# Replicate-weight designs (issue 17): svy_repdesign() from replicate-weight
# columns, as_repdesign() from an svy_design(), and tab()'s inference on
# them, as survey computes it on an svyrep.design.
#
# Representation (the lead's contract; class "umfrage_repdesign"): data,
# weights (full-sample weights w, NULL = 1), calibration, and
# rep = list(type, R, scale, rscales, mse, rho, df, mode, ...):
#   mode "factor":  replicate weight of row i in replicate r =
#                   base[i] * A[unit[i], r] * F[g[i], r] (F NULL: all 1)
#   mode "columns": W, the n x R replicate weights as given.
#
# How tab() uses it. Re-calibrated factor designs (F or lin) go by rows (see
# "re-calibrated designs: replicate totals by rows" at the end: profiles of
# the block's codes, one C pass evaluating each row's factors); the others:
# both modes come down to per-row starting weights b_i,
# a unit u_i and a U x R matrix P of replicate factors with replicate weight
# b_i P[u_i, r] (rep_units()): factor mode without F: the units and A; with
# F: the (unit, g) pairs present and A[u, ] * F[g, ]; columns mode: rows
# whose replicate weights are proportional, exactly, to their full-sample
# weight (W[i, ] / w_i, bit for bit; one C pass, C_rep_units) share a unit
# -- in designs made by survey or by as_repdesign() that is the PSU. One C
# pass over the rows per row variable (tab.c's C_tab, the unit as its
# innermost layer, weights b) then gives every entry's (cell's, base's)
# sums per unit, and the entries' replicate totals are those sums times P.
# Every estimate is computed per replicate from them and its variance is
# survey's svrVar(): scale * sum_r rscales_r (theta_r - centre)^2, centre =
# the mean of the replicates with rscales > 0 (or the full-sample estimate
# with mse = TRUE); replicates where the estimate is undefined (a domain
# without weight in it) are left out, as svrVar() does.
#
# Degrees of freedom are survey's degf() of the domain as a subset: the rank
# of its rows' replicate weights (qr(, tol = 1e-5)) minus 1; the rank is
# that of the rows of P of the units with weight in the domain.

# ---- constructors ------------------------------------------------------------------

#' Replicate-weight survey designs
#'
#' `svy_repdesign()` describes a sample by its replicate weights, as
#' `survey::svrepdesign()` does (combined weights: each replicate column
#' holds the full replicate weight of the row). [tab()] on it gives
#' replicate standard errors, intervals, design effects, letters and
#' Rao-Scott tests, equal to survey's on the same replicate weights. To make
#' replicate weights from an [svy_design()], see [as_repdesign()].
#'
#' `type` sets survey's conventions for the variance
#' `scale * sum_r rscales_r (theta_r - centre)^2` (centre: the mean of the
#' replicate estimates, or the full-sample estimate with `mse = TRUE`), as
#' `svrepdesign()` sets them:
#' * `"JK1"`: `scale` defaults to `(R - 1) / R` (with a warning, as survey:
#'   it guesses that there are as many PSUs as replicates), `rscales` to 1;
#' * `"JKn"`: `rscales` must be given (`(n_h - 1) / n_h` of the replicate's
#'   stratum), `scale` defaults to 1;
#' * `"BRR"`: `scale = 1 / R`; `"Fay"`: `scale = 1 / (R (1 - rho)^2)`,
#'   `rho` required (a `scale` given to these is ignored with a warning);
#' * `"bootstrap"`: `scale` defaults to `1 / (R - 1)`;
#' * `"successive-difference"` and `"ACS"`: `scale = 4 / R`; `"JK2"`:
#'   `scale = 1`; `"other"`: `scale` and `rscales` default to 1 (with a
#'   warning).
#'
#' The design keeps the replicate columns as given (`rep$mode =
#' "columns"`, `rep$W`); `rep$df` is survey's `degf()`: the rank of the
#' replicate weights minus 1. In [tab()] the degrees of freedom of a domain
#' are `degf()` of the domain as a subset (the rank of its rows' replicate
#' weights minus 1), as `svyciprop()` on `subset()` of the design uses them.
#'
#' @param data A data frame.
#' @param weights The full-sample weights: `NULL` (all 1), a numeric
#'   vector, or a column name or one-sided formula.
#' @param repweights The replicate weights: a one-sided formula or a
#'   character vector naming the columns, a single string that is a regular
#'   expression matching their names (as `svrepdesign()`), or a numeric
#'   matrix with one row per row of `data`. Finite, non-negative, no `NA`.
#' @param type The replicate method: `"JK1"`, `"JKn"`, `"BRR"`, `"Fay"`,
#'   `"bootstrap"`, `"successive-difference"`, `"ACS"`, `"JK2"` or
#'   `"other"`.
#' @param scale,rscales The overall and per-replicate factors of the
#'   variance (see Details); `rscales` has one value per replicate (or one
#'   for all).
#' @param mse `TRUE`: deviations from the full-sample estimate (survey's
#'   `mse`), `FALSE`: from the replicates' mean.
#' @param rho Fay's factor (`"Fay"` only).
#' @return An object of class `umfrage_repdesign`.
#' @seealso [as_repdesign()], [svy_design()], [tab()].
#' @examples
#' d <- data.frame(y = c("a", "b", "a", "b", "a", "a"), w = c(2, 2, 3, 3, 1, 1),
#'                 r1 = c(0, 0, 4.5, 4.5, 1.5, 1.5), r2 = c(3, 3, 0, 0, 1.5, 1.5),
#'                 r3 = c(3, 3, 4.5, 4.5, 0, 0))
#' rd <- svy_repdesign(d, weights = ~w, repweights = ~r1 + r2 + r3, type = "JK1",
#'                     scale = 2 / 3)
#' rd
#' tab(rd, "y")
#' @export
svy_repdesign <- function(data, weights = NULL, repweights, type = c("JK1", "JKn", "BRR", "Fay",
                          "bootstrap", "successive-difference", "ACS", "JK2", "other"),
                          scale = NULL, rscales = NULL,
                          mse = getOption("survey.replicates.mse", FALSE), rho = NULL) {
  check_data(data)
  if (missing(repweights)) stopf("'repweights' is missing: give the replicate weight columns")
  types <- c("JK1", "JKn", "BRR", "Fay", "bootstrap", "successive-difference", "ACS", "JK2", "other")
  type <- check_rep_type(type, types, "")
  mse <- check_mse(mse)
  n <- nrow(data)
  W <- rep_columns(repweights, data)
  R <- ncol(W)
  w <- get_weights(weights, data)
  if (!is.null(w)) weight_stats(w, "weights")
  if (!is.null(rscales)) {
    if (!is.numeric(rscales) || anyNA(rscales) || any(!is.finite(rscales)) || any(rscales < 0))
      stopf("'rscales' must be finite numbers >= 0")
    if (!length(rscales) %in% c(1L, R))
      stopf("'rscales' has length %d, but there are %d replicate weight columns: give one per replicate",
            length(rscales), R)
  }
  if (!is.null(scale) && (!is.numeric(scale) || length(scale) != 1L || !is.finite(scale) || scale < 0))
    stopf("'scale' must be a single finite number >= 0")
  if (!is.null(rho) && type != "Fay")
    warnf("'rho' is used by type = \"Fay\" only: ignored for type %s", q(type))
  if (type == "Fay") {
    if (is.null(rho)) stopf("type = \"Fay\" needs 'rho', Fay's factor")
    if (!is.numeric(rho) || length(rho) != 1L || !is.finite(rho) || rho < 0 || rho >= 1)
      stopf("'rho' must be a single number in [0, 1)")
  }
  if (type %in% c("BRR", "Fay") && !is.null(scale)) {
    warnf("type %s sets 'scale' itself (1 / (R (1 - rho)^2)): the 'scale' given is ignored", q(type))
    scale <- NULL
  }
  if (type %in% c("successive-difference", "ACS", "JK2") && (!is.null(scale) || !is.null(rscales))) {
    warnf("type %s sets 'scale' and 'rscales' itself: those given are ignored", q(type))
    scale <- rscales <- NULL
  }
  if (type == "BRR") scale <- 1 / R
  if (type == "Fay") scale <- 1 / (R * (1 - rho)^2)
  if (type == "bootstrap" && is.null(scale)) scale <- 1 / (R - 1)
  if (type == "JK1" && is.null(scale)) {
    warnf("type \"JK1\": 'scale' ((n - 1) / n) not given; taking n = the number of replicates, %d, as survey::svrepdesign() does", R)
    scale <- (R - 1) / R
  }
  if (type == "JKn" && is.null(rscales))
    stopf("type \"JKn\" needs 'rscales' ((n_h - 1) / n_h of each replicate's stratum), as survey::svrepdesign() does")
  if (type %in% c("successive-difference", "ACS")) scale <- 4 / R
  if (type == "JK2") scale <- 1
  if (type == "other" && (is.null(scale) || is.null(rscales)))
    warnf("type \"other\": %s not given, set to 1",
          paste(c(if (is.null(scale)) "'scale'", if (is.null(rscales)) "'rscales'"), collapse = " and "))
  if (is.null(scale)) scale <- 1
  rscales <- if (is.null(rscales)) rep(1, R) else rep_len(as.double(rscales), R)
  rep <- list(type = type, R = R, scale = as.double(scale), rscales = rscales, mse = mse,
              rho = if (type == "Fay") rho, mode = "columns", W = W)
  new_repdesign(data, w, rep)
}

#' Replicate weights from a survey design
#'
#' `as_repdesign()` makes replicate weights from an [svy_design()], as
#' `survey::as.svrepdesign()` does, and returns an [svy_repdesign()] whose
#' replicate weight of row i in replicate r is `base[i] * A[unit[i], r]`:
#' the design weight times the replicate factor of the row's PSU
#' (`rep$mode = "factor"`).
#'
#' The factors are survey's:
#' * `"JK1"` (unstratified designs): PSU u is left out of replicate u, the
#'   others get `n / (n - 1)`; `scale = (n - 1) / n`, times `(N - n) / N`
#'   with an fpc;
#' * `"JKn"` (stratified): one replicate per PSU, within its stratum,
#'   `rscales = (1 - f_h) (n_h - 1) / n_h`; a stratum sampled in full has no
#'   replicate; a lonely PSU follows the design's `lonely_psu` as
#'   `jknweights()` does;
#' * `"BRR"` and `"Fay"` (two PSUs per stratum; larger even strata are
#'   split into pairs): halves by the rows of a Hadamard matrix (survey's
#'   `hadamard()` where survey is installed, else Sylvester's), factor
#'   `2 - rho` and `rho`; `scale = 1 / (R (1 - rho)^2)`; an fpc is dropped
#'   with a warning;
#' * `"bootstrap"`: Canty and Davison's bootstrap of PSUs within strata, as
#'   `bootweights()` (with an fpc: `n_h` draws without replacement from
#'   `N_h / n_h` copies), `scale = m / ((m - 1) (R - 1))` with `m` the
#'   harmonic mean of the PSUs per stratum;
#' * `"subbootstrap"`: `n_h - 1` of `n_h` PSUs with replacement, times
#'   `n_h / (n_h - 1)`, `scale = 1 / (R - 1)`;
#' * `"auto"`: JK1 without strata, JKn with.
#'
#' Re-calibration: when the design's weights come from [wt_rake()],
#' [wt_poststrat()] or [wt_calibrate()] (they carry their calibration),
#' every replicate is calibrated again to the same targets from the
#' starting weights, as survey's `rake()`, `postStratify()` and
#' `calibrate()` do on an `svyrep.design`: the replicate weight is
#' `base[i] * A[unit[i], r] * F[g[i], r]`, with `base` the starting
#' weights, `g` the calibration cell (the joint level of the margins) of
#' row i and `F` the replicate's calibration factors, computed on cells
#' (per (cell, PSU) sums of the starting weights; 200 replicates of a 1e6-row
#' sample in well under a second). With numeric auxiliaries (linear
#' calibration without bounds) the factor is `1 + eta[g[i], r] + u_i' beta[, r]`.
#' Each replicate is iterated to convergence (survey stops raking when the
#' full sample has converged, which can leave a replicate with a nearly empty
#' cell slightly short of its margins). `recalibrate = FALSE` keeps the
#' calibrated weights as fixed starting weights of the replicates (as
#' `as.svrepdesign()` of a design with those weights).
#'
#' The bootstraps draw R's random numbers in the order survey draws them, so
#' that the same seed gives survey's replicates. A multistage design is
#' replicated by its PSUs; an fpc beyond the first stage is dropped with a
#' warning, as survey does.
#'
#' @param design An [svy_design()].
#' @param type `"auto"`, `"JK1"`, `"JKn"`, `"bootstrap"`, `"subbootstrap"`,
#'   `"BRR"` or `"Fay"`.
#' @param replicates The number of bootstrap replicates.
#' @param rho Fay's factor, in (0, 1) (`"Fay"` only).
#' @param mse `TRUE`: deviations from the full-sample estimate (survey's
#'   `mse`), `FALSE`: from the replicates' mean.
#' @param recalibrate `TRUE` (default): if the design's weights carry a
#'   calibration, calibrate every replicate again (see Details); `FALSE`:
#'   the calibrated weights are the replicates' fixed starting weights.
#' @return An object of class `umfrage_repdesign` (see [svy_repdesign()]).
#' @seealso [svy_repdesign()], [tab()].
#' @examples
#' d <- data.frame(y = c("a", "b", "a", "b", "a", "a"), w = c(2, 2, 3, 3, 1, 1),
#'                 g = c(1, 1, 2, 2, 3, 3))
#' rd <- as_repdesign(svy_design(d, cluster = ~g, weights = ~w))
#' rd
#' tab(rd, "y")
#' @export
as_repdesign <- function(design, type = c("auto", "JK1", "JKn", "bootstrap", "subbootstrap", "BRR", "Fay"),
                         replicates = 50, rho = 0.5, mse = getOption("survey.replicates.mse", FALSE),
                         recalibrate = TRUE) {
  if (!inherits(design, "umfrage_design"))
    stopf("'design' must be an svy_design(), not %s", obj_desc(design))
  if (!is.logical(recalibrate) || length(recalibrate) != 1L || is.na(recalibrate))
    stopf("'recalibrate' must be TRUE or FALSE")
  types <- c("auto", "JK1", "JKn", "bootstrap", "subbootstrap", "BRR", "Fay")
  type <- check_rep_type(type, types, " of as_repdesign()")
  mse <- check_mse(mse)
  has_strata <- !is.null(design$vars$strata)
  if (type == "auto") type <- if (has_strata) "JKn" else "JK1"
  if (type == "JK1" && has_strata) stopf("type \"JK1\" is for unstratified designs; use \"JKn\" (or \"bootstrap\") for a stratified one")
  if (type %in% c("JKn", "BRR", "Fay") && !has_strata)
    stopf("type %s needs a stratified design; use \"JK1\" or \"bootstrap\" for an unstratified one", q(type))
  if (type %in% c("bootstrap", "subbootstrap")) {
    if (!is.numeric(replicates) || length(replicates) != 1L || !is.finite(replicates) ||
        replicates < 2 || replicates != round(replicates))
      stopf("'replicates' must be a whole number >= 2, not %s", format(replicates))
    replicates <- as.integer(replicates)
  }
  if (type == "Fay" && (!is.numeric(rho) || length(rho) != 1L || !is.finite(rho) || rho <= 0 || rho >= 1))
    stopf("'rho' must be a single number in (0, 1) for type \"Fay\"")
  psu <- design$psu                      # 1..U in order of first appearance
  U <- length(design$psu_stratum)
  hl <- design$strata_levels
  ustrata <- hl[design$psu_stratum]      # stratum label of each PSU
  has_fpc <- !is.null(design$vars$fpc)
  if (has_fpc && length(design$vars$fpc) > 1L && type %in% c("JK1", "JKn", "bootstrap"))
    warning("Finite population corrections after first stage have been dropped", call. = FALSE)
  if (has_fpc && type %in% c("BRR", "Fay"))
    warning("Finite population correction dropped in conversion", call. = FALSE)
  pop_u <- if (has_fpc) design$pop_psu[design$psu_stratum] else NULL   # N_h per PSU
  res <- switch(type,
    JK1 = rep_jk1(U, if (has_fpc) unique(pop_u)),
    JKn = rep_jkn(ustrata, if (has_fpc) design$pop_psu[match(unique(ustrata), hl)], design$lonely_psu),
    bootstrap = rep_boot(ustrata, replicates, pop_u),
    subbootstrap = rep_subboot(ustrata, replicates),
    BRR = rep_brr(ustrata, 0),
    Fay = rep_brr(ustrata, rho))
  rep <- list(type = type, R = ncol(res$A), scale = as.double(res$scale),
              rscales = as.double(res$rscales), mse = mse, rho = if (type == "Fay") rho,
              mode = "factor", unit = as.integer(psu), A = res$A,
              base = if (is.null(design$weights)) rep(1, nrow(design$data)) else as.double(design$weights),
              g = NULL, F = NULL)
  # re-calibration (recal.R): every replicate raked / calibrated again from
  # the starting weights, on cells
  cal <- design$calibration
  if (recalibrate && !is.null(cal)) {
    n <- nrow(design$data)
    base <- if (is.null(cal$start)) rep(1, n) else as.double(cal$start)
    if (length(base) != n)
      stopf("the calibration stored on the weights no longer fits the design's rows (its starting weights have length %d, the data %d rows); use recalibrate = FALSE to keep the weights as fixed",
            length(base), n)
    rc <- tryCatch(rep_recalibrate(design$data, cal, rep$unit, rep$A, base, w = design$weights),
                   error = function(e)
                     stopf("as_repdesign(): the replicates cannot be calibrated again: %s (recalibrate = FALSE keeps the weights as fixed)",
                           conditionMessage(e)))
    rep$base <- base
    rep$g <- rc$g
    rep$F <- rc$F
    rep$lin <- rc$lin
    rep$recal <- rc$info
  }
  new_repdesign(design$data, design$weights, rep)
}

check_mse <- function(mse) {
  if (is.null(mse)) mse <- FALSE
  if (!is.logical(mse) || length(mse) != 1L || is.na(mse))
    stopf("'mse' must be TRUE or FALSE")
  mse
}

# The replicate weights as an n x R double matrix, checked (names kept).
rep_columns <- function(repweights, data) {
  n <- nrow(data)
  if (is.matrix(repweights) || (is.data.frame(repweights) && !is.character(repweights))) {
    W <- repweights
    if (NROW(W) != n) stopf("'repweights' has %d rows but 'data' has %d", NROW(W), n)
    nm <- colnames(W)
    if (is.null(nm)) nm <- paste0("replicate ", seq_len(NCOL(W)))
    cols <- lapply(seq_len(NCOL(W)), function(j) if (is.data.frame(W)) W[[j]] else W[, j])
  } else {
    if (inherits(repweights, "formula")) {
      if (length(repweights) != 2L) stopf("'repweights' as a formula must be one-sided, like ~rw1 + rw2")
      nm <- all.vars(repweights)
    } else if (is.character(repweights) && length(repweights) == 1L && !is.na(repweights)) {
      nm <- grep(repweights, names(data), value = TRUE)
      if (!length(nm)) stopf("'repweights' %s matches no column name of 'data'", q(repweights))
    } else if (is.character(repweights) && !anyNA(repweights)) {
      nm <- repweights
    } else stopf("'repweights' must be a formula, column names, a regular expression or a numeric matrix, not %s",
                 obj_desc(repweights))
    miss <- setdiff(nm, names(data))
    if (length(miss)) stopf("'repweights' names column(s) not in 'data': %s", qlist(miss))
    cols <- lapply(nm, function(v) data_col(data, v))
  }
  if (!length(cols)) stopf("'repweights' gives no replicate weight column")
  for (j in seq_along(cols)) {
    x <- cols[[j]]
    if (!is.numeric(x) || (is.object(x) && !is_labelled(x)))
      stopf("replicate weight column %s must be numeric, not %s", q(nm[j]), obj_desc(x))
    x <- as.double(unclass(x))
    if (anyNA(x))
      stopf("replicate weight column %s holds %d NA value(s) (first at row %d)", q(nm[j]),
            sum(is.na(x)), which(is.na(x))[1L])
    if (any(!is.finite(x)))
      stopf("replicate weight column %s holds infinite values (first at row %d)", q(nm[j]),
            which(!is.finite(x))[1L])
    if (any(x < 0))
      stopf("replicate weight column %s holds negative values (first at row %d: %s)", q(nm[j]),
            which(x < 0)[1L], format(x[which(x < 0)[1L]]))
    cols[[j]] <- x
  }
  W <- matrix(unlist(cols, use.names = FALSE), n, length(cols))
  colnames(W) <- nm
  W
}

new_repdesign <- function(data, w, rep) {
  des <- structure(list(data = data, weights = w, calibration = attr(w, "calibration"), rep = rep),
                   class = "umfrage_repdesign")
  if (rep_by_rows(rep)) {
    ru <- rep_setup(des, 1)
    des$rep$df <- as.integer(rep_rank_rows(ru, rep(1L, ru$n), matrix(1L, 1L, 1L)) - 1L)
    return(des)
  }
  ru <- rep_units(des)
  des$rep$df <- if (is.null(ru$extra)) rep_rank(ru, which(ru$present)) - 1L else {
    pos <- ru$base > 0
    S <- matrix(tabulate(ru$unit[pos], ru$U) > 0, 1L)   # any positive weight
    as.integer(rep_df(S, ru, matrix(tabulate(ru$unit[pos], ru$U), 1L),
                      lapply(ru$extra, function(e) matrix(vapply(split(e$base[pos] / ru$base[pos],
                        factor(ru$unit[pos], seq_len(ru$U))), function(v) if (length(v)) mean(v) else 0, 0), 1L)),
                      Sx_is_mean = TRUE))
  }
  des
}

#' @export
print.umfrage_repdesign <- function(x, ...) {
  r <- x$rep
  cat(sprintf("Replicate-weight design (%s): %d rows, %d replicates, df %d\n", r$type,
              nrow(x$data), r$R, r$df))
  cat(sprintf("  scale %s, rscales %s, mse %s%s\n", format(r$scale),
              if (length(unique(r$rscales)) == 1L) format(r$rscales[1L]) else
                paste0(format(range(r$rscales)), collapse = " to "),
              r$mse, if (!is.null(r$rho)) sprintf(", rho %s", format(r$rho)) else ""))
  cat(sprintf("  %s; %s\n", if (is.null(x$weights)) "unweighted" else "weighted",
              if (r$mode == "factor") sprintf("replicate factors of %d units", nrow(r$A)) else
                "replicate weight columns"))
  invisible(x)
}

# The replicate weights of a design as an n x R matrix (for tests and
# exports; factor mode: base * A[unit, ] * F[g, ]).
rep_weights <- function(des) {
  r <- des$rep
  if (r$mode == "columns") return(r$W)
  W <- r$base * r$A[r$unit, , drop = FALSE]
  if (!is.null(r$F)) W <- W * r$F[r$g, , drop = FALSE]
  if (!is.null(r$lin)) W <- W * (1 + r$lin$eta[r$g, , drop = FALSE] + r$lin$u %*% r$lin$beta)
  W
}

# ---- replicate factors per PSU, as survey's *weights() functions -------------------

# JK1 (jk1weights()): PSU u is left out of replicate u, the others get
# n / (n - 1); scale (n - 1) / n, times (N - n) / N with an fpc.
rep_jk1 <- function(U, pop = NULL) {
  if (U < 2) stopf("type \"JK1\" needs at least 2 PSUs, the design has %d", U)
  f <- 1
  if (!is.null(pop)) {
    if (length(pop) > 1L) stopf("type \"JK1\": the design's fpc takes more than one value")
    f <- if (is.finite(pop)) (pop - U) / pop else 1
  }
  if (f == 0) stopf("type \"JK1\": the whole population is sampled (fpc): no variance to replicate")
  A <- matrix(U / (U - 1), U, U)
  diag(A) <- 0
  list(A = A, scale = f * (U - 1) / U, rscales = rep(1, U))
}

# JKn (jknweights()): per stratum (in order of first appearance) one
# replicate per PSU, rscales (1 - f_h) (n_h - 1) / n_h; a census stratum
# (f_h = 0) has none; lonely PSUs by the rule.
rep_jkn <- function(ustrata, pop = NULL, lonely = "fail") {
  sunq <- unique(ustrata)
  U <- length(ustrata)
  H <- length(sunq)
  A <- matrix(1, U, U)
  rscales <- numeric(U)
  counter <- 0L
  for (k in seq_along(sunq)) {
    ss <- sunq[k]
    these <- which(ustrata == ss)
    nh <- length(these)
    f <- if (is.null(pop) || !is.finite(pop[k])) 1 else (pop[k] - nh) / pop[k]
    if (f == 0) next                     # survey.drop.replicates: no replicate
    if (nh == 1L) {
      if (lonely == "fail")
        stopf("stratum %s has only one PSU; choose lonely_psu = \"certainty\", \"remove\", \"adjust\" or \"average\" in svy_design()", q(ss))
      if (lonely %in% c("remove", "certainty", "average")) next
      # adjust: one replicate that drops the stratum, the others scaled
      counter <- counter + 1L
      A[, counter] <- ifelse(ustrata %in% ss, 0, H / (H - 1))
      rscales[counter] <- (H - 1) / H
      next
    }
    cols <- counter + seq_len(nh)
    blk <- matrix(nh / (nh - 1), nh, nh)
    diag(blk) <- 0
    A[these, cols] <- blk
    rscales[cols] <- f * (nh - 1) / nh
    counter <- counter + nh
  }
  if (counter == 0L) stopf("every stratum is sampled in full: the whole population, no variance to replicate")
  scale <- 1
  if (counter < U) {
    A <- A[, seq_len(counter), drop = FALSE]
    rscales <- rscales[seq_len(counter)]
    if (lonely == "average") scale <- U / counter
  }
  list(A = A, scale = scale, rscales = rscales)
}

# Bootstrap (bootweights() / bootstratum()): per stratum, the PSUs drawn
# with replacement (or, with a population size N_h, n_h of N_h / n_h copies
# without replacement), the same calls to sample() as survey.
rep_boot <- function(ustrata, replicates, pop_u = NULL) {
  U <- length(ustrata)
  upsu <- seq_len(U)
  A <- matrix(NA_real_, U, replicates)
  for (s in unique(ustrata)) {
    this <- ustrata == s
    ps <- upsu[this]
    npsu <- length(ps)
    popsize <- NULL
    if (!is.null(pop_u)) {
      popsize <- pop_u[this][1L]
      if (!is.finite(popsize)) popsize <- NULL
      else if (popsize > 100 * npsu)
        warning("Sampling fraction <1% in stratum", s, " treated as zero.", call. = FALSE)
    }
    A[this, ] <- boot_stratum(ps, popsize, replicates)
  }
  pps <- 1 / mean(1 / table(ustrata))
  list(A = A, scale = pps / ((pps - 1) * (replicates - 1)), rscales = rep(1, replicates))
}

boot_stratum <- function(psu, popsize, replicates) {
  # survey's draws (the same calls to sample()), counted per PSU by
  # tabulate() rather than table(factor()): the same counts, faster
  lev <- unique(psu)
  up <- sample(lev)
  k <- length(lev)
  pool <- if (!is.null(popsize)) rep(up, length = popsize)
  A <- matrix(0, k, replicates)
  for (r in seq_len(replicates)) {
    s <- if (is.null(popsize)) sample(up, length(up), replace = TRUE) else sample(pool, length(up))
    A[, r] <- tabulate(match(s, lev), k)
  }
  A
}

# Subsample bootstrap (subbootweights()): n_h - 1 of n_h PSUs with
# replacement, times n_h / (n_h - 1); scale 1 / (R - 1).
rep_subboot <- function(ustrata, replicates) {
  U <- length(ustrata)
  upsu <- seq_len(U)
  A <- matrix(NA_real_, U, replicates)
  for (s in unique(ustrata)) {
    this <- ustrata == s
    ps <- upsu[this]
    up <- sample(unique(ps))
    n <- length(up)
    if (n < 2) stopf("type \"subbootstrap\" needs at least 2 PSUs per stratum; stratum %s has 1", q(s))
    A[this, ] <- replicate(replicates, table(factor(sample(up, n - 1, replace = TRUE),
                                                     levels = unique(ps)))) * n / (n - 1)
  }
  list(A = A, scale = 1 / (replicates - 1), rscales = rep(1, replicates))
}

# BRR and Fay (brrweights(), small = "fail", large = "split"): PSUs paired
# within strata (strata sorted by label, PSUs in order of appearance), the
# pairs' halves by the rows of a Hadamard matrix; a PSU's factor is 2 - rho
# in its half's replicates, rho in the others.
rep_brr <- function(ustrata, rho = 0) {
  strata <- as.character(ustrata)
  U <- length(strata)
  ssize <- table(strata)
  if (any(ssize < 2))
    stopf("type %s needs at least 2 PSUs per stratum; stratum %s has 1",
          if (rho == 0) "\"BRR\"" else "\"Fay\"", q(names(ssize)[ssize < 2][1L]))
  sunq <- strata
  weights <- matrix(ncol = 2, nrow = U)
  weightstrata <- numeric(U)
  oo <- order(sunq, seq_len(U))
  upto <- 0
  if (any(ssize > 2)) {
    largestrata <- names(ssize)[ssize > 2]
    if (any(ssize[largestrata] %% 2 == 1))
      stopf("type %s pairs the PSUs of a stratum: stratum %s has an odd number (%d) of PSUs",
            if (rho == 0) "\"BRR\"" else "\"Fay\"",
            q(largestrata[ssize[largestrata] %% 2 == 1][1L]),
            as.integer(ssize[largestrata][ssize[largestrata] %% 2 == 1][1L]))
    for (ss in largestrata) {
      weights[oo, ][sunq[oo] %in% ss, 1] <- rep(0:1, length.out = ssize[ss])
      weights[oo, ][sunq[oo] %in% ss, 2] <- rep(1:0, length.out = ssize[ss])
      weightstrata[oo][sunq[oo] %in% ss] <- upto + rep(1:(ssize[ss] %/% 2), each = 2)
      upto <- upto + (ssize[ss] %/% 2)
    }
  }
  if (any(ssize == 2)) {
    goodstrata <- names(ssize)[ssize == 2]
    weights[oo, ][sunq[oo] %in% goodstrata, 1] <- rep(0:1, length(goodstrata))
    weights[oo, ][sunq[oo] %in% goodstrata, 2] <- rep(1:0, length(goodstrata))
    weightstrata[oo][sunq[oo] %in% goodstrata] <- upto + rep(1:length(goodstrata), each = 2)
    upto <- upto + length(goodstrata)
  }
  H <- brr_hadamard(upto)
  ii <- 1:upto
  jj <- seq_len(U)
  A <- vapply(seq_len(NCOL(H)), function(i) {
    h <- H[1 + ii, i] + 1
    col <- h[match(weightstrata, ii)]
    wa <- weights[cbind(jj, col)]
    wb <- weights[cbind(jj, 3 - col)]
    wa * (2 - rho) + wb * rho
  }, numeric(U))
  A <- matrix(A, U)
  list(A = A, scale = 1 / (ncol(A) * (1 - rho)^2), rscales = rep(1, ncol(A)))
}

# A 0/1 Hadamard matrix with more than n rows: survey's hadamard() where
# survey is installed (its precomputed matrices), else Sylvester's.
brr_hadamard <- function(n) {
  if (requireNamespace("survey", quietly = TRUE))
    return(utils::getFromNamespace("hadamard", "survey")(n))
  H <- matrix(1, 1, 1)
  while (nrow(H) < n + 1) H <- rbind(cbind(H, H), cbind(H, -H))
  (H < 0) * 1
}

# ---- the representation as tab() reads it ------------------------------------------

# Per row: starting weight b, unit u (1..U); P (U x R): replicate weight of
# row i = b_i P[u_i, ]; present: units with a row of positive b.
rep_units <- function(des) {
  r <- des$rep
  n <- nrow(des$data)
  extra <- NULL
  if (r$mode == "factor") {
    if (is.null(r$F) && is.null(r$lin)) {
      P <- r$A
      unit <- r$unit
    } else {
      U <- nrow(r$A)
      key <- r$unit + U * (r$g - 1)
      uk <- unique(key)
      unit <- match(key, uk)
      uu <- (uk - 1L) %% U + 1L
      gg <- (uk - 1L) %/% U + 1L
      if (!is.null(r$F)) P <- r$A[uu, , drop = FALSE] * r$F[gg, , drop = FALSE]
      else {
        # linear calibration on numeric auxiliaries: the replicate weight
        # b_i A[u, r] (1 + eta[g, r] + u_i' beta[, r]) of a (unit, cell)
        # pair is a channel of weights b with factors A (1 + eta') plus one
        # per auxiliary, weights b u'_k >= 0 (u' = u - min u: the passes take
        # weights >= 0; eta' = eta + min(u)' beta) with factors A beta_k
        L <- r$lin
        lo <- apply(L$u, 2L, min)
        eta <- L$eta + rep(as.vector(crossprod(lo, L$beta)), each = nrow(L$eta))
        Au <- r$A[uu, , drop = FALSE]
        P <- Au * (1 + eta[gg, , drop = FALSE])
        extra <- lapply(seq_len(ncol(L$u)), function(k)
          list(base = r$base * (L$u[, k] - lo[k]), P = Au * rep(L$beta[k, ], each = nrow(Au))))
      }
    }
    base <- r$base
  } else {
    w <- if (is.null(des$weights)) rep(1, n) else as.double(des$weights)
    pu <- .Call(C_rep_units, r$W, w)
    unit <- pu$unit
    base <- pu$base
    P <- r$W[pu$first, , drop = FALSE] / base[pu$first]
  }
  present <- tabulate(unit[base > 0], nrow(P)) > 0
  list(unit = as.integer(unit), base = as.double(base), P = P, U = nrow(P), present = present,
       extra = extra, desc = list(0L, nrow(P), list(as.integer(unit)), 0L, 0L))
}

# Replicate totals (k x R) from per-unit sums: S (k x U) of the starting
# weights times P, plus each extra channel's sums times its factors.
rep_totals <- function(S, ru, Sx = NULL) {
  if (isTRUE(ru$rows)) return(rep_totals_rows(S, ru))
  T <- S %*% ru$P
  for (k in seq_along(ru$extra)) T <- T + Sx[[k]] %*% ru$extra[[k]]$P
  T
}

# Rank of the replicate weights of rows in the units `idx` (survey's
# degf(): qr(, tol = 1e-5)): the rows `idx` of P. With numeric auxiliaries
# (extra channels k) a unit's rows have the factors P + sum_k u'_ik P_k:
# for each unit the factors at the domain's mean u' there (`ubar`, one
# column per channel, rows as idx), and the channels' rows P_k of the units
# `idx2`, those with more than one row in the domain, whose rows' factors
# then span them too (exact where each unit has one row, or one auxiliary
# whose values differ within its rows).
rep_rank <- function(ru, idx, idx2 = integer(), ubar = NULL) {
  if (!length(idx)) return(0L)
  M <- ru$P[idx, , drop = FALSE]
  for (k in seq_along(ru$extra)) M <- M + ubar[, k] * ru$extra[[k]]$P[idx, , drop = FALSE]
  idx2 <- intersect(idx2, idx)
  if (length(ru$extra) && length(idx2))
    M <- rbind(M, do.call(rbind, lapply(ru$extra, function(e) e$P[idx2, , drop = FALSE])))
  # many units (a re-calibration's (unit, cell) pairs): the rank is at most
  # R, so where the first 3R rows already have rank R that is the answer
  R <- ncol(M)
  if (nrow(M) > 3L * R) {
    r0 <- qr(M[seq_len(3L * R), , drop = FALSE], tol = 1e-5)$rank
    if (r0 == R) return(r0)
  }
  qr(M, tol = 1e-5)$rank
}

# ---- svrVar ----------------------------------------------------------------------------

# survey's svrVar() per row of theta (k x R; NA replicates left out, per
# row): scale * sum rscales (theta - centre)^2, centre = the mean of the
# replicates with rscales > 0 (or `full` with mse).
rep_var <- function(theta, full, rp) {
  theta <- as.matrix(theta)
  ok <- !is.na(theta)
  th <- theta
  th[!ok] <- 0
  rs <- rp$rscales
  if (any(!ok)) note_once("rep_na", "some replicates give no estimate for a domain (no weight in it); they are left out of its variance, as survey's svrVar() does")
  centre <- if (rp$mse) full else {
    pos <- ok & matrix(rs > 0, nrow(th), ncol(th), byrow = TRUE)
    rowSums(th * pos) / rowSums(pos)
  }
  d <- th - centre
  d[!ok] <- 0
  v <- rp$scale * as.vector(d^2 %*% rs)
  v[rowSums(ok) == 0] <- NA_real_
  v[is.na(full)] <- NA_real_
  v
}

# The replicate covariance (k x k) of the rows of theta, replicates with an
# NA in any row left out (svrVar() on a matrix).
rep_cov <- function(theta, full, rp) {
  keep <- colSums(is.na(theta)) == 0
  th <- theta[, keep, drop = FALSE]
  rs <- rp$rscales[keep]
  centre <- if (rp$mse) full else rowMeans(th[, rs > 0, drop = FALSE])
  d <- (th - centre) * rep(sqrt(rs), each = nrow(th))
  rp$scale * tcrossprod(d)
}

# ---- tab() on a replicate design -------------------------------------------------------

# Once per tab(): the representation on tab()'s weight scale f.
rep_setup <- function(des, f) {
  if (rep_by_rows(des$rep)) return(rep_setup_rows(des, f))
  rep_setup_units(des, f)
}

# The representation by units (rep_units()) on the weight scale f, with the
# design's replicate settings and an empty cache of domain ranks.
rep_setup_units <- function(des, f) {
  ru <- rep_units(des)
  if (f != 1) {
    ru$base <- ru$base * f
    for (k in seq_along(ru$extra)) ru$extra[[k]]$base <- ru$extra[[k]]$base * f
  }
  ru$rp <- des$rep
  ru$rank_cache <- new.env(parent = emptyenv())
  ru
}

# df of domains from their per-unit sums of b (rows: domains, columns:
# units): rank of the units with weight minus 1, cached by the unit set.
# Numeric auxiliaries (see rep_rank()): cnt, the domains' rows per unit,
# and Sx, per channel the sums of its weights (as S), or with Sx_is_mean
# the mean u' already; not cached.
rep_df <- function(S, ru, cnt = NULL, Sx = NULL, Sx_is_mean = FALSE) {
  S <- matrix(S, ncol = ru$U)
  if (isTRUE(ru$rows)) return(rep_df_rows(S, ru))
  lin <- length(ru$extra) > 0L
  if (lin) cnt <- matrix(cnt, ncol = ru$U)
  vapply(seq_len(nrow(S)), function(i) {
    idx <- which(S[i, ] > 0)
    if (lin) {
      ubar <- vapply(Sx, function(x) {
        x <- matrix(x, ncol = ru$U)[i, idx]
        if (Sx_is_mean) x else x / S[i, idx]
      }, numeric(length(idx)))
      return(as.double(rep_rank(ru, idx, which(S[i, ] > 0 & cnt[i, ] > 1),
                                matrix(ubar, length(idx))) - 1L))
    }
    # cached by the unit set: a short key, the set itself checked
    key <- sprintf("%d:%.17g:%.17g", length(idx), sum(as.double(idx)), sum(as.double(idx)^2))
    hit <- ru$rank_cache[[key]]
    r <- if (!is.null(hit) && identical(hit$idx, idx)) hit$r else NULL
    if (is.null(r)) {
      r <- rep_rank(ru, idx)
      assign(key, list(idx = idx, r = r), envir = ru$rank_cache)
    }
    as.double(r - 1L)
  }, 0)
}

# Rows and df of each layer for the Rao-Scott test (svychisq() on the
# layer's subset: all its rows; its degf()).
rep_layer_design <- function(bvars, ru, nrows, test) {
  nb <- prod(vapply(bvars, function(v) as.double(v$desc[[2L]]), 0))
  if (!test) return(list(rep(NA_real_, nb), rep(NA_real_, nb)))
  const <- list(3L, 1L, list(), 0L, 0L)
  if (isTRUE(ru$rows)) ru <- rep_block_units(ru, lapply(bvars, `[[`, "desc"))
  res <- .Call(C_tab, const, list(const), c(lapply(bvars, `[[`, "desc"), list(ru$desc)), ru$base)
  cells <- res$cols[[1L]]$cells
  rows <- rowSums(matrix(cells[, 1L], nb, ru$U))
  Sx <- lapply(ru$extra, function(e)
    .Call(C_tab, const, list(const), c(lapply(bvars, `[[`, "desc"), list(ru$desc)), e$base)$cols[[1L]]$cells[, 2L])
  list(as.double(rows), rep_df(matrix(cells[, 2L], nb, ru$U), ru, cells[, 1L], Sx))
}

# The cells and inference of a categorical row variable on a replicate
# design: a full-sample pass (weights w; the cells as tab_block() returns
# them) and a pass per unit with the starting weights, whose sums times P
# are the entries' replicate totals.
rep_block <- function(rv, cvars, bvars, total_var, w, des, opt, ru) {
  ncv <- length(cvars)
  bdesc <- lapply(bvars, `[[`, "desc")
  cdesc <- c(lapply(cvars, `[[`, "desc"), list(total_var$desc))
  all_cvars <- c(list(total_var), cvars)
  nr <- rv$desc[[2L]]
  res <- .Call(C_tab, rv$desc, cdesc, bdesc, w)
  cols <- c(res$cols[ncv + 1L], res$cols[seq_len(ncv)])
  skipped <- new_df(list(row_var = rv$name, by_na = res$skipped[1L], row_na = res$skipped[2L],
                         col_na = sum(res$skipped[2L + seq_len(ncv)])))
  out <- list(rv = rv, cvars = all_cvars, bvars = bvars, cols = cols, inf = NULL, skipped = skipped)
  if (!opt$se) return(out)
  if (isTRUE(ru$rows)) ru <- rep_block_units(ru, c(list(rv$desc), cdesc, bdesc), list(ru$base))
  udesc <- c(bdesc, list(ru$desc))
  rres <- .Call(C_tab, rv$desc, cdesc, udesc, ru$base)
  raw <- c(rres$cols[ncv + 1L], rres$cols[seq_len(ncv)])
  # numeric auxiliaries: one pass per extra channel (rep_units())
  xraw <- lapply(ru$extra, function(e) {
    xr <- .Call(C_tab, rv$desc, cdesc, udesc, e$base)
    c(xr$cols[ncv + 1L], xr$cols[seq_len(ncv)])
  })
  pos <- if (isTRUE(opt$wzero)) {
    pr <- .Call(C_tab, rv$desc, cdesc, bdesc, as.double(w > 0))
    c(pr$cols[ncv + 1L], pr$cols[seq_len(ncv)])
  }
  nb <- prod(vapply(bvars, function(v) v$desc[[2L]], 1L))
  out$inf <- lapply(seq_along(all_cvars), function(j) {
    cv <- all_cvars[[j]]
    nc <- cv$desc[[2L]]
    single <- rv$kind == "single" && cv$kind %in% c("single", "total")
    test_j <- if (single && opt$test != "none") block_test(match(opt$test, c("none", "F", "Chisq")) - 1L, nr, nc) else 0L
    parts <- lapply(seq_len(nb), function(b) {
      full <- z_totals(cols[[j]], nr, nc, nb, 1L, b, 2L)[, 1L]
      nrows <- z_totals(cols[[j]], nr, nc, nb, 1L, b, 1L)[, 1L]
      npos <- if (is.null(pos)) nrows else z_totals(pos[[j]], nr, nc, nb, 1L, b, 2L)[, 1L]
      S <- z_totals(raw[[j]], nr, nc, nb, ru$U, b, 2L)
      attr(S, "cnt") <- if (length(ru$extra) || isTRUE(ru$rows)) z_totals(raw[[j]], nr, nc, nb, ru$U, b, 1L)
      attr(S, "x") <- lapply(xraw, function(xr) z_totals(xr[[j]], nr, nc, nb, ru$U, b, 2L))
      rep_block_layer(full, nrows, npos, S, nr, nc, ru, opt, test_j,
                      opt$layer_rows[b], opt$layer_nu[b])
    })
    f <- c("se_n_w", "se", "ci_low", "ci_high", "deff", "df", "letters", "statistic", "ndf", "ddf", "p_value")
    stats::setNames(lapply(f, function(k) unlist(lapply(parts, `[[`, k), use.names = FALSE)), f)
  })
  out
}

# Inference of one block-layer. full: the Kp entries' full-sample totals;
# nrows, npos: their rows, and rows of positive weight; S: Kp x U sums of b.
rep_block_layer <- function(full, nrows, npos, S, nr, nc, ru, opt, test, lay_rows, lay_nu) {
  K <- nr * nc
  Kp <- K + nc + nr + 1L
  rp <- ru$rp
  Trep <- rep_totals(S, ru, attr(S, "x"))             # Kp x R replicate totals
  t <- seq_len(K)
  rr <- (t - 1L) %% nr + 1L
  cc <- (t - 1L) %/% nr + 1L
  base <- switch(opt$percent, row = K + nc + rr, total = rep(Kp, K), K + cc)
  # df: only the bases' are used (a rank per domain)
  ub <- sort(unique(base))
  dfe <- rep(NA_real_, Kp)
  dfe[ub] <- rep_df(S[ub, , drop = FALSE], ru, if (!is.null(attr(S, "cnt"))) attr(S, "cnt")[ub, , drop = FALSE],
                    lapply(attr(S, "x"), function(x) x[ub, , drop = FALSE]))
  X <- full[base]
  p <- ifelse(X > 0, full[t] / X, NA_real_)
  prep <- Trep[t, , drop = FALSE] / Trep[base, , drop = FALSE]
  prep[!is.finite(prep)] <- NA_real_
  vp <- rep_var(prep, p, rp)
  vp[!(X > 0)] <- NA_real_
  se_n_w <- sqrt(pmax(rep_var(Trep[t, , drop = FALSE], full[t], rp), 0))
  df <- dfe[base]
  # design effect (as var.c's cell_deff())
  nobs <- npos[base]
  pq <- p * (1 - p)
  vsrs <- rep(NA_real_, K)
  okd <- !is.na(p) & p > 0 & p < 1 & nobs > 0
  if (opt$deff == "binomial") vsrs[okd] <- pq[okd] / nobs[okd] else {
    okd <- okd & nobs > 1
    vsrs[okd] <- pq[okd] / (nobs[okd] - 1)
    if (opt$deff == "survey") {
      popn <- X / opt$wscale
      vsrs <- ifelse(popn > nobs, vsrs * (1 - nobs / popn), NA_real_)
    }
  }
  deff <- ifelse(is.na(vsrs), NA_real_, vp / vsrs)
  ci <- rep_prop_ci(p, vp, df, nrows[base], prep, opt, rp)
  letters <- rep("", K)
  if (isTRUE(opt$letters) && opt$percent == "col" && nc > 1L)
    letters <- rep_letters(p, prep, vp, dfe[base], nrows[base], nr, nc, rp, opt)
  tst <- rep(NA_real_, 4L)
  if (test > 0L && nc > 1L) tst <- rep_rao_scott(full[t], nrows[t], Trep[t, , drop = FALSE], nr, nc,
                                                 lay_rows, lay_nu, test, rp)
  list(se_n_w = se_n_w, se = ifelse(is.na(vp), NA_real_, 100 * sqrt(pmax(vp, 0))),
       ci_low = ci$lo * 100, ci_high = ci$hi * 100, deff = deff, df = df, letters = letters,
       statistic = rep(tst[1L], K), ndf = rep(tst[2L], K), ddf = rep(tst[3L], K),
       p_value = rep(tst[4L], K))
}

# Confidence intervals of proportions p (variance v, df, domain rows nn) as
# svyciprop() on an svyrep.design: "logit" from the replicates' logits
# (svyglm() fits each replicate), the others from v as var.c's prop_ci().
rep_prop_ci <- function(p, v, df, nn, prep, opt, rp) {
  K <- length(p)
  lo <- hi <- rep(NA_real_, K)
  if (opt$ci == "none") return(list(lo = lo, hi = hi))
  alpha <- 1 - opt$level
  df <- ifelse(is.na(df) | df < 1, Inf, df)
  ok <- !is.na(p) & !is.na(v)
  exact <- ok & (p <= 0 | p >= 1 | v <= 0)
  n1 <- pmax(nn, 1)
  lo[exact] <- ifelse(p[exact] <= 0, 0, stats::qbeta(alpha / 2, p[exact] * n1[exact], (1 - p[exact]) * n1[exact] + 1))
  hi[exact] <- ifelse(p[exact] >= 1, 1, stats::qbeta(1 - alpha / 2, p[exact] * n1[exact] + 1, (1 - p[exact]) * n1[exact]))
  k <- ok & !exact
  if (!any(k)) return(list(lo = lo, hi = hi))
  pk <- p[k]
  vk <- v[k]
  tq <- stats::qt(1 - alpha / 2, df[k])
  if (opt$ci == "logit") {
    lg <- log(prep[k, , drop = FALSE] / (1 - prep[k, , drop = FALSE]))
    l <- log(pk / (1 - pk))
    sel <- rep_var_rows(lg, l, rp)
    lo[k] <- stats::plogis(l - tq * sel)
    hi[k] <- stats::plogis(l + tq * sel)
  } else if (opt$ci == "wald") {
    lo[k] <- pmax(pk - tq * sqrt(vk), 0)
    hi[k] <- pmin(pk + tq * sqrt(vk), 1)
  } else if (opt$ci == "wilson") {
    ne <- pk * (1 - pk) / vk
    z <- stats::qnorm(1 - alpha / 2)
    z2 <- z * z
    ctr <- (pk + z2 / (2 * ne)) / (1 + z2 / ne)
    half <- z / (1 + z2 / ne) * sqrt(pk * (1 - pk) / ne + z2 / (4 * ne * ne))
    lo[k] <- ctr - half
    hi[k] <- ctr + half
  } else {
    ne <- pk * (1 - pk) / vk
    r <- stats::qt(alpha / 2, nn[k] - 1) / stats::qt(alpha / 2, df[k])
    ne <- ne * r * r
    lo[k] <- stats::qbeta(alpha / 2, ne * pk, ne * (1 - pk) + 1)
    hi[k] <- stats::qbeta(1 - alpha / 2, ne * pk + 1, ne * (1 - pk))
  }
  list(lo = lo, hi = hi)
}

# SEs of rows of replicate estimates (infinite ones -- a replicate without
# any row of the level -- give an infinite SE).
rep_var_rows <- function(theta, full, rp) {
  inf <- rowSums(is.infinite(theta)) > 0
  theta[is.infinite(theta)] <- NA_real_
  s <- sqrt(pmax(rep_var(theta, full, rp), 0))
  s[inf] <- Inf
  s
}

# Column-proportion letters (rules of var.c's pair_test()): z tests of the
# replicate variance of each pair's difference, adjusted per row.
rep_letters <- function(p, prep, vp, df, nrows, nr, nc, rp, opt) {
  K <- nr * nc
  lab <- col_letters(nc)
  sep <- if (any(nchar(lab) > 1L)) "," else ""
  flag <- matrix(FALSE, K, nc)
  pr <- utils::combn(nc, 2L)
  mb <- if (is.null(opt$min_base)) 0 else opt$min_base
  for (r in seq_len(nr)) {
    i <- r + nr * (pr[1L, ] - 1L)
    j <- r + nr * (pr[2L, ] - 1L)
    d <- p[i] - p[j]
    ok <- !is.na(p[i]) & !is.na(p[j]) & df[i] >= 1 & df[j] >= 1 & nrows[i] >= mb & nrows[j] >= mb
    pv <- rep(NA_real_, length(i))
    if (any(ok)) {
      dr <- prep[i[ok], , drop = FALSE] - prep[j[ok], , drop = FALSE]
      v <- rep_var(dr, d[ok], rp)
      good <- is.finite(v) & v > 1e-24 * (1 + vp[i[ok]] + vp[j[ok]]) & is.finite(d[ok])
      pv[which(ok)[good]] <- 2 * stats::pnorm(-abs(d[ok][good]) / sqrt(v[good]))
    }
    okp <- !is.na(pv)
    if (any(okp) && opt$adjust != "none") pv[okp] <- stats::p.adjust(pv[okp], opt$adjust)
    for (s in which(okp & pv < opt$alpha)) {
      if (d[s] > 0) flag[i[s], pr[2L, s]] <- TRUE else flag[j[s], pr[1L, s]] <- TRUE
    }
  }
  vapply(seq_len(K), function(t) paste(lab[flag[t, ]], collapse = sep), "")
}

# Rao-Scott test as svychisq() on an svyrep.design: the replicate
# covariance of the joint proportions, Delta, Pearson's X2 on the table
# scaled to the layer's rows N.
rep_rao_scott <- function(wc, nc_rows, Trep, nr, nc, N, nu, test, rp) {
  out <- rep(NA_real_, 4L)
  nm <- matrix(nc_rows, nr, nc)
  kr <- which(rowSums(nm) > 0)
  kc <- which(colSums(nm) > 0)
  nr2 <- length(kr)
  nc2 <- length(kc)
  if (nr2 < 2L || nc2 < 2L) return(out)
  idx <- as.vector(outer(kr, nr * (kc - 1L), `+`))
  X <- sum(wc[idx])
  if (!(X > 0)) return(out)
  mean2 <- wc[idx] / X
  qrep <- Trep[idx, , drop = FALSE] / rep(colSums(Trep[idx, , drop = FALSE]), each = length(idx))
  V <- rep_cov(qrep, mean2, rp)
  mf1 <- expand.grid(rows = seq_len(nr2), cols = seq_len(nc2))
  X1 <- stats::model.matrix(~ factor(rows) + factor(cols), mf1)
  X12 <- stats::model.matrix(~ factor(rows) * factor(cols), mf1)
  Cmat <- qr.resid(qr(X1), X12[, -(1:(nr2 + nc2 - 1)), drop = FALSE])
  iD <- diag(ifelse(mean2 == 0, 0, 1 / mean2), length(mean2))
  denom <- crossprod(Cmat, (iD / N) %*% Cmat)
  numr <- crossprod(Cmat, iD %*% V %*% iD %*% Cmat)
  Delta <- tryCatch(solve(denom, numr), error = function(e) NULL)
  if (is.null(Delta)) return(out)
  tr <- sum(diag(Delta))
  tr2 <- sum(diag(Delta %*% Delta))
  O <- matrix(wc[idx] * N / X, nr2, nc2)
  E <- outer(rowSums(O), colSums(O)) / N
  X2 <- sum((O - E)^2 / E)
  m <- (nr2 - 1) * (nc2 - 1)
  if (test == 1L) {
    d0 <- tr^2 / tr2
    Fs <- X2 / tr
    out <- c(Fs, d0, d0 * nu, stats::pf(Fs, d0, d0 * nu, lower.tail = FALSE))
  } else {
    out <- c(X2, m, NA_real_, stats::pchisq(X2 / (tr / m), m, lower.tail = FALSE))
  }
  out
}

# ---- numeric rows on a replicate design ------------------------------------------------

# mean_of() & co.: C_num_pass with w (the cells) and with b per unit
# (replicate sums U_r, V_r = sums times P); estimates per replicate.
rep_num_block <- function(rv, cvars, bvars, total_var, w, des, opt, ru) {
  # quantiles: numeric.R's quant_block() with the replicate SE of the
  # domain CDF and degf() from rep_quant_se_fun(); the engine needs no
  # design units (a design of rows without strata)
  if (identical(rv$stat, "quantile"))
    return(quant_block(rv, cvars, bvars, total_var, w,
                       list(clustered = FALSE, strata_levels = "1", ms = NULL), opt))
  all_cvars <- c(list(total_var), cvars)
  cdesc <- lapply(all_cvars, `[[`, "desc")
  bcodes <- lapply(bvars, function(v) v$desc[[3L]][[1L]])
  blev <- vapply(bvars, function(v) as.integer(v$desc[[2L]]), 1L)
  bna <- vapply(bvars, function(v) as.integer(v$desc[[4L]]), 1L)
  nb <- as.integer(prod(blev))
  shift <- if (rv$stat %in% c("mean", "score")) NA_real_ else 0
  res <- .Call(C_num_pass, rv$y, rv$x, cdesc, bcodes, as.integer(blev), as.integer(bna),
               w, shift, NULL, NULL)
  if (isTRUE(ru$rows) && opt$se) {
    # profiles: the columns' and layers' codes and whether the row is used
    yna <- is.na(rv$y)
    if (!is.null(rv$x)) yna <- yna | is.na(rv$x)
    uu <- ifelse(yna, 0, ru$base * (as.double(rv$y) - res$shift))
    vv <- ifelse(yna, 0, if (is.null(rv$x)) ru$base else ru$base * as.double(rv$x))
    ru <- rep_block_units(ru, c(cdesc, lapply(bcodes, function(b) list(0L, 0L, list(b)))),
                          list(uu, vv), extra = list(yna))
  }
  upass <- function(b) .Call(C_num_pass, rv$y, rv$x, cdesc, c(bcodes, list(ru$unit)),
                             as.integer(c(blev, ru$U)), as.integer(c(bna, 0L)), b, res$shift, NULL, NULL)
  rres <- if (opt$se) upass(ru$base)
  # numeric auxiliaries: one pass per extra channel (rep_units())
  xres <- if (opt$se) lapply(ru$extra, function(e) upass(e$base))
  ncv <- length(cvars)
  skipped <- new_df(list(row_var = rv$name, by_na = res$skipped[1L], row_na = res$skipped[2L],
                         col_na = sum(res$skipped[2L + 1L + seq_len(ncv)])))
  cols <- lapply(seq_along(all_cvars), function(j)
    rep_num_column(rv, all_cvars[[j]], res$cols[[j]], if (opt$se) rres$cols[[j]], res$shift, nb, opt, ru,
                   lapply(xres, function(x) x$cols[[j]])))
  list(rv = rv, cvars = all_cvars, bvars = bvars, cols = cols, numeric = TRUE, skipped = skipped)
}

rep_num_column <- function(rv, cv, A, Ar, shift, nb, opt, ru, Ax = list()) {
  nc <- as.integer(cv$desc[[2L]])
  tot <- function(k) matrix(A[, k], nc, nb)
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
  rp <- ru$rp
  Uu <- matrix(Ar[, 5L], K, ru$U)                    # (column, layer) x unit
  Vu <- matrix(Ar[, 6L], K, ru$U)
  Pu <- matrix(Ar[, 3L] * (Ar[, 2L] > 0), K, ru$U)   # weight of rows of positive b
  if (isTRUE(ru$rows)) {
    inc <- matrix(Ar[, 1L] > 0, K, ru$U)               # profiles in each (column, layer)
    Ur <- inc %*% ru$T[[1L]]
    Vr <- inc %*% ru$T[[2L]]
  } else {
    Ur <- rep_totals(Uu, ru, lapply(Ax, function(a) matrix(a[, 5L], K, ru$U)))
    Vr <- rep_totals(Vu, ru, lapply(Ax, function(a) matrix(a[, 6L], K, ru$U)))
  }
  # numeric auxiliaries' df: rows, and the channels' sums as Pu
  Nu <- matrix(Ar[, 1L], K, ru$U)
  Px <- lapply(Ax, function(a) matrix(a[, 3L] * (Ar[, 2L] > 0), K, ru$U))
  er <- switch(stat, mean = , score = Ur / Vr + shift, total = Ur, ratio = Ur / Vr)
  er[!is.finite(er)] <- NA_real_
  ev <- as.vector(est)
  v <- rep_var(er, ev, rp)
  v[is.na(ev)] <- NA_real_
  out$se <- sqrt(pmax(v, 0))
  if (stat != "ratio") out$se_n_w <- sqrt(pmax(rep_var(Vr, as.vector(V), rp), 0))
  out$df <- rep_df(Pu, ru, Nu, Px)
  if (opt$ci != "none") out <- num_t_ci(out, opt$level)
  out$deff <- as.vector(num_deff(stat, est, U, V, sw, npos, suu, suv, svv, out$se^2, opt$deff))
  # letters: t tests of the replicate variance of the difference, df =
  # degf() of the two columns' rows minus 1 (svyttest() / svyglm())
  if (cv$kind != "total") {
    mb <- if (is.null(opt$min_base)) 0 else opt$min_base
    out <- num_pair_letters(out, nc, nb, opt, function(b, a, c2) {
      a <- (b - 1L) * nc + a; c2 <- (b - 1L) * nc + c2
      if (is.na(ev[a]) || is.na(ev[c2])) return(NULL)
      if (out$df[a] < 1 || out$df[c2] < 1) return(NULL)
      if (out$n[a] < mb || out$n[c2] < mb) return(NULL)
      dd <- ev[a] - ev[c2]
      vd <- rep_var(er[a, , drop = FALSE] - er[c2, , drop = FALSE], dd, rp)
      if (!is.finite(vd) || !(vd > 1e-24 * (1 + v[a] + v[c2])) || !is.finite(dd)) return(NULL)
      # the units with weight in either column (an MR set's items may
      # share rows; the rank counts units, so their sum serves)
      c(dd, vd, rep_df(matrix(Pu[a, ] + Pu[c2, ], 1L), ru, Nu[a, ] + Nu[c2, ],
                       lapply(Px, function(x) x[a, ] + x[c2, ])) - 1)
    })
  }
  out
}

# ---- quantile rows on a replicate design ------------------------------------------------

# domain_quantiles()'s se_fun on a replicate design, as svyquantile() on an
# svyrep.design with its default interval.type = "mean" (survey 4.1.1):
# Woodruff's interval from svymean(x <= q) on the domain's subset -- F =
# sum(w z) / sum(w), its SE svrVar() of the replicates' sum(w_r z) /
# sum(w_r) -- with df = degf() of the subset (after na.rm). Per (domain,
# unit) sums of b z and b (C_qnt_unit_sums) times P give the replicates'
# sums. Attributes: "cdf" (F), "df" and "se_count" (0: the replicates'
# means of a constant indicator are 1 exactly, so is survey's SE 0).
rep_quant_se_fun <- function(ru, w) {
  if (isTRUE(ru$rows)) ru <- ru$legacy()
  w <- as.double(w)
  function(z, domain, ndom) {
    k <- ncol(z)
    A <- k + 1L
    full <- array(.Call(C_qnt_unit_sums, z, w, domain, as.integer(ndom), NULL, 1L, FALSE)$s1,
                  c(A, ndom))
    cdf <- t(full[seq_len(k), , drop = FALSE]) / full[A, ]
    cdf[!(full[A, ] > 0), ] <- NA_real_
    usum <- function(b) aperm(array(.Call(C_qnt_unit_sums, z, b, domain, as.integer(ndom), ru$unit,
                                          as.integer(ru$U), FALSE)$s1, c(A, ru$U, ndom)), c(1L, 3L, 2L))
    S <- usum(ru$base)                                   # A x ndom x U
    Sx <- lapply(ru$extra, function(e) usum(e$base))
    flat <- function(a) matrix(a, A * ndom, ru$U)
    Tr <- rep_totals(flat(S), ru, lapply(Sx, flat))      # (A * ndom) x R
    Tr <- array(Tr, c(A, ndom, ncol(Tr)))
    out <- matrix(NA_real_, ndom, k)
    for (j in seq_len(k)) {
      th <- Tr[j, , , drop = TRUE] / Tr[A, , , drop = TRUE]
      th <- matrix(th, ndom)
      th[!is.finite(th)] <- NA_real_
      out[, j] <- sqrt(pmax(rep_var(th, cdf[, j], ru$rp), 0))
    }
    out[is.na(cdf)] <- NA_real_
    # degf() of each domain: units with rows of positive weight in it
    Wb <- matrix(S[A, , ], ndom, ru$U)
    cnt <- if (length(ru$extra)) {
      C1 <- .Call(C_qnt_unit_sums, z[, 1L, drop = FALSE], as.double(ru$base > 0), domain,
                  as.integer(ndom), ru$unit, as.integer(ru$U), FALSE)$s1
      t(matrix(array(C1, c(2L, ru$U, ndom))[2L, , ], ru$U, ndom))
    }
    df <- rep_df(Wb, ru, cnt, lapply(Sx, function(a) matrix(a[A, , ], ndom, ru$U)))
    attr(out, "cdf") <- cdf
    attr(out, "df") <- df
    attr(out, "se_count") <- rep(0, ndom)
    out
  }
}

# ---- re-calibrated designs: replicate totals by rows ------------------------------------

# Factor designs with re-calibration (F, or lin's channels): the replicate
# weight of a row is b_i f_i[r] with f_i = A[u_i, ] * F[g_i, ] (lin: A[u_i,
# ] * (1 + eta[g_i, ] + u_i' beta)). The (PSU, cell) pairs can be nearly as
# many as the rows, so tab() does not multiply per-pair sums by a pairs x R
# matrix here: per block, rows are grouped by their profile -- the tuple of
# their codes in the block's variables (C_rep_profile) -- the replicate
# totals per profile come from one C pass over the rows that evaluates f_i
# once per row (C_rep_rowsum), and an entry's totals are the sums over the
# profiles in it (which profiles: the block's ordinary C pass with the
# profile as innermost layer). df: the rank of the factor vectors of the
# domain's rows of positive b (C_rep_rank; rows of one pair have the same
# vector, without auxiliaries). Memory: profiles x R, not pairs x R.
rep_by_rows <- function(r) identical(r$mode, "factor") && (!is.null(r$F) || !is.null(r$lin))

rep_fac <- function(r) {
  lin <- r$lin
  list(as.integer(r$unit), r$A, as.integer(r$g), r$F,
       if (!is.null(lin)) lin$eta, if (!is.null(lin)) lin$beta,
       if (!is.null(lin)) { u <- lin$u; storage.mode(u) <- "double"; u })
}

rep_setup_rows <- function(des, f) {
  r <- des$rep
  n <- nrow(des$data)
  base <- as.double(r$base)
  if (is.null(r$lin)) {
    # rows of a (PSU, cell) pair share their factor vector: one vector id
    # per pair, numbered in order of first appearance
    key <- as.double(r$unit) + nrow(r$A) * (as.double(r$g) - 1)
    vid <- match(key, unique(key))
    nvid <- max(c(0L, vid))
  } else {
    vid <- seq_len(n)
    nvid <- n
  }
  vid[!(base > 0)] <- 0L
  ru <- list(rows = TRUE, n = n, base = base * f, fac = rep_fac(r), vid = as.integer(vid),
             nvid = as.integer(nvid), rp = des$rep, rank_cache = new.env(parent = emptyenv()))
  ru$legacy <- function() rep_setup_units(des, f)
  ru
}

# A block's units: its rows' profiles over the codes of the descs given
# (desc[[3]]: the variables' code vectors), and with channels X (per-row
# weights) the profiles' replicate totals T (one np x R matrix per channel).
rep_block_units <- function(ru, descs, X = NULL, extra = list()) {
  cols <- c(unlist(lapply(descs, `[[`, 3L), recursive = FALSE), extra)
  cols <- lapply(cols, function(x) if (is.integer(x) || is.logical(x)) x else as.integer(x))
  if (!length(cols)) cols <- list(rep(1L, ru$n))   # one profile: all rows
  pr <- .Call(C_rep_profile, cols, as.integer(ru$n))
  ru$prof <- pr$prof
  ru$U <- pr$np
  ru$unit <- pr$prof
  ru$desc <- list(0L, pr$np, list(pr$prof), 0L, 0L)
  if (!is.null(X)) ru$T <- .Call(C_rep_rowsum, pr$prof, pr$np, lapply(X, as.double), ru$fac)
  ru$rank_cache <- new.env(parent = emptyenv())
  ru
}

# Replicate totals of entries (rows of S, sums per profile of b) from the
# profiles' totals: the profiles with rows in the entry (attr "cnt": rows).
rep_totals_rows <- function(S, ru) {
  cnt <- attr(S, "cnt")
  if (is.null(cnt)) cnt <- S
  (matrix(cnt, ncol = ru$U) > 0) %*% ru$T[[1L]]
}

# df of domains (rows of S: sums per profile; a domain = its profiles with
# weight) on the rows representation: rank of its rows' factor vectors - 1.
rep_df_rows <- function(S, ru) {
  inD <- S > 0
  keys <- vapply(seq_len(nrow(inD)), function(i) {
    idx <- which(inD[i, ])
    sprintf("%d:%.17g:%.17g", length(idx), sum(as.double(idx)), sum(as.double(idx)^2))
  }, "")
  out <- rep(NA_real_, nrow(inD))
  todo <- integer()
  for (i in seq_along(keys)) {
    hit <- ru$rank_cache[[keys[i]]]
    if (!is.null(hit) && identical(hit$idx, which(inD[i, ]))) out[i] <- hit$r - 1 else todo <- c(todo, i)
  }
  if (length(todo)) {
    ut <- todo[!duplicated(keys[todo])]
    r <- rep_rank_rows(ru, ru$prof, t(inD[ut, , drop = FALSE]))
    for (k in seq_along(ut)) assign(keys[ut[k]], list(idx = which(inD[ut[k], ]), r = r[k]), envir = ru$rank_cache)
    out[todo] <- r[match(keys[todo], keys[ut])] - 1
  }
  out
}

rep_rank_rows <- function(ru, prof, inD) {
  storage.mode(inD) <- "integer"
  .Call(C_rep_rank, as.integer(prof), inD, ru$vid, ru$nvid, ru$fac, 1e-5)
}

# 'type' of svy_repdesign() / as_repdesign(): one of 'types' (the default, the
# whole vector, means its first); 'of' names the function in the error.
check_rep_type <- function(type, types, of) {
  if (!is.character(type) || length(type) < 1L || anyNA(type) ||
      (length(type) > 1L && !identical(type, types)))
    stopf("'type' must be one of %s, not %s", qlist(types, max = 10L), obj_desc(type))
  type <- type[1L]
  if (!type %in% types)
    stopf("'type' %s is not a replicate type%s; use one of %s", q(type), of,
          qlist(types, max = 10L))
  type
}
