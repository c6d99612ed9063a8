/* test_last_thread: a program whose main thread ends with pthread_exit ends when its
 * last thread does (POSIX: as if exit(0) were called then), even though gomem's own
 * threads (mark workers, sweeper, scavenger, finalizer thread) run for ever. Before,
 * such a process never exited, and with every signal blocked in gomem's threads only
 * SIGKILL ended it. The finalizer thread counts as gomem's from the moment
 * gm_add_cleanup has started it (it used to mark itself once running: main could end
 * first, and under load the process hung). Each scenario runs in a child with a
 * deadline; the child's atexit handler must run (exit(0), not a kill), and a program
 * thread still working must finish before the process ends, its other key destructors
 * included. The end is seen by a watcher thread in /proc/self/task, so a last thread
 * that unregistered itself, or 64 finishing at once, end the process too. */
#include "api/gmtest.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>

static void at_exit(void) {
    printf("atexit ran\n");
    fflush(stdout);
}

static void churn(int n) {
    for (int i = 0; i < n; i++)
        gm_keep_alive(gm_alloc(64 + (size_t)(i % 512)));
}

static void *worker(void *arg) {
    int ms = (int)(intptr_t)arg;
    churn(200000); /* past the first cycle: the workers are running */
    usleep((useconds_t)ms * 1000);
    churn(1000);
    printf("worker done\n");
    fflush(stdout);
    return NULL;
}

static pthread_barrier_t bar;
static void *twin(void *arg) {
    (void)arg;
    churn(50000);
    pthread_barrier_wait(&bar); /* both finish at the same moment */
    return NULL;
}

/* slow_dtor: another library's key destructor, which runs after gomem's and takes a
 * while: the thread is not finished until it has. */
static pthread_key_t slow_key;
static void slow_dtor(void *p) {
    (void)p;
    usleep(400 * 1000);
    printf("slow destructor finished\n");
    fflush(stdout);
}

static void *slow_exiter(void *arg) {
    (void)arg;
    churn(200000);
    pthread_setspecific(slow_key, (void *)1);
    return NULL;
}

static void *unregistering(void *arg) {
    (void)arg;
    churn(200000);
    usleep(100 * 1000);
    gm_thread_unregister(); /* then returns: no key destructor of gomem's runs */
    return NULL;
}

static void *quick(void *arg) {
    (void)arg;
    churn(2000);
    pthread_barrier_wait(&bar);
    return NULL;
}

/* exit_allocator: an exit handler that builds a list held only by a local and
 * collects: it runs on the thread that calls exit, which must be scanned (the watcher
 * was an internal, unscanned thread, and the list was freed under the handler). */
typedef struct lnode {
    struct lnode *next;
    long v;
} lnode_t;

static void exit_allocator(void) {
    lnode_t *volatile head = NULL;
    for (long i = 0; i < 2000; i++) {
        lnode_t *n = gm_alloc(sizeof *n);
        n->next = head;
        n->v = i;
        head = n;
    }
    for (int r = 0; r < 3; r++) {
        churn(20000);
        gm_collect();
    }
    long i = 1999, bad = 0;
    for (lnode_t *n = head; n != NULL; n = n->next, i--)
        bad += n->v != i;
    printf("exit handler: %s\n", bad == 0 && i == -1 ? "list intact" : "LIST BROKEN");
    fflush(stdout);
}

static void cleanup(void *arg) {
    (void)arg;
}

static int child(const char *what) {
    atexit(at_exit);
    if (!strcmp(what, "collect")) { /* main alone, after a cycle */
        churn(1000);
        gm_collect();
    } else if (!strcmp(what, "worker")) { /* a worker finishes last, 300 ms later */
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)(intptr_t)300) != 0) return 2;
        pthread_detach(t);
    } else if (!strcmp(what, "finalizer")) { /* the finalizer thread is running */
        for (int i = 0; i < 100; i++)
            gm_add_cleanup(gm_alloc(32), cleanup, NULL);
        gm_collect();
        gm_collect();
    } else if (!strcmp(what, "finalizer_start")) { /* main ends as the thread starts */
        gm_add_cleanup(gm_alloc(32), cleanup, NULL);
    } else if (!strcmp(what, "slowdtor")) { /* the last thread's other destructor */
        gm_keep_alive(gm_alloc(16));        /* gomem's key exists before slow_key */
        pthread_key_create(&slow_key, slow_dtor);
        pthread_t a, b;
        if (pthread_create(&a, NULL, slow_exiter, NULL) != 0) return 2;
        if (pthread_create(&b, NULL, worker, (void *)(intptr_t)150) != 0) return 2;
        pthread_detach(a);
        pthread_detach(b);
    } else if (!strcmp(what, "unregister")) { /* the last one unregisters, then returns */
        pthread_t t;
        if (pthread_create(&t, NULL, unregistering, NULL) != 0) return 2;
        pthread_detach(t);
    } else if (!strcmp(what, "many")) { /* 64 finish at once */
        enum { N = 64 };
        pthread_barrier_init(&bar, NULL, N);
        for (int i = 0; i < N; i++) {
            pthread_t t;
            if (pthread_create(&t, NULL, quick, NULL) != 0) return 2;
            pthread_detach(t);
        }
    } else if (!strcmp(what, "exitalloc")) { /* exit handlers allocate and collect */
        atexit(exit_allocator);
        gm_collect();
    } else if (!strcmp(what, "emfile")) {  /* no descriptor left when main ends */
        dlopen("libgcc_s.so.1", RTLD_NOW); /* pthread_exit's unwinder, loaded first */
        pthread_t t;
        if (pthread_create(&t, NULL, worker, (void *)(intptr_t)300) != 0) return 2;
        pthread_detach(t);
        while (open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0) {
        }
    } else if (!strcmp(what, "twins")) { /* the last two finish together */
        pthread_barrier_init(&bar, NULL, 2);
        pthread_t t[2];
        for (int i = 0; i < 2; i++) {
            if (pthread_create(&t[i], NULL, twin, NULL) != 0) return 2;
            pthread_detach(t[i]);
        }
    } else {
        return 2;
    }
    printf("main: pthread_exit\n");
    fflush(stdout);
    pthread_exit(NULL);
}

static void run(const char *what, int rounds, const char *also) {
    for (int r = 0; r < rounds; r++) {
        static char buf[8192];
        double t0 = gmt_now();
        int st = gmt_run_self(what, NULL, buf, sizeof buf, 1, 30);
        double secs = gmt_now() - t0;
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "atexit ran") != NULL &&
                 (also == NULL || strstr(buf, also) != NULL);
        CHECK(ok);
        if (!ok) {
            printf("%s (round %d): status %#x after %.1f s, output:\n%s\n", what, r, st, secs, buf);
            return;
        }
    }
    printf("%s: %d rounds exited 0 with their atexit handler\n", what, rounds);
}

int main(int argc, char **argv) {
    if (argc > 1) return child(argv[1]);
    run("collect", 3, NULL);
    run("worker", 3, "worker done");
    run("finalizer", 3, NULL);
    run("finalizer_start", 10, NULL);
    run("twins", 20, NULL);
    run("slowdtor", 3, "slow destructor finished");
    run("unregister", 3, NULL);
    run("many", 5, NULL);
    run("exitalloc", 3, "exit handler: list intact");
    run("emfile", 3, "worker done");
    return check_done();
}
