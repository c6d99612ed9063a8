/* test_finalizer.c: finalizers run once, after their object is unreachable, with the
 * object and what it reaches resurrected; ordered finalization of chains; removal;
 * cleanups run without resurrection; the finalizer thread runs work by itself. */
#include "api/gmtest.h"

#include <stdatomic.h>
#include <string.h>

#include <pthread.h>

typedef struct node_s {
    struct node_s *child;
    uint64_t seed;
    char pad[48];
} node_t;

static uintptr_t g_hidden_a, g_hidden_b;
static int fin_calls_a, fin_calls_b, fin_bad;
static void *volatile g_resurrect; /* scanned global: a finalizer may store its object here */
static void *volatile g_keep;      /* scanned global keeping an object reachable */
static volatile int thread_fin_done;

static void fin_a(void *obj, void *arg) {
    fin_calls_a++;
    if ((uintptr_t)obj != (uintptr_t)gmt_unhide(g_hidden_a)) fin_bad++;
    if (arg != (void *)0x1234) fin_bad++;
    node_t *n = obj;
    /* what the object reaches is still intact */
    if (n->child == NULL || n->child->seed != 77) fin_bad++;
    g_resurrect = obj;
}

static void fin_b(void *obj, void *arg) {
    (void)arg;
    fin_calls_b++;
    if ((uintptr_t)obj != (uintptr_t)gmt_unhide(g_hidden_b)) fin_bad++;
}

static GMT_NOINLINE void make_a(void) {
    node_t *n = gm_alloc(sizeof *n);
    n->child = gm_alloc(sizeof *n);
    n->child->seed = 77;
    g_hidden_a = gmt_hide(n);
    CHECK_EQ(gm_set_finalizer(n, fin_a, (void *)0x1234), 0);
    g_keep = n;
}

static GMT_NOINLINE void test_once_with_resurrection(void) {
    gm_set_finalizer_thread(0);
    make_a();
    gmt_collect_clean();
    CHECK_EQ(gm_run_finalizers(), 0u); /* reachable: nothing queued */
    CHECK_EQ(fin_calls_a, 0);
    g_keep = NULL;
    gmt_collect_clean();
    CHECK_EQ(gm_run_finalizers(), 1u);
    CHECK_EQ(fin_calls_a, 1);
    CHECK_EQ(fin_bad, 0);
    /* resurrected by the finalizer: alive, and never finalized again */
    CHECK(gmt_is_live(gmt_unhide(g_hidden_a)));
    g_resurrect = NULL;
    for (int i = 0; i < 3; i++)
        gmt_collect_clean();
    CHECK_EQ(gm_run_finalizers(), 0u);
    CHECK_EQ(fin_calls_a, 1);
    gm_memstats_t *ms = malloc(sizeof *ms);
    gm_read_memstats(ms);
    CHECK_GE(ms->finalizers_queued, 1u);
    CHECK_GE(ms->finalizers_run, 1u);
    CHECK_EQ(ms->finalizer_queue_len, 0u);
    free(ms);
}

/* A -> B, both finalizable: A's finalizer runs first, B's in a later cycle. */
static GMT_NOINLINE void make_chain(void) {
    node_t *a = gm_alloc(sizeof *a), *b = gm_alloc(sizeof *b);
    a->child = b;
    b->seed = 77;
    g_hidden_a = gmt_hide(a);
    g_hidden_b = gmt_hide(b);
    gm_set_finalizer(a, fin_a, (void *)0x1234);
    gm_set_finalizer(b, fin_b, NULL);
}

static GMT_NOINLINE void test_chain_order(void) {
    fin_calls_a = fin_calls_b = fin_bad = 0;
    make_chain();
    gmt_collect_clean();
    gm_run_finalizers();
    CHECK_EQ(fin_calls_a, 1);
    CHECK_EQ(fin_calls_b, 0);
    g_resurrect = NULL;
    gmt_collect_clean();
    gm_run_finalizers();
    gmt_collect_clean();
    gm_run_finalizers();
    CHECK_EQ(fin_calls_b, 1);
    CHECK_EQ(fin_bad, 0);
}

