/* profile.c: heap-profile sampling (Go's MemProfileRate), its buckets, the 3-slot
 * publication ring, span specials, and the public profiling API.
 *
 * 1. Each thread cache counts down next_sample bytes; the allocation that takes it
 *    below zero calls gmi_profile_record_alloc. Distances are exponential with mean
 *    gmi_profile_rate, so on average one sample is taken per rate bytes and each
 *    allocation of s bytes is sampled with probability 1 - exp(-s / rate).
 * 2. A sample walks the frame pointers of the calling thread (at most 64 frames, each
 *    checked to lie on the thread's stack), drops gomem's own frames, and counts the
 *    allocation in the bucket of (stack, size). A GMI_SPECIAL_PROFILE special on the
 *    object's slot remembers the bucket, so the free (gm_free, or the sweeper finding
 *    the slot unmarked) is counted in the same bucket.
 * 3. Publication as Go's mprof.go: with C the number of completed mark terminations,
 *    mallocs and explicit frees go to future[(C+2)%3], frees found by sweeping to
 *    future[(C+1)%3]; once C has advanced, future[C%3] is added to the published
 *    totals. The published figures are therefore exactly the heap as of the last mark
 *    termination: its allocations and the frees that cycle's sweep found.
 * 4. The writer (pprof.c) copies the published totals under the lock, then unbiases
 *    and symbolizes them with no lock held.
 * Locking: gmi_profile_lock protects the buckets, the ring and every span's specials
 * list; only the metadata allocator's lock is taken inside it. It is in gmi_lock_all,
 * so hooks called with the world stopped must not take it again (see
 * gmi_profile_sweep_span). Bucket stacks never change once created and buckets are
 * never freed, so the writer reads them without the lock.
 * See malloc.c for the allocator overview. */
#include "profile.h"
#include "gc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Atomic int64_t gmi_profile_rate = GMI_PROFILE_DEFAULT_RATE;

