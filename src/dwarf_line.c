/* dwarf_line.c: file and line numbers from an ELF file's .debug_line (DWARF 2 to 5),
 * for the pprof writer.
 *
 * Runs every line-number program of the section (DWARF 5, section 6.2) and keeps
 * the rows (address, file, line) sorted by address; the end of each sequence is a row
 * with line 0, so a lookup between sequences finds nothing. Directory and file names
 * are resolved to "dir/name" strings. Forms that point into other sections than
 * .debug_line_str (DW_FORM_strp, strx) leave the name empty rather than fail.
 * Never calls malloc: rows and names grow in mmap'd buffers.
 * See malloc.c for the allocator overview. */
#include "profile.h"

#include <string.h>

/* DWARF constants (DWARF 5, section 7.22 and 7.5.6). */
enum {
    DW_LNS_copy = 1,
    DW_LNS_advance_pc,
    DW_LNS_advance_line,
    DW_LNS_set_file,
    DW_LNS_set_column,
    DW_LNS_negate_stmt,
    DW_LNS_set_basic_block,
    DW_LNS_const_add_pc,
    DW_LNS_fixed_advance_pc,
    DW_LNE_end_sequence = 1,
    DW_LNE_set_address = 2,
    DW_LNCT_path = 1,
    DW_LNCT_directory_index = 2,
    DW_FORM_block2 = 0x03,
    DW_FORM_block4 = 0x04,
    DW_FORM_data2 = 0x05,
    DW_FORM_data4 = 0x06,
    DW_FORM_data8 = 0x07,
    DW_FORM_string = 0x08,
    DW_FORM_block = 0x09,
    DW_FORM_block1 = 0x0a,
    DW_FORM_data1 = 0x0b,
    DW_FORM_sdata = 0x0d,
    DW_FORM_strp = 0x0e,
    DW_FORM_udata = 0x0f,
    DW_FORM_strx = 0x1a,
    DW_FORM_data16 = 0x1e,
    DW_FORM_line_strp = 0x1f,
    DW_FORM_strx1 = 0x25,
    DW_FORM_strx2 = 0x26,
    DW_FORM_strx3 = 0x27,
    DW_FORM_strx4 = 0x28,
};

/* A bounded little-endian reader; any overrun sets bad and reads zeros. */
typedef struct reader_s {
    const uint8_t *p, *end;
    bool bad;
} reader_t;

static uint64_t rd_uint(reader_t *r, unsigned n) {
    if ((size_t)(r->end - r->p) < n) {
        r->bad = true;
        r->p = r->end;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    return v;
}

/* rd_skip skips n bytes, compared with what is left (never added to the pointer
 * first: a length near 2^64 from the file would wrap it back below the buffer). */
static void rd_skip(reader_t *r, uint64_t n) {
    if (n > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        r->p = r->end;
        return;
    }
    r->p += n;
}

static uint64_t rd_uleb(reader_t *r) {
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (r->p >= r->end) {
            r->bad = true;
            return v;
        }
        uint8_t b = *r->p++;
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) return v;
    }
}

static int64_t rd_sleb(reader_t *r) {
    int64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        if (r->p >= r->end) {
            r->bad = true;
            return v;
        }
        b = *r->p++;
        if (shift < 64) v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
    } while (b & 0x80);
    if (shift < 64 && (b & 0x40)) v = (int64_t)((uint64_t)v | (~(uint64_t)0 << shift));
    return v;
}

static const char *rd_cstr(reader_t *r) {
    const uint8_t *s = r->p;
    const uint8_t *z = memchr(s, 0, (size_t)(r->end - s));
    if (z == NULL) {
        r->bad = true;
        r->p = r->end;
        return "";
    }
    r->p = z + 1;
    return (const char *)s;
}

typedef struct lines_s {
    gmi_pbuf_t rows;  /* gmi_line_row_t */
    gmi_pbuf_t files; /* uint64_t offsets into names, later pointers */
    gmi_pbuf_t names; /* NUL-terminated "dir/name" strings */
    const uint8_t *line_str;
    size_t line_str_size;
} lines_t;

/* add_file stores "dir/name" (or name alone when absolute or dir is empty) and
 * returns its global index. */
