/* test_big_os_pages.c: returning pages to a kernel whose pages are larger than
 * gomem's 8 KiB (16 or 64 KiB on some arm64 kernels), played on any machine with
 * gmi_os_page_size_override = 64 KiB. madvise releases whole kernel pages: a free run
 * that shares a kernel page with an in-use span must keep that page, or the span's
 * objects read back as zeros. Large objects of five heap pages, three of every four freed,
 * leave free runs whose ends are never 64 KiB aligned; after gm_free_os_memory every
 * live object keeps its bytes, the released total moved by whole 64 KiB pages, and no
 * heap page sharing a 64 KiB page with an in-use span is marked released.
 * Links libgomem.a (internal.h). */
#include "internal.h"
#include "check.h"
#include <gomem.h>
#include <string.h>

enum { N = 96, SIZE = 5 * 8192 - 64 };

static unsigned char *objs[N];

int main(void) {
    gmi_os_page_size_override = 65536;
    gm_init();
    for (int i = 0; i < N; i++) {
        objs[i] = gm_alloc_noscan(SIZE);
        memset(objs[i], 0x40 + (i & 63), SIZE);
    }
    for (int i = 0; i < N; i++) {
        if (i % 4 == 0) continue; /* free runs of 15 heap pages between live objects */
        gm_free(objs[i]);
        objs[i] = NULL;
    }
    gm_memstats_t before, after;
    gm_read_memstats(&before);
    size_t released = gm_free_os_memory();
    gm_read_memstats(&after);
    CHECK(released > 0);
    CHECK_EQ((after.heap_released - before.heap_released) % 65536, 0);
    /* no heap page in a 64 KiB page that an in-use span touches was released */
    int shared = 0;
    for (int i = 0; i < N; i++) {
        if (objs[i] == NULL) continue;
        gmi_span_t *s = gmi_span_of((uintptr_t)objs[i]);
        CHECK(s != NULL);
        if (s == NULL) continue;
        uintptr_t lo = s->start & ~(uintptr_t)65535;
        uintptr_t hi = (s->start + s->npages * GMI_PAGE_SIZE + 65535) & ~(uintptr_t)65535;
        for (uintptr_t pg = lo; pg < hi; pg += GMI_PAGE_SIZE) {
            gmi_arena_t *a = gmi_arena_map[pg >> GMI_ARENA_SHIFT];
            size_t k = (pg >> GMI_PAGE_SHIFT) & (GMI_PAGES_PER_ARENA - 1);
            if (a != NULL && ((a->released[k >> 6] >> (k & 63)) & 1)) shared++;
        }
    }
    CHECK_EQ(shared, 0);
    int bad = 0;
    for (int i = 0; i < N; i += 4) {
        for (int k = 0; k < SIZE; k++) {
            if (objs[i][k] != 0x40 + (i & 63)) {
                bad++;
                break;
            }
        }
    }
    CHECK_EQ(bad, 0);
    /* the released memory is usable again, and zeroed */
    for (int i = 0; i < N; i++) {
        if (objs[i] != NULL) continue;
        objs[i] = gm_alloc_noscan(SIZE);
        int nz = 0;
        for (int k = 0; k < SIZE; k++)
            nz += objs[i][k] != 0;
        CHECK_EQ(nz, 0);
    }
    return check_done();
}
