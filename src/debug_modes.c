/* debug_modes.c: GOMEMDEBUG=poison=1 and checkptr=1, off the allocation fast path.
 *
 * When either mode is on (or an object was ever pinned), malloc.c sends gm_alloc*,
 * gm_free, gm_realloc and gm_usable_size here through one cold test of gmi_debug_slow;
 * the fast path itself is unchanged. These versions call the normal allocator below
 * the debug branch (gmi_malloc_raw, gmi_free_raw).
 *
 * poison=1. Every freed slot holds GMI_POISON_FREED in every byte:
 *  1. gm_free fills the object with the pattern and puts it in the quarantine, a ring
 *     of recently freed objects (at most QUARANTINE_SLOTS and QUARANTINE_BYTES) in
 *     metadata memory. A quarantined object keeps its allocation bit, so nothing reuses
 *     it; the collector marks it without scanning it (gmi_debug_mark_roots), so it is
 *     not swept either. When it leaves the ring its pattern is checked and it is freed
 *     for real.
 *  2. The sweeper fills the objects a collection frees (span.c, one cold test).
 *  3. Thread caches never zero a slot in poison mode (thread_cache.c loads needzero
 *     as 0): gmi_debug_alloc checks that the slot it got holds only the pattern or
 *     zeros (fresh memory), then zeroes it itself.
 *  4. Large objects (over 32 KiB, a span each) have a quarantine of their own: the
 *     span, filled with the pattern by gm_free (malloc.c's free_large) or by the sweep
 *     (central.c), waits there with its allocation bit clear, on no list and out of the
 *     page heap, at most LARGE_QUARANTINE_SPANS spans and LARGE_QUARANTINE_BYTES
 *     bytes. When it leaves, oldest first, its pattern is checked and its pages go back
 *     to the page heap. A span larger than the bound is checked and released at once;
 *     an allocation that finds no memory empties this quarantine and tries again.
 * A byte that is neither is a write after free: one line names the object, its size,
 * the offset and value of the first bad byte and, if the heap profiler sampled the
 * object (GOMEMPROFILERATE=1 samples all), the allocation site.
 * Invariants: quarantine slots in use == nq; hash holds exactly their bases. Every
 * span in the large quarantine is INUSE, large, unlisted, uncached, with its
 * allocation bit clear; lq.bytes is the sum of their sizes.
 *
 * checkptr=1. Every pointer passed to gm_free, gm_realloc, gm_usable_size, gm_pin and
 * gm_unpin must be the base of a live (not quarantined) object; a violation prints one
 * line naming the call, the pointer and the reason, then aborts. gm_checkptr asserts
 * that a range stays inside one object, in every mode.
 *
 * Locking: gmi_quarantine_lock protects both quarantines; below every other gomem
 * lock but the meta lock (lock order: gc.c): the sweep takes it under the central lock
 * of a large class. Objects leaving a quarantine are freed after it is dropped (their
 * addresses stay in a local array on the stack, a root; large spans are dead to the
 * collector already).
 * See malloc.c for the allocator overview. */
#include "debug_modes.h"
#include "finalizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int gmi_debug_slow GMI_STATE;
gmi_lock_t gmi_quarantine_lock GMI_STATE = {PTHREAD_MUTEX_INITIALIZER};

#define QUARANTINE_SLOTS       1024
#define QUARANTINE_HASH        4096 /* power of two, > 2 x slots */
#define QUARANTINE_BYTES       ((size_t)8 << 20)
#define EVICT_MAX              16
#define LARGE_QUARANTINE_SPANS 256
#define LARGE_QUARANTINE_BYTES ((size_t)16 << 20)

typedef struct qentry_s {
    size_t size;
    uintptr_t site; /* allocation site when sampled, else 0 */
} qentry_t;

static struct {
    uintptr_t *base; /* QUARANTINE_SLOTS: the ring, oldest at head */
    qentry_t *info;  /* parallel to base */
    uintptr_t *hash; /* QUARANTINE_HASH open-addressing set of the bases, 0 = empty */
    size_t head, nq, bytes;
    uint64_t evicted, reports;
} quar GMI_STATE;

