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

/* ---- C_rake, step by step ------------------------------------------------
 *
 * C_rake reads top-down as the pipeline: check the arguments, read the codes,
 * margins and targets, choose cells or rows, pass 1 over the rows (code the
 * cells, sum the starting weights), merge the cells, code the units into
 * margin levels, check that the targets can be met, iterate, map the cell
 * factors back to the rows, build the result. Every step reads and fills
 * one rake_job; a step that finds a problem R reports in words returns its
 * status (with the details in job->fail) and C_rake returns that alone. */

typedef struct {
    int status, i1, i2;
    double i3, i4, value;
} rk_fail;

typedef struct {
    /* arguments (check_args, read_codes) */
    int k;               /* code variables                              */
    const int *nl;       /* levels per variable                         */
    const int **vc;      /* codes per variable (1-based)                */
    R_xlen_t n;          /* rows                                        */
    const double *wp;    /* starting weights, or NULL for all 1         */
    double capr, eps;    /* cap (NA: none) and convergence tolerance    */
    int maxit;
    bool scale;          /* targets are proportions                     */
    int use_cells;       /* TRUE, FALSE or NA_LOGICAL                   */
    /* margins and targets (read_margins, read_targets) */
    int M, L;            /* margins; their levels in all                */
    int *mlev, *loff;    /* joint levels per margin; offsets (M + 1)    */
    const int **mvars;   /* variables of each margin (0-based)          */
    int *mnv;            /* number of variables of each margin          */
    double *tg;          /* flat targets (0 where none was given)       */
    bool *has_tg;        /* flat: whether a target was given            */
    double total;        /* sum of the first margin's targets           */
    /* units (choose_units, pass 1, merge_cells) */
    bool cells;          /* IPF on cells, else on rows                  */
    bool track;          /* cells with a cap: track per-cell min/max w0 */
    bool fast;           /* cells without a cap: the shared cell kernel */
    double ncell_d;      /* product of the level counts                 */
    int ncell;           /* cells (0 in row mode)                       */
    int *stride;         /* cell strides (0 in row mode)                */
    umf_coder cdr;       /* the cell coder (cells.c)                    */
    int nth;             /* threads of the row passes                   */
    SEXP outv;           /* the output vector (protected by C_rake)      */
    double *op;          /* its values: cell ids, then weights          */
    double *ccnt, *cpos, *cbase; /* per cell: rows, rows w0 > 0, sum w0 */
    double *lcnt, *lpos, *lbase; /* per level, flat: the same           */
    double U;            /* absolute bound on a row's weight, or NA     */
    rk_fail fail;
} rake_job;

/* Per-thread cell accumulators of pass 1: RK_CS values per cell (rows, rows
 * with w0 > 0, sum of w0), and with a cap the smallest and largest w0. */
enum { RK_CS = 3 };
typedef struct {
    double *acc, *min, *max;
    int nslot;           /* thread slots filled                         */
} cell_acc;

typedef struct {
    int iter, wm, wl;    /* sweeps; margin and level of the worst error */
    bool converged;
    double err;
    double *trace;       /* error before each sweep and after the last  */
} ipf_run;

static int fail(rake_job *r, int status, int i1, int i2, double i3, double i4,
                double value)
{
    r->fail = (rk_fail) {status, i1, i2, i3, i4, value};
    return status;
}

/* Shapes and scalars; the errors name the argument. */
static void check_args(rake_job *r, SEXP codes, SEXP nlev, SEXP margins, SEXP targets,
                       SEXP scale, SEXP cap, SEXP epsilon, SEXP maxit, SEXP use_cells)
{
    if (TYPEOF(codes) != VECSXP || XLENGTH(codes) < 1)
        Rf_error("'codes' must be a non-empty list of integer code vectors");
    if (TYPEOF(nlev) != INTSXP || XLENGTH(nlev) != XLENGTH(codes))
        Rf_error("'nlev' must be an integer vector with one entry per element of 'codes'");
    if (TYPEOF(margins) != VECSXP || XLENGTH(margins) < 1)
        Rf_error("'margins' must be a non-empty list of variable index vectors");
    if (TYPEOF(targets) != VECSXP || XLENGTH(targets) != XLENGTH(margins))
        Rf_error("'targets' must be a list with one element per margin");
    r->capr = umf_as_double1(cap, "cap");
    r->eps = umf_as_double1(epsilon, "epsilon");
    r->maxit = umf_as_int1(maxit, "maxit");
    if (!(r->eps >= 0)) Rf_error("'epsilon' must be a non-negative number");
    if (r->maxit == NA_INTEGER || r->maxit < 1) Rf_error("'maxit' must be a positive integer");
    if (!ISNAN(r->capr) && !(r->capr >= 1)) Rf_error("'cap' must be NA or a number >= 1");
    if (TYPEOF(scale) != LGLSXP || XLENGTH(scale) != 1 || LOGICAL(scale)[0] == NA_LOGICAL)
        Rf_error("'scale' must be TRUE or FALSE");
    if (TYPEOF(use_cells) != LGLSXP || XLENGTH(use_cells) != 1)
        Rf_error("'use_cells' must be TRUE, FALSE or NA");
    r->scale = LOGICAL(scale)[0];
    r->use_cells = LOGICAL(use_cells)[0];
}

