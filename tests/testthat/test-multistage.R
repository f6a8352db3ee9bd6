# Multistage designs (issue 17): svy_design(cluster = ~psu + ssu, fpc =
# ~N1 + N2) against survey's svydesign(ids = ~psu + ssu, fpc = ~N1 + N2),
# whose svyrecvar() adds the later stages' variance by default: tab()'s
# percents, SEs, CIs and Rao-Scott tests, numeric rows, quantiles, the
# ultimate-cluster approximation, lonely units per stage, raked weights,
# and the errors for bad input. Everything to 1e-8 relative.

ms_api <- function() {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  utils::data(mu284, package = "survey", envir = e)
  d <- e$apiclus2
  d$fpc2 <- as.vector(d$fpc2)
  d$one <- 1
  m <- e$mu284
  # categories of mu284 for tables
  m$hi <- factor(ifelse(m$y1 > 45, "hi", "lo"))
  m$first <- factor(ifelse(m$id2 == 1, "first", "later"))
  list(clus2 = d, mu = m, clus1 = e$apiclus1)
}
rel_m <- function(a, b) {
  a <- as.numeric(a); b <- as.numeric(b)
  stopifnot(length(a) == length(b), !anyNA(b))
  max(abs(a - b) / pmax(abs(b), 1e-300))
}

# tab() of rows x cols on u against survey design s: Total percents and
# SEs (svymean), column percents and SEs (svyby), totals' SEs (svytotal),
# logit and Korn-Graubard intervals (svyciprop), Rao-Scott (svychisq).
check_tab <- function(u, s, rows, cols, data) {
  t <- as.data.frame(tab(u, rows, cols = cols))
  fr <- stats::as.formula(paste0("~", rows))
  lev <- levels(factor(data[[rows]]))
  tot <- t[t$col_var == "Total", ]
  sm <- survey::svymean(fr, s)
  expect_lt(rel_m(tot$pct, 100 * coef(sm)[paste0(rows, tot$row)]), 1e-10)
  expect_lt(rel_m(tot$se, 100 * survey::SE(sm)[paste0(rows, tot$row)]), 1e-8)
  st <- survey::svytotal(fr, s)
  expect_lt(rel_m(tot$se_n_w, survey::SE(st)[paste0(rows, tot$row)]), 1e-8)
  expect_equal(unique(tot$df), survey::degf(s))
  by <- survey::svyby(fr, stats::as.formula(paste0("~", cols)), s, survey::svymean)
  for (cl in as.character(by[[cols]])) {
    got <- t[t$col_var == cols & t$col == cl, ]
    ref <- by[as.character(by[[cols]]) == cl, ]
    expect_lt(rel_m(got$pct, 100 * unlist(ref[paste0(rows, got$row)])), 1e-10)
    expect_lt(rel_m(got$se, 100 * unlist(ref[paste0("se.", rows, got$row)])), 1e-8)
    sub <- subset(s, get(cols) == cl)
    expect_equal(unique(got$df), survey::degf(sub))
  }
  for (ci in c("logit", "korn-graubard")) {
    tc <- as.data.frame(tab(u, rows, cols = cols, ci = ci))
    sm <- if (ci == "logit") "logit" else "beta"
    lv <- lev[1L]
    fi <- eval(bquote(~I(.(as.name(rows)) == .(lv))))
    got <- tc[tc$col_var == "Total" & tc$row == lv, ]
    ref <- survey::svyciprop(fi, s, method = sm)
    expect_lt(rel_m(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
    cl <- as.character(by[[cols]])[1L]
    got <- tc[tc$col_var == cols & tc$col == cl & tc$row == lv, ]
    ref <- survey::svyciprop(fi, subset(s, get(cols) == cl), method = sm)
    expect_lt(rel_m(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
  }
  ff <- stats::as.formula(paste("~", rows, "+", cols))
  got <- t[t$col_var == cols, ][1L, ]
  ref <- survey::svychisq(ff, s, statistic = "F")
  expect_lt(rel_m(got$statistic, ref$statistic), 1e-8)
  expect_lt(rel_m(c(got$ndf, got$ddf), ref$parameter), 1e-8)
  expect_lt(rel_m(got$p_value, ref$p.value), 1e-8)
  t2 <- as.data.frame(tab(u, rows, cols = cols, test = "Chisq"))
  ref2 <- survey::svychisq(ff, s, statistic = "Chisq")
  expect_lt(rel_m(t2[t2$col_var == cols, ][1L, "p_value"], ref2$p.value), 1e-8)
  invisible(t)
}

test_that("two-stage designs are accepted (cluster = ~dnum + snum used to be refused)", {
  d <- ms_api()$clus2
  expect_error(u <- svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2), NA)
  expect_equal(length(u$stages), 2L)
  expect_output(print(u), "2 stages: 40 'dnum' > 126 'snum'; variance: all stages")
})

test_that("apiclus2 (two stages, fpc = ~fpc1 + fpc2): tab() equals survey's full two-stage variance", {
  skip_if_not_installed("survey")
  d <- ms_api()$clus2
  u <- svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2)
  s <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, weights = ~pw, data = d)
  t <- check_tab(u, s, "stype", "sch.wide", d)
  check_tab(u, s, "sch.wide", "awards", d)
  # the stage below matters here: the one-stage (with replacement at the
  # second stage) SEs differ
  u1 <- svy_design(d, weights = ~pw, cluster = ~dnum, fpc = ~fpc1)
  t1 <- as.data.frame(tab(u1, "stype", cols = "sch.wide"))
  expect_gt(max(abs(t1$se / t$se - 1)), 0.02)
  # weights derived from the fpc of both stages, as svydesign() without weights
  uf <- svy_design(d, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2)
  sf <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, data = d)
  expect_lt(rel_m(uf$weights, weights(sf)), 1e-12)
  check_tab(uf, sf, "stype", "sch.wide", d)
  # as_svydesign() hands the stages to survey
  sa <- as_svydesign(u)
  expect_lt(rel_m(survey::SE(survey::svymean(~stype, sa)), survey::SE(survey::svymean(~stype, s))), 1e-12)
})

