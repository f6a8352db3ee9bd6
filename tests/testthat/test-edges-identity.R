# Identity, not labels: cells, levels, sets and columns are addressed by what
# they are; labels are only for display. Every number is checked against a
# base-R count on the data, and the printed table against the same counts.

# The long form: unique column names, unique keys (row_var, row, col_var,
# col, layer); the bases likewise. Also: summary, knit_print, plot run.
expect_sound_tab <- function(t) {
  df <- as.data.frame(t, stringsAsFactors = FALSE)
  expect_false(anyDuplicated(names(df)) > 0L)
  bycols <- vapply(t$by, function(b) if (is.null(b$column)) b$name else b$column, "")
  expect_true(all(bycols %in% names(df)))
  expect_false(anyDuplicated(df[c("row_var", "row", "col_var", "col", bycols)]) > 0L)
  expect_false(anyDuplicated(names(t$bases)) > 0L)
  expect_false(anyDuplicated(t$bases[c("row_var", "col_var", "col", bycols)]) > 0L)
  expect_s3_class(summary(t), "summary.umfrage_tab")
  expect_output(print(summary(t)), "umfrage table")
  k <- knit_print_tab(t)
  expect_true(nzchar(k))
  # the HTML route of knit_print, block by block
  html <- get("tab_block_html", envir = asNamespace("umfrage"))
  for (i in seq_along(t$rows)) for (l in unique(t$cell_id$layer))
    expect_match(html(t, i, l, "title"), "^<table", perl = TRUE)
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  for (i in seq_along(t$rows)) for (j in seq_along(t$cols))
    expect_no_error(plot(t, row_var = i, col_var = j - 1L))
  invisible(df)
}

knit_print_tab <- function(t) {
  skip_if_not_installed("knitr")
  fn <- get("knit_print.umfrage_tab", envir = asNamespace("umfrage"))
  paste(as.character(fn(t)), collapse = "\n")
}

# The printed lines of the block whose title starts with `title`.
block_of <- function(out, title) {
  s <- which(startsWith(out, title))
  expect_length(s, 1L)
  e <- s + which(out[-seq_len(s)] == "")[1L]
  out[s:(e - 1L)]
}

# Counts and percents printed on the line of row label `lab` (exactly that
# label: it is followed by two or more spaces).
printed_row <- function(lines, lab) {
  hit <- lines[startsWith(lines, lab) & grepl("^\\s{2,}", substring(lines, nchar(lab) + 1L))]
  expect_length(hit, 1L)
  tok <- strsplit(trimws(substring(hit, nchar(lab) + 1L)), "\\s+")[[1L]]
  list(n = as.numeric(gsub(",", "", tok[grepl("^[0-9][0-9,.]*$", tok)])),
       pct = tok[grepl("%$", tok)])
}
pct_str <- function(p) sprintf("%.1f%%", p)

