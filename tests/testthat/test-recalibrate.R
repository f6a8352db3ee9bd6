# Re-calibration of replicate weights on cells (issue 17, rep_recalibrate()):
# the replicate weights base * A[unit, r] * F[g, r] equal those of survey's
# rake() / postStratify() / calibrate() on an svyrep.design, given survey's
# own replicate factors (its compressed repweights: A per unit, with the
# row -> unit index).

skip_if_not_installed("survey")
suppressPackageStartupMessages(library(survey))

data(api, package = "survey")
pop_stype <- c(E = 4421, H = 755, M = 1018)
pop_sw <- c(No = sum(apipop$sch.wide == "No"), Yes = sum(apipop$sch.wide == "Yes"))
pop_aw <- c(No = sum(apipop$awards == "No"), Yes = sum(apipop$awards == "Yes"))

# survey's replicate factors as (unit, A): the compressed repweights
rep_parts <- function(rdes) {
  rw <- rdes$repweights
  if (!inherits(rw, "repweights_compressed")) rw <- compressWeights(rw)
  stopifnot(!rdes$combined.weights)
  list(unit = as.integer(rw$index), A = as.matrix(rw$weights))
}

# the replicate weights the factor representation implies
implied <- function(rr, base, p) base * p$A[p$unit, , drop = FALSE] * rr$F[rr$g, , drop = FALSE]

rake_pops <- function(...) {
  x <- list(...)
  lapply(names(x), function(v) {
    d <- data.frame(names(x[[v]]), Freq = unname(x[[v]]))
    names(d)[1L] <- v
    d
  })
}

test_that("re-raking JKn replicates on apistrat equals survey's rake() on the svyrep design", {
  d <- apistrat
  rdes <- as.svrepdesign(svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d), type = "JKn")
  w <- wt_rake(d, list(stype = pop_stype, sch.wide = pop_sw, awards = pop_aw), weights = d$pw)
  p <- rep_parts(rdes)
  rr <- umfrage:::rep_recalibrate(d, attr(w, "umfrage")$calibration, p$unit, p$A, d$pw)
  expect_true(all(rr$info$converged))
  rs <- rake(rdes, list(~stype, ~sch.wide, ~awards),
             rake_pops(stype = pop_stype, sch.wide = pop_sw, awards = pop_aw),
             control = list(maxit = 1000, epsilon = 1e-14))
  expect_lt(rel_err(implied(rr, d$pw, p), weights(rs, "analysis")), 1e-8)
  # the full sample (all factors 1) gives the calibrated weights themselves
  one <- umfrage:::rep_recalibrate(d, attr(w, "umfrage")$calibration, rep(1L, nrow(d)),
                                   matrix(1, 1, 1), d$pw)
  expect_lt(rel_err(d$pw * one$F[one$g, 1], weights(rs, "sampling")), 1e-8)
})

test_that("re-post-stratified JKn and bootstrap replicates equal survey's postStratify()", {
  d <- apistrat
  sdes <- svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d)
  pop <- as.data.frame(table(stype = apipop$stype, sch.wide = apipop$sch.wide))
  w <- wt_poststrat(d, pop, weights = d$pw)
  set.seed(17)
  for (type in c("JKn", "bootstrap")) {
    rdes <- as.svrepdesign(sdes, type = type, replicates = 40)
    p <- rep_parts(rdes)
    rr <- umfrage:::rep_recalibrate(d, attr(w, "umfrage")$calibration, p$unit, p$A, d$pw)
    rs <- postStratify(rdes, ~stype + sch.wide, pop)
    expect_lt(rel_err(implied(rr, d$pw, p), weights(rs, "analysis")), 1e-8)
    expect_true(all(rr$info$iterations <= 1L))
  }
})

test_that("re-calibrated JK1 replicates on apiclus1 equal survey's calibrate() for each calfun and bounds", {
  d <- apiclus1
  rdes <- as.svrepdesign(svydesign(ids = ~dnum, weights = ~pw, data = d, fpc = ~fpc), type = "JK1")
  p <- rep_parts(rdes)
  tg <- list(stype = pop_stype, sch.wide = pop_sw)
  spop <- c(`(Intercept)` = sum(pop_stype), stypeH = pop_stype[["H"]],
            stypeM = pop_stype[["M"]], sch.wideYes = pop_sw[["Yes"]])
  # bounds that bind in some replicates (F reaches them) yet can be met
  cases <- list(list("linear", c(-Inf, Inf)), list("linear", c(0.7, 2.2)),
                list("raking", c(-Inf, Inf)), list("raking", c(0.7, 2.5)),
                list("logit", c(0.5, 2.2)))
  for (cs in cases) {
    w <- wt_calibrate(d, tg, weights = d$pw, method = cs[[1]], bounds = cs[[2]])
    rr <- umfrage:::rep_recalibrate(d, attr(w, "umfrage")$calibration, p$unit, p$A, d$pw)
    expect_true(all(rr$info$converged))
    rs <- calibrate(rdes, ~stype + sch.wide, spop, calfun = cs[[1]], bounds = cs[[2]],
                    epsilon = 1e-13, maxit = 200)
    expect_lt(rel_err(weights(rs, "sampling"), as.double(w)), 1e-8)
    expect_lt(rel_err(implied(rr, d$pw, p), weights(rs, "analysis")), 1e-8)
  }
})

