# survey and srvyr design objects (issue 17): tab() takes survey's
# survey.design2 (also subsets, post-stratified, calibrated and raked) and
# svyrep.design objects and srvyr's tbl_svy directly, and gives survey's
# numbers on them: percents, SEs, CIs, degrees of freedom, Rao-Scott tests,
# means and quantiles, all against survey's own functions on the same
# object, to 1e-8 relative.

so_api <- function() {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  d2 <- e$apiclus2
  d2$fpc2 <- as.vector(d2$fpc2)
  list(strat = e$apistrat, clus1 = e$apiclus1, clus2 = d2)
}
so_rel <- function(a, b) {
  a <- as.numeric(a); b <- as.numeric(b)
  stopifnot(length(a) == length(b), !anyNA(b))
  # relative; absolute for values below 1e-6 (SEs that are zero up to
  # rounding in one and exactly zero in the other)
  max(abs(a - b) / pmax(abs(b), 1e-6))
}

# tab(s, rows, cols) on survey design s against survey on s: Total percents
# and SEs (svymean), totals' SEs (svytotal), df (degf), column percents and
# SEs (svyby), logit and Korn-Graubard intervals (svyciprop), Rao-Scott F and
# Chisq (svychisq); numeric rows: mean_of() against svymean / svyby and
# quantile_of() against svyquantile(ci = TRUE).
so_check <- function(s, rows, cols, y = "api00", x = s) {
  t <- as.data.frame(tab(x, rows, cols = cols))
  fr <- stats::as.formula(paste0("~", rows))
  tot <- t[t$col_var == "Total", ]
  sm <- survey::svymean(fr, s)
  expect_lt(so_rel(tot$pct, 100 * coef(sm)[paste0(rows, tot$row)]), 1e-10)
  expect_lt(so_rel(tot$se, 100 * survey::SE(sm)[paste0(rows, tot$row)]), 1e-8)
  st <- survey::svytotal(fr, s)
  expect_lt(so_rel(tot$n_w, coef(st)[paste0(rows, tot$row)]), 1e-10)
  expect_lt(so_rel(tot$se_n_w, survey::SE(st)[paste0(rows, tot$row)]), 1e-8)
  expect_equal(unique(tot$df), survey::degf(s))
  by <- survey::svyby(fr, stats::as.formula(paste0("~", cols)), s, survey::svymean)
  for (cl in as.character(by[[cols]])) {
    got <- t[t$col_var == cols & t$col == cl, ]
    ref <- by[as.character(by[[cols]]) == cl, ]
    expect_lt(so_rel(got$pct, 100 * unlist(ref[paste0(rows, got$row)])), 1e-10)
    expect_lt(so_rel(got$se, 100 * unlist(ref[paste0("se.", rows, got$row)])), 1e-8)
    expect_equal(unique(got$df), survey::degf(subset(s, get(cols) == cl)))
  }
  lv <- as.character(tot$row[which.min(abs(tot$pct - 50))])
  fi <- eval(bquote(~I(.(as.name(rows)) == .(lv))))
  for (ci in c("logit", "korn-graubard")) {
    tc <- as.data.frame(tab(x, rows, cols = cols, ci = ci))
    got <- tc[tc$col_var == "Total" & tc$row == lv, ]
    # (survey's glm warns about the rows of weight 0 of a calibrated subset)
    ref <- suppressWarnings(survey::svyciprop(fi, s, method = if (ci == "logit") "logit" else "beta"))
    expect_lt(so_rel(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
  }
  ff <- stats::as.formula(paste("~", rows, "+", cols))
  got <- t[t$col_var == cols, ][1L, ]
  ref <- survey::svychisq(ff, s, statistic = "F")
  expect_lt(so_rel(c(got$statistic, got$ndf, got$ddf, got$p_value),
                   c(ref$statistic, ref$parameter, ref$p.value)), 1e-8)
  t2 <- as.data.frame(tab(x, rows, cols = cols, test = "Chisq"))
  ref2 <- survey::svychisq(ff, s, statistic = "Chisq")
  expect_lt(so_rel(t2[t2$col_var == cols, ][1L, "p_value"], ref2$p.value), 1e-8)
  # numeric rows
  fy <- stats::as.formula(paste0("~", y))
  tn <- as.data.frame(tab(x, mean_of(fy), cols = cols))
  byn <- survey::svyby(fy, stats::as.formula(paste0("~", cols)), s, survey::svymean)
  mref <- survey::svymean(fy, s)
  expect_lt(so_rel(tn$estimate, c(coef(mref), byn[[y]])), 1e-10)
  expect_lt(so_rel(tn$se, c(survey::SE(mref), byn$se)), 1e-8)
  tq <- as.data.frame(tab(x, quantile_of(fy, c(0.25, 0.5))))
  sq <- survey::svyquantile(fy, s, c(0.25, 0.5), ci = TRUE)[[1L]]
  expect_lt(so_rel(tq$estimate, sq[, 1L]), 1e-10)
  expect_lt(so_rel(c(tq$ci_low, tq$ci_high, tq$se), sq[, 2:4]), 1e-8)
  invisible(t)
}

test_that("tab() takes survey.design2 objects (used to stop: 'x' must be a data frame): apistrat, apiclus1, apiclus2", {
  skip_if_not_installed("survey")
  a <- so_api()
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = a$strat)
  so_check(s, "sch.wide", "awards")
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = a$clus1)
  so_check(s, "stype", "awards")
  # two stages with fpc: survey's full multistage variance
  s <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, data = a$clus2)
  so_check(s, "sch.wide", "awards")
  # without fpc (with replacement) and with the ultimate-cluster option
  s <- survey::svydesign(ids = ~dnum + snum, weights = ~pw, data = a$clus2)
  so_check(s, "sch.wide", "awards")
  s <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, data = a$clus2)
  old <- options(survey.ultimate.cluster = TRUE)
  on.exit(options(old))
  so_check(s, "sch.wide", "awards")
})

