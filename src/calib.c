/* Calibration (generalised regression with a distance function) and weight
 * trimming.
 *
 * Calibration finds g-weights w_i = w0_i g(x_i' lambda) whose totals of the
 * auxiliaries x equal the targets, by Newton iterations on lambda (as
 * survey::calibrate's grake): T(lambda) = sum w0 g'(u) x x', step =
 * pinv(T) (targets - achieved). The auxiliaries are the indicators of the
 * levels of categorical margins, handled through cell codes, and numeric
 * columns. With categorical margins only, g is constant within a cell, so
 * every iteration works on per-cell sums of the starting weights: one pass
 * over the rows to make the cells, one to map g back. With numeric
 * auxiliaries each iteration makes one pass over the rows that accumulates
 * per-cell sums of w0 g, w0 g', w0 g x, w0 g' x and w0 g' x x'.
 *
 * Distance functions (g = final / starting weight, bounds L < 1 < U):
 *   linear  g = 1 + u, truncated to [L, U]
 *   raking  g = exp(u), truncated to [L, U]
 *   logit   g = L + (U - L) t, t = plogis(A u + log((1 - L) / (U - 1))),
 *           A = (U - L) / ((1 - L)(U - 1)); g stays strictly inside (L, U).
 */
#define USE_FC_LEN_T
#include "umfrage.h"
#include <math.h>
#include <Rmath.h>
#include <R_ext/Lapack.h>
#ifndef FCONE
#define FCONE
#endif

enum { CM_LINEAR = 0, CM_RAKING = 1, CM_LOGIT = 2 };
enum { CS_OK = 0, CS_NA_CODE = 1, CS_BAD_WEIGHT = 2, CS_NO_TARGET = 3, CS_NO_WEIGHT = 4,
       CS_COLLINEAR = 5, CS_BOUNDS = 6, CS_STALLED = 7, CS_MAXIT = 8, CS_INCONSISTENT = 9,
       CS_BAD_X = 10 };

typedef struct {
    int method;
    double L, U, A, la;   /* logit: A and log((1 - L) / (U - 1)) */
} calfun;

static inline void cal_g(const calfun *f, double u, double *g, double *d)
{
    if (f->method == CM_LINEAR) {
        double v = 1 + u;
        *g = v < f->L ? f->L : v > f->U ? f->U : v;
        *d = (v > f->L && v < f->U) ? 1 : 0;
    } else if (f->method == CM_RAKING) {
        double e = exp(u);
        *g = e < f->L ? f->L : e > f->U ? f->U : e;
        *d = (e > f->L && e < f->U) ? e : 0;
    } else {
        double z = f->A * u + f->la, t;
        if (z >= 0) t = 1 / (1 + exp(-z));
        else { double ez = exp(z); t = ez / (1 + ez); }
        *g = f->L + (f->U - f->L) * t;
        *d = f->A * (f->U - f->L) * t * (1 - t);
    }
}

typedef struct {
    R_xlen_t n;
    int ncell, M, q, p, pc;     /* cells, margins, numeric, columns, categorical columns */
    const int *cid;             /* cell of each row */
    const double *w0;           /* NULL: all 1 */
    const double **x;           /* numeric auxiliaries */
    const int *cellcol;         /* ncell x M: column of each margin, -1 none */
    const double *W0;           /* per cell sum of w0 */
    int width;                  /* per-cell accumulator width */
    int nth;
} calprob;

/* Per-cell sums at lambda: [w0 g, w0 g', (w0 g x_j), (w0 g' x_j), (w0 g' x_j x_k, j <= k)].
 * Returns 0 if some g or g' is not finite. */
