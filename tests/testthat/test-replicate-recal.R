# Replicate designs with re-calibration (issue 17): as_repdesign() on an
# svy_design() whose weights come from wt_rake(), wt_poststrat() or
# wt_calibrate() calibrates every replicate again, and tab()'s percents,
# SEs, CIs, df, tests and numeric rows equal survey's svymean(), svyby(),
# svyciprop() and svychisq() on rake() / postStratify() / calibrate() of
# as.svrepdesign() of the uncalibrated design.

skip_if_not_installed("survey")
suppressPackageStartupMessages(library(survey))

rr_api <- function(which) {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  d <- e[[which]]
  for (v in c("stype", "sch.wide", "awards", "both", "yr.rnd", "comp.imp")) if (is.factor(d[[v]])) d[[v]] <- as.character(d[[v]])
  d
}
rr_pop <- local({
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  p <- e$apipop
  list(stype = c(E = 4421, H = 755, M = 1018),
       sch.wide = c(No = sum(p$sch.wide == "No"), Yes = sum(p$sch.wide == "Yes")),
       awards = c(No = sum(p$awards == "No"), Yes = sum(p$awards == "Yes")),
       yr.rnd = c(No = sum(p$yr.rnd == "No"), Yes = sum(p$yr.rnd == "Yes")),
       api99 = sum(p$api99), meals = sum(p$meals),
       ps = as.data.frame(table(stype = p$stype, sch.wide = p$sch.wide)))
})
rr_rakepops <- function(vars) lapply(vars, function(v) {
  d <- data.frame(names(rr_pop[[v]]), Freq = unname(rr_pop[[v]]))
  names(d)[1L] <- v
  d
})
rr_cells <- function(t) {
  d <- as.data.frame(t, stringsAsFactors = FALSE)
  d$row <- as.character(d$row)
  d$col <- as.character(d$col)
  d
}
# tab() with umfrage's note on replicates without weight in a domain (as
# survey's svrVar() leaves them out; expected on small JK1 / bootstrap
# designs) muffled, other warnings kept
rr_tab <- function(...) withCallingHandlers(tab(...), warning = function(w)
  if (grepl("some replicates give no estimate", conditionMessage(w))) invokeRestart("muffleWarning"))
rr_sub <- function(sd, var, lev) {
  if (is.null(var)) return(sd)
  eval(substitute(subset(sd, V == L), list(V = as.name(var), L = lev)))
}

# every percent cell of tab(ud, row, cols = col) against survey's design sd
rr_check_pct <- function(ud, sd, row, col, ci = "logit", tol = 1e-8) {
  t <- rr_cells(rr_tab(ud, row, cols = col, ci = ci))
  meth <- c(logit = "logit", wald = "mean", "korn-graubard" = "beta")[[ci]]
  for (k in seq_len(nrow(t))) {
    sub <- rr_sub(sd, if (t$col_var[k] == "Total") NULL else col, t$col[k])
    f <- stats::as.formula(sprintf("~as.numeric(%s == %s)", row, deparse(t$row[k])))
    m <- survey::svymean(f, sub)
    expect_equal(t$pct[k], 100 * unname(coef(m)), tolerance = tol)
    expect_equal(t$se[k], 100 * unname(survey::SE(m)), tolerance = tol)
    expect_equal(t$df[k], survey::degf(sub))
    p <- unname(coef(m))
    if (p > 0 && p < 1) {
      cp <- survey::svyciprop(stats::as.formula(sprintf("~I(%s == %s)", row, deparse(t$row[k]))),
                              sub, method = meth)
      # survey's logit interval comes from svyglm() per replicate, itself
      # converged to glm's 1e-8: 1e-7 for it
      expect_equal(c(t$ci_low[k], t$ci_high[k]), pmin(pmax(100 * unname(attr(cp, "ci")), 0), 100),
                   tolerance = if (ci == "logit") 1e-7 else tol)
    }
  }
  # weighted counts: svytotal on the replicates
  tt <- t[t$col_var == "Total", ]
  st <- survey::svytotal(stats::as.formula(sprintf("~factor(%s)", row)), sd)
  expect_equal(tt$se_n_w, unname(survey::SE(st))[match(tt$row, sub(sprintf("^factor\\(%s\\)", row), "", names(coef(st))))],
               tolerance = tol)
  invisible(t)
}

