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

# ---- setup ------------------------------------------------------------------

sizes <- bench_sizes(1e8)
env_num <- function(var, default) {
  v <- Sys.getenv(var)
  if (nzchar(v)) as.numeric(v) else default
}
survey_max <- env_num("UMFRAGE_BENCH_DB_SURVEY_MAX", 1e7)
sub_n <- 1e7                                          # rows of the fall-back subquery
child_timeout <- env_num("UMFRAGE_BENCH_DB_TIMEOUT", 7200)
apply_rows <- env_num("UMFRAGE_BENCH_DB_APPLY_ROWS", Inf)
banner_max <- env_num("UMFRAGE_BENCH_DB_BANNER_MAX", Inf)
task_set <- c("tab", "rake", "banner")
env_tasks <- Sys.getenv("UMFRAGE_BENCH_DB_TASKS")
if (nzchar(env_tasks)) {
  task_set <- intersect(task_set, strsplit(env_tasks, "[ ,]+")[[1L]])
  if (!length(task_set)) stop("UMFRAGE_BENCH_DB_TASKS names none of tab, rake, banner", call. = FALSE)
}
data_dir <- Sys.getenv("UMFRAGE_BENCH_DB_DIR")
if (!nzchar(data_dir)) data_dir <- file.path(dirname(dirname(bench_dir)), "benchdata")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)
data_dir <- normalizePath(data_dir)
work_dir <- tempfile("umfrage-duckbench-")
dir.create(work_dir)
rscript <- file.path(R.home("bin"), "Rscript")