test_that("mu284 (ids = ~id1 + id2, fpc = ~n1 + n2): tab() and numeric rows equal survey", {
  skip_if_not_installed("survey")
  m <- ms_api()$mu
  u <- svy_design(m, cluster = ~id1 + id2, fpc = ~n1 + n2)
  s <- survey::svydesign(ids = ~id1 + id2, fpc = ~n1 + n2, data = m)
  expect_lt(rel_m(u$weights, weights(s)), 1e-12)
  check_tab(u, s, "hi", "first", m)
  # numeric rows: total and mean of y1 (the textbook example: SE 2274.3)
  t <- as.data.frame(tab(u, list(total_of(~y1), mean_of(~y1)), cols = "first"))
  tt <- t[t$row_var == "total(y1)", ]
  ref <- survey::svytotal(~y1, s)
  by <- survey::svyby(~y1, ~first, s, survey::svytotal)
  expect_lt(rel_m(tt$estimate, c(coef(ref), by$y1)), 1e-10)
  expect_lt(rel_m(tt$se, c(survey::SE(ref), by$se)), 1e-8)
  mm <- t[t$row_var == "mean(y1)", ]
  ref <- survey::svymean(~y1, s)
  by <- survey::svyby(~y1, ~first, s, survey::svymean)
  expect_lt(rel_m(mm$se, c(survey::SE(ref), by$se)), 1e-8)
  expect_equal(mm$df, c(survey::degf(s), survey::degf(subset(s, first == "first")),
                        survey::degf(subset(s, first == "later"))))
  ci <- confint(ref, df = survey::degf(s))
  expect_lt(rel_m(unlist(mm[1L, c("ci_low", "ci_high")]), ci), 1e-8)
})

test_that("numeric rows on apiclus2 equal svyby(svymean / svytotal) with the full variance", {
  skip_if_not_installed("survey")
  d <- ms_api()$clus2
  u <- svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2)
  s <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, weights = ~pw, data = d)
  t <- as.data.frame(tab(u, list(mean_of(~api00), total_of(~enroll)), cols = "stype"))
  mm <- t[t$row_var == "mean(api00)", ]
  by <- survey::svyby(~api00, ~stype, s, survey::svymean)
  expect_lt(rel_m(mm$estimate, c(coef(survey::svymean(~api00, s)), by$api00)), 1e-10)
  expect_lt(rel_m(mm$se, c(survey::SE(survey::svymean(~api00, s)), by$se)), 1e-8)
  tt <- t[t$row_var == "total(enroll)", ]
  by <- survey::svyby(~enroll, ~stype, s, survey::svytotal, na.rm = TRUE)
  ref <- survey::svytotal(~enroll, s, na.rm = TRUE)
  expect_lt(rel_m(tt$se, c(survey::SE(ref), by$se)), 1e-8)
})

