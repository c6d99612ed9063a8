/* page_heap.c: arenas, the arena map and runs of free pages.
 *
 * Address space is reserved in 64 MiB aligned arenas and handed to the page heap in
 * 4 MiB chunks as it grows. Every arena has off-heap metadata (gmi_arena_t) reached
 * through a flat arena map indexed by address >> 26, so any address turns into its
 * span with two loads (gmi_span_of).
 * Free runs of pages are FREE spans on size-bucketed lists: exact lists for 1..127
 * pages, and one list for larger runs searched best-fit (lowest address on ties).
 * A freed run coalesces with free neighbours found through the first and last page
 * entries of the arena's span table. A per-page "released" bit says the page was
 * returned to the OS (or never touched); allocation clears it, so HeapReleased stays
 * exact. A second bit, "lazy", says the page was released with MADV_FREE
 * (GODEBUG=madvdontneed=0) and may still hold its old contents. A span made only of
 * released pages none of which is lazy reads as zero and needs no zeroing; any other
 * span is handed out with needzero (malloc.c zeroes large objects, thread caches zero
 * small slots), which is also what makes MADV_FREE safe: a lazy page that is read
 * before it is written may flip from its old contents to zero at any moment.
 * Invariants (heap lock held):
 *   every page of the heap is in exactly one span (FREE or INUSE);
 *   stats.inuse + stats.free_bytes == stats.sys (free_bytes includes released pages);
 *   stats.released == released bits x page size; a lazy bit implies the released bit;
 *   two FREE spans are never adjacent.
 * Releasing (the scavenger's primitive) takes the largest free runs first, each from
 * its top.
 * Locking: gmi_heap_lock protects everything here; it is taken after central locks.
 * See malloc.c for the allocator overview. */
#include "internal.h"
#include "gc_internal.h"

#include <errno.h>
#include <string.h>

#define NFREE_EXACT 128

gmi_arena_t **gmi_arena_map GMI_STATE;
uintptr_t gmi_heap_lo GMI_STATE = 1, gmi_heap_hi GMI_STATE = 1;
gmi_lock_t gmi_heap_lock GMI_STATE = {PTHREAD_MUTEX_INITIALIZER};

static struct {
    gmi_span_t *free[NFREE_EXACT]; /* free[n]: runs of n pages; free[0]: runs >= 128 pages */
    gmi_fixalloc_t span_alloc;
    gmi_fixalloc_t bits_alloc[5]; /* bitmap blocks for spans of {1,2,4,8,16} words */
    gmi_arena_t *arenas;          /* all arenas, newest first */
    gmi_arena_t *cur;             /* arena being grown into */
    size_t sys;                   /* bytes handed to the page heap */
    size_t inuse;                 /* bytes in INUSE spans */
    size_t released;              /* bytes of FREE pages with the released bit */
    size_t arena_meta;            /* bytes of arena metadata */
} heap GMI_STATE;

/* ---------------------------------------------------------------------------------
 * Page map helpers
 * ------------------------------------------------------------------------------- */

static inline gmi_arena_t *arena_of(uintptr_t addr) {
    return gmi_arena_map[addr >> GMI_ARENA_SHIFT];
}

static inline size_t page_index(uintptr_t addr) {
    return (addr >> GMI_PAGE_SHIFT) & (GMI_PAGES_PER_ARENA - 1);
}

static void map_page(uintptr_t addr, gmi_span_t *s) {
    arena_of(addr)->spans[page_index(addr)] = s;
}

static gmi_span_t *page_span(uintptr_t addr) {
    if (addr < gmi_heap_lo || addr >= gmi_heap_hi) return NULL;
    gmi_arena_t *a = arena_of(addr);
    return a ? a->spans[page_index(addr)] : NULL;
}

static void map_all_pages(gmi_span_t *s) {
    uintptr_t p = s->start, end = s->start + s->npages * GMI_PAGE_SIZE;
    while (p < end) {
        gmi_arena_t *a = arena_of(p);
        size_t i = page_index(p);
        size_t n = GMI_PAGES_PER_ARENA - i, left = (end - p) >> GMI_PAGE_SHIFT;
        if (n > left) n = left;
        for (size_t k = 0; k < n; k++)
            a->spans[i + k] = s;
        p += n * GMI_PAGE_SIZE;
    }
}

static void map_ends(gmi_span_t *s) {
    map_page(s->start, s);
    map_page(s->start + (s->npages - 1) * GMI_PAGE_SIZE, s);
}

