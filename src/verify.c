/* verify.c: GOMEMDEBUG=verify=1, a full consistency check of the heap.
 *
 * Run by the collector with the world stopped and every lock held: once before
 * marking (every mark bit must be clear, every thread cache consistent) and once
 * after mark termination. A failure prints what broke and where, then aborts.
 * Checks: the page heap (page_heap.c's checker: free runs, coalescing, page map,
 * released bytes); every INUSE span (bitmaps against counts, page map, sweep state);
 * every thread cache entry (its span is cached, swept and of the right class; the
 * slots it may hand out are free; its word pointer matches); central list membership
 * (every listed span is in use, of its list's class, not cached, and every uncached
 * span in use is listed, except a large one with no object); no span is cached twice;
 * the quarantine and the pin table (debug_modes.c, pin.c).
 * See gc.c for the collector overview. */
#include "internal.h"
#include "gc_internal.h"
#include "debug_modes.h"

typedef struct verify_ctx_s {
    uint32_t sg;
    int before_mark;
    unsigned spc; /* class whose central lists verify_listed walks */
    size_t spans;
    size_t listed, on_list; /* spans found on central lists / spans whose list says so */
    size_t cached, entries; /* spans marked cached / cache entries holding a span */
} verify_ctx_t;

static _Noreturn void fail_span(const char *what, const gmi_span_t *s) {
    gmi_throw("verify: %s (span %p start 0x%lx npages %zu class %u nelems %u sweepgen %u/%u)", what,
              (const void *)s, (unsigned long)s->start, s->npages, (unsigned)(s->spanclass >> 1),
              (unsigned)s->nelems, (unsigned)atomic_load(&s->sweepgen),
              (unsigned)atomic_load(&gmi_gc.sweepgen));
}

static void verify_span(gmi_span_t *s, void *arg) {
    verify_ctx_t *v = arg;
    v->spans++;
    if (gmi_span_of(s->start) != s) fail_span("page map does not lead back to the span", s);
    uintptr_t last_page = s->start + (s->npages - 1) * GMI_PAGE_SIZE;
    if (last_page < s->limit && gmi_span_of(last_page) != s)
        fail_span("last page does not map to the span", s);
    unsigned cls = s->spanclass >> 1;
    size_t nelems = cls ? gmi_class_to_nelems[cls] : 1;
    if (s->nelems != nelems) fail_span("nelems does not match the size class", s);
    if (s->limit != s->start + s->nelems * s->elemsize) fail_span("limit is wrong", s);
    if (s->limit > s->start + s->npages * GMI_PAGE_SIZE) fail_span("objects overrun the span", s);
    size_t words = (s->nelems + 63) / 64;
    if (s->nwords != words) fail_span("bitmap size is wrong", s);
    uint64_t tail = s->nelems % 64 ? ~((1ull << (s->nelems % 64)) - 1) : 0;
    if (s->alloc_bits[words - 1] & tail) fail_span("allocation bit set past the last slot", s);
    uint32_t sg = v->sg, ssg = atomic_load(&s->sweepgen);
    int cached = atomic_load(&s->cached);
    v->cached += cached != 0;
    if (s->list != GMI_LIST_NONE) {
        if (cached) fail_span("cached span is also on a central list", s);
        if (s->list > GMI_LIST_FULL1) fail_span("span in use is on a page-heap list", s);
        v->on_list++;
    } else if (!cached && (cls != 0 || (s->alloc_bits[0] & 1)))
        fail_span("span in use is neither cached nor on a central list", s);
    if (!cached && cls != 0) {
        if (s->freeindex > s->nelems) fail_span("freeindex past the last slot", s);
        for (size_t i = 0; i < s->freeindex; i++)
            if (!gmi_bit_get(s->alloc_bits, i)) fail_span("a slot below freeindex is free", s);
    }
    if (cached) {
        if (ssg != sg + 3) fail_span("cached span is not swept", s);
    } else if (s->list != GMI_LIST_NONE) {
        if (ssg != sg && ssg != sg - 2) fail_span("listed span has a bad sweepgen", s);
    }
    if (v->before_mark) {
        for (size_t w = 0; w < words; w++)
            if (s->mark_bits[w])
                fail_span("mark bit set before marking (a span escaped sweeping)", s);
    }
    if (!cached && ssg == sg && s->list != GMI_LIST_NONE) {
        size_t n = 0;
        for (size_t w = 0; w < words; w++)
            n += (size_t)__builtin_popcountll(s->alloc_bits[w]);
        if (n != s->alloc_count) fail_span("alloc_count differs from the allocation bitmap", s);
        int full = s->list == GMI_LIST_FULL0 || s->list == GMI_LIST_FULL1;
        if (cls && full != (n == s->nelems))
            fail_span("span is on the wrong list (full/partial)", s);
    }
}

