/* Sums over the rows for the calibration-adjusted variance with numeric
 * auxiliaries (R/var.R: cal_setup()). A row i has calibration cell g_i
 * (the joint level of the margin variables), design unit d_i (PSU, or
 * stratum of row PSUs), weight w_i, starting weight w0_i and numeric
 * auxiliaries u_i (p of them, each shifted by a constant so that u >= 0:
 * the margins' indicators span the constant, so the shift leaves the
 * calibration model's residuals unchanged, and non-negative products
 * w0 u and w^2 u can be the weights of tab()'s cell passes).
 *
 * One pass (two for the within-cell centring) yields
 *   w0u   G x p      sum of w0 u per cell
 *   w0uu  p x p      sum of w0 (u - ubar_g)(u - ubar_g)', ubar_g the
 *                    w0-weighted mean of u in cell g (no cancellation)
 *   W0g   G          sum of w0 per cell
 *   wu    D x p      sum of w u per design unit
 *   total p          sum of w * (unshifted u): the achieved totals
 *   and, with w2 TRUE (rows as PSUs):
 *   w2u   (G*D) x p  sum of w^2 u per (cell, unit), cell fastest
 *   w2uu  D x p x p  sum of w^2 u u' per unit
 *   rows_w2u         p vectors w^2 u (weights for the entries' pass)
 *   rows_w0u         p vectors w0 u (always) */
#include "umfrage.h"
#include <math.h>

