/* test_root_kinds.c: every kind of root keeps an object alive (a register, the stack, a
 * global, thread-local storage of the main and of another thread, an interior
 * pointer, gm_add_roots ranges in malloc'd and mmap'd memory), removing a root lets
 * the object die, pointers inside noscan objects do not retain, and scanned objects
 * retain whole chains. */
#include "api/gmtest.h"

#include <pthread.h>
#include <stdatomic.h>

#define OBJ_SIZE  1792 /* a class used only by the "survive" objects of this test */
#define DEAD_SIZE 2688 /* a class used only by objects expected to die */
#define NDEAD     64

static uint64_t seed_counter = 1000;

/* new_obj allocates an object of n bytes filled with a pattern; returns the seed in
 * *seed. The pointer is returned (callers that must not retain it hide it). */
GMT_NOINLINE static void *new_obj(size_t n, int noscan, uint64_t *seed) {
    void *p = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
    *seed = seed_counter++;
    if (p) gmt_fill(p, n, *seed);
    return p;
}

/* churn allocates and drops garbage in the classes the tests use, so that a wrongly
 * freed object would be reused and overwritten. */
GMT_NOINLINE static void churn(void) {
    for (int i = 0; i < 200; i++) {
        void *a = gm_alloc(OBJ_SIZE);
        void *b = gm_alloc_noscan(OBJ_SIZE);
        memset(a, 0xEE, OBJ_SIZE);
        memset(b, 0xDD, OBJ_SIZE);
    }
    void *l = gm_alloc(200000);
    memset(l, 0xCC, 200000);
}

/* collect_churn: several collections with garbage between them. */
GMT_NOINLINE static void collect_churn(int rounds) {
    for (int i = 0; i < rounds; i++) {
        churn();
        gmt_collect_clean();
    }
}

static int obj_ok(const void *p, size_t n, uint64_t seed) {
    return p && gm_base(p) == p && gm_usable_size(p) >= n && gmt_verify(p, n, seed) == GMT_OK;
}

/* ---------------------------------------------------------------------------------
 * Register: a thread spins holding the only pointer in a register
 * ------------------------------------------------------------------------------- */

static _Atomic uintptr_t reg_hidden;
static _Atomic int reg_phase;
static uint64_t reg_seed;
static _Atomic int reg_result;

static void *reg_thread(void *arg) {
    (void)arg;
    uintptr_t p = atomic_load(&reg_hidden) ^ GMT_HIDE_MASK;
    atomic_store(&reg_hidden, 0);
    __asm__ volatile("" : "+r"(p));
    atomic_store(&reg_phase, 1);
    while (atomic_load_explicit(&reg_phase, memory_order_relaxed) != 2)
        __asm__ volatile("" : "+r"(p));
    atomic_store(&reg_result, obj_ok((void *)p, OBJ_SIZE, reg_seed));
    return NULL;
}

GMT_NOINLINE static void setup_reg(void) {
    uint64_t s;
    void *p = new_obj(OBJ_SIZE, 1, &s);
    reg_seed = s;
    atomic_store(&reg_hidden, gmt_hide(p));
}

static void test_register_thread(void) {
    pthread_t t;
    setup_reg();
    atomic_store(&reg_phase, 0);
    CHECK_EQ(pthread_create(&t, NULL, reg_thread, NULL), 0);
    while (atomic_load(&reg_phase) != 1)
        sched_yield();
    collect_churn(10);
    atomic_store(&reg_phase, 2);
    pthread_join(t, NULL);
    CHECK(atomic_load(&reg_result));
}

/* Register of the collecting thread: the pointer lives in a local that the compiler
 * keeps in a (callee-saved) register across the gm_collect calls. */
GMT_NOINLINE static int register_main(void) {
    uint64_t s;
    uintptr_t h = gmt_hide(new_obj(OBJ_SIZE, 1, &s));
    uintptr_t p = h ^ GMT_HIDE_MASK;
    h = 0;
    __asm__ volatile("" : "+r"(p));
    for (int i = 0; i < 10; i++) {
        churn();
        gm_collect();
        __asm__ volatile("" : "+r"(p));
    }
    return obj_ok((void *)p, OBJ_SIZE, s);
}