/* The code vectors (equal lengths), level counts and starting weights. */
static void read_codes(rake_job *r, SEXP codes, SEXP nlev, SEXP w0)
{
    const int k = r->k = (int) XLENGTH(codes);
    const int *nl = r->nl = INTEGER(nlev);
    const int **vc = r->vc = (const int **) R_alloc(k, sizeof(int *));
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
    r->n = n;
    r->wp = NULL;
    if (!Rf_isNull(w0)) {
        if (TYPEOF(w0) != REALSXP || XLENGTH(w0) != n)
            Rf_error("'weights' must be a double vector with one value per row");
        r->wp = REAL(w0);
    }
}

/* Margins: their variables, joint level counts and offsets into the flat
 * per-level arrays; each margin's target vector must match its levels. */
static void read_margins(rake_job *r, SEXP margins, SEXP targets)
{
    const int M = r->M = (int) XLENGTH(margins);
    r->mlev = (int *) R_alloc(M, sizeof(int));
    r->loff = (int *) R_alloc(M + 1, sizeof(int));
    r->mvars = (const int **) R_alloc(M, sizeof(int *));
    r->mnv = (int *) R_alloc(M, sizeof(int));
    int L = 0;
    for (int m = 0; m < M; m++) {
        SEXP mv = VECTOR_ELT(margins, m);
        if (TYPEOF(mv) != INTSXP || XLENGTH(mv) < 1)
            Rf_error("element %d of 'margins' must be a non-empty integer vector", m + 1);
        r->mnv[m] = (int) XLENGTH(mv);
        r->mvars[m] = INTEGER(mv);
        double p = 1;
        for (int q = 0; q < r->mnv[m]; q++) {
            int v = r->mvars[m][q];
            if (v == NA_INTEGER || v < 0 || v >= r->k)
                Rf_error("element %d of 'margins' refers to variable %d, outside 0..%d",
                         m + 1, v, r->k - 1);
            p *= r->nl[v];
        }
        if (p > 1e8) Rf_error("margin %d has %.0f levels, too many", m + 1, p);
        /* (margins may share one long target vector: the sum needs a check) */
        if ((double) L + p > 1e8) Rf_error("the margins have more than 1e8 levels in all");
        SEXP tm = VECTOR_ELT(targets, m);
        if (TYPEOF(tm) != REALSXP || XLENGTH(tm) != (R_xlen_t) p)
            Rf_error("element %d of 'targets' must be a double vector of length %.0f",
                     m + 1, p);
        r->mlev[m] = (int) p;
        r->loff[m] = L;
        L += (int) p;
    }
    r->loff[M] = L;
    r->L = L;
}

/* The targets, flat over the margins (NA: none given, held as 0). */
static void read_targets(rake_job *r, SEXP targets)
{
    r->tg = (double *) R_alloc(r->L, sizeof(double));
    r->has_tg = (bool *) R_alloc(r->L, sizeof(bool));
    r->total = 0;
    for (int m = 0; m < r->M; m++) {
        const double *t = REAL(VECTOR_ELT(targets, m));
        double *tg = r->tg + r->loff[m];
        bool *has = r->has_tg + r->loff[m];
        double tot = 0;
        for (int l = 0; l < r->mlev[m]; l++) {
            double v = t[l];
            has[l] = !ISNAN(v);
            if (!ISNAN(v) && !(v >= 0 && R_FINITE(v)))
                Rf_error("element %d of 'targets' holds a negative or infinite value", m + 1);
            tg[l] = ISNAN(v) ? 0.0 : v;
            tot += tg[l];
        }
        if (m == 0) r->total = tot;
    }
    if (!(r->total > 0)) Rf_error("'targets' must have a positive total");
}

/* Cells or rows: cells when asked (unless absurdly many) or, by default,
 * when they are few or at most a quarter of the rows. */
static void choose_units(rake_job *r)
{
    double ncell_d = 1;
    for (int j = 0; j < r->k; j++) ncell_d *= r->nl[j];
    bool cells;
    if (r->use_cells == NA_LOGICAL)
        cells = ncell_d <= 67108864.0 && (ncell_d <= 65536.0 || ncell_d <= r->n / 4.0);
    else   /* cells on request, unless there would be absurdly many */
        cells = r->use_cells && ncell_d <= (double) INT_MAX &&
            (ncell_d <= UMF_FREE_CELLS || ncell_d <= (double) r->n);
    r->stride = (int *) R_alloc(r->k, sizeof(int));
    double s = 1;
    for (int j = 0; j < r->k; j++) { r->stride[j] = cells ? (int) s : 0; s *= r->nl[j]; }
    r->cells = cells;
    r->ncell_d = ncell_d;
    r->ncell = cells ? (int) ncell_d : 0;
    r->nth = umf_threads_for(r->n);
    r->track = cells && !ISNAN(r->capr);
    /* Without a cap, cells come from the shared cell kernel (one unrolled
     * pass, nothing stored per row); map_back then codes the rows again. */
    r->fast = cells && !r->track;
    r->cdr = (umf_coder) {r->k, r->vc, r->nl, r->stride, r->ncell};
    r->U = NA_REAL;
}

