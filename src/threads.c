/* threads.c: the thread registry, stopping and starting the world, fork.
 *
 * Registry. Every mutator thread has one gmi_thread_t (metadata memory, never malloc)
 * on a doubly linked list under gmi_threads_lock, reached through the initial-exec
 * TLS pointer gmi_tls_thread. A thread gets one when libgomem.so's pthread_create
 * wrapper starts it, when it calls gm_thread_register, or on its first gomem call
 * (gmi_thread_attach): gomem never refuses an unknown thread. A pthread key destructor
 * unregisters it at exit. The struct records the stack bounds and the static TLS
 * block (with the thread descriptor, which holds the first pthread_setspecific
 * values), the conservative roots of the thread besides its registers.
 *
 * Out of memory for a struct. When no metadata memory is left for a thread's struct,
 * registration fails: gmi_thread_get returns NULL, the thread's allocations return
 * NULL with errno ENOMEM, gm_thread_register returns -1, and one line on stderr says
 * so (once per thread until it registers). Every later gomem call of the thread tries
 * again. Meanwhile the thread is not in the registry: it is never stopped, its frees
 * take the remote path (pending bits), and its stack is not a root, except while it
 * collects itself (gm_collect, or a cycle it triggers): then the collector scans the
 * caller's registers, stack and TLS with bounds from /proc/self/maps and the copies in
 * a static record (gmi_thread_scan_unregistered), so no object the caller holds is
 * lost to its own collection.
 *
 * Stopping the world (the collector holds every gomem lock, gmi_threads_lock too):
 *   1. for each registered thread other than the caller and internal ones, set
 *      stop_state = REQUESTED and send it the stop signal (SIGRTMIN+6 by default) with
 *      tgkill; ESRCH means the thread is gone: it is marked GONE and skipped;
 *   2. the handler, running on the thread's own stack, saves the address of a local as
 *      stop_sp (the kernel's signal frame with every register lies above it), reads the
 *      world epoch, sets stop_state = ACKED, bumps the ack counter and futex-wakes it;
 *   3. the handler then futex-waits until the world epoch changes;
 *   4. the stopper waits on the ack counter and resends the signal to threads that have
 *      not answered within a few milliseconds (a signal can be lost to a thread that is
 *      just unblocking it, or coalesced); world_start resets the states and bumps the
 *      epoch. No second signal is needed to resume.
 * stop_state: RUNNING -> REQUESTED (stopper, lock held) -> ACKED (handler) -> RUNNING
 * (gmi_world_start); GONE is final. The handler acts only on REQUESTED, so signals
 * nobody asked for (a container manager, a stale duplicate) are ignored.
 * Invariant: while gmi_threads_lock is not held by a stopper, every state is RUNNING or
 * GONE. A thread unregistering blocks on gmi_threads_lock during a stop; its signal
 * is not blocked there, so it answers like any other thread and continues afterwards.
 *
 * Blocking syscalls: the handler is installed with SA_RESTART, so read, write, wait and
 * futex waits without a timeout restart transparently. Linux never restarts nanosleep,
 * clock_nanosleep, poll/select/epoll_wait or timed futex waits after a handler: they
 * return EINTR (nanosleep with the remaining time), as with any signal a program gets.
 *
 * The collecting thread is not stopped; it scans itself. gc.c brackets a cycle with
 * gmi_gc_enter/gmi_gc_leave, which spill its callee-saved registers and record the
 * stack pointer of the frame that starts the cycle: its roots are those registers and
 * its stack from there up. The collector's frames below are not roots: they are large
 * and mostly unwritten in a cycle, so they hold whatever the program's deeper calls
 * left there (gcbench kept a dead 2 MiB subtree alive for two cycles that way). A
 * thread that scans itself outside a cycle (gm_explain has its own rule) pushes copies
 * of its registers and of the top 2 KiB of its stack (scan_self).
 *
 * fork: the prepare handler takes every gomem lock; in the child only the forking
 * thread stays registered, the others' cached spans go back to the central lists.
 * See gc.c for the collector overview and the lock order. */
#include "internal.h"
#include "finalizer.h"
#include "profile.h"
#include "track.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

enum {
    STOP_RUNNING = 0,
    STOP_REQUESTED = 1,
    STOP_ACKED = 2,
    STOP_GONE = 3,   /* the thread vanished without unregistering (tgkill: ESRCH) */
    STOP_ACKING = 4, /* the thread is saving its sp; ACKED follows */
};

#define STOP_RESEND_NS    (4u * 1000 * 1000)          /* resend to silent threads after 4 ms */
#define STOP_CHECK_NS     (2ull * 1000 * 1000 * 1000) /* then look for a blocked signal */
#define DESCRIPTOR_BYTES  2304 /* glibc's struct pthread, rounded up: TLS range slack */
#define TLS_SURPLUS_BYTES 2048 /* glibc's static TLS surplus for dlopen'ed modules */

GMI_TLS gmi_thread_t *gmi_tls_thread;
static GMI_TLS int tls_internal;        /* this thread is one of gomem's own workers */
static GMI_TLS int tls_service;         /* gomem's finalizer thread (gmi_thread_spawn_service) */
static GMI_TLS int tls_register_failed; /* the failure was reported; cleared on success */

_Atomic int gmi_threads_fail_registrations;

gmi_lock_t gmi_threads_lock = {PTHREAD_MUTEX_INITIALIZER};

static void registry_lock(void);
static void registry_unlock(void);
static _Atomic int main_registered; /* the main thread is registered, so running (the
                                       last thread, below) */

static struct {
    gmi_thread_t *head;           /* registered threads */
    gmi_thread_t *dead;           /* GONE threads unlinked by world_start, cache not released */
    int count;                    /* registered threads that are not internal */
    int service;                  /* of which gomem's own (the finalizer thread) */
    gmi_fixalloc_t thread_alloc;  /* gmi_thread_t structs, under gmi_threads_lock */
    pthread_key_t key;            /* destructor unregisters the thread at exit */
    int signo;                    /* the stop signal; 0 until gmi_threads_init */
    size_t tls_bytes;             /* static TLS of the objects loaded at startup, rounded */
    _Atomic uint32_t world_epoch; /* futex: stopped threads wait for it to change */
    _Atomic uint32_t acks;        /* futex: bumped by each handler that acknowledges */
    _Atomic int stopping;         /* a stop is in progress */
    uint64_t stop_ns_last, stop_ns_total, nstops, nresends;
    /* scan_self's copies for a thread that scans itself outside gmi_gc_enter, with or
     * without a struct (gmi_gc.lock) */
    uintptr_t orphan_spill[24], orphan_frames[256];
} threads GMI_STATE;

/* ---------------------------------------------------------------------------------
 * Small system helpers (raw syscalls: usable in the signal handler)
 * ------------------------------------------------------------------------------- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static pid_t thread_gettid(void) {
    return (pid_t)syscall(SYS_gettid);
}

/* thread_pointer returns the value of the TLS register (fs base on x86-64, tpidr_el0
 * on aarch64), or 0 where unknown. */
static uintptr_t thread_pointer(void) {
#if defined(__x86_64__)
    uintptr_t tp;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    return tp;
#elif defined(__aarch64__)
    return (uintptr_t)__builtin_thread_pointer();
#else
    return 0;
#endif
}

/* ---------------------------------------------------------------------------------
 * /proc/self/maps, read with open/read into a stack buffer (no stdio, no malloc)
 * ------------------------------------------------------------------------------- */

typedef struct maps_query_s {
    uintptr_t addr;
    uintptr_t map_lo, map_hi; /* the mapping containing addr */
    uintptr_t run_lo, run_hi; /* the run of adjacent readable mappings containing addr */
    uintptr_t cur_lo, cur_hi; /* run being built */
    int found;
} maps_query_t;

static uintptr_t parse_hex(const char **p) {
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

static void maps_line(maps_query_t *q, const char *line) {
    const char *p = line;
    uintptr_t lo = parse_hex(&p);
    if (*p++ != '-') return;
    uintptr_t hi = parse_hex(&p);
    if (*p++ != ' ') return;
    int readable = *p == 'r';
    if (!readable) {
        q->cur_lo = q->cur_hi = 0;
        return;
    }
    if (q->cur_hi != lo) q->cur_lo = lo;
    q->cur_hi = hi;
    if (q->addr >= lo && q->addr < hi) {
        q->map_lo = lo;
        q->map_hi = hi;
        q->found = 1;
    }
    if (q->found && q->addr >= q->cur_lo && q->addr < q->cur_hi) {
        q->run_lo = q->cur_lo;
        q->run_hi = q->cur_hi;
    }
}

/* maps_find fills q for q->addr; returns 0 when a readable mapping holds it. */
static int maps_find(maps_query_t *q) {
    char buf[4096];
    char line[512];
    size_t len = 0;
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                line[len] = 0;
                maps_line(q, line);
                len = 0;
            } else if (len < sizeof line - 1) {
                line[len++] = buf[i];
            }
        }
    }
    close(fd);
    return q->found ? 0 : -1;
}

