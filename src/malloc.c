/* malloc.c: the allocator. This comment is the overview of gomem's allocator.
 *
 * gomem lays out memory as Go's runtime does (see the reference, §1-§4):
 *
 *  1. Sizes. A request of 1..32768 bytes is rounded up to one of Go's 67 size classes
 *     (sizeclass.c); 17..24 bytes take the 32-byte class so that every object of 16 bytes
 *     or more is 16-byte aligned, as malloc guarantees on x86-64. Larger requests are
 *     "large": they get a span of their own, a whole number of 8 KiB pages.
 *  2. Span classes. Each size class has two span classes, scanned and noscan
 *     (class << 1 | noscan): pointer-free objects never share a span with scanned ones,
 *     and the collector never looks inside noscan spans.
 *  3. Thread cache (thread_cache.c). Every thread has one current span per span class.
 *     The fast path below takes a free slot from the current 64-slot word of that span
 *     with a count-trailing-zeros, sets its bit in the span's allocation bitmap and
 *     returns it: no lock, no atomic read-modify-write, no stack frame, no counter (a
 *     word's slots are counted when the word is loaded). In gm_alloc that is 35
 *     instructions from the call to the return, 43 with the clearing of a 16-byte slot
 *     (callgrind, binary-trees 16: 43.2 an allocation; `bench/callgrind.sh 16`).
 *  4. Central lists (central.c). When its span is full the cache trades it, under the
 *     class's lock, for a span with free slots: a swept partial span, else an unswept
 *     one it sweeps itself (lazy sweeping, as Go's mcentral.cacheSpan), else a new span.
 *  5. Page heap (page_heap.c). New spans and large objects come from runs of free pages
 *     in 64 MiB arenas; the arena map turns any address into its span in constant time.
 *  6. Zeroing. Memory is returned zeroed. Pages fresh from the OS (or released to it
 *     with MADV_DONTNEED) read as zero; a span that had objects freed, or that reuses a
 *     page released with MADV_FREE (GODEBUG=madvdontneed=0), gets needzero and its
 *     slots are zeroed when handed out (a large object is zeroed whole).
 *  7. Freeing. A small object goes on the freeing thread's reuse stack (7a). When that
 *     is full, an object in a span the calling thread caches has its bit cleared
 *     directly; any other sets the slot's bit in the span's pending bitmap with one
 *     atomic OR (which also catches a double free); the owner, the sweeper or the
 *     freeing thread under the central lock drains pending bits into the allocation
 *     bitmap. Large objects go straight back to the page heap.
 *  7a. Reuse. An object a thread frees (of any span: its current one, its older ones,
 *     or another thread's) goes on that thread's reuse stack of the
 *     class (objects of at most 1 KiB; 64 of them or 8 KiB) instead of the span's
 *     bitmaps: cleared, tagged with its address XOR a per-process key in its
 *     first word, and still allocated. The next allocation of the class takes the top
 *     of the stack first, so freed memory is handed out again while its lines are
 *     still in the cache, with no atomic operation and no write to span metadata either way (the
 *     2-thread churn spent most of its time on those lines). The tag makes a second
 *     free of the object a reported double free. A full stack and the debug modes use
 *     the pending bitmap as before; thread exit frees the stacks through it.
 *     The stacks are not roots: a collection finds their objects unreachable and frees
 *     them like any garbage, so a thread that stops allocating keeps nothing past the
 *     next cycle. Every cycle advances gmi_reuse_epoch with the world stopped; a
 *     thread's stacks are valid while its reuse_epoch equals it, and the thread empties
 *     stale ones at their next use, without taking from them. A pop reads the object
 *     first and the epoch after, so an object read before a cycle (that cycle may have
 *     swept it) is never handed out; one read from a valid stack just before a cycle
 *     was in a register, a root, and survived it.
 *     Counting: a push counts the free and a pop the allocation, as for any slot. An
 *     object a cycle frees from a stack was counted already: its span is marked
 *     reuse_tagged at the push, and the sweep of such a span reads the first word of
 *     each dead object and does not count those holding their tag (span.c). So Frees
 *     moves once per free, whether the object is reused, collected or flushed, even if
 *     a stale pointer keeps it for a few cycles.
 *  7b. Transfer lists. A thread that frees more objects of a class than it allocates
 *     (a consumer of objects other threads allocate) fills its stack. The free that
 *     finds it full moves the older half, under the class's central lock, to the
 *     class's transfer list (GMI_TRANSFER_STACKS stacks' worth), and a thread whose
 *     current word runs out takes a stackful from there before the next word of its
 *     span: the objects go from the thread that frees them to the one that allocates,
 *     a lock per half stack, as tcmalloc's transfer cache. Only a full list sends a
 *     free to the pending bitmap: before the lists, a 2-thread churn whose threads ran
 *     at different speeds sent a quarter of all frees there, one contended atomic OR
 *     each. A list is stamped with the epoch of its objects, like a stack; a
 *     collection takes every central lock before it stops the world, so the epoch
 *     never changes while a list is in use, and a stale list is emptied at its next use.
 *  8. Accounting. Per-entry counters are flushed on refill; heap_live (the pacer's view,
 *     as Go's heapLive) grows when a span is cached (by its free part) or a large object
 *     is allocated, and the slow path compares it with the trigger to start a cycle.
 *
 * The fast path and stopping the world. The collector stops threads with a signal at
 * any instruction, then reads their caches, marks, and sweeps the spans they cache in
 * place (only clearing allocation bits; it never writes an entry's free_mask). The fast
 * path therefore (a) removes the slot from free_mask, (b) computes the object's address
 * into a register, (c) sets the allocation bit with one instruction (x86-64 "or" to
 * memory; an atomic OR elsewhere), with compiler fences between. A thread stopped
 * between (a) and (c) holds a slot that is neither free nor allocated: the collector
 * ignores it and the thread finishes the allocation when it resumes. A thread stopped
 * after (c) holds the address in a register or its stack, both scanned, so the new
 * object is marked and not swept: without (b) first, an allocated object whose address
 * was not yet formed would be freed under the thread's feet. Every later store of the
 * program (for example p into another object) is ordered after (c), so an object
 * reachable from the heap always has its allocation bit set when the collector looks.
 * Large objects follow the same rule (gmi_malloc_large).
 * See gc.c for the collector overview. */
#include "internal.h"
#include "gc_internal.h"
#include "profile.h"
#include "finalizer.h"
#include "debug_modes.h"
#include "track.h"

#include <errno.h>
#include <string.h>

_Atomic int gmi_initialized GMI_STATE;

#define SIGNAL_FENCE() atomic_signal_fence(memory_order_seq_cst)

