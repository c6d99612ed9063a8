/* scavenger.c: returns free pages to the OS (Go's mgcscavenge.go).
 *
 * One internal thread (gmi_thread_spawn_internal: it never touches heap objects)
 * sleeps on a condition variable, woken after every collection and otherwise every
 * GMI_SCAV_PERIOD_MS. Each pass computes the retained heap (heap_sys - heap_released)
 * and releases free pages with gmi_heap_release_locked (madvise, os_linux.c; the page
 * heap keeps a bit per released page, so HeapReleased and HeapIdle stay exact) until
 * retained memory is under the smaller of
 *   the GOGC goal:   heap goal x 1.10 (Go's retainExtraPercent; after the first cycle)
 *   the limit goal:  95% of the memory limit minus metadata (Go's reduceExtraPercent).
 * Pacing: background work is sized so the thread uses about 1% of the total CPU
 * (work / ((work + sleep) x procs), work in wall time, as Go's bgscavenge; measured
 * in CPU time it released more on a loaded machine, and in test_reclaim those pages
 * were soon faulted back in); 10% while the excess is over 256 MiB or over the goal
 * itself (retained more than twice its goal: the heap shrank, as after a phase change
 * or a dropped large heap, and the memory returns within about a second instead of
 * several). The total work is set by the bytes to release, the same at either pace;
 * the higher pace only spends it sooner. It releases GMI_SCAV_BATCH bytes per
 * heap-lock hold and then sleeps. While mapped memory is
 * above the memory limit itself it releases without sleeping; those bytes count as
 * "eager" in scavtrace.
 * Allocation-time scavenging (Go's mheap.allocSpan): a span allocation that leaves
 * mapped memory over the memory limit releases the excess before it returns, at most
 * max(bytes it committed, GMI_SCAV_BATCH), so it keeps up with its own commitment and
 * the work per allocation stays bounded; not while the GC CPU limiter is on. A heap
 * growth that takes retained memory over the GOGC goal releases min(growth, excess):
 * free memory the request could not use, instead of letting RSS grow by the growth.
 * The allocating thread does it with the world running, after dropping the heap lock,
 * in GMI_SCAV_BATCH pieces each under the heap lock (it may hold its span class's
 * central lock, which comes before the heap lock in gc.c's order); "eager" bytes.
 * With GODEBUG=madvdontneed=0 (gm_set_madvdontneed(0)) pages are released with
 * MADV_FREE: counted as released at once, as Go counts them, although RSS falls only
 * when the kernel reclaims them under memory pressure.
 * Released pages are reused by the page heap like any free run; page_heap.c knows
 * which of them read as zero and which may hold old contents (MADV_FREE).
 * Idle collection: a program that stops allocating after dropping a large heap never
 * triggers a cycle, so nothing becomes free. When no cycle ran for
 * GMI_SCAV_IDLE_GC_MS while retained memory is large, the scavenger runs one
 * collection itself (from an internal thread: it is not stopped nor scanned); the
 * interval doubles each time such a cycle frees little (up to 2 min, Go's forcegc
 * period) and goes back to the start when it frees a lot.
 * gm_free_os_memory = gm_collect + release everything free (debug.FreeOSMemory).
 * GODEBUG=scavtrace=1 prints Go's line once per collection and on forced releases.
 * Locking: its own mutex and condition variable (a leaf), then gmi_heap_lock.
 * See malloc.c for the allocator overview. */
#include "finalizer.h"
#include "gctrace.h"
#include "evtrace.h"

#include <errno.h>
#include <time.h>

#define GMI_SCAV_PERIOD_MS      100
#define GMI_SCAV_BATCH          ((size_t)2 << 20)
#define GMI_SCAV_BULK           ((uint64_t)256 << 20) /* excess released at a higher pace */
#define GMI_SCAV_BULK_PERCENT   10
#define GMI_SCAV_IDLE_GC_MS     1000
#define GMI_SCAV_IDLE_GC_MAX_MS 120000
#define GMI_SCAV_IDLE_MIN       ((uint64_t)64 << 20) /* retained bytes worth an idle cycle */

