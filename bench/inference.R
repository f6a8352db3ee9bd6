# Design-based inference benchmark: a whole banner (20 column variables x 5
# row variables, 3-16 levels each, about 100 banner columns) with standard
# errors, logit confidence intervals, Rao-Scott F tests and column-proportion
# letters, from umfrage::tab() on an svy_design() with strata and clusters,
# against the equivalent survey calls per block (row variable x column
# variable):
#
#   svyby(~r, ~c, sdes, svymean)                                  percents, SEs
#   svyby(~I(r == lev), ~c, sdes, svyciprop, method = "logit",
#         vartype = "ci")                        one per row level: CIs
#   svychisq(~r + c, sdes)                                        Rao-Scott F
#   svyby(~r, ~c, sdes, svymean, covmat = TRUE) + svycontrast()   letters
#
# survey is far too slow for the whole banner, so it runs on a few randomly
# chosen blocks (3 at n <= 1e5, 1 above) and its time for all blocks is
# EXTRAPOLATED from the mean time per block; the section says so. The timed
# blocks double as the agreement check (percents, SEs, CIs, p-values and
# letters of tab() against survey's).
#
# Run through bench/run.R (`Rscript bench/run.R inference`), which assembles
# bench/RESULTS.md, or alone (`Rscript bench/inference.R`), which only writes
# bench/results/inference.md. Uses the INSTALLED umfrage. Takes a few minutes
# on 2 cores (most of it survey at n = 1e6).
#
# For a quick trial run of the script itself: UMFRAGE_BENCH_SIZES="2000"
# restricts the sizes; UMFRAGE_BENCH_INFERENCE_NCOLS="4" uses only the first
# 4 column variables of the banner (the section then says so).

source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"), local = TRUE)
bench_start("inference", peers = c("survey", "profmem"))

# ---- setup ------------------------------------------------------------------

sizes <- bench_sizes(c(5000, 1e6))
reps_for <- function(n) if (n <= 1e5) 21L else 7L        # umfrage, per thread count
survey_blocks_for <- function(n) if (n <= 1e5) 3L else 1L
survey_reps_for <- function(n) if (n <= 1e5) 3L else 1L  # per survey block
design_for <- function(n) if (n <= 1e5) c(H = 10L, M = 20L) else c(H = 50L, M = 40L)

thread_set <- bench_thread_set()
old_threads <- umfrage_threads(1L)                 # restored at the end

# The banner: 5 row variables, 20 column variables (100 banner columns).
row_levels <- c(r1 = 3L, r2 = 5L, r3 = 8L, r4 = 12L, r5 = 16L)
col_levels <- stats::setNames(rep(c(3L, 4L, 5L, 6L, 7L), 4L), sprintf("c%02d", 1:20))
ncols_env <- Sys.getenv("UMFRAGE_BENCH_INFERENCE_NCOLS")
if (nzchar(ncols_env)) col_levels <- col_levels[seq_len(min(20L, max(1L, as.integer(ncols_env))))]
rvars <- names(row_levels)
cvars <- names(col_levels)
n_blocks <- length(rvars) * length(cvars)
full_banner <- length(cvars) == 20L

# ---- data ---------------------------------------------------------------------

# H strata of M PSUs (PSU ids unique across strata), unequal PSU sizes. Each
# respondent has a latent trait z = u_psu + e (PSU effect sd 0.6, so answers
# cluster); each variable is an ordinal cut of b * z + logistic noise with a
# loading b in [-1, 1] and unequal level shares, so variables are associated
# with each other (tests, letters have something to find) and with the PSU.
# Weights: a stratum factor (unequal sampling rates) times a lognormal.
gen_data <- function(n, H, M) {
  g <- gen_clusters(n, H, M)
  z <- g$z
  mk <- function(k) ordinal_of(z, k)
  out <- c(lapply(row_levels, mk), lapply(col_levels, mk))
  clustered_df(out, g, H)
}

# ---- survey, one block --------------------------------------------------------

