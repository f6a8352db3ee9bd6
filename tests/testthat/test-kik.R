# The synthetic KI-in-Kommunen export: reading, cleaning, the published
# findings F1-F9 through tab() and mr_set(), regeneration, spreadsheet
# variants and bad input.

kik_path <- function(f = "kik_rohdaten.csv") system.file("extdata", f, package = "umfrage")

# The export as a data frame of character columns, and back to a file in
# the ways spreadsheet programs write it.
export_df <- function() {
  utils::read.table(kik_path(), sep = ";", header = TRUE, quote = "\"",
                    colClasses = "character", na.strings = character(0),
                    comment.char = "", check.names = FALSE, encoding = "UTF-8")
}

write_export <- function(df, file, sep = ";", encoding = "UTF-8", eol = "\n",
                         bom = FALSE, quote_all = FALSE) {
  field <- function(x) {
    x <- enc2utf8(as.character(x))
    need <- if (quote_all) rep(TRUE, length(x)) else grepl(paste0("[", sep, "\"\n\r]"), x)
    x[need] <- paste0("\"", gsub("\"", "\"\"", x[need], fixed = TRUE), "\"")
    x
  }
  lines <- c(paste(field(names(df)), collapse = sep),
             do.call(paste, c(lapply(df, field), sep = sep)))
  txt <- paste0(paste(gsub("\n", eol, lines, fixed = TRUE), collapse = eol), eol)
  bytes <- if (encoding == "UTF-8") charToRaw(enc2utf8(txt)) else
    iconv(list(charToRaw(enc2utf8(txt))), "UTF-8", encoding, toRaw = TRUE)[[1L]]
  if (is.null(bytes)) stop("cannot write the export in ", encoding)
  if (bom) bytes <- c(if (encoding == "UTF-16LE") as.raw(c(0xff, 0xfe)) else
    as.raw(c(0xef, 0xbb, 0xbf)), bytes)
  writeBin(bytes, file)
  file
}

pct_of <- function(t) {
  d <- as.data.frame(t)
  stats::setNames(d$pct, d$row)
}

test_that("kik_read() drops test entries, breakoffs and duplicates, and says so", {
  expect_message(k <- kik_read(),
                 "Read 248 rows .*3 test entries, 38 incomplete responses .* 1 earlier response .*206 complete")
  expect_silent(kik_read(quiet = TRUE))
  cl <- attr(k, "cleaning")
  expect_identical(cl$step, c("read", "test", "incomplete", "duplicate"))
  expect_identical(cl$dropped, c(NA, 3L, 38L, 1L))
  expect_identical(cl$remaining, c(248L, 245L, 207L, 206L))
  expect_identical(nrow(k), 206L)

  raw <- export_df()
  # test entries: identifier "test...", a free text only "test", or before the field period
  test_ids <- as.integer(strsplit(cl$ids[2], ", ")[[1]])
  tr <- raw[match(test_ids, raw$id), ]
  expect_true(all(grepl("^\\s*test", tr$A0, ignore.case = TRUE) |
                    grepl("^(test\\W*)+$", tr$C1, ignore.case = TRUE) |
                    tr$startdate < "2024-07-08"))
  expect_false(any(grepl("^TEST", k$kommune)))
  expect_true(all(k$begonnen >= as.POSIXct("2024-07-08", tz = "Europe/Berlin")))
  # breakoffs: no submit date, later pages empty
  expect_identical(sum(raw$submitdate == ""), 38L)
  expect_false(anyNA(k$abgeschickt))
  expect_true(all(k$letzte_seite == 6L))
  # the municipality that answered twice keeps its later complete response
  dup_id <- as.integer(cl$ids[4])
  dr <- raw[raw$id == dup_id, ]
  key <- toupper(gsub("[^[:alnum:]]", "", dr$A0))
  kept <- k[k$kommune == key, ]
  expect_identical(nrow(kept), 1L)
  expect_gt(as.numeric(kept$abgeschickt), as.numeric(as.POSIXct(dr$submitdate, tz = "Europe/Berlin")))
  expect_false(anyDuplicated(k$kommune) > 0)
  expect_true(all(grepl("^K[0-9]{4}$", k$kommune)))
})

