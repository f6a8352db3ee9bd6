#' Describe a survey design
#'
#' A light description of a stratified cluster sample, in one stage or
#' several: which columns hold the weights, strata, clusters (primary
#' sampling units, PSUs, and the units sampled within them) and finite
#' population corrections. [tab()] takes a design in place of a data frame
#' and then computes design-based standard errors, confidence intervals and
#' tests.
#'
#' Variances follow the usual with-replacement (or, with `fpc`,
#' without-replacement) estimator for the first stage, as
#' `survey::svydesign()` with `ids = cluster, strata = strata, fpc = fpc`:
#' within each stratum, the PSU totals of the linearised estimating
#' variable are centred at their stratum mean, and the sum of squares is
#' scaled by `n_h / (n_h - 1)` and `1 - n_h / N_h`. Without `cluster`, every
#' row is its own PSU; without `strata`, there is one stratum.
#'
#' @section Multistage designs:
#' `cluster = ~psu + ssu` (more terms for more stages) with an `fpc` per
#' stage, `fpc = ~N1 + N2`, gives the full multistage variance that
#' `survey::svydesign(ids = ~psu + ssu, fpc = ~N1 + N2)` computes by default:
#' the first stage's term as above, plus within every PSU the same term over
#' its second-stage units (centred within their stratum, if `strata` gives
#' one per stage, `strata = ~st1 + st2`), scaled by the PSU's stratum's
#' sampling fraction `n_h / N_h`, and so on down the stages. A stage's `fpc`
#' is per stratum within the unit above: its number of units in the
#' population (> 1) or the sampling fraction (<= 1), constant there and not
#' smaller than the units sampled. Without `fpc` (sampling with replacement)
#' or with `ultimate_cluster = TRUE` (survey's
#' `options(survey.ultimate.cluster = TRUE)`) only the first stage counts:
#' the PSUs' totals carry the variance of all stages below. Without weights,
#' the weights are the product over the stages of `N / n`, as survey derives
#' them. Degrees of freedom are the first stage's: PSUs minus strata (of a
#' domain: its PSUs with rows of positive weight), as `survey::degf()`.
#'
#' @section Survey and srvyr objects:
#' survey and srvyr design objects: [tab()] (and [as_svydesign()], which
#' hands them back) also takes survey's `survey.design2` objects
#' (`survey::svydesign()`), replicate designs (`svyrep.design`:
#' `survey::svrepdesign()`, `as.svrepdesign()`) and srvyr's `tbl_svy` built on
#' either (its `group_by()` groups are `by` layers, as for grouped data
#' frames), and gives survey's numbers on them. The object's parts are read
#' as they are: its variables, weights (`1 / prob`), ids, strata and
#' population sizes per stage, with the lonely-PSU rule and the
#' ultimate-cluster approximation from `options(survey.lonely.psu)` and
#' `options(survey.ultimate.cluster)` at the time of the call, as survey reads
#' them. A `subset()` is the domain survey computes on: units the subset
#' dropped still count in their stratum (as survey pads them with zeros), and
#' rows left out of a subset of a calibrated design stay with weight 0 (they
#' count in `n`, as rows of weight 0 do). Designs from `postStratify()`,
#' `calibrate()` (any `calfun`, `bounds`, `variance`, interactions and
#' transformed terms: the stored model matrix is used) and `rake()` get
#' survey's calibrated variance, for `rake()` its ten backfitting sweeps over
#' the margins (which differ slightly from the calibration variance that
#' [wt_rake()] weights get). Replicate designs become replicate-weight designs
#' (see [svy_repdesign()]) with the object's replicate weights, `scale`,
#' `rscales`, `mse` and `degf()`. Not taken (an error names the class):
#' two-phase designs, multiply imputed data, database-backed designs, PPS
#' designs without replacement, designs calibrated in several steps or
#' within clusters (`calibrate(stage =)`).
#'
#' @section Strata with a single PSU:
#' `lonely_psu` says what to do, at every stage, with a stratum of a
#' single unit, with the choices of `options(survey.lonely.psu)`: `"fail"`
#' stops (naming the stratum); `"certainty"` and `"remove"` let the stratum
#' contribute no variance; `"adjust"` centres its unit at zero instead of
#' its stratum mean; `"average"` leaves the stratum out and scales the other
#' strata's variance (at a later stage: the other strata within the same
#' unit above) by the number of strata over the number kept (NaN, so `NA`
#' standard errors, where none is kept), as survey does. A stratum sampled
#' in full (`fpc` equal to the units sampled) adds no variance under every
#' rule. survey's `svyby()` computes `"average"` for a domain of an
#' uncalibrated design on the domain's rows only, so it counts the strata
#' that hold rows of the domain; umfrage counts the design's strata, as
#' survey does for calibrated designs and in `svychisq()`.
#'
#' @param data A data frame, not grouped. SPSS user-missing values in the
#'   strata or cluster column are `NA` (see [tab()], section Variables).
#' @param weights Sampling weights: a column name or one-sided formula, a
#'   numeric vector, or `NULL`: all 1, or with `fpc` the population units
#'   over the sampled units of every stage (`N_h / n_h` for one stage), as
#'   `survey::svydesign()` derives them.
#' @param strata Stratum column (name or one-sided formula), or `NULL`; for a
#'   multistage design optionally one per stage, `~st1 + st2` (a later
#'   stage's strata are read within each unit of the stage above).
#' @param cluster PSU column (name or one-sided formula), or `NULL` (rows
#'   are PSUs); for a multistage design one column per stage, `~psu + ssu`.
#'   PSU labels may repeat across strata: a PSU is a (stratum, cluster)
#'   pair, and a later stage's labels are read within the unit above (see
#'   `nest`). No column may hold `NA`.
#' @param fpc Finite population correction column: per stratum either the
#'   number of PSUs in the population (values > 1) or the sampling fraction
#'   (values <= 1), constant within a stratum. For a multistage design one
#'   column per stage, `~N1 + N2` (see Details). `NULL`: sampling with
#'   replacement.
#' @param lonely_psu What to do with a stratum of one unit (see above):
#'   `"fail"`, `"certainty"`, `"remove"`, `"adjust"` or `"average"`.
#' @param ultimate_cluster `TRUE`: only the first stage enters the variance
#'   (the ultimate-cluster approximation). The default follows survey's
#'   `options(survey.ultimate.cluster)` (unset: `FALSE`), as `lonely_psu`
#'   follows `options(survey.lonely.psu)`.
#' @param nest `TRUE` (the default): cluster labels are read within the unit
#'   above (a PSU within its stratum, a second-stage unit within its PSU),
#'   as survey reads the later stages' ids. `FALSE`: every label names one
#'   unit of the whole design, and a label found in two strata or in two
#'   units of the stage above is an error (as survey's `nest = FALSE` at the
#'   first stage).
#' @return An object of class `umfrage_design`.
#' @seealso [as_svydesign()] to hand the same design to the survey package.
#' @examples
#' d <- data.frame(st = rep(1:2, each = 6), psu = rep(1:4, each = 3),
#'                 y = c(1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1),
#'                 w = rep(c(10, 20), each = 6), N = rep(c(8, 10), each = 6))
#' des <- svy_design(d, weights = ~w, strata = ~st, cluster = ~psu, fpc = ~N)
#' des
#' # two stages: districts, then schools within them (survey's apiclus2)
#' if (requireNamespace("survey", quietly = TRUE)) {
#'   data(api, package = "survey")
#'   des2 <- svy_design(apiclus2, weights = ~pw, cluster = ~dnum + snum,
#'                      fpc = ~fpc1 + fpc2)
#'   des2
#' }
#' @export
svy_design <- function(data, weights = NULL, strata = NULL, cluster = NULL,
                       fpc = NULL,
                       lonely_psu = getOption("survey.lonely.psu", "fail"),
                       ultimate_cluster = getOption("survey.ultimate.cluster", FALSE), nest = TRUE) {
  # database sources (db.R): the columns are checked, the design read by tab()
  if (is_db_source(data))
    return(db_svy_design(data, weights, strata, cluster, fpc, lonely_psu, ultimate_cluster, nest))
  check_data(data)
  lonely_psu <- match.arg(lonely_psu, c("fail", "certainty", "remove", "adjust", "average"))
  check_flag(ultimate_cluster, "ultimate_cluster")
  check_flag(nest, "nest")
  w <- get_weights(weights, data)
  if (!is.null(w)) weight_stats(w, "weights")
  n <- nrow(data)
  # the columns of a one-sided formula or a character vector of names: one
  # per stage (cluster, fpc; strata per stage too)
  cols_of <- function(spec, arg) {
    if (is.null(spec)) return(list())
    if (inherits(spec, "formula")) {
      v <- all.vars(spec)
      if (length(spec) != 2L || length(v) < 1L)
        stopf("'%s' must name one column, like ~%s, or one per stage, like ~%s1 + %s2", arg, arg, arg, arg)
      spec <- v
    }
    if (!is.character(spec) || length(spec) < 1L || anyNA(spec))
      stopf("'%s' must be a column name or a one-sided formula", arg)
    lapply(seq_along(spec), function(s) {
      nm <- spec[s]
      stage <- if (length(spec) > 1L) sprintf(" (stage %d)", s) else ""
      if (!nm %in% names(data)) stopf("'%s' names column %s%s, which is not in 'data'", arg, q(nm), stage)
      x <- data_col(data, nm)
      if (anyNA(x))
        stopf("'%s' column %s%s holds %d NA value(s) (first at row %d); every row needs a %s",
              arg, q(nm), stage, sum(is.na(x)), which(is.na(x))[1L], arg)
      list(name = nm, x = x)
    })
  }
  svs <- cols_of(strata, "strata")
  cvs <- cols_of(cluster, "cluster")
  fvs <- cols_of(fpc, "fpc")
  S <- max(length(cvs), 1L)              # stages (rows are the one stage without 'cluster')
  if (length(svs) > S)
    stopf("'strata' names %d columns but the design has %d stage(s): give at most one stratum column per stage of 'cluster'",
          length(svs), S)
  if (length(fvs) && length(fvs) != S)
    stopf("'fpc' names %d column(s); give one per stage of 'cluster' (%d), as survey::svydesign() needs",
          length(fvs), S)
  sv <- if (length(svs)) svs[[1L]]
  cv <- if (length(cvs)) cvs[[1L]]
  fv <- if (length(fvs)) fvs[[1L]]
  h <- if (is.null(sv)) rep(1L, n) else match(sv$x, sort(unique(sv$x)))
  hlev <- if (is.null(sv)) "1" else as.character(sort(unique(sv$x)))
  if (!nest && !is.null(sv) && !is.null(cv)) ms_check_nested(cv, sv, h)
  psu_key <- if (is.null(cv)) seq_len(n) else paste(h, cv$x, sep = "\r")
  psu <- match(psu_key, unique(psu_key))
  psu_stratum <- h[!duplicated(psu)][order(unique(psu))]
  n_psu <- tabulate(psu_stratum, length(hlev))
  # finite population correction: population PSUs per stratum
  pop <- rep(Inf, length(hlev))
  if (!is.null(fv)) {
    f <- fv$x
    if (!is.numeric(f)) stopf("'fpc' column %s must be numeric", q(fv$name))
    if (any(!is.finite(f)) || any(f <= 0)) stopf("'fpc' column %s must hold positive finite values", q(fv$name))
    pop <- fpc_pop(f, h, hlev, n_psu)
  }
  # no weights but an fpc: each PSU stands for N_h / n_h population PSUs,
  # as survey::svydesign() derives the weights from fpc
  from_fpc <- is.null(w) && !is.null(fv)
  if (from_fpc) w <- (pop / n_psu)[h]
  # a lonely PSU of a stratum sampled in full (f < 1e-7) adds no variance
  # under every rule, as in survey's onestrat()
  lonely <- which(n_psu == 1L & !(1 - n_psu / pop < 1e-7))
  if (length(lonely) && lonely_psu == "fail")
    stopf("stratum %s has only one PSU; choose lonely_psu = \"certainty\", \"remove\", \"adjust\" or \"average\" (as options(survey.lonely.psu))",
          q(hlev[lonely[1L]]))
  # ---- later stages (issue 17): units, strata, fpc and the weights' factors
  stages <- NULL
  ms <- NULL
  if (length(cvs) > 1L) {
    st <- ms_stages(cvs, svs, fvs, psu, psu_stratum, n_psu, pop, nest, lonely_psu,
                    variance = length(fvs) > 0L && !ultimate_cluster)
    stages <- st$stages
    ms <- st$ms
    if (from_fpc) w <- w * st$wfac
  }
  structure(list(
    data = data, weights = w, calibration = attr(w, "calibration"),
    vars = list(strata = col_names(svs), cluster = col_names(cvs), fpc = col_names(fvs)),
    stratum = h, strata_levels = hlev, psu = psu, psu_stratum = psu_stratum,
    n_psu = n_psu, pop_psu = pop, lonely_psu = lonely_psu,
    clustered = !is.null(cv), weights_from_fpc = from_fpc,
    stages = stages, ms = ms, ultimate_cluster = ultimate_cluster, nest = nest),
    class = "umfrage_design")
}

