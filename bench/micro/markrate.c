/* markrate.c: how fast a collector marks, with nothing else going on.
 *
 * Builds LIVE MiB of live data (default 64) in one of two shapes, then times COUNT
 * forced full collections (default 10) and prints the mean, the fastest and the pause
 * figures of the back-end, and the rate in nanoseconds per live object and MiB per second.
 *   tree   binary trees of 16-byte nodes (two pointers), built bottom up: good locality
 *   list   32-byte nodes in 1024-node lists built round robin, as bench/pause.c: every
 *          pointer leads to a distant object
 * Built against bench/backend.h, so it runs on gomem and Boehm GC alike:
 *   gcc -O2 -DBACKEND_GOMEM -Iinclude -Ibench bench/micro/markrate.c -Lbuild-bench -lgomem
 *   gcc -O2 -DBACKEND_BOEHM -Ibench bench/micro/markrate.c -lgc -pthread
 * Usage: markrate [tree|list [LIVE_MiB [COUNT]]] */
#include "../backend.h"

typedef struct tnode_s {
    struct tnode_s *left, *right;
} tnode_t;

typedef struct lnode_s {
    struct lnode_s *next;
    uint64_t a, b, c;
} lnode_t;

static tnode_t *make_tree(int depth) {
    tnode_t *n = bk_check(bk_alloc(sizeof(tnode_t)), sizeof(tnode_t));
    n->left = depth > 0 ? make_tree(depth - 1) : NULL;
    n->right = depth > 0 ? make_tree(depth - 1) : NULL;
    return n;
}

static long count_tree(const tnode_t *n) {
    return n == NULL ? 0 : 1 + count_tree(n->left) + count_tree(n->right);
}

static void **volatile roots;

int main(int argc, char **argv) {
    const char *shape = argc > 1 ? argv[1] : "tree";
    long live_mib = argc > 2 ? atol(argv[2]) : 64;
    int count = argc > 3 ? atoi(argv[3]) : 10;
    int is_list = strcmp(shape, "list") == 0;
    if ((!is_list && strcmp(shape, "tree") != 0) || live_mib < 1 || count < 1) {
        fprintf(stderr, "usage: markrate [tree|list [LIVE_MiB [COUNT]]]\n");
        return 2;
    }
    if (!BK_IS_GC) {
        fprintf(stderr, "markrate: %s has no collector\n", BK_NAME);
        return 2;
    }
    bk_init();
    uint64_t objects = 0;
    size_t nroots;
    if (is_list) {
        uint64_t n = (uint64_t)live_mib << 20;
        n /= sizeof(lnode_t);
        nroots = (size_t)((n + 1023) / 1024);
        void **r = bk_check(bk_alloc(nroots * sizeof(void *)), nroots * sizeof(void *));
        roots = r;
        for (uint64_t i = 0; i < n; i++) {
            lnode_t *x = bk_check(bk_alloc(sizeof(lnode_t)), sizeof(lnode_t));
            x->next = r[i % nroots];
            x->a = x->b = x->c = i;
            r[i % nroots] = x;
        }
        objects = n;
    } else {
        /* trees of depth 16 (131071 nodes, 2 MiB of 16-byte nodes) */
        nroots = (size_t)(live_mib + 1) / 2;
        if (nroots == 0)
            nroots = 1;
        void **r = bk_check(bk_alloc(nroots * sizeof(void *)), nroots * sizeof(void *));
        roots = r;
        for (size_t i = 0; i < nroots; i++) {
            r[i] = make_tree(16);
            objects += (1u << 17) - 1;
        }
    }
    bk_collect(); /* settle: sweep what building left behind */
    bk_finish();
    uint64_t gc_before = bk_stats.gc_count;
    uint64_t best = UINT64_MAX, total = 0;
    for (int k = 0; k < count; k++) {
        uint64_t t0 = bk_now_ns();
        bk_collect();
        uint64_t dt = bk_now_ns() - t0;
        total += dt;
        if (dt < best)
            best = dt;
    }
    int ok = 1;
    if (!is_list) {
        long c = 0;
        for (size_t i = 0; i < nroots; i++)
            c += count_tree(roots[i]);
        ok = (uint64_t)c == objects;
    }
    double mean = (double)total / count;
    fprintf(stderr,
            "markrate %s/%s: %llu MiB live, %llu objects: collection mean %.2f ms, best %.2f "
            "ms, %.1f ns/object, %.0f MiB/s (%llu collections before)\n",
            shape, BK_NAME, (unsigned long long)live_mib, (unsigned long long)objects, mean / 1e6,
            (double)best / 1e6, (double)best / (double)objects,
            (double)live_mib / ((double)best / 1e9), (unsigned long long)gc_before);
    char name[64];
    snprintf(name, sizeof name, "markrate_%.8s%ld", shape, live_mib);
    return bk_result(name, ok);
}