static struct {
    pthread_mutex_t m;
    pthread_cond_t cv;
    bool started, wake;
    uint32_t seen_gc;           /* num_gc at the last scavtrace line */
    _Atomic uint64_t bg, eager; /* since the last scavtrace line */
    _Atomic uint64_t total_bg, total_eager;
    _Atomic uint64_t total_assist; /* part of total_eager released by allocations */
    uint64_t idle_ms;              /* current idle-collection interval */
    uint64_t last_gc_seen_ns;
    uint32_t last_num_gc;
} sc GMI_STATE = {.m = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

typedef struct scav_state_s {
    uint64_t retained, released, inuse, meta, target;
    bool over_limit;
} scav_state_t;

/* gc_percent_goal: retained heap allowed by GOGC, the heap goal + 10% (Go's
 * retainExtraPercent), or UINT64_MAX before the first cycle. */
static uint64_t gc_percent_goal(void) {
    uint64_t goal = gmi_gc.pacer.heap_goal;
    if (gmi_gc.num_gc == 0 || goal == UINT64_MAX) return UINT64_MAX;
    return goal + goal / 10;
}

static void state_locked(scav_state_t *st) {
    size_t sys, inuse, released, si, ss, other;
    gmi_heap_stats_locked(&sys, &inuse, &released, &si, &ss, &other);
    st->retained = sys - released;
    st->released = released;
    st->inuse = inuse;
    st->meta = atomic_load(&gmi_meta_sys);
    uint64_t t = gc_percent_goal();
    int64_t limit = gmi_gc.pacer.memory_limit;
    st->over_limit = false;
    if (limit != INT64_MAX) {
        uint64_t l95 = (uint64_t)limit / 100 * 95;
        uint64_t lt = l95 > st->meta ? l95 - st->meta : 0;
        if (lt < t) t = lt;
        st->over_limit = st->retained + st->meta > (uint64_t)limit;
    }
    st->target = t;
}

static void trace_line(bool forced) {
    gmi_scav_cycle_t c = {0};
    gmi_lock(&gmi_heap_lock);
    scav_state_t st;
    state_locked(&st);
    gmi_unlock(&gmi_heap_lock);
    c.released_bg = atomic_exchange(&sc.bg, 0);
    c.released_eager = atomic_exchange(&sc.eager, 0);
    c.released_now = st.released;
    c.heap_inuse = st.inuse;
    c.heap_free = st.retained - st.inuse;
    c.forced = forced;
    gmi_scavtrace_print(&c);
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* One pass: release until the goals hold or nothing is left to release. */
static void scavenge_pass(void) {
    int procs = gmi_gc.ncpu > 0 ? gmi_gc.ncpu : 1;
    for (;;) {
        uint64_t t0 = gmi_os_nanotime();
        gmi_lock(&gmi_heap_lock);
        scav_state_t st;
        state_locked(&st);
        size_t n = 0;
        if (st.retained > st.target) {
            uint64_t want = st.retained - st.target;
            n = gmi_heap_release_locked(want < GMI_SCAV_BATCH ? (size_t)want : GMI_SCAV_BATCH);
        }
        gmi_unlock(&gmi_heap_lock);
        gmi_limiter_check_policy(t0, st.retained + st.meta, gmi_gc.pacer.memory_limit);
        if (n == 0) return;
        gmi_evtrace_scavenge(t0, gmi_os_nanotime(), n); /* an event in GOMEMTRACE */
        if (st.over_limit) {
            atomic_fetch_add(&sc.eager, n);
            atomic_fetch_add(&sc.total_eager, n);
            continue;
        }
        atomic_fetch_add(&sc.bg, n);
        atomic_fetch_add(&sc.total_bg, n);
        uint64_t work = gmi_os_nanotime() - t0;
        /* work / ((work + sleep) x procs) = pct%  =>  sleep = work x (100 / (pct x procs) - 1);
         * pct = 1 as Go, GMI_SCAV_BULK_PERCENT while the excess is over GMI_SCAV_BULK or
         * over the target */
        uint64_t excess = st.retained - st.target;
        int pct = excess > GMI_SCAV_BULK || excess > st.target ? GMI_SCAV_BULK_PERCENT : 1;
        uint64_t mult = pct * procs < 100 ? (uint64_t)(100 / (pct * procs) - 1) : 0;
        uint64_t sl = work * mult;
        if (sl > 50000000ull) sl = 50000000ull;
        if (sl) sleep_ns(sl);
        pthread_mutex_lock(&sc.m);
        bool woken = sc.wake;
        pthread_mutex_unlock(&sc.m);
        if (woken) return; /* a new cycle: recompute the goals and print its line */
    }
}

static void maybe_idle_gc(uint64_t now) {
    /* GOGC=off: only the memory limit and gm_collect start cycles (as Go's forced
     * periodic GC, whose time trigger never fires with gcPercent < 0) */
    if (__atomic_load_n(&gmi_gc.pacer.gc_percent, __ATOMIC_RELAXED) < 0) return;
    uint32_t ngc = gmi_gc.num_gc;
    if (ngc != sc.last_num_gc) {
        sc.last_num_gc = ngc;
        sc.last_gc_seen_ns = now;
        return;
    }
    if (now - sc.last_gc_seen_ns < sc.idle_ms * 1000000ull) return;
    gmi_lock(&gmi_heap_lock);
    scav_state_t st;
    state_locked(&st);
    gmi_unlock(&gmi_heap_lock);
    sc.last_gc_seen_ns = now;
    if (st.inuse < GMI_SCAV_IDLE_MIN) return;
    uint64_t before = st.inuse;
    gmi_gc_collect(false);
    gmi_sweep_finish();
    gmi_lock(&gmi_heap_lock);
    state_locked(&st);
    gmi_unlock(&gmi_heap_lock);
    sc.last_num_gc = gmi_gc.num_gc;
    if (st.inuse > before - before / 4) { /* freed little: back off */
        sc.idle_ms *= 2;
        if (sc.idle_ms > GMI_SCAV_IDLE_GC_MAX_MS) sc.idle_ms = GMI_SCAV_IDLE_GC_MAX_MS;
    } else {
        sc.idle_ms = GMI_SCAV_IDLE_GC_MS;
    }
}

static void *scavenger_main(void *unused) {
    (void)unused;
    sc.idle_ms = GMI_SCAV_IDLE_GC_MS;
    sc.last_gc_seen_ns = gmi_os_nanotime();
    for (;;) {
        pthread_mutex_lock(&sc.m);
        if (!sc.wake) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += GMI_SCAV_PERIOD_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&sc.cv, &sc.m, &ts);
        }
        sc.wake = false;
        pthread_mutex_unlock(&sc.m);
        maybe_idle_gc(gmi_os_nanotime());
        scavenge_pass();
        uint32_t ngc = gmi_gc.num_gc;
        if (gmi_config.scavtrace > 0 && ngc != sc.seen_gc) {
            sc.seen_gc = ngc;
            trace_line(false);
        }
    }
    return NULL;
}

