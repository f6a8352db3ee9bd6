# Input edges (issue 12): SPSS user-missing values, grouped data frames,
# matrix / data-frame / list columns, a single string as 'weights' with one
# row, kik_read() when cleaning removes every row, and kik_read() on an
# export with very many columns.

# tab() results without the parts that depend on how they were reached
cells_of <- function(t) as.data.frame(t, stringsAsFactors = FALSE)

# ---- SPSS user-missing values -------------------------------------------------

spss_data <- function() {
  set.seed(12)
  n <- 60
  v <- sample(c(1, 2, 3, 9, 91, 95, NA), n, TRUE, prob = c(4, 4, 2, 2, 1, 1, 1))
  y <- sample(c("p", "q"), n, TRUE)
  list(
    spss = data.frame(
      x = haven::labelled_spss(v, labels = c(yes = 1, no = 2, dk = 9, refused = 95),
                               na_values = 9, na_range = c(90, 99), label = "Question x"),
      y = y, g = rep(c("g1", "g2"), length.out = n), w = seq(0.5, 2, length.out = n)),
    # the same data with the user-missing codes set to NA (and their labels gone)
    na = data.frame(
      x = haven::labelled(replace(v, v %in% c(9, 91, 95), NA), labels = c(yes = 1, no = 2),
                          label = "Question x"),
      y = y, g = rep(c("g1", "g2"), length.out = n), w = seq(0.5, 2, length.out = n)),
    # the same data with the codes as ordinary values
    plain = data.frame(
      x = haven::labelled(v, labels = c(yes = 1, no = 2, dk = 9, refused = 95),
                          label = "Question x"),
      y = y, g = rep(c("g1", "g2"), length.out = n), w = seq(0.5, 2, length.out = n)),
    v = v)
}

test_that("tab(): SPSS user-missing codes are missing, in rows, cols and by", {
  skip_if_not_installed("haven")
  s <- spss_data()
  for (na in c("drop", "level")) {
    expect_identical(cells_of(tab(s$spss, "x", weights = "w", na = na)),
                     cells_of(tab(s$na, "x", weights = "w", na = na)), info = na)
    expect_identical(cells_of(tab(s$spss, "y", cols = "x", na = na)),
                     cells_of(tab(s$na, "y", cols = "x", na = na)), info = na)
    expect_identical(cells_of(tab(s$spss, "y", by = "x", na = na)),
                     cells_of(tab(s$na, "y", by = "x", na = na)), info = na)
  }
  # the base: rows with a valid answer, counted independently
  t <- cells_of(tab(s$spss, "x", se = FALSE))
  valid <- !is.na(s$v) & !s$v %in% c(9, 91, 95)
  expect_identical(t$row, c("yes", "no", "3"))
  expect_equal(unique(t$base_n), sum(valid))
  expect_equal(t$n, as.vector(table(factor(s$v[valid], levels = c(1, 2, 3)))))
  # na = "level": user-missing codes go to "(missing)" with the NAs
  t <- cells_of(tab(s$spss, "x", se = FALSE, na = "level"))
  expect_equal(t$n[t$row == "(missing)"], sum(!valid))
})

test_that("option umfrage.user_na = \"level\" keeps user-missing codes as answers", {
  skip_if_not_installed("haven")
  s <- spss_data()
  old <- options(umfrage.user_na = "level")
  on.exit(options(old))
  expect_identical(cells_of(tab(s$spss, "x", cols = "y")), cells_of(tab(s$plain, "x", cols = "y")))
  t <- cells_of(tab(s$spss, "x", se = FALSE))
  expect_equal(t$n[t$row == "dk"], sum(s$v == 9, na.rm = TRUE))
  expect_equal(unique(t$base_n), sum(!is.na(s$v)))
  tg <- list(x = c(yes = 10, no = 10, "3" = 5, dk = 3, "91" = 1, refused = 1))
  expect_equal(as.numeric(wt_rake(s$plain[!is.na(s$v), ], tg)),
               as.numeric(wt_rake(s$spss[!is.na(s$v), ], tg)))
  options(umfrage.user_na = "bogus")
  expect_error(tab(s$spss, "x"), "option 'umfrage.user_na' must be \"missing\" or \"level\", not 'bogus'")
})

