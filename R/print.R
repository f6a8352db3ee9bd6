# Printing, knitting, plotting and summarising umfrage_tab objects.
# All of them read the tidy cells (x$cells) and column bases (x$bases).

# Blocks to show: one per row variable and layer.
tab_layers <- function(x) {
  bv <- vapply(x$by, `[[`, "", "name")
  if (!length(bv)) return(list(list(keys = NULL, title = "")))
  keys <- unique(x$cells[bv])
  lapply(seq_len(nrow(keys)), function(i) {
    k <- keys[i, , drop = FALSE]
    list(keys = k, title = paste(sprintf("%s = %s", names(k), unlist(k)), collapse = ", "))
  })
}

subset_layer <- function(df, keys) {
  if (is.null(keys)) return(df)
  keep <- rep(TRUE, nrow(df))
  for (v in names(keys)) keep <- keep & df[[v]] == keys[[v]]
  df[keep, , drop = FALSE]
}

fmt_count <- function(v, weighted) {
  if (!weighted) return(format(round(v), big.mark = ",", trim = TRUE, scientific = FALSE))
  dig <- if (max(abs(v), 0, na.rm = TRUE) >= 100) 0 else 1
  formatC(v, format = "f", digits = dig, big.mark = ",")
}

fmt_pct <- function(p, digits = 1L) {
  ifelse(is.na(p), "-", paste0(formatC(p, format = "f", digits = digits), "%"))
}

var_label <- function(metas, name) {
  for (m in metas) if (identical(m$name, name)) return(m$label)
  name
}

# One block as a character matrix: stub column, then per banner column.
tab_block_matrix <- function(x, rvname, keys, digits = 1L, pct = TRUE) {
  cells <- subset_layer(x$cells[x$cells$row_var == rvname, , drop = FALSE], keys)
  bases <- subset_layer(x$bases[x$bases$row_var == rvname, , drop = FALSE], keys)
  colkey <- paste(bases$col_var, bases$col, sep = "\r")
  rows <- unique(cells$row)
  wtd <- x$weighted
  show_pct <- pct && x$percent != "none"
  head1 <- ifelse(!duplicated(bases$col_var) & bases$col_var != "Total",
                  vapply(bases$col_var, function(v) var_label(x$cols, v), ""), "")
  head2 <- bases$col
  base_n <- fmt_count(bases$base_n, FALSE)
  base_w <- fmt_count(bases$base_w, TRUE)
  ck <- paste(cells$col_var, cells$col, sep = "\r")
  body <- vapply(colkey, function(k) {
    cc <- cells[ck == k, , drop = FALSE]
    cc <- cc[match(rows, cc$row), , drop = FALSE]
    cnt <- fmt_count(if (wtd) cc$n_w else cc$n, wtd)
    if (!show_pct) return(cnt)
    p <- fmt_pct(cc$pct, digits)
    lt <- if (is.null(cc$letters)) rep("", nrow(cc)) else ifelse(is.na(cc$letters), "", cc$letters)
    out <- paste(formatC(cnt, width = max(nchar(cnt))), formatC(p, width = max(nchar(p))))
    if (any(nzchar(lt))) out <- paste(out, formatC(lt, width = -max(nchar(lt)), flag = "-"))
    out
  }, character(length(rows)))
  body <- matrix(body, nrow = length(rows))
  stub_head <- c("", "", "Base (n)", if (wtd) "Base (weighted)")
  if (isTRUE(x$options$letters) && x$percent == "col" && show_pct) {
    # the letter of each column within its column variable, as (A), (B), ...
    lab <- stats::ave(seq_along(bases$col_var), bases$col_var, FUN = seq_along)
    head2 <- ifelse(bases$col_var == "Total", head2,
                    paste0(head2, " (", col_letters(max(lab))[lab], ")"))
  }
  m <- rbind(head1, head2, base_n, if (wtd) base_w, body)
  cbind(c(stub_head, rows), m)
}

