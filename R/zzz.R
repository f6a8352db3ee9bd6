.onLoad <- function(libname, pkgname) {
  n <- default_threads()
  ok <- tryCatch({ umfrage_threads(n); TRUE }, error = function(e) FALSE)
  if (!ok) umfrage_threads(1L)
  invisible()
}
