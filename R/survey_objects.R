# survey and srvyr design objects (issue 17)
#
# tab() (and as_svydesign()) take survey's `survey.design2` and
# `svyrep.design` objects and srvyr's `tbl_svy` directly. as_umfrage_design()
# reads the object's parts and builds the svy_design() (or, for replicate
# weights, the "umfrage_repdesign" of R/replicate.R) that gives survey's
# numbers:
#
#   variables        x$variables (srvyr's groups become `by` layers)
#   weights          1 / x$prob; rows a subset() of a calibrated design left
#                    out (prob = Inf, kept by survey) have weight 0
#   ids, strata      x$cluster, x$strata per stage (survey has nested the
#                    later stages' ids and strata already); strata only if
#                    x$has.strata (or for later stages)
#   fpc              x$fpc$popsize per stage (population counts)
#   options          lonely_psu = options(survey.lonely.psu),
#                    ultimate_cluster = options(survey.ultimate.cluster)
#   calibration      x$postStrata (one step): postStratify(), calibrate()
#                    (greg_calibration), rake() (see svy_calibration())
#
# A subset() of an uncalibrated design drops rows, but survey's variance
# still counts the units the full sample had in each stratum (onestrat() pads
# the missing ones with zero totals, from x$fpc$sampsize). The converter
# does the same: it builds the design with one phantom row of weight 0 per
# missing unit, then drops the phantom rows again (des_drop_rows()), so the
# units stay, without rows: their totals are zero, they count in the
# centring and scale of their stratum, but not in the rows, the degrees of
# freedom or the tests' row counts.

# The svy_design() (or replicate design) for a survey or srvyr design
# object; anything else is returned as it is.
as_umfrage_design <- function(x, arg = "x") {
  if (inherits(x, c("umfrage_design", "umfrage_repdesign")) || !is_survey_object(x)) return(x)
  svy_unsupported(x, arg)
  groups <- character()
  if (inherits(x, "tbl_svy")) {
    v <- x$variables
    groups <- data_groups(v, arg)
    if (inherits(v, "grouped_df")) {
      attr(v, "groups") <- NULL
      class(v) <- setdiff(class(v), "grouped_df")
      x$variables <- v
    }
  }
  des <- if (inherits(x, "svyrep.design")) from_svyrep(x, arg) else from_svydesign(x, arg)
  des$groups <- groups
  des
}

is_survey_object <- function(x) {
  inherits(x, c("survey.design", "survey.design2", "svyrep.design", "tbl_svy",
                "twophase", "twophase2", "svyimputationList", "svyDBimputationList",
                "DBIsvydesign", "ODBCsvydesign", "pps", "svyrep.stat"))
}

# Stop for the kinds of survey objects whose variance survey computes in
# ways this converter does not reproduce, naming the class.
svy_unsupported <- function(x, arg) {
  cls <- class(x)
  what <- function(c, how)
    stopf("'%s' is a survey design of class %s (%s), which umfrage does not take; supported are survey::svydesign() designs (class 'survey.design2', also post-stratified, calibrated or raked), survey::svrepdesign() / as.svrepdesign() designs (class 'svyrep.design') and srvyr's 'tbl_svy' built on them",
          arg, q(c), how)
  bad <- list(DBIsvydesign = "a database-backed design, survey::svydesign(dbtype =)",
              ODBCsvydesign = "a database-backed design, survey::svydesign(dbtype =)",
              twophase2 = "a two-phase design, survey::twophase()",
              twophase = "a two-phase design, survey::twophase()",
              svyimputationList = "multiply imputed data, survey::svydesign(data = imputationList())",
              svyDBimputationList = "multiply imputed data in a database",
              pps = "a PPS design without replacement, survey::svydesign(pps =)",
              svyrep.stat = "a statistic, not a design")
  hit <- intersect(cls, names(bad))
  if (length(hit)) what(hit[1L], bad[[hit[1L]]])
  if (!inherits(x, c("survey.design2", "svyrep.design")))
    what(cls[1L], "an old-style or unknown survey design object")
  if (inherits(x, "survey.design2") && isTRUE(x$pps))
    what(cls[1L], "a PPS design, survey::svydesign(pps =)")
  if (!is.data.frame(x$variables))
    stopf("'%s' is a survey design of class %s without its variables (x$variables is %s); umfrage needs the data",
          arg, q(cls[1L]), obj_desc(x$variables))
  invisible(NULL)
}

