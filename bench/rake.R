# Raking benchmark: umfrage::wt_rake() against survey::rake() and
# anesrake::anesrake() in the same run, plus the plain C pass
# C_cell_sum_w (one pass summing weights per cell) as the yardstick.
#
# Run through bench/run.R (`Rscript bench/run.R rake`), which assembles
# bench/RESULTS.md, or alone (`Rscript bench/rake.R`), which only writes
# bench/results/rake.md. Uses the INSTALLED umfrage. Takes about 5 minutes on
# 2 cores.
#
# For a quick trial run of the script itself, UMFRAGE_BENCH_SIZES="1e5"
# restricts the sizes (the section then says which sizes ran).

source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"), local = TRUE)
bench_start("rake", peers = c("survey", "anesrake", "profmem"))

# ---- setup ------------------------------------------------------------------

sizes <- c(1e5, 2e5, 1e6, 1e7)
env_sizes <- Sys.getenv("UMFRAGE_BENCH_SIZES")
if (nzchar(env_sizes)) sizes <- as.numeric(strsplit(env_sizes, "[ ,]+")[[1L]])
reps_for <- function(n) if (n <= 1e5) 15L else if (n <= 1e6) 9L else 5L   # umfrage + baseline (cheap)
survey_max_n <- 1e6
survey_goal <- c("2e+05" = 300, "1e+06" = 1000)   # at least this many times faster than survey
survey_reps_for <- function(n) if (n <= 1e5) 7L else if (n <= 2e5) 3L else 2L
anes_max_n <- 1e5
anes_reps <- 7L
umf_eps <- 1e-10                                  # wt_rake's default
survey_eps_grid <- 10^-(8:13)                     # calibrated at the smallest n
anes_convcrit <- 1e-10

threads_info <- .Call(get("C_threads_max", envir = asNamespace("umfrage")))
has_openmp <- threads_info[2L] == 1L
thread_set <- if (has_openmp && threads_info[1L] >= 2L) c(1L, 2L) else 1L
old_threads <- umfrage_threads(1L)                 # restored at the end
cell_sum_w <- get("C_cell_sum_w", envir = asNamespace("umfrage"))

vars <- c("a", "b", "c", "e")
nlev <- c(a = 2L, b = 6L, c = 16L, e = 10L)
ncell <- prod(nlev)

# ---- data ---------------------------------------------------------------------

# Four factors with unequal level probabilities. Each variable's level
# probabilities are tilted by the level of the previous one, so the margins
# are associated (with independent margins raking is done in 1-2 sweeps).
gen_data <- function(n, tilt = 0.6) {
  out <- vector("list", length(nlev)); names(out) <- vars
  prev <- NULL
  for (v in vars) {
    k <- nlev[[v]]
    base <- stats::runif(k, 0.2, 1)
    if (is.null(prev)) {
      x <- sample.int(k, n, replace = TRUE, prob = base)
    } else {
      x <- integer(n)
      grp <- split(seq_len(n), factor(prev, levels = seq_len(max(prev))))
      for (g in grp) {
        if (!length(g)) next
        x[g] <- sample.int(k, length(g), replace = TRUE,
                           prob = base * exp(tilt * stats::rnorm(k)))
      }
    }
    out[[v]] <- structure(x, levels = paste0(v, seq_len(k)), class = "factor")
    prev <- x
  }
  structure(out, class = "data.frame", row.names = c(NA_integer_, -as.integer(n)))
}

# Population shares = sample shares * U(0.7, 1.3), renormalised.
gen_targets <- function(d) {
  lapply(d[vars], function(x) {
    s <- tabulate(x, nlevels(x)) / length(x)
    p <- s * stats::runif(length(s), 0.7, 1.3)
    stats::setNames(p / sum(p), levels(x))
  })
}

# Post-stratification cells a x c: population counts = sample counts x
# U(0.7, 1.3), scaled to n (a table, as wt_poststrat() and, as a data frame,
# survey::postStratify() take it).
gen_ps_pop <- function(d) {
  s <- table(a = d$a, c = d$c)
  p <- s * stats::runif(length(s), 0.7, 1.3)
  p / sum(p) * nrow(d)
}

# ---- measuring ----------------------------------------------------------------

