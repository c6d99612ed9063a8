/* test_bad_free.c: misuse of the API. gm_free / gm_realloc of anything that is not the
 * base of a live object (a stack or global address, an interior pointer, a freed
 * object, a pointer from malloc) prints exactly one line on stderr naming the call and
 * the pointer, and leaves the heap intact; GOMEMDEBUG=abort=1 makes it abort. Sizes
 * that overflow and requests the OS refuses return NULL with errno ENOMEM. gm_alloc(0)
 * returns unique non-NULL pointers. */
#include "api/gmtest.h"

#include <sys/resource.h>
#include <sys/sysinfo.h>

static char global_buf[256];
static uint64_t rng = 4242;

/* A live structure that must come through every misuse intact. */
struct rec {
    struct rec *next;
    uint64_t seed;
    size_t len;
    uint8_t *data;
};
static struct rec *live;
static long nlive;

static void build_live(void) {
    for (int i = 0; i < 2000; i++) {
        struct rec *r = gm_alloc(sizeof *r);
        r->seed = check_rand(&rng);
        r->len = 1 + r->seed % (i % 100 == 0 ? 100000 : 3000);
        r->data = (i & 1) ? gm_alloc_noscan(r->len) : gm_alloc(r->len);
        gmt_fill(r->data, r->len, r->seed);
        r->next = live;
        live = r;
        nlive++;
    }
}

static int live_ok(void) {
    long n = 0;
    for (struct rec *r = live; r && n <= nlive; r = r->next, n++)
        if (gm_base(r) != r || gm_base(r->data) != r->data ||
            gmt_verify(r->data, r->len, r->seed) != GMT_OK)
            return 0;
    return n == nlive;
}

/* heap_works: allocate, fill, collect, verify; the live structure is still intact. */
static int heap_works(void) {
    void *ps[100];
    for (int i = 0; i < 100; i++) {
        size_t n = 1 + (size_t)i * 397;
        ps[i] = gm_alloc(n);
        if (!ps[i] || !gmt_all_zero(ps[i], n)) return 0;
        gmt_fill(ps[i], n, (uint64_t)i);
    }
    gm_collect();
    for (int i = 0; i < 100; i++)
        if (gmt_verify(ps[i], 1 + (size_t)i * 397, (uint64_t)i) != GMT_OK) return 0;
    for (int i = 0; i < 100; i += 2)
        gm_free(ps[i]);
    gm_collect();
    return live_ok();
}

/* expect_one_line checks what a bad call printed: exactly one line, naming the call and
 * the pointer. */
static void expect_one_line(const char *out, const char *call, const void *p, const char *what) {
    int lines = gmt_count_lines(out);
    int names = strstr(out, call) != NULL;
    int ptr = gmt_contains_ptr(out, p);
    if (lines != 1 || !names || !ptr)
        fprintf(
            stderr,
            "%s(%s %p): expected one line naming the call and the pointer, got %d line(s): '%s'\n",
            call, what, p, lines, out);
    CHECK_EQ(lines, 1);
    CHECK(names);
    CHECK(ptr);
    size_t len = strlen(out);
    CHECK(len > 0 && out[len - 1] == '\n');
}

static char capbuf[8192];

static void bad_free(void *p, const char *what) {
    gmt_capture_begin();
    gm_free(p);
    gmt_capture_end(capbuf, sizeof capbuf);
    expect_one_line(capbuf, "gm_free", p, what);
}

static void bad_realloc(void *p, const char *what) {
    gmt_capture_begin();
    errno = 0;
    void *q = gm_realloc(p, 100);
    gmt_capture_end(capbuf, sizeof capbuf);
    CHECK(q == NULL);
    expect_one_line(capbuf, "gm_realloc", p, what);
}

GMT_NOINLINE static uintptr_t make_collected(size_t size) {
    void *p = gm_alloc(size);
    return gmt_hide(p);
}

