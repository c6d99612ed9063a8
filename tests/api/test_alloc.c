/* test_alloc.c: allocation through the public API: size classes (Go's table), every
 * small size, large sizes up to 64 MiB, alignment, zeroing (fresh, after gm_free and
 * after a collection reuses a slot), gm_usable_size, gm_base, gm_calloc, gm_realloc. */
#include "api/gmtest.h"

#include <stdalign.h>

/* Go's size classes (runtime/sizeclasses.go), class 1..67. */
static const uint32_t go_class_size[GM_NUM_SIZE_CLASSES] = {
    0,     8,     16,    24,    32,    48,    64,    80,    96,    112,   128,   144,  160,   176,
    192,   208,   224,   240,   256,   288,   320,   352,   384,   416,   448,   480,  512,   576,
    640,   704,   768,   896,   1024,  1152,  1280,  1408,  1536,  1792,  2048,  2304, 2688,  3072,
    3200,  3456,  4096,  4864,  5376,  6144,  6528,  6784,  6912,  8192,  9472,  9728, 10240, 10880,
    12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768};

static gm_memstats_t ms0, ms1;
static int global_int = 42;
static char global_buf[64];

/* expected_usable: the slot size gomem must give a small request of n bytes: the
 * smallest class that fits and, for n >= 16, is 16-byte aligned (24 is skipped). */
static size_t expected_usable(size_t n) {
    if (n == 0) n = 1;
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        size_t s = go_class_size[c];
        if (s >= n && (n <= 8 || s % 16 == 0)) return s;
    }
    return 0;
}

static int class_of_size(size_t s) {
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++)
        if (go_class_size[c] == s) return c;
    return -1;
}

static void test_class_table(void) {
    gm_read_memstats(&ms0);
    CHECK_EQ(ms0.by_size[0].size, 0);
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        CHECK_EQ(ms0.by_size[c].size, go_class_size[c]);
        if (c > 1) CHECK_LT(ms0.by_size[c - 1].size, ms0.by_size[c].size);
        CHECK_EQ(ms0.by_size[c].size % 8, 0);
    }
    CHECK_EQ(ms0.by_size[GM_NUM_SIZE_CLASSES - 1].size, 32768);
}

/* Every size 1..32768: usable size is exactly the class, alignment, zeroed; write the
 * whole object and check the neighbours were not touched. */
static void test_every_small_size(void) {
    enum { KEEP = 64 };
    void *keep[KEEP] = {0};
    size_t keepn[KEEP] = {0};
    int bad_usable = 0, bad_align = 0, bad_zero = 0, bad_base = 0, bad_pat = 0;
    for (size_t n = 1; n <= 32768; n++) {
        int noscan = (int)(n & 1);
        uint8_t *p = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
        if (!p) {
            CHECK(p != NULL);
            break;
        }
        size_t u = gm_usable_size(p);
        if (u != expected_usable(n)) {
            if (bad_usable++ < 10)
                fprintf(stderr, "size %zu: usable %zu, expected %zu\n", n, u, expected_usable(n));
        }
        size_t align = n >= 16 ? 16 : 8;
        if ((uintptr_t)p % align) {
            if (bad_align++ < 10) fprintf(stderr, "size %zu: %p misaligned\n", n, (void *)p);
        }
        if (!gmt_all_zero(p, u)) {
            if (bad_zero++ < 10) fprintf(stderr, "size %zu: not zeroed\n", n);
        }
        if (gm_base(p) != p || gm_base(p + n - 1) != p || gm_base(p + u - 1) != p) {
            if (bad_base++ < 10) fprintf(stderr, "size %zu: gm_base wrong\n", n);
        }
        memset(p, 0xA5, u);
        /* keep a rotating window alive and verify it is untouched by later objects */
        int k = (int)(n % KEEP);
        if (keep[k]) {
            const uint8_t *q = keep[k];
            for (size_t i = 0; i < keepn[k]; i++)
                if (q[i] != (uint8_t)(keepn[k] * 7)) {
                    if (bad_pat++ < 10) fprintf(stderr, "object of %zu overwritten\n", keepn[k]);
                    break;
                }
            gm_free(keep[k]);
        }
        size_t m = u < 256 ? u : 256;
        memset(p, (int)(uint8_t)(m * 7), m);
        keep[k] = p;
        keepn[k] = m;
        if (n % 3 == 0) {
            gm_free(p);
            keep[k] = NULL;
        }
    }
    for (int k = 0; k < KEEP; k++)
        gm_free(keep[k]);
    CHECK_EQ(bad_usable, 0);
    CHECK_EQ(bad_align, 0);
    CHECK_EQ(bad_zero, 0);
    CHECK_EQ(bad_base, 0);
    CHECK_EQ(bad_pat, 0);
}

