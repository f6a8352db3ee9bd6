# Weights on database tables (issue 18): wt_rake(), wt_poststrat() and
# wt_calibrate() on a db_table() or a dbplyr table. The rows stay in the
# database; only cells come into R, and the weights go back as an SQL
# expression (or a new table) that multiplies each row's starting weight by
# its cell's factor, or by g(x' lambda) with numeric auxiliaries.

#' Weights made on a database table, and how to apply them there
#'
#' [wt_rake()], [wt_poststrat()] and [wt_calibrate()] accept a database
#' table ([db_table()], or a dbplyr lazy table) as `data`, with `weights`
#' the name of a column of starting weights (or `NULL` for 1). The rows
#' never come into R: the result is an object of class `umfrage_db_weights`
#' that describes the weights (a small table of cell factors, or the
#' coefficients of a calibration on numeric auxiliaries) and prints their
#' diagnostics; `db_weights_sql()` gives an SQL expression that computes the
#' weight of a row from the table's columns, and `db_write_weights()` writes
#' a new table, the source's columns and the weights, inside a transaction.
#'
#' @section Categorical margins:
#' One aggregate query over the margin variables returns the cells (rows and
#' sum of the starting weights per combination of the margin variables'
#' values); raking, post-stratification and calibration then run in C on
#' these cells, as they do in memory (where the rows are summed to the same
#' cells first). Each row's weight is its starting weight times its cell's
#' factor, so the weights equal those of the in-memory functions on the same
#' rows (to rounding, about 1e-15 relative). The SQL expression is a `CASE`
#' over the cells, nested by variable (a row passes one `WHEN` per level of
#' each margin variable at most). `NULL` in a margin variable is an error that names the
#' column and counts the rows (recode it to a level with a target, or filter
#' the rows, e.g. in a dbplyr query). `cap` of [wt_rake()] is not available
#' on database tables (use `wt_calibrate(method = "logit", bounds = )`).
#'
#' @section Numeric auxiliaries:
#' [wt_calibrate()] with numeric auxiliaries runs Newton's method in R on
#' the coefficients lambda, one aggregate query per evaluation (per cell of
#' the margins: the sums of `w0 g`, `w0 g x`, `w0 g'`, `w0 g' x`, `w0 g' x
#' x'`), with survey's criterion, step halving and a final step as in
#' memory; the weight is `w0 * g(x' lambda)`, with `x' lambda` a `CASE` per
#' margin plus the numeric columns times their coefficients. Methods
#' `"raking"` and `"logit"` need the engine's `EXP()`: on SQLite it is
#' loaded with `RSQLite::initExtension(con, "math")`; an engine without it is
#' an error that says so. The weights equal those in memory to the
#' convergence tolerance (with the default `epsilon = 1e-10` about 1e-13
#' relative, as Newton converges quadratically).
#'
#' @section Writing back:
#' `db_write_weights()` runs `CREATE TABLE <table> AS SELECT <columns>,
#' <expression> AS <name> FROM <source>` in a transaction (with `overwrite =
#' TRUE` the old table is dropped in the same transaction), checks the new
#' table's rows, and commits: the table appears only when complete; on an
#' error (a read-only database, a lost connection) the transaction is rolled
#' back and the error names the table. It returns the weights object,
#' recording where the weights were written: given as `weights` to [tab()]
#' on a `db_table()` of the new table, it stands for the weights column.
#' [tab()] then treats the weights as fixed (the calibration-adjusted
#' variance that in-memory weights carry is not available on databases).
#'
#' @section Joining a factor table:
#' With categorical margins only, each row's weight is its starting weight
#' times its cell's factor, so the weights can also go back as a small
#' table of the cells (the margin variables, with the source's own column
#' types, and a column `umfrage_factor`) joined to the rows in the
#' database. `db_write_weights(method = "join")` writes that table as a
#' temporary table (where the engine allows, else a uniquely named table),
#' runs `CREATE TABLE <table> AS SELECT s.*, CAST(s.w0 * f.umfrage_factor
#' AS <double>) AS <name> FROM <source> s INNER JOIN <factors> f ON s.a =
#' f.a AND ...`, checks the row count and drops the factor table, all in
#' the same transaction: neither table remains after an error. `method =
#' "case"` uses the expression of `db_weights_sql()`; `"auto"` (the default)
#' joins from 1,000 cells on (on SQLite at 1e6 rows the CASE is about 15\%
#' faster at 200 cells, the JOIN 12 times faster at 15,000). With numeric
#' auxiliaries the weight is `w0 * g(x' lambda)` per row and the expression
#' is used. `db_write_factors()` writes the factor table under a name of
#' your choice, and `db_weights_sql(x, join = TRUE, factors = )` gives the
#' `SELECT` that joins it (every column of the source and the weight).
#'
#' @section Progress:
#' With `options(umfrage.progress = TRUE)` (the default in interactive
#' sessions) each query is announced, and each Newton iteration with its
#' error. The option may also be a function, called with each message.
#'
#' @param x A `umfrage_db_weights` object from [wt_rake()],
#'   [wt_poststrat()] or [wt_calibrate()] on a database table.
#' @param name The name of the weights column in the new table.
#' @param table The name of the new table (default: the source table's name
#'   followed by `_weighted`).
#' @param overwrite Whether to replace an existing table of that name.
#' @param method `"auto"`, `"join"` or `"case"`: how `db_write_weights()`
#'   applies the cell factors (see "Joining a factor table").
#' @param join `FALSE` for the expression (a `CASE`), `TRUE` for a full
#'   `SELECT` joining the factor table `factors`.
#' @param factors The name of the factor table (of `db_write_factors()`).
#' @return `db_weights_sql()`: a single string, an SQL expression (or with
#'   `join = TRUE` a `SELECT`). `db_write_factors()`: `x`, invisibly.
#'   `db_write_weights()`: `x`, invisibly, with the table and column written.
#' @seealso [db_table()], [wt_rake()], [wt_calibrate()]
#' @examples
#' if (requireNamespace("RSQLite", quietly = TRUE)) {
#'   con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
#'   set.seed(1)
#'   DBI::dbWriteTable(con, "s", data.frame(
#'     sex = sample(c("f", "m"), 200, TRUE), age = sample(c("y", "o"), 200, TRUE),
#'     w0 = runif(200, 0.5, 2)))
#'   w <- wt_rake(db_table(con, "s"), list(sex = c(f = 0.51, m = 0.49),
#'                                         age = c(y = 0.4, o = 0.6)), weights = "w0")
#'   print(w)
#'   cat(db_weights_sql(w), "\n")
#'   db_write_weights(w, "wr", table = "s_weighted")
#'   print(tab(db_table(con, "s_weighted"), "sex", weights = "wr"))
#'   DBI::dbDisconnect(con)
#' }
#' @name db_weights
NULL

# ---- the cells ------------------------------------------------------------------

# The source and starting-weights column of wt_*(data = <db source>).
db_wt_source <- function(data, weights) {
  src <- as_db_source(data, "data")
  list(src = src, wcol = db_weights_col(weights, src))
}

