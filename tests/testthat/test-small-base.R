# Small bases (issue 13): a column whose unweighted base is below
# min_base takes no part in the letters, and the long form flags it.

# Column-proportion letters recomputed independently of umfrage: per row
# level, the percents of the columns as survey::svyratio() ratios x_k / n_k
# (x_k: in column k and the row level, n_k: in column k), with their full
# covariance (vcov), z tests of the pairs whose columns both have an
# unweighted base >= min_base (and two PSUs with a row of positive weight),
# p-values adjusted over those pairs only.
# mk: function(data) -> survey design; y: the row variable (a factor), or
# a named list of the rows' indicators per row item (MR sets);
# gmat: n x C logical matrix, column membership of each row; psu: the PSU
# of each row (NULL: rows).
ref_letters <- function(mk, d, y, gmat, w, min_base, psu = NULL, alpha = 0.05,
                        adjust = "bonferroni") {
  C <- ncol(gmat)
  labs <- LETTERS[seq_len(C)]
  base_n <- colSums(gmat)
  if (is.null(psu)) psu <- seq_len(nrow(d))
  units <- vapply(seq_len(C), function(k) length(unique(psu[gmat[, k] & w > 0])), 1)
  elig <- base_n >= min_base & units >= 2
  out <- list()
  if (is.factor(y)) y <- sapply(levels(y), function(r) y == r, simplify = FALSE)
  for (r in names(y)) {
    dd <- d
    for (k in seq_len(C)) {
      dd[[paste0("x", k)]] <- as.numeric(gmat[, k] & y[[r]])
      dd[[paste0("n", k)]] <- as.numeric(gmat[, k])
    }
    sd <- mk(dd)
    num <- stats::as.formula(paste("~", paste0("x", seq_len(C), collapse = " + ")))
    den <- stats::as.formula(paste("~", paste0("n", seq_len(C), collapse = " + ")))
    rat <- survey::svyratio(num, den, sd, covmat = TRUE)
    nm <- paste0("x", seq_len(C), "/n", seq_len(C))
    p <- as.vector(coef(rat)[nm])
    V <- vcov(rat)[nm, nm]
    pr <- which(upper.tri(V), arr.ind = TRUE)
    vd <- diag(V)[pr[, 1]] + diag(V)[pr[, 2]] - 2 * V[pr]
    ok <- elig[pr[, 1]] & elig[pr[, 2]] & vd > 0
    dif <- p[pr[, 1]] - p[pr[, 2]]
    pv <- rep(NA_real_, nrow(pr))
    pv[ok] <- stats::p.adjust(2 * stats::pnorm(-abs(dif[ok]) / sqrt(vd[ok])), adjust)
    flag <- matrix(FALSE, C, C)
    sig <- ok & pv < alpha
    flag[cbind(pr[sig & dif > 0, 1], pr[sig & dif > 0, 2])] <- TRUE
    flag[cbind(pr[sig & dif < 0, 2], pr[sig & dif < 0, 1])] <- TRUE
    out[[r]] <- vapply(seq_len(C), function(k) paste(labs[flag[k, ]], collapse = ""), "")
  }
  out
}

# umfrage's letters of one column variable, as the same list.
got_letters <- function(t, col_var, rows) {
  cc <- t$cells[t$cells$col_var == col_var, ]
  stats::setNames(lapply(rows, function(r) cc$letters[cc$row == r]), rows)
}

# The flag against the bases: TRUE exactly where base_n < min_base, in the
# cells and the column bases; base_n itself from an independent count.
check_flags <- function(t, min_base) {
  expect_identical(t$options$min_base, as.double(min_base))
  for (part in list(t$cells, t$bases)) {
    nm <- names(part)
    expect_identical(nm[match("small_base", nm) - 1L], "base_w")
    expect_type(part$small_base, "logical")
    expect_identical(part$small_base, part$base_n < min_base)
  }
}

small_df <- function(seed = 3, n = 400) {
  set.seed(seed)
  g <- sample(c("a", "b", "c", "d", "e"), n, TRUE, prob = c(.42, .3, .12, .09, .07))
  # percents that differ by column, so that there are letters to lose
  py <- c(a = .25, b = .45, c = .7, d = .15, e = .8)[g]
  data.frame(g = g, y = factor(ifelse(runif(n) < py, "yes", "no"), c("no", "yes")),
             w = runif(n, 0.5, 2), stringsAsFactors = FALSE)
}