/* ---------------------------------------------------------------------------------
 * Stack and TLS bounds
 * ------------------------------------------------------------------------------- */

static int tls_size_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    size_t *total = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_TLS) continue;
        size_t align = ph->p_align ? ph->p_align : 1;
        *total = (*total + align - 1) / align * align + ph->p_memsz + align;
    }
    return 0;
}

static void thread_key_destructor(void *p);

static void threads_once(void) {
    static _Atomic int done;
    if (atomic_load_explicit(&done, memory_order_acquire)) return;
    registry_lock();
    if (!atomic_load_explicit(&done, memory_order_relaxed)) {
        size_t total = 0;
        gmi_each_object(tls_size_cb, &total);
        total += TLS_SURPLUS_BYTES;
        threads.tls_bytes = (total + 63) & ~(size_t)63;
        gmi_fixalloc_init(&threads.thread_alloc, sizeof(gmi_thread_t));
        threads.thread_alloc.nozero = true; /* thread_register clears all but the reuse stacks */
        if (pthread_key_create(&threads.key, thread_key_destructor) != 0)
            gmi_throw("threads: pthread_key_create failed");
        atomic_store_explicit(&done, 1, memory_order_release);
    }
    registry_unlock();
}

/* tls_range computes the static TLS block of the calling thread and its thread
 * descriptor from the thread pointer. x86-64 (TLS variant II): the blocks of the
 * startup modules lie just below tp, the descriptor (tcbhead_t, dtv, then struct
 * pthread with the first pthread_setspecific slots) at and above it. aarch64 (variant
 * I): tp points at a 16-byte TCB followed by the blocks; the descriptor lies below. */
static void tls_range(uintptr_t *lo, uintptr_t *hi) {
    uintptr_t tp = thread_pointer();
    *lo = *hi = 0;
    if (tp == 0) return;
#if defined(__x86_64__)
    *lo = tp - threads.tls_bytes;
    *hi = tp + DESCRIPTOR_BYTES;
#elif defined(__aarch64__)
    *lo = tp - DESCRIPTOR_BYTES;
    *hi = tp + 16 + threads.tls_bytes;
#endif
    *lo &= ~(uintptr_t)7;
    *hi &= ~(uintptr_t)7;
}

extern void *__libc_stack_end __attribute__((weak));

/* tls_range_maps: tls_range clamped to the readable memory around the thread pointer
 * (empty if /proc/self/maps cannot be read). */
static void tls_range_maps(uintptr_t *lo, uintptr_t *hi) {
    tls_range(lo, hi);
    maps_query_t tq = {.addr = thread_pointer()};
    if (*lo < *hi && maps_find(&tq) == 0) {
        if (*lo < tq.run_lo) *lo = tq.run_lo;
        if (*hi > tq.run_hi) *hi = tq.run_hi;
    } else {
        *lo = *hi = 0;
    }
}

/* main_stack_floor: the lowest address the stack scrubbers may write on the initial
 * thread's stack (which has no recorded bottom): within RLIMIT_STACK, less a 64 KiB
 * margin, and at most 1 MiB below its top. */
static uintptr_t main_stack_floor GMI_STATE;

/* main_stack_limit: the lowest address the initial thread's stack can reach (its top
 * less RLIMIT_STACK, or less 256 MiB without a limit): the kernel places no mapping in
 * that gap, so an sp in [main_stack_limit, stack_hi) is on the main stack, and one
 * below is on a stack of the program's making (a coroutine's). */
static uintptr_t main_stack_limit GMI_STATE;

/* thread_bounds_main: the initial thread's stack is the mapping holding the current
 * sp in /proc/self/maps (pthread_getattr_np would read the same file with stdio, that
 * is, with malloc). The static TLS block was allocated by the dynamic loader: clamp the
 * estimated range to the readable memory around the thread pointer. */
static void thread_bounds_main(gmi_thread_t *t) {
    volatile char here;
    maps_query_t q = {.addr = (uintptr_t)&here};
    if (maps_find(&q) == 0) {
        t->stack_lo = 0; /* the [stack] mapping grows down on demand: no fixed bottom */
        t->stack_hi = q.map_hi;
    } else if (&__libc_stack_end != NULL && __libc_stack_end != NULL) {
        t->stack_lo = 0;
        t->stack_hi = ((uintptr_t)__libc_stack_end + 4095) & ~(uintptr_t)4095;
    } else {
        gmi_error("threads: cannot find the main thread's stack; scanning 64 KiB above sp");
        t->stack_lo = 0;
        t->stack_hi = (uintptr_t)&here + 65536;
    }
    tls_range_maps(&t->tls_lo, &t->tls_hi);
    size_t room = (size_t)1 << 20;
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < room + 65536)
        room = rl.rlim_cur > 65536 ? (size_t)rl.rlim_cur - 65536 : 0;
    main_stack_floor = t->stack_hi > room ? t->stack_hi - room : 0;
    size_t reach = (size_t)256 << 20;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        reach = (size_t)rl.rlim_cur;
    main_stack_limit = t->stack_hi > reach ? t->stack_hi - reach : 0;
}

/* unregistered_stack_top: the top of the calling thread's stack, for a thread without
 * a struct: the end of the mapping holding the current sp (for a thread started by
 * glibc, the top of its stack block, above its TLS and descriptor); failing that,
 * __libc_stack_end for the initial thread and the provisional bound for others. */
static uintptr_t unregistered_stack_top(void) {
    volatile char here;
    maps_query_t q = {.addr = (uintptr_t)&here};
    if (maps_find(&q) == 0) return q.map_hi;
    if (thread_gettid() == getpid()) {
        if (&__libc_stack_end != NULL && __libc_stack_end != NULL)
            return ((uintptr_t)__libc_stack_end + 4095) & ~(uintptr_t)4095;
        return 0;
    }
    uintptr_t lo, hi;
    tls_range(&lo, &hi);
    return hi;
}

/* thread_bounds_other: a thread started by glibc has its static TLS and descriptor at
 * the top of its stack block, so the block bounds clamp the TLS estimate. Until
 * pthread_getattr_np has answered, the thread pointer is a safe stack top. */
static void thread_bounds_provisional(gmi_thread_t *t) {
    uintptr_t lo, hi;
    tls_range(&lo, &hi);
    t->stack_lo = 0;
    t->stack_hi = hi;
    t->tls_lo = t->tls_hi = 0;
}

/* thread_bounds_refine runs without any gomem lock held: pthread_getattr_np calls
 * realloc (its CPU set), which may be gomem's own malloc shim; gmi_tls_thread is
 * already set then, so such a nested allocation finds its thread. */
static void thread_bounds_refine(gmi_thread_t *t) {
    pthread_attr_t attr;
    void *addr = NULL;
    size_t size = 0;
    uintptr_t lo = 0, hi = 0, tlo, thi;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            lo = (uintptr_t)addr;
            hi = lo + size;
        }
        pthread_attr_destroy(&attr);
    }
    tls_range(&tlo, &thi);
    registry_lock();
    if (hi > lo) {
        /* glibc reports the block minus the guard; the descriptor sits at its top */
        if (thi > hi) thi = hi;
        if (tlo < lo) tlo = lo;
        t->stack_lo = lo;
        t->stack_hi = hi;
        if (tlo < thi) {
            t->tls_lo = tlo;
            t->tls_hi = thi;
        }
    }
    registry_unlock();
}

/* ---------------------------------------------------------------------------------
 * Parking: how a thread answers a stop
 * ------------------------------------------------------------------------------- */

/* stop_park acknowledges a stop requested of t (the calling thread) and waits until
 * the world restarts. Both the signal handler and stop_self (a thread waiting for the
 * registry lock) come here; the CAS lets only the first of them answer, so a handler
 * that interrupts stop_self, or the reverse, finds the stop answered and returns.
 * sp: the lowest address of the thread's live stack; alt_lo/alt_hi: the sigaltstack
 * the handler runs on, or 0. Async-signal-safe. */
