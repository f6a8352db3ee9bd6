#' A table in a database as a source of tab()
#'
#' `db_table()` points umfrage at a table (or view) in a database reached
#' through DBI, so that [tab()] (and [svy_design()]) work where the data
#' live: the engine groups the rows to cells (one aggregate query per
#' block of the table, or one query or one scan for all blocks: `cells`),
#' and only the cells come back into R. A dbplyr lazy
#' table (`dplyr::tbl(con, "t")`, with any filters or mutations) is accepted
#' wherever a `db_table()` is, as its SQL in a subquery.
#'
#' @section The cell query:
#' Per block (a row variable by one column variable, with the `by` layers
#' and the design columns) one query, in plain SQL with quoted identifiers
#' and no dialect-specific functions:
#' \preformatted{SELECT <columns>, COUNT(*), SUM(w), SUM(w * w),
#'        SUM(CASE WHEN w > 0 THEN 1 ELSE 0 END)
#' FROM <table> GROUP BY <columns>}
#' (`w` the weights column cast to the engine's double type, as
#' `DBI::dbDataType(con, 1.5)` names it; without weights only
#' the count). Its groups ("patterns") carry their own rows, weighted count
#' and sum of squared weights, which is all that the counts, percents,
#' bases and the design-based inference of [tab()] need: every statistic
#' equals that of `tab()` on the same rows in memory (up to the order of
#' floating-point additions, about 1e-15 relative). The same SQL runs on
#' SQLite, PostgreSQL and DuckDB (tested), and should on other engines
#' that DBI reaches (Spark SQL, BigQuery, Snowflake, Trino: untested).
#'
#' @section A banner in one scan:
#' The cell queries of one `tab()` call are all known before the first
#' runs, so they are fetched together (`cells`):
#' \itemize{
#' \item `"grouping_sets"`: ONE query,
#' `... GROUP BY GROUPING SETS ((<block 1>), (<block 2>), ...)`, with
#' `GROUPING()` bitmasks (one per 31 columns that tell the blocks apart)
#' to tell which block a group belongs to (a `NULL` of a block's own
#' column stays a level). PostgreSQL (9.5 or later) hashes all the grouping
#' sets in one scan of the table (one `HashAggregate` or `MixedAggregate`
#' node in `EXPLAIN`); DuckDB, Spark SQL, BigQuery, Snowflake and Trino
#' have `GROUPING SETS` too (DuckDB's is tested where it is installed, the
#' others untested). It saves scans, not aggregation: on the 50-block
#' banner of bench/db.R it took twice as long as one query per block on
#' PostgreSQL 15 (1e6 rows: 39 s against 20 s) and on DuckDB 1.5.5 (1e7
#' rows of Parquet: 17 s against 10 s), where the table is in the cache
#' and aggregating is the work. Choose it where a scan is what costs:
#' engines that bill by the bytes scanned (BigQuery) or tables that do not
#' fit the engine's cache.
#' \item `"stream"`: ONE `SELECT <columns of the blocks>, <weights>`
#' read in chunks of `getOption("umfrage.db_chunk", 1e6)` rows
#' (`DBI::dbFetch(n =)`: memory is one chunk plus the cells), each chunk
#' grouped for every block in C (hash tables on integer codes of the
#' columns' values). For SQLite, which has no `GROUPING SETS` and sorts
#' every row for a `GROUP BY`: a 50-block banner on 10 million rows reads
#' the table once instead of sorting it 50 times. With
#' `options(umfrage.progress = TRUE)` each chunk is reported.
#' \item `"query"`: one `GROUP BY` query per block (the engine may run
#' each where the data live: a sharded table's aggregates are pushed down
#' only as plain `GROUP BY`s).
#' \item `"auto"` (the default): `"stream"` on SQLite when there are two
#' or more blocks; `"query"` elsewhere (PostgreSQL, DuckDB and the others
#' aggregate by hashing, so one query per block costs little more than its
#' aggregation) and for a single block.
#' }
#' Every way gives the same cells (the statistics equal to 1e-12 or better).
#' A dbplyr table uses `"auto"`.
#'
#' @section Levels:
#' A database has no factors or value labels: the levels of a column are
#' its distinct values, sorted as [tab()] sorts character and numeric
#' columns in memory (so on the same data, in memory as read back from the
#' database, the tables are identical). SQLite has no boolean type: logical
#' columns come back as 0/1 integers (PostgreSQL and DuckDB keep them
#' logical); an [mr_set()] of logical columns reads 0/1 columns as
#' `FALSE`/`TRUE`. `NULL` is `NA` and follows `tab()`'s `na` rules. Numeric
#' columns may have at most `getOption("umfrage.max_levels", 200)` distinct
#' values, as in memory.
#'
#' @section Bad input:
#' A table or column that does not exist, a column whose type the engine
#' cannot group or sum (binary, JSON), and `NULL` in a weights, strata,
#' cluster or fpc column are errors that name the table and the column
#' (with the number of `NULL` rows). Numeric rows ([mean_of()] & co.) are
#' not yet supported on database tables.
#'
#' @section Progress:
#' With `options(umfrage.progress = TRUE)` (the default in an interactive
#' session, `FALSE` in scripts and tests) each query is announced with a
#' message. The option may also be a function, called with each message
#' (a hook, e.g. for a progress bar of your own).
#'
#' @param con A DBI connection.
#' @param table The table's name (a single string).
#' @param schema The schema (a single string), or `NULL` for the
#'   connection's default.
#' @param partition `NULL`, or the column(s) by which the table is
#'   partitioned or sharded (a character vector). They join the `GROUP BY`
#'   of every cell query (the results are the same: the C core adds the
#'   finer groups up), so that each partition's groups can be formed where
#'   the partition lives: with PostgreSQL's partition-wise aggregation over
#'   postgres_fdw partitions, the whole aggregate is pushed down to the
#'   shard servers only when the partition key is among the grouping
#'   columns. See [umfrage_databases].
#' @param cells How the cells of a table's blocks are fetched: `"auto"`,
#'   `"query"` (one `GROUP BY` query per block), `"grouping_sets"` (one
#'   query with `GROUPING SETS`) or `"stream"` (one scan of the rows,
#'   grouped in R's C code chunk by chunk). See the section "A banner in
#'   one scan". Not given: `getOption("umfrage.db_cells", "auto")`, which
#'   also applies to dbplyr tables (for example `"query"` for a dbplyr
#'   query over a partitioned PostgreSQL table, whose partition-wise
#'   aggregation takes plain `GROUP BY`s only).
#' @return An object of class `umfrage_db`: the connection, the table's
#'   reference and its column names and types (read once).
#' @seealso [tab()], [svy_design()].
#' @examples
#' if (requireNamespace("RSQLite", quietly = TRUE)) {
#'   con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
#'   DBI::dbWriteTable(con, "s", data.frame(
#'     sex = c("f", "m", "f", "f", "m", "m"), vote = c("A", "B", "A", "B", "B", "A"),
#'     w = c(1.2, 0.8, 1, 1.1, 0.9, 1)))
#'   db <- db_table(con, "s")
#'   tab(db, "vote", cols = "sex", weights = "w")
#'   DBI::dbDisconnect(con)
#' }
#' @export
db_table <- function(con, table, schema = NULL, partition = NULL,
                     cells = c("auto", "query", "grouping_sets", "stream")) {
  db_need("DBI", "db_table()")
  if (!inherits(con, "DBIConnection"))
    stopf("'con' must be a DBI connection, not %s", obj_desc(con))
  if (!is.character(table) || length(table) != 1L || is.na(table) || !nzchar(table))
    stopf("'table' must be a single table name (a string), not %s", obj_desc_len(table))
  if (!is.null(schema) && (!is.character(schema) || length(schema) != 1L || is.na(schema) ||
                           !nzchar(schema)))
    stopf("'schema' must be NULL or a single schema name (a string)")
  ref <- if (is.null(schema)) DBI::dbQuoteIdentifier(con, table) else
    DBI::dbQuoteIdentifier(con, DBI::Id(schema = schema, table = table))
  name <- if (is.null(schema)) table else paste0(schema, ".", table)
  src <- db_source(con, as.character(ref), sprintf("table %s", q(name)))
  # -- partition key (i18-shard): extra GROUP BY columns of every cell query
  if (!is.null(partition)) {
    if (!is.character(partition) || !length(partition) || anyNA(partition))
      stopf("'partition' must be NULL or the names of columns of %s (a character vector), not %s",
            src$what, obj_desc_len(partition))
    db_check_cols(src, unique(partition), "partition")
    src$partition <- unique(partition)
  }
  if (identical(cells, DB_CELLS)) return(src)   # not given: option umfrage.db_cells when tab() runs
  src$cells <- db_cells_way(cells, "'cells'")
  src
}

