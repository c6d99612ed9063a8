/* types.h: every internal structure of gomem, with its invariants.
 *
 * Glossary (as Go's runtime uses the words):
 *   page        an 8 KiB heap page (GMI_PAGE_SIZE), not the 4 KiB OS page;
 *   arena       a 64 MiB aligned region of address space the page heap carves pages from;
 *   span        a run of pages holding objects of one span class, or one large object,
 *               or (state FREE) a run of free pages owned by the page heap;
 *   size class  one of Go's 67 object sizes (1..67); class 0 means "large";
 *   span class  size class << 1 | noscan: scanned and pointer-free objects never share a span;
 *   slot        one object position in a span, index 0 .. nelems-1;
 *   sweepgen    the sweep generation; the heap's moves by 2 at every collection.
 *
 * See malloc.c for the allocator overview and gc.c for the collector overview. */
#ifndef GMI_TYPES_H
#define GMI_TYPES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* ---------------------------------------------------------------------------------
 * Locks
 * ------------------------------------------------------------------------------- */

/* gmi_lock_t is a plain mutex. Every gomem lock is registered in the lock order of
 * gc.c and taken by gmi_lock_all() before the world is stopped and before fork(), so
 * that no stopped thread (and no child process) is left holding one. A lock fills a
 * cache line of its own: taking it must not evict what the fast paths read next to it
 * (the heap bounds and arena map sat on the heap lock's last line). */
typedef struct gmi_lock_s {
    pthread_mutex_t m;
} __attribute__((aligned(64))) gmi_lock_t;

/* ---------------------------------------------------------------------------------
 * Spans
 * ------------------------------------------------------------------------------- */

typedef enum gmi_span_state_e {
    GMI_SPAN_DEAD = 0,  /* struct not describing any memory (on the fixalloc free list) */
    GMI_SPAN_FREE = 1,  /* free pages owned by the page heap */
    GMI_SPAN_INUSE = 2, /* objects: small (spanclass >> 1 != 0) or one large object */
} gmi_span_state_t;

/* Which list of its central a span is on (GMI_LIST_NONE when cached or free). The
 * "swept" and "unswept" sets swap roles every cycle through (sweepgen / 2) % 2, as in
 * Go's mcentral: index 0 or 1 below is the set, not its meaning. */
enum {
    GMI_LIST_NONE = 0,
    GMI_LIST_PARTIAL0,
    GMI_LIST_PARTIAL1,
    GMI_LIST_FULL0,
    GMI_LIST_FULL1,
    GMI_LIST_HEAPFREE, /* on a page-heap free list */
};

/* Allocation kinds. Only NORMAL (scanned) and NOSCAN exist today; the field leaves
 * room for typed objects (a pointer bitmap per object, Boehm's explicitly typed
 * allocation) and client kinds without changing the span layout. */
enum {
    GMI_KIND_NORMAL = 0,
    GMI_KIND_NOSCAN = 1,
};

typedef struct gmi_span_s gmi_span_t;

/* gmi_span_t describes a run of pages.
 *
 * Invariants for an INUSE span with nelems slots:
 *   alloc_bits[i] == 1  <=>  slot i holds an object handed out and not freed, except that
 *                            slots with a pending_bits bit set are freed but not yet drained;
 *   free slots in a swept span are zero unless needzero;
 *   mark_bits are all zero outside a collection's mark phase and its sweep, and are only
 *   meaningful for spans with sweepgen == heap sweepgen - 2 (unswept) after mark;
 *   sweepgen (sg = heap sweepgen):  sg-2 needs sweeping; sg-1 being swept; sg swept;
 *                                   sg+3 cached by a thread cache and swept.
 *   A cached span is always swept: the collector sweeps cached spans itself while the
 *   world is stopped (see gc.c), so the state sg+1 of Go never persists.
 * For a FREE span: arena->spans[] maps its first and last page to it (for coalescing). */
