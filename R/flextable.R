# Word and PowerPoint tables: as_flextable() of a tab() result, and
# tab_docx() writing one or many of them to a .docx file. Both lay out the
# display model (tab_display(), R/display.R) and never format a number:
# every string in a cell is the display model's.

# A package in Suggests, or a clear error naming what needs it.
need_suggested <- function(pkg, what) {
  if (!requireNamespace(pkg, quietly = TRUE))
    stopf("%s needs the %s package; install it (install.packages(\"%s\"), on Debian: apt install r-cran-%s)",
          what, pkg, pkg, tolower(pkg))
  invisible(TRUE)
}

#' Tables for Word and PowerPoint (flextable)
#'
#' `as_flextable()` method (flextable, in Suggests) for [tab()] results: the
#' banner as a report table for Word, PowerPoint or HTML via the flextable
#' and officer packages, laid out as [knit_print.umfrage_tab()] lays out
#' HTML. Registered when flextable is loaded; call it as
#' `flextable::as_flextable(x)`.
#'
#' The layout: the caption holds the title (row variable, layer, what the
#' percents are), numbered by Word in the locale's word ("Table 1: ",
#' "Tabelle 1: "); a spanning header row names each column variable over
#' its levels, and a second header row names the levels, with their
#' significance letters (`"female (A)"`) when letters are shown; the Total
#' column spans both header rows. Each banner column has one column per
#' shown statistic, numbers right-aligned, the significance letters in a
#' column of their own (never run into the number). The base rows (`Base
#' (n)`, and `Base (weighted)` when weighted) come first, in italics. Cells
#' and bases below the small-base threshold carry the locale's flag as a
#' superscript. The notes (tests, letter legend, small-base legend) and the
#' `source` are footer lines. Every word and number is the locale's (see
#' [tab_locale()]). The column widths fit the header and the cells; the
#' notes wrap within them.
#'
#' `flextable::save_as_docx()` writes a flextable on a portrait page, where
#' a wide banner overflows: give it `pr_section =
#' officer::prop_section(page_size = officer::page_size(orient =
#' "landscape"))`, or use [tab_docx()], which turns the page itself.
#' PowerPoint (`flextable::save_as_pptx()`) shows no caption: put the title
#' in the slide's title.
#'
#' Numeric rows show their estimate (and interval) in their own units with
#' their statistic's digits, stacked in one table; a mean-score row stands
#' under its variable's distribution below a rule; nets are bold.
#'
#' @section Several row variables or layers:
#' A flextable shows one block: one row variable in one `by` layer (their
#' bases, tests and notes differ). A table with several blocks gives a list
#' of flextables, one per block in the order of `print()`, named by their
#' titles; `block = k` gives the k-th alone. [tab_docx()] writes them all,
#' one after another.
#'
#' @param x A `umfrage_tab` object.
#' @param locale,show,digits As in [print.umfrage_tab()]: language and
#'   number format, what a cell shows, digits per statistic.
#' @param title The caption: a string (one per block for several blocks);
#'   default the block's title as `print()` shows it.
#' @param source A string written as the last footer line, after the
#'   locale's word for "Source" (e.g. `"Source: KiK survey 2024"`).
#' @param block Which block (row variable x layer, in print order) to
#'   give; default all of them (a single flextable when there is only one).
#' @param ... Ignored.
#' @return A `flextable` object; or, for several blocks and `block =
#'   NULL`, a named list of them.
#' @seealso [tab_docx()] to write tables to a Word file;
#'   `flextable::save_as_docx()`, `flextable::save_as_pptx()`.
#' @examples
#' if (requireNamespace("flextable", quietly = TRUE)) {
#'   d <- data.frame(sex = rep(c("f", "m"), 40),
#'                   vote = factor(rep(c("A", "B", "C", "A"), 20)))
#'   t <- tab(d, "vote", cols = "sex")
#'   ft <- flextable::as_flextable(t, locale = "de", show = c("pct", "letters"))
#'   ft
#'   # flextable::save_as_docx(ft, path = "vote.docx")
#' }
#' @exportS3Method flextable::as_flextable
as_flextable.umfrage_tab <- function(x, locale = NULL, show = NULL, digits = NULL,
                                     title = NULL, source = NULL, block = NULL, ...) {
  need_suggested("flextable", "as_flextable() of a table")
  fts <- tab_flextables(x, locale, show, digits, title, source, block)
  if (length(fts) == 1L) fts[[1L]] else fts
}

