/* Calibration (generalised regression with a distance function) and weight
 * trimming.
 *
 * Calibration finds g-weights w_i = w0_i g(x_i' lambda) whose totals of the
 * auxiliaries x equal the targets, by Newton iterations on lambda (as
 * survey::calibrate's grake): T(lambda) = sum w0 g'(u) x x', step =
 * pinv(T) (targets - achieved). The auxiliaries are the indicators of the
 * levels of categorical margins, handled through cell codes, and numeric
 * columns. C_calibrate reads as the pipeline it is:
 *
 *   cal_check_args       the arguments
 *   cal_code_rows        one pass over the rows: cells, per-cell sums of w0
 *                        (and of w0 x, w0 x x' for numeric auxiliaries)
 *   cal_columns          the levels of each margin with a target and rows
 *   cal_check_collinear, cal_check_bounds
 *                        what no iteration can fix
 *   cal_iterate          Newton iterations (cal_newton), see below
 *   cal_map_back         with margins only: g of each cell to its rows
 *   cal_result_ok        the result list
 *
 * With categorical margins only, g is constant within a cell, so every
 * iteration works on per-cell sums (cal_cells): one pass over the rows to
 * make the cells, one to map g back. With numeric auxiliaries g varies
 * within a cell and each iteration makes one pass over the rows (cal_rows)
 * that evaluates g and g' (an exp()) per row and accumulates, at once, the
 * achieved totals and T: per-cell sums of w0 g, w0 g', w0 g' x and overall
 * sums of w0 g x and w0 g' x x'. Few such passes are needed because Newton
 * first runs on a cheap approximation from the cells' moments of x (g
 * expanded to first order about each cell's mean of x), and then on the
 * rows from its solution, to the same criterion; one more step's pass
 * writes the weights and sums only their totals (cal_final_step).
 *
 * Distance functions (g = final / starting weight, bounds L < 1 < U):
 *   linear  g = 1 + u, truncated to [L, U]
 *   raking  g = exp(u), truncated to [L, U]
 *   logit   g = L + (U - L) t, t = plogis(A u + log((1 - L) / (U - 1))),
 *           A = (U - L) / ((1 - L)(U - 1)); g stays strictly inside (L, U).
 */
#define USE_FC_LEN_T
#include "umfrage.h"
#include <math.h>
#include <float.h>
#include <Rmath.h>
#include <R_ext/Lapack.h>
#ifndef FCONE
#define FCONE
#endif

enum { CM_LINEAR = 0, CM_RAKING = 1, CM_LOGIT = 2 };
enum { CS_OK = 0, CS_NA_CODE = 1, CS_BAD_WEIGHT = 2, CS_NO_TARGET = 3, CS_NO_WEIGHT = 4,
       CS_COLLINEAR = 5, CS_BOUNDS = 6, CS_STALLED = 7, CS_MAXIT = 8, CS_INCONSISTENT = 9,
       CS_BAD_X = 10 };

/* Rows per block of a row pass: the exp()s of a block run apart from its
 * sums, which keeps the sums' loop free of calls. */
#define CAL_BLOCK 256
/* Newton on the cells' approximation: tolerance and most steps. */
#define CAL_APPROX_EPS 1e-8
#define CAL_APPROX_MAXIT 30

typedef struct {
    int method;
    double L, U, A, la;   /* logit: A and log((1 - L) / (U - 1)) */
    double elo, ehi;      /* cal_exp()'s clamp of its argument, -746 and 710 (read from here,
                           * not constants, so that the compiler keeps the clamp branch-free) */
} calfun;

static inline void cal_g(const calfun *f, double u, double *g, double *d)
{
    if (f->method == CM_LINEAR) {
        double v = 1 + u;
        *g = v < f->L ? f->L : v > f->U ? f->U : v;
        *d = (v > f->L && v < f->U) ? 1 : 0;
    } else if (f->method == CM_RAKING) {
        double e = exp(u);
        *g = e < f->L ? f->L : e > f->U ? f->U : e;
        *d = (e > f->L && e < f->U) ? e : 0;
    } else {
        /* without a branch on the sign of z, accurate in both tails: with
         * e = exp(-|z|) and r = 1 / (1 + e), t = r (z >= 0) or e r (z < 0),
         * and t (1 - t) = e r^2 either way */
        double z = f->A * u + f->la, e = exp(-fabs(z)), r = 1 / (1 + e);
        double t = z >= 0 ? r : e * r;
        *g = f->L + (f->U - f->L) * t;
        *d = f->A * (f->U - f->L) * e * r * r;
    }
}

typedef struct {
    R_xlen_t n;
    int nvar, ncell, M, q, p, pc;  /* variables, cells, margins, numeric, columns, categorical columns */
    int CW, NW, MW;             /* widths: per-cell sums of a pass (2 + q), overall sums of a
                                 * pass (q + q(q+1)/2), per-cell moments (the same q + q(q+1)/2) */
    int nth;                    /* threads of a row pass */
    int *cid;                   /* cell of each row */
    const double *w0;           /* NULL: all 1 */
    const double *hq;           /* NULL, or per row the heteroscedasticity factor q > 0
                                 * (survey's variance =): u = x' lambda / q */
    int rows;                   /* iterations on the rows (numeric auxiliaries or q) */
    const double **x, *xt;      /* numeric auxiliaries and their totals */
    double *W0, *N0;            /* per cell: sum of w0, rows */
    double *mom;                /* per cell: sum w0 x_j, sum w0 x_j x_k (j <= k) */
    double *xpos, *xneg;        /* per numeric: sum of w0 x over x > 0, of w0 |x| over x < 0 */
    int *cellcol;               /* ncell x M: column of each margin, -1 none */
    int *colm, *coll;           /* per column: margin (-1 numeric), level (or numeric index) */
    double *colt;               /* per column: target */
} calprob;

/* Scratch of the iterations, and what the last evaluation left. */
typedef struct {
    double *lambda, *ltry, *lstart, *step, *r, *ach, *T, *E, *val;
    double *lamcell;            /* per cell: the sum of its columns' coefficients */
    double *cell, *num;         /* sums at the last lambda: per cell (CW), overall (NW) */
    double *tcell, *tscr;       /* per thread: cell sums; overall and block sums, g range */
    double *tbuf;               /* per thread: a block's w0 g, w0 g', w0 g' x */
    int tstride;                /* doubles per thread in tscr (padded to cache lines) */
    double *wout;               /* the weights, written by the final row pass; a row pass
                                 * with `store` set leaves there each row's g */
    int store, stored;          /* the next row pass stores g; the last one did */
    double wmax;                /* largest |w0 g| of the last row pass that stored g */
    double fp[6];               /* the weights' fingerprint (C_fingerprint's numbers) */
    double gmin, gmax;          /* range of g over rows with w0 > 0, of the last row pass */
    double maxrel, ss;          /* largest relative error, sum of squared relative errors */
    int worst, passes, approx_it;
    double *trace;
    R_xlen_t trace_cap;
} calwork;

/* Position of (j, k) in the packed upper triangle of a q x q matrix. */
static inline int cal_pk(int j, int k, int q)
{
    if (j > k) { int s = j; j = k; k = s; }
    return j * q - j * (j - 1) / 2 + (k - j);
}

static void cal_lamcell(const calprob *P, const double *lambda, double *lamcell)
{
    for (int c = 0; c < P->ncell; c++) {
        double s = 0;
        for (int m = 0; m < P->M; m++) {
            int k = P->cellcol[(size_t) c * P->M + m];
            if (k >= 0) s += lambda[k];
        }
        lamcell[c] = s;
    }
}

/* The sums at lambda from the cells alone: exact with categorical margins
 * only; with numeric auxiliaries (u = lamcell + b'x) the first-order
 * approximation about each cell's mean m of x, ubar = lamcell + b'm:
 * sum w0 g = W g(ubar), sum w0 g x = g(ubar) sum w0 x + g'(ubar) (sum w0 x x'
 * - sum w0 x m') b, and g'(ubar) in place of g' in T. Returns 0 if some g or
 * g' is not finite. */
static int cal_cells(const calprob *P, const calfun *f, const double *lambda, calwork *Wk)
{
    const int q = P->q, CW = P->CW, MW = P->MW;
    const double *b = lambda + P->pc;
    cal_lamcell(P, lambda, Wk->lamcell);
    for (int j = 0; j < P->NW; j++) Wk->num[j] = 0;
    int ok = 1;
    for (int c = 0; c < P->ncell; c++) {
        const double Wc = P->W0[c], *m = q > 0 ? P->mom + (size_t) c * MW : NULL;
        double mb = 0, g, d;
        for (int j = 0; j < q; j++) mb += b[j] * m[j];
        mb = Wc > 0 ? mb / Wc : 0;
        cal_g(f, Wk->lamcell[c] + mb, &g, &d);
        if (!R_FINITE(g) || !R_FINITE(d)) ok = 0;
        double *ac = Wk->cell + (size_t) c * CW, *o = Wk->num + q;
        ac[0] = Wc * g;
        ac[1] = Wc * d;
        for (int j = 0; j < q; j++) {
            double Sb = 0;
            for (int k = 0; k < q; k++) Sb += m[q + cal_pk(j, k, q)] * b[k];
            ac[2 + j] = d * m[j];
            Wk->num[j] += g * m[j] + d * (Sb - m[j] * mb);
            for (int k = j; k < q; k++) *o++ += d * m[q + cal_pk(j, k, q)];
        }
    }
    return ok;
}

/* Element-wise loops vectorised (each element's arithmetic as in scalar
 * code, so the results are the same whatever the lanes). */
#ifdef _OPENMP
#define CAL_SIMD _Pragma("omp simd")
#define CAL_SIMD_MINMAX _Pragma("omp simd reduction(min:gmin) reduction(max:gmax)")
#define CAL_SIMD_OR _Pragma("omp simd reduction(|:bad)")
#define CAL_SIMD_CHECK _Pragma("omp simd reduction(+:nf) reduction(min:wmin)")
#define CAL_SIMD_NF _Pragma("omp simd reduction(+:nf)")
#define CAL_SIMD_MAX _Pragma("omp simd reduction(max:mx)")
#define CAL_SIMD_UPD _Pragma("omp simd reduction(min:gmin) reduction(max:gmax) reduction(max:mx) reduction(+:nf)")
#else
#define CAL_SIMD_MAX
#define CAL_SIMD_UPD
#define CAL_SIMD_OR
#define CAL_SIMD_CHECK
#define CAL_SIMD_NF
#define CAL_SIMD
#define CAL_SIMD_MINMAX
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(UMF_NO_AVX2)
#define CAL_AVX2 1
#endif

