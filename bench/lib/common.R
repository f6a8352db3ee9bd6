# Shared helpers of the benchmark scripts (sourced by bench/*.R; not a
# benchmark itself, so bench/run.R does not run it).

if (!exists("bench_dir", inherits = FALSE)) {
  bench_dir <- local({
    f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
    if (length(f)) dirname(normalizePath(sub("^--file=", "", f[1L]))) else "bench"
  })
}
if (!exists("results_dir", inherits = FALSE)) results_dir <- file.path(bench_dir, "results")
dir.create(results_dir, showWarnings = FALSE, recursive = TRUE)

# Peers are installed here when missing (run.R passes its installer; alone,
# the same steps in short). The umfrage package itself never installs them.
if (!exists("bench_install", inherits = FALSE)) {
  bench_install <- function(pkgs) {
    have <- function(p) isTRUE(suppressWarnings(requireNamespace(p, quietly = TRUE)))
    miss <- pkgs[!vapply(pkgs, have, logical(1))]
    if (length(miss) && identical(unname(Sys.info()[["effective_user"]]), "root") &&
        nzchar(Sys.which("apt-get"))) {
      system2("apt-get", c("update", "-qq"), stdout = FALSE, stderr = FALSE)
      for (p in miss)
        system2("apt-get", c("install", "-y", "-qq", "--no-install-recommends",
                             paste0("r-cran-", tolower(p))), stdout = FALSE, stderr = FALSE)
      miss <- miss[!vapply(miss, have, logical(1))]
    }
    if (length(miss)) utils::install.packages(miss, quiet = TRUE)
    miss[!vapply(miss, have, logical(1))]
  }
}

loadavg <- function() tryCatch(paste(strsplit(readLines("/proc/loadavg"), " ")[[1L]][1:3], collapse = " "),
                               error = function(e) "unknown")
load_start <- loadavg()
# Busy CPU seconds of the whole machine, to tell how much other processes ran
# alongside the benchmark (/proc/stat counts in clock ticks, usually 100/s).
machine_busy <- function() tryCatch({
  x <- as.numeric(strsplit(trimws(readLines("/proc/stat", n = 1L)), " +")[[1L]][-1L])
  (sum(x[1:8]) - x[4L] - x[5L]) / 100
}, error = function(e) NA_real_)
own_cpu <- function() { p <- proc.time(); sum(p[c("user.self", "sys.self", "user.child", "sys.child")], na.rm = TRUE) }

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