# The ways of fetching the cells of several blocks (db_table(cells =)), and
# the check of one, named `what` in the error.
DB_CELLS <- c("auto", "query", "grouping_sets", "stream")
db_cells_way <- function(m, what) {
  if (!(is.character(m) && length(m) == 1L && m %in% DB_CELLS))
    stopf("%s must be one of \"auto\", \"query\", \"grouping_sets\" or \"stream\", not %s",
          what, obj_desc_len(m))
  m
}

# The way for a source made without `cells` (a dbplyr table, or db_table()
# without the argument): option umfrage.db_cells.
db_cells_option <- function()
  db_cells_way(getOption("umfrage.db_cells", "auto"), "option 'umfrage.db_cells'")

# A source: connection, FROM clause, a description for messages, and the
# columns' names, R types and engine types from one query of no rows.
db_source <- function(con, from, what) {
  sql <- sprintf("SELECT * FROM %s WHERE 1 = 0", from)
  proto <- db_try(con, what, NULL, function() {
    res <- DBI::dbSendQuery(con, sql)
    on.exit(DBI::dbClearResult(res))
    info <- tryCatch(DBI::dbColumnInfo(res), error = function(e) NULL)
    df <- DBI::dbFetch(res)
    list(df = df, info = info)
  }, "does not exist or cannot be read")
  df <- proto$df
  etype <- rep(NA_character_, length(df))
  info <- proto$info
  if (is.data.frame(info) && "type" %in% names(info) && nrow(info) == length(df))
    etype <- toupper(as.character(info$type))
  # -- the engine's name of a double type (i18-shard): DOUBLE PRECISION is
  # not a type name on BigQuery (FLOAT64), Spark SQL or Trino (DOUBLE); the
  # DBI backend knows its own
  dbl <- tryCatch(as.character(DBI::dbDataType(con, 1.5)), error = function(e) "")
  if (length(dbl) != 1L || is.na(dbl) || !grepl("^[A-Za-z][A-Za-z0-9_ ]*$", dbl)) dbl <- "DOUBLE PRECISION"
  structure(list(con = con, from = from, what = what, cols = names(df),
                 proto = df, etype = stats::setNames(etype, names(df)), double = dbl),
            class = "umfrage_db")
}

#' @export
print.umfrage_db <- function(x, ...) {
  cat(sprintf("<umfrage_db> %s, %d column(s): %s\n", x$what, length(x$cols),
              paste(x$cols, collapse = ", ")))
  invisible(x)
}

db_need <- function(pkg, what) {
  if (!requireNamespace(pkg, quietly = TRUE))
    stopf("%s needs the package %s (install.packages(%s))", what, q(pkg), q(pkg))
}

# Whether x is a database source (a db_table() or a dbplyr lazy table).
is_db_source <- function(x) inherits(x, c("umfrage_db", "tbl_lazy"))

