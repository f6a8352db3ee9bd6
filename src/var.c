/* Design-based inference for one block of a table (a row variable x one
 * column variable, all layers), from the per-(entry, layer, design unit)
 * sums of the C pass in tab.c.
 *
 * The entries of a block-layer are its K = nr * nc cells, nc column bases,
 * nr row bases and the block base (Kp = K + nc + nr + 1). Sigma (Kp x Kp)
 * is the design covariance of their weighted totals:
 *   clusters:     Sigma = sum_h s_h sum_{i in h} (T_i - c_h m_h)(T_i - c_h m_h)'
 *   rows as PSUs: Sigma = sum_h s_h [Q_h - c_h S_h S_h' / n_h]
 * with T_i the totals of PSU i, m_h their mean in stratum h, S_h the totals
 * of stratum h, Q_h = sum of w^2 z z' over its rows (from the cells' sums of
 * w^2 for single variables, given for MR sets), n_h its PSUs, s_h the
 * scale (1 - f_h) n_h / (n_h - 1) and c_h = 0 only for a lonely PSU under
 * "adjust". Calibrated weights come with Sigma computed in R (var.R).
 *
 * From Sigma and the totals, by linearisation of the percent p_t = Y_t /
 * X_t (X the total of its base entry): standard errors, design effects,
 * domain degrees of freedom, confidence intervals (as survey::svyciprop),
 * column-proportion letters (z tests with covariances, p-values adjusted
 * per row) and the Rao-Scott test of independence (as survey::svychisq). */
#include "umfrage.h"
#include <math.h>
#include <Rmath.h>
#include <R_ext/Lapack.h>

/* Element-wise loops vectorised (each element's arithmetic as in scalar
 * code, so the results are the same); GCC vectorises little at -O2. */
#ifdef _OPENMP
#define SIMD _Pragma("omp simd")
#else
#define SIMD
#endif

/* The steps of a block's layers (run_layers()) are compiled twice on x86-64
 * with GCC or clang, for the baseline (SSE2) and for AVX2, and the AVX2 copy
 * runs where the CPU has it: the same operations in the same order, four
 * lanes instead of two in the vectorised loops, and no fused multiply-add
 * (AVX2 does not imply FMA), so the results are the same bit for bit.
 * -DUMF_NO_AVX2 builds the baseline only. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(UMF_NO_AVX2)
#define UMF_AVX2 1
#endif

enum { CI_NONE = 0, CI_LOGIT, CI_WILSON, CI_WALD, CI_KG };
enum { ADJ_BONF = 0, ADJ_HOLM, ADJ_NONE };
enum { DES_CLUSTER = 0, DES_STRATA, DES_ONE };

static SEXP list_elt(SEXP l, const char *nm, const char *what)
{
    return umf_list_get(l, nm, what, true);
}

/* Lengths come as doubles: products of dims from arguments must not
 * overflow on their way to the check. */
static const double *real_arg(SEXP x, double len, const char *what)
{
    if (TYPEOF(x) != REALSXP || (double) XLENGTH(x) < len)
        Rf_error("'%s' must be a double vector of length at least %.0f", what, len);
    return REAL(x);
}

static const int *int_arg(SEXP x, double len, const char *what)
{
    if (TYPEOF(x) != INTSXP || (double) XLENGTH(x) < len)
        Rf_error("'%s' must be an integer vector of length at least %.0f", what, len);
    return INTEGER(x);
}

/* Work space shared by the blocks of one call (umf_arena, umfrage.h): a
 * bump allocator over one buffer sized for the largest block, reset per
 * block (falls back to R_alloc if a block needs more). */
static void *aalloc(umf_arena *a, size_t n, size_t size)
{
    size_t b = (n * size + 15) & ~(size_t) 15;
    if (a->used + b > a->cap) return R_alloc(n, size);
    void *p = a->base + a->used;
    a->used += b;
    return p;
}

/* Double centring of an nr x nc matrix x (column-major), restricted to
 * rows 2..nr and columns 2..nc: the products C'x with C the interaction
 * contrasts of the table, residualised on the main effects (what
 * svychisq() builds with model.matrix and qr.resid). */
static void dcentre(const double *x, int nr, int nc, double *rm, double *out)
{
    double g = 0;
    for (int r = 0; r < nr; r++) rm[r] = 0;
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) rm[r] += x[r + (size_t) nr * c];
    for (int r = 0; r < nr; r++) { g += rm[r]; rm[r] /= nc; }
    g /= (double) nr * nc;
    for (int c = 1; c < nc; c++) {
        double cm = 0;
        for (int r = 0; r < nr; r++) cm += x[r + (size_t) nr * c];
        cm /= nr;
        for (int r = 1; r < nr; r++)
            out[(r - 1) + (size_t) (nr - 1) * (c - 1)] = x[r + (size_t) nr * c] - rm[r] - cm + g;
    }
}

/* The fast traces' small system: A = [diag(row sums of v), v[, 2:nc2]; .,
 * diag(column sums of v[, 2:nc2])] (q x q, lower triangle), then its
 * Cholesky factor L (A = L L') in place. Returns 0 if A is not positive
 * definite. */
static int rs_system(const double *v, int nr2, int nc2, double *A)
{
    const int q = nr2 + nc2 - 1;
    memset(A, 0, (size_t) q * q * sizeof(double));
    for (int c = 0; c < nc2; c++)
        for (int r = 0; r < nr2; r++) {
            double x = v[r + nr2 * c];
            A[r + (size_t) q * r] += x;
            if (c > 0) {
                int j = nr2 + c - 1;
                A[j + (size_t) q * j] += x;
                A[j + (size_t) q * r] = x;      /* lower triangle */
            }
        }
    for (int j = 0; j < q; j++) {
        double d = A[j + (size_t) q * j];
        for (int k = 0; k < j; k++) d -= A[j + (size_t) q * k] * A[j + (size_t) q * k];
        if (!(d > 0)) return 0;
        d = sqrt(d);
        A[j + (size_t) q * j] = d;
        for (int i = j + 1; i < q; i++) {
            double s = A[i + (size_t) q * j];
            for (int k = 0; k < j; k++) s -= A[i + (size_t) q * k] * A[j + (size_t) q * k];
            A[i + (size_t) q * j] = s / d;
        }
    }
    return 1;
}

/* Solve L L' Z = Z in place for the n columns of Z, stored by rows (q rows
 * of n): row by row, so that the n right-hand sides go side by side. */
static void chol_solve_rows(const double *L, int q, double *Z, int n)
{
    for (int i = 0; i < q; i++) {                  /* L u = z */
        double *restrict zi = Z + (size_t) n * i;
        for (int k = 0; k < i; k++) {
            const double a = L[i + (size_t) q * k], *zk = Z + (size_t) n * k;
            SIMD for (int l = 0; l < n; l++) zi[l] -= a * zk[l];
        }
        const double d = L[i + (size_t) q * i];
        SIMD for (int l = 0; l < n; l++) zi[l] /= d;
    }
    for (int i = q - 1; i >= 0; i--) {             /* L' x = u */
        double *restrict zi = Z + (size_t) n * i;
        for (int k = i + 1; k < q; k++) {
            const double a = L[k + (size_t) q * i], *zk = Z + (size_t) n * k;
            SIMD for (int l = 0; l < n; l++) zi[l] -= a * zk[l];
        }
        const double d = L[i + (size_t) q * i];
        SIMD for (int l = 0; l < n; l++) zi[l] /= d;
    }
}

/* tr(Delta) and tr(Delta^2) of the Rao-Scott design-effect matrix Delta =
 * (C'WC)^-1 C'UC without forming it, where C spans the interaction space
 * I of the kept nr2 x nc2 table (row and column sums zero), W = diag(idv /
 * N) and U = diag(idv) V diag(idv). With G = C (C'WC)^-1 C', tr(Delta) =
 * tr(GU) and tr(Delta^2) = tr(GUGU). G y is the x in I with Wx - y in the
 * main-effects space: x_rc = v_rc (y_rc + a_r + b_c), v = 1 / diag(W), with
 * a, b (b_1 = 0) from a small (q = nr2 + nc2 - 1) positive definite system
 * that makes the row and column sums of x zero, solved for all columns of
 * U at once. Cost O(K2^2 q) instead of O(m^3), m = (nr2 - 1)(nc2 - 1).
 * Needs every kept cell to have positive weight (W finite); returns 0
 * otherwise or if the system is not positive definite. */
