/* test_reuse.c: the reuse stacks (malloc.c overview, 7a). An object freed from a span
 * the freeing thread does not cache is kept on that thread's stack of its class and
 * handed out again first. Checked here: it comes back cleared, exactly once, and
 * before any other slot; while on a stack it is not live to gm_base, gm_usable_size,
 * gm_realloc or a second gm_free (one line naming the call and the pointer, from this
 * thread or another); a collection frees what the stacks hold (they are not roots),
 * also for a thread that sits idle, whose span goes back to the page heap, and never
 * hands an object out twice; the live objects around them are untouched; a thread's
 * exit gives its stack back; Mallocs and Frees stay exact throughout, each free
 * counted once whether the object is reused, collected or flushed. A stack that
 * overflows passes objects to a transfer list (7b), where a new thread finds them
 * first, and a collection empties the lists. */
#include "api/gmtest.h"

#include <pthread.h>
#include <stdatomic.h>

enum { SIZE = 64, PER_SPAN = 8192 / SIZE, N = 6 * PER_SPAN, K = 16 };

static uint8_t *objs[N];
static uint8_t *back2[2 * K];
static char capbuf[8192];

/* Every object not freed still holds its pattern. */
static int live_ok(void) {
    for (int i = 0; i < N; i++)
        if (objs[i] && gmt_verify(objs[i], SIZE, (uint64_t)i) != GMT_OK) return 0;
    return 1;
}

static void expect_bad(const char *call, const void *p) {
    int lines = gmt_count_lines(capbuf);
    if (lines != 1 || !strstr(capbuf, call) || !gmt_contains_ptr(capbuf, p) ||
        !strstr(capbuf, "double free"))
        fprintf(stderr, "%s(%p): expected one 'double free' line, got '%s'\n", call, p, capbuf);
    CHECK_EQ(lines, 1);
    CHECK(strstr(capbuf, call) != NULL);
    CHECK(gmt_contains_ptr(capbuf, p));
    CHECK(strstr(capbuf, "double free") != NULL);
}

/* freed_checks: p was freed; nothing may treat it as live, and a second free of it is
 * reported, not taken. */
static void freed_checks(void *p) {
    CHECK(gm_base(p) == NULL);
    CHECK_EQ(gm_usable_size(p), 0);
    gmt_capture_begin();
    gm_free(p);
    gmt_capture_end(capbuf, sizeof capbuf);
    expect_bad("gm_free", p);
    gmt_capture_begin();
    void *q = gm_realloc(p, 10);
    gmt_capture_end(capbuf, sizeof capbuf);
    CHECK(q == NULL);
    expect_bad("gm_realloc", p);
}

/* live_contains: p is one of the test's live objects. */
static int live_contains(const void *p) {
    for (int i = 0; i < N; i++)
        if (objs[i] == p) return 1;
    return 0;
}

static int contains(void *const *set, int n, const void *p) {
    for (int i = 0; i < n; i++)
        if (set[i] == p) return 1;
    return 0;
}

/* take_back allocates n objects and checks that they are exactly the n freed ones (in
 * some order), cleared, and pairwise distinct. */
static void take_back(void *const *freed, int n, uint8_t **out) {
    for (int i = 0; i < n; i++) {
        out[i] = gm_alloc(SIZE);
        CHECK(out[i] != NULL);
        CHECK(gmt_all_zero(out[i], SIZE));
        CHECK(contains(freed, n, out[i]));
        for (int j = 0; j < i; j++)
            CHECK(out[j] != out[i]);
    }
}

static uint64_t stat_frees(void) {
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    CHECK_EQ(ms.heap_objects, ms.mallocs - ms.frees);
    return ms.frees;
}

/* ---- another thread frees ---- */

typedef struct job_s {
    void **ps;
    int n;
    pthread_barrier_t *bar; /* NULL: free and exit; else free, wait twice, take back */
    uint8_t *back[K];
} job_t;

