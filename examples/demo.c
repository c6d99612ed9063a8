/* demo.c: the showcase `make demo` runs with GODEBUG=gctrace=1.
 * It builds a long-lived structure, churns through short-lived garbage so the pacer
 * starts cycles on its own, grows the live heap (watch the goal follow it), frees
 * some objects explicitly, and ends with gm_collect and a MemStats summary. */
#include <gomem.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct node {
    struct node *left, *right;
    long value;
} node;

static node *tree(int depth, long v) {
    node *n = gm_alloc(sizeof(node));
    n->value = v;
    if (depth > 0) {
        n->left = tree(depth - 1, 2 * v);
        n->right = tree(depth - 1, 2 * v + 1);
    }
    return n;
}

static long check(const node *n) {
    return n ? n->value + check(n->left) - check(n->right) : 0;
}

static void *worker(void *arg) {
    long sum = 0;
    for (int i = 0; i < 200; i++) {
        node *t = tree(10, i); /* garbage as soon as it is checked */
        sum += check(t);
        char *s = gm_alloc_noscan(64 + i); /* a pointer-free buffer */
        snprintf(s, 64, "buffer %d", i);
        gm_free(s); /* explicit free is allowed too */
    }
    *(long *)arg = sum;
    return NULL;
}

int main(void) {
    printf("gomem %s demo: live trees, garbage, two threads (gctrace on stderr)\n", GM_VERSION);
    node *keep[8];
    for (int phase = 0; phase < 8; phase++) {
        keep[phase] = tree(14 + phase / 3, phase); /* live data grows: the goal follows */
        pthread_t th[2];
        long sums[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, worker, &sums[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
    }
    long total = 0;
    for (int i = 0; i < 8; i++)
        total += check(keep[i]);
    gm_collect();

    gm_memstats_t ms;
    gm_read_memstats(&ms);
    printf("checksum %ld\n", total);
    printf("cycles %u (forced %u), pause total %.3f ms, last pause %.3f ms\n", ms.num_gc,
           ms.num_forced_gc, ms.pause_total_ns / 1e6, ms.pause_ns[(ms.num_gc + 255) % 256] / 1e6);
    printf(
        "heap: alloc %.1f MiB, in use %.1f MiB, idle %.1f MiB, released %.1f MiB, sys %.1f MiB\n",
        ms.heap_alloc / 1048576.0, ms.heap_inuse / 1048576.0, ms.heap_idle / 1048576.0,
        ms.heap_released / 1048576.0, ms.sys / 1048576.0);
    printf("objects: %llu allocated, %llu freed, %llu live; next goal %.1f MiB\n",
           (unsigned long long)ms.mallocs, (unsigned long long)ms.frees,
           (unsigned long long)ms.heap_objects, ms.next_gc / 1048576.0);
    return 0;
}
