/* Raking (iterative proportional fitting) on cells, or on rows when the
 * cells would be too many.
 *
 * Pass 1 codes every row into its cell over all margin variables and sums
 * the starting weights per cell (the cell id is parked in the output vector,
 * which is later overwritten). IPF then runs on "units": cells, each with
 * its summed starting weight. Pass 2 maps each cell's factor back to its
 * rows. In row mode the units are the rows themselves and the output vector
 * holds the current weights. Convergence means the margins are met: the
 * largest relative margin error |achieved - target| / target is at most
 * epsilon (a zero target is measured against the total instead).
 *
 * Problems that R should report in words come back as a status code with
 * indices (R knows the variable names and levels); R never sees a partial
 * result. */
#include "umfrage.h"
#include <string.h>
#include <math.h>

enum {
    RK_OK = 0,
    RK_BAD_CODE = 1,     /* info: variable, rows, first row           */
    RK_BAD_WEIGHT = 2,   /* info: rows, first row                     */
    RK_NO_TARGET = 3,    /* info: margin, level, rows                 */
    RK_NO_WEIGHT = 4,    /* info: margin, level                       */
    RK_CAP_LEVEL = 5,    /* info: margin, level; value: needed ratio  */
    RK_ZEROED = 6        /* info: margin, level                       */
};

typedef struct {
    R_xlen_t nunit;
    int nmarg;
    const int **mcode;   /* per margin: code of each unit               */
    int *moff;           /* 1 when mcode is 1-based (row codes), else 0 */
    int *mlev;           /* levels per margin                           */
    int *loff;           /* offset of margin m's levels in a flat array */
    int nlevtot;
    double *cur;         /* current unit weights                        */
    const double *bound; /* cap bound per unit, or NULL                 */
    double *sums;        /* flat per-level sums of cur                  */
} ipf_ctx;

/* One pass over the units: optionally multiply by margin `mult`'s factors,
 * optionally trim to the bounds, and accumulate the sums of margins
 * [acc_from, acc_to). Per-thread sums are merged in thread order. */
static void unit_pass(ipf_ctx *x, int mult, const double *f, bool trim,
                      int acc_from, int acc_to)
{
    const R_xlen_t n = x->nunit;
    const int nth = umf_threads_for(n);
    const int L = x->nlevtot;
    /* released on return: a long non-converging run must not pile up
     * R_alloc blocks, one per margin and sweep */
    const void *vmax = vmaxget();
    double *buf = (double *) R_alloc((size_t) nth * L, sizeof(double));
    memset(buf, 0, (size_t) nth * L * sizeof(double));
    double *cur = x->cur;
    const double *bound = trim ? x->bound : NULL;
    const int *mc = mult >= 0 ? x->mcode[mult] : NULL;
    const int moff = mult >= 0 ? x->moff[mult] : 0;

    for (R_xlen_t from = 0; from < n; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
        #pragma omp parallel num_threads(nth)
        {
            double *b = buf + (size_t) omp_get_thread_num() * L;
            #pragma omp for schedule(static)
            for (R_xlen_t u = from; u < to; u++) {
                double w = cur[u];
                if (mc) w *= f[mc[u] - moff];
                if (bound && w > bound[u]) w = bound[u];
                cur[u] = w;
                for (int m = acc_from; m < acc_to; m++)
                    b[x->loff[m] + x->mcode[m][u] - x->moff[m]] += w;
            }
        }
        if (n > UMF_CHUNK) R_CheckUserInterrupt();
    }
    for (int m = acc_from; m < acc_to; m++) {
        for (int l = 0; l < x->mlev[m]; l++) {
            int k = x->loff[m] + l;
            double s = 0;
            for (int t = 0; t < nth; t++) s += buf[(size_t) t * L + k];
            x->sums[k] = s;
        }
    }
    vmaxset(vmax);
}

/* Largest relative margin error; its margin and level go to *wm, *wl. */
static double margin_error(const ipf_ctx *x, const double *tg, double total,
                           int *wm, int *wl)
{
    double err = 0;
    *wm = 0; *wl = 0;
    for (int m = 0; m < x->nmarg; m++)
        for (int l = 0; l < x->mlev[m]; l++) {
            int k = x->loff[m] + l;
            double t = tg[k], a = x->sums[k];
            double e = t > 0 ? fabs(a - t) / t : fabs(a) / total;
            if (e > err || ISNAN(e)) { err = e; *wm = m; *wl = l; }
        }
    return err;
}

