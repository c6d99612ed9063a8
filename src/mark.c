/* mark.c: marking: the conservative pointer test, the mark stacks and the workers.
 *
 * Work is a range of words [lo, hi) to scan: a root block, a thread's stack, or an
 * object. A word is a candidate pointer if it falls inside an INUSE span's object area
 * (gmi_span_of: a range compare and two loads reject almost every non-pointer); its
 * object is the slot containing it (interior pointers count). An allocated, unmarked
 * object gets its mark bit and, unless its span is noscan, its range is pushed.
 * Ranges over 128 KiB (large objects, big root blocks) are scanned in 128 KiB pieces:
 * the rest is pushed back first, so other workers can take it.
 * Workers: the collecting thread plus gmi_gc.mark_workers - 1 helper threads, all
 * while the world is stopped. Each has a private stack (mmap'd, doubling); a worker
 * with a deep stack and idle peers moves half to a shared pool. The mark ends when
 * every worker that joined it is idle and the pool is empty: a helper joins when it
 * wakes, and one that wakes after the end has nothing to do. The collecting thread
 * never waits for a helper to be scheduled (on a loaded machine that took a
 * scheduler tick a cycle, in pauses that marking alone kept under a millisecond).
 * Overflow: if a stack cannot grow (mmap fails, or gmi_mark_stack_max is reached) the
 * range is dropped and `overflowed` is set; after the drain the heap is rescanned
 * from every marked object until no overflow happens (Boehm's recovery), so progress
 * is guaranteed and marking is complete. Root ranges are not objects: push_root never
 * drops one (it scans a block in place instead), and blocks are no larger than the
 * 128 KiB pieces, so no part of one is pushed back by scan_range.
 * See gc.c for the collector overview. */
#include "internal.h"
#include "gc_internal.h"
#include "track.h"

#include <string.h>
#include <time.h>

typedef struct range_s {
    uintptr_t lo, hi;
} __attribute__((aligned(16))) range_t;

typedef uint64_t range_v __attribute__((vector_size(16), aligned(16)));
_Static_assert(sizeof(range_t) == sizeof(range_v), "range_t is two words");

typedef struct mark_stack_s {
    range_t *items;
    size_t n, cap;
} mark_stack_t;

typedef struct page_cache_s {
    uintptr_t page;
    gmi_span_t *span;
} page_cache_t;

typedef struct worker_s {
    mark_stack_t stack;
    page_cache_t pc; /* last page looked up; reset at every mark (spans change between) */
    uint64_t marked_bytes, noscan_bytes; /* heap_scan is marked_bytes - noscan_bytes */
    int id;
} worker_t;

size_t gmi_mark_stack_max GMI_STATE;         /* 0 = unlimited */
uint64_t gmi_mark_overflow_passes GMI_STATE; /* heap rescans after an overflow, since start */

static struct __attribute__((aligned(64))) { /* a line of its own: next to the reuse epoch */
    pthread_mutex_t lock;
    pthread_cond_t work_cond;  /* pool got work, or the mark finished */
    pthread_cond_t start_cond; /* helpers wait for a new mark */
    pthread_cond_t done_cond;  /* the collector waits for helpers to leave */
    range_t *pool;
    size_t pool_n, pool_cap;
    int nworkers; /* workers this mark may use */
    int njoined;  /* workers that joined it: the collecting thread and woken helpers */
    int nidle;
    int finished;
    int active_helpers;
    uint64_t epoch; /* incremented for every mark */
    int helpers_started;
    int parallel; /* mark bits need atomic updates */
    _Atomic int overflowed;
    worker_t workers[64];
    pthread_t helper_tids[64];
} mk GMI_STATE = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .work_cond = PTHREAD_COND_INITIALIZER,
    .start_cond = PTHREAD_COND_INITIALIZER,
    .done_cond = PTHREAD_COND_INITIALIZER,
};

/* ---------------------------------------------------------------------------------
 * Mark stacks
 * ------------------------------------------------------------------------------- */

static bool stack_grow(mark_stack_t *st) {
    size_t ncap = st->cap ? st->cap * 2 : 4096;
    if (gmi_mark_stack_max && ncap > gmi_mark_stack_max) ncap = gmi_mark_stack_max;
    if (ncap <= st->cap) return false;
    range_t *n = gmi_os_reserve(ncap * sizeof(range_t), 4096);
    if (n == NULL) return false;
    if (st->items) {
        memcpy(n, st->items, st->n * sizeof(range_t));
        gmi_os_unmap(st->items, st->cap * sizeof(range_t));
    }
    atomic_fetch_add(&gmi_meta_sys, (ncap - st->cap) * sizeof(range_t));
    st->items = n;
    st->cap = ncap;
    return true;
}

