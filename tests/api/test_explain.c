/* test_explain: gm_explain prints a shortest chain from a root to an object, naming the
 * root: a global (with its symbol), a gm_add_roots range, a thread's stack (with the
 * frame's function), a register of a stopped thread, thread-local storage, a pin, the
 * finalizer queue (a queued finalizer's object, a queued cleanup's argument), an
 * attached finalizer's argument, an unreachable object awaiting its finalizer, and a
 * pool. */
#include "gmtest.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct link {
    struct link *next;
    long pad[3];
} link_t;

void *explain_global_root;                    /* not static: its symbol is printed */
__thread volatile uintptr_t explain_tls_root; /* not static: the stores must happen */
static _Atomic int phase;

static char outbuf[65536];

/* explain_to_buf runs gm_explain on the hidden pointer and returns its text. */
static GMT_NOINLINE int explain_to_buf(uintptr_t hidden) {
    FILE *f = tmpfile();
    int rc = gm_explain((void *)gmt_unhide(hidden), f);
    rewind(f);
    size_t n = fread(outbuf, 1, sizeof outbuf - 1, f);
    outbuf[n] = 0;
    fclose(f);
    fputs(outbuf, stdout);
    return rc;
}

/* a chain of n links; returns the hidden address of the last one */
static GMT_NOINLINE link_t *make_chain(int n, uintptr_t *last_hidden) {
    link_t *head = gm_alloc(sizeof(link_t)), *p = head;
    for (int i = 1; i < n; i++) {
        p->next = gm_alloc(sizeof(link_t));
        p = p->next;
    }
    *last_hidden = gmt_hide(p);
    return head;
}

static size_t count_lines(const char *s, const char *prefix) {
    size_t k = 0;
    for (const char *p = s; (p = strstr(p, prefix)) != NULL; p++)
        k++;
    return k;
}

/* --- threads holding roots --- */

static int pipes[2];

void *explain_stack_holder(void *arg);
void *explain_reg_holder(void *arg);
void *explain_tls_holder(void *arg);

GMT_NOINLINE void *explain_stack_holder(void *arg) {
    volatile uintptr_t keep =
        (uintptr_t)gmt_unhide((uintptr_t)arg); /* the only copy: on this stack */
    atomic_store(&phase, 1);
    char c;
    while (read(pipes[0], &c, 1) < 0 && errno == EINTR) {
    }
    CHECK(keep != 0);
    keep = 0;
    return NULL;
}

static _Atomic int spin_stop;
GMT_NOINLINE void *explain_reg_holder(void *arg) {
    uintptr_t h = (uintptr_t)arg;
    /* the pointer exists only in r12 while the loop spins */
    __asm__ volatile("movq %0, %%r12\n\t"
                     "xorq %1, %%r12\n\t"
                     "movl $1, %2\n\t"
                     "1: pause\n\t"
                     "cmpl $0, %3\n\t"
                     "je 1b\n\t"
                     "xorq %%r12, %%r12\n\t"
                     :
                     : "r"(h), "r"((uintptr_t)GMT_HIDE_MASK), "m"(phase), "m"(spin_stop)
                     : "r12", "memory", "cc");
    return NULL;
}

GMT_NOINLINE void *explain_tls_holder(void *arg) {
    explain_tls_root = (uintptr_t)gmt_unhide((uintptr_t)arg);
    atomic_store(&phase, 1);
    char c;
    while (read(pipes[0], &c, 1) < 0 && errno == EINTR) {
    }
    explain_tls_root = 0;
    return NULL;
}

static void with_thread(void *(*fn)(void *), uintptr_t hidden, const char *want1,
                        const char *want2) {
    pthread_t th;
    atomic_store(&phase, 0);
    atomic_store(&spin_stop, 0);
    CHECK_EQ(pipe(pipes), 0);
    CHECK_EQ(pthread_create(&th, NULL, fn, (void *)hidden), 0);
    while (atomic_load(&phase) == 0)
        usleep(1000);
    usleep(20000); /* let it settle in its wait */
    CHECK_EQ(explain_to_buf(hidden), 0);
    CHECK(strstr(outbuf, want1) != NULL);
    /* under ASan the word may be a stale copy in another (instrumented) frame */
    if (want2 && !GMT_ASAN) CHECK(strstr(outbuf, want2) != NULL);
    atomic_store(&spin_stop, 1);
    CHECK_EQ(write(pipes[1], "x", 1), 1);
    pthread_join(th, NULL);
    close(pipes[0]);
    close(pipes[1]);
}

/* --- pins and finalizers --- */

static int fin_runs, cleanup_runs;
void explain_fin_fn(void *obj, void *arg);
void explain_cleanup_fn(void *arg);
void explain_fin_fn(void *obj, void *arg) {
    (void)obj;
    (void)arg;
    fin_runs++;
}
void explain_cleanup_fn(void *arg) {
    (void)arg;
    cleanup_runs++;
}

