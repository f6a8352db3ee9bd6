/* Re-calibration of replicate weights on cells (issue 17).
 *
 * A replicate design in factor mode gives row i in replicate r the weight
 * base[i] * A[unit[i], r] * F[g[i], r], where g is the row's calibration
 * cell (the joint cell of the margin variables) and F the factor by which
 * replicate r's calibration multiplies the starting weights of cell g. With
 * categorical margins only, raking, post-stratification and calibration
 * with any calibration function give every row of a cell the same factor,
 * so each replicate is calibrated on its G cell totals alone:
 *
 *   C_recal_pairs   one pass over the rows: per (cell, unit) sums of one or
 *                   more per-row values (the starting weights; with numeric
 *                   auxiliaries also base * u and base * u u'), kept sparse
 *                   (only the pairs that occur), units in order;
 *   C_recal_cells   per replicate r: the cell totals s_r = sum over units of
 *                   A[unit, r] times the unit's sums (from the pairs), then
 *                   raking (iterative proportional fitting) or Newton
 *                   calibration (survey's grake(), started at g = 1) on the
 *                   cells to the targets, F[, r] = the cells' factors.
 *                   Replicates run on umfrage_threads() threads, in chunks
 *                   between which interrupts are checked;
 *   C_recal_linear  numeric auxiliaries with the linear calibration function
 *                   and no bounds (survey's regcalibrate()): one Newton step
 *                   from g = 1 solves each replicate exactly, from per-cell
 *                   sums of w, w u and w u u' (all linear in the replicate's
 *                   factors, so the pairs give them), giving per replicate
 *                   the linear predictor per cell (eta) and the numeric
 *                   coefficients (beta): g_i = 1 + eta[g_i] + u_i' beta.
 *
 * Calibration functions (g = calibrated / starting weight, bounds L, U):
 * linear 1 + v, raking exp(v), both truncated to [L, U]; logit
 * L + (U - L) plogis(A v + log((1 - L) / (U - 1))), A = (U - L) / ((1 - L)
 * (U - 1)), as survey's cal.linear, cal.raking, cal.logit.
 */
#include "umfrage.h"

enum { RC_LINEAR = 0, RC_RAKING = 1, RC_LOGIT = 2 };
enum { RC_IPF = 0, RC_NEWTON = 1 };

typedef struct { int method; double L, U, A, la; } rc_fun;

static inline void rc_g(const rc_fun *f, double v, double *g, double *d)
{
    if (f->method == RC_LINEAR) {
        double x = 1 + v;
        *g = x < f->L ? f->L : x > f->U ? f->U : x;
        *d = (x > f->L && x < f->U) ? 1 : 0;
    } else if (f->method == RC_RAKING) {
        /* g' as survey's cal.raking has it: exp(v) for L - 1 < v < U - 1
         * (not where exp(v) is within the bounds), which keeps a level
         * whose cells all reach a bound moving back */
        double e = exp(v);
        *g = e < f->L ? f->L : e > f->U ? f->U : e;
        *d = (v > f->L - 1 && v < f->U - 1) ? e : 0;
    } else {
        double z = f->A * v + f->la, e = exp(-fabs(z)), r = 1 / (1 + e);
        double t = z >= 0 ? r : e * r;
        *g = f->L + (f->U - f->L) * t;
        *d = f->A * (f->U - f->L) * e * r * r;
    }
}

static int rc_int1(SEXP x, const char *what)
{
    if (TYPEOF(x) != INTSXP || XLENGTH(x) != 1 || INTEGER(x)[0] == NA_INTEGER)
        Rf_error("internal error: '%s' must be a single integer", what);
    return INTEGER(x)[0];
}

/* ---- the pass over the rows ------------------------------------------------- */

/* g: cell of each row (1..G), unit: unit of each row (1..U), x: list of
 * per-row double vectors. Returns list(start = offsets of each unit's pairs
 * (U + 1, 0-based), cell = 0-based cell of each pair, sums = npairs x
 * length(x) matrix of the sums of x per pair). Rows are visited unit by
 * unit (a counting sort), each unit's cells summed into a dense scratch
 * row of G; within a pair the rows are added in row order. */
