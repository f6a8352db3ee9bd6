test_that("wt_rake matches survey::rake with equal starting weights", {
  skip_if_not_installed("survey")
  d <- sim_sample(3000, seed = 11)
  tg <- sim_targets()
  w <- wt_rake(d, tg, total = 1e6)
  ref <- survey_rake(d, tg, total = 1e6)
  expect_lt(rel_diff(w, ref), 1e-8)
  expect_true(attr(w, "umfrage")$converged)
  expect_equal(sum(w), 1e6, tolerance = 1e-12)
})

test_that("wt_rake matches survey::rake with unequal starting weights", {
  skip_if_not_installed("survey")
  for (seed in 1:3) {
    d <- sim_sample(1500 + 500 * seed, seed = seed, weights = TRUE)
    tg <- sim_targets()[c("age", "sex", "region")]
    w <- wt_rake(d, tg, weights = d$w0)
    ref <- survey_rake(d, tg, w0 = d$w0)
    expect_lt(rel_diff(w, ref), 1e-8)
    # proportions are scaled to the sum of the starting weights
    expect_equal(sum(w), sum(d$w0), tolerance = 1e-12)
  }
})

test_that("the margins are met to epsilon, checked with base R", {
  d <- sim_sample(5000, seed = 3, weights = TRUE)
  tg <- sim_targets()
  w <- wt_rake(d, tg, weights = ~w0, total = 5000, epsilon = 1e-12)
  for (v in names(tg)) {
    got <- wmargin(w, d[[v]])
    want <- tg[[v]][names(got)] * 5000
    expect_lt(max(abs(got - want) / want), 1e-11)
  }
  s <- wt_summary(w)
  expect_lte(s$stats$max_error, 1e-12)
})

test_that("totals, proportions, long data frames and totals argument agree", {
  d <- sim_sample(2000, seed = 4)
  tg <- sim_targets()
  tot <- lapply(tg, function(p) p * 2500)
  a <- wt_rake(d, tg, total = 2500)
  b <- wt_rake(d, tot)
  long <- do.call(rbind, lapply(names(tot), function(v)
    data.frame(variable = v, level = names(tot[[v]]), target = unname(tot[[v]]))))
  c <- wt_rake(d, long)
  expect_lt(rel_diff(a, b), 1e-12)
  expect_lt(rel_diff(a, c), 1e-12)
  expect_equal(sum(b), 2500, tolerance = 1e-12)
})

test_that("cells and rows modes give the same weights, and rows are used when cells are too many", {
  d <- sim_sample(4000, seed = 5, weights = TRUE)
  tg <- sim_targets()
  old <- options(umfrage.rake_mode = "rows")
  on.exit(options(old))
  r <- wt_rake(d, tg, weights = "w0")
  options(umfrage.rake_mode = "cells")
  c <- wt_rake(d, tg, weights = "w0")
  options(old)
  expect_equal(attr(r, "umfrage")$mode, "rows")
  expect_equal(attr(c, "umfrage")$mode, "cells")
  expect_lt(rel_diff(r, c), 1e-10)

  # three variables of 300 levels each: 2.7e7 cells for 3000 rows
  set.seed(6)
  n <- 3000
  big <- data.frame(a = sample(sprintf("a%03d", 1:300), n, TRUE),
                    b = sample(sprintf("b%03d", 1:300), n, TRUE),
                    c = sample(sprintf("c%03d", 1:300), n, TRUE))
  tgb <- lapply(big, function(x) {
    tab <- table(x)
    stats::setNames(as.vector(tab) * runif(length(tab), 0.8, 1.25), names(tab))
  })
  tgb <- lapply(tgb, function(t) t / sum(t))
  wb <- wt_rake(big, tgb)
  expect_equal(attr(wb, "umfrage")$mode, "rows")
  for (v in names(tgb)) {
    got <- wmargin(wb, big[[v]])
    want <- tgb[[v]][names(got)] * n
    expect_lt(max(abs(got - want) / want), 1e-9)
  }
})

test_that("joint margins match survey::rake with a two-variable margin", {
  skip_if_not_installed("survey")
  d <- sim_sample(3000, seed = 7, weights = TRUE)
  joint <- expand.grid(sex = c("f", "m"), age = levels(d$age), stringsAsFactors = FALSE)
  joint$target <- c(10, 9, 14, 13, 18, 17, 12, 11) / 104
  tg <- list(joint, region = sim_targets()$region)
  w <- wt_rake(d, tg, weights = "w0")
  T <- sum(d$w0)
  des <- survey::svydesign(ids = ~1, weights = ~w0, data = d)
  pj <- data.frame(sex = joint$sex, age = joint$age, Freq = joint$target * T)
  pr <- data.frame(region = 1:5, Freq = rep(0.2, 5) * T)
  r <- survey::rake(des, list(~sex + age, ~region), list(pj, pr),
                    control = list(maxit = 500, epsilon = 1e-12 * T))
  expect_lt(rel_diff(w, weights(r)), 1e-8)
})

test_that("factor, character, integer, logical and labelled margins give the same weights", {
  d <- sim_sample(2000, seed = 8)
  tg <- list(sex = c(f = 0.5, m = 0.5), region = sim_targets()$region)
  base <- wt_rake(d, tg)
  d2 <- d
  d2$sex <- factor(d2$sex, levels = c("m", "f"))
  d2$region <- as.integer(d2$region)
  expect_lt(rel_diff(wt_rake(d2, tg), base), 1e-12)
  d3 <- d
  d3$sex <- d3$sex == "f"
  tg3 <- list(sex = c("TRUE" = 0.5, "FALSE" = 0.5), region = tg$region)
  expect_lt(rel_diff(wt_rake(d3, tg3), base), 1e-12)
  # haven-style labelled: values 1/2 with value labels, targets by label or value
  d4 <- d
  d4$sex <- structure(ifelse(d$sex == "f", 1, 2), labels = c(female = 1, male = 2),
                      label = "Sex", class = c("haven_labelled", "vctrs_vctr", "double"))
  tg4 <- list(sex = c(female = 0.5, male = 0.5), region = tg$region)
  expect_lt(rel_diff(wt_rake(d4, tg4), base), 1e-12)
  tg5 <- list(sex = c("1" = 0.5, "2" = 0.5), region = tg$region)
  expect_lt(rel_diff(wt_rake(d4, tg5), base), 1e-12)
})