# Letters from survey's estimates, as tab() computes them: per row level,
# two-sided z tests of all pairs of columns (with covariance), Bonferroni
# within the row, the letter of the lower column into the higher one's cell.
survey_letters <- function(bc, rv, cv, rlev, clev, alpha = 0.05) {
  cn <- names(stats::coef(bc))
  present <- as.character(bc[[cv]])
  lab <- LETTERS[seq_along(clev)]
  con <- list(); meta <- list()
  for (j in rlev) {
    ok <- present[paste0(present, ":", rv, j) %in% cn]
    if (length(ok) < 2L) next
    pr <- utils::combn(ok, 2L)
    for (s in seq_len(ncol(pr))) {
      v <- stats::setNames(numeric(length(cn)), cn)
      v[paste0(pr[1L, s], ":", rv, j)] <- 1
      v[paste0(pr[2L, s], ":", rv, j)] <- -1
      con[[length(con) + 1L]] <- v
      meta[[length(meta) + 1L]] <- c(j, pr[1L, s], pr[2L, s])
    }
  }
  out <- matrix("", length(rlev), length(clev), dimnames = list(rlev, clev))
  if (!length(con)) return(out)
  names(con) <- paste0("k", seq_along(con))
  sc <- survey::svycontrast(bc, con)
  d <- as.vector(stats::coef(sc)); se <- as.vector(survey::SE(sc))
  pv <- ifelse(se > 0, 2 * stats::pnorm(-abs(d) / se), ifelse(d == 0, 1, 0))
  meta <- do.call(rbind, meta)
  for (j in unique(meta[, 1L])) {
    i <- which(meta[, 1L] == j)
    padj <- stats::p.adjust(pv[i], "bonferroni")
    for (s in i[padj < alpha]) {
      hi <- if (d[s] > 0) meta[s, 2L] else meta[s, 3L]
      lo <- if (d[s] > 0) meta[s, 3L] else meta[s, 2L]
      out[j, hi] <- paste0(out[j, hi], lab[match(lo, clev)])
    }
  }
  out[] <- vapply(strsplit(out, ""), function(z) paste(sort(z), collapse = ""), "")
  out
}

# The survey calls of one block, each timed; returns the times (ms) and
# the results for the agreement check.
survey_block <- function(sdes, d, rv, cv) {
  rlev <- levels(d[[rv]]); clev <- levels(d[[cv]])
  fr <- stats::as.formula(paste0("~", rv)); fc <- stats::as.formula(paste0("~", cv))
  res <- list()
  tm <- c(pct_se = NA_real_, ci = NA_real_, test = NA_real_, letters = NA_real_)
  tm[["pct_se"]] <- time_call(function() res$mean <<- survey::svyby(fr, fc, sdes, survey::svymean))[["ms"]]
  tm[["ci"]] <- time_call(function() {
    res$ci <<- lapply(rlev, function(lv) {
      f <- stats::as.formula(sprintf("~I(%s == \"%s\")", rv, lv))
      survey::svyby(f, fc, sdes, survey::svyciprop, method = "logit", vartype = "ci")
    })
  })[["ms"]]
  tm[["test"]] <- time_call(function()
    res$test <<- survey::svychisq(stats::as.formula(paste0("~", rv, " + ", cv)), sdes))[["ms"]]
  tm[["letters"]] <- time_call(function() {
    bc <- survey::svyby(fr, fc, sdes, survey::svymean, covmat = TRUE)
    res$letters <<- survey_letters(bc, rv, cv, rlev, clev)
  })[["ms"]]
  list(ms = tm, res = res)
}