static int cal_accumulate(const calprob *P, const calfun *f, const double *lambda,
                          double *lamcell, double *acc, double *tacc)
{
    const int ncell = P->ncell, M = P->M, q = P->q, W = P->width;
    for (int c = 0; c < ncell; c++) {
        double s = 0;
        for (int m = 0; m < M; m++) {
            int k = P->cellcol[(size_t) c * M + m];
            if (k >= 0) s += lambda[k];
        }
        lamcell[c] = s;
    }
    umf_zero(acc, (size_t) ncell * W);
    int ok = 1;
    if (q == 0) {
        for (int c = 0; c < ncell; c++) {
            double g, d;
            cal_g(f, lamcell[c], &g, &d);
            if (!R_FINITE(g) || !R_FINITE(d)) ok = 0;
            acc[(size_t) c * W] = P->W0[c] * g;
            acc[(size_t) c * W + 1] = P->W0[c] * d;
        }
        return ok;
    }
    const double *lx = lambda + P->pc;
    const int nth = P->nth;
    umf_zero(tacc, (size_t) nth * ncell * W);
    const void *vmax = vmaxget();      /* tok is released on return */
    int *tok = (int *) R_alloc(nth, sizeof(int));
    for (int t = 0; t < nth; t++) tok[t] = 1;
    for (R_xlen_t from = 0; from < P->n; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < P->n ? from + UMF_CHUNK : P->n;
        #pragma omp parallel num_threads(nth)
        {
            int t = omp_get_thread_num();
            double *a = tacc + (size_t) t * ncell * W;
            #pragma omp for schedule(static)
            for (R_xlen_t i = from; i < to; i++) {
                double w = P->w0 ? P->w0[i] : 1.0;
                if (w == 0) continue;
                int c = P->cid[i];
                double u = lamcell[c];
                for (int j = 0; j < q; j++) u += lx[j] * P->x[j][i];
                double g, d;
                cal_g(f, u, &g, &d);
                if (!isfinite(g) || !isfinite(d)) tok[t] = 0;   /* no R API here */
                double *ac = a + (size_t) c * W, wg = w * g, wd = w * d;
                ac[0] += wg;
                ac[1] += wd;
                int o = 2 + 2 * q;
                for (int j = 0; j < q; j++) {
                    double xj = P->x[j][i];
                    ac[2 + j] += wg * xj;
                    ac[2 + q + j] += wd * xj;
                    for (int k = j; k < q; k++) ac[o++] += wd * xj * P->x[k][i];
                }
            }
        }
        R_CheckUserInterrupt();
    }
    for (int t = 0; t < nth; t++) {
        if (!tok[t]) ok = 0;
        const double *a = tacc + (size_t) t * ncell * W;
        for (size_t e = 0; e < (size_t) ncell * W; e++) acc[e] += a[e];
    }
    vmaxset(vmax);
    return ok;
}

/* Achieved totals (p) and T = X' diag(w0 g') X (p x p, full) from per-cell sums. */
static void cal_assemble(const calprob *P, const double *acc, double *ach, double *T)
{
    const int p = P->p, pc = P->pc, M = P->M, q = P->q, W = P->width;
    memset(ach, 0, p * sizeof(double));
    memset(T, 0, (size_t) p * p * sizeof(double));
    for (int c = 0; c < P->ncell; c++) {
        const double *ac = acc + (size_t) c * W;
        if (ac[0] == 0 && ac[1] == 0 && P->W0[c] == 0) continue;
        const int *cc = P->cellcol + (size_t) c * M;
        for (int m = 0; m < M; m++) {
            int k = cc[m];
            if (k < 0) continue;
            ach[k] += ac[0];
            for (int m2 = 0; m2 < M; m2++) {
                int l = cc[m2];
                if (l >= 0) T[k + (size_t) p * l] += ac[1];
            }
            for (int j = 0; j < q; j++) {
                T[k + (size_t) p * (pc + j)] += ac[2 + q + j];
                T[(pc + j) + (size_t) p * k] += ac[2 + q + j];
            }
        }
        int o = 2 + 2 * q;
        for (int j = 0; j < q; j++) {
            ach[pc + j] += ac[2 + j];
            for (int k = j; k < q; k++, o++) {
                T[(pc + j) + (size_t) p * (pc + k)] += ac[o];
                if (k != j) T[(pc + k) + (size_t) p * (pc + j)] += ac[o];
            }
        }
    }
}

/* Symmetric eigen-decomposition (values ascending, vectors in A). */
static int sym_eigen(double *A, int p, double *val)
{
    int info = 0, lwork = -1;
    double wq;
    F77_CALL(dsyev)("V", "L", &p, A, &p, val, &wq, &lwork, &info FCONE FCONE);
    lwork = (int) wq;
    const void *vmax = vmaxget();      /* one solve per Newton step */
    double *work = (double *) R_alloc(lwork > 1 ? lwork : 1, sizeof(double));
    F77_CALL(dsyev)("V", "L", &p, A, &p, val, work, &lwork, &info FCONE FCONE);
    vmaxset(vmax);
    return info;
}

/* step = pinv(T) r, with MASS::ginv's tolerance (256 eps of the largest). */
static int pinv_solve(const double *T, int p, const double *r, double *step, double *E, double *val)
{
    memcpy(E, T, (size_t) p * p * sizeof(double));
    if (sym_eigen(E, p, val) != 0) return 0;
    double vmax = 0;
    for (int i = 0; i < p; i++) if (fabs(val[i]) > vmax) vmax = fabs(val[i]);
    for (int i = 0; i < p; i++) step[i] = 0;
    for (int k = 0; k < p; k++) {
        if (!(fabs(val[k]) > 256 * DBL_EPSILON * vmax)) continue;
        const double *v = E + (size_t) p * k;
        double s = 0;
        for (int i = 0; i < p; i++) s += v[i] * r[i];
        s /= val[k];
        for (int i = 0; i < p; i++) step[i] += s * v[i];
    }
    return 1;
}

