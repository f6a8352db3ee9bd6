# wt_calibrate(q =) (issue 17): the heteroscedasticity factor, survey's
# `variance =` (Calmar's q). The g-weights solve g = F(x' lambda / q), the
# distance weighted by 1 / q, as survey's grake() (and regcalibrate() for
# the linear method without bounds). Weights against survey::calibrate(...,
# variance = q); tab()'s calibration-adjusted SEs against survey's, whose
# residuals use q only on the regcalibrate() route (linear, no bounds).

qw_api <- function(name) {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  e[[name]]
}

qw_data <- function() {
  d <- qw_api("apistrat")
  d$y <- cut(d$api00, c(-Inf, 600, 700, 800, Inf), labels = c("lo", "mid", "hi", "top"))
  d$qv <- 0.5 + d$enroll / (2 * mean(d$enroll))     # a positive size measure as q
  d
}

# umfrage's and survey's calibration on stype, awards and the numeric
# auxiliaries nums, with q = d$qv
qw_fit <- function(d, cf, bnds, nums = "api99", q = d$qv, margins = TRUE) {
  ps <- table(qw_api("apipop")$stype)
  pa <- table(qw_api("apipop")$awards)
  tg <- if (margins) list(stype = c(ps), awards = c(pa)) else list()
  for (v in nums) tg[[v]] <- 1.02 * sum(d$pw * d[[v]])
  w <- wt_calibrate(d, tg, weights = d$pw, method = cf, bounds = bnds, epsilon = 1e-13,
                    q = q)
  s0 <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = d)
  pop <- c(`(Intercept)` = sum(ps), stypeH = ps[["H"]], stypeM = ps[["M"]],
           awardsYes = pa[["Yes"]], unlist(tg[nums]))
  fml <- stats::as.formula(paste("~ stype + awards",
                                 if (length(nums)) paste0("+ ", nums, collapse = " ") else ""))
  if (!margins) {
    pop <- unlist(tg[nums])
    fml <- stats::as.formula(paste("~ 0 +", paste(nums, collapse = " + ")))
  }
  cal <- survey::calibrate(s0, fml, pop, calfun = cf, bounds = bnds, epsilon = 1e-13,
                           maxit = 200, variance = q)
  list(w = w, cal = cal,
       des = function() svy_design(d, weights = w, strata = ~stype, fpc = ~fpc))
}

qw_rel <- function(a, b) max(abs(as.numeric(a) - as.numeric(b)) / pmax(abs(as.numeric(b)), 1e-12))

test_that("q: weights equal survey::calibrate(variance = q), every method, with bounds", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- qw_data()
  for (cs in list(list("linear", c(-Inf, Inf)), list("linear", c(0.6, 1.6)),
                  list("raking", c(-Inf, Inf)), list("raking", c(0.6, 1.6)),
                  list("logit", c(0.5, 2)))) {
    for (nums in list("api99", c("api99", "meals"), character())) {
      f <- qw_fit(d, cs[[1]], cs[[2]], nums)
      expect_lt(qw_rel(f$w, stats::weights(f$cal)), 1e-8)
      info <- attr(f$w, "umfrage")
      expect_lt(info$max_error, 1e-12)
      expect_identical(info$check, umfrage:::wt_fingerprint(as.numeric(f$w)))
      expect_equal(info$g_range, range(as.numeric(f$w) / d$pw), tolerance = 1e-12)
    }
  }
  # numeric auxiliaries alone, no margins (survey: no intercept)
  f <- qw_fit(d, "logit", c(0.5, 2), c("api99", "meals"), margins = FALSE)
  expect_lt(qw_rel(f$w, stats::weights(f$cal)), 1e-8)
  # the same calibration without q gives other weights
  f0 <- qw_fit(d, "logit", c(0.5, 2), "api99", q = NULL)
  f1 <- qw_fit(d, "logit", c(0.5, 2), "api99")
  expect_gt(qw_rel(f1$w, f0$w), 1e-3)
})

test_that("q as a column name or formula gives the same weights as the vector", {
  d <- qw_data()
  tg <- list(stype = c(E = 4421, H = 755, M = 1018), api99 = 1.02 * sum(d$pw * d$api99))
  a <- wt_calibrate(d, tg, weights = "pw", method = "raking", q = d$qv)
  b <- wt_calibrate(d, tg, weights = "pw", method = "raking", q = "qv")
  cc <- wt_calibrate(d, tg, weights = "pw", method = "raking", q = ~qv)
  expect_identical(as.numeric(a), as.numeric(b))
  expect_identical(as.numeric(a), as.numeric(cc))
  # q = 1 everywhere is no q
  e <- wt_calibrate(d, tg, weights = "pw", method = "raking", q = rep(1, nrow(d)))
  n <- wt_calibrate(d, tg, weights = "pw", method = "raking")
  expect_lt(qw_rel(e, n), 1e-12)
})