test_that("data frame: letters leave out columns with a base below min_base", {
  skip_if_not_installed("survey")
  d <- small_df()
  gm <- outer(d$g, c("a", "b", "c", "d", "e"), "==")
  bn <- colSums(gm)
  expect_true(any(bn < 30) && sum(bn >= 30) >= 3)
  mk <- function(dd) survey::svydesign(ids = ~1, weights = ~w, data = dd)
  for (adj in c("bonferroni", "holm")) {
    ref0 <- ref_letters(mk, d, d$y, gm, d$w, 0, adjust = adj, alpha = 0.2)
    ref30 <- ref_letters(mk, d, d$y, gm, d$w, 30, adjust = adj, alpha = 0.2)
    # the rule matters here: some letters go, against or of small columns
    expect_false(identical(ref0, ref30))
    t0 <- tab(d, "y", cols = "g", weights = "w", min_base = 0, adjust = adj, alpha = 0.2)
    t30 <- tab(d, "y", cols = "g", weights = "w", adjust = adj, alpha = 0.2)
    expect_identical(got_letters(t0, "g", levels(d$y)), ref0)
    expect_identical(got_letters(t30, "g", levels(d$y)), ref30)
    # no letters in a small column, none of its letter elsewhere
    small <- LETTERS[1:5][bn < 30]
    cg <- t30$cells[t30$cells$col_var == "g", ]
    expect_true(all(cg$letters[cg$small_base] == ""))
    expect_false(any(grepl(paste0("[", paste(small, collapse = ""), "]"), cg$letters)))
    check_flags(t0, 0)
    check_flags(t30, 30)
    expect_identical(t30$bases$base_n[t30$bases$col_var == "g"], as.double(bn))
  }
  # the default follows the option umfrage.min_base
  withr_opt <- options(umfrage.min_base = 0)
  on.exit(options(withr_opt), add = TRUE)
  t_opt <- tab(d, "y", cols = "g", weights = "w", alpha = 0.2)
  expect_identical(t_opt$options$min_base, 0)
  expect_identical(got_letters(t_opt, "g", levels(d$y)),
                   ref_letters(mk, d, d$y, gm, d$w, 0, alpha = 0.2))
})

test_that("by layers: the small-base rule is per layer", {
  skip_if_not_installed("survey")
  d <- small_df(5, n = 500)
  d$L <- ifelse(seq_len(nrow(d)) %% 5 == 0, "l2", "l1")   # about 400 and 100 rows
  mk <- function(dd) survey::svydesign(ids = ~1, weights = ~w, data = dd)
  t <- tab(d, "y", cols = "g", by = "L", weights = "w", alpha = 0.2, min_base = 20)
  check_flags(t, 20)
  for (l in c("l1", "l2")) {
    gm <- outer(d$g, c("a", "b", "c", "d", "e"), "==") & d$L == l
    ref <- ref_letters(mk, d, d$y, gm, d$w, 20, alpha = 0.2)
    cc <- t$cells[t$cells$col_var == "g" & t$cells$L == l, ]
    got <- lapply(stats::setNames(levels(d$y), levels(d$y)), function(r) cc$letters[cc$row == r])
    expect_identical(got, ref)
    expect_identical(cc$base_n[cc$row == "yes"], as.double(colSums(gm)))
  }
})

test_that("stratified cluster design (the fused route): small columns out of the letters", {
  skip_if_not_installed("survey")
  d <- sim_design_data(7, n_psu = 40, per_psu = 15)
  set.seed(17)
  d$g <- sample(c("a", "b", "c", "d"), nrow(d), TRUE, prob = c(.6, .3, .06, .04))
  eff <- rnorm(40)[d$psu]
  d$y <- factor(ifelse(runif(nrow(d)) < plogis(eff + c(a = -1, b = 0, c = 1.5, d = -2)[d$g]),
                       "yes", "no"), c("no", "yes"))
  gm <- outer(d$g, c("a", "b", "c", "d"), "==")
  bn <- colSums(gm)
  expect_true(any(bn < 30) && sum(bn >= 30) >= 2)
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
  mk <- function(dd) survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, fpc = ~N, data = dd)
  ref0 <- ref_letters(mk, d, d$y, gm, d$w, 0, psu = d$psu, alpha = 0.3)
  ref30 <- ref_letters(mk, d, d$y, gm, d$w, 30, psu = d$psu, alpha = 0.3)
  expect_false(identical(ref0, ref30))
  t0 <- tab(u, "y", cols = "g", alpha = 0.3, min_base = 0)
  t30 <- tab(u, "y", cols = "g", alpha = 0.3)
  expect_identical(got_letters(t0, "g", levels(d$y)), ref0)
  expect_identical(got_letters(t30, "g", levels(d$y)), ref30)
  check_flags(t30, 30)
  # the general route (forced by an NA level) applies the same rule
  tg <- tab(u, "y", cols = "g", alpha = 0.3, na = "level")
  expect_identical(got_letters(tg, "g", levels(d$y)), ref30)
})