static SEXP cal_result(int status, const double *info, int ninfo)
{
    const char *nm[] = {"status", "info"};
    SEXP ans = PROTECT(umf_named_list(nm, 2));
    SET_VECTOR_ELT(ans, 0, Rf_ScalarInteger(status));
    SEXP in = PROTECT(Rf_allocVector(REALSXP, ninfo));
    for (int i = 0; i < ninfo; i++) REAL(in)[i] = info[i];
    SET_VECTOR_ELT(ans, 1, in);
    UNPROTECT(2);
    return ans;
}

/* codes, nlev: the margin variables' codes (as C_rake); margins: list of
 * 0-based variable indices per margin; targets: per margin a double vector
 * over its joint levels (first variable fastest; NA = no target); xnum:
 * list of numeric auxiliaries; xtarget: their totals; method: 0 linear, 1
 * raking, 2 logit; bounds: c(L, U); epsilon, maxit. Returns list(status,
 * info) and, when status is 0, the weights and diagnostics. */
SEXP C_calibrate(SEXP codes, SEXP nlev, SEXP w0, SEXP margins, SEXP targets, SEXP xnum,
                 SEXP xtarget, SEXP method, SEXP bounds, SEXP control)
{
    R_xlen_t n = 0;
    umf_coder cd;
    umf_coder_init(&cd, codes, nlev, &n, "codes");
    const int nvar = cd.nvar;
    if (TYPEOF(xnum) != VECSXP) Rf_error("'xnum' must be a list");
    const int q = (int) XLENGTH(xnum);
    if (nvar == 0) {
        if (q == 0) Rf_error("nothing to calibrate on");
        if (TYPEOF(VECTOR_ELT(xnum, 0)) != REALSXP)
            Rf_error("'xnum' element 1 must be a double vector with one value per row");
        n = XLENGTH(VECTOR_ELT(xnum, 0));
    }
    const double **x = (const double **) R_alloc(q > 0 ? q : 1, sizeof(double *));
    for (int j = 0; j < q; j++) {
        SEXP xj = VECTOR_ELT(xnum, j);
        if (TYPEOF(xj) != REALSXP || XLENGTH(xj) != n)
            Rf_error("'xnum' element %d must be a double vector with one value per row", j + 1);
        x[j] = REAL(xj);
    }
    const double *xt = NULL;
    if (TYPEOF(xtarget) != REALSXP || XLENGTH(xtarget) != q)
        Rf_error("'xtarget' must be a double vector with one total per numeric auxiliary");
    xt = REAL(xtarget);
    const double *wp = NULL;
    if (!Rf_isNull(w0)) {
        if (TYPEOF(w0) != REALSXP || XLENGTH(w0) != n)
            Rf_error("'w0' must be NULL or a double vector with one value per row");
        wp = REAL(w0);
    }
    if (TYPEOF(margins) != VECSXP || TYPEOF(targets) != VECSXP ||
        XLENGTH(margins) != XLENGTH(targets))
        Rf_error("'margins' and 'targets' must be lists of the same length");
    const int M = (int) XLENGTH(margins);
    const int meth = umf_as_int1(method, "method");
    if (meth < 0 || meth > 2) Rf_error("'method' must be 0, 1 or 2");
    if (TYPEOF(bounds) != REALSXP || XLENGTH(bounds) != 2) Rf_error("'bounds' must be 2 numbers");
    calfun f = {meth, REAL(bounds)[0], REAL(bounds)[1], 0, 0};
    if (!(f.L <= 1 && f.U >= 1) || ISNAN(f.L) || ISNAN(f.U))
        Rf_error("'bounds' must contain 1");
    if (meth == CM_LOGIT) {
        if (!R_FINITE(f.L) || !R_FINITE(f.U) || !(f.L < 1 && f.U > 1))
            Rf_error("logit calibration needs finite bounds L < 1 < U");
        f.A = (f.U - f.L) / ((1 - f.L) * (f.U - 1));
        f.la = log((1 - f.L) / (f.U - 1));
    }
    if (TYPEOF(control) != VECSXP || XLENGTH(control) != 2) Rf_error("'control' must be list(epsilon, maxit)");
    const double eps = umf_as_double1(VECTOR_ELT(control, 0), "epsilon");
    const int maxit = umf_as_int1(VECTOR_ELT(control, 1), "maxit");
    if (!(eps >= 0)) Rf_error("'epsilon' must be a non-negative number");
    if (maxit == NA_INTEGER || maxit < 0) Rf_error("'maxit' must be a non-negative integer");
    if (cd.ncell > (1 << 24))
        Rf_error("the categorical margins span %d cells, more than the %d calibration works on; use fewer or coarser margins",
                 cd.ncell, 1 << 24);
    const int ncell = nvar > 0 ? cd.ncell : 1;
    umf_check_cells((double) ncell * M, n, M, "the margins' cells");
    double info[6] = {0, 0, 0, 0, 0, 0};

    /* pass 1: cells, weights, codes, numeric values */
    int *cid = (int *) R_alloc(n > 0 ? n : 1, sizeof(int));
    double *W0 = (double *) R_alloc(ncell, sizeof(double));
    double *N0 = (double *) R_alloc(ncell, sizeof(double));
    memset(W0, 0, ncell * sizeof(double));
    memset(N0, 0, ncell * sizeof(double));
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        double w = wp ? wp[i] : 1.0;
        if (!(w >= 0 && w < INFINITY)) { info[0] = (double) i + 1; return cal_result(CS_BAD_WEIGHT, info, 1); }
        int c = 0;
        for (int j = 0; j < nvar; j++) {
            int v = cd.codes[j][i];
            if (v < 1 || v > cd.nlev[j]) {
                info[0] = j; info[1] = (double) i + 1;
                return cal_result(CS_NA_CODE, info, 2);
            }
            c += (v - 1) * cd.stride[j];
        }
        for (int j = 0; j < q; j++)
            if (!R_FINITE(x[j][i])) {
                info[0] = j; info[1] = (double) i + 1;
                return cal_result(CS_BAD_X, info, 2);
            }
        cid[i] = c;
        W0[c] += w;
        N0[c] += 1;
    }

    /* columns: the levels of each margin with a target and rows */
    int *cellcol = (int *) R_alloc((size_t) ncell * (M > 0 ? M : 1), sizeof(int));
    int *mstride = (int *) R_alloc(nvar > 0 ? nvar : 1, sizeof(int));
    int pc = 0;
    int *colm = (int *) R_alloc(1, sizeof(int)), *coll = NULL;
    double *colt = NULL;
    /* first count the columns */
    int **levcol = (int **) R_alloc(M > 0 ? M : 1, sizeof(int *));
    for (int m = 0; m < M; m++) {
        SEXP mv = VECTOR_ELT(margins, m), tv = VECTOR_ELT(targets, m);
        if (TYPEOF(mv) != INTSXP || TYPEOF(tv) != REALSXP) Rf_error("bad margin %d", m + 1);
        double size_d = 1;
        for (int a = 0; a < XLENGTH(mv); a++) {
            int v = INTEGER(mv)[a];
            if (v < 0 || v >= nvar)
                Rf_error("margin %d refers to variable %d, outside 0..%d", m + 1, v, nvar - 1);
            size_d *= cd.nlev[v];
        }
        if ((double) XLENGTH(tv) != size_d || size_d > INT_MAX)
            Rf_error("margin %d: %.0f targets for %.0f levels", m + 1, (double) XLENGTH(tv), size_d);
        const int size = (int) size_d;   /* the length of a vector, so an int */
        double *lw = (double *) R_alloc(size, sizeof(double)), *ln = (double *) R_alloc(size, sizeof(double));
        memset(lw, 0, size * sizeof(double));
        memset(ln, 0, size * sizeof(double));
        for (int c = 0; c < ncell; c++) {
            int lev = 0, s = 1;
            for (int a = 0; a < XLENGTH(mv); a++) {
                int v = INTEGER(mv)[a];
                lev += ((c / cd.stride[v]) % cd.nlev[v]) * s;
                s *= cd.nlev[v];
            }
            lw[lev] += W0[c];
            ln[lev] += N0[c];
        }
        levcol[m] = (int *) R_alloc(size, sizeof(int));
        const double *t = REAL(tv);
        for (int l = 0; l < size; l++) {
            levcol[m][l] = -1;
            if (ISNAN(t[l])) {
                if (ln[l] > 0) {
                    info[0] = m; info[1] = l; info[2] = ln[l];
                    return cal_result(CS_NO_TARGET, info, 3);
                }
                continue;
            }
            if (ln[l] == 0 && t[l] == 0) continue;
            if (t[l] > 0 && lw[l] == 0) {
                info[0] = m; info[1] = l; info[2] = ln[l];
                return cal_result(CS_NO_WEIGHT, info, 3);
            }
            levcol[m][l] = pc++;
        }
    }
    const int p = pc + q;
    if ((double) p * p > UMF_FREE_CELLS)
        Rf_error("calibration on %d columns (levels with rows, and numeric auxiliaries) is more than %.0f",
                 p, sqrt(UMF_FREE_CELLS));
    const int p1 = p > 0 ? p : 1;      /* R_alloc(0) is NULL */
    colm = (int *) R_alloc(p1, sizeof(int));
    coll = (int *) R_alloc(p1, sizeof(int));
    colt = (double *) R_alloc(p1, sizeof(double));
    for (int m = 0; m < M; m++) {
        SEXP mv = VECTOR_ELT(margins, m), tv = VECTOR_ELT(targets, m);
        int size = (int) XLENGTH(tv);
        for (int l = 0; l < size; l++)
            if (levcol[m][l] >= 0) {
                colm[levcol[m][l]] = m;
                coll[levcol[m][l]] = l;
                colt[levcol[m][l]] = REAL(tv)[l];
            }
        for (int c = 0; c < ncell; c++) {
            int lev = 0, s = 1;
            for (int a = 0; a < XLENGTH(mv); a++) {
                int v = INTEGER(mv)[a];
                lev += ((c / cd.stride[v]) % cd.nlev[v]) * s;
                s *= cd.nlev[v];
            }
            cellcol[(size_t) c * M + m] = levcol[m][lev];
        }
    }
    (void) mstride;
    for (int j = 0; j < q; j++) { colm[pc + j] = -1; coll[pc + j] = j; colt[pc + j] = xt[j]; }

    calprob P = {n, ncell, M, q, p, pc, cid, wp, x, cellcol, W0, 2 + 2 * q + q * (q + 1) / 2,
                 q > 0 ? umf_threads_for(n) : 1};
    umf_check_cells((double) ncell * P.width * P.nth, n, (double) P.width * P.nth,
                    "the numeric auxiliaries' cell sums");
    double *lambda = (double *) R_alloc(p1, sizeof(double));
    double *lamcell = (double *) R_alloc(ncell, sizeof(double));
    double *acc = (double *) R_alloc((size_t) ncell * P.width, sizeof(double));
    double *tacc = q > 0 ? (double *) R_alloc((size_t) P.nth * ncell * P.width, sizeof(double)) : NULL;
    double *ach = (double *) R_alloc(p1, sizeof(double)), *T = (double *) R_alloc((size_t) p1 * p1, sizeof(double));
    double *E = (double *) R_alloc((size_t) p1 * p1, sizeof(double)), *val = (double *) R_alloc(p1, sizeof(double));
    double *step = (double *) R_alloc(p1, sizeof(double)), *r = (double *) R_alloc(p1, sizeof(double));

    /* collinearity: X' W0 X, scaled to unit diagonal; null directions that
     * involve a numeric auxiliary are an error; among categorical margins
     * they are structural (each margin sums to the total), and the targets
     * must agree along them */
    {
        calfun lin = {CM_LINEAR, R_NegInf, R_PosInf, 0, 0};
        memset(lambda, 0, p * sizeof(double));
        cal_accumulate(&P, &lin, lambda, lamcell, acc, tacc);
        cal_assemble(&P, acc, ach, T);
        double *sd = (double *) R_alloc(p1, sizeof(double));
        for (int k = 0; k < p; k++) {
            double dk = T[k + (size_t) p * k];
            if (!(dk > 0)) {               /* a numeric auxiliary that is 0 wherever w0 > 0 */
                info[0] = k; info[1] = 1;
                return cal_result(CS_COLLINEAR, info, 2);
            }
            sd[k] = 1 / sqrt(dk);
        }
        for (int j = 0; j < p; j++)
            for (int i = 0; i < p; i++) E[i + (size_t) p * j] = T[i + (size_t) p * j] * sd[i] * sd[j];
        if (p > 0 && sym_eigen(E, p, val) != 0) Rf_error("eigen-decomposition failed");
        double vmax = p > 0 ? val[p - 1] : 0;
        for (int k = 0; k < p; k++) {
            if (val[k] > 1e-9 * vmax) break;
            const double *v = E + (size_t) p * k;
            int numeric = 0;
            for (int j = pc; j < p; j++) if (fabs(v[j]) > 1e-6) numeric = 1;
            if (numeric) {
                /* the columns in the direction: 1 where they take part */
                double *inv = (double *) R_alloc(p + 2, sizeof(double));
                int jm = pc;
                for (int j = pc; j < p; j++) if (fabs(v[j]) > fabs(v[jm])) jm = j;
                inv[0] = jm; inv[1] = 0;
                for (int j = 0; j < p; j++) inv[2 + j] = fabs(v[j]) > 1e-6;
                return cal_result(CS_COLLINEAR, inv, p + 2);
            }
            double s = 0, sa = 0;
            for (int j = 0; j < p; j++) {
                double u = v[j] * sd[j];
                s += u * colt[j];
                sa += fabs(u * colt[j]);
            }
            if (fabs(s) > 1e-8 * sa) {
                int jm = 0;
                for (int j = 0; j < p; j++) if (fabs(v[j]) > fabs(v[jm])) jm = j;
                info[0] = jm;
                return cal_result(CS_INCONSISTENT, info, 1);
            }
        }
    }

    /* bounds that no g can meet, level by level */
    {
        const double L = meth == CM_RAKING && f.L < 0 ? 0 : f.L, U = f.U;
        const bool open_lo = meth == CM_LOGIT || (meth == CM_RAKING && f.L <= 0);
        const bool open_hi = meth == CM_LOGIT;
        for (int k = 0; k < p; k++) {
            double pos, neg;   /* sums of w0 x over x > 0 and of w0 |x| over x < 0 */
            if (k < pc) { pos = ach[k]; neg = 0; }
            else {
                int j = k - pc;
                pos = neg = 0;
                for (R_xlen_t i = 0; i < n; i++) {
                    if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
                    double w = wp ? wp[i] : 1.0, v = x[j][i] * w;
                    if (v > 0) pos += v; else neg -= v;
                }
            }
            /* range of sum w0 x g for g in [L, U] */
            double lo = (pos > 0 ? L * pos : 0) - (neg > 0 ? U * neg : 0);
            double hi = (pos > 0 ? U * pos : 0) - (neg > 0 ? L * neg : 0);
            double t = colt[k], tol = 1e-10 * (fabs(t) + pos + neg);
            bool bad = t < lo - tol || t > hi + tol ||
                (open_lo && neg == 0 && fabs(t - lo) <= tol && pos > 0) ||
                (open_hi && neg == 0 && fabs(t - hi) <= tol && pos > 0);
            if (bad) {
                info[0] = k; info[1] = lo; info[2] = hi;
                return cal_result(CS_BOUNDS, info, 3);
            }
        }
    }

    /* Newton iterations, from the common scale: the first margin's
     * coefficients start where g = (its targets' sum) / (sum of w0), so
     * that starting weights far from the population scale need no large
     * first step; a step is halved until the misfit falls */
    memset(lambda, 0, p * sizeof(double));
    if (M > 0) {
        double tt = 0, ww = 0;
        for (int k = 0; k < pc; k++) if (colm[k] == 0) tt += colt[k];
        for (int c = 0; c < ncell; c++) ww += W0[c];
        double sc = ww > 0 ? tt / ww : 1, u0 = 0;
        bool ok = sc > 0 && fabs(log(sc)) > 1e-8;
        if (ok && meth == CM_LINEAR) u0 = sc - 1;
        else if (ok && meth == CM_RAKING) u0 = log(sc);
        else if (ok) {
            double t = (sc - f.L) / (f.U - f.L);
            ok = t > 1e-6 && t < 1 - 1e-6;
            if (ok) u0 = (log(t / (1 - t)) - f.la) / f.A;
        }
        if (ok && sc >= f.L && sc <= f.U)
            for (int k = 0; k < pc; k++) if (colm[k] == 0) lambda[k] = u0;
    }
    double *ltry = (double *) R_alloc(p1, sizeof(double));
    double maxrel = R_PosInf, ss = R_PosInf, best = R_PosInf;
    int stall = 0, it = 0, worst = 0, converged = 0;
    R_xlen_t trace_cap = maxit < 1023 ? (R_xlen_t) maxit + 1 : 1024;
    double *trace = (double *) R_alloc(trace_cap, sizeof(double));
