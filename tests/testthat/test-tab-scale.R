# tab(se = FALSE) defers the weights' scale (scale_proven() in tab.R): the
# pass runs on the weights as they are, and only where the table's sums do
# not prove that weight_scale() would leave them unscaled are the weights
# checked (and, if they needed a scale, the blocks computed again). Each
# case is checked against base R sums, and against the number of passes
# over the weights that weight_scale() made.

scale_calls <- function(expr) {
  cnt <- new.env()
  cnt$n <- 0L
  count <- function() cnt$n <- cnt$n + 1L
  suppressMessages(trace("weight_scale", where = asNamespace("umfrage"), print = FALSE,
                         tracer = bquote(.(count)())))
  on.exit(suppressMessages(untrace("weight_scale", where = asNamespace("umfrage"))))
  value <- force(expr)
  list(value = value, n = cnt$n)
}

scale_data <- function(n = 3000L, seed = 7L) {
  set.seed(seed)
  data.frame(a = factor(sample(c("x", "y", "z"), n, TRUE, prob = c(0.5, 0.3, 0.2))),
             b = factor(sample(c("p", "q"), n, TRUE)),
             g = factor(sample(c("g1", "g2", "g3", "g4"), n, TRUE)),
             w = stats::rlnorm(n))
}

# n, sum of w and n_eff per (a, b, g) cell from base R, for the rows where
# a and g are given, in the order of the long form's cells
base_cells <- function(d, cc) {
  ok <- !is.na(d$a) & !is.na(d$g)
  key <- paste(d$a, d$b, d$g)[ok]
  sw <- tapply(d$w[ok], key, sum)
  # sum of w^2 on the scale of the largest weight, so that it neither
  # overflows nor underflows (n_eff does not depend on the scale)
  m <- max(d$w[ok])
  sw2 <- tapply((d$w[ok] / m)^2, key, sum)
  nn <- tapply(rep(1, sum(ok)), key, sum)
  k <- paste(cc$row, cc$col, cc$g)
  list(n = as.vector(nn[k]), n_w = as.vector(sw[k]),
       n_eff = as.vector((sw[k] / m)^2 / sw2[k]))
}

check_scaled <- function(d, expect_passes) {
  r <- scale_calls(tab(d, "a", cols = "b", by = "g", weights = "w", se = FALSE))
  expect_identical(r$n, expect_passes)
  cc <- as.data.frame(r$value)
  cc <- cc[cc$col_var == "b", ]
  ref <- base_cells(d, cc)
  expect_identical(cc$n, ref$n)
  expect_lt(rel_diff(cc$n_w, ref$n_w), 1e-12)
  expect_lt(rel_diff(cc$n_eff, ref$n_eff), 1e-12)
  # percents within columns, from the same base R sums
  pct <- 100 * ref$n_w / ave(ref$n_w, cc$col, cc$g, FUN = sum)
  expect_lt(rel_diff(cc$pct, pct), 1e-12)
  invisible(r$value)
}

test_that("ordinary weights: the sums prove the scale and the weights are read once", {
  d <- scale_data()
  check_scaled(d, 0L)
  # with inference the scale is taken up front, as before
  r <- scale_calls(tab(d, "a", cols = "b", by = "g", weights = "w"))
  expect_identical(r$n, 1L)
})

test_that("weights on any scale give the same table (deferred, checked or rescaled)", {
  d <- scale_data()
  base <- as.data.frame(tab(d, "a", cols = "b", by = "g", weights = "w", se = FALSE))
  # within 2^-96 and 2^96: proven from the sums; beyond: checked and rescaled
  # 2^-90: the largest cell sum m and m / n lie within 2^-96 and 2^96,
  # which proves it; 2^90: m is beyond 2^96; 1e160 and beyond: the sums of
  # w^2 overflow; 1e-300: m / n is below 2^-96
  ws <- get("weight_scale", asNamespace("umfrage"))
  for (k in c(2^-90, 2^90, 1e160, 1e-300, 1e300 / max(d$w) / 4)) {
    dk <- d
    dk$w <- d$w * k
    passes <- if (k == 2^-90) 0L else 1L
    # a proven scale is the one weight_scale() gives
    if (passes == 0L) expect_identical(ws(dk$w)$f, 1)
    tk <- as.data.frame(check_scaled(dk, passes))
    expect_lt(rel_diff(tk$n_w / k, base$n_w), 1e-12)
    expect_identical(tk$n, base$n)
    expect_lt(rel_diff(tk$n_eff, base$n_eff), 1e-12)
    expect_lt(rel_diff(tk$pct, base$pct), 1e-12)
  }
})

