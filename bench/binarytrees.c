/* binarytrees.c: the binary-trees benchmark (as in the Computer Language Benchmarks
 * Game), written anew from its description, with an optional thread count.
 *
 * 1. Build a "stretch" tree of depth max+1, walk it, drop it.
 * 2. Build a long-lived tree of depth max and keep it until the end.
 * 3. For depth d = 4, 6, ... max: build 2^(max - d + 4) trees of depth d bottom up,
 *    walk each one to count its nodes, drop it.
 * 4. Walk the long-lived tree.
 * A node is two pointers (16 bytes). With T threads, step 3's trees at every depth are
 * shared out among the threads (tree i goes to thread i mod T); with T = 1 no thread is
 * created. GC back-ends drop trees; malloc back-ends free them node by node, as the
 * benchmark's C programs do.
 *
 * Usage: binarytrees [max_depth [threads]]   (defaults 19 1)
 * Every node count is known in closed form (2^(d+1) - 1 per tree) and checked. */
#include "backend.h"

typedef struct node_s {
    struct node_s *left;
    struct node_s *right;
} node_t;

enum { MIN_DEPTH = 4, MAX_THREADS = 64 };

static node_t *make_tree(int depth) {
    node_t *n = bk_check(bk_alloc(sizeof(node_t)), sizeof(node_t));
    if (depth > 0) {
        n->left = make_tree(depth - 1);
        n->right = make_tree(depth - 1);
    } else {
        n->left = NULL;
        n->right = NULL;
    }
    return n;
}

static long check_tree(const node_t *n) {
    if (n->left == NULL)
        return 1;
    return 1 + check_tree(n->left) + check_tree(n->right);
}

static void drop_tree(node_t *n) {
    if (BK_IS_GC)
        return;
    if (n->left != NULL) {
        drop_tree(n->left);
        drop_tree(n->right);
    }
    bk_free(n);
}

static long tree_nodes(int depth) { return (1L << (depth + 1)) - 1; }

static int max_depth, nthreads;
static long checks[MAX_THREADS][64]; /* checks[thread][depth]: sum of node counts */

static void *worker(void *arg) {
    long t = (long)(intptr_t)arg;
    bk_thread_register();
    for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
        long iters = 1L << (max_depth - d + MIN_DEPTH);
        long sum = 0;
        for (long i = t; i < iters; i += nthreads) {
            node_t *tree = make_tree(d);
            sum += check_tree(tree);
            drop_tree(tree);
            if (t == 0)
                bk_poll();
        }
        checks[t][d] = sum;
    }
    bk_thread_unregister();
    return NULL;
}

static node_t *volatile long_lived;

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 19;
    nthreads = argc > 2 ? atoi(argv[2]) : 1;
    if (n < 0 || n > 40 || nthreads < 1 || nthreads > MAX_THREADS) {
        fprintf(stderr, "usage: binarytrees [max_depth [threads]]\n");
        return 2;
    }
    max_depth = n < MIN_DEPTH + 2 ? MIN_DEPTH + 2 : n;
    bk_init();
    int ok = 1;

    node_t *stretch = make_tree(max_depth + 1);
    long c = check_tree(stretch);
    printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1, c);
    ok = ok && c == tree_nodes(max_depth + 1);
    drop_tree(stretch);
    stretch = NULL;

    long_lived = make_tree(max_depth);

    if (nthreads == 1) {
        worker((void *)0);
    } else {
        pthread_t th[MAX_THREADS];
        for (long t = 0; t < nthreads; t++) {
            if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) != 0) {
                fprintf(stderr, "binarytrees: pthread_create failed\n");
                return 2;
            }
        }
        for (long t = 0; t < nthreads; t++)
            pthread_join(th[t], NULL);
    }

    for (int d = MIN_DEPTH; d <= max_depth; d += 2) {
        long iters = 1L << (max_depth - d + MIN_DEPTH);
        long sum = 0;
        for (int t = 0; t < nthreads; t++)
            sum += checks[t][d];
        printf("%ld\t trees of depth %d\t check: %ld\n", iters, d, sum);
        ok = ok && sum == iters * tree_nodes(d);
    }
    c = check_tree(long_lived);
    printf("long lived tree of depth %d\t check: %ld\n", max_depth, c);
    ok = ok && c == tree_nodes(max_depth);

    char name[48];
    snprintf(name, sizeof name, nthreads == 1 ? "binarytrees%d" : "binarytrees%d_%dt", n,
             nthreads);
    int status = bk_result(name, ok);
    drop_tree(long_lived);
    return status;
}
