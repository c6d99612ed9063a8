/* central.c: central span lists, one per span class.
 *
 * A thread cache takes a span with free slots from here when its own is full, and
 * gives spans back when it moves on or its thread exits. Each class keeps partial and
 * full lists in two sets; which set is "swept" is (sweepgen / 2) % 2, so the
 * collector turns every swept span into an unswept one by adding 2 to sweepgen, as
 * Go's mcentral does. Large spans (class 0, scan and noscan) live on the full lists of
 * span classes 0 and 1 so the sweeper finds them.
 * Invariants (lock of the class held):
 *   a span is on at most one list; cached spans and free spans are on none;
 *   a span on a swept list has sweepgen == sg and alloc_count exact;
 *   a span on an unswept list has sweepgen == sg - 2.
 * Locking: one lock per span class; the heap lock may be taken inside it, never the
 * other way round (lock order: gc.c).
 * See malloc.c for the allocator overview. */
#include "internal.h"
#include "gc_internal.h"
#include "debug_modes.h"

gmi_lock_t gmi_central_locks[GMI_NUM_SPAN_CLASSES] GMI_STATE;

typedef struct central_s {
    gmi_span_t *partial[2];
    gmi_span_t *full[2];
} central_t;

static central_t centrals[GMI_NUM_SPAN_CLASSES] GMI_STATE;

void gmi_central_init(void) {
    for (int i = 0; i < GMI_NUM_SPAN_CLASSES; i++)
        gmi_lock_init(&gmi_central_locks[i]);
}

static inline unsigned swept_set(uint32_t sg) {
    return (sg >> 1) & 1;
}

static gmi_span_t **list_head(central_t *c, uint8_t list) {
    switch (list) {
    case GMI_LIST_PARTIAL0:
        return &c->partial[0];
    case GMI_LIST_PARTIAL1:
        return &c->partial[1];
    case GMI_LIST_FULL0:
        return &c->full[0];
    case GMI_LIST_FULL1:
        return &c->full[1];
    default:
        return NULL;
    }
}

static void list_push(central_t *c, gmi_span_t *s, uint8_t list) {
    gmi_span_t **h = list_head(c, list);
    s->prev = NULL;
    s->next = *h;
    if (*h) (*h)->prev = s;
    *h = s;
    s->list = list;
}

static void list_remove(central_t *c, gmi_span_t *s) {
    gmi_span_t **h = list_head(c, s->list);
    if (h == NULL) return;
    if (s->prev)
        s->prev->next = s->next;
    else
        *h = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->list = GMI_LIST_NONE;
}

static gmi_span_t *list_pop(central_t *c, uint8_t list) {
    gmi_span_t *s = *list_head(c, list);
    if (s) list_remove(c, s);
    return s;
}

#define PARTIAL(set) ((uint8_t)(GMI_LIST_PARTIAL0 + (set)))
#define FULL(set)    ((uint8_t)(GMI_LIST_FULL0 + (set)))

/* Put a swept, uncached span where it belongs, or give it back to the page heap when
 * it holds nothing. Lock of its class held. */
/* relist_swept_locked puts a swept span back on its list, or gives it back to the page
 * heap when it is empty; returns the pages given back. */
static size_t relist_swept_locked(central_t *c, gmi_span_t *s, uint32_t sg) {
    atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
    if (s->alloc_count == 0 && s->specials == NULL) {
        if (gmi_unlikely(gmi_config.debug_poison)) gmi_debug_check_free_span(s);
        size_t npages = s->npages;
        gmi_heap_free_span(s);
        return npages;
    }
    unsigned set = swept_set(sg);
    list_push(c, s, s->alloc_count == s->nelems ? FULL(set) : PARTIAL(set));
    return 0;
}

/* sweep_large_poison_locked: poison mode sends a collected large object (which the
 * sweep fills with the pattern) to the large quarantine, not the page heap; its
 * allocation site is looked up before the sweep drops its profile record. */
static GMI_NOINLINE size_t sweep_large_poison_locked(central_t *c, gmi_span_t *s, uint32_t sg) {
    bool dies = (s->alloc_bits[0] & 1) && !(s->mark_bits[0] & 1);
    uintptr_t site = dies ? gmi_profile_alloc_site(s, 0) : 0;
    gmi_span_sweep(s);
    if (dies && s->alloc_count == 0 && s->specials == NULL) {
        atomic_store_explicit(&s->sweepgen, sg, memory_order_release);
        gmi_debug_quarantine_large(s, site, "collected");
        return 0;
    }
    return relist_swept_locked(c, s, sg);
}

