/* pacer.h: GOGC / GOMEMLIMIT arithmetic as pure functions over a state struct, so
 * tests can run table-driven scenarios (as Go's TestGcPacer does).
 * See gc.c for the collector overview and pacer.c for the formulas. */
#ifndef GMI_PACER_H
#define GMI_PACER_H

#include <stdbool.h>
#include <stdint.h>

#define GMI_HEAP_MINIMUM ((uint64_t)4 << 20) /* Go's defaultHeapMinimum */

typedef struct gmi_pacer_s {
    /* settings */
    int gc_percent;        /* GOGC; < 0 = off */
    int64_t memory_limit;  /* bytes; INT64_MAX = off */

    /* inputs from the last completed cycle */
    uint64_t heap_marked;  /* M: bytes marked live */
    uint64_t stack_scan;   /* S: stack bytes scanned */
    uint64_t globals_scan; /* G: global bytes scanned */
    uint64_t heap_scan;    /* scannable part of heap_marked */
    double cons_mark;      /* allocation rate / scan rate estimate (stop-the-world: see pacer.c) */

    /* outputs (recomputed by gmi_pacer_commit) */
    uint64_t heap_goal;    /* bytes; UINT64_MAX when no goal */
    uint64_t trigger;      /* start a cycle when heap_live >= trigger; UINT64_MAX = never */
    uint64_t last_heap_goal; /* the goal the cycle in progress/last started was paced against */
} gmi_pacer_t;

/* Inputs that vary between reads, for the memory-limit goal. */
typedef struct gmi_pacer_mem_s {
    uint64_t mapped_ready; /* bytes mapped and not released (Go's mappedReady) */
    uint64_t heap_free;    /* free, unreleased heap bytes */
    uint64_t heap_alloc;   /* bytes in allocated objects */
} gmi_pacer_mem_t;

void gmi_pacer_init(gmi_pacer_t *p, int gc_percent, int64_t memory_limit);
/* gmi_pacer_end_cycle records a finished cycle's measurements and commits. */
void gmi_pacer_end_cycle(gmi_pacer_t *p, uint64_t marked, uint64_t heap_scan, uint64_t stack_scan,
                         uint64_t globals_scan, const gmi_pacer_mem_t *mem);
/* gmi_pacer_commit recomputes heap_goal and trigger (after a setting changes, too). */
void gmi_pacer_commit(gmi_pacer_t *p, const gmi_pacer_mem_t *mem);
uint64_t gmi_pacer_gogc_goal(const gmi_pacer_t *p);
uint64_t gmi_pacer_limit_goal(const gmi_pacer_t *p, const gmi_pacer_mem_t *mem);

#endif
