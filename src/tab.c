/* Cross-tabulation: one pass over the rows per row variable ("stub") fills
 * the cells of every column variable of the banner at once.
 *
 * A table variable is single (one integer code per row), a multiple-response
 * set of dichotomies (k logical columns: TRUE = selected), a multiple-
 * response set of categories (k integer code columns: mentions), or the
 * constant "Total" column. For each (row item r, column item c, layer b)
 * the pass accumulates n, sum w and sum w^2. Percent bases are where MR sets
 * make them differ from sums of cells:
 *   colbase[c, b]  rows in the row variable's base with column item c,
 *   rowbase[r, b]  rows in the column variable's base with row item r,
 *   allbase[b]     rows in both bases.
 * They are accumulated only when an MR set makes that necessary, and
 * otherwise summed from the cells after the pass.
 *
 * Pattern rows (database sources, R/db.R): in place of a weight vector the
 * passes C_tab, C_tab_xprod and C_tab_des take a 3-column double matrix
 * with one row per pattern (a group of rows that share all the coded
 * variables, as an aggregate query returns them): its row count n, sum w
 * and sum w^2. A pattern then adds its own (n, sum w, sum w^2) where a row
 * adds (1, w, w^2); NA and skip counts count its rows. Nothing downstream
 * sees a difference. */
#include "umfrage.h"
#include <string.h>
#include <math.h>

enum { TV_SINGLE = 0, TV_DICH = 1, TV_CAT = 2, TV_CONST = 3 };

typedef struct {
    int kind;
    int nlev;        /* items (levels), including the NA level if any */
    int k;           /* item columns (MR sets)                         */
    const int **col; /* code / logical columns                          */
    int na_level;    /* single: NA codes go to level nlev - 1           */
    int base_all;    /* MR: respondents who selected nothing are in base */
} tvar;

/* Element i of a descriptor: a single integer. */
static int tvar_int(SEXP s, int i, const char *what, const char *field)
{
    SEXP x = VECTOR_ELT(s, i);
    if (TYPEOF(x) != INTSXP || XLENGTH(x) != 1)
        Rf_error("'%s': the %s must be a single integer", what, field);
    return INTEGER(x)[0];
}

static void parse_tvar(SEXP s, tvar *v, R_xlen_t *n, const char *what)
{
    if (TYPEOF(s) != VECSXP || XLENGTH(s) != 5)
        Rf_error("'%s' must be a table variable descriptor (a list of 5)", what);
    v->kind = tvar_int(s, 0, what, "kind");
    v->nlev = tvar_int(s, 1, what, "number of levels");
    SEXP data = VECTOR_ELT(s, 2);
    v->na_level = tvar_int(s, 3, what, "NA-level flag");
    v->base_all = tvar_int(s, 4, what, "base flag");
    if (v->kind < TV_SINGLE || v->kind > TV_CONST)
        Rf_error("'%s': unknown variable kind %d", what, v->kind);
    if (v->nlev == NA_INTEGER || v->nlev < 1)
        Rf_error("'%s': the number of levels must be positive", what);
    if (v->na_level != 0 && v->na_level != 1)
        Rf_error("'%s': the NA-level flag must be 0 or 1", what);
    if (v->base_all != 0 && v->base_all != 1)
        Rf_error("'%s': the base flag must be 0 or 1", what);
    if (TYPEOF(data) != VECSXP)
        Rf_error("'%s': the data must be a list of columns", what);
    if (v->kind == TV_CONST) {
        v->nlev = 1;
        v->k = 0;
        v->col = NULL;
        return;
    }
    if (XLENGTH(data) > INT_MAX) Rf_error("'%s': too many columns", what);
    v->k = (int) XLENGTH(data);
    if (v->k < 1 || (v->kind == TV_SINGLE && v->k != 1))
        Rf_error("'%s': wrong number of columns (%d) for its kind", what, v->k);
    /* a dichotomy's items are its columns */
    if (v->kind == TV_DICH && v->nlev != v->k)
        Rf_error("'%s': %d levels for %d dichotomy columns", what, v->nlev, v->k);
    v->col = (const int **) R_alloc(v->k, sizeof(int *));
    for (int j = 0; j < v->k; j++) {
        SEXP cj = VECTOR_ELT(data, j);
        int want = v->kind == TV_DICH ? LGLSXP : INTSXP;
        if (TYPEOF(cj) != want)
            Rf_error("'%s': column %d must be %s, not %s", what, j + 1,
                     want == LGLSXP ? "logical" : "integer",
                     Rf_type2char(TYPEOF(cj)));
        if (*n < 0) *n = XLENGTH(cj);
        else if (XLENGTH(cj) != *n)
            Rf_error("'%s': column %d has length %.0f, expected %.0f", what,
                     j + 1, (double) XLENGTH(cj), (double) *n);
        v->col[j] = v->kind == TV_DICH ? LOGICAL(cj) : INTEGER(cj);
    }
}

/* Items of row i for variable v, written to it[]; returns their count and
 * sets *in_base. `seen` (nlev ints, per thread) dedupes category mentions,
 * stamped with the row index + 1 so it never needs clearing. */
static inline int row_items(const tvar *v, R_xlen_t i, int *it, int *in_base,
                            R_xlen_t *seen)
{
    switch (v->kind) {
    case TV_CONST:
        it[0] = 0; *in_base = 1; return 1;
    case TV_SINGLE: {
        int c = v->col[0][i];
        if (c >= 1 && c <= v->nlev - v->na_level) { it[0] = c - 1; *in_base = 1; return 1; }
        if (c == NA_INTEGER && v->na_level) { it[0] = v->nlev - 1; *in_base = 1; return 1; }
        *in_base = 0;
        return c == NA_INTEGER ? 0 : -1;   /* -1: code out of range */
    }
    case TV_DICH: {
        int m = 0, answered = 0;
        for (int j = 0; j < v->k; j++) {
            int x = v->col[j][i];
            if (x == NA_LOGICAL) continue;
            answered = 1;
            if (x) it[m++] = j;
        }
        *in_base = v->base_all ? answered : m > 0;
        return m;
    }
    default: { /* TV_CAT */
        int m = 0;
        for (int j = 0; j < v->k; j++) {
            int c = v->col[j][i];
            if (c == NA_INTEGER) continue;
            if (c < 1 || c > v->nlev) return -1;
            if (seen[c - 1] == i + 1) continue;
            seen[c - 1] = i + 1;
            it[m++] = c - 1;
        }
        *in_base = v->base_all ? 1 : m > 0;
        return m;
    }
    }
}

