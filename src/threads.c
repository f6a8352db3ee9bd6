/* The one thread-count setting of umfrage (as data.table's setDTthreads):
 * every parallel loop asks umf_threads_for(n) and passes the answer through
 * num_threads(); omp_set_num_threads() is never called, so R and other
 * packages are left alone. */
#include "umfrage.h"
#include <stdlib.h>
#include <unistd.h>

static int umf_nthreads = 1;
/* The process in which umf_nthreads was set (at load, or by the user).
 *
 * A forked child (parallel::mclapply, a fork cluster, ...) inherits the
 * parent's OpenMP thread pool as memory but not its threads: a parallel
 * region of more than one thread then waits for threads that do not exist,
 * and the child hangs. So, as data.table does, a child runs on one thread
 * while the parent keeps its setting. The child is recognised by its
 * process id rather than by a pthread_atfork() handler, which could not be
 * removed again if the package's DLL were unloaded. umfrage_threads(n)
 * called in the child itself sets the child's count (at the caller's
 * risk). */
static pid_t umf_owner_pid = 0;

static int umf_threads_now(void)
{
    return getpid() == umf_owner_pid ? umf_nthreads : 1;
}

void umf_threads_init(void)
{
    umf_owner_pid = getpid();
}
/* A pass hands a further thread at most one per this many rows: waking a
 * thread costs more than it saves on shorter passes. Measured on the 2-core
 * development machine (3-way table pass, n, sum w, sum w^2): at 1e5 rows 2
 * threads took as long as 1, at 2e5 0.57x, at 1e6 0.56x the time. */
static R_xlen_t umf_min_rows = (R_xlen_t) 1 << 17;

/* Largest count the process allows: processors, OMP_THREAD_LIMIT and
 * OMP_NUM_THREADS as seen through the OpenMP runtime. */
static int umf_threads_cap(void)
{
    int cap = omp_get_num_procs();
    int lim = omp_get_thread_limit();
    int mx = omp_get_max_threads();
    if (lim > 0 && lim < cap) cap = lim;
    if (mx > 0 && mx < cap) cap = mx;
    return cap < 1 ? 1 : cap;
}

/* Threads for a pass over n rows, so small inputs never pay for a
 * parallel region. */
int umf_threads_for(R_xlen_t n)
{
    int nth = umf_threads_now();
    int cap = umf_threads_cap();
    if (nth > cap) nth = cap;
    R_xlen_t useful = 1 + n / umf_min_rows;
    if ((R_xlen_t) nth > useful) nth = (int) useful;
    return nth < 1 ? 1 : nth;
}

SEXP C_threads_get(void)
{
    return Rf_ScalarInteger(umf_threads_now());
}

SEXP C_threads_max(void)
{
    SEXP ans = PROTECT(Rf_allocVector(INTSXP, 2));
    INTEGER(ans)[0] = umf_threads_cap();
#ifdef _OPENMP
    INTEGER(ans)[1] = 1;
#else
    INTEGER(ans)[1] = 0;
#endif
    UNPROTECT(1);
    return ans;
}

/* Rows per further thread (internal: tests lower it to exercise threads on
 * small data). Returns the old value. */
SEXP C_threads_min_rows(SEXP n)
{
    int k = umf_as_int1(n, "n");
    if (k == NA_INTEGER || k < 1) Rf_error("'n' must be a positive integer");
    double old = (double) umf_min_rows;
    umf_min_rows = k;
    return Rf_ScalarReal(old);
}

SEXP C_threads_set(SEXP n)
{
    int k = umf_as_int1(n, "n");
    if (k == NA_INTEGER || k < 1)
        Rf_error("'n' must be a whole number >= 1, not %d", k);
    int old = umf_threads_now();
    umf_nthreads = k;
    umf_owner_pid = getpid();
    return Rf_ScalarInteger(old);
}
