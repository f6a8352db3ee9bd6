# Calibration with numeric auxiliaries, issue 15 round 2: the coding pass
# runs on the threads, the row passes' block step vectorises (its own exp()
# in plain arithmetic) and the numeric auxiliaries are checked in C. The
# weights must not depend on the thread count (beyond rounding), must agree
# with survey::calibrate, and every check must find the first bad row.

test_that("numeric auxiliaries: the same weights on 1 and 2 threads, as survey's", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  local_threads(1L)
  d <- calaux_data(1501, 30001)   # not a multiple of the 256-row blocks
  tg <- calaux_targets(d)
  s <- survey::svydesign(ids = ~1, weights = ~w0, data = d)
  for (cs in list(list("logit", c(0.3, 3)), list("raking", c(-Inf, Inf)),
                  list("raking", c(0.5, 2)), list("linear", c(0.5, 2)))) {
    ref <- survey::calibrate(s, ~sex + age + reg + inc + hh, calaux_pop(tg), calfun = cs[[1]],
                             bounds = cs[[2]], epsilon = 1e-10, maxit = 100)
    ws <- lapply(1:2, function(th) {
      umfrage_threads(th)
      wt_calibrate(d, tg, weights = "w0", method = cs[[1]], bounds = cs[[2]])
    })
    expect_lt(rel_err(ws[[2]], ws[[1]]), 1e-12)
    for (w in ws) {
      # bounded raking: survey's weights are those of its first iterate
      # inside epsilon (2.8e-10 from umfrage's here, on main as well)
      expect_lt(rel_err(w, weights(ref)), if (cs[[1]] == "raking" && is.finite(cs[[2]][1])) 1e-9 else 1e-12)
      info <- attr(w, "umfrage")
      pos <- d$w0 > 0
      expect_equal(info$g_range, range(as.numeric(w)[pos] / d$w0[pos]), tolerance = 1e-14)
      expect_equal(info$margins$achieved[info$margins$variable == "hh"], sum(w * d$hh),
                   tolerance = 1e-13)
      expect_equal(info$calibration$totals[[1L]],
                   as.numeric(tapply(as.numeric(w), factor(d$sex, c("f", "m")), sum)),
                   tolerance = 1e-13, ignore_attr = TRUE)
      expect_lt(info$max_error, 1e-10)
      expect_identical(as.numeric(w)[c(7, 4000)], c(0, 0))
    }
  }
})

test_that("the coding pass on threads reports the first bad row, as one thread does", {
  local_threads(2L)
  d <- calaux_data(1502, 20000)
  tg <- calaux_targets(d)
  # non-finite numeric auxiliaries: count and first row, as is.finite() finds them
  d1 <- d
  d1$inc[c(15001, 9000)] <- c(Inf, NaN)
  expect_error(wt_calibrate(d1, tg, weights = "w0", method = "logit", bounds = c(0.3, 3)),
               "holds 2 NA or infinite value\\(s\\) \\(first at row 9000\\)")
  d1$inc <- d$inc
  d1$hh[c(19999, 20000)] <- c(-Inf, NA)
  expect_error(wt_calibrate(d1, tg, weights = "w0", method = "logit", bounds = c(0.3, 3)),
               "'hh' holds 2 NA or infinite value\\(s\\) \\(first at row 19999\\)")
  # an integer auxiliary with NA
  d1$hh <- as.integer(d$hh)
  d1$hh[12345L] <- NA
  expect_error(wt_calibrate(d1, tg, weights = "w0", method = "logit", bounds = c(0.3, 3)),
               "first at row 12345")
  # the C routine itself: a bad weight in the second thread's rows, a bad
  # code in the first thread's: the earlier row (the code) is reported
  ns <- asNamespace("umfrage")
  cal <- get("C_calibrate", envir = ns)
  codes <- list(match(d$sex, c("f", "m")), match(d$age, c("a", "b", "c", "d")))
  codes[[2]][c(3000L, 17000L)] <- NA_integer_
  w0 <- d$w0
  w0[c(2999L, 16000L)] <- c(1, -1)
  run <- function(th) {
    umfrage_threads(th)
    .Call(cal, codes, c(2L, 4L), w0, list(0L, 1L), list(c(5000, 5000), c(2000, 2500, 2500, 3000)),
          list(d$inc), sum(w0 * d$inc), 2L, c(0.3, 3), list(1e-10, 100L))
  }
  r1 <- run(1L)
  r2 <- run(2L)
  expect_identical(r1$status, 1L)          # NA code
  expect_identical(r1$info, c(1, 3000))    # variable 1 (0-based), row 3000
  expect_identical(r2, r1)
  w0[2999L] <- -1                          # now the weight is bad first
  expect_identical(run(2L)$status, 2L)
  expect_identical(run(2L)$info, 2999)
})

test_that("raking with g near overflow still halves its steps, as before", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  # a numeric auxiliary on a huge scale: exp() of the first step's
  # predictors overflows unless the step is halved
  set.seed(1503)
  n <- 3000
  d <- data.frame(g = sample(c("a", "b"), n, TRUE), x = stats::rexp(n) * 1e3)
  d$w0 <- 1
  tg <- list(g = c(a = 1500, b = 1500), x = 1.5 * sum(d$x))
  w <- wt_calibrate(d, tg, weights = "w0", method = "raking")
  s <- survey::svydesign(ids = ~1, weights = ~w0, data = d)
  ref <- survey::calibrate(s, ~g + x, c(`(Intercept)` = 3000, gb = 1500, x = tg$x),
                           calfun = "raking", epsilon = 1e-10, maxit = 100)
  expect_lt(rel_err(w, weights(ref)), 1e-10)
  expect_equal(sum(w * d$x), tg$x, tolerance = 1e-10)
})
