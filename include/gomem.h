/* gomem.h: the public API of gomem, a garbage-collected heap for C with the design
 * and the knobs of Go's runtime.
 *
 * Every object returned by gm_alloc and friends lives until the collector proves that
 * no pointer to it is left: in the writable data of loaded objects, in the stacks,
 * registers and thread-local storage of the threads gomem knows, in ranges added with
 * gm_add_roots, or inside another live object that was not allocated as noscan.
 * Scanning is conservative: any aligned word that points anywhere inside an object
 * keeps it alive. Objects never move. So that a stale copy in a dead stack frame keeps
 * as little alive as it can, gomem clears the stack its own slow paths and collections
 * used before it returns to the program (as Boehm GC's GC_clear_stack does); a dead
 * frame of the program's own can still hold a stale pointer for a while.
 *
 * Knobs (read at initialization, see docs/environment.md):
 *   GOGC=100|off            heap growth percentage between collections (as Go)
 *   GODEBUG=gctrace=1       one line per collection on stderr, in Go's format
 *   GOMEMDEBUG=abort=1,...  gomem's own debugging switches
 *   GOMEMSIGNAL=N           the signal used to stop threads (default SIGRTMIN+6)
 *
 * Thread safety: every function may be called from any thread. Threads created with
 * pthread_create are registered automatically when the program links libgomem.so
 * (which also wraps dlclose: an unload waits while a collection scans the loaded
 * objects' data, so the static library's users must not dlclose during collections;
 * and the signal-mask calls, which never block the stop signal: see the README);
 * with the static library, or for threads made by other means, gomem registers a
 * thread on its first allocation or collection request, and gm_thread_register makes
 * it visible to the collector before that. Allocation, gm_free and gm_collect run on
 * the caller's stack and need at most 8 KiB of it (tests/stress/test_small_stacks.c);
 * gm_explain and the profile and trace writers need more. */
#ifndef GOMEM_H
#define GOMEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GM_VERSION_MAJOR 0
#define GM_VERSION_MINOR 1
#define GM_VERSION_PATCH 0
#define GM_VERSION       "0.1.0"

#if defined(GM_BUILDING_LIBRARY)
#define GM_API __attribute__((visibility("default")))
#else
#define GM_API
#endif

#if defined(__GNUC__)
#define GM_MALLOC_ATTR       __attribute__((malloc, warn_unused_result))
#define GM_ALLOC_SIZE(n)     __attribute__((alloc_size(n)))
#define GM_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#else
#define GM_MALLOC_ATTR
#define GM_ALLOC_SIZE(n)
#define GM_ALLOC_SIZE2(n, m)
#endif

/* ---------------------------------------------------------------------------------
 * Initialization
 * ------------------------------------------------------------------------------- */

/* gm_init initializes gomem: reads the knobs, registers the calling thread as the
 * main thread and installs the stop-the-world signal handler. Calling it is optional:
 * the first call into gomem does it. Safe to call more than once. */
GM_API void gm_init(void);

/* ---------------------------------------------------------------------------------
 * Allocation
 * ------------------------------------------------------------------------------- */

/* gm_alloc returns a zeroed object of at least size bytes that the collector scans
 * for pointers. Objects of 16 bytes or more are 16-byte aligned, smaller ones 8-byte
 * aligned. gm_alloc(0) returns a unique non-NULL pointer. On failure (size too large,
 * or the OS refuses memory) it returns NULL with errno set to ENOMEM. */
GM_API void *gm_alloc(size_t size) GM_MALLOC_ATTR GM_ALLOC_SIZE(1);

/* gm_alloc_noscan is gm_alloc for objects that hold no pointers (strings, pixel
 * buffers, numbers). The collector never scans them, so a pointer stored inside one
 * does not keep anything alive. Such objects never share a span with scanned ones. */
GM_API void *gm_alloc_noscan(size_t size) GM_MALLOC_ATTR GM_ALLOC_SIZE(1);

/* gm_calloc allocates a zeroed, scanned array of n objects of size bytes each. If
 * n * size overflows it returns NULL with errno ENOMEM. */
GM_API void *gm_calloc(size_t n, size_t size) GM_MALLOC_ATTR GM_ALLOC_SIZE2(1, 2);

