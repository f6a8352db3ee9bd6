# Correctness at the edges of the design-based inference (issue 12): rows
# of weight 0, fpc without weights, letters without variance, extreme
# weight scales, many banner columns, the Rao-Scott Chisq statistic with
# missing values, and the definitions of the design effect. Every number is
# checked against survey, base R or a closed form.

api_zero <- function() {
  data(api, package = "survey", envir = environment())
  d <- apistrat
  set.seed(12)
  d$pw[sample(nrow(d), 50)] <- 0
  d$y <- d$sch.wide
  d
}

quiet <- function(expr) suppressWarnings(expr)   # survey warns on zero weights

test_that("rows of weight 0 are out of the sample for df, CIs and deff (rows as PSUs)", {
  skip_if_not_installed("survey")
  d <- api_zero()
  s <- survey::svydesign(ids = ~1, weights = ~pw, data = d)
  t <- as.data.frame(tab(d, "y", cols = "stype", weights = "pw"))
  tot <- t[t$col_var == "Total" & t$row == "Yes", ]
  expect_equal(tot$df, survey::degf(s))
  expect_equal(tot$df, sum(d$pw > 0) - 1)
  ref <- quiet(survey::svyciprop(~I(y == "Yes"), s, method = "logit"))
  expect_lt(rel_err(c(tot$ci_low, tot$ci_high), 100 * attr(ref, "ci")), 1e-8)
  # deff: Var(p) / (p (1 - p) / n), n the rows of positive weight
  sm <- survey::svymean(~I(y == "Yes"), s)
  p <- coef(sm)[[2L]]
  expect_lt(rel_err(tot$deff, survey::SE(sm)[[2L]]^2 / (p * (1 - p) / sum(d$pw > 0))), 1e-8)
  # a domain: survey's subset keeps its rows of weight 0, degf leaves them out
  for (lv in c("E", "H")) {
    got <- t[t$col_var == "stype" & t$col == lv & t$row == "Yes", ]
    sub <- subset(s, stype == lv)
    expect_equal(got$df, survey::degf(sub))
    expect_equal(got$df, sum(d$pw > 0 & d$stype == lv) - 1)
    ref <- quiet(survey::svyciprop(~I(y == "Yes"), sub, method = "logit"))
    expect_lt(rel_err(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
    # Korn-Graubard as svyciprop(method = "beta") (which counts all rows of
    # the domain in its n, and the positive ones in degf)
    kg <- as.data.frame(tab(d, "y", cols = "stype", weights = "pw", ci = "korn-graubard"))
    kg <- kg[kg$col_var == "stype" & kg$col == lv & kg$row == "Yes", ]
    ref <- quiet(survey::svyciprop(~I(y == "Yes"), sub, method = "beta"))
    expect_lt(rel_err(c(kg$ci_low, kg$ci_high), 100 * attr(ref, "ci")), 1e-8)
  }
})

test_that("rows and PSUs of weight 0 are out of df with strata and clusters", {
  skip_if_not_installed("survey")
  d <- api_zero()
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d)
  u <- svy_design(d, weights = ~pw, strata = ~stype)
  t <- as.data.frame(tab(u, "y", cols = "awards"))
  tot <- t[t$col_var == "Total" & t$row == "Yes", ]
  expect_equal(tot$df, survey::degf(s))
  expect_equal(tot$df, sum(d$pw > 0) - 3)
  ref <- quiet(survey::svyciprop(~I(y == "Yes"), s, method = "logit"))
  expect_lt(rel_err(c(tot$ci_low, tot$ci_high), 100 * attr(ref, "ci")), 1e-8)
  got <- t[t$col_var == "awards" & t$col == "No" & t$row == "Yes", ]
  expect_equal(got$df, survey::degf(subset(s, awards == "No")))

  # clusters: a PSU whose rows all have weight 0 is no PSU for df
  data(api, package = "survey", envir = environment())
  c1 <- apiclus1
  c1$pw[c1$dnum == c1$dnum[1L]] <- 0                  # a whole PSU
  c1$pw[c(20, 40, 60)] <- 0                           # single rows
  c1$y <- c1$sch.wide
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = c1)
  u <- svy_design(c1, weights = ~pw, cluster = ~dnum, fpc = ~fpc)
  t <- as.data.frame(tab(u, "y", cols = "stype"))
  tot <- t[t$col_var == "Total" & t$row == "Yes", ]
  expect_equal(tot$df, survey::degf(s))
  expect_equal(tot$df, length(unique(c1$dnum[c1$pw > 0])) - 1)
  ref <- quiet(survey::svyciprop(~I(y == "Yes"), s, method = "logit"))
  expect_lt(rel_err(c(tot$ci_low, tot$ci_high), 100 * attr(ref, "ci")), 1e-8)
  for (lv in c("E", "M")) {
    got <- t[t$col_var == "stype" & t$col == lv & t$row == "Yes", ]
    sub <- subset(s, stype == lv)
    expect_equal(got$df, survey::degf(sub))
    ref <- quiet(survey::svyciprop(~I(y == "Yes"), sub, method = "logit"))
    expect_lt(rel_err(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
  }
})

test_that("an fpc without weights gives the weights N_h / n_h, as svydesign()", {
  skip_if_not_installed("survey")
  data(api, package = "survey", envir = environment())
  cases <- list(
    list(u = svy_design(apistrat, strata = ~stype, fpc = ~fpc),
         s = survey::svydesign(ids = ~1, strata = ~stype, fpc = ~fpc, data = apistrat)),
    list(u = svy_design(apiclus1, cluster = ~dnum, fpc = ~fpc),
         s = survey::svydesign(ids = ~dnum, fpc = ~fpc, data = apiclus1)))
  # the fpc as sampling fractions
  fr <- apistrat
  fr$f <- ave(rep(1, nrow(fr)), fr$stype, FUN = sum) / fr$fpc
  cases[[3L]] <- list(u = svy_design(fr, strata = ~stype, fpc = ~f),
                      s = survey::svydesign(ids = ~1, strata = ~stype, fpc = ~f, data = fr))
  for (k in seq_along(cases)) {
    u <- cases[[k]]$u
    s <- cases[[k]]$s
    t <- as.data.frame(tab(u, "sch.wide", cols = "stype"))
    tot <- t[t$col_var == "Total", ]
    st <- survey::svytotal(~sch.wide, s)
    expect_lt(rel_err(tot$n_w, coef(st)), 1e-10)
    expect_lt(rel_err(tot$se_n_w, survey::SE(st)), 1e-8)
    sm <- survey::svymean(~sch.wide, s)
    expect_lt(rel_err(tot$pct, 100 * coef(sm)), 1e-10)
    expect_lt(rel_err(tot$se, 100 * survey::SE(sm)), 1e-8)
    by <- survey::svyby(~sch.wide, ~stype, s, survey::svytotal)
    got <- t[t$col_var == "stype" & t$row == "Yes", ]
    expect_lt(rel_err(got$n_w, by$sch.wideYes[match(got$col, by$stype)]), 1e-10)
  }
})

test_that("no letter rests on a zero or undefined variance", {
  # two columns of one respondent (100 % and 0 %) and one of 100 at 50 %
  d <- data.frame(y = c(rep(c("yes", "no"), 50), "yes", "no"),
                  g = c(rep("a", 100), "b", "c"))
  t <- as.data.frame(tab(d, "y", cols = "g"))
  expect_true(all(t$letters == ""))
  # the same with weights, and with clusters of one row each in columns b, c
  t <- as.data.frame(tab(d, "y", cols = "g", weights = seq_len(nrow(d)) / 10))
  expect_true(all(t$letters == ""))
  # but columns with real variance still get letters, as the z test on the
  # SEs of svyby (disjoint domains: no covariance), Bonferroni over the pair
  skip_if_not_installed("survey")
  d2 <- rbind(d[seq_len(100), ], data.frame(y = rep(c("yes", "no"), c(90, 10)), g = "b"),
              data.frame(y = "yes", g = "c"))
  t <- as.data.frame(tab(d2, "y", cols = "g"))
  d2$yes <- as.numeric(d2$y == "yes")
  s <- survey::svydesign(ids = ~1, weights = rep(1, nrow(d2)), data = d2)
  by <- survey::svyby(~yes, ~g, s, survey::svymean)
  est <- coef(by); se <- survey::SE(by)
  z <- (est[2] - est[1]) / sqrt(se[1]^2 + se[2]^2)
  expect_lt(2 * pnorm(-abs(z)), 0.05)
  # the one-respondent column c takes part in no pair, so m = 1
  expect_equal(t$letters[t$col_var == "g" & t$row == "yes"], c("", "A", ""))
  expect_equal(t$letters[t$col_var == "g" & t$row == "no"], c("B", "", ""))
})

test_that("every statistic is invariant to the scale of the weights", {
  skip_if_not_installed("survey")
  d <- sim_design_data(3)
  cnt <- c("n_w", "base_w", "se_n_w")
  check <- function(mk, skip = character()) {
    ref <- as.data.frame(mk(d$w))
    num <- setdiff(names(ref)[vapply(ref, is.numeric, NA)], skip)
    for (k in c(1e160, 1e-300)) {
      got <- as.data.frame(mk(d$w * k))
      expect_identical(got$letters, ref$letters)
      for (nm in num) {
        a <- got[[nm]]
        b <- if (nm %in% cnt) ref[[nm]] * k else ref[[nm]]
        expect_identical(is.na(a), is.na(b), info = nm)
        ok <- !is.na(b)
        expect_lt(rel_err(a[ok], b[ok]), 1e-12)
      }
    }
    ref
  }
  r <- check(function(w) tab(d, "y", cols = c("g", "k"), weights = w))
  expect_false(anyNA(r$se))
  check(function(w) tab(d, "y", cols = "g", by = "k", weights = w, ci = "korn-graubard"))
  check(function(w) {
    d$w <- w
    tab(svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N), "y", cols = "g")
  })
  check(function(w) {
    d$w <- w
    tab(svy_design(d, weights = ~w, strata = ~st), "y", cols = "g", deff = "replace")
  })
  # deff = "survey" depends on the population size, the sum of the weights
  check(function(w) {
    d$w <- w
    tab(svy_design(d, weights = ~w, strata = ~st), "y", cols = "g", deff = "survey")
  }, skip = "deff")
  # wt_summary() and wt_trim(deff =)
  s1 <- wt_summary(d$w)$stats
  expect_lt(rel_err(s1$deff, length(d$w) * sum(d$w^2) / sum(d$w)^2), 1e-12)
  t1 <- wt_trim(d$w, deff = 1.05)
  for (k in c(1e160, 1e-300)) {
    sk <- wt_summary(d$w * k)$stats
    for (nm in c("deff", "n_eff", "cv", "efficiency", "ratio"))
      expect_lt(rel_err(sk[[nm]], s1[[nm]]), 1e-12)
    for (nm in c("sum", "mean", "min", "max"))
      expect_lt(rel_err(sk[[nm]], s1[[nm]] * k), 1e-12)
    tk <- wt_trim(d$w * k, deff = 1.05)
    expect_lt(rel_err(as.double(tk) / k, as.double(t1)), 1e-12)
    expect_lt(rel_err(wt_summary(tk)$stats$deff, 1.05), 1e-6)
  }
})

test_that("raking, post-stratification and calibration are invariant to the scale of the starting weights", {
  set.seed(5)
  n <- 300
  d <- data.frame(sex = sample(c("f", "m"), n, TRUE), age = sample(c("y", "m", "o"), n, TRUE),
                  inc = rlnorm(n))
  w <- runif(n, 0.5, 2)
  tg <- list(sex = c(f = 0.5, m = 0.5), age = c(y = 0.3, m = 0.4, o = 0.3))
  r1 <- as.double(wt_rake(d, tg, weights = w))
  p1 <- as.double(wt_poststrat(d, list(sex = c(f = 0.5, m = 0.5)), weights = w))
  c1 <- as.double(wt_calibrate(d, c(tg, list(inc = 1.05 * sum(w * d$inc))), weights = w))
  # the calibration meets its targets (closed form)
  expect_lt(abs(sum(c1 * d$inc) / (1.05 * sum(w * d$inc)) - 1), 1e-8)
  for (k in c(1e160, 1e-300)) {
    expect_lt(rel_err(as.double(wt_rake(d, tg, weights = w * k)) / k, r1), 1e-12)
    expect_lt(rel_err(as.double(wt_poststrat(d, list(sex = c(f = 0.5, m = 0.5)),
                                             weights = w * k)) / k, p1), 1e-12)
    ck <- wt_calibrate(d, c(tg, list(inc = 1.05 * sum(w * k * d$inc))), weights = w * k)
    expect_lt(rel_err(as.double(ck) / k, c1), 1e-12)
  }
})

# the letters of a cell as a set of column indices
parse_letters <- function(s, labs) {
  if (s == "") return(integer())
  parts <- if (length(labs) > 26L) strsplit(s, ",", fixed = TRUE)[[1L]] else strsplit(s, "")[[1L]]
  i <- match(parts, labs)
  stopifnot(!anyNA(i))
  i
}

# Base R: per column (domain) the weighted proportion and its SE with rows
# as PSUs, one stratum (n / (n - 1) * sum of squared residuals / W^2), and
# the Bonferroni-adjusted z tests of all pairs (disjoint domains: no
# covariance). Returns the matrix flag[i, j]: column i higher than j.
z_letters <- function(y, g, w, alpha = 0.05) {
  n <- length(y)
  lv <- levels(g)
  W <- tapply(w, g, sum)
  p <- tapply(w * y, g, sum) / W
  v <- n / (n - 1) * tapply(w^2 * (y - p[g])^2, g, sum) / W^2
  k <- length(lv)
  ok <- as.vector(table(g)) >= 2 & !is.na(p)
  d <- outer(p, p, "-")
  sv <- outer(v, v, "+")
  pv <- 2 * pnorm(-abs(d) / sqrt(sv))
  valid <- outer(ok, ok, "&") & sv > 0 & upper.tri(sv)
  m <- sum(valid)
  flag <- matrix(FALSE, k, k)
  sig <- valid & pmin(1, pv * m) < alpha
  flag[sig & d > 0] <- TRUE
  flag[t(sig & d < 0)] <- TRUE
  flag
}

test_that("letters stay unambiguous beyond 26 and 702 columns", {
  expect_identical(umfrage:::col_letters(3), c("A", "B", "C"))
  expect_identical(umfrage:::col_letters(28)[26:28], c("Z", "AA", "AB"))
  l <- umfrage:::col_letters(800)
  expect_identical(l[c(702, 703, 800)], c("ZZ", "AAA", "ADT"))
  expect_false(anyDuplicated(l) > 0)
  for (nc in c(30L, 800L)) {
    set.seed(nc)
    per <- if (nc == 30L) 60L else 6L
    g <- factor(rep(sprintf("L%03d", seq_len(nc)), each = per))
    y <- as.integer(runif(length(g)) < plogis(4 * (as.integer(g) / nc - 0.5)))
    w <- runif(length(g), 1, 2)
    d <- data.frame(y = factor(y, 0:1, c("no", "yes")), g = g)
    # 6 rows per column: below the default small base (min_base = 30),
    # where no column would take part in the letters
    t <- as.data.frame(suppressWarnings(tab(d, "y", cols = "g", weights = w, min_base = 0)))
    cg <- t[t$col_var == "g" & t$row == "yes", ]
    labs <- umfrage:::col_letters(nc)
    expect_false(anyNA(cg$letters))
    got <- matrix(FALSE, nc, nc)
    for (i in seq_len(nc)) got[i, parse_letters(cg$letters[i], labs)] <- TRUE
    ref <- z_letters(y, g, w)
    expect_gt(sum(ref), 0)
    expect_identical(got, ref)
  }
})

test_that("the Chisq statistic is scaled to all rows, as svychisq(), with NA in either variable", {
  skip_if_not_installed("survey")
  d <- sim_design_data(4)
  set.seed(4)
  for (v in c("y", "g")) {
    dd <- d
    dd[[v]][sample(nrow(dd), 60)] <- NA
    for (des in c("rows", "clusters")) {
      if (des == "rows") {
        u <- svy_design(dd, weights = ~w, strata = ~st)
        s <- survey::svydesign(ids = ~1, strata = ~st, weights = ~w, data = dd)
      } else {
        u <- svy_design(dd, weights = ~w, strata = ~st, cluster = ~psu)
        s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = dd)
      }
      t <- as.data.frame(tab(u, "y", cols = "g", test = "Chisq"))
      got <- t[t$col_var == "g", ][1L, ]
      ref <- survey::svychisq(~y + g, s, statistic = "Chisq")
      expect_lt(rel_err(got$statistic, ref$statistic), 1e-8)
      expect_lt(rel_err(got$p_value, ref$p.value), 1e-8)
      t <- as.data.frame(tab(u, "y", cols = "g", test = "F"))
      got <- t[t$col_var == "g", ][1L, ]
      ref <- survey::svychisq(~y + g, s, statistic = "F")
      expect_lt(rel_err(c(got$statistic, got$ndf, got$ddf, got$p_value),
                        c(ref$statistic, ref$parameter, ref$p.value)), 1e-8)
    }
    # a data frame: rows as PSUs
    t <- as.data.frame(tab(dd, "y", cols = "g", weights = "w", test = "Chisq"))
    got <- t[t$col_var == "g", ][1L, ]
    ref <- survey::svychisq(~y + g, survey::svydesign(ids = ~1, weights = ~w, data = dd),
                            statistic = "Chisq")
    expect_lt(rel_err(got$statistic, ref$statistic), 1e-8)
  }
})