static void test_bad_pointers(void) {
    int local[8] = {0};
    void *m = malloc(64);
    uint8_t *small = gm_alloc(100);
    uint8_t *large = gm_alloc(200000);
    uint8_t *ns = gm_alloc_noscan(1000);
    gmt_fill(small, 100, 1);
    gmt_fill(large, 200000, 2);
    gmt_fill(ns, 1000, 3);

    struct {
        void *p;
        const char *what;
    } cases[] = {
        {&local[2], "stack address"},
        {global_buf + 16, "global address"},
        {m, "malloc pointer"},
        {small + 8, "interior of small object"},
        {small + 99, "last byte of small object"},
        {large + 8192, "interior of large object"},
        {large + 16, "interior of large object (first page)"},
        {ns + 1, "interior of noscan object"},
        {(void *)(uintptr_t)0x10, "low address"},
        {(void *)&heap_works, "code address"},
    };
    int ncases = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < ncases; i++) {
        bad_free(cases[i].p, cases[i].what);
        bad_realloc(cases[i].p, cases[i].what);
    }
    /* nothing was freed */
    CHECK(gmt_is_live(small) && gmt_verify(small, 100, 1) == GMT_OK);
    CHECK(gmt_is_live(large) && gmt_verify(large, 200000, 2) == GMT_OK);
    CHECK(gmt_is_live(ns) && gmt_verify(ns, 1000, 3) == GMT_OK);
    CHECK(heap_works());
    /* malloc's block is untouched and still free()-able */
    free(m);

    /* double free: small, large, noscan */
    uint8_t *d1 = gm_alloc(48), *d2 = gm_alloc(70000), *d3 = gm_alloc_noscan(9000);
    gm_free(d1);
    gm_free(d2);
    gm_free(d3);
    bad_free(d1, "freed small object");
    CHECK(strstr(capbuf, "double free") != NULL);
    bad_free(d2, "freed large object"); /* its pages are free: said so, not "not gomem's" */
    CHECK(strstr(capbuf, "double free") != NULL);
    bad_free(d3, "freed noscan object");
    CHECK(strstr(capbuf, "double free") != NULL);
    bad_realloc(d1, "freed small object");
    bad_realloc(d2, "freed large object");
    CHECK(heap_works());
    /* the freed slot is reusable exactly once: two allocations never alias */
    uint8_t *a = gm_alloc(48), *b = gm_alloc(48);
    CHECK(a != b);
    gm_free(a);
    gm_free(b);

    /* objects the collector reclaimed: one of a class nothing else here uses, and small
     * ones, which gm_free's fast path would put on a reuse stack if it took a free slot
     * for a live object (they carry no free tag: only the allocation bit tells) */
    size_t collected_sizes[] = {6912, 16, 48, 400, 1024};
    int ncollected = 0;
    for (size_t k = 0; k < sizeof collected_sizes / sizeof collected_sizes[0]; k++) {
        uintptr_t h = make_collected(collected_sizes[k]);
        gmt_collect_clean();
        void *dead = gmt_unhide(h);
        if (gm_base(dead) == NULL) {
            bad_free(dead, "collected object");
            bad_realloc(dead, "collected object");
            ncollected++;
        } else {
            fprintf(stderr,
                    "note: object of %zu bytes expected to be collected was retained "
                    "(conservative)\n",
                    collected_sizes[k]);
        }
    }
    CHECK(ncollected >= 3); /* a stale word may keep one or two, not most */

    /* gm_free(NULL) is silent, gm_realloc(NULL, n) allocates */
    gmt_capture_begin();
    gm_free(NULL);
    void *r = gm_realloc(NULL, 10);
    gmt_capture_end(capbuf, sizeof capbuf);
    CHECK_EQ(strlen(capbuf), 0);
    CHECK(r != NULL);

    gm_free(small);
    gm_free(large);
    gm_free(ns);
    CHECK(heap_works());
}

