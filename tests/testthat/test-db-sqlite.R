# tab() on a table in SQLite (issue 18): the same results as in memory.
skip_if_not_installed("DBI")
skip_if_not_installed("RSQLite")

sqlite_file <- tempfile(fileext = ".sqlite")
con <- DBI::dbConnect(RSQLite::SQLite(), sqlite_file)
withr::defer({ DBI::dbDisconnect(con); unlink(sqlite_file) })

db_equality_cases(con, "SQLite")

test_that("SQLite: a logical MR set made in memory reads SQLite's 0/1 columns", {
  d <- db_sim_data(300, seed = 3)
  for (v in c("b1", "b2", "b3")) d[[v]] <- as.logical(d[[v]])
  DBI::dbWriteTable(con, "simlog", d, overwrite = TRUE)
  set <- mr_set(d, c("b1", "b2", "b3"), label = "brands")
  expect_same_tab(tab(db_table(con, "simlog"), set, cols = "age", weights = "w"),
                  tab(d, set, cols = "age", weights = "w"))
})

test_that("SQLite: a blob column is refused with its name", {
  DBI::dbExecute(con, "CREATE TABLE withblob (id INTEGER, bl BLOB)")
  DBI::dbExecute(con, "INSERT INTO withblob VALUES (1, x'0102')")
  expect_error(tab(db_table(con, "withblob"), "bl"),
               "column 'bl' of table 'withblob' has a type \\(.*\\) that a table cannot group by")
})

test_that("SQLite: a schema-qualified table and print()", {
  db <- db_table(con, "sim", schema = "main")
  expect_output(print(db), "table 'main.sim'")
  back <- DBI::dbReadTable(con, "sim")
  expect_same_tab(tab(db, "age", cols = "sex", weights = "w"), tab(back, "age", cols = "sex", weights = "w"))
  expect_error(db_table("not a connection", "sim"), "'con' must be a DBI connection")
})

# DuckDB: test-db-duckdb.R (the same comparisons, where duckdb is installed).
