#' Write tables to an Excel workbook
#'
#' `tab_xlsx()` writes one or many [tab()] results to an `.xlsx` file in
#' banner layout, as a survey institute delivers its tables: a title, a
#' spanning header per column variable (the Total column spans its header
#' rows), the level headers with their letters, the base rows, then per
#' banner column one Excel column per shown statistic. Numbers are numbers:
#' counts and bases with a thousands format, percents and interval ends as
#' real proportions (value / 100) with a percent number format of the
#' locale's digits, so they can be computed with; significance letters
#' stand in their own column. The notes (tests, letter legend, small-base
#' legend) and an optional source line follow under each table. The
#' words (Total, Base, the notes, sheet names) are the locale's; decimal
#' and thousands marks are the spreadsheet program's business.
#'
#' Each block of a table (one per row variable and `by` layer, as
#' [print.umfrage_tab()] shows them) is one table of the workbook. With
#' `layout = "sheets"` every `tab()` result gets its own sheet, its blocks
#' one under another; with `layout = "stacked"` all tables stand one under
#' another on one sheet. The contents sheet lists every table with its
#' number, title and sheet, the title linking to the table.
#'
#' Columns and cells whose unweighted base is below the table's threshold
#' (`min_base` of [tab()], default 30) are set in grey italics with the
#' locale's small-base flag (`"*"`) after the number (part of the number
#' format, so the cell stays a number); the legend under the table says so.
#'
#' Numeric rows (means, totals, ratios, mean scores, quantiles) are real
#' numbers too, in a number format with the digits of their statistic
#' (`digits` names `mean`, `total`, `ratio`, `score`, `quantile`), never a
#' percent format; consecutive numeric rows are one table, a mean-score row
#' stands under its variable's distribution (a rule above it), a numeric
#' row with its own base has a `Base (n)` row under it, and nets are bold.
#'
#' The workbook is written with the \pkg{openxlsx2} package (in Suggests).
#'
#' @param x A `tab()` result or a list of them. The names of a named list
#'   are the tables' titles (unless `title` is given).
#' @param path The file to write (ending in `.xlsx`).
#' @param layout `"sheets"` (one sheet per table) or `"stacked"` (all
#'   tables on one sheet).
#' @param title Character, one title per table, written bold above it.
#'   Default: the names of `x`, else none; every block keeps its caption
#'   (row variable, layer, column %, weighted, ...) under it.
#' @param source Character, one per table or recycled: a source line under
#'   each table's notes, written as the locale's word (`"Source: "`,
#'   `"Quelle: "`) and the text, unless the text already starts with that
#'   word.
#' @param sheet Sheet names: one per table for `layout = "sheets"`
#'   (default "Table 1", "Table 2", ... in the locale's word), the one
#'   sheet's name for `"stacked"` (default "Tables"). Names are made valid
#'   for Excel: at most 31 characters, none of `[]:*?/\`, unique.
#' @param contents Add a first sheet listing every table (default: when
#'   there is more than one table).
#' @param locale,show,digits As in [print.umfrage_tab()]: the language of
#'   the words, what a cell shows (each statistic in its own column; `"ci"`
#'   gives two columns, the lower and upper end), and the digits per
#'   statistic (the number formats' decimals).
#' @param overwrite Overwrite an existing file (default `TRUE`).
#' @return `path`, invisibly.
#' @examples
#' if (requireNamespace("openxlsx2", quietly = TRUE)) {
#'   d <- data.frame(sex = rep(c("f", "m"), 40),
#'                   vote = factor(rep(c("A", "B", "C", "A"), 20)),
#'                   age = rep(c("young", "old"), each = 40))
#'   t1 <- tab(d, "vote", cols = c("sex", "age"))
#'   t2 <- tab(d, "age", cols = "sex")
#'   f <- tempfile(fileext = ".xlsx")
#'   tab_xlsx(list("Vote by sex and age" = t1, "Age by sex" = t2), f,
#'            locale = "de", source = "Beispieldaten")
#'   unlink(f)
#' }
#' @export
tab_xlsx <- function(x, path, layout = c("sheets", "stacked"), title = NULL, source = NULL,
                     sheet = NULL, contents = length(tabs) > 1, locale = NULL, show = NULL,
                     digits = NULL, overwrite = TRUE) {
  tabs <- xlsx_tabs(x)
  nt <- length(tabs)
  if (!is.character(path) || length(path) != 1L || is.na(path) || !nzchar(path))
    stopf("'path' must be a single file name, not %s", obj_desc_len(path))
  if (!grepl("\\.xlsx$", path, ignore.case = TRUE))
    stopf("'path' must end in \".xlsx\", not %s", q(basename(path)))
  check_flag(overwrite, "overwrite")
  if (!overwrite && file.exists(path))
    stopf("%s exists; use overwrite = TRUE to replace it", q(path))
  if (!dir.exists(dirname(path)))
    stopf("the folder of 'path' does not exist: %s", q(dirname(path)))
  layout <- match.arg(layout)
  if (is.null(title)) {
    nm <- if (!inherits(x, "umfrage_tab")) names(x)
    title <- if (is.null(nm)) rep(NA_character_, nt) else ifelse(is.na(nm) | !nzchar(nm), NA_character_, nm)
  } else if (!is.character(title) || length(title) != nt) {
    stopf("'title' must be a character vector with one title per table (%d), not %s", nt,
          obj_desc_len(title))
  }
  if (!is.null(source)) {
    if (!is.character(source) || !(length(source) %in% c(1L, nt)) || anyNA(source))
      stopf("'source' must be a character vector of length 1 or one per table (%d), not %s",
            nt, obj_desc_len(source))
    source <- rep_len(source, nt)
  }
  check_flag(contents, "contents")
  # the display model of each table: its numbers, strings and words
  ds <- lapply(tabs, function(t) tab_display(t, locale, show, digits))
  loc <- ds[[1L]]$locale
  nsheet <- if (layout == "sheets") nt else 1L
  if (is.null(sheet)) {
    sheet <- if (layout == "sheets") paste(loc_word(loc, "table"), seq_len(nt)) else loc_word(loc, "tables")
  } else if (!is.character(sheet) || length(sheet) != nsheet || anyNA(sheet)) {
    stopf("'sheet' must be %s, not %s",
          if (layout == "sheets") sprintf("one sheet name per table (%d)", nt)
          else "a single sheet name (layout = \"stacked\")", obj_desc_len(sheet))
  }
  if (!requireNamespace("openxlsx2", quietly = TRUE))
    stopf("tab_xlsx() needs the openxlsx2 package: install.packages(\"openxlsx2\")")

  contents_name <- if (contents) loc_word(loc, "contents")
  names_all <- xlsx_sheet_names(c(contents_name, sheet))
  if (contents) {
    contents_name <- names_all[1L]
    sheet <- names_all[-1L]
  } else {
    sheet <- names_all
  }

  wb <- openxlsx2::wb_workbook(creator = "umfrage")
  wb$set_base_font(font_size = 10, font_name = "Arial")
  if (contents) wb$add_worksheet(contents_name, grid_lines = FALSE, orientation = "landscape")
  # a scratch sheet where each combination of style parts is built once
  proto <- xlsx_sheet_names(c(names_all, "umfrage-styles"))[length(names_all) + 1L]
  wb$add_worksheet(proto)
  cache <- new.env(parent = emptyenv())
  toc <- list()
  for (s in seq_len(nsheet)) {
    idx <- if (layout == "sheets") s else seq_len(nt)
    wb$add_worksheet(sheet[s], grid_lines = FALSE, orientation = "landscape")
    items <- list()
    for (i in idx) {
      d <- ds[[i]]
      for (j in seq_along(d$blocks)) {
        items[[length(items) + 1L]] <- list(
          d = d, b = d$blocks[[j]], table = i,
          heading = if (j == 1L) title[i] else NA_character_,
          number = if (length(d$blocks) > 1L) paste0(i, ".", j) else as.character(i),
          source = if (!is.null(source)) source_line(source[i], d$locale))
      }
    }
    anchors <- xlsx_sheet(wb, sheet[s], items, proto, cache)
    for (k in seq_along(items)) {
      it <- items[[k]]
      ttl <- if (is.na(title[it$table])) it$b$title$text
             else if (length(it$d$blocks) > 1L) paste0(title[it$table], ": ", it$b$title$text)
             else title[it$table]
      toc[[length(toc) + 1L]] <- list(number = it$number, title = ttl, sheet = sheet[s],
                                      row = anchors[k])
    }
  }
  if (contents) xlsx_contents(wb, contents_name, toc, loc)
  wb$remove_worksheet(proto)
  wb$set_active_sheet(1L)
  wb$save(path, overwrite = TRUE)
  invisible(path)
}

