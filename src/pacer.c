/* pacer.c: when to collect. Go's 1.18+ heap goal, the 1.19+ memory-limit goal and
 * the trigger, as pure arithmetic over gmi_pacer_t (no locks, no clocks, no globals),
 * so tests/unit/test_pacer.c can check every number exactly.
 *
 * 1. GOGC goal (Go 1.18+), with M = heap_marked, S = stack_scan, G = globals_scan:
 *        goal_gogc = M + (M + S + G) x GOGC / 100,  at least 4 MiB x GOGC / 100
 *    The product is taken before the division, in 128-bit arithmetic, so a GOGC near
 *    INT_MAX cannot wrap; a result past 2^64 saturates to "no goal". GOGC off: none.
 * 2. Memory-limit goal (Go 1.19+, with the later 3% headroom), L = memory_limit:
 *        non_heap = mapped_ready - heap_free - heap_alloc
 *        overage  = max(mapped_ready - L, 0)
 *        g        = L - (non_heap + overage)          (if that is <= 0: goal = M)
 *        headroom = max(g / 100 x 3, 1 MiB);  g = g - headroom, but at least headroom
 *        goal_limit = max(g, M)
 * 3. goal = min(goal_gogc, goal_limit). When the GOGC goal is the smaller one it is
 *    raised to sweep_dist_min_trigger if that is set (Go's sweep-distance floor).
 * 4. Trigger. Go starts marking early by a "runway": the bytes the program will
 *    allocate while marking runs concurrently (3 x cons/mark x expected scan work), and
 *    clamps goal - runway between two bounds measured on the distance from M to goal:
 *        min_trigger = M + (goal - M) / 64 x 45                          (~70%)
 *        max_trigger = M + (goal - M) / 64 x 61, or goal - 4 MiB if larger (~95%)
 *    gomem marks with the world stopped. No mutator allocates while marking, so the
 *    runway Go estimates is zero and goal - runway = goal, which the clamp turns into
 *    max_trigger: gomem triggers at the upper bound. Why not at the goal itself? Three
 *    kinds of slack remain even with a stop-the-world mark:
 *      - heap_live is only advanced at thread-cache refill and large allocation, so
 *        it is checked in span-sized steps, and several threads can cross the
 *        trigger together before the first of them has stopped the world;
 *      - while the collector takes its locks and stops the world, the other threads
 *        keep allocating from the spans they already cache;
 *      - memory freed by the cycle only comes back as spans are swept, lazily.
 *    The 3/64 (at least 4 MiB on big heaps) between max_trigger and the goal absorbs
 *    that, so the heap at the end of a cycle stays at or below the goal as Go's does.
 *    Triggering at the lower bound would only run more cycles for nothing: with no
 *    concurrent phase there is no assist debt to spread out.
 *    Division by 64 comes before the multiplication, as in Go. The trigger never
 *    exceeds the goal, and M >= goal gives trigger = goal (collect continuously).
 *    cons_mark is kept in the struct for a future concurrent mark and is unused.
 * See gc.c for the collector overview. */
#include <stddef.h>
#include <stdint.h>

#include "pacer.h"

/* ---------------------------------------------------------------------------------
 * Goals
 * ------------------------------------------------------------------------------- */

/* pacer_scale returns x * percent / 100, saturating at UINT64_MAX. percent >= 0. */
static uint64_t pacer_scale(uint64_t x, int percent) {
    unsigned __int128 v = (unsigned __int128)x * (unsigned)percent / 100;
    return v > UINT64_MAX ? UINT64_MAX : (uint64_t)v;
}