/* gm_realloc resizes the object at p (which must be the base of a live object, or
 * NULL) to size bytes, keeping its contents and its scan/noscan kind. If the object
 * is already large enough it is returned as is (a large object, over 32 KiB, is moved
 * when size is under half of it); otherwise a new object is allocated, the contents
 * copied and the old one freed. Bytes past size are zero afterwards.
 * gm_realloc(p, 0) frees p and returns a unique minimal object, like gm_alloc(0).
 * On failure it returns NULL with errno ENOMEM and p is untouched. An invalid p is
 * reported on stderr and NULL is returned. */
GM_API void *gm_realloc(void *p, size_t size) GM_ALLOC_SIZE(2);

/* gm_free frees the object at p at once, without waiting for a collection. p must be
 * the base of a live object or NULL. The caller promises that no pointer to it is used
 * again. Anything else (an interior pointer, a stack or global address, a pointer from
 * malloc, an object already freed) is reported with one line on stderr naming the call
 * and the pointer, and the heap is left intact; GOMEMDEBUG=abort=1 aborts instead.
 * The calling thread keeps up to 64 freed objects (8 KiB) of each size class up to
 * 1 KiB for its next allocations of that class, as a malloc's thread cache does; a
 * thread that frees more of a class than it allocates passes half of them at a time
 * to a list of the class shared by all threads (at most two stacks' worth: 128
 * objects or 16 KiB), where the next thread that runs out of slots of the class
 * takes them first, as tcmalloc's transfer cache. Held objects count as freed (Frees,
 * HeapObjects, HeapAlloc) and as free slots in the size-class report, their spans stay
 * in use (HeapInuse), and they go back to the heap when the holding thread exits (the
 * shared lists: when a thread takes them) or at the next collection, whichever comes
 * first (a thread that stops allocating keeps none of them past it). A second free of
 * such an object is caught like any other: it is tagged with a per-process key while
 * held. Two threads freeing the same object at the same instant (a data race in the
 * program) are not arbitrated. */
GM_API void gm_free(void *p);

/* gm_usable_size returns the number of usable bytes at p (its size class), or 0 if p
 * is not the base of a live gomem object. */
GM_API size_t gm_usable_size(const void *p);

/* gm_base returns the base of the live gomem object that contains p (p may point
 * anywhere inside it), or NULL if p is not inside a live gomem object. */
GM_API void *gm_base(const void *p);

/* ---------------------------------------------------------------------------------
 * Collection
 * ------------------------------------------------------------------------------- */

/* gm_collect runs a full collection and returns when it is done, as runtime.GC():
 * it is counted as forced (NumForcedGC, "(forced)" in gctrace) and finishes sweeping
 * before it returns, so memory freed by it can be reused at once. Not from inside a
 * dl_iterate_phdr callback (nor gm_explain): a collection lists the loaded objects,
 * and another thread's collection may be waiting for the loader lock the callback
 * holds. (Allocation there is fine.) */
GM_API void gm_collect(void);

/* gm_set_gc_percent sets GOGC (as debug.SetGCPercent) and returns the previous value.
 * A negative value turns automatic collection off. The heap goal of the next cycle is
 * recomputed at once. */
GM_API int gm_set_gc_percent(int percent);

/* gm_add_roots makes the collector scan [lo, hi) as a root on every collection, until
 * gm_remove_roots is called with the same lo. Use it for memory the collector does not
 * see: mmap'd regions, malloc'd blocks that hold gomem pointers, and the stacks of
 * coroutines (makecontext, or a stack switch of the program's own): a thread running
 * on one is scanned on all of its own stack, which holds the frames that switched to
 * the coroutine, but not on the coroutine's stack (and heap-profile samples taken on
 * a coroutine's stack carry no stack trace). The bounds are rounded inward to pointer
 * alignment. Returns 0, or -1 with errno set (EINVAL for
 * lo > hi, ENOMEM when the root table cannot grow). */
GM_API int gm_add_roots(void *lo, void *hi);

/* gm_remove_roots removes every range added with gm_add_roots that starts at lo.
 * Returns 0, or -1 with errno EINVAL if none does. */
GM_API int gm_remove_roots(void *lo);

/* ---------------------------------------------------------------------------------
 * Threads
 * ------------------------------------------------------------------------------- */

