# Design-based inference for tab(): standard errors, confidence intervals,
# Rao-Scott tests and column-proportion letters, all from per-(cell,
# stratum) or per-(cell, PSU) sums that the C pass returns.
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

# The interaction contrasts of an nr x nc table (as svychisq builds them
# with model.matrix), cached per table shape.
rs_cache <- new.env(parent = emptyenv())
rs_contrasts <- function(nr, nc) {
  key <- paste(nr, nc)
  if (!is.null(rs_cache[[key]])) return(rs_cache[[key]])
  rows <- factor(rep(seq_len(nr), nc))
  cols <- factor(rep(seq_len(nc), each = nr))
  X1 <- cbind(1, stats::model.matrix(~ rows)[, -1L, drop = FALSE],
              stats::model.matrix(~ cols)[, -1L, drop = FALSE])
  Rr <- stats::model.matrix(~ rows)[, -1L, drop = FALSE]
  Cc <- stats::model.matrix(~ cols)[, -1L, drop = FALSE]
  X12 <- do.call(cbind, lapply(seq_len(ncol(Cc)), function(j) Rr * Cc[, j]))
  out <- qr.resid(qr(X1), X12)
  assign(key, out, envir = rs_cache)
  out
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
  Cmat <- rs_contrasts(nr, nc)
  idv <- ifelse(mean2 == 0, 0, 1 / mean2)
  denom <- crossprod(Cmat * (idv / N), Cmat)
  DC <- Cmat * idv
  numr <- crossprod(DC, V %*% DC)
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

# Sigma (Kp x Kp) of one block-layer. s1: Kp x Dp totals; Q: list of Kp x Kp
# per stratum (rows as PSUs only); cal: calibration setup or NULL; w0z:
# Kp x G starting-weight totals; s2: Kp x Dp sums of w^2 (for calibration).
z_cov <- function(s1, s2, Q, des, du, cal = NULL, w0z = NULL) {
  F <- if (is.null(cal)) NULL else cal_fitted(cal, w0z)
  if (des$clustered) {
    T <- t(if (is.null(cal)) s1 else sum_cal(s1, cal$G))       # PSU x Kp
    if (!is.null(cal)) T <- T - t(cal$S1) %*% F
    ps <- des$psu_stratum
    means <- rowsum(T, ps, reorder = TRUE) / du$nh[sort(unique(ps))]
    T <- T - means[match(ps, sort(unique(ps))), , drop = FALSE] * du$center[ps]
    return(crossprod(T * sqrt(du$scale[ps])))
  }
  Kp <- nrow(s1)
  out <- matrix(0, Kp, Kp)
  H <- length(Q)
  G <- if (is.null(cal)) 1L else cal$G
  for (h in seq_len(H)) {
    cols <- (h - 1L) * G + seq_len(G)
    A <- Q[[h]]
    b <- rowSums(s1[, cols, drop = FALSE])
    if (!is.null(cal)) {
      M2F <- s2[, cols, drop = FALSE] %*% F
      A <- A - M2F - t(M2F) + crossprod(F, F * cal$S2[, h])
      b <- b - as.vector(crossprod(F, cal$S1[, h]))
    }
    out <- out + du$scale[h] * (A - du$center[h] * tcrossprod(b) / du$nh[h])
  }
  out
}

# Degrees of freedom of domains given by z entries: PSUs with rows in the
# domain minus strata with rows in it. cnt: Kp x D counts (D strata or
# PSUs; 1 for one stratum of row PSUs).
z_df <- function(cnt, entries, des) {
  vapply(entries, function(e) domain_df(cnt[e, ], des), 0)
}

# Degrees of freedom of one domain from its row counts per design unit
# (PSU, or stratum of row PSUs, or a single count for one stratum).
domain_df <- function(per_d, des) {
  if (des$clustered) {
    psus <- which(per_d > 0)
    length(psus) - length(unique(des$psu_stratum[psus]))
  } else if (length(per_d) > 1L) sum(per_d) - sum(per_d > 0) else sum(per_d) - 1
}

# Inference for one block-layer. z: list(s1, s2, cnt (Kp x Dp), Q, w0z),
# nr, nc; single: TRUE for single x single (Rao-Scott applies).
block_inference <- function(z, nr, nc, single, des, du, opt, cal, layer_rows, nu_layer) {
  K <- nr * nc
  Kp <- K + nc + nr + 1L
  Sigma <- z_cov(z$s1, z$s2, z$Q, des, du, cal, z$w0z)
  s1 <- if (is.null(cal)) z$s1 else sum_cal(z$s1, cal$G)
  cnt <- if (is.null(cal)) z$cnt else sum_cal(z$cnt, cal$G)
  Tz <- rowSums(s1)
  rr <- rep(seq_len(nr), nc)
  cc <- rep(seq_len(nc), each = nr)
  base <- switch(opt$percent, col = , none = K + cc, row = K + nc + rr, total = rep(Kp, K))
  X <- Tz[base]
  Y <- Tz[seq_len(K)]
  p <- ifelse(X > 0, Y / X, NA_real_)
  # linearisation: a_t = (e_t - p_t e_base(t)) / X_t has two entries, so
  # a_i' Sigma a_j comes from four entries of Sigma
  p0 <- ifelse(is.na(p), 0, p)
  Xs <- ifelse(X > 0, X, NA)
  lin_cov <- function(i, j) {
    bi <- base[i]
    bj <- base[j]
    (Sigma[cbind(i, j)] - p0[j] * Sigma[cbind(i, bj)] - p0[i] * Sigma[cbind(bi, j)] +
       p0[i] * p0[j] * Sigma[cbind(bi, bj)]) / (Xs[i] * Xs[j])
  }
  vp <- lin_cov(seq_len(K), seq_len(K))
  vt <- diag(Sigma)[seq_len(K)]
  ub <- sort(unique(base))
  df_b <- z_df(cnt, ub, des)[match(base, ub)]
  basen <- rowSums(cnt)[base]
  out <- list(se_n_w = sqrt(pmax(vt, 0)), se = 100 * sqrt(pmax(vp, 0)), df = df_b,
              deff = ifelse(!is.na(p) & p > 0 & p < 1, vp / (p * (1 - p) / basen), NA_real_))
  if (opt$ci != "none") {
    # for Korn-Graubard, survey counts the rows of a domain of a calibrated
    # design as all rows (its subsets keep them, with weight 0)
    kg_rows <- if (is.null(cal)) basen else rep(nrow(des$data), K)
    ci <- prop_ci(p, vp, df_b, kg_rows, opt$ci, opt$level)
    out$ci_low <- 100 * ci$lo
    out$ci_high <- 100 * ci$hi
  } else out$ci_low <- out$ci_high <- rep(NA_real_, K)
  out$letters <- rep("", K)
  if (opt$letters && opt$percent == "col" && nc > 1L)
    out$letters <- column_letters(lin_cov, p, vp, X, nr, nc, opt)
  out$test <- c(statistic = NA_real_, ndf = NA_real_, ddf = NA_real_, p_value = NA_real_)
  if (single && opt$test != "none" && nc > 1L && K > max_test_cells()) {
    note_once("test", sprintf("Rao-Scott tests are skipped for blocks of more than %d cells (option umfrage.max_test_cells): they cost a dense eigen-problem of that size", max_test_cells()))
  } else if (single && opt$test != "none" && nc > 1L) {
    # joint proportions Y_t / Xall: a_t = (e_t - q_t e_all) / Xall
    Xall <- Tz[Kp]
    qj <- Y / Xall
    Sc <- Sigma[seq_len(K), seq_len(K), drop = FALSE]
    sa <- Sigma[seq_len(K), Kp]
    Vj <- (Sc - outer(sa, qj) - outer(qj, sa) + Sigma[Kp, Kp] * outer(qj, qj)) / Xall^2
    yy <- list(n = matrix(rowSums(cnt)[seq_len(K)], nr, nc), w = matrix(Y, nr, nc))
    out$test <- rao_scott(yy, Vj, layer_rows, nu_layer, opt$test)
  }
  out
}

# Letters of a block: for each row, z tests of all pairs of columns, the
# p-values adjusted within the row; a cell gets the letter of each column
# of its row that it is significantly higher than. lin_cov(i, j) gives the
# covariance of the percents of cells i and j.
column_letters <- function(lin_cov, p, vp, X, nr, nc, opt) {
  K <- nr * nc
  pairs <- utils::combn(nc, 2L)
  i1 <- rep(seq_len(nr), ncol(pairs)) + nr * (rep(pairs[1L, ], each = nr) - 1L)
  i2 <- rep(seq_len(nr), ncol(pairs)) + nr * (rep(pairs[2L, ], each = nr) - 1L)
  cov12 <- lin_cov(i1, i2)
  d <- p[i1] - p[i2]
  v <- vp[i1] + vp[i2] - 2 * cov12
  ok <- !is.na(d) & X[i1] > 0 & X[i2] > 0
  pv <- ifelse(v > 0, 2 * stats::pnorm(-abs(d) / sqrt(pmax(v, 0))), ifelse(d == 0, 1, 0))
  pv[!ok] <- NA
  # adjust within each row over its valid pairs
  row_of <- rep(seq_len(nr), ncol(pairs))
  pa <- unlist(lapply(split(pv, row_of), stats::p.adjust, method = opt$adjust), use.names = FALSE)
  pa <- pa[order(order(row_of))]
  sig <- which(!is.na(pa) & pa < opt$alpha)
  hi <- ifelse(d[sig] > 0, i1[sig], i2[sig])
  lo_col <- ifelse(d[sig] > 0, pairs[2L, (sig - 1L) %/% nr + 1L], pairs[1L, (sig - 1L) %/% nr + 1L])
  lab <- col_letters(nc)
  out <- rep("", K)
  for (j in seq_len(nc)) {
    k <- hi[lo_col == j]
    out[k] <- paste0(out[k], lab[j])
  }
  out
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
