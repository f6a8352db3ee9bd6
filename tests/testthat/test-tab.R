test_that("one-way counts and percents equal table() and prop.table()", {
  d <- sim_tab_data(1000, seed = 1)
  t <- tab(d, "region")
  c1 <- cells_of(t)
  ref <- table(d$region)
  expect_equal(c1$row, levels(d$region))   # declared levels, empty one kept
  expect_equal(c1$n, as.vector(ref))
  expect_equal(c1$n_w, as.vector(ref))
  expect_equal(c1$pct, 100 * as.vector(prop.table(ref)), tolerance = 1e-12)
  expect_equal(c1$col_var, rep("Total", 5))
})

test_that("weighted two-way tables equal xtabs() and prop.table()", {
  d <- sim_tab_data(3000, seed = 2)
  for (p in c("col", "row", "total")) {
    t <- tab(d, "region", cols = "sex", weights = "w", percent = p)
    c2 <- cells_of(t, col_var = "sex")
    xw <- xtabs(w ~ region + sex, d)
    xn <- xtabs(~ region + sex, d)
    key <- cbind(c2$row, c2$col)
    expect_equal(c2$n_w, xw[key], tolerance = 1e-12)
    expect_equal(c2$n, as.vector(xn[key]))
    marg <- switch(p, col = 2, row = 1, total = NULL)
    pr <- 100 * prop.table(xw, marg)
    ok <- !is.na(c2$pct)
    expect_equal(c2$pct[ok], pr[key][ok], tolerance = 1e-12)
    # the empty level has no row percent
    if (p == "row") expect_true(all(is.na(c2$pct[c2$row == "Island"])))
  }
  # effective n per cell: (sum w)^2 / sum w^2
  t <- tab(d, "region", cols = "sex", weights = d$w)
  c2 <- cells_of(t, col_var = "sex")
  s2 <- xtabs(I(w^2) ~ region + sex, d)
  key <- cbind(c2$row, c2$col)
  ok <- c2$n > 0
  expect_equal(c2$n_eff[ok], (c2$n_w^2 / s2[key])[ok], tolerance = 1e-12)
  # Total column = row margin, and column bases = column totals
  tot <- cells_of(t, col_var = "Total")
  expect_equal(tot$n_w, as.vector(tapply(d$w, d$region, sum, default = 0)), tolerance = 1e-12)
  b <- t$bases[t$bases$col_var == "sex", ]
  expect_equal(b$base_w, as.vector(tapply(d$w, d$sex, sum)), tolerance = 1e-12)
})

test_that("N-way tables with by layers equal xtabs()", {
  d <- sim_tab_data(4000, seed = 3)
  t <- tab(d, "region", cols = c("sex", "smoker"), by = ~ age, weights = "w")
  for (cv in c("sex", "smoker")) {
    cc <- cells_of(t, col_var = cv)
    x3 <- xtabs(stats::as.formula(paste("w ~ region +", cv, "+ age")), d)
    key <- cbind(cc$row, cc$col, cc$age)
    expect_equal(cc$n_w, x3[key], tolerance = 1e-12)
    pr <- 100 * prop.table(x3, c(2, 3))
    expect_equal(cc$pct, pr[key], tolerance = 1e-12)
  }
  expect_equal(sort(unique(t$cells$age)), c("1", "2", "3"))
  # several row variables stacked
  t2 <- tab(d, c("region", "sex"), cols = "smoker")
  expect_equal(unique(t2$cells$row_var), c("region", "sex"))
  cs <- cells_of(t2, "sex", "smoker")
  expect_equal(cs$n, as.vector(table(d$sex, d$smoker)[cbind(cs$row, cs$col)]))
})

