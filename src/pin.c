/* pin.c: gm_pin / gm_unpin, Go's runtime.Pinner for C.
 *
 * A pinned object stays allocated (and, gomem never moving objects, in place) while
 * foreign code holds its address where the collector cannot see it: in a kernel
 * buffer, another process's shared memory, a pointer disguised by XOR. The pin table
 * is an open-addressing hash in metadata memory (never scanned) from object base to
 * pin count. At every collection gmi_pin_mark_locked pushes the table's key array as a
 * root range, so pinned objects and everything they reach are marked.
 * Invariants (gmi_pin_lock held): keys[i] != 0 <=> counts[i] > 0; nobj == number of
 * keys; npins == sum of counts; every key is the base of an allocated object (gm_free
 * of a pinned object drops its pins first, gmi_pin_forget).
 * Locking: gmi_pin_lock, taken alone (the meta lock inside it when the table grows);
 * lock order: gc.c.
 * See malloc.c for the allocator overview. */
#include "debug_modes.h"
#include "explain.h"

#include <errno.h>

gmi_lock_t gmi_pin_lock GMI_STATE = {PTHREAD_MUTEX_INITIALIZER};

static struct {
    uintptr_t *keys;  /* cap entries, 0 = empty: pushed as a root range */
    uint32_t *counts; /* cap entries */
    size_t cap, nobj;
    uint64_t npins;
} pins GMI_STATE;

static size_t pin_index(uintptr_t a, size_t cap) {
    return (size_t)((a >> 4) * 0x9e3779b97f4a7c15ull >> 40) & (cap - 1);
}

static size_t find_locked(uintptr_t a) {
    if (pins.cap == 0) return SIZE_MAX;
    for (size_t i = pin_index(a, pins.cap);; i = (i + 1) & (pins.cap - 1)) {
        if (pins.keys[i] == a) return i;
        if (pins.keys[i] == 0) return SIZE_MAX;
    }
}

static void put_locked(uintptr_t a, uint32_t count) {
    size_t i = pin_index(a, pins.cap);
    while (pins.keys[i] != 0)
        i = (i + 1) & (pins.cap - 1);
    pins.keys[i] = a;
    pins.counts[i] = count;
}

/* Grow to twice the size; the old arrays are left to the metadata allocator (it never
 * frees), which bounds the waste by the final size. */
static bool grow_locked(void) {
    size_t ncap = pins.cap ? pins.cap * 2 : 256;
    uintptr_t *nk = gmi_meta_alloc(ncap * sizeof(uintptr_t));
    uint32_t *nc = gmi_meta_alloc(ncap * sizeof(uint32_t));
    if (nk == NULL || nc == NULL) return false;
    uintptr_t *ok = pins.keys;
    uint32_t *oc = pins.counts;
    size_t ocap = pins.cap;
    pins.keys = nk;
    pins.counts = nc;
    pins.cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (ok[i]) put_locked(ok[i], oc[i]);
    return true;
}

static void remove_at_locked(size_t i) {
    size_t j = i;
    for (;;) {
        pins.keys[i] = 0;
        pins.counts[i] = 0;
        for (;;) {
            j = (j + 1) & (pins.cap - 1);
            if (pins.keys[j] == 0) return;
            size_t k = pin_index(pins.keys[j], pins.cap);
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
            break;
        }
        pins.keys[i] = pins.keys[j];
        pins.counts[i] = pins.counts[j];
        i = j;
    }
}

static bool check_base(const char *call, const void *obj) {
    size_t slot;
    const char *why;
    if (gmi_malloc_live_object(obj, &slot, &why) == NULL) {
        gmi_debug_report(call, obj, why);
        errno = EINVAL;
        return false;
    }
    if (gmi_unlikely(gmi_debug_slow) && gmi_debug_quarantined((uintptr_t)obj)) {
        gmi_debug_report(call, obj, "object already freed (it is in the poison quarantine)");
        errno = EINVAL;
        return false;
    }
    return true;
}

