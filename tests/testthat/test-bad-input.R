# The bad-input matrix: every exported function against wrong types,
# degenerate data, bad weights, odd levels and sizes. Each case states its
# outcome: an error whose message matches a regular expression, a warning,
# or a result that is checked. No case may crash R or hang.

methods::setClass("umfTestS4", representation(x = "numeric"))

bi_data <- function() {
  set.seed(42)
  d <- data.frame(sex = c("f", "m")[c(1, 2, 1, 1, 2, 2, 1, 2, 1, 1)],
                  age = factor(c("a", "b", "c", "a", "b", "c", "a", "b", "c", "a")),
                  x = c(1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10),
                  w = c(1, 2, 1, 1, 2, 2, 1, 1, 3, 1),
                  st = rep(1:2, each = 5), psu = 1:10,
                  stringsAsFactors = FALSE)
  d$yes1 <- c(TRUE, FALSE, TRUE, TRUE, FALSE, TRUE, FALSE, TRUE, TRUE, FALSE)
  d$yes2 <- !d$yes1
  d
}
tg_sex <- list(sex = c(f = 0.5, m = 0.5))
tg_2 <- list(sex = c(f = 0.5, m = 0.5), age = c(a = 0.3, b = 0.3, c = 0.4))

# Each case: a label, an expression, and the expected outcome:
#   "error" + regexp, "warning" + regexp, or "ok" + a check function.
E <- function(label, expr, pattern) list(label = label, expr = substitute(expr), type = "error", pattern = pattern)
W <- function(label, expr, pattern) list(label = label, expr = substitute(expr), type = "warning", pattern = pattern)
OK <- function(label, expr, check = function(v) TRUE) list(label = label, expr = substitute(expr), type = "ok", check = check)

d <- bi_data()
s4 <- methods::new("umfTestS4", x = 1)
dd <- d
names(dd)[2] <- "sex"
lab_nolab <- structure(c(1, 2, 1, 2, 1, 2, 1, 2, 1, 2), class = c("haven_labelled", "vctrs_vctr", "double"))
dup_fac <- structure(c(1L, 2L, 1L, 2L, 1L, 2L, 1L, 2L, 1L, 2L), levels = c("a", "a"), class = "factor")
d_dupfac <- d
d_dupfac$age <- dup_fac
d_lab <- d
d_lab$lab <- lab_nolab
d_unused <- transform(d, age = factor(age, levels = c("a", "b", "c", "zz")))
d_blank <- transform(d, sex = c("f", "", "f", "m", "", "m", "f", "m", "f", NA))
d_nonsyn <- d
names(d_nonsyn)[1] <- "my sex"
d_allna <- transform(d, age = factor(rep(NA, 10), levels = c("a", "b", "c")))
one_row <- d[1, ]
des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu)
big <- data.frame(v = seq_len(2e5) + 0.5)

