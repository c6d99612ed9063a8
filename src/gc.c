/* gc.c: the collector. This comment is the overview of gomem's collector.
 *
 * gomem collects with a non-moving, conservative mark-sweep in the design of Go's
 * runtime (reference §1.3, §3.3, §5), adapted to C, which gives no write barrier and
 * no stack maps:
 *
 *  1. Trigger. The allocation slow path compares heap_live with the pacer's trigger
 *     (pacer.c: Go 1.18+ goal M + (M+S+G) x GOGC/100, floor 4 MiB x GOGC/100, and the
 *     GOMEMLIMIT goal). gm_collect forces a cycle.
 *  2. Sweep termination (world running). The collector finishes sweeping the previous
 *     cycle's spans, and snapshots the writable segments of loaded objects (roots.c)
 *     before taking locks, because dl_iterate_phdr takes the loader's lock.
 *  3. Stop the world. It takes every gomem lock in the order below (so that no thread
 *     is stopped holding one) and stops every registered thread with a signal
 *     (threads.c); each thread saves its stack pointer, so its registers are in the
 *     signal frame on its stack.
 *  4. Mark (world stopped). Roots are each thread's stack from its saved stack pointer
 *     to its base and its static TLS, the data and bss of every loaded object, and the
 *     ranges from gm_add_roots. Marking is conservative and parallel (mark.c): the
 *     collector and gmi_gc.mark_workers - 1 helper threads drain explicit mark stacks.
 *  5. Mark termination (world stopped). sweepgen += 2 turns every listed span into an
 *     unswept one; spans held by thread caches are swept at once (sweep.c), so a thread
 *     resumes with swept spans and never allocates into a span with stale marks.
 *     heap_live becomes the marked bytes plus the cached spans' free slots, and the
 *     pacer computes the next goal and trigger.
 *  6. Start the world, release the locks, print the gctrace line.
 *  7. Sweep (world running): lazily by allocation and by a background sweeper.
 *
 * Because marking happens with the world stopped, gctrace's concurrent-mark fields are
 * 0 and all the marking time is in the stop-the-world fields: W1 = stopping the threads,
 * W3 = marking and mark termination (see docs/environment.md). The design keeps mark
 * state per span and the phases explicit so that a concurrent mark with a write
 * barrier or dirty-page tracking can be added between steps 3 and 5 later.
 *
 * Lock order (a thread holding a lock may only take locks below it):
 *     gmi_gc.lock            one collection at a time
 *     gmi_roots_lock         root ranges (roots.c)
 *     gmi_threads_lock       thread registry (threads.c)
 *     gmi_central_locks[i]   in increasing i (central.c)
 *     gmi_heap_lock          page heap (page_heap.c)
 *     gmi_profile_lock       heap profile buckets and specials (profile.c)
 *     gmi_evtrace_lock       GC event trace buffer (evtrace.c)
 *     gmi_quarantine_lock    poison quarantine (debug_modes.c)
 *     gmi_pin_lock           pin table (pin.c)
 *     gmi_finq_lock          queue of finalizers and cleanups to run (finalizer.c)
 *     gmi_pool_lock          pool registry, per-thread pool tables (pool.c); pool shard
 *                            locks are leaves the collector never takes. Weak handles and
 *                            finalizer records are under gmi_profile_lock (specials).
 *     meta lock              metadata chunks (meta.c), taken inside any of the above
 * gmi_lock_all takes all but the first; the collector and fork() take them all.
 *
 * References: Go's mgc.go and mgcsweep.go (phases, sweepgen), mgcpacer.go (pacing);
 * Boehm and Weiser 1988 (conservative collection); Boehm's mark-stack overflow
 * recovery (mark.c). */
#include "internal.h"
#include "gc_internal.h"
#include "gctrace.h"
#include "evtrace.h"
#include "debug_modes.h"
#include "profile.h"
#include "finalizer.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <unistd.h>

gmi_gc_t gmi_gc GMI_STATE = {.lock = {PTHREAD_MUTEX_INITIALIZER}};

/* ---------------------------------------------------------------------------------
 * Locks
 * ------------------------------------------------------------------------------- */

