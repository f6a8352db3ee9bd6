# Documentation only: where the data live (issue 18). See R/db.R.

#' Where the data live: SQLite, PostgreSQL (sharded), DuckDB, Spark SQL, BigQuery, Snowflake, Trino
#'
#' [tab()] and [svy_design()] work on a table in a database
#' reached through DBI ([db_table()] or a dbplyr lazy table): the engine
#' groups the rows to cells, one aggregate query per block (or one for
#' all blocks: `db_table(cells =)`),
#' \preformatted{SELECT <columns>, COUNT(*), SUM(w), SUM(w * w), ...
#' FROM <table> GROUP BY <columns>}
#' and only the cells come back into R. Any engine with a DBI backend that
#' runs this SQL will do; every engine package is optional (Suggests), and the
#' in-memory path needs none. This page says how to point umfrage at each
#' engine and which details of its SQL dialect matter.
#'
#' Tested (by the package's tests, every statistic equal to `tab()` in
#' memory to 1e-12): SQLite, PostgreSQL, and a sharded PostgreSQL set-up
#' (below). DuckDB has the same tests, which run where the duckdb package is
#' installed and are skipped, with a message, where it is not (as on the
#' machine these tests were written on). Spark SQL, BigQuery, Snowflake and
#' Trino could not be reached from that machine: what is said about them
#' here is untested.
#'
#' @section SQLite (a file larger than memory):
#' \preformatted{con <- DBI::dbConnect(RSQLite::SQLite(), "survey.sqlite")
#' resp <- db_table(con, "resp")
#' tab(resp, "vote", cols = "region", weights = "w")}
#' The rows stay in the file; SQLite reads them once per query with little
#' memory. A table with several blocks (a banner) is read ONCE: SQLite has no
#' `GROUPING SETS` and sorts every row for a `GROUP BY`, so the blocks' columns
#' are streamed in chunks (`options(umfrage.db_chunk = 1e6)` rows) and grouped in
#' C (`db_table(cells = "stream")`, the default there); a 50-block banner with
#' SEs on 10 million rows took 69 s this way in bench/db.R, against 383 s for 50 sorted queries. SQLite has no boolean type (logical columns come back as 0/1) and,
#' as built into RSQLite, no `EXP()`/`LN()`:
#' `RSQLite::initExtension(con, "math")` adds them (needed where
#' weights are computed in the database, e.g. calibration factors).
#'
#' @section PostgreSQL, and a sharded PostgreSQL:
#' \preformatted{con <- DBI::dbConnect(RPostgres::Postgres(), dbname = "survey")
#' # or RPostgreSQL::PostgreSQL()
#' tab(db_table(con, "resp", schema = "wave3"), "vote", weights = "w")}
#' A table spread over several servers runs the cell query on each: on the
#' coordinating server, a partitioned table whose partitions are foreign
#' tables (postgres_fdw) on the other servers,
#' \preformatted{CREATE EXTENSION postgres_fdw;
#' CREATE SERVER shard2 FOREIGN DATA WRAPPER postgres_fdw
#'   OPTIONS (host 'shard2.example', port '5432', dbname 'survey',
#'            fdw_tuple_cost '0.2');
#' CREATE USER MAPPING FOR CURRENT_USER SERVER shard2 OPTIONS (user 'me');
#' CREATE TABLE resp (region text, vote text, w double precision)
#'   PARTITION BY LIST (region);          -- or HASH (region)
#' CREATE FOREIGN TABLE resp_north PARTITION OF resp
#'   FOR VALUES IN ('north') SERVER shard2 OPTIONS (table_name 'resp_north');
#' ALTER DATABASE survey SET enable_partitionwise_aggregate = on;}
#' Three things decide whether the aggregate runs on the shards:
#' \itemize{
#' \item `enable_partitionwise_aggregate = on` (off by default; per
#' session, role or database).
#' \item The partition key must be among the grouping columns: postgres_fdw
#' pushes down a whole aggregate per partition, not a partial one. Declare
#' it, `db_table(con, "resp", partition = "region")`, and umfrage adds it
#' to every `GROUP BY` (the results are the same); a design whose strata
#' are the partition key has it there already.
#' \item Up to PostgreSQL 16 the default `fdw_tuple_cost` (0.01) can make
#' the planner aggregate small partitions locally after fetching their rows;
#' `fdw_tuple_cost '0.2'` (the default from PostgreSQL 17) or
#' `use_remote_estimate 'true'` on the foreign server avoids that.
#' }
#' umfrage sends one plain `GROUP BY` per block, which postgres_fdw can
#' push down; `db_table(cells = "grouping_sets")` (one query with
#' `GROUPING SETS` for all blocks) would not be pushed down to the shards.
#' Check with `EXPLAIN (VERBOSE)` of the cell query (the server's log
#' shows it with `log_statement = 'all'`): each partition shows
#' a `Foreign Scan` with `Relations: Aggregate on (...)` and a
#' remote SQL with `GROUP BY`. The cell query's `CAST`, `CASE`,
#' `SUM`, `MIN` and `MAX` are all shipped by PostgreSQL 15's
#' postgres_fdw (tested with two local servers, PARTITION BY LIST and HASH,
#' double and numeric weights). Citus or other PostgreSQL-compatible
#' distributed engines take the same SQL (untested).
#'
#' @section DuckDB (Parquet and CSV files):
#' The engine to recommend for Parquet and CSV files: out of core and
#' multi-threaded. A file (or a glob of files) is a source as a table
#' function given as SQL, or through a view:
#' \preformatted{con <- DBI::dbConnect(duckdb::duckdb())
#' resp <- db_table(con, DBI::SQL("read_parquet('wave3/*.parquet')"))
#' # or: DBI::dbExecute(con, "CREATE VIEW resp AS
#' #        SELECT * FROM read_csv('resp.csv')"); db_table(con, "resp")
#' tab(resp, "vote", cols = "region", weights = "w")}
#' (`DBI::SQL()` passes the text to `FROM` unquoted: also a
#' subquery, `DBI::SQL("(SELECT * FROM resp WHERE wave = 3) AS s")`.)
#' Installing the duckdb package: CRAN has binaries for Windows and macOS;
#' on Linux, binary repositories (r2u for Ubuntu, Posit Package Manager)
#' have it. From source it compiles the whole engine (about 2,000 C++ files,
#' hours on a small machine); its build can instead link a system libduckdb of
#' exactly the same version (environment variable
#' `DUCKDB_R_USE_SYSTEM_LIB`). On the machine where these tests were
#' written (Debian 12) none of these was available: Debian has no duckdb or
#' libduckdb package (`apt-cache search duckdb` finds none), so the
#' DuckDB tests are skipped there with the message `duckdb not
#' installed`.
#'
#' umfrage's source repository has `tools/duckdb-dev.sh`, which installs the
#' duckdb package on Linux x86_64 in minutes by that route: a duckdb-r source
#' tree vendoring DuckDB v1.5.5 linked against the `libduckdb.so` of npm's
#' `@duckdb/node-bindings-linux-x64` 1.5.5-r.5 (the same commit).
#'
#' @section Spark SQL, BigQuery, Snowflake, Trino (untested):
#' Each has a DBI connection that `db_table()` accepts:
#' \itemize{
#' \item Spark SQL: `sc <- sparklyr::spark_connect(...)`;
#' `db_table(sc, "resp")` (a sparklyr connection is a DBI connection).
#' \item BigQuery: `DBI::dbConnect(bigrquery::bigquery(), project =,
#' dataset =, billing =)`; `db_table(con, "resp")`.
#' \item Snowflake: `DBI::dbConnect(odbc::odbc(), driver = "Snowflake",
#' server =, database =, schema =, warehouse =, ...)`.
#' \item Trino: `DBI::dbConnect(RPresto::Presto(), host =, port =,
#' catalog =, schema =)`, or odbc with a Trino driver.
#' }
#' A dbplyr table on any of them (`dplyr::tbl(con, "resp")` with
#' filters) works too. Dialect details that matter:
#' \itemize{
#' \item Identifiers are quoted by the backend's `dbQuoteIdentifier()`
#' (double quotes; backticks on Spark, BigQuery, MySQL); column names with
#' dots or capitals then need no care. BigQuery tables are named
#' `dataset.table`: give `schema = "dataset"`.
#' \item The weights are cast to the engine's double type as the backend's
#' `DBI::dbDataType(con, 1.5)` names it (`float8`,
#' `FLOAT64`, `DOUBLE`): `DOUBLE PRECISION` is no type name on
#' BigQuery, Spark SQL or Trino.
#' \item Counts: `COUNT(*)` and sums of integers are 64-bit
#' (`BIGINT`/`INT64`; `HUGEINT` on DuckDB), and arrive in R as
#' doubles (exact below 2^53 rows); sums of integer weights are never formed
#' in integers (they are cast first), so nothing overflows.
#' \item `NULL` is a group of its own in every engine's `GROUP BY`;
#' it comes back as `NA` and follows `tab()`'s `na` rules.
#' \item Floating-point sums: each engine adds a cell's weights in its own
#' order (in parallel on DuckDB, Spark, BigQuery, Snowflake, Trino; per
#' shard on a sharded table), so results can differ from the in-memory ones
#' in the last digits: about 1e-15 relative, far within the 1e-12 the tests
#' ask; the order may even change between runs.
#' \item Functions: the cell query needs only `COUNT`, `SUM`,
#' `MIN`, `MAX`, `CAST` and `CASE`. Weights computed in
#' the database (calibration) need `EXP()` and `LN()`: all these
#' engines have them; SQLite needs its math extension (above).
#' \item Writing weights back: where the engine has transactions that
#' include `CREATE TABLE` (PostgreSQL, SQLite, DuckDB) a new table is
#' created inside one; BigQuery and Spark SQL have none (and Snowflake
#' commits each DDL statement at once), so write to a new table name and
#' rename it (or point a view at it) only when it is complete, so that no
#' reader sees a half-written table.
#' \item Pruning: a filter on the partition or cluster column (a dbplyr
#' `filter()`, or a view) lets BigQuery, Snowflake, Spark and Trino read
#' only those partitions or micro-partitions, and PostgreSQL skip those
#' partitions; grouping by the partition key lets each partition be
#' aggregated on its own (as for postgres_fdw above). On BigQuery, where a
#' query is billed by the bytes it reads, each cell query reads only the
#' columns it groups and the weights.
#' }
#'
#' @seealso [db_table()], [tab()], [svy_design()].
#' @name umfrage_databases
#' @aliases umfrage-databases
NULL
