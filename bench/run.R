# Run umfrage's benchmarks and assemble bench/RESULTS.md.
#
#   Rscript bench/run.R            # every bench/*.R except this file
#   Rscript bench/run.R rake       # only bench/rake.R (names without .R)
#
# Each benchmark script writes its own markdown section to
# bench/results/<name>.md (with its own date line). This script then writes
# bench/RESULTS.md: a header describing the machine and this run, followed by
# every bench/results/*.md in alphabetical order, so sections of benchmarks
# that were not re-run this time are kept as they were.
#
# The benchmarks run against the INSTALLED umfrage (R CMD INSTALL . first).
# Peer packages they compare against are installed here when missing
# (Debian's r-cran-<name> when root with apt-get, else install.packages()
# from the repositories configured on the machine); the package itself never
# installs anything.

options(warn = 1, width = 120)

source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"))

peer_pkgs <- c("survey", "data.table", "collapse", "anesrake", "profmem")

if (!is_installed("umfrage"))
  stop("umfrage is not installed: run R CMD INSTALL . in the repository first",
       call. = FALSE)
still_missing <- bench_install(peer_pkgs)

# ---- which benchmarks -------------------------------------------------------

all_scripts <- sort(setdiff(list.files(bench_dir, pattern = "\\.R$"), "run.R"))
all_names <- sub("\\.R$", "", all_scripts)
args <- sub("\\.R$", "", commandArgs(trailingOnly = TRUE))
if (length(args)) {
  unknown <- setdiff(args, all_names)
  if (length(unknown))
    stop("unknown benchmark(s): ", paste(unknown, collapse = ", "),
         " (available: ", paste(all_names, collapse = ", "), ")", call. = FALSE)
  run_names <- all_names[all_names %in% args]
} else {
  run_names <- all_names
}

# ---- run --------------------------------------------------------------------

run_started <- Sys.time()
failed <- character()
for (nm in run_names) {
  f <- file.path(bench_dir, paste0(nm, ".R"))
  say("running ", nm, ".R")
  t0 <- Sys.time()
  env <- new.env(parent = globalenv())
  ok <- tryCatch({
    sys.source(f, envir = env, keep.source = FALSE)
    TRUE
  }, error = function(e) {
    say("ERROR in ", nm, ".R: ", conditionMessage(e))
    # Leave a visible trace instead of silently keeping an old section.
    writeLines(c(sprintf("## %s", nm), "",
                 sprintf("Run %s: **FAILED** with error: `%s`",
                         format(Sys.time(), "%Y-%m-%d %H:%M %Z"),
                         gsub("`", "'", conditionMessage(e))), ""),
               file.path(results_dir, paste0(nm, ".md")))
    FALSE
  })
  if (!ok) failed <- c(failed, nm)
  say(sprintf("%s.R done in %.1f s", nm,
              as.numeric(difftime(Sys.time(), t0, units = "secs"))))
}
run_secs <- as.numeric(difftime(Sys.time(), run_started, units = "secs"))

# ---- assemble RESULTS.md ----------------------------------------------------

cpu_model <- local({
  x <- tryCatch(readLines("/proc/cpuinfo"), error = function(e) character())
  m <- grep("^model name", x, value = TRUE)
  if (length(m)) trimws(sub("^[^:]*:", "", m[1L])) else "unknown"
})
ram <- local({
  x <- tryCatch(readLines("/proc/meminfo"), error = function(e) character())
  m <- grep("^MemTotal:", x, value = TRUE)
  if (length(m)) sprintf("%.1f GiB", as.numeric(gsub("[^0-9]", "", m)) / 1024^2)
  else "unknown"
})
umf_ver <- as.character(utils::packageVersion("umfrage"))
git_rev <- local({
  top <- dirname(bench_dir)
  h <- tryCatch(suppressWarnings(system2("git", c("-C", shQuote(top), "rev-parse", "--short", "HEAD"),
                                         stdout = TRUE, stderr = FALSE)),
                error = function(e) character())
  if (!length(h) || !nzchar(h[1L])) return("unknown")
  st <- tryCatch(suppressWarnings(system2("git", c("-C", shQuote(top), "status", "--porcelain",
                                               "--untracked-files=no", "--", "R", "src", "DESCRIPTION", "NAMESPACE"),
                                          stdout = TRUE, stderr = FALSE)),
                 error = function(e) character())
  paste0(h[1L], if (length(st)) " + uncommitted changes in R/ or src/" else "")
})
openmp <- tryCatch({
  info <- .Call(get("C_threads_max", envir = asNamespace("umfrage")))
  sprintf("%s (up to %d threads)", if (info[2L] == 1L) "on" else "off", info[1L])
}, error = function(e) "unknown")