# The names of cols_of()'s columns, NULL for none.
col_names <- function(cols) if (length(cols)) vapply(cols, `[[`, "", "name")

# nest = FALSE: every label of a stage's column names one unit of the
# design, so it must lie within one unit (stratum, for PSUs) of the stage
# above; an error names the column and a label that does not.
ms_check_nested <- function(child, parent_col, parent_code, stage = 1L) {
  cc <- match(child$x, unique(child$x))
  first <- parent_code[!duplicated(cc)][cc]
  bad <- which(parent_code != first)
  if (length(bad)) {
    i <- bad[1L]
    j <- which(cc == cc[i])[1L]
    what <- if (stage == 1L) "strata" else sprintf("'cluster' column %s (stage %d)", q(parent_col$name), stage - 1L)
    stopf("'cluster' column %s%s is not nested in %s: label %s lies in %s and %s (rows %d and %d); with nest = TRUE labels are read within the unit above",
          q(child$name), if (stage > 1L) sprintf(" (stage %d)", stage) else "",
          if (stage == 1L) sprintf("'strata' column %s", q(parent_col$name)) else what,
          q(format(child$x[i])), q(format(parent_col$x[j])), q(format(parent_col$x[i])), j, i)
  }
  invisible(NULL)
}

# Identity of the pairs (a, b) of two positive integer codes, numbered in
# order of first appearance.
pair_id <- function(a, b) {
  key <- as.double(a) * (max(b) + 1) + b
  match(key, unique(key))
}