/* exp(x) in plain arithmetic that vectorises (the row passes evaluate one
 * per row; libm's exp() is a call per value): x = k ln 2 + r with |r| <=
 * ln 2 / 2 (ln 2 in two parts, the first exact times k), exp(r) by its
 * Taylor polynomial of degree 13 (truncation below 1e-17 relative), times
 * 2^k made from the bits of k in two factors, so that results under- and
 * overflow as exp()'s do. Within 2 ulp of exp(); NaN stays NaN. */
static inline double cal_exp(double x, double elo, double ehi)
{
    const double sh = 0x1.8p52;             /* 1.5 * 2^52: rounds to an integer */
    double xc = x < elo ? elo : x;
    xc = xc > ehi ? ehi : xc;
    const double kd = xc * 1.44269504088896338700 + sh, k = kd - sh;
    const double r = (xc - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t kb, b1, b2;
    memcpy(&kb, &kd, sizeof kb);
    kb -= UINT64_C(0x4338000000000000);    /* k, in two's complement */
    const uint64_t k1 = (uint64_t) ((int64_t) kb >> 1), k2 = kb - k1;
    b1 = (k1 + 1023) << 52;
    b2 = (k2 + 1023) << 52;
    double s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return p * s1 * s2;
}

/* w == 0 ? 0 : a, by masking a's bits, so that the compiler cannot move
 * the product that makes a into a branch (which stops vectorisation). */
static inline double cal_unless0(double w, double a)
{
    uint64_t ab;
    memcpy(&ab, &a, sizeof ab);
    ab &= (uint64_t) -(int64_t) (w != 0);
    memcpy(&a, &ab, sizeof a);
    return a;
}

/* c ? a : b by masking bits (as cal_unless0). */
static inline double cal_sel(int c, double a, double b)
{
    uint64_t ab, bb, m = (uint64_t) -(int64_t) (c != 0);
    memcpy(&ab, &a, sizeof ab);
    memcpy(&bb, &b, sizeof bb);
    ab = (ab & m) | (bb & ~m);
    memcpy(&a, &ab, sizeof a);
    return a;
}

/* g and g' of a block's linear predictors u (g written over u), as cal_g
 * but branch-free and with cal_exp(), so that the loop vectorises. */
static inline __attribute__((always_inline)) void
cal_g_block(const calfun *f, double *restrict ug, double *restrict d, int nb)
{
    const double L = f->L, U = f->U, A = f->A, la = f->la, UL = U - L, AUL = A * (U - L);
    const double elo = f->elo, ehi = f->ehi;
    if (f->method == CM_LINEAR) {
        CAL_SIMD
        for (int k = 0; k < nb; k++) {
            double v = 1 + ug[k];
            ug[k] = v < L ? L : v > U ? U : v;
            d[k] = ((v > L) & (v < U)) ? 1 : 0;
        }
    } else if (f->method == CM_RAKING) {
        CAL_SIMD
        for (int k = 0; k < nb; k++) {
            double e = cal_exp(ug[k], elo, ehi);
            ug[k] = e < L ? L : e > U ? U : e;
            d[k] = ((e > L) & (e < U)) ? e : 0;
        }
    } else {
        CAL_SIMD
        for (int k = 0; k < nb; k++) {
            double z = A * ug[k] + la, e = cal_exp(-fabs(z), elo, ehi), r = 1 / (1 + e);
            double t = cal_sel(z >= 0, r, e * r);
            ug[k] = L + UL * t;
            d[k] = AUL * e * r * r;
        }
    }
}

/* sum_k a[k] b[k] over a block, in four interleaved partial sums (which
 * keeps the additions from waiting on each other). */
static inline double cal_dot(const double *restrict a, const double *restrict b, int nb)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int k = 0;
    for (; k + 4 <= nb; k += 4) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    for (; k < nb; k++) s0 += a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

/* Rows from..from+nb-1 (nb <= CAL_BLOCK) of a row pass: g and g' of each
 * row (cal_g_block), then w0 g, w0 g' and w0 g' x added to the rows' cells
 * in `cell`, and the block's overall sums of w0 g x and w0 g' x x' added to
 * `bs`, a column at a time. buf: room for (2 + q) CAL_BLOCK doubles. wout:
 * NULL, or where the weights w0 g go; then only the sums of w0 g and w0 g
 * x are made, and tr gets the range of g over rows with w0 > 0. Rows with
 * w0 = 0 add nothing; a g or g' that is not finite leaves the sums so. */
static inline __attribute__((always_inline)) void
cal_rows_block_body(const calprob *P, const calfun *f, const double *lamcell, const double *b,
                    R_xlen_t from, int nb, double *cell, double *bs, double *tr, double *buf,
                    double *wout, double *gsto)
{
    const int q = P->q, CW = P->CW, *restrict cid = P->cid + from;
    const double *restrict w0 = P->w0 ? P->w0 + from : NULL;
    const double *restrict hq = P->hq ? P->hq + from : NULL;
    double *restrict wg = buf, *restrict wd = buf + CAL_BLOCK, *restrict wdx = buf + 2 * CAL_BLOCK;
    for (int k = 0; k < nb; k++) wg[k] = lamcell[cid[k]];
    for (int j = 0; j < q; j++) {
        const double *restrict xj = P->x[j] + from, bj = b[j];
        CAL_SIMD
        for (int k = 0; k < nb; k++) wg[k] += bj * xj[k];
    }
    if (hq) {                   /* u = x' lambda / q, and du / dlambda = x / q */
        CAL_SIMD
        for (int k = 0; k < nb; k++) wg[k] /= hq[k];
    }
    cal_g_block(f, wg, wd, nb);
    if (hq) {
        CAL_SIMD
        for (int k = 0; k < nb; k++) wd[k] /= hq[k];
    }
    if (gsto) {                 /* g of each row, for cal_update() */
        double *restrict gs = gsto + from;
        for (int k = 0; k < nb; k++) gs[k] = wg[k];
    }
    if (wout) {
        double gmin = tr[0], gmax = tr[1], *restrict wo = wout + from;
        static const double one = 1.0;
        const double *restrict wr = w0 ? w0 : &one;
        const int ws = w0 ? 1 : 0;
        CAL_SIMD_MINMAX
        for (int k = 0; k < nb; k++) {
            double w = wr[ws * k], g = wg[k];
            double a = w * g;
            wo[k] = a;
            wg[k] = cal_unless0(w, a);
            /* rows with w0 = 0 leave the range alone */
            double gl = w == 0 ? R_PosInf : g, gu = w == 0 ? R_NegInf : g;
            gmin = gl < gmin ? gl : gmin;
            gmax = gu > gmax ? gu : gmax;
        }
        tr[0] = gmin;
        tr[1] = gmax;
        for (int k = 0; k < nb; k++) cell[(size_t) cid[k] * CW] += wg[k];
        for (int j = 0; j < q; j++) bs[j] += cal_dot(wg, P->x[j] + from, nb);
        return;
    }
    if (w0) {
        CAL_SIMD
        for (int k = 0; k < nb; k++) {
            double w = w0[k];
            wg[k] = cal_unless0(w, w * wg[k]);
            wd[k] = cal_unless0(w, w * wd[k]);
        }
    }
    if (gsto) {                 /* the largest |w0 g|: the fingerprint's likely scale */
        double mx = tr[2];
        CAL_SIMD_MAX
        for (int k = 0; k < nb; k++) { double a = fabs(wg[k]); mx = a > mx ? a : mx; }
        tr[2] = mx;
    }
    for (int j = 0; j < q; j++) {
        const double *restrict xj = P->x[j] + from;
        double *restrict dj = wdx + j * CAL_BLOCK;
        CAL_SIMD
        for (int k = 0; k < nb; k++) dj[k] = wd[k] * xj[k];
    }
    for (int k = 0; k < nb; k++) {
        double *ac = cell + (size_t) cid[k] * CW;
        ac[0] += wg[k];
        ac[1] += wd[k];
        for (int j = 0; j < q; j++) ac[2 + j] += wdx[j * CAL_BLOCK + k];
    }
    for (int j = 0, o = q; j < q; j++) {
        bs[j] += cal_dot(wg, P->x[j] + from, nb);
        for (int l = j; l < q; l++) bs[o++] += cal_dot(wdx + j * CAL_BLOCK, P->x[l] + from, nb);
    }
}

/* The block step compiled twice on x86-64 with GCC or clang, for the
 * baseline (SSE2) and for AVX2, the AVX2 copy where the CPU has it: the
 * same operations in the same order, four lanes instead of two, and no
 * fused multiply-add, so the results are the same bit for bit (as var.c's
 * layers). -DUMF_NO_AVX2 builds the baseline only. */
static void cal_rows_block_base(const calprob *P, const calfun *f, const double *lamcell,
                                const double *b, R_xlen_t from, int nb, double *cell,
                                double *bs, double *tr, double *buf, double *wout,
                                double *gsto)
{
    cal_rows_block_body(P, f, lamcell, b, from, nb, cell, bs, tr, buf, wout, gsto);
}
typedef void (*cal_block_fn)(const calprob *, const calfun *, const double *, const double *,
                             R_xlen_t, int, double *, double *, double *, double *, double *,
                             double *);
#ifdef CAL_AVX2
__attribute__((target("avx2")))
static void cal_rows_block_avx2(const calprob *P, const calfun *f, const double *lamcell,
                                const double *b, R_xlen_t from, int nb, double *cell,
                                double *bs, double *tr, double *buf, double *wout,
                                double *gsto)
{
    cal_rows_block_body(P, f, lamcell, b, from, nb, cell, bs, tr, buf, wout, gsto);
}
static cal_block_fn cal_block_pick(void)
{
    return umf_cpu_avx2() ? cal_rows_block_avx2 : cal_rows_block_base;
}
#else
static cal_block_fn cal_block_pick(void) { return cal_rows_block_base; }
#endif

/* One pass over the rows at lambda, in blocks (cal_rows_block) on the
 * threads, chunk by chunk with interrupt checks between; the threads' sums
 * are added in thread order. wout: see cal_block_q. Returns 0 if some sum
 * is not finite (as a g or g' that is not finite leaves it). */
static int cal_rows(const calprob *P, const calfun *f, const double *lambda, calwork *Wk,
                    double *wout)
{
    const int nth = P->nth, NW = P->NW, TS = Wk->tstride;
    const size_t cs = (size_t) P->ncell * P->CW;
    const double *b = lambda + P->pc;
    const cal_block_fn block = cal_block_pick();
    double *gsto = !wout && Wk->store ? Wk->wout : NULL;
    cal_lamcell(P, lambda, Wk->lamcell);
    umf_zero(Wk->tcell, (size_t) nth * cs);
    for (int t = 0; t < nth; t++) {
        double *s = Wk->tscr + (size_t) t * TS;
        for (int j = 0; j < TS; j++) s[j] = 0;
        s[2 * NW] = R_PosInf; s[2 * NW + 1] = R_NegInf;   /* g range; s[2 NW + 2]: max |w0 g| */
    }
    for (R_xlen_t from = 0; from < P->n; from += UMF_CHUNK) {
        const R_xlen_t to = from + UMF_CHUNK < P->n ? from + UMF_CHUNK : P->n;
        const R_xlen_t nblk = (to - from + CAL_BLOCK - 1) / CAL_BLOCK;
        #pragma omp parallel num_threads(nth)
        {
            const int t = omp_get_thread_num();
            double *cell = Wk->tcell + (size_t) t * cs, *s = Wk->tscr + (size_t) t * TS;
            double *buf = Wk->tbuf + (size_t) t * (2 + P->q) * CAL_BLOCK;
            #pragma omp for schedule(static)
            for (R_xlen_t k = 0; k < nblk; k++) {
                R_xlen_t a = from + k * CAL_BLOCK, e = a + CAL_BLOCK < to ? a + CAL_BLOCK : to;
                for (int j = 0; j < NW; j++) s[NW + j] = 0;
                block(P, f, Wk->lamcell, b, a, (int) (e - a), cell, s + NW, s + 2 * NW,
                      buf, wout, gsto);
                for (int j = 0; j < NW; j++) s[j] += s[NW + j];
            }
        }
        R_CheckUserInterrupt();
    }
    memset(Wk->cell, 0, cs * sizeof(double));
    for (int j = 0; j < NW; j++) Wk->num[j] = 0;
    Wk->gmin = R_PosInf; Wk->gmax = R_NegInf; Wk->wmax = 0;
    for (int t = 0; t < nth; t++) {
        const double *c = Wk->tcell + (size_t) t * cs, *s = Wk->tscr + (size_t) t * TS;
        for (size_t e = 0; e < cs; e++) Wk->cell[e] += c[e];
        for (int j = 0; j < NW; j++) Wk->num[j] += s[j];
        if (s[2 * NW] < Wk->gmin) Wk->gmin = s[2 * NW];
        if (s[2 * NW + 1] > Wk->gmax) Wk->gmax = s[2 * NW + 1];
        if (s[2 * NW + 2] > Wk->wmax) Wk->wmax = s[2 * NW + 2];
    }
    int ok = 1;      /* a g or g' that is not finite left its sums so */
    for (size_t e = 0; e < cs; e++) if (!R_FINITE(Wk->cell[e])) ok = 0;
    for (int j = 0; j < NW; j++) if (!R_FINITE(Wk->num[j])) ok = 0;
    Wk->passes++;
    Wk->stored = gsto != NULL && ok;
    return ok;
}

/* ---- the pass that writes the weights ---------------------------------------
 *
 * Newton's last step is small (the misfit before it is below epsilon), so
 * its weights follow from the g of the row pass before it to first order:
 * g(u + delta) = g(u) + g'(u) delta, with g' a function of g (linear: 1
 * inside the bounds; raking: g inside them; logit: A (g - L)(U - g) / (U -
 * L)), and delta = the step's change of u. The error is of order delta^2,
 * below rounding. That row pass stored g (cal_newton predicts which pass
 * converges); this one needs no exp(): it writes w0 g, sums the weights'
 * totals (so that the misfit reported is that of the weights returned),
 * the range of g, and the weights' fingerprint, whose sums run in row order:
 * thread 0 sums its own rows as it writes them, then the other threads'. */

/* Rows from..from+nb-1 of the update: g (stored in wout) to w0 g(u +
 * delta) in wout; the weights added to their cells' first sum in `cell`
 * and (times x) to bs; tr: g range, largest |w|, and a sum that is NaN
 * when some w is not finite. dlc, db: the step's change of each cell's sum
 * of coefficients and of the numeric auxiliaries' coefficients. */
static inline __attribute__((always_inline)) void
cal_update_block_body(const calprob *P, const calfun *f, const double *dlc, const double *db,
                      R_xlen_t from, int nb, double *cell, double *bs, double *tr,
                      double *buf, double *wout)
{
    const int q = P->q, CW = P->CW, *restrict cid = P->cid + from;
    const double *restrict hq = P->hq ? P->hq + from : NULL;
    const double L = f->L, U = f->U, AUL = f->A / (f->U - f->L);
    double *restrict dl = buf, *restrict g = wout + from;
    for (int k = 0; k < nb; k++) dl[k] = dlc[cid[k]];
    for (int j = 0; j < q; j++) {
        const double *restrict xj = P->x[j] + from, bj = db[j];
        CAL_SIMD
        for (int k = 0; k < nb; k++) dl[k] += bj * xj[k];
    }
    if (hq) {
        CAL_SIMD
        for (int k = 0; k < nb; k++) dl[k] /= hq[k];
    }
    if (f->method == CM_LINEAR) {
        CAL_SIMD
        for (int k = 0; k < nb; k++) {
            double gk = g[k], v = gk + (((gk > L) & (gk < U)) ? dl[k] : 0);
            dl[k] = v < L ? L : v > U ? U : v;
        }
    } else if (f->method == CM_RAKING) {
        CAL_SIMD
        for (int k = 0; k < nb; k++) {
            double gk = g[k], v = gk + (((gk > L) & (gk < U)) ? gk : 0) * dl[k];
            dl[k] = v < L ? L : v > U ? U : v;
        }
    } else {
        CAL_SIMD
        for (int k = 0; k < nb; k++) {
            double gk = g[k];
            dl[k] = gk + AUL * (gk - L) * (U - gk) * dl[k];
        }
    }
    double gmin = tr[0], gmax = tr[1], mx = tr[2], nf = tr[3];
    static const double one = 1.0;
    const double *restrict wr = P->w0 ? P->w0 + from : &one;
    const int ws = P->w0 ? 1 : 0;
    CAL_SIMD_UPD
    for (int k = 0; k < nb; k++) {
        double w = wr[ws * k], gk = dl[k], a = w * gk, fa = fabs(a);
        g[k] = a;
        dl[k] = cal_unless0(w, a);
        double gl = w == 0 ? R_PosInf : gk, gu = w == 0 ? R_NegInf : gk;
        gmin = gl < gmin ? gl : gmin;
        gmax = gu > gmax ? gu : gmax;
        mx = fa > mx ? fa : mx;
        nf += a * 0;
    }
    tr[0] = gmin; tr[1] = gmax; tr[2] = mx; tr[3] = nf;
    for (int k = 0; k < nb; k++) cell[(size_t) cid[k] * CW] += dl[k];
    for (int j = 0; j < q; j++) bs[j] += cal_dot(dl, P->x[j] + from, nb);
}

static void cal_update_block_base(const calprob *P, const calfun *f, const double *dlc,
                                  const double *db, R_xlen_t from, int nb, double *cell,
                                  double *bs, double *tr, double *buf, double *wout)
{
    cal_update_block_body(P, f, dlc, db, from, nb, cell, bs, tr, buf, wout);
}
typedef void (*cal_update_fn)(const calprob *, const calfun *, const double *, const double *,
                              R_xlen_t, int, double *, double *, double *, double *, double *);
#ifdef CAL_AVX2
__attribute__((target("avx2")))
static void cal_update_block_avx2(const calprob *P, const calfun *f, const double *dlc,
                                  const double *db, R_xlen_t from, int nb, double *cell,
                                  double *bs, double *tr, double *buf, double *wout)
{
    cal_update_block_body(P, f, dlc, db, from, nb, cell, bs, tr, buf, wout);
}
static cal_update_fn cal_update_pick(void)
{
    return umf_cpu_avx2() ? cal_update_block_avx2 : cal_update_block_base;
}
#else
static cal_update_fn cal_update_pick(void) { return cal_update_block_base; }
#endif

/* The fingerprint's sums continued over rows [from, to) of x at scale e. */
static void cal_fp_rows(umf_fp_sums *s, const double *x, R_xlen_t from, R_xlen_t to, double e,
                        double f, double dn)
{
    umf_fp_sums t = *s;
    for (R_xlen_t i = from; i < to; i++) umf_fp_row(&t, x[i], i, e, f, dn);
    *s = t;
}

/* The update pass (see above) for the step `step` from the lambda of the row
 * pass that stored g: the weights in Wk->wout, their sums as a row pass
 * leaves them (each cell's sum of weights, the numeric auxiliaries' totals;
 * the rest 0), the range of g and the fingerprint (Wk->fp). Returns 0 if
 * some weight is not finite. */
static int cal_update(const calprob *P, const calfun *f, const double *step, calwork *Wk)
{
    const int nth = P->nth, NW = P->NW, TS = Wk->tstride, q = P->q;
    const size_t cs = (size_t) P->ncell * P->CW;
    const cal_update_fn block = cal_update_pick();
    const double dn = (double) P->n, *db = step + P->pc;
    double *wout = Wk->wout;
    cal_lamcell(P, step, Wk->lamcell);
    umf_zero(Wk->tcell, (size_t) nth * cs);
    for (int t = 0; t < nth; t++) {
        double *s = Wk->tscr + (size_t) t * TS;
        for (int j = 0; j < TS; j++) s[j] = 0;
        s[2 * NW] = R_PosInf; s[2 * NW + 1] = R_NegInf;
    }
    /* the scale of the fingerprint from the weights before the step; the
     * pass finds the true one (a different one sums again) */
    const double eg = umf_fp_scale(Wk->wmax, false), fg = pow(2.0, eg);
    umf_fp_sums fs = {0, 0, 0, 0};
    for (R_xlen_t from = 0; from < P->n; from += UMF_CHUNK) {
        const R_xlen_t to = from + UMF_CHUNK < P->n ? from + UMF_CHUNK : P->n;
        const R_xlen_t nblk = (to - from + CAL_BLOCK - 1) / CAL_BLOCK;
        R_xlen_t done0 = to;     /* end of thread 0's rows */
        #pragma omp parallel num_threads(nth)
        {
            const int t = omp_get_thread_num(), nt = omp_get_num_threads();
            double *cell = Wk->tcell + (size_t) t * cs, *s = Wk->tscr + (size_t) t * TS;
            double *buf = Wk->tbuf + (size_t) t * (2 + q) * CAL_BLOCK;
            const R_xlen_t b0 = nblk * t / nt, b1 = nblk * (t + 1) / nt;
            for (R_xlen_t k = b0; k < b1; k++) {
                R_xlen_t a = from + k * CAL_BLOCK, e = a + CAL_BLOCK < to ? a + CAL_BLOCK : to;
                for (int j = 0; j < q; j++) s[NW + j] = 0;
                block(P, f, Wk->lamcell, db, a, (int) (e - a), cell, s + NW, s + 2 * NW, buf,
                      wout);
                for (int j = 0; j < q; j++) s[j] += s[NW + j];
                if (t == 0) cal_fp_rows(&fs, wout, a, e, eg, fg, dn);
            }
            if (t == 0) done0 = from + b1 * CAL_BLOCK < to ? from + b1 * CAL_BLOCK : to;
        }
        cal_fp_rows(&fs, wout, done0, to, eg, fg, dn);   /* the other threads' rows */
        R_CheckUserInterrupt();
    }
    memset(Wk->cell, 0, cs * sizeof(double));
    for (int j = 0; j < NW; j++) Wk->num[j] = 0;
    Wk->gmin = R_PosInf; Wk->gmax = R_NegInf;
    double mx = 0, nf = 0;
    for (int t = 0; t < nth; t++) {
        const double *c = Wk->tcell + (size_t) t * cs, *s = Wk->tscr + (size_t) t * TS;
        for (int cc = 0; cc < P->ncell; cc++) Wk->cell[(size_t) cc * P->CW] += c[(size_t) cc * P->CW];
        for (int j = 0; j < q; j++) Wk->num[j] += s[j];
        if (s[2 * NW] < Wk->gmin) Wk->gmin = s[2 * NW];
        if (s[2 * NW + 1] > Wk->gmax) Wk->gmax = s[2 * NW + 1];
        if (s[2 * NW + 2] > mx) mx = s[2 * NW + 2];
        nf += s[2 * NW + 3];
    }
    const double e = umf_fp_scale(mx, nf != 0);
    if (e != eg) umf_fingerprint(wout, P->n, Wk->fp);
    else umf_fp_finish(&fs, dn, e, Wk->fp);
    return nf == 0;
}

/* Achieved totals (p) and T = X' diag(w0 g') X (p x p, full) from the sums. */
static void cal_assemble(const calprob *P, const calwork *Wk, double *ach, double *T)
{
    const int p = P->p, pc = P->pc, M = P->M, q = P->q, CW = P->CW;
    memset(ach, 0, p * sizeof(double));
    memset(T, 0, (size_t) p * p * sizeof(double));
    for (int c = 0; c < P->ncell; c++) {
        const double *ac = Wk->cell + (size_t) c * CW;
        if (ac[0] == 0 && ac[1] == 0 && P->W0[c] == 0) continue;
        const int *cc = P->cellcol + (size_t) c * M;
        for (int m = 0; m < M; m++) {
            int k = cc[m];
            if (k < 0) continue;
            ach[k] += ac[0];
            for (int m2 = 0; m2 < M; m2++) {
                int l = cc[m2];
                if (l >= 0) T[k + (size_t) p * l] += ac[1];
            }
            for (int j = 0; j < q; j++) {
                T[k + (size_t) p * (pc + j)] += ac[2 + j];
                T[(pc + j) + (size_t) p * k] += ac[2 + j];
            }
        }
    }
    const double *o = Wk->num + q;
    for (int j = 0; j < q; j++) {
        ach[pc + j] = Wk->num[j];
        for (int k = j; k < q; k++, o++) {
            T[(pc + j) + (size_t) p * (pc + k)] = *o;
            T[(pc + k) + (size_t) p * (pc + j)] = *o;
        }
    }
}

/* From the sums of a pass: the achieved totals, T, the misfit r = target -
 * achieved, its largest relative error (maxrel, at column worst) and sum
 * of squared relative errors (ss). Returns 0 if the misfit is not finite. */
static int cal_misfit(const calprob *P, calwork *Wk)
{
    cal_assemble(P, Wk, Wk->ach, Wk->T);
    Wk->maxrel = 0; Wk->ss = 0; Wk->worst = 0;
    for (int k = 0; k < P->p; k++) {
        Wk->r[k] = P->colt[k] - Wk->ach[k];
        double e = fabs(Wk->r[k]) / (1 + fabs(P->colt[k]));
        Wk->ss += e * e;
        if (e > Wk->maxrel) { Wk->maxrel = e; Wk->worst = k; }
    }
    return R_FINITE(Wk->ss);
}

/* How cal_eval evaluates: from the cells; on the rows (totals and T); on
 * the rows writing the weights (totals only). */
enum { CAL_CELLS = 0, CAL_ROWS = 1, CAL_WEIGHTS = 2 };

/* The sums at lambda (see `how`), then the achieved totals, T, the misfit r
 * = target - achieved, its largest relative error (maxrel, at column worst)
 * and sum of squared relative errors (ss). Returns 0 if some g, g' or the
 * misfit is not finite. */
static int cal_eval(const calprob *P, const calfun *f, const double *lambda, int how,
                    calwork *Wk)
{
    int ok = how == CAL_CELLS ? cal_cells(P, f, lambda, Wk)
        : cal_rows(P, f, lambda, Wk, how == CAL_WEIGHTS ? Wk->wout : NULL);
    return cal_misfit(P, Wk) && ok;
}

/* Symmetric eigen-decomposition (values ascending, vectors in A). */
static int sym_eigen(double *A, int p, double *val)
{
    int info = 0, lwork = -1;
    double wq;
    F77_CALL(dsyev)("V", "L", &p, A, &p, val, &wq, &lwork, &info FCONE FCONE);
    lwork = (int) wq;
    const void *vmax = vmaxget();      /* one solve per Newton step */
    double *work = (double *) R_alloc(lwork > 1 ? lwork : 1, sizeof(double));
    F77_CALL(dsyev)("V", "L", &p, A, &p, val, work, &lwork, &info FCONE FCONE);
    vmaxset(vmax);
    return info;
}

/* step = pinv(T) r, with MASS::ginv's tolerance (256 eps of the largest). */
static int pinv_solve(const double *T, int p, const double *r, double *step, double *E, double *val)
{
    memcpy(E, T, (size_t) p * p * sizeof(double));
    if (sym_eigen(E, p, val) != 0) return 0;
    double vmax = 0;
    for (int i = 0; i < p; i++) if (fabs(val[i]) > vmax) vmax = fabs(val[i]);
    for (int i = 0; i < p; i++) step[i] = 0;
    for (int k = 0; k < p; k++) {
        if (!(fabs(val[k]) > 256 * DBL_EPSILON * vmax)) continue;
        const double *v = E + (size_t) p * k;
        double s = 0;
        for (int i = 0; i < p; i++) s += v[i] * r[i];
        s /= val[k];
        for (int i = 0; i < p; i++) step[i] += s * v[i];
    }
    return 1;
}

/* Newton iterations from Wk->lambda, whose evaluation Wk holds, until every
 * relative error is below eps; each step is halved until the misfit falls.
 * how: CAL_ROWS or CAL_CELLS (see cal_eval); trace: record the
 * largest error before each step. Returns CS_OK (Wk then holds the
 * evaluation at the solution), or CS_MAXIT / CS_STALLED with info; *it:
 * the steps taken. */
static int cal_newton(const calprob *P, const calfun *f, calwork *Wk, int how, double eps,
                      int maxit, bool trace, int *it, double *info)
{
    const int p = P->p;
    double best = R_PosInf, prev = -1;
    int stall = 0;
    for (*it = 0;; ) {
        R_CheckUserInterrupt();
        if (trace) {
            Wk->trace = umf_trace_room(Wk->trace, &Wk->trace_cap, *it);
            Wk->trace[*it] = Wk->maxrel;
        }
        if (Wk->maxrel < eps) return CS_OK;
        if (*it >= maxit) {
            info[0] = Wk->worst; info[1] = Wk->ach[Wk->worst]; info[2] = Wk->maxrel;
            return CS_MAXIT;
        }
        if (!pinv_solve(Wk->T, p, Wk->r, Wk->step, Wk->E, Wk->val))
            Rf_error("eigen-decomposition failed");
        const double ss0 = Wk->ss;
        double *keep_r = Wk->E;   /* E is free until the next solve */
        memcpy(keep_r, Wk->r, p * sizeof(double));
        const int w0k = Wk->worst;
        bool accepted = false;
        /* the row pass whose misfit will likely be below eps (Newton's
         * errors fall as c e^2, c from the last step) stores each row's g,
         * so that the weights need no further pass with exp() */
        const double c = prev > 0 && Wk->maxrel > 0 ? Wk->maxrel / (prev * prev) : 1;
        Wk->store = how == CAL_ROWS && (c > 1 ? c : 1) * Wk->maxrel * Wk->maxrel < 1e3 * eps;
        prev = Wk->maxrel;
        for (int h = 0; h < 40 && !accepted; h++) {
            for (int k = 0; k < p; k++) Wk->ltry[k] = Wk->lambda[k] + Wk->step[k];
            if (cal_eval(P, f, Wk->ltry, how, Wk) && Wk->ss < ss0) accepted = true;
            else for (int k = 0; k < p; k++) Wk->step[k] /= 2;
        }
        Wk->store = 0;
        if (!accepted) {
            /* no step along Newton's direction lowers the misfit */
            info[0] = w0k; info[1] = P->colt[w0k] - keep_r[w0k]; info[2] = *it;
            return CS_STALLED;
        }
        memcpy(Wk->lambda, Wk->ltry, p * sizeof(double));
        (*it)++;
        if (Wk->maxrel < best * (1 - 1e-3)) { best = Wk->maxrel; stall = 0; }
        else if (++stall >= 10) {
            info[0] = Wk->worst; info[1] = Wk->ach[Wk->worst]; info[2] = *it;
            return CS_STALLED;
        }
    }
}

/* The start: 0, except the first margin's coefficients, which start where
 * g = (its targets' sum) / (sum of w0), so that starting weights far from
 * the population scale need no large first step. */
static void cal_start(const calprob *P, const calfun *f, double *lambda)
{
    memset(lambda, 0, P->p * sizeof(double));
    if (P->M == 0) return;
    double tt = 0, ww = 0, u0 = 0;
    for (int k = 0; k < P->pc; k++) if (P->colm[k] == 0) tt += P->colt[k];
    for (int c = 0; c < P->ncell; c++) ww += P->W0[c];
    const double sc = ww > 0 ? tt / ww : 1;
    bool ok = sc > 0 && fabs(log(sc)) > 1e-8;
    if (ok && f->method == CM_LINEAR) u0 = sc - 1;
    else if (ok && f->method == CM_RAKING) u0 = log(sc);
    else if (ok) {
        double t = (sc - f->L) / (f->U - f->L);
        ok = t > 1e-6 && t < 1 - 1e-6;
        if (ok) u0 = (log(t / (1 - t)) - f->la) / f->A;
    }
    if (ok && sc >= f->L && sc <= f->U)
        for (int k = 0; k < P->pc; k++) if (P->colm[k] == 0) lambda[k] = u0;
}

/* After Newton on the rows converged: one more step, from the T and misfit
 * of the last pass, whose weights are written with their totals (not T),
 * so that the weights are those of a step beyond the first iterate inside
 * epsilon (as close to the solution as survey's, whose iterations run from
 * elsewhere). Not taken at maxit or when the misfit is at rounding level
 * already. When the last pass stored g, the update pass (cal_update) writes
 * the weights to first order in the step, else a row pass at the new
 * lambda; a step that does not lower the misfit is undone (a row pass at
 * lambda writes the weights). The misfit and g range reported are those of
 * the weights written; Wk->fp gets their fingerprint. */
static void cal_final_step(const calprob *P, const calfun *f, calwork *Wk, int maxit, int *it)
{
    const int p = P->p;
    const bool step = *it < maxit && Wk->maxrel > 64 * DBL_EPSILON;
    if (step) {
        if (!pinv_solve(Wk->T, p, Wk->r, Wk->step, Wk->E, Wk->val))
            Rf_error("eigen-decomposition failed");
    } else memset(Wk->step, 0, p * sizeof(double));
    const double ss0 = Wk->ss;
    bool ok;
    if (Wk->stored) {
        ok = cal_update(P, f, Wk->step, Wk);
        ok = cal_misfit(P, Wk) && ok;
        if (ok && !step) return;
    } else {
        for (int k = 0; k < p; k++) Wk->ltry[k] = Wk->lambda[k] + Wk->step[k];
        ok = cal_eval(P, f, Wk->ltry, CAL_WEIGHTS, Wk);
        if (ok && !step) { umf_fingerprint(Wk->wout, P->n, Wk->fp); return; }
        if (ok && Wk->ss < ss0) umf_fingerprint(Wk->wout, P->n, Wk->fp);
    }
    if (step && ok && Wk->ss < ss0) {
        for (int k = 0; k < p; k++) Wk->lambda[k] += Wk->step[k];
        (*it)++;
        Wk->trace = umf_trace_room(Wk->trace, &Wk->trace_cap, *it);
        Wk->trace[*it] = Wk->maxrel;
        return;
    }
    cal_eval(P, f, Wk->lambda, CAL_WEIGHTS, Wk);
    umf_fingerprint(Wk->wout, P->n, Wk->fp);
}

/* Newton from the start: with numeric auxiliaries first on the cells'
 * approximation (cal_cells), whose solution, if it converges, is where
 * Newton on the rows starts (else at the start, as with margins only), and
 * a final step (cal_final_step). A start whose g is not finite falls back
 * to the plain start, then to 0. Returns the status of Newton on the rows
 * (on the cells with margins only); *it its steps. */
static int cal_iterate(const calprob *P, const calfun *f, calwork *Wk, double eps, int maxit,
                       int *it, double *info)
{
    const int p = P->p, how = P->rows ? CAL_ROWS : CAL_CELLS;
    cal_start(P, f, Wk->lambda);
    memcpy(Wk->lstart, Wk->lambda, p * sizeof(double));
    bool from_approx = false;
    if (how == CAL_ROWS && !P->hq) {      /* the cells know nothing of q */
        from_approx = cal_eval(P, f, Wk->lambda, CAL_CELLS, Wk) &&
            cal_newton(P, f, Wk, CAL_CELLS, eps > CAL_APPROX_EPS ? eps : CAL_APPROX_EPS,
                       CAL_APPROX_MAXIT, false, &Wk->approx_it, info) == CS_OK;
        if (!from_approx) memcpy(Wk->lambda, Wk->lstart, p * sizeof(double));
    }
    /* linear: the cells' approximation is exact but for the bounds, so the
     * first row pass is likely within eps: it stores g (see cal_newton) */
    Wk->store = from_approx && f->method == CM_LINEAR;
    bool ok = cal_eval(P, f, Wk->lambda, how, Wk);
    Wk->store = 0;
    if (!ok && from_approx) {
        memcpy(Wk->lambda, Wk->lstart, p * sizeof(double));
        ok = cal_eval(P, f, Wk->lambda, how, Wk);
    }
    if (!ok) {
        memset(Wk->lambda, 0, p * sizeof(double));
        cal_eval(P, f, Wk->lambda, how, Wk);
    }
    int st = cal_newton(P, f, Wk, how, eps, maxit, true, it, info);
    if (st == CS_OK && how == CAL_ROWS) cal_final_step(P, f, Wk, maxit, it);
    return st;
}

static SEXP cal_result(int status, const double *info, int ninfo)
{
    const char *nm[] = {"status", "info"};
    SEXP ans = PROTECT(umf_named_list(nm, 2));
    SET_VECTOR_ELT(ans, 0, Rf_ScalarInteger(status));
    SEXP in = PROTECT(Rf_allocVector(REALSXP, ninfo));
    for (int i = 0; i < ninfo; i++) REAL(in)[i] = info[i];
    SET_VECTOR_ELT(ans, 1, in);
    UNPROTECT(2);
    return ans;
}

/* The arguments other than the codes (see C_calibrate) into P, f, eps and
 * maxit; errors name the argument. */
static void cal_check_args(calprob *P, const umf_coder *cd, SEXP w0, SEXP margins,
                           SEXP targets, SEXP xnum, SEXP xtarget, SEXP method, SEXP bounds,
                           SEXP control, calfun *f, double *eps, int *maxit)
{
    if (TYPEOF(xnum) != VECSXP) Rf_error("'xnum' must be a list");
    const int q = P->q = (int) XLENGTH(xnum);
    if (cd->nvar == 0) {
        if (q == 0) Rf_error("nothing to calibrate on");
        if (TYPEOF(VECTOR_ELT(xnum, 0)) != REALSXP)
            Rf_error("'xnum' element 1 must be a double vector with one value per row");
        P->n = XLENGTH(VECTOR_ELT(xnum, 0));
    }
    P->x = (const double **) R_alloc(q > 0 ? q : 1, sizeof(double *));
    for (int j = 0; j < q; j++) {
        SEXP xj = VECTOR_ELT(xnum, j);
        if (TYPEOF(xj) != REALSXP || XLENGTH(xj) != P->n)
            Rf_error("'xnum' element %d must be a double vector with one value per row", j + 1);
        P->x[j] = REAL(xj);
    }
    if (TYPEOF(xtarget) != REALSXP || XLENGTH(xtarget) != q)
        Rf_error("'xtarget' must be a double vector with one total per numeric auxiliary");
    P->xt = REAL(xtarget);
    P->w0 = NULL;
    if (!Rf_isNull(w0)) {
        if (TYPEOF(w0) != REALSXP || XLENGTH(w0) != P->n)
            Rf_error("'w0' must be NULL or a double vector with one value per row");
        P->w0 = REAL(w0);
    }
    if (TYPEOF(margins) != VECSXP || TYPEOF(targets) != VECSXP ||
        XLENGTH(margins) != XLENGTH(targets))
        Rf_error("'margins' and 'targets' must be lists of the same length");
    P->M = (int) XLENGTH(margins);
    const int meth = umf_as_int1(method, "method");
    if (meth < 0 || meth > 2) Rf_error("'method' must be 0, 1 or 2");
    if (TYPEOF(bounds) != REALSXP || XLENGTH(bounds) != 2) Rf_error("'bounds' must be 2 numbers");
    *f = (calfun) {meth, REAL(bounds)[0], REAL(bounds)[1], 0, 0, -746.0, 710.0};
    if (!(f->L <= 1 && f->U >= 1) || ISNAN(f->L) || ISNAN(f->U))
        Rf_error("'bounds' must contain 1");
    if (meth == CM_LOGIT) {
        if (!R_FINITE(f->L) || !R_FINITE(f->U) || !(f->L < 1 && f->U > 1))
            Rf_error("logit calibration needs finite bounds L < 1 < U");
        f->A = (f->U - f->L) / ((1 - f->L) * (f->U - 1));
        f->la = log((1 - f->L) / (f->U - 1));
    }
    if (TYPEOF(control) != VECSXP || (XLENGTH(control) != 2 && XLENGTH(control) != 3))
        Rf_error("'control' must be list(epsilon, maxit) or list(epsilon, maxit, q)");
    P->hq = NULL;
    if (XLENGTH(control) == 3 && !Rf_isNull(VECTOR_ELT(control, 2))) {
        SEXP hq = VECTOR_ELT(control, 2);
        if (TYPEOF(hq) != REALSXP || XLENGTH(hq) != P->n)
            Rf_error("'q' must be NULL or a double vector with one value per row");
        const double *h = REAL(hq);
        for (R_xlen_t i = 0; i < P->n; i++)
            if (!(h[i] > 0 && h[i] < INFINITY)) Rf_error("'q' must be positive and finite (row %.0f)", (double) i + 1);
        P->hq = h;
    }
    *eps = umf_as_double1(VECTOR_ELT(control, 0), "epsilon");
    *maxit = umf_as_int1(VECTOR_ELT(control, 1), "maxit");
    if (!(*eps >= 0)) Rf_error("'epsilon' must be a non-negative number");
    if (*maxit == NA_INTEGER || *maxit < 0) Rf_error("'maxit' must be a non-negative integer");
    if (cd->ncell > (1 << 24))
        Rf_error("the categorical margins span %d cells, more than the %d calibration works on; use fewer or coarser margins",
                 cd->ncell, 1 << 24);
    P->nvar = cd->nvar;
    P->ncell = cd->nvar > 0 ? cd->ncell : 1;
    umf_check_cells((double) P->ncell * P->M, P->n, P->M, "the margins' cells");
    P->CW = 2 + q;
    P->NW = P->MW = q + q * (q + 1) / 2;
    P->rows = q > 0 || P->hq != NULL;
    P->nth = P->rows ? umf_threads_for(P->n) : 1;
}

/* Row i's problem, checked in the order of the original serial pass (its
 * weight, then its codes, then its numeric auxiliaries): a status with info,
 * or CS_OK. */
static int cal_check_row(const calprob *P, const umf_coder *cd, R_xlen_t i, double *info)
{
    double w = P->w0 ? P->w0[i] : 1.0;
    if (!(w >= 0 && w < INFINITY)) { info[0] = (double) i + 1; return CS_BAD_WEIGHT; }
    for (int j = 0; j < cd->nvar; j++) {
        int v = cd->codes[j][i];
        if (v < 1 || v > cd->nlev[j]) { info[0] = j; info[1] = (double) i + 1; return CS_NA_CODE; }
    }
    for (int j = 0; j < P->q; j++)
        if (!isfinite(P->x[j][i])) { info[0] = j; info[1] = (double) i + 1; return CS_BAD_X; }
    return CS_OK;
}

/* Rows a..a+nb-1 (nb <= CAL_BLOCK) of the coding pass: their cells into
 * P->cid, and into one thread's sums: rec (per cell: w0, rows, w0 x, w0 x
 * x'; RW = 2 + MW doubles) and xpn (sums of w0 x over x > 0, of w0 |x| over
 * x < 0). The codes, weights and auxiliaries are checked branch-free for
 * the whole block first. Returns the block's first bad row, or -1 (then
 * nothing was added). */
static inline __attribute__((always_inline)) R_xlen_t
cal_code_block_body(const calprob *P, const umf_coder *cd, R_xlen_t a, int nb, double *rec,
                    double *xpn)
{
    const int q = P->q, RW = 2 + P->MW;
    int *restrict c = P->cid + a;
    const double *restrict w0 = P->w0 ? P->w0 + a : NULL;
    int bad = 0;
    for (int k = 0; k < nb; k++) c[k] = 0;
    for (int j = 0; j < cd->nvar; j++) {
        const int *restrict v = cd->codes[j] + a;
        const int nl = cd->nlev[j];
        const unsigned s = (unsigned) cd->stride[j];
        CAL_SIMD_OR
        for (int k = 0; k < nb; k++) {
            const int vk = v[k];                   /* NA is below 1 */
            bad |= (vk < 1) | (vk > nl);
            c[k] = (int) ((unsigned) c[k] + ((unsigned) vk - 1u) * s);
        }
    }
    /* NaN or infinite values make x * 0 NaN, and a NaN makes the sum so */
    double nf = 0;
    if (w0) {
        double wmin = 0;
        CAL_SIMD_CHECK
        for (int k = 0; k < nb; k++) {
            nf += w0[k] * 0;
            wmin = w0[k] < wmin ? w0[k] : wmin;
        }
        bad |= !(wmin >= 0);
    }
    for (int j = 0; j < q; j++) {
        const double *restrict xj = P->x[j] + a;
        CAL_SIMD_NF
        for (int k = 0; k < nb; k++) nf += xj[k] * 0;
    }
    bad |= nf != 0;
    if (bad) {
        double info[3];
        for (int k = 0; k < nb; k++) if (cal_check_row(P, cd, a + k, info) != CS_OK) return a + k;
    }
    for (int k = 0; k < nb; k++) {
        double w = w0 ? w0[k] : 1.0, *r = rec + (size_t) c[k] * RW, *o = r + 2 + q;
        r[0] += w;
        r[1] += 1;
        for (int j = 0; j < q; j++) {
            double wx = w * P->x[j][a + k];
            r[2 + j] += wx;
            for (int l = j; l < q; l++) *o++ += wx * P->x[l][a + k];
        }
    }
    for (int j = 0; j < q; j++) {
        const double *restrict xj = P->x[j] + a;
        double pos = xpn[j], neg = xpn[q + j];
        for (int k = 0; k < nb; k++) {
            double wx = (w0 ? w0[k] : 1.0) * xj[k];
            pos += wx > 0 ? wx : 0;
            neg -= wx > 0 ? 0 : wx;
        }
        xpn[j] = pos; xpn[q + j] = neg;
    }
    return -1;
}

/* The coding block compiled twice, as the row passes' block (see
 * cal_block_pick): the sums are the same bit for bit. */
static R_xlen_t cal_code_block_base(const calprob *P, const umf_coder *cd, R_xlen_t a, int nb,
                                    double *rec, double *xpn)
{
    return cal_code_block_body(P, cd, a, nb, rec, xpn);
}
typedef R_xlen_t (*cal_code_fn)(const calprob *, const umf_coder *, R_xlen_t, int, double *,
                                double *);
#ifdef CAL_AVX2
__attribute__((target("avx2")))
static R_xlen_t cal_code_block_avx2(const calprob *P, const umf_coder *cd, R_xlen_t a, int nb,
                                    double *rec, double *xpn)
{
    return cal_code_block_body(P, cd, a, nb, rec, xpn);
}
static cal_code_fn cal_code_pick(void)
{
    return umf_cpu_avx2() ? cal_code_block_avx2 : cal_code_block_base;
}
#else
static cal_code_fn cal_code_pick(void) { return cal_code_block_base; }
#endif

/* One pass over the rows, on the threads in blocks (cal_code_block), chunk
 * by chunk: each row's cell, the cells' sums of w0 and rows, with numeric
 * auxiliaries the cells' sums of w0 x and w0 x x' and the sums that bound
 * what calibration can reach. Each thread sums its own rows (a contiguous
 * run per chunk); the threads' sums are added in thread order, so that a
 * thread count gives one result. Threads get their own cell sums only
 * when these are small beside the rows. Returns a status, with the first
 * bad row in info. */
static int cal_code_rows(calprob *P, const umf_coder *cd, double *info)
{
    const R_xlen_t n = P->n;
    const int q = P->q, ncell = P->ncell, MW = P->MW, RW = 2 + MW;
    int nth = umf_threads_for(n);
    if ((double) ncell * RW * nth > (double) n) nth = 1;
    P->cid = (int *) R_alloc(n > 0 ? n : 1, sizeof(int));
    P->W0 = (double *) R_alloc(ncell, sizeof(double));
    P->N0 = (double *) R_alloc(ncell, sizeof(double));
    P->mom = q > 0 ? (double *) R_alloc((size_t) ncell * MW, sizeof(double)) : NULL;
    P->xpos = (double *) R_alloc(q > 0 ? 2 * q : 1, sizeof(double));
    P->xneg = P->xpos + q;
    /* per thread: the cells' records, then 2q sums, padded to cache lines
     * (with more than one thread, no more doubles than rows) */
    const size_t ts = (((size_t) ncell * RW + 2 * q + 7) / 8 + 1) * 8;
    double *tr = (double *) R_alloc(ts * nth, sizeof(double));
    umf_zero(tr, ts * nth);
    R_xlen_t *first = (R_xlen_t *) R_alloc(nth, sizeof(R_xlen_t));
    const cal_code_fn code = cal_code_pick();
    for (R_xlen_t from = 0; from < n; from += UMF_CHUNK) {
        const R_xlen_t to = from + UMF_CHUNK < n ? from + UMF_CHUNK : n;
        const R_xlen_t nblk = (to - from + CAL_BLOCK - 1) / CAL_BLOCK;
        #pragma omp parallel num_threads(nth)
        {
            const int t = omp_get_thread_num();
            double *rec = tr + ts * t, *xpn = rec + (size_t) ncell * RW;
            R_xlen_t fb = -1;
            #pragma omp for schedule(static)
            for (R_xlen_t k = 0; k < nblk; k++) {
                if (fb >= 0) continue;       /* this thread's later blocks: nothing to add */
                R_xlen_t a = from + k * CAL_BLOCK, e = a + CAL_BLOCK < to ? a + CAL_BLOCK : to;
                fb = code(P, cd, a, (int) (e - a), rec, xpn);
            }
            first[t] = fb;
        }
        R_xlen_t fb = -1;
        for (int t = 0; t < nth; t++) if (first[t] >= 0 && (fb < 0 || first[t] < fb)) fb = first[t];
        if (fb >= 0) return cal_check_row(P, cd, fb, info);
        R_CheckUserInterrupt();
    }
    memset(P->W0, 0, ncell * sizeof(double));
    memset(P->N0, 0, ncell * sizeof(double));
    if (q > 0) umf_zero(P->mom, (size_t) ncell * MW);
    for (int j = 0; j < 2 * q; j++) P->xpos[j] = 0;
    for (int t = 0; t < nth; t++) {
        const double *rec = tr + ts * t, *xpn = rec + (size_t) ncell * RW;
        for (int c = 0; c < ncell; c++) {
            const double *r = rec + (size_t) c * RW;
            P->W0[c] += r[0];
            P->N0[c] += r[1];
            for (int j = 0; j < MW; j++) P->mom[(size_t) c * MW + j] += r[2 + j];
        }
        for (int j = 0; j < 2 * q; j++) P->xpos[j] += xpn[j];
    }
    return CS_OK;
}

/* The joint level of margin m (variables mv) that cell c belongs to. */
static int cal_cell_level(const umf_coder *cd, SEXP mv, int c)
{
    int lev = 0, s = 1;
    for (int a = 0; a < XLENGTH(mv); a++) {
        int v = INTEGER(mv)[a];
        lev += ((c / cd->stride[v]) % cd->nlev[v]) * s;
        s *= cd->nlev[v];
    }
    return lev;
}

/* Margin m's columns: levcol[l] = the column of level l (numbered on from
 * *pc), -1 for levels without target and rows. Returns a status. */
static int cal_margin_columns(const calprob *P, const umf_coder *cd, int m, SEXP mv, SEXP tv,
                              int **levcol, int *pc, double *info)
{
    if (TYPEOF(mv) != INTSXP || TYPEOF(tv) != REALSXP) Rf_error("bad margin %d", m + 1);
    double size_d = 1;
    for (int a = 0; a < XLENGTH(mv); a++) {
        int v = INTEGER(mv)[a];
        if (v < 0 || v >= P->nvar)
            Rf_error("margin %d refers to variable %d, outside 0..%d", m + 1, v, P->nvar - 1);
        size_d *= cd->nlev[v];
    }
    if ((double) XLENGTH(tv) != size_d || size_d > INT_MAX)
        Rf_error("margin %d: %.0f targets for %.0f levels", m + 1, (double) XLENGTH(tv), size_d);
    const int size = (int) size_d;   /* the length of a vector, so an int */
    double *lw = (double *) R_alloc(size, sizeof(double)), *ln = (double *) R_alloc(size, sizeof(double));
    memset(lw, 0, size * sizeof(double));
    memset(ln, 0, size * sizeof(double));
    for (int c = 0; c < P->ncell; c++) {
        int lev = cal_cell_level(cd, mv, c);
        lw[lev] += P->W0[c];
        ln[lev] += P->N0[c];
    }
    int *lc = *levcol = (int *) R_alloc(size, sizeof(int));
    const double *t = REAL(tv);
    for (int l = 0; l < size; l++) {
        lc[l] = -1;
        if (ISNAN(t[l])) {
            if (ln[l] > 0) { info[0] = m; info[1] = l; info[2] = ln[l]; return CS_NO_TARGET; }
            continue;
        }
        if (ln[l] == 0 && t[l] == 0) continue;
        if (t[l] > 0 && lw[l] == 0) { info[0] = m; info[1] = l; info[2] = ln[l]; return CS_NO_WEIGHT; }
        lc[l] = (*pc)++;
    }
    return CS_OK;
}

/* The columns: per margin the levels with a target and rows, then the
 * numeric auxiliaries; per cell its column of each margin. Returns a status. */
static int cal_columns(calprob *P, const umf_coder *cd, SEXP margins, SEXP targets, double *info)
{
    const int M = P->M, q = P->q, ncell = P->ncell;
    int **levcol = (int **) R_alloc(M > 0 ? M : 1, sizeof(int *)), pc = 0;
    for (int m = 0; m < M; m++) {
        int st = cal_margin_columns(P, cd, m, VECTOR_ELT(margins, m), VECTOR_ELT(targets, m),
                                    levcol + m, &pc, info);
        if (st != CS_OK) return st;
    }
    const int p = pc + q;
    if ((double) p * p > UMF_FREE_CELLS)
        Rf_error("calibration on %d columns (levels with rows, and numeric auxiliaries) is more than %.0f",
                 p, sqrt(UMF_FREE_CELLS));
    P->pc = pc;
    P->p = p;
    const int p1 = p > 0 ? p : 1;      /* R_alloc(0) is NULL */
    P->colm = (int *) R_alloc(p1, sizeof(int));
    P->coll = (int *) R_alloc(p1, sizeof(int));
    P->colt = (double *) R_alloc(p1, sizeof(double));
    P->cellcol = (int *) R_alloc((size_t) ncell * (M > 0 ? M : 1), sizeof(int));
    for (int m = 0; m < M; m++) {
        SEXP mv = VECTOR_ELT(margins, m), tv = VECTOR_ELT(targets, m);
        for (int l = 0; l < XLENGTH(tv); l++) {
            int k = levcol[m][l];
            if (k >= 0) { P->colm[k] = m; P->coll[k] = l; P->colt[k] = REAL(tv)[l]; }
        }
        for (int c = 0; c < ncell; c++)
            P->cellcol[(size_t) c * M + m] = levcol[m][cal_cell_level(cd, mv, c)];
    }
    for (int j = 0; j < q; j++) { P->colm[pc + j] = -1; P->coll[pc + j] = j; P->colt[pc + j] = P->xt[j]; }
    return CS_OK;
}

/* The scratch of the iterations; the row passes' per-thread sums only with
 * numeric auxiliaries. */
static void cal_work_alloc(const calprob *P, calwork *Wk, int maxit)
{
    const int p1 = P->p > 0 ? P->p : 1, ncell = P->ncell, CW = P->CW, nth = P->nth;
    umf_check_cells((double) ncell * (CW * (P->rows ? nth + 1 : 1) + P->MW), P->n,
                    (double) CW * (P->rows ? nth + 1 : 1) + P->MW,
                    "the numeric auxiliaries' cell sums");
    double **v[] = {&Wk->lambda, &Wk->ltry, &Wk->lstart, &Wk->step, &Wk->r, &Wk->ach, &Wk->val};
    for (int i = 0; i < 7; i++) *v[i] = (double *) R_alloc(p1, sizeof(double));
    Wk->T = (double *) R_alloc((size_t) p1 * p1, sizeof(double));
    Wk->E = (double *) R_alloc((size_t) p1 * p1, sizeof(double));
    Wk->lamcell = (double *) R_alloc(ncell, sizeof(double));
    Wk->cell = (double *) R_alloc((size_t) ncell * CW, sizeof(double));
    Wk->num = (double *) R_alloc(P->NW > 0 ? P->NW : 1, sizeof(double));
    /* per thread: overall sums, block sums, g range (2), padded to
     * whole cache lines so that threads do not share one */
    Wk->tstride = ((2 * P->NW + 2 + 7) / 8 + 1) * 8;
    Wk->tcell = P->rows ? (double *) R_alloc((size_t) nth * ncell * CW, sizeof(double)) : NULL;
    Wk->tscr = P->rows ? (double *) R_alloc((size_t) nth * Wk->tstride, sizeof(double)) : NULL;
    Wk->tbuf = P->rows ? (double *) R_alloc((size_t) nth * (2 + P->q) * CAL_BLOCK, sizeof(double)) : NULL;
    Wk->wout = NULL;
    Wk->store = Wk->stored = 0;
    Wk->wmax = 0;
    Wk->passes = Wk->approx_it = 0;
    Wk->gmin = R_PosInf; Wk->gmax = R_NegInf;
    Wk->trace_cap = maxit < 1023 ? (R_xlen_t) maxit + 1 : 1024;
    Wk->trace = (double *) R_alloc(Wk->trace_cap, sizeof(double));
}

/* Collinearity: X' W0 X (from the cells' sums at g = 1), scaled to unit
 * diagonal; null directions that involve a numeric auxiliary are an error;
 * among categorical margins they are structural (each margin sums to the
 * total), and the targets must agree along them. Leaves the sums of w0 x
 * per column in Wk->ach. Returns a status (info may be reallocated). */
static int cal_check_collinear(const calprob *P, calwork *Wk, double **info, int *ninfo)
{
    const int p = P->p, pc = P->pc;
    const calfun lin = {CM_LINEAR, R_NegInf, R_PosInf, 0, 0, -746.0, 710.0};
    memset(Wk->lambda, 0, p * sizeof(double));
    cal_cells(P, &lin, Wk->lambda, Wk);
    cal_assemble(P, Wk, Wk->ach, Wk->T);
    double *sd = (double *) R_alloc(p > 0 ? p : 1, sizeof(double)), *E = Wk->E, *val = Wk->val;
    for (int k = 0; k < p; k++) {
        double dk = Wk->T[k + (size_t) p * k];
        if (!(dk > 0)) {               /* a numeric auxiliary that is 0 wherever w0 > 0 */
            (*info)[0] = k; (*info)[1] = 1; *ninfo = 2;
            return CS_COLLINEAR;
        }
        sd[k] = 1 / sqrt(dk);
    }
    for (int j = 0; j < p; j++)
        for (int i = 0; i < p; i++) E[i + (size_t) p * j] = Wk->T[i + (size_t) p * j] * sd[i] * sd[j];
    if (p > 0 && sym_eigen(E, p, val) != 0) Rf_error("eigen-decomposition failed");
    const double vmax = p > 0 ? val[p - 1] : 0;
    for (int k = 0; k < p && val[k] <= 1e-9 * vmax; k++) {
        const double *v = E + (size_t) p * k;
        int numeric = 0, jm = pc;
        for (int j = pc; j < p; j++) if (fabs(v[j]) > 1e-6) numeric = 1;
        if (numeric) {
            /* the columns in the direction: 1 where they take part */
            double *inv = *info = (double *) R_alloc(p + 2, sizeof(double));
            for (int j = pc; j < p; j++) if (fabs(v[j]) > fabs(v[jm])) jm = j;
            inv[0] = jm; inv[1] = 0;
            for (int j = 0; j < p; j++) inv[2 + j] = fabs(v[j]) > 1e-6;
            *ninfo = p + 2;
            return CS_COLLINEAR;
        }
        double s = 0, sa = 0;
        for (int j = 0; j < p; j++) {
            double u = v[j] * sd[j];
            s += u * P->colt[j];
            sa += fabs(u * P->colt[j]);
        }
        if (fabs(s) > 1e-8 * sa) {
            jm = 0;
            for (int j = 0; j < p; j++) if (fabs(v[j]) > fabs(v[jm])) jm = j;
            (*info)[0] = jm; *ninfo = 1;
            return CS_INCONSISTENT;
        }
    }
    return CS_OK;
}

/* Bounds that no g can meet, column by column: the range of sum w0 x g for
 * g in [L, U] (ach: the columns' sums of w0 x, from cal_check_collinear). */
static int cal_check_bounds(const calprob *P, const calfun *f, const double *ach, double *info)
{
    const int meth = f->method;
    const double L = meth == CM_RAKING && f->L < 0 ? 0 : f->L, U = f->U;
    const bool open_lo = meth == CM_LOGIT || (meth == CM_RAKING && f->L <= 0);
    const bool open_hi = meth == CM_LOGIT;
    for (int k = 0; k < P->p; k++) {
        /* sums of w0 x over x > 0 and of w0 |x| over x < 0 */
        const double pos = k < P->pc ? ach[k] : P->xpos[k - P->pc];
        const double neg = k < P->pc ? 0 : P->xneg[k - P->pc];
        double lo = (pos > 0 ? L * pos : 0) - (neg > 0 ? U * neg : 0);
        double hi = (pos > 0 ? U * pos : 0) - (neg > 0 ? L * neg : 0);
        double t = P->colt[k], tol = 1e-10 * (fabs(t) + pos + neg);
        bool bad = t < lo - tol || t > hi + tol ||
            (open_lo && neg == 0 && fabs(t - lo) <= tol && pos > 0) ||
            (open_hi && neg == 0 && fabs(t - hi) <= tol && pos > 0);
        if (bad) {
            info[0] = k; info[1] = lo; info[2] = hi;
            return CS_BOUNDS;
        }
    }
    return CS_OK;
}

/* The weights and the range of g over rows with w0 > 0: the final row
 * pass wrote them; with categorical margins only, g of each cell times w0. */
static void cal_map_back(const calprob *P, const calfun *f, calwork *Wk, double *wo)
{
    if (P->rows) return;
    double *gc = Wk->lamcell, d;
    cal_lamcell(P, Wk->lambda, gc);
    for (int c = 0; c < P->ncell; c++) cal_g(f, gc[c], gc + c, &d);
    for (R_xlen_t i = 0; i < P->n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        double w = P->w0 ? P->w0[i] : 1.0, g = gc[P->cid[i]];
        wo[i] = w * g;
        if (w > 0) { if (g < Wk->gmin) Wk->gmin = g; if (g > Wk->gmax) Wk->gmax = g; }
    }
    umf_fingerprint(wo, P->n, Wk->fp);
}

/* Whether w / w0 is constant within every cell, as R's ratio_misfit()
 * decides it for the weights' calibration state (relative tolerance 1e-8):
 * with margins only it is by construction; NA beyond 1e6 cells. cellw: the
 * cells' sums of the weights. */
static int cal_cell_constant(const calprob *P, const double *wo, const double *cellw,
                             double *ratio)
{
    if (!P->rows || P->n == 0) return 1;
    if (P->ncell > 1000000) return NA_LOGICAL;
    double sa = 0;
    for (int c = 0; c < P->ncell; c++) {
        sa += fabs(cellw[c]);
        ratio[c] = P->W0[c] != 0 ? cellw[c] / P->W0[c] : 0;
    }
    const double tol = 1e-14 * sa / (double) P->n;
    for (R_xlen_t i = 0; i < P->n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        double fit = ratio[P->cid[i]] * (P->w0 ? P->w0[i] : 1.0);
        if (fabs(wo[i] - fit) > 1e-8 * fabs(fit) + tol) return 0;
    }
    return 1;
}

/* The result of a converged calibration: the weights, per column achieved
 * (at the final lambda), target, margin, level and rows, the iterations,
 * the cells' sums of the weights and whether w / w0 is constant in them. */
static SEXP cal_result_ok(const calprob *P, calwork *Wk, SEXP wout, int it)
{
    const int p = P->p, M = P->M;
    SEXP cols = PROTECT(Rf_allocMatrix(REALSXP, p, 5));
    double *cm = REAL(cols), *nk = Wk->step;
    memset(nk, 0, p * sizeof(double));
    for (int c = 0; c < P->ncell; c++)
        for (int m = 0; m < M; m++) {
            int k = P->cellcol[(size_t) c * M + m];
            if (k >= 0) nk[k] += P->N0[c];
        }
    for (int j = 0; j < P->q; j++) nk[P->pc + j] = (double) P->n;
    for (int k = 0; k < p; k++) {
        cm[k] = Wk->ach[k];
        cm[k + p] = P->colt[k];
        cm[k + 2 * (size_t) p] = P->colm[k];
        cm[k + 3 * (size_t) p] = P->coll[k];
        cm[k + 4 * (size_t) p] = nk[k];
    }
    SEXP tr = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t) it + 1));
    memcpy(REAL(tr), Wk->trace, ((size_t) it + 1) * sizeof(double));
    SEXP cw = PROTECT(Rf_allocVector(REALSXP, P->ncell)), gr = PROTECT(Rf_allocVector(REALSXP, 2));
    for (int c = 0; c < P->ncell; c++) REAL(cw)[c] = Wk->cell[(size_t) c * P->CW];
    REAL(gr)[0] = Wk->gmin; REAL(gr)[1] = Wk->gmax;
    const char *nm[] = {"status", "info", "weights", "columns", "iterations", "converged",
                        "max_error", "g_range", "trace", "ncell", "cell_w", "cell_constant",
                        "passes", "fingerprint"};
    SEXP ans = PROTECT(umf_named_list(nm, 14));
    SET_VECTOR_ELT(ans, 0, Rf_ScalarInteger(CS_OK));
    SET_VECTOR_ELT(ans, 1, Rf_allocVector(REALSXP, 0));
    SET_VECTOR_ELT(ans, 2, wout);
    SET_VECTOR_ELT(ans, 3, cols);
    SET_VECTOR_ELT(ans, 4, Rf_ScalarInteger(it));
    SET_VECTOR_ELT(ans, 5, Rf_ScalarLogical(1));
    SET_VECTOR_ELT(ans, 6, Rf_ScalarReal(Wk->maxrel));
    SET_VECTOR_ELT(ans, 7, gr);
    SET_VECTOR_ELT(ans, 8, tr);
    SET_VECTOR_ELT(ans, 9, Rf_ScalarReal(P->ncell));
    SET_VECTOR_ELT(ans, 10, cw);
    SET_VECTOR_ELT(ans, 11, Rf_ScalarLogical(cal_cell_constant(P, REAL(wout), REAL(cw), Wk->lamcell)));
    SET_VECTOR_ELT(ans, 12, Rf_ScalarInteger(Wk->passes));
    SEXP fp = Rf_allocVector(REALSXP, 6);
    SET_VECTOR_ELT(ans, 13, fp);
    memcpy(REAL(fp), Wk->fp, 6 * sizeof(double));
    UNPROTECT(5);
    return ans;
}

