/* limiter.c: the GC CPU limiter (Go's gcCPULimiter) and the memory-limit policy.
 *
 * A leaky bucket of capacity GMI_LIMITER_WINDOW_NS x procs (Go: 1 CPU-second per
 * P). Each cycle fills it with its GC CPU time (stop-the-world time x procs: all of
 * gomem's marking is stop-the-world) and the mutator time since the last update
 * drains it. While the bucket is full and the heap goal comes from the memory limit,
 * the limiter is on and gmi_gc_maybe_trigger does not start a paced cycle: allocation
 * goes on and the heap overshoots the limit instead of the program stalling in
 * back-to-back collections. A goal set by GOGC is never deferred. Over the window GC
 * then takes about half of the CPU time. Forced cycles (gm_collect) are never
 * deferred. With gctrace on, each engagement prints one line "gomem: GC CPU limiter
 * engaged ...". State is updated under gmi_gc.lock (cycle
 * accounting and the trigger decision); the fill level is read racily for stats.
 *
 * Policy (gm_set_limit_policy): when mapped memory stays above the memory limit for the
 * configured grace time, keep going (default), queue a callback on the finalizer thread,
 * or print a report and abort. Checked by the scavenger thread.
 * See gc.c for the collector overview. */
#include "finalizer.h"
#include "gctrace.h"

#include <stdlib.h>

#define GMI_LIMITER_WINDOW_NS 1000000000ull

static struct {
    uint64_t fill;      /* ns of GC CPU over mutator CPU, at most cap */
    uint64_t last_ns;   /* last update */
    _Atomic bool on;    /* in an engagement: from a deferred cycle until the bucket empties */
    uint64_t last_cost; /* GC CPU of the last cycle: a cycle starts only if it fits */
    _Atomic uint64_t engagements;
    uint64_t engaged_at_gc;
    /* policy */
    int policy;
    uint64_t grace_ns;
    void (*fn)(void *arg);
    void *arg;
    uint64_t over_since;
    bool fired;
} lim GMI_STATE;

static uint64_t cap_ns(void) {
    return GMI_LIMITER_WINDOW_NS * (uint64_t)(gmi_gc.ncpu > 0 ? gmi_gc.ncpu : 1);
}

static void drain(uint64_t now_ns) {
    if (lim.last_ns == 0 || now_ns < lim.last_ns) {
        lim.last_ns = now_ns;
        return;
    }
    uint64_t mut = (now_ns - lim.last_ns) * (uint64_t)(gmi_gc.ncpu > 0 ? gmi_gc.ncpu : 1);
    lim.fill = lim.fill > mut ? lim.fill - mut : 0;
    lim.last_ns = now_ns;
}

static void set_on(bool on) {
    if (!on && lim.fill > 0) return; /* an engagement ends when the bucket is empty */
    if (on && !lim.on) {
        atomic_fetch_add(&lim.engagements, 1);
        lim.engaged_at_gc = gmi_gc.num_gc;
        if (gmi_config.gctrace > 0)
            gmi_fdprintf(
                2,
                "gomem: GC CPU limiter engaged at gc %u: GC used over half the CPU in the "
                "last %llu ms; collections are deferred and the heap may exceed its goal\n",
                gmi_gc.num_gc, (unsigned long long)(GMI_LIMITER_WINDOW_NS / 1000000));
    }
    lim.on = on;
}

/* gc_cpu_ns: the cycle's GC CPU (pause x procs). The time since the last update less
 * that pause drains the bucket (mutator time), then the cycle's cost fills it. */
void gmi_limiter_cycle_done(uint64_t gc_cpu_ns, uint64_t now_ns) {
    if (lim.last_ns != 0 && now_ns >= lim.last_ns) {
        uint64_t span = (now_ns - lim.last_ns) * (uint64_t)(gmi_gc.ncpu > 0 ? gmi_gc.ncpu : 1);
        uint64_t mut = span > gc_cpu_ns ? span - gc_cpu_ns : 0;
        lim.fill = lim.fill > mut ? lim.fill - mut : 0;
    }
    lim.last_ns = now_ns;
    uint64_t c = cap_ns();
    lim.fill += gc_cpu_ns;
    if (lim.fill > c) lim.fill = c;
    lim.last_cost = gc_cpu_ns < c ? gc_cpu_ns : c;
    if (lim.fill == 0) set_on(false);
}