#' @export
format.umfrage_tab <- function(x, digits = 1L, ...) {
  lines <- character()
  what <- switch(x$percent, col = "column %", row = "row %", total = "total %", none = "counts")
  for (ly in tab_layers(x)) {
    for (rv in x$rows) {
      m <- tab_block_matrix(x, rv$name, ly$keys, digits)
      title <- rv$label
      if (nzchar(ly$title)) title <- paste0(title, "  [", ly$title, "]")
      title <- paste0(title, "  (", if (x$weighted) "weighted " else "", what,
                      if (rv$kind == "mr") "; multiple response, % of respondents" else "", ")")
      w <- apply(nchar(m, type = "width"), 2L, max)
      fmt <- vapply(seq_len(nrow(m)), function(i) {
        cellsi <- vapply(seq_len(ncol(m)), function(j) {
          if (j == 1L) formatC(m[i, j], width = -w[j], flag = "-")
          else if (i == 1L) formatC(m[i, j], width = -w[j], flag = "-")
          else formatC(m[i, j], width = w[j])
        }, "")
        paste(cellsi, collapse = "  ")
      }, "")
      sep <- strrep("-", max(nchar(fmt, type = "width")))
      lines <- c(lines, title, fmt[1:2], sep, fmt[-(1:2)], block_notes(x, rv$name, ly$keys), "")
    }
  }
  lines
}

#' @export
print.umfrage_tab <- function(x, digits = 1L, ...) {
  cat(format(x, digits = digits), sep = "\n")
  invisible(x)
}

#' @export
summary.umfrage_tab <- function(object, ...) {
  x <- object
  tot <- x$bases[x$bases$col_var == "Total", , drop = FALSE]
  structure(list(
    rows = vapply(x$rows, `[[`, "", "label"),
    cols = vapply(x$cols[-1L], `[[`, "", "label"),
    by = vapply(x$by, `[[`, "", "label"),
    n_cells = nrow(x$cells), percent = x$percent, weighted = x$weighted, na = x$na,
    bases = tot[, c("row_var", vapply(x$by, `[[`, "", "name"), "base_n", "base_w", "base_eff")],
    skipped = x$skipped), class = "summary.umfrage_tab")
}

#' @export
print.summary.umfrage_tab <- function(x, ...) {
  cat(sprintf("umfrage table: %d cell(s), %s, %s, NA %s\n", x$n_cells,
              if (x$weighted) "weighted" else "unweighted",
              switch(x$percent, col = "column percent", row = "row percent",
                     total = "total percent", none = "no percent"),
              if (x$na == "drop") "dropped" else "as a level"))
  cat("  rows:", paste(x$rows, collapse = "; "), "\n")
  if (length(x$cols)) cat("  cols:", paste(x$cols, collapse = "; "), "\n")
  if (length(x$by)) cat("  by:  ", paste(x$by, collapse = "; "), "\n")
  cat("\nRespondents per row variable (Total column):\n")
  print(x$bases, row.names = FALSE)
  if (any(x$skipped[, -1L] > 0)) {
    cat("\nRows left out for NA (per row variable):\n")
    print(x$skipped, row.names = FALSE)
  }
  invisible(x)
}

html_escape <- function(s) {
  s <- gsub("&", "&amp;", s, fixed = TRUE)
  s <- gsub("<", "&lt;", s, fixed = TRUE)
  gsub(">", "&gt;", s, fixed = TRUE)
}

# HTML table of one block (header spans per column variable).
tab_block_html <- function(x, rvname, keys, title, digits = 1L) {
  m <- tab_block_matrix(x, rvname, keys, digits)
  bases <- subset_layer(x$bases[x$bases$row_var == rvname, , drop = FALSE], keys)
  grp <- rle(bases$col_var)
  nhead <- if (x$weighted) 4L else 3L
  grp_label <- vapply(grp$values, function(v) if (v == "Total") "" else var_label(x$cols, v), "")
  th1 <- paste0("<th></th>", paste0(sprintf("<th colspan=\"%d\" style=\"text-align:center\">%s</th>", grp$lengths,
                                            html_escape(grp_label)),
                                    collapse = ""))
  th2 <- paste0("<th></th>", paste0(sprintf("<th style=\"text-align:right\">%s</th>", html_escape(m[2L, -1L])), collapse = ""))
  row_html <- function(i, tag = "td", style = "") {
    paste0("<tr", style, "><", tag, " style=\"text-align:left\">", html_escape(m[i, 1L]), "</", tag, ">",
           paste0(sprintf("<%s style=\"text-align:right\">%s</%s>", tag, html_escape(m[i, -1L]), tag), collapse = ""),
           "</tr>")
  }
  base_rows <- vapply(3:nhead, row_html, "", style = " style=\"font-style:italic\"")
  body <- vapply(seq.int(nhead + 1L, nrow(m)), row_html, "")
  paste0("<table class=\"umfrage-tab\">\n<caption>", html_escape(title), "</caption>\n<thead>\n<tr>", th1,
         "</tr>\n<tr>", th2, "</tr>\n</thead>\n<tbody>\n",
         paste(c(base_rows, body), collapse = "\n"), "\n</tbody>\n</table>\n")
}