xlsx_tabs <- function(x) {
  if (inherits(x, "umfrage_tab")) return(list(x))
  if (is.list(x) && !is.data.frame(x) && length(x)) {
    bad <- which(!vapply(x, inherits, NA, "umfrage_tab"))
    if (!length(bad)) return(unname(x))
    stopf("'x' must be a tab() result or a list of them; element %d is %s", bad[1L],
          obj_desc_len(x[[bad[1L]]]))
  }
  stopf("'x' must be a tab() result or a list of them, not %s", obj_desc_len(x))
}

# Sheet names Excel accepts: none of []:*?/\, not starting or ending with
# an apostrophe, not "History", at most 31 characters, unique regardless of
# case (a clash gets " (2)", ...).
xlsx_sheet_names <- function(nm) {
  nm <- gsub("[\\[\\]:*?/\\\\]", "_", enc2utf8(nm), perl = TRUE)
  nm <- gsub("[[:cntrl:]]", " ", nm)
  nm <- trimws(gsub("^'+|'+$", "", nm))
  nm[!nzchar(nm) | tolower(nm) == "history"] <- "Sheet"
  nm <- substr(nm, 1L, 31L)
  for (i in seq_along(nm)) {
    base <- nm[i]
    k <- 1L
    while (tolower(nm[i]) %in% tolower(nm[seq_len(i - 1L)])) {
      k <- k + 1L
      suffix <- sprintf(" (%d)", k)
      nm[i] <- paste0(substr(base, 1L, 31L - nchar(suffix)), suffix)
    }
  }
  nm
}

