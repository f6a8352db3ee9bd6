# A banner on a database in one scan (issue 18): the cells of every block of
# one tab() call are fetched together, by one stream of rows aggregated in
# C on SQLite (db_table(cells = "stream"), "auto" there) and by one query
# with GROUP BY GROUPING SETS on PostgreSQL ("grouping_sets"; "auto" there
# keeps one query per block); every statistic equals tab() on the same rows in memory.
skip_if_not_installed("DBI")

# The progress messages of an expression (and its value).
collect_msgs <- function(expr) {
  msgs <- character()
  old <- options(umfrage.progress = function(m) msgs <<- c(msgs, m))
  on.exit(options(old))
  value <- force(expr)
  list(value = value, msgs = msgs)
}

# The banner cases on a connection and a way of fetching the cells:
# NULLs in a row variable (na = "drop"/"level"), an MR set, nets, a `by`
# layer, strata + clusters, weights with zeros, fpc-derived weights,
# unweighted; `check(msgs)` tests how the cells were fetched.
banner_cases <- function(con, engine, way, check) {
  test_that(sprintf("%s, cells = \"%s\": a banner equals tab() in memory", engine, way), {
    DBI::dbWriteTable(con, "simb", db_sim_data(1500, seed = 41), overwrite = TRUE, row.names = FALSE)
    back <- DBI::dbReadTable(con, "simb")
    expect_gt(sum(back$w == 0), 0)
    expect_gt(sum(is.na(back$vote)), 0)
    db <- db_table(con, "simb", cells = way)
    dich <- mr_set(back, c("b1", "b2", "b3"), counted = 1, label = "brands")
    cat_set <- mr_set(back, c("m1", "m2"), type = "category", label = "media")
    rows <- list("vote", dich, nets("vote", AB = c("A", "B")), cat_set)
    cols <- list("sex", "age", "urban", dich)
    sd <- svy_design(db, weights = "w", strata = "st", cluster = "psu")
    sm <- svy_design(back, weights = "w", strata = "st", cluster = "psu")
    for (na in c("drop", "level")) {
      got <- collect_msgs(tab(sd, rows, cols = cols, by = "grade", na = na, test = "Chisq"))
      expect_same_tab(got$value, tab(sm, rows, cols = cols, by = "grade", na = na, test = "Chisq"))
      check(got$msgs)
    }
    # no design; no weights; weights from the fpc; no column variables
    expect_same_tab(tab(db, rows, cols = cols, weights = "w", na = "level"),
                    tab(back, rows, cols = cols, weights = "w", na = "level"))
    expect_same_tab(tab(db, c("vote", "sex"), cols = c("age", "urban")),
                    tab(back, c("vote", "sex"), cols = c("age", "urban")))
    fd <- svy_design(db, strata = "st", cluster = "psu", fpc = "fpc")
    fm <- svy_design(back, strata = "st", cluster = "psu", fpc = "fpc")
    expect_same_tab(tab(fd, list("vote", dich), cols = c("sex", "age"), deff = "survey"),
                    tab(fm, list("vote", dich), cols = c("sex", "age"), deff = "survey"))
    expect_same_tab(tab(sd, list("vote", "sex", dich), by = "age"), tab(sm, list("vote", "sex", dich), by = "age"))
  })
}

# ---- SQLite: one stream of rows --------------------------------------------------

skip_if_not_installed("RSQLite")
con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
withr::defer(DBI::dbDisconnect(con))
old_chunk <- options(umfrage.db_chunk = 97)   # 16 chunks of the 1,500 rows
withr::defer(options(old_chunk))

# the stream reads the table once (besides the design query), in chunks
stream_check <- function(msgs) {
  expect_length(grep("^umfrage: reading table 'simb' once for [0-9]+ sets", msgs), 1L)
  expect_gte(length(grep("^umfrage: reading table 'simb': [0-9,]+ rows$", msgs)), 2L)
  expect_length(grep("^umfrage: grouping", msgs), 1L)   # the design query
}
banner_cases(con, "SQLite", "stream", stream_check)
banner_cases(con, "SQLite", "auto", stream_check)
banner_cases(con, "SQLite", "query", function(msgs) {
  expect_length(grep("reading", msgs), 0L)
  expect_gt(length(grep("^umfrage: grouping table 'simb' by vote", msgs)), 1L)
})