# Agreement of tab()'s block with survey's results (rel() in lib/common.R).
block_agreement <- function(df, res, rv, cv, d) {
  rlev <- levels(d[[rv]])
  cb <- df[df$row_var == rv & df$col_var == cv, ]
  m <- res$mean
  present <- as.character(m[[cv]])
  grid <- expand.grid(row = rlev, col = present, stringsAsFactors = FALSE)
  i <- match(paste(grid$row, grid$col), paste(cb$row, cb$col))
  s_pct <- 100 * as.vector(as.matrix(m[, paste0(rv, rlev), drop = FALSE]))[
    (match(grid$row, rlev) - 1L) * length(present) + match(grid$col, present)]
  s_se <- 100 * as.vector(as.matrix(m[, paste0("se.", rv, rlev), drop = FALSE]))[
    (match(grid$row, rlev) - 1L) * length(present) + match(grid$col, present)]
  lo <- hi <- rep(NA_real_, nrow(grid))
  for (j in seq_along(rlev)) {
    cj <- res$ci[[j]]
    k <- which(grid$row == rlev[j])
    pos <- match(grid$col[k], as.character(cj[[cv]]))
    lo[k] <- 100 * cj$ci_l[pos]; hi[k] <- 100 * cj$ci_u[pos]
  }
  let_t <- cb$letters[i]
  let_s <- res$letters[cbind(match(grid$row, rlev), match(grid$col, colnames(res$letters)))]
  dpct <- abs(cb$pct[i] - s_pct) / abs(s_pct)
  dse <- abs(cb$se[i] - s_se) / abs(s_se)
  worst <- function(dv, what) {
    if (!any(is.finite(dv))) return(NULL)
    k <- which.max(dv)
    sprintf("%s worst at row %s, col %s: tab %.10g vs survey %.10g", what, grid$row[k], grid$col[k],
            if (what == "pct") cb$pct[i][k] else cb$se[i][k], if (what == "pct") s_pct[k] else s_se[k])
  }
  list(pct = rel(cb$pct[i], s_pct), se = rel(cb$se[i], s_se),
       ci = max(rel(cb$ci_low[i], lo), rel(cb$ci_high[i], hi)),
       p = rel(cb$p_value[i][1L], unname(res$test$p.value)),
       p_tab = cb$p_value[i][1L], p_svy = unname(res$test$p.value),
       letters_diff = sum(let_t != let_s), cells = nrow(grid),
       worst = c(worst(dpct, "pct"), worst(dse, "se")))
}

# ---- run ----------------------------------------------------------------------