test_that("a 'by' variable named like a column of the long form does not shadow it", {
  set.seed(11)
  n <- 120
  base <- data.frame(a = sample(c("x", "y"), n, TRUE), b = sample(c("u", "v"), n, TRUE),
                     stringsAsFactors = FALSE)
  lay <- sample(c("l1", "l2"), n, TRUE)
  for (nm in c("p_value", "pct", "letters", "n", "row", "col", "base_n", "se",
               "row_var", "col_var", "statistic", "base_eff")) {
    d <- base
    d[[nm]] <- lay
    t <- tab(d, "a", cols = "b", by = nm)
    df <- expect_sound_tab(t)
    bc <- paste0("by_", nm)
    expect_identical(t$by[[1L]]$column, bc)
    expect_setequal(unique(df[[bc]]), c("l1", "l2"))
    # every cell's n and pct against table()
    ref <- table(d$a, d$b, d[[nm]])
    cb <- df[df$col_var == "b", ]
    expect_equal(cb$n, as.vector(ref[cbind(cb$row, cb$col, cb[[bc]])]))
    expect_equal(cb$pct, 100 * cb$n / as.vector(apply(ref, 2:3, sum)[cbind(cb$col, cb[[bc]])]))
    tot <- df[df$col_var == "Total", ]
    expect_equal(tot$n, as.vector(table(d$a, d[[nm]])[cbind(tot$row, tot[[bc]])]))
    if (nm %in% c("row", "col", "row_var", "col_var")) {
      expect_type(df[[nm]], "character")
    } else if (nm == "base_eff") {
      expect_type(t$bases[[nm]], "double")
    } else if (nm != "letters") expect_type(df[[nm]], "double")
    out <- capture.output(print(t))
    for (l in c("l1", "l2")) {
      blk <- block_of(out, sprintf("a  [%s = %s]", nm, l))
      for (r in c("x", "y")) {
        pr <- printed_row(blk, r)
        m <- ref[, , l]
        expect_equal(pr$n, c(sum(m[r, ]), m[r, ]), ignore_attr = TRUE)
        expect_equal(pr$pct, pct_str(100 * c(sum(m[r, ]) / sum(m), m[r, ] / colSums(m))),
                     ignore_attr = TRUE)
      }
      # the Rao-Scott p-value of the layer (a domain), as survey computes it
      sd <- survey::svydesign(ids = ~1, weights = ~one, data = cbind(base, one = 1, layx = lay))
      ref_p <- survey::svychisq(~ a + b, subset(sd, layx == l), statistic = "F")$p.value
      pline <- grep("Rao-Scott F", blk, value = TRUE)
      expect_length(pline, 1L)
      expect_match(pline, if (ref_p < 1e-4) "p < 0.0001" else
        paste0("p = ", formatC(ref_p, format = "fg", digits = 3), "$"))
    }
    bs <- summary(t)$bases
    expect_equal(bs$base_n, as.vector(table(d[[nm]])[bs[[bc]]]))
  }
})

test_that("by-columns are prefixed until free, and variables named twice are refused", {
  set.seed(12)
  d <- data.frame(a = sample(c("x", "y"), 40, TRUE), p_value = sample(c("l1", "l2"), 40, TRUE),
                  by_p_value = sample(c("k1", "k2"), 40, TRUE), stringsAsFactors = FALSE)
  t <- tab(d, "a", by = c("p_value", "by_p_value"))
  df <- expect_sound_tab(t)
  expect_identical(vapply(t$by, `[[`, "", "column"), c("by_by_p_value", "by_p_value"))
  ref <- table(d$a, d$p_value, d$by_p_value)
  expect_equal(df$n, as.vector(ref[cbind(df$row, df$by_by_p_value, df$by_p_value)]))
  expect_error(tab(d, "a", by = c("p_value", "p_value")), "'by' names column\\(s\\) more than once: 'p_value'")
  expect_error(tab(d, c("a", "a")), "'rows' names column\\(s\\) more than once: 'a'")
  expect_error(tab(d, "a", cols = c("p_value", "p_value")), "'cols' names column\\(s\\) more than once")
})

test_that("numeric levels that format alike are distinct levels, printed apart", {
  x1 <- 0.1 + 0.2
  d <- data.frame(x = c(rep(x1, 5), rep(0.3, 7), rep(1, 3)),
                  g = rep(c("a", "b", "c"), 5), stringsAsFactors = FALSE)
  d$h <- d$x
  t <- tab(d, "x", cols = c("g", "h"))
  df <- expect_sound_tab(t)
  lx <- t$rows[[1L]]$levels
  expect_length(unique(lx), 3L)
  vals <- c(0.3, x1, 1)          # sorted: 0.3 < 0.1 + 0.2 < 1
  expect_identical(as.numeric(lx), vals)
  tot <- df[df$col_var == "Total", ]
  expect_equal(tot$n, vapply(vals, function(v) sum(d$x == v), 0))
  cg <- df[df$col_var == "g", ]
  expect_equal(cg$n, mapply(function(r, c) sum(d$x == as.numeric(r) & d$g == c), cg$row, cg$col),
               ignore_attr = TRUE)
  ch <- df[df$col_var == "h", ]
  expect_equal(ch$n, mapply(function(r, c) sum(d$x == as.numeric(r) & d$h == as.numeric(c)),
                            ch$row, ch$col), ignore_attr = TRUE)
  out <- capture.output(print(t, width = 200))  # one line per row: no wrapping
  for (k in seq_along(vals)) {
    pr <- printed_row(out, lx[k])
    expect_equal(pr$n[1:4], c(sum(d$x == vals[k]), table(d$g[d$x == vals[k]])[c("a", "b", "c")]),
                 ignore_attr = TRUE)
  }
  # as a by variable: one layer per value
  t2 <- tab(d, "g", by = "x")
  df2 <- expect_sound_tab(t2)
  expect_equal(df2$n, mapply(function(r, l) sum(d$g == r & d$x == as.numeric(l)), df2$row, df2$x),
               ignore_attr = TRUE)
})

