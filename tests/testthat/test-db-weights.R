# Weights on database tables (issue 18): wt_rake(), wt_poststrat() and
# wt_calibrate() on a db_table() equal the in-memory functions on the same
# rows (as read back from the database) to 1e-12, after the weights are
# written back to a new table by db_write_weights() or computed by
# db_weights_sql(); margins and totals are checked with base R; bad input
# and lost connections are clear errors naming the table, with nothing
# half-written. SQLite (a database file) and PostgreSQL (helper-postgres.R).
skip_if_not_installed("DBI")

dbw_data <- function(n = 3000, seed = 181) {
  set.seed(seed)
  data.frame(
    sex = sample(c("f", "m"), n, TRUE, prob = c(0.45, 0.55)),
    age = sample(c("18-34", "35-59", "60+"), n, TRUE, prob = c(0.2, 0.5, 0.3)),
    reg = sample(1:4, n, TRUE),
    edu = sample(c("low", "mid", "high"), n, TRUE),
    w0 = round(runif(n, 0.5, 3), 4),
    inc = round(rlnorm(n, 3, 0.5), 2),
    hh = rpois(n, 1.5) + 1L,
    vote = sample(c("A", "B", "C", NA), n, TRUE),
    stringsAsFactors = FALSE)
}

# The largest difference relative to the largest |weight|, and relative
# per weight where the weights are away from 0.
wdiff <- function(a, b) max(abs(as.double(a) - as.double(b))) / max(abs(as.double(b)))

# The weights as written to a new table, in the source's row order (the
# tables carry an id column).
written <- function(con, table, name) {
  d <- DBI::dbGetQuery(con, sprintf("SELECT * FROM %s ORDER BY id", DBI::dbQuoteIdentifier(con, table)))
  d[[name]]
}

