# quantile_of() rows of tab() against survey 4.1.1's svyquantile(ci = TRUE)
# (defaults: qrule = "math", Woodruff interval) and svyby(svyquantile), per
# banner column, MR item and by layer, on stratified, clustered and
# rows-as-PSU designs, with NA in y, and with raked / calibrated weights.
#
# Each cell is checked twice: (1) against svyquantile() on the cell's
# subset of the survey design, every estimate, limit and SE (NaN limits as
# NA); (2) against a reference built from survey's svymean() of the
# indicator 1{y <= q} (its SE, calibration-adjusted where the design is
# calibrated) and degf(), with the rule written out in R as "the smallest y
# whose cumulative weight reaches p W". The two agree except in survey's two
# floating-point corners (p * W below the smallest value's weight; a
# cumulative share equal to p exactly) and where F = 1 exactly (survey's SE
# residue); (2) is checked away from those.
#
# The quantile engine reproduces survey's arithmetic in those corners since
# the i16-qrule merge; with an engine from before it (p = 0 giving the
# smallest value, not survey's second smallest) (1) leaves the corners out
# instead and (2) is checked everywhere.

qr_api <- function() {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  e
}

# the documented rule: the smallest y whose cumulative weight reaches p W
# (to 1e-12 W), rows of positive weight and non-missing y
qr_rule <- function(x, w, p) {
  if (is.na(p)) return(NA_real_)
  keep <- w > 0 & !is.na(x)
  x <- x[keep]
  w <- w[keep]
  o <- order(x)
  cw <- cumsum(w[o])
  W <- sum(w)
  x[o][which(cw >= p * W - 1e-12 * W)[1L]]
}

# does survey's rule depart from the documented one at p (the two corners)?
qr_corner <- function(x, w, p) {
  if (is.na(p)) return(FALSE)
  keep <- w > 0 & !is.na(x)
  x <- x[keep]
  w <- w[keep]
  o <- order(x)
  cw <- cumsum(w[o])
  W <- sum(w)
  p * W < w[o][1L] || any(abs(cw - p * W) <= 1e-9 * W)
}

# One domain (survey design `sub`): reference values per prob, and the
# corner flags of the estimate and of the two ends of F's interval.
qr_ref <- function(sub, yname, probs, level = 0.95) {
  subr <- sub[!is.na(sub$variables[[yname]]), ]
  x <- subr$variables[[yname]]
  w <- stats::weights(subr)
  df <- survey::degf(subr)
  t(vapply(probs, function(p) {
    q <- qr_rule(x, w, p)
    # a calibrated design's subset keeps its rows (weight 0 outside)
    ind <- stats::update(subr, .ind = as.numeric(!is.na(x) & x <= q))
    m <- survey::svymean(~.ind, ind)
    ci <- if (df >= 1) as.vector(stats::confint(m, level = level, df = df)) else c(NA, NA)
    const <- isTRUE(abs(survey::SE(m)) < 1e-12)
    if (const) ci <- c(coef(m), coef(m))
    lo <- if (is.na(ci[1L]) || ci[1L] < 0) NA_real_ else qr_rule(x, w, ci[1L])
    hi <- if (is.na(ci[2L]) || ci[2L] > 1) NA_real_ else qr_rule(x, w, ci[2L])
    se <- if (df >= 1) (hi - lo) / (2 * stats::qt(1 - (1 - level) / 2, df)) else NA_real_
    c(estimate = q, ci_low = lo, ci_high = hi, se = se, df = df, n = sum(w > 0 & !is.na(x)), n_w = sum(w[!is.na(x)]),
      corner_q = qr_corner(x, w, p), corner_lo = qr_corner(x, w, ci[1L]),
      corner_hi = qr_corner(x, w, ci[2L]), const = const)
  }, numeric(11)))
}

