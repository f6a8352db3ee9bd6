/* umfrage: the cells of several column sets from ONE stream of rows
 * (database sources, issue 18: a banner on an engine without GROUPING SETS,
 * such as SQLite, in one scan).
 *
 * R reads `SELECT <the union of the sets' columns>, <weight> FROM <source>`
 * in chunks (DBI::dbFetch(n = chunk)) and hands each chunk to
 * C_dbs_chunk(). Every column is coded to integer codes against its own
 * dictionary of distinct values, which grows across chunks (strings by
 * their CHARSXP, which R's string cache makes unique per text and encoding;
 * numbers by their bits, -0 as 0, NA and NaN apart). Every set then groups
 * the chunk's rows by the codes of its columns, packed into 64-bit words
 * (a column's field widens, and the set's groups are re-packed, when its
 * dictionary outgrows it), in an open-addressing hash table that also
 * lives across chunks: the partial sums of a group are merged as the rows
 * come, so memory is the chunk plus the groups. Per group the statistics
 * of the SQL cell query (db_cells_sql() in R/db.R): rows, sum of w, sum of
 * w^2, rows with w > 0, smallest and largest w, rows with NULL w (SQL's
 * SUM/MIN/MAX skip NULLs; a group of NULL weights only gives NA sums).
 *
 * C_dbs_result() returns per set its groups' codes (1-based) and sums and
 * the dictionaries; R turns codes into values.
 *
 * State: an external pointer (tag "umfrage_dbs") to a malloc'd struct,
 * freed by its finalizer; the dictionaries' values are R vectors in the
 * pointer's protected list. Interrupts are checked every 2^20 rows, only
 * where the state is consistent.
 */
#include "umfrage.h"

#define DBS_NSTAT 7
#define DBS_INT 1
#define DBS_DBL 2
#define DBS_STR 3

typedef struct {
    int type;            /* 0 until the first chunk, then DBS_INT/DBL/STR */
    int n, cap;          /* values in the dictionary, room */
    uint64_t *key;       /* per value: its bits (int, double, CHARSXP address) */
    int *tab;            /* hash table of code + 1 (0: empty) */
    uint64_t mask;       /* table size - 1 */
} dbs_dict;

typedef struct {
    int k;               /* columns of the set */
    int *col;            /* their indices among the stream's columns */
    int *width, *word, *shift;
    int K;               /* 64-bit words of a packed key */
    uint64_t *keys;      /* ng * K */
    double *acc;         /* ng * DBS_NSTAT: a group's sums side by side */
    int ng, gcap;
    int *tab;
    uint64_t mask;
} dbs_set;

typedef struct {
    int ncol, nset, weighted, done;
    dbs_dict *dict;
    dbs_set *set;
    double rows;
} dbs_state;

static SEXP dbs_tag(void) { return Rf_install("umfrage_dbs"); }

static void dbs_free(dbs_state *s)
{
    if (!s) return;
    if (s->dict) for (int j = 0; j < s->ncol; j++) {
        free(s->dict[j].key);
        free(s->dict[j].tab);
    }
    if (s->set) for (int i = 0; i < s->nset; i++) {
        dbs_set *t = &s->set[i];
        free(t->col); free(t->width); free(t->word); free(t->shift);
        free(t->keys); free(t->tab);
        free(t->acc);
    }
    free(s->dict);
    free(s->set);
    free(s);
}

static void dbs_finalize(SEXP p)
{
    dbs_free((dbs_state *) R_ExternalPtrAddr(p));
    R_ClearExternalPtr(p);
}

static dbs_state *dbs_get(SEXP p)
{
    if (TYPEOF(p) != EXTPTRSXP || R_ExternalPtrTag(p) != dbs_tag() || !R_ExternalPtrAddr(p))
        Rf_error("'state' must be a stream state made by C_dbs_new()");
    return (dbs_state *) R_ExternalPtrAddr(p);
}

static void *dbs_alloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) Rf_error("the stream of rows could not allocate %.0f bytes", (double) n * size);
    return p;
}

static inline uint64_t dbs_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t dbs_hash(const uint64_t *kw, int K)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL;
    for (int w = 0; w < K; w++) h = dbs_mix(h ^ kw[w]);
    return h;
}

