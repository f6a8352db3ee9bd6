# Numeric rows benchmark: a banner of 20 column variables (3-7 levels each,
# 100 banner columns plus Total) x 10 numeric rows (weighted means with
# t confidence intervals and significance letters from design-based t tests
# between the columns of each column variable), from umfrage::tab() with
# mean_of() rows on an svy_design() with strata and clusters, against the
# equivalent survey calls per block (numeric variable y x column variable c):
#
#   svyby(~y, ~c, subset(sdes, !is.na(y)), svymean, covmat = TRUE) means, SEs
#   confint(<that>, df = <domain df>)                              t CIs
#   svycontrast(<that>, <all pairs of columns>) + t tests          letters
#
# survey's letters here are the cheap route (one svycontrast() of all pairs
# on the svyby() covariance and t tests with df counted in base R), not
# svyttest() per pair, which gives the same p-values at many times the cost:
# survey's time is thus a lower bound of what the equivalent survey calls
# cost.
#
# survey is far too slow for the whole banner at n = 1e6, so it runs on a few
# randomly chosen blocks and its time for all blocks is EXTRAPOLATED from the
# mean time per block; the section says so. The timed blocks double as the
# agreement check (means, SEs, CIs and letters of tab() against survey's).
#
# Run through bench/run.R (`Rscript bench/run.R numeric`), or alone
# (`Rscript bench/numeric.R`), which writes bench/results/numeric.md. Uses
# the INSTALLED umfrage. UMFRAGE_BENCH_SIZES="5000" for a trial run.

source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"), local = TRUE)
bench_start("numeric", peers = c("survey", "profmem"))

# ---- setup ------------------------------------------------------------------

sizes <- bench_sizes(c(5000, 1e6))
reps_for <- function(n) if (n <= 1e5) 21L else 7L
survey_blocks_for <- function(n) if (n <= 1e5) 4L else 2L
design_for <- function(n) if (n <= 1e5) c(H = 10L, M = 20L) else c(H = 50L, M = 40L)

thread_set <- bench_thread_set()
old_threads <- umfrage_threads(1L)

col_levels <- stats::setNames(rep(c(3L, 4L, 5L, 6L, 7L), 4L), sprintf("c%02d", 1:20))
yvars <- sprintf("y%02d", 1:10)
cvars <- names(col_levels)
n_blocks <- length(yvars) * length(cvars)

# ---- data ---------------------------------------------------------------------

# H strata of M PSUs (unequal sizes). A latent z = PSU effect (sd 0.6) +
# N(0, 1); every column variable an ordinal cut of b z + logistic noise; every
# numeric variable a lognormal in a z + noise (so means differ between
# columns and cluster within PSUs), 2 % missing at random.
gen_data <- function(n, H, M) {
  g <- gen_clusters(n, H, M)
  z <- g$z
  mk <- function(k) ordinal_of(z, k)
  num <- function(i) {
    y <- exp(3 + 0.3 * stats::runif(1L, -1, 1) * z + stats::rnorm(n, 0, 0.5))
    y[stats::runif(n) < 0.02] <- NA
    y
  }
  out <- c(lapply(col_levels, mk), stats::setNames(lapply(seq_along(yvars), num), yvars))
  clustered_df(out, g, H)
}

# Degrees of freedom of a domain as survey's degf() on the subset: PSUs
# with a used row minus their strata.
dom_df <- function(d, keep) {
  p <- unique(d$psu[keep])
  length(p) - length(unique(d$st[d$psu %in% p]))
}

# ---- survey, one block ----------------------------------------------------------