test_that("q: tab()'s calibration-adjusted SEs match survey's", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- qw_data()
  for (cs in list(list("linear", c(-Inf, Inf)), list("logit", c(0.5, 2)),
                  list("raking", c(-Inf, Inf)))) {
    for (nums in list("api99", character())) {
      f <- qw_fit(d, cs[[1]], cs[[2]], nums)
      t <- as.data.frame(tab(f$des(), "y", cols = "sch.wide", min_base = 0, adjust = "none"))
      tot <- t[t$col_var == "Total", ]
      ref <- 100 * survey::SE(survey::svymean(~y, f$cal))[paste0("y", tot$row)]
      expect_lt(qw_rel(tot$se, ref), 1e-8)
      by <- survey::svyby(~y, ~sch.wide, f$cal, survey::svymean)
      for (r in levels(d$y)) {
        got <- t[t$col_var == "sch.wide" & t$row == r, ]
        got <- got[match(by$sch.wide, got$col), ]
        expect_lt(qw_rel(got$se, 100 * by[[paste0("se.y", r)]]), 1e-8)
      }
    }
  }
})

test_that("q: the linear method without bounds residualises with w0 / q (survey's regcalibrate)", {
  skip_if_not_installed("survey")
  d <- qw_data()
  f <- qw_fit(d, "linear", c(-Inf, Inf), "api99")
  # the SE differs from the one that ignores q in the residuals: the test
  # above is not vacuous on this route
  cl <- attr(f$w, "umfrage")$calibration
  expect_identical(cl$q, d$qv)
  t <- as.data.frame(tab(f$des(), "y", min_base = 0))
  cl2 <- cl
  cl2$q <- NULL
  w2 <- f$w
  a <- attr(w2, "umfrage")
  a$calibration <- cl2
  attr(w2, "umfrage") <- a
  t2 <- as.data.frame(tab(svy_design(d, weights = w2, strata = ~stype, fpc = ~fpc), "y",
                          min_base = 0))
  expect_gt(qw_rel(t$se, t2$se), 1e-6)
})

test_that("bad q: NA, <= 0, infinite, wrong length, non-numeric, unknown column", {
  d <- qw_data()
  tg <- list(stype = c(E = 4421, H = 755, M = 1018), api99 = 1.02 * sum(d$pw * d$api99))
  cal <- function(q) wt_calibrate(d, tg, weights = "pw", q = q)
  bad <- d$qv
  bad[c(9, 3)] <- NA
  expect_error(cal(bad), "'q' must be positive and finite in every row; 2 value\\(s\\) are not \\(first at row 3: NA\\)")
  bad <- d$qv
  bad[5] <- 0
  expect_error(cal(bad), "'q' .*first at row 5: 0")
  bad[5] <- -1
  expect_error(cal(bad), "'q' .*first at row 5: -1")
  bad[5] <- Inf
  expect_error(cal(bad), "'q' .*first at row 5: Inf")
  expect_error(cal(d$qv[-1]), "'q' has length 199 but 'data' has 200 rows")
  expect_error(cal(as.character(d$qv)), "'q' must be numeric or the name of one column")
  expect_error(cal(factor(d$stype)), "'q' must be numeric")
  expect_error(cal("nope"), "'q' names column 'nope', which is not in 'data'")
  expect_error(cal("stype"), "'q' must be numeric")
  expect_error(cal(rep(TRUE, nrow(d))), "'q' must be numeric")
})

test_that("as_svydesign() hands q to survey as variance =: same weights, same SEs", {
  skip_if_not_installed("survey")
  data(api, package = "survey")
  q <- apistrat$enroll / mean(apistrat$enroll)
  pop <- list(stype = c(E = 4421, H = 755, M = 1018))
  w <- wt_calibrate(apistrat, pop, weights = "pw", method = "linear", q = q)
  des <- svy_design(apistrat, weights = w, strata = ~stype, fpc = ~fpc)
  s <- expect_silent(as_svydesign(des))
  expect_lt(max(abs(stats::weights(s) - w) / w), 1e-8)
  # independent: survey's own calibration with variance = q
  s0 <- survey::svydesign(ids = ~1, strata = ~stype, fpc = ~fpc, weights = ~pw, data = apistrat)
  sc <- survey::calibrate(s0, ~stype, c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018),
                          variance = q)
  expect_equal(as.vector(stats::weights(s)), as.vector(stats::weights(sc)), tolerance = 1e-10)
  se_s <- 100 * as.vector(survey::SE(survey::svymean(~awards, sc)))
  t1 <- tab(des, "awards")
  expect_equal(t1$cells$se[t1$cells$col == "Total"], se_s, tolerance = 1e-8)
})