#define MISFIT(lam, okvar)                                                      \
    do {                                                                        \
        okvar = cal_accumulate(&P, &f, lam, lamcell, acc, tacc);               \
        cal_assemble(&P, acc, ach, T);                                          \
        maxrel = 0; ss = 0; worst = 0;                                          \
        for (int k = 0; k < p; k++) {                                           \
            r[k] = colt[k] - ach[k];                                            \
            double e = fabs(r[k]) / (1 + fabs(colt[k]));                        \
            ss += e * e;                                                        \
            if (e > maxrel) { maxrel = e; worst = k; }                          \
        }                                                                       \
        if (!okvar || !R_FINITE(ss)) okvar = 0;                                 \
    } while (0)
    int okm;
    MISFIT(lambda, okm);
    if (!okm) { memset(lambda, 0, p * sizeof(double)); MISFIT(lambda, okm); }
    for (;;) {
        R_CheckUserInterrupt();
        trace = umf_trace_room(trace, &trace_cap, it);
        trace[it] = maxrel;
        if (maxrel < eps) { converged = 1; break; }
        if (it >= maxit) {
            info[0] = worst; info[1] = ach[worst]; info[2] = maxrel;
            return cal_result(CS_MAXIT, info, 3);
        }
        if (!pinv_solve(T, p, r, step, E, val)) Rf_error("eigen-decomposition failed");
        const double ss0 = ss;
        double *keep_r = E;   /* E is free until the next solve */
        memcpy(keep_r, r, p * sizeof(double));
        const double mr0 = maxrel;
        const int w0k = worst;
        int accepted = 0;
        for (int h = 0; h < 40 && !accepted; h++) {
            for (int k = 0; k < p; k++) ltry[k] = lambda[k] + step[k];
            MISFIT(ltry, okm);
            if (okm && ss < ss0) accepted = 1;
            else for (int k = 0; k < p; k++) step[k] /= 2;
        }
        if (!accepted) {
            /* no step along Newton's direction lowers the misfit */
            info[0] = w0k; info[1] = ach[w0k] ; info[2] = it;
            memcpy(r, keep_r, p * sizeof(double));
            info[1] = colt[w0k] - keep_r[w0k];
            (void) mr0;
            return cal_result(CS_STALLED, info, 3);
        }
        memcpy(lambda, ltry, p * sizeof(double));
        it++;
        if (maxrel < best * (1 - 1e-3)) { best = maxrel; stall = 0; }
        else if (++stall >= 10) {
            info[0] = worst; info[1] = ach[worst]; info[2] = it;
            return cal_result(CS_STALLED, info, 3);
        }
    }
