# data-raw/kik_rahmen.R: the population frame of German local authorities,
# as package data (data/kik_gemeinden.rda, data/kik_kreise.rda).
#
# REAL counts (unlike the synthetic survey export): Destatis
# Gemeindeverzeichnis GV100AD, Gebietsstand 30.11.2023, Bevölkerung
# 31.12.2022. See data-raw/SOURCE.md for how the two CSVs were derived.
#
# Credit line (required when redistributing): "Quelle: Statistisches
# Bundesamt (Destatis), Gemeindeverzeichnis GV100AD, Gebietsstand 30.11.2023,
# Bevölkerung 31.12.2022; © Statistische Ämter des Bundes und der Länder;
# Daten verändert (Auszug, eigene Aufbereitung). Lizenz: Datenlizenz
# Deutschland – Namensnennung – Version 2.0 (dl-de/by-2-0)."
#
# Usage, from the package root (base R only):
#   Rscript data-raw/kik_rahmen.R

kik_rahmen <- function(frame_dir = "data-raw", out_dir = "data") {
  g <- utils::read.csv(file.path(frame_dir, "gemeinden_land_groessenklasse.csv"),
                       colClasses = c(land_code = "character"), fileEncoding = "UTF-8",
                       stringsAsFactors = FALSE)
  k <- utils::read.csv(file.path(frame_dir, "kreise.csv"), colClasses = c(ags = "character"),
                       fileEncoding = "UTF-8", stringsAsFactors = FALSE)

  # Länder in the order of their codes (01 Schleswig-Holstein .. 16 Thüringen),
  # named as in the survey's codebook
  laender <- unique(g[order(g$land_code), c("land_code", "land")])
  stopifnot(nrow(laender) == 16L)
  land_levels <- enc2utf8(laender$land)

  # the survey's size classes: unions of the Gemeindeverzeichnis classes
  groessen <- c("unter 5.000", "5.000 bis unter 10.000", "10.000 bis unter 20.000",
                "20.000 bis unter 50.000", "50.000 bis unter 100.000",
                "100.000 bis unter 200.000", "200.000 bis unter 500.000",
                "500.000 und mehr")
  cl10 <- c("unter 1000", "1000-1999", "2000-4999", "5000-9999", "10000-19999",
            "20000-49999", "50000-99999", "100000-199999", "200000-499999", "500000+")
  stopifnot(setequal(g$groessenklasse, cl10))
  to8 <- c(1L, 1L, 1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L)

  kik_gemeinden <- data.frame(
    land_code = g$land_code,
    land = factor(enc2utf8(g$land), levels = land_levels),
    groessenklasse = factor(g$groessenklasse, levels = cl10),
    groesse = factor(groessen[to8[match(g$groessenklasse, cl10)]], levels = groessen),
    n_gemeinden = as.integer(g$n_gemeinden),
    einwohner = as.integer(g$einwohner),
    stringsAsFactors = FALSE)
  kik_gemeinden <- kik_gemeinden[order(kik_gemeinden$land_code, kik_gemeinden$groessenklasse), ]
  rownames(kik_gemeinden) <- NULL

  breaks8 <- c(0, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, Inf)
  kreisfrei <- k$kreisfrei == "ja"
  kik_kreise <- data.frame(
    ags = k$ags,
    name = enc2utf8(k$name),
    land = factor(enc2utf8(k$land), levels = land_levels),
    typ = enc2utf8(k$typ),
    kreisfrei = kreisfrei,
    art = factor(ifelse(kreisfrei, "kreisfreie Stadt", "Landkreis / Kreis"),
                 levels = c("kreisfreie Stadt", "Landkreis / Kreis")),
    groesse = factor(groessen[findInterval(k$population, breaks8)], levels = groessen),
    n_gemeinden = as.integer(k$gemeinden),
    einwohner = as.integer(k$population),
    stringsAsFactors = FALSE)
  kik_kreise <- kik_kreise[order(kik_kreise$ags), ]
  rownames(kik_kreise) <- NULL

  # checks against the documented totals
  stopifnot(
    sum(kik_gemeinden$n_gemeinden) == 10773L,
    sum(as.numeric(kik_gemeinden$einwohner)) == 84353660,
    nrow(kik_kreise) == 400L, sum(kik_kreise$kreisfrei) == 106L,
    sum(as.numeric(kik_kreise$einwohner)) == 84353660,
    !anyNA(kik_gemeinden), !anyNA(kik_kreise)
  )

  dir.create(out_dir, showWarnings = FALSE)
  save(kik_gemeinden, file = file.path(out_dir, "kik_gemeinden.rda"), compress = "bzip2",
       version = 2)
  save(kik_kreise, file = file.path(out_dir, "kik_kreise.rda"), compress = "bzip2",
       version = 2)
  invisible(list(kik_gemeinden = kik_gemeinden, kik_kreise = kik_kreise))
}

if (sys.nframe() == 0L) kik_rahmen()
