/* test_gctrace.c: the gctrace and scavtrace lines, byte for byte against the design
 * reference's examples (§6.2, §6.3), the millisecond rules, and the line's shape. */
#include <string.h>

#include "check.h"
#include "gctrace.h"
#include "internal.h"

#define MiB ((uint64_t)1 << 20)
#define KiB ((uint64_t)1 << 10)

static int same(const char *got, const char *want, int line) {
    if (strcmp(got, want) == 0) return 1;
    fprintf(stderr, "test_gctrace.c:%d:\n  got  \"%s\"\n  want \"%s\"\n", line, got, want);
    return 0;
}
#define CHECK_STR(got, want) CHECK(same((got), (want), __LINE__))

static const char *ms(uint64_t ns) {
    static char buf[64];
    gmi_gctrace_fmt_ms(buf, sizeof buf, ns);
    return buf;
}

static void test_ms_rules(void) {
    CHECK_STR(ms(0), "0");
    CHECK_STR(ms(999), "0"); /* under 1 us */
    CHECK_STR(ms(1000), "0.001");
    CHECK_STR(ms(5000), "0.005");  /* 5 us */
    CHECK_STR(ms(5999), "0.005");  /* truncated to whole us */
    CHECK_STR(ms(10000), "0.010"); /* trailing zero kept */
    CHECK_STR(ms(12000), "0.012");
    CHECK_STR(ms(41000), "0.041");
    CHECK_STR(ms(99999), "0.099");
    CHECK_STR(ms(100000), "0.10");
    CHECK_STR(ms(150000), "0.15");
    CHECK_STR(ms(328000), "0.32"); /* 0.041 x 8: two significant digits */
    CHECK_STR(ms(408000), "0.40");
    CHECK_STR(ms(999999), "0.99");
    CHECK_STR(ms(1000000), "1.0");
    CHECK_STR(ms(1300000), "1.3");
    CHECK_STR(ms(3200000), "3.2");
    CHECK_STR(ms(9999999), "9.9");
    CHECK_STR(ms(10000000), "10");
    CHECK_STR(ms(12340000), "12"); /* 12.34 ms -> whole ms */
    CHECK_STR(ms(12999999), "12");
    CHECK_STR(ms(1234567890123ULL), "1234567");
    CHECK_STR(ms(UINT64_MAX), "18446744073709");
    char small[4];
    CHECK_EQ(gmi_gctrace_fmt_ms(small, sizeof small, 41000), 5);
    CHECK_STR(small, "0.0");
}

static void test_reference_lines(void) {
    char buf[512];
    /* §6.2 line 1. */
    gmi_gc_cycle_t c1 = {
        .num = 12,
        .start_ns = 4203999999ULL, /* 4.203 s, truncated */
        .cpu_fraction = 0.0345,
        .stw1_ns = 41000,
        .mark_ns = 3200000,
        .stw2_ns = 89000,
        .assist_cpu_ns = 520000,
        .background_cpu_ns = 6100000,
        .idle_cpu_ns = 11000000,
        .stw_procs = 8,
        .heap0 = 97 * MiB,
        .heap1 = 101 * MiB + 123,
        .heap2 = 52 * MiB,
        .goal = 104 * MiB,
        .stacks = 1 * MiB + 4096,
        .globals = 300 * KiB,
        .procs = 8,
        .forced = false,
    };
    int len = gmi_gctrace_format(buf, sizeof buf, &c1);
    const char *want1 = "gc 12 @4.203s 3%: 0.041+3.2+0.089 ms clock, 0.32+0.52/6.1/11+0.71 ms cpu, "
                        "97->101->52 MB, 104 MB goal, 1 MB stacks, 0 MB globals, 8 P\n";
    CHECK_STR(buf, want1);
    CHECK_EQ(len, strlen(want1));

    /* §6.2 line 2. */
    gmi_gc_cycle_t c2 = {
        .num = 13,
        .start_ns = 5010000000ULL,
        .cpu_fraction = 0.03,
        .stw1_ns = 22000,
        .mark_ns = 1900000,
        .stw2_ns = 51000,
        .assist_cpu_ns = 0,
        .background_cpu_ns = 3600000,
        .idle_cpu_ns = 450000,
        .stw_procs = 8,
        .heap0 = 60 * MiB,
        .heap1 = 60 * MiB,
        .heap2 = 12 * MiB,
        .goal = 105 * MiB,
        .stacks = 1 * MiB,
        .globals = 0,
        .procs = 8,
        .forced = true,
    };
    gmi_gctrace_format(buf, sizeof buf, &c2);
    CHECK_STR(buf, "gc 13 @5.010s 3%: 0.022+1.9+0.051 ms clock, 0.17+0/3.6/0.45+0.40 ms cpu, "
                   "60->60->12 MB, 105 MB goal, 1 MB stacks, 0 MB globals, 8 P (forced)\n");

    /* Truncation behaves as snprintf. */
    char tiny[20];
    CHECK_EQ(gmi_gctrace_format(tiny, sizeof tiny, &c2), strlen(buf));
    CHECK_STR(tiny, "gc 13 @5.010s 3%: 0");
}

