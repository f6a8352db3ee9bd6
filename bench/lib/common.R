# Shared helpers of the benchmark scripts (sourced by bench/*.R; not a
# benchmark itself, so bench/run.R does not run it).
#
# A benchmark starts with the one line that finds this file (next to the
# script, also when bench/run.R sources the script) and one call:
#
#   source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"), local = TRUE)
#   bench_start("rake", peers = c("survey", "anesrake", "profmem"))
#
# Sourcing starts the clock (bench_t0, load average, CPU counters);
# bench_start() names the benchmark for say() and bench_write(), installs
# missing peers and attaches umfrage. At the end, run_line() gives the
# section's "Run ..." sentence and bench_write() writes the section to
# bench/results/<name>.md.

options(warn = 1)

bench_dir <- normalizePath(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE),
                                                        "bench/.")[1L])))
results_dir <- file.path(bench_dir, "results")
dir.create(results_dir, showWarnings = FALSE, recursive = TRUE)

# ---- the machine and the clock -----------------------------------------------

loadavg <- function() tryCatch(paste(strsplit(readLines("/proc/loadavg"), " ")[[1L]][1:3], collapse = " "),
                               error = function(e) "unknown")
# Busy CPU seconds of the whole machine, to tell how much other processes ran
# alongside the benchmark (/proc/stat counts in clock ticks, usually 100/s).
machine_busy <- function() tryCatch({
  x <- as.numeric(strsplit(trimws(readLines("/proc/stat", n = 1L)), " +")[[1L]][-1L])
  (sum(x[1:8]) - x[4L] - x[5L]) / 100
}, error = function(e) NA_real_)
own_cpu <- function() { p <- proc.time(); sum(p[c("user.self", "sys.self", "user.child", "sys.child")], na.rm = TRUE) }

# Memory available to new processes (bytes; NA where /proc/meminfo is not there).
mem_available <- function() {
  x <- tryCatch(readLines("/proc/meminfo"), error = function(e) character())
  m <- grep("^MemAvailable:", x, value = TRUE)
  if (length(m)) as.numeric(gsub("[^0-9]", "", m)) * 1024 else NA_real_
}

bench_t0 <- Sys.time()
load_start <- loadavg()
busy_start <- machine_busy()
own_start <- own_cpu()
elapsed_min <- function() as.numeric(difftime(Sys.time(), bench_t0, units = "mins"))
# CPU seconds other processes used since the start (never negative).
others_cpu <- function() max(0, (machine_busy() - busy_start) - (own_cpu() - own_start), na.rm = TRUE)

bench_name <- "bench"
say <- function(...) { cat(bench_name, ": ", ..., "\n", sep = ""); flush(stdout()) }

# ---- peers --------------------------------------------------------------------

is_installed <- function(p) {
  isTRUE(suppressWarnings(suppressMessages(requireNamespace(p, quietly = TRUE))))
}

# Install missing R packages: Debian first when root (r-cran-<name>), then
# CRAN through the configured repositories, into the first writable library
# (the user library when the site library is not writable). Returns the
# ones still missing. The umfrage package itself never installs anything.
bench_install <- function(pkgs) {
  miss <- pkgs[!vapply(pkgs, is_installed, logical(1))]
  if (!length(miss)) return(character())
  root <- identical(unname(Sys.info()[["effective_user"]]), "root")
  if (root && nzchar(Sys.which("apt-get")) && nzchar(Sys.which("apt-cache"))) {
    Sys.setenv(DEBIAN_FRONTEND = "noninteractive")
    say("apt-get update")
    system2("apt-get", c("update", "-qq"), stdout = FALSE, stderr = FALSE)
    debs <- paste0("r-cran-", tolower(miss))
    avail <- vapply(debs, function(d) {
      out <- suppressWarnings(system2("apt-cache", c("policy", d), stdout = TRUE, stderr = FALSE))
      cand <- grep("^\\s*Candidate:", out, value = TRUE)
      length(cand) > 0L && !grepl("(none)", cand[1L], fixed = TRUE)
    }, logical(1))
    for (d in debs[avail]) {
      say("installing ", d, " via apt-get")
      system2("apt-get", c("install", "-y", "-qq", "--no-install-recommends", d),
              stdout = FALSE, stderr = FALSE)
    }
    miss <- miss[!vapply(miss, is_installed, logical(1))]
  }
  if (length(miss)) {
    repos <- getOption("repos")
    if (is.null(repos) || !length(repos) || any(repos == "@CRAN@")) {
      say("no CRAN repository configured; cannot install ", paste(miss, collapse = ", "))
    } else {
      lib <- .libPaths()[1L]
      if (file.access(lib, 2L) != 0L) {
        lib <- path.expand(Sys.getenv("R_LIBS_USER"))
        dir.create(lib, recursive = TRUE, showWarnings = FALSE)
        .libPaths(c(lib, .libPaths()))
      }
      say("installing ", paste(miss, collapse = ", "), " from CRAN")
      tryCatch(utils::install.packages(miss, lib = lib, quiet = TRUE,
                                       Ncpus = max(1L, min(2L, parallel::detectCores(), na.rm = TRUE))),
               error = function(e) say("install.packages failed: ", conditionMessage(e)))
      miss <- miss[!vapply(miss, is_installed, logical(1))]
    }
  }
  if (length(miss)) say("still missing: ", paste(miss, collapse = ", "))
  miss
}

