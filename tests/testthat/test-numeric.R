# Numeric rows of tab(): mean_of(), total_of(), ratio_of(), score_of(),
# against survey (svymean, svytotal, svyratio, svyby, svyttest, confint,
# calibrate), on stratified and clustered designs, with layers, NA and
# calibrated weights. Everything to 1e-8 relative.

num_api <- function() {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  e
}
rel_n <- function(a, b) {
  a <- as.numeric(a); b <- as.numeric(b)
  stopifnot(length(a) == length(b), !anyNA(b))
  max(abs(a - b) / pmax(abs(b), 1e-300))
}
num_cells_of <- function(t, row_var, col_var = NULL) {
  d <- as.data.frame(t, stringsAsFactors = FALSE)
  d <- d[d$row_var == row_var, , drop = FALSE]
  if (!is.null(col_var)) d <- d[d$col_var == col_var, , drop = FALSE]
  d
}
# svyby results in the order of `levels`
svyby_num <- function(formula, by, des, fun, levels, ...) {
  r <- survey::svyby(formula, by, des, fun, ...)
  key <- do.call(paste, c(r[all.vars(by)], sep = "\r"))
  r[match(levels, key), , drop = FALSE]
}

test_that("means, totals and ratios equal survey on a stratified design (apistrat)", {
  skip_if_not_installed("survey")
  e <- num_api()
  d <- e$apistrat
  des <- svy_design(d, weights = ~pw, strata = ~stype)
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d)
  t <- tab(des, list(mean_of(~api00), total_of(~enroll), ratio_of(~api00, ~api99)),
           cols = "sch.wide", deff = "replace", min_base = 0)
  lv <- c("No", "Yes")
  # mean
  m <- num_cells_of(t, "mean(api00)")
  expect_equal(m$stat, rep("mean", 3))
  ref <- survey::svymean(~api00, s, deff = "replace")
  by <- svyby_num(~api00, ~sch.wide, s, survey::svymean, lv, deff = "replace")
  expect_lt(rel_n(m$estimate, c(coef(ref), by$api00)), 1e-10)
  expect_lt(rel_n(m$se, c(survey::SE(ref), by$se)), 1e-8)
  expect_lt(rel_n(m$deff, c(survey::deff(ref), by$DEff.api00)), 1e-8)
  expect_true(all(is.na(m$pct)))
  expect_equal(m$n, c(200, 48, 152))
  # total
  tt <- num_cells_of(t, "total(enroll)")
  ref <- survey::svytotal(~enroll, s, deff = "replace")
  by <- svyby_num(~enroll, ~sch.wide, s, survey::svytotal, lv, deff = "replace")
  expect_lt(rel_n(tt$estimate, c(coef(ref), by$enroll)), 1e-10)
  expect_lt(rel_n(tt$se, c(survey::SE(ref), by$se)), 1e-8)
  expect_lt(rel_n(tt$deff, c(survey::deff(ref), by$DEff.enroll)), 1e-8)
  # ratio
  r <- num_cells_of(t, "ratio(api00/api99)")
  ref <- survey::svyratio(~api00, ~api99, s, deff = "replace")
  by <- svyby_num(~api00, ~sch.wide, s, survey::svyratio, lv, denominator = ~api99)
  expect_lt(rel_n(r$estimate, c(coef(ref), by[["api00/api99"]])), 1e-10)
  expect_lt(rel_n(r$se, c(survey::SE(ref), by[["se.api00/api99"]])), 1e-8)
  expect_lt(rel_n(r$deff[1], attr(ref, "deff")), 1e-8)
  # CI: t with the domain's df
  for (k in seq_along(lv)) {
    sub <- subset(s, sch.wide == lv[k])
    ci <- confint(survey::svymean(~api00, sub), df = survey::degf(sub))
    expect_lt(rel_n(unlist(m[m$col == lv[k], c("ci_low", "ci_high")]), ci), 1e-8)
    expect_equal(m$df[m$col == lv[k]], survey::degf(sub))
  }
  ci <- confint(survey::svytotal(~enroll, s), df = survey::degf(s))
  expect_lt(rel_n(unlist(tt[1, c("ci_low", "ci_high")]), ci), 1e-8)
})

