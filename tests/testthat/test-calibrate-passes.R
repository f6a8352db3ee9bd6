# Calibration with numeric auxiliaries in few passes over the rows (issue
# 15): Newton first on the cells' approximation, then on the rows, with a
# final step whose pass writes the weights; the weights' calibration state
# from the C routine's per-cell sums; wt_fingerprint() in C.

test_that("numeric auxiliaries: few passes over the rows, weights as survey's at the default epsilon", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- calaux_data(151, 20000, zeros = FALSE)
  tg <- calaux_targets(d)
  s <- survey::svydesign(ids = ~1, weights = ~w0, data = d)
  for (cs in list(list("logit", c(0.3, 3)), list("raking", c(-Inf, Inf)), list("linear", c(-Inf, Inf)),
                  list("linear", c(0.5, 2)))) {
    w <- wt_calibrate(d, tg, weights = "w0", method = cs[[1]], bounds = cs[[2]])
    ref <- survey::calibrate(s, ~sex + age + reg + inc + hh, calaux_pop(tg), calfun = cs[[1]],
                             bounds = cs[[2]], epsilon = 1e-10, maxit = 100)
    # the last pass is a Newton step beyond the first iterate inside epsilon:
    # as close to the solution as survey's weights, not merely within epsilon
    expect_lt(rel_err(w, weights(ref)), 1e-12)
    info <- attr(w, "umfrage")
    # passes that evaluate g: Newton on the rows starts near the solution
    expect_lte(info$passes, 5L, label = paste(cs[[1]], "passes"))
    # achieved totals, g range and trace describe the weights returned
    expect_equal(info$margins$achieved[info$margins$variable == "inc"], sum(w * d$inc),
                 tolerance = 1e-13)
    expect_equal(info$g_range, range(as.numeric(w) / d$w0), tolerance = 1e-13)
    expect_lt(info$max_error, 1e-10)
    expect_identical(info$max_error, info$trace[length(info$trace)])
  }
})

test_that("the calibration state made from the C routine's cell sums equals the one from the rows", {
  d <- calaux_data(152, 3000, zeros = FALSE)
  tg <- calaux_targets(d)
  ns <- asNamespace("umfrage")
  w <- wt_calibrate(d, tg, weights = "w0", method = "logit", bounds = c(0.4, 2.5))
  st <- attr(w, "umfrage")$calibration
  # independently, from the rows in base R
  for (v in c("sex", "age", "reg")) {
    lev <- st$levels[[match(v, st$vars)]]
    expect_equal(unname(st$totals[[match(v, st$vars)]]),
                 as.numeric(tapply(as.numeric(w), factor(d[[v]], levels = lev), sum)), tolerance = 1e-13)
  }
  expect_equal(st$numeric_totals, c(sum(w * d$inc), sum(w * d$hh)), tolerance = 1e-13)
  # g varies within the cells (sex x age x reg): not cell-constant
  expect_false(st$cell_constant)
  expect_identical(st$check, get("wt_fingerprint", ns)(w))
  # a numeric auxiliary constant within the cells (an interaction of the
  # margins, not collinear with their levels): g is constant in each cell,
  # as base R's check of w / w0 per cell finds too
  d$x <- ifelse(d$sex == "f" & d$age %in% c("a", "b"), 2, 1) + (d$reg == "N") * (d$sex == "m")
  tx <- c(tg[1:3], list(x = 1.02 * sum(d$w0 * d$x)))
  w2 <- wt_calibrate(d, tx, weights = "w0", method = "logit", bounds = c(0.4, 2.5))
  cell <- interaction(d$sex, d$age, d$reg, drop = TRUE)
  r <- as.numeric(w2) / d$w0
  expect_lt(max(tapply(r, cell, function(v) diff(range(v)) / mean(v))), 1e-10)
  expect_true(attr(w2, "umfrage")$calibration$cell_constant)
  # tab() finds the state fits the weights (and, since issue 16, adjusts
  # the variance for the numeric auxiliaries too: no warning)
  expect_no_warning(tab(d, "sex", weights = w))
})

test_that("wt_fingerprint() gives the numbers of its R definition, bitwise", {
  fp_r <- function(w) {
    w <- as.double(w)
    n <- length(w)
    mx <- if (n) max(abs(w)) else 0
    e <- if (is.finite(mx) && mx > 0) min(max(-round(log2(mx)), -1020), 1020) else 0
    if (e != 0) w <- w * 2^e
    c(n, sum(w), sum(w * w), sum(abs(w)), sum(w * (seq_len(n) / n)), e)
  }
  fp <- get("wt_fingerprint", asNamespace("umfrage"))
  set.seed(153)
  for (w in list(stats::rlnorm(5e4), stats::rlnorm(100) * 1e250, stats::rlnorm(100) * 1e-290,
                 c(1, NA, 3), c(0, 0), double(), c(1, Inf), -stats::rnorm(999), 2^(-1074:-1060),
                 c(NaN, 2), 1L:10L, 0.75))
    expect_identical(fp(w), fp_r(w))
})
