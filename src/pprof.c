/* pprof.c: writes heap-profile buckets as a gzip-compressed pprof protobuf
 * (perftools.profiles.Profile, google/pprof's proto/profile.proto), the format
 * `go tool pprof` reads.
 *
 * The profile holds four sample types (alloc_objects/count, alloc_space/bytes,
 * inuse_objects/count, inuse_space/bytes), period_type space/bytes with the sampling
 * rate as period, one sample per bucket with its values unbiased for the rate, one
 * location per distinct return address, one function per (name, file), and the
 * executable mappings of the process. Functions are named here (symbolize.c), so the
 * mappings are marked has_functions and pprof needs neither the binary nor a
 * symbolizer. Like Go's runtime/pprof/protobuf.go, the encoder is a few helpers over
 * a byte buffer: varints, length-delimited fields, packed repeated scalars.
 * Never calls malloc: all memory is mmap'd scratch released before returning.
 * See malloc.c for the allocator overview. */
#include "profile.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------
 * Unbiasing
 * ------------------------------------------------------------------------------- */

#define LN2 0.6931471805599453

/* exp_neg returns e^-x for x >= 0: x = k ln2 + r with 0 <= r < ln2, a Taylor series for
 * e^-r (20 terms: error far below double rounding), then k halvings. */
static double exp_neg(double x) {
    if (x > 745.0) return 0.0;
    int k = (int)(x / LN2);
    double r = x - k * LN2;
    double term = 1.0, sum = 1.0;
    for (int i = 1; i <= 20; i++) {
        term *= -r / i;
        sum += term;
    }
    while (k >= 30) {
        sum /= 1073741824.0;
        k -= 30;
    }
    return sum / (double)(1u << k);
}

/* one_minus_exp_neg returns 1 - e^-x without cancellation for small x. */
static double one_minus_exp_neg(double x) {
    if (x >= 0.5) return 1.0 - exp_neg(x);
    double term = x, sum = x;
    for (int i = 2; i <= 20; i++) {
        term *= -x / i;
        sum += term;
    }
    return sum;
}

void gmi_profile_unbias(int64_t count, int64_t bytes, int64_t rate, int64_t *out_count,
                        int64_t *out_bytes) {
    if (count <= 0 || bytes <= 0) {
        *out_count = *out_bytes = 0;
        return;
    }
    if (rate <= 1) { /* every allocation was recorded */
        *out_count = count;
        *out_bytes = bytes;
        return;
    }
    double avg = (double)bytes / (double)count;
    double scale = 1.0 / one_minus_exp_neg(avg / (double)rate);
    *out_count = (int64_t)((double)count * scale);
    *out_bytes = (int64_t)((double)bytes * scale);
}

/* ---------------------------------------------------------------------------------
 * Protobuf encoding (wire types: 0 varint, 2 length-delimited)
 * ------------------------------------------------------------------------------- */

