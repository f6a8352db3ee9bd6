# Nets (nets()) and sorting (tab(sort =, sort_keep =)).
#
# A net of a single variable must be the level of that name of the variable
# recoded to c(<net>, <the other levels>): same n, n_w, percent, SE, CI,
# design effect, df, bases and letters. The variable's own levels must be
# those of tab() of the variable, with its Rao-Scott test. An MR net must be
# tab() of the logical column "any of the items". Sorting moves rows only.

stats_cols <- c("n", "n_w", "n_eff", "pct", "se", "ci_low", "ci_high", "se_n_w", "deff", "df",
                "base_n", "base_w", "small_base")

# cells of row variable rv, levels `lev`, as a data frame keyed by
# (row, col_var, col, by-columns), sorted by the key
cells_key <- function(t, rv, lev, bycols = character()) {
  df <- as.data.frame(t, stringsAsFactors = FALSE)
  df <- df[df$row_var == rv & df$row %in% lev, , drop = FALSE]
  key <- do.call(paste, c(list(df$row, df$col_var, df$col), unname(as.list(df[bycols]))))
  df <- df[order(key), , drop = FALSE]
  rownames(df) <- NULL
  df
}

expect_same_cells <- function(a, b, tol = 1e-10, letters = TRUE, tests = FALSE) {
  expect_equal(nrow(a), nrow(b))
  expect_true(nrow(a) > 0)
  expect_identical(paste(a$row, a$col_var, a$col), paste(b$row, b$col_var, b$col))
  for (s in stats_cols) {
    x <- as.numeric(a[[s]]); y <- as.numeric(b[[s]])
    expect_identical(is.na(x), is.na(y), info = s)
    ok <- !is.na(x)
    expect_lt(max(c(0, abs(x[ok] - y[ok]) / pmax(abs(y[ok]), 1))), tol)
  }
  if (letters) expect_identical(a$letters, b$letters)
  if (tests) for (s in c("statistic", "ndf", "ddf", "p_value")) {
    x <- a[[s]]; y <- b[[s]]
    expect_identical(is.na(x), is.na(y), info = s)
    ok <- !is.na(x)
    expect_lt(max(c(0, abs(x[ok] - y[ok]) / pmax(abs(y[ok]), 1))), tol)
  }
}

api_q5 <- function(d) {
  d$q5 <- cut(d$api00, stats::quantile(d$api00, 0:5 / 5), include.lowest = TRUE, labels = as.character(1:5))
  d$top2 <- factor(ifelse(d$q5 %in% c("4", "5"), "Top 2", as.character(d$q5)),
                   levels = c("Top 2", "1", "2", "3"))
  d$bot2 <- factor(ifelse(d$q5 %in% c("1", "2"), "Bottom 2", as.character(d$q5)),
                   levels = c("Bottom 2", "3", "4", "5"))
  d
}

check_nets_vs_recode <- function(x, rows_nets, plain, recoded, cols, by = NULL, percent = "col",
                                 na = "drop", bycols = character(), nets = c("Top 2", "Bottom 2"),
                                 levels, want_letters = FALSE, ...) {
  tn <- tab(x, rows = list(rows_nets), cols = cols, by = by, percent = percent, na = na, ...)
  # where asked: the letter comparison is not vacuous
  if (want_letters) expect_true(any(nzchar(as.data.frame(tn)$letters[as.data.frame(tn)$net])))
  tp <- tab(x, plain, cols = cols, by = by, percent = percent, na = na, ...)
  # the levels: as tab() of the variable, with its test
  expect_same_cells(cells_key(tn, plain, levels, bycols), cells_key(tp, plain, levels, bycols),
                    tests = TRUE)
  # each net: as the level of that name of the recoded variable
  for (k in seq_along(nets)) {
    tr <- tab(x, recoded[k], cols = cols, by = by, percent = percent, na = na, ...)
    expect_same_cells(cells_key(tn, plain, nets[k], bycols),
                      cells_key(tr, recoded[k], nets[k], bycols),
                      letters = percent == "col")
  }
  invisible(tn)
}

