# Replicate-weight benchmark (issue 17): tables on a 200-replicate re-raked
# bootstrap design, umfrage against survey in the same run.
#
#   umfrage: w <- wt_rake(d, 4 margins (~2000 cells), weights = w0)
#            rd <- as_repdesign(svy_design(d, strata = ~h, cluster = ~psu, weights = w),
#                               "bootstrap", replicates = 200)   # draws + re-raking
#            tab(rd, rows = list(r1, r2, r3, mean_of(y)), cols = c(c1, c2),
#                ci = "logit", test = "F", letters = TRUE)
#   survey:  rdes <- as.svrepdesign(svydesign(~psu, strata = ~h, weights = ~w0), "bootstrap", 200)
#            rs <- rake(rdes, 4 margins)
#            per block (row x column variable): svyby(~r, ~c, rs, svymean) (percents, SEs),
#            svyciprop(~I(r == lev), subset, "logit") per (level, column) (CIs),
#            svychisq(~r + c, rs) (Rao-Scott F); the mean row: svyby(~y, ~c, rs, svymean)
#
# The same seed gives the same bootstrap replicates in both (as_repdesign()
# draws as survey does), so the timed survey blocks double as the agreement
# check. survey holds the replicate weights as an n x 200 matrix per copy
# (1.6 GB at n = 1e6) and re-rakes by repeated postStratify() over it. At
# n <= UMFRAGE_BENCH_SURVEY_MAX (default 1e5) survey runs: the re-raking,
# every block's percents, SEs and test, the mean row, and CIs for one
# (level, column) pair per block (the CI time is multiplied by the number of
# (level, column) pairs). Above it survey does NOT run: each of its parts
# is EXTRAPOLATED linearly in n from the largest size it ran at (its work
# is n x R matrix arithmetic; at 1e6 it would need several GB), and the
# section says so.
#
# umfrage's time is split into the re-raking (rep_recalibrate()), the rest
# of as_repdesign() (the bootstrap draws, in R as survey draws them, and
# the design's df), and tab(), whose C time (passes over the rows and the
# domain ranks: .Call in Rprof) is shown apart from the R time (inference on
# the replicate totals). Peak memory: R's heap (gc()'s max used, which
# includes the C code's R_alloc buffers) during as_repdesign() and tab().
#
# Run through bench/run.R (`Rscript bench/run.R replicate`) or alone
# (`Rscript bench/replicate.R`, writes bench/results/replicate.md). Uses
# the INSTALLED umfrage. Trial runs: UMFRAGE_BENCH_SIZES="20000".

source(file.path(dirname(sub("^--file=", "", c(grep("^--file=", commandArgs(FALSE), value = TRUE), "bench/.")[1L])), "lib", "common.R"), local = TRUE)
bench_start("replicate", peers = c("survey"))
suppressPackageStartupMessages(library(survey))

sizes <- c(1e5, 1e6)
env_sizes <- Sys.getenv("UMFRAGE_BENCH_SIZES")
if (nzchar(env_sizes)) sizes <- as.numeric(strsplit(env_sizes, "[ ,]+")[[1L]])
R <- 200L
H <- 50L
M <- 40L                               # PSUs per stratum: 2000 PSUs
margins <- c(m1 = 10L, m2 = 10L, m3 = 5L, m4 = 4L)   # 2000 raking cells
row_levels <- c(r1 = 3L, r2 = 5L, r3 = 8L)
col_levels <- c(c1 = 3L, c2 = 4L)
reps_for <- function(n) if (n <= 1e5) 5L else 3L
survey_max <- as.numeric(Sys.getenv("UMFRAGE_BENCH_SURVEY_MAX", "1e5"))
peak_mb <- function(f) {
  invisible(gc(reset = TRUE))
  f()
  g <- gc()
  sum(g[, ncol(g)])        # max used, Mb (Ncells + Vcells)
}

