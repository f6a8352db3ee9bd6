# Design-based inference for tab(): standard errors, confidence intervals,
# Rao-Scott tests and column-proportion letters, all from per-(cell,
# stratum) or per-(cell, PSU) sums that the C pass returns.
#
# Every estimate of a block (row variable x one column variable, per layer)
# is a smooth function of the block's K = nr * nc weighted cell totals, so
# one K x K covariance matrix of the cell totals (Sigma) gives all
# variances and covariances by linearisation: Var(a'T) = a' Sigma a.
#
#   rows as PSUs:  Sigma = sum_h s_h [diag(S2_h) - S1_h S1_h' / n_h]
#   clusters:      Sigma = sum_h s_h sum_i (T_hi - mean_h)(T_hi - mean_h)'
#
# with S1_h, S2_h the sums of w and w^2 per cell in stratum h, T_hi the cell
# totals of PSU i, n_h the PSUs of stratum h (rows, or clusters) and
# s_h = (1 - n_h / N_h) n_h / (n_h - 1).

# How the design enters the C pass: an extra layer variable (stratum, or
# PSU) when there is more than one stratum or there are clusters.
design_layer <- function(des) {
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
  list(H = H, nh = nh, scale = scale, center = !(lonely & des$lonely_psu == "adjust"))
}

# Sigma (K x K) from the block's per-layer arrays: s1, s2 are K x D matrices
# (D strata or PSUs, or D = 1 for one stratum of row PSUs).
cell_cov <- function(s1, s2, des, du) {
  if (des$clustered) {
    # columns are PSUs; centre within strata, scale per stratum
    ps <- des$psu_stratum
    T <- t(s1)                                  # PSU x K
    means <- rowsum(T, ps, reorder = TRUE) / du$nh[sort(unique(ps))]
    mrow <- match(ps, sort(unique(ps)))
    ctr <- du$center[ps]
    T <- T - means[mrow, , drop = FALSE] * ctr
    return(crossprod(T * sqrt(du$scale[ps])))
  }
  # rows are PSUs: columns of s1, s2 are strata
  sc <- du$scale
  nh <- du$nh
  ctr <- as.numeric(du$center)
  diag_part <- as.vector(s2 %*% sc)
  m <- sweep(s1, 2L, sqrt(sc * ctr / nh), `*`)
  out <- -tcrossprod(m)
  diag(out) <- diag(out) + diag_part
  out
}

# Degrees of freedom and rows of domains: for each domain (a set of cells),
# PSUs with rows in it minus strata with rows in it. cnt: K x D counts.
domain_df <- function(cnt, groups, des) {
  vapply(groups, function(idx) {
    per_d <- colSums(cnt[idx, , drop = FALSE])
    if (des$clustered) {
      psus <- which(per_d > 0)
      length(psus) - length(unique(des$psu_stratum[psus]))
    } else if (ncol(cnt) > 1L) {
      sum(per_d) - sum(per_d > 0)
    } else sum(per_d) - 1
  }, 0)
}