/* Layer (by) code of row i: mixed radix over the by variables, -1 if any is
 * NA (and has no NA level), -2 if a code is out of range. */
static inline int layer_of(const tvar *by, int nby, const int *stride, R_xlen_t i)
{
    int b = 0;
    for (int q = 0; q < nby; q++) {
        int c = by[q].col[0][i];
        if (c >= 1 && c <= by[q].nlev - by[q].na_level) b += (c - 1) * stride[q];
        else if (c == NA_INTEGER && by[q].na_level) b += (by[q].nlev - 1) * stride[q];
        else return c == NA_INTEGER ? -1 : -2;
    }
    return b;
}

/* The layer (by) variables of a table, single variables only, with their
 * mixed-radix strides. Returns the number of layers. */
static int parse_layers(SEXP byvs, R_xlen_t *n, tvar **bv_out, int **stride_out,
                        int *nby_out)
{
    if (TYPEOF(byvs) != VECSXP) Rf_error("'by' must be a list of table variables");
    const int nby = (int) XLENGTH(byvs);
    tvar *bv = (tvar *) R_alloc(nby > 0 ? nby : 1, sizeof(tvar));
    int *bstride = (int *) R_alloc(nby > 0 ? nby : 1, sizeof(int));
    double nlay_d = 1;
    for (int q = 0; q < nby; q++) {
        parse_tvar(VECTOR_ELT(byvs, q), &bv[q], n, "by");
        if (bv[q].kind != TV_SINGLE) Rf_error("'by' variables must be single variables");
        bstride[q] = (int) nlay_d;
        nlay_d *= bv[q].nlev;
        if (nlay_d > INT_MAX) Rf_error("'by' spans %.0f layers, too many", nlay_d);
    }
    *bv_out = bv;
    *stride_out = bstride;
    *nby_out = nby;
    return (int) nlay_d;
}

/* The column variables of a banner (a non-empty list); returns their count. */
static int parse_cols(SEXP colvs, R_xlen_t *n, tvar **cv_out)
{
    if (TYPEOF(colvs) != VECSXP || XLENGTH(colvs) < 1)
        Rf_error("'cols' must be a non-empty list of table variables");
    const int ncv = (int) XLENGTH(colvs);
    tvar *cv = (tvar *) R_alloc(ncv, sizeof(tvar));
    for (int j = 0; j < ncv; j++) parse_tvar(VECTOR_ELT(colvs, j), &cv[j], n, "cols");
    *cv_out = cv;
    return ncv;
}

/* Whether w is a pattern-stats matrix: double, n rows, 3 columns. */
static bool is_pattern_stats(SEXP w, R_xlen_t n)
{
    if (TYPEOF(w) != REALSXP) return false;
    SEXP dim = Rf_getAttrib(w, R_DimSymbol);
    return TYPEOF(dim) == INTSXP && XLENGTH(dim) == 2 && INTEGER(dim)[1] == 3 &&
        (R_xlen_t) INTEGER(dim)[0] == n;
}

/* Row weights: NULL (all 1), a double vector of length n, or (pattern
 * rows) an n x 3 matrix of (n, sum w, sum w^2) per row, returned in *ps
 * (then the result is NULL). */
static const double *parse_weights_ps(SEXP w, R_xlen_t n, const double **ps)
{
    *ps = NULL;
    if (Rf_isNull(w)) return NULL;
    if (is_pattern_stats(w, n)) { *ps = REAL(w); return NULL; }
    if (TYPEOF(w) != REALSXP || XLENGTH(w) != n)
        Rf_error("'weights' must be a double vector with one value per row, or an n x 3 matrix of pattern sums");
    return REAL(w);
}

/* A row's contribution (n, sum w, sum w^2) to a cell, in st[], and its
 * row count (1, or a pattern's rows); false if the weight (or a pattern's
 * sums) is NA, negative or infinite. */
static inline bool row_stats(const double *wp, const double *ps, R_xlen_t n, R_xlen_t i,
                             double *st, R_xlen_t *rc)
{
    if (ps) {
        st[0] = ps[i]; st[1] = ps[n + i]; st[2] = ps[2 * n + i];
        *rc = st[0] >= 0 && st[0] < 4.5e15 ? (R_xlen_t) st[0] : 1;
        return st[0] >= 0 && st[0] < INFINITY && st[1] >= 0 && st[1] < INFINITY &&
            st[2] >= 0 && st[2] < INFINITY;
    }
    double wi = wp ? wp[i] : 1.0;
    *rc = 1;
    st[0] = 1.0; st[1] = wi; st[2] = wi * wi;
    return wi >= 0 && wi < INFINITY;
}

/* Level index of a single (or constant) variable in row i: >= 0, or -1 for
 * NA without an NA level, -2 for a code out of range. */
static inline int single_code(const tvar *v, R_xlen_t i)
{
    if (v->kind == TV_CONST) return 0;
    int c = v->col[0][i];
    if (c >= 1 && c <= v->nlev - v->na_level) return c - 1;
    if (c == NA_INTEGER) return v->na_level ? v->nlev - 1 : -1;
    return -2;
}