static int dbs_bits(int n)  /* bits that hold the codes 0..n-1 (at least 1) */
{
    int b = 1;
    while (b < 31 && ((int64_t) 1 << b) < n) b++;
    return b;
}

/* sets: a list of integer vectors (0-based indices of columns, distinct,
 * in 0..ncol-1); ncol: the stream's columns; weighted: whether chunks
 * carry weights. */
SEXP C_dbs_new(SEXP sets, SEXP ncol_, SEXP weighted)
{
    if (TYPEOF(sets) != VECSXP || XLENGTH(sets) < 1 || XLENGTH(sets) > 100000)
        Rf_error("'sets' must be a list of 1 to 100000 column sets");
    if (TYPEOF(ncol_) != INTSXP || XLENGTH(ncol_) != 1 || INTEGER(ncol_)[0] < 0 ||
        INTEGER(ncol_)[0] > 100000)
        Rf_error("'ncol' must be a number of columns (0 to 100000)");
    if (TYPEOF(weighted) != LGLSXP || XLENGTH(weighted) != 1 || LOGICAL(weighted)[0] == NA_LOGICAL)
        Rf_error("'weighted' must be TRUE or FALSE");
    int ncol = INTEGER(ncol_)[0], nset = (int) XLENGTH(sets);
    for (int i = 0; i < nset; i++) {
        SEXP c = VECTOR_ELT(sets, i);
        if (TYPEOF(c) != INTSXP || XLENGTH(c) > ncol)
            Rf_error("set %d must be an integer vector of at most %d column indices", i + 1, ncol);
        const int *ci = INTEGER(c);
        for (R_xlen_t a = 0; a < XLENGTH(c); a++) {
            if (ci[a] == NA_INTEGER || ci[a] < 0 || ci[a] >= ncol)
                Rf_error("set %d refers to column %d, outside 0..%d", i + 1, ci[a], ncol - 1);
            for (R_xlen_t b = 0; b < a; b++)
                if (ci[b] == ci[a]) Rf_error("set %d names column %d twice", i + 1, ci[a]);
        }
    }
    SEXP prot = PROTECT(Rf_allocVector(VECSXP, ncol));
    SEXP p = PROTECT(R_MakeExternalPtr(NULL, dbs_tag(), prot));
    R_RegisterCFinalizerEx(p, dbs_finalize, TRUE);
    dbs_state *s = dbs_alloc(1, sizeof *s);
    R_SetExternalPtrAddr(p, s);
    s->ncol = ncol;
    s->weighted = LOGICAL(weighted)[0];
    s->dict = dbs_alloc((size_t) ncol, sizeof *s->dict);
    s->set = dbs_alloc((size_t) nset, sizeof *s->set);
    s->nset = nset;
    for (int j = 0; j < ncol; j++) {
        dbs_dict *d = &s->dict[j];
        d->cap = 16;
        d->key = dbs_alloc((size_t) d->cap, sizeof *d->key);
        d->mask = 63;
        d->tab = dbs_alloc((size_t) d->mask + 1, sizeof *d->tab);
    }
    for (int i = 0; i < nset; i++) {
        dbs_set *t = &s->set[i];
        SEXP c = VECTOR_ELT(sets, i);
        t->k = (int) XLENGTH(c);
        t->col = dbs_alloc((size_t) t->k, sizeof(int));
        t->width = dbs_alloc((size_t) t->k, sizeof(int));
        t->word = dbs_alloc((size_t) t->k, sizeof(int));
        t->shift = dbs_alloc((size_t) t->k, sizeof(int));
        memcpy(t->col, INTEGER(c), (size_t) t->k * sizeof(int));
        t->K = 1;   /* widths 0: every code is 0 until the first chunk */
        t->gcap = 16;
        t->keys = dbs_alloc((size_t) t->gcap * t->K, sizeof(uint64_t));
        t->acc = dbs_alloc((size_t) t->gcap * DBS_NSTAT, sizeof(double));
        t->mask = 63;
        t->tab = dbs_alloc((size_t) t->mask + 1, sizeof(int));
    }
    UNPROTECT(2);
    return p;
}

/* The bits of a value: an integer, a double, or a CHARSXP's address. */
static inline uint64_t dbs_dblkey(double v)
{
    uint64_t u;
    if (ISNAN(v)) return R_IsNA(v) ? 0x7FF00000000007A2ULL : 0x7FF8000000000000ULL;
    if (v == 0) v = 0;   /* -0 as 0 */
    memcpy(&u, &v, sizeof u);
    return u;
}

