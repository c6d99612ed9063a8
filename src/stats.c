/* stats.c: gm_read_memstats, Go's runtime.MemStats for gomem.
 *
 * Counters are cumulative per size class (objects allocated and freed) plus byte
 * counts for large objects, flushed from thread caches on refill. Reading stops the
 * world briefly, as Go's ReadMemStats, to add the counters not yet flushed and read
 * the page heap consistently. Derivations (reference §7):
 *   HeapAlloc = TotalAlloc - freed bytes;   HeapObjects = Mallocs - Frees;
 *   HeapSys = HeapInuse + HeapIdle;         HeapIdle = free + released page bytes;
 *   Sys = HeapSys - HeapReleased + metadata (gomem maps nothing else);
 *   metadata = MSpanSys + MCacheSys + GCSys + BuckHashSys + OtherSys.
 * See gc.c for the collector overview. */
#include "internal.h"

#include <sched.h>
#include "gc_internal.h"
#include "finalizer.h"
#include "debug_modes.h"
#include "profile.h"

#include <string.h>

typedef struct unflushed_s {
    uint64_t mallocs[GMI_NUM_CLASSES], frees[GMI_NUM_CLASSES];
} unflushed_t;

static void add_unflushed(gmi_thread_t *t, void *arg) {
    unflushed_t *u = arg;
    gmi_thread_cache_unflushed(&t->cache, u->mallocs, u->frees);
}

static void any_moving(gmi_thread_t *t, void *arg) {
    if (gmi_thread_cache_moving(&t->cache)) *(bool *)arg = true;
}

/* add_stack_bytes: the stacks of registered threads (StackInuse; the main thread's
 * lower bound may be unknown, then it is not counted). */
static void add_stack_bytes(gmi_thread_t *t, void *arg) {
    if (!t->internal && t->stack_lo != 0 && t->stack_hi > t->stack_lo)
        *(uint64_t *)arg += t->stack_hi - t->stack_lo;
}

static void read_memstats(gm_memstats_t *ms);

GM_API void gm_read_memstats(gm_memstats_t *ms) {
    int cancel = gmi_nocancel_begin(); /* see internal.h */
    read_memstats(ms);
    gmi_nocancel_end(cancel);
}

static void read_memstats(gm_memstats_t *ms) {
    if (ms == NULL) return;
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    (void)gmi_thread_get();
    memset(ms, 0, sizeof(*ms));
    unflushed_t u;
    memset(&u, 0, sizeof(u));

    /* A thread stopped in the middle of loading a word into its cache would be
     * counted with up to 64 allocations it has not made (TotalAlloc then went back at
     * the next read): restart it and look again, a few times at most. */
    for (int tries = 0;; tries++) {
        gmi_lock(&gmi_gc.lock);
        gmi_lock_all();
        gmi_world_stop();
        bool moving = false;
        if (tries < 100) gmi_threads_each(any_moving, &moving);
        if (!moving) break;
        gmi_world_start();
        gmi_unlock_all();
        gmi_unlock(&gmi_gc.lock);
        sched_yield();
    }
    gmi_threads_each_cache(add_unflushed, &u);
    uint64_t stack_bytes = 0;
    gmi_threads_each(add_stack_bytes, &stack_bytes);
    size_t sys, inuse, released, span_inuse, span_sys, other;
    gmi_heap_stats_locked(&sys, &inuse, &released, &span_inuse, &span_sys, &other);
    uint64_t buckets = gmi_profile_buckets_sys_locked();
    uint64_t large_alloc = atomic_load(&gmi_gc.large_alloc_bytes);
    uint64_t large_free = atomic_load(&gmi_gc.large_free_bytes);
    for (int c = 0; c < GMI_NUM_CLASSES; c++) {
        u.mallocs[c] += atomic_load(&gmi_gc.mallocs[c]);
        u.frees[c] += atomic_load(&gmi_gc.frees[c]);
    }
    gmi_world_start();
    gmi_unlock_all();

    uint64_t total_alloc = large_alloc, total_freed = large_free;
    for (int c = 0; c < GMI_NUM_CLASSES; c++) {
        ms->by_size[c].size = gmi_class_to_size[c];
        ms->by_size[c].mallocs = u.mallocs[c];
        ms->by_size[c].frees = u.frees[c];
        ms->mallocs += u.mallocs[c];
        ms->frees += u.frees[c];
        if (c) {
            total_alloc += u.mallocs[c] * gmi_class_to_size[c];
            total_freed += u.frees[c] * gmi_class_to_size[c];
        }
    }
    ms->total_alloc = total_alloc;
    ms->heap_alloc = total_alloc > total_freed ? total_alloc - total_freed : 0;
    ms->alloc = ms->heap_alloc;
    ms->heap_objects = ms->mallocs > ms->frees ? ms->mallocs - ms->frees : 0;
    ms->finalizer_queue_len = gmi_finalizer_stats(&ms->finalizers_queued, &ms->finalizers_run,
                                                  &ms->cleanups_queued, &ms->cleanups_run);
    ms->weak_handles = gmi_weak_count();
    ms->heap_sys = sys;
    ms->heap_inuse = inuse;
    ms->heap_idle = sys - inuse;
    ms->heap_released = released;
    ms->mspan_inuse = span_inuse;
    ms->mspan_sys = span_sys;
    ms->mcache_inuse = (uint64_t)gmi_threads_count() * sizeof(gmi_thread_t);
    ms->mcache_sys = ms->mcache_inuse;
    uint64_t meta = atomic_load(&gmi_meta_sys);
    ms->gc_sys = other;
    uint64_t accounted = span_sys + ms->mcache_sys + other;
    ms->buck_hash_sys =
        meta > accounted ? (meta - accounted < buckets ? meta - accounted : buckets) : 0;
    accounted += ms->buck_hash_sys;
    ms->other_sys = meta > accounted ? meta - accounted : 0;
    ms->sys = (sys - released) + meta;

    ms->next_gc = gmi_gc.pacer.heap_goal;
    ms->last_gc = gmi_gc.last_gc_wall;
    ms->pause_total_ns = gmi_gc.pause_total_ns;
    memcpy(ms->pause_ns, gmi_gc.pause_ns, sizeof(ms->pause_ns));
    memcpy(ms->pause_end, gmi_gc.pause_end, sizeof(ms->pause_end));
    ms->num_gc = gmi_gc.num_gc;
    ms->num_forced_gc = gmi_gc.num_forced_gc;
    ms->stack_inuse = ms->stack_sys = stack_bytes;
    ms->enable_gc = gmi_gc.pacer.gc_percent >= 0 || gmi_gc.pacer.memory_limit != INT64_MAX;
    uint64_t elapsed = gmi_os_nanotime() - gmi_gc.start_ns;
    ms->gc_cpu_fraction =
        elapsed ? (double)gmi_gc.gc_cpu_ns / ((double)elapsed * (gmi_gc.ncpu ? gmi_gc.ncpu : 1))
                : 0;
    gmi_unlock(&gmi_gc.lock);
    gmi_pin_stats(&ms->pinned_objects, &ms->pins);
}
