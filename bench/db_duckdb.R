# Database benchmark on DuckDB over a Parquet file (issue 18; the companion
# of bench/db.R, which does the same on SQLite).
#
# A Parquet file of n rows (default 1e8), generated IN DuckDB
#   COPY (SELECT ... FROM range(1, n + 1)) TO '<file>' (FORMAT parquet)
# with the columns and values of bench/db.R's SQLite generator (the same
# integer hashes of the row id; DuckDB's `/` on integers is float division,
# so the generator uses `//`; every value is non-negative, so `%` agrees
# with SQLite's; the real constants of w0 are cast to DOUBLE, since DuckDB
# reads 0.8 as an exact DECIMAL and would round differently). The file is
# checked value for value against bench/db.R's SQLite file at 1e6 rows
# (all rows, all columns, read through RSQLite) when that file is there.
#
# The tasks are those of bench/db.R, on
#   db_table(con, DBI::SQL("read_parquet('<file>')"))
# with con an in-memory DuckDB database (the Parquet file is read in place):
#
#   (1) a weighted 3-way table   tab(db, "a", cols = "b", by = "c", weights = "w0")
#   (2) a raking of 4 margins    wt_rake(db, targets, weights = "w0") (a, b,
#                                c, r1: 15,000 cells); then the weights
#                                applied in the engine: the cell factors
#                                written into the DuckDB database
#                                (db_write_factors()) and joined to the
#                                Parquet rows (db_weights_sql(join = TRUE)),
#                                summed by a
#   (3) a 50-block banner with SE
#        tab(svy_design(db, weights = ~w0, strata = ~st, cluster = ~psu),
#            rows = r1..r5, cols = c01..c10)
#
# each of these ways:
#
#   engine       umfrage on the Parquet file through DuckDB: one GROUP BY per
#                pass, only the cells come into R; twice: with DuckDB's
#                default threads (its default is the number of cores) and
#                with SET threads = 1 (against the 1-thread in-memory run);
#   in memory    the needed columns read into R through DuckDB
#                (DBI::dbGetQuery(), DuckDB on 1 thread), then the same
#                umfrage call on the data frame (time = read + call);
#   survey       survey's DBI-backed design on DuckDB:
#                svydesign(dbtype = "duckdb", dbname = ":memory:",
#                data = "read_parquet('<file>')") -- survey calls
#                DBI::dbDriver(dbtype), so dbtype names the driver's
#                package, and pastes `data` after FROM, so the table
#                function serves as the table; (1) svytable(~a + b + c),
#                (3) svyby(~factor(r1), ~c01, des, svymean) for ONE block,
#                time x 50 (EXTRAPOLATED), (2) rake() (survey 4.1.1 has no
#                postStratify() for DBI designs: reported as it answers).
#
# umfrage runs on 1 thread in every child. Every measurement runs in a fresh
# child R process (Rscript) that reports the wall time of the task (after
# loading the packages and connecting) and the process's peak resident
# memory (VmHWM): DuckDB runs inside the R process, so its buffers count.
#
# Paths that do not fit are measured on the first 1e7 rows (a subquery
# WHERE id <= 1e7, which DuckDB answers from the first row groups) and
# EXTRAPOLATED linearly, as in bench/db.R: in memory when the estimated
# peak exceeds the memory available (children run under `ulimit -v`),
# survey above UMFRAGE_BENCH_DB_SURVEY_MAX rows (default 1e7).
#
# Environment:
#   UMFRAGE_BENCH_SIZES            rows, default "1e8" (a trial: "1e6")
#   UMFRAGE_BENCH_DB_DIR           where the data files live (default:
#                                  benchdata/ next to the repository
#                                  checkout, as bench/db.R); one Parquet
#                                  file per size, created once and reused
#                                  when its row count is right
#   UMFRAGE_BENCH_DB_SURVEY_MAX    largest n survey runs on directly (1e7)
#   UMFRAGE_BENCH_DB_TIMEOUT       seconds a child may run (default 7200)
#   UMFRAGE_BENCH_DB_APPLY_ROWS    rows the raked weights are applied to (all)
#   UMFRAGE_BENCH_DB_TASKS         a subset of "tab,rake,banner" (default all)
#   UMFRAGE_BENCH_DB_BANNER_MAX    largest n the banner runs at (default all)
#
# Needs the duckdb package (see tools/duckdb-dev.sh for a route on Linux);
# without it the section says so and nothing runs. Run through bench/run.R
# (`Rscript bench/run.R db_duckdb`) or alone (`Rscript bench/db_duckdb.R`,
# which only writes bench/results/db_duckdb.md). Uses the INSTALLED umfrage.