void gmi_scavenger_wake(void) {
    pthread_mutex_lock(&sc.m);
    bool start = !sc.started;
    sc.started = true;
    sc.wake = true;
    pthread_cond_signal(&sc.cv);
    pthread_mutex_unlock(&sc.m);
    if (start) {
        pthread_t th;
        if (gmi_thread_spawn_internal(&th, scavenger_main, NULL) != 0) {
            pthread_mutex_lock(&sc.m);
            sc.started = false;
            pthread_mutex_unlock(&sc.m);
        } else {
            pthread_detach(th);
        }
    }
}

void gmi_scavenger_fork_child(void) {
    pthread_mutex_init(&sc.m, NULL);
    pthread_cond_init(&sc.cv, NULL);
    sc.started = false;
    sc.wake = false;
}

/* ---------------------------------------------------------------------------------
 * Allocation-time scavenging
 * ------------------------------------------------------------------------------- */

/* gmi_scavenger_alloc_todo_locked returns the bytes a span allocation must release
 * before it returns. retained_before: heap_sys - heap_released before the allocation;
 * committed: released bytes the new span took back; growth: bytes the heap grew by.
 * Heap lock held. */
size_t gmi_scavenger_alloc_todo_locked(size_t retained_before, size_t committed, size_t growth) {
    if (gmi_heap_unreleased_free_locked() == 0) return 0; /* nothing could be released */
    uint64_t todo = 0;
    uint64_t retained = (uint64_t)retained_before + committed;
    int64_t limit = gmi_gc.pacer.memory_limit;
    if (limit != INT64_MAX && !gmi_limiter_limiting()) {
        uint64_t mapped = retained + atomic_load(&gmi_meta_sys);
        if (mapped > (uint64_t)limit) {
            uint64_t cap = committed > GMI_SCAV_BATCH ? committed : GMI_SCAV_BATCH;
            todo = mapped - (uint64_t)limit;
            if (todo > cap) todo = cap;
        }
    }
    uint64_t goal = gc_percent_goal();
    if (growth > 0 && goal != UINT64_MAX && retained_before + growth > goal) {
        uint64_t over = retained_before + growth - goal;
        uint64_t t = over < growth ? over : growth;
        if (t > todo) todo = t;
    }
    return (size_t)todo;
}