# ---- survey.design2 -------------------------------------------------------------

from_svydesign <- function(x, arg) {
  v <- x$variables
  n <- nrow(v)
  if (n == 0L) stopf("'%s' (a survey design) has no rows", arg)
  prob <- as.double(x$prob)
  if (length(prob) != n) stopf("'%s': the survey design's prob has %d values for %d rows", arg, length(prob), n)
  w <- ifelse(is.infinite(prob), 0, 1 / prob)
  if (anyNA(w) || any(w < 0))
    stopf("'%s': the survey design's weights (1 / prob) hold NA or negative values (first at row %d)",
          arg, which(is.na(w) | w < 0)[1L])
  ids <- as.data.frame(x$cluster)
  S <- ncol(ids)
  st <- as.data.frame(x$strata)
  pop <- x$fpc$popsize
  samp <- x$fpc$sampsize
  if (!is.null(pop) && NCOL(pop) != S)
    stopf("'%s': the survey design has %d stage(s) but fpc for %d; umfrage needs an fpc for every stage or none",
          arg, S, NCOL(pop))
  code <- function(col) { col <- if (is.factor(col)) as.character(col) else col; match(col, unique(col)) }
  idc <- lapply(seq_len(S), function(s) code(ids[[s]]))
  stc <- lapply(seq_len(S), function(s)
    if (s == 1L && !isTRUE(x$has.strata)) rep(1L, n) else code(st[[min(s, ncol(st))]]))
  rows_psu <- S == 1L && !anyDuplicated(idc[[1L]])
  fpcs <- if (!is.null(pop)) lapply(seq_len(S), function(s) as.double(pop[, s]))
  # phantom rows for the units a subset() dropped (see the header)
  ph <- svy_phantoms(idc, stc, fpcs, if (!is.null(samp)) as.matrix(samp), w, pad_later = !is.null(pop))
  dd <- list()
  for (s in seq_len(S)) {
    dd[[paste0("id", s)]] <- c(idc[[s]], ph$id[[s]])
    dd[[paste0("st", s)]] <- c(stc[[s]], ph$st[[s]])
    if (!is.null(fpcs)) dd[[paste0("fpc", s)]] <- c(fpcs[[s]], ph$fpc[[s]])
  }
  dd <- as.data.frame(dd)
  wall <- c(w, rep(0, ph$n))
  fml <- function(p, k) stats::as.formula(paste("~", paste0(p, seq_len(k), collapse = " + ")))
  strata <- if (S > 1L) fml("st", S) else if (isTRUE(x$has.strata)) ~st1
  des <- svy_design(dd, weights = wall, strata = strata,
                    cluster = if (!rows_psu) fml("id", S),
                    fpc = if (!is.null(fpcs)) fml("fpc", S),
                    lonely_psu = getOption("survey.lonely.psu", "fail"),
                    ultimate_cluster = isTRUE(getOption("survey.ultimate.cluster", FALSE)),
                    nest = TRUE)
  if (ph$n) des <- des_drop_rows(des, seq_len(n))
  des$data <- v
  des$weights_from_fpc <- FALSE
  des$calibration <- if (!is.null(x$postStrata)) svy_calibration(x, w, arg)
  des$vars <- list(strata = if (isTRUE(x$has.strata)) names(st)[seq_len(min(S, ncol(st)))],
                   cluster = names(ids), fpc = if (!is.null(pop)) paste0("fpc", seq_len(S)))
  des$source <- x
  des
}

