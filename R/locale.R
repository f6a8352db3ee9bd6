#' How tables speak: language, number marks and digits
#'
#' One object decides how every output of [tab()] reads: the decimal mark,
#' the thousands mark, the space before the percent sign, the digits of each
#' statistic, and the fixed words ("Total", "Base (n)", the letter legend,
#' the test notes, the small-base flag, ...). `print()`, `format()`,
#' `summary()`, `knit_print()`, `plot()` and the exporters all take it.
#'
#' English (`"en"`) and German (`"de"`) are built in. Any other language is
#' a named character vector of words away: start from either and replace
#' what differs, e.g. `tab_locale("en", dec = ",", words = c(total =
#' "Totale", base_n = "Base (n)"))`. `tab_locale_words()` lists the words
#' and their English and German texts; words are templates where they hold
#' `%s` (filled in order, as [sprintf()]).
#'
#' @section Which locale is used:
#' In order: the `locale` argument of the call (`print(x, locale = "de")`),
#' the `locale` given to [tab()] (kept on the result), the session option
#' `options(umfrage.locale = ...)`, and finally `getOption("OutDec")`: a
#' decimal comma gives `"de"`, anything else `"en"`. Each may be a language
#' code (`"en"`, `"de"`) or a `tab_locale()` object.
#'
#' @param lang Base language: `"en"` or `"de"`.
#' @param dec Decimal mark (default: `"."` in English, `","` in German).
#' @param big Thousands mark (default `","` in English, `"."` in German;
#'   `""` for none). It must differ from `dec`.
#' @param pct_space What stands between a number and its percent sign:
#'   `""` in English, a no-break space in German ("6,2 %").
#' @param digits Named integer vector, digits after the decimal mark per
#'   statistic; names from `pct` (percents), `ci` (interval ends), `se`
#'   (standard errors), `count` (unweighted counts), `weighted` (weighted
#'   counts; `NA`: 0 when the largest is at least 100, else 1), `stat` (test
#'   statistics), `df` (degrees of freedom), `deff` (design effects), `p`
#'   (significant digits of p-values), and for numeric rows (see
#'   [mean_of()]) their estimates and interval ends: `mean` (default 1),
#'   `total` (0), `ratio` (3), `score` (mean scores, 2), `quantile` (1).
#'   Unnamed statistics keep their default.
#' @param words Named character vector replacing fixed words (see
#'   `tab_locale_words()`).
#' @return An object of class `umfrage_locale`: a list with `lang`, `dec`,
#'   `big`, `pct_space`, `digits` and `words`.
#' @examples
#' tab_locale("de")
#' tab_locale("en", digits = c(pct = 0))
#' fr <- tab_locale("en", dec = ",", big = " ", pct_space = " ",
#'                  words = c(total = "Total", base_n = "Base (n)",
#'                            base_w = "Base (pond\u00e9r\u00e9e)"))
#' fr
#' head(tab_locale_words())
#' @export
tab_locale <- function(lang = c("en", "de"), dec = NULL, big = NULL, pct_space = NULL,
                       digits = NULL, words = NULL) {
  if (inherits(lang, "umfrage_locale")) {
    base <- lang
  } else {
    if (!is.character(lang) || length(lang) < 1L || anyNA(lang))
      stopf("'lang' must be \"en\" or \"de\", not %s", obj_desc_len(lang))
    lang <- match.arg(lang)
    base <- builtin_locale(lang)
  }
  chr1 <- function(v, arg) {
    if (!is.character(v) || length(v) != 1L || is.na(v))
      stopf("'%s' must be a single string, not %s", arg, obj_desc_len(v))
    enc2utf8(v)
  }
  if (!is.null(dec)) {
    base$dec <- chr1(dec, "dec")
    if (!nzchar(base$dec)) stopf("'dec' must not be empty")
  }
  if (!is.null(big)) base$big <- chr1(big, "big")
  if (!is.null(pct_space)) base$pct_space <- chr1(pct_space, "pct_space")
  if (identical(base$dec, base$big))
    stopf("the decimal mark and the thousands mark are both %s; they must differ", q(base$dec))
  if (!is.null(digits)) {
    if (!is.numeric(digits) || is.null(names(digits)) || any(!nzchar(names(digits))))
      stopf("'digits' must be a named numeric vector, e.g. c(pct = 0, ci = 1)")
    bad <- setdiff(names(digits), names(base$digits))
    if (length(bad))
      stopf("'digits' names unknown statistic(s) %s; known: %s", qlist(bad),
            qlist(names(base$digits), 20L))
    ok <- is.na(digits) & names(digits) == "weighted" |
      (!is.na(digits) & digits >= 0 & digits <= 15 & digits == round(digits))
    if (!all(ok))
      stopf("'digits' must be whole numbers from 0 to 15: %s", qlist(names(digits)[!ok]))
    base$digits[names(digits)] <- as.integer(digits)
  }
  if (!is.null(words)) {
    if (is.list(words)) words <- unlist(words)
    if (!is.character(words) || is.null(names(words)) || anyNA(words))
      stopf("'words' must be a named character vector, e.g. c(total = \"Gesamt\")")
    bad <- setdiff(names(words), names(base$words))
    if (length(bad))
      stopf("'words' names unknown word(s) %s; see tab_locale_words() for the list", qlist(bad))
    for (nm in names(words)) {
      need <- count_slots(base$words[[nm]])
      if (count_slots(words[[nm]]) != need)
        stopf("word %s must hold %d '%%s' slot(s), as %s does", q(nm), need, q(base$words[[nm]]))
    }
    base$words[names(words)] <- enc2utf8(unname(words))
  }
  base
}

