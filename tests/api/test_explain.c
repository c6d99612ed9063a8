/* test_explain: gm_explain prints a shortest chain from a root to an object, naming the
 * root: a global (with its symbol), a gm_add_roots range, a thread's stack (with the
 * frame's function), a register of a stopped thread, and thread-local storage. */
#include "gmtest.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct link {
    struct link *next;
    long pad[3];
} link_t;

void *explain_global_root; /* not static: its symbol is printed */
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
    for (const char *p = s; (p = strstr(p, prefix)) != NULL; p++) k++;
    return k;
}

/* --- threads holding roots --- */

static int pipes[2];

void *explain_stack_holder(void *arg);
void *explain_reg_holder(void *arg);
void *explain_tls_holder(void *arg);

GMT_NOINLINE void *explain_stack_holder(void *arg) {
    volatile uintptr_t keep = (uintptr_t)gmt_unhide((uintptr_t)arg); /* the only copy: on this stack */
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

static void with_thread(void *(*fn)(void *), uintptr_t hidden, const char *want1, const char *want2) {
    pthread_t th;
    atomic_store(&phase, 0);
    atomic_store(&spin_stop, 0);
    CHECK_EQ(pipe(pipes), 0);
    CHECK_EQ(pthread_create(&th, NULL, fn, (void *)hidden), 0);
    while (atomic_load(&phase) == 0) usleep(1000);
    usleep(20000); /* let it settle in its wait */
    CHECK_EQ(explain_to_buf(hidden), 0);
    CHECK(strstr(outbuf, want1) != NULL);
    if (want2) CHECK(strstr(outbuf, want2) != NULL);
    atomic_store(&spin_stop, 1);
    CHECK_EQ(write(pipes[1], "x", 1), 1);
    pthread_join(th, NULL);
    close(pipes[0]);
    close(pipes[1]);
}

int main(void) {
    gm_set_gc_percent(-1);
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
    with_thread(explain_stack_holder, last, "root: stack of thread", "frame of explain_stack_holder");

    /* 4. a register of a stopped thread */
    make_chain(1, &last);
    with_thread(explain_reg_holder, last, "root: register r12 of thread", NULL);

    /* 5. thread-local storage */
    make_chain(3, &last);
    with_thread(explain_tls_holder, last, "root: thread-local storage of thread", NULL);

    /* 6. unreachable, and not a gomem object */
    make_chain(2, &last);
    CHECK_EQ(explain_to_buf(last), 1);
    CHECK(strstr(outbuf, "not reachable from any root") != NULL);
    int local;
    FILE *f = tmpfile();
    CHECK_EQ(gm_explain(&local, f), -1);
    fclose(f);
    return check_done();
}