test_that("deff = 'binomial', 'replace' and 'survey' are p(1-p)/n and svymean()'s two", {
  skip_if_not_installed("survey")
  data(api, package = "survey", envir = environment())
  d <- apistrat
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d)
  u <- svy_design(d, weights = ~pw, strata = ~stype)
  tb <- as.data.frame(tab(u, "sch.wide", cols = "yr.rnd"))
  tr <- as.data.frame(tab(u, "sch.wide", cols = "yr.rnd", deff = "replace"))
  ts <- as.data.frame(tab(u, "sch.wide", cols = "yr.rnd", deff = "survey"))
  # identical apart from the design effect
  expect_identical(tb$se, tr$se)
  for (lv in c("No", "Yes")) {
    sub <- subset(s, yr.rnd == lv)
    n <- sum(d$yr.rnd == lv)
    pick <- function(t) t$deff[t$col_var == "yr.rnd" & t$col == lv & t$row == "Yes"]
    mr <- survey::svymean(~I(sch.wide == "Yes"), sub, deff = "replace")
    ms <- survey::svymean(~I(sch.wide == "Yes"), sub, deff = TRUE)
    expect_lt(rel_err(pick(tr), survey::deff(mr)[[2L]]), 1e-8)
    expect_lt(rel_err(pick(ts), survey::deff(ms)[[2L]]), 1e-8)
    p <- coef(mr)[[2L]]
    expect_lt(rel_err(pick(tb), survey::SE(mr)[[2L]]^2 / (p * (1 - p) / n)), 1e-8)
  }
  expect_error(tab(u, "sch.wide", deff = "kish"), "should be one of")
})

