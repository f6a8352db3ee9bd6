# Design-based inference for tab(): standard errors, confidence intervals,
# Rao-Scott tests and column-proportion letters, all from per-(cell,
# stratum) or per-(cell, PSU) sums that the C pass returns. The work is in
# src/var.c (block_one(), per block: a row variable x one column variable),
# reached through tab.c's fused pass C_tab_des (single variables with strata
# or clusters: one call per row variable, nothing per design unit reaches R)
# or C_block_inf (all blocks of a row variable from the general pass's
# sums); this file prepares the design description and, for calibrated
# weights, the covariance matrix.
#
# Every estimate of a block (row variable x one column variable, per layer)
# is a smooth function of the weighted totals of the block's indicator
# vector z: its K = nr * nc cells, then its nc column bases, nr row bases
# and the block base (Kp = K + nc + nr + 1 entries; with MR sets a base is
# not a sum of cells). One Kp x Kp covariance matrix Sigma of these totals
# gives all variances and covariances by linearisation: Var(a'T) = a' Sigma a.
#
#   rows as PSUs:  Sigma = sum_h s_h [Q_h - S1_h S1_h' / n_h]
#   clusters:      Sigma = sum_h s_h sum_i (T_hi - mean_h)(T_hi - mean_h)'
#
# with S1_h the totals of z in stratum h, Q_h = sum of w^2 z z' over its
# rows, T_hi the totals of PSU i, n_h the PSUs of stratum h (rows, or
# clusters) and s_h = (1 - n_h / N_h) n_h / (n_h - 1).

# How the design enters the C pass: an extra layer variable (stratum, or
# PSU) when there is more than one stratum or there are clusters.
design_layer <- function(des) {
  # multistage (issue 17): the finest-stage units, their sums feed z_cov()'s
  # recursion over the stages (ms marks the layer for fused_ok())
  if (!is.null(des$ms))
    return(list(desc = list(0L, as.integer(des$ms$nd), list(des$ms$unit), 0L, 0L),
                nd = as.integer(des$ms$nd), ms = TRUE))
  if (des$clustered)
    return(list(desc = list(0L, length(des$psu_stratum), list(des$psu), 0L, 0L),
                nd = length(des$psu_stratum)))
  if (length(des$strata_levels) > 1L)
    return(list(desc = list(0L, length(des$strata_levels), list(des$stratum), 0L, 0L),
                nd = length(des$strata_levels)))
  NULL
}

# Per-unit-of-the-extra-layer (stratum or PSU) quantities of the design.
design_units <- function(des) {
  H <- length(des$strata_levels)
  f <- ifelse(is.finite(des$pop_psu), 1 - des$n_psu / des$pop_psu, 1)
  nh <- des$n_psu
  lonely <- nh == 1L
  scale <- ifelse(lonely, f, f * nh / pmax(nh - 1, 1))
  if (des$lonely_psu %in% c("certainty", "remove")) scale[lonely] <- 0
  if (identical(des$lonely_psu, "average")) {
    # survey's onestage(): lonely strata (not sampled in full) drop out and
    # the others are scaled by strata / strata kept (NaN if none is kept)
    out <- lonely & !(f < 1e-7)
    scale[out] <- 0
    if (any(out)) scale <- scale * (H / sum(!out))
  }
  list(H = H, nh = nh, scale = scale, center = !(lonely & des$lonely_psu == "adjust"))
}

# The design as C_block_inf / C_tab_des read it: per design unit (PSU, or
# stratum of row PSUs) its stratum, and per stratum the scale, centring and
# number of PSUs.
design_info <- function(des, du, nd) {
  list(mode = if (des$clustered) 0L else if (nd > 1L) 1L else 2L,
       stratum = if (des$clustered) as.integer(des$psu_stratum) else seq_len(nd),
       scale = as.double(du$scale), center = as.integer(du$center),
       nh = as.double(du$nh))
}