/* Setting NULL removes the finalizer. */
static GMT_NOINLINE void make_removed(void) {
    node_t *a = gm_alloc(sizeof *a);
    a->child = gm_alloc(sizeof *a);
    a->child->seed = 77;
    gm_set_finalizer(a, fin_a, (void *)0x1234);
    gm_set_finalizer(a, NULL, NULL);
    g_hidden_a = gmt_hide(a);
}

static GMT_NOINLINE void test_remove(void) {
    fin_calls_a = 0;
    make_removed();
    gmt_collect_clean();
    CHECK_EQ(gm_run_finalizers(), 0u);
    CHECK_EQ(fin_calls_a, 0);
    CHECK(!gmt_is_live(gmt_unhide(g_hidden_a)));
    CHECK_EQ(gm_set_finalizer((char *)gm_alloc(64) + 8, fin_a, NULL), -1); /* not a base */
}

/* Cleanups: fn(arg) runs, the object is freed by the same cycle. */
static int cleanup_calls, cleanup_bad;
static uintptr_t g_hidden_c;
static void cleanup_fn(void *arg) {
    cleanup_calls++;
    if (((node_t *)arg)->seed != 99) cleanup_bad++;
}

static GMT_NOINLINE void make_cleanup(void) {
    node_t *obj = gm_alloc(sizeof *obj);
    node_t *arg = gm_alloc(sizeof *arg);
    arg->seed = 99;
    g_hidden_c = gmt_hide(obj);
    CHECK_EQ(gm_add_cleanup(obj, cleanup_fn, arg), 0);
    CHECK_EQ(gm_add_cleanup(obj, cleanup_fn, arg), 0);
    CHECK_EQ(gm_add_cleanup(obj, cleanup_fn, obj), -1);
}

static GMT_NOINLINE void test_cleanup(void) {
    make_cleanup();
    gmt_collect_clean(); /* arg must survive: it is kept alive by the record */
    CHECK_EQ(gm_run_finalizers(), 2u);
    CHECK_EQ(cleanup_calls, 2);
    CHECK_EQ(cleanup_bad, 0);
    CHECK(!gmt_is_live(gmt_unhide(g_hidden_c))); /* no resurrection */
}

/* The finalizer thread runs queued work by itself. */
static void fin_thread(void *obj, void *arg) {
    (void)obj;
    (void)arg;
    void *p = gm_alloc(100); /* finalizers may allocate */
    gm_keep_alive(p);
    thread_fin_done++;
}

static GMT_NOINLINE void make_many(int n) {
    for (int i = 0; i < n; i++)
        gm_set_finalizer(gm_alloc(64), fin_thread, NULL);
}

static GMT_NOINLINE void test_thread(void) {
    gm_set_finalizer_thread(1);
    make_many(1000);
    gmt_collect_clean();
    double deadline = gmt_now() + 10;
    while (thread_fin_done < 1000 && gmt_now() < deadline) {
        usleep(1000);
        if (thread_fin_done >= 990) { /* a few may be kept by stale words on the stack */
            usleep(100000);
            break;
        }
    }
    CHECK_GE(thread_fin_done, 990);
    CHECK_LE(thread_fin_done, 1000);
}

/* A cycle with finalizers is never finalized (as Go). */
static int cyc_calls;
static void fin_cyc(void *obj, void *arg) {
    (void)obj;
    (void)arg;
    cyc_calls++;
}
static GMT_NOINLINE void make_cycle(void) {
    node_t *a = gm_alloc(sizeof *a), *b = gm_alloc(sizeof *b);
    a->child = b;
    b->child = a;
    gm_set_finalizer(a, fin_cyc, NULL);
}
static GMT_NOINLINE void test_cycle(void) {
    gm_set_finalizer_thread(0);
    make_cycle();
    gmt_collect_clean();
    gmt_collect_clean();
    gm_run_finalizers();
    CHECK_EQ(cyc_calls, 0);
}

