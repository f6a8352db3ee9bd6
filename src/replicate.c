/* Replicate-weight designs (issue 17; R/replicate.R): the units of
 * replicate weights given as columns. Rows whose replicate weights are
 * exactly proportional to their starting weight b_i (the full-sample
 * weight, or 1 where that is 0) -- W[i, ] / b_i equal bit for bit -- share a
 * unit, so that tab()'s per-unit sums times the units' replicate factors
 * give the replicate totals. One pass over the rows with a hash table of
 * the rows' factor vectors. */
#include "umfrage.h"
#include <limits.h>
#include <string.h>
#include <stdint.h>

static uint64_t hash_row(const double *f, int R)
{
    uint64_t h = 1469598103934665603ULL;
    for (int r = 0; r < R; r++) {
        double x = f[r] == 0 ? 0.0 : f[r];   /* -0 and 0 alike */
        uint64_t b;
        memcpy(&b, &x, sizeof b);
        h ^= b + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
        h *= 1099511628211ULL;
    }
    return h;
}

/* C_rep_units(W, w): W an n x R double matrix, w n starting weights.
 * Returns list(unit = integer n (1-based, in order of first appearance),
 * first = integer U (the first row of each unit, 1-based), base = double n). */
SEXP C_rep_units(SEXP W, SEXP w)
{
    if (TYPEOF(W) != REALSXP || !Rf_isMatrix(W)) Rf_error("'W' must be a double matrix");
    if (TYPEOF(w) != REALSXP) Rf_error("'w' must be a double vector");
    const R_xlen_t n = Rf_nrows(W);
    const int R = Rf_ncols(W);
    if (XLENGTH(w) != n) Rf_error("'w' must have one value per row of 'W'");
    if (n > INT_MAX - 1) Rf_error("too many rows");
    const double *Wp = REAL(W), *wp = REAL(w);
    SEXP unit = PROTECT(Rf_allocVector(INTSXP, n));
    SEXP base = PROTECT(Rf_allocVector(REALSXP, n));
    int *up = INTEGER(unit);
    double *bp = REAL(base);
    /* the factors of the units found so far, row-major (one R-vector each) */
    size_t cap = 64, nu = 0;
    double *fac = (double *) R_alloc(cap * (size_t) (R > 0 ? R : 1), sizeof(double));
    int *first = (int *) R_alloc(cap, sizeof(int));
    size_t hcap = 256;
    while (hcap < 2 * (size_t) n + 2 && hcap < ((size_t) 1 << 40)) hcap <<= 1;
    int *table = (int *) R_alloc(hcap, sizeof(int));
    for (size_t k = 0; k < hcap; k++) table[k] = -1;
    double *f = (double *) R_alloc(R > 0 ? R : 1, sizeof(double));
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & 0xffff) == 0) R_CheckUserInterrupt();
        double b = wp[i] > 0 && R_FINITE(wp[i]) ? wp[i] : 1.0;
        bp[i] = b;
        for (int r = 0; r < R; r++) f[r] = Wp[i + (size_t) n * r] / b;
        uint64_t h = hash_row(f, R);
        size_t slot = (size_t) (h & (hcap - 1));
        int found = -1;
        while (table[slot] >= 0) {
            const double *g = fac + (size_t) table[slot] * R;
            int same = 1;
            for (int r = 0; r < R && same; r++) same = g[r] == f[r];
            if (same) { found = table[slot]; break; }
            slot = (slot + 1) & (hcap - 1);
        }
        if (found < 0) {
            if (nu == cap) {
                size_t ncap = cap * 2;
                double *nf = (double *) R_alloc(ncap * (size_t) R, sizeof(double));
                memcpy(nf, fac, cap * (size_t) R * sizeof(double));
                int *nfi = (int *) R_alloc(ncap, sizeof(int));
                memcpy(nfi, first, cap * sizeof(int));
                fac = nf;
                first = nfi;
                cap = ncap;
            }
            memcpy(fac + nu * (size_t) R, f, (size_t) R * sizeof(double));
            first[nu] = (int) i + 1;
            table[slot] = (int) nu;
            found = (int) nu++;
        }
        up[i] = found + 1;
    }
    SEXP fr = PROTECT(Rf_allocVector(INTSXP, (R_xlen_t) nu));
    memcpy(INTEGER(fr), first, nu * sizeof(int));
    const char *nm[] = {"unit", "first", "base"};
    SEXP ans = PROTECT(umf_named_list(nm, 3));
    SET_VECTOR_ELT(ans, 0, unit);
    SET_VECTOR_ELT(ans, 1, fr);
    SET_VECTOR_ELT(ans, 2, base);
    UNPROTECT(4);
    return ans;
}

