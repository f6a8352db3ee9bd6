# Report helpers: numbers in running text as the tables write them, table
# and figure numbers, and alt text of charts. They speak the locale of
# tab_locale() (the call's, else the option umfrage.locale, else OutDec),
# so that a report sets its language and rounding rule once.

#' Numbers in running text, as the tables write them
#'
#' Format numbers for the prose of a report (inline R code in R Markdown)
#' with the same locale and digits as the tables: `fmt_pct(13.6)` is
#' `"13,6 %"` in German, `"13.6%"` in English. Set the locale once, e.g.
#' `options(umfrage.locale = tab_locale("de", digits = c(pct = 0, ci = 0)))`,
#' and text, tables and charts follow one rounding rule. Never in
#' scientific notation, never a warning.
#'
#' @param x Numbers (`fmt_pct()`: percents on the 0-100 scale).
#' @param digits Digits after the decimal mark; default the locale's digits
#'   of percents (`fmt_pct()`), interval ends (`fmt_ci()`), or 0
#'   (`fmt_num()`).
#' @param low,high The ends of confidence intervals (percents; with
#'   `percent = FALSE` of any estimate, e.g. a mean of [mean_of()]).
#' @param percent `fmt_ci()`: write the upper end as a percent (`TRUE`, the
#'   default); `FALSE` for the interval of a mean, total or other estimate
#'   in its own units (`"2,8 bis 3,4"`); give its `digits`.
#' @param deff Optional design effects of the estimates: an interval whose
#'   design effect is below the threshold (`getOption("umfrage.min_deff")`,
#'   default 0.5) gets the locale's flag (a superscript one), and the result the
#'   attribute `"note"` explaining it (see [print.umfrage_tab()]).
#' @param p P-values.
#' @param locale Language and number format: `"en"`, `"de"` or a
#'   [tab_locale()] object; default `getOption("umfrage.locale")`, else from
#'   `getOption("OutDec")`.
#' @return A character vector (`NA` in, `""` out; `fmt_pct()`: `"-"`).
#' @examples
#' fmt_pct(c(42.23, 7.5), locale = "de")
#' fmt_ci(8.6, 22.9, locale = "de")
#' fmt_ci(0.96, 2.26, deff = 0.14, locale = "de")
#' fmt_ci(2.83, 3.41, digits = 1, percent = FALSE, locale = "de")
#' fmt_num(11067, locale = "de")
#' fmt_p(c(0.0312, 2.7e-11), locale = "de")
#' @export
fmt_pct <- function(x, digits = NULL, locale = NULL) {
  loc <- resolve_locale(locale)
  check_fmt_num(x, "x")
  loc_pct(x, fmt_digits(digits, loc$digits[["pct"]]), loc)
}

#' @rdname fmt_pct
#' @export
fmt_num <- function(x, digits = 0, locale = NULL) {
  loc <- resolve_locale(locale)
  check_fmt_num(x, "x")
  loc_num(x, fmt_digits(digits, 0L), loc)
}

#' @rdname fmt_pct
#' @export
fmt_ci <- function(low, high, digits = NULL, deff = NULL, locale = NULL, percent = TRUE) {
  loc <- resolve_locale(locale)
  check_fmt_num(low, "low")
  check_fmt_num(high, "high")
  if (length(low) != length(high))
    stopf("'low' and 'high' must have the same length, not %d and %d", length(low), length(high))
  check_flag(percent, "percent")
  d <- fmt_digits(digits, loc$digits[["ci"]])
  out <- ifelse(is.na(low) | is.na(high), "",
                loc_word(loc, "ci_range", loc_num(low, d, loc),
                         if (percent) loc_pct(high, d, loc) else loc_num(high, d, loc)))
  if (!is.null(deff)) {
    check_fmt_num(deff, "deff")
    if (length(deff) != length(low))
      stopf("'deff' must have one value per interval (%d), not %d", length(low), length(deff))
    md <- min_deff_of(list())
    low_deff <- !is.na(deff) & deff < md & nzchar(out)
    fl <- loc_word(loc, "low_deff_flag")
    out[low_deff] <- paste0(out[low_deff], fl)
    if (any(low_deff)) attr(out, "note") <- paste(fl, loc_word(loc, "low_deff", loc_plain(md, loc)))
  }
  out
}

#' @rdname fmt_pct
#' @export
fmt_p <- function(p, locale = NULL) {
  loc <- resolve_locale(locale)
  check_fmt_num(p, "p")
  loc_p(p, loc)
}

