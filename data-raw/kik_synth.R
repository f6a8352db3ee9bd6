# data-raw/kik_synth.R: the SYNTHETIC KI-in-Kommunen raw export and codebook.
#
# !!! SYNTHETIC DATA. Nothing here was observed. !!!
#
# The Bundes-SGK survey "Einsatz von vertrauenswürdiger KI in Kommunen" (2024)
# is public only as a one-page German summary of its findings (F1-F9 below).
# Its respondents, questionnaire, wording, answer scales and field dates are
# NOT public. Everything in the files this script writes is invented: the
# questionnaire, the question codes and texts, the answer codes, the field
# period, the respondents and all their answers, the timestamps and the free
# texts. The only link to the real survey is that, after the documented
# cleaning (kik_read()), the unweighted shares and rankings reproduce the
# published findings:
#
#   F1 42 % of municipalities use AI tools (B1 = ja, of all completes)
#   F2 Bürgerdienste is the leading area of current use (B2)
#   F3 73 % gave a substantive answer to the free-text question C1
#   F4 LLMs first, chatbots second, IT security present, many tools (B3)
#   F5 every area is named more often for the future (C2) than today (B2)
#   F6 obstacles: staff/time > examples > technical > data management >
#      finances > all others (D1)
#   F7 few trainings today (E1), 38 % plan some (E2 = ja, of all completes)
#   F8 hardly any rules or guidelines (E3)
#   F9 Smart City/Region: few pursue, "befasst" the largest group, some plan,
#      some reject in favour of administrative digitalisation (F1)
#
# The size and composition of the sample follow the real frame of German
# local authorities (data-raw/gemeinden_land_groessenklasse.csv and
# data-raw/kreise.csv, Destatis): every synthetic respondent is a free slot
# of a real Land x size class cell (or a real Kreis), so the sample can be
# weighted to the frame. No record stands for a real, named municipality:
# the municipality identifiers (K0123) are random.
#
# Usage (from the package root; base R only, deterministic):
#   Rscript data-raw/kik_synth.R                 # writes inst/extdata/
#   Rscript data-raw/kik_synth.R /some/dir       # writes elsewhere
# or source() it and call kik_synth(out_dir, frame_dir).
#
# Writes kik_rohdaten.csv (the export, as an online survey tool in the style
# of LimeSurvey writes it: UTF-8, ';', one row per response incl. breakoffs
# and test entries) and kik_codebook.csv (one row per column and code).

kik_synth <- function(out_dir = file.path("inst", "extdata"),
                      frame_dir = "data-raw") {
  # deterministic, and the caller's random-number state is left as it was
  old_kind <- RNGkind()
  had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  if (had_seed) old_seed <- get(".Random.seed", envir = globalenv(), inherits = FALSE)
  on.exit({
    do.call(RNGkind, as.list(old_kind))
    if (had_seed) assign(".Random.seed", old_seed, envir = globalenv())
    else if (exists(".Random.seed", envir = globalenv(), inherits = FALSE))
      rm(".Random.seed", envir = globalenv())
  })
  RNGkind("Mersenne-Twister", "Inversion", "Rejection")
  set.seed(20240708)

  cb <- synth_codebook()
  units <- synth_units(frame_dir)
  raw <- synth_responses(units, cb)
  dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
  f_raw <- file.path(out_dir, "kik_rohdaten.csv")
  f_cb <- file.path(out_dir, "kik_codebook.csv")
  write_semicolon(raw, f_raw)
  write_semicolon(cb, f_cb)
  invisible(c(f_raw, f_cb))
}

# ---- the questionnaire (invented) -------------------------------------------

areas <- c(
  buergerdienste = "Bürgerdienste (Bürgerbüro, Auskünfte, Anträge)",
  verwaltung     = "Innere Verwaltung (Personal, Organisation, Schriftgut)",
  kommunikation  = "Öffentlichkeitsarbeit und Kommunikation",
  finanzen       = "Finanzen, Steuern und Kasse",
  bauen_umwelt   = "Bauen, Planen und Umwelt",
  soziales       = "Soziales, Jugend und Gesundheit",
  ordnung        = "Ordnung, Sicherheit und Feuerwehr",
  verkehr        = "Verkehr und Mobilität",
  bildung_kultur = "Bildung, Schulen und Kultur",
  gremien        = "Rat und Gremien (Sitzungsdienst, Protokolle)"
)

tools <- c(
  llm           = "Textgeneratoren/Sprachmodelle (LLMs, z. B. ChatGPT)",
  chatbot       = "Chatbots oder virtuelle Assistenten (z. B. auf der Website)",
  it_sicherheit = "IT-Sicherheit (Angriffs- und Spam-Erkennung)",
  uebersetzung  = "Übersetzung",
  transkription = "Spracherkennung und Transkription (z. B. Protokolle)",
  dokumente     = "Dokumentenanalyse (Posteingang, Klassifikation, Auslesen)",
  wissen        = "Suche und Wissensmanagement",
  bild          = "Bild- und Videoanalyse",
  prognose      = "Prognosen und Datenanalyse",
  programmierung = "Programmierhilfe"
)

obstacles <- c(
  personal   = "Personelle und zeitliche Kapazitäten",
  beispiele  = "Konkrete Anwendungsbeispiele als Vorbild fehlen",
  technik    = "Technische Voraussetzungen",
  daten      = "Strategisches Datenmanagement",
  finanzen   = "Finanzielle Möglichkeiten",
  recht      = "Rechtliche Unsicherheit (Datenschutz, Haftung)",
  akzeptanz  = "Akzeptanz bei den Beschäftigten"
)

laender <- c(
  SH = "Schleswig-Holstein", HH = "Hamburg", NI = "Niedersachsen", HB = "Bremen",
  NW = "Nordrhein-Westfalen", HE = "Hessen", RP = "Rheinland-Pfalz",
  BW = "Baden-Württemberg", BY = "Bayern", SL = "Saarland", BE = "Berlin",
  BB = "Brandenburg", MV = "Mecklenburg-Vorpommern", SN = "Sachsen",
  ST = "Sachsen-Anhalt", TH = "Thüringen"
)