test_that("tiny and huge equal weights: n_eff is the count (w^2 neither underflows nor overflows)", {
  d <- scale_data(600L)
  for (k in c(1e-300, 1e300 / 600)) {
    d$w <- rep(k, nrow(d))
    cc <- as.data.frame(check_scaled(d, 1L))
    expect_equal(cc$n_eff, cc$n, tolerance = 1e-13)
    expect_equal(cc$n_w, cc$n * k, tolerance = 1e-13)
  }
})

test_that("missing row or by values: the weights are checked once, the blocks not recomputed", {
  d <- scale_data()
  d$a[c(3, 50, 700)] <- NA
  check_scaled(d, 1L)
  d2 <- scale_data()
  d2$g[c(8, 9)] <- NA
  check_scaled(d2, 1L)
  # missing values of the column variable leave the Total column whole
  d3 <- scale_data()
  d3$b[c(1, 2)] <- NA
  r <- scale_calls(tab(d3, "a", cols = "b", by = "g", weights = "w", se = FALSE))
  expect_identical(r$n, 0L)
  # na = "level": the missing rows are a level, so every row is in a cell
  r <- scale_calls(tab(d, "a", cols = "b", by = "g", weights = "w", se = FALSE, na = "level"))
  expect_identical(r$n, 0L)
  cc <- as.data.frame(r$value)
  expect_equal(sum(cc$n[cc$col_var == "Total"]), nrow(d))
  expect_lt(rel_diff(sum(cc$n_w[cc$col_var == "Total"]), sum(d$w)), 1e-13)
})

test_that("all-zero weights still stop with their message; a weight of 0 among others is fine", {
  d <- scale_data(200L)
  d$w <- 0
  expect_error(tab(d, "a", weights = "w", se = FALSE), "'weights' are all zero")
  d <- scale_data(200L)
  d$w[1:20] <- 0
  check_scaled(d, 0L)
})

test_that("numeric rows and MR sets take the scale up front or check it", {
  d <- scale_data(500L)
  d$y <- stats::rnorm(nrow(d))
  d$w <- d$w * 1e-300
  r <- scale_calls(tab(d, rows = list(mean_of("y")), cols = "b", weights = "w", se = FALSE))
  expect_identical(r$n, 1L)
  cc <- as.data.frame(r$value)
  m <- tapply(d$y * d$w, d$b, sum) / tapply(d$w, d$b, sum)
  got <- cc$estimate[cc$col_var == "b"]
  expect_lt(rel_diff(got, as.vector(m[as.character(cc$col[cc$col_var == "b"])])), 1e-12)
  # an MR set proves nothing (a row may lie in no cell): checked once
  d$m1 <- stats::rbinom(nrow(d), 1, 0.4)
  d$m2 <- stats::rbinom(nrow(d), 1, 0.5)
  r <- scale_calls(tab(d, mr_set(d, c("m1", "m2"), label = "M"), cols = "b", weights = "w", se = FALSE))
  expect_identical(r$n, 1L)
  cc <- as.data.frame(r$value)
  cc <- cc[cc$col_var == "b" & cc$row == "m1", ]
  ref <- tapply(d$w * (d$m1 == 1), d$b, sum)
  expect_lt(rel_diff(cc$n_w, as.vector(ref[as.character(cc$col)])), 1e-12)
})
