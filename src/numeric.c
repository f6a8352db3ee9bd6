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
#include <math.h>

#define NUM_W 14

typedef struct {
    int kind;          /* 0 single, 1 dichotomy, 2 category, 3 constant */
    int nlev, na_level, k;
    const int **ic;    /* integer / logical columns */
} num_col;

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
        SEXP m = Rf_allocMatrix(REALSXP, (int) len, NUM_W);
        SET_VECTOR_ELT(out_cols, j, m);
        acc[j] = REAL(m);
        umf_zero(acc[j], (size_t) len * NUM_W);
        xacc[j] = NULL;
        if (want_x && (cv[j].kind == 1 || cv[j].kind == 2)) {
            double xl = (double) cv[j].nlev * cv[j].nlev * xr.cells;
            if (xl * 4 > 4e9) Rf_error("the cross-products would need %.0f values, too many", xl * 4);
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
