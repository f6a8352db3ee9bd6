# KI in Kommunen: vom Rohexport zu den Tabellen (synthetische Daten).
#
# Diese Datei ist der Rechenweg beider Vignetten: Der Bericht
# (kik-kommunen.Rmd) führt ihre Abschnitte verdeckt aus, die Analyse-Vignette
# (kik-analyse.Rmd) zeigt sie Schritt für Schritt. Beide lesen sie mit
# knitr::read_chunk(); jeder Abschnitt beginnt mit einer Zeile "## ---- name".

## ---- sprache
# Eine Stelle entscheidet, wie Zahlen und Wörter aussehen: Deutsch, Prozente
# und Intervallgrenzen ohne Nachkommastelle, in Tabellen, Grafiken und Text.
options(umfrage.locale = tab_locale("de", digits = c(pct = 0, ci = 0)))

## ---- einlesen
kik <- kik_read(quiet = TRUE)
protokoll <- attr(kik, "cleaning")
sets <- attr(kik, "mr_sets")
cb <- kik_codebook()
feldzeit <- as.Date(c(cb$code[cb$type == "field"], cb$label[cb$type == "field"]))

## ---- veroeffentlicht
# Die veröffentlichten Befunde der Bundes-SGK (2024), wörtlich, mit den drei
# veröffentlichten Prozentzahlen; gegen sie wird gerechnet.
veroeffentlicht <- data.frame(
  befund = paste0("F", 1:9),
  thema = c("KI-Nutzung", "Einsatzbereiche heute", "Weitere Anwendungen",
            "Genutzte Werkzeuge", "Bereiche in Zukunft", "Hindernisse",
            "Fortbildungen", "Vorgaben und Leitlinien", "Smart-City-/Region-Strategie"),
  aussage = c(
    "In vielen Kommunen (42 Prozent), sind KI-Tools in den Verwaltungen angekommen. Zum Teil – so wird vermutet - bleibt die Nutzung (beispielsweise bei der Verwendung von LLMs) möglicher Weise inoffiziell.",
    "Insbesondere bei den Bürgerdiensten spielt KI eine Rolle.",
    "Interessant aber auch, dass 73 Prozent der Befragten detaillierter über weitere Anwendungen oder Optionen berichten konnten.",
    "Bei den angewendeten KI-Tools hatten LLMs und Chatbots die Nase vorn, aber auch im Bereich IT-Sicherheit spielen sie eine Rolle. Insgesamt findet die Anwendung in überraschender Breite statt.",
    "Für die Zukunft stellen sich die Befragten noch mehr Bereiche vor, in denen KI wichtig werden könnte. Ihr Einsatz ist (fast) überall denkbar.",
    "Hindernisse bzw. die Voraussetzungen für die Verwendung von KI-Tools sind personelle und zeitliche Kapazitäten, konkrete Anwendungsbeispiele als Vorbild, technische Voraussetzungen und ein strategisches Datenmanagement. Erst dann folgen die finanziellen Möglichkeiten.",
    "Fortbildungen zum Umgang mit KI gibt es gegenwärtig nur wenige, 38 Prozent der Antwortenden will aber in Zukunft Angebote machen.",
    "Bisher gibt es kaum Vorgaben oder konkrete Leitlinien zur Nutzung von KI.",
    "Eine sogenannte Smart-City/ Region-Strategie verfolgen nur einzelne Kommunen. Viele haben sich aber mit der Idee befasst. Einige planen dazu, anderer lehnen dieses zugunsten einer Konzentration auf beispielsweise die Verwaltungsdigitalisierung ab."),
  prozent = c(42, NA, 73, NA, NA, NA, 38, NA, NA),
  kern = c("42 Prozent nutzen KI-Tools, zum Teil wohl inoffiziell",
           "vor allem bei den Bürgerdiensten",
           "73 Prozent konnten über weitere Anwendungen berichten",
           "LLMs und Chatbots vorn, auch IT-Sicherheit; überraschend breit",
           "für die Zukunft noch mehr Bereiche; (fast) überall denkbar",
           "Personal und Zeit, Anwendungsbeispiele, Technik, Datenmanagement; erst dann Finanzen",
           "nur wenige Fortbildungen; 38 Prozent planen Angebote",
           "kaum Vorgaben oder Leitlinien",
           "nur einzelne verfolgen eine Strategie; viele befasst, einige planen, andere lehnen ab"))