/* ---- re-calibrated factor designs: replicate totals and ranks by rows ------
 *
 * A design of mode "factor" with re-calibration (F, or the linear channels
 * of numeric auxiliaries) gives row i in replicate r the weight
 *
 *   b_i f_i[r],  f_i[r] = A[u_i, r] F[g_i, r]                       (F)
 *                f_i[r] = A[u_i, r] (1 + eta[g_i, r] + u_i' beta[, r]) (lin)
 *
 * Rows of one (PSU, cell) pair are proportional only without auxiliaries,
 * and there can be as many pairs as rows, so tab() does not go through
 * per-unit sums here. Instead a block's rows are grouped by their profile
 * (the tuple of their codes in the block's variables, C_rep_profile); the
 * replicate totals per profile come from one pass over the rows that
 * evaluates f_i once per row (C_rep_rowsum; threads over replicates, each
 * total summed in row order, so the result does not depend on the number
 * of threads); and an entry's replicate totals are the sums over the
 * profiles in it (R). C_rep_rank: the rank of the rows' factor vectors
 * within a domain (a set of profiles), survey's degf() + 1. */
#include <R_ext/Applic.h>
#include <R_ext/Lapack.h>

typedef struct {
    int R, U, G, p;
    R_xlen_t n;
    const int *unit, *g;
    double *At, *Ft, *Et, *Bt;   /* row-major copies: R values per unit / cell / auxiliary */
    const double *u;             /* n x p auxiliaries (lin) */
} rep_fac;

static void transpose(const double *x, int nr, int nc, double *out)
{
    for (int j = 0; j < nc; j++)
        for (int i = 0; i < nr; i++) out[(size_t) i * nc + j] = x[i + (size_t) nr * j];
}

/* fac = list(unit, A, g, F, eta, beta, u); g, F, eta, beta, u may be NULL */
static void rep_fac_read(SEXP fac, R_xlen_t n, rep_fac *f)
{
    if (TYPEOF(fac) != VECSXP || XLENGTH(fac) != 7) Rf_error("'fac' must be a list of 7");
    SEXP unit = VECTOR_ELT(fac, 0), A = VECTOR_ELT(fac, 1), g = VECTOR_ELT(fac, 2),
         F = VECTOR_ELT(fac, 3), eta = VECTOR_ELT(fac, 4), beta = VECTOR_ELT(fac, 5),
         u = VECTOR_ELT(fac, 6);
    if (TYPEOF(unit) != INTSXP || XLENGTH(unit) != n) Rf_error("'unit' must be an integer vector with one value per row");
    if (TYPEOF(A) != REALSXP || !Rf_isMatrix(A)) Rf_error("'A' must be a double matrix");
    memset(f, 0, sizeof *f);
    f->n = n;
    f->U = Rf_nrows(A);
    f->R = Rf_ncols(A);
    f->unit = INTEGER(unit);
    for (R_xlen_t i = 0; i < n; i++)
        if (f->unit[i] < 1 || f->unit[i] > f->U) Rf_error("'unit' out of range at row %.0f", (double) i + 1);
    f->At = (double *) R_alloc((size_t) f->U * f->R + 1, sizeof(double));
    transpose(REAL(A), f->U, f->R, f->At);
    int hasF = !Rf_isNull(F), hasE = !Rf_isNull(eta);
    if (hasF && hasE) Rf_error("give 'F' or 'eta', not both");
    if (hasF || hasE) {
        SEXP M = hasF ? F : eta;
        if (TYPEOF(g) != INTSXP || XLENGTH(g) != n) Rf_error("'g' must be an integer vector with one value per row");
        if (TYPEOF(M) != REALSXP || !Rf_isMatrix(M) || Rf_ncols(M) != f->R)
            Rf_error("'F' / 'eta' must be a double matrix with one column per replicate");
        f->G = Rf_nrows(M);
        f->g = INTEGER(g);
        for (R_xlen_t i = 0; i < n; i++)
            if (f->g[i] < 1 || f->g[i] > f->G) Rf_error("'g' out of range at row %.0f", (double) i + 1);
        double *t = (double *) R_alloc((size_t) f->G * f->R + 1, sizeof(double));
        transpose(REAL(M), f->G, f->R, t);
        if (hasF) f->Ft = t; else f->Et = t;
    }
    if (hasE) {
        if (TYPEOF(beta) != REALSXP || !Rf_isMatrix(beta) || Rf_ncols(beta) != f->R)
            Rf_error("'beta' must be a double matrix with one column per replicate");
        f->p = Rf_nrows(beta);
        if (TYPEOF(u) != REALSXP || !Rf_isMatrix(u) || Rf_nrows(u) != n || Rf_ncols(u) != f->p)
            Rf_error("'u' must be a double matrix, one row per row and one column per row of 'beta'");
        f->u = REAL(u);
        f->Bt = (double *) R_alloc((size_t) f->p * f->R + 1, sizeof(double));
        transpose(REAL(beta), f->p, f->R, f->Bt);
    }
}

