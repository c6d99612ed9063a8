/* symbolize.c: the process's mappings (/proc/self/maps) and function names from the
 * ELF symbol tables of the mapped files, for the pprof writer.
 *
 * Reads files with open/pread into mmap'd buffers, parses Elf64 headers itself, and
 * never calls malloc or stdio, so it can run in a process whose malloc is gomem.
 * Symbols come from .symtab (all functions, static ones included) and, for stripped
 * files, from .dynsym (exported functions only). Line numbers come from .debug_line
 * (dwarf_line.c). Only 64-bit little-endian ELF is understood.
 * See malloc.c for the allocator overview. */
#include "profile.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------
 * /proc/self/maps
 * ------------------------------------------------------------------------------- */

static uintptr_t parse_hex(const char **pp) {
    const char *p = *pp;
    uintptr_t v = 0;
    for (;; p++) {
        char c = *p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            break;
    }
    *pp = p;
    return v;
}

/* read_file_all reads the whole of a file that cannot be stat'ed for size (procfs). */
static int read_file_all(const char *path, gmi_pbuf_t *b) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    for (;;) {
        if (!gmi_pbuf_reserve(b, 16384)) {
            close(fd);
            errno = ENOMEM;
            return -1;
        }
        ssize_t k = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (k == 0) break;
        b->len += (size_t)k;
    }
    close(fd);
    b->data[b->len] = 0;
    return 0;
}

int gmi_maps_read(gmi_maps_t *m) {
    memset(m, 0, sizeof *m);
    gmi_pbuf_t text = {0}, maps = {0};
    if (read_file_all("/proc/self/maps", &text) != 0) {
        gmi_pbuf_free(&text);
        return -1;
    }
    char *p = (char *)text.data, *end = p + text.len;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL) eol = end;
        *eol = 0;
        /* start-limit perms offset dev inode path */
        const char *q = p;
        gmi_mapping_t mp = {0};
        mp.start = parse_hex(&q);
        if (*q == '-') q++;
        mp.limit = parse_hex(&q);
        while (*q == ' ')
            q++;
        mp.exec = q[0] && q[1] && q[2] == 'x';
        while (*q && *q != ' ')
            q++;
        while (*q == ' ')
            q++;
        mp.offset = parse_hex(&q);
        for (int field = 0; field < 2; field++) { /* dev, inode */
            while (*q == ' ')
                q++;
            while (*q && *q != ' ')
                q++;
        }
        while (*q == ' ')
            q++;
        mp.path = q;
        gmi_pbuf_append(&maps, &mp, sizeof mp);
        p = eol + 1;
    }
    if (maps.failed) {
        gmi_pbuf_free(&text);
        gmi_pbuf_free(&maps);
        errno = ENOMEM;
        return -1;
    }
    m->text = (char *)text.data;
    m->text_cap = text.cap;
    m->map = (gmi_mapping_t *)maps.data;
    m->map_cap = maps.cap;
    m->n = maps.len / sizeof(gmi_mapping_t);
    return 0;
}

void gmi_maps_free(gmi_maps_t *m) {
    gmi_profile_scratch_free(m->text, m->text_cap);
    gmi_profile_scratch_free(m->map, m->map_cap);
    memset(m, 0, sizeof *m);
}

/* The kernel lists mappings in address order, so a binary search works. */
const gmi_mapping_t *gmi_maps_find(const gmi_maps_t *m, uintptr_t addr) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->map[mid].limit <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->n && m->map[lo].start <= addr && addr < m->map[lo].limit) return &m->map[lo];
    return NULL;
}

/* ---------------------------------------------------------------------------------
 * ELF files
 * ------------------------------------------------------------------------------- */

static bool pread_all(int fd, void *buf, size_t n, uint64_t off) {
    char *p = buf;
    while (n > 0) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return true;
}

/* read_section returns the bytes [off, off+size) of the file in a fresh scratch
 * buffer (NUL-terminated), or NULL. */
static void *read_section(int fd, uint64_t off, uint64_t size, uint64_t file_size) {
    if (size == 0 || off > file_size || size > file_size - off) return NULL;
    char *p = gmi_profile_scratch_alloc(size + 1);
    if (p == NULL) return NULL;
    if (!pread_all(fd, p, size, off)) {
        gmi_profile_scratch_free(p, size + 1);
        return NULL;
    }
    return p;
}

/* sym_before orders symbols by address; at equal addresses the preferred name comes
 * first: one with a size, then global over weak over local binding. */
static bool sym_before(const gmi_elf_sym_t *a, const gmi_elf_sym_t *b, const uint8_t *ra,
                       const uint8_t *rb) {
    if (a->addr != b->addr) return a->addr < b->addr;
    return *ra < *rb;
}

/* Heapsort: qsort may call malloc. rank[] holds each symbol's preference (lower is
 * better) and moves with it. */
