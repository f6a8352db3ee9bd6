# The display model of a tab() result: what every renderer shows.
#
# tab_display(x, locale, show, digits) turns a umfrage_tab into a list of
# blocks, one per layer x row variable (layers outer, row variables inner,
# as print() shows them). Each block holds the numbers AND the strings the
# locale makes of them, so that a renderer (console, HTML, markdown, wide
# data frame; later the xlsx exporter and as_flextable()) only lays them
# out and never formats a number itself. Everything is addressed by the
# integer identity of the cells (x$cell_id, x$base_id), never by labels.
#
# The object (class "umfrage_display"):
#   locale    the umfrage_locale in force, with the call's digits merged in
#   show      the statistics a cell shows, in this order: a subset of
#             "count", "weighted", "pct", "ci", "letters" (show_stats)
#   min_base  the small-base threshold (x$options$min_base, default 30)
#   flag      the small-base flag (the locale's word "small_flag", "*")
#   min_deff, deff_flag  the low-design-effect threshold (min_deff_of())
#             and its flag (the locale's "low_deff_flag", a superscript one)
#   percent, weighted, letters (logical: letters were computed)
#   blocks    list of blocks; each block is a list:
#     row_var   index of the row variable in x$rows
#     layer     index of the layer (row of x$layers); layer_title: the
#               layer as "var = level, ..." ("" without by-variables)
#     title     list(label = row variable label, layer = layer_title,
#               what = "column %" etc., weighted = "weighted" or "",
#               mr = the MR note or "", ci = "95% CI" or "",
#               text = everything as one caption string)
#     stub      list(base_n = "Base (n)", base_w = "Base (weighted)" or NULL
#               when unweighted): labels of the base rows
#     columns   data frame, one row per banner column, in banner order:
#               col_var (index into x$cols, 1 = Total), col (level index),
#               spanner (the column variable's label; "" for Total), level
#               (level label; the locale's "Total" for Total), letter ("A",
#               ... or ""), header (level plus " (A)" when letters shown),
#               base_n, base_w, base_eff (numbers), base_n_str, base_w_str
#               (strings), small (logical: base_n < min_base)
#     stat_labels  the header of each statistic (count, weighted, pct, ci,
#               letters), shown by HTML when a cell shows several numbers
#     spans     data frame of runs of columns per column variable: col_var,
#               label (spanner), first, last (positions in columns)
#     rows      data frame, one row per body row: row (level index), label
#     num       list of numeric matrices (rows x columns): n, n_w, pct,
#               ci_low, ci_high, base_n (the cell's percent base)
#     letters   character matrix ("" for none)
#     small     logical matrix: the cell's base_n < min_base
#     low_deff  logical matrix: the cell's deff < min_deff (its interval,
#               else its percent, carries deff_flag in `str`)
#     str       list of character matrices, the locale's strings: count,
#               weighted, pct, ci, letters (all computed, whatever `show`)
#     notes     list(tests = data frame (col_var, label, statistic, ndf, ddf,
#               p_value, text), letters = legend or NULL, small = legend or
#               NULL, lines = all note lines in order)

show_stats <- c("count", "weighted", "pct", "ci", "letters")

# The statistics a cell shows: the call's, else the table's (tab(show =)),
# else the default: the count (weighted count when weighted), the percent,
# and letters where computed.
resolve_show <- function(show, x) {
  if (is.null(show)) show <- x$show
  if (is.null(show)) {
    show <- c(if (x$weighted) "weighted" else "count",
              if (x$percent != "none") "pct",
              if (tab_has_letters(x)) "letters")
  }
  show <- check_show(show)
  if (x$percent == "none") {
    # no percents exist: nothing to show of them
    show <- setdiff(show, c("pct", "ci"))
    if (!length(setdiff(show, "letters"))) show <- c(if (x$weighted) "weighted" else "count")
  }
  show
}

check_show <- function(show, arg = "show") {
  if (!is.character(show) || !length(show) || anyNA(show))
    stopf("'%s' must name what a cell shows, some of %s; not %s", arg, qlist(show_stats),
          obj_desc_len(show))
  bad <- setdiff(show, show_stats)
  if (length(bad))
    stopf("'%s' names %s; a cell shows some of %s", arg, qlist(bad), qlist(show_stats))
  if (all(show == "letters"))
    stopf("'%s' = \"letters\" alone shows no number; add \"pct\" or \"count\"", arg)
  show_stats[show_stats %in% show]
}

# Digits: a named vector merged into the locale's digits; one unnamed
# number is the digits of percents (as before the locale existed).
merge_digits <- function(loc, digits, arg = "digits") {
  if (is.null(digits)) return(loc)
  if (is.numeric(digits) && length(digits) == 1L && is.null(names(digits)))
    digits <- c(pct = digits)
  if (!is.numeric(digits))
    stopf("'%s' must be a number (digits of percents) or a named vector such as c(pct = 0, ci = 1), not %s",
          arg, obj_desc_len(digits))
  tab_locale(loc, digits = digits)
}

# The locale of a call: the call's locale (else the table's, the option,
# OutDec), with the table's digits and then the call's merged in.
display_locale <- function(x, locale = NULL, digits = NULL) {
  loc <- resolve_locale(locale, x)
  loc <- merge_digits(loc, x$digits)
  merge_digits(loc, digits)
}

# The design effect below which a cell's interval is flagged as possibly
# too narrow: the table's option min_deff, else the session's
# getOption("umfrage.min_deff"), else 0.5; 0 switches it off.
min_deff_of <- function(x) {
  md <- x$options$min_deff
  if (is.null(md)) md <- getOption("umfrage.min_deff", 0.5)
  if (!is.numeric(md) || length(md) != 1L || is.na(md) || md < 0)
    stopf("the design-effect threshold (option 'umfrage.min_deff') must be a number >= 0, not %s",
          obj_desc_len(md))
  md
}

min_base_of <- function(x) {
  mb <- x$options$min_base
  if (is.null(mb) || !is.numeric(mb) || length(mb) != 1L || is.na(mb)) 30 else mb
}

# A number as plainly as it was given (alpha = 0.05 -> "0.05" / "0,05").
loc_plain <- function(v, loc) {
  s <- formatC(v, format = "fg", digits = 6L)
  s <- trimws(s)
  sub(".", loc$dec, s, fixed = TRUE)
}

# Display label of a level: the NA level of na = "level" in the locale's
# word ("(missing)" -> "(fehlend)"), the Total column's "Total" likewise.
level_labels <- function(x, v, idx) {
  lab <- v$levels[idx]
  if (identical(v$kind, "total")) return(rep(loc_word(x$.loc, "total"), length(idx)))
  if (identical(x$na, "level") && identical(v$kind, "single")) {
    # the "(missing)" level is the last level (of a variable with nets: the
    # last that is not a net)
    miss <- idx == (if (is.null(v$net)) length(v$levels) else max(which(!v$net)))
    lab[miss] <- sub("^\\(missing\\)", loc_word(x$.loc, "missing"), lab[miss])
  }
  lab
}

#' @noRd
tab_display <- function(x, locale = NULL, show = NULL, digits = NULL) {
  loc <- display_locale(x, locale, digits)
  show <- resolve_show(show, x)
  x$.loc <- loc
  mb <- min_base_of(x)
  flag <- loc_word(loc, "small_flag")
  has_letters <- tab_has_letters(x)
  md <- min_deff_of(x)
  groups <- display_groups(x)
  blocks <- list()
  for (ly in tab_layers_loc(x, loc)) for (g in groups) {
    g <- g[vapply(g, function(i) length(block_sel(x, i, ly$id)) > 0L, NA)]
    if (!length(g)) next
    blocks[[length(blocks) + 1L]] <- display_block(x, g, ly, loc, show, mb, flag,
                                                   has_letters && block_has_letters(x, g), md)
  }
  structure(list(locale = loc, show = show, min_base = mb, flag = flag,
                 min_deff = md, deff_flag = loc_word(loc, "low_deff_flag"),
                 percent = x$percent, weighted = x$weighted, letters = has_letters,
                 blocks = blocks), class = "umfrage_display")
}

# Can row variable i carry significance letters? Percents of a column-%
# table (levels, nets, MR items), and means, totals, ratios and mean scores
# in any table; quantiles never (they have no letters).
row_has_letters <- function(x, i) {
  rv <- x$rows[[i]]
  if (identical(rv$kind, "numeric")) return(rv$stat %in% c("mean", "total", "ratio", "score"))
  x$percent == "col"
}

# Does a table (a block of row variables g) have letters to show? Only
# such blocks letter their banner columns ("E (A)").
tab_has_letters <- function(x) {
  isTRUE(x$options$letters) && block_has_letters(x, seq_along(x$rows))
}
block_has_letters <- function(x, g) {
  any(vapply(g, function(i) row_has_letters(x, i), NA))
}