groessen <- c("unter 5.000", "5.000 bis unter 10.000", "10.000 bis unter 20.000",
              "20.000 bis unter 50.000", "50.000 bis unter 100.000",
              "100.000 bis unter 200.000", "200.000 bis unter 500.000",
              "500.000 und mehr")

arten <- c("Gemeinde (kreisangehörig)", "Stadt (kreisangehörig)",
           "kreisfreie Stadt", "Landkreis / Kreis")

sq <- function(k) sprintf("SQ%03d", seq_len(k))

# One row per column and code. Columns:
#   column   header of the export        variable  name in kik_read()'s result
#   page     questionnaire page (0 = metadata)
#   type     integer, datetime, numeric, text, single, multiple, other,
#            field (the field period) or note (a remark, no column)
#   set      multiple-choice block       filter    asked only if (column=code)
#   title    short label                 question  full question text
#   code     answer code                 label     answer label
#   note     remarks
synth_codebook <- function() {
  rows <- list()
  add <- function(column, variable, page, type, title = "", question = "",
                  code = "", label = "", set = "", filter = "", note = "") {
    rows[[length(rows) + 1L]] <<- data.frame(
      column = column, variable = variable, page = as.character(page), type = type,
      set = set, filter = filter, title = title, question = question,
      code = code, label = label, note = note, stringsAsFactors = FALSE)
  }
  single <- function(column, variable, page, title, question, codes, labels, note = "",
                     filter = "") {
    for (i in seq_along(codes))
      add(column, variable, page, "single", title, question, codes[i], labels[i],
          filter = filter, note = if (labels[i] == "weiß nicht")
            "weiß nicht: bleibt in kik_read() eine eigene Stufe und zählt zur Basis" else note)
  }
  multiple <- function(prefix, set, page, title, question, items, filter = "") {
    cols <- paste0(prefix, "_", sq(length(items)))
    for (i in seq_along(items))
      add(cols[i], paste0(set, "_", names(items)[i]), page, "multiple", title, question,
          "Y", items[[i]], set = set, filter = filter,
          note = "Y = genannt, leer = nicht genannt")
  }
  note <- function(text) add("(hinweis)", "", "", "note", question = text)

  note(paste("SYNTHETISCHE DATEN. Fragebogen, Fragetexte, Codes, Feldzeit, Befragte,",
             "Antworten und Zeitstempel sind erfunden (data-raw/kik_synth.R im Quellpaket).",
             "Von der echten Bundes-SGK-Umfrage 'Einsatz von vertrauenswürdiger KI in",
             "Kommunen' (2024) ist nur eine Zusammenfassung der Ergebnisse veröffentlicht;",
             "die Daten sind so gebaut, dass die ungewichteten Anteile nach der Bereinigung",
             "diese Ergebnisse wiedergeben."))
  note(paste("Bereinigung in kik_read(): (1) Testeingaben entfernen (Kennung beginnt mit",
             "'test', ein Freitext (C1, F2) besteht nur aus 'test', oder begonnen vor Feldbeginn); (2) Abbrüche",
             "entfernen (kein submitdate); (3) Doppelte: je Kommune (Kennung ohne",
             "Leer-/Sonderzeichen, Großschreibung) nur die zuletzt abgeschickte",
             "vollständige Antwort behalten."))
  note(paste("Fehlende Werte: leere Zellen = nicht beantwortet oder (bei Filterfragen)",
             "nicht gefragt; 'weiß nicht' (Code 9) ist eine gültige Antwort und bleibt",
             "eine eigene Stufe."))
  add("(feldzeit)", "", "", "field", "Feldzeit (erfunden)",
      "Beginn und Ende der Feldzeit; frühere Antworten sind Testeingaben",
      "2024-07-08", "2024-10-18", note = "erfunden")

  add("id", "id", 0, "integer", "Antwort-ID", "laufende Nummer der Antwort (vom Umfragewerkzeug vergeben)")
  add("submitdate", "abgeschickt", 0, "datetime", "Abgeschickt",
      "Zeitpunkt des Absendens; leer = nicht abgeschlossen (Abbruch)", note = "Ortszeit, Europe/Berlin")
  add("lastpage", "letzte_seite", 0, "integer", "Letzte Seite",
      "Nummer der zuletzt abgeschickten Fragebogenseite (6 = alle); leer = keine Seite abgeschickt")
  add("startlanguage", "sprache", 0, "text", "Sprache", "Sprache des Fragebogens")
  add("startdate", "begonnen", 0, "datetime", "Begonnen", "Zeitpunkt des Beginns",
      note = "Ortszeit, Europe/Berlin")
  add("datestamp", "letzte_aktion", 0, "datetime", "Letzte Aktion",
      "Zeitpunkt der letzten Aktion", note = "Ortszeit, Europe/Berlin")

  add("A0", "kommune", 1, "text", "Kennung der Kommune",
      "Bitte geben Sie die Kennung Ihrer Kommune aus dem Einladungsschreiben ein (z. B. K0123).",
      note = "pseudonym, zufällig vergeben; kik_read() vereinheitlicht die Schreibweise")
  single("A1", "art", 1, "Art der Gebietskörperschaft",
         "Um welche Art von Gebietskörperschaft handelt es sich bei Ihrer Kommune?",
         as.character(1:4), arten)
  single("A2", "land", 1, "Bundesland", "In welchem Bundesland liegt Ihre Kommune?",
         names(laender), unname(laender))
  single("A3", "groesse", 1, "Einwohnerzahl",
         "Wie viele Einwohnerinnen und Einwohner hat Ihre Kommune (bei Kreisen: der Kreis insgesamt)?",
         as.character(seq_along(groessen)), groessen,
         note = "Klassen passen zu den Größenklassen des Gemeindeverzeichnisses (kik_gemeinden, kik_kreise)")

  single("B1", "ki_nutzung", 2, "KI-Werkzeuge in Nutzung",
         paste("Werden in Ihrer Verwaltung bereits KI-Werkzeuge genutzt, auch durch",
               "einzelne Beschäftigte (z. B. ChatGPT oder andere Sprachmodelle)?"),
         c("1", "2", "9"), c("ja", "nein", "weiß nicht"))
  multiple("B2", "bereich_heute", 2, "KI-Einsatzbereiche heute",
           "In welchen Aufgabenbereichen wird KI bei Ihnen bereits eingesetzt? (Mehrfachnennungen möglich)",
           areas, filter = "B1=1")
  multiple("B3", "werkzeug", 2, "Genutzte KI-Werkzeuge",
           "Welche Arten von KI-Werkzeugen bzw. -Anwendungen nutzen Sie? (Mehrfachnennungen möglich)",
           tools, filter = "B1=1")
  add("B3_other", "werkzeug_sonstiges", 2, "other", "Genutzte KI-Werkzeuge",
      "Welche Arten von KI-Werkzeugen bzw. -Anwendungen nutzen Sie? Sonstiges, und zwar:",
      label = "Sonstiges", set = "werkzeug", filter = "B1=1",
      note = "Freitext; genannt, wenn nicht leer (Text in werkzeug_sonstiges_text)")

  add("C1", "weitere_anwendungen", 3, "text", "Weitere Anwendungen (Freitext)",
      paste("Welche weiteren Anwendungen oder Möglichkeiten von KI sind Ihnen bekannt,",
            "werden bei Ihnen erprobt oder diskutiert? Bitte beschreiben Sie diese kurz."),
      note = paste("Freitext. Inhaltliche Antwort (weitere_anwendungen_inhaltlich): nicht leer",
                   "und nicht nur '-', 'k.A.', 'keine Angabe', 'nein', 'keine', 'nichts',",
                   "'weiß nicht', './.' o. Ä."))
  multiple("C2", "bereich_zukunft", 3, "KI-Bereiche in Zukunft",
           paste("In welchen Aufgabenbereichen könnte KI für Ihre Kommune in Zukunft",
                 "wichtig werden? (Mehrfachnennungen möglich)"), areas)

  multiple("D1", "hindernis", 4, "Hindernisse",
           paste("Was hindert Ihre Kommune derzeit daran, (mehr) KI einzusetzen, bzw. welche",
                 "Voraussetzungen fehlen? (Mehrfachnennungen möglich)"), obstacles)
  add("D1_other", "hindernis_sonstiges", 4, "other", "Hindernisse",
      "Was hindert Ihre Kommune derzeit daran, (mehr) KI einzusetzen? Sonstiges, und zwar:",
      label = "Sonstiges", set = "hindernis",
      note = "Freitext; genannt, wenn nicht leer (Text in hindernis_sonstiges_text)")

  single("E1", "fortbildung_heute", 5, "Fortbildungen zu KI heute",
         "Bietet Ihre Verwaltung ihren Beschäftigten derzeit Fortbildungen zum Umgang mit KI an?",
         c("1", "2"), c("ja", "nein"))
  single("E2", "fortbildung_geplant", 5, "Fortbildungen zu KI geplant",
         "Planen Sie, künftig (weitere) Fortbildungen zum Umgang mit KI anzubieten?",
         c("1", "2", "9"), c("ja", "nein", "weiß nicht"))
  single("E3", "regeln", 5, "Vorgaben zur KI-Nutzung",
         "Gibt es in Ihrer Verwaltung Vorgaben oder Leitlinien zur Nutzung von KI?",
         c("1", "2", "3", "4", "9"),
         c("verbindliche Dienstanweisung oder Dienstvereinbarung",
           "unverbindliche Leitlinie oder Empfehlung", "Regelung in Arbeit",
           "keine Vorgaben", "weiß nicht"))

  single("F1", "smart_city", 6, "Smart-City-/Smart-Region-Strategie",
         "Verfolgt Ihre Kommune eine Smart-City- bzw. Smart-Region-Strategie?",
         as.character(1:5),
         c("ja, wir verfolgen eine Strategie", "in Planung",
           "befasst, aber nicht weiter verfolgt",
           "abgelehnt zugunsten der Verwaltungsdigitalisierung", "nicht befasst"))
  add("F2", "anmerkungen", 6, "text", "Anmerkungen",
      "Möchten Sie uns noch etwas mitteilen?", note = "Freitext")
  add("interviewtime", "dauer_sek", 0, "numeric", "Bearbeitungszeit (Sekunden)",
      "Gesamte Bearbeitungszeit in Sekunden (Zeitmessung des Umfragewerkzeugs)")
  do.call(rbind, rows)
}

