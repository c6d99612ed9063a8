/* pool.c: pools of reusable objects cleared by the collector (Go's sync.Pool).
 *
 * A pool has a private slot per thread (in a per-thread table reached through
 * gmi_thread_t.pool_local, one entry per pool id) and a shared part of GMI_POOL_SHARDS
 * stacks, each with its own lock: a thread pushes and pops on the shard of its tid and
 * steals from the others, so no lock is global. Storage is metadata memory; the
 * collector marks it as a root at @@hook:after_mark@@ (gmi_pool_mark).
 * Generations without moving anything: every item carries the pool epoch of its put,
 * and @@hook:stw_start@@ advances the epoch. An item put in epoch e is "primary" while
 * the epoch is e, "victim" at e+1 (it survives that collection: the collector marks it
 * and Get still returns it) and dropped at e+2 (the collector stops marking it and
 * zeroes its slot). A thread stopped in the middle of Get or Put is safe: Get takes the
 * pointer out of the slot (then it is on the thread's stack or in a register, scanned
 * conservatively) before it checks the epoch, and Put writes the epoch before the
 * pointer, whose object is meanwhile in the thread's registers.
 * Locking: gmi_pool_lock (registry, per-thread tables; in gmi_lock_all), shard locks
 * are leaves that the collector never takes (it only reads and zeroes slots with the
 * world stopped); fork takes them after gmi_lock_all (gmi_pool_fork_prepare). See gc.c for the
 * collector overview. */
#include "finalizer.h"
#include "explain.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#define GMI_POOL_SHARDS  16
#define GMI_POOL_RING    128 /* items per shard */
#define GMI_POOL_PRIVATE 256 /* pools with a per-thread private slot (ids 0..255) */

typedef struct pool_item_s {
    _Atomic uintptr_t ptr;
    _Atomic uint64_t epoch;
} pool_item_t;

typedef struct pool_shard_s {
    pthread_mutex_t m;
    uint32_t n;        /* items [0, n) may be used; zeroed ones are skipped */
    uint8_t fork_held; /* locked by gmi_pool_fork_prepare */
    pool_item_t ring[GMI_POOL_RING];
} __attribute__((aligned(128))) pool_shard_t;

struct gm_pool_s {
    void *(*new_fn)(void *arg);
    void *arg;
    uint32_t id;
    gm_pool_t *next;               /* registry */
    uint64_t gc_objects, gc_bytes; /* held at the last collection */
    pool_shard_t shards[GMI_POOL_SHARDS];
};

typedef struct pool_table_s pool_table_t;
struct pool_table_s {
    pool_item_t slot[GMI_POOL_PRIVATE];
    gmi_thread_t *owner;
    pool_table_t *next_all, *next_free;
    uint64_t seen; /* collection that last found its owner registered */
};

gmi_lock_t gmi_pool_lock GMI_STATE = {PTHREAD_MUTEX_INITIALIZER};

static struct {
    _Atomic uint64_t epoch; /* starts at 1; 0 in a slot means never used */
    gm_pool_t *pools;
    uint32_t next_id;
    pool_table_t *tables, *free_tables;
    uint64_t gen;
} pl GMI_STATE = {.epoch = 1};

static inline bool epoch_valid(uint64_t e) {
    return e != 0 && e + 1 >= atomic_load(&pl.epoch);
}

/* take moves the item out of it; returns it if still in its primary or victim
 * generation, else 0. */
static uintptr_t take(pool_item_t *it) {
    uintptr_t p = atomic_exchange(&it->ptr, 0);
    if (p == 0) return 0;
    uint64_t e = atomic_load(&it->epoch);
    return epoch_valid(e) ? p : 0;
}

static void store(pool_item_t *it, uintptr_t p) {
    atomic_store(&it->epoch, atomic_load(&pl.epoch));
    atomic_store(&it->ptr, p);
}

static uintptr_t shard_pop(pool_shard_t *sh) {
    uintptr_t p = 0;
    while (p == 0 && sh->n > 0)
        p = take(&sh->ring[--sh->n]);
    return p;
}

