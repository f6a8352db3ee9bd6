# Design-based inference in tab(), checked against the survey package on
# the same data and design.

designs <- function(d) {
  suppressWarnings(list(
    strat_clust_fpc = list(
      u = svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N),
      s = survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, fpc = ~N, data = d)),
    strat_clust = list(
      u = svy_design(d, weights = ~w, strata = ~st, cluster = ~psu),
      s = survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)),
    strat_rows = list(
      u = svy_design(d, weights = ~w, strata = ~st),
      s = survey::svydesign(ids = ~1, strata = ~st, weights = ~w, data = d)),
    clust_equal = list(
      u = svy_design(d, cluster = ~psu),
      s = survey::svydesign(ids = ~psu, data = d))
  ))
}

test_that("totals, percents and their SEs equal svytotal, svymean and svyby", {
  skip_if_not_installed("survey")
  d <- sim_design_data(1)
  for (nm in names(designs(d))) {
    ds <- designs(d)[[nm]]
    t <- as.data.frame(tab(ds$u, "y", cols = "g"))
    tot <- t[t$col_var == "Total", ]
    st <- survey::svytotal(~y, ds$s)
    expect_lt(rel_err(tot$n_w, coef(st)), 1e-10)
    expect_lt(rel_err(tot$se_n_w, survey::SE(st)), 1e-8)
    sm <- survey::svymean(~y, ds$s)
    expect_lt(rel_err(tot$pct, 100 * coef(sm)), 1e-10)
    expect_lt(rel_err(tot$se, 100 * survey::SE(sm)), 1e-8)
    by <- survey::svyby(~y, ~g, ds$s, survey::svymean)
    cg <- t[t$col_var == "g", ]
    for (lv in c("x", "z")) {
      got <- cg[cg$col == lv, ]
      ref <- by[by$g == lv, ]
      expect_lt(rel_err(got$pct, 100 * unlist(ref[paste0("y", got$row)])), 1e-10)
      expect_lt(rel_err(got$se, 100 * unlist(ref[paste0("se.y", got$row)])), 1e-8)
    }
    # weighted counts per cell: svyby totals
    byt <- survey::svyby(~y, ~g, ds$s, survey::svytotal)
    got <- cg[cg$col == "z", ]
    expect_lt(rel_err(got$se_n_w, unlist(byt[byt$g == "z", paste0("se.y", got$row)])), 1e-8)
  }
})