# ---- cell addresses --------------------------------------------------------------

xlsx_col <- function(j) {
  vapply(j, function(n) {
    s <- ""
    while (n > 0) {
      r <- (n - 1L) %% 26L
      s <- paste0(LETTERS[r + 1L], s)
      n <- (n - 1L) %/% 26L
    }
    s
  }, "")
}
xlsx_ref <- function(r, c) paste0(xlsx_col(c), r)
xlsx_rng <- function(r1, c1, r2 = r1, c2 = c1) {
  ifelse(r1 == r2 & c1 == c2, xlsx_ref(r1, c1), paste0(xlsx_ref(r1, c1), ":", xlsx_ref(r2, c2)))
}

# Excel number formats of the locale's digits (the marks are Excel's).
xlsx_fmt_num <- function(digits, big) {
  paste0(if (nzchar(big)) "#,##0" else "0", ifelse(digits > 0L, paste0(".", strrep("0", digits)), ""))
}
xlsx_fmt_pct <- function(digits, loc) {
  paste0("0", if (digits > 0L) paste0(".", strrep("0", digits)), if (nzchar(loc$pct_space)) " ", "%")
}
xlsx_flagged <- function(fmt, flag) paste0(fmt, "\" ", gsub("\"", "", flag, fixed = TRUE), "\"")

xlsx_colors <- list(head = "FFEEF1F5", base = "FFF6F7F9", grey = "FF595959", small = "FF7F7F7F",
                    rule = "FF8A96A8", letters = "FF1F4E9C", notes = "FF333333", link = "FF1F4E9C",
                    black = "FF1A1A1A")

# ---- styles ------------------------------------------------------------------------
# Styling cell by cell through openxlsx2's add_font() & co. costs time in
# proportion to the sheet for every call. So the blocks only note which
# named style parts each cell gets (font, fill, top and bottom rule, number
# format, alignment); per sheet the cells are grouped by their combination,
# each combination is built once on a scratch sheet, and its style index is
# set on all its cells in one call.

xlsx_fonts <- list(
  title = list(size = 12, bold = TRUE), caption = list(size = 10, bold = TRUE),
  bold = list(size = 10, bold = TRUE), stat = list(size = 8, color = "grey"),
  base = list(size = 10, italic = TRUE, color = "grey"),
  letters = list(size = 8, bold = TRUE, color = "letters"),
  small = list(size = 10, italic = TRUE, color = "small"), notes = list(size = 8, color = "notes"),
  link = list(size = 10, underline = "single", color = "link"), big = list(size = 13, bold = TRUE))
xlsx_aligns <- list(
  head = list(horizontal = "center", vertical = "bottom", wrap_text = TRUE),
  stat = list(horizontal = "right", vertical = "bottom", wrap_text = TRUE),
  stub = list(horizontal = "left", vertical = "bottom", wrap_text = TRUE),
  letters = list(horizontal = "left", vertical = "bottom", indent = 1L),
  right = list(horizontal = "right"), left = list(horizontal = "left"))

# A collector of style parts: sty$set(rows, cols, field, value) for a
# rectangle, sty$cells(r, c, field, value) for single cells.
xlsx_styler <- function() {
  e <- new.env(parent = emptyenv())
  e$parts <- list()
  e$cells <- function(r, c, field, value) {
    if (length(r)) e$parts[[length(e$parts) + 1L]] <- list(r = as.integer(r), c = as.integer(c),
                                                           field = field, value = rep_len(value, length(r)))
  }
  e$set <- function(rows, cols, field, value) {
    if (length(rows) && length(cols))
      e$cells(rep(rows, times = length(cols)), rep(cols, each = length(rows)), field, value)
  }
  e$mask <- function(mask, row0, col0, field, value) {
    w <- which(mask, arr.ind = TRUE)
    if (length(w)) e$cells(row0 + w[, 1L] - 1L, col0 + w[, 2L] - 1L, field, value)
  }
  e
}