static inline __attribute__((always_inline)) int rs_traces_fast(const double *w, const int *idx, const double *idv, const double *V,
                          int K, int nr2, int nc2, double X, double N, umf_arena *ar,
                          double *tr, double *tr2)
{
    const int K2 = nr2 * nc2, q = nr2 + nc2 - 1;
    double *v = (double *) aalloc(ar, K2, sizeof(double));
    for (int k = 0; k < K2; k++) {
        if (!(idv[k] > 0)) return 0;
        v[k] = N * w[idx[k]] / X;
    }
    double *A = (double *) aalloc(ar, (size_t) q * q, sizeof(double));
    if (!rs_system(v, nr2, nc2, A)) return 0;
    /* U by rows (row k: U[k, l] for all l), then Z = -(a, b) sums of v U */
    double *U = (double *) aalloc(ar, (size_t) K2 * K2, sizeof(double));
    double *Z = (double *) aalloc(ar, (size_t) q * K2, sizeof(double));
    for (int k = 0; k < K2; k++)
        for (int l = 0; l < K2; l++)
            U[(size_t) K2 * k + l] = idv[k] * V[idx[k] + (size_t) K * idx[l]] * idv[l];
    memset(Z, 0, (size_t) q * K2 * sizeof(double));
    for (int c = 0; c < nc2; c++)
        for (int r = 0; r < nr2; r++) {
            const int k = r + nr2 * c;
            const double *restrict uk = U + (size_t) K2 * k;
            double *restrict za = Z + (size_t) K2 * r;
            SIMD for (int l = 0; l < K2; l++) za[l] += -v[k] * uk[l];
            if (c == 0) continue;
            double *restrict zb = Z + (size_t) K2 * (nr2 + c - 1);
            SIMD for (int l = 0; l < K2; l++) zb[l] += -v[k] * uk[l];
        }
    chol_solve_rows(A, q, Z, K2);
    /* GU by rows: GU[k, l] = v_k (U[k, l] + a_r + b_c) for k = (r, c) */
    for (int c = 0; c < nc2; c++)
        for (int r = 0; r < nr2; r++) {
            const int k = r + nr2 * c;
            double *restrict gk = U + (size_t) K2 * k;
            const double *restrict za = Z + (size_t) K2 * r, *zb = Z + (size_t) K2 * (nr2 + c - 1);
            if (c > 0) {
                SIMD for (int l = 0; l < K2; l++) gk[l] = v[k] * (gk[l] + za[l] + zb[l]);
            } else {
                SIMD for (int l = 0; l < K2; l++) gk[l] = v[k] * (gk[l] + za[l] + 0);
            }
        }
    double t1 = 0, t2 = 0;
    for (int l = 0; l < K2; l++) {
        t1 += U[(size_t) K2 * l + l];
        for (int k = 0; k < K2; k++) t2 += U[(size_t) K2 * k + l] * U[(size_t) K2 * l + k];
    }
    *tr = t1;
    *tr2 = t2;
    return 1;
}

/* The same traces from Delta = (C'WC)^-1 C'UC formed densely (O(m^3)), for
 * tables with a cell without weight. Returns 0 if C'WC is singular. */
static int rs_traces_dense(const int *idx, const double *idv, const double *V, int K, int nr2,
                           int nc2, double N, double *tr, double *tr2)
{
    const int K2 = nr2 * nc2, m = (nr2 - 1) * (nc2 - 1);
    double *rm = (double *) R_alloc(nr2, sizeof(double));
    double *col = (double *) R_alloc(K2, sizeof(double));
    /* numerator C' D V D C (D = diag(idv)): double-centre the columns of
     * D V D, then the rows of the result */
    double *A = (double *) R_alloc((size_t) m * K2, sizeof(double));     /* m x K2 */
    for (int k = 0; k < K2; k++) {
        for (int l = 0; l < K2; l++)
            col[l] = idv[l] * V[idx[l] + (size_t) K * idx[k]] * idv[k];
        dcentre(col, nr2, nc2, rm, A + (size_t) m * k);
    }
    double *numr = (double *) R_alloc((size_t) m * m, sizeof(double));
    double *row = (double *) R_alloc(m, sizeof(double));
    for (int i = 0; i < m; i++) {
        for (int k = 0; k < K2; k++) col[k] = A[i + (size_t) m * k];
        dcentre(col, nr2, nc2, rm, row);
        for (int j = 0; j < m; j++) numr[i + (size_t) m * j] = row[j];
    }
    /* denominator C' diag(idv / N) C: column (i, j) of C is the outer
     * product of (e_i - 1/nr) and (e_j - 1/nc) */
    double *denom = (double *) R_alloc((size_t) m * m, sizeof(double));
    for (int j = 1; j < nc2; j++)
        for (int i = 1; i < nr2; i++) {
            for (int c = 0; c < nc2; c++)
                for (int r = 0; r < nr2; r++)
                    col[r + nr2 * c] = ((r == i) - 1.0 / nr2) * ((c == j) - 1.0 / nc2) *
                        idv[r + nr2 * c] / N;
            dcentre(col, nr2, nc2, rm, denom + (size_t) m * ((i - 1) + (nr2 - 1) * (j - 1)));
        }
    /* Delta = denom^-1 numr */
    int *ipiv = (int *) R_alloc(m, sizeof(int)), info = 0, mm = m;
    F77_CALL(dgesv)(&mm, &mm, denom, &mm, ipiv, numr, &mm, &info);
    if (info != 0) return 0;               /* singular: no test */
    double t1 = 0, t2 = 0;
    for (int i = 0; i < m; i++) {
        t1 += numr[i + (size_t) m * i];
        for (int j = 0; j < m; j++) t2 += numr[i + (size_t) m * j] * numr[j + (size_t) m * i];
    }
    *tr = t1;
    *tr2 = t2;
    return 1;
}

/* The rows (kr) and columns (kc) of an nr x nc table of counts n with any
 * rows; returns their numbers in nr2, nc2. */
static void kept_margins(const double *n, int nr, int nc, int *kr, int *kc, int *nr2, int *nc2)
{
    *nr2 = *nc2 = 0;
    for (int r = 0; r < nr; r++) {
        double s = 0;
        for (int c = 0; c < nc; c++) s += n[r + (size_t) nr * c];
        if (s > 0) kr[(*nr2)++] = r;
    }
    for (int c = 0; c < nc; c++) {
        double s = 0;
        for (int r = 0; r < nr; r++) s += n[r + (size_t) nr * c];
        if (s > 0) kc[(*nc2)++] = c;
    }
}

/* Pearson's X^2 of the kept cells w[idx] (nr2 x nc2, total X) scaled to N. */
static double pearson_x2(const double *w, const int *idx, int nr2, int nc2, double X, double N,
                         umf_arena *ar)
{
    double X2 = 0, *rm = (double *) aalloc(ar, nr2, sizeof(double));
    for (int r = 0; r < nr2; r++) rm[r] = 0;
    for (int c = 0; c < nc2; c++)
        for (int r = 0; r < nr2; r++) rm[r] += w[idx[r + nr2 * c]] * N / X;
    for (int c = 0; c < nc2; c++) {
        double cs = 0;
        for (int r = 0; r < nr2; r++) cs += w[idx[r + nr2 * c]] * N / X;
        for (int r = 0; r < nr2; r++) {
            double O = w[idx[r + nr2 * c]] * N / X, E = rm[r] * cs / N;
            X2 += (O - E) * (O - E) / E;
        }
    }
    return X2;
}

/* Rao-Scott test of one block-layer. w, n: weighted and unweighted cell
 * totals (nr x nc); V: K x K covariance of the joint proportions; N: rows
 * of the layer; nu: its design df; stat: 1 = F, 2 = Chisq. out: statistic,
 * ndf, ddf, p-value (NA where the test does not apply). Rows and columns
 * without rows are left out. Work space from ar (rs_need() bytes). */
static void rao_scott(const double *w, const double *n, const double *V, int nr, int nc,
                      double N, double nu, int stat, umf_arena *ar, double *out)
{
    const int K = nr * nc;
    out[0] = out[1] = out[2] = out[3] = NA_REAL;
    int *kr = (int *) aalloc(ar, nr, sizeof(int)), *kc = (int *) aalloc(ar, nc, sizeof(int));
    int nr2, nc2;
    kept_margins(n, nr, nc, kr, kc, &nr2, &nc2);
    if (nr2 < 2 || nc2 < 2) return;
    const int K2 = nr2 * nc2, m = (nr2 - 1) * (nc2 - 1);
    int *idx = (int *) aalloc(ar, K2, sizeof(int));
    double X = 0;
    for (int c = 0; c < nc2; c++)
        for (int r = 0; r < nr2; r++) {
            idx[r + nr2 * c] = kr[r] + nr * kc[c];
            X += w[kr[r] + nr * kc[c]];
        }
    if (!(X > 0)) return;
    double *idv = (double *) aalloc(ar, K2, sizeof(double));
    for (int k = 0; k < K2; k++) {
        double mean2 = w[idx[k]] / X;
        idv[k] = mean2 == 0 ? 0 : 1 / mean2;
    }
    double tr = 0, tr2 = 0;
    if (!rs_traces_fast(w, idx, idv, V, K, nr2, nc2, X, N, ar, &tr, &tr2) &&
        !rs_traces_dense(idx, idv, V, K, nr2, nc2, N, &tr, &tr2))
        return;
    const double X2 = pearson_x2(w, idx, nr2, nc2, X, N, ar);
    if (stat == 1) {
        double d0 = tr * tr / tr2, F = X2 / tr;
        out[0] = F; out[1] = d0; out[2] = d0 * nu;
        out[3] = Rf_pf(F, d0, d0 * nu, 0, 0);
    } else {
        out[0] = X2; out[1] = m;
        out[3] = Rf_pchisq(X2 / (tr / m), m, 0, 0);
    }
}