GM_API int gm_pin(void *obj) {
    if (!atomic_load_explicit(&gmi_initialized, memory_order_acquire)) gmi_init_slow();
    if (!check_base("gm_pin", obj)) return -1;
    /* from the first pin on, gm_free looks the object up (gmi_pin_forget) */
    if (!(__atomic_load_n(&gmi_debug_slow, __ATOMIC_RELAXED) & GMI_DEBUG_FREE))
        __atomic_fetch_or(&gmi_debug_slow, GMI_DEBUG_FREE, __ATOMIC_SEQ_CST);
    uintptr_t a = (uintptr_t)obj;
    int rc = 0;
    gmi_lock(&gmi_pin_lock);
    size_t i = find_locked(a);
    if (i != SIZE_MAX) {
        if (pins.counts[i] == UINT32_MAX) {
            errno = EOVERFLOW;
            rc = -1;
        } else {
            pins.counts[i]++;
            pins.npins++;
        }
    } else if ((pins.nobj + 1) * 2 > pins.cap && !grow_locked()) {
        errno = ENOMEM;
        rc = -1;
    } else {
        put_locked(a, 1);
        pins.nobj++;
        pins.npins++;
    }
    gmi_unlock(&gmi_pin_lock);
    __asm__ volatile("" : : "r"(obj) : "memory"); /* obj stays a root until it is in the table */
    return rc;
}

GM_API int gm_unpin(void *obj) {
    if (!atomic_load_explicit(&gmi_initialized, memory_order_acquire)) gmi_init_slow();
    uintptr_t a = (uintptr_t)obj;
    gmi_lock(&gmi_pin_lock);
    size_t i = find_locked(a);
    if (i != SIZE_MAX) {
        pins.npins--;
        if (--pins.counts[i] == 0) {
            remove_at_locked(i);
            pins.nobj--;
        }
    }
    gmi_unlock(&gmi_pin_lock);
    if (i == SIZE_MAX) {
        if (check_base("gm_unpin", obj)) gmi_debug_report("gm_unpin", obj, "object is not pinned");
        errno = EINVAL;
        return -1;
    }
    return 0;
}

uint32_t gmi_pin_forget(uintptr_t base) {
    uint32_t n = 0;
    gmi_lock(&gmi_pin_lock);
    size_t i = find_locked(base);
    if (i != SIZE_MAX) {
        n = pins.counts[i];
        pins.npins -= n;
        pins.nobj--;
        remove_at_locked(i);
    }
    gmi_unlock(&gmi_pin_lock);
    return n;
}

static void push_pins(void (*push)(uintptr_t lo, uintptr_t hi, void *pa), void *pa, void *arg) {
    (void)arg;
    push((uintptr_t)pins.keys, (uintptr_t)(pins.keys + pins.cap), pa);
}

/* gmi_pin_mark_locked marks pinned objects and what they reach. World stopped. */
void gmi_pin_mark_locked(gmi_mark_result_t *mr) {
    if (pins.nobj == 0) return;
    uint64_t bytes = 0;
    gmi_mark_more(push_pins, NULL, &bytes);
    mr->marked_bytes += bytes;
}

size_t gmi_pin_table_locked(const uintptr_t **keys, const uint32_t **counts) {
    *keys = pins.keys;
    *counts = pins.counts;
    return pins.nobj ? pins.cap : 0;
}

void gmi_pin_verify_locked(void) {
    size_t n = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < pins.cap; i++) {
        uintptr_t a = pins.keys[i];
        if (a == 0) {
            if (pins.counts[i]) gmi_throw("verify: pin table: count without key at %zu", i);
            continue;
        }
        gmi_span_t *s = gmi_span_of(a);
        size_t slot = s && (s->spanclass >> 1) ? gmi_span_slot(s, a) : 0;
        if (s == NULL || s->start + slot * s->elemsize != a || !gmi_bit_get(s->alloc_bits, slot))
            gmi_throw("verify: pinned object %p is not an allocated object", (void *)a);
        if (pins.counts[i] == 0) gmi_throw("verify: pinned object %p has no pins", (void *)a);
        n++;
        total += pins.counts[i];
    }
    if (n != pins.nobj || total != pins.npins)
        gmi_throw("verify: pin table counts are wrong (%zu/%zu objects, %lu/%lu pins)", n,
                  pins.nobj, (unsigned long)total, (unsigned long)pins.npins);
}

void gmi_pin_stats(uint64_t *objects, uint64_t *npins) {
    gmi_lock(&gmi_pin_lock);
    *objects = pins.nobj;
    *npins = pins.npins;
    gmi_unlock(&gmi_pin_lock);
}
