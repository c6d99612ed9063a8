/* test_cancel.c: pthread_cancel of threads inside gomem. A thread cancelled (deferred)
 * at a cancellation point inside a collection (gctrace's write, a mark worker's
 * condition wait, with the world stopped) unwound with gomem's locks held, and the
 * next collection, join or thread exit hung for ever. gomem's blocking paths run with
 * cancellation disabled (none of its calls is a cancellation point): the threads below
 * are cancelled where the program tests for it, and the program must go on collecting
 * with its data intact. */
#include "api/gmtest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

static _Atomic long loops;

static void *victim(void *arg) {
    (void)arg;
    for (;;) {
        char *p = gm_alloc(100);
        p[0] = 1;
        long n = atomic_fetch_add(&loops, 1);
        if ((n & 3) == 0) gm_collect();
        if ((n & 15) == 0) pthread_testcancel(); /* gomem's calls are not cancellation points */
    }
    return NULL;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_cancel: hung after pthread_cancel\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

int main(void) {
    /* gctrace lines and two mark workers: both put cancellation points in a cycle */
    setenv("GODEBUG", "gctrace=1", 1);
    setenv("GOMEMMARKWORKERS", "2", 1);
    gm_init();
    signal(SIGALRM, on_alarm);
    alarm(120);
    unsigned char *keep = gm_alloc(100000);
    gmt_fill(keep, 100000, 42);
    for (int round = 0; round < 40; round++) {
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            CHECK_EQ(pthread_create(&t[i], NULL, victim, NULL), 0);
        usleep(2000 + (useconds_t)(round % 7) * 1000);
        for (int i = 0; i < 2; i++) {
            CHECK_EQ(pthread_cancel(t[i]), 0);
            void *res = NULL;
            CHECK_EQ(pthread_join(t[i], &res), 0);
            CHECK(res == PTHREAD_CANCELED);
        }
        gm_collect();
    }
    CHECK_EQ(gmt_verify(keep, 100000, 42), (size_t)-1);
    CHECK(atomic_load(&loops) > 0);
    return check_done();
}
