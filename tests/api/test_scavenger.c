/* test_scavenger.c: free memory goes back to the OS.
 *   idle: after dropping a 1 GiB heap, with no explicit call, RSS falls under 100 MiB
 *         within a few seconds (idle collection + background scavenger);
 *   free: gm_free_os_memory releases everything free at once, HeapReleased/HeapIdle
 *         stay consistent, released pages are reused and read as zero;
 *   trace: GODEBUG=scavtrace=1 prints Go's scavenger line, "(forced)" for
 *         gm_free_os_memory;
 *   madvfree: GODEBUG=madvdontneed=0 GOMEMDEBUG=verify=1: pages released with MADV_FREE
 *         keep their old contents until the kernel reclaims them, yet every object
 *         allocated on them (small and large, scanned and noscan) starts zeroed,
 *         HeapReleased counts them, the heap verifies; then the same after switching
 *         to MADV_DONTNEED with gm_set_madvdontneed(1);
 *   growth: a heap growth that takes retained memory over the heap goal + 10% makes the
 *         allocation release free pages itself (Go's allocSpan): 80 MiB of free 40 KiB
 *         holes cannot hold 1 MiB objects, so 48 MiB of them grow the heap, and the
 *         holes go back to the OS instead of RSS growing by 48 MiB. */
#include "api/gmtest.h"

#define MiB ((size_t)1 << 20)

/* The index lives in the (scanned) bss, not in a heap object: a thread cache's span
 * cursor may keep pointing at a heap index, which would keep everything alive. */
#define MAXCHUNKS 16384
static void *live[MAXCHUNKS];

static GMT_NOINLINE void build(size_t bytes, size_t chunk) {
    size_t n = bytes / chunk;
    for (size_t i = 0; i < n; i++) {
        live[i] = gm_alloc_noscan(chunk);
        memset(live[i], 0x77, chunk);
    }
}

static GMT_NOINLINE void drop(void) {
    memset(live, 0, sizeof live);
    gmt_wipe_stack();
}

static int child_idle(void) {
    build((size_t)1 << 30, 256 * 1024);
    size_t r0 = gmt_rss();
    drop();
    double t0 = gmt_now(), t = 0;
    size_t r = r0;
    while (gmt_now() - t0 < 15) {
        usleep(50000);
        r = gmt_rss();
        if (r < 100 * MiB) {
            t = gmt_now() - t0;
            break;
        }
    }
    printf("idle: rss_before_mib=%zu rss_after_mib=%zu secs=%.2f\n", r0 >> 20, r >> 20, t);
    return r < 100 * MiB && t > 0 && t < 10 ? 0 : 1;
}

static int child_trace(void) {
    build(64 * MiB, 64 * 1024);
    drop();
    gm_free_os_memory();
    return 0;
}

/* Fill about bytes with objects of the sizes below, each checked to start zeroed and
 * then written with a non-zero pattern; the objects stay reachable from live[]. */
static GMT_NOINLINE size_t fill_checked(size_t bytes, int round) {
    static const size_t sizes[] = {16,    48,        256,       1024,      4096,
                                   16384, 40 * 1024, 64 * 1024, 256 * 1024};
    size_t total = 0, nonzero = 0, i = 0;
    for (; total < bytes && i < MAXCHUNKS; i++) {
        size_t sz = sizes[(i + (size_t)round) % (sizeof sizes / sizeof sizes[0])];
        char *p = (i & 1) ? gm_alloc(sz) : gm_alloc_noscan(sz);
        if (!gmt_all_zero(p, sz)) nonzero++;
        memset(p, 0x5a, sz);
        live[i] = p;
        total += sz;
    }
    return nonzero;
}

static int child_madvfree(void) {
    int bad = 0;
    if (gm_set_madvdontneed(-1) != 0) {
        printf("madvfree: GODEBUG=madvdontneed=0 not applied\n");
        return 1;
    }
    gm_memstats_t *ms = malloc(sizeof *ms);
    for (int round = 0; round < 4; round++) {
        if (round == 2) CHECK_EQ(gm_set_madvdontneed(1), 0); /* rounds 2, 3: MADV_DONTNEED */
        build(192 * MiB, 64 * 1024);                         /* pages full of 0x77 */
        drop();
        gm_collect(); /* verify=1: the heap is checked around every cycle */
        size_t r0 = gmt_rss();
        size_t rel = gm_free_os_memory();
        size_t r1 = gmt_rss();
        gm_read_memstats(ms);
        size_t nonzero = fill_checked(160 * MiB, round);
        printf(
            "madvfree: round %d (%s): released_mib=%zu heap_released_mib=%llu rss %zu -> %zu MiB, "
            "objects not zeroed: %zu\n",
            round, round < 2 ? "MADV_FREE" : "MADV_DONTNEED", rel >> 20,
            (unsigned long long)(ms->heap_released >> 20), r0 >> 20, r1 >> 20, nonzero);
        bad += rel < 150 * MiB; /* counted as released either way */
        bad += ms->heap_released < 150 * MiB;
        bad += ms->heap_released > ms->heap_idle;
        bad += nonzero != 0;
        drop();
        gm_collect();
    }
    free(ms);
    return bad == 0 && check_done() == 0 ? 0 : 1;
}

