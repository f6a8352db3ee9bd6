/* Rows -> integer cells -> per-cell sufficient statistics.
 *
 * A cell id is the mixed-radix number of a row's variable codes
 * (code_j - 1) * stride_j, so one pass over the rows yields the cells;
 * everything after it works on ncell numbers, not n rows. */
#include "umfrage.h"
#include <string.h>
#include <math.h>
#include <float.h>
#include <stdio.h>

double umf_cell_product(SEXP nlev)
{
    double p = 1.0;
    for (R_xlen_t j = 0; j < XLENGTH(nlev); j++) p *= (double) INTEGER(nlev)[j];
    return p;
}

/* Validate a list of integer code vectors and their level counts, and set
 * up strides. Errors name `what` (the R-level argument). Returns 0. */
int umf_coder_init(umf_coder *cd, SEXP codes, SEXP nlev, R_xlen_t *n,
                   const char *what)
{
    if (TYPEOF(codes) != VECSXP)
        Rf_error("'%s' must be a list of integer code vectors", what);
    if (TYPEOF(nlev) != INTSXP || XLENGTH(nlev) != XLENGTH(codes))
        Rf_error("'nlev' must be an integer vector with one entry per element of '%s'", what);
    int k = (int) XLENGTH(codes);
    cd->nvar = k;
    cd->codes = (const int **) R_alloc(k > 0 ? k : 1, sizeof(int *));
    cd->nlev = INTEGER(nlev);
    cd->stride = (int *) R_alloc(k > 0 ? k : 1, sizeof(int));
    double prod = 1.0;
    R_xlen_t nn = -1;
    for (int j = 0; j < k; j++) {
        SEXP cj = VECTOR_ELT(codes, j);
        if (TYPEOF(cj) != INTSXP)
            Rf_error("element %d of '%s' must be an integer code vector, not of type '%s'",
                     j + 1, what, Rf_type2char(TYPEOF(cj)));
        if (nn < 0) nn = XLENGTH(cj);
        else if (XLENGTH(cj) != nn)
            Rf_error("element %d of '%s' has length %.0f, expected %.0f",
                     j + 1, what, (double) XLENGTH(cj), (double) nn);
        if (cd->nlev[j] == NA_INTEGER || cd->nlev[j] < 1)
            Rf_error("'nlev' must hold positive level counts (element %d)", j + 1);
        cd->codes[j] = INTEGER(cj);
        cd->stride[j] = (int) prod;
        prod *= cd->nlev[j];
        if (prod > (double) INT_MAX)
            Rf_error("'%s' spans %.0f cells, more than the %d that can be indexed",
                     what, umf_cell_product(nlev), INT_MAX);
    }
    *n = nn < 0 ? 0 : nn;
    char arg[64];
    snprintf(arg, sizeof arg, "'%s'", what);
    umf_check_cells(prod, *n, 1, arg);
    cd->ncell = (int) prod;
    return 0;
}

/* Per-cell accumulators. Width 1: sum w. Width 3 (n, sum w, sum w^2) is
 * kept during the pass as a record of 4 doubles {n, sum w, sum w^2, 0},
 * 32-byte aligned, so that a row is one load, one vector add of
 * {1, w, w * w, 0} and one store instead of three read-modify-writes; each
 * component is still summed in row order, so the sums are those of three
 * scalar adds bit for bit. The pass packs the records to width 3 at its
 * end. Without GCC/clang vector extensions the adds are scalar. */
#define CELL_REC 4
#if defined(__GNUC__) || defined(__clang__)
typedef double umf_v4d __attribute__((vector_size(32)));
#define CELL_ADD3(p, wi)                                                       \
    do {                                                                      \
        umf_v4d v_ = {1.0, (wi), (wi) * (wi), 0.0};                           \
        *(umf_v4d *) (void *) (p) += v_;                                      \
    } while (0)
#else
#define CELL_ADD3(p, wi)                                                       \
    do { (p)[0] += 1.0; (p)[1] += (wi); (p)[2] += (wi) * (wi); } while (0)
#endif
#define CELL_UPDATE(WIDTH, p, wi)                                              \
    do { if ((WIDTH) == 1) (p)[0] += (wi); else CELL_ADD3(p, wi); } while (0)

/* The block kernels are compiled twice on x86-64 with GCC or clang, for the
 * baseline (SSE2) and for AVX2, and the AVX2 copy runs where the CPU has
 * it (as var.c's layer steps): the same operations in the same order, eight
 * lanes instead of four in the id loop (and a 32-bit multiply instead of
 * its SSE2 emulation), one 32-byte add per row, no fused multiply-add, so
 * the results are the same bit for bit. -DUMF_NO_AVX2 builds the baseline
 * only. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(UMF_NO_AVX2)
#define UMF_CELLS_AVX2 1
int umf_cpu_avx2(void)
{
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return has;
}
#else
int umf_cpu_avx2(void) { return 0; }
#endif

/* Whether the cell passes may take the AVX2 copies (internal: tests turn
 * them off to compare them with the baseline). Returns the old setting. */
