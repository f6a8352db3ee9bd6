test_that("wt_poststrat matches survey::postStratify", {
  skip_if_not_installed("survey")
  for (weighted in c(FALSE, TRUE)) {
    d <- sim_sample(2500, seed = 21, weights = weighted)
    pop <- expand.grid(sex = c("f", "m"), age = levels(d$age), stringsAsFactors = FALSE)
    pop$Freq <- c(110, 100, 150, 140, 200, 190, 90, 80) * 1000
    w <- wt_poststrat(d, pop, weights = if (weighted) "w0")
    d$.w <- if (weighted) d$w0 else 1
    des <- survey::svydesign(ids = ~1, weights = ~.w, data = d)
    ref <- weights(survey::postStratify(des, ~sex + age, pop))
    expect_lt(rel_diff(w, ref), 1e-12)
    expect_equal(sum(w), sum(pop$Freq), tolerance = 1e-12)
  }
})

test_that("wt_poststrat equals the closed form and takes tables and proportions", {
  d <- sim_sample(1000, seed = 22, weights = TRUE)
  pop <- xtabs(~ sex + region, data.frame(sex = rep(c("f", "m"), 5),
                                          region = rep(1:5, each = 2)))
  pop[] <- c(5, 4, 6, 5, 7, 6, 8, 7, 9, 8) * 100
  w <- wt_poststrat(d, pop, weights = d$w0)
  key <- paste(d$sex, d$region)
  cell_w0 <- tapply(d$w0, key, sum)
  popdf <- as.data.frame(pop, stringsAsFactors = FALSE)
  tgt <- stats::setNames(popdf$Freq, paste(popdf$sex, popdf$region))
  closed <- d$w0 * tgt[key] / cell_w0[key]
  expect_lt(rel_diff(w, closed), 1e-13)
  # proportions are scaled to total (or to the sum of the starting weights)
  prop <- popdf
  prop$Freq <- prop$Freq / sum(prop$Freq)
  wp <- wt_poststrat(d, prop, weights = d$w0, total = sum(pop))
  expect_lt(rel_diff(wp, closed), 1e-12)
  wp2 <- wt_poststrat(d, prop, weights = d$w0)
  expect_equal(sum(wp2), sum(d$w0), tolerance = 1e-12)
  # one variable as a named list
  w1 <- wt_poststrat(d, list(sex = c(f = 600, m = 400)))
  expect_equal(as.vector(wmargin(w1, d$sex)), c(600, 400), tolerance = 1e-12)
  s <- wt_summary(w1)
  expect_equal(s$stats$method, "poststrat")
  expect_true(s$stats$converged)
})

test_that("wt_poststrat errors name the problem", {
  d <- sim_sample(200, seed = 23)
  pop <- data.frame(sex = "f", target = 100)
  expect_error(wt_poststrat(d, pop), "level\\(s\\) 'm' of 'sex' occur in [0-9]+ row\\(s\\) of 'data' but have no target")
  pop2 <- data.frame(sex = c("f", "m", "x"), target = c(1, 1, 1))
  expect_error(wt_poststrat(d, pop2), "target level\\(s\\) 'x' of 'sex' have a positive target but no respondents")
  pop3 <- data.frame(sex = c("f", "f", "m"), target = c(1, 1, 1))
  expect_error(wt_poststrat(d, pop3), "duplicated cells: 'f'")
  expect_error(wt_poststrat(d, data.frame(sex = c("f", "m"), n = 1:2)), "needs a column 'target' \\(or 'Freq'\\)")
  expect_error(wt_poststrat(d, 1:3), "'targets' must be a data frame of cells")
})