SEXP C_recal_pairs(SEXP g, SEXP Gs, SEXP unit, SEXP Us, SEXP x)
{
    const int G = rc_int1(Gs, "G"), U = rc_int1(Us, "U");
    if (TYPEOF(g) != INTSXP || TYPEOF(unit) != INTSXP || XLENGTH(g) != XLENGTH(unit))
        Rf_error("internal error: 'g' and 'unit' must be integer vectors of the same length");
    if (TYPEOF(x) != VECSXP || XLENGTH(x) < 1)
        Rf_error("internal error: 'x' must be a non-empty list");
    const R_xlen_t n = XLENGTH(g);
    const int nx = (int) XLENGTH(x);
    const double **xv = (const double **) R_alloc(nx, sizeof(double *));
    for (int j = 0; j < nx; j++) {
        SEXP v = VECTOR_ELT(x, j);
        if (TYPEOF(v) != REALSXP || XLENGTH(v) != n)
            Rf_error("internal error: 'x' must hold double vectors of length n");
        xv[j] = REAL(v);
    }
    const int *gp = INTEGER(g), *up = INTEGER(unit);
    R_xlen_t *cnt = (R_xlen_t *) R_alloc((size_t) U + 1, sizeof(R_xlen_t));
    for (int u = 0; u <= U; u++) cnt[u] = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        int u = up[i], c = gp[i];
        if (u == NA_INTEGER || u < 1 || u > U || c == NA_INTEGER || c < 1 || c > G)
            Rf_error("internal error: row %.0f has unit or cell out of range", (double) i + 1);
        cnt[u]++;
    }
    for (int u = 1; u <= U; u++) cnt[u] += cnt[u - 1];      /* cnt[u]: end of unit u */
    R_xlen_t *pos = (R_xlen_t *) R_alloc((size_t) U + 1, sizeof(R_xlen_t));
    for (int u = 0; u < U; u++) pos[u] = cnt[u];             /* start of unit u + 1 */
    R_xlen_t *ord = (R_xlen_t *) R_alloc((size_t) (n > 0 ? n : 1), sizeof(R_xlen_t));
    for (R_xlen_t i = 0; i < n; i++) ord[pos[up[i] - 1]++] = i;
    double maxp = (double) G * (double) U;
    R_xlen_t cap = (double) n < maxp ? n : (R_xlen_t) maxp;
    if (cap < 1) cap = 1;
    int *pcell = (int *) R_alloc((size_t) cap, sizeof(int));
    double *psum = (double *) R_alloc((size_t) cap * nx, sizeof(double));
    double *scr = (double *) R_alloc((size_t) G * nx, sizeof(double));
    int *mark = (int *) R_alloc((size_t) G, sizeof(int)), *touched = (int *) R_alloc((size_t) G, sizeof(int));
    memset(scr, 0, (size_t) G * nx * sizeof(double));
    for (int c = 0; c < G; c++) mark[c] = -1;
    SEXP start = PROTECT(Rf_allocVector(INTSXP, (R_xlen_t) U + 1));
    int *st = INTEGER(start);
    R_xlen_t np = 0;
    for (int u = 0; u < U; u++) {
        if (np > INT_MAX) Rf_error("too many (cell, unit) pairs");
        st[u] = (int) np;
        int nt = 0;
        for (R_xlen_t k = cnt[u]; k < cnt[u + 1]; k++) {
            R_xlen_t i = ord[k];
            int c = gp[i] - 1;
            if (mark[c] != u) { mark[c] = u; touched[nt++] = c; }
            double *s = scr + (size_t) c * nx;
            for (int j = 0; j < nx; j++) s[j] += xv[j][i];
        }
        for (int t = 0; t < nt; t++) {
            int c = touched[t];
            double *s = scr + (size_t) c * nx;
            pcell[np] = c;
            for (int j = 0; j < nx; j++) { psum[(size_t) np * nx + j] = s[j]; s[j] = 0; }
            np++;
        }
        if ((u & 1023) == 1023) R_CheckUserInterrupt();
    }
    if (np > INT_MAX) Rf_error("too many (cell, unit) pairs");
    st[U] = (int) np;
    SEXP cell = PROTECT(Rf_allocVector(INTSXP, np));
    SEXP sums = PROTECT(Rf_allocMatrix(REALSXP, (int) np, nx));
    memcpy(INTEGER(cell), pcell, (size_t) np * sizeof(int));
    double *sp = REAL(sums);
    for (R_xlen_t p = 0; p < np; p++)
        for (int j = 0; j < nx; j++) sp[p + (size_t) j * np] = psum[(size_t) p * nx + j];
    const char *nm[] = {"start", "cell", "sums"};
    SEXP ans = PROTECT(umf_named_list(nm, 3));
    SET_VECTOR_ELT(ans, 0, start);
    SET_VECTOR_ELT(ans, 1, cell);
    SET_VECTOR_ELT(ans, 2, sums);
    UNPROTECT(4);
    return ans;
}

