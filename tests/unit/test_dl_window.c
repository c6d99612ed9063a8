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
#include <link.h>
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

/* What a forked child lists instead of calling dl_iterate_phdr (roots.c): the same
 * objects, load addresses and program headers, this library included. */
enum { MAX_OBJECTS = 64 };
typedef struct {
    int n;
    uintptr_t addr[MAX_OBJECTS];
    const void *phdr[MAX_OBJECTS];
    int phnum[MAX_OBJECTS];
} object_list_t;

static int note_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    object_list_t *l = data;
    if (l->n < MAX_OBJECTS) {
        l->addr[l->n] = info->dlpi_addr;
        l->phdr[l->n] = info->dlpi_phdr;
        l->phnum[l->n] = info->dlpi_phnum;
        l->n++;
    }
    return 0;
}

static void compare_object_lists(void) {
    static object_list_t a, b;
    dl_iterate_phdr(note_object, &a);
    gmi_roots_fork_child(); /* this process lists as a forked child from now on */
    gmi_each_object(note_object, &b);
    CHECK(a.n >= 4); /* the executable, this library, libc, the loader at least */
    CHECK_EQ(a.n, b.n);
    int differ = 0;
    for (int i = 0; i < a.n && i < b.n; i++)
        differ += a.addr[i] != b.addr[i] || a.phdr[i] != b.phdr[i] || a.phnum[i] != b.phnum[i];
    CHECK_EQ(differ, 0);
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
    /* a library linked at a base other than 0, loaded and listed by a collection */
    void *based = dlopen(DLIB_BASED_PATH, RTLD_NOW | RTLD_LOCAL);
    CHECK(based != NULL);
    void (*based_set)(int, void *) = based ? (void (*)(int, void *))dlsym(based, "dlib_set") : NULL;
    void *(*based_get)(int) = based ? (void *(*)(int))dlsym(based, "dlib_get") : NULL;
    CHECK(based_set != NULL && based_get != NULL);
    gm_collect();
    compare_object_lists();
    /* the library's objects survive a collection on the forked child's list too */
    gm_collect();
    for (int i = 0; i < 4000; i++)
        memset(gm_alloc(64), 0x77, 64);
    bad = 0;
    for (int i = 0; i < 8; i++) {
        unsigned char *p = lib_get(i);
        if (gm_base(p) != p || p[0] != 0x40 + i || p[63] != 0x40 + i) bad++;
    }
    CHECK_EQ(bad, 0);
    /* an object only the based library's data holds survives the child's listing */
    if (based_set != NULL && based_get != NULL) {
        unsigned char *o = gm_alloc(64);
        memset(o, 0x5b, 64);
        based_set(0, o);
        o = NULL;
        scrub();
        gm_collect();
        for (int i = 0; i < 4000; i++)
            memset(gm_alloc(64), 0x77, 64);
        unsigned char *p = based_get(0);
        CHECK(gm_base(p) == p && p[0] == 0x5b && p[63] == 0x5b);
    }
    dlclose(lib);
    return check_done();
}