# Any database source as a db_table().
as_db_source <- function(x, arg = "x") {
  if (inherits(x, "umfrage_db")) return(x)
  if (inherits(x, "tbl_lazy")) {
    db_need("dbplyr", "a dbplyr table")
    con <- dbplyr::remote_con(x)
    sql <- as.character(dbplyr::sql_render(x))
    nm <- tryCatch(as.character(dbplyr::remote_name(x)), error = function(e) NULL)
    what <- if (length(nm) == 1L && !is.na(nm)) sprintf("table %s", q(nm)) else "the dbplyr query"
    return(db_source(con, sprintf("(%s) %s", sql, DBI::dbQuoteIdentifier(con, "umfrage_src")), what))
  }
  stopf("'%s' must be a data frame, an svy_design(), a db_table() or a dbplyr table, not %s",
        arg, obj_desc(x))
}

# Run f() against the database; an engine error becomes one that names the
# source (and columns) and says what failed.
db_try <- function(con, what, cols, f, failed = "could not be grouped") {
  tryCatch(f(), error = function(e) {
    stopf("%s%s %s in the database: %s", what,
          if (length(cols)) sprintf(" (column(s) %s)", qlist(cols, 10L)) else "",
          failed, conditionMessage(e))
  })
}

db_progress <- function(fmt, ...) {
  p <- getOption("umfrage.progress", interactive())
  # database sources: the option may be a function of the message (a hook)
  if (is.function(p)) p(sprintf(fmt, ...))
  else if (isTRUE(p)) message(sprintf(fmt, ...))
}

qid <- function(src, v) as.character(DBI::dbQuoteIdentifier(src$con, v))

# Columns the engine cannot group: binary and JSON types, list columns.
db_check_cols <- function(src, cols, arg) {
  miss <- setdiff(cols, src$cols)
  if (length(miss))
    stopf("'%s' names column(s) not in %s: %s", arg, src$what, qlist(miss))
  bad_type <- c("BLOB", "BYTEA", "JSON", "JSONB", "UNKNOWN", "BINARY", "VARBINARY", "LIST",
                "STRUCT", "MAP", "ARRAY")
  for (v in cols) {
    p <- src$proto[[v]]
    et <- src$etype[[v]]
    if (is.list(p) || (!is.na(et) && et %in% bad_type) ||
        !(is.logical(p) || is.numeric(p) || is.character(p) || inherits(p, c("Date", "POSIXct"))))
      stopf("column %s of %s has a type (%s) that a table cannot group by; give a column of numbers, text or logical values",
            q(v), src$what, if (!is.na(et)) et else class(p)[1L])
  }
  invisible(cols)
}

# ---- the cell query -----------------------------------------------------------

# The SQL of the cell query: per group of `groups` its rows, and with a
# weights column its sums of w and w^2, its rows of positive weight, and
# its smallest and largest weight and NULL weights (for the checks).
db_cells_sql <- function(src, groups, weights = NULL, stats = DB_STATS) {
  g <- vapply(groups, function(v) qid(src, v), "")
  sprintf("SELECT %s FROM %s%s", paste(c(g, db_stats_sql(src, weights, stats)), collapse = ", "), src$from,
          if (length(g)) paste0(" GROUP BY ", paste(g, collapse = ", ")) else "")
}

# The aggregates of a cell query (the weights cast to the engine's double).
db_stats_sql <- function(src, weights, stats = DB_STATS) {
  al <- function(a) qid(src, paste0("umfrage_", a))
  out <- sprintf("COUNT(*) AS %s", al("n"))
  if (!is.null(weights)) {
    w <- db_weight_sql(src, weights)
    out <- c(out, c(
      sw = sprintf("SUM(%s) AS %s", w, al("sw")),
      sw2 = sprintf("SUM(%s * %s) AS %s", w, w, al("sw2")),
      npos = sprintf("SUM(CASE WHEN %s > 0 THEN 1 ELSE 0 END) AS %s", w, al("npos")),
      wmin = sprintf("MIN(%s) AS %s", w, al("wmin")),
      wmax = sprintf("MAX(%s) AS %s", w, al("wmax")),
      wnull = sprintf("SUM(CASE WHEN %s IS NULL THEN 1 ELSE 0 END) AS %s", w, al("wnull")))[
        intersect(stats, DB_STATS[-1L])])
  }
  unname(out)
}

# The statistics of a cell query: rows, sum of w and w^2, rows of positive
# weight, smallest and largest w, NULL weights. The last three (and the
# rows of positive weight where no weight is 0) serve the checks of the
# design query, which reads every row once per tab() call; the blocks'
# queries leave them out (db_block_stats()): fewer aggregates per group,
# which is most of an engine's work in a banner.
DB_STATS <- c("n", "sw", "sw2", "npos", "wmin", "wmax", "wnull")
db_block_stats <- function(ctx) c("n", "sw", "sw2", if (isTRUE(ctx$ws$zero)) "npos")

db_weight_sql <- function(src, weights)
  sprintf("CAST(%s AS %s)", qid(src, weights), src$double %||% "DOUBLE PRECISION")

# Run the cell query: a data frame of the group columns (as the engine
# returns them) and the pattern sums (n, sw, sw2, npos, wmin, wmax, wnull;
# without weights sw = sw2 = npos = n).
db_cells <- function(src, groups, weights = NULL, stats = DB_STATS) {
  sql <- db_cells_sql(src, groups, weights, stats)
  if (length(groups)) db_progress("umfrage: grouping %s by %s", src$what, paste(groups, collapse = ", "))
  else db_progress("umfrage: summing %s (all rows)", src$what)
  # database sources: db_query() (db_weights.R) turns a lost connection's NULL into an error
  df <- db_try(src$con, src$what, groups, function() db_query(src$con, sql))
  db_cells_frame(src, df, groups, weights)
}

# The cells of a query's result: its group columns (named `groups`) and the
# pattern sums (umfrage_n, ...).
db_cells_frame <- function(src, df, groups, weights) {
  names(df)[seq_along(groups)] <- groups
  stat <- function(a) as.double(df[[paste0("umfrage_", a)]])
  st <- if (is.null(weights)) list(n = stat("n")) else {
    # statistics a block's query left out (db_block_stats()): rows of
    # positive weight are all rows where no weight is 0; the checks' NA
    got <- intersect(DB_STATS, sub("^umfrage_", "", names(df)))
    st <- lapply(stats::setNames(nm = got), stat)
    if (is.null(st$npos)) st$npos <- st$n
    for (a in setdiff(DB_STATS, names(st))) st[[a]] <- rep(NA_real_, length(st$n))
    st
  }
  db_cells_list(src, df[seq_along(groups)], st)
}

