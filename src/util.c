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
    SEXP ans = PROTECT(Rf_allocVector(VECSXP, k));
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

/* R's sum() of the doubles produced by term(i): in order, in long double,
 * with its clamp to +-Inf. */
static double fp_total(long double s)
{
    return s > DBL_MAX ? R_PosInf : s < -DBL_MAX ? R_NegInf : (double) s;
}

/* The fingerprint of a weight vector, for wt_fingerprint() in R/weights.R:
 * c(n, sum, sum of squares, sum of |w|, sum of w * i / n, e), the sums over
 * w * 2^e with e = -round(log2(max |w|)) within +-1020 (0 when that maximum
 * is 0, NA or infinite), each term and each sum formed as R forms them
 * (long double sums, in order), in one pass instead of five vectors. */
SEXP C_fingerprint(SEXP w)
{
    if (TYPEOF(w) != REALSXP) Rf_error("'w' must be a double vector");
    const R_xlen_t n = XLENGTH(w);
    const double *x = REAL(w), dn = (double) n;
    double mx = 0, e = 0;
    bool nan = false;
    for (R_xlen_t i = 0; i < n; i++) {
        if (ISNAN(x[i])) nan = true;
        else if (fabs(x[i]) > mx) mx = fabs(x[i]);
    }
    if (!nan && R_FINITE(mx) && mx > 0) {
        e = -nearbyint(log2(mx));
        if (e < -1020) e = -1020;
        if (e > 1020) e = 1020;
    }
    const double f = pow(2.0, e);
    long double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        double v = e != 0 ? x[i] * f : x[i], sq = v * v, wi = v * ((double) (i + 1) / dn);
        s1 += v; s2 += sq; s3 += fabs(v); s4 += wi;
    }
    SEXP ans = PROTECT(Rf_allocVector(REALSXP, 6));
    double *a = REAL(ans);
    a[0] = dn; a[1] = fp_total(s1); a[2] = fp_total(s2); a[3] = fp_total(s3); a[4] = fp_total(s4);
    a[5] = e;
    UNPROTECT(1);
    return ans;
}
