/* test_thread_stress.c: 10 worker threads on (typically) 2 cores allocate, pass messages to
 * each other through a shared queue, free some explicitly on the receiving thread,
 * keep private structures and thread-local objects, and call gm_collect now and then;
 * everything is verified by checksums. Meanwhile short-lived threads start and exit
 * while collections run, and two threads sit blocked in read() on a pipe holding
 * objects only on their stacks. */
#include "api/gmtest.h"

#include <pthread.h>
#include <stdatomic.h>

#define NWORKERS 10
#define QCAP     4096

struct msg {
    uint64_t magic;
    uint64_t seed;
    size_t len;
    uint8_t *payload; /* noscan or scanned, filled with gmt_fill(seed) */
    struct msg *self; /* points to itself: scanned field */
    uint64_t sum;
};
#define MSG_MAGIC 0x6d73676d73676d73ULL

/* the queue lives in .bss: a global root */
static struct msg *queue[QCAP];
static size_t q_head, q_tail, q_len;
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;

static _Atomic long verified, corrupt, sent, received, freed_remote, collections, churned;
static _Atomic int stop_churn;
static long iterations = 200000;

static uint64_t msg_sum(const struct msg *m) {
    return m->magic ^ m->seed * 31 ^ (uint64_t)m->len ^ (uint64_t)(uintptr_t)m->payload;
}

static struct msg *msg_new(uint64_t *rng) {
    struct msg *m = gm_alloc(sizeof *m);
    if (!m) return NULL;
    uint64_t r = check_rand(rng);
    size_t len = r % 1000 == 0 ? 40000 + r % 300000 : r % 10 == 0 ? 1000 + r % 20000 : 1 + r % 500;
    m->payload = (r >> 20) & 1 ? gm_alloc_noscan(len) : gm_alloc(len);
    if (!m->payload) return NULL;
    m->magic = MSG_MAGIC;
    m->seed = check_rand(rng);
    m->len = len;
    gmt_fill(m->payload, len, m->seed);
    m->self = m;
    m->sum = msg_sum(m);
    return m;
}

static int msg_ok(const struct msg *m) {
    if (!m || gm_base(m) != m || m->magic != MSG_MAGIC || m->self != m || m->sum != msg_sum(m))
        return 0;
    if (gm_base(m->payload) != m->payload || gm_usable_size(m->payload) < m->len) return 0;
    return gmt_verify(m->payload, m->len, m->seed) == GMT_OK;
}

static void msg_check(const struct msg *m, const char *where) {
    if (msg_ok(m)) {
        atomic_fetch_add(&verified, 1);
    } else {
        if (atomic_fetch_add(&corrupt, 1) < 10)
            fprintf(stderr, "corrupt message %p (%s)\n", (void *)m, where);
    }
}

/* push returns a message displaced from a full queue (the caller owns it) or NULL */
static struct msg *q_push(struct msg *m) {
    struct msg *out = NULL;
    pthread_mutex_lock(&q_mu);
    if (q_len == QCAP) {
        out = queue[q_head];
        queue[q_head] = NULL;
        q_head = (q_head + 1) % QCAP;
        q_len--;
    }
    queue[q_tail] = m;
    q_tail = (q_tail + 1) % QCAP;
    q_len++;
    pthread_mutex_unlock(&q_mu);
    return out;
}

static struct msg *q_pop(void) {
    struct msg *m = NULL;
    pthread_mutex_lock(&q_mu);
    if (q_len) {
        m = queue[q_head];
        queue[q_head] = NULL;
        q_head = (q_head + 1) % QCAP;
        q_len--;
    }
    pthread_mutex_unlock(&q_mu);
    return m;
}

/* a private linked list per worker, rooted on the worker's stack */
struct pnode {
    struct pnode *next;
    uint64_t v;
    char *label; /* noscan */
};

static __thread struct msg *tls_msg; /* thread-local root */
static __thread uint64_t tls_seed_check;

