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

# ---- setup ------------------------------------------------------------------

sizes <- 1e8
env_sizes <- Sys.getenv("UMFRAGE_BENCH_SIZES")
if (nzchar(env_sizes)) sizes <- as.numeric(strsplit(env_sizes, "[ ,]+")[[1L]])
env_num <- function(var, default) {
  v <- Sys.getenv(var)
  if (nzchar(v)) as.numeric(v) else default
}
survey_max <- env_num("UMFRAGE_BENCH_DB_SURVEY_MAX", 1e7)
sub_n <- 1e7                                          # rows of the fall-back view
child_timeout <- env_num("UMFRAGE_BENCH_DB_TIMEOUT", 7200)
apply_rows <- env_num("UMFRAGE_BENCH_DB_APPLY_ROWS", Inf)
task_set <- c("tab", "rake", "banner")
banner_max <- as.numeric(Sys.getenv("UMFRAGE_BENCH_DB_BANNER_MAX", "Inf"))
env_tasks <- Sys.getenv("UMFRAGE_BENCH_DB_TASKS")
if (nzchar(env_tasks)) {
  task_set <- intersect(task_set, strsplit(env_tasks, "[ ,]+")[[1L]])
  if (!length(task_set)) stop("UMFRAGE_BENCH_DB_TASKS names none of tab, rake, banner", call. = FALSE)
}
data_dir <- Sys.getenv("UMFRAGE_BENCH_DB_DIR")
if (!nzchar(data_dir)) data_dir <- file.path(dirname(dirname(bench_dir)), "benchdata")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)
data_dir <- normalizePath(data_dir)
work_dir <- tempfile("umfrage-dbbench-")
dir.create(work_dir)
rscript <- file.path(R.home("bin"), "Rscript")

row_levels <- c(r1 = 3L, r2 = 5L, r3 = 8L, r4 = 12L, r5 = 16L)
col_levels <- stats::setNames(rep(c(3L, 4L, 5L, 6L, 7L), 4L), sprintf("c%02d", 1:20))
rvars <- names(row_levels)
cvars <- names(col_levels)[1:10]                      # the banner's 10 column variables
n_strata <- 50L; n_psu <- 2000L

mem_available <- function() {
  x <- tryCatch(readLines("/proc/meminfo"), error = function(e) character())
  m <- grep("^MemAvailable:", x, value = TRUE)
  if (length(m)) as.numeric(gsub("[^0-9]", "", m)) * 1024 else NA_real_
}
disk_free <- function(dir) {
  out <- tryCatch(suppressWarnings(system2("df", c("-Pk", shQuote(dir)), stdout = TRUE, stderr = FALSE)),
                  error = function(e) character())
  if (length(out) < 2L) return(NA_real_)
  as.numeric(strsplit(trimws(out[2L]), " +")[[1L]][4L]) * 1024
}

