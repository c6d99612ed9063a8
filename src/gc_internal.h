/* gc_internal.h: the collector's shared state (one struct, as Go's gcController and
 * memstats), used by the allocator for accounting and by gc.c, mark.c and sweep.c.
 * See gc.c for the collector overview. */
#ifndef GMI_GC_INTERNAL_H
#define GMI_GC_INTERNAL_H

#include "internal.h"
#include "pacer.h"

#pragma GCC visibility push(hidden) /* see internal.h */

typedef struct gmi_gc_s {
    _Atomic uint32_t sweepgen; /* moves by 2 at every mark termination */
    /* heap_live: the pacer's view of the heap, as Go's heapLive: bytes marked by the
     * last cycle, plus whole cached spans' free slots, plus spans and large objects
     * allocated since. Compared against trigger on every slow path. */
    _Atomic uint64_t heap_live;
    _Atomic uint64_t trigger;
    gmi_pacer_t pacer;
    gmi_lock_t lock; /* serializes collections; taken before gmi_lock_all */

    /* cumulative counters, flushed from thread caches */
    _Atomic uint64_t mallocs[GMI_NUM_CLASSES]; /* [0]: large objects */
    _Atomic uint64_t frees[GMI_NUM_CLASSES];
    _Atomic uint64_t large_alloc_bytes, large_free_bytes;

    /* per-cycle records */
    uint32_t num_gc, num_forced_gc;
    uint64_t pause_total_ns;
    uint64_t pause_ns[256], pause_end[256];
    uint64_t last_gc_wall;
    uint64_t gc_cpu_ns; /* CPU time of collections (stop-the-world time x procs) */
    uint64_t start_ns;  /* monotonic time at initialization */
    uint64_t heap_marked, heap_scan, stack_scan, globals_scan;
    uint64_t cached_free_at_gc; /* free bytes in thread caches at the last mark termination */
    int ncpu;
    int mark_workers;
    _Atomic uint32_t cycle_seq; /* collections ended: bumped before the gate is given back */
} gmi_gc_t;

extern gmi_gc_t gmi_gc;

/* gmi_heap_live_sub lowers heap_live without wrapping below zero (the estimate can
 * only overshoot downward by frees counted before a cycle reset it). */
static inline void gmi_heap_live_sub(uint64_t n) {
    uint64_t old = atomic_load_explicit(&gmi_gc.heap_live, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&gmi_gc.heap_live, &old, old > n ? old - n : 0,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* gmi_cache_pay_live_debt takes a thread cache's batched remote frees off heap_live. */
static inline void gmi_cache_pay_live_debt(gmi_thread_cache_t *c) {
    gmi_heap_live_sub(c->live_debt);
    c->live_debt = 0;
}

/* span.c */
size_t gmi_span_sweep(gmi_span_t *s);
size_t gmi_span_sweep_stw(gmi_span_t *s);
size_t gmi_span_drain_pending(gmi_span_t *s);

/* central.c */
void gmi_central_publish_large(gmi_span_t *s);
bool gmi_central_remove_large(gmi_span_t *s);
bool gmi_central_sweep_one(unsigned spc, size_t *freed);
void gmi_central_each_locked(unsigned spc, void (*fn)(gmi_span_t *s, int swept, void *arg),
                             void *arg);

/* page_heap.c */
gmi_span_t *gmi_heap_alloc_span_locked(size_t npages, unsigned spanclass, bool *zeroed);
size_t gmi_heap_release_locked(size_t max_bytes);
size_t gmi_heap_unreleased_free_locked(void); /* free bytes not released */
void gmi_heap_stats_locked(size_t *sys, size_t *inuse, size_t *released, size_t *span_inuse,
                           size_t *span_sys, size_t *other);
const char *gmi_heap_check_locked(void);
void gmi_heap_each_span_locked(void (*fn)(gmi_span_t *s, void *arg), void *arg);

/* scavenger.c: allocation-time scavenging, called by gmi_heap_alloc_span */
size_t gmi_scavenger_alloc_todo_locked(size_t retained_before, size_t committed, size_t growth);
void gmi_scavenger_assist(size_t bytes);

/* mark.c */
typedef struct gmi_mark_result_s {
    uint64_t marked_bytes, heap_scan_bytes, stack_bytes, global_bytes;
} gmi_mark_result_t;
void gmi_mark_init(void);
/* gmi_gc_snapshot_hook, when set (tests), runs in a collection between the roots
 * snapshot and the stop of the world. */
extern void (*gmi_gc_snapshot_hook)(void);
void gmi_mark_start_helpers(void);         /* world running, before gmi_lock_all */
void gmi_mark_run(gmi_mark_result_t *out); /* world stopped, all locks held */
extern size_t gmi_mark_stack_max;          /* testing: cap on mark stack entries (0 = none) */
extern uint64_t gmi_mark_overflow_passes;  /* heap rescans after mark stack overflows */
void gmi_mark_more(void (*gen)(void (*push)(uintptr_t lo, uintptr_t hi, void *pa), void *pa,
                               void *arg),
                   void *arg, uint64_t *bytes);
bool gmi_obj_is_marked(uintptr_t obj);

/* sweep.c */
uint64_t gmi_sweep_cached_spans_stw(void);
void gmi_sweeper_wake(void);
void gmi_sweep_init(void);

/* thread_cache.c */

/* os_linux.c */
void gmi_os_set_fault_injection(long fail_mmap_at, long fail_madvise_at);
uint64_t gmi_os_process_cputime(void);

/* thread_cache.c (more) */
bool gmi_cache_next_word(gmi_cache_entry_t *e);
bool gmi_cache_refill(gmi_cache_entry_t *e, unsigned spc);
bool gmi_thread_cache_moving(const gmi_thread_cache_t *c); /* a word load/drop under way */
void gmi_thread_cache_unflushed(gmi_thread_cache_t *c, uint64_t *mallocs, uint64_t *frees);

/* testing: helpers that wake for a mark wait while this is set, as if not scheduled */
extern _Atomic int gmi_mark_hold_helpers;

/* fork support */
void gmi_mark_fork_child(void);
void gmi_sweep_fork_child(void);

/* verify.c */
void gmi_verify_stw(int before_mark);
/* gmi_verify_heap takes the locks, stops the world and runs gmi_verify_stw(0). */
void gmi_verify_heap(void);

/* gc.c */
void gmi_fork_child_hook(void);
void gmi_bad_pointer(const char *call, const void *p, const char *why);

#pragma GCC visibility pop

#endif
