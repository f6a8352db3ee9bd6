# Targets and margin coding shared by wt_rake() and wt_poststrat().
#
# A normalised margin is list(vars = <chr>, keys = <data.frame of chr level
# names, one column per var>, target = <dbl>). Variables are coded once into
# integer codes 1..nlev; each margin's targets become a vector over its joint
# levels (first variable fastest), NA where no target was given.

stopf <- function(...) stop(sprintf(...), call. = FALSE)
warnf <- function(...) warning(sprintf(...), call. = FALSE)

q <- function(x) paste0("'", x, "'")
qlist <- function(x, max = 5L) {
  x <- unique(as.character(x))
  s <- paste(q(utils::head(x, max)), collapse = ", ")
  if (length(x) > max) s <- paste0(s, ", ... (", length(x), " in all)")
  s
}

is_labelled <- function(x) {
  inherits(x, c("haven_labelled", "labelled")) && !is.null(attr(x, "labels"))
}

check_data <- function(data, arg = "data", grouped_ok = FALSE) {
  if (!is.data.frame(data))
    stopf("'%s' must be a data frame, not %s", arg, obj_desc(data))
  if (!grouped_ok) refuse_groups(data, arg, sys.call(-1L))
  if (nrow(data) == 0L) stopf("'%s' has no rows", arg)
  nm <- names(data)
  if (anyDuplicated(nm))
    stopf("'%s' has duplicated column names: %s", arg, qlist(nm[duplicated(nm)]))
  invisible(data)
}

obj_desc <- function(x) {
  if (is.null(x)) return("NULL")
  if (isS4(x)) return(paste0("an S4 object of class ", q(class(x)[1L])))
  if (is.function(x)) return("a function")
  if (is.environment(x)) return("an environment")
  paste0("an object of class ", q(class(x)[1L]))
}

# Starting weights: NULL, a numeric vector, a column name or a one-sided
# formula naming a column. Returns NULL or a double vector (no copy when the
# input is already double). Values are checked in C in the same pass that
# codes the rows.
get_weights <- function(weights, data, arg = "weights") {
  if (is.null(weights)) return(NULL)
  if (inherits(weights, "formula")) {
    if (length(weights) != 2L || !is.name(weights[[2L]]))
      stopf("'%s' as a formula must be one-sided and name one column, like ~w", arg)
    weights <- as.character(weights[[2L]])
  }
  # a single string is always a column name (also with one row); a
  # character vector is never weights
  if (is.character(weights) && length(weights) != 1L)
    stopf("'%s' must be numeric or the name of one column of 'data', not a character vector of length %d",
          arg, length(weights))
  if (is.character(weights)) {
    if (is.na(weights) || !weights %in% names(data))
      stopf("'%s' names column %s, which is not in 'data'", arg, q(weights))
    weights <- data_col(data, weights)
  }
  if (is.logical(weights) && all(is.na(weights)))
    stopf("'%s' is all NA", arg)
  if (!is.numeric(weights) || is.object(weights) && !inherits(weights, "umfrage_weights"))
    stopf("'%s' must be numeric, not %s", arg, obj_desc(weights))
  if (length(weights) != nrow(data))
    stopf("'%s' has length %d but 'data' has %d rows", arg, length(weights), nrow(data))
  cal <- if (inherits(weights, "umfrage_weights")) attr(weights, "umfrage")$calibration
  if (is.integer(weights)) weights <- as.double(weights)
  if (!is.null(attributes(weights))) attributes(weights) <- NULL
  # the margins of calibrated weights travel along (for the variance)
  if (!is.null(cal)) attr(weights, "calibration") <- cal
  weights
}

# ---- targets ---------------------------------------------------------------

target_column <- function(df, arg) {
  tc <- intersect(c("target", "Freq"), names(df))
  if (length(tc) == 0L)
    stopf("'%s': a data frame of targets needs a column 'target' (or 'Freq')", arg)
  tc[1L]
}

check_target_values <- function(t, what) {
  if (!is.numeric(t))
    stopf("targets for %s must be numeric, not %s", what, obj_desc(t))
  if (anyNA(t)) stopf("targets for %s contain NA", what)
  if (any(!is.finite(t))) stopf("targets for %s must be finite", what)
  if (any(t < 0)) stopf("targets for %s must not be negative", what)
  if (sum(t) <= 0) stopf("targets for %s sum to 0", what)
  invisible(t)
}

