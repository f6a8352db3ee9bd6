# Plots of umfrage_tab objects: base-graphics plot() and ggplot2 autoplot().
# Both read one block of the tidy cells (x$cells) found by its integer
# identity (x$cell_id: row variable, row level, column variable, column
# level, layer), never by labels, and speak the table's locale.

# Okabe & Ito (2008), "Color universal design": distinguishable with every
# common colour-vision deficiency. Blue first; black last (the error bars
# get a white halo, so they show on it too). No fill is near white.
# Relative luminance of colours (WCAG), to choose black or white text.
luminance_of <- function(cols) {
  v <- grDevices::col2rgb(cols) / 255
  v <- ifelse(v <= 0.03928, v / 12.92, ((v + 0.055) / 1.055)^2.4)
  colSums(v * c(0.2126, 0.7152, 0.0722))
}

okabe_ito <- c(blue = "#0072B2", orange = "#E69F00", bluishgreen = "#009E73",
               vermillion = "#D55E00", skyblue = "#56B4E9", reddishpurple = "#CC79A7",
               yellow = "#F0E442", gray = "#999999", black = "#000000")

# n fills: Okabe-Ito; beyond its nine colours, viridis (also colour-blind
# safe, darkest to yellow, none near white).
plot_palette <- function(n) {
  if (n <= length(okabe_ito)) unname(okabe_ito[seq_len(n)])
  else grDevices::hcl.colors(n, "viridis")
}

# Labels of a value axis at `at`, as the locale writes them: percents
# ("12.5%" / "12,5 %") or counts ("1,000" / "1.000"), with as many decimals
# as the ticks need.
plot_axis_labels <- function(at, loc, percent = TRUE) {
  d <- 0L
  fin <- at[is.finite(at)]
  while (d < 6L && any(abs(fin * 10^d - round(fin * 10^d)) > 1e-6 * pmax(1, abs(fin * 10^d)))) d <- d + 1L
  if (percent) loc_pct(at, d, loc, na = "") else loc_num(at, d, loc)
}

# Title of the value axis: "column %", "Spalten-%", "count", ...
plot_value_title <- function(x, loc) {
  if (x$percent == "none")
    return(loc_word(loc, if (x$weighted) "weighted_count_axis" else "count_axis"))
  loc_word(loc, switch(x$percent, col = "col_pct", row = "row_pct", total = "total_pct"))
}

# The layer to plot: its position among the table's layers, or its title
# ("age = 2") or, with one `by` variable, its level.
plot_layer <- function(x, layer, loc) {
  ids <- unique(x$cell_id$layer)
  titles <- plot_layer_titles(x, ids, loc)
  if (is.numeric(layer) && length(layer) == 1L && !is.na(layer) && layer == round(layer) &&
      layer >= 1 && layer <= length(ids))
    return(list(id = ids[layer], title = titles[layer]))
  if (is.character(layer) && length(layer) == 1L && !is.na(layer) && length(x$by)) {
    lev <- if (length(x$by) == 1L) as.character(x$layers[ids, 1L]) else character()
    m <- match(layer, titles)
    if (is.na(m)) m <- match(layer, lev)
    if (is.na(m)) m <- match(layer, plot_layer_titles(x, ids, NULL))
    if (!is.na(m)) return(list(id = ids[m], title = titles[m]))
  }
  stopf("'layer' must be a number from 1 to %d%s, not %s", length(ids),
        if (length(x$by)) sprintf(" or a layer's title (e.g. %s)", q(titles[1L])) else "",
        if (is.character(layer) && length(layer) == 1L) q(layer) else obj_desc_len(layer))
}

# "label = level" of each layer (by label; with loc NULL, by name).
plot_layer_titles <- function(x, ids, loc) {
  if (!length(x$by)) return(rep("", length(ids)))
  vapply(ids, function(k) {
    parts <- vapply(seq_along(x$by), function(b) {
      nm <- if (is.null(loc)) x$by[[b]]$name else x$by[[b]]$label
      lev <- as.character(x$layers[k, b])
      if (is.null(loc)) sprintf("%s = %s", nm, lev) else loc_word(loc, "layer", nm, lev)
    }, "")
    paste(parts, collapse = ", ")
  }, "")
}

# One block as matrices (rows: row levels, columns: column levels): value,
# interval ends, unweighted percent base.
plot_block <- function(x, row_var, col_var, layer, loc) {
  i <- if (is.null(row_var)) 1L else var_index(row_var, x$rows, "row_var", "a row variable", 1L)
  j <- if (is.null(col_var)) min(2L, length(x$cols)) else
    var_index(col_var, x$cols, "col_var", "a column variable", 0L)
  ly <- plot_layer(x, layer, loc)
  id <- x$cell_id
  sel <- which(id$row_var == i & id$col_var == j & id$layer == ly$id)
  cc <- x$cells[sel, , drop = FALSE]
  cid <- id[sel, , drop = FALSE]
  # a numeric row (numeric.R): its estimates in their own units
  numeric <- identical(x$rows[[i]]$kind, "numeric")
  val <- if (numeric) cc$estimate else if (x$percent == "none") { if (x$weighted) cc$n_w else cc$n } else cc$pct
  ri <- sort(unique(cid$row))
  # in the order the table shows them (nets and sorting: x$rows[[i]]$order)
  ord <- x$rows[[i]]$order
  if (!is.null(ord)) ri <- c(ord[ord %in% ri], setdiff(ri, ord))
  cj <- sort(unique(cid$col))
  rows <- if (numeric) num_row_labels(x$rows[[i]], ri, loc) else x$rows[[i]]$levels[ri]
  cols <- if (j == 1L) loc_word(loc, "total") else x$cols[[j]]$levels[cj]
  at <- cbind(match(cid$row, ri), match(cid$col, cj))
  mk <- function(v) {
    m <- matrix(NA_real_, length(ri), length(cj))
    m[at] <- v
    m
  }
  ci_ok <- (numeric || x$percent != "none") && !is.null(cc$ci_low)
  list(i = i, j = j, layer = ly, rows = rows, cols = cols, value = mk(val), numeric = numeric,
       stat = if (numeric) x$rows[[i]]$stat else "pct",
       lo = mk(if (ci_ok) cc$ci_low else NA_real_), hi = mk(if (ci_ok) cc$ci_high else NA_real_),
       base_n = mk(cc$base_n), deff = mk(if (ci_ok && !is.null(cc$deff)) cc$deff else NA_real_))
}

# Labels wrapped (strwrap) to at most `width_in` inches at text size `cex`;
# words longer than that stay whole. `chars`: a fixed width in characters.
plot_wrap <- function(s, width_in = Inf, cex = 1, chars = NULL, font = 1) {
  wrap <- function(w) vapply(s, function(t) {
    if (!nzchar(t)) return(t)
    paste(strwrap(t, width = w), collapse = "\n")
  }, "", USE.NAMES = FALSE)
  if (!is.null(chars)) return(wrap(chars))
  if (!length(s)) return(s)
  widest <- function(v) max(graphics::strwidth(v, units = "inches", cex = cex, font = font), 0)
  if (widest(s) <= width_in) return(s)
  w <- max(nchar(s, type = "width"))
  out <- s
  while (w > 1L) {
    out <- wrap(w)
    if (widest(out) <= width_in) break
    w <- w - 1L
  }
  out
}