# The flextables of the blocks of x (all, or block k), as a named list.
tab_flextables <- function(x, locale = NULL, show = NULL, digits = NULL, title = NULL,
                           source = NULL, block = NULL) {
  if (!inherits(x, "umfrage_tab"))
    stopf("'x' must be a tab() result, not %s", obj_desc_len(x))
  d <- tab_display(x, locale, show, digits)
  nb <- length(d$blocks)
  if (!is.null(block)) {
    if (!is.numeric(block) || length(block) != 1L || is.na(block) || block != round(block) ||
        block < 1 || block > nb)
      stopf("'block' must be a whole number from 1 to %d (the table's blocks: row variables x layers), not %s",
            nb, obj_desc_len(block))
  }
  ks <- if (is.null(block)) seq_len(nb) else as.integer(block)
  if (!is.null(title)) {
    if (!is.character(title) && !(is.logical(title) && all(is.na(title))) ||
        !(length(title) %in% c(1L, length(ks))))
      stopf("'title' must be a string (or one per block: %d), not %s", length(ks), obj_desc_len(title))
    title <- rep_len(enc2utf8(title), length(ks))
  }
  if (!is.null(source) && (!is.character(source) || length(source) != 1L || is.na(source)))
    stopf("'source' must be a single string, not %s", obj_desc_len(source))
  out <- lapply(seq_along(ks), function(i) {
    b <- d$blocks[[ks[i]]]
    if (!is.null(title) && !is.na(title[i])) b$title$text <- title[i]
    flex_block(b, d$show, d$flag, d$locale, source)
  })
  names(out) <- make_distinct(vapply(ks, function(k) d$blocks[[k]]$title$text, ""))
  out
}

# Colours and rules of the report table (as the HTML table's).
flex_style <- list(font = "Arial", size = 9, size_small = 7.5, header_bg = "#EEF1F5",
                   base_bg = "#F6F7F9", base_col = "#555555", letter_col = "#1F4E9C",
                   flag_col = "#B3261E", rule = "#1A1A1A", thin = "#8A96A8")