# a mean row by column against svyby(svymean) (estimate, SE, df, t CI)
rr_check_mean <- function(ud, sd, y, col, tol = 1e-8) {
  t <- as.data.frame(rr_tab(ud, mean_of(y), cols = col), stringsAsFactors = FALSE)
  for (k in seq_len(nrow(t))) {
    sub <- rr_sub(sd, if (t$col_var[k] == "Total") NULL else col, as.character(t$col[k]))
    m <- survey::svymean(stats::as.formula(paste0("~", y)), sub)
    expect_equal(t$estimate[k], unname(coef(m)), tolerance = 1e-10)
    expect_equal(t$se[k], unname(survey::SE(m)), tolerance = tol)
    expect_equal(t$df[k], survey::degf(sub))
    expect_equal(c(t$ci_low[k], t$ci_high[k]),
                 unname(confint(m, df = survey::degf(sub))[1L, ]), tolerance = tol)
  }
  invisible(t)
}

# Rao-Scott F test against svychisq()
rr_check_chisq <- function(ud, sd, row, col, tol = 1e-8) {
  t <- rr_cells(rr_tab(ud, row, cols = col, test = "F"))
  s <- survey::svychisq(stats::as.formula(sprintf("~%s + %s", row, col)), sd, statistic = "F")
  tt <- t[t$col_var == col, ][1L, ]
  expect_equal(tt$statistic, unname(s$statistic), tolerance = tol)
  expect_equal(c(tt$ndf, tt$ddf), unname(s$parameter), tolerance = tol)
  expect_equal(tt$p_value, unname(s$p.value), tolerance = tol)
}

test_that("re-raked JKn replicates (apistrat): percents, SEs, CIs, df, tests and means equal survey", {
  d <- rr_api("apistrat")
  vars <- c("stype", "sch.wide", "awards")
  w <- wt_rake(d, rr_pop[vars], weights = d$pw)
  ud <- as_repdesign(svy_design(d, strata = ~stype, weights = w), "JKn")
  expect_false(is.null(ud$rep$F))
  rdes <- as.svrepdesign(svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d), type = "JKn")
  sd <- rake(rdes, lapply(vars, function(v) stats::as.formula(paste0("~", v))), rr_rakepops(vars),
             control = list(maxit = 1000, epsilon = 1e-14))
  expect_lt(max(abs(umfrage:::rep_weights(ud) - weights(sd, "analysis"))) / max(weights(sd, "analysis")), 1e-8)
  expect_identical(ud$rep$df, as.integer(degf(sd)))
  rr_check_pct(ud, sd, "yr.rnd", "sch.wide")
  rr_check_pct(ud, sd, "both", "stype", ci = "wald")
  rr_check_mean(ud, sd, "api00", "awards")
  rr_check_chisq(ud, sd, "yr.rnd", "awards")
  # recalibrate = FALSE keeps the calibrated weights as fixed (the old
  # behaviour): survey's as.svrepdesign() of the design with those weights
  uf <- as_repdesign(svy_design(d, strata = ~stype, weights = w), "JKn", recalibrate = FALSE)
  expect_null(uf$rep$F)
  d$wcal <- as.double(w)
  sf <- as.svrepdesign(svydesign(ids = ~1, strata = ~stype, weights = ~wcal, data = d), type = "JKn")
  rr_check_pct(uf, sf, "yr.rnd", "sch.wide")
})