# ---- the frame: free slots of real Land x size cells --------------------------

class10_breaks <- c(0, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, Inf)
class10_to_8 <- c(1L, 1L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L)

synth_units <- function(frame_dir) {
  g <- utils::read.csv(file.path(frame_dir, "gemeinden_land_groessenklasse.csv"),
                       colClasses = c(land_code = "character"), fileEncoding = "UTF-8",
                       stringsAsFactors = FALSE)
  k <- utils::read.csv(file.path(frame_dir, "kreise.csv"), colClasses = c(ags = "character"),
                       fileEncoding = "UTF-8", stringsAsFactors = FALSE)
  iso <- names(laender)
  g$land_iso <- iso[as.integer(g$land_code)]
  k$land_iso <- iso[as.integer(substr(k$ags, 1L, 2L))]
  k$class10 <- findInterval(k$population, class10_breaks)
  cl10 <- unique(g$groessenklasse)
  g$class10 <- match(g$groessenklasse, cl10)
  # kreisangehörige Gemeinden per Land x class: all Gemeinden minus the
  # kreisfreie Städte (each is one Gemeinde of the Kreis' population)
  ka <- matrix(0L, length(iso), 10L, dimnames = list(iso, NULL))
  ka[cbind(match(g$land_iso, iso), g$class10)] <- g$n_gemeinden
  kf <- k[k$kreisfrei == "ja", ]
  for (i in seq_len(nrow(kf))) {
    ka[kf$land_iso[i], kf$class10[i]] <- ka[kf$land_iso[i], kf$class10[i]] - 1L
  }
  stopifnot(all(ka >= 0))
  list(ka = ka, kreisfrei = kf, landkreise = k[k$kreisfrei == "nein", ])
}

