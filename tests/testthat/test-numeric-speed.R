# Numeric rows at speed (issue 16): all mean/total/ratio/score rows of a
# tab() call come from one C pass over the rows (C_num_fast, rows grouped by
# design unit, the inference from the per-unit sums in C), not from one pass
# and one z_cov() per row and column variable. The results equal survey's,
# and those of the per-row route (options(umfrage.num_fast = FALSE)) bit for
# bit; with two threads to rounding.

speed_data <- function(seed = 3, n = 900) {
  set.seed(seed)
  np <- 45
  psu <- sample.int(np, n, TRUE)          # rows not sorted by PSU
  psu[seq_len(np)] <- seq_len(np)
  d <- data.frame(psu = psu, st = (psu - 1L) %/% 9L + 1L)
  eff <- stats::rnorm(np)[d$psu]
  d$w <- stats::runif(n, 1, 3) * c(10, 20, 15, 30, 25)[d$st]
  d$y1 <- 50 + 10 * eff + stats::rnorm(n, 0, 5)
  d$y2 <- exp(1 + 0.3 * eff + stats::rnorm(n, 0, 0.4))
  d$y1[sample.int(n, 20)] <- NA
  d$x <- 2 + stats::runif(n) + 0.2 * eff
  d$g <- factor(sample(c("a", "b", "c", "d"), n, TRUE))
  d$h <- sample(c("p", "q", "r"), n, TRUE)
  d$lay <- sample(c("L1", "L2"), n, TRUE)
  d$g[sample.int(n, 10)] <- NA
  d
}
rel_s <- function(a, b) {
  a <- as.numeric(a); b <- as.numeric(b)
  stopifnot(length(a) == length(b), !anyNA(b))
  max(abs(a - b) / pmax(abs(b), 1e-300))
}
count_calls <- function(fun, expr) {
  ns <- asNamespace("umfrage")
  k <- 0L
  suppressMessages(trace(fun, function() k <<- k + 1L, where = ns, print = FALSE))
  on.exit(suppressMessages(untrace(fun, where = ns)))
  force(expr)
  k
}

test_that("all numeric rows of a table come from one pass, not one pass and z_cov() per row", {
  d <- speed_data()
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  rows <- list(mean_of(~y1), mean_of(~y2), total_of(~y2), ratio_of(~y2, ~x))
  k_pass <- count_calls("num_sums", t <- tab(des, rows, cols = c("g", "h"), by = "lay"))
  k_cov <- count_calls("z_cov", tab(des, rows, cols = c("g", "h"), by = "lay"))
  expect_identical(k_pass, 0L)
  expect_identical(k_cov, 0L)
  expect_identical(length(t$rows), 4L)
})

test_that("many numeric rows x a banner equal survey's svyby() per block (clustered, layers, NA)", {
  skip_if_not_installed("survey")
  d <- speed_data(5)
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  t <- as.data.frame(tab(des, list(mean_of(~y1), mean_of(~y2), ratio_of(~y2, ~x)),
                         cols = c("g", "h"), by = "lay", min_base = 0))
  for (cv in c("g", "h")) for (ly in c("L1", "L2")) {
    lv <- levels(factor(d[[cv]]))
    for (yv in c("y1", "y2")) {
      sub <- subset(s, !is.na(d[[yv]]) & d$lay == ly)
      r <- survey::svyby(stats::as.formula(paste0("~", yv)), stats::as.formula(paste0("~", cv)),
                         sub, survey::svymean)
      m <- t[t$row_var == sprintf("mean(%s)", yv) & t$col_var == cv & t$lay == ly, ]
      m <- m[match(lv, m$col), ]
      expect_lt(rel_s(m$estimate, stats::coef(r)[lv]), 1e-10)
      expect_lt(rel_s(m$se, survey::SE(r)[match(lv, r[[cv]])]), 1e-8)
    }
    r <- survey::svyby(~y2, stats::as.formula(paste0("~", cv)), subset(s, d$lay == ly),
                       survey::svyratio, denominator = ~x)
    m <- t[t$row_var == "ratio(y2/x)" & t$col_var == cv & t$lay == ly, ]
    m <- m[match(lv, m$col), ]
    expect_lt(rel_s(m$estimate, r[match(lv, r[[cv]]), 2L]), 1e-10)
    expect_lt(rel_s(m$se, r[match(lv, r[[cv]]), 3L]), 1e-8)
  }
})

