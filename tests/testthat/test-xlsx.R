# tab_xlsx() (issue 13): tables in banner layout in .xlsx. Every file is
# read back (readxl for the cell values and their types, openxlsx2 for the
# merged ranges, number formats and links) and compared with the long form
# of the table; one table also with base R's own counts and percents.

xl_data <- function(n = 600, seed = 7) {
  set.seed(seed)
  d <- data.frame(
    sex = sample(c("female", "male"), n, TRUE),
    age = sample(c("18-29", "30-49", "50+"), n, TRUE, prob = c(0.03, 0.485, 0.485)),
    region = sample(c("North", "South"), n, TRUE),
    vote = factor(sample(c("A", "B", "C", "D"), n, TRUE)),
    w = stats::runif(n, 0.4, 2.5), stringsAsFactors = FALSE)
  d$vote[d$age == "50+" & stats::runif(n) < 0.4] <- "A"
  d$vote[d$sex == "female" & stats::runif(n) < 0.3] <- "B"
  d$b1 <- stats::runif(n) < 0.5
  d$b2 <- stats::runif(n) < 0.3 + 0.2 * (d$sex == "male")
  d
}

# The sheet as a grid of cells of their own type (numbers stay numbers).
xl_grid <- function(path, sheet) {
  g <- readxl::read_xlsx(path, sheet = sheet, col_names = FALSE, col_types = "list",
                         range = "A1:DZ400", .name_repair = "minimal")
  function(r, c) {
    v <- g[[c]][[r]]
    if (is.null(v) || (length(v) == 1L && is.logical(v) && is.na(v))) NA else v
  }
}

xl_col <- function(j) {
  vapply(j, function(n) {
    s <- ""
    while (n > 0) {
      s <- paste0(LETTERS[(n - 1L) %% 26L + 1L], s)
      n <- (n - 1L) %/% 26L
    }
    s
  }, "")
}

# The number format code of a cell, from the workbook's styles.
xl_numfmt <- function(wb, sheet, ref) {
  xf_id <- as.integer(wb$get_cell_style(sheet = sheet, dims = ref))
  if (is.na(xf_id)) return("General")
  xf <- wb$styles_mgr$styles$cellXfs[xf_id + 1L]
  id <- as.integer(sub('.*numFmtId="([0-9]+)".*', "\\1", xf))
  if (id == 0L) return("General")
  if (id == 9L) return("0%")
  if (id == 10L) return("0.00%")
  nf <- wb$styles_mgr$styles$numFmts
  hit <- nf[grepl(sprintf('numFmtId="%d"', id), nf, fixed = TRUE)]
  code <- sub('.*formatCode="([^"]*)".*', "\\1", hit)
  gsub("&quot;", "\"", code, fixed = TRUE)
}

xl_merges <- function(wb, sheet) {
  mc <- wb$worksheets[[match(sheet, wb$get_sheet_names())]]$mergeCells
  sub('.*ref="([^"]+)".*', "\\1", mc)
}

