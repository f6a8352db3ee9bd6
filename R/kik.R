#' Read and clean the KI-in-Kommunen survey export
#'
#' @description
#' **The shipped data are synthetic.** `kik_read()` reads the raw export of
#' an online survey on artificial intelligence (KI) in German local
#' authorities, as a survey tool in the style of LimeSurvey writes it, applies
#' its codebook and cleans it into an analysis data frame: one row per
#' municipality with a complete response.
#'
#' The export and codebook shipped in `inst/extdata` are invented
#' (`data-raw/kik_synth.R` in the package sources makes them). Only a short
#' summary of the findings of the Bundes-SGK survey "Einsatz von
#' vertrauenswürdiger KI in Kommunen" (2024) is public; its questionnaire,
#' respondents and field dates are not. The synthetic data are built so
#' that, after the cleaning below, their unweighted shares reproduce the
#' published findings (42 % of municipalities use AI tools, 73 % answered the
#' free-text question substantively, 38 % plan trainings, and the published
#' rankings). They say nothing about any real municipality.
#'
#' @section Reading:
#' The file may be the tool's own export (UTF-8, `;`-separated) or the same
#' table saved again by a spreadsheet program: a UTF-8 byte-order mark,
#' Windows-1252 (or Latin-1) encoding, UTF-16 with a byte-order mark,
#' CRLF line ends, `,` or tab as separator (detected from the header line),
#' quoted fields, a decimal comma in numeric columns, dates written as
#' `15.07.2024 09:12:33`, and empty trailing rows or columns are all
#' accepted. Every column the codebook names must be present; other columns
#' are skipped unparsed (so that an export with very many of them reads as
#' fast as one without), and a row empty in every codebook column is an
#' empty row. Every answer must be a code of the codebook (or empty).
#' Timestamps are read as local time, `Europe/Berlin`.
#'
#' @section Cleaning:
#' Rows are dropped in this order, and the counts reported (if no row
#' remains, `kik_read()` stops with these counts):
#' 1. **Test entries**: the municipality identifier starts with "test", a
#'    free-text answer consists of nothing but the word "test" (e.g. "test
#'    test"), or the response started before the field period given in the
#'    codebook (row of type `field`).
#' 2. **Incomplete responses** (breakoffs): no submit date. The survey tool
#'    keeps what was answered up to the last page sent (`letzte_seite`).
#' 3. **Duplicates**: a municipality (identifier without blanks and
#'    punctuation, in upper case) with several complete responses keeps the
#'    one submitted last.
#'
#' @section Variables:
#' Columns are renamed to the codebook's `variable` names and keep its
#' order. Single-choice answers become factors with the codebook's German
#' labels as levels, in codebook order. "weiß nicht" (code 9) is kept as a
#' level: it is a valid answer, and percentages over all complete responses
#' (the published base) include it. Use `droplevels()` or
#' `factor(x, exclude = "weiß nicht")` to leave it out. Empty answers are
#' `NA`.
#'
#' Each option of a multiple-choice question becomes a logical column:
#' `TRUE` chosen, `FALSE` not chosen, `NA` not asked (the question was
#' filtered out, e.g. the areas of current use are asked only where AI is
#' used). An "other" option (free text) becomes a logical column (text given)
#' plus the text in `<variable>_text`. The multiple-response sets are built
#' by [kik_mr_sets()] and attached as `attr(x, "mr_sets")`, a named list of
#' [mr_set()]s with `base = "all"`: percentages are of the respondents asked.
#'
#' Free texts stay character (trimmed; empty is `NA`). Each free-text
#' question also gets a logical `<variable>_inhaltlich`: `TRUE` for a
#' substantive answer, i.e. not empty and not just a non-answer such as
#' "-", "./.", "k.A.", "keine Angabe", "nein", "keine", "keine weiteren",
#' "nichts", "nicht bekannt", "weiß nicht", "n/a" or "entfällt" (case and
#' trailing full stops ignored).
#'
#' @param path Path of the export file.
#' @param codebook The codebook: a path to its file (`;`-separated, read as
#'   tolerantly as the export) or a data frame, as from [kik_codebook()].
#' @param quiet If `FALSE`, report what the cleaning dropped, as a message.
#' @return A data frame, one row per complete response, with attributes
#'   `cleaning` (a data frame: `step`, `rule`, `dropped`, `remaining`, and
#'   the `ids` of the dropped rows) and `mr_sets` (see Variables).
#' @seealso [kik_codebook()], [kik_mr_sets()], [kik_gemeinden] and
#'   [kik_kreise] for the population frame.
#' @examples
#' kik <- kik_read()
#' attr(kik, "cleaning")
#' tab(kik, "ki_nutzung", se = FALSE)
#' sets <- attr(kik, "mr_sets")
#' tab(kik, sets$hindernis, se = FALSE)
#' @md
#' @export
kik_read <- function(path = system.file("extdata", "kik_rohdaten.csv", package = "umfrage"),
                     codebook = system.file("extdata", "kik_codebook.csv", package = "umfrage"),
                     quiet = FALSE) {
  check_flag(quiet, "quiet")
  cb <- kik_codebook(codebook)
  cols <- data_columns(cb)
  raw <- read_delim_text(path, "path", keep = cols)
  miss <- setdiff(cols, names(raw))
  if (length(miss) > length(cols) / 2)
    stopf("file %s is not a KI-in-Kommunen export: its header lacks %d of the %d columns the codebook names (such as %s); it has %s",
          q(path), length(miss), length(cols), qlist(utils::head(miss, 4L)), qlist(attr(raw, "header"), 6L))
  if (length(miss))
    stopf("file %s lacks required column(s) %s", q(path), qlist(miss, 10L))
  if (nrow(raw) == 0L)
    stopf("file %s has a header but no responses", q(path))
  vals <- parse_columns(raw, cb, path)

  # ---- cleaning ----
  var_col <- function(v) cb$column[match(v, cb$variable)]
  kommune <- kommune_key(vals[[var_col("kommune")]])
  started <- vals[[var_col("begonnen")]]
  submitted <- vals[[var_col("abgeschickt")]]
  id <- if ("id" %in% cb$variable) vals[[var_col("id")]] else seq_len(nrow(raw))
  free <- free_text_columns(cb)
  test <- grepl("^TEST", kommune)
  for (f in free) test <- test | is_test_text(vals[[f]])
  field <- cb[cb$type == "field", , drop = FALSE]
  field_start <- NULL
  if (nrow(field)) {
    field_start <- parse_datetime(field$code[1L])
    if (is.na(field_start))
      stopf("the codebook's field period starts at %s, which is not a date", q(field$code[1L]))
    test <- test | (!is.na(started) & started < field_start)
  }
  incomplete <- !test & is.na(submitted)
  ok <- !test & !incomplete
  ord <- order(kommune, -as.numeric(submitted), -id, na.last = TRUE)
  dup <- logical(length(ok))
  cand <- ord[ok[ord] & !is.na(kommune[ord])]
  dup[cand] <- duplicated(kommune[cand])
  keep <- ok & !dup

  rules <- c(
    read = "rows in the export",
    test = sprintf("test entries: identifier starting with 'test', a free text that is only 'test'%s",
                   if (is.null(field_start)) "" else
                     sprintf(", or started before the field period (%s)", format(field_start, "%Y-%m-%d"))),
    incomplete = "incomplete responses (breakoffs): no submit date",
    duplicate = "earlier complete responses of a municipality that answered more than once (the last one submitted is kept)")
  drops <- list(test, incomplete, dup)
  n_drop <- vapply(drops, sum, 0L)
  cleaning <- data.frame(
    step = names(rules), rule = unname(rules),
    dropped = c(NA, n_drop),
    remaining = nrow(raw) - cumsum(c(0L, n_drop)),
    ids = c("", vapply(drops, function(d) paste(sort(id[d]), collapse = ", "), "")),
    stringsAsFactors = FALSE)
  if (!quiet) {
    message(sprintf(
      "Read %d rows from %s; dropped %d test %s, %d incomplete %s (breakoffs) and %d earlier %s of a municipality that answered twice; %d complete responses remain.",
      nrow(raw), basename(path), n_drop[1L], plural(n_drop[1L], "entry", "entries"),
      n_drop[2L], plural(n_drop[2L], "response", "responses"),
      n_drop[3L], plural(n_drop[3L], "response", "responses"), sum(keep)))
  }
  if (!any(keep))
    stopf("the cleaning rules removed every row of file %s: of its %d rows, %d %s test %s, %d incomplete (no submit date) and %d earlier %s of a municipality that answered twice; no complete response remains (see the Cleaning section of ?kik_read)",
          q(path), nrow(raw), n_drop[1L], plural(n_drop[1L], "was a", "were"),
          plural(n_drop[1L], "entry", "entries"), n_drop[2L],
          n_drop[3L], plural(n_drop[3L], "response", "responses"))

  rows <- which(keep)
  rows <- rows[order(id[rows])]
  vals[[var_col("kommune")]] <- kommune
  out <- build_output(vals, cb, rows)
  attr(out, "cleaning") <- cleaning
  attr(out, "mr_sets") <- kik_mr_sets(out, cb)
  out
}