static uint64_t pacer_add_sat(uint64_t a, uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* gmi_pacer_gogc_goal returns M + (M+S+G) x GOGC/100 floored at the scaled heap
 * minimum, or UINT64_MAX when GOGC is off. */
uint64_t gmi_pacer_gogc_goal(const gmi_pacer_t *p) {
    if (p->gc_percent < 0) return UINT64_MAX;
    uint64_t scannable =
        pacer_add_sat(pacer_add_sat(p->heap_marked, p->stack_scan), p->globals_scan);
    uint64_t goal = pacer_add_sat(p->heap_marked, pacer_scale(scannable, p->gc_percent));
    uint64_t minimum = pacer_scale(GMI_HEAP_MINIMUM, p->gc_percent);
    return goal < minimum ? minimum : goal;
}

/* gmi_pacer_limit_goal returns the heap goal that keeps total mapped memory under the
 * limit, or UINT64_MAX without a limit. mem == NULL counts no non-heap memory. */
uint64_t gmi_pacer_limit_goal(const gmi_pacer_t *p, const gmi_pacer_mem_t *mem) {
    if (p->memory_limit == INT64_MAX) return UINT64_MAX;
    uint64_t limit = p->memory_limit < 0 ? 0 : (uint64_t)p->memory_limit;
    uint64_t non_heap = 0, overage = 0;
    if (mem != NULL) {
        uint64_t heap = pacer_add_sat(mem->heap_free, mem->heap_alloc);
        non_heap = mem->mapped_ready > heap ? mem->mapped_ready - heap : 0;
        overage = mem->mapped_ready > limit ? mem->mapped_ready - limit : 0;
    }
    uint64_t used = pacer_add_sat(non_heap, overage);
    if (used >= limit) return p->heap_marked;
    uint64_t goal = limit - used;
    uint64_t headroom = goal / 100 * GMI_LIMIT_HEADROOM_PERCENT;
    if (headroom < GMI_LIMIT_MIN_HEADROOM) headroom = GMI_LIMIT_MIN_HEADROOM;
    goal = (goal < headroom || goal - headroom < headroom) ? headroom : goal - headroom;
    return goal < p->heap_marked ? p->heap_marked : goal;
}

/* ---------------------------------------------------------------------------------
 * Trigger
 * ------------------------------------------------------------------------------- */

/* gmi_pacer_trigger_for places the trigger for goal at max_trigger (see the top of the
 * file for why). limit_bound: the goal came from the memory limit, so the sweep
 * distance floor does not apply. */
uint64_t gmi_pacer_trigger_for(const gmi_pacer_t *p, uint64_t goal, bool limit_bound) {
    if (goal == UINT64_MAX) return UINT64_MAX;
    uint64_t m = p->heap_marked;
    if (m >= goal) return goal;
    uint64_t dist = goal - m;
    uint64_t min_trigger = m + dist / 64 * GMI_TRIGGER_MIN_64THS;
    if (!limit_bound && min_trigger < p->sweep_dist_min_trigger)
        min_trigger = p->sweep_dist_min_trigger;
    uint64_t max_trigger = m + dist / 64 * GMI_TRIGGER_MAX_64THS;
    if (goal > GMI_HEAP_MINIMUM && goal - GMI_HEAP_MINIMUM > max_trigger)
        max_trigger = goal - GMI_HEAP_MINIMUM;
    if (max_trigger < min_trigger) max_trigger = min_trigger;
    /* Stop-the-world mark: zero runway, so goal - runway clamps to max_trigger. */
    uint64_t trigger = max_trigger;
    return trigger > goal ? goal : trigger;
}

/* ---------------------------------------------------------------------------------
 * Commit and cycle boundaries
 * ------------------------------------------------------------------------------- */

/* gmi_pacer_commit recomputes heap_goal, trigger and limit_bound from the settings and
 * the last cycle's inputs. Callers serialize (the collector holds its lock). */
void gmi_pacer_commit(gmi_pacer_t *p, const gmi_pacer_mem_t *mem) {
    uint64_t gogc = gmi_pacer_gogc_goal(p);
    uint64_t lim = gmi_pacer_limit_goal(p, mem);
    uint64_t goal;
    if (lim < gogc) {
        goal = lim;
        p->limit_bound = true;
    } else {
        goal = gogc;
        p->limit_bound = false;
        if (goal != UINT64_MAX && goal < p->sweep_dist_min_trigger)
            goal = p->sweep_dist_min_trigger;
    }
    p->heap_goal = goal;
    p->trigger = gmi_pacer_trigger_for(p, goal, p->limit_bound);
}

void gmi_pacer_init(gmi_pacer_t *p, int gc_percent, int64_t memory_limit) {
    *p = (gmi_pacer_t){0};
    p->gc_percent = gc_percent < 0 ? -1 : gc_percent;
    p->memory_limit = memory_limit < 0 ? INT64_MAX : memory_limit; /* negative: no limit */
    gmi_pacer_commit(p, NULL);
    p->last_heap_goal = p->heap_goal;
}

void gmi_pacer_start_cycle(gmi_pacer_t *p) {
    p->last_heap_goal = p->heap_goal;
}

void gmi_pacer_end_cycle(gmi_pacer_t *p, uint64_t marked, uint64_t heap_scan, uint64_t stack_scan,
                         uint64_t globals_scan, const gmi_pacer_mem_t *mem) {
    p->heap_marked = marked;
    p->heap_scan = heap_scan;
    p->stack_scan = stack_scan;
    p->globals_scan = globals_scan;
    gmi_pacer_commit(p, mem);
}

int gmi_pacer_set_gc_percent(gmi_pacer_t *p, int gc_percent, const gmi_pacer_mem_t *mem) {
    int old = p->gc_percent;
    p->gc_percent = gc_percent < 0 ? -1 : gc_percent;
    gmi_pacer_commit(p, mem);
    return old;
}

int64_t gmi_pacer_set_memory_limit(gmi_pacer_t *p, int64_t limit, const gmi_pacer_mem_t *mem) {
    int64_t old = p->memory_limit;
    if (limit >= 0) {
        p->memory_limit = limit;
        gmi_pacer_commit(p, mem);
    }
    return old;
}
