/* test_pool.c: pooled objects are reused, survive one collection (victim) and are
 * dropped by the second; the counters follow; threads share the pool. */
#include "api/gmtest.h"

#include <pthread.h>
#include <stdatomic.h>

static int created;
static void *new_obj(void *arg) {
    (void)arg;
    created++;
    return gm_alloc(256);
}

static gm_pool_t *pool;
static gm_weak_t *wh[64];

static GMT_NOINLINE void fill(int n) {
    for (int i = 0; i < n; i++) {
        void *p = gm_alloc(256);
        wh[i] = gm_weak_make(p);
        gm_pool_put(pool, p);
    }
}

static GMT_NOINLINE int count_alive(int n) {
    int k = 0;
    for (int i = 0; i < n; i++)
        k += gm_weak_get(wh[i]) != NULL;
    return k;
}

static GMT_NOINLINE int drain_all(int n) {
    int from_pool = 0;
    for (int i = 0; i < n; i++) {
        int before = created;
        void *p = gm_pool_get(pool);
        CHECK(p != NULL);
        if (created == before) from_pool++;
    }
    return from_pool;
}

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 100000; i++) {
        char *p = gm_pool_get(pool);
        p[0] = 1;
        gm_pool_put(pool, p);
        if (i % 1000 == 0) {
            void *q = gm_pool_get(pool);
            gm_pool_put(pool, gm_alloc(256));
            gm_pool_put(pool, q);
        }
    }
    return NULL;
}

/* Poison mode: gm_pool_stats against collections. It sized the pooled objects with
 * gm_usable_size under the pool registry lock, which in poison mode takes the
 * quarantine lock, taken before the registry lock by a collection: a deadlock within
 * a second. Two threads get, put and read stats while the main thread collects. */
static _Atomic int stats_stop;
static void *stats_worker(void *arg) {
    gm_pool_t *pl = arg;
    gm_pool_stats_t st;
    while (!atomic_load(&stats_stop)) {
        void *o = gm_pool_get(pl);
        gm_pool_put(pl, o);
        gm_pool_stats(pl, &st);
    }
    return NULL;
}
static int child_poison_stats(void) {
    alarm(60);
    gm_pool_t *pl = gm_pool_new(new_obj, NULL);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, stats_worker, pl);
    double end = gmt_now() + 1.5;
    while (gmt_now() < end)
        gm_collect();
    atomic_store(&stats_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("poison-stats ok\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "poison-stats") == 0) return child_poison_stats();
    {
        static char buf[4096];
        int st = gmt_run_self("poison-stats", "GOMEMDEBUG=poison=1", buf, sizeof buf, 1, 90);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "poison-stats ok") != NULL);
    }
    gm_init();
    pool = gm_pool_new(new_obj, NULL);
    CHECK(pool != NULL);
    gm_pool_stats_t st;

    /* survive one collection */
    fill(40);
    gm_pool_stats(pool, &st);
    CHECK_EQ(st.objects, 40u);
    CHECK_EQ(st.bytes, 40u * 256);
    gmt_collect_clean();
    CHECK_EQ(count_alive(40), 40);
    gm_pool_stats(pool, &st);
    CHECK_EQ(st.gc_objects, 40u);
    CHECK_EQ(drain_all(40), 40);
    CHECK_EQ(created, 0);

    /* gone after two */
    fill(40);
    gmt_collect_clean();
    gmt_collect_clean();
    gm_pool_stats(pool, &st);
    CHECK_EQ(st.objects, 0u);
    CHECK_EQ(st.gc_objects, 0u);
    CHECK_LE(count_alive(40), 2); /* conservative stragglers at most */
    CHECK_EQ(drain_all(10), 0);
    CHECK_EQ(created, 10);

    /* threads */
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int k = 0; k < 5; k++) {
        usleep(5000);
        gm_collect();
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    gm_pool_put(pool, gm_alloc(256));
    gm_pool_stats(pool, &st);
    CHECK(st.objects > 0);
    gmt_collect_clean();
    gmt_collect_clean();
    gm_pool_stats(pool, &st);
    CHECK_EQ(st.objects, 0u);
    return check_done();
}
