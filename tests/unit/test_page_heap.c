/* test_page_heap.c: the page heap on its own: spans of many sizes, coalescing,
 * released-page accounting and the invariant checker. */
#include "check.h"
#include "internal.h"
#include "gc_internal.h"

#include <string.h>

static const char *check_heap(void) {
    gmi_lock(&gmi_heap_lock);
    const char *e = gmi_heap_check_locked();
    gmi_unlock(&gmi_heap_lock);
    if (e) fprintf(stderr, "heap check: %s\n", e);
    return e;
}

/* Pages released with MADV_FREE may keep their contents: a span reusing any of them is
 * not zeroed (needzero); pages released with MADV_DONTNEED again are. */
static void release_all(void) {
    gmi_lock(&gmi_heap_lock);
    gmi_heap_release_locked(SIZE_MAX);
    gmi_unlock(&gmi_heap_lock);
}

static void test_madv_free(void) {
    enum { M = 64, NP = 16 };
    gmi_span_t *sp[M];
    bool zeroed;
    gmi_os_set_madv_free(true);
    for (int i = 0; i < M; i++) {
        sp[i] = gmi_heap_alloc_span(NP, 0, &zeroed);
        CHECK(sp[i] != NULL);
        memset((void *)sp[i]->start, 0xab, NP * GMI_PAGE_SIZE);
    }
    for (int i = 0; i < M; i++)
        gmi_heap_free_span(sp[i]);
    release_all();
    CHECK(check_heap() == NULL);
    int lazy_zeroed = 0, stale = 0;
    for (int i = 0; i < M; i++) {
        sp[i] = gmi_heap_alloc_span(NP, 0, &zeroed);
        CHECK(sp[i] != NULL);
        if (zeroed) lazy_zeroed++;
        /* until the kernel reclaims a lazily freed page it keeps its contents */
        if (((const uint8_t *)sp[i]->start)[0] == 0xab) stale++;
        memset((void *)sp[i]->start, 0xcd, NP * GMI_PAGE_SIZE);
    }
    printf("madv_free: %d of %d reused spans still held their old contents\n", stale, M);
    CHECK_EQ(lazy_zeroed, 0);
    CHECK(check_heap() == NULL);
    for (int i = 0; i < M; i++)
        gmi_heap_free_span(sp[i]);
    /* released again with MADV_DONTNEED: zero, and known to be */
    gmi_os_set_madv_free(false);
    release_all();
    int dontneed_zeroed = 0, nonzero = 0;
    for (int i = 0; i < M; i++) {
        sp[i] = gmi_heap_alloc_span(NP, 0, &zeroed);
        CHECK(sp[i] != NULL);
        if (zeroed) dontneed_zeroed++;
        const uint64_t *w = (const uint64_t *)sp[i]->start;
        for (size_t k = 0; k < NP * GMI_PAGE_SIZE / 8; k++)
            nonzero += w[k] != 0;
    }
    CHECK_EQ(dontneed_zeroed, M);
    CHECK_EQ(nonzero, 0);
    CHECK(check_heap() == NULL);
    for (int i = 0; i < M; i++)
        gmi_heap_free_span(sp[i]);
    CHECK(check_heap() == NULL);
}

int main(void) {
    gm_init();
    uint64_t seed = 42;
    enum { N = 400 };
    gmi_span_t *spans[N];
    size_t sys0, inuse0, rel0, a, b, c;
    gmi_lock(&gmi_heap_lock);
    gmi_heap_stats_locked(&sys0, &inuse0, &rel0, &a, &b, &c);
    gmi_unlock(&gmi_heap_lock);

    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < N; i++) {
            size_t np = 1 + check_rand(&seed) % (i % 10 == 0 ? 300 : 12);
            bool zeroed;
            spans[i] = gmi_heap_alloc_span(np, 0, &zeroed);
            CHECK(spans[i] != NULL);
            CHECK_EQ(spans[i]->npages, np);
            CHECK_EQ(spans[i]->start % GMI_PAGE_SIZE, 0);
            /* every page maps to the span */
            for (size_t k = 0; k < np; k += 7)
                CHECK(gmi_span_of(spans[i]->start + k * GMI_PAGE_SIZE + 8) == spans[i]);
            if (zeroed) {
                const uint64_t *w = (const uint64_t *)spans[i]->start;
                CHECK_EQ(w[0] | w[np * GMI_PAGE_SIZE / 8 - 1], 0);
            }
            memset((void *)spans[i]->start, 0xab, np * GMI_PAGE_SIZE);
        }
        /* spans never overlap */
        int overlap = 0;
        for (int i = 0; i < N; i++)
            for (int j = i + 1; j < N; j++) {
                uintptr_t ai = spans[i]->start, ae = ai + spans[i]->npages * GMI_PAGE_SIZE;
                uintptr_t bi = spans[j]->start, be = bi + spans[j]->npages * GMI_PAGE_SIZE;
                if (ai < be && bi < ae) overlap++;
            }
        CHECK_EQ(overlap, 0);
        CHECK(check_heap() == NULL);
        /* free in a shuffled order */
        for (int i = N - 1; i > 0; i--) {
            int j = (int)(check_rand(&seed) % (uint64_t)(i + 1));
            gmi_span_t *t = spans[i];
            spans[i] = spans[j];
            spans[j] = t;
        }
        for (int i = 0; i < N; i++) {
            uintptr_t p = spans[i]->start;
            gmi_heap_free_span(spans[i]);
            CHECK(gmi_span_of(p) == NULL);
        }
        CHECK(check_heap() == NULL);
    }
    size_t sys, inuse, rel;
    gmi_lock(&gmi_heap_lock);
    gmi_heap_stats_locked(&sys, &inuse, &rel, &a, &b, &c);
    CHECK_EQ(inuse, inuse0);
    /* release everything free: the accounting follows */
    size_t done = gmi_heap_release_locked(SIZE_MAX);
    size_t sys2, inuse2, rel2;
    gmi_heap_stats_locked(&sys2, &inuse2, &rel2, &a, &b, &c);
    CHECK_EQ(rel2, rel + done);
    CHECK_EQ(rel2, sys2 - inuse2);
    CHECK(gmi_heap_check_locked() == NULL);
    gmi_unlock(&gmi_heap_lock);
    /* released pages come back zeroed */
    bool zeroed;
    gmi_span_t *s = gmi_heap_alloc_span(4, 0, &zeroed);
    CHECK(s != NULL && zeroed);
    if (s) gmi_heap_free_span(s);
    test_madv_free();
    return check_done();
}
