/* soak.c: a long multithreaded run of gomem (not part of make test; see README.md).
 *
 *   soak [seconds]   (default 600)
 *
 * Worker threads come and go (each lives a random 0.1-2 s). They swap objects in and out
 * of a shared table of slots with atomic exchanges, so an object taken out belongs to the
 * thread that took it, usually not the one that allocated it. Each object carries a
 * checksum of its bytes, verified whenever it is taken out. A taken object is freed
 * (cross-thread gm_free), dropped for the collector, or grown/shrunk with gm_realloc and
 * put back. Scanned objects hold a pointer to a noscan buffer, also checksummed. The main
 * thread calls gm_collect now and then and forks every few seconds: the child verifies
 * every object in the table, allocates, collects, verifies again and exits with the
 * number of bad objects. At the end: cycles, objects allocated, errors; exit 1 on error. */
#include <gomem.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSLOTS   8192
#define NWORKERS 6
#define MAGIC    0x50414b53u

typedef struct buf {
    uint32_t magic, len;
    uint64_t sum;
    unsigned char data[];
} buf_t;

typedef struct node {
    uint32_t magic, len;
    uint64_t sum;
    buf_t *child;
    unsigned char data[];
} node_t;

static _Atomic(node_t *) slots[NSLOTS];
static _Atomic unsigned long n_objects, n_errors, n_frees, n_reallocs, n_forks, n_threads;
static _Atomic int stop;

static uint64_t rng(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static uint64_t checksum(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void fill(unsigned char *p, size_t n, uint64_t *s) {
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = rng(s);
        memcpy(p + i, &v, n - i < 8 ? n - i : 8);
    }
}

static void error(const char *what, const void *p) {
    atomic_fetch_add(&n_errors, 1);
    fprintf(stderr, "soak: ERROR %s at %p\n", what, p);
}

static size_t pick_size(uint64_t *s) {
    uint64_t r = rng(s);
    if (r % 100 == 0) return 33000 + r % 100000; /* large */
    if (r % 10 == 0) return r % 4000;
    return r % 256;
}

static buf_t *new_buf(uint64_t *s) {
    size_t n = pick_size(s);
    buf_t *b = gm_alloc_noscan(sizeof *b + n);
    if (b == NULL) return NULL;
    b->magic = MAGIC, b->len = (uint32_t)n;
    fill(b->data, n, s);
    b->sum = checksum(b->data, n);
    atomic_fetch_add(&n_objects, 1);
    return b;
}

static node_t *new_node(uint64_t *s) {
    size_t n = pick_size(s) / 4;
    node_t *o = gm_alloc(sizeof *o + n);
    if (o == NULL) return NULL;
    o->magic = MAGIC, o->len = (uint32_t)n;
    fill(o->data, n, s);
    o->sum = checksum(o->data, n);
    o->child = (rng(s) & 1) ? new_buf(s) : NULL;
    atomic_fetch_add(&n_objects, 1);
    return o;
}

static int check_buf(const buf_t *b) {
    if (b == NULL) return 1;
    if (b->magic != MAGIC || gm_usable_size(b) < sizeof *b + b->len ||
        checksum(b->data, b->len) != b->sum) {
        error("noscan buffer corrupt", b);
        return 0;
    }
    return 1;
}

static int check_node(const node_t *o) {
    if (o->magic != MAGIC || gm_usable_size(o) < sizeof *o + o->len ||
        checksum(o->data, o->len) != o->sum) {
        error("object corrupt", o);
        return 0;
    }
    return check_buf(o->child);
}

/* The child grows or shrinks: data kept, the new tail filled and summed again. */
static buf_t *realloc_buf(buf_t *b, uint64_t *s) {
    size_t n = pick_size(s);
    size_t keep = b == NULL ? 0 : (b->len < n ? b->len : n);
    uint64_t pre = b == NULL ? 0 : checksum(b->data, keep);
    buf_t *r = gm_realloc(b, sizeof *r + n);
    if (r == NULL) return b;
    if (b == NULL)
        atomic_fetch_add(&n_objects, 1);
    else if (checksum(r->data, keep) != pre)
        error("realloc lost data", r);
    if (n > keep) fill(r->data + keep, n - keep, s);
    r->magic = MAGIC;
    r->len = (uint32_t)n;
    r->sum = checksum(r->data, n);
    atomic_fetch_add(&n_reallocs, 1);
    return r;
}

static void *worker(void *arg) {
    uint64_t s = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double life = 0.1 + (double)(rng(&s) % 1900) / 1000.0;
    for (unsigned long it = 0; !atomic_load(&stop); it++) {
        size_t i = rng(&s) % NSLOTS;
        node_t *o = new_node(&s);
        node_t *old = atomic_exchange(&slots[i], o);
        if (old != NULL && check_node(old)) {
            switch (rng(&s) % 4) {
            case 0: /* explicit (usually cross-thread) free */
                gm_free(old->child);
                gm_free(old);
                atomic_fetch_add(&n_frees, 1);
                break;
            case 1: /* realloc the buffer and put the object back if the slot is empty */
                old->child = realloc_buf(old->child, &s);
                {
                    node_t *want = NULL;
                    atomic_compare_exchange_strong(&slots[(i + 1) % NSLOTS], &want, old);
                }
                break;
            default: /* dropped: the collector frees it */
                break;
            }
        }
        if ((it & 255) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 > life)
                break;
        }
    }
    return NULL;
}

