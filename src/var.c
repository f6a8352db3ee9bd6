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

/* tr(Delta) and tr(Delta^2) of the Rao-Scott design-effect matrix Delta =
 * (C'WC)^-1 C'UC without forming it, where C spans the interaction space
 * I of the kept nr2 x nc2 table (row and column sums zero), W = diag(idv /
 * N) and U = diag(idv) V diag(idv). With G = C (C'WC)^-1 C', tr(Delta) =
 * tr(GU) and tr(Delta^2) = tr(GUGU). G y is the x in I with Wx - y in the
 * main-effects space: x_rc = v_rc (y_rc + a_r + b_c), v = 1 / diag(W), with
 * a, b (b_1 = 0) from a small (nr2 + nc2 - 1) positive definite system
 * that makes the row and column sums of x zero. Cost O(K2^2 + K2 q^2)
 * instead of O(m^3), m = (nr2 - 1)(nc2 - 1). Needs every kept cell to have
 * positive weight (W finite); returns 0 otherwise or if the system is not
 * positive definite. */
static int rs_traces_fast(const double *w, const int *idx, const double *idv, const double *V,
                          int K, int nr2, int nc2, double X, double N, double *tr, double *tr2)
{
    const int K2 = nr2 * nc2, q = nr2 + nc2 - 1;
    double *v = (double *) R_alloc(K2, sizeof(double));
    for (int k = 0; k < K2; k++) {
        if (!(idv[k] > 0)) return 0;
        v[k] = N * w[idx[k]] / X;
    }
    /* A = [diag(row sums of v), v[, 2:nc2]; ., diag(column sums of v[, 2:nc2])] */
    double *A = (double *) R_alloc((size_t) q * q, sizeof(double));
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
    /* Cholesky, lower: A = L L' */
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
    /* GU, column by column: y = column l of U */
    double *GU = (double *) R_alloc((size_t) K2 * K2, sizeof(double));
    double *y = (double *) R_alloc(K2, sizeof(double)), *z = (double *) R_alloc(q, sizeof(double));
    for (int l = 0; l < K2; l++) {
        for (int k = 0; k < K2; k++) y[k] = idv[k] * V[idx[k] + (size_t) K * idx[l]] * idv[l];
        for (int i = 0; i < q; i++) z[i] = 0;
        for (int c = 0; c < nc2; c++)
            for (int r = 0; r < nr2; r++) {
                double t = -v[r + nr2 * c] * y[r + nr2 * c];
                z[r] += t;
                if (c > 0) z[nr2 + c - 1] += t;
            }
        for (int i = 0; i < q; i++) {              /* L u = z */
            double s = z[i];
            for (int k = 0; k < i; k++) s -= A[i + (size_t) q * k] * z[k];
            z[i] = s / A[i + (size_t) q * i];
        }
        for (int i = q - 1; i >= 0; i--) {         /* L' x = u */
            double s = z[i];
            for (int k = i + 1; k < q; k++) s -= A[k + (size_t) q * i] * z[k];
            z[i] = s / A[i + (size_t) q * i];
        }
        double *g = GU + (size_t) K2 * l;
        for (int c = 0; c < nc2; c++)
            for (int r = 0; r < nr2; r++)
                g[r + nr2 * c] = v[r + nr2 * c] * (y[r + nr2 * c] + z[r] + (c > 0 ? z[nr2 + c - 1] : 0));
    }
    double t1 = 0, t2 = 0;
    for (int l = 0; l < K2; l++) {
        t1 += GU[l + (size_t) K2 * l];
        for (int k = 0; k < K2; k++) t2 += GU[k + (size_t) K2 * l] * GU[l + (size_t) K2 * k];
    }
    *tr = t1;
    *tr2 = t2;
    return 1;
}

/* Rao-Scott test of one block-layer. w, n: weighted and unweighted cell
 * totals (nr x nc); V: K x K covariance of the joint proportions; N: rows
 * of the layer; nu: its design df; stat: 1 = F, 2 = Chisq. out: statistic,
 * ndf, ddf, p-value (NA where the test does not apply). */
