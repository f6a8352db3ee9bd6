# The KI-in-Kommunen data: the frame of German local authorities and the
# synthetic survey export.

kik_path <- function(f = "kik_rohdaten.csv") system.file("extdata", f, package = "umfrage")

test_that("the shipped export is what data-raw/kik_synth.R makes", {
  src <- test_path("..", "..", "data-raw", "kik_synth.R")
  skip_if_not(file.exists(src), "data-raw/ is only in the package sources")
  env <- new.env()
  sys.source(src, envir = env)
  out <- tempfile("kik-synth-")
  on.exit(unlink(out, recursive = TRUE), add = TRUE)
  set.seed(1)
  seed <- .Random.seed
  env$kik_synth(out_dir = out, frame_dir = dirname(src))
  expect_identical(.Random.seed, seed)  # the caller's random numbers are untouched
  for (f in c("kik_rohdaten.csv", "kik_codebook.csv")) {
    made <- readBin(file.path(out, f), "raw", 1e7)
    expect_identical(made, readBin(test_path("..", "..", "inst", "extdata", f), "raw", 1e7), info = f)
    expect_identical(made, readBin(kik_path(f), "raw", 1e7), info = paste("installed", f))
  }
})


test_that("the frame datasets hold the documented real totals", {
  expect_identical(sum(kik_gemeinden$n_gemeinden), 10773L)
  expect_identical(sum(as.numeric(kik_gemeinden$einwohner)), 84353660)
  expect_identical(nrow(kik_kreise), 400L)
  expect_identical(sum(kik_kreise$kreisfrei), 106L)
  expect_identical(sum(as.numeric(kik_kreise$einwohner)), 84353660)
})
