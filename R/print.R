# Helpers of the renderers of umfrage_tab objects (display.R: print,
# format, summary, knit_print, as.data.frame; plot). All of them read the
# tidy cells (x$cells) and column bases (x$bases), and find them by their
# integer identity (x$cell_id, x$base_id: index of the row variable in
# x$rows, of its level, of the column variable in x$cols (1 = Total), of
# its level, and of the layer in x$layers), never by matching names or
# labels, which are for display only.

# Rows of the cells (or, with bases = TRUE, of the bases) of row variable i
# in layer k, and optionally of column variable j only.
block_sel <- function(x, i, k, j = NULL, bases = FALSE) {
  id <- if (bases) x$base_id else x$cell_id
  keep <- id$row_var == i & id$layer == k
  if (!is.null(j)) keep <- keep & id$col_var %in% j
  which(keep)
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