source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"), local = TRUE)
bench_start("db_duckdb", peers = c("survey", "DBI"))
# settings, data columns, child runner, agreement, table helpers: shared
# with bench/db.R
source(file.path(bench_dir, "lib", "dbbench.R"), local = TRUE)

# ---- setup ------------------------------------------------------------------

sql_str <- function(x) paste0("'", gsub("'", "''", x, fixed = TRUE), "'")
parquet_from <- function(file) sprintf("read_parquet(%s)", sql_str(file))

have_duckdb <- is_installed("duckdb")
# duckdb >= 1.5 announces where it keeps extensions unless shared_home is given
duck_driver <- function() {
  if ("shared_home" %in% names(formals(duckdb::duckdb))) duckdb::duckdb(shared_home = FALSE) else duckdb::duckdb()
}
duck_connect <- function() DBI::dbConnect(duck_driver())
duck_close <- function(con) DBI::dbDisconnect(con, shutdown = TRUE)

# ---- the data, generated in DuckDB -------------------------------------------
#
# The generator of bench/lib/dbbench.R (gen_rows()) in DuckDB's dialect:
# ids from range(), `//` for SQLite's integer `/`. Codes are stored as
# INTEGER (R integers), w0 as DOUBLE, computed with the same double
# operations in the same order as SQLite does.
gen_select <- function(n) {
  g <- gen_rows(sprintf("(SELECT range AS id FROM range(1, %.0f))", n + 1), "//")
  # SQLite: (0.5 + 0.25 * k) * (0.6 + 0.8 * x / 10006.0), each operation in
  # doubles (0.8 * x first, then / 10006.0)
  w0 <- sprintf(paste("((0.5::DOUBLE + 0.25::DOUBLE * (((psu - 1) // %d) %% 5)) *",
                      "(0.6::DOUBLE + 0.8::DOUBLE * ((h9 // %d) %% 10007) / 10006.0::DOUBLE))"),
                n_psu / n_strata, n_psu)
  cols <- c(id = "id", g$cols)
  # no ORDER BY (a sort of all rows): COPY keeps range()'s order, as DuckDB
  # preserves insertion order by default (checked on the row groups below)
  sprintf("SELECT %s, CAST(%s AS DOUBLE) AS w0 FROM (%s)",
          paste(sprintf("CAST(%s AS INTEGER) AS %s", cols, names(cols)), collapse = ", "), w0, g$from)
}

parquet_rows <- function(file) {
  if (!file.exists(file)) return(NA_real_)
  tryCatch({
    con <- duck_connect()
    on.exit(duck_close(con))
    as.numeric(DBI::dbGetQuery(con, sprintf("SELECT COUNT(*) AS n FROM %s", parquet_from(file)))$n)
  }, error = function(e) NA_real_)
}