void gmi_lock_all(void) {
    gmi_lock(&gmi_roots_lock);
    gmi_lock(&gmi_threads_lock);
    for (int i = 0; i < GMI_NUM_SPAN_CLASSES; i++)
        gmi_lock(&gmi_central_locks[i]);
    gmi_lock(&gmi_heap_lock);
    gmi_lock(&gmi_profile_lock);
    gmi_lock(&gmi_evtrace_lock);
    gmi_lock(&gmi_quarantine_lock);
    gmi_lock(&gmi_pin_lock);
    gmi_lock(&gmi_finq_lock);
    gmi_lock(&gmi_pool_lock);
}

void gmi_unlock_all(void) {
    gmi_unlock(&gmi_pool_lock);
    gmi_unlock(&gmi_finq_lock);
    gmi_unlock(&gmi_evtrace_lock);
    gmi_unlock(&gmi_pin_lock);
    gmi_unlock(&gmi_quarantine_lock);
    gmi_unlock(&gmi_profile_lock);
    gmi_unlock(&gmi_heap_lock);
    for (int i = GMI_NUM_SPAN_CLASSES - 1; i >= 0; i--)
        gmi_unlock(&gmi_central_locks[i]);
    gmi_unlock(&gmi_threads_lock);
    gmi_unlock(&gmi_roots_lock);
}

void gmi_lock_reinit_all_child(void) {
    gmi_lock_init(&gmi_gc.lock);
    gmi_lock_init(&gmi_dl_gate);
    gmi_lock_init(&gmi_roots_lock);
    gmi_lock_init(&gmi_threads_lock);
    for (int i = 0; i < GMI_NUM_SPAN_CLASSES; i++)
        gmi_lock_init(&gmi_central_locks[i]);
    gmi_lock_init(&gmi_heap_lock);
    gmi_lock_init(&gmi_profile_lock);
    gmi_evtrace_fork_child();
    gmi_lock_init(&gmi_quarantine_lock);
    gmi_lock_init(&gmi_pin_lock);
    gmi_lock_init(&gmi_finq_lock);
    gmi_lock_init(&gmi_pool_lock);
}

/* Threads that ran in the parent do not exist in a forked child: gomem's own helpers
 * are started again on demand. */
void gmi_fork_child_hook(void) {
    gmi_mark_fork_child();
    gmi_sweep_fork_child();
    gmi_finalizer_fork_child();
    gmi_pool_fork_child();
    gmi_scavenger_fork_child();
    gmi_dl_gate_set_state(GMI_GATE_NONE);
    gmi_roots_fork_child();
}

/* ---------------------------------------------------------------------------------
 * Initialization
 * ------------------------------------------------------------------------------- */

static pthread_mutex_t init_lock GMI_STATE = PTHREAD_MUTEX_INITIALIZER;

static void pacer_mem(gmi_pacer_mem_t *m);
static void publish_trigger(void);

static void init_slow(void);

void gmi_init_slow(void) {
    int cancel = gmi_nocancel_begin(); /* reads files (env.c) under init_lock */
    init_slow();
    gmi_nocancel_end(cancel);
}

static void init_slow(void) {
    pthread_mutex_lock(&init_lock);
    if (atomic_load(&gmi_initialized)) {
        pthread_mutex_unlock(&init_lock);
        return;
    }
    gmi_env_init();
    gmi_os_set_fault_injection(gmi_config.fail_mmap, gmi_config.fail_madvise);
    gmi_os_set_madv_free(gmi_config.madvdontneed == 0);
    gmi_debug_init(); /* GOMEMDEBUG poison/checkptr routing, start-up report */
    gmi_gc.start_ns = gmi_os_nanotime();
    {
        /* the reuse stacks' free tag (malloc.c): random, top bit set */
        uint64_t k = 0;
        if (syscall(SYS_getrandom, &k, sizeof k, 1 /* GRND_NONBLOCK */) != (long)sizeof k) k = 0;
        k = gmi_splitmix64(k ^ gmi_gc.start_ns ^ (uintptr_t)&init_lock);
        gmi_reuse_key = (uintptr_t)k | ((uintptr_t)1 << 63);
    }
    gmi_reuse_init();
    gmi_gc.ncpu = gmi_os_ncpu();
    gmi_gc.mark_workers = gmi_config.mark_workers > 0 ? gmi_config.mark_workers : gmi_gc.ncpu;
    atomic_store(&gmi_gc.sweepgen, 4); /* new spans start swept at this generation */
    gmi_heap_init();
    gmi_central_init();
    gmi_mark_init();
    gmi_pacer_init(&gmi_gc.pacer, gmi_config.gc_percent, gmi_config.memory_limit);
    gmi_pacer_mem_t m;
    pacer_mem(&m);
    gmi_pacer_commit(&gmi_gc.pacer, &m);
    publish_trigger();
    gmi_roots_init();
    gmi_threads_init();
    atomic_store_explicit(&gmi_initialized, 1, memory_order_release);
    pthread_mutex_unlock(&init_lock);
    /* atexit handlers run last-registered first: the trace's is registered first so
     * that it closes after GOMEMPROFILE's exit-time collection, which it then shows */
    gmi_evtrace_init();
    gmi_profile_init();
}

