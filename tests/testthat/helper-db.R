# Shared by the database tests (test-db-sqlite.R, test-db-postgres.R, issue
# 18): data sets written to a database, and a comparison of tab() on the
# database table with tab() on the same rows in memory (as read back from
# the database: SQLite has no boolean or factor type).

# A synthetic survey: strata, clusters within strata, fpc, weights with
# zeros, NA in categorical columns, an integer and a logical column, MR
# items as 0/1 dichotomies (with NA) and as category codes.
db_sim_data <- function(n = 700, seed = 18) {
  set.seed(seed)
  st <- sample(c("north", "south", "west"), n, TRUE, prob = c(0.4, 0.35, 0.25))
  psu <- paste0(st, "-", sample(1:8, n, TRUE))
  d <- data.frame(
    st = st, psu = psu,
    fpc = c(north = 40, south = 30, west = 25)[st],
    w = round(stats::rexp(n) * 3 + 0.5, 3),
    sex = sample(c("f", "m", NA), n, TRUE, prob = c(0.5, 0.45, 0.05)),
    age = sample(c("18-34", "35-54", "55+"), n, TRUE),
    grade = sample(1:4, n, TRUE),
    urban = sample(c(TRUE, FALSE), n, TRUE),
    vote = sample(c("A", "B", "C", "D", NA), n, TRUE, prob = c(0.3, 0.3, 0.2, 0.1, 0.1)),
    b1 = sample(c(0L, 1L, NA), n, TRUE, prob = c(0.5, 0.45, 0.05)),
    b2 = sample(c(0L, 1L), n, TRUE),
    b3 = sample(c(0L, 1L), n, TRUE, prob = c(0.8, 0.2)),
    m1 = sample(c("tv", "radio", "web", NA), n, TRUE),
    m2 = sample(c("tv", "radio", "web", "print", NA), n, TRUE, prob = c(0.1, 0.2, 0.2, 0.1, 0.4)),
    stringsAsFactors = FALSE, row.names = NULL
  )
  d$w[sample(n, 15)] <- 0
  d
}

# The api data of survey (stratified sample), factors as text.
db_api_data <- function() {
  e <- new.env()
  utils::data(api, package = "survey", envir = e)
  d <- e$apistrat[c("stype", "sch.wide", "awards", "yr.rnd", "both", "cname", "dnum", "pw", "fpc")]
  for (v in names(d)) if (is.factor(d[[v]])) d[[v]] <- as.character(d[[v]])
  d$cname[c(3, 50, 99)] <- NA
  d
}

# Every column of the long form (and of the column bases) equal; numbers to
# 1e-12 (relative to their size, at least 1).
expect_same_tab <- function(a, b, tol = 1e-12) {
  for (part in c("cells", "bases")) {
    A <- if (part == "cells") as.data.frame(a) else a$bases
    B <- if (part == "cells") as.data.frame(b) else b$bases
    testthat::expect_identical(names(A), names(B))
    testthat::expect_identical(nrow(A), nrow(B))
    for (nm in names(B)) {
      x <- A[[nm]]
      y <- B[[nm]]
      if (is.double(y)) {
        testthat::expect_identical(is.na(x), is.na(y), label = sprintf("NA pattern of %s$%s", part, nm))
        ok <- !is.na(y)
        err <- if (any(ok)) max(abs(x[ok] - y[ok]) / pmax(1, abs(y[ok]))) else 0
        testthat::expect_lte(err, tol, label = sprintf("relative error of %s$%s", part, nm))
      } else {
        testthat::expect_identical(x, y, label = sprintf("%s$%s", part, nm))
      }
    }
  }
  testthat::expect_identical(a$cell_id, b$cell_id)
  testthat::expect_identical(a$skipped, b$skipped)
  testthat::expect_identical(a$weighted, b$weighted)
}