typedef struct lqentry_s {
    gmi_span_t *span;
    uintptr_t site;  /* allocation site when sampled, else 0 */
    const char *how; /* "freed by gm_free" or "collected" */
} lqentry_t;

static struct {
    lqentry_t *ring; /* LARGE_QUARANTINE_SPANS, oldest at head; NULL: no quarantine */
    size_t head, n, bytes;
} lquar GMI_STATE;

/* ---------------------------------------------------------------------------------
 * Reports
 * ------------------------------------------------------------------------------- */

void gmi_debug_report(const char *call, const void *p, const char *why) {
    gmi_error("%s(%p): %s", call, p, why);
    if (gmi_config.debug_abort || gmi_config.debug_checkptr) abort();
}

/* check_pattern returns the offset of the first byte of p[0..n) that is not the freed
 * pattern (or zero, if zero_ok), or n. */
static size_t check_pattern(const uint8_t *p, size_t n, bool zero_ok) {
    const uint64_t pat = 0x0101010101010101ull * GMI_POISON_FREED;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w != pat && !(zero_ok && w == 0)) break;
    }
    for (; i < n; i++)
        if (p[i] != GMI_POISON_FREED && !(zero_ok && p[i] == 0)) return i;
    return n;
}

static void report_write_after_free(const void *obj, size_t size, size_t off, const char *how,
                                    uintptr_t site) {
    atomic_fetch_add_explicit((_Atomic uint64_t *)&quar.reports, 1, memory_order_relaxed);
    uint8_t v = ((const uint8_t *)obj)[off];
    if (site)
        gmi_error("write after free: object %p size %zu (%s): byte %zu is 0x%x, allocated at pc %p",
                  obj, size, how, off, (unsigned)v, (void *)site);
    else
        gmi_error("write after free: object %p size %zu (%s): byte %zu is 0x%x, allocation site "
                  "not sampled",
                  obj, size, how, off, (unsigned)v);
    if (gmi_config.debug_abort) abort();
}

/* ---------------------------------------------------------------------------------
 * Start-up
 * ------------------------------------------------------------------------------- */

static void report_modes(void) {
    char buf[256];
    if (gmi_gomemdebug_format(&gmi_config, buf, sizeof buf) > 0)
        gmi_error("GOMEMDEBUG modes:%s", buf);
}

void gmi_debug_init(void) {
    if (gmi_config.gctrace > 0) report_modes();
    if (gmi_config.debug_poison) {
        quar.base = gmi_meta_alloc(QUARANTINE_SLOTS * sizeof(uintptr_t));
        quar.info = gmi_meta_alloc(QUARANTINE_SLOTS * sizeof(qentry_t));
        quar.hash = gmi_meta_alloc(QUARANTINE_HASH * sizeof(uintptr_t));
        if (quar.base == NULL || quar.info == NULL || quar.hash == NULL) {
            quar.base = NULL; /* no memory for it: frees are immediate, still poisoned */
            gmi_error("poison: no memory for the quarantine; freed objects are reused at once");
        }
        lquar.ring = gmi_meta_alloc(LARGE_QUARANTINE_SPANS * sizeof(lqentry_t));
        if (lquar.ring == NULL)
            gmi_error("poison: no memory for the large-object quarantine; checked at once");
    }
    if (gmi_config.debug_poison || gmi_config.debug_checkptr)
        __atomic_fetch_or(&gmi_debug_slow, GMI_DEBUG_ALLOC | GMI_DEBUG_FREE, __ATOMIC_RELEASE);
}

/* ---------------------------------------------------------------------------------
 * The quarantine (gmi_quarantine_lock held)
 * ------------------------------------------------------------------------------- */

static size_t hash_index(uintptr_t a) {
    return (size_t)((a >> 4) * 0x9e3779b97f4a7c15ull >> 52) & (QUARANTINE_HASH - 1);
}