# The margins' cells: one GROUP BY query over the margin variables, with the
# checks of the starting weights and of NULLs in the margin variables. vars
# as the engine returns them (raw, for the SQL) and as the margins are coded
# from (0/1 columns whose targets are named TRUE/FALSE read as logical:
# SQLite has no boolean).
db_wt_cells <- function(src, vars, wcol, margins) {
  db_check_cols(src, vars, "targets")
  cells <- db_cells(src, vars, wcol)
  db_check_cells(src, cells, wcol, list())
  n <- cells$stats$n
  if (!length(n) || sum(n) == 0) stopf("'data' (%s) has no rows", src$what)
  for (v in vars) {
    x <- cells$vars[[v]]
    if (anyNA(x))
      stopf("margin variable %s of %s holds %s NULL value(s); every row needs a level with a target: recode the NULLs to a level (and give it a target) or leave those rows out (a dbplyr filter)",
            q(v), src$what, format(sum(n[is.na(x)]), big.mark = ",", scientific = FALSE))
  }
  coded <- cells$vars
  for (v in vars) {
    x <- coded[[v]]
    keys <- unique(unlist(lapply(margins, function(m) if (v %in% m$vars) m$keys[[v]])))
    if (is.numeric(x) && all(x %in% c(0, 1)) && length(keys) && all(keys %in% c("TRUE", "FALSE")))
      coded[[v]] <- as.logical(x)
  }
  list(raw = cells$vars, coded = coded, n = n, w0 = cells$stats$sw,
       wpos = cells$stats$npos)
}

# Rows per joint level of margin m (1-based), from the cells' codes.
db_margin_rows <- function(prep, m, n) {
  i <- prep$margins[[m]] + 1L
  id <- cal_cell_codes(lapply(prep$codes[i], as.integer), prep$nlev[i])
  cell_sums(id, prod(prep$nlev[i]), n)
}

# A cell's value without a target (status 1 of the C routines on cells).
db_code_problem <- function(prep, C, src, j) {
  v <- prep$vars[j]
  bad <- is.na(prep$codes[[v]])
  stopf("level(s) %s of %s occur in %s row(s) of %s but have no target; give each a target (0 drops its rows)",
        qlist(unique(C$raw[[v]][bad])), q(v),
        format(sum(C$n[bad]), big.mark = ",", scientific = FALSE), src$what)
}

# ---- wt_rake() / wt_poststrat() -------------------------------------------------

db_wt_rake <- function(data, targets, weights, epsilon, maxit, cap, total, verbose,
                       method = "rake", margins = NULL) {
  epsilon <- check_number(epsilon, "epsilon", min = 0)
  maxit <- check_count(maxit, "maxit")
  check_flag(verbose, "verbose")
  s <- db_wt_source(data, weights)
  src <- s$src
  if (!is.null(cap))
    stopf("'cap' is not available when 'data' is a database table (%s): bound the weights with wt_calibrate(method = \"logit\", bounds = c(L, U)) instead",
          src$what)
  if (is.null(margins)) margins <- normalize_targets(targets)
  margins <- scale_targets(margins, total)
  vars <- unique(unlist(lapply(margins, `[[`, "vars")))
  C <- db_wt_cells(src, vars, s$wcol, margins)
  prep <- prepare_margins(C$coded, margins)
  res <- .Call(C_rake, prep$codes, prep$nlev, C$w0, prep$margins, prep$targets,
               attr(margins, "scale"), NA_real_, as.double(epsilon), as.integer(maxit), NA)
  if (res$status != 0L) {
    if (res$status == 1L) db_code_problem(prep, C, src, res$info[1L] + 1L)
    if (res$status %in% c(3L, 4L, 6L)) {
      m <- res$info[1L] + 1L
      res$info[3L] <- db_margin_rows(prep, m, C$n)[res$info[2L] + 1L]
      if (res$status == 4L && res$info[3L] > 0) {
        lv <- margin_level_names(prep, m)[res$info[2L] + 1L]
        stopf("target level %s of %s has a positive target but its %s row(s) in %s all have starting weight 0",
              q(lv), q(paste(prep$vars[prep$margins[[m]] + 1L], collapse = ":")),
              format(res$info[3L], big.mark = ",", scientific = FALSE), src$what)
      }
    }
    rake_status_error(res, prep, C$coded, C$w0, NULL)
  }
  fn <- if (method == "rake") "wt_rake" else "wt_poststrat"
  if (verbose) {
    message(sprintf("%s: database cells, %d cells, %d margins", fn, length(C$n), length(margins)))
    for (i in seq_along(res$trace))
      message(sprintf("  sweep %d: largest relative margin error %.3g", i - 1L, res$trace[i]))
  }
  if (!res$converged) {
    wh <- worst_level(prep, res$worst)
    warnf("%s() did not converge in maxit = %d sweeps: largest relative margin error %.3g (variable %s, level %s) > epsilon = %.3g",
          fn, maxit, res$max_error, q(wh[1]), q(wh[2]), epsilon)
  }
  factor <- ifelse(C$w0 > 0, res$weights / C$w0, 0)
  res$n <- lapply(seq_along(prep$margins), function(m) db_margin_rows(prep, m, C$n))
  N <- sum(C$n)
  info <- list(method = method, iterations = res$iterations, converged = res$converged,
               max_error = res$max_error, trace = res$trace, mode = "database cells",
               ncell = length(C$n), total = res$total, margins = margin_table(res, prep, N),
               weighted_start = !is.null(s$wcol), epsilon = epsilon, maxit = maxit,
               reading = attr(margins, "reading"))
  new_db_weights(src, s$wcol, info, N, vars = vars,
                 cells = list(raw = C$raw, n = C$n, w0 = C$w0, factor = factor))
}

db_wt_poststrat <- function(data, targets, weights, total) {
  if (is.table(targets) || inherits(targets, "xtabs")) {
    targets <- as.data.frame(targets, stringsAsFactors = FALSE)
    if (!"Freq" %in% names(targets))
      stopf("'targets' as a table must convert to a data frame with a 'Freq' column")
  }
  margins <- if (is.data.frame(targets)) {
    list(margin_from_df(targets, "targets", "the cell targets"))
  } else if (is.list(targets) && length(targets) == 1L && !is.data.frame(targets[[1L]])) {
    normalize_targets(targets)
  } else if (is.list(targets) && length(targets) == 1L) {
    list(margin_from_df(targets[[1L]], "targets", "the cell targets"))
  } else {
    stopf("'targets' must be a data frame of cells with a 'target' column, a table, or a list with one named vector; not %s",
          obj_desc(targets))
  }
  db_wt_rake(data, NULL, weights, 1e-9, 10L, NULL, total, FALSE, method = "poststrat",
             margins = margins)
}

# ---- wt_calibrate() ---------------------------------------------------------------

