/* Rows -> integer cells -> per-cell sufficient statistics.
 *
 * A cell id is the mixed-radix number of a row's variable codes
 * (code_j - 1) * stride_j, so one pass over the rows yields the cells;
 * everything after it works on ncell numbers, not n rows. */
#include "umfrage.h"
#include <string.h>
#include <math.h>
#include <float.h>

double umf_cell_product(SEXP nlev)
{
    double p = 1.0;
    for (R_xlen_t j = 0; j < XLENGTH(nlev); j++) p *= (double) INTEGER(nlev)[j];
    return p;
}

/* Validate a list of integer code vectors and their level counts, and set
 * up strides. Errors name `what` (the R-level argument). Returns 0. */
int umf_coder_init(umf_coder *cd, SEXP codes, SEXP nlev, R_xlen_t *n,
                   const char *what)
{
    if (TYPEOF(codes) != VECSXP)
        Rf_error("'%s' must be a list of integer code vectors", what);
    if (TYPEOF(nlev) != INTSXP || XLENGTH(nlev) != XLENGTH(codes))
        Rf_error("'nlev' must be an integer vector with one entry per element of '%s'", what);
    int k = (int) XLENGTH(codes);
    cd->nvar = k;
    cd->codes = (const int **) R_alloc(k > 0 ? k : 1, sizeof(int *));
    cd->nlev = INTEGER(nlev);
    cd->stride = (int *) R_alloc(k > 0 ? k : 1, sizeof(int));
    double prod = 1.0;
    R_xlen_t nn = -1;
    for (int j = 0; j < k; j++) {
        SEXP cj = VECTOR_ELT(codes, j);
        if (TYPEOF(cj) != INTSXP)
            Rf_error("element %d of '%s' must be an integer code vector, not of type '%s'",
                     j + 1, what, Rf_type2char(TYPEOF(cj)));
        if (nn < 0) nn = XLENGTH(cj);
        else if (XLENGTH(cj) != nn)
            Rf_error("element %d of '%s' has length %.0f, expected %.0f",
                     j + 1, what, (double) XLENGTH(cj), (double) nn);
        if (cd->nlev[j] == NA_INTEGER || cd->nlev[j] < 1)
            Rf_error("'nlev' must hold positive level counts (element %d)", j + 1);
        cd->codes[j] = INTEGER(cj);
        cd->stride[j] = (int) prod;
        prod *= cd->nlev[j];
        if (prod > (double) INT_MAX)
            Rf_error("'%s' spans %.0f cells, more than the %d that can be indexed",
                     what, umf_cell_product(nlev), INT_MAX);
    }
    cd->ncell = (int) prod;
    *n = nn < 0 ? 0 : nn;
    return 0;
}

/* Cell of row i, or -1 when a code is NA or out of range. */
static inline int cell_of(const umf_coder *cd, R_xlen_t i)
{
    int cell = 0;
    for (int j = 0; j < cd->nvar; j++) {
        int c = cd->codes[j][i];
        if (c < 1 || c > cd->nlev[j]) return -1;  /* NA_INTEGER < 1 */
        cell += (c - 1) * cd->stride[j];
    }
    return cell;
}

/* Per-cell count, sum of weights and sum of squared weights in one pass.
 * Rows with an NA code are skipped and counted. Weights must be finite and
 * non-negative (checked here too: the C routine trusts no caller). */