/* ---- calibration of one replicate on the cells ------------------------------- */

typedef struct {
    int G, U, R, M, K, method, maxit;
    const int *start, *cell, *cc;     /* cc: G x M, column of each cell per margin (-1 none) */
    const double *sums, *A, *t;       /* pair sums (column 0), A (U x R), targets (K) */
    double eps, total;
    rc_fun f;
} rc_prob;

typedef struct { double *s, *lev, *lam, *step, *ach, *T, *dc; } rc_work;

/* Cell totals of replicate r: sum over units of A[u, r] times the unit's
 * (cell) sums (column j of the pairs' sums). */
static void rc_cell_totals(const rc_prob *P, int r, const double *sums, double *s)
{
    memset(s, 0, (size_t) P->G * sizeof(double));
    const double *a = P->A + (size_t) r * P->U;
    for (int u = 0; u < P->U; u++) {
        const double f = a[u];
        if (f == 0) continue;
        for (int p = P->start[u]; p < P->start[u + 1]; p++) s[P->cell[p]] += sums[p] * f;
    }
}

/* Totals per column of the cells' weights s * fac. */
static void rc_col_totals(const rc_prob *P, const double *s, const double *fac, double *ach)
{
    for (int k = 0; k < P->K; k++) ach[k] = 0;
    for (int m = 0; m < P->M; m++) {
        const int *cm = P->cc + (size_t) m * P->G;
        for (int c = 0; c < P->G; c++) if (cm[c] >= 0) ach[cm[c]] += s[c] * fac[c];
    }
}

/* Largest relative error of raking (wt_rake()'s criterion: |achieved -
 * target| / target, against the total for a target of 0); *worst its column. */
static double rc_rake_error(const rc_prob *P, const double *ach, int *worst)
{
    double mx = 0;
    for (int k = 0; k < P->K; k++) {
        double d = fabs(ach[k] - P->t[k]) / (P->t[k] > 0 ? P->t[k] : P->total);
        if (!(d <= mx)) { mx = d; *worst = k; }
    }
    return mx;
}

/* Iterative proportional fitting on the cells; fac (G) ends as the factors.
 * Returns the sweeps; *err the final largest relative error. */
static int rc_ipf(const rc_prob *P, rc_work *W, double *fac, double *err, int *worst)
{
    const int G = P->G, K = P->K;
    for (int c = 0; c < G; c++) fac[c] = 1;
    int it = 0;
    for (;;) {
        rc_col_totals(P, W->s, fac, W->ach);
        *err = rc_rake_error(P, W->ach, worst);
        if (*err <= P->eps || it >= P->maxit) break;
        for (int m = 0; m < P->M; m++) {
            const int *cm = P->cc + (size_t) m * G;
            for (int k = 0; k < K; k++) W->lev[k] = 0;
            for (int c = 0; c < G; c++) if (cm[c] >= 0) W->lev[cm[c]] += W->s[c] * fac[c];
            for (int k = 0; k < K; k++) W->lev[k] = W->lev[k] > 0 ? P->t[k] / W->lev[k] : 1;
            for (int c = 0; c < G; c++) if (cm[c] >= 0) fac[c] *= W->lev[cm[c]];
        }
        it++;
    }
    return it;
}

/* Solve T x = b for symmetric positive semi-definite T (K x K, overwritten
 * by its LDL' factor): a column whose pivot is below 1e-11 of its diagonal
 * (dependent on earlier columns, or without weight) gets x = 0, which
 * solves a consistent system (as survey's ginv() step does). */