test_that("kik_read() applies the codebook: factors in codebook order, filters, free text", {
  k <- kik_read(quiet = TRUE)
  cb <- kik_codebook()
  for (col in c("A1", "A2", "A3", "B1", "E1", "E2", "E3", "F1")) {
    v <- cb$variable[cb$column == col][1]
    expect_identical(levels(k[[v]]), cb$label[cb$column == col], info = col)
  }
  expect_identical(levels(k$ki_nutzung), c("ja", "nein", "weiß nicht"))
  expect_identical(levels(k$land), levels(kik_gemeinden$land))
  expect_identical(levels(k$groesse), levels(kik_gemeinden$groesse))
  expect_identical(levels(kik_kreise$art), levels(k$art)[3:4])
  # codes match the raw export
  raw <- export_df()
  raw <- raw[match(k$id, raw$id), ]
  expect_identical(as.character(k$land), unname(c(SH = "Schleswig-Holstein", HH = "Hamburg",
    NI = "Niedersachsen", HB = "Bremen", NW = "Nordrhein-Westfalen", HE = "Hessen",
    RP = "Rheinland-Pfalz", BW = "Baden-Württemberg", BY = "Bayern", SL = "Saarland",
    BE = "Berlin", BB = "Brandenburg", MV = "Mecklenburg-Vorpommern", SN = "Sachsen",
    ST = "Sachsen-Anhalt", TH = "Thüringen")[raw$A2]))
  expect_identical(k$werkzeug_llm[k$ki_nutzung == "ja"], raw$B3_SQ001[k$ki_nutzung == "ja"] == "Y")
  # areas and tools are asked only where AI is used: NA elsewhere
  mr_now <- grep("^(bereich_heute|werkzeug)_", names(k), value = TRUE)
  mr_now <- setdiff(mr_now, "werkzeug_sonstiges_text")
  for (v in mr_now) expect_identical(is.na(k[[v]]), k$ki_nutzung != "ja", info = v)
  fut <- grep("^bereich_zukunft_", names(k), value = TRUE)
  expect_false(anyNA(k[fut]))
  # "other": a logical item plus its text
  expect_identical(as.vector(k$hindernis_sonstiges), !is.na(k$hindernis_sonstiges_text))
  expect_type(k$weitere_anwendungen, "character")
  # substantive answer: not empty and not a mere non-answer
  non <- k$weitere_anwendungen[!k$weitere_anwendungen_inhaltlich]
  expect_true(all(is.na(non) | tolower(non) %in% c("-", "k.a.", "k. a.", "nein", "keine",
                                                   "weiß nicht", "./.")))
  expect_true(all(nchar(k$weitere_anwendungen[k$weitere_anwendungen_inhaltlich]) > 10))
  expect_s3_class(k$begonnen, "POSIXct")
  expect_type(k$dauer_sek, "double")
  expect_identical(attr(k$ki_nutzung, "label"), "KI-Werkzeuge in Nutzung")
})

