/* test_fork.c: fork in a threaded program. Four threads allocate and verify, and one
 * more loops in dl_iterate_phdr, while another (not the main thread) forks repeatedly. Each child
 * checks the data inherited from the parent, allocates, collects (also from a new thread), checks
 * again and exits 0; the parent checks the child's status and carries on. A child that hangs (a
 * lock held across fork) is killed by an alarm and counted as a failure. */
#include "api/gmtest.h"

#include <link.h>
#include <pthread.h>
#include <stdatomic.h>

#define NALLOC_THREADS 4
#define NFORKS         12

struct node {
    struct node *next;
    uint64_t v;
    uint8_t *blob; /* noscan, gmt_fill(v) of blob_len bytes */
    size_t blob_len;
};

/* shared structure built before the threads start, verified by parent and children */
static struct node *shared_list;
static long shared_len;
static _Atomic int stop;
static _Atomic long thread_errors, thread_rounds;

static struct node *build(long n, uint64_t seed) {
    struct node *head = NULL;
    for (long i = 0; i < n; i++) {
        struct node *x = gm_alloc(sizeof *x);
        if (!x) return NULL;
        x->v = seed + (uint64_t)i;
        x->blob_len = 1 + (size_t)((x->v * 2654435761u) % (i % 97 == 0 ? 60000 : 700));
        x->blob = gm_alloc_noscan(x->blob_len);
        if (!x->blob) return NULL;
        gmt_fill(x->blob, x->blob_len, x->v);
        x->next = head;
        head = x;
    }
    return head;
}

static int verify(const struct node *head, long n, uint64_t seed) {
    long i = n - 1;
    for (const struct node *x = head; x; x = x->next, i--) {
        if (i < 0 || x->v != seed + (uint64_t)i || gm_base(x) != x || gm_base(x->blob) != x->blob ||
            gmt_verify(x->blob, x->blob_len, x->v) != GMT_OK)
            return 0;
    }
    return i == -1;
}

static void *alloc_thread(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg << 32;
    while (!atomic_load(&stop)) {
        struct node *l = build(2000, seed);
        for (int k = 0; k < 50; k++) { /* garbage */
            void *g = gm_alloc(64 + (size_t)k * 100);
            memset(g, 0xAB, 64);
        }
        if (!verify(l, 2000, seed)) atomic_fetch_add(&thread_errors, 1);
        if ((seed & 7) == 0) gm_collect();
        seed++;
        atomic_fetch_add(&thread_rounds, 1);
    }
    return NULL;
}

/* A thread that spends its time inside dl_iterate_phdr, as an unwinder or a profiler
 * may: glibc leaves the loader's list lock taken in a child forked meanwhile, and a
 * child's collection that called dl_iterate_phdr waited for ever (roots.c). */
static int slow_phdr_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)info;
    (void)size;
    (void)data;
    usleep(50);
    return 0;
}

static void *phdr_thread(void *arg) {
    (void)arg;
    while (!atomic_load(&stop))
        dl_iterate_phdr(slow_phdr_cb, NULL);
    return NULL;
}

static void *child_thread(void *arg) {
    (void)arg;
    struct node *l = build(3000, 777);
    gm_collect();
    return (void *)(intptr_t)verify(l, 3000, 777);
}

/* child: runs right after fork, only this thread exists */
static void child_main(int round) {
    alarm(60);
    int ok = 1;
    ok &= verify(shared_list, shared_len, 1);
    struct node *mine = build(5000, 99 + (uint64_t)round);
    ok &= mine != NULL;
    gm_collect();
    ok &= verify(shared_list, shared_len, 1);
    ok &= verify(mine, 5000, 99 + (uint64_t)round);
    /* threads work in the child */
    pthread_t t;
    void *res = NULL;
    if (pthread_create(&t, NULL, child_thread, NULL) == 0) {
        pthread_join(t, &res);
        ok &= res != NULL;
    } else {
        ok = 0;
    }
    for (int i = 0; i < 3; i++) {
        void *g = gm_alloc(1 << 20);
        ok &= g != NULL;
        gm_collect();
    }
    ok &= verify(shared_list, shared_len, 1);
    ok &= verify(mine, 5000, 99 + (uint64_t)round);
    _exit(ok ? 0 : 3);
}

static _Atomic int children_ok, children_bad;

