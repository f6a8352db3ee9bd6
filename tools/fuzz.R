# Fuzzing of umfrage's registered C routines (issue 8).
#
#   Rscript tools/fuzz.R                 run random calls in batches, each batch
#                                        in a child R process, for FUZZ_SECONDS
#   Rscript tools/fuzz.R --replay FILE   re-run one saved case (.rds) in this
#                                        process and show the call and result
#
# `make fuzz` runs it against a private sanitizer build (see the Makefile).
#
# Every entry point in getDLLRegisteredRoutines("umfrage") is called through
# its C_* symbol with
#  - random arguments: NULL, logical, integer, double, character, complex,
#    raw, list, function, environment, symbol; lengths 0, 1, small, larger;
#    NA, NaN, +-Inf, -0, negative, huge and INT_MIN-adjacent values; and
#  - near-valid arguments: argument lists captured from the R wrappers on
#    small data sets (a corpus made once per run, by calling wt_rake(), tab()
#    and friends with a recording .Call), then perturbed in 1 to 3 places
#    anywhere in their nested lists: wrong type, wrong length, NULL, codes
#    out of range, NA codes, negative counts, absurd sizes (a level count of
#    .Machine$integer.max), lists wrapped, unwrapped, truncated, elements
#    swapped between arguments or taken from another call.
#
# A child process runs a batch: it picks a thread setting (1, 2 or 4 threads
# with a low rows-per-thread threshold, so that the parallel paths run on
# small data), then before each call writes the call to <out>/current.rds,
# makes the call under setTimeLimit(elapsed = FUZZ_CALL_SECONDS) and checks
# the outcome:
#  - an R error (Rf_error in umfrage's C code) is fine;
#  - "reached elapsed time limit" is fine too (a legitimately long call, e.g.
#    maxit = 1e9, that R_CheckUserInterrupt() stopped);
#  - a result of the wrong type or shape is a failure;
#  - "cannot allocate ..." is a failure: a size taken from an argument was
#    allocated instead of rejected (children run with a memory limit:
#    ulimit -v, or ASan's max_allocation_size_mb);
#  - an error from R's accessors ("INTEGER() can only be applied to ...")
#    means the C code did not check a type itself: reported, and a failure
#    with FUZZ_STRICT=1.
# A child that dies (segfault, abort, sanitizer report) is a crash and one
# that outlives FUZZ_CHILD_TIMEOUT a hang; the parent keeps the case in
# <out>/crash-*.rds, prints it, and carries on with the next batch.
#
# The last lines give the number of calls made; the exit status is non-zero
# after any crash, hang, wrong return or absurd allocation.
#
# Environment:
#   FUZZ_SECONDS        total time budget (default 600)
#   FUZZ_SEED           seed of the first batch (default: random; printed)
#   FUZZ_OUT            directory for the corpus and saved cases (default .fuzz)
#   FUZZ_LIB            library to load umfrage from (prepended to R_LIBS)
#   FUZZ_PRELOAD        sanitizer runtime to LD_PRELOAD in the children
#   FUZZ_BATCH_SECONDS  time per child (default 30)
#   FUZZ_CHILD_TIMEOUT  a child running longer is a hang (default 90)
#   FUZZ_CALL_SECONDS   elapsed time limit per call (default 5)
#   FUZZ_VMEM_MB        address-space limit of a child without a sanitizer
#                       (default 6144)
#   FUZZ_STRICT         1: unchecked types (accessor errors) are failures

options(warn = 1, keep.source = FALSE)

env_num <- function(name, default) {
  v <- Sys.getenv(name)
  if (!nzchar(v)) return(default)
  x <- suppressWarnings(as.numeric(v))
  if (is.na(x)) stop(name, " must be a number, not '", v, "'", call. = FALSE)
  x
}

say <- function(...) {
  cat("fuzz: ", ..., "\n", sep = "")
  flush(stdout())
}

script_path <- local({
  f <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(f)) normalizePath(sub("^--file=", "", f[1L])) else normalizePath("tools/fuzz.R")
})

# ---- random values ---------------------------------------------------------

INT_MAX <- .Machine$integer.max
huge_ints <- c(INT_MAX, INT_MAX - 1L, 2147483646L, 1073741824L, 536870912L, 46341L,
               65536L, 16777217L, 100000000L, 1000000000L, -INT_MAX, -1L, 0L, NA)
special_int <- c(NA, 0L, -1L, 1L, 2L, 3L, INT_MAX, -INT_MAX, 1073741824L, 65536L, 1000000L)
special_dbl <- c(NA, NaN, Inf, -Inf, 0, -0, -1, 1, 0.5, 2, 1e308, -1e308, 5e-324,
                 2147483647, 2147483648, 4294967296, 9007199254740993, 1e9, 1e-300, -0.5)
special_chr <- c(NA, "", "a", "scale", "mode", "test", "labels", "\u00e9", strrep("x", 200))

rand_len <- function() {
  switch(sample(5L, 1L, prob = c(0.15, 0.35, 0.25, 0.17, 0.08)),
         0L, 1L, sample(2:6, 1L), sample(7:100, 1L), sample(101:2000, 1L))
}

