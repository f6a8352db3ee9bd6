# Cross-tabulation benchmark: a weighted 3-way table (factors of 50, 20 and
# 5 levels) with umfrage::tab(se = FALSE) (counts, percents and bases; the
# inference is bench/inference.R's) and its C kernels against xtabs(), tapply(),
# data.table's grouped sum, collapse::qtab(w = ) and survey::svytable()
# (n <= 1e6), all in the same run. A bandwidth floor, measured in the same
# run on the same threads (C_bench_floor: a plain sum over the same three code
# columns and the weights, no cell index, no scatter, no checks), tells how
# far each kernel is from what reading its input alone costs.
#
# Run through bench/run.R (`Rscript bench/run.R tab`) or alone
# (`Rscript bench/tab.R`, which only writes bench/results/tab.md). Uses the
# INSTALLED umfrage. UMFRAGE_BENCH_SIZES="1e5" restricts the sizes for a
# trial run.

source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"), local = TRUE)
bench_start("tab", peers = c("survey", "data.table", "collapse", "profmem", "bench"), attach = c("data.table", "collapse"))

sizes <- c(1e6, 1e7)
env_sizes <- Sys.getenv("UMFRAGE_BENCH_SIZES")
if (nzchar(env_sizes)) sizes <- as.numeric(strsplit(env_sizes, "[ ,]+")[[1L]])
reps_for <- function(n) if (n <= 1e6) 9L else 5L
slow_reps <- 3L
survey_max_n <- 1e6

threads_info <- .Call(get("C_threads_max", envir = asNamespace("umfrage")))
thread_set <- if (threads_info[2L] == 1L && threads_info[1L] >= 2L) c(1L, 2L) else 1L
old_threads <- umfrage_threads(1L)
cell_sum_w <- get("C_cell_sum_w", envir = asNamespace("umfrage"))
cell_stats <- get("C_cell_stats", envir = asNamespace("umfrage"))
bench_floor <- get0("C_bench_floor", envir = asNamespace("umfrage"))
data.table::setDTthreads(1L)
collapse::set_collapse(nthreads = 1L)

gen_data <- function(n) {
  f <- function(k) structure(sample.int(k, n, TRUE, prob = stats::runif(k, 0.2, 1)),
                             levels = sprintf("l%02d", seq_len(k)), class = "factor")
  structure(list(a = f(50L), b = f(20L), c = f(5L), w = stats::rexp(n) + 0.1),
            class = "data.frame", row.names = c(NA_integer_, -as.integer(n)))
}

# ---- perf: instructions and cycles per row of the kernel (optional) ------------
#
# `perf stat` on a child R that runs C_cell_stats K times, minus the same
# child with K = 0 (data generation and start-up), divided by K * n. Needs
# perf on the PATH and hardware counters (a VM without a virtual PMU reports
# them as <not supported>; then the line says so). UMFRAGE_BENCH_PERF=0
# skips it.
perf_per_row <- function(n, threads, K = 50L) {
  if (identical(Sys.getenv("UMFRAGE_BENCH_PERF"), "0")) return("perf: skipped (UMFRAGE_BENCH_PERF=0)")
  if (!nzchar(Sys.which("perf"))) return("perf: not on the PATH")
  rscript <- file.path(R.home("bin"), "Rscript")
  code <- sprintf(paste(
    "suppressMessages(library(umfrage)); umfrage_threads(%d); set.seed(1); n <- %.0f;",
    "codes <- list(sample.int(50L, n, TRUE), sample.int(20L, n, TRUE), sample.int(5L, n, TRUE));",
    "w <- rexp(n) + 0.1; cs <- get('C_cell_stats', asNamespace('umfrage'));",
    "for (i in seq_len(as.integer(Sys.getenv('K')))) .Call(cs, codes, c(50L, 20L, 5L), w)"), threads, n)
  run <- function(k) {
    out <- suppressWarnings(system2("perf", c("stat", "-x,", "-e", "instructions,cycles", rscript, "-e", shQuote(code)),
                                    stdout = FALSE, stderr = TRUE,
                                    env = c(sprintf("K=%d", k), sprintf("R_LIBS=%s", paste(.libPaths(), collapse = ":")))))
    ev <- grep(",(instructions|cycles)", out, value = TRUE)
    v <- suppressWarnings(as.numeric(sub(",.*", "", ev)))
    names(v) <- sub(",.*", "", sub("^[^,]*,[^,]*,", "", ev))
    v
  }
  a <- run(K)
  b <- run(0L)
  if (length(a) < 2L || anyNA(a) || anyNA(b))
    return("perf: hardware counters not available here (perf stat reports <not supported>); see the note below")
  d <- (a - b[names(a)]) / (K * n)
  sprintf("perf stat, C_cell_stats at n = %s on %d thread%s: %.1f instructions and %.2f cycles per row (IPC %.2f)",
          fmt_n(n), threads, if (threads > 1L) "s" else "", d[["instructions"]], d[["cycles"]],
          d[["instructions"]] / d[["cycles"]])
}

