/* meta.c: gomem's own metadata memory.
 *
 * Span structures, arena maps, thread caches, mark stacks and tables come from here,
 * never from malloc (gomem will itself be malloc) and never from the GC heap. The
 * memory is mmap'd, so the root scanner, which only scans the writable segments of
 * loaded objects, never sees it.
 * gmi_meta_alloc is a bump allocator over 1 MiB chunks (larger requests get their own
 * mapping); fixalloc adds a free list for structures of one size, as Go's fixalloc.
 * See malloc.c for the allocator overview. */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define META_CHUNK ((size_t)1 << 20)

_Atomic size_t gmi_meta_sys;

static struct {
    gmi_lock_t lock;
    char *cur;
    size_t left;
    int inited;
} meta GMI_STATE = {.lock = {PTHREAD_MUTEX_INITIALIZER}};

size_t gmi_meta_size(size_t size) {
    size = (size + 15) & ~(size_t)15;
    return size >= META_CHUNK / 4 ? (size + 4095) & ~(size_t)4095 : size;
}

void *gmi_meta_alloc(size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size >= META_CHUNK / 4) {
        size_t len = gmi_meta_size(size);
        void *p = gmi_os_reserve(len, 4096);
        if (p != NULL) atomic_fetch_add(&gmi_meta_sys, len);
        return p;
    }
    pthread_mutex_lock(&meta.lock.m);
    /* cache-line aligned: span structs (page_heap.c) keep their read-mostly fields
     * on a line of their own */
    size_t pad = (size_t)(-(uintptr_t)meta.cur & 63);
    if (meta.left >= pad + size) {
        meta.cur += pad;
        meta.left -= pad;
    }
    if (meta.left < size) {
        char *c = gmi_os_reserve(META_CHUNK, 4096);
        if (c == NULL) {
            pthread_mutex_unlock(&meta.lock.m);
            return NULL;
        }
        atomic_fetch_add(&gmi_meta_sys, META_CHUNK);
        meta.cur = c;
        meta.left = META_CHUNK;
    }
    void *p = meta.cur;
    meta.cur += size;
    meta.left -= size;
    pthread_mutex_unlock(&meta.lock.m);
    return p;
}

void gmi_fixalloc_init(gmi_fixalloc_t *f, size_t size) {
    memset(f, 0, sizeof(*f));
    f->size = (size + 15) & ~(size_t)15;
}

void *gmi_fixalloc_alloc(gmi_fixalloc_t *f) {
    void *p = f->free_list;
    if (p != NULL) {
        f->free_list = *(void **)p;
        if (!f->nozero) memset(p, 0, f->size);
    } else {
        if (f->chunk_left < f->size) {
            size_t len = 64 * 1024;
            if (len < f->size) len = f->size;
            f->chunk = gmi_meta_alloc(len);
            if (f->chunk == NULL) return NULL;
            f->chunk_left = len;
            f->sys += len;
        }
        p = f->chunk;
        f->chunk += f->size;
        f->chunk_left -= f->size;
    }
    f->inuse += f->size;
    return p;
}

void gmi_fixalloc_free(gmi_fixalloc_t *f, void *p) {
    *(void **)p = f->free_list;
    f->free_list = p;
    f->inuse -= f->size;
}
