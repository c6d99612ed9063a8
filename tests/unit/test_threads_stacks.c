/* test_threads_stacks.c: roots of threads in unusual places, and threads that leave
 * without unregistering.
 *
 *  1. A thread that exits with a raw exit system call (no key destructor, so it never
 *     unregisters) while its cache holds a span: the span must still be swept at every
 *     cycle until the thread is reaped, or its stale mark bits keep an object from being
 *     scanned and what only it references is freed.
 *  2. The main thread stopped while it runs a handler on a sigaltstack: its own stack
 *     (above the sp the handler interrupted) is still scanned, also when the alternate
 *     stack is an array on that stack, above the interrupted frames.
 *  3. A thread running on a coroutine stack (makecontext on mmap'd memory, with a
 *     PROT_NONE hole between it and the thread's stack): collecting there, or being
 *     stopped there, must not scan the address space between the two stacks (it
 *     crashed), and the coroutine's stack, registered with gm_add_roots, is a root.
 * Links libgomem.a: threads register on their first gomem call. */
#include "internal.h"
#include "check.h"
#include <gomem.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

typedef struct node {
    struct node *child;
    uint64_t fill[5]; /* 48 bytes: a class nothing else here uses */
} node_t;

static void fill_bytes(void *p, size_t n, unsigned char v) {
    memset(p, v, n);
}

static int bytes_are(const void *p, size_t n, unsigned char v) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != v) return 0;
    return 1;
}

/* ---- 1. a thread that vanishes ------------------------------------------------ */

static node_t *vanished_root; /* a global: the only reference to the node */
static void *child_slot;

static void *vanish(void *arg) {
    (void)arg;
    node_t *o = gm_alloc(sizeof *o); /* in this thread's cached span */
    o->child = child_slot;           /* the child's only reference from now on */
    child_slot = NULL;
    vanished_root = o;
    syscall(SYS_exit, 0); /* no destructor runs: the thread stays registered */
    return NULL;
}

static void *nothing(void *arg) {
    (void)arg;
    gm_free(gm_alloc(16)); /* registers (and reaps the dead) */
    return NULL;
}

static __attribute__((noinline)) void make_child(void) {
    void *c = gm_alloc(300);
    fill_bytes(c, 300, 0x11);
    child_slot = c;
}

static __attribute__((unused)) void test_vanished_thread(void) {
    make_child();
    pthread_t x, y;
    pthread_create(&x, NULL, vanish, NULL);
    pthread_join(x, NULL); /* the kernel clears the tid at the raw exit */
    gm_collect();          /* finds the thread gone: onto the dead list */
    gm_collect();          /* its cached span must be swept here */
    pthread_create(&y, NULL, nothing, NULL);
    pthread_join(y, NULL); /* reaped: its span goes back to the lists */
    for (int i = 0; i < 4; i++)
        gm_collect();
    void *c = vanished_root->child;
    CHECK(gm_base(c) == c); /* still allocated */
    /* allocate the class over: a freed child would be handed out and overwritten */
    for (int i = 0; i < 2000; i++)
        fill_bytes(gm_alloc(300), 300, 0x22);
    CHECK(bytes_are(c, 300, 0x11));
    vanished_root = NULL;
}

/* ---- 2. stopped on a sigaltstack --------------------------------------------- */

static _Atomic int in_handler, collected;

static void *collect_when_handling(void *arg) {
    (void)arg;
    while (!atomic_load(&in_handler))
        usleep(100);
    gm_collect();
    gm_collect();
    atomic_store(&collected, 1);
    return NULL;
}

static void on_usr1(int sig) {
    (void)sig;
    atomic_store(&in_handler, 1);
    while (!atomic_load(&collected))
        usleep(100);
}

static __attribute__((noinline)) void make_held(void **slot) {
    void *p = gm_alloc(100);
    fill_bytes(p, 100, 0x5a);
    *slot = p;
}

/* The frames the handler interrupted hold the only pointer; they are below the
 * alternate stack when that is an array on the thread's own stack (on_stack), and an
 * sp on the alternate stack says nothing about where they are. */