#undef MISFIT

    /* the weights */
    SEXP wout = PROTECT(Rf_allocVector(REALSXP, n));
    double *wo = REAL(wout), gmin = R_PosInf, gmax = R_NegInf;
    for (int c = 0; c < ncell; c++) {
        double s = 0;
        for (int m = 0; m < M; m++) {
            int k = cellcol[(size_t) c * M + m];
            if (k >= 0) s += lambda[k];
        }
        lamcell[c] = s;
    }
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        double w = wp ? wp[i] : 1.0, u = lamcell[cid[i]], g, d;
        for (int j = 0; j < q; j++) u += lambda[pc + j] * x[j][i];
        cal_g(&f, u, &g, &d);
        wo[i] = w * g;
        if (w > 0) { if (g < gmin) gmin = g; if (g > gmax) gmax = g; }
    }
    /* per column: achieved (at the final lambda), target, margin, level, rows */
    SEXP cols = PROTECT(Rf_allocMatrix(REALSXP, p, 5));
    double *cm = REAL(cols);
    double *nk = (double *) R_alloc(p1, sizeof(double));
    memset(nk, 0, p * sizeof(double));
    for (int c = 0; c < ncell; c++)
        for (int m = 0; m < M; m++) {
            int k = cellcol[(size_t) c * M + m];
            if (k >= 0) nk[k] += N0[c];
        }
    for (int j = 0; j < q; j++) nk[pc + j] = (double) n;
    for (int k = 0; k < p; k++) {
        cm[k] = ach[k];
        cm[k + p] = colt[k];
        cm[k + 2 * (size_t) p] = colm[k];
        cm[k + 3 * (size_t) p] = coll[k];
        cm[k + 4 * (size_t) p] = nk[k];
    }
    SEXP tr = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t) it + 1));
    memcpy(REAL(tr), trace, ((size_t) it + 1) * sizeof(double));
    const char *nm[] = {"status", "info", "weights", "columns", "iterations", "converged",
                        "max_error", "g_range", "trace", "ncell"};
    SEXP ans = PROTECT(umf_named_list(nm, 10));
    SET_VECTOR_ELT(ans, 0, Rf_ScalarInteger(CS_OK));
    SET_VECTOR_ELT(ans, 1, Rf_allocVector(REALSXP, 0));
    SET_VECTOR_ELT(ans, 2, wout);
    SET_VECTOR_ELT(ans, 3, cols);
    SET_VECTOR_ELT(ans, 4, Rf_ScalarInteger(it));
    SET_VECTOR_ELT(ans, 5, Rf_ScalarLogical(converged));
    SET_VECTOR_ELT(ans, 6, Rf_ScalarReal(maxrel));
    SEXP gr = PROTECT(Rf_allocVector(REALSXP, 2));
    REAL(gr)[0] = gmin; REAL(gr)[1] = gmax;
    SET_VECTOR_ELT(ans, 7, gr);
    SET_VECTOR_ELT(ans, 8, tr);
    SET_VECTOR_ELT(ans, 9, Rf_ScalarReal(ncell));
    UNPROTECT(5);
    return ans;
}

