# Domain quantiles (R/quantile.R, src/quantile.c) against survey 4.1.1's
# svyquantile(ci = TRUE) with its defaults (qrule = "math", interval.type =
# "mean"), per domain as svyby() computes it (svyquantile on the domain's
# subset), and against a plain R implementation of the documented rule.

dq <- function(...) umfrage:::domain_quantiles(...)

# The documented rule, written out: the smallest y whose cumulative weight
# reaches p * W (to 1e-12 W), over rows of positive weight and non-missing y.
ref_q <- function(x, w, p) {
  if (is.na(p)) return(NA_real_)
  keep <- w > 0 & !is.na(x)
  x <- x[keep]
  w <- w[keep]
  o <- order(x)
  cw <- cumsum(w[o])
  W <- sum(w)
  x[o][which(cw >= p * W - 1e-12 * W)[1L]]
}

# Is survey's qrule_math() away from the documented rule only in the two
# documented places: p * W below the smallest value's weight, or an exact
# tie of a cumulative weight with p * W?
survey_quirk <- function(x, w, p) {
  keep <- w > 0 & !is.na(x)
  x <- x[keep]
  w <- w[keep]
  o <- order(x)
  cw <- cumsum(w[o])
  W <- sum(w)
  p * W < w[o][1L] || any(abs(cw - p * W) <= 1e-12 * W)
}

# Woodruff reference for one domain design `sub` (survey), from survey's
# svymean() of the indicator and degf(), with the documented rule.
ref_domain <- function(sub, yname, p, level = 0.95) {
  x <- sub$variables[[yname]]
  w <- stats::weights(sub)
  subr <- sub[!is.na(x), ]
  xr <- subr$variables[[yname]]
  wr <- stats::weights(subr)
  df <- survey::degf(subr)
  t(vapply(p, function(pp) {
    q <- ref_q(xr, wr, pp)
    ind <- stats::update(subr, .ind = as.numeric(xr <= q))
    m <- survey::svymean(~.ind, ind)
    ci <- if (df >= 1) as.vector(stats::confint(m, level = level, df = df)) else c(NA, NA)
    lo <- if (is.na(ci[1L]) || ci[1L] < 0) NA_real_ else ref_q(xr, wr, ci[1L])
    hi <- if (is.na(ci[2L]) || ci[2L] > 1) NA_real_ else ref_q(xr, wr, ci[2L])
    se <- if (df >= 1) (hi - lo) / (2 * stats::qt(1 - (1 - level) / 2, df)) else NA_real_
    c(estimate = q, ci_low = lo, ci_high = hi, se = se, df = df,
      p_lo = ci[1L], p_hi = ci[2L])
  }, numeric(7)))
}

# Compare domain_quantiles() on an umfrage design with the reference and
# with svyquantile() on survey's design, domain by domain. Returns the
# number of survey values compared.
check_quantiles <- function(sdes, udes, yname, dom, probs, level = 0.95) {
  d <- sdes$variables
  y <- d[[yname]]
  lev <- if (is.null(dom)) "all" else sort(unique(as.character(d[[dom]])))
  codes <- if (is.null(dom)) rep(1L, nrow(d)) else match(as.character(d[[dom]]), lev)
  res <- dq(y, udes$weights, codes, length(lev), probs, udes, level = level)
  compared <- 0L
  for (k in seq_along(lev)) {
    sub <- if (is.null(dom)) sdes else sdes[codes == k, ]
    got <- res[res$domain == k, ]
    ref <- ref_domain(sub, yname, probs, level)
    ctx <- sprintf("%s, domain %s", yname, lev[k])
    for (col in c("estimate", "ci_low", "ci_high", "se", "df"))
      expect_equal(got[[col]], unname(ref[, col]), tolerance = 1e-8, info = paste(ctx, col))
    xs <- sub$variables[[yname]]
    ws <- stats::weights(sub)
    expect_equal(got$n, rep(sum(!is.na(xs)), length(probs)), info = ctx)
    expect_equal(got$n_w, rep(sum(ws[!is.na(xs)]), length(probs)), tolerance = 1e-12, info = ctx)
    # survey itself, wherever its rule finds the documented row
    sq <- suppressWarnings(survey::svyquantile(stats::as.formula(paste0("~", yname)), sub,
                                               probs, ci = TRUE, na.rm = TRUE,
                                               alpha = 1 - level))[[1L]]
    ok <- !is.na(xs) & ws > 0
    for (i in seq_along(probs)) {
      same_at <- function(pp) is.na(pp) || pp < 0 || pp > 1 ||
        !survey_quirk(xs[ok], ws[ok], pp)
      quirk_free <- function(pp) is.na(pp) || pp < 0 || pp > 1 ||
        isTRUE(all.equal(survey:::qrule_math(xs[ok], ws[ok], pp), ref_q(xs[ok], ws[ok], pp)))
      # where survey departs from the rule, it is one of the two documented cases
      for (pp in c(probs[i], ref[i, "p_lo"], ref[i, "p_hi"]))
        if (!quirk_free(pp)) expect_true(!same_at(pp), info = paste(ctx, "p =", pp))
      if (quirk_free(probs[i])) {
        expect_equal(got$estimate[i], unname(sq[i, 1L]), tolerance = 1e-8, info = ctx)
        compared <- compared + 1L
      }
      # (survey's interval is around its own estimate)
      if (quirk_free(probs[i]) && quirk_free(ref[i, "p_lo"]) && quirk_free(ref[i, "p_hi"])) {
        s <- unname(sq[i, 2:4])
        s[is.nan(s)] <- NA
        expect_equal(c(got$ci_low[i], got$ci_high[i], got$se[i]), s, tolerance = 1e-8, info = ctx)
        compared <- compared + 1L
      }
    }
  }
  compared
}