# One display block as a flextable.
flex_block <- function(b, show, flag, loc, source) {
  if (!is.null(b$show)) show <- b$show
  cols <- b$columns
  nm <- nrow(cols)
  nr <- nrow(b$rows)
  num_show <- setdiff(show, "letters")
  k <- length(show)
  wtd <- !is.null(b$stub$base_w)
  nbase <- length(c(b$stub$base_n, b$stub$base_w))
  own <- b$rows$type == "base"
  # column keys: the stub, then per banner column one per shown statistic
  key <- function(m, s) sprintf("c%d_%s", m, s)
  keys <- c("stub", unlist(lapply(seq_len(nm), function(m) key(m, show))))
  # body: the base rows (the base in the first numeric column of its banner
  # column, merged over the numeric columns), then the rows
  # (a numeric row's own base row likewise)
  body <- list(stub = c(b$stub$base_n, b$stub$base_w, b$rows$label))
  for (m in seq_len(nm)) for (s in show) {
    base <- if (s == num_show[1L]) c(cols$base_n_str[m], if (wtd) cols$base_w_str[m])[seq_len(nbase)]
            else rep("", nbase)
    v <- b$str[[s]][, m]
    v[own] <- if (s == num_show[1L]) b$str$base[own, m] else ""
    body[[key(m, s)]] <- c(base, v)
  }
  df <- data.frame(body, stringsAsFactors = FALSE, check.names = FALSE)
  ft <- flextable::flextable(df, col_keys = keys)
  # header: the spanners (Total: its level) over the levels, both rows
  # merged below where they repeat; a table without column variables has
  # the level row only
  spanned <- any(b$spans$col_var != 1L)
  hdr <- data.frame(key = keys, span = c("", rep(ifelse(nzchar(cols$spanner), cols$spanner, cols$level),
                                                 each = k)),
                    level = c("", rep(cols$header, each = k)), stringsAsFactors = FALSE)
  ft <- flextable::set_header_df(ft, mapping = if (spanned) hdr else hdr[c("key", "level")],
                                 key = "key")
  nh <- if (spanned) 2L else 1L
  jcols <- function(m) 1L + (m - 1L) * k + seq_len(k)           # all columns of banner column m
  jnum <- function(m) 1L + (m - 1L) * k + match(num_show, show)  # its numeric columns
  if (k > 1L) for (m in seq_len(nm))
    ft <- flextable::merge_at(ft, i = nh, j = jcols(m), part = "header")
  if (spanned) {
    ft <- flextable::merge_at(ft, i = 1:2, j = 1L, part = "header")
    for (s in seq_len(nrow(b$spans))) {
      j <- unlist(lapply(b$spans$first[s]:b$spans$last[s], jcols))
      ft <- flextable::merge_at(ft, i = if (b$spans$col_var[s] == 1L) 1:2 else 1L, j = j,
                                part = "header")
    }
  }
  if (length(num_show) > 1L) for (m in seq_len(nm)) for (i in c(seq_len(nbase), nbase + which(own)))
    ft <- flextable::merge_at(ft, i = i, j = jnum(m), part = "body")
  ft <- flex_look(ft, b, show, nh, nbase, spanned, k)
  # small-base flags: a superscript after the base and after the last
  # number of a cell whose percent base is small
  flag_at <- function(ft, i, j) {
    v <- df[[keys[j]]][i]
    flextable::compose(ft, i = i, j = j, part = "body", value = flextable::as_paragraph(
      flextable::as_chunk(v), flextable::as_chunk(flag,
        props = officer::fp_text(color = flex_style$flag_col, bold = TRUE,
                                 font.size = flex_style$size, font.family = flex_style$font,
                                 vertical.align = "superscript"))))
  }
  for (m in which(cols$small)) for (i in seq_len(nbase)) ft <- flag_at(ft, i, jnum(m)[1L])
  sm <- which(b$small, arr.ind = TRUE)
  for (r in seq_len(nrow(sm)))
    ft <- flag_at(ft, nbase + sm[r, 1L], jnum(sm[r, 2L])[if (own[sm[r, 1L]]) 1L else length(num_show)])
  # widths from the header and body only: the notes wrap within them
  ft <- flextable::autofit(ft, add_w = 0.05, add_h = 0, hspans = "divided")
  # caption, notes, source
  # the caption, numbered by Word ("Table 1: ...", in the locale's word)
  cap_font <- officer::fp_text(font.family = flex_style$font, font.size = flex_style$size + 1,
                               bold = TRUE, color = flex_style$rule)
  ft <- flextable::set_caption(
    ft, caption = flextable::as_paragraph(flextable::as_chunk(b$title$text, props = cap_font)),
    autonum = officer::run_autonum(seq_id = "tab", pre_label = paste0(loc_word(loc, "table"), " "),
                                   post_label = ": ", tnd = 0, tns = "-", prop = cap_font),
    fp_p = officer::fp_par(text.align = "left", padding.bottom = 4), align_with_table = FALSE)
  foot <- c(b$notes$lines, source_line(source, loc))
  if (length(foot)) {
    ft <- flextable::add_footer_lines(ft, values = foot)
    ft <- flextable::font(ft, fontname = flex_style$font, part = "footer")
    ft <- flextable::fontsize(ft, size = flex_style$size_small, part = "footer")
    ft <- flextable::align(ft, align = "left", part = "footer")
    ft <- flextable::padding(ft, padding.top = 1, padding.bottom = 1, part = "footer")
    ft <- flextable::height(ft, height = 0.16, part = "footer")
  }
  ft
}