test_that("post-stratified and calibrated JK1 replicates (apiclus1) equal survey's postStratify() and calibrate()", {
  d <- rr_api("apiclus1")
  sdes <- svydesign(ids = ~dnum, weights = ~pw, data = d, fpc = ~fpc)
  rdes <- as.svrepdesign(sdes, type = "JK1")
  # post-stratification on stype x sch.wide
  w <- wt_poststrat(d, rr_pop$ps, weights = d$pw)
  ud <- as_repdesign(svy_design(d, cluster = ~dnum, weights = w, fpc = ~fpc), "JK1")
  d$stype <- factor(d$stype); d$sch.wide <- factor(d$sch.wide)
  sd <- postStratify(rdes, ~stype + sch.wide, rr_pop$ps)
  rr_check_pct(ud, sd, "awards", "yr.rnd")
  rr_check_mean(ud, sd, "api00", "awards")
  # calibration: linear with bounds, raking, logit
  tg <- rr_pop[c("stype", "sch.wide")]
  spop <- c(`(Intercept)` = sum(tg$stype), stypeH = tg$stype[["H"]], stypeM = tg$stype[["M"]],
            sch.wideYes = tg$sch.wide[["Yes"]])
  for (cs in list(list("linear", c(0.7, 2.2)), list("raking", c(-Inf, Inf)), list("logit", c(0.5, 2.2)))) {
    w <- wt_calibrate(rr_api("apiclus1"), tg, weights = d$pw, method = cs[[1]], bounds = cs[[2]])
    ud <- as_repdesign(svy_design(rr_api("apiclus1"), cluster = ~dnum, weights = w, fpc = ~fpc), "JK1")
    sd <- calibrate(rdes, ~stype + sch.wide, spop, calfun = cs[[1]], bounds = cs[[2]],
                    epsilon = 1e-13, maxit = 500)
    rr_check_pct(ud, sd, "awards", "yr.rnd")
    rr_check_mean(ud, sd, "api00", "awards")
    rr_check_chisq(ud, sd, "awards", "yr.rnd")
  }
})

test_that("numeric auxiliaries (linear calibration): replicate totals cells-first equal survey's calibrate()", {
  for (des in c("apiclus1 JK1", "apistrat JKn")) {
    if (des == "apiclus1 JK1") {
      d <- rr_api("apiclus1")
      rdes <- as.svrepdesign(svydesign(ids = ~dnum, weights = ~pw, data = d, fpc = ~fpc), type = "JK1")
    } else {
      d <- rr_api("apistrat")
      rdes <- as.svrepdesign(svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d), type = "JKn")
    }
    # (apiclus1: one auxiliary, as two give a negative weight)
    tg <- rr_pop[c("stype", "api99", if (des != "apiclus1 JK1") "meals")]
    w <- wt_calibrate(d, tg, weights = d$pw)
    ud <- if (des == "apiclus1 JK1") as_repdesign(svy_design(d, cluster = ~dnum, weights = w, fpc = ~fpc), "JK1")
          else as_repdesign(svy_design(d, strata = ~stype, weights = w), "JKn")
    expect_false(is.null(ud$rep$lin))
    d$stype <- factor(d$stype)
    sd <- calibrate(rdes, if (is.null(tg$meals)) ~stype + api99 else ~stype + api99 + meals,
                    c(`(Intercept)` = sum(tg$stype), stypeH = tg$stype[["H"]],
                      stypeM = tg$stype[["M"]], api99 = tg$api99, meals = tg$meals))
    expect_identical(ud$rep$df, as.integer(degf(sd)))
    rr_check_pct(ud, sd, "awards", "sch.wide")
    rr_check_mean(ud, sd, "api00", "sch.wide")
    rr_check_chisq(ud, sd, "awards", "sch.wide")
  }
})