test_that("weighting and designs read user-missing codes as missing", {
  skip_if_not_installed("haven")
  s <- spss_data()
  ok <- !is.na(s$v)
  d <- s$spss[ok, ]
  nmiss <- sum(s$v[ok] %in% c(9, 91, 95))
  # a target for the user-missing code 'dk' no longer finds it
  tg <- list(x = c(yes = 10, no = 10, "3" = 5, dk = 3, "91" = 1, refused = 1))
  expect_error(wt_rake(d, tg), "'dk'")
  expect_error(wt_poststrat(d, tg), "'dk'")
  expect_error(wt_calibrate(d, tg), "'dk'")
  # without: the user-missing rows are NA, and say so
  tg2 <- list(x = c(yes = 10, no = 10, "3" = 5))
  expect_error(wt_rake(d, tg2), sprintf("variable 'x' has %d NA value", nmiss))
  # the valid rows rake as the NA-coded data
  keep <- !s$v[ok] %in% c(9, 91, 95)
  expect_equal(as.numeric(wt_rake(d[keep, ], tg2)), as.numeric(wt_rake(s$na[ok, ][keep, ], tg2)))
  # strata: a user-missing code is no stratum
  d$psu <- seq_len(nrow(d))
  expect_error(svy_design(d, strata = ~x), sprintf("'strata' column 'x' holds %d NA value", nmiss))
})

test_that("mr_set(): user-missing codes are 'not asked' in dichotomies and no item in categories", {
  skip_if_not_installed("haven")
  a <- c(1, 0, 9, 1, 1, 0, 9, 0, 1, 1)
  b <- c(0, 1, 9, 1, 0, 0, 9, 1, 0, 99)
  spss <- data.frame(a = haven::labelled_spss(a, labels = c(yes = 1, no = 0), na_values = 9, na_range = c(90, 99)),
                     b = haven::labelled_spss(b, labels = c(yes = 1, no = 0), na_values = 9, na_range = c(90, 99)))
  na <- data.frame(a = haven::labelled(replace(a, a >= 9, NA), labels = c(yes = 1, no = 0)),
                   b = haven::labelled(replace(b, b >= 9, NA), labels = c(yes = 1, no = 0)))
  for (base in c("answered", "all")) {
    t1 <- cells_of(tab(spss, mr_set(spss, c("a", "b"), counted = 1, base = base)))
    t2 <- cells_of(tab(na, mr_set(na, c("a", "b"), counted = 1, base = base)))
    expect_identical(t1, t2, info = base)
  }
  # base = "all": respondents with at least one non-missing item
  t <- cells_of(tab(spss, mr_set(spss, c("a", "b"), counted = 1, base = "all"), se = FALSE))
  expect_equal(unique(t$base_n), sum(!(a >= 9 & b >= 9)))
  # categories: mentions with a user-missing code (99, 95) are no item
  m1 <- c(1, 2, 99, 3, 1, 95, 2, 1)
  m2 <- c(2, 99, 99, 1, 3, 95, 1, 3)
  cs <- data.frame(m1 = haven::labelled_spss(m1, labels = c(A = 1, B = 2, C = 3, DK = 99), na_range = c(90, 99)),
                   m2 = haven::labelled_spss(m2, labels = c(A = 1, B = 2, C = 3, DK = 99), na_range = c(90, 99)))
  cn <- data.frame(m1 = haven::labelled(replace(m1, m1 >= 90, NA), labels = c(A = 1, B = 2, C = 3)),
                   m2 = haven::labelled(replace(m2, m2 >= 90, NA), labels = c(A = 1, B = 2, C = 3)))
  s1 <- mr_set(cs, c("m1", "m2"), type = "category")
  expect_identical(s1$items, c("A", "B", "C"))  # labels, not 'm1.A', ...
  expect_identical(cells_of(tab(cs, s1)), cells_of(tab(cn, mr_set(cn, c("m1", "m2"), type = "category"))))
})

# ---- grouped data frames ----------------------------------------------------------

grp_data <- function() {
  set.seed(7)
  n <- 80
  data.frame(x = sample(c("a", "b", "c"), n, TRUE), y = sample(c("p", "q"), n, TRUE),
             g = sample(c("g1", "g2"), n, TRUE), h = sample(c("h1", "h2"), n, TRUE),
             w = runif(n, 0.5, 2), stringsAsFactors = FALSE)
}