test_that("SQLite stream: dictionaries and groups that grow across chunks (3,000 PSUs) give the cells of one query per set", {
  set.seed(3)
  n <- 6000
  d <- data.frame(pid = sprintf("p%04d", sample(3000, n, TRUE)), h = sample(letters[1:5], n, TRUE),
                  x = sample(c(1.5, -0, 0, 2.25, NA), n, TRUE), y = sample(c("u", "v", NA), n, TRUE),
                  w = round(runif(n, 0, 3), 2), stringsAsFactors = FALSE)
  DBI::dbWriteTable(con, "many", d, overwrite = TRUE)
  back <- DBI::dbReadTable(con, "many")
  old <- options(umfrage.db_chunk = 500)
  on.exit(options(old))
  s1 <- svy_design(db_table(con, "many", cells = "stream"), weights = "w", strata = "h", cluster = "pid",
                   lonely_psu = "adjust")
  sm <- svy_design(back, weights = "w", strata = "h", cluster = "pid", lonely_psu = "adjust")
  expect_same_tab(tab(s1, c("x", "y"), cols = c("y", "x"), na = "level"),
                  tab(sm, c("x", "y"), cols = c("y", "x"), na = "level"))
  # the pattern sums themselves, against base R's aggregate of the rows
  P <- umfrage:::db_cells_stream(db_table(con, "many"), list(c("pid", "x"), c("y", "h")), "w")
  key <- paste(back$pid, back$x)
  ref <- tapply(back$w, key, sum)
  expect_equal(unname(P[[1]]$stats$sw), unname(as.vector(ref[paste(P[[1]]$vars$pid, P[[1]]$vars$x)])),
               tolerance = 1e-13)
  expect_identical(sum(P[[1]]$stats$n), as.double(n))
  expect_identical(nrow(P[[1]]$vars), length(unique(key)))
  expect_equal(P[[2]]$stats$npos, as.vector(tapply(back$w > 0, paste(back$y, back$h), sum)[
    paste(P[[2]]$vars$y, P[[2]]$vars$h)]), ignore_attr = TRUE)
  expect_equal(P[[2]]$stats$wmin, as.vector(tapply(back$w, paste(back$y, back$h), min)[
    paste(P[[2]]$vars$y, P[[2]]$vars$h)]), ignore_attr = TRUE)
})

test_that("SQLite stream: a column whose type changes between chunks (NULLs first, then integers)", {
  DBI::dbExecute(con, "DROP TABLE IF EXISTS untyped")
  DBI::dbExecute(con, "CREATE TABLE untyped (a, b TEXT, w REAL)")
  vals <- c(rep("NULL", 150), sample(c("1", "2", "3", "NULL"), 350, TRUE))
  DBI::dbExecute(con, sprintf("INSERT INTO untyped VALUES %s", paste(sprintf(
    "(%s, '%s', %s)", vals, sample(c("x", "y"), 500, TRUE), round(runif(500, 0.5, 2), 2)), collapse = ", ")))
  back <- DBI::dbGetQuery(con, "SELECT CAST(a AS INTEGER) AS a, b, w FROM untyped")
  got <- tab(db_table(con, "untyped", cells = "stream"), c("a", "b"), cols = c("b", "a"), weights = "w",
             na = "level")
  expect_same_tab(got, tab(back, c("a", "b"), cols = c("b", "a"), weights = "w", na = "level"))
})

test_that("SQLite stream: an engine error in the middle of the stream is the clear error of a failed cell query", {
  DBI::dbWriteTable(con, "simbad", db_sim_data(500, seed = 2), overwrite = TRUE)
  # integer overflow of abs() at row 300, after the first chunks were read
  DBI::dbExecute(con, "DROP VIEW IF EXISTS boom")
  DBI::dbExecute(con, paste("CREATE VIEW boom AS SELECT sex, age, w, CASE WHEN rowid = 300",
                            "THEN abs(-9223372036854775807 - 1) ELSE vote END AS vote FROM simbad"))
  msgs <- character()
  old <- options(umfrage.progress = function(m) msgs <<- c(msgs, m))
  on.exit(options(old))
  expect_error(tab(db_table(con, "boom"), "vote", cols = c("sex", "age"), weights = "w"),
               "table 'boom' \\(column\\(s\\) 'vote', 'sex', 'age'\\) could not be grouped in the database: .*overflow")
  # it failed after the first chunks
  expect_true("umfrage: reading table 'boom': 194 rows" %in% msgs)
  # the connection stays usable (the result was cleared)
  expect_identical(nrow(DBI::dbGetQuery(con, "SELECT 1 AS x")), 1L)
})