/* ---------------------------------------------------------------------------------
 * Stack: deep in a recursion
 * ------------------------------------------------------------------------------- */

GMT_NOINLINE static int stack_deep(int depth, uintptr_t h, uint64_t s) {
    if (depth > 0) {
        volatile char pad[512];
        pad[0] = (char)depth;
        int r = stack_deep(depth - 1, h, s);
        __asm__ volatile("" : : "r"(pad) : "memory");
        return r;
    }
    void *volatile slot[3];
    slot[0] = NULL;
    slot[1] = gmt_unhide(h);
    slot[2] = NULL;
    h = 0;
    collect_churn(10);
    return obj_ok(slot[1], OBJ_SIZE, s);
}

static void test_stack(void) {
    uint64_t s;
    uintptr_t h = gmt_hide(new_obj(OBJ_SIZE, 1, &s));
    CHECK(stack_deep(40, h, s));
    h = gmt_hide(new_obj(100000, 1, &s));
    CHECK(stack_deep(3, h, s) && "large object on the stack");
}

/* ---------------------------------------------------------------------------------
 * Globals in .data and .bss, thread-local storage
 * ------------------------------------------------------------------------------- */

static void *g_bss;
static int g_dummy;
static void *g_data = &g_dummy;
static __thread void *tls_main;
static __thread void *tls_init = &g_dummy;
static uint64_t g_seed[4];

GMT_NOINLINE static void set_globals(void) {
    g_bss = new_obj(OBJ_SIZE, 1, &g_seed[0]);
    g_data = new_obj(OBJ_SIZE, 1, &g_seed[1]);
    tls_main = new_obj(OBJ_SIZE, 1, &g_seed[2]);
    tls_init = new_obj(300000, 1, &g_seed[3]);
}

static void test_globals_tls_main(void) {
    set_globals();
    collect_churn(10);
    CHECK(obj_ok(g_bss, OBJ_SIZE, g_seed[0]) && "global in .bss");
    CHECK(obj_ok(g_data, OBJ_SIZE, g_seed[1]) && "global in .data");
    CHECK(obj_ok(tls_main, OBJ_SIZE, g_seed[2]) && "__thread in main");
    CHECK(obj_ok(tls_init, 300000, g_seed[3]) && "__thread (initialized) in main");
}

static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tls_cv = PTHREAD_COND_INITIALIZER;
static int tls_phase;
static int tls_result;
static __thread void *tls_other[4];

GMT_NOINLINE static void set_tls_other(uint64_t *seeds) {
    tls_other[1] = new_obj(OBJ_SIZE, 1, &seeds[0]);
    tls_other[3] = new_obj(OBJ_SIZE, 0, &seeds[1]);
}

static void *tls_thread(void *arg) {
    (void)arg;
    uint64_t seeds[2];
    set_tls_other(seeds);
    gmt_wipe_stack();
    pthread_mutex_lock(&tls_mu);
    tls_phase = 1;
    pthread_cond_broadcast(&tls_cv);
    while (tls_phase != 2)
        pthread_cond_wait(&tls_cv, &tls_mu);
    pthread_mutex_unlock(&tls_mu);
    tls_result =
        obj_ok(tls_other[1], OBJ_SIZE, seeds[0]) && obj_ok(tls_other[3], OBJ_SIZE, seeds[1]);
    return NULL;
}

static void test_tls_thread(void) {
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, tls_thread, NULL), 0);
    pthread_mutex_lock(&tls_mu);
    while (tls_phase != 1)
        pthread_cond_wait(&tls_cv, &tls_mu);
    pthread_mutex_unlock(&tls_mu);
    collect_churn(10);
    pthread_mutex_lock(&tls_mu);
    tls_phase = 2;
    pthread_cond_broadcast(&tls_cv);
    pthread_mutex_unlock(&tls_mu);
    pthread_join(t, NULL);
    CHECK(tls_result && "__thread in another thread");
}

