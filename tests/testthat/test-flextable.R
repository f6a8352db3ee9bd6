# Word and PowerPoint tables (issue 13): as_flextable() of a tab() result
# and tab_docx(). The flextable's cells and headers are read back, as is the
# .docx written from them (officer::docx_summary), and every number is
# compared with a base-R computation on the data.

flex_data <- function(n = 400, seed = 13) {
  set.seed(seed)
  d <- data.frame(
    sex = sample(c("female", "male"), n, TRUE),
    age = sample(c("young", "middle", "old"), n, TRUE, prob = c(0.06, 0.47, 0.47)),
    vote = factor(sample(c("A", "B", "C", "D"), n, TRUE)),
    region = sample(c("North", "South"), n, TRUE),
    w = stats::runif(n, 0.5, 2), stringsAsFactors = FALSE)
  # effects, so that letters appear
  d$vote[d$age == "old" & stats::runif(n) < 0.4] <- "A"
  d$vote[d$sex == "female" & stats::runif(n) < 0.3] <- "B"
  d
}

# Base R per banner column (Total, sex levels, age levels, sorted):
# weighted counts, column percents, unweighted bases.
flex_ref <- function(d) {
  cols <- list(Total = rep(TRUE, nrow(d)))
  for (lv in sort(unique(d$sex))) cols[[paste0("sex:", lv)]] <- d$sex == lv
  for (lv in sort(unique(d$age))) cols[[paste0("age:", lv)]] <- d$age == lv
  nw <- sapply(cols, function(k) tapply(d$w[k], factor(d$vote[k], levels = levels(d$vote)), sum))
  nw[is.na(nw)] <- 0
  list(n_w = nw, pct = 100 * sweep(nw, 2, colSums(nw), "/"),
       base_n = sapply(cols, sum), base_w = colSums(nw))
}

# A number as the locale writes it, read back (flag, %, marks removed).
flex_num <- function(s, loc) {
  s <- gsub("\u00a0", "", s, fixed = TRUE)
  s <- sub("\\*$", "", s)
  s <- sub("%$", "", s)
  if (nzchar(loc$big)) s <- gsub(loc$big, "", s, fixed = TRUE)
  as.numeric(sub(loc$dec, ".", s, fixed = TRUE))
}

flex_near <- function(got, want, digits) all(abs(got - want) <= 0.5 * 10^-digits + 1e-8)

test_that("as_flextable() cells and headers are the display strings and equal base R, en and de", {
  skip_if_not_installed("flextable")
  d <- flex_data()
  ref <- flex_ref(d)
  t <- tab(d, "vote", cols = c("sex", "age"), weights = "w")
  for (lang in c("en", "de")) {
    loc <- tab_locale(lang)
    ft <- flextable::as_flextable(t, locale = lang)
    expect_s3_class(ft, "flextable")
    disp <- umfrage:::tab_display(t, lang)
    b <- disp$blocks[[1L]]
    expect_identical(disp$show, c("weighted", "pct", "letters"))
    body <- ft$body$dataset
    k <- 3L
    expect_identical(ncol(body), 1L + k * ncol(ref$pct))
    expect_identical(body[[1L]], c(loc$words$base_n, loc$words$base_w, levels(d$vote)))
    for (m in seq_len(ncol(ref$pct))) {
      w <- body[[1L + (m - 1L) * k + 1L]]
      p <- body[[1L + (m - 1L) * k + 2L]]
      l <- body[[1L + (m - 1L) * k + 3L]]
      # the display's strings, untouched
      expect_identical(w, c(b$columns$base_n_str[m], b$columns$base_w_str[m], b$str$weighted[, m]))
      expect_identical(p, c("", "", b$str$pct[, m]))
      expect_identical(l, c("", "", b$letters[, m]))
      # and the numbers are base R's
      expect_equal(flex_num(w[1L], loc), unname(ref$base_n[m]))
      expect_true(flex_near(flex_num(w[2L], loc), ref$base_w[m], 0L), info = paste(lang, m))
      expect_true(flex_near(flex_num(w[-(1:2)], loc), ref$n_w[, m], 0L), info = paste(lang, m))
      expect_true(flex_near(flex_num(p[-(1:2)], loc), ref$pct[, m], 1L), info = paste(lang, m))
      expect_true(all(grepl(if (lang == "de") "^[0-9]+,[0-9]\u00a0%$" else "^[0-9]+\\.[0-9]%$",
                            p[-(1:2)])))
    }
    # and the long form's numbers
    lf <- as.data.frame(t, stringsAsFactors = FALSE)
    tot <- lf[lf$col_var == "Total", ]
    expect_true(flex_near(flex_num(body[[3L]][-(1:2)], loc), tot$pct[match(levels(d$vote), tot$row)], 1L))
    expect_true(any(nzchar(unlist(body[1L + k * seq_len(ncol(ref$pct))]))))  # letters exist
    # headers: the spanners over the levels (with their letters)
    hd <- ft$header$dataset
    expect_identical(nrow(hd), 2L)
    tot_w <- loc$words$total
    expect_identical(unname(unlist(hd[1L, ])),
                     c("", rep(c(tot_w, "sex", "sex", "age", "age", "age"), each = k)))
    expect_identical(unname(unlist(hd[2L, ])),
                     c("", rep(c(tot_w, "female (A)", "male (B)", "middle (A)", "old (B)", "young (C)"),
                               each = k)))
    # merged: the stub and Total over both rows, sex over 2 x 3 and age over
    # 3 x 3 columns, each level over its 3 statistics
    sp <- ft$header$spans
    expect_equal(sp$rows[1L, ], c(1L, 3L, 0L, 0L, 6L, rep(0L, 5L), 9L, rep(0L, 8L)))
    expect_equal(sp$columns[, 1L], c(2L, 0L))
    expect_equal(sp$columns[, 2L], c(2L, 0L))
    expect_equal(sp$rows[2L, -(1:4)], rep(c(3L, 0L, 0L), 5L))
    # caption and notes
    expect_identical(ft$caption$value$txt, b$title$text)
    expect_identical(ft$footer$dataset[[1L]], b$notes$lines)
  }
  expect_match(flextable::as_flextable(t, locale = "de")$caption$value$txt, "Spalten-%", fixed = TRUE)
})

