# Numeric rows (means, totals, ratios, mean scores) and nets in every
# output: print/format, HTML, the wide form, tab_xlsx(), as_flextable() /
# tab_docx(), plot() and autoplot(). Every number shown is checked against
# the long form's estimate, formatted here independently with formatC().

numout_design <- function(na = FALSE) {
  data(api, package = "survey", envir = environment())
  a <- apiclus1
  a$sat <- cut(a$api00, c(0, 600, 700, 800, 1000), labels = c("low", "mid", "good", "top"))
  if (na) {
    a$api00[1:20] <- NA
    a$enroll[30:35] <- NA
  }
  list(data = a, des = svy_design(a, weights = ~pw, cluster = ~dnum, fpc = ~fpc))
}

numout_tab <- function(...) {
  dd <- numout_design(...)
  tab(dd$des, rows = list(mean_of(~api00), total_of(~enroll), ratio_of(~api00, ~api99),
                          nets("sat", "Top 2" = c("good", "top")), score_of("sat", 1:4)),
      cols = c("stype", "awards"))
}

# A number as the locale writes it, formatted independently of umfrage.
fmt_en <- function(v, d) formatC(v, format = "f", digits = d, big.mark = ",")
fmt_de <- function(v, d) formatC(v, format = "f", digits = d, big.mark = ".", decimal.mark = ",")

# The long form's estimate of one cell.
est_of <- function(t, rv, cv = "Total", col = "Total", row = NULL) {
  a <- as.data.frame(t, stringsAsFactors = FALSE)
  s <- a$row_var == rv & a$col_var == cv & a$col == col
  if (!is.null(row)) s <- s & a$row == row
  stopifnot(sum(s) == 1L)
  a$estimate[s]
}

# The line of `out` starting with `label` (after leading spaces).
line_of <- function(out, label) {
  hit <- out[startsWith(trimws(out, "left"), label)]
  expect_length(hit, 1L)
  hit
}

test_that("print(): consecutive numeric rows stack into one block with the locale's words and digits", {
  t <- numout_tab()
  a <- as.data.frame(t, stringsAsFactors = FALSE)
  out <- format(t, width = 200)
  # one block for the three numeric rows: one header line with the banner
  expect_identical(sum(grepl("^Means, totals and other statistics", out)), 1L)
  expect_identical(sum(grepl("Base \\(n\\)", out)), 2L)   # numeric block + sat block
  cols <- list(c("Total", "Total"), c("stype", "E"), c("stype", "H"), c("stype", "M"),
               c("awards", "No"), c("awards", "Yes"))
  for (spec in list(list("mean(api00)", "Mean of api00", 1L), list("total(enroll)", "Total of enroll", 0L),
                    list("ratio(api00/api99)", "Ratio api00/api99", 3L))) {
    ln <- line_of(out, spec[[2]])
    # every column's estimate, in order, with the stat's digits, no % sign
    want <- vapply(cols, function(cc) fmt_en(est_of(t, spec[[1]], cc[1], cc[2]), spec[[3]]), "")
    ln2 <- sub(spec[[2]], "", ln, fixed = TRUE)
    got <- regmatches(ln2, gregexpr("-?[0-9][0-9,]*\\.?[0-9]*", ln2))[[1]]
    expect_identical(got, want)
    expect_false(grepl("%", ln, fixed = TRUE))
  }
  # German: words and marks
  de <- format(t, locale = "de", width = 200)
  expect_identical(sum(grepl("^Mittelwerte, Summen und weitere Kennwerte", de)), 1L)
  ln <- line_of(de, "api00: Mittelwert")
  expect_true(grepl(fmt_de(est_of(t, "mean(api00)"), 1L), ln, fixed = TRUE))
  ln <- line_of(de, "enroll: Summe")
  expect_true(grepl(fmt_de(est_of(t, "total(enroll)", "stype", "E"), 0L), ln, fixed = TRUE))
  ln <- line_of(de, "api00/api99: Verh\u00e4ltnis")
  expect_true(grepl(fmt_de(est_of(t, "ratio(api00/api99)", "awards", "Yes"), 3L), ln, fixed = TRUE))
  # the letters of numeric rows: the t-test legend, in both languages
  expect_true(any(grepl("Letters at total, ratio: significantly higher than the column with that letter (t test",
                        out, fixed = TRUE)))
  expect_true(any(grepl("Buchstaben bei Summe, Verh\u00e4ltnis: signifikant h\u00f6her", de, fixed = TRUE)))
  expect_true(any(grepl("(t-Test, alpha = 0,05", de, fixed = TRUE)))
  # the numeric block's legend does not speak of column percents
  blk <- out[seq_len(which(out == "")[1L])]
  expect_false(any(grepl("column %", blk, fixed = TRUE)))
  # digits per statistic from the call
  out3 <- format(t, digits = c(mean = 3, ratio = 1), width = 200)
  expect_true(grepl(fmt_en(est_of(t, "mean(api00)"), 3L), line_of(out3, "Mean of api00"), fixed = TRUE))
  expect_true(grepl(fmt_en(est_of(t, "ratio(api00/api99)"), 1L), line_of(out3, "Ratio api00/api99"),
                    fixed = TRUE))
  # CIs in the estimate's units with its digits
  oci <- format(t, show = c("pct", "ci"), width = 400)
  lo <- a$ci_low[a$row_var == "mean(api00)" & a$col_var == "Total"]
  hi <- a$ci_high[a$row_var == "mean(api00)" & a$col_var == "Total"]
  expect_true(grepl(sprintf("[%s, %s]", fmt_en(lo, 1L), fmt_en(hi, 1L)), line_of(oci, "Mean of api00"),
                    fixed = TRUE))
})

