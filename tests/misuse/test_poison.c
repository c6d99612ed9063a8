/* test_poison.c: GOMEMDEBUG=poison=1. A write after gm_free is reported when the
 * object leaves the quarantine, and a write after the collector freed an object when
 * its slot is handed out again: one line naming the object's address and size (and,
 * with every allocation sampled, its allocation site). Large objects (over 32 KiB) wait
 * in a quarantine of their own whether gm_free or the collector freed them, and are
 * checked when they leave it. A double free of a quarantined object is one misuse
 * line. A correct program prints nothing and its heap verifies. Each case runs in a
 * child with GOMEMDEBUG set. */
#include "api/gmtest.h"

#include <pthread.h>

static char out[65536];
static void *volatile sink, *volatile sink2;

/* Push the quarantine (1024 objects) over by freeing many objects of another size. */
static void flush_quarantine(void) {
    for (int i = 0; i < 3000; i++)
        gm_free(gm_alloc(48));
}

/* uaf_after_free: a sampled object of size bytes is freed, written at offset off (the
 * bug), and the quarantine is pushed over by flush so the write is found. */
GMT_NOINLINE static int uaf_after_free(size_t size, size_t off, void (*flush)(void)) {
    gm_set_mem_profile_rate(1);
    uint8_t *p = gm_alloc(size);
    memset(p, 7, size);
    printf("PTR %p\n", (void *)p);
    fflush(stdout);
    gm_free(p);
    p[off] = 0x42; /* the bug */
    flush();
    return 0;
}

static int child_uaf_free(void) {
    return uaf_after_free(100, 10, flush_quarantine);
}

GMT_NOINLINE static uintptr_t make_hidden(void) {
    sink = gm_alloc(6000);       /* slot 0: its address is the span's, often found in registers */
    uint8_t *p = gm_alloc(6000); /* a class nothing else here uses */
    memset(p, 1, 6000);
    return gmt_hide(p);
}

GMT_NOINLINE static int child_uaf_gc(void) {
    uintptr_t h = make_hidden();
    gmt_collect_clean();
    if (gm_base(gmt_unhide(h)) != NULL) return 5; /* retained: the test cannot run */
    printf("PTR %p\n", gmt_unhide(h)); /* after the collection: printf's frames keep copies */
    fflush(stdout);
    ((volatile uint8_t *)gmt_unhide(h))[100] = 0x55; /* the bug: the collector freed it */
    for (int i = 0; i < 64; i++)
        sink2 = gm_alloc(6000); /* the slot is handed out again */
    return 0;
}

/* Push the large quarantine (16 MiB) over with 1 MiB objects freed at once. */
static void flush_large_quarantine(void) {
    for (int i = 0; i < 40; i++)
        gm_free(gm_alloc(1 << 20));
}

/* 100000 bytes: 13 pages, 106496 bytes */
static int child_uaf_large_free(void) {
    return uaf_after_free(100000, 70000, flush_large_quarantine);
}

GMT_NOINLINE static uintptr_t make_hidden_large(void) {
    uint8_t *p = gm_alloc(200000); /* 25 pages: 204800 bytes */
    memset(p, 1, 200000);
    return gmt_hide(p);
}

GMT_NOINLINE static int child_uaf_large_gc(void) {
    gm_set_mem_profile_rate(1);
    uintptr_t h = make_hidden_large();
    gmt_collect_clean(); /* gm_collect finishes the sweep: the span is in the quarantine */
    if (gm_base(gmt_unhide(h)) != NULL) return 5; /* retained: the test cannot run */
    printf("PTR %p\n", gmt_unhide(h));
    fflush(stdout);
    ((volatile uint8_t *)gmt_unhide(h))[150000] = 0x55; /* the bug: the collector freed it */
    flush_large_quarantine();
    return 0;
}

