# What a report needs from the package (#14): numbers in running text as the
# tables write them (fmt_*), numbered titles (tab_caption), a title and a
# source line on knit_print() and plot(), alt text (tab_alt), and a flag on
# intervals whose design effect is implausibly small.

# Heavy weights only on respondents who all say "no": the weighted share
# of "yes" comes from light weights alone and its design effect is small.
low_deff_data <- function(heavy = 60, n = 200, seed = 3) {
  set.seed(seed)
  d <- data.frame(w = c(rep(heavy, 40), rep(1, n - 40)))
  d$y <- factor(ifelse(seq_len(n) <= 40, "no", ifelse(stats::runif(n) < 0.5, "yes", "no")),
                c("yes", "no"))
  d$z <- factor(sample(c("a", "b"), n, TRUE))
  d
}

# Fixed-point German numbers, independently of umfrage.
de_num <- function(x, d) formatC(x, format = "f", digits = d, big.mark = ".", decimal.mark = ",")

test_that("fmt_pct(), fmt_num(), fmt_ci(), fmt_p() write numbers as the locale does, never in e-notation", {
  x <- c(42.2330, 7.5, 13.6, 0.04, 100)
  expect_identical(fmt_pct(x, locale = "de"), paste0(de_num(x, 1), "\u00a0%"))
  expect_identical(fmt_pct(x, digits = 0, locale = "en"), paste0(sprintf("%.0f", x), "%"))
  expect_identical(fmt_pct(NA_real_, locale = "de"), "-")
  expect_identical(fmt_num(c(11067, 1234567.5, 3), locale = "de"), de_num(c(11067, 1234567.5, 3), 0))
  expect_identical(fmt_num(2.7e-11, digits = 2, locale = "de"), "0,00")
  expect_identical(fmt_num(2.7e-11, digits = 12, locale = "en"), "0.000000000027")
  expect_identical(fmt_ci(8.59, 22.88, locale = "de"), paste0("8,6 bis 22,9\u00a0%"))
  expect_identical(fmt_ci(8.59, 22.88, digits = 0, locale = "en"), "9 to 23%")
  expect_identical(fmt_ci(NA, 3, locale = "en"), "")
  expect_identical(fmt_p(c(0.0312, 2.7e-11), locale = "de"), c("p = 0,0312", "p < 0,0001"))
  # the session's locale (and its digits) is the default: one rounding rule
  op <- options(umfrage.locale = tab_locale("de", digits = c(pct = 0, ci = 0)))
  on.exit(options(op))
  expect_identical(fmt_pct(73.6), "74\u00a0%")
  expect_identical(fmt_ci(35.61, 49.14), "36 bis 49\u00a0%")
  expect_error(fmt_pct("42"), "'x' must be numeric")
  expect_error(fmt_ci(1:2, 3), "same length")
  expect_error(fmt_pct(1, digits = -1), "'digits' must be a whole number")
})

test_that("tab_caption() numbers tables and figures separately, in the locale", {
  a <- tab_caption("Nutzung", number = 1, locale = "de")
  expect_identical(as.character(a), "Tabelle 1: Nutzung")
  b <- tab_caption(c("Bereiche", "Werkzeuge"), locale = "de")
  expect_identical(as.character(b), c("Tabelle 2: Bereiche", "Tabelle 3: Werkzeuge"))
  expect_identical(attr(b, "number"), 2:3)
  f <- tab_caption("Use", kind = "figure", number = 1, locale = "en")
  expect_identical(as.character(f), "Figure 1: Use")
  expect_identical(as.character(tab_caption("x", "figure", locale = "en")), "Figure 2: x")
  expect_identical(as.character(tab_caption("y", locale = "en")), "Table 4: y")
  expect_error(tab_caption(1), "'title' must be a character vector")
  expect_error(tab_caption("x", number = 0), "'number' must be a whole number")
})