/* fork: the child's finalizer thread restarts on demand; pools and the scavenger work. */
static void *pool_new(void *arg) {
    (void)arg;
    return gm_alloc(32);
}
static GMT_NOINLINE void test_fork(void) {
    pid_t pid = fork();
    if (pid == 0) {
        int before = thread_fin_done;
        make_many(100);
        gmt_collect_clean();
        double deadline = gmt_now() + 10;
        while (thread_fin_done < before + 90 && gmt_now() < deadline)
            usleep(1000);
        gm_pool_t *pool = gm_pool_new(pool_new, NULL);
        void *p = gm_pool_get(pool);
        gm_pool_put(pool, p);
        gm_collect(); /* one collection: p survives as a victim */
        if (thread_fin_done < before + 90) _exit(1);
        if (gm_pool_get(pool) != p) _exit(2);
        (void)gm_free_os_memory();
        _exit(0);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st), 0);
}

/* fork with finalizable objects made before it: the child only collects (no
 * gm_set_finalizer there), and the cycle that queues them starts the child's
 * finalizer thread (the parent's did not survive the fork; they stayed queued for
 * ever, their objects retained). */
static _Atomic int queued_done;
static void fin_queued(void *obj, void *arg) {
    (void)obj;
    (void)arg;
    atomic_fetch_add(&queued_done, 1);
}
static GMT_NOINLINE void make_queued(int n) {
    for (int i = 0; i < n; i++)
        gm_set_finalizer(gm_alloc(48), fin_queued, NULL);
}
static GMT_NOINLINE void test_fork_queued(void) {
    gm_set_finalizer_thread(1);
    make_queued(100);
    pid_t pid = fork();
    if (pid == 0) {
        gmt_collect_clean();
        double deadline = gmt_now() + 10;
        while (atomic_load(&queued_done) < 90 && gmt_now() < deadline)
            usleep(1000);
        _exit(atomic_load(&queued_done) >= 90 ? 0 : 1);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
    CHECK_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st), 0);
}

/* An explicit free (or a moving realloc) of an object with a finalizer, a cleanup and
 * a weak handle: the next object allocated in its slot, at once, must not inherit
 * them. One line on stderr names the call and the object. */
static int inherit_runs;
static void inherit_fin(void *obj, void *arg) {
    (void)obj;
    (void)arg;
    inherit_runs++;
}
static void inherit_cleanup(void *arg) {
    (void)arg;
    inherit_runs++;
}

static void test_free_drops(int use_realloc) {
    gm_run_finalizers();
    inherit_runs = 0;
    char *a = gm_alloc(48);
    CHECK_EQ(gm_set_finalizer(a, inherit_fin, NULL), 0);
    CHECK_EQ(gm_add_cleanup(a, inherit_cleanup, (void *)0x99), 0);
    gm_weak_t *h = gm_weak_make(a);
    CHECK(h != NULL && gm_weak_get(h) == a);
    char buf[1024];
    gmt_capture_begin();
    char *moved = NULL;
    if (use_realloc)
        moved = gm_realloc(a, 4000); /* another size class: a moves */
    else
        gm_free(a);
    size_t n = gmt_capture_end(buf, sizeof buf);
    CHECK(strstr(buf, use_realloc ? "gm_realloc(" : "gm_free(") != NULL);
    CHECK(strstr(buf, "finalizer and cleanups") != NULL);
    CHECK(n > 0 && memchr(buf, '\n', n) == buf + n - 1); /* one line */
    CHECK(gm_weak_get(h) == NULL);
    /* the freed slot is the next one handed out (a local free of the current span) */
    char *b = gm_alloc(48);
    g_keep = b;
    for (int i = 0; i < 3; i++) {
        gm_collect();
        gm_run_finalizers();
    }
    CHECK(gm_weak_get(h) == NULL);
    gm_weak_release(h);
    /* b dies: had it inherited a's records, they would run now */
    g_keep = NULL;
    b = NULL;
    gm_keep_alive(moved);
    for (int i = 0; i < 3; i++) {
        gm_collect();
        gm_run_finalizers();
    }
    CHECK_EQ(inherit_runs, 0);
}

int main(void) {
    gm_init();
    test_free_drops(0);
    test_free_drops(1);
    test_once_with_resurrection();
    test_chain_order();
    test_remove();
    test_cleanup();
    test_cycle();
    test_thread();
    test_fork();
    test_fork_queued();
    return check_done();
}