/* 3-column (n, sum w, sum w^2) matrix from a flat interleaved array */
static SEXP stats_matrix(const double *a, R_xlen_t len)
{
    SEXP m = PROTECT(Rf_allocMatrix(REALSXP, (int) len, 3));
    double *p = REAL(m);
    for (R_xlen_t j = 0; j < len; j++) {
        if ((j & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
        p[j] = a[3 * j];
        p[j + len] = a[3 * j + 1];
        p[j + 2 * len] = a[3 * j + 2];
    }
    UNPROTECT(1);
    return m;
}

/* The result of one column variable: list(cells, colbase, rowbase,
 * allbase) as 3-column matrices, from interleaved cell accumulators. Bases
 * given as NULL are sums of the cells (no MR set makes them differ). */
static SEXP col_result(const double *cells, int nr, int nc, int nlay,
                       const double *cb, const double *rb, const double *ab)
{
    double *cbs = NULL, *rbs = NULL, *abs_ = NULL;
    if (!cb) { cbs = (double *) R_alloc((size_t) nc * nlay * 3, sizeof(double)); memset(cbs, 0, (size_t) nc * nlay * 3 * sizeof(double)); }
    if (!rb) { rbs = (double *) R_alloc((size_t) nr * nlay * 3, sizeof(double)); memset(rbs, 0, (size_t) nr * nlay * 3 * sizeof(double)); }
    if (!ab) { abs_ = (double *) R_alloc((size_t) nlay * 3, sizeof(double)); memset(abs_, 0, (size_t) nlay * 3 * sizeof(double)); }
    /* tables can have 10^7 cells and more: check for interrupts every 1024
     * layers (of at least 3 values each) */
    if (!cb || !rb)
        for (int b = 0; b < nlay; b++) {
            if ((b & 1023) == 1023) R_CheckUserInterrupt();
            for (int c = 0; c < nc; c++)
                for (int r = 0; r < nr; r++)
                    for (int s = 0; s < 3; s++) {
                        double v = cells[3 * (r + (size_t) nr * (c + (size_t) nc * b)) + s];
                        if (cbs) cbs[3 * (c + (size_t) nc * b) + s] += v;
                        if (rbs) rbs[3 * (r + (size_t) nr * b) + s] += v;
                    }
        }
    if (!ab) {
        /* without MR sets the block base is the sum of the column bases */
        const double *src = cb ? cb : cbs;
        for (int b = 0; b < nlay; b++) {
            if ((b & 1023) == 1023) R_CheckUserInterrupt();
            for (int c = 0; c < nc; c++)
                for (int s = 0; s < 3; s++) abs_[3 * b + s] += src[3 * (c + (size_t) nc * b) + s];
        }
    }
    const char *nm_col[] = {"cells", "colbase", "rowbase", "allbase"};
    SEXP cj = PROTECT(umf_named_list(nm_col, 4));
    SET_VECTOR_ELT(cj, 0, stats_matrix(cells, (R_xlen_t) nr * nc * nlay));
    SET_VECTOR_ELT(cj, 1, stats_matrix(cb ? cb : cbs, (R_xlen_t) nc * nlay));
    SET_VECTOR_ELT(cj, 2, stats_matrix(rb ? rb : rbs, (R_xlen_t) nr * nlay));
    SET_VECTOR_ELT(cj, 3, stats_matrix(ab ? ab : abs_, nlay));
    UNPROTECT(1);
    return cj;
}

static inline void add3(const double *st, double *a)
{
    a[0] += st[0]; a[1] += st[1]; a[2] += st[2];
}

/* ---- C_tab: check, lay out, code rows into cells, result ------------------
 *
 * C_tab reads top-down: tab_parse() checks the arguments, tab_layout() lays
 * out one thread's accumulators, then either tab_fast() (single variables
 * without NA levels: one cell-kernel pass per column variable) or
 * tab_general() (MR sets, NA levels: one pass over the rows for all column
 * variables) fills the cells, tab_check_skips() raises errors for bad
 * weights or codes, and tab_answer() builds the result. */

/* A table's variables, rows and weights. */
typedef struct {
    tvar rv;            /* row variable                            */
    tvar *cv;           /* column variables (the banner)           */
    int ncv;
    tvar *bv;           /* layer (by) variables                    */
    int *bstride;       /* their mixed-radix strides               */
    int nby, nlay;
    int nr;             /* row items                               */
    bool row_mr;        /* the row variable is an MR set           */
    R_xlen_t n;
    const double *wp;   /* weights, or NULL (all 1)                */
    const double *ps;   /* pattern rows: n x 3 (n, sum w, sum w^2) */
} tab_spec;

/* One thread's accumulators: per column variable cells, colbase, rowbase,
 * allbase (off[4 j + 0..3]; each entry 3 doubles), and the per-thread
 * scratch of the item pass. */
typedef struct {
    size_t *off, tot;
    /* items of a row: at most one per column of an MR set; a category set
     * dedupes its mentions through `seen`, one stamp per level, at offset
     * soff[0] (rows) or soff[j + 1] (column variable j) of a thread's part */
    size_t *soff, nseen;
    int maxk;
    bool *need_colbase, *need_rowbase;
    int nth;
    R_xlen_t *skip;     /* per thread: 2 + ncv skip counters, bad-code and
                           bad-weight counts (ncv + 4)                  */
} tab_layout_t;

static bool is_mr(const tvar *v) { return v->kind == TV_DICH || v->kind == TV_CAT; }

static void tab_parse(SEXP rowv, SEXP colvs, SEXP byvs, SEXP w, tab_spec *s)
{
    s->n = -1;
    parse_tvar(rowv, &s->rv, &s->n, "rows");
    s->ncv = parse_cols(colvs, &s->n, &s->cv);
    s->nlay = parse_layers(byvs, &s->n, &s->bv, &s->bstride, &s->nby);
    if (s->n < 0) Rf_error("no data columns: every variable is constant");
    s->wp = parse_weights_ps(w, s->n, &s->ps);
    s->nr = s->rv.nlev;
    s->row_mr = is_mr(&s->rv);
}

static void tab_layout(const tab_spec *s, tab_layout_t *L)
{
    const int ncv = s->ncv, nr = s->nr, nlay = s->nlay;
    const tvar *cv = s->cv;
    L->off = (size_t *) R_alloc((size_t) ncv * 4 + 1, sizeof(size_t));
    L->soff = (size_t *) R_alloc((size_t) ncv + 2, sizeof(size_t));
    L->soff[0] = 0;
    L->soff[1] = s->rv.kind == TV_CAT ? (size_t) s->rv.nlev : 0;
    double tot_d = 0;
    int maxk = s->rv.k;
    for (int j = 0; j < ncv; j++) {
        tot_d += ((double) nr * cv[j].nlev * nlay + (double) cv[j].nlev * nlay +
                  (double) nr * nlay + nlay) * 3;
        if (cv[j].k > maxk) maxk = cv[j].k;
        L->soff[j + 2] = L->soff[j + 1] + (cv[j].kind == TV_CAT ? (size_t) cv[j].nlev : 0);
    }
    L->nseen = L->soff[ncv + 1] > 0 ? L->soff[ncv + 1] : 1;   /* per thread */
    umf_check_cells(tot_d / 3, s->n, tot_d / 3 / nlay, "the table");
    size_t tot = 0;
    for (int j = 0; j < ncv; j++) {
        double cells = (double) nr * cv[j].nlev * nlay;
        L->off[4 * j] = tot;      tot += (size_t) cells * 3;
        L->off[4 * j + 1] = tot;  tot += (size_t) cv[j].nlev * nlay * 3;
        L->off[4 * j + 2] = tot;  tot += (size_t) nr * nlay * 3;
        L->off[4 * j + 3] = tot;  tot += (size_t) nlay * 3;
    }
    L->off[4 * ncv] = tot;
    L->tot = tot;
    L->maxk = maxk < 1 ? 1 : maxk;
    L->nth = umf_threads_for(s->n);
    L->skip = (R_xlen_t *) R_alloc((size_t) L->nth * (ncv + 4), sizeof(R_xlen_t));
    memset(L->skip, 0, (size_t) L->nth * (ncv + 4) * sizeof(R_xlen_t));
    L->need_colbase = (bool *) R_alloc(ncv, sizeof(bool));
    L->need_rowbase = (bool *) R_alloc(ncv, sizeof(bool));
    for (int j = 0; j < ncv; j++) {
        L->need_colbase[j] = s->row_mr;
        L->need_rowbase[j] = is_mr(&cv[j]);
    }
}

/* Every variable single (or constant), i.e. no item lists. */
static bool tab_all_single(const tab_spec *s)
{
    if (s->row_mr) return false;
    for (int j = 0; j < s->ncv; j++)
        if (s->cv[j].kind != TV_SINGLE && s->cv[j].kind != TV_CONST) return false;
    return true;
}

/* The cell kernels apply: single variables without NA levels, and a code
 * column for the rows (a constant row variable takes the general path). */
static bool tab_fast_ok(const tab_spec *s)
{
    bool any_na_level = s->rv.na_level != 0;
    for (int j = 0; j < s->ncv; j++) if (s->cv[j].na_level) any_na_level = true;
    for (int q = 0; q < s->nby; q++) if (s->bv[q].na_level) any_na_level = true;
    /* pattern rows take the general path (the kernels add 1 per row) */
    return tab_all_single(s) && !any_na_level && s->rv.kind != TV_CONST && !s->ps;
}

/* The Total column as the sum over a donor column variable's levels (one
 * that lost no row to NA): no pass over the rows. dm: the donor's cells
 * matrix (nr * nc * nlay rows, 3 columns); buf: nr * nlay * 3 doubles. */
static SEXP total_from_donor(SEXP dm, int nr, int nc, int nlay, double *buf)
{
    const double *src = REAL(dm);
    const size_t len = (size_t) nr * nc * nlay;
    memset(buf, 0, (size_t) nr * nlay * 3 * sizeof(double));
    for (int b = 0; b < nlay; b++) {
        if ((b & 1023) == 1023) R_CheckUserInterrupt();
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++)
                for (int q = 0; q < 3; q++)
                    buf[3 * ((size_t) r + (size_t) nr * b) + q] +=
                        src[(size_t) r + (size_t) nr * (c + (size_t) nc * b) + len * q];
    }
    return col_result(buf, nr, 1, nlay, NULL, NULL, NULL);
}

/* umf_cell_pass() for pattern rows (n x 3 sums in ps): serial (patterns
 * are few), into buf (at least ncell * 3 doubles), with umf_cell_pass()'s
 * counts (per variable the rows whose first NA code it holds, then rows
 * with a code out of range, rows with unusable sums), counting rows. */
static const double *pattern_cell_pass(const umf_coder *cd, const double *ps, R_xlen_t n,
                                       R_xlen_t *counts, double *buf)
{
    memset(buf, 0, (size_t) cd->ncell * 3 * sizeof(double));
    for (int q = 0; q < cd->nvar + 2; q++) counts[q] = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
        double st[3];
        R_xlen_t rc;
        bool ok = row_stats(NULL, ps, n, i, st, &rc);
        size_t id = 0;
        int first_na = -1, out = 0;
        for (int j = 0; j < cd->nvar; j++) {
            int c = cd->codes[j][i];
            if (c == NA_INTEGER) { if (first_na < 0) first_na = j; continue; }
            if (c < 1 || c > cd->nlev[j]) { out = 1; continue; }
            id += (size_t) (c - 1) * (size_t) cd->stride[j];
        }
        if (out) { counts[cd->nvar] += rc; continue; }
        if (first_na >= 0) { counts[first_na] += rc; continue; }
        if (!ok) { counts[cd->nvar + 1] += rc; continue; }
        add3(st, buf + 3 * id);
    }
    return buf;
}