# Compare the cells `got` (one domain, rows in probs order) with the
# reference and with svyquantile() on `sub`. Returns c(compared, corners):
# the svyquantile values compared and those left out at the corners.
qr_check <- function(got, sub, yname, probs, ctx, level = 0.95) {
  ref <- qr_ref(sub, yname, probs, level)
  exact <- qr_engine_exact()
  expect_equal(got$row, paste0(100 * probs, "%"), info = ctx)
  for (col in c("df", "n", "n_w"))
    expect_equal(got[[col]], unname(ref[, col]), tolerance = 1e-8, info = paste(ctx, col))
  corner <- ref[, "corner_q"] != 0 | ref[, "corner_lo"] != 0 | ref[, "corner_hi"] != 0
  # (2) the written-out rule
  rr <- if (exact) !corner & ref[, "const"] == 0 else rep(TRUE, length(probs))
  for (col in c("estimate", "ci_low", "ci_high", "se"))
    expect_equal(got[[col]][rr], unname(ref[rr, col]), tolerance = 1e-8, info = paste(ctx, col))
  # (1) svyquantile
  sq <- suppressWarnings(survey::svyquantile(stats::as.formula(paste0("~", yname)), sub, probs,
                                             ci = TRUE, na.rm = TRUE, alpha = 1 - level))[[1L]]
  sq[is.nan(sq)] <- NA_real_
  if (exact) {
    ok_q <- ok_lo <- ok_hi <- ok_se <- rep(TRUE, length(probs))
  } else {
    ok_q <- ref[, "corner_q"] == 0
    ok_lo <- ref[, "corner_lo"] == 0 & !is.na(got$ci_low)
    ok_hi <- ref[, "corner_hi"] == 0 & !is.na(got$ci_high)
    ok_se <- ok_lo & ok_hi
  }
  expect_equal(got$estimate[ok_q], unname(sq[ok_q, 1L]), tolerance = 1e-8, info = paste(ctx, "svyquantile q"))
  expect_equal(got$ci_low[ok_lo], unname(sq[ok_lo, 2L]), tolerance = 1e-8, info = paste(ctx, "svyquantile lo"))
  expect_equal(got$ci_high[ok_hi], unname(sq[ok_hi, 3L]), tolerance = 1e-8, info = paste(ctx, "svyquantile hi"))
  expect_equal(got$se[ok_se], unname(sq[ok_se, 4L]), tolerance = 1e-8, info = paste(ctx, "svyquantile se"))
  c(compared = sum(ok_q) + sum(ok_lo) + sum(ok_hi) + sum(ok_se),
    corners = sum(!ok_q) + sum(!ok_lo & !is.na(got$ci_low)) + sum(!ok_hi & !is.na(got$ci_high)) +
      sum(!ok_se & !is.na(got$se)))
}

# Does the installed engine reproduce survey's corners (p = 0: the second
# smallest value, as survey 4.1.1)?
qr_engine_exact <- local({
  val <- NULL
  function() {
    if (is.null(val)) {
      d <- data.frame(y = c(1, 2, 3, 4))
      a <- as.data.frame(tab(d, quantile_of(~y, 0)))
      val <<- isTRUE(a$estimate[1L] == 2)
    }
    val
  }
})

qr_cells <- function(t, row_var, col_var, col = NULL, layer = NULL) {
  d <- as.data.frame(t, stringsAsFactors = FALSE)
  s <- d$row_var == row_var & d$col_var == col_var
  if (!is.null(col)) s <- s & d$col == col
  if (!is.null(layer)) for (nm in names(layer)) s <- s & d[[nm]] == layer[[nm]]
  d[s, , drop = FALSE]
}

# Every column (and the Total) of a table, each layer: qr_check() on the
# matching survey subset. `cols`: single column variables; `mr`: MR items
# as list(set label = list(item = logical row selector)).
qr_check_table <- function(t, s, yname, probs, cols = character(), by = NULL, mr = list(),
                           level = 0.95) {
  d <- s$variables
  rn <- sprintf("quantile(%s)", yname)
  lay <- if (is.null(by)) list(NULL) else {
    g <- expand.grid(lapply(by, function(b) sort(unique(as.character(d[[b]])))),
                     stringsAsFactors = FALSE)
    names(g) <- by
    lapply(seq_len(nrow(g)), function(i) as.list(g[i, , drop = FALSE]))
  }
  tally <- c(compared = 0, corners = 0)
  for (L in lay) {
    inl <- rep(TRUE, nrow(d))
    for (nm in names(L)) inl <- inl & as.character(d[[nm]]) == L[[nm]]
    ctx <- paste(c("layer", unlist(L)), collapse = " ")
    got <- qr_cells(t, rn, "Total", layer = L)
    tally <- tally + qr_check(got, s[inl, ], yname, probs, paste(ctx, "Total"), level)
    for (cv in cols) for (lv in sort(unique(as.character(d[[cv]])))) {
      got <- qr_cells(t, rn, cv, lv, layer = L)
      sel <- inl & !is.na(d[[cv]]) & as.character(d[[cv]]) == lv
      tally <- tally + qr_check(got, s[sel, ], yname, probs, paste(ctx, cv, lv), level)
    }
    for (set in names(mr)) for (it in names(mr[[set]])) {
      got <- qr_cells(t, rn, set, it, layer = L)
      tally <- tally + qr_check(got, s[inl & mr[[set]][[it]], ], yname, probs,
                                paste(ctx, set, it), level)
    }
  }
  tally
}

