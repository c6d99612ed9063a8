/* finalizer.c: finalizers and cleanups (Go's SetFinalizer and AddCleanup), the
 * finalizer thread, and the collector's after-mark pass over pools, weak handles,
 * finalizers and cleanups.
 *
 * A finalizer or cleanup is a record (gmi_fin_t, fixalloc, metadata memory) attached
 * to its object's slot as a span special (profile.h), all under gmi_profile_lock.
 * Attached records are also on one list, so the collector can walk them. At
 * @@hook:after_mark@@ (world stopped, every lock held) gmi_specials_after_mark:
 *   1. marks pool contents (pool.c), every attached record's arg, and every queued
 *      record's arg and, for a finalizer, its object: metadata is never scanned, so
 *      these are the extra roots that keep a queued object alive until fn has run;
 *   2. finalizers, ordered as Go's: for each unmarked finalizable object, marks what
 *      it points to (not the object), so an object reachable from another finalizable
 *      one waits for a later cycle. An object that becomes marked from its own contents
 *      is in a cycle: gomem, as Go, never finalizes nor frees it (gctrace warns once).
 *   3. clears the weak handles of objects still unmarked (weak.c), after step 2 (an
 *      object only a finalizable one reaches lives on, and so does its handle) and
 *      before any resurrection, as Go does: a weak handle is nil as soon as its
 *      object's finalizer is queued. The objects still unmarked are then queued and
 *      marked with what they reach (resurrection for one cycle); the next cycle frees
 *      them if still unreachable;
 *   4. cleanups of objects still unmarked are queued; the object is not resurrected
 *      and the sweep frees it.
 * Queued records run on one gomem-owned thread, a registered mutator started with the
 * first finalizer or cleanup (user code may allocate), or on any thread through
 * gm_run_finalizers. Never inside an allocation, never with the world stopped.
 * Locking: gmi_profile_lock (specials, the attached list, the record allocator), then
 * gmi_finq_lock (the run queue; the condition variable of the finalizer thread).
 * Explicit free: gm_free of an object that still has a finalizer or cleanups (or a
 * gm_realloc that moves it) drops them, reported as a misuse, and clears its weak
 * handle (gmi_specials_free_object): left on the slot, they passed to the next object
 * allocated there before the next cycle could see the slot free.
 * See gc.c for the collector overview. */
#include "finalizer.h"
#include "explain.h"
#include "profile.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#define FIN_HIDE ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)

typedef struct gmi_fin_s gmi_fin_t;
struct gmi_fin_s {
    gmi_fin_t *next, *prev;           /* attached list (heads only), or the queue (next only) */
    gmi_fin_t *chain;                 /* further cleanups of the same object */
    uintptr_t obj_hidden;             /* object address ^ FIN_HIDE: never a root by itself */
    void (*fn)(void *obj, void *arg); /* finalizer */
    void (*cfn)(void *arg);           /* cleanup */
    void *arg;                        /* scanned by the collector while the record exists */
    uintptr_t scratch;                /* the plain address, only while the collector marks it */
    uint8_t kind;                     /* GMI_SPECIAL_FINALIZER or GMI_SPECIAL_CLEANUP */
    uint8_t candidate;                /* after-mark pass: unmarked finalizable object */
};

gmi_lock_t gmi_finq_lock GMI_STATE = {PTHREAD_MUTEX_INITIALIZER};

static struct {
    /* under gmi_profile_lock */
    gmi_fixalloc_t recs;
    bool recs_ready;
    gmi_fin_t *attached; /* finalizer records and heads of cleanup chains */
    bool cycle_warned;
    /* under gmi_finq_lock */
    gmi_fin_t *qhead, *qtail;
    pthread_cond_t cond;
    bool thread_started;
    bool thread_disabled; /* gm_set_finalizer_thread(0) */
    pthread_t thread;
    /* counters */
    _Atomic uint64_t fin_queued, fin_run, cln_queued, cln_run;
    _Atomic uint64_t queue_len;
} fin GMI_STATE = {.cond = PTHREAD_COND_INITIALIZER};

/* ---------------------------------------------------------------------------------
 * Records
 * ------------------------------------------------------------------------------- */

