/* sweep.c: lazy and background sweeping by sweep generation.
 *
 * At mark termination the collector adds 2 to sweepgen, which turns every span on a
 * central list into an unswept one without touching it, and sweeps the spans that
 * thread caches hold itself (the world is stopped; see gc.c). After that:
 *  - allocation sweeps the spans of the class it needs (central.c, cacheSpan order);
 *  - a background sweeper thread sweeps whatever is left, class by class, yielding
 *    between spans, so that memory is reclaimed even by threads that stop allocating;
 *  - the next collection finishes any leftovers before it stops the world.
 * Wholly free spans go back to the page heap as they are swept.
 * See gc.c for the collector overview. */
#include "internal.h"
#include "gc_internal.h"
#include "evtrace.h"

#include <sched.h>

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t requested, done; /* sweep requests (one per cycle) */
    int started;
    _Atomic unsigned cursor;  /* span class the next gmi_sweep_one starts from */
    _Atomic uint32_t done_sg; /* sweepgen at which a pass found nothing left to sweep */
} sw GMI_STATE = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* sweep_one_counted sweeps one unswept span of any class, adding the pages it gave back
 * to the page heap to *freed; false when a whole pass found none (then sw.done_sg
 * says so until the next cycle advances sweepgen). */
static bool sweep_one_counted(size_t *freed) {
    uint32_t sg = atomic_load(&gmi_gc.sweepgen);
    unsigned start = atomic_load_explicit(&sw.cursor, memory_order_relaxed);
    for (unsigned k = 0; k < GMI_NUM_SPAN_CLASSES; k++) {
        unsigned spc = (start + k) % GMI_NUM_SPAN_CLASSES;
        if (gmi_central_sweep_one(spc, freed)) {
            atomic_store_explicit(&sw.cursor, spc, memory_order_relaxed);
            return true;
        }
    }
    atomic_store_explicit(&sw.done_sg, sg, memory_order_relaxed);
    return false;
}

bool gmi_sweep_one(void) {
    size_t freed = 0;
    return sweep_one_counted(&freed);
}

/* gmi_sweep_reclaim: see internal.h. Large spans first: a dead one gives its pages
 * back at once, and no allocation sweeps them otherwise. */
void gmi_sweep_reclaim(size_t npages) {
    if (atomic_load_explicit(&sw.done_sg, memory_order_relaxed) ==
        atomic_load_explicit(&gmi_gc.sweepgen, memory_order_relaxed))
        return; /* everything swept since the last cycle (a hint: racy, either way safe) */
    size_t freed = 0;
    for (unsigned spc = 0; spc < 2 && freed < npages; spc++) {
        while (freed < npages && gmi_central_sweep_one(spc, &freed)) {
        }
    }
    while (freed < npages && sweep_one_counted(&freed)) {
    }
}

void gmi_sweep_finish(void) {
    while (gmi_sweep_one()) {
    }
}

static void *sweeper_main(void *arg) {
    (void)arg;
    pthread_mutex_lock(&sw.lock);
    for (;;) {
        while (sw.done == sw.requested)
            pthread_cond_wait(&sw.cond, &sw.lock);
        uint64_t target = sw.requested;
        pthread_mutex_unlock(&sw.lock);
        unsigned n = 0;
        uint64_t t0 = gmi_os_nanotime();
        while (gmi_sweep_one()) {
            if (++n % 16 == 0) sched_yield();
        }
        gmi_evtrace_sweep(t0, gmi_os_nanotime(), n);
        pthread_mutex_lock(&sw.lock);
        sw.done = target;
    }
    return NULL;
}

void gmi_sweeper_wake(void) {
    pthread_mutex_lock(&sw.lock);
    if (!sw.started) {
        pthread_t tid;
        if (gmi_thread_spawn_internal(&tid, sweeper_main, NULL) == 0) sw.started = 1;
    }
    sw.requested++;
    pthread_cond_signal(&sw.cond);
    pthread_mutex_unlock(&sw.lock);
}

void gmi_sweep_fork_child(void) {
    pthread_mutex_init(&sw.lock, NULL);
    pthread_cond_init(&sw.cond, NULL);
    sw.started = 0;
    sw.done = sw.requested;
}

/* ---------------------------------------------------------------------------------
 * Cached spans, swept by the collector with the world stopped
 * ------------------------------------------------------------------------------- */

typedef struct cache_sweep_s {
    uint32_t sg;
    uint64_t free_bytes; /* free slots left in cached spans (counted live by the pacer) */
} cache_sweep_t;

static void sweep_thread_cache(gmi_thread_t *t, void *arg) {
    cache_sweep_t *cs = arg;
    t->cache.live_debt = 0; /* this cycle recomputes heap_live from the mark */
    for (unsigned spc = 0; spc < GMI_NUM_SPAN_CLASSES; spc++) {
        gmi_span_t *s = t->cache.alloc[spc].span;
        if (s == NULL) continue;
        if (atomic_load(&s->sweepgen) == cs->sg + 1) {
            gmi_span_sweep_stw(s); /* recounts alloc_count */
            atomic_store(&s->sweepgen, cs->sg + 3);
            /* slots freed behind the current word become visible on the next rescan */
            t->cache.alloc[spc].rescan = 1;
        } else {
            gmi_span_count(s);
        }
        cs->free_bytes += (uint64_t)(s->nelems - s->alloc_count) * s->elemsize;
    }
}

/* gmi_sweep_cached_spans_stw sweeps every span held by a thread cache and returns the
 * bytes of free slots they still hold. Called at mark termination, after sweepgen
 * moved: cached spans then read sg + 1. */
uint64_t gmi_sweep_cached_spans_stw(void) {
    cache_sweep_t cs = {atomic_load(&gmi_gc.sweepgen), 0};
    gmi_threads_each_cache(sweep_thread_cache, &cs);
    return cs.free_bytes;
}