static void sift_down(gmi_elf_sym_t *s, uint8_t *rank, size_t i, size_t n) {
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && sym_before(&s[c], &s[c + 1], &rank[c], &rank[c + 1])) c++;
        if (!sym_before(&s[i], &s[c], &rank[i], &rank[c])) return;
        gmi_elf_sym_t t = s[i];
        s[i] = s[c];
        s[c] = t;
        uint8_t r = rank[i];
        rank[i] = rank[c];
        rank[c] = r;
        i = c;
    }
}

static void sort_syms(gmi_elf_sym_t *s, uint8_t *rank, size_t n) {
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(s, rank, i, n);
    for (size_t end = n - 1; end > 0; end--) {
        gmi_elf_sym_t t = s[0];
        s[0] = s[end];
        s[end] = t;
        uint8_t r = rank[0];
        rank[0] = rank[end];
        rank[end] = r;
        sift_down(s, rank, 0, end);
    }
}

/* load_build_id scans a PT_NOTE segment for NT_GNU_BUILD_ID. */
static void load_build_id(gmi_elf_t *e, int fd, const Elf64_Phdr *ph, uint64_t file_size) {
    if (ph->p_filesz > 65536) return;
    uint8_t *note = read_section(fd, ph->p_offset, ph->p_filesz, file_size);
    if (note == NULL) return;
    size_t off = 0, n = ph->p_filesz;
    while (off + sizeof(Elf64_Nhdr) <= n) {
        Elf64_Nhdr nh;
        memcpy(&nh, note + off, sizeof nh);
        size_t name_off = off + sizeof nh;
        size_t desc_off = name_off + ((nh.n_namesz + 3) & ~3u);
        size_t next = desc_off + ((nh.n_descsz + 3) & ~3u);
        if (next > n || next <= off) break;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            memcmp(note + name_off, "GNU", 4) == 0 && nh.n_descsz <= sizeof e->build_id) {
            memcpy(e->build_id, note + desc_off, nh.n_descsz);
            e->build_id_len = nh.n_descsz;
            break;
        }
        off = next;
    }
    gmi_profile_scratch_free(note, ph->p_filesz + 1);
}