survey_block <- function(sdes, d, yv, cv, level = 0.95, alpha = 0.05) {
  clev <- levels(d[[cv]])
  fy <- stats::as.formula(paste0("~", yv)); fc <- stats::as.formula(paste0("~", cv))
  res <- list()
  tm <- c(mean_se = NA_real_, ci = NA_real_, letters = NA_real_)
  # svyby(covmat = TRUE) fails on a variable with NA (survey 4.1.1:
  # "inflmats ... replacement length"), so the rows with y missing leave
  # the design by subset() first (timed): the same estimates as na.rm = TRUE
  tm[["mean_se"]] <- time_call(function() {
    sd_y <- subset(sdes, !is.na(d[[yv]]))
    res$by <<- survey::svyby(fy, fc, sd_y, survey::svymean, covmat = TRUE)
  })[["ms"]]
  ok <- !is.na(d[[yv]])
  tm[["ci"]] <- time_call(function() {
    dfs <- vapply(clev, function(l) dom_df(d, ok & d[[cv]] == l), 0)
    est <- stats::coef(res$by); se <- survey::SE(res$by)
    q <- stats::qt(1 - (1 - level) / 2, dfs)
    res$ci <<- cbind(est - q * se, est + q * se)
  })[["ms"]]
  tm[["letters"]] <- time_call(function() {
    pr <- utils::combn(seq_along(clev), 2L)
    con <- lapply(seq_len(ncol(pr)), function(s) {
      v <- numeric(length(clev)); v[pr[1L, s]] <- 1; v[pr[2L, s]] <- -1; v
    })
    names(con) <- paste0("k", seq_along(con))
    sc <- survey::svycontrast(res$by, con)
    dd <- as.vector(stats::coef(sc)); se <- as.vector(survey::SE(sc))
    dfp <- vapply(seq_len(ncol(pr)), function(s)
      dom_df(d, ok & d[[cv]] %in% clev[pr[, s]]) - 1, 0)
    pv <- 2 * stats::pt(-abs(dd / se), dfp)
    padj <- stats::p.adjust(pv, "bonferroni")
    out <- rep("", length(clev))
    for (s in which(padj < alpha)) {
      hi <- if (dd[s] > 0) pr[1L, s] else pr[2L, s]
      lo <- if (dd[s] > 0) pr[2L, s] else pr[1L, s]
      out[hi] <- paste0(out[hi], LETTERS[lo])
    }
    res$letters <<- vapply(strsplit(out, ""), function(z) paste(sort(z), collapse = ""), "")
  })[["ms"]]
  list(ms = tm, res = res)
}

block_agreement <- function(df, res, yv, cv, d) {
  clev <- levels(d[[cv]])
  cb <- df[df$col_var == cv & grepl(yv, df$row_var, fixed = TRUE), ]
  i <- match(clev, as.character(cb$col))
  let_t <- gsub(",", "", cb$letters[i], fixed = TRUE)
  list(mean = rel(cb$estimate[i], unname(stats::coef(res$by))),
       se = rel(cb$se[i], unname(survey::SE(res$by))),
       ci = max(rel(cb$ci_low[i], unname(res$ci[, 1L])), rel(cb$ci_high[i], unname(res$ci[, 2L]))),
       letters_diff = sum(let_t != res$letters), cells = length(clev),
       letters_any = sum(nzchar(res$letters)))
}

# ---- run ----------------------------------------------------------------------

results <- list()
notes <- character()
for (n in sizes) {
  set.seed(20261130 + round(log10(n)))
  dp <- design_for(n)
  say(sprintf("n = %s: data (%d strata x %d PSUs)", fmt_n(n), dp[["H"]], dp[["M"]]))
  d <- gen_data(n, dp[["H"]], dp[["M"]])
  des <- sdes <- NULL
  t_des <- time_call(function() des <<- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu))[["ms"]]
  t_sdes <- time_call(function() sdes <<- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d))[["ms"]]
  rows <- lapply(yvars, mean_of)
  umf <- function() tab(des, rows = rows, cols = cvars)

  reps <- reps_for(n)
  say(sprintf("n = %s: umfrage tab(), warm-up + %d reps x %d thread setting(s)", fmt_n(n), reps, length(thread_set)))
  tt <- time_threads(list(umf), reps, thread_set)
  tabres <- tt$value; ut <- tt$ut[[1L]]
  ub <- alloc_bytes(umf)
  tdf <- as.data.frame(tabres)

  nb <- min(survey_blocks_for(n), n_blocks)
  grid <- expand.grid(yv = yvars, cv = cvars, stringsAsFactors = FALSE)
  pick <- grid[sort(sample.int(nrow(grid), nb)), , drop = FALSE]
  blocks <- list()
  for (b in seq_len(nrow(pick))) {
    yv <- pick$yv[b]; cv <- pick$cv[b]
    say(sprintf("n = %s: survey block %s x %s (%d columns)", fmt_n(n), yv, cv, col_levels[[cv]]))
    warns <- character()
    run <- withCallingHandlers(survey_block(sdes, d, yv, cv),
      warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
    ag <- block_agreement(tdf, run$res, yv, cv, d)
    blocks[[b]] <- list(yv = yv, cv = cv, nc = col_levels[[cv]], ms = run$ms, total = sum(run$ms), ag = ag)
    if (length(warns)) notes <- c(notes, sprintf("n = %s, block %s x %s: survey warned: %s", fmt_n(n), yv, cv,
                                                 paste(unique(warns), collapse = "; ")))
  }
  per_block <- mean(vapply(blocks, `[[`, 0, "total"))
  cols_all <- length(yvars) * sum(col_levels)
  cols_timed <- sum(vapply(blocks, `[[`, 0, "nc"))
  results[[as.character(n)]] <- list(
    n = n, dp = dp, reps = reps, ut = ut, ub = ub, t_des = t_des, t_sdes = t_sdes,
    blocks = blocks, per_block = per_block,
    comp_mean = colMeans(do.call(rbind, lapply(blocks, `[[`, "ms"))),
    extrap = per_block * n_blocks,
    extrap_cols = sum(vapply(blocks, `[[`, 0, "total")) * cols_all / cols_timed,
    n_psu = length(unique(d$psu)), cells = nrow(tdf))
  rm(d, des, sdes, tabres, tdf); invisible(gc(FALSE))
}
umfrage_threads(old_threads)