test_that("a score row follows its variable's distribution in the same block, under a rule, with both legends", {
  dd <- numout_design()
  # a significant mean-score difference, so that the block has t-test letters too
  t <- tab(dd$des, rows = list(nets("sat", "Top 2" = c("good", "top")), score_of("sat", 1:4)),
           cols = "awards", adjust = "none", alpha = 0.5)
  out <- format(t, width = 200)
  expect_identical(sum(grepl("^sat  \\(column %", out)), 1L)
  expect_false(any(grepl("^score\\(sat\\)", out)))
  i <- which(startsWith(out, "Mean score"))
  expect_length(i, 1L)
  expect_match(out[i - 1L], "^-+$")              # the rule above it
  expect_true(startsWith(out[i - 2L], "top"))    # right under the distribution
  ln <- out[i]
  for (cc in list(c("Total", "Total"), c("awards", "No"), c("awards", "Yes")))
    expect_true(grepl(fmt_en(est_of(t, "score(sat)", cc[1], cc[2]), 2L), ln, fixed = TRUE))
  # the mean score's letters against an independent t test of the scores
  # (the letter is there exactly when the one-sided comparison is significant)
  a <- dd$data
  a$score <- as.integer(a$sat)
  tt <- survey::svyttest(score ~ awards, survey::svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = a))
  lf <- as.data.frame(t, stringsAsFactors = FALSE)
  yes_letters <- lf$letters[lf$row_var == "score(sat)" & lf$col == "Yes"]
  expect_identical(nzchar(yes_letters), tt$p.value < 0.5 && tt$estimate > 0)
  expect_true(tt$p.value < 0.5)   # so the block has t-test letters: both legends
  expect_true(any(grepl("Letters at mean score:", paste(out, collapse = " "), fixed = TRUE)))
  # nets are marked, the percent legend (z test) is there too
  expect_true(any(startsWith(out, "+ Top 2")))
  expect_true(any(grepl("(z test", out, fixed = TRUE)))
  # HTML: the score row has the rule class, the net its class
  h <- umfrage:::tab_block_html(t, 1L, 1L)
  expect_match(h, "umf-rule", fixed = TRUE)
  expect_match(h, "umf-net", fixed = TRUE)
  expect_match(h, paste0(">", fmt_en(est_of(t, "score(sat)"), 2L), "<"), fixed = TRUE)
  de <- format(t, locale = "de", width = 200)
  expect_true(grepl(fmt_de(est_of(t, "score(sat)"), 2L), line_of(de, "Mittelwert (Skala)"), fixed = TRUE))
})