static void stop_park(gmi_thread_t *t, uintptr_t sp, uintptr_t alt_lo, uintptr_t alt_hi,
                      uintptr_t alt_sp) {
    int expect = STOP_REQUESTED;
    if (!atomic_compare_exchange_strong_explicit(&t->stop_state, &expect, STOP_ACKING,
                                                 memory_order_acq_rel, memory_order_acquire))
        return;
    /* read before ACKED is visible: the world cannot restart before that */
    uint32_t epoch = atomic_load_explicit(&threads.world_epoch, memory_order_acquire);
    t->alt_lo = alt_lo;
    t->alt_hi = alt_hi;
    t->alt_sp = alt_sp;
    atomic_store_explicit(&t->stop_sp, sp, memory_order_relaxed);
    atomic_store_explicit(&t->stop_state, STOP_ACKED, memory_order_release);
    atomic_fetch_add_explicit(&threads.acks, 1, memory_order_acq_rel);
    gmi_os_futex_wake(&threads.acks, 1);
    while (atomic_load_explicit(&threads.world_epoch, memory_order_acquire) == epoch)
        gmi_os_futex_wait(&threads.world_epoch, epoch, 0);
}

/* stop_self parks the calling thread without a signal. __builtin_unwind_init saves
 * every callee-saved register in this frame, above the anchor whose address is the sp. */
static GMI_NOINLINE void stop_self(gmi_thread_t *t) {
    __builtin_unwind_init();
    volatile uintptr_t anchor = 0;
    stop_park(t, (uintptr_t)&anchor, 0, 0, 0);
    (void)anchor;
}

/* registry_lock takes gmi_threads_lock. A registered thread does not sleep in
 * pthread_mutex_lock for it: a stopper holds it for the whole stop, and a thread that
 * waits must answer the stop. The stop signal would interrupt the sleep natively, but
 * not under ThreadSanitizer, which delays signals until an intercepted call returns.
 * So a registered thread polls: trylock, park itself if a stop is requested of it,
 * else wait briefly on the world epoch. */
static void registry_lock(void) {
    gmi_thread_t *t = gmi_tls_thread;
    if (t == NULL) {
        gmi_lock(&gmi_threads_lock);
        return;
    }
    for (;;) {
        if (pthread_mutex_trylock(&gmi_threads_lock.m) == 0) return;
        if (atomic_load_explicit(&t->stop_state, memory_order_acquire) == STOP_REQUESTED) {
            stop_self(t);
            continue;
        }
        uint32_t epoch = atomic_load_explicit(&threads.world_epoch, memory_order_acquire);
        gmi_os_futex_wait(&threads.world_epoch, epoch, 50 * 1000);
    }
}

static void registry_unlock(void) {
    gmi_unlock(&gmi_threads_lock);
}

/* ---------------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------------- */

static void unblock_stop_signal(void) {
    int sig = threads.signo;
    if (sig == 0) return;
    /* The raw system call with the kernel's 8-byte mask: this runs at the start of a
     * new thread, before a sanitizer runtime's own thread start has prepared the stack,
     * so it must not go through intercepted libc calls on stack buffers. */
    uint64_t mask = 1ull << (sig - 1);
    syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &mask, NULL, sizeof mask);
}

static void thread_link_locked(gmi_thread_t *t) {
    t->prev = NULL;
    t->next = threads.head;
    if (threads.head) threads.head->prev = t;
    threads.head = t;
    if (!t->internal) threads.count++;
    if (t->service) threads.service++;
}

static void thread_unlink_locked(gmi_thread_t *t) {
    if (t->prev)
        t->prev->next = t->next;
    else
        threads.head = t->next;
    if (t->next) t->next->prev = t->prev;
    t->next = t->prev = NULL;
    if (!t->internal) threads.count--;
    if (t->service) threads.service--;
}

/* reap_dead returns the cached spans of threads that vanished without unregistering
 * (found GONE by a stop) and frees their structs, under the registry lock as
 * thread_unregister does: a cycle (which takes that lock before it stops the world)
 * sees each dead cache either whole, on the dead list, where it sweeps it
 * (gmi_threads_each_cache), or given back. Called with no lock held. */
static void reap_dead(void) {
    registry_lock();
    gmi_thread_t *list = threads.dead;
    threads.dead = NULL;
    while (list) {
        gmi_thread_t *next = list->next;
        gmi_reuse_drop(&list->cache); /* garbage for the next cycle, counted already */
        gmi_thread_cache_release(&list->cache);
        gmi_fixalloc_free(&threads.thread_alloc, list);
        list = next;
    }
    registry_unlock();
}

/* register_failed reports, once until the thread registers, that it could not. */
static void register_failed(pid_t tid) {
    if (tls_register_failed) return;
    tls_register_failed = 1;
    gmi_error("threads: out of memory for the thread struct of thread %d: its gomem"
              " allocations return NULL (ENOMEM) until a later call registers it",
              (int)tid);
}

/* thread_register registers the calling thread (once) and returns its struct, or NULL
 * with errno ENOMEM when there is no metadata memory for the struct (see the overview:
 * the next call tries again). */
static gmi_thread_t *thread_register_new(int auto_registered);

static gmi_thread_t *thread_register(int auto_registered) {
    gmi_thread_t *t = gmi_tls_thread;
    if (t != NULL) {
        if (!auto_registered) t->auto_registered = 0;
        return t;
    }
    int cancel = gmi_nocancel_begin(); /* /proc reads under the registry lock */
    t = thread_register_new(auto_registered);
    gmi_nocancel_end(cancel);
    return t;
}

static gmi_thread_t *thread_register_new(int auto_registered) {
    gmi_thread_t *t;
    threads_once();
    reap_dead();
    unblock_stop_signal();
    pid_t tid = thread_gettid();
    registry_lock();
    int fail = atomic_load_explicit(&gmi_threads_fail_registrations, memory_order_relaxed);
    if (gmi_unlikely(fail > 0)) {
        atomic_fetch_sub(&gmi_threads_fail_registrations, 1);
        t = NULL;
    } else {
        t = gmi_fixalloc_alloc(&threads.thread_alloc);
    }
    if (gmi_unlikely(t == NULL)) {
        registry_unlock();
        register_failed(tid);
        errno = ENOMEM;
        return NULL;
    }
    tls_register_failed = 0;
    /* Everything but the reuse stacks (33 KiB, read only below each class's count, which
     * is cleared): their pages stay untouched, so not resident, until a class uses one. */
    memset(t, 0, offsetof(gmi_thread_t, cache.reuse));
    memset((char *)t + offsetof(gmi_thread_t, cache.reuse) + sizeof t->cache.reuse, 0,
           sizeof *t - offsetof(gmi_thread_t, cache.reuse) - sizeof t->cache.reuse);
    t->cache.next_sample = gmi_profile_next_sample(); /* first sample after a random distance */
    t->pthread = pthread_self();
    t->tid = tid;
    t->internal = tls_internal;
    t->service = tls_service;
    t->auto_registered = auto_registered;
    t->is_main = tid == getpid();
    if (t->is_main) atomic_store(&main_registered, 1);
    if (t->is_main)
        thread_bounds_main(t);
    else
        thread_bounds_provisional(t);
    thread_link_locked(t);
    gmi_tls_thread = t; /* under the lock: a stop sees either no thread or a whole one */
    registry_unlock();
    if (!t->is_main) thread_bounds_refine(t);
    pthread_setspecific(threads.key, t); /* keys past 32 may calloc: t is set already */
    return t;
}

/* thread_unregister gives the cached spans back and unlinks t. The registry lock may be
 * held by a stopper: registry_lock answers the stop while waiting for it. */
static void thread_unregister(gmi_thread_t *t) {
    if (t->is_main) atomic_store(&main_registered, 0);
    atomic_store(&t->exiting, 1);
    registry_lock();
    /* central locks come after gmi_threads_lock in the lock order (gc.c); holding
     * the latter means no stop is in progress, so their holders are plain allocators */
    gmi_thread_cache_release(&t->cache);
    thread_unlink_locked(t);
    /* Cleared under the lock so that no stop can target t while this thread's handler
     * still believes it is t, and no one reuses t before then. */
    gmi_tls_thread = NULL;
    gmi_fixalloc_free(&threads.thread_alloc, t);
    registry_unlock();
    reap_dead();
}

/* thread_key_destructor runs at thread exit. If the thread registers again from a later
 * destructor (another library freeing memory), glibc calls this again, up to
 * PTHREAD_DESTRUCTOR_ITERATIONS times; past that a stop finds the thread gone. */
/* ---------------------------------------------------------------------------------
 * The last thread. A process ends when its last thread does, but gomem's own threads
 * (mark workers, sweeper, scavenger, finalizer) run for ever: a program whose main
 * returns through pthread_exit, and whose other threads then finish, would never
 * exit, and with every signal blocked in gomem's workers not even SIGTERM ended it.
 * So with gomem's first thread comes a watcher: once the main thread has finished (a
 * zombie in /proc/self/stat), it looks at /proc/self/task, and when no thread is left
 * but gomem's own and the finished main thread, it calls exit(0), which is what the C
 * library does for the last thread (POSIX: as if exit(0) at its termination). A thread
 * of the program's counts while it is listed at all, whatever it does (its last key
 * destructors, say), registered or not; threads other than the main one leave the list
 * when they end, the main thread stays, as a zombie, until the process ends. The
 * watcher reads the main thread's state once a second, and is woken at once when the
 * main thread, or a thread finishing while main is not registered, ends; after main has
 * finished it looks from 10 ms to 1 s apart (backing off). Anything it cannot read
 * means "a thread may be running". Without /proc nothing changes.
 * ------------------------------------------------------------------------------- */

