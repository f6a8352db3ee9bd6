/* A bandwidth floor for the benchmarks (internal; bench/tab.R): the plainest
 * pass over the same columns a table pass reads, summing every integer code
 * and every weight, on the threads umfrage would use for n rows. No cell
 * index, no scatter, no checks: what reading the data alone costs, measured
 * in the same run as the kernels. */
#include "umfrage.h"

/* codes: list of integer vectors (of one length n); w: double vector of
 * length n. Returns the sum of all codes (wrapping, as unsigned) plus the
 * sum of the weights, so that the compiler cannot drop the loop. */
SEXP C_bench_floor(SEXP codes, SEXP w)
{
    if (TYPEOF(codes) != VECSXP || TYPEOF(w) != REALSXP)
        Rf_error("'codes' must be a list of integer vectors and 'w' a double vector");
    const R_xlen_t n = XLENGTH(w);
    const int k = (int) XLENGTH(codes);
    const int **cp = (const int **) R_alloc(k > 0 ? k : 1, sizeof(int *));
    for (int j = 0; j < k; j++) {
        SEXP cj = VECTOR_ELT(codes, j);
        if (TYPEOF(cj) != INTSXP || XLENGTH(cj) != n)
            Rf_error("element %d of 'codes' must be an integer vector of length %.0f",
                     j + 1, (double) n);
        cp[j] = INTEGER(cj);
    }
    const double *wp = REAL(w);
    const int nth = umf_threads_for(n);
    uint32_t si = 0;
    double sd = 0;
    #pragma omp parallel for num_threads(nth) schedule(static) reduction(+:si, sd)
    for (R_xlen_t from = 0; from < n; from += 4096) {
        const R_xlen_t to = from + 4096 < n ? from + 4096 : n;
        uint32_t s1 = 0;
        double s2 = 0;
        if (k == 3) {   /* the benchmark's case: one loop over all four columns */
            const int *c0 = cp[0], *c1 = cp[1], *c2 = cp[2];
            #pragma omp simd reduction(+:s1, s2)
            for (R_xlen_t i = from; i < to; i++) {
                s1 += (uint32_t) c0[i] + (uint32_t) c1[i] + (uint32_t) c2[i];
                s2 += wp[i];
            }
            si += s1;
            sd += s2;
            continue;
        }
        for (int j = 0; j < k; j++) {
            const int *c = cp[j];
            #pragma omp simd reduction(+:s1)
            for (R_xlen_t i = from; i < to; i++) s1 += (uint32_t) c[i];
        }
        #pragma omp simd reduction(+:s2)
        for (R_xlen_t i = from; i < to; i++) s2 += wp[i];
        si += s1;
        sd += s2;
    }
    return Rf_ScalarReal(sd + (double) si);
}