test_that("the published findings F1-F9 hold in the cleaned data", {
  k <- kik_read(quiet = TRUE)
  sets <- attr(k, "mr_sets")
  expect_named(sets, c("bereich_heute", "werkzeug", "bereich_zukunft", "hindernis"))
  users <- k$ki_nutzung == "ja"

  # F1: 42 % use AI tools (of all complete responses, "weiß nicht" included)
  p1 <- pct_of(tab(k, "ki_nutzung", se = FALSE))
  expect_equal(round(p1[["ja"]]), 42)
  expect_equal(p1[["ja"]], 100 * mean(k$ki_nutzung == "ja"))
  expect_equal(p1[["ja"]], 100 * unname(prop.table(table(k$ki_nutzung))["ja"]))

  # F2: Bürgerdienste lead the areas of current use (base: users)
  t2 <- as.data.frame(tab(k, sets$bereich_heute, se = FALSE), stringsAsFactors = FALSE)
  expect_match(t2$row[which.max(t2$pct)], "^Bürgerdienste")
  expect_true(all(t2$base_n == sum(users)))
  expect_equal(t2$n[1], sum(k$bereich_heute_buergerdienste, na.rm = TRUE))

  # F3: 73 % answered the free-text question substantively
  p3 <- pct_of(tab(k, "weitere_anwendungen_inhaltlich", se = FALSE))
  expect_equal(round(p3[["TRUE"]]), 73)
  expect_equal(p3[["TRUE"]], 100 * mean(k$weitere_anwendungen_inhaltlich))

  # F4: LLMs first, chatbots second, IT security next; many different tools
  p4 <- pct_of(tab(k, sets$werkzeug, se = FALSE))
  o <- names(sort(p4, decreasing = TRUE))
  expect_match(o[1], "^Textgeneratoren/Sprachmodelle")
  expect_match(o[2], "^Chatbots")
  expect_match(o[3], "^IT-Sicherheit")
  expect_gt(p4[[o[3]]], 25)
  expect_true(all(p4 > 0))
  expect_gte(length(p4), 10)
  per_user <- rowSums(k[users, sets$werkzeug$cols])
  expect_gt(mean(per_user), 2)

  # F5: every area named more often for the future (asked of all) than today
  now <- as.data.frame(tab(k, sets$bereich_heute, se = FALSE))
  fut <- as.data.frame(tab(k, sets$bereich_zukunft, se = FALSE))
  expect_identical(now$row, fut$row)
  expect_true(all(fut$n > now$n))
  expect_true(all(fut$pct > 100 * now$n / nrow(k)))
  expect_true(all(fut$pct > 33))  # "(fast) überall denkbar"
  expect_gt(mean(rowSums(k[sets$bereich_zukunft$cols])),
            mean(rowSums(k[users, sets$bereich_heute$cols])))

  # F6: staff/time, examples, technical, data management, then finances, then the rest
  hs <- mr_set(k, grep("^hindernis_[a-z]+$", names(k), value = TRUE), label = "Hindernisse",
               base = "all")
  p6 <- pct_of(tab(k, hs, se = FALSE))
  o6 <- names(sort(p6, decreasing = TRUE))
  # (items are labelled by the columns' labels from kik_read())
  expect_identical(substr(o6[1:5], 1, 10), c("Personelle", "Konkrete A", "Technische",
                                             "Strategisc", "Finanziell"))
  expect_true(all(p6[["Finanzielle Möglichkeiten"]] > p6[o6[-(1:5)]]))
  expect_gte(length(o6), 7)
  expect_equal(unname(p6), unname(pct_of(tab(k, sets$hindernis, se = FALSE))))

  # F7: few trainings today, 38 % plan some
  expect_lt(pct_of(tab(k, "fortbildung_heute", se = FALSE))[["ja"]], 20)
  p7 <- pct_of(tab(k, "fortbildung_geplant", se = FALSE))
  expect_equal(round(p7[["ja"]]), 38)
  expect_equal(p7[["ja"]], 100 * sum(k$fortbildung_geplant == "ja") / nrow(k))

  # F8: hardly any rules or guidelines
  p8 <- pct_of(tab(k, "regeln", se = FALSE))
  expect_lt(p8[["verbindliche Dienstanweisung oder Dienstvereinbarung"]], 15)
  expect_lt(p8[["verbindliche Dienstanweisung oder Dienstvereinbarung"]] +
              p8[["unverbindliche Leitlinie oder Empfehlung"]], 20)
  expect_identical(names(which.max(p8)), "keine Vorgaben")

  # F9: few pursue a Smart City/Region strategy, many considered one, some
  # plan one, others reject it in favour of administrative digitalisation
  p9 <- pct_of(tab(k, "smart_city", se = FALSE))
  pursue <- p9[["ja, wir verfolgen eine Strategie"]]
  expect_true(pursue >= 2 && pursue <= 5)
  expect_identical(names(which.max(p9)), "befasst, aber nicht weiter verfolgt")
  expect_gt(p9[["in Planung"]], pursue)
  expect_gt(p9[["abgelehnt zugunsten der Verwaltungsdigitalisierung"]], pursue)
})