#' The codebook of the KI-in-Kommunen export
#'
#' Reads (and checks) the codebook that [kik_read()] applies: one row per
#' column of the export and answer code. **The shipped codebook describes a
#' synthetic, invented questionnaire** (see [kik_read()]).
#'
#' Columns: `column` (header in the export), `variable` (name in
#' [kik_read()]'s result), `page` (questionnaire page, 0 for metadata),
#' `type` (`integer`, `numeric`, `datetime`, `text`, `single`, `multiple`,
#' `other`; `field` holds the field period in `code` and `label`, `note` a
#' remark), `set` (the multiple-choice block of an option), `filter` (asked
#' only if `column=code`), `title`, `question` (wording), `code`, `label`,
#' `note`. The variables `kommune` (municipality identifier), `begonnen`
#' (start) and `abgeschickt` (submit date) are required, as the cleaning
#' uses them.
#'
#' @param path Path of the codebook file, or a data frame with its columns.
#' @return A data frame of character columns.
#' @examples
#' cb <- kik_codebook()
#' cb[cb$column == "B1", c("column", "variable", "code", "label")]
#' @md
#' @export
kik_codebook <- function(path = system.file("extdata", "kik_codebook.csv", package = "umfrage")) {
  if (is.data.frame(path)) {
    cb <- path
    src <- "'codebook'"
  } else {
    cb <- read_delim_text(path, "codebook")
    src <- sprintf("codebook %s", q(path))
  }
  need <- c("column", "variable", "type", "code", "label")
  miss <- setdiff(need, names(cb))
  if (length(miss)) stopf("%s lacks column(s) %s", src, qlist(miss))
  for (v in c("page", "set", "filter", "title", "question", "note"))
    if (!v %in% names(cb)) cb[[v]] <- ""
  cb <- cb[c("column", "variable", "page", "type", "set", "filter", "title", "question",
             "code", "label", "note")]
  for (v in names(cb)) {
    x <- as.character(cb[[v]])
    x[is.na(x)] <- ""
    cb[[v]] <- trimws(x)
  }
  types <- c("integer", "numeric", "datetime", "text", "single", "multiple", "other",
             "field", "note")
  bad <- setdiff(cb$type, types)
  if (length(bad)) stopf("%s has unknown type(s) %s; known are %s", src, qlist(bad), qlist(types, 9L))
  d <- cb[!cb$type %in% c("field", "note"), , drop = FALSE]
  if (any(d$column == "" | d$variable == ""))
    stopf("%s has rows without 'column' or 'variable'", src)
  # one variable, type and filter per column
  for (v in c("variable", "type", "filter")) {
    n <- tapply(d[[v]], d$column, function(x) length(unique(x)))
    if (any(n > 1L)) stopf("%s gives column(s) %s more than one %s", src, qlist(names(n)[n > 1L]), v)
  }
  first <- d[!duplicated(d$column), , drop = FALSE]
  if (anyDuplicated(first$variable))
    stopf("%s names variable(s) %s twice", src, qlist(first$variable[duplicated(first$variable)]))
  req <- c(kommune = "text", begonnen = "datetime", abgeschickt = "datetime")
  for (v in names(req)) {
    t <- first$type[first$variable == v]
    if (length(t) != 1L || t != req[[v]])
      stopf("%s must define variable %s of type %s (the cleaning needs it)", src, q(v), q(req[[v]]))
  }
  ch <- d[d$type %in% c("single", "multiple"), , drop = FALSE]
  if (any(ch$code == "")) stopf("%s has choice rows without a code", src)
  dupcode <- duplicated(ch[c("column", "code")]) | duplicated(ch[c("column", "label")])
  if (any(dupcode)) stopf("%s repeats a code or label in column(s) %s", src, qlist(ch$column[dupcode]))
  if (any(first$type %in% c("multiple", "other") & first$set == ""))
    stopf("%s has multiple-choice columns without a 'set'", src)
  fl <- first$filter[first$filter != ""]
  if (length(fl)) {
    fcol <- sub("=.*$", "", fl)
    if (!all(grepl("^[^=]+=[^=]+$", fl)) || !all(fcol %in% first$column[first$type == "single"]))
      stopf("%s has filter(s) %s; a filter is 'column=code' of a single-choice column",
            src, qlist(fl))
  }
  rownames(cb) <- NULL
  cb
}