# One phantom row per unit that the full sample had in a stratum cell but
# the rows no longer have (x$fpc$sampsize, per row and stage, counts the
# full sample's units in the row's cell), at the first stage always and at
# later stages when they enter the variance (pad_later: an fpc). A phantom
# unit's stages below get one unit each, sampled in full (fpc 1: no
# variance, never lonely).
svy_phantoms <- function(idc, stc, fpcs, samp, w, pad_later) {
  S <- length(idc)
  empty <- list(n = 0L, id = vector("list", S), st = vector("list", S), fpc = vector("list", S))
  if (is.null(samp) || NCOL(samp) < 1L) return(empty)
  out <- list()
  next_id <- vapply(idc, max, 0L)
  parent <- rep(0L, length(idc[[1L]]))
  for (s in seq_len(if (pad_later) S else 1L)) {
    cell <- pair_id(parent + 1L, stc[[s]])
    first <- !duplicated(cell)
    have <- tabulate(cell[!duplicated(pair_id(cell, idc[[s]]))], max(cell))
    need <- as.integer(round(samp[first, s][order(cell[first])])) - have
    for (k in which(need > 0L)) {
      r <- which(cell == k)[1L]     # a row of the cell: its ids above and values
      for (j in seq_len(need[k])) {
        row <- list(id = integer(S), st = integer(S), fpc = double(S))
        for (t in seq_len(S)) {
          if (t < s) {
            row$id[t] <- idc[[t]][r]; row$st[t] <- stc[[t]][r]
            row$fpc[t] <- if (!is.null(fpcs)) fpcs[[t]][r] else NA
          } else if (t == s) {
            next_id[t] <- next_id[t] + 1L
            row$id[t] <- next_id[t]; row$st[t] <- stc[[t]][r]
            row$fpc[t] <- if (!is.null(fpcs)) fpcs[[t]][r] else NA
          } else {
            next_id[t] <- next_id[t] + 1L
            row$id[t] <- next_id[t]; row$st[t] <- 1L; row$fpc[t] <- 1
          }
        }
        out[[length(out) + 1L]] <- row
      }
    }
    parent <- idc[[s]]
  }
  if (!length(out)) return(empty)
  list(n = length(out),
       id = lapply(seq_len(S), function(t) vapply(out, function(o) o$id[t], 0L)),
       st = lapply(seq_len(S), function(t) vapply(out, function(o) o$st[t], 0L)),
       fpc = lapply(seq_len(S), function(t) vapply(out, function(o) o$fpc[t], 0)))
}

# Keep rows `keep` of a design's per-row parts; its units (PSUs, later
# stages' units) all stay, also those left without rows.
des_drop_rows <- function(des, keep) {
  des$weights <- des$weights[keep]
  des$stratum <- des$stratum[keep]
  des$psu <- des$psu[keep]
  if (!is.null(des$ms)) des$ms$unit <- des$ms$unit[keep]
  if (length(des$stages))
    des$stages <- lapply(des$stages, function(st) {
      for (nm in c("unit", "strata", "pop")) if (!is.null(st[[nm]])) st[[nm]] <- st[[nm]][keep]
      st
    })
  des
}

