# Weights from wt_calibrate() with numeric auxiliaries (issue 16): tab()
# uses the calibration-adjusted variance, the residuals of the influence
# scores on the whole calibration model (margins' indicators and numeric
# columns) weighted by the starting weights, as survey::calibrate() does
# (its greg_calibration in svyrecvar()). Checked against survey on the api
# data: a stratified design (apistrat, rows as PSUs) and a cluster design
# (apiclus1), one and two numeric auxiliaries, every calfun.

api_data <- function(name) {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  e[[name]]
}

calnum_data <- function(d) {
  if (is.character(d)) d <- api_data(d)
  d$y <- cut(d$api00, c(-Inf, 600, 700, 800, Inf), labels = c("lo", "mid", "hi", "top"))
  d
}

# umfrage's and survey's calibration of the same sample on stype, awards
# (population counts) and numeric auxiliaries `nums` (totals 2 % above
# the starting weights' estimate).
calnum_fit <- function(d, clus, nums, cf) {
  bnds <- if (cf == "logit") c(0.5, 2) else c(-Inf, Inf)
  ps <- table(api_data("apipop")$stype)
  pa <- table(api_data("apipop")$awards)
  tg <- list(stype = c(ps), awards = c(pa))
  for (v in nums) tg[[v]] <- 1.02 * sum(d$pw * d[[v]])
  w <- wt_calibrate(d, tg, weights = d$pw, method = cf, bounds = bnds, epsilon = 1e-13)
  s0 <- if (clus) survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = d) else
    survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = d)
  pop <- c(`(Intercept)` = sum(ps), stypeH = ps[["H"]], stypeM = ps[["M"]],
           awardsYes = pa[["Yes"]], unlist(tg[nums]))
  fml <- stats::as.formula(paste("~ stype + awards +", paste(nums, collapse = " + ")))
  cal <- survey::calibrate(s0, fml, pop, calfun = cf, bounds = bnds, epsilon = 1e-13, maxit = 200)
  des <- if (clus) svy_design(d, weights = w, cluster = ~dnum, fpc = ~fpc) else
    svy_design(d, weights = w, strata = ~stype, fpc = ~fpc)
  list(w = w, cal = cal, des = des, tg = tg, bnds = bnds)
}

# relative error, with an absolute floor for SEs of empty cells (0 vs 0)
rel_cn <- function(a, b) max(abs(as.numeric(a) - as.numeric(b)) / pmax(abs(as.numeric(b)), 1e-12))

