/* Domain quantiles with Woodruff intervals (R/quantile.R drives these).
 *
 * A quantile needs an order of y within each domain. One order of all rows
 * (R's order(y), a stable radix sort: ~0.1 s at 1e6 rows, the cost floor of
 * the whole computation) serves every domain of every domain system and
 * every probability: walking the rows in that order, each domain meets its
 * own rows in ascending y, ties in row order -- exactly the order that
 * survey's qrule_math() sees when it sorts the domain's rows alone.
 *
 *   C_qnt_prep      per domain: rows with y, their weight sum, and rows of
 *                   positive weight per (domain, design unit) for the df
 *   C_qnt_rule      the quantile rule at any targets per domain, one walk
 *                   over the sorted rows (a target is finished at the first row
 *                   whose cumulative weight passes it, so a walk costs
 *                   O(n + targets), whatever the number of targets)
 *   C_qnt_indicator z = 1{y <= q} per row and probability, and its weighted
 *                   sum per domain (the CDF at q, numerator)
 *   C_qnt_unit_sums per (domain, design unit) sums of w z (and for rows as
 *                   PSUs per stratum sums of w^2 z z') for z_cov()
 *
 * The rule and the CDF reproduce survey 4.1.1's arithmetic bit for bit
 * (qrule_math(), qs(), svymean()): survey's weights 1 / (1 / w) (svy_w()),
 * sums and cumulative sums in long double in R's order (as R's sum(),
 * cumsum() and colSums()), and its comparisons in double, so that exact
 * ties fall on the same side as in survey.
 *
 * Cost at 1e6 rows, 20 domains, 3 probabilities, 50 strata x 2000 PSUs
 * (measured on a loaded 2-core machine, best of 5): order() 60-90 ms (the
 * floor), sorted copies of y and w 16 ms, per domain system: prep 12 ms,
 * two walks 4 ms each, the indicator z (1e6 x 3) 24 ms, unit sums and
 * z_cov() 18 ms; in all ~0.15 s (0.3 s under load), +0.05-0.09 s per
 * further system (e.g. the Total). A mean's per-(domain, PSU) sum pass is
 * 3-10 ms: a quantile row costs about ten to twenty mean rows, mostly the
 * sort, which a table shares among its column variables. (Reproducing
 * survey's arithmetic -- two divisions per row for 1 / (1 / w), one for
 * w / W -- measured within the noise: best of 5 0.14-0.18 s against
 * 0.12-0.14 s before, same data.) */
#include "umfrage.h"
#include <math.h>

#define CHECK_INT(i) if (((i) & (UMF_CHUNK - 1)) == UMF_CHUNK - 1) R_CheckUserInterrupt()

/* Length of a double vector argument; the error names it (R's own
 * accessors would fail with "LENGTH or similar applied to ..."). */
static R_xlen_t vec_len(SEXP x, const char *arg)
{
    if (!Rf_isReal(x)) Rf_error("'%s' must be a double vector", arg);
    return XLENGTH(x);
}

/* Domain codes: an integer vector of n codes in 1..ndom or NA. */
static const int *dom_codes(SEXP domain, R_xlen_t n, int ndom, const char *arg)
{
    if (!Rf_isInteger(domain) || XLENGTH(domain) != n)
        Rf_error("'%s' must be an integer vector of %lld codes", arg, (long long) n);
    if (ndom < 0) Rf_error("'ndom' must be >= 0");
    const int *d = INTEGER(domain);
    for (R_xlen_t i = 0; i < n; i++) {
        if (d[i] != NA_INTEGER && (d[i] < 1 || d[i] > ndom))
            Rf_error("'%s' holds code %d at row %lld, outside 1..%d", arg, d[i],
                     (long long) i + 1, ndom);
        CHECK_INT(i);
    }
    return d;
}

static const double *dbl_arg(SEXP x, R_xlen_t n, const char *arg)
{
    if (!Rf_isReal(x) || XLENGTH(x) != n)
        Rf_error("'%s' must be a double vector of length %lld", arg, (long long) n);
    return REAL(x);
}

/* unit: NULL (one unit) or integer codes 1..nunit per row. */
static const int *unit_codes(SEXP unit, R_xlen_t n, int nunit)
{
    if (Rf_isNull(unit)) {
        if (nunit != 1) Rf_error("'nunit' must be 1 without unit codes");
        return NULL;
    }
    if (!Rf_isInteger(unit) || XLENGTH(unit) != n)
        Rf_error("'unit' must be an integer vector of length %lld", (long long) n);
    const int *u = INTEGER(unit);
    for (R_xlen_t i = 0; i < n; i++)
        if (u[i] == NA_INTEGER || u[i] < 1 || u[i] > nunit)
            Rf_error("'unit' holds an invalid code at row %lld", (long long) i + 1);
    return u;
}

