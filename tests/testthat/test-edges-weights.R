# Edge cases of weights objects (issue 12): stale calibration state, how
# targets are read (shares, percents, totals), unclear errors, and
# as_svydesign() of calibrated weights.

ew_data <- function(seed = 1, n = 600) {
  set.seed(seed)
  d <- data.frame(sex = sample(c("f", "m"), n, TRUE, prob = c(0.6, 0.4)),
                  age = sample(c("a", "b", "c"), n, TRUE),
                  stringsAsFactors = FALSE)
  d$w0 <- runif(n, 0.5, 2)
  # an outcome tied to the margins, so the calibration matters for the SE
  d$y <- ifelse(runif(n) < ifelse(d$sex == "f", 0.2, 0.7) + 0.1 * (d$age == "c"), "yes", "no")
  d$k <- sample(1:3, n, TRUE)  # an unrelated ordering key
  d
}
ew_targets <- list(sex = c(f = 0.5, m = 0.5), age = c(a = 0.3, b = 0.3, c = 0.4))
ew_pop <- function(T) c(`(Intercept)` = T, sexm = 0.5 * T, ageb = 0.3 * T, agec = 0.4 * T)

se_yes <- function(t) {
  t <- as.data.frame(t)
  t$se[t$row == "yes" & t$col_var == "Total"]
}
fixed_se <- function(d, w) {
  s <- survey::svydesign(ids = ~1, weights = ~wf, data = transform(d, wf = as.numeric(w)))
  100 * unname(survey::SE(survey::svymean(~y, s))["yyes"])
}

# ---- stale calibration state -------------------------------------------------

test_that("data.table::setorder() on raked weights: tab() warns and treats them as fixed", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  skip_if_not_installed("data.table")
  d <- ew_data(1)
  T <- 6000
  d$w <- wt_rake(d, ew_targets, weights = "w0", total = T, epsilon = 1e-13)
  s0 <- survey::svydesign(ids = ~1, weights = ~w0, data = d)
  cal <- survey::calibrate(s0, ~sex + age, ew_pop(T), calfun = "raking", epsilon = 1e-13, maxit = 200)
  se_cal <- 100 * unname(survey::SE(survey::svymean(~y, cal))["yyes"])
  # before the reorder: the calibrated SE
  expect_lt(rel_err(se_yes(tab(d, "y", weights = "w")), se_cal), 1e-8)
  dt <- data.table::as.data.table(d)
  data.table::setorder(dt, k, y)
  expect_s3_class(dt$w, "umfrage_weights")  # setorder keeps the attributes
  expect_warning(t <- tab(dt, "y", weights = "w"),
                 "calibration stored on the weights no longer fits.*treating the weights as fixed")
  expect_lt(rel_err(se_yes(t), fixed_se(as.data.frame(dt), dt$w)), 1e-8)
  # the same through an svy_design()
  expect_warning(t2 <- tab(svy_design(dt, weights = "w"), "y"), "no longer fits")
  expect_lt(rel_err(se_yes(t2), fixed_se(as.data.frame(dt), dt$w)), 1e-8)
  # print() and wt_summary() no longer claim convergence
  expect_output(print(dt$w), "changed after wt_rake\\(\\)")
  expect_false(any(grepl("converged", capture.output(print(dt$w)))))
  s <- wt_summary(dt$w)
  expect_true(is.na(s$stats$converged))
  expect_null(s$margins)
  expect_false(any(grepl("converged", capture.output(print(s)))))
})

test_that("rows reordered under unchanged weights: the cell check catches it", {
  skip_if_not_installed("survey")
  d <- ew_data(2)
  w <- wt_rake(d, ew_targets, weights = "w0", total = 6000, epsilon = 1e-13)
  d2 <- d[order(d$k, d$y), ]
  expect_warning(t <- tab(d2, "y", weights = w),
                 "not constant within the calibration cells.*treating the weights as fixed")
  expect_lt(rel_err(se_yes(t), fixed_se(d2, w)), 1e-8)
})