/* Adjusted p-values of one row's pairs (NA kept, not counted). */
static void p_adjust(double *p, int k, int method, int *ord)
{
    int m = 0;
    for (int i = 0; i < k; i++) if (!ISNAN(p[i])) ord[m++] = i;
    if (method == ADJ_NONE || m == 0) return;
    if (method == ADJ_BONF) {
        for (int i = 0; i < m; i++) p[ord[i]] = fmin2(1, p[ord[i]] * m);
        return;
    }
    /* Holm: sort ascending (stable insertion sort: rows are short) */
    for (int i = 1; i < m; i++) {
        int v = ord[i], j = i - 1;
        while (j >= 0 && p[ord[j]] > p[v]) { ord[j + 1] = ord[j]; j--; }
        ord[j + 1] = v;
    }
    double run = 0;
    for (int i = 0; i < m; i++) {
        double a = (m - i) * p[ord[i]];
        if (a > run) run = a;
        p[ord[i]] = fmin2(1, run);
    }
}

/* The quantiles of the intervals of a block, kept from cell to cell (the
 * df of most cells of a block are the same): t at the last df, and
 * Korn-Graubard's ratio at the last (rows, df). NaN keys: none yet. */
typedef struct { double df, tq, kg_nn, kg_df, kg_r; } ci_cache;

static void ci_cache_init(ci_cache *cc)
{
    cc->df = cc->kg_nn = cc->kg_df = R_NaN;
    cc->tq = cc->kg_r = 0;
}

static double cached_qt(ci_cache *cc, double q, double df)
{
    if (!(df == cc->df)) {
        cc->tq = Rf_qt(q, df, 1, 0);
        cc->df = df;
    }
    return cc->tq;
}

/* Confidence interval of a proportion p with variance v, df and rows nn. */
static void prop_ci(double p, double v, double df, double nn, int method, double level,
                    ci_cache *cc, double *lo, double *hi)
{
    *lo = *hi = NA_REAL;
    if (ISNAN(p) || ISNAN(v) || method == CI_NONE) return;
    const double alpha = 1 - level;
    if (ISNAN(df) || df < 1) df = R_PosInf;
    if (p <= 0 || p >= 1 || v <= 0) {
        /* no variance: exact binomial bounds on the domain's rows */
        double n1 = nn > 1 ? nn : 1;
        *lo = p <= 0 ? 0 : Rf_qbeta(alpha / 2, p * n1, (1 - p) * n1 + 1, 1, 0);
        *hi = p >= 1 ? 1 : Rf_qbeta(1 - alpha / 2, p * n1 + 1, (1 - p) * n1, 1, 0);
        return;
    }
    if (method == CI_LOGIT) {
        double se = sqrt(v) / (p * (1 - p)), l = log(p / (1 - p));
        double tq = cached_qt(cc, 1 - alpha / 2, df);
        *lo = Rf_plogis(l - tq * se, 0, 1, 1, 0);
        *hi = Rf_plogis(l + tq * se, 0, 1, 1, 0);
    } else if (method == CI_WALD) {
        double tq = cached_qt(cc, 1 - alpha / 2, df);
        *lo = fmax2(p - tq * sqrt(v), 0);
        *hi = fmin2(p + tq * sqrt(v), 1);
    } else if (method == CI_WILSON) {
        double ne = p * (1 - p) / v, z = Rf_qnorm5(1 - alpha / 2, 0, 1, 1, 0), z2 = z * z;
        double ctr = (p + z2 / (2 * ne)) / (1 + z2 / ne);
        double half = z / (1 + z2 / ne) * sqrt(p * (1 - p) / ne + z2 / (4 * ne * ne));
        *lo = ctr - half;
        *hi = ctr + half;
    } else {
        double ne = p * (1 - p) / v;
        if (!(nn == cc->kg_nn && df == cc->kg_df)) {
            cc->kg_r = Rf_qt(alpha / 2, nn - 1, 1, 0) / Rf_qt(alpha / 2, df, 1, 0);
            cc->kg_nn = nn;
            cc->kg_df = df;
        }
        double r = cc->kg_r;
        ne *= r * r;
        *lo = Rf_qbeta(alpha / 2, ne * p, ne * (1 - p) + 1, 1, 0);
        *hi = Rf_qbeta(1 - alpha / 2, ne * p + 1, ne * (1 - p), 1, 0);
    }
}

/* S += sum over units u of sc[u] y_u y_u' over the first k entries of the
 * columns (length ld) of y; S has leading dimension ld; lower triangle
 * only, four units at a time. */
static inline __attribute__((always_inline)) void
gram_body(const double *restrict y, const double *restrict sc, int k, int ld, int D,
          double *restrict S)
{
    const int Kp = ld;
    int u = 0;
    for (; u + 4 <= D; u += 4) {
        const double *y0 = y + (size_t) Kp * u, *y1 = y0 + Kp, *y2 = y1 + Kp, *y3 = y2 + Kp;
        int j = 0;
        /* two columns of S at a time share the loads of y */
        for (; j + 2 <= k; j += 2) {
            double a0 = sc[u] * y0[j], a1 = sc[u + 1] * y1[j], a2 = sc[u + 2] * y2[j],
                a3 = sc[u + 3] * y3[j];
            double b0 = sc[u] * y0[j + 1], b1 = sc[u + 1] * y1[j + 1], b2 = sc[u + 2] * y2[j + 1],
                b3 = sc[u + 3] * y3[j + 1];
            double *Sj = S + (size_t) Kp * j, *Sj1 = Sj + Kp;
            Sj[j] += a0 * y0[j] + a1 * y1[j] + a2 * y2[j] + a3 * y3[j];
            SIMD
            for (int i = j + 1; i < k; i++) {
                Sj[i] += a0 * y0[i] + a1 * y1[i] + a2 * y2[i] + a3 * y3[i];
                Sj1[i] += b0 * y0[i] + b1 * y1[i] + b2 * y2[i] + b3 * y3[i];
            }
        }
        for (; j < k; j++) {
            double a0 = sc[u] * y0[j], a1 = sc[u + 1] * y1[j], a2 = sc[u + 2] * y2[j],
                a3 = sc[u + 3] * y3[j];
            double *Sj = S + (size_t) Kp * j;
            for (int i = j; i < k; i++) Sj[i] += a0 * y0[i] + a1 * y1[i] + a2 * y2[i] + a3 * y3[i];
        }
    }
    for (; u < D; u++) {
        const double *y0 = y + (size_t) Kp * u;
        for (int j = 0; j < k; j++) {
            double a0 = sc[u] * y0[j];
            double *Sj = S + (size_t) Kp * j;
            for (int i = j; i < k; i++) Sj[i] += a0 * y0[i];
        }
    }
}

static void gram_lower(const double *restrict y, const double *restrict sc, int k, int ld,
                       int D, double *restrict S)
{
    gram_body(y, sc, k, ld, D, S);
}

/* The bases of the entry vectors (K cells, then nc column bases, nr row
 * bases, the block base; leading dimension ld) of n units from their
 * cells: each a sum over its cells in the cells' order. Eight units at a
 * time, so that their sums do not wait on each other. */
#define SB_STEP(expr_t, dst)                                                    \
    do {                                                                        \
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;  \
        expr_t {                                                                \
            s0 += y0[t]; s1 += y1[t]; s2 += y2[t]; s3 += y3[t];                 \
            s4 += y4[t]; s5 += y5[t]; s6 += y6[t]; s7 += y7[t];                 \
        }                                                                       \
        y0[dst] = s0; y1[dst] = s1; y2[dst] = s2; y3[dst] = s3;                 \
        y4[dst] = s4; y5[dst] = s5; y6[dst] = s6; y7[dst] = s7;                 \
    } while (0)

static void sum_bases(double *y, int ld, int n, int nr, int nc)
{
    const int K = nr * nc;
    int u = 0;
    for (; u + 8 <= n; u += 8) {
        double *y0 = y + (size_t) ld * u, *y1 = y0 + ld, *y2 = y1 + ld, *y3 = y2 + ld,
            *y4 = y3 + ld, *y5 = y4 + ld, *y6 = y5 + ld, *y7 = y6 + ld;
        for (int c = 0; c < nc; c++)
            SB_STEP(for (int t = nr * c; t < nr * (c + 1); t++), K + c);
        for (int r = 0; r < nr; r++)
            SB_STEP(for (int t = r; t < K; t += nr), K + nc + r);
        SB_STEP(for (int t = 0; t < K; t++), ld - 1);
    }
    for (; u < n; u++) {
        double *y0 = y + (size_t) ld * u;
        for (int c = 0; c < nc; c++) {
            double s0 = 0;
            for (int t = nr * c; t < nr * (c + 1); t++) s0 += y0[t];
            y0[K + c] = s0;
        }
        for (int r = 0; r < nr; r++) {
            double s0 = 0;
            for (int t = r; t < K; t += nr) s0 += y0[t];
            y0[K + nc + r] = s0;
        }
        double a0 = 0;
        for (int t = 0; t < K; t++) a0 += y0[t];
        y0[ld - 1] = a0;
    }
}
#undef SB_STEP

/* Complete Sigma (lower triangle given for the K cells) where every base
 * entry is the sum of its cells: column base c of the cells (., c), row
 * base r of (r, .), the block base of all. Fills the lower triangle. */
