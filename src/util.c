/* Small helpers shared by the C files: argument checks whose messages
 * name the argument, and named lists for results. */
#include "umfrage.h"

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