# Confidence interval for proportions p with variance v, domain df and
# rows n (for Korn-Graubard and for the fallbacks at p = 0 or 1).
prop_ci <- function(p, v, df, nrows, method, level) {
  alpha <- 1 - level
  df <- ifelse(is.na(df) | df < 1, Inf, df)
  lo <- hi <- rep(NA_real_, length(p))
  ok <- !is.na(p) & !is.na(v)
  edge <- ok & (p <= 0 | p >= 1 | v <= 0)
  inner <- ok & !edge
  if (method == "logit") {
    se_l <- sqrt(v[inner]) / (p[inner] * (1 - p[inner]))
    l <- stats::qlogis(p[inner])
    tq <- stats::qt(1 - alpha / 2, df[inner])
    lo[inner] <- stats::plogis(l - tq * se_l)
    hi[inner] <- stats::plogis(l + tq * se_l)
  } else if (method == "wald") {
    tq <- stats::qt(1 - alpha / 2, df[inner])
    lo[inner] <- pmax(p[inner] - tq * sqrt(v[inner]), 0)
    hi[inner] <- pmin(p[inner] + tq * sqrt(v[inner]), 1)
  } else if (method == "wilson") {
    ne <- p[inner] * (1 - p[inner]) / v[inner]
    z <- stats::qnorm(1 - alpha / 2)
    ctr <- (p[inner] + z^2 / (2 * ne)) / (1 + z^2 / ne)
    half <- z / (1 + z^2 / ne) * sqrt(p[inner] * (1 - p[inner]) / ne + z^2 / (4 * ne^2))
    lo[inner] <- ctr - half
    hi[inner] <- ctr + half
  } else if (method == "korn-graubard") {
    ne <- p[inner] * (1 - p[inner]) / v[inner]
    ne <- ne * (stats::qt(alpha / 2, nrows[inner] - 1) / stats::qt(alpha / 2, df[inner]))^2
    lo[inner] <- stats::qbeta(alpha / 2, ne * p[inner], ne * (1 - p[inner]) + 1)
    hi[inner] <- stats::qbeta(1 - alpha / 2, ne * p[inner] + 1, ne * (1 - p[inner]))
  }
  # p = 0 or 1 (no variance): exact binomial bounds on the domain's rows
  if (any(edge)) {
    nn <- pmax(nrows[edge], 1)
    pe <- p[edge]
    lo[edge] <- ifelse(pe <= 0, 0, stats::qbeta(alpha / 2, pe * nn, (1 - pe) * nn + 1))
    hi[edge] <- ifelse(pe >= 1, 1, stats::qbeta(1 - alpha / 2, pe * nn + 1, (1 - pe) * nn))
  }
  list(lo = lo, hi = hi)
}

# Rao-Scott corrected Pearson test of one block (as survey::svychisq):
# y: nr x nc weighted totals, V: covariance of the joint proportions
# (K x K), N: rows of the layer, nu: design df of the layer.
rao_scott <- function(y, V, N, nu, statistic) {
  keep_r <- rowSums(y$n) > 0
  keep_c <- colSums(y$n) > 0
  nr <- sum(keep_r)
  nc <- sum(keep_c)
  out <- c(statistic = NA_real_, ndf = NA_real_, ddf = NA_real_, p_value = NA_real_)
  if (nr < 2L || nc < 2L) return(out)
  keep <- as.vector(outer(keep_r, keep_c, `&`))
  W <- y$w[keep_r, keep_c, drop = FALSE]
  X <- sum(W)
  if (!(X > 0)) return(out)
  mean2 <- as.vector(W) / X
  V <- V[keep, keep, drop = FALSE]
  mf1 <- expand.grid(rows = seq_len(nr), cols = seq_len(nc))
  X1 <- stats::model.matrix(~ factor(rows) + factor(cols), mf1)
  X12 <- stats::model.matrix(~ factor(rows) * factor(cols), mf1)
  Cmat <- qr.resid(qr(X1), X12[, -(1:(nr + nc - 1)), drop = FALSE])
  iD <- diag(ifelse(mean2 == 0, 0, 1 / mean2), length(mean2))
  denom <- crossprod(Cmat, (iD / N) %*% Cmat)
  numr <- crossprod(Cmat, iD %*% V %*% iD %*% Cmat)
  Delta <- solve(denom, numr)
  O <- W * N / X
  E <- outer(rowSums(O), colSums(O)) / N
  X2 <- sum((O - E)^2 / E)
  if (statistic == "F") {
    tr <- sum(diag(Delta))
    d0 <- tr^2 / sum(diag(Delta %*% Delta))
    stat <- X2 / tr
    return(c(statistic = stat, ndf = d0, ddf = d0 * nu,
             p_value = stats::pf(stat, d0, d0 * nu, lower.tail = FALSE)))
  }
  c(statistic = X2, ndf = ncol(Delta), ddf = NA_real_,
    p_value = stats::pchisq(X2 / mean(diag(Delta)), df = ncol(Delta), lower.tail = FALSE))
}

col_letters <- function(k) {
  if (k <= 26L) return(LETTERS[seq_len(k)])
  c(LETTERS, paste0(rep(LETTERS, each = 26L), rep(LETTERS, 26L)))[seq_len(k)]
}