/* Zeroed accumulators for pass 1: one slot per thread (cells only). */
static cell_acc cell_acc_new(const rake_job *r)
{
    cell_acc a = {NULL, NULL, NULL, r->fast ? 1 : r->nth};
    if (!r->cells) return a;
    const size_t nc = (size_t) r->nth * r->ncell;
    a.acc = (double *) R_alloc(nc * RK_CS, sizeof(double));
    umf_zero(a.acc, nc * RK_CS);
    if (r->track) {
        a.min = (double *) R_alloc(nc, sizeof(double));
        a.max = (double *) R_alloc(nc, sizeof(double));
        for (size_t q = 0; q < nc; q++) { a.min[q] = R_PosInf; a.max[q] = 0; }
    }
    return a;
}

/* Pass 1 by the shared cell kernel (cells, no cap): counts and sums of w0
 * per cell, bad weights and codes counted (first rows unknown). */
static int pass1_kernel(rake_job *r, cell_acc *a)
{
    const int k = r->k;
    R_xlen_t *counts = (R_xlen_t *) R_alloc(k + 2, sizeof(R_xlen_t));
    const double *a3 = umf_cell_pass(&r->cdr, r->wp, r->n, 3, counts, NULL);
    if (counts[k + 1] > 0)
        return fail(r, RK_BAD_WEIGHT, 0, 0, (double) counts[k + 1], 0, 0);
    for (int j = 0; j <= k; j++)
        if (counts[j] > 0)
            return fail(r, RK_BAD_CODE, j < k ? j : 0, 0, (double) counts[j], 0, 0);
    for (int c = 0; c < r->ncell; c++) {
        double *ac = a->acc + (size_t) c * RK_CS;
        ac[0] = a3[3 * (size_t) c];
        ac[1] = a3[3 * (size_t) c];        /* positive-weight rows: only a cap needs them */
        ac[2] = a3[3 * (size_t) c + 1];
    }
    return RK_OK;
}

/* Per-thread tallies of bad codes (per variable) and bad weights, with the
 * first row of each. */
typedef struct {
    R_xlen_t *badc, *badc_first, *badw, *badw_first;
} bad_rows;

static bad_rows bad_rows_new(int nth, int k)
{
    bad_rows b;
    b.badc = (R_xlen_t *) R_alloc((size_t) nth * k, sizeof(R_xlen_t));
    b.badc_first = (R_xlen_t *) R_alloc((size_t) nth * k, sizeof(R_xlen_t));
    b.badw = (R_xlen_t *) R_alloc(nth, sizeof(R_xlen_t));
    b.badw_first = (R_xlen_t *) R_alloc(nth, sizeof(R_xlen_t));
    for (int q = 0; q < nth * k; q++) { b.badc[q] = 0; b.badc_first[q] = -1; }
    for (int t = 0; t < nth; t++) { b.badw[t] = 0; b.badw_first[t] = -1; }
    return b;
}

/* Total count and first row (over the threads, which run in row order) of
 * one tally held at cnt[t * stride], first[t * stride]. */
static R_xlen_t bad_total(const R_xlen_t *cnt, const R_xlen_t *first, int nth,
                          int stride, R_xlen_t *first_row)
{
    R_xlen_t c = 0, f = -1;
    for (int t = 0; t < nth; t++) {
        c += cnt[(size_t) t * stride];
        if (f < 0 && first[(size_t) t * stride] >= 0) f = first[(size_t) t * stride];
    }
    *first_row = f;
    return c;
}

/* The first variable with bad codes, else bad weights, as a status. */
static int bad_rows_status(rake_job *r, const bad_rows *b)
{
    R_xlen_t first;
    for (int j = 0; j < r->k; j++) {
        R_xlen_t cnt = bad_total(b->badc + j, b->badc_first + j, r->nth, r->k, &first);
        if (cnt > 0)
            return fail(r, RK_BAD_CODE, j, 0, (double) cnt, (double) first + 1, 0);
    }
    R_xlen_t cnt = bad_total(b->badw, b->badw_first, r->nth, 1, &first);
    if (cnt > 0)
        return fail(r, RK_BAD_WEIGHT, 0, 0, (double) cnt, (double) first + 1, 0);
    return RK_OK;
}

/* Pass 1 over the rows: validate codes and weights; in cell mode count the
 * rows, positive rows and w0 per cell (with a cap also its min and max) and
 * park each row's cell id in the output; in row mode the output takes w0. */