make_data <- function(n) {
  set.seed(17)
  psu <- sort(sample.int(H * M, n, replace = TRUE, prob = stats::rgamma(H * M, 4)))
  psu[seq_len(H * M)] <- seq_len(H * M)                 # every PSU sampled
  psu <- sort(psu)
  u <- stats::rnorm(H * M, sd = 0.6)[psu]
  z <- u + stats::rnorm(n)
  cut_ord <- function(k, b) {
    x <- b * z + stats::rlogis(n)
    as.integer(cut(x, stats::quantile(x, seq(0, 1, length.out = k + 1L)), include.lowest = TRUE))
  }
  d <- data.frame(h = (psu - 1L) %/% M + 1L, psu = psu)
  for (v in names(margins)) d[[v]] <- sample.int(margins[[v]], n, replace = TRUE,
                                                 prob = seq_len(margins[[v]]) + 2)
  for (v in names(row_levels)) d[[v]] <- cut_ord(row_levels[[v]], 0.8)
  for (v in names(col_levels)) d[[v]] <- cut_ord(col_levels[[v]], 0.5)
  d$y <- 50 + 10 * z + stats::rnorm(n, sd = 5)
  d$w0 <- stats::runif(n, 50, 150)
  d
}
# population margins: the sample's, shifted so that raking has work to do
targets_of <- function(d) {
  N <- sum(d$w0) * 1.1
  lapply(stats::setNames(names(margins), names(margins)), function(v) {
    p <- tabulate(d[[v]], margins[[v]]) * (1 + 0.3 * sin(seq_len(margins[[v]])))
    stats::setNames(N * p / sum(p), as.character(seq_len(margins[[v]])))
  })
}

rel <- function(a, b) max(abs(a - b) / pmax(abs(b), 1e-12), na.rm = TRUE)