check_calnum <- function(f, cv = "sch.wide") {
  cal <- f$cal
  expect_lt(rel_cn(f$w, stats::weights(cal)), 1e-10)
  t <- as.data.frame(tab(f$des, "y", cols = cv, min_base = 0, adjust = "none"))
  lv <- levels(f$des$data$y)
  # the Total column: svymean on the calibrated design
  tot <- t[t$col_var == "Total", ]
  expect_lt(rel_cn(tot$se, 100 * survey::SE(survey::svymean(~y, cal))[paste0("y", tot$row)]), 1e-8)
  for (r in lv) {
    ref <- eval(bquote(survey::svyciprop(~I(y == .(r)), cal, method = "logit")))
    got <- tot[tot$row == r, ]
    expect_lt(rel_cn(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
  }
  # the columns: svyby on indicator variables; intervals on the subset
  cl <- sort(unique(as.character(f$des$data[[cv]])))
  # (svyby(covmat = TRUE) fails on calibrated designs in survey 4.1.1)
  by <- survey::svyby(~y, stats::as.formula(paste0("~", cv)), cal, survey::svymean)
  ntest <- 0L
  for (r in lv) {
    got <- t[t$col_var == cv & t$row == r, ]
    got <- got[match(cl, got$col), ]
    expect_lt(rel_cn(got$se, 100 * by[match(cl, by[[cv]]), paste0("se.y", r)]), 1e-8)
    for (k in which(got$pct > 0)) {
      sub <- cal[f$des$data[[cv]] == cl[k]]
      # (svyglm warns about the subset's rows of weight 0)
      ref <- suppressWarnings(eval(bquote(survey::svyciprop(~I(y == .(r)), sub, method = "logit"))))
      expect_lt(rel_cn(c(got$ci_low[k], got$ci_high[k]), 100 * attr(ref, "ci")), 1e-8)
    }
    # the letters' p-value: a z test of the two columns' difference on its
    # linearised SE (covariance included), from survey's svytotal() of the
    # difference's influence variable on the calibrated design; alpha just
    # above the p-value gives the letter, just below it does not (so the
    # p-value agrees to 1e-8 relative)
    pr <- by[match(cl, by[[cv]]), paste0("y", r)]
    dd <- f$des$data
    inC <- lapply(cl, function(l) as.numeric(dd[[cv]] == l))
    Nc <- vapply(inC, function(v) sum(v * stats::weights(cal)), 0)
    yr <- as.numeric(dd$y == r)
    cal2 <- stats::update(cal, .zd = (yr - pr[1]) * inC[[1]] / Nc[1] - (yr - pr[2]) * inC[[2]] / Nc[2])
    z <- (pr[1] - pr[2]) / as.vector(survey::SE(survey::svytotal(~.zd, cal2)))
    p <- 2 * stats::pnorm(-abs(z))
    if (is.finite(p) && p > 1e-12 && p < 0.5) {
      hi <- if (z > 0) 1L else 2L
      ntest <- ntest + 1L
      for (a in c(1 + 1e-8, 1 - 1e-8)) {
        ta <- as.data.frame(tab(f$des, "y", cols = cv, min_base = 0, adjust = "none", alpha = p * a))
        g <- ta[ta$col_var == cv & ta$row == r & ta$col == cl[hi], ]
        expect_identical(g$letters, if (a > 1) LETTERS[3L - hi] else "")
      }
    }
  }
  expect_gt(ntest, 0L)
  # Rao-Scott (second order, F): svychisq
  expect_lt(rel_cn(t$p_value[t$col_var == cv][1],
                   survey::svychisq(stats::as.formula(paste("~ y +", cv)), cal)$p.value), 1e-8)
  invisible(t)
}

test_that("numeric auxiliaries, stratified (rows as PSUs): SEs, CIs, tests, letters as survey::calibrate", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- calnum_data("apistrat")
  for (cf in c("linear", "raking", "logit")) for (nums in list("api99", c("api99", "meals"))) {
    f <- calnum_fit(d, FALSE, nums, cf)
    # no warning: the variance is adjusted for the numeric auxiliaries
    expect_no_warning(tab(f$des, "y"))
    check_calnum(f)
  }
})

test_that("numeric auxiliaries, cluster design: SEs, CIs, tests, letters as survey::calibrate", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- calnum_data("apiclus1")
  for (cf in c("linear", "raking", "logit")) for (nums in list("api99", c("api99", "enroll"))) {
    f <- calnum_fit(d, TRUE, nums, cf)
    check_calnum(f)
  }
})

test_that("numeric auxiliaries: data frame rows, by layers, weighted counts", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- calnum_data("apistrat")
  f <- calnum_fit(d, FALSE, c("api99", "meals"), "raking")
  # a data frame: rows as PSUs of one stratum
  s0 <- survey::svydesign(ids = ~1, weights = ~pw, data = d)
  cal <- survey::calibrate(s0, ~stype + awards + api99 + meals,
                           c(`(Intercept)` = sum(f$tg$stype), stypeH = f$tg$stype[["H"]],
                             stypeM = f$tg$stype[["M"]], awardsYes = f$tg$awards[["Yes"]],
                             api99 = f$tg$api99, meals = f$tg$meals),
                           calfun = "raking", epsilon = 1e-13, maxit = 200)
  t <- as.data.frame(tab(d, "y", cols = "sch.wide", weights = f$w))
  tot <- t[t$col_var == "Total", ]
  expect_lt(rel_cn(tot$se, 100 * survey::SE(survey::svymean(~y, cal))[paste0("y", tot$row)]), 1e-8)
  expect_lt(rel_cn(tot$se_n_w, survey::SE(survey::svytotal(~y, cal))[paste0("y", tot$row)]), 1e-8)
  by <- survey::svyby(~y, ~sch.wide, cal, survey::svymean)
  got <- t[t$col == "Yes", ]
  expect_lt(rel_cn(got$se, 100 * unlist(by[by$sch.wide == "Yes", paste0("se.y", got$row)])), 1e-8)
  # by layers in the stratified design (the entries' sums per layer and stratum)
  tl <- as.data.frame(tab(f$des, "y", cols = "awards", by = "both"))
  for (b in c("No", "Yes")) {
    ref <- survey::svyby(~y, ~awards, subset(f$cal, both == b), survey::svymean)
    for (a in c("No", "Yes")) {
      got <- tl[tl$both == b & tl$col == a, ]
      if (!any(ref$awards == a)) next
      expect_lt(rel_cn(got$se, 100 * unlist(ref[ref$awards == a, paste0("se.y", got$row)])), 1e-8)
    }
  }
})

