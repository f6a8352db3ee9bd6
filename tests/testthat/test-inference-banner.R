# A whole banner through the fused design pass (issue 15): every column
# variable's block, its intervals, tests and letters, against survey on the
# same design. The blocks of one row variable share one C call and one work
# space; the domains of a banner differ in their rows and design df, so the
# quantiles kept from cell to cell must follow them.

banner_data <- function(seed = 21) {
  d <- sim_design_data(seed, n_psu = 40, per_psu = 15)
  set.seed(seed)
  # a column variable tied to the strata: its domains span different PSUs
  # and strata, so their df and rows differ from column to column
  d$a <- ifelse(d$st <= 2, sample(c("a1", "a2"), nrow(d), TRUE, prob = c(0.8, 0.2)),
                sample(c("a2", "a3"), nrow(d), TRUE))
  d
}

test_that("a banner's intervals in every column equal svyciprop on the column's domain", {
  skip_if_not_installed("survey")
  d <- banner_data()
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  for (method in c("logit", "korn-graubard", "wald")) {
    t <- as.data.frame(tab(u, "y", cols = c("g", "a", "k"), ci = method))
    sm <- switch(method, logit = "logit", `korn-graubard` = "beta", wald = "mean")
    dfs <- numeric()
    for (cv in c("a", "k")) for (lv in unique(d[[cv]])) for (rl in c("low", "high")) {
      got <- t[t$col_var == cv & t$col == lv & t$row == rl, ]
      sub <- subset(s, d[[cv]] == lv)
      ref <- eval(bquote(survey::svyciprop(~I(y == .(rl)), sub, method = sm, df = survey::degf(sub))))
      expect_lt(rel_err(c(got$ci_low, got$ci_high), 100 * attr(ref, "ci")), 1e-8)
      expect_equal(got$df, survey::degf(sub))
      dfs <- c(dfs, got$df)
    }
    # the banner's domains do differ in their df
    expect_gt(length(unique(dfs)), 2L)
  }
})

test_that("every block of a banner carries its own Rao-Scott test in each of its cells", {
  skip_if_not_installed("survey")
  d <- banner_data(22)
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  t <- as.data.frame(tab(u, c("y", "k"), cols = c("g", "a")))
  for (rv in c("y", "k")) for (cv in c("g", "a")) {
    blk <- t[t$row_var == rv & t$col_var == cv, ]
    ref <- survey::svychisq(stats::as.formula(paste("~", rv, "+", cv)), s, statistic = "F")
    for (f in c("statistic", "p_value")) expect_equal(length(unique(blk[[f]])), 1L)
    expect_lt(rel_err(blk$statistic[1], ref$statistic), 1e-6)
    expect_lt(rel_err(c(blk$ndf[1], blk$ddf[1]), ref$parameter), 1e-6)
    expect_lt(rel_err(blk$p_value[1], ref$p.value), 1e-6)
  }
  expect_true(all(is.na(t$statistic[t$col_var == "Total"])))
})

test_that("a banner's letters come from z tests with covariances, per column variable", {
  skip_if_not_installed("survey")
  d <- banner_data(23)
  u <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
  s <- survey::svydesign(ids = ~psu, strata = ~st, weights = ~w, data = d)
  t <- as.data.frame(tab(u, "y", cols = c("g", "k"), min_base = 0, adjust = "none", alpha = 0.2))
  for (cv in c("g", "k")) {
    lev <- sort(unique(d[[cv]]))
    bc <- survey::svyby(~y, stats::as.formula(paste0("~", cv)), s, survey::svymean, covmat = TRUE)
    cn <- names(stats::coef(bc))
    for (rl in levels(d$y)) {
      want <- setNames(rep("", length(lev)), lev)
      for (i in seq_along(lev)) for (j in seq_along(lev)) if (i < j) {
        con <- setNames(numeric(length(cn)), cn)
        con[paste0(lev[i], ":y", rl)] <- 1
        con[paste0(lev[j], ":y", rl)] <- -1
        sc <- survey::svycontrast(bc, con)
        z <- as.vector(stats::coef(sc)) / as.vector(survey::SE(sc))
        if (2 * stats::pnorm(-abs(z)) < 0.2) {
          hi <- if (z > 0) i else j
          lo <- if (z > 0) j else i
          want[hi] <- paste0(want[hi], LETTERS[lo])
        }
      }
      got <- t[t$col_var == cv & t$row == rl, ]
      expect_equal(got$letters[match(lev, got$col)],
                   unname(vapply(strsplit(want, ""), function(x) paste(sort(x), collapse = ""), "")))
    }
  }
})

test_that("C_block_inf gives the layer's test in every cell of the layer", {
  raw <- list(cells = matrix(c(2, 1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 2), 4, 3),
              colbase = matrix(c(3, 3, 3, 3, 3, 3), 2, 3),
              rowbase = matrix(c(3, 3, 3, 3, 3, 3), 2, 3),
              allbase = matrix(6, 1, 3))
  des <- list(mode = 2L, stratum = 1L, scale = 1, center = 1L, nh = 6)
  opt <- list(percent = 0L, ci = 1L, level = 0.95, letters = 1L, alpha = 0.05, adjust = 0L,
              kg_rows = -1, layer_rows = 6, layer_nu = 5, single = 1L, test = 1L,
              labels = list(c("A", "B")))
  res <- .Call(get("C_block_inf", envir = asNamespace("umfrage")), list(raw), c(2L, 2L, 1L, 1L, 1L), list(NULL), list(NULL),
               des, opt)[[1L]]
  for (f in c("statistic", "ndf", "ddf", "p_value")) expect_length(res[[f]], 4L)
  expect_equal(length(unique(res$p_value)), 1L)
})