dbw_cases <- function(con, engine, reopen = NULL) {
  d <- dbw_data()
  d$id <- seq_len(nrow(d))
  DBI::dbWriteTable(con, "dbw", d, overwrite = TRUE, row.names = FALSE)
  back <- DBI::dbGetQuery(con, "SELECT * FROM dbw ORDER BY id")
  db <- db_table(con, "dbw")
  tg <- list(sex = c(f = 0.51, m = 0.49), age = c("18-34" = 0.28, "35-59" = 0.42, "60+" = 0.30),
             reg = c("1" = 0.2, "2" = 0.3, "3" = 0.25, "4" = 0.25),
             data.frame(edu = rep(c("low", "mid", "high"), 2), sex = rep(c("f", "m"), each = 3),
                        target = c(0.2, 0.2, 0.11, 0.19, 0.2, 0.1)))

  test_that(paste(engine, ": wt_rake() on a table equals wt_rake() in memory (several margins, a joint one, starting weights)"), {
    for (w in list("w0", NULL)) {
      wd <- wt_rake(db, tg, weights = w, total = 1e6)
      wm <- wt_rake(back, tg, weights = w, total = 1e6)
      expect_s3_class(wd, "umfrage_db_weights")
      db_write_weights(wd, "wr", table = "dbw_r", overwrite = TRUE)
      got <- written(con, "dbw_r", "wr")
      expect_lte(wdiff(got, wm), 1e-12)
      expect_lte(max(abs(got / as.double(wm) - 1)), 1e-12)
      # the margins, by base R
      expect_equal(as.vector(tapply(got, back$sex, sum)[c("f", "m")]), c(0.51, 0.49) * 1e6, tolerance = 1e-9)
      expect_equal(as.vector(tapply(got, back$reg, sum)), c(0.2, 0.3, 0.25, 0.25) * 1e6, tolerance = 1e-9)
      expect_equal(sum(got[back$edu == "high" & back$sex == "m"]), 0.1 * 1e6, tolerance = 1e-9)
      # the expression, by itself
      ex <- DBI::dbGetQuery(con, sprintf("SELECT id, %s AS w FROM dbw ORDER BY id", db_weights_sql(wd)))$w
      expect_lte(wdiff(ex, wm), 1e-12)
      # diagnostics as in memory
      expect_identical(wd$info$iterations, attr(wm, "umfrage")$iterations)
      expect_true(wd$info$converged)
      mt <- attr(wm, "umfrage")$margins
      expect_identical(wd$info$margins$n, mt$n)
      expect_equal(wd$info$margins$achieved, mt$achieved, tolerance = 1e-12)
      expect_output(print(wd), "converged after .* sweep\\(s\\), largest relative margin error")
    }
  })

  test_that(paste(engine, ": wt_poststrat() on a table equals wt_poststrat() in memory"), {
    pop <- data.frame(sex = rep(c("f", "m"), 3), age = rep(c("18-34", "35-59", "60+"), each = 2),
                      target = c(900, 850, 1500, 1450, 1100, 900))
    pd <- wt_poststrat(db, pop, weights = ~w0)
    pm <- wt_poststrat(back, pop, weights = ~w0)
    db_write_weights(pd, "wp", table = "dbw_p", overwrite = TRUE)
    got <- written(con, "dbw_p", "wp")
    expect_lte(wdiff(got, pm), 1e-12)
    cells <- tapply(got, list(back$sex, back$age), sum)
    expect_equal(as.vector(cells[cbind(pop$sex, pop$age)]), pop$target, tolerance = 1e-12)
  })

  test_that(paste(engine, ": wt_calibrate() on categorical margins equals in memory (linear, raking, logit with bounds)"), {
    tc <- list(sex = c(f = 5100, m = 4900), age = c("18-34" = 2800, "35-59" = 4200, "60+" = 3000),
               edu = c(low = 3300, mid = 3400, high = 3300))
    for (m in c("linear", "raking", "logit")) {
      b <- if (m == "logit") c(1, 6) * 0.8 else if (m == "linear") c(0.5, Inf) else c(-Inf, Inf)
      cd <- wt_calibrate(db, tc, weights = "w0", method = m, bounds = b)
      cm <- wt_calibrate(back, tc, weights = "w0", method = m, bounds = b)
      db_write_weights(cd, "wc", table = "dbw_c", overwrite = TRUE)
      got <- written(con, "dbw_c", "wc")
      expect_lte(wdiff(got, cm), 1e-12)
      expect_equal(as.vector(tapply(got, back$edu, sum)[c("low", "mid", "high")]), c(3300, 3400, 3300),
                   tolerance = 1e-9)
      g <- got / back$w0
      expect_true(all(g >= b[1] - 1e-12 & g <= b[2] + 1e-12))
    }
  })

  test_that(paste(engine, ": wt_calibrate() with numeric auxiliaries converges to the in-memory weights"), {
    s0 <- sum(back$w0)
    tn <- list(sex = c(f = 5100, m = 4900), age = c("18-34" = 2800, "35-59" = 4200, "60+" = 3000),
               inc = sum(back$w0 * back$inc) * 10000 / s0 * 1.03,
               hh = sum(back$w0 * back$hh) * 10000 / s0 * 0.98)
    for (m in c("linear", "raking", "logit")) {
      b <- if (m == "logit") c(0.8, 4) else if (m == "linear") c(0.9, 3.5) else c(-Inf, Inf)
      cd <- wt_calibrate(db, tn, weights = "w0", method = m, bounds = b, epsilon = 1e-12)
      cm <- wt_calibrate(back, tn, weights = "w0", method = m, bounds = b, epsilon = 1e-12)
      db_write_weights(cd, "wn", table = "dbw_n", overwrite = TRUE)
      got <- written(con, "dbw_n", "wn")
      expect_lte(wdiff(got, cm), 1e-12)
      # the totals and the bounds, by base R
      expect_equal(sum(got * back$inc), tn$inc, tolerance = 1e-10)
      expect_equal(sum(got * back$hh), tn$hh, tolerance = 1e-10)
      expect_equal(sum(got[back$age == "60+"]), 3000, tolerance = 1e-10)
      g <- got / back$w0
      expect_true(all(g >= b[1] - 1e-12 & g <= b[2] + 1e-12))
      expect_true(cd$info$converged)
      expect_equal(cd$info$g_range, range(g), tolerance = 1e-12)
    }
    # numeric auxiliaries alone, no starting weights
    tn1 <- list(inc = sum(back$inc) * 1.1, hh = sum(back$hh) * 0.9)
    cd <- wt_calibrate(db, tn1, method = "raking", epsilon = 1e-12)
    cm <- wt_calibrate(back, tn1, method = "raking", epsilon = 1e-12)
    ex <- DBI::dbGetQuery(con, sprintf("SELECT %s AS w FROM dbw ORDER BY id", db_weights_sql(cd)))$w
    expect_lte(wdiff(ex, cm), 1e-12)
  })

  test_that(paste(engine, ": survey::calibrate() gives the same weights (independent check)"), {
    skip_if_not_installed("survey")
    tn <- list(sex = c(f = 5100, m = 4900), inc = sum(back$w0 * back$inc) * 10000 / sum(back$w0))
    cd <- wt_calibrate(db, tn, weights = "w0", method = "raking", epsilon = 1e-12)
    ex <- DBI::dbGetQuery(con, sprintf("SELECT %s AS w FROM dbw ORDER BY id", db_weights_sql(cd)))$w
    bs <- back
    bs$sex <- factor(bs$sex, levels = c("f", "m"))
    des <- survey::svydesign(ids = ~1, weights = ~w0, data = bs)
    cal <- survey::calibrate(des, ~sex + inc - 1, population = c(sexf = 5100, sexm = 4900, inc = tn$inc),
                             calfun = "raking", epsilon = 1e-12, maxit = 100)
    expect_lte(wdiff(ex, weights(cal)), 1e-10)
  })

  test_that(paste(engine, ": tab() on the written table with those weights equals tab() in memory"), {
    wd <- wt_rake(db, tg, weights = "w0", total = 1e6)
    wm <- wt_rake(back, tg, weights = "w0", total = 1e6)
    wd <- db_write_weights(wd, "wr", table = "dbw_r", overwrite = TRUE)
    expect_identical(wd$written, list(table = "dbw_r", name = "wr"))
    nt <- db_table(con, "dbw_r")
    # tab() on the database treats the weights as fixed: in memory, the same
    # weights as a plain vector
    expect_same_tab(tab(nt, "vote", cols = c("sex", "edu"), weights = wd, na = "level"),
                    tab(back, "vote", cols = c("sex", "edu"), weights = as.double(wm), na = "level"))
    expect_same_tab(tab(nt, "age", cols = "reg", weights = "wr"),
                    tab(back, "age", cols = "reg", weights = as.double(wm)))
    expect_error(tab(nt, "vote", weights = wt_rake(db, tg, weights = "w0")),
                 "not yet written: db_write_weights\\(\\) writes them")
  })

  test_that(paste(engine, ": a dbplyr table is a source of weights"), {
    skip_if_not_installed("dbplyr")
    skip_if_not_installed("dplyr")
    lz <- suppressWarnings(dplyr::filter(dplyr::tbl(con, "dbw"), reg > 1))
    tg3 <- tg[c("sex", "age")]
    wd <- wt_rake(lz, tg3, weights = "w0")
    wm <- wt_rake(back[back$reg > 1, ], tg3, weights = "w0")
    db_write_weights(wd, "wz", table = "dbw_z", overwrite = TRUE)
    expect_lte(wdiff(written(con, "dbw_z", "wz"), wm), 1e-12)
  })

  test_that(paste(engine, ": bad input is a clear error naming the table and column"), {
    expect_error(wt_rake(db, list(nope = c(a = 1, b = 1))),
                 "'targets' names column\\(s\\) not in table 'dbw': 'nope'")
    expect_error(wt_rake(db, tg, weights = "ww"), "'weights' names column 'ww', which is not in table 'dbw'")
    expect_error(wt_calibrate(db, list(sex = c(f = 1, m = 1), nope = c(a = 2))),
                 "'targets' names column\\(s\\) not in table 'dbw': 'nope'")
    expect_error(wt_rake(db, list(sex = c(f = 0.5, m = 0.5)), cap = 3),
                 "'cap' is not available when 'data' is a database table \\(table 'dbw'\\)")
    expect_error(wt_rake(db, list(age = c("18-34" = 0.5, "35-59" = 0.5))),
                 "level\\(s\\) '60\\+' of 'age' occur in [0-9,]+ row\\(s\\) of table 'dbw' but have no target")
    expect_error(wt_rake(db, list(sex = c(f = 0.5, m = 0.3, x = 0.2))),
                 "target level\\(s\\) 'x' of 'sex' have a positive target but no respondents")
    # NULL in a margin variable: the column and the rows
    expect_error(wt_rake(db, list(vote = c(A = 1, B = 1, C = 1))),
                 sprintf("margin variable 'vote' of table 'dbw' holds %s NULL value\\(s\\)",
                         format(sum(is.na(back$vote)), big.mark = ",")))
    dn <- back
    dn$inc[c(4, 8)] <- NA
    DBI::dbWriteTable(con, "dbw_null", dn, overwrite = TRUE, row.names = FALSE)
    expect_error(wt_calibrate(db_table(con, "dbw_null"), list(sex = c(f = 5000, m = 5000), inc = 1e5)),
                 "numeric auxiliary 'inc' of table 'dbw_null' holds 2 NULL value\\(s\\)")
    expect_error(wt_calibrate(db, list(sex = c(f = 5000, m = 5000), inc = 1e5, inc2 = 1)), "inc2")
    expect_error(wt_calibrate(db, list(sex = c(f = 5000, m = 5000), edu = 1e5)),
                 "numeric auxiliary 'edu' of table 'dbw' must be a numeric column that the engine can sum")
    # bounds out of reach, collinear numeric auxiliaries
    expect_error(wt_calibrate(db, list(sex = c(f = 5000, m = 5000), inc = 1e9), weights = "w0",
                              method = "logit", bounds = c(0.5, 4)),
                 "make the targets unreachable: numeric auxiliary 'inc'")
    expect_error(wt_calibrate(db, list(sex = c(f = 5000, m = 5000), inc = 1e5), weights = "w0",
                              method = "logit", bounds = c(0.5, 2)),
                 "make the targets unreachable: level 'f' of 'sex' needs a total of 5000")
    dc <- back
    dc$inc2 <- 2 * dc$inc
    DBI::dbWriteTable(con, "dbw_col", dc, overwrite = TRUE, row.names = FALSE)
    expect_error(wt_calibrate(db_table(con, "dbw_col"), list(inc = 1e5, inc2 = 2e5)),
                 "collinear auxiliaries: numeric 'inc2'")
    # writing: an existing table, a name that clashes
    wd <- wt_rake(db, tg[1:2], weights = "w0")
    db_write_weights(wd, "w1", table = "dbw_x", overwrite = TRUE)
    expect_error(db_write_weights(wd, "w1", table = "dbw_x"), "table 'dbw_x' exists already")
    expect_error(db_write_weights(wd, "sex", table = "dbw_y"), "column 'sex' is already in table 'dbw'")
    expect_error(db_weights_sql(1:3), "must be weights made on a database table")
  })

  test_that(paste(engine, ": the JOIN with a factor table equals the CASE and the in-memory weights; the factor table does not remain"), {
    # a key with fractions (a REAL column) joins exactly as well
    d2 <- back
    d2$x1 <- d2$reg / 10
    DBI::dbWriteTable(con, "dbw_j", d2, overwrite = TRUE, row.names = FALSE)
    dj <- db_table(con, "dbw_j")
    tj <- c(tg, list(x1 = c("0.1" = 0.25, "0.2" = 0.25, "0.3" = 0.25, "0.4" = 0.25)))
    tj$reg <- NULL
    before <- sort(DBI::dbListTables(con))
    for (w in list("w0", NULL)) {
      wd <- wt_rake(dj, tj, weights = w, total = 1e6)
      wm <- wt_rake(d2, tj, weights = w, total = 1e6)
      expect_identical(wd$info$ncell, nrow(unique(d2[c("sex", "age", "x1", "edu")])))
      wj <- db_write_weights(wd, "wr", table = "dbw_wj", overwrite = TRUE, method = "join")
      expect_identical(wj$info$write_method, "join")
      wc <- db_write_weights(wd, "wr", table = "dbw_wc", overwrite = TRUE, method = "case")
      expect_identical(wc$info$write_method, "case")
      gj <- written(con, "dbw_wj", "wr")
      gc <- written(con, "dbw_wc", "wr")
      expect_length(gj, nrow(d2))
      expect_lte(wdiff(gj, gc), 1e-12)
      expect_lte(wdiff(gj, wm), 1e-12)
      expect_lte(max(abs(gj / as.double(wm) - 1)), 1e-12)
      # the margins, by base R
      expect_equal(as.vector(tapply(gj, d2$x1, sum)), rep(0.25e6, 4), tolerance = 1e-9)
      expect_equal(sum(gj[d2$edu == "high" & d2$sex == "m"]), 0.1 * 1e6, tolerance = 1e-9)
      # the other columns come through unchanged
      back_j <- DBI::dbGetQuery(con, "SELECT * FROM dbw_wj ORDER BY id")
      expect_equal(back_j[names(d2)], d2, ignore_attr = TRUE)
      # the SELECT of db_weights_sql(join = TRUE) on a factor table written by db_write_factors()
      db_write_factors(wd, "dbw_factors", overwrite = TRUE)
      fa <- DBI::dbGetQuery(con, "SELECT * FROM dbw_factors")
      expect_identical(nrow(fa), wd$info$ncell)
      sel <- db_weights_sql(wd, join = TRUE, factors = "dbw_factors", name = "wq")
      expect_match(sel, "^SELECT .* INNER JOIN ")
      q <- DBI::dbGetQuery(con, sprintf("SELECT * FROM (%s) z ORDER BY id", sel))
      expect_lte(wdiff(q$wq, wm), 1e-12)
      DBI::dbRemoveTable(con, "dbw_factors")
    }
    expect_setequal(DBI::dbListTables(con), c(before, "dbw_wj", "dbw_wc"))
    # auto: the JOIN for many cells, the CASE for a few
    # (a margin of 3,000 levels: one cell per row)
    ti <- list(id = stats::setNames(rep(1, nrow(d2)), d2$id))
    wd <- wt_rake(dj, ti, weights = "w0")
    expect_identical(wd$info$ncell, nrow(d2))
    expect_identical(db_write_weights(wd, "wr", table = "dbw_wa", overwrite = TRUE)$info$write_method, "join")
    expect_equal(written(con, "dbw_wa", "wr"), rep(1, nrow(d2)), tolerance = 1e-12)
    w2 <- wt_rake(dj, tj["sex"], weights = "w0")
    expect_identical(db_write_weights(w2, "wr", table = "dbw_wa", overwrite = TRUE)$info$write_method, "case")
    expect_lte(wdiff(written(con, "dbw_wa", "wr"), wt_rake(d2, tj["sex"], weights = "w0")), 1e-12)
    # numeric auxiliaries: per row, no factor table
    wn <- wt_calibrate(dj, list(sex = c(f = 5000, m = 5000), inc = 2e5), weights = "w0")
    expect_error(db_write_weights(wn, "wr", table = "dbw_wn", method = "join"),
                 "numeric auxiliaries are g\\(x' lambda\\) per row")
    expect_error(db_weights_sql(wn, join = TRUE), "no factor table to join")
    expect_error(db_write_factors(wn, "dbw_fn"), "there is no factor table")
    expect_false(DBI::dbExistsTable(con, "dbw_wn"))
    for (t in c("dbw_wj", "dbw_wc", "dbw_wa")) DBI::dbRemoveTable(con, t)
  })

  test_that(paste(engine, ": a failing CREATE on the JOIN route leaves neither the table nor the factor table"), {
    wd <- wt_rake(db, tg, weights = "w0")
    before <- sort(DBI::dbListTables(con))
    # the target appears inside the transaction, after the check that it
    # does not exist: CREATE TABLE ... AS SELECT ... JOIN fails
    old <- options(umfrage.progress = function(msg)
      if (grepl("cell factors", msg)) DBI::dbExecute(con, "CREATE TABLE dbw_clash (x INTEGER)"))
    on.exit(options(old))
    expect_error(db_write_weights(wd, "w", table = "dbw_clash", method = "join"),
                 "could not write table 'dbw_clash': .*nothing was written")
    options(old)
    expect_identical(sort(DBI::dbListTables(con)), before)
    expect_false(DBI::dbExistsTable(con, "dbw_clash"))
  })

  test_that(paste(engine, ": progress follows option umfrage.progress (quiet by default)"), {
    expect_silent(wd <- wt_calibrate(db, list(sex = c(f = 5000, m = 5000), inc = 1e6), weights = "w0"))
    old <- options(umfrage.progress = TRUE)
    on.exit(options(old))
    msgs <- capture_messages(wt_calibrate(db, list(sex = c(f = 5000, m = 5000), inc = 1e6),
                                          weights = "w0", method = "raking"))
    expect_true(any(grepl("grouping table 'dbw' by sex", msgs)))
    expect_true(any(grepl("calibrating table 'dbw': iteration 1, largest relative error", msgs)))
    msgs <- capture_messages(db_write_weights(wd, table = "dbw_q", overwrite = TRUE))
    expect_true(any(grepl("writing the weights of table 'dbw' to table 'dbw_q'", msgs)))
  })
}