static void rc_solve(int K, double *T, const double *b, double *x)
{
    for (int j = 0; j < K; j++) {
        double *Lj = T + (size_t) j * K;          /* column j: L[i, j], i > j; D at [j, j] */
        double djj = Lj[j];
        double d = djj;
        for (int k = 0; k < j; k++) {
            double l = T[j + (size_t) k * K];
            d -= l * l * T[k + (size_t) k * K];
        }
        if (!(djj > 0) || !(d > 1e-11 * djj)) {
            Lj[j] = 0;
            for (int i = j + 1; i < K; i++) Lj[i] = 0;
            /* zero the row too, so later columns see no dependence on j */
            for (int k = 0; k < j; k++) T[j + (size_t) k * K] = 0;
            continue;
        }
        Lj[j] = d;
        for (int i = j + 1; i < K; i++) {
            double v = T[j + (size_t) i * K];     /* upper triangle: the original T[j, i] */
            for (int k = 0; k < j; k++)
                v -= T[i + (size_t) k * K] * T[j + (size_t) k * K] * T[k + (size_t) k * K];
            Lj[i] = v / d;
        }
    }
    for (int j = 0; j < K; j++) {
        double v = b[j];
        for (int k = 0; k < j; k++) v -= T[j + (size_t) k * K] * x[k];
        x[j] = v;
    }
    for (int j = 0; j < K; j++) x[j] = T[j + (size_t) j * K] > 0 ? x[j] / T[j + (size_t) j * K] : 0;
    for (int j = K - 1; j >= 0; j--) {
        double v = x[j];
        for (int i = j + 1; i < K; i++) v -= T[i + (size_t) j * K] * x[i];
        x[j] = v;
    }
}

/* g and g' of every cell at lam; 0 if one with weight is not finite. */
static int rc_eval(const rc_prob *P, const double *s, const double *lam, double *gc, double *dc)
{
    int ok = 1;
    for (int c = 0; c < P->G; c++) {
        double v = 0;
        for (int m = 0; m < P->M; m++) {
            int k = P->cc[c + (size_t) m * P->G];
            if (k >= 0) v += lam[k];
        }
        rc_g(&P->f, v, gc + c, dc + c);
        if (s[c] != 0 && (!R_FINITE(gc[c]) || !R_FINITE(dc[c]))) ok = 0;
    }
    return ok;
}

/* survey's convergence measure: max |target - achieved| / (1 + |target|). */
static double rc_cal_error(const rc_prob *P, const double *ach, int *worst)
{
    double mx = 0;
    for (int k = 0; k < P->K; k++) {
        double d = fabs(P->t[k] - ach[k]) / (1 + fabs(P->t[k]));
        if (!(d <= mx)) { mx = d; *worst = k; }
    }
    return mx;
}

/* One Newton step's direction at the current g' (dc): T step = target -
 * achieved (ach must hold the achieved totals). */
static void rc_newton_step(const rc_prob *P, rc_work *W)
{
    const int K = P->K, G = P->G, M = P->M;
    memset(W->T, 0, (size_t) K * K * sizeof(double));
    for (int c = 0; c < G; c++) {
        double v = W->s[c] * W->dc[c];
        if (v == 0) continue;
        for (int a = 0; a < M; a++) {
            int ka = P->cc[c + (size_t) a * G];
            if (ka < 0) continue;
            for (int b = 0; b < M; b++) {
                int kb = P->cc[c + (size_t) b * G];
                if (kb >= 0) W->T[ka + (size_t) kb * K] += v;
            }
        }
    }
    for (int k = 0; k < K; k++) W->lev[k] = P->t[k] - W->ach[k];
    rc_solve(K, W->T, W->lev, W->step);
}

/* Sum of squared relative misfits (the line search's measure). */
static double rc_cal_ss(const rc_prob *P, const double *ach)
{
    double ss = 0;
    for (int k = 0; k < P->K; k++) {
        double d = (P->t[k] - ach[k]) / (1 + fabs(P->t[k]));
        ss += d * d;
    }
    return ss;
}

/* Newton calibration on the cells from lam = 0 (g = 1), as survey's grake()
 * for a replicate, with a safeguard survey lacks: a step that leaves some g
 * not finite or does not reduce the squared misfits is halved (up to 30
 * times), so that replicates far from the full sample still converge (to
 * the same solution, which is unique). Convergence when every column is
 * within eps (survey's measure), then one more step (as wt_calibrate()
 * does), kept if it does not make the error worse. gc ends as the factors.
 * Returns the iterations. */