# tab()'s inference options as integer codes for the C routines.
inf_options <- function(opt, des, cal) {
  list(percent = match(opt$percent, c("col", "row", "total", "none")) - 1L,
       ci = match(opt$ci, c("none", "logit", "wilson", "wald", "korn-graubard")) - 1L,
       level = as.double(opt$level), letters = as.integer(opt$letters),
       alpha = as.double(opt$alpha),
       adjust = match(opt$adjust, c("bonferroni", "holm", "none")) - 1L,
       # columns with an unweighted base below min_base take no part in
       # the letters (0: no such rule)
       min_base = as.double(if (is.null(opt$min_base)) 0 else opt$min_base),
       test = match(opt$test, c("none", "F", "Chisq")) - 1L,
       deff = match(opt$deff, c("binomial", "replace", "survey")) - 1L,
       wscale = as.double(opt$wscale),
       layer_rows = as.double(opt$layer_rows), layer_nu = as.double(opt$layer_nu),
       # for Korn-Graubard, survey counts the rows of a domain of a
       # calibrated design as all rows (its subsets keep them, with weight 0)
       kg_rows = if (is.null(cal)) -1 else as.double(nrow(des$data)))
}

# The test code of a single x single block of nr x nc cells (0: none).
block_test <- function(test, nr, nc) {
  if (test > 0L && nc > 1L && nr * nc > max_test_cells()) {
    note_once("test", sprintf("Rao-Scott tests are skipped for blocks of more than %d cells (option umfrage.max_test_cells): in the worst case (a cell without weight) they cost a dense solve of that order", max_test_cells()))
    return(0L)
  }
  as.integer(test)
}

# Whether tab_block() can take the fused C route: single variables without
# NA levels, a design layer (strata or clusters), no calibration, and every
# block small enough for inference.
fused_ok <- function(rv, cvars, bvars, dl, cal) {
  if (is.null(dl) || !is.null(cal) || isTRUE(dl$ms)) return(FALSE)
  plain <- function(v) v$kind == "single" && identical(v$desc[[4L]], 0L)
  if (!plain(rv) || !all(vapply(cvars, plain, NA)) || !all(vapply(bvars, plain, NA)))
    return(FALSE)
  nr <- rv$desc[[2L]]
  ncs <- c(1L, vapply(cvars, function(v) v$desc[[2L]], 1L))
  all(nr * ncs + nr + ncs + 1 <= max_inference_cells())
}

# The letters of k columns: A to Z, then AA, AB, ..., ZZ, AAA, ... (as
# spreadsheet columns), for any k. Labels longer than one letter are
# separated by commas where a cell lists several (block_one() in var.c).
col_letters <- function(k) {
  i <- seq_len(k)
  out <- character(k)
  while (any(i > 0L)) {
    pos <- i > 0L
    out[pos] <- paste0(LETTERS[(i[pos] - 1L) %% 26L + 1L], out[pos])
    i[pos] <- (i[pos] - 1L) %/% 26L
  }
  out
}

# ---- weights on a safe scale ---------------------------------------------------
#
# Every statistic of a table is invariant to rescaling the weights, but
# sums of squared weights overflow above about 1e154 and underflow below
# about 1e-154. When the largest weight lies beyond 2^+-96, tab() multiplies
# the weights by a power of two that brings it to about 1: exact in binary
# floating point, so the results equal those of the unscaled weights bit for
# bit, and the weighted counts (n_w, base_w, se_n_w) are scaled back at the
# end. Ordinary weights are used as they are (no copy).
weight_scale <- function(w) {
  if (is.null(w)) return(list(f = 1, zero = FALSE))
  # the largest finite weight and whether any is 0, in one lean C pass
  st <- .Call(C_weight_max, as.double(w))
  mx <- st[["max"]]
  e <- if (is.finite(mx) && mx > 0) min(max(-round(log2(mx)), -1020), 1020) else 0
  # weights whose largest lies within 2^+-96 of 1 are safe as they are
  # (squares, fourth powers and sums over 2^31 rows stay far from overflow
  # and underflow): no scaling, so no copy of the weights
  if (abs(e) <= 96) e <- 0
  list(f = 2^e, zero = st[["any_zero"]] > 0)
}

# Scale the weighted counts of a table's long form back (f: weight_scale()).
unscale_counts <- function(d, f) {
  if (f == 1) return(d)
  for (nm in intersect(c("n_w", "base_w", "se_n_w"), names(d))) d[[nm]] <- d[[nm]] / f
  d
}