# Inference for one block (single row variable x single column variable,
# or x Total) in one layer. arr: list(n, w, w2) of nr x nc x D arrays.
block_inference <- function(arr, des, du, opt, layer_rows, nu_layer) {
  nr <- dim(arr$w)[1L]
  nc <- dim(arr$w)[2L]
  D <- dim(arr$w)[3L]
  K <- nr * nc
  s1 <- matrix(arr$w, K, D)
  s2 <- matrix(arr$w2, K, D)
  cnt <- matrix(arr$n, K, D)
  if (is.null(arr$cal)) {
    Sigma <- cell_cov(s1, s2, des, du)
  } else {
    Sigma <- cell_cov_cal(s1, s2, arr$w0, des, du, arr$cal)
    G <- arr$cal$G
    cnt <- matrix(apply(array(cnt, c(K, G, D / G)), c(1L, 3L), sum), K, D / G)
    s1 <- matrix(apply(array(s1, c(K, G, D / G)), c(1L, 3L), sum), K, D / G)
  }
  Y <- rowSums(s1)
  rr <- rep(seq_len(nr), nc)
  cc <- rep(seq_len(nc), each = nr)
  base_of <- switch(opt$percent, col = , none = cc, row = nr * nc + rr, total = rep(1L, K))
  group <- switch(opt$percent, col = , none = split(seq_len(K), cc), row = split(seq_len(K), rr),
                  total = list(seq_len(K)))
  gid <- switch(opt$percent, col = , none = cc, row = rr, total = rep(1L, K))
  Xg <- vapply(group, function(i) sum(Y[i]), 0)
  X <- Xg[gid]
  p <- ifelse(X > 0, Y / X, NA_real_)
  # linearisation: a_k = (e_k - p_k 1_{group(k)}) / X_k, as columns of A
  G <- outer(gid, gid, `==`) * 1
  A <- (diag(K) - G * rep(ifelse(is.na(p), 0, p), each = K)) / rep(ifelse(X > 0, X, NA), each = K)
  SA <- Sigma %*% A
  vp <- colSums(A * SA)
  vt <- diag(Sigma)
  df_g <- domain_df(cnt, group, des)
  rows_g <- vapply(group, function(i) sum(cnt[i, ]), 0)
  out <- list(se_n_w = sqrt(pmax(vt, 0)), se = 100 * sqrt(pmax(vp, 0)),
              df = df_g[gid])
  basen <- rows_g[gid]
  out$deff <- ifelse(!is.na(p) & p > 0 & p < 1, vp / (p * (1 - p) / basen), NA_real_)
  if (opt$ci != "none") {
    # for Korn-Graubard, survey counts the rows of a domain of a calibrated
    # design as all rows (its subsets keep them, with weight 0)
    kg_rows <- if (is.null(arr$cal)) basen else rep(nrow(des$data), K)
    ci <- prop_ci(p, vp, df_g[gid], kg_rows, opt$ci, opt$level)
    out$ci_low <- 100 * ci$lo
    out$ci_high <- 100 * ci$hi
  } else out$ci_low <- out$ci_high <- rep(NA_real_, K)
  out$letters <- rep("", K)
  if (opt$letters && opt$percent == "col" && nc > 1L) {
    CV <- crossprod(A, SA)
    lab <- col_letters(nc)
    for (r in seq_len(nr)) {
      idx <- r + nr * (seq_len(nc) - 1L)
      ok <- which(!is.na(p[idx]) & X[idx] > 0)
      if (length(ok) < 2L) next
      pairs <- utils::combn(ok, 2L)
      d <- p[idx[pairs[1L, ]]] - p[idx[pairs[2L, ]]]
      v <- vp[idx[pairs[1L, ]]] + vp[idx[pairs[2L, ]]] - 2 * CV[cbind(idx[pairs[1L, ]], idx[pairs[2L, ]])]
      pv <- ifelse(v > 0, 2 * stats::pnorm(-abs(d) / sqrt(v)), ifelse(d == 0, 1, 0))
      pv <- stats::p.adjust(pv, method = opt$adjust)
      sig <- which(pv < opt$alpha)
      for (s in sig) {
        hi <- if (d[s] > 0) pairs[1L, s] else pairs[2L, s]
        lo <- if (d[s] > 0) pairs[2L, s] else pairs[1L, s]
        out$letters[idx[hi]] <- paste0(out$letters[idx[hi]], lab[lo])
      }
    }
    out$letters <- vapply(strsplit(out$letters, ""), function(z) paste(sort(z), collapse = ""), "")
  }
  out$test <- c(statistic = NA_real_, ndf = NA_real_, ddf = NA_real_, p_value = NA_real_)
  if (opt$test != "none" && nc > 1L) {
    Xall <- sum(Y)
    pj <- Y / Xall
    Aj <- (diag(K) - matrix(pj, K, K, byrow = TRUE)) / Xall
    Vj <- crossprod(Aj, Sigma %*% Aj)
    yy <- list(n = matrix(rowSums(cnt), nr, nc), w = matrix(Y, nr, nc))
    out$test <- rao_scott(yy, Vj, layer_rows, nu_layer, opt$test)
  }
  out
}