test_that("quantiles of a two-stage design get the full variance (svyquantile)", {
  skip_if_not_installed("survey")
  d <- ms_api()$clus2
  u <- svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2)
  s <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, weights = ~pw, data = d)
  codes <- match(as.character(d$stype), c("E", "H", "M"))
  # the SE of domain means of per-row variables (the CDF's SE)
  se_fun <- umfrage:::domain_mean_se(u, u$weights)
  z <- cbind(as.numeric(d$api00 <= 650), as.numeric(d$api00 <= 700))
  got <- se_fun(z, codes, 3L)
  s2 <- stats::update(s, z1 = as.numeric(api00 <= 650), z2 = as.numeric(api00 <= 700))
  by <- survey::svyby(~z1 + z2, ~stype, s2, survey::svymean)
  expect_lt(rel_m(got, as.matrix(by[c("se.z1", "se.z2")])), 1e-8)
  # medians and their Woodruff intervals, overall
  res <- umfrage:::domain_quantiles(d$api00, u$weights, rep(1L, nrow(d)), 1L, c(0.5, 0.75), u)
  sq <- survey::svyquantile(~api00, s, c(0.5, 0.75), ci = TRUE)[[1L]]
  expect_lt(rel_m(res$estimate, sq[, 1L]), 1e-10)
  expect_lt(rel_m(c(res$ci_low, res$ci_high, res$se), sq[, 2:4]), 1e-8)
})

test_that("ultimate_cluster = TRUE equals survey with options(survey.ultimate.cluster = TRUE)", {
  skip_if_not_installed("survey")
  d <- ms_api()$clus2
  u <- svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2, ultimate_cluster = TRUE)
  expect_output(print(u), "first stage only \\(ultimate cluster\\)")
  s <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, weights = ~pw, data = d)
  old <- options(survey.ultimate.cluster = TRUE)
  on.exit(options(old))
  check_tab(u, s, "stype", "sch.wide", d)
  t <- as.data.frame(tab(u, mean_of(~api00)))
  expect_lt(rel_m(t$se, survey::SE(survey::svymean(~api00, s))), 1e-8)
  # and equals the one-stage design with the first stage's fpc
  u1 <- svy_design(d, weights = ~pw, cluster = ~dnum, fpc = ~fpc1)
  expect_equal(as.data.frame(tab(u, "stype", cols = "sch.wide"))$se,
               as.data.frame(tab(u1, "stype", cols = "sch.wide"))$se, tolerance = 1e-13)
  # mu284 too
  m <- ms_api()$mu
  um <- svy_design(m, cluster = ~id1 + id2, fpc = ~n1 + n2, ultimate_cluster = TRUE)
  sm <- survey::svydesign(ids = ~id1 + id2, fpc = ~n1 + n2, data = m)
  tm <- as.data.frame(tab(um, total_of(~y1)))
  expect_lt(rel_m(tm$se, survey::SE(survey::svytotal(~y1, sm))), 1e-8)
})

# apiclus2 with schools stratified by type within each district: many
# (district, type) cells hold one school, sampled from more (lonely units
# at stage 2); districts whose cells all hold one school are taken in full
# there (else "average" has nothing to average, and survey gives NaN).
lonely_data <- function() {
  d <- ms_api()$clus2
  d$cell_n <- stats::ave(d$snum, d$dnum, d$stype, FUN = length)
  allone <- stats::ave(d$cell_n, d$dnum, FUN = max) == 1
  d$N2 <- ifelse(allone, d$cell_n, d$cell_n + 2)
  d
}