plot_text_h <- function(s, cex = 1, font = 1)
  max(graphics::strheight(s, units = "inches", cex = cex, font = font), 0)
plot_text_w <- function(s, cex = 1, font = 1)
  max(graphics::strwidth(s, units = "inches", cex = cex, font = font), 0)

# Legend layout: entries (list of label, type "fill"/"ci"/"note", fill) in
# groups (the levels; the notes), each group a grid filled row by row in
# at most `max_w` inches. Returns the items with offsets (inches from the
# legend's top left) and the legend's width and height.
plot_legend_layout <- function(groups, max_w, cex, line_in, ncol_max = Inf) {
  key <- 0.8 * line_in * cex
  gap <- 0.4 * line_in * cex
  colgap <- 1.2 * line_in * cex
  rowgap <- 0.35 * line_in * cex
  items <- list()
  top <- 0
  width <- 0
  for (g in groups) {
    if (!length(g)) next
    iw <- vapply(g, function(e) (if (e$type == "note") 0 else key + gap) +
                   plot_text_w(e$label, cex), 0)
    ih <- vapply(g, function(e) max(key, plot_text_h(e$label, cex)), 0)
    n <- length(g)
    ncol <- min(n, ncol_max)
    repeat {
      nrow <- ceiling(n / ncol)
      ncol <- ceiling(n / nrow)
      cw <- vapply(seq_len(ncol), function(cl) max(iw[seq(cl, n, by = ncol)]), 0)
      if (ncol == 1L || sum(cw) + (ncol - 1L) * colgap <= max_w) break
      ncol <- ncol - 1L
    }
    rh <- vapply(seq_len(nrow), function(r) max(ih[seq((r - 1L) * ncol + 1L, min(r * ncol, n))]), 0)
    left <- c(0, cumsum(cw + colgap))[seq_len(ncol)]
    rtop <- top + c(0, cumsum(rh + rowgap))[seq_len(nrow)]
    for (m in seq_len(n)) {
      r <- (m - 1L) %/% ncol + 1L
      cl <- (m - 1L) %% ncol + 1L
      e <- g[[m]]
      e$x <- left[cl]
      e$y <- rtop[r] + rh[r] / 2
      items[[length(items) + 1L]] <- e
    }
    top <- top + sum(rh) + nrow * rowgap
    width <- max(width, sum(cw) + (ncol - 1L) * colgap)
  }
  list(items = items, width = width, height = max(top - rowgap, 0), key = key, gap = gap, cex = cex)
}

# Draw a legend layout with its top left at (x0, y0), inches from the
# figure region's bottom left.
plot_legend_draw <- function(lay, x0, y0, fig_x, fig_y, border, horiz = FALSE) {
  for (e in lay$items) {
    xl <- x0 + e$x
    yc <- y0 - e$y
    tx <- xl
    if (e$type == "fill") {
      graphics::rect(fig_x(xl), fig_y(yc - lay$key / 2), fig_x(xl + lay$key), fig_y(yc + lay$key / 2),
                     col = e$fill, border = if (is.na(border)) e$fill else border, xpd = NA)
      tx <- xl + lay$key + lay$gap
    } else if (e$type == "ci") {
      k <- lay$key
      if (horiz) {
        graphics::segments(fig_x(xl), fig_y(yc), fig_x(xl + k), fig_y(yc), xpd = NA)
        graphics::segments(fig_x(c(xl, xl + k)), fig_y(yc - k * 0.3), fig_x(c(xl, xl + k)), fig_y(yc + k * 0.3),
                           xpd = NA)
      } else {
        graphics::segments(fig_x(xl + k / 2), fig_y(yc - k / 2), fig_x(xl + k / 2), fig_y(yc + k / 2), xpd = NA)
        graphics::segments(fig_x(xl + k * 0.2), fig_y(c(yc - k / 2, yc + k / 2)), fig_x(xl + k * 0.8),
                           fig_y(c(yc - k / 2, yc + k / 2)), xpd = NA)
      }
      tx <- xl + k + lay$gap
    }
    graphics::text(fig_x(tx), fig_y(yc), e$label, adj = c(0, 0.5), cex = lay$cex, xpd = NA)
  }
}