# Draw n units for the given Länder, without replacement from the frame.
# Returns the frame with the slots used removed, and the units.
draw_units <- function(frame, land) {
  # SPD-led authorities: larger ones over-represented compared with all
  # Gemeinden (tilt per frame size class)
  tilt <- c(0.04, 0.1, 0.3, 0.9, 1.6, 3, 4, 4, 4, 4)
  p_stadt <- c(0.03, 0.08, 0.15, 0.45, 0.75, 0.97, 1, 1, 1, 1)
  n <- length(land)
  art <- class8 <- integer(n)
  for (i in seq_len(n)) {
    l <- land[i]
    kf <- which(frame$kreisfrei$land_iso == l)
    lk <- which(frame$landkreise$land_iso == l)
    p <- c(ka = 0.66, kf = 0.15, lk = 0.19)
    if (l %in% c("HH", "BE", "HB")) p <- c(ka = 0, kf = 1, lk = 0)
    if (!length(kf)) p["kf"] <- 0
    if (!length(lk)) p["lk"] <- 0
    if (sum(frame$ka[l, ]) == 0) p["ka"] <- 0
    what <- names(p)[sample.int(3L, 1L, prob = p)]
    if (what == "kf") {
      j <- kf[sample.int(length(kf), 1L)]
      art[i] <- 3L
      class8[i] <- class10_to_8[frame$kreisfrei$class10[j]]
      frame$kreisfrei <- frame$kreisfrei[-j, ]
    } else if (what == "lk") {
      j <- lk[sample.int(length(lk), 1L)]
      art[i] <- 4L
      class8[i] <- class10_to_8[frame$landkreise$class10[j]]
      frame$landkreise <- frame$landkreise[-j, ]
    } else {
      c10 <- sample.int(10L, 1L, prob = frame$ka[l, ] * tilt)
      frame$ka[l, c10] <- frame$ka[l, c10] - 1L
      art[i] <- if (stats::runif(1) < p_stadt[c10]) 2L else 1L
      class8[i] <- class10_to_8[c10]
    }
  }
  list(frame = frame, units = data.frame(land = land, art = art, class8 = class8,
                                         stringsAsFactors = FALSE))
}

# ---- exact-count helpers --------------------------------------------------------

# Categories in the order of a latent score: the highest counts[1] scores get
# names(counts)[1], and so on.
assign_ranked <- function(score, counts) {
  stopifnot(sum(counts) == length(score))
  out <- character(length(score))
  out[order(score, decreasing = TRUE)] <- rep(names(counts), counts)
  out
}

# A respondents x items logical matrix with exactly counts[j] mentions of item
# j and at least one mention per respondent, starting from init.
fill_mr <- function(n, counts, init = NULL) {
  k <- length(counts)
  m <- if (is.null(init)) matrix(FALSE, n, k) else init
  if (n == 0L) return(m)
  counts <- pmin(counts, n)
  cap <- counts - colSums(m)
  stopifnot(all(cap >= 0))
  empty <- which(rowSums(m) == 0)
  # (only the drawn counts of the extra rows can fall short; the exact counts
  # of the final rows never do, and check_findings() would notice)
  short <- length(empty) - sum(cap)
  if (short > 0L) {
    j <- which.max(n - colSums(m))
    cap[j] <- cap[j] + short
  }
  for (i in empty[sample.int(length(empty))]) {
    j <- sample.int(k, 1L, prob = cap)
    m[i, j] <- TRUE
    cap[j] <- cap[j] - 1L
  }
  for (j in seq_len(k)) {
    if (cap[j] == 0L) next
    cand <- which(!m[, j])
    m[cand[sample.int(length(cand), cap[j])], j] <- TRUE
  }
  m
}

pick <- function(x, n) x[sample.int(length(x), n)]

# ---- the published findings as counts of the cleaned completes -------------------

n_final <- 206L
plan <- list(
  ki = c("1" = 87L, "2" = 104L, "9" = 15L),                        # F1: 87/206 = 42.2 %
  bereich_heute = c(buergerdienste = 47L, verwaltung = 29L, kommunikation = 33L,
                    finanzen = 9L, bauen_umwelt = 12L, soziales = 10L, ordnung = 7L,
                    verkehr = 6L, bildung_kultur = 5L, gremien = 21L),   # F2, of 87 users
  werkzeug = c(llm = 64L, chatbot = 38L, it_sicherheit = 27L, uebersetzung = 19L,
               transkription = 16L, dokumente = 14L, wissen = 10L, bild = 7L,
               prognose = 6L, programmierung = 5L, sonstiges = 6L),        # F4, of 87 users
  inhaltlich = 150L,                                                  # F3: 150/206 = 72.8 %
  bereich_zukunft = c(buergerdienste = 171L, verwaltung = 149L, kommunikation = 128L,
                      finanzen = 104L, bauen_umwelt = 121L, soziales = 113L,
                      ordnung = 96L, verkehr = 88L, bildung_kultur = 79L,
                      gremien = 117L),                                   # F5, of 206
  hindernis = c(personal = 143L, beispiele = 121L, technik = 108L, daten = 94L,
                finanzen = 73L, recht = 58L, akzeptanz = 41L, sonstiges = 12L),  # F6
  fortbildung_heute = c("1" = 29L, "2" = 177L),                       # F7: 14.1 %
  fortbildung_geplant = c("1" = 78L, "2" = 83L, "9" = 45L),           # F7: 78/206 = 37.9 %
  regeln = c("1" = 13L, "2" = 16L, "3" = 37L, "4" = 128L, "9" = 12L), # F8
  smart_city = c("1" = 7L, "2" = 24L, "3" = 78L, "4" = 31L, "5" = 66L) # F9
)
nonanswers <- c(rep("", 30L), rep("-", 8L), rep("k.A.", 6L), "k. A.", rep("nein", 5L),
                rep("keine", 4L), "weiß nicht", "./.")
stopifnot(length(nonanswers) == n_final - plan$inhaltlich)            # 56 = 206 - 150