static uint32_t add_file(lines_t *L, const char *dir, const char *name) {
    uint64_t off = L->names.len;
    if (name[0] != '/' && dir != NULL && dir[0] != 0) {
        gmi_pbuf_append(&L->names, dir, strlen(dir));
        gmi_pbuf_append(&L->names, "/", 1);
    }
    gmi_pbuf_append(&L->names, name, strlen(name) + 1);
    gmi_pbuf_append(&L->files, &off, sizeof off);
    return (uint32_t)(L->files.len / sizeof off - 1);
}

/* read_form reads one attribute value: a string for string forms (NULL when it lives
 * in a section we do not have), else *num. */
static const char *read_form(lines_t *L, reader_t *r, uint64_t form, bool dwarf64, uint64_t *num) {
    *num = 0;
    switch (form) {
    case DW_FORM_string:
        return rd_cstr(r);
    case DW_FORM_line_strp: {
        uint64_t off = rd_uint(r, dwarf64 ? 8 : 4);
        if (L->line_str == NULL || off >= L->line_str_size) return NULL;
        return (const char *)L->line_str + off; /* the section buffer is NUL-terminated */
    }
    case DW_FORM_strp:
        rd_uint(r, dwarf64 ? 8 : 4);
        return NULL;
    case DW_FORM_strx:
    case DW_FORM_udata:
        *num = rd_uleb(r);
        return NULL;
    case DW_FORM_sdata:
        *num = (uint64_t)rd_sleb(r);
        return NULL;
    case DW_FORM_strx1:
    case DW_FORM_data1:
        *num = rd_uint(r, 1);
        return NULL;
    case DW_FORM_strx2:
    case DW_FORM_data2:
        *num = rd_uint(r, 2);
        return NULL;
    case DW_FORM_strx3:
        *num = rd_uint(r, 3);
        return NULL;
    case DW_FORM_strx4:
    case DW_FORM_data4:
        *num = rd_uint(r, 4);
        return NULL;
    case DW_FORM_data8:
        *num = rd_uint(r, 8);
        return NULL;
    case DW_FORM_data16:
        rd_uint(r, 8);
        rd_uint(r, 8);
        return NULL;
    case DW_FORM_block1:
        rd_skip(r, rd_uint(r, 1));
        return NULL;
    case DW_FORM_block2:
        rd_skip(r, rd_uint(r, 2));
        return NULL;
    case DW_FORM_block4:
        rd_skip(r, rd_uint(r, 4));
        return NULL;
    case DW_FORM_block:
        rd_skip(r, rd_uleb(r));
        return NULL;
    default:
        r->bad = true;
        return NULL;
    }
}

/* read_entries reads a DWARF 5 directory or file-name table. For directories (dirs ==
 * NULL) it fills out[] with the names; for files it adds each to L and fills out[]
 * with global file indexes. */
static size_t read_entries(lines_t *L, reader_t *r, bool dwarf64, const char **dirs, size_t ndirs,
                           const char **out_names, uint32_t *out_files, size_t max) {
    unsigned nformat = (unsigned)rd_uint(r, 1);
    uint64_t fmt[16][2];
    if (nformat > 16) {
        r->bad = true;
        return 0;
    }
    for (unsigned i = 0; i < nformat; i++) {
        fmt[i][0] = rd_uleb(r);
        fmt[i][1] = rd_uleb(r);
    }
    uint64_t count = rd_uleb(r);
    /* every entry takes at least a byte, and an entry without fields is malformed: a
     * count from the file then bounds no loop (one of 2^64 empty entries hung the
     * profile writer) */
    if (count > 0 && (nformat == 0 || count > (uint64_t)(r->end - r->p))) {
        r->bad = true;
        return 0;
    }
    size_t kept = 0;
    for (uint64_t e = 0; e < count && !r->bad; e++) {
        const char *path = "";
        uint64_t dir = 0;
        for (unsigned i = 0; i < nformat; i++) {
            uint64_t num;
            const char *s = read_form(L, r, fmt[i][1], dwarf64, &num);
            if (fmt[i][0] == DW_LNCT_path && s != NULL) path = s;
            if (fmt[i][0] == DW_LNCT_directory_index) dir = num;
        }
        if (kept >= max) continue;
        if (out_names != NULL)
            out_names[kept++] = path;
        else
            out_files[kept++] = add_file(L, dir < ndirs ? dirs[dir] : NULL, path);
    }
    return kept;
}

