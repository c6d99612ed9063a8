/* test_biglist.c: a 10,000,000-cell singly linked list survives collections run on a
 * thread with a 256 KiB stack (marking must not recurse along the list), and is
 * reclaimed once dropped. Built in allocation order, so every cell points to a later
 * address, and a second list in reverse order. */
#include "api/gmtest.h"

#include <pthread.h>

#define NCELLS 10000000L

struct cell {
    struct cell *next;
    uint64_t value;
};

static struct cell *forward_head; /* cell i -> cell i+1, allocated in order */
static struct cell *reverse_head; /* allocated last first */

static uint64_t cell_value(long i) {
    return (uint64_t)i * 0x9e3779b97f4a7c15ULL ^ 0x5bd1e995;
}

GMT_NOINLINE static void build_forward(long n) {
    struct cell *tail = NULL;
    for (long i = 0; i < n; i++) {
        struct cell *c = gm_alloc(sizeof *c);
        if (!c) {
            CHECK(c != NULL);
            return;
        }
        c->value = cell_value(i);
        if (tail)
            tail->next = c;
        else
            forward_head = c;
        tail = c;
    }
}

GMT_NOINLINE static void build_reverse(long n) {
    struct cell *head = NULL;
    for (long i = n - 1; i >= 0; i--) {
        struct cell *c = gm_alloc(sizeof *c);
        if (!c) {
            CHECK(c != NULL);
            return;
        }
        c->value = cell_value(i) ^ 1;
        c->next = head;
        head = c;
    }
    reverse_head = head;
}

static long verify(const struct cell *c, uint64_t x, int check_base) {
    long i = 0;
    for (; c; c = c->next, i++) {
        if (i > NCELLS) {
            fprintf(stderr, "list longer than built (a cycle?)\n");
            return -1;
        }
        if (c->value != (cell_value(i) ^ x)) {
            fprintf(stderr, "cell %ld corrupt\n", i);
            return -1;
        }
        if (check_base && (i % 9973 == 0) && gm_base(c) != c) {
            fprintf(stderr, "cell %ld not a live object\n", i);
            return -1;
        }
    }
    return i;
}

static void *collector(void *arg) {
    int n = *(int *)arg;
    for (int i = 0; i < n; i++)
        gm_collect();
    return NULL;
}

static void collect_on_small_stack(int n) {
    pthread_attr_t a;
    pthread_t t;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    CHECK_EQ(pthread_create(&t, &a, collector, &n), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&a);
}

int main(void) {
    gm_init();
    gm_memstats_t *ms = malloc(sizeof *ms);
    long n = NCELLS;
    if (GMT_ASAN) n = NCELLS / 2;
    /* gcstress marks the growing list at every 50th refill: quadratic in n. The 10 M
     * cells of the issue are the release run's; a tenth is still far deeper than a
     * recursive marker's C stack could go. */
    if (gmt_gcstress()) n = NCELLS / 10;
    double t0 = gmt_now();

    build_forward(n);
    double t1 = gmt_now();
    collect_on_small_stack(2);
    double t2 = gmt_now();
    CHECK_EQ(verify(forward_head, 0, 1), n);
    gm_read_memstats(ms);
    CHECK_GE(ms->heap_objects, (uint64_t)n);
    CHECK_GE(ms->heap_alloc, (uint64_t)n * 16);

    build_reverse(n / 2);
    collect_on_small_stack(1);
    gm_collect(); /* and once on the main thread */
    CHECK_EQ(verify(forward_head, 0, 1), n);
    CHECK_EQ(verify(reverse_head, 1, 1), n / 2);

    /* garbage between: the cells must not be reused */
    for (int i = 0; i < 200000; i++) {
        struct cell *g = gm_alloc(sizeof *g);
        g->value = ~(uint64_t)0;
        g->next = (struct cell *)g;
    }
    collect_on_small_stack(1);
    CHECK_EQ(verify(forward_head, 0, 1), n);
    CHECK_EQ(verify(reverse_head, 1, 0), n / 2);

    /* drop both lists: the cells are reclaimed */
    forward_head = NULL;
    reverse_head = NULL;
    gmt_collect_clean();
    gm_read_memstats(ms);
    if (ms->heap_objects > 100000 && gmt_gcstress()) {
        /* a gcstress cycle can start deep in any slow path, and one of its frames may
         * still hold a head when the clean collection runs: gm_explain found no root
         * for the kept list afterwards, so the next cycle frees it (db9ed7e too) */
        gmt_collect_clean();
        gm_read_memstats(ms);
    }
    /* Under ASan one stale copy of a head in its larger frames keeps a whole list (seen
     * in the optimized ASan build: 5 M cells left), as for the other tests' dead-object
     * checks (Makefile, GMT_ASAN) */
    if (!GMT_ASAN) {
        CHECK_LE(ms->heap_objects, 100000);
        CHECK_LE(ms->heap_alloc, 16u << 20);
    }
    fprintf(
        stderr,
        "test_biglist: %ld cells built in %.1f s, collected in %.2f s (2 cycles), total %.1f s\n",
        n, t1 - t0, t2 - t1, gmt_now() - t0);
    free(ms);
    return check_done();
}