test_that("numeric auxiliaries: changed or missing numeric columns are caught", {
  skip_if_not_installed("survey")
  d <- calnum_data("apistrat")
  tg <- list(stype = c(table(api_data("apipop")$stype)), api99 = 1.02 * sum(d$pw * d$api99))
  w <- wt_calibrate(d, tg, weights = d$pw)
  d2 <- d
  d2$api99 <- NULL
  expect_error(tab(d2, "y", weights = w), "calibrated on variable\\(s\\) 'api99', which are not in 'x'")
  d2 <- d
  d2$api99[3] <- NA
  expect_error(tab(d2, "y", weights = w), "numeric auxiliary 'api99'.*NA or infinite values \\(first at row 3\\)")
  d2 <- d
  d2$api99 <- as.character(d2$api99)
  expect_error(tab(d2, "y", weights = w), "numeric auxiliary 'api99'.*not a numeric column")
  # values changed after calibration: the totals no longer fit
  d2 <- d
  d2$api99 <- d2$api99 + 1
  expect_warning(tf <- as.data.frame(tab(d2, "y", weights = w)), "numeric auxiliaries differ")
  fixed <- survey::svydesign(ids = ~1, weights = ~wr, data = transform(d, wr = as.numeric(w)))
  expect_lt(rel_cn(tf$se, 100 * survey::SE(survey::svymean(~y, fixed))[paste0("y", tf$row)]), 1e-8)
  # calibration = FALSE: fixed weights, silently
  expect_no_warning(t0 <- as.data.frame(tab(d, "y", weights = w, calibration = FALSE)))
  expect_equal(t0$se, tf$se, tolerance = 1e-12)
})

# z_cov() is generic over real-valued z: numeric rows (means, totals) give it
# z = (y 1{c}, 1{c}) per column c. Its inputs are built here in base R from
# the rows, as a caller's C pass would sum them, and the mean and total of
# api00 per column match svyby(svymean / svytotal) on survey's calibration.
test_that("z_cov() with numeric auxiliaries is generic over real z (means and totals of a numeric y)", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  ns <- asNamespace("umfrage")
  for (clus in c(FALSE, TRUE)) for (cf in c("linear", "logit")) {
    d <- calnum_data(if (clus) "apiclus1" else "apistrat")
    f <- calnum_fit(d, clus, if (clus) c("api99", "enroll") else c("api99", "meals"), cf)
    des <- f$des
    w <- as.double(des$weights)
    cal <- ns$cal_setup(des, des$data, w, 1)
    cl <- c("No", "Yes")
    cc <- match(d$sch.wide, cl)
    nc <- length(cl)
    # z: y 1{c} for each c, then 1{c} for each c
    Z <- cbind(outer(cc, seq_len(nc), "==") * d$api00, outer(cc, seq_len(nc), "==") * 1)
    Kp <- ncol(Z)
    g <- cal$desc[[3L]][[1L]]
    du <- ns$design_units(des)
    dcode <- if (clus) des$psu else if (length(des$strata_levels) > 1L) des$stratum else rep(1L, nrow(d))
    D <- max(dcode)
    G <- cal$G
    per <- function(v, key, nk) {      # Kp x nk sums of v * z per key
      out <- matrix(0, Kp, nk)
      r <- rowsum(Z * v, key, reorder = TRUE)
      out[, as.integer(rownames(r))] <- t(r)
      out
    }
    gd <- g + G * (dcode - 1L)
    s1 <- per(w, gd, G * D)
    s2 <- per(w^2, gd, G * D)
    Q <- if (!clus) lapply(seq_len(D), function(h) crossprod(Z[dcode == h, , drop = FALSE] * w[dcode == h]))
    w0z <- per(cal$w0, g, G)
    cz <- list(w0 = vapply(cal$w0u, function(v) colSums(Z * v), numeric(Kp)),
               w2 = if (!clus) lapply(cal$w2u, function(v) per(v, dcode, D)))
    S <- ns$z_cov(s1, s2, Q, des, du, cal, w0z, cz)
    T <- colSums(Z * w)
    m <- T[1:nc] / T[nc + 1:nc]
    se_mean <- vapply(seq_len(nc), function(k) {
      a <- numeric(Kp)
      a[k] <- 1 / T[nc + k]
      a[nc + k] <- -m[k] / T[nc + k]
      sqrt(sum(a * (S %*% a)))
    }, 0)
    ref <- survey::svyby(~api00, ~sch.wide, f$cal, survey::svymean)
    expect_lt(rel_cn(m, ref$api00), 1e-10)
    expect_lt(rel_cn(se_mean, survey::SE(ref)), 1e-8)
    reft <- survey::svyby(~api00, ~sch.wide, f$cal, survey::svytotal)
    expect_lt(rel_cn(sqrt(diag(S)[1:nc]), survey::SE(reft)), 1e-8)
  }
})

