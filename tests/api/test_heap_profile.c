/* test_heap_profile.c: end to end heap profiling. Known allocation sites allocate
 * known byte totals; the profile written by gm_write_heap_profile is read with
 * `go tool pprof` itself, which must name each site and report its bytes within
 * sampling error of the truth. Also: every allocation recorded at rate 1, nothing at
 * rate 0 (GOMEMPROFILERATE), and the at-exit profile (GOMEMPROFILE).
 * Skipped with a message when go is not installed (.ci/run installs golang-go). */
#pragma GCC optimize("no-omit-frame-pointer") /* stacks are walked by frame pointers */
#include "gmtest.h"

#define MiB        ((size_t)1 << 20)
#define SITE_BYTES (256 * MiB) /* ~512 samples at 512 KiB: relative error ~4.4% */

static char dir[] = "/tmp/gomem_heapprof_XXXXXX";
static void *volatile sink;
static void *kept[64]; /* a root: site_kept's objects stay in use */

/* The sites. Slot sizes are size classes, so slot bytes = requested bytes. */
GMT_NOINLINE static void site_small(void) { /* 64 B objects, garbage */
    for (size_t i = 0; i < SITE_BYTES / 64; i++)
        sink = gm_alloc(64);
}
GMT_NOINLINE static void site_medium(void) { /* 4 KiB pointer-free objects, garbage */
    for (size_t i = 0; i < SITE_BYTES / 4096; i++)
        sink = gm_alloc_noscan(4096);
}
GMT_NOINLINE static void site_large(void) { /* 1 MiB large objects, garbage */
    for (size_t i = 0; i < SITE_BYTES / MiB; i++)
        sink = gm_alloc(MiB);
}
GMT_NOINLINE static void site_freed(void) { /* 256 B objects freed at once */
    for (size_t i = 0; i < SITE_BYTES / 256; i++)
        gm_free(gm_alloc(256));
}
/* 8 classes (256..1152 B) interleaved, half of them freed at once: every path that
 * charges the sampling countdown (words of several classes, the reuse stacks, frees
 * back into the current word) takes turns. Each countdown expiry must make one
 * sample: a sample held back in one class while the others expired the countdown
 * again overstated this site by 40-80%. */
GMT_NOINLINE static void site_mixed(void) {
    size_t done = 0;
    for (size_t i = 0; done < SITE_BYTES; i++) {
        size_t size = 256 + 128 * (i % 8);
        void *p = gm_alloc(size);
        done += size;
        if (i & 1)
            gm_free(p);
        else
            sink = p;
    }
}
GMT_NOINLINE static void site_kept(void) { /* 64 x 2 MiB kept: 128 MiB in use */
    for (size_t i = 0; i < 64; i++)
        kept[i] = gm_alloc_noscan(2 * MiB);
}
GMT_NOINLINE static void site_exact(void) { /* 1000 x 128 B at rate 1 */
    for (size_t i = 0; i < 1000; i++)
        sink = gm_alloc(128);
}
GMT_NOINLINE static void site_child(void) {
    for (size_t i = 0; i < 64 * MiB / 1024; i++)
        sink = gm_alloc(1024);
}

/* ---------------------------------------------------------------------------------
 * Reading profiles with go tool pprof
 * ------------------------------------------------------------------------------- */

static int have_go(void) {
    return system("command -v go >/dev/null 2>&1") == 0;
}

/* pprof_top runs `go tool pprof -top -unit=B -sample_index=<index>` on path into out. */
static int pprof_top(const char *path, const char *index, char *out, size_t n) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "go tool pprof -top -nodefraction=0 -unit=B -sample_index=%s %s 2>&1",
             index, path);
    FILE *f = popen(cmd, "r");
    if (f == NULL) return -1;
    size_t len = fread(out, 1, n - 1, f);
    out[len] = 0;
    int st = pclose(f);
    if (st != 0) fprintf(stderr, "test_heap_profile: `%s` failed:\n%s\n", cmd, out);
    return st;
}

/* flat returns the flat value of the line of -top output naming fn, or -1. Values
 * print as "123B" (bytes, with -unit=B) or plain counts. */
static long long flat(const char *out, const char *fn) {
    for (const char *line = out; line != NULL && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[512];
        if (len < sizeof buf) {
            memcpy(buf, line, len);
            buf[len] = 0;
            char *name = strrchr(buf, ' ');
            if (name != NULL && strcmp(name + 1, fn) == 0) return atoll(buf);
        }
        line = eol ? eol + 1 : NULL;
    }
    return -1;
}