#' Bar charts of a table
#'
#' Base-graphics bars of one block of a [tab()] result: percents (counts
#' with `percent = "none"`) with their confidence intervals as error bars.
#' A one-way table (or a row variable against the Total column) gives one
#' bar per row level; against a column variable the bars are grouped
#' (`stacked = FALSE`, one group per column level, one bar per row level)
#' or stacked.
#'
#' The chart is made to be read as it is: the fills are the colour-blind
#' safe Okabe-Ito palette (no fill near white; beyond nine row levels
#' viridis), the legend sits below the bars (or at their right), outside the
#' data, with the interval's level ("95% CI"), long labels are wrapped to
#' the space they have, and the numbers and words follow the locale
#' ([tab_locale()]): `"de"` writes "12,5 %" and "Spalten-%". Columns whose
#' unweighted base is below the table's small-base threshold (the `min_base`
#' of [tab()], 30 when unset) carry the locale's small-base flag (`*`),
#' explained in the legend. Intervals are drawn where the table has them
#' (not where they are `NA`, nor for stacked bars or counts); an interval
#' whose design effect is below the threshold (see [print.umfrage_tab()],
#' section "Low design effects") is drawn dashed, with the locale's flag
#' (a superscript one) explained in the legend. The graphics
#' parameters are restored on exit, so the chart can sit in a
#' `par(mfrow = )` panel.
#'
#' A numeric row (a mean, total, ratio, mean score or quantiles, see
#' [mean_of()]) is drawn as dots with their confidence intervals per
#' column on the estimate's own scale (which need not start at 0), labelled
#' as the locale writes numbers, never with percents: a chart shows one row
#' variable, so percents and means never share an axis. Small-base columns
#' have an open dot and the flag. `stacked = TRUE` is an error for them.
#'
#' For a report, `main` takes a numbered title ([tab_caption()]) and
#' `source` a source line, both drawn inside the figure, so they stay with
#' it when the image is copied out; [tab_alt()] gives its alt text.
#'
#' @param x A `umfrage_tab` object.
#' @param row_var Which row variable: its name (as in the `row_var` column
#'   of `as.data.frame()`) or its position among the row variables (default
#'   the first).
#' @param col_var Which column variable: its name (as in the `col_var`
#'   column) or its position in the banner, 0 for the Total column (default
#'   the first of the banner, or the Total column for a one-way table).
#' @param layer Which `by` layer: its position (default 1), its title as
#'   printed (`"age = 2"`), or, with one `by` variable, its level.
#' @param stacked Stacked instead of grouped bars (no intervals).
#' @param horiz Horizontal bars (easier to read with long labels); the
#'   first level is at the top.
#' @param col Bar colours (recycled over the row levels; default
#'   Okabe-Ito).
#' @param main Title (default: the row variable's label, and the layer).
#' @param ci Draw the confidence intervals (`TRUE`, the default, where the
#'   table has them).
#' @param legend Where the legend goes: `"bottom"` (default), `"right"`, or
#'   `"none"`.
#' @param wrap Width of wrapped labels in characters; `NULL` (default)
#'   wraps them to the space they have.
#' @param locale Language and number format: `"en"`, `"de"` or a
#'   [tab_locale()] object (default: the table's, else the session's, see
#'   [tab_locale()]).
#' @param source A source line drawn at the bottom left of the figure,
#'   after the locale's word ("Quelle: ..."); one string.
#' @param labels Write each bar's value (in the locale): beyond the bar
#'   and its interval, or inside a stacked segment wide enough for it.
#' @param ... Passed to [graphics::barplot()]; they override the defaults:
#'   `xlab`, `ylab` (axis titles, as `barplot()` names them: the value axis
#'   is `x` when `horiz = TRUE`), `names.arg` (category labels), `xlim`,
#'   `ylim`, `las` (2 or 3: category labels perpendicular to the axis),
#'   `cex.names`, `cex.axis`, `legend.text` (`FALSE` for no legend, or the
#'   legend's labels), `border`, `space`, ...
#' @return Invisibly, the data plotted: a data frame with one row per bar
#'   (segment) in level order, with `row`, `col` (factors), `value` (the
#'   percent or count), `ci_low`, `ci_high` (the interval drawn; `NA` where
#'   none is), `base_n`, `small` (below the small-base threshold),
#'   `low_deff` (the interval's design effect is below its threshold) and `x`
#'   (the bar's midpoint on the category axis, as returned by
#'   `barplot()`), `fill` (its colour). Attribute `"axis"` holds the value
#'   axis' ticks (`at`, `label`), `"labels"` the category labels as drawn
#'   (wrapped).
#' @seealso [autoplot.umfrage_tab()] for ggplot2 users.
#' @examples
#' d <- data.frame(
#'   vote = factor(sample(c("A", "B", "C"), 200, TRUE)),
#'   sex = sample(c("female", "male"), 200, TRUE)
#' )
#' t2 <- tab(d, "vote", cols = "sex")
#' plot(t2)
#' plot(t2, stacked = TRUE, locale = "de")
#' plot(tab(d, "vote"), horiz = TRUE)
#' @export
plot.umfrage_tab <- function(x, row_var = NULL, col_var = NULL, layer = 1L,
                             stacked = FALSE, horiz = FALSE, col = NULL, main = NULL,
                             ci = TRUE, legend = c("bottom", "right", "none"), wrap = NULL,
                             locale = NULL, source = NULL, labels = FALSE, ...) {
  check_flag(stacked, "stacked")
  check_flag(labels, "labels")
  check_flag(horiz, "horiz")
  check_flag(ci, "ci")
  legend <- match.arg(legend)
  if (!is.null(wrap) && (!is.numeric(wrap) || length(wrap) != 1L || is.na(wrap) || wrap < 1))
    stopf("'wrap' must be NULL or a number of characters (at least 1), not %s", obj_desc_len(wrap))
  loc <- resolve_locale(locale, x)
  src <- source_line(source, loc)
  b <- plot_block(x, row_var, col_var, layer, loc)
  nr <- length(b$rows)
  nc <- length(b$cols)
  if (!nr || !nc) stopf("this block of the table has no cells to plot")
  if (b$numeric) {
    if (stacked) stopf("'stacked' bars need percents; %s is a numeric row (%s): it is drawn as dots with intervals",
                       q(x$rows[[b$i]]$name), x$rows[[b$i]]$stat)
    return(plot_numeric(x, b, loc, horiz = horiz, col = col, main = main, ci = ci, legend = legend,
                        src = src, labels = labels, ...))
  }
  one <- nc == 1L
  dots <- list(...)
  take <- function(nm, default = NULL) {
    v <- if (nm %in% names(dots)) dots[[nm]] else default
    dots[[nm]] <<- NULL
    v
  }
  value_title <- plot_value_title(x, loc)
  cat_title <- if (one) "" else x$cols[[b$j]]$label
  value_title <- take(if (horiz) "xlab" else "ylab", value_title)
  cat_title <- take(if (horiz) "ylab" else "xlab", cat_title)
  value_lim <- take(if (horiz) "xlim" else "ylim")
  las <- take("las", 1)
  cex_names <- take("cex.names", 1)
  cex_axis <- take("cex.axis", 1)
  names_arg <- take("names.arg")
  legend_text <- take("legend.text", TRUE)
  args_legend <- take("args.legend", list())
  take("axes"); take("axisnames"); take("add"); take("plot")
  if (is.null(value_title)) value_title <- ""
  if (is.null(cat_title)) cat_title <- ""

  # small bases: a column (or, for row percents, a row) below the threshold
  min_base <- min_base_of(x)
  small <- !is.na(b$base_n) & b$base_n < min_base
  flag <- loc_word(loc, "small_flag")
  small_col <- apply(small, 2L, all)
  small_row <- apply(small, 1L, all)
  row_lab <- b$rows
  col_lab <- b$cols
  if (!all(small)) {
    # else the whole block is small: the title says so
    col_lab[small_col] <- paste0(col_lab[small_col], flag)
    row_lab[small_row] <- paste0(row_lab[small_row], flag)
  }

  # what is drawn: value, intervals (not for stacked bars)
  draw_ci <- ci && !stacked
  lo <- if (draw_ci) b$lo else b$value * NA
  hi <- if (draw_ci) b$hi else b$value * NA
  # intervals with an implausibly small design effect: dashed and flagged
  min_deff <- min_deff_of(x)
  low_deff <- !is.na(lo) & !is.na(hi) & !is.na(b$deff) & b$deff < min_deff
  deff_flag <- loc_word(loc, "low_deff_flag")
  fills <- if (is.null(col)) plot_palette(if (one) 1L else nr) else rep_len(col, if (one) 1L else nr)
  if (one && !is.null(col)) fills <- col[1L]
  border <- take("border", if (stacked) "white" else NA)
  cat_labels <- if (one) row_lab else col_lab
  if (!is.null(names_arg)) cat_labels <- rep_len(as.character(names_arg), length(cat_labels))
  ncat <- length(cat_labels)
  if (is.null(main)) {
    main <- x$rows[[b$i]]$label
    if (nzchar(b$layer$title)) main <- paste0(main, " [", b$layer$title, "]")
    if (all(small)) main <- paste0(main, flag)
  }

  # value axis ticks
  top <- if (stacked) max(colSums(b$value, na.rm = TRUE), 0) else
    max(b$value, hi, 0, na.rm = TRUE)
  if (top <= 0) top <- if (x$percent == "none") 1 else 100
  if (is.null(value_lim)) {
    ticks <- pretty(c(0, top))
    value_lim <- c(0, max(ticks))
  } else {
    ticks <- pretty(value_lim)
    ticks <- ticks[ticks >= min(value_lim) & ticks <= max(value_lim)]
  }
  tick_lab <- plot_axis_labels(ticks, loc, x$percent != "none")

  # ---- layout, in inches --------------------------------------------------
  op <- graphics::par(c("mai", "xpd"))
  on.exit(graphics::par(op), add = TRUE)
  cex <- graphics::par("cex")
  line_in <- graphics::par("cin")[2L] * cex * graphics::par("mex")
  fin <- graphics::par("fin")
  pad <- 0.1
  tick_in <- 0.06
  cex_leg <- if (!is.null(args_legend$cex)) args_legend$cex else 0.9
  main_w <- plot_wrap(main, fin[1L] - 2 * pad, 1.2, chars = wrap, font = 2)
  main_h <- if (nzchar(main)) plot_text_h(main_w, 1.2, font = 2) + 0.6 * line_in else 0
  vtick_w <- plot_text_w(tick_lab, cex_axis)
  vtitle_h <- if (nzchar(value_title)) line_in * 1.1 else 0
  ctitle_h <- if (nzchar(cat_title)) line_in * 1.1 else 0
  perp <- !horiz && las %in% c(2L, 3L)

  # legend entries: row levels (not for one bar per row), the interval, the flag
  lgroups <- list(list(), list())
  show_levels <- !one && !isFALSE(legend_text) && legend != "none"
  if (show_levels) {
    ltext <- if (is.character(legend_text)) rep_len(legend_text, nr) else row_lab
    lgroups[[1L]] <- lapply(seq_len(nr), function(r) list(label = ltext[r], type = "fill", fill = fills[r]))
  }
  any_ci <- draw_ci && any(!is.na(lo) & !is.na(hi))
  if (legend != "none" && any_ci) {
    lev <- 100 * x$options$level
    lgroups[[2L]] <- list(list(label = loc_word(loc, "ci", loc_num(lev, if (lev == round(lev)) 0L else 1L, loc)),
                               type = "ci"))
  }
  if (legend != "none" && any(small))
    lgroups[[2L]] <- c(lgroups[[2L]], list(list(label = loc_word(loc, "small_base_plot", flag, loc_num(min_base, 0L, loc)),
                                                type = "note")))
  if (legend != "none" && any(low_deff))
    lgroups[[2L]] <- c(lgroups[[2L]], list(list(label = loc_word(loc, "low_deff_plot", deff_flag,
                                                                 loc_plain(min_deff, loc)),
                                                type = "note")))
  right <- legend == "right"

  # legends first (their size depends only on the figure), then the
  # margins, then the category labels fitted to the space left for them
  lay_right <- NULL
  right_m <- pad + 0.15
  if (horiz) right_m <- max(right_m, pad + plot_text_w(tick_lab[length(tick_lab)], cex_axis) / 2)
  # value labels beyond the bars: room for them (and a flag) at the end
  cex_val <- 0.8
  val_lab <- if (x$percent == "none") loc_count(b$value, x$weighted, loc) else
    loc_pct(b$value, loc$digits[["pct"]], loc, na = "")
  val_lab <- matrix(val_lab, nrow(b$value), ncol(b$value))
  if (labels && horiz && !stacked)
    right_m <- max(right_m, pad + plot_text_w(paste0(val_lab, deff_flag), cex_val) + 0.1)
  if (right) {
    max_w <- 0.3 * fin[1L]
    g <- lapply(lgroups, function(gr) lapply(gr, function(e) {
      e$label <- plot_wrap(e$label, max_w - 1.3 * line_in, cex_leg, chars = wrap)
      e
    }))
    lay_right <- plot_legend_layout(g, max_w, cex_leg, line_in, ncol_max = 1L)
    right_m <- pad + lay_right$width + 0.25
  }
  lay_bottom <- NULL
  if (!right && length(unlist(lgroups, recursive = FALSE))) {
    max_w <- fin[1L] - 2 * pad
    g <- lapply(lgroups, function(gr) lapply(gr, function(e) {
      e$label <- plot_wrap(e$label, 0.45 * max_w, cex_leg, chars = wrap)
      e
    }))
    lay_bottom <- plot_legend_layout(g, max_w, cex_leg, line_in)
  }
  cex_src <- 0.75
  src_w <- if (length(src)) plot_wrap(src, fin[1L] - 2 * pad, cex_src, chars = wrap)
  src_h <- if (length(src)) plot_text_h(src_w, cex_src) + 0.5 * line_in else 0
  leg_h <- src_h + if (is.null(lay_bottom)) 0 else lay_bottom$height + 0.6 * line_in
  topm <- pad + main_h
  shrink <- c(1, 0.9, 0.8, 0.7)
  if (horiz) {
    bottom <- pad + leg_h + tick_in + 0.05 + line_in * cex_axis + 0.1 + vtitle_h
    slot_h <- 0.95 * (fin[2L] - bottom - topm) / ncat
    for (f in shrink) {
      cex_cat <- cex_names * f
      cat_w <- plot_wrap(cat_labels, 0.35 * fin[1L], cex_cat, chars = wrap)
      if (plot_text_h(cat_w, cex_cat) <= slot_h) break
    }
    left <- pad + ctitle_h + plot_text_w(cat_w, cex_cat) + 0.12
    plot_w <- fin[1L] - left - right_m
  } else {
    left <- pad + vtitle_h + vtick_w + tick_in + 0.1
    plot_w <- fin[1L] - left - right_m
    slot_w <- 0.92 * plot_w / ncat
    if (!perp) {
      # wrapped, smaller if need be; perpendicular when even that is too wide
      for (f in shrink) {
        cex_cat <- cex_names * f
        cat_w <- plot_wrap(cat_labels, slot_w, cex_cat, chars = wrap)
        if (plot_text_w(cat_w, cex_cat) <= slot_w) break
      }
      perp <- plot_text_w(cat_w, cex_cat) > slot_w
    }
    if (perp) {
      cex_cat <- cex_names * if (plot_text_h("Mg", cex_names) <= slot_w) 1 else 0.8
      cat_w <- plot_wrap(cat_labels, 0.3 * fin[2L], cex_cat, chars = wrap)
      cat_h <- plot_text_w(cat_w, cex_cat)
    } else {
      cat_h <- plot_text_h(cat_w, cex_cat)
    }
    bottom <- pad + leg_h + tick_in + 0.05 + cat_h + 0.1 + ctitle_h
  }
  if (fin[2L] - bottom - topm < 0.6 || plot_w < 0.6)
    stopf("the figure region is too small for this chart (%.1f x %.1f inches); enlarge the device or shorten the labels",
          fin[1L], fin[2L])
  graphics::par(mai = c(bottom, left, topm, right_m))

  # ---- bars ---------------------------------------------------------------
  # barplot(horiz = TRUE) draws bottom up: reversed, the first is on top
  # (stacked: the first column on top, the first row level leftmost)
  rr <- if (horiz && (!stacked || one)) rev(seq_len(nr)) else seq_len(nr)
  rc <- if (horiz) rev(seq_len(nc)) else seq_len(nc)
  height <- if (one) b$value[rr, 1L] else b$value[rr, rc, drop = FALSE]
  fill_use <- if (one) fills else fills[rr]
  bar_args <- c(list(height = height, beside = !stacked, horiz = horiz, axes = FALSE,
                     axisnames = FALSE, col = fill_use, border = border, main = NULL,
                     xlab = "", ylab = ""),
                if (horiz) list(xlim = value_lim) else list(ylim = value_lim))
  geom <- dots[intersect(names(dots), c("width", "space", "xlim", "ylim", "offset"))]
  frame <- bar_args
  frame[c("col", "border")] <- list(NA, NA)
  frame[names(geom)] <- geom
  mids <- do.call(graphics::barplot, frame)
  usr <- graphics::par("usr")
  # grid at the ticks, behind the bars
  if (horiz) graphics::abline(v = ticks, col = "grey88", lwd = 0.8)
  else graphics::abline(h = ticks, col = "grey88", lwd = 0.8)
  bar_args$add <- TRUE
  bar_args[names(dots)] <- dots
  do.call(graphics::barplot, bar_args)

  # midpoints in level order (rows x columns)
  mid <- if (one) matrix(mids[order(rr)], nr, 1L)
  else if (stacked) matrix(mids[order(rc)], nr, nc, byrow = TRUE)
  else mids[order(rr), order(rc), drop = FALSE]
  cat_at <- if (one) mid[, 1L] else colMeans(mid)

  # error bars: white halo, then dark
  if (any_ci) {
    ok <- !is.na(lo) & !is.na(hi)
    bw_in <- abs(diff(if (horiz) graphics::grconvertY(c(0, 1), "user", "inches")
                      else graphics::grconvertX(c(0, 1), "user", "inches")))
    cap <- min(0.04, 0.25 * bw_in)
    lty <- ifelse(low_deff, 2L, 1L)[ok]
    for (lw in list(c("white", 3), c("grey10", 1.2))) {
      if (horiz) graphics::arrows(lo[ok], mid[ok], hi[ok], mid[ok], angle = 90, code = 3, length = cap,
                                  col = lw[1L], lwd = as.numeric(lw[2L]), lty = if (lw[1L] == "white") 1L else lty)
      else graphics::arrows(mid[ok], lo[ok], mid[ok], hi[ok], angle = 90, code = 3, length = cap,
                            col = lw[1L], lwd = as.numeric(lw[2L]), lty = if (lw[1L] == "white") 1L else lty)
    }
    if (any(low_deff) && !labels) {
      # the flag just beyond the interval's upper end
      off <- 0.012 * diff(if (horiz) usr[1:2] else usr[3:4])
      if (horiz) graphics::text(hi[low_deff] + off, mid[low_deff], deff_flag, adj = c(0, 0.5), xpd = NA)
      else graphics::text(mid[low_deff], hi[low_deff] + off, deff_flag, adj = c(0.5, 0), xpd = NA)
    }
  }

  # value labels: beyond the bar (and its interval), inside stacked segments
  # wide enough for them (white on dark fills)
  if (labels) {
    has <- !is.na(b$value) & nzchar(val_lab)
    if (stacked && !one) {
      cum <- apply(b$value, 2L, function(v) cumsum(ifelse(is.na(v), 0, v)))
      cum <- matrix(cum, nrow(b$value))
      centre <- cum - b$value / 2
      seg_in <- b$value * abs(diff(if (horiz) graphics::grconvertX(c(0, 1), "user", "inches")
                                  else graphics::grconvertY(c(0, 1), "user", "inches")))
      lab_in <- matrix(vapply(val_lab, function(s) plot_text_w(s, cex_val), 0), nrow(b$value))
      fit <- has & (if (horiz) seg_in > lab_in + 0.04 else seg_in > plot_text_h("0", cex_val) + 0.04)
      fcol <- matrix(rep(fills, times = nc), nr)
      tcol <- ifelse(luminance_of(fcol) < 0.35, "white", "black")
      if (any(fit)) {
        if (horiz) graphics::text(centre[fit], mid[fit], val_lab[fit], cex = cex_val, col = tcol[fit])
        else graphics::text(mid[fit], centre[fit], val_lab[fit], cex = cex_val, col = tcol[fit])
      }
    } else {
      end <- pmax(b$value, if (draw_ci) hi else NA, na.rm = TRUE)
      off <- 0.012 * diff(if (horiz) usr[1:2] else usr[3:4])
      lab <- paste0(val_lab, ifelse(low_deff, deff_flag, ""))
      if (any(has)) {
        if (horiz) graphics::text(end[has] + off, mid[has], lab[has], adj = c(0, 0.5), cex = cex_val, xpd = NA)
        else graphics::text(mid[has], end[has] + off, lab[has], adj = c(0.5, 0), cex = cex_val, xpd = NA)
      }
    }
  }

  # ---- axes, titles, legend (positions in inches from the figure's corner)
  fx0 <- graphics::grconvertX(0, "nfc", "inches")
  fy0 <- graphics::grconvertY(0, "nfc", "inches")
  fig_x <- function(v) graphics::grconvertX(fx0 + v, "inches", "user")
  fig_y <- function(v) graphics::grconvertY(fy0 + v, "inches", "user")
  px0 <- left
  py0 <- bottom
  px1 <- fin[1L] - right_m
  graphics::par(xpd = NA)
  if (horiz) {
    graphics::segments(ticks, usr[3L], ticks, fig_y(py0 - tick_in))
    graphics::text(ticks, fig_y(py0 - tick_in - 0.05), tick_lab, adj = c(0.5, 1), cex = cex_axis)
    graphics::text(fig_x(left - 0.08), cat_at, cat_w, adj = c(1, 0.5), cex = cex_cat)
    if (nzchar(value_title))
      graphics::text(fig_x((px0 + px1) / 2), fig_y(py0 - tick_in - 0.15 - line_in * cex_axis),
                     value_title, adj = c(0.5, 1))
    if (nzchar(cat_title))
      graphics::text(fig_x(pad), fig_y(py0 + (fin[2L] - topm - py0) / 2), cat_title, srt = 90, adj = c(0.5, 1))
  } else {
    graphics::segments(usr[1L], ticks, fig_x(px0 - tick_in), ticks)
    graphics::text(fig_x(px0 - tick_in - 0.05), ticks, tick_lab, adj = c(1, 0.5), cex = cex_axis)
    if (perp) graphics::text(cat_at, fig_y(py0 - tick_in), cat_w, srt = 90, adj = c(1, 0.5), cex = cex_cat)
    else graphics::text(cat_at, fig_y(py0 - tick_in), cat_w, adj = c(0.5, 1), cex = cex_cat)
    if (nzchar(value_title))
      graphics::text(fig_x(pad), fig_y(py0 + (fin[2L] - topm - py0) / 2), value_title, srt = 90, adj = c(0.5, 1))
    if (nzchar(cat_title))
      graphics::text(fig_x((px0 + px1) / 2), fig_y(py0 - tick_in - 0.1 - cat_h - 0.05), cat_title, adj = c(0.5, 1))
  }
  if (horiz) graphics::segments(usr[1L], usr[3L], usr[1L], usr[4L], col = "grey40")
  else graphics::segments(usr[1L], usr[3L], usr[2L], usr[3L], col = "grey40")
  if (nzchar(main)) {
    # centred over the bars, but inside the figure
    hw <- plot_text_w(main_w, 1.2, font = 2) / 2
    mx <- max(pad + hw, min((px0 + px1) / 2, fin[1L] - pad - hw))
    graphics::text(fig_x(mx), fig_y(fin[2L] - pad), main_w, adj = c(0.5, 1), font = 2, cex = 1.2)
  }
  if (!is.null(lay_bottom)) {
    lx <- max(pad, min((px0 + px1) / 2 - lay_bottom$width / 2, fin[1L] - pad - lay_bottom$width))
    plot_legend_draw(lay_bottom, lx, pad + src_h + lay_bottom$height, fig_x, fig_y, border, horiz)
  }
  if (!is.null(lay_right)) {
    ly <- py0 + (fin[2L] - topm - py0) / 2 + lay_right$height / 2
    plot_legend_draw(lay_right, px1 + 0.25, ly, fig_x, fig_y, border, horiz)
  }
  if (length(src))
    graphics::text(fig_x(pad), fig_y(pad), src_w, adj = c(0, 0), cex = cex_src, col = "grey25")

  out <- data.frame(
    row = factor(rep(b$rows, times = nc), levels = b$rows),
    col = factor(rep(b$cols, each = nr), levels = b$cols),
    value = as.vector(b$value), ci_low = as.vector(lo), ci_high = as.vector(hi),
    base_n = as.vector(b$base_n), small = as.vector(small), low_deff = as.vector(low_deff),
    x = as.vector(mid),
    fill = if (one) rep(fills[1L], nr) else rep(fills, times = nc),
    stringsAsFactors = FALSE)
  attr(out, "axis") <- data.frame(at = ticks, label = tick_lab, stringsAsFactors = FALSE)
  attr(out, "labels") <- cat_w
  invisible(out)
}

