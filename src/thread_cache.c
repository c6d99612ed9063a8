/* thread_cache.c: the per-thread cache: one current span per span class.
 *
 * The fast path (malloc.c) pops a slot from the current 64-slot word of the entry's
 * span. When the word is used up, gmi_cache_next_word moves to the next word with a
 * free slot; when the span is used up, gmi_cache_refill trades it at the central list
 * for another. Spans change only under the class's central lock, so a collector that
 * holds every lock sees each thread's cached spans consistently even if the thread
 * was stopped inside the fast path (malloc.c explains the fast path's ordering).
 * Counters (objects allocated and freed) are plain per-entry fields flushed into the
 * global counters on refill, so the fast path does no atomic operation.
 * See malloc.c for the allocator overview. */
#include "internal.h"
#include "gc_internal.h"

static inline uint64_t word_valid_mask(const gmi_span_t *s, size_t w) {
    size_t left = (size_t)s->nelems - w * 64;
    return left >= 64 ? ~0ull : ((1ull << left) - 1);
}

#define SIGNAL_FENCE() atomic_signal_fence(memory_order_seq_cst)

/* entry_drop_word forgets the slots the entry still holds in its current word: they
 * were counted as allocated when the word was loaded. */
static void entry_drop_word(gmi_cache_entry_t *e) {
    uint64_t m = __atomic_load_n(&e->free_mask, __ATOMIC_RELAXED);
    __atomic_store_n(&e->free_mask, 0, __ATOMIC_RELAXED);
    SIGNAL_FENCE();
    e->nmalloc -= gmi_popcount64(m | e->held);
    e->held = 0;
}

/* moving_begin/moving_end bracket the word changes of the calling thread's own cache
 * (c is NULL for another thread's, which is not running): gm_read_memstats, which
 * counts nmalloc less the slots still in free_mask, never reads a thread stopped
 * between the two updates (it counted up to 64 objects that were not allocated). */
static gmi_thread_cache_t *moving_begin(gmi_cache_entry_t *e) {
    gmi_thread_t *t = gmi_tls_thread;
    gmi_thread_cache_t *c = NULL;
    if (t != NULL && e >= t->cache.alloc && e < t->cache.alloc + GMI_NUM_SPAN_CLASSES)
        c = &t->cache;
    if (c != NULL) {
        __atomic_store_n(&c->moving_word, c->moving_word + 1, __ATOMIC_RELAXED);
        SIGNAL_FENCE();
    }
    return c;
}

static void moving_end(gmi_thread_cache_t *c) {
    if (c == NULL) return;
    SIGNAL_FENCE();
    __atomic_store_n(&c->moving_word, c->moving_word - 1, __ATOMIC_RELAXED);
}

/* Point entry e at word w of its span. The free mask is published last, after the
 * fields the fast path reads with it; needzero is read after the bitmap word so that a
 * sweep by the collector between the two reads cannot hand out a dirty slot as clean.
 * Every slot loaded is counted as allocated now (the fast path counts nothing);
 * entry_drop_word takes back what is never handed out. */
static void entry_load_word(gmi_cache_entry_t *e, gmi_span_t *s, size_t w) {
    gmi_thread_cache_t *c = moving_begin(e);
    entry_drop_word(e);
    e->word = (uint32_t)w;
    e->wordp = &s->alloc_bits[w];
    e->base = s->start + w * 64 * s->elemsize;
    e->elemsize = s->elemsize;
    uint64_t freebits = ~s->alloc_bits[w] & word_valid_mask(s, w);
    SIGNAL_FENCE();
    e->needzero =
        s->needzero & (uint8_t)!gmi_config.debug_poison; /* poison: debug_modes.c zeroes */
    e->nmalloc += gmi_popcount64(freebits);
    SIGNAL_FENCE();
    __atomic_store_n(&e->free_mask, freebits, __ATOMIC_RELAXED);
    moving_end(c);
}

/* gmi_cache_next_word finds the next word of the cached span with a free slot and
 * loads it. Returns false when the span has no free slot left. */
bool gmi_cache_next_word(gmi_cache_entry_t *e) {
    gmi_span_t *s = e->span;
    if (atomic_load_explicit(&s->has_pending, memory_order_relaxed)) {
        if (gmi_span_drain_pending(s)) e->rescan = 1;
    }
    size_t nw = s->nwords;
    for (size_t w = (size_t)e->word + 1; w < nw; w++) {
        if (~s->alloc_bits[w] & word_valid_mask(s, w)) {
            entry_load_word(e, s, w);
            return true;
        }
    }
    if (e->rescan) {
        e->rescan = 0;
        for (size_t w = 0; w < nw; w++) {
            if (~s->alloc_bits[w] & word_valid_mask(s, w)) {
                entry_load_word(e, s, w);
                return true;
            }
        }
    }
    return false;
}