/* What thread_create starts: a program's thread, a worker of gomem's (all signals
 * blocked, never registered), a service thread (gomem's, registered: the finalizer
 * thread) or the watcher below (gomem's, registered only to call exit). */
enum { THREAD_USER = 0, THREAD_INTERNAL = 1, THREAD_SERVICE = 2, THREAD_WATCHER = 3 };
static int thread_create(pthread_t *out, const pthread_attr_t *attr, void *(*fn)(void *), void *arg,
                         int kind);

#define SERVICE_TIDS 96 /* up to 63 mark workers, the sweeper, scavenger, finalizer, watcher */
static _Atomic pid_t service_tids[SERVICE_TIDS]; /* gomem's own threads, by tid */
static _Atomic int watcher_started;
static _Atomic uint32_t watcher_word;   /* futex: bumped to wake the watcher */
static sigset_t watcher_mask GMI_STATE; /* its creator's mask, which it takes to exit with */

static void note_tid(_Atomic pid_t *table, size_t n, pid_t tid) {
    for (size_t i = 0; i < n; i++) {
        pid_t zero = 0;
        if (atomic_compare_exchange_strong(&table[i], &zero, tid)) return;
    }
}

static bool tid_in(_Atomic pid_t *table, size_t n, pid_t tid) {
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&table[i]) == tid) return true;
    return false;
}

/* The watcher's view of /proc: descriptors opened once, when it starts (a program out
 * of descriptors when its last thread ends must still end), and the main thread's id as
 * that /proc names it (in a PID namespace whose /proc is the parent's, the names are
 * not what getpid and gettid return: gomem's threads note their /proc names too). */
static struct {
    int stat_fd, task_fd; /* /proc/self/stat, /proc/self/task; -1 until opened */
    pid_t pid;            /* the main thread's id in /proc's numbering */
} watch = {-1, -1, 0};

/* proc_tid: the calling thread's id as /proc names it (/proc/thread-self ->
 * "PID/task/TID"), or gettid's when that cannot be read. */
static pid_t proc_tid(void) {
    char link[64];
    ssize_t n = readlink("/proc/thread-self", link, sizeof link - 1);
    if (n > 0) {
        link[n] = 0;
        const char *t = strstr(link, "/task/");
        if (t != NULL) return (pid_t)strtol(t + 6, NULL, 10);
    }
    return thread_gettid();
}

static bool watch_open(void) {
    if (watch.stat_fd < 0) watch.stat_fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (watch.task_fd < 0)
        watch.task_fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (watch.pid == 0) {
        char link[32];
        ssize_t n = readlink("/proc/self", link, sizeof link - 1);
        if (n > 0) {
            link[n] = 0;
            watch.pid = (pid_t)strtol(link, NULL, 10);
        }
    }
    return watch.stat_fd >= 0 && watch.task_fd >= 0 && watch.pid > 0;
}

/* main_finished: the main thread is a zombie (state Z or X in /proc/self/stat).
 * false when that cannot be read. */
static bool main_finished(void) {
    char buf[512];
    if (!watch_open()) return false;
    ssize_t n = pread(watch.stat_fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return false;
    buf[n] = 0;
    const char *rp = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    return rp != NULL && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

/* program_threads_left: does /proc/self/task list a thread other than gomem's own and
 * the main one? true when that cannot be read. */
static bool program_threads_left(void) {
    if (!watch_open() || lseek(watch.task_fd, 0, SEEK_SET) != 0) return true;
    char buf[2048];
    bool others = false, failed = false;
    while (!others) {
        long n = syscall(SYS_getdents64, watch.task_fd, buf, sizeof buf);
        if (n <= 0) {
            failed = n < 0;
            break;
        }
        for (long off = 0; off < n;) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + off);
            off += d->reclen;
            if (d->name[0] < '1' || d->name[0] > '9') continue;
            pid_t tid = (pid_t)strtol(d->name, NULL, 10);
            if (tid != watch.pid && !tid_in(service_tids, SERVICE_TIDS, tid)) others = true;
        }
    }
    return failed || others;
}

/* last_thread_watcher is one of gomem's threads (THREAD_WATCHER): not registered while
 * it watches, so that a collection has no stop signal to send it (a round trip that
 * woke it once a cycle, 0.1 ms of every pause of a single-threaded program), and
 * registered before it calls exit, so that the program's exit handlers, which run on
 * it, have their stack scanned from the start. */
static void *last_thread_watcher(void *unused) {
    (void)unused;
    watch_open();
    uint64_t ms = 1000; /* 1 s while main runs; from 10 ms up to 1 s once it finished */
    bool after_main = false;
    for (;;) {
        uint32_t w = atomic_load(&watcher_word);
        gmi_os_futex_wait(&watcher_word, w, ms * 1000000);
        if (!main_finished()) {
            after_main = false;
            ms = 1000;
            continue;
        }
        if (!program_threads_left()) {
            thread_register(0); /* NULL (no memory): the handlers' first call tries again */
            pthread_sigmask(SIG_SETMASK, &watcher_mask, NULL); /* the program's, registered */
            exit(0);
        }
        ms = !after_main ? 10 : ms < 500 ? 2 * ms : 1000;
        after_main = true;
    }
    return NULL;
}

/* start_watcher starts the watcher with gomem's first thread (thread_create). */
static void start_watcher(void) {
#if GM_TRACK_VALGRIND
    /* Not under memcheck (the GM_TRACK_VALGRIND build): valgrind runs a thread asleep in
     * a system call with every signal blocked, and a registered thread that does not
     * answer a stop soon enough is then taken for one that blocks the stop signal. */
    return;
#endif
    if (atomic_exchange(&watcher_started, 1)) return;
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Its /proc descriptors are its own from here on (a forked child's watcher opens
     * its own: fork_child closes the parent's). Closing them here raced with the
     * watcher's opening them, and a program out of descriptors never ended. */
    if (thread_create(&th, &attr, last_thread_watcher, NULL, THREAD_WATCHER) != 0)
        atomic_store(&watcher_started, 0); /* the next of gomem's threads tries again */
    pthread_attr_destroy(&attr);
}

/* wake_watcher: the main thread, or a thread while main is not registered, ended. */
static void wake_watcher(void) {
    atomic_fetch_add(&watcher_word, 1);
    gmi_os_futex_wake(&watcher_word, 1);
}

static void thread_key_destructor(void *p) {
    gmi_thread_t *t = p;
    if (t == NULL || gmi_tls_thread != t) return;
    bool program = !t->service && !t->internal, is_main = t->is_main;
    thread_unregister(t);
    if (program && atomic_load(&watcher_started) && (is_main || !atomic_load(&main_registered)))
        wake_watcher();
}

/* gmi_thread_attach registers a thread gomem has not seen yet (NULL: out of memory). */
gmi_thread_t *gmi_thread_attach(void) {
    return thread_register(1);
}

GM_API int gm_thread_register(void) {
    return thread_register(0) != NULL ? 0 : -1;
}

GM_API int gm_thread_unregister(void) {
    gmi_thread_t *t = gmi_tls_thread;
    if (t == NULL) return 0;
    pthread_setspecific(threads.key, NULL);
    thread_unregister(t);
    return 0;
}

/* gmi_threads_each calls fn for every registered thread, internal ones included (their
 * caches need flushing too; fn checks t->internal). Precondition: gmi_threads_lock. */
void gmi_threads_each(void (*fn)(gmi_thread_t *t, void *arg), void *arg) {
    for (gmi_thread_t *t = threads.head; t != NULL; t = t->next)
        fn(t, arg);
}

/* gmi_threads_each_cache calls fn for every thread cache that may hold spans: those of
 * the registered threads and of threads found gone and not yet reaped (their cached
 * spans must still be swept at every cycle, and verified and counted). Registry lock
 * held, as for gmi_threads_each. */
void gmi_threads_each_cache(void (*fn)(gmi_thread_t *t, void *arg), void *arg) {
    for (gmi_thread_t *t = threads.head; t != NULL; t = t->next)
        fn(t, arg);
    for (gmi_thread_t *t = threads.dead; t != NULL; t = t->next)
        fn(t, arg);
}

/* gmi_threads_count returns the number of registered threads of the program's (not
 * gomem's workers, finalizer thread or last-thread watcher). */
int gmi_threads_count(void) {
    return threads.count - threads.service;
}

/* ---------------------------------------------------------------------------------
 * Stop and start the world
 * ------------------------------------------------------------------------------- */

/* interrupted_sp: the stack pointer of the context the signal interrupted, or 0 where
 * the ucontext layout is not known. */
static uintptr_t interrupted_sp(void *uc) {
#if defined(__x86_64__)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.sp;
#else
    (void)uc;
    return 0;
#endif
}

/* stop_handler: see the overview. Async-signal-safe: TLS loads, atomics, sigaltstack
 * and futex syscalls; errno is preserved. */
static void stop_handler(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    int saved_errno = errno;
    gmi_thread_t *t = gmi_tls_thread;
    if (t == NULL || atomic_load_explicit(&t->stop_state, memory_order_acquire) != STOP_REQUESTED) {
        errno = saved_errno;
        return; /* not ours: no stop in progress for this thread */
    }
    volatile uintptr_t anchor = 0; /* below the signal frame holding the registers */
    uintptr_t alt_lo = 0, alt_hi = 0, alt_sp = 0;
    stack_t ss;
    if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
        alt_lo = (uintptr_t)ss.ss_sp;
        alt_hi = (uintptr_t)ss.ss_sp + ss.ss_size;
        alt_sp = interrupted_sp(uc); /* the frames below the handlers, on the thread's stack */
    }
    stop_park(t, (uintptr_t)&anchor, alt_lo, alt_hi, alt_sp);
    (void)anchor;
    errno = saved_errno;
}