static int cells_avx2_on = 1;
SEXP C_cells_avx2(SEXP on)
{
    int old = cells_avx2_on;
    if (TYPEOF(on) != LGLSXP || XLENGTH(on) != 1 || LOGICAL(on)[0] == NA_LOGICAL)
        Rf_error("'on' must be TRUE or FALSE");
    cells_avx2_on = LOGICAL(on)[0];
    return Rf_ScalarLogical(old);
}

/* The row kernels. For a fixed number of variables K (1 to 4; 0 = any) the
 * loop over variables unrolls, and a row costs a few integer operations and
 * one scatter-add. A row with an NA or out-of-range code or a weight that
 * fails umf_wbad() goes to a dump cell (index ncell) instead of branching;
 * the kernel returns how many did, and fix_range() then sorts them out.
 * WIDTH is the record's stride: 1 (sum w) or CELL_REC (n, sum w, sum w^2). */
#define CELL_VAR(K, j)                                                         \
    const int *c##j = (K) > (j) ? cd->codes[j] : cd->codes[0];                \
    const uint32_t n##j = (K) > (j) ? (uint32_t) cd->nlev[j] : 1u;            \
    const uint32_t s##j = (K) > (j) ? (uint32_t) cd->stride[j] : 0u;
#define CELL_ADD(K, j)                                                         \
    if ((K) > (j)) {                                                          \
        uint32_t x = (uint32_t) c##j[i] - 1u;                                 \
        bad |= x >= n##j;                                                     \
        id += x * s##j;                                                       \
    }
#define CELL_KERNEL(NAME, K, WIDTH, WEIGHTED)                                  \
static R_xlen_t NAME(const umf_coder *cd, const double *restrict wp,          \
                     R_xlen_t from, R_xlen_t to, double *restrict a)          \
{                                                                             \
    CELL_VAR(K, 0) CELL_VAR(K, 1) CELL_VAR(K, 2) CELL_VAR(K, 3)               \
    const uint32_t dump = (uint32_t) cd->ncell;                               \
    R_xlen_t nbad = 0;                                                        \
    for (R_xlen_t i = from; i < to; i++) {                                    \
        uint32_t id = 0, bad = 0;                                             \
        if ((K) == 0) {                                                       \
            for (int j = 0; j < cd->nvar; j++) {                              \
                uint32_t x = (uint32_t) cd->codes[j][i] - 1u;                 \
                bad |= x >= (uint32_t) cd->nlev[j];                           \
                id += x * (uint32_t) cd->stride[j];                           \
            }                                                                 \
        }                                                                     \
        CELL_ADD(K, 0) CELL_ADD(K, 1) CELL_ADD(K, 2) CELL_ADD(K, 3)           \
        double wi = (WEIGHTED) ? wp[i] : 1.0;                                 \
        if (WEIGHTED) bad |= umf_wbad(wi);                                    \
        id = bad ? dump : id;                                                 \
        nbad += bad;                                                          \
        double *p = a + (size_t) (WIDTH) * id;                                \
        CELL_UPDATE(WIDTH, p, wi);                                            \
    }                                                                         \
    return nbad;                                                              \
}

typedef R_xlen_t (*cell_kernel)(const umf_coder *, const double *, R_xlen_t,
                                R_xlen_t, double *);
CELL_KERNEL(k1_w1, 1, 1, 1) CELL_KERNEL(k2_w1, 2, 1, 1) CELL_KERNEL(k3_w1, 3, 1, 1)
CELL_KERNEL(k4_w1, 4, 1, 1) CELL_KERNEL(kn_w1, 0, 1, 1)
CELL_KERNEL(k1_w3, 1, CELL_REC, 1) CELL_KERNEL(k2_w3, 2, CELL_REC, 1)
CELL_KERNEL(k3_w3, 3, CELL_REC, 1) CELL_KERNEL(k4_w3, 4, CELL_REC, 1)
CELL_KERNEL(kn_w3, 0, CELL_REC, 1)
CELL_KERNEL(k1_u3, 1, CELL_REC, 0) CELL_KERNEL(k2_u3, 2, CELL_REC, 0)
CELL_KERNEL(k3_u3, 3, CELL_REC, 0) CELL_KERNEL(k4_u3, 4, CELL_REC, 0)
CELL_KERNEL(kn_u3, 0, CELL_REC, 0)