test_that("clustered design with fpc and by layers (apiclus1): svyby, deff = TRUE, CIs", {
  skip_if_not_installed("survey")
  e <- num_api()
  d <- e$apiclus1
  des <- svy_design(d, weights = ~pw, cluster = ~dnum, fpc = ~fpc)
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = d)
  t <- tab(des, list(mean_of(~api00), total_of(~enroll), ratio_of(~api00, ~api99)),
           cols = "stype", by = "awards", deff = "survey", min_base = 0)
  grid <- expand.grid(stype = c("E", "H", "M"), awards = c("No", "Yes"), stringsAsFactors = FALSE)
  key <- paste(grid$stype, grid$awards, sep = "\r")
  m <- num_cells_of(t, "mean(api00)", "stype")
  m <- m[match(key, paste(m$col, m$awards, sep = "\r")), ]
  by <- svyby_num(~api00, ~stype + awards, s, survey::svymean, key, deff = TRUE)
  expect_lt(rel_n(m$estimate, by$api00), 1e-10)
  expect_lt(rel_n(m$se, by$se), 1e-8)
  expect_lt(rel_n(m$deff, by$DEff.api00), 1e-8)
  tt <- num_cells_of(t, "total(enroll)", "stype")
  tt <- tt[match(key, paste(tt$col, tt$awards, sep = "\r")), ]
  by <- svyby_num(~enroll, ~stype + awards, s, survey::svytotal, key, deff = TRUE)
  expect_lt(rel_n(tt$estimate, by$enroll), 1e-10)
  expect_lt(rel_n(tt$se, by$se), 1e-8)
  expect_lt(rel_n(tt$deff, by$DEff.enroll), 1e-8)
  r <- num_cells_of(t, "ratio(api00/api99)", "stype")
  r <- r[match(key, paste(r$col, r$awards, sep = "\r")), ]
  by <- svyby_num(~api00, ~stype + awards, s, survey::svyratio, key, denominator = ~api99)
  expect_lt(rel_n(r$estimate, by[["api00/api99"]]), 1e-10)
  expect_lt(rel_n(r$se, by[["se.api00/api99"]]), 1e-8)
  # the Total column of a layer, and CIs with the domain's df
  tot <- num_cells_of(t, "mean(api00)", "Total")
  for (a in c("No", "Yes")) {
    sub <- subset(s, awards == a)
    ref <- survey::svymean(~api00, sub)
    got <- tot[tot$awards == a, ]
    expect_lt(rel_n(got$se, survey::SE(ref)), 1e-8)
    expect_lt(rel_n(c(got$ci_low, got$ci_high), confint(ref, df = survey::degf(sub))), 1e-8)
    expect_equal(got$df, survey::degf(sub))
  }
})

sim_num_data <- function(seed = 7) {
  set.seed(seed)
  n_psu <- 36; per <- 12; H <- 4
  n <- n_psu * per
  d <- data.frame(st = rep(seq_len(H), each = n / H), psu = rep(seq_len(n_psu), each = per))
  d$N <- rep(c(20, 30, 25, 40), each = n / H)
  d$w <- stats::runif(n, 1, 3) * rep(c(10, 20, 15, 30), each = n / H)
  eff <- stats::rnorm(n_psu)[d$psu]
  d$g <- sample(c("a", "b", "c"), n, TRUE)
  d$lay <- sample(c("L1", "L2"), n, TRUE)
  d$y <- 50 + 10 * eff + stats::rnorm(n, 0, 5) + 3 * (d$g == "b")
  d$x <- 2 + stats::runif(n) + 0.2 * eff
  d$y[c(3, 50, 51, 200, 333)] <- NA
  d$x[c(9, 51, 120)] <- NA
  d$q <- factor(sample(c("bad", "ok", "good", "dk"), n, TRUE),
                levels = c("bad", "ok", "good", "dk"))
  d
}

