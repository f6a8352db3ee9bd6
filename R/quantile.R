# Domain quantiles with Woodruff confidence intervals: the engine of tab()'s
# quantile_of() rows. The passes over rows are in src/quantile.c.
#
# Paragraph for tab()'s documentation (section "Quantiles"):
#
#   Quantiles and their intervals are as `survey::svyquantile(qrule =
#   "math", ci = TRUE)` in survey 4.1.1 computes them (its defaults,
#   `interval.type = "mean"`), per banner column as `svyby(~y, ~col,
#   design, svyquantile, ...)`, to the last bit: survey's arithmetic is
#   reproduced, including its floating-point decisions. The estimate of the
#   p-quantile: with the column's rows of positive weight and non-missing y
#   (as `na.rm = TRUE`) sorted by y (ties in row order), their cumulative
#   weights `cumw` and total `W`, `pos` is the last row with `cumw <= p * W`
#   (the first row if there is none) and the quantile is `y[pos]` if the
#   share `cumw[pos] / W` equals p, else the next value `y[pos + 1]` (no
#   interpolation). This is the smallest value whose weighted share of rows
#   at or below it reaches p, including two places where survey's rule
#   departs from that: where p times the column's weight is below the
#   weight of its smallest value (e.g. p = 0, or a low interval end in a
#   small column) the result is the second smallest value; and where a
#   share equals p in exact arithmetic (equal weights, p n an integer) the
#   floating-point comparisons decide, usually for the next value. The
#   weights are taken as survey holds them, 1 / (1 / w). The interval is
#   Woodruff's: the share F of rows at or below the estimate gets the
#   interval F +/- t * SE(F), with the t quantile on the column's degrees of
#   freedom (PSUs with rows used minus their strata, as percents) and SE(F)
#   that of a weighted mean of the indicator 1{y <= estimate} (calibration-
#   adjusted for calibrated weights); the interval's ends are the quantiles
#   at its two ends, under the same rule. The SE is derived from the
#   interval as (upper - lower) / (2 t), as survey does. Where F's lower end
#   is below 0 or its upper end above 1, survey gives NaN for that limit
#   and the SE; here NA with the note "interval beyond [0, 1]" (this
#   happens, e.g., for the upper limit of a high quantile at the column's
#   largest value, where F is 1 up to a rounding that survey's SE turns
#   into an upper end just above 1). Cost: one sort of y for the
#   whole table (R's radix order(), about 0.1 s at 1e6 rows), then per column
#   variable a few passes over the rows, whatever the number of columns and
#   probabilities.