/* The cell pass of one block: row, column variable j (unless it is the
 * Total column), the by variables and, where given, one more variable
 * (`extra`, the design unit, of `extra_nlev` levels). Its cells are the
 * mixed-radix cells of these variables, exactly the layout of the
 * accumulators. Adds bad codes and weights to skip[ncv + 2] and
 * skip[ncv + 3]; sets *counts to the pass's NA counts per variable and *nvar
 * to the number of variables. Returns the cells (in buf), or NULL after bad
 * codes or weights (the error follows). */
static const double *block_cells(const tab_spec *s, int j, const int *extra, int extra_nlev,
                                 double *buf, R_xlen_t *skip, R_xlen_t **counts, int *nvar)
{
    const int ncv = s->ncv;
    const int nv = s->nby + 2 + (extra != NULL);
    const int **cp = (const int **) R_alloc(nv, sizeof(int *));
    int *nl = (int *) R_alloc(nv, sizeof(int));
    int *st = (int *) R_alloc(nv, sizeof(int));
    R_xlen_t *cnt = (R_xlen_t *) R_alloc(nv + 2, sizeof(R_xlen_t));
    int k = 0;
    cp[k] = s->rv.col[0]; nl[k++] = s->nr;
    if (s->cv[j].kind != TV_CONST) { cp[k] = s->cv[j].col[0]; nl[k++] = s->cv[j].nlev; }
    for (int q = 0; q < s->nby; q++) { cp[k] = s->bv[q].col[0]; nl[k++] = s->bv[q].nlev; }
    if (extra) { cp[k] = extra; nl[k++] = extra_nlev; }
    int s_ = 1;
    for (int q = 0; q < k; q++) { st[q] = s_; s_ *= nl[q]; }
    umf_coder cd = {k, cp, nl, st, s_};
    const double *cells = s->ps ? pattern_cell_pass(&cd, s->ps, s->n, cnt, buf)
                                : umf_cell_pass(&cd, s->wp, s->n, 3, cnt, buf);
    if (cnt[k + 1] > 0) skip[ncv + 3] += cnt[k + 1];
    if (cnt[k] > 0) skip[ncv + 2] += cnt[k];
    *counts = cnt;
    *nvar = k;
    return cnt[k + 1] == 0 && cnt[k] == 0 ? cells : NULL;
}

/* One block (row variable x column variable j) through the cell kernels.
 * Adds to the skip counters; returns the cells (in buf), or NULL after bad
 * codes or weights (the error follows). */
static const double *block_pass(const tab_spec *s, int j, double *buf, R_xlen_t *skip)
{
    R_xlen_t *counts;
    int k;
    const double *cells = block_cells(s, j, NULL, 0, buf, skip, &counts, &k);
    const bool has_col = s->cv[j].kind != TV_CONST;
    if (has_col) skip[2 + j] = counts[1];
    if (!has_col || j == 0) {
        skip[1] = counts[0];
        R_xlen_t byna = 0;
        for (int q = has_col ? 2 : 1; q < k; q++) byna += counts[q];
        skip[0] = byna;
    }
    return cells;
}