# ---- SQLite (a database file) ----------------------------------------------------

skip_if_not_installed("RSQLite")
sqlite_file <- tempfile(fileext = ".sqlite")
con_sqlite <- DBI::dbConnect(RSQLite::SQLite(), sqlite_file)
dbw_cases(con_sqlite, "SQLite")

test_that("SQLite: a column type the engine cannot group (BLOB) is refused with its name", {
  DBI::dbExecute(con_sqlite, "DROP TABLE IF EXISTS withblob")
  DBI::dbExecute(con_sqlite, "CREATE TABLE withblob (id INTEGER, b BLOB)")
  DBI::dbExecute(con_sqlite, "INSERT INTO withblob VALUES (1, x'0102')")
  expect_error(wt_rake(db_table(con_sqlite, "withblob"), list(b = c(a = 1))),
               "column 'b' of table 'withblob' has a type \\(.*\\) that a table cannot group by")
})

test_that("SQLite: writing weights to a read-only database is a clear error naming the table, nothing written", {
  ro <- DBI::dbConnect(RSQLite::SQLite(), sqlite_file, flags = RSQLite::SQLITE_RO)
  on.exit(DBI::dbDisconnect(ro))
  wd <- wt_rake(db_table(ro, "dbw"), list(sex = c(f = 0.5, m = 0.5)), weights = "w0")
  expect_error(db_write_weights(wd, "w", table = "dbw_ro"),
               "could not write table 'dbw_ro': .*readonly.*nothing was written")
  expect_false(DBI::dbExistsTable(con_sqlite, "dbw_ro"))
})