static SEXP status_result(int status, int i1, int i2, double i3, double i4,
                          double value)
{
    const char *nm[] = {"status", "info", "value"};
    SEXP ans = PROTECT(umf_named_list(nm, 3));
    SET_VECTOR_ELT(ans, 0, Rf_ScalarInteger(status));
    SEXP info = PROTECT(Rf_allocVector(REALSXP, 4));
    REAL(info)[0] = i1; REAL(info)[1] = i2; REAL(info)[2] = i3; REAL(info)[3] = i4;
    SET_VECTOR_ELT(ans, 1, info);
    SET_VECTOR_ELT(ans, 2, Rf_ScalarReal(value));
    UNPROTECT(2);
    return ans;
}

/* codes: list of k integer code vectors (1-based; factors welcome);
 * nlev: levels per variable; w0: starting weights or NULL;
 * margins: list of integer vectors of 0-based variable indices;
 * targets: list of double vectors, one per margin, over the margin's joint
 *   levels (first variable fastest); NA = no target given for that level;
 * scale: TRUE when the targets are proportions to be scaled to the sum of
 *   the starting weights (known after pass 1, so R need not sum them);
 * cap: ratio bound on weight / mean weight, or NA;
 * use_cells: TRUE, FALSE, or NA (decide by size). */
