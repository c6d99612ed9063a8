/* churn.c: two threads allocate and free small objects, half of them freed by the other
 * thread, every back-end with its explicit free (gm_free, GC_FREE, free).
 *
 * Each thread keeps a window of WINDOW live objects. One operation replaces a random
 * slot with a new object of a random small size (16..512 bytes, weighted to the small
 * end) and either frees the old object itself or hands it to the other thread through
 * a single-producer single-consumer ring; each thread drains its incoming ring as it
 * goes and frees what it finds. When its outgoing ring is full a thread drains its own,
 * yields the CPU and retries, so the two never wait on each other and a thread that is
 * ahead does not burn the CPU its peer needs (on a loaded 2-core machine the peer is
 * often descheduled; a ring of 16384 entries absorbs most of those gaps).
 *
 * Every object carries a stamp (thread, sequence number and size) in its first word and
 * the stamp's complement in its last; the thread that frees it checks both and adds the
 * stamp to its sum. At the end the sums of stamps allocated
 * and freed must be equal. Windows and rings are static, so GC back-ends see every
 * object in flight as reachable.
 *
 * Usage: churn [ops_per_thread [threads]]   (defaults 10000000 2; threads must be even) */
#include "backend.h"
#include <sched.h>
#include <stdatomic.h>

enum { WINDOW = 4096, RING = 16384, MAX_THREADS = 16 };

typedef struct ring_s {
    _Atomic uint64_t head; /* next slot the consumer reads */
    char pad1[56];
    _Atomic uint64_t tail; /* next slot the producer writes */
    char pad2[56];
    void *_Atomic slot[RING];
} ring_t;

typedef struct thread_state_s {
    void *window[WINDOW];
    uint64_t alloc_sum, free_sum, cross_frees, nallocs;
    char pad[64];
} thread_state_t;

static ring_t rings[MAX_THREADS]; /* rings[t]: objects sent to thread t */
static thread_state_t states[MAX_THREADS];
static long ops_per_thread;
static int nthreads;
static _Atomic int producers_left;


/* make_stamp: thread in bits 56..63, sequence number in 10..55, size in 0..9. */
static inline uint64_t make_stamp(long me, uint64_t seq, size_t size) {
    return ((uint64_t)me << 56) | (seq << 10) | size;
}

/* An object: word 0 is the stamp, the last word its complement. */
static void *make_object(uint64_t stamp) {
    size_t size = stamp & 1023;
    uint64_t *o = bk_check(bk_alloc(size), size);
    o[0] = stamp;
    o[size / 8 - 1] = ~stamp;
    return o;
}

static int free_object(thread_state_t *st, void *p) {
    uint64_t *o = p;
    size_t size = o[0] & 1023;
    int ok = size >= 16 && size <= 512 && o[size / 8 - 1] == ~o[0];
    st->free_sum += o[0];
    bk_free(p);
    return ok;
}

static int ring_push(ring_t *r, void *p) {
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING)
        return 0;
    atomic_store_explicit(&r->slot[t % RING], p, memory_order_relaxed);
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return 1;
}

/* ring_drain frees everything queued for this thread; returns 0 on a bad object. */
static int ring_drain(ring_t *r, thread_state_t *st) {
    int ok = 1;
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    for (; h != t; h++) {
        void *p = atomic_load_explicit(&r->slot[h % RING], memory_order_relaxed);
        atomic_store_explicit(&r->slot[h % RING], NULL, memory_order_relaxed);
        ok &= free_object(st, p);
        st->cross_frees++;
    }
    atomic_store_explicit(&r->head, h, memory_order_release);
    return ok;
}

static _Atomic int all_ok = 1;

static void *worker(void *arg) {
    long me = (long)(intptr_t)arg;
    long peer = me ^ 1;
    thread_state_t *st = &states[me];
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(me + 1);
    int ok = 1;
    bk_thread_register();

    for (int i = 0; i < WINDOW; i++) {
        uint64_t r = bk_xorshift(&rng);
        uint64_t stamp = make_stamp(me, ++st->nallocs, bk_churn_sizes[r & 15]);
        st->window[i] = make_object(stamp);
        st->alloc_sum += stamp;
    }
    for (long op = 0; op < ops_per_thread; op++) {
        uint64_t r = bk_xorshift(&rng);
        size_t slot = (r >> 8) % WINDOW;
        uint64_t stamp = make_stamp(me, ++st->nallocs, bk_churn_sizes[r & 15]);
        void *old = st->window[slot];
        st->window[slot] = make_object(stamp);
        st->alloc_sum += stamp;
        if (r & 16) {
            ok &= free_object(st, old);
        } else {
            while (!ring_push(&rings[peer], old)) {
                ok &= ring_drain(&rings[me], st);
                sched_yield(); /* the peer is behind, most likely descheduled */
            }
        }
        if ((op & 63) == 0) {
            ok &= ring_drain(&rings[me], st);
            if (me == 0)
                bk_poll();
        }
    }
    /* Free the window, then keep draining until the peer has stopped sending. */
    for (int i = 0; i < WINDOW; i++) {
        ok &= free_object(st, st->window[i]);
        st->window[i] = NULL;
    }
    atomic_fetch_sub(&producers_left, 1);
    while (atomic_load(&producers_left) > 0) {
        ok &= ring_drain(&rings[me], st);
        sched_yield();
    }
    ok &= ring_drain(&rings[me], st);
    if (!ok)
        atomic_store(&all_ok, 0);
    bk_thread_unregister();
    return NULL;
}

int main(int argc, char **argv) {
    ops_per_thread = argc > 1 ? atol(argv[1]) : 10000000;
    nthreads = argc > 2 ? atoi(argv[2]) : 2;
    if (ops_per_thread < 1 || nthreads < 2 || nthreads > MAX_THREADS || nthreads % 2) {
        fprintf(stderr, "usage: churn [ops_per_thread [threads (even)]]\n");
        return 2;
    }
    bk_init();
    atomic_store(&producers_left, nthreads);
    pthread_t th[MAX_THREADS];
    for (long t = 0; t < nthreads; t++) {
        if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) != 0) {
            fprintf(stderr, "churn: pthread_create failed\n");
            return 2;
        }
    }
    for (long t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);

    uint64_t a = 0, f = 0, cross = 0, n = 0;
    for (int t = 0; t < nthreads; t++) {
        a += states[t].alloc_sum;
        f += states[t].free_sum;
        cross += states[t].cross_frees;
        n += states[t].nallocs;
    }
    int ok = atomic_load(&all_ok) && a == f;
    fprintf(stderr, "churn: %llu objects, %llu freed by the other thread, sums %s\n",
            (unsigned long long)n, (unsigned long long)cross, a == f ? "match" : "DIFFER");
    return bk_result("churn", ok);
}