static inline uint64_t dbs_valkey(int type, SEXP x, R_xlen_t i)
{
    if (type == DBS_INT) return (uint64_t) (uint32_t) INTEGER(x)[i];
    if (type == DBS_STR) return (uint64_t) (uintptr_t) STRING_ELT(x, i);
    return dbs_dblkey(REAL(x)[i]);
}

/* A hash table (of index + 1, 0 empty) of n keys of K words, anew;
 * FALSE (and the old table kept) if it could not be allocated. No R API:
 * it runs on the grouping threads. */
static bool dbs_rehash_try(int **tab, uint64_t *mask, const uint64_t *keys, int K, int n, uint64_t size)
{
    int *nt = calloc((size_t) size, sizeof(int));
    if (!nt) return false;
    free(*tab);
    *tab = nt;
    *mask = size - 1;
    for (int g = 0; g < n; g++) {
        uint64_t h = dbs_hash(keys + (size_t) g * K, K) & *mask;
        while (nt[h]) h = (h + 1) & *mask;
        nt[h] = g + 1;
    }
    return true;
}

/* The same, raising an error if the table cannot be allocated. */
static void dbs_rehash(int **tab, uint64_t *mask, const uint64_t *keys, int K, int n, uint64_t size)
{
    if (!dbs_rehash_try(tab, mask, keys, K, n, size))
        Rf_error("the stream of rows could not allocate %.0f bytes", (double) size * sizeof(int));
}

/* Append value i of x to the dictionary (its R vector in prot[j]). */
static int dbs_dict_add(dbs_dict *d, SEXP prot, int j, SEXP x, R_xlen_t i, uint64_t key)
{
    if (d->n == INT_MAX - 1) Rf_error("column %d has more than %d distinct values", j + 1, INT_MAX - 1);
    SEXP vals = VECTOR_ELT(prot, j);
    if (d->n >= d->cap || vals == R_NilValue || XLENGTH(vals) <= d->n) {
        int cap = d->cap;
        while (cap <= d->n) cap = cap > INT_MAX / 2 ? INT_MAX : 2 * cap;
        uint64_t *k2 = realloc(d->key, (size_t) cap * sizeof *k2);
        if (!k2) Rf_error("the stream of rows could not grow a dictionary");
        d->key = k2;
        d->cap = cap;
        SEXPTYPE rt = d->type == DBS_INT ? INTSXP : d->type == DBS_DBL ? REALSXP : STRSXP;
        SEXP nv = PROTECT(Rf_allocVector(rt, cap));
        for (int c = 0; c < d->n; c++) {
            if (rt == INTSXP) INTEGER(nv)[c] = INTEGER(vals)[c];
            else if (rt == REALSXP) REAL(nv)[c] = REAL(vals)[c];
            else SET_STRING_ELT(nv, c, STRING_ELT(vals, c));
        }
        SET_VECTOR_ELT(prot, j, nv);
        UNPROTECT(1);
        vals = nv;
    }
    if (d->type == DBS_INT) INTEGER(vals)[d->n] = INTEGER(x)[i];
    else if (d->type == DBS_DBL) REAL(vals)[d->n] = REAL(x)[i];
    else SET_STRING_ELT(vals, d->n, STRING_ELT(x, i));
    d->key[d->n] = key;
    return d->n++;
}

/* Code a chunk's column against its dictionary (codes 0-based). */
static void dbs_code(dbs_dict *d, SEXP prot, int j, SEXP x, R_xlen_t n, int *code)
{
    int type = d->type;
    const int *xi = type == DBS_INT ? INTEGER(x) : NULL;
    const double *xd = type == DBS_DBL ? REAL(x) : NULL;
    const SEXP *xs = type == DBS_STR ? STRING_PTR_RO(x) : NULL;
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
        uint64_t key = xi ? (uint64_t) (uint32_t) xi[i] : xs ? (uint64_t) (uintptr_t) xs[i] :
            dbs_dblkey(xd[i]);
        uint64_t h = dbs_hash(&key, 1) & d->mask;
        int c;
        while ((c = d->tab[h]) && d->key[c - 1] != key) h = (h + 1) & d->mask;
        if (c) { code[i] = c - 1; continue; }
        c = dbs_dict_add(d, prot, j, x, i, key);
        d->tab[h] = c + 1;
        code[i] = c;
        if ((uint64_t) d->n * 2 > d->mask + 1) dbs_rehash(&d->tab, &d->mask, d->key, 1, d->n, 2 * (d->mask + 1));
    }
}