static gmi_fin_t *rec_alloc_locked(void) {
    if (!fin.recs_ready) {
        gmi_fixalloc_init(&fin.recs, sizeof(gmi_fin_t));
        fin.recs_ready = true;
    }
    gmi_fin_t *r = gmi_fixalloc_alloc(&fin.recs);
    if (r != NULL) memset(r, 0, sizeof *r);
    return r;
}

static void rec_free_locked(gmi_fin_t *r) {
    gmi_fixalloc_free(&fin.recs, r);
}

static void attached_link(gmi_fin_t *r) {
    r->prev = NULL;
    r->next = fin.attached;
    if (fin.attached) fin.attached->prev = r;
    fin.attached = r;
}

static void attached_unlink(gmi_fin_t *r) {
    if (r->prev)
        r->prev->next = r->next;
    else
        fin.attached = r->next;
    if (r->next) r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

static inline void *unhide(uintptr_t h) {
    return (void *)(h ^ FIN_HIDE);
}

static size_t slot_of(const gmi_span_t *s, uintptr_t obj) {
    return (s->spanclass >> 1) ? gmi_span_slot(s, obj) : 0;
}

/* obj_span returns the span of obj if obj is the base of an allocated object. */
static gmi_span_t *obj_span(const void *obj, size_t *slot) {
    uintptr_t p = (uintptr_t)obj;
    gmi_span_t *s = gmi_span_of(p);
    if (s == NULL) return NULL;
    size_t i = slot_of(s, p);
    if (s->start + i * s->elemsize != p) return NULL;
    if (!gmi_bit_get(s->alloc_bits, i)) return NULL;
    if (atomic_load_explicit(&s->pending_bits[i >> 6], memory_order_relaxed) >> (i & 63) & 1)
        return NULL;
    if ((s->spanclass >> 1) && gmi_reuse_tagged(p))
        return NULL; /* freed, on a reuse stack (malloc.c) */
    *slot = i;
    return s;
}

/* ---------------------------------------------------------------------------------
 * The finalizer thread and the queue
 * ------------------------------------------------------------------------------- */

static void queue_push_locked(gmi_fin_t *r) { /* gmi_finq_lock held */
    r->next = NULL;
    r->prev = NULL;
    if (fin.qtail)
        fin.qtail->next = r;
    else
        fin.qhead = r;
    fin.qtail = r;
    atomic_fetch_add(&fin.queue_len, 1);
    if (r->kind == GMI_SPECIAL_FINALIZER)
        atomic_fetch_add(&fin.fin_queued, 1);
    else
        atomic_fetch_add(&fin.cln_queued, 1);
}

static gmi_fin_t *queue_pop_locked(void) {
    gmi_fin_t *r = fin.qhead;
    if (r == NULL) return NULL;
    fin.qhead = r->next;
    if (fin.qhead == NULL) fin.qtail = NULL;
    r->next = NULL;
    atomic_fetch_sub(&fin.queue_len, 1);
    return r;
}

/* pop_locked takes the next queued record and, before gmi_finq_lock is dropped, its
 * object (a finalizer's, resurrected; NULL for a cleanup, whose object is gone) and
 * arg into the caller's registers or stack. Once off the queue the record is no root
 * (gen_record_roots scans the queue), and the world can stop as soon as the lock is
 * dropped (gmi_lock_all takes it): read afterwards, obj and arg could be collected
 * before fn ran (the reviewer's probe freed one in about a million finalizers). */
static gmi_fin_t *pop_locked(void **obj, void **arg) {
    gmi_fin_t *r = queue_pop_locked();
    *obj = r != NULL && r->kind == GMI_SPECIAL_FINALIZER ? unhide(r->obj_hidden) : NULL;
    *arg = r != NULL ? r->arg : NULL;
    return r;
}

/* run_one calls the record's function on the calling (registered) thread and frees
 * the record. obj and arg, read by pop_locked under the queue's lock, are on this
 * thread's stack or in its registers, which the collector scans, so they stay alive
 * while fn uses them. */
static GMI_NOINLINE void run_one(gmi_fin_t *r, void *obj, void *arg) {
    if (r->kind == GMI_SPECIAL_FINALIZER) {
        void (*fn)(void *, void *) = r->fn;
        gmi_lock(&gmi_profile_lock);
        rec_free_locked(r);
        gmi_unlock(&gmi_profile_lock);
        fn(obj, arg);
        atomic_fetch_add(&fin.fin_run, 1);
    } else {
        void (*cfn)(void *) = r->cfn;
        gmi_lock(&gmi_profile_lock);
        rec_free_locked(r);
        gmi_unlock(&gmi_profile_lock);
        cfn(arg);
        atomic_fetch_add(&fin.cln_run, 1);
    }
    __asm__ volatile("" : : "r"(obj), "r"(arg) : "memory");
}

static void *finalizer_thread(void *unused) {
    (void)unused;
    /* run_one needs a scanned stack: wait for a struct if memory is short (threads.c) */
    while (gm_thread_register() != 0) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (;;) {
        gmi_lock(&gmi_finq_lock);
        gmi_fin_t *r;
        void *obj, *arg;
        while (fin.thread_disabled || (r = pop_locked(&obj, &arg)) == NULL)
            pthread_cond_wait(&fin.cond, &gmi_finq_lock.m);
        __asm__ volatile("" : "+r"(obj), "+r"(arg)); /* in registers before the unlock */
        gmi_unlock(&gmi_finq_lock);
        run_one(r, obj, arg);
    }
    return NULL;
}

/* ensure_thread starts the finalizer thread; called from the public API only, never
 * from the collector (thread creation may allocate). */
static void ensure_thread(void) {
    gmi_lock(&gmi_finq_lock);
    bool start = !fin.thread_started && !fin.thread_disabled;
    if (start) fin.thread_started = true;
    gmi_unlock(&gmi_finq_lock);
    if (!start) return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = gmi_thread_spawn_service(&fin.thread, &attr, finalizer_thread, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        gmi_error("finalizers: cannot start the finalizer thread (%d); use gm_run_finalizers", rc);
        gmi_lock(&gmi_finq_lock);
        fin.thread_started = false;
        gmi_unlock(&gmi_finq_lock);
    }
}

void gmi_finalizer_start(void) {
    ensure_thread();
}

/* The record's arg is scanned while queued, so arg may be a heap object. */
void gmi_finalizer_queue_call(void (*fn)(void *arg), void *arg) {
    gmi_lock(&gmi_profile_lock);
    gmi_fin_t *r = rec_alloc_locked();
    gmi_unlock(&gmi_profile_lock);
    if (r == NULL) return;
    r->kind = GMI_SPECIAL_CLEANUP;
    r->cfn = fn;
    r->arg = arg;
    r->obj_hidden = FIN_HIDE;
    gmi_lock(&gmi_finq_lock);
    queue_push_locked(r);
    pthread_cond_signal(&fin.cond);
    gmi_unlock(&gmi_finq_lock);
}

/* gmi_finalizer_wake: after a cycle, with work queued. The thread is started here if
 * it is not running (a forked child's: the parent's did not survive the fork). */
void gmi_finalizer_wake(void) {
    if (atomic_load_explicit(&fin.queue_len, memory_order_relaxed) == 0) return;
    gmi_lock(&gmi_finq_lock);
    bool start = !fin.thread_started && !fin.thread_disabled;
    pthread_cond_signal(&fin.cond);
    gmi_unlock(&gmi_finq_lock);
    if (start) ensure_thread();
}

/* In a forked child the finalizer thread is gone: the next gm_set_finalizer,
 * gm_add_cleanup or gm_weak_make, or the next cycle that finds work queued, starts a
 * new one; queued records stay queued. */
void gmi_finalizer_fork_child(void) {
    pthread_cond_init(&fin.cond, NULL);
    fin.thread_started = false;
}

uint64_t gmi_finalizer_stats(uint64_t *queued, uint64_t *run, uint64_t *cleanups_queued,
                             uint64_t *cleanups_run) {
    *queued = atomic_load(&fin.fin_queued);
    *run = atomic_load(&fin.fin_run);
    *cleanups_queued = atomic_load(&fin.cln_queued);
    *cleanups_run = atomic_load(&fin.cln_run);
    return atomic_load(&fin.queue_len);
}

/* ---------------------------------------------------------------------------------
 * The after-mark pass (world stopped, every lock held)
 * ------------------------------------------------------------------------------- */

typedef void (*push_fn)(uintptr_t lo, uintptr_t hi, void *pa);

static void push_cell(push_fn push, void *pa, uintptr_t *cell) {
    push((uintptr_t)cell, (uintptr_t)(cell + 1), pa);
}

/* Roots in metadata: every record's arg; queued finalizers' objects. */
static void gen_record_roots(push_fn push, void *pa, void *unused) {
    (void)unused;
    for (gmi_fin_t *h = fin.attached; h; h = h->next)
        for (gmi_fin_t *r = h; r; r = r->chain)
            push_cell(push, pa, (uintptr_t *)&r->arg);
    for (gmi_fin_t *r = fin.qhead; r; r = r->next) {
        push_cell(push, pa, (uintptr_t *)&r->arg);
        if (r->kind == GMI_SPECIAL_FINALIZER) {
            r->scratch = (uintptr_t)unhide(r->obj_hidden);
            push_cell(push, pa, &r->scratch);
        }
    }
}

static void gen_contents(push_fn push, void *pa, void *arg) {
    gmi_fin_t *r = arg;
    uintptr_t obj = (uintptr_t)unhide(r->obj_hidden);
    gmi_span_t *s = gmi_span_of(obj);
    if (s != NULL && !(s->spanclass & 1)) push(obj, obj + s->elemsize, pa);
}

static void gen_objects(push_fn push, void *pa, void *arg) {
    for (gmi_fin_t *r = arg; r; r = r->next) {
        r->scratch = (uintptr_t)unhide(r->obj_hidden);
        push_cell(push, pa, &r->scratch);
    }
}

static void clear_scratch(gmi_fin_t *list) {
    for (gmi_fin_t *r = list; r; r = r->next)
        r->scratch = 0;
}

/* detach removes the special of h's kind from h's object, unlinks h. */
static void detach_locked(gmi_fin_t *h) {
    uintptr_t obj = (uintptr_t)unhide(h->obj_hidden);
    gmi_span_t *s = gmi_span_of(obj);
    if (s != NULL) {
        gmi_special_t *sp = gmi_special_remove_locked(s, slot_of(s, obj), h->kind);
        if (sp != NULL) gmi_special_free_locked(sp);
    }
    attached_unlink(h);
}

static void drop_chain_locked(gmi_fin_t *h) {
    while (h) {
        gmi_fin_t *n = h->chain;
        rec_free_locked(h);
        h = n;
    }
}

void gmi_specials_free_object(gmi_span_t *s, size_t slot, const char *call, const void *p,
                              bool profile) {
    if (profile) gmi_profile_record_free(s, slot);
    if (__atomic_load_n(&s->specials, __ATOMIC_RELAXED) == NULL) return;
    int dropped = 0;
    gmi_lock(&gmi_profile_lock);
    for (uint8_t kind = GMI_SPECIAL_FINALIZER; kind <= GMI_SPECIAL_CLEANUP; kind++) {
        gmi_special_t *sp = gmi_special_remove_locked(s, slot, kind);
        if (sp == NULL) continue;
        gmi_fin_t *h = sp->bucket;
        gmi_special_free_locked(sp);
        attached_unlink(h);
        drop_chain_locked(h);
        dropped |= 1 << (kind - GMI_SPECIAL_FINALIZER);
    }
    gmi_weak_free_object_locked(s, slot);
    gmi_unlock(&gmi_profile_lock);
    if (dropped)
        gmi_error("%s(%p): the object had %s; dropped without running (remove them before"
                  " freeing the object)",
                  call, p,
                  dropped == 3   ? "a finalizer and cleanups"
                  : dropped == 1 ? "a finalizer"
                                 : "cleanups");
}

static void gen_cell(push_fn push, void *pa, void *cell) {
    push_cell(push, pa, (uintptr_t *)cell);
}

void gmi_specials_after_mark(gmi_mark_result_t *mr) {
    uint64_t bytes = 0, b;
    gmi_pool_mark(&b);
    bytes += b;
    void **limit_arg = gmi_limiter_arg_cell();
    if (*limit_arg != NULL) {
        gmi_mark_more(gen_cell, limit_arg, &b);
        bytes += b;
    }
    if (fin.attached == NULL && fin.qhead == NULL) {
        gmi_weak_clear_dead_locked();
        goto out;
    }
    gmi_mark_more(gen_record_roots, NULL, &b);
    bytes += b;
    clear_scratch(fin.qhead);

    /* 3. finalizers: find candidates; drop records of explicitly freed objects */
    size_t ncand = 0;
    for (gmi_fin_t *h = fin.attached, *n; h; h = n) {
        n = h->next;
        size_t slot;
        void *obj = unhide(h->obj_hidden);
        if (obj_span(obj, &slot) == NULL) { /* gm_free'd: misuse, drop quietly */
            detach_locked(h);
            drop_chain_locked(h);
            continue;
        }
        h->candidate = h->kind == GMI_SPECIAL_FINALIZER && !gmi_obj_is_marked((uintptr_t)obj);
        ncand += h->candidate;
    }
    if (ncand == 0) gmi_weak_clear_dead_locked();
    if (ncand > 0) {
        size_t cycles = 0;
        for (gmi_fin_t *h = fin.attached; h; h = h->next) {
            if (!h->candidate) continue;
            uintptr_t obj = (uintptr_t)unhide(h->obj_hidden);
            if (gmi_obj_is_marked(obj)) { /* reachable from another finalizable object */
                h->candidate = 0;
                continue;
            }
            gmi_mark_more(gen_contents, h, &b);
            bytes += b;
            if (gmi_obj_is_marked(obj)) { /* reachable from itself */
                h->candidate = 0;
                cycles++;
            }
        }
        gmi_fin_t *newq = NULL, *newq_tail = NULL;
        for (gmi_fin_t *h = fin.attached, *n; h; h = n) {
            n = h->next;
            if (!h->candidate) continue;
            h->candidate = 0;
            if (gmi_obj_is_marked((uintptr_t)unhide(h->obj_hidden))) continue;
            detach_locked(h);
            h->next = NULL;
            if (newq_tail)
                newq_tail->next = h;
            else
                newq = h;
            newq_tail = h;
        }
        /* Weak handles are cleared now, after what finalizable objects reach is marked
         * (an object only they reach lives on, its handle with it, as in Go) and before
         * the finalizable objects themselves are resurrected (theirs read NULL before
         * their finalizers run). */
        gmi_weak_clear_dead_locked();
        if (newq != NULL) {
            gmi_mark_more(gen_objects, newq, &b); /* resurrect */
            bytes += b;
            clear_scratch(newq);
            for (gmi_fin_t *r = newq, *n; r; r = n) {
                n = r->next;
                queue_push_locked(r);
            }
        }
        if (cycles > 0 && gmi_config.gctrace > 0 && !fin.cycle_warned) {
            fin.cycle_warned = true;
            gmi_error("finalizers: %zu object(s) with finalizers are in reference cycles; as in "
                      "Go they are never finalized nor freed (warned once)",
                      cycles);
        }
    }

    /* 4. cleanups of objects still unmarked: queue, no resurrection */
    for (gmi_fin_t *h = fin.attached, *n; h; h = n) {
        n = h->next;
        if (h->kind != GMI_SPECIAL_CLEANUP) continue;
        if (gmi_obj_is_marked((uintptr_t)unhide(h->obj_hidden))) continue;
        detach_locked(h);
        for (gmi_fin_t *r = h, *c; r; r = c) {
            c = r->chain;
            r->chain = NULL;
            queue_push_locked(r);
        }
    }
out:
    mr->marked_bytes += bytes;
}

/* ---------------------------------------------------------------------------------
 * The records as roots, for gm_explain (world stopped, every lock held)
 * ------------------------------------------------------------------------------- */

static void view_of(const gmi_fin_t *r, bool queued, gmi_fin_view_t *v) {
    v->obj = (uintptr_t)unhide(r->obj_hidden);
    v->cleanup = r->kind == GMI_SPECIAL_CLEANUP;
    v->fn = v->cleanup ? (uintptr_t)r->cfn : (uintptr_t)r->fn;
    v->arg = (const uintptr_t *)&r->arg;
    v->queued = queued;
}

void gmi_finalizer_each_locked(void (*fn)(const gmi_fin_view_t *v, void *arg), void *arg) {
    gmi_fin_view_t v;
    for (gmi_fin_t *h = fin.attached; h; h = h->next)
        for (gmi_fin_t *r = h; r; r = r->chain) {
            view_of(r, false, &v);
            fn(&v, arg);
        }
    for (gmi_fin_t *r = fin.qhead; r; r = r->next) {
        view_of(r, true, &v);
        fn(&v, arg);
    }
}

/* ---------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------- */

GM_API int gm_set_finalizer(void *obj, void (*fn)(void *obj, void *arg), void *arg) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    (void)gmi_thread_get();
    if (fn != NULL) ensure_thread();
    int rc = 0;
    gmi_lock(&gmi_profile_lock);
    size_t slot;
    gmi_span_t *s = obj_span(obj, &slot);
    if (s == NULL) {
        rc = -1;
        goto done;
    }
    gmi_special_t *old = gmi_special_remove_locked(s, slot, GMI_SPECIAL_FINALIZER);
    if (old != NULL) {
        gmi_fin_t *h = old->bucket;
        attached_unlink(h);
        rec_free_locked(h);
        gmi_special_free_locked(old);
    }
    if (fn == NULL) goto done;
    gmi_fin_t *r = rec_alloc_locked();
    gmi_special_t *sp = r ? gmi_special_alloc_locked() : NULL;
    if (sp == NULL) {
        if (r) rec_free_locked(r);
        rc = -1;
        goto done;
    }
    r->kind = GMI_SPECIAL_FINALIZER;
    r->obj_hidden = (uintptr_t)obj ^ FIN_HIDE;
    r->fn = fn;
    r->arg = arg;
    sp->slot = (uint16_t)slot;
    sp->kind = GMI_SPECIAL_FINALIZER;
    sp->bucket = r;
    gmi_special_insert_locked(s, sp);
    attached_link(r);
done:
    gmi_unlock(&gmi_profile_lock);
    return rc;
}