/* ---------------------------------------------------------------------------------
 * The conservative pointer test and the scan loop
 * ------------------------------------------------------------------------------- */

/* scan_t is a worker's hot state copied into locals for the length of a drain, so the
 * compiler keeps it in registers: through w, every store into the mark stack could
 * alias the stack's own count and the counters, and each object would reload them. */
typedef struct scan_s {
    range_t *items;
    size_t n, cap;
    page_cache_t pc; /* last page looked up; neighbouring objects share pages often
                        enough (trees, lists allocated in order) to skip the arena map */
    uintptr_t heap_lo, heap_len;
    uint64_t marked_bytes; /* added to the worker's at scan_store */
} scan_t;

GMI_INLINE void scan_load(const worker_t *w, scan_t *sc) {
    sc->items = w->stack.items;
    sc->n = w->stack.n;
    sc->cap = w->stack.cap;
    sc->pc = w->pc;
    sc->heap_lo = gmi_heap_lo;
    sc->heap_len = gmi_heap_hi - gmi_heap_lo;
    sc->marked_bytes = 0;
}

GMI_INLINE void scan_store(worker_t *w, scan_t *sc) {
    w->stack.n = sc->n;
    w->pc = sc->pc;
    w->marked_bytes += sc->marked_bytes;
    sc->marked_bytes = 0;
}

typedef struct grown_s {
    range_t *items;
    size_t cap;
} grown_t;

/* scan_grow doubles w's stack holding n entries (or flags an overflow). Out of line and
 * returning by value, so the caller's scan_t never has its address taken. */
__attribute__((noinline)) static grown_t scan_grow(worker_t *w, size_t n) {
    w->stack.n = n;
    if (!stack_grow(&w->stack)) atomic_store_explicit(&mk.overflowed, 1, memory_order_relaxed);
    return (grown_t){w->stack.items, w->stack.cap};
}

/* One 16-byte store per entry: the pop that usually follows soon after reads the entry
 * with one 16-byte load, and a load that spans two smaller pending stores cannot be
 * forwarded from the store buffer (a stall of a dozen cycles per object). */
GMI_INLINE void scan_push(worker_t *w, scan_t *sc, uintptr_t lo, uintptr_t hi) {
    if (gmi_unlikely(sc->n == sc->cap)) {
        grown_t g = scan_grow(w, sc->n);
        sc->items = g.items;
        sc->cap = g.cap;
        if (sc->n == sc->cap) return; /* overflow: recovered by a rescan later */
    }
    *(range_v *)&sc->items[sc->n] = (range_v){lo, hi};
    sc->n++;
}

/* push_range pushes one range on w's stack outside a drain (roots). */
GMI_INLINE void push_range(worker_t *w, uintptr_t lo, uintptr_t hi) {
    scan_t sc;
    scan_load(w, &sc);
    scan_push(w, &sc, lo, hi);
    scan_store(w, &sc);
}

/* Try to mark the object containing v (already known to lie between the heap bounds);
 * push it if it must be scanned. parallel (a constant in each caller) says whether
 * other workers may set mark bits in the same words. Marked bytes add up in sc
 * (scan_store moves them to the worker), the rarer noscan bytes in the worker. */
GMI_INLINE void mark_candidate(worker_t *w, scan_t *sc, uintptr_t v, const bool parallel) {
    gmi_span_t *s;
    if ((v >> GMI_PAGE_SHIFT) == sc->pc.page) {
        s = sc->pc.span;
        if (v >= s->limit) return; /* v's page is one of s's: v >= s->start */
    } else {
        s = gmi_span_of_in_heap(v);
        if (s == NULL) return;
        sc->pc.page = v >> GMI_PAGE_SHIFT;
        sc->pc.span = s;
    }
    size_t i = gmi_span_slot(s, v); /* divmul is 0 in a large span: slot 0 */
    uint64_t bit = 1ull << (i & 63);
    if (!(s->alloc_bits[i >> 6] & bit)) return; /* a free slot: not an object */
    uint64_t *mw = &s->mark_bits[i >> 6];
    if (*mw & bit) return;
    if (parallel) {
#if defined(__x86_64__)
        unsigned char was; /* lock bts: one instruction, not a cmpxchg loop */
        __asm__ volatile("lock btsq %2, %0\n\tsetc %1"
                         : "+m"(*mw), "=q"(was)
                         : "r"((uint64_t)(i & 63))
                         : "cc", "memory");
        if (was) return;
#else
        uint64_t old = __atomic_fetch_or(mw, bit, __ATOMIC_RELAXED);
        if (old & bit) return;
#endif
    } else {
        *mw |= bit;
    }
    size_t size = s->elemsize;
    uintptr_t base = s->start + i * size;
    sc->marked_bytes += size;
    if (s->spanclass & 1) {
        w->noscan_bytes += size; /* counted here, off the path of the scanned objects */
        return;
    }
    scan_push(w, sc, base, base + size);
}

