/* fuzz_knobs.c: libFuzzer target for the knob parsers (GOGC, GOMEMLIMIT, GODEBUG,
 * GOMEMDEBUG, GOMEMSIGNAL, GOMEMMARKWORKERS) and the gctrace time formatter.
 *
 * Each input is used as one NUL-terminated string (bytes after an embedded NUL are
 * ignored by the parsers, as by getenv). Checked: no crash or UB (run under ASan and
 * UBSan), outputs in range, a failed parse leaves its output untouched, and GOGC /
 * GOMEMLIMIT agree with a slow independent oracle written here.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc -Iinclude \
 *       tests/fuzz/fuzz_knobs.c src/env.c src/fmt.c src/gctrace.c -o fuzz_knobs
 *   ./fuzz_knobs -close_fd_mask=2 tests/fuzz/corpus/knobs
 * (-close_fd_mask=2 silences the "gomem: malformed ..." lines; crashes still print.)
 *
 * With -DGM_FUZZ_REPLAY the file has its own main: every file (or every file in each
 * directory) named on the command line is run once, so `make test` replays the seeds
 * with gcc and no libFuzzer. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gctrace.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const char *input) {
    fprintf(stderr, "fuzz_knobs: %s for input \"%.200s\"\n", what, input);
    abort();
}

/* ---- slow oracles, deliberately written differently from env.c ---- */

/* oracle_gogc: -2 = malformed, else the expected value. */
static long long oracle_gogc(const char *s) {
    if (strcmp(s, "off") == 0) return -1;
    const char *d = s[0] == '-' ? s + 1 : s;
    if (*d == '\0') return -2;
    for (const char *q = d; *q; q++)
        if (*q < '0' || *q > '9') return -2;
    while (d[0] == '0' && d[1] != '\0')
        d++; /* leading zeros */
    if (strlen(d) > 12) return -2;
    long long v = strtoll(d, NULL, 10);
    if (s[0] == '-') v = -v;
    if (v > INT_MAX || v < INT_MIN) return -2;
    return v < 0 ? -1 : v;
}

/* oracle_memlimit: returns 0 and sets *out, or -1. */
static int oracle_memlimit(const char *s, int64_t *out) {
    if (strcmp(s, "off") == 0) {
        *out = INT64_MAX;
        return 0;
    }
    if (strcmp(s, "auto") == 0) {
        *out = -2;
        return 0;
    }
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"B", 0}, {"", 0}};
    size_t len = strlen(s);
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t sl = strlen(units[u].suffix);
        if (len < sl || strcmp(s + len - sl, units[u].suffix) != 0) continue;
        size_t nl = len - sl;
        const char *d = s;
        if (nl > 0 && d[0] == '-') {
            d++;
            nl--;
        }
        if (nl == 0) return -1;
        for (size_t i = 0; i < nl; i++)
            if (d[i] < '0' || d[i] > '9') return -1;
        /* Strip leading zeros, then compare magnitudes as decimal strings. */
        while (nl > 1 && d[0] == '0') {
            d++;
            nl--;
        }
        if (nl > 20) return -1;
        char num[24];
        memcpy(num, d, nl);
        num[nl] = '\0';
        if (nl == 20 && strcmp(num, "18446744073709551615") > 0) return -1;
        unsigned long long v = strtoull(num, NULL, 10);
        if (s[0] == '-' && v != 0) return -1;
        if (v > ((unsigned long long)INT64_MAX >> units[u].shift)) return -1;
        *out = (int64_t)(v << units[u].shift);
        return 0;
    }
    return -1;
}

/* ---- the target ---- */

static void check_config(const gmi_config_t *c, const gmi_config_t *before, const char *in) {
    if (c->gc_percent != before->gc_percent || c->memory_limit != before->memory_limit ||
        c->stop_signal != before->stop_signal || c->mark_workers != before->mark_workers)
        fuzz_fail("list parser touched a field it does not own", in);
    const int *fields[] = {&c->gctrace,        &c->scavtrace,    &c->debug_abort,
                           &c->debug_verify,   &c->debug_poison, &c->debug_gcstress,
                           &c->debug_checkptr, &c->fail_mmap,    &c->fail_madvise};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (*fields[i] < 0) fuzz_fail("negative setting", in);
    if (c->debug_abort > 1 || c->debug_poison > 1 || c->debug_checkptr > 1)
        fuzz_fail("boolean setting out of range", in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    int pct = 12345;
    int rc = gmi_parse_gogc(s, &pct);
    long long want = oracle_gogc(s);
    if (rc != 0 && rc != -1) fuzz_fail("GOGC: bad return code", s);
    if ((rc == 0) != (want != -2)) fuzz_fail("GOGC: accepts differently from oracle", s);
    if (rc == 0 && pct != want) fuzz_fail("GOGC: value differs from oracle", s);
    if (rc != 0 && pct != 12345) fuzz_fail("GOGC: output written on failure", s);
    if (rc == 0 && pct < -1) fuzz_fail("GOGC: below -1", s);

    int64_t lim = 777, want_lim = 0;
    rc = gmi_parse_memlimit(s, &lim);
    int want_rc = oracle_memlimit(s, &want_lim);
    if (rc != want_rc) fuzz_fail("GOMEMLIMIT: accepts differently from oracle", s);
    if (rc == 0 && lim != want_lim) fuzz_fail("GOMEMLIMIT: value differs from oracle", s);
    if (rc != 0 && lim != 777) fuzz_fail("GOMEMLIMIT: output written on failure", s);
    if (rc == 0 && lim < 0 && lim != GMI_MEMLIMIT_AUTO) fuzz_fail("GOMEMLIMIT: negative", s);

    gmi_config_t cfg, before;
    memset(&cfg, 0, sizeof cfg);
    cfg.gc_percent = 100;
    cfg.memory_limit = INT64_MAX;
    before = cfg;
    gmi_parse_godebug(s, &cfg);
    check_config(&cfg, &before, s);
    if (cfg.debug_abort || cfg.debug_verify || cfg.fail_mmap)
        fuzz_fail("GODEBUG set a GOMEMDEBUG field", s);
    before = cfg;
    gmi_parse_gomemdebug(s, &cfg);
    check_config(&cfg, &before, s);

    int v = -7;
    if (gmi_parse_signal(s, &v) == 0) {
        if (v < 0 || v >= 65 || v == 9 || v == 19) fuzz_fail("GOMEMSIGNAL out of range", s);
    } else if (v != -7) {
        fuzz_fail("GOMEMSIGNAL: output written on failure", s);
    }
    v = -7;
    if (gmi_parse_mark_workers(s, &v) == 0) {
        if (v < 0 || v > GMI_MAX_MARK_WORKERS) fuzz_fail("GOMEMMARKWORKERS out of range", s);
    } else if (v != -7) {
        fuzz_fail("GOMEMMARKWORKERS: output written on failure", s);
    }

    /* The first 8 bytes as a duration for the gctrace formatter. */
    if (size >= 8) {
        uint64_t ns;
        memcpy(&ns, data, 8);
        char buf[32];
        int n = gmi_gctrace_fmt_ms(buf, sizeof buf, ns);
        if (n <= 0 || n >= (int)sizeof buf || (size_t)n != strlen(buf))
            fuzz_fail("gctrace time length", s);
    }
    free(s);
    return 0;
}

#ifdef GM_FUZZ_REPLAY
#include "replay.h"

int main(int argc, char **argv) {
    return fuzz_replay_main("fuzz_knobs", argc, argv);
}
#endif
