# Calibration with numeric auxiliaries, issue 15 round 3: the pass that
# converges stores g; the weights of Newton's last step are written from it
# by a pass without exp() (first order in the step), which also takes the
# weights' fingerprint. The weights must still agree with survey's, the
# misfit and g range reported must be those of the weights returned, and
# the fingerprint must be identical to C_fingerprint's of the weights.

test_that("C_calibrate returns the weights' fingerprint, identical to C_fingerprint's", {
  local_threads(1L)
  ns <- asNamespace("umfrage")
  d <- calaux_data(1601, 30001)
  tg <- calaux_targets(d)
  for (th in 1:2) {
    umfrage_threads(th)
    for (cs in list(list("logit", c(0.3, 3)), list("raking", c(-Inf, Inf)),
                    list("raking", c(0.5, 2)), list("linear", c(0.5, 2)),
                    list("linear", c(-Inf, Inf)))) {
      for (t in list(tg, tg[1:3], tg[4:5])) {
        # the C routine's own result, as wt_calibrate() calls it
        rec <- new.env(parent = ns)
        res <- NULL
        rec$.Call <- function(.NAME, ...) {
          r <- base::.Call(.NAME, ...)
          if (identical(.NAME$name, "C_calibrate")) res <<- r
          r
        }
        f <- get("wt_calibrate", envir = ns)
        environment(f) <- rec
        w <- f(d, t, weights = "w0", method = cs[[1]], bounds = cs[[2]])
        expect_identical(res$fingerprint, .Call(ns$C_fingerprint, res$weights))
        expect_identical(attr(w, "umfrage")$check, umfrage:::wt_fingerprint(as.numeric(w)))
      }
    }
  }
  # starting weights far from 1: calibrated on a safe scale, fingerprint of
  # the weights returned
  d$w0 <- d$w0 * 2^300
  tg2 <- lapply(tg, function(v) v * 2^300)
  w <- wt_calibrate(d, tg2, weights = "w0", method = "logit", bounds = c(0.3, 3))
  expect_identical(attr(w, "umfrage")$check, umfrage:::wt_fingerprint(as.numeric(w)))
})

test_that("numeric auxiliaries: 3 passes with exp(), weights as survey's, truthful misfit", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  local_threads(1L)
  d <- calaux_data(1602, 40001)
  tg <- calaux_targets(d)
  s <- survey::svydesign(ids = ~1, weights = ~w0, data = d)
  ref <- survey::calibrate(s, ~sex + age + reg + inc + hh, calaux_pop(tg), calfun = "logit",
                           bounds = c(0.3, 3), epsilon = 1e-10, maxit = 100)
  for (th in 1:2) {
    umfrage_threads(th)
    w <- wt_calibrate(d, tg, weights = "w0", method = "logit", bounds = c(0.3, 3))
    info <- attr(w, "umfrage")
    # Newton: a start, two steps, the last step written without exp()
    # (main: 4 passes with exp())
    expect_equal(info$passes, 3L)
    expect_equal(info$iterations, 3L)
    expect_lt(rel_err(w, weights(ref)), 1e-12)
    # the misfit reported is that of the weights returned
    ach <- c(tapply(as.numeric(w), d$sex, sum), tapply(as.numeric(w), d$age, sum),
             tapply(as.numeric(w), factor(d$reg, c("N", "S", "E")), sum),
             sum(w * d$inc), sum(w * d$hh))
    tgt <- unlist(tg)
    err <- max(abs(tgt - ach) / (1 + abs(tgt)))
    expect_lt(info$max_error, 1e-13)
    expect_lt(abs(info$max_error - err), 1e-13)
    expect_equal(info$trace[length(info$trace)], info$max_error)
    pos <- d$w0 > 0
    expect_equal(info$g_range, range(as.numeric(w)[pos] / d$w0[pos]), tolerance = 1e-14)
    expect_identical(as.numeric(w)[c(7, 4000)], c(0, 0))
  }
})