static int within(long long got, double want, double tol) {
    int ok = got >= want * (1 - tol) && got <= want * (1 + tol);
    if (!ok) fprintf(stderr, "  got %lld, want %.0f +- %.0f%%\n", got, want, tol * 100);
    return ok;
}

/* ---------------------------------------------------------------------------------
 * Child modes (run through gmt_run_self)
 * ------------------------------------------------------------------------------- */

static int child(const char *arg) {
    if (strncmp(arg, "exit:", 5) == 0) { /* GOMEMPROFILE set by the parent */
        site_child();
        /* a forked child that exits must not write this process's profile file */
        pid_t pid = fork();
        if (pid == 0) exit(0);
        int st = 0;
        if (pid < 0 || waitpid(pid, &st, 0) != pid) return 6;
        if (access(arg + 5, F_OK) == 0) return 7;
        return 0;
    }
    if (strcmp(arg, "badrate") == 0) { /* GOMEMPROFILERATE=12x: one line */
        gm_init();
        return gm_set_mem_profile_rate(-1) == 524288 ? 0 : 8; /* the default kept */
    }
    if (strcmp(arg, "maxrate") == 0) { /* GOMEMPROFILERATE=INT64_MAX is a rate */
        gm_init();
        return gm_set_mem_profile_rate(-1) == INT64_MAX ? 0 : 9;
    }
    if (strncmp(arg, "rate0:", 6) == 0) { /* GOMEMPROFILERATE=0 set by the parent */
        if (gm_set_mem_profile_rate(-1) != 0) return 3;
        site_child();
        gm_collect();
        gm_collect();
        gm_memstats_t ms;
        gm_read_memstats(&ms);
        if (ms.buck_hash_sys != 0) return 5; /* nothing sampled: no bucket table */
        return gm_write_heap_profile(arg + 6) == 0 ? 0 : 4;
    }
    return 2;
}

