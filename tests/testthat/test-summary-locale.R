# summary() of a table speaks the table's language (issue 13)

test_that("summary() uses the locale's words and numbers", {
  d <- data.frame(q = c("a", "b", NA, "a", "b", "a"), g = c("x", "y", "y", "x", "x", "y"))
  de <- capture.output(print(summary(tab(d, "q", cols = "g", se = FALSE, locale = "de"))))
  en <- capture.output(print(summary(tab(d, "q", cols = "g", se = FALSE, locale = "en"))))
  expect_match(de[1], "^umfrage-Tabelle: 6 Zelle\\(n\\), Spalten-%, fehlende Werte ausgelassen$")
  expect_true(any(de == "  Zeilen: q") && any(de == "  Spalten: g"))
  expect_true(any(grepl("Wegen fehlender Werte ausgelassene", de)))
  expect_false(any(grepl("cell\\(s\\)|rows:|Rows left out|NA dropped", de)))
  expect_match(en[1], "^umfrage table: 6 cell\\(s\\), column %, NA dropped$")
  # the base shown equals the rows with q given
  base_line <- de[which(grepl("Basis \\(n\\)", de)) + 1L]
  expect_match(base_line, sprintf("\\b%d$", sum(!is.na(d$q))))
  # a custom language is a vector of words away
  fr <- tab_locale("en", words = c(summary_head = "tableau umfrage : %s cellule(s), %s",
                                   rows_label = "lignes"))
  out <- capture.output(print(summary(tab(d, "q", se = FALSE, locale = fr))))
  expect_match(out[1], sprintf("^tableau umfrage : %d cellule\\(s\\)", length(unique(na.omit(d$q)))))
  expect_true(any(out == "  lignes: q"))
})

test_that("every output writes a source that already names itself once", {
  skip_if_not_installed("flextable")
  d <- data.frame(q = c("a", "b", "a", "a"), g = c("x", "x", "y", "y"))
  t <- tab(d, "q", cols = "g", se = FALSE, locale = "de")
  ft <- flextable::as_flextable(t, source = "Quelle: eigene Erhebung")
  foot <- ft$footer$dataset[[1L]]
  expect_equal(sum(grepl("Quelle", foot)), 1L)
  expect_true("Quelle: eigene Erhebung" %in% foot)
  ft2 <- flextable::as_flextable(t, source = "eigene Erhebung")
  expect_true("Quelle: eigene Erhebung" %in% ft2$footer$dataset[[1L]])
  h <- as.character(knitr::knit_print(t, source = "quelle: eigene Erhebung"))
  expect_false(grepl("Quelle: quelle:", h, fixed = TRUE))
})