test_that("SQLite: a connection lost during a calibration or while writing is a clear error, nothing half-written", {
  tg_lost <- list(sex = c(f = 0.5, m = 0.5), age = c("18-34" = 0.3, "35-59" = 0.4, "60+" = 0.3))
  con2 <- DBI::dbConnect(RSQLite::SQLite(), sqlite_file)
  db2 <- db_table(con2, "dbw")
  tn <- list(sex = c(f = 5000, m = 5000), inc = 2e5)
  old <- options(umfrage.progress = function(msg)
    if (grepl("iteration 1,", msg)) DBI::dbDisconnect(con2))
  on.exit(options(old))
  expect_error(wt_calibrate(db2, tn, weights = "w0", method = "raking"),
               "calibration on table 'dbw' failed in the database \\(evaluation [0-9]+\\)")
  # lost between CREATE TABLE and COMMIT: the table never appears
  con3 <- DBI::dbConnect(RSQLite::SQLite(), sqlite_file)
  wd <- wt_rake(db_table(con3, "dbw"), list(sex = c(f = 0.5, m = 0.5)), weights = "w0")
  options(umfrage.progress = function(msg) if (grepl("checking table", msg)) DBI::dbDisconnect(con3))
  expect_error(db_write_weights(wd, "w", table = "dbw_lost"),
               "could not write table 'dbw_lost': .*nothing was written")
  options(old)
  expect_false(DBI::dbExistsTable(con_sqlite, "dbw_lost"))
  # the same on the JOIN route: neither the table nor a factor table remains
  before <- sort(DBI::dbListTables(con_sqlite))
  con5 <- DBI::dbConnect(RSQLite::SQLite(), sqlite_file)
  wd <- wt_rake(db_table(con5, "dbw"), tg_lost, weights = "w0")
  options(umfrage.progress = function(msg) if (grepl("checking table", msg)) DBI::dbDisconnect(con5))
  expect_error(db_write_weights(wd, "w", table = "dbw_lost", method = "join"),
               "could not write table 'dbw_lost': .*nothing was written")
  options(old)
  expect_identical(sort(DBI::dbListTables(con_sqlite)), before)
  # and a lost connection before the cell query
  con4 <- DBI::dbConnect(RSQLite::SQLite(), sqlite_file)
  db4 <- db_table(con4, "dbw")
  options(umfrage.progress = function(msg) if (grepl("grouping", msg)) DBI::dbDisconnect(con4))
  expect_error(wt_rake(db4, list(sex = c(f = 0.5, m = 0.5))), "table 'dbw' \\(column\\(s\\) 'sex'\\) could not be grouped")
})