SEXP C_cal_aux(SEXP g, SEXP Gs, SEXP d, SEXP Ds, SEXP w, SEXP w0, SEXP U, SEXP shift,
               SEXP w2s)
{
    if (TYPEOF(g) != INTSXP) Rf_error("'g' must be an integer vector of calibration cells");
    const R_xlen_t n = XLENGTH(g);
    if (TYPEOF(Gs) != INTSXP || XLENGTH(Gs) != 1 || INTEGER(Gs)[0] < 1)
        Rf_error("'G' must be one integer >= 1");
    if (TYPEOF(Ds) != INTSXP || XLENGTH(Ds) != 1 || INTEGER(Ds)[0] < 1)
        Rf_error("'D' must be one integer >= 1");
    const int G = INTEGER(Gs)[0], D = INTEGER(Ds)[0];
    const int *dp = NULL;
    if (!Rf_isNull(d)) {
        if (TYPEOF(d) != INTSXP || XLENGTH(d) != n)
            Rf_error("'d' must be NULL or an integer vector with one design unit per row");
        dp = INTEGER(d);
    } else if (D != 1) {
        Rf_error("'d' is NULL but 'D' is %d", D);
    }
    if (TYPEOF(w) != REALSXP || XLENGTH(w) != n || TYPEOF(w0) != REALSXP || XLENGTH(w0) != n)
        Rf_error("'w' and 'w0' must be double vectors with one value per row");
    if (TYPEOF(U) != VECSXP) Rf_error("'U' must be a list of double vectors");
    const int p = (int) XLENGTH(U);
    if (TYPEOF(shift) != REALSXP || XLENGTH(shift) != p)
        Rf_error("'shift' must be a double vector with one value per auxiliary");
    if (TYPEOF(w2s) != LGLSXP || XLENGTH(w2s) != 1 || LOGICAL(w2s)[0] == NA_LOGICAL)
        Rf_error("'w2' must be TRUE or FALSE");
    const bool want2 = LOGICAL(w2s)[0];
    const double gd = (double) G * D;
    if (gd * (p > 0 ? p : 1) > UMF_FREE_CELLS && gd > (double) n)
        Rf_error("too many (cell, design unit) pairs: %.0f", gd);
    const double **u = (const double **) R_alloc(p > 0 ? p : 1, sizeof(double *));
    for (int k = 0; k < p; k++) {
        SEXP uk = VECTOR_ELT(U, k);
        if (TYPEOF(uk) != REALSXP || XLENGTH(uk) != n)
            Rf_error("'U' element %d must be a double vector with one value per row", k + 1);
        u[k] = REAL(uk);
    }
    const int *gp = INTEGER(g);
    const double *wp = REAL(w), *w0p = REAL(w0), *sh = REAL(shift);

    const char *nm[9] = {"w0u", "w0uu", "W0g", "wu", "total", "w2u", "w2uu", "rows_w0u",
                         "rows_w2u"};
    SEXP ans = PROTECT(umf_named_list(nm, 9));
    SEXP s_w0u = PROTECT(Rf_allocMatrix(REALSXP, G, p));
    SEXP s_w0uu = PROTECT(Rf_allocMatrix(REALSXP, p, p));
    SEXP s_W0g = PROTECT(Rf_allocVector(REALSXP, G));
    SEXP s_wu = PROTECT(Rf_allocMatrix(REALSXP, D, p));
    SEXP s_tot = PROTECT(Rf_allocVector(REALSXP, p));
    SEXP s_w2u = PROTECT(want2 ? Rf_allocMatrix(REALSXP, (int) gd, p) : R_NilValue);
    SEXP s_w2uu = PROTECT(want2 ? Rf_allocVector(REALSXP, (R_xlen_t) D * p * p) : R_NilValue);
    SEXP r_w0u = PROTECT(Rf_allocVector(VECSXP, p));
    SEXP r_w2u = PROTECT(want2 ? Rf_allocVector(VECSXP, p) : R_NilValue);
    double **rw0 = (double **) R_alloc(p > 0 ? p : 1, sizeof(double *));
    double **rw2 = (double **) R_alloc(p > 0 ? p : 1, sizeof(double *));
    for (int k = 0; k < p; k++) {
        SET_VECTOR_ELT(r_w0u, k, Rf_allocVector(REALSXP, n));
        rw0[k] = REAL(VECTOR_ELT(r_w0u, k));
        if (want2) {
            SET_VECTOR_ELT(r_w2u, k, Rf_allocVector(REALSXP, n));
            rw2[k] = REAL(VECTOR_ELT(r_w2u, k));
        }
    }
    double *a_w0u = REAL(s_w0u), *a_w0uu = REAL(s_w0uu), *a_W0g = REAL(s_W0g),
           *a_wu = REAL(s_wu), *a_tot = REAL(s_tot);
    double *a_w2u = want2 ? REAL(s_w2u) : NULL, *a_w2uu = want2 ? REAL(s_w2uu) : NULL;
    memset(a_w0u, 0, sizeof(double) * (size_t) G * p);
    memset(a_w0uu, 0, sizeof(double) * (size_t) p * p);
    memset(a_W0g, 0, sizeof(double) * (size_t) G);
    memset(a_wu, 0, sizeof(double) * (size_t) D * p);
    memset(a_tot, 0, sizeof(double) * (size_t) p);
    if (want2) {
        memset(a_w2u, 0, sizeof(double) * (size_t) gd * p);
        memset(a_w2uu, 0, sizeof(double) * (size_t) D * p * p);
    }
    double *uu = (double *) R_alloc(p > 0 ? p : 1, sizeof(double));
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        const int gi = gp[i], di = dp ? dp[i] : 1;
        if (gi < 1 || gi > G) Rf_error("calibration cell out of range at row %.0f", (double) i + 1);
        if (di < 1 || di > D) Rf_error("design unit out of range at row %.0f", (double) i + 1);
        const double wi = wp[i], w0i = w0p[i];
        if (!(fabs(wi) < INFINITY) || !(w0i >= 0 && w0i < INFINITY))
            Rf_error("weights NA or infinite, or starting weight negative, at row %.0f",
                     (double) i + 1);
        const double wi2 = wi * wi;
        a_W0g[gi - 1] += w0i;
        const size_t gdi = (size_t) (gi - 1) + (size_t) G * (di - 1);
        for (int k = 0; k < p; k++) {
            const double raw = u[k][i];
            if (!(fabs(raw) < INFINITY))
                Rf_error("numeric auxiliary %d is NA or infinite at row %.0f", k + 1, (double) i + 1);
            uu[k] = raw - sh[k];
            if (uu[k] < 0) Rf_error("numeric auxiliary %d lies below its shift at row %.0f", k + 1,
                                   (double) i + 1);
            a_tot[k] += wi * raw;
            a_w0u[(size_t) G * k + gi - 1] += w0i * uu[k];
            a_wu[(size_t) D * k + di - 1] += wi * uu[k];
            rw0[k][i] = w0i * uu[k];
        }
        if (want2) {
            for (int k = 0; k < p; k++) {
                a_w2u[(size_t) gd * k + gdi] += wi2 * uu[k];
                rw2[k][i] = wi2 * uu[k];
                for (int l = 0; l <= k; l++)
                    a_w2uu[(size_t) (di - 1) + (size_t) D * (k + (size_t) p * l)] +=
                        wi2 * uu[k] * uu[l];
            }
        }
    }
    /* the within-cell centred cross-products of w0 u, from the cell means */
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        const int gi = gp[i] - 1;
        const double w0i = w0p[i];
        if (w0i == 0) continue;
        for (int k = 0; k < p; k++)
            uu[k] = (u[k][i] - sh[k]) - a_w0u[(size_t) G * k + gi] / a_W0g[gi];
        for (int k = 0; k < p; k++)
            for (int l = 0; l <= k; l++) a_w0uu[k + (size_t) p * l] += w0i * uu[k] * uu[l];
    }
    for (int k = 0; k < p; k++)
        for (int l = 0; l < k; l++) {
            a_w0uu[l + (size_t) p * k] = a_w0uu[k + (size_t) p * l];
            if (want2)
                for (int dd = 0; dd < D; dd++)
                    a_w2uu[dd + (size_t) D * (l + (size_t) p * k)] =
                        a_w2uu[dd + (size_t) D * (k + (size_t) p * l)];
        }
    SET_VECTOR_ELT(ans, 0, s_w0u);
    SET_VECTOR_ELT(ans, 1, s_w0uu);
    SET_VECTOR_ELT(ans, 2, s_W0g);
    SET_VECTOR_ELT(ans, 3, s_wu);
    SET_VECTOR_ELT(ans, 4, s_tot);
    SET_VECTOR_ELT(ans, 5, s_w2u);
    SET_VECTOR_ELT(ans, 6, s_w2uu);
    SET_VECTOR_ELT(ans, 7, r_w0u);
    SET_VECTOR_ELT(ans, 8, r_w2u);
    UNPROTECT(10);
    return ans;
}
