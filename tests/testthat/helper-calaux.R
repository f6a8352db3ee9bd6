# Data, margins and population totals shared by the tests of calibration
# with numeric auxiliaries (test-calibrate-passes.R, test-calib-speed2.R,
# test-calib-speed3.R): sex, age and region margins plus two numeric
# auxiliaries (income, household size) on log-normal starting weights
# scaled to 1e4; `zeros` sets the weights of rows 7 and 4000 to 0 (rows
# without weight add nothing, wherever they are).
calaux_data <- function(seed, n, zeros = TRUE) {
  set.seed(seed)
  d <- data.frame(sex = sample(c("f", "m"), n, TRUE, prob = c(0.55, 0.45)),
                  age = sample(c("a", "b", "c", "d"), n, TRUE),
                  reg = sample(c("N", "S", "E"), n, TRUE, prob = c(0.2, 0.3, 0.5)),
                  stringsAsFactors = FALSE)
  d$inc <- stats::rlnorm(n, 7 + 0.2 * (d$age == "d"), 0.5)
  d$hh <- stats::rpois(n, 1.5) + 1
  d$w0 <- stats::rlnorm(n, 0, 0.3)
  d$w0 <- d$w0 * 1e4 / sum(d$w0)
  if (zeros) d$w0[c(7, 4000)] <- 0
  d
}
# Targets for wt_calibrate() (margins as totals, numeric auxiliaries moved
# off their starting totals).
calaux_targets <- function(d) {
  T <- sum(d$w0)
  list(sex = c(f = 0.5, m = 0.5) * T, age = c(a = 0.2, b = 0.25, c = 0.25, d = 0.3) * T,
       reg = c(N = 0.25, S = 0.3, E = 0.45) * T,
       inc = 1.03 * sum(d$w0 * d$inc), hh = 0.98 * sum(d$w0 * d$hh))
}
# The same targets as survey::calibrate()'s population vector for
# ~sex + age + reg + inc + hh.
calaux_pop <- function(tg) {
  c(`(Intercept)` = sum(tg$sex), sexm = tg$sex[["m"]], ageb = tg$age[["b"]],
    agec = tg$age[["c"]], aged = tg$age[["d"]], regN = tg$reg[["N"]], regS = tg$reg[["S"]],
    inc = tg$inc, hh = tg$hh)
}
