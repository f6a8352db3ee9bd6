# Write example tables the way they leave R, to look at them (make look):
# English and German banners (weights, an MR set, a small-base column, a
# `by` layer) as
#   tables.html            knit_print() HTML in a minimal page, and its
#                          screenshot tables-html.png (headless Chromium)
#   tables-en.xlsx         tab_xlsx(), one sheet per table + contents
#   tables-de.xlsx         tab_xlsx(), German, stacked on one sheet
#   word-en.docx, word-de.docx  tab_docx() (as_flextable() in Word; when
#                          flextable/officer are installed)
#   plot-numeric.png       plot() of numeric rows (a mean per age group; a
#                          mean score, German, horizontal)
# Numeric rows: means, a total and a ratio stacked in one block, income
# with missing values (its own base row), a net and a mean-score row.
# and each xlsx/docx as PDF (LibreOffice headless) and PNG pages
# (pdftoppm), named <file>-<page>.png.
#
#   Rscript tools/look.R [outdir]     (default look/)
library(umfrage)
# quantile_of() rows where the package has them (else none)
quantile_of_or_null <- function(data) {
  if (exists("quantile_of", envir = asNamespace("umfrage")) && "quantile_of" %in% getNamespaceExports("umfrage"))
    umfrage::quantile_of("income", c(0.25, 0.5, 0.75))
  else umfrage::mean_of("hh_size")
}
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1L] else "look"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
out <- normalizePath(out)
say <- function(...) cat("look: ", ..., "\n", sep = "")

# ---- example data ------------------------------------------------------------------
set.seed(13)
n <- 1200
sat <- c("very satisfied", "rather satisfied", "neither nor", "rather dissatisfied",
         "very dissatisfied")
d <- data.frame(
  sex = sample(c("female", "male"), n, TRUE),
  age = sample(c("18-29", "30-44", "45-59", "60+", "no answer"), n, TRUE,
               prob = c(0.2, 0.27, 0.27, 0.24, 0.02)),
  region = sample(c("North", "South"), n, TRUE),
  w = stats::rexp(n) + 0.3, stringsAsFactors = FALSE)
d$age <- factor(d$age, levels = c("18-29", "30-44", "45-59", "60+", "no answer"))
p <- ifelse(d$age %in% c("45-59", "60+"), 0.35, 0.2)
d$transport <- factor(ifelse(stats::runif(n) < p, sample(sat[1:2], n, TRUE), sample(sat, n, TRUE)),
                      levels = sat)
d$b1 <- stats::runif(n) < 0.55
d$b2 <- stats::runif(n) < 0.25 + 0.2 * (d$sex == "male")
d$b3 <- stats::runif(n) < 0.15 + 0.15 * (d$age == "18-29")
attr(d$transport, "label") <- "Satisfaction with public transport"
attr(d$age, "label") <- "Age"
attr(d$sex, "label") <- "Sex"
mr <- mr_set(d, c("b1", "b2", "b3"), labels = c("Bus", "Tram", "Bike sharing"),
             label = "Means of transport used")
t_banner <- tab(d, list("transport", mr), cols = c("sex", "age"), weights = "w")
t_region <- tab(d, "transport", cols = "sex", by = "region", weights = "w",
                show = c("pct", "letters"), digits = 0)
t_ci <- tab(d, "transport", cols = "region", show = c("count", "pct", "ci"))
# numeric rows: means, a total and a ratio stacked in one block (income
# with missing values: its own base row), then the satisfaction scale with
# its top-2 net and mean-score row (1-5; no answer left out)
d$income <- round(stats::rlnorm(n, 7.6 + 0.15 * (d$age %in% c("45-59", "60+")), 0.5))
d$income[sample(n, 60)] <- NA
d$hh_size <- sample(1:5, n, TRUE, prob = c(0.3, 0.35, 0.15, 0.15, 0.05))
d$cars <- stats::rpois(n, 0.6 + 0.2 * d$hh_size)
attr(d$income, "label") <- "Net income (EUR)"
t_num <- tab(d, list(mean_of("income"), mean_of("hh_size", label = "Household size (mean)"),
                     total_of("cars"), ratio_of("cars", "hh_size"),
                     nets("transport", "Top 2" = sat[1:2], "Bottom 2" = sat[4:5]),
                     score_of("transport", 5:1)),
             cols = c("sex", "age"), weights = "w", show = c("pct", "letters"))