/* scan_words scans [lo, hi), both word-aligned (push_root aligns roots; objects are). */
GMI_INLINE GMI_NO_ASAN void scan_words(worker_t *w, scan_t *sc, uintptr_t lo, uintptr_t hi,
                                       const bool parallel) {
    if (gmi_unlikely(hi - lo > GMI_OBLET_BYTES)) {
        scan_push(w, sc, lo + GMI_OBLET_BYTES, hi);
        hi = lo + GMI_OBLET_BYTES;
    }
#if GM_TRACK_VALGRIND
    GMI_TRACK_SCAN_BEGIN();
#endif
    for (uintptr_t p = lo; p < hi; p += sizeof(uintptr_t)) {
        uintptr_t v = *(volatile uintptr_t *)p;
#if GM_TRACK_VALGRIND
        GMI_TRACK_SCAN_WORD(v);
#endif
        if (v - sc->heap_lo >= sc->heap_len) continue; /* the common case: not a heap address */
        mark_candidate(w, sc, v, parallel);
    }
#if GM_TRACK_VALGRIND
    GMI_TRACK_SCAN_END();
#endif
}

/* scan_range scans one range outside the drain loop (overflow recovery). */
GMI_NO_ASAN static void scan_range(worker_t *w, uintptr_t lo, uintptr_t hi) {
    scan_t sc;
    scan_load(w, &sc);
    scan_words(w, &sc, lo, hi, mk.parallel != 0);
    scan_store(w, &sc);
}

/* ---------------------------------------------------------------------------------
 * Workers and termination
 * ------------------------------------------------------------------------------- */

/* Move half of w's stack to the pool when a peer is idle and the pool is empty. Called
 * every SHARE_PERIOD objects: one relaxed load of a line that is only written when a
 * worker goes idle or wakes. Even two entries are worth giving: the oldest entry of a
 * depth-first walk is the root of the biggest unexplored subgraph. */
static void share_half_locked(worker_t *w);

static void maybe_share(worker_t *w) {
    if (w->stack.n < 2 || __atomic_load_n(&mk.nidle, __ATOMIC_RELAXED) == 0 ||
        __atomic_load_n(&mk.pool_n, __ATOMIC_RELAXED) != 0)
        return;
    pthread_mutex_lock(&mk.lock);
    if (mk.nidle > 0 && mk.pool_n == 0) share_half_locked(w);
    pthread_mutex_unlock(&mk.lock);
}

/* share_half_locked moves the older half of w's stack to the pool. mk.lock held. */
static void share_half_locked(worker_t *w) {
    {
        size_t give = w->stack.n / 2;
        if (mk.pool_n + give > mk.pool_cap) {
            size_t ncap = mk.pool_cap ? mk.pool_cap : 4096;
            while (ncap < mk.pool_n + give)
                ncap *= 2;
            range_t *np = gmi_os_reserve(ncap * sizeof(range_t), 4096);
            if (np == NULL) return; /* keep the work: this worker does it */
            if (mk.pool) {
                memcpy(np, mk.pool, mk.pool_n * sizeof(range_t));
                gmi_os_unmap(mk.pool, mk.pool_cap * sizeof(range_t));
            }
            mk.pool = np;
            mk.pool_cap = ncap;
        }
        /* give the oldest (bottom) entries: they tend to be the biggest subgraphs */
        memcpy(mk.pool + mk.pool_n, w->stack.items, give * sizeof(range_t));
        memmove(w->stack.items, w->stack.items + give, (w->stack.n - give) * sizeof(range_t));
        w->stack.n -= give;
        /* stored atomically (under the lock): workers peek at it without it */
        __atomic_store_n(&mk.pool_n, mk.pool_n + give, __ATOMIC_RELAXED);
        pthread_cond_broadcast(&mk.work_cond);
    }
}

