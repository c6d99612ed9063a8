/* test_reentry: gomem allocating from inside one of its own collections, as it will
 * once it is the program's malloc (LD_PRELOAD): the C library's pthread_create, which
 * a collection calls to start its mark workers (and the sweeper, scavenger and
 * finalizer threads), allocates the new thread's TLS vector with calloc. Here calloc is
 * this executable's, and while the test arms it, it allocates 64 KiB from gomem (and
 * frees it) before it calls the C library's, so that every such call takes the
 * allocation slow path that may start a cycle: by the pacer (the heap is past its
 * trigger when an allocation starts the cycle) and by GOMEMDEBUG=gcstress=1 (a cycle
 * at every refill). Such an allocation
 * must not start a cycle of its own inside the running one: that waited for the
 * collector's own locks (the loader gate, gmi_gc.lock) forever, with every signal
 * blocked. A watchdog thread turns a hang into a failure. Skipped under ASan, whose
 * own calloc this would replace. */
#include "api/gmtest.h"

#include <pthread.h>
#include <stdatomic.h>

#if GMT_ASAN
int main(void) {
    printf("test_reentry: skipped under ASan (the test replaces calloc)\n");
    return 0;
}
#else

extern void *__libc_calloc(size_t, size_t);

static _Atomic int armed;
static _Atomic int routed; /* calloc calls that allocated from gomem */

/* While armed, every calloc allocates (and frees) 64 KiB from gomem first, which takes
 * the slow path that may start a cycle; the memory handed to the C library is its own
 * (it frees and resizes it with calls this test does not see). */
void *calloc(size_t n, size_t size) {
    if (atomic_load(&armed)) {
        atomic_fetch_add(&routed, 1);
        void *g = gm_calloc(1, 64 << 10);
        if (g != NULL) gm_free(g);
    }
    return __libc_calloc(n, size);
}

/* The watchdog is a thread, not an alarm: pthread_create blocks every signal of the
 * calling thread while it runs, so a hang inside its calloc never sees SIGALRM. */
static void *watchdog(void *arg) {
    (void)arg;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 120; /* an absolute deadline: stop signals cut relative sleeps short */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0) {
    }
    static const char msg[] = "test_reentry: hung: an allocation inside a collection waited"
                              " for the collection\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++)
        gmt_fill(gm_alloc(4096), 64, (uint64_t)i);
    return NULL;
}

int main(void) {
    /* gcstress=1 at every refill; keep what else the suite asked for (verify) */
    char env[256];
    const char *d = getenv("GOMEMDEBUG");
    snprintf(env, sizeof env, "%s%sgcstress=1", d && *d ? d : "", d && *d ? "," : "");
    setenv("GOMEMDEBUG", env, 1);
    setenv("GOMEMMARKWORKERS", "2", 1); /* a helper to start: a pthread_create */
    pthread_t wd;
    CHECK_EQ(pthread_create(&wd, NULL, watchdog, NULL), 0);

    atomic_store(&armed, 1);
    gm_init();
    /* The first cycle starts from an allocation (the heap reaches its 4 MiB trigger, or
     * gcstress), and starts the workers; threads of the program's own come and go. */
    void *keep = NULL;
    for (int i = 0; i < 2048; i++) {
        void *p = gm_alloc(4096);
        gmt_fill(p, 4096, (uint64_t)i);
        if (i == 0) keep = p;
    }
    for (int r = 0; r < 4; r++) {
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, worker, NULL), 0);
        pthread_join(th, NULL);
        gm_collect();
    }
    atomic_store(&armed, 0);
    CHECK_EQ(gmt_verify(keep, 4096, 0), (size_t)-1);
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    CHECK_GE(ms.num_gc, 4u);
    printf("test_reentry: %d calloc calls allocated from gomem, %u cycles\n", atomic_load(&routed),
           ms.num_gc);
    /* glibc allocates a thread's TLS vector with calloc; if a future glibc stops doing
     * so, this test no longer covers the collector's own thread starts */
    CHECK(atomic_load(&routed) > 0);
    return check_done();
}
#endif