static void pb_varint(gmi_pbuf_t *b, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    gmi_pbuf_append(b, tmp, n);
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* pb_uint writes a varint field; proto3 omits zeros, and so do we. int64 fields use the
 * same encoding (two's complement, not zigzag). */
static void pb_uint(gmi_pbuf_t *b, unsigned field, uint64_t v) {
    if (v == 0) return;
    pb_varint(b, (uint64_t)field << 3 | 0);
    pb_varint(b, v);
}

static void pb_bool(gmi_pbuf_t *b, unsigned field, bool v) {
    pb_uint(b, field, v ? 1 : 0);
}

static void pb_bytes(gmi_pbuf_t *b, unsigned field, const void *p, size_t n) {
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    gmi_pbuf_append(b, p, n);
}

static void pb_packed(gmi_pbuf_t *b, unsigned field, const uint64_t *v, size_t n) {
    if (n == 0) return;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += varint_len(v[i]);
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, len);
    for (size_t i = 0; i < n; i++)
        pb_varint(b, v[i]);
}

/* pb_message appends the message built in msg as field of b and empties msg. */
static void pb_message(gmi_pbuf_t *b, unsigned field, gmi_pbuf_t *msg) {
    pb_bytes(b, field, msg->data, msg->len);
    msg->len = 0;
}

/* Field numbers of profile.proto. */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE = 2,
    PROFILE_MAPPING = 3,
    PROFILE_LOCATION = 4,
    PROFILE_FUNCTION = 5,
    PROFILE_STRING_TABLE = 6,
    PROFILE_TIME_NANOS = 9,
    PROFILE_PERIOD_TYPE = 11,
    PROFILE_PERIOD = 12,
    VALUETYPE_TYPE = 1,
    VALUETYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1,
    SAMPLE_VALUE = 2,
    SAMPLE_LABEL = 3,
    LABEL_KEY = 1,
    LABEL_NUM = 3,
    MAPPING_ID = 1,
    MAPPING_START = 2,
    MAPPING_LIMIT = 3,
    MAPPING_OFFSET = 4,
    MAPPING_FILENAME = 5,
    MAPPING_BUILD_ID = 6,
    MAPPING_HAS_FUNCTIONS = 7,
    MAPPING_HAS_FILENAMES = 8,
    MAPPING_HAS_LINE_NUMBERS = 9,
    LOCATION_ID = 1,
    LOCATION_MAPPING_ID = 2,
    LOCATION_ADDRESS = 3,
    LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1,
    LINE_LINE = 2,
    FUNCTION_ID = 1,
    FUNCTION_NAME = 2,
    FUNCTION_SYSTEM_NAME = 3,
    FUNCTION_FILENAME = 4,
    FUNCTION_START_LINE = 5,
};

/* ---------------------------------------------------------------------------------
 * Hash tables over scratch memory: the string table and the function table
 * ------------------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ULL;
    return h;
}

typedef struct strent_s {
    const char *p;
    uint32_t len, id; /* id 0 = empty slot (the "" string is handled apart) */
} strent_t;

/* The string table: index 0 is "" as profile.proto requires. Strings are not copied:
 * they point into buffers that live until the profile is written. */
typedef struct strtab_s {
    strent_t *slots; /* open addressing, cap a power of two */
    size_t cap, used;
    const strent_t **order; /* order[id] for ids 1..used */
    size_t order_cap;
    bool failed;
} strtab_t;

static bool strtab_grow(strtab_t *t) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    strent_t *slots = gmi_profile_scratch_alloc(cap * sizeof *slots);
    const strent_t **order = gmi_profile_scratch_alloc(cap * sizeof *order);
    if (slots == NULL || order == NULL) {
        gmi_profile_scratch_free(slots, cap * sizeof *slots);
        gmi_profile_scratch_free(order, cap * sizeof *order);
        t->failed = true;
        return false;
    }
    for (size_t i = 0; i < t->cap; i++) {
        const strent_t *e = &t->slots[i];
        if (e->id == 0) continue;
        size_t j = hash_bytes(e->p, e->len) & (cap - 1);
        while (slots[j].id != 0)
            j = (j + 1) & (cap - 1);
        slots[j] = *e;
        order[e->id] = &slots[j];
    }
    gmi_profile_scratch_free(t->slots, t->cap * sizeof *t->slots);
    gmi_profile_scratch_free(t->order, t->order_cap * sizeof *t->order);
    t->slots = slots;
    t->order = order;
    t->cap = t->order_cap = cap;
    return true;
}

/* strtab_intern returns the index of s[0..n) in the string table, adding it. */
static uint64_t strtab_intern_n(strtab_t *t, const char *s, size_t n) {
    if (n == 0 || t->failed) return 0;
    if ((t->used + 2) * 2 > t->cap && !strtab_grow(t)) return 0;
    size_t j = hash_bytes(s, n) & (t->cap - 1);
    for (;;) {
        strent_t *e = &t->slots[j];
        if (e->id == 0) {
            e->p = s;
            e->len = (uint32_t)n;
            e->id = (uint32_t)++t->used;
            t->order[e->id] = e;
            return e->id;
        }
        if (e->len == n && memcmp(e->p, s, n) == 0) return e->id;
        j = (j + 1) & (t->cap - 1);
    }
}