test_that("synthetic strata x clusters x fpc design with layers and NA: as svyby(na.rm = TRUE)", {
  skip_if_not_installed("survey")
  d <- sim_num_data()
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, fpc = ~N, data = d)
  t <- tab(des, list(mean_of(~y), total_of(~y), ratio_of(~y, ~x)), cols = "g", by = "lay",
           deff = "replace", min_base = 0)
  grid <- expand.grid(g = c("a", "b", "c"), lay = c("L1", "L2"), stringsAsFactors = FALSE)
  key <- paste(grid$g, grid$lay, sep = "\r")
  m <- num_cells_of(t, "mean(y)", "g")
  m <- m[match(key, paste(m$col, m$lay, sep = "\r")), ]
  by <- svyby_num(~y, ~g + lay, s, survey::svymean, key, na.rm = TRUE, deff = "replace")
  expect_lt(rel_n(m$estimate, by$y), 1e-10)
  expect_lt(rel_n(m$se, by$se), 1e-8)
  expect_lt(rel_n(m$deff, by$DEff.y), 1e-8)
  # n counts the rows used (y not missing)
  expect_equal(m$n, as.vector(table(factor(d$g, c("a", "b", "c")), d$lay, is.na(d$y))[, , "FALSE"]))
  tt <- num_cells_of(t, "total(y)", "g")
  tt <- tt[match(key, paste(tt$col, tt$lay, sep = "\r")), ]
  by <- svyby_num(~y, ~g + lay, s, survey::svytotal, key, na.rm = TRUE)
  expect_lt(rel_n(tt$estimate, by$y), 1e-10)
  expect_lt(rel_n(tt$se, by$se), 1e-8)
  r <- num_cells_of(t, "ratio(y/x)", "g")
  r <- r[match(key, paste(r$col, r$lay, sep = "\r")), ]
  by <- svyby_num(~y, ~g + lay, s, survey::svyratio, key, denominator = ~x, na.rm = TRUE)
  expect_lt(rel_n(r$estimate, by[["y/x"]]), 1e-10)
  expect_lt(rel_n(r$se, by[["se.y/x"]]), 1e-8)
  # a CI on a domain with NA rows: df of the PSUs with rows used
  sub <- subset(s, g == "b" & lay == "L2" & !is.na(y))
  got <- m[m$col == "b" & m$lay == "L2", ]
  ref <- survey::svymean(~y, subset(s, g == "b" & lay == "L2"), na.rm = TRUE)
  expect_equal(got$df, survey::degf(sub))
  expect_lt(rel_n(c(got$ci_low, got$ci_high), confint(ref, df = survey::degf(sub))), 1e-8)
  # the Total column with NA: svymean(na.rm = TRUE) on the layer
  tot <- num_cells_of(t, "mean(y)", "Total")
  ref <- survey::svymean(~y, subset(s, lay == "L1"), na.rm = TRUE)
  expect_lt(rel_n(tot$se[tot$lay == "L1"], survey::SE(ref)), 1e-8)
  # lonely PSUs: a stratum with one PSU, each rule as survey's option
  d1 <- d[!(d$st == 2 & d$psu != d$psu[d$st == 2][1]), ]
  for (rule in c("certainty", "remove", "adjust")) {
    old <- options(survey.lonely.psu = rule)
    des1 <- svy_design(d1, weights = ~w, strata = ~st, cluster = ~psu, lonely_psu = rule)
    s1 <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d1)
    t1 <- num_cells_of(tab(des1, mean_of(~y), cols = "g"), "mean(y)")
    by <- svyby_num(~y, ~g, s1, survey::svymean, c("a", "b", "c"), na.rm = TRUE)
    expect_lt(rel_n(t1$se, c(survey::SE(survey::svymean(~y, s1, na.rm = TRUE)), by$se)), 1e-8)
    options(old)
  }
})

test_that("data frames with and without weights: as svydesign(ids = ~1)", {
  skip_if_not_installed("survey")
  d <- sim_num_data(8)
  s <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  t <- tab(d, list(mean_of("y"), ratio_of("y", "x")), cols = "g", weights = "w",
           deff = "survey", min_base = 0)
  m <- num_cells_of(t, "mean(y)")
  by <- svyby_num(~y, ~g, s, survey::svymean, c("a", "b", "c"), na.rm = TRUE, deff = TRUE)
  ref <- survey::svymean(~y, s, na.rm = TRUE, deff = TRUE)
  expect_lt(rel_n(m$se, c(survey::SE(ref), by$se)), 1e-8)
  expect_lt(rel_n(m$deff, c(survey::deff(ref), by$DEff.y)), 1e-8)
  r <- num_cells_of(t, "ratio(y/x)")
  by <- svyby_num(~y, ~g, s, survey::svyratio, c("a", "b", "c"), denominator = ~x, na.rm = TRUE)
  expect_lt(rel_n(r$se[-1], by[["se.y/x"]]), 1e-8)
  # unweighted
  s1 <- suppressWarnings(survey::svydesign(ids = ~1, data = d))
  m1 <- num_cells_of(tab(d, mean_of(~y), cols = "g"), "mean(y)")
  by <- svyby_num(~y, ~g, s1, survey::svymean, c("a", "b", "c"), na.rm = TRUE)
  expect_lt(rel_n(m1$estimate[-1], by$y), 1e-12)
  expect_lt(rel_n(m1$se[-1], by$se), 1e-8)
  expect_equal(m1$df[-1], as.vector(table(d$g[!is.na(d$y)])) - 1)
})