#' Quantiles of y in domains, with Woodruff intervals (internal)
#'
#' For each domain of each domain system and each probability in `probs`:
#' the weighted quantile of `y` and its confidence interval, SE and degrees
#' of freedom, as `survey::svyquantile(~y, subset(design, domain == d),
#' quantiles = probs, ci = TRUE, na.rm = TRUE)` in survey 4.1.1 with its
#' defaults, which is what `svyby(~y, ~domain, design, svyquantile, ...)`
#' computes per domain.
#'
#' The rule, as `svyquantile(qrule = "math", ci = TRUE)` in survey 4.1.1
#' computes it (`survey:::qrule_math()`, `qs()`, `last()`, `woodruffCI()`),
#' including its floating-point decisions, bit for bit:
#' * Weights as survey holds them: `ws = 1 / (1 / w)` (svydesign() stores
#'   `prob = 1 / w`, weights() returns `1 / prob`; this differs from `w` in
#'   the last bit for many values, e.g. 50 of apistrat's `pw`, and decides
#'   some ties). Rows of weight 0 are dropped.
#' * Estimate (`qrule = "math"`): the domain's rows with non-missing y
#'   sorted by y (R's stable order(): ties in row order), `cumw =
#'   cumsum(ws)` (long double accumulation, each value stored as double, as
#'   R's cumsum()), `W = sum(ws)` in row order (long double, as sum()),
#'   `pos` = the last row with `cumw <= p * W`, or 1 if there is none;
#'   the estimate is `y[pos]` if `p - cumw[pos] / W == 0`, else `y[pos + 1]`
#'   (`y[pos]` at the last row). Two consequences, both survey's: (a) where
#'   `p * W` is below the first row's weight (e.g. `p = 0`) the estimate is
#'   the domain's second smallest value; (b) at a share that equals p in
#'   exact arithmetic (equal weights, `p * n` an integer) the double
#'   comparisons decide, usually for the next value.
#' * Interval (`interval.type = "mean"`, Woodruff): `F` = survey's
#'   `svymean(x <= estimate)` in the domain, `colSums(z * ws / W)` (long
#'   double, row order), `SE(F)` its design-based SE (a domain mean: rows
#'   outside the domain, and rows with missing y, stay in the design with
#'   weight 0), `[F_lo, F_hi] = F + SE(F) * qt(c(a, 1 - a), df)` with
#'   `a = (1 - (1 - alpha)) / 2`, `alpha = 1 - level` (survey's
#'   `confint(level = 1 - alpha)`); the limits are the estimate's rule at
#'   `F_lo` and `F_hi`: NA where `F_lo < 0` or `F_hi > 1` (survey's NaN),
#'   with the note "interval beyond [0, 1]". Where every row of the domain
#'   is at or below the estimate, survey's `F` is 1 up to an ulp or two and
#'   its SE the residue `|1 - F|` times the SE of the domain's weight share
#'   (about 1e-16, not 0): so is `SE(F)` here (from the hook's attribute
#'   "se_count", the SE of the domain's weight total; 0 without it), and
#'   survey's NaN upper limit there is reproduced.
#' * `df` = the domain's degrees of freedom, as `survey::degf()` of the
#'   domain's design after `na.rm`: PSUs with rows of positive weight and
#'   non-missing y in the domain, minus their strata (rows as PSUs: such
#'   rows minus their strata) -- [domain_df()]. `df < 1` gives NA limits.
#' * `se = (ci_high - ci_low) / (2 * qt(1 - alpha / 2, df))`, as survey derives
#'   it (NA where a limit is NA).
#'
#' Calibrated weights: survey's svyquantile() on a calibrated design takes
#' `SE(F)` from `svymean()` on that design, i.e. calibration-adjusted. The
#' caller supplies that through `se_fun`; the default treats the weights as
#' fixed.
#'
#' Cost: one radix `order(y)` of all rows (shared by every domain system and
#' probability), then per domain system five passes over the rows, each
#' O(n) plus O(domains x probabilities): totals, a walk in y order for the
#' estimates, the indicator z, the per-(domain, design unit) sums of `se_fun`,
#' and a walk for the interval limits.
#'
#' @param y Numeric vector (the analysis variable); NA rows are left out.
#' @param w Weights (double, length of y), or NULL (all 1).
#' @param domain Integer domain codes per row (1..ndom, NA = in no domain),
#'   or a list of such vectors (domain systems, e.g. a column variable's
#'   columns crossed with layers, and the Total); `NULL` elements mean one
#'   domain holding all rows.
#' @param ndom Number of domains (per system: an integer vector as long as
#'   the list).
#' @param probs Probabilities in [0, 1].
#' @param des The design (svy_design() or rows_design()).
#' @param level Confidence level.
#' @param se_fun NULL, or `function(z, domain, ndom)` returning an ndom x
#'   ncol(z) matrix: the SE of the weighted mean of each column of z (rows x
#'   probabilities) in each domain, where `domain` is NA for rows outside
#'   every domain or with missing y (such rows stay in the design). Default:
#'   [domain_mean_se()] (weights fixed). The matrix may carry an attribute
#'   "se_count" (ndom): the SE of each domain's weight total (for survey's
#'   SE residue where the indicator is constant in the domain); replicate
#'   designs: attributes "cdf" (ndom x k, F as the design computes it) and
#'   "df" (ndom) replace the engine's.
#' @param what How to name `y` in error messages.
#' @return A data frame, one row per (system, domain, prob), prob fastest:
#'   `system`, `domain`, `prob`, `estimate`, `se`, `ci_low`, `ci_high`, `df`,
#'   `n` (rows with non-missing y in the domain), `n_w` (their weight),
#'   `cdf` (F), `se_cdf` (SE(F)), `note` (NA, or why the estimate or the
#'   interval is NA: "no rows", "df < 1", "interval beyond [0, 1]").
#' @keywords internal
#' @noRd
domain_quantiles <- function(y, w, domain, ndom, probs, des, level = 0.95,
                             se_fun = NULL, what = "'y'") {
  yd <- quantile_y(y, what)
  probs <- check_probs(probs)
  if (!is.numeric(level) || length(level) != 1L || is.na(level) || level <= 0 || level >= 1)
    stopf("'level' must be a single number between 0 and 1 (exclusive)")
  n <- length(yd)
  w <- if (is.null(w)) rep(1, n) else as.double(w)
  if (length(w) != n) stopf("'w' must have one weight per row of %s (%d), not %d", what, n, length(w))
  systems <- if (is.list(domain)) domain else list(domain)
  ndom <- as.integer(ndom)
  if (length(ndom) != length(systems) || anyNA(ndom) || any(ndom < 0L))
    stopf("'ndom' must give one domain count per domain system")
  if (is.null(se_fun)) se_fun <- domain_mean_se(des, w)
  # one order of all rows serves every domain, system and probability: the
  # walks read y, w and the domain codes as sorted copies (rows with y)
  ord <- order(yd, method = "radix", na.last = NA)
  srt <- list(ord = ord, y = yd[ord], w = w[ord])
  dl <- design_layer(des)
  unit <- if (is.null(dl)) NULL else as.integer(dl$desc[[3L]][[1L]])
  nunit <- if (is.null(dl)) 1L else as.integer(dl$nd)
  out <- lapply(seq_along(systems), function(s) {
    dom <- systems[[s]]
    nd <- ndom[s]
    if (is.null(dom)) {
      dom <- rep(1L, n)
      nd <- 1L
    }
    if (!is.numeric(dom) || length(dom) != n)
      stopf("'domain' must hold one integer code per row of %s", what)
    dom <- as.integer(dom)
    res <- quantile_system(yd, w, dom, nd, probs, des, level, se_fun, srt, unit, nunit)
    if (nrow(res)) res$system <- s
    res
  })
  out <- do.call(rbind, out)
  out[c("system", setdiff(names(out), "system"))]
}