test_that("bad 'cells' and 'umfrage.db_chunk' are clear errors; the stream's C routines check their state", {
  expect_error(db_table(con, "simb", cells = "hash"), "'cells' must be one of \"auto\", \"query\", \"grouping_sets\" or \"stream\"")
  expect_error(db_table(con, "simb", cells = NA), "'cells' must be one of")
  old <- options(umfrage.db_chunk = 0)
  on.exit(options(old))
  expect_error(tab(db_table(con, "simb", cells = "stream"), "vote", cols = c("sex", "age")),
               "option 'umfrage.db_chunk' must be a number of rows")
  ns <- asNamespace("umfrage")
  expect_error(.Call(ns$C_dbs_chunk, NULL, list(), NULL), "'state' must be a stream state")
  expect_error(.Call(ns$C_dbs_new, list(c(0L, 3L)), 2L, FALSE), "set 1 refers to column 3, outside 0..1")
  expect_error(.Call(ns$C_dbs_new, list(c(0L, 0L)), 2L, FALSE), "names column 0 twice")
  st <- .Call(ns$C_dbs_new, list(0L, 1L), 2L, TRUE)
  expect_error(.Call(ns$C_dbs_chunk, st, list(1:3, 1:2), c(1, 1, 1)), "column 2 has 2 rows, not 3")
  expect_error(.Call(ns$C_dbs_chunk, st, list(1:3, list(1, 2, 3)), c(1, 1, 1)), "column 2 must be integer, double or character")
  expect_error(.Call(ns$C_dbs_chunk, st, list(1:3, 1:3), NULL), "'w' must be a double vector")
  .Call(ns$C_dbs_chunk, st, list(c(1L, 1L, 2L), c("a", "b", "a")), c(1, NA, 2))
  expect_error(.Call(ns$C_dbs_chunk, st, list(c(1.5, 1, 2), c("a", "b", "a")), c(1, 1, 1)),
               "column 1 has another type than in earlier chunks")
  r <- list(.Call(ns$C_dbs_result, st, 0L), .Call(ns$C_dbs_result, st, 1L))
  expect_identical(r[[1]]$stats$n, c(2, 1))
  expect_identical(r[[1]]$stats$sw, c(1, 2))        # SQL's SUM skips NULL
  expect_identical(r[[2]]$stats$wnull, c(0, 1))
  expect_identical(r[[2]]$stats$sw, c(3, NA))       # a group of NULL weights only: NULL
  expect_error(.Call(ns$C_dbs_result, st, 1L), "set 2 was already returned")
  expect_error(.Call(ns$C_dbs_result, st, 2L), "'i' must be a set index in 0..1")
  expect_error(.Call(ns$C_dbs_chunk, st, list(1L, "a"), 1), "already returned")
})

# ---- PostgreSQL: one query with GROUPING SETS ---------------------------------------

