#' Weighted cross-tables, banners and multiple-response tables
#'
#' `tab()` builds one-way frequencies, two-way and N-way cross-tables, and
#' market-research banners (several row variables stacked, several column
#' variables side by side), with or without weights, in one C pass over the
#' rows per row variable.
#'
#' @section Cells:
#' Every cell carries the unweighted count `n`, the weighted count `n_w`
#' (the sum of the weights), Kish's effective count
#' `n_eff = n_w^2 / sum(w^2)`, and a percent (`pct`) with its base
#' (`base_n`, `base_w`: the unweighted and weighted denominator):
#' * `percent = "col"`: of the column's respondents,
#' * `"row"`: of the row's respondents,
#' * `"total"`: of all respondents of the block (layer),
#' * `"none"`: no percent (`pct` is `NA`; the base is the column's).
#'
#' A `Total` column (`col_var = "Total"`, `col = "Total"`) is always
#' included: all respondents of the row variable, whatever their column
#' answers. Without `cols` the table is one-way and has only that column.
#'
#' @section Variables:
#' `rows`, `cols` and `by` take column names (a character vector), one-sided
#' formulas (`~ a + b`), [mr_set()]s, or a list mixing these (`by` takes
#' single variables only; `rows` also takes [nets()]: combined levels of a
#' variable, or combined items of an MR set, as extra rows). Factors keep their declared levels, empty ones
#' included, in their order; character columns are sorted; logical columns
#' have levels `FALSE`, `TRUE`; haven-style labelled columns show their value
#' labels (labelled values first, in label order, then other values) and
#' their variable label. Integer and numeric columns may have at most
#' `getOption("umfrage.max_levels", 200)` distinct values; beyond that
#' `tab()` stops and suggests `cut()`.
#'
#' SPSS user-missing values (the `na_values` and `na_range` of
#' `haven::labelled_spss()` columns) are missing values, as `NA` is, and
#' their value labels are no levels; so in every function of umfrage that
#' reads a column (margins of [wt_rake()], [wt_poststrat()] and
#' [wt_calibrate()], items of [mr_set()], strata and clusters of
#' [svy_design()]). `options(umfrage.user_na = "level")` keeps them as
#' ordinary values with their labels instead.
#'
#' The groups of a grouped data frame (`dplyr::group_by()`) are `by` layers,
#' after those of `by` (a grouping variable already in `by` is not repeated).
#' A rowwise data frame is an error.
#'
#' `rows` also takes numeric row specs: [mean_of()], [total_of()],
#' [ratio_of()], [score_of()] (mean scores of a categorical variable) and
#' [quantile_of()] (quantiles, one row per probability), alone or in the
#' list. Each gives per banner column and layer the weighted estimate
#' (column `estimate`, `stat` naming the statistic), its design-based
#' standard error, t interval on the domain's degrees of freedom, design
#' effect and letters from t tests between columns; quantiles get
#' `survey::svyquantile()`'s Woodruff interval and no design effect or
#' letters (see [numeric_rows]). They are row specs only: in `cols` or
#' `by` they are an error.
#'
#' A variable must hold one value per row: matrix, data-frame and list
#' columns are an error, naming the column.
#'
#' @section Missing values:
#' With `na = "drop"` a row with `NA` in the row variable is left out of
#' that row variable's block, a row with `NA` in a column variable out of
#' that column's cells (but not out of `Total`), and a row with `NA` in a
#' `by` variable out of the table. With `na = "level"` missing values form a
#' visible level `"(missing)"` at the end (shown only when it occurs; named
#' `"(missing) (2)"` if the variable has a level `"(missing)"`); SPSS
#' user-missing values are in it too (see Variables). Rows with weight 0
#' count in `n` but add nothing to `n_w` (see Inference for their part in
#' `df` and `deff`).
#'
#' @section Nets and sorting:
#' A [nets()] row adds nets to a variable's block: each net counts the
#' respondents with one of its levels (of an MR set: one of its items) once,
#' with its own percent, inference and letters, shown at the top or the
#' bottom of the block. The long form marks their cells in the logical
#' column `net`, `x$rows[[i]]$net` marks the nets among the levels.
#'
#' `sort = "desc"` (or `"asc"`) orders the levels of every categorical row
#' variable (single variables and MR sets) by their weighted count in the
#' Total column of the first layer (for column percents: by the Total
#' column's percent), ties in their original order; every layer and column
#' shows them in that order. Nets stay where [nets()] puts them (top or
#' bottom), and the levels named in `sort_keep` and the `"(missing)"` level
#' of `na = "level"` stay at the end (before nets at the bottom), in their
#' original order. Sorting changes only the order: the cells, their values
#' and their identity (`x$cell_id$row` is the level's index in
#' `x$rows[[i]]$levels`) are those of the unsorted table; the order shown is
#' `x$rows[[i]]$order` (level indices; `NULL`: as the levels), the order of
#' the cells within each block of the long form, and of the levels of its
#' factor `row`.
#'
#' @section Inference:
#' Every cell also carries design-based statistics: the standard error of
#' its weighted count (`se_n_w`) and of its percent (`se`, in percentage
#' points; the percent is a ratio of two weighted totals, linearised), a
#' confidence interval (`ci_low`, `ci_high`, inside 0 to 100), the design
#' effect of the percent (`deff`, see below), and the degrees of freedom
#' used (`df`: PSUs minus strata of the percent's domain, counting only
#' PSUs with a row of positive weight in the domain, as `survey::degf()` on
#' the domain). With a data frame the rows are the sampled units (with
#' replacement, one stratum); with an [svy_design()] strata, clusters and
#' finite population corrections count. A row of weight 0 counts in `n` and
#' in the variance's PSUs per stratum (as in survey), but is out of the
#' sample for `df` and `deff`. The results do not depend on the scale of
#' the weights (they are computed on a power-of-two scale near 1, which is
#' exact).
#'
#' `deff` is the design variance of the percent over a simple random
#' sampling variance of the domain's `n` rows of positive weight:
#' `"binomial"` (the default) divides by `p (1 - p) / n`; `"replace"` by
#' `s^2 / n` with `s^2 = p (1 - p) n / (n - 1)`, which is
#' `survey::svymean(deff = "replace")`, so `"binomial"` = `"replace"` x
#' `n / (n - 1)`; `"survey"` by `(1 - n / N) s^2 / n` with `N` the domain's
#' weighted count (sampling without replacement from the estimated
#' population), which is `survey::svymean(deff = TRUE)` (`NA` where `N <=
#' n`: the weights are then not on the population scale). With `percent =
#' "row"` or `"total"` the domain is the row or the block.
#'
#' `ci`: `"logit"` is `survey::svyciprop(method = "logit")` (a t interval on
#' the logit scale), `"korn-graubard"` is `svyciprop(method = "beta")`,
#' `"wilson"` the Wilson score interval with the design-effective sample
#' size `p (1 - p) / Var(p)`, `"wald"` is `p +/- t * SE` clipped to 0 and
#' 100. Where a percent is 0 or 100 (no variance), the interval is the exact
#' binomial one on the domain's unweighted rows.
#'
#' `test`: per block (row variable x column variable, per layer) the
#' Rao-Scott corrected Pearson test of independence, second-order `"F"` (as
#' `survey::svychisq(statistic = "F")`) or first-order `"Chisq"`, in columns
#' `statistic`, `ndf`, `ddf`, `p_value`, and printed under the block. As in
#' `svychisq()`, the Pearson statistic (`"Chisq"`) is computed on the table
#' scaled to all rows of the layer, including rows with `NA` in the row or
#' column variable and rows of weight 0, and `ddf` uses the layer's PSUs
#' minus its strata.
#'
#' `letters` (column percents only): each column of a column variable gets
#' a letter (A, B, C, ...). A letter in a cell means that this column's
#' percent is significantly higher than the percent of the column with that
#' letter, in the same row: a two-sided z test of the difference on its
#' design-based standard error (including the covariance of the two
#' columns), at level `alpha`, with the p-values of the row's pairs of
#' columns adjusted by `adjust` (Bonferroni, Holm, or none), as SPSS
#' CTABLES' column-proportion tests. Beyond 26 columns the letters go on as
#' AA, AB, ..., ZZ, AAA, ... (as spreadsheet columns), and the letters in a
#' cell are separated by commas (`"A,AB"`).
#'
#' No letter rests on a zero or undefined variance: a column takes part in
#' the comparisons only where its base has at least two PSUs with a row of
#' positive weight (with a data frame: two respondents of positive weight),
#' and a pair of columns only where the standard error of their difference
#' is positive (not zero up to rounding) and finite. Pairs left out are not
#' tested and do not count in the adjustment.
#'
#' Nor on a small base: a column whose unweighted base (`base_n`: its rows,
#' whatever their weights; with MR sets, its respondents) is below `min_base` (default 30, or
#' `options(umfrage.min_base =)`; 0 switches the rule off) gets no letters,
#' and no other column gets its letter: its pairs are not tested and do not
#' count in the adjustment. The long form flags small bases: `small_base` is
#' `TRUE` where the unweighted base of the cell's percent (`base_n`) is below
#' `min_base`, in the cells and in the column bases (`x$bases`), and the
#' threshold is kept in `x$options$min_base`.
#'
#' Weights made by [wt_rake()], [wt_poststrat()] or [wt_calibrate()] carry
#' the margins and numeric auxiliaries they were calibrated on (and their
#' starting weights). With `calibration = TRUE` (the default) the variance
#' then uses the residuals of the linearised variable from the regression on
#' the calibration model (the margins' level indicators and the numeric
#' auxiliaries), weighted by the starting weights: the calibration-adjusted
#' variance of `survey::calibrate()` (for every `calfun` and bounds) and
#' `survey::postStratify()`. Raked weights thus match
#' `survey::calibrate(calfun = "raking")` with the same margins;
#' `survey::rake()` itself approximates this variance by ten backfitting
#' sweeps, and its standard errors differ from these by about 1e-3 relative.
#' The margin variables and numeric auxiliaries must be columns of `x`, with
#' the values the weights were made from (a numeric auxiliary whose weighted
#' total no longer matches gives a warning and fixed-weight variances).
#' `calibration = FALSE` treats the weights as fixed.
#'
#' Multiple-response sets get the same inference: a respondent may sit in
#' several cells and bases at once, so the covariance of the cell and base
#' totals comes from the respondents' cross-products (one more pass over the
#' rows for such a block), and letters between the items of an MR banner
#' include the covariance of the respondents they share. There is no
#' Rao-Scott test for blocks with an MR set (the cells are not a partition).
#'
#' Replicate-weight designs ([svy_repdesign()], [as_repdesign()]): every
#' estimate is computed once per replicate, from the replicate totals of the
#' cells and bases, and its variance is survey's `svrVar()` (`scale * sum
#' rscales (theta_r - centre)^2`; replicates without weight in a domain are
#' left out, with a warning): as `survey::svymean()`, `svytotal()` and
#' `svyratio()` on the `svyrep.design`. `df` is `survey::degf()` of the
#' domain as a subset (the rank of its rows' replicate weights minus 1); the
#' `"logit"` interval uses the replicates' logits, as `svyciprop()` (whose
#' `svyglm()` fits each replicate) does; letters test the replicate variance
#' of the difference of the two columns (z tests for percents, t tests on
#' `degf()` of the two columns' rows minus 1 for numeric rows); the Rao-Scott
#' test is `svychisq()` on the design, from the replicate covariance of the
#' joint proportions. Quantile rows are not available on replicate designs
#' yet. The weights' calibration is not used: the replicate weights carry it.
#'
#' @param x A data frame (grouped: its groups are `by` layers), an
#'   [svy_design()], a replicate-weight design ([svy_repdesign()],
#'   [as_repdesign()]), a survey design object (survey's `survey.design2` or
#'   `svyrep.design`, or srvyr's `tbl_svy`: see [svy_design()], section
#'   Survey and srvyr objects), or a table in a database: a [db_table()] or a
#'   dbplyr lazy table (the engine groups the rows to cells; see [db_table()]).
#' @param rows Row variable(s): see Variables.
#' @param cols Column variable(s) of the banner, or `NULL` for a one-way
#'   table.
#' @param by Layer variable(s): one block per combination of their levels.
#' @param weights `NULL`, a numeric vector with one value per row, or the
#'   name (or one-sided formula) of a column of `x` (a single string is
#'   always a column name). Finite, non-negative.
#' @param percent `"col"`, `"row"`, `"total"` or `"none"`.
#' @param ci Confidence interval method, or `"none"`: see Inference.
#' @param level Confidence level, in (0, 1).
#' @param test `TRUE` (same as `"F"`), `"F"`, `"Chisq"`, or `FALSE`.
#' @param letters Column-proportion significance letters: `TRUE`/`FALSE`.
#' @param alpha Significance level of the letters, in (0, 1).
#' @param adjust Multiple-comparison adjustment of the letters:
#'   `"bonferroni"`, `"holm"` or `"none"`.
#' @param min_base Small bases: the smallest unweighted base (`base_n`) of a
#'   column that takes part in the letters, a single whole number >= 0; 0
#'   switches the rule off. Bases below it are flagged in `small_base`; see
#'   Inference.
#' @param deff Definition of the design effect `deff`: `"binomial"`,
#'   `"replace"` (as `survey::svymean(deff = "replace")`) or `"survey"` (as
#'   `survey::svymean(deff = TRUE)`); see Inference.
#' @param calibration Use the calibration-adjusted variance for weights from
#'   [wt_rake()] or [wt_poststrat()] (see Inference).
#' @param se `FALSE` skips the design-based inference altogether (no SEs,
#'   intervals, tests or letters): the fastest table, counts and percents
#'   only.
#' @param na `"drop"` or `"level"`.
#' @param sort `"none"` (the default), `"desc"` or `"asc"`: order the levels
#'   of each categorical row variable by the Total column (see Nets and
#'   sorting).
#' @param sort_keep With `sort`: levels (names) that keep their place at the
#'   end of a sorted block, in their order (e.g. `c("Other", "Don't know")`);
#'   each must be a level of some row variable.
#' @param show What a cell shows when the table is printed, knitted or
#'   exported: some of `"count"`, `"weighted"`, `"pct"`, `"ci"`,
#'   `"letters"` (see [print.umfrage_tab()]); `NULL` for the default (the
#'   count, or the weighted count when weighted, the percent and the
#'   letters). Kept on the result (`x$show`); a `show` argument of
#'   `print()`, `format()`, `knit_print()` overrides it.
#' @param digits Digits per statistic for the outputs, a named vector such
#'   as `c(pct = 0, ci = 1)` (names as in [tab_locale()]) or one number,
#'   the digits of percents. Kept on the result (`x$digits`) and merged
#'   into the locale when printing.
#' @param locale Language and number format of the outputs: `"en"`,
#'   `"de"` or a [tab_locale()] object; `NULL` decides when printing
#'   (`getOption("umfrage.locale")`, else `getOption("OutDec")`). Kept on
#'   the result (`x$locale`).
#' @return An object of class `umfrage_tab`. `as.data.frame()` gives the
#'   tidy long form, one row per cell: `row_var`, `row`, `col_var`, `col`,
#'   one column per `by` variable, then `n`, `n_w`, `n_eff`, `pct`, `se`,
#'   `ci_low`, `ci_high`, `letters`, `se_n_w`, `deff`, `df`, `base_n`,
#'   `base_w`, `small_base`, `statistic`, `ndf`, `ddf`, `p_value`, `stat`, `estimate`,
#'   `net` (a net of [nets()]), `row_var_label`,
#'   `col_var_label` (`stat`: `"pct"` for categorical cells, `"mean"`,
#'   `"total"`, `"ratio"` or `"score"` for numeric rows; `estimate`: the
#'   cell's estimate in its own units, the percent for categorical cells); `row` and `col` are factors in the variables' level
#'   order (as shown: nets and `sort` included) (see [as.data.frame.umfrage_tab()], also for the wide form of
#'   the banner). Each cell has its own
#'   key (`row_var`, `row`, `col_var`, `col` and the by-columns); labels
#'   never stand for one another:
#'   * A by-column is named after its variable, unless that name is taken by
#'     another column of the long form or of the column bases (`base_eff`),
#'     or by another by-column; then it is prefixed with `by_` (again, until
#'     the name is free): `by = "p_value"` gives the column `by_p_value`.
#'   * `row_var` and `col_var` hold the variable's name (an MR set's label).
#'     Where two row variables, or two column variables, would share one
#'     (two MR sets with the same label; a banner variable called `"Total"`,
#'     the Total column's name), the later one gets the suffix `" (2)"`,
#'     `" (3)"`, ...; so do display labels that repeat.
#'   * Levels are distinct: numbers that `as.character()` shows alike (as
#'     `0.1 + 0.2` and `0.3`) get the digits (up to 17) that tell them apart;
#'     the `NA` level of `na = "level"` becomes `"(missing) (2)"` where a
#'     level `"(missing)"` exists; repeated value labels of labelled columns
#'     get a suffix (as `make.unique()`).
#'
#'   The same column named twice in `rows`, `cols` or `by` is an error.
#'   `print()`/`format()` give the analyst's banner (counts and percents
#'   side by side, bases in the header, in the locale's words and numbers,
#'   wrapped at the console width), `knit_print()` a styled HTML or a
#'   markdown table, `plot()` a bar chart, `summary()` an overview. These
#'   find cells by the integer identity the object carries (`cell_id`,
#'   `base_id`: the positions of the row variable, its level, the column
#'   variable, its level and the layer), never by their labels.
#' @seealso [mr_set()] for multiple-response questions, [nets()] for nets.
#' @examples
#' d <- data.frame(
#'   sex = c("f", "m", "f", "f", "m", "m", "f", "m"),
#'   vote = factor(c("A", "B", "A", "C", "B", "A", "B", "C")),
#'   w = c(1.2, 0.8, 1, 1.1, 0.9, 1, 1.3, 0.7)
#' )
#' tab(d, "vote")
#' t2 <- tab(d, "vote", cols = "sex", weights = "w")
#' t2
#' as.data.frame(t2)
#' @export
tab <- function(x, rows, cols = NULL, by = NULL, weights = NULL,
                percent = c("col", "row", "total", "none"),
                ci = c("logit", "wilson", "wald", "korn-graubard", "none"),
                level = 0.95, test = TRUE, letters = TRUE, alpha = 0.05,
                adjust = c("bonferroni", "holm", "none"),
                min_base = getOption("umfrage.min_base", 30),
                deff = c("binomial", "replace", "survey"),
                calibration = TRUE, se = TRUE,
                na = c("drop", "level"), sort = c("none", "desc", "asc"), sort_keep = NULL,
                show = NULL, digits = NULL, locale = NULL) {
  percent <- match.arg(percent)
  na <- match.arg(na)
  srt <- check_sort(sort, sort_keep)  # nets.R
  ci <- match.arg(ci)
  adjust <- match.arg(adjust)
  deff <- match.arg(deff)
  if (!is.numeric(level) || length(level) != 1L || is.na(level) || level <= 0 || level >= 1)
    stopf("'level' must be a single number between 0 and 1 (exclusive), not %s", format(level))
  if (!is.numeric(alpha) || length(alpha) != 1L || is.na(alpha) || alpha <= 0 || alpha >= 1)
    stopf("'alpha' must be a single number between 0 and 1 (exclusive), not %s", format(alpha))
  min_base <- check_min_base(min_base, from_option = missing(min_base))
  check_flag(letters, "letters")
  check_flag(calibration, "calibration")
  check_flag(se, "se")
  # how the table shows (display.R): checked now, used by print() & co.
  if (!is.null(show)) show <- check_show(show)
  if (!is.null(locale)) locale <- as_locale(locale)
  if (!is.null(digits)) merge_digits(builtin_locale("en"), digits)
  if (!se) {
    ci <- "none"
    test <- FALSE
    letters <- FALSE
  }
  test <- if (isTRUE(test)) "F" else if (isFALSE(test)) "none" else
    if (is.character(test) && length(test) == 1L && test %in% c("F", "Chisq")) test else
      stopf("'test' must be TRUE, FALSE, \"F\" or \"Chisq\"")
  groups <- character()
  # survey objects: survey's and srvyr's designs become svy_design()s (survey_objects.R)
  x <- as_umfrage_design(x)
  # database sources (db.R): the engine groups the rows to cells, one
  # aggregate query per block; tab_block() hands them to db_tab_block()
  db <- NULL
  if (is_db_source(x) || inherits(x, "umfrage_db_design")) {
    if (inherits(x, "umfrage_db_design") && !is.null(weights))
      stopf("'weights' must be NULL when 'x' is an svy_design(): the design carries them")
    db <- db_context(x, weights, na)
    x <- db$src$proto
    w <- NULL
    des <- db$gdes
  } else
  # database sources: end
  if (inherits(x, "umfrage_design")) {
    if (!is.null(weights)) stopf("'weights' must be NULL when 'x' is an svy_design(): the design carries them")
    des <- x
    x <- des$data
    w <- des$weights
    groups <- as.character(des$groups)  # survey objects: srvyr's groups
  } else if (inherits(x, "umfrage_repdesign")) {
    # replicate designs (replicate.R)
    if (!is.null(weights)) stopf("'weights' must be NULL when 'x' is an svy_repdesign(): the design carries them")
    des <- x
    x <- des$data
    w <- des$weights
    groups <- as.character(des$groups)  # survey objects: srvyr's groups
  } else {
    groups <- data_groups(x, "x")
    check_data(x, "x", grouped_ok = TRUE)
    w <- get_weights(weights, x)
    des <- rows_design(x, w)
  }
  # weights on a safe scale (var.R): every statistic is scale-invariant;
  # the weighted counts are scaled back below. Without inference the scale
  # waits for the pass (scale_proven()): most weights need none, and the
  # table's own sums show it, which saves a pass over the weights.
  deferred <- is.null(db) && !se && !is.null(w) && !inherits(des, "umfrage_repdesign")
  ws <- if (!is.null(db)) db$ws else list(f = 1, zero = NA)   # database sources
  opt <- list(percent = percent, ci = ci, level = level, test = test,
              letters = letters, alpha = alpha, adjust = adjust, min_base = min_base, se = se,
              deff = deff, wscale = ws$f, wzero = ws$zero)
  # the scale of the weights in memory, taken now or (deferred) after the
  # pass; TRUE where it is 1, the scale a deferred pass assumed
  resolve_scale <- function() {
    deferred <<- FALSE
    ws <<- weight_scale(w)
    if (ws$f != 1) w <<- w * ws$f
    opt[c("wscale", "wzero")] <<- list(ws$f, ws$zero)
    ws$f == 1
  }
  if (is.null(db) && !deferred) resolve_scale()
  # replicate designs: the replicates carry the variance (opt$rep: replicate.R)
  if (inherits(des, "umfrage_repdesign")) opt$rep <- rep_setup(des, ws$f)
  cal <- if (se && calibration && !is.null(des$calibration) && is.null(opt$rep)) cal_setup(des, x, w, ws$f) else NULL
  notes_reset()
  rspec <- tab_specs(rows, x, "rows")
  if (length(rspec) == 0L) stopf("'rows' names no variable")
  cspec <- tab_specs(cols, x, "cols")
  bspec <- tab_specs(by, x, "by")
  bspec <- c(bspec, group_specs(groups, bspec))
  if (any(vapply(bspec, inherits, NA, "umfrage_mrset")))
    stopf("'by' takes single variables, not MR sets")
  check_distinct_specs(rspec, "rows")
  check_distinct_specs(cspec, "cols")
  check_distinct_specs(bspec, "by")
  # database sources: the variables are coded from their distinct values
  if (!is.null(db)) {
    rspec <- lapply(rspec, db_fix_kind, proto = x)
    cspec <- lapply(cspec, db_fix_kind, proto = x)
    x <- db_levels_frame(db, rspec, cspec, bspec)
    opt$db <- db
  }
  # numeric rows (numeric.R): mean_of() & co. are row variables of kind "numeric"
  rvars <- lapply(rspec, function(s)
    if (inherits(s, "umfrage_numrow")) tab_var_num(s, x) else tab_var(s, data = x, na = na, arg = "rows"))
  cvars <- lapply(cspec, tab_var, data = x, na = na, arg = "cols")
  bvars <- lapply(bspec, tab_var, data = x, na = na, arg = "by")
  if (!is.null(db)) {   # database sources: each variable keeps its spec
    rvars <- Map(db_tag, rvars, rspec)
    cvars <- Map(db_tag, cvars, cspec)
    bvars <- Map(db_tag, bvars, bspec)
  }
  total_var <- list(name = "Total", label = "Total", levels = "Total", kind = "total",
                    desc = list(3L, 1L, list(), 0L, 0L))
  # identity, not labels: row and column variables get distinct names in the
  # long form (two MR sets may share a label; a banner variable may be
  # called "Total") and distinct display labels
  rvars <- distinct_vars(rvars)
  cvars <- distinct_vars(cvars, total_var)
  check_table_size(Filter(function(v) v$kind != "numeric", rvars), c(list(total_var), cvars), bvars)
  if (se) opt[c("layer_rows", "layer_nu")] <- if (!is.null(opt$rep))  # replicate designs
    rep_layer_design(bvars, opt$rep, nrow(x), test != "none") else if (is.null(db))
    layer_design(bvars, des, nrow(x), test != "none") else
      db_layer_design(db, bvars, rspec, cspec, test != "none")   # database sources

  # numeric rows take the scale before their pass
  if (deferred && any(vapply(rvars, `[[`, "", "kind") == "numeric")) resolve_scale()
  pre <- num_prepass(rvars, cvars, bvars, total_var, w, des, opt, cal)  # numeric.R: one pass for all numeric rows
  run_blocks <- function() lapply(rvars, function(rv)
    if (rv$kind == "numeric") num_block(rv, cvars, bvars, total_var, w, des, opt, cal, pre[[rv$name]])
    else tab_block(rv, cvars, bvars, total_var, w, des, opt, cal))
  blocks <- run_blocks()
  # the deferred scale: kept where the sums prove it, else checked on the
  # weights, and the blocks computed again in the rare case that they needed one
  if (deferred && !scale_proven(blocks, nrow(x)) && !resolve_scale()) blocks <- run_blocks()
  blocks <- nets_tests(blocks, rvars, cvars, bvars, total_var, w, des, opt, cal)  # nets.R
  # weights that are all zero (where the row variables are given) leave
  # nothing to tabulate; the C pass has summed them already
  block_w <- function(b) if (isTRUE(b$numeric)) sum(b$cols[[1L]]$n_w) else sum(b$cols[[1L]]$cells[, 2L])
  if ((!is.null(w) || isTRUE(db$weighted)) && all(vapply(blocks, block_w, 0) == 0))
    stopf("'weights' are all zero: no row carries weight, so there is nothing to tabulate")
  block_cells <- function(i, bases) {
    b <- blocks[[i]]
    if (isTRUE(b$numeric)) num_cells(b, bases = bases, i = i, min_base = min_base, wscale = ws$f)
    else tab_cells(b, if (bases) "col" else percent, bases = bases, i = i, min_base = min_base)
  }
  cells <- new_df(rbind_cols(lapply(seq_along(blocks), block_cells, bases = FALSE)))
  arr <- nets_arrange(cells, rvars, srt)  # nets.R: nets, sorting, column `net`
  cells <- arr$cells
  rvars <- arr$rvars
  bases <- new_df(rbind_cols(lapply(seq_along(blocks), block_cells, bases = TRUE)))
  # the by-columns are named after their variables unless a name is taken
  # by a fixed column of the cells or bases (then prefixed with "by_")
  ph <- by_placeholders(length(bvars))
  fixed <- setdiff(union(names(cells), names(bases)), c(ph, id_columns))
  bycols <- by_columns(vapply(bvars, `[[`, "", "name"), fixed)
  for (k in seq_along(bvars)) bvars[[k]]$column <- bycols[k]
  cells <- unscale_counts(cells, ws$f)
  bases <- unscale_counts(bases, ws$f)
  cell_id <- split_ids(cells, ph, bycols)
  base_id <- split_ids(bases, ph, bycols)
  opt$db <- NULL   # database sources
  structure(list(
    cells = cell_id$df, bases = base_id$df, cell_id = cell_id$id, base_id = base_id$id,
    layers = layer_grid(bvars, names = bycols),
    rows = lapply(rvars, var_meta), cols = lapply(c(list(total_var), cvars), var_meta),
    by = lapply(bvars, var_meta), percent = percent, na = na,
    weighted = !is.null(w) || isTRUE(db$weighted),
    options = opt[setdiff(names(opt), c("rep", "wzero"))], calibrated = !is.null(cal),
    design = if (is.null(opt$rep)) des[c("clustered", "lonely_psu")] else  # replicate designs
      list(clustered = TRUE, lonely_psu = NA_character_, replicates = des$rep$type),
    skipped = do.call(rbind, lapply(blocks, `[[`, "skipped")),
    show = show, digits = digits, locale = locale),
    class = "umfrage_tab")
}

