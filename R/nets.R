#' Nets: combined levels shown as extra rows
#'
#' `nets()` names groups of levels of a categorical row variable (a top-2
#' box, a bottom-2 box, any grouping) or groups of items of an [mr_set()]
#' ("any of these"). Given as a row of [tab()] (`rows = list(nets(...),
#' ...)`), each net is an extra row of that variable's block, with its own
#' counts, percent, standard error, interval, design effect and letters. A
#' respondent counts once in a net, however many of its levels or items
#' apply.
#'
#' A net of a single variable is the set of respondents whose answer is one
#' of its levels; its base is the variable's base (respondents with a valid
#' answer; with `na = "level"` also those with a missing one). So a net
#' "Top 2" has the counts, percents and inference of the level "Top 2" of
#' the variable recoded to `c("Top 2", <the other levels>)`. A net of an MR
#' set counts the respondents who chose at least one of its items; its base
#' is the set's.
#'
#' In the computation, a variable with nets is a multiple-response block
#' whose items are its levels and its nets (the nets overlap the levels), so
#' the covariances, the letters and the small-base rule are those of MR
#' blocks. The Rao-Scott test of a single variable with nets is the test of
#' the variable itself (its levels, without the nets).
#'
#' The levels keep their identity: in `x$cell_id` the variable's level `k`
#' keeps the index `k` (`x$cell_id$row`), the nets follow (indices after
#' the levels, in the order given), and the logical column `net` of the
#' long form (`as.data.frame()`) marks the nets' cells. `x$rows[[i]]$levels` holds
#' the levels, then the nets; `x$rows[[i]]$net` says which are nets;
#' `x$rows[[i]]$order` the order in which they are shown (nets first with
#' `.position = "top"`, last with `"bottom"`; see also `sort` in [tab()]).
#' Printed, a net's label is preceded by `"+ "`; in HTML its row is bold
#' (class `umf-net`).
#'
#' @param .var The variable: a column name, a one-sided formula naming one
#'   column, or an [mr_set()].
#' @param ... The nets, each `name = levels`: the levels (of a single
#'   variable: its level labels as [tab()] shows them, i.e. factor levels,
#'   value labels of labelled columns, the values of character columns; the
#'   values of numeric columns and of labelled columns may also be given as
#'   numbers) or the items (of an MR set: its item labels). The names must
#'   be distinct and differ from the variable's levels.
#' @param .position `"top"` (the default) or `"bottom"`: where the nets are
#'   shown in the variable's block.
#' @return An object of class `umfrage_nets`, a row specification for
#'   [tab()].
#' @seealso [tab()], [mr_set()].
#' @examples
#' d <- data.frame(q1 = factor(c("bad", "ok", "good", "very good", "good", "bad"),
#'                             levels = c("bad", "ok", "good", "very good")),
#'                 sex = c("f", "m", "f", "m", "f", "m"))
#' tab(d, nets("q1", "Top 2" = c("good", "very good"), "Bottom 2" = c("bad", "ok")),
#'     cols = "sex")
#' # sorted by the Total column, nets stay on top
#' tab(d, list(nets("q1", "Top 2" = c("good", "very good"))), sort = "desc")
#' @export
nets <- function(.var, ..., .position = c("top", "bottom")) {
  if (missing(.var)) stopf("nets() needs a variable: a column name or an mr_set()")
  .position <- match.arg(.position)
  var <- .var
  if (inherits(var, "umfrage_nets"))
    stopf("nets() takes a column name or an mr_set(), not another nets()")
  if (inherits(var, "umfrage_numrow") || is.list(var) && !inherits(var, "umfrage_mrset") &&
      !is.null(var$stat))
    stopf("nets() combine the levels of a categorical variable or the items of an MR set; a numeric row (%s) has no levels to combine",
          class(var)[length(class(var))])
  if (inherits(var, "formula")) {
    v <- all.vars(var)
    if (length(var) != 2L || length(v) != 1L)
      stopf("nets(): '.var' as a formula must be one-sided and name one column, like ~ q1")
    var <- v
  }
  if (!inherits(var, "umfrage_mrset") &&
      !(is.character(var) && length(var) == 1L && !is.na(var) && nzchar(var)))
    stopf("nets(): '.var' must be a column name, a one-sided formula or an mr_set(), not %s",
          obj_desc(var))
  vname <- if (is.character(var)) var else var$label
  groups <- list(...)
  if (!length(groups))
    stopf("nets() of %s defines no net; give named groups of levels, e.g. \"Top 2\" = c(\"agree\", \"strongly agree\")",
          q(vname))
  nm <- names(groups)
  if (is.null(nm) || anyNA(nm) || any(!nzchar(nm)))
    stopf("nets() of %s: every net needs a name, as in \"Top 2\" = c(...)", q(vname))
  if (anyDuplicated(nm))
    stopf("nets() of %s: net names must be distinct; %s appears twice", q(vname),
          qlist(unique(nm[duplicated(nm)])))
  for (k in seq_along(groups)) {
    g <- groups[[k]]
    if (is.factor(g)) g <- as.character(g)
    if (!(is.character(g) || is.numeric(g) || is.logical(g)) || is.object(g) && !is.factor(groups[[k]]))
      stopf("nets() of %s: net %s must be a vector of levels, not %s", q(vname), q(nm[k]), obj_desc(g))
    if (!length(g))
      stopf("nets() of %s: net %s is empty; give the levels it combines", q(vname), q(nm[k]))
    if (anyNA(g))
      stopf("nets() of %s: net %s holds NA; give levels (missing values form no level of a net)",
            q(vname), q(nm[k]))
    if (anyDuplicated(g))
      stopf("nets() of %s: net %s names level(s) twice: %s", q(vname), q(nm[k]),
            qlist(unique(as.character(g[duplicated(g)]))))
    groups[[k]] <- g
  }
  structure(list(var = var, nets = groups, position = .position), class = "umfrage_nets")
}

