test_that("umfrage_threads sets, returns the old value and rejects nonsense", {
  old <- umfrage_threads()
  expect_true(is.integer(old) && old >= 1)
  prev <- umfrage_threads(1)
  expect_identical(prev, old)
  expect_identical(umfrage_threads(), 1L)
  expect_invisible(umfrage_threads(old))
  expect_error(umfrage_threads(0), "'n' must be a single whole number >= 1, not 0")
  expect_error(umfrage_threads(1.5), "'n' must be a single whole number >= 1")
  expect_error(umfrage_threads(NA), "'n' must be a single whole number >= 1")
  expect_error(umfrage_threads("2"), "'n' must be a single whole number >= 1")
  expect_error(umfrage_threads(c(1, 2)), "'n' must be a single whole number >= 1")
  expect_identical(umfrage_threads(), old)
})

test_that("cell statistics agree with base R and across threads", {
  d <- sim_sample(50000, seed = 41, weights = TRUE)
  codes <- list(as.integer(d$age), as.integer(factor(d$sex)))
  old <- umfrage_threads(1)
  on.exit(umfrage_threads(old))
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit(umfrage:::threads_min_rows(old_rows), add = TRUE)
  a <- .Call(umfrage:::C_cell_stats, codes, c(4L, 2L), d$w0)
  umfrage_threads(2)
  b <- .Call(umfrage:::C_cell_stats, codes, c(4L, 2L), d$w0)
  ref_w <- as.vector(tapply(d$w0, list(d$age, d$sex), sum))
  ref_w2 <- as.vector(tapply(d$w0^2, list(d$age, d$sex), sum))
  ref_n <- as.vector(table(d$age, d$sex))
  expect_equal(a$n, ref_n)
  expect_equal(a$sum_w, ref_w, tolerance = 1e-12)
  expect_equal(a$sum_w2, ref_w2, tolerance = 1e-12)
  expect_equal(b$sum_w, a$sum_w, tolerance = 1e-12)
  expect_equal(b$n, a$n)
})

test_that("weighted cell sums agree with tapply and skip NA codes", {
  d <- sim_sample(30000, seed = 42, weights = TRUE)
  a <- as.integer(d$age)
  a[1:10] <- NA
  codes <- list(a, as.integer(d$region))
  old <- umfrage_threads(2)
  on.exit(umfrage_threads(old))
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit(umfrage:::threads_min_rows(old_rows), add = TRUE)
  s <- .Call(umfrage:::C_cell_sum_w, codes, c(4L, 5L), d$w0)
  ref <- tapply(d$w0[-(1:10)], list(a[-(1:10)], d$region[-(1:10)]), sum)
  expect_equal(as.vector(s), as.vector(ref), tolerance = 1e-12, ignore_attr = TRUE)
  expect_equal(attr(s, "skipped"), 10)
})

test_that("umfrage_threads rejects more nonsense and keeps the setting", {
  old <- umfrage_threads()
  for (bad in list(Inf, -1, NaN, 2^31, TRUE, list(2), 1i))
    expect_error(umfrage_threads(bad), "'n' must be a single whole number >= 1")
  expect_identical(umfrage_threads(), old)
  # above what the process allows is accepted and capped when used
  prev <- umfrage_threads(10000)
  expect_identical(umfrage_threads(), 10000L)
  umfrage_threads(prev)
  expect_identical(umfrage_threads(), old)
})

# Results on 1, 2 and 4 threads (capped at the processors the process may
# use) agree to 1e-12 relative. The rows-per-thread threshold is lowered so
# that threads engage on test-sized data; the parallel loops then split the
# rows differently for each count, and only the order of additions changes.
same_12 <- function(a, b) {
  if (is.list(a)) {
    return(is.list(b) && length(a) == length(b) &&
             all(vapply(seq_along(a), function(i) same_12(a[[i]], b[[i]]), NA)))
  }
  a <- as.vector(a)
  b <- as.vector(b)
  if (length(a) != length(b) || !identical(is.na(a), is.na(b))) return(FALSE)
  if (is.character(a) || is.logical(a)) return(identical(a, b))
  ok <- !is.na(a)
  all(abs(a[ok] - b[ok]) <= 1e-12 * pmax(abs(a[ok]), abs(b[ok]), 1e-300) | a[ok] == b[ok])
}

