# Inference for multiple-response sets: respondents sit in several cells.

mr_data <- function(seed, n = 900) {
  d <- sim_design_data(seed, n_psu = 60, per_psu = n / 60)
  set.seed(seed + 100)
  eff <- rnorm(60)[d$psu]
  d$b1 <- runif(n) < plogis(0.3 + 0.5 * eff)
  d$b2 <- runif(n) < plogis(-0.5 + 0.3 * eff + (d$g == "x"))
  d$b3 <- runif(n) < 0.15
  d$answered <- d$b1 | d$b2 | d$b3
  d
}

test_that("MR rows: percents of respondents and SEs equal svyby on the answered", {
  skip_if_not_installed("survey")
  d <- mr_data(1)
  s <- mr_set(d, c("b1", "b2", "b3"), labels = c("one", "two", "three"), label = "brands")
  for (clustered in c(FALSE, TRUE)) {
    u <- if (clustered) svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
         else svy_design(d, weights = ~w, strata = ~st)
    sd <- if (clustered) survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, fpc = ~N, data = d)
          else survey::svydesign(ids = ~1, strata = ~st, weights = ~w, data = d)
    t <- as.data.frame(tab(u, s, cols = "g"))
    sub <- subset(sd, answered)
    for (j in 1:3) {
      item <- c("one", "two", "three")[j]
      v <- c("b1", "b2", "b3")[j]
      by <- survey::svyby(stats::as.formula(paste0("~as.numeric(", v, ")")), ~g, sub, survey::svymean)
      got <- t[t$row == item & t$col_var == "g", ]
      expect_lt(rel_err(got$pct, 100 * by[match(got$col, by$g), 2]), 1e-10)
      expect_lt(rel_err(got$se, 100 * by[match(got$col, by$g), 3]), 1e-8)
      m <- survey::svymean(stats::as.formula(paste0("~as.numeric(", v, ")")), sub)
      tot <- t[t$row == item & t$col_var == "Total", ]
      expect_lt(rel_err(tot$se, 100 * survey::SE(m)), 1e-8)
    }
  }
})

test_that("MR columns: SEs per item domain, and the covariance behind letters", {
  skip_if_not_installed("survey")
  d <- mr_data(2)
  s <- mr_set(d, c("b1", "b2"), labels = c("one", "two"), label = "brands")
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  sd <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  t <- as.data.frame(tab(u, "g", cols = s))
  got <- t[t$col_var == "brands" & t$row == "x", ]
  for (k in 1:2) {
    m <- survey::svymean(~I(g == "x"), sd[d[[c("b1", "b2")[k]]], ])
    expect_lt(rel_err(got$se[k], 100 * survey::SE(m)[2]), 1e-8)
  }
  # Var(p1 - p2) with the covariance of overlapping domains, via svyratio
  d$x1 <- (d$g == "x") * d$b1
  d$x2 <- (d$g == "x") * d$b2
  d$n1 <- as.numeric(d$b1)
  d$n2 <- as.numeric(d$b2)
  sd <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  r <- survey::svyratio(~x1 + x2, ~n1 + n2, sd, covmat = TRUE)
  V <- vcov(r)
  nm <- rownames(V)
  i1 <- grep("x1/n1", nm, fixed = TRUE)
  i2 <- grep("x2/n2", nm, fixed = TRUE)
  vdiff <- V[i1, i1] + V[i2, i2] - 2 * V[i1, i2]
  z <- (got$pct[1] - got$pct[2]) / 100 / sqrt(vdiff)
  expect_equal(coef(r)[c(i1, i2)], got$pct / 100, tolerance = 1e-10, ignore_attr = TRUE)
  sig <- 2 * pnorm(-abs(z)) < 0.05
  has <- nzchar(got$letters[1]) || nzchar(got$letters[2])
  expect_identical(has, sig)
})

test_that("MR rows with raked weights use the calibrated variance", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")  # survey::calibrate() needs it
  d <- mr_data(3)
  d$sex <- sample(c("f", "m"), nrow(d), TRUE)
  w <- wt_rake(d, list(sex = c(f = 0.5, m = 0.5), g = c(x = 0.4, z = 0.6)), weights = "w",
               total = 5000, epsilon = 1e-13)
  s <- mr_set(d, c("b1", "b2", "b3"), labels = c("one", "two", "three"), label = "brands")
  t <- as.data.frame(tab(d, s, weights = w))
  s0 <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  cal <- survey::calibrate(s0, ~sex + g, c(`(Intercept)` = 5000, sexm = 2500, gz = 3000),
                           calfun = "raking", epsilon = 1e-13, maxit = 200)
  m <- survey::svymean(~as.numeric(b2), subset(cal, answered))
  expect_lt(rel_err(t$se[t$row == "two"], 100 * survey::SE(m)), 1e-8)
})
