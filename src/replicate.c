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
    SEXP ans = PROTECT(Rf_allocVector(VECSXP, 3));
    SEXP nms = PROTECT(Rf_allocVector(STRSXP, 3));
    SET_VECTOR_ELT(ans, 0, unit);
    SET_VECTOR_ELT(ans, 1, fr);
    SET_VECTOR_ELT(ans, 2, base);
    SET_STRING_ELT(nms, 0, Rf_mkChar("unit"));
    SET_STRING_ELT(nms, 1, Rf_mkChar("first"));
    SET_STRING_ELT(nms, 2, Rf_mkChar("base"));
    Rf_setAttrib(ans, R_NamesSymbol, nms);
    UNPROTECT(5);
    return ans;
}
