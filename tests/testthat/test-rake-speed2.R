# Issue 15 (round 2): wt_rake() / wt_poststrat() take the weights'
# fingerprint in the pass that writes them, and the calibration state's
# totals from the level sums raking ends with (no further pass over the
# rows). Both must equal what the separate computations give.

rk_data <- function(n, seed = 1) {
  set.seed(seed)
  data.frame(a = factor(sample(c("x", "y"), n, TRUE, prob = c(0.3, 0.7))),
             b = sample(1:5, n, TRUE),
             c = sample(c("p", "q", "r"), n, TRUE),
             e = factor(sample(letters[1:4], n, TRUE)))
}
rk_targets <- list(a = c(x = 0.4, y = 0.6), b = c("1" = 0.2, "2" = 0.2, "3" = 0.2, "4" = 0.2, "5" = 0.2),
                   c = c(p = 0.3, q = 0.3, r = 0.4), e = c(a = 0.1, b = 0.2, c = 0.3, d = 0.4))

# The fingerprint as R/weights.R defines it, in R: c(n, sums over w * 2^e, e).
wt_fingerprint_ref <- function(w) {
  w <- as.double(w)
  n <- length(w)
  mx <- if (n) max(abs(w)) else 0
  e <- if (is.finite(mx) && mx > 0) min(max(-round(log2(mx)), -1020), 1020) else 0
  if (e != 0) w <- w * 2^e
  c(n, sum(w), sum(w * w), sum(abs(w)), sum(w * (seq_len(n) / n)), e)
}

withr_rows <- function(code) {
  old <- options(umfrage.rake_mode = "rows")
  on.exit(options(old))
  force(code)
}

# The raw C result for wt_rake(d, targets, weights = w0, cap = cap).
rk_raw <- function(d, targets, w0 = NULL, cap = NULL, mode = NA) {
  ns <- asNamespace("umfrage")
  m <- ns$scale_targets(ns$normalize_targets(targets), NULL)
  prep <- ns$prepare_margins(d, m)
  .Call(ns$C_rake, prep$codes, prep$nlev, w0, prep$margins, prep$targets,
        attr(m, "scale"), if (is.null(cap)) NA_real_ else as.double(cap),
        1e-10, 1000L, mode)
}

# Lower the rows per further thread so that 2 threads share the blocks of
# the map-back pass also at test sizes; restored on exit.
with_threads <- function(th, code) {
  ns <- asNamespace("umfrage")
  old_min <- .Call(ns$C_threads_min_rows, 1000L)
  old <- umfrage_threads(th)
  on.exit({ umfrage_threads(old); .Call(ns$C_threads_min_rows, as.integer(old_min)) })
  force(code)
}

test_that("the fingerprint C_rake takes while mapping back is C_fingerprint's, bit for bit", {
  n <- 30000   # several blocks of the map-back pass
  d <- rk_data(n)
  set.seed(2)
  w_unif <- runif(n, 0.5, 2)
  w_outlier <- w_unif; w_outlier[c(17, 20000)] <- c(500, 0.001)       # guessed scale off: rescaled
  w_tiny <- w_outlier; w_tiny[c(5, 12345)] <- c(1e-300, 3e-290)      # rescale unsafe: second pass
  w_huge <- w_outlier * 2^900; w_huge[77] <- 2^-100                 # far off 1 both ways
  w_zero <- w_unif; w_zero[seq(1, n, by = 7)] <- 0
  starts <- list(none = NULL, unif = w_unif, outlier = w_outlier, tiny = w_tiny,
                 huge = w_huge, zero = w_zero)
  for (th in 1:2) with_threads(th, {
    for (nm in names(starts)) for (cap in list(NULL, 3)) for (mode in c(NA, FALSE)) {
      if (nm %in% c("tiny", "huge") && !is.null(cap)) next   # cap unreachable for such weights
      res <- rk_raw(d, rk_targets, starts[[nm]], cap, mode)
      expect_identical(res$status, 0L)
      # independent: the R definition of the fingerprint, with R's own sums
      w <- res$weights
      expect_identical(res$fingerprint, wt_fingerprint_ref(w),
                       info = sprintf("%s, cap %s, mode %s, %d thread(s)", nm, format(cap), mode, th))
      expect_identical(res$fingerprint, .Call(asNamespace("umfrage")$C_fingerprint, w))
    }
  })
})