static void received_msg(struct msg *m, uint64_t *rng, struct msg **keep, int nkeep) {
    msg_check(m, "received");
    atomic_fetch_add(&received, 1);
    switch (check_rand(rng) % 4) {
    case 0: /* free explicitly, usually on another thread than the allocating one */
        gm_free(m->payload);
        gm_free(m);
        atomic_fetch_add(&freed_remote, 1);
        break;
    case 1: { /* keep a while, replacing an older kept message */
        int k = (int)(check_rand(rng) % (uint64_t)nkeep);
        if (keep[k]) msg_check(keep[k], "kept");
        keep[k] = m;
        break;
    }
    default: /* drop: the collector frees it */
        break;
    }
}

static void *worker(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg * 7919 + 1;
    struct msg *keep[64] = {0};
    struct pnode *plist = NULL;
    long plen = 0;
    uint64_t psum = 0;
    tls_msg = msg_new(&rng);
    tls_seed_check = tls_msg->seed;
    for (long it = 0; it < iterations; it++) {
        uint64_t r = check_rand(&rng);
        struct msg *m = msg_new(&rng);
        if (!m) {
            atomic_fetch_add(&corrupt, 1);
            break;
        }
        atomic_fetch_add(&sent, 1);
        struct msg *displaced = q_push(m);
        if (displaced) received_msg(displaced, &rng, keep, 64);
        for (int k = 0; k < 2; k++) {
            struct msg *in = q_pop();
            if (in) received_msg(in, &rng, keep, 64);
        }
        /* private list: grow, and sometimes cut it */
        struct pnode *n = gm_alloc(sizeof *n);
        n->v = r;
        n->label = gm_alloc_noscan(16);
        snprintf(n->label, 16, "%llx", (unsigned long long)(r & 0xffffffffff));
        n->next = plist;
        plist = n;
        plen++;
        psum += r;
        if (plen > 3000) {
            /* verify and drop the whole list */
            long cnt = 0;
            uint64_t s = 0;
            int bad = 0;
            for (struct pnode *q = plist; q && cnt <= plen;
                 q = q->next) { /* bounded: a corrupt list may cycle */
                char want[16];
                snprintf(want, sizeof want, "%llx", (unsigned long long)(q->v & 0xffffffffff));
                if (gm_base(q) != q || strcmp(q->label, want) != 0) bad = 1;
                cnt++;
                s += q->v;
            }
            if (bad || cnt != plen || s != psum) {
                if (atomic_fetch_add(&corrupt, 1) < 10) fprintf(stderr, "private list corrupt\n");
            }
            plist = NULL;
            plen = 0;
            psum = 0;
        }
        if (r % 3000 == 0) {
            gm_collect();
            atomic_fetch_add(&collections, 1);
        }
        if (r % 500 == 0) {
            for (int k = 0; k < 64; k++)
                if (keep[k]) msg_check(keep[k], "kept");
            if (!msg_ok(tls_msg) || tls_msg->seed != tls_seed_check) {
                if (atomic_fetch_add(&corrupt, 1) < 10)
                    fprintf(stderr, "thread-local message corrupt\n");
            }
        }
    }
    for (int k = 0; k < 64; k++)
        if (keep[k]) msg_check(keep[k], "kept at exit");
    msg_check(tls_msg, "tls at exit");
    return NULL;
}

/* churner: starts short-lived threads that allocate, verify, pass one message on and exit */
static void *short_lived(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    struct msg *mine[8];
    for (int i = 0; i < 8; i++)
        mine[i] = msg_new(&rng);
    if (check_rand(&rng) % 4 == 0) gm_collect();
    for (int i = 0; i < 8; i++)
        msg_check(mine[i], "short-lived");
    struct msg *d = q_push(mine[0]);
    (void)d; /* dropped: garbage */
    atomic_fetch_add(&churned, 1);
    return NULL;
}

