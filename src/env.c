/* env.c: the knobs, read from the environment with Go's names and syntax.
 *
 * GOGC, GOMEMLIMIT and GODEBUG follow Go's runtime parsers; gomem's own switches use
 * GOMEM* names. docs/environment.md is the user-facing list; keep the two in step.
 * Policy for a malformed value: print one line,
 *     gomem: malformed GOMEMLIMIT="100MB": <reason>
 * and keep the default. (Go dies at startup on a malformed GOMEMLIMIT; a C library that
 * may be preloaded into any program should not kill it over a typo.)
 * Nothing here allocates: the parsers work on the caller's string, the environment is
 * scanned through environ without getenv, and the cgroup files read for
 * GOMEMLIMIT=auto go through a stack buffer with open/read.
 * See gc.c for the collector overview. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

gmi_config_t gmi_config = {
    .gc_percent = 100,
    .memory_limit = INT64_MAX,
    .madvdontneed = 1,
};

#define ENV_SHOW_MAX 200 /* longest part of a bad value echoed in a message */

/* env_malformed reports one malformed knob in the fixed format. */
static void env_malformed(const char *name, const char *value, size_t value_len, const char *why) {
    if (value_len > ENV_SHOW_MAX) value_len = ENV_SHOW_MAX;
    gmi_error("malformed %s=\"%.*s\": %s", name, (int)value_len, value, why);
}

/* ---------------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------------- */

/* env_digits parses s[0..len) as an unsigned decimal number with no sign and at least
 * one digit. Returns false on any other byte or when the value exceeds UINT64_MAX. */
static bool env_digits(const char *s, size_t len, uint64_t *out) {
    if (len == 0) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9) return false;
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* env_int parses an optionally '-'-signed decimal int (Go's atoi32). */
static bool env_int(const char *s, size_t len, int *out) {
    bool neg = len > 0 && s[0] == '-';
    uint64_t v;
    if (!env_digits(s + neg, len - neg, &v)) return false;
    if (v > (uint64_t)INT_MAX + neg) return false;
    *out = neg ? (int)(-(int64_t)v) : (int)v;
    return true;
}

/* env_uint parses a non-negative decimal int no larger than max. */
static bool env_uint(const char *s, size_t len, int max, int *out) {
    uint64_t v;
    if (!env_digits(s, len, &v) || v > (uint64_t)max) return false;
    *out = (int)v;
    return true;
}

/* ---------------------------------------------------------------------------------
 * GOGC
 * ------------------------------------------------------------------------------- */

/* gmi_parse_gogc: "off" -> -1; an integer percent; any negative integer means off and
 * is stored as -1. A '+' sign, spaces, junk or a value outside int32 are malformed. */
int gmi_parse_gogc(const char *s, int *out) {
    if (strcmp(s, "off") == 0) {
        *out = -1;
        return 0;
    }
    int v;
    if (!env_int(s, strlen(s), &v)) return -1;
    *out = v < 0 ? -1 : v;
    return 0;
}

/* ---------------------------------------------------------------------------------
 * GOMEMLIMIT
 * ------------------------------------------------------------------------------- */

/* gmi_parse_memlimit accepts Go's byte-count syntax: a decimal integer followed by
 * nothing, "B", "KiB", "MiB", "GiB" or "TiB" (case-sensitive, no space), and "off".
 * The result must fit in int64. Decimal units (KB, MB, GB, TB), lower case, fractions,
 * signs other than Go's "-0" and overflow are rejected. "auto" (gomem's extension)
 * returns GMI_MEMLIMIT_AUTO; gmi_env_init resolves it with gmi_memlimit_auto. */
int gmi_parse_memlimit(const char *s, int64_t *out) {
    if (strcmp(s, "off") == 0) {
        *out = INT64_MAX;
        return 0;
    }
    if (strcmp(s, "auto") == 0) {
        *out = GMI_MEMLIMIT_AUTO;
        return 0;
    }
    size_t len = strlen(s);
    unsigned shift = 0;
    if (len > 0 && s[len - 1] == 'B') {
        len--;
        if (len > 0 && s[len - 1] == 'i') {
            if (len < 2) return -1;
            switch (s[len - 2]) {
            case 'K':
                shift = 10;
                break;
            case 'M':
                shift = 20;
                break;
            case 'G':
                shift = 30;
                break;
            case 'T':
                shift = 40;
                break;
            default:
                return -1;
            }
            len -= 2;
        }
    }
    /* Go's atoi64 takes a '-' sign and then rejects negative results, so "-0" and
     * "-0MiB" mean 0; any other '-' is malformed. */
    bool neg = len > 0 && s[0] == '-';
    uint64_t v;
    if (!env_digits(s + neg, len - neg, &v)) return -1;
    if (neg && v != 0) return -1;
    if (v > ((uint64_t)INT64_MAX >> shift)) return -1;
    *out = (int64_t)(v << shift);
    return 0;
}

/* env_memlimit_why explains a rejected GOMEMLIMIT value for the error line. */
static const char *env_memlimit_why(const char *s) {
    size_t len = strlen(s);
    if (len >= 2 && s[len - 1] == 'B' &&
        (s[len - 2] == 'K' || s[len - 2] == 'M' || s[len - 2] == 'G' || s[len - 2] == 'T'))
        return "decimal units are not accepted, use KiB, MiB, GiB or TiB";
    if (len > 0 && s[0] == '-') return "negative limit";
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == len || strcmp(s + i, "B") == 0 || strcmp(s + i, "KiB") == 0 ||
        strcmp(s + i, "MiB") == 0 || strcmp(s + i, "GiB") == 0 || strcmp(s + i, "TiB") == 0)
        return i == 0 ? "no digits" : "does not fit in 63 bits";
    return "want an integer with an optional B, KiB, MiB, GiB or TiB suffix, or off";
}