rand_atomic <- function(type, n = rand_len()) {
  switch(type,
    lgl = sample(c(TRUE, FALSE, NA), n, TRUE),
    int = {
      v <- sample.int(6L, n, TRUE) - 1L
      k <- runif(1) < 0.5
      if (n > 0L && k) {
        i <- sample.int(n, max(1L, n %/% 4L))
        v[i] <- sample(special_int, length(i), TRUE)
      }
      v
    },
    dbl = {
      v <- round(runif(n, -2, 10), sample(0:3, 1L))
      if (n > 0L && runif(1) < 0.5) {
        i <- sample.int(n, max(1L, n %/% 4L))
        v[i] <- sample(special_dbl, length(i), TRUE)
      }
      v
    },
    chr = sample(special_chr, n, TRUE),
    cplx = complex(real = runif(n), imaginary = runif(n)),
    raw = as.raw(sample.int(256L, n, TRUE) - 1L))
}

rand_value <- function(depth = 0L) {
  types <- c("NULL", "lgl", "int", "dbl", "chr", "list", "fun", "env", "raw", "cplx", "sym",
             "scalar_int", "scalar_dbl")
  prob <- c(0.08, 0.08, 0.16, 0.14, 0.07, if (depth < 3L) 0.14 else 0, 0.03, 0.03, 0.02, 0.02,
            0.02, 0.14, 0.07)
  type <- sample(types, 1L, prob = prob)
  switch(type,
    "NULL" = NULL,
    fun = function(x) x,
    env = new.env(),
    sym = as.name("x"),
    scalar_int = sample(c(special_int, huge_ints), 1L),
    scalar_dbl = sample(special_dbl, 1L),
    list = {
      v <- lapply(seq_len(sample(0:6, 1L)), function(i) rand_value(depth + 1L))
      if (length(v) && runif(1) < 0.4)
        names(v) <- sample(c("mode", "stratum", "scale", "center", "nh", "percent", "ci",
                             "level", "letters", "alpha", "adjust", "kg_rows", "test",
                             "labels", "single", "layer_rows", "layer_nu", "x", ""),
                           length(v), TRUE)
      v
    },
    rand_atomic(type))
}

# ---- mutation of near-valid argument lists ----------------------------------

# Paths (integer index vectors) of every node below the root of a nested list.
node_paths <- function(x, path = integer(), depth = 0L) {
  out <- if (length(path)) list(path) else list()
  if (is.list(x) && !is.data.frame(x) && depth < 7L)
    for (i in seq_along(x)) out <- c(out, node_paths(x[[i]], c(path, i), depth + 1L))
  out
}

get_at <- function(x, path) {
  for (i in path) x <- x[[i]]
  x
}

# Set the node at path (a NULL value is stored, not deleted).
set_at <- function(x, path, value) {
  if (length(path) == 1L) {
    x[path] <- list(value)
    return(x)
  }
  x[[path[1L]]] <- set_at(x[[path[1L]]], path[-1L], value)
  x
}

drop_at <- function(x, path) {
  if (length(path) == 1L) return(x[-path])
  x[[path[1L]]] <- drop_at(x[[path[1L]]], path[-1L])
  x
}

poke_special <- function(v) {
  n <- length(v)
  if (n == 0L) return(v)
  i <- sample.int(n, sample(c(1L, max(1L, n %/% 3L), n), 1L))
  if (is.integer(v)) {
    mx <- suppressWarnings(max(v, na.rm = TRUE))
    cand <- c(NA, 0L, -1L, if (is.finite(mx) && mx < INT_MAX) mx + 1L, INT_MAX, -INT_MAX, 1073741824L)
    v[i] <- sample(cand, length(i), TRUE)
  } else if (is.double(v)) {
    v[i] <- sample(special_dbl, length(i), TRUE)
  } else if (is.logical(v)) {
    v[i] <- sample(c(NA, TRUE, FALSE), length(i), TRUE)
  } else if (is.character(v)) {
    v[i] <- sample(special_chr, length(i), TRUE)
  } else if (is.list(v)) {
    v[i] <- list(NULL)
  }
  v
}

retype <- function(v) {
  to <- sample(c("int", "dbl", "lgl", "chr", "list", "unlist", "cplx"), 1L)
  suppressWarnings(switch(to,
    int = if (is.atomic(v)) as.integer(v) else 1L,
    dbl = if (is.atomic(v)) as.double(v) else 1,
    lgl = if (is.atomic(v)) as.logical(v) else NA,
    chr = if (is.atomic(v)) as.character(v) else "x",
    list = if (is.atomic(v) || is.list(v)) as.list(v) else list(v),   # (an external pointer: wrapped)
    unlist = if (is.list(v)) unlist(v, use.names = FALSE) else list(v),
    cplx = if (is.atomic(v) && !is.character(v) && !is.raw(v)) as.complex(v) else 0i))
}