SEXP C_rake(SEXP codes, SEXP nlev, SEXP w0, SEXP margins, SEXP targets,
            SEXP scale, SEXP cap, SEXP epsilon, SEXP maxit, SEXP use_cells)
{
    int nprot = 0;
    if (TYPEOF(codes) != VECSXP || XLENGTH(codes) < 1)
        Rf_error("'codes' must be a non-empty list of integer code vectors");
    if (TYPEOF(nlev) != INTSXP || XLENGTH(nlev) != XLENGTH(codes))
        Rf_error("'nlev' must be an integer vector with one entry per element of 'codes'");
    if (TYPEOF(margins) != VECSXP || XLENGTH(margins) < 1)
        Rf_error("'margins' must be a non-empty list of variable index vectors");
    if (TYPEOF(targets) != VECSXP || XLENGTH(targets) != XLENGTH(margins))
        Rf_error("'targets' must be a list with one element per margin");
    double capr = umf_as_double1(cap, "cap");
    double eps = umf_as_double1(epsilon, "epsilon");
    int maxit_ = umf_as_int1(maxit, "maxit");
    if (!(eps >= 0)) Rf_error("'epsilon' must be a non-negative number");
    if (maxit_ == NA_INTEGER || maxit_ < 1) Rf_error("'maxit' must be a positive integer");
    if (!ISNAN(capr) && !(capr >= 1)) Rf_error("'cap' must be NA or a number >= 1");
    if (TYPEOF(scale) != LGLSXP || XLENGTH(scale) != 1 || LOGICAL(scale)[0] == NA_LOGICAL)
        Rf_error("'scale' must be TRUE or FALSE");
    if (TYPEOF(use_cells) != LGLSXP || XLENGTH(use_cells) != 1)
        Rf_error("'use_cells' must be TRUE, FALSE or NA");

    const int k = (int) XLENGTH(codes);
    const int *nl = INTEGER(nlev);
    const int **vc = (const int **) R_alloc(k, sizeof(int *));
    R_xlen_t n = -1;
    for (int j = 0; j < k; j++) {
        SEXP cj = VECTOR_ELT(codes, j);
        if (TYPEOF(cj) != INTSXP)
            Rf_error("element %d of 'codes' must be an integer vector", j + 1);
        if (n < 0) n = XLENGTH(cj);
        else if (XLENGTH(cj) != n)
            Rf_error("element %d of 'codes' has length %.0f, expected %.0f",
                     j + 1, (double) XLENGTH(cj), (double) n);
        if (nl[j] == NA_INTEGER || nl[j] < 1)
            Rf_error("'nlev' must hold positive level counts (element %d)", j + 1);
        vc[j] = INTEGER(cj);
    }
    const double *wp = NULL;
    if (!Rf_isNull(w0)) {
        if (TYPEOF(w0) != REALSXP || XLENGTH(w0) != n)
            Rf_error("'weights' must be a double vector with one value per row");
        wp = REAL(w0);
    }

    /* margins: variables, joint level counts, strides */
    const int M = (int) XLENGTH(margins);
    int *mlev = (int *) R_alloc(M, sizeof(int));
    int *loff = (int *) R_alloc(M + 1, sizeof(int));
    const int **mvars = (const int **) R_alloc(M, sizeof(int *));
    int *mnv = (int *) R_alloc(M, sizeof(int));
    int L = 0;
    for (int m = 0; m < M; m++) {
        SEXP mv = VECTOR_ELT(margins, m);
        if (TYPEOF(mv) != INTSXP || XLENGTH(mv) < 1)
            Rf_error("element %d of 'margins' must be a non-empty integer vector", m + 1);
        mnv[m] = (int) XLENGTH(mv);
        mvars[m] = INTEGER(mv);
        double p = 1;
        for (int q = 0; q < mnv[m]; q++) {
            int v = mvars[m][q];
            if (v == NA_INTEGER || v < 0 || v >= k)
                Rf_error("element %d of 'margins' refers to variable %d, outside 0..%d",
                         m + 1, v, k - 1);
            p *= nl[v];
        }
        if (p > 1e8) Rf_error("margin %d has %.0f levels, too many", m + 1, p);
        /* (margins may share one long target vector: the sum needs a check) */
        if ((double) L + p > 1e8) Rf_error("the margins have more than 1e8 levels in all");
        SEXP tm = VECTOR_ELT(targets, m);
        if (TYPEOF(tm) != REALSXP || XLENGTH(tm) != (R_xlen_t) p)
            Rf_error("element %d of 'targets' must be a double vector of length %.0f",
                     m + 1, p);
        mlev[m] = (int) p;
        loff[m] = L;
        L += (int) p;
    }
    loff[M] = L;
    double *tg = (double *) R_alloc(L, sizeof(double));
    bool *has_tg = (bool *) R_alloc(L, sizeof(bool));
    double total = 0;
    for (int m = 0; m < M; m++) {
        const double *t = REAL(VECTOR_ELT(targets, m));
        double tot = 0;
        for (int l = 0; l < mlev[m]; l++) {
            double v = t[l];
            has_tg[loff[m] + l] = !ISNAN(v);
            if (!ISNAN(v) && !(v >= 0 && R_FINITE(v)))
                Rf_error("element %d of 'targets' holds a negative or infinite value", m + 1);
            tg[loff[m] + l] = ISNAN(v) ? 0.0 : v;
            tot += tg[loff[m] + l];
        }
        if (m == 0) total = tot;
    }
    if (!(total > 0)) Rf_error("'targets' must have a positive total");

    /* cells or rows? */
    double ncell_d = 1;
    for (int j = 0; j < k; j++) ncell_d *= nl[j];
    int uc = LOGICAL(use_cells)[0];
    bool cells;
    if (uc == NA_LOGICAL)
        cells = ncell_d <= 67108864.0 && (ncell_d <= 65536.0 || ncell_d <= n / 4.0);
    else   /* cells on request, unless there would be absurdly many */
        cells = uc && ncell_d <= (double) INT_MAX &&
            (ncell_d <= UMF_FREE_CELLS || ncell_d <= (double) n);
    int *stride = (int *) R_alloc(k, sizeof(int));
    {
        double s = 1;
        for (int j = 0; j < k; j++) { stride[j] = cells ? (int) s : 0; s *= nl[j]; }
    }
    const int ncell = cells ? (int) ncell_d : 0;

    SEXP out = PROTECT(Rf_allocVector(REALSXP, n)); nprot++;
    double *op = REAL(out);

    /* ---- pass 1: validate, code cells, sum starting weights ---- */
    const int nth = umf_threads_for(n);
    const int CS = 3; /* per-cell: rows, rows with w > 0, sum w */
    double *cacc = NULL, *cmin = NULL, *cmax = NULL;
    bool track = cells && !ISNAN(capr);
    if (cells) {
        cacc = (double *) R_alloc((size_t) nth * ncell * CS, sizeof(double));
        umf_zero(cacc, (size_t) nth * ncell * CS);
        if (track) {
            cmin = (double *) R_alloc((size_t) nth * ncell, sizeof(double));
            cmax = (double *) R_alloc((size_t) nth * ncell, sizeof(double));
            for (size_t q = 0; q < (size_t) nth * ncell; q++) { cmin[q] = R_PosInf; cmax[q] = 0; }
        }
    }
    R_xlen_t *badc = (R_xlen_t *) R_alloc((size_t) nth * k, sizeof(R_xlen_t));
    R_xlen_t *badc_first = (R_xlen_t *) R_alloc((size_t) nth * k, sizeof(R_xlen_t));
    R_xlen_t *badw = (R_xlen_t *) R_alloc(nth, sizeof(R_xlen_t));
    R_xlen_t *badw_first = (R_xlen_t *) R_alloc(nth, sizeof(R_xlen_t));
    for (int q = 0; q < nth * k; q++) { badc[q] = 0; badc_first[q] = -1; }
    for (int t = 0; t < nth; t++) { badw[t] = 0; badw_first[t] = -1; }

    /* Without a cap, cells come from the shared cell kernel (one unrolled
     * pass, nothing stored per row); pass 2 then codes the rows again. */
    umf_coder cdr = {k, vc, nl, stride, ncell};
    const bool fast = cells && !track;
    if (fast) {
        R_xlen_t *counts = (R_xlen_t *) R_alloc(k + 2, sizeof(R_xlen_t));
        const double *a3 = umf_cell_pass(&cdr, wp, n, 3, counts, NULL);
        if (counts[k + 1] > 0) {
            UNPROTECT(nprot);
            return status_result(RK_BAD_WEIGHT, 0, 0, (double) counts[k + 1], 0, 0);
        }
        for (int j = 0; j <= k; j++)
            if (counts[j] > 0) {
                UNPROTECT(nprot);
                return status_result(RK_BAD_CODE, j < k ? j : 0, 0, (double) counts[j], 0, 0);
            }
        for (int c = 0; c < ncell; c++) {
            double *ac = cacc + (size_t) c * CS;
            ac[0] = a3[3 * (size_t) c];
            ac[1] = a3[3 * (size_t) c];        /* positive-weight rows: only a cap needs them */
            ac[2] = a3[3 * (size_t) c + 1];
        }
    }

    for (R_xlen_t from = 0; from < n && !fast; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
        #pragma omp parallel num_threads(nth)
        {
            int t = omp_get_thread_num();
            double *a = cells ? cacc + (size_t) t * ncell * CS : NULL;
            R_xlen_t *bc = badc + (size_t) t * k, *bcf = badc_first + (size_t) t * k;
            #pragma omp for schedule(static)
            for (R_xlen_t i = from; i < to; i++) {
                int cell = 0;
                bool ok = true;
                for (int j = 0; j < k; j++) {
                    int c = vc[j][i];
                    if (c < 1 || c > nl[j]) {
                        if (bc[j]++ == 0) bcf[j] = i;
                        ok = false;
                    } else cell += (c - 1) * stride[j];
                }
                double w = wp ? wp[i] : 1.0;
                if (!(w >= 0 && w < INFINITY)) {
                    if (badw[t]++ == 0) badw_first[t] = i;
                    ok = false;
                }
                if (!ok) continue;
                if (cells) {
                    double *ac = a + (size_t) cell * CS;
                    ac[0] += 1.0;
                    if (w > 0) {
                        ac[1] += 1.0;
                        ac[2] += w;
                        if (track) {
                            size_t q = (size_t) t * ncell + cell;
                            if (w < cmin[q]) cmin[q] = w;
                            if (w > cmax[q]) cmax[q] = w;
                        }
                    }
                    op[i] = (double) cell;
                } else {
                    op[i] = w;
                }
            }
        }
        R_CheckUserInterrupt();
    }
    for (int j = 0; j < k; j++) {
        R_xlen_t cnt = 0, first = -1;
        for (int t = 0; t < nth; t++) {
            cnt += badc[(size_t) t * k + j];
            if (first < 0 && badc_first[(size_t) t * k + j] >= 0)
                first = badc_first[(size_t) t * k + j];
        }
        if (cnt > 0) {
            UNPROTECT(nprot);
            return status_result(RK_BAD_CODE, j, 0, (double) cnt, (double) first + 1, 0);
        }
    }
    {
        R_xlen_t cnt = 0, first = -1;
        for (int t = 0; t < nth; t++) {
            cnt += badw[t];
            if (first < 0 && badw_first[t] >= 0) first = badw_first[t];
        }
        if (cnt > 0) {
            UNPROTECT(nprot);
            return status_result(RK_BAD_WEIGHT, 0, 0, (double) cnt, (double) first + 1, 0);
        }
    }

    /* merge the cells; a cap needs equal positive starting weights within a
     * cell (then weight / mean weight is a per-cell bound), else use rows */
    double *ccnt = NULL, *cpos = NULL, *cbase = NULL;
    if (cells) {
        ccnt = (double *) R_alloc(ncell, sizeof(double));
        cpos = (double *) R_alloc(ncell, sizeof(double));
        cbase = (double *) R_alloc(ncell, sizeof(double));
        bool uniform = true;
        for (int c = 0; c < ncell; c++) {
            double a0 = 0, a1 = 0, a2 = 0, mn = R_PosInf, mx = 0;
            for (int t = 0; t < (fast ? 1 : nth); t++) {
                const double *ac = cacc + ((size_t) t * ncell + c) * CS;
                a0 += ac[0]; a1 += ac[1]; a2 += ac[2];
                if (track) {
                    size_t q = (size_t) t * ncell + c;
                    if (cmin[q] < mn) mn = cmin[q];
                    if (cmax[q] > mx) mx = cmax[q];
                }
            }
            ccnt[c] = a0; cpos[c] = a1; cbase[c] = a2;
            if (track && a1 > 0 && (mx - mn) > 1e-12 * mx) uniform = false;
        }
        if (track && !uniform) {
            /* fall back to rows: reset the output to the starting weights */
            cells = false;
            for (R_xlen_t i = 0; i < n; i++) {
                if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
                op[i] = wp ? wp[i] : 1.0;
            }
        }
    }

    /* ---- units and their margin codes ---- */
    ipf_ctx x;
    x.nmarg = M;
    x.mlev = mlev;
    x.loff = loff;
    x.nlevtot = L;
    x.mcode = (const int **) R_alloc(M, sizeof(int *));
    x.moff = (int *) R_alloc(M, sizeof(int));
    x.sums = (double *) R_alloc(L, sizeof(double));
    double *lcnt = (double *) R_alloc(L, sizeof(double));
    double *lpos = (double *) R_alloc(L, sizeof(double));
    double *lbase = (double *) R_alloc(L, sizeof(double));
    memset(lcnt, 0, L * sizeof(double));
    memset(lpos, 0, L * sizeof(double));
    memset(lbase, 0, L * sizeof(double));

    if (cells) {
        x.nunit = ncell;
        x.cur = (double *) R_alloc(ncell, sizeof(double));
        memcpy(x.cur, cbase, ncell * sizeof(double));
        for (int m = 0; m < M; m++) {
            int *code = (int *) R_alloc(ncell, sizeof(int));
            for (int c = 0; c < ncell; c++) {
                int lv = 0, s = 1;
                for (int q = 0; q < mnv[m]; q++) {
                    int v = mvars[m][q];
                    lv += ((c / stride[v]) % nl[v]) * s;
                    s *= nl[v];
                }
                code[c] = lv;
                lcnt[loff[m] + lv] += ccnt[c];
                lpos[loff[m] + lv] += cpos[c];
                lbase[loff[m] + lv] += cbase[c];
            }
            x.mcode[m] = code;
            x.moff[m] = 0;
        }
    } else {
        x.nunit = n;
        x.cur = op;
        for (int m = 0; m < M; m++) {
            if (mnv[m] == 1) {
                x.mcode[m] = vc[mvars[m][0]];
                x.moff[m] = 1;
            } else {
                /* joint margin on rows: its codes, computed once */
                int *code = (int *) R_alloc(n > 0 ? n : 1, sizeof(int));
                for (R_xlen_t i = 0; i < n; i++) {
                    if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
                    int lv = 0, s = 1;
                    for (int q = 0; q < mnv[m]; q++) {
                        int v = mvars[m][q];
                        lv += (vc[v][i] - 1) * s;
                        s *= nl[v];
                    }
                    code[i] = lv;
                }
                x.mcode[m] = code;
                x.moff[m] = 0;
            }
        }
        for (R_xlen_t i = 0; i < n; i++) {
            double w = op[i];
            for (int m = 0; m < M; m++) {
                int kk = loff[m] + x.mcode[m][i] - x.moff[m];
                lcnt[kk] += 1;
                if (w > 0) { lpos[kk] += 1; lbase[kk] += w; }
            }
            if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        }
    }

    if (LOGICAL(scale)[0]) {
        double sw = 0;
        for (int l = 0; l < mlev[0]; l++) sw += lbase[l];
        if (!(sw > 0)) {
            UNPROTECT(nprot);
            return status_result(RK_BAD_WEIGHT, 0, 0, 0, 0, 0);
        }
        for (int q = 0; q < L; q++) tg[q] *= sw / total;
        total = sw;
    }

    /* ---- feasibility checks that need only the level sums ---- */
    double npos = 0;
    for (int l = 0; l < mlev[0]; l++) npos += lpos[l];
    for (int m = 0; m < M; m++)
        for (int l = 0; l < mlev[m]; l++) {
            int kk = loff[m] + l;
            if (!has_tg[kk] && lcnt[kk] > 0) {
                UNPROTECT(nprot);
                return status_result(RK_NO_TARGET, m, l, lcnt[kk], 0, 0);
            }
        }
    for (int m = 0; m < M; m++)
        for (int l = 0; l < mlev[m]; l++) {
            int kk = loff[m] + l;
            if (tg[kk] > 0 && !(lbase[kk] > 0)) {
                UNPROTECT(nprot);
                return status_result(RK_NO_WEIGHT, m, l, lcnt[kk], 0, 0);
            }
        }
    double U = NA_REAL;
    double *bound = NULL;
    if (!ISNAN(capr)) {
        U = capr * total / npos;    /* absolute bound on a row's weight */
        for (int m = 0; m < M; m++)
            for (int l = 0; l < mlev[m]; l++) {
                int kk = loff[m] + l;
                if (tg[kk] > U * lpos[kk] * (1 + 1e-12)) {
                    double need = tg[kk] / lpos[kk] / (total / npos);
                    UNPROTECT(nprot);
                    return status_result(RK_CAP_LEVEL, m, l, lpos[kk], 0, need);
                }
            }
        bound = (double *) R_alloc(x.nunit, sizeof(double));
        if (cells) {
            for (int c = 0; c < ncell; c++) bound[c] = U * cpos[c];
        } else {
            for (R_xlen_t i = 0; i < n; i++) {
                if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
                bound[i] = op[i] > 0 ? U : 0;
            }
        }
    }
    x.bound = bound;

    /* ---- IPF ---- */
    memcpy(x.sums, lbase, L * sizeof(double));
    double *f = (double *) R_alloc(L, sizeof(double));
    R_xlen_t trace_cap = maxit_ < 1023 ? (R_xlen_t) maxit_ + 1 : 1024;
    double *trace = (double *) R_alloc(trace_cap, sizeof(double));
    int iter = 0, wm = 0, wl = 0;
    bool converged = false;
    /* starting weights may already break the cap: trim before measuring */
    if (bound) unit_pass(&x, -1, NULL, true, 0, M);
    double err = margin_error(&x, tg, total, &wm, &wl);
    trace[0] = err;
    while (true) {
        if (err <= eps) { converged = true; break; }
        if (iter >= maxit_) break;
        for (int m = 0; m < M; m++) {
            double *fm = f + loff[m];
            for (int l = 0; l < mlev[m]; l++) {
                int kk = loff[m] + l;
                double a = x.sums[kk];
                if (a > 0) fm[l] = tg[kk] / a;
                else if (tg[kk] > 0) {
                    UNPROTECT(nprot);
                    return status_result(RK_ZEROED, m, l, lcnt[kk], 0, 0);
                } else fm[l] = 1.0;
            }
            if (m < M - 1) unit_pass(&x, m, fm, false, m + 1, m + 2);
            else unit_pass(&x, m, fm, bound != NULL, 0, M);
        }
        iter++;
        err = margin_error(&x, tg, total, &wm, &wl);
        trace = umf_trace_room(trace, &trace_cap, iter);
        trace[iter] = err;
        R_CheckUserInterrupt();
    }

    /* ---- pass 2: cell factors back to the rows ---- */
    if (cells) {
        double *g = (double *) R_alloc(ncell, sizeof(double));
        for (int c = 0; c < ncell; c++) g[c] = cbase[c] > 0 ? x.cur[c] / cbase[c] : 0.0;
        if (fast) umf_cell_map(&cdr, wp, g, op, n);
        for (R_xlen_t from = 0; from < n && !fast; from += UMF_CHUNK) {
            R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
            #pragma omp parallel for num_threads(nth) schedule(static)
            for (R_xlen_t i = from; i < to; i++) {
                double w = wp ? wp[i] : 1.0;
                op[i] = w * g[(int) op[i]];
            }
            R_CheckUserInterrupt();
        }
    }

    const char *nm[] = {"status", "weights", "iterations", "converged",
                        "max_error", "worst", "trace", "achieved", "n",
                        "n_positive", "start", "mode", "ncell", "cap_bound",
                        "targets", "total"};
    SEXP ans = PROTECT(umf_named_list(nm, 16)); nprot++;
    SET_VECTOR_ELT(ans, 0, Rf_ScalarInteger(RK_OK));
    SET_VECTOR_ELT(ans, 1, out);
    SET_VECTOR_ELT(ans, 2, Rf_ScalarInteger(iter));
    SET_VECTOR_ELT(ans, 3, Rf_ScalarLogical(converged));
    SET_VECTOR_ELT(ans, 4, Rf_ScalarReal(err));
    SEXP worst = PROTECT(Rf_allocVector(INTSXP, 2)); nprot++;
    INTEGER(worst)[0] = wm; INTEGER(worst)[1] = wl;
    SET_VECTOR_ELT(ans, 5, worst);
    SEXP tr = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t) iter + 1)); nprot++;
    memcpy(REAL(tr), trace, ((size_t) iter + 1) * sizeof(double));
    SET_VECTOR_ELT(ans, 6, tr);
    SEXP ach = PROTECT(Rf_allocVector(VECSXP, M)); nprot++;
    SEXP cnt = PROTECT(Rf_allocVector(VECSXP, M)); nprot++;
    SEXP pos = PROTECT(Rf_allocVector(VECSXP, M)); nprot++;
    SEXP st = PROTECT(Rf_allocVector(VECSXP, M)); nprot++;
    for (int m = 0; m < M; m++) {
        SEXP a = Rf_allocVector(REALSXP, mlev[m]);
        SET_VECTOR_ELT(ach, m, a);
        memcpy(REAL(a), x.sums + loff[m], mlev[m] * sizeof(double));
        SEXP b = Rf_allocVector(REALSXP, mlev[m]);
        SET_VECTOR_ELT(cnt, m, b);
        memcpy(REAL(b), lcnt + loff[m], mlev[m] * sizeof(double));
        SEXP c = Rf_allocVector(REALSXP, mlev[m]);
        SET_VECTOR_ELT(pos, m, c);
        memcpy(REAL(c), lpos + loff[m], mlev[m] * sizeof(double));
        SEXP d = Rf_allocVector(REALSXP, mlev[m]);
        SET_VECTOR_ELT(st, m, d);
        memcpy(REAL(d), lbase + loff[m], mlev[m] * sizeof(double));
    }
    SET_VECTOR_ELT(ans, 7, ach);
    SET_VECTOR_ELT(ans, 8, cnt);
    SET_VECTOR_ELT(ans, 9, pos);
    SET_VECTOR_ELT(ans, 10, st);
    SET_VECTOR_ELT(ans, 11, Rf_mkString(cells ? "cells" : "rows"));
    SET_VECTOR_ELT(ans, 12, Rf_ScalarReal(ncell_d));
    SET_VECTOR_ELT(ans, 13, Rf_ScalarReal(U));
    SEXP tgo = PROTECT(Rf_allocVector(VECSXP, M)); nprot++;
    for (int m = 0; m < M; m++) {
        SEXP a = Rf_allocVector(REALSXP, mlev[m]);
        SET_VECTOR_ELT(tgo, m, a);
        for (int l = 0; l < mlev[m]; l++)
            REAL(a)[l] = has_tg[loff[m] + l] ? tg[loff[m] + l] : NA_REAL;
    }
    SET_VECTOR_ELT(ans, 14, tgo);
    SET_VECTOR_ELT(ans, 15, Rf_ScalarReal(total));
    UNPROTECT(nprot);
    return ans;
}