run_size <- function(n) {
  say(sprintf("n = %s: data", fmt_n(n)))
  d <- make_data(n)
  tg <- targets_of(d)
  reps <- reps_for(n)
  # ---- umfrage
  w <- wt_rake(d, tg, weights = d$w0, epsilon = 1e-12)
  des <- svy_design(d, strata = ~h, cluster = ~psu, weights = w)
  cal <- des$calibration
  rd <- NULL
  t_asrep <- vapply(seq_len(reps), function(i) {
    set.seed(99)
    time_call(function() rd <<- as_repdesign(des, "bootstrap", replicates = R))[["ms"]]
  }, 0)
  t_recal <- vapply(seq_len(reps), function(i)
    time_call(function() umfrage:::rep_recalibrate(d, cal, rd$rep$unit, rd$rep$A, d$w0))[["ms"]], 0)
  rows <- c(as.list(names(row_levels)), list(mean_of("y")))
  tb <- NULL
  t_tab <- vapply(seq_len(reps), function(i)
    time_call(function() tb <<- as.data.frame(tab(rd, rows = rows, cols = names(col_levels), ci = "logit",
                                                  test = "F", letters = TRUE)))[["ms"]], 0)
  say(sprintf("n = %s: umfrage as_repdesign %s ms (re-raking %s ms), tab %s ms", fmt_n(n),
              fmt_ms(stats::median(t_asrep)), fmt_ms(stats::median(t_recal)), fmt_ms(stats::median(t_tab))))
  # tab()'s C share, and peak memory
  pf <- tempfile()
  utils::Rprof(pf, interval = 0.002)
  invisible(tab(rd, rows = rows, cols = names(col_levels), ci = "logit", test = "F", letters = TRUE))
  utils::Rprof(NULL)
  sp <- utils::summaryRprof(pf)
  # Rprof charges a .Call to the R function making it: the C passes are the
  # self time of the thin wrappers around them, the ranks rep_rank_rows()'s
  self <- stats::setNames(sp$by.self$self.time, gsub('"', "", rownames(sp$by.self)))
  st <- function(f) sum(self[intersect(f, names(self))])
  c_share <- st(c("rep_block_units", "upass", "rep_block", "rep_num_block", "rep_layer_design")) / sp$sampling.time
  rank_share <- st("rep_rank_rows") / sp$sampling.time
  unlink(pf)
  mem_asrep <- peak_mb(function() { set.seed(99); as_repdesign(des, "bootstrap", replicates = R) })
  mem_tab <- peak_mb(function() tab(rd, rows = rows, cols = names(col_levels), ci = "logit", test = "F",
                                    letters = TRUE))
  ures <- list(n = n, t_asrep = t_asrep, t_recal = t_recal, t_tab = t_tab, c_share = c_share, rank_share = rank_share,
             mem_asrep = mem_asrep, mem_tab = mem_tab, ncell = length(unique(rd$rep$g)),
             npairs = nrow(unique(cbind(rd$rep$unit, rd$rep$g))))
  if (n > survey_max) {
    say(sprintf("n = %s: survey not run (n > %s): extrapolated", fmt_n(n), fmt_n(survey_max)))
    return(c(ures, list(survey = FALSE)))
  }
  # ---- survey
  dd <- d
  for (v in c(names(margins), names(row_levels), names(col_levels))) dd[[v]] <- factor(dd[[v]])
  pops <- lapply(names(margins), function(v) {
    p <- data.frame(factor(names(tg[[v]]), levels = levels(dd[[v]])), Freq = unname(tg[[v]]))
    names(p)[1L] <- v
    p
  })
  sdes <- NULL
  rdes <- NULL
  rs <- NULL
  t_sdes <- time_call(function() {
    sdes <<- svydesign(ids = ~psu, strata = ~h, weights = ~w0, data = dd, nest = TRUE)
    set.seed(99)
    rdes <<- as.svrepdesign(sdes, type = "bootstrap", replicates = R)
  })[["ms"]]
  say(sprintf("n = %s: survey rake()", fmt_n(n)))
  t_srake <- time_call(function()
    rs <<- rake(rdes, lapply(names(margins), function(v) stats::as.formula(paste0("~", v))), pops,
                control = list(maxit = 100, epsilon = 1e-12)))[["ms"]]
  rm(rdes)
  big <- FALSE
  blocks <- expand.grid(r = names(row_levels), c = names(col_levels), stringsAsFactors = FALSE)
  timed <- if (big) blocks[1L, , drop = FALSE] else blocks
  ag <- c(pct = 0, se = 0, ci = 0, p = 0, mean = 0, mean_se = 0)
  bt <- list()
  for (k in seq_len(nrow(timed))) {
    rv <- timed$r[k]; cv <- timed$c[k]
    say(sprintf("n = %s: survey block %s x %s", fmt_n(n), rv, cv))
    f_r <- stats::as.formula(paste0("~", rv)); f_c <- stats::as.formula(paste0("~", cv))
    sb <- NULL; sq <- NULL; cp <- NULL
    t1 <- time_call(function() sb <<- svyby(f_r, f_c, rs, svymean))[["ms"]]
    t2 <- time_call(function() sq <<- svychisq(stats::as.formula(sprintf("~%s + %s", rv, cv)), rs,
                                               statistic = "F"))[["ms"]]
    t3 <- NA_real_
    if (!big) t3 <- time_call(function()
      cp <<- svyciprop(stats::as.formula(sprintf("~I(%s == '1')", rv)),
                       rs[dd[[cv]] == "1", ], method = "logit"))[["ms"]]
    npairs <- row_levels[[rv]] * col_levels[[cv]]
    bt[[k]] <- c(pct_se = t1, test = t2, ci = t3, ci_all = t3 * npairs)
    # agreement
    um <- tb[tb$row_var == rv & tb$col_var == cv, ]
    for (j in seq_len(nrow(um))) {
      lv <- as.character(um$row[j]); cl <- as.character(um$col[j])
      i <- match(cl, as.character(sb[[cv]]))
      ag[["pct"]] <- max(ag[["pct"]], rel(um$pct[j] / 100, sb[[paste0(rv, lv)]][i]))
      ag[["se"]] <- max(ag[["se"]], rel(um$se[j] / 100, as.matrix(survey::SE(sb))[i, match(lv, levels(dd[[rv]]))]))
      if (!big && lv == "1" && cl == "1")
        ag[["ci"]] <- max(ag[["ci"]], rel(c(um$ci_low[j], um$ci_high[j]) / 100, unname(attr(cp, "ci"))))
    }
    ag[["p"]] <- max(ag[["p"]], rel(um$p_value[1L], unname(sq$p.value)))
  }
  say(sprintf("n = %s: survey mean row", fmt_n(n)))
  sm <- NULL
  t_mean <- vapply(names(col_levels), function(cv)
    time_call(function() sm <<- svyby(~y, stats::as.formula(paste0("~", cv)), rs, svymean))[["ms"]], 0)
  um <- tb[tb$row_var == "mean(y)" & tb$col_var == names(col_levels)[length(col_levels)], ]
  ag[["mean"]] <- rel(um$estimate, sm$y[match(as.character(um$col), as.character(sm[[1L]]))])
  ag[["mean_se"]] <- rel(um$se, sm$se[match(as.character(um$col), as.character(sm[[1L]]))])
  rm(rs); invisible(gc(FALSE))
  bt <- do.call(rbind, bt)
  per_block <- mean(bt[, "pct_se"] + bt[, "test"])
  ci_per_call <- if (big) NA_real_ else mean(bt[, "ci"])
  npairs_all <- sum(row_levels[blocks$r] * col_levels[blocks$c])
  extrap <- t_srake + per_block * nrow(blocks) + sum(t_mean) +
    (if (big) NA_real_ else ci_per_call * npairs_all)
  extrap_noci <- t_srake + per_block * nrow(blocks) + sum(t_mean)
  c(ures, list(survey = TRUE, t_sdes = t_sdes, t_srake = t_srake,
       per_block = per_block, ci_per_call = ci_per_call, npairs_all = npairs_all, t_mean = sum(t_mean),
       extrap = extrap, extrap_noci = extrap_noci, ntimed = nrow(timed), nblocks = nrow(blocks), ag = ag))
}