test_that("cells whose design effect is below the threshold are flagged, and only those", {
  skip_if_not_installed("survey")
  d <- low_deff_data()
  t <- tab(d, c("y", "z"), weights = "w", deff = "replace")
  # the design effects, from survey
  des <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  dy <- unname(survey::deff(survey::svymean(~y, des, deff = "replace")))
  dz <- unname(survey::deff(survey::svymean(~z, des, deff = "replace")))
  expect_true(all(dy < 0.5) && all(dz > 0.5))
  out <- format(t, locale = "de", show = c("pct", "ci"), width = 200)
  yes <- grep("^yes ", out, value = TRUE)
  a <- grep("^a ", out, value = TRUE)
  expect_match(yes, "\\]\u00b9$")
  expect_false(grepl("\u00b9", a))
  expect_true(any(grepl("^  \u00b9 Designeffekt unter 0,5", out)))
  # without an interval the flag goes on the percent; the note names it
  out2 <- format(t, locale = "en", show = "pct", width = 200)
  expect_match(grep("^yes ", out2, value = TRUE), "%\u00b9$")
  expect_true(any(grepl("Design effect below 0.5", out2, fixed = TRUE)))
  # the threshold is an option; 0 switches it off
  op <- options(umfrage.min_deff = 0)
  expect_false(any(grepl("\u00b9", format(t, show = c("pct", "ci")))))
  options(umfrage.min_deff = 0.2)
  expect_identical(any(grepl("\u00b9", format(t, show = c("pct", "ci")))), any(dy < 0.2))
  options(umfrage.min_deff = "x")
  expect_error(format(t), "must be a number >= 0")
  options(op)
  # unweighted tables (design effect 1) carry no flag
  expect_false(any(grepl("\u00b9", format(tab(d, "y"), show = c("pct", "ci")))))
  # fmt_ci(deff =) flags the same intervals and says why
  cy <- as.data.frame(t)
  cy <- cy[cy$row_var == "y", ]
  s <- fmt_ci(cy$ci_low, cy$ci_high, deff = dy, locale = "de")
  expect_true(all(endsWith(s, "\u00b9")))
  expect_match(attr(s, "note"), "^\u00b9 Designeffekt unter 0,5")
  expect_null(attr(fmt_ci(1, 2, deff = 1), "note"))
})

test_that("knit_print() takes a title per table and a source line", {
  skip_if_not_installed("knitr")
  d <- low_deff_data()
  t <- tab(d, c("y", "z"), weights = "w")
  old <- knitr::opts_knit$get("rmarkdown.pandoc.to")
  knitr::opts_knit$set(rmarkdown.pandoc.to = "html")
  on.exit(knitr::opts_knit$set(rmarkdown.pandoc.to = old))
  h <- as.character(knitr::knit_print(t, locale = "de", show = c("pct", "ci"),
                                      title = c("Tabelle 1: Ja oder nein", "Tabelle 2: a oder b"),
                                      source = "eigene Daten, n = 200"))
  expect_match(h, "<caption>Tabelle 1: Ja oder nein</caption>", fixed = TRUE)
  expect_match(h, "<caption>Tabelle 2: a oder b</caption>", fixed = TRUE)
  # the source line once under each table, after its notes, with the locale's word
  expect_identical(lengths(regmatches(h, gregexpr("<p class=\"umf-source\">Quelle: eigene Daten, n = 200</p>",
                                                  h, fixed = TRUE))), 2L)
  expect_match(h, "</ul>\n<p class=\"umf-source\">", fixed = TRUE)
  # the low-design-effect flag and note in the HTML
  expect_match(h, "\u00b9</td>", fixed = TRUE)
  expect_match(h, "<li>\u00b9 Designeffekt unter 0,5", fixed = TRUE)
  # one title for several tables: each keeps its own after it
  h1 <- as.character(knitr::knit_print(t, locale = "en", title = "Two questions"))
  expect_match(h1, "<caption>Two questions \u2013 y ", fixed = TRUE)
  expect_error(knitr::knit_print(t, title = c("a", "b", "c")), "one string or one per table \\(2\\)")
  expect_error(knitr::knit_print(t, source = c("a", "b")), "'source' must be a single string")
  # markdown: the caption and the source line under the table
  knitr::opts_knit$set(rmarkdown.pandoc.to = "latex")
  m <- as.character(knitr::knit_print(tab(d, "z"), locale = "en", title = "Table 9: z",
                                      source = "own data"))
  expect_match(m, "Table: Table 9: z", fixed = TRUE)
  expect_match(m, "Source: own data", fixed = TRUE)
})