static __attribute__((noinline)) void altstack_round(void) {
    atomic_store(&in_handler, 0);
    atomic_store(&collected, 0);
    pthread_t th;
    pthread_create(&th, NULL, collect_when_handling, NULL);
    void *volatile held[4]; /* on the main stack only */
    make_held((void **)&held[1]);
    raise(SIGUSR1);
    pthread_join(th, NULL);
    void *p = held[1];
    CHECK(gm_base(p) == p);
    for (int i = 0; i < 2000; i++)
        fill_bytes(gm_alloc(100), 100, 0x33);
    CHECK(bytes_are(p, 100, 0x5a));
    held[1] = NULL;
}

static __attribute__((noinline)) void test_altstack(int on_stack) {
    size_t altsize = 1 << 16;
    char array[1 << 16];
    stack_t ss = {.ss_sp = on_stack ? (void *)array
                                    : mmap(NULL, altsize, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  .ss_size = altsize};
    CHECK(ss.ss_sp != MAP_FAILED);
    CHECK(sigaltstack(&ss, NULL) == 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    altstack_round();
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    signal(SIGUSR1, SIG_DFL);
    if (!on_stack) munmap(ss.ss_sp, altsize);
}

/* ---- 3. coroutines ------------------------------------------------------------ */

static ucontext_t back, coro;
static int coro_mode;
static int coro_ok;

static void *collect_once(void *arg) {
    (void)arg;
    gm_collect();
    return NULL;
}

static __attribute__((noinline)) void coro_body_inner(void) {
    void *volatile mine = gm_alloc(200); /* only on the coroutine's stack */
    fill_bytes(mine, 200, 0x44);
    if (coro_mode == 0) {
        gm_collect(); /* collect from the coroutine */
        gm_collect();
    } else {
        pthread_t th; /* stopped on the coroutine by another thread's cycles */
        pthread_create(&th, NULL, collect_once, NULL);
        pthread_join(th, NULL);
        pthread_create(&th, NULL, collect_once, NULL);
        pthread_join(th, NULL);
    }
    for (int i = 0; i < 2000; i++)
        fill_bytes(gm_alloc(200), 200, 0x55);
    coro_ok = gm_base(mine) == mine && bytes_are(mine, 200, 0x44);
}

static void coro_body(void) {
    coro_body_inner();
}

static void run_coroutine(int mode) {
    size_t size = 1 << 20;
    char *stk = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *hole = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(stk != MAP_FAILED && hole != MAP_FAILED);
    gm_add_roots(stk, stk + size); /* the program's part: its coroutine stacks */
    coro_mode = mode;
    coro_ok = 0;
    getcontext(&coro);
    coro.uc_stack.ss_sp = stk;
    coro.uc_stack.ss_size = size;
    coro.uc_link = &back;
    makecontext(&coro, coro_body, 0);
    CHECK(swapcontext(&back, &coro) == 0);
    CHECK(coro_ok);
    gm_remove_roots(stk);
    munmap(stk, size);
    munmap(hole, 1 << 20);
}

static void *coroutine_thread(void *arg) {
    run_coroutine((int)(intptr_t)arg);
    return NULL;
}

static void test_coroutines(void) {
    run_coroutine(0); /* the main thread collects on a coroutine */
    run_coroutine(1); /* the main thread is stopped on one */
    pthread_t th;
    pthread_create(&th, NULL, coroutine_thread, (void *)(intptr_t)0);
    pthread_join(th, NULL); /* a pthread collects on one */
    pthread_create(&th, NULL, coroutine_thread, (void *)(intptr_t)1);
    pthread_join(th, NULL); /* a pthread is stopped on one */
}

int main(void) {
    gm_init();
#if !defined(__SANITIZE_ADDRESS__)
    /* ASan's thread registry cannot take a thread that leaves with a raw exit */
    test_vanished_thread();
#endif
    test_altstack(0);
    test_altstack(1); /* the alternate stack is an array on the main stack */
    test_coroutines();
    return check_done();
}