row_levels <- c(r1 = 3L, r2 = 5L, r3 = 8L, r4 = 12L, r5 = 16L)
col_levels <- stats::setNames(rep(c(3L, 4L, 5L, 6L, 7L), 4L), sprintf("c%02d", 1:20))
rvars <- names(row_levels)
cvars <- names(col_levels)[1:10]                      # the banner's 10 column variables
n_strata <- 50L; n_psu <- 2000L
all_cols <- c("a", "b", "c", names(col_levels), rvars, "st", "psu", "w0")

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
# bench/db.R's generator, in DuckDB's dialect. Row id i = 1..n; hash k:
# u = (i * M_k + C_k) mod P, h_k = (u * u + D_k) mod P, P = 2^31 - 1 (all
# products below 2^63: BIGINT). Columns are mixed-radix digits of the
# hashes ((h // d) % k + 1); see bench/db.R for what each column is. Codes
# are stored as INTEGER (R integers), w0 as DOUBLE, computed with the same
# double operations in the same order as SQLite does.
gen_select <- function(n) {
  P <- 2147483647
  M <- c(48271, 69621, 40692, 40014, 16807, 39373, 45991, 50000017, 1103515245, 282475249)
  C <- c(12345, 54321, 99991, 31337, 27183, 31415, 16180, 14142, 17320, 22360)
  D <- c(7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
  u <- sprintf("((id * %.0f + %.0f) %% %.0f) AS u%d", M, C, P, seq_along(M))
  h <- sprintf("((u%d * u%d + %.0f) %% %.0f) AS h%d", seq_along(M), seq_along(M), D, P, seq_along(M))
  digits <- function(hk, ks) {
    div <- cumprod(c(1, ks))[seq_along(ks)]
    sprintf("((h%d // %.0f) %% %d + 1)", hk, div, ks)
  }
  abc <- stats::setNames(digits(1L, c(50L, 20L, 5L)), c("a", "b", "c"))
  cc <- unlist(lapply(1:5, function(j) digits(1L + j, col_levels[(4L * (j - 1L) + 1L):(4L * j)])))
  names(cc) <- names(col_levels)
  rr <- c(digits(7L, c(4L, row_levels[1:3])), digits(8L, c(4L, row_levels[4:5])))
  pick <- c(rr[1L], rr[1L], rr[1L], rr[5L], rr[5L])        # the "answers the PSU's value" digit
  own <- rr[-c(1L, 5L)]
  rcol <- vapply(seq_along(row_levels), function(j)
    sprintf("(CASE WHEN %s = 1 THEN ((psu * %d) // 7) %% %d + 1 ELSE %s END)",
            pick[j], 3L + 2L * j, row_levels[[j]], own[j]), "")
  names(rcol) <- rvars
  psu <- sprintf("(h9 %% %d + 1)", n_psu)
  # SQLite: (0.5 + 0.25 * k) * (0.6 + 0.8 * x / 10006.0), each operation in
  # doubles (0.8 * x first, then / 10006.0)
  w0 <- sprintf(paste("((0.5::DOUBLE + 0.25::DOUBLE * (((psu - 1) // %d) %% 5)) *",
                      "(0.6::DOUBLE + 0.8::DOUBLE * ((h9 // %d) %% 10007) / 10006.0::DOUBLE))"),
                n_psu / n_strata, n_psu)
  inner <- sprintf("SELECT id, %s FROM (SELECT range AS id FROM range(1, %.0f))", paste(u, collapse = ", "), n + 1)
  mid <- sprintf("SELECT id, %s FROM (%s)", paste(h, collapse = ", "), inner)
  mid2 <- sprintf("SELECT *, %s AS psu FROM (%s)", psu, mid)
  cols <- c(id = "id", abc, cc, rcol, st = sprintf("((psu - 1) // %d + 1)", n_psu / n_strata), psu = "psu")
  # no ORDER BY (a sort of all rows): COPY keeps range()'s order, as DuckDB
  # preserves insertion order by default (checked on the row groups below)
  sprintf("SELECT %s, CAST(%s AS DOUBLE) AS w0 FROM (%s)",
          paste(sprintf("CAST(%s AS INTEGER) AS %s", cols, names(cols)), collapse = ", "), w0, mid2)
}

pq_file <- function(n) file.path(data_dir, sprintf("umfrage_bench_%s.parquet", format(n, scientific = TRUE)))

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
  f <- pq_file(n)
  have <- parquet_rows(f)
  if (identical(have, n)) {
    say(sprintf("n = %s: reusing %s (%.2f GB)", fmt_n(n), f, file.size(f) / 1e9))
    return(list(file = f, gen_s = NA_real_, bytes = file.size(f)))
  }
  need <- 30 * n * 1.2
  free <- disk_free(data_dir)
  if (is.finite(free) && free < need)
    stop(sprintf("db_duckdb benchmark: %s rows need about %.1f GB in %s, only %.1f GB free (set UMFRAGE_BENCH_DB_DIR)",
                 fmt_n(n), need / 1e9, data_dir, free / 1e9), call. = FALSE)
  tmp <- paste0(f, ".partial")
  unlink(c(f, tmp))
  say(sprintf("n = %s: generating %s in DuckDB", fmt_n(n), f))
  t0 <- Sys.time()
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
  file.rename(tmp, f)
  gen_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  if (!identical(parquet_rows(f), n)) stop("db_duckdb benchmark: generating ", f, " failed", call. = FALSE)
  say(sprintf("n = %s: generated in %.1f min (DuckDB, %s threads), %.2f GB", fmt_n(n), gen_s / 60, threads,
              file.size(f) / 1e9))
  list(file = f, gen_s = gen_s, bytes = file.size(f), threads = threads)
}