static uint64_t strtab_intern(strtab_t *t, const char *s) {
    return s ? strtab_intern_n(t, s, strlen(s)) : 0;
}

static void strtab_free(strtab_t *t) {
    gmi_profile_scratch_free(t->slots, t->cap * sizeof *t->slots);
    gmi_profile_scratch_free(t->order, t->order_cap * sizeof *t->order);
}

/* A map from a nonzero 64-bit key to a nonzero 32-bit id, for functions. */
typedef struct idmap_s {
    uint64_t *keys;
    uint32_t *ids;
    size_t cap;
} idmap_t;

static bool idmap_init(idmap_t *m, size_t n) {
    m->cap = 64;
    while (m->cap < 2 * n + 2)
        m->cap *= 2;
    m->keys = gmi_profile_scratch_alloc(m->cap * sizeof *m->keys);
    m->ids = gmi_profile_scratch_alloc(m->cap * sizeof *m->ids);
    return m->keys != NULL && m->ids != NULL;
}

/* idmap_slot returns the slot of key: its id is nonzero when present. */
static size_t idmap_slot(const idmap_t *m, uint64_t key) {
    size_t j = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 20) & (m->cap - 1);
    while (m->ids[j] != 0 && m->keys[j] != key)
        j = (j + 1) & (m->cap - 1);
    return j;
}

static void idmap_free(idmap_t *m) {
    gmi_profile_scratch_free(m->keys, m->cap * sizeof *m->keys);
    gmi_profile_scratch_free(m->ids, m->cap * sizeof *m->ids);
}

/* ---------------------------------------------------------------------------------
 * Sorting addresses (heapsort: qsort may call malloc)
 * ------------------------------------------------------------------------------- */

static void sift_u64(uint64_t *a, size_t i, size_t n) {
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && a[c] < a[c + 1]) c++;
        if (a[i] >= a[c]) return;
        uint64_t t = a[i];
        a[i] = a[c];
        a[c] = t;
        i = c;
    }
}

static void sort_u64(uint64_t *a, size_t n) {
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;)
        sift_u64(a, i, n);
    for (size_t end = n - 1; end > 0; end--) {
        uint64_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_u64(a, 0, end);
    }
}

static size_t find_u64(const uint64_t *a, size_t n, uint64_t v) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---------------------------------------------------------------------------------
 * The writer
 * ------------------------------------------------------------------------------- */

/* What the writer knows about each executable mapping. */
typedef struct mapinfo_s {
    const gmi_mapping_t *m;
    gmi_elf_t *elf; /* shared by the mappings of one file; NULL when unreadable */
    bool owns_elf;
    uint32_t id; /* profile mapping id, 0 if not emitted */
    bool all_funcs, all_lines, used;
    char build_id[129]; /* hex */
} mapinfo_t;

/* What each distinct address resolved to. */
typedef struct locinfo_s {
    uint32_t mapping_id;
    uint32_t function_id; /* 0 when unknown */
    uint32_t line;
} locinfo_t;

typedef struct writer_s {
    gmi_pbuf_t out, msg, sub;
    strtab_t strings;
    gmi_maps_t maps;
    mapinfo_t *mi;
    size_t mi_bytes;
    uint64_t *pcs;
    size_t npcs, pcs_bytes;
    locinfo_t *locs;
    size_t locs_bytes;
    idmap_t funcs;
    uint32_t nfuncs;
} writer_t;

static bool write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static const char hexdigits[] = "0123456789abcdef";

/* load_mappings reads the maps and the ELF files of the executable ones, putting the
 * main executable first as pprof expects. */
