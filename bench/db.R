# Database benchmark (issue 18): tables and weights where the data live.
#
# A table of n rows (default 1e8) in an SQLite database file, generated IN
# the engine (INSERT ... SELECT from a recursive CTE, deterministic
# pseudo-random columns: integer hashes of the row id), and three tasks:
#
#   (1) a weighted 3-way table   tab(db, "a", cols = "b", by = "c", weights = "w0")
#                                (a 50 levels, b 20, c 5)
#   (2) a raking of 4 margins    wt_rake(db, targets, weights = "w0")
#                                (a, b, c, r1: 15,000 cells), then the raked
#                                weights applied in the engine (the cell
#                                factors written as a small table and joined,
#                                db_write_factors() + db_weights_sql(join =
#                                TRUE), summed by a over the first
#                                UMFRAGE_BENCH_DB_APPLY_ROWS rows, default
#                                all)
#   (3) a 50-block banner with SE
#        tab(svy_design(db, weights = ~w0, strata = ~st, cluster = ~psu),
#            rows = r1..r5, cols = c01..c10)
#        (50 strata, 2,000 PSUs; percents, SEs, CIs, letters)
#
# each three ways:
#
#   engine     umfrage on the database source: one GROUP BY query per pass;
#              the banner's 50 blocks in ONE scan (db_table(cells = "auto"):
#              on SQLite one SELECT of the 18 columns streamed in chunks of
#              1e6 rows and grouped per block in C), only the cells come
#              into R;
#   in memory  DBI::dbGetQuery() of the needed columns into R, then the same
#              umfrage call on the data frame (time = read + call);
#   survey     survey's DBI-backed design, svydesign(dbtype = "SQLite",
#              dbname = <file>, data = "<table>"), which pulls every variable
#              it needs into R per call: (1) svytable(~a + b + c), (3)
#              svyby(~factor(r), ~c, des, svymean) for ONE block, its time
#              multiplied by 50 (EXTRAPOLATED, the section says so); (2) is
#              tried and reported as survey answers (survey 4.1.1 has no
#              postStratify()/rake() for DBI designs).
#
# Every measurement runs in a fresh child R process (Rscript), which reports
# the wall time of the task (after loading the packages and connecting) and
# the process's peak resident memory (VmHWM of /proc/self/status, read right
# after the task): peaks of different measurements do not mix. SQLite runs
# inside the R process, so its cache and sorter count too. A child with
# only the packages loaded and the connection open gives the baseline. All
# children run umfrage on 1 thread (SQLite is single-threaded too).
#
# Paths that do not fit are measured on the first 1e7 rows (a view of the
# table) and EXTRAPOLATED linearly; the section says which:
#   - in memory, when the estimated peak exceeds the memory available
#     (in-memory and survey children run under `ulimit -v`, so an
#     allocation failure is an R error, never the machine's OOM killer);
#   - survey, above UMFRAGE_BENCH_DB_SURVEY_MAX rows (default 1e7).
#
# Agreement: each engine result against the in-memory one on the same rows
# (max relative difference over every numeric column of the tables, the
# cell factors of the raking, the pct and SE of survey's block).
#
# DuckDB on Parquet: reported as skipped when the duckdb package is not
# installed (it compiles from source for hours on Linux).
#
# Environment:
#   UMFRAGE_BENCH_SIZES            rows, default "1e8" (a trial: "1e6")
#   UMFRAGE_BENCH_DB_DIR           where the database files live (default:
#                                  benchdata/ next to the repository
#                                  checkout); one file per size, created once
#                                  (about 75 bytes a row: 7.5 GB at 1e8) and
#                                  reused when its row count is right
#   UMFRAGE_BENCH_DB_SURVEY_MAX    largest n survey runs on directly (1e7)
#   UMFRAGE_BENCH_DB_TIMEOUT       seconds a child may run (default 7200)
#   UMFRAGE_BENCH_DB_APPLY_ROWS    rows the raked weights are applied to (all)
#   UMFRAGE_BENCH_DB_TASKS         a subset of "tab,rake,banner" (default all)
#   UMFRAGE_BENCH_DB_BANNER_MAX    largest n the banner runs at (default: all
#                                  sizes; on SQLite the engine banner took
#                                  11 min at 1e8 rows)
#
# Run through bench/run.R (`Rscript bench/run.R db`) or alone
# (`Rscript bench/db.R`, which only writes bench/results/db.md). Uses the
# INSTALLED umfrage.
#
# Run time on the 2-core machine of bench/RESULTS.md (shared, load ~3):
# 1e6 rows 2 min; 1e7 rows about 7 min (of it the banner's three ways 2.5
# min, the engine banner 1 min); 1e8 rows about 20 min with the file in
# place (generating it takes 3.4 min, 7.5 GB): tab and rake about 9 min,
# the engine banner 11 min (one scan: 664 s, peak 831 MB; at 1e7 69 s,
# where 50 GROUP BY queries that SQLite answers by sorting every row took
# 383 s, peak 560 MB). Both sizes together: 26.5 min (2026-11-30).