# ---- the data, generated in the engine -----------------------------------------
#
# Row id i = 1..n. Hash k of the row: u = (i * M_k + C_k) mod P, h_k = (u * u
# + D_k) mod P with P = 2^31 - 1 (all products below 2^63: SQLite's integers
# stay integers), quadratic in i, so columns made of different hashes are not
# linear functions of each other. Each hash gives several columns as digits
# of a mixed radix (h mod k1, (h / k1) mod k2, ...). Columns:
#   a (50), b (20), c (5)                 one hash
#   c01..c20 (3-7 levels)                 five hashes, four digits each
#   r1..r5 (3, 5, 8, 12, 16)              two hashes; a quarter of the rows
#                                         answer their PSU's value (so the
#                                         answers cluster: design effects)
#   psu 1..2000, st = (psu - 1) / 40 + 1  one hash (nested: 40 PSUs a stratum)
#   w0 = stratum factor * (0.6 .. 1.4)    from the same hash
# All columns INTEGER except w0 (REAL); codes 1..k.
gen_sql <- function(from_id, to_id) {
  P <- 2147483647
  M <- c(48271, 69621, 40692, 40014, 16807, 39373, 45991, 50000017, 1103515245, 282475249)
  C <- c(12345, 54321, 99991, 31337, 27183, 31415, 16180, 14142, 17320, 22360)
  D <- c(7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
  u <- sprintf("((id * %.0f + %.0f) %% %.0f) AS u%d", M, C, P, seq_along(M))
  h <- sprintf("((u%d * u%d + %.0f) %% %.0f) AS h%d", seq_along(M), seq_along(M), D, P, seq_along(M))
  digits <- function(hk, ks) {
    div <- cumprod(c(1, ks))[seq_along(ks)]
    sprintf("((h%d / %.0f) %% %d + 1)", hk, div, ks)
  }
  abc <- stats::setNames(digits(1L, c(50L, 20L, 5L)), c("a", "b", "c"))
  cc <- unlist(lapply(1:5, function(j) digits(1L + j, col_levels[(4L * (j - 1L) + 1L):(4L * j)])))
  names(cc) <- names(col_levels)
  rr <- c(digits(7L, c(4L, row_levels[1:3])), digits(8L, c(4L, row_levels[4:5])))
  pick <- c(rr[1L], rr[1L], rr[1L], rr[5L], rr[5L])        # the "answers the PSU's value" digit
  own <- rr[-c(1L, 5L)]
  rcol <- vapply(seq_along(row_levels), function(j)
    sprintf("(CASE WHEN %s = 1 THEN ((psu * %d) / 7) %% %d + 1 ELSE %s END)",
            pick[j], 3L + 2L * j, row_levels[[j]], own[j]), "")
  names(rcol) <- rvars
  psu <- sprintf("(h9 %% %d + 1)", n_psu)
  w0 <- sprintf("((0.5 + 0.25 * (((%s - 1) / %d) %% 5)) * (0.6 + 0.8 * ((h9 / %d) %% 10007) / 10006.0))",
                psu, n_psu / n_strata, n_psu)
  inner <- sprintf("SELECT id, %s FROM g", paste(u, collapse = ", "))
  mid <- sprintf("SELECT id, %s FROM (%s)", paste(h, collapse = ", "), inner)
  mid2 <- sprintf("SELECT *, %s AS psu FROM (%s)", psu, mid)
  cols <- c(abc, cc, rcol, st = sprintf("((psu - 1) / %d + 1)", n_psu / n_strata), psu = "psu", w0 = w0)
  sprintf(paste("INSERT INTO t (id, %s) WITH RECURSIVE g(id) AS (SELECT %.0f UNION ALL SELECT id + 1 FROM g WHERE id < %.0f)",
                "SELECT id, %s FROM (%s)"),
          paste(names(cols), collapse = ", "), from_id, to_id, paste(cols, collapse = ", "), mid2)
}
all_cols <- c("a", "b", "c", names(col_levels), rvars, "st", "psu", "w0")

db_file <- function(n) file.path(data_dir, sprintf("umfrage_bench_%s.sqlite", format(n, scientific = TRUE)))

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
  f <- db_file(n)
  have <- table_rows(f)
  if (identical(have, n)) {
    say(sprintf("n = %s: reusing %s (%.2f GB)", fmt_n(n), f, file.size(f) / 1e9))
    return(list(file = f, gen_s = NA_real_, bytes = file.size(f)))
  }
  need <- 80 * n * 1.1
  free <- disk_free(data_dir)
  if (is.finite(free) && free < need)
    stop(sprintf("db benchmark: %s rows need about %.1f GB in %s, only %.1f GB free (set UMFRAGE_BENCH_DB_DIR)",
                 fmt_n(n), need / 1e9, data_dir, free / 1e9), call. = FALSE)
  tmp <- paste0(f, ".partial")
  unlink(c(f, tmp))
  say(sprintf("n = %s: generating %s in SQLite", fmt_n(n), f))
  t0 <- Sys.time()
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
  file.rename(tmp, f)
  gen_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  if (!identical(table_rows(f), n)) stop("db benchmark: generating ", f, " failed", call. = FALSE)
  say(sprintf("n = %s: generated in %.1f min, %.2f GB", fmt_n(n), gen_s / 60, file.size(f) / 1e9))
  list(file = f, gen_s = gen_s, bytes = file.size(f))
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

# Raking targets: shares tilted away from the (uniform) sample shares.
rake_vars <- c("a", "b", "c", "r1")
rake_levels <- c(a = 50L, b = 20L, c = 5L, r1 = 3L)
targets <- lapply(rake_levels, function(k) {
  s <- 1 + 0.5 * sin(seq_len(k))
  stats::setNames(s / sum(s), seq_len(k))
})
banner_cols <- c(rvars, cvars, "st", "psu", "w0")

prelude <- quote({
  options(warn = 1)
  suppressPackageStartupMessages({ library(umfrage); library(DBI) })
  umfrage_threads(1L)
  a <- commandArgs(TRUE)
  file <- a[1L]; tbl <- a[2L]; out <- a[3L]; spec <- readRDS(a[4L])
  peak <- function() {
    s <- readLines("/proc/self/status")
    as.numeric(gsub("[^0-9]", "", grep("^VmHWM", s, value = TRUE))) * 1024
  }
  con <- dbConnect(RSQLite::SQLite(), file, flags = RSQLite::SQLITE_RO)
  check <- NULL; extra <- list()
  t0 <- Sys.time()
})
finish <- quote({
  saveRDS(list(ms = ms, peak = peak_b, check = check, extra = extra), out)
})
timed <- function(task, post = NULL) {
  bquote({
    .(task)
    ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    peak_b <- peak()
    .(if (is.null(post)) quote(NULL) else post)
  })
}

tasks <- list(
  baseline = timed(quote(NULL)),
  tab_engine = timed(quote(res <- tab(db_table(con, tbl), "a", cols = "b", by = "c", weights = "w0")),
                     quote(check <- as.data.frame(res))),
  tab_memory = timed(quote({
    d <- dbGetQuery(con, sprintf("SELECT a, b, c, w0 FROM %s", tbl))
    extra$read_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    res <- tab(d, "a", cols = "b", by = "c", weights = "w0")
  }), quote(check <- as.data.frame(res))),
  tab_survey = timed(quote({
    suppressPackageStartupMessages(library(survey))
    des <- svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = tbl, dbtype = "SQLite", dbname = file)
    extra$design_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    res <- svytable(~a + b + c, des)
  }), quote(check <- as.data.frame(res, stringsAsFactors = FALSE))),
  rake_engine = timed(quote({
    w <- tryCatch(wt_rake(db_table(con, tbl), spec$targets, weights = "w0", epsilon = 1e-12, total = spec$n),
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
  })),
  rake_memory = timed(quote({
    d <- dbGetQuery(con, sprintf("SELECT a, b, c, r1, w0 FROM %s", tbl))
    extra$read_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    w <- wt_rake(d, spec$targets, weights = "w0", epsilon = 1e-12, total = spec$n)
  }), quote({
    f <- as.numeric(w) / d$w0
    key <- paste(d$a, d$b, d$c, d$r1)
    i <- !duplicated(key)
    check <- data.frame(a = d$a[i], b = d$b[i], c = d$c[i], r1 = d$r1[i], factor = f[i])
    m <- seq_len(spec$apply_n)
    extra$applied <- data.frame(a = sort(unique(d$a[m])), sw = as.vector(tapply(as.numeric(w)[m], d$a[m], sum)))
  })),
  rake_survey = timed(quote({
    suppressPackageStartupMessages(library(survey))
    des <- svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = tbl, dbtype = "SQLite", dbname = file)
    pm <- lapply(names(spec$targets), function(v) {
      df <- data.frame(as.integer(names(spec$targets[[v]])), spec$targets[[v]] * spec$n)
      names(df) <- c(v, "Freq")
      df
    })
    sm <- lapply(names(spec$targets), function(v) stats::as.formula(paste0("~", v)))
    res <- tryCatch(rake(des, sm, pm, control = list(maxit = 100, epsilon = 1e-6)),
                    error = function(e) e)
  }), quote(if (inherits(res, "error")) extra$error <- conditionMessage(res))),
  banner_engine = timed(quote({
    des <- svy_design(db_table(con, tbl), weights = ~w0, strata = ~st, cluster = ~psu)
    res <- tab(des, rows = spec$rvars, cols = spec$cvars)
  }), quote(check <- as.data.frame(res))),
  banner_memory = timed(quote({
    d <- dbGetQuery(con, sprintf("SELECT %s FROM %s", paste(spec$banner_cols, collapse = ", "), tbl))
    extra$read_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    des <- svy_design(d, weights = ~w0, strata = ~st, cluster = ~psu)
    res <- tab(des, rows = spec$rvars, cols = spec$cvars)
  }), quote(check <- as.data.frame(res))),
  banner_survey = timed(quote({
    suppressPackageStartupMessages(library(survey))
    des <- svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = tbl, dbtype = "SQLite", dbname = file)
    extra$design_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    res <- svyby(stats::as.formula(sprintf("~factor(%s)", spec$rvars[1L])),
                 stats::as.formula(paste0("~", spec$cvars[1L])), des, svymean)
  }), quote(check <- res))
)