test_that("logit and Korn-Graubard intervals equal svyciprop", {
  skip_if_not_installed("survey")
  d <- sim_design_data(2)
  ds <- designs(d)$strat_clust_fpc
  for (method in c("logit", "korn-graubard")) {
    t <- as.data.frame(tab(ds$u, "y", cols = "g", ci = method))
    sm <- if (method == "logit") "logit" else "beta"
    for (lv in c("low", "high")) {
      got <- t[t$col_var == "Total" & t$row == lv, ]
      ref <- eval(bquote(survey::svyciprop(~I(y == .(lv)), ds$s, method = sm)))
      expect_lt(rel_err(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
      # a domain: column g = "x", as svyciprop on the subset
      got <- t[t$col == "x" & t$row == lv, ]
      ref <- eval(bquote(survey::svyciprop(~I(y == .(lv)), subset(ds$s, g == "x"), method = sm)))
      expect_lt(rel_err(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
    }
  }
})

test_that("Wilson and Wald intervals equal their closed forms", {
  skip_if_not_installed("survey")
  d <- sim_design_data(3)
  ds <- designs(d)$strat_rows
  for (lev in c(0.9, 0.95)) {
    tw <- as.data.frame(tab(ds$u, "y", ci = "wilson", level = lev))
    p <- tw$pct / 100
    v <- (tw$se / 100)^2
    ne <- p * (1 - p) / v
    z <- qnorm(1 - (1 - lev) / 2)
    ctr <- (p + z^2 / (2 * ne)) / (1 + z^2 / ne)
    half <- z / (1 + z^2 / ne) * sqrt(p * (1 - p) / ne + z^2 / (4 * ne^2))
    expect_lt(rel_err(tw$ci_low, 100 * (ctr - half)), 1e-12)
    expect_lt(rel_err(tw$ci_high, 100 * (ctr + half)), 1e-12)
    tv <- as.data.frame(tab(ds$u, "y", ci = "wald", level = lev))
    df <- survey::degf(ds$s)
    expect_equal(unique(tv$df), df)
    expect_lt(rel_err(tv$ci_low, tv$pct - qt(1 - (1 - lev) / 2, df) * tv$se), 1e-12)
  }
})

test_that("Rao-Scott F and first-order tests equal svychisq", {
  skip_if_not_installed("survey")
  d <- sim_design_data(4)
  for (nm in c("strat_clust_fpc", "strat_rows", "clust_equal")) {
    ds <- designs(d)[[nm]]
    for (cv in c("g", "k")) {
      t <- as.data.frame(tab(ds$u, "y", cols = cv))
      got <- t[t$col_var == cv, ][1, ]
      ref <- survey::svychisq(stats::as.formula(paste("~ y +", cv)), ds$s, statistic = "F")
      expect_lt(rel_err(got$statistic, ref$statistic), 1e-6)
      expect_lt(rel_err(c(got$ndf, got$ddf), ref$parameter), 1e-6)
      expect_lt(rel_err(got$p_value, ref$p.value), 1e-6)
      t2 <- as.data.frame(tab(ds$u, "y", cols = cv, test = "Chisq"))
      got2 <- t2[t2$col_var == cv, ][1, ]
      ref2 <- survey::svychisq(stats::as.formula(paste("~ y +", cv)), ds$s, statistic = "Chisq")
      expect_lt(rel_err(got2$statistic, ref2$statistic), 1e-6)
      expect_lt(rel_err(got2$p_value, ref2$p.value), 1e-6)
    }
  }
})

test_that("Rao-Scott with a zero-weight cell (the general route) equals svychisq", {
  skip_if_not_installed("survey")
  d <- sim_design_data(14)
  # a cell whose rows all have weight 0: its proportion is 0, so the fast
  # route (every cell with positive weight) does not apply
  d$w[d$y == "high" & d$g == "x"] <- 0
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  t <- as.data.frame(tab(u, "y", cols = c("g", "k")))
  got <- t[t$col_var == "g", ][1, ]
  ref <- survey::svychisq(~y + g, s, statistic = "F")
  expect_lt(rel_err(got$statistic, ref$statistic), 1e-6)
  expect_lt(rel_err(c(got$ndf, got$ddf), ref$parameter), 1e-6)
  expect_lt(rel_err(got$p_value, ref$p.value), 1e-6)
  # the other block of the same call takes the fast route
  got_k <- t[t$col_var == "k", ][1, ]
  ref_k <- survey::svychisq(~y + k, s, statistic = "F")
  expect_lt(rel_err(got_k$statistic, ref_k$statistic), 1e-6)
  expect_lt(rel_err(got_k$p_value, ref_k$p.value), 1e-6)
})

test_that("a data frame with weights is a with-replacement sample of rows", {
  skip_if_not_installed("survey")
  d <- sim_design_data(5)
  t <- as.data.frame(tab(d, "y", cols = "g", weights = "w"))
  s <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  by <- survey::svyby(~y, ~g, s, survey::svymean)
  got <- t[t$col == "z", ]
  expect_lt(rel_err(got$se, 100 * unlist(by[by$g == "z", paste0("se.y", got$row)])), 1e-8)
  ref <- survey::svychisq(~y + g, s)
  expect_lt(rel_err(got$p_value[1], ref$p.value), 1e-6)
  # percent of rows and of the total
  tr <- as.data.frame(tab(d, "y", cols = "g", weights = "w", percent = "row"))
  byr <- survey::svyby(~g, ~y, s, survey::svymean)
  got <- tr[tr$col_var == "g" & tr$col == "x", ]
  expect_lt(rel_err(got$se, 100 * byr[match(got$row, byr$y), "se.gx"]), 1e-8)
  tt <- as.data.frame(tab(d, "y", cols = "g", weights = "w", percent = "total"))
  d$yg <- interaction(d$y, d$g)
  s <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  m <- survey::svymean(~yg, s)
  got <- tt[tt$col_var == "g", ]
  expect_lt(rel_err(got$se, 100 * survey::SE(m)[paste0("yg", got$row, ".", got$col)]), 1e-8)
})

test_that("layers: each by level as svychisq and svyby on the subset", {
  skip_if_not_installed("survey")
  d <- sim_design_data(6)
  ds <- designs(d)$strat_clust_fpc
  t <- as.data.frame(tab(ds$u, "y", cols = "g", by = "k"))
  for (lv in c("p", "s")) {
    sub <- subset(ds$s, k == lv)
    got <- t[t$col_var == "g" & t$k == lv, ]
    ref <- survey::svychisq(~y + g, sub)
    expect_lt(rel_err(got$p_value[1], ref$p.value), 1e-6)
    by <- survey::svyby(~y, ~g, sub, survey::svymean)
    gz <- got[got$col == "z", ]
    expect_lt(rel_err(gz$se, 100 * unlist(by[by$g == "z", paste0("se.y", gz$row)])), 1e-8)
  }
})

test_that("letters mark significantly higher columns, with their rule", {
  set.seed(7)
  n <- 3000
  d <- data.frame(grp = sample(c("a", "b", "c"), n, TRUE))
  p <- c(a = 0.2, b = 0.5, c = 0.52)[d$grp]
  d$yes <- ifelse(runif(n) < p, "yes", "no")
  t <- as.data.frame(tab(d, "yes", cols = "grp"))
  yes <- t[t$col_var == "grp" & t$row == "yes", ]
  expect_equal(yes$letters, c("", "A", "A"))
  no <- t[t$col_var == "grp" & t$row == "no", ]
  expect_equal(no$letters, c("BC", "", ""))
  # the z statistic behind one letter, by hand (independent columns of rows)
  pa <- yes$pct[1] / 100; pb <- yes$pct[2] / 100
  z <- (pb - pa) / sqrt((yes$se[1] / 100)^2 + (yes$se[2] / 100)^2)
  expect_gt(z, qnorm(1 - 0.05 / 2 / 3))
  expect_equal(as.data.frame(tab(d, "yes", cols = "grp", letters = FALSE))$letters, rep("", 8))
  # strict alpha removes weak differences
  t2 <- as.data.frame(tab(d, "yes", cols = "grp", alpha = 1e-300))
  expect_true(all(t2$letters == ""))
})

test_that("svy_design() checks its input", {
  d <- sim_design_data(8)
  d2 <- d
  d2$st[3] <- NA
  expect_error(svy_design(d2, strata = ~st), "'strata' column 'st' holds 1 NA value\\(s\\) \\(first at row 3\\)")
  d4 <- d
  d4$psu[d4$st == 1] <- 1
  expect_error(svy_design(d4, strata = ~st, cluster = ~psu), "stratum '1' has only one PSU")
  expect_s3_class(svy_design(d4, strata = ~st, cluster = ~psu, lonely_psu = "adjust"), "umfrage_design")
  d5 <- d
  d5$N[1] <- 99
  expect_error(svy_design(d5, strata = ~st, cluster = ~psu, fpc = ~N), "'fpc' must be constant within a stratum, but varies in stratum '1'")
  d6 <- d
  d6$N <- 3
  expect_error(svy_design(d6, strata = ~st, cluster = ~psu, fpc = ~N), "fewer than its 10 sampled PSUs")
  expect_error(svy_design(d, strata = ~nope), "'strata' names column 'nope'")
  expect_error(svy_design(d, weights = -d$w), "'weights' holds 600 negative value")
  expect_error(tab(svy_design(d), "y", weights = "w"), "'weights' must be NULL when 'x' is an svy_design")
})

test_that("lonely PSUs are handled as survey's options", {
  skip_if_not_installed("survey")
  d <- sim_design_data(9)
  d$psu[d$st == 1] <- 1
  for (rule in c("certainty", "remove", "adjust")) {
    u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, lonely_psu = rule)
    s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
    old <- options(survey.lonely.psu = rule)
    ref <- survey::svymean(~y, s)
    options(old)
    t <- as.data.frame(tab(u, "y"))
    expect_lt(rel_err(t$se, 100 * survey::SE(ref)), 1e-8)
  }
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, lonely_psu = "adjust")
  expect_s3_class(as_svydesign(u), "survey.design2")
})

test_that("level, alpha and test are checked", {
  d <- sim_design_data(10)
  expect_error(tab(d, "y", level = 1), "'level' must be a single number between 0 and 1")
  expect_error(tab(d, "y", level = 0), "'level' must be a single number between 0 and 1")
  expect_error(tab(d, "y", alpha = 1.5), "'alpha' must be a single number between 0 and 1")
  expect_error(tab(d, "y", test = "G"), "'test' must be TRUE, FALSE")
  expect_error(tab(d, "y", letters = NA), "'letters' must be TRUE or FALSE")
  expect_error(tab(d, "y", ci = "exact"), "'arg' should be one of")
  expect_error(tab(d, "y", weights = rep(0, nrow(d))), "'weights' are all zero")
  expect_error(tab(d, "y", se = "no"), "'se' must be TRUE or FALSE")
  t0 <- as.data.frame(tab(svy_design(d, strata = ~st, cluster = ~psu), "y", cols = "g", se = FALSE))
  t1 <- as.data.frame(tab(svy_design(d, strata = ~st, cluster = ~psu), "y", cols = "g"))
  expect_true(all(is.na(t0$se)) && all(t0$letters == ""))
  expect_equal(t0$pct, t1$pct)
  expect_error(tab(svy_design(d, weights = rep(0, nrow(d))), "y"), "'weights' are all zero")
  # a column whose rows all have weight 0 gets no percent, not an error
  d$w2 <- ifelse(d$g == "x", 0, d$w)
  t <- as.data.frame(tab(d, "y", cols = "g", weights = "w2"))
  expect_true(all(is.na(t$pct[t$col == "x"])))
  expect_true(all(is.na(t$se[t$col == "x"])))
})

test_that("large blocks skip the tests or the inference with one warning", {
  set.seed(12)
  n <- 2000
  d <- data.frame(a = factor(sample(30, n, TRUE)), b = factor(sample(20, n, TRUE)))
  expect_warning(t <- tab(d, "a", cols = "b"), "Rao-Scott tests are skipped for blocks of more than 400 cells")
  tt <- as.data.frame(t)
  expect_true(all(is.na(tt$p_value[tt$col_var == "b"])))
  expect_false(anyNA(tt$se[tt$col_var == "b" & tt$n > 0 & tt$n < tt$base_n]))
  old <- options(umfrage.max_inference_cells = 100)
  on.exit(options(old))
  expect_warning(t2 <- tab(d, "a", cols = "b"), "not computed for blocks of more than 100 cells")
  t2 <- as.data.frame(t2)
  expect_true(all(is.na(t2$se[t2$col_var == "b"])))
  expect_false(anyNA(t2$se[t2$col_var == "Total" & t2$n > 0]))
})

test_that("as_svydesign() hands over the same design", {
  skip_if_not_installed("survey")
  d <- sim_design_data(13)
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
  s <- as_svydesign(u)
  expect_s3_class(s, "survey.design2")
  t <- as.data.frame(tab(u, "y"))
  expect_lt(rel_err(t$se, 100 * survey::SE(survey::svymean(~y, s))[paste0("y", t$row)]), 1e-8)
  expect_equal(survey::degf(s), unique(t$df))
  expect_error(as_svydesign(d), "'x' must be an svy_design\\(\\)")
  d2 <- d
  d2$psu[4] <- NA
  expect_error(svy_design(d2, cluster = ~psu), "'cluster' column 'psu' holds 1 NA value\\(s\\) \\(first at row 4\\)")
  expect_output(print(u), "<umfrage_design> 600 rows, 40 PSU\\(s\\) \\(clusters\\) in 4 stratum/strata")
})

test_that("the printed block notes give the Rao-Scott test and a readable p-value", {
  d <- sim_design_data(15)
  out <- capture.output(print(tab(d, "y", cols = "g", weights = "w")))
  line <- grep("Rao-Scott F", out, value = TRUE)
  expect_length(line, 1L)
  expect_match(line, "p (= [0-9.]+(e-[0-9]+)?|< 0\\.0001)$")
  p <- as.data.frame(tab(d, "y", cols = "g", weights = "w"))$p_value
  p <- p[!is.na(p)][1]
  expect_match(line, if (p < 1e-4) "p < 0.0001" else formatC(p, format = "fg", digits = 3), fixed = TRUE)
})