/* gm_thread_register makes the calling thread known to the collector: its stack,
 * registers and static thread-local storage are scanned as roots from then on. Threads
 * created with pthread_create in a program linked with libgomem.so are registered
 * automatically; with the static library, call it at the start of each thread (or
 * rely on the automatic registration at the thread's first gomem call). Returns 0;
 * registering twice is harmless. Returns -1 with errno ENOMEM if there is no memory
 * for the thread's record: the thread then stays unregistered (its allocations return
 * NULL with ENOMEM, its stack is not scanned except while it collects itself) and
 * every later gomem call of the thread tries again. */
GM_API int gm_thread_register(void);

/* gm_thread_unregister removes the calling thread from the collector's view and
 * returns its cached spans to the central lists. The thread must not hold the only
 * reference to any gomem object afterwards. Called automatically at thread exit. */
GM_API int gm_thread_unregister(void);

/* ---------------------------------------------------------------------------------
 * Statistics (Go's runtime.MemStats)
 * ------------------------------------------------------------------------------- */

#define GM_NUM_SIZE_CLASSES 68 /* class 0 is "large", 1..67 the small classes */

typedef struct gm_size_class_stats_s {
    uint32_t size;    /* object size of the class in bytes (0 for class 0: large) */
    uint64_t mallocs; /* objects allocated in this class since start */
    uint64_t frees;   /* objects freed (explicitly or by sweeping) since start */
} gm_size_class_stats_t;

typedef struct gm_memstats_s {
    /* General */
    uint64_t alloc;       /* = heap_alloc */
    uint64_t total_alloc; /* cumulative bytes allocated (slot sizes); never decreases */
    uint64_t sys;         /* bytes obtained from the OS: heap + metadata (mapped, not released) */
    uint64_t mallocs;     /* cumulative objects allocated */
    uint64_t frees;       /* cumulative objects freed */

    /* Heap */
    uint64_t heap_alloc;    /* bytes in allocated objects, including unswept dead ones */
    uint64_t heap_sys;      /* heap_inuse + heap_idle: address space set aside for the heap */
    uint64_t heap_idle;     /* bytes in spans holding no objects (free or released) */
    uint64_t heap_inuse;    /* bytes in in-use spans */
    uint64_t heap_released; /* idle bytes returned to the OS */
    uint64_t heap_objects;  /* mallocs - frees */

    /* Off-heap */
    uint64_t mspan_inuse;  /* bytes of span structures in use */
    uint64_t mspan_sys;    /* bytes mapped for span structures */
    uint64_t mcache_inuse; /* bytes of thread caches in use */
    uint64_t mcache_sys;   /* bytes mapped for thread caches */
    uint64_t gc_sys;       /* GC metadata: arena maps, bitmaps, mark stacks */
    uint64_t other_sys;    /* other off-heap metadata (metadata = mspan_sys + mcache_sys
                            * + gc_sys + buck_hash_sys + other_sys) */

    /* Collector */
    uint64_t next_gc;        /* current heap goal in bytes */
    uint64_t last_gc;        /* end of the last collection, Unix nanoseconds */
    uint64_t pause_total_ns; /* cumulative stop-the-world time */
    uint64_t pause_ns[256];  /* recent pauses; the newest is at (num_gc + 255) % 256 */
    uint64_t pause_end[256]; /* end of those pauses, Unix nanoseconds */
    uint32_t num_gc;         /* completed cycles */
    uint32_t num_forced_gc;  /* cycles forced by gm_collect */
    double gc_cpu_fraction;  /* share of available CPU used by the GC since start */

    /* Per size class; by_size[0] covers large objects. */
    gm_size_class_stats_t by_size[GM_NUM_SIZE_CLASSES];

    /* Finalizers and cleanups (cumulative), and what is queued to run now. */
    uint64_t finalizers_queued, finalizers_run, cleanups_queued, cleanups_run;
    uint64_t finalizer_queue_len;
    uint64_t weak_handles; /* live weak handles (made and not released) */

    /* Pinning (gm_pin) */
    uint64_t pinned_objects; /* objects with at least one pin */
    uint64_t pins;           /* pins held: gm_pin calls not yet undone */

    /* The rest of Go's MemStats. Stacks are those of the threads registered with
     * gomem; gomem does not map them, so unlike Go they are not part of sys. */
    uint64_t stack_inuse;   /* registered threads' stack reservations (the main thread's,
                               which has no fixed bottom, is not counted) */
    uint64_t stack_sys;     /* = stack_inuse */
    uint64_t buck_hash_sys; /* heap-profile bucket hash table and buckets */
    uint64_t lookups;       /* always 0, as in Go */
    uint32_t enable_gc;     /* 1 unless GOGC=off and no memory limit */
    uint32_t debug_gc;      /* always 0, as in Go */
} gm_memstats_t;