/* ---------------------------------------------------------------------------------
 * GOMEMLIMIT=auto: the cgroup's memory limit
 * ------------------------------------------------------------------------------- */

/* env_read_file reads up to cap-1 bytes of path into buf, NUL-terminated. */
static ssize_t env_read_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return -1;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* env_cgroup_walk reads <mount><path>/<file> for path and each of its ancestors, and
 * returns the smallest limit found, or INT64_MAX. "max" and v1's "no limit" values
 * (anything of 2^62 or more, the page-rounded LONG_MAX) count as unlimited. */
static int64_t env_cgroup_walk(const char *mount, const char *path, size_t path_len,
                               const char *file) {
    int64_t best = INT64_MAX;
    char full[512], val[64];
    for (;;) {
        int n = gmi_snprintf(full, sizeof full, "%s%.*s/%s", mount, (int)path_len, path, file);
        if (n > 0 && (size_t)n < sizeof full) {
            ssize_t r = env_read_file(full, val, sizeof val);
            if (r > 0) {
                size_t vl = (size_t)r;
                while (vl > 0 && (val[vl - 1] == '\n' || val[vl - 1] == ' '))
                    vl--;
                uint64_t lim;
                if (env_digits(val, vl, &lim) && lim < ((uint64_t)1 << 62) && (int64_t)lim < best)
                    best = (int64_t)lim;
            }
        }
        /* Step to the parent: strip the last component ("/a/b" -> "/a" -> ""). */
        while (path_len > 0 && path[path_len - 1] == '/')
            path_len--;
        if (path_len == 0) break;
        while (path_len > 0 && path[path_len - 1] != '/')
            path_len--;
        while (path_len > 0 && path[path_len - 1] == '/')
            path_len--;
    }
    return best;
}

/* env_has_controller reports whether a comma list of cgroup v1 controllers names
 * "memory". */
static bool env_has_controller(const char *list, size_t len) {
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && list[j] != ',')
            j++;
        if (j - i == 6 && memcmp(list + i, "memory", 6) == 0) return true;
        i = j + 1;
    }
    return false;
}

/* gmi_memlimit_auto returns 90% of the memory limit of the cgroup the process runs in
 * (v2 memory.max or v1 memory.limit_in_bytes, the smallest along the path to the
 * root), or INT64_MAX when there is none or it cannot be read. */