/* survey's weight of a row: svydesign() stores prob = 1 / w and weights()
 * returns 1 / prob, which differs from w in the last bit for many w (e.g.
 * apistrat's 44.21); 0 stays 0. */
static inline double svy_w(double w) { return 1.0 / (1.0 / w); }

/* count long doubles from R_alloc(), aligned for long double: R_alloc()
 * guarantees only the alignment of a double (8 bytes), and x86-64's long
 * double wants 16 (UBSan reported the misaligned stores). */
static long double *ld_alloc(size_t count)
{
    const size_t al = _Alignof(long double);
    char *p = R_alloc(count * sizeof(long double) + al, 1);
    uintptr_t a = ((uintptr_t) p + al - 1) & ~(uintptr_t) (al - 1);
    return (long double *) a;
}

/* Per domain: n = rows with non-missing y (any weight), n_w = their weight
 * sum, W = the sum of their survey weights svy_w(w) (both in long double,
 * in row order, as R's sum()), pos = rows of positive weight per (domain,
 * unit) (ndom x nunit, domain fastest). */
SEXP C_qnt_prep(SEXP y, SEXP w, SEXP domain, SEXP ndom_, SEXP unit, SEXP nunit_)
{
    R_xlen_t n = vec_len(y, "y");
    const double *yp = dbl_arg(y, n, "y"), *wp = dbl_arg(w, n, "w");
    int ndom = umf_as_int1(ndom_, "ndom"), nunit = umf_as_int1(nunit_, "nunit");
    const int *d = dom_codes(domain, n, ndom, "domain");
    const int *u = unit_codes(unit, n, nunit);
    umf_check_cells((double) ndom * nunit, n, 1, "the domain quantiles");
    const char *nm[] = {"n", "n_w", "pos", "W"};
    SEXP ans = PROTECT(umf_named_list(nm, 4));
    SEXP sn = PROTECT(Rf_allocVector(REALSXP, ndom));
    SEXP sw = PROTECT(Rf_allocVector(REALSXP, ndom));
    SEXP sp = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t) ndom * nunit));
    SEXP sW = PROTECT(Rf_allocVector(REALSXP, ndom));
    double *pn = REAL(sn), *pw = REAL(sw), *pp = REAL(sp), *pW = REAL(sW);
    long double *acc = ld_alloc(ndom > 0 ? 2 * (size_t) ndom : 1);
    for (int j = 0; j < 2 * ndom; j++) acc[j] = 0;
    for (int j = 0; j < ndom; j++) pn[j] = 0;
    memset(pp, 0, sizeof(double) * (size_t) ndom * nunit);
    for (R_xlen_t i = 0; i < n; i++) {
        CHECK_INT(i);
        int di = d[i];
        if (di == NA_INTEGER || ISNAN(yp[i])) continue;
        di--;
        pn[di] += 1;
        acc[2 * di] += wp[i];
        acc[2 * di + 1] += svy_w(wp[i]);
        if (wp[i] > 0) pp[di + (R_xlen_t) ndom * (u ? u[i] - 1 : 0)] += 1;
    }
    for (int j = 0; j < ndom; j++) {
        pw[j] = (double) acc[2 * j];
        pW[j] = (double) acc[2 * j + 1];
    }
    SET_VECTOR_ELT(ans, 0, sn);
    SET_VECTOR_ELT(ans, 1, sw);
    SET_VECTOR_ELT(ans, 2, sp);
    SET_VECTOR_ELT(ans, 3, sW);
    UNPROTECT(5);
    return ans;
}

/* Order the K targets of each domain ascending (NA targets last and left
 * out): idx[d * K + k], cnt[d] = non-NA targets of domain d. */
static void sort_targets(const double *t, int ndom, int K, int *idx, int *cnt)
{
    for (int d = 0; d < ndom; d++) {
        int *ix = idx + (R_xlen_t) d * K, m = 0;
        for (int k = 0; k < K; k++)
            if (!ISNAN(t[d + (R_xlen_t) ndom * k])) ix[m++] = k;
        /* insertion sort: K is small (probabilities, or twice as many) */
        for (int a = 1; a < m; a++) {
            int v = ix[a], b = a - 1;
            double tv = t[d + (R_xlen_t) ndom * v];
            while (b >= 0 && t[d + (R_xlen_t) ndom * ix[b]] > tv) { ix[b + 1] = ix[b]; b--; }
            ix[b + 1] = v;
        }
        cnt[d] = m;
    }
}

