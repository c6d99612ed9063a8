/* pause.c: stop-the-world pauses with a large live heap of small linked objects.
 *
 * 1. Build live_mib MiB of 32-byte nodes (a next pointer and three words of payload) in
 *    lists of 1024 nodes. Nodes are pushed onto the lists round robin, so consecutive
 *    nodes of one list lie far apart in memory and the marker has to chase pointers
 *    all over the heap, as it does in real programs.
 * 2. Allocate garbage_mib MiB of garbage (default 2048) in short-lived
 *    binary trees of 127 nodes (4 KiB) with a few 256-byte noscan buffers. Every tree also
 *    replaces the head of one live list, so the live set keeps changing.
 * 3. Report the collector's pauses during step 2 (those of step 1, while the heap grows,
 *    are left out of the percentiles but counted in gc_count): p50, p99 and the maximum
 *    (n/a for malloc back-ends, which free garbage explicitly and never pause).
 * The checksum is the sum of the payloads of all live nodes, kept up to date as heads are
 * replaced and recomputed by a final walk.
 *
 * Usage: pause [live_mib [garbage_mib]]   (defaults 256 2048) */
#include "backend.h"

typedef struct node_s {
    struct node_s *next;
    uint64_t key, val, pad;
} node_t;

typedef struct tnode_s {
    struct tnode_s *left, *right;
    uint64_t a, b;
} tnode_t;

enum { LIST_LEN = 1024, TREE_DEPTH = 6 };

static node_t **volatile heads; /* heads[i]: list i; the array itself is allocated */

static node_t *new_node(uint64_t key, node_t *next) {
    node_t *n = bk_check(bk_alloc(sizeof(node_t)), sizeof(node_t));
    n->next = next;
    n->key = key;
    n->val = key * 0x9E3779B97F4A7C15ull;
    n->pad = 0;
    return n;
}

static tnode_t *garbage_tree(int depth, uint64_t *sum) {
    tnode_t *t = bk_check(bk_alloc(sizeof(tnode_t)), sizeof(tnode_t));
    t->a = (uint64_t)depth;
    t->b = 0;
    if (depth > 0) {
        t->left = garbage_tree(depth - 1, sum);
        t->right = garbage_tree(depth - 1, sum);
    } else {
        t->left = NULL;
        t->right = NULL;
    }
    *sum += t->a;
    return t;
}

static void drop_tree(tnode_t *t) {
    if (BK_IS_GC || t == NULL)
        return;
    drop_tree(t->left);
    drop_tree(t->right);
    bk_free(t);
}

static uint64_t node_sum(const node_t *n) { return n->key ^ n->val; }

int main(int argc, char **argv) {
    long live_mib = argc > 1 ? atol(argv[1]) : 256;
    long garbage_mib = argc > 2 ? atol(argv[2]) : 2048;
    if (live_mib < 1 || garbage_mib < 1) {
        fprintf(stderr, "usage: pause [live_mib [garbage_mib]]\n");
        return 2;
    }
    bk_init();

    uint64_t nnodes = (uint64_t)live_mib * 1024 * 1024 / sizeof(node_t);
    uint64_t nlists = (nnodes + LIST_LEN - 1) / LIST_LEN;
    node_t **h = bk_check(bk_alloc(nlists * sizeof(node_t *)), nlists * sizeof(node_t *));
    memset(h, 0, nlists * sizeof(node_t *));
    heads = h;
    uint64_t expect = 0;
    uint64_t t0 = bk_now_ns();
    for (uint64_t i = 0; i < nnodes; i++) {
        node_t *n = new_node(i + 1, h[i % nlists]);
        h[i % nlists] = n;
        expect += node_sum(n);
        bk_poll();
    }
    uint64_t t1 = bk_now_ns();
    fprintf(stderr, "pause: %llu MiB live in %llu nodes, %llu lists, built in %.2f s\n",
            (unsigned long long)live_mib, (unsigned long long)nnodes,
            (unsigned long long)nlists, (double)(t1 - t0) / 1e9);
    bk_pause_reset();

    /* One round: a 127-node tree (4 KiB) and two 256-byte noscan buffers. */
    const uint64_t round_bytes = (((uint64_t)2 << TREE_DEPTH) - 1) * sizeof(tnode_t) + 512;
    uint64_t rounds = (uint64_t)garbage_mib * 1024 * 1024 / round_bytes;
    uint64_t rng = 88172645463325252ull, tree_sum = 0, key = nnodes;
    for (uint64_t r = 0; r < rounds; r++) {
        tnode_t *t = garbage_tree(TREE_DEPTH, &tree_sum);
        char *b1 = bk_check(bk_alloc_atomic(256), 256);
        char *b2 = bk_check(bk_alloc_atomic(256), 256);
        b1[0] = (char)r;
        b2[255] = (char)r;
        /* replace the head of a random list */
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        uint64_t li = rng % nlists;
        node_t *old = h[li];
        node_t *n = new_node(++key, old->next);
        expect += node_sum(n) - node_sum(old);
        h[li] = n;
        if (!BK_IS_GC) {
            bk_free(old);
            bk_free(b1);
            bk_free(b2);
        }
        drop_tree(t);
        bk_poll();
    }
    uint64_t t2 = bk_now_ns();

    uint64_t got = 0, count = 0;
    for (uint64_t i = 0; i < nlists; i++)
        for (node_t *n = h[i]; n != NULL; n = n->next) {
            got += node_sum(n);
            count++;
        }
    int ok = got == expect && count == nnodes &&
             tree_sum == rounds * (uint64_t)((1u << (TREE_DEPTH + 1)) - 2 - TREE_DEPTH);
    fprintf(stderr, "pause: %llu MiB garbage in %.2f s; live walk %s\n",
            (unsigned long long)garbage_mib, (double)(t2 - t1) / 1e9, ok ? "ok" : "MISMATCH");

    char name[32];
    snprintf(name, sizeof name, "pause%ld", live_mib);
    int status = bk_result(name, ok);
    if (!BK_IS_GC) {
        for (uint64_t i = 0; i < nlists; i++)
            for (node_t *n = h[i], *next; n != NULL; n = next) {
                next = n->next;
                bk_free(n);
            }
        bk_free(h);
    }
    return status;
}