db_wt_calibrate <- function(data, targets, weights, method, bounds, epsilon, maxit, total) {
  method <- match.arg(method, c("linear", "raking", "logit"))
  epsilon <- check_number(epsilon, "epsilon", min = 0)
  maxit <- check_count(maxit, "maxit")
  check_bounds(bounds, method)
  s <- db_wt_source(data, weights)
  src <- s$src
  wcol <- s$wcol
  # a single unnamed total for a column that is not numeric: the engine
  # cannot sum it (split_targets() would read it as a margin)
  if (is.list(targets) && !is.data.frame(targets) && !is.null(names(targets))) {
    for (nm in names(targets)) {
      el <- targets[[nm]]
      if (nm %in% src$cols && is.numeric(el) && length(el) == 1L && is.null(names(el)) &&
          !is.numeric(src$proto[[nm]]))
        stopf("numeric auxiliary %s of %s must be a numeric column that the engine can sum, not %s",
              q(nm), src$what, if (!is.na(src$etype[[nm]])) src$etype[[nm]] else class(src$proto[[nm]])[1L])
    }
  }
  ct <- calib_targets(targets, src$proto, total)
  parts <- ct$parts
  margins <- ct$margins
  reading <- ct$reading
  scale <- ct$scale
  vars <- unique(unlist(lapply(margins, `[[`, "vars")))
  nums <- parts$numeric
  if (length(nums)) db_check_cols(src, nums, "targets")
  C <- db_wt_cells(src, vars, wcol, margins)
  N <- sum(C$n)
  prep <- NULL
  if (length(margins)) {
    prep <- prepare_margins(C$coded, margins)
    if (scale) prep$targets <- lapply(prep$targets, function(t) t * sum(C$w0))
  }
  meth <- match(method, c("linear", "raking", "logit")) - 1L
  cal_args <- function(maxit_c) {
    .Call(C_calibrate,
          if (is.null(prep)) list() else prep$codes,
          if (is.null(prep)) integer() else as.integer(prep$nlev),
          C$w0, if (is.null(prep)) list() else lapply(prep$margins, as.integer),
          if (is.null(prep)) list() else prep$targets,
          list(), double(), meth, as.double(bounds), list(epsilon, maxit_c))
  }
  cat_error <- function(res) {
    if (res$status == 1L) db_code_problem(prep, C, src, res$info[1L] + 1L)
    if (res$status %in% c(3L, 4L)) {
      m <- res$info[1L] + 1L
      res$info[3L] <- db_margin_rows(prep, m, C$n)[res$info[2L] + 1L]
    }
    calibrate_status_error(res, prep, list(numeric = character(), totals = list()),
                           C$coded, C$w0, bounds, method)
  }
  if (!length(nums)) {
    # categorical margins only: the C routine on the cells
    res <- cal_args(maxit)
    if (res$status != 0L) cat_error(res)
    factor <- ifelse(C$w0 > 0, res$weights / C$w0, 0)
    cols <- res$columns
    m <- cols[, 3L]
    tab <- data.frame(
      variable = vapply(m, function(k) paste(prep$vars[prep$margins[[k + 1L]] + 1L], collapse = ":"), ""),
      level = vapply(seq_len(nrow(cols)), function(k)
        margin_level_names(prep, m[k] + 1L)[cols[k, 4L] + 1L], ""),
      target = cols[, 2L], achieved = cols[, 1L], n = 0, sample_share = 0,
      stringsAsFactors = FALSE)
    tab$n <- vapply(seq_len(nrow(cols)), function(k)
      db_margin_rows(prep, m[k] + 1L, C$n)[cols[k, 4L] + 1L], 0)
    tab$sample_share <- tab$n / N
    info <- list(method = "calibrate", calfun = method, bounds = as.double(bounds),
                 iterations = res$iterations, converged = res$converged,
                 max_error = res$max_error, trace = res$trace, g_range = res$g_range,
                 mode = "database cells", ncell = length(C$n),
                 total = sum(prep$targets[[1L]], na.rm = TRUE), margins = tab,
                 weighted_start = !is.null(wcol), epsilon = epsilon, maxit = maxit,
                 reading = reading)
    return(new_db_weights(src, wcol, info, N, vars = vars,
                          cells = list(raw = C$raw, n = C$n, w0 = C$w0, factor = factor)))
  }
  # numeric auxiliaries: the categorical checks on the cells first (what
  # cannot be met whatever the numeric columns do), then Newton in R with
  # one aggregate query per evaluation
  if (!is.null(prep)) {
    res <- cal_args(1L)
    if (!res$status %in% c(0L, 7L, 8L)) cat_error(res)
  }
  if (meth > 0L) db_need_exp(src, method)
  db_calibrate_numeric(src, wcol, C, prep, nums, as.double(unlist(parts$totals)), method,
                       as.double(bounds), epsilon, maxit, reading, vars)
}

# EXP() on the engine: SQLite (RSQLite) loads its math extension; another
# engine without it is an error that names the function.
db_need_exp <- function(src, method) {
  con <- src$con
  ok <- function() isTRUE(tryCatch(
    abs(as.double(DBI::dbGetQuery(con, "SELECT EXP(0.0) AS e")[[1L]]) - 1) < 1e-15,
    error = function(e) FALSE))
  if (ok()) return(invisible())
  if (inherits(con, "SQLiteConnection") && requireNamespace("RSQLite", quietly = TRUE)) {
    try(RSQLite::initExtension(con, "math"), silent = TRUE)
    if (ok()) return(invisible())
  }
  stopf("method = %s with numeric auxiliaries needs the SQL function EXP(), which the database of %s does not provide%s; use method = \"linear\"",
        q(method), src$what,
        if (inherits(con, "SQLiteConnection")) " (RSQLite::initExtension(con, \"math\") failed)" else "")
}