#' Multiple-response sets of the KI-in-Kommunen data
#'
#' Builds one [mr_set()] per multiple-choice question of the codebook, from
#' the logical columns [kik_read()] made. [kik_read()] attaches the same list
#' as `attr(x, "mr_sets")`; use `kik_mr_sets()` where that attribute is gone
#' (e.g. after subsetting rows with some functions) or with another codebook.
#' Sets have `base = "all"`: respondents who were asked the question
#' (`NA` marks those who were not).
#'
#' Sets of the shipped (synthetic) codebook: `bereich_heute` (areas of
#' current AI use, asked where AI is used), `werkzeug` (tools in use, ditto),
#' `bereich_zukunft` (areas where AI may matter in future, asked of all) and
#' `hindernis` (obstacles, asked of all).
#'
#' @param x A data frame from [kik_read()].
#' @param codebook The codebook, as in [kik_read()].
#' @return A named list of `umfrage_mrset` objects.
#' @examples
#' kik <- kik_read(quiet = TRUE)
#' sets <- kik_mr_sets(kik)
#' names(sets)
#' tab(kik, sets$werkzeug, se = FALSE)
#' @md
#' @export
kik_mr_sets <- function(x, codebook = system.file("extdata", "kik_codebook.csv", package = "umfrage")) {
  check_data(x, "x", grouped_ok = TRUE)
  cb <- kik_codebook(codebook)
  m <- cb[cb$type %in% c("multiple", "other"), , drop = FALSE]
  m <- m[!duplicated(m$column), , drop = FALSE]
  sets <- unique(m$set)
  out <- lapply(sets, function(s) {
    r <- m[m$set == s, , drop = FALSE]
    miss <- setdiff(r$variable, names(x))
    if (length(miss))
      stopf("'x' lacks column(s) %s of multiple-choice question %s; is it from kik_read()?",
            qlist(miss), q(s))
    title <- if (r$title[1L] != "") r$title[1L] else s
    mr_set(x, r$variable, labels = r$label, label = title, base = "all")
  })
  names(out) <- sets
  out
}