static int child_double_free_large(void) {
    void *p = gm_alloc(50000);
    printf("PTR %p\n", p);
    fflush(stdout);
    gm_free(p);
    gm_free(p);
    return 0;
}

static int child_double_free(void) {
    void *p = gm_alloc(64);
    printf("PTR %p\n", p);
    fflush(stdout);
    gm_free(p);
    gm_free(p);
    return 0;
}

/* A freed object waiting in the quarantine is dead to every call that asks: gm_base,
 * gm_pin (one line), gm_explain (it answered "reachable" and gm_pin pinned it, and the
 * stale pin later pinned the slot's next object). Small and large. */
/* A write after the collector freed an object whose span it then gave back to the
 * page heap whole: the pages are checked when a large object reuses them (nothing
 * reported it before). The object (28000 B: the 28672-byte class, two to a 7-page
 * span) comes from a thread that exits, so its span is no thread's current one; large
 * objects of exactly 7 pages are then allocated until one covers it. */
static volatile uintptr_t gone_hidden;
static void *gone_thread(void *arg) {
    (void)arg;
    char *p = gm_alloc(28000);
    memset(p, 1, 28000);
    gone_hidden = (uintptr_t)p ^ 0x5555555555555555ull; /* not a heap address */
    return NULL;
}
static void *gone_keep[400];
static int child_uaf_span_gone(void) {
    pthread_t t;
    pthread_create(&t, NULL, gone_thread, NULL);
    pthread_join(t, NULL);
    gm_collect();
    gm_collect();
    char *p = (char *)(gone_hidden ^ 0x5555555555555555ull);
    if (gm_base(p) != NULL) return 3; /* still live: nothing to test */
    p[100] = 0x55;
    for (int i = 0; i < 400; i++) {
        char *q = gm_alloc(7 * 8192);
        gone_keep[i] = q;
        if ((uintptr_t)p - (uintptr_t)q < 7 * 8192) {
            printf("COVERED\n");
            return 0;
        }
    }
    return 0;
}

static void *volatile quarantined_ref;
static int child_quarantined_calls(void) {
    size_t sizes[] = {64, 100000};
    for (int k = 0; k < 2; k++) {
        void *p = gm_alloc(sizes[k]);
        quarantined_ref = p; /* a global still points at it: not "reachable" */
        gm_free(p);
        if (gm_base(p) != NULL) return 10 + k;
        errno = 0;
        if (gm_pin(p) != -1 || errno != EINVAL) return 20 + k;
        errno = 0;
        if (gm_explain(p, stdout) != -1 || errno != EINVAL) return 30 + k;
        if (gm_usable_size(p) != 0) return 40 + k;
    }
    quarantined_ref = NULL;
    return 0;
}

static int child_clean(void) {
    uint64_t rng = 5;
    void *keep[512] = {0};
    for (int i = 0; i < 200000; i++) {
        size_t k = check_rand(&rng) % 512;
        if (keep[k] && (check_rand(&rng) & 1)) gm_free(keep[k]);
        size_t n = 1 + check_rand(&rng) % (i % 100 == 0 ? 70000 : 2000);
        keep[k] = gm_alloc(n);
        if (!gmt_all_zero(keep[k], n)) return 3;
        memset(keep[k], 0xab, n);
        if (i % 20000 == 0) gm_collect();
    }
    return 0;
}

/* parse "PTR 0x..." from the child's stdout */
static void *child_ptr(const char *s) {
    const char *c = strstr(s, "PTR ");
    return c ? (void *)strtoul(c + 4, NULL, 16) : NULL;
}

static int report_lines(const char *s) {
    int n = 0;
    for (const char *c = s; (c = strstr(c, "gomem:")) != NULL; c++)
        n++;
    return n;
}

/* check_uaf runs child `name` under env and checks its one write-after-free report:
 * the object's address, its size (and how it was freed), the byte written and, when
 * site is set, the sampled allocation site. */
