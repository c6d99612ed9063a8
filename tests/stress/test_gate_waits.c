/* test_gate_waits: threads past the trigger wait for a collection that holds the
 * loader gate, but must never wait on something the gate's holder waits for. Here two
 * threads allocate inside dl_iterate_phdr callbacks of their own (they hold the loader
 * lock there, which a collection's and gm_explain's listing of the loaded objects
 * needs), one allocates outside, one calls gm_explain in a loop and one gm_collect,
 * for 3 s. Failures seen: an untimed wait while gm_explain listed the objects
 * deadlocked within seconds; a 2 ms wait at every refill during a cycle's listing let
 * 2 cycles complete in 10 s. A monitor fails the test when no thread makes progress
 * for 10 s, and at least 5 cycles must complete. */
#include "api/gmtest.h"

#include <link.h>
#include <pthread.h>
#include <stdatomic.h>

static _Atomic int stop, finished;
static _Atomic unsigned long progress;
static void *volatile sink;

static int in_callback(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)info;
    (void)size;
    (void)arg;
    for (int k = 0; k < 500; k++)
        sink = gm_alloc(256);
    atomic_fetch_add(&progress, 1);
    return 1; /* one object is enough: the lock is held meanwhile */
}

static void *callback_allocator(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        for (int k = 0; k < 500; k++)
            sink = gm_alloc(256);
        dl_iterate_phdr(in_callback, NULL);
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *plain_allocator(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        for (int k = 0; k < 1000; k++)
            sink = gm_alloc(64 + (size_t)(k % 256));
        atomic_fetch_add(&progress, 1);
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *explainer(void *arg) {
    FILE *null = fopen("/dev/null", "w");
    while (!atomic_load(&stop)) {
        gm_explain(arg, null);
        atomic_fetch_add(&progress, 1);
    }
    fclose(null);
    atomic_fetch_add(&finished, 1);
    return NULL;
}

static void *collector(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        gm_collect();
        atomic_fetch_add(&progress, 1);
        usleep(20 * 1000);
    }
    atomic_fetch_add(&finished, 1);
    return NULL;
}

int main(void) {
    gm_set_gc_percent(20);
    void **root = gm_alloc(64);
    root[0] = gm_alloc(64);
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    pthread_t th[5];
    CHECK_EQ(pthread_create(&th[0], NULL, callback_allocator, NULL), 0);
    CHECK_EQ(pthread_create(&th[1], NULL, callback_allocator, NULL), 0);
    CHECK_EQ(pthread_create(&th[2], NULL, plain_allocator, NULL), 0);
    CHECK_EQ(pthread_create(&th[3], NULL, explainer, root[0]), 0);
    CHECK_EQ(pthread_create(&th[4], NULL, collector, NULL), 0);
    double t0 = gmt_now(), changed = t0;
    unsigned long last = 0;
    /* 3 s of work, then until all five have finished: a stall of 10 s either way is a
     * deadlock (the threads are never joined blind) */
    while (atomic_load(&finished) < 5) {
        usleep(100 * 1000);
        if (gmt_now() - t0 >= 3.0) atomic_store(&stop, 1);
        unsigned long p = atomic_load(&progress) + (unsigned long)atomic_load(&finished);
        if (p != last) changed = gmt_now();
        last = p;
        if (gmt_now() - changed > 10.0) {
            printf("test_gate_waits: no progress for 10 s (deadlock)\n");
            fflush(stdout);
            _exit(1);
        }
    }
    for (int i = 0; i < 5; i++)
        pthread_join(th[i], NULL);
    gm_read_memstats(&ms);
    printf("test_gate_waits: %lu steps, %u cycles in 3 s\n", atomic_load(&progress),
           ms.num_gc - gc0);
    CHECK_GE(ms.num_gc - gc0, 5u);
    gm_keep_alive(root);
    return check_done();
}
