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

# One environment per server: pg_state the main one (pg_test_con()), and a
# second one for the sharded set-up (pg_shard_servers() in
# test-db-sharded.R), started the same way, on its own port and directory.
pg_state <- new.env(parent = emptyenv())
pg_state$name <- "main"
pg_state2 <- new.env(parent = emptyenv())
pg_state2$name <- "shard"

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
# The server never inherits a sanitizer runtime: under `make sanitize` R runs
# with LD_PRELOAD=libasan, and a postgres started with it hangs (seen at
# `postgres -V` inside initdb), so the preload and the sanitizer options are
# removed from the server's environment (env -u).
pg_run <- function(bin, args, log, st = pg_state) {
  clean <- c("-u", "LD_PRELOAD", "-u", "ASAN_OPTIONS", "-u", "UBSAN_OPTIONS", "-u", "LSAN_OPTIONS")
  if (isTRUE(st$root)) {
    system2("env", c(clean, "runuser", "-u", "postgres", "--", shQuote(bin), args),
            stdout = log, stderr = log)
  } else {
    system2("env", c(clean, shQuote(bin), args), stdout = log, stderr = log)
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

# Stop a server (and its connections) and remove its directory.
pg_stop <- function(S = pg_state) {
  if (!isTRUE(S$running)) return(invisible())
  S$running <- FALSE
  for (nm in c("con", "cons")) {
    for (con in c(if (nm == "con") list(S$con) else S$cons))
      if (!is.null(con)) try(DBI::dbDisconnect(con), silent = TRUE)
  }
  S$con <- NULL
  S$cons <- list()
  pg_run(file.path(S$bin, "pg_ctl"),
         c("-D", shQuote(S$data), "-m", "immediate", "-w", "stop"), S$log, S)
  unlink(S$dir, recursive = TRUE, force = TRUE)
  invisible()
}

# Every server of the test run, the second (sharded) one first.
pg_stop_all <- function() {
  pg_stop(pg_state2)
  pg_stop(pg_state)
}

# Start a server (once per test run) with a database `dbname`; FALSE after a
# skip reason in S$skip. pg_start() is the main server (pg_test_con()),
# pg_start(pg_state2) the second one of the sharded set-up.
pg_start <- function(S = pg_state, dbname = "umfrage_test") {
  if (isTRUE(S$running)) return(TRUE)
  if (!is.null(S$skip)) return(FALSE)
  # never on CRAN's machines (R CMD check without NOT_CRAN); tools/run-tests.R
  # (make test, CI) sets NOT_CRAN=true
  if (!identical(Sys.getenv("NOT_CRAN"), "true")) {
    S$skip <- "PostgreSQL test server not started on CRAN (set NOT_CRAN=true)"
    return(FALSE)
  }
  bin <- pg_bindir()
  if (!nzchar(bin)) {
    S$skip <- "PostgreSQL server binaries (initdb, pg_ctl) not found; set UMFRAGE_PG_BIN"
    return(FALSE)
  }
  if (!requireNamespace("RPostgreSQL", quietly = TRUE) || !requireNamespace("DBI", quietly = TRUE)) {
    S$skip <- "RPostgreSQL not installed"
    return(FALSE)
  }
  root <- pg_is_root()
  S$root <- root
  S$bin <- bin
  S$cons <- list()
  # as root the server runs as 'postgres', which cannot enter R's private
  # tempdir(): its directory is then under /tmp, owned by it
  dir <- tempfile(sprintf("umfrage-pg-%s-", S$name), tmpdir = if (root) "/tmp" else tempdir())
  dir.create(dir, mode = "0700")
  S$dir <- dir
  S$data <- file.path(dir, "data")
  S$sock <- file.path(dir, "sock")
  dir.create(S$sock)
  S$log <- file.path(dir, "log.txt")
  file.create(S$log)
  if (root) system2("chown", c("-R", "postgres", shQuote(dir)))
  rc <- pg_run(file.path(bin, "initdb"),
               c("-D", shQuote(S$data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                 "--no-locale"), S$log, S)
  if (rc != 0) stop("initdb failed: ", paste(readLines(S$log), collapse = "\n"))
  for (attempt in 1:3) {
    port <- pg_free_port()
    opts <- sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, S$sock)
    rc <- pg_run(file.path(bin, "pg_ctl"),
                 c("-D", shQuote(S$data), "-o", shQuote(opts), "-w", "-t", "60",
                   "-l", shQuote(file.path(dir, "server.log")), "start"), S$log, S)
    if (rc == 0) break
  }
  if (rc != 0) {
    srv <- file.path(dir, "server.log")
    unlink(dir, recursive = TRUE, force = TRUE)
    stop("PostgreSQL test server did not start: ",
         paste(c(readLines(S$log), if (file.exists(srv)) readLines(srv)), collapse = "\n"))
  }
  S$port <- port
  S$running <- TRUE
  # stopped at the end of the test run, or at the latest when R exits
  if (is.null(S$finalizer)) {
    S$finalizer <- TRUE
    reg.finalizer(S, function(e) pg_stop(e), onexit = TRUE)
  }
  try(withr::defer(pg_stop(S), envir = testthat::teardown_env()), silent = TRUE)
  con0 <- pg_connect(S, "postgres")
  DBI::dbExecute(con0, sprintf("CREATE DATABASE %s", dbname))
  DBI::dbDisconnect(con0)
  S$dbname <- dbname
  TRUE
}

# A new connection to a database of a running server (closed by pg_stop()
# when kept in S$cons).
pg_connect <- function(S, dbname = S$dbname, keep = FALSE) {
  con <- DBI::dbConnect(RPostgreSQL::PostgreSQL(), host = S$sock, port = S$port,
                        user = "postgres", dbname = dbname)
  # the server's NOTICEs ("table ... does not exist, skipping") are noise in
  # the test log
  DBI::dbExecute(con, "SET client_min_messages TO WARNING")
  if (keep) S$cons <- c(S$cons, list(con))
  con
}

# The connection to the test database (skips when no server can run here).
pg_test_con <- function() {
  if (!pg_start()) testthat::skip(paste("skipped:", pg_state$skip))
  if (is.null(pg_state$con) || !isTRUE(tryCatch(DBI::dbIsValid(pg_state$con), error = function(e) FALSE)))
    pg_state$con <- pg_connect(pg_state)
  pg_state$con
}