test_that("plot() draws a source line inside the figure and dashes intervals with a small design effect", {
  skip_if_not_installed("survey")
  d <- low_deff_data()
  t <- tab(d, "y", weights = "w", deff = "replace")
  grDevices::pdf(NULL, width = 7, height = 4)
  on.exit(grDevices::dev.off(), add = TRUE)
  grDevices::dev.control("enable")
  p <- plot(t, horiz = TRUE, locale = "de", main = "Abbildung 1: y", source = "eigene Daten")
  rec <- grDevices::recordPlot()[[1L]]
  calls <- lapply(rec, function(e) as.list(e[[2L]]))
  nm <- vapply(calls, function(a) a[[1L]]$name, "")
  txt <- unlist(lapply(calls[nm == "C_text"], function(a) as.character(a[[3L]])))
  expect_true("Quelle: eigene Daten" %in% txt)
  expect_true("Abbildung 1: y" %in% txt)
  # the source line lies inside the figure region, below everything else
  fig <- graphics::grconvertY(c(0, 1), "nfc", "user")
  st <- calls[nm == "C_text"][[which(vapply(calls[nm == "C_text"], function(a)
    identical(as.character(a[[3L]]), "Quelle: eigene Daten"), NA))]]
  ys <- unlist(lapply(calls[nm == "C_text"], function(a) a[[2L]]$y))
  expect_true(st[[2L]]$y > fig[1L] && st[[2L]]$y < fig[2L])
  expect_equal(st[[2L]]$y, min(ys))
  # design effects from survey: both cells below 0.5, so both intervals dashed and flagged
  des <- survey::svydesign(ids = ~1, weights = ~w, data = d)
  dy <- unname(survey::deff(survey::svymean(~y, des, deff = "replace")))
  expect_identical(p$low_deff, dy < 0.5)
  arr <- calls[nm == "C_arrows"]
  ltys <- vapply(arr, function(a) { l <- a[["lty"]]; if (is.null(l)) NA_integer_ else as.integer(l[1L]) }, 1L)
  expect_true(2L %in% ltys)
  # the flag at the upper end of each flagged interval
  fl <- Filter(function(a) identical(as.character(a[[3L]]), "\u00b9"), calls[nm == "C_text"])
  expect_length(fl, 1L)
  expect_equal(sort(fl[[1L]][[2L]]$x), sort(p$ci_high[dy < 0.5]), tolerance = 0.05)
  expect_true(any(grepl("Designeffekt unter 0,5", txt)))
  # none of it for an unweighted table
  grDevices::dev.control("enable")
  p2 <- plot(tab(d, "y"), locale = "de")
  expect_false(any(p2$low_deff))
})

test_that("autoplot() puts the source line in the caption", {
  skip_if_not_installed("ggplot2")
  d <- low_deff_data()
  g <- ggplot2::autoplot(tab(d, "z", weights = "w"), locale = "de", source = "eigene Daten")
  expect_match(g$labels$caption, "Quelle: eigene Daten", fixed = TRUE)
  g2 <- ggplot2::autoplot(tab(d, "y", weights = "w", deff = "replace"), locale = "en")
  expect_true(all(g2$data$low_deff))
  expect_match(g2$labels$caption, "design effect below 0.5", fixed = TRUE)
})