# Markdown (pipe) table of one block: column headers "variable: level".
tab_block_md <- function(x, rvname, keys, title, digits = 1L) {
  m <- tab_block_matrix(x, rvname, keys, digits)
  bases <- subset_layer(x$bases[x$bases$row_var == rvname, , drop = FALSE], keys)
  hdr <- ifelse(bases$col_var == "Total", "Total",
                paste0(vapply(bases$col_var, function(v) var_label(x$cols, v), ""), ": ", bases$col))
  esc <- function(s) gsub("|", "\\|", s, fixed = TRUE)
  nhead <- if (x$weighted) 4L else 3L
  lines <- c(paste0("| ", esc(title), " | ", paste(esc(hdr), collapse = " | "), " |"),
             paste0("|:--", strrep("|--:", length(hdr)), "|"),
             vapply(seq.int(3L, nrow(m)), function(i) {
               s <- esc(m[i, ])
               if (i <= nhead) s <- paste0("*", s, "*")
               s[s == "**"] <- ""
               paste0("| ", paste(s, collapse = " | "), " |")
             }, ""))
  paste(lines, collapse = "\n")
}

#' Render a table in R Markdown
#'
#' `knit_print()` method for [tab()] results: an HTML table (with column
#' variable headers spanning their levels) when knitting to HTML, else a
#' markdown pipe table. Registered only when knitr is loaded, so knitr
#' stays optional. Console printing is unchanged.
#'
#' @param x A `umfrage_tab` object.
#' @param digits Decimals of percents.
#' @param ... Ignored.
#' @return A `knit_asis` character string.
#' @keywords internal
#' @exportS3Method knitr::knit_print
knit_print.umfrage_tab <- function(x, digits = 1L, ...) {
  html <- isTRUE(tryCatch(knitr::is_html_output(), error = function(e) FALSE))
  what <- switch(x$percent, col = "column %", row = "row %", total = "total %", none = "counts")
  out <- character()
  for (ly in tab_layers(x)) for (rv in x$rows) {
    title <- rv$label
    if (nzchar(ly$title)) title <- paste0(title, " [", ly$title, "]")
    title <- paste0(title, " (", if (x$weighted) "weighted " else "", what, ")")
    notes <- trimws(block_notes(x, rv$name, ly$keys))
    out <- c(out, if (html) tab_block_html(x, rv$name, ly$keys, title, digits)
                  else tab_block_md(x, rv$name, ly$keys, title, digits),
             if (length(notes)) {
               if (html) paste0("<p style=\"font-size:85%\">", paste(html_escape(notes), collapse = "<br/>\n"), "</p>")
               else paste(notes, collapse = "  \n")
             })
  }
  knitr::asis_output(paste(out, collapse = "\n\n"))
}

