# Every bad input to wt_rake() gets a clear error that names the argument
# or variable and the problem.
d <- sim_sample(400, seed = 51, weights = TRUE)
tg <- sim_targets()

test_that("data must be a non-empty data frame", {
  expect_error(wt_rake(list(a = 1), tg), "'data' must be a data frame, not an object of class 'list'")
  expect_error(wt_rake(d[0, ], tg), "'data' has no rows")
  dd <- d[1:3]
  names(dd) <- c("sex", "sex", "age")
  expect_error(wt_rake(dd, tg), "duplicated column names: 'sex'")
})

test_that("NA in a margin variable names the variable and the count", {
  dn <- d
  dn$age[c(3, 9, 10)] <- NA
  expect_error(wt_rake(dn, tg), "variable 'age' has 3 NA value\\(s\\) \\(first at row 3\\)")
  dn <- d
  dn$sex[5] <- NA
  expect_error(wt_rake(dn, tg), "variable 'sex' has 1 NA value\\(s\\) \\(first at row 5\\)")
})

test_that("levels without targets and targets without respondents", {
  t2 <- tg
  t2$region <- t2$region[1:4] / sum(t2$region[1:4])
  expect_error(wt_rake(d, t2), "level\\(s\\) '5' of 'region' occur in [0-9]+ row\\(s\\) of 'data' but have no target")
  t3 <- tg
  t3$age <- c(t3$age, "99+" = 0.1)
  t3$age <- t3$age / sum(t3$age)
  expect_error(wt_rake(d, t3), "target level\\(s\\) '99\\+' of 'age' have a positive target but no respondents")
  t4 <- tg
  t4$sex <- c(f = 0.4, m = 0.4, x = 0.2)
  expect_error(wt_rake(d, t4), "target level\\(s\\) 'x' of 'sex' have a positive target but no respondents in 'data'")
  # a level whose rows all have starting weight 0
  dz <- d
  dz$w0[dz$sex == "m"] <- 0
  expect_error(wt_rake(dz, tg, weights = "w0"), "target level 'm' of 'sex' has a positive target but its [0-9]+ row\\(s\\) all have starting weight 0")
})

test_that("bad starting weights are refused", {
  w <- d$w0
  w[7] <- NA
  expect_error(wt_rake(d, tg, weights = w), "'weights' holds 1 NA value\\(s\\) \\(first at row 7\\)")
  w <- d$w0
  w[c(2, 4)] <- -1
  expect_error(wt_rake(d, tg, weights = w), "'weights' holds 2 negative value\\(s\\) \\(first at row 2\\)")
  w <- d$w0
  w[8] <- Inf
  expect_error(wt_rake(d, tg, weights = w), "'weights' holds 1 infinite value\\(s\\) \\(first at row 8\\)")
  expect_error(wt_rake(d, tg, weights = 1:3), "'weights' has length 3 but 'data' has 400 rows")
  expect_error(wt_rake(d, tg, weights = "nope"), "'weights' names column 'nope', which is not in 'data'")
  expect_error(wt_rake(d, tg, weights = letters[1:2]), "'weights' must be numeric")
  expect_error(wt_rake(d, tg, weights = rep(0, 400)), "'weights' are all zero")
  # with totals (no scaling) the bad weights are caught in the C pass
  tot <- lapply(tg, function(p) p * 400)
  w <- d$w0
  w[11] <- NaN
  expect_error(wt_rake(d, tot, weights = w), "'weights' holds 1 NA value\\(s\\) \\(first at row 11\\)")
})

test_that("malformed targets are refused", {
  expect_error(wt_rake(d, list()), "'targets' must be a non-empty named list")
  expect_error(wt_rake(d, "sex"), "'targets' must be a non-empty named list")
  expect_error(wt_rake(d, list(c(f = 0.5, m = 0.5))), "element 1 has no name")
  expect_error(wt_rake(d, list(sex = c(0.5, 0.5))), "targets for 'sex' must be a named vector")
  expect_error(wt_rake(d, list(sex = c(f = 0.5, f = 0.5))), "targets for 'sex' have duplicated level names: 'f'")
  expect_error(wt_rake(d, list(sex = c(f = NA, m = 0.5))), "targets for 'sex' contain NA")
  expect_error(wt_rake(d, list(sex = c(f = -1, m = 2))), "targets for 'sex' must not be negative")
  expect_error(wt_rake(d, list(sex = c(f = Inf, m = 2))), "targets for 'sex' must be finite")
  expect_error(wt_rake(d, list(sex = c(f = "a", m = "b"))), "targets for 'sex' must be numeric")
  expect_error(wt_rake(d, list(sex = c(f = 0, m = 0))), "targets for 'sex' sum to 0")
  expect_error(wt_rake(d, list(nope = c(a = 1))), "'targets' names variable\\(s\\) not in 'data': 'nope'")
  expect_error(wt_rake(d, list(sex = c(f = 0.5, m = 0.5), sex = c(f = 0.5, m = 0.5))), "gives margin 'sex' twice")
  expect_error(wt_rake(d, data.frame(a = 1)), "needs columns 'variable', 'level' and 'target'")
  expect_error(wt_rake(d, list(urban = c(yes = 0.5, no = 0.5))), "targets for logical variable 'urban' must be named TRUE and FALSE")
  expect_error(wt_rake(d, list(region = c(north = 0.5, south = 0.5))), "targets for numeric variable 'region' must be named by its values")
})