/* Sweep an unswept span the caller has just removed from a list. Lock held. Returns
 * the pages given back to the page heap. */
static size_t sweep_owned_locked(central_t *c, gmi_span_t *s, uint32_t sg) {
    atomic_store_explicit(&s->sweepgen, sg - 1, memory_order_relaxed);
    if (gmi_unlikely(gmi_config.debug_poison) && (s->spanclass >> 1) == 0)
        return sweep_large_poison_locked(c, s, sg);
    gmi_span_sweep(s);
    return relist_swept_locked(c, s, sg);
}

/* gmi_central_cache_span returns a swept span of the class with at least one free
 * slot, marked cached, or NULL when the heap cannot grow (errno ENOMEM). */
gmi_span_t *gmi_central_cache_span(unsigned spc) {
    central_t *c = &centrals[spc];
    gmi_span_t *s;
    uint32_t sg = atomic_load(&gmi_gc.sweepgen);
    unsigned sw = swept_set(sg), un = sw ^ 1;
    int budget = 100;
    /* caller holds gmi_central_locks[spc] */
    if ((s = list_pop(c, PARTIAL(sw))) != NULL) goto have;
    while (budget-- > 0 && (s = list_pop(c, PARTIAL(un))) != NULL) {
        atomic_store_explicit(&s->sweepgen, sg - 1, memory_order_relaxed);
        gmi_span_sweep(s);
        if (s->alloc_count < s->nelems) goto have;
        relist_swept_locked(c, s, sg);
    }
    while (budget-- > 0 && (s = list_pop(c, FULL(un))) != NULL) {
        atomic_store_explicit(&s->sweepgen, sg - 1, memory_order_relaxed);
        gmi_span_sweep(s);
        if (s->alloc_count < s->nelems) goto have;
        relist_swept_locked(c, s, sg);
    }
    {
        bool zeroed;
        s = gmi_heap_alloc_span(gmi_class_to_npages[spc >> 1], spc, &zeroed);
        if (s == NULL) return NULL;
    }
have:
    atomic_store_explicit(&s->sweepgen, sg + 3, memory_order_relaxed);
    atomic_store_explicit(&s->cached, 1, memory_order_seq_cst);
    return s;
}

/* Drain frees made by other threads into the allocation bitmap. Returns the count.
 * The caller owns the span (cached by it, sweeping it, or lock held and uncached).
 * A slot's allocation bit is cleared before its pending bit, so that a collection
 * that stops the caller in between finds the slot either allocated and pending (left
 * alone by the sweep) or free, never allocated and no longer pending (taken for dead
 * and counted a second time). */
size_t gmi_span_drain_pending(gmi_span_t *s) {
    size_t n = 0;
    if (!atomic_load_explicit(&s->has_pending, memory_order_acquire)) return 0;
    atomic_store_explicit(&s->has_pending, 0, memory_order_seq_cst);
    for (size_t w = 0; w < s->nwords; w++) {
        uint64_t p = atomic_load_explicit(&s->pending_bits[w], memory_order_acquire);
        if (p == 0) continue;
        if (w * 64 + (size_t)__builtin_ctzll(p) < s->freeindex)
            s->freeindex = (uint16_t)(w * 64 + (size_t)__builtin_ctzll(p));
        s->alloc_bits[w] &= ~p;
        atomic_signal_fence(memory_order_seq_cst);
        atomic_fetch_and_explicit(&s->pending_bits[w], ~p, memory_order_acq_rel);
        n += (size_t)gmi_popcount64(p);
    }
    if (n) s->needzero = 1;
    return n;
}

/* gmi_central_uncache_span takes a span back from a thread cache. Lock held. */
void gmi_central_uncache_span(gmi_span_t *s) {
    central_t *c = &centrals[s->spanclass];
    uint32_t sg = atomic_load(&gmi_gc.sweepgen);
    atomic_store_explicit(&s->cached, 0, memory_order_seq_cst);
    gmi_span_drain_pending(s);
    gmi_span_count(s);
    gmi_heap_live_sub((uint64_t)(s->nelems - s->alloc_count) * s->elemsize);
    relist_swept_locked(c, s, sg);
}