xlsx_fields <- c("font", "fill", "btop", "bbot", "numfmt", "align")

# Apply the collected styles of sheet sh; `proto` is the scratch sheet and
# `cache` an environment of built combinations (key -> style index).
xlsx_apply_styles <- function(wb, sh, sty, proto, cache) {
  if (!length(sty$parts)) return(invisible())
  r <- unlist(lapply(sty$parts, `[[`, "r"))
  c <- unlist(lapply(sty$parts, `[[`, "c"))
  field <- rep(vapply(sty$parts, `[[`, "", "field"), lengths(lapply(sty$parts, `[[`, "r")))
  value <- unlist(lapply(sty$parts, `[[`, "value"))
  cell <- paste(r, c)
  ucell <- unique(cell)
  ui <- match(ucell, cell)
  ur <- r[ui]
  uc <- c[ui]
  # the last value given wins
  key_parts <- vapply(xlsx_fields, function(f) {
    k <- which(field == f)
    out <- rep("", length(ucell))
    if (length(k)) {
      last <- !duplicated(cell[k], fromLast = TRUE)
      out[match(cell[k][last], ucell)] <- value[k][last]
    }
    out
  }, character(length(ucell)))
  key_parts <- matrix(key_parts, ncol = length(xlsx_fields))
  key <- apply(key_parts, 1L, paste, collapse = "\r")
  for (kk in unique(key)) {
    xf <- cache[[kk]]
    if (is.null(xf)) {
      xf <- xlsx_proto(wb, proto, key_parts[match(kk, key), ], length(ls(cache)) + 1L)
      assign(kk, xf, envir = cache)
    }
    sel <- which(key == kk)
    wb$set_cell_style(sheet = sh, dims = xlsx_cells_dims(ur[sel], uc[sel]), style = xf)
  }
  invisible()
}

# Build one combination of style parts on cell A<i> of the scratch sheet;
# returns its style index.
xlsx_proto <- function(wb, proto, parts, i) {
  names(parts) <- xlsx_fields
  ref <- xlsx_ref(i, 1L)
  col <- function(nm) openxlsx2::wb_color(xlsx_colors[[nm]])
  f <- if (nzchar(parts[["font"]])) xlsx_fonts[[parts[["font"]]]] else list(size = 10)
  wb$add_font(sheet = proto, dims = ref, name = "Arial", size = f$size,
              bold = if (isTRUE(f$bold)) TRUE else "", italic = if (isTRUE(f$italic)) TRUE else "",
              underline = if (is.null(f$underline)) "" else f$underline,
              color = col(if (is.null(f$color)) "black" else f$color))
  if (nzchar(parts[["fill"]])) wb$add_fill(sheet = proto, dims = ref, color = col(parts[["fill"]]))
  if (nzchar(parts[["btop"]]) || nzchar(parts[["bbot"]])) {
    side <- function(v) if (!nzchar(v)) NULL else if (v == "rule") "thin" else v
    wb$add_border(sheet = proto, dims = ref,
                  top_border = side(parts[["btop"]]), top_color = col("black"),
                  bottom_border = side(parts[["bbot"]]),
                  bottom_color = col(if (parts[["bbot"]] == "rule") "rule" else "black"),
                  left_border = NULL, right_border = NULL)
  }
  if (nzchar(parts[["numfmt"]])) wb$add_numfmt(sheet = proto, dims = ref, numfmt = parts[["numfmt"]])
  if (nzchar(parts[["align"]]))
    do.call(wb$add_cell_style, c(list(sheet = proto, dims = ref), xlsx_aligns[[parts[["align"]]]]))
  unname(wb$get_cell_style(sheet = proto, dims = ref))
}

# Cells as ranges of consecutive rows per column, joined by commas.
xlsx_cells_dims <- function(r, c) {
  o <- order(c, r)
  r <- r[o]
  c <- c[o]
  brk <- c(TRUE, diff(c) != 0L | diff(r) != 1L)
  first <- which(brk)
  last <- c(first[-1L] - 1L, length(r))
  paste(xlsx_rng(r[first], c[first], r[last], c[last]), collapse = ",")
}

# ---- one sheet ---------------------------------------------------------------------

