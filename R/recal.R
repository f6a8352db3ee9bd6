# Re-calibration of replicate weights on cells (issue 17).
#
# When a design's weights come from wt_rake(), wt_poststrat() or
# wt_calibrate(), every replicate of a replicate design is calibrated again,
# from the replicate's own starting weights to the same totals, as survey's
# rake(), postStratify() and calibrate() do on an svyrep.design: raking
# (iterative proportional fitting, as rake()'s repeated postStratify()),
# post-stratification (one sweep) or calibration with the stored calfun and
# bounds (Newton from g = 1, as grake() for each replicate).
#
# With categorical margins every row of a calibration cell (the joint cell
# of the margin variables) gets the same factor, so the replicate weight of
# row i in replicate r is
#
#   base[i] * A[unit[i], r] * F[g[i], r]
#
# (the factor mode of the replicate-design contract): base the starting
# weights, A the replicate factors per unit (PSU), g the calibration cell
# of each row and F (G x R) the re-calibration. One C pass over the rows
# gives the sums of the starting weights per (cell, unit) that occur
# (C_recal_pairs); per replicate the cell totals are those sums times A's
# column, and the calibration runs on the G cells (C_recal_cells, threads
# over replicates).
#
# Numeric auxiliaries of wt_calibrate(): the factor varies within a cell,
# g_i = 1 + Fm1(eta[g_i, r] + u_i' beta[, r]), so the result carries eta (G x
# R, the linear predictor of each cell's levels) and beta (p x R) instead of
# F, with the auxiliaries u (n x p) and the calibration function; see
# rep_recalibrate()'s value. (Linear calibration without bounds only: the
# other functions would need passes over the rows per Newton step.)

# The calibration cells of the rows from the stored calibration state `cal`
# (see cal_state() in weights.R): g (1..G, only the cells that occur, in the
# order of the full mixed-radix cell code, first variable fastest), G, cc
# (G x M: 0-based column of each cell in each margin, columns numbered as
# unlist(cal$totals)), targets (the totals the weights achieved, per column)
# and what labels a column.
recal_cells <- function(data, cal) {
  vars <- cal$vars
  n <- nrow(data)
  miss <- setdiff(c(vars, as.character(cal$numeric)), names(data))
  if (length(miss))
    stopf("the weights were calibrated on variable(s) %s, which are not in the design's data",
          qlist(miss))
  coded <- lapply(vars, function(v) code_var(data_col(data, v), v, cal$lev[[v]]))
  nlev <- vapply(coded, function(cv) as.double(cv$nlev), 0)
  codes <- lapply(coded, function(cv) as.integer(cv$codes))
  for (j in seq_along(codes)) if (anyNA(codes[[j]]))
    stopf("variable %s, on which the weights were calibrated, has values without a target (first at row %d): the replicates cannot be calibrated again",
          q(vars[j]), which(is.na(codes[[j]]))[1L])
  names(nlev) <- vars
  Gfull <- prod(nlev)
  gfull <- if (n) cal_cell_codes(codes, nlev) else integer()
  if (Gfull <= max(1e7, n) && Gfull <= .Machine$integer.max) {
    present <- tabulate(gfull, Gfull) > 0L
    key <- which(present)
    g <- cumsum(present)[gfull]
  } else {
    key <- sort(unique(gfull))
    g <- match(gfull, key)
  }
  G <- length(key)
  stride <- cumprod(c(1, nlev))[seq_along(vars)]
  cvar <- lapply(seq_along(vars), function(j) (key - 1) %/% stride[j] %% nlev[j])
  M <- length(cal$margins)
  L <- vapply(cal$margins, function(mv) prod(nlev[mv]), 0)
  if (length(cal$totals) != M || any(lengths(cal$totals) != L))
    stopf("the calibration stored on the weights no longer fits the design's data: its margins have %s level(s), the data's variables make %s",
          paste(lengths(cal$totals), collapse = ", "), paste(L, collapse = ", "))
  off <- cumsum(c(0, L))[seq_len(M)]
  cc <- matrix(0L, G, M)
  for (m in seq_len(M)) {
    idx <- match(cal$margins[[m]], vars)
    lv <- 0
    s <- 1
    for (i in idx) { lv <- lv + cvar[[i]] * s; s <- s * nlev[i] }
    cc[, m] <- as.integer(off[m] + lv)
  }
  list(g = as.integer(g), G = G, cc = cc, targets = as.double(unlist(cal$totals)),
       nlev = nlev, L = L, off = off)
}