# The arguments a template takes: its "%s" slots, or, when it numbers them
# ("%2$s: %1$s"), the highest number.
count_slots <- function(s) {
  s <- gsub("%%", "", s, fixed = TRUE)
  pos <- regmatches(s, gregexpr("%[0-9]+\\$s", s))[[1L]]
  if (length(pos)) return(max(as.integer(gsub("[^0-9]", "", pos))))
  lengths(regmatches(s, gregexpr("%s", s, fixed = TRUE)))
}

#' @rdname tab_locale
#' @export
tab_locale_words <- function() {
  en <- unlist(builtin_locale("en")$words)
  de <- unlist(builtin_locale("de")$words)
  data.frame(word = names(en), en = unname(en), de = unname(de[names(en)]),
             stringsAsFactors = FALSE)
}

#' @export
print.umfrage_locale <- function(x, ...) {
  cat(sprintf("<umfrage_locale> %s: 1234567.891 as %s, 6.25%% as %s\n", x$lang,
              loc_num(1234567.891, 3L, x), loc_pct(6.25, 2L, x)))
  d <- x$digits
  cat("  digits:", paste(sprintf("%s %s", names(d), ifelse(is.na(d), "auto", d)), collapse = ", "), "\n")
  cat(sprintf("  %s / %s / %s\n", x$words[["total"]], x$words[["base_n"]], x$words[["base_w"]]))
  invisible(x)
}

default_digits <- c(pct = 1L, ci = 1L, se = 1L, count = 0L, weighted = NA_integer_,
                    stat = 2L, df = 1L, deff = 2L, p = 3L,
                    mean = 1L, total = 0L, ratio = 3L, score = 2L, quantile = 1L)