/* The block kernels (1 to 4 variables): rows in blocks of CELL_BLOCK. A
 * first loop over the block, which the compiler vectorises (no branch, no
 * scatter), streams the codes and weights as a plain sum would, computes
 * the cell ids and checks the block at once: every code x - 1 in
 * 0..nlev - 1 (x | (nlev - 1 - x) keeps the sign bit clear) and every
 * weight a non-negative finite number (on the 32-bit word with its sign and
 * exponent, u | (u + 2^20) keeps the sign bit clear; -0.0 fails too). A
 * clean block then costs one scatter-add per row from ids in L1/L2 and
 * nothing else; a block with an NA or bad code or weight goes through the
 * row kernel above, with its dump cell. Rows are added in row order either
 * way, so the sums are those of the row kernel, bit for bit. Long blocks
 * (64 KB of ids on the stack) keep the first loop streaming: with blocks of
 * 512 rows a 1e7-row pass was no faster than the row kernel. */
#define CELL_BLOCK 16384
/* Unroll the scatter loop 4 times (worth 5-10 % at 1e6 rows on a Zen 5: the
 * loop's own instructions are a fifth of a row's). */
#if defined(__clang__)
#define UNROLL4 _Pragma("unroll 4")
#elif defined(__GNUC__) && __GNUC__ >= 8
#define UNROLL4 _Pragma("GCC unroll 4")
#else
#define UNROLL4
#endif
/* The 32-bit word of a double that holds its sign and exponent: index 1
 * (little-endian) or 0 (big-endian); -1 if neither (then the row kernels). */