# Write the blocks `items` one under another; returns the row of each
# block's first line (the contents link there).
xlsx_sheet <- function(wb, sh, items, proto, cache) {
  r <- 1L
  anchors <- integer(length(items))
  widths <- numeric()
  freeze <- NULL
  sty <- xlsx_styler()
  merges <- character()
  heights <- list()
  for (k in seq_along(items)) {
    res <- xlsx_block(wb, sh, r, items[[k]], sty)
    anchors[k] <- res$anchor
    merges <- c(merges, res$merges)
    heights[[k]] <- res$heights
    w <- res$widths
    if (length(w) > length(widths)) widths <- c(widths, rep(0, length(w) - length(widths)))
    widths[seq_along(w)] <- pmax(widths[seq_along(w)], w)
    if (k == 1L) freeze <- res$first_base
    r <- res$next_row
  }
  # one call each: merging checks every new range against the existing ones
  if (length(merges)) wb$merge_cells(sheet = sh, dims = paste(merges, collapse = ","))
  xlsx_apply_styles(wb, sh, sty, proto, cache)
  h <- unlist(heights)
  if (length(h)) wb$set_row_heights(sheet = sh, rows = as.integer(names(h)), heights = unname(h))
  wb$set_col_widths(sheet = sh, cols = seq_along(widths), widths = round(widths, 1))
  if (length(items) == 1L) {
    wb$freeze_pane(sheet = sh, first_active_row = freeze, first_active_col = 2L)
  } else {
    wb$freeze_pane(sheet = sh, first_col = TRUE)
  }
  wb$page_setup(sheet = sh, orientation = "landscape", fit_to_width = 1L, fit_to_height = 0L)
  anchors
}