margin_from_vector <- function(v, var) {
  if (is.null(names(v)) || any(is.na(names(v))) || any(names(v) == ""))
    stopf("targets for %s must be a named vector: one name per level", q(var))
  if (anyDuplicated(names(v)))
    stopf("targets for %s have duplicated level names: %s",
          q(var), qlist(names(v)[duplicated(names(v))]))
  check_target_values(unname(v), q(var))
  keys <- data.frame(names(v), stringsAsFactors = FALSE)
  names(keys) <- var
  list(vars = var, keys = keys, target = as.double(unname(v)))
}

margin_from_df <- function(df, arg, what) {
  tc <- target_column(df, arg)
  vars <- setdiff(names(df), tc)
  if (length(vars) == 0L)
    stopf("'%s': %s names no variable beside its target column", arg, what)
  keys <- df[vars]
  for (v in vars) {
    k <- keys[[v]]
    if (anyNA(k)) stopf("'%s': column %s of %s holds NA", arg, q(v), what)
    keys[[v]] <- as.character(k)
  }
  dup <- duplicated(keys)
  if (any(dup)) {
    bad <- do.call(paste, c(keys[dup, , drop = FALSE], sep = ":"))
    stopf("'%s': %s has duplicated cells: %s", arg, what, qlist(bad))
  }
  t <- df[[tc]]
  check_target_values(t, what)
  list(vars = vars, keys = keys, target = as.double(t))
}

# targets: named list of named numeric vectors (or data frames for joint
# margins), or a long data frame variable/level/target.
normalize_targets <- function(targets, arg = "targets") {
  if (is.data.frame(targets)) {
    if (all(c("variable", "level") %in% names(targets))) {
      tc <- target_column(targets, arg)
      if (anyNA(targets$variable) || anyNA(targets$level))
        stopf("'%s': columns 'variable' and 'level' must not hold NA", arg)
      vars <- unique(as.character(targets$variable))
      return(lapply(vars, function(v) {
        rows <- targets[as.character(targets$variable) == v, , drop = FALSE]
        margin_from_vector(stats::setNames(rows[[tc]], as.character(rows$level)), v)
      }))
    }
    stopf("'%s' as a data frame needs columns 'variable', 'level' and 'target'", arg)
  }
  if (!is.list(targets) || length(targets) == 0L)
    stopf("'%s' must be a non-empty named list or a data frame with columns 'variable', 'level', 'target', not %s",
          arg, obj_desc(targets))
  nms <- names(targets)
  out <- vector("list", length(targets))
  for (i in seq_along(targets)) {
    el <- targets[[i]]
    nm <- if (is.null(nms)) "" else nms[i]
    if (is.data.frame(el)) {
      out[[i]] <- margin_from_df(el, arg, sprintf("element %d", i))
    } else {
      if (is.na(nm) || nm == "")
        stopf("'%s': element %d has no name; name each element after its variable", arg, i)
      if (is.table(el) && length(dim(el)) == 1L) el <- stats::setNames(as.vector(el), names(el))
      out[[i]] <- margin_from_vector(el, nm)
    }
  }
  allvars <- vapply(out, function(m) paste(m$vars, collapse = ":"), "")
  if (anyDuplicated(allvars))
    stopf("'%s' gives margin %s twice", arg, qlist(allvars[duplicated(allvars)]))
  out
}

# How targets are read (documented in ?wt_rake, Targets): a margin summing
# to within share_tol of 1 is shares, within percent_tol of 100 percents,
# anything else totals -- unless 'total' is given and equals the margins'
# sums (within 1e-6): then they are totals. Shares and percents are both
# proportions: each margin is rescaled to sum to exactly 1, then to 'total'
# (or, without it, by C to the sum of the starting weights). Totals must
# agree between margins within 1e-6 and are made to agree exactly (needed
# for convergence to 1e-10). The reading is returned in attr "reading" and
# said in a message unless it was exact shares or totals.
share_tol <- 0.02
percent_tol <- 2