# The layers with their titles in the locale ("region = Nord, ...").
tab_layers_loc <- function(x, loc) {
  if (!length(x$by)) return(list(list(id = 1L, title = "")))
  ids <- unique(x$cell_id$layer)
  lapply(ids, function(k) {
    lev <- vapply(seq_along(x$by), function(b) {
      v <- x$by[[b]]
      l <- x$layers[[b]][k]
      if (identical(x$na, "level") && identical(l, v$levels[length(v$levels)]))
        l <- sub("^\\(missing\\)", loc_word(loc, "missing"), l)
      l
    }, "")
    list(id = k, title = paste(vapply(seq_along(x$by), function(b)
      loc_word(loc, "layer", x$by[[b]]$label, lev[b]), ""), collapse = ", "))
  })
}

# The row variables shown together in one block: consecutive numeric rows
# (means, totals, ratios, quantiles, scores) stack into one block; a
# score_of(var) row that directly follows `var` (its levels and nets) joins
# var's block, under the distribution. Everything else is a block of its own.
display_groups <- function(x) {
  groups <- list()
  is_num <- function(i) identical(x$rows[[i]]$kind, "numeric")
  kind <- character()   # of each group: "num" or "cat"
  for (i in seq_along(x$rows)) {
    rv <- x$rows[[i]]
    ng <- length(groups)
    if (is_num(i) && identical(rv$stat, "score") && ng && kind[ng] == "cat" &&
        identical(x$rows[[groups[[ng]][1L]]]$name, rv$vars[1L]) &&
        all(vapply(groups[[ng]][-1L], function(j) identical(x$rows[[j]]$stat, "score"), NA))) {
      groups[[ng]] <- c(groups[[ng]], i)
    } else if (is_num(i) && ng && kind[ng] == "num") {
      groups[[ng]] <- c(groups[[ng]], i)
    } else {
      groups[[ng + 1L]] <- i
      kind[ng + 1L] <- if (is_num(i)) "num" else "cat"
    }
  }
  groups
}

# Is the label of numeric row rv the one numeric.R made ("mean(income)"),
# i.e. none given by the user?
num_default_label <- function(rv) {
  identical(rv$label, sprintf("%s(%s)", rv$stat, rv$var_label)) || identical(rv$label, rv$name)
}

# The display labels of the levels (statistics) of numeric row rv: the
# user's label, else the locale's ("Mean of income", "income: Mittelwert");
# a score row inside its variable's block: "Mean score" (or the user's).
num_row_labels <- function(rv, idx, loc, in_block = FALSE) {
  lev <- rv$levels[idx]
  user <- !num_default_label(rv)
  if (identical(rv$stat, "quantile")) {
    p <- suppressWarnings(as.numeric(sub("%$", "", lev)))
    # each probability with the decimals it has ("25%", "2.5%"), in the locale
    pd <- vapply(p, function(v) if (is.na(v)) 0L else
      nchar(sub("^[^.]*\\.?", "", format(v, scientific = FALSE, drop0trailing = TRUE))), 0L)
    pl <- ifelse(is.na(p), lev, vapply(seq_along(p), function(k) loc_pct(p[k], pd[k], loc), ""))
    if (user) return(paste0(rv$label, ": ", pl))
    # the locale's words: "Median of income", "25% quantile of income",
    # "income: 25-%-Quantil" (the template holds the percent sign)
    pn <- vapply(seq_along(p), function(k) loc_num(p[k], pd[k], loc), "")
    return(ifelse(is.na(p), paste0(rv$var_label, ": ", lev),
                  ifelse(abs(p - 50) < 1e-9, loc_word(loc, "num_median", rv$var_label),
                         vapply(pn, function(s) loc_word(loc, "num_quantile", s, rv$var_label), ""))))
  }
  lab <- if (user) rv$label
         else if (in_block) loc_word(loc, "score_row")
         else loc_word(loc, paste0("num_", rv$stat), rv$var_label)
  rep(lab, length(idx))
}

# The title of numeric row rv as a whole, in the locale: the user's label,
# else its one statistic's label ("Mean of income", "income: Median"),
# else (several quantiles) "income: quantiles".
num_var_title <- function(rv, loc) {
  if (!num_default_label(rv)) return(rv$label)
  if (length(rv$levels) == 1L) return(num_row_labels(rv, 1L, loc))
  paste0(rv$var_label, ": ", loc_word(loc, if (identical(rv$stat, "quantile")) "stat_quantiles"
                                      else paste0("stat_", rv$stat)))
}

# The word of numeric row rv's statistic ("mean", "median", "quantiles").
num_stat_word <- function(rv, loc) {
  if (!identical(rv$stat, "quantile")) return(loc_word(loc, paste0("stat_", rv$stat)))
  p <- suppressWarnings(as.numeric(sub("%$", "", rv$levels)))
  loc_word(loc, if (length(p) == 1L && !is.na(p) && abs(p - 50) < 1e-9) "stat_median"
                else if (length(p) == 1L) "stat_quantile" else "stat_quantiles")
}

# The digits of a numeric statistic (the locale's `mean`, `total`, ...).
stat_digits <- function(stat, loc) {
  d <- loc$digits
  if (stat %in% names(d)) d[[stat]] else d[["stat"]]
}

# The pieces of one row variable i in layer ly: its banner columns and
# bases, its rows, and its cells as matrices (rows x banner columns).
display_part <- function(x, i, ly, loc, show, mb, has_letters, md, in_block = FALSE) {
  k <- ly$id
  ci <- block_sel(x, i, k)
  bi <- block_sel(x, i, k, bases = TRUE)
  cells <- x$cells[ci, , drop = FALSE]
  cid <- x$cell_id[ci, , drop = FALSE]
  bases <- x$bases[bi, , drop = FALSE]
  bid <- x$base_id[bi, , drop = FALSE]
  rv <- x$rows[[i]]
  numeric <- identical(rv$kind, "numeric")
  rows <- unique(cid$row)
  nr <- length(rows)
  ncol <- nrow(bid)
  # banner columns
  spanner <- vapply(bid$col_var, function(j) if (j == 1L) "" else x$cols[[j]]$label, "")
  level <- vapply(seq_len(ncol), function(m)
    level_labels(x, x$cols[[bid$col_var[m]]], bid$col[m]), "")
  letter <- if (has_letters) vapply(seq_len(ncol), function(m) {
    j <- bid$col_var[m]
    if (j == 1L) "" else col_letters(length(x$cols[[j]]$levels))[bid$col[m]]
  }, "") else rep("", ncol)
  header <- if ("letters" %in% show) ifelse(nzchar(letter), paste0(level, " (", letter, ")"), level) else level
  columns <- new_df(list(col_var = bid$col_var, col = bid$col, spanner = spanner, level = level,
                         letter = letter, header = header, base_n = bases$base_n,
                         base_w = bases$base_w, base_eff = bases$base_eff,
                         base_n_str = loc_count(bases$base_n, FALSE, loc),
                         base_w_str = loc_count(bases$base_w, TRUE, loc),
                         small = !is.na(bases$base_n) & bases$base_n < mb))
  # cells as matrices: the cell of body row a and banner column m
  pos <- matrix(NA_integer_, nr, ncol)
  key_b <- paste(bid$col_var, bid$col)
  pos[cbind(match(cid$row, rows), match(paste(cid$col_var, cid$col), key_b))] <- seq_len(nrow(cid))
  mat <- function(v) matrix(v[pos], nr, ncol)
  est <- if (is.null(cells$estimate)) cells$pct else cells$estimate
  num <- list(n = mat(cells$n), n_w = mat(cells$n_w), pct = mat(if (numeric) NA_real_ else cells$pct),
              ci_low = mat(cells$ci_low), ci_high = mat(cells$ci_high),
              base_n = mat(cells$base_n), estimate = mat(est))
  lt <- if (is.null(cells$letters)) rep("", nrow(cells)) else ifelse(is.na(cells$letters), "", cells$letters)
  lmat <- matrix(lt[pos], nr, ncol)
  lmat[is.na(lmat)] <- ""
  small <- matrix(!is.na(num$base_n) & num$base_n < mb, nr, ncol)
  # an implausibly small design effect: the interval may be too narrow
  deff <- if (is.null(cells$deff) || (x$percent == "none" && !numeric)) rep(NA_real_, nrow(cells)) else cells$deff
  low_deff <- matrix(!is.na(deff[pos]) & deff[pos] < md, nr, ncol)
  stat <- if (numeric) rv$stat else "pct"
  nd <- if (numeric) stat_digits(stat, loc) else loc$digits[["ci"]]
  ci_sep <- if (loc$dec == ",") "; " else ", "
  ci_str <- ifelse(is.na(num$ci_low) | is.na(num$ci_high), "",
                   paste0("[", loc_num(num$ci_low, nd, loc), ci_sep,
                          loc_num(num$ci_high, nd, loc), "]"))
  str <- list(count = matrix(loc_count(num$n, FALSE, loc), nr, ncol),
              weighted = matrix(loc_count(num$n_w, TRUE, loc), nr, ncol),
              pct = matrix(if (numeric) loc_num(num$estimate, nd, loc, na = "-")
                           else loc_pct(num$pct, loc$digits[["pct"]], loc), nr, ncol),
              ci = matrix(ci_str, nr, ncol),
              letters = lmat)
  if (numeric) {
    # a numeric cell shows its estimate (never with a % sign) where a
    # percent stands; its counts are the base rows'
    str$count[] <- ""
    str$weighted[] <- ""
    if (!"pct" %in% show) {
      first <- setdiff(show, c("letters", "ci"))[1L]
      if (!is.na(first)) str[[first]] <- str$pct
    }
  }
  if (numeric) {
    labels <- num_row_labels(rv, rows, loc, in_block)
  } else {
    labels <- level_labels(x, rv, rows)
  }
  rowdf <- new_df(list(row_var = rep(as.integer(i), nr), row = rows, label = labels,
                       net = if (is.null(rv$net)) rep(FALSE, nr) else rv$net[rows],
                       type = rep("cell", nr), stat = rep(stat, nr),
                       digits = rep(if (numeric) as.integer(nd) else loc$digits[["pct"]], nr),
                       rule = rep(FALSE, nr)))
  list(i = i, rv = rv, numeric = numeric, stat = stat, cells = cells, cid = cid,
       columns = columns, rows = rowdf, num = num, letters = lmat, small = small,
       low_deff = low_deff, str = str)
}