GM_API void gm_init(void) {
    if (!atomic_load_explicit(&gmi_initialized, memory_order_acquire)) gmi_init_slow();
    (void)gmi_thread_get();
}

/* ---------------------------------------------------------------------------------
 * Bad pointers
 * ------------------------------------------------------------------------------- */

void gmi_bad_pointer(const char *call, const void *p, const char *why) {
    gmi_error("%s(%p): %s", call, p, why);
    if (gmi_config.debug_abort) abort();
}

/* ---------------------------------------------------------------------------------
 * The cycle
 * ------------------------------------------------------------------------------- */

static void pacer_mem(gmi_pacer_mem_t *m) {
    size_t sys, inuse, released, si, ss, other;
    gmi_heap_stats_locked(&sys, &inuse, &released, &si, &ss, &other);
    uint64_t alloc = 0, freed = 0;
    for (int c = 1; c < GMI_NUM_CLASSES; c++) {
        alloc += atomic_load(&gmi_gc.mallocs[c]) * gmi_class_to_size[c];
        freed += atomic_load(&gmi_gc.frees[c]) * gmi_class_to_size[c];
    }
    alloc += atomic_load(&gmi_gc.large_alloc_bytes);
    freed += atomic_load(&gmi_gc.large_free_bytes);
    m->heap_alloc = alloc > freed ? alloc - freed : 0;
    m->mapped_ready = (sys - released) + atomic_load(&gmi_meta_sys);
    m->heap_free = sys - inuse - released;
}

/* publish_trigger copies the pacer's trigger for the allocation slow path. heap_live
 * counts the free slots of every cached span as allocated (Go's heapLive overestimate);
 * Go bounds that by GOMAXPROCS caches, gomem has one cache per thread, so the free bytes
 * cached when the cycle ended are added to the trigger: a program with many threads
 * does not start a cycle at every span refill. The heap goal itself is unchanged. */
static void publish_trigger(void) {
    uint64_t t = gmi_gc.pacer.trigger;
    if (t != UINT64_MAX) {
        uint64_t off = gmi_gc.cached_free_at_gc;
        t = t + off < t ? UINT64_MAX : t + off;
    }
    atomic_store(&gmi_gc.trigger, t);
}

/* One collection; gmi_gc.lock held by the caller, which brackets it with
 * gmi_gc_enter/gmi_gc_leave (not inlined: its frame is below the entry point). */
void (*gmi_gc_snapshot_hook)(void) GMI_STATE; /* tests: runs after gm_collect's snapshot */

/* stale_stw_ns: time the world spent stopped by attempts abandoned because the roots
 * snapshot had gone stale; the cycle that completes counts it as stopped time. */
static uint64_t stale_stw_ns GMI_STATE;