static bool load_mappings(writer_t *w) {
    if (gmi_maps_read(&w->maps) != 0) return false;
    w->mi_bytes = (w->maps.n + 1) * sizeof(mapinfo_t);
    w->mi = gmi_profile_scratch_alloc(w->mi_bytes);
    if (w->mi == NULL) return false;
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[k > 0 ? k : 0] = 0;
    for (size_t i = 0; i < w->maps.n; i++) {
        mapinfo_t *mi = &w->mi[i];
        mi->m = &w->maps.map[i];
        mi->all_funcs = mi->all_lines = true;
        if (!mi->m->exec || mi->m->path[0] != '/') continue;
        for (size_t j = 0; j < i; j++) { /* another mapping of the same file */
            if (w->mi[j].elf != NULL && strcmp(w->mi[j].m->path, mi->m->path) == 0) {
                mi->elf = w->mi[j].elf;
                break;
            }
        }
        if (mi->elf == NULL) {
            gmi_elf_t *e = gmi_profile_scratch_alloc(sizeof *e);
            if (e == NULL) return false;
            if (gmi_elf_load(e, mi->m->path, true)) {
                mi->elf = e;
                mi->owns_elf = true;
            } else {
                gmi_profile_scratch_free(e, sizeof *e);
            }
        }
        if (mi->elf != NULL) {
            for (size_t b = 0; b < mi->elf->build_id_len; b++) {
                mi->build_id[2 * b] = hexdigits[mi->elf->build_id[b] >> 4];
                mi->build_id[2 * b + 1] = hexdigits[mi->elf->build_id[b] & 15];
            }
        }
    }
    /* Mapping ids: the main executable's first, then in address order. */
    uint32_t next_id = 1;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < w->maps.n; i++) {
            mapinfo_t *mi = &w->mi[i];
            if (!mi->m->exec || mi->id != 0) continue;
            if (mi->m->path[0] == 0) continue;
            bool is_exe = exe[0] != 0 && strcmp(mi->m->path, exe) == 0;
            if (pass == 0 && !is_exe) continue;
            mi->id = next_id++;
        }
    }
    return true;
}

/* resolve symbolizes the distinct addresses: function ids and lines. */
static void resolve(writer_t *w) {
    for (size_t i = 0; i < w->npcs; i++) {
        uint64_t pc = w->pcs[i];
        locinfo_t *li = &w->locs[i];
        const gmi_mapping_t *m = gmi_maps_find(&w->maps, (uintptr_t)pc);
        if (m == NULL) continue;
        mapinfo_t *mi = &w->mi[m - w->maps.map];
        li->mapping_id = mi->id;
        mi->used = true;
        const gmi_elf_sym_t *sym = NULL;
        const gmi_line_row_t *row = NULL;
        uint64_t vaddr = 0;
        /* A return address: look up the call instruction before it. */
        if (mi->elf != NULL && gmi_elf_vaddr(mi->elf, pc - 1 - m->start + m->offset, &vaddr)) {
            sym = gmi_elf_lookup(mi->elf, vaddr);
            row = gmi_elf_line(mi->elf, vaddr);
        }
        if (sym == NULL) {
            mi->all_funcs = false;
            mi->all_lines = false;
            continue;
        }
        uint64_t file = 0;
        uint32_t start_line = 0;
        if (row != NULL) {
            file = strtab_intern(&w->strings, mi->elf->files[row->file]);
            li->line = row->line;
            const gmi_line_row_t *srow = gmi_elf_line(mi->elf, sym->addr);
            if (srow != NULL) start_line = srow->line;
        } else {
            mi->all_lines = false;
        }
        uint64_t name = strtab_intern(&w->strings, sym->name);
        uint64_t key = name << 32 | file;
        size_t slot = idmap_slot(&w->funcs, key);
        if (w->funcs.ids[slot] == 0) {
            w->funcs.keys[slot] = key;
            w->funcs.ids[slot] = ++w->nfuncs;
            /* Function {id, name, system_name, filename, start_line} */
            pb_uint(&w->msg, FUNCTION_ID, w->nfuncs);
            pb_uint(&w->msg, FUNCTION_NAME, name);
            pb_uint(&w->msg, FUNCTION_SYSTEM_NAME, name);
            pb_uint(&w->msg, FUNCTION_FILENAME, file);
            pb_uint(&w->msg, FUNCTION_START_LINE, start_line);
            pb_message(&w->out, PROFILE_FUNCTION, &w->msg);
        }
        li->function_id = w->funcs.ids[slot];
    }
}