# Whether a table's blocks prove that its weights needed no scaling, that
# is that weight_scale() gives f = 1 (the largest weight within 2^-96 and
# 2^96), so that the pass tab() ran on the unscaled weights stands. That
# takes a block of a single row variable that skipped no row (no missing
# row or by value): every row then lies in one cell of its Total column,
# so the largest weight is at most the largest cell sum M and at least
# M / n. Sums that overflowed prove nothing.
scale_proven <- function(blocks, n) {
  for (b in blocks) {
    if (isTRUE(b$numeric) || b$rv$kind != "single" || b$skipped$by_na != 0 || b$skipped$row_na != 0) next
    s <- b$cols[[1L]]$cells
    if (!all(is.finite(s[, 2L])) || !all(is.finite(s[, 3L]))) return(FALSE)
    m <- max(s[, 2L], 0)
    return(m == 0 || (m < 2^96 && m / n >= 2^-96))
  }
  FALSE
}

# min_base: a single whole number >= 0 (from the call, or the option
# umfrage.min_base when the call gives none), as a double.
check_min_base <- function(min_base, from_option = FALSE) {
  ok <- is.numeric(min_base) && !is.object(min_base) && length(min_base) == 1L &&
    !is.na(min_base) && is.finite(min_base) && min_base >= 0 && min_base == round(min_base)
  if (!ok)
    stopf("'min_base'%s must be a single whole number >= 0 (the smallest unweighted base that takes part in the letters; 0 switches the rule off), not %s",
          if (from_option) " (from option umfrage.min_base)" else "",
          if (is.numeric(min_base) && length(min_base) == 1L) format(min_base) else obj_desc_len(min_base))
  as.double(min_base)
}

