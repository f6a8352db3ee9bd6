# wt_calibrate() against survey::calibrate(), wt_trim() against
# survey::trimWeights(), on the same data.

calib_data <- function(seed, n = 800) {
  set.seed(seed)
  d <- data.frame(sex = sample(c("f", "m"), n, TRUE, prob = c(0.6, 0.4)),
                  age = sample(c("a", "b", "c"), n, TRUE, prob = c(0.2, 0.3, 0.5)),
                  reg = sample(c("N", "S", "E"), n, TRUE),
                  stringsAsFactors = FALSE)
  d$inc <- stats::rlnorm(n, 7, 0.4) * (1 + (d$age == "c"))
  d$hh <- stats::rpois(n, 1.5) + 1
  d$w0 <- stats::runif(n, 5, 15)
  d$y <- cut(stats::rnorm(n) + (d$age == "c") + d$inc / 3000, c(-Inf, 0.5, 1.5, Inf),
             labels = c("lo", "mid", "hi"))
  d$g <- ifelse(stats::runif(n) < 0.5, "x", "z")
  d
}

# targets near the sample's own (scaled) totals, shifted so calibration works
calib_targets <- function(d, T = 10000) {
  list(sex = c(f = 0.52, m = 0.48) * T, age = c(a = 0.25, b = 0.3, c = 0.45) * T,
       reg = c(N = 0.3, S = 0.3, E = 0.4) * T,
       inc = 1.02 * sum(d$w0 * d$inc) * T / sum(d$w0),
       hh = 0.97 * sum(d$w0 * d$hh) * T / sum(d$w0))
}
calib_pop <- function(tg, numeric = TRUE) {
  T <- sum(tg$sex)
  p <- c(`(Intercept)` = T, sexm = tg$sex[["m"]], ageb = tg$age[["b"]], agec = tg$age[["c"]],
         regN = tg$reg[["N"]], regS = tg$reg[["S"]])
  if (numeric) p <- c(p, inc = tg$inc, hh = tg$hh)
  p
}

survey_cal <- function(d, w0, formula, pop, calfun, bounds) {
  s <- survey::svydesign(ids = ~1, weights = w0, data = d)
  survey::calibrate(s, formula, pop, calfun = calfun, bounds = bounds, epsilon = 1e-13,
                    maxit = 500)
}

test_that("weights equal survey::calibrate for linear, raking and logit, with and without bounds", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")  # survey::calibrate() needs it
  d <- calib_data(1)
  tg <- calib_targets(d)
  cases <- list(list("linear", c(-Inf, Inf)), list("linear", c(0.6, 1.6)),
                list("raking", c(-Inf, Inf)), list("raking", c(0.6, 1.6)),
                list("logit", c(0.5, 2)), list("logit", c(0.3, 3)))
  for (w0 in list(rep(12.5, nrow(d)), d$w0 * 10000 / sum(d$w0))) {
    for (cs in cases) {
      # categorical and numeric auxiliaries together
      w <- wt_calibrate(d, tg, weights = w0, method = cs[[1]], bounds = cs[[2]], epsilon = 1e-13)
      ref <- survey_cal(d, w0, ~sex + age + reg + inc + hh, calib_pop(tg), cs[[1]], cs[[2]])
      expect_lt(rel_err(w, weights(ref)), 1e-8)
      g <- as.numeric(w) / w0
      expect_true(all(g >= cs[[2]][1] - 1e-9 & g <= cs[[2]][2] + 1e-9))
      # the totals are met
      expect_lt(rel_err(c(sum(w * d$inc), sum(w * d$hh)), c(tg$inc, tg$hh)), 1e-10)
      expect_lt(rel_err(tapply(w, d$age, sum)[c("a", "b", "c")], tg$age), 1e-10)
      # categorical margins only
      wc <- wt_calibrate(d, tg[c("sex", "age", "reg")], weights = w0, method = cs[[1]],
                         bounds = cs[[2]], epsilon = 1e-13)
      refc <- survey_cal(d, w0, ~sex + age + reg, calib_pop(tg, FALSE), cs[[1]], cs[[2]])
      expect_lt(rel_err(wc, weights(refc)), 1e-8)
    }
  }
})

test_that("raking calibration on margins equals wt_rake()", {
  d <- calib_data(2)
  tg <- calib_targets(d)[c("sex", "age", "reg")]
  w1 <- wt_calibrate(d, tg, weights = "w0", method = "raking", epsilon = 1e-13)
  w2 <- wt_rake(d, tg, weights = "w0", epsilon = 1e-13)
  expect_lt(rel_err(w1, w2), 1e-9)
  # proportions are scaled to the sum of the starting weights, or to total
  tp <- lapply(tg, function(t) t / sum(t))
  w3 <- wt_calibrate(d, tp, weights = "w0", method = "raking", epsilon = 1e-13)
  expect_equal(sum(w3), sum(d$w0), tolerance = 1e-10)
  w4 <- wt_calibrate(d, tp, weights = "w0", method = "raking", total = 10000, epsilon = 1e-13)
  expect_lt(rel_err(w4, w2), 1e-9)
})