static void write_value_type(writer_t *w, unsigned field, const char *type, const char *unit) {
    pb_uint(&w->msg, VALUETYPE_TYPE, strtab_intern(&w->strings, type));
    pb_uint(&w->msg, VALUETYPE_UNIT, strtab_intern(&w->strings, unit));
    pb_message(&w->out, field, &w->msg);
}

static int build_profile(writer_t *w, const gmi_profile_record_t *recs, size_t n, int64_t rate,
                         uint64_t time_nanos) {
    write_value_type(w, PROFILE_SAMPLE_TYPE, "alloc_objects", "count");
    write_value_type(w, PROFILE_SAMPLE_TYPE, "alloc_space", "bytes");
    write_value_type(w, PROFILE_SAMPLE_TYPE, "inuse_objects", "count");
    write_value_type(w, PROFILE_SAMPLE_TYPE, "inuse_space", "bytes");
    write_value_type(w, PROFILE_PERIOD_TYPE, "space", "bytes");
    pb_uint(&w->out, PROFILE_PERIOD, (uint64_t)rate);
    pb_uint(&w->out, PROFILE_TIME_NANOS, time_nanos);

    /* The distinct addresses, sorted: location id = index + 1. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += recs[i].depth;
    w->pcs_bytes = (total + 1) * sizeof(uint64_t);
    w->pcs = gmi_profile_scratch_alloc(w->pcs_bytes);
    if (w->pcs == NULL) return -1;
    for (size_t i = 0; i < n; i++)
        for (uint32_t d = 0; d < recs[i].depth; d++)
            w->pcs[w->npcs++] = recs[i].stack[d];
    sort_u64(w->pcs, w->npcs);
    size_t u = 0;
    for (size_t i = 0; i < w->npcs; i++)
        if (u == 0 || w->pcs[u - 1] != w->pcs[i]) w->pcs[u++] = w->pcs[i];
    w->npcs = u;
    w->locs_bytes = (u + 1) * sizeof(locinfo_t);
    w->locs = gmi_profile_scratch_alloc(w->locs_bytes);
    if (w->locs == NULL || !idmap_init(&w->funcs, u)) return -1;

    if (!load_mappings(w)) return -1;
    resolve(w);

    /* Locations: Location {id, mapping_id, address, line {function_id, line}} */
    for (size_t i = 0; i < w->npcs; i++) {
        const locinfo_t *li = &w->locs[i];
        pb_uint(&w->msg, LOCATION_ID, i + 1);
        pb_uint(&w->msg, LOCATION_MAPPING_ID, li->mapping_id);
        pb_uint(&w->msg, LOCATION_ADDRESS, w->pcs[i]);
        if (li->function_id != 0) {
            pb_uint(&w->sub, LINE_FUNCTION_ID, li->function_id);
            pb_uint(&w->sub, LINE_LINE, li->line);
            pb_message(&w->msg, LOCATION_LINE, &w->sub);
        }
        pb_message(&w->out, PROFILE_LOCATION, &w->msg);
    }

    /* Mappings that some location uses, plus the main executable. */
    for (size_t i = 0; i < w->maps.n; i++) {
        const mapinfo_t *mi = &w->mi[i];
        if (mi->id == 0 || (!mi->used && mi->id != 1)) continue;
        pb_uint(&w->msg, MAPPING_ID, mi->id);
        pb_uint(&w->msg, MAPPING_START, mi->m->start);
        pb_uint(&w->msg, MAPPING_LIMIT, mi->m->limit);
        pb_uint(&w->msg, MAPPING_OFFSET, mi->m->offset);
        pb_uint(&w->msg, MAPPING_FILENAME, strtab_intern(&w->strings, mi->m->path));
        pb_uint(&w->msg, MAPPING_BUILD_ID, strtab_intern(&w->strings, mi->build_id));
        pb_bool(&w->msg, MAPPING_HAS_FUNCTIONS, mi->used && mi->all_funcs);
        pb_bool(&w->msg, MAPPING_HAS_FILENAMES, mi->used && mi->all_lines);
        pb_bool(&w->msg, MAPPING_HAS_LINE_NUMBERS, mi->used && mi->all_lines);
        pb_message(&w->out, PROFILE_MAPPING, &w->msg);
    }

    /* Samples: Sample {location_id (leaf first), value[4], label {key "bytes", num}} */
    uint64_t bytes_key = strtab_intern(&w->strings, "bytes");
    uint64_t ids[GMI_PROFILE_MAX_DEPTH];
    for (size_t i = 0; i < n; i++) {
        const gmi_profile_record_t *r = &recs[i];
        int64_t v[4];
        gmi_profile_unbias(r->alloc_objects, r->alloc_bytes, rate, &v[0], &v[1]);
        gmi_profile_unbias(r->alloc_objects - r->free_objects, r->alloc_bytes - r->free_bytes, rate,
                           &v[2], &v[3]);
        if (v[0] == 0 && v[2] == 0) continue;
        uint32_t depth = r->depth < GMI_PROFILE_MAX_DEPTH ? r->depth : GMI_PROFILE_MAX_DEPTH;
        for (uint32_t d = 0; d < depth; d++)
            ids[d] = find_u64(w->pcs, w->npcs, r->stack[d]) + 1;
        pb_packed(&w->msg, SAMPLE_LOCATION_ID, ids, depth);
        uint64_t vals[4] = {(uint64_t)v[0], (uint64_t)v[1], (uint64_t)v[2], (uint64_t)v[3]};
        pb_packed(&w->msg, SAMPLE_VALUE, vals, 4);
        pb_uint(&w->sub, LABEL_KEY, bytes_key);
        pb_uint(&w->sub, LABEL_NUM, (uint64_t)r->size);
        pb_message(&w->msg, SAMPLE_LABEL, &w->sub);
        pb_message(&w->out, PROFILE_SAMPLE, &w->msg);
    }

    /* The string table last: index 0 is "". */
    pb_bytes(&w->out, PROFILE_STRING_TABLE, "", 0);
    for (size_t id = 1; id <= w->strings.used; id++)
        pb_bytes(&w->out, PROFILE_STRING_TABLE, w->strings.order[id]->p, w->strings.order[id]->len);
    if (w->strings.failed || w->out.failed || w->msg.failed || w->sub.failed) return -1;
    return 0;
}