var_meta <- function(v) v[intersect(c("name", "label", "levels", "kind", "column", "net", "order",
                                      "stat", "vars", "var_label", "scores", "probs"), names(v))]

# The integer identity of every cell and base: columns of tab_cells() that
# are split off the long form into x$cell_id / x$base_id.
id_columns <- c(".row_var", ".row", ".col_var", ".col", ".layer")
by_placeholders <- function(k) if (k) paste0(".by", seq_len(k)) else character()

# Split the identity columns off a long form and name its by-columns.
split_ids <- function(df, ph, bycols) {
  idn <- intersect(id_columns, names(df))
  id <- new_df(stats::setNames(unclass(df)[idn], sub("^[.]", "", idn)))
  keep <- setdiff(names(df), idn)
  out <- unclass(df)[keep]
  names(out)[match(ph, keep)] <- bycols
  list(df = new_df(out), id = id)
}

# Names of the by-columns: a variable's name, prefixed with "by_" (again,
# until free) where it is taken by a fixed column or another by-column.
by_columns <- function(vnames, fixed) {
  out <- vnames
  for (k in seq_along(out)) {
    while (out[k] %in% c(fixed, out[-k], vnames[-k])) out[k] <- paste0("by_", out[k])
  }
  out
}

# The layers: one row per combination of the by-variables' levels (first
# variable fastest), as the C pass orders them.
layer_grid <- function(bvars, names = NULL) {
  if (!length(bvars)) return(NULL)
  g <- expand.grid(lapply(bvars, `[[`, "levels"), KEEP.OUT.ATTRS = FALSE,
                   stringsAsFactors = FALSE)
  names(g) <- if (is.null(names)) by_placeholders(length(bvars)) else names
  g
}