static GMI_NOINLINE bool collect_locked(bool forced, bool last_try) {
    gmi_gc_cycle_t cy;
    memset(&cy, 0, sizeof(cy));
    uint64_t t_begin = gmi_os_nanotime();
    cy.heap0 = atomic_load(&gmi_gc.heap_live);

    /* 2. sweep termination, world running */
    gmi_sweep_finish();
    gmi_mark_start_helpers(); /* thread creation: never with the world stopped */

    /* 3. stop the world */
    gmi_lock_all();
    uint64_t t_stop = gmi_os_nanotime();
    gmi_world_stop();
    uint64_t t_stopped = gmi_os_nanotime();
    if (!last_try && gmi_roots_snapshot_stale()) {
        /* a library was loaded since the snapshot: list the objects again */
        gmi_world_start();
        gmi_unlock_all();
        stale_stw_ns += gmi_os_nanotime() - t_stop;
        return false;
    }
    /* stopped time of abandoned attempts counts as this cycle's (first STW phase) */
    t_stop -= stale_stw_ns;
    stale_stw_ns = 0;
    if (gmi_unlikely(gmi_config.debug_verify)) gmi_verify_stw(1);

    /* @@hook:stw_start@@ world stopped, nothing marked yet (pools are cleared here) */
    gmi_pool_stw_start();

    /* 4. mark */
    gmi_mark_result_t mr;
    gmi_mark_run(&mr);
    /* @@hook:after_mark@@ roots marked; mark more with gmi_mark_more and add to mr
     * (weak handles are cleared, finalizable objects are found and resurrected here) */
    gmi_debug_mark_roots(&mr);    /* pinned and quarantined objects (pin.c, debug_modes.c) */
    gmi_specials_after_mark(&mr); /* after every root: pools, weak, finalizers */
    uint64_t t_marked = gmi_os_nanotime();
    cy.heap1 = atomic_load(&gmi_gc.heap_live);

    /* 5. mark termination */
    atomic_fetch_add(&gmi_gc.sweepgen, 2);
    /* every thread's reuse stacks go stale: their objects were not roots (malloc.c, 7a) */
    __atomic_store_n(&gmi_reuse_epoch, gmi_reuse_epoch + 1, __ATOMIC_RELAXED);
    gmi_profile_cycle_end();
    uint64_t cached_free = gmi_sweep_cached_spans_stw();
    atomic_store(&gmi_gc.heap_live, mr.marked_bytes + cached_free);
    gmi_gc.heap_marked = mr.marked_bytes;
    gmi_gc.heap_scan = mr.heap_scan_bytes;
    gmi_gc.stack_scan = mr.stack_bytes;
    gmi_gc.globals_scan = mr.global_bytes;
    gmi_pacer_start_cycle(&gmi_gc.pacer);
    cy.goal = gmi_gc.pacer.last_heap_goal;
    gmi_pacer_mem_t pm;
    pacer_mem(&pm);
    /* Go's minimum sweep distance: at least 1 MiB of allocation before the next cycle. */
    gmi_gc.pacer.sweep_dist_min_trigger =
        mr.marked_bytes + cached_free + GMI_SWEEP_MIN_HEAP_DISTANCE;
    gmi_pacer_end_cycle(&gmi_gc.pacer, mr.marked_bytes, mr.heap_scan_bytes, mr.stack_bytes,
                        mr.global_bytes, &pm);
    gmi_gc.cached_free_at_gc = cached_free;
    publish_trigger();
    if (gmi_unlikely(gmi_config.debug_verify)) gmi_verify_stw(0);
    /* @@hook:mark_termination@@ world still stopped, sweepgen advanced, pacer updated */

    uint64_t t_end = gmi_os_nanotime();
    uint64_t pause = t_end - t_stop;
    uint32_t idx = gmi_gc.num_gc % 256;
    gmi_gc.num_gc++;
    if (forced) gmi_gc.num_forced_gc++;
    gmi_gc.pause_ns[idx] = pause;
    gmi_gc.pause_total_ns += pause;
    uint64_t wall = gmi_os_walltime();
    gmi_gc.pause_end[idx] = wall;
    gmi_gc.last_gc_wall = wall;
    int procs = gmi_gc.ncpu;
    gmi_gc.gc_cpu_ns += pause * (uint64_t)procs;

    /* 6. start the world */
    gmi_world_start();
    gmi_unlock_all();

    if (gmi_config.gctrace > 0) {
        uint64_t now = gmi_os_nanotime();
        cy.num = gmi_gc.num_gc;
        cy.start_ns = t_begin - gmi_gc.start_ns;
        uint64_t elapsed = now - gmi_gc.start_ns;
        cy.cpu_fraction = elapsed ? (double)gmi_gc.gc_cpu_ns / ((double)elapsed * procs) : 0;
        cy.stw1_ns = t_stopped - t_stop;
        cy.mark_ns = 0;
        cy.stw2_ns = t_end - t_stopped;
        cy.stw_procs = procs;
        cy.heap2 = mr.marked_bytes;
        cy.stacks = mr.stack_bytes;
        cy.globals = mr.global_bytes;
        cy.procs = procs;
        cy.forced = forced;
        char line[512];
        int n = gmi_gctrace_format(line, sizeof(line), &cy);
        if (n > 0) {
            if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1;
            ssize_t wr = write(2, line, (size_t)n); /* the line ends with its newline */
            (void)wr;
        }
    }
    (void)t_marked;
    gmi_sweeper_wake();
    /* @@hook:after_world_start@@ no lock held but gmi_gc.lock (trace, scavenger, finalizers) */
    gmi_finalizer_wake();
    gmi_limiter_cycle_done(pause * (uint64_t)procs, gmi_os_nanotime());
    gmi_scavenger_wake();
    gmi_evtrace_cycle(&(gmi_evtrace_cycle_t){t_begin, t_stop, t_stopped, t_marked, t_end, cy.heap0,
                                             mr.marked_bytes, gmi_gc.pacer.heap_goal, gmi_gc.num_gc,
                                             forced});
    return true;
}