#' @export
print.umfrage_nets <- function(x, ...) {
  vname <- if (is.character(x$var)) x$var else x$var$label
  cat(sprintf("<umfrage_nets> %d net(s) of %s%s, shown at the %s\n", length(x$nets), q(vname),
              if (inherits(x$var, "umfrage_mrset")) " (MR set)" else "", x$position))
  for (k in seq_along(x$nets))
    cat(sprintf("  %s = %s\n", names(x$nets)[k], paste(as.character(x$nets[[k]]), collapse = ", ")))
  invisible(x)
}

# Code a nets() row spec for the C kernel: a category MR block whose items
# are the variable's levels (indices as tab_var() gives them, the "(missing)"
# level included with na = "level"), then the nets. Each row's answer is in
# the first column(s); a net's column holds the net's code where the row
# answers one of its levels or items, else NA (a category set counts a code
# once per row, so a respondent counts once per net). The base is as the
# plain variable's: with a single variable, rows with a valid answer (with
# na = "level", every row), as a category set with base "answered" reads
# them (a row with no code is out of the base).
tab_var_nets <- function(s, data, na, arg) {
  if (arg != "rows")
    stopf("'%s' holds nets(); nets are extra rows of a row variable: give them in 'rows'", arg)
  v <- s$var
  if (inherits(v, "umfrage_mrset")) return(nets_mr(s, data, arg))
  if (!v %in% names(data)) stopf("'%s' names column(s) not in 'x': %s", arg, qlist(v))
  plain <- tab_var(v, data, na, arg)
  codes <- plain$desc[[3L]][[1L]]      # the level codes (NA: missing)
  nlev0 <- length(plain$levels)        # the levels, "(missing)" included
  L <- if (identical(plain$levels, "(none)")) 0L else nlev0 - (na == "level")
  cl <- list(levels = plain$levels[seq_len(L)])
  idx <- lapply(seq_along(s$nets), function(k)
    net_levels(s$nets[[k]], names(s$nets)[k], data_col(data, v, "x"), cl, v))
  codes <- as.integer(unclass(codes))
  attributes(codes) <- NULL
  if (na == "level") codes[is.na(codes)] <- L + 1L
  netcols <- lapply(seq_along(idx), function(k) {
    nc <- rep(NA_integer_, length(codes))
    nc[codes %in% idx[[k]]] <- nlev0 + k
    nc
  })
  nn <- names(s$nets)
  clash <- intersect(nn, plain$levels)
  if (length(clash))
    stopf("nets() of %s: net name(s) %s are levels of the variable; give nets names of their own",
          q(v), qlist(clash))
  levels <- c(plain$levels, nn)
  K <- length(levels)
  net <- c(rep(FALSE, nlev0), rep(TRUE, length(nn)))
  order <- if (s$position == "top") c(nlev0 + seq_along(nn), seq_len(nlev0)) else seq_len(K)
  list(name = plain$name, label = plain$label, levels = levels, kind = "mr", mr_type = "nets",
       desc = list(2L, as.integer(K), c(list(codes), netcols), 0L, 0L),
       net = net, order = order, position = s$position, plain = plain, nets_of = "single",
       na_index = if (na == "level") L + 1L else NA_integer_)
}

