/* report.c: user-requested heap reports: gm_read_size_classes and
 * gm_write_size_class_report (occupancy and fragmentation per size class), and
 * gm_metrics / gm_metric_read (Go's runtime/metrics names for the heap breakdown and
 * the collector).
 *
 * The size-class walk runs with the world stopped and every lock held (as
 * gm_read_memstats), aggregating into a fixed array on the caller's stack; text is
 * written to the caller's FILE only after the world restarted. These are the only
 * gomem functions that use stdio, and only because the user asked for a FILE.
 * Definitions, per size class (over its scanned and noscan spans):
 *   capacity     nelems x object size of every in-use span;
 *   in use       allocated slots x object size (objects not yet swept count: collect
 *                first for the live figure);
 *   free slots   capacity - in use: bytes lost to partly empty spans;
 *   tail waste   span bytes - capacity: internal fragmentation of the span layout (the
 *                bytes at the end of each span too small for one more object).
 * Rounding a request up to its class is not counted: gomem does not keep requested
 * sizes (the class table bounds it at 12.5%).
 * See gc.c for the collector overview. */
#include "internal.h"
#include "gc_internal.h"
#include "finalizer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void add_span(gmi_span_t *s, void *arg) {
    gm_size_class_usage_t *u = arg;
    unsigned c = s->spanclass >> 1;
    if (c >= GM_NUM_SIZE_CLASSES) return;
    gm_size_class_usage_t *e = &u[c];
    uint64_t span_bytes = (uint64_t)s->npages * GMI_PAGE_SIZE;
    e->spans++;
    e->span_bytes += span_bytes;
    if (c == 0) { /* one large object */
        e->objects++;
        e->capacity_objects++;
        e->capacity_bytes += span_bytes;
        e->inuse_bytes += span_bytes;
        return;
    }
    uint64_t n = 0;
    for (unsigned w = 0; w < s->nwords; w++) {
        uint64_t bits = s->alloc_bits[w];
        if (atomic_load_explicit(&s->has_pending, memory_order_relaxed))
            bits &= ~atomic_load_explicit(&s->pending_bits[w], memory_order_relaxed);
        n += (uint64_t)__builtin_popcountll(bits);
        /* freed onto a reuse stack or a transfer list (malloc.c, 7a-b): still allocated,
         * known by the free tag in the first word */
        for (uint64_t b = s->reuse_tagged ? bits : 0; b; b &= b - 1)
            n -= gmi_reuse_tagged(s->start + (w * 64 + (uint64_t)__builtin_ctzll(b)) * s->elemsize);
    }
    if (n > s->nelems) n = s->nelems;
    e->objects += n;
    e->capacity_objects += s->nelems;
    e->capacity_bytes += (uint64_t)s->nelems * s->elemsize;
    e->inuse_bytes += n * s->elemsize;
    e->tail_waste_bytes += span_bytes - (uint64_t)s->nelems * s->elemsize;
    if (n == 0)
        e->empty_spans++;
    else if (n < s->nelems)
        e->partial_spans++;
    else
        e->full_spans++;
}

GM_API void gm_read_size_classes(gm_size_class_usage_t out[GM_NUM_SIZE_CLASSES]) {
    if (out == NULL) return;
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    (void)gmi_thread_get();
    memset(out, 0, sizeof(gm_size_class_usage_t) * GM_NUM_SIZE_CLASSES);
    gmi_lock(&gmi_gc.lock);
    gmi_lock_all();
    gmi_world_stop();
    gmi_heap_each_span_locked(add_span, out);
    gmi_world_start();
    gmi_unlock_all();
    gmi_unlock(&gmi_gc.lock);
    for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++) {
        out[c].size = gmi_class_to_size[c];
        out[c].free_slot_bytes = out[c].capacity_bytes - out[c].inuse_bytes;
    }
}

static void human(char *buf, size_t n, uint64_t b) {
    if (b >= (10ULL << 30))
        snprintf(buf, n, "%lluG", (unsigned long long)(b >> 30));
    else if (b >= (10ULL << 20))
        snprintf(buf, n, "%lluM", (unsigned long long)(b >> 20));
    else if (b >= (10ULL << 10))
        snprintf(buf, n, "%lluK", (unsigned long long)(b >> 10));
    else
        snprintf(buf, n, "%llu", (unsigned long long)b);
}

static int write_size_class_report(FILE *out);

GM_API int gm_write_size_class_report(FILE *out) {
    int cancel = gmi_nocancel_begin(); /* see internal.h */
    int rc = write_size_class_report(out);
    gmi_nocancel_end(cancel);
    return rc;
}

