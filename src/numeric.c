/* Numeric rows of tab(): one pass over the rows of a numeric row spec
 * (mean_of(), total_of(), ratio_of(), score_of()) that yields, for every
 * column variable of the banner and every (column cell x layer x
 * calibration cell x design unit), the sums the point estimates and the
 * linearised variance need. The estimate of a cell is a function of the
 * weighted totals U = sum w u and V = sum w v of the cell (u = y - shift;
 * v = x for ratios, 1 otherwise), so per cell the pass keeps
 *
 *   0 n      rows used (u and v not NA, any weight)
 *   1 npos   rows used with positive weight (survey's degf() and deff n)
 *   2 sw     sum w            3 sw2   sum w^2
 *   4 su     sum w u          5 sv    sum w v
 *   6 suu    sum w u^2        7 svv   sum w v^2      8 suv  sum w u v
 *   9 s2u    sum w^2 u       10 s2v   sum w^2 v
 *  11 s2uu   sum w^2 u^2     12 s2vv  sum w^2 v^2   13 s2uv sum w^2 u v
 *
 * (w^2 terms: the rows-as-PSU variance and the calibrated variance).
 * Everything after the pass (numeric.R) works on these sums, whose number
 * grows with cells and design units, not with rows.
 *
 * MR sets as column variables: a row may be in several items; with xrest
 * given, a second accumulator keeps per (item a, item b, xrest cell) the
 * cross-products sum w^2 u u, sum w^2 u v, sum w^2 v v over rows in both
 * items and the count of such rows of positive weight: the covariance of
 * two items when the rows are the PSUs. */
#include "umfrage.h"
#include <Rmath.h>
#include <limits.h>
#include <math.h>

#define NUM_W 14

typedef struct {
    int kind;          /* 0 single, 1 dichotomy, 2 category, 3 constant */
    int nlev, na_level, k;
    const int **ic;    /* integer / logical columns */
} num_col;

static void nf_check(double entries, double reach, const char *what);

static int int_elt(SEXP l, int i, const char *what)
{
    SEXP e = VECTOR_ELT(l, i);
    if ((TYPEOF(e) != INTSXP && TYPEOF(e) != REALSXP) || XLENGTH(e) != 1)
        Rf_error("'%s': element %d must be a single integer", what, i + 1);
    return Rf_asInteger(e);
}

static void num_col_init(num_col *c, SEXP d, R_xlen_t n)
{
    if (TYPEOF(d) != VECSXP || XLENGTH(d) != 5)
        Rf_error("'cols' must hold table variable descriptors (lists of 5)");
    c->kind = int_elt(d, 0, "cols");
    c->nlev = int_elt(d, 1, "cols");
    c->na_level = int_elt(d, 3, "cols");
    if (c->kind < 0 || c->kind > 3) Rf_error("'cols': unknown variable kind %d", c->kind);
    if (c->nlev < 1) Rf_error("'cols': the number of levels must be positive");
    SEXP data = VECTOR_ELT(d, 2);
    if (TYPEOF(data) != VECSXP) Rf_error("'cols': the data must be a list of columns");
    c->k = (int) XLENGTH(data);
    if ((c->kind == 0 && c->k != 1) || (c->kind == 3 && c->k != 0) ||
        (c->kind == 1 && c->k != c->nlev) || (c->kind == 2 && c->k < 1))
        Rf_error("'cols': wrong number of columns (%d) for its kind", c->k);
    c->ic = (const int **) R_alloc(c->k > 0 ? c->k : 1, sizeof(int *));
    for (int j = 0; j < c->k; j++) {
        SEXP e = VECTOR_ELT(data, j);
        int want = c->kind == 1 ? LGLSXP : INTSXP;
        if (TYPEOF(e) != want)
            Rf_error("'cols': column %d must be %s, not %s", j + 1,
                     want == LGLSXP ? "logical" : "integer", Rf_type2char(TYPEOF(e)));
        if (XLENGTH(e) != n)
            Rf_error("'cols': column %d has length %.0f, expected %.0f", j + 1,
                     (double) XLENGTH(e), (double) n);
        c->ic[j] = want == LGLSXP ? LOGICAL(e) : INTEGER(e);
    }
}

static inline void num_add(double *restrict p, double u, double v, double w)
{
    const double wu = w * u, wv = w * v, w2 = w * w;
    p[0] += 1.0; p[1] += w > 0 ? 1.0 : 0.0; p[2] += w; p[3] += w2;
    p[4] += wu; p[5] += wv; p[6] += wu * u; p[7] += wv * v; p[8] += wu * v;
    p[9] += w2 * u; p[10] += w2 * v; p[11] += w2 * u * u; p[12] += w2 * v * v;
    p[13] += w2 * u * v;
}

/* Mixed-radix code of a row over a list of code vectors (first fastest);
 * -1 when a code is NA without an NA level. */
typedef struct {
    int k;
    const int **codes;
    const int *nlev, *na;
    double cells;
} num_rest;

static void rest_init(num_rest *r, SEXP codes, SEXP nlev, SEXP na, R_xlen_t n, const char *what)
{
    if (TYPEOF(codes) != VECSXP) Rf_error("'%s' must be a list of integer code vectors", what);
    r->k = (int) XLENGTH(codes);
    if (TYPEOF(nlev) != INTSXP || XLENGTH(nlev) != r->k)
        Rf_error("'%s': one level count per code vector needed", what);
    if (!Rf_isNull(na) && (TYPEOF(na) != INTSXP || XLENGTH(na) != r->k))
        Rf_error("'%s': one NA-level flag per code vector needed", what);
    r->codes = (const int **) R_alloc(r->k > 0 ? r->k : 1, sizeof(int *));
    r->nlev = INTEGER(nlev);
    r->na = Rf_isNull(na) ? NULL : INTEGER(na);
    r->cells = 1;
    for (int j = 0; j < r->k; j++) {
        SEXP e = VECTOR_ELT(codes, j);
        if (TYPEOF(e) != INTSXP || XLENGTH(e) != n)
            Rf_error("'%s': element %d must be an integer vector with one code per row", what, j + 1);
        if (r->nlev[j] < 1) Rf_error("'%s': level counts must be positive", what);
        r->codes[j] = INTEGER(e);
        r->cells *= r->nlev[j];
    }
    if (r->cells > 1e9) Rf_error("'%s' spans %.0f cells, too many", what, r->cells);
}

static inline R_xlen_t rest_code(const num_rest *r, R_xlen_t i)
{
    R_xlen_t id = 0, stride = 1;
    for (int j = 0; j < r->k; j++) {
        int c = r->codes[j][i];
        const int nl = r->nlev[j];
        if (c == NA_INTEGER) {
            if (r->na && r->na[j]) c = nl; else return -1;
        }
        if (c < 1 || c > nl) return -2;
        id += (R_xlen_t) (c - 1) * stride;
        stride *= nl;
    }
    return id;
}

/* C_num_pass(u, v, cols, rest, restlev, restna, w, shift, xrest, xrestlev):
 * u: double (y); v: NULL or double (x of a ratio); cols: list of table
 * variable descriptors (tab_var()'s desc); rest: list of integer codes of
 * the layers (by variables, then calibration cell, then design unit), with
 * level counts restlev and NA-level flags restna; w: NULL or double
 * weights; shift: subtracted from u (NA: the unweighted mean of the used
 * u); xrest: NULL or the codes (by variables, stratum) of the MR cross
 * products, levels xrestlev.
 * Returns list(cols = per column variable a (nlev * R) x 14 matrix,
 * xprod = per column variable NULL or an (nlev^2 * XR) x 4 matrix,
 * skipped = c(rest_na, y_na, col_na...), shift). */