/* Pieces of the shape matcher: each consumes from *p and reports a match. */
static int lit(const char **p, const char *s) {
    size_t n = strlen(s);
    if (strncmp(*p, s, n) != 0) return 0;
    *p += n;
    return 1;
}

static int digits(const char **p) {
    const char *s = *p;
    while (**p >= '0' && **p <= '9')
        (*p)++;
    return *p > s;
}

/* A gctrace time: digits, or digits '.' 1-3 digits with two significant digits (one
 * when under 10 us: 0.001 .. 0.009). */
static int ms_time(const char **p) {
    const char *s = *p;
    if (!digits(p)) return 0;
    if (**p != '.') return 1;
    (*p)++;
    const char *d = *p;
    if (!digits(p) || *p - d > 3) return 0;
    int sig = 0, started = 0;
    for (const char *q = s; q < *p; q++) {
        if (*q == '.') continue;
        if (*q != '0') started = 1;
        sig += started;
    }
    return sig == 2 || (sig == 1 && *p - d == 3);
}

static void test_gomem_shape(void) {
    /* How gomem fills it: everything in the stop-the-world fields, W2 and C2 zero. */
    gmi_gc_cycle_t c = {
        .num = 1,
        .start_ns = 5000000, /* 5 ms */
        .cpu_fraction = 0,
        .stw1_ns = 120,
        .mark_ns = 0,
        .stw2_ns = 12340000,
        .stw_procs = 4,
        .heap0 = 4 * MiB,
        .heap1 = 4 * MiB,
        .heap2 = 1 * MiB - 1,
        .goal = 4 * MiB,
        .procs = 4,
    };
    char buf[512];
    gmi_gctrace_format(buf, sizeof buf, &c);
    CHECK_STR(buf, "gc 1 @0.005s 0%: 0+0+12 ms clock, 0+0/0/0+49 ms cpu, 4->4->0 MB, "
                   "4 MB goal, 0 MB stacks, 0 MB globals, 4 P\n");

    /* The longest possible line fits the documented buffer. */
    gmi_gc_cycle_t big = {UINT32_MAX, UINT64_MAX,      1e300,      UINT64_MAX, UINT64_MAX,
                          UINT64_MAX, UINT64_MAX,      UINT64_MAX, UINT64_MAX, 2147483647,
                          UINT64_MAX, UINT64_MAX,      UINT64_MAX, UINT64_MAX, UINT64_MAX,
                          UINT64_MAX, -2147483647 - 1, true};
    CHECK_LT(gmi_gctrace_format(NULL, 0, &big), GMI_GCTRACE_LINE_MAX);

    /* Shape check over many random cycles: a hand-written matcher for
     *   ^gc [0-9]+ @[0-9]+\.[0-9]{3}s [0-9]+%: T\+T\+T ms clock, T\+T/T/T\+T ms cpu,
     *    [0-9]+->[0-9]+->[0-9]+ MB, [0-9]+ MB goal, [0-9]+ MB stacks, [0-9]+ MB globals,
     *    [0-9]+ P( \(forced\))?\n$
     * where T is 0, [0-9]+ or [0-9]+\.[0-9]{1,3} with exactly two significant digits. */
    uint64_t seed = 7;
    int bad = 0;
    for (int i = 0; i < 20000 && !bad; i++) {
        gmi_gc_cycle_t r = {
            .num = (uint32_t)check_rand(&seed),
            .start_ns = check_rand(&seed) >> (check_rand(&seed) % 64),
            .cpu_fraction = (double)(check_rand(&seed) % 1000) / 1000.0,
            .stw1_ns = check_rand(&seed) >> (check_rand(&seed) % 64),
            .mark_ns = check_rand(&seed) >> (check_rand(&seed) % 64),
            .stw2_ns = check_rand(&seed) >> (check_rand(&seed) % 64),
            .assist_cpu_ns = check_rand(&seed) >> (check_rand(&seed) % 64),
            .background_cpu_ns = check_rand(&seed) >> (check_rand(&seed) % 64),
            .idle_cpu_ns = check_rand(&seed) >> (check_rand(&seed) % 64),
            .stw_procs = (int)(check_rand(&seed) % 256),
            .heap0 = check_rand(&seed),
            .heap1 = check_rand(&seed),
            .heap2 = check_rand(&seed),
            .goal = check_rand(&seed),
            .stacks = check_rand(&seed),
            .globals = check_rand(&seed),
            .procs = (int)(check_rand(&seed) % 1024),
            .forced = check_rand(&seed) & 1,
        };
        int n = gmi_gctrace_format(buf, sizeof buf, &r);
        if (n <= 0 || n >= GMI_GCTRACE_LINE_MAX || (size_t)n != strlen(buf)) {
            fprintf(stderr, "bad length %d\n", n);
            bad = 1;
            break;
        }
        const char *p = buf;
        int ok = lit(&p, "gc ") && digits(&p) && lit(&p, " @") && digits(&p) && lit(&p, ".");
        const char *frac = p;
        ok = ok && digits(&p) && p - frac == 3 && lit(&p, "s ") && digits(&p) && lit(&p, "%: ");
        ok = ok && ms_time(&p) && lit(&p, "+") && ms_time(&p) && lit(&p, "+") && ms_time(&p) &&
             lit(&p, " ms clock, ");
        ok = ok && ms_time(&p) && lit(&p, "+") && ms_time(&p) && lit(&p, "/") && ms_time(&p) &&
             lit(&p, "/") && ms_time(&p) && lit(&p, "+") && ms_time(&p) && lit(&p, " ms cpu, ");
        ok = ok && digits(&p) && lit(&p, "->") && digits(&p) && lit(&p, "->") && digits(&p) &&
             lit(&p, " MB, ");
        ok = ok && digits(&p) && lit(&p, " MB goal, ") && digits(&p) && lit(&p, " MB stacks, ") &&
             digits(&p) && lit(&p, " MB globals, ") && digits(&p) && lit(&p, " P");
        if (ok && r.forced) ok = lit(&p, " (forced)");
        ok = ok && lit(&p, "\n") && *p == '\0';
        if (!ok) {
            fprintf(stderr, "bad shape at offset %d: %s", (int)(p - buf), buf);
            bad = 1;
        }
    }
    CHECK(!bad);
}

static void test_scavtrace(void) {
    char buf[256];
    gmi_scav_cycle_t s = {0, 2048 * KiB, 118784 * KiB, 87, 13, false};
    gmi_scavtrace_format(buf, sizeof buf, &s);
    CHECK_STR(buf, "scav 0 KiB work (bg), 2048 KiB work (eager), 118784 KiB now, 87% util\n");
    gmi_scav_cycle_t f = {0, 186944 * KiB, 208704 * KiB, 9 * MiB, 91 * MiB - 1, true};
    gmi_scavtrace_format(buf, sizeof buf, &f);
    CHECK_STR(buf,
              "scav 0 KiB work (bg), 186944 KiB work (eager), 208704 KiB now, 9% util (forced)\n");
    gmi_scav_cycle_t z = {1023, 1024, 0, 0, 0, false};
    gmi_scavtrace_format(buf, sizeof buf, &z);
    CHECK_STR(buf, "scav 0 KiB work (bg), 1 KiB work (eager), 0 KiB now, 0% util\n");
}

int main(void) {
    test_ms_rules();
    test_reference_lines();
    test_gomem_shape();
    test_scavtrace();
    return check_done();
}