/* Set one bit in a bitmap word with a single instruction (see the essay). */
GMI_INLINE void set_bit_signal_safe(uint64_t *w, uint64_t bit) {
#if defined(__x86_64__)
    __asm__ volatile("orq %1, %0" : "+m"(*w) : "r"(bit) : "memory");
#else
    __atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
    SIGNAL_FENCE();
#endif
}

GMI_INLINE void clear_bit_signal_safe(uint64_t *w, uint64_t bit) {
#if defined(__x86_64__)
    __asm__ volatile("andq %1, %0" : "+m"(*w) : "r"(~bit) : "memory");
#else
    __atomic_fetch_and(w, ~bit, __ATOMIC_RELAXED);
    SIGNAL_FENCE();
#endif
}

typedef uint64_t gmi_v16u __attribute__((vector_size(16), aligned(8)));

/* zero_small clears a small object (a multiple of 8 bytes, at least 8) with 16-byte
 * stores, 64 bytes a loop turn, overlapping at the end where the size is not a
 * multiple of 32; the common 16-byte object is one store. No call, so the callers keep no frame;
 * the empty asm keeps the compiler from turning the loop back into a call to memset. */
GMI_INLINE void zero_small(void *p, size_t n) {
    const gmi_v16u z = {0, 0};
    char *q = p;
    if (n <= 16) {
        if (n == 16)
            *(gmi_v16u *)q = z;
        else
            *(uint64_t *)q = 0;
        return;
    }
    for (; n > 64; q += 64, n -= 64) {
        *(gmi_v16u *)q = z;
        *(gmi_v16u *)(q + 16) = z;
        *(gmi_v16u *)(q + 32) = z;
        *(gmi_v16u *)(q + 48) = z;
        __asm__("" : "+r"(q), "+r"(n)); /* nor unrolled: callers know n's bound */
    }
    if (n > 32) {
        *(gmi_v16u *)q = z;
        *(gmi_v16u *)(q + 16) = z;
        q += 32;
        n -= 32;
    }
    /* 8 to 32 bytes left at q, with at least 16 cleared (or the object) before them */
    *(gmi_v16u *)(q + n - 16) = z;
    if (n > 16) *(gmi_v16u *)q = z;
}

/* zero_slot clears a slot handed out from a span with needzero. Slots of up to 256
 * bytes are cleared inline (a call to memset costs more than the stores). */
GMI_INLINE void *zero_slot(void *p, size_t n) {
    if (n > 256) return memset(p, 0, n); /* a tail call: the fast path keeps no frame */
    zero_small(p, n);
    return p;
}

/* gmi_reuse_key: a freed object on a reuse stack holds p ^ key in its first word. Set
 * once at start-up, random, with the top bit set so that p ^ key is never 0 (a cleared
 * object) and never an address the program could have stored. */
uintptr_t gmi_reuse_key GMI_STATE;

GMI_INLINE uintptr_t reuse_tag(uintptr_t p) {
    return p ^ gmi_reuse_key;
}

/* reuse_sample records a heap-profile sample for an object taken from a reuse stack,
 * and returns it (a tail call from alloc_reuse, which then needs no frame). */
GMI_NOINLINE static void *reuse_sample(gmi_thread_t *t, void *p) {
    gmi_span_t *s = gmi_span_of((uintptr_t)p);
    t->cache.next_sample = gmi_profile_next_sample();
    gmi_profile_record_alloc(s, (uintptr_t)p, s->elemsize);
    return p;
}

/* gmi_reuse_epoch: see internal.h; starts at 1 so that a new thread's stacks (epoch 0)
 * are stale. */
uint64_t gmi_reuse_epoch GMI_STATE = 1;

/* reuse_reset empties every stack of c and makes them valid for epoch. Only the
 * owning thread (or a thread that no longer runs) touches c's stacks. */
GMI_NOINLINE static void reuse_reset(gmi_thread_cache_t *c, uint64_t epoch) {
    for (unsigned spc = 0; spc < GMI_REUSE_SPAN_CLASSES; spc++)
        c->alloc[spc].nreuse = 0;
    c->reuse_epoch = epoch;
}

GMI_INLINE void *alloc_small_bits(gmi_thread_t *t, unsigned spc, size_t size);

/* alloc_reuse_stale: the stacks are stale (a cycle ran since these objects were freed,
 * and freed them): emptied, and the allocation served from the span's bits. */
GMI_NOINLINE static void *alloc_reuse_stale(gmi_thread_t *t, unsigned spc, uint64_t epoch) {
    reuse_reset(&t->cache, epoch);
    /* the class's size, not the request's: no spare register on the fast path */
    return alloc_small_bits(t, spc, gmi_class_to_size[spc >> 1]);
}

/* alloc_reuse takes the top of the class's reuse stack (n > 0 objects), if the stack is
 * still valid. The object is read into a register before the epoch: a cycle that
 * stops the thread between the two finds it in the register (a root) and the pop is
 * dropped; a cycle before the read is seen too. Its first word (the free tag) is
 * cleared last, the rest was cleared when it was freed. Out of line, reached by a tail
 * jump, and its own slow paths are tail calls, so neither keeps a frame (inlined, the
 * call to reuse_sample gave gm_alloc a frame: +6 instructions an allocation in
 * binary-trees, which never frees). */
GMI_NOINLINE static void *alloc_reuse(gmi_thread_t *t, gmi_cache_entry_t *e, unsigned spc,
                                      unsigned n) {
    void *p = t->cache.reuse[spc][n - 1];
    __asm__ volatile("" : "+r"(p));
    SIGNAL_FENCE();
    uint64_t epoch = gmi_reuse_epoch_now();
    if (gmi_unlikely(t->cache.reuse_epoch != epoch)) return alloc_reuse_stale(t, spc, epoch);
    e->nreuse = (uint16_t)(n - 1);
    SIGNAL_FENCE();
    *(uintptr_t *)p = 0;
    e->nmalloc++;
    if (gmi_unlikely((t->cache.next_sample -= (int64_t)gmi_class_to_size[spc >> 1]) < 0))
        return reuse_sample(t, p);
    return p;
}

/* alloc_small_bits is the fast path past the reuse stack (alloc_small): the current
 * word of the thread's span for spc. It counts nothing: the word's slots were counted
 * (allocations, profiling bytes) when the word was loaded (charge_word), and a slot the
 * heap profile must sample is kept out of free_mask, so the allocation that takes it
 * comes through the slow path. */