static void *forker(void *arg) {
    (void)arg;
    for (int round = 0; round < NFORKS; round++) {
        usleep(20000);
        pid_t pid = fork();
        if (pid < 0) {
            atomic_fetch_add(&children_bad, 1);
            continue;
        }
        if (pid == 0) child_main(round);
        int status = 0;
        double deadline = gmt_now() + 90;
        pid_t w;
        while ((w = waitpid(pid, &status, WNOHANG)) == 0 && gmt_now() < deadline)
            usleep(5000);
        if (w == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "fork round %d: child hung\n", round);
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            atomic_fetch_add(&children_ok, 1);
        } else {
            atomic_fetch_add(&children_bad, 1);
            if (WIFSIGNALED(status))
                fprintf(stderr, "fork round %d: child killed by signal %d\n", round,
                        WTERMSIG(status));
            else
                fprintf(stderr, "fork round %d: child exit status %d\n", round,
                        WEXITSTATUS(status));
        }
        /* the parent keeps working */
        if (!verify(shared_list, shared_len, 1)) atomic_fetch_add(&thread_errors, 1);
    }
    return NULL;
}

/* Threads parked in a frame with local arrays (which ASan surrounds with redzones)
 * when another forks: the child's gomem threads (scavenger, sweeper, mark workers)
 * start on stacks glibc recycles from the parent's vanished threads. An ASan build of
 * libgomem.so created them behind ASan's back, so their stacks kept the old poison and
 * the child aborted with a stack-buffer-overflow report in the scavenger (seen in an
 * optimized ASan build, -DCMAKE_BUILD_TYPE=Release -DGM_SANITIZE=asan; the frames of
 * make test's Debug ASan build happen not to meet the old redzones). */
enum { PARKED = 6 };
static pthread_barrier_t park_bar;
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static int park_done;

GMT_NOINLINE static void park(void) {
    volatile char a[40], b[40], c[40];
    a[0] = b[0] = c[0] = 1;
    pthread_barrier_wait(&park_bar);
    pthread_mutex_lock(&park_mu);
    while (!park_done)
        pthread_cond_wait(&park_cv, &park_mu);
    pthread_mutex_unlock(&park_mu);
    (void)a[1];
    (void)b[1];
    (void)c[1];
}

static void *parked(void *arg) {
    (void)arg;
    gm_keep_alive(gm_alloc(100));
    park();
    return NULL;
}

static void fork_with_parked_threads(void) {
    pthread_t t[PARKED];
    pthread_barrier_init(&park_bar, NULL, PARKED + 1);
    for (int i = 0; i < PARKED; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, parked, NULL), 0);
    pthread_barrier_wait(&park_bar);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        for (int r = 0; r < 3; r++) {
            for (int i = 0; i < 20000; i++)
                ((char *)gm_alloc(200))[0] = 1;
            gm_collect();
        }
        usleep(300 * 1000); /* the scavenger's first pass */
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pthread_mutex_lock(&park_mu);
    park_done = 1;
    pthread_cond_broadcast(&park_cv);
    pthread_mutex_unlock(&park_mu);
    for (int i = 0; i < PARKED; i++)
        pthread_join(t[i], NULL);
}

int main(void) {
    gm_init();
    fork_with_parked_threads(); /* first: the child's stacks come from the parked threads */
    shared_len = GMT_ASAN ? 20000 : 50000;
    shared_list = build(shared_len, 1);
    CHECK(shared_list != NULL);
    pthread_t th[NALLOC_THREADS], f, ph;
    for (int i = 0; i < NALLOC_THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, alloc_thread, (void *)(uintptr_t)(i + 1)), 0);
    CHECK_EQ(pthread_create(&ph, NULL, phdr_thread, NULL), 0);
    CHECK_EQ(pthread_create(&f, NULL, forker, NULL), 0);
    pthread_join(f, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < NALLOC_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_join(ph, NULL);
    gm_collect();
    CHECK(verify(shared_list, shared_len, 1));
    long ok = atomic_load(&children_ok), bad = atomic_load(&children_bad);
    long errors = atomic_load(&thread_errors), rounds = atomic_load(&thread_rounds);
    CHECK_EQ(ok, NFORKS);
    CHECK_EQ(bad, 0);
    CHECK_EQ(errors, 0); /* lists built by the allocating threads were corrupt */
    CHECK(rounds > 0);
    /* and a fork from the main thread with the other threads gone */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) child_main(100);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return check_done();
}
