# tab() on DuckDB (issue 18), where the duckdb package is installed: the
# same comparisons with tab() in memory as on SQLite and PostgreSQL
# (db_equality_cases() in helper-db.R), and a CSV file read in place. The
# duckdb package compiles its engine from source for hours on Linux without
# a binary repository, so it is not in DESCRIPTION (R CMD check would
# require it) and is looked up by a name in a variable; without it the
# section is one skipped test whose reason `make test` prints.
skip_if_not_installed("DBI")

# A FROM item given as DBI::SQL() is used as it is (how a table function
# such as DuckDB's read_parquet() is named): shown on SQLite, which always
# runs.
test_that("db_table(con, DBI::SQL(<from item>)) reads a subquery or table function as it is", {
  skip_if_not_installed("RSQLite")
  con <- DBI::dbConnect(RSQLite::SQLite(), ":memory:")
  on.exit(DBI::dbDisconnect(con))
  d <- db_sim_data(300, seed = 7)
  DBI::dbWriteTable(con, "sim", d)
  back <- DBI::dbGetQuery(con, "SELECT * FROM sim WHERE grade > 1")
  db <- db_table(con, DBI::SQL("(SELECT * FROM sim WHERE grade > 1)"))
  expect_same_tab(tab(db, "vote", cols = "age", weights = "w"), tab(back, "vote", cols = "age", weights = "w"))
})

duckdb_pkg <- "duckdb"
if (!requireNamespace(duckdb_pkg, quietly = TRUE)) {
  test_that("DuckDB: the same tables as in memory (where duckdb is installed)", {
    skip("skipped: duckdb not installed (no binary for this platform; see ?umfrage_databases)")
  })
} else {
  dcon <- DBI::dbConnect(getExportedValue(duckdb_pkg, "duckdb")())
  withr::defer(DBI::dbDisconnect(dcon, shutdown = TRUE))

  db_equality_cases(dcon, "DuckDB")

  test_that("DuckDB: a CSV file read in place (read_csv()) equals tab() in memory", {
    f <- tempfile(fileext = ".csv")
    on.exit(unlink(f))
    d <- db_sim_data(400)
    utils::write.csv(d, f, row.names = FALSE, na = "")
    back <- DBI::dbGetQuery(dcon, sprintf("SELECT * FROM read_csv('%s')", f))
    db <- db_table(dcon, DBI::SQL(sprintf("read_csv('%s')", f)))
    dich <- mr_set(back, c("b1", "b2", "b3"), counted = 1, label = "brands")
    expect_same_tab(tab(db, list("vote", dich), cols = "sex", by = "age", weights = "w"),
                    tab(back, list("vote", dich), cols = "sex", by = "age", weights = "w"))
    sd <- svy_design(db, weights = "w", strata = "st", cluster = "psu", fpc = "fpc")
    sm <- svy_design(back, weights = "w", strata = "st", cluster = "psu", fpc = "fpc")
    expect_same_tab(tab(sd, "vote", cols = "age"), tab(sm, "vote", cols = "age"))
  })
}