# The level indices of one net of a single variable (error naming unknown
# levels).
net_levels <- function(g, name, x, cl, v) {
  if (is.numeric(g) || is.logical(g)) {
    vals <- if (is_labelled(x)) {
      labs <- attr(x, "labels")
      u <- unclass(x)
      attributes(u) <- NULL
      c(unname(labs), sort(unique(u[!is.na(u) & !(u %in% labs)])))
    } else if (is.logical(x)) c(FALSE, TRUE)
    else if (is.numeric(x) && !is.object(x)) sort(unique(x[!is.na(x)]))
    else NULL
    if (is.null(vals))
      stopf("nets() of %s: net %s gives numbers, but %s is %s; name its levels as strings (%s)",
            q(v), q(name), q(v), obj_desc(x), qlist(cl$levels))
    i <- match(g, vals)
    if (anyNA(i))
      stopf("nets() of %s: net %s names value(s) that are not values of %s: %s", q(v), q(name),
            q(v), qlist(as.character(g[is.na(i)])))
    return(i)
  }
  i <- match(g, cl$levels)
  if (anyNA(i))
    stopf("nets() of %s: net %s names level(s) that %s does not have: %s (its levels: %s)",
          q(v), q(name), q(v), qlist(g[is.na(i)]), qlist(cl$levels))
  i
}