# Create the file for n rows unless it holds them already: into a temporary
# file, renamed when complete.
ensure_parquet <- function(n) {
  ensure_file(n, data_file(n, "parquet"), parquet_rows, need = 30 * n * 1.2, engine = "DuckDB", function(tmp, t0) {
    con <- duck_connect()
    DBI::dbExecute(con, sprintf("COPY (%s) TO %s (FORMAT parquet)", gen_select(n), sql_str(tmp)))
    threads <- DBI::dbGetQuery(con, "SELECT current_setting('threads') AS t")$t
    # the rows in id order (the first 1e7 rows are then the first row groups):
    # each row group's ids follow the previous group's
    rg <- DBI::dbGetQuery(con, sprintf(paste("SELECT row_group_id, CAST(stats_min AS BIGINT) AS lo, CAST(stats_max AS BIGINT) AS hi",
                                             "FROM parquet_metadata(%s) WHERE path_in_schema = 'id' ORDER BY row_group_id"),
                                       sql_str(tmp)))
    duck_close(con)
    if (nrow(rg) && (rg$lo[1L] != 1 || any(rg$lo[-1L] != rg$hi[-nrow(rg)] + 1) || rg$hi[nrow(rg)] != n))
      stop("db_duckdb benchmark: the rows of ", tmp, " are not in id order", call. = FALSE)
    list(say = sprintf(" (DuckDB, %s threads)", threads), extra = list(threads = threads))
  })
}

# The Parquet generator against bench/db.R's SQLite file at 1e6 rows: every
# row (by id), every column, compared with identical() (w0 to the bit).
verify_values <- function(n = 1e6) {
  sq <- data_file(n, "sqlite")
  if (!file.exists(sq)) return(sprintf("not checked: bench/db.R's SQLite file %s is not there", sq))
  if (!is_installed("RSQLite")) return("not checked: RSQLite is not installed")
  g <- ensure_parquet(n)
  cs <- DBI::dbConnect(RSQLite::SQLite(), sq, flags = RSQLite::SQLITE_RO)
  s <- DBI::dbGetQuery(cs, sprintf("SELECT id, %s FROM t ORDER BY id", paste(all_cols, collapse = ", ")))
  DBI::dbDisconnect(cs)
  cd <- duck_connect()
  p <- DBI::dbGetQuery(cd, sprintf("SELECT id, %s FROM %s ORDER BY id", paste(all_cols, collapse = ", "),
                                   parquet_from(g$file)))
  duck_close(cd)
  if (nrow(s) != n || nrow(p) != n)
    return(sprintf("**MISMATCH**: %s rows in SQLite, %s in Parquet", fmt_n(nrow(s)), fmt_n(nrow(p))))
  bad <- vapply(c("id", all_cols), function(v) sum(s[[v]] != p[[v]] | is.na(s[[v]]) != is.na(p[[v]]), na.rm = TRUE), 0)
  same <- vapply(c("id", all_cols), function(v) identical(as.numeric(s[[v]]), as.numeric(p[[v]])), NA)
  if (all(same))
    return(sprintf("checked: at %s rows every value of the Parquet file equals bench/db.R's SQLite file (%s, read with RSQLite): %d columns, all rows by id, compared with identical() (w0 to the bit)",
                   fmt_n(n), basename(sq), length(same)))
  sprintf("**MISMATCH** at %s rows against %s: %s", fmt_n(n), basename(sq),
          paste(sprintf("%s (%s values)", names(bad)[!same], fmt_n(bad[!same])), collapse = ", "))
}

# ---- the tasks (run in child processes) ------------------------------------------

# The child's argument after the shared ones: the SQL of the rows
# (read_parquet(...) or a subquery of it); DuckDB on spec$threads (NA: its
# default); umfrage's source made before the clock starts.
prelude <- child_prelude(quote({
  from <- a[3L]
  con <- dbConnect(if ("shared_home" %in% names(formals(duckdb::duckdb))) duckdb::duckdb(shared_home = FALSE) else duckdb::duckdb())
  if (!is.na(spec$threads)) dbExecute(con, sprintf("SET threads = %d", spec$threads))
  extra$threads <- dbGetQuery(con, "SELECT current_setting('threads') AS t")$t
  src <- db_table(con, SQL(from))
}))
survey_design <- quote({
  suppressPackageStartupMessages(library(survey))
  des <- svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = from, dbtype = "duckdb", dbname = ":memory:")
  extra$design_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
  extra$threads <- dbGetQuery(des$db$connection, "SELECT current_setting('threads') AS t")$t
})
rake_engine <- timed(quote({
  w <- wt_rake(src, spec$targets, weights = "w0", epsilon = 1e-12, total = spec$n)
}), quote({
  # the weights applied in the engine: the cell factors written into the
  # DuckDB database and joined to the Parquet rows, summed by a
  t1 <- Sys.time()
  db_write_factors(w, "bench_factors", overwrite = TRUE)
  extra$applied <- dbGetQuery(con, sprintf("SELECT a, SUM(weight) AS sw FROM (%s) j WHERE id <= %.0f GROUP BY a ORDER BY a",
                                           db_weights_sql(w, join = TRUE, factors = "bench_factors"),
                                           spec$apply_n))
  extra$apply_ms <- 1000 * as.numeric(difftime(Sys.time(), t1, units = "secs"))
  ce <- unclass(w)$cells
  check <- data.frame(ce$raw, factor = ce$factor)
  extra$iterations <- unclass(w)$info$iterations
}))
# the in-memory raking reads the id too: DuckDB need not return the rows
# in id order, so the weights are summed over the rows with id <= apply_n
tasks <- db_tasks(quote(src), survey_design, rake_engine, rake_ids = TRUE)

