# The cell kernels after issue 15 (round 2): records of 4 doubles, AVX2
# copies chosen at run time, thread-local clearing and a parallel merge, a
# vectorised weight maximum. Checked against base R (rowsum(), max()).

cell_ref <- function(codes, nl, w) {
  ok <- Reduce(`&`, lapply(codes, Negate(is.na)))
  id <- rep(1, length(ok))
  s <- 1
  for (j in seq_along(codes)) {
    id <- id + (codes[[j]] - 1) * s
    s <- s * nl[j]
  }
  g <- factor(id[ok], levels = seq_len(prod(nl)))
  ww <- if (is.null(w)) rep(1, sum(ok)) else w[ok]
  m <- rowsum(cbind(1, ww, ww^2), g, reorder = TRUE)
  full <- matrix(0, prod(nl), 3)
  full[as.integer(rownames(m)), ] <- m
  list(n = full[, 1], sum_w = full[, 2], sum_w2 = full[, 3], skipped = sum(!ok))
}

kernel_cases <- function() {
  set.seed(15015)
  n <- 40000   # more than two blocks of 16,384 rows
  lapply(1:5, function(k) {
    nl <- c(7L, 3L, 5L, 2L, 4L)[seq_len(k)]
    codes <- lapply(nl, function(l) sample.int(l, n, TRUE))
    w <- rexp(n) + 0.01
    if (k %% 2 == 1) codes[[k]][c(3, 20000, n)] <- NA_integer_   # one block through the row kernel
    if (k == 2) w[c(5, 17000)] <- c(-0, 0)                      # -0 and 0 weights
    list(codes = codes, nl = nl, w = w)
  })
}

test_that("C_cell_stats agrees with rowsum() with and without AVX2, on 1 and 2 threads", {
  cs <- umfrage:::C_cell_stats
  old_th <- umfrage_threads(1L)
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit({ umfrage_threads(old_th); umfrage:::threads_min_rows(old_rows); umfrage:::cells_avx2(TRUE) }, add = TRUE)
  for (cs_case in kernel_cases()) {
    for (wt in list(cs_case$w, NULL)) {
      ref <- cell_ref(cs_case$codes, cs_case$nl, wt)
      got <- list()
      for (avx in c(TRUE, FALSE)) for (th in 1:2) {
        umfrage:::cells_avx2(avx)
        umfrage_threads(th)
        r <- .Call(cs, cs_case$codes, cs_case$nl, wt)
        expect_equal(r$n, ref$n, tolerance = 0)
        expect_equal(r$sum_w, ref$sum_w, tolerance = 1e-12)
        expect_equal(r$sum_w2, ref$sum_w2, tolerance = 1e-12)
        expect_identical(r$skipped, as.double(ref$skipped))
        got[[sprintf("%s-%d", avx, th)]] <- r
      }
      # the AVX2 copies add in the same order as the baseline: bit for bit
      expect_identical(got[["TRUE-1"]], got[["FALSE-1"]])
      expect_identical(got[["TRUE-2"]], got[["FALSE-2"]])
    }
  }
})

test_that("C_cell_sum_w and the error paths are the same with and without AVX2", {
  sw <- umfrage:::C_cell_sum_w
  cs <- umfrage:::C_cell_stats
  on.exit(umfrage:::cells_avx2(TRUE), add = TRUE)
  case <- kernel_cases()[[3]]
  ref <- cell_ref(case$codes, case$nl, case$w)
  for (avx in c(TRUE, FALSE)) {
    umfrage:::cells_avx2(avx)
    r <- .Call(sw, case$codes, case$nl, case$w)
    expect_equal(as.vector(r), ref$sum_w, tolerance = 1e-12)
    expect_identical(attr(r, "skipped"), as.double(ref$skipped))
    bad <- case$codes
    bad[[1]][30000] <- 99L
    expect_error(.Call(cs, bad, case$nl, case$w), "1 codes outside")
    w <- case$w
    w[c(10, 30000)] <- c(NA, -2)
    expect_error(.Call(cs, case$codes, case$nl, w), "2 values that are NA, negative or infinite")
  }
})

test_that("a cell pass with many cells merges its threads in order", {
  # 50^3 cells x 4 doubles: the merge runs on the pass's threads
  cs <- umfrage:::C_cell_stats
  old_th <- umfrage_threads(2L)
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit({ umfrage_threads(old_th); umfrage:::threads_min_rows(old_rows) }, add = TRUE)
  set.seed(3)
  n <- 60000
  codes <- replicate(3, sample.int(50L, n, TRUE), simplify = FALSE)
  w <- rexp(n)
  ref <- cell_ref(codes, c(50L, 50L, 50L), w)
  r <- .Call(cs, codes, c(50L, 50L, 50L), w)
  expect_equal(r$n, ref$n, tolerance = 0)
  expect_equal(r$sum_w, ref$sum_w, tolerance = 1e-12)
  expect_equal(r$sum_w2, ref$sum_w2, tolerance = 1e-12)
})

test_that("C_weight_max gives the largest finite weight and whether one is 0", {
  wm <- umfrage:::C_weight_max
  old_th <- umfrage_threads(1L)
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit({ umfrage_threads(old_th); umfrage:::threads_min_rows(old_rows) }, add = TRUE)
  set.seed(7)
  specials <- c(NA, NaN, Inf, -Inf, 0, -0, 1e300, -1e300)
  for (th in 1:2) {
    umfrage_threads(th)
    for (n in c(0, 1, 2, 7, 8, 9, 15, 17, 2500)) for (k in 1:8) {
      w <- rexp(n) * sample(c(-1, 1), n, TRUE)
      if (n > 0) w[sample.int(n, min(n, 2))] <- sample(specials, min(n, 2), TRUE)
      fin <- w[is.finite(w)]
      r <- .Call(wm, w)
      expect_identical(unname(r[["max"]]), if (length(fin)) max(fin) + 0 else NA_real_)
      expect_identical(unname(r[["any_zero"]]), as.double(any(w == 0, na.rm = TRUE)))
    }
  }
  expect_identical(unname(.Call(wm, c(-0, -0))[["max"]]), 0)
})

test_that("tab() percentages and effective bases keep ifelse()'s NA and zero rules", {
  d <- data.frame(a = factor(c("x", "y", "x", "y"), levels = c("x", "y", "z")),
                  b = factor(c("p", "q", "q", "q")), w = c(1, 2, 0, 0))
  tb <- tab(d, "a", cols = "b", weights = "w", se = FALSE)
  cc <- as.data.frame(tb)
  z <- cc[cc$row == "z", ]
  expect_true(all(z$n_eff == 0))
  # column p holds only x (weight 1); its base is 1
  p <- cc[cc$col == "p", ]
  expect_equal(p$pct[p$row == "x"], 100)
  expect_equal(p$pct[p$row == "y"], 0)
  # a column whose weights are all 0: no percentage
  d$w <- c(0, 2, 0, 1)
  cc <- as.data.frame(tab(d, "a", cols = "b", weights = "w", se = FALSE))
  expect_true(all(is.na(cc$pct[cc$col == "p"])))
  expect_true(all(cc$n_eff[cc$col == "p"] == 0))
})