static int dbl_hi_index(void)
{
    const double one = 1.0;
    uint32_t u[2];
    memcpy(u, &one, sizeof u);
    return u[1] == 0x3FF00000u && u[0] == 0 ? 1 : u[0] == 0x3FF00000u && u[1] == 0 ? 0 : -1;
}
static inline uint32_t dbl_hi(const double *p, int hi)
{
    uint32_t u;
    memcpy(&u, (const char *) p + 4 * hi, sizeof u);
    return u;
}
#define BLOCK_ADD(K, j)                                                        \
    if ((K) > (j)) {                                                          \
        uint32_t x = (uint32_t) c##j[b0 + q] - 1u;                            \
        chk |= x | (n##j - 1u - x);                                           \
        id += (j) == 0 ? x : x * s##j;   /* stride[0] is 1 */                 \
    }
/* While a block's rows are scattered, the next block's codes and weights
 * are fetched towards the cache, PF_ROWS rows (one 64-byte line of each
 * code column, two of weights) per step, so that reading the columns from
 * memory overlaps the scatter instead of following it: with cold caches
 * (bench/tab.R's gc() before each call) a 1e6-row pass took 1.10-1.12 ms
 * instead of 1.18-1.24 on one thread and 0.75-0.77 instead of 0.84-0.90
 * on two (quiet machine, medians of 40), with warm caches the same. A
 * prefetch is a hint: it never faults and changes no result.
 * Where the compiler has no prefetch builtin it is a no-op. */
#define PF_ROWS 16
#if defined(__GNUC__) || defined(__clang__)
#define UMF_PREFETCH(p) __builtin_prefetch((const void *) (p), 0, 3)
#else
#define UMF_PREFETCH(p) ((void) 0)
#endif
#define PF_COL(K, j, r) if ((K) > (j)) UMF_PREFETCH(c##j + (r));
/* NAME##_body: the kernel; NAME: its baseline copy; NAME##_avx2: the AVX2
 * copy (where UMF_CELLS_AVX2). */
#ifdef UMF_CELLS_AVX2
#define BLOCK_AVX2(NAME)                                                       \
__attribute__((target("avx2")))                                               \
static R_xlen_t NAME##_avx2(const umf_coder *cd, const double *restrict wp,   \
                            R_xlen_t from, R_xlen_t to, double *restrict a)   \
{                                                                             \
    return NAME##_body(cd, wp, from, to, a);                                  \
}
#else
#define BLOCK_AVX2(NAME)
#endif
#define BLOCK_KERNEL(NAME, K, WIDTH, WEIGHTED, ROWK)                           \
static inline __attribute__((always_inline))                                  \
R_xlen_t NAME##_body(const umf_coder *cd, const double *restrict wp,          \
                     R_xlen_t from, R_xlen_t to, double *restrict a)          \
{                                                                             \
    CELL_VAR(K, 0) CELL_VAR(K, 1) CELL_VAR(K, 2) CELL_VAR(K, 3)               \
    const int hi = dbl_hi_index();                                            \
    if (s0 != 1 || hi < 0) return ROWK(cd, wp, from, to, a);                  \
    uint32_t ids[CELL_BLOCK];                                                 \
    R_xlen_t nbad = 0;                                                        \
    for (R_xlen_t b0 = from; b0 < to; b0 += CELL_BLOCK) {                     \
        const int len = to - b0 < CELL_BLOCK ? (int) (to - b0) : CELL_BLOCK;  \
        uint32_t chk = 0;                                                     \
        _Pragma("omp simd reduction(|:chk)")                                  \
        for (int q = 0; q < len; q++) {                                       \
            uint32_t id = 0;                                                  \
            BLOCK_ADD(K, 0) BLOCK_ADD(K, 1) BLOCK_ADD(K, 2) BLOCK_ADD(K, 3)   \
            ids[q] = id;                                                      \
            if (WEIGHTED) {                                                   \
                uint32_t u = dbl_hi(wp + b0 + q, hi);                         \
                chk |= u | (u + (1u << 20));                                  \
            }                                                                 \
        }                                                                     \
        if (chk >> 31) {                                                      \
            nbad += ROWK(cd, wp, b0, b0 + len, a);                            \
            continue;                                                         \
        }                                                                     \
        const double *w = (WEIGHTED) ? wp + b0 : NULL;                        \
        const R_xlen_t nb = b0 + len;         /* the next block */            \
        const int nlen = to - nb < CELL_BLOCK ? (int) (to - nb) : CELL_BLOCK; \
        for (int q0 = 0; q0 < len; q0 += PF_ROWS) {                           \
            const int q1 = q0 + PF_ROWS < len ? q0 + PF_ROWS : len;           \
            if (q0 < nlen) {                                                  \
                PF_COL(K, 0, nb + q0) PF_COL(K, 1, nb + q0)                   \
                PF_COL(K, 2, nb + q0) PF_COL(K, 3, nb + q0)                   \
                if (WEIGHTED) UMF_PREFETCH(wp + nb + q0);                     \
                if (WEIGHTED && q0 + 8 < nlen) UMF_PREFETCH(wp + nb + q0 + 8); \
            }                                                                 \
            UNROLL4                                                           \
            for (int q = q0; q < q1; q++) {                                   \
                double wi = (WEIGHTED) ? w[q] : 1.0;                          \
                double *p = a + (size_t) (WIDTH) * ids[q];                    \
                CELL_UPDATE(WIDTH, p, wi);                                    \
            }                                                                 \
        }                                                                     \
    }                                                                         \
    return nbad;                                                              \
}                                                                             \
static R_xlen_t NAME(const umf_coder *cd, const double *restrict wp,          \
                     R_xlen_t from, R_xlen_t to, double *restrict a)          \
{                                                                             \
    return NAME##_body(cd, wp, from, to, a);                                  \
}                                                                             \
BLOCK_AVX2(NAME)
BLOCK_KERNEL(b1_w1, 1, 1, 1, k1_w1) BLOCK_KERNEL(b2_w1, 2, 1, 1, k2_w1)
BLOCK_KERNEL(b3_w1, 3, 1, 1, k3_w1) BLOCK_KERNEL(b4_w1, 4, 1, 1, k4_w1)
BLOCK_KERNEL(b1_w3, 1, CELL_REC, 1, k1_w3) BLOCK_KERNEL(b2_w3, 2, CELL_REC, 1, k2_w3)
BLOCK_KERNEL(b3_w3, 3, CELL_REC, 1, k3_w3) BLOCK_KERNEL(b4_w3, 4, CELL_REC, 1, k4_w3)
BLOCK_KERNEL(b1_u3, 1, CELL_REC, 0, k1_u3) BLOCK_KERNEL(b2_u3, 2, CELL_REC, 0, k2_u3)
BLOCK_KERNEL(b3_u3, 3, CELL_REC, 0, k3_u3) BLOCK_KERNEL(b4_u3, 4, CELL_REC, 0, k4_u3)

static cell_kernel pick_kernel(int nvar, int width, bool weighted)
{
    static const cell_kernel w1[] = {kn_w1, b1_w1, b2_w1, b3_w1, b4_w1};
    static const cell_kernel w3[] = {kn_w3, b1_w3, b2_w3, b3_w3, b4_w3};
    static const cell_kernel u3[] = {kn_u3, b1_u3, b2_u3, b3_u3, b4_u3};
    int k = nvar >= 1 && nvar <= 4 ? nvar : 0;
#ifdef UMF_CELLS_AVX2
    if (k > 0 && cells_avx2_on && umf_cpu_avx2()) {
        static const cell_kernel x1[] = {NULL, b1_w1_avx2, b2_w1_avx2, b3_w1_avx2, b4_w1_avx2};
        static const cell_kernel x3[] = {NULL, b1_w3_avx2, b2_w3_avx2, b3_w3_avx2, b4_w3_avx2};
        static const cell_kernel y3[] = {NULL, b1_u3_avx2, b2_u3_avx2, b3_u3_avx2, b4_u3_avx2};
        if (width == 1) return x1[k];
        return weighted ? x3[k] : y3[k];
    }
#endif
    if (width == 1) return w1[k];
    return weighted ? w3[k] : u3[k];
}

