# Numeric columns of whole numbers in a small range are coded in C without
# hashing (codeint.c, used by code_single()): the same codes and levels as
# base R's sort(unique()) and match(), and the general route elsewhere.

ref_code <- function(x) {
  u <- sort(unique(x[!is.na(x)]))
  list(match(x, u), u)
}
code_int <- function(x, lim = 1000000L) .Call(umfrage:::C_code_int, x, lim)

test_that("C_code_int gives base R's codes and sorted levels for whole numbers", {
  set.seed(5)
  for (k in 1:200) {
    n <- sample(c(0, 1, 7, 300, 4000), 1)
    x <- sample(c(-7:7, 250L, 999000L, NA), n, TRUE)
    if (k %% 2 == 0) x <- as.double(x)
    if (k %% 5 == 0 && n > 0) x[1] <- NaN
    if (k %% 9 == 0 && n > 0) x[n] <- -0
    r <- code_int(x)
    e <- ref_code(x)
    expect_false(is.null(r))
    expect_identical(r[[1]], e[[1]])
    expect_equal(r[[2]], e[[2]])
    expect_identical(typeof(r[[2]]), typeof(x))
  }
})

test_that("C_code_int declines what it cannot code (then code_single() hashes)", {
  expect_null(code_int(c(1.5, 2)))                 # not a whole number
  expect_null(code_int(c(1L, 20L), 10L))           # range wider than the limit
  expect_null(code_int(c(0, 3e9)))                 # outside int
  expect_null(code_int(c(1, Inf)))
  r <- code_int(c(NA, NaN))
  expect_identical(r[[1]], c(NA_integer_, NA_integer_))
  expect_length(r[[2]], 0L)
  expect_error(code_int("a"), "'x' must be an integer or double vector")
  expect_error(code_int(1L, 0L), "'max_range' must be a positive integer")
})

test_that("tab() of integer and whole-number double columns equals tab() of the same as factors", {
  set.seed(6)
  n <- 3000
  d <- data.frame(a = sample(c(1:4, NA), n, TRUE), b = as.double(sample(c(-2, 0, 5), n, TRUE)),
                  f = sample(c(0.5, 1.5), n, TRUE), w = stats::rexp(n))
  f <- d
  f$a <- factor(d$a, levels = sort(unique(d$a[!is.na(d$a)])))
  f$b <- factor(d$b, levels = sort(unique(d$b)))
  f$f <- factor(d$f, levels = sort(unique(d$f)))   # not whole: the general route
  for (na in c("drop", "level")) {
    x <- as.data.frame(tab(d, c("a", "b"), cols = "f", weights = "w", na = na))
    y <- as.data.frame(tab(f, c("a", "b"), cols = "f", weights = "w", na = na))
    for (v in c("n", "n_w", "pct", "se", "ci_low", "ci_high"))
      expect_equal(x[[v]], y[[v]], tolerance = 1e-14, info = paste(na, v))
    expect_identical(as.character(x$row), as.character(y$row))
  }
  # more distinct values than a table shows: the same error as before
  expect_error(tab(data.frame(z = 1:500), "z"), "500 distinct values")
})