static bool hash_has_locked(uintptr_t a) {
    if (quar.hash == NULL) return false;
    for (size_t i = hash_index(a);; i = (i + 1) & (QUARANTINE_HASH - 1)) {
        if (quar.hash[i] == a) return true;
        if (quar.hash[i] == 0) return false;
    }
}

static void hash_add_locked(uintptr_t a) {
    size_t i = hash_index(a);
    while (quar.hash[i] != 0)
        i = (i + 1) & (QUARANTINE_HASH - 1);
    quar.hash[i] = a;
}

/* Linear probing removal by backward shift (no tombstones). */
static void hash_remove_locked(uintptr_t a) {
    size_t i = hash_index(a);
    while (quar.hash[i] != a) {
        if (quar.hash[i] == 0) gmi_throw("poison: quarantine hash lost %p", (void *)a);
        i = (i + 1) & (QUARANTINE_HASH - 1);
    }
    size_t j = i;
    for (;;) {
        quar.hash[i] = 0;
        for (;;) {
            j = (j + 1) & (QUARANTINE_HASH - 1);
            if (quar.hash[j] == 0) return;
            size_t k = hash_index(quar.hash[j]);
            /* move j back to i unless its home k lies cyclically in (i, j] */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
            break;
        }
        quar.hash[i] = quar.hash[j];
        i = j;
    }
}

static bool quarantined(uintptr_t a) {
    if (quar.base == NULL) return false;
    gmi_lock(&gmi_quarantine_lock);
    bool q = hash_has_locked(a);
    gmi_unlock(&gmi_quarantine_lock);
    return q;
}

/* ---------------------------------------------------------------------------------
 * The large-object quarantine
 * ------------------------------------------------------------------------------- */

/* large_release checks a large span leaving the quarantine (or skipping it) and gives
 * its pages back to the page heap. No quarantine lock held. */
static void large_release(const lqentry_t *e) {
    gmi_span_t *s = e->span;
    size_t n = s->elemsize;
    size_t off = check_pattern((const uint8_t *)s->start, n, false);
    if (gmi_unlikely(off < n)) {
        report_write_after_free((const void *)s->start, n, off, e->how, e->site);
        memset((void *)s->start, GMI_POISON_FREED, n); /* reported once: the pages' next
                                                          user checks them again */
    }
    gmi_heap_free_span(s);
}

/* large_pop_locked takes the oldest entry out. */
static lqentry_t large_pop_locked(void) {
    lqentry_t e = lquar.ring[lquar.head];
    lquar.ring[lquar.head].span = NULL;
    lquar.head = (lquar.head + 1) % LARGE_QUARANTINE_SPANS;
    lquar.n--;
    lquar.bytes -= e.span->elemsize;
    return e;
}

/* gmi_debug_quarantine_large: see debug_modes.h. Spans leave oldest first until s
 * fits; each is checked and released outside the lock. */
void gmi_debug_quarantine_large(gmi_span_t *s, uintptr_t site, const char *how) {
    lqentry_t e = {s, site, how};
    if (lquar.ring == NULL || s->elemsize > LARGE_QUARANTINE_BYTES) {
        large_release(&e);
        return;
    }
    for (;;) {
        gmi_lock(&gmi_quarantine_lock);
        if (lquar.n < LARGE_QUARANTINE_SPANS &&
            lquar.bytes + s->elemsize <= LARGE_QUARANTINE_BYTES) {
            lquar.ring[(lquar.head + lquar.n) % LARGE_QUARANTINE_SPANS] = e;
            lquar.n++;
            lquar.bytes += s->elemsize;
            gmi_unlock(&gmi_quarantine_lock);
            return;
        }
        lqentry_t old = large_pop_locked(); /* n > 0: s alone fits */
        gmi_unlock(&gmi_quarantine_lock);
        large_release(&old);
    }
}

