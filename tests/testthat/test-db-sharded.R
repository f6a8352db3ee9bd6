# tab() on a sharded PostgreSQL table (issue 18): two local servers started
# for the test run (helper-postgres.R). On the first ("front"), a
# partitioned table whose partitions are foreign tables (postgres_fdw) on
# the second ("shard"); with enable_partitionwise_aggregate the cell query's
# GROUP BY runs per partition and is pushed down to the shard server, so
# only each shard's cells travel. Shown by EXPLAIN (VERBOSE) of the SQL that
# tab() itself sends, and the tables equal tab() in memory to 1e-12.
skip_if_not_installed("DBI")

# Both servers, the front database with postgres_fdw, a foreign server for
# the shard server (reached through its socket directory) and partition-wise
# aggregation on for every connection to the front database.
shard_setup <- function() {
  if (!isTRUE(pg_start())) return(paste("skipped:", pg_state$skip))
  if (!isTRUE(pg_start(pg_state2, "umfrage_shard"))) return(paste("skipped:", pg_state2$skip))
  main <- pg_connect(pg_state, "postgres", keep = TRUE)
  ok <- nrow(DBI::dbGetQuery(main, "SELECT 1 FROM pg_available_extensions WHERE name = 'postgres_fdw'"))
  if (!ok) return("skipped: the postgres_fdw extension is not installed")
  DBI::dbExecute(main, "CREATE DATABASE umfrage_front")
  DBI::dbExecute(main, "ALTER DATABASE umfrage_front SET enable_partitionwise_aggregate = on")
  front <- pg_connect(pg_state, "umfrage_front", keep = TRUE)
  shard <- pg_connect(pg_state2, "umfrage_shard", keep = TRUE)
  DBI::dbExecute(front, "CREATE EXTENSION postgres_fdw")
  DBI::dbExecute(front, sprintf(
    "CREATE SERVER shard2 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '%s', port '%d', dbname 'umfrage_shard', fdw_tuple_cost '0.2')",
    pg_state2$sock, pg_state2$port))
  DBI::dbExecute(front, "CREATE USER MAPPING FOR postgres SERVER shard2 OPTIONS (user 'postgres')")
  list(front = front, shard = shard)
}

# Column definitions of a data frame as RPostgreSQL writes them.
shard_cols <- function(con, d) {
  DBI::dbWriteTable(con, "umfrage_tmpl", d[0, ], row.names = FALSE, overwrite = TRUE)
  on.exit(DBI::dbExecute(con, "DROP TABLE umfrage_tmpl"))
  ty <- DBI::dbGetQuery(con, paste(
    "SELECT column_name, data_type FROM information_schema.columns",
    "WHERE table_name = 'umfrage_tmpl' ORDER BY ordinal_position"))
  paste(DBI::dbQuoteIdentifier(con, ty$column_name), ty$data_type, collapse = ", ")
}

# A table partitioned by LIST of `key`, one partition per value, each a
# table on the shard server (filled there) and a foreign table on the front.
shard_list_table <- function(S, name, d, key) {
  DBI::dbWriteTable(S$shard, paste0(name, "_all"), d, row.names = FALSE, overwrite = TRUE)
  defs <- shard_cols(S$front, d)
  DBI::dbExecute(S$front, sprintf("CREATE TABLE %s (%s) PARTITION BY LIST (%s)", name, defs,
                                  DBI::dbQuoteIdentifier(S$front, key)))
  vals <- sort(unique(d[[key]]))
  for (k in seq_along(vals)) {
    part <- sprintf("%s_p%d", name, k)
    DBI::dbExecute(S$shard, sprintf("CREATE TABLE %s AS SELECT * FROM %s_all WHERE %s = %s", part, name,
                                    DBI::dbQuoteIdentifier(S$shard, key),
                                    DBI::dbQuoteLiteral(S$shard, vals[k])))
    DBI::dbExecute(S$front, sprintf(
      "CREATE FOREIGN TABLE %s PARTITION OF %s FOR VALUES IN (%s) SERVER shard2 OPTIONS (table_name '%s')",
      part, name, DBI::dbQuoteLiteral(S$front, vals[k]), part))
  }
  DBI::dbExecute(S$front, sprintf("ANALYZE %s", name))
  length(vals)
}

