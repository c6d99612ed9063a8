/* test_scavenger.c: free memory goes back to the OS.
 *   idle: after dropping a 1 GiB heap, with no explicit call, RSS falls under 100 MiB
 *         within a few seconds (idle collection + background scavenger);
 *   free: gm_free_os_memory releases everything free at once, HeapReleased/HeapIdle
 *         stay consistent, released pages are reused and read as zero;
 *   trace: GODEBUG=scavtrace=1 prints Go's scavenger line, "(forced)" for
 *         gm_free_os_memory. */
#include "api/gmtest.h"

#define MiB ((size_t)1 << 20)

/* The index lives in the (scanned) bss, not in a heap object: a thread cache's span
 * cursor may keep pointing at a heap index, which would keep everything alive. */
#define MAXCHUNKS 8192
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

int main(int argc, char **argv) {
    if (argc > 1) {
        if (!strcmp(argv[1], "idle")) return child_idle();
        if (!strcmp(argv[1], "trace")) return child_trace();
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