cases <- list(
  # ---- wt_rake -----------------------------------------------------------------
  E("rake: data is a list", wt_rake(as.list(d), tg_sex), "'data' must be a data frame, not an object of class 'list'"),
  E("rake: data is a function", wt_rake(mean, tg_sex), "'data' must be a data frame, not a function"),
  E("rake: data is an environment", wt_rake(new.env(), tg_sex), "'data' must be a data frame, not an environment"),
  E("rake: data is S4", wt_rake(s4, tg_sex), "'data' must be a data frame, not an S4 object of class 'umfTestS4'"),
  E("rake: data is NULL", wt_rake(NULL, tg_sex), "'data' must be a data frame, not NULL"),
  E("rake: zero rows", wt_rake(d[0, ], tg_sex), "'data' has no rows"),
  OK("rake: one row", wt_rake(one_row, list(sex = c(f = 3))), function(v) isTRUE(all.equal(as.numeric(v), 3))),
  E("rake: all-NA margin variable", wt_rake(d_allna, tg_2), "variable 'age' has 10 NA value\\(s\\) \\(first at row 1\\)"),
  E("rake: NA weight", wt_rake(d, tg_sex, weights = replace(d$w, 3, NA)), "'weights' holds 1 NA value\\(s\\) \\(first at row 3\\)"),
  E("rake: NaN weight", wt_rake(d, tg_sex, weights = replace(d$w, 4, NaN)), "'weights' holds 1 NA value\\(s\\) \\(first at row 4\\)"),
  E("rake: Inf weight", wt_rake(d, tg_sex, weights = replace(d$w, 5, Inf)), "'weights' holds 1 infinite value\\(s\\) \\(first at row 5\\)"),
  E("rake: negative weight", wt_rake(d, tg_sex, weights = replace(d$w, 6, -1)), "'weights' holds 1 negative value\\(s\\) \\(first at row 6\\)"),
  E("rake: all-zero weights", wt_rake(d, tg_sex, weights = rep(0, 10)), "all have starting weight 0|are all zero"),
  E("rake: weights of the wrong length", wt_rake(d, tg_sex, weights = 1:3), "'weights' has length 3 but 'data' has 10 rows"),
  E("rake: weights a character column name absent", wt_rake(d, tg_sex, weights = "nope"), "'weights' names column 'nope', which is not in 'data'"),
  E("rake: weights a list", wt_rake(d, tg_sex, weights = list(1)), "'weights' must be numeric, not an object of class 'list'"),
  E("rake: unused factor level with a positive target", wt_rake(d_unused, list(age = c(a = 1, b = 1, c = 1, zz = 1))),
    "target level\\(s\\) 'zz' of 'age' have a positive target but no respondents"),
  OK("rake: unused factor level with target 0", wt_rake(d_unused, list(age = c(a = 3, b = 3, c = 4, zz = 0))),
     function(v) isTRUE(all.equal(sum(v), 10))),
  E("rake: duplicated factor levels", wt_rake(d_dupfac, list(age = c(a = 1))), "factor 'age' has duplicated levels"),
  E("rake: character with \"\" and NA", wt_rake(d_blank, list(sex = c(f = 5, m = 5))), "variable 'sex' has 1 NA value\\(s\\) \\(first at row 10\\)"),
  E("rake: labelled without labels", wt_rake(d_lab, list(lab = c("1" = 5, "2" = 5))),
    "variable 'lab' must be a factor, character, logical, integer or labelled column"),
  E("rake: margin totals of 0", wt_rake(d, list(sex = c(f = 0, m = 0))), "targets for 'sex' sum to 0"),
  E("rake: target for an absent level", wt_rake(d, list(sex = c(f = 5, m = 4, x = 1))),
    "target level\\(s\\) 'x' of 'sex' have a positive target but no respondents"),
  E("rake: level without a target", wt_rake(d, list(sex = c(f = 5))), "level\\(s\\) 'm' of 'sex' occur in 4 row\\(s\\) of 'data' but have no target"),
  E("rake: duplicate column names", wt_rake(dd, tg_sex), "'data' has duplicated column names: 'sex'"),
  OK("rake: non-syntactic names", wt_rake(d_nonsyn, list(`my sex` = c(f = 6, m = 4))), function(v) isTRUE(all.equal(sum(v), 10))),
  E("rake: targets not a list", wt_rake(d, 1:3), "'targets' must be a non-empty named list"),
  E("rake: unnamed target vector", wt_rake(d, list(sex = c(1, 2))), "targets for 'sex' must be a named vector"),
  E("rake: targets NA", wt_rake(d, list(sex = c(f = NA, m = 1))), "targets for 'sex' contain NA"),
  E("rake: negative target", wt_rake(d, list(sex = c(f = -1, m = 1))), "targets for 'sex' must not be negative"),
  E("rake: infinite target", wt_rake(d, list(sex = c(f = Inf, m = 1))), "targets for 'sex' must be finite"),
  E("rake: margins disagree", wt_rake(d, list(sex = c(f = 5, m = 5), age = c(a = 1, b = 1, c = 1))), "margins in 'targets' disagree"),
  E("rake: variable not in data", wt_rake(d, list(nope = c(a = 1))), "'targets' names variable\\(s\\) not in 'data': 'nope'"),
  E("rake: epsilon negative", wt_rake(d, tg_sex, epsilon = -1), "'epsilon' must be a single finite number >= 0"),
  E("rake: maxit 0", wt_rake(d, tg_sex, maxit = 0), "'maxit' must be a single whole number >= 1"),
  E("rake: maxit NA", wt_rake(d, tg_sex, maxit = NA), "'maxit' must be a single whole number >= 1"),
  E("rake: cap below 1", wt_rake(d, tg_sex, cap = 0.5), "'cap' must be a single finite number >= 1"),
  E("rake: verbose NA", wt_rake(d, tg_sex, verbose = NA), "'verbose' must be TRUE or FALSE"),
  OK("rake: cell product above 2^31 (rows mode)", wt_rake(
    data.frame(a = as.character(1:10), b = as.character(11:20), c = as.character(21:30), e = as.character(31:40)),
    list(a = stats::setNames(rep(1, 10), 1:10), b = stats::setNames(rep(1, 10), 11:20),
         c = stats::setNames(rep(1, 10), 21:30), e = stats::setNames(rep(1, 10), 31:40))),
    function(v) isTRUE(all.equal(as.numeric(v), rep(1, 10)))),
  # ---- wt_poststrat -------------------------------------------------------------
  E("poststrat: targets a number", wt_poststrat(d, 5), "'targets' must be a data frame of cells"),
  E("poststrat: no target column", wt_poststrat(d, data.frame(sex = c("f", "m"), n = 1:2)), "needs a column 'target' \\(or 'Freq'\\)"),
  E("poststrat: duplicated cells", wt_poststrat(d, data.frame(sex = c("f", "f"), target = 1:2)), "has duplicated cells: 'f'"),
  E("poststrat: NA in a cell key", wt_poststrat(d, data.frame(sex = c("f", NA), target = 1:2)), "column 'sex' of the cell targets holds NA"),
  OK("poststrat: a table", wt_poststrat(d, xtabs(~sex, data.frame(sex = c("f", "m", "m")))), function(v) isTRUE(all.equal(sum(v), 3))),
  # ---- wt_calibrate ------------------------------------------------------------
  E("calibrate: data a list", wt_calibrate(as.list(d), tg_sex), "'data' must be a data frame"),
  E("calibrate: empty targets", wt_calibrate(d, list()), "'targets' must be a non-empty named list"),
  E("calibrate: NA bound", wt_calibrate(d, tg_sex, bounds = c(NA, 2)), "'bounds' must be two numbers"),
  E("calibrate: numeric NA", wt_calibrate(transform(d, x = replace(x, 2, NA)), list(sex = c(f = 5, m = 5), x = 60)),
    "numeric auxiliary 'x' holds 1 NA or infinite value\\(s\\) \\(first at row 2\\)"),
  E("calibrate: negative weights", wt_calibrate(d, tg_sex, weights = -d$w), "'weights' holds 10 negative value"),
  E("calibrate: maxit bad", wt_calibrate(d, tg_sex, maxit = 1.5), "'maxit' must be a single whole number >= 1"),
  OK("calibrate: one numeric auxiliary only", wt_calibrate(d, list(x = 60)), function(v) isTRUE(all.equal(sum(v * d$x), 60))),
  # ---- wt_trim ------------------------------------------------------------------
  E("trim: character", wt_trim(letters, upper = 2), "'w' must be a non-empty numeric vector"),
  E("trim: empty", wt_trim(numeric(), upper = 2), "'w' must be a non-empty numeric vector"),
  E("trim: all zero", wt_trim(c(0, 0), upper = 2), "'w' are all zero"),
  E("trim: lower a string", wt_trim(d$w, lower = "a"), "'lower' must be a single finite number >= 0"),
  E("trim: upper negative", wt_trim(d$w, upper = -1), "'upper' must be a single finite number >= 0"),
  OK("trim: one weight", wt_trim(5, upper = 10), function(v) as.numeric(v) == 5),
  # ---- wt_summary ---------------------------------------------------------------
  E("summary: character", wt_summary("a"), "'w' must be a numeric vector of weights"),
  E("summary: empty", wt_summary(numeric()), "'w' has length 0"),
  E("summary: NA", wt_summary(c(1, NA)), "'w' holds 1 NA value"),
  E("summary: all zero", wt_summary(c(0, 0)), "'w' are all zero"),
  E("summary: list", wt_summary(list(1, 2)), "'w' must be a numeric vector of weights, not an object of class 'list'"),
  OK("summary: a single weight", wt_summary(2), function(v) v$stats$deff == 1),
  # ---- svy_design ---------------------------------------------------------------
  E("design: data a matrix", svy_design(as.matrix(d)), "'data' must be a data frame"),
  E("design: strata NA", svy_design(transform(d, st = replace(st, 1, NA)), strata = ~st), "'strata' column 'st' holds 1 NA value\\(s\\) \\(first at row 1\\)"),
  E("design: cluster NA", svy_design(transform(d, psu = replace(psu, 2, NA)), cluster = ~psu), "'cluster' column 'psu' holds 1 NA value\\(s\\) \\(first at row 2\\)"),
  E("design: strata column absent", svy_design(d, strata = ~nope), "'strata' names column 'nope', which is not in 'data'"),
  E("design: two-sided formula", svy_design(d, strata = y ~ st), "'strata' must name one column"),
  E("design: fpc below the PSUs", svy_design(transform(d, f = 2), strata = ~st, cluster = ~psu, fpc = ~f), "'fpc' gives 2 population PSUs in stratum '1', fewer than its 5 sampled PSUs"),
  E("design: fpc varies in a stratum", svy_design(transform(d, f = 20 + seq_len(10)), strata = ~st, cluster = ~psu, fpc = ~f), "'fpc' must be constant within a stratum, but varies in stratum '1'"),
  E("design: fpc not numeric", svy_design(transform(d, f = "a"), strata = ~st, fpc = ~f), "'fpc' column 'f' must be numeric"),
  E("design: single PSU under fail", svy_design(transform(d, st = c(1, rep(2, 9))), strata = ~st, cluster = ~psu), "stratum '1' has only one PSU"),
  E("design: lonely_psu unknown", svy_design(d, lonely_psu = "nope"), "'arg' should be one of|lonely_psu"),
  E("design: negative weights", svy_design(d, weights = -d$w), "'weights' holds 10 negative value"),
  E("as_svydesign: not a design", as_svydesign(d), "'x' must be an svy_design\\(\\), not an object of class 'data.frame'"),
  # ---- tab ----------------------------------------------------------------------
  E("tab: x a list", tab(as.list(d), "sex"), "'x' must be a data frame, not an object of class 'list'"),
  E("tab: x NULL", tab(NULL, "sex"), "'x' must be a data frame, not NULL"),
  E("tab: x S4", tab(s4, "sex"), "'x' must be a data frame, not an S4 object"),
  E("tab: x zero rows", tab(d[0, ], "sex"), "'x' has no rows"),
  OK("tab: one row", tab(one_row, "sex"), function(v) as.data.frame(v)$n == 1),
  E("tab: rows absent", tab(d, "nope"), "'rows' names column\\(s\\) not in 'x': 'nope'"),
  E("tab: rows a number", tab(d, 1), "'rows' must be column names, a one-sided formula, an mr_set\\(\\) or a list of these"),
  E("tab: rows a function", tab(d, mean), "'rows' must be column names"),
  E("tab: rows empty string", tab(d, ""), "'rows' holds an empty or NA name"),
  E("tab: cols two-sided formula", tab(d, "sex", cols = a ~ b), "'cols' as a formula must be one-sided"),
  E("tab: weights negative", tab(d, "sex", weights = -d$w), "'weights' holds 10 values that are NA, negative or infinite"),
  E("tab: weights NaN", tab(d, "sex", weights = replace(d$w, 2, NaN)), "'weights' holds 1 values that are NA, negative or infinite"),
  E("tab: weights wrong length", tab(d, "sex", weights = 1:2), "'weights' has length 2 but 'data' has 10 rows"),
  E("tab: weights all zero", tab(d, "sex", weights = rep(0, 10)), "'weights' are all zero"),
  E("tab: weights with a design", tab(des, "sex", weights = "w"), "'weights' must be NULL when 'x' is an svy_design\\(\\)"),
  E("tab: percent unknown", tab(d, "sex", percent = "x"), "'arg' should be one of"),
  E("tab: level 2", tab(d, "sex", level = 2), "'level' must be a single number between 0 and 1 \\(exclusive\\), not 2"),
  E("tab: level 0", tab(d, "sex", level = 0), "'level' must be a single number between 0 and 1"),
  E("tab: alpha 0", tab(d, "sex", alpha = 0), "'alpha' must be a single number between 0 and 1"),
  E("tab: alpha NA", tab(d, "sex", alpha = NA), "'alpha' must be a single number between 0 and 1"),
  E("tab: test unknown", tab(d, "sex", test = "x"), "'test' must be TRUE, FALSE, \"F\" or \"Chisq\""),
  E("tab: letters NA", tab(d, "sex", letters = NA), "'letters' must be TRUE or FALSE"),
  E("tab: se a string", tab(d, "sex", se = "yes"), "'se' must be TRUE or FALSE"),
  E("tab: ci unknown", tab(d, "sex", ci = "exact"), "'arg' should be one of"),
  E("tab: na unknown", tab(d, "sex", na = "keep"), "'arg' should be one of"),
  E("tab: by an MR set", tab(d, "sex", by = mr_set(d, c("yes1", "yes2"))), "'by' takes single variables, not MR sets"),
  OK("tab: all-NA row variable", tab(d_allna, "age"), function(v) all(as.data.frame(v)$n == 0)),
  E("tab: duplicated factor levels", tab(d_dupfac, "age"), "factor 'age' has duplicated levels"),
  OK("tab: unused factor level kept", tab(d_unused, "age"), function(v) "zz" %in% as.data.frame(v)$row),
  OK("tab: character with \"\" and NA", tab(d_blank, "sex"), function(v) all(as.data.frame(v)$row == c("", "f", "m"))),
  E("tab: labelled without labels", tab(d_lab, "lab"), "'rows' variable 'lab' must be a factor, character, logical, integer or labelled column"),
  E("tab: a list column", tab(transform(d, l = I(as.list(1:10))), "l"), "column 'l' of 'x' is a list column"),
  E("tab: duplicate column names", tab(dd, "sex"), "'x' has duplicated column names: 'sex'"),
  OK("tab: non-syntactic names", tab(d_nonsyn, "my sex", cols = "age"), function(v) "my sex" %in% as.data.frame(v)$row_var),
  E("tab: 2e5 distinct values", tab(big, "v"), "'rows' variable 'v' has 200000 distinct values, more than the 200 a table shows"),
  E("tab: more cells than the limit", tab(data.frame(a = as.character(1:400), b = as.character(1:400), e = as.character(1:400)),
                                         "a", cols = "b", by = "e"), "would have 64,000,000 cells, more than the limit of 50,000,000"),
  E("tab: more than 2^31 - 1 cells", {
    old <- options(umfrage.max_cells = Inf, umfrage.max_levels = 2000)
    on.exit(options(old))
    x <- as.character(1:1300)
    tab(data.frame(a = x, b = x, e = x), "a", cols = "b", by = "e")
  }, "too many|more than"),
  # ---- mr_set -------------------------------------------------------------------
  E("mr_set: data a list", mr_set(as.list(d), c("yes1", "yes2")), "'data' must be a data frame"),
  E("mr_set: cols absent", mr_set(d, c("yes1", "nope")), "'cols' names column\\(s\\) not in 'data': 'nope'"),
  E("mr_set: cols twice", mr_set(d, c("yes1", "yes1")), "'cols' names column\\(s\\) twice: 'yes1'"),
  E("mr_set: positions out of range", mr_set(d, c(1, 99)), "'cols' holds positions outside 1..8"),
  E("mr_set: no cols", mr_set(d, character()), "'cols' must name at least one column"),
  E("mr_set: mixed types", mr_set(d, c("yes1", "x")), "the columns of an MR set must be of one type"),
  E("mr_set: labels wrong length", mr_set(d, c("yes1", "yes2"), labels = "a"), "'labels' must be a character vector with one label per column \\(2\\)"),
  E("mr_set: counted for logicals", mr_set(d, c("yes1", "yes2"), counted = "Y"), "'counted' must be TRUE or FALSE for logical columns"),
  E("mr_set: type unknown", mr_set(d, c("yes1", "yes2"), type = "x"), "'arg' should be one of"),
  E("mr_set: label not a string", mr_set(d, c("yes1", "yes2"), label = 1:2), "'label' must be a single string"),
  # ---- umfrage_threads ------------------------------------------------------------
  E("threads: 0", umfrage_threads(0), "'n' must be a single whole number >= 1"),
  E("threads: negative", umfrage_threads(-2), "'n' must be a single whole number >= 1"),
  E("threads: NA", umfrage_threads(NA), "'n' must be a single whole number >= 1"),
  E("threads: a string", umfrage_threads("a"), "'n' must be a single whole number >= 1"),
  E("threads: fractional", umfrage_threads(1.5), "'n' must be a single whole number >= 1"),
  E("threads: two values", umfrage_threads(c(1, 2)), "'n' must be a single whole number >= 1"),
  E("threads: Inf", umfrage_threads(Inf), "'n' must be a single whole number >= 1")
)

test_that("the bad-input matrix has at least 80 cases, each with its outcome", {
  expect_gte(length(cases), 80L)
  labels <- vapply(cases, `[[`, "", "label")
  expect_false(anyDuplicated(labels) > 0)
})

for (cs in cases) {
  local({
    cs <- cs
    test_that(paste("bad input:", cs$label), {
      env <- environment()
      if (cs$type == "error") {
        expect_error(eval(cs$expr, env), cs$pattern)
      } else if (cs$type == "warning") {
        expect_warning(eval(cs$expr, env), cs$pattern)
      } else {
        v <- eval(cs$expr, env)
        expect_true(cs$check(v))
      }
    })
  })
}