/* The fast path: one cell pass per column variable into a buffer it
 * reuses; the Total column from a donor where there is one. */
static void tab_fast(const tab_spec *s, const tab_layout_t *L, SEXP cols)
{
    const int nr = s->nr, nlay = s->nlay;
    size_t bufsize = 0;
    for (int j = 0; j < s->ncv; j++) {
        size_t need = umf_cell_buf_size(L->nth, (size_t) nr * s->cv[j].nlev * nlay, 3);
        if (need > bufsize) bufsize = need;
    }
    double *buf = (double *) R_alloc(bufsize, sizeof(double));
    int donor = -1;    /* a column variable that lost no row to NA */
    for (int j = 0; j < s->ncv; j++) {
        if (s->cv[j].kind == TV_CONST && donor >= 0) {
            SEXP dm = VECTOR_ELT(VECTOR_ELT(cols, donor), 0);
            SET_VECTOR_ELT(cols, j, total_from_donor(dm, nr, s->cv[donor].nlev, nlay, buf));
            continue;
        }
        const double *cells = block_pass(s, j, buf, L->skip);
        if (!cells) continue;
        if (s->cv[j].kind != TV_CONST && L->skip[2 + j] == 0 && donor < 0) donor = j;
        SET_VECTOR_ELT(cols, j, col_result(cells, nr, s->cv[j].nlev, nlay, NULL, NULL, NULL));
    }
}

/* The general path's shared steps, inlined into both row loops (no call
 * per row). thread_part(): thread t's accumulators (*a) and skip counters
 * (returned). row_layer(): row i's (n, sum w, sum w^2) (st) and row count (*rc) and layer, or -1 after
 * counting the row as skipped for its weight or its by variables. */
#if defined(__GNUC__) || defined(__clang__)
#define TAB_INLINE static inline __attribute__((always_inline))
#else
#define TAB_INLINE static inline
#endif
TAB_INLINE R_xlen_t *thread_part(const tab_layout_t *L, double *acc, int t, int ncv,
                                 double **a)
{
    *a = acc + (size_t) t * L->tot;
    return L->skip + (size_t) t * (ncv + 4);
}
TAB_INLINE int row_layer(const tab_spec *s, R_xlen_t i, R_xlen_t *sk, double *st,
                         R_xlen_t *rc)
{
    const int ncv = s->ncv;
    if (!row_stats(s->wp, s->ps, s->n, i, st, rc)) { sk[ncv + 3] += *rc; return -1; }
    int b = s->nby ? layer_of(s->bv, s->nby, s->bstride, i) : 0;
    if (b < 0) { if (b == -2) sk[ncv + 2] += *rc; else sk[0] += *rc; return -1; }
    return b;
}

/* Rows from..to of the general path when every variable is single: each
 * cell is one (row level, column level, layer) per column variable. */
static void rows_single(const tab_spec *s, const tab_layout_t *L, double *acc,
                        R_xlen_t from, R_xlen_t to)
{
    const int ncv = s->ncv, nr = s->nr;
    #pragma omp parallel num_threads(L->nth)
    {
        int t = omp_get_thread_num();
        double *a;
        R_xlen_t *sk = thread_part(L, acc, t, ncv, &a);
        #pragma omp for schedule(static)
        for (R_xlen_t i = from; i < to; i++) {
            double st[3];
            R_xlen_t rc;
            int b = row_layer(s, i, sk, st, &rc);
            if (b < 0) continue;
            int r = single_code(&s->rv, i);
            if (r < 0) { if (r == -2) sk[ncv + 2] += rc; else sk[1] += rc; continue; }
            for (int j = 0; j < ncv; j++) {
                int c = single_code(&s->cv[j], i);
                if (c < 0) { if (c == -2) sk[ncv + 2] += rc; else sk[2 + j] += rc; continue; }
                add3(st, a + L->off[4 * j] + 3 * ((size_t) r + (size_t) nr * (c + (size_t) s->cv[j].nlev * b)));
            }
        }
    }
}

/* Row i's contribution to column variable j, given the row variable's
 * items rit[0..nri) (rin: in its base) in layer b. ci: scratch (maxk). */
static inline void add_items(const tab_spec *s, const tab_layout_t *L, double *a,
                             R_xlen_t *sk, int j, R_xlen_t i, int b, const double *st,
                             R_xlen_t rc, const int *rit, int nri, int rin, int *ci,
                             R_xlen_t *seen)
{
    const int ncv = s->ncv, nr = s->nr;
    const tvar *c = &s->cv[j];
    int cin, nci = row_items(c, i, ci, &cin, seen);
    if (nci < 0) { sk[ncv + 2] += rc; return; }
    if (nci == 0 && !cin) { sk[2 + j] += rc; return; }
    const int nc = c->nlev;
    double *cells = a + L->off[4 * j];
    for (int p = 0; p < nri; p++)
        for (int q = 0; q < nci; q++)
            add3(st, cells + 3 * ((size_t) rit[p] + (size_t) nr * (ci[q] + (size_t) nc * b)));
    if (L->need_colbase[j] && rin)
        for (int q = 0; q < nci; q++)
            add3(st, a + L->off[4 * j + 1] + 3 * ((size_t) ci[q] + (size_t) nc * b));
    if (L->need_rowbase[j] && cin)
        for (int p = 0; p < nri; p++)
            add3(st, a + L->off[4 * j + 2] + 3 * ((size_t) rit[p] + (size_t) nr * b));
    if ((L->need_colbase[j] || L->need_rowbase[j]) && rin && cin)
        add3(st, a + L->off[4 * j + 3] + 3 * (size_t) b);
}

/* Rows from..to of the general path with MR sets: item lists per row.
 * itbuf, seen: per-thread scratch (maxk * (ncv + 1) ints, nseen stamps). */