# The comparisons on one connection: tables of a database source against
# the same tables in memory, on the api data and the synthetic data.
db_equality_cases <- function(con, engine) {
  testthat::test_that(paste(engine, ": tab() on the api data equals tab() in memory"), {
    DBI::dbWriteTable(con, "api", db_api_data(), overwrite = TRUE, row.names = FALSE)
    back <- DBI::dbReadTable(con, "api")
    db <- db_table(con, "api")
    expect_same_tab(tab(db, "stype", cols = c("sch.wide", "awards"), weights = "pw"),
                    tab(back, "stype", cols = c("sch.wide", "awards"), weights = "pw"))
    expect_same_tab(tab(db, c("cname", "stype"), cols = "awards", weights = ~pw, na = "level",
                        percent = "row", test = "Chisq"),
                    tab(back, c("cname", "stype"), cols = "awards", weights = ~pw, na = "level",
                        percent = "row", test = "Chisq"))
    expect_same_tab(tab(db, "awards", by = "yr.rnd", percent = "total", ci = "korn-graubard"),
                    tab(back, "awards", by = "yr.rnd", percent = "total", ci = "korn-graubard"))
    sd <- svy_design(db, weights = "pw", strata = "stype", fpc = "fpc")
    sm <- svy_design(back, weights = "pw", strata = "stype", fpc = "fpc")
    expect_same_tab(tab(sd, "sch.wide", cols = c("awards", "both")),
                    tab(sm, "sch.wide", cols = c("awards", "both")))
    cd <- svy_design(db, weights = "pw", cluster = "dnum", lonely_psu = "adjust")
    cm <- svy_design(back, weights = "pw", cluster = "dnum", lonely_psu = "adjust")
    expect_same_tab(tab(cd, "sch.wide", cols = c("awards", "yr.rnd"), by = "stype", ci = "wilson"),
                    tab(cm, "sch.wide", cols = c("awards", "yr.rnd"), by = "stype", ci = "wilson"))
  })

  testthat::test_that(paste(engine, ": the stratified design's SEs are survey's"), {
    testthat::skip_if_not_installed("survey")
    back <- DBI::dbReadTable(con, "api")
    sd <- svy_design(db_table(con, "api"), weights = "pw", strata = "stype", fpc = "fpc")
    x <- as.data.frame(tab(sd, "awards", cols = "sch.wide"))
    back$awards <- factor(back$awards)
    sv <- survey::svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = back)
    ref <- survey::svyby(~awards, ~sch.wide, sv, survey::svymean)
    got <- x[x$col_var == "sch.wide" & x$row == "Yes", ]
    testthat::expect_equal(got$se / 100, unname(ref[match(got$col, ref$sch.wide), "se.awardsYes"]),
                           tolerance = 1e-10)
  })

  testthat::test_that(paste(engine, ": tab() on synthetic data (NA, MR sets, nets, zero weights, designs) equals tab() in memory"), {
    DBI::dbWriteTable(con, "sim", db_sim_data(), overwrite = TRUE, row.names = FALSE)
    back <- DBI::dbReadTable(con, "sim")
    db <- db_table(con, "sim")
    dich <- mr_set(back, c("b1", "b2", "b3"), counted = 1, label = "brands")
    dich_all <- mr_set(back, c("b1", "b2", "b3"), counted = 1, label = "brands (all)", base = "all")
    cat_set <- mr_set(back, c("m1", "m2"), type = "category", label = "media")
    for (na in c("drop", "level")) {
      expect_same_tab(tab(db, list("vote", dich, cat_set, "grade"), cols = list("sex", dich_all, "urban"),
                          by = "age", weights = "w", na = na),
                      tab(back, list("vote", dich, cat_set, "grade"), cols = list("sex", dich_all, "urban"),
                          by = "age", weights = "w", na = na))
    }
    # nets of a single variable and of an MR set; letters with Holm
    rows <- list(nets("vote", AB = c("A", "B"), .position = "bottom"), nets(cat_set, screen = c("tv", "web")))
    expect_same_tab(tab(db, rows, cols = "sex", weights = "w", adjust = "holm", min_base = 10),
                    tab(back, rows, cols = "sex", weights = "w", adjust = "holm", min_base = 10))
    # designs: strata + clusters + fpc; rows as PSUs with strata; fpc-derived weights
    sd <- svy_design(db, weights = "w", strata = "st", cluster = "psu", fpc = "fpc")
    sm <- svy_design(back, weights = "w", strata = "st", cluster = "psu", fpc = "fpc")
    expect_same_tab(tab(sd, list("vote", dich, cat_set), cols = list("sex", "age"), by = "urban"),
                    tab(sm, list("vote", dich, cat_set), cols = list("sex", "age"), by = "urban"))
    rd <- svy_design(db, weights = ~w, strata = ~st)
    rm <- svy_design(back, weights = ~w, strata = ~st)
    expect_same_tab(tab(rd, list("vote", dich), cols = list("age", cat_set), na = "level"),
                    tab(rm, list("vote", dich), cols = list("age", cat_set), na = "level"))
    fd <- svy_design(db, strata = "st", cluster = "psu", fpc = "fpc")
    fm <- svy_design(back, strata = "st", cluster = "psu", fpc = "fpc")
    expect_same_tab(tab(fd, "vote", cols = "sex", deff = "survey"),
                    tab(fm, "vote", cols = "sex", deff = "survey"))
    # unweighted, no inference
    expect_same_tab(tab(db, "age", cols = "grade", se = FALSE), tab(back, "age", cols = "grade", se = FALSE))
  })

  testthat::test_that(paste(engine, ": a dbplyr table is a source, its SQL a subquery"), {
    testthat::skip_if_not_installed("dbplyr")
    testthat::skip_if_not_installed("dplyr")
    back <- DBI::dbReadTable(con, "sim")
    # (dbplyr warns that RPostgreSQL has an old interface: not ours)
    lz <- suppressWarnings(dplyr::filter(dplyr::tbl(con, "sim"), grade > 1))
    expect_same_tab(tab(lz, "vote", cols = "sex", weights = "w"),
                    tab(back[back$grade > 1, ], "vote", cols = "sex", weights = "w"))
    expect_same_tab(tab(svy_design(lz, weights = "w", strata = "st", cluster = "psu"), "vote", cols = "age"),
                    tab(svy_design(back[back$grade > 1, ], weights = "w", strata = "st", cluster = "psu"),
                        "vote", cols = "age"))
  })

  testthat::test_that(paste(engine, ": bad input on a database table is a clear error naming the table and column"), {
    db <- db_table(con, "sim")
    testthat::expect_error(db_table(con, "no_such_table"), "table 'no_such_table' does not exist or cannot be read")
    testthat::expect_error(tab(db, "nope"), "'rows' names column\\(s\\) not in 'x': 'nope'")
    testthat::expect_error(tab(db, "vote", cols = "nope2"), "'nope2'")
    testthat::expect_error(tab(db, "vote", weights = "ww"), "'weights' names column 'ww', which is not in table 'sim'")
    testthat::expect_error(tab(db, "vote", weights = "vote"), "'weights' column 'vote' of table 'sim' must be numeric")
    testthat::expect_error(tab(db, "vote", weights = runif(10)), "must name a column")
    testthat::expect_error(tab(db, mean_of("grade")), "not yet supported on database tables")
    testthat::expect_error(svy_design(db, cluster = ~psu + st), "multistage designs are not yet supported")
    testthat::expect_error(svy_design(db, strata = "nope"), "'strata' names column 'nope', which is not in table 'sim'")
    # NULLs in design columns: the column and the number of rows
    d <- db_sim_data(200)
    d$st[c(3, 9, 27)] <- NA
    d$w[c(5, 6)] <- NA
    DBI::dbWriteTable(con, "simnull", d, overwrite = TRUE, row.names = FALSE)
    dn <- db_table(con, "simnull")
    testthat::expect_error(tab(svy_design(dn, strata = "st"), "vote"),
                           "'strata' column 'st' of table 'simnull' holds 3 NULL value\\(s\\)")
    testthat::expect_error(tab(dn, "vote", weights = "w"),
                           "'weights' column 'w' of table 'simnull' holds 2 NULL value\\(s\\)")
    d <- db_sim_data(100)
    d$w[7] <- -1
    DBI::dbWriteTable(con, "simneg", d, overwrite = TRUE, row.names = FALSE)
    testthat::expect_error(tab(db_table(con, "simneg"), "vote", weights = "w"),
                           "'weights' column 'w' of table 'simneg' holds negative")
  })

  testthat::test_that(paste(engine, ": progress messages follow option umfrage.progress"), {
    db <- db_table(con, "sim")
    testthat::expect_silent(tab(db, "vote"))
    old <- options(umfrage.progress = TRUE)
    on.exit(options(old))
    msgs <- character()
    withCallingHandlers(tab(db, "vote"), message = function(m) {
      msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage")
    })
    testthat::expect_true(any(grepl("grouping table 'sim' by vote", msgs)))
    # a query without grouping columns says so (no dangling "by")
    testthat::expect_false(any(grepl("by\\s*$", msgs)))
  })
}