# Columns each in-memory child reads (for the memory estimate).
mem_cols <- c(tab_memory = 4L, rake_memory = 5L, banner_memory = length(banner_cols))

# Run one task in a child R; returns the child's list (ms, peak, check,
# extra) or one with the error / time-out.
run_child <- function(task, file, tbl, n, mem_limit = NA_real_) {
  code <- file.path(work_dir, paste0(task, ".R"))
  writeLines(c(deparse(prelude, width.cutoff = 500L), deparse(tasks[[task]], width.cutoff = 500L),
               deparse(finish, width.cutoff = 500L)), code)
  spec_f <- file.path(work_dir, "spec.rds")
  saveRDS(list(targets = targets, n = n, apply_n = min(n, apply_rows), rvars = rvars, cvars = cvars, banner_cols = banner_cols), spec_f)
  out <- file.path(work_dir, paste0(task, ".rds"))
  unlink(out)
  cmd <- paste(c(shQuote(rscript), shQuote(code), shQuote(file), shQuote(tbl), shQuote(out), shQuote(spec_f)),
               collapse = " ")
  if (is.finite(mem_limit)) cmd <- sprintf("ulimit -v %.0f; %s", mem_limit / 1024, cmd)
  if (nzchar(Sys.which("timeout"))) cmd <- sprintf("timeout %.0f sh -c %s", child_timeout, shQuote(cmd))
  t0 <- Sys.time()
  log <- suppressWarnings(system2("sh", c("-c", shQuote(cmd)), stdout = TRUE, stderr = TRUE,
                                  env = sprintf("R_LIBS=%s", paste(.libPaths(), collapse = ":"))))
  wall <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  status <- attr(log, "status")
  if (!file.exists(out)) {
    why <- if (identical(status, 124L)) sprintf("timed out after %.0f s", child_timeout) else
      paste(utils::tail(log, 3L), collapse = " / ")
    say("  ", task, " failed: ", why)
    return(list(ms = NA_real_, peak = NA_real_, failed = why))
  }
  r <- readRDS(out)
  unlink(out)
  if (length(log)) r$log <- log
  say(sprintf("  %s: %s ms, peak %s MB (child %.0f s)", task, fmt_ms(r$ms), fmt_mb(r$peak), wall))
  r
}

