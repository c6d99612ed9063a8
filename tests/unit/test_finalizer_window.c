/* test_finalizer_window.c: a collection between taking a finalizer off the queue and
 * running it. Once off the queue the record is no root; its object and arg must
 * already be in the running thread's registers or stack, or that collection frees them
 * and the finalizer (or cleanup) runs on freed, reused memory. The hook
 * gmi_finalizer_popped_hook collects at exactly that point; the finalizer and the
 * cleanup check that their object and arg are still allocated and unchanged. Links
 * libgomem.a (finalizer.h). */
#include "internal.h"
#include "finalizer.h"
#include "check.h"
#include <gomem.h>
#include <string.h>

enum { SIZE = 256 };

static int ran, ok;

static int intact(const void *p, unsigned char v) {
    if (p == NULL || gm_base(p) != p) return 0;
    const unsigned char *c = p;
    for (int i = 0; i < SIZE; i++)
        if (c[i] != v) return 0;
    return 1;
}

static void finalize(void *obj, void *arg) {
    ran++;
    ok += intact(obj, 0x31) && intact(arg, 0x32);
}

static void cleanup(void *arg) {
    ran++;
    ok += intact(arg, 0x33);
}

static void collect_now(void) {
    gm_collect();
    /* churn the classes: a freed object's slot is handed out and overwritten */
    for (int i = 0; i < 4000; i++)
        memset(gm_alloc(SIZE), 0x77, SIZE);
}

static __attribute__((noinline)) void make(void) {
    for (int i = 0; i < 8; i++) {
        void *obj = gm_alloc(SIZE), *arg = gm_alloc(SIZE);
        memset(obj, 0x31, SIZE);
        memset(arg, 0x32, SIZE);
        gm_set_finalizer(obj, finalize, arg);
        void *o2 = gm_alloc(SIZE), *a2 = gm_alloc(SIZE);
        memset(a2, 0x33, SIZE);
        gm_add_cleanup(o2, cleanup, a2);
    }
}

static __attribute__((noinline)) void scrub(void) {
    volatile char pad[16384];
    memset((char *)pad, 0, sizeof pad);
}

int main(void) {
    gm_init();
    gm_set_finalizer_thread(0);
    make();
    scrub();
    gm_collect(); /* queues them */
    gmi_finalizer_popped_hook = collect_now;
    size_t n = gm_run_finalizers();
    gmi_finalizer_popped_hook = NULL;
    CHECK(n >= 12); /* a stale word may keep one or two */
    CHECK_EQ(ran, n);
    CHECK_EQ(ok, ran);
    return check_done();
}