static inline bool page_released(uintptr_t pg) {
    size_t i = page_index(pg);
    return (arena_of(pg)->released[i >> 6] >> (i & 63)) & 1;
}

/* released_clear clears the released and lazy bits of [start, start+npages) (pages
 * about to be used); returns the number of released pages, *nlazy the lazy ones. */
static size_t released_clear(uintptr_t start, size_t npages, size_t *nlazy) {
    size_t count = 0, lazy = 0;
    uintptr_t p = start;
    for (size_t k = 0; k < npages; k++, p += GMI_PAGE_SIZE) {
        gmi_arena_t *a = arena_of(p);
        size_t i = page_index(p);
        uint64_t bit = 1ull << (i & 63);
        if (a->released[i >> 6] & bit) count++;
        if (a->lazy[i >> 6] & bit) lazy++;
        a->released[i >> 6] &= ~bit;
        a->lazy[i >> 6] &= ~bit;
    }
    *nlazy = lazy;
    return count;
}

/* released_set marks [start, start+npages), unreleased until now, as released (and
 * lazy if MADV_FREE did it). */
static void released_set(uintptr_t start, size_t npages, bool lazy) {
    uintptr_t p = start;
    for (size_t k = 0; k < npages; k++, p += GMI_PAGE_SIZE) {
        gmi_arena_t *a = arena_of(p);
        size_t i = page_index(p);
        uint64_t bit = 1ull << (i & 63);
        a->released[i >> 6] |= bit;
        if (lazy) a->lazy[i >> 6] |= bit;
    }
}

/* ---------------------------------------------------------------------------------
 * Free lists
 * ------------------------------------------------------------------------------- */

static gmi_span_t **free_list_for(size_t npages) {
    return &heap.free[npages < NFREE_EXACT ? npages : 0];
}

static void free_insert(gmi_span_t *s) {
    gmi_span_t **head = free_list_for(s->npages);
    s->prev = NULL;
    s->next = *head;
    if (*head) (*head)->prev = s;
    *head = s;
    s->list = GMI_LIST_HEAPFREE;
}

static void free_remove(gmi_span_t *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        *free_list_for(s->npages) = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->list = GMI_LIST_NONE;
}

static gmi_span_t *span_new(void) {
    gmi_span_t *s = gmi_fixalloc_alloc(&heap.span_alloc);
    return s;
}

static void span_dispose(gmi_span_t *s) {
    atomic_store(&s->state, GMI_SPAN_DEAD);
    s->start = 0;
    s->limit = 0;
    gmi_fixalloc_free(&heap.span_alloc, s);
}

/* Find a free run of at least npages: exact lists first (smallest that fits), then the
 * large list best-fit. */
static gmi_span_t *free_find(size_t npages) {
    for (size_t n = npages; n < NFREE_EXACT; n++)
        if (heap.free[n]) return heap.free[n];
    gmi_span_t *best = NULL;
    for (gmi_span_t *s = heap.free[0]; s; s = s->next) {
        if (s->npages < npages) continue;
        if (!best || s->npages < best->npages ||
            (s->npages == best->npages && s->start < best->start))
            best = s;
    }
    return best;
}

/* ---------------------------------------------------------------------------------
 * Growth
 * ------------------------------------------------------------------------------- */

static gmi_arena_t *arena_new(uintptr_t base) {
    gmi_arena_t *a = gmi_meta_alloc(sizeof(gmi_arena_t));
    if (a == NULL) return NULL;
    heap.arena_meta += sizeof(gmi_arena_t);
    a->base = base;
    /* Fresh memory reads as zero and costs nothing until touched: it starts released. */
    memset(a->released, 0xff, sizeof(a->released));
    a->next = heap.arenas;
    heap.arenas = a;
    gmi_arena_map[base >> GMI_ARENA_SHIFT] = a;
    if (gmi_heap_lo == 1 || base < gmi_heap_lo) gmi_heap_lo = base;
    if (base + GMI_ARENA_SIZE > gmi_heap_hi) gmi_heap_hi = base + GMI_ARENA_SIZE;
    return a;
}

