/* internal.h: gmi_* prototypes shared between gomem's source files, and small inline
 * helpers. Nothing here is exported from libgomem.so (built with -fvisibility=hidden).
 * See malloc.c for the allocator overview and gc.c for the collector overview. */
#ifndef GMI_INTERNAL_H
#define GMI_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "config.h"
#include "types.h"
#include "../include/gomem.h"

/* Declarations below are of the library's own symbols: hidden, so that its code
 * reaches them directly rather than through the GOT (-fvisibility=hidden covers only
 * definitions). */
#pragma GCC visibility push(hidden)

#define gmi_likely(x)   __builtin_expect(!!(x), 1)
#define gmi_unlikely(x) __builtin_expect(!!(x), 0)
#define GMI_NOINLINE    __attribute__((noinline))
#define GMI_INLINE      static inline __attribute__((always_inline))
#define GMI_NO_ASAN     __attribute__((no_sanitize("address"), no_sanitize("thread")))

/* Every gomem global that may hold a value looking like a heap address lives in this
 * section, which the root scanner excludes from the data of the loaded objects. */
#define GMI_STATE __attribute__((section("gomem_state")))

#define GMI_TLS __attribute__((tls_model("initial-exec"))) __thread

/* ---------------------------------------------------------------------------------
 * debug.h-style checks and messages (fmt.c)
 * ------------------------------------------------------------------------------- */

/* gmi_snprintf formats like snprintf with a small subset (%d %i %u %ld %lu %lld %llu
 * %zu %zd %x %lx %llx %zx %p %s %c %% and a width/zero-pad/precision for numbers and
 * strings), never allocates and is async-signal-safe. Returns the length that would
 * have been written. */
