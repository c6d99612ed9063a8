/* test_dl_window.c: a library loaded between a collection's roots snapshot and its
 * stop of the world. The snapshot lists the loaded objects' writable data with the
 * world running; a thread that dlopens a library in that window, allocates and keeps
 * the only pointers in the library's .bss would lose those objects if the cycle ran
 * on the old list. The collector compares the loader's list with the snapshot once the
 * world is stopped, and lists again if it changed. gmi_gc_snapshot_hook opens the
 * window exactly: another thread loads the library and stores 8 objects there, then
 * scrubs its stack. Links libgomem.a; DLIB_PATH names tests/unit/lib/dlib_roots.c. */
#include "internal.h"
#include "gc_internal.h"
#include "check.h"
#include <dlfcn.h>
#include <gomem.h>
#include <pthread.h>
#include <semaphore.h>
#include <string.h>

static sem_t go, done;
static void *lib;
static void (*lib_set)(int, void *);
static void *(*lib_get)(int);

static __attribute__((noinline)) void store_objects(void) {
    for (int i = 0; i < 8; i++) {
        unsigned char *p = gm_alloc(64);
        memset(p, 0x40 + i, 64);
        lib_set(i, p);
    }
}

static __attribute__((noinline)) void scrub(void) {
    volatile char pad[16384];
    memset((char *)pad, 0, sizeof pad);
}

static void *loader(void *arg) {
    (void)arg;
    sem_wait(&go);
    lib = dlopen(DLIB_PATH, RTLD_NOW | RTLD_LOCAL);
    if (lib != NULL) {
        lib_set = (void (*)(int, void *))dlsym(lib, "dlib_set");
        lib_get = (void *(*)(int))dlsym(lib, "dlib_get");
        store_objects();
        scrub();
    }
    sem_post(&done);
    return NULL;
}

static void in_window(void) {
    gmi_gc_snapshot_hook = NULL; /* once */
    sem_post(&go);
    sem_wait(&done);
}

int main(void) {
    gm_init();
    /* The hook holds the collection (and its loader gate) until the loader thread is
     * done; a gcstress collection started by that thread's allocations would wait for
     * the gate: a deadlock of the test's own making, not of the window. */
    gmi_config.debug_gcstress = 0;
    sem_init(&go, 0, 0);
    sem_init(&done, 0, 0);
    pthread_t t;
    pthread_create(&t, NULL, loader, NULL);
    gmi_gc_snapshot_hook = in_window;
    gm_collect();
    pthread_join(t, NULL);
    CHECK(lib != NULL && lib_get != NULL);
    if (lib == NULL || lib_get == NULL) return check_done();
    /* the class over again: a freed object's slot would be handed out and overwritten */
    for (int i = 0; i < 4000; i++)
        memset(gm_alloc(64), 0x77, 64);
    gm_collect();
    for (int i = 0; i < 4000; i++)
        memset(gm_alloc(64), 0x77, 64);
    int bad = 0;
    for (int i = 0; i < 8; i++) {
        unsigned char *p = lib_get(i);
        if (gm_base(p) != p || p[0] != 0x40 + i || p[63] != 0x40 + i) bad++;
    }
    CHECK_EQ(bad, 0);
    dlclose(lib);
    return check_done();
}