/* f_i[r0 .. r1) into out[0 .. r1 - r0) */
static inline void rep_fac_row(const rep_fac *f, R_xlen_t i, int r0, int r1, double *restrict out)
{
    const double *a = f->At + (size_t) (f->unit[i] - 1) * f->R;
    const int m = r1 - r0;
    if (f->Ft) {
        const double *c = f->Ft + (size_t) (f->g[i] - 1) * f->R;
        for (int r = 0; r < m; r++) out[r] = a[r0 + r] * c[r0 + r];
    } else if (f->Et) {
        const double *e = f->Et + (size_t) (f->g[i] - 1) * f->R;
        for (int r = 0; r < m; r++) out[r] = 1.0 + e[r0 + r];
        for (int k = 0; k < f->p; k++) {
            const double uk = f->u[i + f->n * k];
            const double *b = f->Bt + (size_t) k * f->R;
            for (int r = 0; r < m; r++) out[r] += uk * b[r0 + r];
        }
        for (int r = 0; r < m; r++) out[r] *= a[r0 + r];
    } else {
        for (int r = 0; r < m; r++) out[r] = a[r0 + r];
    }
}

static int read_int_col(SEXP e, R_xlen_t n, const char *what)
{
    if (TYPEOF(e) != INTSXP && TYPEOF(e) != LGLSXP) Rf_error("'%s': every element must be integer or logical", what);
    if (XLENGTH(e) != n) Rf_error("'%s': every element must have one value per row", what);
    return 0;
}

/* C_rep_profile(cols, n): rows grouped by the tuple of their values in the
 * integer / logical vectors `cols` (NA a value of its own). Returns
 * list(prof = integer n, 1-based in order of first appearance, np). */