builtin_locale <- function(lang) {
  en <- c(
    total = "Total",
    base_n = "Base (n)",
    base_w = "Base (weighted)",
    base_eff = "Base (effective)",
    col_pct = "column %",
    row_pct = "row %",
    total_pct = "total %",
    counts = "counts",
    weighted = "weighted",
    mr = "multiple response, % of respondents",
    missing = "(missing)",
    ci = "%s%% CI",
    test_f = "Rao-Scott F = %s (df %s, %s), %s",
    test_chisq = "Rao-Scott X2 = %s (df %s), %s",
    p_less = "p < %s",
    p_equal = "p = %s",
    letters_legend = "Letters: column %% significantly higher than the column with that letter (z test, alpha = %s, %s).",
    adjust_bonferroni = "Bonferroni-adjusted",
    adjust_holm = "Holm-adjusted",
    adjust_none = "not adjusted",
    small_base = "Base below %s: interpret with care; no significance letters against these columns.",
    small_flag = "*",
    layer = "%s = %s",
    table = "Table",
    figure = "Figure",
    source = "Source",
    percent_axis = "%",
    count_axis = "count",
    weighted_count_axis = "weighted count",
    small_base_plot = "%s base below %s",
    low_deff_flag = "\u00b9",
    low_deff = "Design effect below %s: the interval may be too narrow (little variance where most of the weight lies).",
    low_deff_plot = "%s design effect below %s: interval may be too narrow",
    ci_range = "%s to %s",
    caption = "%s %s: %s",
    bar_chart = "Bar chart",
    stacked_chart = "Stacked bar chart",
    contents = "Contents",
    number = "No.",
    title = "Title",
    sheet = "Sheet",
    tables = "Tables",
    head_count = "n",
    head_weighted = "n (wtd.)",
    head_pct = "%",
    head_ci_low = "CI low",
    head_ci_high = "CI high",
    summary_head = "umfrage table: %s cell(s), %s",
    na_dropped = "NA dropped",
    na_level = "NA as a level",
    rows_label = "rows",
    cols_label = "cols",
    by_label = "by",
    skipped = "Rows left out for NA (per row variable):",
    stat_mean = "mean",
    stat_total = "total",
    stat_ratio = "ratio",
    stat_score = "mean score",
    stat_median = "median",
    stat_quantile = "quantile",
    num_mean = "Mean of %s",
    num_total = "Total of %s",
    num_ratio = "Ratio %s",
    num_score = "Mean score of %s",
    num_median = "Median of %s",
    num_quantile = "%s%% quantile of %s",
    score_row = "Mean score",
    num_block = "Statistics",
    num_blocks = "Means, totals and other statistics",
    letters_legend_t = "Letters at %s: significantly higher than the column with that letter (t test, alpha = %s, %s).",
    estimate_axis = "estimate",
    dot_chart = "Dot chart",
    stat_quantiles = "quantiles"
  )
  de <- c(
    total = "Gesamt",
    base_n = "Basis (n)",
    base_w = "Basis (gewichtet)",
    base_eff = "Basis (effektiv)",
    col_pct = "Spalten-%",
    row_pct = "Zeilen-%",
    total_pct = "Gesamt-%",
    counts = "Anzahl",
    weighted = "gewichtet",
    mr = "Mehrfachnennungen, % der Befragten",
    missing = "(fehlend)",
    ci = "%s-%%-Konfidenzintervall",
    test_f = "Rao-Scott F = %s (FG %s; %s), %s",
    test_chisq = "Rao-Scott X2 = %s (FG %s), %s",
    p_less = "p < %s",
    p_equal = "p = %s",
    letters_legend = "Buchstaben: Spalten-%% signifikant h\u00f6her als in der Spalte mit diesem Buchstaben (z-Test, alpha = %s, %s).",
    adjust_bonferroni = "Bonferroni-korrigiert",
    adjust_holm = "Holm-korrigiert",
    adjust_none = "nicht korrigiert",
    small_base = "Basis unter %s: mit Vorsicht zu interpretieren; keine Signifikanzbuchstaben gegen\u00fcber diesen Spalten.",
    small_flag = "*",
    layer = "%s = %s",
    table = "Tabelle",
    figure = "Abbildung",
    source = "Quelle",
    percent_axis = "%",
    count_axis = "Anzahl",
    weighted_count_axis = "gewichtete Anzahl",
    small_base_plot = "%s Basis unter %s",
    low_deff_flag = "\u00b9",
    low_deff = "Designeffekt unter %s: Das Intervall ist m\u00f6glicherweise zu eng (kaum Streuung, wo das meiste Gewicht liegt).",
    low_deff_plot = "%s Designeffekt unter %s: Intervall m\u00f6glicherweise zu eng",
    ci_range = "%s bis %s",
    caption = "%s %s: %s",
    bar_chart = "Balkendiagramm",
    stacked_chart = "Gestapeltes Balkendiagramm",
    contents = "Inhalt",
    number = "Nr.",
    title = "Titel",
    sheet = "Blatt",
    tables = "Tabellen",
    head_count = "n",
    head_weighted = "n (gew.)",
    head_pct = "%",
    head_ci_low = "Konfidenzintervall unten",
    head_ci_high = "Konfidenzintervall oben",
    summary_head = "umfrage-Tabelle: %s Zelle(n), %s",
    na_dropped = "fehlende Werte ausgelassen",
    na_level = "fehlende Werte als Kategorie",
    rows_label = "Zeilen",
    cols_label = "Spalten",
    by_label = "Schichten",
    skipped = "Wegen fehlender Werte ausgelassene F\u00e4lle (je Zeilenvariable):",
    stat_mean = "Mittelwert",
    stat_total = "Summe",
    stat_ratio = "Verh\u00e4ltnis",
    stat_score = "Mittelwert (Skala)",
    stat_median = "Median",
    stat_quantile = "Quantil",
    num_mean = "%s: Mittelwert",
    num_total = "%s: Summe",
    num_ratio = "%s: Verh\u00e4ltnis",
    num_score = "%s: Mittelwert (Skala)",
    num_median = "%s: Median",
    num_quantile = "%2$s: %1$s-%%-Quantil",
    score_row = "Mittelwert (Skala)",
    num_block = "Kennwerte",
    num_blocks = "Mittelwerte, Summen und weitere Kennwerte",
    letters_legend_t = "Buchstaben bei %s: signifikant h\u00f6her als in der Spalte mit diesem Buchstaben (t-Test, alpha = %s, %s).",
    estimate_axis = "Sch\u00e4tzwert",
    dot_chart = "Punktdiagramm",
    stat_quantiles = "Quantile"
  )
  structure(list(
    lang = lang,
    dec = if (lang == "de") "," else ".",
    big = if (lang == "de") "." else ",",
    pct_space = if (lang == "de") "\u00a0" else "",
    digits = default_digits,
    words = as.list(if (lang == "de") de else en)),
    class = "umfrage_locale")
}