# Labels made distinct: a label already taken (by an earlier one, or in
# `taken`) gets the suffix " (2)", " (3)", ...
make_distinct <- function(x, taken = character()) {
  for (i in seq_along(x)) {
    if (x[i] %in% taken) {
      k <- 2L
      while ((cand <- paste0(x[i], " (", k, ")")) %in% c(taken, x)) k <- k + 1L
      x[i] <- cand
    }
    taken <- c(taken, x[i])
  }
  x
}

# Distinct names (and display labels) of a list of row or column variables,
# after the fixed ones (the Total column).
distinct_vars <- function(vars, ...) {
  fixed <- list(...)
  nm <- make_distinct(vapply(vars, `[[`, "", "name"), vapply(fixed, `[[`, "", "name"))
  lab <- make_distinct(vapply(vars, `[[`, "", "label"), vapply(fixed, `[[`, "", "label"))
  for (k in seq_along(vars)) {
    vars[[k]]$name <- nm[k]
    vars[[k]]$label <- lab[k]
  }
  vars
}

# The same column named twice in rows, cols or by is a mistake: its cells
# would be indistinguishable.
check_distinct_specs <- function(spec, arg) {
  nm <- unlist(lapply(spec, function(s) if (is.character(s)) s))
  if (anyDuplicated(nm))
    stopf("'%s' names column(s) more than once: %s", arg, qlist(unique(nm[duplicated(nm)])))
}

