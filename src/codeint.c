/* umfrage: coding a numeric column whose values are whole numbers in a
 * small range (the common case of integer codes read from files and
 * databases) without hashing: one pass for the range, one for a presence
 * table, one for the codes. The levels come out sorted, as tab() sorts
 * numeric values, so code_single() (R/tab.R) gets the same codes and levels
 * as from sort(unique()) and match(), in a fraction of the time. Returns
 * NULL where the column does not qualify (a value that is not a whole
 * number, or a range wider than `max_range`), and code_single() then takes
 * its general route. NA and NaN get code NA. */
#include "umfrage.h"

SEXP C_code_int(SEXP x, SEXP max_range)
{
    if (TYPEOF(x) != INTSXP && TYPEOF(x) != REALSXP)
        Rf_error("'x' must be an integer or double vector");
    if (TYPEOF(max_range) != INTSXP || XLENGTH(max_range) != 1 || INTEGER(max_range)[0] < 1)
        Rf_error("'max_range' must be a positive integer");
    const R_xlen_t n = XLENGTH(x);
    const int lim = INTEGER(max_range)[0];
    const int *xi = TYPEOF(x) == INTSXP ? INTEGER(x) : NULL;
    const double *xd = xi ? NULL : REAL(x);
    /* the range of the values (doubles: whole numbers within int range) */
    double lo = R_PosInf, hi = R_NegInf;
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
        double v;
        if (xi) {
            if (xi[i] == NA_INTEGER) continue;
            v = (double) xi[i];
        } else {
            v = xd[i];
            if (ISNAN(v)) continue;
            if (!(v >= -2147483647.0 && v <= 2147483647.0) || v != floor(v)) return R_NilValue;
        }
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    SEXP codes = PROTECT(Rf_allocVector(INTSXP, n));
    int *cp = INTEGER(codes);
    if (lo > hi) {   /* no value: all NA */
        for (R_xlen_t i = 0; i < n; i++) cp[i] = NA_INTEGER;
        SEXP ans = PROTECT(Rf_allocVector(VECSXP, 2));
        SET_VECTOR_ELT(ans, 0, codes);
        SET_VECTOR_ELT(ans, 1, Rf_allocVector(TYPEOF(x), 0));
        UNPROTECT(2);
        return ans;
    }
    if (hi - lo >= (double) lim) { UNPROTECT(1); return R_NilValue; }
    const int base = (int) lo, width = (int) (hi - lo) + 1;
    int *map = (int *) R_alloc((size_t) width, sizeof(int));
    memset(map, 0, (size_t) width * sizeof(int));
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
        if (xi) { if (xi[i] != NA_INTEGER) map[xi[i] - base] = 1; }
        else if (!ISNAN(xd[i])) map[(int) xd[i] - base] = 1;
    }
    int k = 0;
    for (int j = 0; j < width; j++) if (map[j]) map[j] = ++k;
    SEXP lev = PROTECT(Rf_allocVector(TYPEOF(x), k));
    for (int j = 0; j < width; j++) if (map[j]) {
        if (xi) INTEGER(lev)[map[j] - 1] = base + j;
        else REAL(lev)[map[j] - 1] = (double) (base + j);
    }
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
        if (xi) cp[i] = xi[i] == NA_INTEGER ? NA_INTEGER : map[xi[i] - base];
        else cp[i] = ISNAN(xd[i]) ? NA_INTEGER : map[(int) xd[i] - base];
    }
    SEXP ans = PROTECT(Rf_allocVector(VECSXP, 2));
    SET_VECTOR_ELT(ans, 0, codes);
    SET_VECTOR_ELT(ans, 1, lev);
    UNPROTECT(3);
    return ans;
}