# The locale in force: the call's argument, else the table's, else the
# option, else from getOption("OutDec").
resolve_locale <- function(locale = NULL, x = NULL) {
  if (is.null(locale) && !is.null(x)) locale <- x$locale
  if (is.null(locale)) locale <- getOption("umfrage.locale")
  if (is.null(locale)) locale <- if (identical(getOption("OutDec"), ",")) "de" else "en"
  as_locale(locale)
}

as_locale <- function(locale, arg = "locale") {
  if (inherits(locale, "umfrage_locale")) return(locale)
  if (is.character(locale) && length(locale) == 1L && !is.na(locale)) {
    lang <- tolower(sub("[-_].*$", "", locale))
    if (lang %in% c("en", "de")) return(builtin_locale(lang))
    stopf("'%s' = %s is not a built-in language (\"en\", \"de\"); build one with tab_locale()",
          arg, q(locale))
  }
  stopf("'%s' must be \"en\", \"de\" or a tab_locale() object, not %s", arg, obj_desc_len(locale))
}

# ---- numbers as the locale writes them -----------------------------------------

# Fixed-point numbers with the locale's marks; NA as `na`. Never warns.
loc_num <- function(v, digits, loc, na = "", big = TRUE) {
  out <- rep(na, length(v))
  ok <- !is.na(v) & is.finite(v)
  if (any(ok)) {
    s <- formatC(abs(v[ok]), format = "f", digits = as.integer(digits), big.mark = "",
                 decimal.mark = ".")
    int <- sub("\\..*$", "", s)
    frac <- ifelse(grepl(".", s, fixed = TRUE), sub("^[^.]*\\.", "", s), "")
    if (big && nzchar(loc$big)) int <- group_digits(int, loc$big)
    neg <- v[ok] < 0 & grepl("[1-9]", s)
    out[ok] <- paste0(ifelse(neg, "-", ""), int, ifelse(nzchar(frac), paste0(loc$dec, frac), ""))
  }
  inf <- !is.na(v) & is.infinite(v)
  out[inf] <- ifelse(v[inf] > 0, "Inf", "-Inf")
  out
}