static unsigned long verify_table(void) {
    unsigned long bad = 0;
    for (size_t i = 0; i < NSLOTS; i++) {
        node_t *o = atomic_load(&slots[i]);
        if (o != NULL && !check_node(o)) bad++;
    }
    return bad;
}

static void fork_check(void) {
    pid_t pid = fork();
    if (pid < 0) return;
    if (pid == 0) {
        uint64_t s = 12345;
        unsigned long bad = verify_table();
        for (int k = 0; k < 2000; k++)
            atomic_store(&slots[rng(&s) % NSLOTS], new_node(&s));
        gm_collect();
        bad += verify_table();
        _exit(bad ? 1 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    atomic_fetch_add(&n_forks, 1);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) error("forked child failed verification", NULL);
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 600;
    gm_init();
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[NWORKERS];
    int live[NWORKERS] = {0};
    unsigned long seq = 0, ticks = 0;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        if (el >= secs) break;
        for (int k = 0; k < NWORKERS; k++) {
            if (live[k] && pthread_tryjoin_np(th[k], NULL) == 0) live[k] = 0;
            if (!live[k] && pthread_create(&th[k], NULL, worker, (void *)(uintptr_t)++seq) == 0) {
                live[k] = 1;
                atomic_fetch_add(&n_threads, 1);
            }
        }
        ticks++;
        if (ticks % 20 == 0) gm_collect();
        if (ticks % 300 == 0) fork_check();
        usleep(10000);
    }
    atomic_store(&stop, 1);
    for (int k = 0; k < NWORKERS; k++)
        if (live[k]) pthread_join(th[k], NULL);
    gm_collect();
    unsigned long bad = verify_table();
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    clock_gettime(CLOCK_MONOTONIC, &t);
    printf("soak: %.1f s, %u cycles, %lu objects, %lu frees, %lu reallocs, %lu threads, "
           "%lu forks, heap_alloc %llu, errors %lu\n",
           (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9, ms.num_gc,
           atomic_load(&n_objects), atomic_load(&n_frees), atomic_load(&n_reallocs),
           atomic_load(&n_threads), atomic_load(&n_forks), (unsigned long long)ms.heap_alloc,
           atomic_load(&n_errors) + bad);
    return atomic_load(&n_errors) + bad ? 1 : 0;
}