test_that("category MR codes that format alike stay distinct items", {
  x1 <- 0.1 + 0.2
  d <- data.frame(m1 = c(x1, x1, 0.3, 1, 0.3, NA), m2 = c(NA, 0.3, 0.3, x1, 1, 1))
  s <- mr_set(d, c("m1", "m2"), type = "category")
  expect_length(unique(s$items), 3L)
  t <- tab(d, s)
  df <- expect_sound_tab(t)
  has <- function(v) rowSums(cbind(d$m1 == v, d$m2 == v), na.rm = TRUE) > 0
  expect_equal(df$n, vapply(as.numeric(df$row), function(v) sum(has(v)), 0))
})

test_that("an existing level '(missing)' stays apart from the NA level", {
  d <- data.frame(x = c("(missing)", "(missing)", "a", NA, NA, NA, "a", "b"),
                  y = c("u", "u", "u", "u", "v", "v", "v", NA), stringsAsFactors = FALSE)
  t <- tab(d, "x", cols = "y", na = "level")
  df <- expect_sound_tab(t)
  expect_identical(t$rows[[1L]]$levels, c("(missing)", "a", "b", "(missing) (2)"))
  key <- ifelse(is.na(d$x), "(missing) (2)", d$x)
  ykey <- ifelse(is.na(d$y), "(missing)", d$y)
  tot <- df[df$col_var == "Total", ]
  expect_equal(tot$n, as.vector(table(key)[tot$row]))
  cy <- df[df$col_var == "y", ]
  expect_equal(cy$n, as.vector(table(key, ykey)[cbind(cy$row, cy$col)]))
  out <- capture.output(print(t))
  pr <- printed_row(out, "(missing)")
  expect_equal(pr$n, c(2, 2, 0, 0))
  pr <- printed_row(out, "(missing) (2)")
  expect_equal(pr$n, c(3, 1, 2, 0))
  # as a column variable too
  t2 <- tab(d, "y", cols = "x", na = "level")
  df2 <- expect_sound_tab(t2)
  c2 <- df2[df2$col_var == "x", ]
  expect_equal(c2$n, as.vector(table(ykey, key)[cbind(c2$row, c2$col)]))
})