SEXP C_cell_stats(SEXP codes, SEXP nlev, SEXP w)
{
    umf_coder cd;
    R_xlen_t n;
    umf_coder_init(&cd, codes, nlev, &n, "codes");
    const double *wp = NULL;
    if (!Rf_isNull(w)) {
        if (TYPEOF(w) != REALSXP)
            Rf_error("'w' must be a double vector or NULL, not of type '%s'",
                     Rf_type2char(TYPEOF(w)));
        if (XLENGTH(w) != n)
            Rf_error("'w' has length %.0f, expected %.0f (the number of rows)",
                     (double) XLENGTH(w), (double) n);
        wp = REAL(w);
    }
    const int ncell = cd.ncell;
    const int nth = umf_threads_for(n);
    /* interleaved accumulators: acc[3*c] = n, acc[3*c+1] = sum w, acc[3*c+2] = sum w^2 */
    size_t per = (size_t) ncell * 3;
    double *acc = (double *) R_alloc((size_t) nth * per, sizeof(double));
    memset(acc, 0, (size_t) nth * per * sizeof(double));
    R_xlen_t *skipped = (R_xlen_t *) R_alloc(nth, sizeof(R_xlen_t));
    R_xlen_t *badw = (R_xlen_t *) R_alloc(nth, sizeof(R_xlen_t));
    for (int t = 0; t < nth; t++) skipped[t] = badw[t] = 0;

    for (R_xlen_t from = 0; from < n; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
        #pragma omp parallel num_threads(nth)
        {
            int t = omp_get_thread_num();
            double *a = acc + (size_t) t * per;
            R_xlen_t sk = 0, bw = 0;
            #pragma omp for schedule(static)
            for (R_xlen_t i = from; i < to; i++) {
                int c = cell_of(&cd, i);
                if (c < 0) { sk++; continue; }
                double wi = wp ? wp[i] : 1.0;
                if (!(wi >= 0.0 && wi < INFINITY)) { bw++; continue; }
                double *ac = a + 3 * (size_t) c;
                ac[0] += 1.0;
                ac[1] += wi;
                ac[2] += wi * wi;
            }
            skipped[t] += sk;
            badw[t] += bw;
        }
        R_CheckUserInterrupt();
    }
    R_xlen_t nbad = 0, nskip = 0;
    for (int t = 0; t < nth; t++) { nbad += badw[t]; nskip += skipped[t]; }
    if (nbad > 0)
        Rf_error("'w' holds %.0f values that are NA, negative or infinite",
                 (double) nbad);

    SEXP ans = PROTECT(Rf_allocVector(VECSXP, 4));
    SEXP nn = PROTECT(Rf_allocVector(REALSXP, ncell));
    SEXP sw = PROTECT(Rf_allocVector(REALSXP, ncell));
    SEXP sw2 = PROTECT(Rf_allocVector(REALSXP, ncell));
    double *pn = REAL(nn), *ps = REAL(sw), *ps2 = REAL(sw2);
    for (int c = 0; c < ncell; c++) {
        double a0 = 0, a1 = 0, a2 = 0;
        for (int t = 0; t < nth; t++) {   /* fixed order: thread 0, 1, ... */
            const double *ac = acc + (size_t) t * per + 3 * (size_t) c;
            a0 += ac[0]; a1 += ac[1]; a2 += ac[2];
        }
        pn[c] = a0; ps[c] = a1; ps2[c] = a2;
    }
    SET_VECTOR_ELT(ans, 0, nn);
    SET_VECTOR_ELT(ans, 1, sw);
    SET_VECTOR_ELT(ans, 2, sw2);
    SET_VECTOR_ELT(ans, 3, Rf_ScalarReal((double) nskip));
    SEXP nms = PROTECT(Rf_allocVector(STRSXP, 4));
    SET_STRING_ELT(nms, 0, Rf_mkChar("n"));
    SET_STRING_ELT(nms, 1, Rf_mkChar("sum_w"));
    SET_STRING_ELT(nms, 2, Rf_mkChar("sum_w2"));
    SET_STRING_ELT(nms, 3, Rf_mkChar("skipped"));
    Rf_setAttrib(ans, R_NamesSymbol, nms);
    UNPROTECT(5);
    return ans;
}

/* Summary of a weight vector in one pass: counts of NA, negative, zero,
 * positive and infinite values; sum, sum of squares, min, max over the
 * finite values. */
