# Run the testthat suite against the INSTALLED package and finish with one
# summary line, which is always the very last line of output:
#
#   N passed, N failed[, N skipped]
#
# "failed" counts failed expectations plus tests that stopped with an error;
# ", N skipped" (number of skipped tests) is only shown when N > 0.
# Exit status: 0 if nothing failed and at least one expectation ran, else 1.
#
# Environment (mostly for testing this script):
#   UMFRAGE_PKG      package name        (default "umfrage")
#   UMFRAGE_TESTDIR  test directory      (default "tests/testthat")
#   UMFRAGE_TEST_FILTER  regular expression: run only the matching test
#                    files (as testthat's `filter`; e.g. make valgrind)

options(warn = 1)  # print warnings as they happen, never after the summary
# This runner is the developers' and CI's, never CRAN's: run the tests that
# testthat::skip_on_cran() keeps off CRAN (as devtools::test() does).
if (!nzchar(Sys.getenv("NOT_CRAN"))) Sys.setenv(NOT_CRAN = "true")

pkg <- Sys.getenv("UMFRAGE_PKG", "umfrage")
test_dir <- Sys.getenv("UMFRAGE_TESTDIR", "tests/testthat")
test_filter <- Sys.getenv("UMFRAGE_TEST_FILTER")

finish <- function(passed, failed, skipped = 0L) {
  line <- sprintf("%d passed, %d failed", as.integer(passed), as.integer(failed))
  if (skipped > 0L) line <- sprintf("%s, %d skipped", line, as.integer(skipped))
  status <- if (failed > 0L || passed + failed == 0L) 1L else 0L
  flush(stderr())
  cat("\n", line, "\n", sep = "")
  flush(stdout())
  quit(save = "no", status = status, runLast = FALSE)
}

# Progress per test file plus details of every failure. On a live terminal,
# testthat's spinner line per file; otherwise (CI logs, `make test | cat`)
# one line per file when it is done, and nothing in between.
dynamic <- isTRUE(tryCatch(cli::is_dynamic_tty(), error = function(e) FALSE))
reporter_class <- if (dynamic) testthat::ProgressReporter else R6::R6Class(
  "FileLineReporter", inherit = testthat::ProgressReporter,
  public = list(
    show_status = function(complete = FALSE, ...) {
      if (complete) super$show_status(complete = TRUE, ...)
    },
    cr = function() ""   # no line feed before a line: one line per file
  ))
reporter <- reporter_class$new(
  show_praise = FALSE,
  max_failures = 1e6,  # never abort the run early
  update_interval = 0.1
)

results <- tryCatch(
  {
    if (!dir.exists(test_dir)) stop("test directory not found: ", test_dir)
    testthat::test_dir(
      test_dir,
      filter = if (nzchar(test_filter)) test_filter else NULL,
      package = pkg,
      load_package = "installed",
      reporter = reporter,
      stop_on_failure = FALSE,
      stop_on_warning = FALSE
    )
  },
  error = function(e) {
    cat("run-tests: error while running the tests: ", conditionMessage(e),
        "\n", sep = "", file = stderr())
    NULL
  }
)

if (is.null(results)) finish(0L, 1L)

df <- tryCatch(as.data.frame(results), error = function(e) NULL)
if (is.null(df)) {
  cat("run-tests: could not read the test results\n", file = stderr())
  finish(0L, 1L)
}

# Columns of as.data.frame(<testthat_results>) in testthat 3.x:
#   file, context, test, nb, failed, skipped (logical), error (logical),
#   warning, user, system, real, passed, result
n_passed  <- sum(as.integer(df$passed), na.rm = TRUE)
n_failed  <- sum(as.integer(df$failed), na.rm = TRUE) +
             sum(as.logical(df$error), na.rm = TRUE)
n_skipped <- sum(as.logical(df$skipped), na.rm = TRUE)

if (nrow(df) == 0L || n_passed + n_failed == 0L) {
  cat("run-tests: no tests were run\n", file = stderr())
}

finish(n_passed, n_failed, n_skipped)