/* codes, nlev: the margin variables' codes (as C_rake); margins: list of
 * 0-based variable indices per margin; targets: per margin a double vector
 * over its joint levels (first variable fastest; NA = no target); xnum:
 * list of numeric auxiliaries; xtarget: their totals; method: 0 linear, 1
 * raking, 2 logit; bounds: c(L, U); control: list(epsilon, maxit). Returns
 * list(status, info) and, when status is 0, the weights and diagnostics
 * (cal_result_ok). */
SEXP C_calibrate(SEXP codes, SEXP nlev, SEXP w0, SEXP margins, SEXP targets, SEXP xnum,
                 SEXP xtarget, SEXP method, SEXP bounds, SEXP control)
{
    calprob P;
    calwork Wk;
    calfun f;
    umf_coder cd;
    double eps, info0[6] = {0, 0, 0, 0, 0, 0}, *info = info0;
    int maxit, it = 0, ninfo = 3, st;
    P.n = 0;
    umf_coder_init(&cd, codes, nlev, &P.n, "codes");
    cal_check_args(&P, &cd, w0, margins, targets, xnum, xtarget, method, bounds, control,
                   &f, &eps, &maxit);
    if ((st = cal_code_rows(&P, &cd, info)) != CS_OK)
        return cal_result(st, info, st == CS_BAD_WEIGHT ? 1 : 2);
    if ((st = cal_columns(&P, &cd, margins, targets, info)) != CS_OK)
        return cal_result(st, info, 3);
    cal_work_alloc(&P, &Wk, maxit);
    if ((st = cal_check_collinear(&P, &Wk, &info, &ninfo)) != CS_OK)
        return cal_result(st, info, ninfo);
    if ((st = cal_check_bounds(&P, &f, Wk.ach, info)) != CS_OK)
        return cal_result(st, info, 3);
    SEXP wout = PROTECT(Rf_allocVector(REALSXP, P.n));
    Wk.wout = REAL(wout);
    if ((st = cal_iterate(&P, &f, &Wk, eps, maxit, &it, info)) != CS_OK) {
        UNPROTECT(1);
        return cal_result(st, info, 3);
    }
    cal_map_back(&P, &f, &Wk, REAL(wout));
    SEXP ans = cal_result_ok(&P, &Wk, wout, it);
    UNPROTECT(1);
    return ans;
}

