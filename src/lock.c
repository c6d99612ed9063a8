/* lock.c: gomem's mutex, and the global lock order lives in gc.c.
 *
 * A plain pthread mutex: uncontended lock/unlock are one atomic each and never
 * allocate. Every lock is taken by gmi_lock_all() before stopping the world and before
 * fork(), so neither a stopped thread nor a forked child is left holding one.
 * See malloc.c for the allocator overview. */
#include "internal.h"

#include <string.h>

void gmi_lock_init(gmi_lock_t *l) {
    pthread_mutex_init(&l->m, NULL);
}

void gmi_lock(gmi_lock_t *l) {
    int e = pthread_mutex_lock(&l->m);
    if (gmi_unlikely(e != 0)) gmi_throw("lock: pthread_mutex_lock failed (%d)", e);
}

void gmi_unlock(gmi_lock_t *l) {
    pthread_mutex_unlock(&l->m);
}