# Columns each in-memory child reads (for the memory estimate).
mem_cols <- c(tab_memory = 4L, rake_memory = 6L, banner_memory = length(banner_cols))

# Run one task in a child R (threads: DuckDB's threads, NA for its default).
run_child <- function(task, from, n, threads = NA_integer_, mem_limit = NA_real_)
  db_run_child(task, from, n, sprintf("%s (DuckDB threads %s)", task, if (is.na(threads)) "default" else threads),
               mem_limit = mem_limit, spec = list(threads = threads))

# ---- run --------------------------------------------------------------------

results <- list()
verify_note <- NULL
duck_version <- NA_character_
if (have_duckdb) {
  local({
    con <- duck_connect()
    on.exit(duck_close(con))
    duck_version <<- sprintf("duckdb %s (DuckDB %s, %s threads by default, memory_limit %s)",
                             utils::packageVersion("duckdb"),
                             DBI::dbGetQuery(con, "SELECT library_version AS v FROM pragma_version()")$v,
                             DBI::dbGetQuery(con, "SELECT current_setting('threads') AS t")$t,
                             DBI::dbGetQuery(con, "SELECT current_setting('memory_limit') AS m")$m)
  })
  say(duck_version)
  verify_note <- verify_values(1e6)
  say("values: ", verify_note)
} else {
  say("the duckdb package is not installed: nothing to run")
}

for (n in if (have_duckdb) sizes else numeric()) {
  g <- ensure_parquet(n)
  from_all <- parquet_from(g$file)
  from_sub <- sprintf("(SELECT * FROM %s WHERE id <= %.0f) AS s", from_all, sub_n)
  r <- size_result(n, g)
  avail <- mem_available()
  mem_limit <- if (is.finite(avail)) 0.9 * avail else NA_real_
  r$runs$baseline <- run_child("baseline", from_all, n)
  for (task in r$tasks) {
    say(sprintf("n = %s: %s", fmt_n(n), task))
    et <- paste0(task, "_engine")
    r$runs[[paste0(et, "_def")]] <- run_child(et, from_all, n)
    r$runs[[paste0(et, "_1")]] <- run_child(et, from_all, n, threads = 1L)
    # in memory (DuckDB on 1 thread) and survey (its default): on all rows,
    # or on the subquery of the first sub_n
    r <- run_memory_survey(r, task, avail, function(t, sub)
      run_child(t, if (sub) from_sub else from_all, if (sub) sub_n else n,
                threads = if (endsWith(t, "_memory")) 1L else NA_integer_, mem_limit = mem_limit))
  }
  ru <- r$runs
  mem_check <- function(task) { m <- ru[[paste0(task, "_memory")]]; if (is.null(m$scale)) m$check }
  r$agree <- list(
    tab = max(max_rel(ru$tab_engine_def$check, mem_check("tab")), max_rel(ru$tab_engine_1$check, mem_check("tab"))),
    tab_survey = svytable_rel(same_rows(ru$tab_survey, ru$tab_engine_def, ru$tab_memory), ru$tab_survey$check),
    rake = max(cells_rel(ru$rake_engine_def$check, mem_check("rake"), rake_vars),
               cells_rel(ru$rake_engine_1$check, mem_check("rake"), rake_vars)),
    rake_applied = if (is.null(ru$rake_memory$scale))
      max(applied_rel(ru$rake_engine_def$extra$applied, ru$rake_memory$extra$applied),
          applied_rel(ru$rake_engine_1$extra$applied, ru$rake_memory$extra$applied)) else NA_real_,
    banner = max(max_rel(drop_tests(ru$banner_engine_def$check), drop_tests(mem_check("banner"))),
                 max_rel(drop_tests(ru$banner_engine_1$check), drop_tests(mem_check("banner")))),
    banner_tests = max(max_rel(ru$banner_engine_def$check[test_cols], mem_check("banner")[test_cols]),
                       max_rel(ru$banner_engine_1$check[test_cols], mem_check("banner")[test_cols])),
    banner_survey = block_rel(same_rows(ru$banner_survey, ru$banner_engine_def, ru$banner_memory),
                              ru$banner_survey$check),
    # the engine on DuckDB's default threads against 1 thread (the sums'
    # order differs)
    threads = max(max_rel(ru$tab_engine_def$check, ru$tab_engine_1$check),
                  cells_rel(ru$rake_engine_def$check, ru$rake_engine_1$check, rake_vars),
                  max_rel(drop_tests(ru$banner_engine_def$check), drop_tests(ru$banner_engine_1$check)), na.rm = TRUE))
  results[[length(results) + 1L]] <- size_done(r)
  saveRDS(results, file.path(work_dir, "results.rds"))
}

