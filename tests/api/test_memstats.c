/* test_memstats.c: the MemStats figures nothing else checks, against what the program
 * did: the ring of the last 256 pauses and its sum, the end times of pauses and
 * LastGC, GCCPUFraction, NumGC and NumForcedGC, NextGC, HeapReleased after
 * gm_free_os_memory, the BySize counts of a class the program alone uses, and Go's
 * identities (HeapSys = HeapIdle + HeapInuse, HeapReleased <= HeapIdle, HeapObjects =
 * Mallocs - Frees, HeapAlloc <= HeapInuse). */
#include "api/gmtest.h"
#include <time.h>

static void *volatile sink;

static uint64_t wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void identities(const gm_memstats_t *m) {
    CHECK_EQ(m->heap_sys, m->heap_idle + m->heap_inuse);
    CHECK_LE(m->heap_released, m->heap_idle);
    CHECK_EQ(m->heap_objects, m->mallocs - m->frees);
    CHECK_LE(m->heap_alloc, m->heap_inuse);
}

int main(void) {
    gm_memstats_t a, b;
    gm_read_memstats(&a);
    identities(&a);
    uint64_t t0 = wall_ns();

    /* 300 forced cycles: the ring wraps; a class only this test allocates: 1536 B */
    enum { CYCLES = 300, PER = 100 };
    for (int c = 0; c < CYCLES; c++) {
        for (int i = 0; i < PER; i++)
            sink = gm_alloc(1536);
        gm_collect();
    }
    uint64_t t1 = wall_ns();
    gm_read_memstats(&b);
    identities(&b);
    CHECK_GE(b.num_gc - a.num_gc, CYCLES);
    CHECK_EQ(b.num_forced_gc - a.num_forced_gc, CYCLES);
    /* the ring holds the last 256 pauses; entry (num_gc + 255) % 256 is the latest */
    uint64_t sum = 0, nonzero = 0;
    for (int i = 0; i < 256; i++) {
        sum += b.pause_ns[i];
        nonzero += b.pause_ns[i] != 0;
    }
    CHECK_EQ(nonzero, 256);
    CHECK_LE(sum, b.pause_total_ns);
    CHECK(b.pause_total_ns > a.pause_total_ns);
    uint32_t last = (b.num_gc + 255) % 256;
    CHECK_EQ(b.last_gc, b.pause_end[last]);
    CHECK(b.last_gc >= t0 && b.last_gc <= t1);
    int ordered = 1;
    for (uint32_t k = 1; k < 256; k++) {
        uint32_t i = (b.num_gc + 255 - k) % 256, newer = (i + 1) % 256;
        if (b.pause_end[i] > b.pause_end[newer] || b.pause_end[i] < t0 - 1000000000ull) ordered = 0;
    }
    CHECK(ordered);
    CHECK(b.gc_cpu_fraction > 0.0 && b.gc_cpu_fraction <= 1.0);
    CHECK(b.next_gc > 0);

    /* BySize: the 1536-byte class counts exactly this test's allocations */
    int cls = -1;
    for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++)
        if (b.by_size[c].size == 1536) cls = c;
    CHECK(cls > 0);
    if (cls > 0) {
        CHECK_EQ(b.by_size[cls].mallocs - a.by_size[cls].mallocs, CYCLES * PER);
        /* all but the last one (in sink) were collected */
        uint64_t freed = b.by_size[cls].frees - a.by_size[cls].frees;
        CHECK(freed >= CYCLES * PER - 16 &&
              freed <= CYCLES * PER); /* a stale word may keep a few */
    }
    uint64_t msum = 0, fsum = 0;
    for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++) {
        msum += b.by_size[c].mallocs;
        fsum += b.by_size[c].frees;
    }
    CHECK_EQ(msum, b.mallocs);
    CHECK_EQ(fsum, b.frees);

    /* HeapReleased after returning every free page */
    for (int i = 0; i < 4000; i++)
        sink = gm_alloc(4096);
    sink = NULL;
    gm_collect();
    size_t released = gm_free_os_memory();
    gm_memstats_t c;
    gm_read_memstats(&c);
    identities(&c);
    CHECK(released > 0);
    CHECK(c.heap_released >= released);
    return check_done();
}
