/* malloc_ladder.c: Go-style allocation micro-benchmarks over a ladder of sizes
 * (bench_malloc_8, _16, ... _32768, after Go's BenchmarkMalloc8 and friends).
 *
 * For every size, four loops, each timed per call:
 *   gm_alloc         allocate and drop; the collector reclaims (GC cost amortized in)
 *   gm_alloc_noscan  the same with pointer-free objects
 *   gm_alloc+gm_free allocate and free at once (the explicit-free path)
 *   malloc+free      the C library's, for scale
 * Each loop runs about 256 MiB worth of objects (at most 4 million calls) after a short
 * warm-up, three times; the best of the three is printed. The live heap is tiny, so this
 * measures the allocation paths, not marking. gm_alloc returns zeroed memory and malloc
 * does not, so from a few KiB up the gm_alloc figures are mostly the cost of zeroing.
 *
 * Usage: malloc_ladder [size ...]              the ladder, or the given sizes
 *        malloc_ladder --callgrind SIZE CALLS  only CALLS gm_alloc(SIZE) calls inside
 *          ladder_gm_alloc_loop, for bench/callgrind.sh to count instructions per call */
#define _GNU_SOURCE 1
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gomem.h"

static void *volatile sink;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The loops are noinline so that profilers (callgrind --toggle-collect) can find them. */
__attribute__((noinline)) void ladder_gm_alloc_loop(size_t size, long n);
__attribute__((noinline)) void ladder_gm_alloc_loop(size_t size, long n) {
    for (long i = 0; i < n; i++)
        sink = gm_alloc(size);
}

__attribute__((noinline)) void ladder_gm_noscan_loop(size_t size, long n);
__attribute__((noinline)) void ladder_gm_noscan_loop(size_t size, long n) {
    for (long i = 0; i < n; i++)
        sink = gm_alloc_noscan(size);
}

__attribute__((noinline)) void ladder_gm_free_loop(size_t size, long n);
__attribute__((noinline)) void ladder_gm_free_loop(size_t size, long n) {
    for (long i = 0; i < n; i++) {
        void *p = gm_alloc(size);
        sink = p;
        gm_free(p);
    }
}

__attribute__((noinline)) void ladder_malloc_loop(size_t size, long n);
__attribute__((noinline)) void ladder_malloc_loop(size_t size, long n) {
    for (long i = 0; i < n; i++) {
        void *p = malloc(size);
        sink = p;
        free(p);
    }
}

typedef void (*loop_fn)(size_t, long);

/* time_loop returns the best of three timed runs, in ns per call: on a shared machine
 * the minimum is the figure least disturbed by other work. */
static double time_loop(loop_fn f, size_t size, long n) {
    f(size, n / 16 + 1); /* warm-up: thread cache, spans, page heap */
    uint64_t best = UINT64_MAX;
    for (int rep = 0; rep < 3; rep++) {
        uint64_t t0 = now_ns();
        f(size, n);
        uint64_t dt = now_ns() - t0;
        if (dt < best)
            best = dt;
    }
    return (double)best / (double)n;
}

int main(int argc, char **argv) {
    gm_init();
    if (argc == 4 && strcmp(argv[1], "--callgrind") == 0) {
        size_t size = (size_t)atol(argv[2]);
        long n = atol(argv[3]);
        ladder_gm_alloc_loop(size, 1000); /* warm the thread cache outside the count */
        ladder_gm_alloc_loop(size, n);
        return 0;
    }
    size_t ladder[32];
    int nsizes = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && nsizes < 32; i++)
            ladder[nsizes++] = (size_t)atol(argv[i]);
    } else {
        for (size_t s = 8; s <= 32768; s *= 2)
            ladder[nsizes++] = s;
    }
    static const struct {
        const char *name;
        loop_fn fn;
    } loops[] = {{"gm_alloc", ladder_gm_alloc_loop},
                 {"gm_alloc_noscan", ladder_gm_noscan_loop},
                 {"gm_alloc+gm_free", ladder_gm_free_loop},
                 {"malloc+free", ladder_malloc_loop}};
    for (int i = 0; i < nsizes; i++) {
        size_t size = ladder[i];
        long n = (long)((256u << 20) / size);
        if (n > 4000000)
            n = 4000000;
        for (size_t l = 0; l < sizeof loops / sizeof loops[0]; l++) {
            double ns = time_loop(loops[l].fn, size, n);
            char name[64];
            snprintf(name, sizeof name, "bench_malloc_%zu/%s", size, loops[l].name);
            printf("%-36s %9ld %10.1f ns/op\n", name, n, ns);
        }
    }
    gm_memstats_t *ms = malloc(sizeof *ms);
    if (ms != NULL) {
        gm_read_memstats(ms);
        printf("# %u collections, %.3f ms total pause\n", ms->num_gc,
               (double)ms->pause_total_ns / 1e6);
        free(ms);
    }
    return 0;
}