static int pass1_rows(rake_job *r, cell_acc *a)
{
    const int k = r->k, *nl = r->nl, **vc = r->vc, *stride = r->stride;
    const int ncell = r->ncell, nth = r->nth;
    const double *wp = r->wp;
    const bool cells = r->cells, track = r->track;
    double *op = r->op, *cmin = a->min, *cmax = a->max;
    bad_rows b = bad_rows_new(nth, k);
    for (R_xlen_t from = 0; from < r->n; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < r->n ? from + UMF_CHUNK : r->n;
        #pragma omp parallel num_threads(nth)
        {
            int t = omp_get_thread_num();
            double *acc = cells ? a->acc + (size_t) t * ncell * RK_CS : NULL;
            R_xlen_t *bc = b.badc + (size_t) t * k, *bcf = b.badc_first + (size_t) t * k;
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
                    if (b.badw[t]++ == 0) b.badw_first[t] = i;
                    ok = false;
                }
                if (!ok) continue;
                if (!cells) { op[i] = w; continue; }
                double *ac = acc + (size_t) cell * RK_CS;
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
            }
        }
        R_CheckUserInterrupt();
    }
    return bad_rows_status(r, &b);
}

/* Merge the threads' cells. A cap needs equal positive starting weights
 * within a cell (then weight / mean weight is a per-cell bound); without
 * them, fall back to rows: the output is reset to the starting weights. */
static void merge_cells(rake_job *r, const cell_acc *a)
{
    if (!r->cells) return;
    const int ncell = r->ncell;
    r->ccnt = (double *) R_alloc(ncell, sizeof(double));
    r->cpos = (double *) R_alloc(ncell, sizeof(double));
    r->cbase = (double *) R_alloc(ncell, sizeof(double));
    bool uniform = true;
    for (int c = 0; c < ncell; c++) {
        double a0 = 0, a1 = 0, a2 = 0, mn = R_PosInf, mx = 0;
        for (int t = 0; t < a->nslot; t++) {
            const double *ac = a->acc + ((size_t) t * ncell + c) * RK_CS;
            a0 += ac[0]; a1 += ac[1]; a2 += ac[2];
            if (r->track) {
                size_t q = (size_t) t * ncell + c;
                if (a->min[q] < mn) mn = a->min[q];
                if (a->max[q] > mx) mx = a->max[q];
            }
        }
        r->ccnt[c] = a0; r->cpos[c] = a1; r->cbase[c] = a2;
        if (r->track && a1 > 0 && (mx - mn) > 1e-12 * mx) uniform = false;
    }
    if (r->track && !uniform) {
        r->cells = false;
        for (R_xlen_t i = 0; i < r->n; i++) {
            if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
            r->op[i] = r->wp ? r->wp[i] : 1.0;
        }
    }
}

/* Cell mode: each cell's level in each margin, and the level sums. */
static void cell_units(rake_job *r, ipf_ctx *x)
{
    x->nunit = r->ncell;
    x->cur = (double *) R_alloc(r->ncell, sizeof(double));
    memcpy(x->cur, r->cbase, r->ncell * sizeof(double));
    for (int m = 0; m < r->M; m++) {
        int *code = (int *) R_alloc(r->ncell, sizeof(int));
        const int off = r->loff[m];
        for (int c = 0; c < r->ncell; c++) {
            int lv = 0, s = 1;
            for (int q = 0; q < r->mnv[m]; q++) {
                int v = r->mvars[m][q];
                lv += ((c / r->stride[v]) % r->nl[v]) * s;
                s *= r->nl[v];
            }
            code[c] = lv;
            r->lcnt[off + lv] += r->ccnt[c];
            r->lpos[off + lv] += r->cpos[c];
            r->lbase[off + lv] += r->cbase[c];
        }
        x->mcode[m] = code;
        x->moff[m] = 0;
    }
}

/* Row mode: a one-variable margin reads the variable's codes (1-based); a
 * joint margin's codes are computed once. Then the level sums. */
static void row_units(rake_job *r, ipf_ctx *x)
{
    const R_xlen_t n = r->n;
    const double *op = r->op;
    x->nunit = n;
    x->cur = r->op;
    for (int m = 0; m < r->M; m++) {
        if (r->mnv[m] == 1) {
            x->mcode[m] = r->vc[r->mvars[m][0]];
            x->moff[m] = 1;
            continue;
        }
        int *code = (int *) R_alloc(n > 0 ? n : 1, sizeof(int));
        for (R_xlen_t i = 0; i < n; i++) {
            if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
            int lv = 0, s = 1;
            for (int q = 0; q < r->mnv[m]; q++) {
                int v = r->mvars[m][q];
                lv += (r->vc[v][i] - 1) * s;
                s *= r->nl[v];
            }
            code[i] = lv;
        }
        x->mcode[m] = code;
        x->moff[m] = 0;
    }
    for (R_xlen_t i = 0; i < n; i++) {
        double w = op[i];
        for (int m = 0; m < r->M; m++) {
            int kk = r->loff[m] + x->mcode[m][i] - x->moff[m];
            r->lcnt[kk] += 1;
            if (w > 0) { r->lpos[kk] += 1; r->lbase[kk] += w; }
        }
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
    }
}