/* verify_freed: every object of a valid reuse stack or transfer list (malloc.c, 7a and
 * 7b) of span class spc is an allocated, not pending slot base of the class, cleared
 * but for its free tag, and on no other place of the same stack or list. */
static void verify_freed(const char *what, unsigned spc, void *const *objs, unsigned n) {
    for (unsigned k = 0; k < n; k++) {
        uintptr_t a = (uintptr_t)objs[k];
        gmi_span_t *s = gmi_span_of(a);
        if (s == NULL)
            gmi_throw("verify: %s holds 0x%lx, not a heap object", what, (unsigned long)a);
        if (s->spanclass != spc)
            fail_span("reuse stack or transfer list holds an object of another class", s);
        size_t i = gmi_span_slot(s, a);
        if (s->start + i * s->elemsize != a)
            fail_span("reuse stack or transfer list holds an interior pointer", s);
        if (!gmi_bit_get(s->alloc_bits, i))
            fail_span("reuse stack or transfer list holds a free slot", s);
        if ((atomic_load(&s->pending_bits[i >> 6]) >> (i & 63)) & 1)
            fail_span("reuse stack or transfer list holds a slot freed again (pending)", s);
        const uintptr_t *w = (const uintptr_t *)a;
        if (!gmi_reuse_tagged(a))
            fail_span("object on a reuse stack or transfer list lost its free tag", s);
        for (size_t j = 1; j < s->elemsize / sizeof(uintptr_t); j++)
            if (w[j] != 0)
                fail_span("object on a reuse stack or transfer list was written after its free", s);
        for (unsigned k2 = 0; k2 < k; k2++)
            if ((uintptr_t)objs[k2] == a)
                fail_span("reuse stack or transfer list holds an object twice", s);
    }
}

/* verify_reuse: a thread's valid reuse stack of class spc (a stale one's objects were
 * garbage of a cycle since). */
static void verify_reuse(gmi_thread_t *t, unsigned spc) {
    unsigned n = t->cache.alloc[spc].nreuse;
    if (n == 0 || !gmi_reuse_fresh(&t->cache)) return;
    if (spc >= GMI_REUSE_SPAN_CLASSES || n > gmi_reuse_cap[spc])
        gmi_throw("verify: reuse stack of span class %u holds %u objects", spc, n);
    verify_freed("reuse stack", spc, t->cache.reuse[spc], n);
}

/* verify_transfers: every class's valid transfer list. */
static void verify_transfers(void) {
    for (unsigned spc = 0; spc < GMI_REUSE_SPAN_CLASSES; spc++) {
        void *const *objs;
        unsigned n = gmi_transfer_objects(spc, &objs);
        if (n > GMI_TRANSFER_STACKS * (unsigned)gmi_reuse_cap[spc])
            gmi_throw("verify: transfer list of span class %u holds %u objects", spc, n);
        verify_freed("transfer list", spc, objs, n);
    }
}

