/* test_mark_overflow.c: marking stays complete when the mark stack cannot grow.
 * gmi_mark_stack_max caps every worker's stack at a few entries, so a wide tree
 * overflows it at once; the collector must recover (rescan from marked objects) and
 * keep every reachable node, then free everything once the tree is dropped. Roots are
 * not objects, so recovery would not find a dropped root range again: objects held
 * only from the far end of a 1 MiB global array (beyond any one scan piece) and from
 * the stack must survive too. */
#include "check.h"
#include "internal.h"
#include "gc_internal.h"

#include <string.h>

#define FANOUT 8

typedef struct tnode {
    struct tnode *kid[FANOUT];
    uint64_t value, check;
} tnode;

static tnode *volatile root;
static size_t built;
static void *volatile big_root[131072]; /* 1 MiB of .bss, a root of several pieces */
#define NFAR 64

static tnode *build(int depth, uint64_t *seed) {
    tnode *n = gm_alloc(sizeof *n);
    n->value = check_rand(seed);
    n->check = n->value * 0x9e3779b97f4a7c15ULL;
    built++;
    if (depth > 0)
        for (int i = 0; i < FANOUT; i++)
            n->kid[i] = build(depth - 1, seed);
    return n;
}

static size_t verify(const tnode *n, int *bad) {
    if (n == NULL) return 0;
    if (gm_base(n) != n || n->check != n->value * 0x9e3779b97f4a7c15ULL) (*bad)++;
    size_t c = 1;
    for (int i = 0; i < FANOUT; i++)
        c += verify(n->kid[i], bad);
    return c;
}

__attribute__((noinline)) static void drop_and_churn(void) {
    root = NULL;
    for (int i = 0; i < 20000; i++) {
        void *volatile g = gm_alloc(sizeof(tnode));
        (void)g;
    }
}

int main(void) {
    gm_init();
    /* From the start: a stack that grew in an earlier collection (GOMEMDEBUG=gcstress
     * runs them during the build) would never reach the cap, which applies to growth. */
    gmi_mark_stack_max = 16;
    uint64_t seed = 7;
    root = build(5, &seed); /* 37449 nodes, 8 children each */
    for (int i = 0; i < NFAR; i++) {
        uint64_t *o = gm_alloc(64);
        o[0] = 0xfa7 + (uint64_t)i;
        big_root[131072 - 1 - (size_t)i * 997] = o;
    }
    for (int round = 0; round < 3; round++) {
        gm_collect();
        /* garbage in between so wrongly freed nodes would be reused and overwritten */
        for (int i = 0; i < 50000; i++) {
            tnode *volatile g = gm_alloc(sizeof(tnode));
            g->value = 0xdeadbeef;
        }
        int bad = 0;
        CHECK_EQ(verify(root, &bad), built);
        CHECK_EQ(bad, 0);
        for (int i = 0; i < NFAR; i++) {
            uint64_t *o = big_root[131072 - 1 - (size_t)i * 997];
            if (gm_base(o) != o || o[0] != 0xfa7 + (uint64_t)i) bad++;
        }
        CHECK_EQ(bad, 0);
    }
    gm_memstats_t before, after;
    gm_read_memstats(&before);
    drop_and_churn();
    gm_collect();
    gm_read_memstats(&after);
    /* the tree (~2.7 MiB) is gone: frees grew by at least most of its nodes */
    CHECK_GE(after.frees - before.frees, built / 2);
    CHECK(gmi_mark_overflow_passes > 0); /* the recovery really ran */
    gmi_mark_stack_max = 0;
    return check_done();
}
