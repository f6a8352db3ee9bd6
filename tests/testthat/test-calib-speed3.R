# Calibration with numeric auxiliaries, issue 15 round 3: the pass that
# converges stores g; the weights of Newton's last step are written from it
# by a pass without exp() (first order in the step), which also takes the
# weights' fingerprint. The weights must still agree with survey's, the
# misfit and g range reported must be those of the weights returned, and
# the fingerprint must be identical to C_fingerprint's of the weights.

speed3_data <- function(seed, n) {
  set.seed(seed)
  d <- data.frame(sex = sample(c("f", "m"), n, TRUE, prob = c(0.55, 0.45)),
                  age = sample(c("a", "b", "c", "d"), n, TRUE),
                  reg = sample(c("N", "S", "E"), n, TRUE, prob = c(0.2, 0.3, 0.5)),
                  stringsAsFactors = FALSE)
  d$inc <- stats::rlnorm(n, 7 + 0.2 * (d$age == "d"), 0.5)
  d$hh <- stats::rpois(n, 1.5) + 1
  d$w0 <- stats::rlnorm(n, 0, 0.3)
  d$w0 <- d$w0 * 1e4 / sum(d$w0)
  d$w0[c(7, 4000)] <- 0
  d
}
speed3_targets <- function(d) {
  T <- sum(d$w0)
  list(sex = c(f = 0.5, m = 0.5) * T, age = c(a = 0.2, b = 0.25, c = 0.25, d = 0.3) * T,
       reg = c(N = 0.25, S = 0.3, E = 0.45) * T,
       inc = 1.03 * sum(d$w0 * d$inc), hh = 0.98 * sum(d$w0 * d$hh))
}
speed3_pop <- function(tg) {
  c(`(Intercept)` = sum(tg$sex), sexm = tg$sex[["m"]], ageb = tg$age[["b"]],
    agec = tg$age[["c"]], aged = tg$age[["d"]], regN = tg$reg[["N"]], regS = tg$reg[["S"]],
    inc = tg$inc, hh = tg$hh)
}

test_that("C_calibrate returns the weights' fingerprint, identical to C_fingerprint's", {
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit(umfrage:::threads_min_rows(old_rows), add = TRUE)
  old_th <- umfrage_threads(1L)
  on.exit(umfrage_threads(old_th), add = TRUE)
  ns <- asNamespace("umfrage")
  d <- speed3_data(1601, 30001)
  tg <- speed3_targets(d)
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
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit(umfrage:::threads_min_rows(old_rows), add = TRUE)
  old_th <- umfrage_threads(1L)
  on.exit(umfrage_threads(old_th), add = TRUE)
  d <- speed3_data(1602, 40001)
  tg <- speed3_targets(d)
  s <- survey::svydesign(ids = ~1, weights = ~w0, data = d)
  ref <- survey::calibrate(s, ~sex + age + reg + inc + hh, speed3_pop(tg), calfun = "logit",
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