mutate_node <- function(v) {
  ops <- c("replace", "null", "retype", "len0", "len1", "shorten", "extend", "special",
           "bigint", "wrap", "unwrap", "strip", "rename", "negate", "plus1", "double_len")
  prob <- c(0.12, 0.06, 0.10, 0.06, 0.06, 0.07, 0.07, 0.16, 0.07, 0.04, 0.04, 0.03, 0.03,
            0.03, 0.04, 0.02)
  op <- sample(ops, 1L, prob = prob)
  n <- length(v)
  is_vec <- is.atomic(v) || is.list(v)
  out <- switch(op,
    replace = rand_value(),
    null = NULL,
    retype = retype(v),
    len0 = if (is_vec) v[0L] else NULL,
    len1 = if (is_vec && n > 0L) v[1L] else v,
    shorten = if (is_vec && n > 0L) v[-sample.int(n, 1L)] else v,
    extend = if (is_vec && n > 0L) c(v, v[sample.int(n, sample(1:3, 1L), TRUE)]) else v,
    special = poke_special(v),
    bigint = sample(huge_ints, 1L),
    wrap = list(v),
    unwrap = if (is.list(v) && n > 0L) v[[sample.int(n, 1L)]] else v,
    strip = { if (is_vec) attributes(v) <- NULL; v },
    rename = { if (is_vec && n > 0L) names(v) <- sample(c(names(v), "x", ""), n, TRUE); v },
    negate = if (is.numeric(v)) -v else v,
    plus1 = if (is.numeric(v)) v + sample(c(1L, -1L), 1L) else v,
    double_len = if (is_vec && n > 0L && n < 5000L) rep(v, 2L) else v)
  list(value = out, op = op)
}

# Mutate an argument list in 1 to 3 places. `donors` are other argument
# lists (of any routine) for crossover.
mutate_args <- function(args, donors) {
  how <- character()
  for (k in seq_len(sample(1:3, 1L, prob = c(0.6, 0.3, 0.1)))) {
    paths <- node_paths(args)
    if (!length(paths)) break
    r <- runif(1)
    if (r < 0.06 && length(args) >= 2L) {
      ij <- sample.int(length(args), 2L)
      args[ij] <- args[rev(ij)]
      how <- c(how, sprintf("swap args %d,%d", ij[1L], ij[2L]))
    } else if (r < 0.12 && length(donors)) {
      p <- paths[[sample.int(length(paths), 1L)]]
      dn <- donors[[sample.int(length(donors), 1L)]]
      dp <- node_paths(dn)
      if (length(dp)) {
        q <- dp[[sample.int(length(dp), 1L)]]
        args <- set_at(args, p, get_at(dn, q))
        how <- c(how, sprintf("graft [%s] <- donor[%s]", paste(p, collapse = ","),
                              paste(q, collapse = ",")))
      }
    } else if (r < 0.17) {
      p <- paths[[sample.int(length(paths), 1L)]]
      if (length(p) > 1L) {
        args <- drop_at(args, p)
        how <- c(how, sprintf("drop [%s]", paste(p, collapse = ",")))
      }
    } else {
      p <- paths[[sample.int(length(paths), 1L)]]
      m <- mutate_node(get_at(args, p))
      args <- set_at(args, p, m$value)
      how <- c(how, sprintf("%s [%s]", m$op, paste(p, collapse = ",")))
    }
  }
  list(args = args, how = paste(how, collapse = "; "))
}

# ---- corpus: valid argument lists, as the R wrappers pass them ---------------

corpus_data <- function(n, seed) {
  set.seed(seed)
  st <- rep(1:3, length.out = n)
  d <- data.frame(
    sex = sample(c("f", "m"), n, TRUE, prob = c(0.6, 0.4)),
    age = factor(sample(c("a", "b", "c", "d"), n, TRUE, prob = c(0.1, 0.2, 0.4, 0.3))),
    region = sample(1:5, n, TRUE),
    urban = sample(c(TRUE, FALSE), n, TRUE),
    x = round(stats::runif(n, 1, 10), 1),
    w = stats::rexp(n) + 0.2,
    st = st,
    psu = st * 100L + (seq_len(n) %% 4L),
    stringsAsFactors = FALSE)
  d$b1 <- stats::runif(n) < 0.5
  d$b2 <- stats::runif(n) < 0.3
  d$b3 <- stats::runif(n) < 0.2
  na <- sample(n, max(1L, n %/% 20L))
  d$b1[na] <- NA; d$b2[na] <- NA; d$b3[na] <- NA
  d$m1 <- sample(c(1:4, NA), n, TRUE)
  d$m2 <- ifelse(stats::runif(n) < 0.5, sample(1:4, n, TRUE), NA)
  d$y <- sample(c("lo", "mid", "hi", NA), n, TRUE, prob = c(0.3, 0.3, 0.3, 0.1))
  d
}

