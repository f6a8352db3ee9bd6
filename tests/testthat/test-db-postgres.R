# tab() on a table in PostgreSQL (issue 18): a server started for the test
# run (helper-postgres.R), the same results as in memory.
skip_if_not_installed("DBI")

test_that("PostgreSQL: the test server runs", {
  con <- pg_test_con()
  expect_match(DBI::dbGetQuery(con, "SELECT version() AS v")$v, "PostgreSQL")
})

if (isTRUE(pg_start())) {
  con <- pg_test_con()
  db_equality_cases(con, "PostgreSQL")

  test_that("PostgreSQL: a json column is refused with its name", {
    DBI::dbExecute(con, "DROP TABLE IF EXISTS withjson")
    DBI::dbExecute(con, "CREATE TABLE withjson (id integer, js json)")
    DBI::dbExecute(con, "INSERT INTO withjson VALUES (1, '{}')")
    expect_error(suppressWarnings(tab(db_table(con, "withjson"), "js")),
                 "column 'js' of table 'withjson' has a type \\(.*\\) that a table cannot group by")
  })

  test_that("PostgreSQL: boolean columns stay logical, a schema-qualified table", {
    DBI::dbExecute(con, "CREATE SCHEMA IF NOT EXISTS survey2")
    d <- db_sim_data(300, seed = 5)
    d$urban <- as.logical(d$urban)
    DBI::dbWriteTable(con, c("survey2", "simb"), d, overwrite = TRUE, row.names = FALSE)
    db <- db_table(con, "simb", schema = "survey2")
    back <- DBI::dbGetQuery(con, 'SELECT * FROM "survey2"."simb"')
    expect_true(is.logical(back$urban))
    expect_same_tab(tab(db, "urban", cols = "age", weights = "w"), tab(back, "urban", cols = "age", weights = "w"))
  })
}
