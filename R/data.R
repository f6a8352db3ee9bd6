#' Population frame of German local authorities (real counts)
#'
#' @description
#' Two data frames of **real** counts from the official municipality
#' directory of the Federal Statistical Office, for weighting a sample of
#' local authorities (such as the *synthetic* KI-in-Kommunen survey read by
#' [kik_read()]) to the population, e.g. with [wt_rake()]:
#'
#' * `kik_gemeinden`: the 10,773 politically independent Gemeinden
#'   (municipalities, kreisfreie Städte included; gemeindefreie Gebiete
#'   excluded) by Land and population size class, 160 rows.
#' * `kik_kreise`: the 400 Kreise, one row each: 294 Landkreise (incl. Kreise
#'   and the Regionalverband Saarbrücken) and 106 kreisfreie Städte (incl.
#'   Stadtkreise and the city states).
#'
#' Reference dates: territorial status 30 November 2023; population 31
#' December 2022 (Bevölkerungsfortschreibung on the basis of the 2011 census,
#' so it differs from 2022-census figures). Population totals 84,353,660.
#'
#' The columns `land`, `groesse` and (for Kreise) `art` are factors with the
#' same levels as the variables of that name from [kik_read()], so targets
#' for [wt_rake()] follow directly, e.g.
#' `tapply(kik_gemeinden$n_gemeinden, kik_gemeinden$groesse, sum)`. A
#' kreisfreie Stadt is a Gemeinde as well as a Kreis: it is counted in both
#' tables. Landkreise have no row in `kik_gemeinden`.
#'
#' @format `kik_gemeinden`, a data frame with 160 rows (16 Länder x 10 size
#'   classes, empty cells included) and 6 columns:
#' \describe{
#'   \item{land_code}{Two-digit code of the Land ("01" Schleswig-Holstein to
#'     "16" Thüringen), character.}
#'   \item{land}{Land, a factor (16 levels in code order).}
#'   \item{groessenklasse}{Size class by population of the directory (10
#'     classes, lower bound inclusive: "unter 1000", "1000-1999", ...,
#'     "500000+"), a factor.}
#'   \item{groesse}{The survey's size class (8 classes, "unter 5.000" to
#'     "500.000 und mehr"; the three smallest directory classes are merged),
#'     a factor.}
#'   \item{n_gemeinden}{Number of Gemeinden, integer.}
#'   \item{einwohner}{Their population, integer.}
#' }
#' @source Statistisches Bundesamt (Destatis), Gemeindeverzeichnis GV100AD
#'   (GV100AD_301123), as mirrored in the GitHub repository
#'   theodm/python-gemeindeverzeichnis; aggregated for this package (scripts
#'   and CSVs in `data-raw/` of the package sources).
#'
#'   Credit line, required when redistributing: "Quelle: Statistisches
#'   Bundesamt (Destatis), Gemeindeverzeichnis GV100AD, Gebietsstand
#'   30.11.2023, Bevölkerung 31.12.2022; © Statistische Ämter des Bundes und
#'   der Länder; Daten verändert (Auszug, eigene Aufbereitung). Lizenz:
#'   Datenlizenz Deutschland – Namensnennung – Version 2.0 (dl-de/by-2-0)."
#' @examples
#' # Gemeinden by the survey's size classes, and Kreise by type
#' tapply(kik_gemeinden$n_gemeinden, kik_gemeinden$groesse, sum)
#' table(kik_kreise$art)
#' @name kik_rahmen
#' @aliases kik_gemeinden
#' @keywords datasets
#' @md
"kik_gemeinden"

#' @rdname kik_rahmen
#' @format `kik_kreise`, a data frame with 400 rows and 9 columns:
#' \describe{
#'   \item{ags}{Five-digit official key of the Kreis (Amtlicher
#'     Gemeindeschlüssel, first five digits), character.}
#'   \item{name}{Official name, character.}
#'   \item{land}{Land, a factor as in `kik_gemeinden`.}
#'   \item{typ}{Type in the directory: "Landkreis", "Kreis",
#'     "Regionalverband", "kreisfreie Stadt" or "Stadtkreis", character.}
#'   \item{kreisfrei}{`TRUE` for kreisfreie Städte (incl. Stadtkreise and
#'     the city states).}
#'   \item{art}{"kreisfreie Stadt" or "Landkreis / Kreis", a factor with the
#'     labels of the survey's question on the type of authority.}
#'   \item{groesse}{The survey's size class of the Kreis' population, a
#'     factor as in `kik_gemeinden`.}
#'   \item{n_gemeinden}{Number of Gemeinden in the Kreis, integer.}
#'   \item{einwohner}{Population (the sum over its Gemeinden), integer.}
#' }
#' @md
"kik_kreise"