# Check one block of a sheet against the long form of `t`: the k-th block
# on the sheet (its base row found by the locale's word in column A) is row
# variable i in layer ly. `stats` are the Excel columns per banner column,
# in order. Returns the sheet row of the base row.
check_block <- function(get, wb, sheet, t, i, ly, loc, stats, occurrence = 1L) {
  col_a <- vapply(1:400, function(r) { v <- get(r, 1L); if (is.character(v)) v else "" }, "")
  r_bn <- which(col_a == loc$words$base_n)[occurrence]
  expect_false(is.na(r_bn))
  stat_row <- sum(stats != "letters") > 1L
  r_lev <- r_bn - 1L - stat_row
  r_span <- r_lev - 1L
  nbase <- if (t$weighted) 2L else 1L
  if (t$weighted) expect_identical(col_a[r_bn + 1L], loc$words$base_w)
  bsel <- which(t$base_id$row_var == i & t$base_id$layer == ly)
  bid <- t$base_id[bsel, ]
  bases <- t$bases[bsel, ]
  csel <- which(t$cell_id$row_var == i & t$cell_id$layer == ly)
  cid <- t$cell_id[csel, ]
  cells <- t$cells[csel, ]
  rows <- unique(cid$row)
  expect_identical(col_a[r_bn + nbase - 1L + seq_along(rows)], t$rows[[i]]$levels[rows])
  merges <- xl_merges(wb, sheet)
  col <- 2L
  got <- want <- list(num = numeric(), let = character(), base = numeric())
  types_ok <- TRUE
  for (m in seq_len(nrow(bid))) {
    j <- bid$col_var[m]
    cl <- bid$col[m]
    st <- if (j == 1L) setdiff(stats, "letters") else stats
    if (j == 1L) {
      expect_identical(get(r_span, col), loc$words$total)
      expect_true(paste0(xl_col(col), r_span, ":", xl_col(col + length(st) - 1L), r_lev) %in% merges)
    } else {
      lev <- t$cols[[j]]$levels[cl]
      expect_identical(sub(" \\([A-Z]+\\)$", "", get(r_lev, col)), lev)
      if (cl == 1L) {
        # the spanner: its label over a merged range as wide as its levels
        nlev <- sum(bid$col_var == j)
        expect_identical(get(r_span, col), t$cols[[j]]$label)
        if (nlev * length(st) > 1L)
          expect_true(paste0(xl_col(col), r_span, ":", xl_col(col + nlev * length(st) - 1L), r_span)
                      %in% merges)
      }
    }
    # bases in the first numeric column
    got$base <- c(got$base, get(r_bn, col), if (t$weighted) get(r_bn + 1L, col))
    want$base <- c(want$base, bases$base_n[m], if (t$weighted) bases$base_w[m])
    for (a in seq_along(rows)) {
      ci <- which(cid$row == rows[a] & cid$col_var == j & cid$col == cl)
      r <- r_bn + nbase - 1L + a
      for (s in seq_along(st)) {
        v <- get(r, col + s - 1L)
        if (st[s] == "letters") {
          got$let <- c(got$let, if (is.na(v)) "" else v)
          want$let <- c(want$let, if (is.na(cells$letters[ci])) "" else cells$letters[ci])
        } else {
          w <- switch(st[s], count = cells$n[ci], weighted = cells$n_w[ci], pct = cells$pct[ci] / 100,
                      ci_low = cells$ci_low[ci] / 100, ci_high = cells$ci_high[ci] / 100)
          if (is.na(w)) {
            expect_identical(v, "-")
          } else {
            types_ok <- types_ok && is.numeric(v)
            got$num <- c(got$num, v)
            want$num <- c(want$num, w)
          }
          if (st[s] %in% c("pct", "ci_low", "ci_high") && !is.na(w))
            expect_match(xl_numfmt(wb, sheet, paste0(xl_col(col + s - 1L), r)), "%", fixed = TRUE)
        }
      }
    }
    col <- col + length(st)
  }
  expect_true(types_ok)
  expect_equal(unlist(got$num), want$num, tolerance = 1e-12)
  expect_equal(unlist(got$base), want$base, tolerance = 1e-12)
  expect_identical(got$let, want$let)
  invisible(r_bn)
}