test_that("score_of() is svymean of the recoded score, levels with NA left out", {
  skip_if_not_installed("survey")
  d <- sim_num_data(9)
  sc <- c(bad = 1, ok = 2, good = 3, dk = NA)
  d$sc <- unname(sc[as.character(d$q)])
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  t <- tab(des, list("q", score_of(~q, sc)), cols = "g")
  got <- num_cells_of(t, "score(q)")
  expect_equal(got$stat, rep("score", 4))
  by <- svyby_num(~sc, ~g, s, survey::svymean, c("a", "b", "c"), na.rm = TRUE)
  ref <- survey::svymean(~sc, s, na.rm = TRUE)
  expect_lt(rel_n(got$estimate, c(coef(ref), by$sc)), 1e-10)
  expect_lt(rel_n(got$se, c(survey::SE(ref), by$se)), 1e-8)
  # unnamed scores in level order give the same
  t2 <- tab(des, score_of("q", c(1, 2, 3, NA)), cols = "g")
  expect_equal(num_cells_of(t2, "score(q)")$estimate, got$estimate)
  # the categorical block keeps its long form, with stat "pct"
  pc <- num_cells_of(t, "q")
  expect_equal(unique(pc$stat), "pct")
  expect_equal(pc$estimate, pc$pct)
  expect_equal(t$rows[[2]]$kind, "numeric")
  expect_equal(t$rows[[2]]$stat, "score")
  expect_equal(t$rows[[2]]$scores, c(bad = 1, ok = 2, good = 3, dk = NA))
})

test_that("raked weights: numeric rows get survey::calibrate(calfun = 'raking')'s SEs", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- sim_num_data(10)
  d$sex <- sample(c("f", "m"), nrow(d), TRUE)
  d$age <- sample(c("a1", "a2", "a3"), nrow(d), TRUE)
  T <- 9000
  tg <- list(sex = c(f = .55, m = .45), age = c(a1 = .3, a2 = .3, a3 = .4))
  w <- wt_rake(d, tg, weights = "w", total = T, epsilon = 1e-13)
  pop <- c(`(Intercept)` = T, sexm = .45 * T, agea2 = .3 * T, agea3 = .4 * T)
  # rows as PSUs
  s0 <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  cal <- survey::calibrate(s0, ~sex + age, pop, calfun = "raking", epsilon = 1e-13, maxit = 200)
  expect_lt(rel_n(w, weights(cal)), 1e-10)
  t <- tab(d, list(mean_of(~y), total_of(~y), ratio_of(~y, ~x)), cols = "g", weights = w, min_base = 0)
  lv <- c("a", "b", "c")
  m <- num_cells_of(t, "mean(y)")
  by <- svyby_num(~y, ~g, cal, survey::svymean, lv, na.rm = TRUE)
  expect_lt(rel_n(m$se, c(survey::SE(survey::svymean(~y, cal, na.rm = TRUE)), by$se)), 1e-8)
  tt <- num_cells_of(t, "total(y)")
  by <- svyby_num(~y, ~g, cal, survey::svytotal, lv, na.rm = TRUE)
  expect_lt(rel_n(tt$estimate[-1], by$y), 1e-10)
  expect_lt(rel_n(tt$se[-1], by$se), 1e-8)
  r <- num_cells_of(t, "ratio(y/x)")
  by <- svyby_num(~y, ~g, cal, survey::svyratio, lv, denominator = ~x, na.rm = TRUE)
  expect_lt(rel_n(r$se[-1], by[["se.y/x"]]), 1e-8)
  # fixed weights differ
  tf <- num_cells_of(tab(d, mean_of(~y), weights = w, calibration = FALSE), "mean(y)")
  expect_false(isTRUE(all.equal(tf$se, m$se[1])))
  # stratified cluster design with raked weights
  des <- svy_design(d, weights = w, strata = ~st, cluster = ~psu)
  s1 <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  cal1 <- survey::calibrate(s1, ~sex + age, pop, calfun = "raking", epsilon = 1e-13, maxit = 200)
  t1 <- tab(des, list(mean_of(~y), ratio_of(~y, ~x)), cols = "g", by = "lay", min_base = 0)
  m1 <- num_cells_of(t1, "mean(y)", "g")
  key <- paste(rep(lv, 2), rep(c("L1", "L2"), each = 3), sep = "\r")
  m1 <- m1[match(key, paste(m1$col, m1$lay, sep = "\r")), ]
  by <- svyby_num(~y, ~g + lay, cal1, survey::svymean, key, na.rm = TRUE)
  expect_lt(rel_n(m1$se, by$se), 1e-8)
  r1 <- num_cells_of(t1, "ratio(y/x)", "g")
  r1 <- r1[match(key, paste(r1$col, r1$lay, sep = "\r")), ]
  by <- svyby_num(~y, ~g + lay, cal1, survey::svyratio, key, denominator = ~x, na.rm = TRUE)
  expect_lt(rel_n(r1$se, by[["se.y/x"]]), 1e-8)
})