static void bases_from_cells(double *S, int nr, int nc)
{
    const int K = nr * nc, Kp = K + nc + nr + 1, nbase = nc + nr + 1;
    for (int j = 0; j < K; j++)            /* cells: full columns */
        for (int i = 0; i < j; i++) S[i + (size_t) Kp * j] = S[j + (size_t) Kp * i];
    /* rows of the bases against every cell column x (S[base, x]) */
    sum_bases(S, Kp, K, nr, nc);
    /* base x base: S[a, b] = sum over the cells t of b of S[a, t], for the
     * rows a of the bases side by side */
    double *cb = S + (size_t) Kp * K + K;  /* S[K.., K..] */
    for (int b = 0; b < nbase; b++) {
        double *cbb = cb + (size_t) Kp * b;
        for (int a = 0; a < nbase; a++) cbb[a] = 0;
    }
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) {
            const double *restrict st = S + (size_t) Kp * (r + nr * c) + K;
            double *restrict col = cb + (size_t) Kp * c, *restrict row = cb + (size_t) Kp * (nc + r),
                *restrict all = cb + (size_t) Kp * (nc + nr);
            SIMD for (int a = 0; a < nbase; a++) {
                col[a] += st[a];
                row[a] += st[a];
                all[a] += st[a];
            }
        }
}

/* Bytes of work space rao_scott() takes for an nr x nc table (its fast
 * path; the dense one, for tables with a cell without weight, allocates). */
static double rs_need(double nr, double nc)
{
    double K = nr * nc, q = nr + nc - 1;
    return 8 * (K * K + q * K + q * q + 2 * K + nr) + 4 * (nr + nc + K) + 16 * 9;
}

/* Bytes of work space block_one() takes for a block. */
size_t umf_block_need(double nr, double nc, double D, double nd, double H, size_t lablen)
{
    double K = nr * nc, Kp = K + nc + nr + 1, np = nc * (nc - 1) / 2 + 1;
    double d = 8 * (Kp * Kp + Kp * D + 2 * Kp * nd + 4 * Kp + (nd > H ? nd : H) + 2 * Kp * H +
                    4 * K + Kp + 2 * np + K * K + 2 * K) +
        4 * (K + np) + K * nc + (double) lablen + nc + 1 + 16 * 27 + rs_need(nr, nc);
    return (size_t) d;
}

/* ---- one block: its inputs -------------------------------------------------
 *
 * block_one() below reads its design, options and sums into these structs,
 * then runs the steps of each layer on one work space. */

/* The design (see block_one()). */
typedef struct {
    int mode, H;
    const int *ustr;                  /* stratum of each design unit, 1-based */
    const double *scale, *nh;         /* per stratum */
    const int *center;
} blk_design;

/* The options, as codes (inf_options() in var.R). deff: 0 p(1-p)/n, 1
 * survey's deff = "replace", 2 survey's deff = TRUE (without replacement
 * from the estimated population); wscale: the factor the weights were
 * scaled by (for that population); min_base: a column whose unweighted base
 * (rows, of any weight) is below it takes no part in the letters. */
typedef struct {
    int percent, ci, letters, adjust, deff;
    double level, alpha, kg_rows, wscale, min_base;
} blk_options;

/* A block: its shape and sums, and the work space of one layer. */
typedef struct {
    int nr, nc, nb, ng, nd, K, Kp, D, npair, test;
    bool single, do_test, haspos, sep;
    const umf_blocksrc *src;
    const double *sig, *qa;           /* Sigma (calibration), Q (MR sets, rows as PSUs) */
    SEXP labels;
    double *S;                        /* Kp x Kp: covariance of the entries' totals */
    double *Y;                        /* Kp x D: sums of w per unit */
    double *cnt, *cntp;               /* Kp x nd: rows (of positive weight) per design unit */
    double *Tz, *Nz, *Nzp;            /* per entry: total, rows, rows of positive weight */
    double *units, *dfe;              /* per entry: PSUs (rows) of positive weight, df */
    double *uscale, *mean;            /* per unit: scale; Kp x H: stratum means or totals */
    double *seenh;                    /* Kp x H */
    double *p, *X, *mag, *vp;         /* per cell: percent, its base, size of vp's terms, Var p */
    int *base;                        /* per cell: its base entry */
    double *pv, *dd;                  /* per pair of columns: p-value, difference */
    int *ord;
    char *flag;                       /* K x nc: cell t gets the letter of column c */
    double *Vj, *wcell, *ncell;       /* the Rao-Scott test's covariance and cells */
    char *buf;                        /* the letters of one cell */
    umf_arena *ar;                    /* the rest of the arena: the test's work space */
} blk;

/* The result of a block and its double columns (block_one()). */
typedef struct { SEXP ans, let; double *o[11]; } blk_result;

#define SG(i, j) k->S[(i) + (size_t) k->Kp * (j)]

static blk_design read_design(SEXP des, int nd)
{
    blk_design g;
    g.mode = umf_as_int1(list_elt(des, "mode", "des"), "mode");
    g.ustr = int_arg(list_elt(des, "stratum", "des"), nd, "stratum");
    SEXP sc = list_elt(des, "scale", "des");
    g.H = (int) XLENGTH(sc);
    g.scale = real_arg(sc, g.H, "scale");
    g.center = int_arg(list_elt(des, "center", "des"), g.H, "center");
    g.nh = real_arg(list_elt(des, "nh", "des"), g.H, "nh");
    for (int d = 0; d < nd; d++)
        if (g.ustr[d] < 1 || g.ustr[d] > g.H) Rf_error("'stratum' out of range");
    if (g.mode != DES_CLUSTER && nd != g.H) Rf_error("rows as PSUs need one design unit per stratum");
    return g;
}

static double opt_double(SEXP opt, const char *nm, double dflt)
{
    SEXP x = umf_list_get(opt, nm, "opt", false);
    return Rf_isNull(x) ? dflt : umf_as_double1(x, nm);
}

static blk_options read_options(SEXP opt)
{
    blk_options o;
    o.percent = umf_as_int1(list_elt(opt, "percent", "opt"), "percent");
    o.ci = umf_as_int1(list_elt(opt, "ci", "opt"), "ci");
    o.level = umf_as_double1(list_elt(opt, "level", "opt"), "level");
    o.letters = umf_as_int1(list_elt(opt, "letters", "opt"), "letters");
    o.alpha = umf_as_double1(list_elt(opt, "alpha", "opt"), "alpha");
    o.adjust = umf_as_int1(list_elt(opt, "adjust", "opt"), "adjust");
    o.kg_rows = umf_as_double1(list_elt(opt, "kg_rows", "opt"), "kg_rows");
    SEXP deff = umf_list_get(opt, "deff", "opt", false);
    o.deff = Rf_isNull(deff) ? 0 : umf_as_int1(deff, "deff");
    o.wscale = opt_double(opt, "wscale", 1);
    if (o.deff < 0 || o.deff > 2 || !(o.wscale > 0)) Rf_error("'deff' or 'wscale' out of range");
    o.min_base = opt_double(opt, "min_base", 0);
    if (!(o.min_base >= 0) || !R_FINITE(o.min_base)) Rf_error("'min_base' out of range");
    return o;
}

/* The shape of a block from dims (nr, nc, nb, ng, nd), checked. */
static void block_shape(blk *k, const umf_blocksrc *src, const int *dm, int single, int test)
{
    memset(k, 0, sizeof *k);
    const int nr = dm[0], nc = dm[1], nb = dm[2], ng = dm[3], nd = dm[4];
    if (nr < 1 || nc < 1 || nb < 1 || ng < 1 || nd < 1) Rf_error("'dims' must be positive");
    if (((double) nr * nc + nr + nc + 1) * ((double) nr * nc + nr + nc + 1) > UMF_FREE_CELLS ||
        (double) ng * nd > INT_MAX)
        Rf_error("'dims' describe a block too large for inference");
    k->nr = nr; k->nc = nc; k->nb = nb; k->ng = ng; k->nd = nd;
    k->K = nr * nc;
    k->Kp = k->K + nc + nr + 1;
    k->D = ng * nd;                   /* units of the pass */
    k->src = src;
    k->single = single != 0;
    k->test = test;
    if (src->cells3 && !single) Rf_error("internal: a cells-only source needs single variables");
}

/* The labels, Sigma and Q of a block, checked against its shape. */
static void block_inputs(blk *k, const blk_design *g, SEXP labels, SEXP sigma, SEXP qarr)
{
    const int Kp = k->Kp;
    if (TYPEOF(labels) != STRSXP || XLENGTH(labels) < k->nc) Rf_error("'labels' must name every column");
    k->labels = labels;
    if (!Rf_isNull(sigma)) k->sig = real_arg(sigma, (double) Kp * Kp * k->nb, "sigma");
    if (!Rf_isNull(qarr)) k->qa = real_arg(qarr, (double) Kp * Kp * k->nb * g->H, "qarr");
    if (!k->sig) {
        if (k->ng != 1) Rf_error("calibrated weights need 'sigma'");
        if (g->mode != DES_CLUSTER && !k->single && !k->qa)
            Rf_error("MR sets without clusters need 'qarr'");
    }
}

/* The result: per cell and layer se_n_w, se, ci_low, ci_high, deff, df,
 * letters, and the layer's statistic, ndf, ddf, p_value. Unprotected. */