source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"), local = TRUE)
bench_start("db", peers = c("survey", "DBI", "RSQLite"))
# settings, data columns, child runner, agreement, table helpers: shared
# with bench/db_duckdb.R
source(file.path(bench_dir, "lib", "dbbench.R"), local = TRUE)

# ---- the data, generated in the engine -----------------------------------------
#
# The generator of bench/lib/dbbench.R (gen_rows()) in SQLite's dialect:
# ids from a recursive CTE, all columns INTEGER except w0 (REAL); codes 1..k.
gen_sql <- function(from_id, to_id) {
  g <- gen_rows("g", "/")
  w0 <- sprintf("((0.5 + 0.25 * (((%s - 1) / %d) %% 5)) * (0.6 + 0.8 * ((h9 / %d) %% 10007) / 10006.0))",
                sprintf("(h9 %% %d + 1)", n_psu), n_psu / n_strata, n_psu)
  cols <- c(g$cols, w0 = w0)
  sprintf(paste("INSERT INTO t (id, %s) WITH RECURSIVE g(id) AS (SELECT %.0f UNION ALL SELECT id + 1 FROM g WHERE id < %.0f)",
                "SELECT id, %s FROM (%s)"),
          paste(names(cols), collapse = ", "), from_id, to_id, paste(cols, collapse = ", "), g$from)
}

table_rows <- function(file) {
  if (!file.exists(file)) return(NA_real_)
  tryCatch({
    con <- DBI::dbConnect(RSQLite::SQLite(), file, flags = RSQLite::SQLITE_RO)
    on.exit(DBI::dbDisconnect(con))
    if (!DBI::dbExistsTable(con, "t")) return(NA_real_)
    as.numeric(DBI::dbGetQuery(con, "SELECT MAX(rowid) AS m, COUNT(*) AS n FROM t")$n)
  }, error = function(e) NA_real_)
}

# Create the file for n rows unless it holds them already: into a temporary
# file, in chunks of 1e7 rows, renamed when complete.
ensure_db <- function(n) {
  ensure_file(n, data_file(n, "sqlite"), table_rows, need = 80 * n * 1.1, engine = "SQLite", function(tmp, t0) {
    con <- DBI::dbConnect(RSQLite::SQLite(), tmp)
    DBI::dbExecute(con, "PRAGMA journal_mode = OFF")
    DBI::dbExecute(con, "PRAGMA synchronous = OFF")
    DBI::dbExecute(con, sprintf("CREATE TABLE t (id INTEGER PRIMARY KEY, %s)",
                                paste(sprintf("%s %s", all_cols, ifelse(all_cols == "w0", "REAL", "INTEGER")),
                                      collapse = ", ")))
    chunk <- 1e7
    for (from in seq(1, n, by = chunk)) {
      to <- min(n, from + chunk - 1)
      DBI::dbExecute(con, gen_sql(from, to))
      say(sprintf("  rows to %s (%.1f min)", fmt_n(to), as.numeric(difftime(Sys.time(), t0, units = "mins"))))
    }
    DBI::dbDisconnect(con)
    list(say = "")
  })
}

# The fall-back view: the first sub_n rows of a larger table (its rows are
# those of the sub_n table: the columns are functions of the id).
ensure_view <- function(file) {
  con <- DBI::dbConnect(RSQLite::SQLite(), file)
  on.exit(DBI::dbDisconnect(con))
  if (!DBI::dbExistsTable(con, "t_sub"))
    DBI::dbExecute(con, sprintf("CREATE VIEW t_sub AS SELECT * FROM t WHERE id <= %.0f", sub_n))
  invisible(TRUE)
}

# ---- the tasks (run in child processes) ------------------------------------------