# The cells: the group columns and the pattern sums (n, sw, sw2, npos,
# wmin, wmax, wnull; without weights sw = sw2 = npos = n).
db_cells_list <- function(src, vars, st) {
  n <- st$n
  if (is.null(st$sw)) st <- list(n = n, sw = n, sw2 = n, npos = n, wmin = rep(1, length(n)),
                                 wmax = rep(1, length(n)), wnull = rep(0, length(n)))
  for (v in names(vars)) if (is.list(vars[[v]]))
    stopf("column %s of %s has a type (%s) that a table cannot group by; give a column of numbers, text or logical values",
          q(v), src$what, class(vars[[v]])[1L])
  list(vars = as.data.frame(vars, stringsAsFactors = FALSE), stats = st[c("n", "sw", "sw2", "npos", "wmin", "wmax", "wnull")])
}

# Checks of the weights and design columns on a cell query's result: NULL
# weights, negative or infinite weights, NULLs in design columns.
db_check_cells <- function(src, cells, weights, design_cols) {
  st <- cells$stats
  if (!is.null(weights)) {
    nn <- sum(st$wnull)
    if (nn > 0)
      stopf("'weights' column %s of %s holds %s NULL value(s); every row needs a weight",
            q(weights), src$what, format(nn, big.mark = ",", scientific = FALSE))
    if (any(!is.finite(st$sw)) || any(!is.finite(st$wmax)) || any(st$wmin < 0))
      stopf("'weights' column %s of %s holds negative, infinite or NaN values; weights must be finite and non-negative",
            q(weights), src$what)
  }
  for (v in names(design_cols)) {
    col <- design_cols[[v]]
    x <- cells$vars[[col]]
    if (anyNA(x)) {
      k <- sum(st$n[is.na(x)])
      stopf("'%s' column %s of %s holds %s NULL value(s); every row needs a %s",
            v, q(col), src$what, format(k, big.mark = ",", scientific = FALSE), v)
    }
  }
  invisible()
}

# ---- tab() on a database source --------------------------------------------------

# The columns a row/column/by spec reads.
db_spec_cols <- function(s) {
  if (is.character(s)) return(s)
  if (inherits(s, "umfrage_mrset")) return(s$cols)
  if (inherits(s, "umfrage_nets")) return(db_spec_cols(s$var))
  if (inherits(s, "umfrage_numrow"))
    stopf("numeric rows (%s) are not yet supported on database tables; tabulate categorical variables, or collect the columns into R", s$name)
  character()
}

# The columns of a spec as tab() reads them: an MR set of logical columns
# reads 0/1 (SQLite has no boolean); a set made on a data frame with factor
# columns reads text.
db_fix_vars <- function(vars, specs) {
  for (s in specs) {
    set <- if (inherits(s, "umfrage_nets")) s$var else s
    if (!inherits(set, "umfrage_mrset")) next
    for (v in set$cols) {
      x <- vars[[v]]
      if (set$kind == "logical" && is.numeric(x) && all(x[!is.na(x)] %in% c(0, 1)))
        vars[[v]] <- as.logical(x)
      if (set$kind == "factor" && is.character(x))
        vars[[v]] <- factor(x, levels = union(set$codes, sort(unique(x[!is.na(x)]))))
    }
  }
  vars
}

# The specs of an MR set made on a data frame whose numeric/labelled or
# factor/character columns come back from the engine as the other kind.
db_fix_kind <- function(s, proto) {
  set <- if (inherits(s, "umfrage_nets")) s$var else s
  if (!inherits(set, "umfrage_mrset")) return(s)
  k <- col_kind(proto[[set$cols[1L]]])
  if (set$kind == "labelled" && k == "numeric") set$kind <- "numeric"
  if (set$kind == "numeric" && k == "logical" && isTRUE(set$type == "dichotomy")) set$kind <- "logical"
  if (set$kind == "numeric" && k == "logical" && isTRUE(set$type == "dichotomy"))
    set$counted <- as.logical(set$counted)
  if (inherits(s, "umfrage_nets")) { s$var <- set; s } else set
}

# The context of one tab() call on a database source: the source, the
# weights column, the design columns and the global design (strata, PSUs,
# fpc), the weight scale, and a cache of the cell queries' results.
db_context <- function(x, weights, na) {
  if (inherits(x, "umfrage_db_design")) {
    d <- x
    src <- d$source
    wcol <- d$weights
  } else {
    src <- as_db_source(x)
    d <- NULL
    wcol <- db_weights_col(weights, src)
  }
  dcols <- if (is.null(d)) list() else d$cols
  ctx <- new.env(parent = emptyenv())
  ctx$src <- src
  ctx$weights <- wcol
  ctx$na <- na
  ctx$dcols <- dcols
  ctx$design <- d
  ctx$cache <- list()
  class(ctx) <- "umfrage_db_ctx"
  # the design: one query over the design columns (all rows): strata,
  # PSUs, fpc, row counts, weight range and NULLs
  dc <- unique(c(unlist(dcols, use.names = FALSE), src$partition))
  cells <- db_cells(src, dc, wcol)
  db_check_cells(src, cells, wcol, unlist(dcols))
  ctx$rows <- sum(cells$stats$n)
  if (ctx$rows == 0) stopf("'x' (%s) has no rows", src$what)
  ctx$gdes <- db_global_design(cells, d, src)
  st <- cells$stats
  wmax <- if (!is.null(ctx$gdes$wfpc)) max(ctx$gdes$wfpc) else if (is.null(wcol)) NULL else max(st$wmax)
  ctx$ws <- weight_scale(wmax)
  ctx$ws$zero <- !is.null(wcol) && any(st$npos < st$n)
  ctx$weighted <- !is.null(wcol) || !is.null(ctx$gdes$wfpc)
  ctx
}