test_that("kik_mr_sets() rebuilds the sets, also on a subset", {
  k <- kik_read(quiet = TRUE)
  expect_identical(kik_mr_sets(k), attr(k, "mr_sets"))
  sub <- k[k$art == "Landkreis / Kreis", ]
  s <- kik_mr_sets(sub)
  t <- as.data.frame(tab(sub, s$werkzeug, se = FALSE))
  expect_equal(t$base_n[1], sum(sub$ki_nutzung == "ja"))
  expect_error(kik_mr_sets(k[1:3]), "lacks column.*'bereich_heute_buergerdienste'")
})

test_that("the shipped export is what data-raw/kik_synth.R makes", {
  src <- test_path("..", "..", "data-raw", "kik_synth.R")
  skip_if_not(file.exists(src), "data-raw/ is only in the package sources")
  env <- new.env()
  sys.source(src, envir = env)
  out <- tempfile("kik-synth-")
  on.exit(unlink(out, recursive = TRUE), add = TRUE)
  set.seed(1)
  seed <- .Random.seed
  env$kik_synth(out_dir = out, frame_dir = dirname(src))
  expect_identical(.Random.seed, seed)  # the caller's random numbers are untouched
  for (f in c("kik_rohdaten.csv", "kik_codebook.csv")) {
    made <- readBin(file.path(out, f), "raw", 1e7)
    expect_identical(made, readBin(test_path("..", "..", "inst", "extdata", f), "raw", 1e7), info = f)
    expect_identical(made, readBin(kik_path(f), "raw", 1e7), info = paste("installed", f))
  }
})