test_that("a weighted banner in German: numbers, letters, bases, merges read back", {
  skip_if_not_installed("openxlsx2")
  skip_if_not_installed("readxl")
  d <- xl_data()
  t <- tab(d, list("vote", mr_set(d, c("b1", "b2"), label = "Brands")), cols = c("sex", "age"),
           weights = "w")
  f <- tempfile(fileext = ".xlsx")
  on.exit(unlink(f))
  expect_identical(tab_xlsx(t, f, locale = "de", source = "Quelle: Testdaten"), f)
  wb <- openxlsx2::wb_load(f)
  expect_identical(unname(wb$get_sheet_names()), "Tabelle 1")  # one table: no contents
  get <- xl_grid(f, "Tabelle 1")
  loc <- tab_locale("de")
  stats <- c("weighted", "pct", "letters")  # the default of a weighted table
  r1 <- check_block(get, wb, "Tabelle 1", t, 1L, 1L, loc, stats, 1L)
  r2 <- check_block(get, wb, "Tabelle 1", t, 2L, 1L, loc, stats, 2L)
  # the notes: tests, the letter legend, the small-base legend, the source once
  col_a <- vapply(1:80, function(r) { v <- get(r, 1L); if (is.character(v)) v else "" }, "")
  under1 <- function(prefix) {
    k <- which(startsWith(col_a, prefix))
    length(k) >= 1L && k[1L] > r1 && k[1L] < r2
  }
  expect_true(under1("sex: Rao-Scott F = "))
  expect_true(under1("Buchstaben: Spalten-%"))
  expect_true(under1("* Basis unter 30"))
  expect_true(any(nzchar(t$cells$letters)))
  expect_identical(sum(col_a == "Quelle: Testdaten"), 2L)  # under each block
  # the 18-29 column is small: its cells carry the flag in their format
  expect_lt(sum(d$age == "18-29"), 30)
  small_col <- which(vapply(1:60, function(c) identical(get(r1 - 2L, c), "18-29 (A)"), NA))
  expect_length(small_col, 1L)
  fmt <- xl_numfmt(wb, "Tabelle 1", paste0(xl_col(small_col + 1L), r1 + 2L))
  expect_match(fmt, "%", fixed = TRUE)
  expect_match(fmt, "*", fixed = TRUE)
  expect_true(is.numeric(get(r1 + 2L, small_col + 1L)))
  # the Total's column format: one decimal, no flag
  expect_identical(xl_numfmt(wb, "Tabelle 1", paste0("C", r1 + 2L)), "0.0 %")
  # the captions
  expect_identical(get(1L, 1L), "vote  (Spalten-%, gewichtet)")
})

test_that("counts and percents equal base R (unweighted, one decimal)", {
  skip_if_not_installed("openxlsx2")
  skip_if_not_installed("readxl")
  d <- xl_data(n = 500, seed = 3)
  t <- tab(d, "vote", cols = "region", show = c("count", "pct"))
  f <- tempfile(fileext = ".xlsx")
  on.exit(unlink(f))
  tab_xlsx(t, f, locale = "en")
  get <- xl_grid(f, "Table 1")
  # layout: A stub; B:C Total (n, %); D:E North; F:G South; row 1 caption,
  # 2 spanner, 3 levels, 4 statistics, 5 base, 6.. body
  tb <- table(d$vote, d$region)
  expect_identical(get(2L, 4L), "region")
  expect_identical(c(get(3L, 4L), get(3L, 6L)), c("North", "South"))
  expect_identical(c(get(4L, 2L), get(4L, 3L)), c("n", "%"))
  expect_identical(get(5L, 1L), "Base (n)")
  expect_equal(c(get(5L, 2L), get(5L, 4L), get(5L, 6L)), c(nrow(d), as.vector(colSums(tb))))
  for (a in seq_len(nrow(tb))) {
    expect_identical(get(5L + a, 1L), rownames(tb)[a])
    expect_equal(c(get(5L + a, 2L), get(5L + a, 4L), get(5L + a, 6L)),
                 c(sum(tb[a, ]), tb[a, "North"], tb[a, "South"]))
    expect_equal(c(get(5L + a, 3L), get(5L + a, 5L), get(5L + a, 7L)),
                 c(sum(tb[a, ]) / sum(tb), tb[a, "North"] / sum(tb[, "North"]),
                   tb[a, "South"] / sum(tb[, "South"])), tolerance = 1e-12)
  }
  wb <- openxlsx2::wb_load(f)
  expect_identical(xl_numfmt(wb, "Table 1", "E6"), "0.0%")
  expect_identical(xl_numfmt(wb, "Table 1", "D6"), "#,##0")
  expect_true(all(c("B2:C3", "D2:G2", "D3:E3", "F3:G3") %in% xl_merges(wb, "Table 1")))
})