/* The IPF units (cells or rows), their margin codes and the level sums. */
static void setup_units(rake_job *r, ipf_ctx *x)
{
    const int M = r->M, L = r->L;
    x->nmarg = M;
    x->mlev = r->mlev;
    x->loff = r->loff;
    x->nlevtot = L;
    x->mcode = (const int **) R_alloc(M, sizeof(int *));
    x->moff = (int *) R_alloc(M, sizeof(int));
    x->sums = (double *) R_alloc(L, sizeof(double));
    x->bound = NULL;
    r->lcnt = (double *) R_alloc(L, sizeof(double));
    r->lpos = (double *) R_alloc(L, sizeof(double));
    r->lbase = (double *) R_alloc(L, sizeof(double));
    memset(r->lcnt, 0, L * sizeof(double));
    memset(r->lpos, 0, L * sizeof(double));
    memset(r->lbase, 0, L * sizeof(double));
    if (r->cells) cell_units(r, x);
    else row_units(r, x);
}

/* Proportions become totals: scaled to the sum of the starting weights. */
static int scale_targets(rake_job *r)
{
    if (!r->scale) return RK_OK;
    double sw = 0;
    for (int l = 0; l < r->mlev[0]; l++) sw += r->lbase[l];
    if (!(sw > 0)) return fail(r, RK_BAD_WEIGHT, 0, 0, 0, 0, 0);
    for (int q = 0; q < r->L; q++) r->tg[q] *= sw / r->total;
    r->total = sw;
    return RK_OK;
}

/* Feasibility from the level sums alone: every level that occurs has a
 * target, and every positive target has starting weight. */
static int check_levels(rake_job *r)
{
    for (int m = 0; m < r->M; m++)
        for (int l = 0; l < r->mlev[m]; l++) {
            int kk = r->loff[m] + l;
            if (!r->has_tg[kk] && r->lcnt[kk] > 0)
                return fail(r, RK_NO_TARGET, m, l, r->lcnt[kk], 0, 0);
        }
    for (int m = 0; m < r->M; m++)
        for (int l = 0; l < r->mlev[m]; l++) {
            int kk = r->loff[m] + l;
            if (r->tg[kk] > 0 && !(r->lbase[kk] > 0))
                return fail(r, RK_NO_WEIGHT, m, l, r->lcnt[kk], 0, 0);
        }
    return RK_OK;
}

/* A cap: the absolute bound U on a row's weight (cap x mean weight over the
 * positive rows); each level's target must be reachable under it. The
 * bound per unit: U x positive rows of a cell, or U for a positive row. */
static int cap_bounds(rake_job *r, ipf_ctx *x)
{
    if (ISNAN(r->capr)) return RK_OK;
    double npos = 0;
    for (int l = 0; l < r->mlev[0]; l++) npos += r->lpos[l];
    const double U = r->U = r->capr * r->total / npos;
    for (int m = 0; m < r->M; m++)
        for (int l = 0; l < r->mlev[m]; l++) {
            int kk = r->loff[m] + l;
            if (r->tg[kk] > U * r->lpos[kk] * (1 + 1e-12)) {
                double need = r->tg[kk] / r->lpos[kk] / (r->total / npos);
                return fail(r, RK_CAP_LEVEL, m, l, r->lpos[kk], 0, need);
            }
        }
    double *bound = (double *) R_alloc(x->nunit, sizeof(double));
    if (r->cells) {
        for (int c = 0; c < r->ncell; c++) bound[c] = U * r->cpos[c];
    } else {
        for (R_xlen_t i = 0; i < r->n; i++) {
            if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
            bound[i] = r->op[i] > 0 ? U : 0;
        }
    }
    x->bound = bound;
    return RK_OK;
}

/* Margin m's factors target / achieved (1 where both are 0); a level whose
 * weight went to zero but has a positive target cannot be met. */
static int margin_factors(rake_job *r, const ipf_ctx *x, int m, double *fm)
{
    for (int l = 0; l < r->mlev[m]; l++) {
        int kk = r->loff[m] + l;
        double a = x->sums[kk];
        if (a > 0) fm[l] = r->tg[kk] / a;
        else if (r->tg[kk] > 0) return fail(r, RK_ZEROED, m, l, r->lcnt[kk], 0, 0);
        else fm[l] = 1.0;
    }
    return RK_OK;
}

/* IPF: sweeps over the margins until the largest relative margin error is
 * at most epsilon or maxit sweeps are done. Each margin's pass multiplies by
 * its factors and sums the next margin; the last pass trims to the bounds
 * and sums all margins for the error. */
static int iterate(rake_job *r, ipf_ctx *x, ipf_run *run)
{
    const int M = r->M;
    const bool trim = x->bound != NULL;
    memcpy(x->sums, r->lbase, r->L * sizeof(double));
    double *f = (double *) R_alloc(r->L, sizeof(double));
    R_xlen_t trace_cap = r->maxit < 1023 ? (R_xlen_t) r->maxit + 1 : 1024;
    run->trace = (double *) R_alloc(trace_cap, sizeof(double));
    run->iter = 0;
    run->converged = false;
    /* starting weights may already break the cap: trim before measuring */
    if (trim) unit_pass(x, -1, NULL, true, 0, M);
    run->err = margin_error(x, r->tg, r->total, &run->wm, &run->wl);
    run->trace[0] = run->err;
    while (true) {
        if (run->err <= r->eps) { run->converged = true; break; }
        if (run->iter >= r->maxit) break;
        for (int m = 0; m < M; m++) {
            double *fm = f + r->loff[m];
            int st = margin_factors(r, x, m, fm);
            if (st != RK_OK) return st;
            if (m < M - 1) unit_pass(x, m, fm, false, m + 1, m + 2);
            else unit_pass(x, m, fm, trim, 0, M);
        }
        run->iter++;
        run->err = margin_error(x, r->tg, r->total, &run->wm, &run->wl);
        run->trace = umf_trace_room(run->trace, &trace_cap, run->iter);
        run->trace[run->iter] = run->err;
        R_CheckUserInterrupt();
    }
    return RK_OK;
}