test_that("two MR sets with the same label keep their own cells and bases", {
  set.seed(13)
  n <- 200
  d <- data.frame(news_tv = runif(n) < 0.5, news_web = runif(n) < 0.3,
                  news_paper = runif(n) < 0.6, news_radio = runif(n) < 0.2,
                  g = sample(c("a", "b"), n, TRUE), stringsAsFactors = FALSE)
  d$news_radio[1:10] <- NA
  s1 <- mr_set(d, c("news_tv", "news_web"))
  s2 <- mr_set(d, c("news_paper", "news_radio"))
  expect_identical(s1$label, s2$label)
  t <- tab(d, list(s1, s2), cols = list("g", s1, s2))
  df <- expect_sound_tab(t)
  expect_identical(vapply(t$rows, `[[`, "", "name"), c("news", "news (2)"))
  expect_identical(vapply(t$cols, `[[`, "", "name"), c("Total", "g", "news", "news (2)"))
  items <- list(news = c("news_tv", "news_web"), "news (2)" = c("news_paper", "news_radio"))
  # respondents in a set's base: chose at least one of its items
  inbase <- lapply(items, function(v) rowSums(as.matrix(d[v]), na.rm = TRUE) > 0)
  chosen <- function(v) !is.na(d[[v]]) & d[[v]]
  for (rs in names(items)) {
    tot <- df[df$row_var == rs & df$col_var == "Total", ]
    expect_equal(tot$n, vapply(tot$row, function(r) sum(chosen(r)), 0), ignore_attr = TRUE)
    expect_equal(tot$base_n, rep(sum(inbase[[rs]]), 2L))
    for (cs in names(items)) {
      cc <- df[df$row_var == rs & df$col_var == cs, ]
      expect_equal(cc$n, mapply(function(r, c) sum(chosen(r) & chosen(c)), cc$row, cc$col),
                   ignore_attr = TRUE)
      expect_equal(cc$base_n, vapply(cc$col, function(c) sum(chosen(c) & inbase[[rs]]), 0),
                   ignore_attr = TRUE)
    }
  }
  # weighted: n_w and base_w of the second set's block
  d$w <- runif(n) + 0.5
  tw <- as.data.frame(tab(d, list(s1, s2), cols = list(s1, s2), weights = "w"), stringsAsFactors = FALSE)
  for (cs in names(items)) {
    cc <- tw[tw$row_var == "news (2)" & tw$col_var == cs, ]
    expect_equal(cc$n_w, mapply(function(r, c) sum(d$w[chosen(r) & chosen(c)]), cc$row, cc$col),
                 ignore_attr = TRUE)
    expect_equal(cc$base_w, vapply(cc$col, function(c) sum(d$w[chosen(c) & inbase[[2]]]), 0),
                 ignore_attr = TRUE)
  }
  out <- capture.output(print(t, width = 200))  # one line per row: no wrapping
  blk <- block_of(out, "news (2)  (column %")
  base_line <- printed_row(blk, "Base (n)")$n
  expect_equal(base_line, c(sum(inbase[[2]]), table(d$g[inbase[[2]]]),
                            vapply(unlist(items), function(c) sum(chosen(c) & inbase[[2]]), 0)),
               ignore_attr = TRUE)
  pr <- printed_row(blk, "news_radio")
  expect_equal(pr$n, c(sum(chosen("news_radio")), table(d$g[chosen("news_radio")]),
                       vapply(unlist(items), function(c) sum(chosen(c) & chosen("news_radio")), 0)),
               ignore_attr = TRUE)
})

test_that("a banner variable called 'Total' does not mix with the Total column", {
  set.seed(14)
  d <- data.frame(a = sample(c("x", "y", "z"), 90, TRUE), Total = sample(c("p", "q"), 90, TRUE),
                  stringsAsFactors = FALSE)
  d$w <- runif(90) + 0.5
  t <- tab(d, "a", cols = "Total")
  df <- expect_sound_tab(t)
  expect_identical(unique(df$col_var), c("Total", "Total (2)"))
  # weighted: n_w and base_w against tapply
  tw <- as.data.frame(tab(d, "a", cols = "Total", weights = "w"), stringsAsFactors = FALSE)
  cw <- tw[tw$col_var == "Total (2)", ]
  expect_equal(cw$n_w, tapply(d$w, list(d$a, d$Total), sum)[cbind(cw$row, cw$col)])
  expect_equal(cw$base_w, tapply(d$w, d$Total, sum)[cw$col], ignore_attr = TRUE)
  ttw <- tw[tw$col_var == "Total", ]
  expect_equal(ttw$n_w, tapply(d$w, d$a, sum)[ttw$row], ignore_attr = TRUE)
  expect_equal(ttw$base_w, rep(sum(d$w), 3))
  tot <- df[df$col_var == "Total", ]
  expect_equal(tot$n, as.vector(table(d$a)[tot$row]))
  expect_equal(tot$base_n, rep(90, 3))
  cv <- df[df$col_var == "Total (2)", ]
  expect_equal(cv$n, as.vector(table(d$a, d$Total)[cbind(cv$row, cv$col)]))
  expect_equal(cv$pct, 100 * cv$n / as.vector(table(d$Total)[cv$col]))
  out <- capture.output(print(t))
  for (r in c("x", "y", "z")) {
    pr <- printed_row(out, r)
    expect_equal(pr$n, c(sum(d$a == r), table(d$a, d$Total)[r, ]), ignore_attr = TRUE)
  }
  expect_match(grep("Rao-Scott", out, value = TRUE), "^  Total \\(2\\): Rao-Scott F")
  expect_equal(summary(t)$bases$base_n, 90)
  # plot picks the Total column by name or position 0, the variable by its name
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off(), add = TRUE)
  expect_equal(nrow(plot(t, col_var = "Total")), 3L)
  p2 <- plot(t, col_var = "Total (2)")
  expect_equal(c(nlevels(p2$row), nlevels(p2$col)), c(3L, 2L))
})