test_that("diagnostics: iterations, convergence, g range, achieved totals", {
  d <- calib_data(3)
  tg <- calib_targets(d)
  w <- wt_calibrate(d, tg, weights = d$w0 * 10000 / sum(d$w0), method = "logit", bounds = c(0.3, 3))
  s <- wt_summary(w)
  expect_true(s$stats$converged)
  expect_identical(s$stats$method, "calibrate")
  g <- as.numeric(w) / (d$w0 * 10000 / sum(d$w0))
  expect_equal(attr(w, "umfrage")$g_range, range(g), tolerance = 1e-12)
  m <- s$margins
  expect_equal(m$achieved[m$variable == "inc"], sum(w * d$inc), tolerance = 1e-10)
  expect_equal(m$target[m$variable == "age"], unname(tg$age))
  expect_output(print(s), "logit calibration within bounds \\[0.3, 3\\]")
  expect_output(print(w), "wt_calibrate")
})

test_that("calibrated weights carry their margins: SEs equal svymean on survey::calibrate", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- calib_data(4)
  tg <- calib_targets(d)[c("sex", "age", "reg")]
  w0 <- d$w0 * 10000 / sum(d$w0)
  for (cs in list(list("logit", c(0.5, 2)), list("linear", c(-Inf, Inf)))) {
    w <- wt_calibrate(d, tg, weights = w0, method = cs[[1]], bounds = cs[[2]], epsilon = 1e-13)
    ref <- survey_cal(d, w0, ~sex + age + reg, calib_pop(c(tg, list(inc = 0, hh = 0)), FALSE),
                      cs[[1]], cs[[2]])
    t <- as.data.frame(tab(d, "y", cols = "g", weights = w))
    tot <- t[t$col_var == "Total", ]
    expect_lt(rel_err(tot$se, 100 * survey::SE(survey::svymean(~y, ref))[paste0("y", tot$row)]), 1e-8)
    by <- survey::svyby(~y, ~g, ref, survey::svymean)
    got <- t[t$col == "z", ]
    expect_lt(rel_err(got$se, 100 * unlist(by[by$g == "z", paste0("se.y", got$row)])), 1e-8)
  }
  # numeric auxiliaries: the variance regresses on them too (issue 16)
  tgn <- calib_targets(d)
  wn <- wt_calibrate(d, tgn, weights = w0, epsilon = 1e-13)
  refn <- survey_cal(d, w0, ~sex + age + reg + inc + hh, calib_pop(tgn), "linear", c(-Inf, Inf))
  expect_no_warning(tn <- as.data.frame(tab(d, "y", weights = wn)))
  expect_lt(rel_err(tn$se, 100 * survey::SE(survey::svymean(~y, refn))[paste0("y", tn$row)]), 1e-8)
})

test_that("bad input: absent levels, collinearity, unreachable bounds, NA, non-finite", {
  d <- calib_data(5)
  tg <- calib_targets(d)
  w0 <- d$w0 * 10000 / sum(d$w0)
  expect_error(wt_calibrate(d, c(tg[c("sex", "age")], list(reg = c(N = 3000, S = 3000, E = 3000, X = 1000))), weights = w0),
               "target level\\(s\\) 'X' of 'reg' have a positive target but no respondents")
  d$inc2 <- 2 * d$inc
  expect_error(wt_calibrate(d, c(tg, list(inc2 = 2 * tg$inc)), weights = w0),
               "collinear auxiliaries: numeric 'inc', 'inc2' are linearly dependent")
  d$one <- 1
  expect_error(wt_calibrate(d, c(tg, list(one = 10000)), weights = w0),
               "numeric 'one' is linearly dependent on the margins' level indicators")
  expect_error(wt_calibrate(d, tg, weights = w0, method = "logit", bounds = c(0.95, 1.05)),
               "bounds c\\(0.95, 1.05\\) make the targets unreachable: level '.*' of '.*' needs a total of")
  expect_error(wt_calibrate(d, tg, weights = w0, method = "linear", bounds = c(0.99, 1.01)),
               "make the targets unreachable|cannot meet the targets within bounds")
  expect_error(wt_calibrate(d, tg, bounds = c(1.2, 3)), "'bounds' = c\\(1.2, 3\\) must contain 1")
  expect_error(wt_calibrate(d, tg, method = "logit"), "needs finite 'bounds' with lower < 1 < upper")
  expect_error(wt_calibrate(d, tg, bounds = "a"), "'bounds' must be two numbers")
  d2 <- d
  d2$inc[7] <- NA
  expect_error(wt_calibrate(d2, tg), "numeric auxiliary 'inc' holds 1 NA or infinite value\\(s\\) \\(first at row 7\\)")
  expect_error(wt_calibrate(d, c(tg[1:3], list(inc = Inf))), "total of numeric auxiliary 'inc' must be finite")
  expect_error(wt_calibrate(d, list(sex = c(f = 1, m = NA))), "targets for 'sex' contain NA")
  d3 <- d
  d3$sex[2] <- NA
  expect_error(wt_calibrate(d3, tg), "variable 'sex' has 1 NA value\\(s\\) \\(first at row 2\\)")
  expect_error(wt_calibrate(d, list(sex = c(f = 5000)), weights = w0),
               "level\\(s\\) 'm' of 'sex' occur in [0-9]+ row\\(s\\) of 'data' but have no target")
  expect_error(wt_calibrate(d, tg, weights = -w0), "'weights' holds 800 negative value")
  expect_error(wt_calibrate(d, tg, method = "nope"), "'arg' should be one of")
  # a target of 0 that raking cannot reach (g > 0)
  expect_error(wt_calibrate(d, list(sex = c(f = 10000, m = 0)), weights = w0, method = "raking"),
               "method 'raking' keeps g above 0")
})