/* Scan everything on w's stack. Ranges go through a small FIFO whose entries are
 * prefetched when they enter it, so the cache miss of loading an object overlaps with
 * the scanning of the few before it (prefetch-on-grey). */
#define PREFETCH_DEPTH 16 /* a power of two; 8 and 32 measured slower on trees */
#define SHARE_PERIOD   64 /* objects scanned between looks at idle peers: a power of two */
GMI_INLINE GMI_NO_ASAN void drain_local_as(worker_t *w, const bool parallel) {
    range_t fifo[PREFETCH_DEPTH];
    unsigned k = 0, nf = 0; /* the oldest entry is fifo[k]; nf entries, in order from k */
    unsigned scanned = 0;
    scan_t sc;
    scan_load(w, &sc);
    for (;;) {
        /* In the steady state (a full FIFO) each turn takes an entry off the stack,
         * prefetches it and swaps it for the FIFO's oldest, which is scanned. */
        range_t r;
        if (sc.n > 0) {
            range_t in = sc.items[--sc.n];
            __builtin_prefetch((const void *)in.lo);
            if (nf < PREFETCH_DEPTH) {
                fifo[(k + nf++) & (PREFETCH_DEPTH - 1)] = in;
                continue;
            }
            r = fifo[k];
            fifo[k] = in;
        } else if (nf > 0) {
            r = fifo[k];
            nf--;
        } else {
            break;
        }
        k = (k + 1) & (PREFETCH_DEPTH - 1);
        scan_words(w, &sc, r.lo, r.hi, parallel);
        if (parallel && gmi_unlikely((++scanned & (SHARE_PERIOD - 1)) == 0)) {
            scan_store(w, &sc);
            maybe_share(w);
            scan_load(w, &sc);
        }
    }
    scan_store(w, &sc);
}

/* One copy of the loop per mark-bit discipline, so the inner loop has no test for it. */
GMI_NO_ASAN static void drain_local(worker_t *w) {
    if (mk.parallel)
        drain_local_as(w, true);
    else
        drain_local_as(w, false);
}

static void drain(worker_t *w) {
    for (;;) {
        drain_local(w);
        if (mk.nworkers < 2) return;
        pthread_mutex_lock(&mk.lock);
        for (;;) {
            if (mk.pool_n > 0) {
                size_t take = mk.pool_n < 64 ? mk.pool_n : 64;
                while (w->stack.cap < take) {
                    if (!stack_grow(&w->stack)) break;
                }
                if (w->stack.cap < take) take = w->stack.cap;
                if (take == 0) {
                    /* no memory for a stack: scan one range in place (what it would
                     * push is dropped and recovered, see the overview) */
                    __atomic_store_n(&mk.pool_n, mk.pool_n - 1, __ATOMIC_RELAXED);
                    range_t r = mk.pool[mk.pool_n];
                    pthread_mutex_unlock(&mk.lock);
                    scan_range(w, r.lo, r.hi);
                    pthread_mutex_lock(&mk.lock);
                    continue;
                }
                __atomic_store_n(&mk.pool_n, mk.pool_n - take, __ATOMIC_RELAXED);
                memcpy(w->stack.items, mk.pool + mk.pool_n, take * sizeof(range_t));
                w->stack.n = take;
                break;
            }
            if (mk.finished) {
                pthread_mutex_unlock(&mk.lock);
                return;
            }
            __atomic_store_n(&mk.nidle, mk.nidle + 1, __ATOMIC_RELAXED);
            if (mk.nidle == mk.njoined) {
                __atomic_store_n(&mk.finished, 1, __ATOMIC_RELAXED);
                pthread_cond_broadcast(&mk.work_cond);
                pthread_mutex_unlock(&mk.lock);
                return;
            }
            /* Work usually turns up within microseconds (a busy peer looks every
             * SHARE_PERIOD objects): spin a little before sleeping on the condition. */
            pthread_mutex_unlock(&mk.lock);
            for (int spin = 0; spin < 2048; spin++) {
                if (__atomic_load_n(&mk.pool_n, __ATOMIC_RELAXED) != 0 ||
                    __atomic_load_n(&mk.finished, __ATOMIC_RELAXED))
                    break;
                gmi_cpu_relax();
            }
            pthread_mutex_lock(&mk.lock);
            if (mk.pool_n == 0 && !mk.finished) pthread_cond_wait(&mk.work_cond, &mk.lock);
            __atomic_store_n(&mk.nidle, mk.nidle - 1, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&mk.lock);
    }
}

_Atomic int gmi_mark_hold_helpers GMI_STATE;

static void *helper_main(void *arg) {
    int id = (int)(intptr_t)arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&mk.lock);
    for (;;) {
        while (mk.epoch == seen || id >= mk.nworkers) {
            if (mk.epoch != seen) seen = mk.epoch; /* not needed for this mark */
            pthread_cond_wait(&mk.start_cond, &mk.lock);
        }
        while (atomic_load_explicit(&gmi_mark_hold_helpers, memory_order_relaxed)) {
            pthread_mutex_unlock(&mk.lock); /* a helper the scheduler does not run */
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
            pthread_mutex_lock(&mk.lock);
        }
        seen = mk.epoch;
        if (mk.finished) continue; /* woke after the end: nothing to join */
        mk.njoined++;
        mk.active_helpers++;
        pthread_mutex_unlock(&mk.lock);
        drain(&mk.workers[id]);
        pthread_mutex_lock(&mk.lock);
        mk.active_helpers--;
        pthread_cond_broadcast(&mk.done_cond);
    }
    return NULL;
}