# The adjusted p-value of a pair pinned from the letters: with adjust =
# "none" a letter shows iff p < alpha; so alpha just above p shows it, just
# below hides it.
letter_at <- function(des, alpha, spec, cols) {
  d <- num_cells_of(tab(des, spec, cols = cols, alpha = alpha, adjust = "none", min_base = 0),
                    spec$name, cols)
  paste(d$letters, collapse = "|")
}

test_that("letters: t tests as svyttest on the two columns, then Bonferroni", {
  skip_if_not_installed("survey")
  d <- sim_num_data(11)
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, fpc = ~N, data = d)
  sub <- subset(s, g %in% c("a", "b"))
  tt <- survey::svyttest(y ~ I(g == "a"), sub)
  p <- tt$p.value
  expect_gt(p, 1e-6)
  expect_lt(p, 0.5)
  sp <- mean_of(~y)
  # only the pair (a, b) can be pinned: restrict the data to a and b
  dab <- d[d$g %in% c("a", "b"), ]
  # the design on the full data, with the pair's p-value
  on <- letter_at(des, p * (1 + 1e-8), sp, "g")
  off <- letter_at(des, p * (1 - 1e-8), sp, "g")
  expect_false(identical(on, off))
  # the difference of the letters is exactly the pair (a, b)
  lon <- strsplit(on, "|", fixed = TRUE)[[1]]
  loff <- strsplit(off, "|", fixed = TRUE)[[1]]
  changed <- which(lon != loff)
  expect_length(changed, 1L)
  expect_true(grepl(if (changed == 1L) "B" else "A", lon[changed]))
  # Bonferroni over the three pairs: p-values of all pairs from svyttest
  pv <- c(ab = p,
          ac = survey::svyttest(y ~ I(g == "a"), subset(s, g %in% c("a", "c")))$p.value,
          bc = survey::svyttest(y ~ I(g == "b"), subset(s, g %in% c("b", "c")))$p.value)
  padj <- stats::setNames(pmin(1, 3 * unname(pv)), c("ab", "ac", "bc"))
  alpha <- 0.05
  t <- num_cells_of(tab(des, sp, cols = "g", alpha = alpha, min_base = 0), "mean(y)", "g")
  m <- stats::setNames(t$estimate, t$col)
  want <- c(a = "", b = "", c = "")
  pairs <- list(ab = c("a", "b"), ac = c("a", "c"), bc = c("b", "c"))
  for (k in names(pairs)) if (padj[k] < alpha) {
    hi <- pairs[[k]][which.max(m[pairs[[k]]])]
    lo <- setdiff(pairs[[k]], hi)
    want[hi] <- paste0(want[hi], toupper(lo))
  }
  want <- vapply(want, function(s) paste(sort(strsplit(s, "")[[1]]), collapse = ""), "")
  expect_equal(unname(t$letters), unname(want))
  # min_base: a column below it takes no part
  nn <- table(d$g[!is.na(d$y)])
  small <- names(nn)[which.min(nn)]
  t1 <- num_cells_of(tab(des, sp, cols = "g", alpha = 0.99, adjust = "none", min_base = 0),
                     "mean(y)", "g")
  t2 <- num_cells_of(tab(des, sp, cols = "g", alpha = 0.99, adjust = "none",
                         min_base = min(nn) + 1), "mean(y)", "g")
  L <- toupper(small)
  expect_true(any(grepl(L, t1$letters)) || nzchar(t1$letters[t1$col == small]))
  expect_equal(t2$letters[t2$col == small], "")
  expect_false(any(grepl(L, t2$letters)))
  expect_equal(t2$small_base, t2$col == small)
})

