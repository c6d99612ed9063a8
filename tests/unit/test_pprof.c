/* test_pprof.c: the heap-profile writer on its own: CRC-32 and gzip (checked with
 * gzip(1)), unbiasing, the sampling distance, /proc/self/maps and ELF symbols of this
 * very binary, and a profile of synthetic buckets read back with `go tool pprof`
 * (skipped, with a message, when go is not installed). */
#pragma GCC optimize("no-omit-frame-pointer")
#include "check.h"
#include "profile.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/gomem_pprof_XXXXXX";

static int run(const char *cmd, char *out, size_t outsz) {
    FILE *f = popen(cmd, "r");
    if (f == NULL) return -1;
    size_t n = out ? fread(out, 1, outsz - 1, f) : 0;
    if (out) out[n] = 0;
    if (!out) {
        char buf[4096];
        while (fread(buf, 1, sizeof buf, f) > 0) {
        }
    }
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Reference math without libm (the test links only gomem): e^-x by squaring a short
 * series, square roots by Newton's method. */
static double ref_exp_neg(double x) {
    int k = 0;
    while (x > 1e-3) {
        x /= 2;
        k++;
    }
    double r = 1 - x + x * x / 2 - x * x * x / 6 + x * x * x * x / 24;
    while (k-- > 0)
        r *= r;
    return r;
}

static double ref_sqrt(double v) {
    double r = v > 1 ? v : 1;
    for (int i = 0; i < 200; i++)
        r = (r + v / r) / 2;
    return r;
}

static double fabs_(double v) {
    return v < 0 ? -v : v;
}

static bool have_go(void) {
    return run("command -v go >/dev/null 2>&1", NULL, 0) == 0;
}

/* Distinct functions whose addresses serve as synthetic stack frames. */
__attribute__((noinline)) void unit_site_alpha(int *p);
__attribute__((noinline)) void unit_site_beta(int *p);
enum { ALPHA_LINE = __LINE__ };
__attribute__((noinline)) void unit_site_alpha(int *p) {
    for (int i = 0; i < 16; i++)
        p[i] = i * 3;
}
__attribute__((noinline)) void unit_site_beta(int *p) {
    for (int i = 0; i < 16; i++)
        p[i] = i * 5;
}

static void test_crc_and_gzip(void) {
    CHECK_EQ(gmi_crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
    CHECK_EQ(gmi_crc32(0, NULL, 0), 0);

    /* Input with long repeats, short repeats and noise, to exercise matches of every
     * length and distance as well as literals. */
    size_t n = 3 << 20;
    uint8_t *in = malloc(n);
    uint64_t rs = 42;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = check_rand(&rs);
        if (i > 40000 && (r & 3) == 0)
            in[i] = in[i - 1 - (r >> 8) % 40000];
        else if ((r & 3) == 1)
            in[i] = (uint8_t) "profile"[i % 7];
        else
            in[i] = (uint8_t)(r >> 16);
    }
    gmi_pbuf_t gz = {0};
    gmi_gzip(&gz, in, n);
    CHECK(!gz.failed);
    CHECK(gz.len > 18 && gz.len < n + n / 8 + 64);
    char path[256], cmd[600];
    snprintf(path, sizeof path, "%s/data.gz", tmpdir);
    FILE *f = fopen(path, "wb");
    fwrite(gz.data, 1, gz.len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "gzip -t %s", path);
    CHECK_EQ(run(cmd, NULL, 0), 0);
    snprintf(cmd, sizeof cmd, "gzip -dc %s | cmp -s - %s/data.raw", path, tmpdir);
    char raw[256];
    snprintf(raw, sizeof raw, "%s/data.raw", tmpdir);
    f = fopen(raw, "wb");
    fwrite(in, 1, n, f);
    fclose(f);
    CHECK_EQ(run(cmd, NULL, 0), 0);
    gmi_pbuf_free(&gz);

    /* Empty input is a valid member too. */
    gmi_gzip(&gz, in, 0);
    f = fopen(path, "wb");
    fwrite(gz.data, 1, gz.len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "test \"$(gzip -dc %s | wc -c)\" = 0", path);
    CHECK_EQ(run(cmd, NULL, 0), 0);
    gmi_pbuf_free(&gz);
    free(in);
}

static void test_unbias(void) {
    int64_t c, b;
    /* 64-byte objects at 512 KiB: one sample stands for about 8192.5 objects. */
    gmi_profile_unbias(1, 64, 524288, &c, &b);
    CHECK(c >= 8191 && c <= 8193);
    CHECK(llabs(b - (int64_t)(64 * 8192.5)) < 100);
    /* 1 MiB objects: 1 / (1 - e^-2) = 1.1565 */
    gmi_profile_unbias(100, 100 << 20, 524288, &c, &b);
    CHECK_EQ(c, 115);
    double want = (100.0 * 1048576) / (1 - ref_exp_neg(2.0));
    CHECK(fabs_((double)b - want) < want * 1e-9 + 2);
    /* rate 1 records everything: unchanged; nothing sampled stays nothing. */
    gmi_profile_unbias(7, 700, 1, &c, &b);
    CHECK(c == 7 && b == 700);
    gmi_profile_unbias(0, 0, 524288, &c, &b);
    CHECK(c == 0 && b == 0);
    gmi_profile_unbias(-1, -64, 524288, &c, &b);
    CHECK(c == 0 && b == 0);
    /* Against libm over a range of sizes. */
    for (int64_t size = 8; size < ((int64_t)1 << 26); size *= 3) {
        gmi_profile_unbias(1000, 1000 * size, 524288, &c, &b);
        double scale = 1 / (1 - ref_exp_neg((double)size / 524288));
        CHECK(fabs_((double)c - 1000 * scale) <= 1 + 1e-9 * 1000 * scale);
    }
}

static void test_next_sample(void) {
    int64_t old = atomic_load(&gmi_profile_rate);
    atomic_store(&gmi_profile_rate, 524288);
    double sum = 0, sum2 = 0;
    int n = 200000, small = 0, zero = 0;
    int64_t mx = 0;
    for (int i = 0; i < n; i++) {
        int64_t d = gmi_profile_next_sample();
        zero += d < 1; /* never zero at this rate */
        sum += (double)d;
        sum2 += (double)d * (double)d;
        if (d < 524288 * 0.6931471805599453) small++;
        if (d > mx) mx = d;
    }
    CHECK_EQ(zero, 0);
    double mean = sum / n, sd = ref_sqrt(sum2 / n - mean * mean);
    /* Exponential: mean = sd = rate, median = rate ln 2. */
    CHECK(fabs_(mean - 524288) < 524288 * 0.02);
    CHECK(fabs_(sd - 524288) < 524288 * 0.05);
    CHECK(abs(small - n / 2) < n / 50);
    CHECK(mx > 524288 * 8);
    /* Rates past Go's 112 MiB cap keep their mean (the writers unbias with the rate as
     * set: a capped distance made a 1 GiB rate overstate totals tenfold), and the
     * largest rates give huge but valid distances. */
    const int64_t big = (int64_t)1 << 30;
    atomic_store(&gmi_profile_rate, big);
    sum = 0;
    for (int i = 0; i < 20000; i++)
        sum += (double)gmi_profile_next_sample();
    CHECK(fabs_(sum / 20000 - (double)big) < (double)big * 0.05);
    atomic_store(&gmi_profile_rate, INT64_MAX);
    for (int i = 0; i < 1000; i++) {
        int64_t d = gmi_profile_next_sample();
        CHECK(d >= 1 && d <= (int64_t)1 << 62);
    }
    atomic_store(&gmi_profile_rate, 1);
    CHECK_EQ(gmi_profile_next_sample(), 0);
    atomic_store(&gmi_profile_rate, 0);
    CHECK(gmi_profile_next_sample() >= (1 << 20));
    atomic_store(&gmi_profile_rate, old);
}

static void test_symbols(void) {
    gmi_maps_t maps;
    CHECK_EQ(gmi_maps_read(&maps), 0);
    CHECK(maps.n > 3);
    uintptr_t fn = (uintptr_t)&unit_site_alpha;
    const gmi_mapping_t *m = gmi_maps_find(&maps, fn);
    CHECK(m != NULL);
    if (m == NULL) return;
    CHECK(m->exec);
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[k > 0 ? k : 0] = 0;
    CHECK(strcmp(m->path, exe) == 0);
    CHECK(gmi_maps_find(&maps, 0) == NULL);

    gmi_elf_t e;
    CHECK(gmi_elf_load(&e, m->path, true));
    CHECK(e.nsyms > 10);
    CHECK(e.build_id_len == 20);
    uint64_t vaddr;
    CHECK(gmi_elf_vaddr(&e, fn + 5 - m->start + m->offset, &vaddr));
    const gmi_elf_sym_t *s = gmi_elf_lookup(&e, vaddr);
    CHECK(s != NULL && strcmp(s->name, "unit_site_alpha") == 0);
    /* A static function of the library linked into this binary is found too. */
    CHECK(gmi_elf_vaddr(&e, (uintptr_t)&gmi_crc32 + 3 - m->start + m->offset, &vaddr));
    s = gmi_elf_lookup(&e, vaddr);
    CHECK(s != NULL && strcmp(s->name, "gmi_crc32") == 0);
    /* Lines: built with -g, the row for alpha's body names this file. */
    CHECK(e.nrows > 100);
    CHECK(gmi_elf_vaddr(&e, fn + 5 - m->start + m->offset, &vaddr));
    const gmi_line_row_t *row = gmi_elf_line(&e, vaddr);
    CHECK(row != NULL);
    if (row != NULL) {
        CHECK(strstr(e.files[row->file], "test_pprof.c") != NULL);
        CHECK(row->line >= ALPHA_LINE && row->line <= ALPHA_LINE + 3);
    }
    gmi_elf_free(&e);
    CHECK(!gmi_elf_load(&e, "/nonexistent/file", false));
    CHECK(!gmi_elf_load(&e, "/proc/self/maps", false));
    gmi_maps_free(&maps);
}

/* pprof_value returns the flat value pprof's -top printed for name (with -unit=B,
 * values read "123B"), or -1. */
static long long pprof_value(const char *out, const char *name) {
    const char *line = out;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[512];
        if (len < sizeof buf) {
            memcpy(buf, line, len);
            buf[len] = 0;
            char *nm = strrchr(buf, ' ');
            if (nm && strcmp(nm + 1, name) == 0) return atoll(buf);
        }
        line = eol ? eol + 1 : NULL;
    }
    return -1;
}

