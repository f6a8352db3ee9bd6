# Long vectors: a code column of more than 2^31 - 1 rows (default 2^31 + 10,
# an integer factor without weights: 8.6 GB) through umfrage's C passes,
# tab() and wt_rake(). Records for each step the time and whether the counts
# match their closed form, or the error, or that memory did not suffice;
# nothing here may crash the session that runs it.
#
# Each step runs in a child R process (Rscript) under `ulimit -v` (the
# memory available when it starts, less a margin), so that an allocation
# that does not fit is an R error and never wakes the kernel's OOM killer.
# Steps that need more memory than is available are not tried; the
# results say so.
#
# Run through bench/run.R (`Rscript bench/run.R longvec`) or alone
# (`Rscript bench/longvec.R`, which only writes bench/results/longvec.md).
# Uses the INSTALLED umfrage. UMFRAGE_LONGVEC_N overrides the row count
# (e.g. 1e7 for a trial run). Heavy: do not run it alongside other
# benchmarks.

source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"), local = TRUE)
bench_start("longvec")

n <- 2^31 + 10
env_n <- Sys.getenv("UMFRAGE_LONGVEC_N")
if (nzchar(env_n)) n <- as.numeric(env_n)
gb <- function(b) b / 1e9
margin <- 1.5e9     # R itself, the OpenMP threads, small results
# Closed form of the counts of x = rep_len(1:3, n): level k has
# floor(n / 3) rows, plus one for k <= n %% 3.
expected <- floor(n / 3) + (seq_len(3) <= n %% 3)

# ---- the child: one or more steps on one code column -------------------------

child_code <- '
args <- commandArgs(trailingOnly = TRUE)
n <- as.numeric(args[1L]); steps <- strsplit(args[2L], ",")[[1L]]; out <- args[3L]
suppressPackageStartupMessages(library(umfrage))
ns <- asNamespace("umfrage")
res <- list()
save <- function() saveRDS(res, out)
step <- function(name, f) {
  res[[name]] <<- list(status = "running")
  save()
  gc(FALSE)
  t0 <- Sys.time()
  v <- tryCatch(list(status = "ok", value = f()),
                error = function(e) list(status = "error", message = conditionMessage(e)))
  v$seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  v$max_threads <- umfrage_threads()
  res[[name]] <<- v
  save()
}
t0 <- Sys.time()
x <- tryCatch(rep_len(1:3, n), error = function(e) conditionMessage(e))
if (is.character(x)) { res$make <- list(status = "error", message = x); save(); quit(status = 0) }
attr(x, "levels") <- c("a", "b", "c")
class(x) <- "factor"
res$make <- list(status = "ok", seconds = as.numeric(difftime(Sys.time(), t0, units = "secs")),
                 length = length(x), is_long = length(x) > .Machine$integer.max)
save()
threads <- .Call(get("C_threads_max", envir = ns))[1L]
for (s in steps) switch(s,
  kernel1 = { umfrage_threads(1L)
    step(s, function() .Call(get("C_cell_stats", envir = ns), list(x), 3L, NULL)$n) },
  kernel2 = { umfrage_threads(threads)
    step(s, function() .Call(get("C_cell_stats", envir = ns), list(x), 3L, NULL)$n) },
  ctab = { umfrage_threads(threads)
    step(s, function() {
      r <- .Call(get("C_tab", envir = ns), list(0L, 3L, list(x), 0L, 0L), list(list(3L, 1L, list(), 0L, 0L)),
                 list(), NULL)
      r$cols[[1L]]$cells[, 1L]
    }) },
  dataframe = step(s, function() {
    d <- data.frame(a = x)
    assign("d", d, envir = globalenv())
    c(nrow = nrow(d), length_a = length(d$a))
  }),
  listframe = if (!exists("d", envir = globalenv())) step(s, function() {
    # a list posing as a data frame, as data.frame() failed
    d <- structure(list(a = x), class = "data.frame", row.names = c(NA_integer_, -.Machine$integer.max))
    assign("d", d, envir = globalenv())
    c(nrow = nrow(d), length_a = length(d$a))
  }),
  tab = { umfrage_threads(threads)
    step(s, function() {
      if (!exists("d", envir = globalenv())) stop("no data frame could be made")
      t <- as.data.frame(tab(get("d", envir = globalenv()), "a", se = FALSE))
      t$n
    }) },
  tab_se = { umfrage_threads(threads)
    step(s, function() {
      if (!exists("d", envir = globalenv())) stop("no data frame could be made")
      t <- as.data.frame(tab(get("d", envir = globalenv()), "a"))
      c(t$n, t$se)
    }) },
  rake = { umfrage_threads(threads)
    step(s, function() {
      if (!exists("d", envir = globalenv())) stop("no data frame could be made")
      w <- wt_rake(get("d", envir = globalenv()), list(a = c(a = 0.2, b = 0.3, c = 0.5)))
      c(length(w), as.numeric(w[1:3]))
    }) })