static bool shard_push(pool_shard_t *sh, uintptr_t p) {
    if (sh->n == GMI_POOL_RING) { /* compact zeroed and dropped items */
        uint32_t k = 0;
        for (uint32_t i = 0; i < sh->n; i++) {
            uintptr_t q = atomic_load(&sh->ring[i].ptr);
            uint64_t e = atomic_load(&sh->ring[i].epoch);
            if (q == 0 || !epoch_valid(e)) continue;
            if (k != i) {
                atomic_store(&sh->ring[k].epoch, e);
                atomic_store(&sh->ring[k].ptr, q);
                atomic_store(&sh->ring[i].ptr, 0);
            }
            k++;
        }
        sh->n = k;
        if (k == GMI_POOL_RING) return false;
    }
    store(&sh->ring[sh->n++], p);
    return true;
}

static pool_table_t *table_of(gmi_thread_t *t) {
    pool_table_t *tb = t->pool_local;
    if (tb != NULL) return tb;
    gmi_lock(&gmi_pool_lock);
    tb = pl.free_tables;
    if (tb != NULL) {
        pl.free_tables = tb->next_free;
    } else {
        tb = gmi_meta_alloc(sizeof *tb);
        if (tb != NULL) {
            tb->next_all = pl.tables;
            pl.tables = tb;
        }
    }
    if (tb != NULL) {
        for (int i = 0; i < GMI_POOL_PRIVATE; i++)
            atomic_store(&tb->slot[i].ptr, 0);
        tb->owner = t;
        tb->next_free = NULL;
        tb->seen = pl.gen;
        t->pool_local = tb;
    }
    gmi_unlock(&gmi_pool_lock);
    return tb;
}

/* ---------------------------------------------------------------------------------
 * The collector's side (world stopped, every lock held)
 * ------------------------------------------------------------------------------- */

void gmi_pool_stw_start(void) {
    atomic_fetch_add(&pl.epoch, 1);
}

static void note_table(gmi_thread_t *t, void *arg) {
    pool_table_t *tb = t->pool_local;
    if (tb != NULL && tb->owner == t) tb->seen = *(uint64_t *)arg;
}

/* sweep_item zeroes a dropped item; returns its object's size if it is kept. */
static size_t sweep_item(pool_item_t *it) {
    uintptr_t p = atomic_load(&it->ptr);
    if (p == 0) return 0;
    if (!epoch_valid(atomic_load(&it->epoch))) {
        atomic_store(&it->ptr, 0);
        return 0;
    }
    gmi_span_t *s = gmi_span_of(p);
    return s ? s->elemsize : 1;
}

typedef void (*push_fn)(uintptr_t lo, uintptr_t hi, void *pa);

static void gen_pools(push_fn push, void *pa, void *unused) {
    (void)unused;
    for (gm_pool_t *pool = pl.pools; pool; pool = pool->next) {
        for (int i = 0; i < GMI_POOL_SHARDS; i++) {
            pool_shard_t *sh = &pool->shards[i];
            push((uintptr_t)&sh->ring[0], (uintptr_t)&sh->ring[GMI_POOL_RING], pa);
        }
    }
    for (pool_table_t *tb = pl.tables; tb; tb = tb->next_all)
        if (tb->owner != NULL)
            push((uintptr_t)&tb->slot[0], (uintptr_t)&tb->slot[GMI_POOL_PRIVATE], pa);
}

void gmi_pool_mark(uint64_t *bytes) {
    *bytes = 0;
    if (pl.pools == NULL) return;
    /* tables of threads that are gone go back to the free list */
    uint64_t gen = ++pl.gen;
    gmi_threads_each(note_table, &gen);
    for (pool_table_t *tb = pl.tables; tb; tb = tb->next_all) {
        if (tb->owner == NULL || tb->seen == gen) continue;
        tb->owner = NULL;
        for (int i = 0; i < GMI_POOL_PRIVATE; i++)
            atomic_store(&tb->slot[i].ptr, 0);
        tb->next_free = pl.free_tables;
        pl.free_tables = tb;
    }
    for (gm_pool_t *pool = pl.pools; pool; pool = pool->next) {
        uint64_t n = 0, b = 0;
        for (int i = 0; i < GMI_POOL_SHARDS; i++)
            for (int k = 0; k < GMI_POOL_RING; k++) {
                size_t sz = sweep_item(&pool->shards[i].ring[k]);
                n += sz != 0, b += sz;
            }
        for (pool_table_t *tb = pl.tables; tb; tb = tb->next_all)
            if (tb->owner != NULL && pool->id < GMI_POOL_PRIVATE) {
                size_t sz = sweep_item(&tb->slot[pool->id]);
                n += sz != 0, b += sz;
            }
        pool->gc_objects = n;
        pool->gc_bytes = b;
    }
    gmi_mark_more(gen_pools, NULL, bytes);
}

