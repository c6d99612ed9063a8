/* test_threads_misc.c: static TLS ranges of the main and a second thread, a program with its
 * own SIGUSR1/SIGUSR2 handlers, unsolicited stop signals, and fork from a non-main
 * thread of a 4-thread program (the child registers threads and stops the world).
 * Links libgomem.a and drives threads.c's internals directly. */
#include "internal.h"
#include "check.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static __thread void *tls_var;
static __thread char tls_big[5000];
static _Atomic int usr1, usr2, quit;
static void on_usr1(int s) {
    (void)s;
    usr1++;
}
static void on_usr2(int s, siginfo_t *si, void *uc) {
    (void)s;
    (void)si;
    (void)uc;
    usr2++;
}

static int in_range(gmi_thread_t *t, void *p) {
    return (uintptr_t)p >= t->tls_lo && (uintptr_t)p + 8 <= t->tls_hi;
}

static void stop_cycle(void) {
    gmi_lock_all();
    gmi_world_stop();
    gmi_world_start();
    gmi_unlock_all();
}

static void *tls_thread(void *p) {
    (void)p;
    gm_thread_register();
    gmi_thread_t *t = gmi_tls_thread;
    CHECK(t != NULL && !t->is_main);
    CHECK(in_range(t, &tls_var));
    CHECK(in_range(t, &tls_big[0]) && in_range(t, &tls_big[4991]));
    int local;
    CHECK((uintptr_t)&local < t->stack_hi && (uintptr_t)&local >= t->stack_lo);
    return NULL;
}

static void *usr_thread(void *p) {
    (void)p;
    gm_thread_register();
    while (!quit) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static _Atomic int fork_status = -1;
static void *worker(void *p) {
    (void)p;
    gm_thread_register();
    while (!quit)
        usleep(1000);
    return NULL;
}
static void *child_thread(void *p) {
    (void)p;
    gm_thread_register();
    usleep(5000);
    return NULL;
}
static void *forker(void *p) {
    (void)p;
    gm_thread_register();
    pid_t pid = fork();
    if (pid == 0) {
        /* child: only me registered; can register new threads and stop them */
        int ok = gmi_threads_count() == 1 && gmi_tls_thread && gmi_tls_thread->tid == gettid();
#if !defined(__SANITIZE_THREAD__) /* TSan refuses threads after a threaded fork */
        pthread_t a, b;
        pthread_create(&a, NULL, child_thread, NULL);
        pthread_create(&b, NULL, child_thread, NULL);
        usleep(1000);
#endif
        for (int i = 0; i < 50; i++)
            stop_cycle();
#if !defined(__SANITIZE_THREAD__)
        pthread_join(a, NULL);
        pthread_join(b, NULL);
#endif
        ok = ok && gmi_threads_count() == 1;
        _exit(ok ? 0 : 3);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    fork_status = WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
    return NULL;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_sigaction = on_usr2;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    gm_init();
    gm_thread_register();
    gmi_thread_t *me = gmi_tls_thread;
    CHECK(in_range(me, &tls_var));
    CHECK(in_range(me, &tls_big[0]) && in_range(me, &tls_big[4991]));
    pthread_t t;
    pthread_create(&t, NULL, tls_thread, NULL);
    pthread_join(t, NULL);

    /* programs using SIGUSR1/2 themselves */
    pthread_t u[2];
    pthread_create(&u[0], NULL, usr_thread, NULL);
    pthread_create(&u[1], NULL, usr_thread, NULL);
    usleep(2000);
    int lost = 0;
    for (int i = 0; i < 100; i++) {
        int before = usr1 + usr2;
        pthread_kill(u[i & 1], (i & 2) ? SIGUSR1 : SIGUSR2);
        stop_cycle();
        /* a second SIGUSR1 sent before the first is delivered would merge with it */
        int waited = 0;
        while (usr1 + usr2 == before && waited++ < 1000)
            usleep(1000);
        if (usr1 + usr2 != before + 1) lost++;
    }
    CHECK_EQ(lost, 0);
    CHECK(usr1 > 0 && usr2 > 0);
    CHECK_EQ(usr1 + usr2, 100);
    /* unsolicited stop signals are ignored */
    for (int i = 0; i < 20; i++) {
        pthread_kill(u[0], SIGRTMIN + 6);
        kill(getpid(), SIGRTMIN + 6);
    }
    usleep(5000);
    stop_cycle();
    quit = 1;
    pthread_join(u[0], NULL);
    pthread_join(u[1], NULL);
    quit = 0;

    /* fork from a non-main thread in a 4-thread program */
    pthread_t w[2], f;
    pthread_create(&w[0], NULL, worker, NULL);
    pthread_create(&w[1], NULL, worker, NULL);
    pthread_create(&f, NULL, forker, NULL);
    pthread_join(f, NULL);
    CHECK_EQ(fork_status, 0);
    quit = 1;
    pthread_join(w[0], NULL);
    pthread_join(w[1], NULL);
    stop_cycle();
    CHECK_EQ(gmi_threads_count(), 1);
    return check_done();
}