# ---- reading a delimited text file ---------------------------------------------

# A delimited text file as a data frame of character columns (header names
# kept as they are), whatever a spreadsheet program did to its encoding, line
# ends and separator. With `keep` (column names), only those columns are
# parsed (the others are skipped while reading: a file with many other
# columns reads as fast as one without), unless the header names none of
# them; attr(, "header") holds all header names.
read_delim_text <- function(path, arg, keep = NULL) {
  if (!is.character(path) || length(path) != 1L || is.na(path) || !nzchar(path))
    stopf("'%s' must be a single file path, not %s", arg,
          if (is.character(path)) sprintf("a character vector of length %d", length(path)) else obj_desc(path))
  if (!file.exists(path)) stopf("'%s': file %s does not exist", arg, q(path))
  if (dir.exists(path)) stopf("'%s': %s is a directory, not a file", arg, q(path))
  size <- file.size(path)
  if (is.na(size) || size == 0) stopf("'%s': file %s is empty", arg, q(path))
  txt <- decode_text(readBin(path, "raw", size), path)
  # (fixed and perl patterns: a wide file is tens of megabytes)
  if (grepl("\r", txt, fixed = TRUE))
    txt <- gsub("\r", "\n", gsub("\r\n", "\n", txt, fixed = TRUE), fixed = TRUE)
  if (!grepl("[^[:space:]]", txt, perl = TRUE)) stopf("'%s': file %s is empty (blanks only)", arg, q(path))
  txt <- sub("^[[:space:]]*\n", "", txt, perl = TRUE)
  eol <- regexpr("\n", txt, fixed = TRUE)
  header <- if (eol > 0L) substr(txt, 1L, eol - 1L) else txt
  cand <- c(";", ",", "\t")
  hits <- vapply(cand, function(s) sum(strsplit(header, "", fixed = TRUE)[[1L]] == s), 0)
  if (all(hits == 0))
    stopf("'%s': file %s is not a delimited table: its first line holds no ';', ',' or tab",
          arg, q(path))
  sep <- cand[which.max(hits)]
  hn <- header_names(header, sep)
  select <- !is.null(keep) && !is.null(hn) && any(hn %in% keep)
  df <- tryCatch(
    if (select) read_columns(txt, sep, hn, keep) else
    utils::read.table(text = txt, sep = sep, header = TRUE, quote = "\"",
                      colClasses = "character", na.strings = character(0),
                      comment.char = "", check.names = FALSE, strip.white = FALSE,
                      blank.lines.skip = TRUE, fill = FALSE, stringsAsFactors = FALSE),
    error = function(e) stopf("'%s': cannot read file %s as a table separated by %s: %s",
                              arg, q(path), if (sep == "\t") "tabs" else q(sep),
                              conditionMessage(e)))
  names(df) <- trimws(names(df))
  # what spreadsheet programs add: empty trailing columns and rows
  empty_col <- vapply(df, function(x) all(!nzchar(trimws(x))), NA)
  df <- df[!(empty_col & (names(df) == "" | grepl("^V[0-9]+$", names(df))))]
  if (ncol(df)) {
    filled <- Reduce(`|`, lapply(df, function(x) nzchar(trimws(x))))
    df <- df[filled, , drop = FALSE]
  }
  if (anyDuplicated(names(df)))
    stopf("'%s': file %s has duplicated column names: %s", arg, q(path),
          qlist(names(df)[duplicated(names(df))]))
  rownames(df) <- NULL
  attr(df, "header") <- if (is.null(hn)) names(df) else hn[nzchar(hn)]
  df
}