# Number of postStratify() calls during f() (survey::rake calls it once per
# margin per sweep), counted with trace(); only used on untimed runs.
count_poststratify <- function(f) {
  E <- new.env(); E$n <- 0L
  ns <- asNamespace("survey")
  suppressMessages(trace("postStratify", where = ns, print = FALSE,
                         tracer = bquote(assign("n", get("n", envir = .(E)) + 1L, envir = .(E)))))
  on.exit(suppressMessages(untrace("postStratify", where = ns)))
  res <- f()
  list(value = res, calls = E$n)
}

rel_diff <- function(w, ref) max(abs(as.double(w) - as.double(ref)) / as.double(ref))
norm_mean <- function(w) as.double(w) / mean(as.double(w))

# ---- formatting ------------------------------------------------------------------

# ---- the runs -------------------------------------------------------------------

rows_all <- list()      # per n: list of result rows
notes <- character()
survey_eps <- NA_real_
survey_calib <- character()
extra_1thr <- c()        # bytes beyond 8n, wt_rake 1 thread, equal w0, per n

for (n in sizes) {
  say(sprintf("n = %s: generating data", fmt_n(n)))
  set.seed(20261125 + round(log10(n)))
  d <- gen_data(n)
  tg <- gen_targets(d)
  w0u <- stats::runif(n, 0.5, 2)
  ones <- rep(1, n)
  codes <- unname(as.list(d[vars]))
  nl <- unname(nlev)
  reps <- reps_for(n)
  rows <- list()
  add_row <- function(...) rows[[length(rows) + 1L]] <<- list(...)

  # Reference weights (and warm-up): wt_rake on 1 thread.
  umfrage_threads(1L)
  ref <- wt_rake(d, tg, epsilon = umf_eps)
  ref_u <- wt_rake(d, tg, weights = w0u, epsilon = umf_eps)
  ps_pop <- gen_ps_pop(d)
  ref_ps <- wt_poststrat(d, ps_pop)

  # Fast variants, each warmed up once, then timed round-robin so that drifts
  # of machine or allocator state hit all of them alike.
  fast <- list()
  for (th in thread_set) {
    fast[[length(fast) + 1L]] <- list(
      id = sprintf("umf_eq_%d", th), method = "umfrage::wt_rake", w0 = "1", threads = th,
      f = function() wt_rake(d, tg, epsilon = umf_eps))
  }
  for (th in thread_set) {
    fast[[length(fast) + 1L]] <- list(
      id = sprintf("umf_un_%d", th), method = "umfrage::wt_rake, unequal w0", w0 = "U(0.5,2)",
      threads = th, f = function() wt_rake(d, tg, weights = w0u, epsilon = umf_eps))
  }
  for (th in thread_set) {
    fast[[length(fast) + 1L]] <- list(
      id = sprintf("umf_ps_%d", th), method = "umfrage::wt_poststrat (a × c)", w0 = "1",
      threads = th, f = function() wt_poststrat(d, ps_pop))
  }
  for (th in thread_set) {
    fast[[length(fast) + 1L]] <- list(
      id = sprintf("base_%d", th), method = "baseline: C_cell_sum_w (1 pass)", w0 = "1",
      threads = th, f = function() .Call(cell_sum_w, codes, nl, ones))
  }
  fast[[length(fast) + 1L]] <- list(
    id = "numeric", method = "context: numeric(n) (R allocates + zeroes n doubles)",
    w0 = "", threads = 1L, f = function() numeric(n))

  say(sprintf("n = %s: umfrage and baseline, %d reps", fmt_n(n), reps))
  results <- list()
  for (v in fast) {
    umfrage_threads(v$threads)
    results[[v$id]] <- list(value = v$f(), t = matrix(NA_real_, reps, 2L))  # warm-up
  }
  for (r in seq_len(reps)) {
    for (v in fast) {
      umfrage_threads(v$threads)
      results[[v$id]]$t[r, ] <- time_call(v$f)
    }
  }
  # The same 1-thread call back to back without gc() in between (the previous
  # result is still allocated, so R may take fresh memory for the next one).
  umfrage_threads(1L)
  nogc <- matrix(NA_real_, reps, 2L)
  invisible(gc(FALSE))
  for (r in seq_len(reps)) nogc[r, ] <- time_call(fast[[1L]]$f, gc_first = FALSE)

  # Memory, one call each.
  mem <- list()
  for (v in fast[vapply(fast, function(v) !identical(v$id, "numeric"), logical(1))]) {
    umfrage_threads(v$threads)
    mem[[v$id]] <- alloc_bytes(v$f)
  }
  umfrage_threads(1L)

  for (v in fast) {
    res <- results[[v$id]]
    val <- res$value
    isu <- startsWith(v$id, "umf")
    dg <- if (isu) attr(val, "umfrage") else NULL
    diffv <- NA_real_
    if (v$id %in% sprintf("umf_eq_%d", 2:8)) diffv <- rel_diff(val, ref)
    if (v$id %in% sprintf("umf_un_%d", 2:8)) diffv <- rel_diff(val, ref_u)
    if (v$id %in% sprintf("umf_ps_%d", 2:8)) diffv <- rel_diff(val, ref_ps)
    if (v$id == "umf_eq_1") diffv <- rel_diff(val, ref)
    b <- if (is.null(mem[[v$id]])) NA_real_ else mem[[v$id]]
    add_row(method = v$method, id = v$id, threads = v$threads,
            ms = stats::median(res$t[, 1L]), min = min(res$t[, 1L]), max = max(res$t[, 1L]),
            sys = stats::median(res$t[, 2L]), reps = reps,
            iterations = if (isu) sprintf("%d%s", dg$iterations, if (isTRUE(dg$converged)) "" else " (not converged)")
                         else if (startsWith(v$id, "base")) "1 pass" else "",
            maxerr = if (isu) dg$max_error else NA_real_,
            diff = diffv, bytes = b,
            extra = if (isu) b - 8 * n else NA_real_)
    if (v$id == "umf_eq_1") extra_1thr[as.character(n)] <- b - 8 * n
  }
  add_row(method = "umfrage::wt_rake, back to back without gc()", id = "umf_nogc_1", threads = 1L,
          ms = stats::median(nogc[, 1L]), min = min(nogc[, 1L]), max = max(nogc[, 1L]),
          sys = stats::median(nogc[, 2L]), reps = reps, iterations = "", maxerr = NA_real_,
          diff = NA_real_, bytes = NA_real_, extra = NA_real_)
  rm(results); invisible(gc(FALSE))

  # ---- survey::rake ----
  if (n <= survey_max_n) {
    dd <- d; dd$w0 <- 1
    des <- survey::svydesign(ids = ~1, weights = ~w0, data = dd)
    pm <- lapply(vars, function(v) {
      df <- data.frame(factor(names(tg[[v]]), levels = levels(d[[v]])), Freq = unname(tg[[v]]) * n)
      names(df)[1L] <- v
      df
    })
    margins <- lapply(vars, function(v) stats::as.formula(paste0("~", v)))
    svy <- function(eps) survey::rake(des, margins, pm,
                                      control = list(maxit = 1000, epsilon = eps, verbose = FALSE))
    svy_warn <- character()
    if (is.na(survey_eps)) {
      # Calibrate survey's epsilon once (untimed; doubles as warm-up): the
      # largest value whose weights agree with wt_rake's to 1e-8 relative.
      say(sprintf("n = %s: calibrating survey::rake epsilon", fmt_n(n)))
      for (eps in survey_eps_grid) {
        q <- quietly(function() count_poststratify(function() svy(eps)))
        dv <- rel_diff(stats::weights(q$value$value), ref)
        survey_calib <- c(survey_calib, sprintf("epsilon %g: %g sweeps, max rel diff %.1e",
                                                eps, q$value$calls / length(vars), dv))
        svy_warn <- c(svy_warn, q$warnings)
        survey_eps <- eps
        svy_sweeps <- q$value$calls / length(vars)
        if (dv <= 1e-8) break
      }
    } else {
      say(sprintf("n = %s: survey::rake warm-up", fmt_n(n)))
      q <- quietly(function() count_poststratify(function() svy(survey_eps)))
      svy_sweeps <- q$value$calls / length(vars)
      svy_warn <- c(svy_warn, q$warnings)
    }
    sreps <- survey_reps_for(n)
    say(sprintf("n = %s: survey::rake, %d reps", fmt_n(n), sreps))
    st <- matrix(NA_real_, sreps, 2L)
    for (r in seq_len(sreps)) {
      res_s <- NULL
      st[r, ] <- time_call(function() {
        res_s <<- withCallingHandlers(svy(survey_eps), warning = function(w) {
          svy_warn <<- c(svy_warn, conditionMessage(w)); invokeRestart("muffleWarning")
        })
      })
    }
    sb <- NA_real_
    if (n <= 1e5) {
      say(sprintf("n = %s: survey::rake memory", fmt_n(n)))
      sb <- alloc_bytes(function() suppressWarnings(svy(survey_eps)))
    }
    add_row(method = "survey::rake", id = "survey", threads = 1L,
            ms = stats::median(st[, 1L]), min = min(st[, 1L]), max = max(st[, 1L]),
            sys = stats::median(st[, 2L]), reps = sreps,
            iterations = sprintf("%g", svy_sweeps), maxerr = NA_real_,
            diff = rel_diff(stats::weights(res_s), ref), bytes = sb,
            extra = if (is.na(sb)) NA_real_ else sb - 8 * n)
    notes <- c(notes, if (length(svy_warn))
      sprintf("n = %s: survey::rake warned: %s", fmt_n(n), paste(unique(svy_warn), collapse = "; "))
    else sprintf("n = %s: survey::rake (epsilon %g) stopped after %g sweeps without warnings.",
                 fmt_n(n), survey_eps, svy_sweeps))
    say(sprintf("n = %s: survey::postStratify, warm-up + %d reps", fmt_n(n), sreps))
    ps_df <- as.data.frame(ps_pop)
    svy_ps <- function() survey::postStratify(des, ~a + c, ps_df)
    res_p <- svy_ps()
    pt <- matrix(NA_real_, sreps, 2L)
    for (r in seq_len(sreps)) pt[r, ] <- time_call(function() res_p <<- svy_ps())
    add_row(method = "survey::postStratify (a × c)", id = "survey_ps", threads = 1L,
            ms = stats::median(pt[, 1L]), min = min(pt[, 1L]), max = max(pt[, 1L]),
            sys = stats::median(pt[, 2L]), reps = sreps, iterations = "1 pass", maxerr = NA_real_,
            diff = rel_diff(stats::weights(res_p), ref_ps), bytes = NA_real_, extra = NA_real_)
    rm(des, dd, res_s, res_p); invisible(gc(FALSE))
  }

  # ---- anesrake ----
  if (n <= anes_max_n) {
    ids <- seq_len(n)
    anes <- function() anesrake::anesrake(
      inputter = tg, dataframe = d, caseid = ids, weightvec = ones,
      cap = 1e6,                 # effectively no capping: plain raking
      type = "nolim",            # rake on every variable given
      pctlim = 5,                # (unused with type = "nolim")
      iterate = TRUE, convcrit = anes_convcrit, maxit = 1000, verbose = FALSE)
    say(sprintf("n = %s: anesrake, warm-up + %d reps", fmt_n(n), anes_reps))
    qa <- quietly(anes)
    at <- matrix(NA_real_, anes_reps, 2L)
    for (r in seq_len(anes_reps)) {
      res_a <- NULL
      at[r, ] <- time_call(function() {
        utils::capture.output(res_a <<- suppressWarnings(anes()))
      })
    }
    say(sprintf("n = %s: anesrake memory", fmt_n(n)))
    ab <- alloc_bytes(function() utils::capture.output(suppressWarnings(anes())))
    add_row(method = "anesrake::anesrake", id = "anesrake", threads = 1L,
            ms = stats::median(at[, 1L]), min = min(at[, 1L]), max = max(at[, 1L]),
            sys = stats::median(at[, 2L]), reps = anes_reps,
            iterations = sprintf("%d", res_a$iterations), maxerr = NA_real_,
            diff = rel_diff(norm_mean(res_a$weightvec), norm_mean(ref)),
            bytes = ab, extra = ab - 8 * n)
    notes <- c(notes, sprintf("n = %s: anesrake says \"%s\"%s%s", fmt_n(n), qa$value$converge,
                              if (length(qa$printed)) sprintf("; printed: %s", paste(trimws(qa$printed), collapse = " / ")) else "",
                              if (length(qa$warnings)) sprintf("; warned: %s", paste(qa$warnings, collapse = "; ")) else ""))
  }

  rows_all[[as.character(n)]] <- rows
  rm(d, w0u, ones, codes, ref, ref_u); invisible(gc(FALSE))
}
umfrage_threads(old_threads)