# Wann gelten die qualitativen Aussagen als erfüllt? (eigene Festlegung)
schwelle_wenige <- 20      # "nur wenige", "kaum": unter 20 Prozent
schwelle_einzelne <- 5     # "nur einzelne": höchstens 5 Prozent, aber mindestens eine Kommune
# Vergleichszahlen aus anderen Quellen
zukunftsradar <- list(quelle = "DStGB und iit, Zukunftsradar Digitale Kommune 2023",
                      nutzen_ki = 8, teilnehmer = 900, feldzeit = "Juni bis August 2023")
landraete_spd <- c(jahr = 2020, spd = 62, alle = 294)

## ---- sortieren
# Mehrfachnennungen nach Häufigkeit sortiert (häufigste zuerst), damit Tabellen
# und Grafiken Rangfolgen zeigen: tab(sort = "desc") ordnet die Zeilen nach der
# Gesamtspalte, "Sonstiges" bleibt als Restkategorie am Ende (sort_keep).
rangfolge <- function(daten, zeilen, ...) {
  rest <- intersect("Sonstiges", zeilen$items)
  tab(daten, zeilen, sort = "desc", sort_keep = if (length(rest)) rest, ...)
}

## ---- befunde
# F1, F3, F8, F9: Einfachauswahl; F2, F4, F6: Mehrfachnennungen
t_f1 <- tab(kik, "ki_nutzung")
t_f2 <- rangfolge(kik, sets$bereich_heute)
kik$anwendungen <- factor(kik$weitere_anwendungen_inhaltlich, c(TRUE, FALSE),
                          c("inhaltliche Antwort", "leer oder keine Angabe"))
t_f3 <- tab(kik, "anwendungen")
t_f4 <- rangfolge(kik, sets$werkzeug)
# F4: wie viele Werkzeugarten nennt eine KI nutzende Kommune? Ein Mittelwert
# mit Konfidenzintervall (wer keine KI nutzt, hat keinen Wert und zählt nicht)
kik$werkzeuge_anzahl <- ifelse(kik$ki_nutzung == "ja",
                               rowSums(kik[sets$werkzeug$cols] == TRUE), NA)
attr(kik$werkzeuge_anzahl, "label") <- "Genannte Werkzeugarten je KI nutzender Kommune"
t_f4_anzahl <- tab(kik, mean_of("werkzeuge_anzahl"))
t_f6 <- rangfolge(kik, sets$hindernis)
# F8 und F9: Netto-Kategorien fassen Antworten zusammen, die eine Aussage
# zusammen meint ("Vorgaben" = verbindlich oder unverbindlich; "befasst" =
# alle, die sich mit einer Strategie beschäftigt haben); sie stehen oben.
vorgaben <- "Vorgaben (verbindlich oder unverbindlich, zusammen)"
befasst <- "mit der Idee befasst (zusammen)"
t_f8 <- tab(kik, do.call(nets, c(list("regeln"), stats::setNames(list(levels(kik$regeln)[1:2]), vorgaben))))
t_f9 <- tab(kik, do.call(nets, c(list("smart_city"),
                                 stats::setNames(list(setdiff(levels(kik$smart_city), "nicht befasst")),
                                                 befasst))))
# F5: heute wurde nur gefragt, wer KI nutzt; für den Vergleich zählt, wer
# keine KI nutzt, als "heute kein Bereich", so beziehen sich beide auf alle.
heute <- kik[sets$bereich_heute$cols]
heute[is.na(heute)] <- FALSE
zukunft <- kik[sets$bereich_zukunft$cols]
names(zukunft) <- names(heute)
f5 <- data.frame(zeitpunkt = factor(rep(c("heute", "in Zukunft"), each = nrow(kik)),
                                    c("heute", "in Zukunft")),
                 rbind(heute, zukunft))
o5 <- order(-colSums(zukunft))
s_f5 <- mr_set(f5, names(heute)[o5], labels = sets$bereich_heute$items[o5],
               label = "KI-Bereiche heute und in Zukunft", base = "all")
attr(f5$zeitpunkt, "label") <- "Zeitpunkt"
# für die Tabelle: je Zeitpunkt eine Schicht (Basis je 206 Kommunen)
t_f5 <- tab(f5, s_f5, by = "zeitpunkt")
# für die Grafik gedreht: je Bereich ein Balken heute und einer in Zukunft
# (Zeilenprozente: Anteil aller Kommunen, die den Bereich nennen)
t_f5_abb <- tab(f5, "zeitpunkt", cols = s_f5, percent = "row", letters = FALSE, test = FALSE)
# F7: zwei Fragen, als eine Antwortvariable je Frage gestapelt (eine
# Zeile je Kommune und Frage), damit jede Frage ein Balken wird.
f7 <- data.frame(
  frage = factor(rep(c("Fortbildungen heute", "Fortbildungen geplant"), each = nrow(kik)),
                 c("Fortbildungen heute", "Fortbildungen geplant")),
  antwort = factor(c(as.character(kik$fortbildung_heute), as.character(kik$fortbildung_geplant)),
                   c("ja", "nein", "weiß nicht")))