test_that("re-raking bootstrap replicates of a clustered design equals survey's rake() and calibrate(raking)", {
  d <- apiclus1
  set.seed(3)
  rdes <- as.svrepdesign(svydesign(ids = ~dnum, weights = ~pw, data = d), type = "bootstrap",
                         replicates = 30)
  p <- rep_parts(rdes)
  w <- wt_rake(d, list(stype = pop_stype, awards = pop_aw), weights = d$pw)
  rr <- umfrage:::rep_recalibrate(d, attr(w, "umfrage")$calibration, p$unit, p$A, d$pw)
  rs <- rake(rdes, list(~stype, ~awards), rake_pops(stype = pop_stype, awards = pop_aw),
             control = list(maxit = 1000, epsilon = 1e-14))
  expect_lt(rel_err(implied(rr, d$pw, p), weights(rs, "analysis")), 1e-8)
  rc <- calibrate(rdes, ~stype + awards,
                  c(`(Intercept)` = sum(pop_stype), stypeH = pop_stype[["H"]],
                    stypeM = pop_stype[["M"]], awardsYes = pop_aw[["Yes"]]),
                  calfun = "raking", epsilon = 1e-13, maxit = 200)
  expect_lt(rel_err(implied(rr, d$pw, p), weights(rc, "analysis")), 1e-8)
})

test_that("re-raking a synthetic 1e5-row stratified cluster sample equals survey's rake()", {
  skip_on_cran()
  set.seed(11)
  n <- 1e5
  npsu <- 200
  d <- data.frame(psu = sample.int(npsu, n, TRUE))
  d$st <- (d$psu - 1L) %/% 20L + 1L
  d$w <- runif(n, 50, 150)
  d$a <- factor(sample(letters[1:6], n, TRUE, prob = 1:6))
  d$b <- factor(sample(c("x", "y", "z"), n, TRUE))
  d$c <- factor(sample(1:8, n, TRUE))
  tot <- sum(d$w)
  ta <- setNames((1:6) / 21 * tot * 1.02, letters[1:6])
  tb <- setNames(c(0.3, 0.3, 0.4) * sum(ta), c("x", "y", "z"))
  tc <- setNames(rep(sum(ta) / 8, 8), 1:8)
  w <- wt_rake(d, list(a = ta, b = tb, c = tc), weights = d$w)
  rdes <- as.svrepdesign(svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d),
                         type = "bootstrap", replicates = 20)
  p <- rep_parts(rdes)
  rr <- umfrage:::rep_recalibrate(d, attr(w, "umfrage")$calibration, p$unit, p$A, d$w)
  rs <- rake(rdes, list(~a, ~b, ~c), rake_pops(a = ta, b = tb, c = tc),
             control = list(maxit = 1000, epsilon = 1e-14))
  expect_lt(rel_err(implied(rr, d$w, p), weights(rs, "analysis")), 1e-8)
})

test_that("numeric auxiliaries (linear, no bounds): eta and beta give survey's calibrate() replicate weights", {
  for (des in c("apiclus1 JK1", "apistrat JKn")) {
    if (des == "apiclus1 JK1") {
      d <- apiclus1
      rdes <- as.svrepdesign(svydesign(ids = ~dnum, weights = ~pw, data = d, fpc = ~fpc), type = "JK1")
    } else {
      d <- apistrat
      rdes <- as.svrepdesign(svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d), type = "JKn")
    }
    p <- rep_parts(rdes)
    tg <- list(stype = pop_stype, api99 = sum(apipop$api99), meals = sum(apipop$meals))
    w <- wt_calibrate(d, tg, weights = d$pw)
    rr <- umfrage:::rep_recalibrate(d, attr(w, "umfrage")$calibration, p$unit, p$A, d$pw)
    expect_null(rr$F)
    expect_identical(dim(rr$lin$beta), c(2L, ncol(p$A)))
    mine <- d$pw * p$A[p$unit, ] * (1 + rr$lin$eta[rr$g, ] + rr$lin$u %*% rr$lin$beta)
    rs <- calibrate(rdes, ~stype + api99 + meals,
                    c(`(Intercept)` = sum(pop_stype), stypeH = pop_stype[["H"]],
                      stypeM = pop_stype[["M"]], api99 = tg$api99, meals = tg$meals))
    expect_lt(rel_err(mine, weights(rs, "analysis")), 1e-8)
  }
  # other calibration functions with numeric auxiliaries: not (yet) re-calibrated
  w <- wt_calibrate(apistrat, list(stype = pop_stype, api99 = sum(apipop$api99)),
                    weights = apistrat$pw, method = "raking")
  expect_error(umfrage:::rep_recalibrate(apistrat, attr(w, "umfrage")$calibration,
                                         seq_len(200), matrix(1, 200, 2), apistrat$pw),
               "linear calibration without bounds only")
})