# sorted by the Total column (nets stay on top, "no answer" at the end),
# and a row-% table with a mean row (letters only in the mean block)
t_sort <- tab(d, list(nets("transport", "Top 2" = sat[1:2], "Bottom 2" = sat[4:5]), mr,
                      quantile_of_or_null(d)),
              cols = "sex", weights = "w", sort = "desc", show = c("pct", "letters"))
t_rowpct <- tab(d, list("age", mean_of("income")), cols = "region", weights = "w",
                percent = "row", show = c("pct", "letters"))

# German labels: the same data, German words
dd <- d
dd$sex <- ifelse(d$sex == "female", "weiblich", "m\u00e4nnlich")
dd$age <- factor(d$age, labels = c("18-29", "30-44", "45-59", "60+", "keine Angabe"))
sat_de <- c("sehr zufrieden", "eher zufrieden", "teils/teils", "eher unzufrieden", "sehr unzufrieden")
dd$transport <- factor(sat_de[as.integer(d$transport)], levels = sat_de)
attr(dd$transport, "label") <- "Zufriedenheit mit dem \u00d6PNV"
attr(dd$age, "label") <- "Alter"
attr(dd$sex, "label") <- "Geschlecht"
mr_de <- mr_set(dd, c("b1", "b2", "b3"), labels = c("Bus", "Stra\u00dfenbahn", "Leihrad"),
                label = "Genutzte Verkehrsmittel")
t_de <- tab(dd, list("transport", mr_de), cols = c("sex", "age"), weights = "w", locale = "de")
t_de2 <- tab(dd, "transport", cols = "sex", weights = "w", locale = "de",
             show = c("pct", "letters"), digits = 0)
dd$income <- d$income
dd$hh_size <- d$hh_size
attr(dd$income, "label") <- "Nettoeinkommen (EUR)"
t_num_de <- tab(dd, list(mean_of("income"), quantile_of_or_null(dd), total_of("hh_size"),
                         nets("transport", "Top 2" = sat_de[1:2]), score_of("transport", 5:1)),
                cols = "sex", weights = "w", locale = "de", show = c("pct", "ci", "letters"))

# ---- HTML -------------------------------------------------------------------------
has_knitr <- requireNamespace("knitr", quietly = TRUE)
if (has_knitr) knitr::opts_knit$set(rmarkdown.pandoc.to = "html")
# (knit_print() gives a raw-HTML block for pandoc; the page takes its HTML)
section <- function(h, x, ...) c(paste0("<h2>", h, "</h2>"),
  gsub("```\\{=html\\}|```", "", as.character(knitr::knit_print(x, ...))))
html <- if (has_knitr) c("<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>umfrage tables</title>",
          "<style>body{font-family:Arial,sans-serif;margin:24px;max-width:1240px}h2{font-size:15px;color:#555}</style>",
          "</head><body>",
          section("English, weighted banner with an MR set and a small column", t_banner, locale = "en"),
          section("German, the same banner", t_de),
          section("Percent-only cells, one table per region (by)", t_region, locale = "en"),
          section("Numeric rows (means, a total, a ratio), a net and a mean-score row", t_num, locale = "en"),
          section("Numerische Zeilen, deutsch, mit Konfidenzintervallen", t_num_de),
          section("Sorted by the Total column (nets on top), quantiles", t_sort, locale = "en"),
          section("Row percents with a mean row", t_rowpct, locale = "en"),
          "</body></html>")
html_file <- file.path(out, "tables.html")
if (has_knitr) {
  writeLines(enc2utf8(html), html_file, useBytes = TRUE)
  say("wrote ", html_file)
} else {
  say("knitr is not installed: no HTML")
}