/* ---- pass 2: map back, fused with the fingerprint -------------------------
 *
 * Each row's weight is w0 x its cell's factor g (the kernel codes the rows
 * again; with a cap the cell ids parked in the output are read). The same
 * pass takes the result's fingerprint (umf_fp_*, exactly C_fingerprint's
 * numbers): its four sums run in row order, so they cannot be split between
 * threads, but the mapping can run ahead of them. Rows go in blocks: any
 * thread maps the next free block; thread 0 sums the blocks in order as
 * they become ready (mapping one itself whenever the next is not ready, so
 * one thread, or a second that wakes late, still finishes). The sums need
 * the scale e of the largest weight before they start: it is taken from
 * the cells (exact without starting weights, a guess with them), and the
 * pass finds the true one. A wrong guess is repaired exactly by a power of
 * two where every term stayed a normal number (fp_rescale_ok), else by a
 * second pass over the weights. */

enum { RK_BLOCK = 8192 };

typedef struct {
    double mx, mn;       /* largest |w|; smallest nonzero |w|            */
    bool nan;            /* any NaN                                      */
} w_range;

/* Rows [from, to): weights into the output; with track, their range into
 * wr; with fs, the fingerprint's sums at scale e continued over them (the
 * caller's block is the next one in row order). */
static void map_block(const rake_job *r, const double *g, R_xlen_t from,
                      R_xlen_t to, int *restrict id, bool track, w_range *wr,
                      umf_fp_sums *fs, double e)
{
    const R_xlen_t len = to - from;
    const double *wp = r->wp;
    double *op = r->op + from;
    if (r->fast) {   /* cell ids: up to four variables in one go */
        const int k = r->k, *st = r->stride;
        const int *restrict c0 = r->vc[0] + from;
        const int *restrict c1 = k > 1 ? r->vc[1] + from : NULL;
        const int *restrict c2 = k > 2 ? r->vc[2] + from : NULL;
        const int *restrict c3 = k > 3 ? r->vc[3] + from : NULL;
        const int s1 = k > 1 ? st[1] : 0, s2 = k > 2 ? st[2] : 0, s3 = k > 3 ? st[3] : 0;
        switch (k < 4 ? k : 4) {
        case 1: for (R_xlen_t i = 0; i < len; i++) id[i] = c0[i] - 1; break;
        case 2: for (R_xlen_t i = 0; i < len; i++) id[i] = c0[i] - 1 + (c1[i] - 1) * s1; break;
        case 3: for (R_xlen_t i = 0; i < len; i++)
                    id[i] = c0[i] - 1 + (c1[i] - 1) * s1 + (c2[i] - 1) * s2;
                break;
        default: for (R_xlen_t i = 0; i < len; i++)
                    id[i] = c0[i] - 1 + (c1[i] - 1) * s1 + (c2[i] - 1) * s2 + (c3[i] - 1) * s3;
        }
        for (int j = 4; j < k; j++) {
            const int *restrict c = r->vc[j] + from, s = st[j];
            for (R_xlen_t i = 0; i < len; i++) id[i] += (c[i] - 1) * s;
        }
    } else {
        for (R_xlen_t i = 0; i < len; i++) id[i] = (int) op[i];
    }
    double mx = wr->mx, mn = wr->mn;
    bool nan = wr->nan;
    const double f = pow(2.0, e), dn = (double) r->n;
    umf_fp_sums t = fs ? *fs : (umf_fp_sums) {0, 0, 0, 0};
    for (R_xlen_t i = 0; i < len; i++) {
        double w = (wp ? wp[from + i] : 1.0) * g[id[i]];
        op[i] = w;
        if (track) {
            double a = fabs(w);
            nan |= ISNAN(w);
            mx = a > mx ? a : mx;
            mn = a > 0 && a < mn ? a : mn;
        }
        if (fs) umf_fp_row(&t, w, from + i, e, f, dn);
    }
    wr->mx = mx; wr->mn = mn; wr->nan = nan;
    if (fs) *fs = t;
}

