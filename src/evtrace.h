/* evtrace.h: the GC event trace (evtrace.c), Chrome trace event JSON for Perfetto and
 * chrome://tracing. The collector and the background sweeper append fixed-size records
 * to an mmap'd buffer; the buffer is formatted and written with write(2) only with the
 * world running and no gomem lock but gmi_gc.lock held.
 * See gc.c for the collector overview. */
#ifndef GMI_EVTRACE_H
#define GMI_EVTRACE_H

#include "internal.h"

#pragma GCC visibility push(hidden) /* see internal.h */

/* One collection's timestamps (gmi_os_nanotime) and heap figures, filled by
 * collect_locked from its locals at @@hook:after_world_start@@. */
typedef struct gmi_evtrace_cycle_s {
    uint64_t t_begin, t_stop, t_stopped, t_marked, t_end;
    uint64_t heap0;  /* heap_live when the cycle started */
    uint64_t marked; /* bytes marked */
    uint64_t goal;   /* the heap goal in force after the cycle (the next cycle's) */
    uint32_t num;    /* cycle number (1-based, as gctrace) */
    bool forced;
} gmi_evtrace_cycle_t;

/* gmi_evtrace_cycle records a cycle; caller holds gmi_gc.lock only, world running. It
 * may write the buffer to the trace file. Cheap no-op when no trace is active. */
void gmi_evtrace_cycle(const gmi_evtrace_cycle_t *c);
/* gmi_evtrace_sweep records one batch of the background sweeper (n spans swept).
 * Takes no gomem lock but the trace's own. */
void gmi_evtrace_sweep(uint64_t t0, uint64_t t1, uint64_t nspans);
/* gmi_evtrace_scavenge records one pass of the scavenger that returned bytes. */
void gmi_evtrace_scavenge(uint64_t t0, uint64_t t1, uint64_t bytes);
/* gmi_evtrace_init reads GOMEMTRACE (starting a trace closed at exit). Called once
 * from gmi_init_slow. */
void gmi_evtrace_init(void);
/* The trace lock: taken last by gmi_lock_all (a leaf: nothing is taken inside it). */
extern gmi_lock_t gmi_evtrace_lock;
/* In a forked child: reinitialize the lock and stop tracing (the file is the parent's). */
void gmi_evtrace_fork_child(void);

#pragma GCC visibility pop

#endif