# Align the matrices of part p to the banner columns `cols` (keys
# "col_var col"); a column the part lacks is empty.
part_align <- function(p, keys) {
  m <- match(keys, paste(p$columns$col_var, p$columns$col))
  nr <- nrow(p$rows)
  take <- function(M, fill) {
    out <- matrix(fill, nr, length(keys))
    ok <- !is.na(m)
    out[, ok] <- M[, m[ok], drop = FALSE]
    out
  }
  p$num <- lapply(p$num, take, fill = NA_real_)
  p$str <- lapply(p$str, take, fill = "")
  p$letters <- take(p$letters, "")
  p$small <- take(p$small, FALSE)
  p$low_deff <- take(p$low_deff, FALSE)
  p$col_pos <- m
  p
}

# The per-column bases of part p as one row of the block (an inline base
# row under a numeric row): its n in the banner columns `keys`.
part_base_row <- function(p, keys, loc, mb) {
  m <- match(keys, paste(p$columns$col_var, p$columns$col))
  n <- p$columns$base_n[m]
  list(n = n, n_w = p$columns$base_w[m], str = ifelse(is.na(n), "", loc_count(n, FALSE, loc)),
       small = !is.na(n) & n < mb)
}

display_block <- function(x, g, ly, loc, show, mb, flag, has_letters, md = 0) {
  first <- x$rows[[g[1L]]]
  cat_block <- !identical(first$kind, "numeric")
  parts <- lapply(seq_along(g), function(a)
    display_part(x, g[a], ly, loc, show, mb, has_letters, md, in_block = cat_block && a > 1L))
  # the banner: the union of the parts' columns, in banner order
  allc <- do.call(rbind, lapply(parts, function(p) p$columns))
  allc <- allc[!duplicated(paste(allc$col_var, allc$col)), , drop = FALSE]
  allc <- allc[order(allc$col_var, allc$col), , drop = FALSE]
  keys <- paste(allc$col_var, allc$col)
  # the top bases: a categorical block's own; a numeric block's: the bases
  # (unweighted and weighted, in every column) that most of its rows share;
  # a numeric row with other bases (missing values) has its own base row
  # (n) under it; when no two rows share their bases, every row has its own
  same_base <- function(p, q) {
    a <- part_base_row(p, keys, loc, mb)
    b <- part_base_row(q, keys, loc, mb)
    isTRUE(all.equal(a$n, b$n)) && isTRUE(all.equal(a$n_w, b$n_w, tolerance = 1e-9))
  }
  top <- if (cat_block) parts[[1L]]
  if (!cat_block) {
    # the base most rows share (the first such); none when no two share one
    shared <- vapply(parts, function(q) sum(vapply(parts, same_base, NA, q = q)), 0L)
    if (length(parts) == 1L || max(shared) >= 2L) top <- parts[[which.max(shared)]]
  }
  columns <- allc
  if (!is.null(top)) {
    tm <- match(keys, paste(top$columns$col_var, top$columns$col))
    for (nm in c("base_n", "base_w", "base_eff", "base_n_str", "base_w_str", "small"))
      columns[[nm]] <- top$columns[[nm]][tm]
    columns$small[is.na(columns$small)] <- FALSE
    columns$base_n_str[is.na(columns$base_n_str)] <- ""
    columns$base_w_str[is.na(columns$base_w_str)] <- ""
  } else {
    columns$base_n <- columns$base_w <- columns$base_eff <- NA_real_
    columns$base_n_str <- columns$base_w_str <- ""
    columns$small <- FALSE
  }
  rownames(columns) <- NULL
  r <- rle(columns$col_var)
  last <- cumsum(r$lengths)
  spans <- new_df(list(col_var = r$values, label = columns$spanner[last],
                       first = last - r$lengths + 1L, last = last))
  # the body: each part's rows, an inline base row under a numeric row
  # whose base differs from the top bases
  ncol <- length(keys)
  rows <- list()
  num <- list()
  str <- list()
  lmat <- list()
  small <- list()
  low_deff <- list()
  add <- function(rw, nm, st, lt, sm, ld) {
    rows[[length(rows) + 1L]] <<- rw
    num[[length(num) + 1L]] <<- nm
    str[[length(str) + 1L]] <<- st
    lmat[[length(lmat) + 1L]] <<- lt
    small[[length(small) + 1L]] <<- sm
    low_deff[[length(low_deff) + 1L]] <<- ld
  }
  for (a in seq_along(parts)) {
    p <- part_align(parts[[a]], keys)
    # a score row under its variable's distribution: a rule above it
    if (cat_block && a > 1L) p$rows$rule[1L] <- TRUE
    add(p$rows, p$num, p$str, p$letters, p$small, p$low_deff)
    own <- p$numeric && (is.null(top) || ((!cat_block || a > 1L) && !same_base(parts[[a]], top)))
    if (own) {
      br <- part_base_row(parts[[a]], keys, loc, mb)
      em <- matrix("", 1L, ncol)
      bstr <- lapply(p$str, function(M) em)
      bstr$base <- matrix(br$str, 1L, ncol)
      bnum <- lapply(p$num, function(M) matrix(NA_real_, 1L, ncol))
      bnum$n <- matrix(br$n, 1L, ncol)
      bnum$n_w <- matrix(br$n_w, 1L, ncol)
      add(new_df(list(row_var = p$rows$row_var[1L], row = NA_integer_, label = loc_word(loc, "base_n"),
                      net = FALSE, type = "base", stat = "base", digits = loc$digits[["count"]],
                      rule = FALSE)),
          bnum, bstr, em, matrix(br$small, 1L, ncol), matrix(FALSE, 1L, ncol))
    }
  }
  rows <- do.call(rbind, rows)
  rownames(rows) <- NULL
  bind <- function(lst) {
    nms <- unique(unlist(lapply(lst, names)))
    stats::setNames(lapply(nms, function(nm) do.call(rbind, lapply(lst, function(m) {
      v <- m[[nm]]
      if (is.null(v)) v <- matrix(if (nm == "base") "" else NA, nrow(m[[1L]]), ncol)
      v
    }))), nms)
  }
  num <- bind(num)
  str <- bind(str)
  if (is.null(str$base)) str$base <- matrix("", nrow(rows), ncol)
  lmat <- do.call(rbind, lmat)
  small <- do.call(rbind, small)
  low_deff <- do.call(rbind, low_deff)
  if (any(low_deff)) {
    # the flag goes on the interval where it is shown, else on the percent
    on <- if ("ci" %in% show) "ci" else if ("pct" %in% show) "pct" else NULL
    if (!is.null(on)) {
      # the others get a space in its place, so the numbers stay aligned
      fl <- loc_word(loc, "low_deff_flag")
      pad <- !low_deff & nzchar(str[[on]])
      str[[on]][pad] <- paste0(str[[on]][pad], strrep(" ", nchar(fl, type = "width")))
      str[[on]][low_deff] <- paste0(str[[on]][low_deff], fl)
    }
  }
  # title
  wtd <- if (x$weighted) loc_word(loc, "weighted") else ""
  ci_w <- if ("ci" %in% show && !identical(x$options$ci, "none"))
    loc_word(loc, "ci", loc_plain(100 * x$options$level, loc)) else ""
  if (cat_block) {
    label <- first$label
    what <- loc_word(loc, switch(x$percent, col = "col_pct", row = "row_pct",
                                 total = "total_pct", none = "counts"))
  } else {
    label <- if (nrow(rows[rows$type == "cell", , drop = FALSE]) == 1L) rows$label[1L]
             else if (length(g) == 1L) num_var_title(first, loc)
             else loc_word(loc, "num_blocks")
    what <- ""
  }
  title <- list(label = label, layer = ly$title, what = what, weighted = wtd,
                mr = if (identical(first$kind, "mr")) loc_word(loc, "mr") else "", ci = ci_w)
  paren <- c(title$what, title$weighted, title$mr, title$ci)
  title$text <- paste0(label, if (nzchar(ly$title)) paste0("  [", ly$title, "]"),
                       if (any(nzchar(paren))) paste0("  (", paste(paren[nzchar(paren)], collapse = ", "), ")"))
  cells <- do.call(rbind, lapply(parts, function(p) p$cells[, intersect(names(p$cells),
                                 c("letters", "p_value", "statistic", "ndf", "ddf")), drop = FALSE]))
  cid <- do.call(rbind, lapply(parts, function(p) p$cid))
  cells$stat <- unlist(lapply(parts, function(p) rep(p$stat, nrow(p$cells))))
  # a block of numeric rows shows no counts (its bases are the base rows)
  # and always the estimate
  bshow <- if (!cat_block) show_stats[show_stats %in% c(setdiff(show, c("count", "weighted")), "pct")]
  # a block whose rows carry no letters (percents of a row-% table,
  # quantiles) has no letter columns and no letters in its header
  if (!has_letters && "letters" %in% (if (is.null(bshow)) show else bshow))
    bshow <- setdiff(if (is.null(bshow)) show else bshow, "letters")
  list(row_var = g[1L], row_vars = g, layer = ly$id, layer_title = ly$title, title = title,
       numeric = !cat_block, show = bshow, has_letters = has_letters,
       stub = if (!is.null(top)) list(base_n = loc_word(loc, "base_n"),
                                      base_w = if (x$weighted) loc_word(loc, "base_w"))
              else list(base_n = NULL, base_w = NULL),
       columns = columns, spans = spans,
       stat_labels = c(count = loc_word(loc, "head_count"), weighted = loc_word(loc, "head_weighted"),
                       pct = if (cat_block) loc_word(loc, "head_pct") else loc_word(loc, "estimate_axis"),
                       ci = loc_word(loc, "ci", loc_plain(100 * x$options$level, loc)), letters = ""),
       rows = rows, num = num, letters = lmat, small = small, low_deff = low_deff, str = str,
       notes = display_notes(x, cells, cid, columns, small, loc, show, mb, flag, has_letters,
                             low_deff, md))
}