test_that("re-raked bootstrap replicates (apiclus1, survey's draws) equal survey", {
  d <- rr_api("apiclus1")
  vars <- c("stype", "sch.wide")
  w <- wt_rake(d, rr_pop[vars], weights = d$pw)
  set.seed(1717)
  ud <- as_repdesign(svy_design(d, cluster = ~dnum, weights = w), "bootstrap", replicates = 60)
  set.seed(1717)
  rdes <- as.svrepdesign(svydesign(ids = ~dnum, weights = ~pw, data = d), type = "bootstrap", replicates = 60)
  # survey's rake() stops its sweeps when the full sample has converged, which
  # can leave a replicate short of its margins (here one with a near-empty
  # cell: 6e-8 relative); raking the raked design again continues the
  # sweeps until the replicates converge too
  sd <- rdes
  for (i in 1:4) sd <- rake(sd, list(~stype, ~sch.wide), rr_rakepops(vars),
                            control = list(maxit = 1000, epsilon = 1e-14))
  expect_lt(max(abs(umfrage:::rep_weights(ud) - weights(sd, "analysis"))) / max(weights(sd, "analysis")), 1e-8)
  # (wald: a replicate leaves a column empty, where survey's logit interval
  # from svyglm() and umfrage's, infinite, part ways)
  rr_check_pct(ud, sd, "awards", "comp.imp", ci = "wald")
  rr_check_pct(ud, sd, "comp.imp", "stype", ci = "korn-graubard")
  rr_check_mean(ud, sd, "api00", "comp.imp")
  rr_check_chisq(ud, sd, "awards", "comp.imp")
  ud$rep$mse <- TRUE
  sd$mse <- TRUE
  rr_check_pct(ud, sd, "awards", "comp.imp", ci = "wald")
})

test_that("as_repdesign() re-calibration: bad input and unsupported states are clear errors", {
  d <- rr_api("apistrat")
  w <- wt_rake(d, rr_pop[c("stype", "sch.wide")], weights = d$pw)
  des <- svy_design(d, strata = ~stype, weights = w)
  expect_error(as_repdesign(des, "JKn", recalibrate = NA), "'recalibrate' must be TRUE or FALSE")
  # weights altered after calibration: the stored calibration no longer fits
  w2 <- structure(as.double(w) * 1.5, class = class(w), umfrage = attr(w, "umfrage"))
  expect_error(as_repdesign(svy_design(d, strata = ~stype, weights = w2), "JKn"),
               "cannot be calibrated again.*recalibrate = FALSE")
})

# quantile rows against svyquantile(ci = TRUE, na.rm = TRUE) on each
# column's subset of survey's replicate design (interval.type = "mean")
rr_check_quant <- function(ud, sd, y, col, probs, tol = 1e-8) {
  t <- as.data.frame(tab(ud, quantile_of(y, probs = probs), cols = col), stringsAsFactors = FALSE)
  for (k in seq_len(nrow(t))) {
    sub <- rr_sub(sd, if (t$col_var[k] == "Total") NULL else col, as.character(t$col[k]))
    p <- probs[match(t$row[k], paste0(format(100 * probs, trim = TRUE), "%"))]
    q <- svyquantile(stats::as.formula(paste0("~", y)), sub, p, ci = TRUE, na.rm = TRUE)[[1L]]
    ok <- !is.na(q[1L, ])
    expect_equal(t$estimate[k], unname(q[1L, 1L]), tolerance = tol)
    expect_equal(c(t$ci_low[k], t$ci_high[k], t$se[k]), as.double(unname(ifelse(is.nan(q[1L, 2:4]), NA, q[1L, 2:4]))),
                 tolerance = tol)
    nas <- is.na(sub$variables[[y]])
    expect_equal(t$df[k], survey::degf(sub[!nas, ]))
  }
  invisible(t)
}