static int child_growth(void) {
    /* 160 MiB of 40 KiB objects (5 pages each, a span of their own), every other one
     * dropped: 80 MiB live and 80 MiB of free 5-page holes */
    build(160 * MiB, 40 * 1024);
    for (size_t i = 0; i < 4096; i += 2)
        live[i] = NULL;
    gmt_wipe_stack();
    gm_collect();
    gm_memstats_t *ms = malloc(sizeof *ms);
    gm_read_memstats(ms);
    uint64_t retained0 = ms->heap_sys - ms->heap_released, goal = ms->next_gc;
    uint64_t a0 = 0, a1 = 0;
    gm_metric_read("/gomem/scavenge/assist:bytes", &a0);
    size_t r0 = gmt_rss();
    /* 48 MiB of 1 MiB objects: none fits in a hole, so the heap grows */
    for (size_t i = 0; i < 48; i++) {
        live[4096 + i] = gm_alloc_noscan(MiB);
        memset(live[4096 + i], 1, MiB);
    }
    gm_read_memstats(ms);
    gm_metric_read("/gomem/scavenge/assist:bytes", &a1);
    uint64_t retained1 = ms->heap_sys - ms->heap_released;
    size_t r1 = gmt_rss();
    printf("growth: goal_mib=%llu retained %llu -> %llu MiB, rss %zu -> %zu MiB, num_gc=%u, "
           "released by allocations %llu MiB\n",
           (unsigned long long)(goal >> 20), (unsigned long long)(retained0 >> 20),
           (unsigned long long)(retained1 >> 20), r0 >> 20, r1 >> 20, ms->num_gc,
           (unsigned long long)((a1 - a0) >> 20));
    int ok = a1 - a0 >= 16 * MiB && retained1 <= goal + goal / 10 + 8 * MiB;
    free(ms);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (!strcmp(argv[1], "growth")) return child_growth();
        if (!strcmp(argv[1], "idle")) return child_idle();
        if (!strcmp(argv[1], "trace")) return child_trace();
        if (!strcmp(argv[1], "madvfree")) return child_madvfree();
        return 2;
    }
    gm_init();
    static char buf[1 << 16];
    int st = gmt_run_self("idle", NULL, buf, sizeof buf, 1, 60);
    printf("%s", buf);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    st = gmt_run_self("trace", "GODEBUG=scavtrace=1", buf, sizeof buf, 1, 60);
    printf("%s", buf);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strstr(buf, "scav ") != NULL);
    CHECK(strstr(buf, "KiB work (bg), ") != NULL);
    CHECK(strstr(buf, "% util (forced)") != NULL);

    st = gmt_run_self("growth", NULL, buf, sizeof buf, 1, 60);
    printf("%s", buf);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    putenv((char *)"GOMEMDEBUG=verify=1");
    st = gmt_run_self("madvfree", "GODEBUG=madvdontneed=0", buf, sizeof buf, 1, 120);
    unsetenv("GOMEMDEBUG");
    printf("%s", buf);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strstr(buf, "round 3") != NULL);

    /* gm_free_os_memory in this process */
    build(256 * MiB, 64 * 1024);
    size_t r0 = gmt_rss();
    drop();
    size_t rel = gm_free_os_memory();
    size_t r1 = gmt_rss();
    gm_memstats_t *ms = malloc(sizeof *ms);
    gm_read_memstats(ms);
    printf("free: released_mib=%zu rss %zu -> %zu MiB, heap_released=%llu heap_idle=%llu\n",
           rel >> 20, r0 >> 20, r1 >> 20, (unsigned long long)(ms->heap_released >> 20),
           (unsigned long long)(ms->heap_idle >> 20));
    CHECK_GE(rel, 200 * MiB);
    CHECK_LE(r1 + 200 * MiB, r0);
    CHECK_LE(ms->heap_released, ms->heap_idle);
    CHECK_GE(ms->heap_released, 200 * MiB);
    CHECK_EQ(ms->heap_sys, ms->heap_idle + ms->heap_inuse);
    /* reuse: released pages come back zeroed */
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        char *p = gm_alloc(64 * 1024);
        if (!gmt_all_zero(p, 64 * 1024)) bad++;
        memset(p, 0x33, 64 * 1024);
    }
    CHECK_EQ(bad, 0);
    free(ms);
    return check_done();
}