static int send_stop(gmi_thread_t *t, pid_t pid) {
    if (syscall(SYS_tgkill, pid, t->tid, threads.signo) == 0) return 0;
    if (errno == ESRCH) {
        atomic_store(&t->stop_state, STOP_GONE);
        return -1;
    }
    gmi_throw("threads: tgkill(%d, %d) failed: errno %d", (int)pid, (int)t->tid, errno);
}

/* signal_blocked reads SigBlk of /proc/self/task/<tid>/status: 1 if the thread blocks
 * sig, 0 if not, -1 if unknown. Only used to explain a stop that does not finish. */
static int signal_blocked(pid_t tid, int sig) {
    char path[64], buf[4096];
    gmi_snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    const char *p = strstr(buf, "SigBlk:");
    if (p == NULL) return -1;
    p += 7;
    while (*p == ' ' || *p == '\t')
        p++;
    uint64_t mask = parse_hex(&p);
    return (int)((mask >> (sig - 1)) & 1);
}

/* gmi_world_stop: precondition gmi_lock_all (so gmi_threads_lock is held). */
void gmi_world_stop(void) {
    uint64_t t0 = now_ns();
    gmi_thread_t *self = gmi_tls_thread;
    pid_t pid = getpid();
    if (threads.signo == 0) gmi_throw("threads: world stop before gmi_threads_init");
    atomic_store(&threads.stopping, 1);
    for (gmi_thread_t *t = threads.head; t != NULL; t = t->next) {
        if (t == self || t->internal || atomic_load(&t->stop_state) == STOP_GONE) continue;
        atomic_store(&t->stop_state, STOP_REQUESTED);
        send_stop(t, pid);
    }
    uint64_t last_send = t0, warned = 0;
    for (;;) {
        uint32_t acks = atomic_load_explicit(&threads.acks, memory_order_acquire);
        gmi_thread_t *silent = NULL;
        for (gmi_thread_t *t = threads.head; t != NULL; t = t->next) {
            int st = atomic_load_explicit(&t->stop_state, memory_order_acquire);
            if (st == STOP_REQUESTED || st == STOP_ACKING) {
                silent = t;
                break;
            }
        }
        if (silent == NULL) break;
        uint64_t now = now_ns();
        if (now - last_send >= STOP_RESEND_NS) {
            for (gmi_thread_t *t = threads.head; t != NULL; t = t->next) {
                if (atomic_load(&t->stop_state) == STOP_REQUESTED) {
                    send_stop(t, pid);
                    threads.nresends++;
                }
            }
            last_send = now;
        }
        if (now - t0 >= STOP_CHECK_NS << warned) {
            warned++;
            if (signal_blocked(silent->tid, threads.signo) == 1)
                gmi_throw("threads: thread %d blocks the stop signal %d; a registered thread"
                          " must not block it (GOMEMSIGNAL chooses another)",
                          (int)silent->tid, threads.signo);
            gmi_error("threads: thread %d has not stopped after %llu ms; still waiting",
                      (int)silent->tid, (unsigned long long)((now - t0) / 1000000));
        }
        gmi_os_futex_wait(&threads.acks, acks, STOP_RESEND_NS / 4);
    }
    uint64_t dt = now_ns() - t0;
    threads.stop_ns_last = dt;
    threads.stop_ns_total += dt;
    threads.nstops++;
}

/* gmi_world_start resumes the threads stopped by gmi_world_stop. Threads found gone are
 * moved to the dead list; their caches are released later, outside the GC's locks. */
void gmi_world_start(void) {
    gmi_thread_t *t = threads.head;
    while (t != NULL) {
        gmi_thread_t *next = t->next;
        int st = atomic_load(&t->stop_state);
        if (st == STOP_GONE) {
            thread_unlink_locked(t);
            t->next = threads.dead;
            threads.dead = t;
        } else if (st == STOP_ACKED) {
            atomic_store_explicit(&t->stop_state, STOP_RUNNING, memory_order_relaxed);
        }
        t = next;
    }
    atomic_store(&threads.stopping, 0);
    atomic_fetch_add_explicit(&threads.world_epoch, 1, memory_order_release);
    gmi_os_futex_wake(&threads.world_epoch, INT_MAX);
}

/* ---------------------------------------------------------------------------------
 * Scanning ranges of a thread
 * ------------------------------------------------------------------------------- */

/* spill_registers stores the callee-saved registers (those a caller may keep a pointer
 * in across the call into gomem) into out; returns the current stack pointer. */
GMI_NOINLINE uintptr_t gmi_spill_registers(uintptr_t *out) {
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("movq %%rbx, 0(%1)\n\t"
                     "movq %%rbp, 8(%1)\n\t"
                     "movq %%r12, 16(%1)\n\t"
                     "movq %%r13, 24(%1)\n\t"
                     "movq %%r14, 32(%1)\n\t"
                     "movq %%r15, 40(%1)\n\t"
                     "movq %%rsp, %0\n\t"
                     : "=&r"(sp)
                     : "r"(out)
                     : "memory");
#elif defined(__aarch64__)
    __asm__ volatile("stp x19, x20, [%1, #0]\n\t"
                     "stp x21, x22, [%1, #16]\n\t"
                     "stp x23, x24, [%1, #32]\n\t"
                     "stp x25, x26, [%1, #48]\n\t"
                     "stp x27, x28, [%1, #64]\n\t"
                     "stp x29, x30, [%1, #80]\n\t"
                     "stp d8, d9, [%1, #96]\n\t"
                     "stp d10, d11, [%1, #112]\n\t"
                     "stp d12, d13, [%1, #128]\n\t"
                     "stp d14, d15, [%1, #144]\n\t"
                     "mov %0, sp\n\t"
                     : "=&r"(sp)
                     : "r"(out)
                     : "memory");
#else
    volatile uintptr_t here = 0;
    sp = (uintptr_t)&here;
    (void)out;
#endif
    return sp;
}

/* ---------------------------------------------------------------------------------
 * Scrubbing the stack below gomem's slow paths
 * ------------------------------------------------------------------------------- */

/* Words that gomem's frames leave below the caller's stack pointer are dead, but a
 * frame the program pushes there later reads them back wherever it does not write (an
 * alignment slot, a local array filled only in part), and the collector scans them as
 * roots. The slow paths save the program's callee-saved registers, which often hold
 * heap pointers, so a dead object stays alive for as long as such a slot does: in
 * gcbench's last phase the cycles marked 0.3-4.3 MiB more than was live, a dead tree
 * kept by one word in an alignment slot of the program's recursion. Boehm GC clears
 * its stack for the same reason (GC_clear_stack). A scrubber is a leaf function that
 * zeroes a local array: its frame starts where the slow path's frames started, so the
 * stores land in its own frame (no tool sees a write below the stack pointer), and p
 * passes through in a register, so that the caller reaches it by a tail call and keeps
 * no frame of its own. The empty asm in the loop keeps the stores, which nothing reads,
 * and keeps the loop from becoming a call to memset; no sanitizer redzones split the
 * array (under ASan the fast paths have frames too, and those are not scrubbed). */