SEXP C_rep_profile(SEXP cols, SEXP n_)
{
    if (TYPEOF(cols) != VECSXP) Rf_error("'cols' must be a list");
    if (TYPEOF(n_) != INTSXP || XLENGTH(n_) != 1 || INTEGER(n_)[0] < 0) Rf_error("'n' must be a count");
    const R_xlen_t n = INTEGER(n_)[0];
    if (n > INT_MAX - 1) Rf_error("too many rows");
    const int m = (int) XLENGTH(cols);
    /* the rows' count comes from the columns: at least one (R passes a
     * constant column for a block without variables) */
    if (m < 1) Rf_error("'cols' must hold at least one code vector");
    const int **c = (const int **) R_alloc(m, sizeof(int *));
    for (int j = 0; j < m; j++) {
        SEXP e = VECTOR_ELT(cols, j);
        read_int_col(e, n, "cols");
        c[j] = TYPEOF(e) == LGLSXP ? LOGICAL(e) : INTEGER(e);
    }
    SEXP prof = PROTECT(Rf_allocVector(INTSXP, n));
    int *pp = INTEGER(prof);
    size_t hcap = 256;
    while (hcap < 2 * (size_t) n + 2) hcap <<= 1;
    int *table = (int *) R_alloc(hcap, sizeof(int));      /* row of the profile's first appearance */
    for (size_t k = 0; k < hcap; k++) table[k] = -1;
    int np = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & 0xffff) == 0 && i > 0) R_CheckUserInterrupt();
        uint64_t h = 1469598103934665603ULL;
        for (int j = 0; j < m; j++) {
            h ^= (uint64_t) (uint32_t) c[j][i] + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
            h *= 1099511628211ULL;
        }
        size_t slot = (size_t) (h & (hcap - 1));
        int found = 0;
        while (table[slot] >= 0) {
            R_xlen_t f = table[slot];
            int same = 1;
            for (int j = 0; j < m && same; j++) same = c[j][f] == c[j][i];
            if (same) { found = pp[f]; break; }
            slot = (slot + 1) & (hcap - 1);
        }
        if (!found) { table[slot] = (int) i; found = ++np; }
        pp[i] = found;
    }
    const char *nm[] = {"prof", "np"};
    SEXP ans = PROTECT(umf_named_list(nm, 2));
    SET_VECTOR_ELT(ans, 0, prof);
    SET_VECTOR_ELT(ans, 1, Rf_ScalarInteger(np));
    UNPROTECT(2);
    return ans;
}

/* C_rep_rowsum(prof, np, X, fac): X a list of m channel weights (double,
 * one per row); rows with prof 0 are left out. Returns a list of m np x R
 * matrices: T_k[p, r] = sum over rows i of profile p of X_k[i] f_i[r]. */