if (isTRUE(pg_start())) {
  pcon <- pg_test_con()
  gsets_check <- function(msgs) {
    expect_length(grep("^umfrage: grouping table 'simb' by [0-9]+ sets of columns at once", msgs), 1L)
    expect_length(grep("^umfrage: grouping", msgs), 2L)   # and the design query
  }
  banner_cases(pcon, "PostgreSQL", "grouping_sets", gsets_check)
  # auto: one query per block (grouping sets were twice as slow on
  # PostgreSQL 15 for bench/db.R's banner)
  banner_cases(pcon, "PostgreSQL", "auto", function(msgs) {
    expect_length(grep("sets of columns at once|reading", msgs), 0L)
    expect_gt(length(grep("^umfrage: grouping table 'simb' by vote", msgs)), 1L)
  })
  banner_cases(pcon, "PostgreSQL", "stream", stream_check)

  test_that("PostgreSQL grouping sets: more than 31 columns tell the sets apart (two GROUPING() masks); one scan", {
    set.seed(8)
    n <- 800
    d <- as.data.frame(stats::setNames(lapply(1:40, function(i) sample(c(0L, 1L, NA), n, TRUE, c(0.5, 0.45, 0.05))),
                                       sprintf("q%02d", 1:40)))
    d$sex <- sample(c("f", "m"), n, TRUE)
    d$age <- sample(c("y", "o", NA), n, TRUE)
    d$w <- round(runif(n, 0, 2), 2)
    DBI::dbWriteTable(pcon, "wide", d, overwrite = TRUE, row.names = FALSE)
    back <- DBI::dbReadTable(pcon, "wide")
    A <- mr_set(back, sprintf("q%02d", 1:20), counted = 1, label = "A")
    B <- mr_set(back, sprintf("q%02d", 21:40), counted = 1, label = "B")
    got <- collect_msgs(tab(db_table(pcon, "wide", cells = "grouping_sets"), list(A, B, "age"),
                            cols = c("sex", "age"), weights = "w", na = "level"))
    gsets_check <- grep("sets of columns at once", got$msgs, value = TRUE)
    expect_length(gsets_check, 1L)
    expect_same_tab(got$value, tab(back, list(A, B, "age"), cols = c("sex", "age"), weights = "w", na = "level"))
    # the plan: one scan of the table for all the sets
    sets <- list(c("q01", "q02", "sex"), c("q21", "sex"), c("age", "sex"), "age")
    Q <- umfrage:::db_gsets_sql(db_table(pcon, "wide"), sets, "w")
    sql <- Q$sql
    expect_match(sql, "GROUP BY GROUPING SETS", fixed = TRUE)
    expect_length(Q$parts, 1L)
    Q2 <- umfrage:::db_gsets_sql(db_table(pcon, "wide"), list(c(A$cols, "sex"), c(B$cols, "sex")), "w")
    expect_identical(unname(lengths(Q2$parts)), c(31L, 9L))
    ex <- DBI::dbGetQuery(pcon, paste("EXPLAIN", sql))[[1L]]
    expect_length(grep("Seq Scan on wide", ex, fixed = TRUE), 1L)
  })

  test_that("PostgreSQL grouping sets: a lost connection is the clear error of a failed cell query", {
    con2 <- pg_connect(pg_state)
    DBI::dbWriteTable(con2, "simlost", db_sim_data(300), overwrite = TRUE, row.names = FALSE)
    db2 <- db_table(con2, "simlost", cells = "grouping_sets")
    old <- options(umfrage.progress = function(msg) if (grepl("at once", msg)) DBI::dbDisconnect(con2))
    on.exit(options(old))
    expect_error(tab(db2, "vote", cols = c("sex", "age"), weights = "w"),
                 "table 'simlost' \\(column\\(s\\) 'vote', 'sex', 'age'\\) could not be grouped in the database")
  })
}