/* Field widths of a set for its dictionaries' sizes (one bit of room over
 * the present size, so that growth rarely re-packs); FALSE if unchanged. */
static bool dbs_layout(dbs_set *t, const dbs_state *s, int *width, int *word, int *shift, int *K)
{
    bool change = false;
    int w = 0, pos = 0;
    for (int a = 0; a < t->k; a++) {
        int n = s->dict[t->col[a]].n;
        int need = n <= 1 ? 0 : dbs_bits(n);
        width[a] = t->width[a];
        if (need > width[a]) {
            width[a] = need + (need < 31);
            change = true;
        }
        if (pos + width[a] > 64) { w++; pos = 0; }
        word[a] = w;
        shift[a] = pos;
        pos += width[a];
    }
    *K = w + 1;
    return change;
}

static void dbs_pack(const dbs_set *t, const int *const *code, R_xlen_t i, uint64_t *kw)
{
    for (int w = 0; w < t->K; w++) kw[w] = 0;
    for (int a = 0; a < t->k; a++) kw[t->word[a]] |= (uint64_t) code[a][i] << t->shift[a];
}

/* Re-pack the groups' keys in a wider layout. */
static void dbs_relayout(dbs_set *t, const int *width, const int *word, const int *shift, int K)
{
    uint64_t *nk = dbs_alloc((size_t) t->gcap * K, sizeof(uint64_t));
    for (int g = 0; g < t->ng; g++) {
        const uint64_t *ok = t->keys + (size_t) g * t->K;
        uint64_t *kk = nk + (size_t) g * K;
        for (int a = 0; a < t->k; a++) {
            uint64_t v = t->width[a] ? (ok[t->word[a]] >> t->shift[a]) &
                (((uint64_t) 1 << t->width[a]) - 1) : 0;
            kk[word[a]] |= v << shift[a];
        }
    }
    free(t->keys);
    t->keys = nk;
    t->K = K;
    memcpy(t->width, width, (size_t) t->k * sizeof(int));
    memcpy(t->word, word, (size_t) t->k * sizeof(int));
    memcpy(t->shift, shift, (size_t) t->k * sizeof(int));
    dbs_rehash(&t->tab, &t->mask, t->keys, t->K, t->ng, t->mask + 1);
}

/* A new group of key kw: its index, or -1 (too many groups) or -2 (no
 * memory), the set unchanged. No R API: it runs on the grouping threads. */
static int dbs_new_group(dbs_set *t, const uint64_t *kw)
{
    if (t->ng == INT_MAX - 1) return -1;
    if (t->ng >= t->gcap) {
        int cap = t->gcap > INT_MAX / 2 ? INT_MAX : 2 * t->gcap;
        uint64_t *k2 = realloc(t->keys, (size_t) cap * t->K * sizeof(uint64_t));
        if (!k2) return -2;
        t->keys = k2;
        double *a2 = realloc(t->acc, (size_t) cap * DBS_NSTAT * sizeof(double));
        if (!a2) return -2;
        t->acc = a2;
        t->gcap = cap;
    }
    int g = t->ng;
    memcpy(t->keys + (size_t) g * t->K, kw, (size_t) t->K * sizeof(uint64_t));
    double *A = t->acc + (size_t) g * DBS_NSTAT;
    A[0] = A[1] = A[2] = A[3] = A[6] = 0;
    A[4] = R_PosInf;
    A[5] = R_NegInf;
    t->ng++;
    return g;
}

/* Rows b0..b1-1 of a chunk into set t's groups (its layout fitted to the
 * dictionaries): 0, or -1/-2 as dbs_new_group() (the rows before the
 * failing one added). No R API: it runs on the grouping threads. */