int gmi_snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int gmi_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
/* gmi_fdprintf writes the formatted text to fd with write(2), at most 1 KiB per call. */
void gmi_fdprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* gmi_error prints "gomem: <text>\n" on stderr (one write). */
void gmi_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* gmi_throw prints "gomem: fatal: <text>" and aborts. For impossible states. */
_Noreturn void gmi_throw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#if GM_DEBUG >= 1
#define gmi_assert(c)                                                                              \
    ((c) ? (void)0 : gmi_throw("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__))
#else
#define gmi_assert(c) ((void)0)
#endif
#if GM_DEBUG >= 2
#define gmi_assert_internal(c) gmi_assert(c)
#else
#define gmi_assert_internal(c) ((void)0)
#endif

/* ---------------------------------------------------------------------------------
 * os_linux.c: the only file with memory syscalls
 * ------------------------------------------------------------------------------- */

/* gmi_os_reserve maps size bytes (read-write, not yet committed) aligned to align, or
 * returns NULL with errno set. Failure injection (GOMEMDEBUG=failmmap=N) lives here. */
void *gmi_os_reserve(size_t size, size_t align);
void gmi_os_unmap(void *p, size_t size);
/* gmi_os_release returns the pages to the OS. It returns GMI_RELEASED_ZERO
 * (MADV_DONTNEED: they read as zero afterwards), GMI_RELEASED_LAZY (MADV_FREE: until
 * the kernel reclaims a page or it is written, it reads as its old contents or as
 * zero, either at any moment) or -1 with errno set. */
enum { GMI_RELEASED_ZERO = 0, GMI_RELEASED_LAZY = 1 };
int gmi_os_release(void *p, size_t size);
/* MADV_FREE instead of MADV_DONTNEED from now on (GODEBUG=madvdontneed=0). */
void gmi_os_set_madv_free(bool on);
bool gmi_os_madv_free(void);
uint64_t gmi_os_nanotime(void); /* CLOCK_MONOTONIC */
/* gmi_os_futex_wait sleeps while *addr == val, up to timeout_ns (0: no limit), or until
 * a wake or a signal; gmi_os_futex_wake wakes up to n sleepers. Raw syscalls: usable
 * in a signal handler. */
void gmi_os_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns);
void gmi_os_futex_wake(_Atomic uint32_t *addr, int n);
uint64_t gmi_os_walltime(void); /* CLOCK_REALTIME, Unix ns */
uint64_t gmi_os_thread_cputime(void);
int gmi_os_ncpu(void);
size_t gmi_os_rss(void);                 /* resident set size from /proc/self/statm, 0 if unknown */
size_t gmi_os_commit_limit(void);        /* RAM + swap: the largest request gomem accepts */
size_t gmi_os_page_size(void);           /* the kernel's page size */
extern size_t gmi_os_page_size_override; /* tests: a larger kernel page size */

/* ---------------------------------------------------------------------------------
 * meta.c: gomem's own metadata memory (never from malloc, never scanned)
 * ------------------------------------------------------------------------------- */

/* gmi_meta_alloc returns zeroed, 16-byte aligned memory that is never freed, or NULL.
 * Thread-safe. */
void *gmi_meta_alloc(size_t size);
/* gmi_meta_size: the bytes gmi_meta_alloc(size) takes (size rounded up as it does). */
size_t gmi_meta_size(size_t size);
/* Fixed-size allocator with a free list; not thread-safe: callers hold a lock. */
typedef struct gmi_fixalloc_s {
    size_t size;
    void *free_list;
    char *chunk;
    size_t chunk_left;
    size_t inuse; /* bytes handed out and not freed */
    size_t sys;   /* bytes mapped */
    bool nozero;  /* recycled objects are not cleared: the caller clears what it uses */
} gmi_fixalloc_t;
void gmi_fixalloc_init(gmi_fixalloc_t *f, size_t size);
void *gmi_fixalloc_alloc(gmi_fixalloc_t *f);
void gmi_fixalloc_free(gmi_fixalloc_t *f, void *p);
extern _Atomic size_t gmi_meta_sys; /* bytes mapped for metadata in all */

/* ---------------------------------------------------------------------------------
 * locks (lock.c) and the global lock order (gc.c)
 * ------------------------------------------------------------------------------- */

void gmi_lock_init(gmi_lock_t *l);
void gmi_lock(gmi_lock_t *l);
void gmi_unlock(gmi_lock_t *l);
/* gmi_lock_all takes every gomem lock in the documented order (gc.c); gmi_unlock_all
 * releases them. gmi_lock_reinit_all_child reinitializes them in a forked child. */
void gmi_lock_all(void);
void gmi_unlock_all(void);
void gmi_lock_reinit_all_child(void);

/* ---------------------------------------------------------------------------------
 * sizeclass.c
 * ------------------------------------------------------------------------------- */

extern const uint16_t gmi_class_to_size[GMI_NUM_CLASSES];
extern const uint8_t gmi_class_to_npages[GMI_NUM_CLASSES];
extern const uint16_t gmi_class_to_nelems[GMI_NUM_CLASSES];
extern const uint32_t gmi_class_to_divmul[GMI_NUM_CLASSES];
extern const uint8_t gmi_size_to_class8[129];     /* Go's: index (size + 7) >> 3, size <= 1024 */
extern const uint8_t gmi_size_to_class8_a16[129]; /* the same with 16-byte alignment from 16 B */
extern const uint8_t gmi_size_to_class128[249];   /* index (size - 1024 + 127) >> 7 */

/* gmi_size_to_class maps 0 <= size <= 32768 to its size class, honouring the 16-byte
 * alignment of objects of 16 bytes or more (17..24 take class 4, 32 B; 0 takes class 1). */
GMI_INLINE unsigned gmi_size_to_class(size_t size) {
    if (size <= 1024) return gmi_size_to_class8_a16[(size + 7) >> 3];
    return gmi_size_to_class128[(size - 1024 + 127) >> 7];
}

/* ---------------------------------------------------------------------------------
 * arena.c / page_heap.c
 * ------------------------------------------------------------------------------- */

typedef struct gmi_heap_s gmi_heap_t;
extern gmi_arena_t **gmi_arena_map;        /* GMI_ARENA_MAP_LEN entries, lazily committed */
extern uintptr_t gmi_heap_lo, gmi_heap_hi; /* bounds of all arenas (for the fast reject) */

/* gmi_span_of returns the INUSE span containing addr, or NULL. Cheap rejection of the
 * great majority of words that are not heap pointers: one range compare, then two
 * loads. */
GMI_INLINE gmi_span_t *gmi_span_of_in_heap(uintptr_t addr);
GMI_INLINE gmi_span_t *gmi_span_of(uintptr_t addr) {
    if (addr - gmi_heap_lo >= gmi_heap_hi - gmi_heap_lo) return NULL;
    return gmi_span_of_in_heap(addr);
}

/* gmi_span_of_in_heap is gmi_span_of for an address known to lie between gmi_heap_lo
 * and gmi_heap_hi (the marker tests the bounds itself, with them in registers). */
GMI_INLINE gmi_span_t *gmi_span_of_in_heap(uintptr_t addr) {
    gmi_arena_t *a = gmi_arena_map[addr >> GMI_ARENA_SHIFT];
    if (a == NULL) return NULL;
    gmi_span_t *s = a->spans[(addr >> GMI_PAGE_SHIFT) & (GMI_PAGES_PER_ARENA - 1)];
    if (s == NULL) return NULL;
    if (atomic_load_explicit(&s->state, memory_order_acquire) != GMI_SPAN_INUSE) return NULL;
    if (addr - s->start >= s->limit - s->start) return NULL;
    return s;
}

/* gmi_span_slot returns the slot index of an address inside span s. */
GMI_INLINE size_t gmi_span_slot(const gmi_span_t *s, uintptr_t addr) {
    return (size_t)(((uint64_t)(addr - s->start) * s->divmul) >> 32);
}

/* gmi_splitmix64 mixes a seed into 64 well-spread bits (SplitMix64's finalizer). */
GMI_INLINE uint64_t gmi_splitmix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* gmi_popcount64 counts set bits. x86-64's baseline has no popcnt instruction, so
 * __builtin_popcountll would be a libgcc call: this is the branch-free SWAR count. */
GMI_INLINE unsigned gmi_popcount64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

/* gmi_cpu_relax is the spin-wait hint (pause, yield). */
GMI_INLINE void gmi_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

GMI_INLINE bool gmi_bit_get(const uint64_t *bits, size_t i) {
    return (bits[i >> 6] >> (i & 63)) & 1;
}

void gmi_heap_init(void);
/* gmi_heap_alloc_span returns an INUSE span of npages pages (zero-filled memory if
 * *zeroed is set on return), or NULL on OOM (errno ENOMEM). Takes the heap lock. */
gmi_span_t *gmi_heap_alloc_span(size_t npages, unsigned spanclass, bool *zeroed);
/* gmi_heap_free_span returns an INUSE span's pages to the page heap. */
void gmi_heap_free_span(gmi_span_t *s);
void gmi_heap_free_span_locked(gmi_span_t *s);
extern gmi_lock_t gmi_heap_lock;

/* ---------------------------------------------------------------------------------
 * span.c, central.c, thread_cache.c, malloc.c
 * ------------------------------------------------------------------------------- */

void gmi_span_init_small(gmi_span_t *s, unsigned spanclass);
/* gmi_span_sweep sweeps a span whose sweep ownership the caller holds; returns the
 * number of slots freed. Drains pending frees. Does not relist the span. */
size_t gmi_span_sweep_bits(gmi_span_t *s);
void gmi_span_count(gmi_span_t *s);

void gmi_central_init(void);
gmi_span_t *gmi_central_cache_span(unsigned spanclass);
void gmi_central_uncache_span(gmi_span_t *s);
/* Free a slot of a span the calling thread does not own. */
void gmi_central_free_remote(gmi_span_t *s, size_t slot);
extern gmi_lock_t gmi_central_locks[GMI_NUM_SPAN_CLASSES];

void gmi_thread_cache_release(gmi_thread_cache_t *c); /* give every cached span back */
void gmi_thread_cache_flush_stats(gmi_thread_cache_t *c);

void *gmi_malloc_slow(gmi_thread_t *t, unsigned spanclass, size_t size);
void *gmi_malloc_large(gmi_thread_t *t, size_t size, bool noscan);
void gmi_init_slow(void);
extern _Atomic int gmi_initialized;

/* ---------------------------------------------------------------------------------
 * threads.c: thread registry, stop/start the world, fork
 * ------------------------------------------------------------------------------- */

extern GMI_TLS gmi_thread_t *gmi_tls_thread;
/* malloc.c: the reuse stacks (malloc.c overview, 7a) */
extern uintptr_t gmi_reuse_key;
/* gmi_reuse_cap[spc]: most objects the reuse stack of span class spc holds (GMI_REUSE_SLOTS,
 * fewer where GMI_REUSE_BYTES binds); set once by gmi_reuse_init at start-up. */
extern uint8_t gmi_reuse_cap[GMI_NUM_SPAN_CLASSES]; /* 0 from GMI_REUSE_SPAN_CLASSES on */
void gmi_reuse_init(void);
/* gmi_reuse_tagged: the small object at base a was freed onto a reuse stack. */
GMI_INLINE bool gmi_reuse_tagged(uintptr_t a) {
    return *(const uintptr_t *)a == (a ^ gmi_reuse_key);
}
/* gmi_reuse_epoch: advanced by every collection with the world stopped; a thread's
 * stacks hold valid objects only while their reuse_epoch equals it. */
extern uint64_t gmi_reuse_epoch;
GMI_INLINE uint64_t gmi_reuse_epoch_now(void) {
    return __atomic_load_n(&gmi_reuse_epoch, __ATOMIC_RELAXED);
}
/* gmi_reuse_fresh: c's stacks were filled since the last collection. */
GMI_INLINE bool gmi_reuse_fresh(const gmi_thread_cache_t *c) {
    return c->reuse_epoch == gmi_reuse_epoch_now();
}
void gmi_reuse_flush(gmi_thread_cache_t *c); /* free every object on c's stacks: no cycle
                                                 may run meanwhile (registry lock held) */
void gmi_reuse_drop(gmi_thread_cache_t *c);  /* forget them: garbage for the next cycle */
/* gmi_transfer_objects: the valid objects of span class spc's transfer list (malloc.c,
 * 7b) in *objs, and their number; with the world stopped (verify.c, report.c). */
unsigned gmi_transfer_objects(unsigned spc, void *const **objs);
/* gmi_thread_attach registers the calling thread if gomem has not seen it (a thread
 * started by a library that bypassed the pthread_create interposer) and returns it, or
 * NULL with errno ENOMEM when no memory is left for its struct (one line on stderr);
 * the next call tries again. */
gmi_thread_t *gmi_thread_attach(void);
/* testing: the next N registrations fail as if metadata memory were exhausted */
extern _Atomic int gmi_threads_fail_registrations;

/* gmi_thread_get returns the calling thread's struct, registering it first if needed;
 * NULL only when registration ran out of memory (callers must cope: see threads.c). */
GMI_INLINE gmi_thread_t *gmi_thread_get(void) {
    gmi_thread_t *t = gmi_tls_thread;
    if (gmi_likely(t != NULL)) return t;
    return gmi_thread_attach();
}

void gmi_threads_init(void);
/* gmi_world_stop stops every registered thread except the caller and internal ones.
 * Precondition: the caller holds every gomem lock (gmi_lock_all). After it returns each
 * stopped thread's stop_sp is set. gmi_world_start resumes them. */
void gmi_world_stop(void);
void gmi_world_start(void);
/* Iterate the registry. Precondition: the registry lock is held (gmi_lock_all). */
void gmi_threads_each(void (*fn)(gmi_thread_t *t, void *arg), void *arg);
/* The registered threads and the dead ones not yet reaped: every cache holding spans. */
void gmi_threads_each_cache(void (*fn)(gmi_thread_t *t, void *arg), void *arg);
/* The conservative ranges of a stopped thread (or of the caller, whose registers are
 * spilled first): its stack from the saved sp up, and its static TLS. For a caller
 * inside gmi_gc_enter/gmi_gc_leave, its registers as spilled there and its stack from
 * that frame up. For another caller, the registers and the top 2 KiB of its stack
 * (gomem's own frames, which change once this returns) are pushed as copies in a
 * static area (gmi_gc.lock held) instead, so push may defer the scan. */
void gmi_thread_scan_ranges(gmi_thread_t *t, void (*push)(uintptr_t lo, uintptr_t hi, void *arg),
                            void *arg);
/* The same for a calling (collecting) thread that has no struct because registration
 * ran out of memory, with its stack top and TLS from /proc/self/maps; does nothing for
 * a registered or internal caller. World stopped; gmi_gc.lock held (one static copy
 * area). */
void gmi_thread_scan_unregistered(void (*push)(uintptr_t lo, uintptr_t hi, void *arg), void *arg);
/* gmi_spill_registers stores the callee-saved registers in out (24 words) and returns
 * the stack pointer inside its own frame, below the caller's. */
uintptr_t gmi_spill_registers(uintptr_t *out);
/* gmi_gc_enter marks where the calling thread enters a collection: its registers as
 * they are now and the stack from this frame up are its roots, and the collector's own
 * frames below are not (a large collector frame, mostly left unwritten, would
 * otherwise hold stale words that retain dead objects: gcbench marked a dead 2 MiB
 * subtree that way). Inlined on purpose: call it from the function that then calls the
 * collection, which must not be inlined into it, and call gmi_gc_leave after. */
static inline __attribute__((always_inline)) void gmi_gc_enter(gmi_thread_t *t) {
    if (t != NULL) t->gc_entry_sp = gmi_spill_registers(t->spill);
}
static inline void gmi_gc_leave(gmi_thread_t *t) {
    if (t != NULL) t->gc_entry_sp = 0;
}
/* Stack scrubbing (threads.c): the slow paths clear the stack their frames used once
 * they are done, so that no copy of a program register they saved lingers there to be
 * read back as a root by a later frame. Each scrubber zeroes the given number of bytes
 * in its own frame and returns p: call it in tail position, from a function that holds
 * nothing else, so that its frame lies where the slow path's frames were. */
enum {
    GMI_SCRUB_SMALL = 128,  /* the slow path within the cached span (frames ~100 bytes) */
    GMI_SCRUB_REFILL = 512, /* a refill or a large allocation (~470 bytes measured) */
    GMI_SCRUB_GC = 4096,    /* after a collection on this thread (~1.6 KiB measured), a
                               large free or a reported one (gmi_stack_scrub_deep) */
};
void *gmi_stack_scrub_small(void *p);
void *gmi_stack_scrub_refill(void *p);
void gmi_stack_scrub_deep(gmi_thread_t *t);
/* Start one of gomem's own threads (mark workers, sweeper): never registered, never
 * stopped, never scanned. */
int gmi_thread_spawn_internal(pthread_t *out, void *(*fn)(void *), void *arg);
int gmi_threads_count(void);
/* gmi_thread_on_own_stack: sp lies on t's own stack, not on a coroutine's. */
bool gmi_thread_on_own_stack(const gmi_thread_t *t, uintptr_t sp);
/* gmi_thread_spawn_service starts gomem's finalizer thread, a registered thread that
 * does not keep the process alive once the program's threads are gone. */
int gmi_thread_spawn_service(pthread_t *out, const pthread_attr_t *attr, void *(*fn)(void *),
                             void *arg);
extern gmi_lock_t gmi_threads_lock;
/* gc.c: called by threads.c's fork child handler, after the registry has been cut down
 * to the forking thread, so that gomem's internal threads are restarted on demand. */
void gmi_fork_child_hook(void);

/* ---------------------------------------------------------------------------------
 * roots.c: data+bss of loaded objects, user ranges
 * ------------------------------------------------------------------------------- */

void gmi_roots_init(void);
/* Snapshot the writable segments of all loaded objects (dl_iterate_phdr) minus RELRO
 * and gomem's own state; call with the world running, before gmi_lock_all. */
/* Cancellation. gomem's blocking paths reach cancellation points (write, open,
 * pthread_cond_wait, nanosleep) while they hold its locks, even with the world
 * stopped: a thread cancelled there unwound with them held, and the next collection
 * hung for ever. Those paths run with cancellation disabled, as glibc's own do. */
static inline int gmi_nocancel_begin(void) {
    int old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}
static inline void gmi_nocancel_end(int old) {
    if (old != PTHREAD_CANCEL_DISABLE) pthread_setcancelstate(old, NULL);
}

/* gmi_mutex_held_by_me: does the calling thread hold m? Reads glibc's owner field
 * (set by pthread_mutex_lock for every mutex type, cleared at the start of unlock). */
static inline bool gmi_mutex_held_by_me(pthread_mutex_t *m) {
    return m->__data.__owner == (int)gettid();
}

void gmi_roots_snapshot(void);
/* gmi_each_object: dl_iterate_phdr, except in a forked child, where the loader's lock
 * may be held for ever by a thread that no longer exists: there the loader's list is
 * read directly (roots.c). dlpi_tls_modid and dlpi_tls_data are 0 then. */
struct dl_phdr_info;
int gmi_each_object(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data);
void gmi_roots_fork_child(void);
/* The loader gate (roots.c): a collection holds it from its roots snapshot until the
 * world restarts; dlclose (interposed in libgomem.so) waits for it. gmi_dl_gate_enter
 * returns 1 when taken (give it back with gmi_dl_gate_leave), 0 when the calling
 * thread is inside dlclose (it holds the gate already), -1 when busy and !wait. */
extern gmi_lock_t gmi_dl_gate;
/* gmi_roots_snapshot_stale: world stopped; an object loaded since the snapshot. */
bool gmi_roots_snapshot_stale(void);
int gmi_dl_gate_enter(bool wait);
void gmi_dl_gate_leave(int entered);
void gmi_dl_unload_begin(void);
void gmi_dl_unload_end(void);
/* What the gate's holder is doing, so that a thread finding it taken knows whether to
 * wait (gc.c, wait_for_collection): set by the holder right after it takes the gate,
 * and back to the previous value before it gives the gate back. A futex word: every
 * change wakes the threads waiting on it. */
enum {
    GMI_GATE_NONE = 0,     /* free, or just taken or about to be given back */
    GMI_GATE_UNLOAD = 1,   /* dlclose: never wait (its destructors may wait for us) */
    GMI_GATE_EXPLAIN = 2,  /* gm_explain */
    GMI_GATE_DECIDE = 3,   /* a thread past the trigger decides whether to collect */
    GMI_GATE_SWEEP = 4,    /* a collection sweeps what the previous one left */
    GMI_GATE_SNAPSHOT = 5, /* a collection or gm_explain lists the loaded objects */
    GMI_GATE_CYCLE = 6,    /* it stops the world, marks and restarts it */
};
/* gmi_dl_gate_set_state: the holder says what it does; returns the previous state. */
uint32_t gmi_dl_gate_set_state(uint32_t st);
uint32_t gmi_dl_gate_state(void);
/* gmi_dl_gate_wait: sleep while the state is st, up to timeout_ns (0: no limit). */
void gmi_dl_gate_wait(uint32_t st, uint64_t timeout_ns);
/* gmi_dl_gate_taken: is the gate held by some thread right now? */
bool gmi_dl_gate_taken(void);
/* Push every global root range: the snapshot plus gm_add_roots ranges. World stopped. */
void gmi_roots_each(void (*push)(uintptr_t lo, uintptr_t hi, void *arg), void *arg);
/* Bytes of global data in the last snapshot (gctrace's globals). */
uint64_t gmi_roots_global_bytes(void);
extern gmi_lock_t gmi_roots_lock;

/* ---------------------------------------------------------------------------------
 * gc.c, mark.c, sweep.c
 * ------------------------------------------------------------------------------- */

void gmi_gc_init(void);
/* Called on the allocation slow path after heap_live grew past the trigger (stress:
 * GOMEMDEBUG=gcstress asks for a cycle regardless). */
void gmi_gc_maybe_trigger(bool stress);
void gmi_gc_collect(bool forced);
/* gmi_sweep_one sweeps one unswept span; returns false when none is left. */
bool gmi_sweep_one(void);
/* gmi_sweep_reclaim sweeps unswept spans until npages pages went back to the page heap
 * or none is left: called before a large object's span is taken, so that the garbage
 * of the last cycle is reused before the heap grows (Go's mheap.reclaim). */
void gmi_sweep_reclaim(size_t npages);
void gmi_sweep_finish(void);
/* gmi_span_ensure_swept returns once s is swept for the current generation. */
void gmi_span_ensure_swept(gmi_span_t *s);

/* ---------------------------------------------------------------------------------
 * env.c: knobs (Go's syntax)
 * ------------------------------------------------------------------------------- */

typedef struct gmi_config_s {
    int gc_percent;       /* GOGC; -1 = off */
    int64_t memory_limit; /* GOMEMLIMIT in bytes; INT64_MAX = off ("auto" is resolved) */
    int gctrace;          /* GODEBUG=gctrace=N */
    int scavtrace;        /* GODEBUG=scavtrace=N */
    int madvdontneed;     /* GODEBUG=madvdontneed=N: 0 releases with MADV_FREE (default 1) */
    int debug_abort;      /* GOMEMDEBUG=abort=1 */
    int debug_verify;     /* GOMEMDEBUG=verify=1 */
    int debug_poison;     /* GOMEMDEBUG=poison=1 */
    int debug_gcstress;   /* GOMEMDEBUG=gcstress=N (0 off) */
    int debug_checkptr;   /* GOMEMDEBUG=checkptr=1 */
    int fail_mmap;        /* GOMEMDEBUG=failmmap=N: the N-th OS reservation fails (0 off) */
    int fail_madvise;     /* GOMEMDEBUG=failmadvise=N: the N-th release fails (0 off) */
    int stop_signal;      /* GOMEMSIGNAL; 0 = default SIGRTMIN+6 */
    int mark_workers;     /* GOMEMMARKWORKERS; 0 = number of CPUs */
} gmi_config_t;
extern gmi_config_t gmi_config;
#define GMI_MEMLIMIT_AUTO    ((int64_t)-2) /* gmi_parse_memlimit("auto"): 90% of the cgroup limit */
#define GMI_MAX_MARK_WORKERS 1024
/* Parsers: return 0 and set *out, or -1 for malformed input (*out untouched). Never
 * allocate, never print. */
int gmi_parse_gogc(const char *s, int *out);
int gmi_parse_memlimit(const char *s, int64_t *out);
int gmi_parse_signal(const char *s, int *out);       /* GOMEMSIGNAL */
int gmi_parse_mark_workers(const char *s, int *out); /* GOMEMMARKWORKERS */
/* Parse a comma-separated key=value list (GODEBUG / GOMEMDEBUG) into cfg, left to
 * right. Unknown GODEBUG keys are ignored (Go programs share the variable); unknown
 * GOMEMDEBUG keys and malformed values print one "gomem: malformed ..." line each and
 * leave the field as it was. */
void gmi_parse_godebug(const char *s, gmi_config_t *cfg);
void gmi_parse_gomemdebug(const char *s, gmi_config_t *cfg);
/* gmi_gomemdebug_format writes " key=N" into buf for every GOMEMDEBUG setting of cfg
 * that is not 0, in the parser's order (as gmi_snprintf: truncated, NUL-terminated when
 * anything is written); returns the length. */
int gmi_gomemdebug_format(const gmi_config_t *cfg, char *buf, size_t n);
/* gmi_memlimit_auto: 90% of the cgroup memory limit, or INT64_MAX if there is none. */
int64_t gmi_memlimit_auto(void);
/* gmi_env_init reads the environment into gmi_config (without getenv: scans environ).
 * Empty values count as unset. Call once from initialization, before the pacer. */
void gmi_env_init(void);
const char *gmi_getenv(const char *name);

#pragma GCC visibility pop

#endif
