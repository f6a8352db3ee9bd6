# Domain quantiles (R/quantile.R, src/quantile.c) against survey 4.1.1's
# svyquantile(ci = TRUE) with its defaults (qrule = "math", interval.type =
# "mean"), per domain as svyby() computes it (svyquantile on the domain's
# subset): every estimate, limit and SE equal survey's, including p = 0,
# exact ties and the limits survey gives as NaN.

dq <- function(...) umfrage:::domain_quantiles(...)

# svyquantile() of survey 4.1.1 itself on a domain's design (what svyby()
# calls per domain), as a (probs x 4) matrix: quantile, ci_low, ci_high, se
# (NaN as NA). NULL where survey cannot compute (a domain without y).
svy_q <- function(sub, yname, probs, level) {
  sq <- tryCatch(suppressWarnings(survey::svyquantile(
    stats::as.formula(paste0("~", yname)), sub, probs, ci = TRUE, na.rm = TRUE,
    alpha = 1 - level))[[1L]], error = function(e) NULL)
  if (is.null(sq)) return(NULL)
  s <- unname(sq[, 1:4, drop = FALSE])
  s[is.nan(s)] <- NA
  s
}

# Compare domain_quantiles() on an umfrage design with svyquantile() on
# survey's design, domain by domain, for every probability: estimate,
# ci_low, ci_high and se equal (to 1e-8; NaN in survey = NA here), and the
# df as survey::degf(). Returns c(values compared, of them NA).
check_quantiles <- function(sdes, udes, yname, dom, probs, level = 0.95) {
  d <- sdes$variables
  y <- d[[yname]]
  lev <- if (is.null(dom)) "all" else sort(unique(as.character(d[[dom]])))
  codes <- if (is.null(dom)) rep(1L, nrow(d)) else match(as.character(d[[dom]]), lev)
  res <- dq(y, udes$weights, codes, length(lev), probs, udes, level = level)
  compared <- c(values = 0L, na = 0L)
  for (k in seq_along(lev)) {
    sub <- if (is.null(dom)) sdes else sdes[codes == k, ]
    got <- res[res$domain == k, ]
    ctx <- sprintf("%s, domain %s", yname, lev[k])
    xs <- sub$variables[[yname]]
    ws <- stats::weights(sub)
    expect_equal(got$n, rep(sum(!is.na(xs)), length(probs)), info = ctx)
    expect_equal(got$n_w, rep(sum(ws[!is.na(xs)]), length(probs)), tolerance = 1e-12, info = ctx)
    s <- svy_q(sub, yname, probs, level)
    if (is.null(s)) {                       # no row with y in the domain
      expect_true(all(is.na(got$estimate) & got$note == "no rows"), info = ctx)
      next
    }
    g <- cbind(got$estimate, got$ci_low, got$ci_high, got$se)
    expect_equal(g, s, tolerance = 1e-8, info = ctx)
    expect_equal(got$df, rep(survey::degf(sub[!is.na(xs), ]), length(probs)), info = ctx)
    # survey's NaN limits are the ones whose end of F's interval is beyond [0, 1]
    beyond <- (is.na(s[, 2L]) | is.na(s[, 3L])) & got$df >= 1
    expect_equal(got$note[beyond], rep("interval beyond [0, 1]", sum(beyond)), info = ctx)
    compared <- compared + c(length(s), sum(is.na(s)))
  }
  compared
}

api_data <- function() {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  e
}

