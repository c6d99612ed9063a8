/* fuzz_ops.c: libFuzzer target for the heap itself. Each input is decoded, 4 bytes per
 * step (op, a, b, c), into operations on a table of up to 64 tracked objects: alloc,
 * alloc_noscan (sizes 0 .. 1 MiB, across the 32 KiB large-object boundary), realloc,
 * gm_free, gm_collect, gm_add_roots / gm_remove_roots of a root array, storing a pointer
 * to one object in another (scanned) object or in the root array, dropping references,
 * rewriting contents, and a short burst of allocating threads (joined in the step).
 *
 * The harness keeps objects alive only through memory it shows the collector: `held`
 * (malloc'd, registered once with gm_add_roots), `uroots` (malloc'd, registered and
 * unregistered by the input) and word 0 of scanned objects. Its own side table stores
 * pointers XOR-masked, so the collector never sees them. After every step it computes
 * which tracked objects are reachable, forgets the others (they may be collected at any
 * time), checks the contents of the reachable ones against their fill pattern, and runs
 * the internal heap verifier (gmi_verify_heap) with the world stopped.
 *
 *   cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DGM_BUILD_FUZZ=ON
 *   cmake --build build/fuzz --target fuzz_ops && cp -r tests/fuzz/corpus/ops /tmp/c
 *   build/fuzz/tests/fuzz_ops -max_total_time=120 /tmp/c
 *
 * With -DGM_FUZZ_REPLAY the file has its own main that runs every file (or every file
 * in each directory) named on the command line once: `make test` replays the seeds. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gomem.h"
#include "internal.h"
#include "gc_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The byte loops over objects up to 1 MiB carry no coverage feedback worth its cost. */
#if defined(__clang__)
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define NO_COVERAGE
#endif

#define NSLOT        64
#define NUROOT       8
#define MAX_STEPS    256
#define MAX_SIZE     ((size_t)1 << 20)
#define MAX_COLLECTS 2 /* per input: a collection scans libFuzzer's 10 MB .bss (~3 ms) */
#define HIDE_MASK    ((uintptr_t)0xa5a5a5a5a5a5a5a5u)

typedef struct {
    uintptr_t hidden; /* object base ^ HIDE_MASK; 0 = slot empty */
    size_t size;      /* requested size */
    size_t filled;    /* bytes [0, filled) follow the pattern, [filled, size) are zero */
    uint8_t seed;
    uint8_t noscan;
    int link; /* slot whose base word 0 holds (scanned objects of size >= 8), or -1 */
} slot_t;

static slot_t slots[NSLOT];
static void **held;   /* NSLOT words, always a root */
static void **uroots; /* NUROOT words, a root while uroots_on */
static int uroot_slot[NUROOT];
static int uroots_on;
static int step_no;
static int collects; /* gm_collect calls left in this input */

static void fail(const char *what, int slot) {
    fprintf(stderr, "fuzz_ops: step %d: %s (slot %d)\n", step_no, what, slot);
    abort();
}

static inline uint8_t *obj(int i) {
    return (uint8_t *)(slots[i].hidden ^ HIDE_MASK);
}
static inline int live(int i) {
    return slots[i].hidden != 0;
}
static inline uint8_t pat(uint8_t seed, size_t k) {
    return (uint8_t)(seed + k * 131u + (k >> 8));
}
/* first byte covered by the pattern: word 0 of a scanned object is its link word */
static inline size_t pat_start(int i) {
    return (!slots[i].noscan && slots[i].size >= 8) ? 8 : 0;
}

NO_COVERAGE static void fill(int i, uint8_t seed) {
    uint8_t *p = obj(i);
    for (size_t k = pat_start(i); k < slots[i].size; k++)
        p[k] = pat(seed, k);
    slots[i].seed = seed;
    slots[i].filled = slots[i].size;
}

NO_COVERAGE static void check_byte(int i, size_t k) {
    uint8_t want = k < slots[i].filled ? pat(slots[i].seed, k) : 0;
    if (obj(i)[k] != want) {
        fprintf(stderr, "fuzz_ops: object %p size %zu byte %zu is %u, want %u\n", (void *)obj(i),
                slots[i].size, k, obj(i)[k], want);
        fail("contents changed", i);
    }
}

/* check_obj checks the pattern: every byte of small objects, a sample of big ones. */
NO_COVERAGE static void check_obj(int i) {
    size_t n = slots[i].size, k0 = pat_start(i);
    if (n - k0 <= 4096) {
        for (size_t k = k0; k < n; k++)
            check_byte(i, k);
    } else {
        for (size_t k = k0; k < k0 + 256; k++)
            check_byte(i, k);
        for (size_t k = n - 256; k < n; k++)
            check_byte(i, k);
        for (size_t k = k0; k < n; k += 509)
            check_byte(i, k);
        if (slots[i].filled > k0 && slots[i].filled < n) check_byte(i, slots[i].filled);
    }
    if (k0 == 8) {
        void *w;
        memcpy(&w, obj(i), sizeof w);
        void *want = slots[i].link >= 0 ? obj(slots[i].link) : NULL;
        if (w != want) fail("link word changed", i);
    }
    if (gm_usable_size(obj(i)) < n) fail("usable size below requested size", i);
}