# Columns `keep` of a delimited text whose header line has the names `hn`,
# as read.table() reads them (character, quotes, empty lines skipped, rows
# of equal length), but scan() skips the other fields without storing them.
# (read.table() itself would reread its first lines from a pushback buffer,
# in time quadratic in the line length: slow for a file with very many
# columns.) As read.table(), it checks the field count of the first lines.
read_columns <- function(txt, sep, hn, keep) {
  # the header and up to 5 lines after it
  top <- regmatches(txt, regexpr("^([^\n]*+(\n|$)){1,6}", txt, perl = TRUE))
  top <- strsplit(top, "\n", fixed = TRUE)[[1L]][-1L]
  top <- top[nzchar(top)]
  if (length(top)) {
    nf <- suppressWarnings(max(utils::count.fields(textConnection(top), sep = sep, quote = "\"",
                                                   comment.char = ""), na.rm = TRUE))
    if (nf > length(hn)) stop("more columns than column names", call. = FALSE)
  }
  what <- lapply(hn, function(h) if (h %in% keep) character() else NULL)
  vals <- scan(text = txt, what = what, sep = sep, quote = "\"", skip = 1L, quiet = TRUE,
               na.strings = character(0), strip.white = FALSE, fill = FALSE,
               multi.line = FALSE, blank.lines.skip = TRUE, comment.char = "")
  j <- which(hn %in% keep)
  structure(stats::setNames(vals[j], hn[j]), class = "data.frame",
            row.names = .set_row_names(length(vals[[j[1L]]])))
}

# The names in a header line (trimmed), or NULL where the line cannot be
# split on its own (a quoted name spanning lines).
header_names <- function(header, sep) {
  if (lengths(regmatches(header, gregexpr("\"", header, fixed = TRUE))) %% 2L != 0L)
    return(NULL)
  hn <- tryCatch(scan(text = header, what = "", sep = sep, quote = "\"", quiet = TRUE,
                      na.strings = character(0), strip.white = FALSE, comment.char = "",
                      blank.lines.skip = FALSE),
                 error = function(e) NULL)
  if (is.null(hn)) return(NULL)
  trimws(hn)
}