group_digits <- function(int, mark) {
  long <- nchar(int) > 3L
  if (!any(long)) return(int)
  int[long] <- vapply(int[long], function(s) {
    n <- nchar(s)
    starts <- rev(seq(n, 1L, by = -3L))
    parts <- substring(s, pmax(starts - 2L, 1L), starts)
    paste(parts, collapse = mark)
  }, "", USE.NAMES = FALSE)
  int
}

# Percents: "6.2%" / "6,2 %".
loc_pct <- function(p, digits, loc, na = "-") {
  s <- loc_num(p, digits, loc, na = NA_character_)
  ifelse(is.na(s), na, paste0(s, loc$pct_space, "%"))
}

# Counts: unweighted as whole numbers, weighted with the locale's digits
# (auto: 0 when the largest is at least 100, else 1).
loc_count <- function(v, weighted, loc) {
  if (!weighted) return(loc_num(round(v), loc$digits[["count"]], loc))
  loc_num(v, count_digits(v, weighted, loc), loc)
}

# The digits loc_count() writes counts with (the xlsx exporter's number
# formats use the same rule).
count_digits <- function(v, weighted, loc) {
  if (!weighted) return(loc$digits[["count"]])
  dig <- loc$digits[["weighted"]]
  if (is.na(dig)) dig <- if (max(abs(v), 0, na.rm = TRUE) >= 100) 0L else 1L
  dig
}

# p-values: "p = 0.0123" / "p < 0.0001" (significant digits from the locale).
loc_p <- function(p, loc) {
  dig <- loc$digits[["p"]]
  floor_p <- 10^-(dig + 1L)
  ifelse(is.na(p), "", ifelse(p < floor_p,
    sprintf(loc$words[["p_less"]], loc_num(floor_p, dig + 1L, loc)),
    sprintf(loc$words[["p_equal"]], loc_sig(p, dig, loc))))
}

# Significant digits, fixed notation, with the locale's decimal mark.
loc_sig <- function(v, digits, loc) {
  out <- rep("", length(v))
  ok <- !is.na(v) & is.finite(v) & v != 0
  if (any(ok)) {
    mag <- floor(log10(abs(v[ok])))
    d <- pmax(digits - 1L - mag, 0L)
    out[ok] <- vapply(seq_along(d), function(i) loc_num(signif(v[ok][i], digits), d[i], loc), "")
  }
  out[!is.na(v) & v == 0] <- "0"
  out
}

# A fixed word, filled in as sprintf() with the arguments.
loc_word <- function(loc, key, ...) {
  w <- loc$words[[key]]
  # a locale made by an older version (e.g. kept on a saved table) lacks
  # newer words: take them from its built-in language
  if (is.null(w) && loc$lang %in% c("en", "de")) w <- builtin_locale(loc$lang)$words[[key]]
  if (is.null(w)) stopf("internal error: no word %s", q(key))
  if (...length()) sprintf(w, ...) else w
}