test_that("numeric rows with different bases get their own base row; equal bases one at the top", {
  dd <- numout_design(na = TRUE)
  t <- tab(dd$des, rows = list(mean_of(~api00), total_of(~enroll, label = "Enrolment"), "sat",
                               score_of("sat", c(1, 2, NA, 4))), cols = "stype")
  out <- format(t, width = 200)
  i <- which(startsWith(out, "Mean of api00"))
  expect_match(out[i + 1L], "^  Base \\(n\\)")
  n_api <- sum(!is.na(dd$data$api00))
  n_enr <- sum(!is.na(dd$data$enroll))
  expect_match(out[i + 1L], paste0("\\b", n_api, "\\b"))
  j <- which(startsWith(out, "Enrolment"))      # the user's label as given
  expect_match(out[j + 1L], paste0("\\b", n_enr, "\\b"))
  # the score's base (levels with a score) under the score row
  k <- which(startsWith(out, "Mean score"))
  expect_match(out[k + 1L], paste0("^  Base \\(n\\) +", sum(dd$data$sat %in% c("low", "mid", "top"))))
  # equal bases: one base at the top, none under the rows
  t2 <- tab(dd$des, rows = list(mean_of(~api99), total_of(~api99)), cols = "stype")
  o2 <- format(t2, width = 200)
  expect_identical(sum(grepl("Base \\(n\\)", o2)), 1L)
  expect_match(o2[grep("^Base \\(n\\)", o2)], paste0("^Base \\(n\\) +", nrow(dd$data)))
  # the wide form: the own base rows are base_n rows of the numeric row
  w <- as.data.frame(t, layout = "wide")
  wb <- w[w$row_var == "mean(api00)", ]
  expect_identical(wb$type, c("cell", "base_n"))
  expect_identical(wb$Total, c(est_of(t, "mean(api00)"), n_api))
})

test_that("the wide form holds the numeric rows' estimates, with their statistic", {
  t <- numout_tab()
  w <- as.data.frame(t, layout = "wide")
  lf <- as.data.frame(t, stringsAsFactors = FALSE)
  for (rv in c("mean(api00)", "total(enroll)", "ratio(api00/api99)", "score(sat)")) {
    r <- w[w$row_var == rv & w$type == "cell", ]
    expect_identical(nrow(r), 1L)
    expect_identical(r$stat, sub("\\(.*", "", rv))
    expect_type(r[["stype: E"]], "double")
    expect_equal(r[["stype: E"]], est_of(t, rv, "stype", "E"), tolerance = 1e-12)
    expect_equal(r[["awards: Yes"]], est_of(t, rv, "awards", "Yes"), tolerance = 1e-12)
    expect_identical(r[["awards: Yes [letters]"]], lf$letters[lf$row_var == rv & lf$col == "Yes"])
  }
  expect_identical(w$row[w$row_var == "mean(api00)" & w$type == "cell"], "Mean of api00")
  expect_identical(w$row[w$row_var == "score(sat)"], "Mean score")
  # percents stay percents
  r <- w[w$row_var == "sat" & w$row == "Top 2", ]
  expect_identical(r$stat, "pct")
  expect_equal(r$Total, lf$pct[lf$row_var == "sat" & lf$row == "Top 2" & lf$col_var == "Total"])
  # German labels
  wd <- as.data.frame(t, layout = "wide", locale = "de")
  expect_true("api00: Mittelwert" %in% wd$row)
})

# The number format code of a cell (numFmtId, built-in or custom).
numout_numfmt <- function(wb, sheet, ref) {
  xf_id <- as.integer(wb$get_cell_style(sheet = sheet, dims = ref))
  xf <- wb$styles_mgr$styles$cellXfs[xf_id + 1L]
  id <- as.integer(sub('.*numFmtId="([0-9]+)".*', "\\1", xf))
  builtin <- c("0" = "General", "1" = "0", "2" = "0.00", "3" = "#,##0", "4" = "#,##0.00",
               "9" = "0%", "10" = "0.00%")
  if (as.character(id) %in% names(builtin)) return(builtin[[as.character(id)]])
  nf <- wb$styles_mgr$styles$numFmts
  hit <- nf[grepl(sprintf('numFmtId="%d"', id), nf, fixed = TRUE)]
  gsub("&quot;", "\"", sub('.*formatCode="([^"]*)".*', "\\1", hit), fixed = TRUE)
}
# The sheet's cells of their own type (numbers stay numbers): get(r, c),
# the stub's labels, the number of columns.
numout_grid <- function(path, sheet) {
  g <- readxl::read_xlsx(path, sheet = sheet, col_names = FALSE, col_types = "list",
                         .name_repair = "minimal")
  get <- function(r, c) {
    v <- g[[c]][[r]]
    if (is.null(v) || (length(v) == 1L && is.logical(v) && is.na(v))) NA else v
  }
  list(get = get, nc = ncol(g),
       lab = vapply(seq_len(nrow(g)), function(r) { v <- get(r, 1L); if (is.character(v)) v else "" }, ""))
}
numout_bold <- function(wb, sheet, ref) {
  xf_id <- as.integer(wb$get_cell_style(sheet = sheet, dims = ref))
  xf <- wb$styles_mgr$styles$cellXfs[xf_id + 1L]
  fid <- as.integer(sub('.*fontId="([0-9]+)".*', "\\1", xf))
  grepl("<b", wb$styles_mgr$styles$fonts[fid + 1L], fixed = TRUE)
}