test_that("margins that disagree, or mix shares and totals, are refused", {
  t1 <- list(sex = c(f = 510, m = 490), age = c("18-29" = 100, "30-44" = 300, "45-64" = 400, "65+" = 210))
  expect_error(wt_rake(d, t1), "margins in 'targets' disagree: 'sex' sums to 1000 but 'age' to 1010")
  t2 <- list(sex = c(f = 0.51, m = 0.49), age = c("18-29" = 100, "30-44" = 300, "45-64" = 400, "65+" = 200))
  expect_error(wt_rake(d, t2), "mix proportions \\(shares summing to within 0.02 of 1, or percents to within 2 of 100: 'sex'\\) and totals \\('age'\\)")
  t3 <- list(sex = c(f = 510, m = 490))
  expect_error(wt_rake(d, t3, total = 2000), "'total' = 2000 but the targets sum to 1000")
  expect_error(wt_rake(d, tg, total = -1), "'total' must be a single positive number")
  # within 1e-6 is accepted and made exact
  t4 <- list(sex = c(f = 510, m = 490), age = c("18-29" = 100, "30-44" = 300, "45-64" = 400, "65+" = 200.0001))
  w <- wt_rake(d, t4)
  expect_equal(sum(w), 1000, tolerance = 1e-12)
})

test_that("scalar arguments are checked", {
  expect_error(wt_rake(d, tg, epsilon = -1), "'epsilon' must be a single finite number >= 0, not -1")
  expect_error(wt_rake(d, tg, epsilon = "a"), "'epsilon' must be a single finite number")
  expect_error(wt_rake(d, tg, maxit = 0), "'maxit' must be a single whole number >= 1, not 0")
  expect_error(wt_rake(d, tg, maxit = 2.5), "'maxit' must be a single whole number >= 1")
  expect_error(wt_rake(d, tg, cap = 0.5), "'cap' must be a single finite number >= 1, not 0.5")
  expect_error(wt_rake(d, tg, verbose = NA), "'verbose' must be TRUE or FALSE")
})

test_that("a cap that cannot be met is an error, not an endless loop", {
  t1 <- list(sex = c(f = 0.05, m = 0.95))
  expect_error(wt_rake(d, t1, cap = 2), "cap = 2 cannot be met: level 'm' of 'sex' needs its [0-9]+ row\\(s\\) to carry [0-9.]+ times the mean weight")
})

test_that("zero targets of one margin that starve another are reported", {
  dd <- data.frame(a = c("x", "x", "y", "y"), b = c("p", "p", "q", "q"))
  expect_error(wt_rake(dd, list(a = c(x = 0, y = 1), b = c(p = 0.5, q = 0.5))),
               "the targets cannot be met: level 'p' of 'b' has a positive target")
})

test_that("unsupported column types are named", {
  dd <- d
  dd$when <- Sys.Date() + seq_len(nrow(dd))
  expect_error(wt_rake(dd, list(when = c(a = 1))), "variable 'when' must be a factor, character, logical, integer or labelled column")
})

test_that("the C routine validates its own inputs", {
  expect_error(.Call(umfrage:::C_rake, 1, 1L, NULL, list(0L), list(1), FALSE, NA_real_, 1e-10, 10L, NA),
               "'codes' must be a non-empty list")
  expect_error(.Call(umfrage:::C_rake, list(1:3), 3L, c(1, 1), list(0L), list(c(1, 1, 1)), FALSE, NA_real_, 1e-10, 10L, NA),
               "'weights' must be a double vector with one value per row")
  expect_error(.Call(umfrage:::C_rake, list(1:3), 3L, NULL, list(5L), list(c(1, 1, 1)), FALSE, NA_real_, 1e-10, 10L, NA),
               "refers to variable 5")
  expect_error(.Call(umfrage:::C_rake, list(1:3), 3L, NULL, list(0L), list(c(1, 1)), FALSE, NA_real_, 1e-10, 10L, NA),
               "must be a double vector of length 3")
  expect_error(.Call(umfrage:::C_cell_stats, list(1:3), 3L, c(1, -1, 1)),
               "'w' holds 1 values that are NA, negative or infinite")
  expect_error(.Call(umfrage:::C_cell_stats, list(1:3, 1:2), c(3L, 2L), NULL),
               "element 2 of 'codes' has length 2, expected 3")
  expect_error(.Call(umfrage:::C_cell_stats, list(1:3), 70000L, NULL), NA)
  expect_error(.Call(umfrage:::C_cell_stats, list(1:3, 1:3, 1:3), rep(70000L, 3), NULL),
               "spans 3.43e\\+14 cells|spans 343000000000000 cells")
})