/* One trimming run as survey::trimWeights(strict = TRUE): clamp to [lo,
 * hi], spread the trimmed amount equally over the rows inside the bounds
 * (rows of weight 0 keep 0), until no weight is outside. keep_total = 0:
 * clamp once. Returns the rounds, -1 if every positive weight is outside,
 * -2 at maxit. */
static int trim_run(const double *w, double *out, R_xlen_t n, double lo, double hi,
                    int keep_total, int maxit)
{
    memcpy(out, w, n * sizeof(double));
    for (int round = 0; round < maxit; round++) {
        double trimmed = 0;
        R_xlen_t inside = 0, outside = 0;
        for (R_xlen_t i = 0; i < n; i++) {
            if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
            double v = out[i];
            if (v == 0) continue;
            if (v < lo || v > hi) { trimmed += v - (v < lo ? lo : hi); outside++; }
            else inside++;
        }
        if (outside == 0) return round;
        if (keep_total && inside == 0) return -1;
        double share = keep_total ? trimmed / (double) inside : 0;
        for (R_xlen_t i = 0; i < n; i++) {
            if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
            double v = out[i];
            if (v == 0) continue;
            if (v < lo) out[i] = lo;
            else if (v > hi) out[i] = hi;
            else out[i] = v + share;
        }
        if (!keep_total) return round + 1;
        if ((round & 63) == 63) R_CheckUserInterrupt();
    }
    return -2;
}