/* ---------------------------------------------------------------------------------
 * Interior pointers
 * ------------------------------------------------------------------------------- */

static uintptr_t interior_roots[8];
static void *volatile interior_ptr[8];
static uint64_t interior_seed[8];
static const size_t interior_size[8] = {OBJ_SIZE, OBJ_SIZE, OBJ_SIZE, 48,
                                        48,       100000,   100000,   5000000};
static const size_t interior_off[8] = {1, OBJ_SIZE / 2, OBJ_SIZE - 1, 17, 47, 8, 99999, 4500000};

GMT_NOINLINE static void set_interior(void) {
    for (int i = 0; i < 8; i++) {
        char *p = new_obj(interior_size[i], i & 1, &interior_seed[i]);
        interior_roots[i] = gmt_hide(p);
        interior_ptr[i] = p + interior_off[i];
    }
}

static void test_interior(void) {
    set_interior();
    collect_churn(10);
    for (int i = 0; i < 8; i++) {
        char *p = gmt_unhide(interior_roots[i]);
        CHECK(interior_ptr[i] == p + interior_off[i]);
        int ok = obj_ok(p, interior_size[i], interior_seed[i]);
        if (!ok)
            fprintf(stderr, "interior pointer %d (size %zu, offset %zu) did not retain\n", i,
                    interior_size[i], interior_off[i]);
        CHECK(ok);
        CHECK(gm_base(interior_ptr[i]) == p);
    }
    for (int i = 0; i < 8; i++)
        interior_ptr[i] = NULL;
}

/* ---------------------------------------------------------------------------------
 * gm_add_roots / gm_remove_roots
 * ------------------------------------------------------------------------------- */

/* fill_region stores NDEAD fresh objects (DEAD_SIZE, not otherwise used) into slots
 * and records their hidden addresses and seeds. */
static uintptr_t region_hidden[NDEAD];
static uint64_t region_seed[NDEAD];

GMT_NOINLINE static void fill_region(void **slots, size_t stride_words) {
    for (int i = 0; i < NDEAD; i++) {
        void *p = new_obj(DEAD_SIZE, i & 1, &region_seed[i]);
        slots[i * stride_words] = p;
        region_hidden[i] = gmt_hide(p);
    }
}

static int region_alive(void) {
    int n = 0;
    for (int i = 0; i < NDEAD; i++)
        n += obj_ok(gmt_unhide(region_hidden[i]), DEAD_SIZE, region_seed[i]);
    return n;
}
static int region_dead(void) {
    int n = 0;
    for (int i = 0; i < NDEAD; i++) {
        /* dead: not the base of a DEAD_SIZE object any more (its pages may be reused) */
        void *p = gmt_unhide(region_hidden[i]);
        n += gm_base(p) != p || gm_usable_size(p) != DEAD_SIZE;
    }
    return n;
}

GMT_NOINLINE static void fill_cells(void ***cells) {
    for (int i = 0; i < NDEAD; i++) {
        void *p = new_obj(DEAD_SIZE, i & 1, &region_seed[i]);
        cells[i][0] = p;
        region_hidden[i] = gmt_hide(p);
    }
}

static void test_add_roots_block(void **block, size_t bytes, const char *what) {
    memset(block, 0, bytes);
    CHECK_EQ(gm_add_roots(block, (char *)block + bytes), 0);
    fill_region(block + 3, (bytes / sizeof(void *) - 8) / NDEAD);
    collect_churn(10);
    int alive = region_alive();
    if (alive != NDEAD) fprintf(stderr, "%s: %d of %d objects survived\n", what, alive, NDEAD);
    CHECK_EQ(alive, NDEAD);
    CHECK_EQ(gm_remove_roots(block), 0);
    collect_churn(3);
    int dead = region_dead();
    if (dead < NDEAD * 9 / 10)
        fprintf(stderr, "%s: only %d of %d died after gm_remove_roots\n", what, dead, NDEAD);
    CHECK_GE(dead, NDEAD * 9 / 10);
}