api_data <- function() {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  e
}

test_that("quantiles of apistrat (strata, fpc) match svyquantile and svyby per domain", {
  skip_if_not_installed("survey")
  api <- api_data()
  d <- api$apistrat
  set.seed(16)
  d$y_na <- d$api00
  d$y_na[sample(nrow(d), 15)] <- NA           # missing y: na.rm = TRUE
  d$y_tie <- round(d$api00 / 50) * 50          # heavy ties
  sdes <- survey::svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = d)
  udes <- svy_design(d, weights = stats::weights(sdes), strata = ~stype, fpc = ~fpc)
  probs <- c(0, 0.1, 0.25, 0.5, 0.75, 0.9, 1)
  n <- 0L
  for (y in c("api00", "y_na", "y_tie")) for (dom in list(NULL, "stype", "awards"))
    n <- n + check_quantiles(sdes, udes, y, dom, probs)
  expect_gt(n, 200L)
  # svyby() itself, on the probabilities where survey's rule is the documented one
  res <- dq(d$api00, udes$weights, as.integer(d$stype), 3L, c(0.5, 0.9), udes)
  sb <- survey::svyby(~api00, ~stype, sdes, survey::svyquantile, quantiles = c(0.5, 0.9),
                      ci = TRUE, vartype = c("se", "ci"))
  expect_equal(res$estimate, as.vector(t(as.matrix(sb[, 2:3]))), tolerance = 1e-8)
  expect_equal(res$se, as.vector(t(as.matrix(sb[, 4:5]))), tolerance = 1e-8)
  expect_equal(res$ci_low, as.vector(t(as.matrix(sb[, 6:7]))), tolerance = 1e-8)
  expect_equal(res$ci_high, as.vector(t(as.matrix(sb[, 8:9]))), tolerance = 1e-8)
})

test_that("quantiles of apiclus1 (clusters, fpc) match svyquantile per domain", {
  skip_if_not_installed("survey")
  api <- api_data()
  d <- api$apiclus1
  d$y_na <- d$api00
  d$y_na[c(3, 50, 51, 100)] <- NA
  sdes <- survey::svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = d)
  udes <- svy_design(d, weights = stats::weights(sdes), cluster = ~dnum, fpc = ~fpc)
  probs <- c(0, 0.25, 0.5, 0.75, 1)
  n <- 0L
  for (y in c("api00", "y_na", "enroll")) for (dom in list(NULL, "stype"))
    n <- n + check_quantiles(sdes, udes, y, dom, probs, level = if (y == "enroll") 0.9 else 0.95)
  expect_gt(n, 40L)
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
  udes <- svy_design(d, weights = stats::weights(sdes), strata = ~st, cluster = ~psu, fpc = ~N)
  probs <- c(0, 0.2, 0.5, 0.8, 1)
  n <- check_quantiles(sdes, udes, "yn", "dom", probs)
  expect_gt(n, 20L)
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

test_that("quantiles of a data frame (rows as PSUs) match svydesign(ids = ~1)", {
  skip_if_not_installed("survey")
  set.seed(3)
  d <- data.frame(y = round(stats::rexp(300, 1 / 20), 1), g = sample(c("a", "b", "c"), 300, TRUE),
                  w = stats::runif(300, 0.5, 4))
  d$y[c(5, 9)] <- NA
  d$w[c(11, 12)] <- 0                                 # rows of weight 0
  sdes <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  udes <- umfrage:::rows_design(d, stats::weights(sdes))
  n <- 0L
  for (dom in list(NULL, "g")) n <- n + check_quantiles(sdes, udes, "y", dom, c(0.05, 0.5, 0.95))
  expect_gt(n, 15L)
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

test_that("a weighted median on ties sits on the tie, however the weights are stored", {
  # 50 rows of weight 15.1: the 0.1-quantile is the 5th value (its share is
  # 0.1 exactly); survey's floating-point comparison gives the 6th when the
  # weights are stored as 1 / (1 / 15.1)
  y <- as.double(1:50)
  des <- umfrage:::rows_design(data.frame(y = y), NULL)
  for (w in list(rep(15.1, 50), rep(1 / (1 / 15.1), 50), rep(1, 50)))
    expect_equal(dq(y, w, rep(1L, 50), 1L, c(0.1, 0.5), des)$estimate, c(5, 25))
})
