# Replicate-weight designs (issue 17): svy_repdesign(), as_repdesign() and
# tab() on them, against survey's svrepdesign()/as.svrepdesign() with the
# same replicate weights.

rep_api <- function(which) {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  d <- e[[which]]
  for (v in c("stype", "sch.wide", "awards", "both")) if (is.factor(d[[v]])) d[[v]] <- as.character(d[[v]])
  d
}

# survey's svyrep.design on umfrage's replicate weights (combined), with
# the design's scale, rscales and mse
svy_of <- function(ud) {
  r <- ud$rep
  suppressWarnings(survey::svrepdesign(
    data = ud$data, repweights = umfrage:::rep_weights(ud),
    weights = if (is.null(ud$weights)) rep(1, nrow(ud$data)) else ud$weights,
    type = "other", scale = r$scale, rscales = r$rscales, mse = r$mse, combined.weights = TRUE))
}

# A 2-PSU-per-stratum design from apistrat: 10 strata of 20 schools, each
# split into two PSUs of 10.
api_pairs <- function() {
  d <- rep_api("apistrat")
  d <- d[order(d$stype, d$snum), ]
  d$st <- (seq_len(nrow(d)) - 1L) %/% 20L + 1L
  d$pp <- d$st * 10L + ((seq_len(nrow(d)) - 1L) %% 20L) %/% 10L
  d
}

cells_of <- function(t) {
  d <- as.data.frame(t, stringsAsFactors = FALSE)
  d$row <- as.character(d$row)
  d$col <- as.character(d$col)
  d
}

# Every percent cell of tab(ud, row, cols = col) against svyciprop() on the
# column's subset of survey's design (SE, CI by `ci`, df = degf(subset)).
check_pct <- function(ud, sd, row, col, ci = "logit", tol = 1e-8) {
  t <- cells_of(tab(ud, row, cols = col, ci = ci))
  meth <- c(logit = "logit", wald = "mean", "korn-graubard" = "beta")[[ci]]
  for (k in seq_len(nrow(t))) {
    cl <- t$col[k]
    sub <- if (t$col_var[k] == "Total") sd else
      eval(substitute(subset(sd, V == cl), list(V = as.name(col), cl = cl)))
    sub <- eval(substitute(subset(sub, !is.na(V)), list(V = as.name(row))))
    f <- stats::as.formula(sprintf("~I(%s == %s)", row, deparse(t$row[k])))
    m <- survey::svymean(stats::as.formula(sprintf("~as.numeric(%s == %s)", row, deparse(t$row[k]))), sub)
    expect_equal(t$pct[k], 100 * unname(coef(m)), tolerance = tol)
    expect_equal(t$se[k], 100 * unname(survey::SE(m)), tolerance = tol)
    expect_equal(t$df[k], survey::degf(sub))
    p <- unname(coef(m))
    if (p > 0 && p < 1) {
      cp <- survey::svyciprop(f, sub, method = meth)
      # umfrage keeps intervals inside 0 to 100 (survey's "mean" does not)
      expect_equal(c(t$ci_low[k], t$ci_high[k]), pmin(pmax(100 * unname(attr(cp, "ci")), 0), 100),
                   tolerance = 1e-7)
    }
  }
  invisible(t)
}