test_that("quantiles of apistrat (strata, fpc) equal svyquantile and svyby in every domain", {
  skip_if_not_installed("survey")
  api <- api_data()
  d <- api$apistrat
  set.seed(16)
  d$y_na <- d$api00
  d$y_na[sample(nrow(d), 15)] <- NA           # missing y: na.rm = TRUE
  d$y_tie <- round(d$api00 / 50) * 50          # heavy ties
  sdes <- survey::svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = d)
  # the raw weights: survey's are 1 / (1 / pw), 50 of them a bit off pw
  udes <- svy_design(d, weights = ~pw, strata = ~stype, fpc = ~fpc)
  probs <- c(0, 0.005, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1)
  n <- 0L
  # cname: 40 counties, many with 1-5 schools (p * W below the first
  # weight, NaN limits, df < 1)
  for (y in c("api00", "y_na", "y_tie", "enroll")) for (dom in list(NULL, "stype", "awards"))
    n <- n + check_quantiles(sdes, udes, y, dom, probs)
  for (y in c("api00", "y_na")) n <- n + check_quantiles(sdes, udes, y, "cname", probs)
  expect_gt(n[["values"]], 3000L)
  expect_gt(n[["na"]], 1000L)
  # svyby() itself, all its columns
  pr <- c(0, 0.5, 0.9, 1)
  res <- dq(d$api00, udes$weights, as.integer(d$stype), 3L, pr, udes)
  sb <- suppressWarnings(survey::svyby(~api00, ~stype, sdes, survey::svyquantile, quantiles = pr,
                                       ci = TRUE, vartype = c("se", "ci")))
  m <- function(cols) { x <- as.vector(t(as.matrix(sb[, cols]))); x[is.nan(x)] <- NA; x }
  expect_equal(res$estimate, m(1 + 1:4), tolerance = 1e-8)
  expect_equal(res$se, m(5 + 1:4), tolerance = 1e-8)
  expect_equal(res$ci_low, m(9 + 1:4), tolerance = 1e-8)
  expect_equal(res$ci_high, m(13 + 1:4), tolerance = 1e-8)
})

test_that("quantiles of apiclus1 (clusters, fpc, the small H domain) equal svyquantile", {
  skip_if_not_installed("survey")
  api <- api_data()
  d <- api$apiclus1
  d$y_na <- d$api00
  d$y_na[c(3, 50, 51, 100)] <- NA
  sdes <- survey::svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = d)
  udes <- svy_design(d, weights = ~pw, cluster = ~dnum, fpc = ~fpc)
  expect_lt(sum(d$stype == "H"), 15L)
  probs <- c(0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 1)
  n <- 0L
  for (y in c("api00", "y_na", "enroll")) for (dom in list(NULL, "stype"))
    n <- n + check_quantiles(sdes, udes, y, dom, probs, level = if (y == "enroll") 0.9 else 0.95)
  expect_gt(n[["values"]], 150L)
  res <- dq(d$api00, udes$weights, as.integer(d$stype), 3L, probs, udes)
  sb <- suppressWarnings(survey::svyby(~api00, ~stype, sdes, survey::svyquantile, quantiles = probs,
                                       ci = TRUE, vartype = "se"))
  expect_equal(res$estimate, as.vector(t(as.matrix(sb[, 1 + seq_along(probs)]))), tolerance = 1e-8)
})

test_that("quantiles on a stratified cluster design with fpc: NA, ties, one-row and all-equal domains", {
  skip_if_not_installed("survey")
  d <- sim_design_data(seed = 7)
  set.seed(7)
  d$yn <- round(stats::rnorm(nrow(d), 50 + 5 * (d$psu %% 5), 10))   # ties
  d$yn[sample(nrow(d), 30)] <- NA
  d$dom <- d$k
  d$dom[17] <- "one"                                # a one-row domain
  same <- which(d$st == 2)[seq(1, 150, by = 10)]   # in 10 PSUs
  d$dom[same] <- "same"
  d$yn[same] <- 42                                  # an all-equal domain
  sdes <- survey::svydesign(id = ~psu, strata = ~st, weights = ~w, fpc = ~N, data = d)
  udes <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
  probs <- c(0, 0.2, 0.5, 0.8, 1)
  n <- 0L
  for (dom in list(NULL, "dom", "g")) n <- n + check_quantiles(sdes, udes, "yn", dom, probs)
  expect_gt(n[["values"]], 100L)
  lev <- sort(unique(d$dom))
  res <- dq(d$yn, udes$weights, match(d$dom, lev), length(lev), probs, udes)
  one <- res[res$domain == match("one", lev), ]
  expect_equal(one$estimate, rep(d$yn[17], length(probs)))
  expect_equal(one$df, rep(0, length(probs)))
  expect_true(all(is.na(one$ci_low) & is.na(one$se)))
  expect_true(all(one$note == "df < 1"))
  eq <- res[res$domain == match("same", lev), ]
  expect_equal(eq$estimate, rep(42, length(probs)))
  expect_equal(eq$ci_low, rep(42, length(probs)))
  expect_equal(eq$ci_high, rep(42, length(probs)))
  expect_equal(eq$se, rep(0, length(probs)))
})

