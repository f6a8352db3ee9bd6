# tab() on re-calibrated replicate designs (issue 17) without a (PSU,
# calibration cell) pairs x replicates factor matrix: replicate totals per
# profile of the block's codes from one C pass over the rows, domain df
# from the rank of the domain rows' factor vectors (C_rep_rank). Checked
# against survey on an svrepdesign built from the same replicate weights
# (rep_weights()): svyby() percents and SEs, svymean() of a numeric
# variable, and degf() of the domain's subset.

skip_if_not_installed("survey")
suppressPackageStartupMessages(library(survey))

rs_data <- function(n = 2400, H = 6L, M = 8L, seed = 5) {
  set.seed(seed)
  psu <- sort(sample.int(H * M, n, replace = TRUE))
  psu[seq_len(H * M)] <- seq_len(H * M)
  psu <- sort(psu)
  d <- data.frame(h = (psu - 1L) %/% M + 1L, psu = psu,
                  a = sample.int(6L, n, TRUE), b = sample.int(5L, n, TRUE), c = sample.int(4L, n, TRUE))
  d$y <- sample(c("p", "q", "r"), n, TRUE)
  d$z <- sample(c("s", "t"), n, TRUE)
  d$v <- stats::rnorm(n, 10, 3)
  d$x1 <- stats::runif(n, 1, 4)
  d$w0 <- stats::runif(n, 1, 3)
  d
}
rs_targets <- function(d) {
  N <- sum(d$w0) * 1.15
  mk <- function(v) {
    k <- max(d[[v]])
    p <- tabulate(d[[v]], k) * (1 + 0.2 * sin(seq_len(k)))
    stats::setNames(N * p / sum(p), seq_len(k))
  }
  list(a = mk("a"), b = mk("b"), c = mk("c"))
}
# survey's design on umfrage's replicate weights
rs_survey <- function(rd) {
  W <- umfrage:::rep_weights(rd)
  d <- rd$data
  d$y <- factor(d$y)
  d$z <- factor(d$z)
  svrepdesign(data = d, repweights = W, weights = as.double(rd$weights), type = "other",
              scale = rd$rep$scale, rscales = rd$rep$rscales, combined.weights = TRUE,
              mse = rd$rep$mse)
}
rs_check <- function(rd, sd) {
  t <- as.data.frame(suppressWarnings(tab(rd, rows = list("y", mean_of("v")), cols = "z")))
  pc <- t[t$row_var == "y" & t$col_var == "z", ]
  sb <- svyby(~y, ~z, sd, svymean)
  for (k in seq_len(nrow(pc))) {
    i <- match(as.character(pc$col[k]), as.character(sb$z))
    j <- paste0("y", pc$row[k])
    expect_equal(pc$pct[k] / 100, sb[[j]][i], tolerance = 1e-10)
    expect_equal(pc$se[k] / 100, as.matrix(SE(sb))[i, match(as.character(pc$row[k]), c("p", "q", "r"))],
                 tolerance = 1e-8)
    expect_equal(pc$df[k], degf(subset(sd, z == as.character(pc$col[k]))))
  }
  mn <- t[t$row_var == "mean(v)" & t$col_var == "z", ]
  sm <- svyby(~v, ~z, sd, svymean)
  i <- match(as.character(mn$col), as.character(sm$z))
  expect_equal(mn$estimate, sm$v[i], tolerance = 1e-10)
  expect_equal(mn$se, sm$se[i], tolerance = 1e-8)
  expect_equal(mn$df, vapply(as.character(mn$col), function(l) degf(subset(sd, z == l)), 0), ignore_attr = TRUE)
}

test_that("re-raked bootstrap: no pairs x R matrix, and tab() equals survey on the same replicate weights", {
  d <- rs_data()
  w <- wt_rake(d, rs_targets(d), weights = d$w0, epsilon = 1e-12)
  set.seed(3)
  rd <- as_repdesign(svy_design(d, strata = ~h, cluster = ~psu, weights = w), "bootstrap", replicates = 30)
  ru <- umfrage:::rep_setup(rd, 1)
  npairs <- nrow(unique(cbind(rd$rep$unit, rd$rep$g)))
  expect_gt(npairs, 1000)
  # nothing of size pairs x R in what tab() sets up (main kept P, pairs x R)
  expect_null(ru$P)
  expect_lt(as.numeric(utils::object.size(ru)), 8 * npairs * 30 / 2)
  sd <- rs_survey(rd)
  expect_identical(rd$rep$df, as.integer(degf(sd)))
  rs_check(rd, sd)
})

test_that("linear calibration with a numeric auxiliary: the rows' factor vectors, totals and df as survey", {
  d <- rs_data(seed = 7)
  tg <- rs_targets(d)[1:2]
  tg$x1 <- sum(d$x1 * d$w0) * 1.12
  w <- wt_calibrate(d, tg, weights = d$w0)
  set.seed(4)
  rd <- as_repdesign(svy_design(d, strata = ~h, cluster = ~psu, weights = w), "bootstrap", replicates = 25)
  expect_false(is.null(rd$rep$lin))
  expect_null(umfrage:::rep_setup(rd, 1)$P)
  sd <- rs_survey(rd)
  expect_identical(rd$rep$df, as.integer(degf(sd)))
  rs_check(rd, sd)
})

test_that("domain df below R with more than 3R distinct factor vectors: every vector counted, as qr()", {
  # one PSU per column level: a bootstrap PSU is left out of some replicates
  # (factor 0 there), so its rows' vectors span fewer than R dimensions,
  # however many calibration cells it has
  d <- rs_data(n = 3000, H = 2L, M = 3L, seed = 11)
  d$z <- paste0("u", d$psu)
  w <- wt_rake(d, rs_targets(d), weights = d$w0, epsilon = 1e-12)
  set.seed(8)
  R <- 20L
  rd <- as_repdesign(svy_design(d, strata = ~h, cluster = ~psu, weights = w), "bootstrap", replicates = R)
  W <- umfrage:::rep_weights(rd)
  t <- as.data.frame(suppressWarnings(tab(rd, rows = "y", cols = "z")))
  for (l in unique(d$z)) {
    rows <- d$z == l
    expect_gt(nrow(unique(cbind(rd$rep$unit, rd$rep$g)[rows, ])), 3L * R)
    want <- qr(W[rows, ], tol = 1e-5)$rank - 1
    expect_lt(want, R - 1)
    expect_equal(unique(t$df[t$col == l & t$col_var == "z"]), want)
  }
})

test_that("C_rep_profile takes its row count from the columns (no allocation from 'n' alone)", {
  f <- get("C_rep_profile", asNamespace("umfrage"))
  # found by make fuzz: an empty list with n = 1e9 allocated 12 GB
  expect_error(.Call(f, list(), 1000000000L), "at least one code vector")
  expect_error(.Call(f, list(1:3), 1000000000L))
  p <- .Call(f, list(c(1L, 2L, 1L, 2L)), 4L)
  expect_identical(p$prof, c(1L, 2L, 1L, 2L))
  expect_identical(p$np, 2L)
})