test_that("pmin(), pmax(), [[<- and in-place changes drop or invalidate the calibration", {
  skip_if_not_installed("survey")
  d <- ew_data(3)
  w <- wt_rake(d, ew_targets, weights = "w0", epsilon = 1e-13)
  cap <- unname(quantile(as.numeric(w), 0.8))
  wp <- pmin(w, cap)
  expect_false(any(grepl("converged", capture.output(print(wp)))))
  expect_true(is.na(wt_summary(wp)$stats$converged))
  expect_warning(t <- tab(d, "y", weights = wp), "no longer fits")
  expect_lt(rel_err(se_yes(t), fixed_se(d, wp)), 1e-8)
  wq <- pmax(w, cap)
  expect_true(is.na(wt_summary(wq)$stats$converged))
  # element replacement gives plain numbers
  w2 <- w
  w2[[3]] <- 5
  expect_false(inherits(w2, "umfrage_weights"))
  expect_null(attributes(w2))
  d$w <- w
  d$w[[4]] <- 5
  expect_false(inherits(d$w, "umfrage_weights"))
  expect_identical(w[[2]], as.numeric(w)[2])
  expect_null(attributes(c(w, w)))
  expect_null(attributes(rep(w, 2)))
  expect_null(attributes(rev(w)))
  expect_null(attributes(sort(w)))
  expect_null(attributes(ifelse(w > 1, w, 1)))
  # in place, keeping the attributes (as data.table::set() does)
  w3 <- w
  attrs <- attributes(w3)
  v <- as.numeric(w3)
  v[7] <- v[7] * 1.5
  attributes(v) <- attrs
  expect_true(is.na(wt_summary(v)$stats$converged))
  expect_warning(tab(d, "y", weights = v), "no longer fits")
})

test_that("dplyr::arrange() and data frame reordering give plain weights", {
  skip_if_not_installed("dplyr")
  skip_if_not_installed("tibble")
  d <- ew_data(4)
  d$w <- wt_rake(d, ew_targets, weights = "w0")
  a <- dplyr::arrange(tibble::as_tibble(d), k)
  expect_null(attr(a$w, "umfrage"))
  expect_null(attr(d[order(d$k), ]$w, "umfrage"))
  expect_no_warning(tab(a, "y", weights = "w"))
})

test_that("poststratified and calibrated weights are checked too, with numeric auxiliaries", {
  skip_if_not_installed("data.table")
  d <- ew_data(5)
  pop <- data.frame(sex = c("f", "m"), Freq = c(3000, 3000))
  d$wp <- wt_poststrat(d, pop, weights = "w0")
  d$wc <- wt_calibrate(d, list(sex = c(f = 3000, m = 3000), age = c(a = 1800, b = 1800, c = 2400)),
                       weights = d$w0 * 10, method = "logit", bounds = c(0.5, 2))
  expect_no_warning(tab(d, "y", weights = "wp"))
  expect_no_warning(tab(d, "y", weights = "wc"))
  dt <- data.table::as.data.table(d)
  data.table::setorder(dt, k)
  expect_warning(tab(dt, "y", weights = "wp"), "no longer fits")
  expect_warning(tab(dt, "y", weights = "wc"), "no longer fits")
  d$x <- rnorm(nrow(d), 10)
  wn <- wt_calibrate(d, list(sex = c(f = 3000, m = 3000), x = sum(d$x * d$w0 * 10)), weights = d$w0 * 10,
                    method = "raking")
  expect_no_warning(tab(d, "y", weights = wn))
  dn <- data.table::as.data.table(d)
  data.table::setorder(dn, k)
  expect_warning(tab(dn, "y", weights = wn), "no longer fits")
})

test_that("capped raking with unequal starting weights is still calibrated in tab()", {
  d <- ew_data(6)
  w <- wt_rake(d, ew_targets, weights = "w0", cap = 1.8)
  expect_no_warning(t <- tab(d, "y", weights = w))
  expect_true(t$calibrated)
})

# ---- as_svydesign() of calibrated weights --------------------------------------

svy_case <- function(seed = 7, n = 800) {
  set.seed(seed)
  d <- data.frame(sex = sample(c("f", "m"), n, TRUE, prob = c(0.6, 0.4)),
                  age = sample(c("a", "b", "c"), n, TRUE), st = rep(1:2, n / 2),
                  stringsAsFactors = FALSE)
  d$psu <- paste(d$st, sample(1:10, n, TRUE))
  d$w0 <- runif(n, 0.5, 2) * 10
  d$y <- ifelse(runif(n) < ifelse(d$sex == "f", 0.3, 0.6), "yes", "no")
  d
}
svy_agree <- function(d, w) {
  des <- svy_design(d, weights = w, strata = ~st, cluster = ~psu)
  s <- as_svydesign(des)
  expect_lt(rel_err(stats::weights(s), w), 1e-8)
  se_s <- 100 * unname(survey::SE(survey::svymean(~y, s))["yyes"])
  expect_lt(rel_err(se_yes(tab(des, "y")), se_s), 1e-8)
  # and both differ from the fixed-weights design
  s_fixed <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~wf, data = transform(d, wf = as.numeric(w)))
  expect_gt(rel_err(se_s, 100 * unname(survey::SE(survey::svymean(~y, s_fixed))["yyes"])), 1e-4)
  # the independent reference: survey's own calibration of the starting weights
  invisible(s)
}