static void *churner(void *arg) {
    (void)arg;
    uint64_t k = 1;
    while (!atomic_load(&stop_churn)) {
        pthread_t t[4];
        int n = 0;
        for (int i = 0; i < 4; i++)
            if (pthread_create(&t[n], NULL, short_lived, (void *)(uintptr_t)(k++ * 104729)) == 0)
                n++;
        for (int i = 0; i < n; i++)
            pthread_join(t[i], NULL);
        /* a detached one too */
        pthread_t dt;
        if (pthread_create(&dt, NULL, short_lived, (void *)(uintptr_t)(k++ * 104729)) == 0)
            pthread_detach(dt);
    }
    return NULL;
}

/* readers: blocked in read() with objects only on their stack */
static int pipes[2][2];
static _Atomic int readers_ready;

static void *reader(void *arg) {
    int idx = (int)(uintptr_t)arg;
    uint64_t rng = 555 + (uint64_t)idx;
    struct msg *mine[16];
    for (int i = 0; i < 16; i++)
        mine[i] = msg_new(&rng);
    atomic_fetch_add(&readers_ready, 1);
    char c;
    ssize_t r;
    do
        r = read(pipes[idx][0], &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1) atomic_fetch_add(&corrupt, 1);
    for (int i = 0; i < 16; i++)
        msg_check(mine[i], "reader");
    return NULL;
}

int main(int argc, char **argv) {
    (void)argv;
    if (argc > 1) iterations = atol(argv[1]); /* e.g. a short run under GOMEMDEBUG=gcstress=1 */
    if (GMT_ASAN) iterations /= 4;
    gm_init();
    double t0 = gmt_now();
    pthread_t readers[2], churn_t, workers[NWORKERS];
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(pipe(pipes[i]), 0);
        CHECK_EQ(pthread_create(&readers[i], NULL, reader, (void *)(uintptr_t)i), 0);
    }
    while (atomic_load(&readers_ready) < 2)
        usleep(1000);
    CHECK_EQ(pthread_create(&churn_t, NULL, churner, NULL), 0);
    for (int i = 0; i < NWORKERS; i++)
        CHECK_EQ(pthread_create(&workers[i], NULL, worker, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < NWORKERS; i++)
        pthread_join(workers[i], NULL);
    atomic_store(&stop_churn, 1);
    pthread_join(churn_t, NULL);
    gm_collect();
    /* the queue's remaining messages */
    for (struct msg *m; (m = q_pop()) != NULL;)
        msg_check(m, "queue at end");
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(write(pipes[i][1], "x", 1), 1);
        pthread_join(readers[i], NULL);
    }
    gm_memstats_t *ms = malloc(sizeof *ms);
    gm_read_memstats(ms);
    long ncorrupt = atomic_load(&corrupt), nverified = atomic_load(&verified);
    long nfreed = atomic_load(&freed_remote), nchurned = atomic_load(&churned);
    CHECK_EQ(ncorrupt, 0);
    CHECK(nverified > 0);
    CHECK(nfreed > 0);
    CHECK(nchurned > 0);
    CHECK_GE(ms->num_gc, 5);
    /* pacing: an automatic cycle needs at least ~1 MiB of allocation (the heap
     * minimum is 4 MB); thousands of cycles mean the trigger is broken */
    uint64_t auto_cycles = ms->num_gc - ms->num_forced_gc;
    const char *dbg = getenv("GOMEMDEBUG"), *gogc = getenv("GOGC");
    if (!(dbg && strstr(dbg, "gcstress")) && !gogc) /* gcstress collects at every refill */
        CHECK_LE(auto_cycles, ms->total_alloc / (1u << 20) + 20);
    CHECK_EQ(ms->mallocs - ms->frees, ms->heap_objects);
    fprintf(stderr,
            "test_thread_stress: %.1f s, sent %ld received %ld verified %ld freed-remote %ld, %ld "
            "explicit "
            "collections, %u cycles, %ld short-lived threads\n",
            gmt_now() - t0, atomic_load(&sent), atomic_load(&received), atomic_load(&verified),
            atomic_load(&freed_remote), atomic_load(&collections), ms->num_gc,
            atomic_load(&churned));
    free(ms);
    return check_done();
}
