/* backend.h: one allocation interface over gomem and its peers, for the workloads in bench/.
 *
 * Exactly one of these is defined on the compiler command line:
 *   BACKEND_GOMEM     gm_alloc / gm_alloc_noscan / gm_free, pauses from gm_read_memstats
 *   BACKEND_BOEHM     GC_MALLOC / GC_MALLOC_ATOMIC / GC_FREE (Debian libgc, GC_THREADS),
 *                     pauses timed with GC_set_on_collection_event
 *   BACKEND_GLIBC     malloc / free from the C library
 *   BACKEND_JEMALLOC  malloc / free, linked with -ljemalloc, which replaces them (Debian
 *                     builds jemalloc without a prefix); checked at start with dladdr
 *   BACKEND_MIMALLOC  mi_malloc / mi_free, the prefixed API of -lmimalloc
 *
 * The interface:
 *   bk_init()            once, first thing in main
 *   bk_alloc(n)          an object the collector scans (for malloc back-ends: malloc)
 *   bk_alloc_atomic(n)   an object that holds no pointers
 *   bk_free(p)           an explicit free: gm_free, GC_FREE or free. The tree workloads call
 *                        it only when BK_IS_GC is 0; the churn workload always calls it.
 *   bk_collect()         a full forced collection (no-op for malloc back-ends)
 *   bk_poll()            cheap; call it often from the main loop: it harvests gomem's pause
 *                        ring before the ring (256 entries) can wrap
 *   bk_pause_reset()     forget the pauses so far (pause.c: only the steady phase counts)
 *   bk_finish()          collection count and pause records at the end of a run
 *   bk_result(...)       prints the RESULT line that bench/run.sh parses
 *   bk_xorshift(&s)      random numbers; bk_churn_sizes[16]: churn's object sizes
 *
 * Memory from malloc back-ends is not zeroed; the workloads set every field they read.
 * See bench/README.md for how the programs are run. */
#ifndef BENCH_BACKEND_H
#define BENCH_BACKEND_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* dladdr */
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(BACKEND_GOMEM)
#include "gomem.h"
#define BK_NAME "gomem"
#define BK_IS_GC 1
#elif defined(BACKEND_BOEHM)
#define GC_THREADS 1
#include <gc/gc.h>
#define BK_NAME "boehm"
#define BK_IS_GC 1
#elif defined(BACKEND_GLIBC)
#define BK_NAME "glibc"
#define BK_IS_GC 0
#elif defined(BACKEND_JEMALLOC)
#include <dlfcn.h>
#define BK_NAME "jemalloc"
#define BK_IS_GC 0
#elif defined(BACKEND_MIMALLOC)
#include <mimalloc.h>
#define BK_NAME "mimalloc"
#define BK_IS_GC 0
#else
#error "define one of BACKEND_GOMEM, BACKEND_BOEHM, BACKEND_GLIBC, BACKEND_JEMALLOC, BACKEND_MIMALLOC"
#endif

#include <pthread.h>

/* ---------------------------------------------------------------------------------
 * Clock and pause records
 * ------------------------------------------------------------------------------- */

static inline uint64_t bk_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define BK_MAX_PAUSES (1u << 16)

typedef struct bk_stats_s {
    uint64_t gc_count;      /* collections the back-end reports */
    uint64_t npauses;       /* pause records kept in pause_ns */
    uint64_t lost_pauses;   /* gomem only: cycles whose ring entry was overwritten unread */
    uint64_t pause_ns[BK_MAX_PAUSES];
} bk_stats_t;

static bk_stats_t bk_stats;
static uint64_t bk_start_ns;

static inline void bk_record_pause(uint64_t ns) {
    if (bk_stats.npauses < BK_MAX_PAUSES)
        bk_stats.pause_ns[bk_stats.npauses++] = ns;
}

/* ---------------------------------------------------------------------------------
 * gomem
 * ------------------------------------------------------------------------------- */
#if defined(BACKEND_GOMEM)

static uint32_t bk_gomem_seen_gc;   /* cycles whose pauses are already recorded */
static uint64_t bk_gomem_next_poll; /* bk_now_ns() deadline of the next harvest */
static unsigned bk_gomem_poll_tick;
static gm_memstats_t bk_gomem_ms;   /* large (about 6 KiB): kept off the stack */

