# Numeric rows in the report helpers and the display's loose ends: alt
# text of a numeric row's chart, quantile labels and digits, summary()'s
# wording, and header letters only on blocks that can carry letters. The
# numbers are survey's (svyby/svymean, svyquantile), formatted here with
# formatC(), never copied from umfrage's output.

pol_design <- function() {
  data(api, package = "survey", envir = environment())
  a <- apistrat
  list(data = a,
       des = svy_design(a, weights = ~pw, strata = ~stype),
       sdes = survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, data = a))
}

pfmt_en <- function(v, d) formatC(v, format = "f", digits = d, big.mark = ",")
pfmt_de <- function(v, d) formatC(v, format = "f", digits = d, big.mark = ".", decimal.mark = ",")

test_that("tab_alt() describes a mean row by its estimates and intervals, in the locale's words", {
  dd <- pol_design()
  t <- tab(dd$des, rows = list(mean_of(~api00), "sch.wide"), cols = "stype")
  sv <- survey::svyby(~api00, ~stype, dd$sdes, survey::svymean)
  # the interval: t with the domain's df (strata design: n - H per stratum
  # domain = n_h - 1)
  n_h <- table(dd$data$stype)[as.character(sv$stype)]
  q <- qt(0.975, n_h - 1)
  lo <- sv$api00 - q * sv$se
  hi <- sv$api00 + q * sv$se
  de <- tab_alt(t, locale = "de")
  want <- paste0("Punktdiagramm: api00: Mittelwert (95-%-Konfidenzintervall). ",
                 paste0(sv$stype, " ", pfmt_de(sv$api00, 1), " (", pfmt_de(lo, 1), " bis ",
                        pfmt_de(hi, 1), ")", collapse = "; "), ".")
  expect_identical(de, want)
  expect_false(grepl("%)", de, fixed = TRUE))
  expect_false(grepl("Spalten-%", de, fixed = TRUE))
  en <- tab_alt(t, locale = "en", title = "API 2000")
  expect_true(startsWith(en, "Dot chart: API 2000 (95% CI). E 674.4 ("))
  # the categorical block is still described as percents
  expect_match(tab_alt(t, row_var = "sch.wide", locale = "en"), "^Bar chart: sch.wide \\(column %")
  expect_error(tab_alt(t, stacked = TRUE), "numeric row")
  # the digits of the statistic (the locale's `mean`), and a score of 2
  de0 <- tab_alt(t, locale = tab_locale("de", digits = c(mean = 0)))
  expect_match(de0, paste0("E ", pfmt_de(sv$api00[1], 0), " (", pfmt_de(lo[1], 0), " bis "), fixed = TRUE)
})

test_that("tab_alt() of quantile rows: each quantile by its word, in the estimate's units", {
  dd <- pol_design()
  t <- tab(dd$des, rows = list(quantile_of(~api00, c(0.25, 0.5))), cols = "stype")
  q <- survey::svyby(~api00, ~stype, dd$sdes, survey::svyquantile, quantiles = c(0.25, 0.5),
                     ci = TRUE, keep.var = TRUE)
  al <- tab_alt(t, locale = "en")
  expect_match(al, "^Dot chart: api00: quantiles \\(95% CI\\)\\. E: 25% quantile of api00 ")
  expect_match(al, paste0("Median of api00 ", pfmt_en(q[q$stype == "H", "api00.0.5"], 1), " ("),
               fixed = TRUE)
  expect_false(grepl("[0-9]%", gsub("25% quantile", "", gsub("95% CI", "", al), fixed = TRUE)))
})