static int dbs_group_rows_on(dbs_set *t, const int *const *code, const double *wt,
                          R_xlen_t b0, R_xlen_t b1, uint64_t *kw, const int **sc)
{
    for (int a = 0; a < t->k; a++) sc[a] = code[t->col[a]];
    for (R_xlen_t i = b0; i < b1; i++) {
        dbs_pack(t, sc, i, kw);
        uint64_t h = dbs_hash(kw, t->K) & t->mask;
        int g;
        while ((g = t->tab[h]) &&
               memcmp(t->keys + (size_t) (g - 1) * t->K, kw, (size_t) t->K * sizeof(uint64_t)))
            h = (h + 1) & t->mask;
        if (g) g--;
        else {
            g = dbs_new_group(t, kw);
            if (g < 0) return g;
            t->tab[h] = g + 1;
            if ((uint64_t) t->ng * 2 > t->mask + 1 &&
                !dbs_rehash_try(&t->tab, &t->mask, t->keys, t->K, t->ng, 2 * (t->mask + 1)))
                return -2;
        }
        double *A = t->acc + (size_t) g * DBS_NSTAT;
        A[0] += 1;
        if (wt) {
            double v = wt[i];
            if (ISNAN(v)) { A[6] += 1; continue; }
            A[1] += v;
            A[2] += v * v;
            A[3] += v > 0;
            if (v < A[4]) A[4] = v;
            if (v > A[5]) A[5] = v;
        }
    }
    return 0;
}

static int dbs_group_rows(dbs_set *t, const int *const *code, const double *wt,
                          R_xlen_t b0, R_xlen_t b1, uint64_t *kw, const int **sc)
{
    /* on a copy of the set's header: the headers of the sets that other
     * threads group share cache lines with this one */
    dbs_set L = *t;
    int rc = dbs_group_rows_on(&L, code, wt, b0, b1, kw, sc);
    *t = L;
    return rc;
}

/* cols: a list of the stream's columns (integer, double or character, as
 * many rows each); w: the weights (double) or NULL. */