res <- lapply(sizes, run_size)
# survey's parts above survey_max: linear in n from the largest size it ran at
ran <- Filter(function(r) isTRUE(r$survey), res)
src <- if (length(ran)) ran[[length(ran)]] else NULL
for (k in seq_along(res)) if (!isTRUE(res[[k]]$survey) && !is.null(src)) {
  f <- res[[k]]$n / src$n
  res[[k]]$t_srake <- src$t_srake * f
  res[[k]]$per_block <- src$per_block * f
  res[[k]]$extrap <- src$extrap * f
  res[[k]]$extrap_noci <- src$extrap_noci * f
  res[[k]]$ntimed <- 0L
  res[[k]]$nblocks <- src$nblocks
}

out <- c("## Replicate designs: re-raked bootstrap, 200 replicates", "",
  run_line("survey", sizes), "",
  sprintf("Data: %d strata x %d PSUs, raking on 4 margins (%s levels, about %s cells), starting weights uniform on [50, 150]; %d bootstrap replicates (the same draws in both: same seed). Banner: %d row variables (%s levels) x %d column variables (%s levels), logit CIs, Rao-Scott F tests, letters, plus a mean row.",
          H, M, paste(margins, collapse = " x "), fmt_n(prod(margins)), R, length(row_levels),
          paste(row_levels, collapse = "/"), length(col_levels), paste(col_levels, collapse = "/")), "",
  sprintf("**survey's time is partly extrapolated.** At n <= %s survey runs the re-raking (rake() on the svyrep.design), every block's svyby(svymean) and svychisq(), and the mean row; svyciprop(method = \"logit\") fits a glm per replicate and is timed for one (level, column) pair per block, its time multiplied by the number of (level, column) pairs in the table. **Above n = %s survey is not run: every part of its time is extrapolated linearly in n** from the largest n it ran at (its work is arithmetic on the n x 200 replicate weight matrix; it would need several GB at n = 1e6).",
          fmt_n(survey_max), fmt_n(survey_max)), "")
tabrows <- lapply(res, function(r) {
  u <- stats::median(r$t_asrep) + stats::median(r$t_tab)
  c(fmt_n(r$n), fmt_n(r$npairs), fmt_ms(stats::median(r$t_recal)), fmt_ms(stats::median(r$t_asrep)),
    fmt_ms(stats::median(r$t_tab)), sprintf("%.0f%% / %.0f%% / %.0f%%", 100 * r$c_share, 100 * r$rank_share,
                                              100 * (1 - r$c_share - r$rank_share)),
    sprintf("%.0f / %.0f", r$mem_asrep, r$mem_tab),
    paste0(fmt_ms(r$t_srake), if (!isTRUE(r$survey)) " (extrapolated)" else ""),
    paste0(fmt_ms(r$extrap), if (!isTRUE(r$survey)) " (extrapolated)" else ""),
    fmt_ratio(r$extrap / u), fmt_ratio(r$extrap_noci / u))
})
out <- c(out, md_table(rows_df(tabrows, c("n", "(PSU, cell) pairs", "umfrage re-raking ms", "umfrage as_repdesign ms",
  "umfrage tab ms", "tab: passes / ranks / inference", "umfrage peak MB (as_repdesign / tab)", "survey rake ms",
  "survey total ms", "survey / umfrage", "survey / umfrage without CIs"))), "")
agrows <- lapply(ran, function(r) c(fmt_n(r$n), fmt_e(r$ag[["pct"]]), fmt_e(r$ag[["se"]]),
                                    fmt_e(r$ag[["ci"]]), fmt_e(r$ag[["p"]]), fmt_e(r$ag[["mean"]]),
                                    fmt_e(r$ag[["mean_se"]])))
last <- res[[length(res)]]
out <- c(out, "Agreement where survey ran (largest relative difference, umfrage vs survey):", "",
         md_table(rows_df(agrows, c("n", "percent", "SE", "CI (one pair per block)", "test p", "mean", "mean SE"))), "",
         sprintf("- umfrage's re-raking of %d replicates: %s ms at n = %s; as_repdesign() in all (bootstrap draws as survey draws them, re-raking, df): %s ms; the table (%d row variables incl. the mean row x %d column variables, all inference): %s ms, %.0f%% of it in the C passes over the rows, %.0f%% in the domain ranks (degf), the rest R (inference on the replicate totals; shares from Rprof, which charges a .Call to its R caller).",
                 R, fmt_ms(stats::median(last$t_recal)), fmt_n(last$n), fmt_ms(stats::median(last$t_asrep)),
                 length(row_levels) + 1L, length(col_levels), fmt_ms(stats::median(last$t_tab)), 100 * last$c_share,
                 100 * last$rank_share))
bench_write(out)
