/* test_roots_table.c: gm_add_roots / gm_remove_roots at scale, against a model. Ranges
 * come and go in random order (coroutine stacks do), some start at the same address
 * (one gm_remove_roots removes them all); every call's result must match the model,
 * and the ranges still registered must still be roots: the object each one alone
 * points to survives collections and reuse of the freed memory. */
#include "api/gmtest.h"

#include <stdlib.h>

enum { NRANGES = 20000, NKEYS = 15000 };

static void **cells; /* malloc'd: not a root unless registered */
static int *count;   /* ranges registered per key (key k = &cells[k]) */
static void **volatile holder;
static uint64_t rng = 88172645463325252ull;

static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void) {
    gm_init();
    cells = calloc(NKEYS, sizeof *cells);
    count = calloc(NKEYS, sizeof *count);
    CHECK(cells != NULL && count != NULL);
    /* until the ranges are added, a gomem array held in a global keeps the objects */
    holder = gm_alloc(NKEYS * sizeof(void *));
    for (int k = 0; k < NKEYS; k++) {
        uint64_t *o = gm_alloc(64);
        o[0] = (uint64_t)k * 7 + 1;
        cells[k] = o;
        holder[k] = o;
    }
    /* add NRANGES ranges over random keys (duplicates included) */
    for (int i = 0; i < NRANGES; i++) {
        int k = (int)(next_rand() % NKEYS);
        CHECK_EQ(gm_add_roots(&cells[k], &cells[k + 1]), 0);
        count[k]++;
    }
    /* remove a random half of the keys, and some never added */
    int bad = 0;
    for (int i = 0; i < NKEYS / 2; i++) {
        int k = (int)(next_rand() % NKEYS);
        int rc = gm_remove_roots(&cells[k]);
        if (rc != (count[k] > 0 ? 0 : -1)) bad++;
        count[k] = 0;
    }
    CHECK_EQ(bad, 0);
    holder = NULL;
    /* unregistered cells forget their objects (malloc'd memory is not scanned) */
    for (int k = 0; k < NKEYS; k++)
        if (count[k] == 0) cells[k] = NULL;
    for (int r = 0; r < 3; r++) {
        gm_collect();
        for (int i = 0; i < 20000; i++)
            memset(gm_alloc(64), 0xee, 64);
    }
    int lost = 0;
    for (int k = 0; k < NKEYS; k++) {
        if (count[k] == 0) continue;
        uint64_t *o = cells[k];
        if (gm_base(o) != o || o[0] != (uint64_t)k * 7 + 1) lost++;
    }
    CHECK_EQ(lost, 0);
    /* the rest goes, each key once; a second removal fails */
    for (int k = 0; k < NKEYS; k++) {
        if (count[k] == 0) continue;
        if (gm_remove_roots(&cells[k]) != 0) bad++;
        if (gm_remove_roots(&cells[k]) != -1) bad++;
    }
    CHECK_EQ(bad, 0);
    free(cells);
    free(count);
    return check_done();
}