static void rao_scott(const double *w, const double *n, const double *V, int nr, int nc,
                      double N, double nu, int stat, double *out)
{
    const int K = nr * nc;
    out[0] = out[1] = out[2] = out[3] = NA_REAL;
    int *kr = (int *) R_alloc(nr, sizeof(int)), *kc = (int *) R_alloc(nc, sizeof(int));
    int nr2 = 0, nc2 = 0;
    for (int r = 0; r < nr; r++) {
        double s = 0;
        for (int c = 0; c < nc; c++) s += n[r + (size_t) nr * c];
        if (s > 0) kr[nr2++] = r;
    }
    for (int c = 0; c < nc; c++) {
        double s = 0;
        for (int r = 0; r < nr; r++) s += n[r + (size_t) nr * c];
        if (s > 0) kc[nc2++] = c;
    }
    if (nr2 < 2 || nc2 < 2) return;
    const int K2 = nr2 * nc2, m = (nr2 - 1) * (nc2 - 1);
    int *idx = (int *) R_alloc(K2, sizeof(int));
    double X = 0;
    for (int c = 0; c < nc2; c++)
        for (int r = 0; r < nr2; r++) {
            idx[r + nr2 * c] = kr[r] + nr * kc[c];
            X += w[kr[r] + nr * kc[c]];
        }
    if (!(X > 0)) return;
    double *idv = (double *) R_alloc(K2, sizeof(double));
    for (int k = 0; k < K2; k++) {
        double mean2 = w[idx[k]] / X;
        idv[k] = mean2 == 0 ? 0 : 1 / mean2;
    }
    double *rm = (double *) R_alloc(nr2, sizeof(double));
    double *col = (double *) R_alloc(K2, sizeof(double));
    double tr = 0, tr2 = 0;
    if (rs_traces_fast(w, idx, idv, V, K, nr2, nc2, X, N, &tr, &tr2)) goto pearson;
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
    if (info != 0) return;                 /* singular: no test */
    for (int i = 0; i < m; i++) {
        tr += numr[i + (size_t) m * i];
        for (int j = 0; j < m; j++) tr2 += numr[i + (size_t) m * j] * numr[j + (size_t) m * i];
    }
pearson:;
    /* Pearson X^2 on the cells scaled to N */
    double X2 = 0;
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

/* Confidence interval of a proportion p with variance v, df and rows nn. */
static void prop_ci(double p, double v, double df, double nn, int method, double level,
                    double *lo, double *hi)
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
        double tq = Rf_qt(1 - alpha / 2, df, 1, 0);
        *lo = Rf_plogis(l - tq * se, 0, 1, 1, 0);
        *hi = Rf_plogis(l + tq * se, 0, 1, 1, 0);
    } else if (method == CI_WALD) {
        double tq = Rf_qt(1 - alpha / 2, df, 1, 0);
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
        double r = Rf_qt(alpha / 2, nn - 1, 1, 0) / Rf_qt(alpha / 2, df, 1, 0);
        ne *= r * r;
        *lo = Rf_qbeta(alpha / 2, ne * p, ne * (1 - p) + 1, 1, 0);
        *hi = Rf_qbeta(1 - alpha / 2, ne * p + 1, ne * (1 - p), 1, 0);
    }
}

/* S += sum over units u of sc[u] y_u y_u' over the first k entries of the
 * columns (length ld) of y; S has leading dimension ld; lower triangle
 * only, four units at a time. */