# ---- write the section -------------------------------------------------------

lines <- c("## Database sources: DuckDB on Parquet (issue 18)", "",
           run_line(peers = c("survey", "DBI", if (have_duckdb) "duckdb"), sizes = sizes), "")
if (!have_duckdb) {
  lines <- c(lines, "**Skipped**: the duckdb R package is not installed here (CRAN's source package compiles the whole engine, hours on a small machine; tools/duckdb-dev.sh builds it against a prebuilt libduckdb).", "")
} else {
  lines <- c(lines,
             sprintf("The same data and tasks as the SQLite section, on a Parquet file read in place by DuckDB (%s): `db_table(con, DBI::SQL(\"read_parquet('<file>')\"))` with `con` an in-memory DuckDB database. The file is generated in DuckDB (`COPY (SELECT ... FROM range(1, n + 1)) TO ... (FORMAT parquet)`, codes INTEGER, w0 DOUBLE; bench/db_duckdb.R). Each task three ways: **engine** (umfrage on the Parquet source: one GROUP BY per pass, only cells come back), with DuckDB's default threads and with `SET threads = 1`; **in memory** (the needed columns read into R through DuckDB on 1 thread, `DBI::dbGetQuery()`, then the same umfrage call on the data frame; time = read + call); **survey** (its DBI-backed design on DuckDB, `svydesign(dbtype = \"duckdb\", dbname = \":memory:\", data = \"read_parquet('<file>')\")`: survey calls `DBI::dbDriver(dbtype)` and pastes `data` after FROM, so a table function serves as the table; DuckDB on its default threads there). Times in seconds, wall clock inside a fresh child R process (after loading packages and connecting); peak = that process's VmHWM (DuckDB runs inside it). umfrage itself on 1 thread everywhere.", duck_version),
             "",
             "- (1) 3-way table: `tab(db, \"a\", cols = \"b\", by = \"c\", weights = \"w0\")` (50 x 20 x 5); survey: `svytable(~a + b + c, des)`.",
             "- (2) raking of 4 margins (a, b, c, r1: 15,000 cells), `wt_rake(db, targets, weights = \"w0\", epsilon = 1e-12, total = n)`; then the weights applied in the engine: the cell factors written into the DuckDB database (`db_write_factors()`) and joined to the Parquet rows (`db_weights_sql(w, join = TRUE)`), summed by a (not in the table's time; checked against the in-memory weights). survey: `rake()` on its DBI design.",
             sprintf("- (3) banner with SE: `tab(svy_design(db, weights = ~w0, strata = ~st, cluster = ~psu), rows = %s, cols = %s)` (50 blocks; 50 strata, 2,000 PSUs). survey: `svyby(~factor(r1), ~c01, des, svymean)` for ONE block, time x 50 (**extrapolated**).",
                     paste(rvars, collapse = "/"), paste(cvars, collapse = "/")),
             sprintf("- Data: %s.", verify_note), "")
}

