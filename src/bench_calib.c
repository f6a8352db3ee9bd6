/* The floor of a calibration pass, for bench/calibrate.R: a pass over the
 * rows with numeric auxiliaries evaluates one exponential per row (calib.c
 * computes it with its own vectorised cal_exp(), within 1 ulp of exp()), so
 * the cost of exp() alone over as many values, in a plain C loop, is what
 * the pass is measured against. Not used by the package's R functions. */
#include "umfrage.h"
#include <math.h>

/* sum(exp(x)), reps times over x (1 <= reps <= 1e4); returns the last sum. */
SEXP C_bench_exp(SEXP x, SEXP reps)
{
    if (TYPEOF(x) != REALSXP) Rf_error("'x' must be a double vector");
    const int r = umf_as_int1(reps, "reps");
    if (r == NA_INTEGER || r < 1 || r > 10000) Rf_error("'reps' must be an integer from 1 to 10000");
    const double *v = REAL(x);
    const R_xlen_t n = XLENGTH(x);
    double s = 0;
    for (int k = 0; k < r; k++) {
        s = 0;
        for (R_xlen_t i = 0; i < n; i++) s += exp(v[i]);
        R_CheckUserInterrupt();
    }
    return Rf_ScalarReal(s);
}