# Answers of n respondents (units). exact = TRUE: the counts of `plan`
# exactly (needs n == n_final); else counts drawn around the same shares.
synth_answers <- function(u, exact) {
  n <- nrow(u)
  if (exact) stopifnot(n == n_final)
  cat_counts <- function(counts) {
    if (exact) return(counts)
    stats::setNames(as.integer(stats::rmultinom(1L, n, counts / sum(counts))), names(counts))
  }
  mr_counts <- function(counts, base, nb) {
    if (exact) return(counts)
    stats::setNames(stats::rbinom(length(counts), nb, pmin(1, counts / base)), names(counts))
  }
  # A multiple-choice question asked of the rows `asked` (NA elsewhere):
  # counts of mentions out of `base` finals; init: mentions already given
  # (kept, so each item has at least as many).
  mr_answers <- function(counts, base, asked = seq_len(n), init = NULL) {
    k <- mr_counts(counts, base, length(asked))
    if (!is.null(init)) k <- pmax(k, colSums(init))
    m <- matrix(NA, n, length(counts))
    m[asked, ] <- fill_mr(length(asked), k, init)
    m
  }
  size <- u$class8 + (u$art == 4L)
  a <- list()

  # B1: AI tools in use; larger authorities more often; "weiß nicht" at random
  ki_n <- cat_counts(plan$ki)
  ki <- character(n)
  dk <- pick(seq_len(n), ki_n[["9"]])
  ki[dk] <- "9"
  rest <- setdiff(seq_len(n), dk)
  ki[rest] <- assign_ranked(0.25 * size[rest] + stats::rnorm(length(rest)), ki_n[c("1", "2")])
  a$ki <- ki
  users <- which(ki == "1")

  # B2, B3: only asked of users
  a$bereich_heute <- mr_answers(plan$bereich_heute, plan$ki[["1"]], users)
  a$werkzeug <- mr_answers(plan$werkzeug, plan$ki[["1"]], users)

  # C1: substantive free text more often among users and larger authorities
  n_inh <- if (exact) plan$inhaltlich else stats::rbinom(1L, n, plan$inhaltlich / n_final)
  inh <- assign_ranked(1.0 * (ki == "1") + 0.2 * size + stats::rnorm(n),
                       c(y = n_inh, n = n - n_inh)) == "y"
  a$inhaltlich <- inh
  a$c1 <- character(n)
  a$c1[inh] <- synth_c1(sum(inh))
  a$c1[!inh] <- if (exact) pick(nonanswers, length(nonanswers)) else
    nonanswers[sample.int(length(nonanswers), sum(!inh), replace = TRUE)]

  # C2: asked of all; users keep the areas they use today
  init <- matrix(FALSE, n, length(areas))
  init[users, ] <- a$bereich_heute[users, , drop = FALSE]
  a$bereich_zukunft <- mr_answers(plan$bereich_zukunft, n_final, init = init)

  # D1: obstacles, asked of all
  a$hindernis <- mr_answers(plan$hindernis, n_final)

  # E1-E3, F1
  e1 <- assign_ranked(1.3 * (ki == "1") + 0.2 * size + stats::rnorm(n),
                      cat_counts(plan$fortbildung_heute))
  a$e1 <- e1
  e2_n <- cat_counts(plan$fortbildung_geplant)
  e2 <- character(n)
  dk <- pick(which(e1 != "1"), min(e2_n[["9"]], sum(e1 != "1")))
  e2[dk] <- "9"
  rest <- setdiff(seq_len(n), dk)
  e2_n[["2"]] <- length(rest) - e2_n[["1"]]
  e2[rest] <- assign_ranked(2 * (e1[rest] == "1") + 0.8 * (ki[rest] == "1") +
                              0.1 * size[rest] + stats::rnorm(length(rest)), e2_n[c("1", "2")])
  a$e2 <- e2
  e3_n <- cat_counts(plan$regeln)
  e3 <- character(n)
  dk <- pick(seq_len(n), e3_n[["9"]])
  e3[dk] <- "9"
  rest <- setdiff(seq_len(n), dk)
  e3[rest] <- assign_ranked(1.2 * (ki[rest] == "1") + 0.6 * (e1[rest] == "1") +
                              0.1 * size[rest] + stats::rnorm(length(rest)),
                            e3_n[c("1", "2", "3", "4")])
  a$e3 <- e3
  a$f1 <- assign_ranked(0.25 * size + stats::rnorm(n), cat_counts(plan$smart_city))

  # other-texts and remarks
  a$b3_other <- ifelse(!is.na(a$werkzeug[, 11L]) & a$werkzeug[, 11L],
                       pick_texts(texts_b3_other, n), "")
  a$d1_other <- ifelse(a$hindernis[, 8L], pick_texts(texts_d1_other, n), "")
  a$f2 <- ifelse(stats::runif(n) < 0.16, pick_texts(texts_f2, n), "")
  a
}

pick_texts <- function(pool, n) pool[sample.int(length(pool), n, replace = TRUE)]

# ---- free texts (invented) ------------------------------------------------------

c1_items <- c(
  "Chatbot für das Bürgerbüro (Öffnungszeiten, Terminvergabe, Fragen zu Ausweisen)",
  "automatische Erstellung von Sitzungsprotokollen aus Audioaufnahmen",
  "KI-gestützte Vorsortierung des Posteingangs und Zuordnung zur E-Akte",
  "Übersetzung von Bescheiden und Merkblättern, auch in Leichte Sprache",
  "Auswertung von Stellungnahmen aus der Bürgerbeteiligung",
  "Erkennung von Straßenschäden per Kamerafahrt",
  "Baumkataster mit Bilderkennung",
  "Entwürfe für Pressemitteilungen und Social-Media-Beiträge",
  "Prüfung von Bauanträgen auf Vollständigkeit",
  "Prognose des Bedarfs an Kita-Plätzen",
  "Ampelsteuerung nach Verkehrslage",
  "Wissensdatenbank für Beschäftigte mit Suche über ein Sprachmodell",
  "Zusammenfassungen langer Vorlagen und Gutachten für Ratsmitglieder",
  "Sprachassistent für die Telefonzentrale bzw. die 115",
  "Unterstützung der Ausländerbehörde bei Terminen und beim Dolmetschen",
  "Rechnungseingang: Rechnungen automatisch auslesen und vorkontieren",
  "Tourenplanung für Müllabfuhr und Winterdienst",
  "Energiemonitoring in kommunalen Gebäuden",
  "Frühwarnung bei Starkregen mit Pegel- und Sensordaten",
  "Schwärzen personenbezogener Daten vor der Veröffentlichung von Dokumenten",
  "Bewerbermanagement und Formulierung von Stellenausschreibungen",
  "Programmierhilfe für die IT-Abteilung",
  "Auswertung von Verkehrszählungen",
  "Antwortentwürfe auf Bürgeranfragen",
  "Parkraummanagement und Parkleitsystem",
  "Mängelmelder mit automatischer Zuordnung der Fotos",
  "Unterstützung der Sachbearbeitung beim Wohngeld",
  "Plausibilitätsprüfung von Anträgen im Sozialbereich",
  "digitaler Zwilling für die Stadtplanung",
  "Auswertung von Luftbildern (Versiegelung, Solarpotenzial)",
  "Diktierfunktion mit Spracherkennung in der Sachbearbeitung",
  "Vorbereitung von Vergabeunterlagen",
  "automatische Antworten auf Standardanfragen per E-Mail",
  "Einsatzplanung bei Feuerwehr und Rettungsdienst",
  "Formulierungshilfe für Ratsvorlagen",
  "Lernplattformen an unseren Schulen (als Schulträger)",
  "Erkennung von Phishing-Mails",
  "Recherche in Satzungen und Rechtsvorschriften",
  "Fördermittelrecherche",
  "Dienstplanung im Bauhof",
  "Auswertung des Haushalts und Szenarien für die Finanzplanung",
  "Barrierefreiheit der Website prüfen",
  "Bildgenerierung für Flyer und Plakate",
  "Friedhofsverwaltung (Grabstellenplanung)",
  "Leerstandsmanagement in der Innenstadt"
)

