/* test_signal_masks.c: programs that block every signal, wait for signals with
 * sigwait/sigtimedwait or suspend with everything masked still let the collector stop
 * their threads (libgomem.so filters the stop signal out of those calls' sets).
 *
 * The daemon idiom: main blocks every signal before any gomem call and before creating
 * its threads (which inherit the mask); one thread takes the program's signals with
 * sigwait over a full set, another polls with sigtimedwait, a third waits in
 * sigsuspend with all but SIGUSR1 masked, a fourth blocks everything again after it
 * registered and sleeps. Collections must finish (the collector waited forever for
 * the sigwait thread, which took the stop signal from it, and aborted on the others),
 * no wait may return the stop signal to the program, the program's own signals still
 * arrive where they did, and a checksummed list survives. alarm() turns a hang into a
 * failure. Also: GOMEMSIGNAL=32, a signal glibc keeps for itself, gives one line and
 * the default (it aborted at start-up). Links libgomem.so. */
#include "api/gmtest.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

static int stop_sig; /* gomem's default stop signal (GOMEMSIGNAL is not set here) */
static _Atomic int quit, got_usr2, timed_loops, bad_wakeups, suspended_ok;

static void *sigwait_thread(void *arg) {
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    for (;;) {
        int sig = 0;
        if (sigwait(&all, &sig) != 0) continue;
        if (sig == stop_sig) atomic_fetch_add(&bad_wakeups, 1);
        if (sig == SIGUSR2) atomic_fetch_add(&got_usr2, 1);
        if (sig == SIGTERM) return NULL;
    }
}

static void *timedwait_thread(void *arg) {
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    sigdelset(&all, SIGTERM); /* the sigwait thread's */
    sigdelset(&all, SIGUSR2);
    struct timespec ts = {0, 5 * 1000 * 1000};
    while (!atomic_load(&quit)) {
        int sig = sigtimedwait(&all, NULL, &ts);
        if (sig == stop_sig) atomic_fetch_add(&bad_wakeups, 1);
        atomic_fetch_add(&timed_loops, 1);
    }
    return NULL;
}

static void on_usr1(int sig) {
    (void)sig;
}

static void *suspend_thread(void *arg) {
    (void)arg;
    gm_free(gm_alloc(32)); /* registered */
    sigset_t most;
    sigfillset(&most);
    sigdelset(&most, SIGUSR1);
    sigsuspend(&most); /* returns after SIGUSR1's handler */
    atomic_store(&suspended_ok, 1);
    return NULL;
}

static void *blocker_thread(void *arg) {
    (void)arg;
    gm_free(gm_alloc(32)); /* registered, which unblocks the stop signal */
    sigset_t all, now;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL); /* and blocks everything again */
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    if (sigismember(&now, stop_sig) || !sigismember(&now, SIGUSR1))
        atomic_fetch_add(&bad_wakeups, 1);
    while (!atomic_load(&quit))
        usleep(1000);
    return NULL;
}

typedef struct cell {
    struct cell *next;
    uint64_t v, check;
} cell_t;

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        void *p = gm_alloc(100);
        gm_collect();
        printf("child ok %d\n", p != NULL);
        return 0;
    }
    /* a stop signal the C library keeps (glibc: 32, 33): one line, then the default */
    static char buf[4096];
    int st = gmt_run_self("child", "GOMEMSIGNAL=32", buf, sizeof buf, 1, 60);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strstr(buf, "GOMEMSIGNAL=32 cannot be used") != NULL);
    CHECK(strstr(buf, "child ok 1") != NULL);

    alarm(120);
    stop_sig = SIGRTMIN + 6;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* before any gomem call */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    gm_init();
    pthread_t w, tw, su, bl;
    CHECK(pthread_create(&w, NULL, sigwait_thread, NULL) == 0);
    CHECK(pthread_create(&tw, NULL, timedwait_thread, NULL) == 0);
    CHECK(pthread_create(&su, NULL, suspend_thread, NULL) == 0);
    CHECK(pthread_create(&bl, NULL, blocker_thread, NULL) == 0);
    usleep(50000);

    cell_t *head = NULL;
    uint64_t want = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 500; i++) {
            cell_t *c = gm_alloc(sizeof *c);
            c->v = (uint64_t)round * 1000 + (uint64_t)i;
            c->check = ~c->v;
            c->next = head;
            head = c;
            want += c->v;
        }
        gm_collect();
        if (round == 10) pthread_kill(w, SIGUSR2); /* the program's signal still arrives */
    }
    pthread_kill(su, SIGUSR1);
    pthread_join(su, NULL);
    CHECK(atomic_load(&suspended_ok));
    atomic_store(&quit, 1);
    pthread_join(tw, NULL);
    pthread_join(bl, NULL);
    pthread_kill(w, SIGTERM);
    pthread_join(w, NULL);

    uint64_t sum = 0, bad = 0, n = 0;
    for (cell_t *c = head; c != NULL && n <= 40 * 500; c = c->next, n++) {
        bad += c->check != ~c->v;
        sum += c->v;
    }
    CHECK_EQ(n, 40 * 500);
    CHECK_EQ(bad, 0);
    CHECK_EQ(sum, want);
    CHECK_EQ(atomic_load(&bad_wakeups), 0);
    CHECK_EQ(atomic_load(&got_usr2), 1);
    CHECK(atomic_load(&timed_loops) > 0);
    /* the program's own mask is what it asked for, but for the stop signal */
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    CHECK(sigismember(&now, SIGUSR2) && sigismember(&now, SIGTERM));
    CHECK(!sigismember(&now, stop_sig));
    return check_done();
}