# What perf showed when the kernels were last worked on (hand-measured;
# update with the code). The id loop of a block of 16,384 rows reads the
# codes and weights at the floor's speed, so the rest is the scatter.
perf_note <- c(
  "2026-11-30, AMD EPYC (Zen 5, KVM guest, no hardware counters: perf record -e cpu-clock), n = 1e6, 1 thread:",
  "before (5d76dfa): 88 % of the time in b3_w3, about 45 % of it in the SSE2 id loop (32-bit multiply emulated by pmuludq + shuffles) and 55 % in the scatter (three read-modify-writes per row, 14 instructions);",
  "2026-11-30 (session 5), same machine, perf record at n = 1e6 on 1 thread, warm caches: 81 % of the samples in b3_w3_avx2, of them 71 % in the scatter (most on the 32-byte store after the add: the read-modify-write waits on the L2, where the 160 KB of records live), 23 % in the id loop, 7 % in loop and prefetch glue. A standalone C loop over the same 1e6 ids took 0.43-0.49 ms for the 32-byte record add, 0.50-0.53 ms for {w, w^2} plus a separate count, and 0.34 ms for a scalar sum of w alone (what qtab computes), so the record add is within 1.3-1.4 x of the cheapest possible scatter; fusing the id loop into the scatter (groups of 8-64 rows) was slower (1.1-1.6 ms). The prefetch of the next block during the scatter took the cold-cache pass (gc() before the call) from 1.18-1.24 to 1.10-1.12 ms on 1 thread and from 0.84-0.90 to 0.75-0.77 ms on 2 (quiet A/B, medians of 40 calls); with cold caches the pass still costs about the floor plus the warm scatter, so the overlap is partial.",
  "2026-11-30 (session 6), tried and not kept: (a) software pipelining, the ids of the next block computed in sub-chunks of 64-2,048 rows between sub-chunks of this block's scatter (so that the DRAM reads of the one overlap the cache-bound adds of the other): in a standalone C loop over the same 1e6 rows 1.12-1.86 ms warm and 1.41-2.19 ms after a cache flush, against 0.92-0.94 and 1.05-1.20 ms for the two separate loops; (b) the {1, w, w^2, 0} record built with a broadcast and two multiply-adds instead of three shuffles: 0.47 against 0.51 ms for the scatter alone standalone, in the package no difference beyond noise (three alternating runs, cold 1.09-1.19 against 1.05-1.16 ms); (c) byte offsets written by the id loop and fixed groups of 16 rows fully unrolled: 0.42-0.45 against 0.48-0.59 ms for the scatter alone standalone, in the package the same warm (0.88-0.93 against 0.89-0.91 ms, identical results) and slower after gc() (1.11-1.22 against 1.06 ms); in the package the id loop alone takes 0.42 ms (floor 0.34) and the scatter adds 0.52; (d) prefetch hints T0, T1 or NTA, blocks of 1,024-16,384 rows, 1-8 blocks ahead, switched at run time in one process, in random order: none better than the current T0, one block ahead, beyond noise. A scalar sum-of-w scatter over the same ids costs 0.34-0.36 ms for 1e6 rows whether the 5,000 accumulators fit L1 (500 cells) or not, so the scatter is bound by its read-modify-write rate, not by where the records live.",
  "after: the id loop runs in the AVX2 copy (vpmulld, 8 lanes; 0.28 ms, the speed of reading the columns) and the scatter is one 32-byte add per row (12 instructions, unrolled 4x); a standalone loop with only one scalar add per row costs as much as the 32-byte add (1.5-1.8 cycles per row), so the scatter is now bound by its read-modify-write through the cache, not by instructions.")