test_that("tab_xlsx(): numeric cells are numbers equal to the estimates, in the stat's number format; nets bold", {
  skip_if_not_installed("openxlsx2")
  skip_if_not_installed("readxl")
  t <- numout_tab()
  f <- tempfile(fileext = ".xlsx")
  on.exit(unlink(f))
  tab_xlsx(t, f, show = c("pct", "letters"))
  wb <- openxlsx2::wb_load(f)
  g <- numout_grid(f, "Table 1")
  lab <- g$lab
  # banner: column B = Total, then per banner column the value and its letters
  hdr_row <- which(lab == "Base (n)")[1L] - 1L
  for (spec in list(list("mean(api00)", "Mean of api00", "#,##0.0"), list("total(enroll)", "Total of enroll", "#,##0"),
                    list("ratio(api00/api99)", "Ratio api00/api99", "#,##0.000"),
                    list("score(sat)", "Mean score", "#,##0.00"))) {
    r <- which(lab == spec[[2]])
    expect_length(r, 1L)
    v <- g$get(r, 2)
    expect_type(v, "double")
    expect_equal(v, est_of(t, spec[[1]]), tolerance = 1e-12)
    expect_identical(numout_numfmt(wb, "Table 1", paste0("B", r)), spec[[3]])
    # stype E (column C) and awards Yes (the last value column)
    expect_equal(g$get(r, 3), est_of(t, spec[[1]], "stype", "E"), tolerance = 1e-12)
    expect_equal(g$get(r, g$nc - 1L), est_of(t, spec[[1]], "awards", "Yes"), tolerance = 1e-12)
  }
  # percents stay proportions with a percent format
  r <- which(lab == "low")
  lf <- as.data.frame(t, stringsAsFactors = FALSE)
  expect_equal(g$get(r, 2), lf$pct[lf$row_var == "sat" & lf$row == "low" & lf$col_var == "Total"] / 100,
               tolerance = 1e-12)
  expect_match(numout_numfmt(wb, "Table 1", paste0("B", r)), "%", fixed = TRUE)
  # the net is bold, its levels are not
  rn <- which(lab == "Top 2")
  expect_true(numout_bold(wb, "Table 1", paste0("A", rn)))
  expect_true(numout_bold(wb, "Table 1", paste0("B", rn)))
  expect_false(numout_bold(wb, "Table 1", paste0("B", r)))
  # the letters of a numeric row in their own cell
  rt <- which(lab == "Total of enroll")
  expect_identical(g$get(rt, g$nc), lf$letters[lf$row_var == "total(enroll)" & lf$col == "Yes"])
  # the score row is in the sat block: after "top", before the block's notes
  expect_identical(which(lab == "Mean score"), which(lab == "top") + 1L)
  # own base rows (different bases) are numbers with a count format
  dd <- numout_design(na = TRUE)
  t2 <- tab(dd$des, rows = list(mean_of(~api00), total_of(~enroll)), cols = "stype")
  tab_xlsx(t2, f, locale = "de")
  g <- numout_grid(f, "Tabelle 1")
  lab <- g$lab
  r <- which(lab == "api00: Mittelwert")
  expect_identical(lab[r + 1L], "Basis (n)")
  expect_equal(g$get(r + 1L, 2), sum(!is.na(dd$data$api00)))
  expect_equal(g$get(r, 2), est_of(t2, "mean(api00)"), tolerance = 1e-12)
})