qr_sim <- function(seed = 11) {
  set.seed(seed)
  n_psu <- 40; per <- 10; H <- 4
  n <- n_psu * per
  d <- data.frame(st = rep(seq_len(H), each = n / H), psu = rep(seq_len(n_psu), each = per))
  d$N <- rep(c(20, 30, 25, 40), each = n / H)
  d$w <- stats::runif(n, 1, 3) * rep(c(10, 20, 15, 30), each = n / H)
  eff <- stats::rnorm(n_psu)[d$psu]
  d$g <- sample(c("a", "b", "c"), n, TRUE)
  d$lay <- sample(c("L1", "L2"), n, TRUE)
  d$y <- round(50 + 10 * eff + stats::rnorm(n, 0, 5) + 3 * (d$g == "b"), 1)
  d$y[c(3, 50, 51, 200, 333)] <- NA
  d$m1 <- stats::runif(n) < 0.5
  d$m2 <- stats::runif(n) < 0.3
  d$sex <- sample(c("f", "m"), n, TRUE)
  d$age <- sample(c("a1", "a2", "a3"), n, TRUE)
  d
}

test_that("quantile rows on apistrat (strata, fpc) match svyquantile per column and svyby", {
  skip_if_not_installed("survey")
  e <- qr_api()
  probs <- c(0.1, 0.25, 0.5, 0.75, 0.9)
  des <- svy_design(e$apistrat, strata = ~stype, weights = ~pw, fpc = ~fpc)
  s <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = e$apistrat)
  t <- tab(des, quantile_of(~api00, probs), cols = c("sch.wide", "awards"))
  tally <- qr_check_table(t, s, "api00", probs, cols = c("sch.wide", "awards"))
  expect_gt(tally[["compared"]], 0.9 * sum(tally))
  # svyby(svyquantile, ci = TRUE): estimates and SEs per column
  by <- survey::svyby(~api00, ~awards, s, survey::svyquantile, quantiles = probs, ci = TRUE,
                      keep.var = TRUE)
  got <- qr_cells(t, "quantile(api00)", "awards")
  for (k in seq_along(probs)) {
    g <- got[got$row == paste0(100 * probs[k], "%"), ]
    expect_equal(g$estimate, unname(by[[1L + k]]), tolerance = 1e-8)
    expect_equal(g$se, unname(by[[1L + length(probs) + k]]), tolerance = 1e-8)
  }
  # level = 0.9: the interval at 90%
  t90 <- tab(des, quantile_of(~api00, c(0.25, 0.5)), cols = "sch.wide", level = 0.9)
  qr_check_table(t90, s, "api00", c(0.25, 0.5), cols = "sch.wide", level = 0.9)
})

test_that("quantile rows on apiclus1 (clusters, fpc) match svyquantile and svyby", {
  skip_if_not_installed("survey")
  e <- qr_api()
  probs <- c(0.25, 0.5, 0.75)
  des <- svy_design(e$apiclus1, cluster = ~dnum, weights = ~pw, fpc = ~fpc)
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = e$apiclus1)
  t <- tab(des, list(quantile_of(~api00, probs), quantile_of(~enroll, c(0.2, 0.5))),
           cols = c("stype", "sch.wide"))
  tally <- qr_check_table(t, s, "api00", probs, cols = c("stype", "sch.wide"))
  tally <- tally + qr_check_table(t, s, "enroll", c(0.2, 0.5), cols = c("stype", "sch.wide"))
  expect_gt(tally[["compared"]], 0.8 * sum(tally))
  by <- survey::svyby(~api00, ~stype, s, survey::svyquantile, quantiles = probs, ci = TRUE,
                      keep.var = TRUE)
  got <- qr_cells(t, "quantile(api00)", "stype")
  ok <- qr_engine_exact() | !vapply(c("E", "H", "M"), function(l) {
    sub <- e$apiclus1[e$apiclus1$stype == l, ]
    any(vapply(probs, function(p) qr_corner(sub$api00, sub$pw, p), NA))
  }, NA)
  for (k in seq_along(probs)) {
    g <- got[got$row == paste0(100 * probs[k], "%"), ]
    expect_equal(g$estimate[ok], unname(by[[1L + k]])[ok], tolerance = 1e-8)
  }
})

