/* roots.c: the global roots: writable data of every loaded object, and user ranges.
 *
 * gmi_roots_snapshot walks the loaded objects with dl_iterate_phdr (no malloc) before
 * each collection, so objects dlopen'ed since the last one are seen. Each object
 * contributes its PT_LOAD segments with PF_W (.data, .bss and friends) minus its
 * PT_GNU_RELRO range (read-only once relocated, so it can hold no heap pointer) and
 * minus gomem's own state section "gomem_state" (GMI_STATE globals: the heap's own
 * bookkeeping, which would otherwise keep everything it mentions alive). The linker
 * defines __start_/__stop_gomem_state in the object holding gomem: libgomem.so, or an
 * executable linked with libgomem.a; that is the one excluded.
 * Ranges added with gm_add_roots live in a second table. Both tables are arrays in
 * their own mappings that grow by doubling.
 * Thread stacks, registers and TLS are threads.c's.
 * Locking: the snapshot is written by the holder of the loader gate (below), outside
 * every gomem lock, and read by the cycle that took it; gmi_roots_lock guards the user
 * table. dl_iterate_phdr takes the dynamic loader's lock inside the snapshot: a
 * program thread inside its own dl_iterate_phdr callback may then allocate or add
 * roots without waiting for the collector. gmi_roots_each runs with every gomem lock
 * held.
 * The loader gate: a snapshot is only good while no object it lists is unmapped, and
 * the collector scans it with the world stopped, later. libgomem.so interposes
 * dlclose (threads.c) so that an unload waits while a collection holds the gate, from
 * its snapshot to its restart of the world (an unload in that window made the mark
 * read unmapped memory). dlopen is not interposed (glibc's dlopen searches the
 * caller's RUNPATH, which a wrapper would change): an object loaded in that window is
 * caught with the world stopped, where gmi_roots_snapshot_stale compares the loader's
 * list with the snapshot and the cycle lists the objects again. A collection started
 * inside dlclose (a destructor that allocates) runs without taking the gate: its own
 * thread holds it.
 * See gc.c for the collector overview. */
#include "internal.h"
#include "explain.h"

#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

extern char __start_gomem_state[] __attribute__((weak, visibility("hidden")));
extern char __stop_gomem_state[] __attribute__((weak, visibility("hidden")));

typedef struct root_range_s {
    uintptr_t lo, hi;
} root_range_t;

typedef struct user_root_s {
    uintptr_t lo, hi; /* rounded inward to pointer alignment */
    uintptr_t key;    /* lo as given to gm_add_roots */
    size_t hpos;      /* its position in roots.uhash */
} user_root_t;

gmi_lock_t gmi_roots_lock = {PTHREAD_MUTEX_INITIALIZER};

static struct {
    root_range_t *snap; /* writable segments of loaded objects, from the last snapshot */
    size_t nsnap, capsnap;
    user_root_t *user; /* gm_add_roots ranges, in no order */
    size_t nuser, capuser;
    size_t *uhash;         /* open addressing by key: user index + 1, 0 empty (linear probing) */
    size_t uhash_cap;      /* a power of two, at least twice nuser */
    uint64_t global_bytes; /* sum over snap */
    uintptr_t *bases;      /* load addresses (dlpi_addr) of the objects of the snapshot */
    size_t nbases, capbases;
    /* every object dl_iterate_phdr listed in this process: its dynamic section's address
     * (the link map's l_ld) and program headers, for a forked child's listing */
    struct known_object_s {
        uintptr_t dyn;
        const ElfW(Phdr) * phdr;
        int phnum;
    } * known;
    size_t nknown, capknown;
    unsigned long long known_adds, known_subs; /* the loader's counters when last noted */
    int noting;                                /* this listing notes objects: -1 undecided */
    struct r_debug *rdebug; /* the loader's list, from the executable's DT_DEBUG, or NULL */
    bool bases_lost;        /* the last snapshot could not record every base */
} roots GMI_STATE;