# ---- rows of weight 0 ---------------------------------------------------------
#
# A row of weight 0 is out of the sample for the degrees of freedom and the
# design effect (survey's degf() and svymean(deff =) count rows of positive
# weight), though it counts in n. With such rows, the general route adds
# per entry the rows of positive weight, from a pass with weights 1 and 0,
# as a fifth element of each column variable's sums.
add_positive <- function(raw, rv, cdesc, layers, w, ncv) {
  pres <- .Call(C_tab, rv$desc, cdesc, layers, as.double(w > 0))
  praw <- c(pres$cols[ncv + 1L], pres$cols[seq_len(ncv)])
  Map(function(r, p) c(r[1:4], list(lapply(p[1:4], function(m) m[, 2L]))), raw, praw)
}

# Rows and degrees of freedom of each layer for the Rao-Scott test, as
# svychisq() counts them on the layer's part of the design: all its rows,
# whatever their weights and answers (the Pearson statistic is scaled to
# them), and its PSUs minus their strata. test = FALSE: not needed (NA).
layer_design <- function(bvars, des, nrows, test) {
  nb <- prod(vapply(bvars, function(v) as.double(v$desc[[2L]]), 0))
  if (!test) return(list(rep(NA_real_, nb), rep(NA_real_, nb)))
  dl <- design_layer(des)
  if (!length(bvars) && is.null(dl))
    return(list(as.double(nrows), domain_df(nrows, des)))
  const <- list(3L, 1L, list(), 0L, 0L)
  res <- .Call(C_tab, const, list(const),
               c(lapply(bvars, `[[`, "desc"), if (!is.null(dl)) list(dl$desc)), NULL)
  nd <- if (is.null(dl)) 1L else dl$nd
  arr <- matrix(res$cols[[1L]]$cells[, 1L], nb, nd)
  list(as.double(rowSums(arr)),
       vapply(seq_len(nb), function(b) as.double(domain_df(arr[b, ], des)), 0))
}

# ---- calibration -------------------------------------------------------------
#
# Weights from wt_rake()/wt_poststrat()/wt_calibrate() were calibrated on
# margins (and, with wt_calibrate(), numeric auxiliaries u). Their variance
# uses the residuals of the linearised variable from the regression on the
# calibration model matrix X = [margins' level indicators M, u], weighted by
# the starting weights w0, as survey::calibrate() (its greg_calibration,
# used by svyrecvar()) and survey::postStratify() do: the influence score
# w_i z_i of a row becomes w_i (z_i - X_i beta), beta = (X'W0 X)^- X'W0 z.
#
# Rows with the same levels of all margin variables (a calibration cell g)
# share M_g, so the fit needs per (entry, cell) sums of w0 z; each numeric
# auxiliary adds, per entry, the sum of w0 u_k z. By Frisch-Waugh, with
# F0 = the fit of z on M alone and Fu = that of u on M (per cell),
#   B  = (sum w0 ut ut')^-1 sum w0 ut z',  ut = u - Fu[g]   (p x Kp)
#   F  = F0 - Fu B                                          (G x Kp)
#   residual of row i: e_i = z_i - F[g_i, ] - B' u_i.
# sum w0 ut ut' = (within-cell centred sum of w0 u u') + sum_g W0_g
# (ubar_g - Fu_g)(...)': no cancellation; sum w0 ut z' = sum w0 u z' -
# Fu' (sums of w0 z per cell). The margins' indicators span the constant,
# so u may be shifted by any constant without changing the residuals:
# cal_setup() shifts each u_k by its minimum, so that w0 u and w^2 u are
# non-negative and serve as weights of the entries' cell passes (C_tab).
#
# The residual totals then need, besides the sums of w z per design unit:
#   clusters:     T_j = s1_j - S1_j' F - SU_j B, with S1 the sums of w per
#                 (cell, PSU) and SU the sums of w u per PSU;
#   rows as PSUs: per stratum h, sum_i w^2 e e' = Q_h - (M2F + M2F') +
#                 F' diag(S2_h) F - (C + C') + (E + E') + B' UU2_h B with
#                 M2F = s2_h F (s2: sums of w^2 z per (entry, cell)),
#                 C = (sum w^2 z u') B, E = F' S2U_h B (S2U: sums of w^2 u per
#                 cell), UU2_h = sum w^2 u u'; and b_h = sum of w e = s1_h -
#                 F' S1_h - B' SU_h.