# ---- write the section ----------------------------------------------------------

call_txt <- sprintf("tab(des, rows = lapply(%s, mean_of), cols = %d column variables)",
                    "<10 numeric variables>", length(cvars))
out <- c(
  "## Numeric rows: a banner of means with CIs and letters, `tab()` vs survey",
  "",
  run_line(c("survey", "profmem"), sizes),
  "",
  sprintf("**Setup.** %d numeric variables (lognormal, associated with a latent trait that clusters within PSUs; 2 %% missing) as `mean_of()` rows x a banner of %d column variables (%s levels: %d banner columns, plus Total): %d blocks.",
          length(yvars), length(cvars), paste(col_levels, collapse = "/"), sum(col_levels), n_blocks),
  "Stratified cluster sample (PSU ids unique across strata, unequal PSU sizes); weights = stratum factor U(0.5, 2) × lognormal(sd 0.35).",
  sprintf("umfrage: `des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)` once (untimed), then `%s` at its defaults:", call_txt),
  "weighted means with linearised SEs, t intervals with the domain's degrees of freedom, and Bonferroni-adjusted",
  "letters from design-based t tests between the columns of each column variable, for every block including the Total column",
  "(which the survey timing does not include).",
  "survey: `sdes <- svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)`; per block (numeric variable y x column",
  "variable c): `svyby(~y, ~c, subset(sdes, !is.na(y)), svymean, covmat = TRUE)` (*mean+SE*; survey 4.1.1's `covmat = TRUE` fails with `na.rm = TRUE`), t intervals from its",
  "SEs with each domain's df counted in base R (*CI*), and one `svycontrast()` of all pairs of columns + t tests",
  "(df: the pair's PSUs minus strata minus 1, as `svyttest()` on the pair's subset) + Bonferroni (*letters*).",
  "This is the cheapest survey route to the same numbers, so survey's time is a lower bound.",
  "**survey's banner time is extrapolated** from the randomly chosen timed blocks (mean time per block × the number of",
  "blocks); a second extrapolation scales by the blocks' columns as a check.",
  "",
  "**Measuring.** Wall clock, `gc()` before every timed call; umfrage: one warm-up per thread setting, then 1 and 2",
  "threads timed round-robin, *median ms* over *reps*; survey: each component timed once per block.",
  "*alloc MB*: bytes allocated through R during one umfrage call (profmem). *Agreement*: max relative difference of",
  "tab()'s `estimate`, `se`, `ci_low`/`ci_high` from survey's on the timed blocks, and cells whose letters differ.",
  ""
)
tg <- character()
for (res in results) {
  n <- res$n
  um <- lapply(seq_along(thread_set), function(k) res$ut[, k, 1L])
  u1 <- stats::median(um[[1L]])
  rows <- data.frame(
    method = sprintf("umfrage `%s`", call_txt),
    threads = as.character(thread_set), reps = as.character(res$reps),
    `median ms` = vapply(um, function(x) fmt_ms(stats::median(x)), ""),
    `min–max ms` = vapply(um, function(x) paste0(fmt_ms(min(x)), "–", fmt_ms(max(x))), ""),
    `survey / umfrage` = vapply(um, function(x) fmt_ratio(res$extrap / stats::median(x)), ""),
    `alloc MB` = c(fmt_mb(res$ub), rep("—", length(thread_set) - 1L)),
    check.names = FALSE, stringsAsFactors = FALSE)
  nb <- length(res$blocks)
  srow <- data.frame(
    method = c(sprintf("survey, all %d blocks, **extrapolated** from %d timed block%s (mean per block × %d)",
                       n_blocks, nb, if (nb > 1L) "s" else "", n_blocks),
               sprintf("survey, all %d blocks, extrapolated by columns (check)", n_blocks)),
    threads = "1", reps = "1", `median ms` = c(fmt_ms(res$extrap), fmt_ms(res$extrap_cols)),
    `min–max ms` = "", `survey / umfrage` = c(fmt_ratio(res$extrap / u1), fmt_ratio(res$extrap_cols / u1)),
    `alloc MB` = "—", check.names = FALSE, stringsAsFactors = FALSE)
  bt <- data.frame(
    `survey block` = vapply(res$blocks, function(b) sprintf("%s × %s (%d columns)", b$yv, b$cv, b$nc), ""),
    `mean+SE ms` = vapply(res$blocks, function(b) fmt_ms(b$ms[["mean_se"]]), ""),
    `CI ms` = vapply(res$blocks, function(b) fmt_ms(b$ms[["ci"]]), ""),
    `letters ms` = vapply(res$blocks, function(b) fmt_ms(b$ms[["letters"]]), ""),
    `block ms` = vapply(res$blocks, function(b) fmt_ms(b$total), ""),
    `mean rel diff` = vapply(res$blocks, function(b) fmt_e(b$ag$mean), ""),
    `SE rel diff` = vapply(res$blocks, function(b) fmt_e(b$ag$se), ""),
    `CI rel diff` = vapply(res$blocks, function(b) fmt_e(b$ag$ci), ""),
    `letters differ` = vapply(res$blocks, function(b) sprintf("%d of %d (%d with letters)", b$ag$letters_diff, b$ag$cells, b$ag$letters_any), ""),
    check.names = FALSE, stringsAsFactors = FALSE)
  out <- c(out, sprintf("### n = %s", fmt_n(n)), "",
           sprintf("%d strata × %d PSUs (%s PSUs); tab() result: %s cells. Building the designs (untimed): `svy_design()` %s ms, `svydesign()` %s ms.",
                   res$dp[["H"]], res$dp[["M"]], fmt_n(res$n_psu), fmt_n(res$cells), fmt_ms(res$t_des), fmt_ms(res$t_sdes)),
           "", md_table(rbind(rows, srow)), "",
           "Timed survey blocks and agreement with tab():", "", md_table(bt), "",
           sprintf("survey's mean time per block: %s ms (mean+SE %s, CI %s, letters %s).",
                   fmt_ms(res$per_block), fmt_ms(res$comp_mean[["mean_se"]]), fmt_ms(res$comp_mean[["ci"]]),
                   fmt_ms(res$comp_mean[["letters"]])), "")
  bad <- vapply(res$blocks, function(b) max(b$ag$mean, b$ag$se, b$ag$ci, na.rm = TRUE) > 1e-8 || b$ag$letters_diff > 0, NA)
  if (any(bad)) notes <- c(notes, sprintf("n = %s: %d timed block(s) differ from survey by more than 1e-8 or in letters", fmt_n(n), sum(bad)))
  if (n == 1e6) {
    sp <- res$extrap / u1
    tg <- c(tg, sprintf("- At n = 1,000,000, a 20-column banner with 10 numeric rows (means, CIs, letters) at least 500× faster than the equivalent survey calls (**extrapolated** from %d blocks): **%s** — %s× on 1 thread (%s ms vs survey %s ms)%s; by the column-scaled extrapolation %s×.",
                        nb, if (sp >= 500) "yes" else "NO", fmt_ratio(sp), fmt_ms(u1), fmt_ms(res$extrap),
                        if (length(um) > 1L) sprintf(", %s× on 2 threads", fmt_ratio(res$extrap / stats::median(um[[2L]]))) else "",
                        fmt_ratio(res$extrap_cols / u1)))
  }
}
if (!any(sizes == 1e6)) tg <- c(tg, "- n = 1,000,000 was not run: the 500× target was not evaluated.")
out <- c(out, "### Targets", "", tg, "")
if (length(notes)) out <- c(out, "### Notes from the run", "", paste0("- ", notes), "")

bench_write(out)