make_corpus <- function(file) {
  ns <- asNamespace("umfrage")
  captured <- list()
  cap_env <- new.env(parent = ns)
  cap_env$.Call <- function(.NAME, ...) {
    captured[[length(captured) + 1L]] <<- list(fn = .NAME$name, args = list(...))
    base::.Call(.NAME, ...)
  }
  # copies of the package's functions that see the recording .Call
  for (nm in ls(ns, all.names = TRUE)) {
    f <- get(nm, envir = ns)
    if (is.function(f) && !is.primitive(f) && identical(environment(f), ns)) {
      environment(f) <- cap_env
      assign(nm, f, envir = cap_env)
    }
  }
  U <- function(name) get(name, envir = cap_env)
  .Call(get("C_threads_set", envir = ns), 1L)
  d <- corpus_data(120L, 1L)
  big <- corpus_data(3000L, 2L)
  tg <- list(sex = c(f = 0.5, m = 0.5), age = c(a = 0.2, b = 0.3, c = 0.3, d = 0.2),
             region = c("1" = 0.2, "2" = 0.2, "3" = 0.2, "4" = 0.2, "5" = 0.2))
  joint <- expand.grid(sex = c("f", "m"), age = c("a", "b", "c", "d"), stringsAsFactors = FALSE)
  joint$target <- c(10, 9, 14, 13, 18, 17, 12, 11) / 104
  run <- function(expr) tryCatch(expr, error = function(e) NULL, warning = function(w) NULL)
  wr <- run(U("wt_rake")(d, tg, weights = "w"))
  run(U("wt_rake")(d, tg))
  run(U("wt_rake")(d, tg, cap = 2))
  run(U("wt_rake")(d, tg, weights = "w", cap = 1.8))
  run(U("wt_rake")(d, list(joint, urban = c("TRUE" = 0.6, "FALSE" = 0.4))))
  run(U("wt_rake")(big, tg, weights = "w"))
  run(U("wt_rake")(d, tg, maxit = 2L))
  op <- options(umfrage.rake_mode = "rows")
  run(U("wt_rake")(d, tg, weights = "w", cap = 2))
  run(U("wt_rake")(d, list(joint, urban = c("TRUE" = 0.6, "FALSE" = 0.4))))
  options(umfrage.rake_mode = "cells")
  run(U("wt_rake")(d, tg))
  options(op)
  run(U("wt_poststrat")(d, joint))
  run(U("wt_calibrate")(d, tg, weights = "w"))
  run(U("wt_calibrate")(d, c(tg[1:2], list(x = sum(d$x) * 1.1)), method = "raking"))
  run(U("wt_calibrate")(d, c(tg[1], list(x = sum(d$x))), method = "logit", bounds = c(0.3, 3)))
  run(U("wt_calibrate")(big, c(tg[1:2], list(x = sum(big$x))), weights = "w"))
  run(U("wt_calibrate")(d, list(x = sum(d$x) * 0.9)))
  run(U("wt_trim")(d$w, upper = 2))
  run(U("wt_trim")(d$w, lower = 0.5, upper = 2, keep_total = FALSE))
  run(U("wt_trim")(d$w, deff = 1.1))
  if (!is.null(wr)) run(U("wt_summary")(wr))
  mb <- U("mr_set")(d, c("b1", "b2", "b3"))
  mc <- U("mr_set")(d, c("m1", "m2"), type = "category", base = "all")
  run(U("tab")(d, "age"))
  run(U("tab")(d, "age", cols = c("sex", "urban"), by = "region", weights = "w"))
  run(U("tab")(d, "y", cols = "sex", na = "level", percent = "row"))
  run(U("tab")(d, mb, cols = c("sex", "age"), weights = "w"))
  run(U("tab")(d, "age", cols = list(mb, mc, "sex"), percent = "total"))
  run(U("tab")(d, mc, cols = "sex", by = "urban", se = FALSE))
  run(U("tab")(big, "age", cols = c("sex", "region"), weights = "w"))
  dsc <- run(U("svy_design")(d, weights = ~w, strata = ~st, cluster = ~psu))
  dst <- run(U("svy_design")(d, weights = ~w, strata = ~st))
  if (!is.null(dsc)) {
    run(U("tab")(dsc, "age", cols = c("sex", "urban"), ci = "korn-graubard", test = "Chisq"))
    run(U("tab")(dsc, "age", cols = "sex", by = "urban", adjust = "holm", ci = "wilson"))
    run(U("tab")(dsc, mb, cols = "sex"))
  }
  if (!is.null(dst)) {
    run(U("tab")(dst, "age", cols = "sex", ci = "wald"))
    run(U("tab")(dst, mb, cols = "sex"))
    run(U("tab")(dst, "age", cols = mc))
  }
  # numeric rows (C_num_fast; C_num_pass with calibrated weights)
  run(U("tab")(d, list(U("mean_of")(~x), U("ratio_of")(~x, ~w)), cols = list("sex", mb), weights = "w"))
  if (!is.null(dsc))
    run(U("tab")(dsc, list(U("mean_of")(~x), U("total_of")(~x)), cols = c("sex", "age"), by = "urban",
                 adjust = "holm"))
  if (!is.null(dst)) run(U("tab")(dst, U("mean_of")(~x), cols = mb))
  if (!is.null(wr)) run(U("tab")(d, U("mean_of")(~x), cols = "sex", weights = wr))
  if (!is.null(wr)) {
    run(U("tab")(d, "age", cols = c("sex", "urban"), weights = wr))
    run(U("tab")(d, mb, cols = "sex", weights = wr))
  }
  # a database source read as a stream of chunks (C_dbs_*; the states are
  # external pointers, cleared after use, so their captured calls exercise
  # the state checks; C_dbs_new gets every kind of argument)
  if (requireNamespace("DBI", quietly = TRUE) && requireNamespace("RSQLite", quietly = TRUE)) {
    con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
    dd <- d
    dd$age <- as.character(dd$age)
    DBI::dbWriteTable(con, "d", dd)
    op <- options(umfrage.db_chunk = 37, umfrage.progress = FALSE)
    src <- run(U("db_table")(con, "d", cells = "stream"))
    if (!is.null(src)) {
      run(U("tab")(src, "age", cols = c("sex", "region"), weights = "w"))
      ddes <- run(U("svy_design")(src, weights = ~w, strata = ~st, cluster = ~psu))
      if (!is.null(ddes)) run(U("tab")(ddes, c("age", "urban"), cols = "sex"))
    }
    options(op)
    DBI::dbDisconnect(con)
  }
  U("umfrage_threads")()
  U("umfrage_threads")(2)
  U("umfrage_threads")(1)
  U("threads_min_rows")(1000)
  U("threads_min_rows")(1048576)
  U("cells_avx2")(FALSE)
  U("cells_avx2")(TRUE)
  # C_cell_sum_w has no R caller (the benchmarks use it): as C_cell_stats
  for (cs in Filter(function(x) x$fn == "C_cell_stats", captured))
    captured[[length(captured) + 1L]] <- list(fn = "C_cell_sum_w", args = cs$args)
  captured[[length(captured) + 1L]] <- list(
    fn = "C_cell_sum_w", args = list(list(as.integer(d$age), d$region), c(4L, 5L), d$w))
  captured[[length(captured) + 1L]] <- list(
    fn = "C_cell_stats", args = list(list(as.integer(d$age), d$region), c(4L, 5L), NULL))
  # C_bench_floor: only bench/tab.R calls it
  captured[[length(captured) + 1L]] <- list(
    fn = "C_bench_floor", args = list(list(as.integer(d$age), d$region, as.integer(d$age)), d$w))
  # C_bench_exp has no R caller either (bench/calibrate.R uses it)
  captured[[length(captured) + 1L]] <- list(fn = "C_bench_exp", args = list(d$w, 3L))
  # at most 40 argument lists per routine, the first and a random rest
  by_fn <- split(captured, vapply(captured, `[[`, "", "fn"))
  corpus <- lapply(by_fn, function(l) {
    if (length(l) <= 40L) return(l)
    l[c(1L, sort(sample(2:length(l), 39L)))]
  })
  routines <- names(getDLLRegisteredRoutines("umfrage")$.Call)
  saveRDS(list(corpus = corpus, routines = routines), file)
  missing <- setdiff(routines, names(corpus))
  cat(sprintf("corpus: %d argument lists for %d routines; none captured for: %s\n",
              sum(lengths(corpus)), length(corpus),
              if (length(missing)) paste(missing, collapse = ", ") else "-"))
}

