/* span.c: span bitmaps and the sweep of one span.
 *
 * Sweeping touches no dead object, except the first word of those in a span that fed
 * a reuse stack (malloc.c 7a), to count each free once. After draining frees made by
 * other threads, a span's allocation bitmap becomes alloc & mark, and the mark bitmap
 * is cleared. A
 * span that lost objects gets needzero, so its free slots are zeroed when handed out.
 * Spans with specials (profile records, later finalizers and weak handles) let those
 * see the dead slots first.
 * See malloc.c for the allocator overview and gc.c for the collector's. */
#include "internal.h"
#include "gc_internal.h"

#include "profile.h"
#include "debug_modes.h"
#include "track.h"

/* gmi_span_count recomputes alloc_count from the allocation bitmap. */
void gmi_span_count(gmi_span_t *s) {
    size_t n = 0;
    for (size_t w = 0; w < s->nwords; w++)
        n += (size_t)gmi_popcount64(s->alloc_bits[w]);
    s->alloc_count = (uint16_t)n;
}

/* tagged_dead counts the dead objects of bitmap word w (bits in dead) that hold a
 * reuse stack's free tag (malloc.c, 7a): their frees were counted when they were
 * pushed. Only spans marked reuse_tagged are read this way; other sweeps never touch a
 * dead object. */
static GMI_NOINLINE size_t tagged_dead(const gmi_span_t *s, size_t w, uint64_t dead) {
    size_t n = 0;
    for (; dead; dead &= dead - 1) {
        uintptr_t a = s->start + (w * 64 + (size_t)__builtin_ctzll(dead)) * s->elemsize;
        n += gmi_reuse_tagged(a);
    }
    return n;
}

/* gmi_span_sweep sweeps s; the caller owns the span (sweepgen sg-1, or world stopped
 * for a cached span). Returns the number of objects the collection freed. Does not
 * move the span between lists. */
static size_t span_sweep(gmi_span_t *s, bool stw) {
    gmi_span_drain_pending(s);
    if (__atomic_load_n(&s->specials, __ATOMIC_RELAXED) != NULL) {
        if (stw)
            gmi_profile_sweep_span_locked(s); /* the collector holds every lock */
        else
            gmi_profile_sweep_span(s);
    }
    size_t freed = 0, counted_before = 0;
    for (size_t w = 0; w < s->nwords; w++) {
        /* A slot whose pending bit is still set is not the sweep's to free, even
         * unmarked: its free was counted, and the bit (raised by a thread stopped before
         * it could raise has_pending, or taken by a drain that was interrupted) is
         * drained later. Freeing it here would let the slot be handed out again and
         * that drain clear the new object's bit. */
        uint64_t pend = atomic_load_explicit(&s->pending_bits[w], memory_order_acquire);
        uint64_t a = s->alloc_bits[w], m = s->mark_bits[w];
        uint64_t dead = a & ~m & ~pend;
        if (dead) {
            if (w * 64 + (size_t)__builtin_ctzll(dead) < s->freeindex)
                s->freeindex = (uint16_t)(w * 64 + (size_t)__builtin_ctzll(dead));
            freed += (size_t)gmi_popcount64(dead);
            if (gmi_unlikely(s->reuse_tagged)) counted_before += tagged_dead(s, w, dead);
            s->alloc_bits[w] = a & ~dead;
            if (gmi_unlikely(gmi_config.debug_poison)) gmi_debug_poison_slots(s, w, dead);
#if GM_TRACK_VALGRIND
            for (uint64_t d = dead; d; d &= d - 1)
                GMI_TRACK_FREE(
                    (void *)(s->start + (w * 64 + (size_t)__builtin_ctzll(d)) * s->elemsize));
#endif
        }
        s->mark_bits[w] = 0;
    }
    unsigned cls = s->spanclass >> 1;
    if (freed) {
        s->needzero = 1;
        if (freed > counted_before)
            atomic_fetch_add_explicit(&gmi_gc.frees[cls], freed - counted_before,
                                      memory_order_relaxed);
        if (cls == 0)
            atomic_fetch_add_explicit(&gmi_gc.large_free_bytes, s->elemsize, memory_order_relaxed);
    }
    gmi_span_count(s);
    return freed;
}

size_t gmi_span_sweep(gmi_span_t *s) {
    return span_sweep(s, false);
}

/* gmi_span_sweep_stw sweeps a cached span at mark termination (world stopped, every
 * lock held, so specials are handled with the _locked hooks). */
size_t gmi_span_sweep_stw(gmi_span_t *s) {
    return span_sweep(s, true);
}