static blk_result new_result(int K, int nb)
{
    const char *nm[] = {"se_n_w", "se", "ci_low", "ci_high", "deff", "df", "letters",
                        "statistic", "ndf", "ddf", "p_value"};
    blk_result r;
    r.ans = PROTECT(umf_named_list(nm, 11));
    const R_xlen_t KB = (R_xlen_t) K * nb;
    for (int f = 0; f < 11; f++) {
        r.o[f] = NULL;
        if (f == 6) continue;
        SET_VECTOR_ELT(r.ans, f, Rf_allocVector(REALSXP, KB));
        r.o[f] = REAL(VECTOR_ELT(r.ans, f));
    }
    r.let = Rf_allocVector(STRSXP, KB);
    SET_VECTOR_ELT(r.ans, 6, r.let);
    UNPROTECT(1);
    return r;
}

/* The work space of one layer, from the arena (sizes: umf_block_need()). */
static void block_work(blk *k, const blk_design *g, umf_arena *ar)
{
    const int K = k->K, Kp = k->Kp, nd = k->nd, H = g->H, nc = k->nc;
    k->S = (double *) aalloc(ar, (size_t) Kp * Kp, sizeof(double));
    k->Y = (double *) aalloc(ar, (size_t) Kp * k->D, sizeof(double));
    k->cnt = (double *) aalloc(ar, (size_t) Kp * nd, sizeof(double));
    k->Tz = (double *) aalloc(ar, Kp, sizeof(double));
    k->Nz = (double *) aalloc(ar, Kp, sizeof(double));
    /* rows with positive weight per design unit, their totals, and the
     * PSUs (rows as PSUs: rows) with positive weight of each entry: a row
     * of weight 0 is out of the sample for df, design effects and letters,
     * as in survey's degf() and svymean(deff =) */
    k->haspos = !k->src->cells3 && k->src->pos[0];
    k->cntp = k->haspos ? (double *) aalloc(ar, (size_t) Kp * nd, sizeof(double)) : k->cnt;
    k->Nzp = (double *) aalloc(ar, Kp, sizeof(double));
    k->units = (double *) aalloc(ar, Kp, sizeof(double));
    k->uscale = (double *) aalloc(ar, nd, sizeof(double));
    k->mean = (double *) aalloc(ar, (size_t) Kp * H, sizeof(double));
    k->p = (double *) aalloc(ar, K, sizeof(double));
    k->X = (double *) aalloc(ar, K, sizeof(double));
    k->mag = (double *) aalloc(ar, K, sizeof(double));
    k->vp = (double *) aalloc(ar, K, sizeof(double));
    k->dfe = (double *) aalloc(ar, Kp, sizeof(double));
    k->base = (int *) aalloc(ar, K, sizeof(int));
    k->seenh = (double *) aalloc(ar, (size_t) Kp * H, sizeof(double));
    k->npair = nc * (nc - 1) / 2;
    const int np = k->npair > 0 ? k->npair : 1;
    k->pv = (double *) aalloc(ar, np, sizeof(double));
    k->dd = (double *) aalloc(ar, np, sizeof(double));
    k->ord = (int *) aalloc(ar, np, sizeof(int));
    k->flag = (char *) aalloc(ar, (size_t) K * nc, sizeof(char));
    k->do_test = k->single && k->test > 0 && nc > 1;
    k->Vj = k->do_test ? (double *) aalloc(ar, (size_t) K * K, sizeof(double)) : NULL;
    k->wcell = (double *) aalloc(ar, K, sizeof(double));
    k->ncell = (double *) aalloc(ar, K, sizeof(double));
    size_t lablen = 0;
    k->sep = false;                   /* labels of several characters: comma-separated */
    for (int c = 0; c < nc; c++) {
        size_t l = strlen(CHAR(STRING_ELT(k->labels, c)));
        lablen += l;
        if (l != 1) k->sep = true;
    }
    k->buf = (char *) aalloc(ar, lablen + nc + 1, sizeof(char));
    k->ar = ar;
}

/* ---- one block: the steps of a layer ---------------------------------------- */

/* Interleaved (n, w, w^2) per cell and unit (tab.c's fused pass): the
 * bases are sums of cells. */
static void gather_cells3(blk *k, int b)
{
    const int K = k->K, Kp = k->Kp, nb = k->nb, ng = k->ng;
    for (int u = 0; u < k->D; u++) {
        const double *c3 = k->src->cells3 + 3 * (size_t) K * (b + (size_t) nb * u);
        double *restrict yu = k->Y + (size_t) Kp * u, *restrict cu = k->cnt + (size_t) Kp * (u / ng);
        SIMD for (int t = 0; t < K; t++) {
            cu[t] += c3[3 * t];
            yu[t] = c3[3 * t + 1];
        }
    }
    /* the counts are whole numbers: their sums are exact in any order */
    sum_bases(k->Y, Kp, k->D, k->nr, k->nc);
    sum_bases(k->cnt, Kp, k->nd, k->nr, k->nc);
}

/* The four part matrices (cells, column bases, row bases, block base) of
 * 3 columns (n, w, w^2), rows (entry, layer, unit), and the rows of
 * positive weight where given. */
static void gather_parts(blk *k, int b)
{
    const int K = k->K, nr = k->nr, nc = k->nc, Kp = k->Kp, nb = k->nb, ng = k->ng;
    const int part_k[4] = {K, nc, nr, 1}, part_off[4] = {0, K, K + nc, K + nc + nr};
    const umf_blocksrc *src = k->src;
    for (int s = 0; s < 4; s++) {
        const int m = part_k[s];
        const R_xlen_t len = src->part_len[s];
        for (int u = 0; u < k->D; u++) {
            const double *x = src->part[s] + (size_t) m * (b + (size_t) nb * u);
            double *yu = k->Y + (size_t) Kp * u + part_off[s];
            double *cu = k->cnt + (size_t) Kp * (u / ng) + part_off[s];
            for (int e = 0; e < m; e++) {
                cu[e] += x[e];
                yu[e] = x[e + len];
            }
            if (k->haspos) {
                const double *ps = src->pos[s] + (size_t) m * (b + (size_t) nb * u);
                double *cp = k->cntp + (size_t) Kp * (u / ng) + part_off[s];
                for (int e = 0; e < m; e++) cp[e] += ps[e];
            }
        }
    }
}

/* Layer b's sums of w per unit (Y) and rows per design unit (cnt, cntp),
 * then the entries' totals (Tz), rows (Nz, Nzp) and units of positive
 * weight. */
static void gather_layer(blk *k, int b)
{
    const int Kp = k->Kp, nd = k->nd;
    memset(k->cnt, 0, (size_t) Kp * nd * sizeof(double));
    if (k->haspos) memset(k->cntp, 0, (size_t) Kp * nd * sizeof(double));
    if (k->src->cells3) gather_cells3(k, b);
    else gather_parts(k, b);
}

/* One pass over the design units of a layer: the entries' totals (Tz),
 * rows (Nz, Nzp) and units of positive weight, and per stratum the largest
 * count of positive weight (seenh, for the df; clusters) and, where Sigma
 * comes from the design, the sums of the first ke entries of Y (mean). */
static void unit_sums(blk *k, const blk_design *g, int ke)
{
    const int Kp = k->Kp, nd = k->nd, H = g->H;
    const bool clus = g->mode == DES_CLUSTER, own = !k->sig, byd = k->D == nd;
    double *restrict Tz = k->Tz, *restrict Nz = k->Nz, *restrict Nzp = k->Nzp,
        *restrict units = k->units;
    for (int e = 0; e < Kp; e++) { Tz[e] = 0; Nz[e] = 0; Nzp[e] = 0; units[e] = 0; }
    if (clus) memset(k->seenh, 0, (size_t) Kp * H * sizeof(double));
    if (own) memset(k->mean, 0, (size_t) Kp * H * sizeof(double));
    for (int u = 0; u < k->D && !byd; u++) {
        const double *yu = k->Y + (size_t) Kp * u;
        SIMD for (int e = 0; e < Kp; e++) Tz[e] += yu[e];
    }
    for (int d = 0; d < nd; d++) {
        const double *restrict cd = k->cnt + (size_t) Kp * d, *restrict cpd = k->cntp + (size_t) Kp * d,
            *restrict yd = k->Y + (size_t) Kp * d;
        const size_t oh = (size_t) Kp * (g->ustr[d] - 1);
        if (byd && clus && !k->haspos) {
            /* the fused pass's case in one sweep (the same sums) */
            double *restrict sh = k->seenh + oh;
            SIMD for (int e = 0; e < Kp; e++) {
                Tz[e] += yd[e];
                Nz[e] += cd[e];
                units[e] += cd[e] > 0 ? 1.0 : 0.0;
                sh[e] = cd[e] > sh[e] ? cd[e] : sh[e];
            }
            double *restrict mh = k->mean + oh;
            if (own) {
                SIMD for (int e = 0; e < ke; e++) mh[e] += yd[e];
            }
            continue;
        }
        if (byd) {
            SIMD for (int e = 0; e < Kp; e++) Tz[e] += yd[e];
        }
        SIMD for (int e = 0; e < Kp; e++) Nz[e] += cd[e];
        if (k->haspos) {
            SIMD for (int e = 0; e < Kp; e++) Nzp[e] += cpd[e];
        }
        if (clus) {
            double *restrict sh = k->seenh + oh;
            SIMD for (int e = 0; e < Kp; e++) {
                units[e] += cpd[e] > 0 ? 1.0 : 0.0;
                sh[e] = cpd[e] > sh[e] ? cpd[e] : sh[e];
            }
        }
        if (own) {
            double *restrict mh = k->mean + oh;
            SIMD for (int e = 0; e < ke; e++) mh[e] += yd[e];
        }
    }
    if (!k->haspos) memcpy(Nzp, Nz, Kp * sizeof(double));
    if (!clus) memcpy(units, Nzp, Kp * sizeof(double));
}