quit(status = 0)
'

run_child <- function(steps, vmem_bytes) {
  script <- tempfile("longvec-", fileext = ".R")
  out <- tempfile("longvec-", fileext = ".rds")
  writeLines(child_code, script)
  on.exit(unlink(c(script, out)), add = TRUE)
  rscript <- file.path(R.home("bin"), "Rscript")
  cmd <- sprintf("ulimit -v %.0f; R_LIBS=%s exec %s --vanilla %s %.0f %s %s",
                 vmem_bytes / 1024, shQuote(paste(.libPaths(), collapse = ":")), shQuote(rscript),
                 shQuote(script), n, paste(steps, collapse = ","), shQuote(out))
  st <- suppressWarnings(system2("bash", c("-c", shQuote(cmd)), stdout = TRUE, stderr = TRUE))
  status <- attr(st, "status")
  if (is.null(status)) status <- 0L
  res <- if (file.exists(out)) readRDS(out) else list()
  for (s in names(res)) if (identical(res[[s]]$status, "running"))
    res[[s]] <- list(status = "died", message = sprintf("the R process ended with status %d during this step: %s",
                                                        status, paste(tail(st, 3L), collapse = " / ")))
  attr(res, "status") <- status
  attr(res, "output") <- st
  res
}

# ---- plan: what fits ----------------------------------------------------------------

avail <- mem_available()
col_bytes <- 4 * n
say(sprintf("n = %s rows (%s 2^31 - 1); code column %.1f GB; memory available %.1f GB",
            format(n, big.mark = ",", scientific = FALSE), if (n > 2^31 - 1) ">" else "<=",
            gb(col_bytes), gb(avail)))
# step -> bytes it needs besides the code column
need <- c(kernel1 = 0, kernel2 = 0, ctab = 0, dataframe = 0, listframe = 0, tab = 0, tab_se = 0,
          rake = 8 * n)                     # the weights: one double per row
steps_all <- names(need)
fits <- !is.na(avail) & (col_bytes + need + margin <= avail)
# the child's address space: what is available now, less a margin
vmem <- if (is.na(avail)) 20e9 else max(avail - 0.5e9, col_bytes + margin)
run_steps <- steps_all[fits]
results <- list()
if (length(run_steps)) {
  say("running ", paste(run_steps, collapse = ", "), sprintf(" in a child R process (ulimit -v %.1f GB)", gb(vmem)))
  results <- run_child(run_steps, vmem)
  if (attr(results, "status") != 0L) say("child status ", attr(results, "status"))
}

# ---- report ---------------------------------------------------------------------------

labels <- c(
  make = "make the code column: rep_len(1:3, n) as a factor",
  kernel1 = "C pass, 1 thread: .Call(C_cell_stats, list(x), 3L, NULL)",
  kernel2 = "C pass, all threads: .Call(C_cell_stats, list(x), 3L, NULL)",
  ctab = "C table pass: .Call(C_tab, <x>, <Total column>, list(), NULL)",
  dataframe = "data.frame(a = x)",
  listframe = "a list with class data.frame (row.names cannot say n)",
  tab = "tab(d, \"a\", se = FALSE)",
  tab_se = "tab(d, \"a\") (with inference)",
  rake = "wt_rake(d, list(a = c(a = 0.2, b = 0.3, c = 0.5)))")