check_fmt_num <- function(x, arg) {
  if (!is.numeric(x) && !(is.logical(x) && all(is.na(x))))
    stopf("'%s' must be numeric, not %s", arg, obj_desc_len(x))
}

fmt_digits <- function(digits, default) {
  if (is.null(digits)) return(as.integer(default))
  if (!is.numeric(digits) || length(digits) != 1L || is.na(digits) || digits < 0 ||
      digits > 15 || digits != round(digits))
    stopf("'digits' must be a whole number from 0 to 15, not %s", obj_desc_len(digits))
  as.integer(digits)
}

# ---- numbered captions ---------------------------------------------------------

caption_counter <- new.env(parent = emptyenv())

# The document being knitted (its file and knitr's global environment), or
# "" outside knitr: numbers restart in each knitted document.
caption_doc <- function() {
  if (!isTRUE(getOption("knitr.in.progress")) || !requireNamespace("knitr", quietly = TRUE))
    return("")
  env <- tryCatch(utils::capture.output(print(knitr::knit_global())), error = function(e) "")
  paste(tryCatch(knitr::current_input(dir = TRUE), error = function(e) ""), env[1L])
}

#' Numbered titles of tables and figures
#'
#' `tab_caption("Werden KI-Werkzeuge genutzt?")` gives `"Tabelle 3:
#' Werden KI-Werkzeuge genutzt?"`: the locale's word for a table or figure,
#' the next number of its kind, and the title. Tables and figures are
#' counted separately; the numbers restart in each knitted document (and
#' count on across calls outside knitr). Use the result as the `title` of
#' [knit_print.umfrage_tab()], the `main` of [plot.umfrage_tab()], or the
#' caption of any other table.
#'
#' @param title The titles; several give consecutive numbers.
#' @param kind `"table"` or `"figure"`.
#' @param number The number of the first title, instead of the next one;
#'   counting goes on from it (so `number = 1` restarts).
#' @param locale Language: `"en"` ("Table", "Figure"), `"de"` ("Tabelle",
#'   "Abbildung") or a [tab_locale()] object; default as in [fmt_pct()].
#' @return A character vector, with attribute `"number"` (the numbers).
#' @examples
#' tab_caption("Use of AI tools", number = 1, locale = "en")
#' tab_caption(c("F1", "F2"), kind = "figure", locale = "de")
#' @export
tab_caption <- function(title, kind = c("table", "figure"), number = NULL, locale = NULL) {
  if (!is.character(title) || !length(title) || anyNA(title))
    stopf("'title' must be a character vector of titles, not %s", obj_desc_len(title))
  kind <- match.arg(kind)
  loc <- resolve_locale(locale)
  doc <- caption_doc()
  if (!identical(caption_counter$doc, doc)) {
    caption_counter$doc <- doc
    caption_counter$n <- c(table = 0L, figure = 0L)
  }
  if (!is.null(number)) {
    if (!is.numeric(number) || length(number) != 1L || is.na(number) || number < 1 ||
        number != round(number))
      stopf("'number' must be a whole number of at least 1, not %s", obj_desc_len(number))
    caption_counter$n[[kind]] <- as.integer(number) - 1L
  }
  nums <- caption_counter$n[[kind]] + seq_along(title)
  caption_counter$n[[kind]] <- nums[length(nums)]
  out <- loc_word(loc, "caption", loc_word(loc, kind), nums, title)
  attr(out, "number") <- nums
  out
}

# ---- alt text ----------------------------------------------------------------------