/* Rows [from, to) mapped (any thread) and summed in order (thread 0). */
static void map_fp_chunk(const rake_job *r, const double *g, R_xlen_t from,
                         R_xlen_t to, double e, umf_fp_sums *s, bool track,
                         w_range *wr, int *ids, int *ready)
{
    const R_xlen_t nb = (to - from + RK_BLOCK - 1) / RK_BLOCK;
    const double dn = (double) r->n;
    R_xlen_t next = 0;
    for (R_xlen_t b = 0; b < nb; b++) ready[b] = 0;
    #pragma omp parallel num_threads(r->nth)
    {
        const int t = omp_get_thread_num();
        int *id = ids + (size_t) t * RK_BLOCK;
        w_range my = {0, R_PosInf, false};
        R_xlen_t sum_b = t == 0 ? 0 : nb;   /* next block to sum (thread 0) */
        for (;;) {
            int rd = 0;
            if (sum_b < nb) {
                #pragma omp atomic read seq_cst
                rd = ready[sum_b];
            }
            if (rd) {
                R_xlen_t a = from + sum_b * RK_BLOCK;
                umf_fp_add(s, r->op, a, a + RK_BLOCK < to ? a + RK_BLOCK : to, e, dn);
                sum_b++;
                continue;
            }
            R_xlen_t b;
            #pragma omp atomic capture seq_cst
            b = next++;
            if (b < nb) {
                R_xlen_t a = from + b * RK_BLOCK;
                bool fuse = b == sum_b;   /* map and sum in one go */
                map_block(r, g, a, a + RK_BLOCK < to ? a + RK_BLOCK : to, id, track, &my,
                          fuse ? s : NULL, e);
                if (fuse) sum_b++;
                #pragma omp atomic write seq_cst
                ready[b] = 1;
            } else if (sum_b >= nb) break;
            /* else: the other thread is mapping block sum_b; wait for it */
        }
        #pragma omp critical(rk_range)
        {
            wr->nan |= my.nan;
            if (my.mx > wr->mx) wr->mx = my.mx;
            if (my.mn < wr->mn) wr->mn = my.mn;
        }
    }
}

/* The scale the fingerprint will have, from the cells: each row's weight is
 * g of its cell (no starting weights: exact) or w0 times it (then guessed
 * from the cell's mean w0). */
static double fp_guess(const rake_job *r, const double *g)
{
    double mx = 0;
    bool nan = false;
    for (int c = 0; c < r->ncell; c++) {
        if (!(r->ccnt[c] > 0)) continue;
        double a = fabs(r->wp ? g[c] * (r->cbase[c] / r->ccnt[c]) : g[c]);
        nan |= ISNAN(a);
        if (a > mx) mx = a;
    }
    return umf_fp_scale(mx, nan);
}

/* Whether sums taken at scale e1 become those at scale e2 by exact powers of
 * two: under both scales every nonzero |w| x 2^e lies in [2^-500, 2^500],
 * so each term (w 2^e, its square, its product with i / n >= 2^-63) is a
 * normal double and scales exactly, and so do the long double sums. */
static bool fp_rescale_ok(const w_range *wr, double e1, double e2)
{
    if (wr->nan || !R_FINITE(wr->mx) || !R_FINITE(wr->mn)) return false;
    const double lo = ldexp(1.0, -500), hi = ldexp(1.0, 500);
    return ldexp(wr->mn, (int) e1) >= lo && ldexp(wr->mx, (int) e1) <= hi &&
        ldexp(wr->mn, (int) e2) >= lo && ldexp(wr->mx, (int) e2) <= hi;
}

/* Pass 2 in cell mode; fp gets the result's fingerprint. In row mode the
 * output already holds the weights and the fingerprint is a plain pass. */
static void map_back(const rake_job *r, const ipf_ctx *x, double *fp)
{
    if (!r->cells) {
        SEXP f = PROTECT(C_fingerprint(r->outv));
        memcpy(fp, REAL(f), 6 * sizeof(double));
        UNPROTECT(1);
        return;
    }
    double *g = (double *) R_alloc(r->ncell, sizeof(double));
    for (int c = 0; c < r->ncell; c++)
        g[c] = r->cbase[c] > 0 ? x->cur[c] / r->cbase[c] : 0.0;
    const double eg = fp_guess(r, g);
    /* without starting weights the cells give the exact scale: no need
     * to find the weights' range */
    const bool track = r->wp != NULL;
    int *ids = (int *) R_alloc((size_t) r->nth * RK_BLOCK, sizeof(int));
    int *ready = (int *) R_alloc(UMF_CHUNK / RK_BLOCK, sizeof(int));
    umf_fp_sums s = {0, 0, 0, 0};
    w_range wr = {0, R_PosInf, false};
    for (R_xlen_t from = 0; from < r->n; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < r->n ? from + UMF_CHUNK : r->n;
        map_fp_chunk(r, g, from, to, eg, &s, track, &wr, ids, ready);
        R_CheckUserInterrupt();
    }
    const double e = track ? umf_fp_scale(wr.mx, wr.nan) : eg;
    if (e != eg && fp_rescale_ok(&wr, eg, e)) {
        const int d = (int) (e - eg);
        s.s1 = ldexpl(s.s1, d); s.s2 = ldexpl(s.s2, 2 * d);
        s.s3 = ldexpl(s.s3, d); s.s4 = ldexpl(s.s4, d);
    } else if (e != eg) {
        s = (umf_fp_sums) {0, 0, 0, 0};
        for (R_xlen_t from = 0; from < r->n; from += UMF_CHUNK) {
            R_xlen_t to = from + UMF_CHUNK < r->n ? from + UMF_CHUNK : r->n;
            umf_fp_add(&s, r->op, from, to, e, (double) r->n);
            R_CheckUserInterrupt();
        }
    }
    umf_fp_finish(&s, (double) r->n, e, fp);
}