# "level x of y" for column k (0-based) of recal_cells()'s numbering.
recal_col_label <- function(cal, cells, k) {
  m <- max(which(cells$off <= k))
  lv <- k - cells$off[m]
  mv <- cal$margins[[m]]
  parts <- character(length(mv))
  for (i in seq_along(mv)) {
    nl <- cells$nlev[[mv[i]]]
    parts[i] <- cal$levels[[mv[i]]][lv %% nl + 1]
    lv <- lv %/% nl
  }
  sprintf("level %s of %s", q(paste(parts, collapse = ":")), q(paste(mv, collapse = ":")))
}

# Re-calibrate every replicate (internal; as_repdesign() calls it in one
# line). data: the design's data; cal: the calibration state of its weights
# (attr(w, "calibration")); unit: the unit (1..U) of each row; A: U x R
# replicate factors per unit; base: the starting weights (default: those the
# calibration started from, cal$start, or 1). epsilon and maxit: per
# replicate, the convergence tolerance (raking: largest relative margin
# error, as wt_rake(); calibration: survey's |target - achieved| / (1 +
# |target|)) and the most sweeps / Newton iterations; w: the full-sample
# weights, if given checked to be those the state was made with.
#
# Returns list(g = calibration cell of each row (1..G), F = G x R factors,
# info = list(iterations, converged, max_error) per replicate), so that the
# weight of row i in replicate r is base[i] * A[unit[i], r] * F[g[i], r].
# With numeric auxiliaries (linear calibration without bounds) F is NULL and
# the result carries lin = list(calfun = "linear", bounds, eta = G x R, beta
# = p x R, u = n x p): the weight is base[i] * A[unit[i], r] * (1 +
# eta[g[i], r] + sum_k u[i, k] beta[k, r]).
rep_recalibrate <- function(data, cal, unit, A, base = NULL, epsilon = NULL, maxit = NULL,
                            w = NULL) {
  if (!is.data.frame(data)) stopf("'data' must be a data frame, not %s", obj_desc(data))
  if (!is.list(cal) || is.null(cal$vars) || is.null(cal$totals))
    stopf("'cal' must be the calibration state of weights from wt_rake(), wt_poststrat() or wt_calibrate()")
  n <- nrow(data)
  if (!is.null(w) && !fingerprint_ok(cal$check, as.double(w)))
    stopf("the calibration stored on the weights no longer fits them: the weights were changed, subset or reordered after they were made")
  if (!is.numeric(A) || !is.matrix(A) || !all(is.finite(A)))
    stopf("'A' must be a numeric matrix of finite replicate factors (units x replicates)")
  storage.mode(A) <- "double"
  U <- nrow(A)
  if (!is.numeric(unit) || length(unit) != n || anyNA(unit) ||
      any(unit < 1 | unit > U | unit != round(unit)))
    stopf("'unit' must give each of the %d rows a unit in 1..%d (the rows of 'A')", n, U)
  unit <- as.integer(unit)
  if (is.null(base)) base <- if (is.null(cal$start)) rep(1, n) else cal$start
  base <- as.double(base)
  if (length(base) != n)
    stopf("'base' (the starting weights) has length %d, the data %d rows", length(base), n)
  weight_stats(base, "base")
  if (identical(cal$cell_constant, FALSE) && !length(cal$numeric))
    stopf("the weights were calibrated with a cap that trimmed rows of unequal starting weights (wt_rake(cap = )): their replicates cannot be raked again on cells; rake without 'cap' or calibrate with 'bounds' (wt_calibrate())")
  cells <- recal_cells(data, cal)
  method <- cal$method
  newton <- identical(method, "calibrate")
  calfun <- if (newton) cal$calfun else "raking"
  bounds <- if (newton && !is.null(cal$bounds)) as.double(cal$bounds) else c(-Inf, Inf)
  if (is.null(epsilon)) epsilon <- 1e-10
  if (is.null(maxit)) maxit <- if (newton) 100L else 1000L
  nums <- as.character(cal$numeric)
  if (length(nums)) {
    if (!identical(calfun, "linear") || any(is.finite(bounds)))
      stopf("re-calibrating replicates on numeric auxiliaries (%s) is implemented for linear calibration without bounds only, not %s%s",
            qlist(nums), q(calfun), if (any(is.finite(bounds))) " with bounds" else "")
    return(recal_linear(data, cal, cells, unit, A, base, nums))
  }
  pairs <- .Call(C_recal_pairs, cells$g, as.integer(cells$G), unit, as.integer(U), list(base))
  res <- .Call(C_recal_cells, pairs$start, pairs$cell, pairs$sums, A, as.integer(cells$G),
               cells$cc, cells$targets, as.integer(newton),
               match(calfun, c("linear", "raking", "logit")) - 1L, bounds,
               list(as.double(epsilon), as.double(maxit)))
  recal_warn(res, cal, cells, epsilon)
  list(g = cells$g, F = res$F,
       info = list(iterations = res$iterations, converged = res$converged,
                   max_error = res$max_error))
}

