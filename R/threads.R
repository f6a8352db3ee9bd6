#' Number of threads used by umfrage's C code
#'
#' `umfrage_threads()` reads or sets the number of threads that the C
#' routines use for passes over rows. It is the only thread setting of the
#' package: it never calls `omp_set_num_threads()`, so R and other packages
#' are not affected.
#'
#' The default at load time is the option `umfrage.threads` if set, else half
#' the logical processors (at least 1), capped by `OMP_THREAD_LIMIT` and
#' `OMP_NUM_THREADS`, as data.table does. A pass over the rows takes a further
#' thread only for every 2^17 (131,072) rows: on shorter passes,
#' waking a thread costs more than it saves. Results do not depend on the thread
#' count beyond rounding (1e-12 relative). Without OpenMP at compile time
#' everything runs on one thread.
#'
#' @param n `NULL` to query, or a whole number >= 1 to set. Values above the
#'   number the process allows are accepted and capped when used.
#' @return With `n = NULL`, the current setting (an integer). Otherwise the
#'   previous setting, invisibly.
#' @examples
#' old <- umfrage_threads(1)
#' umfrage_threads()
#' umfrage_threads(old)
#' @export
umfrage_threads <- function(n = NULL) {
  if (is.null(n)) return(.Call(C_threads_get))
  if (!is.numeric(n) || length(n) != 1L || is.na(n) || !is.finite(n) ||
      n < 1 || n != round(n) || n > .Machine$integer.max)
    stop("'n' must be a single whole number >= 1, not ", deparse1(n),
         call. = FALSE)
  invisible(.Call(C_threads_set, as.integer(n)))
}

default_threads <- function() {
  opt <- getOption("umfrage.threads")
  if (!is.null(opt)) return(opt)
  cap <- .Call(C_threads_max)[1L]
  max(1L, cap %/% 2L)
}

# Rows per further thread (internal; tests lower it to exercise the threaded
# code on small data). Returns the old value invisibly.
threads_min_rows <- function(n) invisible(.Call(C_threads_min_rows, as.integer(n)))