/* Slow path for a range that had dumped rows. counts[j] (j < nvar) counts
 * rows whose first NA code (in variable order) is variable j; counts[nvar]
 * rows with a code out of range; counts[nvar + 1] rows with an unusable
 * weight. Rows dumped only for a weight of -0.0 are added where they belong. */
static void fix_range(const umf_coder *cd, const double *wp, R_xlen_t from,
                      R_xlen_t to, double *a, int width, R_xlen_t *counts)
{
    for (R_xlen_t i = from; i < to; i++) {
        uint32_t id = 0;
        int first_na = -1, out = 0;
        for (int j = 0; j < cd->nvar; j++) {
            int c = cd->codes[j][i];
            if (c == NA_INTEGER) { if (first_na < 0) first_na = j; continue; }
            if (c < 1 || c > cd->nlev[j]) { out = 1; continue; }
            id += (uint32_t) (c - 1) * (uint32_t) cd->stride[j];
        }
        double wi = wp ? wp[i] : 1.0;
        if (out) { counts[cd->nvar]++; continue; }
        if (first_na >= 0) { counts[first_na]++; continue; }
        if (!(wi >= 0.0 && wi < INFINITY)) { counts[cd->nvar + 1]++; continue; }
        if (!umf_wbad(wi)) continue;          /* was added by the kernel */
        double *p = a + (size_t) width * id;  /* wi == -0.0 */
        if (width == 1) p[0] += wi;
        else { p[0] += 1.0; p[1] += wi; p[2] += wi * wi; }
    }
}

/* Doubles per cell during a pass of the given width (1 or 3). */
static int rec_width(int width)
{
    return width == 1 ? 1 : CELL_REC;
}

/* Doubles a pass over n rows needs as its buffer (threads x cells + dump,
 * in records of rec_width(), and room to align them to 32 bytes). */
size_t umf_cell_buf_size(int nth, size_t ncell, int width)
{
    return (size_t) nth * ((ncell + 1) * rec_width(width)) + 4;
}
size_t umf_cell_pass_size(const umf_coder *cd, R_xlen_t n, int width)
{
    return umf_cell_buf_size(umf_threads_for(n), (size_t) cd->ncell, width);
}

/* Adds the accumulators of threads 1..nth-1 to those of thread 0, in
 * thread order for every value (so the sums do not depend on how the
 * values are shared out), on nth threads when there are many cells. */
static void merge_threads(double *acc, size_t per, int nth)
{
    if (nth < 2) return;
    const int mth = per >= 65536 ? nth : 1;
    for (size_t from = 0; from < per; from += UMF_CHUNK) {
        const size_t to = from + UMF_CHUNK < per ? from + UMF_CHUNK : per;
        #pragma omp parallel num_threads(mth)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t len = to - from;
            size_t q0 = from + len * t / nt, q1 = from + len * (t + 1) / nt;
            for (int s = 1; s < nth; s++) {
                const double *src = acc + (size_t) s * per;
                for (size_t q = q0; q < q1; q++) acc[q] += src[q];
            }
        }
        R_CheckUserInterrupt();
    }
}

/* One pass: per-cell accumulators of the given width (1: sum w; 3: n, sum w,
 * sum w^2) over all rows, merged over threads in a fixed order. counts gets
 * nvar + 2 entries as fix_range() describes. Returns ncell * width values:
 * in buf (umf_cell_pass_size() doubles; callers with several passes reuse
 * one buffer) or, if buf is NULL, R_alloc'ed. Each thread clears its own
 * accumulators (in the first chunk's parallel region). */