GMI_INLINE void *alloc_small_bits(gmi_thread_t *t, unsigned spc, size_t size) {
    gmi_cache_entry_t *e = &t->cache.alloc[spc];
    uint64_t m = __atomic_load_n(&e->free_mask, __ATOMIC_RELAXED);
    if (gmi_unlikely(m == 0)) return gmi_malloc_slow(t, spc, size);
    uint64_t rest = m & (m - 1);
    uint64_t b = (uint64_t)__builtin_ctzll(m);
    __atomic_store_n(&e->free_mask, rest, __ATOMIC_RELAXED);
    SIGNAL_FENCE();
    void *p = (void *)(e->base + b * e->elemsize);
    __asm__ volatile("" : "+r"(p));          /* p exists in a register before the bit is set */
    set_bit_signal_safe(e->wordp, m ^ rest); /* the slot's bit: m's lowest */
#if GM_TRACK_VALGRIND
    GMI_TRACK_ALLOC(p, e->elemsize); /* after the bit: the essay's order is unchanged */
#endif
    if (e->needzero) return zero_slot(p, e->elemsize);
    return p;
}

/* alloc_small: the reuse stack of the class first (see the overview, 7a), then the
 * span's current word. */
GMI_INLINE void *alloc_small(gmi_thread_t *t, unsigned spc, size_t size) {
    gmi_cache_entry_t *e = &t->cache.alloc[spc];
    unsigned n = e->nreuse;
    if (n != 0) return alloc_reuse(t, e, spc, n);
    return alloc_small_bits(t, spc, size);
}

/* charge_word charges the heap profile's countdown (t->cache.next_sample, Go's
 * nextSample) for every slot of a word just loaded into e, as if each were allocated
 * now, in order. The slot that takes the countdown below zero is the sample: it is
 * held back (e->held, out of free_mask), the next interval is drawn at once, and the
 * slots after it are charged to that one (which may hold another). The fast path hands
 * out the rest; when they are gone alloc_held hands out the held slots and records
 * them. Each expiry makes exactly one sample, as in Go: the countdown must not be left
 * running while a sample is pending (other classes, the reuse stacks and large objects
 * then expired it again, and profiles overstated allocation by 40-80%). Slots never
 * handed out are charged all the same: a bias of at most one word per abandoned span. */
static void charge_word(gmi_thread_t *t, gmi_cache_entry_t *e) {
    uint64_t m = __atomic_load_n(&e->free_mask, __ATOMIC_RELAXED);
    int64_t size = (int64_t)e->elemsize;
    int64_t left = t->cache.next_sample;
    if (gmi_likely(left >= (int64_t)gmi_popcount64(m) * size)) {
        t->cache.next_sample = left - (int64_t)gmi_popcount64(m) * size;
        return;
    }
    uint64_t rest = m, held = 0;
    while (left < (int64_t)gmi_popcount64(rest) * size) {
        /* the first left / size slots fit in this interval; the next one crosses it */
        for (int64_t k = left / size; k > 0; k--)
            rest &= rest - 1;
        held |= rest & -rest;
        rest &= rest - 1;
        left = gmi_profile_next_sample();
    }
    t->cache.next_sample = left - (int64_t)gmi_popcount64(rest) * size;
    /* out of free_mask before into held: a stop in between finds the slots in neither
     * (in flight, as verify allows), never in both */
    __atomic_store_n(&e->free_mask, m ^ held, __ATOMIC_RELAXED);
    SIGNAL_FENCE();
    e->held |= held;
}

/* alloc_held hands out one held slot, a heap-profile sample charged already (its
 * interval was drawn when it was held), and records it. Called with free_mask empty;
 * the other held slots follow at the next allocations. */
GMI_NOINLINE static void *alloc_held(gmi_thread_t *t, gmi_cache_entry_t *e, unsigned spc,
                                     size_t size) {
    uint64_t h = e->held;
    uint64_t b = h & -h;
    e->held = h ^ b; /* out of held before into free_mask (see charge_word) */
    SIGNAL_FENCE();
    __atomic_store_n(&e->free_mask, b, __ATOMIC_RELAXED);
    void *p = alloc_small_bits(t, spc, size); /* takes exactly that slot */
    gmi_profile_record_alloc(e->span, (uintptr_t)p, e->elemsize);
    return p;
}

/* take_loaded allocates from a word just loaded into e. */
static void *take_loaded(gmi_thread_t *t, gmi_cache_entry_t *e, unsigned spc, size_t size) {
    charge_word(t, e);
    if (__atomic_load_n(&e->free_mask, __ATOMIC_RELAXED) == 0) return alloc_held(t, e, spc, size);
    return alloc_small_bits(t, spc, size);
}

/* ---------------------------------------------------------------------------------
 * Transfer lists (overview, 7b)
 * ------------------------------------------------------------------------------- */

/* transfer_t: objects a thread's full reuse stack of one class passed on, for any
 * thread of the class to take. Everything under the class's central lock, which a
 * collection holds while the world is stopped: the epoch cannot change while it is
 * held. One cache line each, so that classes used by different threads do not share. */
typedef struct __attribute__((aligned(64))) transfer_s {
    void **slot;        /* cap entries, from gomem's metadata memory at first use */
    uint64_t epoch;     /* gmi_reuse_epoch when the objects were put: valid while equal */
    _Atomic unsigned n; /* objects held (read without the lock only as a hint); at most
                           GMI_TRANSFER_STACKS x the class's stack capacity */
} transfer_t;

static transfer_t transfers[GMI_REUSE_SPAN_CLASSES] GMI_STATE;

/* transfer_fresh: x's objects, if a cycle has not freed them since they were put. */
static unsigned transfer_fresh(transfer_t *x) {
    if (x->epoch != gmi_reuse_epoch_now()) return 0;
    return atomic_load_explicit(&x->n, memory_order_relaxed);
}

#if !GM_TRACK_VALGRIND /* Valgrind's builds keep no reuse stacks */
/* transfer_put moves the older half of the full reuse stack of class spc (entry e of t,
 * valid for the current epoch when the caller looked) to the class's transfer list,
 * and returns how many objects the stack holds then: fewer than its capacity, or
 * unchanged if the list has no room (or no memory). A stack that a cycle made stale
 * meanwhile is emptied (0). */