# ---- calibration -------------------------------------------------------------
#
# Weights from wt_rake()/wt_poststrat() were calibrated on margins. Their
# variance uses the residuals of the linearised variable from the regression
# on the margins' level indicators, weighted by the starting weights, as
# survey::calibrate() and survey::postStratify() do. Rows with the same
# levels of all margin variables (a calibration cell g) share the fitted
# values, so per (table cell, calibration cell) sums suffice:
#   F[g, t] = fitted value at g of the indicator of table cell t,
#   residual of a row in cell t and calibration cell g: e_t - F[g, ].

# Once per tab(): calibration cells of the rows, the indicator matrix of the
# margins, the starting weights, and all-row sums per (cell, design unit).
cal_setup <- function(des, x, w) {
  cl <- des$calibration
  vars <- cl$vars
  miss <- setdiff(vars, names(x))
  if (length(miss))
    stopf("the weights were calibrated on variable(s) %s, which are not in 'x'; use calibration = FALSE to ignore the calibration",
          qlist(miss))
  coded <- lapply(vars, function(v) code_var(x[[v]], v, cl$lev[[v]]))
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
  if (length(w0) != nrow(x))
    stopf("the starting weights of the calibrated weights do not fit 'x' (%d rows); use calibration = FALSE", nrow(x))
  dl <- design_layer(des)
  dcodes <- if (is.null(dl)) list() else dl$desc[[3L]]
  nd <- if (is.null(dl)) 1L else dl$nd
  all_d <- .Call(C_cell_stats, c(list(g), dcodes), as.integer(c(G, if (!is.null(dl)) nd)), w)
  W0g <- .Call(C_cell_stats, list(g), as.integer(G), w0)$sum_w
  list(G = G, M = M, w0 = w0, desc = list(0L, as.integer(G), list(g), 0L, 0L),
       S1 = matrix(all_d$sum_w, G, nd), S2 = matrix(all_d$sum_w2, G, nd), W0g = W0g)
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

# Sigma of the block's cell totals under calibration. s1, s2: K x (G * D)
# with the calibration cell varying fastest.
cell_cov_cal <- function(s1, s2, W0, des, du, cal) {
  G <- cal$G
  K <- nrow(s1)
  D <- ncol(s1) / G
  F <- cal_fitted(cal, W0)
  if (des$clustered) {
    T <- t(apply(array(s1, c(K, G, D)), c(1L, 3L), sum))     # PSU x K
    R <- T - t(cal$S1) %*% F                                   # PSU x K
    ps <- des$psu_stratum
    means <- rowsum(R, ps, reorder = TRUE) / du$nh[sort(unique(ps))]
    R <- R - means[match(ps, sort(unique(ps))), , drop = FALSE] * du$center[ps]
    return(crossprod(R * sqrt(du$scale[ps])))
  }
  out <- matrix(0, K, K)
  for (h in seq_len(D)) {
    cols <- (h - 1L) * G + seq_len(G)
    M1 <- s1[, cols, drop = FALSE]
    M2 <- s2[, cols, drop = FALSE]
    M2F <- M2 %*% F
    A <- -M2F - t(M2F) + crossprod(F, F * cal$S2[, h])
    diag(A) <- diag(A) + rowSums(M2)
    b <- rowSums(M1) - as.vector(crossprod(F, cal$S1[, h]))
    out <- out + du$scale[h] * (A - du$center[h] * tcrossprod(b) / du$nh[h])
  }
  out
}