test_that("stratified cluster design with fpc, by layers, NA in y and an MR set as columns", {
  skip_if_not_installed("survey")
  d <- qr_sim()
  probs <- c(0.25, 0.5, 0.75)
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, fpc = ~N, data = d)
  ms <- mr_set(d, c("m1", "m2"), label = "M")
  t <- tab(des, quantile_of(~y, probs), cols = list("g", ms), by = "lay")
  mr <- list(M = list(m1 = d$m1, m2 = d$m2))
  tally <- qr_check_table(t, s, "y", probs, cols = "g", by = "lay", mr = mr)
  expect_gt(tally[["compared"]], 0.9 * sum(tally))
  # svyby over column x layer, as one call
  by <- survey::svyby(~y, ~g + lay, s, survey::svyquantile, quantiles = probs, ci = TRUE,
                      keep.var = TRUE, na.rm = TRUE)
  got <- qr_cells(t, "quantile(y)", "g")
  for (k in seq_along(probs)) {
    g <- got[got$row == paste0(100 * probs[k], "%"), ]
    g <- g[match(paste(by$g, by$lay), paste(g$col, g$lay)), ]
    expect_equal(g$estimate, unname(by[[2L + k]]), tolerance = 1e-8)
    expect_equal(g$se, unname(by[[2L + length(probs) + k]]), tolerance = 1e-8)
  }
  # n counts the rows with y in the cell; the bases too
  g <- qr_cells(t, "quantile(y)", "g", "b", layer = list(lay = "L2"))
  expect_equal(g$n, rep(sum(d$g == "b" & d$lay == "L2" & !is.na(d$y)), 3))
  expect_equal(g$base_n, g$n)
})

test_that("a weighted data frame with NA in y (rows as PSUs) matches svydesign(ids = ~1)", {
  skip_if_not_installed("survey")
  d <- qr_sim(5)
  probs <- c(0.05, 0.5, 0.95)
  s <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  t <- tab(d, quantile_of("y", probs), cols = c("g", "sex"), by = "lay", weights = "w")
  tally <- qr_check_table(t, s, "y", probs, cols = c("g", "sex"), by = "lay")
  expect_gt(tally[["compared"]], 0.9 * sum(tally))
  # unweighted data frame
  s1 <- survey::svydesign(ids = ~1, weights = ~one, data = transform(d, one = 1))
  t1 <- tab(d, quantile_of(~y, c(0.3, 0.6)), cols = "g")
  qr_check_table(t1, s1, "y", c(0.3, 0.6), cols = "g")
})

