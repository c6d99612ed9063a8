/* gmtest.h: helpers shared by the public-API tests (tests/api, tests/stress,
 * tests/misuse). Header-only, on top of check.h.
 *
 * The collector is conservative: any word that looks like a pointer into an object
 * keeps it alive. Tests that expect an object to be reclaimed must therefore keep
 * their own copies of the pointer out of scanned memory: allocate in noinline helpers,
 * keep pointers XOR-hidden (gmt_hide), and collect through gmt_collect_clean(), which
 * wipes the dead part of the stack and the scratch registers first. Tests that expect
 * survival need none of this. */
#ifndef GM_TEST_UTIL_H
#define GM_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gomem.h"

#define GMT_NOINLINE  __attribute__((noinline, noclone))
#define GMT_UNUSED    __attribute__((unused))
#define GMT_HIDE_MASK ((uintptr_t)0x5555555555555555ULL)

#if defined(__SANITIZE_ADDRESS__)
#define GMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GMT_ASAN 1
#endif
#endif
#ifndef GMT_ASAN
#define GMT_ASAN 0
#endif

GMT_UNUSED static inline uintptr_t gmt_hide(const void *p) {
    return (uintptr_t)p ^ GMT_HIDE_MASK;
}
GMT_UNUSED static inline void *gmt_unhide(uintptr_t h) {
    return (void *)(h ^ GMT_HIDE_MASK);
}

/* gmt_clear_scratch_regs zeroes the caller-saved registers that could still hold a
 * stale pointer returned by an earlier call. */
GMT_UNUSED static inline void gmt_clear_scratch_regs(void) {
#if defined(__x86_64__)
    __asm__ volatile("xorl %%eax, %%eax\n\txorl %%ecx, %%ecx\n\txorl %%edx, %%edx\n\t"
                     "xorl %%esi, %%esi\n\txorl %%edi, %%edi\n\txorl %%r8d, %%r8d\n\t"
                     "xorl %%r9d, %%r9d\n\txorl %%r10d, %%r10d\n\txorl %%r11d, %%r11d\n\t"
                     "pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
                     "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
                     "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7" ::
                         : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm0",
                           "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "memory");
#endif
}

/* gmt_wipe_stack zeroes 16 KiB of the stack below the caller's frame. */
/* Not instrumented: under ASan the shadow of stack memory below the current frame can
 * hold poison left by frames that the collector's stop-the-world signals interrupted,
 * so a memset there is reported although the bytes belong to buf. */
GMT_NOINLINE GMT_UNUSED __attribute__((no_sanitize("address"))) static void gmt_wipe_stack(void) {
    volatile char buf[16384];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
    __asm__ volatile("" : : "r"(buf) : "memory");
    gmt_clear_scratch_regs();
}

GMT_NOINLINE GMT_UNUSED static void gmt_collect_inner_(void) {
    gmt_wipe_stack();
    gmt_clear_scratch_regs();
    gm_collect();
}

/* gmt_collect_clean runs gm_collect with no stale pointer left below the caller. */
GMT_NOINLINE GMT_UNUSED static void gmt_collect_clean(void) {
    gmt_wipe_stack();
    gmt_collect_inner_();
    gmt_wipe_stack();
}

/* gmt_gcstress: GOMEMDEBUG asks for a collection every few span refills, so the pacer
 * no longer decides when cycles run (and GOGC=off does not stop them): assertions
 * about how many cycles ran, or how far the heap grew, do not apply. */
GMT_UNUSED static inline int gmt_gcstress(void) {
    const char *d = getenv("GOMEMDEBUG");
    const char *g = d ? strstr(d, "gcstress=") : NULL;
    return g != NULL && atoi(g + 9) > 0;
}

/* gmt_is_live: p is the base of a live gomem object. */
GMT_UNUSED static inline int gmt_is_live(const void *p) {
    return gm_base(p) == p && gm_usable_size(p) != 0;
}

/* gmt_fill / gmt_verify: a byte pattern derived from seed and position. */
GMT_UNUSED static inline uint8_t gmt_pat(uint64_t seed, size_t i) {
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + (i >> 3) * 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return (uint8_t)(x >> ((i & 7) * 8));
}
GMT_UNUSED static void gmt_fill(void *p, size_t n, uint64_t seed) {
    uint8_t *b = (uint8_t *)p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = seed * 0x9e3779b97f4a7c15ULL + (i >> 3) * 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 29;
        memcpy(b + i, &x, 8);
    }
    for (; i < n; i++)
        b[i] = gmt_pat(seed, i);
}
/* Returns the index of the first wrong byte, or (size_t)-1 if all match. */
GMT_UNUSED static size_t gmt_verify(const void *p, size_t n, uint64_t seed) {
    const uint8_t *b = (const uint8_t *)p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x = seed * 0x9e3779b97f4a7c15ULL + (i >> 3) * 0xbf58476d1ce4e5b9ULL, y;
        x ^= x >> 29;
        memcpy(&y, b + i, 8);
        if (x != y) {
            for (size_t j = i; j < i + 8; j++)
                if (b[j] != gmt_pat(seed, j)) return j;
        }
    }
    for (; i < n; i++)
        if (b[i] != gmt_pat(seed, i)) return i;
    return (size_t)-1;
}
#define GMT_OK ((size_t)-1)