# ---- checking results ---------------------------------------------------------

is_stats3 <- function(m) is.double(m) && is.matrix(m) && ncol(m) == 3L

check_return <- function(fn, v) {
  ok <- switch(fn,
    C_threads_get = is.integer(v) && length(v) == 1L && !is.na(v) && v >= 1L,
    C_threads_set = is.integer(v) && length(v) == 1L && !is.na(v) && v >= 1L,
    C_threads_max = is.integer(v) && length(v) == 2L,
    C_threads_min_rows = is.double(v) && length(v) == 1L && v >= 1,
    C_cells_avx2 = is.logical(v) && length(v) == 1L && !is.na(v),
    C_cell_stats = is.list(v) && identical(names(v), c("n", "sum_w", "sum_w2", "skipped")) &&
      all(vapply(v, is.double, NA)) && length(v$n) == length(v$sum_w) &&
      length(v$n) == length(v$sum_w2) && length(v$skipped) == 1L,
    C_cell_sum_w = is.double(v) && is.double(attr(v, "skipped")),
    C_weight_stats = is.double(v) && length(v) == 10L,
    C_weight_max = is.double(v) && length(v) == 2L,
    C_bench_floor = is.double(v) && length(v) == 1L,
    C_rake = is.list(v) && is.integer(v$status) && length(v$status) == 1L &&
      (if (v$status == 0L) length(v) == 17L && is.double(v$weights) &&
         is.list(v$achieved) && is.double(v$trace) &&
         identical(v$fingerprint, .Call(ns_env()$C_fingerprint, v$weights))
       else identical(names(v), c("status", "info", "value"))),
    C_calibrate = is.list(v) && is.integer(v$status) && length(v$status) == 1L &&
      (if (v$status == 0L) length(v) == 14L && is.double(v$weights) && is.matrix(v$columns) &&
         is.double(v$cell_w) && is.logical(v$cell_constant) &&
         identical(v$fingerprint, .Call(ns_env()$C_fingerprint, v$weights))
       else identical(names(v), c("status", "info"))),
    C_trim = is.list(v) && length(v) == 5L && is.double(v$weights) && is.integer(v$rounds),
    C_tab = is.list(v) && identical(names(v), c("cols", "skipped")) && is.list(v$cols) &&
      all(vapply(v$cols, function(cj) is.list(cj) && length(cj) == 4L &&
                   all(vapply(cj, is_stats3, NA)), NA)) && is.double(v$skipped),
    C_tab_des = is.list(v) && identical(names(v), c("cols", "inf", "skipped")) &&
      is.list(v$cols) && is.list(v$inf) && is.double(v$skipped),
    C_tab_xprod = is.double(v),
    C_num_pass = is.list(v) && identical(names(v), c("cols", "xprod", "skipped", "shift")) &&
      is.list(v$cols) && all(vapply(v$cols, function(m) is.double(m) && is.matrix(m) && ncol(m) == 14L, NA)) &&
      is.double(v$skipped) && is.double(v$shift) && length(v$shift) == 1L,
    C_num_fast = is.list(v) && length(v) >= 1L && all(vapply(v, function(r)
      is.list(r) && identical(names(r), c("tot", "var", "var_nw", "df", "letters", "shift", "skipped")) &&
        is.double(r$tot) && is.matrix(r$tot) && ncol(r$tot) == 9L &&
        all(vapply(r[c("var", "var_nw", "df")], function(x) is.double(x) && length(x) == nrow(r$tot), NA)) &&
        is.character(r$letters) && length(r$letters) == nrow(r$tot) &&
        is.double(r$skipped) && length(r$skipped) == 3L, NA)),
    C_block_inf = is.list(v) && all(vapply(v, function(b) is.list(b) && length(b) == 11L &&
                                             is.character(b$letters), NA)),
    C_sum_units = is_stats3(v),
    C_bench_exp = is.double(v) && length(v) == 1L,
    C_fingerprint = is.double(v) && length(v) == 6L,
    C_first_nonfinite = is.double(v) && length(v) == 1L && v >= 0,
    C_rep_profile = is.list(v) && identical(names(v), c("prof", "np")) && is.integer(v$prof) &&
      is.integer(v$np) && length(v$np) == 1L && all(v$prof >= 1L & v$prof <= v$np),
    C_rep_rowsum = is.list(v) && all(vapply(v, function(m) is.double(m) && is.matrix(m), NA)),
    C_rep_rank = is.integer(v) && !anyNA(v) && all(v >= 0L),
    C_code_int = is.null(v) || (is.list(v) && length(v) == 2L && is.integer(v[[1L]])),
    C_dbs_new = typeof(v) == "externalptr",
    C_dbs_chunk = is.double(v) && length(v) == 1L,
    C_dbs_dict = is.null(v) || is.atomic(v),
    C_dbs_result = is.list(v) && length(v) == 2L,
    NA)
  if (is.na(ok)) return(sprintf("no return check for %s", fn))
  if (!ok) return(sprintf("%s returned %s", fn, paste(utils::capture.output(utils::str(v, max.level = 2L, list.len = 6L)), collapse = " | ")))
  # touch every byte: garbage from a PROTECT slip would crash here (not for
  # results of hundreds of MB, which a few level counts can legitimately ask for)
  if (utils::object.size(v) < 5e7) invisible(serialize(v, NULL))
  NULL
}