# One domain system: see domain_quantiles().
quantile_system <- function(yd, w, dom, nd, probs, des, level, se_fun, srt, unit, nunit) {
  P <- length(probs)
  prep <- .Call(C_qnt_prep, yd, w, dom, nd, unit, nunit)
  W <- prep$n_w
  Ws <- prep$W   # the sum of survey's weights 1 / (1 / w), as its qs() has it
  ds <- dom[srt$ord]
  est <- .Call(C_qnt_rule, srt$y, srt$w, ds, nd, Ws, matrix(probs, nd, P, byrow = TRUE))
  # rows with missing y leave the domain (their PSUs stay in the design)
  dom_y <- dom
  if (anyNA(yd)) dom_y[is.na(yd)] <- NA_integer_
  z <- .Call(C_qnt_indicator, yd, w, dom_y, nd, est, Ws)
  # F as survey's svymean(x <= q) computes it, to the last bit
  cdf <- attr(z, "sum")
  cdf[!(Ws > 0)] <- NA_real_
  const <- attr(z, "all")
  attr(z, "sum") <- NULL
  attr(z, "all") <- NULL
  se_cdf <- se_fun(z, dom_y, nd)
  if (!is.matrix(se_cdf) || !identical(dim(se_cdf), c(nd, P)))
    stopf("internal: 'se_fun' must return a %d x %d matrix", nd, P)
  # replicate designs: the hook's F (svymean() of an svyrep.design sums
  # w z and w alike, so F is 1 exactly where z is) and df (degf())
  if (!is.null(attr(se_cdf, "cdf"))) cdf <- attr(se_cdf, "cdf")
  # every row at or below q: the indicator is constant in the domain. Its
  # mean F is 1 in exact arithmetic but survey's sum of w / W may come out
  # 1 -/+ an ulp or two, delta = 1 - F, and its svymean() then centres the
  # rows on F, so that its SE is |delta| times the SE of the domain's
  # weight share sum(w) / W, about 1e-16 rather than 0: with it, F's upper
  # end can pass 1, and survey gives NaN for that limit (and the SE). Here
  # the same residue, from the SE of the domain's weight total (the hook's
  # attribute "se_count"; 0 without it).
  se_count <- attr(se_cdf, "se_count")
  resid <- if (is.null(se_count)) matrix(0, nd, P) else abs(1 - cdf) * matrix(se_count, nd, P) / Ws
  fix <- const & !is.na(cdf)
  se_cdf[fix] <- resid[fix]
  pos <- matrix(prep$pos, nd, nunit)
  df <- attr(se_cdf, "df")   # replicate designs
  if (is.null(df)) df <- vapply(seq_len(nd), function(d) as.double(domain_df(pos[d, ], des)), 0)
  # Woodruff: the interval of F, as survey's confint(svymean(), df = df)
  # with level = 1 - alpha, alpha = 1 - level (svyquantile(alpha = ))
  alpha <- 1 - level
  a <- (1 - (1 - alpha)) / 2
  okdf <- is.finite(df) & df >= 1
  dfm <- matrix(df, nd, P)
  fac_lo <- ifelse(okdf, suppressWarnings(stats::qt(a, pmax(df, 1))), NA_real_)
  fac_hi <- ifelse(okdf, suppressWarnings(stats::qt(1 - a, pmax(df, 1))), NA_real_)
  crit <- ifelse(okdf, suppressWarnings(stats::qt(1 - alpha / 2, pmax(df, 1))), NA_real_)
  f_lo <- cdf + se_cdf * fac_lo
  f_hi <- cdf + se_cdf * fac_hi
  # survey: NaN for a limit whose F is beyond [0, 1], and so for the SE
  beyond <- (!is.na(f_lo) & f_lo < 0) | (!is.na(f_hi) & f_hi > 1)
  f_lo[is.na(f_lo) | f_lo < 0] <- NA_real_
  f_hi[is.na(f_hi) | f_hi > 1] <- NA_real_
  lim <- .Call(C_qnt_rule, srt$y, srt$w, ds, nd, Ws, cbind(f_lo, f_hi))
  lo <- lim[, seq_len(P), drop = FALSE]
  hi <- lim[, P + seq_len(P), drop = FALSE]
  se <- (hi - lo) / (2 * crit)
  empty <- !(W > 0)
  note <- matrix(NA_character_, nd, P)
  note[beyond] <- "interval beyond [0, 1]"
  note[!okdf, ] <- "df < 1"
  note[empty, ] <- "no rows"
  # prob fastest within domain
  tr <- function(m) as.vector(t(m))
  data.frame(domain = rep(seq_len(nd), each = P), prob = rep(probs, nd),
             estimate = tr(est), se = tr(se), ci_low = tr(lo), ci_high = tr(hi),
             df = rep(df, each = P), n = rep(prep$n, each = P), n_w = rep(W, each = P),
             cdf = tr(cdf), se_cdf = tr(se_cdf), note = tr(note),
             stringsAsFactors = FALSE)
}

