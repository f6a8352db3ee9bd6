/* Registration of every .Call entry point, with exact argument counts.
 * Dynamic symbol lookup is off and symbols are forced, so R code calls
 * .Call(C_name, ...) and a typo fails at install time, not at run time. */
#include "umfrage.h"
#include <R_ext/Rdynload.h>

/* quantile.c */
SEXP C_qnt_prep(SEXP y, SEXP w, SEXP domain, SEXP ndom, SEXP unit, SEXP nunit);
SEXP C_qnt_rule(SEXP y, SEXP w, SEXP domain, SEXP ndom, SEXP W, SEXP targets);
SEXP C_qnt_indicator(SEXP y, SEXP w, SEXP domain, SEXP ndom, SEXP q, SEXP W);
SEXP C_qnt_unit_sums(SEXP z, SEXP w, SEXP domain, SEXP ndom, SEXP unit, SEXP nunit,
                     SEXP xprod);
/* numeric.c: the pass of tab()'s numeric rows */
SEXP C_num_pass(SEXP u, SEXP v, SEXP cols, SEXP rest, SEXP restlev, SEXP restna, SEXP w,
                SEXP shift, SEXP xrest, SEXP xrestlev);
SEXP C_num_fast(SEXP specs, SEXP cols, SEXP bcodes, SEXP blev, SEXP bna, SEXP w, SEXP unit,
                SEXP des, SEXP opt);

/* replicate.c: units of replicate weight columns (issue 17) */
SEXP C_rep_units(SEXP W, SEXP w);
SEXP C_rep_profile(SEXP cols, SEXP n_);
SEXP C_rep_rowsum(SEXP prof, SEXP np_, SEXP X, SEXP fac);
SEXP C_rep_rank(SEXP prof, SEXP inD, SEXP vid, SEXP nvid_, SEXP fac, SEXP tol_);

/* dbstream.c: the cells of several column sets from one stream of rows */
SEXP C_dbs_new(SEXP sets, SEXP ncol_, SEXP weighted);
SEXP C_dbs_chunk(SEXP state, SEXP cols, SEXP w);
SEXP C_dbs_dict(SEXP state, SEXP j_, SEXP vals);
SEXP C_dbs_result(SEXP state, SEXP i_);

#define CALLDEF(name, n) {#name, (DL_FUNC) &name, n}

/* calvar.c */
SEXP C_cal_aux(SEXP g, SEXP Gs, SEXP d, SEXP Ds, SEXP w, SEXP w0, SEXP U, SEXP shift,
               SEXP w2s);

/* recal.c: re-calibration of replicate weights on cells */
SEXP C_recal_pairs(SEXP g, SEXP Gs, SEXP unit, SEXP Us, SEXP x);
SEXP C_recal_cells(SEXP start, SEXP cell, SEXP sums, SEXP A, SEXP Gs, SEXP cc,
                   SEXP targets, SEXP method, SEXP calfun, SEXP bounds, SEXP control);
SEXP C_recal_linear(SEXP start, SEXP cell, SEXP sums, SEXP uu, SEXP A, SEXP Gs, SEXP cc,
                    SEXP targets);

static const R_CallMethodDef callMethods[] = {
    CALLDEF(C_threads_get, 0),
    CALLDEF(C_threads_set, 1),
    CALLDEF(C_threads_max, 0),
    CALLDEF(C_threads_min_rows, 1),
    CALLDEF(C_cell_stats, 3),
    CALLDEF(C_cell_sum_w, 3),
    CALLDEF(C_weight_stats, 1),
    CALLDEF(C_weight_max, 1),
    CALLDEF(C_code_int, 2),
    CALLDEF(C_cells_avx2, 1),
    CALLDEF(C_rake, 10),
    CALLDEF(C_tab, 4),
    CALLDEF(C_calibrate, 10),
    CALLDEF(C_first_nonfinite, 1),
    CALLDEF(C_trim, 6),
    CALLDEF(C_bench_exp, 2),
    CALLDEF(C_fingerprint, 1),
    CALLDEF(C_tab_xprod, 4),
    CALLDEF(C_block_inf, 6),
    CALLDEF(C_tab_des, 7),
    CALLDEF(C_sum_units, 2),
    CALLDEF(C_bench_floor, 2),
    CALLDEF(C_cal_aux, 9),
    CALLDEF(C_qnt_prep, 6),
    CALLDEF(C_qnt_rule, 6),
    CALLDEF(C_qnt_indicator, 6),
    CALLDEF(C_qnt_unit_sums, 7),
    CALLDEF(C_num_pass, 10),
    CALLDEF(C_rep_units, 2),
    CALLDEF(C_rep_profile, 2),
    CALLDEF(C_rep_rowsum, 4),
    CALLDEF(C_rep_rank, 6),
    CALLDEF(C_recal_pairs, 5),
    CALLDEF(C_recal_cells, 11),
    CALLDEF(C_recal_linear, 8),
    CALLDEF(C_num_fast, 9),
    CALLDEF(C_dbs_new, 3),
    CALLDEF(C_dbs_chunk, 3),
    CALLDEF(C_dbs_dict, 3),
    CALLDEF(C_dbs_result, 2),
    {NULL, NULL, 0}
};

void R_init_umfrage(DllInfo *dll)
{
    /* platform assumptions the code relies on */
    if (sizeof(int) != 4) Rf_error("umfrage needs 4-byte int");
    if (NA_INTEGER != INT_MIN) Rf_error("umfrage needs NA_INTEGER == INT_MIN");
    umf_threads_init();
    R_registerRoutines(dll, NULL, callMethods, NULL, NULL);
    R_useDynamicSymbols(dll, FALSE);
    R_forceSymbols(dll, TRUE);
}