SEXP C_rep_rowsum(SEXP prof, SEXP np_, SEXP X, SEXP fac)
{
    if (TYPEOF(prof) != INTSXP) Rf_error("'prof' must be an integer vector");
    const R_xlen_t n = XLENGTH(prof);
    if (TYPEOF(np_) != INTSXP || XLENGTH(np_) != 1 || INTEGER(np_)[0] < 0) Rf_error("'np' must be a count");
    const int np = INTEGER(np_)[0];
    if ((R_xlen_t) np > n) Rf_error("'np' (%d) exceeds the number of rows", np);
    if (TYPEOF(X) != VECSXP) Rf_error("'X' must be a list");
    const int m = (int) XLENGTH(X);
    const double **x = (const double **) R_alloc(m > 0 ? m : 1, sizeof(double *));
    for (int k = 0; k < m; k++) {
        SEXP e = VECTOR_ELT(X, k);
        if (TYPEOF(e) != REALSXP || XLENGTH(e) != n) Rf_error("'X': every element must be a double vector with one value per row");
        x[k] = REAL(e);
    }
    const int *pp = INTEGER(prof);
    for (R_xlen_t i = 0; i < n; i++)
        if (pp[i] < 0 || pp[i] > np) Rf_error("'prof' out of range at row %.0f", (double) i + 1);
    rep_fac f;
    rep_fac_read(fac, n, &f);
    const int R = f.R;
    if ((double) np * m * R > 4e9) Rf_error("too many profiles x replicates");
    /* accumulator: profile-major, channel, then replicate (contiguous) */
    double *acc = (double *) R_alloc((size_t) np * m * R + 1, sizeof(double));
    memset(acc, 0, ((size_t) np * m * R + 1) * sizeof(double));
    /* threads over contiguous ranges of replicates (multiples of 8) */
    int nth = umf_threads_for(n);
    if (nth > (R + 7) / 8) nth = (R + 7) / 8;
    if (nth < 1) nth = 1;
    const int per = ((R + nth - 1) / nth + 7) / 8 * 8;
    const int nblk = per > 0 ? (R + per - 1) / per : 0;
    double *fbuf = (double *) R_alloc((size_t) (per > 0 ? per : 1) * (nblk > 0 ? nblk : 1), sizeof(double));
    const R_xlen_t step = (R_xlen_t) 1 << 16;
    for (R_xlen_t i0 = 0; i0 < n; i0 += step) {
        if (i0 > 0) R_CheckUserInterrupt();
        const R_xlen_t i1 = i0 + step < n ? i0 + step : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static)
#endif
        for (int b = 0; b < nblk; b++) {
            const int r0 = b * per, r1 = r0 + per < R ? r0 + per : R, w = r1 - r0;
            double *restrict fv = fbuf + (size_t) b * per;
            for (R_xlen_t i = i0; i < i1; i++) {
                const int p = pp[i];
                if (p == 0) continue;
                if (m == 1 && f.Ft) {
                    /* the common case, fused: b_i A[u_i, r] F[g_i, r] */
                    const double xi = x[0][i];
                    if (xi == 0) continue;
                    const double *a = f.At + (size_t) (f.unit[i] - 1) * R + r0;
                    const double *c = f.Ft + (size_t) (f.g[i] - 1) * R + r0;
                    double *restrict t = acc + (size_t) (p - 1) * R + r0;
                    for (int r = 0; r < w; r++) t[r] += xi * a[r] * c[r];
                    continue;
                }
                rep_fac_row(&f, i, r0, r1, fv);
                for (int k = 0; k < m; k++) {
                    const double xi = x[k][i];
                    if (xi == 0) continue;
                    double *restrict t = acc + ((size_t) (p - 1) * m + k) * R + r0;
                    for (int r = 0; r < w; r++) t[r] += xi * fv[r];
                }
            }
        }
    }
    SEXP ans = PROTECT(Rf_allocVector(VECSXP, m));
    for (int k = 0; k < m; k++) {
        SEXP T = PROTECT(Rf_allocMatrix(REALSXP, np, R));
        double *tp = REAL(T);
        for (int p = 0; p < np; p++)
            for (int r = 0; r < R; r++) tp[p + (size_t) np * r] = acc[((size_t) p * m + k) * R + r];
        SET_VECTOR_ELT(ans, k, T);
        UNPROTECT(1);
    }
    UNPROTECT(1);
    return ans;
}

/* rank of the k x R column-major matrix M (leading dimension ld) as R's
 * qr(M, tol)$rank (LINPACK dqrdc2); M is overwritten */
static int qr_rank(double *M, int ld, int k, int R, double tol, double *qraux, int *piv, double *work)
{
    if (k == 0) return 0;
    int rank = 0;
    for (int j = 0; j < R; j++) piv[j] = j + 1;
    F77_CALL(dqrdc2)(M, &ld, &k, &R, &tol, &rank, qraux, piv, work);
    return rank;
}

/* reduce the first k rows of the ld x R column-major buffer M to the R x R
 * triangle of its QR (rows beyond R zeroed): the column norms, and so
 * dqrdc2's rank decisions, are those of the rows reduced (orthogonal
 * transformations keep M'M) */
static void qr_reduce(double *M, int ld, int k, int R, double *tau, double *work, int lwork)
{
    int info = 0;
    F77_CALL(dgeqrf)(&k, &R, M, &ld, tau, work, &lwork, &info);
    if (info != 0) Rf_error("dgeqrf failed (%d)", info);
    for (int j = 0; j < R; j++)
        for (int i = j + 1; i < k; i++) M[i + (size_t) ld * j] = 0;
}