# Notes under a block: the Rao-Scott test per column variable, the rule of
# the letters (z test of percents, t test of means and other statistics),
# and the small-base legend.
display_notes <- function(x, cells, cid, columns, small, loc, show, mb, flag, has_letters,
                          low_deff = FALSE, md = 0) {
  tests <- NULL
  if (!is.null(cells$p_value)) {
    keep <- cid$col_var != 1L & !is.na(cells$p_value)
    first <- which(keep & !duplicated(cid$col_var))
    first <- first[!duplicated(cid$col_var[first])]
    if (length(first)) {
      cc <- cells[first, , drop = FALSE]
      cv <- cid$col_var[first]
      dig <- loc$digits
      f <- identical(x$options$test, "F")
      text <- if (f) {
        loc_word(loc, "test_f", loc_num(cc$statistic, dig[["stat"]], loc),
                 loc_num(cc$ndf, dig[["df"]] + 1L, loc), loc_num(cc$ddf, dig[["df"]], loc),
                 loc_p(cc$p_value, loc))
      } else {
        loc_word(loc, "test_chisq", loc_num(cc$statistic, dig[["stat"]], loc),
                 loc_num(cc$ndf, 0L, loc), loc_p(cc$p_value, loc))
      }
      lab <- vapply(cv, function(j) x$cols[[j]]$label, "")
      tests <- new_df(list(col_var = cv, label = lab, statistic = cc$statistic, ndf = cc$ndf,
                           ddf = cc$ddf, p_value = cc$p_value, text = paste0(lab, ": ", text)))
    }
  }
  legend <- NULL
  if (has_letters && "letters" %in% show) {
    has <- !is.na(cells$letters) & nzchar(cells$letters)
    st <- if (is.null(cells$stat)) rep("pct", nrow(cells)) else cells$stat
    adj <- loc_word(loc, paste0("adjust_", x$options$adjust))
    alpha <- loc_plain(x$options$alpha, loc)
    if (any(has & st == "pct")) legend <- loc_word(loc, "letters_legend", alpha, adj)
    ns <- unique(st[has & st != "pct"])
    if (length(ns)) {
      what <- paste(vapply(ns, function(s) loc_word(loc, paste0("stat_", s)), ""), collapse = ", ")
      legend <- c(legend, loc_word(loc, "letters_legend_t", what, alpha, adj))
    }
  }
  sm <- NULL
  if (any(columns$small) || any(small))
    sm <- paste(flag, loc_word(loc, "small_base", loc_plain(mb, loc)))
  dn <- NULL
  if (any(low_deff) && any(c("ci", "pct") %in% show))
    dn <- paste(loc_word(loc, "low_deff_flag"), loc_word(loc, "low_deff", loc_plain(md, loc)))
  list(tests = tests, letters = legend, small = sm, deff = dn,
       lines = c(if (!is.null(tests)) tests$text, legend, sm, dn))
}

# ---- console -------------------------------------------------------------------

pad_right <- function(s, w) paste0(s, strrep(" ", pmax(0L, w - nchar(s, type = "width"))))
pad_left <- function(s, w) paste0(strrep(" ", pmax(0L, w - nchar(s, type = "width"))), s)
str_width <- function(s) if (length(s)) max(nchar(s, type = "width"), 0L) else 0L

# Cut a string to at most w display columns.
clip <- function(s, w) {
  if (nchar(s, type = "width") <= w) return(s)
  if (w <= 0L) return("")
  while (nchar(s, type = "width") > w) s <- substr(s, 1L, nchar(s) - 1L)
  s
}

# The cell strings of one banner column m of block b as the console shows
# them: the shown statistics side by side, each aligned within the column
# (numbers right, letters left), then the small-base flag.
console_column <- function(b, m, show, flag) {
  parts <- lapply(show, function(s) b$str[[s]][, m])
  names(parts) <- show
  any_flag <- any(b$small) || any(b$columns$small)
  out <- rep("", nrow(b$rows))
  for (s in show) {
    p <- parts[[s]]
    w <- str_width(p)
    if (w == 0L) next
    p <- if (s == "letters") pad_right(p, w) else pad_left(p, w)
    out <- if (all(!nzchar(out))) p else paste(out, p)
  }
  if (any_flag) out <- paste0(out, ifelse(b$small[, m], paste0(" ", flag),
                                           strrep(" ", nchar(flag, type = "width") + 1L)))
  out
}