# ---- calibration of survey objects ------------------------------------------------
#
# survey's svyrecvar() replaces the influence values x (per row: w z, for
# the totals of z) before the design's variance, by the residuals of its
# calibration (x$postStrata):
#   postStratify():  x - psw * (oldw-weighted mean of x / psw in the row's
#                    post-stratum); psw, oldw: weights after and before
#   calibrate():     qr.resid(qr, x / cw) * cw, qr of the model matrix X
#                    times sqrt(v) (v: the weights before, over calibrate()'s
#                    `variance`), cw = wf / sqrt(v), wf the weights after
#   rake():          ten sweeps over the margins m: x - psw_m * (unweighted
#                    mean of x / psw_m in the row's level of m), psw_m the
#                    weights after margin m in rake()'s last iteration
# Each is w z - wf F[g] for a G x K matrix F of fitted values, g the row's
# calibration cell: the form of cal_setup()'s calibrated variance. With rows
# a subset() left out (w = 0, but the full sample's weight wf > 0, as survey
# keeps them) the fit uses the kept rows' z only, and the residual's second
# term runs over all rows. So the state (field survey = TRUE, read by
# cal_setup_survey()) holds per row the cell g, the regression weights v and
# the full weights wf; per cell the model's rows M (G x L); the model's
# continuous columns as numeric auxiliaries u; and for rake() the margins'
# levels and weight ratios per cell (cal_seq_fitted()).
svy_calibration <- function(x, w, arg) {
  ps <- x$postStrata
  if (length(ps) != 1L)
    stopf("'%s' is a survey design calibrated in %d steps (postStratify(), calibrate() or rake() applied one after another); umfrage takes designs calibrated once",
          arg, length(ps))
  p <- ps[[1L]]
  n <- length(w)
  kept <- w > 0
  w_orig <- 1 / apply(as.matrix(x$allprob), 1L, prod)
  same <- function(a, b) all(abs(a - b) <= 1e-8 * pmax(abs(a), abs(b)))
  if (inherits(p, "greg_calibration")) {
    if (!identical(as.numeric(p$stage), 0))
      stopf("'%s' is calibrated within clusters (survey::calibrate(stage = %s)); umfrage takes calibration of the whole sample (stage = 0)",
            arg, format(p$stage))
    if (!inherits(p$qr, "qr"))
      stopf("'%s' is calibrated with survey::calibrate(sparse = TRUE); use sparse = FALSE", arg)
    Xs <- qr.X(p$qr)
    cw <- as.double(p$w)
    if (nrow(Xs) != n || length(cw) != n)
      stopf("'%s': the calibration stored in the survey design has %d rows, the design %d", arg, nrow(Xs), n)
    sv <- ifelse(kept, w / cw, 0)
    wf <- w
    if (any(!kept & w_orig > 0)) {
      # rows a subset() left out: their full weight from the weights before
      # calibration, which must be what calibrate() used (no `variance =`)
      sv0 <- sqrt(w_orig)
      if (!same(sv[kept], sv0[kept]))
        stopf("'%s' is a subset() of a design calibrated with calibrate(variance =) or aggregate.stage =, or calibrated after other reweighting; umfrage cannot recover the left-out rows' weights: calibrate after subsetting, or take the domain as a 'by' variable of the full design",
              arg)
      sv[!kept] <- sv0[!kept]
      wf[!kept] <- cw[!kept] * sv0[!kept]
    }
    X <- Xs / sv
    X[sv == 0, ] <- 0
    return(svy_cal_model(X, sv^2, wf, arg))
  }
  if (inherits(p, "raking")) return(svy_cal_raking(p, w, arg))
  if (!is.null(attr(p, "weights"))) {
    psw <- as.double(attr(p, "weights"))
    oldw <- attr(p, "oldweights")
    oldw <- if (is.null(oldw)) rep(1, n) else as.double(oldw)
    g <- as.integer(p)
    if (length(g) != n || anyNA(g))
      stopf("'%s' is post-stratified with rows outside every post-stratum (postStratify(partial = TRUE)); umfrage needs every row in a post-stratum",
            arg)
    if (!same(psw[kept], w[kept]))
      stopf("'%s': the weights were changed after postStratify(); umfrage cannot read the post-stratification", arg)
    G <- max(g)
    return(list(survey = TRUE, g = g, G = G, M = diag(1, G), v = oldw, wf = psw, u = list(),
                shift = double(), sequential = NULL))
  }
  stopf("'%s' carries a calibration of a kind umfrage does not read (class %s)", arg, q(class(p)[1L]))
}

# The state of a calibration on a model matrix X (rows: calibrate()'s model
# matrix) with regression weights v: columns with few distinct values form
# the cells' model rows M, the others are numeric auxiliaries.
svy_cal_model <- function(X, v, wf, arg) {
  X <- unname(as.matrix(X))
  nd <- apply(X, 2L, function(col) length(unique(col)))
  disc <- nd <= 32L
  if (!any(disc)) disc[which.min(nd)] <- TRUE
  key <- do.call(paste, c(lapply(which(disc), function(j) X[, j]), sep = "\r"))
  g <- match(key, unique(key))
  G <- max(g)
  if (G > 1e5)
    stopf("'%s': the calibration model's categorical columns form %d cells, too many for the calibrated variance", arg, G)
  M <- X[!duplicated(g), disc, drop = FALSE][order(unique(g)), , drop = FALSE]
  u <- lapply(which(!disc), function(j) X[, j])
  # the numeric auxiliaries may be shifted (cal_setup()) when M spans the
  # constant; else they must be non-negative as they are
  spans <- max(abs(qr.resid(qr(M), rep(1, G)))) < 1e-8
  if (length(u) && !spans && any(vapply(u, min, 0) < 0))
    stopf("'%s' is calibrated on a model without intercept whose numeric columns take negative values; umfrage cannot take this calibration", arg)
  list(survey = TRUE, g = g, G = G, M = M, v = v, wf = wf, u = u,
       shift = if (spans) vapply(u, min, 0) else rep(0, length(u)), sequential = NULL)
}