recal_warn <- function(res, cal, cells, epsilon) {
  bad <- which(!res$converged)
  if (!length(bad)) return(invisible())
  r <- bad[which.max(res$max_error[bad])]
  warnf("%d of %d replicate(s) could not be calibrated again to the targets (replicate(s) %s): largest error %.3g > epsilon = %.3g at %s in replicate %d (a level with too little weight left in a replicate, or bounds too tight for it)",
        length(bad), length(res$converged), paste(utils::head(bad, 10L), collapse = ", "),
        res$max_error[r], epsilon, recal_col_label(cal, cells, res$worst[r]), r)
}

# Numeric auxiliaries, linear calibration without bounds: per replicate one
# Newton step from g = 1 (survey's regcalibrate()), from per (cell, unit)
# sums of base and base u and per unit sums of base u u' (C_recal_pairs),
# in C_recal_linear. The auxiliaries are centred and scaled by their
# base-weighted mean and sd first (the margins' indicators span the
# constant, so this changes nothing but the conditioning), and the result
# brought back: g_i = 1 + eta[g_i, r] + u_i' beta[, r].
recal_linear <- function(data, cal, cells, unit, A, base, nums) {
  n <- nrow(data)
  U <- nrow(A)
  p <- length(nums)
  u <- matrix(0, n, p)
  for (j in seq_len(p)) {
    col <- data_col(data, nums[j])
    if (!is.numeric(col) || is.object(col) || is_labelled(col))
      stopf("numeric auxiliary %s, on which the weights were calibrated, is not a numeric column of the design's data",
            q(nums[j]))
    col <- as.double(col)
    if (!all(is.finite(col)))
      stopf("numeric auxiliary %s, on which the weights were calibrated, holds NA or infinite values (first at row %d)",
            q(nums[j]), which(!is.finite(col))[1L])
    u[, j] <- col
  }
  sb <- sum(base)
  m <- as.vector(crossprod(base, u)) / sb
  us <- u - rep(m, each = n)
  sdv <- sqrt(as.vector(crossprod(base, us * us)) / sb)
  sdv[!(sdv > 0)] <- 1
  us <- us / rep(sdv, each = n)
  N <- sum(cal$totals[[1L]])
  tnum <- (as.double(cal$numeric_totals) - m * N) / sdv
  x <- c(list(base), lapply(seq_len(p), function(j) base * us[, j]))
  pairs <- .Call(C_recal_pairs, cells$g, as.integer(cells$G), unit, as.integer(U), x)
  jk <- which(upper.tri(diag(p), diag = TRUE), arr.ind = TRUE)
  jk <- jk[order(jk[, 2L], jk[, 1L]), , drop = FALSE]
  prods <- lapply(seq_len(nrow(jk)), function(e) base * us[, jk[e, 1L]] * us[, jk[e, 2L]])
  up <- .Call(C_recal_pairs, rep(1L, n), 1L, unit, as.integer(U), prods)
  uu <- matrix(0, U, length(prods))
  has <- diff(up$start) > 0L
  uu[has, ] <- up$sums
  res <- .Call(C_recal_linear, pairs$start, pairs$cell, pairs$sums, uu, A,
               as.integer(cells$G), cells$cc, c(cells$targets, tnum))
  beta <- res$beta / sdv
  dim(beta) <- c(p, ncol(A))
  rownames(beta) <- nums
  eta <- res$eta - rep(as.vector(crossprod(m, beta)), each = cells$G)
  dim(eta) <- c(cells$G, ncol(A))
  bad <- which(!(res$max_error <= 1e-6))
  if (length(bad))
    warnf("%d of %d replicate(s) could not be calibrated again to the targets (replicate(s) %s): largest error %.3g (a level with no weight left in a replicate, or auxiliaries collinear within it)",
          length(bad), ncol(A), paste(utils::head(bad, 10L), collapse = ", "), max(res$max_error[bad]))
  colnames(u) <- nums
  list(g = cells$g, F = NULL,
       lin = list(calfun = "linear", bounds = c(-Inf, Inf), eta = eta, beta = beta, u = u),
       info = list(max_error = res$max_error))
}