# The report look: thin rules and no vertical lines, a shaded bold header,
# the bases in grey italics on a light band, numbers right-aligned, the
# letters small, bold and blue beside them.
flex_look <- function(ft, b, show, nh, nbase, spanned, k) {
  st <- flex_style
  thick <- officer::fp_border(color = st$rule, width = 1.5)
  thin <- officer::fp_border(color = st$thin, width = 0.75)
  ft <- flextable::border_remove(ft)
  ft <- flextable::font(ft, fontname = st$font, part = "all")
  ft <- flextable::fontsize(ft, size = st$size, part = "all")
  ft <- flextable::padding(ft, padding.top = 2, padding.bottom = 2, padding.left = 3,
                           padding.right = 3, part = "all")
  ft <- flextable::bg(ft, bg = st$header_bg, part = "header")
  ft <- flextable::bold(ft, bold = TRUE, part = "header")
  # the levels (and the Total column) in normal weight, the spanners bold
  if (spanned) {
    ft <- flextable::bold(ft, i = nh, bold = FALSE, part = "header")
    ft <- flextable::bold(ft, i = 1L, j = 1L + which(rep(b$columns$col_var == 1L, each = k)),
                          bold = FALSE, part = "header")
  } else {
    ft <- flextable::bold(ft, bold = FALSE, part = "header")
  }
  ft <- flextable::align(ft, align = "center", part = "header")
  ft <- flextable::valign(ft, valign = "bottom", part = "header")
  ft <- flextable::hline_top(ft, border = thick, part = "header")
  ft <- flextable::hline_bottom(ft, border = thick, part = "header")
  if (spanned) {
    # a rule under each spanner, not under the stub or the Total column
    j <- 1L + which(rep(b$columns$col_var != 1L, each = k))
    ft <- flextable::hline(ft, i = 1L, j = j, border = thin, part = "header")
  }
  ft <- flextable::hline_bottom(ft, border = thick, part = "body")
  ft <- flextable::align(ft, align = "right", part = "body")
  ft <- flextable::align(ft, j = 1L, align = "left", part = "all")
  base <- seq_len(nbase)
  own <- nbase + which(b$rows$type == "base")
  if (nbase) {
    ft <- flextable::italic(ft, i = base, italic = TRUE, part = "body")
    ft <- flextable::color(ft, i = base, color = st$base_col, part = "body")
    ft <- flextable::bg(ft, i = base, bg = st$base_bg, part = "body")
    ft <- flextable::hline(ft, i = nbase, border = thin, part = "body")
  }
  # nets bold; a numeric row's own base row in grey italics; a rule above
  # a mean-score row
  net <- nbase + which(b$rows$net)
  if (length(net)) ft <- flextable::bold(ft, i = net, bold = TRUE, part = "body")
  if (length(own)) {
    ft <- flextable::italic(ft, i = own, italic = TRUE, part = "body")
    ft <- flextable::color(ft, i = own, color = st$base_col, part = "body")
    ft <- flextable::fontsize(ft, i = own, size = st$size_small, part = "body")
  }
  rule <- nbase + which(b$rows$rule)
  if (length(rule)) ft <- flextable::hline(ft, i = rule - 1L, border = thin, part = "body")
  lt <- 1L + which(rep(show, nrow(b$columns)) == "letters")
  if (length(lt)) {
    ft <- flextable::align(ft, j = lt, align = "left", part = "body")
    ft <- flextable::bold(ft, i = nbase + seq_len(nrow(b$rows)), j = lt, bold = TRUE, part = "body")
    ft <- flextable::color(ft, j = lt, color = st$letter_col, part = "body")
    ft <- flextable::fontsize(ft, j = lt, size = st$size_small, part = "body")
    ft <- flextable::padding(ft, j = lt, padding.left = 1, part = "body")
  }
  # a little air before each banner column
  first <- 1L + (seq_len(nrow(b$columns)) - 1L) * k + 1L
  flextable::padding(ft, j = first, padding.left = 10, part = "body")
}