SEXP C_dbs_chunk(SEXP state, SEXP cols, SEXP w)
{
    dbs_state *s = dbs_get(state);
    SEXP prot = R_ExternalPtrProtected(state);
    if (s->done) Rf_error("the stream's groups were already returned");
    if (TYPEOF(cols) != VECSXP || XLENGTH(cols) != s->ncol)
        Rf_error("'cols' must be a list of %d columns", s->ncol);
    R_xlen_t n = -1;
    if (s->weighted) {
        if (TYPEOF(w) != REALSXP) Rf_error("'w' must be a double vector (the weights)");
        n = XLENGTH(w);
    } else if (w != R_NilValue) Rf_error("'w' must be NULL: the stream has no weights");
    for (int j = 0; j < s->ncol; j++) {
        SEXP x = VECTOR_ELT(cols, j);
        int type = TYPEOF(x) == INTSXP ? DBS_INT : TYPEOF(x) == REALSXP ? DBS_DBL :
            TYPEOF(x) == STRSXP ? DBS_STR : 0;
        if (!type) Rf_error("column %d must be integer, double or character", j + 1);
        if (s->dict[j].type && s->dict[j].n && s->dict[j].type != type)
            Rf_error("column %d has another type than in earlier chunks", j + 1);
        if (n < 0) n = XLENGTH(x);
        if (XLENGTH(x) != n) Rf_error("column %d has %.0f rows, not %.0f", j + 1,
                                      (double) XLENGTH(x), (double) n);
    }
    if (n < 0) Rf_error("a stream without columns needs weights (or use one query)");
    if (n > INT_MAX) Rf_error("a chunk may have at most %d rows", INT_MAX);
    /* code every column */
    int **code = (int **) R_alloc((size_t) s->ncol + 1, sizeof(int *));
    for (int j = 0; j < s->ncol; j++) {
        SEXP x = VECTOR_ELT(cols, j);
        dbs_dict *d = &s->dict[j];
        if (!d->n && (!d->type || d->type != (TYPEOF(x) == INTSXP ? DBS_INT : TYPEOF(x) == REALSXP ? DBS_DBL : DBS_STR))) {
            d->type = TYPEOF(x) == INTSXP ? DBS_INT : TYPEOF(x) == REALSXP ? DBS_DBL : DBS_STR;
            SET_VECTOR_ELT(prot, j, Rf_allocVector(TYPEOF(x), d->cap));
        }
        code[j] = (int *) R_alloc((size_t) n ? (size_t) n : 1, sizeof(int));
        dbs_code(d, prot, j, x, n, code[j]);
    }
    const double *wt = s->weighted ? REAL(w) : NULL;
    /* group the rows of each set: first the sets' key layouts (which may
     * re-pack a set's groups, and may raise errors), then the rows, the
     * sets shared out over threads. A set's rows are always added by one
     * thread in row order, so its sums do not depend on the thread count. */
    int kmax = 1;
    for (int i = 0; i < s->nset; i++) if (s->set[i].k > kmax) kmax = s->set[i].k;
    int *width = (int *) R_alloc((size_t) kmax, sizeof(int));
    int *word = (int *) R_alloc((size_t) kmax, sizeof(int));
    int *shift = (int *) R_alloc((size_t) kmax, sizeof(int));
    for (int si = 0; si < s->nset; si++) {
        dbs_set *t = &s->set[si];
        int K;
        if (dbs_layout(t, s, width, word, shift, &K)) dbs_relayout(t, width, word, shift, K);
    }
    int nth = umf_threads_for(n);
    if (nth > s->nset) nth = s->nset;
    int *err = (int *) R_alloc((size_t) s->nset, sizeof(int));
    memset(err, 0, (size_t) s->nset * sizeof(int));
    /* each set's scratch: its packed key and its columns' codes */
    size_t *kwo = (size_t *) R_alloc((size_t) s->nset + 1, sizeof(size_t));
    size_t *sco = (size_t *) R_alloc((size_t) s->nset + 1, sizeof(size_t));
    kwo[0] = sco[0] = 0;
    for (int si = 0; si < s->nset; si++) {
        kwo[si + 1] = kwo[si] + (size_t) s->set[si].K;
        sco[si + 1] = sco[si] + (size_t) s->set[si].k;
    }
    uint64_t *kwb = (uint64_t *) R_alloc(kwo[s->nset] + 1, sizeof(uint64_t));
    const int **scb = (const int **) R_alloc(sco[s->nset] + 1, sizeof(int *));
    /* nth sets at a time, each over all the chunk's rows (a set's hash
     * table stays in the cache), an interrupt check after each round */
    for (int s0 = 0; s0 < s->nset; s0 += nth) {
        const int s1 = s0 + nth < s->nset ? s0 + nth : s->nset;
        #pragma omp parallel for num_threads(nth) schedule(static, 1)
        for (int si = s0; si < s1; si++)
            err[si] = dbs_group_rows(&s->set[si], (const int *const *) code, wt, 0, n,
                                     kwb + kwo[si], scb + sco[si]);
        for (int si = s0; si < s1; si++) {
            if (err[si] == -1) Rf_error("a column set has more than %d groups", INT_MAX - 1);
            if (err[si]) Rf_error("the stream of rows could not grow its groups");
        }
        R_CheckUserInterrupt();
    }
    s->rows += (double) n;
    return Rf_ScalarReal(s->rows);
}

/* The values of column j's dictionary (vals NULL), or replace them by vals
 * (as many, of the chunk type to come: a column whose type changed between
 * chunks, coerced by R). */
SEXP C_dbs_dict(SEXP state, SEXP j_, SEXP vals)
{
    dbs_state *s = dbs_get(state);
    SEXP prot = R_ExternalPtrProtected(state);
    if (TYPEOF(j_) != INTSXP || XLENGTH(j_) != 1 || INTEGER(j_)[0] < 0 || INTEGER(j_)[0] >= s->ncol)
        Rf_error("'j' must be a column index in 0..%d", s->ncol - 1);
    int j = INTEGER(j_)[0];
    dbs_dict *d = &s->dict[j];
    if (vals == R_NilValue) {
        SEXPTYPE rt = d->type == DBS_INT ? INTSXP : d->type == DBS_DBL ? REALSXP :
            d->type == DBS_STR ? STRSXP : LGLSXP;
        SEXP out = PROTECT(Rf_allocVector(rt, d->n));
        SEXP v = VECTOR_ELT(prot, j);
        for (int c = 0; c < d->n; c++) {
            if (rt == INTSXP) INTEGER(out)[c] = INTEGER(v)[c];
            else if (rt == REALSXP) REAL(out)[c] = REAL(v)[c];
            else SET_STRING_ELT(out, c, STRING_ELT(v, c));
        }
        UNPROTECT(1);
        return out;
    }
    int type = TYPEOF(vals) == INTSXP ? DBS_INT : TYPEOF(vals) == REALSXP ? DBS_DBL :
        TYPEOF(vals) == STRSXP ? DBS_STR : 0;
    if (!type || XLENGTH(vals) != d->n)
        Rf_error("'vals' must be %d integer, double or character values", d->n);
    SEXP nv = PROTECT(Rf_allocVector(TYPEOF(vals), d->cap));
    for (int c = 0; c < d->n; c++) {
        if (type == DBS_INT) INTEGER(nv)[c] = INTEGER(vals)[c];
        else if (type == DBS_DBL) REAL(nv)[c] = REAL(vals)[c];
        else SET_STRING_ELT(nv, c, STRING_ELT(vals, c));
        d->key[c] = dbs_valkey(type, vals, c);
    }
    d->type = type;
    SET_VECTOR_ELT(prot, j, nv);
    UNPROTECT(1);
    /* values that became equal keep their codes; a lookup finds the first */
    dbs_rehash(&d->tab, &d->mask, d->key, 1, d->n, d->mask + 1);
    return R_NilValue;
}