test_that("tab_alt() describes the bars with their values and intervals", {
  d <- low_deff_data()
  t <- tab(d, "z")
  p <- 100 * as.vector(prop.table(table(d$z)))
  ci <- as.data.frame(t)[c("ci_low", "ci_high")]
  s <- tab_alt(t, locale = "de", title = "Gruppe")
  expect_identical(s, sprintf(
    "Balkendiagramm: Gruppe (Spalten-%%, 95-%%-Konfidenzintervall). a %s\u00a0%% (%s bis %s\u00a0%%); b %s\u00a0%% (%s bis %s\u00a0%%).",
    de_num(p[1], 1), de_num(ci$ci_low[1], 1), de_num(ci$ci_high[1], 1),
    de_num(p[2], 1), de_num(ci$ci_low[2], 1), de_num(ci$ci_high[2], 1)))
  t2 <- tab(d, "y", cols = "z")
  s2 <- tab_alt(t2, locale = "en", stacked = TRUE)
  ref <- 100 * prop.table(table(d$y, d$z), 2)
  expect_match(s2, sprintf("^Stacked bar chart: y \\(column %%\\)\\. a: yes %.1f%%; no %.1f%%\\. b: yes %.1f%%",
                           ref[1, 1], ref[2, 1], ref[1, 2]))
  expect_error(tab_alt(d), "must be a tab\\(\\) result")
})

test_that("a locale saved by an older version still speaks the newer words", {
  old <- tab_locale("de")
  old$words$ci_range <- NULL
  expect_identical(fmt_ci(1, 2, digits = 0, locale = old), "1 bis 2\u00a0%")
})

test_that("plot(labels = TRUE) writes each bar's percent beyond its interval, or inside stacked segments", {
  d <- low_deff_data()
  t <- tab(d, "z")
  grDevices::pdf(NULL, width = 7, height = 4)
  on.exit(grDevices::dev.off(), add = TRUE)
  grDevices::dev.control("enable")
  p <- plot(t, horiz = TRUE, labels = TRUE, locale = "de")
  rec <- grDevices::recordPlot()[[1L]]
  calls <- lapply(rec, function(e) as.list(e[[2L]]))
  tx <- Filter(function(a) identical(a[[1L]]$name, "C_text"), calls)
  ref <- 100 * as.vector(prop.table(table(d$z)))
  want <- paste0(de_num(ref, 1), "\u00a0%")
  hit <- Filter(function(a) identical(as.character(a[[3L]]), want), tx)
  expect_length(hit, 1L)
  expect_true(all(hit[[1L]][[2L]]$x > p$ci_high))
  # stacked: inside the segments, at their centres
  t2 <- tab(d, "y", cols = "z")
  grDevices::dev.control("enable")
  p2 <- plot(t2, stacked = TRUE, horiz = TRUE, labels = TRUE, locale = "en")
  rec <- grDevices::recordPlot()[[1L]]
  calls <- lapply(rec, function(e) as.list(e[[2L]]))
  tx <- Filter(function(a) identical(a[[1L]]$name, "C_text"), calls)
  labs <- unlist(lapply(tx, function(a) as.character(a[[3L]])))
  ref2 <- 100 * prop.table(table(d$y, d$z), 2)
  expect_true(all(sprintf("%.1f%%", ref2) %in% labs))
  expect_error(plot(t, labels = NA), "'labels'")
})

test_that("HTML names the statistics in a header row when a cell shows several numbers", {
  skip_if_not_installed("knitr")
  d <- low_deff_data()
  old <- knitr::opts_knit$get("rmarkdown.pandoc.to")
  knitr::opts_knit$set(rmarkdown.pandoc.to = "html")
  on.exit(knitr::opts_knit$set(rmarkdown.pandoc.to = old))
  t <- tab(d, "y", cols = "z")
  h <- as.character(knitr::knit_print(t, locale = "de", show = c("count", "pct", "ci")))
  ths <- regmatches(h, gregexpr("<th class=\"umf-stat[^\"]*\">[^<]*</th>", h))[[1L]]
  # Total, a and b: three columns of three statistics
  expect_length(ths, 9L)
  expect_identical(unique(gsub("<[^>]+>", "", ths)), c("n", "%", "95-%-Konfidenzintervall"))
  expect_match(h, "<th class=\"umf-stub\" rowspan=\"3\">", fixed = TRUE)
  # one number per cell: no such row
  h1 <- as.character(knitr::knit_print(t, locale = "de", show = c("pct", "letters")))
  expect_false(grepl("<th class=\"umf-stat", h1, fixed = TRUE))
  expect_match(h1, "<th class=\"umf-stub\" rowspan=\"2\">", fixed = TRUE)
})