test_that("letters in a data frame with raked weights match svyttest on the calibrated design", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- sim_num_data(12)
  d$sex <- sample(c("f", "m"), nrow(d), TRUE)
  T <- 5000
  w <- wt_rake(d, list(sex = c(f = .5, m = .5)), weights = "w", total = T, epsilon = 1e-13)
  s0 <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  cal <- survey::calibrate(s0, ~sex, c(`(Intercept)` = T, sexm = T / 2), calfun = "raking",
                           epsilon = 1e-13)
  # (survey warns that rows of weight 0 are left out of its dispersion)
  p <- unname(suppressWarnings(survey::svyttest(y ~ I(g == "a"), subset(cal, g != "c")))$p.value)
  # two columns only: build the table on a column variable with levels a, b
  # (the c rows stay in the design, outside the columns)
  d$gab <- ifelse(d$g == "c", NA, d$g)
  run <- function(alpha) num_cells_of(tab(d, mean_of(~y), cols = "gab", weights = w, alpha = alpha,
                                          adjust = "none", min_base = 0), "mean(y)", "gab")$letters
  expect_true(any(nzchar(run(p * (1 + 1e-8)))))
  expect_false(any(nzchar(run(p * (1 - 1e-8)))))
})

test_that("MR sets as column variables: per-item estimates, SEs and letters with the shared rows", {
  skip_if_not_installed("survey")
  d <- sim_num_data(13)
  d$m1 <- stats::runif(nrow(d)) < 0.5 + 0.2 * (d$g == "a")
  d$m2 <- stats::runif(nrow(d)) < 0.4
  d$m3 <- stats::runif(nrow(d)) < 0.6
  ms <- mr_set(d, c("m1", "m2", "m3"), label = "M")
  for (clustered in c(TRUE, FALSE)) {
    des <- if (clustered) svy_design(d, weights = ~w, strata = ~st, cluster = ~psu) else
      svy_design(d, weights = ~w, strata = ~st)
    s <- if (clustered) survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d) else
      survey::svydesign(ids = ~1, strata = ~st, weights = ~w, data = d)
    t <- num_cells_of(tab(des, mean_of(~y), cols = ms, min_base = 0), "mean(y)", "M")
    for (k in 1:3) {
      it <- paste0("m", k)
      ref <- survey::svymean(~y, subset(s, get(it)), na.rm = TRUE)
      expect_lt(rel_n(t$estimate[k], coef(ref)), 1e-10)
      expect_lt(rel_n(t$se[k], survey::SE(ref)), 1e-8)
    }
    # the pair (m1, m2): the SE of the difference from the influence
    # functions, df of the rows in either item; the letter flips at its p
    ok <- !is.na(d$y)
    est <- stats::setNames(t$estimate, c("m1", "m2", "m3"))
    N1 <- sum(d$w[ok & d$m1]); N2 <- sum(d$w[ok & d$m2])
    z <- ifelse(ok, ((d$y - est["m1"]) * d$m1 / N1 - (d$y - est["m2"]) * d$m2 / N2), 0)
    s$variables$z <- z
    se <- survey::SE(survey::svytotal(~z, s))
    dfu <- survey::degf(subset(s, (m1 | m2) & ok)) - 1
    p <- as.numeric(2 * stats::pt(-abs(est["m1"] - est["m2"]) / se, dfu))
    run <- function(alpha) num_cells_of(tab(des, mean_of(~y), cols = ms, alpha = alpha,
                                            adjust = "none", min_base = 0), "mean(y)", "M")$letters
    on <- run(p * (1 + 1e-8))
    off <- run(p * (1 - 1e-8))
    hi <- if (est["m1"] > est["m2"]) 1L else 2L
    expect_true(grepl(c("B", "A")[hi], on[hi]))
    expect_false(grepl(c("B", "A")[hi], off[hi]))
  }
})