# The weights column of tab(x = <db>, weights =): a name or a formula.
db_weights_col <- function(weights, src, arg = "weights") {
  if (is.null(weights)) return(NULL)
  # database sources: weights made on a database and written by db_write_weights()
  if (inherits(weights, "umfrage_db_weights")) {
    if (is.null(weights$written))
      stopf("'%s' are weights made on %s but not yet written: db_write_weights() writes them to a table, whose weights column then serves",
            arg, weights$source$what)
    weights <- weights$written$name
  }
  if (inherits(weights, "formula")) {
    if (length(weights) != 2L || !is.name(weights[[2L]]))
      stopf("'%s' as a formula must be one-sided and name one column, like ~w", arg)
    weights <- as.character(weights[[2L]])
  }
  if (!is.character(weights) || length(weights) != 1L || is.na(weights))
    stopf("'%s' on a database table must name a column of it (a string or a formula like ~w), not %s",
          arg, obj_desc(weights))
  if (!weights %in% src$cols)
    stopf("'%s' names column %s, which is not in %s", arg, q(weights), src$what)
  p <- src$proto[[weights]]
  if (!is.numeric(p))
    stopf("'%s' column %s of %s must be numeric, not %s", arg, q(weights), src$what,
          if (!is.na(src$etype[[weights]])) src$etype[[weights]] else class(p)[1L])
  weights
}

# The global design from the design query's groups: strata levels, PSUs
# (numbered in the order of the sorted (stratum, cluster) pairs), PSUs per
# stratum (rows, without clusters), population PSUs (fpc), as
# svy_design() derives them from the rows.
db_global_design <- function(cells, d, src) {
  n <- cells$stats$n
  vars <- cells$vars
  if (is.null(d)) {
    return(list(clustered = FALSE, strata_levels = "1", n_psu = sum(n), pop_psu = Inf,
                lonely_psu = "certainty", psu_keys = NULL, strata_col = NULL))
  }
  sc <- d$cols$strata
  cc <- d$cols$cluster
  fc <- d$cols$fpc
  sx <- if (!is.null(sc)) vars[[sc]]
  h <- if (is.null(sc)) rep(1L, length(n)) else match(sx, sort(unique(sx)))
  hlev <- if (is.null(sc)) "1" else as.character(sort(unique(sx)))
  clustered <- !is.null(cc)
  keys <- NULL
  if (clustered) {
    key <- paste(h, vars[[cc]], sep = "\r")
    keys <- unique(key)
    psu_stratum <- h[match(keys, key)]
    n_psu <- tabulate(psu_stratum, length(hlev))
  } else {
    psu_stratum <- NULL
    n_psu <- as.double(vapply(seq_along(hlev), function(k) sum(n[h == k]), 0))
  }
  pop <- rep(Inf, length(hlev))
  if (!is.null(fc)) {
    f <- vars[[fc]]
    if (!is.numeric(f)) stopf("'fpc' column %s of %s must be numeric", q(fc), src$what)
    if (any(!is.finite(f)) || any(f <= 0))
      stopf("'fpc' column %s of %s must hold positive finite values", q(fc), src$what)
    pop <- fpc_pop(f, h, hlev, n_psu)
  }
  lonely <- which(n_psu == 1 & !(1 - n_psu / pop < 1e-7))
  if (length(lonely) && d$lonely_psu == "fail")
    stopf("stratum %s has only one PSU; choose lonely_psu = \"certainty\", \"remove\", \"adjust\" or \"average\" (as options(survey.lonely.psu))",
          q(hlev[lonely[1L]]))
  wfpc <- if (is.null(d$weights) && !is.null(fc)) pop / n_psu
  list(clustered = clustered, strata_levels = hlev, psu_stratum = psu_stratum,
       n_psu = n_psu, pop_psu = pop, lonely_psu = d$lonely_psu, psu_keys = keys,
       strata_col = sc, cluster_col = cc, wfpc = wfpc)
}

# The cell query of a set of columns (with the design columns), cached.
db_patterns <- function(ctx, cols) {
  db_prefetch(ctx, list(cols))[[1L]]
}

# The groups (a set's columns with the design and partition columns) and
# their cache key.
db_groups <- function(ctx, cols) unique(c(cols, unlist(ctx$dcols, use.names = FALSE), ctx$src$partition))
db_key <- function(groups) paste(sort(groups), collapse = "\r")

# The cells of several sets of columns, fetched together (db_fetch_sets():
# one query per set, one query with GROUPING SETS, or one stream of rows)
# for those not cached yet; returns the patterns of each set.
db_prefetch <- function(ctx, colsets) {
  groups <- lapply(colsets, db_groups, ctx = ctx)
  keys <- vapply(groups, db_key, "")
  todo <- which(!duplicated(keys) & !keys %in% names(ctx$cache))
  for (i in todo) db_check_cols(ctx$src, colsets[[i]], "x")
  if (length(todo))
    db_fetch_sets(ctx, groups[todo], function(k, cells)
      ctx$cache[[keys[todo[k]]]] <- db_pattern_entry(ctx, cells))
  lapply(keys, function(k) ctx$cache[[k]])
}

# The patterns of a cell query's result: per pattern its stratum and PSU,
# and its sums (n, w, w^2, positive) on tab()'s weight scale.
db_pattern_entry <- function(ctx, cells) {
  g <- ctx$gdes
  h <- if (is.null(g$strata_col)) rep(1L, length(cells$stats$n)) else
    match(as.character(cells$vars[[g$strata_col]]), g$strata_levels)
  st <- cells$stats
  if (!is.null(g$wfpc)) {
    wh <- g$wfpc[h]
    st$sw <- st$n * wh
    st$sw2 <- st$n * wh * wh
  }
  f <- ctx$ws$f
  ps <- matrix(c(st$n, st$sw * f, st$sw2 * f * f), ncol = 3L)
  des <- list(data = NULL, weights = ps, calibration = NULL, clustered = g$clustered,
              strata_levels = g$strata_levels, stratum = h,
              psu = if (g$clustered) match(paste(h, cells$vars[[g$cluster_col]], sep = "\r"), g$psu_keys),
              psu_stratum = g$psu_stratum, n_psu = g$n_psu, pop_psu = g$pop_psu,
              lonely_psu = g$lonely_psu, ms = NULL)
  list(vars = cells$vars, ps = ps, pos = matrix(c(st$n, st$npos, st$npos), ncol = 3L), des = des)
}