GM_API int gm_add_cleanup(void *obj, void (*fn)(void *arg), void *arg) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    (void)gmi_thread_get();
    if (fn == NULL || arg == obj) return -1;
    ensure_thread();
    int rc = 0;
    gmi_lock(&gmi_profile_lock);
    size_t slot;
    gmi_span_t *s = obj_span(obj, &slot);
    gmi_fin_t *r = s ? rec_alloc_locked() : NULL;
    if (r == NULL) {
        rc = -1;
        goto done;
    }
    r->kind = GMI_SPECIAL_CLEANUP;
    r->obj_hidden = (uintptr_t)obj ^ FIN_HIDE;
    r->cfn = fn;
    r->arg = arg;
    gmi_special_t *sp = gmi_special_remove_locked(s, slot, GMI_SPECIAL_CLEANUP);
    if (sp != NULL) { /* join the object's chain */
        gmi_fin_t *h = sp->bucket;
        r->chain = h->chain;
        h->chain = r;
        gmi_special_insert_locked(s, sp);
        goto done;
    }
    sp = gmi_special_alloc_locked();
    if (sp == NULL) {
        rec_free_locked(r);
        rc = -1;
        goto done;
    }
    sp->slot = (uint16_t)slot;
    sp->kind = GMI_SPECIAL_CLEANUP;
    sp->bucket = r;
    gmi_special_insert_locked(s, sp);
    attached_link(r);