static int rc_newton(const rc_prob *P, rc_work *W, double *gc, double *err, int *worst,
                     int *conv)
{
    const int K = P->K;
    for (int k = 0; k < K; k++) W->lam[k] = 0;
    rc_eval(P, W->s, W->lam, gc, W->dc);
    rc_col_totals(P, W->s, gc, W->ach);
    double ss = rc_cal_ss(P, W->ach);
    *err = rc_cal_error(P, W->ach, worst);
    int it = 0;
    *conv = 0;
    while (!(*conv = *err < P->eps) && it < P->maxit) {
        it++;
        rc_newton_step(P, W);
        for (int k = 0; k < K; k++) W->lam[k] += W->step[k];
        for (int h = 0;; h++) {
            int ok = rc_eval(P, W->s, W->lam, gc, W->dc);
            double ss2 = R_PosInf;
            if (ok) {
                rc_col_totals(P, W->s, gc, W->ach);
                ss2 = rc_cal_ss(P, W->ach);
            }
            if ((ok && ss2 < ss) || (ok && h >= 30)) { ss = ss2; break; }
            if (h >= 60) break;                 /* g not finite even so: give up */
            for (int k = 0; k < K; k++) { W->step[k] /= 2; W->lam[k] -= W->step[k]; }
        }
        if (!R_FINITE(ss)) break;
        *err = rc_cal_error(P, W->ach, worst);
    }
    if (*conv) {
        /* one more step, from the converged point */
        rc_newton_step(P, W);
        double *keep = W->lev;                  /* lev is free again after the step */
        for (int k = 0; k < K; k++) { keep[k] = W->lam[k]; W->lam[k] += W->step[k]; }
        int ok = rc_eval(P, W->s, W->lam, gc, W->dc);
        int w2 = 0;
        double e2 = R_PosInf;
        if (ok) {
            rc_col_totals(P, W->s, gc, W->ach);
            e2 = rc_cal_error(P, W->ach, &w2);
        }
        if (ok && e2 <= *err) { *err = e2; *worst = w2; }
        else {
            for (int k = 0; k < K; k++) W->lam[k] = keep[k];
            rc_eval(P, W->s, W->lam, gc, W->dc);
        }
    }
    return it;
}

static double rc_num(SEXP x, const char *what)
{
    if (!Rf_isReal(x) || XLENGTH(x) < 1) Rf_error("internal error: '%s' must be double", what);
    return REAL(x)[0];
}

/* start, cell, sums: from C_recal_pairs (column 0 of sums used); A: U x R
 * replicate factors per unit; Gs: cells; cc: G x M integer matrix, 0-based
 * column of each cell in each margin (-1: none); targets: K; method: 0
 * raking (IPF; post-stratification is raking on one margin), 1 Newton
 * calibration; calfun: 0 linear, 1 raking, 2 logit; bounds: c(L, U);
 * control: list(epsilon, maxit). Returns list(F = G x R factors,
 * iterations, converged, max_error, worst = 0-based column of the largest
 * error), per replicate. */
