/* os_linux.c: the operating-system layer; the only file that maps memory.
 *
 * Address space is mapped read-write with MAP_NORESERVE, so untouched pages cost
 * nothing. Pages go back to the OS with madvise(MADV_DONTNEED) by default: they read
 * as zero afterwards, which the page heap uses to skip zeroing. GODEBUG=madvdontneed=0
 * (or gm_set_madvdontneed(0)) uses MADV_FREE instead, as Go did before 1.16: the kernel
 * takes the pages only under memory pressure, so RSS does not drop at once and a page
 * reads either as its old contents or as zero until it is written; gmi_os_release
 * tells the page heap which of the two it did. A kernel without MADV_FREE (EINVAL)
 * falls back to MADV_DONTNEED for good, as Go's sysUnused does. Fault injection for
 * tests (GOMEMDEBUG=failmmap=N, failmadvise=N) makes the Nth call fail.
 * See malloc.c for the allocator overview. */
#include "internal.h"
#include "gc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

/* Fault injection: the call numbered fail_*_at (1-based) fails; 0 = never. */
static struct {
    _Atomic long mmap_calls, madvise_calls;
    long fail_mmap_at, fail_madvise_at;
    _Atomic int madv_free;    /* release with MADV_FREE (GODEBUG=madvdontneed=0) */
    _Atomic int no_madv_free; /* the kernel refused MADV_FREE once: never try again */
} os_state GMI_STATE;

void gmi_os_set_fault_injection(long fail_mmap_at, long fail_madvise_at) {
    os_state.fail_mmap_at = fail_mmap_at;
    os_state.fail_madvise_at = fail_madvise_at;
}

static void *os_mmap(size_t size) {
    long n = atomic_fetch_add(&os_state.mmap_calls, 1) + 1;
    if (gmi_unlikely(os_state.fail_mmap_at != 0 && n == os_state.fail_mmap_at)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

void *gmi_os_reserve(size_t size, size_t align) {
    if (size == 0 || size > ((size_t)1 << 47)) {
        errno = ENOMEM;
        return NULL;
    }
    if (align <= 4096) return os_mmap(size);
    /* Over-map by align and trim both ends. */
    size_t len = size + align;
    char *p = os_mmap(len);
    if (p == NULL) return NULL;
    uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    size_t head = a - (uintptr_t)p, tail = len - head - size;
    if (head) munmap(p, head);
    if (tail) munmap((char *)a + size, tail);
    return (void *)a;
}

void gmi_os_unmap(void *p, size_t size) {
    munmap(p, size);
}

void gmi_os_set_madv_free(bool on) {
    atomic_store_explicit(&os_state.madv_free, on, memory_order_relaxed);
}

bool gmi_os_madv_free(void) {
    return atomic_load_explicit(&os_state.madv_free, memory_order_relaxed) != 0;
}

/* gmi_os_page_size: the kernel's page size (4 KiB on x86-64; 4, 16 or 64 KiB on arm64
 * kernels). gmi_os_page_size_override, when set (tests), stands for it. */
size_t gmi_os_page_size_override GMI_STATE;

size_t gmi_os_page_size(void) {
    static size_t size GMI_STATE;
    if (gmi_os_page_size_override != 0) return gmi_os_page_size_override;
    if (size == 0) {
        long v = sysconf(_SC_PAGESIZE);
        size = v > 0 ? (size_t)v : 4096;
    }
    return size;
}

int gmi_os_release(void *p, size_t size) {
    long n = atomic_fetch_add(&os_state.madvise_calls, 1) + 1;
    if (gmi_unlikely(os_state.fail_madvise_at != 0 && n == os_state.fail_madvise_at)) {
        errno = EAGAIN;
        return -1;
    }
#ifdef MADV_FREE
    if (atomic_load_explicit(&os_state.madv_free, memory_order_relaxed) &&
        !atomic_load_explicit(&os_state.no_madv_free, memory_order_relaxed)) {
        if (madvise(p, size, MADV_FREE) == 0) return GMI_RELEASED_LAZY;
        if (errno != EINVAL) return -1;
        atomic_store_explicit(&os_state.no_madv_free, 1, memory_order_relaxed);
    }
#endif
    return madvise(p, size, MADV_DONTNEED) == 0 ? GMI_RELEASED_ZERO : -1;
}

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t gmi_os_nanotime(void) {
    return clock_ns(CLOCK_MONOTONIC);
}
uint64_t gmi_os_walltime(void) {
    return clock_ns(CLOCK_REALTIME);
}
uint64_t gmi_os_thread_cputime(void) {
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}
uint64_t gmi_os_process_cputime(void) {
    return clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

int gmi_os_ncpu(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    return 1;
}

/* gmi_os_commit_limit: physical memory plus swap, the most one request can ever use.
 * Linux's default overcommit refuses a single private mapping larger than that; gomem
 * reserves with MAP_NORESERVE, which the kernel never refuses, so it applies the rule
 * itself: a larger request would only get page-map metadata (one word per 8 KiB page)
 * that could exhaust memory before the object is used. Read once; SIZE_MAX if unknown. */
size_t gmi_os_commit_limit(void) {
    static _Atomic size_t limit GMI_STATE;
    size_t v = atomic_load_explicit(&limit, memory_order_relaxed);
    if (v != 0) return v;
    struct sysinfo si;
    v = SIZE_MAX;
    if (sysinfo(&si) == 0 && si.mem_unit != 0) {
        unsigned __int128 b = ((unsigned __int128)si.totalram + si.totalswap) * si.mem_unit;
        if (b != 0 && b < SIZE_MAX) v = (size_t)b;
    }
    atomic_store_explicit(&limit, v, memory_order_relaxed);
    return v;
}

size_t gmi_os_rss(void) {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    /* second field: resident pages */
    const char *s = buf;
    while (*s && *s != ' ')
        s++;
    while (*s == ' ')
        s++;
    size_t pages = 0;
    while (*s >= '0' && *s <= '9')
        pages = pages * 10 + (size_t)(*s++ - '0');
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

void gmi_os_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
        ts.tv_nsec = (long)(timeout_ns % 1000000000u);
        tsp = &ts;
    }
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, tsp, NULL, 0);
}

void gmi_os_futex_wake(_Atomic uint32_t *addr, int n) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}