c1_prefix <- c("", "", "", "Wir prüfen derzeit: ", "Diskutiert werden u. a. ",
               "Im Gespräch mit unserem IT-Dienstleister: ", "Geplant ist ein Pilot: ",
               "Interesse besteht an: ", "Bei uns in Erprobung: ", "Denkbar: ",
               "Über den Zweckverband angeboten: ", "Ideen aus den Fachämtern: ")

c1_suffix <- c("", "", "", "", ".", ".", " - Pilot läuft seit dem Frühjahr.",
               ". Datenschutzfragen sind noch offen.",
               ". Wir würden gern von den Erfahrungen anderer Kommunen lernen.",
               " (gemeinsam mit Nachbarkommunen).",
               ". Kosten noch unklar, ein Angebot über ca. 12.000 € liegt vor.",
               ". Der Personalrat ist eingebunden.", ". Entscheidung im Herbst.",
               "; dafür bräuchten wir aber mehr Personal.",
               ". Das Land sollte hier „Basisdienste“ bereitstellen.")

c1_whole <- c(
  "Wir haben eine Arbeitsgruppe \"KI\" gegründet, die bis Jahresende Vorschläge machen soll.",
  "Vieles wird über unseren kommunalen IT-Dienstleister laufen; dort gibt es erste Angebote (Chatbot, Übersetzung).",
  "Testbetrieb eines Chatbots auf der Website seit Mai, bisher gute Erfahrungen.",
  "Einzelne Kolleginnen und Kollegen nutzen ChatGPT privat für Texte - offiziell ist das noch nicht geregelt.",
  "Ratsinformationssystem mit KI-Suche, Protokolle automatisch zusammenfassen.\nAußerdem: Übersetzungen im Bürgerbüro.",
  "Als kleine Gemeinde fehlen uns die Kapazitäten, aber Ideen gibt es:\n- Terminvergabe\n- Posteingang\n- Übersetzungen",
  "Ausschreibung eines KI-Assistenten gemeinsam mit dem Kreis ist in Vorbereitung.",
  "Copilot-Lizenzen werden in zwei Ämtern getestet.",
  "Wir beobachten die Entwicklung und warten auf Lösungen, die das Land zentral anbietet.",
  "Spracherkennung im Standesamt und im Bürgerbüro; Texte in einfacher Sprache."
)

synth_c1 <- function(n) {
  out <- character(0)
  while (length(out) < n) {
    if (stats::runif(1) < 0.12) {
      s <- c1_whole[sample.int(length(c1_whole), 1L)]
    } else {
      k <- sample.int(3L, 1L, prob = c(0.45, 0.35, 0.2))
      it <- c1_items[sample.int(length(c1_items), k)]
      style <- sample.int(3L, 1L, prob = c(0.6, 0.25, 0.15))
      pre <- c1_prefix[sample.int(length(c1_prefix), 1L)]
      if (style == 3L && k >= 2L) {
        # a list, one item per line
        pre <- trimws(pre)
        if (nzchar(pre) && !endsWith(pre, ":")) pre <- paste0(pre, ":")
        s <- paste0(if (nzchar(pre)) paste0(pre, "\n"), paste0("- ", it, collapse = "\n"))
      } else {
        sep <- if (style == 2L) "; " else if (k == 2L) " und " else ", "
        s <- paste0(pre, paste(it, collapse = sep),
                    c1_suffix[sample.int(length(c1_suffix), 1L)])
      }
      s <- paste0(toupper(substr(s, 1L, 1L)), substr(s, 2L, nchar(s)))
      if (stats::runif(1) < 0.07) s <- tolower(s)
    }
    if (!s %in% out) out <- c(out, s)
  }
  out
}

texts_b3_other <- c(
  "KI-Modul in der Fachsoftware des Einwohnermeldeamts",
  "Bildgenerierung für Flyer",
  "Microsoft Copilot (Testlizenzen)",
  "Texterkennung (OCR) beim Scannen",
  "Fördermittel-Assistent",
  "Prüfung der Barrierefreiheit der Website",
  "Routenplanung Winterdienst"
)

texts_d1_other <- c(
  "Bedenken des Personalrats",
  "fehlende Rückendeckung der Verwaltungsspitze",
  "Abhängigkeit von großen US-Anbietern",
  "unklare Haftungsfragen",
  "Verwaltung zu klein, um sich damit zu befassen",
  "Fachverfahren der Hersteller sind nicht offen",
  "Wir warten auf Lösungen des Landes",
  "Breitbandanbindung der Außenstellen",
  "Zuständigkeit im Haus ungeklärt",
  "Vorbehalte in den Fachämtern"
)