# Name the benchmark (for say() and bench_write()), install the peers it
# compares against (stop when one is missing), attach umfrage and `attach`.
bench_start <- function(name, peers = character(), attach = character()) {
  bench_name <<- name
  miss <- bench_install(peers)
  if (length(miss))
    stop(name, " benchmark needs: ", paste(miss, collapse = ", "), call. = FALSE)
  suppressPackageStartupMessages(for (p in c("umfrage", attach)) library(p, character.only = TRUE))
  invisible(name)
}

# ---- sizes and threads --------------------------------------------------------

# The sizes to run: 'default', or UMFRAGE_BENCH_SIZES ("5000" or "1e4,1e5").
bench_sizes <- function(default) {
  env_sizes <- Sys.getenv("UMFRAGE_BENCH_SIZES")
  if (nzchar(env_sizes)) as.numeric(strsplit(env_sizes, "[ ,]+")[[1L]]) else default
}

# The thread counts to time: 1 and 2 where umfrage has OpenMP and the machine
# two cores, else 1.
bench_thread_set <- function() {
  threads_info <- .Call(get("C_threads_max", envir = asNamespace("umfrage")))
  if (threads_info[2L] == 1L && threads_info[1L] >= 2L) c(1L, 2L) else 1L
}

# ---- measuring ---------------------------------------------------------------

# One timed call: gc() first (as system.time does), wall clock from Sys.time()
# (microsecond resolution), system CPU time of the process from proc.time().
time_call <- function(f, gc_first = TRUE) {
  if (gc_first) gc(FALSE)
  p0 <- proc.time(); t0 <- Sys.time()
  f()
  t1 <- Sys.time(); p1 <- proc.time()
  c(ms = 1000 * as.numeric(difftime(t1, t0, units = "secs")),
    sys = 1000 * (p1[["sys.self"]] - p0[["sys.self"]]))
}

# Bytes allocated through R (allocVector, R_alloc) while evaluating f().
alloc_bytes <- function(f) {
  gc(FALSE)
  p <- profmem::profmem(f())
  sum(p$bytes, na.rm = TRUE)
}

# Evaluate f() collecting warnings (and printed output) instead of showing them.
quietly <- function(f) {
  warns <- character()
  out <- NULL
  printed <- utils::capture.output(
    out <- withCallingHandlers(f(), warning = function(w) {
      warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning")
    }))
  list(value = out, warnings = unique(warns), printed = printed)
}

# Time the calls 'fs' (a list of functions) round-robin over the thread
# counts: a warm-up of each at every count, then 'reps' rounds of each at
# every count, back on 1 thread at the end. Returns the first call's warm-up
# value and, per call, a reps x threads x (ms, sys) array of time_call().
time_threads <- function(fs, reps, thread_set) {
  value <- NULL
  for (th in thread_set) {
    umfrage_threads(th)
    value <- fs[[1L]]()
    for (f in fs[-1L]) f()
  }
  ut <- rep(list(array(NA_real_, c(reps, length(thread_set), 2L))), length(fs))
  for (r in seq_len(reps)) for (k in seq_along(thread_set)) {
    umfrage_threads(thread_set[k])
    for (j in seq_along(fs)) ut[[j]][r, k, ] <- time_call(fs[[j]])
  }
  umfrage_threads(1L)
  list(value = value, ut = ut)
}

# Largest relative difference of a from b where both are finite and b != 0
# (NA where there is none).
rel <- function(a, b) {
  ok <- is.finite(a) & is.finite(b) & b != 0
  if (!any(ok)) return(NA_real_)
  max(abs(a[ok] - b[ok]) / abs(b[ok]))
}

# ---- clustered banner data ------------------------------------------------------