/* large_flush empties the large quarantine; returns whether it held anything. */
static bool large_flush(void) {
    bool any = false;
    if (lquar.ring == NULL) return false;
    for (;;) {
        gmi_lock(&gmi_quarantine_lock);
        if (lquar.n == 0) {
            gmi_unlock(&gmi_quarantine_lock);
            return any;
        }
        lqentry_t e = large_pop_locked();
        gmi_unlock(&gmi_quarantine_lock);
        large_release(&e);
        any = true;
    }
}

/* large_quarantined tells whether p is the base of a large object in the quarantine. */
static bool large_quarantined(const void *p) {
    gmi_span_t *s = gmi_span_of((uintptr_t)p);
    if (lquar.ring == NULL || s == NULL || (s->spanclass >> 1) != 0 || s->start != (uintptr_t)p)
        return false;
    bool found = false;
    gmi_lock(&gmi_quarantine_lock);
    for (size_t k = 0; k < lquar.n && !found; k++)
        found = lquar.ring[(lquar.head + k) % LARGE_QUARANTINE_SPANS].span == s;
    gmi_unlock(&gmi_quarantine_lock);
    return found;
}

/* gmi_debug_check_free_span checks every slot of an empty small span before its pages
 * go back to the page heap (poison mode): freed and swept slots hold the pattern,
 * never-used ones zeros. A write after free there was lost when the pages were reused
 * (by a large object, which is zeroed whole). The slot's allocation site is gone. */
void gmi_debug_check_free_span(const gmi_span_t *s) {
    if ((s->spanclass >> 1) == 0) return;
    for (size_t i = 0; i < s->nelems; i++) {
        const uint8_t *p = (const uint8_t *)(s->start + i * s->elemsize);
        size_t off = check_pattern(p, s->elemsize, true);
        if (gmi_unlikely(off < s->elemsize)) {
            report_write_after_free(p, s->elemsize, off, "freed, its span now empty", 0);
            memset((void *)p, GMI_POISON_FREED, s->elemsize); /* reported once */
        }
    }
}

/* gmi_debug_check_reused checks pages the page heap hands to a large object before
 * they are zeroed (poison mode): free pages hold the pattern (freed objects) or zeros
 * (never used, or released to the OS). A write after free into a small span that the
 * sweep had already given back to the page heap is caught here, when its pages are
 * reused, or not at all. */
void gmi_debug_check_reused(const void *p, size_t n) {
    size_t off = check_pattern(p, n, true);
    if (gmi_unlikely(off < n))
        report_write_after_free(p, n, off, "free pages, now reused for a large object", 0);
}

/* gmi_debug_quarantined: base is an object freed but waiting in a poison quarantine
 * (small or large): allocated as far as the heap's bitmaps say, dead to the program.
 * The _locked form for a caller holding gmi_quarantine_lock (gmi_lock_all). */
bool gmi_debug_quarantined_locked(uintptr_t base) {
    if (quar.base != NULL && hash_has_locked(base)) return true;
    if (lquar.ring == NULL) return false;
    gmi_span_t *s = gmi_span_of(base);
    if (s == NULL || (s->spanclass >> 1) != 0 || s->start != base) return false;
    for (size_t k = 0; k < lquar.n; k++)
        if (lquar.ring[(lquar.head + k) % LARGE_QUARANTINE_SPANS].span == s) return true;
    return false;
}

bool gmi_debug_quarantined(uintptr_t base) {
    if (quar.base == NULL && lquar.ring == NULL) return false;
    gmi_lock(&gmi_quarantine_lock);
    bool q = gmi_debug_quarantined_locked(base);
    gmi_unlock(&gmi_quarantine_lock);
    return q;
}

/* ---------------------------------------------------------------------------------
 * Checking pointers
 * ------------------------------------------------------------------------------- */

/* live_base returns the span of p if p is the base of a live, not quarantined object;
 * else reports (call, p, reason) and returns NULL. */
