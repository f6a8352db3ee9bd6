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