# ---- several cell queries at once (a banner in one scan) ------------------------

# How the cells of `nsets` sets are fetched: db_table(cells =). "auto":
# one stream of rows on SQLite (no GROUPING SETS; its GROUP BY sorts every
# row); one query per set elsewhere and for a single set. GROUPING SETS
# (forced only) saves scans but not aggregation, and on PostgreSQL 15 and
# DuckDB 1.5.5 the 50-block banner of bench/db.R took twice as long with
# it as with one query per block (and postgres_fdw pushes down plain GROUP
# BYs only, so on a sharded table it would pull the rows).
db_cells_method <- function(ctx, nsets) {
  m <- ctx$src$cells %||% db_cells_option()
  if (m == "stream") return(m)
  if (nsets < 2L || m == "query") return("query")
  if (m == "grouping_sets") return(m)
  if (inherits(ctx$src$con, "SQLiteConnection")) return("stream")
  "query"
}

# The cells of each set of groups (a list of character vectors), as
# db_cells() gives them, handed to store(k, cells) as each is ready (so
# that the raw cells of all sets are never held at once).
db_fetch_sets <- function(ctx, sets, store) {
  src <- ctx$src
  switch(db_cells_method(ctx, length(sets)),
         query = for (k in seq_along(sets)) store(k, db_cells(src, sets[[k]], ctx$weights, db_block_stats(ctx))),
         grouping_sets = db_cells_gsets(src, sets, ctx$weights, store, db_block_stats(ctx)),
         stream = db_cells_stream(src, sets, ctx$weights, store))
  invisible()
}

# One query for every set: GROUP BY GROUPING SETS ((set 1), (set 2), ...).
# A row belongs to the set whose columns are grouped: GROUPING() of the
# columns that tell the sets apart (not in every set) is a bitmask, 1 for
# a column aggregated over; PostgreSQL takes at most 31 arguments, so one
# GROUPING() per 31 such columns. A NULL of a column of the row's own set
# is a real NULL (NA level).
db_cells_gsets <- function(src, sets, weights, store = NULL, stats = DB_STATS) {
  Q <- db_gsets_sql(src, sets, weights, stats)
  allc <- Q$cols
  parts <- Q$parts
  gname <- Q$gname
  sql <- Q$sql
  db_progress("umfrage: grouping %s by %d sets of columns at once (%s)", src$what, length(sets),
              paste(allc, collapse = ", "))
  df <- db_try(src$con, src$what, allc, function() db_query(src$con, sql))
  names(df)[seq_along(allc)] <- allc
  # the bitmask of each set: bit (length - position) for a column not in it
  mask <- function(set, p) sum(2^(length(p) - which(!p %in% set)))
  db_store_all(seq_along(sets), store, function(k) {
    g <- sets[[k]]
    hit <- rep(TRUE, nrow(df))
    for (i in seq_along(parts)) hit <- hit & as.double(df[[gname[i]]]) == mask(g, parts[[i]])
    db_cells_frame(src, df[hit, c(g, grep("^umfrage_[^g]", names(df), value = TRUE)), drop = FALSE],
                   g, weights)
  })
}

# The cells of sets ks, each made by cells(k): handed to store(k, cells)
# one at a time, or (store NULL) returned as a list.
db_store_all <- function(ks, store, cells) {
  if (is.null(store)) return(lapply(ks, cells))
  for (k in ks) store(k, cells(k))
  invisible()
}

# The SQL of db_cells_gsets(), its columns, and the GROUPING() columns
# (names, and the columns each takes).
db_gsets_sql <- function(src, sets, weights, stats = DB_STATS) {
  allc <- unique(unlist(sets))
  diff <- setdiff(allc, Reduce(intersect, sets))
  parts <- split(diff, ceiling(seq_along(diff) / 31))
  gname <- paste0("umfrage_g", seq_along(parts))
  gsql <- vapply(seq_along(parts), function(i)
    sprintf("GROUPING(%s) AS %s", paste(qid(src, parts[[i]]), collapse = ", "), qid(src, gname[i])), "")
  sql <- sprintf("SELECT %s FROM %s GROUP BY GROUPING SETS (%s)",
                 paste(c(qid(src, allc), gsql, db_stats_sql(src, weights, stats)), collapse = ", "), src$from,
                 paste(vapply(sets, function(g) sprintf("(%s)", paste(qid(src, g), collapse = ", ")), ""),
                       collapse = ", "))
  list(sql = sql, cols = allc, parts = parts, gname = gname)
}

# The rows a stream reads per chunk: option umfrage.db_chunk (default 1e6).
db_chunk_rows <- function() {
  n <- getOption("umfrage.db_chunk", 1e6)
  if (!is.numeric(n) || length(n) != 1L || is.na(n) || n < 1 || n > .Machine$integer.max)
    stopf("option 'umfrage.db_chunk' must be a number of rows (1 to %d), not %s",
          .Machine$integer.max, obj_desc_len(n))
  as.integer(n)
}