/* Boundaries of every class, scan and noscan, many objects each: distinct, aligned,
 * not overlapping, counted in by_size. */
static void test_class_boundaries(void) {
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        size_t s = go_class_size[c];
        size_t sizes[3] = {s - 1, s, s + 1};
        for (int j = 0; j < 3; j++) {
            size_t n = sizes[j];
            if (n == 0 || n > 32768) continue;
            size_t want = expected_usable(n);
            int wc = class_of_size(want);
            for (int noscan = 0; noscan < 2; noscan++) {
                enum { N = 40 };
                uint8_t *objs[N];
                gm_read_memstats(&ms0);
                for (int i = 0; i < N; i++) {
                    objs[i] = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
                    CHECK(objs[i] != NULL);
                    if (!objs[i]) return;
                    CHECK_EQ(gm_usable_size(objs[i]), want);
                    CHECK(gmt_all_zero(objs[i], want));
                    memset(objs[i], i + 1, want);
                }
                gm_read_memstats(&ms1);
                CHECK_EQ(ms1.by_size[wc].mallocs - ms0.by_size[wc].mallocs, N);
                CHECK_GE(ms1.mallocs - ms0.mallocs, N);
                CHECK_GE(ms1.heap_objects, N);
                for (int i = 0; i < N; i++) {
                    for (size_t b = 0; b < want; b++)
                        if (objs[i][b] != (uint8_t)(i + 1)) {
                            CHECK(!"class object overwritten");
                            break;
                        }
                    for (int k = 0; k < N; k++)
                        if (k != i) CHECK(objs[k] + want <= objs[i] || objs[i] + want <= objs[k]);
                }
                gm_read_memstats(&ms0);
                for (int i = 0; i < N; i++)
                    gm_free(objs[i]);
                gm_read_memstats(&ms1);
                CHECK_EQ(ms1.by_size[wc].frees - ms0.by_size[wc].frees, N);
                for (int i = 0; i < N; i++)
                    CHECK(gm_base(objs[i]) == NULL);
            }
        }
    }
}

static void test_large(void) {
    static const size_t sizes[] = {32769,
                                   32768 + 8192,
                                   40000,
                                   65535,
                                   65536,
                                   65537,
                                   100000,
                                   (1u << 20) - 1,
                                   1u << 20,
                                   (1u << 20) + 1,
                                   (3u << 20) + 12345,
                                   (16u << 20),
                                   (32u << 20) + 1,
                                   (64u << 20) - 8192,
                                   (64u << 20) - 1,
                                   64u << 20,
                                   (64u << 20) + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int noscan = 0; noscan < 2; noscan++) {
            gm_read_memstats(&ms0);
            uint8_t *p = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
            CHECK(p != NULL);
            if (!p) continue;
            gm_read_memstats(&ms1);
            CHECK_EQ(ms1.by_size[0].mallocs - ms0.by_size[0].mallocs, 1);
            CHECK_GE(ms1.heap_alloc, n);
            size_t u = gm_usable_size(p);
            CHECK_GE(u, n);
            CHECK_LE(u, n + 8192 + 4096); /* page rounding, not more */
            CHECK_EQ((uintptr_t)p % 16, 0);
            CHECK(gmt_all_zero(p, u));
            CHECK(gm_base(p) == p);
            CHECK(gm_base(p + 1) == p);
            CHECK(gm_base(p + n / 2) == p);
            CHECK(gm_base(p + n - 1) == p);
            CHECK(gm_base(p + u - 1) == p);
            CHECK(gm_usable_size(p + 16) == 0);
            gmt_fill(p, n, n);
            CHECK_EQ(gmt_verify(p, n, n), GMT_OK);
            gm_free(p);
            CHECK(gm_base(p) == NULL);
            CHECK(gm_base(p + n / 2) == NULL);
            CHECK_EQ(gm_usable_size(p), 0);
            /* reuse after free must be zeroed */
            uint8_t *q = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
            CHECK(q != NULL);
            if (q) {
                CHECK(gmt_all_zero(q, gm_usable_size(q)));
                gm_free(q);
            }
        }
    }
}

static void test_zero_after_free_reuse(void) {
    /* small: free then reallocate the same class many times; each must be zero */
    int bad = 0;
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++) {
        size_t n = go_class_size[c];
        if (c == 3) continue;
        for (int noscan = 0; noscan < 2; noscan++) {
            void *ps[16];
            for (int i = 0; i < 16; i++) {
                ps[i] = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
                memset(ps[i], 0xEE, n);
            }
            for (int i = 0; i < 16; i++)
                gm_free(ps[i]);
            for (int i = 0; i < 16; i++) {
                ps[i] = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
                if (!gmt_all_zero(ps[i], n) && bad++ < 5)
                    fprintf(stderr, "class %d (%zu) not zero after free+reuse\n", c, n);
            }
            for (int i = 0; i < 16; i++)
                gm_free(ps[i]);
        }
    }
    CHECK_EQ(bad, 0);
}