test_that("tab() uses dplyr groups as 'by' layers after the given ones", {
  skip_if_not_installed("dplyr")
  d <- grp_data()
  gd <- dplyr::group_by(d, g)
  expect_identical(tab(gd, "x", cols = "y", weights = "w"), tab(d, "x", cols = "y", by = "g", weights = "w"))
  expect_identical(tab(gd, "x", by = "h"), tab(d, "x", by = c("h", "g")))
  expect_identical(tab(gd, "x", by = ~g), tab(d, "x", by = "g"))
  expect_identical(tab(dplyr::group_by(d, g, h), "x"), tab(d, "x", by = c("g", "h")))
  # counts per group, independently
  t <- cells_of(tab(gd, "x", se = FALSE))
  expect_equal(t$n, as.vector(table(factor(d$x), d$g)))
  expect_error(tab(dplyr::rowwise(d), "x"), "'x' is a rowwise data frame .*ungroup\\(\\) it first")
  # an MR set is defined the same on grouped data
  d$m1 <- d$x == "a"
  d$m2 <- d$y == "p"
  expect_identical(mr_set(dplyr::group_by(d, g), c("m1", "m2")), mr_set(d, c("m1", "m2")))
})

test_that("weighting and design functions refuse grouped data", {
  skip_if_not_installed("dplyr")
  d <- grp_data()
  gd <- dplyr::group_by(d, g)
  tg <- list(x = c(a = 1, b = 1, c = 1))
  expect_error(wt_rake(gd, tg), "'data' is grouped \\(dplyr::group_by\\(\\), by 'g'\\), but wt_rake\\(\\) does not work within groups: ungroup\\(\\) it first")
  expect_error(wt_poststrat(gd, tg), "'data' is grouped .*wt_poststrat\\(\\)")
  expect_error(wt_calibrate(gd, tg), "'data' is grouped .*wt_calibrate\\(\\)")
  expect_error(svy_design(gd, weights = ~w), "'data' is grouped .*svy_design\\(\\)")
  expect_error(wt_rake(dplyr::rowwise(d), tg), "'data' is rowwise")
  # ungrouped, all is well
  expect_equal(sum(wt_rake(dplyr::ungroup(gd), tg)), 3)
})

# ---- matrix, data-frame and list columns -------------------------------------------

test_that("matrix, data-frame and list columns are refused wherever a column is read", {
  d <- data.frame(x = rep(c("a", "b"), 25), w = rep(1:2, 25), st = rep(1:2, each = 25))
  d$m <- matrix(rep(1:2, 50), 50, 2)
  d$df <- data.frame(u = rep(1:2, 25), v = 1)
  d$l <- as.list(rep(1:2, 25))
  d$m1 <- d$m[, 1] == 1
  for (col in c("m", "df", "l")) {
    pat <- sprintf("column '%s' of '%%s' is a %s", col,
                   c(m = "matrix \\(50 x 2\\)", df = "data frame", l = "list column")[[col]])
    xp <- sprintf(pat, "x")
    dp <- sprintf(pat, "data")
    expect_error(tab(d, col), xp)
    expect_error(tab(d, "x", cols = col), xp)
    expect_error(tab(d, "x", by = col), xp)
    expect_error(tab(d, "x", weights = col), dp)
    expect_error(mr_set(d, c("m1", col)), dp)
    tg <- stats::setNames(list(c("1" = 1, "2" = 1)), col)
    expect_error(wt_rake(d, tg), dp)
    expect_error(wt_poststrat(d, tg), dp)
    expect_error(wt_calibrate(d, tg), dp)
    expect_error(wt_calibrate(d, stats::setNames(list(75), col)), dp)
    expect_error(wt_rake(d, list(x = c(a = 1, b = 1)), weights = col), dp)
    expect_error(svy_design(d, strata = col), dp)
    expect_error(svy_design(d, cluster = col), dp)
    expect_error(svy_design(d, weights = col), dp)
    des <- svy_design(d, strata = ~st)
    expect_error(tab(des, col), xp)
  }
  expect_error(tab(d, "m"), "do.call\\(data.frame, x\\)")
})

# ---- one-row data: a single string is a column name ------------------------------------