static void rows_items(const tab_spec *s, const tab_layout_t *L, double *acc,
                       int *itbuf, R_xlen_t *seen, R_xlen_t from, R_xlen_t to)
{
    const int ncv = s->ncv, maxk = L->maxk;
    #pragma omp parallel num_threads(L->nth)
    {
        int t = omp_get_thread_num();
        double *a;
        R_xlen_t *sk = thread_part(L, acc, t, ncv, &a);
        int *rit = itbuf + (size_t) t * maxk * (ncv + 1);
        int *cit = rit + maxk;
        R_xlen_t *rseen = seen + (size_t) t * L->nseen;
        #pragma omp for schedule(static)
        for (R_xlen_t i = from; i < to; i++) {
            double st[3];
            R_xlen_t rc;
            int b = row_layer(s, i, sk, st, &rc);
            if (b < 0) continue;
            int rin, nri = row_items(&s->rv, i, rit, &rin, rseen + L->soff[0]);
            if (nri < 0) { sk[ncv + 2] += rc; continue; }
            if (!s->row_mr && nri == 0) { sk[1] += rc; continue; }
            if (s->row_mr && nri == 0 && !rin) { sk[1] += rc; continue; }
            for (int j = 0; j < ncv; j++)
                add_items(s, L, a, sk, j, i, b, st, rc, rit, nri, rin,
                          cit + (size_t) j * maxk, rseen + L->soff[j + 1]);
        }
    }
}

/* The general path: one pass over the rows for every column variable, per
 * thread accumulators merged in thread order. Returns the accumulators;
 * the skip counters are summed into thread 0's. */
static double *tab_general(const tab_spec *s, const tab_layout_t *L)
{
    const int nth = L->nth, ncv = s->ncv;
    double *acc = (double *) R_alloc((size_t) nth * L->tot, sizeof(double));
    umf_zero(acc, (size_t) nth * L->tot);
    const bool all_single = tab_all_single(s);
    int *itbuf = NULL;
    R_xlen_t *seen = NULL;
    if (!all_single) {
        itbuf = (int *) R_alloc((size_t) nth * L->maxk * (ncv + 1), sizeof(int));
        seen = (R_xlen_t *) R_alloc((size_t) nth * L->nseen, sizeof(R_xlen_t));
        memset(seen, 0, (size_t) nth * L->nseen * sizeof(R_xlen_t));
    }
    for (R_xlen_t from = 0; from < s->n; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < s->n ? from + UMF_CHUNK : s->n;
        if (all_single) rows_single(s, L, acc, from, to);
        else rows_items(s, L, acc, itbuf, seen, from, to);
        R_CheckUserInterrupt();
    }
    for (int t = 1; t < nth; t++) {          /* merge in thread order */
        const double *src = acc + (size_t) t * L->tot;
        for (size_t q = 0; q < L->tot; q++) {
            if ((q & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
            acc[q] += src[q];
        }
    }
    for (int t = 1; t < nth; t++)
        for (int q = 0; q < ncv + 4; q++) L->skip[q] += L->skip[(size_t) t * (ncv + 4) + q];
    return acc;
}

/* The general path's result per column variable; bases that no MR set
 * makes differ from sums of cells are summed from the cells. */
static void tab_general_result(const tab_spec *s, const tab_layout_t *L, const double *acc,
                               SEXP cols)
{
    for (int j = 0; j < s->ncv; j++) {
        const size_t *o = L->off + 4 * j;
        bool pass_ab = L->need_colbase[j] || L->need_rowbase[j];
        SET_VECTOR_ELT(cols, j, col_result(acc + o[0], s->nr, s->cv[j].nlev, s->nlay,
                                           L->need_colbase[j] ? acc + o[1] : NULL,
                                           L->need_rowbase[j] ? acc + o[2] : NULL,
                                           pass_ab ? acc + o[3] : NULL));
    }
}

/* Errors for weights that are NA, negative or infinite and for codes out of
 * range, from the summed skip counters. */
static void tab_check_skips(const R_xlen_t *skip, int ncv)
{
    if (skip[ncv + 3] > 0)
        Rf_error("'weights' holds %.0f values that are NA, negative or infinite",
                 (double) skip[ncv + 3]);
    if (skip[ncv + 2] > 0)
        Rf_error("%.0f codes are outside the range of their variable's levels",
                 (double) skip[ncv + 2]);
}

/* list(cols, [inf,] skipped = c(by_na, row_na, per-column NA counts));
 * inf: NULL (C_tab) or the inference per column variable (C_tab_des). */
static SEXP tab_answer(SEXP cols, SEXP inf, const R_xlen_t *skip, int ncv)
{
    const char *nm_top[] = {"cols", "inf", "skipped"};
    const char *nm_plain[] = {"cols", "skipped"};
    const int has_inf = !Rf_isNull(inf);
    SEXP ans = PROTECT(umf_named_list(has_inf ? nm_top : nm_plain, 2 + has_inf));
    SET_VECTOR_ELT(ans, 0, cols);
    if (has_inf) SET_VECTOR_ELT(ans, 1, inf);
    SEXP sk = PROTECT(Rf_allocVector(REALSXP, ncv + 2));
    for (int q = 0; q < ncv + 2; q++) REAL(sk)[q] = (double) skip[q];
    SET_VECTOR_ELT(ans, 1 + has_inf, sk);
    UNPROTECT(2);
    return ans;
}

/* rowv: one table variable; colvs: list of table variables (the banner);
 * byvs: list of single table variables (layers); w: weights or NULL.
 * Returns list(cols = per column variable list(cells, colbase, rowbase,
 * allbase) as 3-column matrices, skipped = c(by_na, row_na, per-column
 * NA counts)). */
SEXP C_tab(SEXP rowv, SEXP colvs, SEXP byvs, SEXP w)
{
    tab_spec s;
    tab_parse(rowv, colvs, byvs, w, &s);
    tab_layout_t L;
    tab_layout(&s, &L);
    SEXP cols = PROTECT(Rf_allocVector(VECSXP, s.ncv));
    const bool fast = tab_fast_ok(&s);
    double *acc = NULL;
    if (fast) tab_fast(&s, &L, cols);
    else acc = tab_general(&s, &L);
    tab_check_skips(L.skip, s.ncv);
    if (!fast) tab_general_result(&s, &L, acc, cols);
    SEXP ans = tab_answer(cols, R_NilValue, L.skip, s.ncv);
    UNPROTECT(1);
    return ans;
}

/* Cross-products for the variance of multiple-response blocks. A row of a
 * block is a vector z of 0/1 indicators: its cells (row item x column
 * item), its column bases, its row bases and the block base. For each
 * layer (by levels and design strata), Q = sum over rows of w^2 z z'. With
 * single variables Q follows from the cells' sums of w^2; with MR sets a
 * respondent sits in several cells at once, hence this pass. Returns a
 * Kp x Kp x layers array, Kp = nr * nc + nc + nr + 1. Serial: MR blocks
 * are small. */
SEXP C_tab_xprod(SEXP rowv, SEXP colv, SEXP byvs, SEXP w)
{
    R_xlen_t n = -1;
    tvar rv, cv;
    parse_tvar(rowv, &rv, &n, "rows");
    parse_tvar(colv, &cv, &n, "cols");
    tvar *bv;
    int *bstride, nby;
    const int nlay = parse_layers(byvs, &n, &bv, &bstride, &nby);
    if (n < 0) Rf_error("no data columns: every variable is constant");
    const int nr = rv.nlev, nc = cv.nlev;
    const double kp_d = (double) nr * nc + nc + nr + 1;
    if (kp_d * kp_d * nlay > 5e8)
        Rf_error("the cross-products would need %.0f values, too many", kp_d * kp_d * nlay);
    umf_check_cells(kp_d * kp_d * nlay, n, kp_d * kp_d, "the cross-products");
    const int Kp = (int) kp_d;
    const double *ps;
    const double *wp = parse_weights_ps(w, n, &ps);
    const bool row_mr = rv.kind == TV_DICH || rv.kind == TV_CAT;
    int maxk = nr > nc ? nr : nc;
    int *rit = (int *) R_alloc(maxk, sizeof(int));
    int *cit = (int *) R_alloc(maxk, sizeof(int));
    int *z = (int *) R_alloc((size_t) maxk * maxk + 2 * maxk + 1, sizeof(int));
    R_xlen_t *seen = (R_xlen_t *) R_alloc(2 * (size_t) maxk, sizeof(R_xlen_t));
    for (int q = 0; q < 2 * maxk; q++) seen[q] = 0;
    SEXP ans = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t) Kp * Kp * nlay));
    double *Q = REAL(ans);
    memset(Q, 0, (size_t) Kp * Kp * nlay * sizeof(double));
    const int K = nr * nc;
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        double st[3];
        R_xlen_t rc;
        if (!row_stats(wp, ps, n, i, st, &rc))
            Rf_error("'weights' holds values that are NA, negative or infinite");
        int b = nby ? layer_of(bv, nby, bstride, i) : 0;
        if (b < 0) continue;
        int rin, nri = row_items(&rv, i, rit, &rin, seen);
        if (nri < 0) continue;
        if (!row_mr && nri == 0) continue;
        if (row_mr && nri == 0 && !rin) continue;
        int cin, nci = row_items(&cv, i, cit, &cin, seen + maxk);
        if (nci < 0 || (nci == 0 && !cin)) continue;
        int m = 0;
        for (int p = 0; p < nri; p++)
            for (int q = 0; q < nci; q++) z[m++] = rit[p] + nr * cit[q];
        if (rin) for (int q = 0; q < nci; q++) z[m++] = K + cit[q];
        if (cin) for (int p = 0; p < nri; p++) z[m++] = K + nc + rit[p];
        if (rin && cin) z[m++] = K + nc + nr;
        double w2 = st[2];        /* a pattern: its sum of w^2 */
        double *Qb = Q + (size_t) Kp * Kp * b;
        for (int a = 0; a < m; a++)
            for (int c = 0; c < m; c++)
                Qb[(size_t) z[a] + (size_t) Kp * z[c]] += w2;
    }
    UNPROTECT(1);
    return ans;
}