SEXP C_num_pass(SEXP u, SEXP v, SEXP cols, SEXP rest, SEXP restlev, SEXP restna, SEXP w,
                SEXP shift, SEXP xrest, SEXP xrestlev)
{
    if (TYPEOF(u) != REALSXP) Rf_error("'y' must be a double vector");
    const R_xlen_t n = XLENGTH(u);
    const double *up = REAL(u);
    const double *vp = NULL;
    if (!Rf_isNull(v)) {
        if (TYPEOF(v) != REALSXP || XLENGTH(v) != n)
            Rf_error("'x' must be a double vector with one value per row");
        vp = REAL(v);
    }
    const double *wp = NULL;
    if (!Rf_isNull(w)) {
        if (TYPEOF(w) != REALSXP || XLENGTH(w) != n)
            Rf_error("'weights' must be a double vector with one value per row");
        wp = REAL(w);
    }
    if (TYPEOF(cols) != VECSXP || XLENGTH(cols) < 1) Rf_error("'cols' must be a non-empty list");
    const int ncv = (int) XLENGTH(cols);
    num_col *cv = (num_col *) R_alloc(ncv, sizeof(num_col));
    for (int j = 0; j < ncv; j++) num_col_init(&cv[j], VECTOR_ELT(cols, j), n);
    num_rest rs, xr;
    rest_init(&rs, rest, restlev, restna, n, "rest");
    const bool want_x = !Rf_isNull(xrest);
    if (want_x) {
        /* xrestlev: the level counts, then the NA-level flags */
        const R_xlen_t kx = TYPEOF(xrest) == VECSXP ? XLENGTH(xrest) : -1;
        if (TYPEOF(xrestlev) != INTSXP || XLENGTH(xrestlev) != 2 * kx)
            Rf_error("'xrestlev' must hold a level count and an NA flag per element of 'xrest'");
        SEXP lv = PROTECT(Rf_allocVector(INTSXP, kx)), fl = PROTECT(Rf_allocVector(INTSXP, kx));
        for (R_xlen_t j = 0; j < kx; j++) {
            INTEGER(lv)[j] = INTEGER(xrestlev)[j];
            INTEGER(fl)[j] = INTEGER(xrestlev)[kx + j];
        }
        rest_init(&xr, xrest, lv, fl, n, "xrest");
        /* rest_init keeps pointers into lv and fl: keep them protected */
    }
    const R_xlen_t R = (R_xlen_t) rs.cells;

    /* the shift: unweighted mean of the used values (NA: compute it) */
    double sh = Rf_asReal(shift);
    if (ISNAN(sh)) {
        long double s = 0;
        R_xlen_t m = 0;
        for (R_xlen_t i = 0; i < n; i++) {
            if (ISNAN(up[i]) || (vp && ISNAN(vp[i]))) continue;
            s += up[i];
            m++;
        }
        sh = m > 0 ? (double) (s / m) : 0;
        if (!R_FINITE(sh)) sh = 0;
    }

    SEXP out_cols = PROTECT(Rf_allocVector(VECSXP, ncv));
    SEXP out_x = PROTECT(Rf_allocVector(VECSXP, ncv));
    double **acc = (double **) R_alloc(ncv, sizeof(double *));
    double **xacc = (double **) R_alloc(ncv, sizeof(double *));
    int maxlev = 1;
    for (int j = 0; j < ncv; j++) {
        double len = (double) cv[j].nlev * (double) R;
        if (len * NUM_W > 4e9) Rf_error("the numeric row would need %.0f sums, too many", len * NUM_W);
        nf_check(len * NUM_W, (double) n * ((cv[j].kind == 1 || cv[j].kind == 2) ? cv[j].nlev : 1) * NUM_W,
                 "the numeric row");
        SEXP m = Rf_allocMatrix(REALSXP, (int) len, NUM_W);
        SET_VECTOR_ELT(out_cols, j, m);
        acc[j] = REAL(m);
        umf_zero(acc[j], (size_t) len * NUM_W);
        xacc[j] = NULL;
        if (want_x && (cv[j].kind == 1 || cv[j].kind == 2)) {
            double xl = (double) cv[j].nlev * cv[j].nlev * xr.cells;
            if (xl * 4 > 4e9) Rf_error("the cross-products would need %.0f values, too many", xl * 4);
            nf_check(xl * 4, (double) n * cv[j].nlev * cv[j].nlev * 4, "the cross-products");
            SEXP xm = Rf_allocMatrix(REALSXP, (int) xl, 4);
            SET_VECTOR_ELT(out_x, j, xm);
            xacc[j] = REAL(xm);
            umf_zero(xacc[j], (size_t) xl * 4);
        }
        if (cv[j].nlev > maxlev) maxlev = cv[j].nlev;
    }
    int *items = (int *) R_alloc(maxlev, sizeof(int));
    char *mark = (char *) R_alloc(maxlev, 1);
    memset(mark, 0, maxlev);
    double *skip = (double *) R_alloc(2 + ncv, sizeof(double));
    for (int j = 0; j < 2 + ncv; j++) skip[j] = 0;
    double badw = 0, badc = 0;

    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0 && i > 0) R_CheckUserInterrupt();
        const double wi = wp ? wp[i] : 1.0;
        if (wp && umf_wbad(wi) && !(wi == 0)) { badw++; continue; }
        R_xlen_t r = rest_code(&rs, i);
        if (r == -2) { badc++; continue; }
        if (r < 0) { skip[0]++; continue; }
        const double ui = up[i], vi = vp ? vp[i] : 1.0;
        if (ISNAN(ui) || ISNAN(vi)) { skip[1]++; continue; }
        const double uu = ui - sh;
        R_xlen_t xrc = 0;
        if (want_x) {
            xrc = rest_code(&xr, i);
            if (xrc < 0) { badc++; continue; }
        }
        for (int j = 0; j < ncv; j++) {
            const num_col *c = &cv[j];
            const R_xlen_t base = (R_xlen_t) c->nlev * r;
            if (c->kind == 3) { num_add(acc[j] + base * NUM_W, uu, vi, wi); continue; }
            if (c->kind == 0) {
                int cc = c->ic[0][i];
                if (cc == NA_INTEGER) {
                    if (c->na_level) cc = c->nlev; else { skip[2 + j]++; continue; }
                }
                if (cc < 1 || cc > c->nlev) { badc++; continue; }
                num_add(acc[j] + (base + cc - 1) * NUM_W, uu, vi, wi);
                continue;
            }
            /* MR set: the items this row is in (each once) */
            int k = 0;
            if (c->kind == 1) {
                for (int a = 0; a < c->k; a++) if (c->ic[a][i] == 1) items[k++] = a;
            } else {
                for (int a = 0; a < c->k; a++) {
                    int cc = c->ic[a][i];
                    if (cc == NA_INTEGER) continue;
                    if (cc < 1 || cc > c->nlev) { badc++; continue; }
                    if (!mark[cc - 1]) { mark[cc - 1] = 1; items[k++] = cc - 1; }
                }
                for (int a = 0; a < k; a++) mark[items[a]] = 0;
            }
            for (int a = 0; a < k; a++) num_add(acc[j] + (base + items[a]) * NUM_W, uu, vi, wi);
            if (xacc[j] && k > 0) {
                const double w2 = wi * wi, q0 = w2 * uu * uu, q1 = w2 * uu * vi, q2 = w2 * vi * vi;
                const double pos = wi > 0 ? 1.0 : 0.0;
                const R_xlen_t L = c->nlev, xb = L * L * xrc;
                const R_xlen_t xlen = L * L * (R_xlen_t) xr.cells;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++) {
                        double *p = xacc[j] + xb + items[a] + L * items[b];
                        p[0] += q0; p[xlen] += q1; p[2 * xlen] += q2; p[3 * xlen] += pos;
                    }
            }
        }
    }
    if (badw > 0) Rf_error("'weights' holds %.0f values that are NA, negative or infinite", badw);
    if (badc > 0) Rf_error("%.0f codes are outside the range of their variable's levels", badc);
    /* the accumulators are row-major (cell, stat): make them column-major */
    for (int j = 0; j < ncv; j++) {
        const R_xlen_t len = (R_xlen_t) cv[j].nlev * R;
        double *tmp = (double *) R_alloc((size_t) len * NUM_W, sizeof(double));
        memcpy(tmp, acc[j], sizeof(double) * (size_t) len * NUM_W);
        for (R_xlen_t t = 0; t < len; t++)
            for (int s = 0; s < NUM_W; s++) acc[j][t + len * s] = tmp[t * NUM_W + s];
    }
    SEXP sk = PROTECT(Rf_allocVector(REALSXP, 2 + ncv));
    for (int j = 0; j < 2 + ncv; j++) REAL(sk)[j] = skip[j];
    const char *nm[] = {"cols", "xprod", "skipped", "shift"};
    SEXP ans = PROTECT(umf_named_list(nm, 4));
    SET_VECTOR_ELT(ans, 0, out_cols);
    SET_VECTOR_ELT(ans, 1, out_x);
    SET_VECTOR_ELT(ans, 2, sk);
    SET_VECTOR_ELT(ans, 3, Rf_ScalarReal(sh));
    UNPROTECT(want_x ? 6 : 4);
    return ans;
}