# bench::mark()'s median of f() in ms: calls back to back for at least
# 0.25 s (and min_iterations), the iterations with a garbage collection
# left out (filter_gc)
mark_ms <- function(f, min_iterations = 1L)
  as.numeric(bench::mark(f(), min_time = 0.25, min_iterations = min_iterations, check = FALSE,
                         filter_gc = TRUE, memory = FALSE, time_unit = "ms")$median)

# ---- what "cold" costs: the floor and the kernel after gc() and after idle ----
#
# Each call after gc() (the rows evicted from the caches), after 5 ms of
# Sys.sleep() (no gc(): the rows stay where they were, but the CPU idled;
# on a VM the host may run other work on the core meanwhile, and a second
# thread has to be woken), and back to back (bench::mark()'s median). If
# the kernel's extra time after gc() is the floor's, the cold read costs
# the kernel what it costs any pass over the same columns.
idle_diag <- function(n, th, codes, nl, w, reps) {
  umfrage_threads(th)
  on.exit(umfrage_threads(1L))
  fl <- function() .Call(bench_floor, codes, w)
  ks <- function() .Call(cell_stats, codes, nl, w)
  one <- function(f, idle) {   # median of calls after 5 ms idle, or after gc()
    f()
    stats::median(vapply(seq_len(3L * reps), function(i) {
      if (idle) Sys.sleep(0.005)
      time_call(f, gc_first = !idle)[["ms"]]
    }, 0))
  }
  m <- vapply(list(fl, ks), function(f)
    c(back = mark_ms(f), idle = one(f, TRUE), gc = one(f, FALSE)), numeric(3))
  sprintf(paste("n = %s, %d thread%s: floor %.2f ms back to back, %.2f after 5 ms idle, %.2f after gc();",
                "kernel (C_cell_stats) %.2f, %.2f and %.2f ms. After gc() the floor takes %.2f ms more than back to back and the kernel %.2f ms more."),
          fmt_n(n), th, if (th > 1L) "s" else "", m[1, 1], m[2, 1], m[3, 1], m[1, 2], m[2, 2], m[3, 2],
          m[3, 1] - m[1, 1], m[3, 2] - m[1, 2])
}