# The Parquet generator against bench/db.R's SQLite file at 1e6 rows: every
# row (by id), every column, compared with identical() (w0 to the bit).
verify_values <- function(n = 1e6) {
  sq <- file.path(data_dir, sprintf("umfrage_bench_%s.sqlite", format(n, scientific = TRUE)))
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
  from <- a[1L]; out <- a[2L]; spec <- readRDS(a[3L])
  peak <- function() {
    s <- readLines("/proc/self/status")
    as.numeric(gsub("[^0-9]", "", grep("^VmHWM", s, value = TRUE))) * 1024
  }
  con <- dbConnect(if ("shared_home" %in% names(formals(duckdb::duckdb))) duckdb::duckdb(shared_home = FALSE) else duckdb::duckdb())
  if (!is.na(spec$threads)) dbExecute(con, sprintf("SET threads = %d", spec$threads))
  check <- NULL; extra <- list(threads = dbGetQuery(con, "SELECT current_setting('threads') AS t")$t)
  src <- db_table(con, SQL(from))
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
survey_design <- quote({
  suppressPackageStartupMessages(library(survey))
  des <- svydesign(ids = ~psu, strata = ~st, weights = ~w0, data = from, dbtype = "duckdb", dbname = ":memory:")
  extra$design_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
  extra$threads <- dbGetQuery(des$db$connection, "SELECT current_setting('threads') AS t")$t
})

tasks <- list(
  baseline = timed(quote(NULL)),
  tab_engine = timed(quote(res <- tab(src, "a", cols = "b", by = "c", weights = "w0")),
                     quote(check <- as.data.frame(res))),
  tab_memory = timed(quote({
    d <- dbGetQuery(con, sprintf("SELECT a, b, c, w0 FROM %s", from))
    extra$read_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    res <- tab(d, "a", cols = "b", by = "c", weights = "w0")
  }), quote(check <- as.data.frame(res))),
  tab_survey = timed(bquote({
    .(survey_design)
    res <- svytable(~a + b + c, des)
  }), quote(check <- as.data.frame(res, stringsAsFactors = FALSE))),
  rake_engine = timed(quote({
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
  })),
  rake_memory = timed(quote({
    d <- dbGetQuery(con, sprintf("SELECT a, b, c, r1, w0, id FROM %s", from))
    extra$read_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    w <- wt_rake(d, spec$targets, weights = "w0", epsilon = 1e-12, total = spec$n)
  }), quote({
    f <- as.numeric(w) / d$w0
    key <- paste(d$a, d$b, d$c, d$r1)
    i <- !duplicated(key)
    check <- data.frame(a = d$a[i], b = d$b[i], c = d$c[i], r1 = d$r1[i], factor = f[i])
    m <- d$id <= spec$apply_n
    extra$applied <- data.frame(a = sort(unique(d$a[m])), sw = as.vector(tapply(as.numeric(w)[m], d$a[m], sum)))
  })),
  rake_survey = timed(bquote({
    .(survey_design)
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
    des <- svy_design(src, weights = ~w0, strata = ~st, cluster = ~psu)
    res <- tab(des, rows = spec$rvars, cols = spec$cvars)
  }), quote(check <- as.data.frame(res))),
  banner_memory = timed(quote({
    d <- dbGetQuery(con, sprintf("SELECT %s FROM %s", paste(spec$banner_cols, collapse = ", "), from))
    extra$read_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    des <- svy_design(d, weights = ~w0, strata = ~st, cluster = ~psu)
    res <- tab(des, rows = spec$rvars, cols = spec$cvars)
  }), quote(check <- as.data.frame(res))),
  banner_survey = timed(bquote({
    .(survey_design)
    res <- svyby(stats::as.formula(sprintf("~factor(%s)", spec$rvars[1L])),
                 stats::as.formula(paste0("~", spec$cvars[1L])), des, svymean)
  }), quote(check <- res))
)

# Columns each in-memory child reads (for the memory estimate).
mem_cols <- c(tab_memory = 4L, rake_memory = 6L, banner_memory = length(banner_cols))

# Run one task in a child R (threads: DuckDB's threads, NA for its
# default); returns the child's list (ms, peak, check, extra) or one with
# the error / time-out.
run_child <- function(task, from, n, threads = NA_integer_, mem_limit = NA_real_) {
  code <- file.path(work_dir, paste0(task, ".R"))
  writeLines(c(deparse(prelude, width.cutoff = 500L), deparse(tasks[[task]], width.cutoff = 500L),
               deparse(finish, width.cutoff = 500L)), code)
  spec_f <- file.path(work_dir, "spec.rds")
  saveRDS(list(targets = targets, n = n, apply_n = min(n, apply_rows), rvars = rvars, cvars = cvars,
               banner_cols = banner_cols, threads = threads), spec_f)
  out <- file.path(work_dir, paste0(task, ".rds"))
  unlink(out)
  cmd <- paste(c(shQuote(rscript), shQuote(code), shQuote(from), shQuote(out), shQuote(spec_f)), collapse = " ")
  if (is.finite(mem_limit)) cmd <- sprintf("ulimit -v %.0f; %s", mem_limit / 1024, cmd)
  if (nzchar(Sys.which("timeout"))) cmd <- sprintf("timeout %.0f sh -c %s", child_timeout, shQuote(cmd))
  t0 <- Sys.time()
  log <- suppressWarnings(system2("sh", c("-c", shQuote(cmd)), stdout = TRUE, stderr = TRUE,
                                  env = sprintf("R_LIBS=%s", paste(.libPaths(), collapse = ":"))))
  wall <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  status <- attr(log, "status")
  label <- sprintf("%s (DuckDB threads %s)", task, if (is.na(threads)) "default" else threads)
  if (!file.exists(out)) {
    why <- if (identical(status, 124L)) sprintf("timed out after %.0f s", child_timeout) else
      paste(utils::tail(log, 3L), collapse = " / ")
    say("  ", label, " failed: ", why)
    return(list(ms = NA_real_, peak = NA_real_, failed = why))
  }
  r <- readRDS(out)
  unlink(out)
  if (length(log)) r$log <- log
  say(sprintf("  %s: %s ms, peak %s MB (child %.0f s)", label, fmt_ms(r$ms), fmt_mb(r$peak), wall))
  r
}

# Max relative difference of two numeric tables / vectors (as bench/db.R).
max_rel <- function(x, y) {
  if (is.null(x) || is.null(y)) return(NA_real_)
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
svytable_rel <- function(tb, st) {
  if (is.null(tb) || is.null(st)) return(NA_real_)
  body <- tb[tb$row_var == "a" & tb$col_var == "b", , drop = FALSE]
  if (!nrow(body)) return(NA_real_)
  st <- st[st$Freq > 0, , drop = FALSE]
  i <- match(paste(st$a, st$b, st$c), paste(body$row, body$col, body$c))
  if (anyNA(i)) return(Inf)
  max_rel(st$Freq, body$n_w[i])
}
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
applied_rel <- function(e, m) {
  if (is.null(e) || is.null(m)) return(NA_real_)
  max_rel(e$sw, m$sw[match(e$a, m$a)])
}

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
  r <- list(n = n, gen = g, runs = list(), notes = character())
  avail <- mem_available()
  mem_limit <- if (is.finite(avail)) 0.9 * avail else NA_real_
  r$runs$baseline <- run_child("baseline", from_all, n)
  r$tasks <- if (n > banner_max) setdiff(task_set, "banner") else task_set
  if (n > banner_max && "banner" %in% task_set)
    r$notes <- c(r$notes, sprintf("the banner was not run at this size (UMFRAGE_BENCH_DB_BANNER_MAX = %s)", fmt_n(banner_max)))
  for (task in r$tasks) {
    say(sprintf("n = %s: %s", fmt_n(n), task))
    et <- paste0(task, "_engine")
    r$runs[[paste0(et, "_def")]] <- run_child(et, from_all, n)
    r$runs[[paste0(et, "_1")]] <- run_child(et, from_all, n, threads = 1L)
    # in memory: the needed columns, about twice over while DuckDB hands
    # them to R, plus the call's own work (estimate, as bench/db.R)
    mt <- paste0(task, "_memory")
    est <- n * mem_cols[[mt]] * 8 * 2.5 + 5e8
    if (is.finite(avail) && est > 0.8 * avail && n > sub_n) {
      r$notes <- c(r$notes, sprintf("%s in memory: an estimated %.1f GB peak does not fit in the %.1f GB available; measured on the first %s rows and extrapolated x%g.",
                                    task, est / 1e9, avail / 1e9, fmt_n(sub_n), n / sub_n))
      x <- run_child(mt, from_sub, sub_n, threads = 1L, mem_limit = mem_limit)
      x$scale <- n / sub_n
    } else {
      x <- run_child(mt, from_all, n, threads = 1L, mem_limit = mem_limit)
    }
    r$runs[[mt]] <- x
    st <- paste0(task, "_survey")
    if (n > survey_max) {
      r$notes <- c(r$notes, sprintf("%s with survey: measured on the first %s rows (UMFRAGE_BENCH_DB_SURVEY_MAX) and extrapolated x%g.",
                                    task, fmt_n(sub_n), n / sub_n))
      x <- run_child(st, from_sub, sub_n, mem_limit = mem_limit)
      x$scale <- n / sub_n
    } else {
      x <- run_child(st, from_all, n, mem_limit = mem_limit)
    }
    r$runs[[st]] <- x
  }
  if (!is.null(r$runs$banner_survey$ms))
    r$runs$banner_survey$per_block <- length(rvars) * length(cvars)
  ru <- r$runs
  mem_check <- function(task) { m <- ru[[paste0(task, "_memory")]]; if (is.null(m$scale)) m$check }
  same_rows <- function(s, e, m) {
    if (is.null(s$scale)) e$check else if (!is.null(m$scale)) m$check else NULL
  }
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
  if (!is.null(ru$tab_memory$scale) || !is.null(ru$banner_memory$scale) || !is.null(ru$rake_memory$scale))
    r$notes <- c(r$notes, "Agreement of an extrapolated in-memory run: not checked against the engine (different rows).")
  say(sprintf("n = %s: agreement %s", fmt_n(n),
              paste(names(r$agree), vapply(r$agree, fmt_e, ""), sep = " ", collapse = ", ")))
  results[[length(results) + 1L]] <- r
  saveRDS(results, file.path(work_dir, "results.rds"))
}

# ---- write the section -------------------------------------------------------

`%||0%` <- function(a, b) if (is.null(a)) b else a
time_of <- function(x, what = "ms") {
  v <- x[[what]] %||0% NA_real_
  if (what == "ms" && !is.null(x$per_block) && !is.null(x$extra$design_ms))
    v <- x$extra$design_ms + (v - x$extra$design_ms) * x$per_block
  if (!is.null(x$scale)) v * x$scale else v
}
cell_time <- function(x) {
  if (is.null(x)) return("—")
  if (!is.null(x$failed)) return(sprintf("failed: %s", substr(x$failed, 1L, 80L)))
  if (!is.null(x$extra$error)) return("not available")
  s <- fmt_ms(time_of(x) / 1000)
  if (!is.null(x$scale) || !is.null(x$per_block)) s <- paste0(s, " (extrapolated)")
  s
}
cell_peak <- function(x) {
  if (is.null(x) || is.na(x$peak)) return("—")
  s <- fmt_mb(x$peak)
  if (!is.null(x$scale)) s <- paste0(s, sprintf(" (at %s rows)", fmt_n(sub_n)))
  s
}
ratio <- function(x, e) {
  if (is.null(x) || is.null(e) || !is.null(x$extra$error) || !is.null(e$extra$error)) return("—")
  fmt_ratio(time_of(x) / time_of(e))
}

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
  lines <- c(lines, sprintf("### %s rows", fmt_n(n)), "",
             sprintf("Parquet file %s: %.2f GB%s. Baseline child (packages loaded, DuckDB connected): peak %s MB.",
                     basename(r$gen$file), r$gen$bytes / 1e9,
                     if (is.na(r$gen$gen_s)) " (reused from an earlier run)" else
                       sprintf(", generated in DuckDB in %.1f min (%s threads)", r$gen$gen_s / 60, r$gen$threads),
                     fmt_mb(ru$baseline$peak)), "")
  labels <- c(tab = "(1) 3-way table", rake = "(2) raking, 4 margins", banner = "(3) 50-block banner with SE")
  dthreads <- ru$baseline$extra$threads %||0% "?"
  row <- function(task) {
    e <- ru[[paste0(task, "_engine_def")]]; e1 <- ru[[paste0(task, "_engine_1")]]
    m <- ru[[paste0(task, "_memory")]]; s <- ru[[paste0(task, "_survey")]]
    read <- if (!is.null(m$extra$read_ms)) fmt_ms(time_of(m$extra, "read_ms") / 1000) else "—"
    if (!is.null(m$scale) && !is.null(m$extra$read_ms)) read <- fmt_ms(m$extra$read_ms * m$scale / 1000)
    c(labels[[task]], cell_time(e), cell_peak(e), cell_time(e1), cell_peak(e1),
      cell_time(m), read, cell_peak(m), cell_time(s), cell_peak(s), ratio(m, e1), ratio(m, e), ratio(s, e))
  }
  tbl <- rows_df(lapply(r$tasks, row),
                 c("task", sprintf("engine s (%s threads)", dthreads), "peak MB", "engine s (1 thread)", "peak MB",
                   "in memory s", "of which read s", "in memory peak MB", "survey s", "survey peak MB",
                   "in memory / engine 1 thread", sprintf("in memory / engine %s threads", dthreads),
                   sprintf("survey / engine %s threads", dthreads)))
  lines <- c(lines, md_table(tbl), "")
  if (length(task_set) < 3L)
    lines <- c(lines, sprintf("Only %s run (UMFRAGE_BENCH_DB_TASKS).", paste(task_set, collapse = ", ")), "")
  det <- character()
  for (k in c("def", "1")) {
    re <- ru[[paste0("rake_engine_", k)]]
    if (!is.null(re$extra$apply_ms))
      det <- c(det, sprintf("raking in the engine (DuckDB %s threads): cells + rake %s s (%s sweeps, %s cells); applying the weights in the engine (factor table written with `db_write_factors()` and joined, `db_weights_sql(join = TRUE)`, summed by a over the first %s rows) %s s (not in the table's time)",
                            re$extra$threads, fmt_ms(re$ms / 1000), re$extra$iterations %||0% "?", fmt_n(prod(rake_levels)),
                            fmt_n(min(n, apply_rows)), fmt_ms(re$extra$apply_ms / 1000)))
    if (!is.null(re$failed)) det <- c(det, sprintf("raking in the engine (%s) failed: `%s`", k, gsub("`", "'", re$failed)))
  }
  if (!is.null(ru$rake_survey$extra$error))
    det <- c(det, sprintf("survey cannot rake its DBI design on DuckDB either: `rake()` stops with `%s` (survey %s has no postStratify() for DBI designs)",
                          gsub("`", "'", ru$rake_survey$extra$error), utils::packageVersion("survey")))
  for (k in c("tab_survey", "banner_survey"))
    if (!is.null(ru[[k]]$extra$design_ms))
      det <- c(det, sprintf("%s: svydesign() on DuckDB %s s%s", k, fmt_ms(ru[[k]]$extra$design_ms / 1000),
                            if (k == "banner_survey") sprintf(", one block (svyby of r1 by c01) %s s; the table's time is the design plus %d such blocks%s",
                                                              fmt_ms((ru[[k]]$ms - ru[[k]]$extra$design_ms) / 1000),
                                                              length(rvars) * length(cvars),
                                                              if (!is.null(ru[[k]]$scale)) sprintf(", times %g for the rows", ru[[k]]$scale) else "") else
                              if (!is.null(ru[[k]]$scale)) sprintf(" (on %s rows)", fmt_n(sub_n)) else ""))
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
if (length(results))
  lines <- c(lines, sprintf("Disk: %s.", paste(vapply(results, function(r)
    sprintf("%s rows %.2f GB", fmt_n(r$n), r$gen$bytes / 1e9), ""), collapse = ", ")), "")
bench_write(lines)
unlink(work_dir, recursive = TRUE)