static void start_helpers(int want) {
    for (int i = mk.helpers_started + 1; i < want; i++) {
        if (gmi_thread_spawn_internal(&mk.helper_tids[i], helper_main, (void *)(intptr_t)i) != 0)
            break;
        mk.helpers_started = i;
    }
}

/* gmi_mark_start_helpers starts the helper mark workers not yet running. World
 * running, no gomem lock held but gmi_gc.lock: pthread_create takes the loader's and
 * the stack cache's locks, which a thread stopped inside dlopen or pthread_create would
 * hold forever if this ran with the world stopped (it did: the first cycle hung). */
void gmi_mark_start_helpers(void) {
    int n = gmi_gc.mark_workers;
    if (n > 64) n = 64;
    if (n > 1 && mk.helpers_started < n - 1) start_helpers(n);
}

void gmi_mark_init(void) {
    for (int i = 0; i < 64; i++)
        mk.workers[i].id = i;
}

void gmi_mark_fork_child(void) {
    pthread_mutex_init(&mk.lock, NULL);
    pthread_cond_init(&mk.work_cond, NULL);
    pthread_cond_init(&mk.start_cond, NULL);
    pthread_cond_init(&mk.done_cond, NULL);
    mk.helpers_started = 0;
    mk.active_helpers = 0;
}

/* ---------------------------------------------------------------------------------
 * Roots and the mark driver
 * ------------------------------------------------------------------------------- */

typedef struct root_ctx_s {
    worker_t *w;
    uint64_t bytes;
} root_ctx_t;

_Static_assert(GMI_ROOT_BLOCK_BYTES <= GMI_OBLET_BYTES, "scan_range must not split a root block");

/* push_root pushes a root range in blocks, so the roots spread over the workers. A
 * root is never dropped: overflow recovery rescans marked objects only, and would not
 * find it again. So a block the stack cannot take (no memory to grow it) is scanned at
 * once, and blocks are small enough that scan_range never pushes a piece of one back. */