test_that("a replicate that leaves a level without weight warns, naming the level", {
  d <- apiclus1
  # a level held by one PSU only: the JK1 replicate that drops it cannot meet it
  d$grp <- ifelse(d$dnum == d$dnum[1], "only", "rest")
  rdes <- as.svrepdesign(svydesign(ids = ~dnum, weights = ~pw, data = d), type = "JK1")
  p <- rep_parts(rdes)
  w <- wt_rake(d, list(grp = c(only = 300, rest = 5894), stype = pop_stype), weights = d$pw)
  expect_warning(rr <- umfrage:::rep_recalibrate(d, attr(w, "umfrage")$calibration, p$unit, p$A, d$pw),
                 "1 of 15 replicate.*could not be calibrated again.*'only' of 'grp'")
  expect_equal(sum(!rr$info$converged), 1L)
  expect_true(all(is.finite(rr$F)))
})

test_that("replicates on several threads give the same factors as on one", {
  d <- apistrat
  set.seed(5)
  rdes <- as.svrepdesign(svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d),
                         type = "bootstrap", replicates = 50)
  p <- rep_parts(rdes)
  w <- wt_calibrate(d, list(stype = pop_stype, sch.wide = pop_sw, awards = pop_aw),
                    weights = d$pw, method = "logit", bounds = c(0.4, 2.5))
  cl <- attr(w, "umfrage")$calibration
  old <- umfrage_threads(1)
  on.exit(umfrage_threads(old), add = TRUE)
  one <- umfrage:::rep_recalibrate(d, cl, p$unit, p$A, d$pw)
  umfrage_threads(2)
  oldmin <- umfrage:::threads_min_rows(1L)
  on.exit(umfrage:::threads_min_rows(oldmin), add = TRUE)
  two <- umfrage:::rep_recalibrate(d, cl, p$unit, p$A, d$pw)
  expect_identical(two$F, one$F)
  rs <- calibrate(rdes, ~stype + sch.wide + awards,
                  c(`(Intercept)` = sum(pop_stype), stypeH = pop_stype[["H"]],
                    stypeM = pop_stype[["M"]], sch.wideYes = pop_sw[["Yes"]],
                    awardsYes = pop_aw[["Yes"]]),
                  calfun = "logit", bounds = c(0.4, 2.5), epsilon = 1e-13, maxit = 200)
  expect_lt(rel_err(implied(two, d$pw, p), weights(rs, "analysis")), 1e-8)
})

test_that("re-calibration refuses what it cannot represent, with clear errors", {
  d <- apistrat
  p <- list(unit = seq_len(nrow(d)), A = matrix(1, nrow(d), 2))
  # a cap that trimmed rows of unequal starting weights
  set.seed(1)
  w0 <- d$pw * runif(nrow(d), 0.5, 1.5)
  w <- wt_rake(d, list(stype = pop_stype, sch.wide = pop_sw), weights = w0, cap = 1.6)
  cl <- attr(w, "umfrage")$calibration
  if (identical(cl$cell_constant, FALSE))
    expect_error(umfrage:::rep_recalibrate(d, cl, p$unit, p$A, w0), "cap")
  w <- wt_rake(d, list(stype = pop_stype), weights = d$pw)
  cl <- attr(w, "umfrage")$calibration
  expect_error(umfrage:::rep_recalibrate(d, cl, p$unit[-1], p$A, d$pw), "'unit'")
  expect_error(umfrage:::rep_recalibrate(d, cl, p$unit, p$A, d$pw[-1]), "'base'")
  expect_error(umfrage:::rep_recalibrate(d[, "cds", drop = FALSE], cl, p$unit, p$A, d$pw),
               "'stype'")
  # weights changed after they were made
  expect_error(umfrage:::rep_recalibrate(d, cl, p$unit, p$A, d$pw, w = as.double(w) * 1.1),
               "no longer fits")
  expect_silent(umfrage:::rep_recalibrate(d, cl, p$unit, p$A, d$pw, w = w))
  A <- p$A
  A[3, 1] <- NA
  expect_error(umfrage:::rep_recalibrate(d, cl, p$unit, A, d$pw), "'A'")
})