/* gmt_all_zero: n bytes at p are zero. */
GMT_UNUSED static int gmt_all_zero(const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, b + i, 8);
        if (x) return 0;
    }
    for (; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

/* gmt_rss returns the resident set size in bytes (from /proc/self/statm). */
GMT_UNUSED static size_t gmt_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

GMT_UNUSED static double gmt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* gmt_stats: memstats snapshot (a static buffer: the struct is large). */
GMT_UNUSED static gm_memstats_t *gmt_stats(gm_memstats_t *ms) {
    gm_read_memstats(ms);
    return ms;
}

/* ---------------------------------------------------------------------------------
 * Capturing stderr of the calling process (one thread at a time)
 * ------------------------------------------------------------------------------- */

static int gmt_saved_stderr_ = -1, gmt_capture_fd_ = -1;

GMT_UNUSED static void gmt_capture_begin(void) {
    fflush(stderr);
    char name[64];
    snprintf(name, sizeof name, "/tmp/gmtest-stderr-%d-XXXXXX", (int)getpid());
    gmt_capture_fd_ = mkstemp(name);
    if (gmt_capture_fd_ < 0) {
        perror("mkstemp");
        abort();
    }
    unlink(name);
    gmt_saved_stderr_ = dup(2);
    dup2(gmt_capture_fd_, 2);
}

/* gmt_capture_end restores stderr and copies what was written (NUL-terminated, at
 * most n-1 bytes) to buf; returns the length. */
GMT_UNUSED static size_t gmt_capture_end(char *buf, size_t n) {
    fflush(stderr);
    dup2(gmt_saved_stderr_, 2);
    close(gmt_saved_stderr_);
    gmt_saved_stderr_ = -1;
    size_t len = 0;
    lseek(gmt_capture_fd_, 0, SEEK_SET);
    for (;;) {
        ssize_t r = read(gmt_capture_fd_, buf + len, n - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
        if (len == n - 1) break;
    }
    buf[len] = 0;
    close(gmt_capture_fd_);
    gmt_capture_fd_ = -1;
    return len;
}

GMT_UNUSED static int gmt_count_lines(const char *s) {
    int n = 0;
    const char *last = s;
    for (const char *c = s; *c; c++)
        if (*c == '\n') {
            n++;
            last = c + 1;
        }
    if (*last) n++; /* unterminated last line */
    return n;
}

/* ---------------------------------------------------------------------------------
 * Running this executable again as a child (for env knobs, aborts, rlimits)
 * ------------------------------------------------------------------------------- */

/* gmt_run_self runs /proc/self/exe with argv {argv0, arg, NULL} and the extra
 * environment assignment env ("NAME=value", or NULL), with stderr (and stdout if
 * capture_stdout) captured into buf (n bytes). Kills the child after timeout_s seconds.
 * Returns the wait status, or -1 on failure to run it. */
GMT_UNUSED static int gmt_run_self(const char *arg, const char *env, char *buf, size_t n,
                                   int capture_stdout, int timeout_s) {
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(pfd[1], 2);
        if (capture_stdout) dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        if (env) putenv((char *)env);
        char *argv[] = {(char *)"gmtest-child", (char *)arg, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    size_t len = 0;
    int status = -1;
    double deadline = gmt_now() + timeout_s;
    int done = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(pfd[0], tmp, sizeof tmp);
        if (r > 0) {
            size_t k = (size_t)r;
            if (len + k > n - 1) k = n - 1 - len;
            memcpy(buf + len, tmp, k);
            len += k;
            continue;
        }
        if (r == 0 && done) break;
        if (!done) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                done = 1;
                continue;
            }
            if (gmt_now() > deadline) {
                fprintf(stderr, "gmtest: child '%s' timed out, killing it\n", arg);
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                done = 1;
                continue;
            }
        }
        if (r < 0 && errno != EAGAIN && errno != EINTR) break;
        usleep(2000);
    }
    close(pfd[0]);
    buf[len] = 0;
    return status;
}

/* gmt_contains_ptr: s contains p printed in hex (with or without 0x, any case). */
GMT_UNUSED static int gmt_contains_ptr(const char *s, const void *p) {
    char hex[32];
    snprintf(hex, sizeof hex, "%lx", (unsigned long)(uintptr_t)p);
    size_t hl = strlen(hex);
    for (const char *c = s; *c; c++) {
        size_t i = 0;
        while (i < hl && c[i] &&
               (c[i] == hex[i] || (c[i] >= 'A' && c[i] <= 'F' && c[i] + 32 == hex[i])))
            i++;
        if (i == hl) {
            char next = c[hl];
            int hexnext = (next >= '0' && next <= '9') || (next >= 'a' && next <= 'f') ||
                          (next >= 'A' && next <= 'F');
            char prev = c == s ? ' ' : c[-1];
            int prevok = prev == 'x' || prev == 'X' ||
                         !((prev >= '0' && prev <= '9') || (prev >= 'a' && prev <= 'f'));
            if (!hexnext && prevok) return 1;
        }
    }
    return 0;
}

#endif