test_that("as_flextable() and tab_docx(): the formatted estimates in the body, nets bold", {
  skip_if_not_installed("flextable")
  skip_if_not_installed("officer")
  t <- numout_tab()
  fts <- flextable::as_flextable(t, locale = "de")
  expect_length(fts, 2L)   # the numeric block and the sat block (with its score row)
  body <- fts[[1]]$body$dataset
  expect_identical(body[[1]], c("Basis (n)", "Basis (gewichtet)", "api00: Mittelwert", "enroll: Summe",
                                "api00/api99: Verh\u00e4ltnis"))
  txt <- unlist(body[-1])
  expect_true(fmt_de(est_of(t, "mean(api00)", "stype", "H"), 1L) %in% txt)
  expect_true(fmt_de(est_of(t, "total(enroll)", "awards", "No"), 0L) %in% txt)
  expect_true(fmt_de(est_of(t, "ratio(api00/api99)"), 3L) %in% txt)
  expect_false(any(grepl("%", txt, fixed = TRUE)))
  b2 <- fts[[2]]$body$dataset
  expect_identical(tail(b2[[1]], 1L), "Mittelwert (Skala)")
  expect_true(fmt_de(est_of(t, "score(sat)"), 2L) %in% unlist(b2[nrow(b2), -1]))
  # the net row is bold
  bold <- fts[[2]]$body$styles$text$bold$data
  expect_true(all(bold[which(b2[[1]] == "Top 2"), ]))
  f <- tempfile(fileext = ".docx")
  on.exit(unlink(f))
  tab_docx(t, f)
  s <- officer::docx_summary(officer::read_docx(f))
  cells <- s$text[s$content_type == "table cell"]
  expect_true(fmt_en(est_of(t, "mean(api00)", "awards", "Yes"), 1L) %in% cells)
  expect_true(fmt_en(est_of(t, "score(sat)", "stype", "E"), 2L) %in% cells)
  expect_true("Mean score" %in% cells)
})

test_that("plot() and autoplot() of a numeric row: its estimates and intervals on its own scale", {
  t <- numout_tab()
  lf <- as.data.frame(t, stringsAsFactors = FALSE)
  pdf(NULL)
  on.exit(dev.off())
  p <- plot(t, row_var = "mean(api00)", col_var = "stype")
  sel <- lf$row_var == "mean(api00)" & lf$col_var == "stype"
  expect_equal(p$value, lf$estimate[sel], tolerance = 1e-12)
  expect_equal(p$ci_low, lf$ci_low[sel], tolerance = 1e-12)
  expect_equal(p$ci_high, lf$ci_high[sel], tolerance = 1e-12)
  expect_identical(as.character(p$row), rep("Mean of api00", 3L))
  # the axis is the estimate's, without a percent sign
  expect_false(any(grepl("%", attr(p, "axis")$label, fixed = TRUE)))
  expect_true(all(range(attr(p, "axis")$at) > 400))
  p2 <- plot(t, row_var = "score(sat)", col_var = "awards", horiz = TRUE, locale = "de", labels = TRUE)
  sel <- lf$row_var == "score(sat)" & lf$col_var == "awards"
  expect_equal(p2$value, lf$estimate[sel], tolerance = 1e-12)
  expect_true(any(grepl(",", attr(p2, "axis")$label, fixed = TRUE)))
  expect_error(plot(t, row_var = "mean(api00)", stacked = TRUE), "numeric row")
  # percents of the same table are still bars of percents
  p3 <- plot(t, row_var = "sat", col_var = "stype")
  expect_equal(sort(p3$value), sort(lf$pct[lf$row_var == "sat" & lf$col_var == "stype"]),
               tolerance = 1e-12)
  skip_if_not_installed("ggplot2")
  g <- ggplot2::autoplot(t, row_var = "total(enroll)", col_var = "awards", locale = "de")
  expect_s3_class(g, "ggplot")
  expect_no_error(ggplot2::ggplot_build(g))
  sel <- lf$row_var == "total(enroll)" & lf$col_var == "awards"
  expect_equal(g$data$value, lf$estimate[sel], tolerance = 1e-12)
  expect_equal(g$data$ci_high, lf$ci_high[sel], tolerance = 1e-12)
  expect_identical(g$labels$title, "enroll: Summe")
})

test_that("the levels of a quantile row are labelled per probability, in the locale", {
  rv <- list(name = "quantile(income)", label = "quantile(income)", stat = "quantile",
             var_label = "income", levels = c("25%", "50%", "75%", "2.5%"))
  expect_identical(umfrage:::num_row_labels(rv, 1:4, tab_locale("en")),
                   c("25% quantile of income", "Median of income", "75% quantile of income",
                     "2.5% quantile of income"))
  expect_identical(umfrage:::num_row_labels(rv, 1:4, tab_locale("de")),
                   c("income: 25-%-Quantil", "income: Median", "income: 75-%-Quantil",
                     "income: 2,5-%-Quantil"))
  rv$label <- "Income"
  expect_identical(umfrage:::num_row_labels(rv, 2L, tab_locale("en")), "Income: 50%")
  # the German template numbers its slots; a user's word must take as many
  expect_error(tab_locale("de", words = c(num_quantile = "%s")), "2 '%s' slot")
})