texts_f2 <- c(
  "Wir würden uns einen Austausch mit anderen Kommunen wünschen.",
  "Bitte mehr Praxisbeispiele veröffentlichen!",
  "Die Umfrage kam in der Urlaubszeit etwas ungünstig.",
  "Danke für die Initiative!",
  "Gerne Kontakt zu Kommunen, die schon einen Chatbot betreiben.",
  "Für einen Kreis waren einige Fragen schwer zu beantworten, weil die Gemeinden eigene Wege gehen.",
  "Ein gemeinsamer Rahmen von Bund und Ländern wäre hilfreich.",
  "KI darf nicht zu Personalabbau führen; die Mitbestimmung ist wichtig.",
  "Wir stehen ganz am Anfang.",
  "-",
  "Ergebnisse bitte an die Teilnehmenden schicken."
)

# ---- timestamps -------------------------------------------------------------------

field_start <- as.POSIXct("2024-07-08 00:00:00", tz = "UTC")
field_end <- as.POSIXct("2024-10-18 23:59:59", tz = "UTC")

# Start times: invitation on 8 July, reminders on 2 September and 7 October;
# mostly working days and office hours. (Computed in UTC, written as the
# survey tool's local time.)
synth_starts <- function(n) {
  wave <- sample.int(3L, n, replace = TRUE, prob = c(0.55, 0.3, 0.15))
  w0 <- as.Date(c("2024-07-08", "2024-09-02", "2024-10-07"))[wave]
  day <- w0 + floor(stats::rexp(n, 1 / c(7, 5, 3)[wave]))
  wd <- as.POSIXlt(day)$wday
  move <- (wd == 6L | wd == 0L) & stats::runif(n) < 0.8
  day[move] <- day[move] + ifelse(wd[move] == 6L, 2, 1)
  day <- pmin(day, as.Date("2024-10-18"))
  hour <- ifelse(stats::runif(n) < 0.82, stats::runif(n, 7.5, 16.5), stats::runif(n, 17, 22.5))
  as.POSIXct(format(day), tz = "UTC") + round(hour * 3600)
}

fmt_time <- function(x) ifelse(is.na(x), "", format(x, "%Y-%m-%d %H:%M:%S", tz = "UTC"))

# ---- assembling the export -----------------------------------------------------------

synth_responses <- function(frame, cb) {
  land_n <- c(NW = 46L, NI = 38L, HE = 21L, RP = 17L, BY = 16L, BW = 13L, SH = 12L,
              BB = 11L, SL = 7L, MV = 6L, ST = 5L, SN = 5L, TH = 5L, HB = 2L, HH = 1L, BE = 1L)
  stopifnot(sum(land_n) == n_final)
  d <- draw_units(frame, pick(rep(names(land_n), land_n), n_final))
  frame <- d$frame
  fin <- d$units
  fin$kind <- "final"
  ans_fin <- synth_answers(fin, exact = TRUE)

  # extra rows, all dropped by kik_read(): breakoffs of other municipalities,
  # restarts of final ones, one earlier complete of a final municipality, tests
  n_break <- 35L
  land_x <- land_n[!names(land_n) %in% c("HH", "BE", "HB")]
  e <- draw_units(frame, sample(names(land_x), n_break, replace = TRUE, prob = land_x))
  brk <- e$units
  brk$kind <- "breakoff"
  ans_brk <- synth_answers(brk, exact = FALSE)
  tst <- draw_units(e$frame, c("NW", "NI", "HE"))$units
  tst$kind <- "test"
  ans_tst <- synth_answers(tst, exact = FALSE)

  ids <- sprintf("K%04d", sample(101:2999, n_final + n_break))
  fin$kommune <- ids[seq_len(n_final)]
  brk$kommune <- ids[n_final + seq_len(n_break)]
  tst$kommune <- c("test", "K0000", "Test SGK")
  fin$start <- synth_starts(n_final)
  brk$start <- synth_starts(n_break)
  tst$start <- as.POSIXct(c("2024-07-04 14:10:07", "2024-07-05 09:31:52", "2024-07-22 16:45:30"),
                          tz = "UTC")

  # one municipality answered twice: an earlier complete three weeks before
  late <- which(fin$start > as.POSIXct("2024-09-02", tz = "UTC"))
  dup_of <- late[sample.int(length(late), 1L)]
  dup <- fin[dup_of, ]
  dup$kind <- "duplicate"
  dup$start <- dup$start - 21 * 86400 - 3217
  ans_dup <- synth_answers(dup, exact = FALSE)
  dup$kommune <- paste0(" ", tolower(substr(dup$kommune, 1, 1)), " ", substr(dup$kommune, 2, 5))
  # restarts: three final municipalities broke off once before completing
  early_ok <- which(fin$start > field_start + 5 * 86400 & seq_len(n_final) != dup_of)
  rs_of <- early_ok[sample.int(length(early_ok), 3L)]
  rs <- fin[rs_of, ]
  rs$kind <- "breakoff"
  rs$start <- rs$start - c(2, 4, 1) * 86400 - c(5400, 700, 12000)
  ans_rs <- synth_answers(rs, exact = FALSE)
  # a few identifiers typed in lower case or with blanks; kik_read() unifies them
  messy <- pick(setdiff(seq_len(n_final), dup_of), 4L)
  fin$kommune[messy] <- c(tolower(fin$kommune[messy[1:2]]),
                          paste0(substr(fin$kommune[messy[3:4]], 1, 1), " ",
                                 substr(fin$kommune[messy[3:4]], 2, 5)))

  # test entries: free texts of testers
  ans_tst$c1 <- c("test test", "Filter nach B1 prüfen", "Test")

  blocks <- list(list(fin, ans_fin), list(brk, ans_brk), list(rs, ans_rs),
                 list(dup, ans_dup), list(tst, ans_tst))
  rows <- do.call(rbind, lapply(blocks, function(b) export_rows(b[[1]], b[[2]])))

  # how far breakoffs got: lastpage 0 (never left page 1) .. 5
  brk_rows <- which(rows$kind == "breakoff")
  lp <- c(rep(0L, 9L), rep(1L, 10L), rep(2L, 8L), rep(3L, 6L), rep(4L, 3L), rep(5L, 2L))
  lp <- pick(lp, length(lp))
  stopifnot(length(lp) == length(brk_rows))
  # restarts got past page 1 (they gave their identifier)
  is_rs <- rows$kommune_key[brk_rows] %in% rs$kommune
  pos <- which(lp >= 1L)[seq_len(sum(is_rs))]
  lp_new <- integer(length(lp))
  lp_new[is_rs] <- lp[pos]
  lp_new[!is_rs] <- lp[-pos]
  rows$lastpage[brk_rows] <- lp_new

  # timings: completes 4-40 minutes of active time, some resumed a day later
  n <- nrow(rows)
  comp <- rows$kind != "breakoff"
  it <- pmin(pmax(stats::rlnorm(n, log(660), 0.45), 170), 2400)
  frac <- (rows$lastpage + 0.4) / 6.4
  it[!comp] <- it[!comp] * frac[!comp] * stats::runif(sum(!comp), 0.6, 1.1)
  it <- round(it, 2)
  resume <- comp & stats::runif(n) < 0.08
  extra <- ifelse(resume, round(stats::runif(n, 0.5, 3) * 86400), 0)
  last <- rows$start + it + extra
  over <- last > field_end
  last[over] <- rows$start[over] + it[over]
  rows$interviewtime <- sprintf("%.2f", it)
  rows$datestamp <- fmt_time(last)
  rows$submitdate <- ifelse(comp, fmt_time(last), "")

  # blank what a breakoff never reached
  page <- as.integer(cb$page[match(names(rows), cb$column)])
  for (i in which(!comp)) {
    later <- which(!is.na(page) & page > rows$lastpage[i])
    rows[i, later] <- ""
  }
  rows$lastpage <- ifelse(!comp & rows$lastpage == 0L, "", as.character(rows$lastpage))

  # the survey tool numbers responses as they start
  rows <- rows[order(rows$start), ]
  rows$id <- as.character(seq_len(n))
  rows$startdate <- fmt_time(rows$start)
  rows$startlanguage <- "de"

  check_findings(rows, cb)
  cols <- unique(cb$column[!cb$type %in% c("note", "field")])
  out <- rows[cols]
  rownames(out) <- NULL
  out
}