# Labels of numeric levels: as.character(), but values that it shows alike
# (0.1 + 0.2 and 0.3) get the shortest form that reads back as the value.
num_labels <- function(u) {
  s <- as.character(u)
  if (!is.numeric(u)) return(s)
  dup <- s %in% s[duplicated(s)]
  if (any(dup)) s[dup] <- num_codes(u[dup])
  s
}

# Numbers as the shortest string (15 to 17 significant digits) that reads
# back as the same number: distinct values give distinct strings.
num_codes <- function(u) {
  if (!is.numeric(u)) return(as.character(u))
  vapply(as.double(u), function(v) {
    for (d in 15:17) {
      r <- sprintf(paste0("%.", d, "g"), v)
      if (identical(as.numeric(r), v)) break
    }
    r
  }, "", USE.NAMES = FALSE)
}

# Normalise rows/cols/by to a list of column names and mr_sets.
tab_specs <- function(spec, data, arg) {
  if (is.null(spec)) return(list())
  if (inherits(spec, "umfrage_mrset") || inherits(spec, "umfrage_nets")) return(list(spec))
  if (inherits(spec, "umfrage_numrow")) spec <- list(spec)
  if (inherits(spec, "formula")) {
    if (length(spec) != 2L) stopf("'%s' as a formula must be one-sided, like ~ a + b", arg)
    spec <- all.vars(spec)
  }
  if (is.character(spec)) {
    if (anyNA(spec) || any(spec == "")) stopf("'%s' holds an empty or NA name", arg)
    spec <- as.list(spec)
  }
  if (!is.list(spec))
    stopf("'%s' must be column names, a one-sided formula, an mr_set() or a list of these, not %s",
          arg, obj_desc(spec))
  out <- list()
  for (s in spec) {
    if (inherits(s, "umfrage_mrset") || inherits(s, "umfrage_nets")) out <- c(out, list(s))
    else if (inherits(s, "umfrage_numrow")) {
      # numeric rows (numeric.R) are row specs only
      if (arg != "rows")
        stopf("'%s' holds %s, a numeric row spec; numeric rows go in 'rows' only", arg, s$name)
      out <- c(out, list(s))
    }
    else if (inherits(s, "formula")) out <- c(out, as.list(all.vars(s)))
    else if (is.character(s) && length(s) >= 1L) out <- c(out, as.list(s))
    else stopf("'%s' holds %s; expected column names, formulas or mr_set()s", arg, obj_desc(s))
  }
  nm <- vapply(out, function(s) if (is.character(s)) s else "", "")
  miss <- setdiff(nm[nm != ""], names(data))
  if (length(miss)) stopf("'%s' names column(s) not in 'x': %s", arg, qlist(miss))
  out
}

