d <- sim_tab_data(200, seed = 21)

test_that("tab() refuses bad input with a clear error", {
  expect_error(tab(list(a = 1), "a"), "'x' must be a data frame")
  expect_error(tab(d[0, ], "sex"), "'x' has no rows")
  expect_error(tab(d, "nope"), "'rows' names column\\(s\\) not in 'x': 'nope'")
  expect_error(tab(d, "sex", cols = c("region", "nix")), "'cols' names column\\(s\\) not in 'x': 'nix'")
  expect_error(tab(d, "sex", by = "nix"), "'by' names column\\(s\\) not in 'x': 'nix'")
  expect_error(tab(d, character()), "'rows' names no variable")
  expect_error(tab(d, 42), "'rows' must be column names, a one-sided formula")
  expect_error(tab(d, "sex", by = mr_set(d, c("b1", "b2"))), "'by' takes single variables, not MR sets")
  old <- options(umfrage.max_levels = 100)
  on.exit(options(old))
  expect_error(tab(d, "sex", cols = "w"), "'cols' variable 'w' has 200 distinct values, more than the 100 a table shows")
  d$x <- seq_len(nrow(d)) + 0.5
  expect_error(tab(d, "x"), "'rows' variable 'x' has 200 distinct values.*group it first, e.g. with cut\\(\\)")
  options(old)
  d$when <- Sys.Date() + seq_len(nrow(d))
  expect_error(tab(d, "when"), "'rows' variable 'when' must be a factor, character, logical, integer or labelled column")
  expect_error(tab(d, "sex", percent = "colx"), "'arg' should be one of")
})

test_that("bad weights are refused", {
  expect_error(tab(d, "sex", weights = 1:3), "'weights' has length 3 but 'data' has 200 rows")
  w <- d$w
  w[5] <- NA
  expect_error(tab(d, "sex", weights = w), "'weights' holds 1 values that are NA, negative or infinite")
  w[5] <- -1
  expect_error(tab(d, "sex", weights = w), "'weights' holds 1 values that are NA, negative or infinite")
  expect_error(tab(d, "sex", weights = "sex"), "'weights' must be numeric")
})

test_that("a table too big for memory says how many cells", {
  big <- data.frame(a = factor(1:3, levels = 1:40000), b = factor(1:3, levels = 1:40000))
  expect_error(tab(big, "a", cols = "b"), "would have 1,600,000,000 cells, more than the limit")
})

test_that("the C routine validates its own input", {
  expect_error(.Call(umfrage:::C_tab, list(0L, 2L, list(1:3), 0L, 0L), list(), list(), NULL),
               "'cols' must be a non-empty list")
  expect_error(.Call(umfrage:::C_tab, list(0L, 2L, list(c(1, 2)), 0L, 0L), list(list(3L, 1L, list(), 0L, 0L)), list(), NULL),
               "column 1 must be integer, not double")
  expect_error(.Call(umfrage:::C_tab, list(0L, 2L, list(c(1L, 5L)), 0L, 0L), list(list(3L, 1L, list(), 0L, 0L)), list(), NULL),
               "outside the range")
  expect_error(.Call(umfrage:::C_tab, list(9L, 2L, list(1:2), 0L, 0L), list(list(3L, 1L, list(), 0L, 0L)), list(), NULL),
               "unknown variable kind 9")
  expect_error(.Call(umfrage:::C_tab, "x", list(), list(), NULL), "table variable descriptor")
})