#' Bar charts of a table with ggplot2
#'
#' `autoplot()` method (ggplot2, in Suggests) for [tab()] results: one row
#' variable against one column variable (or the Total column), from the
#' tidy long form (`as.data.frame()`): `geom_col()` of the percents (counts
#' with `percent = "none"`) and `geom_errorbar()` of their confidence
#' intervals, one facet per `by` layer, Okabe-Ito fills, the value axis
#' labelled as the locale writes percents, the legend at the bottom. The
#' result is an ordinary ggplot object, to be changed with `+`. A numeric
#' row is drawn as points with error bars (`geom_point()`,
#' `geom_errorbar()`) on the estimate's own scale, one colour per statistic. Registered
#' when ggplot2 is loaded; call it as `ggplot2::autoplot(x)`.
#'
#' @param object A `umfrage_tab` object.
#' @param row_var,col_var Which row and column variable, as in
#'   [plot.umfrage_tab()].
#' @param stacked Stacked instead of grouped (dodged) bars (no intervals).
#' @param horiz Horizontal bars (`coord_flip()`).
#' @param ci Draw the confidence intervals where the table has them.
#' @param wrap Width in characters at which axis and legend labels are
#'   wrapped (default 20).
#' @param locale Language and number format, as in [plot.umfrage_tab()].
#' @param source A source line, in the plot's caption after the locale's
#'   word ("Quelle: ..."), so it stays with the image.
#' @param ... Ignored.
#' @return A `ggplot` object. Its data (`$data`) has one row per bar: `row`,
#'   `col`, `layer` (factors in level order), `value`, `ci_low`, `ci_high`,
#'   `base_n`, `small` (below the small-base threshold: flagged above the
#'   bar, explained in the caption) and `low_deff` (the interval's design
#'   effect is below its threshold: the interval is dashed, explained in
#'   the caption).
#' @examples
#' if (requireNamespace("ggplot2", quietly = TRUE)) {
#'   d <- data.frame(
#'     vote = factor(sample(c("A", "B", "C"), 300, TRUE)),
#'     sex = sample(c("female", "male"), 300, TRUE),
#'     region = sample(c("North", "South"), 300, TRUE)
#'   )
#'   ggplot2::autoplot(tab(d, "vote", cols = "sex", by = "region"), locale = "de")
#' }
#' @exportS3Method ggplot2::autoplot
autoplot.umfrage_tab <- function(object, row_var = NULL, col_var = NULL, stacked = FALSE,
                                 horiz = FALSE, ci = TRUE, wrap = 20, locale = NULL,
                                 source = NULL, ...) {
  if (!requireNamespace("ggplot2", quietly = TRUE))
    stopf("autoplot() of a table needs the ggplot2 package; install it (install.packages(\"ggplot2\")) or use plot()")
  x <- object
  check_flag(stacked, "stacked")
  check_flag(horiz, "horiz")
  check_flag(ci, "ci")
  if (!is.numeric(wrap) || length(wrap) != 1L || is.na(wrap) || wrap < 1)
    stopf("'wrap' must be a number of characters (at least 1), not %s", obj_desc_len(wrap))
  loc <- resolve_locale(locale, x)
  src <- source_line(source, loc)
  ids <- unique(x$cell_id$layer)
  blocks <- lapply(seq_along(ids), function(k) plot_block(x, row_var, col_var, k, loc))
  b1 <- blocks[[1L]]
  one <- length(b1$cols) == 1L
  layer_titles <- vapply(blocks, function(b) b$layer$title, "")
  d <- do.call(rbind, lapply(blocks, function(b) {
    nr <- length(b$rows)
    nc <- length(b$cols)
    data.frame(row = rep(b$rows, times = nc), col = rep(b$cols, each = nr),
               layer = rep(b$layer$title, nr * nc), value = as.vector(b$value),
               ci_low = as.vector(b$lo), ci_high = as.vector(b$hi), base_n = as.vector(b$base_n),
               deff = as.vector(b$deff), stringsAsFactors = FALSE)
  }))
  min_base <- min_base_of(x)
  d$small <- !is.na(d$base_n) & d$base_n < min_base
  d$low_deff <- !is.na(d$ci_low) & !is.na(d$deff) & d$deff < min_deff_of(x)
  d$deff <- NULL
  captions <- character()
  d$row <- factor(d$row, levels = b1$rows)
  d$col <- factor(d$col, levels = b1$cols)
  d$layer <- factor(d$layer, levels = layer_titles)
  wrapf <- function(s) vapply(s, function(t) paste(strwrap(t, wrap), collapse = "\n"), "", USE.NAMES = FALSE)
  if (b1$numeric) {
    # a numeric row: dots and intervals on the estimate's own scale
    if (stacked) stopf("'stacked' bars need percents; %s is a numeric row (%s)",
                       q(x$rows[[b1$i]]$name), x$rows[[b1$i]]$stat)
    pal <- plot_palette(length(b1$rows))
    dodge <- ggplot2::position_dodge(width = if (length(b1$rows) > 1L) 0.5 else 0)
    xa <- if (one) ggplot2::aes(x = .data$col, y = .data$value, colour = .data$row)
          else ggplot2::aes(x = .data$col, y = .data$value, colour = .data$row)
    ggp <- ggplot2::ggplot(d, xa)
    if (ci && any(!is.na(d$ci_low))) {
      ggp <- ggp + ggplot2::geom_errorbar(ggplot2::aes(ymin = .data$ci_low, ymax = .data$ci_high,
                                                     linetype = ifelse(.data$low_deff, "dashed", "solid")),
                                          width = 0.15, position = dodge, na.rm = TRUE) +
        ggplot2::scale_linetype_identity()
      captions <- c(captions, loc_word(loc, "ci", loc_plain(100 * x$options$level, loc)))
    }
    ggp <- ggp + ggplot2::geom_point(ggplot2::aes(shape = ifelse(.data$small, 21, 19)), size = 2.6,
                                     position = dodge, na.rm = TRUE, fill = "white", stroke = 1.1) +
      ggplot2::scale_shape_identity()
    if (any(d$small))
      captions <- c(captions, loc_word(loc, "small_base_plot", "\u25cb", loc_num(min_base, 0L, loc)))
    captions <- c(captions, src)
    ttl <- plot_num_title(x, b1, loc)
    ggp <- ggp +
      ggplot2::scale_colour_manual(values = stats::setNames(pal, b1$rows), labels = wrapf, name = NULL,
                                   guide = if (length(b1$rows) > 1L) "legend" else "none") +
      ggplot2::scale_x_discrete(labels = wrapf) +
      ggplot2::scale_y_continuous(labels = function(v) plot_axis_labels(v, loc, FALSE)) +
      ggplot2::labs(title = ttl, x = if (one) NULL else x$cols[[b1$j]]$label, y = ttl,
                    caption = if (length(captions)) paste(captions, collapse = "\n")) +
      ggplot2::theme_minimal() +
      ggplot2::theme(legend.position = "bottom", panel.grid.major.x = ggplot2::element_blank())
    if (length(ids) > 1L) ggp <- ggp + ggplot2::facet_wrap(~layer)
    if (horiz) ggp <- ggp + ggplot2::coord_flip()
    return(ggp)
  }
  pct <- x$percent != "none"
  pal <- plot_palette(if (one) 1L else length(b1$rows))
  ggp <- ggplot2::ggplot(d, if (one) ggplot2::aes(x = .data$row, y = .data$value)
                            else ggplot2::aes(x = .data$col, y = .data$value, fill = .data$row))
  dodge <- ggplot2::position_dodge(width = 0.9)
  if (one) {
    ggp <- ggp + ggplot2::geom_col(fill = pal[1L], width = 0.75)
  } else if (stacked) {
    ggp <- ggp + ggplot2::geom_col(position = ggplot2::position_stack(reverse = TRUE), width = 0.75,
                                   colour = "white")
  } else {
    ggp <- ggp + ggplot2::geom_col(position = dodge, width = 0.9)
  }
  if (ci && !stacked && pct && any(!is.na(d$ci_low))) {
    # an interval with an implausibly small design effect is dashed
    eb <- ggplot2::aes(ymin = .data$ci_low, ymax = .data$ci_high,
                       linetype = ifelse(.data$low_deff, "dashed", "solid"))
    ggp <- ggp + (if (one) ggplot2::geom_errorbar(eb, width = 0.25, na.rm = TRUE)
                  else ggplot2::geom_errorbar(eb, position = dodge, width = 0.25, na.rm = TRUE)) +
      ggplot2::scale_linetype_identity()
    if (any(d$low_deff))
      captions <- c(captions, loc_word(loc, "low_deff_plot", loc_word(loc, "low_deff_flag"),
                                       loc_plain(min_deff_of(x), loc)))
  }
  if (any(d$small)) {
    # the small-base flag above each bar (and interval) of a small base
    flag <- loc_word(loc, "small_flag")
    d$flag_y <- if (stacked) NA_real_ else pmax(d$value, if (ci && pct) d$ci_high else NA, na.rm = TRUE)
    ds <- d[d$small, , drop = FALSE]
    if (stacked) {
      ds <- ds[!duplicated(ds[c("col", "layer")]), , drop = FALSE]
      tops <- stats::aggregate(value ~ col + layer, data = d, FUN = sum)
      ds$flag_y <- tops$value[match(paste(ds$col, ds$layer), paste(tops$col, tops$layer))]
    }
    ggp <- ggp + if (one || stacked)
      ggplot2::geom_text(ggplot2::aes(y = .data$flag_y), data = ds, label = flag, vjust = -0.2, na.rm = TRUE)
    else ggplot2::geom_text(ggplot2::aes(y = .data$flag_y, group = .data$row), data = ds, label = flag, vjust = -0.2,
                            position = dodge, na.rm = TRUE)
    captions <- c(loc_word(loc, "small_base_plot", flag, loc_num(min_base, 0L, loc)), captions)
  }
  captions <- c(captions, src)
  if (length(captions)) ggp <- ggp + ggplot2::labs(caption = paste(captions, collapse = "\n"))
  if (!one) ggp <- ggp + ggplot2::scale_fill_manual(values = stats::setNames(pal, b1$rows), labels = wrapf,
                                                   name = NULL)
  ggp <- ggp +
    ggplot2::scale_x_discrete(labels = wrapf) +
    ggplot2::scale_y_continuous(labels = function(v) plot_axis_labels(v, loc, pct),
                                expand = ggplot2::expansion(mult = c(0, 0.05))) +
    ggplot2::labs(title = x$rows[[b1$i]]$label, x = if (one) NULL else x$cols[[b1$j]]$label,
                  y = plot_value_title(x, loc)) +
    ggplot2::theme_minimal() +
    ggplot2::theme(legend.position = "bottom", panel.grid.major.x = ggplot2::element_blank())
  if (length(ids) > 1L) ggp <- ggp + ggplot2::facet_wrap(~layer)
  if (horiz) ggp <- ggp + ggplot2::coord_flip()
  ggp
}