static int cmp_int2(const void *a, const void *b)
{
    const int *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* C_rep_rank(prof, inD, vid, nvid, fac, tol): for each domain d (a column
 * of the np x D integer matrix inD: 1 = profile in the domain) the rank of
 * the factor vectors f_i of its rows i with vid[i] > 0, rows of the same
 * vid having proportional vectors (the same (PSU, cell) pair; under linear
 * calibration every row its own vid). As survey's degf() + 1: qr(, tol)
 * rank of those vectors, the distinct ones in order of vid. Where the
 * domain has more than 3R distinct vectors the first R + 16, then 3R, are
 * tried (full rank R there is the answer); else all of them, reduced by
 * QR in batches. */
SEXP C_rep_rank(SEXP prof, SEXP inD, SEXP vid, SEXP nvid_, SEXP fac, SEXP tol_)
{
    if (TYPEOF(prof) != INTSXP) Rf_error("'prof' must be an integer vector");
    const R_xlen_t n = XLENGTH(prof);
    if (TYPEOF(inD) != INTSXP || !Rf_isMatrix(inD)) Rf_error("'inD' must be an integer matrix");
    const int np = Rf_nrows(inD), D = Rf_ncols(inD);
    if (TYPEOF(vid) != INTSXP || XLENGTH(vid) != n) Rf_error("'vid' must be an integer vector with one value per row");
    if (TYPEOF(nvid_) != INTSXP || XLENGTH(nvid_) != 1 || INTEGER(nvid_)[0] < 0) Rf_error("'nvid' must be a count");
    if (TYPEOF(tol_) != REALSXP || XLENGTH(tol_) != 1) Rf_error("'tol' must be a number");
    const int nvid = INTEGER(nvid_)[0];
    if (n > INT_MAX - 1) Rf_error("too many rows");
    if ((R_xlen_t) nvid > n) Rf_error("'nvid' (%d) exceeds the number of rows", nvid);
    const int *pp = INTEGER(prof), *vp = INTEGER(vid), *dm = INTEGER(inD);
    for (R_xlen_t i = 0; i < n; i++) {
        if (pp[i] < 0 || pp[i] > np) Rf_error("'prof' out of range at row %.0f", (double) i + 1);
        if (vp[i] < 0 || vp[i] > nvid) Rf_error("'vid' out of range at row %.0f", (double) i + 1);
    }
    rep_fac f;
    rep_fac_read(fac, n, &f);
    const int R = f.R;
    const double tol = REAL(tol_)[0];
    SEXP ans = PROTECT(Rf_allocVector(INTSXP, D));
    if (R == 0) { for (int d = 0; d < D; d++) INTEGER(ans)[d] = 0; UNPROTECT(1); return ans; }
    const int cap = 3 * R;                       /* distinct vectors kept before deciding */
    const int first = R + 16 < cap ? R + 16 : cap;
    const int ld = cap > 2 * R + 64 ? cap : 2 * R + 64;   /* buffer rows */
    int *stamp = (int *) R_alloc((size_t) nvid + 1, sizeof(int));
    for (int k = 0; k <= nvid; k++) stamp[k] = 0;
    int *lst = (int *) R_alloc(2 * (size_t) cap, sizeof(int));   /* (vid, row) pairs */
    int *ustamp = (int *) R_alloc((size_t) f.U + 1, sizeof(int));
    for (int k = 0; k <= f.U; k++) ustamp[k] = 0;
    double *M = (double *) R_alloc((size_t) ld * R, sizeof(double)), *T2 = NULL;
    double *fv = (double *) R_alloc(R, sizeof(double));
    double *qraux = (double *) R_alloc(R, sizeof(double));
    double *work = (double *) R_alloc(2 * (size_t) R, sizeof(double));
    int *piv = (int *) R_alloc(R, sizeof(int));
    int lwork = -1, info = 0;
    double wq = 0;
    { int k = ld; F77_CALL(dgeqrf)(&k, (int *) &R, M, (int *) &ld, qraux, &wq, &lwork, &info); }
    lwork = wq > R ? (int) wq : R;
    double *qw = (double *) R_alloc(lwork, sizeof(double));
    R_xlen_t ticks = 0;
    for (int d = 0; d < D; d++) {
        const int *in = dm + (size_t) np * d;
        int cnt = 0;
        R_xlen_t i = 0;
        /* up to `cap` distinct vectors, first one of each unit (PSU) in
         * order of appearance -- rows of one unit often share replicates
         * left out (a 0 factor), so a unit's vectors alone rarely reach
         * rank R -- then the others in order of appearance */
        for (R_xlen_t j = 0; j < n && cnt < cap; j++) {
            if ((++ticks & 0xfffff) == 0) R_CheckUserInterrupt();
            const int p = pp[j], v = vp[j];
            if (p == 0 || v == 0 || !in[p - 1] || stamp[v] == d + 1) continue;
            const int u = f.unit[j];
            if (ustamp[u] == d + 1) continue;
            ustamp[u] = d + 1;
            stamp[v] = d + 1;
            lst[2 * cnt] = v; lst[2 * cnt + 1] = (int) j;
            cnt++;
        }
        for (; i < n && cnt < cap; i++) {
            if ((++ticks & 0xfffff) == 0) R_CheckUserInterrupt();
            const int p = pp[i], v = vp[i];
            if (p == 0 || v == 0 || !in[p - 1] || stamp[v] == d + 1) continue;
            stamp[v] = d + 1;
            lst[2 * cnt] = v; lst[2 * cnt + 1] = (int) i;
            cnt++;
        }
        int more = 0;       /* another distinct vector beyond cap? */
        for (; i < n; i++) {
            const int p = pp[i], v = vp[i];
            if (p == 0 || v == 0 || !in[p - 1] || stamp[v] == d + 1) continue;
            more = 1;
            break;
        }
        int rank;
        if (!more) {
            /* all of them, in order of vid (as qr() of those rows) */
            qsort(lst, cnt, 2 * sizeof(int), cmp_int2);
            for (int k = 0; k < cnt; k++) {
                rep_fac_row(&f, lst[2 * k + 1], 0, R, fv);
                for (int r = 0; r < R; r++) M[k + (size_t) ld * r] = fv[r];
            }
            rank = qr_rank(M, ld, cnt, R, tol, qraux, piv, work);
        } else {
            rank = -1;
            for (int tries = 0; tries < 2 && rank < 0; tries++) {
                int k1 = tries == 0 ? first : cap;
                for (int k = 0; k < k1; k++) {
                    rep_fac_row(&f, lst[2 * k + 1], 0, R, fv);
                    for (int r = 0; r < R; r++) M[k + (size_t) ld * r] = fv[r];
                }
                if (qr_rank(M, ld, k1, R, tol, qraux, piv, work) == R) rank = R;
            }
            if (rank < 0) {
                /* every distinct vector, reduced in batches; i is at the
                 * first one beyond cap */
                int k = 0, full = 0;
                if (!T2) T2 = (double *) R_alloc((size_t) ld * R, sizeof(double));
                for (int a = 0; a < cnt; a++) {
                    rep_fac_row(&f, lst[2 * a + 1], 0, R, fv);
                    for (int r = 0; r < R; r++) M[k + (size_t) ld * r] = fv[r];
                    k++;
                }
                for (; i < n; i++) {
                    if ((++ticks & 0xfffff) == 0) R_CheckUserInterrupt();
                    const int p = pp[i], v = vp[i];
                    if (p == 0 || v == 0 || !in[p - 1] || stamp[v] == d + 1) continue;
                    stamp[v] = d + 1;
                    if (k == ld) {
                        qr_reduce(M, ld, k, R, qraux, qw, lwork);
                        k = R;
                        /* rank R already: more rows cannot lower it */
                        memcpy(T2, M, sizeof(double) * (size_t) ld * R);
                        if (qr_rank(T2, ld, k, R, tol, qraux, piv, work) == R) { full = 1; break; }
                    }
                    rep_fac_row(&f, i, 0, R, fv);
                    for (int r = 0; r < R; r++) M[k + (size_t) ld * r] = fv[r];
                    k++;
                }
                rank = full ? R : qr_rank(M, ld, k, R, tol, qraux, piv, work);
            }
        }
        INTEGER(ans)[d] = rank;
    }
    UNPROTECT(1);
    return ans;
}