test_that("with one row, weights = \"wt\" and ~wt name the column", {
  d1 <- data.frame(a = "x", wt = 2.5)
  for (wt in list("wt", ~wt)) {
    t <- cells_of(tab(d1, "a", weights = wt, se = FALSE))
    expect_equal(t$n_w, 2.5)
    expect_equal(as.numeric(wt_rake(d1, list(a = c(x = 5)), weights = wt)), 5)
    expect_equal(as.numeric(wt_poststrat(d1, list(a = c(x = 5)), weights = wt)), 5)
    expect_equal(svy_design(d1, weights = wt, lonely_psu = "certainty")$weights, 2.5)
  }
  expect_error(tab(d1, "a", weights = "nope"), "'weights' names column 'nope', which is not in 'data'")
  d2 <- data.frame(a = c("x", "y"), wt = 1:2)
  expect_error(tab(d2, "a", weights = c("1", "2")),
               "'weights' must be numeric or the name of one column of 'data', not a character vector of length 2")
  expect_error(tab(d2, "a", weights = NA_character_), "'weights' names column 'NA'")
})

# ---- kik_read() -------------------------------------------------------------------

kik_export <- function() {
  utils::read.table(system.file("extdata", "kik_rohdaten.csv", package = "umfrage"),
                    sep = ";", header = TRUE, quote = "\"", colClasses = "character",
                    na.strings = character(0), comment.char = "", check.names = FALSE,
                    encoding = "UTF-8")
}

# write a data frame of character columns as the tool's export; `extra`
# fields (one name and value per extra column) are appended to each line
write_kik <- function(df, file, extra_names = character(), extra_value = "1") {
  field <- function(x) {
    x <- enc2utf8(as.character(x))
    need <- grepl("[;\"\n\r]", x)
    x[need] <- paste0("\"", gsub("\"", "\"\"", x[need], fixed = TRUE), "\"")
    x
  }
  eh <- if (length(extra_names)) paste0(";", paste(field(extra_names), collapse = ";")) else ""
  er <- if (length(extra_names)) paste0(";", paste(rep(extra_value, length(extra_names)), collapse = ";")) else ""
  lines <- c(paste0(paste(field(names(df)), collapse = ";"), eh),
             paste0(do.call(paste, c(lapply(df, field), sep = ";")), er))
  writeBin(charToRaw(enc2utf8(paste0(paste(lines, collapse = "\n"), "\n"))), file)
  file
}

test_that("kik_read() says so when the cleaning removes every row", {
  raw <- kik_export()
  f <- tempfile(fileext = ".csv")
  on.exit(unlink(f))
  raw$submitdate <- ""
  write_kik(raw, f)
  # the three test entries of the shipped export, the rest incomplete
  n <- nrow(raw)
  expect_error(kik_read(f, quiet = TRUE),
               sprintf("the cleaning rules removed every row of file '.*': of its %d rows, 3 were test entries, %d incomplete \\(no submit date\\) and 0 earlier responses",
                       n, n - 3L))
})

test_that("kik_read() parses only the codebook's columns: many other columns change nothing", {
  ref <- kik_read(quiet = TRUE)
  raw <- kik_export()
  f <- tempfile(fileext = ".csv")
  on.exit(unlink(f))
  # 2e4 extra columns at the end and one in the middle, with a duplicated
  # and an empty name among them
  wide <- cbind(raw[1:6], X0 = "z", raw[-(1:6)])
  write_kik(wide, f, extra_names = c(paste0("X", seq_len(2e4)), "X1", ""))
  expect_identical(kik_read(f, quiet = TRUE), ref)
  # the other columns are not even parsed
  cb <- kik_codebook()
  rd <- umfrage:::read_delim_text(f, "path", keep = umfrage:::data_columns(cb))
  expect_identical(names(rd), names(raw))
  expect_equal(length(attr(rd, "header")), ncol(raw) + 1 + 2e4 + 1)
  # a header name with a line break: read in full, the same result
  wide2 <- raw
  wide2[["note\nx"]] <- "q"
  write_kik(wide2, f)
  expect_identical(kik_read(f, quiet = TRUE), ref)
  # too many fields in a line is still an error
  lines <- readLines(system.file("extdata", "kik_rohdaten.csv", package = "umfrage"), encoding = "UTF-8")
  lines[2] <- paste0(lines[2], ";extra")
  writeLines(lines, f, useBytes = TRUE)
  expect_error(kik_read(f, quiet = TRUE), "more columns than column names")
})
