/* test_pending_sweep.c: a remote free caught by a collection halfway.
 *
 * A thread that frees an object of a span it does not own sets the slot's pending bit,
 * then raises the span's has_pending flag. Stopped between the two, it leaves a slot
 * whose pointer is gone (so it is not marked) and whose pending bit nobody drains yet.
 * The sweep must not free that slot: if it did, the slot would be handed out again and
 * the drain that follows the freer's resumption would clear the new object's bit, so the
 * slot would be handed out a third time while the second object lives (two live objects
 * at one address). The test plays the stopped freer by setting the pending bit by hand.
 * Links libgomem.a (internal.h). */
#include "internal.h"
#include "check.h"
#include <gomem.h>
#include <string.h>

enum { SIZE = 2048, N = 512 }; /* over 1 KiB: no reuse stacks, frees use the bitmaps */

static void *objs[N];

static __attribute__((noinline)) void scrub_stack(void) {
    volatile char pad[8192];
    memset((char *)pad, 0, sizeof pad);
}

int main(void) {
    gm_init();
    for (int i = 0; i < N; i++) {
        objs[i] = gm_alloc(SIZE);
        memset(objs[i], i & 0xff, SIZE);
    }
    /* the victim: an object in the middle; from here on only its disguised address */
    uintptr_t key = 0x5a5a5a5a5a5a5a5aull;
    uintptr_t hidden = (uintptr_t)objs[N / 2] ^ key;
    objs[N / 2] = NULL;
    gmi_span_t *s = gmi_span_of(hidden ^ key);
    CHECK(s != NULL);
    size_t slot = gmi_span_slot(s, hidden ^ key);
    /* the freer, stopped after its OR and before has_pending */
    atomic_fetch_or(&s->pending_bits[slot >> 6], 1ull << (slot & 63));
    scrub_stack();
    gm_collect();
    /* the slot is still allocated: the sweep left it to the drain */
    CHECK(gmi_bit_get(s->alloc_bits, slot));

    /* Allocate the class over, keeping everything; the freer resumes halfway. */
    static void *more[4 * N];
    for (int i = 0; i < 4 * N; i++) {
        if (i == N) atomic_store(&s->has_pending, 1); /* the freer resumes */
        more[i] = gm_alloc(SIZE);
        memset(more[i], (i * 7 + 1) & 0xff, SIZE);
    }
    /* no two live objects share an address, and every one kept its bytes */
    int dup = 0, bad = 0;
    for (int i = 0; i < 4 * N; i++) {
        for (int j = 0; j < N; j++)
            if (objs[j] == more[i]) dup++;
        for (int j = i + 1; j < 4 * N; j++)
            if (more[j] == more[i]) dup++;
        const unsigned char *c = more[i];
        for (int k = 0; k < SIZE; k++)
            if (c[k] != ((i * 7 + 1) & 0xff)) {
                bad++;
                break;
            }
    }
    CHECK_EQ(dup, 0);
    CHECK_EQ(bad, 0);
    for (int j = 0; j < N; j++) {
        if (objs[j] == NULL) continue;
        const unsigned char *c = objs[j];
        for (int k = 0; k < SIZE; k++)
            if (c[k] != (j & 0xff)) {
                bad++;
                break;
            }
    }
    CHECK_EQ(bad, 0);
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    CHECK(ms.heap_objects < (uint64_t)1 << 40); /* never negative (wrapped) */
    return check_done();
}