t_f7 <- tab(f7, "antwort", cols = "frage", letters = FALSE, test = FALSE)

## ---- pruefen
# Eine Zelle eines Ergebnisses: Zeile `row` der Gesamtspalte (oder von `col`).
zelle <- function(t, row, var = NULL, col = "Total") {
  d <- as.data.frame(t, stringsAsFactors = FALSE)
  d <- d[d$row == row & (d$col_var == col | d$col == col), , drop = FALSE]
  if (!is.null(var)) d <- d[d$row_var == var, , drop = FALSE]
  d[1, ]
}
gesamt <- function(t) {
  d <- as.data.frame(t, stringsAsFactors = FALSE)
  d[d$col_var == "Total", , drop = FALSE]
}
f1 <- zelle(t_f1, "ja")
ok_f1 <- round(f1$pct) == veroeffentlicht$prozent[1]
d_f2 <- gesamt(t_f2)
ok_f2 <- grepl("^Bürgerdienste", d_f2$row[1])
f3 <- zelle(t_f3, "inhaltliche Antwort")
ok_f3 <- round(f3$pct) == veroeffentlicht$prozent[3]
d_f4 <- gesamt(t_f4)
ok_f4 <- grepl("^Textgeneratoren", d_f4$row[1]) && grepl("^Chatbots", d_f4$row[2]) &&
  any(grepl("^IT-Sicherheit", d_f4$row[1:3])) && all(d_f4$n > 0)
werkzeuge_je_kommune <- zelle(t_f4_anzahl, "mean")
d_f5 <- as.data.frame(t_f5, stringsAsFactors = FALSE)
h5 <- d_f5[d_f5$zeitpunkt == "heute", ]
z5 <- d_f5[d_f5$zeitpunkt == "in Zukunft", ]
mehr_f5 <- sum(z5$pct > h5$pct)
ok_f5 <- mehr_f5 == nrow(z5)
d_f6 <- gesamt(t_f6)
erwartet_f6 <- c("^Personelle", "^Konkrete Anwendungsbeispiele", "^Technische",
                 "^Strategisches Datenmanagement", "^Finanzielle")
ok_f6 <- all(mapply(grepl, erwartet_f6, d_f6$row[1:5]))
f7_heute <- zelle(t_f7, "ja", col = "Fortbildungen heute")
f7_geplant <- zelle(t_f7, "ja", col = "Fortbildungen geplant")
ok_f7 <- f7_heute$pct < schwelle_wenige && round(f7_geplant$pct) == veroeffentlicht$prozent[7]
d_f8 <- gesamt(t_f8)
f8_vorgaben <- zelle(t_f8, vorgaben)
geregelt <- f8_vorgaben$pct
keine_f8 <- zelle(t_f8, "keine Vorgaben")
stufen_f8 <- d_f8[!d_f8$net, ]
ok_f8 <- geregelt < schwelle_wenige && stufen_f8$row[which.max(stufen_f8$pct)] == "keine Vorgaben"
d_f9 <- gesamt(t_f9)
f9_befasst <- zelle(t_f9, befasst)
stufen_f9 <- d_f9[!d_f9$net, ]
p9 <- stats::setNames(stufen_f9$pct, stufen_f9$row)
n9 <- stats::setNames(stufen_f9$n, stufen_f9$row)
verfolgen <- "ja, wir verfolgen eine Strategie"
ok_f9 <- n9[[verfolgen]] >= 1 && p9[[verfolgen]] <= schwelle_einzelne &&
  names(which.max(p9)) == "befasst, aber nicht weiter verfolgt" &&
  p9[["in Planung"]] > p9[[verfolgen]] &&
  p9[["abgelehnt zugunsten der Verwaltungsdigitalisierung"]] > p9[[verfolgen]]
ok <- c(ok_f1, ok_f2, ok_f3, ok_f4, ok_f5, ok_f6, ok_f7, ok_f8, ok_f9)