static void *freer(void *arg) {
    job_t *j = arg;
    for (int i = 0; i < j->n; i++)
        gm_free(j->ps[i]);
    if (j->bar) {
        pthread_barrier_wait(j->bar); /* main double-frees meanwhile */
        pthread_barrier_wait(j->bar);
        take_back(j->ps, j->n, j->back);
    }
    return NULL;
}

/* ---- an idle thread's stack is freed by the next collection ---- */

static int class_of_size(size_t size) {
    static gm_size_class_usage_t u[GM_NUM_SIZE_CLASSES];
    gm_read_size_classes(u);
    for (int c = 1; c < GM_NUM_SIZE_CLASSES; c++)
        if (u[c].size == size) return c;
    return -1;
}

static uint64_t spans_of_class(int c) {
    static gm_size_class_usage_t u[GM_NUM_SIZE_CLASSES];
    gm_read_size_classes(u);
    return u[c].spans;
}

/* The page's objects, hidden: nothing of the test may keep one alive. */
static uintptr_t page_hidden[PER_SPAN];

GMT_NOINLINE static void free_page(void) {
    for (int i = 0; i < PER_SPAN; i++)
        gm_free(gmt_unhide(page_hidden[i]));
    gmt_wipe_stack();
    gmt_clear_scratch_regs();
}

static void *idle_freer(void *arg) {
    job_t *j = arg;
    free_page();                  /* GMI_REUSE_SLOTS to the stack, the rest pending */
    pthread_barrier_wait(j->bar); /* idle while main collects */
    pthread_barrier_wait(j->bar);
    for (int i = 0; i < K; i++) { /* its stale stack is dropped, not taken from */
        j->back[i] = gm_alloc(SIZE);
        CHECK(j->back[i] != NULL && gmt_all_zero(j->back[i], SIZE));
        for (int k = 0; k < K; k++)
            CHECK(k == i || j->back[k] != j->back[i]);
    }
    return NULL;
}

/* pick_page finds the objects of one whole page among objs[3 * PER_SPAN ..) (allocated
 * in order at the start), moves them to page_hidden and clears their objs entries. */
GMT_NOINLINE static int pick_page(void) {
    for (int i = 3 * PER_SPAN; i < N; i++) {
        uintptr_t pg = (uintptr_t)objs[i] >> 13;
        int n = 0;
        for (int k = 3 * PER_SPAN; k < N; k++)
            if ((uintptr_t)objs[k] >> 13 == pg) n++;
        if (n != PER_SPAN) continue;
        n = 0;
        for (int k = 3 * PER_SPAN; k < N; k++)
            if ((uintptr_t)objs[k] >> 13 == pg) {
                page_hidden[n++] = gmt_hide(objs[k]);
                objs[k] = NULL;
            }
        gmt_clear_scratch_regs();
        return 1;
    }
    return 0;
}

/* count_lines_with: lines of s that contain what. */
static int count_lines_with(const char *s, const char *what) {
    int n = 0;
    for (const char *c = s; (c = strstr(c, what)) != NULL; c += strlen(what))
        n++;
    return n;
}

/* A thread frees every object of one span (PER_SPAN of them: GMI_REUSE_SLOTS go to its
 * stack, the rest to the pending bitmap) and then blocks. The next collection must
 * free the stacked half too: when the stacks were roots, it stayed allocated until the
 * thread allocated again or exited. Seen two ways: a second free of each object after
 * the collection is reported as a slot the sweep freed ("not allocated", or "not a
 * gomem heap pointer" once the span went back), not as an object still allocated with
 * its free tag ("already freed"), but for at most two a stale word
 * somewhere may keep alive (conservative scanning; with the stacks as roots all 64
 * said "already freed"); and when none was kept, the span went back to the page heap
 * (in-use spans of the class one fewer). */