/* table_grow doubles an array held in its own mapping. Returns 0, or -1 (ENOMEM). */
static int table_grow(void **arr, size_t *cap, size_t elem) {
    size_t ncap = *cap ? *cap * 2 : 4096 / elem;
    void *p = gmi_os_reserve(ncap * elem, 4096);
    if (p == NULL) return -1;
    if (*arr != NULL) {
        memcpy(p, *arr, *cap * elem);
        gmi_os_unmap(*arr, *cap * elem);
    }
    *arr = p;
    *cap = ncap;
    return 0;
}

static void snap_add(uintptr_t lo, uintptr_t hi) {
    lo = (lo + 7) & ~(uintptr_t)7;
    hi &= ~(uintptr_t)7;
    if (lo >= hi) return;
    if (roots.nsnap == roots.capsnap &&
        table_grow((void **)&roots.snap, &roots.capsnap, sizeof(root_range_t)) != 0)
        gmi_throw("roots: out of memory for the root table");
    roots.snap[roots.nsnap].lo = lo;
    roots.snap[roots.nsnap].hi = hi;
    roots.nsnap++;
    roots.global_bytes += hi - lo;
}

/* snap_add_minus adds [lo, hi) minus the n exclusion ranges ex[] (any order). */
static void snap_add_minus(uintptr_t lo, uintptr_t hi, const root_range_t *ex, int n) {
    for (int i = 0; i < n; i++) {
        if (ex[i].hi <= lo || ex[i].lo >= hi) continue;
        if (ex[i].lo > lo) snap_add_minus(lo, ex[i].lo, ex + i + 1, n - i - 1);
        if (ex[i].hi < hi) snap_add_minus(ex[i].hi, hi, ex + i + 1, n - i - 1);
        return;
    }
    snap_add(lo, hi);
}

/* find_rdebug reads the loader's r_debug from the executable's dynamic section
 * (DT_DEBUG, filled by the loader for debuggers). */
static void find_rdebug(const struct dl_phdr_info *info) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_DYNAMIC) continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
             d->d_tag != DT_NULL; d++)
            if (d->d_tag == DT_DEBUG) roots.rdebug = (struct r_debug *)d->d_un.d_ptr;
    }
}

static _Atomic int roots_forked; /* this process is a forked child: see below */

/* note_known records where info's program headers are, by its dynamic section. */
static void note_known(const struct dl_phdr_info *info) {
    uintptr_t dyn = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
    if (dyn == 0) return;
    for (size_t i = 0; i < roots.nknown; i++) {
        if (roots.known[i].dyn == dyn) {
            roots.known[i].phdr = info->dlpi_phdr;
            roots.known[i].phnum = info->dlpi_phnum;
            return;
        }
    }
    if (roots.nknown == roots.capknown &&
        table_grow((void **)&roots.known, &roots.capknown, sizeof *roots.known) != 0)
        return; /* no memory: the child reads the ELF header instead */
    roots.known[roots.nknown].dyn = dyn;
    roots.known[roots.nknown].phdr = info->dlpi_phdr;
    roots.known[roots.nknown].phnum = info->dlpi_phnum;
    roots.nknown++;
}