struct gmi_span_s {
    /* First cache line: what gm_free reads (and the marker, but for mark_bits), written
     * only when the span is set up (and reuse_tagged once), so that a free never waits
     * for a line another thread has just written. The fields that change while the span is in use
     * follow on the second line. Spans are 128 bytes apart, 64-byte aligned (meta.c). */
    uintptr_t start;       /* first byte (page aligned) */
    size_t elemsize;       /* object size; npages * page size for a large span */
    uintptr_t limit;       /* start + nelems * elemsize: end of the object area */
    uint32_t divmul;       /* slot index = (offset * divmul) >> 32 (Lemire's fast division) */
    uint16_t nelems;       /* slots in the span (1 for a large span) */
    uint16_t nwords;       /* 64-bit words in each bitmap */
    uint8_t spanclass;     /* size class << 1 | noscan */
    uint8_t kind;          /* GMI_KIND_*: room for typed objects later */
    _Atomic uint8_t state; /* gmi_span_state_t, published last */
    uint8_t large_zeroed;  /* large span: came from released pages, already zero */
    uint8_t reuse_tagged;  /* an object of it went on a reuse stack (malloc.c, 7a):
                              its sweep must not count tagged dead objects again */
    uint64_t *alloc_bits;  /* nwords words each; the three bitmaps are one block */
    _Atomic uint64_t *pending_bits; /* frees by threads that do not own the span */
    void *specials;                 /* reserved: finalizers, weak handles, profile records */

    /* Second cache line */
    gmi_span_t *next, *prev; /* links on a central or page-heap list */
    size_t npages;
    uint64_t *mark_bits;
    const void *layout;  /* reserved: per-object pointer layout for typed allocation */
    uint64_t alloc_time; /* large spans: when allocated (profiling); otherwise 0 */
    _Atomic uint32_t sweepgen;
    uint16_t alloc_count;   /* allocated slots; exact when not cached (cached: at cache time) */
    uint8_t list;           /* GMI_LIST_*: which list the span is on */
    uint8_t needzero;       /* free slots may hold garbage and must be zeroed on use */
    _Atomic uint8_t cached; /* 1 while a thread cache allocates from it */
    _Atomic uint8_t has_pending; /* some pending_bits may be set */
    uint16_t freeindex;          /* Go's freeindex: every slot below it is allocated (set when a
                                    cache hands the span back; lowered by whatever frees below
                                    it: the sweep, a drain). A cache starts its search here. */
};
_Static_assert(offsetof(struct gmi_span_s, next) == 64, "gmi_span_t: read-mostly first line");
_Static_assert(sizeof(struct gmi_span_s) <= 128, "gmi_span_t: two lines");

/* ---------------------------------------------------------------------------------
 * Arenas and the page heap
 * ------------------------------------------------------------------------------- */

/* gmi_arena_t is the off-heap metadata of one 64 MiB arena.
 * Invariant: spans[p] is the span covering page p if it is INUSE; for a FREE span only
 * its first and last page are guaranteed to map to it; other entries may be stale or
 * NULL, so a lookup always checks that the address lies inside the span it found. */
typedef struct gmi_arena_s {
    uintptr_t base; /* first byte, 64 MiB aligned */
    size_t mapped;  /* bytes from base handed to the page heap so far */
    struct gmi_arena_s *next;
    uint64_t released[GMI_PAGES_PER_ARENA / 64]; /* page is released to the OS (or never used) */
    uint64_t lazy[GMI_PAGES_PER_ARENA / 64];     /* released with MADV_FREE: may still hold
                                                    its old contents; lazy => released */
    gmi_span_t *spans[GMI_PAGES_PER_ARENA];
} gmi_arena_t;

/* ---------------------------------------------------------------------------------
 * Thread caches
 * ------------------------------------------------------------------------------- */

/* gmi_cache_entry_t: a thread's allocation state for one span class. The fast path
 * touches only free_mask, base and elemsize, and sets one bit through wordp.
 * Invariants: free_mask has a 1 for each slot of the current 64-slot word that this
 * thread may hand out; those slots have alloc bit 0. Slot b of the word is at
 * base + b * elemsize. free_mask == 0 sends allocation to the slow path.
 * Signal safety: the collector reads these fields of a stopped thread but never writes
 * free_mask, so a thread stopped anywhere in the fast path resumes consistently
 * (see malloc.c, "The fast path and stopping the world"). */