static void test_add_roots(void) {
    size_t bytes = 64 * 1024;
    void **m = malloc(bytes);
    test_add_roots_block(m, bytes, "malloc'd root range");
    void **mm = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(mm != MAP_FAILED);
    if (mm != MAP_FAILED) test_add_roots_block(mm, 1 << 20, "mmap'd root range");

    /* a range added twice with the same lo is removed by one gm_remove_roots */
    memset(m, 0, bytes);
    CHECK_EQ(gm_add_roots(m, (char *)m + bytes / 2), 0);
    CHECK_EQ(gm_add_roots(m, (char *)m + bytes), 0);
    fill_region(m + 2, (bytes / sizeof(void *) - 8) / NDEAD);
    collect_churn(3);
    CHECK_EQ(region_alive(), NDEAD);
    CHECK_EQ(gm_remove_roots(m), 0);
    errno = 0;
    CHECK_EQ(gm_remove_roots(m), -1);
    CHECK_EQ(errno, EINVAL);
    collect_churn(3);
    CHECK_GE(region_dead(), NDEAD * 9 / 10);

    /* errors */
    errno = 0;
    CHECK_EQ(gm_add_roots((char *)m + 64, m), -1);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK_EQ(gm_remove_roots((char *)m + 8), -1);
    CHECK_EQ(errno, EINVAL);
    /* an empty range is fine */
    CHECK_EQ(gm_add_roots(m, m), 0);
    CHECK_EQ(gm_remove_roots(m), 0);

    /* bounds are rounded inward to pointer alignment: [w+1, w+15) covers no whole
     * word, so the object stored in w[0] is not retained; [w, w+8) retains it */
    {
        void ***cells = malloc(NDEAD * sizeof *cells);
        for (int i = 0; i < NDEAD; i++) {
            cells[i] = calloc(2, sizeof(void *));
            char *lo = (char *)cells[i];
            CHECK_EQ(gm_add_roots(lo + 1, lo + 15), 0);
        }
        fill_cells(cells);
        collect_churn(3);
        int dead = region_dead();
        if (dead < NDEAD * 9 / 10)
            fprintf(stderr, "unaligned root bounds: %d of %d retained\n", NDEAD - dead, NDEAD);
        CHECK_GE(dead, NDEAD * 9 / 10);
        for (int i = 0; i < NDEAD; i++) {
            CHECK_EQ(gm_remove_roots((char *)cells[i] + 1), 0);
            CHECK_EQ(gm_add_roots(cells[i], (char *)cells[i] + 8), 0);
        }
        fill_cells(cells);
        collect_churn(3);
        CHECK_EQ(region_alive(), NDEAD);
        for (int i = 0; i < NDEAD; i++) {
            CHECK_EQ(gm_remove_roots(cells[i]), 0);
            free(cells[i]);
        }
        free(cells);
    }

    /* many ranges at once (the table grows) */
    enum { NR = 300 };
    void ***blocks = malloc(NR * sizeof *blocks);
    uint64_t *seeds = malloc(NR * sizeof *seeds);
    uintptr_t *hid = malloc(NR * sizeof *hid);
    for (int i = 0; i < NR; i++) {
        blocks[i] = calloc(4, sizeof(void *));
        CHECK_EQ(gm_add_roots(blocks[i], blocks[i] + 4), 0);
        blocks[i][i & 3] = new_obj(OBJ_SIZE, 1, &seeds[i]);
        hid[i] = gmt_hide(blocks[i][i & 3]);
    }
    collect_churn(3);
    int ok = 0;
    for (int i = 0; i < NR; i++)
        ok += obj_ok(gmt_unhide(hid[i]), OBJ_SIZE, seeds[i]);
    CHECK_EQ(ok, NR);
    for (int i = 0; i < NR; i++) {
        CHECK_EQ(gm_remove_roots(blocks[i]), 0);
        free(blocks[i]);
    }
    free(blocks);
    free(seeds);
    free(hid);
    free(m);
    if (mm != MAP_FAILED) munmap(mm, 1 << 20);
}