/* The first value of x that is NA, NaN or infinite (1-based), or 0: for
 * wt_calibrate()'s check of its numeric auxiliaries, in blocks whose x * 0
 * is NaN where a value is not finite (vectorised; R's is.finite() makes a
 * logical vector first). */
SEXP C_first_nonfinite(SEXP x)
{
    if (TYPEOF(x) != REALSXP) Rf_error("'x' must be a double vector");
    const R_xlen_t n = XLENGTH(x);
    const double *v = REAL(x);
    for (R_xlen_t a = 0; a < n; a += CAL_BLOCK) {
        const int nb = n - a < CAL_BLOCK ? (int) (n - a) : CAL_BLOCK;
        const double *restrict b = v + a;
        double nf = 0;
        CAL_SIMD_NF
        for (int k = 0; k < nb; k++) nf += b[k] * 0;
        if (nf != 0)
            for (int k = 0; k < nb; k++) if (!isfinite(b[k])) return Rf_ScalarReal((double) (a + k) + 1);
        if ((a & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
    }
    return Rf_ScalarReal(0);
}

/* One trimming run as survey::trimWeights(strict = TRUE): clamp to [lo,
 * hi], spread the trimmed amount equally over the rows inside the bounds
 * (rows of weight 0 keep 0), until no weight is outside. keep_total = 0:
 * clamp once. Returns the rounds, -1 if every positive weight is outside,
 * -2 at maxit. */
static int trim_run(const double *w, double *out, R_xlen_t n, double lo, double hi,
                    int keep_total, int maxit)
{
    memcpy(out, w, n * sizeof(double));
    for (int round = 0; round < maxit; round++) {
        double trimmed = 0;
        R_xlen_t inside = 0, outside = 0;
        for (R_xlen_t i = 0; i < n; i++) {
            if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
            double v = out[i];
            if (v == 0) continue;
            if (v < lo || v > hi) { trimmed += v - (v < lo ? lo : hi); outside++; }
            else inside++;
        }
        if (outside == 0) return round;
        if (keep_total && inside == 0) return -1;
        double share = keep_total ? trimmed / (double) inside : 0;
        for (R_xlen_t i = 0; i < n; i++) {
            if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
            double v = out[i];
            if (v == 0) continue;
            if (v < lo) out[i] = lo;
            else if (v > hi) out[i] = hi;
            else out[i] = v + share;
        }
        if (!keep_total) return round + 1;
        if ((round & 63) == 63) R_CheckUserInterrupt();
    }
    return -2;
}

static double kish_deff(const double *w, R_xlen_t n)
{
    double s = 0, s2 = 0;
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
        s += w[i]; s2 += w[i] * w[i];
    }
    return s > 0 ? (double) n * s2 / (s * s) : NA_REAL;
}

/* w: weights (finite, >= 0, checked in R and here); lo, hi: bounds (-Inf,
 * Inf for none); keep_total; maxit; deff: NA, or a target Kish design
 * effect, for which the largest upper bound hi <= the given one is found
 * (bisection) whose trimming meets it. Returns list(weights, rounds, upper,
 * deff, status): status 0 ok, 1 every weight outside, 2 maxit. */
SEXP C_trim(SEXP w, SEXP lo_, SEXP hi_, SEXP keep_total_, SEXP maxit_, SEXP deff_)
{
    if (TYPEOF(w) != REALSXP) Rf_error("'w' must be a double vector");
    const R_xlen_t n = XLENGTH(w);
    const double *wp = REAL(w);
    for (R_xlen_t i = 0; i < n; i++) {
        if ((i & (UMF_CHUNK - 1)) == 0) R_CheckUserInterrupt();
        if (!(wp[i] >= 0 && wp[i] < INFINITY)) Rf_error("'w' must be finite and non-negative");
    }
    const double lo = umf_as_double1(lo_, "lower"), deff = umf_as_double1(deff_, "deff");
    double hi = umf_as_double1(hi_, "upper");
    const int keep_total = umf_as_int1(keep_total_, "keep_total"), maxit = umf_as_int1(maxit_, "maxit");
    SEXP out = PROTECT(Rf_allocVector(REALSXP, n));
    double *o = REAL(out);
    int rounds = 0, status = 0;
    if (!ISNAN(deff)) {
        /* the largest upper bound whose trimming brings the design effect
         * to deff: bisection between the mean positive weight and hi */
        double s = 0, wmax = 0;
        R_xlen_t npos = 0;
        for (R_xlen_t i = 0; i < n; i++) {
            if ((i & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt();
            if (wp[i] > 0) { s += wp[i]; npos++; if (wp[i] > wmax) wmax = wp[i]; }
        }
        double a = npos > 0 ? s / npos : 0, b = hi < wmax ? hi : wmax;
        rounds = trim_run(wp, o, n, lo, b, keep_total, maxit);
        if (rounds >= 0 && kish_deff(o, n) > deff) {
            for (int it = 0; it < 200 && b - a > 1e-12 * b; it++) {
                double mid = (a + b) / 2;
                int r = trim_run(wp, o, n, lo, mid, keep_total, maxit);
                if (r >= 0 && kish_deff(o, n) <= deff) a = mid; else b = mid;
                R_CheckUserInterrupt();
            }
            hi = a;
        } else hi = b;
    }
    rounds = trim_run(wp, o, n, lo, hi, keep_total, maxit);
    if (rounds == -1) status = 1;
    if (rounds == -2) status = 2;
    const char *nm[] = {"weights", "rounds", "upper", "deff", "status"};
    SEXP ans = PROTECT(umf_named_list(nm, 5));
    SET_VECTOR_ELT(ans, 0, out);
    SET_VECTOR_ELT(ans, 1, Rf_ScalarInteger(rounds));
    SET_VECTOR_ELT(ans, 2, Rf_ScalarReal(hi));
    SET_VECTOR_ELT(ans, 3, Rf_ScalarReal(kish_deff(o, n)));
    SET_VECTOR_ELT(ans, 4, Rf_ScalarInteger(status));
    UNPROTECT(2);
    return ans;
}