test_that("a list of tables, stacked, in English, with intervals and a contents sheet", {
  skip_if_not_installed("openxlsx2")
  skip_if_not_installed("readxl")
  d <- xl_data()
  t1 <- tab(d, "vote", cols = c("sex", "age"), weights = "w")
  t2 <- tab(d, "vote", cols = "sex", by = "region")
  f <- tempfile(fileext = ".xlsx")
  on.exit(unlink(f))
  show <- c("count", "pct", "ci", "letters")
  tab_xlsx(list("Vote by sex and age" = t1, "Vote by sex, per region" = t2), f,
           layout = "stacked", locale = "en", show = show, digits = c(pct = 0, ci = 1))
  wb <- openxlsx2::wb_load(f)
  expect_identical(unname(wb$get_sheet_names()), c("Contents", "Tables"))
  get <- xl_grid(f, "Tables")
  loc <- tab_locale("en")
  stats <- c("count", "pct", "ci_low", "ci_high", "letters")
  check_block(get, wb, "Tables", t1, 1L, 1L, loc, stats, 1L)
  check_block(get, wb, "Tables", t2, 1L, 1L, loc, stats, 2L)
  r3 <- check_block(get, wb, "Tables", t2, 1L, 2L, loc, stats, 3L)
  # the statistics' header and the digits of the formats
  expect_identical(c(get(r3 - 1L, 2L), get(r3 - 1L, 3L), get(r3 - 1L, 4L), get(r3 - 1L, 5L)),
                   c("n", "%", "CI low", "CI high"))
  expect_identical(xl_numfmt(wb, "Tables", paste0("C", r3 + 1L)), "0%")
  expect_identical(xl_numfmt(wb, "Tables", paste0("D", r3 + 1L)), "0.0%")
  # contents: every table with its number, title and sheet, linked to its first line
  cget <- xl_grid(f, "Contents")
  expect_identical(cget(1L, 1L), "Contents")
  expect_identical(c(cget(3L, 1L), cget(3L, 2L), cget(3L, 3L)), c("No.", "Sheet", "Title"))
  expect_identical(vapply(4:6, function(r) cget(r, 1L), ""), c("1", "2.1", "2.2"))
  ttl <- vapply(4:6, function(r) cget(r, 3L), "")
  expect_identical(ttl[1L], "Vote by sex and age")
  expect_true(all(startsWith(ttl[2:3], "Vote by sex, per region: vote  [region = ")))
  expect_identical(vapply(4:6, function(r) cget(r, 2L), ""), rep("Tables", 3L))
  expect_true(is.na(cget(7L, 1L)))
  links <- wb$worksheets[[1L]]$hyperlinks
  expect_length(links, 3L)
  expect_identical(sub('.*ref="([A-Z0-9]+)".*', "\\1", links), c("C4", "C5", "C6"))
  loc_cells <- sub(".*location=\"'Tables'!A([0-9]+)\".*", "\\1", links)
  rows <- as.integer(loc_cells)
  expect_false(anyNA(rows))
  # each link points at its table's first line: the title, or the caption
  expect_identical(get(rows[1L], 1L), "Vote by sex and age")
  expect_identical(get(rows[2L], 1L), "Vote by sex, per region")
  expect_match(get(rows[3L], 1L), "^vote  \\[region = South\\]")
})

test_that("one sheet per table; sheet names made valid; German words", {
  skip_if_not_installed("openxlsx2")
  skip_if_not_installed("readxl")
  d <- xl_data()
  t1 <- tab(d, "vote", cols = "sex")
  t2 <- tab(d, "age", cols = "sex")
  t3 <- tab(d, "region", cols = "age")
  f <- tempfile(fileext = ".xlsx")
  on.exit(unlink(f))
  tab_xlsx(list(t1, t2), f, locale = "de")
  wb <- openxlsx2::wb_load(f)
  expect_identical(unname(wb$get_sheet_names()), c("Inhalt", "Tabelle 1", "Tabelle 2"))
  get <- xl_grid(f, "Tabelle 2")
  check_block(get, wb, "Tabelle 2", t2, 1L, 1L, tab_locale("de"), c("count", "pct", "letters"))
  cget <- xl_grid(f, "Inhalt")
  expect_identical(c(cget(3L, 1L), cget(3L, 2L), cget(3L, 3L)), c("Nr.", "Blatt", "Titel"))
  expect_identical(c(cget(4L, 2L), cget(5L, 2L)), c("Tabelle 1", "Tabelle 2"))
  # invalid, long and clashing names
  tab_xlsx(list(t1, t2, t3), f, sheet = c("a/b:c", "A_B_C", strrep("x", 40)), contents = FALSE)
  wb <- openxlsx2::wb_load(f)
  nm <- unname(wb$get_sheet_names())
  expect_identical(nm, c("a_b_c", "A_B_C (2)", strrep("x", 31)))
  # a contents sheet named like a table's sheet stays distinct
  tab_xlsx(list(t1, t2), f, sheet = c("Contents", "b"), locale = "en")
  expect_identical(unname(openxlsx2::wb_load(f)$get_sheet_names()), c("Contents", "Contents (2)", "b"))
  # stacked: the one sheet's name
  tab_xlsx(list(t1, t2), f, layout = "stacked", sheet = "Alle Tabellen", contents = FALSE)
  expect_identical(unname(openxlsx2::wb_load(f)$get_sheet_names()), "Alle Tabellen")
})