#' Alt text of a chart of a table
#'
#' A short description of what [plot.umfrage_tab()] draws, for the `alt`
#' attribute of the image (in R Markdown the chunk option `fig.alt`): the
#' kind of chart, the title, and each bar's value with its confidence
#' interval, in the locale. For a numeric row (a mean, total, ratio, mean
#' score or quantiles, see [mean_of()]), drawn as dots with intervals, it
#' names the statistic and gives each column's estimate and interval in
#' the estimate's own units and digits (the locale's `mean`, `quantile`,
#' ... digits), never as percents: `"Punktdiagramm: api00: Mittelwert
#' (95-\%-Konfidenzintervall). E 674,4 (649,6 bis 699,2); ..."`.
#'
#' @param x A `umfrage_tab` object.
#' @param row_var,col_var,layer Which block, as in [plot.umfrage_tab()].
#' @param title The chart's title (default: the row variable's label; for
#'   a numeric row the chart's title, e.g. "Mean of api00").
#' @param stacked Describe stacked bars (values without intervals); an
#'   error for a numeric row.
#' @param locale Language and number format, as in [plot.umfrage_tab()].
#' @return A single string.
#' @examples
#' d <- data.frame(vote = factor(rep(c("A", "B", "C", "A"), 20)))
#' tab_alt(tab(d, "vote"), locale = "de")
#' @export
tab_alt <- function(x, row_var = NULL, col_var = NULL, layer = 1L, title = NULL,
                    stacked = FALSE, locale = NULL) {
  if (!inherits(x, "umfrage_tab")) stopf("'x' must be a tab() result, not %s", obj_desc_len(x))
  check_flag(stacked, "stacked")
  loc <- display_locale(x, locale)
  b <- plot_block(x, row_var, col_var, layer, loc)
  if (b$numeric) return(alt_numeric(x, b, title, stacked, loc))
  if (is.null(title)) title <- x$rows[[b$i]]$label
  pct <- x$percent != "none"
  val <- if (pct) loc_pct(b$value, loc$digits[["pct"]], loc) else
    loc_count(b$value, x$weighted, loc)
  val <- matrix(val, nrow(b$value), ncol(b$value))
  ci <- if (pct && !stacked) ifelse(is.na(b$lo) | is.na(b$hi), "",
    paste0(" (", loc_word(loc, "ci_range", loc_num(b$lo, loc$digits[["ci"]], loc),
                          loc_pct(b$hi, loc$digits[["ci"]], loc)), ")")) else ""
  ci <- matrix(ci, nrow(b$value), ncol(b$value))
  one <- length(b$cols) == 1L
  parts <- vapply(seq_along(b$cols), function(m) {
    s <- paste0(b$rows, " ", val[, m], ci[, m], collapse = "; ")
    if (one) s else paste0(b$cols[m], ": ", s)
  }, "")
  lev <- 100 * x$options$level
  what <- c(if (pct) plot_value_title(x, loc),
            if (pct && !stacked && any(!is.na(b$lo)))
              loc_word(loc, "ci", loc_num(lev, if (lev == round(lev)) 0L else 1L, loc)))
  paste0(loc_word(loc, if (stacked) "stacked_chart" else "bar_chart"), ": ", title,
         if (length(what)) paste0(" (", paste(what, collapse = ", "), ")"), ". ",
         paste(parts, collapse = ". "), ".")
}

# Alt text of the chart of a numeric row (plot_numeric(): dots with
# intervals per column): its estimates in their own units and digits, never
# as percents ("Punktdiagramm: api00: Mittelwert (95-%-Konfidenzintervall).
# E 674,4 (649,6 bis 699,2); H 625,8 (...)").
alt_numeric <- function(x, b, title, stacked, loc) {
  if (stacked) stopf("'stacked' bars need percents; %s is a numeric row (%s): it is drawn as dots with intervals",
                     q(x$rows[[b$i]]$name), x$rows[[b$i]]$stat)
  if (is.null(title)) title <- plot_num_title(x, b, loc)
  if (nzchar(b$layer$title)) title <- paste0(title, " (", b$layer$title, ")")
  d <- stat_digits(b$stat, loc)
  val <- matrix(loc_num(b$value, d, loc, na = "-"), nrow(b$value), ncol(b$value))
  ci <- ifelse(is.na(b$lo) | is.na(b$hi), "",
               paste0(" (", loc_word(loc, "ci_range", loc_num(b$lo, d, loc), loc_num(b$hi, d, loc)), ")"))
  ci <- matrix(ci, nrow(b$value), ncol(b$value))
  one_row <- length(b$rows) == 1L
  parts <- vapply(seq_along(b$cols), function(m) {
    if (one_row) return(paste0(b$cols[m], " ", val[1L, m], ci[1L, m]))
    paste0(b$cols[m], ": ", paste0(b$rows, " ", val[, m], ci[, m], collapse = "; "))
  }, "")
  lev <- 100 * x$options$level
  what <- if (any(!is.na(b$lo))) loc_word(loc, "ci", loc_num(lev, if (lev == round(lev)) 0L else 1L, loc))
  paste0(loc_word(loc, "dot_chart"), ": ", title,
         if (length(what)) paste0(" (", what, ")"), ". ",
         paste(parts, collapse = if (one_row) "; " else ". "), ".")
}