# Speed of each CPU alone: a fixed loop (tabulate() of 1e6 codes into 1,920
# cells) pinned with taskset to one CPU at a time, in a fresh R process. On
# virtual machines the CPUs need not be equally fast.
cpu_speed <- local({
  ncpu <- parallel::detectCores()
  if (!nzchar(Sys.which("taskset")) || is.na(ncpu) || ncpu < 1L || ncpu > 16L) return(NULL)
  rscript <- file.path(R.home("bin"), "Rscript")
  code <- paste0("set.seed(1); x <- sample.int(1920L, 1e6, TRUE); ",
                 "t <- replicate(11, system.time(for (i in 1:20) tabulate(x, 1920L))[['elapsed']]); ",
                 "cat(1000 * median(t) / 20)")
  ms <- vapply(seq_len(ncpu) - 1L, function(i) {
    out <- tryCatch(suppressWarnings(system2("taskset", c("-c", i, rscript, "-e", shQuote(code)),
                                             stdout = TRUE, stderr = FALSE)),
                    error = function(e) character())
    v <- suppressWarnings(as.numeric(tail(out, 1L)))
    if (length(v) == 1L) v else NA_real_
  }, numeric(1))
  if (all(is.na(ms))) return(NULL)
  sprintf("- per-CPU speed check (tabulate() of 1e6 codes, pinned with taskset, median of 11): %s ms",
          paste(sprintf("cpu%d %.2f", seq_along(ms) - 1L, ms), collapse = ", "))
})

header <- c(
  "# umfrage benchmarks",
  "",
  "Generated by `Rscript bench/run.R` from the sections in `bench/results/`.",
  "Each section carries the date of its own run; sections of benchmarks not",
  "re-run last time are kept as they were.",
  "",
  "Machine and last run:",
  "",
  sprintf("- CPU: %s; cores (parallel::detectCores()): %s; RAM: %s",
          cpu_model, parallel::detectCores(), ram),
  cpu_speed,
  sprintf("- %s on %s", R.version.string, R.version$platform),
  sprintf("- umfrage %s (installed build md5 %s; work tree %s); OpenMP %s",
          umf_ver, umf_build(), git_rev, openmp),
  sprintf("- last run: %s, benchmarks: %s, %.1f min%s",
          format(run_started, "%Y-%m-%d %H:%M %Z"),
          paste(run_names, collapse = ", "), run_secs / 60,
          if (length(failed)) sprintf(" (FAILED: %s)", paste(failed, collapse = ", ")) else ""),
  if (length(still_missing))
    sprintf("- peer packages that could not be installed: %s",
            paste(still_missing, collapse = ", ")),
  ""
)

sections <- sort(list.files(results_dir, pattern = "\\.md$", full.names = TRUE))
body <- unlist(lapply(sections, function(f) c(readLines(f, warn = FALSE), "")))
writeLines(c(header, body), file.path(bench_dir, "RESULTS.md"))
say("wrote ", file.path(bench_dir, "RESULTS.md"), sprintf(" (%d section(s))", length(sections)))
if (length(failed)) quit(save = "no", status = 1)
