/* test_env.c: knob parsers (GOGC, GOMEMLIMIT, GODEBUG, GOMEMDEBUG, GOMEMSIGNAL,
 * GOMEMMARKWORKERS), gmi_env_init through setenv, and the one-line error reports. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"

/* ---- stderr capture: fd 2 goes to a pipe while fn runs ---- */

static char captured[8192];
static int saved_fd2 = -1, pipe_rd = -1;

static void capture_begin(void) {
    int p[2];
    if (pipe(p) != 0) abort();
    fflush(stderr);
    saved_fd2 = dup(2);
    dup2(p[1], 2);
    close(p[1]);
    pipe_rd = p[0];
}

/* capture_end restores stderr and returns the number of lines written meanwhile. */
static int capture_end(void) {
    dup2(saved_fd2, 2);
    close(saved_fd2);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < sizeof captured &&
           (r = read(pipe_rd, captured + len, sizeof captured - 1 - len)) > 0)
        len += (size_t)r;
    captured[len] = '\0';
    close(pipe_rd);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += captured[i] == '\n';
    return lines;
}

/* ---- GOGC ---- */

static void test_gogc(void) {
    static const struct {
        const char *in;
        int rc, out;
    } cases[] = {
        {"100", 0, 100},
        {"0", 0, 0},
        {"50", 0, 50},
        {"200", 0, 200},
        {"off", 0, -1},
        {"-1", 0, -1},
        {"-500", 0, -1},
        {"007", 0, 7},
        {"2147483647", 0, 2147483647},
        {"-2147483648", 0, -1},
        {"2147483648", -1, 0},
        {"", -1, 0},
        {"OFF", -1, 0},
        {"+50", -1, 0},
        {" 50", -1, 0},
        {"50 ", -1, 0},
        {"50%", -1, 0},
        {"1e3", -1, 0},
        {"-", -1, 0},
        {"0x10", -1, 0},
        {"offf", -1, 0},
        {"99999999999999999999999", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int out = 12345;
        int rc = gmi_parse_gogc(cases[i].in, &out);
        if (rc != cases[i].rc || (rc == 0 && out != cases[i].out) || (rc != 0 && out != 12345))
            fprintf(stderr, "GOGC case \"%s\": rc %d out %d\n", cases[i].in, rc, out);
        CHECK_EQ(rc, cases[i].rc);
        if (rc == 0)
            CHECK_EQ(out, cases[i].out);
        else
            CHECK_EQ(out, 12345);
    }
}

/* ---- GOMEMLIMIT ---- */

static void test_memlimit(void) {
    static const struct {
        const char *in;
        int rc;
        int64_t out;
    } cases[] = {
        {"0", 0, 0},
        {"1", 0, 1},
        {"1B", 0, 1},
        {"1KiB", 0, 1024},
        {"1MiB", 0, 1 << 20},
        {"512MiB", 0, (int64_t)512 << 20},
        {"1GiB", 0, (int64_t)1 << 30},
        {"3TiB", 0, (int64_t)3 << 40},
        {"104857600", 0, 104857600},
        {"104857600B", 0, 104857600},
        {"9223372036854775807", 0, INT64_MAX},
        {"9223372036854775807B", 0, INT64_MAX},
        {"8388607TiB", 0, (int64_t)8388607 << 40},
        {"off", 0, INT64_MAX},
        {"auto", 0, GMI_MEMLIMIT_AUTO},
        {"-0", 0, 0}, /* Go's atoi64 accepts "-0" */
        {"-0MiB", 0, 0},
        {"9223372036854775808", -1, 0},
        {"8388608TiB", -1, 0},
        {"9007199254740992KiB", -1, 0},
        {"18446744073709551616", -1, 0},
        {"100MB", -1, 0},
        {"1KB", -1, 0},
        {"1GB", -1, 0},
        {"1TB", -1, 0},
        {"1kiB", -1, 0},
        {"1mib", -1, 0},
        {"1Mib", -1, 0},
        {"1MiBB", -1, 0},
        {"1 MiB", -1, 0},
        {" 1", -1, 0},
        {"1.5GiB", -1, 0},
        {"-1", -1, 0},
        {"-1MiB", -1, 0},
        {"+1", -1, 0},
        {"", -1, 0},
        {"B", -1, 0},
        {"iB", -1, 0},
        {"KiB", -1, 0},
        {"MiB", -1, 0},
        {"PiB", -1, 0},
        {"1PiB", -1, 0},
        {"1EiB", -1, 0},
        {"1iB", -1, 0},
        {"0x10", -1, 0},
        {"OFF", -1, 0},
        {"Auto", -1, 0},
        {"1M", -1, 0},
        {"1Mi", -1, 0},
        {"-", -1, 0},
        {"-B", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t out = 777;
        int rc = gmi_parse_memlimit(cases[i].in, &out);
        if (rc != cases[i].rc || (rc == 0 && out != cases[i].out))
            fprintf(stderr, "GOMEMLIMIT case \"%s\": rc %d out %lld\n", cases[i].in, rc,
                    (long long)out);
        CHECK_EQ(rc, cases[i].rc);
        if (rc == 0)
            CHECK(out == cases[i].out);
        else
            CHECK(out == 777);
    }
    int64_t a = gmi_memlimit_auto();
    CHECK(a > 0);
}

/* ---- GODEBUG / GOMEMDEBUG ---- */

static gmi_config_t fresh(void) {
    gmi_config_t c;
    memset(&c, 0, sizeof c);
    c.gc_percent = 100;
    c.memory_limit = INT64_MAX;
    c.madvdontneed = 1;
    return c;
}

static void test_godebug(void) {
    gmi_config_t c = fresh();
    capture_begin();
    gmi_parse_godebug("gctrace=1", &c);
    int lines = capture_end();
    CHECK_EQ(lines, 0);
    CHECK_EQ(c.gctrace, 1);
    CHECK_EQ(c.scavtrace, 0);

    c = fresh();
    gmi_parse_godebug("madvdontneed=1,gctrace=2,,scavtrace=1,", &c);
    CHECK_EQ(c.gctrace, 2);
    CHECK_EQ(c.scavtrace, 1);
    CHECK_EQ(c.madvdontneed, 1);

    c = fresh(); /* Go's madvdontneed: 0 selects MADV_FREE, any other value MADV_DONTNEED */
    gmi_parse_godebug("madvdontneed=0", &c);
    CHECK_EQ(c.madvdontneed, 0);
    gmi_parse_godebug("madvdontneed=2", &c);
    CHECK_EQ(c.madvdontneed, 2);
    capture_begin();
    gmi_parse_godebug("madvdontneed", &c);
    CHECK_EQ(capture_end(), 1);
    CHECK_EQ(c.madvdontneed, 2);

    c = fresh();
    gmi_parse_godebug("gctrace=1,gctrace=0", &c); /* left to right: the last wins */
    CHECK_EQ(c.gctrace, 0);

    c = fresh();
    capture_begin();
    gmi_parse_godebug("asyncpreemptoff=1,http2debug=2,gctracex=1,xgctrace=1,unknown", &c);
    lines = capture_end();
    CHECK_EQ(lines, 0); /* unknown GODEBUG keys belong to Go programs: silent */
    CHECK_EQ(c.gctrace, 0);

    c = fresh();
    c.gctrace = 1;
    capture_begin();
    gmi_parse_godebug("gctrace=x,scavtrace=1", &c);
    lines = capture_end();
    CHECK_EQ(lines, 1);
    CHECK(
        strcmp(captured,
               "gomem: malformed GODEBUG=\"gctrace=x\": value must be a non-negative integer\n") ==
        0);
    CHECK_EQ(c.gctrace, 1); /* unchanged */
    CHECK_EQ(c.scavtrace, 1);

    c = fresh();
    capture_begin();
    gmi_parse_godebug("gctrace,gctrace=-1,gctrace=,gctrace=1x", &c);
    lines = capture_end();
    CHECK_EQ(lines, 4);
    CHECK_EQ(c.gctrace, 0);
}

static void test_gomemdebug(void) {
    gmi_config_t c = fresh();
    capture_begin();
    gmi_parse_gomemdebug("abort=1,verify=1,poison,gcstress=5,checkptr=1,failmmap=3,failmadvise=2",
                         &c);
    int lines = capture_end();
    CHECK_EQ(lines, 0);
    CHECK_EQ(c.debug_abort, 1);
    CHECK_EQ(c.debug_verify, 1);
    CHECK_EQ(c.debug_poison, 1);
    CHECK_EQ(c.debug_gcstress, 5);
    CHECK_EQ(c.debug_checkptr, 1);
    CHECK_EQ(c.fail_mmap, 3);
    CHECK_EQ(c.fail_madvise, 2);
    /* the start-up report (gctrace) lists what is set, in the parser's order */
    char buf[256];
    CHECK_EQ(gmi_gomemdebug_format(&c, buf, sizeof buf),
             (int)strlen(" abort=1 verify=1 poison=1 gcstress=5 checkptr=1 failmmap=3 "
                         "failmadvise=2"));
    CHECK(strcmp(buf, " abort=1 verify=1 poison=1 gcstress=5 checkptr=1 failmmap=3 "
                      "failmadvise=2") == 0);
    char small[16];
    gmi_gomemdebug_format(&c, small, sizeof small); /* truncated, never past the end */
    CHECK(strcmp(small, " abort=1 verify") == 0);

    c = fresh();
    CHECK_EQ(gmi_gomemdebug_format(&c, buf, sizeof buf), 0);
    gmi_parse_gomemdebug("abort,abort=0", &c);
    CHECK_EQ(c.debug_abort, 0);

    c = fresh();
    capture_begin();
    gmi_parse_gomemdebug("abort=2,posion=1,failmmap,gcstress=1", &c);
    lines = capture_end();
    CHECK_EQ(lines, 3);
    CHECK(strstr(captured, "gomem: malformed GOMEMDEBUG=\"abort=2\": value must be 0 or 1\n") !=
          NULL);
    CHECK(strstr(captured, "gomem: malformed GOMEMDEBUG=\"posion=1\": unknown setting\n") != NULL);
    CHECK(strstr(captured, "gomem: malformed GOMEMDEBUG=\"failmmap\": setting needs =N\n") != NULL);
    CHECK_EQ(c.debug_abort, 0);
    CHECK_EQ(c.fail_mmap, 0);
    CHECK_EQ(c.debug_gcstress, 1);
}

static void test_small_parsers(void) {
    int v = -5;
    CHECK_EQ(gmi_parse_signal("40", &v), 0);
    CHECK_EQ(v, 40);
    CHECK_EQ(gmi_parse_signal("0", &v), 0);
    CHECK_EQ(v, 0);
    CHECK_EQ(gmi_parse_signal("9", &v), -1);
    CHECK_EQ(gmi_parse_signal("19", &v), -1);
    CHECK_EQ(gmi_parse_signal("65", &v), -1);
    CHECK_EQ(gmi_parse_signal("-1", &v), -1);
    CHECK_EQ(gmi_parse_signal("SIGUSR1", &v), -1);
    CHECK_EQ(gmi_parse_mark_workers("4", &v), 0);
    CHECK_EQ(v, 4);
    CHECK_EQ(gmi_parse_mark_workers("0", &v), 0);
    CHECK_EQ(gmi_parse_mark_workers("1024", &v), 0);
    CHECK_EQ(gmi_parse_mark_workers("1025", &v), -1);
    CHECK_EQ(gmi_parse_mark_workers("two", &v), -1);
}

/* ---- environment ---- */

static void clear_knobs(void) {
    unsetenv("GOGC");
    unsetenv("GOMEMLIMIT");
    unsetenv("GODEBUG");
    unsetenv("GOMEMDEBUG");
    unsetenv("GOMEMSIGNAL");
    unsetenv("GOMEMMARKWORKERS");
}

static void test_env_init(void) {
    /* Defaults as defined. */
    CHECK_EQ(gmi_config.gc_percent, 100);
    CHECK(gmi_config.memory_limit == INT64_MAX);
    const gmi_config_t defaults = gmi_config;

    setenv("GOGCX", "1", 1);
    CHECK(gmi_getenv("GOG") == NULL);
    CHECK(gmi_getenv("GOGC") == NULL || strcmp(gmi_getenv("GOGC"), "1") != 0);
    unsetenv("GOGCX");

    clear_knobs();
    setenv("GOGC", "50", 1);
    setenv("GOMEMLIMIT", "512MiB", 1);
    setenv("GODEBUG", "gctrace=1,scavtrace=1", 1);
    setenv("GOMEMDEBUG", "verify=1,failmmap=7", 1);
    setenv("GOMEMSIGNAL", "42", 1);
    setenv("GOMEMMARKWORKERS", "3", 1);
    CHECK(strcmp(gmi_getenv("GOGC"), "50") == 0);
    capture_begin();
    gmi_env_init();
    int lines = capture_end();
    CHECK_EQ(lines, 0);
    CHECK_EQ(gmi_config.gc_percent, 50);
    CHECK(gmi_config.memory_limit == (int64_t)512 << 20);
    CHECK_EQ(gmi_config.gctrace, 1);
    CHECK_EQ(gmi_config.scavtrace, 1);
    CHECK_EQ(gmi_config.debug_verify, 1);
    CHECK_EQ(gmi_config.fail_mmap, 7);
    CHECK_EQ(gmi_config.stop_signal, 42);
    CHECK_EQ(gmi_config.mark_workers, 3);

    /* Every malformed knob: one line each, defaults kept. */
    gmi_config = defaults;
    clear_knobs();
    setenv("GOGC", "fast", 1);
    setenv("GOMEMLIMIT", "100MB", 1);
    setenv("GOMEMSIGNAL", "9", 1);
    setenv("GOMEMMARKWORKERS", "-2", 1);
    capture_begin();
    gmi_env_init();
    lines = capture_end();
    CHECK_EQ(lines, 4);
    CHECK(strstr(captured, "gomem: malformed GOGC=\"fast\": want an integer percentage or off\n") !=
          NULL);
    CHECK(strstr(captured, "gomem: malformed GOMEMLIMIT=\"100MB\": decimal units are not "
                           "accepted, use KiB, MiB, GiB or TiB\n") != NULL);
    CHECK(strstr(captured, "gomem: malformed GOMEMSIGNAL=\"9\"") != NULL);
    CHECK(strstr(captured, "gomem: malformed GOMEMMARKWORKERS=\"-2\"") != NULL);
    CHECK_EQ(gmi_config.gc_percent, 100);
    CHECK(gmi_config.memory_limit == INT64_MAX);
    CHECK_EQ(gmi_config.stop_signal, 0);
    CHECK_EQ(gmi_config.mark_workers, 0);

    /* Other GOMEMLIMIT reasons. */
    static const char *const bad[] = {"-1", "1.5GiB", "99999999999999999999", "KiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gmi_config = defaults;
        clear_knobs();
        setenv("GOMEMLIMIT", bad[i], 1);
        capture_begin();
        gmi_env_init();
        lines = capture_end();
        CHECK_EQ(lines, 1);
        CHECK(strncmp(captured, "gomem: malformed GOMEMLIMIT=\"", 29) == 0);
        CHECK(gmi_config.memory_limit == INT64_MAX);
    }

    /* Empty values are unset (Go's gogetenv); "off" and negative GOGC turn it off. */
    gmi_config = defaults;
    clear_knobs();
    setenv("GOGC", "", 1);
    setenv("GOMEMLIMIT", "", 1);
    capture_begin();
    gmi_env_init();
    lines = capture_end();
    CHECK_EQ(lines, 0);
    CHECK_EQ(gmi_config.gc_percent, 100);
    setenv("GOGC", "off", 1);
    gmi_env_init();
    CHECK_EQ(gmi_config.gc_percent, -1);
    setenv("GOGC", "-20", 1);
    gmi_config = defaults;
    gmi_env_init();
    CHECK_EQ(gmi_config.gc_percent, -1);

    /* auto resolves to a byte count (or off when there is no cgroup limit). */
    gmi_config = defaults;
    clear_knobs();
    setenv("GOMEMLIMIT", "auto", 1);
    gmi_env_init();
    CHECK(gmi_config.memory_limit > 0);
    CHECK(gmi_config.memory_limit == gmi_memlimit_auto());

    /* A very long bad value is echoed in part, still as one line. */
    char longv[3000];
    memset(longv, '7', sizeof longv - 2);
    longv[sizeof longv - 2] = 'X';
    longv[sizeof longv - 1] = '\0';
    gmi_config = defaults;
    clear_knobs();
    setenv("GOGC", longv, 1);
    capture_begin();
    gmi_env_init();
    lines = capture_end();
    CHECK_EQ(lines, 1);
    CHECK(strlen(captured) < 400);
    clear_knobs();
    gmi_config = defaults;
}

int main(void) {
    test_gogc();
    test_memlimit();
    test_godebug();
    test_gomemdebug();
    test_small_parsers();
    test_env_init();
    return check_done();
}