# A table partitioned by HASH of `key` into `m` partitions, empty tables on
# the shard server, filled through the front table (rows routed to their
# partitions by the front server).
shard_hash_table <- function(S, name, d, key, m = 2L) {
  defs <- shard_cols(S$front, d)
  DBI::dbExecute(S$front, sprintf("CREATE TABLE %s (%s) PARTITION BY HASH (%s)", name, defs,
                                  DBI::dbQuoteIdentifier(S$front, key)))
  for (k in seq_len(m)) {
    part <- sprintf("%s_h%d", name, k)
    DBI::dbExecute(S$shard, sprintf("CREATE TABLE %s (%s)", part, defs))
    DBI::dbExecute(S$front, sprintf(
      "CREATE FOREIGN TABLE %s PARTITION OF %s FOR VALUES WITH (MODULUS %d, REMAINDER %d) SERVER shard2 OPTIONS (table_name '%s')",
      part, name, m, k - 1L, part))
  }
  DBI::dbWriteTable(S$front, name, d, row.names = FALSE, append = TRUE)
  DBI::dbExecute(S$front, sprintf("ANALYZE %s", name))
  m
}

# The cell queries that tab() sends (umfrage's db_cells_sql()), captured.
capture_cell_sql <- function(expr) {
  got <- new.env()
  got$sql <- character()
  ns <- asNamespace("umfrage")
  suppressMessages(trace("db_cells_sql", where = ns, print = FALSE,
                         exit = bquote(assign("sql", c(get("sql", envir = .(got)), returnValue()),
                                              envir = .(got)))))
  on.exit(suppressMessages(untrace("db_cells_sql", where = ns)))
  value <- force(expr)
  list(value = value, sql = unique(got$sql))
}

# EXPLAIN (VERBOSE) of a query: every partition's aggregate runs on the
# shard server (a Foreign Scan of "Aggregate on" the partition, its remote
# SQL grouped), and nothing is aggregated on the front server.
expect_pushed_down <- function(con, sql, nparts) {
  ex <- DBI::dbGetQuery(con, paste("EXPLAIN (VERBOSE)", sql))[[1L]]
  lab <- paste(c(sql, ex), collapse = "\n")
  expect_identical(sum(grepl("Relations: Aggregate on", ex, fixed = TRUE)), as.integer(nparts), label = lab)
  remote <- grep("Remote SQL:", ex, value = TRUE, fixed = TRUE)
  expect_length(remote, nparts)
  expect_true(all(grepl("GROUP BY", remote, fixed = TRUE)), label = lab)
  expect_false(any(grepl("^\\s*(->\\s+)?(Partial |Finalize )?(Hash|Group|Mixed)?Aggregate", ex)), label = lab)
  invisible(ex)
}