/* gm_read_memstats fills *ms with a consistent snapshot of the heap statistics. It
 * briefly stops the world, as Go's ReadMemStats does. */
GM_API void gm_read_memstats(gm_memstats_t *ms);

/* ---------------------------------------------------------------------------------
 * Pinning and pointer checks
 * ------------------------------------------------------------------------------- */

/* gm_pin keeps the object whose base is obj alive (and in place: gomem never moves
 * objects) while code the collector cannot see holds its address: a kernel buffer,
 * shared memory, a disguised pointer. Everything the object points to stays alive too,
 * as Go's runtime.Pinner. Pins are counted: each gm_pin needs its gm_unpin. Returns 0,
 * or -1 with errno EINVAL (obj is not the base of a live object, reported as a misuse
 * line) or ENOMEM. gm_free of a pinned object drops its pins (GOMEMDEBUG=checkptr=1
 * prints a warning). gm_memstats_t counts pinned objects and pins. */
GM_API int gm_pin(void *obj);

/* gm_unpin removes one pin of obj. Returns 0, or -1 with errno EINVAL (not pinned; one
 * misuse line). */
GM_API int gm_unpin(void *obj);

/* gm_checkptr asserts that the len bytes at p lie inside the object whose base is base
 * (Go's checkptr, written by hand): base must be a live object and p..p+len must not
 * leave it. On a violation it prints one line naming the call, the pointer and the
 * object, then aborts. Always checks, whatever GOMEMDEBUG says; with
 * GOMEMDEBUG=checkptr=1 gomem also checks every pointer passed to gm_free, gm_realloc,
 * gm_usable_size, gm_pin and gm_unpin and aborts on the first bad one. */
GM_API void gm_checkptr(const void *base, const void *p, size_t len);

/* ---------------------------------------------------------------------------------
 * Finalizers, cleanups, weak references, pools, memory limit, scavenger
 * ------------------------------------------------------------------------------- */

/* gm_set_finalizer arranges for fn(obj, arg) to run once, some time after obj (the base
 * of a gomem object) is found unreachable, as Go's runtime.SetFinalizer. It runs on a
 * thread gomem owns (a registered mutator: fn may allocate), never inside an
 * allocation nor with the world stopped. obj and everything it reaches stay alive
 * until fn has run (resurrected for one cycle); the cycle after that frees obj if it
 * is unreachable again. If A reaches B and both have finalizers, A's runs first and
 * B's in a later cycle. Objects in a reference cycle that contains an object with a
 * finalizer are, as in Go, never finalized nor freed (GODEBUG=gctrace=1 warns once).
 * arg is kept alive while the finalizer is set; if arg reaches obj, obj never dies.
 * fn == NULL removes the finalizer; setting one replaces the previous one. Returns 0,
 * or -1 if obj is not the base of a live gomem object (or out of memory).
 * An explicit gm_free of the object, or a gm_realloc that moves it, drops its finalizer
 * and cleanups without running them (reported in one line on stderr: remove them
 * first) and clears its weak handles; they never pass to a later object. */
GM_API int gm_set_finalizer(void *obj, void (*fn)(void *obj, void *arg), void *arg);

/* gm_add_cleanup arranges for fn(arg) to run once after obj becomes unreachable, as
 * Go's runtime.AddCleanup: obj is not passed and not resurrected (it is freed by the
 * same cycle). Several cleanups may be added to one object; they run in no particular
 * order, on the finalizer thread. If obj also has a finalizer, its cleanups run after
 * the finalizer ran and obj became unreachable again. arg is kept alive; if it
 * reaches obj, obj never dies. Returns 0, or -1 if obj is not the base of a live
 * gomem object, fn is NULL or arg == obj. */