classify_error <- function(msg) {
  if (grepl("reached (elapsed|CPU) time limit", msg)) return("timelimit")
  if (grepl("cannot allocate|memory exhausted|vector memory", msg)) return("alloc")
  if (grepl("can only be applied to|LENGTH or similar applied to|applied to non-|not a vector|invalid 'type' \\(|not a list", msg))
    return("unchecked")
  "error"
}

# ---- one call -----------------------------------------------------------------

ns_env <- function() asNamespace("umfrage")

thread_state <- function() {
  ns <- ns_env()
  list(threads = .Call(get("C_threads_get", envir = ns)))
}

set_threads <- function(nth, min_rows) {
  ns <- ns_env()
  .Call(get("C_threads_set", envir = ns), as.integer(nth))
  .Call(get("C_threads_min_rows", envir = ns), as.integer(min_rows))
}

run_case <- function(case, limit) {
  sym <- get(case$fn, envir = ns_env())
  setTimeLimit(elapsed = limit, transient = TRUE)
  r <- tryCatch(list(ok = TRUE, value = do.call(.Call, c(list(sym), case$args), quote = TRUE)),
                error = function(e) list(ok = FALSE, msg = conditionMessage(e)))
  setTimeLimit(elapsed = Inf)
  # the thread setters change process-wide state: put it back
  if (case$fn %in% c("C_threads_set", "C_threads_min_rows")) set_threads(case$threads[1L], case$threads[2L])
  r
}

describe_case <- function(case, width = 3000L) {
  txt <- paste(deparse(case$args, width.cutoff = 200L, nlines = 200L), collapse = "\n")
  if (nchar(txt) > width) txt <- paste0(substr(txt, 1L, width), " ...[truncated]")
  c(sprintf("routine: %s (%d argument(s)); call %d of child seed %s; threads %d, rows per thread %d",
            case$fn, length(case$args), case$i, case$seed, case$threads[1L], case$threads[2L]),
    sprintf("made by: %s", case$how),
    sprintf("args: %s", txt))
}

# ---- child: one batch -----------------------------------------------------------