test_that("as_flextable(): what a cell shows, a table without column variables, small-base flags", {
  skip_if_not_installed("flextable")
  d <- flex_data()
  ref <- flex_ref(d)
  t <- tab(d, "vote", cols = c("sex", "age"), weights = "w")
  # percent-only cells: two columns per banner column, no letters in headers
  ft <- flextable::as_flextable(t, show = "pct", locale = "en")
  expect_identical(ncol(ft$body$dataset), 1L + ncol(ref$pct))
  expect_false(any(grepl("(A)", unlist(ft$header$dataset), fixed = TRUE)))
  pcts <- as.matrix(ft$body$dataset[-(1:2), -1L])
  expect_true(flex_near(flex_num(pcts, tab_locale("en")), unname(ref$pct), 1L))
  # with only one number shown, the base stands in that column unmerged
  expect_identical(ft$body$dataset[[2L]][1L], "400")
  ft2 <- flextable::as_flextable(t, show = c("pct", "letters"), digits = 0, locale = "en")
  expect_true(all(grepl("^[0-9]+%$", as.matrix(ft2$body$dataset[-(1:2), 1L + 2L * (1:6) - 1L]))))
  # no column variables: only the Total column, one header row
  t0 <- tab(d, "vote")
  ft0 <- flextable::as_flextable(t0, locale = "de")
  expect_identical(nrow(ft0$header$dataset), 1L)
  # (count, percent and the Total column's empty letters column)
  expect_identical(unname(unlist(ft0$header$dataset[1L, ])), c("", "Gesamt", "Gesamt", "Gesamt"))
  expect_identical(ft0$body$dataset[[1L]], c("Basis (n)", levels(d$vote)))
  expect_equal(flex_num(ft0$body$dataset[[2L]], tab_locale("de")),
               c(nrow(d), as.vector(table(d$vote))))
  # small bases: the young column (n = 21 < 30) carries the flag after its
  # bases and its percents, as a superscript run of its own
  young <- sum(d$age == "young")
  expect_lt(young, 30)
  ft <- flextable::as_flextable(t, locale = "en")
  m <- 6L  # Total, female, male, middle, old, young
  j_first <- 1L + (m - 1L) * 3L + 1L
  j_pct <- j_first + 1L
  cont <- ft$body$content$content$data
  txt <- function(i, j) {
    p <- cont[[i, j]]
    paste0(p$txt, collapse = "")
  }
  sup <- function(i, j) {
    p <- cont[[i, j]]
    any(p$txt == "*" & p$vertical.align == "superscript")
  }
  expect_identical(txt(1L, j_first), paste0(young, "*"))
  expect_true(sup(1L, j_first))
  expect_true(all(vapply(3:6, function(i) sup(i, j_pct), NA)))
  expect_false(any(vapply(3:6, function(i) sup(i, j_pct - 3L), NA)))  # "old" is not small
  expect_true(any(grepl("Base below 30", ft$footer$dataset[[1L]])))
})