/* One double vector per margin from the flat per-level array v (NA where
 * has is given and false). */
static SEXP level_list(const rake_job *r, const double *v, const bool *has)
{
    SEXP ans = PROTECT(Rf_allocVector(VECSXP, r->M));
    for (int m = 0; m < r->M; m++) {
        SEXP a = Rf_allocVector(REALSXP, r->mlev[m]);
        SET_VECTOR_ELT(ans, m, a);
        const int off = r->loff[m];
        for (int l = 0; l < r->mlev[m]; l++)
            REAL(a)[l] = !has || has[off + l] ? v[off + l] : NA_REAL;
    }
    UNPROTECT(1);
    return ans;
}

/* The result: the weights, how IPF went, the per-level sums (achieved at
 * the final weights: also the totals of the state wt_rake() carries; rows,
 * positive rows, starting weights, targets) and the weights' fingerprint. */
static SEXP rake_result(const rake_job *r, const ipf_ctx *x, const ipf_run *run,
                        const double *fp)
{
    const char *nm[] = {"status", "weights", "iterations", "converged",
                        "max_error", "worst", "trace", "achieved", "n",
                        "n_positive", "start", "mode", "ncell", "cap_bound",
                        "targets", "total", "fingerprint"};
    SEXP ans = PROTECT(umf_named_list(nm, 17));
    SET_VECTOR_ELT(ans, 0, Rf_ScalarInteger(RK_OK));
    SET_VECTOR_ELT(ans, 1, r->outv);
    SET_VECTOR_ELT(ans, 2, Rf_ScalarInteger(run->iter));
    SET_VECTOR_ELT(ans, 3, Rf_ScalarLogical(run->converged));
    SET_VECTOR_ELT(ans, 4, Rf_ScalarReal(run->err));
    SEXP worst = Rf_allocVector(INTSXP, 2);
    SET_VECTOR_ELT(ans, 5, worst);
    INTEGER(worst)[0] = run->wm; INTEGER(worst)[1] = run->wl;
    SEXP tr = Rf_allocVector(REALSXP, (R_xlen_t) run->iter + 1);
    SET_VECTOR_ELT(ans, 6, tr);
    memcpy(REAL(tr), run->trace, ((size_t) run->iter + 1) * sizeof(double));
    SET_VECTOR_ELT(ans, 7, level_list(r, x->sums, NULL));
    SET_VECTOR_ELT(ans, 8, level_list(r, r->lcnt, NULL));
    SET_VECTOR_ELT(ans, 9, level_list(r, r->lpos, NULL));
    SET_VECTOR_ELT(ans, 10, level_list(r, r->lbase, NULL));
    SET_VECTOR_ELT(ans, 11, Rf_mkString(r->cells ? "cells" : "rows"));
    SET_VECTOR_ELT(ans, 12, Rf_ScalarReal(r->ncell_d));
    SET_VECTOR_ELT(ans, 13, Rf_ScalarReal(r->U));
    SET_VECTOR_ELT(ans, 14, level_list(r, r->tg, r->has_tg));
    SET_VECTOR_ELT(ans, 15, Rf_ScalarReal(r->total));
    SEXP f = Rf_allocVector(REALSXP, 6);
    SET_VECTOR_ELT(ans, 16, f);
    memcpy(REAL(f), fp, 6 * sizeof(double));
    UNPROTECT(1);
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
    rake_job r;
    memset(&r, 0, sizeof r);
    check_args(&r, codes, nlev, margins, targets, scale, cap, epsilon, maxit, use_cells);
    read_codes(&r, codes, nlev, w0);
    read_margins(&r, margins, targets);
    read_targets(&r, targets);
    choose_units(&r);

    SEXP out = PROTECT(Rf_allocVector(REALSXP, r.n));
    r.outv = out;
    r.op = REAL(out);
    cell_acc acc = cell_acc_new(&r);
    int st = r.fast ? pass1_kernel(&r, &acc) : pass1_rows(&r, &acc);
    ipf_ctx x = {0};
    ipf_run run = {0};
    if (st == RK_OK) {
        merge_cells(&r, &acc);
        setup_units(&r, &x);
        st = scale_targets(&r);
    }
    if (st == RK_OK) st = check_levels(&r);
    if (st == RK_OK) st = cap_bounds(&r, &x);
    if (st == RK_OK) st = iterate(&r, &x, &run);
    if (st != RK_OK) {
        UNPROTECT(1);
        const rk_fail *f = &r.fail;
        return status_result(f->status, f->i1, f->i2, f->i3, f->i4, f->value);
    }
    double fp[6];
    map_back(&r, &x, fp);
    SEXP ans = rake_result(&r, &x, &run, fp);
    UNPROTECT(1);
    return ans;
}