test_that("quantile rows: 'Median' for p = 0.5, 'p% quantile' / 'p-%-Quantil' otherwise, digits from quantile =", {
  dd <- pol_design()
  t <- tab(dd$des, rows = list(quantile_of(~api00, c(0.25, 0.5, 0.975))), cols = "stype")
  q <- survey::svyquantile(~api00, dd$sdes, c(0.25, 0.5, 0.975))[[1]][, "quantile"]
  en <- format(t, width = 200, locale = "en")
  de <- format(t, width = 200, locale = "de", digits = c(quantile = 0))
  expect_true(any(startsWith(en, "25% quantile of api00")))
  expect_true(any(startsWith(en, "Median of api00")))
  expect_true(any(startsWith(en, "97.5% quantile of api00")))
  l25 <- de[startsWith(de, "api00: 25-%-Quantil")]
  expect_length(l25, 1L)
  expect_true(any(startsWith(de, "api00: Median")))
  expect_true(any(startsWith(de, "api00: 97,5-%-Quantil")))
  # digits = c(quantile = 0): the Total column's 25% quantile as survey's, no decimals
  rest <- sub("^api00: 25-%-Quantil", "", l25)
  expect_identical(regmatches(rest, regexpr("[0-9][0-9.]*", rest)), unname(pfmt_de(q[1], 0)))
  # a quantile row carries no letters: its banner has none either
  expect_false(any(grepl("\\((A|B|C)\\)", en)))
})

test_that("summary() of numeric-only tables names their statistics, not 'column %'", {
  dd <- pol_design()
  tq <- tab(dd$des, rows = list(quantile_of(~api00)), cols = "stype")
  s_en <- capture.output(print(summary(tq, locale = "en")))
  s_de <- capture.output(print(summary(tq, locale = "de")))
  expect_false(any(grepl("column %", s_en, fixed = TRUE)))
  expect_false(any(grepl("Spalten-%", s_de, fixed = TRUE)))
  expect_match(s_en[1], "^umfrage table: 12 cell\\(s\\), quantiles, weighted")
  expect_match(s_de[1], "^umfrage-Tabelle: 12 Zelle\\(n\\), Quantile, gewichtet")
  expect_match(s_de[2], "Zeilen: api00: Quantile")
  tm <- tab(dd$des, rows = list(mean_of(~api00), quantile_of(~api00, 0.5)))
  s <- capture.output(print(summary(tm, locale = "de")))
  expect_match(s[1], "Zelle\\(n\\), Mittelwert, Median, gewichtet")
  expect_match(s[2], "Zeilen: api00: Mittelwert; api00: Median")
  # a table with categories and means: both
  tb <- tab(dd$des, rows = list("sch.wide", mean_of(~api00)), cols = "stype")
  s <- capture.output(print(summary(tb, locale = "en")))
  expect_match(s[1], "column %, mean, weighted")
})

test_that("header letters only on blocks whose rows can carry letters", {
  dd <- pol_design()
  # a row-% table with a mean row: the percent block has no letters, so no
  # letters in its header; the mean block has both (and shows them by default)
  t <- tab(dd$des, rows = list("sch.wide", mean_of(~api00), quantile_of(~api00, 0.5)),
           cols = "stype", percent = "row")
  for (sh in list(NULL, c("pct", "letters"))) {
    out <- format(t, width = 200, locale = "en", show = sh)
    starts <- grep("^(sch.wide|Means, totals)", out)
    expect_length(starts, 2L)
    pct_block <- out[starts[1]:(starts[2] - 1L)]
    num_block <- out[starts[2]:length(out)]
    expect_false(any(grepl("(A)", pct_block, fixed = TRUE)))
    expect_true(any(grepl("E (A)", num_block, fixed = TRUE)))
    # the mean's letters, from svyttest: E is higher than H (Bonferroni, 3 pairs)
    tt <- survey::svyttest(api00 ~ I(stype == "E"), subset(dd$sdes, stype %in% c("E", "H")))
    expect_lt(3 * tt$p.value, 0.05)
    expect_match(num_block[startsWith(num_block, "Mean of api00")], "674\\.4 B")
  }
  # HTML: no letter header in the percent block
  h <- knitr::knit_print(t, locale = "en")
  expect_false(grepl("E (A)", strsplit(h, "Means, totals", fixed = TRUE)[[1]][1], fixed = TRUE))
  # a column-% table keeps its letters, and a quantile-only block has none
  t2 <- tab(dd$des, rows = list("sch.wide", quantile_of(~api00, 0.5)), cols = "stype")
  out <- format(t2, width = 200, locale = "en")
  starts <- grep("^(sch.wide|Median of api00)", out)
  expect_true(any(grepl("E (A)", out[starts[1]:(starts[2] - 1L)], fixed = TRUE)))
  expect_false(any(grepl("(A)", out[starts[2]:length(out)], fixed = TRUE)))
})