GM_API int gm_add_cleanup(void *obj, void (*fn)(void *arg), void *arg);

/* gm_keep_alive marks obj as used at this point of the program, as runtime.KeepAlive:
 * an optimizing compiler cannot drop the last reference to obj before the call, so
 * its finalizer and cleanups cannot run and its weak handles cannot clear earlier. */
GM_API void gm_keep_alive(const void *obj);

/* gm_run_finalizers runs every finalizer and cleanup queued so far on the calling
 * thread and returns how many ran (none if the thread cannot be registered: see
 * gm_thread_register). For programs that want them on a thread of their
 * own: gm_set_finalizer_thread(0) stops gomem's finalizer thread from taking work
 * (1 restores it). Counters: gm_memstats_t's finalizers_* and cleanups_* fields. */
GM_API size_t gm_run_finalizers(void);
GM_API void gm_set_finalizer_thread(int enabled);

/* Weak references, as Go's weak.Pointer. gm_weak_make(p) returns the handle of the
 * object containing p (the same handle for every call on the same object, reference
 * counted), or NULL if p is not in a live gomem object. gm_weak_get returns the
 * object's base while the object is reachable and NULL for ever once a collection
 * has found it unreachable, with no window in which a collected object can be
 * returned (the handle clears before any finalizer of the object is queued).
 * gm_weak_release drops one reference; the handle is freed with the last one. An
 * explicit gm_free of the object (or a gm_realloc that moves it) clears its handle. */
typedef struct gm_weak_s gm_weak_t;
GM_API gm_weak_t *gm_weak_make(void *p);
GM_API void *gm_weak_get(gm_weak_t *h);
GM_API void gm_weak_release(gm_weak_t *h);

/* Pools of reusable objects cleared by the collector, as Go's sync.Pool: a private
 * slot per thread and a sharded shared part that other threads steal from without a
 * global lock. An object put in a pool survives the next collection (as a "victim",
 * still returned by gm_pool_get) and is dropped, and freed if unreachable otherwise,
 * by the one after. Two exceptions: the private slot of a thread that has exited,
 * which no gm_pool_get can reach, is dropped at the next collection; and a pool holds
 * at most one object per thread plus 16 shards of 128 (a put into a full shard drops
 * the object). gm_pool_get returns a pooled object, else new_fn(arg) (or NULL
 * without new_fn). gm_pool_put(pool, NULL) does nothing. Pools are never freed. */
typedef struct gm_pool_s gm_pool_t;
typedef struct gm_pool_stats_s {
    uint64_t objects, bytes;       /* held now (primary and victim) */
    uint64_t gc_objects, gc_bytes; /* held after the last collection dropped the old */
} gm_pool_stats_t;
GM_API gm_pool_t *gm_pool_new(void *(*new_fn)(void *arg), void *arg);
GM_API void *gm_pool_get(gm_pool_t *pool);
GM_API void gm_pool_put(gm_pool_t *pool, void *obj);
GM_API void gm_pool_stats(gm_pool_t *pool, gm_pool_stats_t *st);

/* gm_set_memory_limit sets the soft memory limit in bytes, as debug.SetMemoryLimit,
 * and returns the previous one (INT64_MAX = no limit); a negative value only queries.
 * gomem keeps the memory it maps minus what it has released (heap and metadata)
 * under the limit by collecting more often and by returning free pages to the OS;
 * with GOGC=off the limit alone triggers collections. The limit is soft: when the live
 * heap itself exceeds it, the GC CPU limiter defers collections so that the GC uses
 * at most about half of the CPU time, and the program keeps running above the limit.
 * The initial value comes from GOMEMLIMIT (Go's syntax, or "auto": 90% of the cgroup
 * memory.max). */
GM_API int64_t gm_set_memory_limit(int64_t bytes);

/* gm_set_limit_policy chooses what happens when mapped memory stays above the memory
 * limit for grace_ms milliseconds: GM_LIMIT_KEEP_GOING (default: nothing),
 * GM_LIMIT_CALL (fn(arg) runs once per episode on the finalizer thread; arg is kept
 * alive), GM_LIMIT_ABORT (print a report on stderr and abort). Returns 0, or -1 for
 * an unknown policy or GM_LIMIT_CALL without fn. */
