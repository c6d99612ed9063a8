/* pacer.h: GOGC / GOMEMLIMIT arithmetic as pure functions over a state struct, so
 * tests can run table-driven scenarios (as Go's TestGcPacer does).
 * See gc.c for the collector overview and pacer.c for the formulas. */
#ifndef GMI_PACER_H
#define GMI_PACER_H

#include <stdbool.h>
#include <stdint.h>

#pragma GCC visibility push(hidden) /* see internal.h */

#define GMI_HEAP_MINIMUM            ((uint64_t)4 << 20) /* Go's defaultHeapMinimum */
#define GMI_SWEEP_MIN_HEAP_DISTANCE ((uint64_t)1 << 20) /* Go's sweepMinHeapDistance */
#define GMI_LIMIT_HEADROOM_PERCENT  3                   /* memory-limit goal headroom (Go 1.21+) */
#define GMI_LIMIT_MIN_HEADROOM      ((uint64_t)1 << 20) /* and its floor */
#define GMI_TRIGGER_MIN_64THS       45 /* trigger lower bound: 45/64 of the runway */
#define GMI_TRIGGER_MAX_64THS       61 /* trigger upper bound: 61/64 */

typedef struct gmi_pacer_s {
    /* settings */
    int gc_percent;       /* GOGC; < 0 = off */
    int64_t memory_limit; /* bytes; INT64_MAX = off */

    /* inputs from the last completed cycle */
    uint64_t heap_marked;  /* M: bytes marked live */
    uint64_t stack_scan;   /* S: stack bytes scanned */
    uint64_t globals_scan; /* G: global bytes scanned */
    uint64_t heap_scan;    /* scannable part of heap_marked */
    double cons_mark;      /* allocation rate / scan rate estimate; unused while marking is
                              stop-the-world (kept for a concurrent mark; see pacer.c) */
    /* Optional floor for the GOGC goal and the trigger: Go's sweepDistMinTrigger
     * (heap_live + 1 MiB when sweeping is unfinished at commit). 0 = none; tests leave
     * it 0, the collector sets it before gmi_pacer_commit. Not applied to a goal set by
     * the memory limit. */
    uint64_t sweep_dist_min_trigger;

    /* outputs (recomputed by gmi_pacer_commit) */
    uint64_t heap_goal;      /* bytes; UINT64_MAX when no goal */
    uint64_t trigger;        /* start a cycle when heap_live >= trigger; UINT64_MAX = never */
    bool limit_bound;        /* the memory-limit goal is the smaller one (in force) */
    uint64_t last_heap_goal; /* the goal the cycle in progress/last started was paced against */
} gmi_pacer_t;

/* Inputs that vary between reads, for the memory-limit goal. */
typedef struct gmi_pacer_mem_s {
    uint64_t mapped_ready; /* bytes mapped and not released (Go's mappedReady) */
    uint64_t heap_free;    /* free, unreleased heap bytes */
    uint64_t heap_alloc;   /* bytes in allocated objects */
} gmi_pacer_mem_t;

/* gmi_pacer_init resets p for an empty heap and commits: goal = 4 MiB x GOGC/100
 * (or the limit goal if smaller). */
void gmi_pacer_init(gmi_pacer_t *p, int gc_percent, int64_t memory_limit);
/* gmi_pacer_start_cycle records the goal the starting cycle is paced against
 * (last_heap_goal, the GOAL of gctrace). Call when a cycle starts. */
void gmi_pacer_start_cycle(gmi_pacer_t *p);
/* gmi_pacer_end_cycle records a finished cycle's measurements and commits. */
void gmi_pacer_end_cycle(gmi_pacer_t *p, uint64_t marked, uint64_t heap_scan, uint64_t stack_scan,
                         uint64_t globals_scan, const gmi_pacer_mem_t *mem);
/* gmi_pacer_commit recomputes heap_goal and trigger (after a setting changes, too).
 * mem may be NULL: the memory-limit goal then counts no non-heap memory. */
void gmi_pacer_commit(gmi_pacer_t *p, const gmi_pacer_mem_t *mem);
/* Setters in the style of debug.SetGCPercent / SetMemoryLimit: change the setting,
 * commit, return the previous value. A negative limit only queries. */
int gmi_pacer_set_gc_percent(gmi_pacer_t *p, int gc_percent, const gmi_pacer_mem_t *mem);
int64_t gmi_pacer_set_memory_limit(gmi_pacer_t *p, int64_t limit, const gmi_pacer_mem_t *mem);
/* The two candidate goals; UINT64_MAX when the knob is off. */
uint64_t gmi_pacer_gogc_goal(const gmi_pacer_t *p);
uint64_t gmi_pacer_limit_goal(const gmi_pacer_t *p, const gmi_pacer_mem_t *mem);
/* gmi_pacer_trigger_for returns the trigger for a given goal under p's inputs. */
uint64_t gmi_pacer_trigger_for(const gmi_pacer_t *p, uint64_t goal, bool limit_bound);

#pragma GCC visibility pop

#endif