# Code one variable for the C kernel: desc = list(kind, nlev, data, na_level, base_all).
tab_var <- function(s, data, na, arg) {
  if (inherits(s, "umfrage_mrset")) return(tab_var_mr(s, data, arg))
  if (inherits(s, "umfrage_nets")) return(tab_var_nets(s, data, na, arg))  # nets.R
  x <- data_col(data, s, "x")
  label <- attr(x, "label", exact = TRUE)
  if (!(is.character(label) && length(label) == 1L && !is.na(label))) label <- s
  cl <- code_single(x, s, arg)
  nlev <- length(cl$levels)
  levels <- cl$levels
  na_level <- 0L
  if (na == "level") {
    na_level <- 1L
    nlev <- nlev + 1L
    levels <- c(levels, make_distinct("(missing)", levels))
  }
  if (nlev == 0L) {
    # all NA and dropped: a dummy level that no row reaches
    nlev <- 1L
    levels <- "(none)"
  }
  list(name = s, label = label, levels = levels, kind = "single",
       desc = list(0L, as.integer(nlev), list(cl$codes), na_level, 0L))
}

code_single <- function(x, name, arg) {
  if (is.factor(x)) {
    if (anyDuplicated(levels(x))) stopf("factor %s has duplicated levels", q(name))
    return(list(codes = x, levels = levels(x)))
  }
  if (is_labelled(x)) {
    labs <- attr(x, "labels")
    v <- unclass(x)
    attributes(v) <- NULL
    other <- sort(unique(v[!is.na(v) & !(v %in% labs)]))
    vals <- c(unname(labs), other)
    disp <- c(names(labs), as.character(other))
    if (anyDuplicated(disp)) disp <- make.unique(disp, sep = " ")
    return(list(codes = match(v, vals), levels = disp))
  }
  if (is.logical(x)) {
    return(list(codes = as.integer(x) + 1L, levels = c("FALSE", "TRUE")))
  }
  if (is.character(x)) {
    lv <- sort(unique(x[!is.na(x)]))
    return(list(codes = match(x, lv), levels = lv))
  }
  if (is.numeric(x) && !is.object(x)) {
    # whole numbers in a range of up to 1e6 (codes read from files and
    # databases): coded in C without hashing (codeint.c), the levels sorted
    cc <- if (is.null(attributes(x))) .Call(C_code_int, x, 1000000L)
    u <- if (is.null(cc)) sort(unique(x[!is.na(x)])) else cc[[2L]]
    lim <- getOption("umfrage.max_levels", 200L)
    if (length(u) > lim)
      stopf("%s variable %s has %d distinct values, more than the %d a table shows (option umfrage.max_levels); group it first, e.g. with cut()",
            q(arg), q(name), length(u), lim)
    return(list(codes = if (is.null(cc)) match(x, u) else cc[[1L]], levels = num_labels(u)))
  }
  stopf("%s variable %s must be a factor, character, logical, integer or labelled column, not %s",
        q(arg), q(name), obj_desc(x))
}

tab_var_mr <- function(s, data, arg) {
  miss <- setdiff(s$cols, names(data))
  if (length(miss))
    stopf("MR set %s in '%s' uses column(s) not in 'x': %s", q(s$label), arg, qlist(miss))
  kinds <- vapply(s$cols, function(v) col_kind(data_col(data, v, "x")), "")
  if (any(kinds != s$kind))
    stopf("MR set %s in '%s': column(s) %s of 'x' are not of type %s as when the set was made",
          q(s$label), arg, qlist(s$cols[kinds != s$kind]), s$kind)
  if (s$type == "dichotomy") {
    cols <- lapply(s$cols, function(v) {
      x <- data_col(data, v, "x")
      if (is.logical(x) && isTRUE(s$counted)) return(x)
      if (is.factor(x)) x <- as.character(x)
      if (is_labelled(x)) { x <- unclass(x); attributes(x) <- NULL }
      r <- x == s$counted
      r
    })
    desc <- list(1L, length(s$cols), cols, 0L, as.integer(s$base == "all"))
  } else {
    cols <- lapply(s$cols, function(v) {
      x <- data_col(data, v, "x")
      if (is.factor(x)) return(match(levels(x), s$codes)[as.integer(x)])
      if (is_labelled(x)) { x <- unclass(x); attributes(x) <- NULL }
      # numeric codes are matched as numbers (codes read back exactly)
      if (is.numeric(x)) match(x, as.numeric(s$codes)) else match(as.character(x), s$codes)
    })
    desc <- list(2L, length(s$codes), cols, 0L, as.integer(s$base == "all"))
  }
  list(name = s$label, label = s$label, levels = s$items, kind = "mr",
       mr_type = s$type, desc = desc)
}

check_table_size <- function(rvars, cvars, bvars) {
  nlay <- prod(vapply(bvars, function(v) as.double(v$desc[[2L]]), 0))
  for (rv in rvars) for (cv in cvars) {
    cells <- as.double(rv$desc[[2L]]) * as.double(cv$desc[[2L]]) * nlay
    lim <- getOption("umfrage.max_cells", 5e7)
    if (cells > lim)
      stopf("the table of %s by %s%s would have %s cells, more than the limit of %s (option umfrage.max_cells); use fewer levels",
            q(rv$name), q(cv$name), if (length(bvars)) " and the 'by' layers" else "",
            format(cells, big.mark = ",", scientific = FALSE), format(lim, big.mark = ",", scientific = FALSE))
  }
}