test_that("the calibrated variance is invariant to the scale of the starting weights", {
  set.seed(5)
  n <- 300
  d <- data.frame(sex = sample(c("f", "m"), n, TRUE), age = sample(c("y", "m", "o"), n, TRUE),
                  v = sample(c("p", "q", "r"), n, TRUE))
  w <- runif(n, 0.5, 2)
  tg <- list(sex = c(f = 0.5, m = 0.5), age = c(y = 0.3, m = 0.4, o = 0.3))
  ref <- as.data.frame(tab(d, "v", cols = "sex", weights = wt_rake(d, tg, weights = w)))
  expect_false(anyNA(ref$se))
  for (k in c(1e160, 1e-300)) {
    got <- as.data.frame(tab(d, "v", cols = "sex", weights = wt_rake(d, tg, weights = w * k)))
    for (nm in c("pct", "se", "ci_low", "ci_high", "deff", "statistic", "p_value")) {
      ok <- !is.na(ref[[nm]])
      expect_identical(is.na(got[[nm]]), !ok)
      expect_lt(rel_err(got[[nm]][ok], ref[[nm]][ok]), 1e-12)
    }
    for (nm in c("n_w", "se_n_w"))
      expect_lt(rel_err(got[[nm]], ref[[nm]] * k), 1e-12)
  }
})