test_that("wt_trim equals survey::trimWeights(strict = TRUE) and keeps the total", {
  skip_if_not_installed("survey")
  set.seed(6)
  d <- data.frame(y = stats::rnorm(500))
  w <- stats::rlnorm(500, 2, 0.7)
  s <- survey::svydesign(ids = ~1, weights = w, data = d)
  for (b in list(c(2, 20), c(4, 15), c(-Inf, 12))) {
    ref <- weights(survey::trimWeights(s, lower = b[1], upper = b[2], strict = TRUE))
    got <- wt_trim(w, lower = if (is.finite(b[1])) b[1], upper = b[2])
    expect_lt(rel_err(got, ref), 1e-10)
    expect_equal(sum(got), sum(w), tolerance = 1e-12)
    expect_true(all(got <= b[2] + 1e-9 & got >= b[1] - 1e-9))
  }
  # relative bounds: multiples of the mean weight
  got <- wt_trim(w, upper = 2.5, relative = TRUE)
  ref <- weights(survey::trimWeights(s, upper = 2.5 * mean(w), strict = TRUE))
  expect_lt(rel_err(got, ref), 1e-10)
  # without keeping the total: plain capping
  expect_equal(as.numeric(wt_trim(w, upper = 10, keep_total = FALSE)), pmin(w, 10))
  # zero weights stay zero
  w0 <- c(0, w[-1])
  expect_identical(as.numeric(wt_trim(w0, upper = 12))[1], 0)
})

test_that("wt_trim(deff =) finds the smallest trimming that meets the design effect", {
  set.seed(7)
  w <- stats::rlnorm(2000, 0, 0.9)
  kish <- function(v) length(v) * sum(v^2) / sum(v)^2
  expect_gt(kish(w), 1.5)
  t <- wt_trim(w, deff = 1.5)
  expect_lt(abs(kish(t) - 1.5), 1e-6)
  expect_equal(sum(t), sum(w), tolerance = 1e-12)
  # the bound found is the largest that meets it: a slightly larger bound
  # trims less and misses the target
  up <- attr(t, "umfrage")$upper
  expect_gt(kish(wt_trim(w, upper = up * 1.001)), 1.5)
  expect_equal(as.numeric(wt_trim(w, upper = up)), as.numeric(t))
  # already below: nothing to trim
  t2 <- wt_trim(w, deff = 10)
  expect_equal(as.numeric(t2), w)
  expect_output(print(wt_summary(t)), "trimming: .* outside .* design effect 1.5")
})

test_that("wt_trim bad input", {
  w <- c(1, 2, 3, 10)
  expect_error(wt_trim(w), "give 'lower', 'upper' or 'deff'")
  expect_error(wt_trim("a", upper = 2), "'w' must be a non-empty numeric vector")
  expect_error(wt_trim(c(1, NA), upper = 2), "'w' holds 1 NA value")
  expect_error(wt_trim(c(1, -1), upper = 2), "'w' holds 1 negative value")
  expect_error(wt_trim(w, upper = 1), "'upper' = 1 is below the mean positive weight 4")
  expect_error(wt_trim(w, lower = 5), "'lower' = 5 is above the mean positive weight 4")
  expect_error(wt_trim(w, lower = 3, upper = 2), "'lower' \\(3\\) must not exceed 'upper' \\(2\\)")
  expect_error(wt_trim(w, deff = 0.5), "'deff' must be a single finite number >= 1")
  expect_error(wt_trim(w, upper = 5, keep_total = NA), "'keep_total' must be TRUE or FALSE")
})