test_that("raked weights: quantile rows as svyquantile on survey::calibrate(calfun = 'raking')", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  d <- qr_sim(3)
  T <- 9000
  tg <- list(sex = c(f = .55, m = .45), age = c(a1 = .3, a2 = .3, a3 = .4))
  w <- wt_rake(d, tg, weights = "w", total = T, epsilon = 1e-13)
  pop <- c(`(Intercept)` = T, sexm = .45 * T, agea2 = .3 * T, agea3 = .4 * T)
  probs <- c(0.25, 0.5, 0.75)
  # rows as PSUs
  cal <- survey::calibrate(survey::svydesign(ids = ~1, weights = ~w, data = d), ~sex + age, pop,
                           calfun = "raking", epsilon = 1e-13, maxit = 200)
  expect_lt(max(abs(w / weights(cal) - 1)), 1e-10)
  t <- tab(d, quantile_of(~y, probs), cols = "g", weights = w)
  tally <- qr_check_table(t, cal, "y", probs, cols = "g")
  # fixed weights (calibration = FALSE): svyquantile on the uncalibrated
  # design with the same weights, and other intervals (the adjustment is
  # in use)
  grid <- seq(0.05, 0.95, by = 0.05)
  tf <- tab(d, quantile_of(~y, grid), weights = w, calibration = FALSE)
  tc <- tab(d, quantile_of(~y, grid), weights = w)
  dw <- d
  dw$w <- as.vector(w)
  qr_check_table(tf, survey::svydesign(ids = ~1, weights = ~w, data = dw), "y", grid)
  qr_check_table(tc, cal, "y", grid)
  # high quantiles: upper limits beyond F = 1 (survey's NaN, from its SE
  # residue where every row is at or below the estimate) and p = 1
  th <- tab(d, quantile_of(~y, c(0.9, 0.99, 1)), cols = "g", weights = w)
  qr_check_table(th, cal, "y", c(0.9, 0.99, 1), cols = "g")
  expect_true(anyNA(qr_cells(th, "quantile(y)", "g")$ci_high))
  expect_false(isTRUE(all.equal(qr_cells(tf, "quantile(y)", "Total")$se,
                                qr_cells(tc, "quantile(y)", "Total")$se)))
  # stratified cluster design with raked weights and layers
  des <- svy_design(d, weights = w, strata = ~st, cluster = ~psu)
  cal1 <- survey::calibrate(survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d),
                            ~sex + age, pop, calfun = "raking", epsilon = 1e-13, maxit = 200)
  t1 <- tab(des, quantile_of(~y, probs), cols = "g", by = "lay")
  tally <- tally + qr_check_table(t1, cal1, "y", probs, cols = "g", by = "lay")
  expect_gt(tally[["compared"]], 0.9 * sum(tally))
  # post-stratification as survey::postStratify
  ps <- wt_poststrat(d, list(age = c(a1 = .3, a2 = .3, a3 = .4)), weights = "w", total = T)
  sp <- survey::postStratify(survey::svydesign(ids = ~1, weights = ~w, data = d), ~age,
                             data.frame(age = c("a1", "a2", "a3"), Freq = c(.3, .3, .4) * T))
  t2 <- tab(d, quantile_of(~y, probs), cols = "sex", weights = ps)
  qr_check_table(t2, sp, "y", probs, cols = "sex")
})

test_that("weights calibrated on a numeric auxiliary: quantiles as svyquantile on calibrate(~ stype + enroll)", {
  skip_if_not_installed("survey")
  skip_if_not_installed("MASS")
  e <- qr_api()
  d <- e$apistrat
  d$api00[c(3, 40)] <- NA
  pop <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, enroll = 3811472)
  tg <- list(stype = c(E = 4421, H = 755, M = 1018), enroll = 3811472)
  w <- wt_calibrate(d, tg, weights = "pw", epsilon = 1e-13)
  cal <- survey::calibrate(survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = d),
                           ~stype + enroll, pop, calfun = "linear")
  probs <- c(0.25, 0.5, 0.75)
  t <- tab(svy_design(d, weights = w, strata = ~stype), quantile_of(~api00, probs),
           cols = c("sch.wide", "awards"))
  tally <- qr_check_table(t, cal, "api00", probs, cols = c("sch.wide", "awards"))
  d1 <- e$apiclus1
  w1 <- wt_calibrate(d1, tg, weights = "pw", epsilon = 1e-13)
  cal1 <- survey::calibrate(survey::svydesign(ids = ~dnum, weights = ~pw, data = d1),
                            ~stype + enroll, pop, calfun = "linear")
  t1 <- tab(svy_design(d1, weights = w1, cluster = ~dnum), quantile_of(~api00, probs),
            cols = "sch.wide")
  tally <- tally + qr_check_table(t1, cal1, "api00", probs, cols = "sch.wide")
  expect_gt(tally[["compared"]], 0.8 * sum(tally))
})

