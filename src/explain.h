/* explain.h: what gm_explain (explain.c) needs from other components.
 * See gc.c for the collector overview. */
#ifndef GMI_EXPLAIN_H
#define GMI_EXPLAIN_H

#include "internal.h"

#pragma GCC visibility push(hidden) /* see internal.h */

/* gmi_roots_user_key returns true if [lo, hi) is a gm_add_roots range, with *key the lo
 * given to gm_add_roots; false for a segment of a loaded object. gmi_roots_lock held
 * (roots.c). */
bool gmi_roots_user_key(uintptr_t lo, uintptr_t hi, uintptr_t *key);

/* gmi_pin_table_locked returns the capacity of the pin table (pin.c) and its arrays:
 * keys[i] != 0 is a pinned object with counts[i] pins. gmi_pin_lock held. */
size_t gmi_pin_table_locked(const uintptr_t **keys, const uint32_t **counts);

/* One finalizer or cleanup record as the collector sees it (finalizer.c). */
typedef struct gmi_fin_view_s {
    uintptr_t obj;        /* its object; 0 for a call queued by gomem itself */
    uintptr_t fn;         /* the finalizer or cleanup function */
    const uintptr_t *arg; /* the record's argument: a root while the record exists */
    bool cleanup;         /* a cleanup (gm_add_cleanup), else a finalizer */
    bool queued;          /* on the run queue (a queued finalizer's object is a root), else
                           * attached to its object */
} gmi_fin_view_t;

/* gmi_finalizer_each_locked calls fn for every attached record, then every queued one,
 * in the order the collector marks them. gmi_profile_lock and gmi_finq_lock held. */
void gmi_finalizer_each_locked(void (*fn)(const gmi_fin_view_t *v, void *arg), void *arg);

/* gmi_pool_each_item_locked calls fn for every pooled object the collector marks now
 * (pool.c): cell holds it; victim: put before the last collection, so the next one
 * drops it. gmi_pool_lock held, world stopped. */
void gmi_pool_each_item_locked(void (*fn)(const void *pool, const uintptr_t *cell, bool victim,
                                          void *arg),
                               void *arg);

#pragma GCC visibility pop

#endif