# nets() of an MR set: the set's items, then one item per net (the OR of its
# items), with the set's base.
nets_mr <- function(s, data, arg) {
  set <- s$var
  mr <- tab_var_mr(set, data, arg)
  items <- mr$levels
  nn <- names(s$nets)
  idx <- lapply(seq_along(s$nets), function(k) {
    g <- s$nets[[k]]
    if (!is.character(g))
      stopf("nets() of MR set %s: net %s must name items of the set (strings), not %s",
            q(set$label), q(nn[k]), obj_desc(g))
    i <- match(g, items)
    if (anyNA(i))
      stopf("nets() of MR set %s: net %s names item(s) that the set does not have: %s (its items: %s)",
            q(set$label), q(nn[k]), qlist(g[is.na(i)]), qlist(items))
    i
  })
  clash <- intersect(nn, items)
  if (length(clash))
    stopf("nets() of MR set %s: net name(s) %s are items of the set; give nets names of their own",
          q(set$label), qlist(clash))
  d <- mr$desc
  ni <- length(items)
  cols <- d[[3L]]
  if (d[[1L]] == 1L) {
    # dichotomies: a net is chosen where any of its items is, not asked
    # where all of them are NA (so neither "answered" nor the base changes)
    netcols <- lapply(idx, function(i) {
      any_true <- Reduce(`|`, lapply(cols[i], function(cc) !is.na(cc) & cc))
      all_na <- Reduce(`&`, lapply(cols[i], is.na))
      out <- any_true
      out[all_na] <- NA
      out
    })
    desc <- list(1L, as.integer(ni + length(nn)), c(cols, netcols), 0L, d[[5L]])
  } else {
    # categories: a net's code where any column holds one of its items
    netcols <- lapply(seq_along(idx), function(k) {
      hit <- Reduce(`|`, lapply(cols, function(cc) !is.na(cc) & cc %in% idx[[k]]))
      out <- rep(NA_integer_, length(hit))
      out[hit] <- ni + k
      out
    })
    cols <- lapply(cols, as.integer)
    desc <- list(2L, as.integer(ni + length(nn)), c(cols, netcols), 0L, d[[5L]])
  }
  K <- ni + length(nn)
  order <- if (s$position == "top") c(ni + seq_along(nn), seq_len(ni)) else seq_len(K)
  mr$levels <- c(items, nn)
  mr$desc <- desc
  mr$net <- c(rep(FALSE, ni), rep(TRUE, length(nn)))
  mr$order <- order
  mr$position <- s$position
  mr$nets_of <- "mr"
  mr
}

# The Rao-Scott test of a single variable with nets is that of the variable
# itself: its block without the nets is computed once more and its test
# columns copied to the nets block, per column variable and layer.
nets_tests <- function(blocks, rvars, cvars, bvars, total_var, w, des, opt, cal) {
  if (!isTRUE(opt$se) || identical(opt$test, "none") || !length(cvars)) return(blocks)
  for (i in seq_along(blocks)) {
    rv <- rvars[[i]]
    if (!identical(rv$nets_of, "single")) next
    pb <- tab_block(rv$plain, cvars, bvars, total_var, w, des, opt, cal)
    nr <- length(rv$levels)
    nr0 <- length(rv$plain$levels)
    for (j in seq_along(blocks[[i]]$inf)) {
      inf <- blocks[[i]]$inf[[j]]
      pinf <- pb$inf[[j]]
      if (is.null(inf) || is.null(pinf)) next
      K <- length(inf$statistic)
      cell <- seq_len(K) - 1L
      cc <- (cell %/% nr) %% length(blocks[[i]]$cvars[[j]]$levels)
      bb <- cell %/% (nr * length(blocks[[i]]$cvars[[j]]$levels))
      src <- 1L + cc * nr0 + bb * nr0 * length(blocks[[i]]$cvars[[j]]$levels)
      for (f in c("statistic", "ndf", "ddf", "p_value")) inf[[f]] <- pinf[[f]][src]
      blocks[[i]]$inf[[j]] <- inf
    }
  }
  blocks
}

# tab()'s sort and sort_keep, checked.
check_sort <- function(sort, sort_keep) {
  if (!is.character(sort) || length(sort) < 1L || anyNA(sort))
    stopf("'sort' must be \"none\", \"desc\" or \"asc\", not %s", obj_desc(sort))
  sort <- if (length(sort) > 1L && identical(sort, c("none", "desc", "asc"))) "none" else sort
  if (length(sort) != 1L || !sort %in% c("none", "desc", "asc"))
    stopf("'sort' must be \"none\", \"desc\" or \"asc\", not %s", qlist(as.character(sort)))
  if (!is.null(sort_keep)) {
    if (sort == "none")
      stopf("'sort_keep' keeps levels in place when rows are sorted; it needs sort = \"desc\" or \"asc\"")
    if (!is.character(sort_keep) || !length(sort_keep) || anyNA(sort_keep))
      stopf("'sort_keep' must name levels (strings) that keep their place at the end, not %s",
            obj_desc(sort_keep))
  }
  list(sort = sort, keep = sort_keep)
}