test_that("quantiles of a data frame (rows as PSUs, weight-0 rows) equal svydesign(ids = ~1)", {
  skip_if_not_installed("survey")
  set.seed(3)
  d <- data.frame(y = round(stats::rexp(300, 1 / 20), 1), g = sample(c("a", "b", "c"), 300, TRUE),
                  w = stats::runif(300, 0.5, 4))
  d$y[c(5, 9)] <- NA
  d$w[c(11, 12, 40)] <- 0                             # rows of weight 0
  sdes <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  udes <- umfrage:::rows_design(d, d$w)
  n <- 0L
  for (dom in list(NULL, "g"))
    n <- n + check_quantiles(sdes, udes, "y", dom, c(0, 0.05, 0.5, 0.95, 1))
  expect_gt(n[["values"]], 60L)
})

test_that("heavy ties with equal weights (p * n whole) and p = 0, 1 as survey decides them", {
  skip_if_not_installed("survey")
  # p * n whole: the cumulative share equals p in exact arithmetic, and
  # survey's floating-point comparisons decide (here mostly the next value);
  # p = 0: survey's rule gives the second smallest value
  d <- data.frame(y = rep(1:10, each = 12), y2 = rep(1:40, 3), g = rep(c("a", "b"), 60))
  probs <- c(0, 0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 0.6, 0.75, 0.9, 1)
  n <- 0L
  for (w in c(15.1, 1, 3, 0.7)) {
    d$w <- w
    sdes <- survey::svydesign(ids = ~1, weights = ~w, data = d)
    udes <- umfrage:::rows_design(d, d$w)
    for (y in c("y", "y2")) for (dom in list(NULL, "g"))
      n <- n + check_quantiles(sdes, udes, y, dom, probs)
  }
  expect_gt(n[["values"]], 1000L)
  # the rule itself at the ties, against survey's qrule_math()
  y <- as.double(1:50)
  des <- umfrage:::rows_design(data.frame(y = y), NULL)
  pr <- c(0, 0.02, 0.1, 0.3, 0.5, 0.7, 1)
  for (w in list(rep(15.1, 50), rep(1 / (1 / 15.1), 50), rep(1, 50), rep(0.1, 50)))
    expect_equal(dq(y, w, rep(1L, 50), 1L, pr, des)$estimate,
                 vapply(pr, function(p) survey:::qrule_math(y, 1 / (1 / w), p), 0))
  expect_equal(dq(y, NULL, rep(1L, 50), 1L, 0, des)$estimate, 2)   # survey's p = 0
})

test_that("one call serves several domain systems, as separate calls do", {
  d <- sim_design_data(seed = 2)
  d$x <- stats::rnorm(nrow(d))
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
  g <- match(d$g, c("x", "z"))
  k <- match(d$k, c("p", "q", "r", "s"))
  both <- dq(d$x, des$weights, list(NULL, g, k), c(1L, 2L, 4L), c(0.25, 0.5), des)
  one <- dq(d$x, des$weights, k, 4L, c(0.25, 0.5), des)
  tot <- dq(d$x, des$weights, rep(1L, nrow(d)), 1L, c(0.25, 0.5), des)
  expect_equal(both[both$system == 3, -1], one[, -1], ignore_attr = TRUE)
  expect_equal(both[both$system == 1, -1], tot[, -1], ignore_attr = TRUE)
  expect_equal(nrow(both), 2L * (1L + 2L + 4L))
  # a domain without rows gives NA with its reason
  k2 <- k
  k2[k2 == 4L] <- 1L
  e <- dq(d$x, des$weights, k2, 4L, 0.5, des)
  expect_true(is.na(e$estimate[4L]))
  expect_equal(e$note[4L], "no rows")
})