test_that("as_svydesign() of raked weights is calibrated: survey's SE equals tab()'s", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- svy_case()
  T <- 8000
  w <- wt_rake(d, list(sex = c(f = 0.5, m = 0.5), age = c(a = 0.3, b = 0.3, c = 0.4)),
               weights = "w0", total = T, epsilon = 1e-13)
  s <- svy_agree(d, w)
  s0 <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = d)
  ref <- survey::calibrate(s0, ~sex + age, ew_pop(T), calfun = "raking", epsilon = 1e-13, maxit = 200)
  expect_lt(rel_err(survey::SE(survey::svymean(~y, s)), survey::SE(survey::svymean(~y, ref))), 1e-8)
})

test_that("as_svydesign() of post-stratified weights equals survey::postStratify()", {
  skip_if_not_installed("survey")
  d <- svy_case(8)
  pop <- data.frame(expand.grid(sex = c("f", "m"), age = c("a", "b", "c"), stringsAsFactors = FALSE),
                    Freq = c(1000, 900, 1200, 1100, 2000, 1800))
  w <- wt_poststrat(d, pop, weights = "w0")
  s <- svy_agree(d, w)
  s0 <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = d)
  ref <- survey::postStratify(s0, ~sex + age, pop)
  expect_lt(rel_err(survey::SE(survey::svymean(~y, s)), survey::SE(survey::svymean(~y, ref))), 1e-8)
})

test_that("as_svydesign() of wt_calibrate() weights: linear and logit, as survey::calibrate()", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- svy_case(9)
  tg <- list(sex = c(f = 4000, m = 4000), age = c(a = 2400, b = 2400, c = 3200))
  s0 <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = d)
  for (cs in list(list("linear", c(-Inf, Inf)), list("linear", c(0.5, 2)), list("logit", c(0.5, 2)))) {
    w <- wt_calibrate(d, tg, weights = "w0", method = cs[[1]], bounds = cs[[2]], epsilon = 1e-13)
    s <- svy_agree(d, w)
    ref <- survey::calibrate(s0, ~sex + age, ew_pop(8000), calfun = cs[[1]], bounds = cs[[2]],
                             epsilon = 1e-13, maxit = 200)
    expect_lt(rel_err(survey::SE(survey::svymean(~y, s)), survey::SE(survey::svymean(~y, ref))), 1e-8)
  }
})

test_that("as_svydesign() warns and keeps fixed weights when the calibration no longer fits", {
  skip_if_not_installed("survey")
  d <- svy_case(10)
  w <- wt_rake(d, list(sex = c(f = 0.5, m = 0.5)), weights = "w0")
  wp <- pmin(w, 15)
  des <- svy_design(d, weights = wp, strata = ~st, cluster = ~psu)
  expect_warning(s <- as_svydesign(des), "no longer fits")
  expect_lt(rel_err(stats::weights(s), wp), 1e-12)
  expect_null(s$postStrata)
})

# ---- how targets are read: shares, percents, totals -----------------------------

test_that("shares summing to 0.99 or 1.01 and percents summing to 100 are proportions, with a message", {
  d <- ew_data(11, n = 400)
  S0 <- sum(d$w0)
  # closed form for one margin: w = w0 * share * S0 / (sum of w0 in the level)
  closed <- function(sh) {
    sh <- sh / sum(sh)
    d$w0 * (sh[d$sex] * S0) / ave(d$w0, d$sex, FUN = sum)
  }
  for (tg in list(c(f = 0.5, m = 0.49), c(f = 0.5, m = 0.51), c(f = 50, m = 50), c(f = 49, m = 50.5))) {
    expect_message(w <- wt_rake(d, list(sex = tg), weights = "w0"), "read as (shares|percents)")
    expect_lt(rel_err(w, closed(tg)), 1e-10)
    expect_equal(sum(w), S0, tolerance = 1e-12)
    expect_message(wp <- wt_poststrat(d, list(sex = tg), weights = "w0"), "read as")
    expect_lt(rel_err(wp, closed(tg)), 1e-12)
    expect_message(wc <- wt_calibrate(d, list(sex = tg), weights = "w0", method = "raking"), "read as")
    expect_lt(rel_err(wc, closed(tg)), 1e-10)
  }
  # with total: scaled to it
  expect_message(w <- wt_rake(d, list(sex = c(f = 50, m = 51)), weights = "w0", total = 1000), "then to 1000")
  expect_equal(sum(w), 1000, tolerance = 1e-12)
  # the reading is shown by wt_summary()
  expect_output(print(wt_summary(w)), "targets read as percents \\(margin sums 101\\)")
  # exact shares: no message; totals: no message
  expect_no_message(wt_rake(d, list(sex = c(f = 0.5, m = 0.5)), weights = "w0"))
  expect_no_message(w <- wt_rake(d, list(sex = c(f = 300, m = 200)), weights = "w0"))
  expect_output(print(wt_summary(w)), "targets read as population totals \\(margin sums 500\\)")
})