# ---- xlsx -------------------------------------------------------------------------
files <- character()
if (requireNamespace("openxlsx2", quietly = TRUE)) {
  f <- file.path(out, "tables-en.xlsx")
  tab_xlsx(list("Satisfaction and transport by sex and age" = t_banner,
                "Satisfaction by sex, per region" = t_region,
                "Satisfaction by region, with intervals" = t_ci,
                "Means, totals, nets and mean scores" = t_num,
                "Sorted, with nets and quantiles" = t_sort,
                "Row percents with a mean row" = t_rowpct),
           f, locale = "en", source = "Synthetic example data")
  files <- c(files, f)
  f <- file.path(out, "tables-de.xlsx")
  tab_xlsx(list("Zufriedenheit und Verkehrsmittel nach Geschlecht und Alter" = t_de,
                "Zufriedenheit nach Geschlecht (nur Prozent)" = t_de2,
                "Kennwerte, Netto-Kategorien und Mittelwert (Skala)" = t_num_de),
           f, layout = "stacked", locale = "de", source = "Synthetische Beispieldaten")
  files <- c(files, f)
  say("wrote the xlsx files")
} else {
  say("openxlsx2 is not installed: no xlsx")
}

# ---- docx (tab_docx(): as_flextable() blocks through officer) ---------------------
has_ft <- requireNamespace("flextable", quietly = TRUE) && requireNamespace("officer", quietly = TRUE)
if (has_ft) {
  for (lang in c("en", "de")) {
    f <- file.path(out, sprintf("word-%s.docx", lang))
    ok <- tryCatch({
      tabs <- if (lang == "en") list(t_banner, t_region, t_num, t_sort, t_rowpct) else list(t_de, t_num_de)
      tab_docx(tabs, f, locale = lang, source = "umfrage look (simulated data)")
      TRUE
    }, error = function(e) {
      say("docx failed: ", conditionMessage(e))
      FALSE
    })
    if (ok) files <- c(files, f)
  }
} else {
  say("flextable/officer missing: no docx")
}

# ---- PDF and PNG --------------------------------------------------------------------
# R puts its own library folders into LD_LIBRARY_PATH, where LibreOffice
# then finds the wrong shared libraries: run the programs without it.
run <- function(cmd, args) {
  env <- Sys.which("env")
  if (nzchar(env)) system2(env, c("-u", "LD_LIBRARY_PATH", cmd, args), stdout = FALSE, stderr = FALSE)
  else system2(cmd, args, stdout = FALSE, stderr = FALSE)
}
# LibreOffice with a private profile (so it neither clashes with a running
# instance nor leaves state behind)
if (nzchar(Sys.which("soffice")) && length(files)) {
  profile <- tempfile("lo-profile-")
  for (f in files) {
    run("soffice", c(paste0("-env:UserInstallation=file://", profile), "--headless",
                     "--convert-to", "pdf", "--outdir", shQuote(out), shQuote(f)))
    pdf <- sub("\\.(xlsx|docx)$", ".pdf", f)
    if (!file.exists(pdf)) {
      say("LibreOffice did not convert ", basename(f))
      next
    }
    if (nzchar(Sys.which("pdftoppm"))) {
      unlink(Sys.glob(paste0(sub("\\.pdf$", "", pdf), "-*.png")))
      run("pdftoppm", c("-png", "-r", "80", shQuote(pdf), shQuote(sub("\\.pdf$", "", pdf))))
    }
    say("converted ", basename(f), " to PDF", if (nzchar(Sys.which("pdftoppm"))) " and PNG")
  }
  unlink(profile, recursive = TRUE)
} else {
  say("soffice not found: no PDF/PNG of the xlsx/docx")
}
chrome <- Sys.which(c("chromium", "chromium-browser", "google-chrome"))
chrome <- chrome[nzchar(chrome)]
if (length(chrome) && has_knitr) {
  png <- file.path(out, "tables-html.png")
  unlink(png)
  run(chrome[1L], c("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    paste0("--screenshot=", png), "--window-size=1280,2000", paste0("file://", html_file)))
  if (file.exists(png)) say("screenshot ", png) else say("chromium made no screenshot")
} else {
  say("chromium (or the HTML) missing: no screenshot of the HTML")
}
# plots of numeric rows (dots with intervals on the estimate's scale)
png(file.path(out, "plot-numeric.png"), width = 1400, height = 560, res = 110)
op <- par(mfrow = c(1, 2))
plot(t_num, row_var = "mean(income)", col_var = "age", source = "simulated data")
plot(t_num_de, row_var = "score(transport)", horiz = TRUE, labels = TRUE)
par(op)
invisible(dev.off())
say("plotted ", file.path(out, "plot-numeric.png"))
say("done: ", out)