int main(void);

static void test_profile_file(void) {
    uintptr_t st_a[3] = {(uintptr_t)&unit_site_alpha + 6, (uintptr_t)&test_profile_file + 6,
                         (uintptr_t)&main + 6};
    uintptr_t st_b[2] = {(uintptr_t)&unit_site_beta + 6, (uintptr_t)&main + 6};
    gmi_profile_record_t recs[3] = {
        {.alloc_objects = 1000,
         .alloc_bytes = 1000 * 4096,
         .free_objects = 600,
         .free_bytes = 600 * 4096,
         .size = 4096,
         .stack = st_a,
         .depth = 3},
        {.alloc_objects = 50,
         .alloc_bytes = 50 * 65536,
         .free_objects = 0,
         .free_bytes = 0,
         .size = 65536,
         .stack = st_b,
         .depth = 2},
        {.alloc_objects = 0, .size = 8, .stack = st_b, .depth = 2}, /* empty: left out */
    };
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "%s/heap.pb.gz", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK_EQ(gmi_pprof_write_fd(fd, recs, 3, 1, 1700000000000000000ULL), 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "gzip -t %s", path);
    CHECK_EQ(run(cmd, NULL, 0), 0);
    CHECK_EQ(gmi_pprof_write_fd(-1, recs, 3, 1, 0), -1);

    if (!have_go()) {
        printf("test_pprof: go not installed: skipping the `go tool pprof` checks\n");
        return;
    }
    static char out[65536];
    /* rate 1: the values are the raw counts. */
    snprintf(cmd, sizeof cmd, "go tool pprof -top -unit=B -sample_index=alloc_space %s 2>&1", path);
    CHECK_EQ(run(cmd, out, sizeof out), 0);
    CHECK_EQ(pprof_value(out, "unit_site_alpha"), 1000 * 4096);
    CHECK_EQ(pprof_value(out, "unit_site_beta"), 50 * 65536);
    snprintf(cmd, sizeof cmd, "go tool pprof -top -unit=B -sample_index=inuse_space %s 2>&1", path);
    CHECK_EQ(run(cmd, out, sizeof out), 0);
    CHECK_EQ(pprof_value(out, "unit_site_alpha"), 400 * 4096);
    snprintf(cmd, sizeof cmd, "go tool pprof -top -sample_index=alloc_objects %s 2>&1", path);
    CHECK_EQ(run(cmd, out, sizeof out), 0);
    CHECK_EQ(pprof_value(out, "unit_site_alpha"), 1000);
    CHECK_EQ(pprof_value(out, "unit_site_beta"), 50);
    snprintf(cmd, sizeof cmd, "go tool pprof -top -sample_index=inuse_objects %s 2>&1", path);
    CHECK_EQ(run(cmd, out, sizeof out), 0);
    CHECK_EQ(pprof_value(out, "unit_site_alpha"), 400);
    /* -traces shows whole stacks: alpha called from test_profile_file. */
    snprintf(cmd, sizeof cmd, "go tool pprof -traces %s 2>&1", path);
    CHECK_EQ(run(cmd, out, sizeof out), 0);
    char *a = strstr(out, "unit_site_alpha"), *t = a ? strstr(a, "test_profile_file") : NULL;
    CHECK(a != NULL && t != NULL && strstr(t, "main") != NULL);
    /* -raw: period and file:line of the frames. */
    snprintf(cmd, sizeof cmd, "go tool pprof -raw %s 2>&1", path);
    CHECK_EQ(run(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "PeriodType: space bytes") != NULL);
    CHECK(strstr(out, "alloc_objects/count alloc_space/bytes inuse_objects/count "
                      "inuse_space/bytes") != NULL);
    CHECK(strstr(out, "unit_site_alpha") != NULL && strstr(out, "test_pprof.c:") != NULL);
    CHECK(strstr(out, "[FN]") != NULL);

    /* Sampled at 512 KiB: unbiased values. 1000 samples of 4 KiB stand for
     * 1000 / (1 - e^-(1/128)) = 128500 objects. */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_EQ(gmi_pprof_write_fd(fd, recs, 2, 524288, 0), 0);
    close(fd);
    snprintf(cmd, sizeof cmd, "go tool pprof -top -sample_index=alloc_objects %s 2>&1", path);
    CHECK_EQ(run(cmd, out, sizeof out), 0);
    long long v = pprof_value(out, "unit_site_alpha");
    CHECK(v >= 128400 && v <= 128600);
}

int main(void) {
    if (mkdtemp(tmpdir) == NULL) return 1;
    test_crc_and_gzip();
    test_unbias();
    test_next_sample();
    test_symbols();
    test_profile_file();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    run(cmd, NULL, 0);
    return check_done();
}