static void gram_lower(const double *restrict y, const double *restrict sc, int k, int ld,
                       int D, double *restrict S)
{
    const int Kp = ld;
    int u = 0;
    for (; u + 4 <= D; u += 4) {
        const double *y0 = y + (size_t) Kp * u, *y1 = y0 + Kp, *y2 = y1 + Kp, *y3 = y2 + Kp;
        for (int j = 0; j < k; j++) {
            double a0 = sc[u] * y0[j], a1 = sc[u + 1] * y1[j], a2 = sc[u + 2] * y2[j],
                a3 = sc[u + 3] * y3[j];
            double *Sj = S + (size_t) Kp * j;
            #pragma omp simd
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

/* Complete Sigma (lower triangle given for the K cells) where every base
 * entry is the sum of its cells: column base c of the cells (., c), row
 * base r of (r, .), the block base of all. Fills the lower triangle. */
static void bases_from_cells(double *S, int nr, int nc)
{
    const int K = nr * nc, Kp = K + nc + nr + 1;
    for (int j = 0; j < K; j++)            /* cells: full columns */
        for (int i = 0; i < j; i++) S[i + (size_t) Kp * j] = S[j + (size_t) Kp * i];
    /* rows of the bases against every cell column x (S[base, x]) */
    for (int x = 0; x < K; x++) {
        double *Sx = S + (size_t) Kp * x, all = 0;
        for (int c = 0; c < nc; c++) Sx[K + c] = 0;
        for (int r = 0; r < nr; r++) Sx[K + nc + r] = 0;
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++) {
                double v = Sx[r + nr * c];
                Sx[K + c] += v;
                Sx[K + nc + r] += v;
                all += v;
            }
        Sx[Kp - 1] = all;
    }
    /* base x base: S[a, b] = sum over the cells t of b of S[a, t] */
    for (int a = K; a < Kp; a++) {
        double all = 0;
        double *cb = S + (size_t) Kp * K;   /* columns K.. hold S[., base] */
        for (int c = 0; c < nc; c++) cb[a + (size_t) Kp * c] = 0;
        for (int r = 0; r < nr; r++) cb[a + (size_t) Kp * (nc + r)] = 0;
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++) {
                double v = S[a + (size_t) Kp * (r + nr * c)];
                cb[a + (size_t) Kp * c] += v;
                cb[a + (size_t) Kp * (nc + r)] += v;
                all += v;
            }
        cb[a + (size_t) Kp * (nc + nr)] = all;
    }
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

/* Bytes of work space block_one() takes for a block. */
size_t umf_block_need(double nr, double nc, double D, double nd, double H, size_t lablen)
{
    double K = nr * nc, Kp = K + nc + nr + 1, np = nc * (nc - 1) / 2 + 1;
    double d = 8 * (Kp * Kp + Kp * D + 2 * Kp * nd + 4 * Kp + (nd > H ? nd : H) + Kp * H +
                    4 * K + Kp + 2 * np + K * K + 2 * K) +
        4 * (K + np) + Kp * H + K * nc + (double) lablen + nc + 1 + 16 * 27;
    return (size_t) d;
}

/* One block. raw: list(cells, colbase, rowbase, allbase) of 3-column matrices (n, sum
 * w, sum w^2) with rows (entry, layer, calibration cell, design unit), entry
 * fastest. dims: nr, nc, nb (layers), ng (calibration cells), nd (design
 * units). sigma: NULL or Kp x Kp x nb. qarr: NULL or Kp x Kp x nb x H (MR
 * sets, rows as PSUs). des: list(mode, stratum (of each design unit,
 * 1-based), scale, center, nh). opt: list(percent, ci, level, letters,
 * alpha, adjust, kg_rows, layer_rows, layer_nu; optional deff, wscale,
 * min_base). single: single x single
 * (Rao-Scott applies); test: 0 none, 1 F, 2 Chisq; labels: the columns'
 * letters. Work space comes from the arena ar.
 * Returns per cell and layer: se_n_w, se, ci_low, ci_high, deff, df,
 * letters, and per layer the test (statistic, ndf, ddf, p_value). */
static SEXP block_one(const umf_blocksrc *src, const int *dm, SEXP sigma, SEXP qarr, SEXP des,
                      SEXP opt, int single, int test, SEXP labels, const double *lay_rows,
                      const double *lay_nu, umf_arena *ar)
{
    const int nr = dm[0], nc = dm[1], nb = dm[2], ng = dm[3], nd = dm[4];
    if (nr < 1 || nc < 1 || nb < 1 || ng < 1 || nd < 1) Rf_error("'dims' must be positive");
    if (((double) nr * nc + nr + nc + 1) * ((double) nr * nc + nr + nc + 1) > UMF_FREE_CELLS ||
        (double) ng * nd > INT_MAX)
        Rf_error("'dims' describe a block too large for inference");
    const int K = nr * nc, Kp = K + nc + nr + 1;
    const int D = ng * nd;                       /* units of the pass */
    const int part_k[4] = {K, nc, nr, 1}, part_off[4] = {0, K, K + nc, K + nc + nr};
    const double *const *part = src->part;
    const R_xlen_t *part_len = src->part_len;
    const double *cells3 = src->cells3;
    if (cells3 && !single) Rf_error("internal: a cells-only source needs single variables");
    /* design */
    const int mode = umf_as_int1(list_elt(des, "mode", "des"), "mode");
    const int *ustr = int_arg(list_elt(des, "stratum", "des"), nd, "stratum");
    SEXP sc_ = list_elt(des, "scale", "des");
    const int H = (int) XLENGTH(sc_);
    const double *scale = real_arg(sc_, H, "scale");
    const int *center = int_arg(list_elt(des, "center", "des"), H, "center");
    const double *nh = real_arg(list_elt(des, "nh", "des"), H, "nh");
    for (int d = 0; d < nd; d++)
        if (ustr[d] < 1 || ustr[d] > H) Rf_error("'stratum' out of range");
    if (mode != DES_CLUSTER && nd != H) Rf_error("rows as PSUs need one design unit per stratum");
    /* options */
    const int percent = umf_as_int1(list_elt(opt, "percent", "opt"), "percent");
    const int ci = umf_as_int1(list_elt(opt, "ci", "opt"), "ci");
    const double level = umf_as_double1(list_elt(opt, "level", "opt"), "level");
    const int letters = umf_as_int1(list_elt(opt, "letters", "opt"), "letters");
    const double alpha = umf_as_double1(list_elt(opt, "alpha", "opt"), "alpha");
    const int adjust = umf_as_int1(list_elt(opt, "adjust", "opt"), "adjust");
    const double kg_rows = umf_as_double1(list_elt(opt, "kg_rows", "opt"), "kg_rows");
    /* design effect: 0 p(1-p)/n, 1 survey's deff = "replace", 2 survey's
     * deff = TRUE (without replacement from the estimated population);
     * wscale: the factor the weights were scaled by (for the population) */
    SEXP deff_ = umf_list_get(opt, "deff", "opt", false);
    const int deff_type = Rf_isNull(deff_) ? 0 : umf_as_int1(deff_, "deff");
    SEXP wsc_ = umf_list_get(opt, "wscale", "opt", false);
    const double wscale = Rf_isNull(wsc_) ? 1 : umf_as_double1(wsc_, "wscale");
    if (deff_type < 0 || deff_type > 2 || !(wscale > 0)) Rf_error("'deff' or 'wscale' out of range");
    /* small bases: a column whose unweighted base (rows, of any weight) is
     * below min_base takes no part in the letters (0: no such rule) */
    SEXP minb_ = umf_list_get(opt, "min_base", "opt", false);
    const double min_base = Rf_isNull(minb_) ? 0 : umf_as_double1(minb_, "min_base");
    if (!(min_base >= 0) || !R_FINITE(min_base)) Rf_error("'min_base' out of range");
    if (TYPEOF(labels) != STRSXP || XLENGTH(labels) < nc) Rf_error("'labels' must name every column");
    const double *sig = NULL, *qa = NULL;
    if (!Rf_isNull(sigma)) sig = real_arg(sigma, (double) Kp * Kp * nb, "sigma");
    if (!Rf_isNull(qarr)) qa = real_arg(qarr, (double) Kp * Kp * nb * H, "qarr");
    if (!sig) {
        if (ng != 1) Rf_error("calibrated weights need 'sigma'");
        if (mode != DES_CLUSTER && !single && !qa) Rf_error("MR sets without clusters need 'qarr'");
    }

    const char *nm[] = {"se_n_w", "se", "ci_low", "ci_high", "deff", "df", "letters",
                        "statistic", "ndf", "ddf", "p_value"};
    SEXP ans = PROTECT(umf_named_list(nm, 11));
    const R_xlen_t KB = (R_xlen_t) K * nb;
    double *o[11];
    for (int f = 0; f < 11; f++) {
        if (f == 6) continue;
        SET_VECTOR_ELT(ans, f, Rf_allocVector(REALSXP, f >= 7 ? nb : KB));
        o[f] = REAL(VECTOR_ELT(ans, f));
    }
    SEXP let = PROTECT(Rf_allocVector(STRSXP, KB));
    SET_VECTOR_ELT(ans, 6, let);
    UNPROTECT(1);

    double *S = (double *) aalloc(ar, (size_t) Kp * Kp, sizeof(double));
    double *Y = (double *) aalloc(ar, (size_t) Kp * D, sizeof(double));   /* sums w per unit */
    double *cnt = (double *) aalloc(ar, (size_t) Kp * nd, sizeof(double)); /* rows per design unit */
    double *Tz = (double *) aalloc(ar, Kp, sizeof(double)), *Nz = (double *) aalloc(ar, Kp, sizeof(double));
    /* rows with positive weight per design unit, their totals, and the
     * PSUs (rows as PSUs: rows) with positive weight of each entry: a row
     * of weight 0 is out of the sample for df, design effects and letters,
     * as in survey's degf() and svymean(deff =) */
    const double *const *posp = src->pos;
    const bool haspos = !cells3 && posp[0];
    double *cntp = haspos ? (double *) aalloc(ar, (size_t) Kp * nd, sizeof(double)) : cnt;
    double *Nzp = (double *) aalloc(ar, Kp, sizeof(double)), *units = (double *) aalloc(ar, Kp, sizeof(double));
    double *uscale = (double *) aalloc(ar, nd, sizeof(double));
    double *mean = (double *) aalloc(ar, (size_t) Kp * H, sizeof(double));
    double *p = (double *) aalloc(ar, K, sizeof(double)), *X = (double *) aalloc(ar, K, sizeof(double));
    double *mag = (double *) aalloc(ar, K, sizeof(double));
    double *vp = (double *) aalloc(ar, K, sizeof(double)), *dfe = (double *) aalloc(ar, Kp, sizeof(double));
    int *base = (int *) aalloc(ar, K, sizeof(int));
    char *seenh = (char *) aalloc(ar, (size_t) Kp * H, sizeof(char));
    const int npair = nc * (nc - 1) / 2;
    double *pv = (double *) aalloc(ar, npair > 0 ? npair : 1, sizeof(double));
    double *dd = (double *) aalloc(ar, npair > 0 ? npair : 1, sizeof(double));
    int *ord = (int *) aalloc(ar, npair > 0 ? npair : 1, sizeof(int));
    char *flag = (char *) aalloc(ar, (size_t) K * nc, sizeof(char));
    double *Vj = NULL;
    const bool do_test = single && test > 0 && nc > 1;
    if (do_test) Vj = (double *) aalloc(ar, (size_t) K * K, sizeof(double));
    double *wcell = (double *) aalloc(ar, K, sizeof(double)), *ncell = (double *) aalloc(ar, K, sizeof(double));
    size_t lablen = 0;
    bool sep = false;                 /* labels of several characters: comma-separated */
    for (int c = 0; c < nc; c++) {
        size_t l = strlen(CHAR(STRING_ELT(labels, c)));
        lablen += l;
        if (l != 1) sep = true;
    }
    char *buf = (char *) aalloc(ar, lablen + nc + 1, sizeof(char));

    for (int b = 0; b < nb; b++) {
        R_CheckUserInterrupt();
        /* gather the entries' sums of w (per unit) and counts (per design unit) */
        memset(cnt, 0, (size_t) Kp * nd * sizeof(double));
        if (haspos) memset(cntp, 0, (size_t) Kp * nd * sizeof(double));
        if (cells3) {
            /* interleaved (n, w, w^2) per cell; the bases are sums of cells */
            for (int u = 0; u < D; u++) {
                const double *c3 = cells3 + 3 * (size_t) K * (b + (size_t) nb * u);
                double *yu = Y + (size_t) Kp * u, *cu = cnt + (size_t) Kp * (u / ng);
                for (int e = K; e < Kp; e++) yu[e] = 0;
                for (int c = 0; c < nc; c++)
                    for (int r = 0; r < nr; r++) {
                        int t = r + nr * c;
                        double nn = c3[3 * t], ww = c3[3 * t + 1];
                        yu[t] = ww;
                        yu[K + c] += ww; yu[K + nc + r] += ww; yu[Kp - 1] += ww;
                        cu[t] += nn;
                        cu[K + c] += nn; cu[K + nc + r] += nn; cu[Kp - 1] += nn;
                    }
            }
        }
        for (int s = 0; s < 4 && !cells3; s++) {
            const int k = part_k[s];
            for (int u = 0; u < D; u++) {
                const double *src = part[s] + (size_t) k * (b + (size_t) nb * u);
                double *yu = Y + (size_t) Kp * u + part_off[s];
                double *cu = cnt + (size_t) Kp * (u / ng) + part_off[s];
                for (int e = 0; e < k; e++) {
                    cu[e] += src[e];
                    yu[e] = src[e + part_len[s]];
                }
                if (haspos) {
                    const double *ps = posp[s] + (size_t) k * (b + (size_t) nb * u);
                    double *cp = cntp + (size_t) Kp * (u / ng) + part_off[s];
                    for (int e = 0; e < k; e++) cp[e] += ps[e];
                }
            }
        }
        for (int e = 0; e < Kp; e++) { Tz[e] = 0; Nz[e] = 0; Nzp[e] = 0; units[e] = 0; }
        for (int u = 0; u < D; u++)
            for (int e = 0; e < Kp; e++) Tz[e] += Y[e + (size_t) Kp * u];
        for (int d = 0; d < nd; d++)
            for (int e = 0; e < Kp; e++) {
                Nz[e] += cnt[e + (size_t) Kp * d];
                Nzp[e] += cntp[e + (size_t) Kp * d];
                if (mode == DES_CLUSTER) units[e] += cntp[e + (size_t) Kp * d] > 0;
            }
        if (mode != DES_CLUSTER) memcpy(units, Nzp, Kp * sizeof(double));

        /* Sigma */
        if (sig) {
            memcpy(S, sig + (size_t) Kp * Kp * b, (size_t) Kp * Kp * sizeof(double));
        } else {
            memset(S, 0, (size_t) Kp * Kp * sizeof(double));
            /* per stratum means (clusters) or totals (rows as PSUs) */
            memset(mean, 0, (size_t) Kp * H * sizeof(double));
            for (int u = 0; u < nd; u++) {
                int h = ustr[u] - 1;
                for (int e = 0; e < Kp; e++) mean[e + (size_t) Kp * h] += Y[e + (size_t) Kp * u];
            }
            if (mode == DES_CLUSTER) {
                for (int h = 0; h < H; h++)
                    for (int e = 0; e < Kp; e++)
                        mean[e + (size_t) Kp * h] = center[h] ? mean[e + (size_t) Kp * h] / nh[h] : 0;
                for (int u = 0; u < nd; u++) {
                    int h = ustr[u] - 1;
                    uscale[u] = scale[h];
                    for (int e = 0; e < Kp; e++) Y[e + (size_t) Kp * u] -= mean[e + (size_t) Kp * h];
                }
                /* single variables: the bases are sums of cells, so
                 * their rows of Sigma are sums of the cells' rows */
                gram_lower(Y, uscale, single ? K : Kp, Kp, nd, S);
                if (single) bases_from_cells(S, nr, nc);
            } else {
                /* - c_h S_h S_h' / n_h, as a Gram with negative scale */
                for (int h = 0; h < H; h++) uscale[h] = center[h] ? -scale[h] / nh[h] : 0;
                gram_lower(mean, uscale, Kp, Kp, H, S);
                for (int h = 0; h < H; h++) {
                    double sh = scale[h];
                    if (sh == 0) continue;
                    if (qa) {
                        const double *Q = qa + (size_t) Kp * Kp * (b + (size_t) nb * h);
                        for (int j = 0; j < Kp; j++)
                            for (int i = j; i < Kp; i++) S[i + (size_t) Kp * j] += sh * Q[i + (size_t) Kp * j];
                    } else {
                        /* a row in cell t is in t, its column base, its row
                         * base and the block base */
                        const size_t o = (size_t) K * (b + (size_t) nb * h);
                        const double *s2 = cells3 ? cells3 + 3 * o + 2 : part[0] + 2 * part_len[0] + o;
                        const int st = cells3 ? 3 : 1;
                        for (int c = 0; c < nc; c++)
                            for (int r = 0; r < nr; r++) {
                                int t = r + nr * c, ix[4] = {t, K + c, K + nc + r, Kp - 1};
                                double v = sh * s2[(size_t) st * t];
                                for (int a = 0; a < 4; a++)
                                    for (int a2 = 0; a2 < 4; a2++)
                                        if (ix[a] >= ix[a2]) S[ix[a] + (size_t) Kp * ix[a2]] += v;
                            }
                    }
                }
            }
            for (int j = 0; j < Kp; j++)
                for (int i = j + 1; i < Kp; i++) S[j + (size_t) Kp * i] = S[i + (size_t) Kp * j];
        }

        /* degrees of freedom of every entry's domain: its PSUs with rows of
         * positive weight minus their strata (survey's degf() of the domain) */
        if (mode == DES_CLUSTER) {
            memset(seenh, 0, (size_t) Kp * H);
            for (int e = 0; e < Kp; e++) dfe[e] = 0;
            for (int d = 0; d < nd; d++) {
                const double *cd = cntp + (size_t) Kp * d;
                char *sh = seenh + (size_t) Kp * (ustr[d] - 1);
                for (int e = 0; e < Kp; e++)
                    if (cd[e] > 0) {
                        dfe[e] += sh[e] ? 1 : 0;   /* the first PSU of a stratum adds none */
                        sh[e] = 1;
                    }
            }
        } else if (mode == DES_STRATA) {
            for (int e = 0; e < Kp; e++) dfe[e] = Nzp[e];
            for (int d = 0; d < nd; d++)
                for (int e = 0; e < Kp; e++) dfe[e] -= cntp[e + (size_t) Kp * d] > 0;
        } else
            for (int e = 0; e < Kp; e++) dfe[e] = Nzp[e] - 1;

        /* percents, their variances, intervals */
        double *se_n_w = o[0] + (size_t) K * b, *se = o[1] + (size_t) K * b,
            *lo = o[2] + (size_t) K * b, *hi = o[3] + (size_t) K * b,
            *deff = o[4] + (size_t) K * b, *df = o[5] + (size_t) K * b;
        for (int c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++) {
                int t = r + nr * c;
                base[t] = percent == 1 ? K + nc + r : percent == 2 ? Kp - 1 : K + c;
                X[t] = Tz[base[t]];
                p[t] = X[t] > 0 ? Tz[t] / X[t] : NA_REAL;
            }
#define SG(i, j) S[(i) + (size_t) Kp * (j)]
#define LINCOV(i, j) ((SG(i, j) - pj0 * SG(i, base[j]) - pi0 * SG(base[i], j) + \
                       pi0 * pj0 * SG(base[i], base[j])) / (X[i] * X[j]))
        for (int t = 0; t < K; t++) {
            double pi0 = ISNAN(p[t]) ? 0 : p[t], pj0 = pi0;
            vp[t] = X[t] > 0 ? LINCOV(t, t) : NA_REAL;
            /* the size of the terms of vp: below 1e-12 of it, vp is zero
             * up to rounding (a domain of one PSU, a percent of 0 or 100) */
            mag[t] = X[t] > 0 ? (fabs(SG(t, t)) + 2 * pi0 * fabs(SG(t, base[t])) +
                                 pi0 * pi0 * fabs(SG(base[t], base[t]))) / (X[t] * X[t]) : NA_REAL;
            if (!ISNAN(vp[t]) && vp[t] <= 1e-12 * mag[t]) vp[t] = 0;
            se_n_w[t] = sqrt(fmax2(SG(t, t), 0));
            se[t] = ISNAN(vp[t]) ? NA_REAL : 100 * sqrt(fmax2(vp[t], 0));
            df[t] = dfe[base[t]];
            /* design effect against simple random sampling of the domain's
             * rows of positive weight (nobs): p(1-p)/nobs, or survey's
             * s^2/nobs (deff = "replace") or s^2/nobs (1 - nobs/N)
             * (deff = TRUE), s^2 = p(1-p) nobs/(nobs-1), N the domain's
             * weighted count */
            double nobs = Nzp[base[t]], vsrs = NA_REAL;
            if (!ISNAN(p[t]) && p[t] > 0 && p[t] < 1 && nobs > 0) {
                double pq = p[t] * (1 - p[t]);
                if (deff_type == 0) vsrs = pq / nobs;
                else if (nobs > 1) {
                    vsrs = pq / (nobs - 1);
                    if (deff_type == 2) {
                        double popn = X[t] / wscale;
                        vsrs = popn > nobs ? vsrs * (1 - nobs / popn) : NA_REAL;
                    }
                }
            }
            deff[t] = ISNAN(vsrs) ? NA_REAL : vp[t] / vsrs;
            prop_ci(p[t], vp[t], df[t], kg_rows >= 0 ? kg_rows : Nz[base[t]], ci, level, &lo[t], &hi[t]);
            if (!ISNAN(lo[t])) { lo[t] *= 100; hi[t] *= 100; }
        }

        /* letters: per row, z tests of all pairs of columns */
        memset(flag, 0, (size_t) K * nc);
        if (letters && percent == 0 && nc > 1) {
            for (int r = 0; r < nr; r++) {
                int s = 0;
                for (int c1 = 0; c1 < nc; c1++)
                    for (int c2 = c1 + 1; c2 < nc; c2++, s++) {
                        int i = r + nr * c1, j = r + nr * c2;
                        pv[s] = NA_REAL;
                        dd[s] = 0;
                        if (ISNAN(p[i]) || ISNAN(p[j]) || !(X[i] > 0) || !(X[j] > 0)) continue;
                        /* no letter rests on a zero or undefined variance:
                         * both columns need two PSUs (rows) of positive
                         * weight, the difference a positive finite SE */
                        if (units[base[i]] < 2 || units[base[j]] < 2) continue;
                        /* nor on a small base: both columns need an
                         * unweighted base of at least min_base rows */
                        if (Nz[base[i]] < min_base || Nz[base[j]] < min_base) continue;
                        double pi0 = p[i], pj0 = p[j];
                        double cv = LINCOV(i, j), d = p[i] - p[j], v = vp[i] + vp[j] - 2 * cv;
                        double m = sqrt(mag[i]) + sqrt(mag[j]);
                        if (!(v > 1e-12 * m * m) || !R_FINITE(v) || !R_FINITE(d)) continue;
                        dd[s] = d;
                        pv[s] = 2 * Rf_pnorm5(-fabs(d) / sqrt(v), 0, 1, 1, 0);
                    }
                p_adjust(pv, npair, adjust, ord);
                s = 0;
                for (int c1 = 0; c1 < nc; c1++)
                    for (int c2 = c1 + 1; c2 < nc; c2++, s++) {
                        if (ISNAN(pv[s]) || !(pv[s] < alpha)) continue;
                        /* the higher column's cell gets the lower one's letter */
                        if (dd[s] > 0) flag[(size_t) (r + nr * c1) * nc + c2] = 1;
                        else flag[(size_t) (r + nr * c2) * nc + c1] = 1;
                    }
            }
        }
        for (int t = 0; t < K; t++) {
            size_t len = 0;
            for (int c = 0; c < nc; c++)
                if (flag[(size_t) t * nc + c]) {
                    const char *lab = CHAR(STRING_ELT(labels, c));
                    size_t l = strlen(lab);
                    if (sep && len > 0) buf[len++] = ',';
                    memcpy(buf + len, lab, l);
                    len += l;
                }
            buf[len] = '\0';
            SET_STRING_ELT(let, (R_xlen_t) K * b + t, Rf_mkCharLenCE(buf, (int) len, CE_UTF8));
        }

        /* Rao-Scott: covariance of the joint proportions Y_t / X_all */
        double *tst = NULL, tout[4] = {NA_REAL, NA_REAL, NA_REAL, NA_REAL};
        if (do_test) {
            const double Xa = Tz[Kp - 1], Saa = SG(Kp - 1, Kp - 1);
            for (int t = 0; t < K; t++) {
                wcell[t] = Tz[t];
                ncell[t] = Nzp[t];
            }
            if (Xa > 0) {
                for (int j = 0; j < K; j++) {
                    double qj = Tz[j] / Xa, sj = SG(j, Kp - 1);
                    for (int i = 0; i < K; i++) {
                        double qi = Tz[i] / Xa, si = SG(i, Kp - 1);
                        Vj[i + (size_t) K * j] = (SG(i, j) - si * qj - qi * sj + Saa * qi * qj) / (Xa * Xa);
                    }
                }
                const void *vmax = vmaxget();
                rao_scott(wcell, ncell, Vj, nr, nc, lay_rows[b], lay_nu[b], test, tout);
                vmaxset(vmax);
            }
            tst = tout;
        }
        for (int f = 0; f < 4; f++) o[7 + f][b] = tst ? tst[f] : NA_REAL;
#undef LINCOV
#undef SG
    }
    UNPROTECT(1);
    return ans;
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

/* All blocks of a row variable in one call, so that they share one work
 * space. raws: list of raw (as block_one); dims: integer 5 x blocks (nr,
 * nc, nb, ng, nd); sigmas, qarrs: lists (NULL elements where not given);
 * des, opt as block_one; single, test: integer per block; labels: list of
 * character vectors. Returns a list of block results: per cell and layer
 * se_n_w, se, ci_low, ci_high, deff, df, letters, and per layer the test
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
    const int H = (int) XLENGTH(sc);
    size_t cap = 0;
    for (int k = 0; k < nblk; k++) {
        const int *d = dm + 5 * (size_t) k;
        if (d[0] < 1 || d[1] < 1 || d[2] < 1 || d[3] < 1 || d[4] < 1)
            Rf_error("'dims' must be positive");
        const double kp = (double) d[0] * d[1] + d[0] + d[1] + 1;
        if (kp * kp > UMF_FREE_CELLS || (double) d[3] * d[4] > INT_MAX)
            Rf_error("block %d is too large for inference", k + 1);
        SEXP lab = VECTOR_ELT(labels, k);
        if (TYPEOF(lab) != STRSXP || XLENGTH(lab) < d[1])
            Rf_error("'labels' must name every column of block %d", k + 1);
        /* the sums must be there before any work space is sized by dims */
        SEXP raw = VECTOR_ELT(raws, k);
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
        size_t need = umf_block_need(d[0], d[1], (double) d[3] * d[4], d[4], H, ll);
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
        const int *d = dm + 5 * (size_t) k;
        SEXP raw = VECTOR_ELT(raws, k);     /* checked above */
        umf_blocksrc src;
        src.cells3 = NULL;
        for (int s = 0; s < 4; s++) {
            SEXP m = VECTOR_ELT(raw, s);
            src.part[s] = REAL(m);
            src.part_len[s] = XLENGTH(m) / 3;
            src.pos[s] = XLENGTH(raw) == 5 ? REAL(VECTOR_ELT(VECTOR_ELT(raw, 4), s)) : NULL;
        }
        ar.used = 0;
        SET_VECTOR_ELT(ans, k, block_one(&src, d, VECTOR_ELT(sigmas, k), VECTOR_ELT(qarrs, k),
                                         des, opt, single[k], test[k], VECTOR_ELT(labels, k),
                                         lay_rows, lay_nu, &ar));
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