static void test_overflow(void) {
    struct {
        size_t n, size;
    } calls[] = {{SIZE_MAX / 2, 3},
                 {SIZE_MAX, 2},
                 {SIZE_MAX, SIZE_MAX},
                 {((size_t)1 << 32) + 1, (size_t)1 << 32},
                 {(size_t)1 << 63, 2}};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        errno = 0;
        void *p = gm_calloc(calls[i].n, calls[i].size);
        CHECK(p == NULL);
        CHECK_EQ(errno, ENOMEM);
    }
    size_t sizes[] = {SIZE_MAX,     SIZE_MAX - 1,    SIZE_MAX - 4096,       SIZE_MAX - 8192 + 1,
                      SIZE_MAX / 2, (size_t)1 << 63, ((size_t)1 << 62) + 3, (size_t)1 << 47};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        void *p = gm_alloc(sizes[i]);
        CHECK(p == NULL);
        CHECK_EQ(errno, ENOMEM);
        errno = 0;
        p = gm_alloc_noscan(sizes[i]);
        CHECK(p == NULL);
        CHECK_EQ(errno, ENOMEM);
    }
    /* More than memory and swap: refused at once, not reserved (the page map alone
     * would take a word per 8 KiB page: 32 GiB for 32 TiB) */
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        unsigned __int128 have = ((unsigned __int128)si.totalram + si.totalswap) * si.mem_unit;
        for (size_t big = (size_t)1 << 40; big <= (size_t)1 << 45; big <<= 1) {
            if (big <= have) continue;
            errno = 0;
            CHECK(gm_alloc_noscan(big) == NULL);
            CHECK_EQ(errno, ENOMEM);
            errno = 0;
            CHECK(gm_calloc(big / 8, 8) == NULL);
            CHECK_EQ(errno, ENOMEM);
        }
    }
    uint8_t *p = gm_alloc(1000);
    gmt_fill(p, 1000, 5);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        errno = 0;
        void *q = gm_realloc(p, sizes[i]);
        CHECK(q == NULL);
        CHECK_EQ(errno, ENOMEM);
    }
    /* p untouched */
    CHECK(gmt_is_live(p));
    CHECK_EQ(gmt_verify(p, 1000, 5), GMT_OK);
    CHECK(heap_works());
    gm_free(p);
}

static void test_alloc_zero(void) {
    enum { N = 500 };
    static void *ps[N];
    for (int i = 0; i < N; i++) {
        ps[i] = gm_alloc(0);
        CHECK(ps[i] != NULL);
    }
    int dup = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            dup += ps[i] == ps[j];
    CHECK_EQ(dup, 0);
    for (int i = 0; i < N; i++)
        CHECK(gm_base(ps[i]) == ps[i]);
    gmt_capture_begin();
    for (int i = 0; i < N; i++)
        gm_free(ps[i]);
    void *z = gm_calloc(0, 16);
    gmt_capture_end(capbuf, sizeof capbuf);
    CHECK_EQ(strlen(capbuf), 0); /* freeing zero-size objects is legal */
    (void)z;
}

/* ---------------------------------------------------------------------------------
 * Child modes (re-executed with an argument)
 * ------------------------------------------------------------------------------- */

static int child_abort(const char *which) {
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    int local = 0;
    void *m = malloc(32);
    uint8_t *p = gm_alloc(100);
    if (strcmp(which, "stack") == 0)
        gm_free(&local);
    else if (strcmp(which, "malloc") == 0)
        gm_free(m);
    else if (strcmp(which, "interior") == 0)
        gm_free(p + 16);
    else if (strcmp(which, "double") == 0) {
        gm_free(p);
        gm_free(p);
    } else if (strcmp(which, "realloc") == 0) {
        void *q = gm_realloc(&local, 10);
        (void)q;
    }
    free(m);
    return 0; /* did not abort */
}

static int child_rlimit(void) {
#if GMT_ASAN
    return 0;
#else
    /* some headroom above what the process uses now, far less than 1 GiB */
    void *warm = gm_alloc(100);
    (void)warm;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long vm = 0;
    if (!f || fscanf(f, "%lu", &vm) != 1) return 10;
    fclose(f);
    size_t cur = vm * (size_t)sysconf(_SC_PAGESIZE);
    struct rlimit rl = {cur + (256u << 20), cur + (256u << 20)};
    if (setrlimit(RLIMIT_AS, &rl) != 0) return 11;
    errno = 0;
    void *p = gm_alloc((size_t)1 << 30);
    if (p != NULL) return 12;
    if (errno != ENOMEM) return 13;
    errno = 0;
    p = gm_alloc_noscan((size_t)3 << 30);
    if (p != NULL || errno != ENOMEM) return 14;
    errno = 0;
    p = gm_calloc(1 << 20, 1 << 11);
    if (p != NULL || errno != ENOMEM) return 15;
    /* the heap still works */
    void **keep = gm_calloc(1024, sizeof(void *));
    for (int i = 0; i < 1024; i++) {
        keep[i] = gm_alloc(1000);
        if (!keep[i]) return 16;
        gmt_fill(keep[i], 1000, (uint64_t)i);
    }
    gm_collect();
    for (int i = 0; i < 1024; i++)
        if (gmt_verify(keep[i], 1000, (uint64_t)i) != GMT_OK) return 17;
    return 0;
#endif
}