check_counts <- function(s, v) {
  if (s %in% c("kernel1", "kernel2", "ctab", "tab")) {
    ok <- length(v) == 3L && all(v == expected)
    sprintf("counts %s; closed form %s: %s", paste(format(v, big.mark = ",", scientific = FALSE), collapse = " / "),
            paste(format(expected, big.mark = ",", scientific = FALSE), collapse = " / "),
            if (ok) "**match**" else "**DIFFER**")
  } else if (s == "tab_se") {
    ok <- all(v[1:3] == expected)
    sprintf("counts %s (%s); SEs of the percents %s", if (ok) "match the closed form" else "**DIFFER** from the closed form",
            paste(format(v[1:3], big.mark = ",", scientific = FALSE), collapse = " / "),
            paste(signif(v[4:6], 3), collapse = " / "))
  } else if (s %in% c("dataframe", "listframe")) {
    sprintf("nrow(d) = %s, length(d$a) = %s", format(v[["nrow"]], big.mark = ",", scientific = FALSE),
            format(v[["length_a"]], big.mark = ",", scientific = FALSE))
  } else if (s == "rake") {
    # a row of level k gets target_k * n / count_k
    want <- c(0.2, 0.3, 0.5) * n / expected
    ok <- v[1L] == n && all(abs(v[2:4] - want) <= 1e-9 * want)
    sprintf("%s weights; rows of a, b, c weigh %s; closed form %s: %s", format(v[1L], big.mark = ",", scientific = FALSE),
            paste(signif(v[2:4], 10), collapse = " / "), paste(signif(want, 10), collapse = " / "),
            if (ok) "**match**" else "**DIFFER**")
  } else ""
}
rows <- list()
mk <- results$make
rows[[1L]] <- c(labels[["make"]],
                if (is.null(mk)) "not run" else if (mk$status == "ok") "ok" else paste("error:", mk$message),
                if (!is.null(mk$seconds)) sprintf("%.1f", mk$seconds) else "—",
                if (!is.null(mk$length)) sprintf("length %s (long vector: %s)", format(mk$length, big.mark = ",", scientific = FALSE), mk$is_long) else "")
for (s in steps_all) {
  r <- results[[s]]
  if (!fits[[s]]) {
    rows[[length(rows) + 1L]] <- c(labels[[s]], "**not run: not enough memory**", "—",
      sprintf("needs about %.1f GB (code column %.1f GB%s + %.1f GB for R), %.1f GB available",
              gb(col_bytes + need[[s]] + margin), gb(col_bytes),
              if (need[[s]] > 0) sprintf(" + weights %.1f GB", gb(need[[s]])) else "", gb(margin), gb(avail)))
    next
  }
  if (is.null(r)) {
    why <- if (s == "listframe" && !is.null(results$dataframe) && results$dataframe$status == "ok")
      "not needed: data.frame() worked" else "not reached"
    rows[[length(rows) + 1L]] <- c(labels[[s]], why, "—", "")
    next
  }
  outcome <- switch(r$status, ok = "ok", error = paste0("R error: `", gsub("`", "'", r$message), "`"),
                    died = paste0("**process died**: ", r$message), r$status)
  rows[[length(rows) + 1L]] <- c(labels[[s]], outcome,
                                 if (!is.null(r$seconds)) sprintf("%.1f", r$seconds) else "—",
                                 paste0(if (r$status == "ok") check_counts(s, r$value) else "",
                                        if (!is.null(r$max_threads)) sprintf(" (threads setting %d)", r$max_threads) else ""))
}
tbl <- rows_df(rows, c("step", "outcome", "seconds", "result"))
lines <- c("## longvec: a code column longer than 2^31 - 1 rows", "",
           sprintf("%s n = %s rows (%s), one integer factor column with levels a, b, c (rep_len(1:3, n)), no weights; memory available at the start %.1f GB of %s. Each step runs in one child R process under ulimit -v %.1f GB, so that what does not fit is an R error, not the OOM killer. Expected counts (closed form): %s.",
                   run_line(), format(n, big.mark = ",", scientific = FALSE),
                   if (n > 2^31 - 1) sprintf("2^31 - 1 + %s", format(n - (2^31 - 1), big.mark = ",", scientific = FALSE)) else "NOT a long vector",
                   gb(avail), sprintf("%.1f GB", gb(as.numeric(gsub("[^0-9]", "", grep("^MemTotal:", readLines("/proc/meminfo"), value = TRUE))) * 1024)),
                   gb(vmem), paste(format(expected, big.mark = ",", scientific = FALSE), collapse = " / ")), "",
           md_table(tbl), "")
if (length(results) && attr(results, "status") != 0L)
  lines <- c(lines, sprintf("The child R process ended with status %d; its last output: `%s`", attr(results, "status"),
                            gsub("`", "'", paste(tail(attr(results, "output"), 5L), collapse = " / "))), "")
bench_write(lines)