test_that("lonely PSUs follow options(survey.lonely.psu), as survey computes them", {
  skip_if_not_installed("survey")
  a <- so_api()
  d <- a$strat
  d$st <- ifelse(d$stype == "H", paste0("H", seq_len(nrow(d)) %% 2), as.character(d$stype))
  d$st[which(d$stype == "M")[1L]] <- "lonely"
  s <- survey::svydesign(ids = ~1, strata = ~st, weights = ~pw, data = d)
  for (rule in c("certainty", "remove", "adjust", "average")) {
    old <- options(survey.lonely.psu = rule)
    t <- as.data.frame(tab(s, "sch.wide"))
    sm <- survey::svymean(~sch.wide, s)
    expect_lt(so_rel(t$se, 100 * survey::SE(sm)), 1e-8)
    options(old)
  }
  old <- options(survey.lonely.psu = "fail")
  on.exit(options(old))
  expect_error(tab(s, "sch.wide"), "only one PSU")
})

test_that("a subset() of a design is its domain: dropped units still count, as survey pads them", {
  skip_if_not_installed("survey")
  a <- so_api()
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = a$strat)
  so_check(subset(s, yr.rnd == "No"), "sch.wide", "awards")
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = a$clus1)
  so_check(subset(s, stype != "H"), "sch.wide", "awards")
  # two stages: whole districts and single schools within districts drop out
  s <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, data = a$clus2)
  sub <- subset(s, awards == "Yes")
  so_check(sub, "stype", "yr.rnd")
  # the padding matters: the same rows as a fresh design give other SEs
  naive <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, data = a$clus2[a$clus2$awards == "Yes", ])
  old <- options(survey.lonely.psu = "adjust")  # the fresh design has lonely schools
  expect_gt(so_rel(survey::SE(survey::svymean(~stype, naive)), survey::SE(survey::svymean(~stype, sub))), 1e-4)
  options(old)
  t <- as.data.frame(tab(sub, "stype"))
  expect_lt(so_rel(t$se, 100 * survey::SE(survey::svymean(~stype, sub))), 1e-8)
  expect_equal(sum(t$n), sum(a$clus2$awards == "Yes"))
})

test_that("postStratify() designs, and their subsets, give survey's calibrated numbers", {
  skip_if_not_installed("survey")
  a <- so_api()
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = a$strat)
  pop <- data.frame(awards = c("No", "Yes"), Freq = c(2400, 3794))
  ps <- survey::postStratify(s, ~awards, pop)
  so_check(ps, "sch.wide", "stype")
  # subset of a calibrated design: survey keeps the rows with weight 0
  so_check(subset(ps, stype != "E"), "sch.wide", "yr.rnd")
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = a$clus1)
  pc <- survey::postStratify(s, ~stype, data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018)))
  so_check(pc, "sch.wide", "awards")
  so_check(subset(pc, yr.rnd == "No"), "awards", "stype")
  # two stages, post-stratified on two variables
  s <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, data = a$clus2)
  pop2 <- as.data.frame(xtabs(~stype + awards, a$clus2)) # any positive totals
  pop2$Freq <- pop2$Freq * 40
  so_check(survey::postStratify(s, ~stype + awards, pop2), "sch.wide", "yr.rnd")
})