test_that("as_repdesign() makes as.svrepdesign()'s replicate weights, scale and rscales", {
  skip_if_not_installed("survey")
  c1 <- rep_api("apiclus1")
  st <- rep_api("apistrat")
  d1 <- survey::svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = c1)
  u1 <- svy_design(c1, cluster = ~dnum, weights = ~pw, fpc = ~fpc)
  ds <- survey::svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = st)
  us <- svy_design(st, strata = ~stype, weights = ~pw, fpc = ~fpc)
  dsn <- survey::svydesign(id = ~1, strata = ~stype, weights = ~pw, data = st)
  usn <- svy_design(st, strata = ~stype, weights = ~pw)
  pr <- api_pairs()
  dp <- survey::svydesign(id = ~pp, strata = ~st, weights = ~pw, data = pr)
  up <- svy_design(pr, cluster = ~pp, strata = ~st, weights = ~pw)
  same <- function(u, s) {
    expect_lt(max(abs(umfrage:::rep_weights(u) - weights(s, "analysis"))), 1e-12 * max(weights(s, "analysis")))
    expect_equal(u$rep$scale, s$scale, tolerance = 1e-14)
    expect_equal(u$rep$rscales, as.vector(s$rscales), tolerance = 1e-14)
    expect_identical(u$rep$df, as.integer(survey::degf(s)))
  }
  same(as_repdesign(u1, "JK1"), survey::as.svrepdesign(d1, type = "JK1"))
  same(as_repdesign(u1), survey::as.svrepdesign(d1))                   # auto: JK1
  same(as_repdesign(us, "JKn"), survey::as.svrepdesign(ds, type = "JKn"))
  same(as_repdesign(us), survey::as.svrepdesign(ds))                   # auto: JKn
  same(as_repdesign(usn, "JKn"), survey::as.svrepdesign(dsn, type = "JKn"))
  same(as_repdesign(up, "BRR"), survey::as.svrepdesign(dp, type = "BRR"))
  same(as_repdesign(up, "Fay", rho = 0.3), survey::as.svrepdesign(dp, type = "Fay", fay.rho = 0.3))
  # the bootstraps draw as survey does: the same seed, the same replicates
  set.seed(11); ub <- as_repdesign(us, "bootstrap", replicates = 30)
  set.seed(11); sb <- survey::as.svrepdesign(ds, type = "bootstrap", replicates = 30)
  same(ub, sb)
  set.seed(12); ub <- as_repdesign(u1, "subbootstrap", replicates = 25)
  set.seed(12); sb <- survey::as.svrepdesign(d1, type = "subbootstrap", replicates = 25)
  same(ub, sb)
  set.seed(13); ub <- as_repdesign(usn, "bootstrap", replicates = 20)
  set.seed(13); sb <- survey::as.svrepdesign(dsn, type = "bootstrap", replicates = 20)
  same(ub, sb)
})

test_that("percents, SEs, CIs and df on JK1 (apiclus1) equal svyciprop() on the svyrep.design", {
  skip_if_not_installed("survey")
  c1 <- rep_api("apiclus1")
  ud <- as_repdesign(svy_design(c1, cluster = ~dnum, weights = ~pw, fpc = ~fpc), "JK1")
  sd <- svy_of(ud)
  # umfrage's rank rule for df is survey's degf() on the rows
  expect_identical(ud$rep$df, as.integer(survey::degf(sd)))
  check_pct(ud, sd, "stype", "sch.wide", "logit")
  check_pct(ud, sd, "stype", "sch.wide", "wald")
  check_pct(ud, sd, "awards", "stype", "korn-graubard")
  # weighted counts: svytotal on the replicates
  t <- cells_of(tab(ud, "stype"))
  st <- survey::svytotal(~stype, sd)
  expect_equal(t$n_w, unname(coef(st)), tolerance = 1e-12)
  expect_equal(t$se_n_w, unname(survey::SE(st)), tolerance = 1e-8)
})

test_that("JKn (apistrat), bootstrap and BRR/Fay with mse TRUE and FALSE equal survey", {
  skip_if_not_installed("survey")
  st <- rep_api("apistrat")
  us <- svy_design(st, strata = ~stype, weights = ~pw, fpc = ~fpc)
  ud <- as_repdesign(us, "JKn")
  check_pct(ud, svy_of(ud), "sch.wide", "awards", "logit")
  set.seed(3)
  ub <- as_repdesign(us, "bootstrap", replicates = 40)
  check_pct(ub, svy_of(ub), "sch.wide", "stype", "logit")
  ub$rep$mse <- TRUE
  check_pct(ub, svy_of(ub), "sch.wide", "stype", "wald")
  pr <- api_pairs()
  up <- svy_design(pr, cluster = ~pp, strata = ~st, weights = ~pw)
  for (mse in c(FALSE, TRUE)) {
    ubr <- as_repdesign(up, "BRR", mse = mse)
    check_pct(ubr, svy_of(ubr), "awards", "sch.wide", "logit")
    ufay <- as_repdesign(up, "Fay", rho = 0.5, mse = mse)
    check_pct(ufay, svy_of(ufay), "stype", "awards", "korn-graubard")
  }
})