test_that("totals that sum to about 100 are read as totals when 'total' says so", {
  d <- ew_data(12, n = 400)
  expect_no_message(w <- wt_rake(d, list(sex = c(f = 60, m = 40)), weights = "w0", total = 100))
  expect_equal(sum(w), 100, tolerance = 1e-12)
  expect_equal(as.vector(tapply(as.numeric(w), d$sex, sum)), c(60, 40), tolerance = 1e-12)
  expect_identical(attr(w, "umfrage")$reading$read_as, "totals")
  # shares and percents mix fine (both proportions); shares and totals do not
  expect_message(w2 <- wt_rake(d, list(sex = c(f = 0.6, m = 0.4), age = c(a = 30, b = 30, c = 40.5)), weights = "w0"),
                 "read as shares and percents")
  expect_equal(as.vector(tapply(as.numeric(w2), d$age, sum)) / sum(d$w0), c(30, 30, 40.5) / 100.5, tolerance = 1e-9)
  expect_error(wt_rake(d, list(sex = c(f = 0.6, m = 0.4), age = c(a = 300, b = 300, c = 400))),
               "mix proportions")
})

# ---- clearer errors: addNA() factors and Unicode normalisation -------------------

test_that("an addNA() factor: its NA level takes the target named \"NA\"", {
  x <- addNA(factor(rep(c("a", "b", NA), c(50, 30, 20))))
  d <- data.frame(x = x, y = rep(c("u", "v"), 50))
  w <- wt_rake(d, list(x = c(a = 0.4, b = 0.3, "NA" = 0.3)), total = 1000)
  # closed form: each level's rows share its target equally
  expect_equal(as.numeric(w), c(rep(400 / 50, 50), rep(300 / 30, 30), rep(300 / 20, 20)), tolerance = 1e-12)
  wp <- wt_poststrat(d, list(x = c(a = 400, b = 300, "NA" = 300)))
  expect_equal(as.numeric(wp), as.numeric(w), tolerance = 1e-12)
  wc <- wt_calibrate(d, list(x = c(a = 400, b = 300, "NA" = 300)))
  expect_equal(as.numeric(wc), as.numeric(w), tolerance = 1e-12)
  # without a target for it, the error says how to give one
  expect_error(wt_rake(d, list(x = c(a = 0.5, b = 0.5))),
               "level\\(s\\) 'NA' of 'x' occur in 20 row\\(s\\).*NA level of factor 'x' \\(made by addNA\\(\\)\\) takes the target named \"NA\"")
  expect_error(wt_calibrate(d, list(x = c(a = 500, b = 500))), "takes the target named \"NA\"")
  # an NA level and a level "NA" cannot both be meant
  d2 <- data.frame(x = addNA(factor(c("a", "NA", NA))))
  expect_error(wt_rake(d2, list(x = c(a = 1, "NA" = 1))), "has both an NA level .* and a level \"NA\"")
})

test_that("levels and targets that differ only in Unicode normalisation match", {
  nfc <- "K\u00f6ln"
  nfd <- "Ko\u0308ln"
  expect_false(identical(nfc, nfd))
  d <- data.frame(city = rep(c(nfd, "Bonn", "Z\u00fcrich"), c(30, 50, 20)), stringsAsFactors = FALSE)
  tg <- stats::setNames(c(300, 500, 200), c(nfc, "Bonn", "Zu\u0308rich"))
  w <- wt_rake(d, list(city = tg))
  expect_equal(as.numeric(w), rep(10, 100), tolerance = 1e-12)
  d$f <- factor(d$city)
  expect_equal(as.numeric(wt_poststrat(d, list(f = tg))), rep(10, 100), tolerance = 1e-12)
  expect_equal(as.numeric(wt_calibrate(d, list(f = tg))), rep(10, 100), tolerance = 1e-12)
  # the other way round: NFC data, NFD targets
  d2 <- data.frame(city = rep(c(nfc, "Bonn"), c(40, 60)), stringsAsFactors = FALSE)
  w2 <- wt_rake(d2, list(city = stats::setNames(c(0.5, 0.5), c(nfd, "Bonn"))))
  expect_equal(sum(w2[d2$city == nfc]), 50, tolerance = 1e-12)
  # tab() can use the calibration of such weights
  d$y <- rep(c("p", "q"), 50)
  expect_no_warning(t <- tab(d, "y", weights = w))
  expect_true(t$calibrated)
})