double *umf_cell_pass(const umf_coder *cd, const double *wp, R_xlen_t n,
                      int width, R_xlen_t *counts, double *buf)
{
    const int nth = umf_threads_for(n);
    const int nc = cd->nvar + 2;
    const int rw = rec_width(width);
    const size_t per = ((size_t) cd->ncell + 1) * rw;   /* + dump cell */
    if (!buf) buf = (double *) R_alloc(umf_cell_pass_size(cd, n, width), sizeof(double));
    double *acc = buf + ((32 - (uintptr_t) buf % 32) % 32) / sizeof(double);
    if (n == 0 || per >= (size_t) UMF_CHUNK) umf_zero(acc, (size_t) nth * per);
    R_xlen_t *sk = (R_xlen_t *) R_alloc((size_t) nth * nc, sizeof(R_xlen_t));
    memset(sk, 0, (size_t) nth * nc * sizeof(R_xlen_t));
    cell_kernel kern = pick_kernel(cd->nvar, width, wp != NULL);
    for (R_xlen_t from = 0; from < n; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
        #pragma omp parallel num_threads(nth)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            if (from == 0 && per < (size_t) UMF_CHUNK)   /* small: no interrupt check */
                for (int s = t; s < nth; s += nt)
                    memset(acc + (size_t) s * per, 0, per * sizeof(double));
            R_xlen_t len = to - from;
            R_xlen_t a0 = from + len * t / nt, a1 = from + len * (t + 1) / nt;
            double *a = acc + (size_t) t * per;
            if (kern(cd, wp, a0, a1, a) > 0)
                fix_range(cd, wp, a0, a1, a, rw, sk + (size_t) t * nc);
        }
        R_CheckUserInterrupt();
    }
    for (int q = 0; q < nc; q++) {
        counts[q] = 0;
        for (int t = 0; t < nth; t++) counts[q] += sk[(size_t) t * nc + q];
    }
    merge_threads(acc, per, nth);
    if (rw != width)                         /* pack records to width 3 */
        for (size_t c = 0; c < (size_t) cd->ncell; c++)
            for (int q = 0; q < width; q++) acc[width * c + q] = acc[rw * c + q];
    return acc;
}

/* out[i] = w[i] * g[cell of row i] (w = 1 when wp is NULL): per-cell factors
 * mapped back to the rows. The codes must have been validated (every row
 * in a cell), as umf_cell_pass() does. */
#define MAP_KERNEL(NAME, K)                                                    \
static void NAME(const umf_coder *cd, const double *restrict wp,              \
                 const double *restrict g, double *restrict out,              \
                 R_xlen_t from, R_xlen_t to)                                  \
{                                                                             \
    CELL_VAR(K, 0) CELL_VAR(K, 1) CELL_VAR(K, 2) CELL_VAR(K, 3)               \
    (void) n0; (void) n1; (void) n2; (void) n3;                               \
    for (R_xlen_t i = from; i < to; i++) {                                    \
        uint32_t id = 0;                                                      \
        if ((K) == 0)                                                         \
            for (int j = 0; j < cd->nvar; j++)                                \
                id += ((uint32_t) cd->codes[j][i] - 1u) * (uint32_t) cd->stride[j]; \
        if ((K) > 0) id += ((uint32_t) c0[i] - 1u) * s0;                      \
        if ((K) > 1) id += ((uint32_t) c1[i] - 1u) * s1;                      \
        if ((K) > 2) id += ((uint32_t) c2[i] - 1u) * s2;                      \
        if ((K) > 3) id += ((uint32_t) c3[i] - 1u) * s3;                      \
        out[i] = (wp ? wp[i] : 1.0) * g[id];                                  \
    }                                                                         \
}
MAP_KERNEL(map_k0, 0) MAP_KERNEL(map_k1, 1) MAP_KERNEL(map_k2, 2)
MAP_KERNEL(map_k3, 3) MAP_KERNEL(map_k4, 4)

void umf_cell_map(const umf_coder *cd, const double *wp, const double *g,
                  double *out, R_xlen_t n)
{
    typedef void (*map_fn)(const umf_coder *, const double *, const double *,
                           double *, R_xlen_t, R_xlen_t);
    static const map_fn fns[] = {map_k0, map_k1, map_k2, map_k3, map_k4};
    map_fn f = fns[cd->nvar >= 1 && cd->nvar <= 4 ? cd->nvar : 0];
    const int nth = umf_threads_for(n);
    for (R_xlen_t from = 0; from < n; from += UMF_CHUNK) {
        R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
        #pragma omp parallel num_threads(nth)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            R_xlen_t len = to - from;
            f(cd, wp, g, out, from + len * t / nt, from + len * (t + 1) / nt);
        }
        R_CheckUserInterrupt();
    }
}

/* Errors for the counts of umf_cell_pass(); returns the rows skipped for NA. */
static R_xlen_t pass_problems(const umf_coder *cd, const R_xlen_t *counts)
{
    if (counts[cd->nvar + 1] > 0)
        Rf_error("'w' holds %.0f values that are NA, negative or infinite",
                 (double) counts[cd->nvar + 1]);
    if (counts[cd->nvar] > 0)
        Rf_error("'codes' hold %.0f codes outside their variable's levels",
                 (double) counts[cd->nvar]);
    R_xlen_t sk = 0;
    for (int j = 0; j < cd->nvar; j++) sk += counts[j];
    return sk;
}