enum { GM_LIMIT_KEEP_GOING = 0, GM_LIMIT_CALL = 1, GM_LIMIT_ABORT = 2 };
GM_API int gm_set_limit_policy(int policy, uint64_t grace_ms, void (*fn)(void *arg), void *arg);

/* gm_free_os_memory runs a collection and returns every free page to the OS at once,
 * as debug.FreeOSMemory; returns the bytes released. A background scavenger otherwise
 * releases free pages by itself, keeping retained memory near the heap goal + 10%
 * (and under 95% of the memory limit) for about 1% of the CPU, and, as in Go, an
 * allocation that grows the heap past that or takes mapped memory over the memory
 * limit releases free pages itself before it returns; GODEBUG=scavtrace=1 prints Go's
 * scavenger line, gm_metrics the bytes released each way (/gomem/scavenge/...). */
GM_API size_t gm_free_os_memory(void);

/* gm_set_madvdontneed chooses how free pages go back to the OS, as Go's
 * GODEBUG=madvdontneed (the initial value): 1 (the default, Go's since 1.16) uses
 * madvise(MADV_DONTNEED), so RSS falls at once; 0 uses MADV_FREE, which is cheaper
 * (no page fault and zeroing when the page is reused before the kernel took it) but
 * RSS falls only when the kernel reclaims the pages under memory pressure. Either way
 * the pages count as released (HeapReleased) at once and the memory limit treats them
 * as returned; gomem zeroes reused pages that may still hold old contents, so objects
 * always start zeroed. A kernel without MADV_FREE falls back to MADV_DONTNEED. A
 * negative value only queries. Returns the previous setting (0 or 1). */
GM_API int gm_set_madvdontneed(int on);

/* ---------------------------------------------------------------------------------
 * Heap profiling (pprof)
 * ------------------------------------------------------------------------------- */
/* @@profile@@ */

/* gomem samples allocations as Go's runtime.MemProfileRate does: on average one
 * sample per rate bytes allocated (slot sizes), at random exponential intervals, each
 * sample recording the allocating call stack (frame-pointer walk, at most 64 frames:
 * compile your code with -fno-omit-frame-pointer for full stacks) and the object's
 * size. Frees of sampled objects (gm_free or the collector) are counted too.
 * Knobs: GOMEMPROFILERATE=bytes (default 524288; 1 samples every allocation, 0 turns
 * sampling off) and GOMEMPROFILE=path (write a heap profile there at exit, after one
 * collection). */

/* gm_set_mem_profile_rate sets the sampling rate in bytes (as runtime.MemProfileRate)
 * and returns the previous one. 0 turns sampling off, 1 records every allocation, a
 * negative value leaves the rate unchanged. As in Go, set it once and early: a thread
 * finishes the sampling interval it has already drawn (except the calling thread, which
 * draws a new one at once), and profiles are unbiased with the rate current when they
 * are written. */
GM_API int64_t gm_set_mem_profile_rate(int64_t bytes);

/* gm_write_heap_profile writes a gzip-compressed pprof protobuf heap profile to path,
 * readable by `go tool pprof` without the binary: four sample types alloc_objects,
 * alloc_space, inuse_objects, inuse_space (estimates unbiased for the sampling rate),
 * the executable mappings of the process, and function names from the ELF symbol
 * tables (file and line from DWARF where present). As in Go, the figures are those
 * published at the end of the last completed collection, so a profile never shows a
 * half-swept heap; call gm_collect() first for an up-to-date profile. Returns 0, or -1
 * with errno set (from open/write, or ENOMEM). Never calls malloc. */
GM_API int gm_write_heap_profile(const char *path);

/* ---------------------------------------------------------------------------------
 * GC event trace and reports
 * ------------------------------------------------------------------------------- */
/* @@trace@@ */

/* gm_trace_start starts a GC event trace written to path in the Chrome trace event
 * JSON format, which Perfetto (ui.perfetto.dev) and chrome://tracing open: every
 * cycle as a span with its phases (sweep termination, stop the world, mark, mark
 * termination) on the thread that ran it, a "stopped" span on every thread it stopped,
 * the background sweeper's batches, counters for heap live, heap goal, heap in use,
 * heap released and RSS, and instant events for forced cycles and the scavenger.
 * Events are buffered in gomem's own memory and written with write(2) after each
 * cycle's world restart (never while the world is stopped). GOMEMTRACE=path starts a
 * trace at initialization and ends it at exit. Returns 0, or -1 with errno set (EBUSY
 * if a trace is already running, or from open). */