done:
    gmi_unlock(&gmi_profile_lock);
    return rc;
}

GM_API void gm_keep_alive(const void *obj) {
    __asm__ volatile("" : : "r"(obj) : "memory");
}

void (*gmi_finalizer_popped_hook)(void) GMI_STATE; /* tests: runs after each pop */

GM_API size_t gm_run_finalizers(void) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    /* run_one needs a scanned stack: without a struct (threads.c) nothing runs */
    if (gmi_thread_get() == NULL) return 0;
    size_t n = 0;
    for (;;) {
        void *obj, *arg;
        gmi_lock(&gmi_finq_lock);
        gmi_fin_t *r = pop_locked(&obj, &arg);
        __asm__ volatile("" : "+r"(obj), "+r"(arg)); /* in registers before the unlock */
        gmi_unlock(&gmi_finq_lock);
        if (r == NULL) break;
        if (gmi_unlikely(gmi_finalizer_popped_hook != NULL)) gmi_finalizer_popped_hook();
        run_one(r, obj, arg);
        n++;
    }
    return n;
}

GM_API void gm_set_finalizer_thread(int enabled) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    gmi_lock(&gmi_finq_lock);
    fin.thread_disabled = !enabled;
    pthread_cond_signal(&fin.cond);
    gmi_unlock(&gmi_finq_lock);
    if (enabled) ensure_thread();
}