test_that("Rao-Scott tests equal svychisq() on the svyrep.design, per by layer too", {
  skip_if_not_installed("survey")
  c1 <- rep_api("apiclus1")
  ud <- as_repdesign(svy_design(c1, cluster = ~dnum, weights = ~pw, fpc = ~fpc), "JK1")
  sd <- svy_of(ud)
  for (stat in c("F", "Chisq")) {
    t <- cells_of(tab(ud, "stype", cols = "awards", test = stat))
    r <- t[t$col_var == "awards", ][1L, ]
    s <- survey::svychisq(~stype + awards, sd, statistic = stat)
    expect_equal(r$statistic, unname(s$statistic), tolerance = 1e-8)
    expect_equal(r$p_value, unname(s$p.value), tolerance = 1e-8)
    if (stat == "F") expect_equal(c(r$ndf, r$ddf), unname(s$parameter), tolerance = 1e-8)
  }
  st <- rep_api("apistrat")
  set.seed(5)
  ub <- as_repdesign(svy_design(st, strata = ~stype, weights = ~pw, fpc = ~fpc), "bootstrap", replicates = 30)
  sb <- svy_of(ub)
  t <- cells_of(tab(ub, "sch.wide", cols = "awards", by = "stype"))
  for (lay in c("E", "H", "M")) {
    r <- t[t$col_var == "awards" & t$stype == lay, ][1L, ]
    s <- survey::svychisq(~sch.wide + awards, subset(sb, stype == lay))
    expect_equal(r$statistic, unname(s$statistic), tolerance = 1e-8)
    expect_equal(c(r$ndf, r$ddf), unname(s$parameter), tolerance = 1e-8)
    expect_equal(r$p_value, unname(s$p.value), tolerance = 1e-8)
  }
})

test_that("letters: z test on the replicate variance of the difference (alpha flip)", {
  skip_if_not_installed("survey")
  st <- rep_api("apistrat")
  ud <- as_repdesign(svy_design(st, strata = ~stype, weights = ~pw, fpc = ~fpc), "JKn")
  sd <- svy_of(ud)
  # the pair (E, M) of stype for row sch.wide = "Yes": survey's replicate
  # difference of the two domain means
  yes <- function(s) survey::svymean(~as.numeric(sch.wide == "Yes"), subset(s, stype == lv),
                                     return.replicates = TRUE)
  lv <- "E"; a <- yes(sd)
  lv <- "M"; b <- yes(sd)
  d <- unname(a$mean - b$mean)
  v <- survey::svrVar(a$replicates - b$replicates, sd$scale, sd$rscales, mse = sd$mse, coef = d)
  p <- 2 * stats::pnorm(-abs(d) / sqrt(as.numeric(v)))
  expect_gt(p, 1e-4)
  expect_lt(p, 0.9)
  let <- function(alpha) {
    t <- cells_of(tab(ud, "sch.wide", cols = "stype", alpha = alpha, adjust = "none", min_base = 0))
    t[t$col_var == "stype" & t$row == "Yes" & t$col %in% c("E", "M"), "letters"]
  }
  on <- let(p * (1 + 1e-7))
  off <- let(p * (1 - 1e-7))
  expect_true(any(nchar(on) > 0))
  expect_false(identical(on, off))
})