/* STALE_TRIES: snapshots a cycle takes before it runs on the last one regardless (a
 * program loading libraries without pause, or a list entry this check cannot match). */
#define STALE_TRIES 8

/* How long a thread past the trigger waits, at most, for the collector listing the
 * loaded objects (once a cycle), and between looks at a gate taken by a thread that
 * has not said why yet. */
#define GMI_GATE_SNAPSHOT_WAIT_NS (2 * 1000 * 1000)
#define GMI_GATE_NONE_WAIT_NS     (50 * 1000)

/* collect_gated runs one cycle for a thread holding the loader gate (gate, as
 * gmi_dl_gate_enter returned it), then gives the gate back. The loaded objects are
 * listed before any gomem lock is taken (roots.c) and stay loaded until the world
 * restarts; a cycle that finds, with the world stopped, a library loaded since lists
 * them again (collect_locked). */
static GMI_NOINLINE void collect_gated(gmi_thread_t *t, bool forced, int gate, uint32_t prev) {
    int cancel = gmi_nocancel_begin();
    /* Allocating threads past the trigger wait for this cycle (gate state): the sweep
     * that ends the previous cycle comes first and is long in a big heap, and threads
     * that went on allocating through it, more of them than cores to run the
     * collector, ran the heap to many times its goal. */
    for (int try = 1;; try++) {
        gmi_dl_gate_set_state(GMI_GATE_SWEEP);
        gmi_sweep_finish(); /* first, so that little runs between the snapshot and the stop */
        gmi_dl_gate_set_state(GMI_GATE_SNAPSHOT);
        gmi_roots_snapshot();
        if (gmi_unlikely(gmi_gc_snapshot_hook != NULL)) gmi_gc_snapshot_hook();
        gmi_dl_gate_set_state(GMI_GATE_CYCLE);
        gmi_lock(&gmi_gc.lock);
        gmi_gc_enter(t);
        bool done = collect_locked(forced, try == STALE_TRIES);
        gmi_gc_leave(t);
        gmi_unlock(&gmi_gc.lock);
        if (done) break;
    }
    atomic_fetch_add(&gmi_gc.cycle_seq, 1);
    gmi_dl_gate_set_state(prev);
    gmi_dl_gate_leave(gate);
    gmi_stack_scrub_deep(t); /* collect_locked's frames held heap pointers */
    gmi_nocancel_end(cancel);
}

void gmi_gc_collect(bool forced) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    /* the caller's stack is a root: registered, or (out of memory for its struct)
     * scanned by gmi_thread_scan_unregistered */
    gmi_thread_t *t = gmi_thread_get();
    int gate = gmi_dl_gate_enter(true);
    collect_gated(t, forced, gate, gmi_dl_gate_state());
}

/* wait_for_collection: the caller, past the trigger, found the loader gate taken. If
 * a collection holds it (or a thread deciding whether to start one, or gm_explain),
 * wait for it to end, so that allocation cannot outrun the collector. Never wait for
 * an unload: its destructors may be waiting for this thread. While the holder lists
 * the loaded objects, a short step, wait once per cycle and briefly: a thread that
 * allocates inside a dl_iterate_phdr callback of its own holds the loader lock the
 * listing needs (untimed, that deadlocked; timed but at every refill, it stalled the
 * collector again and again), while without any wait, threads more than the cores ran
 * on whenever the collector was preempted there. */
static GMI_TLS uint32_t tls_snapshot_waited; /* cycle_seq + 1 of the last such wait */