/* Clusters: Sigma = sum_h s_h sum_{i in h} (T_i - c_h m_h)(T_i - c_h m_h)'.
 * For single variables only the cells' part is a Gram; the bases' rows
 * are sums of the cells' rows. Lower triangle. */
static void sigma_clusters(blk *k, const blk_design *g, int ke)
{
    const int Kp = k->Kp, nd = k->nd, H = g->H;
    double *mean = k->mean, *Y = k->Y;
    for (int h = 0; h < H; h++) {
        double *restrict mh = mean + (size_t) Kp * h;
        if (!g->center[h]) {
            for (int e = 0; e < ke; e++) mh[e] = 0;
            continue;
        }
        const double nh = g->nh[h];
        SIMD for (int e = 0; e < ke; e++) mh[e] = mh[e] / nh;
    }
    for (int u = 0; u < nd; u++) {
        int h = g->ustr[u] - 1;
        k->uscale[u] = g->scale[h];
        double *restrict yu = Y + (size_t) Kp * u;
        const double *restrict mh = mean + (size_t) Kp * h;
        SIMD for (int e = 0; e < ke; e++) yu[e] -= mh[e];
    }
    gram_lower(Y, k->uscale, ke, Kp, nd, k->S);
    if (k->single) bases_from_cells(k->S, k->nr, k->nc);
}

/* Rows as PSUs: Sigma = sum_h s_h [Q_h - c_h S_h S_h' / n_h], with Q_h
 * given (MR sets) or from the cells' sums of w^2: a row in cell t is in t,
 * its column base, its row base and the block base. Lower triangle. */
static void sigma_rows(blk *k, const blk_design *g, int b)
{
    const int nr = k->nr, nc = k->nc, K = k->K, Kp = k->Kp, nb = k->nb, H = g->H;
    /* - c_h S_h S_h' / n_h, as a Gram with negative scale */
    for (int h = 0; h < H; h++) k->uscale[h] = g->center[h] ? -g->scale[h] / g->nh[h] : 0;
    gram_lower(k->mean, k->uscale, Kp, Kp, H, k->S);
    const double *cells3 = k->src->cells3;
    for (int h = 0; h < H; h++) {
        double sh = g->scale[h];
        if (sh == 0) continue;
        if (k->qa) {
            const double *Q = k->qa + (size_t) Kp * Kp * (b + (size_t) nb * h);
            for (int j = 0; j < Kp; j++)
                for (int i = j; i < Kp; i++) SG(i, j) += sh * Q[i + (size_t) Kp * j];
            continue;
        }
        const size_t o = (size_t) K * (b + (size_t) nb * h);
        const double *s2 = cells3 ? cells3 + 3 * o + 2 : k->src->part[0] + 2 * k->src->part_len[0] + o;
        const int st = cells3 ? 3 : 1;
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++) {
                int t = r + nr * c, ix[4] = {t, K + c, K + nc + r, Kp - 1};
                double v = sh * s2[(size_t) st * t];
                for (int a = 0; a < 4; a++)
                    for (int a2 = 0; a2 < 4; a2++)
                        if (ix[a] >= ix[a2]) SG(ix[a], ix[a2]) += v;
            }
    }
}

/* Sigma of layer b: given (calibration), or from the design. */
static void layer_sigma(blk *k, const blk_design *g, int b, int ke)
{
    const int Kp = k->Kp;
    if (k->sig) {
        memcpy(k->S, k->sig + (size_t) Kp * Kp * b, (size_t) Kp * Kp * sizeof(double));
        return;
    }
    memset(k->S, 0, (size_t) Kp * Kp * sizeof(double));
    /* k->mean: per stratum sums of Y (unit_sums()), to be the means
     * (clusters) or totals (rows as PSUs) */
    if (g->mode == DES_CLUSTER) sigma_clusters(k, g, ke);
    else sigma_rows(k, g, b);
    /* the upper triangle (the cells' part is full where the bases were
     * summed from the cells) */
    const int from = ke < Kp ? k->K : 0;
    for (int j = 0; j < Kp; j++)
        for (int i = (j + 1 > from ? j + 1 : from); i < Kp; i++) SG(j, i) = SG(i, j);
}

/* Degrees of freedom of every entry's domain: its PSUs with rows of
 * positive weight minus their strata (survey's degf() of the domain). */
static void entry_df(blk *k, const blk_design *g)
{
    const int Kp = k->Kp;
    double *dfe = k->dfe;
    if (g->mode == DES_CLUSTER) {
        /* the PSUs of positive weight (units) minus the strata they are
         * in (seenh: per stratum the largest count, from unit_sums()) */
        for (int e = 0; e < Kp; e++) dfe[e] = k->units[e];
        for (int h = 0; h < g->H; h++) {
            const double *sh = k->seenh + (size_t) Kp * h;
            SIMD for (int e = 0; e < Kp; e++) dfe[e] -= sh[e] > 0 ? 1.0 : 0.0;
        }
    } else if (g->mode == DES_STRATA) {
        for (int e = 0; e < Kp; e++) dfe[e] = k->Nzp[e];
        for (int d = 0; d < k->nd; d++)
            for (int e = 0; e < Kp; e++) dfe[e] -= k->cntp[e + (size_t) Kp * d] > 0;
    } else
        for (int e = 0; e < Kp; e++) dfe[e] = k->Nzp[e] - 1;
}

/* Covariance of the percents of cells i and j (p_i = Y_i / X_i) by
 * linearisation; pi0, pj0: the percents (0 where undefined). */
static inline double lincov(const blk *k, int i, int j, double pi0, double pj0)
{
    const int *base = k->base;
    return (SG(i, j) - pj0 * SG(i, base[j]) - pi0 * SG(base[i], j) +
            pi0 * pj0 * SG(base[i], base[j])) / (k->X[i] * k->X[j]);
}

/* Every cell's base entry (by the percent), its total and the percent. */
static void cell_percents(blk *k, int percent)
{
    const int nr = k->nr, nc = k->nc, K = k->K, Kp = k->Kp;
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++) {
            int t = r + nr * c;
            k->base[t] = percent == 1 ? K + nc + r : percent == 2 ? Kp - 1 : K + c;
            k->X[t] = k->Tz[k->base[t]];
            k->p[t] = k->X[t] > 0 ? k->Tz[t] / k->X[t] : NA_REAL;
        }
}

/* Design effect of cell t against simple random sampling of the domain's
 * rows of positive weight (nobs): p(1-p)/nobs, or survey's s^2/nobs (deff
 * = "replace") or s^2/nobs (1 - nobs/N) (deff = TRUE), s^2 = p(1-p)
 * nobs/(nobs-1), N the domain's weighted count. */
static double cell_deff(const blk *k, const blk_options *o, int t)
{
    const double p = k->p[t], nobs = k->Nzp[k->base[t]];
    double vsrs = NA_REAL;
    if (!ISNAN(p) && p > 0 && p < 1 && nobs > 0) {
        double pq = p * (1 - p);
        if (o->deff == 0) vsrs = pq / nobs;
        else if (nobs > 1) {
            vsrs = pq / (nobs - 1);
            if (o->deff == 2) {
                double popn = k->X[t] / o->wscale;
                vsrs = popn > nobs ? vsrs * (1 - nobs / popn) : NA_REAL;
            }
        }
    }
    return ISNAN(vsrs) ? NA_REAL : k->vp[t] / vsrs;
}

/* Per cell of layer b: se_n_w, the percent's variance, se, df, design
 * effect and confidence interval. */
static void cell_estimates(blk *k, const blk_options *o, blk_result *res, int b)
{
    const size_t off = (size_t) k->K * b;
    double *se_n_w = res->o[0] + off, *se = res->o[1] + off, *lo = res->o[2] + off,
        *hi = res->o[3] + off, *deff = res->o[4] + off, *df = res->o[5] + off;
    double *p = k->p, *X = k->X, *vp = k->vp, *mag = k->mag;
    const int *base = k->base;
    ci_cache cc;
    ci_cache_init(&cc);
    for (int t = 0; t < k->K; t++) {
        double pi0 = ISNAN(p[t]) ? 0 : p[t];
        vp[t] = X[t] > 0 ? lincov(k, t, t, pi0, pi0) : NA_REAL;
        /* the size of the terms of vp: below 1e-12 of it, vp is zero
         * up to rounding (a domain of one PSU, a percent of 0 or 100) */
        mag[t] = X[t] > 0 ? (fabs(SG(t, t)) + 2 * pi0 * fabs(SG(t, base[t])) +
                             pi0 * pi0 * fabs(SG(base[t], base[t]))) / (X[t] * X[t]) : NA_REAL;
        if (!ISNAN(vp[t]) && vp[t] <= 1e-12 * mag[t]) vp[t] = 0;
        se_n_w[t] = sqrt(fmax2(SG(t, t), 0));
        se[t] = ISNAN(vp[t]) ? NA_REAL : 100 * sqrt(fmax2(vp[t], 0));
        df[t] = k->dfe[base[t]];
        deff[t] = cell_deff(k, o, t);
        prop_ci(p[t], vp[t], df[t], o->kg_rows >= 0 ? o->kg_rows : k->Nz[base[t]], o->ci,
                o->level, &cc, &lo[t], &hi[t]);
        if (!ISNAN(lo[t])) { lo[t] *= 100; hi[t] *= 100; }
    }
}