test_that("option umfrage.db_cells chooses the way for sources made without 'cells' (dbplyr tables too)", {
  skip_if_not_installed("RSQLite")
  con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
  on.exit(DBI::dbDisconnect(con))
  d <- data.frame(r = c("a", "b", "a", "c", "b", "a"), s = c("x", "x", "y", "y", "x", "y"),
                  t = c(1L, 2L, 1L, 2L, 2L, 1L), w = c(1, 2, 1.5, 0.5, 1, 2))
  DBI::dbWriteTable(con, "d", d)
  msgs <- function(expr) {
    m <- character()
    withCallingHandlers(expr, message = function(e) { m <<- c(m, conditionMessage(e)); invokeRestart("muffleMessage") })
    m
  }
  ref <- tab(d, "r", cols = c("s", "t"), weights = "w")
  withr::local_options(umfrage.progress = TRUE)
  # auto on SQLite with two blocks: one stream of rows
  m_auto <- msgs(x_auto <- tab(db_table(con, "d"), "r", cols = c("s", "t"), weights = "w"))
  expect_true(any(grepl("reading table .d. once", m_auto)))
  # the option: one GROUP BY per block, no stream
  withr::local_options(umfrage.db_cells = "query")
  m_q <- msgs(x_q <- tab(db_table(con, "d"), "r", cols = c("s", "t"), weights = "w"))
  expect_false(any(grepl("reading table .d. once", m_q)))
  expect_equal(sum(grepl("grouping table", m_q)), 2L)   # one query per block
  expect_equal(as.data.frame(x_q)$n_w, as.data.frame(ref)$n_w, tolerance = 1e-12)
  expect_equal(as.data.frame(x_auto)$n_w, as.data.frame(ref)$n_w, tolerance = 1e-12)
  # an explicit argument wins over the option
  m_s <- msgs(tab(db_table(con, "d", cells = "stream"), "r", cols = c("s", "t"), weights = "w"))
  expect_true(any(grepl("reading table .d. once", m_s)))
  withr::local_options(umfrage.db_cells = "sideways")
  expect_error(tab(db_table(con, "d"), "r", cols = c("s", "t"), weights = "w"),
               "option 'umfrage.db_cells' must be one of")
})

test_that("the stream groups its blocks on several threads with the same sums, bit for bit, as on one", {
  skip_if_not_installed("RSQLite")
  con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
  on.exit(DBI::dbDisconnect(con))
  set.seed(31)
  n <- 6000
  d <- data.frame(r1 = sample(c("a", "b", "c", NA), n, TRUE), r2 = sample(1:7, n, TRUE),
                  c1 = sample(c("x", "y"), n, TRUE), c2 = sample(c(TRUE, FALSE), n, TRUE),
                  c3 = sample(letters[1:5], n, TRUE), st = sample(1:6, n, TRUE),
                  w = stats::rexp(n) + 0.05, stringsAsFactors = FALSE)
  d$psu <- d$st * 100L + sample(1:9, n, TRUE)
  DBI::dbWriteTable(con, "d", d)
  old_rows <- umfrage:::threads_min_rows(64)
  old_th <- umfrage_threads(1L)
  on.exit({ umfrage:::threads_min_rows(old_rows); umfrage_threads(old_th) }, add = TRUE)
  withr::local_options(umfrage.db_chunk = 2500, umfrage.progress = FALSE)
  run <- function() {
    des <- svy_design(db_table(con, "d", cells = "stream"), weights = ~w, strata = ~st, cluster = ~psu)
    as.data.frame(tab(des, c("r1", "r2"), cols = c("c1", "c2", "c3"), na = "level"))
  }
  one <- run()
  umfrage_threads(2L)
  two <- run()
  expect_identical(two, one)
  # and both equal the table in memory
  mem <- as.data.frame(tab(svy_design(d, weights = ~w, strata = ~st, cluster = ~psu), c("r1", "r2"),
                           cols = c("c1", "c2", "c3"), na = "level"))
  for (v in c("n", "n_w", "pct", "se", "ci_low", "ci_high", "base_w"))
    expect_equal(two[[v]], mem[[v]], tolerance = 1e-12, info = v)
})

# ---- DuckDB (where the duckdb package is installed; see test-db-duckdb.R) -------

duckdb_pkg <- "duckdb"
if (requireNamespace(duckdb_pkg, quietly = TRUE)) {
  dcon <- DBI::dbConnect(getExportedValue(duckdb_pkg, "duckdb")())
  withr::defer(DBI::dbDisconnect(dcon, shutdown = TRUE))
  banner_cases(dcon, "DuckDB", "grouping_sets", function(msgs) {
    expect_length(grep("^umfrage: grouping table 'simb' by [0-9]+ sets of columns at once", msgs), 1L)
    expect_length(grep("^umfrage: grouping", msgs), 2L)   # and the design query
  })
  # auto: one query per block (grouping sets were twice as slow on DuckDB
  # 1.5.5 for bench/db.R's banner)
  banner_cases(dcon, "DuckDB", "auto", function(msgs) {
    expect_length(grep("sets of columns at once|reading", msgs), 0L)
    expect_gt(length(grep("^umfrage: grouping table 'simb' by vote", msgs)), 1L)
  })
}