# ---- write the section --------------------------------------------------------------

row_of <- function(rows, id) {
  for (r in rows) if (identical(r$id, id)) return(r)
  NULL
}

out <- c(
  "## Raking: `wt_rake()` vs `survey::rake()` vs `anesrake::anesrake()`",
  "",
  run_line(c("survey", "anesrake", "profmem"), sizes),
  "",
  "**Setup.** Four factor margins `a`, `b`, `c`, `e` with 2, 6, 16 and 10 levels",
  sprintf("(%s cells), levels drawn with unequal probabilities; each variable's level", fmt_n(ncell)),
  "probabilities are tilted by the level of the previous variable, so the margins are",
  "associated and raking needs several sweeps. Targets: sample share × U(0.7, 1.3),",
  "renormalised. Starting weights 1, except the rows marked *unequal w0* (U(0.5, 2)).",
  "Post-stratification on the 32 cells of a × c: `wt_poststrat(d, pop)` against `survey::postStratify(des, ~a + c, pop)`",
  "(population counts: sample counts × U(0.7, 1.3), scaled to n; its max rel diff is against wt_poststrat on 1 thread).",
  sprintf("`wt_rake(epsilon = %g)` (largest relative margin error). `survey::rake(control = list(maxit = 1000, epsilon = %g))`:",
          umf_eps, survey_eps),
  "survey's epsilon bounds the change of the joint table between sweeps (relative to the",
  "total) and was chosen at the smallest n as the largest of 1e-8 … 1e-13 whose weights",
  sprintf("agree with wt_rake's to 1e-8 relative (%s).",
          if (length(survey_calib)) paste(survey_calib, collapse = "; ") else "not run"),
  sprintf("`anesrake(type = \"nolim\", cap = 1e6, convcrit = %g, iterate = TRUE, maxit = 1000)`, output silenced;", anes_convcrit),
  "its weights (mean 1) are compared with wt_rake's scaled to mean 1.",
  "",
  "**Measuring.** Wall clock (`Sys.time()`), `gc()` before every timed call (as `system.time()`",
  "does), one warm-up call first; the umfrage and baseline rows are timed round-robin",
  "(one call of each per round) so that drifting machine state hits all alike. *median ms* is",
  "the median over *reps*, *sys ms* the median system CPU time of the process (mostly page",
  "faults on freshly allocated memory). *iterations*: raking sweeps (survey: counted via",
  "`trace(postStratify)` on an untimed run). *max rel diff*: max over rows of |w − w_ref| / w_ref,",
  "against wt_rake on 1 thread with the same starting weights. *alloc MB*: bytes allocated",
  "through R (allocVector, R_alloc) during one call, from `profmem::profmem()`; *beyond 8n KB*:",
  "that minus the 8n bytes of the returned weights (memory from C `malloc` would not be seen).",
  "Peers run single-threaded at their defaults; umfrage threads set by `umfrage_threads()`.",
  "The *context* row is what R itself pays to allocate and zero a vector of n doubles, the",
  "size of wt_rake's result: where that memory comes fresh from the OS (always for vectors",
  "above glibc's mmap threshold, e.g. 80 MB at n = 1e7) the page faults show up as *sys ms*.",
  "The row *back to back without gc()* times the same call repeated with no `gc()` in",
  "between, where the result may land on fresh pages, to show that effect at every n.",
  "On this VM, parallel regions that start after the process was idle a while can wait",
  "several ms for the second thread; the 2-thread rows are then bimodal (see min–max).",
  "Absolute times on this 2-vCPU VM drift between runs, with no other process running: while",
  "this script was developed, repeated full runs gave medians up to 2× apart (one run's 1-thread",
  "C pass at n = 1e7 was 5× slower than in the others). Compare ratios within one run (the",
  "round-robin keeps those comparable) rather than absolute times across runs.",
  ""
)