test_that("MR set as columns: an item with a small respondent base is left out", {
  skip_if_not_installed("survey")
  d <- sim_design_data(9, n_psu = 60, per_psu = 15)
  n <- nrow(d)
  set.seed(29)
  eff <- rnorm(60)[d$psu]
  d$b1 <- runif(n) < plogis(0.3 + 0.5 * eff)
  d$b2 <- runif(n) < plogis(-0.5 + 0.3 * eff + (d$g == "x"))
  d$b3 <- runif(n) < 0.002 + 0.03 * (d$g == "x")
  d$b4 <- runif(n) < 0.2 + 0.3 * (d$g == "z")
  s <- mr_set(d, c("b1", "b2", "b3", "b4"), labels = c("one", "two", "three", "four"),
              label = "brands")
  d$g <- factor(d$g)
  gm <- as.matrix(d[c("b1", "b2", "b3", "b4")])
  bn <- colSums(gm)
  expect_true(any(bn < 30) && sum(bn >= 30) >= 3)
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  mk <- function(dd) survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = dd)
  ref0 <- ref_letters(mk, d, d$g, gm, d$w, 0, psu = d$psu, alpha = 0.3)
  ref30 <- ref_letters(mk, d, d$g, gm, d$w, 30, psu = d$psu, alpha = 0.3)
  expect_false(identical(ref0, ref30))
  t0 <- tab(u, "g", cols = s, alpha = 0.3, min_base = 0)
  t30 <- tab(u, "g", cols = s, alpha = 0.3)
  expect_identical(got_letters(t0, "brands", levels(d$g)), ref0)
  expect_identical(got_letters(t30, "brands", levels(d$g)), ref30)
  check_flags(t30, 30)
  expect_identical(t30$bases$base_n[t30$bases$col_var == "brands"], as.double(bn))
  # rows as PSUs (no clusters): the cross-product route
  ud <- svy_design(d, weights = ~w, strata = ~st)
  mkd <- function(dd) survey::svydesign(ids = ~1, strata = ~st, weights = ~w, data = dd)
  expect_identical(got_letters(tab(ud, "g", cols = s, alpha = 0.3), "brands", levels(d$g)),
                   ref_letters(mkd, d, d$g, gm, d$w, 30, alpha = 0.3))
})

test_that("MR set as rows: the column's respondent base decides", {
  skip_if_not_installed("survey")
  d <- sim_design_data(11, n_psu = 60, per_psu = 15)
  n <- nrow(d)
  set.seed(31)
  eff <- rnorm(60)[d$psu]
  d$k <- sample(c("p", "q", "r", "s"), n, TRUE, prob = c(.56, .36, .06, .02))
  d$b1 <- runif(n) < plogis(0.3 + 0.5 * eff + (d$k == "s"))
  d$b2 <- runif(n) < plogis(-0.5 + 0.3 * eff + (d$k == "r"))
  d$b3 <- runif(n) < 0.15 + 0.5 * (d$k == "s")
  d$answered <- d$b1 | d$b2 | d$b3
  s <- mr_set(d, c("b1", "b2", "b3"), labels = c("one", "two", "three"), label = "brands")
  gm <- outer(d$k, c("p", "q", "r", "s"), "==") & d$answered
  bn <- colSums(gm)
  expect_true(any(bn < 30) && sum(bn >= 30) >= 2)
  items <- list(one = d$b1, two = d$b2, three = d$b3)
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  mk <- function(dd) survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = dd)
  ref0 <- ref_letters(mk, d, items, gm, d$w, 0, psu = d$psu, alpha = 0.3)
  ref30 <- ref_letters(mk, d, items, gm, d$w, 30, psu = d$psu, alpha = 0.3)
  expect_false(identical(ref0, ref30))
  t0 <- tab(u, s, cols = "k", alpha = 0.3, min_base = 0)
  t30 <- tab(u, s, cols = "k", alpha = 0.3)
  expect_identical(got_letters(t0, "k", names(items)), ref0)
  expect_identical(got_letters(t30, "k", names(items)), ref30)
  check_flags(t30, 30)
  expect_identical(t30$bases$base_n[t30$bases$col_var == "k"], as.double(bn))
})