test_that("a zero target gives weight 0; zero starting weights stay 0", {
  d <- sim_sample(2000, seed = 9, weights = TRUE)
  d$w0[1:50] <- 0
  tg <- sim_targets()
  tg$region <- c("1" = 0.25, "2" = 0.25, "3" = 0, "4" = 0.25, "5" = 0.25)
  w <- wt_rake(d, tg, weights = "w0")
  expect_true(all(w[d$region == 3] == 0))
  expect_true(all(w[1:50] == 0))
  got <- wmargin(w, d$sex)
  expect_lt(max(abs(got / sum(d$w0) - tg$sex[names(got)])), 1e-9)
  # an empty factor level needs no target
  d$age <- factor(d$age, levels = c(levels(d$age), "100+"))
  expect_silent(wt_rake(d, tg, weights = "w0"))
})

test_that("cap bounds weight / mean weight and keeps the margins", {
  d <- sim_sample(3000, seed = 10)
  tg <- list(sex = c(f = 0.3, m = 0.7), age = c("18-29" = 0.3, "30-44" = 0.3, "45-64" = 0.25, "65+" = 0.15))
  free <- wt_rake(d, tg)
  expect_gt(max(free) / mean(free), 4)
  w <- wt_rake(d, tg, cap = 3.5)
  expect_lte(max(w) / mean(w), 3.5 * (1 + 1e-9))
  for (v in names(tg)) {
    got <- wmargin(w, d[[v]])
    expect_lt(max(abs(got / 3000 - tg[[v]][names(got)]) / tg[[v]][names(got)]), 1e-9)
  }
  # a cap that does not bind changes nothing
  expect_lt(rel_diff(wt_rake(d, tg, cap = 100), free), 1e-12)
  # unequal starting weights within cells: raking on rows with the cap
  d$w0 <- runif(3000, 0.5, 1.5)
  w2 <- wt_rake(d, tg, weights = "w0", cap = 4)
  expect_equal(attr(w2, "umfrage")$mode, "rows")
  expect_lte(max(w2) / (sum(w2) / 3000), 4 * (1 + 1e-9))
  got <- wmargin(w2, d$age)
  expect_lt(max(abs(got / sum(d$w0) - tg$age[names(got)]) / tg$age[names(got)]), 1e-9)
})

test_that("results agree across thread counts", {
  d <- sim_sample(60000, seed = 12, weights = TRUE)
  tg <- sim_targets()
  old <- umfrage_threads(1)
  on.exit(umfrage_threads(old))
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit(umfrage:::threads_min_rows(old_rows), add = TRUE)
  w1 <- wt_rake(d, tg, weights = "w0")
  umfrage_threads(2)
  w2 <- wt_rake(d, tg, weights = "w0")
  umfrage_threads(4)
  w4 <- wt_rake(d, tg, weights = "w0")
  expect_lt(rel_diff(w1, w2), 1e-12)
  expect_lt(rel_diff(w1, w4), 1e-12)
  options(umfrage.rake_mode = "rows")
  on.exit(options(umfrage.rake_mode = NULL), add = TRUE)
  umfrage_threads(2)
  r2 <- wt_rake(d, tg, weights = "w0")
  umfrage_threads(1)
  r1 <- wt_rake(d, tg, weights = "w0")
  expect_lt(rel_diff(r1, r2), 1e-12)
})

test_that("non-convergence warns with the largest error and marks the result", {
  d <- sim_sample(1000, seed = 13)
  expect_warning(w <- wt_rake(d, sim_targets(), maxit = 2),
                 "did not converge in maxit = 2 sweeps: largest relative margin error .* \\(variable '.*', level '.*'\\)")
  expect_false(attr(w, "umfrage")$converged)
  expect_false(wt_summary(w)$stats$converged)
  expect_equal(wt_summary(w)$stats$iterations, 2L)
})

test_that("verbose reports each sweep as a message", {
  d <- sim_sample(500, seed = 14)
  msgs <- capture_messages(wt_rake(d, sim_targets(), verbose = TRUE))
  expect_match(msgs[1], "cells mode, 80 cells, 4 margins")
  expect_match(msgs, "sweep 1: largest relative margin error", all = FALSE)
})

test_that("umfrage_weights behave as numbers and drop their margins when changed", {
  d <- sim_sample(300, seed = 15)
  w <- wt_rake(d, sim_targets()[1:2])
  expect_s3_class(w, "umfrage_weights")
  expect_false(inherits(w[1:3], "umfrage_weights"))
  expect_false(inherits(w * 2, "umfrage_weights"))
  expect_false(inherits(sqrt(w), "umfrage_weights"))
  expect_equal(as.numeric(w * 2), 2 * as.numeric(w))
  w2 <- w
  w2[1] <- 0
  expect_false(inherits(w2, "umfrage_weights"))
  d$w <- w
  expect_s3_class(d$w, "umfrage_weights")
  dd <- data.frame(d[1:2], wt = w)
  expect_equal(dd$wt, as.numeric(w), ignore_attr = TRUE)
  out <- capture.output(print(w))
  expect_match(out[1], "<umfrage_weights> 300 weights from wt_rake\\(\\)")
})