#' Bar charts of a table
#'
#' Base-graphics bars for a [tab()] result: a one-way table (or a row
#' variable against the Total column) as simple bars, a two-way table as
#' grouped (`stacked = FALSE`) or stacked bars of the percents, one group per
#' column level.
#'
#' @param x A `umfrage_tab` object.
#' @param row_var Which row variable (name; default the first).
#' @param col_var Which column variable (default the first of the banner, or
#'   `"Total"` for a one-way table).
#' @param layer Which `by` layer (index; default 1).
#' @param stacked Stacked instead of grouped bars.
#' @param horiz Horizontal bars (easier to read with long labels).
#' @param col Bar colours (recycled).
#' @param main Title (default: the row variable's label).
#' @param ... Passed to [graphics::barplot()]; they override the defaults
#'   (e.g. `xlab`, `ylab`, `las`, `names.arg`).
#' @return The bar midpoints, invisibly (as `barplot()`).
#' @export
plot.umfrage_tab <- function(x, row_var = NULL, col_var = NULL, layer = 1L,
                             stacked = FALSE, horiz = FALSE, col = NULL, main = NULL, ...) {
  if (is.null(row_var)) row_var <- x$rows[[1L]]$name
  if (is.null(col_var)) col_var <- if (length(x$cols) > 1L) x$cols[[2L]]$name else "Total"
  if (!row_var %in% vapply(x$rows, `[[`, "", "name"))
    stopf("'row_var' = %s is not a row variable of this table", q(row_var))
  if (!col_var %in% vapply(x$cols, `[[`, "", "name"))
    stopf("'col_var' = %s is not a column variable of this table", q(col_var))
  lys <- tab_layers(x)
  if (!is.numeric(layer) || length(layer) != 1L || layer < 1 || layer > length(lys))
    stopf("'layer' must be a number from 1 to %d", length(lys))
  cc <- subset_layer(x$cells[x$cells$row_var == row_var & x$cells$col_var == col_var, , drop = FALSE],
                     lys[[layer]]$keys)
  val <- if (x$percent == "none") if (x$weighted) cc$n_w else cc$n else cc$pct
  rows <- unique(cc$row)
  cols <- unique(cc$col)
  mat <- matrix(val, nrow = length(rows), dimnames = list(rows, cols))
  ylab <- if (x$percent == "none") if (x$weighted) "weighted count" else "count" else
    switch(x$percent, col = "% of column", row = "% of row", total = "% of total")
  if (is.null(main)) {
    main <- var_label(x$rows, row_var)
    if (nzchar(lys[[layer]]$title)) main <- paste0(main, " [", lys[[layer]]$title, "]")
  }
  if (is.null(col)) col <- grDevices::hcl.colors(max(length(rows), 2L), "Blues 3")[seq_along(rows)]
  # defaults that the caller's ... may override (xlab, ylab, las, legend)
  dots <- list(...)
  args <- if (length(cols) == 1L)
    list(height = mat[, 1L], horiz = horiz, col = col[1L], main = main,
         xlab = if (horiz) ylab else "", ylab = if (horiz) "" else ylab, las = 1)
  else
    list(height = mat, beside = !stacked, horiz = horiz, col = col, main = main,
         xlab = if (horiz) ylab else var_label(x$cols, col_var),
         ylab = if (horiz) var_label(x$cols, col_var) else ylab,
         legend.text = rows, args.legend = list(bty = "n", cex = 0.8), las = 1)
  args[names(dots)] <- dots
  invisible(do.call(graphics::barplot, args))
}

# Lines under a printed block: the Rao-Scott test per column variable and
# the rule of the letters.
block_notes <- function(x, rvname, keys) {
  cells <- subset_layer(x$cells[x$cells$row_var == rvname & x$cells$col_var != "Total", , drop = FALSE], keys)
  if (!nrow(cells) || is.null(cells$p_value)) return(character())
  first <- cells[!duplicated(cells$col_var), , drop = FALSE]
  first <- first[!is.na(first$p_value), , drop = FALSE]
  out <- character()
  if (nrow(first)) {
    f <- x$options$test == "F"
    pv <- ifelse(first$p_value < 1e-4, "p < 0.0001",
                 paste("p =", formatC(first$p_value, format = "fg", digits = 3)))
    out <- sprintf("  %s: Rao-Scott %s = %s%s, %s", vapply(first$col_var, function(v) var_label(x$cols, v), ""),
                   if (f) "F" else "X2", formatC(first$statistic, format = "f", digits = 2),
                   if (f) sprintf(" (df %.2f, %.1f)", first$ndf, first$ddf) else sprintf(" (df %d)", as.integer(first$ndf)),
                   pv)
  }
  if (isTRUE(x$options$letters) && x$percent == "col" && any(nzchar(cells$letters)))
    out <- c(out, sprintf("  Letters: column %% significantly higher than the column with that letter (z test, alpha = %s, %s).",
                          format(x$options$alpha), x$options$adjust))
  out
}