/* The z test of columns c1 < c2 in row r: the p-value (NA: no test) and
 * the difference of the percents. No letter rests on a zero or undefined
 * variance (both columns need two PSUs (rows) of positive weight, the
 * difference a positive finite SE) nor on a small base (both columns need
 * an unweighted base of at least min_base rows). */
static double pair_test(const blk *k, double min_base, int r, int c1, int c2, double *dd)
{
    const int i = r + k->nr * c1, j = r + k->nr * c2;
    const double *p = k->p, *X = k->X;
    const int *base = k->base;
    *dd = 0;
    if (ISNAN(p[i]) || ISNAN(p[j]) || !(X[i] > 0) || !(X[j] > 0)) return NA_REAL;
    if (k->units[base[i]] < 2 || k->units[base[j]] < 2) return NA_REAL;
    if (k->Nz[base[i]] < min_base || k->Nz[base[j]] < min_base) return NA_REAL;
    double cv = lincov(k, i, j, p[i], p[j]), d = p[i] - p[j], v = k->vp[i] + k->vp[j] - 2 * cv;
    double m = sqrt(k->mag[i]) + sqrt(k->mag[j]);
    if (!(v > 1e-12 * m * m) || !R_FINITE(v) || !R_FINITE(d)) return NA_REAL;
    *dd = d;
    return 2 * Rf_pnorm5(-fabs(d) / sqrt(v), 0, 1, 1, 0);
}

/* Column-proportion letters: per row, z tests of all pairs of columns,
 * p-values adjusted within the row; flag[t * nc + c]: cell t gets the
 * letter of column c (the higher column's cell, the lower one's letter). */
static void cell_letters(blk *k, const blk_options *o)
{
    const int nr = k->nr, nc = k->nc;
    memset(k->flag, 0, (size_t) k->K * nc);
    if (!o->letters || o->percent != 0 || nc < 2) return;
    for (int r = 0; r < nr; r++) {
        int s = 0;
        for (int c1 = 0; c1 < nc; c1++)
            for (int c2 = c1 + 1; c2 < nc; c2++, s++)
                k->pv[s] = pair_test(k, o->min_base, r, c1, c2, &k->dd[s]);
        p_adjust(k->pv, k->npair, o->adjust, k->ord);
        s = 0;
        for (int c1 = 0; c1 < nc; c1++)
            for (int c2 = c1 + 1; c2 < nc; c2++, s++) {
                if (ISNAN(k->pv[s]) || !(k->pv[s] < o->alpha)) continue;
                if (k->dd[s] > 0) k->flag[(size_t) (r + nr * c1) * nc + c2] = 1;
                else k->flag[(size_t) (r + nr * c2) * nc + c1] = 1;
            }
    }
}

/* The letters of layer b's cells as strings (comma-separated where a
 * label has more than one character). */
static void letter_strings(blk *k, SEXP let, int b)
{
    const int nc = k->nc;
    for (int t = 0; t < k->K; t++) {
        size_t len = 0;
        for (int c = 0; c < nc; c++)
            if (k->flag[(size_t) t * nc + c]) {
                const char *lab = CHAR(STRING_ELT(k->labels, c));
                size_t l = strlen(lab);
                if (k->sep && len > 0) k->buf[len++] = ',';
                memcpy(k->buf + len, lab, l);
                len += l;
            }
        k->buf[len] = '\0';
        SET_STRING_ELT(let, (R_xlen_t) k->K * b + t, Rf_mkCharLenCE(k->buf, (int) len, CE_UTF8));
    }
}

/* The Rao-Scott test of layer b (out: statistic, ndf, ddf, p-value),
 * from the covariance of the joint proportions Y_t / X_all. */
static void layer_test(blk *k, double rows, double nu, double *out)
{
    const int K = k->K, Kp = k->Kp;
    const double *Tz = k->Tz;
    out[0] = out[1] = out[2] = out[3] = NA_REAL;
    const double Xa = Tz[Kp - 1], Saa = SG(Kp - 1, Kp - 1);
    for (int t = 0; t < K; t++) {
        k->wcell[t] = Tz[t];
        k->ncell[t] = k->Nzp[t];
    }
    if (!(Xa > 0)) return;
    const double *restrict S = k->S, *restrict sa = k->S + (size_t) Kp * (Kp - 1);
    double *restrict V = k->Vj;
    for (int j = 0; j < K; j++) {
        const double qj = Tz[j] / Xa, sj = sa[j], *restrict Sj = S + (size_t) Kp * j;
        double *restrict Vj = V + (size_t) K * j;
        SIMD for (int i = 0; i < K; i++) {
            double qi = Tz[i] / Xa, si = sa[i];
            Vj[i] = (Sj[i] - si * qj - qi * sj + Saa * qi * qj) / (Xa * Xa);
        }
    }
    const void *vmax = vmaxget();
    const size_t mark = k->ar->used;
    rao_scott(k->wcell, k->ncell, k->Vj, k->nr, k->nc, rows, nu, k->test, k->ar, out);
    k->ar->used = mark;
    vmaxset(vmax);
}
#undef SG

/* The steps of every layer of a block. */
static inline __attribute__((always_inline)) void
layers_body(blk *k, const blk_design *g, const blk_options *o, blk_result *res,
            const double *lay_rows, const double *lay_nu)
{
    /* with clusters and single variables only the cells' part of the
     * stratum means is used (the bases' rows of Sigma are sums of cells) */
    const int ke = g->mode == DES_CLUSTER && k->single ? k->K : k->Kp;
    for (int b = 0; b < k->nb; b++) {
        R_CheckUserInterrupt();
        gather_layer(k, b);
        unit_sums(k, g, ke);
        layer_sigma(k, g, b, ke);
        entry_df(k, g);
        cell_percents(k, o->percent);
        cell_estimates(k, o, res, b);
        cell_letters(k, o);
        letter_strings(k, res->let, b);
        double tst[4] = {NA_REAL, NA_REAL, NA_REAL, NA_REAL};
        if (k->do_test) layer_test(k, lay_rows[b], lay_nu[b], tst);
        for (int f = 0; f < 4; f++) {
            double *of = res->o[7 + f] + (size_t) k->K * b;
            for (int t = 0; t < k->K; t++) of[t] = tst[f];
        }
    }
}

#ifdef UMF_AVX2
__attribute__((target("avx2"), flatten))
static void layers_avx2(blk *k, const blk_design *g, const blk_options *o, blk_result *res,
                        const double *lay_rows, const double *lay_nu)
{
    layers_body(k, g, o, res, lay_rows, lay_nu);
}
#endif

static void run_layers(blk *k, const blk_design *g, const blk_options *o, blk_result *res,
                       const double *lay_rows, const double *lay_nu)
{
#ifdef UMF_AVX2
    if (umf_cpu_avx2()) {
        layers_avx2(k, g, o, res, lay_rows, lay_nu);
        return;
    }
#endif
    layers_body(k, g, o, res, lay_rows, lay_nu);
}

/* ---- one block -----------------------------------------------------------------
 *
 * src: the block's sums (umf_blocksrc, umfrage.h): part matrices (cells,
 * colbase, rowbase, allbase) of 3 columns (n, sum w, sum w^2) with rows
 * (entry, layer, calibration cell, design unit), entry fastest, or the
 * fused pass's interleaved cells. dims: nr, nc, nb (layers), ng
 * (calibration cells), nd (design units). sigma: NULL or Kp x Kp x nb.
 * qarr: NULL or Kp x Kp x nb x H (MR sets, rows as PSUs). des: list(mode,
 * stratum (of each design unit, 1-based), scale, center, nh). opt:
 * list(percent, ci, level, letters, alpha, adjust, kg_rows; optional deff,
 * wscale, min_base). single: single x single (Rao-Scott applies); test: 0
 * none, 1 F, 2 Chisq; labels: the columns' letters; lay_rows, lay_nu: per
 * layer the rows and df of the test. Work space comes from the arena ar.
 * Returns per cell and layer: se_n_w, se, ci_low, ci_high, deff, df,
 * letters, and the layer's test (statistic, ndf, ddf, p_value). */
static SEXP block_one(const umf_blocksrc *src, const int *dm, SEXP sigma, SEXP qarr, SEXP des,
                      SEXP opt, int single, int test, SEXP labels, const double *lay_rows,
                      const double *lay_nu, umf_arena *ar)
{
    blk k;
    block_shape(&k, src, dm, single, test);
    const blk_design g = read_design(des, k.nd);
    const blk_options o = read_options(opt);
    block_inputs(&k, &g, labels, sigma, qarr);
    blk_result res = new_result(k.K, k.nb);
    PROTECT(res.ans);
    block_work(&k, &g, ar);
    run_layers(&k, &g, &o, &res, lay_rows, lay_nu);
    UNPROTECT(1);
    return res.ans;
}

/* Inference of one single x single block from its interleaved per-(cell,
 * layer, design unit) sums, for tab.c's fused pass (no sigma: calibrated
 * weights take the other route). */