/* The quantile rule "math" exactly as survey 4.1.1's qrule_math() computes
 * it, bit for bit, at targets p (ndom x K proportions in [0, 1], NA: none)
 * of every domain. survey drops the rows of weight 0, sorts the domain's
 * rows by order(x) (stable: ties in row order), takes cumw = cumsum(w)
 * (accumulated in long double, each stored as double) with its weights
 * w = 1 / (1 / w) (svy_w()), W = sum(w) (long double, row order; here
 * C_qnt_prep's W), pos = the last row with cumw <= p * W (compared in
 * double), or 1 if there is none (survey's last()), and returns y[pos] if
 * p - cumw[pos] / W == 0, else y[pos + 1] (y[pos] at the last row). This is
 * the smallest y whose CDF reaches p, except (a) at a tie of cumw with
 * p * W, where the double comparisons decide, and (b) where p * W is below
 * the first cumw (e.g. p = 0): the second smallest value (unless the first
 * share rounds to p). y, w, domain: the rows in R's order(y) (sorted copies,
 * so that the walk reads memory in order: walking through the order itself
 * cost 80 ms at 1e6 rows, the copies ~25 ms once for all walks), w the
 * design's weights (svy_w() applied here); W: C_qnt_prep's W. One walk
 * serves all targets: each domain's targets are sorted (p * W is monotone
 * in p, and so is the double cumw), and a target is finished at the first
 * of its rows whose cumw passes p * W (pos = the row before), or, when that
 * is its first row and the rule steps to pos + 1, at its second row. */
SEXP C_qnt_rule(SEXP y, SEXP w, SEXP domain, SEXP ndom_, SEXP W_, SEXP targets)
{
    R_xlen_t n = vec_len(y, "y");
    const double *yp = dbl_arg(y, n, "y"), *wp = dbl_arg(w, n, "w");
    int ndom = umf_as_int1(ndom_, "ndom");
    const int *d = dom_codes(domain, n, ndom, "domain");
    const double *W = dbl_arg(W_, ndom, "W");
    if (!Rf_isReal(targets) || !Rf_isMatrix(targets) || Rf_nrows(targets) != ndom)
        Rf_error("'targets' must be a double matrix with one row per domain");
    int K = Rf_ncols(targets);
    const double *t = REAL(targets);
    /* a target may lie a rounding beyond [0, 1] (a lower end of F's
     * interval above 1, as survey passes it to its rule): any finite value */
    for (R_xlen_t k = 0; k < (R_xlen_t) ndom * K; k++)
        if (!ISNAN(t[k]) && !R_FINITE(t[k]))
            Rf_error("'targets' must be finite proportions or NA");
    SEXP ans = PROTECT(Rf_allocMatrix(REALSXP, ndom, K));
    double *out = REAL(ans);
    for (R_xlen_t k = 0; k < (R_xlen_t) ndom * K; k++) out[k] = NA_REAL;
    if (ndom == 0 || K == 0) { UNPROTECT(1); return ans; }
    int *idx = (int *) R_alloc((size_t) ndom * K, sizeof(int));
    int *cnt = (int *) R_alloc(ndom, sizeof(int));
    int *nx = (int *) R_alloc(ndom, sizeof(int));
    int *pend = (int *) R_alloc(ndom, sizeof(int));   /* targets waiting for row 2 */
    double *nrow = (double *) R_alloc(ndom, sizeof(double));
    long double *cum = ld_alloc((size_t) ndom);
    double *last = (double *) R_alloc(ndom, sizeof(double));
    double *prevc = (double *) R_alloc(ndom, sizeof(double));
    sort_targets(t, ndom, K, idx, cnt);
    int open = 0;   /* domains with targets left */
    for (int j = 0; j < ndom; j++) {
        nx[j] = 0; pend[j] = 0; nrow[j] = 0; cum[j] = 0; last[j] = NA_REAL; prevc[j] = 0;
        if (cnt[j] > 0) open++;
    }
    double ylast = R_NegInf;
    for (R_xlen_t i = 0; i < n && open > 0; i++) {
        CHECK_INT(i);
        double yi = yp[i], wi = svy_w(wp[i]);
        if (yi < ylast) Rf_error("'y' must be sorted (ascending, NA last)");
        if (!ISNAN(yi)) ylast = yi;
        int di = d[i];
        if (ISNAN(yi) || !(wi > 0) || di == NA_INTEGER) continue;
        di--;
        if (nx[di] >= cnt[di] && pend[di] == 0) continue;
        const int *ix = idx + (R_xlen_t) di * K;
        double Wd = W[di];
        nrow[di] += 1;
        if (pend[di] > 0) {
            /* the domain's second row: y[pos + 1] for targets that fell
             * back to pos = 1 (marked by a NaN payload of NA_REAL - below) */
            for (int k = 0; k < nx[di]; k++) {
                R_xlen_t slot = di + (R_xlen_t) ndom * ix[k];
                if (ISNAN(out[slot]) && !ISNA(out[slot])) out[slot] = yi;
            }
            pend[di] = 0;
        }
        cum[di] += wi;
        double c = (double) cum[di];
        while (nx[di] < cnt[di]) {
            R_xlen_t slot = di + (R_xlen_t) ndom * ix[nx[di]];
            double p = t[slot];
            if (c <= p * Wd) break;              /* pos >= this row */
            if (nrow[di] > 1) {
                /* pos = the previous row */
                out[slot] = (p - prevc[di] / Wd == 0) ? last[di] : yi;
            } else if (p - c / Wd == 0) {
                out[slot] = yi;                  /* pos = 1 (fallback), share == p */
            } else {
                out[slot] = R_NaN;               /* pos = 1, y[2]: at the next row */
                pend[di]++;
            }
            nx[di]++;
        }
        prevc[di] = c;
        last[di] = yi;
        if (nx[di] >= cnt[di] && pend[di] == 0) open--;
    }
    /* targets never passed (pos = the last row), and targets waiting for a
     * second row that does not exist: the domain's last value */
    for (int j = 0; j < ndom; j++) {
        for (; nx[j] < cnt[j]; nx[j]++)
            out[j + (R_xlen_t) ndom * idx[(R_xlen_t) j * K + nx[j]]] = last[j];
        if (pend[j] > 0)
            for (int k = 0; k < cnt[j]; k++) {
                R_xlen_t slot = j + (R_xlen_t) ndom * idx[(R_xlen_t) j * K + k];
                if (ISNAN(out[slot]) && !ISNA(out[slot])) out[slot] = last[j];
            }
    }
    UNPROTECT(1);
    return ans;
}