test_that("numeric rows: means, totals, ratios with replicate SEs, t CIs on degf(), letters", {
  skip_if_not_installed("survey")
  c1 <- rep_api("apiclus1")
  ud <- as_repdesign(svy_design(c1, cluster = ~dnum, weights = ~pw, fpc = ~fpc), "JK1")
  sd <- svy_of(ud)
  t <- cells_of(tab(ud, list(mean_of(~api00), total_of(~enroll), ratio_of(~api00, ~api99)),
                    cols = "stype"))
  for (lv in c("E", "H", "M")) {
    sub <- subset(sd, stype == lv)
    r <- t[t$col == lv, ]
    m <- survey::svymean(~api00, sub)
    tt <- survey::svytotal(~enroll, sub)
    ra <- survey::svyratio(~api00, ~api99, sub)
    expect_equal(r$estimate[r$stat == "mean"], unname(coef(m)), tolerance = 1e-10)
    expect_equal(r$se[r$stat == "mean"], unname(survey::SE(m)), tolerance = 1e-8)
    expect_equal(r$estimate[r$stat == "total"], unname(coef(tt)), tolerance = 1e-10)
    expect_equal(r$se[r$stat == "total"], unname(survey::SE(tt)), tolerance = 1e-8)
    expect_equal(r$estimate[r$stat == "ratio"], unname(coef(ra)), tolerance = 1e-10)
    expect_equal(r$se[r$stat == "ratio"], unname(survey::SE(ra)), tolerance = 1e-8)
    ci <- confint(m, df = survey::degf(sub))
    expect_equal(c(r$ci_low[r$stat == "mean"], r$ci_high[r$stat == "mean"]), unname(as.vector(ci)),
                 tolerance = 1e-8)
    expect_equal(r$df[r$stat == "mean"], survey::degf(sub))
  }
  # letters: svyttest() on the two columns' rows (df = degf - 1)
  tt <- survey::svyttest(api00 ~ I(stype == "E"), subset(sd, stype %in% c("E", "M")))
  p <- unname(tt$p.value)
  expect_gt(p, 1e-6)
  expect_lt(p, 0.9)
  let <- function(alpha) {
    d <- cells_of(tab(ud, mean_of(~api00), cols = "stype", alpha = alpha, adjust = "none", min_base = 0))
    paste(d$letters[d$col_var == "stype"], collapse = "|")
  }
  expect_false(identical(let(p * (1 + 1e-7)), let(p * (1 - 1e-7))))
})

test_that("svy_repdesign() from replicate columns equals survey and the factor form", {
  skip_if_not_installed("survey")
  st <- rep_api("apistrat")
  ds <- survey::svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = st)
  rs <- survey::as.svrepdesign(ds, type = "JKn")
  W <- weights(rs, "analysis")
  colnames(W) <- sprintf("rw%03d", seq_len(ncol(W)))
  d <- cbind(st, W)
  uc <- svy_repdesign(d, weights = ~pw, repweights = "^rw[0-9]+$", type = "JKn", rscales = rs$rscales)
  expect_identical(uc$rep$mode, "columns")
  expect_identical(uc$rep$df, as.integer(survey::degf(rs)))
  sc <- survey::svrepdesign(data = d, repweights = "^rw[0-9]+$", weights = ~pw, type = "JKn",
                            rscales = rs$rscales, combined.weights = TRUE)
  check_pct(uc, sc, "sch.wide", "stype", "logit")
  uf <- as_repdesign(svy_design(st, strata = ~stype, weights = ~pw, fpc = ~fpc), "JKn")
  a <- cells_of(tab(uc, "awards", cols = "stype"))
  b <- cells_of(tab(uf, "awards", cols = "stype"))
  for (k in c("pct", "se", "ci_low", "ci_high", "deff", "statistic", "p_value"))
    expect_equal(a[[k]], b[[k]], tolerance = 1e-10)
  expect_identical(a$letters, b$letters)
  # the same columns by formula and by names
  u2 <- svy_repdesign(d, weights = "pw", repweights = colnames(W), type = "JKn", rscales = rs$rscales)
  expect_equal(umfrage:::rep_weights(u2), umfrage:::rep_weights(uc))
  # survey's defaults per type
  expect_warning(j1 <- svy_repdesign(d, weights = ~pw, repweights = colnames(W)[1:10], type = "JK1"),
                 "scale")
  expect_equal(j1$rep$scale, 9 / 10)
  b1 <- svy_repdesign(d, weights = ~pw, repweights = colnames(W)[1:10], type = "BRR")
  expect_equal(b1$rep$scale, 1 / 10)
  f1 <- svy_repdesign(d, weights = ~pw, repweights = colnames(W)[1:10], type = "Fay", rho = 0.3)
  expect_equal(f1$rep$scale, 1 / (10 * 0.7^2))
  bt <- svy_repdesign(d, weights = ~pw, repweights = colnames(W)[1:10], type = "bootstrap")
  expect_equal(bt$rep$scale, 1 / 9)
})

