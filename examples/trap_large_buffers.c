/* trap_large_buffers.c: the trap of buffers just over 32 KiB (the large-object path). */
/* Objects over 32 KiB do not come from size classes: each one gets its own span of
 * whole 8 KiB pages from the page heap, under its global lock, and is zeroed. A 33 KiB
 * buffer takes 40 KiB (21% lost to page rounding) and every one is a trip to the page
 * heap (often slower per buffer than 32 KiB ones, though on a loaded machine not
 * always). The example prints the span bytes per large object against the 33 KiB
 * asked: gomem's own figures (the size-class report's "large" line, HeapAlloc) count a
 * large object's whole span, so the rounding shows only against what the program asked
 * for. Fix: size buffers to 32 KiB or to whole pages, or reuse them. */
#include <gomem.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void *large_hold[64]; /* a global: the last 64 buffers stay live */

static double run(size_t size) {
    double t0 = now();
    for (int i = 0; i < 20000; i++)
        large_hold[i % 64] = gm_alloc_noscan(size);
    return (now() - t0) / 20000 * 1e9;
}

int main(void) {
    printf("trap: buffers just over 32 KiB take the large-object path\n");
    double small = run(32 * 1024), large = run(33 * 1024);
    printf("32 KiB buffers: %.0f ns each; 33 KiB buffers: %.0f ns each\n", small, large);
    uint64_t unused = 0;
    gm_metric_read("/memory/classes/heap/unused:bytes", &unused);
    printf("/memory/classes/heap/unused:bytes = %llu\n", (unsigned long long)unused);
    gm_size_class_usage_t u[GM_NUM_SIZE_CLASSES];
    gm_read_size_classes(u);
    printf("large objects now: %llu in %llu bytes of spans: %.1f KiB each for 33 KiB asked\n\n",
           (unsigned long long)u[0].objects, (unsigned long long)u[0].span_bytes,
           u[0].objects ? u[0].span_bytes / 1024.0 / u[0].objects : 0);
    gm_write_size_class_report(stdout);
    return 0;
}