#define SCRUB_FN(name, bytes)                                                                      \
    GMI_NOINLINE GMI_NO_ASAN void *name(void *p) {                                                 \
        uint64_t buf[(bytes) / 8];                                                                 \
        for (size_t i = 0; i < (bytes) / 8; i += 2) {                                              \
            buf[i] = 0;                                                                            \
            buf[i + 1] = 0;                                                                        \
            __asm__ volatile("" : : "r"(buf) : "memory");                                          \
        }                                                                                          \
        return p;                                                                                  \
    }
static void *stack_scrub_gc(void *p); /* internal linkage for the third */
SCRUB_FN(gmi_stack_scrub_small, GMI_SCRUB_SMALL)
SCRUB_FN(gmi_stack_scrub_refill, GMI_SCRUB_REFILL)
SCRUB_FN(stack_scrub_gc, GMI_SCRUB_GC)

/* stack_room: bytes of t's stack below sp, or 0 when sp is not on the stack gomem knows
 * (a coroutine's). The initial thread's stack grows on demand with no bottom recorded:
 * down to main_stack_floor. */
static size_t stack_room(const gmi_thread_t *t, uintptr_t sp) {
    if (sp > t->stack_hi) return 0;
    if (t->stack_lo != 0) return sp > t->stack_lo ? sp - t->stack_lo : 0;
    if (t->is_main && sp > main_stack_floor) return sp - main_stack_floor;
    return 0;
}

/* gmi_stack_scrub_deep: a collection (about 1.6 KiB deep) or a large or reported free
 * (more than a refill's 512 bytes: the heap lock, span coalescing, the report) ran
 * below the caller's frame; clear GMI_SCRUB_GC bytes where there is known room to
 * spare, else as much as a refill clears, which those frames certainly used. */
GMI_NOINLINE void gmi_stack_scrub_deep(gmi_thread_t *t) {
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (t != NULL && stack_room(t, sp) >= GMI_SCRUB_GC + 16384)
        stack_scrub_gc(NULL);
    else
        gmi_stack_scrub_refill(NULL);
}

/* scan_copies: where scan_self keeps its copies (threads.orphan_*) */
typedef struct scan_copies_s {
    uintptr_t *spill, *frames;
    size_t nspill, nframes;
} scan_copies_t;

_Static_assert(sizeof threads.orphan_spill == sizeof((gmi_thread_t *)0)->spill, "spill size");

/* scan_self pushes the calling thread's registers, its stack from the current sp up to
 * stack_hi, and [tls_lo, tls_hi). The collector may scan the ranges after this
 * returns, when the frames between its own and this one have been reused; a register
 * value of the mutator may have been saved only there. So the registers (spilled into
 * c->spill) and the top of the stack (copied into c->frames) are pushed as copies in
 * memory that stays put. __builtin_unwind_init makes this frame save every callee-saved register as
 * well. */
static GMI_NOINLINE GMI_NO_ASAN void scan_self(const scan_copies_t *c, uintptr_t stack_hi,
                                               uintptr_t tls_lo, uintptr_t tls_hi,
                                               void (*push)(uintptr_t, uintptr_t, void *),
                                               void *arg) {
    __builtin_unwind_init();
    uintptr_t sp = gmi_spill_registers(c->spill) & ~(uintptr_t)7;
    size_t n = 0;
    if (sp < stack_hi) {
        n = (stack_hi - sp) / sizeof(uintptr_t);
        if (n > c->nframes) n = c->nframes;
        for (size_t i = 0; i < n; i++)
            c->frames[i] = ((const uintptr_t *)sp)[i];
    }
    push((uintptr_t)c->spill, (uintptr_t)(c->spill + c->nspill), arg);
    if (n) push((uintptr_t)c->frames, (uintptr_t)(c->frames + n), arg);
    /* the live stack only beyond the copy: the copied part is where the collector's
     * own frames (the mark loop among them) live once this returns, and scanning them
     * late would retain whatever they hold at that moment */
    uintptr_t live = sp + n * sizeof(uintptr_t);
    if (live < stack_hi) push(live, stack_hi, arg);
    if (tls_lo < tls_hi) push(tls_lo, tls_hi, arg);
}

/* GMI_RED_ZONE: bytes below the sp a leaf function may use without moving it (the
 * x86-64 ABI's red zone; none on aarch64). */
#if defined(__x86_64__)
#define GMI_RED_ZONE 128
#else
#define GMI_RED_ZONE 0
#endif

/* on_own_stack: sp lies on the stack gomem knows for t (not on a coroutine's). */
static bool on_own_stack(const gmi_thread_t *t, uintptr_t sp) {
    uintptr_t lo = t->stack_lo != 0 ? t->stack_lo : t->is_main ? main_stack_limit : 0;
    return sp >= lo && sp < t->stack_hi;
}

bool gmi_thread_on_own_stack(const gmi_thread_t *t, uintptr_t sp) {
    return on_own_stack(t, sp);
}

/* push_whole_stack pushes all of t's known stack: t runs on a stack of the program's
 * making (a coroutine's, which the program registers with gm_add_roots), and the
 * frames that switched to it are somewhere on its own. The initial thread's extent is
 * its [stack] mapping now (the collector reads /proc/self/maps with raw system calls;
 * a stopped thread cannot hold the kernel's lock on the map). */
static void push_whole_stack(const gmi_thread_t *t,
                             void (*push)(uintptr_t lo, uintptr_t hi, void *arg), void *arg) {
    uintptr_t lo = t->stack_lo;
    if (lo == 0 && t->is_main) {
        maps_query_t q = {.addr = t->stack_hi - 1};
        if (maps_find(&q) == 0) lo = q.map_lo;
    }
    if (lo != 0 && lo < t->stack_hi) push(lo, t->stack_hi, arg);
}

/* gmi_thread_scan_ranges: see internal.h. A thread that is not stopped and is not the
 * caller (internal, gone, or running because no stop is in progress) pushes nothing.
 * The reuse stacks (malloc.c, 7a) are not roots. */
GMI_NO_ASAN void gmi_thread_scan_ranges(gmi_thread_t *t,
                                        void (*push)(uintptr_t lo, uintptr_t hi, void *arg),
                                        void *arg) {
    if (t->internal) return;
    if (t == gmi_tls_thread && t->gc_entry_sp != 0) {
        /* the collecting thread, from where it entered the collector (gmi_gc_enter):
         * gomem's frames below are not roots, so whatever stale words they hold (a
         * collector frame is large, and mostly left unwritten) cannot retain garbage */
        push((uintptr_t)t->spill, (uintptr_t)(t->spill + sizeof t->spill / sizeof t->spill[0]),
             arg);
        if (on_own_stack(t, t->gc_entry_sp))
            push(t->gc_entry_sp, t->stack_hi, arg);
        else
            push_whole_stack(t, push, arg);
        if (t->tls_lo < t->tls_hi) push(t->tls_lo, t->tls_hi, arg);
        return;
    }
    if (t == gmi_tls_thread) {
        /* the caller outside gmi_gc_enter: no path does this today (the mark runs
         * inside a cycle, gm_explain skips its caller); copies in the static area,
         * which gmi_gc.lock keeps to one user, as for an unregistered collector */
        scan_copies_t c = {threads.orphan_spill, threads.orphan_frames,
                           sizeof threads.orphan_spill / sizeof threads.orphan_spill[0],
                           sizeof threads.orphan_frames / sizeof threads.orphan_frames[0]};
        scan_self(&c, t->stack_hi, t->tls_lo, t->tls_hi, push, arg);
        return;
    }
    if (atomic_load_explicit(&t->stop_state, memory_order_acquire) != STOP_ACKED) return;
    uintptr_t sp = atomic_load_explicit(&t->stop_sp, memory_order_relaxed) & ~(uintptr_t)7;
    if (t->alt_hi != 0) {
        /* stopped on a sigaltstack: the handler frames there hold the interrupted
         * registers; the thread's stack from the sp the handler interrupted (with the
         * red zone below it), or all of it when that sp is not on it (a handler on the
         * same alternate stack, or a coroutine) */
        push(sp, t->alt_hi, arg);
        uintptr_t isp = t->alt_sp & ~(uintptr_t)7;
        /* an sp on the alternate stack itself is a program handler's, which the stop
         * interrupted: the thread's own frames are then below some unknown sp, even if
         * the alternate stack is an array on the thread's stack (the frames called
         * after the array's were not scanned, and their objects were freed) */
        bool isp_on_alt = isp >= t->alt_lo && isp < t->alt_hi;
        if (isp != 0 && !isp_on_alt && on_own_stack(t, isp)) {
            uintptr_t lo = isp - GMI_RED_ZONE;
            if (lo < t->stack_lo || lo > isp) lo = isp;
            push(lo, t->stack_hi, arg);
        } else {
            push_whole_stack(t, push, arg);
        }
    } else if (on_own_stack(t, sp)) {
        push(sp, t->stack_hi, arg);
    } else {
        push_whole_stack(t, push, arg);
    }
    if (t->tls_lo < t->tls_hi) push(t->tls_lo, t->tls_hi, arg);
}

