# What the two database benchmarks share (sourced by bench/db.R, SQLite,
# and bench/db_duckdb.R, DuckDB on Parquet; not a benchmark itself, so
# bench/run.R does not run it). Sourced after bench/lib/common.R and
# bench_start(), in the script's own environment:
#
#   source(file.path(bench_dir, "lib", "dbbench.R"), local = TRUE)
#
# It reads the settings both scripts take from the environment (see the
# scripts' headers), defines the data's columns and the generator's SQL
# up to the dialect, the child tasks up to the connection, the child
# process runner (wall time and peak resident memory, VmHWM, of a fresh
# Rscript per measurement), the fall-back to the first sub_n rows with
# linear extrapolation, the agreement measures and the helpers of the
# section's tables. What differs between the engines stays in the scripts:
# the connection, the file format, the engine's raking, the thread
# settings and the section's text.

# ---- settings -----------------------------------------------------------------

sizes <- bench_sizes(1e8)
env_num <- function(var, default) {
  v <- Sys.getenv(var)
  if (nzchar(v)) as.numeric(v) else default
}
survey_max <- env_num("UMFRAGE_BENCH_DB_SURVEY_MAX", 1e7)
sub_n <- 1e7                                          # rows of the fall-back subset
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
work_dir <- tempfile(sprintf("umfrage-%s-", bench_name))
dir.create(work_dir)
rscript <- file.path(R.home("bin"), "Rscript")

disk_free <- function(dir) {
  out <- tryCatch(suppressWarnings(system2("df", c("-Pk", shQuote(dir)), stdout = TRUE, stderr = FALSE)),
                  error = function(e) character())
  if (length(out) < 2L) return(NA_real_)
  as.numeric(strsplit(trimws(out[2L]), " +")[[1L]][4L]) * 1024
}

# ---- the data ---------------------------------------------------------------------

row_levels <- c(r1 = 3L, r2 = 5L, r3 = 8L, r4 = 12L, r5 = 16L)
col_levels <- stats::setNames(rep(c(3L, 4L, 5L, 6L, 7L), 4L), sprintf("c%02d", 1:20))
rvars <- names(row_levels)
cvars <- names(col_levels)[1:10]                      # the banner's 10 column variables
n_strata <- 50L; n_psu <- 2000L
all_cols <- c("a", "b", "c", names(col_levels), rvars, "st", "psu", "w0")