static void bk_gomem_harvest(void) {
    gm_read_memstats(&bk_gomem_ms);
    uint32_t n = bk_gomem_ms.num_gc;
    if (n - bk_gomem_seen_gc > 256) {
        bk_stats.lost_pauses += n - bk_gomem_seen_gc - 256;
        bk_gomem_seen_gc = n - 256;
    }
    /* cycle k (0-based) is at pause_ns[k % 256]: the newest, k = num_gc-1, is at
     * (num_gc + 255) % 256 */
    for (uint32_t k = bk_gomem_seen_gc; k < n; k++)
        bk_record_pause(bk_gomem_ms.pause_ns[k % 256]);
    bk_gomem_seen_gc = n;
    bk_stats.gc_count = n;
}

static inline void bk_init(void) {
    gm_init();
    bk_start_ns = bk_now_ns();
    bk_gomem_next_poll = bk_start_ns + 50000000u;
}
static inline void *bk_alloc(size_t n) { return gm_alloc(n); }
static inline void *bk_alloc_atomic(size_t n) { return gm_alloc_noscan(n); }
static inline void bk_free(void *p) { gm_free(p); }
static inline void bk_collect(void) { gm_collect(); }
static inline int bk_thread_register(void) { return gm_thread_register(); }
static inline void bk_thread_unregister(void) {}

/* bk_poll reads the clock every 1024 calls and the pause ring every 50 ms. Only the
 * main thread calls it. */
static inline void bk_poll(void) {
    if ((++bk_gomem_poll_tick & 1023) != 0)
        return;
    uint64_t now = bk_now_ns();
    if (now >= bk_gomem_next_poll) {
        bk_gomem_harvest();
        bk_gomem_next_poll = now + 50000000u;
    }
}
static inline void bk_finish(void) { bk_gomem_harvest(); }
static inline void bk_pause_reset(void) {
    bk_gomem_harvest();
    bk_stats.npauses = 0;
}

/* ---------------------------------------------------------------------------------
 * Boehm GC
 * ------------------------------------------------------------------------------- */
#elif defined(BACKEND_BOEHM)

static uint64_t bk_boehm_stop_ns;

/* Called by the collector with its allocation lock held, so no locking here. A pause
 * runs from the request to stop the world to the moment it is running again. */
static void bk_boehm_event(GC_EventType ev) {
    if (ev == GC_EVENT_PRE_STOP_WORLD) {
        bk_boehm_stop_ns = bk_now_ns();
    } else if (ev == GC_EVENT_POST_START_WORLD && bk_boehm_stop_ns != 0) {
        bk_record_pause(bk_now_ns() - bk_boehm_stop_ns);
        bk_boehm_stop_ns = 0;
    }
}

/* GC_INIT runs one collection of its own (gc_no is 1 after it), before the event
 * callback is set: it is not one of the workload's, so the count starts after it. */
static unsigned long bk_boehm_gc_no0;
static inline void bk_init(void) {
    GC_INIT();
    GC_allow_register_threads();
    GC_set_on_collection_event(bk_boehm_event);
    bk_boehm_gc_no0 = GC_get_gc_no();
    bk_start_ns = bk_now_ns();
}
static inline void *bk_alloc(size_t n) { return GC_MALLOC(n); }
static inline void *bk_alloc_atomic(size_t n) { return GC_MALLOC_ATOMIC(n); }
static inline void bk_free(void *p) { GC_FREE(p); }
static inline void bk_collect(void) { GC_gcollect(); }
/* Threads made with pthread_create are registered by the GC_THREADS redirect. */
static inline int bk_thread_register(void) { return 0; }
static inline void bk_thread_unregister(void) {}
static inline void bk_poll(void) {}
static inline void bk_finish(void) { bk_stats.gc_count = GC_get_gc_no() - bk_boehm_gc_no0; }
static inline void bk_pause_reset(void) {
    GC_alloc_lock(); /* the event callback runs under the allocation lock */
    bk_stats.npauses = 0;
    GC_alloc_unlock();
}