# The lines of one block, wrapped into groups of banner columns that fit
# into `width` (the stub repeated; a spanner repeated over each group that
# holds columns of its variable, clipped to them).
console_block <- function(b, show, flag, width) {
  if (!is.null(b$show)) show <- b$show
  # nets (nets.R) are marked by a leading "+ ", a numeric row's own base
  # row is indented
  if (any(b$rows$net)) b$rows$label <- ifelse(b$rows$net, paste0("+ ", b$rows$label), b$rows$label)
  is_base <- b$rows$type == "base"
  if (any(is_base)) b$rows$label[is_base] <- paste0("  ", b$rows$label[is_base])
  body <- lapply(seq_len(nrow(b$columns)), function(m) console_column(b, m, show, flag))
  any_flag <- any(b$small) || any(b$columns$small)
  fl <- function(s, small) if (any_flag) paste0(s, ifelse(small, paste0(" ", flag),
                                                          strrep(" ", nchar(flag, type = "width") + 1L))) else s
  if (any(is_base)) for (m in seq_along(body))
    body[[m]][is_base] <- fl(b$str$base[is_base, m], b$small[is_base, m])
  base_n <- fl(b$columns$base_n_str, b$columns$small)
  base_w <- if (!is.null(b$stub$base_w)) fl(b$columns$base_w_str, b$columns$small)
  # headers end where the numbers end, before the flag slot
  header <- fl(b$columns$header, rep(FALSE, nrow(b$columns)))
  stub <- c("", "", b$stub$base_n, b$stub$base_w, b$rows$label)
  sw <- str_width(stub)
  cw <- vapply(seq_len(nrow(b$columns)), function(m)
    str_width(c(header[m], base_n[m], base_w[m], body[[m]])), 0L)
  gap <- 2L
  # a spanner wider than its columns widens its last column
  for (s in seq_len(nrow(b$spans))) {
    idx <- b$spans$first[s]:b$spans$last[s]
    need <- nchar(b$spans$label[s], type = "width") - (sum(cw[idx]) + gap * (length(idx) - 1L))
    if (need > 0L) cw[b$spans$last[s]] <- cw[b$spans$last[s]] + need
  }
  # groups of columns that fit
  groups <- list()
  cur <- integer()
  used <- sw
  for (m in seq_along(cw)) {
    if (length(cur) && used + gap + cw[m] > width) {
      groups[[length(groups) + 1L]] <- cur
      cur <- integer()
      used <- sw
    }
    cur <- c(cur, m)
    used <- used + gap + cw[m]
  }
  if (length(cur)) groups[[length(groups) + 1L]] <- cur
  out <- character()
  for (g in seq_along(groups)) {
    idx <- groups[[g]]
    # spanner line
    sp <- pad_right("", sw)
    runs <- rle(b$columns$col_var[idx])
    pos <- 1L
    for (r in seq_along(runs$lengths)) {
      cols <- idx[pos:(pos + runs$lengths[r] - 1L)]
      span_w <- sum(cw[cols]) + gap * (length(cols) - 1L)
      lab <- clip(b$columns$spanner[cols[1L]], span_w)
      sp <- paste0(sp, strrep(" ", gap), pad_right(lab, span_w))
      pos <- pos + runs$lengths[r]
    }
    line <- function(st, cells, left = FALSE) {
      paste0(pad_right(st, sw), paste0(strrep(" ", gap),
        if (left) pad_right(cells, cw[idx]) else pad_left(cells, cw[idx]), collapse = ""))
    }
    hdr <- line("", header[idx])
    body_lines <- vapply(seq_len(nrow(b$rows)), function(a)
      line(b$rows$label[a], vapply(idx, function(m) body[[m]][a], "")), "")
    # a rule above a mean-score row (its slot marked by NA until the
    # width is known)
    rule <- b$rows$rule
    if (any(rule)) {
      at <- which(rule)
      body_lines <- append_at(body_lines, at)
    }
    rows <- c(if (!is.null(b$stub$base_n)) line(b$stub$base_n, base_n[idx]),
              if (!is.null(base_w)) line(b$stub$base_w, base_w[idx]),
              body_lines)
    # no spanner line where the group holds only the Total column
    block <- sub("\\s+$", "", c(if (any(nzchar(b$columns$spanner[idx]))) sp, hdr))
    rows <- sub("\\s+$", "", rows)
    sep <- strrep("-", max(nchar(c(block, rows[!is.na(rows)]), type = "width")))
    rows[is.na(rows)] <- strrep("-", nchar(sep))
    if (g > 1L) out <- c(out, "")
    out <- c(out, block, sep, rows)
  }
  out
}

# Insert an NA before each position `at` of v.
append_at <- function(v, at) {
  out <- character()
  for (a in seq_along(v)) {
    if (a %in% at) out <- c(out, NA_character_)
    out <- c(out, v[a])
  }
  out
}

# Wrap a line at `width` (only when it is longer: it keeps its spacing
# otherwise), after `indent` spaces, the following lines after `exdent`.
wrap_line <- function(s, width, indent = 0L, exdent = 4L) {
  if (nchar(s, type = "width") + indent <= width) return(paste0(strrep(" ", indent), s))
  strwrap(s, width = width + 1L, indent = indent, exdent = exdent)
}

#' Print, format and summarise a table
#'
#' `print()` and `format()` show a [tab()] result as the analyst's banner:
#' one block per row variable (and `by` layer), the column variables side
#' by side under spanning headers, the bases on top, the test and letter
#' notes below. They speak the table's locale (see [tab_locale()]) and wrap
#' a banner wider than `width` into groups of columns, as
#' [print.data.frame()] does.
#'
#' @param x,object A `umfrage_tab` object.
#' @param locale Language and number format: `"en"`, `"de"` or a
#'   [tab_locale()] object; default the table's (`tab(locale =)`), else
#'   `getOption("umfrage.locale")`, else from `getOption("OutDec")`.
#' @param show What a cell shows: some of `"count"` (unweighted count),
#'   `"weighted"` (weighted count), `"pct"` (percent), `"ci"` (confidence
#'   interval) and `"letters"` (significance letters), in that order. Default
#'   the table's (`tab(show =)`), else the count (weighted count when
#'   weighted), the percent and the letters. `c("pct", "letters")` gives
#'   percent-only cells.
#' @param digits Digits per statistic, a named vector merged into the
#'   locale's (names as in [tab_locale()]: `pct`, `ci`, `count`,
#'   `weighted`, `stat`, `df`, `p`, ...); a single number is the digits of
#'   percents.
#' @param width Width of the console lines; a wider banner wraps into
#'   groups of columns, each under the repeated row labels.
#' @param ... Ignored.
#' @return `format()`: a character vector of lines; `print()`: `x`,
#'   invisibly; `summary()`: an object of class `summary.umfrage_tab` with
#'   the variables, the Total-column bases per row variable (and layer) and
#'   the locale.
#' @section Numeric rows and nets:
#' Numeric rows ([mean_of()], [total_of()], [ratio_of()], [score_of()],
#' quantiles) show their estimate in their own units with the digits of
#' their statistic (`digits` names `mean`, `total`, `ratio`, `score`,
#' `quantile`; see [tab_locale()]), never with a percent sign; `"ci"` adds
#' the interval in the same units; no counts. Consecutive numeric rows
#' stack into one block with one header, each row labelled in the locale's
#' words ("Mean of income", "income: Mittelwert"; a `label` given to the
#' row is used as it is). The block's base rows are the bases most of its
#' rows share; a row with other bases (missing values) gets its own
#' `Base (n)` row under it. A [score_of()] row that directly follows its
#' variable (its levels and nets) is shown inside that variable's block,
#' under the distribution and a rule, as "Mean score" (with its own base
#' row when fewer respondents have a score). Letters of numeric rows come
#' from t tests; the legend says so (a block with percents and means gives
#' both legends). Nets are marked by a leading `"+ "` in the console and
#' markdown and set bold in HTML, xlsx and Word.
#' @section Small bases:
#' A banner column whose unweighted base is below the table's threshold
#' (`x$options$min_base`, default 30) is flagged with the locale's
#' `small_flag` (`"*"`) next to its base, and so is every cell whose
#' percent base is below it; a note under the block says so.
#' @section Low design effects:
#' A weighted percent whose design effect (`deff`, see [tab()]) is far
#' below 1 usually means that the variance formula saw almost no variation
#' where most of the weight lies (e.g. no "yes" among the heavily weighted
#' respondents), so its interval is too narrow rather than precise. Cells
#' whose `deff` is below `getOption("umfrage.min_deff")` (default 0.5; 0
#' switches it off) carry the locale's `low_deff_flag` (a superscript one) after
#' their interval (after their percent when no interval is shown), in
#' print, HTML, markdown and [plot.umfrage_tab()] (a dashed interval), and
#' a note under the block says so.
#' @examples
#' d <- data.frame(sex = rep(c("f", "m"), 40),
#'                 vote = factor(rep(c("A", "B", "C", "A"), 20)))
#' t <- tab(d, "vote", cols = "sex")
#' print(t, locale = "de")
#' print(t, show = c("pct", "letters"), digits = 0)
#' format(t, width = 40)
#' summary(t)
#' @name print.umfrage_tab
#' @export
print.umfrage_tab <- function(x, locale = NULL, show = NULL, digits = NULL,
                              width = getOption("width"), ...) {
  cat(format(x, locale = locale, show = show, digits = digits, width = width), sep = "\n")
  invisible(x)
}

#' @rdname print.umfrage_tab
#' @export
format.umfrage_tab <- function(x, locale = NULL, show = NULL, digits = NULL,
                               width = getOption("width"), ...) {
  if (!is.numeric(width) || length(width) != 1L || is.na(width) || width < 10)
    stopf("'width' must be a number of at least 10, not %s", obj_desc_len(width))
  width <- as.integer(width)
  d <- tab_display(x, locale, show, digits)
  lines <- character()
  for (b in d$blocks) {
    lines <- c(lines, wrap_line(b$title$text, width, exdent = 2L),
               console_block(b, d$show, d$flag, width),
               unlist(lapply(b$notes$lines, wrap_line, width = width, indent = 2L)), "")
  }
  lines
}

# ---- summary -------------------------------------------------------------------

#' @rdname print.umfrage_tab
#' @export
summary.umfrage_tab <- function(object, locale = NULL, ...) {
  x <- object
  loc <- display_locale(x, locale)
  tot <- x$bases[x$base_id$col_var == 1L, , drop = FALSE]
  is_num <- vapply(x$rows, function(r) identical(r$kind, "numeric"), NA)
  structure(list(
    rows = vapply(x$rows, function(r) if (identical(r$kind, "numeric")) num_var_title(r, loc)
                  else r$label, ""),
    # what the cells are: the percent kind when a categorical row exists,
    # the numeric rows' statistics ("mean", "median", ...) in the locale
    stats = unique(vapply(x$rows[is_num], num_stat_word, "", loc = loc)),
    has_pct = any(!is_num),
    cols = vapply(x$cols[-1L], `[[`, "", "label"),
    by = vapply(x$by, `[[`, "", "label"),
    n_cells = nrow(x$cells), percent = x$percent, weighted = x$weighted, na = x$na,
    bases = tot[, c("row_var", vapply(x$by, `[[`, "", "column"), "base_n", "base_w", "base_eff")],
    skipped = x$skipped, min_base = min_base_of(x), locale = loc), class = "summary.umfrage_tab")
}