# Once per tab(): calibration cells of the rows, the indicator matrix of the
# margins, the starting weights, and all-row sums per (cell, design unit);
# with numeric auxiliaries also their sums (C_cal_aux) and the weights for
# the entries' passes (w0u, w2u: lists of one vector per auxiliary).
cal_setup <- function(des, x, w, wscale = 1) {
  cl <- des$calibration
  # survey objects: a survey design's calibration (survey_objects.R)
  if (isTRUE(cl$survey)) return(cal_setup_survey(des, x, w, wscale))
  vars <- cl$vars
  nums <- as.character(cl$numeric)
  miss <- setdiff(c(vars, nums), names(x))
  if (length(miss))
    stopf("the weights were calibrated on variable(s) %s, which are not in 'x'; use calibration = FALSE to ignore the calibration",
          qlist(miss))
  coded <- lapply(vars, function(v) code_var(data_col(x, v, "x"), v, cl$lev[[v]]))
  nlev <- vapply(coded, function(cv) as.integer(cv$nlev), 1L)
  G <- prod(nlev)
  if (G > 1e6) stopf("the calibration margins span %s cells, too many for the calibrated variance; use calibration = FALSE", format(G))
  codes <- lapply(coded, function(cv) as.integer(cv$codes))
  g <- rep(1L, nrow(x))
  stride <- 1L
  for (j in seq_along(codes)) {
    if (anyNA(codes[[j]]))
      stopf("variable %s, on which the weights were calibrated, now has values without a target; use calibration = FALSE",
            q(vars[j]))
    g <- g + (codes[[j]] - 1L) * stride
    stride <- stride * nlev[j]
  }
  u <- lapply(nums, function(v) {
    col <- data_col(x, v, "x")
    if (!is.numeric(col) || is.object(col) || is_labelled(col))
      stopf("numeric auxiliary %s, on which the weights were calibrated, is not a numeric column of 'x' now; use calibration = FALSE",
            q(v))
    col <- as.double(col)
    if (!all(is.finite(col)))
      stopf("numeric auxiliary %s, on which the weights were calibrated, now holds NA or infinite values (first at row %d); use calibration = FALSE",
            q(v), which(!is.finite(col))[1L])
    col
  })
  # indicator matrix: for each margin, its joint level at each cell g
  grid <- as.matrix(expand.grid(lapply(nlev, seq_len)))
  M <- do.call(cbind, lapply(cl$margins, function(mv) {
    idx <- match(mv, vars)
    lv <- rep(0L, G)
    s <- 1L
    for (i in idx) { lv <- lv + (grid[, i] - 1L) * s; s <- s * nlev[i] }
    outer(lv, sort(unique(lv)), `==`) * 1
  }))
  w0 <- if (is.null(cl$start)) rep(1, nrow(x)) else as.double(cl$start)
  misfit <- function(why) {
    warning(sprintf("the calibration stored on the weights no longer fits: %s; treating the weights as fixed (use calibration = FALSE to silence this)", why),
            call. = FALSE)
    NULL
  }
  if (length(w0) != nrow(x))
    return(misfit(sprintf("the weights were made for %d rows, 'x' has %d", length(w0), nrow(x))))
  dl <- design_layer(des)
  dcodes <- if (is.null(dl)) list() else dl$desc[[3L]]
  nd <- if (is.null(dl)) 1L else dl$nd
  all_d <- .Call(C_cell_stats, c(list(g), dcodes), as.integer(c(G, if (!is.null(dl)) nd)), w)
  W0g <- .Call(C_cell_stats, list(g), as.integer(G), w0)$sum_w
  # the regression's weights: w0, or w0 / q where survey's residuals use q
  wr <- cal_reg_weights(cl, w0)
  if (is.null(wr)) return(misfit(sprintf("its 'q' has %d values, 'x' has %d rows",
                                         length(cl$q), nrow(x))))
  # the fitted values do not depend on the starting weights' scale
  f0 <- weight_scale(wr)$f
  # numeric auxiliaries: their sums in one C pass (on the starting weights'
  # safe scale), shifted to a minimum of 0 (see above)
  aux <- if (length(u))
    .Call(C_cal_aux, g, as.integer(G), if (is.null(dl)) NULL else as.integer(dcodes[[1L]]),
          as.integer(nd), as.double(w), if (f0 != 1) wr * f0 else wr, u,
          vapply(u, min, 0), !des$clustered)
  # the state must still fit the weights and the rows (see cal_misfit()),
  # judged on the weights as made: w came on tab()'s safe scale (a power of
  # two, so dividing by it is exact)
  Wg <- rowSums(matrix(all_d$sum_w, G, nd)) / wscale
  bad <- cal_misfit(cl, if (wscale == 1) w else w / wscale, w0, g, G,
                    as.vector(crossprod(M, Wg)), Wg = Wg, W0g = W0g,
                    num_now = if (!is.null(aux)) aux$total / wscale)
  if (!is.null(bad)) return(misfit(bad))
  if (!identical(wr, w0)) {
    w0 <- wr
    W0g <- .Call(C_cell_stats, list(g), as.integer(G), w0)$sum_w
  }
  if (f0 != 1) {
    w0 <- w0 * f0
    W0g <- W0g * f0
  }
  cal <- list(G = G, M = M, w0 = w0, desc = list(0L, as.integer(G), list(g), 0L, 0L),
              S1 = matrix(all_d$sum_w, G, nd), S2 = matrix(all_d$sum_w2, G, nd), W0g = W0g)
  if (is.null(aux)) return(cal)
  p <- length(u)
  c(cal, list(p = p, numeric = nums, U0g = aux$w0u, UUw = aux$w0uu, SU = aux$wu,
              S2U = aux$w2u,
              S2UU = if (!is.null(aux$w2uu)) array(aux$w2uu, c(nd, p, p)),
              w0u = aux$rows_w0u, w2u = aux$rows_w2u))
}