# ---- numeric rows ---------------------------------------------------------------

# The title of a numeric row's value axis: its one statistic's label
# ("Mean of income"), else the statistic's word ("quantile").
plot_num_title <- function(x, b, loc) {
  if (length(b$rows) == 1L) return(b$rows)
  num_var_title(x$rows[[b$i]], loc)
}

# A numeric row (mean, total, ratio, score, quantiles) per banner column:
# dots with their confidence intervals on the estimate's own scale (which
# need not start at 0, unlike bars), one colour per statistic (the
# quantiles of a quantile row side by side). Percents are never on this
# axis: a plot shows one row variable.
plot_numeric <- function(x, b, loc, horiz = FALSE, col = NULL, main = NULL, ci = TRUE,
                         legend = "bottom", src = NULL, labels = FALSE, ...) {
  dots <- list(...)
  nr <- length(b$rows)
  nc <- length(b$cols)
  one <- nc == 1L
  fills <- if (is.null(col)) plot_palette(nr) else rep_len(col, nr)
  lo <- if (ci) b$lo else b$lo * NA
  hi <- if (ci) b$hi else b$hi * NA
  min_base <- min_base_of(x)
  small <- !is.na(b$base_n) & b$base_n < min_base
  low_deff <- !is.na(lo) & !is.na(b$deff) & b$deff < min_deff_of(x)
  flag <- loc_word(loc, "small_flag")
  small_col <- apply(small, 2L, all)
  cat_lab <- ifelse(small_col, paste0(b$cols, " ", flag), b$cols)
  value_title <- plot_num_title(x, b, loc)
  if (is.null(main)) main <- paste0(value_title, if (nzchar(b$layer$title)) paste0(" (", b$layer$title, ")"))
  lim <- dots[[if (horiz) "xlim" else "ylim"]]
  if (is.null(lim)) {
    lim <- range(c(b$value, lo, hi), na.rm = TRUE, finite = TRUE)
    if (!all(is.finite(lim))) lim <- c(0, 1)
    if (diff(lim) == 0) lim <- lim + c(-1, 1) * max(abs(lim[1L]) * 0.05, 1)
    lim <- lim + c(-1, 1) * 0.06 * diff(lim)
  }
  ticks <- pretty(lim)
  ticks <- ticks[ticks >= lim[1L] & ticks <= lim[2L]]
  tick_lab <- plot_axis_labels(ticks, loc, FALSE)
  # positions: column k at k, its statistics side by side around it
  off <- if (nr > 1L) (seq_len(nr) - (nr + 1) / 2) * min(0.6 / nr, 0.2) else 0
  pos <- outer(off, seq_len(nc), `+`)
  # restore only what is changed, so that the chart can sit in a par(mfrow =) panel
  op <- graphics::par("mai")
  on.exit(graphics::par(mai = op))
  leg <- nr > 1L && legend != "none"
  lab_lines <- max(1, max(vapply(cat_lab, function(s) length(strsplit(s, "\n")[[1L]]), 1L)))
  notes <- c(if (ci && any(!is.na(lo) & !is.na(hi))) loc_word(loc, "ci", loc_plain(100 * x$options$level, loc)),
             if (any(small)) loc_word(loc, "small_base_plot", flag, loc_num(min_base, 0L, loc)),
             if (any(low_deff)) loc_word(loc, "low_deff_plot", loc_word(loc, "low_deff_flag"),
                                         loc_plain(min_deff_of(x), loc)))
  foot <- c(if (length(notes)) paste(notes, collapse = "; "), src)
  src_line <- length(foot) * 1.1
  cat_w <- max(graphics::strwidth(cat_lab, units = "inches"), 0)
  val_w <- max(graphics::strwidth(tick_lab, units = "inches"), 0)
  line_in <- graphics::par("csi")
  if (horiz) {
    graphics::par(mai = c((3.6 + (leg * 3) + src_line) * line_in, cat_w + 0.35,
                          (if (nzchar(main)) 2.2 else 0.8) * line_in, 0.3))
  } else {
    graphics::par(mai = c((2.4 + lab_lines + (leg * 2.4) + src_line) * line_in, val_w + 0.75,
                          (if (nzchar(main)) 2.2 else 0.8) * line_in, 0.3))
  }
  graphics::plot.new()
  cat_rng <- c(0.5, nc + 0.5)
  if (horiz) graphics::plot.window(xlim = lim, ylim = rev(cat_rng)) else graphics::plot.window(xlim = cat_rng, ylim = lim)
  if (horiz) graphics::abline(v = ticks, col = "grey88", lwd = 0.8) else graphics::abline(h = ticks, col = "grey88", lwd = 0.8)
  ok <- !is.na(lo) & !is.na(hi)
  if (any(ok)) {
    lty <- ifelse(low_deff, 2L, 1L)[ok]
    colr <- matrix(rep(fills, nc), nr)[ok]
    if (horiz) graphics::arrows(lo[ok], pos[ok], hi[ok], pos[ok], angle = 90, code = 3, length = 0.04,
                                col = colr, lwd = 1.4, lty = lty)
    else graphics::arrows(pos[ok], lo[ok], pos[ok], hi[ok], angle = 90, code = 3, length = 0.04,
                          col = colr, lwd = 1.4, lty = lty)
  }
  pch <- ifelse(small, 1L, 19L)
  colp <- matrix(rep(fills, nc), nr)
  has <- !is.na(b$value)
  if (horiz) graphics::points(b$value[has], pos[has], pch = pch[has], col = colp[has], cex = 1.3, lwd = 2)
  else graphics::points(pos[has], b$value[has], pch = pch[has], col = colp[has], cex = 1.3, lwd = 2)
  dig <- stat_digits(b$stat, loc)
  if (labels && any(has)) {
    vl <- loc_num(b$value, dig, loc)
    if (horiz) graphics::text(b$value[has], pos[has], vl[has], pos = 3, cex = 0.8, offset = 0.6)
    else graphics::text(pos[has], b$value[has], vl[has], pos = 4, cex = 0.8, offset = 0.6)
  }
  graphics::box(bty = "l", col = "grey40")
  graphics::axis(if (horiz) 1L else 2L, at = ticks, labels = tick_lab, las = 1, col = "grey40")
  graphics::axis(if (horiz) 2L else 1L, at = seq_len(nc), labels = cat_lab, las = 1, tick = FALSE,
                 line = -0.4)
  cat_title <- if (one) "" else x$cols[[b$j]]$label
  if (horiz) {
    graphics::title(xlab = value_title, line = 2.4)
  } else {
    graphics::title(ylab = value_title, line = 2 + val_w / line_in)
    if (nzchar(cat_title)) graphics::title(xlab = cat_title, line = 1.2 + lab_lines)
  }
  if (nzchar(main)) graphics::title(main = main, line = 1, font.main = 2)
  if (leg) {
    # below the axis title (not on it): the legend box's bottom this many
    # lines under the plot region
    graphics::legend("bottom", inset = c(0, -(if (horiz) 5.2 else 4.2 + lab_lines) * line_in /
                                          graphics::par("pin")[2L]),
                     legend = b$rows, col = fills, pch = 19, horiz = TRUE, bty = "n", xpd = NA, cex = 0.9)
  }
  if (length(foot)) graphics::mtext(foot, side = 1, line = graphics::par("mar")[1L] - rev(seq_along(foot)) - 0.2,
                                    adj = 0, cex = 0.8, col = "grey25", outer = FALSE,
                                    at = graphics::grconvertX(0.02, "nfc", "user"))
  out <- data.frame(
    row = factor(rep(b$rows, times = nc), levels = b$rows),
    col = factor(rep(b$cols, each = nr), levels = b$cols),
    value = as.vector(b$value), ci_low = as.vector(lo), ci_high = as.vector(hi),
    base_n = as.vector(b$base_n), small = as.vector(small), low_deff = as.vector(low_deff),
    x = as.vector(pos), fill = rep(fills, times = nc), stringsAsFactors = FALSE)
  attr(out, "axis") <- data.frame(at = ticks, label = tick_lab, stringsAsFactors = FALSE)
  attr(out, "labels") <- cat_lab
  invisible(out)
}

utils::globalVariables(".data")