# Max relative difference of two numeric tables / vectors (cells where both
# are finite; relative to the larger magnitude, absolute below 1e-300).
max_rel <- function(x, y) {
  if (is.data.frame(x)) x <- x[vapply(x, is.numeric, NA)]
  if (is.data.frame(y)) y <- y[vapply(y, is.numeric, NA)]
  x <- unlist(x, use.names = FALSE); y <- unlist(y, use.names = FALSE)
  if (length(x) != length(y)) return(NA_real_)
  ok <- is.finite(x) & is.finite(y)
  if (!any(ok)) return(NA_real_)
  if (any(is.finite(x) != is.finite(y))) return(Inf)
  d <- abs(x[ok] - y[ok]) / pmax(abs(x[ok]), abs(y[ok]), 1e-300)
  max(d)
}
test_cols <- c("statistic", "ndf", "ddf", "p_value")
drop_tests <- function(df) if (is.null(df)) NULL else df[setdiff(names(df), test_cols)]
cells_rel <- function(a, b, vars) {
  if (is.null(a) || is.null(b)) return(NA_real_)
  ka <- do.call(paste, a[vars]); kb <- do.call(paste, b[vars])
  if (length(ka) != length(kb) || !setequal(ka, kb)) return(Inf)
  max_rel(a$factor, b$factor[match(ka, kb)])
}
# survey's svytable (a x b x c weighted counts) against tab()'s n_w cells.
svytable_rel <- function(tb, st) {
  if (is.null(tb) || is.null(st)) return(NA_real_)
  body <- tb[tb$row_var == "a" & tb$col_var == "b", , drop = FALSE]
  if (!nrow(body)) return(NA_real_)
  st <- st[st$Freq > 0, , drop = FALSE]
  ks <- paste(st$a, st$b, st$c)
  kt <- paste(body$row, body$col, body$c)
  i <- match(ks, kt)
  if (anyNA(i)) return(Inf)
  max_rel(st$Freq, body$n_w[i])
}
# survey's svyby block (r1 by c01: percents and SEs) against tab()'s.
block_rel <- function(tb, sb) {
  if (is.null(tb) || is.null(sb)) return(NA_real_)
  rv <- rvars[1L]; cv <- cvars[1L]
  body <- tb[tb$row_var == rv & tb$col_var == cv & tb$stat == "pct", , drop = FALSE]
  nm <- names(sb)
  est <- nm[startsWith(nm, sprintf("factor(%s)", rv))]
  se <- nm[startsWith(nm, sprintf("se.factor(%s)", rv))]
  lev <- sub(sprintf("^factor\\(%s\\)", rv), "", est)
  g <- expand.grid(col = as.character(sb[[cv]]), row = lev, stringsAsFactors = FALSE)
  sp <- 100 * as.vector(as.matrix(sb[est])); ss <- 100 * as.vector(as.matrix(sb[se]))
  i <- match(paste(g$row, g$col), paste(body$row, body$col))
  if (anyNA(i)) return(Inf)
  max(max_rel(sp, body$pct[i]), max_rel(ss, body$se[i]))
}