test_that("the CDF's SE comes from the caller's hook: calibrated designs as svyquantile", {
  skip_if_not_installed("survey")
  api <- api_data()
  d <- api$apistrat
  s0 <- survey::svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = d)
  pop <- data.frame(sch.wide = c("No", "Yes"), Freq = c(1200, 5000))
  sc <- survey::postStratify(s0, ~sch.wide, pop)
  udes <- svy_design(d, weights = stats::weights(sc), strata = ~stype, fpc = ~fpc)
  # survey's calibration-adjusted SE of a domain mean, as a hook
  hook <- function(z, domain, ndom) {
    out <- matrix(NA_real_, ndom, ncol(z))
    for (dd in seq_len(ndom)) for (j in seq_len(ncol(z))) {
      sub <- stats::update(sc, .z = z[, j])[!is.na(domain) & domain == dd, ]
      out[dd, j] <- survey::SE(survey::svymean(~.z, sub))
    }
    out
  }
  probs <- c(0.25, 0.5, 0.75)
  codes <- as.integer(d$stype)
  got <- dq(d$api00, udes$weights, codes, 3L, probs, udes, se_fun = hook)
  for (k in 1:3) {
    sq <- survey::svyquantile(~api00, sc[codes == k, ], probs, ci = TRUE)[[1L]]
    g <- got[got$domain == k, ]
    expect_equal(g$estimate, unname(sq[, 1L]), tolerance = 1e-8)
    expect_equal(cbind(g$ci_low, g$ci_high, g$se), unname(sq[, 2:4]), tolerance = 1e-8)
  }
  # the default hook treats the weights as fixed: svyquantile on the
  # uncalibrated design with the same weights
  sfix <- survey::svydesign(id = ~1, strata = ~stype, weights = ~w, fpc = ~fpc,
                            data = transform(d, w = stats::weights(sc)))
  fixed <- dq(d$api00, udes$weights, codes, 3L, probs, udes)
  sq <- survey::svyquantile(~api00, sfix[codes == 1, ], probs, ci = TRUE)[[1L]]
  expect_equal(fixed$se_cdf[1:3], vapply(probs, function(p) {
    q <- fixed$estimate[match(p, probs)]
    survey::SE(survey::svymean(~I(api00 <= q), sfix[codes == 1, ]))[2L]
  }, 0), tolerance = 1e-8)
})

test_that("bad input to the quantile engine gives errors naming the argument", {
  d <- sim_design_data(seed = 1)
  d$x <- stats::rnorm(nrow(d))
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  one <- rep(1L, nrow(d))
  expect_error(dq(d$x, des$weights, one, 1L, c(0.5, 1.2), des), "'probs' must lie in \\[0, 1\\]; 1.2")
  expect_error(dq(d$x, des$weights, one, 1L, -0.1, des), "'probs' must lie in \\[0, 1\\]")
  expect_error(dq(d$x, des$weights, one, 1L, c(0.5, NA), des), "'probs' must not hold NA")
  expect_error(dq(d$x, des$weights, one, 1L, "0.5", des), "'probs' must be a numeric vector")
  expect_error(dq(d$x, des$weights, one, 1L, numeric(), des), "'probs' must be a numeric vector")
  expect_error(dq(d$g, des$weights, one, 1L, 0.5, des), "'y' must be numeric for quantiles")
  expect_error(dq(factor(d$g), des$weights, one, 1L, 0.5, des), "'y' must be numeric for quantiles")
  expect_error(dq(d$g, des$weights, one, 1L, 0.5, des, what = "column 'g'"),
               "column 'g' must be numeric")
  expect_error(dq(rep(NA_real_, nrow(d)), des$weights, one, 1L, 0.5, des), "only missing values")
  expect_error(dq(d$x, des$weights, one, 1L, 0.5, des, level = 1), "'level'")
  expect_error(dq(d$x, des$weights, one + 1L, 1L, 0.5, des), "outside 1..1")
})