/* ---- all numeric rows of a table in one pass (C_num_fast) ------------------
 *
 * C_num_pass above serves one numeric row spec and returns, per column
 * variable, all 14 sums per (cell x layer x calibration cell x design unit)
 * to R, which then builds each block's covariance (z_cov()). For the common
 * designs -- no calibration, one stage, and (rows as PSUs) no MR column
 * variable -- C_num_fast does the whole job of every mean/total/ratio/score
 * row of a tab() call at once:
 *
 *  - the rows are visited grouped by design unit (PSU, or stratum of row
 *    PSUs; a stable counting sort, so within a unit in row order), each
 *    row's codes read once for all specs. Per row a record r of each spec's
 *    sums (only those it needs: v = 1 makes sum w v = sum w, ...) is added
 *    to the (column cell x layer) entries of a small block that belongs to
 *    the current unit; at the end of a unit the block's entries go to the
 *    per-unit sums the variance needs (U = sum w u, V = sum w v, rows of
 *    positive weight; rows as PSUs also the w^2 terms) and, in long double,
 *    to the cells' totals (so the totals are the per-unit sums added in
 *    unit order, as rowSums() did on C_num_pass's result);
 *  - threads take contiguous ranges of the grouped rows (rounds of
 *    UMF_CHUNK rows per thread, interrupts checked between rounds); a unit
 *    cut by a range boundary is finished by the next range's owner after
 *    the parallel region, in thread order; per-thread totals are merged in
 *    thread order;
 *  - then, per spec, column variable and layer, Sigma of the cells' (U, V)
 *    totals as z_cov() computes it (clusters: PSU totals centred per
 *    stratum; rows as PSUs: Q_h - S1 S1' / n_h per stratum; scaled as
 *    design_units() says), the linearised variances g' Sigma g with the
 *    same zero-variance threshold, the domain df, and the letters (t tests
 *    of column pairs, p.adjust within the column variable and layer).
 *
 * The canonical sums of a cell (the columns of `tot`, as num_column()
 * reads C_num_pass's): n npos sw sw2 U V suu svv suv, plus per unit U V
 * npos [s2uu s2vv s2uv]. */

enum { NF_N, NF_NPOS, NF_SW, NF_SW2, NF_U, NF_V, NF_SUU, NF_SVV, NF_SUV,
       NF_S2UU, NF_S2VV, NF_S2UV, NF_S2U, NF_NCANON };
#define NF_TOT 9

typedef struct {
    const double *y, *x;   /* x NULL: v = 1 */
    int stat;              /* 0 mean/score, 1 total, 2 ratio */
    double shift;
    int off, S;            /* the spec's record: r[off .. off + S) */
    int map[NF_NCANON];    /* canonical sum -> record index (-1: none) */
} nf_spec;

typedef struct {
    double *blk;           /* Ncell x R */
    unsigned char *touched;
    int *tlist, nt;
} nf_block;

typedef struct {
    nf_block cur, edge;
    int edge_unit;         /* -1: none */
    long double *tot;      /* Ncell x R */
    double by_na, badc;
    double *y_na, *col_na; /* per spec */
} nf_thread;

typedef struct {
    int nspec, R, Ncell, D, P, ncv, nb;
    nf_spec *sp;
    num_col *cv;
    int *cvoff;            /* first cell of column variable j */
    double *unit;          /* P x Ncell x D x nspec (P fastest), or NULL */
    int pk[6];             /* per-unit canonical sums */
} nf_ctx;

/* long doubles need 16-byte alignment, which R_alloc() does not promise */
static long double *nf_ld_alloc(size_t n)
{
    char *p = R_alloc(n * sizeof(long double) + 16, 1);
    return (long double *) (((uintptr_t) p + 15) & ~(uintptr_t) 15);
}

/* Stop unless `entries` values may be allocated: up to 2^22 whatever the
 * data, beyond that as many as the rows can reach (`reach`), and never
 * more than an int indexes. */
static void nf_check(double entries, double reach, const char *what)
{
    if ((entries > 4194304.0 && entries > reach) || entries > (double) INT_MAX)
        Rf_error("%s would need %.0f sums, too many for the rows", what, entries);
}

static void nf_block_init(nf_block *b, const nf_ctx *c)
{
    b->blk = (double *) R_alloc((size_t) c->Ncell * c->R, sizeof(double));
    umf_zero(b->blk, (size_t) c->Ncell * c->R);
    b->touched = (unsigned char *) R_alloc(c->Ncell, 1);
    memset(b->touched, 0, c->Ncell);
    b->tlist = (int *) R_alloc(c->Ncell, sizeof(int));
    b->nt = 0;
}

/* Unit d's block into the per-unit sums (added: a unit cut by a range
 * boundary arrives in parts) and the totals; the block is left zero. */
static void nf_flush(const nf_ctx *c, nf_block *b, int d, long double *tot)
{
    const int R = c->R;
    for (int q = 0; q < b->nt; q++) {
        const int g = b->tlist[q];
        double *r = b->blk + (size_t) g * R;
        long double *t = tot + (size_t) g * R;
        for (int k = 0; k < R; k++) t[k] += r[k];
        if (c->unit) {
            for (int s = 0; s < c->nspec; s++) {
                const nf_spec *sp = &c->sp[s];
                double *u = c->unit + (((size_t) s * c->D + d) * c->Ncell + g) * c->P;
                for (int k = 0; k < c->P; k++) u[k] += r[sp->off + sp->map[c->pk[k]]];
            }
        }
        for (int k = 0; k < R; k++) r[k] = 0;
        b->touched[g] = 0;
    }
    b->nt = 0;
}

static inline void nf_add(nf_block *b, int g, const double *restrict r, int R)
{
    double *restrict p = b->blk + (size_t) g * R;
    #pragma omp simd
    for (int k = 0; k < R; k++) p[k] += r[k];
    if (!b->touched[g]) { b->touched[g] = 1; b->tlist[b->nt++] = g; }
}