test_that("lonely units at stage 2: every rule equals survey's options(survey.lonely.psu)", {
  skip_if_not_installed("survey")
  d <- lonely_data()
  for (rule in c("certainty", "remove", "adjust", "average")) {
    u <- svy_design(d, weights = ~pw, strata = ~one + stype, cluster = ~dnum + snum,
                    fpc = ~fpc1 + N2, lonely_psu = rule)
    s <- survey::svydesign(ids = ~dnum + snum, strata = ~one + stype, fpc = ~fpc1 + N2,
                           weights = ~pw, data = d)
    old <- options(survey.lonely.psu = rule)
    t <- as.data.frame(tab(u, "sch.wide", cols = "awards"))
    tot <- t[t$col_var == "Total", ]
    expect_lt(rel_m(tot$se, 100 * survey::SE(survey::svymean(~sch.wide, s))), 1e-8)
    got <- t[t$col_var == "awards" & t$col == "Yes" & t$row == "Yes", "se_n_w"]
    ref <- survey::SE(survey::svytotal(~I(sch.wide == "Yes" & awards == "Yes"), s))[2L]
    expect_lt(rel_m(got, ref), 1e-8)
    # a domain's percent: the ratio on the whole design (for "average",
    # svyby() on the dropped-rows subset would rescale by the domain's own
    # strata; survey's calibrated designs and svychisq() do not)
    got <- t[t$col_var == "awards" & t$col == "No" & t$row == "Yes", "se"]
    ref <- survey::svyratio(~I(as.numeric(sch.wide == "Yes" & awards == "No")),
                            ~I(as.numeric(awards == "No")), s)
    expect_lt(rel_m(got, 100 * survey::SE(ref)), 1e-8)
    if (rule != "average") {
      by <- survey::svyby(~sch.wide, ~awards, s, survey::svymean)
      expect_lt(rel_m(got, 100 * by$se.sch.wideYes[by$awards == "No"]), 1e-8)
    }
    tn <- as.data.frame(tab(u, mean_of(~api00)))
    expect_lt(rel_m(tn$se, survey::SE(survey::svymean(~api00, s))), 1e-8)
    ch <- survey::svychisq(~sch.wide + awards, s)
    expect_lt(rel_m(t$p_value[t$col_var == "awards"][1L], ch$p.value), 1e-8)
    options(old)
  }
  expect_error(svy_design(d, weights = ~pw, strata = ~one + stype, cluster = ~dnum + snum,
                          fpc = ~fpc1 + N2, lonely_psu = "fail"),
               "stage 2: 'dnum' '.*' of stage 1 has only one sampled unit of 'snum'")
  # a stratum cell sampled in full is no lonely unit (as survey: no variance)
  expect_error(svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2,
                          lonely_psu = "fail"), NA)
})

test_that("lonely_psu = \"average\" on one-stage designs equals survey", {
  skip_if_not_installed("survey")
  d <- sim_design_data(7)
  # stratum 1 keeps a single PSU
  d <- d[!(d$st == 1 & d$psu != 1), ]
  old <- options(survey.lonely.psu = "average")
  on.exit(options(old))
  for (clus in c(TRUE, FALSE)) {
    dd <- if (clus) d else d[!(d$st == 1) | !duplicated(d$st), ]
    u <- svy_design(dd, weights = ~w, strata = ~st, cluster = if (clus) ~psu, lonely_psu = "average")
    s <- survey::svydesign(ids = if (clus) ~psu else ~1, strata = ~st, weights = ~w, data = dd)
    t <- as.data.frame(tab(u, "y", cols = "g"))
    tot <- t[t$col_var == "Total", ]
    expect_lt(rel_m(tot$se, 100 * survey::SE(survey::svymean(~y, s))[paste0("y", tot$row)]), 1e-8)
    ch <- survey::svychisq(~y + g, s)
    expect_lt(rel_m(t$p_value[t$col_var == "g"][1L], ch$p.value), 1e-8)
  }
})

test_that("raked weights on a two-stage design equal survey::rake() on svydesign(ids = ~dnum + snum)", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- ms_api()$clus2
  targets <- list(stype = c(E = 4421, H = 755, M = 1018), sch.wide = c(No = 1500, Yes = 4694))
  w <- wt_rake(d, targets, weights = "pw", epsilon = 1e-13)
  u <- svy_design(d, weights = w, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2)
  s0 <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, weights = ~pw, data = d)
  pop <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, sch.wideYes = 4694)
  s <- survey::calibrate(s0, ~stype + sch.wide, pop, calfun = "raking", epsilon = 1e-13, maxit = 200)
  expect_lt(rel_m(w, weights(s)), 1e-10)
  t <- as.data.frame(tab(u, "awards", cols = "stype"))
  tot <- t[t$col_var == "Total", ]
  expect_lt(rel_m(tot$se, 100 * survey::SE(survey::svymean(~awards, s))[paste0("awards", tot$row)]), 1e-8)
  by <- survey::svyby(~awards, ~stype, s, survey::svymean)
  got <- t[t$col_var == "stype" & t$row == "Yes", ]
  expect_lt(rel_m(got$se, 100 * by$se.awardsYes[match(got$col, by$stype)]), 1e-8)
  expect_lt(rel_m(t$p_value[t$col_var == "stype"][1L], survey::svychisq(~awards + stype, s)$p.value), 1e-8)
  tn <- as.data.frame(tab(u, mean_of(~api00), cols = "awards"))
  by <- survey::svyby(~api00, ~awards, s, survey::svymean)
  expect_lt(rel_m(tn$se, c(survey::SE(survey::svymean(~api00, s)), by$se)), 1e-8)
  # and as_svydesign() redoes the calibration on the two-stage design
  sa <- suppressWarnings(as_svydesign(u))
  expect_lt(rel_m(survey::SE(survey::svymean(~awards, sa)), survey::SE(survey::svymean(~awards, s))), 1e-8)
})

