# A PostgreSQL server for the test run (issue 18): started on first use by
# pg_test_con(), on a free local port with its socket directory in a
# temporary directory, and stopped when the test run ends (testthat's
# teardown environment, and a finalizer at exit as a fallback), so that no
# server outlives the run. Only missing server binaries (or a missing
# RPostgreSQL) skip the PostgreSQL tests, with a message saying so.
#
# Run as root (as in CI containers), initdb refuses to run: the cluster then
# belongs to the system user "postgres" (runuser), in a directory under /tmp
# that it owns. Otherwise the current user runs it, in tempdir().
#
# Environment: UMFRAGE_PG_BIN, the directory of initdb/pg_ctl (default: the
# newest /usr/lib/postgresql/<version>/bin, else pg_config --bindir, else
# the PATH).

pg_state <- new.env(parent = emptyenv())

pg_bindir <- function() {
  env <- Sys.getenv("UMFRAGE_PG_BIN")
  cands <- c(if (nzchar(env)) env,
             rev(sort(Sys.glob("/usr/lib/postgresql/*/bin"))),
             tryCatch(suppressWarnings(system2("pg_config", "--bindir", stdout = TRUE,
                                               stderr = FALSE)), error = function(e) character()),
             dirname(Sys.which("initdb")))
  for (d in cands[nzchar(cands)])
    if (file.exists(file.path(d, "initdb")) && file.exists(file.path(d, "pg_ctl"))) return(d)
  ""
}

pg_is_root <- function() {
  identical(.Platform$OS.type, "unix") &&
    identical(tryCatch(system2("id", "-u", stdout = TRUE), error = function(e) ""), "0")
}

# Run a server binary, as user postgres when we are root; returns its exit
# status (output in the log file).
pg_run <- function(bin, args, log) {
  if (isTRUE(pg_state$root)) {
    system2("runuser", c("-u", "postgres", "--", shQuote(bin), args), stdout = log, stderr = log)
  } else {
    system2(bin, args, stdout = log, stderr = log)
  }
}

pg_free_port <- function() {
  for (k in 1:50) {
    port <- sample(20000:60000, 1L)
    s <- tryCatch(serverSocket(port), error = function(e) NULL)
    if (!is.null(s)) {
      close(s)
      return(port)
    }
  }
  stop("no free local port found for the PostgreSQL test server")
}

pg_stop <- function() {
  if (!isTRUE(pg_state$running)) return(invisible())
  pg_state$running <- FALSE
  if (!is.null(pg_state$con)) try(DBI::dbDisconnect(pg_state$con), silent = TRUE)
  pg_state$con <- NULL
  pg_run(file.path(pg_state$bin, "pg_ctl"),
         c("-D", shQuote(pg_state$data), "-m", "immediate", "-w", "stop"), pg_state$log)
  unlink(pg_state$dir, recursive = TRUE, force = TRUE)
  invisible()
}

# Start the server (once per test run); returns NULL after a skip reason in
# pg_state$skip.
pg_start <- function() {
  if (isTRUE(pg_state$running)) return(TRUE)
  if (!is.null(pg_state$skip)) return(FALSE)
  # never on CRAN's machines (R CMD check without NOT_CRAN); tools/run-tests.R
  # (make test, CI) sets NOT_CRAN=true
  if (!identical(Sys.getenv("NOT_CRAN"), "true")) {
    pg_state$skip <- "PostgreSQL test server not started on CRAN (set NOT_CRAN=true)"
    return(FALSE)
  }
  bin <- pg_bindir()
  if (!nzchar(bin)) {
    pg_state$skip <- "PostgreSQL server binaries (initdb, pg_ctl) not found; set UMFRAGE_PG_BIN"
    return(FALSE)
  }
  if (!requireNamespace("RPostgreSQL", quietly = TRUE) || !requireNamespace("DBI", quietly = TRUE)) {
    pg_state$skip <- "RPostgreSQL not installed"
    return(FALSE)
  }
  root <- pg_is_root()
  pg_state$root <- root
  pg_state$bin <- bin
  # as root the server runs as 'postgres', which cannot enter R's private
  # tempdir(): its directory is then under /tmp, owned by it
  dir <- tempfile("umfrage-pg-", tmpdir = if (root) "/tmp" else tempdir())
  dir.create(dir, mode = "0700")
  pg_state$dir <- dir
  pg_state$data <- file.path(dir, "data")
  pg_state$sock <- file.path(dir, "sock")
  dir.create(pg_state$sock)
  pg_state$log <- file.path(dir, "log.txt")
  file.create(pg_state$log)
  if (root) system2("chown", c("-R", "postgres", shQuote(dir)))
  st <- pg_run(file.path(bin, "initdb"),
               c("-D", shQuote(pg_state$data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                 "--no-locale"), pg_state$log)
  if (st != 0) stop("initdb failed: ", paste(readLines(pg_state$log), collapse = "\n"))
  for (attempt in 1:3) {
    port <- pg_free_port()
    opts <- sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, pg_state$sock)
    st <- pg_run(file.path(bin, "pg_ctl"),
                 c("-D", shQuote(pg_state$data), "-o", shQuote(opts), "-w", "-t", "60",
                   "-l", shQuote(file.path(dir, "server.log")), "start"), pg_state$log)
    if (st == 0) break
  }
  if (st != 0) {
    srv <- file.path(dir, "server.log")
    stop("PostgreSQL test server did not start: ",
         paste(c(readLines(pg_state$log), if (file.exists(srv)) readLines(srv)), collapse = "\n"))
  }
  pg_state$port <- port
  pg_state$running <- TRUE
  # stopped at the end of the test run, or at the latest when R exits
  if (is.null(pg_state$finalizer)) {
    pg_state$finalizer <- TRUE
    reg.finalizer(pg_state, function(e) pg_stop(), onexit = TRUE)
  }
  try(withr::defer(pg_stop(), envir = testthat::teardown_env()), silent = TRUE)
  con0 <- DBI::dbConnect(RPostgreSQL::PostgreSQL(), host = pg_state$sock, port = port,
                         user = "postgres", dbname = "postgres")
  DBI::dbExecute(con0, "CREATE DATABASE umfrage_test")
  DBI::dbDisconnect(con0)
  TRUE
}

# The connection to the test database (skips when no server can run here).
pg_test_con <- function() {
  if (!pg_start()) testthat::skip(paste("skipped:", pg_state$skip))
  if (is.null(pg_state$con) || !isTRUE(tryCatch(DBI::dbIsValid(pg_state$con), error = function(e) FALSE)))
    pg_state$con <- DBI::dbConnect(RPostgreSQL::PostgreSQL(), host = pg_state$sock,
                                   port = pg_state$port, user = "postgres",
                                   dbname = "umfrage_test")
  pg_state$con
}