/* gmi_scavenger_assist releases about bytes of free pages on the allocating thread, in
 * GMI_SCAV_BATCH pieces, each under the heap lock (not held on entry). */
void gmi_scavenger_assist(size_t bytes) {
    uint64_t t0 = gmi_os_nanotime();
    size_t total = 0;
    while (total < bytes) {
        size_t want = bytes - total < GMI_SCAV_BATCH ? bytes - total : GMI_SCAV_BATCH;
        gmi_lock(&gmi_heap_lock);
        size_t n = gmi_heap_release_locked(want);
        gmi_unlock(&gmi_heap_lock);
        if (n == 0) break;
        total += n;
    }
    if (total == 0) return;
    gmi_evtrace_scavenge(t0, gmi_os_nanotime(), total);
    atomic_fetch_add(&sc.eager, total);
    atomic_fetch_add(&sc.total_eager, total);
    atomic_fetch_add(&sc.total_assist, total);
}

void gmi_scavenger_stats(uint64_t *bg, uint64_t *eager, uint64_t *assist) {
    *bg = atomic_load(&sc.total_bg);
    *eager = atomic_load(&sc.total_eager);
    *assist = atomic_load(&sc.total_assist);
}

GM_API int gm_set_madvdontneed(int on) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    int old = gmi_os_madv_free() ? 0 : 1;
    if (on >= 0) gmi_os_set_madv_free(on == 0);
    return old;
}

GM_API size_t gm_free_os_memory(void) {
    gm_collect();
    uint64_t t0 = gmi_os_nanotime();
    gmi_lock(&gmi_heap_lock);
    size_t total = 0, n;
    while ((n = gmi_heap_release_locked((size_t)64 << 20)) > 0)
        total += n;
    gmi_unlock(&gmi_heap_lock);
    if (total) gmi_evtrace_scavenge(t0, gmi_os_nanotime(), total);
    atomic_fetch_add(&sc.eager, total);
    atomic_fetch_add(&sc.total_eager, total);
    if (gmi_config.scavtrace > 0) trace_line(true);
    return total;
}