/* Set i (0-based): list(codes = per column its groups' codes (1-based),
 * stats = list(n, sw, sw2, npos, wmin, wmax, wnull)); a group of NULL
 * weights only has NA sums, minimum and maximum (as SQL's SUM/MIN/MAX).
 * The set's memory is freed: the groups go to R one set at a time, and the
 * stream takes no more chunks. */
SEXP C_dbs_result(SEXP state, SEXP i_)
{
    dbs_state *s = dbs_get(state);
    static const char *snm[DBS_NSTAT] = {"n", "sw", "sw2", "npos", "wmin", "wmax", "wnull"};
    if (TYPEOF(i_) != INTSXP || XLENGTH(i_) != 1 || INTEGER(i_)[0] < 0 || INTEGER(i_)[0] >= s->nset)
        Rf_error("'i' must be a set index in 0..%d", s->nset - 1);
    dbs_set *t = &s->set[INTEGER(i_)[0]];
    if (!t->keys) Rf_error("set %d was already returned", INTEGER(i_)[0] + 1);
    s->done = 1;
    SEXP one = PROTECT(Rf_allocVector(VECSXP, 2));
    SEXP nm = PROTECT(Rf_allocVector(STRSXP, 2));
    SET_STRING_ELT(nm, 0, Rf_mkChar("codes"));
    SET_STRING_ELT(nm, 1, Rf_mkChar("stats"));
    Rf_setAttrib(one, R_NamesSymbol, nm);
    UNPROTECT(1);
    SEXP codes = Rf_allocVector(VECSXP, t->k);
    SET_VECTOR_ELT(one, 0, codes);
    for (int a = 0; a < t->k; a++) {
        SEXP c = Rf_allocVector(INTSXP, t->ng);
        SET_VECTOR_ELT(codes, a, c);
        uint64_t m = t->width[a] ? (((uint64_t) 1 << t->width[a]) - 1) : 0;
        for (int g = 0; g < t->ng; g++)
            INTEGER(c)[g] = (int) ((t->keys[(size_t) g * t->K + t->word[a]] >> t->shift[a]) & m) + 1;
    }
    free(t->keys);
    t->keys = NULL;
    free(t->tab);
    t->tab = NULL;
    SEXP st = Rf_allocVector(VECSXP, DBS_NSTAT);
    SET_VECTOR_ELT(one, 1, st);
    SEXP snames = Rf_allocVector(STRSXP, DBS_NSTAT);
    Rf_setAttrib(st, R_NamesSymbol, snames);
    for (int a = 0; a < DBS_NSTAT; a++) {
        SET_STRING_ELT(snames, a, Rf_mkChar(snm[a]));
        SEXP v = Rf_allocVector(REALSXP, t->ng);
        SET_VECTOR_ELT(st, a, v);
        for (int g = 0; g < t->ng; g++) {
            const double *A = t->acc + (size_t) g * DBS_NSTAT;
            double x = A[a];
            if (a != 0 && a != 3 && a != 6 && A[6] == A[0]) x = NA_REAL;
            REAL(v)[g] = x;
        }
    }
    free(t->acc);
    t->acc = NULL;
    UNPROTECT(1);
    return one;
}