test_that("raked weights (calibrated variance): small columns out of the letters", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")  # survey::calibrate() needs it
  set.seed(41)
  n <- 600
  d <- data.frame(sex = sample(c("f", "m"), n, TRUE, prob = c(.6, .4)),
                  age = sample(c("a", "b", "c"), n, TRUE),
                  g = sample(c("p", "q", "r", "s"), n, TRUE, prob = c(.5, .35, .1, .05)),
                  w0 = runif(n, 0.5, 2), stringsAsFactors = FALSE)
  d$y <- factor(ifelse(runif(n) < c(p = .3, q = .45, r = .75, s = .1)[d$g] + .1 * (d$age == "c"),
                       "yes", "no"), c("no", "yes"))
  T <- 3000
  w <- wt_rake(d, list(sex = c(f = .5, m = .5), age = c(a = .3, b = .3, c = .4)),
               weights = "w0", total = T, epsilon = 1e-13)
  gm <- outer(d$g, c("p", "q", "r", "s"), "==")
  bn <- colSums(gm)
  expect_true(any(bn < 30) && sum(bn >= 30) >= 2)
  mk <- function(dd) survey::calibrate(survey::svydesign(ids = ~1, weights = ~w0, data = dd),
                                       ~sex + age, c(`(Intercept)` = T, sexm = .5 * T,
                                                     ageb = .3 * T, agec = .4 * T),
                                       calfun = "raking", epsilon = 1e-13, maxit = 200)
  ref0 <- ref_letters(mk, d, d$y, gm, as.numeric(w), 0, alpha = 0.3)
  ref30 <- ref_letters(mk, d, d$y, gm, as.numeric(w), 30, alpha = 0.3)
  expect_false(identical(ref0, ref30))
  t0 <- tab(d, "y", cols = "g", weights = w, alpha = 0.3, min_base = 0)
  t30 <- tab(d, "y", cols = "g", weights = w, alpha = 0.3)
  expect_true(t30$calibrated)
  expect_identical(got_letters(t0, "g", levels(d$y)), ref0)
  expect_identical(got_letters(t30, "g", levels(d$y)), ref30)
  check_flags(t30, 30)
})

test_that("small_base flags the base of the cell's percent, with and without inference", {
  d <- small_df()
  for (pc in c("col", "row", "total", "none")) {
    t <- tab(d, "y", cols = "g", weights = "w", percent = pc, min_base = 50)
    check_flags(t, 50)
    cc <- t$cells[t$cells$col_var == "g", ]
    ref_base <- switch(pc,
                       col = , none = as.vector(table(d$g)[cc$col]),
                       row = as.vector(table(d$y)[cc$row]),
                       total = rep(nrow(d), nrow(cc)))
    expect_identical(cc$base_n, as.double(ref_base))
    expect_identical(cc$small_base, ref_base < 50)
  }
  t <- tab(d, "y", cols = "g", se = FALSE, min_base = 90)
  check_flags(t, 90)
  expect_identical(t$bases$small_base,
                   c(FALSE, as.vector(table(d$g)) < 90))
  # min_base = 0: nothing is small
  expect_false(any(tab(d, "y", cols = "g", min_base = 0)$cells$small_base))
})

test_that("a bad min_base is refused with a clear error", {
  d <- small_df()
  msg <- "'min_base' must be a single whole number >= 0"
  expect_error(tab(d, "y", min_base = -1), paste0(msg, ".*not -1"))
  expect_error(tab(d, "y", min_base = 2.5), paste0(msg, ".*not 2.5"))
  expect_error(tab(d, "y", min_base = NA_real_), paste0(msg, ".*not NA"))
  expect_error(tab(d, "y", min_base = Inf), paste0(msg, ".*not Inf"))
  expect_error(tab(d, "y", min_base = c(10, 20)), paste0(msg, ".*double vector of length 2"))
  expect_error(tab(d, "y", min_base = "30"), paste0(msg, ".*character vector of length 1"))
  expect_error(tab(d, "y", min_base = TRUE), paste0(msg, ".*logical vector"))
  expect_error(tab(d, "y", min_base = NULL), paste0(msg, ".*NULL"))
  old <- options(umfrage.min_base = -5)
  on.exit(options(old), add = TRUE)
  expect_error(tab(d, "y"), "'min_base' \\(from option umfrage.min_base\\) must be a single whole number >= 0.*not -5")
  # an integer is fine
  expect_identical(tab(d, "y", min_base = 10L)$options$min_base, 10)
})
