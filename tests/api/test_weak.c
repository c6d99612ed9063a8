/* test_weak.c: a weak handle returns its object while the object is reachable, the
 * same handle for the same object, and NULL for ever once a collection found the
 * object dead, before any finalizer of the object runs; concurrent gm_weak_get never
 * returns a collected object; an object reached only from a finalizable one keeps
 * its handle through that finalizer. */
#include "api/gmtest.h"

#include <pthread.h>
#include <stdatomic.h>

static void *volatile g_keep;
static gm_weak_t *g_h;
static uintptr_t g_hidden;

static GMT_NOINLINE void make(void) {
    char *p = gm_alloc(200);
    memset(p, 0x5a, 200);
    g_keep = p;
    g_hidden = gmt_hide(p);
    g_h = gm_weak_make(p + 17);    /* interior pointer: the handle of the object */
    CHECK(g_h == gm_weak_make(p)); /* same object, same handle */
    gm_weak_release(g_h);
}

static int fin_saw_null = -1;
static void fin(void *obj, void *arg) {
    (void)obj;
    fin_saw_null = gm_weak_get((gm_weak_t *)arg) == NULL;
}

static GMT_NOINLINE void make_fin(void) {
    void *p = gm_alloc(64);
    gm_weak_t *h = gm_weak_make(p);
    gm_set_finalizer(p, fin, h);
    g_h = h;
}

/* An object reachable only from an object with a finalizer lives on through that
 * finalizer, and so does its weak handle (it was cleared before the finalizable
 * object's contents were marked, and a new gm_weak_make gave another handle). */
typedef struct holder {
    void *w;
} holder_t;
static holder_t *volatile resurrected;
static void fin_resurrect(void *obj, void *arg) {
    (void)arg;
    resurrected = obj;
}

static gm_weak_t *g_wh;
static GMT_NOINLINE void make_holder(void) {
    holder_t *a = gm_alloc(sizeof *a);
    char *w = gm_alloc(96);
    memset(w, 0x77, 96);
    a->w = w;
    g_wh = gm_weak_make(w);
    gm_set_finalizer(a, fin_resurrect, NULL);
}

static void test_reached_from_finalizable(void) {
    gm_set_finalizer_thread(0);
    make_holder();
    gmt_collect_clean();
    size_t ran = gm_run_finalizers();
    if (ran == 0 && GMT_ASAN) return; /* a stale word in an instrumented frame kept it */
    CHECK(ran >= 1);
    CHECK(resurrected != NULL);
    if (resurrected == NULL) return;
    char *w = resurrected->w;
    CHECK(gm_weak_get(g_wh) == w); /* W lived on: its handle too */
    CHECK(gm_weak_make(w) == g_wh);
    gm_weak_release(g_wh);
    CHECK(w[0] == 0x77 && w[95] == 0x77);
    resurrected = NULL;
    gm_set_finalizer_thread(1);
}

/* Many threads read handles while objects die. */
#define NOBJ 2000
static gm_weak_t *handles[NOBJ];
static uint64_t *volatile *live_set;
static volatile int stop_readers;
static _Atomic long bad_reads, good_reads;

static void *reader(void *arg) {
    (void)arg;
    while (!stop_readers) {
        for (int i = 0; i < NOBJ; i++) {
            uint64_t *p = gm_weak_get(handles[i]);
            if (p == NULL) continue;
            if (p[0] != (uint64_t)i + 1000 || !gmt_is_live(p))
                atomic_fetch_add(&bad_reads, 1);
            else
                atomic_fetch_add(&good_reads, 1);
        }
    }
    return NULL;
}

static GMT_NOINLINE void make_set(void) {
    live_set = gm_alloc(NOBJ * sizeof(void *));
    for (int i = 0; i < NOBJ; i++) {
        uint64_t *p = gm_alloc(48);
        p[0] = (uint64_t)i + 1000;
        live_set[i] = p;
        handles[i] = gm_weak_make(p);
    }
}

static GMT_NOINLINE void drop_half(void) {
    for (int i = 0; i < NOBJ; i += 2)
        live_set[i] = NULL;
}

int main(void) {
    gm_init();
    test_reached_from_finalizable();
    make();
    gmt_collect_clean();
    CHECK(gm_weak_get(g_h) == gmt_unhide(g_hidden));
    gmt_collect_clean();
    CHECK(gm_weak_get(g_h) == gmt_unhide(g_hidden));
    g_keep = NULL;
    gmt_collect_clean();
    /* Under ASan a stale copy in an instrumented frame may keep the object (GMT_ASAN):
     * the handle then stays set, which is correct for a conservative collector. */
    if (!GMT_ASAN) {
        CHECK(gm_weak_get(g_h) == NULL);
        CHECK(!gmt_is_live(gmt_unhide(g_hidden)));
        for (int i = 0; i < 50; i++)
            gm_keep_alive(gm_alloc(200)); /* reuse the slot: still NULL */
        CHECK(gm_weak_get(g_h) == NULL);
    }
    gm_weak_release(g_h);
    CHECK(gm_weak_make(&g_hidden) == NULL); /* not a heap object */

    /* cleared before the finalizer runs (Go's order) */
    gm_set_finalizer_thread(0);
    make_fin();
    gmt_collect_clean();
    CHECK_EQ(gm_run_finalizers(), 1u);
    CHECK_EQ(fin_saw_null, 1);

    make_set();
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, NULL);
    usleep(20000);
    drop_half();
    for (int k = 0; k < 5; k++)
        gmt_collect_clean();
    for (int k = 0; k < 200; k++)
        gm_keep_alive(gm_alloc(48));
    usleep(20000);
    stop_readers = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(atomic_load(&bad_reads), 0);
    CHECK(atomic_load(&good_reads) > 0);
    int cleared = 0, kept = 0;
    for (int i = 0; i < NOBJ; i++) {
        void *p = gm_weak_get(handles[i]);
        if (i % 2 == 0)
            cleared += p == NULL;
        else
            kept += p == live_set[i];
    }
    CHECK_EQ(kept, NOBJ / 2);
    CHECK_GE(cleared, NOBJ / 2 - 8); /* a few may be pinned by stale words */
    return check_done();
}