/* Fill many objects of one class with garbage and drop them (hidden), collect, then
 * allocate the same class again: the reused slots must be zero. */
GMT_NOINLINE static void make_dirty_garbage(size_t n, int count, int noscan, uintptr_t *hidden) {
    for (int i = 0; i < count; i++) {
        void *p = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
        memset(p, 0xCD, n);
        hidden[i] = gmt_hide(p);
    }
}

static void test_zero_after_gc_reuse(void) {
    static const size_t sizes[] = {8, 48, 1792, 6784, 100000};
    enum { COUNT = 300 };
    static uintptr_t hidden[COUNT];
    int bad = 0, reused = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int noscan = 0; noscan < 2; noscan++) {
            size_t n = sizes[s];
            int count = n > 32768 ? 10 : COUNT;
            make_dirty_garbage(n, count, noscan, hidden);
            gmt_collect_clean();
            int dead = 0;
            for (int i = 0; i < count; i++)
                dead += gm_base(gmt_unhide(hidden[i])) == NULL;
            CHECK_GE(dead, count * 8 / 10); /* conservative scanning may keep a few */
            for (int i = 0; i < count; i++) {
                uint8_t *p = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
                for (int j = 0; j < count; j++)
                    if (gmt_unhide(hidden[j]) == p) reused++;
                if (!gmt_all_zero(p, gm_usable_size(p)) && bad++ < 5)
                    fprintf(stderr, "size %zu noscan %d: not zero after GC reuse\n", n, noscan);
            }
        }
    }
    CHECK_EQ(bad, 0);
    CHECK(reused > 0);
}

static void test_base_foreign(void) {
    int local = 5;
    void *m = malloc(100);
    CHECK(gm_base(&local) == NULL);
    CHECK(gm_base(&global_int) == NULL);
    CHECK(gm_base(global_buf + 10) == NULL);
    CHECK(gm_base(m) == NULL);
    CHECK(gm_base((char *)m + 50) == NULL);
    CHECK(gm_base(NULL) == NULL);
    CHECK(gm_base((void *)(uintptr_t)1) == NULL);
    CHECK(gm_base((void *)(uintptr_t)0xffffffffffff0000ULL) == NULL);
    CHECK(gm_base((void *)(uintptr_t)&expected_usable) == NULL);
    CHECK_EQ(gm_usable_size(&local), 0);
    CHECK_EQ(gm_usable_size(&global_int), 0);
    CHECK_EQ(gm_usable_size(m), 0);
    CHECK_EQ(gm_usable_size(NULL), 0);
    free(m);
    /* interior pointers of small objects */
    uint8_t *p = gm_alloc(100);
    CHECK(gm_base(p + 50) == p);
    CHECK(gm_base(p + 111) == p);
    CHECK_EQ(gm_usable_size(p + 1), 0);
    CHECK_EQ(gm_usable_size(p), 112);
    gm_free(p);
}

static void test_calloc(void) {
    for (size_t n = 1; n < 2000; n += 37) {
        for (size_t sz = 1; sz < 300; sz += 29) {
            uint8_t *p = gm_calloc(n, sz);
            CHECK(p != NULL);
            if (!p) return;
            CHECK_GE(gm_usable_size(p), n * sz);
            CHECK(gmt_all_zero(p, n * sz));
            CHECK_EQ((uintptr_t)p % (n * sz >= 16 ? 16 : 8), 0);
            memset(p, 0x77, n * sz);
            gm_free(p);
        }
    }
    uint8_t *big = gm_calloc(1 << 20, 3);
    CHECK(big != NULL);
    if (big) {
        CHECK(gmt_all_zero(big, 3u << 20));
        gm_free(big);
    }
    /* calloc'd memory is scanned: a pointer stored in it retains its target */
    void **arr = gm_calloc(4, sizeof(void *));
    arr[2] = gm_alloc_noscan(40);
    gmt_fill(arr[2], 40, 99);
    for (int i = 0; i < 3; i++)
        gm_collect();
    CHECK(gmt_is_live(arr[2]));
    CHECK_EQ(gmt_verify(arr[2], 40, 99), GMT_OK);
}