# The cells of each table in a .docx: a list of data frames (row_id,
# cell_id, col_span, row_span, text, is_header), one per table.
docx_tables <- function(path) {
  s <- officer::docx_summary(officer::read_docx(path))
  cells <- s[s$content_type == "table cell", ]
  lapply(split(cells, cells$doc_index), function(x) x[order(x$row_id, x$cell_id), ])
}

test_that("tab_docx() and save_as_docx() write every cell, merged headers, captions and notes", {
  skip_if_not_installed("flextable")
  skip_if_not_installed("officer")
  d <- flex_data()
  ref <- flex_ref(d)
  t <- tab(d, "vote", cols = c("sex", "age"), weights = "w")
  for (lang in c("en", "de")) {
    loc <- tab_locale(lang)
    f <- tempfile(fileext = ".docx")
    on.exit(unlink(f), add = TRUE)
    expect_identical(tab_docx(t, f, locale = lang, source = "test data"), f)
    tbs <- docx_tables(f)
    expect_length(tbs, 1L)
    cells <- tbs[[1L]]
    ft <- flextable::as_flextable(t, locale = lang)
    body <- ft$body$dataset
    # every non-empty cell value is in its own cell, in its place (the
    # flagged ones followed by the flag)
    nh <- 2L
    for (i in seq_len(nrow(body))) for (j in seq_along(body)) {
      v <- body[[j]][i]
      if (!nzchar(v)) next
      got <- cells$text[cells$row_id == nh + i & cells$cell_id == j]
      expect_true(identical(got, v) || identical(got, paste0(v, "*")), info = paste(lang, i, j, v))
    }
    # the numbers read back equal base R
    pct_cells <- cells[cells$row_id > nh + 2L & cells$row_id <= nh + 2L + 4L &
                         (cells$cell_id - 1L) %% 3L == 2L, ]
    got <- matrix(flex_num(pct_cells$text, loc), 4L, byrow = TRUE)
    expect_true(flex_near(got, unname(ref$pct), 1L), info = lang)
    # merged header cells span the levels of their column variable (times
    # the statistics shown: weighted count, percent, letters)
    h1 <- cells[cells$row_id == 1L & !is.na(cells$text) & nzchar(cells$text), ]
    expect_identical(h1$text, c(loc$words$total, "sex", "age"))
    expect_equal(h1$col_span, c(1L, 2L, 3L) * 3L)
    expect_equal(h1$row_span[1L], 2L)  # Total over both header rows
    h2 <- cells[cells$row_id == 2L & !is.na(cells$text) & nzchar(cells$text), ]
    expect_identical(h2$text, c("female (A)", "male (B)", "middle (A)", "old (B)", "young (C)"))
    expect_equal(h2$col_span, rep(3L, 5L))
    # the notes and the source under the table
    foot <- cells$text[cells$row_id > nh + nrow(body) & !is.na(cells$text)]
    disp <- umfrage:::tab_display(t, lang)
    expect_identical(foot, c(disp$blocks[[1L]]$notes$lines,
                             paste0(loc$words$source, ": test data")))
    # the caption above it, numbered with the locale's word
    s <- officer::docx_summary(officer::read_docx(f))
    cap <- s$text[s$content_type == "paragraph" & s$style_name %in% "Table Caption"]
    expect_length(cap, 1L)
    expect_match(cap, paste0("^", loc$words$table, " "))
    expect_true(endsWith(cap, disp$blocks[[1L]]$title$text))
    # flextable's own writer gives the same cells
    f2 <- tempfile(fileext = ".docx")
    on.exit(unlink(f2), add = TRUE)
    flextable::save_as_docx(ft, path = f2)
    c2 <- docx_tables(f2)[[1L]]
    expect_identical(c2$text[c2$row_id <= nh + nrow(body)], cells$text[cells$row_id <= nh + nrow(body)])
  }
})