bool gmi_elf_load(gmi_elf_t *e, const char *path, bool want_lines) {
    memset(e, 0, sizeof *e);
    if (path == NULL || path[0] != '/') return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    uint64_t file_size = (uint64_t)lseek(fd, 0, SEEK_END);
    Elf64_Ehdr eh;
    Elf64_Shdr *sh = NULL;
    size_t sh_bytes = 0;
    Elf64_Sym *symtab = NULL;
    uint64_t symtab_bytes = 0;
    uint8_t *rank = NULL;
    size_t rank_bytes = 0;

    if (!pread_all(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_shentsize != sizeof(Elf64_Shdr))
        goto done;

    /* Program headers: the load segments (file offset -> vaddr) and the build id. */
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (!pread_all(fd, &ph, sizeof ph, eh.e_phoff + (uint64_t)i * sizeof ph)) goto done;
        if (ph.p_type == PT_LOAD && e->nload < 16) {
            e->load_off[e->nload] = ph.p_offset;
            e->load_vaddr[e->nload] = ph.p_vaddr;
            e->load_filesz[e->nload] = ph.p_filesz;
            e->nload++;
        } else if (ph.p_type == PT_NOTE && e->build_id_len == 0) {
            load_build_id(e, fd, &ph, file_size);
        }
    }
    e->ok = true;

    /* Section headers: find .symtab, or .dynsym for a stripped file. */
    if (eh.e_shnum == 0 || eh.e_shoff == 0) goto done;
    sh_bytes = (size_t)eh.e_shnum * sizeof(Elf64_Shdr);
    sh = read_section(fd, eh.e_shoff, sh_bytes, file_size);
    if (sh == NULL) goto done;
    int sym_idx = -1;
    for (unsigned i = 0; i < eh.e_shnum; i++)
        if (sh[i].sh_type == SHT_SYMTAB) sym_idx = (int)i;
    if (sym_idx < 0)
        for (unsigned i = 0; i < eh.e_shnum; i++)
            if (sh[i].sh_type == SHT_DYNSYM) sym_idx = (int)i;
    if (sym_idx >= 0 && sh[sym_idx].sh_link < eh.e_shnum) {
        const Elf64_Shdr *ss = &sh[sym_idx], *st = &sh[ss->sh_link];
        symtab_bytes = ss->sh_size;
        symtab = read_section(fd, ss->sh_offset, ss->sh_size, file_size);
        e->strtab_bytes = st->sh_size + 1;
        e->strtab = read_section(fd, st->sh_offset, st->sh_size, file_size);
        if (symtab == NULL || e->strtab == NULL) goto done;
        size_t nsym = ss->sh_size / sizeof(Elf64_Sym);
        e->syms_bytes = nsym * sizeof(gmi_elf_sym_t) + 1;
        e->syms = gmi_profile_scratch_alloc(e->syms_bytes);
        rank_bytes = nsym + 1;
        rank = gmi_profile_scratch_alloc(rank_bytes);
        if (e->syms == NULL || rank == NULL) goto done;
        size_t k = 0;
        for (size_t i = 0; i < nsym; i++) {
            const Elf64_Sym *y = &symtab[i];
            unsigned type = ELF64_ST_TYPE(y->st_info), bind = ELF64_ST_BIND(y->st_info);
            if ((type != STT_FUNC && type != STT_GNU_IFUNC) || y->st_shndx == SHN_UNDEF ||
                y->st_value == 0 || y->st_name >= st->sh_size)
                continue;
            e->syms[k].addr = y->st_value;
            e->syms[k].size = y->st_size;
            e->syms[k].name = e->strtab + y->st_name;
            e->syms[k].local = bind == STB_LOCAL;
            rank[k] = (uint8_t)((y->st_size == 0) * 4 + (bind == STB_GLOBAL ? 0
                                                         : bind == STB_WEAK ? 1
                                                                            : 2));
            k++;
        }
        sort_syms(e->syms, rank, k);
        /* Keep the preferred name at each address. */
        size_t out = 0;
        for (size_t i = 0; i < k; i++)
            if (out == 0 || e->syms[out - 1].addr != e->syms[i].addr) e->syms[out++] = e->syms[i];
        e->nsyms = out;
    }

    /* DWARF line table. */
    if (want_lines && eh.e_shstrndx < eh.e_shnum) {
        const Elf64_Shdr *ns = &sh[eh.e_shstrndx];
        char *names = read_section(fd, ns->sh_offset, ns->sh_size, file_size);
        if (names != NULL) {
            const Elf64_Shdr *dl = NULL, *ls = NULL;
            for (unsigned i = 0; i < eh.e_shnum; i++) {
                if (sh[i].sh_name >= ns->sh_size || (sh[i].sh_flags & SHF_COMPRESSED)) continue;
                if (strcmp(names + sh[i].sh_name, ".debug_line") == 0) dl = &sh[i];
                if (strcmp(names + sh[i].sh_name, ".debug_line_str") == 0) ls = &sh[i];
            }
            if (dl != NULL && dl->sh_type != SHT_NOBITS) {
                uint8_t *sec = read_section(fd, dl->sh_offset, dl->sh_size, file_size);
                uint8_t *lstr = NULL;
                if (ls != NULL && ls->sh_type != SHT_NOBITS)
                    lstr = read_section(fd, ls->sh_offset, ls->sh_size, file_size);
                if (sec != NULL)
                    gmi_elf_dwarf_lines(e, sec, dl->sh_size, lstr, lstr ? ls->sh_size : 0);
                gmi_profile_scratch_free(sec, dl->sh_size + 1);
                if (lstr != NULL) gmi_profile_scratch_free(lstr, ls->sh_size + 1);
            }
            gmi_profile_scratch_free(names, ns->sh_size + 1);
        }
    }

done:
    gmi_profile_scratch_free(sh, sh_bytes + 1);
    gmi_profile_scratch_free(symtab, symtab_bytes + 1);
    gmi_profile_scratch_free(rank, rank_bytes);
    close(fd);
    return e->ok;
}

void gmi_elf_free(gmi_elf_t *e) {
    gmi_profile_scratch_free(e->syms, e->syms_bytes);
    gmi_profile_scratch_free(e->strtab, e->strtab_bytes);
    gmi_profile_scratch_free(e->rows, e->rows_bytes);
    gmi_profile_scratch_free(e->files, e->files_bytes);
    gmi_profile_scratch_free(e->fnames, e->fnames_bytes);
    memset(e, 0, sizeof *e);
}

bool gmi_elf_vaddr(const gmi_elf_t *e, uint64_t file_off, uint64_t *vaddr) {
    for (int i = 0; i < e->nload; i++) {
        if (file_off >= e->load_off[i] && file_off - e->load_off[i] < e->load_filesz[i]) {
            *vaddr = file_off - e->load_off[i] + e->load_vaddr[i];
            return true;
        }
    }
    return false;
}

const gmi_elf_sym_t *gmi_elf_lookup(const gmi_elf_t *e, uint64_t vaddr) {
    size_t lo = 0, hi = e->nsyms;
    while (lo < hi) { /* first symbol with addr > vaddr */
        size_t mid = (lo + hi) / 2;
        if (e->syms[mid].addr <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return NULL;
    const gmi_elf_sym_t *s = &e->syms[lo - 1];
    if (s->size != 0 && vaddr - s->addr >= s->size) return NULL;
    return s;
}

const gmi_line_row_t *gmi_elf_line(const gmi_elf_t *e, uint64_t vaddr) {
    size_t lo = 0, hi = e->nrows;
    while (lo < hi) { /* first row with addr > vaddr */
        size_t mid = (lo + hi) / 2;
        if (e->rows[mid].addr <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || lo == e->nrows) return NULL;
    const gmi_line_row_t *r = &e->rows[lo - 1];
    return r->line == 0 ? NULL : r; /* line 0 marks the end of a sequence */
}