# Margins only (no numeric auxiliaries) take the same route as before this
# change (bitwise the same numbers; checked by hand against the previous
# build): here against survey::calibrate once more, on the api designs.
test_that("categorical-only calibration: SEs as survey::calibrate, unchanged route", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  for (clus in c(FALSE, TRUE)) {
    d <- calnum_data(if (clus) "apiclus1" else "apistrat")
    ps <- table(api_data("apipop")$stype)
    pa <- table(api_data("apipop")$awards)
    w <- wt_calibrate(d, list(stype = c(ps), awards = c(pa)), weights = d$pw, method = "logit",
                      bounds = c(0.5, 2), epsilon = 1e-13)
    s0 <- if (clus) survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = d) else
      survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = d)
    cal <- survey::calibrate(s0, ~stype + awards, c(`(Intercept)` = sum(ps), stypeH = ps[["H"]],
                             stypeM = ps[["M"]], awardsYes = pa[["Yes"]]),
                             calfun = "logit", bounds = c(0.5, 2), epsilon = 1e-13, maxit = 200)
    des <- if (clus) svy_design(d, weights = w, cluster = ~dnum, fpc = ~fpc) else
      svy_design(d, weights = w, strata = ~stype, fpc = ~fpc)
    expect_null(ns_cal <- asNamespace("umfrage")$cal_setup(des, d, as.double(w))$p)
    t <- as.data.frame(tab(des, "y", cols = "sch.wide"))
    by <- survey::svyby(~y, ~sch.wide, cal, survey::svymean)
    got <- t[t$col == "Yes", ]
    expect_lt(rel_cn(got$se, 100 * unlist(by[by$sch.wide == "Yes", paste0("se.y", got$row)])), 1e-8)
  }
})

test_that("numeric auxiliaries with an MR set block (cross-product route)", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  for (clus in c(FALSE, TRUE)) {
    d <- calnum_data(if (clus) "apiclus1" else "apistrat")
    d$m1 <- as.integer(d$api00 > 650)
    d$m2 <- as.integer(d$meals > 40)
    f <- calnum_fit(d, clus, c("api99", "meals"), "raking")
    t <- as.data.frame(tab(f$des, mr_set(d, c("m1", "m2"), base = "all"), cols = "sch.wide"))
    ref <- survey::svyby(~m1 + m2, ~sch.wide, f$cal, survey::svymean)
    for (cc in c("No", "Yes")) {
      got <- t[t$col == cc, ]
      expect_lt(rel_cn(got$se, 100 * unlist(ref[ref$sch.wide == cc, paste0("se.", got$row)])), 1e-8)
    }
  }
})