test_that("quantile rows on replicate designs equal svyquantile() on the svyrep.design", {
  d <- rr_api("apistrat")
  d$y <- d$api00
  d$y[c(3, 50, 120, 151)] <- NA
  vars <- c("stype", "sch.wide")
  w <- wt_rake(d, rr_pop[vars], weights = d$pw)
  ud <- as_repdesign(svy_design(d, strata = ~stype, weights = w), "JKn")
  rdes <- as.svrepdesign(svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d), type = "JKn")
  sd <- rake(rdes, list(~stype, ~sch.wide), rr_rakepops(vars), control = list(maxit = 1000, epsilon = 1e-14))
  rr_check_quant(ud, sd, "api00", "awards", c(0.1, 0.5, 0.9))
  rr_check_quant(ud, sd, "y", "both", c(0, 0.25, 0.5, 1))
  # uncalibrated JK1 (apiclus1) and its replicate columns (svy_repdesign())
  c1 <- rr_api("apiclus1")
  u1 <- as_repdesign(svy_design(c1, cluster = ~dnum, weights = ~pw, fpc = ~fpc), "JK1")
  s1 <- as.svrepdesign(svydesign(ids = ~dnum, weights = ~pw, data = c1, fpc = ~fpc), type = "JK1")
  rr_check_quant(u1, s1, "enroll", "stype", c(0.2, 0.5, 0.8))
  uc <- svy_repdesign(c1, weights = ~pw, repweights = umfrage:::rep_weights(u1), type = "JK1",
                      scale = u1$rep$scale)
  sc <- svrepdesign(data = c1, weights = ~pw, repweights = umfrage:::rep_weights(u1), type = "JK1",
                    scale = u1$rep$scale, combined.weights = TRUE)
  rr_check_quant(uc, sc, "api00", "sch.wide", c(0.5, 0.75))
  # bootstrap with survey's draws, post-stratified, and mse
  c1$stype <- factor(c1$stype)
  pst <- stats::aggregate(Freq ~ stype, rr_pop$ps, sum)
  wp <- wt_poststrat(rr_api("apiclus1"), pst, weights = c1$pw)
  set.seed(29)
  ub <- as_repdesign(svy_design(rr_api("apiclus1"), cluster = ~dnum, weights = wp), "bootstrap", replicates = 50)
  set.seed(29)
  sb <- postStratify(as.svrepdesign(svydesign(ids = ~dnum, weights = ~pw, data = c1), type = "bootstrap",
                                    replicates = 50), ~stype, pst)
  rr_check_quant(ub, sb, "api00", "awards", c(0.25, 0.5))
  ub$rep$mse <- TRUE
  sb$mse <- TRUE
  rr_check_quant(ub, sb, "api00", "awards", c(0.25, 0.5))
})

test_that("many units (thousands of (PSU, cell) pairs): df by degf() without a key-length failure", {
  set.seed(5)
  n <- 4000
  d <- data.frame(h = rep(1:10, each = 400), psu = seq_len(n), a = sample(c("x", "y", "z"), n, TRUE),
                  b = sample(c("p", "q"), n, TRUE), w0 = runif(n, 1, 3))
  w <- wt_rake(d, list(a = c(x = 3000, y = 3000, z = 2500), b = c(p = 4000, q = 4500)), weights = d$w0)
  set.seed(6)
  ud <- as_repdesign(svy_design(d, strata = ~h, cluster = ~psu, weights = w), "bootstrap", replicates = 20)
  set.seed(6)
  rdes <- as.svrepdesign(svydesign(ids = ~psu, strata = ~h, weights = ~w0, data = d), type = "bootstrap",
                         replicates = 20)
  sd <- rake(rdes, list(~a, ~b), list(data.frame(a = c("x", "y", "z"), Freq = c(3000, 3000, 2500)),
                                      data.frame(b = c("p", "q"), Freq = c(4000, 4500))),
             control = list(maxit = 1000, epsilon = 1e-14))
  t <- rr_cells(tab(ud, "a", cols = "b", ci = "wald"))
  expect_equal(t$df, rep(survey::degf(sd), nrow(t)))
  rr_check_pct(ud, sd, "b", "a", ci = "wald")
})
