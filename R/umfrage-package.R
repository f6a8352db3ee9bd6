#' umfrage: fast and exact survey weighting in C
#'
#' Rows are coded once into integer cells; raking and post-stratification
#' then work on per-cell sums of the starting weights, so their cost grows
#' with the number of cells, not rows. Results agree with the survey
#' package's `rake()` and `postStratify()`.
#'
#' Main functions: [wt_rake()], [wt_poststrat()], [wt_summary()],
#' [umfrage_threads()].
#'
#' Example data: [kik_read()] reads a synthetic survey export on AI in
#' German local authorities; [kik_gemeinden] and [kik_kreise] hold the real
#' population frame for weighting it.
#'
#' @keywords internal
#' @useDynLib umfrage, .registration = TRUE
"_PACKAGE"