static void wait_for_collection(void) {
    uint32_t seq = atomic_load(&gmi_gc.cycle_seq);
    for (;;) {
        uint32_t st = gmi_dl_gate_state();
        if (atomic_load(&gmi_gc.cycle_seq) != seq) return; /* a collection ended */
        switch (st) {
        case GMI_GATE_UNLOAD:
            return;
        case GMI_GATE_SNAPSHOT:
            if (tls_snapshot_waited == seq + 1) return;
            tls_snapshot_waited = seq + 1;
            gmi_dl_gate_wait(st, GMI_GATE_SNAPSHOT_WAIT_NS);
            break;
        case GMI_GATE_NONE:
            /* just taken, its holder about to say why, or about to be given back */
            if (!gmi_dl_gate_taken()) return;
            gmi_dl_gate_wait(st, GMI_GATE_NONE_WAIT_NS);
            break;
        default:
            gmi_dl_gate_wait(st, 0);
            break;
        }
    }
}

/* gmi_gc_maybe_trigger starts a cycle unless another thread is running one (then the
 * caller waits for it: that cycle resets heap_live). stress: GOMEMDEBUG=gcstress asks
 * for a cycle whatever the pacer says; it too takes the gate without blocking on it, as
 * the allocation may come from a dl_iterate_phdr callback (the loader lock held, which
 * a collector holding the gate may be waiting for). */
void gmi_gc_maybe_trigger(bool stress) {
    if (!stress && gmi_gc.pacer.gc_percent < 0 && gmi_gc.pacer.memory_limit == INT64_MAX) return;
    int gate = gmi_dl_gate_enter(false);
    if (gate < 0) {
        wait_for_collection(); /* a later allocation tries again */
        return;
    }
    uint32_t prev = gmi_dl_gate_set_state(GMI_GATE_DECIDE);
    if (pthread_mutex_trylock(&gmi_gc.lock.m) != 0) {
        /* someone holds it (reading MemStats, say): wait, so allocation cannot outrun */
        gmi_dl_gate_set_state(prev);
        gmi_dl_gate_leave(gate);
        gmi_lock(&gmi_gc.lock);
        gmi_unlock(&gmi_gc.lock);
        return;
    }
    /* the GC CPU limiter (limiter.c) defers cycles paced by the memory limit while GC
     * uses over ~50% of the CPU */
    bool go = stress || (atomic_load(&gmi_gc.heap_live) >= atomic_load(&gmi_gc.trigger) &&
                         gmi_limiter_allow(gmi_os_nanotime(), gmi_gc.pacer.limit_bound));
    gmi_unlock(&gmi_gc.lock);
    if (!go) {
        gmi_dl_gate_set_state(prev);
        gmi_dl_gate_leave(gate);
        return;
    }
    /* decided: no other collection can start while this thread holds the gate */
    collect_gated(gmi_tls_thread, false, gate, prev);
}

GM_API void gm_collect(void) {
    gmi_gc_collect(true);
    /* as runtime.GC: finish sweeping so the memory is reusable when this returns, then
     * publish the heap profile of this cycle (Go's mProf_PostSweep) */
    gmi_sweep_finish();
    gmi_profile_publish_swept();
}

/* pacer_mem_now reads the pacer's memory figures outside a collection. */
static void pacer_mem_now(gmi_pacer_mem_t *m) {
    gmi_lock(&gmi_heap_lock);
    pacer_mem(m);
    gmi_unlock(&gmi_heap_lock);
}

GM_API int gm_set_gc_percent(int percent) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    gmi_lock(&gmi_gc.lock);
    gmi_pacer_mem_t m;
    pacer_mem_now(&m);
    int old = gmi_pacer_set_gc_percent(&gmi_gc.pacer, percent < 0 ? -1 : percent, &m);
    publish_trigger();
    gmi_unlock(&gmi_gc.lock);
    return old;
}

/* gm_set_memory_limit: see gomem.h (debug.SetMemoryLimit). */
GM_API int64_t gm_set_memory_limit(int64_t bytes) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    gmi_lock(&gmi_gc.lock);
    gmi_pacer_mem_t m;
    pacer_mem_now(&m);
    int64_t old = gmi_pacer_set_memory_limit(&gmi_gc.pacer, bytes, &m);
    publish_trigger();
    gmi_unlock(&gmi_gc.lock);
    if (bytes >= 0) gmi_scavenger_wake();
    return old;
}