# ---- run --------------------------------------------------------------------

duckdb_note <- "DuckDB on Parquet: the same tasks and data in the section of bench/db_duckdb.R, which runs where the duckdb package is installed (tools/duckdb-dev.sh: on Linux it otherwise compiles 2,067 C++ files from source, hours on this machine)."
say(duckdb_note)

results <- list()
for (n in sizes) {
  g <- ensure_db(n)
  file <- g$file
  r <- list(n = n, gen = g, runs = list(), notes = character())
  sub_file <- NULL
  need_sub <- function() {
    if (is.null(sub_file)) { ensure_view(file); sub_file <<- file }
    sub_file
  }
  avail <- mem_available()
  mem_limit <- if (is.finite(avail)) 0.9 * avail else NA_real_
  r$runs$baseline <- run_child("baseline", file, "t", n)
  r$tasks <- if (n > banner_max) setdiff(task_set, "banner") else task_set
  if (n > banner_max && "banner" %in% task_set)
    r$notes <- c(r$notes, sprintf("the banner was not run at this size (UMFRAGE_BENCH_DB_BANNER_MAX = %s)", fmt_n(banner_max)))
  for (task in r$tasks) {
    say(sprintf("n = %s: %s", fmt_n(n), task))
    r$runs[[paste0(task, "_engine")]] <- run_child(paste0(task, "_engine"), file, "t", n)
    # in memory: the needed columns as R integers/doubles, about twice over
    # while RSQLite fetches, plus the call's own work (estimate)
    est <- n * mem_cols[[paste0(task, "_memory")]] * 8 * 2.5 + 5e8
    if (is.finite(avail) && est > 0.8 * avail && n > sub_n) {
      r$notes <- c(r$notes, sprintf("%s in memory: an estimated %.1f GB peak does not fit in the %.1f GB available; measured on the first %s rows and extrapolated x%g.",
                                    task, est / 1e9, avail / 1e9, fmt_n(sub_n), n / sub_n))
      x <- run_child(paste0(task, "_memory"), need_sub(), "t_sub", sub_n, mem_limit)
      x$scale <- n / sub_n
      r$runs[[paste0(task, "_memory")]] <- x
    } else {
      r$runs[[paste0(task, "_memory")]] <- run_child(paste0(task, "_memory"), file, "t", n, mem_limit)
    }
    if (n > survey_max) {
      r$notes <- c(r$notes, sprintf("%s with survey: measured on the first %s rows (UMFRAGE_BENCH_DB_SURVEY_MAX) and extrapolated x%g.",
                                    task, fmt_n(sub_n), n / sub_n))
      x <- run_child(paste0(task, "_survey"), need_sub(), "t_sub", sub_n, mem_limit)
      x$scale <- n / sub_n
      r$runs[[paste0(task, "_survey")]] <- x
    } else {
      r$runs[[paste0(task, "_survey")]] <- run_child(paste0(task, "_survey"), file, "t", n, mem_limit)
    }
  }
  if (!is.null(r$runs$banner_survey$ms))
    r$runs$banner_survey$per_block <- length(rvars) * length(cvars)
  ru <- r$runs
  # survey's result against umfrage's on the same rows (engine on all rows,
  # or in memory on the first sub_n rows), else none
  same_rows <- function(s, e, m) {
    if (is.null(s$scale)) e$check else if (!is.null(m$scale)) m$check else NULL
  }
  r$agree <- list(
    tab = max_rel(ru$tab_engine$check, if (is.null(ru$tab_memory$scale)) ru$tab_memory$check),
    tab_survey = svytable_rel(same_rows(ru$tab_survey, ru$tab_engine, ru$tab_memory), ru$tab_survey$check),
    rake = cells_rel(ru$rake_engine$check, if (is.null(ru$rake_memory$scale)) ru$rake_memory$check, rake_vars),
    banner = max_rel(drop_tests(ru$banner_engine$check),
                     if (is.null(ru$banner_memory$scale)) drop_tests(ru$banner_memory$check)),
    banner_tests = max_rel(ru$banner_engine$check[test_cols],
                           if (is.null(ru$banner_memory$scale)) ru$banner_memory$check[test_cols]),
    banner_survey = block_rel(same_rows(ru$banner_survey, ru$banner_engine, ru$banner_memory),
                              ru$banner_survey$check))
  if (!is.null(ru$tab_memory$scale) || !is.null(ru$banner_memory$scale) || !is.null(ru$rake_memory$scale))
    r$notes <- c(r$notes, "Agreement of an extrapolated in-memory run: not checked against the engine (different rows).")
  ae <- ru$rake_engine$extra$applied; am <- ru$rake_memory$extra$applied
  r$agree$rake_applied <- if (!is.null(ae) && !is.null(am) && is.null(ru$rake_memory$scale))
    max_rel(ae$sw, am$sw[match(ae$a, am$a)]) else NA_real_
  say(sprintf("n = %s: agreement %s", fmt_n(n),
              paste(names(r$agree), vapply(r$agree, fmt_e, ""), sep = " ", collapse = ", ")))
  results[[length(results) + 1L]] <- r
  saveRDS(results, file.path(work_dir, "results.rds"))
}