static double kish_deff(const double *w, R_xlen_t n)
{
    double s = 0, s2 = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
        s += w[i]; s2 += w[i] * w[i];
    }
    return s > 0 ? (double) n * s2 / (s * s) : NA_REAL;
}

/* w: weights (finite, >= 0, checked in R and here); lo, hi: bounds (-Inf,
 * Inf for none); keep_total; maxit; deff: NA, or a target Kish design
 * effect, for which the largest upper bound hi <= the given one is found
 * (bisection) whose trimming meets it. Returns list(weights, rounds, upper,
 * deff, status): status 0 ok, 1 every weight outside, 2 maxit. */
SEXP C_trim(SEXP w, SEXP lo_, SEXP hi_, SEXP keep_total_, SEXP maxit_, SEXP deff_)
{
    if (TYPEOF(w) != REALSXP) Rf_error("'w' must be a double vector");
    const R_xlen_t n = XLENGTH(w);
    const double *wp = REAL(w);
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        if (!(wp[i] >= 0 && wp[i] < INFINITY)) Rf_error("'w' must be finite and non-negative");
    }
    const double lo = umf_as_double1(lo_, "lower"), deff = umf_as_double1(deff_, "deff");
    double hi = umf_as_double1(hi_, "upper");
    const int keep_total = umf_as_int1(keep_total_, "keep_total"), maxit = umf_as_int1(maxit_, "maxit");
    SEXP out = PROTECT(Rf_allocVector(REALSXP, n));
    double *o = REAL(out);
    int rounds = 0, status = 0;
    if (!ISNAN(deff)) {
        /* the largest upper bound whose trimming brings the design effect
         * to deff: bisection between the mean positive weight and hi */
        double s = 0, wmax = 0;
        R_xlen_t npos = 0;
        for (R_xlen_t i = 0; i < n; i++) {
            if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
            if (wp[i] > 0) { s += wp[i]; npos++; if (wp[i] > wmax) wmax = wp[i]; }
        }
        double a = npos > 0 ? s / npos : 0, b = hi < wmax ? hi : wmax;
        rounds = trim_run(wp, o, n, lo, b, keep_total, maxit);
        if (rounds >= 0 && kish_deff(o, n) > deff) {
            for (int it = 0; it < 200 && b - a > 1e-12 * b; it++) {
                double mid = (a + b) / 2;
                int r = trim_run(wp, o, n, lo, mid, keep_total, maxit);
                if (r >= 0 && kish_deff(o, n) <= deff) a = mid; else b = mid;
                R_CheckUserInterrupt();
            }
            hi = a;
        } else hi = b;
    }
    rounds = trim_run(wp, o, n, lo, hi, keep_total, maxit);
    if (rounds == -1) status = 1;
    if (rounds == -2) status = 2;
    const char *nm[] = {"weights", "rounds", "upper", "deff", "status"};
    SEXP ans = PROTECT(umf_named_list(nm, 5));
    SET_VECTOR_ELT(ans, 0, out);
    SET_VECTOR_ELT(ans, 1, Rf_ScalarInteger(rounds));
    SET_VECTOR_ELT(ans, 2, Rf_ScalarReal(hi));
    SET_VECTOR_ELT(ans, 3, Rf_ScalarReal(kish_deff(o, n)));
    SET_VECTOR_ELT(ans, 4, Rf_ScalarInteger(status));
    UNPROTECT(2);
    return ans;
}