for (nm in names(rows_all)) {
  rows <- rows_all[[nm]]
  n <- as.numeric(nm)
  u1 <- row_of(rows, "umf_eq_1")$ms
  df <- data.frame(
    method = vapply(rows, function(r) r$method, ""),
    threads = vapply(rows, function(r) as.character(r$threads), ""),
    reps = vapply(rows, function(r) as.character(r$reps), ""),
    `median ms` = vapply(rows, function(r) fmt_ms(r$ms), ""),
    `min–max ms` = vapply(rows, function(r) paste0(fmt_ms(r$min), "–", fmt_ms(r$max)), ""),
    `sys ms` = vapply(rows, function(r) fmt_ms(r$sys), ""),
    `× umfrage (1 thr)` = vapply(rows, function(r) fmt_ratio(r$ms / u1), ""),
    iterations = vapply(rows, function(r) r$iterations, ""),
    `max rel diff` = vapply(rows, function(r) {
      if (r$id %in% c("umf_eq_1", "umf_un_1", "umf_ps_1")) "(reference)" else fmt_e(r$diff)
    }, ""),
    `alloc MB` = vapply(rows, function(r) fmt_mb(r$bytes), ""),
    `beyond 8n KB` = vapply(rows, function(r) fmt_kb(r$extra), ""),
    check.names = FALSE, stringsAsFactors = FALSE)
  um <- Filter(function(r) !is.na(r$maxerr), rows)
  mx <- vapply(um, function(r) sprintf("%s%s thr %s",
                                       if (startsWith(r$id, "umf_un")) "unequal w0, " else if (startsWith(r$id, "umf_ps")) "poststrat, " else "",
                                       r$threads, fmt_e(r$maxerr)), "")
  ratio_line <- function(th) {
    u <- row_of(rows, sprintf("umf_eq_%d", th)); b <- row_of(rows, sprintf("base_%d", th))
    if (is.null(u) || is.null(b)) return(NULL)
    sprintf("%s× on %d thread%s", fmt_ratio(u$ms / b$ms), th, if (th > 1) "s" else "")
  }
  u2 <- row_of(rows, "umf_eq_2"); nu <- row_of(rows, "numeric")
  b1 <- row_of(rows, "base_1"); b2 <- row_of(rows, "base_2")
  bimodal <- if (!is.null(b2))
    sprintf(" C pass on 2 vs 1 thread: median %s×, fastest call %s× the time.%s",
            fmt_ratio(b2$ms / b1$ms), fmt_ratio(b2$min / b1$min),
            if (b1$ms > 2.5 * b2$ms)
              " **Suspect yardstick:** the 1-thread C pass was more than 2.5× slower than on 2 threads, more than a second thread can explain; it was probably slowed by the machine in this run, which makes the wt_rake / C pass ratio at this n look better than it is."
            else "") else ""
  out <- c(out, sprintf("### n = %s", fmt_n(n)), "", md_table(df), "",
           sprintf("wt_rake / C_cell_sum_w: %s.%s numeric(n) alone takes %.0f%% of wt_rake's 1-thread time.",
                   paste(unlist(lapply(thread_set, ratio_line)), collapse = ", "),
                   if (!is.null(u2)) sprintf(" wt_rake on 2 threads vs 1: %s× the time.", fmt_ratio(u2$ms / u1)) else "",
                   100 * nu$ms / u1),
           if (nzchar(bimodal)) trimws(bimodal),
           sprintf("wt_rake's largest relative margin error: %s.", paste(mx, collapse = "; ")), "")
}