static void entry_flush_stats(gmi_cache_entry_t *e, unsigned spc) {
    unsigned cls = spc >> 1;
    if (e->nmalloc) {
        atomic_fetch_add_explicit(&gmi_gc.mallocs[cls], e->nmalloc, memory_order_relaxed);
        e->nmalloc = 0;
    }
    if (e->nfree) {
        atomic_fetch_add_explicit(&gmi_gc.frees[cls], e->nfree, memory_order_relaxed);
        e->nfree = 0;
    }
}

/* Drop the entry's span. Lock of the class held. */
static void entry_uncache_locked(gmi_cache_entry_t *e) {
    gmi_span_t *s = e->span;
    /* the words before the current one were full when the entry passed them, unless a
     * local free reopened one (rescan) */
    s->freeindex = e->rescan ? 0 : (uint16_t)(e->word * 64);
    gmi_thread_cache_t *c = moving_begin(e);
    entry_drop_word(e);
    moving_end(c);
    e->span = NULL;
    e->wordp = NULL;
    gmi_central_uncache_span(s);
}

/* gmi_cache_refill gives the entry's used-up span back and caches a fresh one.
 * Returns false on out-of-memory (errno ENOMEM). */
bool gmi_cache_refill(gmi_cache_entry_t *e, unsigned spc) {
    gmi_lock(&gmi_central_locks[spc]);
    if (e->span) entry_uncache_locked(e);
    entry_flush_stats(e, spc);
    gmi_span_t *s = gmi_central_cache_span(spc);
    if (s == NULL) {
        gmi_unlock(&gmi_central_locks[spc]);
        return false;
    }
    gmi_span_drain_pending(s);
    gmi_span_count(s);
    e->span = s;
    e->rescan = 0;
    /* The pacer counts the whole free part of a cached span as live (Go's heapLive). */
    atomic_fetch_add(&gmi_gc.heap_live, (uint64_t)(s->nelems - s->alloc_count) * s->elemsize);
    size_t w = s->freeindex / 64; /* every slot below freeindex is allocated */
    while (w < s->nwords && !(~s->alloc_bits[w] & word_valid_mask(s, w)))
        w++;
    if (gmi_unlikely(w == s->nwords)) { /* never: the span has a free slot (verify) */
        for (w = 0; w < s->nwords && !(~s->alloc_bits[w] & word_valid_mask(s, w));)
            w++;
    }
    entry_load_word(e, s, w);
    gmi_unlock(&gmi_central_locks[spc]);
    return true;
}

/* gmi_thread_cache_release gives every cached span back (thread exit, unregister,
 * fork child cleanup) and flushes the counters. */
void gmi_thread_cache_release(gmi_thread_cache_t *c) {
    gmi_reuse_flush(c);
    for (unsigned spc = 0; spc < GMI_NUM_SPAN_CLASSES; spc++) {
        gmi_cache_entry_t *e = &c->alloc[spc];
        if (e->span == NULL && e->nmalloc == 0 && e->nfree == 0) continue;
        gmi_lock(&gmi_central_locks[spc]);
        if (e->span) entry_uncache_locked(e);
        entry_flush_stats(e, spc);
        gmi_unlock(&gmi_central_locks[spc]);
    }
    gmi_thread_cache_flush_stats(c);
}

void gmi_thread_cache_flush_stats(gmi_thread_cache_t *c) {
    if (c->live_debt) gmi_cache_pay_live_debt(c);
    if (c->nlarge_alloc) {
        atomic_fetch_add(&gmi_gc.mallocs[0], c->nlarge_alloc);
        c->nlarge_alloc = 0;
    }
    if (c->nlarge_free) {
        atomic_fetch_add(&gmi_gc.frees[0], c->nlarge_free);
        c->nlarge_free = 0;
    }
}

/* Sum of unflushed counters of one cache, for statistics (world stopped). */
bool gmi_thread_cache_moving(const gmi_thread_cache_t *c) {
    return __atomic_load_n(&c->moving_word, __ATOMIC_RELAXED) != 0;
}

void gmi_thread_cache_unflushed(gmi_thread_cache_t *c, uint64_t *mallocs, uint64_t *frees) {
    for (unsigned spc = 0; spc < GMI_NUM_SPAN_CLASSES; spc++) {
        const gmi_cache_entry_t *e = &c->alloc[spc];
        mallocs[spc >> 1] += e->nmalloc - gmi_popcount64(e->free_mask | e->held);
        frees[spc >> 1] += c->alloc[spc].nfree;
    }
    mallocs[0] += c->nlarge_alloc;
    frees[0] += c->nlarge_free;
}
