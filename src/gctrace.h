/* gctrace.h: GODEBUG=gctrace=1 and scavtrace=1 lines, byte for byte in Go's format.
 * The collector fills a gmi_gc_cycle_t per cycle; formatting is a pure function so
 * tests can check the text exactly. See gctrace.c and docs/environment.md. */
#ifndef GMI_GCTRACE_H
#define GMI_GCTRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden) /* see internal.h */

#define GMI_GCTRACE_LINE_MAX 512 /* longest possible line is under 400 bytes */

/* One collection's numbers. Times are nanoseconds; sizes are bytes (printed >> 20). */
typedef struct gmi_gc_cycle_s {
    uint32_t num;               /* gc N: cycle number after the increment, from 1 */
    uint64_t start_ns;          /* @T: cycle start minus process start */
    double cpu_fraction;        /* P%: GC share of available CPU since start (0..1) */
    uint64_t stw1_ns;           /* W1: first stop-the-world phase (wall) */
    uint64_t mark_ns;           /* W2: concurrent mark (wall); 0 in gomem */
    uint64_t stw2_ns;           /* W3: second stop-the-world phase (wall) */
    uint64_t assist_cpu_ns;     /* C2a: mutator assist CPU */
    uint64_t background_cpu_ns; /* C2b: dedicated + fractional worker CPU */
    uint64_t idle_cpu_ns;       /* C2c: idle worker CPU */
    int stw_procs;              /* C1 = W1 x stw_procs, C3 = W3 x stw_procs */
    uint64_t heap0;             /* H0: heap_live when the cycle started */
    uint64_t heap1;             /* H1: heap_live when marking ended */
    uint64_t heap2;             /* H2: bytes marked live */
    uint64_t goal;              /* GOAL: the goal this cycle was paced against */
    uint64_t stacks;            /* S: stack bytes scanned */
    uint64_t globals;           /* G: global bytes scanned */
    int procs;                  /* NP P */
    bool forced;                /* " (forced)": started by gm_collect */
} gmi_gc_cycle_t;

/* The scavenger's numbers since its last line. */
typedef struct gmi_scav_cycle_s {
    uint64_t released_bg;    /* bytes released by the background scavenger */
    uint64_t released_eager; /* bytes released synchronously (heap growth, memory limit) */
    uint64_t released_now;   /* heap bytes currently released (HeapReleased) */
    uint64_t heap_inuse;     /* bytes in in-use spans */
    uint64_t heap_free;      /* free, unreleased heap bytes */
    bool forced;             /* " (forced)": produced by an explicit release request */
} gmi_scav_cycle_t;

/* gmi_gctrace_format writes Go's gctrace line for c, ending in '\n', into buf as
 * gmi_snprintf does (truncated, NUL-terminated) and returns its full length.
 * Async-signal-safe; no allocation. GMI_GCTRACE_LINE_MAX bytes always suffice. */
int gmi_gctrace_format(char *buf, size_t n, const gmi_gc_cycle_t *c);
/* gmi_scavtrace_format writes
 *   scav <bg> KiB work (bg), <eager> KiB work (eager), <now> KiB now, <util>% util[ (forced)]\n */
int gmi_scavtrace_format(char *buf, size_t n, const gmi_scav_cycle_t *s);
/* gmi_gctrace_fmt_ms formats ns as gctrace prints milliseconds: whole ms from 10 ms
 * up; below, two significant digits of whole microseconds with at most 3 decimals;
 * "0" under 1 us. Returns the length, as gmi_snprintf. */
int gmi_gctrace_fmt_ms(char *buf, size_t n, uint64_t ns);
/* Format and write one line to stderr with a single write(2). */
void gmi_gctrace_print(const gmi_gc_cycle_t *c);
void gmi_scavtrace_print(const gmi_scav_cycle_t *s);

#pragma GCC visibility pop

#endif