# One stream of rows for every set: SELECT <the sets' columns>, <weight>
# read in chunks (DBI::dbFetch(n = umfrage.db_chunk)); C (dbstream.c) codes
# each chunk's columns against dictionaries that grow across chunks and
# adds its rows to every set's groups. Memory: a chunk plus the groups.
db_cells_stream <- function(src, sets, weights, store = NULL) {
  allc <- unique(unlist(sets))
  sel <- c(qid(src, allc), if (!is.null(weights))
    sprintf("%s AS %s", db_weight_sql(src, weights), qid(src, "umfrage_w")))
  sql <- sprintf("SELECT %s FROM %s", paste(sel, collapse = ", "), src$from)
  chunk <- db_chunk_rows()
  state <- .Call(C_dbs_new, lapply(sets, function(g) match(g, allc) - 1L), length(allc), !is.null(weights))
  kinds <- rep(NA_integer_, length(allc))   # 1 integer, 2 double, 3 character
  attrs <- vector("list", length(allc))
  lgl <- rep(TRUE, length(allc))            # logical in every chunk: logical again at the end
  rank <- function(x) if (is.character(x)) 3L else if (is.double(x)) 2L else 1L
  up <- function(x, k) switch(k, as.integer(x), as.double(x), as.character(x))
  db_progress("umfrage: reading %s once for %d sets of columns (%s)", src$what, length(sets),
              paste(allc, collapse = ", "))
  rows <- 0
  db_try(src$con, src$what, allc, function() {
    res <- DBI::dbSendQuery(src$con, sql)
    on.exit(try(DBI::dbClearResult(res), silent = TRUE))
    repeat {
      df <- DBI::dbFetch(res, n = chunk)
      if (!is.data.frame(df)) stop("the engine returned no result (is the connection lost?)", call. = FALSE)
      if (!nrow(df)) break
      cols <- lapply(seq_along(allc), function(j) {
        x <- df[[j]]
        if (is.factor(x)) x <- as.character(x)
        if (is.null(attrs[[j]]) && !is.null(oldClass(x))) attrs[[j]] <<- attributes(x)
        lgl[j] <<- lgl[j] && is.logical(x)
        if (is.logical(x) || inherits(x, "integer64")) x <- if (is.logical(x)) as.integer(x) else as.double(x)
        if (!is.atomic(x) || !(is.numeric(x) || is.character(x)))
          stopf("column %s has a type (%s) that a table cannot group by", q(allc[j]), class(x)[1L])
        attributes(x) <- NULL
        k <- rank(x)
        if (is.na(kinds[j])) kinds[j] <<- k
        if (k > kinds[j]) {   # the column's type changed between chunks: the values up
          .Call(C_dbs_dict, state, j - 1L, up(.Call(C_dbs_dict, state, j - 1L, NULL), k))
          kinds[j] <<- k
        }
        if (k < kinds[j]) x <- up(x, kinds[j])
        x
      })
      w <- if (!is.null(weights)) as.double(df[[length(allc) + 1L]])
      .Call(C_dbs_chunk, state, cols, w)
      rows <- rows + nrow(df)
      db_progress("umfrage: reading %s: %s rows", src$what, format(rows, big.mark = ",", scientific = FALSE))
      if (DBI::dbHasCompleted(res)) break
    }
  })
  dict <- lapply(seq_along(allc), function(j) {
    v <- .Call(C_dbs_dict, state, j - 1L, NULL)
    if (lgl[j] && is.integer(v)) v <- as.logical(v)
    if (!is.null(attrs[[j]])) attributes(v) <- attrs[[j]][setdiff(names(attrs[[j]]), c("names", "dim", "dimnames"))]
    v
  })
  db_store_all(seq_along(sets), store, function(i) {
    g <- sets[[i]]
    r <- .Call(C_dbs_result, state, i - 1L)
    vars <- stats::setNames(lapply(seq_along(g), function(a) dict[[match(g[a], allc)]][r$codes[[a]]]), g)
    db_cells_list(src, new_df(vars), if (is.null(weights)) r$stats["n"] else r$stats)
  })
}

# The data frame of levels that tab() codes its variables from: for every
# column of the table, its distinct values (padded with NA), from the cell
# queries of the blocks (every row is in every block's patterns).
db_levels_frame <- function(ctx, rspec, cspec, bspec) {
  bcols <- unlist(lapply(bspec, db_spec_cols))
  rcols <- lapply(rspec, db_spec_cols)
  ccols <- lapply(cspec, db_spec_cols)
  # every block's cells at once (db_fetch_sets(): one scan where the engine allows)
  sets <- if (!length(ccols)) lapply(rcols, function(r) c(r, bcols)) else
    unlist(lapply(rcols, function(r) lapply(ccols, function(cc) c(r, cc, bcols))), recursive = FALSE)
  db_prefetch(ctx, sets)
  vals <- list()
  add <- function(P, cols) for (v in cols) if (is.null(vals[[v]])) vals[[v]] <<- unique(P$vars[[v]])
  for (i in seq_along(rcols)) {
    if (!length(ccols)) add(db_patterns(ctx, c(rcols[[i]], bcols)), c(rcols[[i]], bcols))
    for (j in seq_along(ccols))
      add(db_patterns(ctx, c(rcols[[i]], ccols[[j]], bcols)), c(rcols[[i]], ccols[[j]], bcols))
  }
  len <- max(1L, vapply(vals, length, 1L))
  cols <- lapply(vals, function(v) v[seq_len(len)])
  db_fix_vars(new_df(cols), c(rspec, cspec))
}