/* ---------------------------------------------------------------------------------
 * noscan objects do not retain; scanned ones retain chains
 * ------------------------------------------------------------------------------- */

static void **volatile noscan_holder;
static void **volatile scan_holder;

GMT_NOINLINE static void fill_holder(void **h, int noscan_targets) {
    for (int i = 0; i < NDEAD; i++) {
        void *p = new_obj(DEAD_SIZE, noscan_targets, &region_seed[i]);
        h[i * 3 + 1] = p;
        region_hidden[i] = gmt_hide(p);
    }
}

static void test_noscan_does_not_retain(void) {
    noscan_holder = gm_alloc_noscan(NDEAD * 3 * sizeof(void *) + 64);
    fill_holder(noscan_holder, 0);
    collect_churn(3);
    CHECK(gmt_is_live(noscan_holder));
    int dead = region_dead();
    if (dead < NDEAD * 9 / 10)
        fprintf(stderr, "noscan holder retained %d of %d\n", NDEAD - dead, NDEAD);
    CHECK_GE(dead, NDEAD * 9 / 10);

    /* large noscan holder */
    noscan_holder = gm_alloc_noscan(1 << 20);
    fill_holder(noscan_holder, 1);
    collect_churn(3);
    CHECK(gmt_is_live(noscan_holder));
    CHECK_GE(region_dead(), NDEAD * 9 / 10);
    noscan_holder = NULL;

    /* the same with a scanned holder: everything retained */
    scan_holder = gm_alloc(NDEAD * 3 * sizeof(void *) + 64);
    fill_holder(scan_holder, 0);
    collect_churn(3);
    CHECK_EQ(region_alive(), NDEAD);
    scan_holder = gm_alloc(1 << 20);
    fill_holder(scan_holder, 1);
    collect_churn(3);
    CHECK_EQ(region_alive(), NDEAD);
    scan_holder = NULL;
}

/* A chain of scanned nodes of mixed sizes; each links to the next through an
 * interior pointer at a varying offset. Only the head is a root. */
struct chain {
    uint64_t seed;
    size_t size;
    char *next_interior; /* points somewhere inside the next node */
    uint64_t sum;
};

static struct chain *chain_head;

GMT_NOINLINE static void build_chain(int n) {
    uint64_t rng = 7;
    struct chain *prev = NULL;
    for (int i = 0; i < n; i++) {
        size_t size = sizeof(struct chain) + check_rand(&rng) % (i % 50 == 0 ? 70000 : 600);
        struct chain *c = gm_alloc(size);
        c->seed = (uint64_t)i * 31 + 1;
        c->size = size;
        gmt_fill((char *)c + sizeof *c, size - sizeof *c, c->seed);
        c->sum = c->seed ^ size;
        if (prev)
            prev->next_interior = (char *)c + check_rand(&rng) % size;
        else
            chain_head = c;
        prev = c;
    }
}