static const double *check_w(SEXP w, R_xlen_t n, bool allow_null)
{
    if (Rf_isNull(w) && allow_null) return NULL;
    if (TYPEOF(w) != REALSXP)
        Rf_error("'w' must be a double vector%s, not of type '%s'",
                 allow_null ? " or NULL" : "", Rf_type2char(TYPEOF(w)));
    if (XLENGTH(w) != n)
        Rf_error("'w' has length %.0f, expected %.0f (the number of rows)",
                 (double) XLENGTH(w), (double) n);
    return REAL(w);
}

/* The .Call entry points' shared part: check the arguments, run the pass,
 * raise errors for bad weights or codes, count the rows skipped for NA.
 * Weights may be NULL (all 1) only for width 3. */
static const double *checked_pass(SEXP codes, SEXP nlev, SEXP w, int width,
                                  umf_coder *cd, R_xlen_t *nskip)
{
    R_xlen_t n;
    umf_coder_init(cd, codes, nlev, &n, "codes");
    const double *wp = check_w(w, n, width == 3);
    R_xlen_t *counts = (R_xlen_t *) R_alloc(cd->nvar + 2, sizeof(R_xlen_t));
    const double *acc = umf_cell_pass(cd, wp, n, width, counts, NULL);
    *nskip = pass_problems(cd, counts);
    return acc;
}

/* Per-cell count, sum of weights and sum of squared weights in one pass.
 * Rows with an NA code are skipped and counted. Weights must be finite and
 * non-negative (checked here too: the C routine trusts no caller). */
SEXP C_cell_stats(SEXP codes, SEXP nlev, SEXP w)
{
    umf_coder cd;
    R_xlen_t nskip;
    const double *acc = checked_pass(codes, nlev, w, 3, &cd, &nskip);
    const int ncell = cd.ncell;
    const char *nm[] = {"n", "sum_w", "sum_w2", "skipped"};
    SEXP ans = PROTECT(umf_named_list(nm, 4));
    SEXP nn = PROTECT(Rf_allocVector(REALSXP, ncell));
    SEXP sw = PROTECT(Rf_allocVector(REALSXP, ncell));
    SEXP sw2 = PROTECT(Rf_allocVector(REALSXP, ncell));
    double *pn = REAL(nn), *ps = REAL(sw), *ps2 = REAL(sw2);
    for (int c = 0; c < ncell; c++) {
        pn[c] = acc[3 * (size_t) c];
        ps[c] = acc[3 * (size_t) c + 1];
        ps2[c] = acc[3 * (size_t) c + 2];
    }
    SET_VECTOR_ELT(ans, 0, nn);
    SET_VECTOR_ELT(ans, 1, sw);
    SET_VECTOR_ELT(ans, 2, sw2);
    SET_VECTOR_ELT(ans, 3, Rf_ScalarReal((double) nskip));
    UNPROTECT(4);
    return ans;
}

/* Summary of a weight vector in one pass: counts of NA, negative, zero,
 * positive and infinite values; sum, sum of squares, min, max over the
 * finite values. */
SEXP C_weight_stats(SEXP w)
{
    if (TYPEOF(w) != REALSXP)
        Rf_error("'w' must be a double vector, not of type '%s'",
                 Rf_type2char(TYPEOF(w)));
    R_xlen_t n = XLENGTH(w);
    const double *wp = REAL(w);
    double s = 0, s2 = 0, mn = R_PosInf, mx = R_NegInf;
    R_xlen_t nna = 0, nneg = 0, nzero = 0, npos = 0, ninf = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        double x = wp[i];
        if (ISNAN(x)) { nna++; continue; }
        if (!R_FINITE(x)) { ninf++; continue; }
        if (x < 0) nneg++;
        else if (x == 0) nzero++;
        else npos++;
        s += x; s2 += x * x;
        if (x < mn) mn = x;
        if (x > mx) mx = x;
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
    }
    const char *nm[10] = {"n", "n_na", "n_negative", "n_zero", "n_positive",
                          "n_infinite", "sum", "sum_sq", "min", "max"};
    SEXP ans = PROTECT(umf_named_vector(REALSXP, nm, 10));
    double *a = REAL(ans);
    a[0] = (double) n; a[1] = (double) nna; a[2] = (double) nneg;
    a[3] = (double) nzero; a[4] = (double) npos; a[5] = (double) ninf;
    a[6] = s; a[7] = s2;
    a[8] = (nneg + nzero + npos) > 0 ? mn : NA_REAL;
    a[9] = (nneg + nzero + npos) > 0 ? mx : NA_REAL;
    UNPROTECT(1);
    return ans;
}

/* Weighted count per cell and nothing else: the leanest pass over the rows
 * (weighted frequency tables, and the yardstick for the cost of raking).
 * Rows with an NA code are skipped and counted in attribute "skipped". */