# ---- write the section -------------------------------------------------------

time_of <- function(x, what = "ms") {
  v <- x[[what]] %||0% NA_real_
  # survey's banner: the design once, the timed block once per block
  if (what == "ms" && !is.null(x$per_block) && !is.null(x$extra$design_ms))
    v <- x$extra$design_ms + (v - x$extra$design_ms) * x$per_block
  if (!is.null(x$scale)) v * x$scale else v
}
`%||0%` <- function(a, b) if (is.null(a)) b else a
cell_time <- function(x, scale_note = "") {
  if (!is.null(x$failed)) return(sprintf("failed: %s", substr(x$failed, 1L, 80L)))
  if (!is.null(x$extra$error)) return("not available")
  s <- fmt_ms(time_of(x) / 1000)
  if (!is.null(x$scale) || !is.null(x$per_block)) s <- paste0(s, " (extrapolated)")
  s
}
cell_peak <- function(x) {
  if (is.na(x$peak)) return("—")
  s <- fmt_mb(x$peak)
  if (!is.null(x$scale)) s <- paste0(s, sprintf(" (at %s rows)", fmt_n(sub_n)))
  s
}

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
  lines <- c(lines, sprintf("### %s rows", fmt_n(n)), "",
             sprintf("Database file %s: %.2f GB%s. Baseline child (packages loaded, connection open): peak %s MB.",
                     basename(r$gen$file), r$gen$bytes / 1e9,
                     if (is.na(r$gen$gen_s)) " (reused from an earlier run)" else
                       sprintf(", generated in the engine in %.1f min", r$gen$gen_s / 60),
                     fmt_mb(ru$baseline$peak)), "")
  ratio <- function(x, e) if (!is.null(x$extra$error) || !is.null(e$extra$error)) "—" else
    fmt_ratio(time_of(x) / time_of(e))
  row <- function(task, label) {
    e <- ru[[paste0(task, "_engine")]]; m <- ru[[paste0(task, "_memory")]]; s <- ru[[paste0(task, "_survey")]]
    read <- if (!is.null(m$extra$read_ms)) fmt_ms(time_of(m$extra, "read_ms") / 1000) else "—"
    c(label, cell_time(e), cell_peak(e), cell_time(m), read, cell_peak(m), cell_time(s), cell_peak(s),
      ratio(m, e), ratio(s, e))
  }
  labels <- c(tab = "(1) 3-way table", rake = "(2) raking, 4 margins", banner = "(3) 50-block banner with SE")
  tbl <- rows_df(lapply(r$tasks, function(k) row(k, labels[[k]])),
                 c("task", "engine s", "engine peak MB", "in memory s", "of which read s", "in memory peak MB",
                   "survey s", "survey peak MB", "in memory / engine", "survey / engine"))
  lines <- c(lines, md_table(tbl), "")
  if (length(task_set) < 3L)
    lines <- c(lines, sprintf("Only %s run (UMFRAGE_BENCH_DB_TASKS).", paste(task_set, collapse = ", ")), "")
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
  if (!is.null(ru$rake_survey$extra$error))
    det <- c(det, sprintf("survey cannot rake its DBI design: `rake()` stops with `%s` (survey %s has no postStratify() for DBI designs: `survey:::postStratify.DBIsvydesign` is `.NotYetImplemented()`)",
                          gsub("`", "'", ru$rake_survey$extra$error), utils::packageVersion("survey")))
  for (k in c("tab_survey", "banner_survey"))
    if (!is.null(ru[[k]]$extra$design_ms))
      det <- c(det, sprintf("%s: svydesign() on the database %s s%s", k, fmt_ms(ru[[k]]$extra$design_ms / 1000),
                            if (k == "banner_survey") sprintf(", one block (svyby of r1 by c01) %s s; the table's time is the design plus %d such blocks%s",
                                                              fmt_ms((ru[[k]]$ms - ru[[k]]$extra$design_ms) / 1000),
                                                              length(rvars) * length(cvars),
                                                              if (!is.null(ru[[k]]$scale)) sprintf(", times %g for the rows", ru[[k]]$scale) else "") else
                              if (!is.null(ru[[k]]$scale)) sprintf(" (on %s rows)", fmt_n(sub_n)) else ""))
  ag <- r$agree
  det <- c(det, sprintf("agreement (max relative difference): 3-way table engine vs in memory %s, survey's svytable vs tab %s; raking cell factors engine vs in memory %s, engine-applied weights (sums by a over the first rows) vs in memory %s; banner engine vs in memory: estimates (n, n_w, pct, se, CIs, deff, bases) %s, Rao-Scott tests (statistic, ndf, ddf, p_value) %s, survey's block (pct, SE) vs tab %s",
                        fmt_e(ag$tab), fmt_e(ag$tab_survey), fmt_e(ag$rake), fmt_e(ag$rake_applied %||0% NA_real_),
                        fmt_e(ag$banner), fmt_e(ag$banner_tests), fmt_e(ag$banner_survey)))
  lines <- c(lines, paste0("- ", c(det, r$notes)), "")
}
lines <- c(lines, sprintf("Disk: %s.", paste(vapply(results, function(r)
  sprintf("%s rows %.2f GB", fmt_n(r$n), r$gen$bytes / 1e9), ""), collapse = ", ")), "")
bench_write(lines)
unlink(work_dir, recursive = TRUE)