/* ---------------------------------------------------------------------------------
 * malloc back-ends
 * ------------------------------------------------------------------------------- */
#else

#if defined(BACKEND_MIMALLOC)
#define BK_MALLOC mi_malloc
#define BK_FREE mi_free
#else
#define BK_MALLOC malloc
#define BK_FREE free
#endif

static inline void bk_init(void) {
#if defined(BACKEND_JEMALLOC)
    /* Make sure -ljemalloc really replaced the C library's malloc. */
    Dl_info info;
    if (dladdr((void *)malloc, &info) == 0 || info.dli_fname == NULL ||
        strstr(info.dli_fname, "jemalloc") == NULL) {
        fprintf(stderr, "backend: malloc is not jemalloc's (%s)\n",
                info.dli_fname ? info.dli_fname : "?");
        exit(3);
    }
#endif
    bk_start_ns = bk_now_ns();
}
static inline void *bk_alloc(size_t n) { return BK_MALLOC(n); }
static inline void *bk_alloc_atomic(size_t n) { return BK_MALLOC(n); }
static inline void bk_free(void *p) { BK_FREE(p); }
static inline void bk_collect(void) {}
static inline int bk_thread_register(void) { return 0; }
static inline void bk_thread_unregister(void) {}
static inline void bk_poll(void) {}
static inline void bk_finish(void) {}
static inline void bk_pause_reset(void) {}

#endif

/* ---------------------------------------------------------------------------------
 * Common
 * ------------------------------------------------------------------------------- */

static inline void *bk_check(void *p, size_t n) {
    if (p == NULL) {
        fprintf(stderr, "backend %s: allocation of %zu bytes failed\n", BK_NAME, n);
        exit(2);
    }
    return p;
}

/* bk_xorshift: the workloads' random numbers (xorshift64; the state must not be 0). */
static inline uint64_t bk_xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* bk_churn_sizes: the object sizes of churn.c and micro/freeloop.c, weighted to the
 * small end; index with 4 random bits. */
static const uint16_t bk_churn_sizes[16] __attribute__((unused)) = {
    16, 16, 16, 24, 24, 32, 32, 32, 48, 48, 64, 64, 96, 128, 256, 512};

static int bk_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* bk_pct returns the q-th percentile (nearest rank) of the sorted v[0..n). */
static inline double bk_pct_ms(const uint64_t *v, uint64_t n, double q) {
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1e6;
}

/* bk_result ends a run: it collects the back-end's statistics, prints the pause summary
 * and the RESULT line, and returns the exit status (1 if the checksum failed). */
static inline int bk_result(const char *bench, int checksum_ok) {
    double secs = (double)(bk_now_ns() - bk_start_ns) / 1e9;
    bk_finish();
    char maxs[32] = "n/a", p50s[32] = "n/a", p99s[32] = "n/a";
    if (BK_IS_GC) {
        uint64_t n = bk_stats.npauses;
        qsort(bk_stats.pause_ns, n, sizeof(uint64_t), bk_cmp_u64);
        snprintf(maxs, sizeof maxs, "%.3f", n ? (double)bk_stats.pause_ns[n - 1] / 1e6 : 0.0);
        snprintf(p50s, sizeof p50s, "%.3f", bk_pct_ms(bk_stats.pause_ns, n, 50));
        snprintf(p99s, sizeof p99s, "%.3f", bk_pct_ms(bk_stats.pause_ns, n, 99));
        if (bk_stats.lost_pauses)
            fprintf(stderr, "note: %llu pause records were overwritten before they were read\n",
                    (unsigned long long)bk_stats.lost_pauses);
    }
    if (!checksum_ok)
        fprintf(stderr, "%s/%s: CHECKSUM MISMATCH\n", bench, BK_NAME);
    printf("RESULT bench=%s backend=%s time_s=%.3f gc_count=%llu max_pause_ms=%s "
           "p50_pause_ms=%s p99_pause_ms=%s\n",
           bench, BK_NAME, secs, (unsigned long long)bk_stats.gc_count, maxs, p50s, p99s);
    fflush(stdout);
    return checksum_ok ? 0 : 1;
}

#endif /* BENCH_BACKEND_H */