# The weights of the calibration's regression (see above): the starting
# weights w0, except for weights calibrated with a heteroscedasticity factor
# q (wt_calibrate(q =)) by the linear method without bounds, whose residuals
# survey (regcalibrate(), which survey::calibrate() uses then) takes from
# the regression weighted by w0 / q; with other methods or bounds, survey's
# grake() route residualises with w0 alone. NULL if q does not fit w0.
cal_reg_weights <- function(cl, w0) {
  if (is.null(cl$q) || !identical(cl$calfun, "linear") || any(is.finite(cl$bounds)))
    return(w0)
  if (length(cl$q) != length(w0)) return(NULL)
  w0 / cl$q
}

# F (G x K): fitted values of the table cells' indicators on the margins.
cal_fitted <- function(cal, W0) {
  G <- cal$G
  K <- nrow(W0)
  F <- matrix(0, G, K)
  ok <- cal$W0g > 0
  if (!any(ok)) return(F)
  sw <- sqrt(cal$W0g[ok])
  Y <- t(W0[, ok, drop = FALSE]) / cal$W0g[ok]
  F[ok, ] <- qr.fitted(qr(cal$M[ok, , drop = FALSE] * sw), Y * sw) / sw
  F
}

# The regression on margins and numeric auxiliaries (see above): F (G x
# Kp) and B (p x Kp; NULL without numeric auxiliaries), from the sums of
# w0 z per (entry, cell) W0 (Kp x G) and of w0 u z per entry W0U (Kp x p).
cal_fit <- function(cal, W0, W0U = NULL) {
  # survey objects: survey::rake()'s sequential variance (survey_objects.R)
  if (!is.null(cal$sequential)) return(list(F = cal_seq_fitted(cal, W0), B = NULL))
  F0 <- cal_fitted(cal, W0)
  if (is.null(cal$p)) return(list(F = F0, B = NULL))
  if (is.null(W0U) || nrow(W0U) != nrow(W0) || ncol(W0U) != cal$p)
    stop("internal error: calibration on numeric auxiliaries needs the entries' sums of w0 u z")
  Fu <- cal_fitted(cal, t(cal$U0g))                       # G x p
  ok <- cal$W0g > 0
  dev <- cal$U0g[ok, , drop = FALSE] / cal$W0g[ok] - Fu[ok, , drop = FALSE]
  A <- cal$UUw + crossprod(dev * sqrt(cal$W0g[ok]))       # sum w0 ut ut'
  R <- t(W0U) - crossprod(Fu, t(W0))                      # sum w0 ut z'
  # scale to unit diagonal before solving (auxiliaries on any scale)
  sc <- sqrt(diag(A))
  sc[!(sc > 0)] <- 1
  B <- qr.coef(qr(A / tcrossprod(sc), tol = 1e-12), R / sc) / sc
  B[is.na(B)] <- 0
  list(F = F0 - Fu %*% B, B = B)
}