static void test_realloc(void) {
    /* NULL -> alloc */
    uint8_t *p = gm_realloc(NULL, 50);
    CHECK(p != NULL);
    CHECK(gmt_is_live(p));
    CHECK(gmt_all_zero(p, 50));
    gmt_fill(p, 50, 1);
    /* grow through small and into large sizes; contents kept, rest zero */
    size_t cur = 50;
    static const size_t steps[] = {64, 100, 1000, 5000, 32768, 40000, 300000, 5000000};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        uint8_t *q = gm_realloc(p, steps[i]);
        CHECK(q != NULL);
        if (!q) return;
        CHECK_EQ(gmt_verify(q, cur, 1), GMT_OK);
        CHECK(gmt_all_zero(q + cur, steps[i] - cur));
        CHECK_GE(gm_usable_size(q), steps[i]);
        CHECK(gmt_is_live(q));
        if (q != p) CHECK(gm_base(p) == NULL || gm_base(p) != p || gm_usable_size(p) == 0);
        p = q;
        gmt_fill(p, steps[i], 1);
        cur = steps[i];
    }
    /* shrink keeps the prefix */
    static const size_t down[] = {1000000, 40000, 1000, 16, 1};
    for (size_t i = 0; i < sizeof down / sizeof down[0]; i++) {
        uint8_t *q = gm_realloc(p, down[i]);
        CHECK(q != NULL);
        if (!q) return;
        CHECK_EQ(gmt_verify(q, down[i], 1), GMT_OK);
        CHECK_GE(gm_usable_size(q), down[i]);
        p = q;
    }
    /* same size returns the object itself */
    uint8_t *r = gm_alloc(200);
    size_t u = gm_usable_size(r);
    CHECK(gm_realloc(r, u) == r);
    uint8_t *r2 = gm_realloc(r, 100); /* large enough: returned as is */
    CHECK(r2 == r);
    r = r2;
    /* realloc(p, 0) frees p and returns a minimal unique object */
    uint8_t *z = gm_alloc(300);
    uint8_t *z2 = gm_realloc(z, 0);
    CHECK(z2 != NULL);
    CHECK(gmt_is_live(z2));
    if (z2 != z) CHECK(!gmt_is_live(z));
    gm_free(z2);
    gm_free(p);
    gm_free(r);
}

/* realloc keeps the noscan kind: a pointer stored in a realloc'd noscan object must
 * not keep its target alive; in a realloc'd scanned object it must. */
GMT_NOINLINE static void make_kind_pair(uintptr_t *ns_holder, uintptr_t *sc_holder,
                                        uintptr_t *ns_target, uintptr_t *sc_target) {
    void **ns = gm_alloc_noscan(32);
    void **sc = gm_alloc(32);
    ns = gm_realloc(ns, 20000);
    sc = gm_realloc(sc, 20000);
    void *t1 = gm_alloc(1792), *t2 = gm_alloc(1792);
    ns[100] = t1;
    sc[100] = t2;
    *ns_holder = gmt_hide(ns);
    *sc_holder = gmt_hide(sc);
    *ns_target = gmt_hide(t1);
    *sc_target = gmt_hide(t2);
}

static void *volatile kind_roots[2];

static void test_realloc_kind(void) {
    uintptr_t nsh, sch, nst, sct;
    int ns_dead = 0, sc_alive = 0;
    for (int round = 0; round < 5; round++) {
        make_kind_pair(&nsh, &sch, &nst, &sct);
        kind_roots[0] = gmt_unhide(nsh);
        kind_roots[1] = gmt_unhide(sch);
        gmt_collect_clean();
        gmt_collect_clean();
        CHECK(gmt_is_live(gmt_unhide(nsh)));
        CHECK(gmt_is_live(gmt_unhide(sch)));
        ns_dead += gm_base(gmt_unhide(nst)) == NULL;
        sc_alive += gmt_is_live(gmt_unhide(sct));
        kind_roots[0] = kind_roots[1] = NULL;
    }
    CHECK_EQ(sc_alive, 5);
    CHECK_GE(ns_dead, 4);
}

static void test_alloc_zero(void) {
    enum { N = 1000 };
    static void *ps[N];
    for (int i = 0; i < N; i++) {
        ps[i] = (i & 1) ? gm_alloc(0) : gm_alloc_noscan(0);
        CHECK(ps[i] != NULL);
        if (!ps[i]) return;
    }
    int dup = 0;
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            dup += ps[i] == ps[j];
    CHECK_EQ(dup, 0);
    for (int i = 0; i < N; i++)
        gm_free(ps[i]);
}

int main(void) {
    gm_init();
    test_class_table();
    test_every_small_size();
    test_class_boundaries();
    test_large();
    test_zero_after_free_reuse();
    test_zero_after_gc_reuse();
    test_base_foreign();
    test_calloc();
    test_realloc();
    test_realloc_kind();
    test_alloc_zero();
    return check_done();
}