GMI_NOINLINE static unsigned transfer_put(gmi_thread_t *t, gmi_cache_entry_t *e, unsigned spc) {
    transfer_t *x = &transfers[spc];
    unsigned cap = gmi_reuse_cap[spc], half = (cap + 1) / 2, n = e->nreuse;
    unsigned xcap = GMI_TRANSFER_STACKS * cap;
    /* A full list stays full while its consumers are slow: while it does, the frees
     * that find the stack full go to the pending bitmap without taking the lock. */
    if (atomic_load_explicit(&x->n, memory_order_relaxed) + half > xcap &&
        __atomic_load_n(&x->epoch, __ATOMIC_RELAXED) == gmi_reuse_epoch_now())
        return n;
    gmi_lock(&gmi_central_locks[spc]);
    uint64_t now = gmi_reuse_epoch_now(); /* stable while the lock is held */
    if (t->cache.reuse_epoch != now) {
        reuse_reset(&t->cache, now);
        n = 0;
    } else {
        unsigned have = transfer_fresh(x);
        if (x->slot == NULL) x->slot = gmi_meta_alloc(xcap * sizeof(void *));
        if (x->slot != NULL && have + half <= xcap) {
            void **stack = t->cache.reuse[spc];
            memcpy(x->slot + have, stack, half * sizeof(void *));
            memmove(stack, stack + half, (n - half) * sizeof(void *));
            n -= half;
            e->nreuse = (uint16_t)n;
            __atomic_store_n(&x->epoch, now, __ATOMIC_RELAXED); /* read unlocked above */
            atomic_store_explicit(&x->n, have + half, memory_order_relaxed);
        }
    }
    gmi_unlock(&gmi_central_locks[spc]);
    return n;
}
#endif

/* transfer_take fills t's reuse stack of class spc (entry e) from the class's transfer
 * list; false if the list held nothing valid. The stack is then valid for the current
 * epoch, and its objects are taken by alloc_reuse, which checks the epoch again. */
GMI_NOINLINE static bool transfer_take(gmi_thread_t *t, gmi_cache_entry_t *e, unsigned spc) {
    transfer_t *x = &transfers[spc];
    unsigned k = 0;
    gmi_lock(&gmi_central_locks[spc]);
    unsigned have = transfer_fresh(x);
    if (have == 0) {
        atomic_store_explicit(&x->n, 0, memory_order_relaxed); /* stale: its objects were freed */
    } else {
        uint64_t now = gmi_reuse_epoch_now();
        if (t->cache.reuse_epoch != now) reuse_reset(&t->cache, now);
        unsigned n = e->nreuse, room = gmi_reuse_cap[spc] - n;
        k = have < room ? have : room;
        memcpy(t->cache.reuse[spc] + n, x->slot + have - k, k * sizeof(void *));
        e->nreuse = (uint16_t)(n + k);
        atomic_store_explicit(&x->n, have - k, memory_order_relaxed);
    }
    gmi_unlock(&gmi_central_locks[spc]);
    return k != 0;
}

/* transfer_hint: the slow path's unlocked look (a stale count only costs a lock). */
GMI_INLINE bool transfer_hint(unsigned spc) {
    return spc < GMI_REUSE_SPAN_CLASSES &&
           atomic_load_explicit(&transfers[spc].n, memory_order_relaxed) != 0;
}

unsigned gmi_transfer_objects(unsigned spc, void *const **objs) {
    *objs = NULL;
    if (spc >= GMI_REUSE_SPAN_CLASSES) return 0;
    *objs = transfers[spc].slot;
    return transfer_fresh(&transfers[spc]);
}

static void gc_hooks_after_refill(gmi_thread_t *t);

/* slow_result_t: an allocation and whether its path went as deep as a refill (two
 * registers on return). */
typedef struct slow_result_s {
    void *p;
    uintptr_t deep;
} slow_result_t;

/* malloc_slow_work continues the fast path when the current word is used up. */
GMI_NOINLINE static slow_result_t malloc_slow_work(gmi_thread_t *t, unsigned spc, size_t size) {
    /* A thread registered by the pthread_create wrapper may allocate before anything
     * initialized gomem: its empty cache always leads here first. */
    if (gmi_unlikely(!atomic_load_explicit(&gmi_initialized, memory_order_acquire)))
        gmi_init_slow();
    gmi_cache_entry_t *e = &t->cache.alloc[spc];
    if (e->held) return (slow_result_t){alloc_held(t, e, spc, size), 1}; /* a sample: deep */
    /* Objects other threads' full reuse stacks passed on (overview, 7b) come before the
     * span's next word: they are freed memory waiting to be used again. */
    if (transfer_hint(spc) && transfer_take(t, e, spc))
        return (slow_result_t){alloc_reuse(t, e, spc, e->nreuse), 1};
    if (e->span != NULL && gmi_cache_next_word(e))
        return (slow_result_t){take_loaded(t, e, spc, size), 0};
    if (!gmi_cache_refill(e, spc)) {
        errno = ENOMEM;
        return (slow_result_t){NULL, 1};
    }
    if (t->cache.live_debt) gmi_cache_pay_live_debt(&t->cache); /* before the trigger test */
    gc_hooks_after_refill(t);
    /* A collection may have run: the entry is still valid (its span is swept in place). */
    if (__atomic_load_n(&e->free_mask, __ATOMIC_RELAXED) == 0 && !gmi_cache_next_word(e)) {
        if (!gmi_cache_refill(e, spc)) {
            errno = ENOMEM;
            return (slow_result_t){NULL, 1};
        }
    }
    return (slow_result_t){take_loaded(t, e, spc, size), 1};
}

/* gmi_malloc_slow: malloc_slow_work, then the stack its frames used is scrubbed (see
 * internal.h): they saved the program's callee-saved registers. A collection it ran
 * scrubbed its own frames (gc.c). Both calls keep no register of this frame live, so
 * it saves none. */
GMI_NOINLINE void *gmi_malloc_slow(gmi_thread_t *t, unsigned spc, size_t size) {
    slow_result_t r = malloc_slow_work(t, spc, size);
    if (r.deep) return gmi_stack_scrub_refill(r.p);
    return gmi_stack_scrub_small(r.p);
}

static void gc_hooks_after_refill(gmi_thread_t *t) {
    /* Not from inside a cycle: an allocation made by the collecting thread itself (the
     * C library's pthread_create allocating for a worker gomem starts, once gomem is
     * malloc) would wait for the collector's own gate and lock. */
    if (gmi_unlikely(t->gc_entry_sp != 0)) return;
    if (gmi_unlikely(gmi_config.debug_gcstress > 0)) {
        static _Atomic unsigned long n GMI_STATE;
        if (atomic_fetch_add(&n, 1) % (unsigned long)gmi_config.debug_gcstress == 0) {
            gmi_gc_maybe_trigger(true);
            return;
        }
    }
    if (gmi_unlikely(atomic_load_explicit(&gmi_gc.heap_live, memory_order_relaxed) >=
                     atomic_load_explicit(&gmi_gc.trigger, memory_order_relaxed)))
        gmi_gc_maybe_trigger(false);
}