scale_targets <- function(margins, total, arg = "targets") {
  sums <- vapply(margins, function(m) sum(m$target), 0)
  label <- vapply(margins, function(m) paste(m$vars, collapse = ":"), "")
  if (!is.null(total)) {
    if (!is.numeric(total) || length(total) != 1L || is.na(total) ||
        !is.finite(total) || total <= 0)
      stopf("'total' must be a single positive number")
  }
  kind <- ifelse(abs(sums - 1) <= share_tol, "shares",
                 ifelse(abs(sums - 100) <= percent_tol, "percents", "totals"))
  if (!is.null(total) && all(abs(sums - total) <= 1e-6 * total)) kind[] <- "totals"
  is_prop <- kind != "totals"
  if (any(is_prop) && !all(is_prop))
    stopf("'%s' mix proportions (shares summing to within %s of 1, or percents to within %s of 100: %s) and totals (%s); give all margins the same way",
          arg, format(share_tol), format(percent_tol), qlist(label[is_prop]), qlist(label[!is_prop]))
  if (all(is_prop)) {
    tot <- if (is.null(total)) 1 else total
  } else {
    tot <- sums[1L]
    rel <- abs(sums - tot) / tot
    if (any(rel > 1e-6)) {
      j <- which.max(rel)
      stopf("margins in '%s' disagree: %s sums to %s but %s to %s (relative difference %.2g > 1e-6)",
            arg, q(label[1L]), format(sums[1L], digits = 10), q(label[j]),
            format(sums[j], digits = 10), rel[j])
    }
    if (!is.null(total) && abs(total - tot) / tot > 1e-6)
      stopf("'total' = %s but the targets sum to %s", format(total, digits = 10),
            format(tot, digits = 10))
  }
  inexact <- (kind == "shares" & abs(sums - 1) > 1e-6) | kind == "percents"
  if (any(inexact)) {
    message(sprintf("'%s' read as %s: %s; each margin rescaled to sum to 1 and then to %s (to use them as population totals, pass 'total' equal to their sum)",
                    arg, if (all(kind == "shares")) "shares" else if (all(kind == "percents")) "percents" else "shares and percents",
                    paste(sprintf("%s sums to %s", q(label[inexact]), format(sums[inexact], digits = 7)), collapse = ", "),
                    if (is.null(total)) "the sum of the starting weights" else format(total, digits = 10)))
  }
  for (i in seq_along(margins))
    margins[[i]]$target <- margins[[i]]$target / sums[i] * tot
  attr(margins, "scale") <- all(is_prop) && is.null(total)
  attr(margins, "reading") <- data.frame(margin = label, read_as = kind, sum = sums,
                                         stringsAsFactors = FALSE)
  margins
}

# ---- coding a variable against level names ----------------------------------