test_that("xlsx: no letter columns for a row-% block of a table with means", {
  skip_if_not_installed("openxlsx2")
  dd <- pol_design()
  t <- tab(dd$des, rows = list("sch.wide", mean_of(~api00)), cols = "stype", percent = "row",
           show = c("pct", "letters"))
  f <- tempfile(fileext = ".xlsx")
  tab_xlsx(t, f, locale = "en")
  s <- openxlsx2::read_xlsx(f, sheet = 1L, col_names = FALSE, skip_empty_rows = FALSE)
  v <- as.character(unlist(s))
  v <- v[!is.na(v)]
  # the letter "B" of the mean, and no "(A)" header in the sheet other than the mean block's
  expect_true("B" %in% v)
  heads <- grep("(A)", v, fixed = TRUE, value = TRUE)
  expect_length(heads, 1L)
})

test_that("a block of one quantile row is titled by its variable and statistic, not 'Statistics'", {
  dd <- pol_design()
  t <- tab(dd$des, rows = list("sch.wide", quantile_of(~api00)), cols = "stype")
  en <- format(t, width = 200, locale = "en")
  de <- format(t, width = 200, locale = "de")
  expect_true(any(startsWith(en, "api00: quantiles  (weighted)")))
  expect_true(any(startsWith(de, "api00: Quantile  (gewichtet)")))
  expect_false(any(startsWith(en, "Statistics")))
  # a user's label titles it
  t2 <- tab(dd$des, rows = list(quantile_of(~api00, label = "API 2000")), cols = "stype")
  expect_true(any(startsWith(format(t2, width = 200), "API 2000  (weighted)")))
})

test_that("plot() and tab_alt() draw the rows in the order the table shows them (sorting, nets on top)", {
  set.seed(3)
  d <- data.frame(q = factor(sample(c("a", "b", "c", "d"), 300, TRUE, prob = c(0.1, 0.2, 0.4, 0.3)),
                             c("a", "b", "c", "d")))
  t <- tab(d, nets("q", "a or b" = c("a", "b")), sort = "desc")
  # the order by frequency, computed with table(); the net first
  want <- c("a or b", names(sort(table(d$q), decreasing = TRUE)))
  pdf(NULL)
  on.exit(dev.off())
  p <- plot(t)
  expect_identical(levels(p$row), want)
  expect_equal(p$value, c(100 * mean(d$q %in% c("a", "b")), 100 * sort(as.vector(table(d$q)), decreasing = TRUE) / 300),
               tolerance = 1e-12)
  al <- tab_alt(t, locale = "en")
  pos <- vapply(want[-1], function(l) regexpr(paste0("; ", l, " "), al, fixed = TRUE), 0)
  expect_true(all(diff(pos) > 0))
  expect_match(al, "\\(column %, 95% CI\\)\\. a or b ")
})

test_that("fmt_ci(percent = FALSE) writes the interval of a mean in its own units", {
  dd <- pol_design()
  t <- tab(dd$des, rows = list(mean_of(~api00)))
  a <- as.data.frame(t)
  m <- survey::svymean(~api00, dd$sdes)
  q <- qt(0.975, nrow(dd$data) - 3)   # 3 strata
  lo <- coef(m) - q * survey::SE(m)
  hi <- coef(m) + q * survey::SE(m)
  expect_identical(fmt_ci(a$ci_low, a$ci_high, digits = 1, percent = FALSE, locale = "de"),
                   paste(pfmt_de(lo, 1), "bis", pfmt_de(hi, 1)))
  expect_identical(fmt_ci(8.6, 22.9, locale = "de"), "8,6 bis 22,9\u00a0%")
  expect_error(fmt_ci(1, 2, percent = NA), "percent")
})