SEXP C_recal_cells(SEXP start, SEXP cell, SEXP sums, SEXP A, SEXP Gs, SEXP cc,
                   SEXP targets, SEXP method, SEXP calfun, SEXP bounds, SEXP control)
{
    rc_prob P;
    P.G = rc_int1(Gs, "G");
    if (TYPEOF(start) != INTSXP || XLENGTH(start) < 2)
        Rf_error("internal error: 'start' must be an integer vector");
    P.U = (int) XLENGTH(start) - 1;
    if (TYPEOF(cell) != INTSXP || !Rf_isReal(sums) || !Rf_isMatrix(sums) ||
        Rf_nrows(sums) != XLENGTH(cell) || INTEGER(start)[P.U] != XLENGTH(cell))
        Rf_error("internal error: 'cell' and 'sums' do not match");
    if (!Rf_isReal(A) || !Rf_isMatrix(A) || Rf_nrows(A) != P.U)
        Rf_error("internal error: 'A' must be a double matrix with one row per unit");
    P.R = Rf_ncols(A);
    if (TYPEOF(cc) != INTSXP || !Rf_isMatrix(cc) || Rf_nrows(cc) != P.G)
        Rf_error("internal error: 'cc' must be an integer matrix with one row per cell");
    P.M = Rf_ncols(cc);
    if (!Rf_isReal(targets)) Rf_error("internal error: 'targets' must be double");
    P.K = (int) XLENGTH(targets);
    for (R_xlen_t e = 0; e < XLENGTH(cc); e++) {
        int k = INTEGER(cc)[e];
        if (k < -1 || k >= P.K) Rf_error("internal error: 'cc' out of range");
    }
    for (R_xlen_t p = 0; p < XLENGTH(cell); p++)
        if (INTEGER(cell)[p] < 0 || INTEGER(cell)[p] >= P.G) Rf_error("internal error: 'cell' out of range");
    P.method = rc_int1(method, "method");
    int cf = rc_int1(calfun, "calfun");
    if (!Rf_isReal(bounds) || XLENGTH(bounds) != 2) Rf_error("internal error: 'bounds'");
    if (TYPEOF(control) != VECSXP || XLENGTH(control) != 2) Rf_error("internal error: 'control'");
    P.eps = rc_num(VECTOR_ELT(control, 0), "epsilon");
    P.maxit = (int) rc_num(VECTOR_ELT(control, 1), "maxit");
    P.start = INTEGER(start); P.cell = INTEGER(cell); P.cc = INTEGER(cc);
    P.sums = REAL(sums); P.A = REAL(A); P.t = REAL(targets);
    P.f.method = cf; P.f.L = REAL(bounds)[0]; P.f.U = REAL(bounds)[1];
    P.f.A = P.f.la = 0;
    if (cf == RC_LOGIT) {
        P.f.A = (P.f.U - P.f.L) / ((P.f.U - 1) * (1 - P.f.L));
        P.f.la = log((1 - P.f.L) / (P.f.U - 1));
    }
    double tot = 0;
    for (int k = 0; k < P.K; k++) tot += P.t[k];
    P.total = P.M > 0 && tot > 0 ? tot / P.M : 1;

    SEXP F = PROTECT(Rf_allocMatrix(REALSXP, P.G, P.R));
    SEXP iters = PROTECT(Rf_allocVector(INTSXP, P.R));
    SEXP conv = PROTECT(Rf_allocVector(LGLSXP, P.R));
    SEXP maxerr = PROTECT(Rf_allocVector(REALSXP, P.R));
    SEXP worst = PROTECT(Rf_allocVector(INTSXP, P.R));
    const R_xlen_t work = (R_xlen_t) XLENGTH(cell) + (R_xlen_t) P.G * (P.M + 1) * 8;
    int nth = umf_threads_for(work * (R_xlen_t) P.R / 8);
    if (nth > P.R) nth = P.R > 0 ? P.R : 1;
    const size_t per = (size_t) 2 * P.G + (size_t) 5 * P.K + (size_t) P.K * P.K;
    double *buf = (double *) R_alloc((size_t) nth * per + 1, sizeof(double));
    int chunk = 16 * nth;
    /* R's accessors are not called inside the parallel region */
    double *Fp = REAL(F), *errp = REAL(maxerr);
    int *itp = INTEGER(iters), *cvp = LOGICAL(conv), *wkp = INTEGER(worst);
    for (int from = 0; from < P.R; from += chunk) {
        int to = from + chunk < P.R ? from + chunk : P.R;
        #pragma omp parallel for num_threads(nth) schedule(dynamic)
        for (int r = from; r < to; r++) {
            double *b = buf + (size_t) omp_get_thread_num() * per;
            rc_work W = { b, b + P.G, b + P.G + P.K, b + P.G + 2 * P.K, b + P.G + 3 * P.K,
                          b + P.G + 4 * P.K, b + P.G + 4 * P.K + (size_t) P.K * P.K };
            double *fac = Fp + (size_t) r * P.G;
            double err = 0;
            int wk = 0, cv = 0, it;
            rc_cell_totals(&P, r, P.sums, W.s);
            if (P.method == RC_IPF) {
                it = rc_ipf(&P, &W, fac, &err, &wk);
                cv = err <= P.eps;
            } else {
                it = rc_newton(&P, &W, fac, &err, &wk, &cv);
            }
            /* cells without weight in this replicate: any finite factor */
            for (int c = 0; c < P.G; c++) if (!R_FINITE(fac[c]) && W.s[c] == 0) fac[c] = 1;
            itp[r] = it;
            cvp[r] = cv;
            errp[r] = err;
            wkp[r] = wk;
        }
        R_CheckUserInterrupt();
    }
    const char *nm[] = {"F", "iterations", "converged", "max_error", "worst"};
    SEXP ans = PROTECT(umf_named_list(nm, 5));
    SET_VECTOR_ELT(ans, 0, F);
    SET_VECTOR_ELT(ans, 1, iters);
    SET_VECTOR_ELT(ans, 2, conv);
    SET_VECTOR_ELT(ans, 3, maxerr);
    SET_VECTOR_ELT(ans, 4, worst);
    UNPROTECT(6);
    return ans;
}