/* The letters of k columns as col_letters() (R/var.R): A..Z, AA, AB, ... */
static void nf_label(int c, char *buf)
{
    char tmp[16];
    int len = 0, i = c + 1;
    while (i > 0) { tmp[len++] = (char) ('A' + (i - 1) % 26); i = (i - 1) / 26; }
    for (int k = 0; k < len; k++) buf[k] = tmp[len - 1 - k];
    buf[len] = 0;
}

static SEXP nf_list_get(SEXP l, const char *nm)
{
    return umf_list_get(l, nm, "des", true);
}

SEXP C_num_fast(SEXP specs, SEXP cols, SEXP bcodes, SEXP blev, SEXP bna, SEXP w, SEXP unit,
                SEXP des, SEXP opt)
{
    if (TYPEOF(specs) != VECSXP || XLENGTH(specs) < 1) Rf_error("'specs' must be a non-empty list");
    if (TYPEOF(cols) != VECSXP || XLENGTH(cols) < 1) Rf_error("'cols' must be a non-empty list");
    if (TYPEOF(opt) != VECSXP) Rf_error("'opt' must be a list");
    nf_ctx C;
    C.nspec = (int) XLENGTH(specs);
    C.sp = (nf_spec *) R_alloc(C.nspec, sizeof(nf_spec));
    R_xlen_t n = -1;
    for (int s = 0; s < C.nspec; s++) {
        SEXP e = VECTOR_ELT(specs, s);
        if (TYPEOF(e) != VECSXP || XLENGTH(e) != 3)
            Rf_error("'specs': element %d must be list(y, x, stat)", s + 1);
        SEXP y = VECTOR_ELT(e, 0), x = VECTOR_ELT(e, 1);
        if (TYPEOF(y) != REALSXP) Rf_error("'specs': y of element %d must be a double vector", s + 1);
        if (n < 0) n = XLENGTH(y);
        if (XLENGTH(y) != n) Rf_error("'specs': y of element %d has another length", s + 1);
        if (!Rf_isNull(x) && (TYPEOF(x) != REALSXP || XLENGTH(x) != n))
            Rf_error("'specs': x of element %d must be NULL or a double vector like y", s + 1);
        nf_spec *p = &C.sp[s];
        p->y = REAL(y);
        p->x = Rf_isNull(x) ? NULL : REAL(x);
        p->stat = int_elt(e, 2, "specs");
        if (p->stat < 0 || p->stat > 2) Rf_error("'specs': unknown statistic %d", p->stat);
        if ((p->stat == 2) != (p->x != NULL)) Rf_error("'specs': a ratio needs x, and only a ratio");
    }
    const double *wp = NULL;
    if (!Rf_isNull(w)) {
        if (TYPEOF(w) != REALSXP || XLENGTH(w) != n)
            Rf_error("'weights' must be a double vector with one value per row");
        wp = REAL(w);
    }
    C.ncv = (int) XLENGTH(cols);
    C.cv = (num_col *) R_alloc(C.ncv, sizeof(num_col));
    for (int j = 0; j < C.ncv; j++) num_col_init(&C.cv[j], VECTOR_ELT(cols, j), n);
    num_rest rs;
    rest_init(&rs, bcodes, blev, bna, n, "by");
    C.nb = (int) rs.cells;
    C.cvoff = (int *) R_alloc(C.ncv + 1, sizeof(int));
    double ncell = 0, width = 0;
    for (int j = 0; j < C.ncv; j++) {
        ncell += (double) C.cv[j].nlev * C.nb;
        width += (C.cv[j].kind == 1 || C.cv[j].kind == 2) ? C.cv[j].nlev : 1;
    }
    /* a size from the arguments is allocated only if the rows can fill it */
    nf_check(ncell, (double) n * width, "the banner of the numeric rows");
    ncell = 0;
    for (int j = 0; j < C.ncv; j++) {
        C.cvoff[j] = (int) ncell;
        ncell += (double) C.cv[j].nlev * C.nb;
    }
    C.Ncell = (int) ncell;
    C.cvoff[C.ncv] = C.Ncell;

    /* the options */
    const int se = umf_as_int1(umf_list_get(opt, "se", "opt", true), "opt$se");
    const int letters = umf_as_int1(umf_list_get(opt, "letters", "opt", true), "opt$letters");
    const double alpha = umf_as_double1(umf_list_get(opt, "alpha", "opt", true), "opt$alpha");
    const int adjust = umf_as_int1(umf_list_get(opt, "adjust", "opt", true), "opt$adjust");
    const double min_base = umf_as_double1(umf_list_get(opt, "min_base", "opt", true), "opt$min_base");
    if (adjust < 0 || adjust > 2) Rf_error("'opt$adjust' must be 0, 1 or 2");

    /* the design: unit = NULL (no variance, or one unit) or integer codes
     * 1..D; des: clustered, stratum of each unit (clusters), scale, center,
     * nh per stratum */
    int clustered = 0, H = 1;
    const int *ucode = NULL, *ustr = NULL;
    const double *scale = NULL, *nh = NULL;
    const int *center = NULL;
    C.D = 1;
    if (se) {
        clustered = umf_as_int1(nf_list_get(des, "clustered"), "des$clustered");
        SEXP sc = nf_list_get(des, "scale"), ce = nf_list_get(des, "center"), nn = nf_list_get(des, "nh");
        if (TYPEOF(sc) != REALSXP || TYPEOF(ce) != INTSXP || TYPEOF(nn) != REALSXP ||
            XLENGTH(sc) < 1 || XLENGTH(ce) != XLENGTH(sc) || XLENGTH(nn) != XLENGTH(sc))
            Rf_error("'des': scale, center and nh must be double, integer, double vectors of one length");
        H = (int) XLENGTH(sc);
        scale = REAL(sc); center = INTEGER(ce); nh = REAL(nn);
        if (!Rf_isNull(unit)) {
            if (TYPEOF(unit) != INTSXP || XLENGTH(unit) != n)
                Rf_error("'unit' must be NULL or an integer vector with one code per row");
            ucode = INTEGER(unit);
            C.D = umf_as_int1(nf_list_get(des, "nd"), "des$nd");
            if (C.D < 1) Rf_error("'des$nd' must be positive");
        }
        if (clustered) {
            SEXP ps = nf_list_get(des, "stratum");
            if (TYPEOF(ps) != INTSXP || XLENGTH(ps) != C.D || !ucode)
                Rf_error("'des$stratum' must give the stratum of each of the %d units", C.D);
            ustr = INTEGER(ps);
            for (int d = 0; d < C.D; d++)
                if (ustr[d] < 1 || ustr[d] > H) Rf_error("'des$stratum' holds a code outside 1..%d", H);
        } else if (C.D != H) Rf_error("rows as PSUs: one unit per stratum needed (%d units, %d strata)", C.D, H);
        for (int h = 0; h < H; h++)
            if (!(nh[h] >= 1) || !R_FINITE(scale[h])) Rf_error("'des': nh must be >= 1 and scale finite");
    }

    /* weights: all valid (NA, negative, infinite: an error), any zero? */
    bool wzero = false;
    if (wp) {
        double badw = 0;
        for (R_xlen_t i = 0; i < n; i++) {
            const double wi = wp[i];
            if (umf_wbad(wi) && !(wi == 0)) badw++;
            else if (wi == 0) wzero = true;
        }
        if (badw > 0) Rf_error("'weights' holds %.0f values that are NA, negative or infinite", badw);
    }

    /* the records: per spec the sums it needs (v = 1: V = sw, ...) */
    const bool rows_psu = se && !clustered;
    C.R = 0;
    for (int s = 0; s < C.nspec; s++) {
        nf_spec *p = &C.sp[s];
        for (int k = 0; k < NF_NCANON; k++) p->map[k] = -1;
        int S = 0;
        p->map[NF_N] = S++;
        p->map[NF_NPOS] = wzero ? S++ : p->map[NF_N];
        p->map[NF_SW] = S++;
        p->map[NF_SW2] = S++;
        p->map[NF_U] = S++;
        p->map[NF_SUU] = S++;
        if (p->x) {
            p->map[NF_V] = S++; p->map[NF_SVV] = S++; p->map[NF_SUV] = S++;
            if (rows_psu) { p->map[NF_S2UU] = S++; p->map[NF_S2VV] = S++; p->map[NF_S2UV] = S++; }
        } else {
            p->map[NF_V] = p->map[NF_SW]; p->map[NF_SVV] = p->map[NF_SW]; p->map[NF_SUV] = p->map[NF_U];
            if (rows_psu) {
                p->map[NF_S2UU] = S++; p->map[NF_S2VV] = p->map[NF_SW2]; p->map[NF_S2UV] = S++;
            }
        }
        p->off = C.R;
        p->S = S;
        C.R += S;
    }
    nf_check((double) C.Ncell * C.R, (double) n * width * C.R, "the numeric rows");
    /* the per-unit sums */
    C.P = 0;
    C.unit = NULL;
    if (se) {
        C.pk[C.P++] = NF_U; C.pk[C.P++] = NF_V; C.pk[C.P++] = NF_NPOS;
        if (rows_psu) { C.pk[C.P++] = NF_S2UU; C.pk[C.P++] = NF_S2VV; C.pk[C.P++] = NF_S2UV; }
        const double len = (double) C.D * C.Ncell * C.nspec * C.P;
        if (C.D > (n > 0 ? n : 1)) Rf_error("'des$nd': %d design units for %.0f rows", C.D, (double) n);
        nf_check(len, (double) n * width * C.nspec * C.P, "the numeric rows' sums per design unit");
        if (len > 5e8) Rf_error("the numeric rows would need %.0f sums per design unit, too many", len);
        C.unit = (double *) R_alloc((size_t) len, sizeof(double));
        umf_zero(C.unit, (size_t) len);
    }

    /* the shifts: unweighted mean of the used values (mean and score rows) */
    for (int s = 0; s < C.nspec; s++) {
        nf_spec *p = &C.sp[s];
        p->shift = 0;
        if (p->stat != 0) continue;
        long double sum = 0;
        R_xlen_t m = 0;
        for (R_xlen_t i = 0; i < n; i++) {
            if ((i & (UMF_CHUNK - 1)) == 0 && i > 0) R_CheckUserInterrupt();
            if (ISNAN(p->y[i])) continue;
            sum += p->y[i];
            m++;
        }
        double sh = m > 0 ? (double) (sum / m) : 0;
        p->shift = R_FINITE(sh) ? sh : 0;
    }

    /* the rows grouped by unit (stable): row i goes to position pos[i] */
    int *pos = NULL;
    R_xlen_t *ustart = (R_xlen_t *) R_alloc(C.D + 1, sizeof(R_xlen_t));
    ustart[0] = 0;
    ustart[C.D] = n;
    if (ucode && C.D > 1) {
        if (n > INT_MAX) Rf_error("the grouped pass takes at most %d rows", INT_MAX);
        R_xlen_t *cnt = (R_xlen_t *) R_alloc(C.D + 1, sizeof(R_xlen_t));
        for (int d = 0; d <= C.D; d++) cnt[d] = 0;
        for (R_xlen_t i = 0; i < n; i++) {
            const int d = ucode[i];
            if (d < 1 || d > C.D) Rf_error("'unit' holds a code outside 1..%d (row %.0f)", C.D, (double) i + 1);
            cnt[d]++;
        }
        for (int d = 1; d <= C.D; d++) cnt[d] += cnt[d - 1];
        for (int d = 0; d < C.D; d++) ustart[d] = cnt[d];
        pos = (int *) R_alloc(n > 0 ? n : 1, sizeof(int));
        for (R_xlen_t i = 0; i < n; i++) pos[i] = (int) cnt[ucode[i] - 1]++;
    } else if (ucode) {
        for (R_xlen_t i = 0; i < n; i++)
            if (ucode[i] != 1) Rf_error("'unit' holds a code outside 1..1 (row %.0f)", (double) i + 1);
    }

    /* Each row's record at its position (read from the columns in row
     * order, so that the grouped pass reads one record per row, not one
     * value of every column at random places): its weight (NaN: the row is
     * out, its by code NA or bad), y (and x) of every spec, and as
     * integers the row number and per column variable its cell (-1: none;
     * MR sets: the first cell of its layer, the items read from the
     * columns). */
    int nvals = 0;
    for (int s = 0; s < C.nspec; s++) nvals += C.sp[s].x ? 2 : 1;
    const int RS = 1 + nvals + (C.ncv + 2) / 2;
    if ((double) RS * (double) n > 4e9) Rf_error("the numeric rows would need %.0f values per pass, too many", (double) RS * n);
    double *recs = (double *) R_alloc((size_t) RS * (n > 0 ? n : 1), sizeof(double));
    double by_na0 = 0, badc0 = 0;
    {
        const int nthp = umf_threads_for(n);
        const R_xlen_t step = UMF_CHUNK * (R_xlen_t) nthp;
        for (R_xlen_t i0 = 0; i0 < n; i0 += step) {
        if (i0 > 0) R_CheckUserInterrupt();
        const R_xlen_t i1 = i0 + step < n ? i0 + step : n;
        #pragma omp parallel for num_threads(nthp) schedule(static) reduction(+:by_na0, badc0)
        for (R_xlen_t i = i0; i < i1; i++) {
            double *rp = recs + (size_t) RS * (pos ? (R_xlen_t) pos[i] : i);
            int *ci = (int *) (rp + 1 + nvals);
            ci[0] = (int) i;
            const R_xlen_t lb = rest_code(&rs, i);
            if (lb < 0) {
                if (lb == -2) badc0++; else by_na0++;
                rp[0] = NA_REAL;
                continue;
            }
            rp[0] = wp ? wp[i] : 1.0;
            int q = 1;
            for (int s = 0; s < C.nspec; s++) {
                rp[q++] = C.sp[s].y[i];
                if (C.sp[s].x) rp[q++] = C.sp[s].x[i];
            }
            for (int j = 0; j < C.ncv; j++) {
                const num_col *c = &C.cv[j];
                const int base = C.cvoff[j] + c->nlev * (int) lb;
                int g = base;
                if (c->kind == 0) {
                    int cc = c->ic[0][i];
                    if (cc == NA_INTEGER) {
                        if (c->na_level) cc = c->nlev; else cc = 0;
                    } else if (cc < 1 || cc > c->nlev) { badc0++; cc = 0; }
                    g = cc > 0 ? base + cc - 1 : -1;
                }
                ci[1 + j] = g;
            }
        }
        }
    }
    if (badc0 > 0) Rf_error("%.0f codes are outside the range of their variable's levels", badc0);

    int maxlev = 1;
    for (int j = 0; j < C.ncv; j++) if (C.cv[j].nlev > maxlev) maxlev = C.cv[j].nlev;

    /* threads and their state */
    int nth = umf_threads_for(n);
    nf_thread *th = (nf_thread *) R_alloc(nth, sizeof(nf_thread));
    int **items_t = (int **) R_alloc(nth, sizeof(int *));
    unsigned char **mark_t = (unsigned char **) R_alloc(nth, sizeof(unsigned char *));
    double **rec_t = (double **) R_alloc(nth, sizeof(double *));
    for (int t = 0; t < nth; t++) {
        nf_block_init(&th[t].cur, &C);
        nf_block_init(&th[t].edge, &C);
        th[t].edge_unit = -1;
        th[t].tot = nf_ld_alloc((size_t) C.Ncell * C.R);
        for (size_t k = 0; k < (size_t) C.Ncell * C.R; k++) th[t].tot[k] = 0;
        th[t].by_na = th[t].badc = 0;
        th[t].y_na = (double *) R_alloc(C.nspec, sizeof(double));
        th[t].col_na = (double *) R_alloc(C.nspec, sizeof(double));
        for (int s = 0; s < C.nspec; s++) th[t].y_na[s] = th[t].col_na[s] = 0;
        items_t[t] = (int *) R_alloc(maxlev, sizeof(int));
        mark_t[t] = (unsigned char *) R_alloc(maxlev, 1);
        memset(mark_t[t], 0, maxlev);
        rec_t[t] = (double *) R_alloc(C.R, sizeof(double));
    }

    const R_xlen_t round_len = UMF_CHUNK * (R_xlen_t) nth;
    int carry = 0;
    for (R_xlen_t r0 = 0; r0 < n; r0 += round_len) {
        if (r0 > 0) R_CheckUserInterrupt();
        const R_xlen_t r1 = r0 + round_len < n ? r0 + round_len : n;
        #pragma omp parallel num_threads(nth)
        {
            const int t = omp_get_thread_num(), nt = omp_get_num_threads();
            nf_thread *T = &th[t];
            const R_xlen_t len = r1 - r0;
            const R_xlen_t a = r0 + len * t / nt, b = r0 + len * (t + 1) / nt;
            if (a < b) {
                /* the unit of position a */
                int d = 0, lo = 0, hi = C.D - 1;
                while (lo < hi) {
                    int mid = (lo + hi + 1) / 2;
                    if (ustart[mid] <= a) lo = mid; else hi = mid - 1;
                }
                d = lo;
                while (ustart[d + 1] <= a) d++;   /* skip empty units */
                nf_block *B = &T->cur;
                /* one thread: a unit continued from the last round goes on
                 * in the same block (so the sums are those of one sequential
                 * pass); otherwise a unit cut at a's start is the edge */
                if (ustart[d] < a && !(nt == 1 && carry)) { B = &T->edge; T->edge_unit = d; }
                int *items = items_t[t];
                unsigned char *mark = mark_t[t];
                double *restrict rec = rec_t[t];
                for (R_xlen_t k = a; k < b; k++) {
                    while (k >= ustart[d + 1]) {
                        if (B == &T->edge) B = &T->cur; else nf_flush(&C, B, d, T->tot);
                        d++;
                    }
                    const double *rp = recs + (size_t) RS * k;
                    const double wi = rp[0];
                    if (ISNAN(wi)) continue;
                    const int *ci = (const int *) (rp + 1 + nvals);
                    int nused = 0;
                    const double w2 = wi * wi, pos1 = wi > 0 ? 1.0 : 0.0;
                    const double *vals = rp + 1;
                    for (int s = 0; s < C.nspec; s++) {
                        const nf_spec *p = &C.sp[s];
                        double *restrict q = rec + p->off;
                        const double ui = *vals++, vi = p->x ? *vals++ : 1.0;
                        if (ISNAN(ui) || ISNAN(vi)) {
                            T->y_na[s]++;
                            for (int k2 = 0; k2 < p->S; k2++) q[k2] = 0;
                            continue;
                        }
                        nused++;
                        const double uu = ui - p->shift, wu = wi * uu;
                        q[p->map[NF_N]] = 1.0;
                        q[p->map[NF_NPOS]] = pos1;
                        q[p->map[NF_SW]] = wi;
                        q[p->map[NF_SW2]] = w2;
                        q[p->map[NF_U]] = wu;
                        q[p->map[NF_SUU]] = wu * uu;
                        if (p->x) {
                            const double wv = wi * vi;
                            q[p->map[NF_V]] = wv;
                            q[p->map[NF_SVV]] = wv * vi;
                            q[p->map[NF_SUV]] = wu * vi;
                            if (rows_psu) {
                                q[p->map[NF_S2UU]] = w2 * uu * uu;
                                q[p->map[NF_S2VV]] = w2 * vi * vi;
                                q[p->map[NF_S2UV]] = w2 * uu * vi;
                            }
                        } else if (rows_psu) {
                            q[p->map[NF_S2UU]] = w2 * uu * uu;
                            q[p->map[NF_S2UV]] = w2 * uu;
                        }
                    }
                    if (!nused) continue;
                    double nna = 0;
                    for (int j = 0; j < C.ncv; j++) {
                        const num_col *c = &C.cv[j];
                        const int g = ci[1 + j];
                        if (c->kind == 0 || c->kind == 3) {
                            if (g < 0) nna++; else nf_add(B, g, rec, C.R);
                            continue;
                        }
                        const R_xlen_t i = ci[0];
                        int m = 0;
                        if (c->kind == 1) {
                            for (int a2 = 0; a2 < c->k; a2++) if (c->ic[a2][i] == 1) items[m++] = a2;
                        } else {
                            for (int a2 = 0; a2 < c->k; a2++) {
                                int cc = c->ic[a2][i];
                                if (cc == NA_INTEGER) continue;
                                if (cc < 1 || cc > c->nlev) { T->badc++; continue; }
                                if (!mark[cc - 1]) { mark[cc - 1] = 1; items[m++] = cc - 1; }
                            }
                            for (int a2 = 0; a2 < m; a2++) mark[items[a2]] = 0;
                        }
                        for (int a2 = 0; a2 < m; a2++) nf_add(B, g + items[a2], rec, C.R);
                    }
                    if (nna > 0) {
                        vals = rp + 1;
                        for (int s = 0; s < C.nspec; s++) {
                            const double ui = *vals++, vi = C.sp[s].x ? *vals++ : 1.0;
                            if (!(ISNAN(ui) || ISNAN(vi))) T->col_na[s] += nna;
                        }
                    }
                }
                /* the range's last unit: flushed unless it is the edge (or,
                 * one thread, goes on in the next round) */
                const int go_on = nt == 1 && b < n && ustart[d + 1] > b;
                if (nt == 1) carry = go_on;
                if (B != &T->edge && !go_on) nf_flush(&C, B, d, T->tot);
            }
        }
        /* the units cut at a range's start, in thread order */
        for (int t = 0; t < nth; t++)
            if (th[t].edge_unit >= 0) {
                nf_flush(&C, &th[t].edge, th[t].edge_unit, th[t].tot);
                th[t].edge_unit = -1;
            }
    }
    double badc = 0, by_na = by_na0;
    for (int t = 0; t < nth; t++) { badc += th[t].badc; by_na += th[t].by_na; }
    if (badc > 0) Rf_error("%.0f codes are outside the range of their variable's levels", badc);
    for (int t = 1; t < nth; t++) {
        for (size_t k = 0; k < (size_t) C.Ncell * C.R; k++) th[0].tot[k] += th[t].tot[k];
        for (int s = 0; s < C.nspec; s++) {
            th[0].y_na[s] += th[t].y_na[s];
            th[0].col_na[s] += th[t].col_na[s];
        }
    }
    const long double *tot = th[0].tot;

    /* ---- per spec: the totals, and the inference per column variable and layer */
    SEXP ans = PROTECT(Rf_allocVector(VECSXP, C.nspec));
    const int Nc = C.Ncell;
    int maxnc = 1;
    for (int j = 0; j < C.ncv; j++) if (C.cv[j].nlev > maxnc) maxnc = C.cv[j].nlev;
    const int Kmax = 2 * maxnc;
    if (se && (double) Kmax * Kmax > UMF_FREE_CELLS)
        Rf_error("a column variable of %d columns is too wide for the numeric rows' variance", maxnc);
    double *Sig = (double *) R_alloc((size_t) Kmax * Kmax, sizeof(double));
    double *Tc = (double *) R_alloc(Kmax, sizeof(double));
    double *mh = se ? (double *) R_alloc((size_t) H * Kmax, sizeof(double)) : NULL;
    double *gU = (double *) R_alloc(maxnc, sizeof(double)), *gV = (double *) R_alloc(maxnc, sizeof(double));
    double *est = (double *) R_alloc(maxnc, sizeof(double));
    double *VB = (double *) R_alloc((size_t) maxnc * maxnc, sizeof(double));
    double *MB = (double *) R_alloc((size_t) maxnc * maxnc, sizeof(double));
    double *units = (double *) R_alloc(maxnc, sizeof(double));
    double *pd = (double *) R_alloc(C.D, sizeof(double));
    double *tb = se ? (double *) R_alloc((size_t) C.D * C.P * maxnc, sizeof(double)) : NULL;
    unsigned char *seen = (unsigned char *) R_alloc(H, 1);
    const double npair_max = (double) maxnc * (maxnc - 1) / 2;
    double *pv = (double *) R_alloc(npair_max > 0 ? (size_t) npair_max : 1, sizeof(double));
    double *dv = (double *) R_alloc(npair_max > 0 ? (size_t) npair_max : 1, sizeof(double));
    int *pi = (int *) R_alloc(npair_max > 0 ? (size_t) npair_max : 1, sizeof(int));
    int *po = (int *) R_alloc(npair_max > 0 ? (size_t) npair_max : 1, sizeof(int));
    double *adj = (double *) R_alloc(npair_max > 0 ? (size_t) npair_max : 1, sizeof(double));
    unsigned char *flag = (unsigned char *) R_alloc((size_t) maxnc * maxnc, 1);
    const size_t labmax = (size_t) maxnc * 8 + 16;
    char *lab = (char *) R_alloc(labmax, 1), *one = (char *) R_alloc(16, 1);

    /* domain df from per-unit counts of rows of positive weight */
    #define NF_DF(DF, CNT)                                                        \
    do {                                                                          \
        if (clustered) {                                                          \
            double np_ = 0, ns_ = 0;                                              \
            memset(seen, 0, H);                                                   \
            for (int d_ = 0; d_ < C.D; d_++) if ((CNT)[d_] > 0) {                 \
                np_++;                                                            \
                if (!seen[ustr[d_] - 1]) { seen[ustr[d_] - 1] = 1; ns_++; }       \
            }                                                                     \
            DF = np_ - ns_;                                                       \
        } else if (C.D > 1) {                                                     \
            double sm_ = 0, ns_ = 0;                                              \
            for (int d_ = 0; d_ < C.D; d_++) { sm_ += (CNT)[d_]; if ((CNT)[d_] > 0) ns_++; } \
            DF = sm_ - ns_;                                                       \
        } else DF = (CNT)[0] - 1;                                                 \
    } while (0)

    for (int s = 0; s < C.nspec; s++) {
        const nf_spec *p = &C.sp[s];
        const char *nm[] = {"tot", "var", "var_nw", "df", "letters", "shift", "skipped"};
        SEXP res = PROTECT(umf_named_list(nm, 7));
        SET_VECTOR_ELT(ans, s, res);
        UNPROTECT(1);
        SEXP mt = Rf_allocMatrix(REALSXP, Nc, NF_TOT);
        SET_VECTOR_ELT(res, 0, mt);
        double *M = REAL(mt);
        for (int g = 0; g < Nc; g++)
            for (int k = 0; k < NF_TOT; k++)
                M[g + (size_t) Nc * k] = (double) tot[(size_t) g * C.R + p->off + p->map[k]];
        SEXP vv = Rf_allocVector(REALSXP, Nc); SET_VECTOR_ELT(res, 1, vv);
        SEXP vn = Rf_allocVector(REALSXP, Nc); SET_VECTOR_ELT(res, 2, vn);
        SEXP df = Rf_allocVector(REALSXP, Nc); SET_VECTOR_ELT(res, 3, df);
        SEXP lt = Rf_allocVector(STRSXP, Nc); SET_VECTOR_ELT(res, 4, lt);
        SET_VECTOR_ELT(res, 5, Rf_ScalarReal(p->shift));
        SEXP sk = Rf_allocVector(REALSXP, 3); SET_VECTOR_ELT(res, 6, sk);
        REAL(sk)[0] = by_na; REAL(sk)[1] = th[0].y_na[s]; REAL(sk)[2] = th[0].col_na[s];
        double *vp = REAL(vv), *vnp = REAL(vn), *dfp = REAL(df);
        for (int g = 0; g < Nc; g++) {
            vp[g] = vnp[g] = dfp[g] = NA_REAL;
            SET_STRING_ELT(lt, g, R_BlankString);
        }
        if (!se) continue;
        const double *Mn = M, *MU = M + (size_t) Nc * NF_U, *MV = M + (size_t) Nc * NF_V;
        for (int j = 0; j < C.ncv; j++) {
            const num_col *c = &C.cv[j];
            const int nc = c->nlev, K = 2 * nc;
            for (int lb = 0; lb < C.nb; lb++) {
                const int g0 = C.cvoff[j] + nc * lb;
                R_CheckUserInterrupt();
                /* Sigma of (U_1..U_nc, V_1..V_nc) */
                memset(Sig, 0, sizeof(double) * (size_t) K * K);
                /* this block's per-unit sums, unit by unit */
                for (int d = 0; d < C.D; d++) {
                    const double *src = C.unit + (((size_t) s * C.D + d) * Nc + g0) * C.P;
                    double *dst = tb + (size_t) d * C.P * nc;
                    for (int cc = 0; cc < nc; cc++)
                        for (int k = 0; k < C.P; k++) dst[k * nc + cc] = src[(size_t) cc * C.P + k];
                }
                #define UNIT(d, cc, k) tb[((size_t) (d) * C.P + (k)) * nc + (cc)]
                if (clustered) {
                    for (size_t q = 0; q < (size_t) H * K; q++) mh[q] = 0;
                    for (int d = 0; d < C.D; d++) {
                        double *m = mh + (size_t) (ustr[d] - 1) * K;
                        for (int cc = 0; cc < nc; cc++) { m[cc] += UNIT(d, cc, 0); m[nc + cc] += UNIT(d, cc, 1); }
                    }
                    for (int h = 0; h < H; h++)
                        for (int k = 0; k < K; k++) mh[(size_t) h * K + k] /= nh[h];
                    for (int d = 0; d < C.D; d++) {
                        const int h = ustr[d] - 1;
                        const double *m = mh + (size_t) h * K;
                        const double ctr = center[h] ? 1.0 : 0.0;
                        for (int cc = 0; cc < nc; cc++) {
                            Tc[cc] = UNIT(d, cc, 0) - m[cc] * ctr;
                            Tc[nc + cc] = UNIT(d, cc, 1) - m[nc + cc] * ctr;
                        }
                        /* as crossprod(T * sqrt(scale)) (z_cov()), term for term */
                        const double sq = sqrt(scale[h]);
                        for (int a2 = 0; a2 < K; a2++) Tc[a2] *= sq;
                        for (int a2 = 0; a2 < K; a2++) {
                            const double ta = Tc[a2];
                            if (ta == 0) continue;
                            for (int b2 = a2; b2 < K; b2++) Sig[a2 + (size_t) K * b2] += ta * Tc[b2];
                        }
                    }
                } else {
                    for (int h = 0; h < C.D; h++) {
                        for (int cc = 0; cc < nc; cc++) { Tc[cc] = UNIT(h, cc, 0); Tc[nc + cc] = UNIT(h, cc, 1); }
                        const double sc = scale[h];
                        for (int a2 = 0; a2 < K; a2++)
                            for (int b2 = a2; b2 < K; b2++) {
                                double qv = 0;
                                if (a2 % nc == b2 % nc) {
                                    const int cc = a2 % nc;
                                    qv = a2 == b2 ? (a2 < nc ? UNIT(h, cc, 3) : UNIT(h, cc, 4)) : UNIT(h, cc, 5);
                                }
                                const double bb = center[h] ? Tc[a2] * Tc[b2] / nh[h] : 0.0;
                                Sig[a2 + (size_t) K * b2] += sc * (qv - bb);
                            }
                    }
                }
                for (int a2 = 0; a2 < K; a2++)
                    for (int b2 = 0; b2 < a2; b2++) Sig[a2 + (size_t) K * b2] = Sig[b2 + (size_t) K * a2];
                /* gradients, estimates */
                for (int cc = 0; cc < nc; cc++) {
                    const double U = MU[g0 + cc], V = MV[g0 + cc];
                    if (p->stat == 1) { gU[cc] = 1; gV[cc] = 0; est[cc] = U; }
                    else if (V != 0) {
                        gU[cc] = 1 / V; gV[cc] = -(U / V) / V;
                        est[cc] = p->stat == 0 ? (V > 0 ? U / V + p->shift : NA_REAL) : U / V;
                    } else { gU[cc] = gV[cc] = 0; est[cc] = NA_REAL; }
                }
                /* g' Sigma g and |g|' |Sigma| |g| in the order of R's
                 * crossprod(g, Sigma %*% g) (reference BLAS; g's zeros add
                 * nothing) */
                for (int a2 = 0; a2 < nc; a2++)
                    for (int b2 = 0; b2 < nc; b2++) {
                        const double suu = Sig[a2 + (size_t) K * b2], suv = Sig[a2 + (size_t) K * (nc + b2)],
                            svu = Sig[nc + a2 + (size_t) K * b2], svv = Sig[nc + a2 + (size_t) K * (nc + b2)];
                        const double t1 = gU[b2] * suu + gV[b2] * suv, t2 = gU[b2] * svu + gV[b2] * svv;
                        VB[a2 + nc * b2] = gU[a2] * t1 + gV[a2] * t2;
                        const double m1 = fabs(gU[b2]) * fabs(suu) + fabs(gV[b2]) * fabs(suv),
                            m2 = fabs(gU[b2]) * fabs(svu) + fabs(gV[b2]) * fabs(svv);
                        MB[a2 + nc * b2] = fabs(gU[a2]) * m1 + fabs(gV[a2]) * m2;
                    }
                for (int cc = 0; cc < nc; cc++) {
                    double v = VB[cc + nc * cc];
                    if (v <= 1e-12 * MB[cc + nc * cc]) v = 0;
                    if (ISNAN(est[cc])) v = NA_REAL;
                    vp[g0 + cc] = v;
                    if (p->stat != 2) vnp[g0 + cc] = Sig[nc + cc + (size_t) K * (nc + cc)];
                    for (int d = 0; d < C.D; d++) pd[d] = UNIT(d, cc, 2);
                    double dfv;
                    NF_DF(dfv, pd);
                    dfp[g0 + cc] = dfv;
                    if (clustered) {
                        double u = 0;
                        for (int d = 0; d < C.D; d++) if (pd[d] > 0) u++;
                        units[cc] = u;
                    } else {
                        double u = 0;
                        for (int d = 0; d < C.D; d++) u += pd[d];
                        units[cc] = u;
                    }
                }
                /* letters */
                if (!letters || c->kind == 3 || nc < 2) continue;
                int np = 0;
                for (int a2 = 0; a2 < nc; a2++)
                    for (int b2 = a2 + 1; b2 < nc; b2++, np++) {
                        pv[np] = NA_REAL; dv[np] = 0;
                        if (ISNAN(est[a2]) || ISNAN(est[b2])) continue;
                        if (units[a2] < 2 || units[b2] < 2) continue;
                        if (Mn[g0 + a2] < min_base || Mn[g0 + b2] < min_base) continue;
                        const double vd = VB[a2 + nc * a2] + VB[b2 + nc * b2] - 2 * VB[a2 + nc * b2];
                        const double md = MB[a2 + nc * a2] + MB[b2 + nc * b2] + 2 * MB[a2 + nc * b2];
                        const double dd = est[a2] - est[b2];
                        if (!R_FINITE(vd) || !(vd > 1e-12 * md) || !R_FINITE(dd)) continue;
                        for (int d = 0; d < C.D; d++) pd[d] = UNIT(d, a2, 2) + UNIT(d, b2, 2);
                        double df2;
                        NF_DF(df2, pd);
                        df2 -= 1;
                        if (!(df2 > 0)) continue;
                        pv[np] = 2 * Rf_pt(-fabs(dd) / sqrt(vd), df2, 1, 0);
                        dv[np] = dd;
                    }
                /* p.adjust over the pairs with a p-value (R's order) */
                int nok = 0;
                for (int q = 0; q < np; q++) if (!ISNAN(pv[q])) pi[nok++] = q;
                if (nok > 0 && adjust == 0) {
                    for (int q = 0; q < nok; q++) { double v = nok * pv[pi[q]]; pv[pi[q]] = v < 1 ? v : 1; }
                } else if (nok > 0 && adjust == 1) {
                    /* holm: stable order by p, cummax of (n - i + 1) p, capped at 1 */
                    for (int q = 0; q < nok; q++) po[q] = pi[q];
                    for (int q = 1; q < nok; q++) {
                        int x = po[q], z = q;
                        while (z > 0 && pv[po[z - 1]] > pv[x]) { po[z] = po[z - 1]; z--; }
                        po[z] = x;
                    }
                    double cm = R_NegInf;
                    for (int q = 0; q < nok; q++) {
                        double v = (double) (nok - q) * pv[po[q]];
                        if (v > cm) cm = v;
                        adj[q] = cm < 1 ? cm : 1;
                    }
                    for (int q = 0; q < nok; q++) pv[po[q]] = adj[q];
                }
                memset(flag, 0, (size_t) nc * nc);
                np = 0;
                for (int a2 = 0; a2 < nc; a2++)
                    for (int b2 = a2 + 1; b2 < nc; b2++, np++) {
                        if (ISNAN(pv[np]) || !(pv[np] < alpha)) continue;
                        if (dv[np] > 0) flag[a2 + nc * b2] = 1; else flag[b2 + nc * a2] = 1;
                    }
                const bool comma = nc > 26;
                for (int cc = 0; cc < nc; cc++) {
                    size_t len = 0;
                    lab[0] = 0;
                    for (int b2 = 0; b2 < nc; b2++) {
                        if (!flag[cc + nc * b2]) continue;
                        nf_label(b2, one);
                        size_t ol = strlen(one);
                        if (len + ol + 2 > labmax) break;
                        if (len > 0 && comma) lab[len++] = ',';
                        memcpy(lab + len, one, ol);
                        len += ol;
                        lab[len] = 0;
                    }
                    if (len > 0) SET_STRING_ELT(lt, g0 + cc, Rf_mkChar(lab));
                }
                #undef UNIT
            }
        }
    }
    #undef NF_DF
    UNPROTECT(1);
    return ans;
}