#' @export
print.summary.umfrage_tab <- function(x, ...) {
  loc <- if (is.null(x$locale)) resolve_locale() else x$locale
  what <- loc_word(loc, switch(x$percent, col = "col_pct", row = "row_pct",
                               total = "total_pct", none = "counts"))
  # numeric rows: their statistics, instead of the percent kind when no
  # categorical row exists (a summary of older objects: the percent kind)
  if (!is.null(x$has_pct)) what <- c(if (x$has_pct) what, x$stats)
  cat(loc_word(loc, "summary_head", loc_num(x$n_cells, 0L, loc),
                paste(c(what, if (x$weighted) loc_word(loc, "weighted"),
                        loc_word(loc, if (x$na == "drop") "na_dropped" else "na_level")),
                      collapse = ", ")), "\n", sep = "")
  cat(sprintf("  %s: %s\n", loc_word(loc, "rows_label"), paste(x$rows, collapse = "; ")))
  if (length(x$cols)) cat(sprintf("  %s: %s\n", loc_word(loc, "cols_label"), paste(x$cols, collapse = "; ")))
  if (length(x$by)) cat(sprintf("  %s: %s\n", loc_word(loc, "by_label"), paste(x$by, collapse = "; ")))
  cat(sprintf("\n%s:\n", loc_word(loc, "total")))
  b <- x$bases
  shown <- b[setdiff(names(b), c("base_n", "base_w", "base_eff"))]
  shown[[loc_word(loc, "base_n")]] <- loc_count(b$base_n, FALSE, loc)
  if (x$weighted) {
    shown[[loc_word(loc, "base_w")]] <- loc_count(b$base_w, TRUE, loc)
    shown[[loc_word(loc, "base_eff")]] <- loc_num(b$base_eff, 1L, loc)
  }
  print(new_df(unclass(shown)), row.names = FALSE, right = TRUE)
  if (any(x$skipped[, -1L] > 0)) {
    cat("\n", loc_word(loc, "skipped"), "\n", sep = "")
    sk <- x$skipped
    for (j in names(sk)[-1L]) sk[[j]] <- loc_count(sk[[j]], FALSE, loc)
    print(sk, row.names = FALSE)
  }
  invisible(x)
}

# ---- HTML and markdown -------------------------------------------------------------

html_escape <- function(s) {
  s <- gsub("&", "&amp;", s, fixed = TRUE)
  s <- gsub("<", "&lt;", s, fixed = TRUE)
  s <- gsub(">", "&gt;", s, fixed = TRUE)
  gsub("\"", "&quot;", s, fixed = TRUE)
}

html_counter <- new.env(parent = emptyenv())

# A fresh id for a table's wrapper (its <style> is scoped to it).
html_id <- function() {
  n <- if (is.null(html_counter$n)) 1L else html_counter$n + 1L
  html_counter$n <- n
  # a token per session (not from the RNG: knitting must not change the
  # user's random numbers), so that tables of two sessions on one page differ
  if (is.null(html_counter$token))
    html_counter$token <- sprintf("%x", as.integer((as.numeric(Sys.time()) * 1000) %% 2^30) + Sys.getpid())
  sprintf("umfrage-tab-%s-%d", html_counter$token, n)
}

# The stylesheet of one table, every rule scoped by its id: a report table
# (thin rules, no vertical lines, right-aligned numbers in tabular
# figures, the bases in grey italics, notes small under the table).
html_style <- function(id) {
  s <- "#ID{margin:1em 0 1.5em 0;max-width:100%;overflow-x:auto;font-family:Arial,'Helvetica Neue',Helvetica,sans-serif;font-size:13px;color:#1a1a1a}
#ID table{border-collapse:collapse;border-top:2px solid #1a1a1a;border-bottom:2px solid #1a1a1a;margin:0;width:auto}
#ID caption{caption-side:top;text-align:left;font-weight:bold;font-size:14px;padding:0 0 6px 0;color:#1a1a1a}
#ID th,#ID td{padding:3px 6px;vertical-align:bottom;border:none;background:none}
#ID thead th{font-weight:bold;background:#eef1f5}
#ID thead th.umf-span{text-align:center;border-bottom:1px solid #8a96a8}
#ID thead th.umf-lev{text-align:center;font-weight:normal}
#ID thead th.umf-stat{text-align:right;font-weight:normal;font-size:11px;color:#333}
#ID thead th.umf-stat.umf-first{padding-left:16px}
#ID thead tr:last-child th{border-bottom:1px solid #1a1a1a}
#ID th.umf-stub{text-align:left;font-weight:normal}
#ID tbody th{text-align:left;font-weight:normal;padding-right:14px;white-space:nowrap}
#ID td.umf-num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
#ID td.umf-let{text-align:left;color:#1f4e9c;font-weight:bold;font-size:11px;white-space:nowrap;padding-left:2px}
#ID td.umf-first{padding-left:16px}
#ID tr.umf-base th,#ID tr.umf-base td{font-style:italic;color:#555;background:#f6f7f9}
#ID tr.umf-base-last th,#ID tr.umf-base-last td{border-bottom:1px solid #8a96a8}
#ID tbody tr.umf-row:nth-child(even) th,#ID tbody tr.umf-row:nth-child(even) td{background:#fafbfc}
#ID tbody tr.umf-net th,#ID tbody tr.umf-net td{font-weight:bold}
#ID tbody tr.umf-rule th,#ID tbody tr.umf-rule td{border-top:1px solid #8a96a8}
#ID tr.umf-own-base th,#ID tr.umf-own-base td{font-size:11px;background:none;padding-top:0}
#ID tr.umf-own-base th{padding-left:14px}
#ID .umf-flag{color:#b3261e;font-weight:bold}
#ID .umf-notes{font-size:11px;color:#333;margin:4px 0 0 0;padding:0;list-style:none}
#ID .umf-notes li{margin:1px 0;list-style:none}
#ID .umf-source{font-size:11px;color:#333;margin:6px 0 0 0}"
  paste0("<style>\n", gsub("#ID", paste0("#", id), s, fixed = TRUE), "\n</style>")
}