static void idle_thread(void) {
    int cls = class_of_size(SIZE);
    CHECK(cls > 0);
    gm_collect(); /* nothing else of the class left to collect */
    int found = pick_page();
    CHECK(found);
    if (!found) return;
    uint64_t f0 = stat_frees();
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    job_t j = {NULL, PER_SPAN, &bar, {0}};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, idle_freer, &j), 0);
    pthread_barrier_wait(&bar);
    CHECK_EQ(stat_frees() - f0, PER_SPAN);
    uint64_t s0 = spans_of_class(cls);
    gmt_collect_clean();
    uint64_t s1 = spans_of_class(cls);
    CHECK_EQ(stat_frees() - f0, PER_SPAN); /* the sweep counted the stacked half, once */
    for (int i = 0; i < PER_SPAN; i++)
        CHECK(gm_base(gmt_unhide(page_hidden[i])) == NULL);
    static char lines[PER_SPAN * 128];
    gmt_capture_begin();
    for (int i = 0; i < PER_SPAN; i++)
        gm_free(gmt_unhide(page_hidden[i]));
    gmt_capture_end(lines, sizeof lines);
    int kept = count_lines_with(lines, "already freed"), reported = gmt_count_lines(lines);
    if (kept > 2 || reported != PER_SPAN || (kept == 0 && s1 + 1 != s0))
        fprintf(stderr, "idle thread: %d of %d objects still allocated; spans %llu -> %llu\n", kept,
                reported, (unsigned long long)s0, (unsigned long long)s1);
    CHECK(kept <= 2);
    CHECK_EQ(reported, PER_SPAN); /* one line per second free, whatever it says */
    if (kept == 0) CHECK_EQ(s1 + 1, s0);
    CHECK_EQ(stat_frees() - f0, PER_SPAN); /* the rejected second frees count nothing */
    pthread_barrier_wait(&bar);
    CHECK_EQ(pthread_join(th, NULL), 0);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < K; i++) {
        CHECK(gm_base(j.back[i]) == j.back[i]);
        CHECK(!live_contains(j.back[i]));
    }
}

/* ---- transfer lists (malloc.c, 7b) ---- */

/* A thread that frees more objects of a class than its stack holds passes the older
 * half of its full stack to the class's transfer list, where any thread finds them
 * before the bits of its spans. XS objects, every 16th of XS * 16: each bitmap word
 * gets 4 pending frees at most, below the 8 that make a full span partial again, so
 * without the lists a new thread would get none of them back before the next cycle. */
enum { XS = 256, XSTRIDE = 16, XTAKE = 64 };
static uint8_t *xall[XS * XSTRIDE];
static void *xfreed[XS];

typedef struct xjob_s {
    pthread_barrier_t *bar;
    int n;         /* xtaker: objects to allocate */
    uint8_t **got; /* xtaker: what it allocated */
} xjob_t;

static void *xfreer(void *arg) {
    xjob_t *j = arg;
    for (int i = 0; i < XS; i++)
        gm_free(xfreed[i]);
    pthread_barrier_wait(j->bar); /* alive, so that its own stack stays out of the way */
    pthread_barrier_wait(j->bar);
    return NULL;
}

static void *xtaker(void *arg) {
    xjob_t *j = arg;
    for (int i = 0; i < j->n; i++) {
        j->got[i] = gm_alloc(SIZE);
        CHECK(j->got[i] != NULL && gmt_all_zero(j->got[i], SIZE));
        for (int k = 0; k < i; k++)
            CHECK(j->got[k] != j->got[i]);
    }
    return NULL;
}

/* xround: main allocates the objects, a freer frees the chosen ones and stays; then,
 * if collect, a collection (which frees the lists' objects: not roots); then a new
 * thread allocates n objects into got. Returns how many of the first XTAKE of them
 * are objects the freer freed. */
