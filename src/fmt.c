/* fmt.c: gomem's own printf subset, and the error and fatal-error printers.
 *
 * gomem cannot use stdio: it runs inside malloc (the LD_PRELOAD shim), inside signal
 * handlers and with every gomem lock held, where calling snprintf or fprintf could
 * allocate, take stdio's locks or recurse into the heap being repaired. Everything
 * here formats into caller-provided or stack memory and reaches the kernel with one
 * write(2) per message, so lines from different threads do not interleave.
 *
 * Supported conversions: %d %i %u %x %X %p %s %c %%, with the length modifiers h hh l
 * ll z j t, the flags '-' '0' '+' ' ', a width and a precision (both may be '*').
 * For numbers the precision is the minimum digit count; for %s the maximum length.
 * Invariant: the formatter writes at most n-1 bytes plus a NUL into buf (nothing when
 * n == 0) and returns the length the full output would have had.
 * All functions are async-signal-safe. See malloc.c for the allocator overview. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define FMT_LINE_MAX 1024 /* gmi_fdprintf / gmi_error / gmi_throw stack buffer */

/* ---------------------------------------------------------------------------------
 * Output cursor
 * ------------------------------------------------------------------------------- */

typedef struct fmt_out_s {
    char *buf;
    size_t cap; /* bytes usable for text: n - 1, or 0 when n == 0 */
    size_t len; /* bytes the full output has so far (may exceed cap) */
} fmt_out_t;

static void fmt_putc(fmt_out_t *o, char c) {
    if (o->len < o->cap) o->buf[o->len] = c;
    o->len++;
}

static void fmt_pad(fmt_out_t *o, char c, int count) {
    for (int i = 0; i < count; i++)
        fmt_putc(o, c);
}

static void fmt_puts(fmt_out_t *o, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        fmt_putc(o, s[i]);
}

/* ---------------------------------------------------------------------------------
 * Conversions
 * ------------------------------------------------------------------------------- */

typedef struct fmt_spec_s {
    bool left;      /* '-' */
    bool zero;      /* '0' */
    char sign_flag; /* '+', ' ' or 0 */
    int width;      /* -1 = none */
    int prec;       /* -1 = none */
} fmt_spec_t;

/* fmt_number writes v in the given base with sign, precision and padding applied. */
static void fmt_number(fmt_out_t *o, const fmt_spec_t *sp, uint64_t v, bool neg, unsigned base,
                       bool upper, const char *prefix) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24]; /* 2^64 has 20 decimal digits, 16 hex */
    int nd = 0;
    while (v != 0) {
        tmp[nd++] = digits[v % base];
        v /= base;
    }
    /* Precision 0 with value 0 prints no digits (C's rule); no precision prints "0". */
    int mindigits = sp->prec >= 0 ? sp->prec : 1;
    int zeros = mindigits > nd ? mindigits - nd : 0;
    char sign = neg ? '-' : sp->sign_flag;
    size_t plen = prefix ? __builtin_strlen(prefix) : 0;
    int body = nd + zeros + (sign ? 1 : 0) + (int)plen;
    int pad = sp->width > body ? sp->width - body : 0;

    /* '0' pads between sign/prefix and digits; ignored with '-' or with a precision. */
    bool zero_pad = sp->zero && !sp->left && sp->prec < 0;
    if (!sp->left && !zero_pad) fmt_pad(o, ' ', pad);
    if (sign) fmt_putc(o, sign);
    if (plen) fmt_puts(o, prefix, plen);
    if (zero_pad) fmt_pad(o, '0', pad);
    fmt_pad(o, '0', zeros);
    while (nd > 0)
        fmt_putc(o, tmp[--nd]);
    if (sp->left) fmt_pad(o, ' ', pad);
}

