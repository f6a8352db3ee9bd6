# Issue 12: a forked child (parallel::mclapply) after a multi-threaded call
# in the parent used to hang in the OpenMP pool it inherits without its
# threads. The child now runs on one thread; the parent keeps its setting.

fork_ok <- function() {
  .Platform$OS.type == "unix" && .Call(umfrage:::C_threads_max)[1L] >= 2L
}

# Run f() in a forked child; NULL if it has not finished within `secs`
# (the child is then killed, so a regression fails instead of hanging).
in_child <- function(f, secs = 30) {
  job <- parallel::mcparallel(f(), silent = TRUE)
  res <- parallel::mccollect(job, wait = FALSE, timeout = secs)
  if (is.null(res)) {
    tools::pskill(job$pid, tools::SIGKILL)
    parallel::mccollect(job, wait = FALSE, timeout = 1)
    return(NULL)
  }
  res[[1L]]
}

test_that("forked children work after a threaded call in the parent", {
  skip_on_cran()
  skip_if_not(fork_ok(), "needs fork and at least 2 processors")
  old <- umfrage_threads(2)
  on.exit(umfrage_threads(old))
  old_rows <- umfrage:::threads_min_rows(1000)
  on.exit(umfrage:::threads_min_rows(old_rows), add = TRUE)
  d <- sim_sample(40000, seed = 7, weights = TRUE)
  # threaded passes in the parent start the OpenMP pool
  t_parent <- tab(d, "age", cols = "sex", weights = d$w0, se = FALSE)
  w_parent <- wt_rake(d, sim_targets(), weights = d$w0)
  child <- in_child(function() {
    t1 <- tab(d, "age", cols = "sex", weights = d$w0, se = FALSE)
    w1 <- wt_rake(d, sim_targets(), weights = d$w0)
    list(threads = umfrage_threads(), n_w = t1$cells$n_w, w = as.double(w1))
  })
  expect_false(is.null(child), info = "the forked child hung")
  # a hung child was killed; do not leave mclapply's children hanging too
  if (is.null(child)) return(invisible())
  expect_identical(child$threads, 1L)
  ref <- as.vector(tapply(d$w0, list(d$age, d$sex), sum))
  cells <- as.data.frame(t_parent)
  got <- child$n_w[cells$col_var == "sex"]
  expect_equal(got, ref, tolerance = 1e-12)
  expect_equal(child$w, as.double(w_parent), tolerance = 1e-12)
  # the parent keeps its setting
  expect_identical(umfrage_threads(), 2L)
  # and mclapply, the everyday route, returns
  r <- in_child(function() unlist(parallel::mclapply(1:2, function(i)
    sum(tab(d, "region", weights = d$w0, se = FALSE)$cells$n), mc.cores = 2)))
  expect_equal(r, rep(nrow(d), 2))
})

test_that("a child may set its own thread count", {
  skip_on_cran()
  skip_if_not(fork_ok(), "needs fork and at least 2 processors")
  old <- umfrage_threads(2)
  on.exit(umfrage_threads(old))
  child <- in_child(function() {
    before <- umfrage_threads()
    umfrage_threads(1)
    c(before, umfrage_threads())
  })
  expect_identical(child, c(1L, 1L))
})