static gmi_span_t *live_base(const char *call, const void *p, size_t *slot) {
    const char *why;
    gmi_span_t *s = gmi_malloc_live_object(p, slot, &why);
    if (s == NULL) {
        if (large_quarantined(p))
            why = "object already freed (double free; it is in the poison quarantine)";
        gmi_debug_report(call, p, why);
        return NULL;
    }
    if (quarantined((uintptr_t)p)) {
        gmi_debug_report(call, p,
                         "object already freed (double free; it is in the poison quarantine)");
        return NULL;
    }
    return s;
}

GM_API void gm_checkptr(const void *base, const void *p, size_t len) {
    if (!atomic_load_explicit(&gmi_initialized, memory_order_acquire)) gmi_init_slow();
    size_t slot;
    const char *why;
    gmi_span_t *s = gmi_malloc_live_object(base, &slot, &why);
    if (s == NULL || quarantined((uintptr_t)base)) {
        gmi_error("gm_checkptr(%p): object %p is not a live object: %s", p, base,
                  s ? "freed (in the poison quarantine)" : why);
        abort();
    }
    uintptr_t b = (uintptr_t)base, a = (uintptr_t)p;
    if (a < b || a - b > s->elemsize || len > s->elemsize - (a - b)) {
        gmi_error("gm_checkptr(%p): range of %zu bytes leaves object %p of size %zu", p, len, base,
                  s->elemsize);
        abort();
    }
}

/* ---------------------------------------------------------------------------------
 * The debug versions of the API
 * ------------------------------------------------------------------------------- */

void *gmi_debug_alloc(size_t size, unsigned noscan, uintptr_t site) {
    (void)site;
    void *p = gmi_malloc_raw(size, noscan);
    if (gmi_unlikely(p == NULL) && gmi_config.debug_poison && large_flush()) {
        int saved_errno = errno; /* the quarantined pages may be what was missing */
        p = gmi_malloc_raw(size, noscan);
        if (p == NULL) errno = saved_errno;
    }
    if (p == NULL || !gmi_config.debug_poison || size > GMI_MAX_SMALL_SIZE) return p;
    gmi_span_t *s = gmi_span_of((uintptr_t)p);
    size_t n = s->elemsize;
    size_t off = check_pattern(p, n, true);
    if (gmi_unlikely(off < n))
        report_write_after_free(p, n, off, "collected or freed earlier, found when reused", 0);
    memset(p, 0, n);
    return p;
}

/* Free for real the objects that left the quarantine, checking their pattern first. */
static void release_evicted(uintptr_t *bases, qentry_t *info, size_t n) {
    gmi_thread_t *t = gmi_thread_get();
    for (size_t i = 0; i < n; i++) {
        void *p = (void *)bases[i];
        size_t off = check_pattern(p, info[i].size, false);
        if (gmi_unlikely(off < info[i].size))
            report_write_after_free(p, info[i].size, off, "freed by gm_free", info[i].site);
        gmi_span_t *s = gmi_span_of(bases[i]);
        unsigned spc = s ? s->spanclass : 0;
        gmi_free_raw("gm_free", p);
        /* a local free sets the entry's needzero; in poison mode slots are checked and
         * zeroed by gmi_debug_alloc instead (a thread without a struct frees remotely) */
        if ((spc >> 1) && t != NULL) t->cache.alloc[spc].needzero = 0;
    }
}