child_main <- function(seed, out, budget, limit) {
  set.seed(seed)
  suppressPackageStartupMessages(loadNamespace("umfrage"))
  cp <- readRDS(file.path(out, "corpus.rds"))
  corpus <- cp$corpus
  routines <- cp$routines
  nargs <- vapply(getDLLRegisteredRoutines("umfrage")$.Call, `[[`, 1L, "numParameters")
  all_args <- unlist(lapply(corpus, function(l) lapply(l, `[[`, "args")), recursive = FALSE)
  nth <- sample(c(1L, 2L, 4L), 1L, prob = c(0.4, 0.4, 0.2))
  min_rows <- if (nth == 1L) 1048576L else sample(c(1L, 7L, 64L, 1000L), 1L)
  set_threads(nth, min_rows)
  cur <- file.path(out, "current.rds")
  counts <- c(ok = 0, error = 0, timelimit = 0, alloc = 0, unchecked = 0, badret = 0)
  per_fn <- matrix(0, length(routines), length(counts), dimnames = list(routines, names(counts)))
  msgs <- character()
  saved <- 0L
  deadline <- Sys.time() + budget
  i <- 0L
  while (Sys.time() < deadline) {
    i <- i + 1L
    fn <- sample(routines, 1L)
    pool <- corpus[[fn]]
    r <- runif(1)
    if (nargs[[fn]] == 0L) {
      args <- list()
      how <- "no arguments"
    } else if (r < 0.15 || !length(pool)) {
      args <- lapply(seq_len(nargs[[fn]]), function(k) rand_value())
      how <- "random"
    } else if (r < 0.20) {
      args <- pool[[sample.int(length(pool), 1L)]]$args
      how <- "valid (from the corpus)"
    } else {
      m <- mutate_args(pool[[sample.int(length(pool), 1L)]]$args, all_args)
      args <- m$args
      how <- m$how
    }
    case <- list(fn = fn, args = args, how = how, i = i, seed = seed, threads = c(nth, min_rows))
    saveRDS(case, cur, compress = FALSE)
    res <- run_case(case, limit)
    kind <- if (res$ok) {
      prob <- check_return(fn, res$value)
      if (is.null(prob)) "ok" else { res$msg <- prob; "badret" }
    } else classify_error(res$msg)
    counts[kind] <- counts[kind] + 1
    per_fn[fn, kind] <- per_fn[fn, kind] + 1
    if (kind != "ok") msgs <- c(msgs, paste0(fn, ": ", gsub("-?[0-9][0-9.e+]*", "N", res$msg)))
    if (kind %in% c("badret", "alloc", "unchecked") && saved < 20L) {
      saved <- saved + 1L
      f <- file.path(out, sprintf("%s-%s-%d.rds", kind, seed, i))
      file.copy(cur, f, overwrite = TRUE)
      cat(sprintf("FUZZ-%s %s: %s\n", toupper(kind), f, substr(res$msg, 1L, 300L)))
    }
    if (i %% 50L == 0L) gc(FALSE)
  }
  unlink(cur)
  saveRDS(list(calls = i, counts = counts, per_fn = per_fn, msgs = table(msgs)),
          file.path(out, sprintf("summary-%s.rds", seed)))
  cat(sprintf("FUZZ-CHILD-DONE calls=%d\n", i))
}

# ---- replay -----------------------------------------------------------------------

replay_main <- function(file) {
  case <- readRDS(file)
  suppressPackageStartupMessages(loadNamespace("umfrage"))
  cat(describe_case(case, width = 20000L), sep = "\n")
  set_threads(case$threads[1L], case$threads[2L])
  res <- run_case(case, env_num("FUZZ_CALL_SECONDS", 5))
  if (res$ok) {
    prob <- check_return(case$fn, res$value)
    cat("result:", if (is.null(prob)) "ok" else prob, "\n")
    utils::str(res$value, max.level = 2L, list.len = 10L)
  } else {
    cat("error:", res$msg, "\n")
  }
}

# ---- parent -------------------------------------------------------------------------

child_command <- function(mode_args, log) {
  lib <- Sys.getenv("FUZZ_LIB")
  preload <- Sys.getenv("FUZZ_PRELOAD")
  vmem <- env_num("FUZZ_VMEM_MB", 6144)
  timeout <- env_num("FUZZ_CHILD_TIMEOUT", 90)
  envs <- c(
    if (nzchar(lib)) paste0("R_LIBS=", paste(c(lib, Sys.getenv("R_LIBS")[nzchar(Sys.getenv("R_LIBS"))]), collapse = ":")),
    if (nzchar(preload)) paste0("LD_PRELOAD=", preload),
    if (nzchar(preload)) paste0("ASAN_OPTIONS=", Sys.getenv("ASAN_OPTIONS",
      "detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=4096")),
    if (nzchar(preload)) paste0("UBSAN_OPTIONS=", Sys.getenv("UBSAN_OPTIONS",
      "print_stacktrace=1:halt_on_error=1")))
  rscript <- file.path(R.home("bin"), "Rscript")
  paste0(
    if (!nzchar(preload)) sprintf("ulimit -v %.0f 2>/dev/null; ", vmem * 1024) else "",
    "exec env ", paste(shQuote(envs), collapse = " "), " timeout -k 5 ", timeout, " ",
    shQuote(rscript), " --vanilla ", shQuote(script_path), " ",
    paste(shQuote(mode_args), collapse = " "), " >", shQuote(log), " 2>&1")
}

run_child <- function(mode_args, log) {
  suppressWarnings(system2("bash", c("-c", shQuote(child_command(mode_args, log)))))
}

