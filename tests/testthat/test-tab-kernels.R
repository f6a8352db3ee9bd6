# The cell kernels behind tab() and raking (cells.c): the block kernels for
# 1 to 4 variables (a vectorised check-and-index loop per block of rows, then
# a scatter-add; blocks with an NA or bad code or weight go through the row
# kernel), C_weight_max() (weight_scale()) and the benchmark's bandwidth
# floor. Every expected value comes from base R.

ns <- asNamespace("umfrage")
cell_stats <- function(codes, nlev, w) .Call(ns$C_cell_stats, codes, as.integer(nlev), w)
cell_sum_w <- function(codes, nlev, w) .Call(ns$C_cell_sum_w, codes, as.integer(nlev), w)

# n, sum w, sum w^2 per cell from base R (rows with an NA code dropped)
ref_stats <- function(codes, nlev, w) {
  ok <- Reduce(`&`, lapply(codes, function(x) !is.na(x)))
  id <- rep(0L, length(w))
  s <- 1L
  for (j in seq_along(codes)) { id <- id + (codes[[j]] - 1L) * s; s <- s * nlev[j] }
  f <- factor(id[ok], levels = 0:(prod(nlev) - 1L))
  list(n = as.vector(tabulate(f, prod(nlev))),
       sum_w = as.vector(tapply(w[ok], f, sum, default = 0)),
       sum_w2 = as.vector(tapply(w[ok]^2, f, sum, default = 0)),
       skipped = sum(!ok))
}

# rows over several 16384-row blocks; `dirty` marks blocks that get an NA
# code, a weight of -0 or an exact 0
kernel_data <- function(n, nlev, seed, na_rows = integer(), negzero_rows = integer()) {
  set.seed(seed)
  codes <- lapply(nlev, function(k) sample.int(k, n, TRUE))
  for (i in na_rows) codes[[1L + i %% length(codes)]][i] <- NA_integer_
  w <- stats::rexp(n) + 0.05
  w[negzero_rows] <- -0
  w[seq(7L, n, by = 5000L)] <- 0
  list(codes = codes, w = w)
}

expect_stats_equal <- function(got, ref) {
  expect_equal(got$n, ref$n, tolerance = 0)
  expect_equal(got$sum_w, ref$sum_w, tolerance = 1e-12)
  expect_equal(got$sum_w2, ref$sum_w2, tolerance = 1e-12)
}

test_that("the block kernels give base R's n, sum w and sum w^2 for 1 to 4 variables, clean and dirty blocks", {
  n <- 40000L   # blocks of 16384: two full ones and a partial one
  for (k in 1:4) {
    nlev <- c(7L, 5L, 3L, 2L)[seq_len(k)]
    for (variant in c("clean", "dirty")) {
      d <- if (variant == "clean") kernel_data(n, nlev, seed = k) else
        kernel_data(n, nlev, seed = k, na_rows = c(20000L, 39999L), negzero_rows = c(5L, 17000L))
      ref <- ref_stats(d$codes, nlev, d$w)
      got <- cell_stats(d$codes, nlev, d$w)
      expect_stats_equal(got, ref)
      expect_equal(as.vector(cell_sum_w(d$codes, nlev, d$w)), ref$sum_w, tolerance = 1e-12)
      expect_equal(attr(cell_sum_w(d$codes, nlev, d$w), "skipped"), ref$skipped)
      # unweighted: n per cell, sum w = sum w^2 = n
      u <- cell_stats(d$codes, nlev, NULL)
      expect_equal(u$n, ref_stats(d$codes, nlev, rep(1, n))$n, tolerance = 0)
      expect_equal(u$sum_w, u$n, tolerance = 0)
    }
  }
})

test_that("the block kernels agree on two threads, and flag bad weights and codes in clean blocks", {
  old <- umfrage_threads(2L)
  old_min <- .Call(ns$C_threads_min_rows, 5000L)
  on.exit({ umfrage_threads(old); .Call(ns$C_threads_min_rows, as.integer(old_min)) })
  nlev <- c(9L, 4L, 3L)
  d <- kernel_data(60000L, nlev, seed = 11, na_rows = 33333L)
  expect_stats_equal(cell_stats(d$codes, nlev, d$w), ref_stats(d$codes, nlev, d$w))
  w <- d$w
  w[50001L] <- NaN
  expect_error(cell_stats(d$codes, nlev, w), "1 values that are NA, negative or infinite")
  w[50001L] <- -1
  expect_error(cell_sum_w(d$codes, nlev, w), "1 values that are NA, negative or infinite")
  w[50001L] <- Inf
  expect_error(cell_stats(d$codes, nlev, w), "NA, negative or infinite")
  codes <- d$codes
  codes[[2]][100L] <- 5L
  expect_error(cell_stats(codes, nlev, d$w), "1 codes outside")
})

test_that("tab() on more rows than a block matches xtabs() for a weighted 3-way table", {
  set.seed(5)
  n <- 50000L
  f <- function(k) factor(sample(sprintf("l%d", seq_len(k)), n, TRUE), levels = sprintf("l%d", seq_len(k)))
  d <- data.frame(a = f(6L), b = f(4L), c = f(3L), w = stats::rexp(n) + 0.1)
  ref <- xtabs(w ~ a + b + c, d)
  cc <- as.data.frame(tab(d, "a", cols = "b", by = "c", weights = "w", se = FALSE))
  cc <- cc[cc$col_var == "b", ]
  r <- ref[cbind(as.character(cc$row), as.character(cc$col), as.character(cc$c))]
  expect_equal(cc$n_w, as.vector(r), tolerance = 1e-12)
  nref <- table(d$a, d$b, d$c)
  expect_equal(cc$n, as.vector(nref[cbind(as.character(cc$row), as.character(cc$col), as.character(cc$c))]))
})

test_that("C_weight_max gives the largest finite weight and whether any is zero", {
  wm <- function(w) .Call(ns$C_weight_max, w)
  cases <- list(numeric(0), NA_real_, c(NaN, Inf, -Inf), c(-0, 1), c(-3, -1), c(Inf, 2, NA),
                c(1e308, -1e308, 0), c(5e-324, NaN), stats::rexp(2e5))
  for (w in cases) {
    fin <- w[is.finite(w)]
    got <- wm(w)
    expect_identical(unname(got[["max"]]), if (length(fin)) max(fin) else NA_real_)
    expect_identical(got[["any_zero"]] > 0, any(fin == 0))
  }
  expect_error(wm(1L), "must be a double vector")
})

test_that("the bandwidth floor of the benchmarks sums the codes and the weights", {
  codes <- list(1:10, rep(2L, 10), 10:1)
  w <- seq(0.5, 5, by = 0.5)
  expect_equal(.Call(ns$C_bench_floor, codes, w), sum(unlist(codes)) + sum(w))
  expect_equal(.Call(ns$C_bench_floor, list(1:3), c(1, 2, 3)), 12)
  expect_error(.Call(ns$C_bench_floor, list(1:2), c(1, 2, 3)), "of length 3")
})