/* visit_item reports one item if it holds an object the collector would mark now. */
static void visit_item(const gm_pool_t *pool, pool_item_t *it,
                       void (*fn)(const void *, const uintptr_t *, bool, void *), void *arg) {
    uintptr_t p = atomic_load(&it->ptr);
    uint64_t e = atomic_load(&it->epoch);
    if (p == 0 || !epoch_valid(e)) return;
    fn(pool, (const uintptr_t *)&it->ptr, e < atomic_load(&pl.epoch), arg);
}

void gmi_pool_each_item_locked(void (*fn)(const void *pool, const uintptr_t *cell, bool victim,
                                          void *arg),
                               void *arg) {
    for (gm_pool_t *pool = pl.pools; pool; pool = pool->next) {
        for (int i = 0; i < GMI_POOL_SHARDS; i++)
            for (int k = 0; k < GMI_POOL_RING; k++)
                visit_item(pool, &pool->shards[i].ring[k], fn, arg);
        if (pool->id < GMI_POOL_PRIVATE)
            for (pool_table_t *tb = pl.tables; tb; tb = tb->next_all)
                if (tb->owner != NULL) visit_item(pool, &tb->slot[pool->id], fn, arg);
    }
}

/* fork: the forking thread holds every shard lock across fork (gmi_pool_lock held, so
 * the registry is still): a shard a thread was compacting in shard_push held one item
 * twice for a moment, and a child forked then handed that object out twice. */
void gmi_pool_fork_prepare(void) {
    for (gm_pool_t *pool = pl.pools; pool; pool = pool->next) {
        for (int i = 0; i < GMI_POOL_SHARDS; i++) {
            pool_shard_t *sh = &pool->shards[i];
            /* A fork from a signal handler that interrupted this thread's own pool
             * call would wait for ever for that shard: it is skipped when the owner is
             * this thread, or when it stays locked for 50 ms (interrupted inside the
             * unlock, the owner is already cleared); another thread's hold is short. */
            sh->fork_held = 0;
            for (int tries = 0; !gmi_mutex_held_by_me(&sh->m) && tries < 500; tries++) {
                if (pthread_mutex_trylock(&sh->m) == 0) {
                    sh->fork_held = 1;
                    break;
                }
                struct timespec ts = {0, 100000};
                nanosleep(&ts, NULL);
            }
        }
    }
}

void gmi_pool_fork_parent(void) {
    for (gm_pool_t *pool = pl.pools; pool; pool = pool->next) {
        for (int i = GMI_POOL_SHARDS - 1; i >= 0; i--) {
            pool_shard_t *sh = &pool->shards[i];
            if (sh->fork_held) pthread_mutex_unlock(&sh->m);
            sh->fork_held = 0;
        }
    }
}

void gmi_pool_fork_child(void) {
    for (gm_pool_t *pool = pl.pools; pool; pool = pool->next)
        for (int i = 0; i < GMI_POOL_SHARDS; i++)
            pthread_mutex_init(&pool->shards[i].m, NULL);
}

/* ---------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------- */

GM_API gm_pool_t *gm_pool_new(void *(*new_fn)(void *arg), void *arg) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    /* metadata is 16-byte aligned; the shards want 128 (their own cache lines) */
    const uintptr_t align = _Alignof(gm_pool_t);
    uintptr_t raw = (uintptr_t)gmi_meta_alloc(sizeof(gm_pool_t) + align - 16);
    if (raw == 0) return NULL;
    gm_pool_t *pool = (gm_pool_t *)((raw + align - 1) & ~(align - 1));
    pool->new_fn = new_fn;
    pool->arg = arg;
    for (int i = 0; i < GMI_POOL_SHARDS; i++)
        pthread_mutex_init(&pool->shards[i].m, NULL);
    gmi_lock(&gmi_pool_lock);
    pool->id = pl.next_id++;
    pool->next = pl.pools;
    pl.pools = pool;
    gmi_unlock(&gmi_pool_lock);
    return pool;
}