# The cells of a row variable and the whole banner, plus the Total column:
# one C pass per block (or one pass for all blocks where MR sets or NA
# levels take the general route). With a stratified or clustered design the
# stratum or PSU is one more layer of the pass; point estimates sum over
# it, and inference (var.R) uses it.
tab_block <- function(rv, cvars, bvars, total_var, w, des, opt, cal = NULL) {
  # replicate designs (replicate.R)
  if (!is.null(opt$rep)) return(rep_block(rv, cvars, bvars, total_var, w, des, opt, opt$rep))
  # database sources: per column variable a cell query, then this on its patterns
  if (!is.null(opt[["db"]])) return(db_tab_block(rv, cvars, bvars, total_var, opt[["db"]], opt))
  ncv <- length(cvars)
  dl <- if (opt$se) design_layer(des) else NULL
  bdesc <- lapply(bvars, `[[`, "desc")
  cdesc <- c(lapply(cvars, `[[`, "desc"), list(total_var$desc))
  # calibrated weights: the calibration cell is a further layer, inside the
  # design layer; the starting weights per (cell, calibration cell) come
  # from a second pass
  all_cvars <- c(list(total_var), cvars)
  nr <- rv$desc[[2L]]
  skipped_df <- function(sk) new_df(list(row_var = rv$name, by_na = sk[1L], row_na = sk[2L],
                                         col_na = sum(sk[2L + seq_len(ncv)])))
  if (fused_ok(rv, cvars, bvars, dl, cal) && !isTRUE(opt$wzero)) {
    # single variables with strata or clusters: one C routine makes the
    # cells per design unit, the point estimates and the inference, so that
    # nothing per design unit reaches R
    du <- design_units(des)
    copt <- inf_options(opt, des, cal)
    ncs <- vapply(cdesc, `[[`, 1L, 2L)
    copt$test <- vapply(ncs, function(nc) block_test(copt$test, nr, nc), 1L)
    # the letters of a column do not depend on how many columns there are
    copt$labels <- rep(list(col_letters(max(ncs))), length(ncs))
    res <- .Call(C_tab_des, rv$desc, cdesc, bdesc, dl$desc, w, design_info(des, du, dl$nd), copt)
    ord <- c(ncv + 1L, seq_len(ncv))
    return(list(rv = rv, cvars = all_cvars, bvars = bvars, cols = res$cols[ord],
                inf = res$inf[ord], skipped = skipped_df(res$skipped)))
  }
  extra <- c(if (!is.null(cal)) list(cal$desc), if (!is.null(dl)) list(dl$desc))
  res <- .Call(C_tab, rv$desc, cdesc, c(bdesc, extra), w)
  w0res <- if (!is.null(cal))
    .Call(C_tab, rv$desc, cdesc, c(bdesc, list(cal$desc)), cal$w0) else NULL
  raw <- c(res$cols[ncv + 1L], res$cols[seq_len(ncv)])
  raw0 <- if (is.null(w0res)) NULL else c(w0res$cols[ncv + 1L], w0res$cols[seq_len(ncv)])
  ng <- if (is.null(cal)) 1L else cal$G
  nd <- (if (is.null(dl)) 1L else dl$nd) * ng
  nb <- prod(vapply(bvars, function(v) v$desc[[2L]], 1L))
  sum_d <- function(m) if (nd == 1L) m else .Call(C_sum_units, m, as.integer(nd))
  cols <- lapply(raw, function(cj) lapply(cj, sum_d))
  inf <- NULL
  if (!opt$se) {
    return(list(rv = rv, cvars = all_cvars, bvars = bvars, cols = cols, inf = NULL,
                skipped = skipped_df(res$skipped)))
  }
  du <- design_units(des)
  dd <- nd / ng                       # design layers (strata or PSUs)
  if (isTRUE(opt$wzero)) raw <- if (!is.null(opt$db_pos))   # database sources
    db_add_positive(raw, rv, cdesc, c(bdesc, extra), opt$db_pos, ncv) else
      add_positive(raw, rv, cdesc, c(bdesc, extra), w, ncv)
  # calibration on numeric auxiliaries: the entries' sums of w0 u and w^2 u (var.R)
  caux <- cal_aux_pass(cal, rv$desc, cdesc, bdesc, dl, ncv)
  strat_desc <- if (!des$clustered && length(des$strata_levels) > 1L)
    list(list(0L, length(des$strata_levels), list(des$stratum), 0L, 0L)) else list()
  dinfo <- design_info(des, du, dd)
  copt <- inf_options(opt, des, cal)
  # per column variable: what the C routine needs (or NULL: no inference)
  prep <- lapply(seq_along(all_cvars), function(j) {
    cv <- all_cvars[[j]]
    nc <- cv$desc[[2L]]
    K <- nr * nc
    Kp <- K + nc + nr + 1L
    if (Kp > max_inference_cells()) {
      note_once("inference", sprintf("standard errors, intervals and tests are not computed for blocks of more than %d cells and bases (option umfrage.max_inference_cells)", max_inference_cells()))
      return(NULL)
    }
    single <- rv$kind == "single" && cv$kind %in% c("single", "total")
    test_j <- if (single) block_test(copt$test, nr, nc) else 0L
    # rows as PSUs with an MR set: Q per stratum from a cross-product pass
    Qall <- if (!des$clustered && !single)
      .Call(C_tab_xprod, rv$desc, cv$desc, c(bdesc, strat_desc), w)
    # multistage (issue 17): Sigma from the finest units' sums (z_cov())
    sigma <- if (!is.null(cal) || !is.null(des$ms)) {
      unlist(lapply(seq_len(nb), function(b) {
        z <- list(s1 = z_totals(raw[[j]], nr, nc, nb, nd, b, 2L),
                  s2 = z_totals(raw[[j]], nr, nc, nb, nd, b, 3L),
                  w0z = if (!is.null(cal)) z_totals(raw0[[j]], nr, nc, nb, ng, b, 2L))
        if (!des$clustered) {
          z$Q <- if (single) {
            q_single(sum_cal(z$s2[seq_len(K), , drop = FALSE], ng), nr, nc)
          } else {
            Qa <- array(Qall, c(Kp, Kp, nb, length(des$strata_levels)))
            lapply(seq_len(dim(Qa)[4L]), function(h) Qa[, , b, h])
          }
        }
        z_cov(z$s1, z$s2, z$Q, des, du, cal, z$w0z, cal_aux_z(caux, j, nr, nc, nb, b))
      }), use.names = FALSE)
    }
    # multistage (issue 17): the C routine counts PSUs (df, letters)
    list(raw = if (is.null(des$ms)) raw[[j]] else ms_to_psu(raw[[j]], des),
         dims = c(nr, nc, nb, ng, if (is.null(des$ms)) dd else length(des$psu_stratum)),
         sigma = sigma,
         qarr = if (is.null(sigma)) Qall, single = single, test = test_j,
         labels = col_letters(nc))
  })
  todo <- which(!vapply(prep, is.null, NA))
  inf <- vector("list", length(all_cvars))
  if (length(todo)) {
    pp <- prep[todo]
    field <- function(f) lapply(pp, `[[`, f)
    copt$single <- vapply(pp, function(x) as.integer(x$single), 1L)
    copt$test <- vapply(pp, function(x) as.integer(x$test), 1L)
    copt$labels <- field("labels")
    ires <- .Call(C_block_inf, field("raw"), as.integer(unlist(field("dims"))),
                 field("sigma"), field("qarr"), dinfo, copt)
    inf[todo] <- ires
  }
  list(rv = rv, cvars = all_cvars, bvars = bvars, cols = cols, inf = inf,
       skipped = skipped_df(res$skipped))
}

