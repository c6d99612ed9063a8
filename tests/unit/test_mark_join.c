/* test_mark_join.c: a mark finishes without waiting for its helper threads to be
 * scheduled (mark.c: a helper joins the mark when it wakes; the mark ends when every
 * worker that joined is idle). gmi_mark_hold_helpers keeps woken helpers from joining,
 * as a loaded machine that does not run them would. With two mark workers, twenty
 * collections must each finish, keep a checksummed list that only a global reaches
 * and free the garbage around it; released, the helpers join the next marks. When a
 * mark waited for every helper, the first held collection never returned (alarm). */
#include "internal.h"
#include "gc_internal.h"
#include "api/gmtest.h"

#include <unistd.h>

typedef struct cell_s {
    struct cell_s *next;
    uint64_t value;
} cell_t;

enum { CELLS = 20000, ROUNDS = 20 };
static cell_t *list; /* a global: a root */

static uint64_t list_sum(void) {
    uint64_t sum = 0, n = 0;
    for (cell_t *c = list; c != NULL; c = c->next, n++)
        sum += c->value;
    return n == CELLS ? sum : 0;
}

static GMT_NOINLINE void make_garbage(int round) {
    for (int i = 0; i < 5000; i++) {
        cell_t *c = gm_alloc(sizeof(cell_t));
        CHECK(c != NULL);
        c->value = (uint64_t)round;
    }
    gmt_clear_scratch_regs();
}

int main(void) {
    alarm(120); /* a mark that waits for a held helper hangs: fail, do not hang ctest */
    gm_init();
    gmi_gc.mark_workers = 2;
    uint64_t want = 0;
    for (int i = 0; i < CELLS; i++) {
        cell_t *c = gm_alloc(sizeof(cell_t));
        CHECK(c != NULL);
        c->value = (uint64_t)i * 2654435761u;
        c->next = list;
        list = c;
        want += c->value;
    }
    gm_collect(); /* starts the helper */
    CHECK_EQ(list_sum(), want);

    gm_memstats_t ms;
    gm_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    atomic_store(&gmi_mark_hold_helpers, 1);
    for (int r = 0; r < ROUNDS; r++) {
        make_garbage(r);
        gm_collect();
        CHECK_EQ(list_sum(), want);
    }
    gm_read_memstats(&ms);
    if (gmt_gcstress())
        CHECK_GE(ms.num_gc - gc0, ROUNDS); /* and those gcstress adds */
    else
        CHECK_EQ(ms.num_gc - gc0, ROUNDS);
    /* the garbage went: what is left is the list (32-byte cells with 16-byte alignment)
     * and at most a few cells a stale word keeps */
    CHECK_LE(ms.heap_alloc, (uint64_t)CELLS * 32 + 64 * 1024);
    atomic_store(&gmi_mark_hold_helpers, 0);

    for (int r = 0; r < 5; r++) {
        make_garbage(r);
        gm_collect();
        CHECK_EQ(list_sum(), want);
    }
    gmi_verify_heap();
    return check_done();
}