# One block of the display model at row r of sheet sh: writes its cells,
# notes its styles in `sty`, returns its merges, row heights and column
# widths.
xlsx_block <- function(wb, sh, r, it, sty) {
  b <- it$b
  d <- it$d
  loc <- d$locale
  show <- if (is.null(b$show)) d$show else b$show
  if (!d$letters || isFALSE(b$has_letters)) show <- setdiff(show, "letters")
  cols <- b$columns
  nb <- nrow(cols)
  nr <- nrow(b$rows)
  # the Excel columns of each banner column: one per shown statistic (two
  # for the interval), no letters in the Total column
  stats <- unlist(lapply(show, function(s) if (s == "ci") c("ci_low", "ci_high") else s))
  xs <- lapply(seq_len(nb), function(m) if (cols$col_var[m] == 1L) setdiff(stats, "letters") else stats)
  ns <- lengths(xs)
  c0 <- 2L + cumsum(c(0L, ns[-nb]))
  xm <- rep(seq_len(nb), ns)           # banner column of each Excel column
  xstat <- unlist(xs)                  # statistic of each Excel column
  nx <- length(xstat)
  last_col <- 1L + nx
  isnum <- xstat != "letters"
  stat_row <- sum(isnum[xm == 1L]) > 1L || any(tabulate(xm[isnum], nb) > 1L)
  # rows
  r_head <- if (!is.na(it$heading)) r
  r_cap <- r + !is.na(it$heading)
  r_span <- r_cap + 1L
  r_lev <- r_span + 1L
  r_stat <- if (stat_row) r_lev + 1L
  r_hlast <- r_lev + stat_row
  nbase <- length(c(b$stub$base_n, b$stub$base_w))
  r_base <- r_hlast + 1L
  r_body <- r_base + nbase
  r_end <- r_body + nr - 1L
  notes <- c(b$notes$lines, it$source)
  r_notes <- r_end + 1L

  # titles and header (spanners, levels with letters, statistics) as one
  # block of text from the block's first row
  H <- matrix(NA_character_, r_hlast - r + 1L, last_col)
  hr <- function(row) row - r + 1L
  if (!is.null(r_head)) H[hr(r_head), 1L] <- it$heading
  H[hr(r_cap), 1L] <- b$title$text
  merges <- character()
  span_cols <- integer()
  for (s in seq_len(nrow(b$spans))) {
    m1 <- b$spans$first[s]
    m2 <- b$spans$last[s]
    a <- c0[m1]
    z <- c0[m2] + ns[m2] - 1L
    if (b$spans$col_var[s] == 1L) {
      H[hr(r_span), a] <- cols$level[m1]
      merges <- c(merges, xlsx_rng(r_span, a, r_lev, z))
      sty$set(r_span, a, "font", "bold")
    } else {
      H[hr(r_span), a] <- b$spans$label[s]
      if (z > a) merges <- c(merges, xlsx_rng(r_span, a, r_span, z))
      span_cols <- c(span_cols, a:z)
      for (m in m1:m2) {
        H[hr(r_lev), c0[m]] <- cols$header[m]
        if (ns[m] > 1L) merges <- c(merges, xlsx_rng(r_lev, c0[m], r_lev, c0[m] + ns[m] - 1L))
      }
    }
  }
  if (stat_row) {
    head_word <- c(count = "head_count", weighted = "head_weighted", pct = "head_pct",
                   ci_low = "head_ci_low", ci_high = "head_ci_high")
    # a block of numeric rows: "estimate" where the percent stands
    if (isTRUE(b$numeric)) head_word[["pct"]] <- "estimate_axis"
    H[hr(r_stat), 1L + seq_len(nx)] <- vapply(xstat, function(s)
      if (s == "letters") NA_character_ else loc_word(loc, head_word[[s]]), "")
  }
  wb$add_data(sheet = sh, x = as.data.frame(H, stringsAsFactors = FALSE), dims = xlsx_ref(r, 1L),
              col_names = FALSE, na = NULL)

  # base rows and body: the stub, then one column per Excel column; the
  # bases in the first number column of each banner column
  bw <- !is.null(b$stub$base_w)
  # the rows: percents (and counts), numeric rows (their estimate and
  # interval in their own units, no counts), a numeric row's own base
  rstat <- b$rows$stat
  own <- b$rows$type == "base"
  is_pct <- rstat == "pct"
  first_num <- vapply(seq_len(nx), function(k) isnum[k] && k == min(which(xm == xm[k] & isnum)), NA)
  last_num <- vapply(seq_len(nx), function(k) isnum[k] && k == max(which(xm == xm[k] & isnum)), NA)
  body <- list(c(b$stub$base_n, b$stub$base_w, b$rows$label))
  for (k in seq_len(nx)) {
    m <- xm[k]
    s <- xstat[k]
    base <- if (first_num[k]) c(cols$base_n[m], if (bw) cols$base_w[m])[seq_len(nbase)] else rep(NA_real_, nbase)
    v <- switch(s, count = ifelse(is_pct, b$num$n[, m], NA_real_),
                weighted = ifelse(is_pct, b$num$n_w[, m], NA_real_),
                pct = ifelse(is_pct, b$num$pct[, m] / 100, b$num$estimate[, m]),
                ci_low = ifelse(is_pct, b$num$ci_low[, m] / 100, b$num$ci_low[, m]),
                ci_high = ifelse(is_pct, b$num$ci_high[, m] / 100, b$num$ci_high[, m]),
                letters = ifelse(nzchar(b$letters[, m]), b$letters[, m], NA_character_))
    if (s != "letters") {
      # without a percent column, a numeric row's estimate stands in the
      # first number column
      if (!"pct" %in% xstat && first_num[k]) v <- ifelse(is_pct, v, b$num$estimate[, m])
      v[own] <- if (first_num[k]) b$num$n[own, m] else NA_real_
    }
    body[[k + 1L]] <- if (s == "letters") c(rep(NA_character_, nbase), v) else c(base, v)
  }
  names(body) <- paste0("V", seq_along(body))
  wb$add_data(sheet = sh, x = new_df(body), dims = xlsx_ref(r_base, 1L), col_names = FALSE, na = NULL)
  # a percent without a base is a dash, as in print()
  na_body <- matrix(vapply(seq_len(nx), function(k) isnum[k] & is.na(body[[k + 1L]][nbase + seq_len(nr)]) &
                             !own & (is_pct | !xstat[k] %in% c("count", "weighted") |
                                       (!"pct" %in% xstat & first_num[k])),
                           logical(nr)), nr)
  for (k in which(colSums(na_body) > 0L)) {
    w <- which(na_body[, k])
    runs <- split(w, cumsum(c(1L, diff(w) != 1L)))
    for (rn in runs)
      wb$add_data(sheet = sh, x = rep("-", length(rn)), dims = xlsx_ref(r_body + rn[1L] - 1L, k + 1L),
                  col_names = FALSE)
  }
  sty$mask(na_body, r_body, 2L, "align", "right")
  if (length(notes))
    wb$add_data(sheet = sh, x = notes, dims = xlsx_ref(r_notes, 1L), col_names = FALSE)

  # number formats: body by statistic, the bases; small cells and bases
  # flagged after their last number (as the HTML shows it)
  dig <- loc$digits
  fmt_of <- list(count = xlsx_fmt_num(count_digits(b$num$n, FALSE, loc), loc$big),
                 weighted = xlsx_fmt_num(count_digits(b$num$n_w, TRUE, loc), loc$big),
                 pct = xlsx_fmt_pct(dig[["pct"]], loc),
                 ci_low = xlsx_fmt_pct(dig[["ci"]], loc), ci_high = xlsx_fmt_pct(dig[["ci"]], loc))
  fmt <- matrix(NA_character_, nbase + nr, nx)
  small <- matrix(FALSE, nbase + nr, nx)
  num_fmt <- xlsx_fmt_num(b$rows$digits, loc$big)
  for (k in which(isnum)) {
    m <- xm[k]
    fk <- rep(fmt_of[[xstat[k]]], nr)
    if (xstat[k] %in% c("pct", "ci_low", "ci_high") || (!"pct" %in% xstat && first_num[k]))
      fk <- ifelse(is_pct, fk, num_fmt)
    fk[own] <- xlsx_fmt_num(count_digits(b$num$n[own, m], FALSE, loc), loc$big)
    fmt[nbase + seq_len(nr), k] <- fk
    small[nbase + seq_len(nr), k] <- b$small[, m]
    if (first_num[k] && nbase) {
      fmt[1L, k] <- xlsx_fmt_num(count_digits(cols$base_n, FALSE, loc), loc$big)
      if (bw) fmt[2L, k] <- xlsx_fmt_num(count_digits(cols$base_w, TRUE, loc), loc$big)
      small[seq_len(nbase), k] <- cols$small[m]
    }
  }
  flagged <- small
  flagged[nbase + seq_len(nr), !last_num] <- FALSE
  # a numeric row's own base: the flag after the base, in the first column
  if (any(own)) flagged[nbase + which(own), ] <- small[nbase + which(own), , drop = FALSE] &
    matrix(first_num, sum(own), nx, byrow = TRUE)
  fmt[flagged & !is.na(fmt)] <- xlsx_flagged(fmt[flagged & !is.na(fmt)], d$flag)
  has <- !is.na(fmt)
  w <- which(has, arr.ind = TRUE)
  if (length(w)) sty$cells(r_base + w[, 1L] - 1L, 1L + w[, 2L], "numfmt", fmt[has])

  # titles, header band, rules, bases, letters, small cells, stub, notes
  if (!is.null(r_head)) sty$set(r_head, 1L, "font", "title")
  sty$set(r_cap, 1L, "font", "caption")
  sty$set(r_span:r_hlast, seq_len(last_col), "fill", "head")
  sty$set(r_span:r_hlast, 2:last_col, "align", "head")
  sty$set(r_span, span_cols, "font", "bold")
  sty$set(r_span, span_cols, "bbot", "rule")
  if (stat_row) {
    sty$set(r_stat, 2:last_col, "font", "stat")
    sty$set(r_stat, 2:last_col, "align", "stat")
  }
  sty$set(r_span, seq_len(last_col), "btop", "medium")
  sty$set(r_hlast, seq_len(last_col), "bbot", "thin")
  if (nbase) {
    sty$set(r_base:(r_body - 1L), seq_len(last_col), "fill", "base")
    sty$set(r_base:(r_body - 1L), seq_len(last_col), "font", "base")
    sty$set(r_body - 1L, seq_len(last_col), "bbot", "rule")
  }
  # nets bold; a numeric row's own base in the bases' grey italics; a rule
  # above a mean-score row
  sty$set(r_body - 1L + which(b$rows$net), seq_len(last_col), "font", "bold")
  sty$set(r_body - 1L + which(own), seq_len(last_col), "font", "base")
  sty$set(r_body - 1L + which(b$rows$rule), seq_len(last_col), "btop", "rule")
  sty$set(r_end, seq_len(last_col), "bbot", "medium")
  let_cols <- which(!isnum)
  if (length(let_cols)) {
    sty$set(r_body:r_end, 1L + let_cols, "font", "letters")
    sty$set(r_body:r_end, 1L + let_cols, "align", "letters")
  }
  sty$mask(small[nbase + seq_len(nr), , drop = FALSE], r_body, 2L, "font", "small")
  sty$set(r_hlast + seq_len(nbase + nr), 1L, "align", "stub")
  if (length(notes)) sty$set(r_notes:(r_notes + length(notes) - 1L), 1L, "font", "notes")

  # column widths (in characters) and the heights of rows whose text wraps
  # (spreadsheet programs do not grow a row for wrapped text on opening)
  stub_w <- min(max(nchar(c(b$stub$base_n, b$stub$base_w, b$rows$label), type = "width"), 12L) + 2L, 42L)
  widths <- numeric(last_col)
  widths[1L] <- stub_w
  for (k in seq_len(nx)) {
    m <- xm[k]
    s <- xstat[k]
    bstr <- if (first_num[k]) c(cols$base_n_str[m], if (bw) cols$base_w_str[m])
    w <- switch(s,
                letters = max(nchar(b$letters[, m]), 2L) + 3,
                count = max(nchar(c(b$str$count[, m], bstr))) + 3,
                weighted = max(nchar(c(b$str$weighted[, m], bstr))) + 3,
                max(nchar(loc_pct(100, dig[[if (s == "pct") "pct" else "ci"]], loc)), nchar(bstr),
                    if (s == "pct") nchar(b$str$pct[, m]) else nchar(b$str$ci[, m]) / 2) + 3)
    if (any(flagged[, k])) w <- w + nchar(d$flag) + 1
    if (stat_row && isnum[k]) w <- max(w, 0.8 * nchar(H[hr(r_stat), 1L + k]) + 2)
    widths[1L + k] <- max(w, 6)
  }
  # a level header wider than its columns wraps, up to three lines
  lines_lev <- 1L
  for (m in seq_len(nb)) {
    if (cols$col_var[m] == 1L) next
    ks <- 1L + which(xm == m)
    have <- sum(widths[ks])
    need <- nchar(cols$header[m], type = "width") + 1
    if (have < need / 3) {
      widths[ks[1L]] <- widths[ks[1L]] + need / 3 - have
      have <- need / 3
    }
    lines_lev <- max(lines_lev, ceiling(need / have))
  }
  lines_span <- 1L
  for (s in seq_len(nrow(b$spans))) {
    if (b$spans$col_var[s] == 1L) next
    ks <- 1L + which(xm >= b$spans$first[s] & xm <= b$spans$last[s])
    lines_span <- max(lines_span, ceiling((nchar(b$spans$label[s], type = "width") + 1) / sum(widths[ks])))
  }
  stub_lines <- ceiling(nchar(b$rows$label, type = "width") / (stub_w - 1))
  heights <- c(if (lines_span > 1L) stats::setNames(13 * lines_span, r_span),
               if (lines_lev > 1L) stats::setNames(13 * lines_lev, r_lev),
               if (any(stub_lines > 1L))
                 stats::setNames(13 * stub_lines[stub_lines > 1L], r_body - 1L + which(stub_lines > 1L)))
  list(anchor = if (!is.null(r_head)) r_head else r_cap, first_base = r_base, widths = widths,
       merges = merges, heights = heights, next_row = r_notes + length(notes) + 2L)
}