static void verify_cache(gmi_thread_t *t, void *arg) {
    verify_ctx_t *v = arg;
    for (unsigned spc = 0; spc < GMI_NUM_SPAN_CLASSES; spc++) {
        verify_reuse(t, spc);
        gmi_cache_entry_t *e = &t->cache.alloc[spc];
        gmi_span_t *s = e->span;
        if (s == NULL) continue;
        v->entries++;
        if (atomic_load(&s->state) != GMI_SPAN_INUSE) fail_span("cache holds a span not in use", s);
        if (s->spanclass != spc) fail_span("cache holds a span of another class", s);
        if (!atomic_load(&s->cached)) fail_span("cache holds a span not marked cached", s);
        if (atomic_load(&s->sweepgen) != v->sg + 3) fail_span("cache holds an unswept span", s);
        uint64_t m = __atomic_load_n(&e->free_mask, __ATOMIC_RELAXED);
        if (m == 0 && e->held == 0) continue;
        if (e->word >= s->nwords) fail_span("cache word index past the bitmap", s);
        if (e->wordp != &s->alloc_bits[e->word]) fail_span("cache word pointer is stale", s);
        if (e->base != s->start + (uintptr_t)e->word * 64 * s->elemsize)
            fail_span("cache base is stale", s);
        /* free slots may be in flight (taken from the mask, bit not yet set) but a slot
         * in the mask must never be allocated */
        if (m & s->alloc_bits[e->word]) fail_span("cache may hand out an allocated slot", s);
        if (e->held & s->alloc_bits[e->word]) fail_span("cache holds back an allocated slot", s);
        if (e->held & m) fail_span("cache slot both held back and free", s);
        size_t left = s->nelems - (size_t)e->word * 64;
        if (left < 64 && (m >> left)) fail_span("cache may hand out a slot past the span", s);
    }
}

static void verify_listed(gmi_span_t *s, int swept, void *arg) {
    verify_ctx_t *v = arg;
    (void)swept;
    if (++v->listed > v->spans)
        gmi_throw("verify: central list of span class %u is cyclic", v->spc);
    if (atomic_load(&s->state) != GMI_SPAN_INUSE)
        fail_span("central list holds a span not in use", s);
    if (s->spanclass != v->spc) fail_span("span is on the central list of another class", s);
    if (s->list == GMI_LIST_NONE || s->list > GMI_LIST_FULL1)
        fail_span("listed span's list field says it is not listed", s);
}

/* gmi_verify_stw checks the whole heap; world stopped, all locks held. */
void gmi_verify_stw(int before_mark) {
    verify_ctx_t v = {.sg = atomic_load(&gmi_gc.sweepgen), .before_mark = before_mark};
    const char *e = gmi_heap_check_locked();
    if (e) gmi_throw("verify: page heap: %s", e);
    gmi_heap_each_span_locked(verify_span, &v);
    gmi_threads_each_cache(verify_cache, &v);
    verify_transfers();
    for (unsigned spc = 0; spc < GMI_NUM_SPAN_CLASSES; spc++) {
        v.spc = spc;
        gmi_central_each_locked(spc, verify_listed, &v);
    }
    if (v.listed != v.on_list)
        gmi_throw("verify: %zu spans on central lists, but %zu spans say they are listed", v.listed,
                  v.on_list);
    if (v.cached != v.entries)
        gmi_throw("verify: %zu spans marked cached, but %zu thread cache entries hold one",
                  v.cached, v.entries);
    gmi_debug_verify_locked();
}

/* gmi_verify_heap stops the world and checks the whole heap (mark bits not checked).
 * For tests and fuzz targets: call it from a registered thread outside any gomem lock. */
void gmi_verify_heap(void) {
    gmi_lock(&gmi_gc.lock);
    gmi_lock_all();
    gmi_world_stop();
    gmi_verify_stw(0);
    gmi_world_start();
    gmi_unlock_all();
    gmi_unlock(&gmi_gc.lock);
}