#' SE of domain means of per-row variables, weights fixed (internal)
#'
#' Returns `function(z, domain, ndom)`: for the columns of `z` (rows x k),
#' the ndom x k matrix of design-based SEs of their weighted means in each
#' domain (rows with `domain` NA contribute nothing but stay in the design),
#' by linearisation of the ratio `sum(w z) / sum(w)` through [z_cov()]: per
#' domain the entries (z_1, ..., z_k, 1) and their totals per design unit
#' (PSU, or stratum of row PSUs with the per-stratum cross products). This
#' is `svymean(~z, subset(design, domain == d))`'s SE for an uncalibrated
#' design. The result carries the attribute "se_count": per domain the SE
#' of its weight total (the entry 1), for survey's SE residue where an
#' indicator is constant in the domain (domain_quantiles()). A
#' calibration-adjusted version has the same signature.
#' @noRd
domain_mean_se <- function(des, w) {
  dl <- design_layer(des)
  du <- design_units(des)
  unit <- if (is.null(dl)) NULL else as.integer(dl$desc[[3L]][[1L]])
  nunit <- if (is.null(dl)) 1L else as.integer(dl$nd)
  w <- as.double(w)
  function(z, domain, ndom) {
    k <- ncol(z)
    A <- k + 1L
    xprod <- !isTRUE(des$clustered)
    sums <- .Call(C_qnt_unit_sums, z, w, domain, as.integer(ndom), unit, nunit, xprod)
    s1 <- array(sums$s1, c(A, nunit, ndom))
    Qa <- if (xprod) array(sums$Q, c(A, A, nunit, ndom))
    out <- matrix(NA_real_, ndom, k)
    se_count <- rep(NA_real_, ndom)
    for (d in seq_len(ndom)) {
      sd <- matrix(s1[, , d], A, nunit)
      tot <- rowSums(sd)
      Wd <- tot[A]
      if (!(Wd > 0)) next
      Q <- if (xprod) lapply(seq_len(nunit), function(h) matrix(Qa[, , h, d], A, A))
      Sigma <- z_cov(sd, NULL, Q, des, du)
      se_count[d] <- sqrt(max(Sigma[A, A], 0))
      m <- tot[seq_len(k)] / Wd
      for (j in seq_len(k)) {
        idx <- c(j, A)
        g <- c(1, -m[j]) / Wd
        v <- sum(g * (Sigma[idx, idx, drop = FALSE] %*% g))
        out[d, j] <- sqrt(max(v, 0))
      }
    }
    attr(out, "se_count") <- se_count
    out
  }
}

# y of a quantile row as a double vector, or an error naming it.
quantile_y <- function(y, what = "'y'") {
  if (is.factor(y) || !(is.numeric(y) || (is_labelled(y) && is.numeric(unclass(y)))))
    stopf("%s must be numeric for quantiles, not %s", what, obj_desc(y))
  yd <- as.double(unclass(y))
  if (!length(yd)) stopf("%s has no rows", what)
  if (all(is.na(yd))) stopf("%s has only missing values", what)
  if (any(is.infinite(yd))) stopf("%s holds infinite values", what)
  yd
}

# probs of quantile_of(): numeric in [0, 1], no NA, not empty.
check_probs <- function(probs, arg = "probs") {
  if (!is.numeric(probs) || !length(probs))
    stopf("'%s' must be a numeric vector of probabilities in [0, 1]", arg)
  if (anyNA(probs)) stopf("'%s' must not hold NA", arg)
  bad <- probs < 0 | probs > 1
  if (any(bad))
    stopf("'%s' must lie in [0, 1]; %s does not", arg, format(probs[which(bad)[1L]]))
  if (anyDuplicated(probs)) stopf("'%s' holds duplicates", arg)
  as.double(probs)
}
