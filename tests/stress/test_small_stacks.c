/* test_small_stacks: gomem on threads with little stack left.
 *
 * gomem runs on the caller's stack: the allocation slow paths, a collection started by
 * an allocation or by gm_collect, the heap profile's first sample (which reads
 * /proc/self/maps and the ELF symbols of the library) and the stack scrubbing after
 * them. Each of 8 threads with a 64 KiB stack recurses until only STACK_LEFT bytes are
 * left below its frame, and there allocates (small, noscan and large objects, every
 * allocation sampled by the heap profiler), frees, collects, and checks the objects it
 * keeps. A path that needs more than STACK_LEFT hits the guard page and the test
 * crashes. Before the profiler's path buffer became static (fifth session), the first
 * sample alone took 7.6 KiB. */
#include "api/gmtest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS   8
#define STACK_SIZE (64 * 1024)
/* gomem's budget on the caller's stack; ASan's frames are several times larger */
#define STACK_LEFT ((GMT_ASAN ? 4 : 1) * 8 * 1024)
#define NKEEP      64
#define ROUNDS     40

static _Atomic long bad, rounds_done;

typedef struct thread_arg_s {
    int id;
    uintptr_t stack_lo;
} thread_arg_t;

static uint64_t pattern(uint64_t seed, size_t i) {
    return (seed + i) * 0x9E3779B97F4A7C15ull;
}

/* work runs at the bottom of the stack: allocate, fill, free half, collect, check. */
GMT_NOINLINE static void work(int id, int round) {
    void *keep[NKEEP];
    size_t size[NKEEP];
    uint64_t seed = (uint64_t)id << 32 | (uint64_t)round;
    for (int i = 0; i < NKEEP; i++) {
        size[i] = (i % 7 == 6) ? 40000 + (size_t)i : 16 + (size_t)(i * 37 % 1000);
        uint64_t *p = (i & 1) ? gm_alloc_noscan(size[i]) : gm_alloc(size[i]);
        if (p == NULL) {
            atomic_fetch_add(&bad, 1);
            return;
        }
        for (size_t w = 0; w < size[i] / 8; w++)
            p[w] = pattern(seed, w);
        keep[i] = p;
    }
    for (int i = 0; i < 500; i++)
        gm_keep_alive(gm_alloc(64)); /* garbage: slow paths, refills */
    for (int i = 0; i < NKEEP; i += 2) {
        gm_free(keep[i]);
        keep[i] = NULL;
    }
    if (round % 4 == id % 4) gm_collect();
    for (int i = 1; i < NKEEP; i += 2) {
        const uint64_t *p = keep[i];
        for (size_t w = 0; w < size[i] / 8; w++)
            if (p[w] != pattern(seed, w)) {
                atomic_fetch_add(&bad, 1);
                break;
            }
        gm_free(keep[i]);
    }
}

/* descend recurses until STACK_LEFT bytes remain below this frame, then works. */
GMT_NOINLINE static int descend(const thread_arg_t *a, int round) {
    volatile char pad[256];
    pad[0] = (char)round;
    uintptr_t sp = (uintptr_t)&pad[0];
    if (sp - a->stack_lo <= STACK_LEFT + 512) {
        work(a->id, round);
        return pad[0];
    }
    return descend(a, round) + pad[0];
}

static void *thread_main(void *arg) {
    thread_arg_t a = {.id = (int)(intptr_t)arg};
    pthread_attr_t attr;
    void *addr;
    size_t size;
    CHECK_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
    CHECK_EQ(pthread_attr_getstack(&attr, &addr, &size), 0);
    pthread_attr_destroy(&attr);
    a.stack_lo = (uintptr_t)addr;
    for (int round = 0; round < ROUNDS; round++) {
        descend(&a, round);
        atomic_fetch_add(&rounds_done, 1);
    }
    return NULL;
}

int main(void) {
    gm_init();
    gm_set_mem_profile_rate(1); /* every allocation takes the profiler's path */
    pthread_attr_t attr;
    CHECK_EQ(pthread_attr_init(&attr), 0);
    size_t stack = GMT_ASAN ? 4 * STACK_SIZE : STACK_SIZE; /* ASan's frames are larger */
    CHECK_EQ(pthread_attr_setstacksize(&attr, stack), 0);
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK_EQ(pthread_create(&th[i], &attr, thread_main, (void *)(intptr_t)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    pthread_attr_destroy(&attr);
    CHECK_EQ(atomic_load(&bad), 0);
    CHECK_EQ(atomic_load(&rounds_done), NTHREADS * ROUNDS);
    gm_collect();
    return check_done();
}