int64_t gmi_memlimit_auto(void) {
    char buf[4096];
    ssize_t n = env_read_file("/proc/self/cgroup", buf, sizeof buf);
    int64_t lim = INT64_MAX;
    if (n > 0) {
        /* Lines: "hierarchy-id:controllers:path". v2 is "0::path". */
        const char *p = buf, *end = buf + n;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *eol = nl ? nl : end;
            const char *c1 = memchr(p, ':', (size_t)(eol - p));
            const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
            if (c2 != NULL) {
                const char *path = c2 + 1;
                size_t plen = (size_t)(eol - path);
                int64_t l = INT64_MAX;
                if (c1 - p == 1 && p[0] == '0' && c2 == c1 + 1)
                    l = env_cgroup_walk("/sys/fs/cgroup", path, plen, "memory.max");
                else if (env_has_controller(c1 + 1, (size_t)(c2 - c1 - 1)))
                    l = env_cgroup_walk("/sys/fs/cgroup/memory", path, plen,
                                        "memory.limit_in_bytes");
                if (l < lim) lim = l;
            }
            p = eol + 1;
        }
    }
    if (lim == INT64_MAX) {
        /* No readable /proc/self/cgroup: try the namespace root directly. */
        lim = env_cgroup_walk("/sys/fs/cgroup", "", 0, "memory.max");
    }
    if (lim == INT64_MAX) return INT64_MAX;
    return lim / 10 * 9 + lim % 10 * 9 / 10;
}

/* ---------------------------------------------------------------------------------
 * GODEBUG and GOMEMDEBUG: comma-separated key=value lists
 * ------------------------------------------------------------------------------- */

typedef struct env_key_s {
    const char *key;
    size_t offset; /* of the int field in gmi_config_t */
    int max;
    bool bare_ok; /* "key" alone means key=1 */
} env_key_t;

#define ENV_FIELD(f) offsetof(gmi_config_t, f)

static const env_key_t env_godebug_keys[] = {
    {"gctrace", ENV_FIELD(gctrace), INT_MAX, false},
    {"scavtrace", ENV_FIELD(scavtrace), INT_MAX, false},
    {"madvdontneed", ENV_FIELD(madvdontneed), INT_MAX, false},
};

static const env_key_t env_gomemdebug_keys[] = {
    {"abort", ENV_FIELD(debug_abort), 1, true},
    {"verify", ENV_FIELD(debug_verify), INT_MAX, true},
    {"poison", ENV_FIELD(debug_poison), 1, true},
    {"gcstress", ENV_FIELD(debug_gcstress), INT_MAX, true},
    {"checkptr", ENV_FIELD(debug_checkptr), 1, true},
    {"failmmap", ENV_FIELD(fail_mmap), INT_MAX, false},
    {"failmadvise", ENV_FIELD(fail_madvise), INT_MAX, false},
};

/* env_parse_list applies every "key=value" entry of s that names a key in keys, left
 * to right (a later entry overrides an earlier one, as in Go). Empty entries are
 * skipped. Unknown keys are ignored when ignore_unknown (GODEBUG is shared with Go
 * programs and carries their settings), else reported. */
static void env_parse_list(const char *var, const char *s, gmi_config_t *cfg, const env_key_t *keys,
                           size_t nkeys, bool ignore_unknown) {
    const char *p = s;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL) end = p + strlen(p);
        size_t elen = (size_t)(end - p);
        if (elen > 0) {
            const char *eq = memchr(p, '=', elen);
            size_t klen = eq ? (size_t)(eq - p) : elen;
            const env_key_t *k = NULL;
            for (size_t i = 0; i < nkeys; i++) {
                if (strlen(keys[i].key) == klen && memcmp(keys[i].key, p, klen) == 0) {
                    k = &keys[i];
                    break;
                }
            }
            int v;
            if (k == NULL) {
                if (!ignore_unknown) env_malformed(var, p, elen, "unknown setting");
            } else if (eq == NULL) {
                if (k->bare_ok)
                    *(int *)((char *)cfg + k->offset) = 1;
                else
                    env_malformed(var, p, elen, "setting needs =N");
            } else if (env_uint(eq + 1, (size_t)(end - eq - 1), k->max, &v)) {
                *(int *)((char *)cfg + k->offset) = v;
            } else {
                env_malformed(var, p, elen,
                              k->max == 1 ? "value must be 0 or 1"
                                          : "value must be a non-negative integer");
            }
        }
        if (*end == '\0') break;
        p = end + 1;
    }
}

void gmi_parse_godebug(const char *s, gmi_config_t *cfg) {
    env_parse_list("GODEBUG", s, cfg, env_godebug_keys,
                   sizeof env_godebug_keys / sizeof env_godebug_keys[0], true);
}