test_that("quantile rows: long form, meta, identity, options and print", {
  skip_if_not_installed("survey")
  d <- qr_sim()
  t <- tab(d, list("g", quantile_of(~y, c(0.025, 0.5), label = "Income q"), mean_of(~y)),
           cols = "sex", weights = "w")
  m <- t$rows[[2L]]
  expect_identical(m$kind, "numeric")
  expect_identical(m$stat, "quantile")
  expect_identical(m$name, "quantile(y)")
  expect_identical(m$label, "Income q")
  expect_identical(m$levels, c("2.5%", "50%"))
  expect_identical(m$probs, c(0.025, 0.5))
  a <- as.data.frame(t, stringsAsFactors = FALSE)
  q <- a[a$row_var == "quantile(y)", ]
  expect_equal(nrow(q), 2 * 3)
  expect_true(all(q$stat == "quantile"))
  expect_true(all(is.na(q$deff)) && all(is.na(q$pct)) && all(q$letters == ""))
  expect_true(all(is.na(q$p_value)))
  # identity: .row is the prob's index, cells ordered prob fastest
  expect_equal(t$cell_id$row[a$row_var == "quantile(y)"], rep(1:2, 3))
  expect_equal(q$row, rep(c("2.5%", "50%"), 3))
  # the weighted median of the Total: the documented rule, from base R
  med <- qr_rule(d$y, d$w, 0.5)
  expect_equal(q$estimate[q$col_var == "Total" & q$row == "50%"], med)
  # n_w: the weight of the rows with y
  expect_equal(q$n_w[q$col_var == "Total"], rep(sum(d$w[!is.na(d$y)]), 2), tolerance = 1e-12)
  # base rows of the block: one per column
  b <- t$bases[t$bases$row_var == "quantile(y)", ]
  expect_equal(nrow(b), 3)
  expect_equal(b$base_n[b$col_var == "Total"], sum(!is.na(d$y)))
  # se = FALSE: estimates only; ci = "none": no interval, SE kept
  t0 <- tab(d, quantile_of(~y, 0.5), cols = "sex", weights = "w", se = FALSE)
  a0 <- as.data.frame(t0, stringsAsFactors = FALSE)
  expect_equal(a0$estimate, q$estimate[q$row == "50%"])
  expect_true(all(is.na(a0$se)) && all(is.na(a0$ci_low)) && all(is.na(a0$df)))
  t1 <- tab(d, quantile_of(~y, 0.5), cols = "sex", weights = "w", ci = "none")
  a1 <- as.data.frame(t1, stringsAsFactors = FALSE)
  expect_equal(a1$se, q$se[q$row == "50%"])
  expect_true(all(is.na(a1$ci_low)))
  # sorting leaves a quantile row's levels in probs order
  ts <- tab(d, list("g", quantile_of(~y, c(0.9, 0.1))), weights = "w", sort = "desc")
  as_ <- as.data.frame(ts, stringsAsFactors = FALSE)
  expect_equal(as_$row[as_$row_var == "quantile(y)"], c("90%", "10%"))
  # printing works
  expect_output(print(t), "2.5%")
  expect_output(print(quantile_of(~y, c(0.1, 0.9))), "probs: 0.1, 0.9")
})

test_that("bad input to quantile_of(): errors naming the argument", {
  d <- qr_sim()
  d$f <- factor(d$g)
  d$allna <- NA_real_
  expect_error(quantile_of(~y, c(0.5, 1.2)), "'probs' must lie in \\[0, 1\\]")
  expect_error(quantile_of(~y, -0.1), "'probs' must lie in \\[0, 1\\]")
  expect_error(quantile_of(~y, c(0.5, NA)), "'probs' must not hold NA")
  expect_error(quantile_of(~y, numeric()), "'probs' must be a numeric vector")
  expect_error(quantile_of(~y, "0.5"), "'probs' must be a numeric vector")
  expect_error(quantile_of(~y, c(0.5, 0.5)), "'probs' holds duplicates")
  expect_error(quantile_of(~y + x), "'y' must name one column")
  expect_error(quantile_of(~y, label = 1), "'label' must be a single string")
  expect_error(tab(d, quantile_of(~f)), "quantile_of\\(\\): column 'f' must be numeric")
  expect_error(tab(d, quantile_of(~g)), "column 'g' must be numeric")
  expect_error(tab(d, quantile_of(~allna)), "column 'allna' is all missing")
  expect_error(tab(d, quantile_of(~nope)), "not in 'x': 'nope'")
  expect_error(tab(d, "g", cols = list(quantile_of(~y))), "'cols' holds quantile\\(y\\)")
  expect_error(tab(d, "g", by = list(quantile_of(~y))), "'by' holds quantile\\(y\\)")
})