# The child's arguments after the shared ones: the database file, the table.
prelude <- child_prelude(quote({
  file <- a[3L]; from <- a[4L]
  con <- dbConnect(RSQLite::SQLite(), file, flags = RSQLite::SQLITE_RO)
}))
survey_design <- quote({
  suppressPackageStartupMessages(library(survey))
  des <- svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = from, dbtype = "SQLite", dbname = file)
  extra$design_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
})
rake_engine <- timed(quote({
  w <- tryCatch(wt_rake(db_table(con, from), spec$targets, weights = "w0", epsilon = 1e-12, total = spec$n),
                error = function(e) e)
}), quote({
  if (inherits(w, "error")) extra$error <- conditionMessage(w) else {
    # the weights applied in the engine: the cell factors written as a
    # small table and joined (db_write_factors() + db_weights_sql(join =
    # TRUE), what db_write_weights() does for many cells), summed by a
    t1 <- Sys.time()
    # (this connection is read-only: a TEMP table, as db_write_weights()
    # uses where it can; db_write_factors() writes a lasting one)
    ce <- unclass(w)$cells
    dbWriteTable(con, "bench_factors", data.frame(ce$raw, umfrage_factor = ce$factor),
                 temporary = TRUE, overwrite = TRUE)
    extra$applied <- dbGetQuery(con, sprintf("SELECT a, SUM(weight) AS sw FROM (%s) j WHERE id <= %.0f GROUP BY a",
                                             db_weights_sql(w, join = TRUE, factors = "bench_factors"),
                                             spec$apply_n))
    extra$apply_ms <- 1000 * as.numeric(difftime(Sys.time(), t1, units = "secs"))
    dbExecute(con, "DROP TABLE IF EXISTS temp.bench_factors")
    ce <- unclass(w)$cells
    check <- data.frame(ce$raw, factor = ce$factor)
    extra$iterations <- unclass(w)$info$iterations
  }
}))
# umfrage's source: db_table() inside the timing; the in-memory raking
# applies the weights to the first rows read (SQLite returns them by id)
tasks <- db_tasks(quote(db_table(con, from)), survey_design, rake_engine, rake_ids = FALSE)

# Columns each in-memory child reads (for the memory estimate).
mem_cols <- c(tab_memory = 4L, rake_memory = 5L, banner_memory = length(banner_cols))

run_child <- function(task, file, tbl, n, mem_limit = NA_real_)
  db_run_child(task, c(file, tbl), n, mem_limit = mem_limit)

# ---- run --------------------------------------------------------------------

duckdb_note <- "DuckDB on Parquet: the same tasks and data in the section of bench/db_duckdb.R, which runs where the duckdb package is installed (tools/duckdb-dev.sh: on Linux it otherwise compiles 2,067 C++ files from source, hours on this machine)."
say(duckdb_note)

results <- list()
for (n in sizes) {
  g <- ensure_db(n)
  file <- g$file
  r <- size_result(n, g)
  sub_file <- NULL
  need_sub <- function() {
    if (is.null(sub_file)) { ensure_view(file); sub_file <<- file }
    sub_file
  }
  avail <- mem_available()
  mem_limit <- if (is.finite(avail)) 0.9 * avail else NA_real_
  r$runs$baseline <- run_child("baseline", file, "t", n)
  for (task in r$tasks) {
    say(sprintf("n = %s: %s", fmt_n(n), task))
    r$runs[[paste0(task, "_engine")]] <- run_child(paste0(task, "_engine"), file, "t", n)
    # in memory and survey: on all rows, or on the view of the first sub_n
    r <- run_memory_survey(r, task, avail, function(t, sub)
      if (sub) run_child(t, need_sub(), "t_sub", sub_n, mem_limit) else run_child(t, file, "t", n, mem_limit))
  }
  ru <- r$runs
  r$agree <- list(
    tab = max_rel(ru$tab_engine$check, if (is.null(ru$tab_memory$scale)) ru$tab_memory$check),
    tab_survey = svytable_rel(same_rows(ru$tab_survey, ru$tab_engine, ru$tab_memory), ru$tab_survey$check),
    rake = cells_rel(ru$rake_engine$check, if (is.null(ru$rake_memory$scale)) ru$rake_memory$check, rake_vars),
    banner = max_rel(drop_tests(ru$banner_engine$check),
                     if (is.null(ru$banner_memory$scale)) drop_tests(ru$banner_memory$check)),
    banner_tests = max_rel(ru$banner_engine$check[test_cols],
                           if (is.null(ru$banner_memory$scale)) ru$banner_memory$check[test_cols]),
    banner_survey = block_rel(same_rows(ru$banner_survey, ru$banner_engine, ru$banner_memory),
                              ru$banner_survey$check),
    rake_applied = if (is.null(ru$rake_memory$scale))
      applied_rel(ru$rake_engine$extra$applied, ru$rake_memory$extra$applied) else NA_real_)
  results[[length(results) + 1L]] <- size_done(r)
  saveRDS(results, file.path(work_dir, "results.rds"))
}

# ---- write the section -------------------------------------------------------

