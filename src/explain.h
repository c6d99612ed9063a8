/* explain.h: what gm_explain (explain.c) needs from other components.
 * See gc.c for the collector overview. */
#ifndef GMI_EXPLAIN_H
#define GMI_EXPLAIN_H

#include "internal.h"

/* gmi_roots_user_key returns true if [lo, hi) is a gm_add_roots range, with *key the lo
 * given to gm_add_roots; false for a segment of a loaded object. gmi_roots_lock held
 * (roots.c). */
bool gmi_roots_user_key(uintptr_t lo, uintptr_t hi, uintptr_t *key);

#endif