static void test_chain(void) {
    const int n = 20000;
    build_chain(n);
    collect_churn(5);
    int count = 0, bad = 0;
    struct chain *c = chain_head;
    while (c && count <= n) {
        if (gm_base(c) != c || c->sum != (c->seed ^ c->size) ||
            gmt_verify((char *)c + sizeof *c, c->size - sizeof *c, c->seed) != GMT_OK) {
            bad++;
            break;
        }
        count++;
        c = c->next_interior ? gm_base(c->next_interior) : NULL;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(count, n);
    chain_head = NULL;
}

/* ---------------------------------------------------------------------------------
 * The collector's own frames are not roots
 * ------------------------------------------------------------------------------- */

/* A program's dead stack is full of stale pointers, and the collector's frames land on
 * it: collect_locked's frame is nearly 1 KiB, mostly never written in a cycle. Those
 * frames are below where the thread entered the collector, so they must not be
 * scanned. dirty_stack fills 16 KiB below the caller with the one pointer to an object,
 * leaving the top 512 bytes (gm_collect's own short frames) clean; the object must die
 * in the next gm_collect. Before gomem scanned from its entry point it survived. */
#define FRAMES_CLEAN_WORDS 64
static uintptr_t frames_hidden;
#define FRAMES_DIRTY_WORDS 2048

GMT_NOINLINE __attribute__((no_sanitize("address"))) static void dirty_stack(uintptr_t hidden) {
    volatile uintptr_t buf[FRAMES_DIRTY_WORDS + FRAMES_CLEAN_WORDS];
    uintptr_t v = (uintptr_t)gmt_unhide(hidden);
    for (size_t i = 0; i < FRAMES_DIRTY_WORDS; i++)
        buf[i] = v; /* the deep end */
    for (size_t i = FRAMES_DIRTY_WORDS; i < FRAMES_DIRTY_WORDS + FRAMES_CLEAN_WORDS; i++)
        buf[i] = 0;
    __asm__ volatile("" : : "r"(buf) : "memory");
    gmt_clear_scratch_regs();
}

GMT_NOINLINE static gm_weak_t *frames_victim(void) {
    uint64_t seed;
    void *p = new_obj(DEAD_SIZE, 0, &seed);
    gm_weak_t *h = gm_weak_make(p);
    frames_hidden = gmt_hide(p);
    return h;
}

GMT_NOINLINE static void test_collector_frames(void) {
    int died = 0;
    for (int round = 0; round < 8; round++) {
        gmt_collect_clean();
        gm_weak_t *h = frames_victim();
        gmt_wipe_stack();
        dirty_stack(frames_hidden);
        gm_collect();
        died += gm_weak_get(h) == NULL;
        gm_weak_release(h);
    }
    if (died != 8) fprintf(stderr, "collector frames: object survived %d of 8 times\n", 8 - died);
    CHECK_EQ(died, 8);
}

/* ---------------------------------------------------------------------------------
 * Stack the slow paths used is scrubbed
 * ------------------------------------------------------------------------------- */

/* The allocation slow path saves the caller's callee-saved registers in its frames.
 * Once it returns those copies are dead stack, but a later frame of the program that
 * leaves a slot unwritten reads one back, and the collector takes it for a root.
 * regs_hold_victim keeps the only pointer to an object in every callee-saved register
 * while it allocates across three spans (slow paths and refills); stale_frame then
 * collects from a frame whose 2 KiB array, never written, lies over the stack those
 * slow paths used. The object must die (before the scrubbing, the object survived 8
 * of 8 rounds). x86-64 only: the registers are named. */
#define SCRUB_ROUNDS 8

#if defined(__x86_64__)
/* VICTIM_REGS puts the victim's address in every callee-saved register, KEEP_REGS
 * (after every call) tells the compiler they are still needed there, CLEAR_REGS
 * zeroes them. */
#define VICTIM_REGS(hidden)                                                                        \
    register uintptr_t rbx __asm__("rbx") = (uintptr_t)gmt_unhide(hidden);                         \
    register uintptr_t r12 __asm__("r12") = rbx;                                                   \
    register uintptr_t r13 __asm__("r13") = rbx;                                                   \
    register uintptr_t r14 __asm__("r14") = rbx;                                                   \
    register uintptr_t r15 __asm__("r15") = rbx;                                                   \
    KEEP_REGS()
#define KEEP_REGS() __asm__ volatile("" : "+r"(rbx), "+r"(r12), "+r"(r13), "+r"(r14), "+r"(r15))
#define CLEAR_REGS()                                                                               \
    do {                                                                                           \
        rbx = r12 = r13 = r14 = r15 = 0;                                                           \
        KEEP_REGS();                                                                               \
    } while (0)
#endif

GMT_NOINLINE static void regs_hold_victim(uintptr_t hidden) {
#if defined(__x86_64__)
    VICTIM_REGS(hidden);
    for (int i = 0; i < 3 * 512; i++) {
        void *q = gm_alloc_noscan(16);
        __asm__ volatile("" : : "r"(q));
        KEEP_REGS();
    }
    CLEAR_REGS();
#else
    (void)hidden;
#endif
    gmt_clear_scratch_regs();
}

GMT_NOINLINE __attribute__((no_sanitize("address"))) static void stale_frame(void) {
    volatile uintptr_t buf[256]; /* never written: whatever the slow paths left */
    __asm__ volatile("" : : "r"(buf) : "memory");
    gm_collect();
    __asm__ volatile("" : : "r"(buf) : "memory");
}

/* scrub_check runs SCRUB_ROUNDS rounds of: prepare (if any), a new victim, hold with
 * the victim's only pointer in every callee-saved register, a collection from a stale
 * frame. The victim must die every time. */
GMT_NOINLINE static void scrub_check(const char *what, void (*prepare)(void),
                                     void (*hold)(uintptr_t hidden)) {
    int died = 0;
    for (int round = 0; round < SCRUB_ROUNDS; round++) {
        gmt_collect_clean();
        if (prepare) prepare();
        gm_weak_t *h = frames_victim(); /* the object, hidden in frames_hidden */
        gmt_wipe_stack();
        hold(frames_hidden);
        stale_frame();
        died += gm_weak_get(h) == NULL;
        gm_weak_release(h);
    }
    if (died != SCRUB_ROUNDS)
        fprintf(stderr, "%s scrub: object survived %d of %d times%s\n", what, SCRUB_ROUNDS - died,
                SCRUB_ROUNDS, GMT_ASAN ? " (ASan: frames differ, not checked)" : "");
    /* under ASan the fast paths have frames of their own, which nothing scrubs */
    if (!GMT_ASAN) CHECK_EQ(died, SCRUB_ROUNDS);
}

GMT_NOINLINE static void test_slow_path_scrub(void) {
#if defined(__x86_64__)
    scrub_check("slow path", NULL, regs_hold_victim);
#endif
}

/* The free slow paths do the same: a free that finds the reuse stack full passes
 * objects to the transfer list under a lock and then to the pending bitmap, a large
 * free or allocation takes the central and heap locks. regs_free_victim frees such
 * objects and allocates large ones with the victim in every callee-saved register;
 * the object must die as above (it survived 8 of 8 rounds before the free paths were
 * scrubbed, and 1 of 8 with a 512-byte scrub after large frees). */
enum { FREE_SMALL = 3 * 512, FREE_LARGE = 8 };
static void *free_small_objs[FREE_SMALL];
static void *free_large_objs[FREE_LARGE];

GMT_NOINLINE static void regs_free_victim(uintptr_t hidden) {
#if defined(__x86_64__)
    VICTIM_REGS(hidden);
    for (int i = 0; i < FREE_LARGE; i++) { /* large allocations first, garbage at once: */
        void *q = gm_alloc_noscan(40000 + 8192 * (size_t)i); /* their scrub must not */
        __asm__ volatile("" : : "r"(q));                     /* clean up after the frees */
        KEEP_REGS();
    }
    for (int i = 0; i < FREE_SMALL; i++) {
        gm_free(free_small_objs[i]);
        KEEP_REGS();
    }
    for (int i = 0; i < FREE_LARGE; i++) {
        gm_free(free_large_objs[i]);
        KEEP_REGS();
    }
    CLEAR_REGS();
#else
    (void)hidden;
#endif
    gmt_clear_scratch_regs();
}

GMT_NOINLINE static void free_path_objects(void) {
    for (int i = 0; i < FREE_SMALL; i++)
        free_small_objs[i] = gm_alloc_noscan(16);
    for (int i = 0; i < FREE_LARGE; i++)
        free_large_objs[i] = gm_alloc_noscan(40000);
}

GMT_NOINLINE static void test_free_path_scrub(void) {
#if defined(__x86_64__)
    scrub_check("free path", free_path_objects, regs_free_victim);
#endif
}

int main(void) {
    gm_init();
    test_register_thread();
    CHECK(register_main());
    test_stack();
    test_globals_tls_main();
    test_tls_thread();
    test_interior();
    test_add_roots();
    test_noscan_does_not_retain();
    test_chain();
    test_collector_frames();
    test_slow_path_scrub();
    test_free_path_scrub();
    return check_done();
}
