/* test_threads_roots.c: roots.c: data and bss are roots, RELRO and gomem_state are not,
 * gm_add_roots/gm_remove_roots with their errno results, dlopen'ed objects.
 * Links libgomem.a and drives threads.c's internals directly. */
#include "internal.h"
#include "check.h"
#include <errno.h>
#include <dlfcn.h>
#include <sys/mman.h>

static void *data_var = &data_var;               /* .data */
static void *bss_var;                            /* .bss */
static void *state_var GMI_STATE;                /* excluded */
static const void *const relro_var = &relro_var; /* .data.rel.ro in a PIE */
typedef struct {
    uintptr_t addr;
    int hits;
    uint64_t bytes;
    int n;
} q_t;
static void push(uintptr_t lo, uintptr_t hi, void *arg) {
    q_t *q = arg;
    q->n++;
    q->bytes += hi - lo;
    if (q->addr >= lo && q->addr < hi) q->hits++;
}
static int find(void *p) {
    q_t q = {.addr = (uintptr_t)p};
    gmi_lock_all();
    gmi_roots_each(push, &q);
    gmi_unlock_all();
    return q.hits;
}
int main(void) {
    bss_var = &bss_var;
    gm_init();
    gmi_roots_snapshot();
    CHECK_EQ(find(&data_var), 1);
    CHECK_EQ(find(&bss_var), 1);
    CHECK_EQ(find(&state_var), 0);
    CHECK_EQ(find((void *)&relro_var), 0);
    CHECK(gmi_roots_global_bytes() > 0);
    fprintf(stderr, "globals: %llu bytes\n", (unsigned long long)gmi_roots_global_bytes());
    /* user ranges */
    static char buf[4096];
    errno = 0;
    CHECK(gm_add_roots(buf + 100, buf + 50) == -1 && errno == EINVAL);
    char *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(find(m + 64) == 0);
    CHECK(gm_add_roots(m + 3, m + 4096 + 5) == 0);
    CHECK_EQ(find(m + 8), 1);
    CHECK_EQ(find(m), 0); /* rounded inward */
    CHECK_EQ(find(m + 4096), 0);
    for (int i = 0; i < 3000; i++)
        CHECK(gm_add_roots(m + 8192 + i * 16, m + 8192 + i * 16 + 8) == 0);
    CHECK_EQ(find(m + 8192 + 2999 * 16), 1);
    CHECK(gm_add_roots(m + 3, m + 16) == 0);
    CHECK(gm_remove_roots(m + 3) == 0);
    CHECK_EQ(find(m + 8), 0);
    errno = 0;
    CHECK(gm_remove_roots(m + 3) == -1 && errno == EINVAL);
    CHECK(gm_remove_roots(m + 8192) == 0);
    CHECK(gm_add_roots(m, m) == 0 && gm_remove_roots(m) == 0);
    /* dlopen'ed objects appear in the next snapshot */
    void *h = dlopen("libz.so.1", RTLD_NOW);
    if (h) {
        uint64_t before = gmi_roots_global_bytes();
        gmi_roots_snapshot();
        CHECK(gmi_roots_global_bytes() > before);
    }
    return check_done();
}