/* Add [start, start+bytes) to the page heap as a free (released) run. */
static void heap_add_run(uintptr_t start, size_t bytes) {
    gmi_span_t *s = span_new();
    if (s == NULL) return; /* leaks address space only; metadata exhaustion is fatal soon anyway */
    s->start = start;
    s->npages = bytes >> GMI_PAGE_SHIFT;
    atomic_store(&s->state, GMI_SPAN_FREE);
    heap.sys += bytes;
    heap.released += bytes;
    /* coalesce with a free run just below (the tail of the previous chunk) */
    gmi_span_t *prev = page_span(start - GMI_PAGE_SIZE);
    if (prev && atomic_load(&prev->state) == GMI_SPAN_FREE &&
        prev->start + prev->npages * GMI_PAGE_SIZE == start) {
        free_remove(prev);
        prev->npages += s->npages;
        span_dispose(s);
        s = prev;
    }
    map_ends(s);
    free_insert(s);
}

static bool heap_grow(size_t npages) {
    size_t need = (npages + GMI_CHUNK_PAGES - 1) / GMI_CHUNK_PAGES * GMI_CHUNK_PAGES;
    size_t bytes = need * GMI_PAGE_SIZE;
    if (bytes / GMI_PAGE_SIZE != need) return false;
    gmi_arena_t *a = heap.cur;
    if (a && a->mapped + bytes <= GMI_ARENA_SIZE) {
        uintptr_t start = a->base + a->mapped;
        a->mapped += bytes;
        heap_add_run(start, bytes);
        return true;
    }
    /* Give the rest of the current arena to the heap before starting a new one. */
    if (a && a->mapped < GMI_ARENA_SIZE) {
        uintptr_t start = a->base + a->mapped;
        size_t rest = GMI_ARENA_SIZE - a->mapped;
        a->mapped = GMI_ARENA_SIZE;
        heap_add_run(start, rest);
        gmi_span_t *s = free_find(npages);
        if (s) return true;
    }
    size_t narenas = (bytes + GMI_ARENA_SIZE - 1) / GMI_ARENA_SIZE;
    size_t len = narenas * GMI_ARENA_SIZE;
    char *base = gmi_os_reserve(len, GMI_ARENA_SIZE);
    if (base == NULL) return false;
    for (size_t i = 0; i < narenas; i++) {
        gmi_arena_t *na = arena_new((uintptr_t)base + i * GMI_ARENA_SIZE);
        if (na == NULL) return false;
        na->mapped = GMI_ARENA_SIZE;
        heap.cur = na;
    }
    if (narenas == 1) {
        heap.cur->mapped = bytes;
        heap_add_run((uintptr_t)base, bytes);
    } else {
        heap_add_run((uintptr_t)base, len);
    }
    return true;
}

/* ---------------------------------------------------------------------------------
 * Bitmaps
 * ------------------------------------------------------------------------------- */

static int bits_bucket(size_t nwords) {
    int b = 0;
    while (((size_t)1 << b) < nwords)
        b++;
    return b;
}

/* A span's bitmaps are one block: allocation bits, pending bits, then mark bits, each
 * a power of two of words. A free reads the first two: for spans of up to 4 words
 * (objects of 32 bytes and up) the blocks are padded to a power of two, so the two
 * share a cache line (one miss a free instead of two; the 16- and 8-byte classes need
 * two lines anyway). */
static bool span_attach_bits(gmi_span_t *s, size_t nelems) {
    size_t nwords = (nelems + 63) / 64;
    int b = bits_bucket(nwords);
    uint64_t *bits = gmi_fixalloc_alloc(&heap.bits_alloc[b]);
    if (bits == NULL) return false;
    size_t w = (size_t)1 << b;
    s->nwords = (uint16_t)nwords;
    s->alloc_bits = bits;
    s->pending_bits = (_Atomic uint64_t *)(bits + w);
    s->mark_bits = bits + 2 * w;
    return true;
}

static void span_detach_bits(gmi_span_t *s) {
    if (s->alloc_bits == NULL) return;
    int b = bits_bucket(s->nwords);
    gmi_fixalloc_free(&heap.bits_alloc[b], s->alloc_bits);
    s->alloc_bits = s->mark_bits = NULL;
    s->pending_bits = NULL;
}

/* ---------------------------------------------------------------------------------
 * Allocation and freeing of spans
 * ------------------------------------------------------------------------------- */

