# A hand-written long-form count: one row per (respondent, selected item).
long_mr <- function(d, cols, items) {
  do.call(rbind, lapply(seq_along(cols), function(j) {
    sel <- which(d[[cols[j]]] %in% TRUE)
    data.frame(id = sel, item = items[j], stringsAsFactors = FALSE)
  }))
}

test_that("dichotomy MR rows equal a long-form count, percent of respondents", {
  d <- sim_tab_data(2000, seed = 11)
  s <- mr_set(d, c("b1", "b2", "b3"), labels = c("Alpha", "Beta", "Gamma"), label = "Brands")
  t <- tab(d, s, cols = "sex", weights = "w")
  long <- long_mr(d, c("b1", "b2", "b3"), c("Alpha", "Beta", "Gamma"))
  long$sex <- d$sex[long$id]
  long$w <- d$w[long$id]
  ref <- xtabs(w ~ item + sex, long)
  cc <- cells_of(t, col_var = "sex")
  key <- cbind(cc$row, cc$col)
  expect_equal(cc$n_w, ref[key], tolerance = 1e-12)
  # base: respondents who chose at least one brand
  answered <- (d$b1 %in% TRUE) | (d$b2 %in% TRUE) | (d$b3 %in% TRUE)
  base <- tapply(d$w[answered], d$sex[answered], sum)
  expect_equal(cc$base_w, as.vector(base[cc$col]), tolerance = 1e-12)
  expect_equal(cc$pct, 100 * cc$n_w / as.vector(base[cc$col]), tolerance = 1e-12)
  # base = "all": everybody who answered (not all NA)
  s2 <- mr_set(d, c("b1", "b2", "b3"), base = "all")
  t2 <- tab(d, s2, weights = "w")
  asked <- !is.na(d$b1)
  expect_equal(unique(cells_of(t2)$base_w), sum(d$w[asked]), tolerance = 1e-12)
  expect_gt(sum(cells_of(t2)$pct), 0)
})

test_that("category MR sets count a code once per respondent", {
  d <- sim_tab_data(1500, seed = 12)
  d$m2[1:20] <- d$m1[1:20]  # the same code mentioned twice
  s <- mr_set(d, c("m1", "m2"), type = "category", labels = c("1" = "one", "2" = "two"))
  t <- tab(d, s, cols = "region")
  cc <- cells_of(t, col_var = "region")
  long <- unique(rbind(data.frame(id = seq_len(nrow(d)), code = d$m1),
                       data.frame(id = seq_len(nrow(d)), code = d$m2)))
  long <- long[!is.na(long$code), ]
  long$region <- d$region[long$id]
  ref <- table(factor(long$code, 1:4), long$region)
  items <- c(one = "1", two = "2", "3" = "3", "4" = "4")
  expect_equal(cc$n, as.vector(ref[cbind(items[cc$row], cc$col)]))
  base <- table(d$region[!is.na(d$m1) | !is.na(d$m2)])
  expect_equal(cc$base_n, as.vector(base[cc$col]))
})

test_that("MR sets work as columns and against each other", {
  d <- sim_tab_data(1200, seed = 13)
  s <- mr_set(d, c("b1", "b2", "b3"), labels = c("A", "B", "C"))
  t <- tab(d, "sex", cols = s)
  cc <- cells_of(t, col_var = s$label)
  long <- long_mr(d, c("b1", "b2", "b3"), c("A", "B", "C"))
  long$sex <- d$sex[long$id]
  ref <- table(long$sex, long$item)
  expect_equal(cc$n, as.vector(ref[cbind(cc$row, cc$col)]))
  # column percent: of the respondents who chose the column's item
  expect_equal(cc$pct, 100 * cc$n / as.vector(colSums(ref)[cc$col]), tolerance = 1e-12)
  # MR x MR
  s2 <- mr_set(d, c("m1", "m2"), type = "category")
  t2 <- tab(d, s2, cols = s)
  c2 <- cells_of(t2, col_var = s$label)
  l2 <- unique(rbind(data.frame(id = seq_len(nrow(d)), code = d$m1),
                     data.frame(id = seq_len(nrow(d)), code = d$m2)))
  l2 <- l2[!is.na(l2$code), ]
  both <- merge(l2, long, by = "id")
  ref2 <- table(factor(both$code, 1:4), factor(both$item, c("A", "B", "C")))
  expect_equal(c2$n, as.vector(ref2[cbind(c2$row, c2$col)]))
})

test_that("Y/empty exports and 0/1 columns", {
  d <- data.frame(a = c("Y", "", "Y", ""), b = c("", "Y", "Y", ""), stringsAsFactors = FALSE)
  t <- tab(d, mr_set(d, c("a", "b"), counted = "Y"))
  expect_equal(cells_of(t)$n, c(2, 2))
  expect_equal(cells_of(t)$base_n, c(3, 3))
  d01 <- data.frame(a = c(1, 0, 1, 0), b = c(0, 1, 1, 0))
  t01 <- tab(d01, mr_set(d01, c("a", "b"), counted = 1, base = "all"))
  expect_equal(cells_of(t01)$pct, c(50, 50))
})

test_that("mr_set() errors name the problem", {
  d <- sim_tab_data(50, seed = 14)
  expect_error(mr_set(d, c("b1", "nope")), "'cols' names column\\(s\\) not in 'data': 'nope'")
  expect_error(mr_set(d, c("b1", "sex")), "must be of one type, but 'cols' mixes character \\('sex'\\) and logical \\('b1'\\)")
  expect_error(mr_set(d, character()), "'cols' must name at least one column")
  expect_error(mr_set(d, c("b1", "b1")), "names column\\(s\\) twice")
  expect_error(mr_set(d, 99), "positions outside")
  d$y <- ifelse(d$b1 %in% TRUE, "Y", "")
  expect_error(mr_set(d, "y"), "'counted' = TRUE cannot occur in the character columns")
  expect_error(mr_set(d, c("b1", "b2"), labels = "x"), "one label per column \\(2\\)")
  expect_error(mr_set(d, c("m1", "m2"), type = "category", labels = c("9" = "nine")),
               "names code\\(s\\) that do not occur")
  s <- mr_set(d, c("b1", "b2"))
  d2 <- d
  d2$b2 <- NULL
  expect_error(tab(d2, s), "MR set 'b' in 'rows' uses column\\(s\\) not in 'x': 'b2'")
  d3 <- d
  d3$b2 <- as.character(d3$b2)
  expect_error(tab(d3, s), "column\\(s\\) 'b2' of 'x' are not of type logical")
  expect_output(print(s), "<umfrage_mrset> 'b': 2 dichotomy item")
})