test_that("kik_read() reads the export as spreadsheet programs save it", {
  ref <- kik_read(quiet = TRUE)
  raw <- export_df()
  dir <- tempfile("kik-variants-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  f <- function(name) file.path(dir, name)

  # UTF-8 with a byte-order mark and CRLF line ends
  write_export(raw, f("bom.csv"), bom = TRUE, eol = "\r\n")
  expect_identical(kik_read(f("bom.csv"), quiet = TRUE), ref)

  # Windows-1252 ("ANSI"), CRLF, decimal comma
  r2 <- raw
  r2$interviewtime <- sub(".", ",", r2$interviewtime, fixed = TRUE)
  write_export(r2, f("ansi.csv"), encoding = "CP1252", eol = "\r\n")
  bytes <- readBin(f("ansi.csv"), "raw", 1e7)
  expect_false(validUTF8(rawToChar(bytes)))
  expect_true(as.raw(0x80) %in% bytes)  # the euro sign of Windows-1252
  expect_identical(kik_read(f("ansi.csv"), quiet = TRUE), ref)

  # comma-separated, every field quoted, German dates, an empty trailing
  # column and empty rows
  r3 <- raw
  for (v in c("submitdate", "startdate", "datestamp"))
    r3[[v]] <- sub("^(\\d{4})-(\\d{2})-(\\d{2})", "\\3.\\2.\\1", r3[[v]], perl = TRUE)
  r3[[" "]] <- ""
  r3 <- r3[c(seq_len(100), NA, 101:nrow(r3), NA), ]
  r3[is.na(r3$id), ] <- ""
  write_export(r3, f("comma.csv"), sep = ",", quote_all = TRUE)
  expect_identical(kik_read(f("comma.csv"), quiet = TRUE), ref)

  # UTF-16 with a byte-order mark, tab-separated ("Unicode text")
  write_export(raw, f("utf16.txt"), sep = "\t", encoding = "UTF-16LE", bom = TRUE, eol = "\r\n")
  expect_identical(kik_read(f("utf16.txt"), quiet = TRUE), ref)

  # Latin-1: all but the characters Latin-1 lacks (euro sign, typographic
  # quotes) arrive unchanged
  lat <- vapply(raw, function(x) all(!is.na(iconv(x, "UTF-8", "latin1"))), NA)
  r5 <- raw
  for (v in names(raw)[!lat]) r5[[v]] <- iconv(raw[[v]], "UTF-8", "latin1", sub = "?")
  write_export(r5, f("latin1.csv"), encoding = "latin1")
  k5 <- kik_read(f("latin1.csv"), quiet = TRUE)
  same <- vapply(names(ref), function(v) identical(k5[[v]], ref[[v]]), NA)
  expect_true(all(same[!grepl("^(weitere_anwendungen|anmerkungen|.*_text)$", names(ref))]))
  expect_true(any(grepl("ß", k5$weitere_anwendungen)))
  expect_identical(k5$weitere_anwendungen_inhaltlich, ref$weitere_anwendungen_inhaltlich)
})

test_that("kik_read() stops with a clear error on bad input", {
  dir <- tempfile("kik-bad-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  f <- function(name) file.path(dir, name)
  raw <- export_df()

  expect_error(kik_read(f("none.csv")), "'path': file '.*none.csv' does not exist")
  expect_error(kik_read(1), "'path' must be a single file path")
  expect_error(kik_read(c("a", "b")), "'path' must be a single file path")
  expect_error(kik_read(dir), "is a directory")
  expect_error(kik_read(quiet = NA), "'quiet' must be TRUE or FALSE")

  file.create(f("empty.csv"))
  expect_error(kik_read(f("empty.csv")), "file '.*empty.csv' is empty")
  writeBin(as.raw(c(0xef, 0xbb, 0xbf, 0x0d, 0x0a)), f("bom-only.csv"))
  expect_error(kik_read(f("bom-only.csv")), "is empty \\(blanks only\\)")
  write_export(raw[0, ], f("header.csv"))
  expect_error(kik_read(f("header.csv")), "has a header but no responses")

  write_export(raw[setdiff(names(raw), "B1")], f("no-b1.csv"))
  expect_error(kik_read(f("no-b1.csv")), "lacks required column\\(s\\) 'B1'$")
  write_export(raw[setdiff(names(raw), c("E2", "F1"))], f("no-e2.csv"))
  expect_error(kik_read(f("no-e2.csv")), "lacks required column\\(s\\) 'E2', 'F1'")

  r <- raw
  r$A2[c(5, 9, 20)] <- "XX"
  r$B1[7] <- "7"
  write_export(r, f("code.csv"))
  expect_error(kik_read(f("code.csv")),
               "column 'A2' \\(land\\) holds code\\(s\\) not in the codebook: 'XX' \\(3 rows\\)")
  expect_error(kik_read(f("code.csv")), "column 'B1' \\(ki_nutzung\\) holds code\\(s\\) not in the codebook: '7' \\(1 row\\)")
  r <- raw
  r$B2_SQ003[r$B2_SQ003 == "Y"][1:2] <- "ja"
  write_export(r, f("y.csv"))
  expect_error(kik_read(f("y.csv")), "column 'B2_SQ003' .* 'ja' \\(2 rows\\)")
  # an answer to a question the filter skipped: kept out, with a warning
  r <- raw
  k <- kik_read(quiet = TRUE)
  nonuser <- match(k$id[k$ki_nutzung == "nein"][1:2], r$id)
  r$B2_SQ001[nonuser] <- "Y"
  write_export(r, f("filter.csv"))
  expect_warning(kf <- kik_read(f("filter.csv"), quiet = TRUE),
                 "column 'B2_SQ001' has answers in 2 rows where its filter 'B1=1' is not met")
  expect_identical(kf$bereich_heute_buergerdienste, k$bereich_heute_buergerdienste)

  r <- raw
  r$startdate[3] <- "gestern"
  write_export(r, f("date.csv"))
  expect_error(kik_read(f("date.csv")), "column 'startdate' \\(begonnen\\) must hold date-times, but holds 'gestern' \\(1 row\\)")
  r <- raw
  r$interviewtime[4] <- "12 min"
  write_export(r, f("num.csv"))
  expect_error(kik_read(f("num.csv")), "column 'interviewtime' .* must hold numbers")

  # files that are not the export
  utils::write.csv(data.frame(x = 1:3, y = c("a", "b", "c")), f("other.csv"), row.names = FALSE)
  expect_error(kik_read(f("other.csv")), "is not a KI-in-Kommunen export: its header lacks 57 of the 57 columns .*; it has 'x', 'y'$")
  expect_error(kik_read(kik_path("kik_codebook.csv")), "is not a KI-in-Kommunen export")
  writeLines("just some text", f("text.txt"))
  expect_error(kik_read(f("text.txt")), "is not a delimited table")
  writeBin(as.raw(c(0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00)), f("book.xlsx"))
  expect_error(kik_read(f("book.xlsx")), "is not a text file.*save the export as CSV")
  writeLines(c("id;submitdate", "1;x;y;z"), f("ragged.csv"))
  expect_error(kik_read(f("ragged.csv")),
               "cannot read file .* as a table separated by ';': more columns than column names")
  r <- readLines(kik_path(), encoding = "UTF-8")
  r[10] <- sub(";[^;]*$", "", r[10])
  writeLines(r, f("short-row.csv"), useBytes = TRUE)
  expect_error(kik_read(f("short-row.csv")), "cannot read file .*did not have 57 elements")
})

test_that("kik_codebook() checks the codebook", {
  cb <- kik_codebook()
  expect_true(all(c("column", "variable", "type", "code", "label") %in% names(cb)))
  expect_true(any(cb$type == "note" & grepl("SYNTHETISCHE DATEN", cb$question)))
  expect_identical(cb$code[cb$type == "field"], "2024-07-08")
  expect_error(kik_read(codebook = cb[cb$variable != "kommune", ]),
               "must define variable 'kommune'")
  bad <- cb
  bad$type[bad$column == "B1"] <- "choice"
  expect_error(kik_codebook(bad), "unknown type\\(s\\) 'choice'")
  bad <- cb
  bad$filter[bad$column == "B2_SQ001"] <- "B1>1"
  expect_error(kik_codebook(bad), "more than one filter|a filter is 'column=code'")
  expect_error(kik_codebook(cb[c("column", "variable")]), "lacks column\\(s\\) 'type', 'code', 'label'")
  # a codebook whose codes differ from the export's
  cb2 <- cb
  cb2$code[cb2$column == "A2" & cb2$code == "NW"] <- "NRW"
  expect_error(kik_read(codebook = cb2, quiet = TRUE), "column 'A2' \\(land\\) holds code\\(s\\) not in the codebook: 'NW'")
})

test_that("the frame datasets hold the documented real totals", {
  expect_identical(sum(kik_gemeinden$n_gemeinden), 10773L)
  expect_identical(sum(as.numeric(kik_gemeinden$einwohner)), 84353660)
  expect_identical(nrow(kik_kreise), 400L)
  expect_identical(sum(kik_kreise$kreisfrei), 106L)
  expect_identical(sum(as.numeric(kik_kreise$einwohner)), 84353660)
  # every (Land, size) of a responding Gemeinde or kreisfreie Stadt exists in the frame
  k <- kik_read(quiet = TRUE)
  g <- k[k$art != "Landkreis / Kreis", ]
  cells <- unique(paste(g$land, g$groesse))
  have <- aggregate(n_gemeinden ~ land + groesse, kik_gemeinden, sum)
  have <- paste(have$land, have$groesse)[have$n_gemeinden > 0]
  expect_true(all(cells %in% have))
  lk <- k[k$art == "Landkreis / Kreis", ]
  fr <- kik_kreise[!kik_kreise$kreisfrei, ]
  expect_true(all(paste(lk$land, lk$groesse) %in% paste(fr$land, fr$groesse)))
})

test_that("the rule for a substantive free-text answer", {
  non <- c(NA, "", "  ", "-", "--", "./.", "/", "?", "k.A.", "k. A.", "K.A", "keine Angabe",
           "keine Angaben.", "nein", "Nein.", "keine", "Keine weiteren.", "nichts",
           "nicht bekannt", "weiß nicht", "weiss nicht", "n/a", "entfällt")
  expect_false(any(umfrage:::is_substantive(non)))
  yes <- c("Chatbot", "Nein, aber ein Chatbot ist geplant.", "keine Kapazitäten, aber Ideen: Übersetzung",
           "Testbetrieb eines Chatbots seit Mai.")
  expect_true(all(umfrage:::is_substantive(yes)))
  expect_true(all(umfrage:::is_test_text(c("test", "Test", "test test", " TEST! "))))
  expect_false(any(umfrage:::is_test_text(c(NA, "Testbetrieb eines Chatbots", "kein test"))))
})