# H strata of M PSUs (PSU ids unique across strata; every PSU used, the rest
# drawn with unequal probabilities) and a latent trait z = PSU effect (sd 0.6)
# + N(0, 1) per respondent: list(psu, st, z).
gen_clusters <- function(n, H, M) {
  np <- H * M
  psu <- c(seq_len(np), sample.int(np, n - np, TRUE, prob = stats::runif(np, 0.5, 1.5)))
  st <- (psu - 1L) %/% M + 1L
  z <- stats::rnorm(np, 0, 0.6)[psu] + stats::rnorm(n)
  list(psu = psu, st = st, z = z)
}

# A factor of k levels l01.. cutting b z + logistic noise (b in [-1, 1]) at
# unequal shares.
ordinal_of <- function(z, k) {
  n <- length(z)
  y <- stats::runif(1L, -1, 1) * z + stats::rlogis(n)
  pr <- stats::runif(k, 0.2, 1)
  br <- stats::quantile(y[seq_len(min(n, 1e5))], cumsum(pr / sum(pr))[-k], names = FALSE)
  structure(findInterval(y, br) + 1L, levels = sprintf("l%02d", seq_len(k)), class = "factor")
}

# The columns in 'out' as a data frame with the strata, PSUs and weights (a
# stratum factor times a lognormal) of g = gen_clusters(n, H, M).
clustered_df <- function(out, g, H) {
  n <- length(g$z)
  out$st <- g$st
  out$psu <- g$psu
  out$w <- stats::runif(H, 0.5, 2)[g$st] * exp(stats::rnorm(n, 0, 0.35))
  structure(out, class = "data.frame", row.names = c(NA_integer_, -as.integer(n)))
}

# ---- formatting --------------------------------------------------------------

fmt_ms <- function(x) {
  if (is.na(x)) return("—")
  if (x < 10) sprintf("%.2f", x) else if (x < 100) sprintf("%.1f", x) else
    formatC(x, format = "f", digits = 0, big.mark = ",")
}
fmt_ratio <- function(x) {
  if (is.na(x)) return("—")
  if (x < 10) sprintf("%.2f", x) else formatC(x, format = "f", digits = 0, big.mark = ",")
}
fmt_e <- function(x) if (is.na(x)) "—" else sprintf("%.1e", x)
fmt_mb <- function(b) if (is.na(b)) "—" else formatC(b / 1e6, format = "fg", digits = 3, big.mark = ",")
fmt_kb <- function(b) if (is.na(b)) "—" else formatC(b / 1e3, format = "f", digits = 1, big.mark = ",")
fmt_n <- function(n) formatC(n, format = "d", big.mark = ",")

md_table <- function(df) {
  esc <- function(x) gsub("|", "\\|", x, fixed = TRUE)
  c(paste0("| ", paste(names(df), collapse = " | "), " |"),
    paste0("|", paste(rep(" --- ", ncol(df)), collapse = "|"), "|"),
    apply(df, 1L, function(r) paste0("| ", paste(esc(r), collapse = " | "), " |")))
}

# A list of equally long character rows as a data frame with these names.
rows_df <- function(rows, names) {
  df <- as.data.frame(do.call(rbind, rows), stringsAsFactors = FALSE)
  names(df) <- names
  df
}

# ---- the section ----------------------------------------------------------------

# The first 8 hex digits of the installed umfrage's shared object.
umf_build <- function() {
  so <- file.path(system.file(package = "umfrage"), "libs", paste0("umfrage", .Platform$dynlib.ext))
  if (file.exists(so)) substr(unname(tools::md5sum(so)), 1L, 8L) else "unknown"
}

# The section's first sentence: when, with which versions (umfrage and the
# peers), which sizes, how long, and how busy the machine was.
run_line <- function(peers = character(), sizes = NULL) {
  vers <- vapply(peers, function(p) sprintf(", %s %s", p, utils::packageVersion(p)), "")
  sprintf("Run %s with umfrage %s (installed build md5 %s)%s;%s this section took %.1f min; load average %s at the start, %s at the end; other processes used about %.0f CPU-seconds meanwhile.",
          format(bench_t0, "%Y-%m-%d %H:%M %Z"), utils::packageVersion("umfrage"), umf_build(),
          paste(vers, collapse = ""),
          if (length(sizes)) sprintf(" sizes %s;", paste(vapply(sizes, fmt_n, ""), collapse = ", ")) else "",
          elapsed_min(), load_start, loadavg(), others_cpu())
}

# Write the section to bench/results/<name>.md.
bench_write <- function(lines) {
  f <- file.path(results_dir, paste0(bench_name, ".md"))
  writeLines(lines, f)
  say("wrote ", f, sprintf(" (%.1f min)", elapsed_min()))
}