on_threads <- function(f) {
  old <- umfrage_threads()
  old_rows <- umfrage:::threads_min_rows(997)
  on.exit({ umfrage_threads(old); umfrage:::threads_min_rows(old_rows) })
  lapply(c(1L, 2L, 4L), function(k) { umfrage_threads(k); f() })
}

test_that("raking gives the same weights on 1, 2 and 4 threads", {
  d <- sim_sample(30000, seed = 44, weights = TRUE)
  tg <- sim_targets()
  for (mode in c("cells", "rows")) {
    old <- options(umfrage.rake_mode = mode)
    r <- on_threads(function() list(as.numeric(wt_rake(d, tg, weights = "w0")),
                                    as.numeric(wt_rake(d, tg, weights = "w0", cap = 2.5))))
    options(old)
    expect_true(same_12(r[[1]], r[[2]]), label = paste(mode, "1 vs 2 threads"))
    expect_true(same_12(r[[1]], r[[3]]), label = paste(mode, "1 vs 4 threads"))
  }
})

test_that("calibration with numeric auxiliaries gives the same weights on 1, 2 and 4 threads", {
  d <- sim_sample(30000, seed = 45, weights = TRUE)
  set.seed(45)
  d$inc <- stats::rlnorm(nrow(d), 7, 0.5)
  tg <- c(sim_targets()[c("sex", "age")], list(inc = sum(d$inc * d$w0) * 1.05))
  # converged tightly: near epsilon, rounding may decide whether one more
  # Newton step is taken, and that step moves the weights by ~epsilon
  for (method in c("linear", "raking", "logit")) {
    r <- on_threads(function() as.numeric(
      wt_calibrate(d, tg, weights = "w0", method = method, bounds = c(0.2, 5), epsilon = 1e-14)))
    expect_true(same_12(r[[1]], r[[2]]), label = paste(method, "1 vs 2 threads"))
    expect_true(same_12(r[[1]], r[[3]]), label = paste(method, "1 vs 4 threads"))
  }
})

test_that("tables with inference are the same on 1, 2 and 4 threads", {
  d <- sim_tab_data(30000, seed = 46)
  set.seed(46)
  d$st <- rep(1:4, length.out = nrow(d))
  d$psu <- d$st * 1000 + sample.int(25, nrow(d), TRUE)
  brands <- mr_set(d, c("b1", "b2", "b3"))
  mentions <- mr_set(d, c("m1", "m2"), type = "category")
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  raked <- wt_rake(d, list(sex = c(f = 0.5, m = 0.5), age = c("1" = 0.3, "2" = 0.3, "3" = 0.4)),
                   weights = "w")
  cases <- list(
    rows_design = function() tab(d, "region", cols = c("sex", "age"), by = "smoker", weights = "w"),
    na_level = function() tab(d, "age", cols = "m1", weights = "w", na = "level", percent = "row"),
    mr = function() tab(d, brands, cols = list("sex", mentions), weights = "w"),
    clusters = function() tab(des, "region", cols = c("sex", "age"), test = "Chisq"),
    clusters_mr = function() tab(des, brands, cols = "sex"),
    calibrated = function() tab(d, "region", cols = "smoker", weights = raked))
  for (nm in names(cases)) {
    r <- on_threads(function() as.data.frame(cases[[nm]]()))
    expect_true(same_12(r[[1]], r[[2]]), label = paste(nm, "1 vs 2 threads"))
    expect_true(same_12(r[[1]], r[[3]]), label = paste(nm, "1 vs 4 threads"))
  }
})