# The design of a data frame: rows are the PSUs, one stratum, with
# replacement.
rows_design <- function(data, w) {
  n <- nrow(data)
  list(data = data, weights = w, calibration = attr(w, "calibration"),
       clustered = FALSE, strata_levels = "1",
       stratum = NULL, n_psu = n, pop_psu = Inf, lonely_psu = "certainty",
       psu_stratum = NULL)
}

# Long form of one block (a list of columns): one row per (row item,
# column item, layer).
# With bases = TRUE: the column bases instead (one row per column item and
# layer), as the header of a printed table shows them.
# Besides the documented columns, the integer identity of each row:
# .row_var (index of the row variable, `i`), .row (its level), .col_var
# (index of the column variable, 1 = Total), .col (its level), .layer (row
# of layer_grid()); the by-columns are named .by1, .by2, ... here, and tab()
# splits the identity off and names the by-columns.
tab_cells <- function(b, percent, bases = FALSE, i = 1L, min_base = 0) {
  rv <- b$rv
  nr <- length(rv$levels)
  layers <- layer_grid(b$bvars)
  nb <- if (is.null(layers)) 1L else nrow(layers)
  # a "(missing)" level shows only where it occurs
  is_missing_level <- function(v) v$kind == "single" && identical(v$desc[[4L]], 1L)
  drop_row <- is_missing_level(rv) &&
    sum(matrix(b$cols[[1L]]$cells[, 1L], nr)[nr, ]) == 0
  out <- lapply(seq_along(b$cvars), function(j) {
    cv <- b$cvars[[j]]
    cj <- b$cols[[j]]
    nc <- length(cv$levels)
    ri <- rep(seq_len(nr), times = nc * nb)
    ci <- rep(rep(seq_len(nc), each = nr), times = nb)
    bi <- rep(seq_len(nb), each = nr * nc)
    cell <- cj$cells
    base <- switch(percent,
                   col = , none = cj$colbase[ci + nc * (bi - 1L), , drop = FALSE],
                   row = cj$rowbase[ri + nr * (bi - 1L), , drop = FALSE],
                   total = cj$allbase[bi, , drop = FALSE])
    drop_col <- is_missing_level(cv) && sum(cell[ci == nc, 1L]) == 0
    keep <- !((drop_row & ri == nr) | (drop_col & ci == nc))
    if (bases) {
      keep <- keep & ri == 1L
      cb <- cj$colbase[ci[keep] + nc * (bi[keep] - 1L), , drop = FALSE]
      cols <- c(list(row_var = rep(rv$name, sum(keep)), col_var = rep(cv$name, sum(keep)),
                     col = cv$levels[ci[keep]]),
                lapply(layers, function(l) l[bi[keep]]),
                list(base_n = cb[, 1L], base_w = cb[, 2L], small_base = cb[, 1L] < min_base,
                     base_eff = num_if(cb[, 3L] > 0, cb[, 2L]^2 / cb[, 3L], 0),
                     .row_var = rep(as.integer(i), sum(keep)), .col_var = rep(j, sum(keep)),
                     .col = ci[keep], .layer = bi[keep]))
      return(cols)
    }
    pct <- if (percent == "none") rep(NA_real_, length(ri)) else
      num_if(base[, 2L] > 0, 100 * cell[, 2L] / base[, 2L], NA_real_)
    inf <- b$inf[[j]]
    na_col <- rep(NA_real_, length(ri))
    infcol <- function(f, na = na_col) if (is.null(inf)) na else inf[[f]]
    if (percent == "none" && !is.null(inf)) inf[c("se", "ci_low", "ci_high", "deff")] <- list(na_col)
    cols <- c(list(row_var = rep(rv$name, length(ri)), row = rv$levels[ri],
                   col_var = rep(cv$name, length(ri)), col = cv$levels[ci]),
              lapply(layers, function(l) l[bi]),
              list(n = cell[, 1L], n_w = cell[, 2L],
                   n_eff = num_if(cell[, 3L] > 0, cell[, 2L]^2 / cell[, 3L], 0),
                   pct = pct, se = infcol("se"), ci_low = infcol("ci_low"),
                   ci_high = infcol("ci_high"), letters = infcol("letters", rep("", length(ri))),
                   se_n_w = infcol("se_n_w"), deff = infcol("deff"), df = infcol("df"),
                   base_n = base[, 1L], base_w = base[, 2L], small_base = base[, 1L] < min_base,
                   statistic = infcol("statistic"), ndf = infcol("ndf"), ddf = infcol("ddf"),
                   p_value = infcol("p_value"),
                   # numeric rows (numeric.R) share the long form: the statistic and its value
                   stat = rep("pct", length(ri)), estimate = pct),
              list(.row_var = rep(as.integer(i), length(ri)), .row = ri,
                   .col_var = rep(j, length(ri)), .col = ci, .layer = bi))
    if (!all(keep)) cols <- lapply(cols, `[`, keep)
    cols
  })
  rbind_cols(out)
}

# Whether the cell passes may use their AVX2 copies (cells.c; internal, for
# tests comparing them with the baseline). Returns the old setting.
cells_avx2 <- function(on) invisible(.Call(C_cells_avx2, isTRUE(on)))

# ifelse(test, yes, no) for a double vector `yes` of test's length, a
# scalar `no` and a test without attributes, as ifelse() gives it (NA where
# test is NA), at a fraction of its cost (it ran per cell of every table).
num_if <- function(test, yes, no) {
  if (all(is.na(test))) return(test)   # as ifelse(): logical, also when empty
  yes[!test] <- no
  yes[is.na(test)] <- NA
  yes
}

# A data frame from equal-length columns, without data.frame()'s checks.
new_df <- function(cols) {
  attr(cols, "row.names") <- .set_row_names(length(.subset2(cols, 1L)))
  class(cols) <- "data.frame"
  cols
}

# Concatenate lists of equal-length columns (with the same names) row-wise.
rbind_cols <- function(parts) {
  nonempty <- parts[vapply(parts, function(d) length(.subset2(d, 1L)) > 0L, NA)]
  if (length(nonempty) == 0L) return(parts[[1L]])
  if (length(nonempty) == 1L) return(nonempty[[1L]])
  lapply(stats::setNames(seq_along(nonempty[[1L]]), names(nonempty[[1L]])),
         function(j) unlist(lapply(nonempty, .subset2, j), use.names = FALSE))
}