lines <- c("## Database sources (issue 18)", "",
           run_line(peers = c("survey", "DBI", "RSQLite"), sizes = sizes), "",
           "A table in an SQLite database file, generated in the engine (deterministic hash columns of the row id; see bench/db.R), and three tasks, each run three ways: **engine** (umfrage on `db_table(con, \"t\")`: one GROUP BY per pass for the table and the raking; the banner's 50 blocks from one stream of the rows, grouped in C chunk by chunk (`cells = \"auto\"`, \"stream\" on SQLite); only cells come back), **in memory** (`DBI::dbGetQuery()` of the needed columns, then the same umfrage call on the data frame; time = read + call), **survey** (its DBI-backed design, `svydesign(dbtype = \"SQLite\", dbname = , data = \"t\")`, which pulls each variable into R). Times in seconds, wall clock inside a fresh child R process (after loading packages and connecting); peak = that process's VmHWM (resident high-water mark, SQLite included). umfrage on 1 thread.",
           "",
           "- (1) 3-way table: `tab(db, \"a\", cols = \"b\", by = \"c\", weights = \"w0\")` (50 x 20 x 5); survey: `svytable(~a + b + c, des)`.",
           "- (2) raking of 4 margins (a, b, c, r1: 15,000 cells) with `wt_rake(db, targets, weights = \"w0\", epsilon = 1e-12, total = n)`; then the weights applied in the engine: the cell factors written as a temporary table and joined (`db_weights_sql(w, join = TRUE)`), summed by a over all rows (not in the table's time; checked against the in-memory weights). survey: `rake()` on its DBI design.",
           sprintf("- (3) banner with SE: `tab(svy_design(db, weights = ~w0, strata = ~st, cluster = ~psu), rows = %s, cols = %s)` (50 blocks; 50 strata, 2,000 PSUs; percents, SEs, CIs, letters). survey: `svyby(~factor(r1), ~c01, des, svymean)` for ONE block, time x 50 (**extrapolated**).",
                   paste(rvars, collapse = "/"), paste(cvars, collapse = "/")),
           "", duckdb_note, "")

for (r in results) {
  n <- r$n; ru <- r$runs
  lines <- c(lines, size_heading(r, "Database file", sprintf(", generated in the engine in %.1f min", r$gen$gen_s / 60),
                                 "connection open"))
  row <- function(task) {
    e <- ru[[paste0(task, "_engine")]]; m <- ru[[paste0(task, "_memory")]]; s <- ru[[paste0(task, "_survey")]]
    c(task_labels[[task]], cell_time(e), cell_peak(e), cell_time(m), cell_read(m), cell_peak(m), cell_time(s), cell_peak(s),
      ratio(m, e), ratio(s, e))
  }
  lines <- c(lines, size_table(lapply(r$tasks, row),
                               c("task", "engine s", "engine peak MB", "in memory s", "of which read s", "in memory peak MB",
                                 "survey s", "survey peak MB", "in memory / engine", "survey / engine")))
  re <- ru$rake_engine
  det <- character()
  if (!is.null(re$extra$apply_ms))
    det <- c(det, sprintf("raking in the engine: cells + rake %s s (%s sweeps, %s cells); applying the weights in the engine (the cell factors written as a temporary table and joined, `db_weights_sql(join = TRUE)`, summed by a over the first %s rows) %s s%s",
                          fmt_ms(re$ms / 1000), re$extra$iterations %||0% "?", fmt_n(prod(rake_levels)),
                          fmt_n(min(n, apply_rows)), fmt_ms(re$extra$apply_ms / 1000),
                          if (n > apply_rows) sprintf(", so about %s s for all rows (extrapolated; not in the table's time)",
                                                      fmt_ms(re$extra$apply_ms / 1000 * n / apply_rows)) else " (not in the table's time)"))
  if (!is.null(re$extra$error))
    det <- c(det, sprintf("raking in the engine **skipped**: this build's wt_rake() does not take a database table (`%s`)", re$extra$error))
  det <- c(det, survey_details(ru, "the database",
                               rake_why = ": `survey:::postStratify.DBIsvydesign` is `.NotYetImplemented()`"))
  ag <- r$agree
  det <- c(det, sprintf("agreement (max relative difference): 3-way table engine vs in memory %s, survey's svytable vs tab %s; raking cell factors engine vs in memory %s, engine-applied weights (sums by a over the first rows) vs in memory %s; banner engine vs in memory: estimates (n, n_w, pct, se, CIs, deff, bases) %s, Rao-Scott tests (statistic, ndf, ddf, p_value) %s, survey's block (pct, SE) vs tab %s",
                        fmt_e(ag$tab), fmt_e(ag$tab_survey), fmt_e(ag$rake), fmt_e(ag$rake_applied %||0% NA_real_),
                        fmt_e(ag$banner), fmt_e(ag$banner_tests), fmt_e(ag$banner_survey)))
  lines <- c(lines, paste0("- ", c(det, r$notes)), "")
}
lines <- c(lines, disk_line(results))
bench_write(lines)
unlink(work_dir, recursive = TRUE)
