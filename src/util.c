/* Small helpers shared by the C files: argument checks whose messages
 * name the argument, and named lists for results. */
#include "umfrage.h"
#include <math.h>
#include <float.h>

double umf_as_double1(SEXP x, const char *arg)
{
    if (!Rf_isReal(x) || XLENGTH(x) != 1)
        Rf_error("'%s' must be a single double value", arg);
    return REAL(x)[0];
}

int umf_as_int1(SEXP x, const char *arg)
{
    if (!Rf_isInteger(x) || XLENGTH(x) != 1)
        Rf_error("'%s' must be a single integer value", arg);
    return INTEGER(x)[0];
}

/* A list of length k with the given names (unprotected on return). */
SEXP umf_named_list(const char **nm, int k)
{
    return umf_named_vector(VECSXP, nm, k);
}

/* A vector of the given type and length k with the given names
 * (unprotected on return). */
SEXP umf_named_vector(SEXPTYPE type, const char **nm, int k)
{
    SEXP ans = PROTECT(Rf_allocVector(type, k));
    SEXP nms = PROTECT(Rf_allocVector(STRSXP, k));
    for (int j = 0; j < k; j++) SET_STRING_ELT(nms, j, Rf_mkChar(nm[j]));
    Rf_setAttrib(ans, R_NamesSymbol, nms);
    UNPROTECT(2);
    return ans;
}

/* Element `nm` of the named list l (argument `what`): R_NilValue when
 * absent and not required. */
SEXP umf_list_get(SEXP l, const char *nm, const char *what, bool required)
{
    if (TYPEOF(l) != VECSXP) Rf_error("'%s' must be a named list", what);
    SEXP names = Rf_getAttrib(l, R_NamesSymbol);
    if (TYPEOF(names) != STRSXP || XLENGTH(names) != XLENGTH(l))
        Rf_error("'%s' must be a named list", what);
    for (R_xlen_t i = 0; i < XLENGTH(l); i++)
        if (strcmp(CHAR(STRING_ELT(names, i)), nm) == 0) return VECTOR_ELT(l, i);
    if (required) Rf_error("'%s' has no element '%s'", what, nm);
    return R_NilValue;
}

/* Stop unless `cells` accumulators may be allocated for n rows and indexed
 * by an int. Beyond UMF_FREE_CELLS they must be within what the rows can
 * fill: a row reaches `width` of them in one layer (1 for a plain cell
 * pass; a table's cells and bases in a layer), and layers (by levels,
 * design units) come from the rows, so at most n x min(width, n). */
void umf_check_cells(double cells, R_xlen_t n, double width, const char *what)
{
    const double nn = (double) n;
    if (cells > UMF_FREE_CELLS && cells > nn * (width < nn ? width : nn))
        Rf_error("%s would need %.0f cells, too many for %.0f rows (more than %.0f)",
                 what, cells, nn, UMF_FREE_CELLS);
    if (cells > (double) INT_MAX)   /* cell ids are ints */
        Rf_error("%s would need %.0f cells, more than the %d that can be indexed",
                 what, cells, INT_MAX);
}

/* Room for element i of an iteration trace that grows as the iterations
 * run (R_alloc'ed, doubling when full), so that a huge maxit allocates
 * nothing up front. Returns the (possibly new) array; *cap is its length. */
double *umf_trace_room(double *trace, R_xlen_t *cap, R_xlen_t i)
{
    if (i < *cap) return trace;
    R_xlen_t ncap = 2 * *cap > i + 1 ? 2 * *cap : i + 1;
    double *nt = (double *) R_alloc((size_t) ncap, sizeof(double));
    if (*cap > 0) memcpy(nt, trace, (size_t) *cap * sizeof(double));
    *cap = ncap;
    return nt;
}

/* memset(p, 0, n doubles) in slices of 2^20 with interrupt checks between:
 * first touching a GB of fresh accumulators takes a second or more. */
void umf_zero(double *p, size_t n)
{
    for (size_t from = 0; from < n; from += (size_t) UMF_CHUNK) {
        size_t len = n - from < (size_t) UMF_CHUNK ? n - from : (size_t) UMF_CHUNK;
        memset(p + from, 0, len * sizeof(double));
        if (len == (size_t) UMF_CHUNK) R_CheckUserInterrupt();
    }
}

/* The fingerprint of a weight vector, for wt_fingerprint() in R/weights.R:
 * c(n, sum, sum of squares, sum of |w|, sum of w * i / n, e), the sums over
 * w * 2^e with e = -round(log2(max |w|)) within +-1020 (0 when that maximum
 * is 0, NA or infinite), each term and each sum formed as R forms them
 * (long double sums, in order), in one pass instead of five vectors. The
 * steps are umfrage.h's umf_fp_*, which passes that write weights (rake.c,
 * calib.c) fuse with their writing: one definition of the numbers. */
void umf_fingerprint(const double *x, R_xlen_t n, double *a)
{
    double mx = 0;
    bool nan = false;
    for (R_xlen_t i = 0; i < n; i++) {
        if (ISNAN(x[i])) nan = true;
        else if (fabs(x[i]) > mx) mx = fabs(x[i]);
    }
    const double e = umf_fp_scale(mx, nan);
    umf_fp_sums s = {0, 0, 0, 0};
    for (R_xlen_t from = 0; from < n; from += UMF_CHUNK) {
        const R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
        umf_fp_add(&s, x, from, to, e, (double) n);
        R_CheckUserInterrupt();
    }
    umf_fp_finish(&s, (double) n, e, a);
}

SEXP C_fingerprint(SEXP w)
{
    if (TYPEOF(w) != REALSXP) Rf_error("'w' must be a double vector");
    SEXP ans = PROTECT(Rf_allocVector(REALSXP, 6));
    umf_fingerprint(REAL(w), XLENGTH(w), REAL(ans));
    UNPROTECT(1);
    return ans;
}