/* forget drops every reference the harness knows to slot i, then the slot itself. */
static void forget(int i, int clear_words) {
    for (int k = 0; k < NSLOT; k++)
        if (live(k) && slots[k].link == i) {
            if (clear_words) memset(obj(k), 0, sizeof(void *));
            slots[k].link = -1;
        }
    for (int k = 0; k < NUROOT; k++)
        if (uroot_slot[k] == i) {
            if (clear_words) uroots[k] = NULL;
            uroot_slot[k] = -1;
        }
    held[i] = NULL;
    memset(&slots[i], 0, sizeof slots[i]);
    slots[i].link = -1;
}

/* update_refs rewrites every reference to slot i after it moved to np. */
static void update_refs(int i, void *np) {
    for (int k = 0; k < NSLOT; k++)
        if (live(k) && slots[k].link == i) /* a self-link lives in the new object */
            memcpy(k == i ? (uint8_t *)np : obj(k), &np, sizeof np);
    for (int k = 0; k < NUROOT; k++)
        if (uroot_slot[k] == i) uroots[k] = np;
    if (held[i]) held[i] = np;
}

/* sweep_unreachable forgets the objects nothing visible to the collector reaches. */
static void sweep_unreachable(void) {
    int reach[NSLOT] = {0}, stack[NSLOT], sp = 0;
    for (int i = 0; i < NSLOT; i++)
        if (live(i) && held[i] && !reach[i]) reach[i] = 1, stack[sp++] = i;
    if (uroots_on)
        for (int k = 0; k < NUROOT; k++) {
            int j = uroot_slot[k];
            if (j >= 0 && !reach[j]) reach[j] = 1, stack[sp++] = j;
        }
    while (sp > 0) {
        int j = slots[stack[--sp]].link;
        if (j >= 0 && !reach[j]) reach[j] = 1, stack[sp++] = j;
    }
    for (int i = 0; i < NSLOT; i++)
        if (live(i) && !reach[i]) {
            /* unreachable: never touch it again; its edges go with it */
            int dead = i;
            slots[dead].link = -1;
            forget(dead, 0);
        }
}

static size_t decode_size(uint8_t a, uint8_t b, uint8_t c) {
    unsigned sel = a & 15;
    size_t n;
    if (sel == 0)
        n = 0;
    else if (sel <= 8)
        n = 1 + b;
    else if (sel <= 12)
        n = 1 + (((size_t)b << 4) | (c & 15));
    else if (sel <= 14)
        n = 1 + (((size_t)b << 8) | c);
    else
        n = 32768 + 1 + (((size_t)b << 8) | c) * 15;
    return n > MAX_SIZE ? MAX_SIZE : n;
}

static void do_alloc(int i, size_t n, int noscan, uint8_t seed) {
    if (live(i)) forget(i, 1);
    void *p = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
    if (p == NULL) fail("alloc returned NULL", i);
    held[i] = p;
    slots[i].hidden = (uintptr_t)p ^ HIDE_MASK;
    slots[i].size = n;
    slots[i].noscan = (uint8_t)noscan;
    slots[i].link = -1;
    slots[i].filled = 0;
    check_obj(i); /* zeroed */
    fill(i, seed);
}

static void do_realloc(int i, size_t n) {
    if (!live(i)) return;
    size_t old = slots[i].size, k0 = pat_start(i);
    void *np = gm_realloc(obj(i), n);
    if (np == NULL) fail("realloc returned NULL", i);
    update_refs(i, np);
    slots[i].hidden = (uintptr_t)np ^ HIDE_MASK;
    slots[i].size = n;
    if (slots[i].filled > n) slots[i].filled = n;
    (void)old;
    if (k0 == 8 && n < 8) {
        /* the link word was cut: the old target is no longer referenced from here */
        slots[i].link = -1;
        slots[i].filled = 0;
        /* bytes [0, n) held part of a pointer; rewrite them as pattern */
        for (size_t k = 0; k < n; k++)
            obj(i)[k] = pat(slots[i].seed, k);
        slots[i].filled = n;
    } else if (k0 == 0 && !slots[i].noscan && n >= 8) {
        /* grew past one word: word 0 becomes the link word, holding pattern bytes */
        memset(obj(i), 0, 8);
    }
    check_obj(i);
}

static void do_link(int i, int j) {
    if (!live(i) || !live(j) || pat_start(i) != 8) return;
    void *p = obj(j);
    memcpy(obj(i), &p, sizeof p);
    slots[i].link = j;
}

/* ---- threads: a few allocate a chain each, optionally collect, check it, exit ---- */
typedef struct {
    size_t size;
    int collect;
    int ok;
} thr_arg_t;