/* a chain of n links whose head is pinned twice; returns the head, hidden */
static GMT_NOINLINE uintptr_t make_pinned(int n, uintptr_t *last_hidden) {
    link_t *head = make_chain(n, last_hidden);
    CHECK_EQ(gm_pin(head), 0);
    CHECK_EQ(gm_pin(head), 0);
    return gmt_hide(head);
}

static GMT_NOINLINE int unpin_hidden(uintptr_t h) {
    return gm_unpin(gmt_unhide(h));
}

/* a chain of n links whose head has a finalizer; returns the head, hidden */
static GMT_NOINLINE uintptr_t make_finalizable(int n, uintptr_t *last_hidden) {
    link_t *head = make_chain(n, last_hidden);
    CHECK_EQ(gm_set_finalizer(head, explain_fin_fn, NULL), 0);
    return gmt_hide(head);
}

/* owner (kept by a global) gets a finalizer whose argument is a chain of n links */
static GMT_NOINLINE void set_finalizer_arg(link_t *owner, int n, uintptr_t *last_hidden) {
    CHECK_EQ(gm_set_finalizer(owner, explain_fin_fn, make_chain(n, last_hidden)), 0);
}

/* an object with a cleanup whose argument is a chain of n links; returns the object */
static GMT_NOINLINE uintptr_t make_cleanup(int n, uintptr_t *last_hidden) {
    link_t *obj = gm_alloc(sizeof(link_t));
    CHECK_EQ(gm_add_cleanup(obj, explain_cleanup_fn, make_chain(n, last_hidden)), 0);
    return gmt_hide(obj);
}

/* a chain of n links whose head is put in pool */
static GMT_NOINLINE void make_pooled(gm_pool_t *pool, int n, uintptr_t *last_hidden) {
    gm_pool_put(pool, make_chain(n, last_hidden));
}

/* has_obj_text: outbuf contains fmt formatted with the object whose hidden address is h */
static int has_obj_text(const char *fmt, uintptr_t h) {
    char want[256];
    snprintf(want, sizeof want, fmt, gmt_unhide(h));
    return strstr(outbuf, want) != NULL;
}

static void *volatile freed_but_referenced;