#define MAX_UNIT_FILES 4096
#define MAX_UNIT_DIRS  1024

static void emit(lines_t *L, uint64_t addr, uint32_t file, uint32_t line) {
    gmi_line_row_t row = {addr, file, line};
    gmi_pbuf_append(&L->rows, &row, sizeof row);
}

/* run_unit parses one line-number program header and runs its program. Returns the
 * end of the unit, or NULL when the section cannot be parsed further. */
static const uint8_t *run_unit(lines_t *L, const uint8_t *p, const uint8_t *end, const char **dirs,
                               uint32_t *files) {
    reader_t r = {p, end, false};
    uint64_t unit_len = rd_uint(&r, 4);
    bool dwarf64 = false;
    if (unit_len == 0xffffffffu) {
        unit_len = rd_uint(&r, 8);
        dwarf64 = true;
    }
    if (r.bad || unit_len > (uint64_t)(end - r.p)) return NULL;
    const uint8_t *unit_end = r.p + unit_len;
    r.end = unit_end;
    unsigned version = (unsigned)rd_uint(&r, 2);
    if (version < 2 || version > 5) return unit_end;
    if (version >= 5) {
        unsigned addr_size = (unsigned)rd_uint(&r, 1);
        rd_uint(&r, 1); /* segment selector size */
        if (addr_size != 8) return unit_end;
    }
    uint64_t header_len = rd_uint(&r, dwarf64 ? 8 : 4);
    if (header_len > (uint64_t)(unit_end - r.p)) return unit_end;
    const uint8_t *program = r.p + header_len;
    unsigned min_inst = (unsigned)rd_uint(&r, 1);
    if (version >= 4) rd_uint(&r, 1); /* maximum operations per instruction (VLIW) */
    bool default_stmt = rd_uint(&r, 1) != 0;
    (void)default_stmt;
    int line_base = (int8_t)rd_uint(&r, 1);
    unsigned line_range = (unsigned)rd_uint(&r, 1);
    unsigned opcode_base = (unsigned)rd_uint(&r, 1);
    uint8_t std_len[256] = {0};
    for (unsigned i = 1; i < opcode_base; i++)
        std_len[i] = (uint8_t)rd_uint(&r, 1);
    if (r.bad || line_range == 0 || opcode_base == 0) return unit_end;

    size_t nfiles = 0, ndirs = 0;
    if (version >= 5) {
        ndirs = read_entries(L, &r, dwarf64, NULL, 0, dirs, NULL, MAX_UNIT_DIRS);
        nfiles = read_entries(L, &r, dwarf64, dirs, ndirs, NULL, files, MAX_UNIT_FILES);
    } else {
        /* Directory 0 is the compilation directory, not listed; files count from 1. */
        dirs[ndirs++] = NULL;
        for (;;) {
            const char *d = rd_cstr(&r);
            if (r.bad || d[0] == 0) break;
            if (ndirs < MAX_UNIT_DIRS) dirs[ndirs++] = d;
        }
        files[nfiles++] = 0;
        for (;;) {
            const char *name = rd_cstr(&r);
            if (r.bad || name[0] == 0) break;
            uint64_t dir = rd_uleb(&r);
            rd_uleb(&r); /* mtime */
            rd_uleb(&r); /* length */
            if (nfiles < MAX_UNIT_FILES)
                files[nfiles++] = add_file(L, dir < ndirs ? dirs[dir] : NULL, name);
        }
        if (nfiles == 1)
            files[0] = add_file(L, NULL, "");
        else
            files[0] = files[1];
    }
    if (r.bad || nfiles == 0) return unit_end;

    /* The state machine. */
    r.p = program;
    uint64_t addr = 0, file = 1, line = 1;
    bool seq_ok = true; /* false after set_address 0: a discarded function */
    while (r.p < unit_end && !r.bad) {
        unsigned op = (unsigned)rd_uint(&r, 1);
        if (op >= opcode_base) {
            unsigned adj = op - opcode_base;
            addr += (adj / line_range) * min_inst;
            line += (int64_t)line_base + (int64_t)(adj % line_range);
            if (seq_ok) emit(L, addr, files[file < nfiles ? file : 0], (uint32_t)line);
            continue;
        }
        switch (op) {
        case 0: {
            uint64_t len = rd_uleb(&r);
            if (len == 0 || len > (uint64_t)(unit_end - r.p)) return unit_end;
            const uint8_t *next = r.p + len;
            unsigned sub = (unsigned)rd_uint(&r, 1);
            if (sub == DW_LNE_end_sequence) {
                if (seq_ok) emit(L, addr, 0, 0);
                addr = 0;
                file = 1;
                line = 1;
                seq_ok = true;
            } else if (sub == DW_LNE_set_address && len == 9) {
                addr = rd_uint(&r, 8);
                seq_ok = addr != 0;
            }
            r.p = next;
            break;
        }
        case DW_LNS_copy:
            if (seq_ok) emit(L, addr, files[file < nfiles ? file : 0], (uint32_t)line);
            break;
        case DW_LNS_advance_pc:
            addr += rd_uleb(&r) * min_inst;
            break;
        case DW_LNS_advance_line:
            line += rd_sleb(&r);
            break;
        case DW_LNS_set_file:
            file = rd_uleb(&r);
            break;
        case DW_LNS_const_add_pc:
            addr += ((255 - opcode_base) / line_range) * min_inst;
            break;
        case DW_LNS_fixed_advance_pc:
            addr += rd_uint(&r, 2);
            break;
        default:
            for (unsigned i = 0; i < std_len[op]; i++)
                rd_uleb(&r);
            break;
        }
    }
    return unit_end;
}

