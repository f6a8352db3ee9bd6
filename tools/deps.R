# Install what a given task needs, on a fresh machine where only R (and
# testthat) is present.
#
#   Rscript tools/deps.R <profile> [<profile> ...]
#
# Profiles: test, report, bench, check (see `profiles` below).
#
# For each missing R package: when running as root with apt-get available,
# Debian's r-cran-<name> package is tried first; whatever is still missing is
# installed from CRAN with install.packages() using the repositories already
# configured on the machine (getOption("repos")). When not root, CRAN packages
# go into the user library (R_LIBS_USER). Exits non-zero if anything could not
# be installed. Prints nothing when everything is already present.

profiles <- list(
  # the database tests start a PostgreSQL server of their own (its
  # binaries come from Debian's postgresql package)
  test   = list(pkgs = c("survey", "haven", "dplyr", "tibble", "data.table", "ggplot2",
                         "flextable", "officer",
                         "openxlsx2", "readxl", "DBI", "RSQLite", "RPostgreSQL",
                         "dbplyr", "withr", "srvyr"),
                system = "postgresql"),
  report = list(pkgs = c("survey", "knitr", "rmarkdown", "openxlsx2"), system = "pandoc"),
  bench  = list(pkgs = c("survey", "data.table", "collapse", "anesrake"),
                system = character(), includes = "test"),
  # R CMD check --as-cran warns without qpdf; tidy (optional) enables its
  # HTML validation of the manual pages.
  check  = list(pkgs = c("survey", "knitr", "rmarkdown", "testthat", "haven", "tibble",
                         "dplyr", "data.table", "ggplot2", "flextable", "officer",
                         "openxlsx2", "readxl", "DBI", "RSQLite", "RPostgreSQL",
                         "dbplyr", "withr", "srvyr"),
                system = c("pandoc", "qpdf"), optional = "tidy")
)

say <- function(...) {
  cat("deps: ", ..., "\n", sep = "")
  flush(stdout())
}

die <- function(...) {
  cat("deps: ERROR: ", ..., "\n", sep = "", file = stderr())
  quit(save = "no", status = 1)
}

args <- commandArgs(trailingOnly = TRUE)
if (length(args) == 0L) {
  die("usage: Rscript tools/deps.R <profile>  (profiles: ",
      paste(names(profiles), collapse = ", "), ")")
}
unknown <- setdiff(args, names(profiles))
if (length(unknown)) {
  die("unknown profile(s): ", paste(unknown, collapse = ", "),
      " (known: ", paste(names(profiles), collapse = ", "), ")")
}

# Resolve profiles (including profiles they build on).
resolve <- function(p, seen = character()) {
  if (p %in% seen) {
    return(list(pkgs = character(), system = character(),
                optional = character()))
  }
  prof <- profiles[[p]]
  pkgs <- prof$pkgs
  sys <- prof$system
  opt <- as.character(prof$optional)
  for (inc in prof$includes) {
    r <- resolve(inc, c(seen, p))
    pkgs <- c(pkgs, r$pkgs)
    sys <- c(sys, r$system)
    opt <- c(opt, r$optional)
  }
  list(pkgs = unique(pkgs), system = unique(sys), optional = unique(opt))
}
need_pkgs <- character()
need_sys <- character()
want_sys <- character()  # optional programs: installed if possible
for (p in args) {
  r <- resolve(p)
  need_pkgs <- unique(c(need_pkgs, r$pkgs))
  need_sys <- unique(c(need_sys, r$system))
  want_sys <- unique(c(want_sys, r$optional))
}

# ---------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------

is_root <- local({
  uid <- tryCatch(suppressWarnings(system2("id", "-u", stdout = TRUE,
                                           stderr = FALSE)),
                  error = function(e) character())
  if (length(uid) == 1L && nzchar(uid)) {
    identical(trimws(uid), "0")
  } else {
    identical(unname(Sys.info()["effective_user"]), "root")
  }
})
has_apt <- nzchar(Sys.which("apt-get")) && nzchar(Sys.which("apt-cache"))
use_apt <- is_root && has_apt

if (!is_root) {
  user_lib <- path.expand(Sys.getenv("R_LIBS_USER"))
  if (!nzchar(user_lib)) {
    user_lib <- file.path(path.expand("~"), "R", "library")
  }
}

is_installed <- function(pkg) {
  isTRUE(suppressWarnings(suppressMessages(
    requireNamespace(pkg, quietly = TRUE))))
}

have_program <- function(prog) {
  # PostgreSQL's server programs live off the PATH, in
  # /usr/lib/postgresql/<version>/bin (Debian's postgresql package)
  if (prog == "postgresql")
    return(length(Sys.glob("/usr/lib/postgresql/*/bin/initdb")) > 0L ||
           nzchar(Sys.which("initdb")))
  if (nzchar(Sys.which(prog))) return(TRUE)
  # rmarkdown also finds a pandoc shipped with RStudio.
  if (prog == "pandoc") {
    rs <- Sys.getenv("RSTUDIO_PANDOC")
    if (nzchar(rs) && file.exists(file.path(rs, "pandoc"))) return(TRUE)
  }
  FALSE
}

run_quiet <- function(cmd, args) {
  # Run a command, capturing its output; show the output only on failure.
  out <- suppressWarnings(system2(cmd, args, stdout = TRUE, stderr = TRUE))
  status <- attr(out, "status")
  if (is.null(status)) status <- 0L
  if (status != 0L) {
    cat(tail(out, 30), sep = "\n", file = stderr())
  }
  status == 0L
}

# ---------------------------------------------------------------------------
# apt
# ---------------------------------------------------------------------------