SEXP C_cell_sum_w(SEXP codes, SEXP nlev, SEXP w)
{
    umf_coder cd;
    R_xlen_t nskip;
    const double *acc = checked_pass(codes, nlev, w, 1, &cd, &nskip);
    SEXP ans = PROTECT(Rf_allocVector(REALSXP, cd.ncell));
    memcpy(REAL(ans), acc, (size_t) cd.ncell * sizeof(double));
    Rf_setAttrib(ans, Rf_install("skipped"), Rf_ScalarReal((double) nskip));
    UNPROTECT(1);
    return ans;
}

/* The largest of w[from..to) below +Inf (-Inf if none; NaN is ignored)
 * into *mx and whether one is 0 (or -0) into *zero, both as maxima (exact
 * whatever the order). Four independent pairs of lanes: a max reduction
 * that GCC's omp simd left as a chain through memory (about 1.3 ns a
 * weight) runs at the speed of reading the weights. */
#if defined(__GNUC__) || defined(__clang__)
typedef double umf_v2d __attribute__((vector_size(16)));
typedef int64_t umf_v2l __attribute__((vector_size(16)));
static inline umf_v2d v2_pick(umf_v2l k, umf_v2d a, umf_v2d b)   /* k ? a : b */
{
    return (umf_v2d) (((umf_v2l) a & k) | ((umf_v2l) b & ~k));
}
#define WMAX_STEP(l)                                                           \
    {                                                                         \
        umf_v2d x;                                                            \
        memcpy(&x, wp + i + 2 * (l), sizeof x);                               \
        umf_v2d v = v2_pick(x < inf, x, ninf);                                \
        m##l = v2_pick(v > m##l, v, m##l);                                    \
        z |= x == zero;                                                       \
    }
#endif
static void weight_max_range(const double *wp, R_xlen_t from, R_xlen_t to,
                             double *mx, int *zero_out)
{
    double m = -INFINITY;
    int zr = 0;
    R_xlen_t i = from;
#if defined(__GNUC__) || defined(__clang__)
    const umf_v2d inf = {INFINITY, INFINITY}, ninf = {-INFINITY, -INFINITY}, zero = {0.0, 0.0};
    umf_v2d m0 = ninf, m1 = ninf, m2 = ninf, m3 = ninf;
    umf_v2l z = {0, 0};
    for (; i + 8 <= to; i += 8) { WMAX_STEP(0) WMAX_STEP(1) WMAX_STEP(2) WMAX_STEP(3) }
    m0 = v2_pick(m1 > m0, m1, m0);
    m2 = v2_pick(m3 > m2, m3, m2);
    m0 = v2_pick(m2 > m0, m2, m0);
    m = m0[1] > m0[0] ? m0[1] : m0[0];
    zr = (z[0] | z[1]) != 0;
#endif
    for (; i < to; i++) {
        const double x = wp[i];
        const double v = x < INFINITY ? x : -INFINITY;
        m = v > m ? v : m;
        zr |= x == 0.0;
    }
    *mx = m;
    *zero_out = zr;
}

/* What weight_scale() needs and no more, in one branch-free pass on the
 * pass's threads: the largest finite weight (NA if there is none) and
 * whether any weight is 0 (or -0), as C_weight_stats()'s "max" and
 * "n_zero > 0". The full statistics cost a serial, branchy pass over the
 * rows: at 1e7 rows as long as the table's own pass. */
SEXP C_weight_max(SEXP w)
{
    if (TYPEOF(w) != REALSXP)
        Rf_error("'w' must be a double vector, not of type '%s'", Rf_type2char(TYPEOF(w)));
    const R_xlen_t n = XLENGTH(w);
    const double *wp = REAL(w);
    const int nth = umf_threads_for(n);
    double mx = -INFINITY;
    int zero = 0;
    for (R_xlen_t from = 0; from < n; from += UMF_CHUNK) {
        const R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
        #pragma omp parallel num_threads(nth) reduction(max:mx) reduction(|:zero)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            R_xlen_t len = to - from;
            double m;
            int zr;
            weight_max_range(wp, from + len * t / nt, from + len * (t + 1) / nt, &m, &zr);
            mx = m > mx ? m : mx;
            zero |= zr;
        }
        R_CheckUserInterrupt();
    }
    const char *nm[] = {"max", "any_zero"};
    SEXP ans = PROTECT(umf_named_vector(REALSXP, nm, 2));
    /* the sign of a largest weight of 0 depends on the order: +0 */
    REAL(ans)[0] = mx > -INFINITY ? (mx == 0.0 ? 0.0 : mx) : NA_REAL;
    REAL(ans)[1] = (double) zero;
    UNPROTECT(1);
    return ans;
}