/* Sort rows by address; at one address an end-of-sequence row (line 0) goes first so
 * a sequence starting where another ends wins the lookup. Heapsort: no malloc. */
static bool row_before(const gmi_line_row_t *a, const gmi_line_row_t *b) {
    if (a->addr != b->addr) return a->addr < b->addr;
    return (a->line != 0) < (b->line != 0);
}

static void sift_rows(gmi_line_row_t *a, size_t i, size_t n) {
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && row_before(&a[c], &a[c + 1])) c++;
        if (!row_before(&a[i], &a[c])) return;
        gmi_line_row_t t = a[i];
        a[i] = a[c];
        a[c] = t;
        i = c;
    }
}

static void sort_rows(gmi_line_row_t *a, size_t n) {
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;)
        sift_rows(a, i, n);
    for (size_t end = n - 1; end > 0; end--) {
        gmi_line_row_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_rows(a, 0, end);
    }
}

bool gmi_elf_dwarf_lines(gmi_elf_t *e, const uint8_t *sec, size_t size, const uint8_t *line_str,
                         size_t line_str_size) {
    lines_t L;
    memset(&L, 0, sizeof L);
    L.line_str = line_str;
    L.line_str_size = line_str_size;
    size_t scratch = MAX_UNIT_DIRS * sizeof(const char *) + MAX_UNIT_FILES * sizeof(uint32_t);
    const char **dirs = gmi_profile_scratch_alloc(scratch);
    if (dirs == NULL) return false;
    uint32_t *files = (uint32_t *)(dirs + MAX_UNIT_DIRS);
    const uint8_t *p = sec, *end = sec + size;
    while (p != NULL && p < end)
        p = run_unit(&L, p, end, dirs, files);
    gmi_profile_scratch_free(dirs, scratch);

    bool ok = !L.rows.failed && !L.files.failed && !L.names.failed && L.rows.len > 0;
    if (ok) {
        /* Offsets become pointers now that the names no longer move. */
        uint64_t *offs = (uint64_t *)L.files.data;
        size_t nfiles = L.files.len / sizeof *offs;
        for (size_t i = 0; i < nfiles; i++)
            ((const char **)offs)[i] = (const char *)L.names.data + offs[i];
        e->rows = (gmi_line_row_t *)L.rows.data;
        e->nrows = L.rows.len / sizeof(gmi_line_row_t);
        e->rows_bytes = L.rows.cap;
        e->files = (const char **)L.files.data;
        e->nfiles = nfiles;
        e->files_bytes = L.files.cap;
        e->fnames = (char *)L.names.data;
        e->fnames_bytes = L.names.cap;
        sort_rows(e->rows, e->nrows);
    } else {
        gmi_pbuf_free(&L.rows);
        gmi_pbuf_free(&L.files);
        gmi_pbuf_free(&L.names);
    }
    return ok;
}