void gmi_parse_gomemdebug(const char *s, gmi_config_t *cfg) {
    env_parse_list("GOMEMDEBUG", s, cfg, env_gomemdebug_keys,
                   sizeof env_gomemdebug_keys / sizeof env_gomemdebug_keys[0], false);
}

int gmi_gomemdebug_format(const gmi_config_t *cfg, char *buf, size_t n) {
    int len = 0;
    for (size_t i = 0; i < sizeof env_gomemdebug_keys / sizeof env_gomemdebug_keys[0]; i++) {
        const env_key_t *k = &env_gomemdebug_keys[i];
        int v = *(const int *)((const char *)cfg + k->offset);
        if (v != 0 && (size_t)len < n)
            len += gmi_snprintf(buf + len, n - (size_t)len, " %s=%d", k->key, v);
    }
    return len;
}

/* ---------------------------------------------------------------------------------
 * GOMEMSIGNAL, GOMEMMARKWORKERS
 * ------------------------------------------------------------------------------- */

/* gmi_parse_signal accepts a signal number that gomem can catch: 1.._NSIG-1 except
 * SIGKILL and SIGSTOP. 0 means "the default (SIGRTMIN+6)". */
int gmi_parse_signal(const char *s, int *out) {
    int v;
    if (!env_uint(s, strlen(s), _NSIG - 1, &v)) return -1;
    if (v == SIGKILL || v == SIGSTOP) return -1;
    *out = v;
    return 0;
}

/* gmi_parse_mark_workers accepts 0 (one per CPU) to GMI_MAX_MARK_WORKERS. */
int gmi_parse_mark_workers(const char *s, int *out) {
    return env_uint(s, strlen(s), GMI_MAX_MARK_WORKERS, out) ? 0 : -1;
}

/* ---------------------------------------------------------------------------------
 * The environment
 * ------------------------------------------------------------------------------- */

/* gmi_getenv returns the value of name in environ, or NULL. The first match wins, as
 * in getenv. No locks: call it before the program starts threads that modify the
 * environment (gomem reads it once, at initialization). */
const char *gmi_getenv(const char *name) {
    size_t nlen = strlen(name);
    char **env = environ;
    if (env == NULL) return NULL;
    for (; *env != NULL; env++) {
        const char *e = *env;
        if (strncmp(e, name, nlen) == 0 && e[nlen] == '=') return e + nlen + 1;
    }
    return NULL;
}

/* env_get returns the value of name, treating an empty value as unset (as Go does). */
static const char *env_get(const char *name) {
    const char *v = gmi_getenv(name);
    return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* gmi_env_init reads every knob into gmi_config. Call it once, from gm_init, before
 * the pacer is initialized. A malformed knob leaves its field at the value it had. */
void gmi_env_init(void) {
    const char *v;
    if ((v = env_get("GOGC")) != NULL) {
        int pct;
        if (gmi_parse_gogc(v, &pct) == 0)
            gmi_config.gc_percent = pct;
        else
            env_malformed("GOGC", v, strlen(v), "want an integer percentage or off");
    }
    if ((v = env_get("GOMEMLIMIT")) != NULL) {
        int64_t lim;
        if (gmi_parse_memlimit(v, &lim) != 0)
            env_malformed("GOMEMLIMIT", v, strlen(v), env_memlimit_why(v));
        else
            gmi_config.memory_limit = lim == GMI_MEMLIMIT_AUTO ? gmi_memlimit_auto() : lim;
    }
    if ((v = env_get("GODEBUG")) != NULL) gmi_parse_godebug(v, &gmi_config);
    if ((v = env_get("GOMEMDEBUG")) != NULL) gmi_parse_gomemdebug(v, &gmi_config);
    if ((v = env_get("GOMEMSIGNAL")) != NULL) {
        int sig;
        if (gmi_parse_signal(v, &sig) == 0)
            gmi_config.stop_signal = sig;
        else
            env_malformed("GOMEMSIGNAL", v, strlen(v),
                          "want a signal number other than SIGKILL and SIGSTOP");
    }
    if ((v = env_get("GOMEMMARKWORKERS")) != NULL) {
        int w;
        if (gmi_parse_mark_workers(v, &w) == 0)
            gmi_config.mark_workers = w;
        else
            env_malformed("GOMEMMARKWORKERS", v, strlen(v),
                          "want an integer from 0 (one per CPU) to 1024");
    }
}