# Returns list(codes = integer vector (a factor is passed as is), nlev,
# levels = display names of codes 1..nlev, key = code of each name in `lev`
# (NA where the name is not a level the data can have)).
code_var <- function(x, var, lev) {
  if (is.factor(x)) {
    fl <- levels(x)
    if (anyNA(fl)) {
      # addNA(): its NA level takes the target named "NA"
      if ("NA" %in% fl)
        stopf("factor %s has both an NA level (as addNA() makes) and a level \"NA\"; rename one of them", q(var))
      fl[is.na(fl)] <- "NA"
    }
    if (anyDuplicated(fl)) stopf("factor %s has duplicated levels: %s", q(var), qlist(fl[duplicated(fl)]))
    return(list(codes = x, nlev = length(fl), levels = fl, key = match_nfc(lev, fl)))
  }
  if (is_labelled(x)) {
    labs <- attr(x, "labels")
    v <- unclass(x)
    attributes(v) <- NULL
    vals <- rep(NA, length(lev))
    mode(vals) <- mode(v)
    byl <- match_nfc(lev, names(labs))
    vals[!is.na(byl)] <- labs[byl[!is.na(byl)]]
    rest <- is.na(byl)
    if (any(rest)) {
      parsed <- if (is.numeric(v)) suppressWarnings(as.numeric(lev[rest])) else lev[rest]
      if (anyNA(parsed))
        stopf("target level(s) %s of %s are neither value labels nor values of it",
              qlist(lev[rest][is.na(parsed)]), q(var))
      vals[rest] <- parsed
    }
    if (anyDuplicated(vals))
      stopf("target levels of %s name the same value twice: %s", q(var),
            qlist(lev[duplicated(vals) | duplicated(vals, fromLast = TRUE)]))
    disp <- lev
    hit <- match(vals, labs)
    disp[!is.na(hit)] <- names(labs)[hit[!is.na(hit)]]
    return(list(codes = match(v, vals), nlev = length(lev), levels = disp,
                key = seq_along(lev)))
  }
  if (is.character(x)) {
    return(list(codes = match_nfc(x, lev), nlev = length(lev), levels = lev,
                key = seq_along(lev)))
  }
  if (is.logical(x)) {
    vals <- as.logical(lev)
    if (anyNA(vals))
      stopf("targets for logical variable %s must be named TRUE and FALSE, not %s",
            q(var), qlist(lev[is.na(vals)]))
    if (anyDuplicated(vals))
      stopf("targets for logical variable %s name the same value twice", q(var))
    return(list(codes = match(x, vals), nlev = length(lev), levels = lev,
                key = seq_along(lev)))
  }
  if (is.numeric(x) && !is.object(x)) {
    vals <- suppressWarnings(as.numeric(lev))
    if (anyNA(vals))
      stopf("targets for numeric variable %s must be named by its values, not %s",
            q(var), qlist(lev[is.na(vals)]))
    if (anyDuplicated(vals))
      stopf("targets for %s name the same value twice: %s", q(var),
            qlist(lev[duplicated(vals) | duplicated(vals, fromLast = TRUE)]))
    return(list(codes = match(x, vals), nlev = length(lev), levels = lev,
                key = seq_along(lev)))
  }
  stopf("variable %s must be a factor, character, logical, integer or labelled column, not %s",
        q(var), obj_desc(x))
}

# Code all margin variables once and build each margin's target vector.
# Returns list(codes, nlev, levels, margins (0-based var index lists),
# targets (list of dbl with NA = none), margins_info).
prepare_margins <- function(data, margins, arg = "targets") {
  vars <- unique(unlist(lapply(margins, `[[`, "vars")))
  miss <- setdiff(vars, names(data))
  if (length(miss))
    stopf("'%s' names variable(s) not in 'data': %s", arg, qlist(miss))
  coded <- lapply(vars, function(v) {
    lev <- unique(unlist(lapply(margins, function(m)
      if (v %in% m$vars) m$keys[[v]])))
    cv <- code_var(data_col(data, v), v, lev)
    cv$lev <- lev
    cv
  })
  names(coded) <- vars
  nlev <- vapply(coded, function(cv) as.integer(cv$nlev), 1L)
  idx <- lapply(margins, function(m) match(m$vars, vars) - 1L)
  tv <- vector("list", length(margins))
  for (i in seq_along(margins)) {
    m <- margins[[i]]
    nl <- nlev[m$vars]
    size <- prod(nl)
    pos <- rep(0, length(m$target))
    stride <- 1
    absent <- rep(FALSE, length(m$target))
    for (v in m$vars) {
      cv <- coded[[v]]
      code <- cv$key[match(m$keys[[v]], cv$lev)]
      absent <- absent | is.na(code)
      pos <- pos + (code - 1) * stride
      stride <- stride * cv$nlev
    }
    lab <- do.call(paste, c(m$keys, sep = ":"))
    if (any(absent & m$target > 0))
      stopf("target level(s) %s of %s have a positive target but no respondents in 'data'",
            qlist(lab[absent & m$target > 0]), q(paste(m$vars, collapse = ":")))
    t <- rep(NA_real_, size)
    t[pos[!absent] + 1] <- m$target[!absent]
    tv[[i]] <- t
  }
  list(vars = vars, coded = coded, codes = lapply(coded, `[[`, "codes"),
       nlev = unname(nlev), margins = idx, targets = tv)
}

# Display names of a margin's joint levels (first variable fastest).
margin_level_names <- function(prep, m) {
  vars <- prep$vars[prep$margins[[m]] + 1L]
  levs <- lapply(vars, function(v) prep$coded[[v]]$levels)
  g <- expand.grid(levs, KEEP.OUT.ATTRS = FALSE, stringsAsFactors = FALSE)
  do.call(paste, c(g, sep = ":"))
}