#' Write tables to a Word document
#'
#' Writes one or many [tab()] results to a .docx file (officer and
#' flextable, in Suggests): every block of every table (row variable x
#' layer) as the flextable of [as_flextable.umfrage_tab()], with its
#' numbered caption above and its notes below, one after another with a
#' blank line between them, each kept on one page where it fits. The page
#' is A4 with 2 cm margins; `landscape = NA` (the default) turns it to
#' landscape when the widest table does not fit a portrait page. A table
#' still wider than the page's text width is set in proportionally smaller
#' type and narrower columns (not below 5 pt).
#'
#' @param x A `umfrage_tab` object, or a list of them.
#' @param path The .docx file to write (overwritten).
#' @param locale,show,digits As in [print.umfrage_tab()], for every table.
#' @param title Captions: a character vector with one per table in `x`
#'   (each then used for all blocks of that table; `NA` for the blocks' own
#'   titles), or `NULL` for the blocks' own titles. A named list `x` gives
#'   its names as titles.
#' @param source As in [as_flextable.umfrage_tab()]: a footer line under
#'   every table.
#' @param landscape `TRUE`, `FALSE`, or `NA` (landscape when needed).
#' @param ... Ignored.
#' @return `path`, invisibly.
#' @seealso [as_flextable.umfrage_tab()]
#' @examples
#' if (requireNamespace("flextable", quietly = TRUE) &&
#'     requireNamespace("officer", quietly = TRUE)) {
#'   d <- data.frame(sex = rep(c("f", "m"), 40), age = rep(c("young", "old"), each = 40),
#'                   vote = factor(rep(c("A", "B", "C", "A"), 20)))
#'   f <- tempfile(fileext = ".docx")
#'   tab_docx(list(tab(d, "vote", cols = "sex"), tab(d, "vote", cols = c("sex", "age"))),
#'            f, locale = "de", source = "Example data")
#'   unlink(f)
#' }
#' @export
tab_docx <- function(x, path, locale = NULL, show = NULL, digits = NULL, title = NULL,
                     source = NULL, landscape = NA, ...) {
  need_suggested("officer", "tab_docx()")
  need_suggested("flextable", "tab_docx()")
  tabs <- if (inherits(x, "umfrage_tab")) list(x) else x
  if (!is.list(tabs) || !length(tabs) || !all(vapply(tabs, inherits, NA, "umfrage_tab")))
    stopf("'x' must be a tab() result or a list of them, not %s", obj_desc_len(x))
  if (!is.character(path) || length(path) != 1L || is.na(path) || !nzchar(path))
    stopf("'path' must be a single file name, not %s", obj_desc_len(path))
  if (!grepl("\\.docx$", path, ignore.case = TRUE))
    stopf("'path' must end in .docx, not %s", q(path))
  if (!is.logical(landscape) || length(landscape) != 1L)
    stopf("'landscape' must be TRUE, FALSE or NA, not %s", obj_desc_len(landscape))
  if (is.null(title) && !inherits(x, "umfrage_tab") && !is.null(names(x)))
    title <- ifelse(nzchar(names(x)), names(x), NA_character_)
  if (!is.null(title) && (!(is.character(title) || all(is.na(title))) || length(title) != length(tabs)))
    stopf("'title' must give one caption per table (%d), not %s", length(tabs), obj_desc_len(title))
  fts <- unlist(lapply(seq_along(tabs), function(i)
    tab_flextables(tabs[[i]], locale, show, digits, title[i], source)), recursive = FALSE)
  widest <- max(vapply(fts, function(ft) sum(flextable::flextable_dim(ft)$widths), 0))
  # A4 with 2 cm margins: 6.69 in of text width upright, 10.1 in across
  if (is.na(landscape)) landscape <- widest > 6.69
  margin <- 2 / 2.54
  # a table still wider than the page's text width gets smaller type and
  # narrower columns, in proportion (flextable's fit_to_width() loops for
  # ever when footer notes set the width)
  text_w <- (if (landscape) 29.7 else 21) / 2.54 - 2 * margin
  fts <- lapply(fts, shrink_flextable, max_width = text_w)
  sec <- officer::prop_section(
    page_size = officer::page_size(width = 21 / 2.54, height = 29.7 / 2.54,
                                   orient = if (landscape) "landscape" else "portrait"),
    page_margins = officer::page_mar(top = margin, bottom = margin, left = margin,
                                     right = margin, header = 0.5, footer = 0.5, gutter = 0))
  doc <- officer::read_docx()
  for (i in seq_along(fts)) {
    if (i > 1L) doc <- officer::body_add_par(doc, "")
    doc <- flextable::body_add_flextable(doc, fts[[i]], align = "left", keepnext = TRUE)
  }
  doc <- officer::body_set_default_section(doc, sec)
  print(doc, target = path)
  invisible(path)
}

# Scale a flextable's type and column widths down so that it is at most
# max_width inches wide (fonts not below 5 pt).
shrink_flextable <- function(ft, max_width) {
  cw <- dim(ft)$widths
  tot <- sum(cw)
  if (!(tot > max_width)) return(ft)
  f <- max_width / tot
  for (part in c("header", "body", "footer")) {
    fs <- ft[[part]]$styles$text$font.size$data
    if (length(fs)) ft[[part]]$styles$text$font.size$data[] <- pmax(5, round(fs * f * 2) / 2)
  }
  flextable::width(ft, j = seq_along(cw), width = cw * f)
}
