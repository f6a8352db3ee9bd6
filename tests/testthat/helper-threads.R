# umfrage on `th` threads, with a second thread from `min_rows` rows on
# (so that small test data take the parallel paths), both restored when
# the calling test (or function) ends.
local_threads <- function(th, min_rows = 1000, env = parent.frame()) {
  old_rows <- umfrage:::threads_min_rows(min_rows)
  old_th <- umfrage_threads(th)
  withr::defer({ umfrage_threads(old_th); umfrage:::threads_min_rows(old_rows) }, envir = env)
  invisible(old_th)
}