# tab_block() of a database source: per column variable one cell query
# (cached), its patterns coded as tab() codes rows, and the in-memory block
# on the patterns (C passes with pattern sums in place of weights); the
# blocks' columns are then put together (the Total column from the first).
db_tab_block <- function(rv, cvars, bvars, total_var, ctx, opt) {
  bcols <- unlist(lapply(bvars, function(v) db_spec_cols(v$db_spec)))
  recode <- function(v, P, arg) {
    vb <- tab_var(v$db_spec, data = db_fix_vars(P$vars, list(v$db_spec)), na = ctx$na, arg = arg)
    if (!identical(vb$levels, v$levels))
      stopf("internal: levels of %s differ between cell queries", q(v$name))
    v$desc <- vb$desc
    if (!is.null(v$plain)) v$plain$desc <- vb$plain$desc
    v
  }
  one <- function(cv) {
    cols <- c(db_spec_cols(rv$db_spec), if (!is.null(cv)) db_spec_cols(cv$db_spec), bcols)
    P <- db_patterns(ctx, cols)
    rvb <- recode(rv, P, "rows")
    cvb <- if (!is.null(cv)) list(recode(cv, P, "cols")) else list()
    bvb <- lapply(bvars, recode, P = P, arg = "by")
    o <- opt
    o[["db"]] <- NULL
    if (isTRUE(o$wzero)) o$db_pos <- P$pos
    b <- tab_block(rvb, cvb, bvb, total_var, P$ps, P$des, o, NULL)
    b$rv <- rv
    b$bvars <- bvars
    b
  }
  if (!length(cvars)) return(one(NULL))
  parts <- lapply(cvars, one)
  out <- parts[[1L]]
  out$cvars <- c(list(total_var), cvars)
  out$cols <- c(parts[[1L]]$cols[1L], lapply(parts, function(p) p$cols[[2L]]))
  out$inf <- if (!is.null(out$inf)) c(parts[[1L]]$inf[1L], lapply(parts, function(p) p$inf[[2L]]))
  sk <- parts[[1L]]$skipped
  sk$col_na <- sum(vapply(parts, function(p) p$skipped$col_na, 0))
  out$skipped <- sk
  out
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# The rows of positive weight per entry (the fifth element of a column
# variable's sums; var.R's add_positive() for pattern rows): a pass whose
# pattern sums are (n, rows of positive weight, the same).
db_add_positive <- function(raw, rv, cdesc, layers, pos, ncv) {
  pres <- .Call(C_tab, rv$desc, cdesc, layers, pos)
  praw <- c(pres$cols[ncv + 1L], pres$cols[seq_len(ncv)])
  Map(function(r, p) c(r[1:4], list(lapply(p[1:4], function(m) m[, 2L]))), raw, praw)
}

# Rows and df per layer for the Rao-Scott test (var.R's layer_design() for
# pattern rows: counts are the patterns' rows), from the first block's
# patterns (every row is in them).
db_layer_design <- function(ctx, bvars, rspec, cspec, test) {
  nb <- prod(vapply(bvars, function(v) as.double(v$desc[[2L]]), 0))
  if (!test) return(list(rep(NA_real_, nb), rep(NA_real_, nb)))
  g <- ctx$gdes
  gdes <- list(clustered = g$clustered, psu_stratum = g$psu_stratum, ms = NULL)
  bcols <- unlist(lapply(bvars, function(v) db_spec_cols(v$db_spec)))
  P <- db_patterns(ctx, c(db_spec_cols(rspec[[1L]]), if (length(cspec)) db_spec_cols(cspec[[1L]]), bcols))
  des <- P$des
  dl <- design_layer(des)
  if (!length(bvars) && is.null(dl)) return(list(ctx$rows, domain_df(ctx$rows, gdes)))
  bdesc <- lapply(bvars, function(v)
    tab_var(v$db_spec, data = P$vars, na = ctx$na, arg = "by")$desc)
  const <- list(3L, 1L, list(), 0L, 0L)
  cnt <- matrix(rep(P$ps[, 1L], 3L), ncol = 3L)
  res <- .Call(C_tab, const, list(const), c(bdesc, if (!is.null(dl)) list(dl$desc)), cnt)
  nd <- if (is.null(dl)) 1L else dl$nd
  arr <- matrix(res$cols[[1L]]$cells[, 1L], nb, nd)
  list(as.double(rowSums(arr)),
       vapply(seq_len(nb), function(b) as.double(domain_df(arr[b, ], gdes)), 0))
}

# ---- svy_design() on a database source -------------------------------------------

# A design on a database table: the columns, checked against the table; the
# design itself (strata, PSUs, fpc) is read by tab() in one query.
db_svy_design <- function(data, weights, strata, cluster, fpc, lonely_psu, ultimate_cluster, nest) {
  src <- as_db_source(data, "data")
  lonely_psu <- match.arg(lonely_psu, c("fail", "certainty", "remove", "adjust", "average"))
  one_col <- function(spec, arg) {
    if (is.null(spec)) return(NULL)
    if (inherits(spec, "formula")) {
      v <- all.vars(spec)
      if (length(spec) != 2L || length(v) < 1L)
        stopf("'%s' must name one column, like ~%s", arg, arg)
      spec <- v
    }
    if (!is.character(spec) || length(spec) < 1L || anyNA(spec))
      stopf("'%s' must be a column name or a one-sided formula", arg)
    if (length(spec) > 1L)
      stopf("'%s' names %d columns: multistage designs are not yet supported on database tables",
            arg, length(spec))
    if (!spec %in% src$cols) stopf("'%s' names column %s, which is not in %s", arg, q(spec), src$what)
    db_check_cols(src, spec, arg)
    spec
  }
  cols <- list(strata = one_col(strata, "strata"), cluster = one_col(cluster, "cluster"),
               fpc = one_col(fpc, "fpc"))
  cols <- cols[!vapply(cols, is.null, NA)]
  wcol <- db_weights_col(weights, src)
  if (!is.null(wcol)) cols$weights <- NULL
  structure(list(source = src, weights = wcol, cols = cols, lonely_psu = lonely_psu,
                 clustered = !is.null(cols$cluster), ultimate_cluster = ultimate_cluster,
                 nest = nest),
            class = c("umfrage_db_design"))
}

#' @export
print.umfrage_db_design <- function(x, ...) {
  cat(sprintf("<umfrage_db_design> on %s\n", x$source$what))
  cat(sprintf("  weights: %s; strata: %s; cluster: %s; fpc: %s; lonely_psu = %s\n",
              if (is.null(x$weights)) "-" else x$weights, x$cols$strata %||% "-",
              x$cols$cluster %||% "-", x$cols$fpc %||% "-", q(x$lonely_psu)))
  invisible(x)
}

# A variable of tab() with the spec it was coded from (db_tab_block()
# re-codes it on each cell query's patterns).
db_tag <- function(v, s) {
  v$db_spec <- s
  if (!is.null(v$plain)) v$plain$db_spec <- s$var
  v
}