# A query (or a statement) whose failure is an error: RPostgreSQL returns
# NULL with a warning when the connection is lost, and that warning (which
# quotes the whole query) becomes the error's message, shortened.
db_query <- function(con, sql, execute = FALSE) {
  msgs <- character()
  out <- withCallingHandlers(
    if (execute) DBI::dbExecute(con, sql) else DBI::dbGetQuery(con, sql),
    warning = function(w) {
      msgs <<- c(msgs, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  if (is.null(out) || (!execute && !is.data.frame(out))) {
    msgs <- sub("^Could not create execute: .*", "the engine did not run the query (is the connection lost?)", msgs)
    stop(if (length(msgs)) paste(unique(msgs), collapse = "; ")
         else "the engine returned no result (is the connection lost?)", call. = FALSE)
  }
  out
}

# SQL of a number, exactly (17 significant digits).
sql_num <- function(v) {
  if (!is.finite(v)) stopf("internal: a non-finite number in SQL")
  sprintf("%.17g", v)
}

# SQL literal of a value as the engine returned it (for comparisons).
db_lit <- function(con, v) {
  if (is.logical(v)) return(if (v) "TRUE" else "FALSE")
  if (is.numeric(v)) return(sql_num(as.double(v)))
  if (inherits(v, "Date")) return(as.character(DBI::dbQuoteLiteral(con, v)))
  as.character(DBI::dbQuoteString(con, as.character(v)))
}

# db_lit() of a vector at once (quoting one value at a time costs an S4
# dispatch per value: seconds for 15,000 cells).
db_lits <- function(con, v) {
  if (is.logical(v)) return(ifelse(v, "TRUE", "FALSE"))
  if (is.numeric(v)) {
    if (!all(is.finite(v))) stopf("internal: a non-finite number in SQL")
    return(sprintf("%.17g", as.double(v)))
  }
  if (inherits(v, "Date")) return(as.character(DBI::dbQuoteLiteral(con, v)))
  as.character(DBI::dbQuoteString(con, as.character(v)))
}

# The distance function in SQL: g and g' of u (an SQL expression), as
# calib.c's cal_g(). exp() arguments are clamped (to +-300 for raking,
# where g would be absurd anyway, and -700 for logit's exp(-|z|)), so that
# engines that raise errors on overflow or underflow (PostgreSQL) do not.
db_g_sql <- function(u, method, bounds) {
  L <- bounds[1L]
  U <- bounds[2L]
  clamp <- function(v) {
    w <- character()
    if (is.finite(L)) w <- c(w, sprintf("WHEN %s < %s THEN %s", v, sql_num(L), sql_num(L)))
    if (is.finite(U)) w <- c(w, sprintf("WHEN %s > %s THEN %s", v, sql_num(U), sql_num(U)))
    if (!length(w)) v else sprintf("(CASE %s ELSE %s END)", paste(w, collapse = " "), v)
  }
  inside <- function(v, yes) {
    c0 <- c(if (is.finite(L)) sprintf("%s > %s", v, sql_num(L)),
            if (is.finite(U)) sprintf("%s < %s", v, sql_num(U)))
    if (!length(c0)) yes else sprintf("(CASE WHEN %s THEN %s ELSE 0.0 END)", paste(c0, collapse = " AND "), yes)
  }
  if (method == "linear") {
    v <- sprintf("(1.0 + %s)", u)
    return(list(g = clamp(v), d = inside(v, "1.0")))
  }
  if (method == "raking") {
    e <- sprintf("EXP(CASE WHEN %s > 300.0 THEN 300.0 WHEN %s < -300.0 THEN -300.0 ELSE %s END)", u, u, u)
    return(list(g = clamp(e), d = inside(e, e)))
  }
  A <- (U - L) / ((1 - L) * (U - 1))
  la <- log((1 - L) / (U - 1))
  z <- sprintf("(%s * %s + %s)", sql_num(A), u, sql_num(la))
  e <- sprintf("EXP(CASE WHEN ABS(%s) > 700.0 THEN -700.0 ELSE -ABS(%s) END)", z, z)
  r <- sprintf("(1.0 / (1.0 + %s))", e)
  t <- sprintf("(CASE WHEN %s >= 0 THEN %s ELSE %s * %s END)", z, r, e, r)
  list(g = sprintf("(%s + %s * %s)", sql_num(L), sql_num(U - L), t),
       d = sprintf("(%s * %s * %s * %s)", sql_num(A * (U - L)), e, r, r))
}

# x' lambda in SQL over the source's columns: per margin a CASE over its
# levels (as the cells hold them) and the numeric columns times their
# coefficients. lin: list(margins = list of list(vars, keys (data frame of
# raw values), coef)), numeric = names, ncoef = coefficients).
db_u_sql <- function(src, lin, num_expr = NULL) {
  terms <- character()
  for (mg in lin$margins) {
    k <- mg$keys
    whens <- vapply(seq_len(nrow(k)), function(i) {
      conds <- vapply(mg$vars, function(v) sprintf("%s = %s", qid(src, v), db_lit(src$con, k[[v]][i])), "")
      sprintf("WHEN %s THEN %s", paste(conds, collapse = " AND "), sql_num(mg$coef[i]))
    }, "")
    terms <- c(terms, sprintf("(CASE %s ELSE NULL END)", paste(whens, collapse = " ")))
  }
  if (is.null(num_expr))
    num_expr <- vapply(lin$numeric, function(v) sprintf("CAST(%s AS DOUBLE PRECISION)", qid(src, v)), "")
  for (j in seq_along(lin$numeric))
    terms <- c(terms, sprintf("%s * %s", sql_num(lin$ncoef[j]), num_expr[j]))
  if (!length(terms)) "0.0" else paste0("(", paste(terms, collapse = " + "), ")")
}

# Newton on lambda with one aggregate query per evaluation (calib.c's
# cal_newton(), cal_start(), cal_final_step(), cal_check_bounds() and the
# collinearity check, on the cells' sums from the engine).
db_calibrate_numeric <- function(src, wcol, C, prep, nums, ntot, method, bounds, epsilon,
                                 maxit, reading, vars) {
  con <- src$con
  nq <- length(nums)
  al <- function(a) qid(src, paste0("umfrage_", a))
  w0 <- if (is.null(wcol)) "1.0" else sprintf("CAST(%s AS DOUBLE PRECISION)", qid(src, wcol))
  xs <- vapply(nums, function(v) sprintf("CAST(%s AS DOUBLE PRECISION)", qid(src, v)), "")
  gvars <- vapply(vars, function(v) qid(src, v), "")
  grp <- if (length(vars)) paste0(" GROUP BY ", paste(gvars, collapse = ", ")) else ""
  run <- function(sql, what) {
    tryCatch(db_query(con, sql), error = function(e)
      stopf("calibration on %s failed in the database (%s): %s", src$what, what, conditionMessage(e)))
  }
  # the categorical columns (calib.c's numbering: per margin its levels with
  # a target and rows or a positive target) and each cell's column per margin
  pc <- 0L
  colt <- double()
  colinfo <- list()
  cellcol <- matrix(NA_integer_, length(C$n), length(prep$margins))
  margins_lin <- list()
  for (m in seq_along(prep$margins)) {
    i <- prep$margins[[m]] + 1L
    id <- cal_cell_codes(lapply(prep$codes[i], as.integer), prep$nlev[i])
    t <- prep$targets[[m]]
    rows <- cell_sums(id, prod(prep$nlev[i]), C$n)
    keep <- which(!is.na(t) & !(rows == 0 & t == 0))
    k <- match(id, keep)
    cellcol[, m] <- pc + k
    colt <- c(colt, t[keep])
    colinfo <- c(colinfo, lapply(keep, function(l) c(m, l)))
    # the levels as the cells hold them, for the SQL
    first <- !duplicated(id)
    margins_lin[[m]] <- list(vars = prep$vars[i], keys = C$raw[first, prep$vars[i], drop = FALSE],
                             col = pc + k[first])
    pc <- pc + length(keep)
  }
  p <- pc + nq
  colt <- c(colt, ntot)
  # moments: per cell sum w0 x, w0 x x', and per numeric NULLs, positive and
  # negative parts (one query)
  pairs <- which(upper.tri(diag(nq), diag = TRUE), arr.ind = TRUE)
  pairs <- pairs[order(pairs[, 1L], pairs[, 2L]), , drop = FALSE]
  mom <- c(sprintf("SUM(%s * %s) AS %s", w0, xs, al(paste0("wx", seq_len(nq)))),
           sprintf("SUM(%s * %s * %s) AS %s", w0, xs[pairs[, 1L]], xs[pairs[, 2L]],
                   al(paste0("wxx", seq_len(nrow(pairs))))),
           sprintf("SUM(CASE WHEN %s IS NULL THEN 1 ELSE 0 END) AS %s", xs, al(paste0("xnull", seq_len(nq)))),
           sprintf("SUM(CASE WHEN %s > 0 THEN %s * %s ELSE 0.0 END) AS %s", xs, w0, xs, al(paste0("xpos", seq_len(nq)))),
           sprintf("SUM(CASE WHEN %s < 0 THEN -%s * %s ELSE 0.0 END) AS %s", xs, w0, xs, al(paste0("xneg", seq_len(nq)))))
  db_progress("umfrage: calibrating %s: moments of %s", src$what, paste(nums, collapse = ", "))
  M0 <- run(sprintf("SELECT %s FROM %s%s", paste(c(gvars, mom), collapse = ", "), src$from, grp),
            "moments")
  cix <- db_match_cells(M0, C, vars)
  getc <- function(df, a) as.double(df[[paste0("umfrage_", a)]])[cix]
  for (j in seq_len(nq)) {
    nn <- sum(getc(M0, paste0("xnull", j)))
    if (nn > 0)
      stopf("numeric auxiliary %s of %s holds %s NULL value(s); calibration needs a value in every row",
            q(nums[j]), src$what, format(nn, big.mark = ",", scientific = FALSE))
  }
  # the system at g = 1 (X' W0 X): collinearity, as C checks it
  assemble <- function(sg, sgx, sd, sdx, sdxx) {
    ach <- numeric(p)
    T <- matrix(0, p, p)
    for (c in seq_along(C$n)) {
      ks <- cellcol[c, ]
      ks <- ks[!is.na(ks)]
      ach[ks] <- ach[ks] + sg[c]
      T[ks, ks] <- T[ks, ks] + sd[c]
      if (nq) {
        T[ks, pc + seq_len(nq)] <- T[ks, pc + seq_len(nq)] + rep(sdx[c, ], each = length(ks))
        T[pc + seq_len(nq), ks] <- T[pc + seq_len(nq), ks] + rep(sdx[c, ], times = length(ks))
      }
    }
    if (nq) {
      ach[pc + seq_len(nq)] <- colSums(sgx)
      tot <- colSums(sdxx)
      for (r in seq_len(nrow(pairs))) {
        a <- pc + pairs[r, 1L]
        b <- pc + pairs[r, 2L]
        T[a, b] <- T[b, a] <- tot[r]
      }
    }
    list(ach = ach, T = T)
  }
  wx <- sapply(seq_len(nq), function(j) getc(M0, paste0("wx", j)))
  wxx <- sapply(seq_len(nrow(pairs)), function(r) getc(M0, paste0("wxx", r)))
  dim(wx) <- c(length(C$n), nq)
  dim(wxx) <- c(length(C$n), nrow(pairs))
  S0 <- assemble(C$w0, wx, C$w0, wx, wxx)
  col_label <- function(k) {
    if (k > pc) return(sprintf("numeric auxiliary %s", q(nums[k - pc])))
    ci <- colinfo[[k]]
    sprintf("level %s of %s", q(margin_level_names(prep, ci[1L])[ci[2L]]),
            q(paste(prep$vars[prep$margins[[ci[1L]]] + 1L], collapse = ":")))
  }
  d0 <- diag(S0$T)
  if (any(d0[pc + seq_len(nq)] == 0))
    stopf("%s is 0 in every row with a positive starting weight: it cannot be calibrated",
          col_label(pc + which(d0[pc + seq_len(nq)] == 0)[1L]))
  rank_of <- function(ix) {
    A <- S0$T[ix, ix, drop = FALSE]
    s <- 1 / sqrt(diag(A))
    ev <- eigen(A * outer(s, s), symmetric = TRUE, only.values = TRUE)$values
    sum(ev > 1e-10 * max(ev))
  }
  base <- seq_len(pc)
  r0 <- if (pc) rank_of(base) else 0L
  bad <- character()
  for (j in seq_len(nq)) {
    if (rank_of(c(base, pc + j)) <= r0) bad <- c(bad, nums[j]) else {
      base <- c(base, pc + j)
      r0 <- r0 + 1L
    }
  }
  if (length(bad))
    stopf("collinear auxiliaries: numeric %s is linearly dependent on the margins' level indicators or the other numeric auxiliaries, so its total cannot be met separately; drop it",
          qlist(bad))
  # bounds: can each total be reached with every g within them?
  L <- if (method == "raking" && bounds[1L] < 0) 0 else bounds[1L]
  U <- bounds[2L]
  open_lo <- method == "logit" || (method == "raking" && bounds[1L] <= 0)
  open_hi <- method == "logit"
  xpos <- vapply(seq_len(nq), function(j) sum(getc(M0, paste0("xpos", j))), 0)
  xneg <- vapply(seq_len(nq), function(j) sum(getc(M0, paste0("xneg", j))), 0)
  for (k in seq_len(p)) {
    pos <- if (k <= pc) S0$ach[k] else xpos[k - pc]
    neg <- if (k <= pc) 0 else xneg[k - pc]
    lo <- (if (pos > 0) L * pos else 0) - (if (neg > 0) U * neg else 0)
    hi <- (if (pos > 0) U * pos else 0) - (if (neg > 0) L * neg else 0)
    t <- colt[k]
    tol <- 1e-10 * (abs(t) + pos + neg)
    if (t < lo - tol || t > hi + tol || (open_lo && neg == 0 && abs(t - lo) <= tol && pos > 0) ||
        (open_hi && neg == 0 && abs(t - hi) <= tol && pos > 0))
      stopf("bounds c(%s, %s) make the targets unreachable: %s needs a total of %s but can reach only %s to %s with every g within the bounds%s",
            format(bounds[1L]), format(bounds[2L]), col_label(k), format(t, digits = 7),
            format(lo, digits = 7), format(hi, digits = 7),
            if (method == "logit") " (method 'logit' keeps g strictly inside them)"
            else if (method == "raking") " (method 'raking' keeps g above 0)" else "")
  }
  # one evaluation: one query
  lin_of <- function(lambda) {
    list(margins = lapply(margins_lin, function(mg) c(mg, list(coef = lambda[mg$col]))),
         numeric = nums, ncoef = lambda[pc + seq_len(nq)])
  }
  nev <- 0L
  evaluate <- function(lambda) {
    nev <<- nev + 1L
    u <- db_u_sql(src, lin_of(lambda), num_expr = al(paste0("x", seq_len(nq))))
    inner <- sprintf("SELECT %s FROM %s", paste(c(gvars, sprintf("%s AS %s", w0, al("w0")),
                                                   sprintf("%s AS %s", xs, al(paste0("x", seq_len(nq))))),
                                                 collapse = ", "), src$from)
    mid <- sprintf("SELECT %s FROM (%s) %s", paste(c(gvars, al("w0"), al(paste0("x", seq_len(nq))),
                                                      sprintf("%s AS %s", u, al("u"))), collapse = ", "),
                   inner, al("s1"))
    gd <- db_g_sql(al("u"), method, bounds)
    outer <- sprintf("SELECT %s FROM (%s) %s", paste(c(gvars, al("w0"), al(paste0("x", seq_len(nq))),
                                                        sprintf("%s AS %s", gd$g, al("g")),
                                                        sprintf("%s AS %s", gd$d, al("d"))), collapse = ", "),
                     mid, al("s2"))
    W <- al("w0")
    X <- al(paste0("x", seq_len(nq)))
    G <- al("g")
    D <- al("d")
    aggs <- c(sprintf("SUM(%s * %s) AS %s", W, G, al("sg")),
              sprintf("SUM(%s * %s) AS %s", W, D, al("sd")),
              sprintf("SUM(%s * %s * %s) AS %s", W, G, X, al(paste0("sgx", seq_len(nq)))),
              sprintf("SUM(%s * %s * %s) AS %s", W, D, X, al(paste0("sdx", seq_len(nq)))),
              sprintf("SUM(%s * %s * %s * %s) AS %s", W, D, X[pairs[, 1L]], X[pairs[, 2L]],
                      al(paste0("sdxx", seq_len(nrow(pairs))))),
              sprintf("MIN(CASE WHEN %s > 0 THEN %s END) AS %s", W, G, al("gmin")),
              sprintf("MAX(CASE WHEN %s > 0 THEN %s END) AS %s", W, G, al("gmax")))
    sql <- sprintf("SELECT %s FROM (%s) %s%s", paste(c(gvars, aggs), collapse = ", "), outer,
                   al("s3"), grp)
    R <- run(sql, sprintf("evaluation %d", nev))
    if (nrow(R) != length(C$n)) stopf("calibration on %s: the table changed while it ran (its cells differ)", src$what)
    ix <- db_match_cells(R, C, vars)
    g1 <- function(a) as.double(R[[paste0("umfrage_", a)]])[ix]
    sgx <- sapply(seq_len(nq), function(j) g1(paste0("sgx", j)))
    sdx <- sapply(seq_len(nq), function(j) g1(paste0("sdx", j)))
    sdxx <- sapply(seq_len(nrow(pairs)), function(r) g1(paste0("sdxx", r)))
    dim(sgx) <- dim(sdx) <- c(length(C$n), nq)
    dim(sdxx) <- c(length(C$n), nrow(pairs))
    S <- assemble(g1("sg"), sgx, g1("sd"), sdx, sdxx)
    r <- colt - S$ach
    e <- abs(r) / (1 + abs(colt))
    ok <- all(is.finite(S$ach)) && all(is.finite(S$T))
    list(ach = S$ach, T = S$T, r = r, sw = sum(g1("sg")), maxrel = if (ok) max(e) else Inf,
         worst = if (ok) which.max(e) else 1L, ss = if (ok) sum(e^2) else Inf, ok = ok,
         grange = c(suppressWarnings(min(g1("gmin"), na.rm = TRUE)),
                    suppressWarnings(max(g1("gmax"), na.rm = TRUE))))
  }
  pinv_step <- function(T, r) {
    ev <- eigen(T, symmetric = TRUE)
    keep <- abs(ev$values) > 256 * .Machine$double.eps * max(abs(ev$values))
    V <- ev$vectors[, keep, drop = FALSE]
    as.vector(V %*% (crossprod(V, r) / ev$values[keep]))
  }
  # the start (cal_start)
  lambda <- numeric(p)
  if (length(prep$margins)) {
    k1 <- which(vapply(colinfo, `[`, 1, 1L) == 1)
    sc <- sum(colt[k1]) / sum(C$w0)
    u0 <- NA
    if (sc > 0 && abs(log(sc)) > 1e-8) {
      if (method == "linear") u0 <- sc - 1
      else if (method == "raking") u0 <- log(sc)
      else {
        A <- (U - bounds[1L]) / ((1 - bounds[1L]) * (U - 1))
        la <- log((1 - bounds[1L]) / (U - 1))
        t <- (sc - bounds[1L]) / (U - bounds[1L])
        if (t > 1e-6 && t < 1 - 1e-6) u0 <- (log(t / (1 - t)) - la) / A
      }
    }
    if (!is.na(u0) && sc >= bounds[1L] && sc <= U) lambda[k1] <- u0
  }
  Ev <- evaluate(lambda)
  if (!Ev$ok) {
    lambda[] <- 0
    Ev <- evaluate(lambda)
  }
  trace <- double()
  best <- Inf
  stall <- 0L
  it <- 0L
  repeat {
    trace <- c(trace, Ev$maxrel)
    db_progress("umfrage: calibrating %s: iteration %d, largest relative error %.3g", src$what, it,
                Ev$maxrel)
    if (Ev$maxrel < epsilon) break
    if (it >= maxit)
      stopf("calibration did not converge in maxit iterations: largest relative error %.3g at %s (achieved %s, target %s); raise 'maxit' or relax 'bounds'",
            Ev$maxrel, col_label(Ev$worst), format(Ev$ach[Ev$worst], digits = 7),
            format(colt[Ev$worst], digits = 7))
    step <- pinv_step(Ev$T, Ev$r)
    accepted <- FALSE
    for (h in 1:40) {
      E2 <- evaluate(lambda + step)
      if (E2$ok && E2$ss < Ev$ss) { accepted <- TRUE; break }
      step <- step / 2
    }
    stalled <- function()
      stopf("calibration cannot meet the targets%s: it stopped improving after %d iterations; furthest off is %s (achieved %s, target %s)",
            if (all(is.infinite(bounds))) "" else sprintf(" within bounds c(%s, %s)", format(bounds[1L]), format(bounds[2L])),
            it, col_label(Ev$worst), format(Ev$ach[Ev$worst], digits = 7),
            format(colt[Ev$worst], digits = 7))
    if (!accepted) stalled()
    lambda <- lambda + step
    Ev <- E2
    it <- it + 1L
    if (Ev$maxrel < best * (1 - 1e-3)) {
      best <- Ev$maxrel
      stall <- 0L
    } else if ((stall <- stall + 1L) >= 10L) stalled()
  }
  # the final step (cal_final_step)
  if (it < maxit && Ev$maxrel > 64 * .Machine$double.eps) {
    step <- pinv_step(Ev$T, Ev$r)
    E2 <- evaluate(lambda + step)
    if (E2$ok && E2$ss < Ev$ss) {
      lambda <- lambda + step
      Ev <- E2
      it <- it + 1L
      trace <- c(trace, Ev$maxrel)
    }
  }
  tab <- data.frame(
    variable = vapply(seq_len(p), function(k) if (k <= pc)
      paste(prep$vars[prep$margins[[colinfo[[k]][1L]]] + 1L], collapse = ":") else nums[k - pc], ""),
    level = vapply(seq_len(p), function(k) if (k <= pc)
      margin_level_names(prep, colinfo[[k]][1L])[colinfo[[k]][2L]] else "(total)", ""),
    target = colt, achieved = Ev$ach, n = 0, sample_share = 0, stringsAsFactors = FALSE)
  N <- sum(C$n)
  tab$n <- vapply(seq_len(p), function(k) if (k <= pc)
    db_margin_rows(prep, colinfo[[k]][1L], C$n)[colinfo[[k]][2L]] else N, 0)
  tab$sample_share <- tab$n / N
  info <- list(method = "calibrate", calfun = method, bounds = bounds, iterations = it,
               converged = TRUE, max_error = Ev$maxrel, trace = trace, g_range = Ev$grange,
               mode = "database rows", ncell = length(C$n), passes = nev,
               total = if (pc) sum(colt[vapply(colinfo, `[`, 1, 1L) == 1]) else Ev$sw,
               margins = tab, weighted_start = !is.null(wcol), epsilon = epsilon, maxit = maxit,
               reading = reading)
  new_db_weights(src, wcol, info, N, vars = vars, lin = lin_of(lambda),
                 calfun = method, bounds = bounds, lambda = lambda)
}

# The rows of a query's result (grouped by vars) in the order of the cells C.
db_match_cells <- function(R, C, vars) {
  if (!length(vars)) return(rep(1L, nrow(R)))
  key <- function(df) do.call(paste, c(lapply(vars, function(v) format(df[[v]], digits = 17)),
                                       sep = "\r"))
  ix <- match(key(C$raw), key(R))
  if (anyNA(ix)) stopf("internal: the cells of two queries do not match")
  ix
}

# ---- the weights object --------------------------------------------------------------

new_db_weights <- function(src, wcol, info, N, vars, cells = NULL, lin = NULL, calfun = NULL,
                           bounds = NULL, lambda = NULL) {
  structure(list(source = src, weights = wcol, vars = vars, rows = N, info = info,
                 cells = cells, lin = lin, calfun = calfun, bounds = bounds, lambda = lambda,
                 written = NULL),
            class = "umfrage_db_weights")
}

#' @rdname db_weights
#' @export
db_weights_sql <- function(x, join = FALSE, factors = "umfrage_factors", name = "weight") {
  db_check_weights_obj(x)
  check_flag(join, "join")
  if (join) return(db_join_sql(x, factors, name))
  src <- x$source
  dbl <- src$double %||% "DOUBLE PRECISION"
  w0 <- if (is.null(x$weights)) NULL else sprintf("CAST(%s AS %s)", qid(src, x$weights), dbl)
  if (!is.null(x$cells)) {
    # a CASE tree, one level per margin variable: a row passes the sum of
    # the variables' level counts of WHENs, not the product
    ce <- x$cells
    tree <- function(idx, j) {
      v <- x$vars[j]
      vals <- ce$raw[[v]][idx]
      u <- unique(vals)
      whens <- vapply(seq_along(u), function(k) {
        sub <- idx[vals == u[k]]
        inner <- if (j == length(x$vars)) sql_num(ce$factor[sub[1L]]) else tree(sub, j + 1L)
        sprintf("WHEN %s = %s THEN %s", qid(src, v), db_lit(src$con, u[k]), inner)
      }, "")
      sprintf("(CASE %s ELSE NULL END)", paste(whens, collapse = " "))
    }
    f <- tree(seq_along(ce$n), 1L)
    return(if (is.null(w0)) f else sprintf("%s * %s", w0, f))
  }
  g <- db_g_sql(db_u_sql(src, x$lin), x$calfun, x$bounds)$g
  if (is.null(w0)) g else sprintf("%s * %s", w0, g)
}

db_check_weights_obj <- function(x) {
  if (!inherits(x, "umfrage_db_weights"))
    stopf("'x' must be weights made on a database table (wt_rake(), wt_poststrat() or wt_calibrate() on a db_table()), not %s",
          obj_desc(x))
}

db_check_name <- function(v, arg, what) {
  if (!is.character(v) || length(v) != 1L || is.na(v) || !nzchar(v))
    stopf("'%s' must be a single %s (a string)", arg, what)
}

# The factor table's column of factors (named so that it cannot be a margin
# variable of the weights).
db_factor_col <- function(x) {
  nm <- "umfrage_factor"
  while (nm %in% x$vars) nm <- paste0(nm, "_")
  nm
}

# The JOIN form: every column of the source and the weight, the source's
# rows joined (INNER) to the factor table on the margin variables.
db_join_sql <- function(x, factors, name) {
  if (is.null(x$cells))
    stopf("weights calibrated on numeric auxiliaries are g(x' lambda) per row, not a factor per cell: there is no factor table to join; use db_weights_sql(x) (an expression)")
  db_check_name(factors, "factors", "table name")
  db_check_name(name, "name", "column name")
  src <- x$source
  con <- src$con
  dbl <- src$double %||% "DOUBLE PRECISION"
  S <- qid(src, "umfrage_s")
  F <- qid(src, "umfrage_f")
  fcol <- sprintf("%s.%s", F, qid(src, db_factor_col(x)))
  w <- if (is.null(x$weights)) fcol
       else sprintf("CAST(%s.%s AS %s) * %s", S, qid(src, x$weights), dbl, fcol)
  from <- if (startsWith(src$from, "(")) sprintf("(SELECT * FROM %s)", src$from) else src$from
  on <- if (length(x$vars))
    paste(vapply(x$vars, function(v) sprintf("%s.%s = %s.%s", S, qid(src, v), F, qid(src, v)), ""),
          collapse = " AND ")
  else "1 = 1"
  sprintf("SELECT %s, CAST(%s AS %s) AS %s FROM %s %s INNER JOIN %s %s ON %s",
          paste(sprintf("%s.%s", S, vapply(src$cols, function(v) qid(src, v), "")), collapse = ", "),
          w, dbl, qid(src, name), from, S,
          as.character(DBI::dbQuoteIdentifier(con, factors)), F, on)
}

# Create the factor table (no transaction of its own): the margin
# variables with the source's own column types (CREATE ... AS SELECT of no
# rows), the factor as the engine's double, then the cells as literals in
# multi-row INSERTs (400 a statement: SQLite's limit on compound SELECTs
# is 500).
db_create_factors <- function(x, ref, temporary) {
  src <- x$source
  con <- src$con
  dbl <- src$double %||% "DOUBLE PRECISION"
  fc <- db_factor_col(x)
  keys <- vapply(x$vars, function(v) qid(src, v), "")
  db_query(con, sprintf("CREATE %sTABLE %s AS SELECT %s FROM %s WHERE 1 = 0",
                        if (temporary) "TEMPORARY " else "", ref,
                        paste(c(keys, sprintf("CAST(NULL AS %s) AS %s", dbl, qid(src, fc))),
                              collapse = ", "), src$from), execute = TRUE)
  ce <- x$cells
  lits <- lapply(x$vars, function(v) db_lits(con, ce$raw[[v]]))
  lits[[length(lits) + 1L]] <- db_lits(con, as.double(ce$factor))
  rows <- sprintf("(%s)", do.call(paste, c(lits, sep = ", ")))
  cols <- paste(c(keys, qid(src, fc)), collapse = ", ")
  for (s in seq(1L, length(rows), by = 400L)) {
    chunk <- rows[s:min(length(rows), s + 399L)]
    db_query(con, sprintf("INSERT INTO %s (%s) VALUES %s", ref, cols, paste(chunk, collapse = ", ")),
             execute = TRUE)
  }
  # SQLite plans a join to an unindexed table with an automatic index,
  # possibly on the large side: an index on the cells' keys makes it probe
  # the factor table once per row (other engines hash-join)
  if (inherits(con, "SQLiteConnection") && length(keys))
    db_query(con, sprintf("CREATE INDEX %s ON %s (%s)",
                          qid(src, paste0(gsub("\"", "", sub(".*[.]", "", ref)), "_k")), ref,
                          paste(keys, collapse = ", ")), execute = TRUE)
  invisible(length(rows))
}

#' @rdname db_weights
#' @export
db_write_factors <- function(x, table = "umfrage_factors", overwrite = FALSE) {
  db_check_weights_obj(x)
  if (is.null(x$cells))
    stopf("weights calibrated on numeric auxiliaries are g(x' lambda) per row, not a factor per cell: there is no factor table; use db_weights_sql(x) (an expression)")
  db_check_name(table, "table", "table name")
  check_flag(overwrite, "overwrite")
  con <- x$source$con
  tt <- db_target_table(con, table, overwrite)
  ref <- tt$ref; fail <- tt$fail; exists <- tt$exists
  tryCatch(DBI::dbBegin(con), error = fail)
  done <- FALSE
  on.exit(if (!done) try(suppressWarnings(DBI::dbRollback(con)), silent = TRUE))
  tryCatch({
    if (exists) db_query(con, sprintf("DROP TABLE %s", ref), execute = TRUE)
    db_create_factors(x, ref, FALSE)
    if (isFALSE(DBI::dbCommit(con))) stop("COMMIT failed", call. = FALSE)
    done <- TRUE
  }, error = fail)
  invisible(x)
}

# A table that db_write_factors() / db_write_weights() are about to write:
# its quoted name, whether it exists (an error unless overwrite = TRUE), and
# the error handler that says nothing was written.
db_target_table <- function(con, table, overwrite) {
  fail <- function(e) stopf("could not write table %s: %s; nothing was written", q(table),
                            conditionMessage(e))
  exists <- tryCatch(DBI::dbExistsTable(con, table), error = fail)
  if (exists && !overwrite)
    stopf("table %s exists already; give overwrite = TRUE to replace it, or another 'table'", q(table))
  list(ref = as.character(DBI::dbQuoteIdentifier(con, table)), exists = exists, fail = fail)
}

# Cells from which on db_write_weights(method = "auto") joins a factor
# table: SQLite at 1e6 rows, the CASE tree is about 15% faster at 16 and
# 200 cells (0.39 vs 0.50 s, 0.51 vs 0.59 s), the JOIN 12x faster at 15,000
# (0.97 vs 12 s); the CASE's cost grows with the levels per variable.
db_join_min_cells <- 1000L

#' @rdname db_weights
#' @export
db_write_weights <- function(x, name = "weight", table = NULL, overwrite = FALSE,
                             method = c("auto", "join", "case")) {
  db_check_weights_obj(x)
  method <- match.arg(method)
  src <- x$source
  con <- src$con
  db_check_name(name, "name", "column name")
  if (name %in% src$cols)
    stopf("column %s is already in %s; choose another 'name' for the weights", q(name), src$what)
  if (is.null(table)) {
    base <- sub("^table '(.*)'$", "\\1", src$what)
    table <- paste0(if (identical(base, src$what)) "umfrage" else sub(".*\\.", "", base), "_weighted")
  }
  db_check_name(table, "table", "table name")
  check_flag(overwrite, "overwrite")
  if (is.null(x$cells)) {
    if (method == "join")
      stopf("method = \"join\" needs a factor per cell, and weights calibrated on numeric auxiliaries are g(x' lambda) per row; use method = \"case\" (or \"auto\")")
    method <- "case"
  } else if (method == "auto") {
    method <- if (length(x$cells$n) >= db_join_min_cells) "join" else "case"
  }
  dbl <- src$double %||% "DOUBLE PRECISION"
  tt <- db_target_table(con, table, overwrite)
  ref <- tt$ref; fail <- tt$fail; exists <- tt$exists
  # the factor table: temporary where the engine has them, else a regular
  # table of a unique name; created in the transaction and dropped before
  # COMMIT (a rollback removes it too), and dropped on exit if still there
  ftab <- NULL
  ftemp <- TRUE
  fref <- NULL
  if (method == "join") {
    ftab <- sprintf("umfrage_factors_%s_%d", format(as.numeric(Sys.time()) * 1e3, scientific = FALSE, nsmall = 0),
                    sample.int(1e6, 1L))
    ftab <- gsub("[^A-Za-z0-9_]", "", ftab)
    fref <- as.character(DBI::dbQuoteIdentifier(con, ftab))
    create <- sprintf("CREATE TABLE %s AS %s", ref, db_join_sql(x, ftab, name))
  } else {
    cols <- paste(vapply(src$cols, function(v) qid(src, v), ""), collapse = ", ")
    create <- sprintf("CREATE TABLE %s AS SELECT %s, CAST(%s AS %s) AS %s FROM %s", ref, cols,
                      db_weights_sql(x), dbl, qid(src, name), src$from)
  }
  db_progress("umfrage: writing the weights of %s to table %s", src$what, q(table))
  tryCatch(DBI::dbBegin(con), error = fail)
  done <- FALSE
  fmade <- FALSE
  on.exit({
    if (!done) try(suppressWarnings(DBI::dbRollback(con)), silent = TRUE)
    if (fmade)
      try(suppressWarnings(DBI::dbExecute(con, sprintf("DROP TABLE IF EXISTS %s", fref))), silent = TRUE)
  })
  tryCatch({
    if (method == "join") {
      db_progress("umfrage: writing %d cell factors to a %s table", length(x$cells$n),
                  "temporary")
      ok <- tryCatch({ db_create_factors(x, fref, TRUE); TRUE }, error = function(e) e)
      if (!isTRUE(ok)) {
        # no temporary tables (or not in a transaction): start again with a
        # regular table of that unique name
        try(suppressWarnings(DBI::dbRollback(con)), silent = TRUE)
        DBI::dbBegin(con)
        ftemp <- FALSE
        fmade <- TRUE
        db_create_factors(x, fref, FALSE)
      }
      fmade <- TRUE
    }
    if (exists) db_query(con, sprintf("DROP TABLE %s", ref), execute = TRUE)
    db_query(con, create, execute = TRUE)
    db_progress("umfrage: checking table %s", q(table))
    k <- db_query(con, sprintf("SELECT COUNT(*) AS n, SUM(CASE WHEN %s IS NULL THEN 1 ELSE 0 END) AS nn FROM %s",
                               qid(src, name), ref))
    if (as.double(k$n) != x$rows)
      stop(sprintf("it has %s rows but %s had %s when the weights were made%s", format(as.double(k$n)),
                   src$what, format(x$rows),
                   if (method == "join") " (rows whose cell is not in the weights are left out by the join: the table changed)" else ""))
    if (as.double(k$nn) > 0)
      stop(sprintf("%s row(s) of %s are in no cell of the weights (the table changed)",
                   format(as.double(k$nn)), src$what))
    if (method == "join") db_query(con, sprintf("DROP TABLE %s", fref), execute = TRUE)
    if (isFALSE(DBI::dbCommit(con))) stop("COMMIT failed", call. = FALSE)
    done <- TRUE
    fmade <- FALSE
  }, error = fail)
  x$written <- list(table = table, name = name)
  x$info$write_method <- method
  invisible(x)
}

#' @export
print.umfrage_db_weights <- function(x, ...) {
  info <- x$info
  fn <- paste0("wt_", info$method, "()")
  cat(sprintf("<umfrage_db_weights> %s on %s: %s rows, %d cell(s)%s\n", fn, x$source$what,
              format(x$rows, big.mark = ",", scientific = FALSE), info$ncell,
              if (is.null(x$weights)) "" else sprintf(", starting weights %s", q(x$weights))))
  cat(sprintf("  %s after %d %s, largest relative margin error %.2g\n",
              if (isTRUE(info$converged)) "converged" else "NOT converged", info$iterations,
              if (info$method == "calibrate") "iteration(s)" else "sweep(s)", info$max_error))
  if (info$method == "calibrate")
    cat(sprintf("  method %s, g = weight / starting weight from %s to %s\n", q(info$calfun),
                format(info$g_range[1L], digits = 4), format(info$g_range[2L], digits = 4)))
  if (is.null(x$cells))
    cat(sprintf("  weight = w0 * g(x' lambda), lambda over %d column(s)\n", length(x$lambda)))
  else {
    f <- x$cells$factor[x$cells$w0 > 0]
    cat(sprintf("  cell factors from %s to %s\n", format(min(f), digits = 4), format(max(f), digits = 4)))
  }
  m <- info$margins
  if (!is.null(m)) {
    m$rel_error <- ifelse(m$target > 0, abs(m$achieved - m$target) / m$target,
                          abs(m$achieved) / info$total)
    print(m, row.names = FALSE, digits = 6)
  }
  if (!is.null(x$written))
    cat(sprintf("  written to table %s, column %s\n", q(x$written$table), q(x$written$name)))
  else cat("  db_weights_sql() gives the SQL; db_write_weights() writes a new table\n")
  invisible(x)
}
