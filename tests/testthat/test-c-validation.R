# The C routines check their own arguments: these calls crashed (UBSan, out
# of bounds) or tried absurd allocations before, and were found by
# tools/fuzz.R. Each must now end in an R error that names the problem, or
# in a correct result.

cfun <- function(nm) get(nm, envir = asNamespace("umfrage"))
tot_var <- list(3L, 1L, list(), 0L, 0L)

test_that("calibration rejects a negative maxit and an absurd variable index", {
  cal <- function(margins, control)
    .Call(cfun("C_calibrate"), list(1:3), 3L, NULL, margins, list(c(1, 1, 1)), list(), double(),
          0L, c(-Inf, Inf), control)
  expect_error(cal(list(0L), list(1e-9, -1L)), "'maxit' must be a non-negative integer")
  expect_error(cal(list(0L), list(NaN, 10L)), "'epsilon' must be a non-negative number")
  expect_error(cal(list(.Machine$integer.max), list(1e-9, 10L)),
               "margin 1 refers to variable 2147483647, outside 0..0")
  expect_error(cal(list(NA_integer_), list(1e-9, 10L)), "margin 1 refers to variable")
})

test_that("a huge maxit allocates nothing up front", {
  r <- .Call(cfun("C_rake"), list(c(1L, 2L, 1L, 2L)), 2L, NULL, list(0L), list(c(1, 1)), FALSE,
             NA_real_, 1e-10, .Machine$integer.max, NA)
  expect_identical(r$status, 0L)
  expect_true(r$converged)
  expect_length(r$trace, r$iterations + 1L)
})

test_that("absurd level counts are rejected before anything is allocated", {
  expect_error(.Call(cfun("C_cell_stats"), list(1:3), .Machine$integer.max, NULL),
               "'codes' would need 2147483647 cells, too many for 3 rows")
  expect_error(.Call(cfun("C_cell_sum_w"), list(1:3, 1:3), c(65536L, 65536L), c(1, 1, 1)),
               "more than the 2147483647 that can be indexed|would need")
  expect_error(.Call(cfun("C_tab"), list(0L, 1073741824L, list(1:3), 0L, 0L), list(tot_var), list(), NULL),
               "the table would need")
  expect_error(.Call(cfun("C_tab_xprod"), list(2L, 100000L, list(1:3), 0L, 0L), tot_var, list(), NULL),
               "the cross-products would need")
  # cells on request, but too many of them: raking falls back to rows
  codes <- list(rep(1:10, 2), rep(1:2, 10), rep(1:5, 4))
  r <- .Call(cfun("C_rake"), codes, c(1000L, 1000L, 1000L), NULL, list(0L, 1L),
             list(c(rep(1, 10), rep(0, 990)), c(5, 5, rep(0, 998))), FALSE, NA_real_, 1e-10, 100L, TRUE)
  expect_identical(r$mode, "rows")
  expect_true(r$converged)
})

test_that("inference checks the sums' lengths before sizing work space by 'dims'", {
  raw <- list(cells = matrix(1, 4, 3), colbase = matrix(4, 1, 3), rowbase = matrix(1, 4, 3),
              allbase = matrix(4, 1, 3))
  des <- list(mode = 2L, stratum = 1L, scale = 1, center = 1L, nh = 4)
  opt <- list(percent = 0L, ci = 1L, level = 0.95, letters = 1L, alpha = 0.05, adjust = 0L,
              kg_rows = -1, layer_rows = 4, layer_nu = 3, single = 1L, test = 0L, labels = list("A"))
  expect_error(.Call(cfun("C_block_inf"), list(raw), c(4L, 1L, 1L, 1073741824L, 1L), list(NULL),
                     list(NULL), des, opt),
               "'raws' element 1, part 1 must hold 3 x 4294967296 doubles")
  expect_error(.Call(cfun("C_block_inf"), list(raw), c(4L, 1L, 1L, 1L, 1L), list(NULL),
                     list(NULL), des, unname(opt)),
               "'opt' must be a named list")
  res <- .Call(cfun("C_block_inf"), list(raw), c(4L, 1L, 1L, 1L, 1L), list(NULL), list(NULL), des, opt)
  expect_length(res[[1L]]$se, 4L)
})