typedef struct gmi_cache_entry_s {
    uint64_t free_mask; /* accessed with relaxed atomics: see malloc.c */
    uintptr_t base;     /* address of slot word * 64 */
    size_t elemsize;
    uint64_t *wordp;  /* &span->alloc_bits[word] */
    gmi_span_t *span; /* NULL when nothing is cached */
    uint32_t word;    /* current bitmap word */
    uint8_t needzero; /* copy of span->needzero at word load */
    uint8_t rescan;   /* slots behind the current word were freed: rescan on refill */
    uint16_t nreuse;  /* objects in the thread's reuse stack of this class (malloc.c) */
    uint64_t held;    /* free slots of the current word kept from the fast path: the
                         first is the heap profile's next sample (malloc.c) */
    uint64_t nmalloc; /* slots loaded into this entry (counted as allocated when
                         loaded, less those dropped unallocated), not yet flushed */
    uint64_t nfree;   /* objects freed locally through this entry, not yet flushed */
} gmi_cache_entry_t;

typedef struct gmi_thread_cache_s {
    gmi_cache_entry_t alloc[GMI_NUM_SPAN_CLASSES];
    int64_t next_sample; /* bytes until the next heap-profile sample, charged a word at a
                            time (malloc.c, charge_word) */
    uint64_t nlarge_alloc, nlarge_free; /* not yet flushed */
    uint64_t large_alloc_bytes;
    uint64_t live_debt;   /* bytes freed remotely from uncached spans, not yet taken off
                             heap_live (malloc.c); void once a cycle recomputes heap_live */
    uint64_t reuse_epoch; /* gmi_reuse_epoch when the stacks were last emptied: they
                             are valid only while the two are equal (malloc.c, 7a) */
    uint32_t moving_word; /* a word load or drop is under way: an entry's nmalloc and
                             free_mask may disagree (thread_cache.c; stats.c waits) */
    /* reuse[spc][0 .. alloc[spc].nreuse): objects freed by this thread from spans it
     * does not cache, kept allocated and handed out again first (malloc.c). Not roots:
     * the next collection frees them, and the stacks go stale with its epoch. */
    void *reuse[GMI_REUSE_SPAN_CLASSES][GMI_REUSE_SLOTS];
} gmi_thread_cache_t;

/* ---------------------------------------------------------------------------------
 * Threads (threads.c owns the registry fields)
 * ------------------------------------------------------------------------------- */

typedef struct gmi_thread_s gmi_thread_t;
struct gmi_thread_s {
    gmi_thread_cache_t cache; /* first: the allocation fast path reads it */

    /* --- threads.c --- */
    gmi_thread_t *next, *prev; /* registry list, under gmi_threads_lock */
    pthread_t pthread;
    pid_t tid;
    uintptr_t stack_lo, stack_hi; /* the thread's stack: scanned from sp to stack_hi */
    uintptr_t tls_lo, tls_hi;     /* static TLS block and thread descriptor (may be empty) */
    _Atomic uintptr_t stop_sp;    /* stack pointer saved by the suspend handler */
    _Atomic int stop_state;       /* handshake with the stopper: see threads.c */
    _Atomic int exiting;          /* set while the thread unregisters */
    int internal;                 /* gomem's own worker: never stopped nor scanned */
    int auto_registered;          /* registered on first use, not by create/register */
    int is_main;                  /* the initial thread: stack bounds from /proc/self/maps */
    int service;                  /* gomem's finalizer thread or last-thread watcher:
                                     stopped and scanned, but it does not keep the
                                     process alive (threads.c) */
    uintptr_t alt_lo, alt_hi;     /* sigaltstack the thread was stopped on, else 0 */
    uintptr_t alt_sp;             /* on a sigaltstack: the sp it interrupted (ucontext) */
    uintptr_t spill[24];          /* registers spilled by gmi_gc_enter (scanned as a root) */
    uintptr_t gc_entry_sp;        /* sp where it entered a collection (gmi_gc_enter), else 0 */
    void *pool_local;             /* pool.c: this thread's private pool slots, or NULL */
};

#endif