# Bytes to a UTF-8 string: UTF-16 and UTF-8 byte-order marks, else UTF-8 if
# valid, else Windows-1252 (a superset of Latin-1's printable characters).
decode_text <- function(bytes, path) {
  n <- length(bytes)
  bom16 <- n >= 2L && ((bytes[1L] == as.raw(0xff) && bytes[2L] == as.raw(0xfe)) ||
                         (bytes[1L] == as.raw(0xfe) && bytes[2L] == as.raw(0xff)))
  if (bom16) {
    enc <- if (bytes[1L] == as.raw(0xff)) "UTF-16LE" else "UTF-16BE"
    txt <- iconv(list(bytes[-(1:2)]), enc, "UTF-8")
    if (is.na(txt)) stopf("file %s starts as UTF-16 text but cannot be decoded", q(path))
    Encoding(txt) <- "UTF-8"
    return(txt)
  }
  if (n >= 3L && all(bytes[1:3] == as.raw(c(0xef, 0xbb, 0xbf)))) bytes <- bytes[-(1:3)]
  if (any(bytes == as.raw(0L)))
    stopf("file %s is not a text file (it holds NUL bytes, as a spreadsheet workbook does); save the export as CSV",
          q(path))
  txt <- rawToChar(bytes)
  if (validUTF8(txt)) {
    Encoding(txt) <- "UTF-8"
    return(txt)
  }
  out <- iconv(txt, "CP1252", "UTF-8")
  if (is.na(out)) out <- iconv(txt, "latin1", "UTF-8")
  Encoding(out) <- "UTF-8"
  out
}

# ---- columns -----------------------------------------------------------------------

data_columns <- function(cb) unique(cb$column[!cb$type %in% c("field", "note")])

col_info <- function(cb) {
  d <- cb[!cb$type %in% c("field", "note"), , drop = FALSE]
  d[!duplicated(d$column), , drop = FALSE]
}

free_text_columns <- function(cb) {
  i <- col_info(cb)
  page <- suppressWarnings(as.numeric(i$page))
  i$column[i$type == "text" & !is.na(page) & page >= 1 & i$variable != "kommune"]
}

kommune_key <- function(x) {
  k <- toupper(gsub("[^[:alnum:]]", "", x))
  k[!is.na(k) & k == ""] <- NA_character_
  k
}

is_test_text <- function(x) !is.na(x) & grepl("^\\s*(test\\W*)+$", x, ignore.case = TRUE, perl = TRUE)

nonanswer_pattern <- paste0(
  "^([-/.?x_ ]*|k\\. ?a|keine angaben?|nein|keine|keine weiteren|nichts|",
  "nicht bekannt|wei(\u00df|ss) nicht|n/a|entf(\u00e4|ae)llt)\\.*$")

is_substantive <- function(x) {
  !is.na(x) & !grepl(nonanswer_pattern, tolower(trimws(x)), perl = TRUE)
}

plural <- function(n, one, many) if (n == 1L) one else many

# Parse and check every codebook column of the raw export: a named list of
# typed vectors (by export column), with single-choice codes as character.
parse_columns <- function(raw, cb, path) {
  info <- col_info(cb)
  out <- list()
  bad <- character()
  for (i in seq_len(nrow(info))) {
    col <- info$column[i]
    type <- info$type[i]
    v <- trimws(raw[[col]])
    empty <- !nzchar(v)
    what <- sprintf("column %s (%s)", q(col), info$variable[i])
    if (type %in% c("single", "multiple")) {
      codes <- cb$code[cb$column == col]
      unk <- v[!empty & !v %in% codes]
      if (length(unk)) {
        tb <- table(unk)
        bad <- c(bad, sprintf("%s holds code(s) not in the codebook: %s", what,
                              paste(sprintf("%s (%d %s)", q(names(tb)), as.integer(tb),
                                            ifelse(as.integer(tb) == 1L, "row", "rows")),
                                    collapse = ", ")))
      }
      v[empty] <- NA_character_
      out[[col]] <- v
    } else if (type == "integer") {
      nok <- !empty & !grepl("^[0-9]+$", v)
      if (any(nok)) bad <- c(bad, not_parsed(what, "whole numbers", v[nok]))
      x <- rep(NA_integer_, length(v))
      x[!empty & !nok] <- as.integer(v[!empty & !nok])
      out[[col]] <- x
    } else if (type == "numeric") {
      v2 <- sub("^([-+]?[0-9]*),([0-9]+)$", "\\1.\\2", v)
      x <- suppressWarnings(as.numeric(v2))
      nok <- !empty & is.na(x)
      if (any(nok)) bad <- c(bad, not_parsed(what, "numbers", v[nok]))
      x[empty] <- NA_real_
      out[[col]] <- x
    } else if (type == "datetime") {
      x <- parse_datetime(v)
      nok <- !empty & is.na(x)
      if (any(nok)) bad <- c(bad, not_parsed(what, "date-times", v[nok]))
      out[[col]] <- x
    } else {
      x <- v
      x[empty] <- NA_character_
      out[[col]] <- x
    }
  }
  if (length(bad))
    stopf("file %s does not match the codebook: %s", q(path), paste(bad, collapse = "; "))
  out
}