test_that("the fused design pass survives NA strata and unnamed options", {
  rowv <- list(0L, 2L, list(c(1L, 2L, 1L, 2L)), 0L, 0L)
  dl <- list(0L, 2L, list(c(1L, 1L, 2L, 2L)), 0L, 0L)
  des <- list(mode = 1L, stratum = c(NA, 2L), scale = c(1, 1), center = c(1L, 1L), nh = c(2, 2))
  opt <- list(percent = 0L, ci = 1L, level = 0.95, letters = 1L, alpha = 0.05, adjust = 0L,
              kg_rows = -1, test = 0L, labels = list("A"))
  tab_des <- function(des, opt) .Call(cfun("C_tab_des"), rowv, list(tot_var), list(), dl, NULL, des, opt)
  expect_error(tab_des(des, opt), "'stratum' out of range")
  expect_error(tab_des(des, unname(opt)), "'opt' must be a named list")
  expect_error(tab_des(des[-3], opt), "'des' has no element 'scale'")
  des$stratum <- 1:2
  expect_equal(tab_des(des, opt)$inf[[1L]]$se, c(25, 25))
})

test_that("table variable descriptors are checked field by field", {
  tab1 <- function(rowv) .Call(cfun("C_tab"), rowv, list(tot_var), list(), NULL)
  expect_error(tab1(list(0L, 2L, list(c(1L, 3L, 2L)), -3L, 0L)), "'rows': the NA-level flag must be 0 or 1")
  expect_error(tab1(list(0L, 2L, list(c(1L, 2L)), NA_integer_, 0L)), "'rows': the NA-level flag must be 0 or 1")
  expect_error(tab1(list(1L, 2L, list(c(TRUE, NA)), 0L, 7L)), "'rows': the base flag must be 0 or 1")
  expect_error(tab1(list(1L, 1L, list(c(TRUE, FALSE), c(TRUE, TRUE)), 0L, 0L)),
               "'rows': 1 levels for 2 dichotomy columns")
  expect_error(tab1(list(0L, 2.5, list(1:2), 0L, 0L)), "'rows': the number of levels must be a single integer")
  # a category set with a huge level count but few columns: no huge scratch
  r <- .Call(cfun("C_tab"), list(2L, 3L, list(c(1L, 3L), c(3L, NA)), 0L, 0L), list(tot_var), list(), NULL)
  expect_equal(r$cols[[1L]]$cells[, 1L], c(1, 0, 2))
})

test_that("a constant row variable takes the general path (was a NULL column read)", {
  r <- .Call(cfun("C_tab"), list(3L, 3L, list(1:2, 1:2, 1:2), 0L, 0L),
             list(list(0L, 2L, list(c(1L, 2L, 2L, NA)), 0L, 0L)), list(), NULL)
  expect_equal(r$cols[[1L]]$cells[, 1L], c(1, 2))
  expect_equal(r$skipped, c(0, 0, 1))
})

test_that("raking counts the levels of all margins together", {
  # margins may share one long target vector; the sum of their levels is
  # bounded before any target length is trusted (2 + 1e8 levels here)
  expect_error(.Call(cfun("C_rake"), list(c(1L, 2L), c(1L, 1L)), c(2L, 100000000L), NULL,
                     list(0L, 1L), list(c(1, 1), 1), FALSE, NA_real_, 1e-10, 10L, NA),
               "the margins have more than 1e8 levels in all")
})

test_that("a table by design unit may not outgrow what its rows can fill", {
  # 2^24 + 1 row levels x 12 design units for 4 rows: rejected before any
  # allocation; layouts of a realistic size (a small table by many units)
  # stay allowed, as the rows reach every unit
  rowv <- list(0L, 16777217L, list(c(1L, 2L, 1L, 2L)), 0L, 0L)
  dl <- list(0L, 12L, list(c(1L, 1L, 2L, 2L)), 0L, 0L)
  des <- list(mode = 0L, stratum = rep(1:2, 6), scale = c(1, 1), center = c(1L, 1L), nh = c(6, 6))
  opt <- list(percent = 0L, ci = 1L, level = 0.95, letters = 1L, alpha = 0.05, adjust = 0L,
              kg_rows = -1, test = 0L, labels = list("A"))
  expect_error(.Call(cfun("C_tab_des"), rowv, list(tot_var), list(), dl, NULL, des, opt),
               "the table by design unit would need 201326604 cells, too many for 4 rows")
})