/* z[i, p] = 1{y_i <= q[d_i, p]} for rows in a domain with y (0 elsewhere,
 * and where q is NA), with attributes "sum": the domain's CDF at q as
 * survey's svymean(x <= q) computes it, colSums(z * w / W) with survey's
 * weights svy_w(w) and W their sum (C_qnt_prep's W), accumulated in long
 * double in row order (ndom x P), and "all": whether every row of positive
 * weight of the domain has z = 1 (ndom x P). */
SEXP C_qnt_indicator(SEXP y, SEXP w, SEXP domain, SEXP ndom_, SEXP q, SEXP W_)
{
    R_xlen_t n = vec_len(y, "y");
    const double *yp = dbl_arg(y, n, "y"), *wp = dbl_arg(w, n, "w");
    int ndom = umf_as_int1(ndom_, "ndom");
    const int *d = dom_codes(domain, n, ndom, "domain");
    const double *W = dbl_arg(W_, ndom, "W");
    if (!Rf_isReal(q) || !Rf_isMatrix(q) || Rf_nrows(q) != ndom)
        Rf_error("'q' must be a double matrix with one row per domain");
    int P = Rf_ncols(q);
    R_xlen_t DP = (R_xlen_t) ndom * P;
    const double *qp = REAL(q);
    SEXP z = PROTECT(Rf_allocMatrix(REALSXP, n, P));
    SEXP s = PROTECT(Rf_allocMatrix(REALSXP, ndom, P));
    SEXP al = PROTECT(Rf_allocMatrix(LGLSXP, ndom, P));
    double *zp = REAL(z), *sp = REAL(s);
    int *ap = LOGICAL(al);
    /* per domain: its P thresholds, then P counts of positive-weight rows
     * above the threshold (row-major, one cache line per domain for small
     * P); the sums in long double alongside */
    double *acc = (double *) R_alloc((size_t) DP * 2 + 1, sizeof(double));
    long double *sum = ld_alloc((size_t) DP + 1);
    for (int j = 0; j < ndom; j++)
        for (int p = 0; p < P; p++) {
            acc[(R_xlen_t) j * 2 * P + p] = qp[j + (R_xlen_t) ndom * p];
            acc[(R_xlen_t) j * 2 * P + P + p] = 0;
            sum[(R_xlen_t) j * P + p] = 0;
        }
    for (R_xlen_t i = 0; i < n; i++) {
        CHECK_INT(i);
        int di = d[i];
        if (di == NA_INTEGER || ISNAN(yp[i])) {
            for (int p = 0; p < P; p++) zp[i + n * p] = 0;
            continue;
        }
        double *a = acc + (R_xlen_t) (di - 1) * 2 * P, yi = yp[i], wi = wp[i];
        long double *sm = sum + (R_xlen_t) (di - 1) * P;
        double share = svy_w(wi) / W[di - 1];
        for (int p = 0; p < P; p++) {
            int v = yi <= a[p];           /* false for an NA threshold */
            zp[i + n * p] = v;
            if (v) sm[p] += share;
            a[P + p] += (!v && wi > 0);
        }
    }
    for (int j = 0; j < ndom; j++)
        for (int p = 0; p < P; p++) {
            sp[j + (R_xlen_t) ndom * p] = (double) sum[(R_xlen_t) j * P + p];
            ap[j + (R_xlen_t) ndom * p] = acc[(R_xlen_t) j * 2 * P + P + p] == 0;
        }
    Rf_setAttrib(z, Rf_install("sum"), s);
    Rf_setAttrib(z, Rf_install("all"), al);
    UNPROTECT(3);
    return z;
}