static void *thr_main(void *argp) {
    thr_arg_t *a = argp;
    gm_thread_register();
    void *head = NULL;
    for (int n = 0; n < 16; n++) {
        uint8_t *p = gm_alloc(a->size);
        if (p == NULL) return NULL;
        memcpy(p, &head, sizeof head);
        for (size_t k = 8; k < a->size; k++)
            p[k] = (uint8_t)(n + k);
        head = p;
    }
    if (a->collect) gm_collect();
    int n = 15;
    for (uint8_t *p = head; p != NULL; n--) {
        for (size_t k = 8; k < a->size; k++)
            if (p[k] != (uint8_t)(n + k)) return NULL;
        memcpy(&p, (const void *)p, sizeof(void *));
    }
    a->ok = n == -1;
    gm_thread_unregister();
    return NULL;
}

static void do_threads(uint8_t a, uint8_t b) {
    int nthr = 1 + (a & 1);
    pthread_t t[2];
    thr_arg_t args[2];
    for (int k = 0; k < nthr; k++) {
        int col = ((a >> 1) & 1) && collects > 0;
        if (col) collects--;
        args[k] = (thr_arg_t){.size = 8 + (size_t)((b + 40 * k) & 255), .collect = col, .ok = 0};
        if (pthread_create(&t[k], NULL, thr_main, &args[k]) != 0) {
            nthr = k;
            break;
        }
    }
    for (int k = 0; k < nthr; k++) {
        pthread_join(t[k], NULL);
        if (!args[k].ok) fail("thread chain corrupted", -1);
    }
}

static void setup(void) {
    static int done;
    if (done) return;
    done = 1;
    gm_init();
    held = calloc(NSLOT, sizeof(void *));
    uroots = calloc(NUROOT, sizeof(void *));
    if (held == NULL || uroots == NULL) abort();
    if (gm_add_roots(held, held + NSLOT) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    for (int i = 0; i < NSLOT; i++) {
        memset(&slots[i], 0, sizeof slots[i]);
        slots[i].link = -1;
        held[i] = NULL;
    }
    for (int k = 0; k < NUROOT; k++)
        uroot_slot[k] = -1, uroots[k] = NULL;
    uroots_on = 0;
    collects = MAX_COLLECTS;

    for (step_no = 0; step_no < MAX_STEPS && (size_t)step_no * 4 + 4 <= size; step_no++) {
        const uint8_t *s = data + (size_t)step_no * 4;
        uint8_t op = s[0], a = s[1], b = s[2], c = s[3];
        int i = a % NSLOT, j = b % NSLOT;
        switch (op % 13) {
        case 0:
            do_alloc(i, decode_size(b, c, (uint8_t)(a ^ c)), 0, c);
            break;
        case 1:
            do_alloc(i, decode_size(b, c, (uint8_t)(a ^ c)), 1, c);
            break;
        case 2:
            do_realloc(i, decode_size(b, c, (uint8_t)(a ^ c)));
            break;
        case 3:
            if (live(i)) {
                void *p = obj(i);
                forget(i, 1);
                gm_free(p);
            }
            break;
        case 4:
            if (collects > 0) collects--, gm_collect();
            break;
        case 5:
            if (!uroots_on && gm_add_roots(uroots, uroots + NUROOT) != 0) fail("gm_add_roots", -1);
            uroots_on = 1;
            break;
        case 6:
            if (uroots_on && gm_remove_roots(uroots) != 0) fail("gm_remove_roots", -1);
            uroots_on = 0;
            /* stale words stay in uroots; the harness no longer counts them */
            for (int k = 0; k < NUROOT; k++)
                uroot_slot[k] = -1;
            break;
        case 7:
            do_link(i, j);
            break;
        case 8:
            if (live(j)) {
                uroots[a % NUROOT] = obj(j);
                uroot_slot[a % NUROOT] = j;
            }
            break;
        case 9:
            held[i] = NULL;
            break;
        case 10:
            if (live(i) && pat_start(i) == 8) {
                memset(obj(i), 0, sizeof(void *));
                slots[i].link = -1;
            }
            break;
        case 11:
            if (live(i)) {
                if (pat_start(i) == 0 || slots[i].size > 8) fill(i, c);
            }
            break;
        case 12:
            do_threads(a, b);
            break;
        }
        sweep_unreachable();
        for (int k = 0; k < NSLOT; k++)
            if (live(k)) check_obj(k);
        gmi_verify_heap();
    }
    /* drop everything; the next input starts from an empty table */
    for (int i = 0; i < NSLOT; i++)
        held[i] = NULL;
    for (int k = 0; k < NUROOT; k++)
        uroots[k] = NULL;
    if (uroots_on) gm_remove_roots(uroots);
    return 0;
}

#ifdef GM_FUZZ_REPLAY
#include "replay.h"

int main(int argc, char **argv) {
    return fuzz_replay_main("fuzz_ops", argc, argv);
}
#endif