# The stages below the first (issue 17), as survey::svydesign() reads ids =
# ~psu + ssu + ..., strata per stage and fpc per stage. A unit of stage s
# lies in a stratum cell (the stage's stratum, if given, within the unit of
# stage s - 1) and is a (cell, label) pair (nest = TRUE) or its label
# (nest = FALSE, checked). Returns per stage its description (stages, for
# print() and as_svydesign()), the weights' factors N/n of the later
# stages (wfac, per row) and, when the later stages enter the variance
# (variance = TRUE: an fpc, not the ultimate cluster), what z_cov() needs
# (ms, see there): the finest units per row, their PSUs, and per later
# stage the unit of each finest unit, each unit's cell, and per cell its
# units, weight in Sigma and centring.
ms_stages <- function(cvs, svs, fvs, psu, psu_stratum, n_psu, pop, nest, lonely_psu, variance) {
  n <- length(psu)
  S <- length(cvs)
  # per stage-1 unit: its stratum's sampling fraction n / N (the factor of
  # the stages below it in survey's multistage())
  anc <- (n_psu / pop)[psu_stratum]
  parent <- psu
  stages <- list(list(name = cvs[[1L]]$name, unit = psu, n_units = length(psu_stratum)))
  wfac <- rep(1, n)
  vst <- list()
  finest_of <- list()
  for (s in 2:S) {
    col <- cvs[[s]]
    if (!nest) ms_check_nested(col, cvs[[s - 1L]], parent, s)
    stc <- if (length(svs) >= s) match(svs[[s]]$x, sort(unique(svs[[s]]$x))) else rep(1L, n)
    g <- pair_id(parent, stc)                         # stratum cell per row
    u <- pair_id(g, match(col$x, unique(col$x)))      # unit per row
    first_u <- !duplicated(u)
    ucell <- g[first_u]                               # cell of each unit (ids in order)
    G <- max(g)
    nG <- tabulate(ucell, G)
    first_g <- !duplicated(g)
    cparent <- parent[first_g]                        # unit above each cell
    Ng <- rep(Inf, G)
    if (length(fvs)) {
      fcol <- fvs[[s]]
      f <- fcol$x
      if (!is.numeric(f)) stopf("'fpc' column %s must be numeric", q(fcol$name))
      if (any(!is.finite(f)) || any(f <= 0))
        stopf("'fpc' column %s (stage %d) must hold positive finite values", q(fcol$name), s)
      fg <- f[first_g]
      bad <- which(f != fg[g])
      if (length(bad)) {
        i <- bad[1L]
        j <- which(g == g[i])[1L]
        stopf("'fpc' column %s (stage %d) varies within %s %s of stage %d (rows %d and %d: %s and %s); a stage's fpc must be constant within its stratum in each unit of the stage above",
              q(fcol$name), s, q(cvs[[s - 1L]]$name), q(format(cvs[[s - 1L]]$x[i])), s - 1L, j, i,
              format(f[j]), format(f[i]))
      }
      Ng <- ifelse(fg <= 1, nG / fg, fg)
      bad <- which(Ng < nG - 1e-8)
      if (length(bad)) {
        i <- which(g == bad[1L])[1L]
        stopf("'fpc' column %s (stage %d) gives %s population units within %s %s of stage %d, fewer than its %d sampled units (%s)",
              q(fcol$name), s, format(Ng[bad[1L]]), q(cvs[[s - 1L]]$name),
              q(format(cvs[[s - 1L]]$x[i])), s - 1L, nG[bad[1L]], q(col$name))
      }
      wfac <- wfac * (Ng / nG)[g]
    }
    stages[[s]] <- list(name = col$name, unit = u, n_units = length(ucell),
                        strata = if (length(svs) >= s) stc, pop = if (length(fvs)) Ng[g])
    if (variance) {
      # survey's onestrat() per cell: f = (N - n) / N; scale f n / (n - 1),
      # a lonely unit by the rule; nothing where f < 1e-7
      f <- (Ng - nG) / Ng
      lonely <- nG == 1L
      sc <- ifelse(lonely, f, f * nG / pmax(nG - 1, 1))
      center <- rep(TRUE, G)
      zero <- f < 1e-7
      sc[zero] <- 0
      lone <- which(lonely & !zero)
      if (length(lone)) {
        i <- which(g == lone[1L])[1L]
        switch(lonely_psu,
               fail = stopf("stage %d: %s %s of stage %d has only one sampled unit of %s in a stratum (row %d); choose lonely_psu = \"certainty\", \"remove\", \"adjust\" or \"average\" (as options(survey.lonely.psu))",
                            s, q(cvs[[s - 1L]]$name), q(format(cvs[[s - 1L]]$x[i])), s - 1L,
                            q(col$name), i),
               certainty = , remove = sc[lone] <- 0,
               adjust = center[lone] <- FALSE,
               average = {
                 # survey's onestage() per unit above: its lonely cells drop
                 # out, the others are scaled by cells / cells kept (NaN when
                 # none is kept)
                 out <- rep(FALSE, G)
                 out[lone] <- TRUE
                 ncell <- tabulate(cparent, max(cparent))
                 nkeep <- tabulate(cparent[!out], max(cparent))
                 sc[out] <- 0
                 sc <- sc * (ncell / nkeep)[cparent]
               })
      }
      vst[[s - 1L]] <- list(cell = ucell, n = nG, center = center,
                            wt = anc[cparent] * sc, u = u)
      # the factor of the stage below: the ancestors' n / N
      anc <- (anc[cparent] * nG / Ng)[ucell]
    }
    parent <- u
  }
  ms <- NULL
  if (variance) {
    # finest units: the last stage's; per later stage, each finest unit's
    # unit of that stage
    unit <- parent
    first <- !duplicated(unit)
    ms <- list(unit = unit, nd = max(unit), unit_psu = psu[first],
               stages = lapply(seq_along(vst), function(k) {
                 v <- vst[[k]]
                 of <- if (k == length(vst)) NULL else v$u[first]
                 v$u <- NULL
                 c(v, list(of = of))
               }))
  }
  list(stages = stages, wfac = wfac, ms = ms)
}

