/* finalizer.h: the collector's hooks into finalizers, cleanups and weak handles
 * (finalizer.c, weak.c), pools (pool.c), the GC CPU limiter (limiter.c) and the
 * scavenger (scavenger.c). Each hook names the point of collect_locked (gc.c) that
 * calls it. See gc.c for the collector overview and its lock order. */
#ifndef GMI_FINALIZER_H
#define GMI_FINALIZER_H

#include "internal.h"
#include "gc_internal.h"

#pragma GCC visibility push(hidden) /* see internal.h */

/* Special kinds beside profile.h's GMI_SPECIAL_PROFILE (same per-span lists, same
 * lock: gmi_profile_lock). */
enum {
    GMI_SPECIAL_FINALIZER = 2, /* bucket: the gmi_fin_t */
    GMI_SPECIAL_CLEANUP = 3,   /* bucket: the first gmi_fin_t of the object's cleanups */
    GMI_SPECIAL_WEAK = 4,      /* bucket: the gmi_weak_handle_t */
};

/* finalizer.c. gmi_finq_lock protects the queue of finalizers and cleanups to run; in
 * the lock order it comes after gmi_profile_lock. */
extern gmi_lock_t gmi_finq_lock;
/* At @@hook:after_mark@@ (world stopped, every lock held): marks pool contents, the
 * queued finalizers' objects and every record's arg, clears weak handles of dead
 * objects, queues finalizers (resurrecting their objects) and cleanups. Adds what it
 * marked to mr. */
void gmi_specials_after_mark(gmi_mark_result_t *mr);
/* At @@hook:after_world_start@@: wakes the finalizer thread if work is queued. */
void gmi_finalizer_wake(void);
void gmi_finalizer_fork_child(void);
/* Start the finalizer thread now (from the public API, not from the collector). */
void gmi_finalizer_start(void);
/* Queue fn(arg) to run on the finalizer thread (as a cleanup); no gomem lock held. */
void gmi_finalizer_queue_call(void (*fn)(void *arg), void *arg);
uint64_t gmi_finalizer_stats(uint64_t *queued, uint64_t *run, uint64_t *cleanups_queued,
                             uint64_t *cleanups_run);

/* gmi_specials_free_object: the explicit free (call: gm_free, or gm_realloc moving
 * it) of the object p in slot of s, whose span has specials: its heap profile record
 * counts the free, its finalizer and cleanups are dropped without running (a misuse,
 * reported in one line: left on the slot they passed to the next object allocated
 * there), and its weak handle is cleared (reads NULL). profile false keeps the profile
 * record (poison mode reads the allocation site from it until the quarantine frees the
 * object). No gomem lock held. */
void gmi_specials_free_object(gmi_span_t *s, size_t slot, const char *call, const void *p,
                              bool profile);

/* weak.c: called from gmi_specials_after_mark. */
void gmi_weak_clear_dead_locked(void);
/* the weak handle of slot of s, if any, reads NULL from now on (gmi_profile_lock) */
void gmi_weak_free_object_locked(gmi_span_t *s, size_t slot);
uint64_t gmi_weak_count(void);

/* pool.c. gmi_pool_lock protects the pool registry and per-thread tables; it comes
 * after gmi_finq_lock. Shard locks are leaves, never taken by the collector. */
extern gmi_lock_t gmi_pool_lock;
void gmi_pool_stw_start(void);       /* @@hook:stw_start@@: primary -> victim -> dropped */
void gmi_pool_mark(uint64_t *bytes); /* from gmi_specials_after_mark */
void gmi_pool_fork_prepare(void);    /* after gmi_lock_all: every shard lock */
void gmi_pool_fork_parent(void);     /* before gmi_unlock_all */
void gmi_pool_fork_child(void);

/* limiter.c: the GC CPU limiter (Go's gcCPULimiter, a leaky bucket). */
/* Account one finished cycle's GC CPU time (ns x procs) at @@hook:after_world_start@@. */
/* gmi_finalizer_popped_hook, when set (tests), runs in gm_run_finalizers between
 * taking a record off the queue and running it: a collection there must not free the
 * record's object or arg. */
extern void (*gmi_finalizer_popped_hook)(void);
void **gmi_limiter_arg_cell(void); /* a root: gm_set_limit_policy's arg */
void gmi_limiter_cycle_done(uint64_t gc_cpu_ns, uint64_t now_ns);
/* gmi_limiter_allow: may a paced cycle start now? limit_bound: the heap goal comes from
 * the memory limit (only then can the answer be no). */
bool gmi_limiter_allow(uint64_t now_ns, bool limit_bound);
uint64_t gmi_limiter_engagements(void);
/* gmi_limiter_limiting: is the limiter on (read without a lock)? Allocation-time
 * scavenging for the memory limit is skipped meanwhile, as in Go. */
bool gmi_limiter_limiting(void);
/* Policy when the memory limit has not been held for the configured time. */
void gmi_limiter_check_policy(uint64_t now_ns, uint64_t mapped_ready, int64_t limit);

/* scavenger.c */
void gmi_scavenger_wake(void); /* @@hook:after_world_start@@ */
void gmi_scavenger_fork_child(void);
/* Bytes released since start: by the background pacing, without pacing (over the
 * limit, gm_free_os_memory, allocations), and the part of eager released by allocations. */
void gmi_scavenger_stats(uint64_t *bg, uint64_t *eager, uint64_t *assist);

#pragma GCC visibility pop

#endif