# One export row per unit: codes as the survey tool writes them.
export_rows <- function(u, a) {
  n <- nrow(u)
  yn <- function(m) ifelse(is.na(m), "", ifelse(m, "Y", ""))
  df <- data.frame(kind = u$kind, start = u$start, kommune_key = trimws(u$kommune),
                   lastpage = if (all(u$kind == "breakoff")) NA_integer_ else 6L,
                   A0 = u$kommune, A1 = as.character(u$art), A2 = u$land,
                   A3 = as.character(u$class8), B1 = a$ki, stringsAsFactors = FALSE)
  add_block <- function(df, prefix, m) {
    for (j in seq_len(ncol(m))) df[[sprintf("%s_SQ%03d", prefix, j)]] <- yn(m[, j])
    df
  }
  df <- add_block(df, "B2", a$bereich_heute)
  df <- add_block(df, "B3", a$werkzeug[, 1:10, drop = FALSE])
  df$B3_other <- a$b3_other
  df$C1 <- a$c1
  df <- add_block(df, "C2", a$bereich_zukunft)
  df <- add_block(df, "D1", a$hindernis[, 1:7, drop = FALSE])
  df$D1_other <- a$d1_other
  df$E1 <- a$e1
  df$E2 <- a$e2
  df$E3 <- a$e3
  df$F1 <- a$f1
  df$F2 <- a$f2
  df
}

# The published findings hold in the cleaned completes (checked on the raw
# codes here; the package's tests check them again through kik_read()).
check_findings <- function(rows, cb) {
  f <- rows[rows$kind == "final", ]
  n <- nrow(f)
  pct <- function(x) round(100 * mean(x))
  y <- function(prefix, k) sapply(sprintf("%s_SQ%03d", prefix, seq_len(k)), function(v) sum(f[[v]] == "Y"))
  h <- c(y("D1", 7), sonstiges = sum(f$D1_other != ""))
  b3 <- c(y("B3", 10), sonstiges = sum(f$B3_other != ""))
  stopifnot(
    n == n_final,
    pct(f$B1 == "1") == 42,                                        # F1
    which.max(y("B2", 10)) == 1,                                   # F2
    pct(!grepl("^\\s*$|^(-|k\\. ?a\\.|nein|keine|weiß nicht|\\./\\.)$", tolower(f$C1))) == 73,  # F3
    all(b3[1] > b3[-1]), all(b3[2] > b3[-(1:2)]), all(b3[3] > b3[-(1:3)]),  # F4
    all(y("C2", 10) > y("B2", 10)),                                # F5
    all(diff(h[1:5]) < 0), all(h[5] > h[6:8]),                     # F6
    mean(f$E1 == "1") < 0.2, pct(f$E2 == "1") == 38,               # F7
    mean(f$E3 == "1") < 0.15,                                      # F8
    mean(f$F1 == "1") <= 0.05, which.max(table(f$F1)) == 3         # F9
  )
  invisible(TRUE)
}

# ---- writing ----------------------------------------------------------------------------

# ';'-separated UTF-8, fields quoted only where they must be (';', '"' or a
# line break inside), "\n" line ends, as the survey tool writes them.
write_semicolon <- function(df, file) {
  field <- function(x) {
    x <- enc2utf8(as.character(x))
    need <- grepl("[;\"\n\r]", x)
    x[need] <- paste0("\"", gsub("\"", "\"\"", x[need], fixed = TRUE), "\"")
    x
  }
  body <- do.call(paste, c(lapply(df, field), sep = ";"))
  lines <- c(paste(field(names(df)), collapse = ";"), body)
  con <- file(file, "wb")
  on.exit(close(con))
  writeBin(charToRaw(enc2utf8(paste0(paste(lines, collapse = "\n"), "\n"))), con)
}

if (sys.nframe() == 0L) {
  args <- commandArgs(trailingOnly = TRUE)
  out <- if (length(args)) args[1L] else file.path("inst", "extdata")
  files <- kik_synth(out_dir = out, frame_dir = "data-raw")
  cat("wrote", files, sep = "\n  ")
}
