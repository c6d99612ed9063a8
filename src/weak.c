/* weak.c: weak references (Go's weak.Pointer).
 *
 * gm_weak_make(obj) returns the object's handle: a small record in metadata memory
 * holding the object's address XOR a mask (so it is never a root even if metadata
 * were scanned), shared by every gm_weak_make of the same object and reference
 * counted by gm_weak_release. A GMI_SPECIAL_WEAK special on the object's slot points
 * to it. At @@hook:after_mark@@, before any finalizer resurrects its object, the
 * collector zeroes the handle of every unmarked object (gmi_weak_clear_dead_locked).
 * No window: gm_weak_get reads the handle under gmi_profile_lock, which the collector
 * holds from before the world stops until after the handles are cleared; the address
 * it returns is then in the caller's registers or stack, which the next collection
 * scans, so a cycle either sees it as a root or has already cleared the handle.
 * Locking: gmi_profile_lock protects handles and the live list.
 * See gc.c for the collector overview. */
#include "finalizer.h"
#include "profile.h"

#include <string.h>

#define WEAK_HIDE ((uintptr_t)0x5a5a5a5a5a5a5a5aull)

struct gm_weak_s {
    uintptr_t hidden;              /* address ^ WEAK_HIDE; 0 once the object died */
    uint64_t refs;                 /* gm_weak_make calls not yet released */
    struct gm_weak_s *next, *prev; /* live list: handles whose object may be alive */
};

static struct {
    gmi_fixalloc_t alloc;
    bool ready;
    gm_weak_t *live;
    uint64_t count;
} weak GMI_STATE;

static void live_link(gm_weak_t *h) {
    h->prev = NULL;
    h->next = weak.live;
    if (weak.live) weak.live->prev = h;
    weak.live = h;
}

static void live_unlink(gm_weak_t *h) {
    if (h->prev)
        h->prev->next = h->next;
    else
        weak.live = h->next;
    if (h->next) h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

static size_t slot_of(const gmi_span_t *s, uintptr_t obj) {
    return (s->spanclass >> 1) ? gmi_span_slot(s, obj) : 0;
}

static void drop_special(uintptr_t obj) {
    gmi_span_t *s = gmi_span_of(obj);
    if (s == NULL) return;
    gmi_special_t *sp = gmi_special_remove_locked(s, slot_of(s, obj), GMI_SPECIAL_WEAK);
    if (sp != NULL) gmi_special_free_locked(sp);
}

void gmi_weak_clear_dead_locked(void) {
    for (gm_weak_t *h = weak.live, *n; h; h = n) {
        n = h->next;
        uintptr_t obj = h->hidden ^ WEAK_HIDE;
        if (gmi_obj_is_marked(obj)) continue;
        drop_special(obj);
        live_unlink(h);
        __atomic_store_n(&h->hidden, 0, __ATOMIC_RELEASE);
    }
}

void gmi_weak_free_object_locked(gmi_span_t *s, size_t slot) {
    gmi_special_t *sp = gmi_special_remove_locked(s, slot, GMI_SPECIAL_WEAK);
    if (sp == NULL) return;
    gm_weak_t *h = sp->bucket;
    gmi_special_free_locked(sp);
    live_unlink(h);
    __atomic_store_n(&h->hidden, 0, __ATOMIC_RELEASE);
}

uint64_t gmi_weak_count(void) {
    return __atomic_load_n(&weak.count, __ATOMIC_RELAXED);
}

GM_API gm_weak_t *gm_weak_make(void *obj) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    (void)gmi_thread_get();
    void *base = gm_base(obj);
    if (base == NULL) return NULL;
    uintptr_t b = (uintptr_t)base;
    gm_weak_t *h = NULL;
    gmi_lock(&gmi_profile_lock);
    gmi_span_t *s = gmi_span_of(b);
    if (s == NULL) goto done;
    size_t slot = slot_of(s, b);
    gmi_special_t *sp = gmi_special_remove_locked(s, slot, GMI_SPECIAL_WEAK);
    if (sp != NULL) {
        h = sp->bucket;
        h->refs++;
        gmi_special_insert_locked(s, sp);
        goto done;
    }
    if (!weak.ready) {
        gmi_fixalloc_init(&weak.alloc, sizeof(gm_weak_t));
        weak.ready = true;
    }
    h = gmi_fixalloc_alloc(&weak.alloc);
    sp = h ? gmi_special_alloc_locked() : NULL;
    if (sp == NULL) {
        if (h) gmi_fixalloc_free(&weak.alloc, h);
        h = NULL;
        goto done;
    }
    memset(h, 0, sizeof *h);
    h->hidden = b ^ WEAK_HIDE;
    h->refs = 1;
    sp->slot = (uint16_t)slot;
    sp->kind = GMI_SPECIAL_WEAK;
    sp->bucket = h;
    gmi_special_insert_locked(s, sp);
    live_link(h);
    weak.count++;
done:
    gmi_unlock(&gmi_profile_lock);
    return h;
}

GM_API void *gm_weak_get(gm_weak_t *h) {
    if (h == NULL) return NULL;
    gmi_lock(&gmi_profile_lock);
    uintptr_t v = h->hidden;
    void *p = v ? (void *)(v ^ WEAK_HIDE) : NULL;
    gmi_unlock(&gmi_profile_lock);
    return p;
}

GM_API void gm_weak_release(gm_weak_t *h) {
    if (h == NULL) return;
    gmi_lock(&gmi_profile_lock);
    if (h->refs > 0 && --h->refs == 0) {
        if (h->hidden) {
            drop_special(h->hidden ^ WEAK_HIDE);
            live_unlink(h);
        }
        weak.count--;
        gmi_fixalloc_free(&weak.alloc, h);
    }
    gmi_unlock(&gmi_profile_lock);
}