gmi_lock_t gmi_profile_lock GMI_STATE = {PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------------------------
 * Buckets
 * ------------------------------------------------------------------------------- */

/* Sample counts (raw, not unbiased). */
typedef struct gmi_memrecord_s {
    int64_t allocs, frees, alloc_bytes, free_bytes;
} gmi_memrecord_t;

/* gmi_profile_bucket_t: all samples with one stack and one object size.
 * Invariant: active holds everything published; future[i] what is not yet. */
typedef struct gmi_profile_bucket_s gmi_profile_bucket_t;
struct gmi_profile_bucket_s {
    gmi_profile_bucket_t *next; /* hash chain */
    gmi_profile_bucket_t *all;  /* every bucket, newest first */
    uint64_t hash;
    int64_t size;
    uint32_t depth;
    gmi_memrecord_t active;
    gmi_memrecord_t future[3];
    uintptr_t stack[]; /* depth return addresses, leaf first */
};

#define BUCKET_TABLE_SIZE 65536 /* chains; Go uses 179999 */

static struct {
    gmi_profile_bucket_t **table; /* BUCKET_TABLE_SIZE heads, mapped at first sample */
    gmi_profile_bucket_t *all;
    size_t nbuckets;
    uint64_t buckets_sys;    /* metadata bytes of the table and the buckets (BuckHashSys) */
    uint32_t cycle;          /* C: mark terminations seen */
    uint32_t flushed;        /* future[flushed % 3] was published for cycle == flushed */
    uint32_t cycle_sweepgen; /* gmi_gc.sweepgen when cycle last advanced */
    gmi_fixalloc_t specials;
    bool specials_ready;
    char exit_path[4096]; /* GOMEMPROFILE */
    pid_t exit_pid;       /* the process that set it: forked children do not write */
} prof GMI_STATE;

static uint64_t hash_stack(const uintptr_t *stk, uint32_t depth, size_t size) {
    uint64_t h = size * 0x9E3779B97F4A7C15ULL;
    for (uint32_t i = 0; i < depth; i++) {
        h ^= stk[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

/* flush_locked publishes future[C%3] once C has advanced past the last flush. */
static void flush_locked(uint32_t index) {
    for (gmi_profile_bucket_t *b = prof.all; b != NULL; b = b->all) {
        gmi_memrecord_t *f = &b->future[index];
        b->active.allocs += f->allocs;
        b->active.frees += f->frees;
        b->active.alloc_bytes += f->alloc_bytes;
        b->active.free_bytes += f->free_bytes;
        memset(f, 0, sizeof *f);
    }
}

static void flush_pending_locked(void) {
    if (prof.flushed != prof.cycle) {
        flush_locked(prof.cycle % 3);
        prof.flushed = prof.cycle;
    }
}

/* bucket_get_locked finds or creates the bucket of (stack, size); NULL on OOM. */
static gmi_profile_bucket_t *bucket_get_locked(const uintptr_t *stk, uint32_t depth, size_t size) {
    if (prof.table == NULL) {
        prof.table = gmi_meta_alloc(BUCKET_TABLE_SIZE * sizeof *prof.table);
        if (prof.table == NULL) return NULL;
        prof.buckets_sys += gmi_meta_size(BUCKET_TABLE_SIZE * sizeof *prof.table);
    }
    uint64_t h = hash_stack(stk, depth, size);
    gmi_profile_bucket_t **head = &prof.table[h % BUCKET_TABLE_SIZE];
    for (gmi_profile_bucket_t *b = *head; b != NULL; b = b->next) {
        if (b->hash == h && b->size == (int64_t)size && b->depth == depth &&
            memcmp(b->stack, stk, depth * sizeof *stk) == 0)
            return b;
    }
    gmi_profile_bucket_t *b = gmi_meta_alloc(sizeof *b + depth * sizeof *stk);
    if (b == NULL) return NULL;
    prof.buckets_sys += gmi_meta_size(sizeof *b + depth * sizeof *stk);
    b->hash = h;
    b->size = (int64_t)size;
    b->depth = depth;
    memcpy(b->stack, stk, depth * sizeof *stk);
    b->next = *head;
    *head = b;
    b->all = prof.all;
    prof.all = b;
    prof.nbuckets++;
    return b;
}

/* ---------------------------------------------------------------------------------
 * Sampling distance
 * ------------------------------------------------------------------------------- */

static GMI_TLS uint64_t rng_state;
static _Atomic uint64_t rng_seed;

static uint64_t rng_next(void) {
    uint64_t x = rng_state;
    if (gmi_unlikely(x == 0)) {
        uint64_t s = atomic_fetch_add(&rng_seed, 0x9e3779b97f4a7c15ULL);
        x = gmi_splitmix64(s ^ (uintptr_t)&rng_state ^ gmi_os_nanotime());
        if (x == 0) x = 1;
    }
    x ^= x << 13; /* xorshift64 */
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* log2_int returns log2(q) for q >= 1 to about 1e-6: the exponent from the leading bit,
 * and ln of the mantissa m in [1, 2) from 2 atanh((m-1)/(m+1)). */
static double log2_int(uint32_t q) {
    int e = 31 - __builtin_clz(q);
    double m = (double)q / (double)(1u << e);
    double z = (m - 1.0) / (m + 1.0), z2 = z * z;
    double ln = 2.0 * z * (1.0 + z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 / 9))));
    return e + ln * 1.4426950408889634;
}

int64_t gmi_profile_next_sample(void) {
    int64_t rate = atomic_load_explicit(&gmi_profile_rate, memory_order_relaxed);
    if (rate == 0) return (int64_t)64 << 20;
    if (rate == 1) return 0;
    /* q uniform in [1, 2^26]; -ln(q / 2^26) is exponential with mean 1. No cap on the
     * rate, unlike Go's (its countdown is 32-bit): the writers unbias with the rate as
     * set, so the distances must follow it; only the 2^62 bound keeps the conversion
     * defined for rates near INT64_MAX. */
    uint32_t q = (uint32_t)(rng_next() >> 38) + 1;
    double qlog = log2_int(q) - 26.0;
    if (qlog > 0) qlog = 0;
    double d = qlog * (-0.6931471805599453 * (double)rate);
    if (d >= 0x1p62) return (int64_t)1 << 62;
    return (int64_t)d + 1;
}

/* ---------------------------------------------------------------------------------
 * Stacks: the frame-pointer walk and gomem's own frames
 * ------------------------------------------------------------------------------- */

/* Addresses that are gomem's code, as sorted [lo, hi) ranges. When gomem is a shared
 * library that is the whole object. Linked statically, it is every run of functions
 * (in address order in the executable's symbol table) that starts and ends with a
 * gm_* or gmi_* function and holds nothing but those and static functions: the
 * library's archive members are laid out together, so its static helpers lie between
 * its named functions, while the program's own code is separated by at least one
 * global function of another name (main, for one). */
#define SELF_MAX_RANGES 64
static struct {
    pthread_once_t once;
    uintptr_t range[SELF_MAX_RANGES][2];
    size_t nrange;
} self = {.once = PTHREAD_ONCE_INIT};

static bool gomem_name(const char *name) {
    return strncmp(name, "gm_", 3) == 0 || strncmp(name, "gmi_", 4) == 0;
}

static void self_add(uintptr_t lo, uintptr_t hi) {
    if (self.nrange > 0 && self.range[self.nrange - 1][1] >= lo) {
        if (hi > self.range[self.nrange - 1][1]) self.range[self.nrange - 1][1] = hi;
    } else if (self.nrange < SELF_MAX_RANGES) {
        self.range[self.nrange][0] = lo;
        self.range[self.nrange][1] = hi;
        self.nrange++;
    }
}

static void self_init_static(const gmi_mapping_t *m, uintptr_t here) {
    gmi_elf_t e;
    uint64_t vaddr;
    if (gmi_elf_load(&e, m->path, false) &&
        gmi_elf_vaddr(&e, here - m->start + m->offset, &vaddr)) {
        uintptr_t bias = here - (uintptr_t)vaddr;
        bool open = false;
        uintptr_t lo = 0, hi = 0;
        for (size_t i = 0; i < e.nsyms; i++) {
            const gmi_elf_sym_t *y = &e.syms[i];
            uintptr_t end = y->addr + (y->size ? y->size : 1);
            if (gomem_name(y->name)) {
                if (!open) lo = y->addr;
                open = true;
                hi = end;
            } else if (!y->local && open) {
                self_add(lo + bias, hi + bias);
                open = false;
            }
        }
        if (open) self_add(lo + bias, hi + bias);
    }
    gmi_elf_free(&e);
}

/* self_init runs once (pthread_once), on whichever thread takes the first sample, so
 * its path buffer is static: 4 KiB less on the stack of a thread that may have little. */
static void self_init(void) {
    static char exe[4096];
    gmi_maps_t maps;
    if (gmi_maps_read(&maps) != 0) return;
    uintptr_t here = (uintptr_t)&gmi_profile_record_alloc;
    const gmi_mapping_t *m = gmi_maps_find(&maps, here);
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[k > 0 ? k : 0] = 0;
    if (m != NULL && m->path[0] == '/' && strcmp(m->path, exe) != 0) {
        uintptr_t lo = UINTPTR_MAX, hi = 0;
        for (size_t i = 0; i < maps.n; i++) {
            if (strcmp(maps.map[i].path, m->path) != 0) continue;
            if (maps.map[i].start < lo) lo = maps.map[i].start;
            if (maps.map[i].limit > hi) hi = maps.map[i].limit;
        }
        self_add(lo, hi);
    } else if (m != NULL && m->path[0] == '/') {
        self_init_static(m, here);
    }
    gmi_maps_free(&maps);
}

static bool is_gomem_pc(uintptr_t pc) {
    size_t lo = 0, hi = self.nrange;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (self.range[mid][1] <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < self.nrange && self.range[lo][0] <= pc;
}

/* capture_stack stores up to max return addresses of the calling thread, leaf first,
 * starting with its caller's caller. Each frame pointer must be 8-aligned, above the
 * previous one and inside the thread's stack; the walk stops at anything else. On a
 * stack gomem does not know the bounds of (a coroutine's), nothing is walked: between
 * it and the thread's stack lie unmapped pages that a stray frame pointer could reach,
 * so such a sample has no stack. */
GMI_NO_ASAN GMI_NOINLINE static uint32_t capture_stack(uintptr_t *out, uint32_t max) {
    gmi_thread_t *t = gmi_tls_thread;
    uintptr_t lo = (uintptr_t)__builtin_frame_address(0), hi;
    if (t != NULL && gmi_thread_on_own_stack(t, lo))
        hi = t->stack_hi;
    else
        return 0;
    uint32_t n = 0;
    uintptr_t fp = lo;
    while (n < max) {
        if (fp < lo || fp > hi - 2 * sizeof(uintptr_t) || (fp & 7) != 0) break;
        uintptr_t next = ((uintptr_t *)fp)[0], ret = ((uintptr_t *)fp)[1];
        if (ret < 4096) break;
        out[n++] = ret;
        if (next <= fp) break;
        fp = next;
    }
    return n;
}

/* trim_stack returns how many leading frames are gomem's. */
static uint32_t trim_stack(const uintptr_t *stk, uint32_t depth) {
    uint32_t i = 0;
    while (i < depth && is_gomem_pc(stk[i]))
        i++;
    return i;
}

/* ---------------------------------------------------------------------------------
 * Specials
 * ------------------------------------------------------------------------------- */

gmi_special_t *gmi_special_alloc_locked(void) {
    if (!prof.specials_ready) {
        gmi_fixalloc_init(&prof.specials, sizeof(gmi_special_t));
        prof.specials_ready = true;
    }
    gmi_special_t *sp = gmi_fixalloc_alloc(&prof.specials);
    if (sp != NULL) memset(sp, 0, sizeof *sp);
    return sp;
}

void gmi_special_free_locked(gmi_special_t *sp) {
    gmi_fixalloc_free(&prof.specials, sp);
}

/* The list is sorted by (slot, kind). Stores of the head are atomic so that callers
 * may test s->specials != NULL without the lock. */
bool gmi_special_insert_locked(gmi_span_t *s, gmi_special_t *sp) {
    gmi_special_t **pp = (gmi_special_t **)&s->specials;
    while (*pp != NULL &&
           ((*pp)->slot < sp->slot || ((*pp)->slot == sp->slot && (*pp)->kind < sp->kind)))
        pp = &(*pp)->next;
    if (*pp != NULL && (*pp)->slot == sp->slot && (*pp)->kind == sp->kind) return false;
    sp->next = *pp;
    __atomic_store_n(pp, sp, __ATOMIC_RELEASE);
    return true;
}

gmi_special_t *gmi_special_remove_locked(gmi_span_t *s, size_t slot, uint8_t kind) {
    gmi_special_t **pp = (gmi_special_t **)&s->specials;
    for (; *pp != NULL; pp = &(*pp)->next) {
        gmi_special_t *sp = *pp;
        if (sp->slot > slot) break;
        if (sp->slot == slot && sp->kind == kind) {
            __atomic_store_n(pp, sp->next, __ATOMIC_RELEASE);
            return sp;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------
 * The allocator's hooks
 * ------------------------------------------------------------------------------- */

static size_t slot_of(const gmi_span_t *s, uintptr_t obj) {
    return s->nelems <= 1 ? 0 : gmi_span_slot(s, obj);
}

static void count_free_locked(gmi_profile_bucket_t *b, unsigned index) {
    b->future[index].frees++;
    b->future[index].free_bytes += b->size;
}

void gmi_profile_record_alloc(gmi_span_t *s, uintptr_t obj, size_t size) {
    if (atomic_load_explicit(&gmi_profile_rate, memory_order_relaxed) == 0) return;
    pthread_once(&self.once, self_init);
    uintptr_t stk[GMI_PROFILE_MAX_DEPTH + 8];
    uint32_t depth = capture_stack(stk, GMI_PROFILE_MAX_DEPTH + 8);
    uint32_t skip = trim_stack(stk, depth);
    depth -= skip;
    if (depth > GMI_PROFILE_MAX_DEPTH) depth = GMI_PROFILE_MAX_DEPTH;

    gmi_lock(&gmi_profile_lock);
    flush_pending_locked();
    unsigned index = (prof.cycle + 2) % 3;
    gmi_profile_bucket_t *b = bucket_get_locked(stk + skip, depth, size);
    gmi_special_t *sp = b != NULL ? gmi_special_alloc_locked() : NULL;
    if (sp != NULL) {
        b->future[index].allocs++;
        b->future[index].alloc_bytes += (int64_t)size;
        sp->slot = (uint16_t)slot_of(s, obj);
        sp->kind = GMI_SPECIAL_PROFILE;
        sp->bucket = b;
        if (!gmi_special_insert_locked(s, sp)) {
            /* A stale record: its object's free was never reported. Count it freed now
             * so in-use figures do not grow without bound. */
            gmi_special_t *old = gmi_special_remove_locked(s, sp->slot, GMI_SPECIAL_PROFILE);
            count_free_locked(old->bucket, index);
            gmi_special_free_locked(old);
            gmi_special_insert_locked(s, sp);
        }
    }
    gmi_unlock(&gmi_profile_lock);
}

void gmi_profile_record_free(gmi_span_t *s, size_t slot) {
    if (__atomic_load_n(&s->specials, __ATOMIC_RELAXED) == NULL) return;
    gmi_lock(&gmi_profile_lock);
    gmi_special_t *sp = gmi_special_remove_locked(s, slot, GMI_SPECIAL_PROFILE);
    if (sp != NULL) {
        flush_pending_locked();
        count_free_locked(sp->bucket, (prof.cycle + 2) % 3);
        gmi_special_free_locked(sp);
    }
    gmi_unlock(&gmi_profile_lock);
}

void gmi_profile_sweep_span_locked(gmi_span_t *s) {
    flush_pending_locked();
    /* Frees found by the sweep of cycle C go to future[(C+1)%3]. A sweep that runs
     * after mark termination advanced sweepgen but before gmi_profile_cycle_end (the
     * stop-the-world sweep of cached spans) already belongs to cycle C+1. */
    uint32_t sg = atomic_load_explicit(&gmi_gc.sweepgen, memory_order_relaxed);
    unsigned index = (prof.cycle + (sg == prof.cycle_sweepgen ? 1 : 2)) % 3;
    gmi_special_t **pp = (gmi_special_t **)&s->specials;
    while (*pp != NULL) {
        gmi_special_t *sp = *pp;
        if (sp->kind == GMI_SPECIAL_PROFILE && !gmi_bit_get(s->mark_bits, sp->slot)) {
            __atomic_store_n(pp, sp->next, __ATOMIC_RELEASE);
            count_free_locked(sp->bucket, index);
            gmi_special_free_locked(sp);
        } else {
            pp = &sp->next;
        }
    }
}

/* held_by_caller tells whether the calling thread holds gmi_profile_lock, which is the
 * case only in the collector with the world stopped (gmi_lock_all). */
static bool held_by_caller(void) {
    return gmi_mutex_held_by_me(&gmi_profile_lock.m);
}

void gmi_profile_sweep_span(gmi_span_t *s) {
    if (__atomic_load_n(&s->specials, __ATOMIC_RELAXED) == NULL) return;
    if (held_by_caller()) { /* a sweep with the world stopped */
        gmi_profile_sweep_span_locked(s);
        return;
    }
    gmi_lock(&gmi_profile_lock);
    gmi_profile_sweep_span_locked(s);
    gmi_unlock(&gmi_profile_lock);
}

void gmi_profile_cycle_end(void) {
    gmi_assert(held_by_caller());
    /* Slot C%3 must be published before C moves on; usually a sample already did it,
     * so the world is rarely stopped for a walk of the buckets. */
    flush_pending_locked();
    prof.cycle++;
    prof.cycle_sweepgen = atomic_load_explicit(&gmi_gc.sweepgen, memory_order_relaxed);
}

void gmi_profile_publish_swept(void) {
    gmi_lock(&gmi_profile_lock);
    flush_pending_locked();
    flush_locked((prof.cycle + 1) % 3);
    gmi_unlock(&gmi_profile_lock);
}

/* ---------------------------------------------------------------------------------
 * Public API and knobs
 * ------------------------------------------------------------------------------- */

GM_API int64_t gm_set_mem_profile_rate(int64_t bytes) {
    gm_init();
    if (bytes < 0) return atomic_load(&gmi_profile_rate);
    int64_t old = atomic_exchange(&gmi_profile_rate, bytes);
    gmi_thread_t *t = gmi_tls_thread;
    if (t != NULL) t->cache.next_sample = gmi_profile_next_sample();
    return old;
}

static int write_heap_profile(const char *path);

GM_API int gm_write_heap_profile(const char *path) {
    int cancel = gmi_nocancel_begin(); /* see internal.h */
    int rc = write_heap_profile(path);
    gmi_nocancel_end(cancel);
    return rc;
}

static int write_heap_profile(const char *path) {
    if (path == NULL) {
        errno = EINVAL;
        return -1;
    }
    gm_init();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;

    /* Copy the published totals; buckets made after the size was read are left out. */
    gmi_lock(&gmi_profile_lock);
    flush_pending_locked();
    size_t cap = prof.nbuckets;
    gmi_unlock(&gmi_profile_lock);
    size_t bytes = (cap + 1) * sizeof(gmi_profile_record_t);
    gmi_profile_record_t *recs = gmi_profile_scratch_alloc(bytes);
    if (recs == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    gmi_lock(&gmi_profile_lock);
    flush_pending_locked();
    gmi_profile_bucket_t *b = prof.all;
    for (size_t skip = prof.nbuckets - cap; skip > 0 && b != NULL; skip--)
        b = b->all;
    for (; b != NULL && n < cap; b = b->all, n++) {
        recs[n].alloc_objects = b->active.allocs;
        recs[n].alloc_bytes = b->active.alloc_bytes;
        recs[n].free_objects = b->active.frees;
        recs[n].free_bytes = b->active.free_bytes;
        recs[n].size = b->size;
        recs[n].stack = b->stack;
        recs[n].depth = b->depth;
    }
    gmi_unlock(&gmi_profile_lock);

    int64_t rate = atomic_load(&gmi_profile_rate);
    int rc = gmi_pprof_write_fd(fd, recs, n, rate, gmi_os_walltime());
    int err = errno;
    gmi_profile_scratch_free(recs, bytes);
    if (close(fd) != 0 && rc == 0) {
        err = errno;
        rc = -1;
    }
    if (rc != 0) errno = err;
    return rc;
}

/* write_at_exit is the atexit handler for GOMEMPROFILE: one collection so the
 * profile covers the whole run, publication, then the file. */
static void write_at_exit(void) {
    if (getpid() != prof.exit_pid) return; /* a forked child: the file is the parent's */
    gm_collect();
    gmi_profile_publish_swept();
    if (gm_write_heap_profile(prof.exit_path) != 0)
        gmi_error("profile: cannot write GOMEMPROFILE=%s (errno %d)", prof.exit_path, errno);
}

/* parse_rate accepts a non-negative decimal integer, as Go's memprofilerate. */
static int parse_rate(const char *s, int64_t *out) {
    int64_t v = 0;
    if (*s == 0) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10) return -1; /* past INT64_MAX */
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void gmi_profile_init(void) {
    atomic_store(&rng_seed, gmi_os_walltime());
    const char *r = gmi_getenv("GOMEMPROFILERATE");
    if (r != NULL && r[0] != 0) { /* empty: unset, as for every knob */
        int64_t v;
        if (parse_rate(r, &v) == 0)
            atomic_store(&gmi_profile_rate, v);
        else
            gmi_error("malformed GOMEMPROFILERATE=\"%.200s\": want a non-negative integer "
                      "(bytes between samples)",
                      r);
    }
    const char *p = gmi_getenv("GOMEMPROFILE");
    if (p != NULL && p[0] != 0) {
        size_t n = strlen(p);
        if (n >= sizeof prof.exit_path) {
            gmi_error("profile: GOMEMPROFILE path too long");
        } else {
            memcpy(prof.exit_path, p, n + 1);
            prof.exit_pid = getpid();
            atexit(write_at_exit);
        }
    }
}

uint64_t gmi_profile_buckets_sys_locked(void) {
    return prof.buckets_sys;
}

/* gmi_profile_alloc_site returns the innermost caller frame recorded when the object in
 * slot of s was sampled, or 0 if it was not (debug_modes.c's write-after-free report). */
uintptr_t gmi_profile_alloc_site(gmi_span_t *s, size_t slot) {
    uintptr_t pc = 0;
    if (__atomic_load_n(&s->specials, __ATOMIC_ACQUIRE) == NULL) return 0;
    gmi_lock(&gmi_profile_lock);
    for (gmi_special_t *sp = s->specials; sp != NULL && sp->slot <= slot; sp = sp->next) {
        if (sp->slot == slot && sp->kind == GMI_SPECIAL_PROFILE && sp->bucket != NULL) {
            gmi_profile_bucket_t *b = sp->bucket;
            if (b->depth > 0) pc = b->stack[0];
            break;
        }
    }
    gmi_unlock(&gmi_profile_lock);
    return pc;
}