test_that("nets of a single variable equal the recoded variable: apistrat (strata, fpc)", {
  skip_if_not_installed("survey")
  data(api, package = "survey", envir = environment())
  d <- api_q5(apistrat)
  des <- svy_design(d, weights = ~pw, strata = ~stype, fpc = ~fpc)
  n2 <- nets("q5", "Top 2" = c("4", "5"), "Bottom 2" = c("1", "2"))
  for (p in c("col", "row", "total")) {
    check_nets_vs_recode(des, n2, "q5", c("top2", "bot2"), cols = c("awards", "sch.wide", "yr.rnd"),
                         percent = p, levels = as.character(1:5), want_letters = p == "col")
  }
  # with a by layer, and with numbers for the levels of a numeric column
  d$q5n <- as.integer(as.character(d$q5))
  des <- svy_design(d, weights = ~pw, strata = ~stype, fpc = ~fpc)
  tn <- check_nets_vs_recode(des, nets("q5", "Top 2" = c("4", "5"), "Bottom 2" = c("1", "2")),
                             "q5", c("top2", "bot2"), cols = "awards", by = "both",
                             bycols = "both", levels = as.character(1:5))
  tnum <- tab(des, list(nets("q5n", "Top 2" = 4:5, "Bottom 2" = c(1, 2))), cols = "awards", by = "both")
  a <- as.data.frame(tn)
  b <- as.data.frame(tnum)
  expect_equal(b$pct, a$pct, tolerance = 1e-12)
  expect_identical(as.character(b$row), as.character(a$row))
})

test_that("nets equal the recoded variable and survey: apiclus1 (clusters, fpc)", {
  skip_if_not_installed("survey")
  data(api, package = "survey", envir = environment())
  d <- api_q5(apiclus1)
  des <- svy_design(d, weights = ~pw, cluster = ~dnum, fpc = ~fpc)
  n2 <- nets("q5", "Top 2" = c("4", "5"), "Bottom 2" = c("1", "2"), .position = "bottom")
  for (p in c("col", "total")) {
    tn <- check_nets_vs_recode(des, n2, "q5", c("top2", "bot2"), cols = c("stype", "sch.wide", "cname"),
                               percent = p, levels = as.character(1:5), want_letters = p == "col",
                               min_base = 0)
  }
  # independently: the Total column's net and its column percents by stype
  # from survey (the net as an indicator of the domain)
  s <- survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = d)
  s <- update(s, t2 = as.numeric(q5 %in% c("4", "5")))
  tn <- as.data.frame(tab(des, list(n2), cols = "stype"), stringsAsFactors = FALSE)
  m <- survey::svymean(~t2, s)
  tot <- tn[tn$row == "Top 2" & tn$col_var == "Total", ]
  expect_lt(abs(tot$pct - 100 * coef(m)[[1]]), 1e-10)
  expect_lt(abs(tot$se - 100 * survey::SE(m)[[1]]), 1e-10)
  expect_lt(abs(tot$n_w - sum(d$pw[d$q5 %in% c("4", "5")])), 1e-8)
  by <- survey::svyby(~t2, ~stype, s, survey::svymean)
  got <- tn[tn$row == "Top 2" & tn$col_var == "stype", ]
  expect_lt(max(abs(got$pct - 100 * by$t2[match(got$col, by$stype)])), 1e-10)
  expect_lt(max(abs(got$se - 100 * survey::SE(by)[match(got$col, by$stype)])), 1e-10)
  # the nets are marked and shown at the bottom
  expect_identical(tn$net, tn$row %in% c("Top 2", "Bottom 2"))
  expect_identical(unique(tn$row), c(as.character(1:5), "Top 2", "Bottom 2"))
})

test_that("nets equal the recoded variable: weighted data frame, NA levels, by layers", {
  d <- sim_tab_data(1500, seed = 7)
  # region depends on sex and age, so that there are letters to compare
  east <- d$sex == "f" & stats::runif(nrow(d)) < 0.3
  d$region[east] <- "East"
  d$region[d$age == 3L & stats::runif(nrow(d)) < 0.2] <- "West"
  d$region[sample(nrow(d), 60)] <- NA
  d$ne <- factor(ifelse(d$region %in% c("North", "East"), "North/East", as.character(d$region)),
                 levels = c("North/East", "South", "West", "Island"))
  d$ne[is.na(d$region)] <- NA
  d$sw <- factor(ifelse(d$region %in% c("South", "West"), "South+West", as.character(d$region)),
                 levels = c("South+West", "North", "East", "Island"))
  d$sw[is.na(d$region)] <- NA
  n2 <- nets("region", "North/East" = c("North", "East"), "South+West" = c("South", "West"))
  for (na in c("drop", "level")) {
    check_nets_vs_recode(d, n2, "region", c("ne", "sw"), cols = c("sex", "age"), by = "smoker",
                         na = na, bycols = "smoker", nets = c("North/East", "South+West"),
                         weights = "w", want_letters = TRUE,
                         levels = c(levels(d$region), if (na == "level") "(missing)"))
  }
  # unweighted, min_base off (letters everywhere), Holm
  check_nets_vs_recode(d, n2, "region", c("ne", "sw"), cols = "age", nets = c("North/East", "South+West"),
                       levels = levels(d$region), min_base = 0, adjust = "holm")
  # weights of zero and raked weights (calibrated variance)
  w0 <- d$w
  w0[1:40] <- 0
  check_nets_vs_recode(d, n2, "region", c("ne", "sw"), cols = "sex", nets = c("North/East", "South+West"),
                       levels = levels(d$region), weights = w0)
  wr <- wt_rake(d, list(sex = c(f = 0.5, m = 0.5), age = c(`1` = 0.3, `2` = 0.3, `3` = 0.4)),
                weights = "w")
  check_nets_vs_recode(d, n2, "region", c("ne", "sw"), cols = "sex", nets = c("North/East", "South+West"),
                       levels = levels(d$region), weights = wr)
  # "(missing)" shows only where it occurs, as without nets
  d2 <- d[!is.na(d$region), ]
  t <- as.data.frame(tab(d2, list(n2), na = "level"), stringsAsFactors = FALSE)
  expect_false("(missing)" %in% t$row)
})

