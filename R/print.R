# Printing, knitting, plotting and summarising umfrage_tab objects.
# All of them read the tidy cells (x$cells) and column bases (x$bases), and
# find them by their integer identity (x$cell_id, x$base_id: index of the
# row variable in x$rows, of its level, of the column variable in x$cols
# (1 = Total), of its level, and of the layer in x$layers), never by
# matching names or labels, which are for display only.

# Blocks to show: one per layer (and row variable), with the layer's title.
tab_layers <- function(x) {
  if (!length(x$by)) return(list(list(id = 1L, title = "")))
  ids <- unique(x$cell_id$layer)
  lapply(ids, function(k) {
    lev <- vapply(x$layers, function(l) l[[k]], "")
    list(id = k, title = paste(sprintf("%s = %s", vapply(x$by, `[[`, "", "name"), lev),
                               collapse = ", "))
  })
}

# Rows of the cells (or, with bases = TRUE, of the bases) of row variable i
# in layer k, and optionally of column variable j only.
block_sel <- function(x, i, k, j = NULL, bases = FALSE) {
  id <- if (bases) x$base_id else x$cell_id
  keep <- id$row_var == i & id$layer == k
  if (!is.null(j)) keep <- keep & id$col_var %in% j
  which(keep)
}

fmt_count <- function(v, weighted) {
  if (!weighted) return(format(round(v), big.mark = ",", trim = TRUE, scientific = FALSE))
  dig <- if (max(abs(v), 0, na.rm = TRUE) >= 100) 0 else 1
  formatC(v, format = "f", digits = dig, big.mark = ",")
}

fmt_pct <- function(p, digits = 1L) {
  ifelse(is.na(p), "-", paste0(formatC(p, format = "f", digits = digits), "%"))
}

# Display label of column variable j (index into x$cols; 1 is Total).
col_label <- function(x, j) vapply(j, function(jj) if (jj == 1L) "" else x$cols[[jj]]$label, "")