apt_updated <- FALSE
apt_update <- function() {
  if (apt_updated) return(invisible(TRUE))
  say("running apt-get update")
  Sys.setenv(DEBIAN_FRONTEND = "noninteractive")
  ok <- run_quiet("apt-get", c("update", "-qq"))
  if (!ok) say("apt-get update failed; continuing with the package lists at hand")
  apt_updated <<- TRUE
  invisible(ok)
}

apt_available <- function(deb) {
  out <- suppressWarnings(system2("apt-cache", c("policy", deb),
                                  stdout = TRUE, stderr = FALSE))
  cand <- grep("^\\s*Candidate:", out, value = TRUE)
  length(cand) > 0L && !grepl("\\(none\\)", cand[1L])
}

apt_install <- function(debs) {
  if (!length(debs)) return(TRUE)
  Sys.setenv(DEBIAN_FRONTEND = "noninteractive")
  run_quiet("apt-get", c("install", "-y", "-qq", "--no-install-recommends",
                         debs))
}

deb_name <- function(pkg) paste0("r-cran-", tolower(pkg))

# Try to install R packages via Debian; returns nothing, callers re-check.
install_via_apt <- function(pkgs) {
  if (!use_apt || !length(pkgs)) return(invisible())
  apt_update()
  debs <- deb_name(pkgs)
  avail <- vapply(debs, apt_available, logical(1))
  if (!any(avail)) return(invisible())
  for (p in pkgs[avail]) say("installing ", p, " via apt")
  if (!apt_install(debs[avail]) && sum(avail) > 1L) {
    # One bad package should not stop the others: retry one by one.
    for (d in debs[avail]) apt_install(d)
  }
  invisible()
}

# ---------------------------------------------------------------------------
# CRAN
# ---------------------------------------------------------------------------

check_repos <- function() {
  repos <- getOption("repos")
  if (is.null(repos) || !length(repos) || all(!nzchar(repos)) ||
      any(repos == "@CRAN@")) {
    die("no CRAN repository is configured, so missing packages cannot be ",
        "installed. Set one, e.g. in ~/.Rprofile or the site Rprofile: ",
        "options(repos = c(CRAN = \"<your CRAN mirror>\"))")
  }
  repos
}

base_pkgs <- rownames(installed.packages(priority = "base"))

install_via_cran <- function(pkgs) {
  if (!length(pkgs)) return(invisible())
  check_repos()
  lib <- .libPaths()[1L]
  if (!is_root) {
    dir.create(user_lib, recursive = TRUE, showWarnings = FALSE)
    .libPaths(c(user_lib, .libPaths()))
    lib <- user_lib
  }
  # Let Debian provide as many of the (recursive, hard) dependencies as it
  # can, so that less has to be compiled from source.
  if (use_apt) {
    db <- tryCatch(utils::available.packages(), error = function(e) NULL)
    if (!is.null(db)) {
      deps <- tools::package_dependencies(
        pkgs, db = db, which = c("Depends", "Imports", "LinkingTo"),
        recursive = TRUE)
      deps <- setdiff(unique(unlist(deps, use.names = FALSE)),
                      c(base_pkgs, pkgs))
      deps <- deps[!vapply(deps, is_installed, logical(1))]
      install_via_apt(deps)
    }
  }
  for (p in pkgs) say("installing ", p, " from CRAN")
  ncpus <- max(1L, min(2L, parallel::detectCores(), na.rm = TRUE))
  tryCatch(
    utils::install.packages(pkgs, lib = lib, Ncpus = ncpus, quiet = TRUE),
    error = function(e) cat("deps: ", conditionMessage(e), "\n",
                            sep = "", file = stderr())
  )
  # A parallel install can lose a package whose CRAN dependencies were
  # installed in the same call (seen with srvyr, which pulls newer dplyr,
  # rlang, vctrs, ... than Debian has): retry what is missing one at a
  # time, with its output shown.
  for (p in pkgs[!vapply(pkgs, is_installed, logical(1))]) {
    say("retrying ", p, " from CRAN")
    tryCatch(utils::install.packages(p, lib = lib, Ncpus = 1L),
             error = function(e) cat("deps: ", conditionMessage(e), "\n",
                                     sep = "", file = stderr()))
  }
  invisible()
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

failed <- character()

# System programs first (pandoc, ...). The Debian package has the program's
# name for all of them (postgresql: the server, found by its initdb).
for (prog in c(need_sys, setdiff(want_sys, need_sys))) {
  if (have_program(prog)) next
  if (use_apt) {
    apt_update()
    if (apt_available(prog)) {
      say("installing ", prog, " via apt")
      apt_install(prog)
    }
  }
  if (!have_program(prog) && prog %in% need_sys) {
    cat("deps: ERROR: the program '", prog, "' is required but not found",
        if (!is_root) " (install it, e.g. with your system's package manager)"
        else "", "\n", sep = "", file = stderr())
    failed <- c(failed, prog)
  }
}

if (!is_root) {
  # Make an existing user library visible even if R did not pick it up.
  if (dir.exists(user_lib)) .libPaths(c(user_lib, .libPaths()))
}

missing <- need_pkgs[!vapply(need_pkgs, is_installed, logical(1))]
if (length(missing)) {
  install_via_apt(missing)
  missing <- missing[!vapply(missing, is_installed, logical(1))]
}
if (length(missing)) {
  install_via_cran(missing)
  missing <- missing[!vapply(missing, is_installed, logical(1))]
}
if (length(missing)) {
  cat("deps: ERROR: could not install R package(s): ",
      paste(missing, collapse = ", "), "\n", sep = "", file = stderr())
  failed <- c(failed, missing)
}

if (length(failed)) quit(save = "no", status = 1)
invisible()