/* ---- numeric auxiliaries: linear calibration without bounds ------------------ */

/* start, cell, sums: C_recal_pairs with x = (base, base u_1, ..., base u_p);
 * uu: U x p(p+1)/2 per unit sums of base u_j u_k (j <= k, packed by
 * columns of the upper triangle: (1,1), (1,2), (2,2), ...); A: U x R; cc: G x
 * M; targets: K categorical then p numeric. Per replicate one Newton step
 * from g = 1 (exact for the linear function: survey's regcalibrate()):
 * lambda = T^- (targets - achieved). Returns list(eta = G x R, beta = p x R,
 * max_error = per replicate, survey's measure at the result). */
SEXP C_recal_linear(SEXP start, SEXP cell, SEXP sums, SEXP uu, SEXP A, SEXP Gs, SEXP cc,
                    SEXP targets)
{
    const int G = rc_int1(Gs, "G");
    if (TYPEOF(start) != INTSXP || XLENGTH(start) < 2 || TYPEOF(cell) != INTSXP ||
        !Rf_isReal(sums) || !Rf_isMatrix(sums) || Rf_nrows(sums) != XLENGTH(cell))
        Rf_error("internal error: pairs");
    const int U = (int) XLENGTH(start) - 1, p = Rf_ncols(sums) - 1, q = p * (p + 1) / 2;
    if (p < 1 || !Rf_isReal(uu) || !Rf_isMatrix(uu) || Rf_nrows(uu) != U || Rf_ncols(uu) != q)
        Rf_error("internal error: 'uu'");
    if (!Rf_isReal(A) || !Rf_isMatrix(A) || Rf_nrows(A) != U)
        Rf_error("internal error: 'A'");
    if (TYPEOF(cc) != INTSXP || !Rf_isMatrix(cc) || Rf_nrows(cc) != G)
        Rf_error("internal error: 'cc'");
    const int R = Rf_ncols(A), M = Rf_ncols(cc), Kp = (int) XLENGTH(targets), K = Kp - p;
    if (!Rf_isReal(targets) || K < 0) Rf_error("internal error: 'targets'");
    const int *st = INTEGER(start), *cl = INTEGER(cell), *ccp = INTEGER(cc);
    for (R_xlen_t e = 0; e < XLENGTH(cc); e++)
        if (ccp[e] < -1 || ccp[e] >= K) Rf_error("internal error: 'cc' out of range");
    for (R_xlen_t e = 0; e < XLENGTH(cell); e++)
        if (cl[e] < 0 || cl[e] >= G) Rf_error("internal error: 'cell' out of range");
    if (st[U] != XLENGTH(cell)) Rf_error("internal error: 'start'");
    const double *S = REAL(sums), *UU = REAL(uu), *Ap = REAL(A), *t = REAL(targets);
    const R_xlen_t np = XLENGTH(cell);
    SEXP eta = PROTECT(Rf_allocMatrix(REALSXP, G, R));
    SEXP beta = PROTECT(Rf_allocMatrix(REALSXP, p, R));
    SEXP merr = PROTECT(Rf_allocVector(REALSXP, R));
    const R_xlen_t work = np * (1 + p) + (R_xlen_t) G * M * M;
    int nth = umf_threads_for(work * (R_xlen_t) R / 8);
    if (nth > R) nth = R > 0 ? R : 1;
    const size_t per = (size_t) G * (1 + p) + q + (size_t) 4 * Kp + (size_t) Kp * Kp;
    double *buf = (double *) R_alloc((size_t) nth * per + 1, sizeof(double));
    int chunk = 16 * nth;
    double *etap = REAL(eta), *betap = REAL(beta), *merrp = REAL(merr);
    for (int from = 0; from < R; from += chunk) {
        int to = from + chunk < R ? from + chunk : R;
        #pragma omp parallel for num_threads(nth) schedule(dynamic)
        for (int r = from; r < to; r++) {
            double *b = buf + (size_t) omp_get_thread_num() * per;
            double *sc = b, *uur = b + (size_t) G * (1 + p), *ach = uur + q, *mis = ach + Kp,
                   *lam = mis + Kp, *chk = lam + Kp, *T = chk + Kp;
            const double *a = Ap + (size_t) r * U;
            memset(sc, 0, ((size_t) G * (1 + p) + q) * sizeof(double));
            for (int u = 0; u < U; u++) {
                const double f = a[u];
                if (f == 0) continue;
                for (int pp = st[u]; pp < st[u + 1]; pp++) {
                    double *o = sc + (size_t) cl[pp] * (1 + p);
                    for (int j = 0; j <= p; j++) o[j] += S[pp + (size_t) j * np] * f;
                }
                for (int j = 0; j < q; j++) uur[j] += UU[u + (size_t) j * U] * f;
            }
            /* T and the achieved totals at g = 1 */
            memset(T, 0, (size_t) Kp * Kp * sizeof(double));
            for (int k = 0; k < Kp; k++) ach[k] = 0;
            for (int c = 0; c < G; c++) {
                const double *o = sc + (size_t) c * (1 + p);
                if (o[0] == 0) {
                    int nz = 0;
                    for (int j = 1; j <= p; j++) if (o[j] != 0) nz = 1;
                    if (!nz) continue;
                }
                for (int m1 = 0; m1 < M; m1++) {
                    int k1 = ccp[c + (size_t) m1 * G];
                    if (k1 < 0) continue;
                    ach[k1] += o[0];
                    for (int m2 = 0; m2 < M; m2++) {
                        int k2 = ccp[c + (size_t) m2 * G];
                        if (k2 >= 0) T[k1 + (size_t) k2 * Kp] += o[0];
                    }
                    for (int j = 0; j < p; j++) {
                        T[k1 + (size_t) (K + j) * Kp] += o[1 + j];
                        T[(K + j) + (size_t) k1 * Kp] += o[1 + j];
                    }
                }
                for (int j = 0; j < p; j++) ach[K + j] += o[1 + j];
            }
            for (int j = 0, e = 0; j < p; j++)
                for (int k = 0; k <= j; k++, e++) {
                    /* packed upper triangle by columns: element (k, j), k <= j */
                    T[(K + k) + (size_t) (K + j) * Kp] = uur[e];
                    T[(K + j) + (size_t) (K + k) * Kp] = uur[e];
                }
            for (int k = 0; k < Kp; k++) mis[k] = t[k] - ach[k];
            rc_solve(Kp, T, mis, lam);
            double *et = etap + (size_t) r * G, *be = betap + (size_t) r * p;
            for (int c = 0; c < G; c++) {
                double v = 0;
                for (int m = 0; m < M; m++) {
                    int k = ccp[c + (size_t) m * G];
                    if (k >= 0) v += lam[k];
                }
                et[c] = v;
            }
            for (int j = 0; j < p; j++) be[j] = lam[K + j];
            /* the achieved totals at the result, for the check */
            for (int k = 0; k < Kp; k++) chk[k] = 0;
            for (int c = 0; c < G; c++) {
                const double *o = sc + (size_t) c * (1 + p);
                double ub = 0;
                for (int j = 0; j < p; j++) ub += o[1 + j] * be[j];
                double tot = o[0] * (1 + et[c]) + ub;
                for (int m = 0; m < M; m++) {
                    int k = ccp[c + (size_t) m * G];
                    if (k >= 0) chk[k] += tot;
                }
                for (int j = 0; j < p; j++) chk[K + j] += o[1 + j] * (1 + et[c]);
            }
            for (int j = 0, e = 0; j < p; j++)
                for (int k = 0; k <= j; k++, e++) {
                    chk[K + j] += uur[e] * be[k];
                    if (k != j) chk[K + k] += uur[e] * be[j];
                }
            double mx = 0;
            for (int k = 0; k < Kp; k++) {
                double d = fabs(t[k] - chk[k]) / (1 + fabs(t[k]));
                if (!(d <= mx)) mx = d;
            }
            merrp[r] = mx;
        }
        R_CheckUserInterrupt();
    }
    const char *nm[] = {"eta", "beta", "max_error"};
    SEXP ans = PROTECT(umf_named_list(nm, 3));
    SET_VECTOR_ELT(ans, 0, eta);
    SET_VECTOR_ELT(ans, 1, beta);
    SET_VECTOR_ELT(ans, 2, merr);
    UNPROTECT(4);
    return ans;
}