not_parsed <- function(what, kind, v) {
  sprintf("%s must hold %s, but holds %s (%d %s)", what, kind, qlist(v, 3L), length(v),
          plural(length(v), "row", "rows"))
}

# Date-times as survey tools and spreadsheet programs write them, local time.
parse_datetime <- function(v) {
  fmts <- c("%Y-%m-%d %H:%M:%OS", "%Y-%m-%dT%H:%M:%OS", "%Y-%m-%d %H:%M",
            "%d.%m.%Y %H:%M:%OS", "%d.%m.%Y %H:%M", "%d.%m.%y %H:%M:%OS",
            "%d.%m.%y %H:%M", "%Y-%m-%d", "%d.%m.%Y")
  tz <- "Europe/Berlin"
  x <- as.POSIXct(rep(NA_real_, length(v)), origin = "1970-01-01", tz = tz)
  todo <- !is.na(v) & nzchar(v)
  for (f in fmts) {
    if (!any(todo)) break
    p <- as.POSIXct(strptime(v[todo], f, tz = tz))
    # strptime reads "24" as the year 24 with %Y; such years are not meant
    p[!is.na(p) & as.POSIXlt(p)$year + 1900 < 1990] <- NA
    x[todo] <- p
    todo <- todo & is.na(x)
  }
  x
}

# ---- the analysis data frame ---------------------------------------------------------

build_output <- function(vals, cb, rows) {
  info <- col_info(cb)
  asked_by <- function(filter) {
    if (filter == "") return(rep(TRUE, length(rows)))
    fcol <- sub("=.*$", "", filter)
    code <- sub("^[^=]*=", "", filter)
    v <- vals[[fcol]][rows]
    !is.na(v) & v == code
  }
  out <- list()
  labels <- list()
  free <- free_text_columns(cb)
  for (i in seq_len(nrow(info))) {
    col <- info$column[i]
    var <- info$variable[i]
    type <- info$type[i]
    title <- if (info$title[i] != "") info$title[i] else var
    v <- vals[[col]][rows]
    asked <- asked_by(info$filter[i])
    unasked_answers <- function(given) {
      n <- sum(given & !asked)
      if (n) warnf("column %s has answers in %d %s where its filter %s is not met; they are set to NA",
                   q(col), n, plural(n, "row", "rows"), q(info$filter[i]))
    }
    if (type == "single") {
      r <- cb[cb$column == col, , drop = FALSE]
      unasked_answers(!is.na(v))
      v[!asked] <- NA
      out[[var]] <- factor(r$label[match(v, r$code)], levels = r$label)
      labels[[var]] <- title
    } else if (type == "multiple") {
      x <- !is.na(v) & v == cb$code[cb$column == col][1L]
      unasked_answers(x)
      x[!asked] <- NA
      out[[var]] <- x
      labels[[var]] <- info$label[i]
    } else if (type == "other") {
      unasked_answers(!is.na(v))
      v[!asked] <- NA
      x <- !is.na(v)
      x[!asked] <- NA
      out[[var]] <- x
      labels[[var]] <- info$label[i]
      out[[paste0(var, "_text")]] <- v
      labels[[paste0(var, "_text")]] <- paste0(title, ": ", info$label[i], " (Text)")
    } else {
      if (type == "text") {
        unasked_answers(!is.na(v))
        v[!asked] <- NA
      }
      out[[var]] <- v
      labels[[var]] <- title
      if (col %in% free) {
        s <- is_substantive(v)
        s[!asked] <- NA
        nm <- paste0(var, "_inhaltlich")
        out[[nm]] <- s
        labels[[nm]] <- paste0(title, ": inhaltliche Antwort")
      }
    }
  }
  for (nm in names(out)) attr(out[[nm]], "label") <- labels[[nm]]
  structure(out, class = "data.frame", row.names = seq_along(rows))
}