static void fmt_string(fmt_out_t *o, const fmt_spec_t *sp, const char *s) {
    if (s == NULL) s = "(null)";
    size_t len = 0;
    /* Bounded scan: with a precision, s need not be NUL-terminated. */
    while ((sp->prec < 0 || len < (size_t)sp->prec) && s[len] != '\0')
        len++;
    int pad = sp->width > (int)len ? sp->width - (int)len : 0;
    if (!sp->left) fmt_pad(o, ' ', pad);
    fmt_puts(o, s, len);
    if (sp->left) fmt_pad(o, ' ', pad);
}

/* ---------------------------------------------------------------------------------
 * gmi_vsnprintf
 * ------------------------------------------------------------------------------- */

enum { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE, LEN_MAX, LEN_PTRDIFF };

/* gmi_vsnprintf formats fmt into buf (see the top of the file for the subset).
 * Unknown conversions are copied through literally so a bad format is visible. */
int gmi_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) {
    fmt_out_t o = {buf, n ? n - 1 : 0, 0};
    const char *p = fmt;

    while (*p != '\0') {
        if (*p != '%') {
            fmt_putc(&o, *p++);
            continue;
        }
        const char *conv_start = p++;
        fmt_spec_t sp = {false, false, 0, -1, -1};

        for (;; p++) {
            if (*p == '-')
                sp.left = true;
            else if (*p == '0')
                sp.zero = true;
            else if (*p == '+')
                sp.sign_flag = '+';
            else if (*p == ' ') {
                if (sp.sign_flag != '+') sp.sign_flag = ' ';
            } else
                break;
        }
        if (*p == '*') {
            int w = va_arg(ap, int);
            if (w < 0) {
                sp.left = true;
                w = w == INT_MIN ? INT_MAX : -w;
            }
            sp.width = w;
            p++;
        } else {
            while (*p >= '0' && *p <= '9') {
                int d = *p++ - '0';
                if (sp.width < 0) sp.width = 0;
                if (sp.width <= (INT_MAX - d) / 10) sp.width = sp.width * 10 + d;
            }
        }
        if (*p == '.') {
            p++;
            sp.prec = 0;
            if (*p == '*') {
                int pr = va_arg(ap, int);
                sp.prec = pr < 0 ? -1 : pr;
                p++;
            } else {
                while (*p >= '0' && *p <= '9') {
                    int d = *p++ - '0';
                    if (sp.prec <= (INT_MAX - d) / 10) sp.prec = sp.prec * 10 + d;
                }
            }
        }

        int lenmod = LEN_INT;
        switch (*p) {
        case 'h':
            p++;
            lenmod = LEN_SHORT;
            if (*p == 'h') {
                p++;
                lenmod = LEN_CHAR;
            }
            break;
        case 'l':
            p++;
            lenmod = LEN_LONG;
            if (*p == 'l') {
                p++;
                lenmod = LEN_LLONG;
            }
            break;
        case 'z':
            p++;
            lenmod = LEN_SIZE;
            break;
        case 'j':
            p++;
            lenmod = LEN_MAX;
            break;
        case 't':
            p++;
            lenmod = LEN_PTRDIFF;
            break;
        default:
            break;
        }

        char c = *p;
        if (c == '\0') { /* truncated directive: print it as is */
            fmt_puts(&o, conv_start, (size_t)(p - conv_start));
            break;
        }
        p++;
        switch (c) {
        case 'd':
        case 'i': {
            int64_t v;
            switch (lenmod) {
            case LEN_CHAR:
                v = (signed char)va_arg(ap, int);
                break;
            case LEN_SHORT:
                v = (short)va_arg(ap, int);
                break;
            case LEN_LONG:
                v = va_arg(ap, long);
                break;
            case LEN_LLONG:
                v = va_arg(ap, long long);
                break;
            case LEN_SIZE:
                v = va_arg(ap, ssize_t);
                break;
            case LEN_MAX:
                v = va_arg(ap, intmax_t);
                break;
            case LEN_PTRDIFF:
                v = va_arg(ap, ptrdiff_t);
                break;
            default:
                v = va_arg(ap, int);
                break;
            }
            /* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
            uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            fmt_number(&o, &sp, mag, v < 0, 10, false, NULL);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v;
            switch (lenmod) {
            case LEN_CHAR:
                v = (unsigned char)va_arg(ap, unsigned);
                break;
            case LEN_SHORT:
                v = (unsigned short)va_arg(ap, unsigned);
                break;
            case LEN_LONG:
                v = va_arg(ap, unsigned long);
                break;
            case LEN_LLONG:
                v = va_arg(ap, unsigned long long);
                break;
            case LEN_SIZE:
                v = va_arg(ap, size_t);
                break;
            case LEN_MAX:
                v = va_arg(ap, uintmax_t);
                break;
            case LEN_PTRDIFF:
                v = (uint64_t)va_arg(ap, ptrdiff_t);
                break;
            default:
                v = va_arg(ap, unsigned);
                break;
            }
            sp.sign_flag = 0;
            fmt_number(&o, &sp, v, false, c == 'u' ? 10 : 16, c == 'X', NULL);
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            sp.sign_flag = 0;
            fmt_number(&o, &sp, v, false, 16, false, "0x");
            break;
        }
        case 's':
            fmt_string(&o, &sp, va_arg(ap, const char *));
            break;
        case 'c': {
            char ch = (char)va_arg(ap, int);
            int pad = sp.width > 1 ? sp.width - 1 : 0;
            if (!sp.left) fmt_pad(&o, ' ', pad);
            fmt_putc(&o, ch);
            if (sp.left) fmt_pad(&o, ' ', pad);
            break;
        }
        case '%':
            fmt_putc(&o, '%');
            break;
        default: /* unsupported: echo the directive, consume no argument */
            fmt_puts(&o, conv_start, (size_t)(p - conv_start));
            break;
        }
    }

    if (n > 0) buf[o.len < o.cap ? o.len : o.cap] = '\0';
    return o.len > (size_t)INT_MAX ? INT_MAX : (int)o.len;
}

int gmi_snprintf(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = gmi_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

/* ---------------------------------------------------------------------------------
 * Writing to a file descriptor
 * ------------------------------------------------------------------------------- */

/* fmt_write_all writes len bytes to fd, retrying on EINTR and short writes. errno is
 * preserved so that printing a diagnostic never changes what the caller reports. */
static void fmt_write_all(int fd, const char *s, size_t len) {
    int saved = errno;
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (w == 0) break;
        s += w;
        len -= (size_t)w;
    }
    errno = saved;
}

/* fmt_used returns how many bytes of a cap-byte buffer the formatted text occupies. */
static size_t fmt_used(int r, size_t cap) {
    if (r < 0) return 0;
    return (size_t)r < cap ? (size_t)r : cap - 1;
}

void gmi_fdprintf(int fd, const char *fmt, ...) {
    char buf[FMT_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int r = gmi_vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fmt_write_all(fd, buf, fmt_used(r, sizeof buf));
}

/* fmt_report builds "<prefix><text>\n" in one stack buffer and writes it at once. A
 * text too long for the buffer is cut, but the line still ends with a newline. */
static void fmt_report(const char *prefix, const char *fmt, va_list ap) {
    char buf[FMT_LINE_MAX];
    int pl = gmi_snprintf(buf, sizeof buf, "%s", prefix);
    size_t used = fmt_used(pl, sizeof buf);
    /* Keep one byte for '\n' (and the NUL the formatter always writes). */
    int r = gmi_vsnprintf(buf + used, sizeof buf - used - 1, fmt, ap);
    used += fmt_used(r, sizeof buf - used - 1);
    buf[used++] = '\n';
    fmt_write_all(2, buf, used);
}

void gmi_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fmt_report("gomem: ", fmt, ap);
    va_end(ap);
}

_Noreturn void gmi_throw(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fmt_report("gomem: fatal: ", fmt, ap);
    va_end(ap);
    abort();
}