GM_API int gm_trace_start(const char *path);

/* gm_trace_stop writes the buffered events, closes the JSON document and the file.
 * Returns 0, or -1 with errno set (EINVAL if no trace runs, EIO on a write error). */
GM_API int gm_trace_stop(void);

/* Occupancy of one size class (gm_read_size_classes), summed over its scanned and
 * noscan spans; class 0 is large objects (one per span). Bytes unless named objects. */
typedef struct gm_size_class_usage_s {
    uint32_t size;                                   /* object size of the class (0: large) */
    uint64_t spans;                                  /* in-use spans */
    uint64_t full_spans, partial_spans, empty_spans; /* by allocated slots */
    uint64_t objects;          /* allocated slots (not yet swept dead objects included) */
    uint64_t capacity_objects; /* slots in those spans */
    uint64_t capacity_bytes;   /* capacity_objects x size */
    uint64_t inuse_bytes;      /* objects x size */
    uint64_t free_slot_bytes;  /* capacity - in use: lost to partly empty spans */
    uint64_t tail_waste_bytes; /* span bytes that cannot hold an object (internal fragmentation) */
    uint64_t span_bytes;       /* pages of the spans */
} gm_size_class_usage_t;

/* gm_read_size_classes fills out[0..GM_NUM_SIZE_CLASSES) from a walk of every in-use
 * span with the world briefly stopped. Call gm_collect() first for live figures. */
GM_API void gm_read_size_classes(gm_size_class_usage_t out[GM_NUM_SIZE_CLASSES]);

/* gm_write_size_class_report prints one line per size class in use (spans, partly
 * empty and empty spans, objects, capacity, bytes in use, bytes lost to partly empty
 * spans and to span tails, occupancy), the large objects, and totals: the numbers that
 * show a fragmented heap. Writes to out after the world restarted. Returns 0, or -1 on
 * a write error. */
GM_API int gm_write_size_class_report(FILE *out);

/* One metric of gm_metrics, named as Go's runtime/metrics (/memory/classes/...,
 * /gc/...). The /memory/classes/ entries partition the memory gomem obtained from the
 * OS: /memory/classes/total:bytes == gm_memstats_t.sys. Unlike Go, gomem's Sys leaves
 * out released pages and thread stacks (gomem maps neither): heap/released is reported
 * but not part of the total, and stacks known to gomem are /gomem/threads/stacks:bytes. */
typedef struct gm_metric_s {
    const char *name; /* static string */
    uint64_t value;
} gm_metric_t;

/* gm_metrics fills out[0..n) with the first n metrics and returns how many there are
 * (call with n = 0 to size the array). It reads gm_read_memstats once. */
GM_API size_t gm_metrics(gm_metric_t *out, size_t n);

/* gm_metric_read reads one metric by name. Returns 0, or -1 with errno ENOENT. */
GM_API int gm_metric_read(const char *name, uint64_t *value);

/* gm_explain answers "why is this object still alive?": it prints to out a shortest
 * chain of references from a root to the object holding ptr (ptr may point anywhere
 * inside it): the root by kind (a global with its symbol and object file, a gm_add_roots
 * range, a thread's stack with the function of the frame, a register of a stopped
 * thread, thread-local storage, a pin, the finalizer queue, a finalizer's argument, a
 * pool, an unreachable object whose finalizer is pending), then each object on the way
 * with its base, size, the offset of the referencing word and, when the heap profile
 * sampled it, its allocation site. The search runs on a consistent heap, with the
 * world stopped as in a collection (it costs about one full mark); the text is written
 * after the world restarted. The caller's own registers and gm_explain's frames are
 * not roots, but the caller's frames are: a copy of ptr in a local variable of the
 * caller is a valid answer.
 * Returns 0 when a chain was printed, 1 if the object is unreachable (the next
 * collection frees it, or queues its finalizer), -1 with errno EINVAL if ptr is not in
 * a live gomem object. */
GM_API int gm_explain(const void *ptr, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* GOMEM_H */
