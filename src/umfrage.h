/* umfrage: shared declarations for the C core.
 *
 * Layout: cells.c codes rows into integer cells and accumulates per-cell
 * sufficient statistics; tab.c fills the cells of tables; var.c turns
 * their per-PSU sums into SEs, intervals, letters and tests; rake.c runs
 * iterative proportional fitting on
 * cells (or rows); threads.c holds the single thread-count setting;
 * init.c registers the routines.
 */
#ifndef UMFRAGE_H
#define UMFRAGE_H

#define R_NO_REMAP
#include <R.h>
#include <Rinternals.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <math.h>
#include <float.h>

#ifdef _OPENMP
#include <omp.h>
#else
/* One-thread stand-ins so that other files use pragmas without guards. */
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_num_procs(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_limit(void) { return 1; }
#endif

/* Serial loops check for interrupts every 2^20 rows; parallel passes run
 * over chunks of this many rows and check between chunks. */
#define UMF_CHUNK ((R_xlen_t) 1 << 20)

/* Cells (per-cell accumulators, matrix entries) that a routine may allocate
 * whatever the data: up to 2^26 (as many as raking works on); beyond that
 * only as many as the rows can reach (umf_check_cells). Sizes read from
 * arguments (level counts, dims) are checked before anything is allocated,
 * so an absurd level count is an error, not a 50 GB allocation. */
#define UMF_FREE_CELLS 67108864.0

/* Branch-free test of a weight: flags NaN, infinities and anything with the
 * sign bit set (negatives, and -0.0, which callers re-check on a slow path). */
static inline uint32_t umf_wbad(double w)
{
    uint64_t u;
    memcpy(&u, &w, sizeof u);
    return (uint32_t) ((u >> 52) >= 0x7FFu);
}

/* threads.c */
int umf_threads_for(R_xlen_t n);
void umf_threads_init(void);
SEXP C_threads_get(void);
SEXP C_threads_set(SEXP n);
SEXP C_threads_max(void);
SEXP C_threads_min_rows(SEXP n);

/* cells.c */
typedef struct {
    int nvar;             /* number of coded variables            */
    const int **codes;    /* codes[j][i] in 1..nlev[j], or NA     */
    const int *nlev;      /* levels per variable                  */
    int *stride;          /* mixed-radix strides (cell id)        */
    int ncell;            /* product of nlev (checked <= INT_MAX) */
} umf_coder;

int umf_coder_init(umf_coder *cd, SEXP codes, SEXP nlev, R_xlen_t *n,
                   const char *what);
double umf_cell_product(SEXP nlev);
size_t umf_cell_pass_size(const umf_coder *cd, R_xlen_t n, int width);
/* The same for nth threads and ncell cells (callers sizing one buffer for
 * several passes). */
size_t umf_cell_buf_size(int nth, size_t ncell, int width);
/* Whether the CPU runs AVX2 code (0 without GCC/clang on x86-64 or with
 * -DUMF_NO_AVX2): picks the AVX2 copies of the cell kernels. */
int umf_cpu_avx2(void);
SEXP C_cells_avx2(SEXP on);
double *umf_cell_pass(const umf_coder *cd, const double *wp, R_xlen_t n,
                      int width, R_xlen_t *counts, double *buf);
void umf_cell_map(const umf_coder *cd, const double *wp, const double *g,
                  double *out, R_xlen_t n);
SEXP C_cell_stats(SEXP codes, SEXP nlev, SEXP w);
SEXP C_cell_sum_w(SEXP codes, SEXP nlev, SEXP w);
SEXP C_weight_stats(SEXP w);
SEXP C_weight_max(SEXP w);
SEXP C_code_int(SEXP x, SEXP max_range);

/* rake.c */
SEXP C_rake(SEXP codes, SEXP nlev, SEXP w0, SEXP margins, SEXP targets,
            SEXP scale, SEXP cap, SEXP epsilon, SEXP maxit, SEXP use_cells);

/* tab.c */
SEXP C_tab(SEXP rowv, SEXP colvs, SEXP byvs, SEXP w);
SEXP C_tab_xprod(SEXP rowv, SEXP colv, SEXP byvs, SEXP w);

/* calib.c */
SEXP C_calibrate(SEXP codes, SEXP nlev, SEXP w0, SEXP margins, SEXP targets, SEXP xnum,
                 SEXP xtarget, SEXP method, SEXP bounds, SEXP control);
SEXP C_trim(SEXP w, SEXP lo, SEXP hi, SEXP keep_total, SEXP maxit, SEXP deff);
SEXP C_first_nonfinite(SEXP x);

/* bench_calib.c */
SEXP C_bench_exp(SEXP x, SEXP reps);

/* util.c: the weights' fingerprint (wt_fingerprint()) */
SEXP C_fingerprint(SEXP w);

/* The fingerprint's steps, for passes that fuse it with writing the weights
 * (rake.c): the same arithmetic as C_fingerprint, term for term. Its scale
 * e from the largest |w| (and whether any w is NaN); its four sums over
 * rows [from, to) of x, continued in row order (long double, as R sums);
 * the six numbers c(n, sums, e) with R's clamp of a sum to +-Inf. */
typedef struct { long double s1, s2, s3, s4; } umf_fp_sums;

static inline double umf_fp_scale(double mx, bool nan)
{
    double e = 0;
    if (!nan && R_FINITE(mx) && mx > 0) {
        e = -nearbyint(log2(mx));
        if (e < -1020) e = -1020;
        if (e > 1020) e = 1020;
    }
    return e;
}

/* Row i's terms (x its weight) added to the sums (f = 2^e). */
static inline void umf_fp_row(umf_fp_sums *s, double x, R_xlen_t i, double e,
                              double f, double dn)
{
    double v = e != 0 ? x * f : x, sq = v * v, wi = v * ((double) (i + 1) / dn);
    s->s1 += v; s->s2 += sq; s->s3 += fabs(v); s->s4 += wi;
}

static inline void umf_fp_add(umf_fp_sums *s, const double *x, R_xlen_t from,
                              R_xlen_t to, double e, double dn)
{
    const double f = pow(2.0, e);
    umf_fp_sums t = *s;
    for (R_xlen_t i = from; i < to; i++) umf_fp_row(&t, x[i], i, e, f, dn);
    *s = t;
}

static inline double umf_fp_total(long double s)
{
    return s > DBL_MAX ? R_PosInf : s < -DBL_MAX ? R_NegInf : (double) s;
}

static inline void umf_fp_finish(const umf_fp_sums *s, double dn, double e, double *a)
{
    a[0] = dn; a[1] = umf_fp_total(s->s1); a[2] = umf_fp_total(s->s2);
    a[3] = umf_fp_total(s->s3); a[4] = umf_fp_total(s->s4); a[5] = e;
}

/* util.c: C_fingerprint's numbers of x[0..n-1] into a[0..5] (two passes:
 * the scale, then the sums). */
void umf_fingerprint(const double *x, R_xlen_t n, double *a);

/* var.c */
typedef struct { char *base; size_t used, cap; } umf_arena;
/* Sums of a block: 4 part matrices (cells, colbase, rowbase, allbase;
 * column-major, len x 3) or, with cells3 set, interleaved (n, w, w^2) per
 * (cell, layer, unit) whose bases are sums of cells. */
typedef struct {
    const double *part[4];
    R_xlen_t part_len[4];
    const double *cells3;
    /* NULL, or per part the rows with positive weight (length part_len):
     * the sample of survey's degf() and of a design effect's n */
    const double *pos[4];
} umf_blocksrc;
size_t umf_block_need(double nr, double nc, double D, double nd, double H, size_t lablen);
SEXP umf_block_inf_cells(const double *cells3, const int *dm, SEXP des, SEXP opt, int test,
                         SEXP labels, const double *lay_rows, const double *lay_nu,
                         umf_arena *ar);
void umf_layer_df(const double *cells3, int K, int nb, int nd, SEXP des, double *rows,
                  double *nu);
SEXP C_tab_des(SEXP rowv, SEXP colvs, SEXP byvs, SEXP dlay, SEXP w, SEXP des, SEXP opt);
SEXP C_block_inf(SEXP raw, SEXP dims, SEXP sigma, SEXP qarr, SEXP des, SEXP opt);
SEXP C_sum_units(SEXP m, SEXP nd);

/* bench.c (internal: a bandwidth floor for bench/tab.R) */
SEXP C_bench_floor(SEXP codes, SEXP w);

/* util.c: argument helpers with messages that name the argument */
double umf_as_double1(SEXP x, const char *arg);
int umf_as_int1(SEXP x, const char *arg);
SEXP umf_named_list(const char **nm, int k);
SEXP umf_named_vector(SEXPTYPE type, const char **nm, int k);
SEXP umf_list_get(SEXP l, const char *nm, const char *what, bool required);
void umf_check_cells(double cells, R_xlen_t n, double width, const char *what);
double *umf_trace_room(double *trace, R_xlen_t *cap, R_xlen_t i);
void umf_zero(double *p, size_t n);

#endif