# The <table> of one display block: spanning headers per column variable,
# one cell per shown statistic (numbers right-aligned, letters in their
# own cell), the base rows, the small-base flags.
html_table <- function(b, show, flag) {
  if (!is.null(b$show)) show <- b$show
  num_show <- setdiff(show, "letters")
  k <- length(show)
  fl <- function(small) ifelse(small, paste0("<sup class=\"umf-flag\">", html_escape(flag), "</sup>"), "")
  cols <- b$columns
  # a header row naming the statistics when a cell shows several numbers
  stat_row <- length(num_show) > 1L
  # header: Total spans both header rows; column variables span their levels
  th1 <- sprintf("<th class=\"umf-stub\" rowspan=\"%d\"></th>", if (stat_row) 3L else 2L)
  th2 <- character()
  for (s in seq_len(nrow(b$spans))) {
    idx <- b$spans$first[s]:b$spans$last[s]
    if (b$spans$col_var[s] == 1L) {
      th1 <- c(th1, sprintf("<th class=\"umf-lev\" rowspan=\"2\" colspan=\"%d\">%s</th>",
                            k * length(idx), html_escape(cols$level[idx[1L]])))
    } else {
      th1 <- c(th1, sprintf("<th class=\"umf-span\" colspan=\"%d\">%s</th>", k * length(idx),
                            html_escape(b$spans$label[s])))
      th2 <- c(th2, sprintf("<th class=\"umf-lev\" colspan=\"%d\">%s%s</th>", k,
                            html_escape(cols$level[idx]),
                            ifelse(nzchar(cols$letter[idx]) & "letters" %in% show,
                                   paste0(" (", html_escape(cols$letter[idx]), ")"), "")))
    }
  }
  first <- function(m) if (m) " umf-first" else ""
  base_row <- function(label, v, last) {
    paste0("<tr class=\"umf-base", if (last) " umf-base-last", "\"><th scope=\"row\">", html_escape(label), "</th>",
           paste0(sprintf("<td class=\"umf-num umf-first\" colspan=\"%d\">%s%s</td>", k,
                          html_escape(v), fl(cols$small)), collapse = ""), "</tr>")
  }
  wtd <- !is.null(b$stub$base_w)
  rows <- c(if (!is.null(b$stub$base_n)) base_row(b$stub$base_n, cols$base_n_str, !wtd),
            if (wtd) base_row(b$stub$base_w, cols$base_w_str, TRUE))
  for (a in seq_len(nrow(b$rows))) {
    if (identical(b$rows$type[a], "base")) {
      # a numeric row's own base, under it
      rows <- c(rows, paste0("<tr class=\"umf-base umf-own-base\"><th scope=\"row\">",
                             html_escape(b$rows$label[a]), "</th>",
                             paste0(sprintf("<td class=\"umf-num umf-first\" colspan=\"%d\">%s%s</td>", k,
                                            html_escape(b$str$base[a, ]), fl(b$small[a, ])), collapse = ""),
                             "</tr>"))
      next
    }
    tds <- character()
    for (m in seq_len(nrow(cols))) {
      for (s in show) {
        v <- b$str[[s]][a, m]
        cl <- if (s == "letters") "umf-let" else "umf-num"
        if (s != "letters" && s == num_show[length(num_show)]) v <- paste0(html_escape(v), fl(b$small[a, m]))
        else v <- html_escape(v)
        tds <- c(tds, sprintf("<td class=\"%s%s\">%s</td>", cl, first(s == show[1L]), v))
      }
    }
    rows <- c(rows, paste0("<tr class=\"umf-row", if (isTRUE(b$rows$net[a])) " umf-net",
                           if (isTRUE(b$rows$rule[a])) " umf-rule",
                           if (!identical(b$rows$stat[a], "pct")) " umf-stat-row",
                           "\"><th scope=\"row\">", html_escape(b$rows$label[a]),
                           "</th>", paste(tds, collapse = ""), "</tr>"))
  }
  th3 <- if (stat_row) {
    lab <- b$stat_labels
    one <- paste0(sprintf("<th class=\"umf-stat%s\">%s</th>", ifelse(show == show[1L], " umf-first", ""),
                          html_escape(unname(lab[show]))), collapse = "")
    paste0("\n<tr>", strrep(one, nrow(cols)), "</tr>")
  } else ""
  paste0("<table>\n<caption>", html_escape(b$title$text), "</caption>\n<thead>\n<tr>",
         paste(th1, collapse = ""), "</tr>\n<tr>", paste(th2, collapse = ""), "</tr>", th3,
         "\n</thead>\n<tbody>\n",
         paste(rows, collapse = "\n"), "\n</tbody>\n</table>")
}

# One block as self-contained HTML: a wrapper with a unique id, its scoped
# stylesheet, the table, the notes, the source line.
html_block <- function(b, show, flag, source = NULL) {
  id <- html_id()
  notes <- if (length(b$notes$lines))
    paste0("<ul class=\"umf-notes\">", paste0("<li>", html_escape(b$notes$lines), "</li>", collapse = ""), "</ul>")
  src <- if (length(source)) paste0("<p class=\"umf-source\">", html_escape(source), "</p>")
  paste0("<div class=\"umfrage-tab\" id=\"", id, "\">\n", html_style(id), "\n",
         html_table(b, show, flag), "\n", notes, if (length(src)) "\n", src, "\n</div>")
}

# Titles of the blocks of a display from the call's `title`: one per block,
# or one for all (followed, when there are several blocks, by each block's
# own title); NULL keeps the blocks' own.
block_titles <- function(title, d) {
  if (is.null(title)) return(NULL)
  nb <- length(d$blocks)
  if (!is.character(title) || anyNA(title) || !(length(title) %in% c(1L, nb)))
    stopf("'title' must be one string or one per table (%d), not %s", nb, obj_desc_len(title))
  if (length(title) == nb) return(title)
  if (nb == 1L) return(title)
  paste0(title, " \u2013 ", vapply(d$blocks, function(b) b$title$text, ""))
}

# The source line: the locale's word ("Source:", "Quelle:") and the text
# (unless the text already starts with it, in any case). knit_print(),
# plot(), autoplot(), tab_xlsx() and as_flextable() all use it.
source_line <- function(source, loc) {
  if (is.null(source)) return(NULL)
  if (!is.character(source) || length(source) != 1L || is.na(source))
    stopf("'source' must be a single string (e.g. \"own survey, n = 206\"), not %s",
          obj_desc_len(source))
  word <- paste0(loc_word(loc, "source"), ":")
  if (startsWith(tolower(source), tolower(word))) source else paste(word, source)
}

# The HTML <table> of row variable i in layer k (for tests and exporters).
tab_block_html <- function(x, i, k, title = NULL, locale = NULL, show = NULL, digits = NULL) {
  d <- tab_display(x, locale, show, digits)
  b <- Filter(function(b) b$row_var == i && b$layer == k, d$blocks)[[1L]]
  if (!is.null(title)) b$title$text <- title
  html_table(b, d$show, d$flag)
}

# The display strings of one block as a data frame: the stub, then one
# column per banner column ("<variable>: <level>"), the shown statistics
# joined by spaces; the base rows first.
display_strings <- function(b, show, flag) {
  if (!is.null(b$show)) show <- b$show
  cols <- b$columns
  hdr <- ifelse(nzchar(cols$spanner), paste0(cols$spanner, ": ", cols$header), cols$header)
  fl <- function(v, small) ifelse(small, paste0(v, " ", flag), v)
  cellstr <- vapply(seq_len(nrow(cols)), function(m) {
    p <- vapply(show, function(s) b$str[[s]][, m], character(nrow(b$rows)))
    p <- matrix(p, nrow(b$rows))
    v <- apply(p, 1L, function(r) paste(r[nzchar(r)], collapse = " "))
    v <- ifelse(b$rows$type == "base", b$str$base[, m], v)
    fl(v, b$small[, m])
  }, character(nrow(b$rows)))
  cellstr <- matrix(cellstr, nrow(b$rows))
  base <- rbind(if (!is.null(b$stub$base_n)) fl(cols$base_n_str, cols$small),
                if (!is.null(b$stub$base_w)) fl(cols$base_w_str, cols$small))
  m <- rbind(base, cellstr)
  lab <- b$rows$label
  if (any(b$rows$net)) lab <- ifelse(b$rows$net, paste0("+ ", lab), lab)
  out <- data.frame(c(b$stub$base_n, b$stub$base_w, lab), m,
                    stringsAsFactors = FALSE, check.names = FALSE)
  names(out) <- c(" ", make_distinct(hdr))
  out
}

#' Render a table in R Markdown
#'
#' `knit_print()` method for [tab()] results. Knitting to HTML it gives one
#' self-contained styled table per block (row variable and layer): a
#' caption, spanning headers per column variable, right-aligned numbers,
#' one cell per shown statistic (so values and letters never run
#' together), the bases in their own rows, small-base flags, and the notes
#' (tests, letter legend, small-base legend) under it. Its stylesheet is
#' scoped to the table's own id, so several tables on one page keep their
#' look and leave the rest of the page alone. Other outputs (PDF, Word,
#' GitHub markdown) get a markdown pipe table (`knitr::kable()`) of the
#' same strings with the notes below. Registered only when knitr is
#' loaded, so knitr stays optional.
#'
#' For a report, give each table a `title` (e.g. numbered with
#' [tab_caption()]: "Tabelle 3: ...") and a `source` line; called
#' explicitly in a chunk: `knitr::knit_print(x, title = ..., source = ...)`.
#' Cells whose design effect is implausibly small carry a flag (see
#' [print.umfrage_tab()], section "Low design effects").
#'
#' @param x A `umfrage_tab` object.
#' @param locale,show,digits As in [print.umfrage_tab()].
#' @param title The table's title, instead of the one made from the row
#'   variable's label: one string per block (row variable and layer), or
#'   one for all (several blocks then add their own title after it).
#' @param source A source line under the table and its notes, one string;
#'   the locale's word is put before it ("Quelle: ...").
#' @param ... Ignored.
#' @return A `knit_asis` character string.
#' @keywords internal
#' @exportS3Method knitr::knit_print
knit_print.umfrage_tab <- function(x, locale = NULL, show = NULL, digits = NULL,
                                   title = NULL, source = NULL, ...) {
  html <- isTRUE(tryCatch(knitr::is_html_output(), error = function(e) FALSE))
  d <- tab_display(x, locale, show, digits)
  titles <- block_titles(title, d)
  src <- source_line(source, d$locale)
  for (k in seq_along(titles)) d$blocks[[k]]$title$text <- titles[k]
  out <- vapply(d$blocks, function(b) {
    if (html) return(html_block(b, d$show, d$flag, src))
    s <- display_strings(b, d$show, d$flag)
    md <- knitr::kable(s, format = "pipe", caption = b$title$text, row.names = FALSE,
                       align = c("l", rep("r", ncol(s) - 1L)))
    paste(c(md, "", if (length(c(b$notes$lines, src))) paste(c(b$notes$lines, src), collapse = "  \n")),
          collapse = "\n")
  }, "")
  # HTML goes to pandoc as a raw block, so that nothing in it is read as
  # markdown (a note starting with the "*" flag would become a list item,
  # two flags in a line emphasis)
  if (html) knitr::raw_html(paste(out, collapse = "\n")) else
    knitr::asis_output(paste(out, collapse = "\n\n"))
}