test_that("a category set with repeated labels is refused, naming them", {
  d <- data.frame(m1 = c(1, 2, 3, 1), m2 = c(2, 3, NA, NA))
  expect_error(mr_set(d, c("m1", "m2"), type = "category", labels = c("1" = "yes", "2" = "yes")),
               "'labels' give two or more codes the same label: 'yes' \\(codes 1, 2\\)")
  expect_error(mr_set(d, c("m1", "m2"), type = "category", labels = c("1" = "3")),
               "same label: '3' \\(codes 1, 3\\)")
})

test_that("repeated value labels of labelled columns become distinct levels and items", {
  skip_if_not_installed("haven")
  v <- c(1, 2, 2, 3, 1, 2, 3, 3, 3)
  d <- data.frame(g = rep(c("a", "b", "c"), 3), stringsAsFactors = FALSE)
  d$x <- haven::labelled(v, c(Yes = 1, Yes = 2, No = 3))
  t <- tab(d, "x", cols = "g")
  df <- expect_sound_tab(t)
  lx <- t$rows[[1L]]$levels
  expect_length(unique(lx), 3L)
  tot <- df[df$col_var == "Total", ]
  expect_equal(tot$n, as.vector(table(v)[c("1", "2", "3")]))
  # the same in a category MR set
  d$m1 <- haven::labelled(v, c(Yes = 1, Yes = 2, No = 3))
  d$m2 <- haven::labelled(c(2, NA, 1, NA, NA, 3, NA, 1, NA), c(Yes = 1, Yes = 2, No = 3))
  s <- mr_set(d, c("m1", "m2"), type = "category")
  expect_length(unique(s$items), 3L)
  t2 <- tab(d, s, cols = "g")
  df2 <- expect_sound_tab(t2)
  has <- function(c) rowSums(cbind(unclass(d$m1) == c, unclass(d$m2) == c), na.rm = TRUE) > 0
  tot2 <- df2[df2$col_var == "Total", ]
  expect_equal(tot2$n, vapply(1:3, function(c) sum(has(c)), 0))
  out <- capture.output(print(t2))
  for (k in 1:3) expect_equal(printed_row(out, s$items[k])$n,
                              c(sum(has(k)), table(factor(d$g, c("a", "b", "c"))[has(k)])),
                              ignore_attr = TRUE)
})

test_that("row variables with the same variable label get distinct titles", {
  d <- data.frame(a = c("x", "y", "x"), b = c("u", "u", "v"), stringsAsFactors = FALSE)
  attr(d$a, "label") <- "Q"
  attr(d$b, "label") <- "Q"
  t <- tab(d, c("a", "b"))
  expect_sound_tab(t)
  out <- capture.output(print(t))
  expect_length(grep("^Q  \\(", out), 1L)
  expect_length(grep("^Q \\(2\\)  \\(", out), 1L)
  blk <- block_of(out, "Q (2)")
  expect_equal(printed_row(blk, "u")$n, 2)
})