results <- list()
idle_lines <- character()
checks <- character()
perf_lines <- character()
for (n in sizes) {
  say(sprintf("n = %s", fmt_n(n)))
  set.seed(20261125 + round(log10(n)))
  d <- gen_data(n)
  codes <- unname(as.list(d[c("a", "b", "c")]))
  nl <- c(50L, 20L, 5L)
  reps <- reps_for(n)
  ref <- xtabs(w ~ a + b + c, d)

  cases <- list()
  # ms: the median of calls each after gc() (which also evicts the rows from
  # the caches: a cold read, as the first pass over freshly read data);
  # warm: the median bench::mark() gives, the measurement R users compare
  # packages with: calls back to back for at least 0.25 s, the iterations
  # during which R's garbage collector ran left out (filter_gc; the garbage
  # of a method that allocates, such as qtab's 4 MB a call, would otherwise
  # be timed inside other calls). At 1e6 rows the 20 MB of codes and weights
  # then partly sit in the L3 cache. For the fast methods only.
  add <- function(method, threads, f, reps, check = NULL, warm = TRUE) {
    label <- sprintf("%s, %d thread%s", method, threads, if (threads > 1L) "s" else "")
    f()  # warm-up
    t <- vapply(seq_len(reps), function(i) time_call(f)[["ms"]], 0)
    tw <- if (warm) mark_ms(f, 3L * reps) else NA_real_
    mem <- alloc_bytes(f)
    cases[[length(cases) + 1L]] <<- data.frame(
      method = method, threads = threads, ms = stats::median(t), warm = tw,
      reps = reps, alloc = mem, stringsAsFactors = FALSE)
    if (!is.null(check)) {
      err <- check()
      checks <<- c(checks, sprintf("n = %s, %s: max relative difference to xtabs() %.1e",
                                   fmt_n(n), label, err))
    }
  }
  relerr <- function(x) max(abs(as.vector(x) - as.vector(ref)) / pmax(as.vector(ref), 1e-300))

  for (th in thread_set) {
    umfrage_threads(th)
    if (!is.null(bench_floor))
      add("floor: plain sum of the 3 codes and w (C_bench_floor)", th,
          function() .Call(bench_floor, codes, d$w), reps)
    add("umfrage kernel: weighted counts (C_cell_sum_w)", th,
        function() .Call(cell_sum_w, codes, nl, d$w), reps,
        function() relerr(.Call(cell_sum_w, codes, nl, d$w)))
    add("umfrage kernel: n, sum w, sum w^2 (C_cell_stats)", th,
        function() .Call(cell_stats, codes, nl, d$w), reps,
        function() relerr(.Call(cell_stats, codes, nl, d$w)$sum_w))
    add("umfrage tab(d, \"a\", cols = \"b\", by = \"c\", weights = \"w\")", th,
        function() tab(d, "a", cols = "b", by = "c", weights = "w", se = FALSE), reps,
        function() {
          cc <- as.data.frame(tab(d, "a", cols = "b", by = "c", weights = "w", se = FALSE))
          cc <- cc[cc$col_var == "b", ]
          # row and col are factors: index the reference by their labels
          r <- ref[cbind(as.character(cc$row), as.character(cc$col), as.character(cc$c))]
          max(abs(cc$n_w - r) / pmax(r, 1e-300))
        })
  }
  umfrage_threads(1L)
  add("collapse::qtab(a, b, c, w = w)", 1L,
      function() collapse::qtab(d$a, d$b, d$c, w = d$w), reps,
      function() relerr(collapse::qtab(d$a, d$b, d$c, w = d$w)))
  dt <- data.table::as.data.table(d)
  add("data.table dt[, sum(w), by = .(a, b, c)]", 1L,
      function() dt[, list(V1 = sum(w)), by = list(a, b, c)], reps)
  add("tapply(w, list(a, b, c), sum)", 1L,
      function() tapply(d$w, list(d$a, d$b, d$c), sum), slow_reps, warm = FALSE)
  add("xtabs(w ~ a + b + c)", 1L, function() xtabs(w ~ a + b + c, d), slow_reps, warm = FALSE)
  if (n <= survey_max_n) {
    des <- survey::svydesign(ids = ~1, weights = ~w, data = d)
    add("survey::svytable(~a + b + c, design)", 1L,
        function() survey::svytable(~a + b + c, des), slow_reps,
        function() relerr(survey::svytable(~a + b + c, des)), warm = FALSE)
    rm(des)
  }
  if (n == min(sizes)) {
    perf_lines <- c(perf_lines, vapply(thread_set, function(th) perf_per_row(n, th), ""))
    for (th in thread_set) idle_lines <- c(idle_lines, idle_diag(n, th, codes, nl, d$w, reps))
  }
  res <- do.call(rbind, cases)
  res$n <- n
  results[[length(results) + 1L]] <- res
  rm(d, dt, codes, ref)
  gc(FALSE)
}
umfrage_threads(old_threads)

# ---- report -------------------------------------------------------------------

lines <- c("## tab: weighted 3-way table (50 x 20 x 5 levels)", "",
           paste(run_line(c("survey", "data.table", "collapse", "profmem", "bench"), sizes),
                 "bench::mark ms: bench::mark()'s median, calls back to back for at least 0.25 s and at least 3 x reps calls, the iterations with a garbage collection left out (filter_gc), the measurement R users compare packages with (for the fast methods); after gc() ms: median wall time of reps calls after one warm-up, each after gc() (cold caches: gc() evicts the rows, as for the first pass over freshly read data); / qtab and / floor: against collapse::qtab and against the floor on the same threads, in the same measurement; memory = bytes allocated through R during one call (profmem). Peers on one thread (data.table::setDTthreads(1), collapse nthreads = 1)."), "")
