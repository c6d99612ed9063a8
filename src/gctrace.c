/* gctrace.c: the GODEBUG=gctrace=1 line, and the scavtrace=1 line, in Go's format.
 *
 *   gc N @T.TTTs P%: W1+W2+W3 ms clock, C1+C2a/C2b/C2c+C3 ms cpu,
 *      H0->H1->H2 MB, GOAL MB goal, S MB stacks, G MB globals, NP P[ (forced)]
 *
 * (one line). Tools parse this text, so the number rules are Go's exactly:
 *   - "@T" is whole milliseconds since start, truncated, shown as seconds with three
 *     decimals (4203 ms -> 4.203);
 *   - P is int(cpu_fraction x 100), truncated;
 *   - a time of 10 ms or more is whole milliseconds, truncated; below that the time is
 *     truncated to whole microseconds, then to two significant digits, and shown
 *     with at most three decimals, keeping trailing zeros (5 us -> 0.005,
 *     328 us -> 0.32, 408 us -> 0.40, 3.2 ms -> 3.2); under 1 us it is "0";
 *   - C1 and C3 are W1 and W3 times stw_procs, computed in ns before formatting;
 *   - every MB figure is bytes >> 20.
 * gomem marks with the world stopped, so the collector reports its mark time in the
 * stop-the-world fields and W2 = C2a = C2b = C2c = 0 (docs/environment.md gives the
 * exact mapping). See gc.c for the collector overview. */
#include <errno.h>
#include <unistd.h>

#include "gctrace.h"
#include "internal.h"

#define GCTRACE_LINE_MAX GMI_GCTRACE_LINE_MAX

/* gctrace_fixed writes val with a decimal point dec digits from the right (dec may
 * be 0), always with a digit before the point: (41, 3) -> "0.041", (32, 2) -> "0.32". */
static int gctrace_fixed(char *buf, size_t n, uint64_t val, int dec) {
    char tmp[32];
    int i = (int)sizeof tmp;
    int digits = 0;
    do {
        if (dec > 0 && digits == dec) tmp[--i] = '.';
        tmp[--i] = (char)('0' + val % 10);
        val /= 10;
        digits++;
    } while (val != 0 || digits <= dec);
    return gmi_snprintf(buf, n, "%.*s", (int)sizeof tmp - i, tmp + i);
}

int gmi_gctrace_fmt_ms(char *buf, size_t n, uint64_t ns) {
    if (ns >= 10000000) return gctrace_fixed(buf, n, ns / 1000000, 0);
    uint64_t us = ns / 1000;
    if (us == 0) return gmi_snprintf(buf, n, "0");
    int dec = 3;
    while (us >= 100) { /* keep two significant digits */
        us /= 10;
        dec--;
    }
    return gctrace_fixed(buf, n, us, dec);
}

/* gctrace_mul multiplies a phase time by a processor count, saturating. */
static uint64_t gctrace_mul(uint64_t ns, int procs) {
    if (procs <= 0) return 0;
    if (ns > UINT64_MAX / (uint64_t)procs) return UINT64_MAX;
    return ns * (uint64_t)procs;
}

int gmi_gctrace_format(char *buf, size_t n, const gmi_gc_cycle_t *c) {
    char at[32], t[8][32];
    gctrace_fixed(at, sizeof at, c->start_ns / 1000000, 3);
    gmi_gctrace_fmt_ms(t[0], sizeof t[0], c->stw1_ns);
    gmi_gctrace_fmt_ms(t[1], sizeof t[1], c->mark_ns);
    gmi_gctrace_fmt_ms(t[2], sizeof t[2], c->stw2_ns);
    gmi_gctrace_fmt_ms(t[3], sizeof t[3], gctrace_mul(c->stw1_ns, c->stw_procs));
    gmi_gctrace_fmt_ms(t[4], sizeof t[4], c->assist_cpu_ns);
    gmi_gctrace_fmt_ms(t[5], sizeof t[5], c->background_cpu_ns);
    gmi_gctrace_fmt_ms(t[6], sizeof t[6], c->idle_cpu_ns);
    gmi_gctrace_fmt_ms(t[7], sizeof t[7], gctrace_mul(c->stw2_ns, c->stw_procs));
    /* int(x * 100) in Go truncates toward zero; clamp what an int cannot hold. */
    double pct = c->cpu_fraction * 100;
    int util = pct >= 2147483647.0 ? 2147483647 : pct > 0 ? (int)pct : 0;
    return gmi_snprintf(buf, n,
                        "gc %u @%ss %d%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
                        "%llu->%llu->%llu MB, %llu MB goal, %llu MB stacks, %llu MB globals, "
                        "%d P%s\n",
                        (unsigned)c->num, at, util, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7],
                        (unsigned long long)(c->heap0 >> 20), (unsigned long long)(c->heap1 >> 20),
                        (unsigned long long)(c->heap2 >> 20), (unsigned long long)(c->goal >> 20),
                        (unsigned long long)(c->stacks >> 20),
                        (unsigned long long)(c->globals >> 20), c->procs,
                        c->forced ? " (forced)" : "");
}

int gmi_scavtrace_format(char *buf, size_t n, const gmi_scav_cycle_t *s) {
    uint64_t retained = s->heap_inuse + s->heap_free;
    /* Nothing retained: report 0% rather than divide by zero. */
    uint64_t util = retained ? s->heap_inuse * 100 / retained : 0;
    return gmi_snprintf(buf, n,
                        "scav %llu KiB work (bg), %llu KiB work (eager), %llu KiB now, "
                        "%llu%% util%s\n",
                        (unsigned long long)(s->released_bg >> 10),
                        (unsigned long long)(s->released_eager >> 10),
                        (unsigned long long)(s->released_now >> 10), (unsigned long long)util,
                        s->forced ? " (forced)" : "");
}

/* gctrace_write writes len bytes to stderr in one write, retrying on EINTR. */
static void gctrace_write(const char *buf, int len) {
    if (len <= 0) return;
    if (len >= GCTRACE_LINE_MAX) len = GCTRACE_LINE_MAX - 1;
    int saved = errno;
    ssize_t w;
    do {
        w = write(2, buf, (size_t)len);
    } while (w < 0 && errno == EINTR);
    errno = saved;
}

void gmi_gctrace_print(const gmi_gc_cycle_t *c) {
    char buf[GCTRACE_LINE_MAX];
    gctrace_write(buf, gmi_gctrace_format(buf, sizeof buf, c));
}

void gmi_scavtrace_print(const gmi_scav_cycle_t *s) {
    char buf[GCTRACE_LINE_MAX];
    gctrace_write(buf, gmi_scavtrace_format(buf, sizeof buf, s));
}