static int write_size_class_report(FILE *out) {
    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    gm_size_class_usage_t u[GM_NUM_SIZE_CLASSES];
    gm_read_size_classes(u);
    gm_size_class_usage_t tot;
    memset(&tot, 0, sizeof tot);
    fprintf(out, "# gomem size classes (bytes; occupancy = in use / capacity)\n");
    fprintf(out, "%5s %6s %7s %7s %7s %10s %10s %9s %9s %9s %9s %6s\n", "class", "size", "spans",
            "partial", "empty", "objects", "capacity", "in use", "free slot", "tail", "span",
            "occ%");
    for (int c = 1; c <= GM_NUM_SIZE_CLASSES; c++) {
        int k = c % GM_NUM_SIZE_CLASSES; /* classes 1..67, then 0 (large) */
        gm_size_class_usage_t *e = &u[k];
        if (e->spans == 0) continue;
        if (k != 0) {
            tot.spans += e->spans;
            tot.partial_spans += e->partial_spans;
            tot.empty_spans += e->empty_spans;
            tot.objects += e->objects;
            tot.capacity_objects += e->capacity_objects;
            tot.capacity_bytes += e->capacity_bytes;
            tot.inuse_bytes += e->inuse_bytes;
            tot.free_slot_bytes += e->free_slot_bytes;
            tot.tail_waste_bytes += e->tail_waste_bytes;
            tot.span_bytes += e->span_bytes;
        }
        char a[16], b[16], d[16], f[16];
        human(a, sizeof a, e->inuse_bytes);
        human(b, sizeof b, e->free_slot_bytes);
        human(d, sizeof d, e->tail_waste_bytes);
        human(f, sizeof f, e->span_bytes);
        unsigned occ =
            e->capacity_bytes ? (unsigned)(e->inuse_bytes * 1000 / e->capacity_bytes) : 0;
        char cls[8];
        if (k)
            snprintf(cls, sizeof cls, "%d", k);
        else
            snprintf(cls, sizeof cls, "large");
        fprintf(out, "%5s %6u %7llu %7llu %7llu %10llu %10llu %9s %9s %9s %9s %4u.%u\n", cls,
                e->size, (unsigned long long)e->spans, (unsigned long long)e->partial_spans,
                (unsigned long long)e->empty_spans, (unsigned long long)e->objects,
                (unsigned long long)e->capacity_objects, a, b, d, f, occ / 10, occ % 10);
    }
    char a[16], b[16], d[16], f[16];
    human(a, sizeof a, tot.inuse_bytes);
    human(b, sizeof b, tot.free_slot_bytes);
    human(d, sizeof d, tot.tail_waste_bytes);
    human(f, sizeof f, tot.span_bytes);
    unsigned occ = tot.capacity_bytes ? (unsigned)(tot.inuse_bytes * 1000 / tot.capacity_bytes) : 0;
    fprintf(out, "%5s %6s %7llu %7llu %7llu %10llu %10llu %9s %9s %9s %9s %4u.%u\n", "small", "",
            (unsigned long long)tot.spans, (unsigned long long)tot.partial_spans,
            (unsigned long long)tot.empty_spans, (unsigned long long)tot.objects,
            (unsigned long long)tot.capacity_objects, a, b, d, f, occ / 10, occ % 10);
    uint64_t lost = tot.free_slot_bytes + tot.tail_waste_bytes;
    fprintf(out,
            "# small objects: %llu bytes in use in %llu bytes of spans; %llu lost to partly "
            "empty spans, %llu to span tails (%u.%u%% of span bytes)\n",
            (unsigned long long)tot.inuse_bytes, (unsigned long long)tot.span_bytes,
            (unsigned long long)tot.free_slot_bytes, (unsigned long long)tot.tail_waste_bytes,
            tot.span_bytes ? (unsigned)(lost * 1000 / tot.span_bytes) / 10 : 0,
            tot.span_bytes ? (unsigned)(lost * 1000 / tot.span_bytes) % 10 : 0);
    fprintf(out, "# large objects: %llu objects in %llu bytes of spans\n",
            (unsigned long long)u[0].objects, (unsigned long long)u[0].span_bytes);
    fflush(out);
    return ferror(out) ? -1 : 0;
}

/* ---------------------------------------------------------------------------------
 * Metrics (Go's runtime/metrics names)
 * ------------------------------------------------------------------------------- */

static void add_stack(gmi_thread_t *t, void *arg) {
    /* the main thread's lower bound may be unknown (0): it is not counted */
    if (!t->internal && t->stack_lo != 0 && t->stack_hi > t->stack_lo)
        *(uint64_t *)arg += t->stack_hi - t->stack_lo;
}

#define NMETRICS 39

