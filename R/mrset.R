#' Define a multiple-response set
#'
#' A multiple-response (MR) question stores its answers in several columns.
#' `mr_set()` names those columns and says how to read them, so that
#' [tab()] can use the set as rows or as columns. No data are copied into
#' long form: the C pass reads the columns directly.
#'
#' Two layouts are common:
#' * **Dichotomies** (`type = "dichotomy"`): one column per option, holding
#'   whether the option was chosen (`TRUE`/`FALSE`, 1/0, or `"Y"`/`""` as an
#'   online survey tool exports). `counted` is the value that means "chosen";
#'   every other value means "not chosen", and `NA` means "not asked".
#' * **Categories** (`type = "category"`): several columns holding codes,
#'   e.g. first, second and third mention. An option counts for a respondent
#'   if any column holds its code (a code mentioned twice counts once).
#'   Items are the codes' levels: factor levels, value labels of labelled
#'   columns, or the sorted distinct values.
#'
#' Percentages of an MR set are of respondents (cases), not of mentions, so
#' they may add up to more than 100 %. The respondent base is, by default,
#' everyone who chose at least one option (`base = "answered"`); with
#' `base = "all"` it also includes those who chose none (for dichotomies:
#' who answered at least one item, i.e. not all `NA`).
#'
#' SPSS user-missing values (`haven::labelled_spss()`) are `NA`: "not asked"
#' in a dichotomy, no item in a category set (unless
#' `options(umfrage.user_na = "level")`, see [tab()]).
#'
#' @param data A data frame holding the columns.
#' @param cols The columns: a character vector of names or integer positions
#'   (at least one).
#' @param counted For dichotomies, the value that counts as chosen
#'   (default `TRUE`; use `1` for 0/1 columns, `"Y"` for Y/empty columns).
#' @param type `"dichotomy"` or `"category"`.
#' @param labels Item labels: for dichotomies one per column (default: the
#'   columns' variable labels, else their names); for categories a named
#'   vector `code = label`. Labels must be distinct (items are shown, and
#'   found in the long form, by their label); repeated value labels of
#'   labelled columns are made distinct with a suffix.
#' @param label A title for the set (default: the common prefix of the
#'   column names).
#' @param base `"answered"` or `"all"`: who is in the respondent base.
#' @return An object of class `umfrage_mrset`.
#' @examples
#' d <- data.frame(q_a = c(TRUE, FALSE, TRUE), q_b = c(TRUE, TRUE, FALSE),
#'                 q_c = c(FALSE, FALSE, FALSE))
#' s <- mr_set(d, c("q_a", "q_b", "q_c"), labels = c("Apples", "Bread", "Cheese"),
#'             label = "What did you buy?")
#' s
#' tab(d, s)
#' @export
mr_set <- function(data, cols, counted = TRUE, type = c("dichotomy", "category"),
                   labels = NULL, label = NULL, base = c("answered", "all")) {
  check_data(data, grouped_ok = TRUE)
  type <- match.arg(type)
  base <- match.arg(base)
  if (is.numeric(cols)) {
    if (anyNA(cols) || any(cols < 1 | cols > ncol(data) | cols != round(cols)))
      stopf("'cols' holds positions outside 1..%d", ncol(data))
    cols <- names(data)[cols]
  }
  if (!is.character(cols) || length(cols) == 0L || anyNA(cols))
    stopf("'cols' must name at least one column of 'data'")
  miss <- setdiff(cols, names(data))
  if (length(miss)) stopf("'cols' names column(s) not in 'data': %s", qlist(miss))
  if (anyDuplicated(cols)) stopf("'cols' names column(s) twice: %s", qlist(cols[duplicated(cols)]))
  xs <- lapply(stats::setNames(cols, cols), data_col, data = data)
  kinds <- vapply(xs, col_kind, "")
  if (length(unique(kinds)) > 1L) {
    tb <- split(cols, kinds)
    stopf("the columns of an MR set must be of one type, but 'cols' mixes %s",
          paste(vapply(names(tb), function(k) sprintf("%s (%s)", k, qlist(tb[[k]], 3L)), ""),
                collapse = " and "))
  }
  kind <- kinds[[1L]]
  if (kind == "other")
    stopf("MR set columns must be logical, numeric, character, factor or labelled, not %s",
          obj_desc(data[[cols[1L]]]))
  if (is.null(label)) label <- common_prefix(cols)
  if (!is.character(label) || length(label) != 1L || is.na(label))
    stopf("'label' must be a single string")
  if (type == "dichotomy") {
    if (length(counted) != 1L || is.na(counted))
      stopf("'counted' must be a single non-NA value")
    if (kind %in% c("character", "factor") && !is.character(counted))
      stopf("'counted' = %s cannot occur in the character columns of 'cols'; give the value that means chosen, e.g. counted = \"Y\"",
            format(counted))
    if (kind %in% c("numeric", "labelled") && !(is.numeric(counted) || is.logical(counted)))
      stopf("'counted' must be numeric for numeric columns, not %s", q(counted))
    if (kind == "logical" && !is.logical(counted))
      stopf("'counted' must be TRUE or FALSE for logical columns")
    items <- cols
    if (is.null(labels)) {
      labels <- vapply(cols, function(v) {
        l <- attr(data[[v]], "label", exact = TRUE)
        if (is.character(l) && length(l) == 1L && !is.na(l)) l else v
      }, "")
    }
    if (!is.character(labels) || length(labels) != length(cols) || anyNA(labels))
      stopf("'labels' must be a character vector with one label per column (%d)", length(cols))
    if (anyDuplicated(labels))
      stopf("'labels' must be distinct: %s appears twice", qlist(labels[duplicated(labels)]))
    structure(list(cols = cols, type = type, counted = counted, items = unname(labels),
                   codes = NULL, label = label, base = base, kind = kind),
              class = "umfrage_mrset")
  } else {
    lv <- category_levels(xs, kind)
    disp <- lv$labels
    if (!is.null(labels)) {
      if (is.null(names(labels)) || !is.character(labels))
        stopf("'labels' for a category set must be a named character vector code = label")
      hit <- match(names(labels), lv$values)
      if (anyNA(hit))
        stopf("'labels' names code(s) that do not occur in 'cols': %s", qlist(names(labels)[is.na(hit)]))
      disp[hit] <- unname(labels)
      # the items are found by their code, but shown (and addressed in the
      # long form) by their label: two codes may not share one
      if (anyDuplicated(disp))
        stopf("'labels' give two or more codes the same label: %s; labels must be distinct",
              paste(vapply(unique(disp[duplicated(disp)]), function(l)
                sprintf("%s (codes %s)", q(l), paste(lv$values[disp == l], collapse = ", ")), ""),
                collapse = "; "))
    }
    structure(list(cols = cols, type = type, counted = NULL, items = disp,
                   codes = lv$values, label = label, base = base, kind = kind),
              class = "umfrage_mrset")
  }
}