GM_API void *gm_pool_get(gm_pool_t *pool) {
    if (pool == NULL) return NULL;
    gmi_thread_t *t = gmi_thread_get(); /* NULL: no struct (threads.c), shards only */
    uintptr_t p = 0;
    if (t != NULL && pool->id < GMI_POOL_PRIVATE && t->pool_local != NULL)
        p = take(&((pool_table_t *)t->pool_local)->slot[pool->id]);
    unsigned home = t != NULL ? (unsigned)t->tid % GMI_POOL_SHARDS : 0;
    for (unsigned k = 0; p == 0 && k < GMI_POOL_SHARDS; k++) {
        pool_shard_t *sh = &pool->shards[(home + k) % GMI_POOL_SHARDS];
        if (__atomic_load_n(&sh->n, __ATOMIC_RELAXED) == 0) continue;
        if (k == 0)
            pthread_mutex_lock(&sh->m);
        else if (pthread_mutex_trylock(&sh->m) != 0)
            continue;
        p = shard_pop(sh);
        pthread_mutex_unlock(&sh->m);
    }
    if (p != 0) return (void *)p;
    return pool->new_fn ? pool->new_fn(pool->arg) : NULL;
}

GM_API void gm_pool_put(gm_pool_t *pool, void *obj) {
    if (pool == NULL || obj == NULL) return;
    gmi_thread_t *t = gmi_thread_get(); /* NULL: no struct (threads.c), shards only */
    uintptr_t p = (uintptr_t)obj;
    if (t != NULL && pool->id < GMI_POOL_PRIVATE) {
        pool_table_t *tb = table_of(t);
        if (tb != NULL) {
            pool_item_t *it = &tb->slot[pool->id];
            if (atomic_load(&it->ptr) == 0 || !epoch_valid(atomic_load(&it->epoch))) {
                store(it, p);
                return;
            }
        }
    }
    pool_shard_t *sh = &pool->shards[t != NULL ? (unsigned)t->tid % GMI_POOL_SHARDS : 0];
    pthread_mutex_lock(&sh->m);
    shard_push(sh, p); /* a full shard drops the item: the collector frees it */
    pthread_mutex_unlock(&sh->m);
}

/* count_item adds a pooled object's slot size. Not through gm_usable_size: in poison
 * mode that takes the quarantine lock, which comes before gmi_pool_lock in the lock
 * order (gc.c), and a collection holding it while waiting for this one deadlocked with
 * gm_pool_stats. A pooled object is live: its span says its size. */
static size_t count_item(pool_item_t *it, uint64_t *bytes) {
    uintptr_t p = atomic_load(&it->ptr);
    if (p == 0 || !epoch_valid(atomic_load(&it->epoch))) return 0;
    gmi_span_t *s = gmi_span_of(p);
    if (s != NULL) *bytes += s->elemsize;
    return 1;
}

GM_API void gm_pool_stats(gm_pool_t *pool, gm_pool_stats_t *st) {
    if (pool == NULL || st == NULL) return;
    memset(st, 0, sizeof *st);
    for (int i = 0; i < GMI_POOL_SHARDS; i++) {
        pool_shard_t *sh = &pool->shards[i];
        pthread_mutex_lock(&sh->m);
        for (uint32_t k = 0; k < sh->n; k++)
            st->objects += count_item(&sh->ring[k], &st->bytes);
        pthread_mutex_unlock(&sh->m);
    }
    gmi_lock(&gmi_pool_lock);
    if (pool->id < GMI_POOL_PRIVATE)
        for (pool_table_t *tb = pl.tables; tb; tb = tb->next_all)
            if (tb->owner != NULL) st->objects += count_item(&tb->slot[pool->id], &st->bytes);
    st->gc_objects = pool->gc_objects;
    st->gc_bytes = pool->gc_bytes;
    gmi_unlock(&gmi_pool_lock);
}
