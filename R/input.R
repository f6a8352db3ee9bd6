# Input handling shared by every entry point that reads a data frame:
# grouped data frames, columns that are not one value per row (matrix,
# data-frame and list columns), and SPSS user-missing values. The entry
# points call these in one line each: check_data() refuses grouped data
# (tab() turns the groups into 'by' layers first, with data_groups()), and
# every column that is read goes through data_col().

# ---- columns ------------------------------------------------------------------

# Column `name` of `data` as the C passes read it: checked to hold one value
# per row, with SPSS user-missing values applied (see user_na()). `arg` is
# the name of the data argument, for messages.
data_col <- function(data, name, arg = "data") {
  x <- .subset2(data, name)
  check_column(x, name, arg)
  user_na(x)
}

check_column <- function(x, name, arg) {
  fix <- sprintf("give each of its columns a column of its own, e.g. %s <- do.call(data.frame, %s)",
                 arg, arg)
  if (is.data.frame(x))
    stopf("column %s of '%s' is a data frame (a packed column of %d columns), not a vector with one value per row; %s",
          q(name), arg, length(x), fix)
  d <- dim(x)
  if (length(d) >= 2L)
    stopf("column %s of '%s' is a %s (%s), not a vector with one value per row; %s",
          q(name), arg, if (length(d) == 2L) "matrix" else "array",
          paste(d, collapse = " x "), fix)
  if (is.list(x))
    stopf("column %s of '%s' is a list column, not a vector with one value per row; make it an atomic vector (e.g. with unlist() if every element holds one value)",
          q(name), arg)
  invisible(x)
}

# ---- SPSS user-missing values ----------------------------------------------

# How SPSS user-missing values (haven::labelled_spss() 'na_values' and
# 'na_range') are read: "missing" (default) or "level".
user_na_mode <- function() {
  m <- getOption("umfrage.user_na", "missing")
  if (!is.character(m) || length(m) != 1L || !m %in% c("missing", "level"))
    stopf("option 'umfrage.user_na' must be \"missing\" or \"level\", not %s",
          if (is.character(m) && length(m) == 1L) q(m) else obj_desc_len(m))
  m
}

# A labelled_spss column as a plain labelled column (or a plain vector if no
# value label is left). With option umfrage.user_na = "missing" its
# user-missing values become NA and their value labels go: they are not
# answers. With "level" they stay ordinary values (with their labels).
user_na <- function(x) {
  if (!inherits(x, c("haven_labelled_spss", "labelled_spss"))) return(x)
  nav <- attr(x, "na_values", exact = TRUE)
  nar <- attr(x, "na_range", exact = TRUE)
  cls <- setdiff(class(x), c("haven_labelled_spss", "labelled_spss"))
  v <- unclass(x)
  attr(v, "na_values") <- NULL
  attr(v, "na_range") <- NULL
  labs <- attr(v, "labels", exact = TRUE)
  if (user_na_mode() == "missing") {
    v[is_user_na(v, nav, nar)] <- NA
    if (!is.null(labs)) labs <- labs[!is_user_na(unname(labs), nav, nar)]
    attr(v, "labels") <- if (length(labs)) labs
  }
  if (is.null(attr(v, "labels", exact = TRUE))) return(v)
  class(v) <- cls
  v
}

is_user_na <- function(v, nav, nar) {
  v <- as.vector(v)
  miss <- !is.na(v) & v %in% nav
  if (length(nar) == 2L && is.numeric(v))
    miss <- miss | (!is.na(v) & v >= nar[1L] & v <= nar[2L])
  miss
}

# ---- grouped data frames -------------------------------------------------------

# The grouping variables of a dplyr grouped data frame (character(0) if it
# is not grouped); a rowwise data frame is an error.
data_groups <- function(data, arg = "x") {
  if (inherits(data, "rowwise_df"))
    stopf("'%s' is a rowwise data frame (dplyr::rowwise()); a table counts over rows: ungroup() it first",
          arg)
  if (!inherits(data, "grouped_df")) return(character())
  g <- attr(data, "groups", exact = TRUE)
  setdiff(names(g), ".rows")
}

# Stop if `data` is grouped (called by check_data() for the functions that
# do not work within groups); `call` is the caller's call, for the message.
refuse_groups <- function(data, arg, call) {
  if (!inherits(data, c("grouped_df", "rowwise_df"))) return(invisible())
  fun <- if (is.call(call) && is.name(call[[1L]])) paste0(as.character(call[[1L]]), "()") else
    "this function"
  how <- if (inherits(data, "rowwise_df")) "rowwise (dplyr::rowwise())" else
    sprintf("grouped (dplyr::group_by(), by %s)", qlist(data_groups(data, arg)))
  stopf("'%s' is %s, but %s does not work within groups: ungroup() it first (dplyr::ungroup()), or call it once per group",
        arg, how, fun)
}

# tab(): the grouping variables of `x` become 'by' layers after the given
# ones (unless already among them).
group_specs <- function(groups, bspec) {
  named <- unlist(lapply(bspec, function(s) if (is.character(s)) s))
  as.list(setdiff(groups, named))
}