static void check_uaf(const char *name, const char *env, const char *size, const char *byte,
                      int site) {
    int st = gmt_run_self(name, env, out, sizeof out, 1, 60);
    void *p = child_ptr(out);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(p != NULL);
    CHECK_EQ(report_lines(out), 1);
    CHECK(strstr(out, "write after free") != NULL);
    CHECK(gmt_contains_ptr(out, p));
    CHECK(strstr(out, size) != NULL);
    CHECK(strstr(out, byte) != NULL);
    if (site) CHECK(strstr(out, "allocated at pc") != NULL);
    if (check_failed_) fprintf(stderr, "%s output: %s\n", name, out);
}

/* check_double_free runs child `name` (poison on) and checks its one gm_free report. */
static void check_double_free(const char *name, const char *what) {
    int st = gmt_run_self(name, "GOMEMDEBUG=poison=1", out, sizeof out, 1, 60);
    void *p = child_ptr(out);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(report_lines(out), 1);
    CHECK(strstr(out, "gm_free") != NULL && gmt_contains_ptr(out, p));
    CHECK(strstr(out, what) != NULL);
    if (check_failed_) fprintf(stderr, "%s output: %s\n", name, out);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        if (!strcmp(argv[1], "uaf-free")) return child_uaf_free();
        if (!strcmp(argv[1], "uaf-gc")) return child_uaf_gc();
        if (!strcmp(argv[1], "double-free")) return child_double_free();
        if (!strcmp(argv[1], "uaf-large-free")) return child_uaf_large_free();
        if (!strcmp(argv[1], "uaf-large-gc")) return child_uaf_large_gc();
        if (!strcmp(argv[1], "double-free-large")) return child_double_free_large();
        if (!strcmp(argv[1], "clean")) return child_clean();
        if (!strcmp(argv[1], "quarantined-calls")) return child_quarantined_calls();
        if (!strcmp(argv[1], "uaf-span-gone")) return child_uaf_span_gone();
        return 99;
    }
    check_uaf("uaf-free", "GOMEMDEBUG=poison=1", "size 112", "byte 10 is 0x42", 1);
    check_uaf("uaf-gc", "GOMEMDEBUG=poison=1", "size 6144", "byte 100 is 0x55", 0);
    check_double_free("double-free", "double free");
    check_uaf("uaf-large-free", "GOMEMDEBUG=poison=1,verify=1", "size 106496 (freed by gm_free)",
              "byte 70000 is 0x42", 1);
    check_uaf("uaf-large-gc", "GOMEMDEBUG=poison=1,verify=1", "size 204800 (collected)",
              "byte 150000 is 0x55", 1);
    check_double_free("double-free-large", "double free; it is in the poison quarantine");

    int st = gmt_run_self("uaf-span-gone", "GOMEMDEBUG=poison=1", out, sizeof out, 1, 60);
    CHECK(WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == 3));
    if (strstr(out, "COVERED") != NULL) {
        /* byte 100 of the object: of the large object, 100 or 28672 + 100 */
        CHECK(strstr(out, "write after free") != NULL && strstr(out, "now reused") != NULL &&
              (strstr(out, "byte 100 is 0x55") != NULL || strstr(out, "byte 28772 is 0x55")));
        CHECK_EQ(report_lines(out), 1);
    } else {
        printf("uaf-span-gone: the freed pages were not reused (or the object stayed live): "
               "nothing to check\n");
    }

    st = gmt_run_self("quarantined-calls", "GOMEMDEBUG=poison=1", out, sizeof out, 1, 60);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fprintf(stderr, "quarantined-calls: %s\n", out);
    CHECK(strstr(out, "in the poison quarantine") != NULL); /* gm_pin's line */

    st = gmt_run_self("clean", "GOMEMDEBUG=poison=1,verify=1,gcstress=10", out, sizeof out, 1, 120);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(report_lines(out), 0);
    if (check_failed_) fprintf(stderr, "output: %s\n", out);
    return check_done();
}