#' @export
print.umfrage_design <- function(x, ...) {
  cat(sprintf("<umfrage_design> %d rows, %d PSU(s)%s in %d stratum/strata, %s weights%s\n",
              nrow(x$data), length(x$psu_stratum), if (x$clustered) " (clusters)" else " (rows)",
              length(x$strata_levels),
              if (is.null(x$weights)) "equal" else if (isTRUE(x$weights_from_fpc)) "fpc-derived" else "given",
              if (all(is.infinite(x$pop_psu))) ", with replacement" else ", with fpc"))
  # multistage (issue 17): the stages and which variance
  if (length(x$stages) > 1L) {
    units <- vapply(x$stages, function(st) sprintf("%d %s", st$n_units, q(st$name)), "")
    cat(sprintf("  %d stages: %s; variance: %s\n", length(x$stages), paste(units, collapse = " > "),
                if (!is.null(x$ms)) "all stages (survey's multistage default)"
                else if (isTRUE(x$ultimate_cluster)) "first stage only (ultimate cluster)"
                else "first stage only (no fpc: with replacement)"))
  }
  invisible(x)
}

#' Hand a design to the survey package
#'
#' Builds the `survey::svydesign()` object that describes the same sample as
#' an [svy_design()], so that results can be checked against survey or
#' analysed further there. Needs the survey package.
#'
#' When the design's weights come from [wt_rake()], [wt_poststrat()] or
#' [wt_calibrate()], the returned design is calibrated as survey itself
#' would do it: built on the starting weights, then passed to
#' `survey::postStratify()` (post-stratification) or `survey::calibrate()`
#' (raking; calibration with the same `calfun` and `bounds`) on the margins
#' and totals the weights achieved. Its weights equal the design's (to
#' 1e-6 relative; else, or when the stored calibration no longer fits the
#' weights and rows, the design carries the weights as fixed, with a
#' warning), and survey's standard errors then equal [tab()]'s. Numeric
#' auxiliaries of [wt_calibrate()] are calibrated on too, though [tab()]
#' treats such weights as fixed.
#'
#' survey reads its lonely-PSU rule from `options(survey.lonely.psu)` when it
#' computes a variance; set that option to the design's `lonely_psu` to get
#' the same variances, and `options(survey.ultimate.cluster = TRUE)` for a
#' design with `ultimate_cluster = TRUE`. A multistage design goes to survey
#' with its stages: `ids`, `fpc` (as population counts) and, if given per
#' stage, `strata`, one column per stage.
#'
#' @param x An `umfrage_design` (survey's own `survey.design2` objects are
#'   handed back as they are).
#' @return A `survey.design2` object (calibrated, for calibrated weights).
#' @examples
#' if (requireNamespace("survey", quietly = TRUE)) {
#'   d <- data.frame(st = rep(1:2, each = 6), psu = rep(1:4, each = 3),
#'                   w = rep(c(10, 20), each = 6))
#'   as_svydesign(svy_design(d, weights = ~w, strata = ~st, cluster = ~psu))
#' }
#' @export
as_svydesign <- function(x) {
  # survey objects: a survey design is itself; a design converted from one
  # (survey_objects.R) hands back its source
  if (inherits(x, "survey.design2")) return(x)
  if (inherits(x, "umfrage_design") && inherits(x$source, "survey.design2")) return(x$source)
  if (!inherits(x, "umfrage_design"))
    stopf("'x' must be an svy_design(), not %s", obj_desc(x))
  if (!requireNamespace("survey", quietly = TRUE))
    stopf("as_svydesign() needs the survey package: install.packages(\"survey\")")
  d <- x$data
  w <- if (is.null(x$weights)) NULL else as.double(x$weights)
  cal <- if (is.null(x$calibration)) NULL else survey_calibration(x$calibration, d, w)
  d$.umfrage_w <- if (!is.null(cal)) cal$w0 else if (is.null(w)) 1 else w
  for (nm in names(cal$columns)) d[[nm]] <- cal$columns[[nm]]
  d$.umfrage_psu <- x$psu
  d$.umfrage_stratum <- x$stratum
  args <- list(ids = ~.umfrage_psu, weights = ~.umfrage_w, data = d)
  if (length(x$strata_levels) > 1L || !is.null(x$vars$strata)) args$strata <- ~.umfrage_stratum
  if (any(is.finite(x$pop_psu))) {
    d$.umfrage_fpc <- x$pop_psu[x$stratum]
    args$data <- d
    args$fpc <- ~.umfrage_fpc
  }
  # multistage (issue 17): ids, strata and fpc per stage (survey nests a
  # stage's ids in the stage above, as our unit ids are)
  if (length(x$stages) > 1L) {
    S <- length(x$stages)
    ids <- paste0(".umfrage_id", seq_len(S))
    d[[ids[1L]]] <- x$psu
    for (k in 2:S) d[[ids[k]]] <- x$stages[[k]]$unit
    args$ids <- stats::as.formula(paste("~", paste(ids, collapse = " + ")))
    if (length(x$vars$strata) > 1L) {
      sts <- paste0(".umfrage_st", seq_along(x$vars$strata))
      d[[sts[1L]]] <- x$stratum
      for (k in seq_along(sts)[-1L]) d[[sts[k]]] <- x$stages[[k]]$strata
      args$strata <- stats::as.formula(paste("~", paste(sts, collapse = " + ")))
    }
    if (any(is.finite(x$pop_psu))) {
      fps <- paste0(".umfrage_fpc", seq_len(S))
      d[[fps[1L]]] <- x$pop_psu[x$stratum]
      for (k in 2:S) d[[fps[k]]] <- x$stages[[k]]$pop
      args$fpc <- stats::as.formula(paste("~", paste(fps, collapse = " + ")))
    }
    args$data <- d
  }
  s <- do.call(survey::svydesign, args)
  if (is.null(cal)) return(s)
  sc <- tryCatch(cal$calibrate(s), error = function(e) e)
  if (inherits(sc, "error")) {
    warnf("as_svydesign(): survey could not redo the calibration (%s); the design carries the weights as fixed",
          conditionMessage(sc))
  } else {
    dif <- max(abs(stats::weights(sc) - w)) / max(abs(w))
    if (dif <= 1e-6) return(sc)
    warnf("as_svydesign(): survey's calibration gives weights that differ from these by %.2g relative (as with a cap in wt_rake(), or bounds when survey::calibrate() rescales the starting weights because every target exceeds 20 times its sample total); the design carries the weights as fixed",
          dif)
  }
  d$.umfrage_w <- w
  args$data <- d
  do.call(survey::svydesign, args)
}