## ---- rahmen
# Der amtliche Rahmen: alle Gemeinden (je Land und Größenklasse) und alle Kreise.
kf <- kik_kreise[kik_kreise$kreisfrei, ]
lk <- kik_kreise[!kik_kreise$kreisfrei, ]
# kreisangehörige Gemeinden je Land und Größe = alle Gemeinden - kreisfreie Städte
ka <- xtabs(n_gemeinden ~ land + groesse, kik_gemeinden) - xtabs(~ land + groesse, kf)
stopifnot(all(ka >= 0))
ka <- as.data.frame(ka, responseName = "anzahl")
ebenen <- c("kreisangehörige Gemeinde/Stadt", "kreisfreie Stadt", "Landkreis")
rahmen <- rbind(
  data.frame(ebene = ebenen[1], ka[c("land", "groesse", "anzahl")]),
  data.frame(ebene = ebenen[2], land = kf$land, groesse = kf$groesse, anzahl = 1),
  data.frame(ebene = ebenen[3], land = lk$land, groesse = lk$groesse, anzahl = 1))
rahmen$ebene <- factor(rahmen$ebene, ebenen)
# Die Umfrage unterscheidet Gemeinden und Städte, der Rahmen nicht.
kik$ebene <- factor(ifelse(kik$art %in% c("Gemeinde (kreisangehörig)", "Stadt (kreisangehörig)"),
                           ebenen[1], ifelse(kik$art == "kreisfreie Stadt", ebenen[2], ebenen[3])),
                    ebenen)
# Wie viele besetzte Rahmenzellen Land x Ebene x Größe haben keine Antwort?
rz <- xtabs(anzahl ~ land + ebene + groesse, rahmen)
sz <- xtabs(~ land + ebene + groesse, kik)
zellen_rahmen <- sum(rz > 0)
zellen_leer <- sum(rz > 0 & sz == 0)

## ---- merkmale
# Größenklassen je Ebene so zusammengefasst, dass jede Zelle Antworten hat
klassen <- list(
  "kreisangehörige Gemeinde/Stadt" = c("unter 5.000", "5.000 bis unter 10.000",
                                       "10.000 bis unter 20.000", "20.000 bis unter 50.000",
                                       rep("50.000 und mehr", 4)),
  "kreisfreie Stadt" = c(rep("unter 100.000", 5), "100.000 bis unter 200.000",
                         rep("200.000 und mehr", 2)),
  "Landkreis" = c(rep("unter 200.000", 6), rep("200.000 und mehr", 2)))
stufen <- unlist(lapply(names(klassen), function(e) paste(e, unique(klassen[[e]]), sep = ", ")))
klasse <- function(ebene, groesse) {
  k <- mapply(function(e, i) klassen[[e]][i], as.character(ebene), as.integer(groesse))
  factor(paste(ebene, k, sep = ", "), stufen)
}
gruppen <- list(
  Nord = c("Schleswig-Holstein", "Hamburg", "Niedersachsen", "Bremen"),
  West = c("Nordrhein-Westfalen", "Hessen", "Rheinland-Pfalz", "Saarland"),
  Süd  = c("Baden-Württemberg", "Bayern"),
  Ost  = c("Berlin", "Brandenburg", "Mecklenburg-Vorpommern", "Sachsen", "Sachsen-Anhalt",
           "Thüringen"))
laendergruppe <- function(land) {
  g <- rep(names(gruppen), lengths(gruppen))[match(as.character(land), unlist(gruppen))]
  factor(g, names(gruppen))
}
rahmen$klasse <- klasse(rahmen$ebene, rahmen$groesse)
rahmen$laendergruppe <- laendergruppe(rahmen$land)
kik$klasse <- klasse(kik$ebene, kik$groesse)
kik$laendergruppe <- laendergruppe(kik$land)
ziele <- list(klasse = tapply(rahmen$anzahl, rahmen$klasse, sum),
              laendergruppe = tapply(rahmen$anzahl, rahmen$laendergruppe, sum))
stopifnot(all(table(kik$klasse) > 0), all(table(kik$laendergruppe) > 0))

## ---- raking
# Startgewicht: Gebietskörperschaften der Zelle (Ebene x Größenklasse) je
# Antwort; dann Raking auf Ebene x Größenklasse und Ländergruppe.
n_zelle <- table(kik$klasse)
zelle_von <- as.character(kik$klasse)
kik$startgewicht <- as.numeric(ziele$klasse[zelle_von] / n_zelle[zelle_von])
w <- wt_rake(kik, ziele, weights = "startgewicht")
kik$w <- w
st <- wt_summary(w)$stats
w_je_ebene <- tapply(as.numeric(w), kik$ebene, range)