/* gmi_thread_scan_unregistered: see internal.h. The copies go to threads.orphan_*,
 * which the caller's gmi_gc.lock keeps to one collection at a time. */
GMI_NO_ASAN void gmi_thread_scan_unregistered(void (*push)(uintptr_t lo, uintptr_t hi, void *arg),
                                              void *arg) {
    if (gmi_tls_thread != NULL || tls_internal) return;
    uintptr_t stack_hi = unregistered_stack_top(), tls_lo, tls_hi;
    tls_range_maps(&tls_lo, &tls_hi);
    scan_copies_t c = {threads.orphan_spill, threads.orphan_frames,
                       sizeof threads.orphan_spill / sizeof threads.orphan_spill[0],
                       sizeof threads.orphan_frames / sizeof threads.orphan_frames[0]};
    scan_self(&c, stack_hi, tls_lo, tls_hi, push, arg);
}

/* ---------------------------------------------------------------------------------
 * Thread creation: gomem's workers, and the pthread_create interposer
 * ------------------------------------------------------------------------------- */

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

/* tls_mask_as_given: gomem's own pthread_sigmask calls pass their mask unfiltered. */
static GMI_TLS int tls_mask_as_given;

/* start_box lives on the creator's stack; the creator waits until the new thread has
 * copied it and registered, so arg stays reachable from a scanned stack throughout. */

typedef struct start_box_s {
    void *(*fn)(void *);
    void *arg;
    int kind; /* THREAD_* */
    _Atomic uint32_t started;
} start_box_t;

#if defined(GM_SHARED_LIB) && !defined(GM_NO_PTHREAD_INTERPOSE)
/* real_pthread_create finds libc's pthread_create behind this library's wrapper.
 * dlsym allocates only to report an error (glibc 2.34 and later keep the dlerror state
 * unallocated otherwise; older glibc callocs it on a thread's first dl call). A
 * re-entry from that allocation (gomem as the malloc) while resolving fails with
 * EAGAIN instead of recursing. */
static _Atomic(pthread_create_fn) real_create;
static GMI_TLS int tls_resolving;

static pthread_create_fn real_pthread_create(void) {
    pthread_create_fn fn = atomic_load_explicit(&real_create, memory_order_acquire);
    if (fn != NULL || tls_resolving) return fn;
    tls_resolving = 1;
    fn = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
    tls_resolving = 0;
    if (fn == NULL) gmi_throw("threads: dlsym(RTLD_NEXT, \"pthread_create\") failed");
    atomic_store_explicit(&real_create, fn, memory_order_release);
    return fn;
}
#else
static pthread_create_fn real_pthread_create(void) {
    return pthread_create;
}
#endif

/* internal_pthread_create: how gomem starts its own threads (workers and service
 * threads alike). libc's pthread_create, but in an AddressSanitizer build of
 * libgomem.so ASan's interceptor, which the program's
 * calls reach before this library's wrapper and which RTLD_NEXT skips: a thread ASan
 * never saw created keeps the stack shadow of whatever ran there before (in a forked
 * child, glibc reuses the stacks of the parent's threads, redzones and all), and ASan
 * reported the scavenger's locals as a stack buffer overflow. The interceptor calls
 * the next pthread_create, this library's wrapper, which passes a creation of gomem's
 * own through (tls_spawning_internal). */
static GMI_TLS int tls_spawning_internal;
#if defined(GM_SHARED_LIB) && !defined(GM_NO_PTHREAD_INTERPOSE) && defined(__SANITIZE_ADDRESS__)
static pthread_create_fn internal_pthread_create(void) {
    static _Atomic(pthread_create_fn) asan_create;
    pthread_create_fn fn = atomic_load_explicit(&asan_create, memory_order_acquire);
    if (fn == NULL) {
        fn = (pthread_create_fn)dlsym(RTLD_DEFAULT, "__interceptor_pthread_create");
        if (fn == NULL) fn = real_pthread_create();
        atomic_store_explicit(&asan_create, fn, memory_order_release);
    }
    return fn;
}
#else
static pthread_create_fn internal_pthread_create(void) {
    return real_pthread_create();
}
#endif

static void *thread_start(void *p) {
    start_box_t *box = p;
    void *(*fn)(void *) = box->fn;
    void *arg = box->arg;
    int kind = box->kind;
    if (kind != THREAD_USER) /* before the creator returns: see the last thread */
        note_tid(service_tids, SERVICE_TIDS, proc_tid());
    if (kind == THREAD_INTERNAL) {
        tls_internal = 1;
    } else if (kind == THREAD_WATCHER) {
        tls_service = 1; /* registers only to call exit (last_thread_watcher) */
    } else if (kind == THREAD_SERVICE) {
        /* The creator does not wait for this one's registration (it may be a collection
         * starting the watcher, and registering may allocate, which would wait for that
         * collection); its arg is not a heap object. */
        tls_service = 1; /* copied into its struct */
        atomic_store_explicit(&box->started, 1, memory_order_release);
        gmi_os_futex_wake(&box->started, 1);
        thread_register(0);
        return fn(arg);
    } else {
        thread_register(0);
    }
    atomic_store_explicit(&box->started, 1, memory_order_release);
    gmi_os_futex_wake(&box->started, 1);
    return fn(arg);
}

static int thread_create(pthread_t *out, const pthread_attr_t *attr, void *(*fn)(void *), void *arg,
                         int kind) {
    if (kind != THREAD_USER && !atomic_load(&watcher_started)) start_watcher();
    bool ours = kind != THREAD_USER;
    /* workers, and the watcher while it is not registered, inherit a mask that keeps
     * the program's signals off them (the stop signal too: the interposer below lets
     * this call block it): a program handler run on an unregistered thread would hold
     * pointers no collection scans */
    bool masked = kind == THREAD_INTERNAL || kind == THREAD_WATCHER;
    pthread_create_fn create = ours ? internal_pthread_create() : real_pthread_create();
    if (create == NULL) return EAGAIN;
    start_box_t box = {.fn = fn, .arg = arg, .kind = kind};
    sigset_t all, old;
    sigemptyset(&old); /* the kernel fills 8 of its 128 bytes: no stack garbage in it */
    if (masked) {
        sigfillset(&all);
        tls_mask_as_given = 1;
        pthread_sigmask(SIG_SETMASK, &all, &old);
        tls_mask_as_given = 0;
        if (kind == THREAD_WATCHER) watcher_mask = old; /* restored before its exit */
    }
    tls_spawning_internal = ours;
    int rc = create(out, attr, thread_start, &box);
    tls_spawning_internal = 0;
    if (masked) pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        while (atomic_load_explicit(&box.started, memory_order_acquire) == 0)
            gmi_os_futex_wait(&box.started, 0, 0);
    }
    return rc;
}

/* gmi_thread_spawn_internal starts one of gomem's own threads with libc's
 * pthread_create: all signals blocked, never registered as a mutator. */
int gmi_thread_spawn_internal(pthread_t *out, void *(*fn)(void *), void *arg) {
    return thread_create(out, NULL, fn, arg, THREAD_INTERNAL);
}

/* gmi_thread_spawn_service starts gomem's finalizer thread: registered, stopped and
 * scanned like the program's threads, but known to be gomem's before this returns, so
 * that it never keeps the process alive (the last thread, above). */
int gmi_thread_spawn_service(pthread_t *out, const pthread_attr_t *attr, void *(*fn)(void *),
                             void *arg) {
    return thread_create(out, attr, fn, arg, THREAD_SERVICE);
}

#if defined(GM_SHARED_LIB) && !defined(GM_NO_PTHREAD_INTERPOSE)
/* pthread_create, exported by libgomem.so (exports.map): the new thread registers
 * itself before running fn, and pthread_create returns after that. */
GM_API int pthread_create(pthread_t *restrict out, const pthread_attr_t *restrict attr,
                          void *(*fn)(void *), void *restrict arg) {
    if (tls_spawning_internal) { /* gomem's own, through ASan's interceptor */
        pthread_create_fn create = real_pthread_create();
        return create != NULL ? create(out, attr, fn, arg) : EAGAIN;
    }
    return thread_create(out, attr, fn, arg, THREAD_USER);
}
#endif

#if defined(GM_SHARED_LIB) && !defined(GM_NO_PTHREAD_INTERPOSE)
/* dlclose, exported by libgomem.so (exports.map): an unload waits while a collection
 * holds the loader gate (roots.c), so that no object listed in its roots snapshot is
 * unmapped before the mark has scanned it. libc's dlclose is found as pthread_create's
 * is; a call that re-enters while it is being resolved fails as dlclose fails. */