/* gmi_central_free_remote makes a full, uncached span whose pending bit the caller
 * has just raised reusable at once: drain it and move it to a partial list (or give it
 * back to the page heap). An unswept span is left to the sweeper, which drains pending
 * bits first; a span someone cached meanwhile is drained by its owner. */
void gmi_central_free_remote(gmi_span_t *s, size_t slot) {
    (void)slot;
    unsigned spc = s->spanclass;
    central_t *c = &centrals[spc];
    gmi_lock(&gmi_central_locks[spc]);
    uint32_t sg = atomic_load(&gmi_gc.sweepgen);
    if (!atomic_load(&s->cached) && atomic_load(&s->sweepgen) == sg &&
        atomic_load(&s->state) == GMI_SPAN_INUSE && s->spanclass == spc &&
        (s->list == GMI_LIST_FULL0 || s->list == GMI_LIST_FULL1)) {
        size_t n = gmi_span_drain_pending(s);
        if (n) {
            list_remove(c, s);
            s->alloc_count = (uint16_t)(s->alloc_count - n);
            relist_swept_locked(c, s, sg);
        }
    }
    gmi_unlock(&gmi_central_locks[spc]);
}

/* ---------------------------------------------------------------------------------
 * Large spans
 * ------------------------------------------------------------------------------- */

/* gmi_central_publish_large sets a new large span's allocation bit and puts it on the
 * swept full list in one step under the class lock, so a collection never sees a large
 * object that is allocated but on no list: such an object would keep its mark bit into
 * the next cycle and hide its children. */
void gmi_central_publish_large(gmi_span_t *s) {
    unsigned spc = s->spanclass;
    gmi_lock(&gmi_central_locks[spc]);
    uint32_t sg = atomic_load(&gmi_gc.sweepgen);
    s->alloc_count = 1;
    s->alloc_bits[0] = 1;
    atomic_store(&s->sweepgen, sg);
    list_push(&centrals[spc], s, FULL(swept_set(sg)));
    gmi_unlock(&gmi_central_locks[spc]);
}

/* Remove a large span for an explicit free. Returns false if the span is being
 * swept or was freed already (the caller then reports a bad free). */
bool gmi_central_remove_large(gmi_span_t *s) {
    unsigned spc = s->spanclass;
    gmi_lock(&gmi_central_locks[spc]);
    bool ok = atomic_load(&s->state) == GMI_SPAN_INUSE && s->list != GMI_LIST_NONE &&
              (s->alloc_bits[0] & 1);
    if (ok) {
        list_remove(&centrals[spc], s);
        s->alloc_bits[0] = 0;
        s->mark_bits[0] = 0; /* it may be unswept: leave no mark for the next cycle to see */
    }
    gmi_unlock(&gmi_central_locks[spc]);
    return ok;
}

/* ---------------------------------------------------------------------------------
 * Sweeping by class (sweep.c drives it)
 * ------------------------------------------------------------------------------- */

/* Sweep one unswept span of class spc. Returns false when the class has none; adds
 * the pages the sweep gave back to the page heap to *freed. */
bool gmi_central_sweep_one(unsigned spc, size_t *freed) {
    central_t *c = &centrals[spc];
    if (c->partial[0] == NULL && c->partial[1] == NULL && c->full[0] == NULL && c->full[1] == NULL)
        return false; /* racy peek: a missed span is swept by the next pass or by allocation */
    gmi_lock(&gmi_central_locks[spc]);
    uint32_t sg = atomic_load(&gmi_gc.sweepgen);
    unsigned un = swept_set(sg) ^ 1;
    gmi_span_t *s = list_pop(c, PARTIAL(un));
    if (s == NULL) s = list_pop(c, FULL(un));
    if (s) *freed += sweep_owned_locked(c, s, sg);
    gmi_unlock(&gmi_central_locks[spc]);
    return s != NULL;
}

/* Visit every span on the lists of class spc (lock held by caller or world stopped). */
void gmi_central_each_locked(unsigned spc, void (*fn)(gmi_span_t *s, int swept, void *arg),
                             void *arg) {
    central_t *c = &centrals[spc];
    unsigned sw = swept_set(atomic_load(&gmi_gc.sweepgen));
    for (unsigned set = 0; set < 2; set++) {
        for (gmi_span_t *s = c->partial[set]; s; s = s->next)
            fn(s, set == sw, arg);
        for (gmi_span_t *s = c->full[set]; s; s = s->next)
            fn(s, set == sw, arg);
    }
}