/* ---- C_tab_des: check, size, one pass per column variable, result -------- */

/* The arguments of the fused pass: as C_tab's, plus the design unit. */
typedef struct {
    tab_spec s;
    tvar dv;            /* design unit (stratum or PSU)  */
    int nd;             /* design units                  */
    SEXP test_v, labels;
} des_spec;

static void des_parse(SEXP rowv, SEXP colvs, SEXP byvs, SEXP dlay, SEXP w, SEXP opt,
                      des_spec *ds)
{
    tab_spec *s = &ds->s;
    s->n = -1;
    parse_tvar(rowv, &s->rv, &s->n, "rows");
    s->ncv = parse_cols(colvs, &s->n, &s->cv);
    s->nlay = parse_layers(byvs, &s->n, &s->bv, &s->bstride, &s->nby);
    parse_tvar(dlay, &ds->dv, &s->n, "design");
    if (s->n < 0) Rf_error("no data columns: every variable is constant");
    s->wp = parse_weights_ps(w, s->n, &s->ps);
    s->nr = s->rv.nlev;
    s->row_mr = false;
    const int ncv = s->ncv;
    if (s->rv.kind != TV_SINGLE || s->rv.na_level || ds->dv.kind != TV_SINGLE || ds->dv.na_level)
        Rf_error("the fused pass needs single row and design variables without an NA level");
    for (int j = 0; j < ncv; j++)
        if ((s->cv[j].kind != TV_SINGLE && s->cv[j].kind != TV_CONST) || s->cv[j].na_level)
            Rf_error("the fused pass needs single column variables without an NA level");
    for (int q = 0; q < s->nby; q++)
        if (s->bv[q].na_level) Rf_error("the fused pass needs 'by' variables without an NA level");
    if (s->cv[ncv - 1].kind != TV_CONST) Rf_error("the fused pass needs the Total column last");
    ds->test_v = umf_list_get(opt, "test", "opt", false);
    ds->labels = umf_list_get(opt, "labels", "opt", false);
    if (TYPEOF(ds->test_v) != INTSXP || XLENGTH(ds->test_v) != ncv ||
        TYPEOF(ds->labels) != VECSXP || XLENGTH(ds->labels) != ncv)
        Rf_error("'opt' needs 'test' and 'labels' with one element per column variable");
    ds->nd = ds->dv.nlev;
}

/* Checks the sizes of every block and returns the doubles of the pass
 * buffer (*bufsize), of the point estimates (*pemax) and the bytes of the
 * inference arena (*cap). */
static void des_sizes(const des_spec *ds, int H, int nth, size_t *bufsize, size_t *pemax,
                      size_t *cap)
{
    const tab_spec *s = &ds->s;
    const int nr = s->nr, nd = ds->nd;
    *bufsize = *pemax = *cap = 0;
    for (int j = 0; j < s->ncv; j++) {
        const int nc = s->cv[j].nlev;
        double cells = (double) nr * nc * s->nlay * nd;
        umf_check_cells(cells, s->n, (double) nr * nc, "the table by design unit");
        if (cells > 1e9) Rf_error("the table would have %.0f cells by design unit, too many", cells);
        double kp = (double) nr * nc + nr + nc + 1;
        if (kp * kp > UMF_FREE_CELLS)
            Rf_error("column variable %d: a block of %.0f cells and bases is too large for inference",
                     j + 1, kp);
        size_t need = umf_cell_buf_size(nth, (size_t) cells, 3);
        if (need > *bufsize) *bufsize = need;
        SEXP lab = VECTOR_ELT(ds->labels, j);
        if (TYPEOF(lab) != STRSXP || XLENGTH(lab) < nc)
            Rf_error("'labels' must name every column of column variable %d", j + 1);
        size_t ll = 0;
        for (int c = 0; c < nc; c++) ll += strlen(CHAR(STRING_ELT(lab, c)));
        size_t an = umf_block_need(nr, nc, nd, nd, H, ll);
        if (an > *cap) *cap = an;
    }
    for (int j = 0; j < s->ncv; j++) {
        size_t k = (size_t) nr * s->cv[j].nlev * s->nlay * 3;
        if (k > *pemax) *pemax = k;
    }
}