targets <- character()
for (res in results) {
  n <- res$n[1L]
  qt <- res$ms[grepl("^collapse::qtab", res$method)]
  res$`vs qtab` <- res$ms / qt
  res$`warm vs qtab` <- res$warm / res$warm[grepl("^collapse::qtab", res$method)]
  # distance to the floor on the same number of threads (umfrage rows only)
  isf <- grepl("^floor", res$method)
  fi <- match(res$threads, res$threads[isf])
  near <- grepl("^(umfrage|floor)", res$method)
  res$`vs floor` <- ifelse(near, res$ms / res$ms[isf][fi], NA_real_)
  res$`warm vs floor` <- ifelse(near, res$warm / res$warm[isf][fi], NA_real_)
  # a column of numbers as text, "" where not measured
  opt_fmt <- function(x, fmt) ifelse(is.na(x), "", vapply(x, fmt, ""))
  fmt_floor <- function(v) sprintf("%.1f", v)
  lines <- c(lines, sprintf("### n = %s", fmt_n(n)), "",
             md_table(data.frame(
               method = res$method, threads = res$threads,
               `bench::mark ms` = opt_fmt(res$warm, fmt_ms),
               `/ qtab` = opt_fmt(res$`warm vs qtab`, fmt_ratio),
               `/ floor` = opt_fmt(res$`warm vs floor`, fmt_floor),
               `after gc() ms` = opt_fmt(res$ms, fmt_ms), reps = res$reps,
               `/ qtab ` = opt_fmt(res$`vs qtab`, fmt_ratio),
               `/ floor ` = opt_fmt(res$`vs floor`, fmt_floor),
               `allocated MB` = vapply(res$alloc, fmt_mb, ""),
               `alloc / (4 n)` = sprintf("%.2f", res$alloc / (4 * n)),
               check.names = FALSE)), "")
  ratio <- function(pat, th, col = "vs qtab") {
    r <- res[[col]][grepl(pat, res$method) & res$threads == th]
    if (length(r)) r[1L] else NA_real_
  }
  th2 <- max(res$threads)
  k1 <- ratio("C_cell_stats", 1L); t1 <- ratio("^umfrage tab", 1L)
  k2 <- ratio("C_cell_stats", th2); t2 <- ratio("^umfrage tab", th2)
  w1 <- ratio("C_cell_stats", 1L, "warm vs qtab"); w2 <- ratio("C_cell_stats", th2, "warm vs qtab")
  f1 <- ratio("^floor", 1L); f2 <- ratio("^floor", th2)
  met <- function(r, lim) if (is.na(r)) "not measured" else if (r <= lim) "met" else "NOT met"
  amax <- max(res$alloc[grepl("^umfrage", res$method)]) / (4 * n)
  targets <- c(targets,
    sprintf("- n = %s: n, sum w, sum w^2 on 1 thread at most 0.5 x qtab: kernel %.2f x qtab as bench::mark() measures (%s); %.2f x for the first pass after gc() (%s), where reading the columns alone (the floor) takes %.2f x; the whole tab(), which also builds its long result in R, %.2f x",
            fmt_n(n), w1, met(w1, 0.5), k1, met(k1, 0.5), f1, t1),
    sprintf("- n = %s: n, sum w, sum w^2 on %d threads at most 0.3 x qtab: kernel %.2f x qtab as bench::mark() measures (%s); %.2f x for the first pass after gc() (%s), where reading the columns alone (the floor) takes %.2f x; the whole tab() %.2f x",
            fmt_n(n), th2, w2, met(w2, 0.3), k2, met(k2, 0.3), f2, t2),
    sprintf("- n = %s: largest umfrage allocation %.2f x 4n bytes (%s MB; the table's own objects, of a size that does not grow with n, are part of it)",
            fmt_n(n), amax, fmt_mb(max(res$alloc[grepl("^umfrage", res$method)]))))
}
# "No allocation proportional to n beyond one integer vector": the growth of
# each umfrage method's allocation between the smallest and the largest n,
# per added row, against 4 bytes (one integer vector)
if (length(results) >= 2L) {
  r0 <- results[[1L]]; r1 <- results[[length(results)]]
  um <- grepl("^umfrage", r0$method)
  key0 <- paste(r0$method, r0$threads)[um]
  a1 <- r1$alloc[match(key0, paste(r1$method, r1$threads))]
  slope <- (a1 - r0$alloc[um]) / (4 * (r1$n[1L] - r0$n[1L]))
  smax <- max(slope, na.rm = TRUE)
  targets <- c(targets,
    sprintf("- no allocation proportional to n beyond one integer vector: the largest growth of an umfrage method's allocation from n = %s to %s is %.3f x 4 bytes per added row (%s)",
            fmt_n(r0$n[1L]), fmt_n(r1$n[1L]), smax, if (smax <= 1) "met" else "NOT met"))
}
lines <- c(lines, "### Targets", "", targets, "", "### Cold and idle", "",
           "The floor and the kernel, each call after gc(), after 5 ms of Sys.sleep() without gc(), and back to back (bench::mark()'s median):", "",
           paste0("- ", idle_lines), "", "### Agreement", "",
           paste0("- ", checks), "", "### perf", "", paste0("- ", unique(perf_lines)),
           paste0("- ", paste(perf_note, collapse = " ")), "")
bench_write(lines)
