/* test_faults.c: GOMEMDEBUG=failmmap=N and failmadvise=N. For each N, a child makes
 * the Nth OS reservation (or page release) fail while its main thread and two others
 * allocate a mix of sizes: every allocation returns usable zeroed memory or NULL with
 * errno ENOMEM, every object still referenced keeps its contents (no root or mark work
 * is lost to a failure), the heap verifies at every collection (verify=1), and the
 * process ends normally. N runs past the last reservation (madvise call) the child makes. One N
 * (5 today: it moves as initialization changes) is the chunk that holds the first
 * thread struct: the main thread's first allocation gets NULL and one line says why;
 * its next one registers it. */
#include "api/gmtest.h"

#include <pthread.h>

static char out[16384];

/* side: a second and third thread allocating and freeing (cross-thread frees too). */
static void *keep_shared[64];
static void *side(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < 3000; i++) {
        size_t n = 1 + check_rand(&rng) % (i % 100 == 0 ? 200000u : 2000u);
        errno = 0;
        void *p = gm_alloc(n);
        if (p == NULL) {
            if (errno != ENOMEM) return (void *)1;
            continue;
        }
        if (!gmt_all_zero(p, n < 2048 ? n : 2048)) return (void *)2;
        memset(p, 0x3c, n < 2048 ? n : 2048);
        void *old = __atomic_exchange_n(&keep_shared[check_rand(&rng) % 64], p, __ATOMIC_ACQ_REL);
        if (old != NULL && *(unsigned char *)old != 0x3c) return (void *)3; /* lost */
        if (old != NULL && i % 2 == 0) gm_free(old);
    }
    return NULL;
}

static int child(void) {
    void *keep[256] = {0};
    size_t keep_n[256] = {0};
    uint64_t rng = 9;
    long nulls = 0;
    pthread_t th[2];
    int started[2] = {0, 0};
    for (int i = 0; i < 20000; i++) {
        if (i == 10) /* after the main thread's first allocations (see above) */
            for (int k = 0; k < 2; k++)
                started[k] = pthread_create(&th[k], NULL, side, (void *)(uintptr_t)(k + 100)) == 0;
        size_t n = 1 + check_rand(&rng) % (i % 50 == 0 ? 3u << 20 : 4000);
        errno = 0;
        void *p = (i & 1) ? gm_alloc(n) : gm_alloc_noscan(n);
        if (p == NULL) {
            if (errno != ENOMEM) return 3;
            nulls++;
            continue;
        }
        if (!gmt_all_zero(p, n < 4096 ? n : 4096)) return 4;
        gmt_fill(p, n < 4096 ? n : 4096, (uint64_t)(uintptr_t)p);
        size_t k = check_rand(&rng) % 256;
        /* a kept object must keep its contents: a lost root would let it be reused */
        if (keep[k] && gmt_verify(keep[k], keep_n[k], (uint64_t)(uintptr_t)keep[k]) != GMT_OK)
            return 6;
        if (keep[k] && (i % 3 == 0)) gm_free(keep[k]);
        keep[k] = p;
        keep_n[k] = n < 4096 ? n : 4096;
        if (i % 2000 == 0) {
            gm_collect();
        }
    }
    for (int k = 0; k < 2; k++) {
        void *r = NULL;
        if (started[k]) pthread_join(th[k], &r);
        if (r != NULL) return 5;
    }
    gm_collect();
    for (int k = 0; k < 256; k++)
        if (keep[k] && gmt_verify(keep[k], keep_n[k], (uint64_t)(uintptr_t)keep[k]) != GMT_OK)
            return 7;
    printf("nulls %ld\n", nulls);
    return 0;
}

static void run(const char *env, const char *expect) {
    int st = gmt_run_self("child", env, out, sizeof out, 1, 120);
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(out, "fatal") == NULL &&
             (expect == NULL || strstr(out, expect) != NULL);
    CHECK(ok);
    if (!ok) fprintf(stderr, "%s: status 0x%x output: %s\n", env, st, out);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "child")) return child();
    char env[96];
    int struct_failed = 0; /* runs whose failure hit the chunk of the first thread struct */
    for (int n = 1; n <= 32; n++) {
        snprintf(env, sizeof env, "GOMEMDEBUG=failmmap=%d,verify=1", n);
        run(env, NULL);
        struct_failed += strstr(out, "out of memory for the thread struct") != NULL;
    }
    CHECK(struct_failed >= 1);
    for (int n = 1; n <= 40; n++) {
        snprintf(env, sizeof env, "GOMEMDEBUG=failmadvise=%d,verify=1", n);
        run(env, NULL);
    }
    return check_done();
}