SEXP C_weight_stats(SEXP w)
{
    if (TYPEOF(w) != REALSXP)
        Rf_error("'w' must be a double vector, not of type '%s'",
                 Rf_type2char(TYPEOF(w)));
    R_xlen_t n = XLENGTH(w);
    const double *wp = REAL(w);
    double s = 0, s2 = 0, mn = R_PosInf, mx = R_NegInf;
    R_xlen_t nna = 0, nneg = 0, nzero = 0, npos = 0, ninf = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        double x = wp[i];
        if (ISNAN(x)) { nna++; continue; }
        if (!R_FINITE(x)) { ninf++; continue; }
        if (x < 0) nneg++;
        else if (x == 0) nzero++;
        else npos++;
        s += x; s2 += x * x;
        if (x < mn) mn = x;
        if (x > mx) mx = x;
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
    }
    SEXP ans = PROTECT(Rf_allocVector(REALSXP, 10));
    double *a = REAL(ans);
    a[0] = (double) n; a[1] = (double) nna; a[2] = (double) nneg;
    a[3] = (double) nzero; a[4] = (double) npos; a[5] = (double) ninf;
    a[6] = s; a[7] = s2;
    a[8] = (nneg + nzero + npos) > 0 ? mn : NA_REAL;
    a[9] = (nneg + nzero + npos) > 0 ? mx : NA_REAL;
    SEXP nms = PROTECT(Rf_allocVector(STRSXP, 10));
    const char *nm[10] = {"n", "n_na", "n_negative", "n_zero", "n_positive",
                          "n_infinite", "sum", "sum_sq", "min", "max"};
    for (int j = 0; j < 10; j++) SET_STRING_ELT(nms, j, Rf_mkChar(nm[j]));
    Rf_setAttrib(ans, R_NamesSymbol, nms);
    UNPROTECT(2);
    return ans;
}

/* Weighted count per cell and nothing else: the leanest pass over the rows
 * (weighted frequency tables, and the yardstick for the cost of raking).
 * Rows with an NA code are skipped and counted in attribute "skipped". */
SEXP C_cell_sum_w(SEXP codes, SEXP nlev, SEXP w)
{
    umf_coder cd;
    R_xlen_t n;
    umf_coder_init(&cd, codes, nlev, &n, "codes");
    if (TYPEOF(w) != REALSXP || XLENGTH(w) != n)
        Rf_error("'w' must be a double vector with one value per row");
    const double *wp = REAL(w);
    const int ncell = cd.ncell;
    const int nth = umf_threads_for(n);
    double *acc = (double *) R_alloc((size_t) nth * ncell, sizeof(double));
    memset(acc, 0, (size_t) nth * ncell * sizeof(double));
    R_xlen_t *skipped = (R_xlen_t *) R_alloc(nth, sizeof(R_xlen_t));
    int *badw = (int *) R_alloc(nth, sizeof(int));
    for (int t = 0; t < nth; t++) { skipped[t] = 0; badw[t] = 0; }
    for (R_xlen_t from = 0; from < n; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
        #pragma omp parallel num_threads(nth)
        {
            int t = omp_get_thread_num();
            double *a = acc + (size_t) t * ncell;
            R_xlen_t sk = 0;
            int bw = 0;
            #pragma omp for schedule(static)
            for (R_xlen_t i = from; i < to; i++) {
                int c = cell_of(&cd, i);
                double wi = wp[i];
                if (c < 0) { sk++; continue; }
                if (!(wi >= 0.0 && wi < INFINITY)) { bw = 1; continue; }
                a[c] += wi;
            }
            skipped[t] += sk;
            if (bw) badw[t] = 1;
        }
        R_CheckUserInterrupt();
    }
    R_xlen_t nskip = 0;
    for (int t = 0; t < nth; t++) {
        if (badw[t]) Rf_error("'w' holds values that are NA, negative or infinite");
        nskip += skipped[t];
    }
    SEXP ans = PROTECT(Rf_allocVector(REALSXP, ncell));
    double *p = REAL(ans);
    for (int c = 0; c < ncell; c++) {
        double s = 0;
        for (int t = 0; t < nth; t++) s += acc[(size_t) t * ncell + c];
        p[c] = s;
    }
    Rf_setAttrib(ans, Rf_install("skipped"), Rf_ScalarReal((double) nskip));
    UNPROTECT(1);
    return ans;
}