/* child_exhaust: allocate and keep 1 MiB objects until the OS refuses: the call
 * returns NULL with ENOMEM (no crash, no abort), and small allocations still work or
 * fail cleanly afterwards. */
static int child_exhaust(void) {
#if GMT_ASAN
    return 0;
#else
    void *warm = gm_alloc(100);
    (void)warm;
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long vm = 0;
    if (!f || fscanf(f, "%lu", &vm) != 1) return 10;
    fclose(f);
    size_t cur = vm * (size_t)sysconf(_SC_PAGESIZE);
    struct rlimit rl = {cur + (384u << 20), cur + (384u << 20)};
    if (setrlimit(RLIMIT_AS, &rl) != 0) return 11;
    void **keep = gm_calloc(4096, sizeof(void *));
    if (!keep) return 12;
    int i;
    for (i = 0; i < 4096; i++) {
        errno = 0;
        keep[i] = gm_alloc_noscan(1 << 20);
        if (!keep[i]) break;
        memset(keep[i], 1, 4096);
    }
    if (i == 4096) return 13; /* never refused */
    if (errno != ENOMEM) return 14;
    /* free half, collect, allocate again */
    for (int k = 0; k < i; k += 2)
        keep[k] = NULL;
    gm_collect();
    for (int k = 0; k < i / 4; k++) {
        void *p = gm_alloc_noscan(1 << 20);
        if (!p) return 15;
    }
    for (int k = 1; k < i; k += 2)
        if (((uint8_t *)keep[k])[100] != 1) return 16;
    return 0;
#endif
}

static void test_children(void) {
    static const char *modes[] = {"stack", "malloc", "interior", "double", "realloc"};
    static char out[65536];
    char arg[64];
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        snprintf(arg, sizeof arg, "abort-%s", modes[i]);
        int st = gmt_run_self(arg, "GOMEMDEBUG=abort=1", out, sizeof out, 0, 60);
        int ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
        if (!ok)
            fprintf(stderr, "%s with GOMEMDEBUG=abort=1: status 0x%x, stderr '%s'\n", arg, st, out);
        CHECK(ok);
        CHECK(strstr(out, modes[i][0] == 'r' ? "gm_realloc" : "gm_free") != NULL);
        /* without the knob: reported and survived */
        st = gmt_run_self(arg, NULL, out, sizeof out, 0, 60);
        ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && gmt_count_lines(out) == 1;
        if (!ok) fprintf(stderr, "%s without abort: status 0x%x, stderr '%s'\n", arg, st, out);
        CHECK(ok);
    }
    if (!GMT_ASAN) {
        int st = gmt_run_self("rlimit", NULL, out, sizeof out, 1, 120);
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!ok)
            fprintf(stderr, "rlimit child: status 0x%x (exit %d), output '%s'\n", st,
                    WEXITSTATUS(st), out);
        CHECK(ok);
        st = gmt_run_self("exhaust", NULL, out, sizeof out, 1, 120);
        ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!ok)
            fprintf(stderr, "exhaust child: status 0x%x (exit %d), output '%s'\n", st,
                    WEXITSTATUS(st), out);
        CHECK(ok);
    }
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (strncmp(argv[1], "abort-", 6) == 0) return child_abort(argv[1] + 6);
        if (strcmp(argv[1], "rlimit") == 0) return child_rlimit();
        if (strcmp(argv[1], "exhaust") == 0) return child_exhaust();
        return 99;
    }
    gm_init();
    build_live();
    CHECK(live_ok());
    test_bad_pointers();
    test_overflow();
    test_alloc_zero();
    test_children();
    CHECK(live_ok());
    CHECK(heap_works());
    return check_done();
}