# One block as a character matrix: stub column, then per banner column;
# attribute "col_var" gives the column variable (index) of each banner column.
tab_block_matrix <- function(x, i, k, digits = 1L, pct = TRUE) {
  ci <- block_sel(x, i, k)
  bi <- block_sel(x, i, k, bases = TRUE)
  cells <- x$cells[ci, , drop = FALSE]
  cid <- x$cell_id[ci, , drop = FALSE]
  bases <- x$bases[bi, , drop = FALSE]
  bid <- x$base_id[bi, , drop = FALSE]
  rows <- unique(cid$row)
  row_labels <- x$rows[[i]]$levels[rows]
  wtd <- x$weighted
  show_pct <- pct && x$percent != "none"
  head1 <- ifelse(!duplicated(bid$col_var), col_label(x, bid$col_var), "")
  head2 <- vapply(seq_len(nrow(bid)), function(m) x$cols[[bid$col_var[m]]]$levels[bid$col[m]], "")
  base_n <- fmt_count(bases$base_n, FALSE)
  base_w <- fmt_count(bases$base_w, TRUE)
  body <- vapply(seq_len(nrow(bid)), function(m) {
    sel <- which(cid$col_var == bid$col_var[m] & cid$col == bid$col[m])
    cc <- cells[sel[match(rows, cid$row[sel])], , drop = FALSE]
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
    # (the letters of the C pass: col_letters() of the variable's levels)
    lt <- vapply(seq_len(nrow(bid)), function(m) {
      j <- bid$col_var[m]
      if (j == 1L) "" else col_letters(length(x$cols[[j]]$levels))[bid$col[m]]
    }, "")
    head2 <- ifelse(bid$col_var == 1L, head2, paste0(head2, " (", lt, ")"))
  }
  m <- rbind(head1, head2, base_n, if (wtd) base_w, body)
  structure(cbind(c(stub_head, row_labels), m), col_var = bid$col_var)
}

#' @export
format.umfrage_tab <- function(x, digits = 1L, ...) {
  lines <- character()
  what <- switch(x$percent, col = "column %", row = "row %", total = "total %", none = "counts")
  for (ly in tab_layers(x)) {
    for (i in seq_along(x$rows)) {
      rv <- x$rows[[i]]
      m <- tab_block_matrix(x, i, ly$id, digits)
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
      lines <- c(lines, title, fmt[1:2], sep, fmt[-(1:2)], block_notes(x, i, ly$id), "")
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
  tot <- x$bases[x$base_id$col_var == 1L, , drop = FALSE]
  structure(list(
    rows = vapply(x$rows, `[[`, "", "label"),
    cols = vapply(x$cols[-1L], `[[`, "", "label"),
    by = vapply(x$by, `[[`, "", "label"),
    n_cells = nrow(x$cells), percent = x$percent, weighted = x$weighted, na = x$na,
    bases = tot[, c("row_var", vapply(x$by, `[[`, "", "column"), "base_n", "base_w", "base_eff")],
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
tab_block_html <- function(x, i, k, title, digits = 1L) {
  m <- tab_block_matrix(x, i, k, digits)
  grp <- rle(attr(m, "col_var"))
  nhead <- if (x$weighted) 4L else 3L
  grp_label <- col_label(x, grp$values)
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
tab_block_md <- function(x, i, k, title, digits = 1L) {
  m <- tab_block_matrix(x, i, k, digits)
  cv <- attr(m, "col_var")
  hdr <- ifelse(cv == 1L, "Total", paste0(col_label(x, cv), ": ", m[2L, -1L]))
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
  for (ly in tab_layers(x)) for (i in seq_along(x$rows)) {
    rv <- x$rows[[i]]
    title <- rv$label
    if (nzchar(ly$title)) title <- paste0(title, " [", ly$title, "]")
    title <- paste0(title, " (", if (x$weighted) "weighted " else "", what, ")")
    notes <- trimws(block_notes(x, i, ly$id))
    out <- c(out, if (html) tab_block_html(x, i, ly$id, title, digits)
                  else tab_block_md(x, i, ly$id, title, digits),
             if (length(notes)) {
               if (html) paste0("<p style=\"font-size:85%\">", paste(html_escape(notes), collapse = "<br/>\n"), "</p>")
               else paste(notes, collapse = "  \n")
             })
  }
  knitr::asis_output(paste(out, collapse = "\n\n"))
}

# Lines under a printed block: the Rao-Scott test per column variable and
# the rule of the letters.
block_notes <- function(x, i, k) {
  sel <- block_sel(x, i, k, j = seq_along(x$cols)[-1L])
  cells <- x$cells[sel, , drop = FALSE]
  if (!nrow(cells) || is.null(cells$p_value)) return(character())
  cv <- x$cell_id$col_var[sel]
  first <- !duplicated(cv) & !is.na(cells$p_value)
  cv <- cv[first]
  first <- cells[first, , drop = FALSE]
  out <- character()
  if (nrow(first)) {
    f <- x$options$test == "F"
    pv <- ifelse(first$p_value < 1e-4, "p < 0.0001",
                 paste("p =", formatC(first$p_value, format = "fg", digits = 3)))
    out <- sprintf("  %s: Rao-Scott %s = %s%s, %s", col_label(x, cv),
                   if (f) "F" else "X2", formatC(first$statistic, format = "f", digits = 2),
                   if (f) sprintf(" (df %.2f, %.1f)", first$ndf, first$ddf) else sprintf(" (df %d)", as.integer(first$ndf)),
                   pv)
  }
  if (isTRUE(x$options$letters) && x$percent == "col" && any(nzchar(cells$letters)))
    out <- c(out, sprintf("  Letters: column %% significantly higher than the column with that letter (z test, alpha = %s, %s).",
                          format(x$options$alpha), x$options$adjust))
  out
}

# Index of a row or column variable given by name or position (`offset`:
# the position of the first entry of `vars`, 0 for the Total column).
var_index <- function(v, vars, arg, what, offset) {
  nm <- vapply(vars, `[[`, "", "name")
  if (is.numeric(v) && length(v) == 1L && !is.na(v) && v == round(v) &&
      v >= offset && v <= length(vars) - 1L + offset)
    return(as.integer(v) - offset + 1L)
  if (is.character(v) && length(v) == 1L && !is.na(v) && v %in% nm) return(match(v, nm))
  stopf("'%s' = %s is not %s of this table (a name: %s; or a position)", arg,
        if (is.character(v)) q(v) else format(v), what, qlist(nm))
}