# ---- data frames -------------------------------------------------------------------

#' Tables as data frames
#'
#' `as.data.frame()` of a [tab()] result gives the long form (one row per
#' cell, every statistic in its own column) or, with `layout = "wide"`, the
#' banner as the analyst sees it.
#'
#' @section Long form:
#' One row per cell: `row_var`, `row`, `col_var`, `col`, one column per `by`
#' variable, the statistics (see [tab()]), then `row_var_label` and
#' `col_var_label` (the display labels of the row and column variable).
#' `row` and `col` are factors whose levels are the levels of the
#' variables in their order (row variables, then column variables, one
#' after the other; a level that two variables share is listed once, where
#' it first occurs; a row variable's levels in the order shown, with nets
#' and `tab(sort =)`), so sorting and plotting keep the table's order;
#' `x$row == "a"` compares as with strings. `stringsAsFactors = FALSE` gives
#' them as strings.
#'
#' @section Wide form:
#' One row per layer x row variable x row (in the order of `print()`),
#' preceded per block by its base rows: columns `row_var` (name),
#' `row_var_label`, the `by` columns, `row` (the row's label, or the base
#' row's label from the locale), `type` (`"base_n"`, `"base_w"` or
#' `"cell"`), `stat` (what a cell row holds: `"pct"`, or a numeric row's
#' `"mean"`, `"total"`, `"ratio"`, `"score"`, `"quantile"`; `NA` for base
#' rows), then per banner column and shown statistic one column. These
#' are named `"<column variable>: <level>"` (the Total column:
#' `"Total"`, in the locale's word), followed by `" [<statistic>]"` unless
#' exactly one number is shown: `pct` (percents, numbers), `count`,
#' `weighted`, `ci_low`, `ci_high` (for `"ci"`), and `letters` (strings,
#' always with the suffix `" [letters]"`). Numbers are numbers, not
#' strings. A base row holds the base in each numeric column of its banner
#' column (`NA` in `ci_low`/`ci_high`).
#' Numeric rows (see [mean_of()]) hold their estimate where the percent
#' stands (the `pct` column, or the only number column) and their interval
#' ends in `ci_low`/`ci_high`, in their own units; a numeric row whose bases
#' differ from its block's has its own `"base_n"` row under it (the n in the
#' first number column). Attribute `"columns"` describes the
#' banner columns (`name`, `col_var`, `spanner`, `level`, `stat`, `small`).
#' Default `show` is the percent and the letters (the count where there
#' are no percents).
#'
#' @param x A `umfrage_tab` object.
#' @param row.names,optional Ignored.
#' @param layout `"long"` (the default) or `"wide"`.
#' @param show The statistics of the wide form (see [print.umfrage_tab()]).
#' @param locale The words of the wide form's labels (`"Total"`, `"Base
#'   (n)"`).
#' @param stringsAsFactors Long form: `row` and `col` as factors (the
#'   default) or strings.
#' @param ... Ignored.
#' @return A data frame.
#' @examples
#' d <- data.frame(sex = rep(c("f", "m"), 40),
#'                 vote = factor(rep(c("A", "B", "C", "A"), 20)))
#' t <- tab(d, "vote", cols = "sex")
#' head(as.data.frame(t))
#' as.data.frame(t, layout = "wide")
#' @export
as.data.frame.umfrage_tab <- function(x, row.names = NULL, optional = FALSE,
                                      layout = c("long", "wide"), show = NULL, locale = NULL,
                                      stringsAsFactors = TRUE, ...) {
  layout <- match.arg(layout)
  if (layout == "wide") return(tab_wide(x, show, locale))
  check_flag(stringsAsFactors, "stringsAsFactors")
  out <- x$cells
  rlab <- vapply(x$rows, `[[`, "", "label")
  clab <- vapply(x$cols, `[[`, "", "label")
  if (stringsAsFactors) {
    # in the order shown (nets and sorting: x$rows[[i]]$order)
    out$row <- factor(out$row, levels = unique(unlist(lapply(x$rows, function(r)
      if (is.null(r$order)) r$levels else r$levels[r$order]))))
    out$col <- factor(out$col, levels = unique(unlist(lapply(x$cols, `[[`, "levels"))))
  }
  out$row_var_label <- rlab[x$cell_id$row_var]
  out$col_var_label <- clab[x$cell_id$col_var]
  out
}

tab_wide <- function(x, show = NULL, locale = NULL) {
  if (is.null(show)) {
    show <- c(if (x$percent == "none") (if (x$weighted) "weighted" else "count") else "pct",
              if (tab_has_letters(x)) "letters")
  }
  d <- tab_display(x, locale, show, NULL)
  show <- d$show
  stats <- unlist(lapply(show, function(s) if (s == "ci") c("ci_low", "ci_high") else s))
  nums <- setdiff(stats, "letters")
  bycols <- vapply(x$by, `[[`, "", "column")
  parts <- lapply(d$blocks, function(b) {
    cols <- b$columns
    base_name <- ifelse(nzchar(cols$spanner), paste0(cols$spanner, ": ", cols$level), cols$level)
    nb <- length(c(b$stub$base_n, b$stub$base_w))
    nr <- nrow(b$rows)
    n <- nb + nr
    lay <- if (length(x$by)) x$layers[b$layer, , drop = FALSE] else NULL
    rvi <- c(rep(b$row_var, nb), b$rows$row_var)
    out <- list(row_var = vapply(rvi, function(i) x$rows[[i]]$name, ""),
                row_var_label = vapply(rvi, function(i) x$rows[[i]]$label, ""))
    for (bc in bycols) out[[bc]] <- rep(lay[[bc]], n)
    own <- b$rows$type == "base"
    out$row <- c(b$stub$base_n, b$stub$base_w, b$rows$label)
    out$type <- c(if (nb) "base_n", if (nb == 2L) "base_w", ifelse(own, "base_n", "cell"))
    # the statistic of a cell row: "pct" (percents, or counts without
    # percents), or a numeric row's ("mean", "total", ...)
    out$stat <- c(rep(NA_character_, nb), ifelse(own, NA_character_, b$rows$stat))
    meta <- list()
    for (m in seq_len(nrow(cols))) for (s in stats) {
      if (s == "letters" && cols$col_var[m] == 1L) next  # the Total column has none
      nm <- if (s == "letters" || length(nums) > 1L) paste0(base_name[m], " [", s, "]") else base_name[m]
      first_num <- s == nums[1L]
      base <- if (!first_num) rep(if (s == "letters") "" else NA_real_, nb)
              else c(cols$base_n[m], if (nb == 2L) cols$base_w[m])[seq_len(nb)]
      # numeric rows: the estimate where the percent stands
      pv <- ifelse(b$rows$stat == "pct", b$num$pct[, m], b$num$estimate[, m])
      v <- switch(s, count = b$num$n[, m], weighted = b$num$n_w[, m], pct = pv,
                  ci_low = b$num$ci_low[, m], ci_high = b$num$ci_high[, m], letters = b$letters[, m])
      if (!"pct" %in% nums && s == nums[1L] && any(b$rows$stat != "pct" & !own))
        v <- ifelse(b$rows$stat != "pct" & !own, b$num$estimate[, m], v)
      # a numeric row's own base row: its n in the first number column
      v[own] <- if (first_num) b$num$n[own, m] else if (s == "letters") "" else NA
      out[[nm]] <- c(base, v)
      meta[[length(meta) + 1L]] <- list(name = nm, col_var = cols$col_var[m], spanner = cols$spanner[m],
                                        level = cols$level[m], stat = s, small = cols$small[m])
    }
    list(df = out, meta = meta)
  })
  # the banner is the same in every block, unless a "(missing)" column
  # shows only in some: fill those with NA
  all_names <- unique(unlist(lapply(parts, function(p) names(p$df))))
  dfs <- lapply(parts, function(p) {
    n <- length(p$df$row)
    for (nm in setdiff(all_names, names(p$df))) p$df[[nm]] <- if (grepl(" \\[letters\\]$", nm)) rep("", n) else rep(NA_real_, n)
    p$df[all_names]
  })
  out <- new_df(rbind_cols(dfs))
  meta <- unlist(lapply(parts, `[[`, "meta"), recursive = FALSE)
  meta <- meta[!duplicated(vapply(meta, `[[`, "", "name"))]
  attr(out, "columns") <- new_df(list(
    name = vapply(meta, `[[`, "", "name"), col_var = vapply(meta, `[[`, 1L, "col_var"),
    spanner = vapply(meta, `[[`, "", "spanner"), level = vapply(meta, `[[`, "", "level"),
    stat = vapply(meta, `[[`, "", "stat"), small = vapply(meta, `[[`, NA, "small")))
  out
}