static int snapshot_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    if (roots.nbases == 0 && !roots.bases_lost && roots.rdebug == NULL)
        find_rdebug(info);  /* the first object: the executable */
    if (roots.noting < 0) { /* once a listing: only when objects came or went */
        bool counted = size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs;
        roots.noting = !atomic_load_explicit(&roots_forked, memory_order_relaxed) &&
                       (!counted || info->dlpi_adds != roots.known_adds ||
                        info->dlpi_subs != roots.known_subs);
        if (counted) {
            roots.known_adds = info->dlpi_adds;
            roots.known_subs = info->dlpi_subs;
        }
    }
    if (roots.noting) note_known(info);
    if (roots.nbases == roots.capbases &&
        table_grow((void **)&roots.bases, &roots.capbases, sizeof(uintptr_t)) != 0)
        roots.bases_lost = true; /* no memory: the staleness check is skipped */
    else
        roots.bases[roots.nbases++] = info->dlpi_addr;
    enum { MAX_EXCLUDE = 8 };
    root_range_t ex[MAX_EXCLUDE];
    int nex = 0;
    uintptr_t state_lo = (uintptr_t)__start_gomem_state, state_hi = (uintptr_t)__stop_gomem_state;
    if (state_lo != 0 && state_hi > state_lo) {
        ex[nex].lo = state_lo;
        ex[nex].hi = state_hi;
        nex++;
    }
    for (int i = 0; i < info->dlpi_phnum && nex < MAX_EXCLUDE; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_GNU_RELRO) continue;
        ex[nex].lo = info->dlpi_addr + ph->p_vaddr;
        ex[nex].hi = ex[nex].lo + ph->p_memsz;
        nex++;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz == 0) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        snap_add_minus(lo, lo + ph->p_memsz, ex, nex);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------
 * Listing the loaded objects in a forked child. dl_iterate_phdr holds the loader's
 * list lock while it runs, and glibc (2.36) does not reset that lock in a child: if
 * another thread was inside dl_iterate_phdr when fork ran (an unwinder, a profiler, a
 * callback that sleeps), the lock stays taken for ever in the child, and a collection
 * that called it there waited for ever (20 of 20 children, test_fork). A child
 * therefore walks the loader's list itself, as a debugger does: r_debug's link maps,
 * in load order, each object's program headers as this process's dl_iterate_phdr last
 * gave them (noted by the dynamic section's address, the link map's l_ld, at
 * initialization and whenever the loader's counters moved), else read from its ELF
 * header at its load bias (an object loaded in the child), the executable's from the
 * auxiliary vector. An entry is complete before
 * the loader links it; an unload waits on the loader gate (above) while a collection
 * holds it, and the list is only read with the gate held.
 * ------------------------------------------------------------------------------- */

void gmi_roots_fork_child(void) {
    atomic_store(&roots_forked, 1);
}

/* page_mapped: is the page holding a mapped (mincore fails with ENOMEM if not)? */
static bool page_mapped(uintptr_t a) {
    unsigned char vec;
    return mincore((void *)(a & ~(uintptr_t)4095), 1, &vec) == 0;
}

/* object_phdrs finds the program headers of the object loaded at base. */
static bool object_phdrs(uintptr_t base, const ElfW(Phdr) * *phdr, int *phnum) {
    if (base == 0 || !page_mapped(base)) return false;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_phentsize != sizeof(ElfW(Phdr)) ||
        eh->e_phnum == 0 || eh->e_phnum >= PN_XNUM)
        return false;
    uintptr_t lo = base + eh->e_phoff, hi = lo + (size_t)eh->e_phnum * sizeof(ElfW(Phdr));
    for (uintptr_t a = lo & ~(uintptr_t)4095; a < hi; a += 4096)
        if (!page_mapped(a)) return false;
    *phdr = (const ElfW(Phdr) *)lo;
    *phnum = eh->e_phnum;
    return true;
}

/* each_object_from_list calls cb as dl_iterate_phdr would, from the loader's list;
 * false when there is no list to read. */
