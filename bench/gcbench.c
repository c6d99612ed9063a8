/* gcbench.c: the Ellis/Kovac/Boehm GCBench, written anew from its published description.
 *
 * The program builds a stretch tree and drops it, then keeps a long-lived binary tree
 * and a long-lived array of doubles alive while it builds many short-lived trees of
 * depths 4, 6, ... max: first top down (allocate a node, then populate its children),
 * then bottom up (children first). At each depth it builds as many trees as make up
 * the same number of nodes as two stretch trees. Nodes have two pointers and two
 * integers, as in the original.
 *
 * GC back-ends drop every short-lived tree; malloc back-ends free them, node by node.
 *
 * Usage: gcbench [stretch_depth long_lived_depth max_depth array_size]
 *        defaults 18 16 16 500000, the original's parameters.
 * The check: every node carries a stamp in i and j; the last tree of each batch (top
 * down and bottom up, at every depth) and the long-lived tree are walked at the end of
 * their lives, counting nodes and checking stamps, so an allocator that overlaps or
 * reuses live objects fails; the array is probed at the end. The number of nodes
 * built is compared with its closed form. */
#include "backend.h"

typedef struct node_s {
    struct node_s *left;
    struct node_s *right;
    int i, j;
} node_t;

static const int min_depth = 4;
static uint64_t nodes_built; /* every node allocated, counted as we go */
static long bad_trees;       /* walked trees with a wrong size or a broken stamp */

#define STAMP_I 0x67636263 /* what new_node writes into i and j: no heap address */
#define STAMP_J 0x4e4f4445

static long tree_size(int depth) { return (1L << (depth + 1)) - 1; }

static node_t *new_node(node_t *l, node_t *r) {
    node_t *n = bk_check(bk_alloc(sizeof(node_t)), sizeof(node_t));
    n->left = l;
    n->right = r;
    n->i = STAMP_I;
    n->j = STAMP_J;
    nodes_built++;
    return n;
}

/* populate gives n two children and recurses down to depth 0 (top-down construction). */
static void populate(int depth, node_t *n) {
    if (depth <= 0)
        return;
    depth--;
    n->left = new_node(NULL, NULL);
    n->right = new_node(NULL, NULL);
    populate(depth, n->left);
    populate(depth, n->right);
}

/* make_tree builds a tree of the given depth from the leaves up. */
static node_t *make_tree(int depth) {
    if (depth <= 0)
        return new_node(NULL, NULL);
    node_t *l = make_tree(depth - 1);
    node_t *r = make_tree(depth - 1);
    return new_node(l, r);
}

/* count_nodes counts the nodes of a tree, or returns -1 if one has lost its stamp. */
static long count_nodes(const node_t *n) {
    long c = 0;
    while (n != NULL) {
        if (n->i != STAMP_I || n->j != STAMP_J) return -1;
        long l = count_nodes(n->left);
        if (l < 0) return -1;
        c += 1 + l;
        n = n->right;
    }
    return c;
}

/* check_tree walks a tree that should be whole, of the given depth. */
static void check_tree(const node_t *t, int depth) {
    if (count_nodes(t) != tree_size(depth)) bad_trees++;
}

/* drop_tree frees a dead tree on malloc back-ends; GC back-ends just forget it. */
static void drop_tree(node_t *n) {
    if (BK_IS_GC)
        return;
    while (n != NULL) {
        node_t *r = n->right;
        drop_tree(n->left);
        bk_free(n);
        n = r;
    }
}

static void time_construction(int depth, int stretch_depth) {
    long iters = 2 * tree_size(stretch_depth) / tree_size(depth);
    uint64_t t0 = bk_now_ns();
    for (long i = 0; i < iters; i++) {
        node_t *t = new_node(NULL, NULL);
        populate(depth, t);
        if (i == iters - 1) check_tree(t, depth);
        drop_tree(t);
        bk_poll();
    }
    uint64_t t1 = bk_now_ns();
    for (long i = 0; i < iters; i++) {
        node_t *t = make_tree(depth);
        if (i == iters - 1) check_tree(t, depth);
        drop_tree(t);
        bk_poll();
    }
    uint64_t t2 = bk_now_ns();
    fprintf(stderr, "depth %2d: %6ld trees  top-down %6.1f ms  bottom-up %6.1f ms\n", depth, iters,
            (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6);
}

/* The long-lived objects are kept in globals so that no back-end can miss them. */
static node_t *volatile long_lived;
static double *volatile long_array;

int main(int argc, char **argv) {
    int stretch_depth = argc > 1 ? atoi(argv[1]) : 18;
    int long_depth = argc > 2 ? atoi(argv[2]) : 16;
    int max_depth = argc > 3 ? atoi(argv[3]) : 16;
    long array_size = argc > 4 ? atol(argv[4]) : 500000;
    if (stretch_depth < 1 || long_depth < 1 || max_depth < min_depth || array_size < 2) {
        fprintf(stderr, "usage: gcbench [stretch_depth long_lived_depth max_depth array_size]\n");
        return 2;
    }
    bk_init();

    node_t *stretch = make_tree(stretch_depth);
    check_tree(stretch, stretch_depth);
    drop_tree(stretch);
    stretch = NULL;

    node_t *ll = new_node(NULL, NULL);
    populate(long_depth, ll);
    long_lived = ll;

    double *arr = bk_check(bk_alloc_atomic(sizeof(double) * (size_t)array_size),
                           sizeof(double) * (size_t)array_size);
    for (long i = 0; i < array_size; i++)
        arr[i] = 1.0 / (double)(i + 1);
    long_array = arr;

    for (int d = min_depth; d <= max_depth; d += 2)
        time_construction(d, stretch_depth);

    /* Expected node count: stretch tree, long-lived tree, and per depth two batches. */
    uint64_t expect = (uint64_t)tree_size(stretch_depth) + (uint64_t)tree_size(long_depth);
    for (int d = min_depth; d <= max_depth; d += 2)
        expect += 2 * (uint64_t)(2 * tree_size(stretch_depth) / tree_size(d)) *
                  (uint64_t)tree_size(d);
    check_tree(long_lived, long_depth);
    long bad_cells = 0;
    for (long i = 0; i < array_size; i++)
        bad_cells += long_array[i] != 1.0 / (double)(i + 1);
    int ok = nodes_built == expect && bad_trees == 0 && bad_cells == 0;
    fprintf(stderr,
            "gcbench: %llu nodes built (expected %llu), %ld broken trees, %ld broken array"
            " cells: %s\n",
            (unsigned long long)nodes_built, (unsigned long long)expect, bad_trees, bad_cells,
            ok ? "intact" : "BROKEN");

    int status = bk_result("gcbench", ok);
    drop_tree(long_lived);
    if (!BK_IS_GC)
        bk_free(long_array);
    return status;
}