col_kind <- function(x) {
  if (is_labelled(x)) return("labelled")
  if (is.factor(x)) return("factor")
  if (is.logical(x)) return("logical")
  if (is.character(x)) return("character")
  if (is.numeric(x) && !is.object(x)) return("numeric")
  "other"
}

common_prefix <- function(x) {
  if (length(x) == 1L) return(x)
  s <- x[1L]
  for (k in rev(seq_len(nchar(s)))) {
    p <- substr(s, 1L, k)
    if (all(startsWith(x, p))) return(sub("[_. -]+$", "", p))
  }
  paste(x, collapse = "/")
}

# Items of a category set: values as character (the codes; numbers in the
# shortest form that reads back exactly, so that distinct values stay
# distinct codes), display labels.
category_levels <- function(df, kind) {
  if (kind == "factor") {
    lv <- unique(unlist(lapply(df, levels)))
    return(list(values = lv, labels = lv))
  }
  if (kind == "labelled") {
    labs <- unlist(lapply(unname(df), function(x) attr(x, "labels")))
    labs <- labs[!duplicated(labs)]
    vals <- sort(unique(unlist(lapply(df, function(x) { v <- unclass(x); attributes(v) <- NULL; v }))))
    vals <- vals[!is.na(vals) & !(vals %in% labs)]
    all <- c(unname(labs), vals)
    disp <- c(names(labs), num_labels(vals))
    # value labels that repeat are made distinct, as for single variables
    if (anyDuplicated(disp)) disp <- make.unique(disp, sep = " ")
    return(list(values = num_codes(all), labels = disp))
  }
  vals <- sort(unique(unlist(lapply(df, function(x) as.vector(x)))))
  vals <- vals[!is.na(vals)]
  if (kind == "character") vals <- vals[vals != ""]
  if (kind == "character") return(list(values = vals, labels = vals))
  list(values = num_codes(vals), labels = num_labels(vals))
}

#' @export
print.umfrage_mrset <- function(x, ...) {
  cat(sprintf("<umfrage_mrset> %s: %d %s item(s) from %d column(s), base = %s\n",
              q(x$label), length(x$items), x$type, length(x$cols), x$base))
  cat(paste0("  ", x$items, collapse = "\n"), "\n", sep = "")
  invisible(x)
}