/* One cell pass over (row, column j, by..., design unit). Adds bad codes and
 * weights to skip[ncv + 2], skip[ncv + 3]; on a clean pass sets column j's
 * NA count (the Total column: the row and by NA counts) and returns the
 * cells, else NULL. */
static const double *des_block_pass(const des_spec *ds, int j, double *buf, R_xlen_t *skip)
{
    const tab_spec *s = &ds->s;
    R_xlen_t *counts;
    int k;
    const double *cells = block_cells(s, j, ds->dv.col[0], ds->nd, buf, skip, &counts, &k);
    if (!cells) return NULL;
    if (s->cv[j].kind != TV_CONST) skip[2 + j] = counts[1];
    else {
        skip[1] = counts[0];
        R_xlen_t byna = 0;
        for (int q = 1; q < k; q++) byna += counts[q];
        skip[0] = byna;
    }
    return cells;
}

/* Point estimates: the sums over the design units of kb cells x 3. */
static void sum_over_units(const double *cells, size_t kb, int nd, double *pe)
{
    memset(pe, 0, kb * 3 * sizeof(double));
    for (int d = 0; d < nd; d++) {
        if ((d & 255) == 255) R_CheckUserInterrupt();
        const double *src = cells + 3 * kb * d;
        for (size_t e = 0; e < 3 * kb; e++) pe[e] += src[e];
    }
}

/* The layers' rows and df for the Rao-Scott test: given (all rows of a
 * layer, as svychisq() counts them), or from the Total column's cells (the
 * rows with the row variable given). */
static void des_layer_df(const des_spec *ds, const double *cells, SEXP des, SEXP opt,
                         double *lay_rows, double *lay_nu)
{
    const int nlay = ds->s.nlay;
    SEXP lr = umf_list_get(opt, "layer_rows", "opt", false),
        ln = umf_list_get(opt, "layer_nu", "opt", false);
    if (!Rf_isNull(lr) && !Rf_isNull(ln)) {
        if (TYPEOF(lr) != REALSXP || XLENGTH(lr) != nlay || TYPEOF(ln) != REALSXP ||
            XLENGTH(ln) != nlay)
            Rf_error("'layer_rows' and 'layer_nu' must be double vectors, one value per layer");
        memcpy(lay_rows, REAL(lr), nlay * sizeof(double));
        memcpy(lay_nu, REAL(ln), nlay * sizeof(double));
    } else umf_layer_df(cells, ds->s.nr, nlay, ds->nd, des, lay_rows, lay_nu);
}

/* The fused pass for design-based tables of single variables: per column
 * variable one cell pass over (row, column, by..., design unit) into a
 * buffer it reuses, whose sums give both the point estimates (summed over
 * the design units) and, in var.c, the inference. Nothing per design unit
 * reaches R. rowv, colvs, byvs, w as C_tab (single variables without an NA
 * level; the Total column last); dlay: the design unit (stratum or PSU) as
 * a single variable; des, opt as C_block_inf, with opt$test (per column
 * variable) and opt$labels (list, per column variable). Returns list(cols
 * (as C_tab), inf (per column variable, as C_block_inf), skipped). */
SEXP C_tab_des(SEXP rowv, SEXP colvs, SEXP byvs, SEXP dlay, SEXP w, SEXP des, SEXP opt)
{
    des_spec ds;
    des_parse(rowv, colvs, byvs, dlay, w, opt, &ds);
    const tab_spec *s = &ds.s;
    const int ncv = s->ncv, nr = s->nr, nlay = s->nlay, nd = ds.nd;
    SEXP scale = umf_list_get(des, "scale", "des", true);
    if (TYPEOF(scale) != REALSXP || XLENGTH(scale) > INT_MAX)
        Rf_error("'des': 'scale' must be a double vector");
    size_t bufsize, pemax, cap;
    des_sizes(&ds, (int) XLENGTH(scale), umf_threads_for(s->n), &bufsize, &pemax, &cap);
    double *buf = (double *) R_alloc(bufsize, sizeof(double));
    double *pe = (double *) R_alloc(pemax, sizeof(double));
    umf_arena ar = {(char *) R_alloc(cap > 0 ? cap : 1, 1), 0, cap};
    double *lay_rows = (double *) R_alloc(nlay, sizeof(double));
    double *lay_nu = (double *) R_alloc(nlay, sizeof(double));
    R_xlen_t *skip = (R_xlen_t *) R_alloc(ncv + 4, sizeof(R_xlen_t));
    memset(skip, 0, (ncv + 4) * sizeof(R_xlen_t));
    SEXP cols = PROTECT(Rf_allocVector(VECSXP, ncv));
    SEXP inf = PROTECT(Rf_allocVector(VECSXP, ncv));
    bool bad = false;
    /* the Total column first: its counts give the layers' rows and df */
    for (int jj = 0; jj < ncv; jj++) {
        const int j = jj == 0 ? ncv - 1 : jj - 1;
        const double *cells = des_block_pass(&ds, j, buf, skip);
        /* after a bad pass only count (the error follows the loop) */
        if (!cells) bad = true;
        if (bad) continue;
        const int nc = s->cv[j].nlev;
        sum_over_units(cells, (size_t) nr * nc * nlay, nd, pe);
        SET_VECTOR_ELT(cols, j, col_result(pe, nr, nc, nlay, NULL, NULL, NULL));
        if (s->cv[j].kind == TV_CONST) des_layer_df(&ds, cells, des, opt, lay_rows, lay_nu);
        int dims[5] = {nr, nc, nlay, 1, nd};
        SET_VECTOR_ELT(inf, j, umf_block_inf_cells(cells, dims, des, opt, INTEGER(ds.test_v)[j],
                                                   VECTOR_ELT(ds.labels, j), lay_rows, lay_nu, &ar));
    }
    tab_check_skips(skip, ncv);
    if (bad) Rf_error("%.0f codes are outside the range of their variable's levels",
                      (double) skip[ncv + 2]);
    SEXP ans = tab_answer(cols, inf, skip, ncv);
    UNPROTECT(2);
    return ans;
}