test_that("calibrate() with categorical and numeric terms (linear, raking, bounded) gives survey's numbers", {
  skip_if_not_installed("survey")
  a <- so_api()
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = a$clus1)
  pop <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = 3914069)
  cl <- survey::calibrate(s, ~stype + api99, pop)
  so_check(cl, "sch.wide", "awards")
  so_check(subset(cl, yr.rnd == "No"), "awards", "stype")
  cr <- survey::calibrate(s, ~stype + api99, pop, calfun = "raking")
  so_check(cr, "sch.wide", "awards")
  cb <- survey::calibrate(s, ~stype + api99, pop, bounds = c(0.5, 2))
  so_check(cb, "sch.wide", "awards")
  # an interaction and a transformation: read from the stored model matrix
  s2 <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = a$strat)
  mm <- model.matrix(~stype * awards + log(enroll), a$strat)
  popi <- colSums(mm * a$strat$pw) * c(1, 1.02, 0.97, 1.05, 1, 1.03, 1.01)
  ci <- survey::calibrate(s2, ~stype * awards + log(enroll), popi)
  so_check(ci, "sch.wide", "yr.rnd")
  # heteroscedastic variance (calibrate(variance =)) on the full sample
  cv <- survey::calibrate(s, ~stype + api99, pop, variance = a$clus1$api99)
  so_check(cv, "sch.wide", "awards")
  # two stages with fpc, calibrated: stage-0 residuals, then the multistage variance
  s3 <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, data = a$clus2)
  c3 <- survey::calibrate(s3, ~stype + api99, c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = 3914069))
  so_check(c3, "sch.wide", "awards")
})

test_that("rake() designs give survey's own raking variance (ten backfitting sweeps), also on subsets", {
  skip_if_not_installed("survey")
  a <- so_api()
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = a$strat)
  pops <- list(data.frame(sch.wide = c("No", "Yes"), Freq = c(1100, 5094)),
               data.frame(awards = c("No", "Yes"), Freq = c(2400, 3794)))
  rk <- survey::rake(s, list(~sch.wide, ~awards), pops)
  so_check(rk, "yr.rnd", "stype")
  so_check(subset(rk, stype != "H"), "yr.rnd", "both")
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = a$clus1)
  rk <- survey::rake(s, list(~stype, ~awards),
                     list(data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018)),
                          data.frame(awards = c("No", "Yes"), Freq = c(2400, 3794))))
  so_check(rk, "sch.wide", "yr.rnd")
  # survey's rake() variance is not the calibration variance: the
  # difference is real, and tab() gives survey's
  pe <- stats::xtabs(Freq ~ stype, data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018)))
  pa <- stats::xtabs(Freq ~ awards, data.frame(awards = c("No", "Yes"), Freq = c(2400, 3794)))
  cr <- survey::calibrate(s, list(~stype, ~awards), list(pe, pa), calfun = "raking")
  so_check(cr, "sch.wide", "yr.rnd")
  expect_gt(so_rel(survey::SE(survey::svymean(~sch.wide, rk)), survey::SE(survey::svymean(~sch.wide, cr))), 1e-6)
})

test_that("srvyr tbl_svy objects, grouped or not, equal the survey object's results", {
  skip_if_not_installed("survey")
  skip_if_not_installed("srvyr")
  skip_if_not_installed("dplyr")
  a <- so_api()
  sv <- srvyr::as_survey_design(a$strat, ids = 1, strata = stype, weights = pw, fpc = fpc)
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = a$strat)
  strip <- function(t) { d <- as.data.frame(t); d }
  expect_equal(strip(tab(sv, "sch.wide", cols = "awards")), strip(tab(s, "sch.wide", cols = "awards")))
  so_check(s, "sch.wide", "awards", x = sv)
  # groups are by layers, as for grouped data frames
  g <- dplyr::group_by(sv, yr.rnd)
  expect_equal(strip(tab(g, "sch.wide", cols = "awards")), strip(tab(s, "sch.wide", cols = "awards", by = "yr.rnd")))
  t <- as.data.frame(tab(g, "sch.wide"))
  by <- survey::svyby(~sch.wide, ~yr.rnd, s, survey::svymean)
  expect_lt(so_rel(t$se[t$yr.rnd == "No"], 100 * unlist(by[by$yr.rnd == "No", c("se.sch.wideNo", "se.sch.wideYes")])), 1e-8)
  # srvyr's two-stage and calibrated designs
  sv2 <- srvyr::as_survey_design(a$clus2, ids = c(dnum, snum), fpc = c(fpc1, fpc2))
  s2 <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, data = a$clus2)
  expect_equal(strip(tab(sv2, "sch.wide", cols = "stype")), strip(tab(s2, "sch.wide", cols = "stype")))
  pc <- survey::postStratify(sv2, ~stype, data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018)))
  so_check(survey::postStratify(s2, ~stype, data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))),
           "sch.wide", "awards", x = pc)
  # filter() of a tbl_svy is survey's subset()
  f <- dplyr::filter(sv2, awards == "Yes")
  so_check(subset(s2, awards == "Yes"), "stype", "yr.rnd", x = f)
})