void gmi_debug_free(void *p) {
    if (p == NULL) return;
    size_t slot;
    gmi_span_t *s = live_base("gm_free", p, &slot);
    if (s == NULL) return;
    /* now, not when a quarantine lets the object go */
    if (__atomic_load_n(&s->specials, __ATOMIC_RELAXED) != NULL)
        gmi_specials_free_object(s, slot, "gm_free", p, false);
    if (gmi_debug_slow & GMI_DEBUG_FREE) {
        uint32_t pins = gmi_pin_forget((uintptr_t)p);
        if (pins && gmi_config.debug_checkptr)
            gmi_error("gm_free(%p): warning: object is pinned (%u pin(s) dropped)", p,
                      (unsigned)pins);
    }
    if (!gmi_config.debug_poison) {
        gmi_free_raw("gm_free", p);
        return;
    }
    if ((s->spanclass >> 1) == 0) {
        /* large: free_large fills it and puts the span in the large quarantine */
        gmi_free_raw("gm_free", p);
        return;
    }
    size_t size = s->elemsize;
    uintptr_t site = gmi_profile_alloc_site(s, slot);
    if (quar.base == NULL) {
        memset(p, GMI_POISON_FREED, size);
        uintptr_t b = (uintptr_t)p;
        qentry_t e = {size, site};
        release_evicted(&b, &e, 1);
        return;
    }
    uintptr_t ev[EVICT_MAX];
    qentry_t evi[EVICT_MAX];
    size_t nev = 0;
    gmi_lock(&gmi_quarantine_lock);
    /* Again under the lock: a second free of p racing with another thread's eviction
     * of p (live_base saw it quarantined-and-allocated, then it left and was freed)
     * must not poison and queue a slot that is free, or someone else's again. */
    if (hash_has_locked((uintptr_t)p) || !gmi_malloc_slot_live(s, slot)) {
        gmi_unlock(&gmi_quarantine_lock);
        gmi_debug_report("gm_free", p,
                         "object already freed (double free; it is in the poison quarantine)");
        return;
    }
    memset(p, GMI_POISON_FREED, size); /* before it is queued: an eviction checks it */
    while (quar.nq > 0 && nev < EVICT_MAX &&
           (quar.nq == QUARANTINE_SLOTS || quar.bytes + size > QUARANTINE_BYTES)) {
        size_t h = quar.head;
        ev[nev] = quar.base[h];
        evi[nev] = quar.info[h];
        nev++;
        hash_remove_locked(quar.base[h]);
        quar.base[h] = 0;
        quar.bytes -= quar.info[h].size;
        quar.head = (h + 1) % QUARANTINE_SLOTS;
        quar.nq--;
        quar.evicted++;
    }
    bool added = false;
    if (quar.nq < QUARANTINE_SLOTS) {
        size_t i = (quar.head + quar.nq) % QUARANTINE_SLOTS;
        quar.base[i] = (uintptr_t)p;
        quar.info[i].size = size;
        quar.info[i].site = site;
        hash_add_locked((uintptr_t)p);
        quar.nq++;
        quar.bytes += size;
        added = true;
    }
    gmi_unlock(&gmi_quarantine_lock);
    release_evicted(ev, evi, nev);
    if (!added) {
        uintptr_t b = (uintptr_t)p;
        qentry_t e = {size, site};
        release_evicted(&b, &e, 1);
    }
    __asm__ volatile("" : : "r"(p), "r"(ev) : "memory"); /* live until freed or queued */
}