test_that("strata per stage and labels read within the unit above (nest)", {
  skip_if_not_installed("survey")
  d <- lonely_data()
  # school numbers 1, 2, ... within each district: the same design
  d$sch <- stats::ave(seq_len(nrow(d)), d$dnum, FUN = seq_along)
  u1 <- svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2)
  u2 <- svy_design(d, weights = ~pw, cluster = ~dnum + sch, fpc = ~fpc1 + fpc2)
  expect_equal(as.data.frame(tab(u1, "stype"))$se, as.data.frame(tab(u2, "stype"))$se, tolerance = 1e-14)
  # nest = FALSE: labels must name units over the whole design
  expect_error(svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2, nest = FALSE), NA)
  expect_error(svy_design(d, weights = ~pw, cluster = ~dnum + sch, fpc = ~fpc1 + fpc2, nest = FALSE),
               "'cluster' column 'sch' \\(stage 2\\) is not nested in 'cluster' column 'dnum' \\(stage 1\\): label '1'")
  c1 <- ms_api()$clus1
  c1$st <- rep(1:2, length.out = nrow(c1))
  expect_error(svy_design(c1, weights = ~pw, strata = ~st, cluster = ~dnum, nest = FALSE),
               "'cluster' column 'dnum' is not nested in 'strata' column 'st'")
})

test_that("bad multistage input: clear errors naming the column", {
  d <- ms_api()$clus2
  d2 <- d
  d2$snum[7] <- NA
  expect_error(svy_design(d2, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2),
               "'cluster' column 'snum' \\(stage 2\\) holds 1 NA value\\(s\\) \\(first at row 7\\)")
  d2 <- d
  d2$fpc2[d2$dnum == 83][1] <- 5
  expect_error(svy_design(d2, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2),
               "'fpc' column 'fpc2' \\(stage 2\\) varies within 'dnum' '83' of stage 1")
  d2 <- d
  d2$fpc2[d2$dnum == 83] <- 2   # 3 schools sampled of 2
  expect_error(svy_design(d2, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2),
               "'fpc' column 'fpc2' \\(stage 2\\) gives 2 population units within 'dnum' '83' of stage 1, fewer than its 3 sampled units")
  expect_error(svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1),
               "'fpc' names 1 column\\(s\\); give one per stage of 'cluster' \\(2\\)")
  expect_error(svy_design(d, weights = ~pw, strata = ~one + stype + cname, cluster = ~dnum + snum),
               "'strata' names 3 columns but the design has 2 stage\\(s\\)")
  expect_error(svy_design(d, weights = ~pw, cluster = ~dnum + nope), "'cluster' names column 'nope' \\(stage 2\\)")
  expect_error(svy_design(d, weights = ~pw, cluster = ~dnum + snum, ultimate_cluster = NA),
               "ultimate_cluster")
})