test_that("several blocks: a list of flextables, block = k, tab_docx() writes them all", {
  skip_if_not_installed("flextable")
  skip_if_not_installed("officer")
  d <- flex_data()
  t <- tab(d, c("vote", "sex"), cols = "age", by = "region")
  fts <- flextable::as_flextable(t, locale = "en")
  expect_type(fts, "list")
  expect_length(fts, 4L)  # 2 layers x 2 row variables
  expect_true(all(vapply(fts, inherits, NA, "flextable")))
  disp <- umfrage:::tab_display(t, "en")
  expect_identical(names(fts), vapply(disp$blocks, function(b) b$title$text, ""))
  expect_match(names(fts)[2L], "^sex .*region = North")
  # block 3: vote in the South, numbers from base R
  ft3 <- flextable::as_flextable(t, locale = "en", block = 3, title = "Vote, South")
  expect_s3_class(ft3, "flextable")
  expect_identical(ft3$caption$value$txt, "Vote, South")
  s <- d[d$region == "South", ]
  expect_equal(flex_num(ft3$body$dataset[[2L]], tab_locale("en")),
               c(nrow(s), as.vector(table(s$vote))))
  # tab_docx(): every block of every table, with the list's names as titles
  t1 <- tab(d, "vote", cols = "sex")
  f <- tempfile(fileext = ".docx")
  on.exit(unlink(f), add = TRUE)
  tab_docx(list(`Vote by sex` = t1, t), f, locale = "de", show = c("pct", "letters"))
  sm <- officer::docx_summary(officer::read_docx(f))
  caps <- sm$text[sm$content_type == "paragraph" & sm$style_name %in% "Table Caption"]
  expect_length(caps, 5L)
  expect_true(endsWith(caps[1L], "Vote by sex"))
  d_de <- umfrage:::tab_display(t, "de")
  expect_true(all(endsWith(caps[-1L], vapply(d_de$blocks, function(b) b$title$text, ""))))
  expect_length(unique(sm$doc_index[sm$content_type == "table cell"]), 5L)
})

test_that("tab_docx() turns the page for a wide banner", {
  skip_if_not_installed("flextable")
  skip_if_not_installed("officer")
  d <- flex_data()
  orient <- function(f) {
    dir <- tempfile()
    on.exit(unlink(dir, recursive = TRUE))
    utils::unzip(f, files = "word/document.xml", exdir = dir)
    xml <- paste(readLines(file.path(dir, "word/document.xml"), warn = FALSE), collapse = "")
    grepl("w:orient=\"landscape\"", xml, fixed = TRUE)
  }
  f <- tempfile(fileext = ".docx")
  on.exit(unlink(f), add = TRUE)
  wide <- tab(d, "vote", cols = c("sex", "age", "region"), weights = "w",
              show = c("count", "weighted", "pct", "letters"))
  tab_docx(wide, f)
  expect_true(orient(f))
  tab_docx(tab(d, "vote", cols = "sex"), f)
  expect_false(orient(f))
  tab_docx(tab(d, "vote", cols = "sex"), f, landscape = TRUE)
  expect_true(orient(f))
})

test_that("as_flextable() and tab_docx() reject bad input clearly", {
  skip_if_not_installed("flextable")
  skip_if_not_installed("officer")
  d <- flex_data()
  t <- tab(d, c("vote", "sex"), cols = "age")
  f <- tempfile(fileext = ".docx")
  expect_error(flextable::as_flextable(t, block = 0), "'block' must be a whole number from 1 to 2")
  expect_error(flextable::as_flextable(t, block = 3), "from 1 to 2")
  expect_error(flextable::as_flextable(t, block = "vote"), "'block'")
  expect_error(flextable::as_flextable(t, block = 1.5), "'block'")
  expect_error(flextable::as_flextable(t, title = 1), "'title' must be a string")
  expect_error(flextable::as_flextable(t, title = c("a", "b", "c")), "one per block: 2")
  expect_error(flextable::as_flextable(t, source = c("a", "b")), "'source' must be a single string")
  expect_error(flextable::as_flextable(t, show = "letters"), "shows no number")
  expect_error(flextable::as_flextable(t, locale = "fr"), "not a built-in language")
  expect_error(tab_docx(t, "out.xlsx"), "must end in .docx")
  expect_error(tab_docx(t, c("a.docx", "b.docx")), "'path' must be a single file name")
  expect_error(tab_docx(d, f), "'x' must be a tab\\(\\) result or a list of them")
  expect_error(tab_docx(list(t, d), f), "'x' must be a tab\\(\\) result or a list of them")
  expect_error(tab_docx(list(), f), "'x' must be")
  expect_error(tab_docx(t, f, landscape = "yes"), "'landscape' must be TRUE, FALSE or NA")
  expect_error(tab_docx(list(t, t), f, title = "one"), "one caption per table \\(2\\)")
  expect_false(file.exists(f))
  expect_error(umfrage:::need_suggested("umfrageNoSuchPkg", "tab_docx()"),
               "tab_docx\\(\\) needs the umfrageNoSuchPkg package; install it")
  expect_error(umfrage:::tab_flextables(d), "'x' must be a tab\\(\\) result")
})
