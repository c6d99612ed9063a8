/* vg_test.c: run under memcheck by tests/valgrind/run.sh, against a gomem built with
 * -DGM_TRACK_VALGRIND=ON. Without arguments it allocates, frees explicitly (local,
 * remote from a second thread, large), drops objects for the collector and collects,
 * while a third thread computes on objects only its stack holds (so every collection
 * stops a running thread with the signal and scans its stack): memcheck must report
 * nothing and those objects must be intact. With "uaf" it also reads and writes an
 * object after gm_free: memcheck must report an invalid read/write. */
#include <gomem.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define N 2000

static void *volatile keep[N];
static void *volatile handoff[N];

static void *remote_free(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i += 2)
        gm_free(handoff[i]), handoff[i] = NULL;
    return NULL;
}

/* spinner holds objects only in its own frame and computes without calling gomem while
 * the main thread collects: each collection stops it with the signal mid-loop, scans
 * its stack and must leave its objects intact (the slots freed meanwhile are reused). */
static _Atomic int spin_ready, spin_stop;

static void *spinner(void *arg) {
    (void)arg;
    unsigned char *mine[16];
    for (int i = 0; i < 16; i++) {
        size_t n = 64 + (size_t)i * 100;
        mine[i] = (i & 1) ? gm_alloc(n) : gm_alloc_noscan(n);
        memset(mine[i], 0x40 + i, n);
    }
    atomic_store(&spin_ready, 1);
    uintptr_t bad = 0;
    for (size_t round = 0; !atomic_load_explicit(&spin_stop, memory_order_relaxed); round++)
        for (int i = 0; i < 16; i++)
            bad += mine[i][round % (64 + (size_t)i * 100)] != (unsigned char)(0x40 + i);
    for (int i = 0; i < 16; i++)
        gm_free(mine[i]);
    return (void *)bad;
}

static unsigned sum(const unsigned char *p, size_t n) {
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

int main(int argc, char **argv) {
    int uaf = argc > 1 && strcmp(argv[1], "uaf") == 0;
    gm_init();
    unsigned bad = 0;
    pthread_t spin;
    pthread_create(&spin, NULL, spinner, NULL);
    while (!atomic_load(&spin_ready))
        sched_yield();
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            size_t n = 8 + (size_t)(i * 37 % 500);
            unsigned char *p = (i & 1) ? gm_alloc_noscan(n) : gm_alloc(n);
            bad += sum(p, n) != 0; /* memory is returned zeroed and defined */
            memset(p, i & 0xff, n);
            keep[i] = p;
        }
        /* local frees */
        for (int i = 0; i < N; i += 3)
            gm_free(keep[i]), keep[i] = NULL;
        /* dropped: the collector frees them */
        for (int i = 1; i < N; i += 3)
            keep[i] = NULL;
        /* remote frees from another thread */
        for (int i = 0; i < N; i++)
            handoff[i] = gm_alloc(48);
        pthread_t th;
        pthread_create(&th, NULL, remote_free, NULL);
        pthread_join(th, NULL);
        for (int i = 1; i < N; i += 2)
            gm_free(handoff[i]), handoff[i] = NULL;
        /* large objects: freed and dropped */
        char *big = gm_alloc(100000);
        bad += sum((unsigned char *)big, 100000) != 0;
        memset(big, 1, 100000);
        gm_free(big);
        big = gm_alloc_noscan(200000);
        big[199999] = 2;
        big = NULL;
        gm_collect();
        /* survivors intact */
        for (int i = 2; i < N; i += 3) {
            const unsigned char *p = keep[i];
            if (p[0] != (unsigned char)(i & 0xff)) bad++;
        }
        /* realloc keeps the data */
        char *r = gm_alloc(10);
        strcpy(r, "gomem");
        r = gm_realloc(r, 5000);
        bad += strcmp(r, "gomem") != 0;
        gm_free(r);
        for (int i = 0; i < N; i++)
            keep[i] = NULL;
        gm_collect();
    }
    atomic_store(&spin_stop, 1);
    void *spin_bad = NULL;
    pthread_join(spin, &spin_bad);
    bad += (unsigned)(uintptr_t)spin_bad;
    if (uaf) {
        char *p = gm_alloc(64);
        memset(p, 7, 64);
        gm_free(p);
        volatile char c = p[10]; /* use after free: memcheck reports an invalid read */
        (void)c;
        p[20] = 1; /* and an invalid write */
    }
    printf("vg_test: %s, %u bad\n", uaf ? "uaf" : "clean", bad);
    return bad != 0;
}