# What as_svydesign() needs to redo a calibration in survey: the starting
# weights, indicator columns of the margins' levels (a linearly independent
# subset, with the same span), numeric auxiliaries, and a function that
# calibrates a survey design built on the starting weights. NULL, with a
# warning, when the stored calibration does not fit the weights and rows.
survey_calibration <- function(cl, d, w) {
  fail <- function(why) {
    warnf("as_svydesign(): the calibration stored on the weights %s; the design carries the weights as fixed",
          why)
    NULL
  }
  n <- nrow(d)
  miss <- setdiff(c(cl$vars, cl$numeric), names(d))
  if (length(miss))
    return(fail(sprintf("needs variable(s) %s, which are not in the design's data", qlist(miss))))
  w0 <- if (is.null(cl$start)) rep(1, n) else as.double(cl$start)
  if (length(w0) != n || length(w) != n)
    return(fail(sprintf("was made for %d rows, the design has %d", length(w0), n)))
  coded <- lapply(cl$vars, function(v) code_var(d[[v]], v, cl$lev[[v]]))
  codes <- lapply(coded, function(cv) as.integer(cv$codes))
  if (any(vapply(codes, anyNA, NA)))
    return(fail("no longer fits: a margin variable has values without a target"))
  nlev <- vapply(coded, function(cv) as.double(cv$nlev), 0)
  names(codes) <- names(nlev) <- cl$vars
  lv <- lapply(cl$margins, function(mv) cal_cell_codes(codes[mv], nlev[mv]))
  L <- vapply(cl$margins, function(mv) prod(nlev[mv]), 0)
  now <- unlist(lapply(seq_along(lv), function(m) cell_sums(lv[[m]], L[m], w)))
  xnum <- lapply(cl$numeric, function(v) as.double(d[[v]]))
  num_now <- vapply(xnum, function(x) sum(x * w), 0)
  G <- prod(nlev)
  g <- if (G <= 1e6) cal_cell_codes(codes, nlev) else rep(1L, n)
  bad <- cal_misfit(if (G <= 1e6) cl else utils::modifyList(cl, list(cell_constant = NA)),
                    w, w0, g, max(G, 1), now, num_now)
  if (!is.null(bad)) return(fail(paste("no longer fits:", bad)))
  # one column per joint level with rows, then a linearly independent
  # subset (joint margins may overlap), found on the distinct cells
  key <- do.call(paste, c(unname(lv), sep = "\r"))
  first <- which(!duplicated(key))
  cand <- do.call(rbind, lapply(seq_along(lv), function(m) {
    lvl <- which(tabulate(lv[[m]], L[m]) > 0)
    data.frame(m = rep(m, length(lvl)), l = lvl)
  }))
  A <- vapply(seq_len(nrow(cand)), function(k) as.double(lv[[cand$m[k]]][first] == cand$l[k]),
              numeric(length(first)))
  A <- matrix(A, length(first))
  qa <- qr(A)
  keep <- sort(qa$pivot[seq_len(qa$rank)])
  cand <- cand[keep, , drop = FALSE]
  tot <- lapply(cl$totals, as.double)
  columns <- list()
  pop <- double()
  for (k in seq_len(nrow(cand))) {
    nm <- sprintf(".umfrage_cal%d_%d", cand$m[k], cand$l[k])
    columns[[nm]] <- as.double(lv[[cand$m[k]]] == cand$l[k])
    pop[nm] <- tot[[cand$m[k]]][cand$l[k]]
  }
  for (j in seq_along(xnum)) {
    nm <- sprintf(".umfrage_num%d", j)
    columns[[nm]] <- xnum[[j]]
    pop[nm] <- cl$numeric_totals[j]
  }
  fml <- stats::as.formula(paste("~ 0 +", paste(names(columns), collapse = " + ")))
  if (identical(cl$method, "poststrat") && !length(xnum)) {
    cell <- factor(lv[[1L]])
    columns <- list(.umfrage_cell = cell)
    lvl <- as.integer(levels(cell))
    pst <- data.frame(.umfrage_cell = factor(levels(cell), levels(cell)), Freq = tot[[1L]][lvl])
    calibrate <- function(s) survey::postStratify(s, ~.umfrage_cell, pst)
  } else {
    calfun <- if (identical(cl$method, "rake")) "raking" else cl$calfun
    bounds <- if (is.null(cl$bounds)) c(-Inf, Inf) else cl$bounds
    # the heteroscedasticity factor of wt_calibrate(q =) is survey's variance =
    calibrate <- function(s) survey::calibrate(s, fml, pop, calfun = calfun, bounds = bounds,
                                               epsilon = 1e-12, maxit = 200, variance = cl$q)
  }
  list(w0 = w0, columns = columns, calibrate = calibrate)
}

# Population PSUs per stratum from a checked (positive, finite) fpc column 'f'
# of rows in strata 'h' (codes 1..length(hlev), every stratum present): a
# sampling fraction (<= 1) or a population count, constant within a stratum
# and not below the stratum's sampled PSUs 'n_psu'. Shared by svy_design()
# and database designs (db.R).
fpc_pop <- function(f, h, hlev, n_psu) {
  fr <- tapply(f, h, function(v) diff(range(v)))
  if (any(fr > 0))
    stopf("'fpc' must be constant within a stratum, but varies in stratum %s",
          q(hlev[as.integer(names(fr))[which(fr > 0)[1L]]]))
  fh <- as.vector(tapply(f, h, `[`, 1L))
  pop <- ifelse(fh <= 1, n_psu / fh, fh)
  bad <- which(pop < n_psu - 1e-8)
  if (length(bad))
    stopf("'fpc' gives %s population PSUs in stratum %s, fewer than its %d sampled PSUs",
          format(pop[bad[1L]]), q(hlev[bad[1L]]), n_psu[bad[1L]])
  pop
}
