/* test_fmt.c: gmi_snprintf against libc's snprintf for the supported subset,
 * truncation and return values, and the one-write error printers (through a pipe). */
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "check.h"
#include "internal.h"

/* Compare gmi_snprintf with libc for the same format and arguments, in a large
 * buffer and in every truncating size from 0 to the full length. */
#define SAME(...)                                                                                  \
    do {                                                                                           \
        char want_[256], got_[256];                                                                \
        int wr_ = snprintf(want_, sizeof want_, __VA_ARGS__);                                      \
        int gr_ = gmi_snprintf(got_, sizeof got_, __VA_ARGS__);                                    \
        CHECK_EQ(gr_, wr_);                                                                        \
        if (strcmp(got_, want_) != 0) {                                                            \
            fprintf(stderr, "%s:%d: got \"%s\" want \"%s\"\n", __FILE__, __LINE__, got_, want_);   \
            check_failed_++;                                                                       \
        } else {                                                                                   \
            check_passed_++;                                                                       \
        }                                                                                          \
        for (int n_ = 0; n_ <= wr_ + 1; n_++) {                                                    \
            char t_[256];                                                                          \
            memset(t_, 'Z', sizeof t_);                                                            \
            int tr_ = gmi_snprintf(t_, (size_t)n_, __VA_ARGS__);                                   \
            int ok_ = tr_ == wr_ && t_[n_] == 'Z';                                                 \
            if (n_ > 0) {                                                                          \
                size_t keep_ = (size_t)(n_ - 1 < wr_ ? n_ - 1 : wr_);                              \
                ok_ = ok_ && memcmp(t_, want_, keep_) == 0 && t_[keep_] == '\0';                   \
            } else {                                                                               \
                ok_ = ok_ && t_[0] == 'Z';                                                         \
            }                                                                                      \
            if (!ok_) {                                                                            \
                fprintf(stderr, "%s:%d: truncation to %d wrong\n", __FILE__, __LINE__, n_);        \
                check_failed_++;                                                                   \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static void test_against_libc(void) {
    SAME("plain text");
    SAME("%d %i", 0, -1);
    SAME("%d|%d", INT_MAX, INT_MIN);
    SAME("%u", 4000000000u);
    SAME("%ld %lu", LONG_MIN, ULONG_MAX);
    SAME("%lld %llu", LLONG_MIN, ULLONG_MAX);
    SAME("%zu %zd", (size_t)123456789, (ssize_t)-42);
    SAME("%x %lx %llx %zx", 0xdeadu, 0xfeedfaceUL, 0x0123456789abcdefULL, (size_t)0xff);
    SAME("%X", 0xabcdefu);
    SAME("%5d|%-5d|%05d", 42, 42, 42);
    SAME("%05d|%5d|%-6d|", -42, -42, -42);
    SAME("%.3d|%.0d|%.0d|%8.3d", 7, 0, 5, -7);
    SAME("%016lx", 0x1234UL);
    SAME("%+d % d %+d", 5, 5, -5);
    SAME("%s|%10s|%-10s|", "abc", "abc", "abc");
    SAME("%.2s|%5.1s|", "abcdef", "xyz");
    SAME("%*d|%-*d|%.*s|", 6, 12, 4, 3, 2, "hello");
    SAME("%*d|", -6, 12);
    SAME("%c%c%3c%-3c|", 'a', 'b', 'c', 'd');
    SAME("100%%");
    SAME("%hd %hhu %hu", (short)-3, (unsigned char)250, (unsigned short)65000);
    SAME("%jd %td", (intmax_t)-99, (ptrdiff_t)77);
    SAME("%p", (void *)0x7fff12345678);
    SAME("%20p|", (void *)0x1000);
    SAME("gomem: malformed %s=\"%s\": %s", "GOMEMLIMIT", "100MB", "unknown unit");
}

static void test_edge(void) {
    char b[64];
    CHECK_EQ(gmi_snprintf(NULL, 0, "%d", 12345), 5);
    const char *volatile null_str = NULL;
    CHECK_EQ(gmi_snprintf(b, sizeof b, "%s", null_str), 6);
    CHECK(strcmp(b, "(null)") == 0);
    /* %.Ns reads at most N bytes: the argument need not be terminated. */
    char raw[3] = {'x', 'y', 'z'};
    gmi_snprintf(b, sizeof b, "%.3s!", raw);
    CHECK(strcmp(b, "xyz!") == 0);
    /* An unsupported conversion is echoed and consumes nothing. */
    const char *unsupported = "%f %d", *lone = "50%";
    gmi_snprintf(b, sizeof b, unsupported, 7);
    CHECK(strcmp(b, "%f 7") == 0);
    /* A trailing lone '%' is printed. */
    CHECK_EQ(gmi_snprintf(b, sizeof b, lone), 3);
    CHECK(strcmp(b, "50%") == 0);
    CHECK_EQ(gmi_snprintf(b, 1, "abc"), 3);
    CHECK_EQ(b[0], 0);
}

/* capture runs fn in a child with stderr (or fd) redirected to a pipe and returns the
 * text read, the number of read() calls that returned data and the exit status. */
static int capture(void (*fn)(void), char *out, size_t cap, int *status) {
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 2);
        fn();
        _exit(0);
    }
    close(pfd[1]);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(pfd[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(pfd[0]);
    waitpid(pid, status, 0);
    return (int)len;
}

static void do_error(void) {
    gmi_error("malformed %s=\"%s\": %s", "GOGC", "abc", "bad");
}
static void do_throw(void) {
    gmi_throw("central: span %d has no free objects", 7);
}
static void do_fdprintf(void) {
    gmi_fdprintf(2, "x=%d y=%s\n", 3, "z");
}
static void do_long_error(void) {
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    gmi_error("%s", big);
}

static void test_printers(void) {
    char out[4096];
    int st = 0;
    capture(do_error, out, sizeof out, &st);
    CHECK(strcmp(out, "gomem: malformed GOGC=\"abc\": bad\n") == 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    capture(do_fdprintf, out, sizeof out, &st);
    CHECK(strcmp(out, "x=3 y=z\n") == 0);

    int len = capture(do_long_error, out, sizeof out, &st);
    CHECK_EQ(len, 1023);
    CHECK(strncmp(out, "gomem: aaaa", 11) == 0);
    CHECK_EQ(out[len - 1], '\n');

    capture(do_throw, out, sizeof out, &st);
    CHECK(strcmp(out, "gomem: fatal: central: span 7 has no free objects\n") == 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

int main(void) {
    test_against_libc();
    test_edge();
    test_printers();
    return check_done();
}