test_that("numeric rows: identity, long form, print and summary", {
  d <- sim_num_data(14)
  t <- tab(d, list(mean_of(~y, label = "Mean of y"), "q", ratio_of(~y, ~x)), cols = "g", weights = "w",
           by = "lay")
  a <- as.data.frame(t)
  expect_true(all(c("stat", "estimate") %in% names(a)))
  expect_equal(match(c("p_value", "stat", "estimate"), names(a)),
               match("p_value", names(a)) + 0:2)
  expect_equal(unique(a$row_var), c("mean(y)", "q", "ratio(y/x)"))
  expect_equal(as.character(unique(a$row[a$row_var == "mean(y)"])), "mean")
  expect_equal(t$rows[[1]][c("kind", "stat", "label", "vars")],
               list(kind = "numeric", stat = "mean", label = "Mean of y", vars = "y"))
  expect_equal(t$rows[[3]]$vars, c("y", "x"))
  # cells found by identity
  id <- t$cell_id
  sel <- id$row_var == 1L & id$col_var == 2L & id$col == 2L & id$layer == 2L
  expect_equal(t$cells$col[sel], "b")
  expect_equal(t$cells$lay[sel], "L2")
  out <- capture.output(print(t))
  expect_true(any(grepl("Mean of y", out)))
  est <- a$estimate[a$row_var == "mean(y)" & a$col_var == "Total" & a$lay == "L1"]
  expect_true(any(grepl(formatC(est, format = "f", digits = 1), out, fixed = TRUE)))
  expect_no_error(format(t))
  expect_no_error(capture.output(summary(t)))
  expect_no_error(as.data.frame(t, layout = "wide"))
  expect_no_error(capture.output(print(t, show = c("pct", "ci", "letters"), locale = "de")))
  # se = FALSE: estimates only
  t0 <- as.data.frame(tab(d, mean_of(~y), cols = "g", weights = "w", se = FALSE))
  expect_true(all(is.na(t0$se)))
  expect_equal(t0$estimate[1], sum((d$w * d$y)[!is.na(d$y)]) / sum(d$w[!is.na(d$y)]))
  # huge weights (rescaled internally): totals come back in the weights' scale
  d$wb <- d$w * 2^110
  tb <- as.data.frame(tab(d, total_of(~y), weights = "wb"))
  expect_lt(rel_n(tb$estimate, sum((d$wb * d$y)[!is.na(d$y)])), 1e-12)
  ts <- as.data.frame(tab(d, total_of(~y), weights = "w"))
  expect_lt(rel_n(tb$se, ts$se * 2^110), 1e-10)
})

test_that("constant y: SE 0, no letters; ratio with a zero denominator: NA with a warning", {
  d <- sim_num_data(15)
  d$k <- 5
  t <- num_cells_of(tab(d, mean_of(~k), cols = "g", weights = "w", min_base = 0), "mean(k)")
  expect_equal(t$estimate, rep(5, 4))
  expect_equal(t$se, rep(0, 4))
  expect_true(all(t$letters == ""))
  d$x0 <- ifelse(d$g == "b", 0, d$x)
  expect_warning(t2 <- tab(d, ratio_of(~y, ~x0), cols = "g", weights = "w"),
                 "denominator totals 0")
  r <- num_cells_of(t2, "ratio(y/x0)")
  expect_true(is.na(r$estimate[r$col == "b"]))
  expect_true(is.na(r$se[r$col == "b"]))
  expect_false(is.na(r$estimate[r$col == "a"]))
})

test_that("bad input to numeric rows: clear errors", {
  d <- sim_num_data(16)
  d$chr <- as.character(d$g)
  d$allna <- NA_real_
  expect_error(tab(d, mean_of(~g)), "mean_of\\(\\): column 'g' must be numeric.*score_of")
  expect_error(tab(d, mean_of(~q)), "column 'q' must be numeric")
  expect_error(tab(d, total_of(~allna)), "column 'allna' is all missing")
  expect_error(tab(d, mean_of(~nope)), "names column\\(s\\) not in 'x': 'nope'")
  expect_error(mean_of(~ a + b), "must name one column")
  expect_error(mean_of(3), "must be a column name or a one-sided formula")
  expect_error(ratio_of(~y), "argument \"x\" is missing|'x'")
  expect_error(tab(d, "q", cols = list(mean_of(~y))), "'cols' holds mean\\(y\\), a numeric row spec")
  expect_error(tab(d, "q", by = mean_of(~y)), "'by' holds mean\\(y\\)")
  expect_error(tab(d, score_of(~q, c(1, 2, 3))), "'scores' has 3 value\\(s\\) but 'q' has 4 level")
  expect_error(tab(d, score_of(~q, c(bad = 1, ok = 2, good = 3, dk = NA, nope = 4))),
               "'scores' names 'nope', not level")
  expect_error(tab(d, score_of(~q, c(bad = 1, ok = 2))), "gives no score to level\\(s\\) 'good', 'dk'")
  expect_error(score_of(~q, c("a", "b")), "'scores' must be a numeric vector")
  expect_error(score_of(~q, c(a = 1, a = 2)), "names level\\(s\\) twice")
  expect_error(score_of(~q, c(NA_real_, NA_real_)), "not all NA")
  expect_error(mean_of(~y, label = 1), "'label' must be a single string")
  d$xna <- ifelse(is.na(d$y), 1, NA)
  expect_error(tab(d, ratio_of(~y, ~xna)), "no row has both 'y' and 'xna'")
  d$inf <- d$y
  d$inf[1] <- Inf
  expect_error(tab(d, mean_of(~inf)), "infinite")
  expect_error(tab(d, mean_of(~y), weights = -d$w), "'weights'")
})