void *gmi_debug_realloc(void *p, size_t size, uintptr_t site) {
    if (p == NULL) return gmi_debug_alloc(size, 0, site);
    size_t slot;
    gmi_span_t *s = live_base("gm_realloc", p, &slot);
    if (s == NULL) return NULL;
    unsigned noscan = s->spanclass & 1;
    if (size == 0) {
        /* the new object first: on failure p stays untouched, as the header says */
        void *q = gmi_debug_alloc(0, noscan, site);
        if (q != NULL) gmi_debug_free(p);
        return q;
    }
    if (size > GMI_MAX_ALLOC_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    /* Always move, so that a stale pointer to the old copy meets the poison. */
    void *q = gmi_debug_alloc(size, noscan, site);
    if (q == NULL) return NULL;
    memcpy(q, p, size < s->elemsize ? size : s->elemsize);
    gmi_debug_free(p);
    return q;
}

size_t gmi_debug_usable_size(const void *p) {
    size_t slot;
    const char *why;
    if (p == NULL) return 0;
    gmi_span_t *s = gmi_malloc_live_object(p, &slot, &why);
    if (s != NULL && quarantined((uintptr_t)p)) {
        s = NULL;
        why = "object already freed (it is in the poison quarantine)";
    }
    if (s == NULL) {
        if (gmi_config.debug_checkptr) gmi_debug_report("gm_usable_size", p, why);
        return 0;
    }
    return s->elemsize;
}

/* ---------------------------------------------------------------------------------
 * Hooks of the sweeper and the collector
 * ------------------------------------------------------------------------------- */

void gmi_debug_poison_slots(gmi_span_t *s, size_t w, uint64_t dead) {
    while (dead) {
        size_t i = w * 64 + (size_t)__builtin_ctzll(dead);
        dead &= dead - 1;
        memset((void *)(s->start + i * s->elemsize), GMI_POISON_FREED, s->elemsize);
    }
}

/* mark_quarantined sets the mark bit of an object without scanning it. */
static void mark_quarantined(uintptr_t a, gmi_mark_result_t *mr) {
    gmi_span_t *s = gmi_span_of(a);
    if (s == NULL) gmi_throw("poison: quarantined object %p is not in the heap", (void *)a);
    size_t i = (s->spanclass >> 1) ? gmi_span_slot(s, a) : 0;
    if (gmi_bit_get(s->mark_bits, i)) return;
    s->mark_bits[i >> 6] |= 1ull << (i & 63);
    mr->marked_bytes += s->elemsize;
}

void gmi_debug_mark_roots(gmi_mark_result_t *mr) {
    gmi_pin_mark_locked(mr);
    if (quar.base == NULL) return;
    for (size_t k = 0; k < quar.nq; k++)
        mark_quarantined(quar.base[(quar.head + k) % QUARANTINE_SLOTS], mr);
}

/* verify_large_locked checks the large quarantine's invariants (see the overview). */
static void verify_large_locked(void) {
    if (lquar.ring == NULL) return;
    size_t bytes = 0;
    if (lquar.n > LARGE_QUARANTINE_SPANS)
        gmi_throw("verify: large quarantine holds %zu spans", lquar.n);
    for (size_t k = 0; k < lquar.n; k++) {
        const gmi_span_t *s = lquar.ring[(lquar.head + k) % LARGE_QUARANTINE_SPANS].span;
        if (s == NULL || atomic_load(&s->state) != GMI_SPAN_INUSE || (s->spanclass >> 1) != 0 ||
            s->list != GMI_LIST_NONE || atomic_load(&s->cached) || (s->alloc_bits[0] & 1))
            gmi_throw("verify: large quarantine entry %zu (span %p) is not a free large span", k,
                      (const void *)s);
        bytes += s->elemsize;
    }
    if (bytes != lquar.bytes || bytes > LARGE_QUARANTINE_BYTES)
        gmi_throw("verify: large quarantine counts %zu bytes, its spans %zu", lquar.bytes, bytes);
}

void gmi_debug_verify_locked(void) {
    gmi_pin_verify_locked();
    verify_large_locked();
    if (quar.base == NULL) return;
    size_t bytes = 0, inhash = 0;
    for (size_t k = 0; k < quar.nq; k++) {
        uintptr_t a = quar.base[(quar.head + k) % QUARANTINE_SLOTS];
        gmi_span_t *s = gmi_span_of(a);
        size_t i = s && (s->spanclass >> 1) ? gmi_span_slot(s, a) : 0;
        if (s == NULL || s->start + i * s->elemsize != a || !gmi_bit_get(s->alloc_bits, i))
            gmi_throw("verify: quarantined object %p is not an allocated object", (void *)a);
        if (!hash_has_locked(a))
            gmi_throw("verify: quarantined object %p missing from its hash", (void *)a);
        bytes += quar.info[(quar.head + k) % QUARANTINE_SLOTS].size;
    }
    for (size_t h = 0; h < QUARANTINE_HASH; h++)
        inhash += quar.hash[h] != 0;
    if (inhash != quar.nq || bytes != quar.bytes)
        gmi_throw("verify: quarantine counts are wrong (%zu queued, %zu hashed, %zu/%zu bytes)",
                  quar.nq, inhash, bytes, quar.bytes);
}