# The data generator, up to the SQL dialect of the engine. Row
# id i = 1..n, from the SQL 'ids' (a query or table with one column id).
# Hash k of the row: u = (i * M_k + C_k) mod P, h_k = (u * u + D_k) mod P
# with P = 2^31 - 1 (all products below 2^63: the engines' integers stay
# integers), quadratic in i, so columns made of different hashes are not
# linear functions of each other. Each hash gives several columns as
# digits of a mixed radix ((h idiv k1) mod k2, ...), 'idiv' the dialect's
# integer division ("/" in SQLite, "//" in DuckDB, whose "/" divides
# floats). Returns list(from = the query of id, u1.., h1.., psu; cols =
# the SQL of every column but w0 over it, named). Columns:
#   a (50), b (20), c (5)                 one hash
#   c01..c20 (3-7 levels)                 five hashes, four digits each
#   r1..r5 (3, 5, 8, 12, 16)              two hashes; a quarter of the rows
#                                         answer their PSU's value (so the
#                                         answers cluster: design effects)
#   psu 1..2000, st = (psu - 1) / 40 + 1  one hash (nested: 40 PSUs a stratum)
#   w0 = stratum factor * (0.6 .. 1.4)    from the same hash (in the scripts)
gen_rows <- function(ids, idiv) {
  P <- 2147483647
  M <- c(48271, 69621, 40692, 40014, 16807, 39373, 45991, 50000017, 1103515245, 282475249)
  C <- c(12345, 54321, 99991, 31337, 27183, 31415, 16180, 14142, 17320, 22360)
  D <- c(7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
  u <- sprintf("((id * %.0f + %.0f) %% %.0f) AS u%d", M, C, P, seq_along(M))
  h <- sprintf("((u%d * u%d + %.0f) %% %.0f) AS h%d", seq_along(M), seq_along(M), D, P, seq_along(M))
  digits <- function(hk, ks) {
    div <- cumprod(c(1, ks))[seq_along(ks)]
    sprintf("((h%d %s %.0f) %% %d + 1)", hk, idiv, div, ks)
  }
  abc <- stats::setNames(digits(1L, c(50L, 20L, 5L)), c("a", "b", "c"))
  cc <- unlist(lapply(1:5, function(j) digits(1L + j, col_levels[(4L * (j - 1L) + 1L):(4L * j)])))
  names(cc) <- names(col_levels)
  rr <- c(digits(7L, c(4L, row_levels[1:3])), digits(8L, c(4L, row_levels[4:5])))
  pick <- c(rr[1L], rr[1L], rr[1L], rr[5L], rr[5L])        # the "answers the PSU's value" digit
  own <- rr[-c(1L, 5L)]
  rcol <- vapply(seq_along(row_levels), function(j)
    sprintf("(CASE WHEN %s = 1 THEN ((psu * %d) %s 7) %% %d + 1 ELSE %s END)",
            pick[j], 3L + 2L * j, idiv, row_levels[[j]], own[j]), "")
  names(rcol) <- rvars
  psu <- sprintf("(h9 %% %d + 1)", n_psu)
  inner <- sprintf("SELECT id, %s FROM %s", paste(u, collapse = ", "), ids)
  mid <- sprintf("SELECT id, %s FROM (%s)", paste(h, collapse = ", "), inner)
  list(from = sprintf("SELECT *, %s AS psu FROM (%s)", psu, mid),
       cols = c(abc, cc, rcol, st = sprintf("((psu - 1) %s %d + 1)", idiv, n_psu / n_strata), psu = "psu"))
}

# The data file of n rows with this extension, in data_dir.
data_file <- function(n, ext) file.path(data_dir, sprintf("umfrage_bench_%s.%s", format(n, scientific = TRUE), ext))

# Make file f of n rows unless rows(f) (its row count, NA when there is
# none) says it holds them already: make(tmp, t0) writes it into a
# temporary file, renamed when complete, and returns list(say = text after
# the minutes in the log, extra = entries for the result); need = the bytes
# it needs on disk; engine names the engine in the log.
ensure_file <- function(n, f, rows, need, engine, make) {
  if (identical(rows(f), n)) {
    say(sprintf("n = %s: reusing %s (%.2f GB)", fmt_n(n), f, file.size(f) / 1e9))
    return(list(file = f, gen_s = NA_real_, bytes = file.size(f)))
  }
  free <- disk_free(data_dir)
  if (is.finite(free) && free < need)
    stop(sprintf("%s benchmark: %s rows need about %.1f GB in %s, only %.1f GB free (set UMFRAGE_BENCH_DB_DIR)",
                 bench_name, fmt_n(n), need / 1e9, data_dir, free / 1e9), call. = FALSE)
  tmp <- paste0(f, ".partial")
  unlink(c(f, tmp))
  say(sprintf("n = %s: generating %s in %s", fmt_n(n), f, engine))
  t0 <- Sys.time()
  made <- make(tmp, t0)
  file.rename(tmp, f)
  gen_s <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  if (!identical(rows(f), n)) stop(bench_name, " benchmark: generating ", f, " failed", call. = FALSE)
  say(sprintf("n = %s: generated in %.1f min%s, %.2f GB", fmt_n(n), gen_s / 60, made$say, file.size(f) / 1e9))
  c(list(file = f, gen_s = gen_s, bytes = file.size(f)), made$extra)
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

# The child's code before the task: umfrage on 1 thread, its arguments (the
# output file, the spec, then the script's own), peak() = the process's
# peak resident memory (VmHWM), then 'connect' (the script's: it opens con
# and sets from, the SQL after FROM of the rows), then the clock starts.
child_prelude <- function(connect) bquote({
  options(warn = 1)
  suppressPackageStartupMessages({ library(umfrage); library(DBI) })
  umfrage_threads(1L)
  a <- commandArgs(TRUE)
  out <- a[1L]; spec <- readRDS(a[2L])
  peak <- function() {
    s <- readLines("/proc/self/status")
    as.numeric(gsub("[^0-9]", "", grep("^VmHWM", s, value = TRUE))) * 1024
  }
  check <- NULL; extra <- list()
  .(connect)
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

# The tasks' child code. source: the child's expression for umfrage's
# database source (timed); survey_design: the child's code making survey's
# DBI design des (and extra$design_ms); rake_engine: the engine's raking
# task (timed()); rake_ids: whether the in-memory raking reads the id and
# sums the weights of the rows with id <= apply_n (else of the first
# apply_n rows read).
db_tasks <- function(source, survey_design, rake_engine, rake_ids = FALSE) list(
  baseline = timed(quote(NULL)),
  tab_engine = timed(bquote(res <- tab(.(source), "a", cols = "b", by = "c", weights = "w0")),
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
  rake_engine = rake_engine,
  rake_memory = timed(bquote({
    d <- dbGetQuery(con, sprintf(.(sprintf("SELECT a, b, c, r1, w0%s FROM %%s", if (rake_ids) ", id" else "")), from))
    extra$read_ms <- 1000 * as.numeric(difftime(Sys.time(), t0, units = "secs"))
    w <- wt_rake(d, spec$targets, weights = "w0", epsilon = 1e-12, total = spec$n)
  }), bquote({
    f <- as.numeric(w) / d$w0
    key <- paste(d$a, d$b, d$c, d$r1)
    i <- !duplicated(key)
    check <- data.frame(a = d$a[i], b = d$b[i], c = d$c[i], r1 = d$r1[i], factor = f[i])
    m <- .(if (rake_ids) quote(d$id <= spec$apply_n) else quote(seq_len(spec$apply_n)))
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
  banner_engine = timed(bquote({
    des <- svy_design(.(source), weights = ~w0, strata = ~st, cluster = ~psu)
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

# Run one task of 'tasks' in a child R (the script's prelude, the task and
# finish written to a file; Rscript with the output file, the spec and
# 'args'; under `ulimit -v` when mem_limit is finite, stopped after
# child_timeout seconds); spec: entries added to the child's spec; label:
# the task's name in the log. Returns the child's list (ms, peak, check,
# extra) or one with the error / time-out.
db_run_child <- function(task, args, n, label = task, mem_limit = NA_real_, spec = list()) {
  code <- file.path(work_dir, paste0(task, ".R"))
  writeLines(c(deparse(prelude, width.cutoff = 500L), deparse(tasks[[task]], width.cutoff = 500L),
               deparse(finish, width.cutoff = 500L)), code)
  spec_f <- file.path(work_dir, "spec.rds")
  saveRDS(c(list(targets = targets, n = n, apply_n = min(n, apply_rows), rvars = rvars, cvars = cvars,
                 banner_cols = banner_cols), spec), spec_f)
  out <- file.path(work_dir, paste0(task, ".rds"))
  unlink(out)
  cmd <- paste(shQuote(c(rscript, code, out, spec_f, args)), collapse = " ")
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
    say("  ", label, " failed: ", why)
    return(list(ms = NA_real_, peak = NA_real_, failed = why))
  }
  r <- readRDS(out)
  unlink(out)
  if (length(log)) r$log <- log
  say(sprintf("  %s: %s ms, peak %s MB (child %.0f s)", label, fmt_ms(r$ms), fmt_mb(r$peak), wall))
  r
}

# ---- a size's runs -------------------------------------------------------------

# The result of size n (data g) before its runs: the tasks to run (the
# banner only up to banner_max, with a note where it is left out).
size_result <- function(n, g) {
  r <- list(n = n, gen = g, runs = list(), notes = character())
  r$tasks <- if (n > banner_max) setdiff(task_set, "banner") else task_set
  if (n > banner_max && "banner" %in% task_set)
    r$notes <- c(r$notes, sprintf("the banner was not run at this size (UMFRAGE_BENCH_DB_BANNER_MAX = %s)", fmt_n(banner_max)))
  r
}

# A task's in-memory and survey runs at n rows, into result r: run(task,
# sub) runs the child on all rows or (sub = TRUE) the first sub_n. In
# memory runs on the first sub_n rows, EXTRAPOLATED linearly, when its
# estimated peak (the needed columns, mem_cols, about twice over while the
# driver hands them to R, plus the call's own work) does not fit in the
# memory available 'avail'; survey does above survey_max rows. Survey's
# banner is one block, timed x per_block.
run_memory_survey <- function(r, task, avail, run) {
  n <- r$n
  # the child on all rows, or where 'sub' on the first sub_n, scaled, noted
  measure <- function(t, sub, note) {
    if (!sub) return(run(t, FALSE))
    r$notes <<- c(r$notes, note)
    x <- run(t, TRUE)
    x$scale <- n / sub_n
    x
  }
  mt <- paste0(task, "_memory")
  est <- n * mem_cols[[mt]] * 8 * 2.5 + 5e8
  x <- measure(mt, is.finite(avail) && est > 0.8 * avail && n > sub_n,
               sprintf("%s in memory: an estimated %.1f GB peak does not fit in the %.1f GB available; measured on the first %s rows and extrapolated x%g.",
                       task, est / 1e9, avail / 1e9, fmt_n(sub_n), n / sub_n))
  r$runs[[mt]] <- x
  st <- paste0(task, "_survey")
  x <- measure(st, n > survey_max,
               sprintf("%s with survey: measured on the first %s rows (UMFRAGE_BENCH_DB_SURVEY_MAX) and extrapolated x%g.",
                       task, fmt_n(sub_n), n / sub_n))
  if (st == "banner_survey" && !is.null(x$ms)) x$per_block <- length(rvars) * length(cvars)
  r$runs[[st]] <- x
  r
}

# survey's result against umfrage's on the same rows (engine e on all rows,
# or in memory m on the first sub_n rows), else none.
same_rows <- function(s, e, m) {
  if (is.null(s$scale)) e$check else if (!is.null(m$scale)) m$check else NULL
}

# The size's end: the note on extrapolated in-memory runs, the agreement
# in the log.
size_done <- function(r) {
  ru <- r$runs
  if (!is.null(ru$tab_memory$scale) || !is.null(ru$banner_memory$scale) || !is.null(ru$rake_memory$scale))
    r$notes <- c(r$notes, "Agreement of an extrapolated in-memory run: not checked against the engine (different rows).")
  say(sprintf("n = %s: agreement %s", fmt_n(r$n),
              paste(names(r$agree), vapply(r$agree, fmt_e, ""), sep = " ", collapse = ", ")))
  r
}

# ---- agreement ------------------------------------------------------------------

# Max relative difference of two numeric tables / vectors (cells where both
# are finite; relative to the larger magnitude, absolute below 1e-300).
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
# The raking's cell factors of two runs, cell by cell.
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
  i <- match(paste(st$a, st$b, st$c), paste(body$row, body$col, body$c))
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
# The weights applied in the engine (sums by a) against in memory's.
applied_rel <- function(e, m) {
  if (is.null(e) || is.null(m)) return(NA_real_)
  max_rel(e$sw, m$sw[match(e$a, m$a)])
}

# ---- the section ------------------------------------------------------------------

`%||0%` <- function(a, b) if (is.null(a)) b else a
# A run's time in ms (what = "ms") or its read time ("read_ms" of its
# extra); survey's banner: the design once, the timed block once per
# block; times the scale of an extrapolated run.
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
# The in-memory run's read time, scaled as its total where that was
# extrapolated from the first rows.
cell_read <- function(m) {
  if (is.null(m$extra$read_ms)) return("—")
  fmt_ms(time_of(m$extra, "read_ms") * (if (is.null(m$scale)) 1 else m$scale) / 1000)
}
ratio <- function(x, e) {
  if (is.null(x) || is.null(e) || !is.null(x$extra$error) || !is.null(e$extra$error)) return("—")
  fmt_ratio(time_of(x) / time_of(e))
}
task_labels <- c(tab = "(1) 3-way table", rake = "(2) raking, 4 margins", banner = "(3) 50-block banner with SE")

# The size's table, and the line saying which tasks ran when not all did.
size_table <- function(rows, names) {
  lines <- c(md_table(rows_df(rows, names)), "")
  if (length(task_set) < 3L)
    lines <- c(lines, sprintf("Only %s run (UMFRAGE_BENCH_DB_TASKS).", paste(task_set, collapse = ", ")), "")
  lines
}

# The details of survey on the engine: that it cannot rake its DBI design
# (with 'rake_where' after "design" and 'rake_why' after "for DBI designs"),
# the time of its designs on 'where', its banner's block time and the
# extrapolation.
survey_details <- function(ru, where, rake_where = "", rake_why = "") {
  det <- character()
  if (!is.null(ru$rake_survey$extra$error))
    det <- c(det, sprintf("survey cannot rake its DBI design%s: `rake()` stops with `%s` (survey %s has no postStratify() for DBI designs%s)",
                          rake_where, gsub("`", "'", ru$rake_survey$extra$error), utils::packageVersion("survey"), rake_why))
  for (k in c("tab_survey", "banner_survey"))
    if (!is.null(ru[[k]]$extra$design_ms))
      det <- c(det, sprintf("%s: svydesign() on %s %s s%s", k, where, fmt_ms(ru[[k]]$extra$design_ms / 1000),
                            if (k == "banner_survey") sprintf(", one block (svyby of r1 by c01) %s s; the table's time is the design plus %d such blocks%s",
                                                              fmt_ms((ru[[k]]$ms - ru[[k]]$extra$design_ms) / 1000),
                                                              length(rvars) * length(cvars),
                                                              if (!is.null(ru[[k]]$scale)) sprintf(", times %g for the rows", ru[[k]]$scale) else "") else
                              if (!is.null(ru[[k]]$scale)) sprintf(" (on %s rows)", fmt_n(sub_n)) else ""))
  det
}

# A size's heading and its first sentence: the data file ('what', its
# size, reused or 'generated'), the baseline child's peak ('baseline': what
# the child had open).
size_heading <- function(r, what, generated, baseline) {
  c(sprintf("### %s rows", fmt_n(r$n)), "",
    sprintf("%s %s: %.2f GB%s. Baseline child (packages loaded, %s): peak %s MB.",
            what, basename(r$gen$file), r$gen$bytes / 1e9,
            if (is.na(r$gen$gen_s)) " (reused from an earlier run)" else generated,
            baseline, fmt_mb(r$runs$baseline$peak)), "")
}

# The section's last line: each size's data file on disk.
disk_line <- function(results) {
  if (!length(results)) return(character())
  c(sprintf("Disk: %s.", paste(vapply(results, function(r)
    sprintf("%s rows %.2f GB", fmt_n(r$n), r$gen$bytes / 1e9), ""), collapse = ", ")), "")
}