test_that("a respondent counts once per net; nets overlap the levels", {
  d <- data.frame(q = factor(c("a", "b", "c", "a", NA), levels = c("a", "b", "c")))
  t <- as.data.frame(tab(d, list(nets("q", "ab" = c("a", "b"), "all" = c("a", "b", "c")))),
                     stringsAsFactors = FALSE)
  expect_identical(t$row, c("ab", "all", "a", "b", "c"))
  expect_equal(t$n, c(3, 4, 2, 1, 1))
  expect_equal(t$pct, c(75, 100, 50, 25, 25))
  expect_equal(t$base_n, rep(4, 5))
})

test_that("MR nets ('any of these') equal tab() of the OR column", {
  d <- sim_tab_data(1200, seed = 3)
  d$or12 <- d$b1 | d$b2
  d$or12[is.na(d$b1) & is.na(d$b2)] <- NA
  s_all <- mr_set(d, c("b1", "b2", "b3"), labels = c("one", "two", "three"), label = "brands",
                  base = "all")
  tn <- tab(d, list(nets(s_all, "one or two" = c("one", "two"))), cols = c("sex", "age"),
            weights = "w", min_base = 0)
  to <- tab(d, "or12", cols = c("sex", "age"), weights = "w", min_base = 0)
  a <- cells_key(tn, "brands", "one or two")
  b <- cells_key(to, "or12", "TRUE")
  b$row <- "one or two"
  expect_same_cells(a, b)
  # the items are those of the set without nets
  tm <- tab(d, list(s_all), cols = c("sex", "age"), weights = "w", min_base = 0)
  expect_same_cells(cells_key(tn, "brands", c("one", "two", "three")),
                    cells_key(tm, "brands", c("one", "two", "three")))
  # a category set, base all: codes 1 or 2 in either mention
  d$or_c <- (d$m1 %in% 1:2) | (d$m2 %in% 1:2)
  sc <- mr_set(d, c("m1", "m2"), type = "category", label = "mentions", base = "all")
  tn <- tab(d, list(nets(sc, "1 or 2" = c("1", "2"))), cols = "sex", weights = "w")
  to <- tab(d, "or_c", cols = "sex", weights = "w")
  a <- cells_key(tn, "mentions", "1 or 2")
  b <- cells_key(to, "or_c", "TRUE")
  b$row <- "1 or 2"
  expect_same_cells(a, b)
  # base "answered": the net's count is the OR column's, over the set's base
  s_ans <- mr_set(d, c("b1", "b2", "b3"), labels = c("one", "two", "three"), label = "brands")
  t <- cells_key(tab(d, list(nets(s_ans, "one or two" = c("one", "two"))), weights = "w"),
                 "brands", "one or two")
  chose <- !is.na(d$b1) & (d$b1 | d$b2 | d$b3)
  expect_equal(t$n, sum(d$or12, na.rm = TRUE))
  expect_lt(abs(t$pct - 100 * sum(d$w[d$or12 %in% TRUE]) / sum(d$w[chose])), 1e-10)
  # a stratified cluster design
  dd <- sim_design_data(2)
  dd$i1 <- dd$k == "p"; dd$i2 <- dd$g == "x"; dd$i3 <- dd$y == "high"
  dd$any12 <- dd$i1 | dd$i2
  des <- svy_design(dd, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
  s <- mr_set(dd, c("i1", "i2", "i3"), label = "set", base = "all")
  tn <- tab(des, list(nets(s, "i1/i2" = c("i1", "i2"))), cols = "y")
  to <- tab(des, "any12", cols = "y")
  a <- cells_key(tn, "set", "i1/i2")
  b <- cells_key(to, "any12", "TRUE")
  b$row <- "i1/i2"
  expect_same_cells(a, b)
})

test_that("sorting moves rows, keeps values, nets, sort_keep and (missing) in place", {
  set.seed(5)
  n <- 800
  d <- data.frame(q = factor(sample(c("a", "b", "c", "d", "don't know"), n, TRUE,
                                    prob = c(0.1, 0.3, 0.2, 0.25, 0.15)),
                             levels = c("a", "b", "c", "d", "don't know")),
                  g = sample(c("x", "y"), n, TRUE), w = runif(n, 0.5, 2))
  d$q[sample(n, 30)] <- NA
  spec <- list(nets("q", "ab" = c("a", "b")))
  t0 <- tab(d, spec, cols = "g", weights = "w", na = "level")
  t1 <- tab(d, spec, cols = "g", weights = "w", na = "level", sort = "desc",
            sort_keep = "don't know")
  a0 <- as.data.frame(t0, stringsAsFactors = FALSE)
  a1 <- as.data.frame(t1, stringsAsFactors = FALSE)
  # the same cells, the same identity, in another order
  k0 <- paste(t0$cell_id$row_var, t0$cell_id$row, t0$cell_id$col_var, t0$cell_id$col)
  k1 <- paste(t1$cell_id$row_var, t1$cell_id$row, t1$cell_id$col_var, t1$cell_id$col)
  expect_setequal(k0, k1)
  expect_identical(a1[match(k0, k1), ], `rownames<-`(a0, match(k0, k1)))
  expect_identical(t1$rows[[1]]$levels[t1$cell_id$row], a1$row)
  # the order: net first, then a..d by the Total column's percent, then
  # "don't know" and "(missing)"
  tot <- a0[a0$col_var == "Total" & a0$row %in% c("a", "b", "c", "d"), ]
  expected <- c("ab", tot$row[order(-tot$pct)], "don't know", "(missing)")
  expect_identical(unique(a1$row), expected)
  expect_identical(levels(as.data.frame(t1)$row), expected)
  # ascending, without nets, the shown order of the display
  t2 <- tab(d, "q", cols = "g", weights = "w", sort = "asc")
  a2 <- as.data.frame(t2, stringsAsFactors = FALSE)
  tot <- a2[a2$col_var == "Total", ]
  expect_identical(unique(a2$row), tot$row[order(tot$pct)])
  disp <- umfrage:::tab_display(t2)
  expect_identical(disp$blocks[[1]]$rows$label, tot$row[order(tot$pct)])
  # sorting by the first layer only, every layer in that order
  t3 <- as.data.frame(tab(d, "q", by = "g", weights = "w", sort = "desc"), stringsAsFactors = FALSE)
  l1 <- t3[t3$g == "x", ]
  expect_identical(l1$row, l1$row[order(-l1$pct)])
  expect_identical(t3$row[t3$g == "y"], l1$row)
  # an MR set is sorted too; nets at the bottom stay there
  dd <- sim_tab_data(600, seed = 9)
  s <- mr_set(dd, c("b1", "b2", "b3"), label = "brands")
  tm <- as.data.frame(tab(dd, list(nets(s, "b1/b3" = c("b1", "b3"), .position = "bottom")),
                          sort = "desc"), stringsAsFactors = FALSE)
  it <- tm[!tm$net, ]
  expect_identical(tm$row, c(it$row[order(-it$pct)], "b1/b3"))
  # print() shows the sorted rows and marks nets
  out <- capture.output(print(t1))
  pos <- vapply(c("+ ab", expected[-1]), function(l) which(startsWith(out, paste0(l, " ")))[1], 1L)
  expect_false(anyNA(pos))
  expect_true(all(diff(pos) > 0))
})

test_that("nets are marked in the result, the long form and the HTML", {
  d <- data.frame(q = factor(c("a", "b", "c", "a"), levels = c("a", "b", "c")), g = c("x", "y", "x", "y"))
  t <- tab(d, list(nets("q", "a+b" = c("a", "b"))), cols = "g")
  expect_identical(t$rows[[1]]$net, c(FALSE, FALSE, FALSE, TRUE))
  expect_identical(t$rows[[1]]$levels, c("a", "b", "c", "a+b"))
  expect_identical(t$rows[[1]]$kind, "single")
  a <- as.data.frame(t)
  expect_identical(a$net, a$row == "a+b")
  expect_identical(levels(a$row), c("a+b", "a", "b", "c"))
  # identity: the level k keeps index k, the net follows
  expect_identical(t$cell_id$row[a$row == "b"], rep(2L, 3))
  expect_identical(t$cell_id$row[a$row == "a+b"], rep(4L, 3))
  html <- umfrage:::tab_block_html(t, 1L, 1L)
  expect_match(html, "<tr class=\"umf-row umf-net\"><th scope=\"row\">a+b</th>", fixed = TRUE)
  expect_identical(lengths(regmatches(html, gregexpr("umf-net\"", html))), 1L)
  # plain tables have net = FALSE and no order
  t0 <- tab(d, "q")
  expect_false(any(as.data.frame(t0)$net))
  expect_null(t0$rows[[1]]$order)
})

test_that("bad nets and sort input give clear errors", {
  d <- data.frame(q = factor(c("a", "b", "c"), levels = c("a", "b", "c")), x = c(1.5, 2, 3),
                  s = c("u", "v", "u"))
  expect_error(tab(d, list(nets("q", top = c("a", "z", "zz")))),
               "net 'top' names level\\(s\\) that 'q' does not have: 'z', 'zz'")
  expect_error(nets("q"), "defines no net")
  expect_error(nets("q", top = character()), "net 'top' is empty")
  expect_error(nets("q", c("a", "b")), "every net needs a name")
  expect_error(nets("q", t = "a", t = "b"), "net names must be distinct")
  expect_error(nets("q", t = c("a", NA)), "net 't' holds NA")
  expect_error(tab(d, list(nets("q", a = c("a", "b")))), "net name\\(s\\) 'a' are levels")
  expect_error(tab(d, list(nets("q", t = 1:2))), "gives numbers, but 'q' is")
  expect_error(tab(d, list(nets("x", t = 7))), "not values of 'x': '7'")
  expect_error(tab(d, list(nets("nope", t = "a"))), "not in 'x': 'nope'")
  expect_error(tab(d, "s", cols = list(nets("q", t = "a"))), "'cols' holds nets\\(\\)")
  numrow <- structure(list(y = "x", stat = "mean"), class = c("umfrage_numrow", "umfrage_mean"))
  expect_error(nets(numrow, t = "a"), "a numeric row .* has no levels")
  expect_error(nets(~ q + s, t = "a"), "name one column")
  s <- mr_set(data.frame(i1 = c(TRUE, FALSE), i2 = c(FALSE, TRUE)), c("i1", "i2"))
  expect_error(tab(data.frame(i1 = c(TRUE, FALSE), i2 = c(FALSE, TRUE)), list(nets(s, t = c("i1", "i9")))),
               "names item\\(s\\) that the set does not have: 'i9'")
  expect_error(tab(d, "q", sort = "up"), "'sort' must be")
  expect_error(tab(d, "q", sort = "desc", sort_keep = "nope"),
               "'sort_keep' names 'nope', not a level")
  expect_error(tab(d, "q", sort_keep = "a"), "needs sort")
  expect_error(tab(d, "q", sort = "desc", sort_keep = 1), "'sort_keep' must name levels")
})

test_that("nets of a labelled column: by value labels or by values, the same net", {
  skip_if_not_installed("haven")
  set.seed(11)
  v <- sample(c(1, 2, 3, 4, 5, 9), 300, TRUE)
  d <- data.frame(g = sample(c("x", "y"), 300, TRUE))
  d$q <- haven::labelled(v, c("very bad" = 1, bad = 2, neutral = 3, good = 4, "very good" = 5))
  d$top <- factor(ifelse(v %in% 4:5, "Top 2", "rest"), levels = c("Top 2", "rest"))
  a <- cells_key(tab(d, list(nets("q", "Top 2" = c("good", "very good"))), cols = "g"), "q", "Top 2")
  b <- cells_key(tab(d, list(nets("q", "Top 2" = c(4, 5))), cols = "g"), "q", "Top 2")
  r <- cells_key(tab(d, "top", cols = "g"), "top", "Top 2")
  expect_same_cells(a, b, tol = 1e-14)
  expect_same_cells(a, r)
  # the unlabelled value 9 is a level too ("9")
  t <- tab(d, list(nets("q", "other" = 9, "neutral+" = c("neutral", "9"))))
  expect_identical(t$rows[[1]]$levels, c("very bad", "bad", "neutral", "good", "very good", "9",
                                         "other", "neutral+"))
  expect_equal(as.data.frame(t)$n[as.data.frame(t)$row == "neutral+"], sum(v %in% c(3, 9)))
})