test_that("NA: dropped by default, a visible level on request", {
  d <- sim_tab_data(800, seed = 4)
  d$sex[1:30] <- NA
  d$region[31:40] <- NA
  t <- tab(d, "region", cols = "sex", weights = "w")
  cc <- cells_of(t, col_var = "sex")
  x <- xtabs(w ~ region + sex, d)
  expect_equal(cc$n_w, x[cbind(cc$row, cc$col)], tolerance = 1e-12)
  # the Total column keeps rows whose column variable is NA
  tot <- cells_of(t, col_var = "Total")
  expect_equal(tot$n_w, as.vector(tapply(d$w, d$region, sum, default = 0)), tolerance = 1e-12)
  tl <- tab(d, "region", cols = "sex", weights = "w", na = "level")
  cl <- cells_of(tl, col_var = "sex")
  expect_true("(missing)" %in% cl$col)
  expect_true("(missing)" %in% cl$row)
  xl <- xtabs(w ~ region + sex, transform(d, region = addNA(region), sex = addNA(factor(sex))))
  rn <- ifelse(cl$row == "(missing)", NA, cl$row)
  cn <- ifelse(cl$col == "(missing)", NA, cl$col)
  ref <- mapply(function(r, c) sum(d$w[(if (is.na(r)) is.na(d$region) else d$region %in% r) &
                                          (if (is.na(c)) is.na(d$sex) else d$sex %in% c)]), rn, cn)
  expect_equal(cl$n_w, unname(ref), tolerance = 1e-12)
  # no NA, no (missing) level
  t0 <- tab(sim_tab_data(100, 5), "sex", na = "level")
  expect_false("(missing)" %in% t0$cells$row)
  expect_equal(t$skipped$col_na, 30)
  expect_equal(t$skipped$row_na, 10)
})

test_that("labelled input gives the same table as the factor", {
  d <- sim_tab_data(600, seed = 6)
  lab <- structure(d$age, labels = c("young" = 1L, "middle" = 2L, "old" = 3L),
                   label = "Age group", class = c("haven_labelled", "vctrs_vctr", "integer"))
  fac <- factor(d$age, levels = 1:3, labels = c("young", "middle", "old"))
  d$age_l <- lab
  d$age_f <- fac
  tl <- cells_of(tab(d, "age_l", cols = "sex", weights = "w"))
  tf <- cells_of(tab(d, "age_f", cols = "sex", weights = "w"))
  # the same cells; only the row variable's name and label differ
  drop <- c("row_var", "row_var_label")
  expect_equal(tl[setdiff(names(tl), drop)], tf[setdiff(names(tf), drop)])
  expect_equal(tab(d, "age_l")$rows[[1]]$label, "Age group")
  # character and logical columns
  t <- tab(d, "smoker", cols = "sex")
  expect_equal(unique(t$cells$row), c("FALSE", "TRUE"))
})

test_that("threads do not change the table", {
  d <- sim_tab_data(60000, seed = 7)
  old <- umfrage_threads(1)
  on.exit(umfrage_threads(old))
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit(umfrage:::threads_min_rows(old_rows), add = TRUE)
  a <- as.data.frame(tab(d, "region", cols = c("sex", "smoker"), by = "age", weights = "w"))
  umfrage_threads(2)
  b <- as.data.frame(tab(d, "region", cols = c("sex", "smoker"), by = "age", weights = "w"))
  expect_equal(a$n, b$n)
  expect_equal(a$n_w, b$n_w, tolerance = 1e-12)
  expect_equal(a$pct, b$pct, tolerance = 1e-12)
})

test_that("print, format, summary, knit_print and plot work", {
  d <- sim_tab_data(300, seed = 8)
  t <- tab(d, "region", cols = c("sex", "smoker"), weights = "w")
  out <- capture.output(print(t))
  expect_match(out[1], "region  \\(column %, weighted\\)")
  expect_true(any(grepl("^Base \\(n\\)", out)))
  expect_true(any(grepl("^Base \\(weighted\\)", out)))
  expect_true(any(grepl("%", out[grepl("^North", out)])))
  expect_identical(format(t), out)
  s <- summary(t)
  expect_s3_class(s, "summary.umfrage_tab")
  expect_equal(s$bases$base_n, 300)
  expect_output(print(s), "umfrage table")
  skip_if_not_installed("knitr")
  k <- knitr::knit_print(t)
  expect_s3_class(k, "knit_asis")
  expect_match(k, "Table: region")
  pdf(NULL)
  on.exit(dev.off(), add = TRUE)
  expect_silent(plot(t))
  expect_silent(plot(tab(d, "region")))
  expect_silent(plot(t, col_var = "smoker", stacked = TRUE, horiz = TRUE))
  # the caller's labels override the defaults; the data plotted come back
  p <- plot(t, xlab = "Region", ylab = "Anteil", las = 2)
  expect_equal(nrow(p), length(unique(as.data.frame(t)$row)) * 2L)
  expect_silent(plot(tab(d, "region"), ylab = "Prozent", names.arg = LETTERS[1:5]))
  expect_error(plot(t, row_var = "nope"), "'row_var' = 'nope' is not a row variable")
})