int gmi_pprof_write_fd(int fd, const gmi_profile_record_t *recs, size_t n, int64_t rate,
                       uint64_t time_nanos) {
    writer_t w;
    memset(&w, 0, sizeof w);
    int rc = build_profile(&w, recs, n, rate, time_nanos);
    int err = ENOMEM;
    if (rc == 0) {
        gmi_pbuf_t gz = {0};
        gmi_gzip(&gz, w.out.data, w.out.len);
        if (gz.failed) {
            rc = -1;
        } else if (!write_all(fd, gz.data, gz.len)) {
            err = errno;
            rc = -1;
        }
        gmi_pbuf_free(&gz);
    }
    if (w.mi != NULL) {
        for (size_t i = 0; i < w.maps.n; i++) {
            if (w.mi[i].owns_elf) {
                gmi_elf_free(w.mi[i].elf);
                gmi_profile_scratch_free(w.mi[i].elf, sizeof(gmi_elf_t));
            }
        }
        gmi_profile_scratch_free(w.mi, w.mi_bytes);
    }
    gmi_maps_free(&w.maps);
    gmi_profile_scratch_free(w.pcs, w.pcs_bytes);
    gmi_profile_scratch_free(w.locs, w.locs_bytes);
    if (w.funcs.cap) idmap_free(&w.funcs);
    strtab_free(&w.strings);
    gmi_pbuf_free(&w.out);
    gmi_pbuf_free(&w.msg);
    gmi_pbuf_free(&w.sub);
    if (rc != 0) errno = err;
    return rc;
}
