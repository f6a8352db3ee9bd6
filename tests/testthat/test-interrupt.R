# Long computations stop soon after an interrupt and leave R usable. The C
# loops call R_CheckUserInterrupt() once per raking sweep and every 2^20
# rows of a pass (outside the parallel regions); R_CheckUserInterrupt()
# also enforces setTimeLimit(), which stands in for Ctrl-C here. One test
# sends a real SIGINT to a child R process.
#
# Under the sanitizers or valgrind (UMFRAGE_TEST_SLOW=1) everything is many
# times slower, so only the bound on the delay is relaxed.

slow <- nzchar(Sys.getenv("UMFRAGE_TEST_SLOW"))
max_delay <- if (slow) 15 else 1

# Run f() under an elapsed-time limit; returns the error message and the
# seconds from the limit to the stop (negative: stopped early).
interrupted <- function(f, limit) {
  t0 <- Sys.time()
  on.exit(setTimeLimit(elapsed = Inf), add = TRUE)
  setTimeLimit(elapsed = limit, transient = TRUE)
  msg <- tryCatch({ f(); "finished" }, error = function(e) conditionMessage(e))
  setTimeLimit(elapsed = Inf)
  list(msg = msg, delay = as.numeric(difftime(Sys.time(), t0, units = "secs")) - limit)
}

# IPF cannot meet these margins (women are all young, men all old), so it
# never converges: without an interrupt, maxit = 1e7 sweeps take minutes.
hard_data <- function(n) {
  data.frame(sex = factor(rep(c("f", "m"), each = n / 2)),
             age = factor(rep(c("young", "old"), each = n / 2), levels = c("young", "old")))
}
hard_targets <- list(sex = c(f = 0.5, m = 0.5), age = c(young = 0.3, old = 0.7))
easy_check <- function() {
  d <- sim_sample(2000, seed = 3)
  w <- wt_rake(d, sim_targets())
  expect_equal(as.vector(wmargin(w, d$sex)) / sum(w), c(0.51, 0.49), tolerance = 1e-8)
  expect_equal(as.vector(wmargin(w, d$age)) / sum(w), c(0.18, 0.25, 0.34, 0.23), tolerance = 1e-8)
}

test_that("a non-converging rake on cells stops within a second of an interrupt", {
  r <- interrupted(function() suppressWarnings(wt_rake(hard_data(100), hard_targets, maxit = 1e7)),
                   limit = 0.3)
  expect_identical(r$msg, "reached elapsed time limit")
  expect_lt(r$delay, max_delay)
  easy_check()
})

test_that("a rake over 2^21 rows stops within a second of an interrupt", {
  old <- options(umfrage.rake_mode = "rows")
  on.exit(options(old))
  d <- hard_data(2^21)
  r <- interrupted(function() suppressWarnings(wt_rake(d, hard_targets, maxit = 1e7)), limit = 0.4)
  expect_identical(r$msg, "reached elapsed time limit")
  expect_lt(r$delay, max_delay)
  easy_check()
})

test_that("tables of a million rows stop within a second of an interrupt", {
  n <- 2^20
  i <- seq_len(n)
  code <- function(k, p) structure((i * p) %% k + 1L, levels = as.character(seq_len(k)), class = "factor")
  d <- data.frame(v0 = code(5L, 7L), v1 = code(3L, 11L), v2 = code(4L, 13L), v3 = code(6L, 17L),
                  v4 = code(5L, 19L), v5 = code(7L, 23L), v6 = code(3L, 29L), by = code(3L, 31L))
  banner <- paste0("v", 1:6)
  r <- interrupted(function() for (k in 1:200) tab(d, "v0", cols = banner, by = "by", na = "level"),
                   limit = 0.3)
  expect_identical(r$msg, "reached elapsed time limit")
  expect_lt(r$delay, max_delay)
  # R is fine afterwards: the same table, checked against table()
  small <- d[seq_len(5000), ]
  t1 <- as.data.frame(tab(small, "v0", cols = "v1"))
  t1 <- t1[t1$col_var == "v1", ]
  expect_equal(t1$n, as.vector(table(small$v0, small$v1)))
})

test_that("SIGINT stops a rake in another R process, which then carries on", {
  skip_on_cran()
  skip_on_os("windows")
  dir <- tempfile("interrupt-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  pid_file <- file.path(dir, "pid")
  out_file <- file.path(dir, "out")
  script <- file.path(dir, "child.R")
  writeLines(c(
    "suppressPackageStartupMessages(library(umfrage))",
    "d <- data.frame(sex = factor(rep(c('f', 'm'), each = 50)),",
    "                age = factor(rep(c('young', 'old'), each = 50), levels = c('young', 'old')))",
    "tg <- list(sex = c(f = 0.5, m = 0.5), age = c(young = 0.3, old = 0.7))",
    sprintf("writeLines(as.character(Sys.getpid()), %s)", deparse(pid_file)),
    "r <- tryCatch(suppressWarnings(wt_rake(d, tg, maxit = 1e8)), interrupt = function(e) 'interrupted')",
    "t1 <- Sys.time()",
    "w <- wt_rake(d, list(sex = c(f = 0.4, m = 0.6)))",
    sprintf("writeLines(c(if (is.character(r)) r else 'finished', format(as.numeric(t1), digits = 15), format(sum(w[d$sex == 'm']) / sum(w), digits = 15)), %s)",
            deparse(out_file))), script)
  rscript <- file.path(R.home("bin"), "Rscript")
  system2(rscript, c("--vanilla", shQuote(script)), wait = FALSE, stdout = FALSE, stderr = FALSE)
  deadline <- Sys.time() + (if (slow) 120 else 30)
  while (!file.exists(pid_file) && Sys.time() < deadline) Sys.sleep(0.05)
  expect_true(file.exists(pid_file))
  Sys.sleep(0.3)  # let the child get into the C loop
  pid <- as.integer(readLines(pid_file))
  t_sig <- Sys.time()
  tools::pskill(pid, tools::SIGINT)
  while (!file.exists(out_file) && Sys.time() < deadline) Sys.sleep(0.05)
  if (!file.exists(out_file)) tools::pskill(pid, tools::SIGKILL)
  expect_true(file.exists(out_file))
  Sys.sleep(0.1)
  out <- readLines(out_file)
  expect_identical(out[1L], "interrupted")
  expect_lt(as.numeric(out[2L]) - as.numeric(t_sig), max_delay)
  expect_equal(as.numeric(out[3L]), 0.6, tolerance = 1e-10)
})