# Totals of z for one layer b of a block: a Kp x Dp matrix of statistic
# `st` (1 = n, 2 = sum w, 3 = sum w^2) from the C pass's cells and bases.
z_totals <- function(rawj, nr, nc, nb, Dp, b, st) {
  part <- function(m, k) {
    x <- m[, st]
    if (nb == 1L) {
      dim(x) <- c(k, Dp)
      return(x)
    }
    dim(x) <- c(k, nb, Dp)
    x <- x[, b, , drop = FALSE]
    dim(x) <- c(k, Dp)
    x
  }
  rbind(part(rawj$cells, nr * nc), part(rawj$colbase, nc), part(rawj$rowbase, nr),
        part(rawj$allbase, 1L))
}

# Q_h for single x single blocks: a row in cell (r, c) has z = cell, column
# base c, row base r and the block base, so Q_h follows from the cells'
# sums of w^2 (s2: K x H).
q_single <- function(s2, nr, nc) {
  K <- nr * nc
  Kp <- K + nc + nr + 1L
  t <- seq_len(K)
  rr <- rep(seq_len(nr), nc)
  cc <- rep(seq_len(nc), each = nr)
  zc <- K + cc
  zr <- K + nc + rr
  lapply(seq_len(ncol(s2)), function(h) {
    v <- s2[, h]
    Q <- matrix(0, Kp, Kp)
    # a row in cell t is in t, its column base, its row base, the block base
    for (a in list(t, zc, zr, rep(Kp, K))) for (b in list(t, zc, zr, rep(Kp, K))) {
      idx <- cbind(a, b)
      if (identical(a, b) && !identical(a, t)) {
        # the same base for many cells: sum their w^2
        Q[cbind(unique(a), unique(a))] <- rowsum(v, a, reorder = FALSE)[, 1L]
      } else if (identical(a, t) || identical(b, t)) {
        Q[idx] <- v
      } else {
        agg <- rowsum(v, paste(a, b), reorder = FALSE)
        key <- unique(paste(a, b))
        ab <- do.call(rbind, strsplit(key, " ", fixed = TRUE))
        Q[cbind(as.integer(ab[, 1L]), as.integer(ab[, 2L]))] <- agg[key, 1L]
      }
    }
    Q
  })
}

# Sum the calibration cells (varying fastest) out of a Kp x (G * D) matrix.
sum_cal <- function(m, G) {
  if (G == 1L) return(m)
  D <- ncol(m) / G
  k <- nrow(m)
  # columns are (g, d) with g fastest: sum each run of G columns
  t(rowsum(t(m), rep(seq_len(D), each = G), reorder = FALSE))
}

