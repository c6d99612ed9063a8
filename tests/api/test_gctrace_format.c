/* test_gctrace_format.c: GODEBUG=gctrace=1 prints one line per collection on stderr in Go's
 * format:
 *   gc N @T.TTTs P%: W1+W2+W3 ms clock, C1+C2a/C2b/C2c+C3 ms cpu, H0->H1->H2 MB,
 *   GOAL MB goal, S MB stacks, G MB globals, NP P[ (forced)]
 * The test re-runs itself as a child with the knob set, captures its stderr, and
 * matches every line with a POSIX regular expression. N counts from 1 by one;
 * "(forced)" marks exactly the gm_collect cycles. */
#include "api/gmtest.h"

#include <regex.h>

#define NUM "[0-9]+(\\.[0-9]+)?"
#define INT "[0-9]+"
static const char *gctrace_re =
    "^gc (" INT ") @(" INT "\\.[0-9]{3})s (" INT ")%: " NUM "\\+" NUM "\\+" NUM " ms clock, " NUM
    "\\+" NUM "/" NUM "/" NUM "\\+" NUM " ms cpu, (" INT ")->(" INT ")->(" INT ") MB, (" INT
    ") MB goal, " INT " MB stacks, " INT " MB globals, (" INT ") P( \\(forced\\))?$";

#define FORCED_FIRST 3
#define FORCED_LAST  2

/* The child: forced cycles, then automatic ones driven by allocation, then forced
 * again. Reports the counters on stdout (which the parent does not capture). */
static int child(void) {
    gm_memstats_t *ms = malloc(sizeof *ms);
    void **keep = gm_calloc(64, sizeof(void *));
    for (int i = 0; i < FORCED_FIRST; i++) {
        keep[i] = gm_alloc(1 << 20);
        gm_collect();
    }
    gm_read_memstats(ms);
    uint32_t after_first = ms->num_gc;
    /* about 400 MiB of garbage with GOGC=100 and a small live heap: automatic cycles */
    for (int i = 0; i < 400 * 16; i++) {
        void *p = gm_alloc_noscan(64 * 1024);
        memset(p, 1, 64);
        keep[8 + i % 32] = gm_alloc(1000);
    }
    for (int i = 0; i < FORCED_LAST; i++)
        gm_collect();
    gm_read_memstats(ms);
    printf("%u %u %u\n", after_first, ms->num_gc, ms->num_forced_gc);
    fflush(stdout);
    free(ms);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    if (argc > 1 && strcmp(argv[1], "child-notrace") == 0) {
        gm_collect();
        gm_collect();
        return 0;
    }

    /* the children run with only the knob under test: the cycle counts below assume
     * default pacing (no gcstress, GOGC=100, no memory limit) */
    unsetenv("GOMEMDEBUG");
    unsetenv("GOGC");
    unsetenv("GOMEMLIMIT");
    unsetenv("GODEBUG");
    regex_t re;
    int rc = regcomp(&re, gctrace_re, REG_EXTENDED);
    CHECK_EQ(rc, 0);
    if (rc) return check_done();

    /* sanity of the expression itself on lines Go prints */
    static const char *go_lines[] = {
        "gc 1 @0.012s 2%: 0.026+0.39+0.10 ms clock, 0.21+0.88/0.52/0+0.84 ms cpu, 4->4->0 MB, 4 MB "
        "goal, 0 MB stacks, 0 MB globals, 8 P",
        "gc 12 @3.456s 0%: 0.010+1.2+0.003 ms clock, 0.040+0/2.3/4.5+0.012 ms cpu, 10->11->5 MB, "
        "11 MB goal, 0 MB stacks, 1 MB globals, 4 P (forced)",
    };
    for (int i = 0; i < 2; i++)
        CHECK_EQ(regexec(&re, go_lines[i], 0, NULL, 0), 0);
    CHECK(regexec(&re, "gc 1 @0.012s 2%: 0.026+0.39+0.10 ms clock, 4->4->0 MB", 0, NULL, 0) != 0);

    static char out[1 << 20];
    static char stdout_buf[4096];
    (void)stdout_buf;
    /* Run the child with stdout separate: capture stderr only, stdout to a pipe file. */
    char tmpl[] = "/tmp/gmtest-gctrace-XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    int saved = dup(1);
    dup2(fd, 1);
    int status = gmt_run_self("child", "GODEBUG=gctrace=1", out, sizeof out, 0, 120);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    unsigned after_first = 0, num_gc = 0, num_forced = 0;
    lseek(fd, 0, SEEK_SET);
    char nums[256] = {0};
    ssize_t r = read(fd, nums, sizeof nums - 1);
    close(fd);
    unlink(tmpl);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(r > 0 && sscanf(nums, "%u %u %u", &after_first, &num_gc, &num_forced) == 3);
    CHECK_EQ(after_first, FORCED_FIRST);
    CHECK_GE(num_gc, FORCED_FIRST + FORCED_LAST + 3);
    CHECK_EQ(num_forced, FORCED_FIRST + FORCED_LAST);

    /* match every line */
    unsigned expect_n = 1, forced_seen = 0, bad = 0;
    double last_t = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[20];
        if (regexec(&re, line, 20, m, 0) != 0) {
            if (bad++ < 10)
                fprintf(stderr, "gctrace: line does not match Go's format: '%s'\n", line);
            continue;
        }
        unsigned n = (unsigned)strtoul(line + m[1].rm_so, NULL, 10);
        double t = strtod(line + m[2].rm_so, NULL);
        unsigned pct = (unsigned)strtoul(line + m[3].rm_so, NULL, 10);
        int forced = m[17].rm_so >= 0;
        if (n != expect_n) {
            if (bad++ < 10) fprintf(stderr, "gctrace: expected gc %u, got '%s'\n", expect_n, line);
        }
        if (t < last_t) {
            if (bad++ < 10) fprintf(stderr, "gctrace: time went backwards: '%s'\n", line);
        }
        if (pct > 100) {
            if (bad++ < 10) fprintf(stderr, "gctrace: percentage > 100: '%s'\n", line);
        }
        int want_forced = n <= FORCED_FIRST || n > num_gc - FORCED_LAST;
        if (forced != want_forced) {
            if (bad++ < 10)
                fprintf(stderr, "gctrace: cycle %u should%s be forced: '%s'\n", n,
                        want_forced ? "" : " not", line);
        }
        /* the goal is at least the 4 MB heap minimum */
        unsigned goal = (unsigned)strtoul(line + m[15].rm_so, NULL, 10);
        if (goal < 4) {
            if (bad++ < 10) fprintf(stderr, "gctrace: goal below 4 MB: '%s'\n", line);
        }
        unsigned np = (unsigned)strtoul(line + m[16].rm_so, NULL, 10);
        if (np < 1) bad++;
        forced_seen += (unsigned)forced;
        last_t = t;
        expect_n = n + 1;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(expect_n - 1, num_gc);
    CHECK_EQ(forced_seen, num_forced);

    /* without the knob nothing is printed */
    status = gmt_run_self("child-notrace", NULL, out, sizeof out, 0, 60);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(strlen(out), 0);
    if (out[0]) fprintf(stderr, "unexpected output without gctrace: '%s'\n", out);
    regfree(&re);
    return check_done();
}