/* Sums for the variance of domain means of the columns of z (n x P): per
 * domain d, design unit u and entry a (the P columns, then the constant 1),
 * s1[a, u, d] = sum of w z_a over the domain's rows in u; with xprod also
 * Q[a, b, u, d] = sum of w^2 z_a z_b (rows as PSUs: u is the stratum).
 * Rows with domain NA are left out (they stay in the design: their units
 * keep counting in z_cov()). */
SEXP C_qnt_unit_sums(SEXP z, SEXP w, SEXP domain, SEXP ndom_, SEXP unit,
                     SEXP nunit_, SEXP xprod_)
{
    if (!Rf_isReal(z) || !Rf_isMatrix(z)) Rf_error("'z' must be a double matrix");
    R_xlen_t n = Rf_nrows(z);
    int P = Rf_ncols(z), A = P + 1;
    const double *wp = dbl_arg(w, n, "w"), *zp = REAL(z);
    int ndom = umf_as_int1(ndom_, "ndom"), nunit = umf_as_int1(nunit_, "nunit");
    const int *d = dom_codes(domain, n, ndom, "domain");
    const int *u = unit_codes(unit, n, nunit);
    if (!Rf_isLogical(xprod_) || XLENGTH(xprod_) != 1) Rf_error("'xprod' must be TRUE or FALSE");
    int xprod = LOGICAL(xprod_)[0] == 1;
    double n1 = (double) A * nunit * ndom;
    umf_check_cells(n1 * (xprod ? A : 1), n, (double) A * (xprod ? A : 1), "the domain sums");
    const char *nm[] = {"s1", "Q"};
    SEXP ans = PROTECT(umf_named_list(nm, 2));
    SEXP s1 = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t) n1));
    double *s = REAL(s1);
    memset(s, 0, sizeof(double) * (size_t) n1);
    SEXP Q = R_NilValue;
    double *qq = NULL;
    if (xprod) {
        Q = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t) (n1 * A)));
        qq = REAL(Q);
        memset(qq, 0, sizeof(double) * (size_t) (n1 * A));
    }
    double *zi = (double *) R_alloc(A, sizeof(double));
    zi[P] = 1;
    for (R_xlen_t i = 0; i < n; i++) {
        CHECK_INT(i);
        int di = d[i];
        if (di == NA_INTEGER) continue;
        double wi = wp[i];
        R_xlen_t cell = (R_xlen_t) (di - 1) * nunit + (u ? u[i] - 1 : 0);
        double *sc = s + cell * A;
        for (int a = 0; a < P; a++) {
            zi[a] = zp[i + n * a];
            sc[a] += wi * zi[a];
        }
        sc[P] += wi;
        if (xprod) {
            double w2 = wi * wi, *qc = qq + cell * A * A;
            for (int b = 0; b < A; b++)
                for (int a = 0; a < A; a++) qc[a + (R_xlen_t) A * b] += w2 * zi[a] * zi[b];
        }
    }
    SET_VECTOR_ELT(ans, 0, s1);
    SET_VECTOR_ELT(ans, 1, Q);
    UNPROTECT(xprod ? 3 : 2);
    return ans;
}
