/* test_threads_stop.c: stop and start the world 1000 times with 8 threads spinning, blocked in
 * read(), nanosleep and a condition variable, and starting and exiting concurrently;
 * checks that stopped threads do not run, that gomem's internal threads do, and that
 * every pushed range is readable.
 * Links libgomem.a and drives threads.c's internals directly. */
#include "internal.h"
#include "check.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>

static _Atomic int quit, nstarted;
static _Atomic uint64_t spin_count[3];
static _Atomic uint64_t internal_count;
static int pipefd[2];
static _Atomic int read_eintr, sleep_eintr, read_done;
static _Atomic uint64_t churn_created;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static __thread void *tls_var;

static void *spinner(void *p) {
    gm_thread_register();
    nstarted++;
    int i = (int)(intptr_t)p;
    while (!quit) {
        spin_count[i]++;
#if defined(__SANITIZE_THREAD__)
        sched_yield(); /* TSan delivers signals only inside intercepted calls */
#endif
    }
    return NULL;
}
static void *reader(void *p) {
    (void)p;
    gm_thread_register();
    nstarted++;
    char c;
    for (;;) {
        ssize_t n = read(pipefd[0], &c, 1);
        if (n < 0 && errno == EINTR) {
            read_eintr++;
            continue;
        }
        if (n == 1) break;
    }
    read_done++;
    return NULL;
}
static void *sleeper(void *p) {
    (void)p;
    gm_thread_register();
    nstarted++;
    while (!quit) {
        struct timespec ts = {0, 2000000}, rem;
        while (nanosleep(&ts, &rem) != 0 && errno == EINTR) {
            sleep_eintr++;
            ts = rem;
        }
    }
    return NULL;
}
static void *condwaiter(void *p) {
    (void)p;
    gm_thread_register();
    nstarted++;
    pthread_mutex_lock(&mu);
    while (!quit)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL;
}
static void *shortlived(void *p) {
    (void)p;
    gm_thread_register();
    tls_var = &tls_var;
    return NULL; /* unregistered by the key destructor */
}
static void *churner(void *p) {
    (void)p;
    gm_thread_register();
    nstarted++;
    while (!quit) {
        pthread_t th[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&th[i], NULL, shortlived, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        churn_created += 4;
        /* also: register/unregister explicitly */
        gm_thread_unregister();
        gm_thread_register();
    }
    return NULL;
}
static void *internal_worker(void *p) {
    (void)p;
    while (!quit)
        internal_count++;
    return NULL;
}

typedef struct {
    int n;
    uint64_t bytes;
    int bad;
} push_acc_t;
GMI_NO_ASAN static void push_cb(uintptr_t lo, uintptr_t hi, void *arg) {
    push_acc_t *a = arg;
    a->n++;
    if (lo >= hi || (lo & 7) || (hi & 7)) a->bad++;
    a->bytes += hi - lo;
    /* touch the range: must be readable */
    volatile uintptr_t s = 0;
    for (uintptr_t q = lo; q < hi; q += 4096)
        s += *(volatile uintptr_t *)q;
    s += *(volatile uintptr_t *)(hi - 8);
}
static gmi_thread_t *me;
static int nstopped, nbadsp;
static push_acc_t acc;
static void each_cb(gmi_thread_t *t, void *arg) {
    (void)arg;
    if (t == me || t->internal) {
        gmi_thread_scan_ranges(t, push_cb, &acc);
        return;
    }
    int st = atomic_load(&t->stop_state);
    if (st == 2) {
        nstopped++;
        uintptr_t sp = t->stop_sp;
        if (!(sp < t->stack_hi && sp >= t->stack_lo)) nbadsp++;
    }
    gmi_thread_scan_ranges(t, push_cb, &acc);
}

int main(void) {
    gm_init();
    gm_thread_register();
    me = gmi_tls_thread;
    CHECK(me != NULL && me->is_main);
    CHECK((uintptr_t)&tls_var >= me->tls_lo && (uintptr_t)&tls_var < me->tls_hi);
    int local;
    CHECK((uintptr_t)&local < me->stack_hi);
    CHECK(pipe(pipefd) == 0);
    pthread_t th[9];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, spinner, (void *)(intptr_t)i);
    pthread_create(&th[3], NULL, reader, NULL);
    pthread_create(&th[4], NULL, reader, NULL);
    pthread_create(&th[5], NULL, sleeper, NULL);
    pthread_create(&th[6], NULL, condwaiter, NULL);
    pthread_create(&th[7], NULL, churner, NULL);
    pthread_t iw;
    CHECK(gmi_thread_spawn_internal(&iw, internal_worker, NULL) == 0);
    while (nstarted < 8)
        usleep(1000); /* all registered */
    int frozen_fail = 0, internal_ran = 0, min_stopped = 1000;
    uint64_t t0 = gmi_os_nanotime(), maxstop = 0;
    for (int it = 0; it < 1000; it++) {
        gmi_lock_all();
        uint64_t s0 = gmi_os_nanotime();
        gmi_world_stop();
        uint64_t s1 = gmi_os_nanotime();
        if (s1 - s0 > maxstop) maxstop = s1 - s0;
        uint64_t c0 = spin_count[0] + spin_count[1] + spin_count[2], i0 = internal_count;
        nstopped = nbadsp = 0;
        memset(&acc, 0, sizeof acc);
        gmi_threads_each(each_cb, NULL);
        if (nstopped < min_stopped) min_stopped = nstopped;
        if (it % 100 == 0) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        uint64_t c1 = spin_count[0] + spin_count[1] + spin_count[2];
        if (c1 != c0) frozen_fail++;
        if (internal_count != i0) internal_ran++;
        CHECK_EQ(nbadsp, 0);
        if (acc.bad) CHECK_EQ(acc.bad, 0);
        gmi_world_start();
        gmi_unlock_all();
        if (it == 500) {
            char c = 'x';
            CHECK(write(pipefd[1], &c, 1) == 1);
        }
    }
    uint64_t t1 = gmi_os_nanotime();
    CHECK_EQ(frozen_fail, 0);
    CHECK(internal_ran > 0);
    CHECK_GE(min_stopped, 6);
    quit = 1;
    pthread_mutex_lock(&mu);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    char c = 'y';
    CHECK(write(pipefd[1], &c, 1) == 1);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    pthread_join(iw, NULL);
    CHECK_EQ(read_done, 2);
    CHECK_EQ(read_eintr, 0);
    fprintf(stderr,
            "1000 stops in %.1f ms, max stop %.1f us, churned %llu threads, nanosleep EINTR %d, "
            "min stopped %d, registered now %d\n",
            (t1 - t0) / 1e6, maxstop / 1e3, (unsigned long long)churn_created, (int)sleep_eintr,
            min_stopped, gmi_threads_count());
    CHECK_EQ(gmi_threads_count(), 1);
    return check_done();
}