test_that("on 2 threads the pass is deterministic and its fingerprint fits the weights", {
  n <- 50000
  d <- rk_data(n, seed = 3)
  set.seed(4)
  w0 <- rexp(n)
  run <- function() list(wt_rake(d, rk_targets), wt_rake(d, rk_targets, weights = w0),
                         wt_poststrat(d, table(a = d$a, c = d$c), weights = w0))
  one <- with_threads(1L, run())
  two <- with_threads(2L, run())
  again <- with_threads(2L, run())
  for (k in seq_along(one)) {
    # the cell sums of the starting weights are summed per thread (cells.c),
    # so 1 and 2 threads agree to rounding; 2 threads twice agree exactly
    expect_equal(as.double(one[[k]]), as.double(two[[k]]), tolerance = 1e-12)
    expect_identical(two[[k]], again[[k]])
    expect_identical(attr(one[[k]], "umfrage")$check, wt_fingerprint_ref(one[[k]]))
    expect_identical(attr(two[[k]], "umfrage")$check, wt_fingerprint_ref(two[[k]]))
  }
})

test_that("the carried totals are the weights' sums over the margins' levels", {
  n <- 20000
  d <- rk_data(n, seed = 5)
  set.seed(6)
  w0 <- runif(n, 0.2, 5)
  jt <- list(ab = data.frame(a = rep(c("x", "y"), 5), b = rep(1:5, each = 2),
                             target = c(1, 2, 3, 4, 5, 5, 4, 3, 2, 1) / 30),
             e = rk_targets$e)
  cases <- list(
    rake = wt_rake(d, rk_targets, weights = w0),
    cap = wt_rake(d, rk_targets, cap = 2.5),
    capw0 = wt_rake(d, rk_targets, weights = w0, cap = 4),      # cap with unequal w0: rows
    joint = wt_rake(d, jt),
    ps = wt_poststrat(d, table(a = d$a, c = d$c), weights = w0),
    rows = withr_rows(wt_rake(d, rk_targets, weights = w0)))
  for (nm in names(cases)) {
    w <- as.double(cases[[nm]])
    cl <- attr(cases[[nm]], "umfrage")$calibration
    for (m in seq_along(cl$margins)) {
      vars <- cl$margins[[m]]
      f <- interaction(d[vars], drop = FALSE, lex.order = FALSE)  # first variable fastest
      ref <- as.vector(tapply(w, f, sum, default = 0))
      expect_equal(cl$totals[[m]], ref, tolerance = 1e-12, info = paste(nm, m))
    }
  }
})

test_that("beyond 1e6 calibration cells the totals come without R passes, and still fit", {
  set.seed(7)
  n <- 4000
  d <- data.frame(x = factor(sample(1:101, n, TRUE), levels = 1:101),
                  y = factor(sample(1:101, n, TRUE), levels = 1:101),
                  z = factor(sample(1:101, n, TRUE), levels = 1:101))
  tg <- lapply(d, function(v) { p <- tabulate(v, 101) + 1; setNames(p / sum(p), 1:101) })
  w <- wt_rake(d, tg)
  cl <- attr(w, "umfrage")$calibration
  expect_identical(cl$cell_constant, NA)
  for (m in 1:3) {
    ref <- as.vector(tapply(as.double(w), d[[m]], sum, default = 0))
    expect_equal(cl$totals[[m]], ref, tolerance = 1e-12)
  }
  # the state still checks out against the rows
  expect_identical(attr(w, "umfrage")$check, wt_fingerprint_ref(w))
})

test_that("the margin table matches counts and sums taken independently", {
  n <- 10000
  d <- rk_data(n, seed = 8)
  w <- wt_rake(d, rk_targets)
  mt <- attr(w, "umfrage")$margins
  expect_s3_class(mt, "data.frame")
  expect_identical(names(mt), c("variable", "level", "target", "achieved", "n", "sample_share"))
  expect_identical(attr(mt, "row.names"), seq_len(nrow(mt)))
  expect_identical(mt$variable, rep(names(rk_targets), lengths(rk_targets)))
  expect_identical(mt$level, unname(unlist(lapply(rk_targets, names))))
  cnt <- unlist(lapply(names(rk_targets), function(v) as.vector(table(d[[v]]))))
  expect_identical(mt$n, as.double(cnt))
  expect_equal(mt$sample_share, cnt / n)
  ach <- unlist(lapply(names(rk_targets), function(v) as.vector(tapply(as.double(w), d[[v]], sum))))
  expect_equal(mt$achieved, ach, tolerance = 1e-12)
  expect_equal(mt$target, unname(unlist(rk_targets)) * n, tolerance = 1e-12)
})