DBI::dbDisconnect(con_sqlite)

# ---- PostgreSQL ------------------------------------------------------------------------

test_that("PostgreSQL: weights tests run (server from helper-postgres.R)", {
  con <- pg_test_con()
  expect_identical(as.integer(DBI::dbGetQuery(con, "SELECT 1 AS one")$one), 1L)
})

if (isTRUE(tryCatch(pg_start(), error = function(e) FALSE))) {
  con_pg <- pg_test_con()
  dbw_cases(con_pg, "PostgreSQL")

  pg_new_con <- function() DBI::dbConnect(RPostgreSQL::PostgreSQL(), host = pg_state$sock,
                                          port = pg_state$port, user = "postgres",
                                          dbname = "umfrage_test")

  test_that("PostgreSQL: a json margin column is refused with its name", {
    DBI::dbExecute(con_pg, "DROP TABLE IF EXISTS wjson")
    DBI::dbExecute(con_pg, "CREATE TABLE wjson (id integer, js json)")
    DBI::dbExecute(con_pg, "INSERT INTO wjson VALUES (1, '{}')")
    expect_error(suppressWarnings(wt_rake(db_table(con_pg, "wjson"), list(js = c(a = 1)))),
                 "column 'js' of table 'wjson' has a type \\(.*\\) that a table cannot group by")
  })

  test_that("PostgreSQL: a backend killed between Newton iterations or before COMMIT: a clear error, nothing written", {
    victim <- pg_new_con()
    killer <- pg_new_con()
    on.exit(try(DBI::dbDisconnect(killer), silent = TRUE), add = TRUE)
    pid <- DBI::dbGetQuery(victim, "SELECT pg_backend_pid() AS p")$p
    kill <- function() DBI::dbGetQuery(killer, sprintf("SELECT pg_terminate_backend(%s)", format(pid)))
    old <- options(umfrage.progress = function(msg) if (grepl("iteration 1,", msg)) kill())
    on.exit(options(old), add = TRUE)
    expect_error(wt_calibrate(db_table(victim, "dbw"), list(sex = c(f = 5000, m = 5000), inc = 2e5),
                              weights = "w0", method = "raking"),
                 "calibration on table 'dbw' failed in the database \\(evaluation [0-9]+\\)")
    victim2 <- pg_new_con()
    pid <- DBI::dbGetQuery(victim2, "SELECT pg_backend_pid() AS p")$p
    wd <- wt_rake(db_table(victim2, "dbw"), list(sex = c(f = 0.5, m = 0.5)), weights = "w0")
    options(umfrage.progress = function(msg) if (grepl("checking table", msg)) kill())
    expect_error(db_write_weights(wd, "w", table = "dbw_lost"),
                 "could not write table 'dbw_lost': .*nothing was written")
    options(old)
    expect_false(DBI::dbExistsTable(con_pg, "dbw_lost"))
  })

  test_that("PostgreSQL: writing in a read-only transaction is a clear error naming the table", {
    ro <- pg_new_con()
    on.exit(DBI::dbDisconnect(ro))
    DBI::dbExecute(ro, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    wd <- wt_rake(db_table(ro, "dbw"), list(sex = c(f = 0.5, m = 0.5)), weights = "w0")
    expect_error(db_write_weights(wd, "w", table = "dbw_ro"),
                 "could not write table 'dbw_ro': .*read-only.*nothing was written")
    expect_false(DBI::dbExistsTable(con_pg, "dbw_ro"))
  })
}