test_that("percent-only cells in German: formats without decimals, the source's word once", {
  skip_if_not_installed("openxlsx2")
  skip_if_not_installed("readxl")
  d <- xl_data()
  t <- tab(d, "vote", cols = "age", weights = "w", show = c("pct", "letters"), digits = 0)
  f <- tempfile(fileext = ".xlsx")
  on.exit(unlink(f))
  tab_xlsx(list("Wahl nach Alter" = t), f, locale = "de", source = "Umfrage 2024")
  wb <- openxlsx2::wb_load(f)
  get <- xl_grid(f, "Tabelle 1")
  expect_identical(get(1L, 1L), "Wahl nach Alter")
  r <- check_block(get, wb, "Tabelle 1", t, 1L, 1L, tab_locale("de"), c("pct", "letters"))
  expect_identical(xl_numfmt(wb, "Tabelle 1", paste0("B", r + 2L)), "0 %")
  expect_identical(xl_numfmt(wb, "Tabelle 1", paste0("B", r)), "#,##0")
  col_a <- vapply(1:40, function(k) { v <- get(k, 1L); if (is.character(v)) v else "" }, "")
  expect_true("Quelle: Umfrage 2024" %in% col_a)
})

test_that("tab_xlsx() refuses bad input with clear messages", {
  skip_if_not_installed("openxlsx2")
  d <- xl_data(n = 200)
  t <- tab(d, "vote", cols = "sex")
  f <- tempfile(fileext = ".xlsx")
  on.exit(unlink(f))
  expect_error(tab_xlsx(d, f), "'x' must be a tab\\(\\) result or a list of them, not .*data.frame")
  expect_error(tab_xlsx(list(t, d), f), "element 2 is .*data.frame")
  expect_error(tab_xlsx(list(), f), "'x' must be a tab\\(\\) result")
  expect_error(tab_xlsx(t, 1), "'path' must be a single file name")
  expect_error(tab_xlsx(t, c("a.xlsx", "b.xlsx")), "'path' must be a single file name")
  expect_error(tab_xlsx(t, tempfile(fileext = ".csv")), "'path' must end in \".xlsx\"")
  expect_error(tab_xlsx(t, file.path(tempfile(), "x.xlsx")), "folder of 'path' does not exist")
  expect_error(tab_xlsx(list(t, t), f, title = "one"), "one title per table \\(2\\)")
  expect_error(tab_xlsx(t, f, title = 1), "'title' must be a character vector")
  expect_error(tab_xlsx(list(t, t, t), f, source = c("a", "b")), "'source' must be a character vector")
  expect_error(tab_xlsx(list(t, t), f, sheet = "one"), "one sheet name per table \\(2\\)")
  expect_error(tab_xlsx(t, f, layout = "stacked", sheet = c("a", "b")), "a single sheet name")
  expect_error(tab_xlsx(t, f, layout = "wide"), "'arg' should be one of")
  expect_error(tab_xlsx(t, f, show = "foo"), "'show' names 'foo'")
  expect_error(tab_xlsx(t, f, contents = NA), "'contents' must be TRUE or FALSE")
  expect_false(file.exists(f))
  tab_xlsx(t, f)
  expect_error(tab_xlsx(t, f, overwrite = FALSE), "exists; use overwrite = TRUE")
})
