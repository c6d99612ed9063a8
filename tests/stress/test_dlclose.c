/* test_dlclose.c: collections while another thread loads and unloads a library.
 *
 * The collector lists the loaded objects' writable segments with the world running,
 * then stops the world and scans them. A dlclose in between unmapped a listed segment
 * and the mark faulted on it; libgomem.so now makes dlclose wait while a collection
 * holds its list (roots.c, the loader gate). The first collection also starts the
 * helper mark workers: it did so with the world stopped, and pthread_create then
 * waited forever for a loader lock that a thread stopped inside dlopen held.
 * One thread collects in a loop from the start (no collection before); the main thread
 * dlopens and dlcloses libz (not linked into this program, so each dlclose unmaps it)
 * and keeps a checksummed list that must survive. alarm() turns a hang into a failure.
 * Links libgomem.so (dlclose is interposed there). */
#include "api/gmtest.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

typedef struct cell {
    struct cell *next;
    uint64_t value, check;
} cell_t;

static _Atomic int stop;
static _Atomic long ncollections;

static void *collector(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        gm_collect();
        atomic_fetch_add(&ncollections, 1);
    }
    return NULL;
}

int main(void) {
    alarm(120);
    void *probe = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (probe == NULL) {
        printf("SKIP: libz.so.1 not found (%s)\n", dlerror());
        return check_done();
    }
    dlclose(probe);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, collector, NULL) == 0);
    cell_t *head = NULL;
    uint64_t want = 0;
    long loads = 0;
    double end = gmt_now() + 2.0;
    while (gmt_now() < end) {
        void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
        CHECK(h != NULL);
        if (h == NULL) break;
        const char *(*version)(void) = (const char *(*)(void))dlsym(h, "zlibVersion");
        CHECK(version != NULL && version() != NULL);
        CHECK(dlclose(h) == 0);
        loads++;
        for (int i = 0; i < 64; i++) {
            cell_t *c = gm_alloc(sizeof *c);
            c->value = (uint64_t)loads * 64 + (uint64_t)i;
            c->check = ~c->value;
            c->next = head;
            head = c;
            want += c->value;
        }
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    gm_collect();
    uint64_t sum = 0, bad = 0, n = 0;
    for (cell_t *c = head; c != NULL && n < (uint64_t)loads * 64 + 1; c = c->next, n++) {
        if (c->check != ~c->value) bad++;
        sum += c->value;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(sum, want);
    CHECK_EQ(n, (uint64_t)loads * 64);
    CHECK(loads > 10);
    CHECK(atomic_load(&ncollections) > 10);
    printf("%ld loads and unloads, %ld collections\n", loads, atomic_load(&ncollections));
    return check_done();
}