typedef int (*dlclose_fn)(void *);
static _Atomic(dlclose_fn) real_close;

GM_API int dlclose(void *handle) {
    dlclose_fn fn = atomic_load_explicit(&real_close, memory_order_acquire);
    if (fn == NULL) {
        if (tls_resolving) return -1;
        tls_resolving = 1;
        fn = (dlclose_fn)dlsym(RTLD_NEXT, "dlclose");
        tls_resolving = 0;
        if (fn == NULL) gmi_throw("threads: dlsym(RTLD_NEXT, \"dlclose\") failed");
        atomic_store_explicit(&real_close, fn, memory_order_release);
    }
    gmi_dl_unload_begin();
    int rc = fn(handle);
    gmi_dl_unload_end();
    return rc;
}
#endif

#if defined(GM_SHARED_LIB) && !defined(GM_NO_PTHREAD_INTERPOSE)
/* The signal-mask interposers, exported by libgomem.so (exports.map). A registered
 * thread must take the stop signal whenever a collection asks: one that blocks it
 * (the daemon idiom: block everything, then create the threads), waits for it with
 * sigwait (which would take it from the handler and hand it to the program) or
 * suspends with it masked could not be stopped, and the collector waited, then
 * aborted. Each call below gets its set without the stop signal, as Boehm GC's
 * wrappers do; nothing else changes. Masks passed to ppoll, pselect and epoll_pwait,
 * and handlers' sa_mask, are not filtered: the stop waits until those return (README). */
static void *next_symbol(_Atomic(void *) *slot, const char *name) {
    void *fn = atomic_load_explicit(slot, memory_order_acquire);
    if (fn != NULL || tls_resolving) return fn;
    tls_resolving = 1;
    fn = dlsym(RTLD_NEXT, name);
    tls_resolving = 0;
    if (fn == NULL) gmi_throw("threads: dlsym(RTLD_NEXT, \"%s\") failed", name);
    atomic_store_explicit(slot, fn, memory_order_release);
    return fn;
}

/* without_stop returns set, or a copy of it in *copy without the stop signal. */
static const sigset_t *without_stop(const sigset_t *set, sigset_t *copy) {
    int sig = threads.signo;
    if (set == NULL || sig == 0 || tls_mask_as_given || !sigismember(set, sig)) return set;
    *copy = *set;
    sigdelset(copy, sig);
    return copy;
}

typedef int (*mask_fn)(int, const sigset_t *, sigset_t *);
typedef int (*suspend_fn)(const sigset_t *);
typedef int (*wait_fn)(const sigset_t *, int *);
typedef int (*waitinfo_fn)(const sigset_t *, siginfo_t *);
typedef int (*timedwait_fn)(const sigset_t *, siginfo_t *, const struct timespec *);

/* NEXT finds the next definition of name; called while that is being resolved, the
 * call fails as name fails: -1 with errno EAGAIN, or (returns_error: pthread_sigmask,
 * sigwait) the error number itself. */
#define NEXT(type, name, returns_error)                                                            \
    static _Atomic(void *) next_##name;                                                            \
    type fn = (type)next_symbol(&next_##name, #name);                                              \
    if (fn == NULL) {                                                                              \
        if (returns_error) return EAGAIN;                                                          \
        errno = EAGAIN;                                                                            \
        return -1;                                                                                 \
    }

GM_API int pthread_sigmask(int how, const sigset_t *set, sigset_t *old) {
    NEXT(mask_fn, pthread_sigmask, 1);
    sigset_t copy;
    if (how != SIG_UNBLOCK) set = without_stop(set, &copy);
    return fn(how, set, old);
}

GM_API int sigprocmask(int how, const sigset_t *set, sigset_t *old) {
    NEXT(mask_fn, sigprocmask, 0);
    sigset_t copy;
    if (how != SIG_UNBLOCK) set = without_stop(set, &copy);
    return fn(how, set, old);
}

GM_API int sigsuspend(const sigset_t *mask) {
    NEXT(suspend_fn, sigsuspend, 0);
    sigset_t copy;
    return fn(without_stop(mask, &copy));
}

GM_API int sigwait(const sigset_t *restrict set, int *restrict sig) {
    NEXT(wait_fn, sigwait, 1);
    sigset_t copy;
    return fn(without_stop(set, &copy), sig);
}

GM_API int sigwaitinfo(const sigset_t *restrict set, siginfo_t *restrict info) {
    NEXT(waitinfo_fn, sigwaitinfo, 0);
    sigset_t copy;
    return fn(without_stop(set, &copy), info);
}

GM_API int sigtimedwait(const sigset_t *restrict set, siginfo_t *restrict info,
                        const struct timespec *restrict timeout) {
    NEXT(timedwait_fn, sigtimedwait, 0);
    sigset_t copy;
    return fn(without_stop(set, &copy), info, timeout);
}
#undef NEXT
#endif

/* ---------------------------------------------------------------------------------
 * fork and initialization
 * ------------------------------------------------------------------------------- */

static void fork_prepare(void) {
    gmi_lock_all();
    gmi_pool_fork_prepare();
}

static void fork_parent(void) {
    gmi_pool_fork_parent();
    gmi_unlock_all();
}

/* fork_child: only the forking thread exists in the child. Every other thread's cached
 * spans go back to the central lists and its struct is freed. */
static void fork_child(void) {
    gmi_lock_reinit_all_child();
    gmi_thread_t *self = gmi_tls_thread;
    gmi_thread_t *t = threads.head, *drop = NULL;
    while (t != NULL) {
        gmi_thread_t *next = t->next;
        if (t != self) {
            thread_unlink_locked(t);
            t->next = drop;
            drop = t;
        }
        t = next;
    }
    for (t = threads.dead; t != NULL;) {
        gmi_thread_t *next = t->next;
        gmi_reuse_drop(&t->cache); /* as in reap_dead: left to the next cycle */
        t->next = drop;
        drop = t;
        t = next;
    }
    threads.dead = NULL;
    while (drop != NULL) {
        gmi_thread_t *next = drop->next;
        gmi_thread_cache_release(&drop->cache);
        gmi_fixalloc_free(&threads.thread_alloc, drop);
        drop = next;
    }
    if (self != NULL) {
        self->tid = thread_gettid();
        self->is_main = 1; /* for the record; its stack is still the thread's old one */
        atomic_store(&self->stop_state, STOP_RUNNING);
    }
    atomic_store(&threads.stopping, 0);
    atomic_store(&threads.acks, 0);
    for (size_t i = 0; i < SERVICE_TIDS; i++) /* the child starts its own workers */
        atomic_store(&service_tids[i], 0);
    atomic_store(&watcher_started, 0);
    if (watch.stat_fd >= 0) close(watch.stat_fd); /* the parent's /proc/self */
    if (watch.task_fd >= 0) close(watch.task_fd);
    watch.stat_fd = watch.task_fd = -1;
    watch.pid = 0;
    gmi_fork_child_hook();
}

/* gmi_threads_init installs the stop signal handler and the fork handlers. Called once
 * from gmi_init_slow; it does not register the calling thread (gmi_thread_get does). */
void gmi_threads_init(void) {
    threads_once();
    int sig = gmi_config.stop_signal;
    if (sig == 0) sig = SIGRTMIN + 6;
    if (sig <= 0 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV ||
        sig == SIGBUS || sig == SIGFPE || sig == SIGILL) {
        gmi_error("threads: GOMEMSIGNAL=%d cannot be used; using %d", sig, SIGRTMIN + 6);
        sig = SIGRTMIN + 6;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = stop_handler;
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    /* nothing else may run on a stopped thread: it could touch the heap mid-collection */
    sigfillset(&sa.sa_mask);
    sigdelset(&sa.sa_mask, SIGSEGV);
    sigdelset(&sa.sa_mask, SIGBUS);
    sigdelset(&sa.sa_mask, SIGFPE);
    sigdelset(&sa.sa_mask, SIGILL);
    sigdelset(&sa.sa_mask, SIGTRAP);
    if (sigaction(sig, &sa, NULL) != 0) {
        /* a number the C library keeps for itself (32 and 33 with glibc) */
        int fallback = SIGRTMIN + 6;
        if (sig == fallback) gmi_throw("threads: sigaction(%d) failed", sig);
        gmi_error("threads: GOMEMSIGNAL=%d cannot be used (sigaction failed: errno %d); "
                  "using %d",
                  sig, errno, fallback);
        sig = fallback;
        if (sigaction(sig, &sa, NULL) != 0) gmi_throw("threads: sigaction(%d) failed", sig);
    }
    threads.signo = sig;
    unblock_stop_signal();
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        gmi_throw("threads: pthread_atfork failed");
}