S <- shard_setup()
if (is.character(S)) {
  test_that("sharded PostgreSQL (postgres_fdw)", skip(S))
} else {
  front <- S$front

  test_that("sharded: two servers run, the partitions live on the second", {
    expect_false(identical(pg_state$port, pg_state2$port))
    nparts <- shard_list_table(S, "api_sharded", db_api_data(), "stype")
    expect_identical(nparts, 3L)
    srv <- DBI::dbGetQuery(front, paste(
      "SELECT c.relname, s.srvname FROM pg_foreign_table f JOIN pg_class c ON c.oid = f.ftrelid",
      "JOIN pg_foreign_server s ON s.oid = f.ftserver ORDER BY 1"))
    expect_identical(srv$relname, paste0("api_sharded_p", 1:3))
    expect_true(all(srv$srvname == "shard2"))
    expect_identical(DBI::dbGetQuery(front, "SHOW enable_partitionwise_aggregate")[[1L]], "on")
    # the shard server holds the rows, the front server none of its own
    n <- DBI::dbGetQuery(S$shard, paste(
      "SELECT (SELECT count(*) FROM api_sharded_p1) + (SELECT count(*) FROM api_sharded_p2) +",
      "(SELECT count(*) FROM api_sharded_p3) AS n"))$n
    expect_equal(as.double(n), 200)
    expect_equal(as.double(DBI::dbGetQuery(front, "SELECT count(*) AS n FROM api_sharded")$n), 200)
  })

  test_that("sharded: tab() on a design stratified by the partition key runs every cell query on the shards and equals tab() in memory (api)", {
    back <- DBI::dbGetQuery(front, "SELECT * FROM api_sharded")
    db <- db_table(front, "api_sharded")
    sd <- svy_design(db, weights = "pw", strata = "stype", fpc = "fpc")
    sm <- svy_design(back, weights = "pw", strata = "stype", fpc = "fpc")
    got <- capture_cell_sql(tab(sd, c("sch.wide", "cname"), cols = c("awards", "both"), by = "yr.rnd",
                                na = "level", test = "Chisq"))
    expect_same_tab(got$value, tab(sm, c("sch.wide", "cname"), cols = c("awards", "both"), by = "yr.rnd",
                                   na = "level", test = "Chisq"))
    # the design query and one per (row variable, column variable)
    expect_length(got$sql, 1L + 2L * 2L)
    for (sql in got$sql) expect_pushed_down(front, sql, 3L)
    # clusters within the strata
    cd <- svy_design(db, weights = "pw", strata = "stype", cluster = "dnum", lonely_psu = "adjust")
    cm <- svy_design(back, weights = "pw", strata = "stype", cluster = "dnum", lonely_psu = "adjust")
    got <- capture_cell_sql(tab(cd, "awards", cols = "sch.wide", ci = "wilson"))
    expect_same_tab(got$value, tab(cm, "awards", cols = "sch.wide", ci = "wilson"))
    for (sql in got$sql) expect_pushed_down(front, sql, 3L)
  })

  test_that("sharded: without a design, db_table(partition =) puts the partition key in the GROUP BY so the aggregate is pushed down", {
    back <- DBI::dbGetQuery(front, "SELECT * FROM api_sharded")
    # the key not among the grouping columns: the partitions' rows are
    # fetched and grouped on the front server (postgres_fdw ships no
    # partial aggregates)
    plain <- capture_cell_sql(tab(db_table(front, "api_sharded"), "awards", cols = "sch.wide", weights = "pw"))
    ex <- DBI::dbGetQuery(front, paste("EXPLAIN (VERBOSE)", plain$sql[2L]))[[1L]]
    expect_false(any(grepl("Relations: Aggregate on", ex, fixed = TRUE)))
    expect_true(any(grepl("Foreign Scan on public.api_sharded_p1", ex, fixed = TRUE)))
    # declared: every cell query is pushed down, the table unchanged
    db <- db_table(front, "api_sharded", partition = "stype")
    got <- capture_cell_sql(tab(db, c("awards", "cname"), cols = c("sch.wide", "both"), weights = "pw",
                                na = "level", test = "Chisq", ci = "wilson"))
    expect_length(got$sql, 1L + 2L * 2L)
    for (sql in got$sql) expect_pushed_down(front, sql, 3L)
    expect_same_tab(got$value, tab(back, c("awards", "cname"), cols = c("sch.wide", "both"), weights = "pw",
                                   na = "level", test = "Chisq", ci = "wilson"))
    expect_same_tab(plain$value, tab(back, "awards", cols = "sch.wide", weights = "pw"))
    # unweighted, and a design on the declared table
    got <- capture_cell_sql(tab(db, "awards", cols = "yr.rnd"))
    for (sql in got$sql) expect_pushed_down(front, sql, 3L)
    expect_same_tab(got$value, tab(back, "awards", cols = "yr.rnd"))
    cd <- svy_design(db, weights = "pw", cluster = "dnum", lonely_psu = "adjust")
    got <- capture_cell_sql(tab(cd, "awards", cols = "sch.wide"))
    for (sql in got$sql) expect_pushed_down(front, sql, 3L)
    expect_same_tab(got$value, tab(svy_design(back, weights = "pw", cluster = "dnum", lonely_psu = "adjust"),
                                   "awards", cols = "sch.wide"))
    # bad input names the argument and the table
    expect_error(db_table(front, "api_sharded", partition = "nope"),
                 "'partition' names column\\(s\\) not in table 'api_sharded': 'nope'")
    expect_error(db_table(front, "api_sharded", partition = 3), "'partition' must be NULL or the names of columns")
  })

  test_that("sharded: the SEs from the shards' cells are survey's", {
    skip_if_not_installed("survey")
    back <- DBI::dbGetQuery(front, "SELECT * FROM api_sharded")
    sd <- svy_design(db_table(front, "api_sharded"), weights = "pw", strata = "stype", fpc = "fpc")
    x <- as.data.frame(tab(sd, "awards", cols = "sch.wide"))
    back$awards <- factor(back$awards)
    sv <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = back)
    ref <- survey::svyby(~awards, ~sch.wide, sv, survey::svymean)
    got <- x[x$col_var == "sch.wide" & x$row == "Yes", ]
    expect_equal(got$pct / 100, unname(ref[match(got$col, ref$sch.wide), "awardsYes"]), tolerance = 1e-12)
    expect_equal(got$se / 100, unname(ref[match(got$col, ref$sch.wide), "se.awardsYes"]), tolerance = 1e-10)
  })

  test_that("sharded: a HASH-partitioned synthetic table (NA, MR sets, zero weights, strata + clusters + fpc) equals tab() in memory", {
    d <- db_sim_data(900, seed = 81)
    nparts <- shard_hash_table(S, "sim_sharded", d, "st", 2L)
    back <- DBI::dbGetQuery(front, "SELECT * FROM sim_sharded")
    expect_identical(nrow(back), 900L)
    # the rows were routed to the shard server
    expect_equal(sum(vapply(1:2, function(k)
      as.double(DBI::dbGetQuery(S$shard, sprintf("SELECT count(*) AS n FROM sim_sharded_h%d", k))$n), 0)), 900)
    db <- db_table(front, "sim_sharded")
    dich <- mr_set(back, c("b1", "b2", "b3"), counted = 1, label = "brands")
    cat_set <- mr_set(back, c("m1", "m2"), type = "category", label = "media")
    sd <- svy_design(db, weights = "w", strata = "st", cluster = "psu", fpc = "fpc")
    sm <- svy_design(back, weights = "w", strata = "st", cluster = "psu", fpc = "fpc")
    for (na in c("drop", "level")) {
      got <- capture_cell_sql(tab(sd, list("vote", dich, cat_set, "grade"), cols = list("sex", "age"),
                                  by = "urban", na = na))
      expect_same_tab(got$value, tab(sm, list("vote", dich, cat_set, "grade"), cols = list("sex", "age"),
                                     by = "urban", na = na))
      for (sql in got$sql) expect_pushed_down(front, sql, nparts)
    }
    rd <- svy_design(db, weights = ~w, strata = ~st)
    rm <- svy_design(back, weights = ~w, strata = ~st)
    expect_same_tab(tab(rd, "vote", cols = list("age", dich), deff = "survey"),
                    tab(rm, "vote", cols = list("age", dich), deff = "survey"))
  })

  test_that("sharded: a weights column of another type is cast on the shards (the cast is shipped)", {
    d <- db_api_data()
    d$pw <- round(d$pw, 2)
    DBI::dbWriteTable(S$shard, "apin_all", d, row.names = FALSE, overwrite = TRUE)
    DBI::dbExecute(S$shard, "ALTER TABLE apin_all ALTER COLUMN pw TYPE NUMERIC(12, 2)")
    defs <- sub('"pw" double precision', '"pw" numeric(12,2)', shard_cols(front, d), fixed = TRUE)
    DBI::dbExecute(front, sprintf('CREATE TABLE apin (%s) PARTITION BY LIST ("stype")', defs))
    for (s in c("E", "H", "M")) {
      p <- paste0("apin_", tolower(s))
      DBI::dbExecute(S$shard, sprintf("CREATE TABLE %s AS SELECT * FROM apin_all WHERE stype = '%s'", p, s))
      DBI::dbExecute(front, sprintf(
        "CREATE FOREIGN TABLE %s PARTITION OF apin FOR VALUES IN ('%s') SERVER shard2 OPTIONS (table_name '%s')",
        p, s, p))
    }
    back <- DBI::dbGetQuery(front, "SELECT * FROM apin")
    back$pw <- as.double(back$pw)
    sd <- svy_design(db_table(front, "apin"), weights = "pw", strata = "stype")
    got <- capture_cell_sql(tab(sd, "awards", cols = "sch.wide"))
    expect_same_tab(got$value, tab(svy_design(back, weights = "pw", strata = "stype"), "awards", cols = "sch.wide"))
    for (sql in got$sql) {
      ex <- expect_pushed_down(front, sql, 3L)
      expect_true(any(grepl("sum(pw::double precision)", ex, fixed = TRUE)), label = paste(ex, collapse = "\n"))
    }
  })
}

test_that("the weights are cast to the engine's own double type (DBI::dbDataType()), not a fixed name", {
  skip_if_not_installed("RSQLite")
  con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
  on.exit(DBI::dbDisconnect(con))
  d <- db_sim_data(200, seed = 2)
  d$wi <- as.integer(round(d$w * 10))
  DBI::dbWriteTable(con, "sim", d)
  db <- db_table(con, "sim")
  sql <- umfrage:::db_cells_sql(db, "vote", "wi")
  expect_match(sql, sprintf("CAST(%s AS %s)", DBI::dbQuoteIdentifier(con, "wi"), DBI::dbDataType(con, 1.5)), fixed = TRUE)
  # integer weights: sums of doubles, as in memory
  expect_same_tab(tab(db, "vote", cols = "age", weights = "wi"), tab(d, "vote", cols = "age", weights = "wi"))
})