static int xround(int collect, int n, uint8_t **got) {
    for (int i = 0; i < XS * XSTRIDE; i++) {
        xall[i] = gm_alloc(SIZE);
        CHECK(xall[i] != NULL);
        gmt_fill(xall[i], SIZE, 7000u + (uint64_t)i);
    }
    for (int i = 0; i < XS; i++) {
        xfreed[i] = xall[i * XSTRIDE];
        xall[i * XSTRIDE] = NULL;
    }
    gm_collect(); /* and its sweep: Frees moves only with the frees below (gcstress) */
    uint64_t f0 = stat_frees();
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    xjob_t fj = {&bar, 0, NULL}, tj = {NULL, n, got};
    pthread_t fth, tth;
    CHECK_EQ(pthread_create(&fth, NULL, xfreer, &fj), 0);
    pthread_barrier_wait(&bar);
    CHECK_EQ(stat_frees() - f0, XS);
    if (!collect) { /* in the stack, the list or pending: freed to every call */
        for (int i = 0; i < XS; i += 7)
            freed_checks(xfreed[i]);
        CHECK_EQ(stat_frees() - f0, XS);
    } else {
        gmt_collect_clean();
    }
    CHECK_EQ(pthread_create(&tth, NULL, xtaker, &tj), 0);
    CHECK_EQ(pthread_join(tth, NULL), 0);
    int from_freer = 0;
    for (int i = 0; i < XTAKE && i < n; i++)
        from_freer += contains(xfreed, XS, got[i]);
    pthread_barrier_wait(&bar);
    CHECK_EQ(pthread_join(fth, NULL), 0);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < XS * XSTRIDE; i++)
        if (xall[i]) CHECK(gmt_verify(xall[i], SIZE, 7000u + (uint64_t)i) == GMT_OK);
    for (int i = 0; i < n; i++)
        CHECK(gm_base(got[i]) == got[i]);
    return from_freer;
}

static void transfer_lists(void) {
    static uint8_t *got[4 * XS];
    /* 1. the new thread's first allocations are the passed-on objects */
    int n = xround(0, XTAKE, got);
    if (n != XTAKE)
        fprintf(stderr, "transfer: %d of the first %d allocations passed on\n", n, XTAKE);
    CHECK_EQ(n, XTAKE);
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    CHECK_EQ(ms.heap_objects, ms.mallocs - ms.frees);
    for (int i = 0; i < XS * XSTRIDE; i++)
        xall[i] = NULL;
    /* 2. a collection empties the lists (they are not roots) and none of their
     *    objects is handed out twice: the thread takes slots from the swept spans */
    n = xround(1, 4 * XS, got);
    gm_read_memstats(&ms);
    CHECK_EQ(ms.heap_objects, ms.mallocs - ms.frees);
    for (int i = 0; i < XS * XSTRIDE; i++)
        xall[i] = NULL;
}

/* ---- collections racing pushes and pops ---- */

/* RT threads replace objects in windows of their own and trade half of the objects
 * they drop through a shared exchange array, so that frees land on other threads'
 * stacks, while main collects without pause. Every object carries its seed and size
 * in its first two words and a pattern after them; it is checked before every free and
 * at the end. An object handed out twice, or collected while reachable, breaks a
 * pattern; a stale stack popped after a cycle would hand out such objects. */
enum { RT = 4, RWIN = 512, RX = 1024, ROPS = 150000 };
static uint64_t *rwin[RT][RWIN];
static uint64_t *_Atomic rx[RX];
static _Atomic int racers_left;
static _Atomic long race_bad;
static const uint16_t rsizes[8] = {16, 32, 48, 64, 128, 256, 512, 1024};

static uint64_t *race_new(uint64_t seed, size_t size) {
    uint64_t *o = gm_alloc(size);
    if (o == NULL || !gmt_all_zero(o, size)) {
        atomic_fetch_add(&race_bad, 1);
        return o;
    }
    o[0] = seed;
    o[1] = size;
    gmt_fill(o + 2, size - 16, seed);
    return o;
}