# rake(): cells = joint levels of the margins; per margin its level of
# each cell and wf / psw_m, which is constant within a cell.
svy_cal_raking <- function(p, w, arg) {
  n <- length(w)
  margins <- lapply(p, function(m) as.integer(m))
  if (any(lengths(margins) != n) || any(vapply(margins, anyNA, NA)))
    stopf("'%s' is raked with rows outside every level of a margin; umfrage cannot read the raking", arg)
  psw <- lapply(p, function(m) as.double(attr(m, "weights")))
  wf <- psw[[length(psw)]]
  kept <- w > 0
  if (!all(abs(wf[kept] - w[kept]) <= 1e-8 * abs(wf[kept])))
    stopf("'%s': the weights were changed after rake(); umfrage cannot read the raking", arg)
  key <- do.call(paste, c(margins, sep = "\r"))
  g <- match(key, unique(key))
  G <- max(g)
  first <- !duplicated(g)
  ord <- order(g[first])
  lev <- lapply(margins, function(m) m[first][ord])
  r <- lapply(psw, function(pm) {
    ratio <- ifelse(pm > 0, wf / pm, NA)
    rc <- ratio[first][ord]
    if (anyNA(rc) || any(abs(ratio - rc[g]) > 1e-8 * abs(rc[g]), na.rm = TRUE))
      stopf("'%s': the raking's weights are not constant ratios within the margins' cells; umfrage cannot read the raking", arg)
    rc
  })
  list(survey = TRUE, g = g, G = G, M = NULL, v = rep(1, n), wf = wf, u = list(),
       shift = double(), sequential = list(lev = lev, r = r, sweeps = 10L))
}

# cal_setup() for a survey object's calibration (see svy_calibration()):
# the same fields, from the state's cells, regression weights v and full
# weights wf (on tab()'s weight scale, as w). The entries' passes weight by
# v on the kept rows only (rho = w / wf: 1 kept, 0 left out).
cal_setup_survey <- function(des, x, w, wscale = 1) {
  cl <- des$calibration
  n <- nrow(x)
  if (length(cl$g) != n || (!is.null(w) && length(w) != n))
    stopf("internal error: the survey calibration was made for %d rows, the design has %d", length(cl$g), n)
  wf <- cl$wf * wscale
  rho <- if (is.null(w)) rep(1, n) else ifelse(wf != 0, w / wf, 0)
  dl <- design_layer(des)
  dcodes <- if (is.null(dl)) list() else dl$desc[[3L]]
  nd <- if (is.null(dl)) 1L else dl$nd
  G <- as.integer(cl$G)
  g <- as.integer(cl$g)
  all_d <- .Call(C_cell_stats, c(list(g), dcodes), as.integer(c(G, if (!is.null(dl)) nd)), wf)
  v <- cl$v * weight_scale(cl$v)$f
  W0g <- .Call(C_cell_stats, list(g), G, v)$sum_w
  cal <- list(G = G, M = cl$M, w0 = v * rho, desc = list(0L, G, list(g), 0L, 0L),
              S1 = matrix(all_d$sum_w, G, nd), S2 = matrix(all_d$sum_w2, G, nd), W0g = W0g,
              sequential = cl$sequential)
  if (!length(cl$u)) return(cal)
  aux <- .Call(C_cal_aux, g, G, if (is.null(dl)) NULL else as.integer(dcodes[[1L]]),
               as.integer(nd), as.double(wf), v, cl$u, as.double(cl$shift), !des$clustered)
  p <- length(cl$u)
  c(cal, list(p = p, numeric = paste0(".survey_aux", seq_len(p)), U0g = aux$w0u, UUw = aux$w0uu,
              SU = aux$wu, S2U = aux$w2u,
              S2UU = if (!is.null(aux$w2uu)) array(aux$w2uu, c(nd, p, p)),
              w0u = lapply(aux$rows_w0u, `*`, rho),
              w2u = if (!is.null(aux$rows_w2u)) lapply(aux$rows_w2u, `*`, rho)))
}