/* malloc_large_work allocates an object over 32 KiB on a span of its own. */
GMI_NOINLINE static void *malloc_large_work(gmi_thread_t *t, size_t size, bool noscan) {
    if (gmi_unlikely(!atomic_load_explicit(&gmi_initialized, memory_order_acquire)))
        gmi_init_slow();
    if (size > GMI_MAX_ALLOC_SIZE || size > gmi_os_commit_limit()) {
        errno = ENOMEM; /* more than the machine's memory and swap (os_linux.c) */
        return NULL;
    }
    size_t npages = (size + GMI_PAGE_SIZE - 1) >> GMI_PAGE_SHIFT;
    bool zeroed;
    unsigned spc = noscan ? 1u : 0u;
    gmi_sweep_reclaim(npages); /* the last cycle's dead spans before new pages */
    gmi_span_t *s = gmi_heap_alloc_span(npages, spc, &zeroed);
    if (s == NULL) {
        /* Collect once and retry before giving up, as Go does under a memory limit. */
        gmi_gc_collect(false);
        s = gmi_heap_alloc_span(npages, spc, &zeroed);
        if (s == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    /* Until published the span is on no list with its allocation bit clear: a collection
     * ignores it. The address is formed first and stays live across the publication. */
    void *p = (void *)s->start;
    __asm__ volatile("" : "+r"(p));
    gmi_central_publish_large(s);
    __asm__ volatile("" : : "r"(p) : "memory");
#if GM_TRACK_VALGRIND
    GMI_TRACK_ALLOC(p, s->elemsize);
#endif
    /* Zeroed after publication: a collection meanwhile may scan stale words (false
     * retention for one cycle, never a lost object). */
    if (!zeroed) {
        if (gmi_unlikely(gmi_config.debug_poison))
            gmi_debug_check_reused((const void *)s->start, npages * GMI_PAGE_SIZE);
        memset((void *)s->start, 0, npages * GMI_PAGE_SIZE);
    }
    s->needzero = 0;
    t->cache.nlarge_alloc++;
    atomic_fetch_add(&gmi_gc.large_alloc_bytes, s->elemsize);
    atomic_fetch_add(&gmi_gc.heap_live, s->elemsize);
    if ((t->cache.next_sample -= (int64_t)s->elemsize) < 0) {
        t->cache.next_sample = gmi_profile_next_sample();
        gmi_profile_record_alloc(s, (uintptr_t)p, s->elemsize);
    }
    gc_hooks_after_refill(t);
    return p;
}

/* gmi_malloc_large: malloc_large_work, and its stack scrubbed as gmi_malloc_slow's. */
GMI_NOINLINE void *gmi_malloc_large(gmi_thread_t *t, size_t size, bool noscan) {
    return gmi_stack_scrub_refill(malloc_large_work(t, size, noscan));
}

GMI_INLINE void *alloc_on(gmi_thread_t *t, size_t size, unsigned noscan) {
    unsigned cls;
    if (gmi_likely(size <= 1024))
        cls = gmi_size_to_class8_a16[(size + 7) >> 3];
    else if (size <= GMI_MAX_SMALL_SIZE)
        cls = gmi_size_to_class(size);
    else
        return gmi_malloc_large(t, size, noscan != 0);
    return alloc_small(t, cls << 1 | noscan, size);
}

/* alloc_raw: a thread that cannot get a struct (out of metadata memory) gets NULL. */
GMI_INLINE void *alloc_raw(size_t size, unsigned noscan) {
    gmi_thread_t *t = gmi_thread_get();
    if (gmi_unlikely(t == NULL)) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_on(t, size, noscan);
}

/* alloc_any: debug modes (debug_modes.c) take a separate path, tested once here. */
/* alloc_cold: the first call of a thread (and of the process), and debug modes. */
GMI_NOINLINE static void *alloc_cold(size_t size, unsigned noscan, uintptr_t caller) {
    if (!atomic_load_explicit(&gmi_initialized, memory_order_acquire)) gmi_init_slow();
    if (gmi_debug_slow & GMI_DEBUG_ALLOC) return gmi_debug_alloc(size, noscan, caller);
    return alloc_raw(size, noscan);
}

/* alloc_any: one test sends an unregistered thread (which may mean an uninitialized
 * gomem) and the debug modes (debug_modes.c) to the cold path. */
GMI_INLINE void *alloc_any(size_t size, unsigned noscan) {
    gmi_thread_t *t = gmi_tls_thread;
    if (gmi_unlikely(t == NULL || (gmi_debug_slow & GMI_DEBUG_ALLOC)))
        return alloc_cold(size, noscan, (uintptr_t)__builtin_return_address(0));
    return alloc_on(t, size, noscan);
}

void *gmi_malloc_raw(size_t size, unsigned noscan) {
    return alloc_raw(size, noscan);
}

GM_API void *gm_alloc(size_t size) {
    return alloc_any(size, 0);
}

GM_API void *gm_alloc_noscan(size_t size) {
    return alloc_any(size, 1);
}

GM_API void *gm_calloc(size_t n, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_any(total, 0);
}

/* ---------------------------------------------------------------------------------
 * Freeing
 * ------------------------------------------------------------------------------- */

/* small_slot_check: for a small-object span s holding address a, NULL if a is the base
 * of a live object (its slot in *slot), else what is wrong. */
GMI_INLINE const char *small_slot_state(const gmi_span_t *s, size_t i, uintptr_t base);

GMI_INLINE const char *small_slot_check(const gmi_span_t *s, uintptr_t a, size_t *slot) {
    size_t i = gmi_span_slot(s, a);
    if (s->start + i * s->elemsize != a) return "interior pointer, not the base of an object";
    const char *why = small_slot_state(s, i, a);
    if (why == NULL) *slot = i;
    return why;
}

/* small_slot_state: NULL if slot i (at base) of small-object span s holds a live
 * object, else why not: never allocated or swept, or freed (pending, or held on a reuse
 * stack or transfer list with its tag). */
GMI_INLINE const char *small_slot_state(const gmi_span_t *s, size_t i, uintptr_t base) {
    uint64_t bit = 1ull << (i & 63);
    if (!(s->alloc_bits[i >> 6] & bit)) return "object is not allocated (double free?)";
    if ((atomic_load_explicit(&s->pending_bits[i >> 6], memory_order_relaxed) & bit) ||
        gmi_reuse_tagged(base))
        return "object already freed (double free)";
    return NULL;
}

/* Classify p: returns its span and slot if p is the base of a live object, else NULL
 * and a reason. */
GMI_INLINE gmi_span_t *live_object(const void *p, size_t *slot, const char **why) {
    uintptr_t a = (uintptr_t)p;
    gmi_span_t *s = gmi_span_of(a);
    if (s == NULL) {
        /* in one of gomem's arenas but on no span in use: a large object freed (its
         * pages back in the page heap), or pages never handed out */
        bool arena = a - gmi_heap_lo < gmi_heap_hi - gmi_heap_lo &&
                     gmi_arena_map[a >> GMI_ARENA_SHIFT] != NULL;
        *why = arena ? "not an allocated object, in gomem's free pages (double free?)"
                     : "not a gomem heap pointer";
        return NULL;
    }
    if (s->spanclass >> 1) {
        *why = small_slot_check(s, a, slot);
        return *why ? NULL : s;
    }
    if (s->start != a) { /* a large object: its span's first byte */
        *why = "interior pointer, not the base of an object";
        return NULL;
    }
    if (!gmi_bit_get(s->alloc_bits, 0)) {
        *why = "object is not allocated (double free?)";
        return NULL;
    }
    *slot = 0;
    return s;
}

/* reuse_push puts the object at a, freed from span s (class spc, not the one e caches),
 * on the thread's reuse stack of the class, which holds n < GMI_REUSE_SLOTS objects
 * and which the caller found valid for the current epoch (or emptied): cleared,
 * tagged, then pushed. A cycle between the caller's epoch check and the push leaves
 * the object on a stale stack: it was in a register then (it survived), and a later
 * cycle frees it. Its span is marked first, so that a sweep that frees it sees the
 * flag. */
GMI_INLINE void reuse_push(gmi_thread_t *t, gmi_cache_entry_t *e, gmi_span_t *s, unsigned spc,
                           uintptr_t a, unsigned n) {
    if (gmi_unlikely(!s->reuse_tagged)) s->reuse_tagged = 1; /* read-mostly line */
    zero_small((void *)a, s->elemsize);
    *(uintptr_t *)a = reuse_tag(a);
    t->cache.reuse[spc][n] = (void *)a;
    SIGNAL_FENCE();
    e->nreuse = (uint16_t)(n + 1);
    SIGNAL_FENCE();
    __asm__ volatile("" : : "r"(a) : "memory");
    e->nfree++;
}

uint8_t gmi_reuse_cap[GMI_NUM_SPAN_CLASSES] GMI_STATE; /* 0: no stack (large, over 1 KiB) */

void gmi_reuse_init(void) {
    _Static_assert(GMI_REUSE_SLOTS <= 255, "gmi_reuse_cap holds a byte");
    for (unsigned spc = 0; spc < GMI_REUSE_SPAN_CLASSES; spc++) {
        unsigned size = gmi_class_to_size[spc >> 1];
        unsigned cap = size ? GMI_REUSE_BYTES / size : 0;
        gmi_reuse_cap[spc] = (uint8_t)(cap < GMI_REUSE_SLOTS ? cap : GMI_REUSE_SLOTS);
    }
}

/* reuse_fits: an object of span s (class spc) may go on the reuse stack of entry e,
 * which holds n objects: a class of at most 1 KiB, room by count and bytes (one table
 * load), and no specials on the span (a record left on a freed slot, a misuse the
 * finalizer code drops at the next cycle, must not pass to the next object). */
GMI_INLINE bool reuse_fits(const gmi_span_t *s, unsigned spc, unsigned n) {
    return n < gmi_reuse_cap[spc] && __atomic_load_n(&s->specials, __ATOMIC_RELAXED) == NULL;
}

/* free_small: t is NULL for a thread without a struct (threads.c): a remote free. */
/* relist_threshold: pending frees in one bitmap word that make a full span partial
 * again (see free_small): 8, or fewer in a span of fewer than 64 slots. */
GMI_INLINE unsigned relist_threshold(const gmi_span_t *s) {
    unsigned n = s->nelems >= 64 ? 8 : s->nelems / 8u;
    return n ? n : 1;
}

static void free_pending(gmi_thread_t *t, gmi_span_t *s, size_t i, const void *p, bool counted);

static void free_small(gmi_thread_t *t, gmi_span_t *s, size_t i, const void *p) {
    unsigned spc = s->spanclass;
    gmi_cache_entry_t *e = t != NULL ? &t->cache.alloc[spc] : NULL;
    if (gmi_unlikely(__atomic_load_n(&s->specials, __ATOMIC_RELAXED) != NULL))
        gmi_specials_free_object(s, i, "gm_free", p, true);
    uint64_t bit = 1ull << (i & 63);
    if (e != NULL && e->span == s) {
        /* Local free: this thread owns the span's allocation bits. */
        s->needzero = 1;
        clear_bit_signal_safe(&s->alloc_bits[i >> 6], bit);
#if GM_TRACK_VALGRIND
        GMI_TRACK_FREE(p);
#endif
        e->nfree++;
        if ((i >> 6) == e->word) {
            /* back into the current word: counted and charged now, as at a word load */
            e->needzero = 1;
            e->nmalloc++;
            int64_t size = (int64_t)e->elemsize;
            if (t->cache.next_sample >= size) {
                t->cache.next_sample -= size;
                SIGNAL_FENCE();
                __atomic_store_n(&e->free_mask,
                                 __atomic_load_n(&e->free_mask, __ATOMIC_RELAXED) | bit,
                                 __ATOMIC_RELAXED);
            } else {
                /* its allocation is the one that crosses the countdown: the sample,
                 * and the next interval starts (charge_word) */
                t->cache.next_sample = gmi_profile_next_sample();
                SIGNAL_FENCE();
                e->held |= bit; /* handed out and recorded by alloc_held */
            }
        } else {
            e->rescan = 1;
        }
        return;
    }
#if !GM_TRACK_VALGRIND
    if (e != NULL && !gmi_debug_slow && spc < GMI_REUSE_SPAN_CLASSES &&
        __atomic_load_n(&s->specials, __ATOMIC_RELAXED) == NULL) {
        /* Onto the reuse stack (overview, 7a; gm_free's fast path, free_fast, takes
         * most of these); a full stack passes half on to the transfer list (7b). */
        uint64_t epoch = gmi_reuse_epoch_now();
        if (gmi_unlikely(t->cache.reuse_epoch != epoch)) reuse_reset(&t->cache, epoch);
        unsigned n = e->nreuse;
        if (n >= gmi_reuse_cap[spc]) n = transfer_put(t, e, spc);
        if (n < gmi_reuse_cap[spc]) {
            reuse_push(t, e, s, spc, (uintptr_t)p, n);
            return;
        }
    }
#endif
    free_pending(t, s, i, p, true);
}

/* free_pending frees slot i of s, a span the calling thread does not cache, through
 * the span's pending bitmap. counted: the free is not yet in the statistics (a reuse
 * stack being emptied was counted when its objects were freed). */
static void free_pending(gmi_thread_t *t, gmi_span_t *s, size_t i, const void *p, bool counted) {
    unsigned spc = s->spanclass;
    uint64_t bit = 1ull << (i & 63);
    uint64_t old = atomic_fetch_or(&s->pending_bits[i >> 6], bit);
    if (gmi_unlikely(old & bit)) {
        gmi_bad_pointer("gm_free", p, "object already freed (double free)");
        return;
    }
#if GM_TRACK_VALGRIND
    GMI_TRACK_FREE(p);
#endif
    /* Counted in this thread's entry of the class, flushed with its own frees: a shared
     * counter here made two threads freeing each other's objects fight over a line. */
    if (counted) {
        if (gmi_likely(t != NULL))
            t->cache.alloc[spc].nfree++;
        else
            atomic_fetch_add_explicit(&gmi_gc.frees[spc >> 1], 1, memory_order_relaxed);
    }
    /* Usually already raised: a load keeps the span's line shared. Both sequentially
     * consistent, ordered after the bit's OR, as gmi_span_drain_pending clears the flag
     * before it takes the bits (a plain load on x86-64). */
    if (!atomic_load(&s->has_pending)) atomic_store(&s->has_pending, 1);
    if (!atomic_load_explicit(&s->cached, memory_order_relaxed)) {
        /* An uncached span's bytes are counted in heap_live: take the object out, in
         * batches (live_debt). A cached span is counted whole until it is uncached. */
        if (gmi_unlikely(t == NULL)) {
            gmi_heap_live_sub(s->elemsize); /* no struct to batch it in */
        } else {
            t->cache.live_debt += s->elemsize;
            if (gmi_unlikely(t->cache.live_debt >= GMI_LIVE_DEBT_MAX))
                gmi_cache_pay_live_debt(&t->cache);
        }
        /* Pending bits of an uncached span are drained by whoever caches or sweeps it.
         * Only a full span needs the lock, to become partial and reusable, and not at
         * its first free: a span relisted with one free slot is cached, filled by one
         * allocation and traded again (churn refilled every 8 allocations, at ~575
         * instructions a refill). The free that brings its bitmap word's pending count
         * to relist_threshold takes the lock; fewer pending frees wait for the sweep of
         * the next cycle (at most 7 slots a word, 11%, in a span nobody frees more in). */
        if ((s->list == GMI_LIST_FULL0 || s->list == GMI_LIST_FULL1) &&
            gmi_popcount64(old | bit) == relist_threshold(s))
            gmi_central_free_remote(s, i);
    }
}

/* gmi_reuse_flush frees every object on c's valid reuse stacks through the pending
 * bitmaps (thread exit and unregistration) and empties the stacks. The caller holds
 * the registry lock, so no cycle runs meanwhile: one would free the objects not yet
 * flushed as garbage. Stale stacks are just emptied: their objects are garbage the
 * next sweep frees (without counting them again: they keep their tag). */
void gmi_reuse_flush(gmi_thread_cache_t *c) {
    uint64_t epoch = gmi_reuse_epoch_now();
    if (c->reuse_epoch == epoch) {
        for (unsigned spc = 0; spc < GMI_REUSE_SPAN_CLASSES; spc++) {
            gmi_cache_entry_t *e = &c->alloc[spc];
            unsigned n = e->nreuse;
            for (unsigned k = 0; k < n; k++) {
                uintptr_t a = (uintptr_t)c->reuse[spc][k];
                gmi_span_t *s = gmi_span_of(a);
                *(uintptr_t *)a = 0; /* the tag: a free slot holds nothing of it */
                /* no thread struct: heap_live is lowered at once, nothing is counted */
                free_pending(NULL, s, gmi_span_slot(s, a), (const void *)a, false);
            }
        }
    }
    reuse_reset(c, epoch);
}

/* gmi_reuse_drop forgets the objects on c's stacks (a thread that vanished: reaped,
 * or in the fork child; the child's other threads flush theirs instead): not roots,
 * they are garbage the next cycle frees, counted already. */
void gmi_reuse_drop(gmi_thread_cache_t *c) {
    reuse_reset(c, c->reuse_epoch);
}

static void free_large(gmi_thread_t *t, gmi_span_t *s, const void *p) {
    if (!gmi_central_remove_large(s)) {
        gmi_bad_pointer("gm_free", p, "object is not allocated (double free?)");
        return;
    }
    uintptr_t site = 0; /* poison mode: the allocation site, for a later report */
    if (__atomic_load_n(&s->specials, __ATOMIC_RELAXED) != NULL) {
        if (gmi_unlikely(gmi_config.debug_poison)) site = gmi_profile_alloc_site(s, 0);
        gmi_specials_free_object(s, 0, "gm_free", p, true);
    }
    if (t != NULL) {
        t->cache.nlarge_free++;
    } else {
        atomic_fetch_add(&gmi_gc.frees[0], 1); /* no struct: counted at once */
    }
    atomic_fetch_add(&gmi_gc.large_free_bytes, s->elemsize);
    gmi_heap_live_sub(s->elemsize);
#if GM_TRACK_VALGRIND
    GMI_TRACK_FREE(p);
#endif
    if (gmi_unlikely(gmi_config.debug_poison)) {
        /* the span is off every list with its bit clear: nobody else touches it */
        memset((void *)s->start, GMI_POISON_FREED, s->elemsize);
        gmi_debug_quarantine_large(s, site, "freed by gm_free");
        return;
    }
    gmi_heap_free_span(s);
}

static void free_checked(const char *call, void *p) {
    size_t i;
    const char *why;
    gmi_span_t *s = live_object(p, &i, &why);
    if (s == NULL) {
        gmi_bad_pointer(call, p, why);
        return;
    }
    gmi_thread_t *t = gmi_tls_thread;
    if (gmi_unlikely(t == NULL)) {
        int saved_errno = errno; /* a failed registration must not change it */
        t = gmi_thread_get();
        errno = saved_errno;
    }
    if (s->spanclass >> 1)
        free_small(t, s, i, p);
    else
        free_large(t, s, p);
}

void gmi_free_raw(const char *call, void *p) {
    free_checked(call, p);
}

gmi_span_t *gmi_malloc_live_object(const void *p, size_t *slot, const char **why) {
    return live_object(p, slot, why);
}

bool gmi_malloc_slot_live(const gmi_span_t *s, size_t slot) {
    if (!(s->spanclass >> 1)) return slot == 0 && gmi_bit_get(s->alloc_bits, 0);
    if (slot >= s->nelems) return false;
    return small_slot_state(s, slot, s->start + slot * s->elemsize) == NULL;
}

/* gm_free's fast path takes most frees of a program that frees what it allocated a
 * while ago or what another thread allocated: a small object (at most 1 KiB) of a span
 * the thread does not cache, pushed on the class's reuse stack (overview, 7a), with
 * no stack frame. A valid free that does not qualify goes to free_small with the span
 * found (a local free, a full or stale stack, a span with specials, an object over
 * 1 KiB); NULL, large objects, bad pointers and double frees go to free_slow, which
 * classifies them again and reports what is wrong. */
GMI_NOINLINE static void free_slow(void *p);

/* free_small_of: free_small for a valid small object p of span s (the slot found
 * again, so that the fast path need not keep it in a register), then the stack its
 * frames used is scrubbed as the allocation slow path's (internal.h): a full stack
 * takes locks, whose frames save the program's callee-saved registers. */
GMI_NOINLINE static void free_small_work(gmi_thread_t *t, gmi_span_t *s, void *p) {
    free_small(t, s, gmi_span_slot(s, (uintptr_t)p), p);
}

GMI_NOINLINE static void free_small_of(gmi_thread_t *t, gmi_span_t *s, void *p) {
    free_small_work(t, s, p);
    (void)gmi_stack_scrub_refill(NULL);
}

/* free_fast returns true when it freed p (the caller needs no frame for the calls). */
GMI_INLINE bool free_fast(gmi_thread_t *t, void *p) {
    gmi_span_t *s = gmi_span_of((uintptr_t)p);
    size_t i;
    if (s == NULL) return false;
    unsigned spc = s->spanclass;
    if (spc < 2 || small_slot_check(s, (uintptr_t)p, &i) != NULL) return false; /* large, bad */
#if !GM_TRACK_VALGRIND
    gmi_cache_entry_t *e = &t->cache.alloc[spc];
    unsigned n = e->nreuse;
    if (reuse_fits(s, spc, n) && t->cache.reuse_epoch == gmi_reuse_epoch_now()) {
        reuse_push(t, e, s, spc, (uintptr_t)p, n);
        return true;
    }
#endif
    free_small_of(t, s, p);
    return true;
}

GMI_NOINLINE static void free_slow_work(void *p) {
    if (gmi_unlikely(!atomic_load_explicit(&gmi_initialized, memory_order_acquire)))
        gmi_init_slow();
    if (gmi_unlikely(gmi_debug_slow)) {
        gmi_debug_free(p);
        return;
    }
    free_checked("gm_free", p);
}

/* free_slow: NULL returns at once; anything else is freed (or reported), and the
 * stack its frames used scrubbed: a large free takes the central and heap locks and
 * went deeper than a refill's scrub reaches (test_root_kinds). */
GMI_NOINLINE static void free_slow(void *p) {
    if (p == NULL) return;
    free_slow_work(p);
    gmi_stack_scrub_deep(gmi_tls_thread);
}

/* gm_free: a registered thread outside the debug modes (t set implies gomem is
 * initialized, as in gm_alloc) takes the fast path. */
GM_API void gm_free(void *p) {
    gmi_thread_t *t = gmi_tls_thread;
    if (gmi_likely(t != NULL && !gmi_debug_slow) && free_fast(t, p)) return;
    free_slow(p);
}

GM_API size_t gm_usable_size(const void *p) {
    size_t i;
    const char *why;
    if (p == NULL || !atomic_load(&gmi_initialized)) return 0;
    if (gmi_unlikely(gmi_debug_slow & GMI_DEBUG_ALLOC)) return gmi_debug_usable_size(p);
    gmi_span_t *s = live_object(p, &i, &why);
    return s ? s->elemsize : 0;
}

GM_API void *gm_base(const void *p) {
    if (!atomic_load(&gmi_initialized)) return NULL;
    uintptr_t a = (uintptr_t)p;
    gmi_span_t *s = gmi_span_of(a);
    if (s == NULL) return NULL;
    uintptr_t base;
    if (!(s->spanclass >> 1)) {
        if (!gmi_bit_get(s->alloc_bits, 0)) return NULL;
        base = s->start;
    } else {
        size_t i = gmi_span_slot(s, a);
        base = s->start + i * s->elemsize;
        if (small_slot_state(s, i, base) != NULL) return NULL;
    }
    /* poison mode: a freed object waiting in the quarantine is not live */
    if (gmi_unlikely(gmi_debug_slow) && gmi_debug_quarantined(base)) return NULL;
    return (void *)base;
}

GM_API void *gm_realloc(void *p, size_t size) {
    if (p == NULL) return gm_alloc(size);
    if (gmi_unlikely(!atomic_load_explicit(&gmi_initialized, memory_order_acquire)))
        gmi_init_slow();
    if (gmi_unlikely(gmi_debug_slow & GMI_DEBUG_ALLOC))
        return gmi_debug_realloc(p, size, (uintptr_t)__builtin_return_address(0));
    size_t i;
    const char *why;
    gmi_span_t *s = live_object(p, &i, &why);
    if (s == NULL) {
        gmi_bad_pointer("gm_realloc", p, why);
        return NULL;
    }
    unsigned noscan = s->spanclass & 1;
    size_t old = s->elemsize;
    if (size == 0) {
        /* the new object first: on failure p stays untouched, as the header says */
        void *q = alloc_any(0, noscan);
        if (q == NULL) return NULL;
        if (__atomic_load_n(&s->specials, __ATOMIC_RELAXED) != NULL)
            gmi_specials_free_object(s, i, "gm_realloc", p, false);
        gm_free(p);
        return q;
    }
    if (size > GMI_MAX_ALLOC_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    /* A small object that fits is kept; a large one is kept unless it would waste more
     * than half of its pages. Bytes past the new size are cleared, so that growing it
     * again shows zeros, as the header promises. */
    if (size <= old && ((s->spanclass >> 1) != 0 || size >= old / 2)) {
        memset((char *)p + size, 0, old - size);
        return p;
    }
    void *q = alloc_any(size, noscan);
    if (q == NULL) return NULL;
    memcpy(q, p, size < old ? size : old);
    /* the old object's finalizer, cleanups and weak handle do not follow it (reported) */
    if (__atomic_load_n(&s->specials, __ATOMIC_RELAXED) != NULL)
        gmi_specials_free_object(s, i, "gm_realloc", p, false);
    gm_free(p);
    return q;
}