static int race_ok(const uint64_t *o) {
    if (o == NULL) return 1;
    size_t size = o[1];
    return size >= 16 && size <= 1024 && gm_usable_size(o) >= size &&
           gmt_verify(o + 2, size - 16, o[0]) == GMT_OK;
}

static void race_free(uint64_t *o) {
    if (o == NULL) return;
    if (!race_ok(o)) atomic_fetch_add(&race_bad, 1);
    gm_free(o);
}

static void *racer(void *arg) {
    long me = (long)(intptr_t)arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(me + 7), seq = 0;
    for (long op = 0; op < ROPS; op++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        unsigned slot = (unsigned)(rng >> 20) % RWIN;
        uint64_t *old = rwin[me][slot];
        rwin[me][slot] = race_new(((uint64_t)me << 48) | ++seq, rsizes[rng & 7]);
        if (rng & 8) {
            race_free(old);
        } else if (old != NULL) {
            uint64_t *other = atomic_exchange(&rx[(rng >> 40) % RX], old);
            race_free(other); /* most likely another thread's object */
        }
    }
    atomic_fetch_sub(&racers_left, 1);
    return NULL;
}

static void racing(void) {
    pthread_t th[RT];
    atomic_store(&racers_left, RT);
    for (long i = 0; i < RT; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i), 0);
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    while (atomic_load(&racers_left) > 0)
        gm_collect();
    for (int i = 0; i < RT; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    gm_collect();
    gm_read_memstats(&ms);
    if (ms.num_gc - gc0 < 20) fprintf(stderr, "racing: only %u collections\n", ms.num_gc - gc0);
    CHECK(ms.num_gc - gc0 >= 20);
    for (int t = 0; t < RT; t++)
        for (int i = 0; i < RWIN; i++)
            if (!race_ok(rwin[t][i])) atomic_fetch_add(&race_bad, 1);
    for (int i = 0; i < RX; i++)
        if (!race_ok(atomic_load(&rx[i]))) atomic_fetch_add(&race_bad, 1);
    if (atomic_load(&race_bad) != 0)
        fprintf(stderr, "racing: %ld objects broken\n", atomic_load(&race_bad));
    CHECK_EQ(atomic_load(&race_bad), 0);
    CHECK_EQ(ms.heap_objects, ms.mallocs - ms.frees);
}