# After the cells are made: the order in which each row variable's levels
# are shown (nets at their position; with sort, the other levels by the
# Total column's weighted count in the first layer -- the order of its
# percents -- except the levels of sort_keep and "(missing)", which stay at
# the end in their order), the cells in that order within their block, the
# logical column `net`, and the "(missing)" level of a variable with nets
# dropped where no row has it (as tab_cells() does for plain variables).
# Returns list(cells, rvars).
nets_arrange <- function(cells, rvars, srt) {
  has_net <- vapply(rvars, function(rv) !is.null(rv$net), NA)
  cats <- vapply(rvars, function(rv) rv$kind %in% c("single", "mr"), NA)
  rv_i <- cells$.row_var
  row_i <- cells$.row
  if (srt$sort != "none") {
    levs <- unlist(lapply(rvars[cats], function(rv) rv$levels[if (is.null(rv$net)) TRUE else !rv$net]))
    bad <- setdiff(srt$keep, levs)
    if (length(bad))
      stopf("'sort_keep' names %s, not a level of any categorical row variable", qlist(bad))
  }
  drop <- rep(FALSE, length(rv_i))
  for (i in seq_along(rvars)) {
    rv <- rvars[[i]]
    K <- length(rv$levels)
    net <- if (is.null(rv$net)) rep(FALSE, K) else rv$net
    ord <- if (is.null(rv$order)) seq_len(K) else rv$order
    sel <- rv_i == i
    tot1 <- sel & cells$.col_var == 1L & cells$.layer == 1L
    if (identical(rv$nets_of, "single") && !is.na(rv$na_index)) {
      # "(missing)" shows only where it occurs
      m <- sel & cells$.col_var == 1L & row_i == rv$na_index
      if (sum(cells$n[m]) == 0) drop <- drop | (sel & row_i == rv$na_index)
    }
    if (srt$sort != "none" && cats[i]) {
      nw <- rep(0, K)
      nw[row_i[tot1]] <- cells$n_w[tot1]
      miss <- if (identical(rv$kind, "single") && is.null(rv$net) && identical(rv$desc[[4L]], 1L)) K
              else if (!is.null(rv$na_index)) rv$na_index else integer()
      miss <- miss[!is.na(miss)]
      kept <- which(!net & rv$levels %in% srt$keep)
      fixed <- c(kept[!kept %in% miss], miss)
      lev <- ord[!net[ord] & !ord %in% fixed]
      lev <- lev[order(if (srt$sort == "desc") -nw[lev] else nw[lev])]
      nets_here <- ord[net[ord]]
      ord <- if (identical(rv$position, "top")) c(nets_here, lev, fixed) else c(lev, fixed, nets_here)
    }
    rvars[[i]]$order <- if (any(net) || !identical(ord, seq_len(K))) ord
    rvars[[i]]$net <- if (any(net)) net
    if (identical(rv$nets_of, "single")) rvars[[i]]$kind <- "single"
  }
  if (any(has_net) || srt$sort != "none") {
    rank <- lapply(rvars, function(rv) {
      K <- length(rv$levels)
      if (is.null(rv$order)) seq_len(K) else match(seq_len(K), rv$order)
    })
    key <- numeric(length(rv_i))
    for (i in seq_along(rvars)) key[rv_i == i] <- rank[[i]][row_i[rv_i == i]]
    o <- order(rv_i, cells$.col_var, cells$.layer, cells$.col, key)
    o <- o[!drop[o]]
    cells <- new_df(lapply(unclass(cells), `[`, o))
  }
  isnet <- logical(length(cells$.row))
  for (i in which(has_net)) {
    s <- cells$.row_var == i
    isnet[s] <- rvars[[i]]$net[cells$.row[s]]
  }
  cells$net <- isnet
  list(cells = cells, rvars = rvars)
}