static bool each_object_from_list(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data) {
    const struct r_debug *rd = &_r_debug;
    if (rd->r_map == NULL) rd = roots.rdebug;
    if (rd == NULL || rd->r_map == NULL) return false;
    size_t n = 0;
    for (const struct link_map *lm = rd->r_map; lm != NULL && n < 65536; lm = lm->l_next, n++) {
        struct dl_phdr_info info;
        memset(&info, 0, sizeof info);
        info.dlpi_addr = (ElfW(Addr))lm->l_addr;
        info.dlpi_name = lm->l_name ? lm->l_name : "";
        const ElfW(Phdr) *ph = NULL;
        int phnum = 0;
        if (n == 0) { /* the executable: its headers are in the auxiliary vector */
            ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
            phnum = (int)getauxval(AT_PHNUM);
            if (ph == NULL || phnum == 0) ph = NULL;
        } else {
            /* as the parent's dl_iterate_phdr listed it; else the ELF header at the load
             * bias, where an object linked at address 0 (nearly every one) has it */
            for (size_t i = 0; i < roots.nknown && ph == NULL; i++) {
                if (roots.known[i].dyn == (uintptr_t)lm->l_ld) {
                    ph = roots.known[i].phdr;
                    phnum = roots.known[i].phnum;
                }
            }
            if (ph == NULL && !object_phdrs((uintptr_t)lm->l_addr, &ph, &phnum)) ph = NULL;
        }
        if (ph == NULL) {
            static _Atomic int warned; /* once: every collection would say it again */
            if (atomic_exchange(&warned, 1)) continue;
            gmi_error("roots: cannot read the program headers of '%s' (loaded at %p) in this"
                      " forked child: its globals are not scanned",
                      info.dlpi_name, (void *)lm->l_addr);
            continue;
        }
        info.dlpi_phdr = ph;
        info.dlpi_phnum = (ElfW(Half))phnum;
        if (cb(&info, sizeof info, data) != 0) break;
    }
    return true;
}

/* gmi_each_object: dl_iterate_phdr, but in a forked child the walk above. */
int gmi_each_object(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data) {
    if (atomic_load_explicit(&roots_forked, memory_order_relaxed) &&
        each_object_from_list(cb, data))
        return 0;
    return dl_iterate_phdr(cb, data);
}

/* gmi_roots_snapshot: see internal.h. World running, no gomem lock held, the loader
 * gate held (gmi_dl_gate_enter). */
void gmi_roots_snapshot(void) {
    roots.nsnap = 0;
    roots.nbases = 0;
    roots.bases_lost = false;
    roots.global_bytes = 0;
    roots.noting = -1;
    gmi_each_object(snapshot_object, NULL);
}

/* gmi_roots_snapshot_stale: with the world stopped, is an object the loader lists now
 * missing from the snapshot? A library dlopen'ed between the snapshot and the stop
 * may already hold, in its data, the only pointer to an object allocated since: the
 * cycle must not run on that snapshot (a stress probe lost such objects within
 * seconds). The loader's list is read without its lock, as a debugger reads it: the
 * world is stopped, and a thread stopped inside dlopen leaves at most an entry not yet
 * filled in, which reads as missing (a retry, never a miss). Objects of other link
 * namespaces (dlmopen) are not on this list. */
bool gmi_roots_snapshot_stale(void) {
    if (roots.rdebug == NULL || roots.bases_lost) return false;
    size_t n = 0;
    for (const struct link_map *lm = roots.rdebug->r_map; lm != NULL && n < 65536;
         lm = lm->l_next, n++) {
        bool found = false;
        for (size_t i = 0; i < roots.nbases && !found; i++)
            found = roots.bases[i] == (uintptr_t)lm->l_addr;
        if (!found) return true;
    }
    return false;
}

gmi_lock_t gmi_dl_gate = {PTHREAD_MUTEX_INITIALIZER};
static GMI_TLS int tls_dl_depth; /* dlclose calls in progress on this thread */

int gmi_dl_gate_enter(bool wait) {
    if (tls_dl_depth > 0) return 0; /* inside dlclose: this thread holds the gate */
    if (wait) {
        gmi_lock(&gmi_dl_gate);
        return 1;
    }
    return pthread_mutex_trylock(&gmi_dl_gate.m) == 0 ? 1 : -1;
}