static void push_root(uintptr_t lo, uintptr_t hi, void *arg) {
    root_ctx_t *c = arg;
    lo = (lo + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    hi &= ~(uintptr_t)(sizeof(uintptr_t) - 1);
    if (hi <= lo) return;
    c->bytes += hi - lo;
    while (lo < hi) {
        uintptr_t end = hi - lo > GMI_ROOT_BLOCK_BYTES ? lo + GMI_ROOT_BLOCK_BYTES : hi;
        size_t n = c->w->stack.n;
        push_range(c->w, lo, end);
        if (gmi_unlikely(c->w->stack.n == n)) scan_range(c->w, lo, end);
        lo = end;
    }
}

static void push_thread(gmi_thread_t *t, void *arg) {
    if (t->internal) return;
    gmi_thread_scan_ranges(t, push_root, arg);
}

/* Rescan every marked object of every scanned span (overflow recovery). */
static void rescan_marked(gmi_span_t *s, void *arg) {
    worker_t *w = arg;
    if (s->spanclass & 1) return;
    for (size_t i = 0; i < s->nelems; i++) {
        if (!gmi_bit_get(s->mark_bits, i)) continue;
        uintptr_t base = s->start + i * s->elemsize;
        scan_range(w, base, base + s->elemsize);
        while (w->stack.n > 0) {
            range_t r = w->stack.items[--w->stack.n];
            scan_range(w, r.lo, r.hi);
        }
    }
}

static void run_workers(int n) {
    worker_t *w0 = &mk.workers[0];
    if (n > 1) {
        /* hand the roots to the pool so every worker starts with some */
        pthread_mutex_lock(&mk.lock);
        mk.nworkers = n;
        mk.njoined = 1; /* this thread; helpers count themselves in as they wake */
        mk.nidle = 0;
        mk.finished = 0;
        mk.parallel = 1;
        mk.epoch++;
        pthread_cond_broadcast(&mk.start_cond);
        pthread_mutex_unlock(&mk.lock);
        pthread_mutex_lock(&mk.lock);
        if (w0->stack.n >= 2) share_half_locked(w0);
        pthread_mutex_unlock(&mk.lock);
        drain(w0);
        pthread_mutex_lock(&mk.lock);
        while (mk.active_helpers > 0)
            pthread_cond_wait(&mk.done_cond, &mk.lock);
        mk.parallel = 0;
        mk.nworkers = 1;
        pthread_mutex_unlock(&mk.lock);
    } else {
        mk.nworkers = 1;
        mk.parallel = 0;
        drain(w0);
    }
}

/* gmi_mark_run marks everything reachable from the roots. World stopped, every lock
 * held by the caller. */
void gmi_mark_run(gmi_mark_result_t *out) {
    int n = gmi_gc.mark_workers;
    if (n > 64) n = 64;
    if (n > mk.helpers_started + 1) n = mk.helpers_started + 1; /* started beforehand */
    for (int i = 0; i < n; i++) {
        mk.workers[i].marked_bytes = mk.workers[i].noscan_bytes = 0;
        mk.workers[i].stack.n = 0;
        mk.workers[i].pc.page = 0;
    }
    atomic_store(&mk.overflowed, 0);

    root_ctx_t stacks = {&mk.workers[0], 0}, globals = {&mk.workers[0], 0};
    gmi_threads_each(push_thread, &stacks);
    gmi_thread_scan_unregistered(push_root, &stacks); /* a collector without a struct */
    gmi_roots_each(push_root, &globals);
    run_workers(n);
    while (atomic_load(&mk.overflowed)) {
        atomic_store(&mk.overflowed, 0);
        gmi_mark_overflow_passes++;
        gmi_heap_each_span_locked(rescan_marked, &mk.workers[0]);
    }

    memset(out, 0, sizeof(*out));
    for (int i = 0; i < n; i++) {
        out->marked_bytes += mk.workers[i].marked_bytes;
        out->heap_scan_bytes += mk.workers[i].marked_bytes - mk.workers[i].noscan_bytes;
    }
    out->stack_bytes = stacks.bytes;
    out->global_bytes = globals.bytes;
}

/* ---------------------------------------------------------------------------------
 * Marking after the main mark (finalizers, pinned objects): world stopped
 * ------------------------------------------------------------------------------- */

/* gmi_mark_more lets gen push further ranges (with push) after gmi_mark_run and marks
 * everything reachable from them, on the calling thread. World stopped, all locks
 * held. Returns the bytes it newly marked through *bytes (if not NULL). */
void gmi_mark_more(void (*gen)(void (*push)(uintptr_t lo, uintptr_t hi, void *pa), void *pa,
                               void *arg),
                   void *arg, uint64_t *bytes) {
    worker_t *w = &mk.workers[0];
    uint64_t b0 = w->marked_bytes;
    root_ctx_t ctx = {w, 0};
    mk.nworkers = 1;
    mk.parallel = 0;
    gen(push_root, &ctx, arg);
    drain(w);
    while (atomic_load(&mk.overflowed)) {
        atomic_store(&mk.overflowed, 0);
        gmi_heap_each_span_locked(rescan_marked, w);
    }
    if (bytes) *bytes = w->marked_bytes - b0;
}

/* gmi_obj_is_marked: obj, the base of an object (or of a large object's span), has its
 * mark bit set. */
bool gmi_obj_is_marked(uintptr_t obj) {
    gmi_span_t *s = gmi_span_of(obj);
    if (s == NULL) return false;
    size_t i = (s->spanclass >> 1) ? gmi_span_slot(s, obj) : 0;
    return gmi_bit_get(s->mark_bits, i);
}