# Sigma (Kp x Kp) of one block-layer, for any real-valued z per row (Kp
# entries: the indicators of a block's cells and bases, or y 1{c}, 1{c} for
# numeric rows). s1: Kp x Dp sums of w z per (entry, [calibration cell,]
# design unit), the calibration cell fastest; Q: list of Kp x Kp sums of
# w^2 z z' per stratum (rows as PSUs only); cal: calibration setup or NULL;
# w0z: Kp x G sums of w0 z per (entry, calibration cell); s2: Kp x Dp sums
# of w^2 z (rows as PSUs with calibration). With numeric auxiliaries
# (cal$p of them) also cz = list(w0 = Kp x p sums of cal$w0u[[k]] * z per
# entry, w2 = (rows as PSUs) a list of p Kp x D matrices, sums of
# cal$w2u[[k]] * z per (entry, design unit)): see cal_aux_pass().
z_cov <- function(s1, s2, Q, des, du, cal = NULL, w0z = NULL, cz = NULL) {
  fit <- if (is.null(cal)) NULL else cal_fit(cal, w0z, cz$w0)
  F <- fit$F
  B <- fit$B
  if (des$clustered) {
    T <- t(if (is.null(cal)) s1 else sum_cal(s1, cal$G))       # PSU x Kp
    if (!is.null(cal)) T <- T - t(cal$S1) %*% F
    if (!is.null(B)) T <- T - cal$SU %*% B
    if (!is.null(des$ms)) return(ms_cov(T, des, du))
    ps <- des$psu_stratum
    means <- rowsum(T, ps, reorder = TRUE) / du$nh[sort(unique(ps))]
    T <- T - means[match(ps, sort(unique(ps))), , drop = FALSE] * du$center[ps]
    return(crossprod(T * sqrt(du$scale[ps])))
  }
  Kp <- nrow(s1)
  out <- matrix(0, Kp, Kp)
  H <- length(Q)
  G <- if (is.null(cal)) 1L else cal$G
  if (!is.null(B) && (is.null(cz$w2) || length(cz$w2) != cal$p))
    stop("internal error: calibration on numeric auxiliaries needs the entries' sums of w^2 u z")
  for (h in seq_len(H)) {
    cols <- (h - 1L) * G + seq_len(G)
    A <- Q[[h]]
    b <- rowSums(s1[, cols, drop = FALSE])
    if (!is.null(cal)) {
      M2F <- s2[, cols, drop = FALSE] %*% F
      A <- A - M2F - t(M2F) + crossprod(F, F * cal$S2[, h])
      b <- b - as.vector(crossprod(F, cal$S1[, h]))
    }
    if (!is.null(B)) {
      Cz <- vapply(cz$w2, function(m) m[, h], numeric(Kp))    # sum w^2 z u' (Kp x p)
      dim(Cz) <- c(Kp, cal$p)
      CB <- Cz %*% B
      EB <- crossprod(F, cal$S2U[cols, , drop = FALSE]) %*% B
      UU2 <- matrix(cal$S2UU[h, , ], cal$p, cal$p)
      A <- A - CB - t(CB) + EB + t(EB) + crossprod(B, UU2 %*% B)
      b <- b - as.vector(crossprod(B, cal$SU[h, ]))
    }
    out <- out + du$scale[h] * (A - du$center[h] * tcrossprod(b) / du$nh[h])
  }
  out
}

# The entries' sums that numeric auxiliaries of a calibration need (NULL
# without them), for the blocks of one row variable: per auxiliary k, one
# C_tab pass with weights cal$w0u[[k]] (w0 u_k, layered as the block's
# by-variables) and, for rows as PSUs, one with weights cal$w2u[[k]]
# (w^2 u_k, per design unit too). Columns in tab_block()'s order (the
# Total column first).
cal_aux_pass <- function(cal, rvdesc, cdesc, bdesc, dl, ncv) {
  if (is.null(cal$p)) return(NULL)
  ord <- function(res) c(res$cols[ncv + 1L], res$cols[seq_len(ncv)])
  list(w0 = lapply(cal$w0u, function(v) ord(.Call(C_tab, rvdesc, cdesc, bdesc, v))),
       w2 = if (!is.null(cal$w2u))
         lapply(cal$w2u, function(v)
           ord(.Call(C_tab, rvdesc, cdesc, c(bdesc, if (!is.null(dl)) list(dl$desc)), v))),
       D = if (is.null(dl)) 1L else dl$nd)
}

# z_cov()'s cz for column variable j and layer b from cal_aux_pass().
cal_aux_z <- function(ca, j, nr, nc, nb, b) {
  if (is.null(ca)) return(NULL)
  list(w0 = vapply(ca$w0, function(r) z_totals(r[[j]], nr, nc, nb, 1L, b, 2L)[, 1L],
                   numeric(nr * nc + nr + nc + 1L)),
       w2 = if (!is.null(ca$w2))
         lapply(ca$w2, function(r) z_totals(r[[j]], nr, nc, nb, ca$D, b, 2L)))
}

