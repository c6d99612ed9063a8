/* test_threads_oom.c: a thread whose registration runs out of memory for its struct
 * (gmi_threads_fail_registrations, as GOMEMDEBUG=failmmap would at the reservation
 * that holds it). gm_thread_register fails with ENOMEM and one line on stderr, the
 * thread's allocations return NULL with ENOMEM, and everything else works without a
 * struct: frees of small and large objects, memstats, pools, a collection that keeps
 * what only its stack holds. A later call registers it. The heap is verified after
 * every cycle (verify=1) and at the end. Links libgomem.a (no pthread_create wrapper,
 * so a new thread is unregistered until its first gomem call). */
#include "internal.h"
#include "gc_internal.h"
#include "api/gmtest.h"

#include <pthread.h>

static void *small_p, *large_p, *pool_p; /* globals are roots */
static void *volatile kept_p;
static _Atomic uintptr_t kept_h; /* hidden: not a root */
static char err[4096];

static int pattern_ok(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

/* Allocated in a helper so that main keeps no copy of the addresses. */
static GMT_NOINLINE void make_objects(void) {
    unsigned char *a = gm_alloc(200), *b = gm_alloc(100000), *k = gm_alloc(4000);
    void *q = gm_alloc(48);
    CHECK(a != NULL && b != NULL && k != NULL && q != NULL);
    memset(k, 0x6b, 4000);
    small_p = a;
    large_p = b;
    kept_p = k;
    kept_h = gmt_hide(k);
    pool_p = q;
    gmt_clear_scratch_regs();
}

/* hold_and_collect keeps the object only in its own frame while the thread collects
 * without a struct: gmi_thread_scan_unregistered must find it there. */
static GMT_NOINLINE int hold_and_collect(void) {
    unsigned char *volatile k = kept_p;
    kept_p = NULL;
    for (int i = 0; i < 3; i++)
        gmt_collect_clean();
    int ok = gm_base(k) == k && pattern_ok(k, 4000, 0x6b);
    gm_keep_alive(k);
    k = NULL;
    return ok;
}

static void *unregistered(void *arg) {
    (void)arg;
    gmi_threads_fail_registrations = 1000000;

    gmt_capture_begin();
    errno = 0;
    int rc = gm_thread_register();
    CHECK(rc == -1 && errno == ENOMEM);
    CHECK(gmi_tls_thread == NULL);
    errno = 0;
    CHECK(gm_alloc(100) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(gm_alloc_noscan(200000) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(gm_calloc(3, 40) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(gm_realloc(NULL, 64) == NULL && errno == ENOMEM);
    gmt_capture_end(err, sizeof err);
    /* one line for the thread, however many calls failed */
    CHECK(strstr(err, "out of memory for the thread struct") != NULL);
    CHECK(strchr(err, '\n') == strrchr(err, '\n'));

    /* frees without a struct: remote free for small, page heap for large; errno kept */
    void *a = small_p, *b = large_p;
    small_p = large_p = NULL;
    errno = 1234;
    gm_free(a);
    gm_free(b);
    CHECK(errno == 1234);
    CHECK(gm_base(a) == NULL && gm_base(b) == NULL);
    CHECK(gmi_tls_thread == NULL);

    gm_memstats_t ms;
    gm_read_memstats(&ms);
    CHECK(ms.num_gc >= 1);

    gm_pool_t *pool = gm_pool_new(NULL, NULL);
    void *pv = pool_p;
    gm_pool_put(pool, pv);
    CHECK(gm_pool_get(pool) == pv);

    CHECK(gm_run_finalizers() == 0);
    CHECK(hold_and_collect());
    CHECK(gmi_tls_thread == NULL);
#if !GMT_ASAN
    /* control: dropped from the frame, the same object dies (ASan's frames keep stale
     * copies, see the Makefile) */
    gmt_collect_clean();
    gmt_collect_clean();
    CHECK(gm_base(gmt_unhide(kept_h)) == NULL);
#endif

    /* memory is back: the next call registers the thread */
    gmi_threads_fail_registrations = 0;
    void *p = gm_alloc(100);
    CHECK(p != NULL && gmi_tls_thread != NULL);
    CHECK(gm_thread_register() == 0);
    gm_free(p);
    return NULL;
}

int main(void) {
    setenv("GOMEMDEBUG", "verify=1", 1);
    gm_init();
    make_objects();
    gmt_wipe_stack();
    gm_collect();
    pthread_t th;
    CHECK(pthread_create(&th, NULL, unregistered, NULL) == 0);
    pthread_join(th, NULL);
    gm_collect();
    gmi_verify_heap();
    return check_done();
}