/* A paced cycle may start if its expected cost (the last cycle's) fits in the bucket:
 * once full, a cycle of cost C waits for C of mutator time, so GC gets about half. */
bool gmi_limiter_allow(uint64_t now_ns, bool limit_bound) {
    drain(now_ns);
    bool fits = lim.fill + lim.last_cost <= cap_ns();
    if (fits) {
        if (lim.fill == 0) set_on(false);
        return true;
    }
    /* Only a goal set by the memory limit defers: that is the death spiral the limiter
     * is for. Under GOGC alone the goal holds, as in Go, whose limiter drops assists but
     * never a cycle: deferring there let a loaded machine (stop-the-world pauses
     * stretched by descheduled threads) grow test_reclaim's heap from 290 to 521 MiB
     * with 64 MiB live. */
    if (!limit_bound) return true;
    set_on(true);
    return false;
}

uint64_t gmi_limiter_engagements(void) {
    return atomic_load(&lim.engagements);
}

bool gmi_limiter_limiting(void) {
    return atomic_load_explicit(&lim.on, memory_order_relaxed);
}

void gmi_limiter_check_policy(uint64_t now_ns, uint64_t mapped_ready, int64_t limit) {
    if (limit == INT64_MAX || mapped_ready <= (uint64_t)limit) {
        lim.over_since = 0;
        lim.fired = false;
        return;
    }
    if (lim.over_since == 0) lim.over_since = now_ns;
    if (lim.fired || lim.policy == GM_LIMIT_KEEP_GOING || now_ns - lim.over_since < lim.grace_ns)
        return;
    lim.fired = true;
    if (lim.policy == GM_LIMIT_CALL && lim.fn != NULL) {
        gmi_finalizer_queue_call(lim.fn, lim.arg);
        return;
    }
    if (lim.policy == GM_LIMIT_ABORT) {
        gmi_error(
            "memory limit %lld bytes exceeded for %llu ms: mapped %llu bytes, heap live %llu, "
            "marked %llu at gc %u, goal %llu, GC CPU limiter engaged %llu times; aborting",
            (long long)limit, (unsigned long long)((now_ns - lim.over_since) / 1000000),
            (unsigned long long)mapped_ready, (unsigned long long)atomic_load(&gmi_gc.heap_live),
            (unsigned long long)gmi_gc.heap_marked, gmi_gc.num_gc,
            (unsigned long long)gmi_gc.pacer.heap_goal,
            (unsigned long long)atomic_load(&lim.engagements));
        abort();
    }
}

/* gmi_limiter_arg_cell: where the GM_LIMIT_CALL argument is kept. The limiter's state
 * lies in gomem's own section, which is not scanned: the after-mark pass marks from this
 * one word (finalizer.c), so arg may be a heap object, as gomem.h promises. */
void **gmi_limiter_arg_cell(void) {
    return &lim.arg;
}

GM_API int gm_set_limit_policy(int policy, uint64_t grace_ms, void (*fn)(void *arg), void *arg) {
    if (policy < GM_LIMIT_KEEP_GOING || policy > GM_LIMIT_ABORT) return -1;
    if (policy == GM_LIMIT_CALL && fn == NULL) return -1;
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    if (policy == GM_LIMIT_CALL) gmi_finalizer_start();
    gmi_lock(&gmi_gc.lock);
    lim.policy = policy;
    lim.grace_ns = grace_ms * 1000000ull;
    lim.fn = fn;
    lim.arg = arg;
    lim.fired = false;
    gmi_unlock(&gmi_gc.lock);
    return 0;
}