results <- list()
notes <- character()
for (n in sizes) {
  set.seed(20261125 + round(log10(n)))
  dp <- design_for(n)
  say(sprintf("n = %s: data (%d strata x %d PSUs)", fmt_n(n), dp[["H"]], dp[["M"]]))
  d <- gen_data(n, dp[["H"]], dp[["M"]])
  des <- sdes <- NULL
  t_des <- time_call(function() des <<- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu))[["ms"]]
  t_sdes <- time_call(function() sdes <<- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d))[["ms"]]
  umf <- function() tab(des, rows = rvars, cols = cvars)
  umf0 <- function() tab(des, rows = rvars, cols = cvars, se = FALSE)   # counts only

  # ---- umfrage: whole banner, threads round-robin ----
  reps <- reps_for(n)
  say(sprintf("n = %s: umfrage tab(), warm-up + %d reps x %d thread setting(s)", fmt_n(n), reps, length(thread_set)))
  tt <- time_threads(list(umf, umf0), reps, thread_set)
  tabres <- tt$value; ut <- tt$ut[[1L]]; ut0 <- tt$ut[[2L]]
  ub <- alloc_bytes(umf)
  tdf <- as.data.frame(tabres)
  n_banner_cols <- sum(col_levels)

  # ---- survey: a random subset of blocks ----
  nb <- min(survey_blocks_for(n), n_blocks)
  grid <- expand.grid(rv = rvars, cv = cvars, stringsAsFactors = FALSE)
  pick <- grid[sort(sample.int(nrow(grid), nb)), , drop = FALSE]
  sreps <- survey_reps_for(n)
  blocks <- list()
  for (b in seq_len(nrow(pick))) {
    rv <- pick$rv[b]; cv <- pick$cv[b]
    say(sprintf("n = %s: survey block %s x %s (%d x %d levels), %d rep(s)", fmt_n(n), rv, cv,
                row_levels[[rv]], col_levels[[cv]], sreps))
    warns <- character()
    runs <- lapply(seq_len(sreps), function(i) withCallingHandlers(
      survey_block(sdes, d, rv, cv),
      warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") }))
    ms <- apply(do.call(rbind, lapply(runs, `[[`, "ms")), 2L, stats::median)
    ag <- block_agreement(tdf, runs[[1L]]$res, rv, cv, d)
    blocks[[b]] <- list(rv = rv, cv = cv, nr = row_levels[[rv]], nc = col_levels[[cv]],
                        ms = ms, total = sum(ms), ag = ag)
    if (length(warns)) notes <- c(notes, sprintf("n = %s, block %s x %s: survey warned: %s", fmt_n(n), rv, cv,
                                                 paste(unique(warns), collapse = "; ")))
  }
  per_block <- mean(vapply(blocks, `[[`, 0, "total"))
  comp_mean <- colMeans(do.call(rbind, lapply(blocks, `[[`, "ms")))
  cells_all <- sum(outer(row_levels, col_levels))
  cells_timed <- sum(vapply(blocks, function(b) b$nr * b$nc, 0))
  results[[as.character(n)]] <- list(
    n = n, dp = dp, reps = reps, ut = ut, ut0 = ut0, ub = ub, t_des = t_des, t_sdes = t_sdes,
    blocks = blocks, per_block = per_block, comp_mean = comp_mean,
    extrap = per_block * n_blocks,
    extrap_cells = sum(vapply(blocks, `[[`, 0, "total")) * cells_all / cells_timed,
    n_psu = length(des$psu_stratum), cells = nrow(tdf))
  rm(d, des, sdes, tabres, tdf); invisible(gc(FALSE))
}
umfrage_threads(old_threads)

# ---- write the section ----------------------------------------------------------

call_txt <- sprintf("tab(des, rows = %d row variables, cols = %d column variables)", length(rvars), length(cvars))

out <- c(
  "## Inference: whole banner with SE, CI, Rao-Scott tests and letters, `tab()` vs survey",
  "",
  run_line(c("survey", "profmem"), sizes),
  "",
  sprintf("**Setup.** A banner of %d column variables (%s levels: %d banner columns, plus Total) x %d row variables (%s levels): %d blocks.%s",
          length(cvars), paste(col_levels, collapse = "/"), sum(col_levels), length(rvars),
          paste(row_levels, collapse = "/"), n_blocks,
          if (full_banner) "" else sprintf(" **Trial run: only %d of the 20 column variables (UMFRAGE_BENCH_INFERENCE_NCOLS).**", length(cvars))),
  "Stratified cluster sample (PSU ids unique across strata, unequal PSU sizes); every answer is an ordinal",
  "cut of b·z + logistic noise with z = PSU effect (sd 0.6) + N(0, 1) and a loading b in [-1, 1], so answers",
  "cluster within PSUs and variables are associated; weights = stratum factor U(0.5, 2) × lognormal(sd 0.35).",
  sprintf("umfrage: `des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)` once (untimed), then `%s` at its defaults:", call_txt),
  "column percents, logit CIs, Rao-Scott second-order F tests, Bonferroni column-proportion letters, for every",
  "block including the Total column (which the survey timing below does not include); and, timed alternately",
  "with it, the same call with `se = FALSE` (the counts alone, the yardstick of the inference's cost).",
  "survey: `sdes <- svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)`; per block (row variable r x column",
  "variable c): `svyby(~r, ~c, sdes, svymean)` (*pct+SE*), `svyby(~I(r == lev), ~c, sdes, svyciprop, method = \"logit\", vartype = \"ci\")`",
  "for each level of r (*CI*), `svychisq(~r + c, sdes)` (*test*), and `svyby(~r, ~c, sdes, svymean, covmat = TRUE)` +",
  "one `svycontrast()` of all pairs of columns per row level + the z tests with Bonferroni (*letters*).",
  "**survey's banner time is extrapolated**: it ran only on a few randomly chosen blocks (number given per n),",
  "and its time for all blocks is the mean time per timed block × the number of blocks. Blocks differ in size",
  "(3–16 × 3–7 levels), so a second extrapolation scales the timed blocks' total by cells (all blocks' cells /",
  "timed blocks' cells) as a check of that choice.",
  "",
  "**Measuring.** Wall clock (`Sys.time()`), `gc()` before every timed call; umfrage: one warm-up call per",
  "thread setting, then 1 and 2 threads (`umfrage_threads()`) timed round-robin; *median ms* over *reps*.",
  "survey (single-threaded): each component of a block timed separately, median over the block's reps, no warm-up.",
  "*alloc MB*: bytes allocated through R during one umfrage call (1 thread), from `profmem::profmem()`.",
  "*Agreement* on the survey blocks: max relative difference |tab − survey| / |survey| over the block's cells of",
  "`pct`, `se` (survey's × 100), `ci_low`/`ci_high` (svyciprop × 100) and of the block's Rao-Scott `p_value` vs",
  "`svychisq()$p.value`; *letters differ*: cells whose letters differ from the ones built from survey's",
  "estimates as above.",
  ""
)

tg <- character()
for (res in results) {
  n <- res$n
  um <- lapply(seq_along(thread_set), function(k) res$ut[, k, 1L])
  u1 <- stats::median(um[[1L]])
  ub_ms <- min(vapply(um, stats::median, 0))
  rows <- data.frame(
    method = c(sprintf("umfrage `%s`", call_txt),
               if (length(thread_set) > 1L) sprintf("umfrage `%s`", call_txt)),
    threads = as.character(thread_set),
    reps = as.character(res$reps),
    `median ms` = vapply(um, function(x) fmt_ms(stats::median(x)), ""),
    `min–max ms` = vapply(um, function(x) paste0(fmt_ms(min(x)), "–", fmt_ms(max(x))), ""),
    `sys ms` = vapply(seq_along(thread_set), function(k) fmt_ms(stats::median(res$ut[, k, 2L])), ""),
    `survey / umfrage` = vapply(um, function(x) fmt_ratio(res$extrap / stats::median(x)), ""),
    `alloc MB` = c(fmt_mb(res$ub), if (length(thread_set) > 1L) "—"),
    check.names = FALSE, stringsAsFactors = FALSE)
  # the same banner's counts alone (se = FALSE), timed alongside
  um0 <- lapply(seq_along(thread_set), function(k) res$ut0[, k, 1L])
  rows0 <- data.frame(
    method = sprintf("umfrage `%s`, counts only (`se = FALSE`)", call_txt),
    threads = as.character(thread_set), reps = as.character(res$reps),
    `median ms` = vapply(um0, function(x) fmt_ms(stats::median(x)), ""),
    `min–max ms` = vapply(um0, function(x) paste0(fmt_ms(min(x)), "–", fmt_ms(max(x))), ""),
    `sys ms` = vapply(seq_along(thread_set), function(k) fmt_ms(stats::median(res$ut0[, k, 2L])), ""),
    `survey / umfrage` = "", `alloc MB` = "—", check.names = FALSE, stringsAsFactors = FALSE)
  rows <- rbind(rows, rows0)
  nb <- length(res$blocks)
  srow <- data.frame(
    method = c(sprintf("survey, all %d blocks, **extrapolated** from %d timed block%s (mean per block × %d)",
                       n_blocks, nb, if (nb > 1L) "s" else "", n_blocks),
               sprintf("survey, all %d blocks, extrapolated by cells (check)", n_blocks)),
    threads = "1", reps = as.character(survey_reps_for(n)),
    `median ms` = c(fmt_ms(res$extrap), fmt_ms(res$extrap_cells)),
    `min–max ms` = "", `sys ms` = "",
    `survey / umfrage` = c(fmt_ratio(res$extrap / u1), fmt_ratio(res$extrap_cells / u1)),
    `alloc MB` = "—", check.names = FALSE, stringsAsFactors = FALSE)
  bt <- data.frame(
    `survey block` = vapply(res$blocks, function(b) sprintf("%s × %s (%d × %d)", b$rv, b$cv, b$nr, b$nc), ""),
    `pct+SE ms` = vapply(res$blocks, function(b) fmt_ms(b$ms[["pct_se"]]), ""),
    `CI ms` = vapply(res$blocks, function(b) fmt_ms(b$ms[["ci"]]), ""),
    `test ms` = vapply(res$blocks, function(b) fmt_ms(b$ms[["test"]]), ""),
    `letters ms` = vapply(res$blocks, function(b) fmt_ms(b$ms[["letters"]]), ""),
    `block ms` = vapply(res$blocks, function(b) fmt_ms(b$total), ""),
    `pct rel diff` = vapply(res$blocks, function(b) fmt_e(b$ag$pct), ""),
    `SE rel diff` = vapply(res$blocks, function(b) fmt_e(b$ag$se), ""),
    `CI rel diff` = vapply(res$blocks, function(b) fmt_e(b$ag$ci), ""),
    `p rel diff` = vapply(res$blocks, function(b) sprintf("%s (%.3g vs %.3g)", fmt_e(b$ag$p), b$ag$p_tab, b$ag$p_svy), ""),
    `letters differ` = vapply(res$blocks, function(b) sprintf("%d of %d", b$ag$letters_diff, b$ag$cells), ""),
    check.names = FALSE, stringsAsFactors = FALSE)
  cm <- res$comp_mean
  out <- c(out, sprintf("### n = %s", fmt_n(n)), "",
           sprintf("%d strata × %d PSUs (%s PSUs); tab() result: %s cells. Building the designs (untimed above): `svy_design()` %s ms, `svydesign()` %s ms.",
                   res$dp[["H"]], res$dp[["M"]], fmt_n(res$n_psu), fmt_n(res$cells), fmt_ms(res$t_des), fmt_ms(res$t_sdes)),
           "", md_table(rbind(rows, srow)), "",
           sprintf("Timed survey block%s (median of %d rep%s each) and agreement with tab():",
                   if (nb > 1L) "s" else "", survey_reps_for(n), if (survey_reps_for(n) > 1L) "s" else ""),
           "", md_table(bt), "",
           sprintf("survey's mean time per block: %s ms (pct+SE %s, CI %s, test %s, letters %s).",
                   fmt_ms(res$per_block), fmt_ms(cm[["pct_se"]]), fmt_ms(cm[["ci"]]),
                   fmt_ms(cm[["test"]]), fmt_ms(cm[["letters"]])), "")
  worst <- unlist(lapply(res$blocks, function(b) {
    bad <- c(b$ag$pct, b$ag$se) > 1e-8
    if (any(bad, na.rm = TRUE)) sprintf("n = %s, block %s × %s: %s", fmt_n(n), b$rv, b$cv, paste(b$ag$worst, collapse = "; "))
  }))
  if (length(worst)) notes <- c(notes, paste("Percents/SEs differ from survey's by more than 1e-8 relative:", worst))

  if (n == 5000) {
    c1 <- stats::median(um0[[1L]])
    tg <- c(tg, sprintf("- Whole n = 5,000 banner with SE, CI, tests and letters at most 2× its counts alone (`se = FALSE`), 1 thread: **%s** — %s ms vs %s ms (%s×; medians, timed alternately).",
                        if (u1 <= 2 * c1) "yes" else "NO", fmt_ms(u1), fmt_ms(c1), fmt_ratio(u1 / c1)))
    ok <- u1 < 50
    tg <- c(tg, sprintf("- Whole n = 5,000 banner (%d blocks%s) in under 50 ms with umfrage: **%s** — median %s ms on 1 thread%s.",
                        n_blocks, if (full_banner) "" else ", trial banner: NOT the target's 100", if (ok) "yes" else "NO",
                        fmt_ms(u1), if (length(um) > 1L) sprintf(", %s ms on 2 threads", fmt_ms(stats::median(um[[2L]]))) else ""))
  }
  if (n == 1e6) {
    sp <- res$extrap / u1
    lean <- (res$per_block - res$comp_mean[["pct_se"]]) * n_blocks / u1
    tg <- c(tg, sprintf("- At n = 1,000,000, umfrage at least 500× faster than survey (**extrapolated** from %d block%s): **%s** — %s× on 1 thread (%s ms vs survey %s ms)%s; by the cell-scaled extrapolation %s×; even without the separate svymean svyby (the covmat = TRUE one gives the same percents and SEs) %s×.",
                        length(res$blocks), if (length(res$blocks) > 1L) "s" else "", if (sp >= 500) "yes" else "NO",
                        fmt_ratio(sp), fmt_ms(u1), fmt_ms(res$extrap),
                        if (length(um) > 1L) sprintf(", %s× on 2 threads", fmt_ratio(res$extrap / stats::median(um[[2L]]))) else "",
                        fmt_ratio(res$extrap_cells / u1), fmt_ratio(lean)))
  }
}
if (!any(sizes == 5000)) tg <- c(tg, "- n = 5,000 was not run: the 50 ms target was not evaluated.")
if (!any(sizes == 1e6)) tg <- c(tg, "- n = 1,000,000 was not run: the 500× target was not evaluated.")
out <- c(out, "### Targets", "", tg, "")
if (length(notes)) out <- c(out, "### Notes from the run", "", paste0("- ", notes), "")

bench_write(out)