void gmi_dl_gate_leave(int entered) {
    if (entered == 1) gmi_unlock(&gmi_dl_gate);
}

/* The gate's state (internal.h), and the threads asleep on it. Seq_cst: a waiter
 * counts itself before its futex compares the state, so either the setter sees the
 * count and wakes it, or the futex sees the new state. */
static _Atomic uint32_t gate_state;
static _Atomic uint32_t gate_waiters;
static uint32_t unload_prev; /* the state an outermost dlclose found (gate held) */

uint32_t gmi_dl_gate_set_state(uint32_t st) {
    uint32_t prev = atomic_exchange(&gate_state, st);
    if (prev != st && atomic_load(&gate_waiters) != 0) gmi_os_futex_wake(&gate_state, INT32_MAX);
    return prev;
}

uint32_t gmi_dl_gate_state(void) {
    return atomic_load(&gate_state);
}

void gmi_dl_gate_wait(uint32_t st, uint64_t timeout_ns) {
    atomic_fetch_add(&gate_waiters, 1);
    gmi_os_futex_wait(&gate_state, st, timeout_ns);
    atomic_fetch_sub(&gate_waiters, 1);
}

bool gmi_dl_gate_taken(void) {
    if (pthread_mutex_trylock(&gmi_dl_gate.m) != 0) return true;
    gmi_unlock(&gmi_dl_gate);
    return false;
}

void gmi_dl_unload_begin(void) {
    if (tls_dl_depth++ == 0) {
        gmi_lock(&gmi_dl_gate);
        unload_prev = gmi_dl_gate_set_state(GMI_GATE_UNLOAD);
    }
}

void gmi_dl_unload_end(void) {
    if (--tls_dl_depth == 0) {
        gmi_dl_gate_set_state(unload_prev);
        gmi_unlock(&gmi_dl_gate);
    }
}

/* gmi_roots_each: see internal.h. Precondition: gmi_roots_lock held (gmi_lock_all). */
void gmi_roots_each(void (*push)(uintptr_t lo, uintptr_t hi, void *arg), void *arg) {
    for (size_t i = 0; i < roots.nsnap; i++)
        push(roots.snap[i].lo, roots.snap[i].hi, arg);
    for (size_t i = 0; i < roots.nuser; i++) {
        if (roots.user[i].lo < roots.user[i].hi) push(roots.user[i].lo, roots.user[i].hi, arg);
    }
}

/* gmi_roots_user_key: see explain.h. Precondition: gmi_roots_lock held. */
bool gmi_roots_user_key(uintptr_t lo, uintptr_t hi, uintptr_t *key) {
    for (size_t i = 0; i < roots.nuser; i++) {
        if (roots.user[i].lo == lo && roots.user[i].hi == hi) {
            *key = roots.user[i].key;
            return true;
        }
    }
    return false;
}

uint64_t gmi_roots_global_bytes(void) {
    return roots.global_bytes;
}

/* gmi_roots_init maps the first page of each table so that the first collection and
 * the first gm_add_roots do not have to. Failure is not fatal: they grow on demand. */
static int note_known_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    note_known(info);
    return 0;
}

void gmi_roots_init(void) {
    /* the objects loaded now, for a child forked before the first collection */
    if (!atomic_load_explicit(&roots_forked, memory_order_relaxed))
        dl_iterate_phdr(note_known_cb, NULL);
    gmi_lock(&gmi_roots_lock);
    if (roots.snap == NULL) table_grow((void **)&roots.snap, &roots.capsnap, sizeof(root_range_t));
    if (roots.user == NULL) table_grow((void **)&roots.user, &roots.capuser, sizeof(user_root_t));
    gmi_unlock(&gmi_roots_lock);
}

/* The user table's index by key, so that gm_remove_roots takes constant time (a scan
 * of the table made 100 000 removals take 7 s: coroutine stacks come and go). */
static size_t uhash_home(uintptr_t key) {
    return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (roots.uhash_cap - 1);
}