for (r in results) {
  n <- r$n; ru <- r$runs
  lines <- c(lines, size_heading(r, "Parquet file",
                                 sprintf(", generated in DuckDB in %.1f min (%s threads)", r$gen$gen_s / 60, r$gen$threads),
                                 "DuckDB connected"))
  dthreads <- ru$baseline$extra$threads %||0% "?"
  row <- function(task) {
    e <- ru[[paste0(task, "_engine_def")]]; e1 <- ru[[paste0(task, "_engine_1")]]
    m <- ru[[paste0(task, "_memory")]]; s <- ru[[paste0(task, "_survey")]]
    c(task_labels[[task]], cell_time(e), cell_peak(e), cell_time(e1), cell_peak(e1),
      cell_time(m), cell_read(m), cell_peak(m), cell_time(s), cell_peak(s), ratio(m, e1), ratio(m, e), ratio(s, e))
  }
  lines <- c(lines, size_table(lapply(r$tasks, row),
                               c("task", sprintf("engine s (%s threads)", dthreads), "peak MB", "engine s (1 thread)", "peak MB",
                                 "in memory s", "of which read s", "in memory peak MB", "survey s", "survey peak MB",
                                 "in memory / engine 1 thread", sprintf("in memory / engine %s threads", dthreads),
                                 sprintf("survey / engine %s threads", dthreads))))
  det <- character()
  for (k in c("def", "1")) {
    re <- ru[[paste0("rake_engine_", k)]]
    if (!is.null(re$extra$apply_ms))
      det <- c(det, sprintf("raking in the engine (DuckDB %s threads): cells + rake %s s (%s sweeps, %s cells); applying the weights in the engine (factor table written with `db_write_factors()` and joined, `db_weights_sql(join = TRUE)`, summed by a over the first %s rows) %s s (not in the table's time)",
                            re$extra$threads, fmt_ms(re$ms / 1000), re$extra$iterations %||0% "?", fmt_n(prod(rake_levels)),
                            fmt_n(min(n, apply_rows)), fmt_ms(re$extra$apply_ms / 1000)))
    if (!is.null(re$failed)) det <- c(det, sprintf("raking in the engine (%s) failed: `%s`", k, gsub("`", "'", re$failed)))
  }
  det <- c(det, survey_details(ru, "DuckDB", rake_where = " on DuckDB either"))
  ag <- r$agree
  det <- c(det, sprintf("agreement (max relative difference; engine on both thread settings): 3-way table engine vs in memory %s, survey's svytable vs tab %s; raking cell factors engine vs in memory %s, engine-applied weights (sums by a) vs in memory %s; banner engine vs in memory: estimates %s, Rao-Scott tests %s, survey's block (pct, SE) vs tab %s; engine on %s threads vs 1 thread (all tables, cell factors) %s",
                        fmt_e(ag$tab), fmt_e(ag$tab_survey), fmt_e(ag$rake), fmt_e(ag$rake_applied),
                        fmt_e(ag$banner), fmt_e(ag$banner_tests), fmt_e(ag$banner_survey), dthreads, fmt_e(ag$threads)))
  failed <- names(ru)[vapply(ru, function(x) !is.null(x$failed), NA)]
  if (length(failed))
    det <- c(det, sprintf("failed: %s", paste(sprintf("%s (`%s`)", failed, vapply(ru[failed], function(x)
      gsub("`", "'", substr(x$failed, 1L, 200L)), "")), collapse = "; ")))
  lines <- c(lines, paste0("- ", c(det, r$notes)), "")
}
lines <- c(lines, disk_line(results))
bench_write(lines)
unlink(work_dir, recursive = TRUE)