test_that("svyrep.design objects become replicate designs (the contract of R/replicate.R)", {
  skip_if_not_installed("survey")
  a <- so_api()
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = a$clus1)
  r <- survey::as.svrepdesign(s, type = "JK1")
  u <- umfrage:::as_umfrage_design(r)
  expect_s3_class(u, "umfrage_repdesign")
  expect_equal(u$rep$mode, "columns")
  expect_equal(u$rep$type, "JK1")
  expect_equal(u$rep$R, 15L)
  expect_equal(unname(u$rep$W), unname(as.matrix(weights(r, "analysis"))))
  expect_equal(u$weights, as.numeric(weights(r, "sampling")))
  expect_equal(c(u$rep$scale, u$rep$rscales, u$rep$df), c(r$scale, r$rscales, survey::degf(r)))
  rb <- survey::as.svrepdesign(s, type = "bootstrap", replicates = 20)
  ub <- umfrage:::as_umfrage_design(rb)
  expect_equal(ub$rep$type, "bootstrap")
  expect_equal(ub$rep$mse, isTRUE(getOption("survey.replicates.mse")))
  # tab() on them once replicate designs are in (R/replicate.R)
  skip_if_not(exists("svy_repdesign", asNamespace("umfrage")))
  for (rr in list(r, rb, survey::as.svrepdesign(survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw,
                                                                   fpc = ~fpc, data = a$strat), type = "JKn"))) {
    t <- as.data.frame(tab(rr, "sch.wide", cols = "awards"))
    tot <- t[t$col_var == "Total", ]
    sm <- survey::svymean(~sch.wide, rr)
    expect_lt(so_rel(tot$pct, 100 * coef(sm)), 1e-10)
    expect_lt(so_rel(tot$se, 100 * survey::SE(sm)), 1e-8)
    by <- survey::svyby(~sch.wide, ~awards, rr, survey::svymean)
    got <- t[t$col_var == "awards" & t$col == "Yes", ]
    expect_lt(so_rel(got$se, 100 * unlist(by[by$awards == "Yes", c("se1", "se2")])), 1e-8)
    tn <- as.data.frame(tab(rr, mean_of(~api00)))
    expect_lt(so_rel(tn$se, survey::SE(survey::svymean(~api00, rr))), 1e-8)
  }
  # raked replicate designs: the replicate weights carry the re-raking
  rk <- survey::rake(r, list(~stype, ~awards),
                     list(data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018)),
                          data.frame(awards = c("No", "Yes"), Freq = c(2400, 3794))))
  t <- as.data.frame(tab(rk, "sch.wide"))
  expect_lt(so_rel(t$se, 100 * survey::SE(survey::svymean(~sch.wide, rk))), 1e-8)
  # srvyr on replicate designs, grouped
  skip_if_not_installed("srvyr")
  skip_if_not_installed("dplyr")
  g <- dplyr::group_by(srvyr::as_survey_rep(r), awards)
  t <- as.data.frame(tab(g, "sch.wide"))
  by <- survey::svyby(~sch.wide, ~awards, r, survey::svymean)
  expect_lt(so_rel(t$se[t$awards == "No"], 100 * unlist(by[by$awards == "No", c("se1", "se2")])), 1e-8)
})

test_that("as_svydesign() of a converted survey object gives the object back", {
  skip_if_not_installed("survey")
  a <- so_api()
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = a$clus1)
  expect_identical(as_svydesign(s), s)
})

test_that("unsupported survey objects are clear errors naming the class", {
  skip_if_not_installed("survey")
  a <- so_api()
  d <- a$clus1
  d$samp <- d$snum %% 2 == 0
  tp <- survey::twophase(id = list(~dnum, ~1), data = d, subset = ~samp)
  expect_error(tab(tp, "stype"), "class 'twophase2'.*two-phase")
  fake <- structure(list(designs = list()), class = "svyimputationList")
  expect_error(tab(fake, "stype"), "class 'svyimputationList'.*imputed")
  db <- structure(list(variables = NULL), class = c("DBIsvydesign", "survey.design2", "survey.design"))
  expect_error(tab(db, "stype"), "class 'DBIsvydesign'.*database")
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = a$strat)
  two <- survey::postStratify(survey::postStratify(s, ~awards, data.frame(awards = c("No", "Yes"), Freq = c(2400, 3794))),
                              ~sch.wide, data.frame(sch.wide = c("No", "Yes"), Freq = c(1100, 5094)))
  expect_error(tab(two, "stype"), "calibrated in 2 steps")
  expect_error(tab(s, "stype", weights = "pw"), "'weights' must be NULL")
})
