# Weights from wt_rake()/wt_poststrat() carry their margins; tab() then
# uses the calibration-adjusted linearisation, as survey::calibrate() and
# survey::postStratify() do.

cal_data <- function(seed, n = 1200) {
  set.seed(seed)
  d <- data.frame(sex = sample(c("f", "m"), n, TRUE, prob = c(0.6, 0.4)),
                  age = sample(c("a", "b", "c"), n, TRUE),
                  reg = sample(c("N", "S", "E", "W"), n, TRUE),
                  st = rep(1:3, length.out = n), stringsAsFactors = FALSE)
  d$psu <- paste(d$st, sample(1:8, n, TRUE))
  d$w0 <- runif(n, 0.5, 2)
  eff <- rnorm(24)[match(d$psu, unique(d$psu))]
  d$y <- cut(eff + rnorm(n) + (d$age == "c"), c(-Inf, -0.3, 0.8, Inf), labels = c("lo", "mid", "hi"))
  d$g <- ifelse(runif(n) < 0.5, "x", "z")
  d
}
cal_targets <- list(sex = c(f = .5, m = .5), age = c(a = .3, b = .3, c = .4),
                    reg = c(N = .2, S = .3, E = .25, W = .25))
cal_pop <- function(T) c(`(Intercept)` = T, sexm = .5 * T, ageb = .3 * T, agec = .4 * T,
                         regN = .2 * T, regS = .3 * T, regW = .25 * T)

test_that("raked weights: SEs equal survey::calibrate(calfun = 'raking')", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")  # survey::calibrate() needs it
  d <- cal_data(1)
  T <- 5000
  w <- wt_rake(d, cal_targets, weights = "w0", total = T, epsilon = 1e-13)
  s0 <- survey::svydesign(ids = ~1, weights = ~w0, data = d)
  cal <- survey::calibrate(s0, ~sex + age + reg, cal_pop(T), calfun = "raking",
                           epsilon = 1e-13, maxit = 200)
  expect_lt(rel_err(w, weights(cal)), 1e-10)
  t <- as.data.frame(tab(d, "y", cols = "g", weights = w))
  tot <- t[t$col_var == "Total", ]
  expect_lt(rel_err(tot$se, 100 * survey::SE(survey::svymean(~y, cal))[paste0("y", tot$row)]), 1e-8)
  expect_lt(rel_err(tot$se_n_w, survey::SE(survey::svytotal(~y, cal))[paste0("y", tot$row)]), 1e-8)
  by <- survey::svyby(~y, ~g, cal, survey::svymean)
  for (lv in c("x", "z")) {
    got <- t[t$col == lv, ]
    expect_lt(rel_err(got$se, 100 * unlist(by[by$g == lv, paste0("se.y", got$row)])), 1e-8)
  }
  expect_lt(rel_err(t$p_value[t$col_var == "g"][1], survey::svychisq(~y + g, cal)$p.value), 1e-6)
  # CIs on a domain of the calibrated design
  ref <- survey::svyciprop(~I(y == "hi"), subset(cal, g == "x"), method = "beta")
  tk <- as.data.frame(tab(d, "y", cols = "g", weights = w, ci = "korn-graubard"))
  got <- tk[tk$col == "x" & tk$row == "hi", ]
  expect_lt(rel_err(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
  # calibration = FALSE: as fixed weights
  tf <- as.data.frame(tab(d, "y", weights = w, calibration = FALSE))
  s1 <- survey::svydesign(ids = ~1, weights = ~wr, data = transform(d, wr = as.numeric(w)))
  expect_lt(rel_err(tf$se, 100 * survey::SE(survey::svymean(~y, s1))[paste0("y", tf$row)]), 1e-8)
  expect_false(isTRUE(all.equal(tf$se, tot$se)))
})

test_that("post-stratified weights: SEs equal survey::postStratify", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")  # survey::calibrate() needs it
  d <- cal_data(2)
  pop <- data.frame(expand.grid(sex = c("f", "m"), age = c("a", "b", "c"), stringsAsFactors = FALSE),
                    Freq = c(1000, 900, 1200, 1100, 2000, 1800))
  w <- wt_poststrat(d, pop, weights = "w0")
  s0 <- survey::svydesign(ids = ~1, weights = ~w0, data = d)
  ps <- survey::postStratify(s0, ~sex + age, pop)
  expect_lt(rel_err(w, weights(ps)), 1e-12)
  t <- as.data.frame(tab(d, "y", cols = "g", weights = w))
  by <- survey::svyby(~y, ~g, ps, survey::svymean)
  got <- t[t$col == "z", ]
  expect_lt(rel_err(got$se, 100 * unlist(by[by$g == "z", paste0("se.y", got$row)])), 1e-8)
})

test_that("calibrated weights in a stratified cluster design, with NA rows and layers", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")  # survey::calibrate() needs it
  d <- cal_data(3)
  d$y[c(5, 17, 300)] <- NA
  T <- 8000
  w <- wt_rake(d, cal_targets, weights = "w0", total = T, epsilon = 1e-13)
  des <- svy_design(d, weights = w, strata = ~st, cluster = ~psu)
  s0 <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = d)
  cal <- survey::calibrate(s0, ~sex + age + reg, cal_pop(T), calfun = "raking",
                           epsilon = 1e-13, maxit = 200)
  t <- as.data.frame(tab(des, "y", cols = "g"))
  tot <- t[t$col_var == "Total", ]
  ref <- survey::svymean(~y, cal, na.rm = TRUE)
  expect_lt(rel_err(tot$se, 100 * survey::SE(ref)[paste0("y", tot$row)]), 1e-8)
  by <- survey::svyby(~y, ~g, cal, survey::svymean, na.rm = TRUE)
  got <- t[t$col == "x", ]
  expect_lt(rel_err(got$se, 100 * unlist(by[by$g == "x", paste0("se.y", got$row)])), 1e-8)
  # layers: a by variable
  tl <- as.data.frame(tab(des, "y", by = "sex"))
  byl <- survey::svyby(~y, ~sex, cal, survey::svymean, na.rm = TRUE)
  got <- tl[tl$sex == "m", ]
  expect_lt(rel_err(got$se, 100 * unlist(byl[byl$sex == "m", paste0("se.y", got$row)])), 1e-8)
})

test_that("calibrated variance needs the margin variables", {
  d <- cal_data(4)
  w <- wt_rake(d, cal_targets, weights = "w0")
  d2 <- d
  d2$reg <- NULL
  expect_error(tab(d2, "y", weights = w), "calibrated on variable\\(s\\) 'reg', which are not in 'x'; use calibration = FALSE")
  expect_s3_class(tab(d2, "y", weights = w, calibration = FALSE), "umfrage_tab")
  expect_error(tab(d, "y", weights = w, calibration = NA), "'calibration' must be TRUE or FALSE")
})