test_that("weights calibrated on numeric auxiliaries: numeric rows as survey::calibrate(~ stype + enroll)", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  # needs the calibrated variance generic over numeric auxiliaries (z_cov()'s cz)
  skip_if_not("cz" %in% names(formals(umfrage:::z_cov)))
  e <- num_api()
  pop <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, enroll = 3811472)
  tg <- list(stype = c(E = 4421, H = 755, M = 1018), enroll = 3811472)
  # stratified, rows as PSUs, NA in y
  d <- e$apistrat
  d$api00[c(3, 40)] <- NA
  w <- wt_calibrate(d, tg, weights = "pw", epsilon = 1e-13)
  cal <- survey::calibrate(survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d),
                           ~stype + enroll, pop, calfun = "linear")
  expect_lt(rel_n(w, weights(cal)), 1e-10)
  t <- tab(svy_design(d, weights = w, strata = ~stype),
           list(mean_of(~api00), total_of(~api00), ratio_of(~api00, ~api99)), cols = "sch.wide")
  lv <- c("No", "Yes")
  m <- num_cells_of(t, "mean(api00)")
  by <- svyby_num(~api00, ~sch.wide, cal, survey::svymean, lv, na.rm = TRUE)
  expect_lt(rel_n(m$se, c(survey::SE(survey::svymean(~api00, cal, na.rm = TRUE)), by$se)), 1e-8)
  tt <- num_cells_of(t, "total(api00)")
  by <- svyby_num(~api00, ~sch.wide, cal, survey::svytotal, lv, na.rm = TRUE)
  expect_lt(rel_n(tt$se[-1], by$se), 1e-8)
  r <- num_cells_of(t, "ratio(api00/api99)")
  by <- svyby_num(~api00, ~sch.wide, cal, survey::svyratio, lv, denominator = ~api99, na.rm = TRUE)
  expect_lt(rel_n(r$se[-1], by[["se.api00/api99"]]), 1e-8)
  # clusters
  d1 <- e$apiclus1
  w1 <- wt_calibrate(d1, tg, weights = "pw", epsilon = 1e-13)
  cal1 <- survey::calibrate(survey::svydesign(ids = ~dnum, weights = ~pw, data = d1),
                            ~stype + enroll, pop, calfun = "linear")
  t1 <- tab(svy_design(d1, weights = w1, cluster = ~dnum), list(mean_of(~api00), ratio_of(~api00, ~api99)),
            cols = "sch.wide")
  m1 <- num_cells_of(t1, "mean(api00)")
  by <- svyby_num(~api00, ~sch.wide, cal1, survey::svymean, lv)
  expect_lt(rel_n(m1$se, c(survey::SE(survey::svymean(~api00, cal1)), by$se)), 1e-8)
  r1 <- num_cells_of(t1, "ratio(api00/api99)")
  by <- svyby_num(~api00, ~sch.wide, cal1, survey::svyratio, lv, denominator = ~api99)
  expect_lt(rel_n(r1$se[-1], by[["se.api00/api99"]]), 1e-8)
  # a data frame (rows as PSUs, one stratum)
  s2 <- survey::calibrate(survey::svydesign(ids = ~1, weights = ~pw, data = d), ~stype + enroll, pop,
                          calfun = "linear")
  m2 <- num_cells_of(tab(d, mean_of(~api00), cols = "sch.wide", weights = w), "mean(api00)")
  by <- svyby_num(~api00, ~sch.wide, s2, survey::svymean, lv, na.rm = TRUE)
  expect_lt(rel_n(m2$se, c(survey::SE(survey::svymean(~api00, s2, na.rm = TRUE)), by$se)), 1e-8)
})