# ---- contents ---------------------------------------------------------------------

xlsx_contents <- function(wb, sh, toc, loc) {
  n <- length(toc)
  black <- openxlsx2::wb_color("FF1A1A1A")
  wb$add_data(sheet = sh, x = loc_word(loc, "contents"), dims = "A1")
  wb$add_font(sheet = sh, dims = "A1", name = "Arial", size = 13, bold = TRUE)
  # number, sheet, title: the (linked) title last, where a long one has room
  hdr <- c(loc_word(loc, "number"), loc_word(loc, "sheet"), loc_word(loc, "title"))
  wb$add_data(sheet = sh, x = as.data.frame(t(hdr), stringsAsFactors = FALSE), dims = "A3", col_names = FALSE)
  wb$add_font(sheet = sh, dims = "A3:C3", name = "Arial", size = 10, bold = TRUE)
  wb$add_fill(sheet = sh, dims = "A3:C3", color = openxlsx2::wb_color(xlsx_colors$head))
  wb$add_border(sheet = sh, dims = "A3:C3", top_border = "medium", top_color = black,
                bottom_border = "thin", bottom_color = black, left_border = NULL, right_border = NULL)
  num <- vapply(toc, `[[`, "", "number")
  ttl <- vapply(toc, `[[`, "", "title")
  shn <- vapply(toc, `[[`, "", "sheet")
  row <- vapply(toc, `[[`, 1L, "row")
  wb$add_data(sheet = sh, x = new_df(list(number = num, sheet = shn, title = ttl)), dims = "A4",
              col_names = FALSE)
  for (k in seq_len(n)) {
    target <- paste0("'", gsub("'", "''", shn[k], fixed = TRUE), "'!", xlsx_ref(row[k], 1L))
    wb$add_hyperlink(sheet = sh, dims = xlsx_ref(3L + k, 3L), target = target, is_external = FALSE)
  }
  last <- 3L + n
  wb$add_font(sheet = sh, dims = xlsx_rng(4L, 3L, last, 3L), name = "Arial", size = 10, underline = "single",
              color = openxlsx2::wb_color(xlsx_colors$link))
  wb$add_cell_style(sheet = sh, dims = xlsx_rng(4L, 1L, last, 1L), horizontal = "left")
  wb$add_border(sheet = sh, dims = xlsx_rng(last, 1L, last, 3L), bottom_border = "medium",
                bottom_color = black, top_border = NULL, left_border = NULL, right_border = NULL)
  wb$set_col_widths(sheet = sh, cols = 1:3,
                    widths = c(max(nchar(c(num, hdr[1L]))) + 3, max(nchar(c(shn, hdr[2L]))) + 3,
                               min(max(nchar(ttl)) + 3, 120)))
  wb$freeze_pane(sheet = sh, first_active_row = 4L)
  wb$page_setup(sheet = sh, orientation = "landscape", fit_to_width = 1L, fit_to_height = 0L)
  invisible(wb)
}
