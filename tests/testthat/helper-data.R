# Simulated samples with skewed margins, shared by the weighting tests.
sim_sample <- function(n, seed = 1, weights = FALSE) {
  set.seed(seed)
  d <- data.frame(
    sex = sample(c("f", "m"), n, TRUE, prob = c(0.6, 0.4)),
    age = factor(sample(c("18-29", "30-44", "45-64", "65+"), n, TRUE,
                        prob = c(0.1, 0.2, 0.4, 0.3))),
    region = sample(1:5, n, TRUE, prob = c(0.3, 0.25, 0.2, 0.15, 0.1)),
    urban = sample(c(TRUE, FALSE), n, TRUE, prob = c(0.7, 0.3)),
    stringsAsFactors = FALSE
  )
  if (weights) d$w0 <- stats::rexp(n) + 0.2
  d
}

sim_targets <- function() {
  list(sex = c(f = 0.51, m = 0.49),
       age = c("18-29" = 0.18, "30-44" = 0.25, "45-64" = 0.34, "65+" = 0.23),
       region = c("1" = 0.2, "2" = 0.2, "3" = 0.2, "4" = 0.2, "5" = 0.2),
       urban = c("TRUE" = 0.6, "FALSE" = 0.4))
}

# survey::rake on the same data and margins, converged tightly.
survey_rake <- function(d, targets, w0 = NULL, total = NULL) {
  if (is.null(w0)) w0 <- rep(1, nrow(d))
  d$.w0 <- w0
  T <- if (is.null(total)) sum(w0) else total
  des <- survey::svydesign(ids = ~1, weights = ~.w0, data = d)
  pop <- lapply(names(targets), function(v) {
    df <- data.frame(names(targets[[v]]), Freq = unname(targets[[v]]) / sum(targets[[v]]) * T,
                     stringsAsFactors = FALSE)
    names(df)[1] <- v
    if (is.numeric(d[[v]])) df[[v]] <- as.numeric(df[[v]])
    if (is.logical(d[[v]])) df[[v]] <- as.logical(df[[v]])
    df
  })
  fml <- lapply(names(targets), function(v) stats::as.formula(paste("~", v)))
  r <- survey::rake(des, fml, pop, control = list(maxit = 500, epsilon = 1e-12 * T))
  as.numeric(stats::weights(r))
}

rel_diff <- function(a, b) max(abs(as.numeric(a) - as.numeric(b)) / pmax(abs(as.numeric(b)), 1e-300))

# Weighted margin of one variable, via base R.
wmargin <- function(w, x) tapply(as.numeric(w), x, sum)