int main(void) {
    gm_set_gc_percent(-1); /* collections only where the test asks */
    /* No heap-profile samples: a span holding one has a profile record (a special), and
     * frees from such a span bypass the stacks (malloc.c); a sample landing among the
     * test's objects failed it in 1 of ~20 runs. */
    gm_set_mem_profile_rate(0);
    for (int i = 0; i < N; i++) {
        objs[i] = gm_alloc(SIZE);
        CHECK(objs[i] != NULL);
        gmt_fill(objs[i], SIZE, (uint64_t)i);
    }

    /* 1. objects of an old span (not the cached one): freed onto the stack, then back
     *    first, cleared, each once */
    uint64_t f0 = stat_frees();
    void *freed[K];
    for (int i = 0; i < K; i++) {
        freed[i] = objs[i];
        objs[i] = NULL;
        gm_free(freed[i]);
    }
    CHECK_EQ(stat_frees() - f0, K);
    for (int i = 0; i < K; i++)
        freed_checks(freed[i]);
    CHECK_EQ(stat_frees() - f0, K); /* the rejected second frees count nothing */
    uint8_t *back[K];
    take_back(freed, K, back);
    for (int i = 0; i < K; i++)
        gmt_fill(back[i], SIZE, 1000u + (uint64_t)i);
    CHECK(live_ok());

    /* 2. on the stack across a collection: collected (the stack is not a root), each
     *    free counted once, never handed out twice, the live objects untouched */
    f0 = stat_frees();
    for (int i = 0; i < K; i++) {
        freed[i] = back[i];
        gm_free(back[i]);
    }
    CHECK_EQ(stat_frees() - f0, K);
    for (int c = 0; c < 3; c++)
        gm_collect();
    CHECK_EQ(stat_frees() - f0, K); /* counted by the sweep now, not twice */
    for (int i = 0; i < K; i++)
        freed_checks(freed[i]); /* "not allocated (double free?)" */
    CHECK_EQ(stat_frees() - f0, K);
    for (int i = 0; i < 2 * K; i++) {
        back2[i] = gm_alloc(SIZE);
        CHECK(back2[i] != NULL && gmt_all_zero(back2[i], SIZE));
        for (int j = 0; j < i; j++)
            CHECK(back2[j] != back2[i]);
        gmt_fill(back2[i], SIZE, 2000u + (uint64_t)i);
    }
    CHECK_EQ(stat_frees() - f0, K);
    gm_collect();
    CHECK(live_ok());
    for (int i = 0; i < 2 * K; i++)
        CHECK(gmt_verify(back2[i], SIZE, 2000u + (uint64_t)i) == GMT_OK);

    /* 3. another thread frees and exits: its stack goes back to the spans, and a second
     *    free of one of those objects is still caught */
    void *theirs[K];
    for (int i = 0; i < K; i++) {
        theirs[i] = objs[PER_SPAN + i];
        objs[PER_SPAN + i] = NULL;
    }
    f0 = stat_frees();
    job_t j1 = {theirs, K, NULL, {0}};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, freer, &j1), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(stat_frees() - f0, K);
    for (int i = 0; i < K; i++) {
        CHECK(gm_base(theirs[i]) == NULL);
        gmt_capture_begin();
        gm_free(theirs[i]);
        gmt_capture_end(capbuf, sizeof capbuf);
        CHECK_EQ(gmt_count_lines(capbuf), 1);
        CHECK(gmt_contains_ptr(capbuf, theirs[i]));
    }
    CHECK_EQ(stat_frees() - f0, K);
    gm_collect();
    CHECK(live_ok());

    /* 4. a second free from this thread while the object sits on another thread's
     *    stack is reported, and that thread still gets each object back once (no
     *    collection in between: one would free them, see 2 and idle_thread) */
    void *held[K];
    for (int i = 0; i < K; i++) {
        held[i] = objs[2 * PER_SPAN + i];
        objs[2 * PER_SPAN + i] = NULL;
    }
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    job_t j2 = {held, K, &bar, {0}};
    CHECK_EQ(pthread_create(&th, NULL, freer, &j2), 0);
    pthread_barrier_wait(&bar);
    for (int i = 0; i < K; i++)
        freed_checks(held[i]);
    pthread_barrier_wait(&bar);
    CHECK_EQ(pthread_join(th, NULL), 0);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < K; i++)
        CHECK(gm_base(j2.back[i]) == j2.back[i]);

    /* 5. the heap still works: fresh objects never alias the live ones */
    static uint8_t *more[4096];
    for (int i = 0; i < 4096; i++) {
        more[i] = gm_alloc(SIZE);
        CHECK(gmt_all_zero(more[i], SIZE));
        gmt_fill(more[i], SIZE, 5000u + (uint64_t)i);
    }
    gm_collect();
    CHECK(live_ok());
    for (int i = 0; i < 4096; i++)
        CHECK(gmt_verify(more[i], SIZE, 5000u + (uint64_t)i) == GMT_OK);
    for (int i = 0; i < 2 * K; i++)
        CHECK(gmt_verify(back2[i], SIZE, 2000u + (uint64_t)i) == GMT_OK);

    idle_thread();
    CHECK(live_ok());
    for (int i = 0; i < 4096; i++)
        CHECK(gmt_verify(more[i], SIZE, 5000u + (uint64_t)i) == GMT_OK);

    transfer_lists();
    CHECK(live_ok());

    racing();
    CHECK(live_ok());
    for (int i = 0; i < 4096; i++)
        CHECK(gmt_verify(more[i], SIZE, 5000u + (uint64_t)i) == GMT_OK);
    return check_done();
}