## ---- kappung
# Zum Vergleich: Gewichte gekappt beim 8-Fachen des mittleren Gewichts
kappung <- 8
s_kappung <- wt_summary(wt_rake(kik, ziele, weights = "startgewicht", cap = kappung))$stats
f1_kappung <- zelle(tab(kik, "ki_nutzung", weights = wt_rake(kik, ziele, weights = "startgewicht",
                                                             cap = kappung)), "ja")

## ---- gewichtet
fragen <- c("ki_nutzung", "anwendungen", "fortbildung_heute", "fortbildung_geplant", "regeln")
t_ungew <- tab(kik, fragen)
t_gew <- tab(kik, fragen, weights = "w")
kennzahlen <- data.frame(
  label = c("F1 KI-Werkzeuge in Nutzung", "F3 weitere Anwendungen berichtet",
            "F7 Fortbildungen heute", "F7 Fortbildungen geplant", "F8 keine Vorgaben"),
  var = c("ki_nutzung", "anwendungen", "fortbildung_heute", "fortbildung_geplant", "regeln"),
  row = c("ja", "inhaltliche Antwort", "ja", "ja", "keine Vorgaben"))
u <- do.call(rbind, Map(zelle, list(t_ungew), kennzahlen$row, kennzahlen$var))
g <- do.call(rbind, Map(zelle, list(t_gew), kennzahlen$row, kennzahlen$var))
# KI-Nutzung nach der Größe (ungewichtet): warum die Gewichtung so viel ändert
t_groesse <- tab(kik, "ki_nutzung", cols = "groesse", letters = FALSE, test = FALSE)
# Fortbildungen heute in den kleinen kreisangehörigen Gemeinden (unter 20.000)
klein <- kik$ebene == ebenen[1] & as.integer(kik$groesse) <= 3
klein_ja <- sum(kik$fortbildung_heute[klein] == "ja")

## ---- startgewichte
# Dieselben Gewichte ohne Startgewichte: gleiche Gewichte, andere Standardfehler
w_ohne <- wt_rake(kik, ziele)
gleich <- isTRUE(all.equal(as.numeric(w_ohne), as.numeric(w)))
se_kf <- function(wt) zelle(tab(kik, "ki_nutzung", cols = "ebene", weights = wt), "ja",
                             col = "kreisfreie Stadt")$se
se_kf_mit <- se_kf(w)
se_kf_ohne <- se_kf(w_ohne)

## ---- banner
kik$groesse4 <- factor(c("unter 10.000", "unter 10.000", "10.000 bis unter 50.000",
                         "10.000 bis unter 50.000", "50.000 bis unter 200.000",
                         "50.000 bis unter 200.000", "200.000 und mehr",
                         "200.000 und mehr")[as.integer(kik$groesse)],
                       c("unter 10.000", "10.000 bis unter 50.000",
                         "50.000 bis unter 200.000", "200.000 und mehr"))
attr(kik$groesse4, "label") <- "Einwohnerzahl"
attr(kik$ebene, "label") <- "Ebene"
signifikanz <- 0.05
t_banner <- tab(kik, c("ki_nutzung", "anwendungen", "fortbildung_geplant", "regeln"),
                cols = c("ebene", "groesse4"), weights = "w", alpha = signifikanz)
d_b <- as.data.frame(t_banner, stringsAsFactors = FALSE)
b_kf <- d_b[d_b$row_var == "ki_nutzung" & d_b$row == "ja" & d_b$col == "kreisfreie Stadt", ]
b_ka <- d_b[d_b$row_var == "ki_nutzung" & d_b$row == "ja" & d_b$col == ebenen[1], ]
kf_hoeher <- grepl("A", b_kf$letters)
test_ebene <- d_b[d_b$row_var == "ki_nutzung" & d_b$col_var == "ebene", ][1, ]

## ---- vergleich
kik$gebiet <- factor(ifelse(kik$ebene == "Landkreis", "Landkreise", "Städte und Gemeinden"),
                     c("Städte und Gemeinden", "Landkreise"))
vu <- zelle(tab(kik, "ki_nutzung", cols = "gebiet"), "ja", col = "Städte und Gemeinden")
vg <- zelle(tab(kik, "ki_nutzung", cols = "gebiet", weights = "w"), "ja",
            col = "Städte und Gemeinden")