# Degrees of freedom of one domain from its row counts per design unit
# (PSU, or stratum of row PSUs, or a single count for one stratum).
domain_df <- function(per_d, des) {
  if (des$clustered) {
    psus <- if (!is.null(des$ms) && length(per_d) == des$ms$nd)
      unique(des$ms$unit_psu[per_d > 0]) else which(per_d > 0)
    length(psus) - length(unique(des$psu_stratum[psus]))
  } else if (length(per_d) > 1L) sum(per_d) - sum(per_d > 0) else sum(per_d) - 1
}

# ---- multistage designs (issue 17) -----------------------------------------------
#
# survey's svyrecvar() -> multistage(): the first stage's variance from the
# PSU totals (as for one stage), plus, where the design has an fpc (and not
# options(survey.ultimate.cluster) / ultimate_cluster = TRUE), for every PSU
# the variance of the next stage within it, from its SSUs' totals, scaled by
# the PSU's stratum's sampling fraction n_h / N_h, and so on down. Each
# stage's term has the form of the first: units centred at the mean of their
# stratum cell (the stage's stratum within the unit above), scaled by
# (1 - n/N) n / (n - 1) (lonely units by the rule), so Sigma is a sum of
# Gram matrices over the stages:
#   Sigma = sum_s sum_cells wt_g sum_{u in g} (T_u - c_g m_g)(T_u - c_g m_g)'
# with wt_g the cell's scale times the n / N of every unit above it
# (ms_stages() in design.R). T: the totals of the finest units (after a
# calibration's residuals, as survey applies a stage-0 calibration before
# multistage()); a stage's totals are sums of them.
ms_cov <- function(T, des, du) {
  ms <- des$ms
  ps <- des$psu_stratum
  T1 <- rowsum(T, ms$unit_psu, reorder = TRUE)
  means <- rowsum(T1, ps, reorder = TRUE) / du$nh[sort(unique(ps))]
  T1 <- T1 - means[match(ps, sort(unique(ps))), , drop = FALSE] * du$center[ps]
  out <- crossprod(T1 * sqrt(du$scale[ps]))
  dimnames(out) <- NULL
  for (st in ms$stages) {
    Ts <- if (is.null(st$of)) T else rowsum(T, st$of, reorder = TRUE)
    wt <- st$wt[st$cell]
    keep <- wt != 0 | is.na(wt)
    if (!any(keep)) next
    m <- rowsum(Ts, st$cell, reorder = TRUE) / st$n
    Ts <- Ts - m[st$cell, , drop = FALSE] * st$center[st$cell]
    out <- out + crossprod(Ts[keep, , drop = FALSE] * sqrt(wt[keep]))
  }
  out
}

# Sum per-finest-unit rows of a pass's sums (units slowest: rows (entry,
# layer, calibration cell, unit)) to the PSUs, so that the C routines count
# PSUs for the df and the letters (the variance comes as sigma).
ms_to_psu <- function(rawj, des) {
  up <- des$ms$unit_psu
  U <- length(up)
  one <- function(m) {
    k <- NROW(m) %/% U
    grp <- rep(k * (up - 1L), each = k) + seq_len(k)
    r <- rowsum(m, grp, reorder = TRUE)
    dimnames(r) <- NULL
    if (is.matrix(m)) r else as.vector(r)
  }
  out <- lapply(rawj, function(m) if (is.list(m)) lapply(m, one) else one(m))
  names(out) <- names(rawj)
  out
}

# Rows of positive weight per PSU from counts per design unit (finest units
# of a multistage design; as they are otherwise).
psu_counts <- function(per_d, des) {
  if (!is.null(des$ms) && length(per_d) == des$ms$nd)
    as.vector(rowsum(per_d, des$ms$unit_psu, reorder = TRUE)) else per_d
}

max_test_cells <- function() getOption("umfrage.max_test_cells", 400L)
max_inference_cells <- function() getOption("umfrage.max_inference_cells", 3000L)

# Warnings that a tab() call gives once, however many blocks hit them.
notes_env <- new.env(parent = emptyenv())
note_once <- function(key, msg) {
  if (is.null(notes_env$seen[[key]])) {
    notes_env$seen[[key]] <- TRUE
    warning(msg, call. = FALSE)
  }
}
notes_reset <- function() notes_env$seen <- list()