void gmi_heap_init(void) {
    gmi_fixalloc_init(&heap.span_alloc, sizeof(gmi_span_t));
    for (int b = 0; b < 5; b++)
        gmi_fixalloc_init(&heap.bits_alloc[b], (b <= 2 ? 4 : 3) * sizeof(uint64_t) << b);
    /* Reserved, not committed. If the OS refuses, the heap starts empty and the first
     * span allocation tries again (and fails with ENOMEM if it still cannot): until a map
     * exists no address is in the heap's range, so lookups never touch it. */
    gmi_arena_map = gmi_os_reserve(GMI_ARENA_MAP_LEN * sizeof(gmi_arena_t *), 4096);
}

gmi_span_t *gmi_heap_alloc_span_locked(size_t npages, unsigned spanclass, bool *zeroed) {
    if (gmi_unlikely(gmi_arena_map == NULL)) {
        gmi_arena_map = gmi_os_reserve(GMI_ARENA_MAP_LEN * sizeof(gmi_arena_t *), 4096);
        if (gmi_arena_map == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    gmi_span_t *s = free_find(npages);
    if (s == NULL) {
        if (!heap_grow(npages) || (s = free_find(npages)) == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    free_remove(s);
    if (s->npages > npages) {
        gmi_span_t *r = span_new();
        if (r == NULL) {
            free_insert(s);
            errno = ENOMEM;
            return NULL;
        }
        r->start = s->start + npages * GMI_PAGE_SIZE;
        r->npages = s->npages - npages;
        atomic_store(&r->state, GMI_SPAN_FREE);
        map_ends(r);
        free_insert(r);
        s->npages = npages;
    }
    size_t lazy, rel = released_clear(s->start, npages, &lazy);
    heap.released -= rel * GMI_PAGE_SIZE;
    heap.inuse += npages * GMI_PAGE_SIZE;
    *zeroed = (rel == npages && lazy == 0);

    unsigned sizeclass = spanclass >> 1;
    size_t nelems = sizeclass ? gmi_class_to_nelems[sizeclass] : 1;
    if (!span_attach_bits(s, nelems)) {
        /* Back to the free lists, coalesced with the remainder split off above. Its
         * pages now count as unreleased and dirty: conservative, never wrong. */
        s->alloc_bits = NULL;
        gmi_heap_free_span_locked(s);
        errno = ENOMEM;
        return NULL;
    }
    memset(s->alloc_bits, 0, 3 * sizeof(uint64_t) * ((size_t)1 << bits_bucket(s->nwords)));
    s->spanclass = (uint8_t)spanclass;
    s->kind = (spanclass & 1) ? GMI_KIND_NOSCAN : GMI_KIND_NORMAL;
    s->nelems = (uint16_t)nelems;
    s->elemsize = sizeclass ? gmi_class_to_size[sizeclass] : npages * GMI_PAGE_SIZE;
    s->divmul = sizeclass ? gmi_class_to_divmul[sizeclass] : 0;
    s->limit = s->start + nelems * s->elemsize;
    s->alloc_count = 0;
    s->needzero = !*zeroed;
    s->reuse_tagged = 0;
    s->list = GMI_LIST_NONE;
    s->layout = NULL;
    s->freeindex = 0;
    s->specials = NULL;
    atomic_store(&s->cached, 0);
    atomic_store(&s->has_pending, 0);
    map_all_pages(s);
    atomic_store_explicit(&s->state, GMI_SPAN_INUSE, memory_order_release); /* publish last */
    return s;
}

/* gmi_heap_alloc_span: gmi_heap_alloc_span_locked, then the allocation-time scavenging
 * of Go's allocSpan (scavenger.c) after the heap lock is dropped. */
gmi_span_t *gmi_heap_alloc_span(size_t npages, unsigned spanclass, bool *zeroed) {
    gmi_lock(&gmi_heap_lock);
    size_t sys0 = heap.sys, retained0 = heap.sys - heap.released;
    gmi_span_t *s = gmi_heap_alloc_span_locked(npages, spanclass, zeroed);
    size_t todo = 0;
    if (s != NULL) {
        /* growth arrives released, so retained moves only by the pages s took back */
        size_t committed = heap.sys - heap.released - retained0;
        todo = gmi_scavenger_alloc_todo_locked(retained0, committed, heap.sys - sys0);
    }
    gmi_unlock(&gmi_heap_lock);
    if (todo > 0) gmi_scavenger_assist(todo);
    return s;
}

void gmi_heap_free_span_locked(gmi_span_t *s) {
    span_detach_bits(s);
    heap.inuse -= s->npages * GMI_PAGE_SIZE;
    atomic_store(&s->state, GMI_SPAN_FREE);
    s->spanclass = 0;
    s->specials = NULL;
    /* coalesce with neighbours */
    gmi_span_t *prev = page_span(s->start - GMI_PAGE_SIZE);
    if (prev && atomic_load(&prev->state) == GMI_SPAN_FREE &&
        prev->start + prev->npages * GMI_PAGE_SIZE == s->start) {
        free_remove(prev);
        prev->npages += s->npages;
        span_dispose(s);
        s = prev;
    }
    uintptr_t end = s->start + s->npages * GMI_PAGE_SIZE;
    gmi_span_t *next = page_span(end);
    if (next && atomic_load(&next->state) == GMI_SPAN_FREE && next->start == end) {
        free_remove(next);
        s->npages += next->npages;
        span_dispose(next);
    }
    map_ends(s);
    free_insert(s);
}

void gmi_heap_free_span(gmi_span_t *s) {
    gmi_lock(&gmi_heap_lock);
    gmi_heap_free_span_locked(s);
    gmi_unlock(&gmi_heap_lock);
}

/* ---------------------------------------------------------------------------------
 * Releasing memory to the OS (the scavenger's primitive)
 * ------------------------------------------------------------------------------- */

/* gmi_heap_unreleased_free_locked: bytes of free pages not released to the OS. */
size_t gmi_heap_unreleased_free_locked(void) {
    return heap.sys - heap.inuse - heap.released;
}

/* release_run releases unreleased pages of the free span s from its top down, about
 * max_bytes at most (but at least one page). Returns the bytes released; sets *failed
 * if madvise failed. */
static size_t release_run(gmi_span_t *s, size_t max_bytes, bool *failed) {
    size_t done = 0;
    uintptr_t p = s->start + s->npages * GMI_PAGE_SIZE;
    while (p > s->start && done < max_bytes) {
        /* skip released pages below p, 64 at a time where a bitmap word is full */
        while (p > s->start) {
            uintptr_t pg = p - GMI_PAGE_SIZE;
            size_t i = page_index(pg);
            uint64_t w = arena_of(pg)->released[i >> 6];
            if ((i & 63) == 63 && w == ~0ull && pg - 63 * GMI_PAGE_SIZE >= s->start) {
                p -= 64 * GMI_PAGE_SIZE;
                continue;
            }
            if (!((w >> (i & 63)) & 1)) break;
            p = pg;
        }
        if (p == s->start) break;
        /* the maximal unreleased run [q, p), within the budget */
        uintptr_t q = p - GMI_PAGE_SIZE;
        while (q > s->start && done + (p - q) < max_bytes && !page_released(q - GMI_PAGE_SIZE))
            q -= GMI_PAGE_SIZE;
        /* The kernel releases whole pages of its own: where they are larger than
         * gomem's (16 or 64 KiB on some arm64 kernels), only those wholly inside
         * [q, p) go. The heap pages at either end stay unreleased: madvise would round
         * the range out over the neighbouring spans, which may be in use. */
        uintptr_t os = gmi_os_page_size();
        uintptr_t rq = q, rp = p;
        if (os > GMI_PAGE_SIZE) {
            rq = (q + os - 1) & ~(os - 1);
            rp = p & ~(os - 1);
        }
        if (rq < rp) {
            int how = gmi_os_release((void *)rq, rp - rq);
            if (how < 0) {
                *failed = true;
                return done;
            }
            released_set(rq, (rp - rq) >> GMI_PAGE_SHIFT, how == GMI_RELEASED_LAZY);
            heap.released += rp - rq;
            done += rp - rq;
        }
        p = q;
    }
    return done;
}

/* gmi_heap_release_locked returns up to about max_bytes of free, unreleased pages to
 * the OS: the large-run list first, then the exact lists from 127 pages down to 1, each
 * run from its top. Large runs first because one madvise then covers more bytes (the
 * kernel's cost is per call and per page; with small runs first the calls average
 * 20 KiB in bench/service.c) and because free_find reuses them last: it takes the
 * smallest exact run that fits. Returns the bytes released: at least one page if any
 * free page is unreleased, even when max_bytes is smaller; 0 at once when none is. */
size_t gmi_heap_release_locked(size_t max_bytes) {
    size_t done = 0;
    bool failed = false;
    if (gmi_heap_unreleased_free_locked() == 0) return 0;
    for (int k = 0; k < NFREE_EXACT && done < max_bytes && !failed; k++) {
        int i = k == 0 ? 0 : NFREE_EXACT - k;
        for (gmi_span_t *s = heap.free[i]; s && done < max_bytes && !failed; s = s->next)
            done += release_run(s, max_bytes - done, &failed);
    }
    return done;
}

/* ---------------------------------------------------------------------------------
 * Statistics and checks
 * ------------------------------------------------------------------------------- */

void gmi_heap_stats_locked(size_t *sys, size_t *inuse, size_t *released, size_t *span_inuse,
                           size_t *span_sys, size_t *other) {
    *sys = heap.sys;
    *inuse = heap.inuse;
    *released = heap.released;
    *span_inuse = heap.span_alloc.inuse;
    *span_sys = heap.span_alloc.sys;
    size_t bits = 0;
    for (int b = 0; b < 5; b++)
        bits += heap.bits_alloc[b].sys;
    *other = bits + heap.arena_meta;
}

static void count_released_pages(gmi_span_t *s, void *arg) {
    for (size_t k = 0; k < s->npages; k++) {
        uintptr_t pg = s->start + k * GMI_PAGE_SIZE;
        size_t idx = page_index(pg);
        gmi_arena_t *a = arena_of(pg);
        if (((a->released[idx >> 6] | a->lazy[idx >> 6]) >> (idx & 63)) & 1) ++*(size_t *)arg;
    }
}

/* gmi_heap_check_locked verifies the page heap's invariants; returns an error text or
 * NULL. Walks every arena page: expensive, for GOMEMDEBUG=verify and tests. */
const char *gmi_heap_check_locked(void) {
    size_t free_bytes = 0, released = 0;
    for (int i = 0; i < NFREE_EXACT; i++) {
        for (gmi_span_t *s = heap.free[i]; s; s = s->next) {
            if (atomic_load(&s->state) != GMI_SPAN_FREE) return "free list holds a non-free span";
            if ((i && s->npages != (size_t)i) || (!i && s->npages < NFREE_EXACT))
                return "free span on the wrong list";
            if (page_span(s->start) != s) return "free span's first page does not map to it";
            if (page_span(s->start + (s->npages - 1) * GMI_PAGE_SIZE) != s)
                return "free span's last page does not map to it";
            gmi_span_t *nx = page_span(s->start + s->npages * GMI_PAGE_SIZE);
            if (nx && atomic_load(&nx->state) == GMI_SPAN_FREE &&
                nx->start == s->start + s->npages * GMI_PAGE_SIZE)
                return "two adjacent free spans were not coalesced";
            free_bytes += s->npages * GMI_PAGE_SIZE;
            for (size_t k = 0; k < s->npages; k++) {
                uintptr_t pg = s->start + k * GMI_PAGE_SIZE;
                size_t idx = page_index(pg);
                gmi_arena_t *a = arena_of(pg);
                uint64_t bit = 1ull << (idx & 63);
                if (a->released[idx >> 6] & bit)
                    released += GMI_PAGE_SIZE;
                else if (a->lazy[idx >> 6] & bit)
                    return "lazily released page is not marked released";
            }
        }
    }
    if (free_bytes + heap.inuse != heap.sys) return "free + in-use bytes differ from heap size";
    size_t inuse_released = 0;
    gmi_heap_each_span_locked(count_released_pages, &inuse_released);
    if (inuse_released != 0) return "a span in use has released pages";
    if (released != heap.released) return "released page count differs from the bitmap";
    return NULL;
}

/* Visit every INUSE span (world stopped or heap lock held). */
void gmi_heap_each_span_locked(void (*fn)(gmi_span_t *s, void *arg), void *arg) {
    for (gmi_arena_t *a = heap.arenas; a; a = a->next) {
        size_t n = a->mapped >> GMI_PAGE_SHIFT;
        for (size_t i = 0; i < n;) {
            gmi_span_t *s = a->spans[i];
            uintptr_t pg = a->base + i * GMI_PAGE_SIZE;
            if (s && s->start == pg && atomic_load(&s->state) == GMI_SPAN_INUSE) {
                fn(s, arg);
                size_t adv = s->npages;
                if (s->start + s->npages * GMI_PAGE_SIZE > a->base + GMI_ARENA_SIZE) break;
                i += adv;
            } else if (s && atomic_load(&s->state) == GMI_SPAN_FREE && s->start == pg) {
                if (s->start + s->npages * GMI_PAGE_SIZE > a->base + GMI_ARENA_SIZE) break;
                i += s->npages;
            } else {
                i++;
            }
        }
    }
}