test_that("two-stage designs with layers, rows of weight 0 and MR sets equal survey", {
  skip_if_not_installed("survey")
  d <- ms_api()$clus2
  d$pw[c(3, 50)] <- 0
  d$a1 <- d$api00 > 700
  d$a2 <- d$api99 > 700
  d$a3 <- d$api99 > 600
  u <- svy_design(d, weights = ~pw, cluster = ~dnum + snum, fpc = ~fpc1 + fpc2)
  s <- survey::svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, weights = ~pw, data = d)
  t <- as.data.frame(tab(u, "stype", cols = "sch.wide", by = "awards"))
  ref <- survey::svyby(~stype, ~sch.wide + awards, s, survey::svymean)
  got <- t[t$col_var == "sch.wide" & t$n > 0, ]
  se <- as.matrix(ref[, c("se.stypeE", "se.stypeH", "se.stypeM")])
  ii <- cbind(match(paste(got$col, got$awards), paste(ref$sch.wide, ref$awards)),
              match(got$row, c("E", "H", "M")))
  expect_lt(rel_m(got$se, 100 * se[ii]), 1e-8)
  # df: the domain's PSUs of positive weight minus strata (degf())
  expect_equal(unique(got$df[got$col == "No" & got$awards == "No"]),
               survey::degf(subset(s, sch.wide == "No" & awards == "No")))
  mr <- mr_set(d, c("a1", "a2", "a3"))
  tm <- as.data.frame(tab(u, mr))
  st <- survey::svytotal(~a1 + a2 + a3, stats::update(s, a1 = as.numeric(a1), a2 = as.numeric(a2),
                                                     a3 = as.numeric(a3)))
  expect_lt(rel_m(tm$se_n_w, survey::SE(st)), 1e-8)
})

test_that("three stages, strata per stage and fpc as fractions equal survey", {
  skip_if_not_installed("survey")
  set.seed(17)
  # 2 strata x 6 PSUs, 4 SSUs per PSU in two stage-2 strata, 2-3 households
  # per SSU, 1-3 persons per household
  g <- expand.grid(ssu = 1:4, psu = 1:6, st = 1:2)
  g$st2 <- ifelse(g$ssu <= 2, "a", "b")
  g <- g[rep(seq_len(nrow(g)), sample(2:3, nrow(g), TRUE)), ]
  g$hh <- stats::ave(seq_len(nrow(g)), g$st, g$psu, g$ssu, FUN = seq_along)
  d <- g[rep(seq_len(nrow(g)), sample(1:3, nrow(g), TRUE)), ]
  d$N1 <- ifelse(d$st == 1, 20, 30)
  d$N2 <- ifelse(d$st2 == "a", 3, 10)
  d$n3 <- stats::ave(d$hh, d$st, d$psu, d$ssu, FUN = function(h) length(unique(h)))
  d$N3 <- d$n3 * 4
  eff <- stats::rnorm(12)[(d$st - 1) * 6 + d$psu]
  d$y <- cut(eff + stats::rnorm(nrow(d)), c(-Inf, -0.4, 0.5, Inf), labels = c("lo", "mid", "hi"))
  d$x <- eff + stats::rnorm(nrow(d))
  d$g <- sample(c("p", "q"), nrow(d), TRUE)
  s <- survey::svydesign(ids = ~psu + ssu + hh, strata = ~st + st2, fpc = ~N1 + N2 + N3, data = d,
                         nest = TRUE)
  u <- svy_design(d, strata = ~st + st2, cluster = ~psu + ssu + hh, fpc = ~N1 + N2 + N3)
  expect_lt(rel_m(u$weights, weights(s)), 1e-12)
  check_tab(u, s, "y", "g", d)
  t <- as.data.frame(tab(u, mean_of(~x), cols = "g"))
  by <- survey::svyby(~x, ~g, s, survey::svymean)
  expect_lt(rel_m(t$se, c(survey::SE(survey::svymean(~x, s)), by$se)), 1e-8)
  # fpc as sampling fractions (all stages, as survey needs)
  n1 <- stats::ave(d$psu, d$st, FUN = function(p) length(unique(p)))
  n2 <- stats::ave(d$ssu, d$st, d$psu, d$st2, FUN = function(p) length(unique(p)))
  d$f1 <- n1 / d$N1
  d$f2 <- n2 / d$N2
  d$f3 <- d$n3 / d$N3
  uf <- svy_design(d, strata = ~st + st2, cluster = ~psu + ssu + hh, fpc = ~f1 + f2 + f3)
  expect_equal(as.data.frame(tab(uf, "y", cols = "g"))$se, as.data.frame(tab(u, "y", cols = "g"))$se,
               tolerance = 1e-12)
  # the design survey gets from as_svydesign()
  sa <- as_svydesign(u)
  expect_lt(rel_m(survey::SE(survey::svymean(~y, sa)), survey::SE(survey::svymean(~y, s))), 1e-12)
})