int main(void) {
    gm_set_gc_percent(-1);

    /* 0. an object freed with gm_free onto the reuse stack (its span no longer the one
     * the thread allocates from; not sampled: the default rate) is not live, even with a
     * global still pointing at it: -1 and EINVAL, not "reachable" */
    {
        void *f = gm_alloc(64);
        for (int i = 0; i < 300; i++)
            freed_but_referenced = gm_alloc(64); /* moves the thread to another span */
        freed_but_referenced = f;
        gm_free(f);
        errno = 0;
        FILE *null = fopen("/dev/null", "w");
        CHECK(gm_explain(f, null) == -1 && errno == EINVAL);
        fclose(null);
        freed_but_referenced = NULL;
    }

    gm_set_mem_profile_rate(1); /* every allocation sampled: sites are printed */
    uintptr_t last;

    /* 1. a global holding a chain of 4 objects */
    explain_global_root = make_chain(4, &last);
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(strstr(outbuf, "root: global explain_global_root+0") != NULL);
    CHECK(strstr(outbuf, "reachable in 4 hops") != NULL);
    CHECK_EQ(count_lines(outbuf, "  -> "), 3);
    CHECK_EQ(count_lines(outbuf, "  => "), 1);
    CHECK(strstr(outbuf, "at +0 of") != NULL);
    CHECK(strstr(outbuf, "allocated at make_chain") != NULL);
    /* interior pointers name the same object */
    CHECK_EQ(explain_to_buf(gmt_hide((char *)gmt_unhide(last) + 8)), 0);
    CHECK(strstr(outbuf, "[target]") != NULL);
    explain_global_root = NULL;

    /* 1b. a chain longer than the 64 objects printed: the count is the real one, the
     * root is still named, and the hidden part is said */
    explain_global_root = make_chain(100, &last);
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(strstr(outbuf, "reachable in 100 hops") != NULL);
    CHECK(strstr(outbuf, "root: global explain_global_root+0") != NULL);
    CHECK(strstr(outbuf, "... 36 objects nearest the root not shown") != NULL);
    CHECK_EQ(count_lines(outbuf, "  -> "), 64); /* the "..." line and 63 objects */
    CHECK_EQ(count_lines(outbuf, "  => "), 1);
    explain_global_root = NULL;

    /* 2. a gm_add_roots range (malloc'd memory the collector does not see) */
    void **block = malloc(64 * sizeof(void *));
    memset(block, 0, 64 * sizeof(void *));
    CHECK_EQ(gm_add_roots(block, block + 64), 0);
    block[5] = make_chain(2, &last);
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(strstr(outbuf, "root: gm_add_roots range") != NULL);
    CHECK(strstr(outbuf, "at +40") != NULL);
    CHECK(strstr(outbuf, "reachable in 2 hops") != NULL);
    block[5] = NULL;
    gm_remove_roots(block);
    free(block);

    /* 3. another thread's stack, with the frame's function */
    make_chain(1, &last);
    with_thread(explain_stack_holder, last, "root: stack of thread",
                "frame of explain_stack_holder");

    /* 4. a register of a stopped thread */
    make_chain(1, &last);
    with_thread(explain_reg_holder, last, "root: register r12 of thread", NULL);

    /* 5. thread-local storage */
    make_chain(3, &last);
    with_thread(explain_tls_holder, last, "root: thread-local storage of thread", NULL);

    /* 6. unreachable, and not a gomem object */
    make_chain(2, &last);
    int unreachable = explain_to_buf(last);
    if (!GMT_ASAN) { /* ASan's frames may hold a stale copy: any answer but an error */
        CHECK_EQ(unreachable, 1);
        CHECK(strstr(outbuf, "not reachable from any root") != NULL);
    } else {
        CHECK(unreachable == 0 || unreachable == 1);
    }
    int local;
    FILE *f = tmpfile();
    CHECK_EQ(gm_explain(&local, f), -1);
    fclose(f);

    /* 7. a pinned object (no other reference) and what it reaches */
    uintptr_t pinned = make_pinned(3, &last);
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(strstr(outbuf, "root: pinned by gm_pin (2 pins)\n") != NULL);
    CHECK(strstr(outbuf, "reachable in 3 hops") != NULL);
    CHECK(has_obj_text("  -> %p (32 bytes)", pinned));
    CHECK_EQ(unpin_hidden(pinned), 0);
    CHECK_EQ(unpin_hidden(pinned), 0);
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(last), 1);

    /* 8. finalizers run only by gm_run_finalizers: an unreachable object with a
     * finalizer keeps what it reaches; once queued it is a root itself */
    gm_set_finalizer_thread(0);
    uintptr_t fobj = make_finalizable(3, &last);
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(has_obj_text("root: finalizer pending (object %p, reached by no other root, has the "
                       "finalizer explain_fin_fn+0x0 (",
                       fobj));
    CHECK(strstr(outbuf, "word at +0\n") != NULL);
    CHECK(strstr(outbuf, "reachable in 2 hops") != NULL);
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(fobj), 1);
    CHECK(strstr(outbuf, "the next collection queues its finalizer explain_fin_fn+0x0") != NULL);
    gmt_collect_clean(); /* queues the finalizer, resurrecting the chain */
    CHECK_EQ(fin_runs, 0);
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(has_obj_text("root: finalizer queue (object %p awaiting its finalizer "
                       "explain_fin_fn+0x0 (",
                       fobj));
    CHECK(strstr(outbuf, "reachable in 3 hops") != NULL);
    CHECK(has_obj_text("  -> %p (32 bytes)", fobj));
    CHECK_EQ(explain_to_buf(fobj), 0);
    CHECK(strstr(outbuf, "reachable in 1 hop ") != NULL);
    CHECK(strstr(outbuf, "root: finalizer queue (object") != NULL);
    CHECK_EQ(gm_run_finalizers(), 1u);
    CHECK_EQ(fin_runs, 1);
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(last), 1);
    CHECK(strstr(outbuf, "the next collection frees it") != NULL);

    /* 9. an attached finalizer's argument */
    explain_global_root = make_chain(1, &last);
    set_finalizer_arg(explain_global_root, 2, &last);
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(has_obj_text("root: argument of the finalizer explain_fin_fn+0x0 (test_explain) set on "
                       "object %p\n",
                       gmt_hide(explain_global_root)));
    CHECK(strstr(outbuf, "reachable in 2 hops") != NULL);
    CHECK_EQ(gm_set_finalizer(explain_global_root, NULL, NULL), 0);
    explain_global_root = NULL;

    /* 10. a queued cleanup's argument */
    make_cleanup(2, &last);
    gmt_collect_clean(); /* the object dies: its cleanup is queued with its argument */
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(strstr(outbuf, "root: finalizer queue (argument of the cleanup explain_cleanup_fn+0x0 "
                         "(test_explain), awaiting its run)\n") != NULL);
    CHECK_EQ(gm_run_finalizers(), 1u);
    CHECK_EQ(cleanup_runs, 1);

    /* 11. a pooled object: kept by the next collection, dropped by the one after */
    gm_pool_t *pool = gm_pool_new(NULL, NULL);
    make_pooled(pool, 2, &last);
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(has_obj_text("root: gm_pool %p (put since the last collection: kept by the next one, "
                       "dropped by the one after)\n",
                       gmt_hide(pool)));
    CHECK(strstr(outbuf, "reachable in 2 hops") != NULL);
    gmt_collect_clean();
    gmt_wipe_stack();
    CHECK_EQ(explain_to_buf(last), 0);
    CHECK(strstr(outbuf, "(put before the last collection: the next one drops it)\n") != NULL);
    return check_done();
}