static void uhash_put(size_t idx) {
    size_t mask = roots.uhash_cap - 1, pos = uhash_home(roots.user[idx].key);
    while (roots.uhash[pos] != 0)
        pos = (pos + 1) & mask;
    roots.uhash[pos] = idx + 1;
    roots.user[idx].hpos = pos;
}

/* uhash_reserve makes room for n entries at most half full; -1 when out of memory. */
static int uhash_reserve(size_t n) {
    if (roots.uhash_cap >= 2 * n && roots.uhash != NULL) return 0;
    size_t cap = roots.uhash_cap ? roots.uhash_cap : 512;
    while (cap < 2 * n)
        cap *= 2;
    size_t *h = gmi_os_reserve(cap * sizeof(size_t), 4096); /* zeroed */
    if (h == NULL) return -1;
    if (roots.uhash != NULL) gmi_os_unmap(roots.uhash, roots.uhash_cap * sizeof(size_t));
    roots.uhash = h;
    roots.uhash_cap = cap;
    for (size_t i = 0; i < roots.nuser; i++)
        uhash_put(i);
    return 0;
}

/* uhash_delete empties position pos, moving later entries of its probe run back. */
static void uhash_delete(size_t pos) {
    size_t mask = roots.uhash_cap - 1, i = pos, j = pos;
    roots.uhash[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        if (roots.uhash[j] == 0) return;
        size_t k = uhash_home(roots.user[roots.uhash[j] - 1].key);
        /* the entry at j may move to i unless its home lies cyclically in (i, j] */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays) continue;
        roots.uhash[i] = roots.uhash[j];
        roots.user[roots.uhash[i] - 1].hpos = i;
        roots.uhash[j] = 0;
        i = j;
    }
}

/* ---------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------- */

GM_API int gm_add_roots(void *lo, void *hi) {
    uintptr_t l = (uintptr_t)lo, h = (uintptr_t)hi;
    if (l > h) {
        errno = EINVAL;
        return -1;
    }
    uintptr_t rl = (l + 7) & ~(uintptr_t)7, rh = h & ~(uintptr_t)7;
    if (rh < rl) rh = rl; /* nothing to scan, but gm_remove_roots(lo) still finds it */
    gmi_lock(&gmi_roots_lock);
    if ((roots.nuser == roots.capuser &&
         table_grow((void **)&roots.user, &roots.capuser, sizeof(user_root_t)) != 0) ||
        uhash_reserve(roots.nuser + 1) != 0) {
        gmi_unlock(&gmi_roots_lock);
        errno = ENOMEM;
        return -1;
    }
    size_t idx = roots.nuser;
    roots.user[idx].lo = rl;
    roots.user[idx].hi = rh;
    roots.user[idx].key = l;
    uhash_put(idx);
    roots.nuser++; /* last: the table is read with the lock held, but whole */
    gmi_unlock(&gmi_roots_lock);
    return 0;
}

GM_API int gm_remove_roots(void *lo) {
    uintptr_t key = (uintptr_t)lo;
    size_t removed = 0;
    gmi_lock(&gmi_roots_lock);
    if (roots.uhash != NULL) {
        size_t mask = roots.uhash_cap - 1, pos = uhash_home(key);
        while (roots.uhash[pos] != 0) {
            size_t idx = roots.uhash[pos] - 1;
            if (roots.user[idx].key != key) {
                pos = (pos + 1) & mask;
                continue;
            }
            uhash_delete(pos); /* a later entry may now sit at pos: look again */
            size_t last = roots.nuser - 1;
            if (idx != last) { /* the last entry fills the hole */
                roots.user[idx] = roots.user[last];
                roots.uhash[roots.user[idx].hpos] = idx + 1;
            }
            roots.nuser--;
            removed++;
        }
    }
    gmi_unlock(&gmi_roots_lock);
    if (removed == 0) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}