# ---- targets ----
tg_lines <- c("### Targets", "")
r6 <- rows_all[["1e+06"]]
if (is.null(r6)) {
  tg_lines <- c(tg_lines, "- n = 1,000,000 was not run: speed targets not evaluated.")
} else {
  u1 <- row_of(r6, "umf_eq_1"); b1 <- row_of(r6, "base_1")
  u2 <- row_of(r6, "umf_eq_2"); b2 <- row_of(r6, "base_2")
}
# speed against survey: rake and post-stratification, at each n with a target
for (nm in intersect(names(survey_goal), names(rows_all))) {
  rr <- rows_all[[nm]]
  for (k in list(c("umf_eq", "survey", "wt_rake", "survey::rake"),
                 c("umf_ps", "survey_ps", "wt_poststrat", "survey::postStratify"))) {
    ua <- row_of(rr, paste0(k[1L], "_1")); ub <- row_of(rr, paste0(k[1L], "_2")); sv <- row_of(rr, k[2L])
    if (is.null(ua) || is.null(sv)) next
    sp <- sv$ms / ua$ms
    goal <- survey_goal[[nm]]
    # the floor: what the goal allows against allocating the result alone
    # and one plain C pass over the rows, measured in the same run
    nu <- row_of(rr, "numeric"); b1 <- row_of(rr, "base_1")
    below_floor <- sp < goal && !is.null(nu) && sv$ms / goal < nu$ms
    floor_txt <- if (sp < goal && !is.null(nu) && !is.null(b1)) sprintf(
      ". Floor: %s× would need %s ms; in this run allocating the n-double result alone (`numeric(n)`) took %s ms and one plain C pass over the rows (C_cell_sum_w) %s ms, so %s; %s takes %s× `numeric(n)` and %s× the C pass",
      fmt_n(goal), fmt_ms(sv$ms / goal), fmt_ms(nu$ms), fmt_ms(b1$ms),
      if (below_floor) "the target is below the cost of the result's allocation"
      else if (sv$ms / goal < b1$ms) "the target is below the cost of one pass over the rows"
      else "the target is above the floor",
      k[3L], fmt_ratio(ua$ms / nu$ms), fmt_ratio(ua$ms / b1$ms)) else ""
    tg_lines <- c(tg_lines, sprintf(
      "- At n = %s, %s at least %s× faster than %s: **%s** — %s× (%s 1 thread %s ms vs %s ms, median of %d; weights agree to %s)%s%s.",
      fmt_n(as.numeric(nm)), k[3L], fmt_n(goal), k[4L],
      if (sp >= goal) "yes" else if (below_floor) "not reachable (below the floor)" else "NO",
      fmt_ratio(sp), k[3L], fmt_ms(ua$ms), fmt_ms(sv$ms), sv$reps, fmt_e(sv$diff),
      if (!is.null(ub)) sprintf("; on 2 threads %s×", fmt_ratio(sv$ms / ub$ms)) else "",
      floor_txt))
  }
}
if (!is.null(r6)) {
  rb <- u1$ms / b1$ms
  ng <- row_of(r6, "umf_nogc_1")
  tg_lines <- c(tg_lines, sprintf(
    "- At n = 1e6, wt_rake no more than 3× the plain C pass C_cell_sum_w (1 thread): **%s** — %s× (%s ms vs %s ms)%s. Caveat: timed back to back without `gc()` in between, wt_rake's median was %s ms, %s× the C pass (%s).",
    if (rb <= 3) "yes" else "NO", fmt_ratio(rb), fmt_ms(u1$ms), fmt_ms(b1$ms),
    if (!is.null(u2) && !is.null(b2)) sprintf("; on 2 threads %s× (%s ms vs %s ms)",
                                              fmt_ratio(u2$ms / b2$ms), fmt_ms(u2$ms), fmt_ms(b2$ms)) else "",
    fmt_ms(ng$ms), fmt_ratio(ng$ms / b1$ms),
    if (ng$ms / b1$ms <= 3) "also within 3×" else "over 3×: the result vector then often lands on fresh pages"))
}
if (length(extra_1thr)) {
  ns <- as.numeric(names(extra_1thr))
  small <- all(extra_1thr <= 1024^2)
  growth <- if (length(ns) > 1L) (max(extra_1thr[ns == max(ns)]) - extra_1thr[ns == min(ns)]) else 0
  flat <- length(ns) < 2L || growth <= 0.01 * 8 * (max(ns) - min(ns))
  tg_lines <- c(tg_lines, sprintf(
    "- Extra memory O(cells) (criterion: beyond the 8n-byte result at most 1 MiB at every n, and growing from the smallest to the largest n by less than 1%% of what an n-proportional buffer of doubles would): **%s** — wt_rake 1 thread allocated %s KB beyond the result at n = %s (%s cells)%s.",
    if (small && flat) "yes" else "NO",
    paste(vapply(extra_1thr, fmt_kb, ""), collapse = " / "),
    paste(vapply(ns, fmt_n, ""), collapse = " / "), fmt_n(ncell),
    if (length(ns) < 2L) "; only one size ran, growth not checked" else ""))
}
out <- c(out, tg_lines, "")
if (length(notes)) out <- c(out, "### Notes from the run", "", paste0("- ", notes), "")

bench_write(out)