# survey::rake()'s variance (svyrecvar(), class "raking"): ten sweeps over
# the margins, each replacing x by x - psw_m * ave(x / psw_m, level of m)
# (an unweighted mean over all rows of the level). With x_i = w_i z_i -
# wf_i F[g_i] and psw_m = wf / r_m (r_m constant per cell), a sweep adds
# to F[g] the level's mean a_l / r_m[g], a_l = sum_{g in l} r_m[g] (Z_g -
# N_g F[g]) / N_l, where Z (G x K): sums of z over the cell's kept rows
# (W0, from the entries' pass weighted 1 on kept rows) and N_g: the cell's
# rows (W0g).
cal_seq_fitted <- function(cal, W0) {
  sq <- cal$sequential
  Z <- t(W0)
  N <- cal$W0g
  F <- matrix(0, nrow(Z), ncol(Z))
  for (it in seq_len(sq$sweeps)) {
    for (m in seq_along(sq$lev)) {
      l <- sq$lev[[m]]
      r <- sq$r[[m]]
      a <- rowsum(r * (Z - N * F), l, reorder = TRUE) / as.vector(rowsum(N, l, reorder = TRUE))
      F <- F + a[match(l, sort(unique(l))), , drop = FALSE] / r
    }
  }
  F
}

# ---- svyrep.design ------------------------------------------------------------------
#
# Onto the replicate-design contract (R/replicate.R): mode "columns" with
# the combined replicate weights W = weights(x, "analysis"), the full-sample
# weights x$pweights, and survey's type, scale, rscales, mse and rho;
# df = degf(x).
from_svyrep <- function(x, arg) {
  if (!requireNamespace("survey", quietly = TRUE))
    stopf("'%s' is a survey replicate design; reading it needs the survey package", arg)
  v <- x$variables
  n <- nrow(v)
  W <- as.matrix(stats::weights(x, type = "analysis"))
  storage.mode(W) <- "double"
  pw <- x$pweights
  if (is.data.frame(pw)) pw <- pw[[1L]]
  pw <- as.double(pw)
  if (nrow(W) != n || length(pw) != n)
    stopf("'%s': the replicate design's weights do not have one row per row of its variables", arg)
  if (anyNA(W) || any(W < 0))
    stopf("'%s': the replicate weights hold NA or negative values (first in replicate %d)",
          arg, which(colSums(is.na(W) | W < 0) > 0)[1L])
  R <- ncol(W)
  type <- as.character(x$type)
  # survey's types (the variance needs only scale, rscales and mse)
  if (length(type) != 1L || !type %in% c("JK1", "JKn", "BRR", "Fay", "bootstrap", "subbootstrap",
                                         "successive-difference", "ACS", "JK2"))
    type <- "other"
  rscales <- as.double(x$rscales)
  if (length(rscales) == 1L) rscales <- rep(rscales, R)
  if (length(rscales) != R)
    stopf("'%s': the replicate design has %d replicates but %d rscales", arg, R, length(rscales))
  mse <- if (is.null(x$mse)) isTRUE(getOption("survey.replicates.mse", FALSE)) else isTRUE(x$mse)
  rep <- list(type = type, R = R, scale = as.double(x$scale), rscales = rscales, mse = mse,
              rho = if (identical(type, "Fay") && !is.null(x$rho)) as.double(x$rho),
              mode = "columns", W = W)
  # R/replicate.R's constructor where it is there (it adds what tab() needs)
  mk <- get0("new_repdesign", envir = topenv(environment(from_svyrep)), inherits = FALSE)
  des <- if (is.function(mk)) mk(v, pw, rep) else
    structure(list(data = v, weights = pw, calibration = NULL, rep = rep), class = "umfrage_repdesign")
  des$rep$df <- as.double(survey::degf(x))  # survey's (svrepdesign(degf =) included)
  des$source <- x
  des
}