test_that("letters of the one-pass route: svyttest() p-values, Holm-adjusted within the column variable", {
  skip_if_not_installed("survey")
  d <- speed_data(9, n = 1500)
  d$y1 <- d$y1 + 6 * (d$g %in% "a") - 4 * (d$g %in% "d")
  des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  t <- as.data.frame(tab(des, list(mean_of(~y2), mean_of(~y1)), cols = "g", adjust = "holm",
                         alpha = 0.05, min_base = 0))
  m <- t[t$row_var == "mean(y1)" & t$col_var == "g", ]
  lv <- c("a", "b", "c", "d")
  m <- m[match(lv, m$col), ]
  pr <- utils::combn(4, 2)
  p <- dd <- numeric(ncol(pr))
  for (k in seq_len(ncol(pr))) {
    a <- lv[pr[1, k]]; b <- lv[pr[2, k]]
    sub <- subset(s, !is.na(d$y1) & d$g %in% c(a, b))
    sub <- stats::update(sub, first = as.numeric(g == a))
    tt <- survey::svyttest(y1 ~ first, sub)
    p[k] <- tt$p.value
    dd[k] <- unname(tt$estimate)     # mean(a) - mean(b)
  }
  p <- stats::p.adjust(p, "holm")
  want <- rep("", 4)
  for (k in which(p < 0.05)) {
    win <- if (dd[k] > 0) pr[1, k] else pr[2, k]
    lose <- if (dd[k] > 0) pr[2, k] else pr[1, k]
    want[win] <- paste0(want[win], LETTERS[lose])
  }
  want <- vapply(strsplit(want, ""), function(z) paste(sort(z), collapse = ""), "")
  expect_true(any(nzchar(want)))
  expect_identical(m$letters, want)
})

test_that("the one-pass route equals the per-row route bit for bit, on every kind of design", {
  d <- speed_data(11)
  d$w0 <- d$w
  d$w0[c(5, 17, 30)] <- 0
  d$q <- factor(sample(c("bad", "ok", "good", "dk"), nrow(d), TRUE))
  d$m1 <- stats::runif(nrow(d)) < 0.5
  d$m2 <- stats::runif(nrow(d)) < 0.4
  d$N1 <- c(30, 40, 25, 50, 20)[d$st]
  ms <- mr_set(d, c("m1", "m2"), label = "M")
  rows <- list(mean_of(~y1), total_of(~y2), ratio_of(~y2, ~x),
               score_of(~q, c(bad = 1, ok = 2, good = 3, dk = NA)), "q")
  both <- function(f) {
    a <- withr_opt(TRUE, f)
    b <- withr_opt(FALSE, f)
    expect_identical(a, b)
  }
  withr_opt <- function(v, f) {
    old <- options(umfrage.num_fast = v)
    on.exit(options(old))
    as.data.frame(f())
  }
  both(function() tab(d, rows, cols = c("g", "h")))
  both(function() tab(d, rows, cols = c("g", "h"), weights = ~w0, by = "lay"))
  both(function() tab(svy_design(d, weights = ~w, strata = ~st), rows, cols = c("g", "h"), by = "lay"))
  both(function() tab(svy_design(d, weights = ~w0, strata = ~st, cluster = ~psu), rows,
                      cols = list("g", ms), by = "lay", adjust = "holm", deff = "survey"))
  both(function() tab(svy_design(d, strata = ~st, cluster = ~psu, fpc = ~N1), rows, cols = "g",
                      ci = "none", min_base = 30))
  both(function() tab(svy_design(d, weights = ~w, cluster = ~psu), rows, cols = "g", se = FALSE))
})

test_that("two threads give the one-thread results to rounding (units cut between threads)", {
  d <- speed_data(13, n = 3000)
  old_rows <- umfrage:::threads_min_rows(100)
  on.exit(umfrage:::threads_min_rows(old_rows), add = TRUE)
  old_th <- umfrage_threads(1L)
  on.exit(umfrage_threads(old_th), add = TRUE)
  rows <- list(mean_of(~y1), ratio_of(~y2, ~x), total_of(~y2))
  run <- function(des) as.data.frame(tab(des, rows, cols = c("g", "h"), by = "lay"))
  for (des in list(svy_design(d, weights = ~w, strata = ~st, cluster = ~psu),
                   svy_design(d, weights = ~w, strata = ~st))) {
    umfrage_threads(1L)
    a <- run(des)
    umfrage_threads(2L)
    b <- run(des)
    expect_identical(a[c("n", "letters", "df")], b[c("n", "letters", "df")])
    for (k in c("estimate", "se", "n_w")) expect_lt(rel_s(b[[k]], a[[k]]), 1e-12)
  }
})
