# Helpers of the renderers of umfrage_tab objects (display.R: print,
# format, summary, knit_print, as.data.frame; plot). All of them read the
# tidy cells (x$cells) and column bases (x$bases), and find them by their
# integer identity (x$cell_id, x$base_id: index of the row variable in
# x$rows, of its level, of the column variable in x$cols (1 = Total), of
# its level, and of the layer in x$layers), never by matching names or
# labels, which are for display only.

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

# Display label of column variable j (index into x$cols; 1 is Total).
col_label <- function(x, j) vapply(j, function(jj) if (jj == 1L) "" else x$cols[[jj]]$label, "")

#' Bar charts of a table
#'
#' Base-graphics bars for a [tab()] result: a one-way table (or a row
#' variable against the Total column) as simple bars, a two-way table as
#' grouped (`stacked = FALSE`) or stacked bars of the percents, one group per
#' column level.
#'
#' @param x A `umfrage_tab` object.
#' @param row_var Which row variable: its name (as in the `row_var` column
#'   of `as.data.frame()`) or its position among the row variables (default
#'   the first).
#' @param col_var Which column variable: its name (as in the `col_var`
#'   column) or its position in the banner, 0 for the Total column (default
#'   the first of the banner, or the Total column for a one-way table).
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
  i <- if (is.null(row_var)) 1L else var_index(row_var, x$rows, "row_var", "a row variable", 1L)
  j <- if (is.null(col_var)) min(2L, length(x$cols)) else
    var_index(col_var, x$cols, "col_var", "a column variable", 0L)
  lys <- tab_layers(x)
  if (!is.numeric(layer) || length(layer) != 1L || is.na(layer) || layer < 1 || layer > length(lys))
    stopf("'layer' must be a number from 1 to %d", length(lys))
  sel <- block_sel(x, i, lys[[layer]]$id, j)
  cc <- x$cells[sel, , drop = FALSE]
  cid <- x$cell_id[sel, , drop = FALSE]
  val <- if (x$percent == "none") if (x$weighted) cc$n_w else cc$n else cc$pct
  ri <- unique(cid$row)
  cj <- unique(cid$col)
  rows <- x$rows[[i]]$levels[ri]
  cols <- x$cols[[j]]$levels[cj]
  mat <- matrix(NA_real_, length(ri), length(cj), dimnames = list(rows, cols))
  mat[cbind(match(cid$row, ri), match(cid$col, cj))] <- val
  ylab <- if (x$percent == "none") if (x$weighted) "weighted count" else "count" else
    switch(x$percent, col = "% of column", row = "% of row", total = "% of total")
  if (is.null(main)) {
    main <- x$rows[[i]]$label
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
         xlab = if (horiz) ylab else x$cols[[j]]$label,
         ylab = if (horiz) x$cols[[j]]$label else ylab,
         legend.text = rows, args.legend = list(bty = "n", cex = 0.8), las = 1)
  args[names(dots)] <- dots
  invisible(do.call(graphics::barplot, args))
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