test_that("replicate designs: bad input is a clear error naming the column or argument", {
  st <- rep_api("apistrat")
  st$r1 <- st$pw * 1.1
  st$r2 <- st$pw * 0.9
  bad <- st
  bad$r2[7] <- NA
  expect_error(svy_repdesign(bad, weights = ~pw, repweights = ~r1 + r2, type = "BRR"), "'r2'.*NA.*row 7")
  bad <- st
  bad$r1[3] <- -1
  expect_error(svy_repdesign(bad, weights = ~pw, repweights = ~r1 + r2, type = "BRR"), "'r1'.*negative.*row 3")
  expect_error(svy_repdesign(st, weights = ~pw, repweights = ~r1 + r2, type = "JKn", rscales = c(1, 1, 1)),
               "'rscales' has length 3.*2 replicate")
  expect_error(svy_repdesign(st, weights = ~pw, repweights = ~r1 + r2, type = "jackknife"),
               "'type' 'jackknife'")
  expect_error(svy_repdesign(st, weights = ~pw, repweights = ~r1 + r9, type = "BRR"), "'r9'")
  expect_error(svy_repdesign(st, weights = ~pw, repweights = "^zz", type = "BRR"), "matches no column")
  expect_error(svy_repdesign(st, weights = ~pw, repweights = ~r1 + r2, type = "JKn"), "rscales")
  expect_error(svy_repdesign(st, weights = ~pw, repweights = ~r1 + r2, type = "Fay"), "rho")
  expect_error(svy_repdesign(st, weights = ~pw, repweights = ~r1 + stype, type = "BRR"), "'stype'.*numeric")
  expect_error(as_repdesign(st), "svy_design")
  us <- svy_design(st, strata = ~stype, weights = ~pw)
  expect_error(as_repdesign(us, "JK1"), "unstratified")
  expect_error(as_repdesign(us, "boot"), "'type' 'boot'")
  expect_error(as_repdesign(svy_design(st, weights = ~pw), "BRR"), "stratified")
  expect_error(as_repdesign(svy_design(st[-1, ], strata = ~stype, weights = ~pw), "BRR"),
               "stratum 'E' has an odd number \\(99\\) of PSUs")
  rd <- as_repdesign(us, "JKn")
  expect_error(tab(rd, "sch.wide", weights = ~pw), "'weights' must be NULL")
  # quantile rows on replicate designs are supported now (test-replicate-recal.R)
  expect_silent(tab(rd, quantile_of(~api00)))
})

test_that("tab() on a replicate design: outputs work, MR sets and se = FALSE", {
  c1 <- rep_api("apiclus1")
  ud <- as_repdesign(svy_design(c1, cluster = ~dnum, weights = ~pw), "JK1")
  t <- tab(ud, list("stype", mean_of(~api00)), cols = "awards")
  expect_output(print(t))
  d <- as.data.frame(t)
  expect_true(all(c("se", "ci_low", "letters", "p_value") %in% names(d)))
  expect_false(anyNA(d$se[d$stat == "pct" & d$col_var == "Total"]))
  c1$a <- c1$sch.wide == "Yes"
  c1$b <- c1$both == "Yes"
  ud <- as_repdesign(svy_design(c1, cluster = ~dnum, weights = ~pw), "JK1")
  tm <- cells_of(tab(ud, mr_set(c1, c("a", "b"), label = "ab"), cols = "stype"))
  expect_false(anyNA(tm$se))
  t0 <- cells_of(tab(ud, "stype", se = FALSE))
  expect_true(all(is.na(t0$se)))
})