SEXP umf_block_inf_cells(const double *cells3, const int *dm, SEXP des, SEXP opt, int test,
                         SEXP labels, const double *lay_rows, const double *lay_nu,
                         umf_arena *ar)
{
    umf_blocksrc src;
    memset(&src, 0, sizeof src);
    src.cells3 = cells3;
    ar->used = 0;
    return block_one(&src, dm, R_NilValue, R_NilValue, des, opt, 1, test, labels, lay_rows,
                     lay_nu, ar);
}

/* Rows and design df of each layer from a pass's interleaved per-(cell,
 * layer, design unit) counts (the Total column: rows with the row variable
 * given), as the Rao-Scott test of a layer needs them. */
void umf_layer_df(const double *cells3, int K, int nb, int nd, SEXP des, double *rows,
                  double *nu)
{
    const int mode = umf_as_int1(list_elt(des, "mode", "des"), "mode");
    const int *ustr = int_arg(list_elt(des, "stratum", "des"), nd, "stratum");
    SEXP sc = list_elt(des, "scale", "des");
    if (TYPEOF(sc) != REALSXP) Rf_error("'scale' must be a double vector");
    const int H = (int) XLENGTH(sc);
    char *seen = (char *) R_alloc(H > 0 ? H : 1, 1);
    for (int b = 0; b < nb; b++) {
        double tot = 0;
        int units = 0, strata = 0;
        memset(seen, 0, H > 0 ? H : 1);
        for (int d = 0; d < nd; d++) {
            const double *c3 = cells3 + 3 * (size_t) K * (b + (size_t) nb * d);
            double s = 0;
            for (int t = 0; t < K; t++) s += c3[3 * t];
            tot += s;
            if (s > 0) {
                units++;
                int h = ustr[d];   /* 1-based, NA or out of range: no stratum */
                if (h >= 1 && h <= H && !seen[h - 1]) { seen[h - 1] = 1; strata++; }
            }
        }
        rows[b] = tot;
        nu[b] = mode == DES_CLUSTER ? units - strata : mode == DES_STRATA ? tot - units : tot - 1;
    }
}

/* Check block k of C_block_inf() (its dims d, labels lab, sums raw)
 * before any work space is sized by its dims; returns the work space it
 * needs (H: strata). */
static size_t check_block(int k, const int *d, SEXP lab, SEXP raw, int H)
{
    if (d[0] < 1 || d[1] < 1 || d[2] < 1 || d[3] < 1 || d[4] < 1)
        Rf_error("'dims' must be positive");
    const double kp = (double) d[0] * d[1] + d[0] + d[1] + 1;
    if (kp * kp > UMF_FREE_CELLS || (double) d[3] * d[4] > INT_MAX)
        Rf_error("block %d is too large for inference", k + 1);
    if (TYPEOF(lab) != STRSXP || XLENGTH(lab) < d[1])
        Rf_error("'labels' must name every column of block %d", k + 1);
    if (TYPEOF(raw) != VECSXP || (XLENGTH(raw) != 4 && XLENGTH(raw) != 5))
        Rf_error("'raws' element %d must be a list of 4 matrices (and the positive counts)", k + 1);
    const double part_k[4] = {(double) d[0] * d[1], d[1], d[0], 1};
    for (int s = 0; s < 4; s++) {
        const double len = part_k[s] * d[2] * d[3] * d[4];
        SEXP m = VECTOR_ELT(raw, s);
        if (TYPEOF(m) != REALSXP || (double) XLENGTH(m) != 3 * len)
            Rf_error("'raws' element %d, part %d must hold 3 x %.0f doubles", k + 1, s + 1, len);
        if (XLENGTH(raw) == 5) {
            SEXP pl = VECTOR_ELT(raw, 4);
            if (TYPEOF(pl) != VECSXP || XLENGTH(pl) != 4 ||
                TYPEOF(VECTOR_ELT(pl, s)) != REALSXP || (double) XLENGTH(VECTOR_ELT(pl, s)) != len)
                Rf_error("'raws' element %d: the positive counts of part %d must hold %.0f doubles",
                         k + 1, s + 1, len);
        }
    }
    size_t ll = 0;
    for (int c = 0; c < d[1]; c++) ll += strlen(CHAR(STRING_ELT(lab, c)));
    return umf_block_need(d[0], d[1], (double) d[3] * d[4], d[4], H, ll);
}

/* The sums of a block (raw, checked by check_block()) as block_one()
 * reads them. */
static umf_blocksrc parts_source(SEXP raw)
{
    umf_blocksrc src;
    src.cells3 = NULL;
    for (int s = 0; s < 4; s++) {
        SEXP m = VECTOR_ELT(raw, s);
        src.part[s] = REAL(m);
        src.part_len[s] = XLENGTH(m) / 3;
        src.pos[s] = XLENGTH(raw) == 5 ? REAL(VECTOR_ELT(VECTOR_ELT(raw, 4), s)) : NULL;
    }
    return src;
}

/* All blocks of a row variable in one call, so that they share one work
 * space. raws: list of raw (as block_one); dims: integer 5 x blocks (nr,
 * nc, nb, ng, nd); sigmas, qarrs: lists (NULL elements where not given);
 * des, opt as block_one; single, test: integer per block; labels: list of
 * character vectors. Returns a list of block results: per cell and layer
 * se_n_w, se, ci_low, ci_high, deff, df, letters, and the layer's test
 * (statistic, ndf, ddf, p_value). */
SEXP C_block_inf(SEXP raws, SEXP dims, SEXP sigmas, SEXP qarrs, SEXP des, SEXP opt)
{
    if (TYPEOF(raws) != VECSXP) Rf_error("'raws' must be a list");
    const int nblk = (int) XLENGTH(raws);
    const int *dm = int_arg(dims, 5.0 * nblk, "dims");
    if (TYPEOF(sigmas) != VECSXP || XLENGTH(sigmas) != nblk ||
        TYPEOF(qarrs) != VECSXP || XLENGTH(qarrs) != nblk)
        Rf_error("'sigmas' and 'qarrs' must be lists with one element per block");
    const int *single = int_arg(list_elt(opt, "single", "opt"), nblk, "single");
    const int *test = int_arg(list_elt(opt, "test", "opt"), nblk, "test");
    SEXP labels = list_elt(opt, "labels", "opt");
    if (TYPEOF(labels) != VECSXP || XLENGTH(labels) != nblk)
        Rf_error("'labels' must be a list with one element per block");
    SEXP sc = list_elt(des, "scale", "des");
    if (TYPEOF(sc) != REALSXP) Rf_error("'scale' must be a double vector");
    size_t cap = 0;
    for (int k = 0; k < nblk; k++) {
        size_t need = check_block(k, dm + 5 * (size_t) k, VECTOR_ELT(labels, k),
                                  VECTOR_ELT(raws, k), (int) XLENGTH(sc));
        if (need > cap) cap = need;
    }
    const double *lay_rows = NULL, *lay_nu = NULL;
    if (nblk > 0) {
        lay_rows = real_arg(list_elt(opt, "layer_rows", "opt"), dm[2], "layer_rows");
        lay_nu = real_arg(list_elt(opt, "layer_nu", "opt"), dm[2], "layer_nu");
        for (int k = 1; k < nblk; k++)
            if (dm[5 * (size_t) k + 2] != dm[2]) Rf_error("all blocks need the same layers");
    }
    umf_arena ar = {(char *) R_alloc(cap > 0 ? cap : 1, 1), 0, cap};
    SEXP ans = PROTECT(Rf_allocVector(VECSXP, nblk));
    for (int k = 0; k < nblk; k++) {
        const umf_blocksrc src = parts_source(VECTOR_ELT(raws, k));
        ar.used = 0;
        SET_VECTOR_ELT(ans, k, block_one(&src, dm + 5 * (size_t) k, VECTOR_ELT(sigmas, k),
                                         VECTOR_ELT(qarrs, k), des, opt, single[k], test[k],
                                         VECTOR_ELT(labels, k), lay_rows, lay_nu, &ar));
    }
    UNPROTECT(1);
    return ans;
}

/* Sum a 3-column matrix with rows (entry, design unit), entry fastest, over
 * its nd design units: the point estimates of a table pass that carried
 * the design as an extra layer. */
SEXP C_sum_units(SEXP m, SEXP nd_)
{
    const int nd = umf_as_int1(nd_, "nd");
    if (TYPEOF(m) != REALSXP || nd < 1 || XLENGTH(m) % (3 * (R_xlen_t) nd) != 0)
        Rf_error("'m' must be a double matrix of 3 columns and a multiple of 'nd' rows");
    const R_xlen_t rows = XLENGTH(m) / 3, k = rows / nd;
    if (k > INT_MAX) Rf_error("'m' has too many rows");
    SEXP ans = PROTECT(Rf_allocMatrix(REALSXP, (int) k, 3));
    double *o = REAL(ans);
    const double *x = REAL(m);
    memset(o, 0, (size_t) k * 3 * sizeof(double));
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < nd; d++) {
            const double *src = x + (size_t) rows * s + (size_t) k * d;
            double *dst = o + (size_t) k * s;
            for (R_xlen_t e = 0; e < k; e++) dst[e] += src[e];
        }
    UNPROTECT(1);
    return ans;
}