parent_main <- function() {
  secs <- env_num("FUZZ_SECONDS", 600)
  seed <- env_num("FUZZ_SEED", NA)
  if (is.na(seed)) seed <- sample.int(1e6, 1L)
  out <- normalizePath(Sys.getenv("FUZZ_OUT", ".fuzz"), mustWork = FALSE)
  dir.create(out, showWarnings = FALSE, recursive = TRUE)
  batch <- env_num("FUZZ_BATCH_SECONDS", 30)
  limit <- env_num("FUZZ_CALL_SECONDS", 5)
  t0 <- Sys.time()
  say(sprintf("seed %.0f, %.0f s, cases in %s%s", seed, secs, out,
              if (nzchar(Sys.getenv("FUZZ_PRELOAD"))) paste0(", preloading ", Sys.getenv("FUZZ_PRELOAD")) else ""))
  corpus_log <- file.path(out, "corpus.log")
  st <- run_child(c("--corpus", file.path(out, "corpus.rds")), corpus_log)
  if (st != 0L || !file.exists(file.path(out, "corpus.rds"))) {
    cat(readLines(corpus_log), sep = "\n")
    say("could not build the corpus (status ", st, ")")
    quit(save = "no", status = 2)
  }
  say(tail(readLines(corpus_log), 1L))
  calls <- 0
  children <- 0L
  counts <- c(ok = 0, error = 0, timelimit = 0, alloc = 0, unchecked = 0, badret = 0)
  per_fn <- NULL
  msgs <- list()
  crashes <- 0L
  hangs <- 0L
  k <- 0L
  while (as.numeric(difftime(Sys.time(), t0, units = "secs")) < secs) {
    left <- secs - as.numeric(difftime(Sys.time(), t0, units = "secs"))
    s <- seed + k
    k <- k + 1L
    log <- file.path(out, sprintf("child-%s.log", s))
    unlink(file.path(out, "current.rds"))
    st <- run_child(c("--child", s, out, max(1, min(batch, left)), limit), log)
    children <- children + 1L
    sfile <- file.path(out, sprintf("summary-%s.rds", s))
    lines <- if (file.exists(log)) readLines(log, warn = FALSE) else character()
    for (l in grep("^FUZZ-(BADRET|ALLOC|UNCHECKED) ", lines, value = TRUE)) say(l)
    if (st == 0L && file.exists(sfile)) {
      sm <- readRDS(sfile)
      calls <- calls + sm$calls
      counts <- counts + sm$counts
      per_fn <- if (is.null(per_fn)) sm$per_fn else per_fn + sm$per_fn[rownames(per_fn), , drop = FALSE]
      msgs[[length(msgs) + 1L]] <- sm$msgs
      unlink(c(sfile, log))
      next
    }
    # the child died or hung: the case in progress is in current.rds
    cur <- file.path(out, "current.rds")
    hang <- st %in% c(124L, 137L)
    if (hang) hangs <- hangs + 1L else crashes <- crashes + 1L
    what <- if (hang) "HANG" else "CRASH"
    if (file.exists(cur)) {
      case <- readRDS(cur)
      calls <- calls + case$i
      f <- file.path(out, sprintf("%s-%s-%d.rds", tolower(what), s, case$i))
      file.rename(cur, f)
      say(sprintf("%s (exit status %d) in call %d of child seed %s; case saved in %s",
                  what, st, case$i, s, f))
      cat(paste0("  ", describe_case(case)), sep = "\n")
      say(sprintf("replay: Rscript tools/fuzz.R --replay %s", f))
    } else {
      say(sprintf("%s (exit status %d) of child seed %s before its first call", what, st, s))
    }
    rep <- grep("ERROR: AddressSanitizer|runtime error|caught segfault|SUMMARY|address|Error", lines)
    if (length(rep)) cat(paste0("  | ", lines[unique(pmin(length(lines), c(outer(rep[1:min(3, length(rep))], 0:6, `+`))))]), sep = "\n")
    else cat(paste0("  | ", tail(lines, 15L)), sep = "\n")
    say("child log: ", log)
  }
  secs_used <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  if (!is.null(per_fn)) {
    say("calls per routine and outcome:")
    tab <- cbind(per_fn, calls = rowSums(per_fn))
    cat(paste0("  ", utils::capture.output(print(tab[order(rownames(tab)), , drop = FALSE]))), sep = "\n")
  }
  if (length(msgs)) {
    all_m <- unlist(lapply(msgs, function(t) stats::setNames(as.numeric(t), names(t))))
    agg <- sort(tapply(all_m, names(all_m), sum), decreasing = TRUE)
    unchecked <- agg[grepl("can only be applied to|LENGTH or similar|applied to non-|not a vector", names(agg))]
    say(sprintf("%d distinct error messages; the most frequent:", length(agg)))
    cat(sprintf("  %6.0f  %s", head(agg, 12L), substr(names(head(agg, 12L)), 1L, 150L)), sep = "\n")
    if (length(unchecked)) {
      say("errors from R's accessors (a type the C code did not check itself):")
      cat(sprintf("  %6.0f  %s", unchecked, substr(names(unchecked), 1L, 150L)), sep = "\n")
    }
  }
  strict <- identical(Sys.getenv("FUZZ_STRICT"), "1")
  fails <- crashes + hangs + counts[["badret"]] + counts[["alloc"]] +
    if (strict) counts[["unchecked"]] else 0
  say(sprintf("outcomes: %s", paste(sprintf("%s %.0f", names(counts), counts), collapse = ", ")))
  say(sprintf("%.0f calls in %d child processes, %.0f s (seed %.0f): %d crash(es), %d hang(s), %.0f wrong return(s), %.0f absurd allocation(s), %.0f unchecked type(s)",
              calls, children, secs_used, seed, crashes, hangs, counts[["badret"]],
              counts[["alloc"]], counts[["unchecked"]]))
  quit(save = "no", status = if (fails > 0) 1L else 0L)
}

# ---- main ------------------------------------------------------------------------------

args <- commandArgs(trailingOnly = TRUE)
if (length(args) && args[1L] == "--child") {
  child_main(as.numeric(args[2L]), args[3L], as.numeric(args[4L]), as.numeric(args[5L]))
} else if (length(args) && args[1L] == "--corpus") {
  suppressPackageStartupMessages(loadNamespace("umfrage"))
  make_corpus(args[2L])
} else if (length(args) && args[1L] == "--replay") {
  if (length(args) < 2L) stop("usage: Rscript tools/fuzz.R --replay FILE", call. = FALSE)
  replay_main(args[2L])
} else if (length(args)) {
  stop("unknown arguments: ", paste(args, collapse = " "), call. = FALSE)
} else {
  parent_main()
}