int main(int argc, char **argv) {
    if (argc > 1) return child(argv[1]);
    if (mkdtemp(dir) == NULL) return 1;
    char path[256], out[65536], buf[8192];

    /* The API: the default rate is Go's, errors set errno. */
    CHECK_EQ(gm_set_mem_profile_rate(-1), 524288);
    CHECK_EQ(gm_set_mem_profile_rate(524288), 524288);
    errno = 0;
    CHECK(gm_write_heap_profile("/nonexistent-dir/heap.pb.gz") == -1 && errno == ENOENT);
    errno = 0;
    CHECK(gm_write_heap_profile(NULL) == -1 && errno == EINVAL);

    double t0 = gmt_now();
    site_small();
    site_medium();
    site_large();
    site_freed();
    site_mixed();
    site_kept();
    sink = NULL;
    /* Two cycles publish everything allocated before the first (as in Go, the profile
     * is the heap as of the last completed mark termination). */
    gm_collect();
    gm_collect();
    int live = 0;
    for (int i = 0; i < 64; i++)
        live += gm_usable_size(kept[i]) != 0;
    CHECK_EQ(live, 64); /* the collector kept them, so the profile must show them */
    snprintf(path, sizeof path, "%s/heap.pb.gz", dir);
    CHECK_EQ(gm_write_heap_profile(path), 0);
    printf("test_heap_profile: allocation %.2f s\n", gmt_now() - t0);

    /* Rate 1: every allocation, exactly. */
    CHECK_EQ(gm_set_mem_profile_rate(1), 524288);
    site_exact();
    gm_collect();
    gm_collect();
    char path1[256];
    snprintf(path1, sizeof path1, "%s/rate1.pb.gz", dir);
    CHECK_EQ(gm_write_heap_profile(path1), 0);
    CHECK_EQ(gm_set_mem_profile_rate(524288), 1);

    /* BuckHashSys: the bucket table (65536 heads) and the buckets, a part of the
     * metadata in Sys, reported as /memory/classes/profiling/buckets:bytes */
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    CHECK_GE(ms.buck_hash_sys, 65536 * sizeof(void *) + 64);
    CHECK_EQ(ms.mspan_sys + ms.mcache_sys + ms.gc_sys + ms.buck_hash_sys + ms.other_sys,
             ms.sys - (ms.heap_sys - ms.heap_released));
    uint64_t buckets = 0;
    CHECK_EQ(gm_metric_read("/memory/classes/profiling/buckets:bytes", &buckets), 0);
    CHECK_EQ(buckets, ms.buck_hash_sys);

    char exit_path[256], rate0_path[256], arg[300], env[300];
    snprintf(exit_path, sizeof exit_path, "%s/exit.pb.gz", dir);
    snprintf(env, sizeof env, "GOMEMPROFILE=%s", exit_path);
    snprintf(arg, sizeof arg, "exit:%s", exit_path);
    int st = gmt_run_self(arg, env, buf, sizeof buf, 0, 60);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = gmt_run_self("badrate", "GOMEMPROFILERATE=12x", buf, sizeof buf, 0, 60);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strstr(buf, "gomem: malformed GOMEMPROFILERATE=\"12x\": ") != NULL);
    CHECK_EQ(gmt_count_lines(buf), 1);
    st = gmt_run_self("maxrate", "GOMEMPROFILERATE=9223372036854775807", buf, sizeof buf, 0, 60);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(gmt_count_lines(buf), 0);
    st = gmt_run_self("badrate", "GOMEMPROFILERATE=9223372036854775808", buf, sizeof buf, 0, 60);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0); /* one past: malformed, the default kept */
    CHECK_EQ(gmt_count_lines(buf), 1);
    snprintf(rate0_path, sizeof rate0_path, "%s/rate0.pb.gz", dir);
    snprintf(arg, sizeof arg, "rate0:%s", rate0_path);
    st = gmt_run_self(arg, "GOMEMPROFILERATE=0", buf, sizeof buf, 0, 60);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    char cmd[1400];
    snprintf(cmd, sizeof cmd, "gzip -t %s && gzip -t %s && gzip -t %s && gzip -t %s", path, path1,
             exit_path, rate0_path);
    CHECK_EQ(system(cmd), 0);

    if (!have_go()) {
        printf("test_heap_profile: SKIPPED the pprof checks: `go` is not installed "
               "(apt-get install golang-go)\n");
        return check_done();
    }

    /* alloc_space: each site within 20% of the bytes it allocated. */
    CHECK_EQ(pprof_top(path, "alloc_space", out, sizeof out), 0);
    static const char *sites[] = {"site_small", "site_medium", "site_large", "site_freed",
                                  "site_mixed"};
    for (int i = 0; i < 5; i++) {
        long long v = flat(out, sites[i]);
        if (!within(v, (double)SITE_BYTES, 0.20)) fprintf(stderr, "  (%s alloc_space)\n", sites[i]);
        CHECK(within(v, (double)SITE_BYTES, 0.20));
    }
    CHECK(within(flat(out, "site_kept"), 128.0 * MiB, 0.20));
    CHECK(strstr(out, "main") != NULL);     /* the callers are there too */
    CHECK(strstr(out, "gm_alloc") == NULL); /* gomem's own frames are not */
    CHECK(strstr(out, "gmi_") == NULL);

    /* alloc_objects: counts unbiased as well. */
    CHECK_EQ(pprof_top(path, "alloc_objects", out, sizeof out), 0);
    CHECK(within(flat(out, "site_small"), (double)(SITE_BYTES / 64), 0.20));
    CHECK(within(flat(out, "site_large"), (double)(SITE_BYTES / MiB), 0.20));

    /* inuse_space: only what is still referenced. */
    CHECK_EQ(pprof_top(path, "inuse_space", out, sizeof out), 0);
    CHECK(within(flat(out, "site_kept"), 128.0 * MiB, 0.20));
    for (int i = 0; i < 4; i++) {
        long long v = flat(out, sites[i]);
        /* absent, or a few objects still held by a register or the sink */
        CHECK(v <= (long long)(8 * MiB));
    }

    /* -traces: whole stacks, site then main. */
    snprintf(cmd, sizeof cmd, "go tool pprof -traces -sample_index=alloc_space %s 2>&1", path);
    FILE *f = popen(cmd, "r");
    size_t len = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[len] = 0;
    if (f) pclose(f);
    char *s = strstr(out, "site_medium");
    CHECK(s != NULL && strstr(s, "main") != NULL);

    /* Rate 1: exact counts. */
    CHECK_EQ(pprof_top(path1, "alloc_objects", out, sizeof out), 0);
    CHECK_EQ(flat(out, "site_exact"), 1000);
    CHECK_EQ(pprof_top(path1, "alloc_space", out, sizeof out), 0);
    CHECK_EQ(flat(out, "site_exact"), 128000);

    /* GOMEMPROFILE: written at exit, after a collection. */
    CHECK_EQ(pprof_top(exit_path, "alloc_space", out, sizeof out), 0);
    CHECK(within(flat(out, "site_child"), 64.0 * MiB, 0.30));
    /* GOMEMPROFILERATE=0: nothing sampled. */
    CHECK_EQ(pprof_top(rate0_path, "alloc_space", out, sizeof out), 0);
    CHECK_EQ(flat(out, "site_child"), -1);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    return check_done();
}