static size_t fill_metrics(gm_metric_t *m) {
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    uint64_t stacks = 0;
    gmi_lock(&gmi_threads_lock);
    gmi_threads_each(add_stack, &stacks);
    gmi_unlock(&gmi_threads_lock);
    gmi_lock(&gmi_gc.lock);
    uint64_t live = gmi_gc.heap_marked, heap_scan = gmi_gc.heap_scan;
    uint64_t stack_scan = gmi_gc.stack_scan, globals_scan = gmi_gc.globals_scan;
    int64_t gogc = gmi_gc.pacer.gc_percent;
    int64_t limit = gmi_gc.pacer.memory_limit;
    uint64_t goal = gmi_gc.pacer.heap_goal;
    gmi_unlock(&gmi_gc.lock);
    uint64_t scav_bg, scav_eager, scav_assist;
    gmi_scavenger_stats(&scav_bg, &scav_eager, &scav_assist);

    uint64_t objects = ms.heap_alloc < ms.heap_inuse ? ms.heap_alloc : ms.heap_inuse;
    uint64_t unused = ms.heap_inuse - objects;
    uint64_t free_ = ms.heap_idle - ms.heap_released;
    uint64_t meta = ms.sys - (ms.heap_sys - ms.heap_released); /* gmi_meta_sys */
    uint64_t mspan_free = ms.mspan_sys - ms.mspan_inuse;
    uint64_t meta_rest =
        meta > ms.mspan_sys + ms.mcache_sys ? meta - ms.mspan_sys - ms.mcache_sys : 0;
    uint64_t mcache = meta - ms.mspan_sys - meta_rest; /* mcache_sys, clamped to meta */
    uint64_t buckets = ms.buck_hash_sys < meta_rest ? ms.buck_hash_sys : meta_rest;
    meta_rest -= buckets;
    size_t i = 0;
#define M(n, v) (m[i].name = (n), m[i].value = (uint64_t)(v), i++)
    M("/memory/classes/heap/objects:bytes", objects);
    M("/memory/classes/heap/unused:bytes", unused);
    M("/memory/classes/heap/free:bytes", free_);
    M("/memory/classes/heap/released:bytes", ms.heap_released);
    M("/memory/classes/heap/stacks:bytes", 0);
    M("/memory/classes/metadata/mspan/inuse:bytes", ms.mspan_inuse);
    M("/memory/classes/metadata/mspan/free:bytes", mspan_free);
    M("/memory/classes/metadata/mcache/inuse:bytes", mcache);
    M("/memory/classes/metadata/mcache/free:bytes", 0);
    M("/memory/classes/metadata/other:bytes", meta_rest);
    M("/memory/classes/os-stacks:bytes", 0);
    M("/memory/classes/other:bytes", 0);
    M("/memory/classes/profiling/buckets:bytes", buckets);
    M("/memory/classes/total:bytes", objects + unused + free_ + meta);
    M("/gc/heap/allocs:bytes", ms.total_alloc);
    M("/gc/heap/allocs:objects", ms.mallocs);
    M("/gc/heap/frees:bytes", ms.total_alloc - ms.heap_alloc);
    M("/gc/heap/frees:objects", ms.frees);
    M("/gc/heap/objects:objects", ms.heap_objects);
    M("/gc/heap/goal:bytes", goal);
    M("/gc/heap/live:bytes", live);
    M("/gc/heap/tiny/allocs:objects", 0);
    M("/gc/cycles/total:gc-cycles", ms.num_gc);
    M("/gc/cycles/forced:gc-cycles", ms.num_forced_gc);
    M("/gc/cycles/automatic:gc-cycles", ms.num_gc - ms.num_forced_gc);
    M("/gc/gogc:percent", gogc < 0 ? 0 : gogc);
    M("/gc/gomemlimit:bytes", limit);
    M("/gc/scan/heap:bytes", heap_scan);
    M("/gc/scan/stack:bytes", stack_scan);
    M("/gc/scan/globals:bytes", globals_scan);
    M("/gc/scan/total:bytes", heap_scan + stack_scan + globals_scan);
    M("/gc/pauses/total:nanoseconds", ms.pause_total_ns);
    M("/gc/stack/starting-size:bytes", 0);
    M("/sched/gomaxprocs:threads", gmi_gc.ncpu);
    M("/sched/threads/total:threads", gmi_threads_count());
    M("/gomem/threads/stacks:bytes", stacks);
    M("/gomem/scavenge/background:bytes", scav_bg);
    M("/gomem/scavenge/eager:bytes", scav_eager);
    M("/gomem/scavenge/assist:bytes", scav_assist);
#undef M
    return i;
}

GM_API size_t gm_metrics(gm_metric_t *out, size_t n) {
    gm_metric_t all[NMETRICS];
    size_t k = fill_metrics(all);
    if (out != NULL) memcpy(out, all, (n < k ? n : k) * sizeof *out);
    return k;
}

GM_API int gm_metric_read(const char *name, uint64_t *value) {
    if (name == NULL) {
        errno = EINVAL;
        return -1;
    }
    gm_metric_t all[NMETRICS];
    size_t k = fill_metrics(all);
    for (size_t i = 0; i < k; i++) {
        if (strcmp(all[i].name, name) == 0) {
            if (value) *value = all[i].value;
            return 0;
        }
    }
    errno = ENOENT;
    return -1;
}
