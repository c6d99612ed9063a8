/* profile.h: heap-profile sampling (profile.c), span specials, and the pprof writer
 * (pprof.c, symbolize.c, deflate.c).
 *
 * The allocator's side of the contract (Go's mcache.nextSample):
 *   1. a new thread cache starts with next_sample = gmi_profile_next_sample();
 *   2. every allocation subtracts its slot size (large: the page-rounded span size);
 *   3. when next_sample drops below zero the allocator calls
 *      gmi_profile_record_alloc(span, obj, slot size) and then draws a new next_sample;
 *   4. gm_free of an object whose span has specials calls gmi_profile_record_free, and
 *      the sweeper calls gmi_profile_sweep_span before it replaces the alloc bits;
 *   5. mark termination calls gmi_profile_cycle_end (world stopped, all locks held),
 *      and gm_collect calls gmi_profile_publish_swept once sweeping is done.
 * Lock: gmi_profile_lock (buckets, ring, specials lists); only the metadata
 * allocator's lock is taken inside it, and it is never held when calling out.
 * See malloc.c for the allocator overview. */
#ifndef GMI_PROFILE_H
#define GMI_PROFILE_H

#include "internal.h"

#pragma GCC visibility push(hidden) /* see internal.h */

/* ---------------------------------------------------------------------------------
 * Sampling (profile.c)
 * ------------------------------------------------------------------------------- */

#define GMI_PROFILE_DEFAULT_RATE 524288 /* Go's MemProfileRate: 512 KiB */
#define GMI_PROFILE_MAX_DEPTH    64     /* frames kept per sample */

/* Sampling rate in bytes; 0 = off, 1 = every allocation. Written by
 * gm_set_mem_profile_rate and GOMEMPROFILERATE; read with relaxed loads. */
extern _Atomic int64_t gmi_profile_rate;

/* gmi_profile_next_sample draws the bytes until the next sample: exponential with mean
 * gmi_profile_rate (Go's fastexprand: fast log2 of a uniform 26-bit number; the mean is
 * not capped as Go's is, distances stop at 2^62). Returns 0 when the rate is 1 (sample everything)
 * and 64 MiB when sampling is off, so a thread notices a later rate change after at most that much
 * allocation. Lock-free; a thread-local generator. */
int64_t gmi_profile_next_sample(void);

/* gmi_profile_record_alloc records a sample: the caller's stack, the bucket for
 * (stack, size) and a profile special on slot of obj in s. Called by the allocator with
 * no lock of this component held, for an object already marked allocated. */
void gmi_profile_record_alloc(gmi_span_t *s, uintptr_t obj, size_t size);

/* gmi_profile_record_free counts the explicit free of slot in s if it was sampled, and
 * drops its special. Cheap no-op when the slot has none. */
void gmi_profile_record_free(gmi_span_t *s, size_t slot);

/* gmi_profile_sweep_span counts a free for every sampled slot of s whose mark bit is
 * clear and drops those specials. The caller owns the span's sweep and calls it before
 * the alloc bits are replaced by the mark bits. It may be called with the world
 * stopped by the thread holding every lock (it then does not lock); the explicit form
 * for that case is gmi_profile_sweep_span_locked. */
void gmi_profile_sweep_span(gmi_span_t *s);
void gmi_profile_sweep_span_locked(gmi_span_t *s);

/* gmi_profile_cycle_end advances the 3-slot publication ring (Go's mProf_NextCycle).
 * Called at mark termination with the world stopped and gmi_profile_lock already held
 * by the caller (gmi_lock_all); takes no lock and never blocks. */
void gmi_profile_cycle_end(void);

/* gmi_profile_publish_swept publishes the cycle that just ended (Go's
 * mProf_PostSweep). Call only once sweeping of that cycle has finished (gm_collect). */
void gmi_profile_publish_swept(void);

/* gmi_profile_init reads GOMEMPROFILERATE and GOMEMPROFILE (registering the at-exit
 * writer with atexit once: glibc's atexit keeps 32 entries in static storage and
 * mallocs a new block only past that). Called once from gmi_init_slow. */
void gmi_profile_init(void);

extern gmi_lock_t gmi_profile_lock; /* buckets, the cycle ring, every span's specials */

/* gmi_profile_buckets_sys_locked returns the metadata bytes of the bucket hash table
 * and the buckets (Go's BuckHashSys). gmi_profile_lock held. */
uint64_t gmi_profile_buckets_sys_locked(void);

/* gmi_profile_alloc_site returns the innermost caller frame of the sampled allocation
 * of slot in s, or 0 if it was not sampled (poison mode's write-after-free report).
 * Takes gmi_profile_lock. */
uintptr_t gmi_profile_alloc_site(gmi_span_t *s, size_t slot);

/* ---------------------------------------------------------------------------------
 * Span specials (profile.c)
 * ------------------------------------------------------------------------------- */

/* A special is a record attached to one slot of a span. s->specials heads a list
 * sorted by (slot, kind), at most one record of each kind per slot (Go's mspan
 * specials). All lists are protected by gmi_profile_lock. */
enum {
    GMI_SPECIAL_PROFILE = 1, /* the object was sampled: bucket is its gmi_profile_bucket_t */
};

typedef struct gmi_special_s gmi_special_t;
struct gmi_special_s {
    gmi_special_t *next;
    uint16_t slot;
    uint8_t kind;
    void *bucket; /* GMI_SPECIAL_PROFILE: the bucket to count the free in */
};

/* gmi_special_alloc_locked returns a zeroed special, or NULL when out of memory. */
gmi_special_t *gmi_special_alloc_locked(void);
void gmi_special_free_locked(gmi_special_t *sp);
/* gmi_special_insert_locked links sp into s's list (false if one of its kind and slot
 * is already there); gmi_special_remove_locked unlinks and returns the record of kind
 * for slot, or NULL. */
bool gmi_special_insert_locked(gmi_span_t *s, gmi_special_t *sp);
gmi_special_t *gmi_special_remove_locked(gmi_span_t *s, size_t slot, uint8_t kind);

/* ---------------------------------------------------------------------------------
 * Growable byte buffers in mmap'd memory (deflate.c)
 * ------------------------------------------------------------------------------- */

typedef struct gmi_pbuf_s {
    uint8_t *data;
    size_t len, cap;
    bool failed; /* an allocation failed: contents are incomplete */
} gmi_pbuf_t;

bool gmi_pbuf_reserve(gmi_pbuf_t *b, size_t more);
void gmi_pbuf_append(gmi_pbuf_t *b, const void *p, size_t n);
void gmi_pbuf_free(gmi_pbuf_t *b);
/* Scratch memory for the writer: zeroed, from mmap, rounded to 4 KiB. */
void *gmi_profile_scratch_alloc(size_t size);
void gmi_profile_scratch_free(void *p, size_t size);

/* gmi_gzip appends a gzip member holding in[0..n) (deflate, fixed Huffman codes with
 * LZ77 matching) to out. */
void gmi_gzip(gmi_pbuf_t *out, const uint8_t *in, size_t n);
uint32_t gmi_crc32(uint32_t crc, const uint8_t *p, size_t n);

/* ---------------------------------------------------------------------------------
 * The pprof writer (pprof.c)
 * ------------------------------------------------------------------------------- */

/* One bucket as the writer sees it: raw sample counts (not unbiased), the object size
 * and the stack, leaf first, as return addresses. */
typedef struct gmi_profile_record_s {
    int64_t alloc_objects, alloc_bytes;
    int64_t free_objects, free_bytes;
    int64_t size;
    const uintptr_t *stack;
    uint32_t depth;
} gmi_profile_record_t;

/* gmi_pprof_write_fd writes the gzip-compressed profile of n records to fd, unbiased
 * for rate. Returns 0, or -1 with errno set. Reads /proc/self/maps and the ELF files of
 * the mapped objects; uses only mmap'd scratch memory. */
int gmi_pprof_write_fd(int fd, const gmi_profile_record_t *recs, size_t n, int64_t rate,
                       uint64_t time_nanos);

/* gmi_profile_unbias scales a (count, bytes) pair of samples to an estimate of the
 * true totals: multiplies by 1 / (1 - exp(-avg / rate)) (Go's scaleHeapSample). */
void gmi_profile_unbias(int64_t count, int64_t bytes, int64_t rate, int64_t *out_count,
                        int64_t *out_bytes);

/* ---------------------------------------------------------------------------------
 * Process mappings and ELF symbols (symbolize.c)
 * ------------------------------------------------------------------------------- */

typedef struct gmi_mapping_s {
    uintptr_t start, limit, offset;
    const char *path; /* NUL-terminated, inside the maps buffer; "" when anonymous */
    bool exec;
} gmi_mapping_t;

typedef struct gmi_maps_s {
    gmi_mapping_t *map;
    size_t n;
    char *text; /* the /proc/self/maps contents */
    size_t text_cap, map_cap;
} gmi_maps_t;

/* gmi_maps_read fills m from /proc/self/maps (sorted by address). -1 with errno on
 * failure. gmi_maps_find returns the mapping containing addr, or NULL. */
int gmi_maps_read(gmi_maps_t *m);
void gmi_maps_free(gmi_maps_t *m);
const gmi_mapping_t *gmi_maps_find(const gmi_maps_t *m, uintptr_t addr);

typedef struct gmi_elf_sym_s {
    uint64_t addr, size;
    const char *name;
    bool local; /* STB_LOCAL: a static function, or a hidden one in an executable */
} gmi_elf_sym_t;

typedef struct gmi_line_row_s {
    uint64_t addr;
    uint32_t file, line; /* file indexes gmi_elf_t.files; line 0 ends a sequence */
} gmi_line_row_t;

/* One ELF object's symbols (and line table when it has .debug_line). */
typedef struct gmi_elf_s {
    bool ok;
    uint64_t load_off[16], load_vaddr[16], load_filesz[16]; /* PT_LOAD segments */
    int nload;
    gmi_elf_sym_t *syms; /* functions sorted by address */
    size_t nsyms, syms_bytes;
    char *strtab;
    size_t strtab_bytes;
    uint8_t build_id[64];
    size_t build_id_len;
    gmi_line_row_t *rows; /* sorted by address */
    size_t nrows, rows_bytes;
    const char **files; /* file names ("dir/name") of the line table */
    size_t nfiles, files_bytes;
    char *fnames; /* storage for files[] */
    size_t fnames_bytes;
} gmi_elf_t;

/* gmi_elf_load reads the symbols of the ELF file at path (.symtab, else .dynsym), its
 * build id and, when want_lines, its .debug_line. Returns false if it is not ELF. */
bool gmi_elf_load(gmi_elf_t *e, const char *path, bool want_lines);
void gmi_elf_free(gmi_elf_t *e);
/* gmi_elf_dwarf_lines fills e's line table from a .debug_line section (DWARF 2-5;
 * line_str is .debug_line_str for DWARF 5 string forms). dwarf_line.c. */
bool gmi_elf_dwarf_lines(gmi_elf_t *e, const uint8_t *sec, size_t size, const uint8_t *line_str,
                         size_t line_str_size);
/* gmi_elf_vaddr converts a file offset into the object's virtual address (false when no
 * PT_LOAD segment holds it). */
bool gmi_elf_vaddr(const gmi_elf_t *e, uint64_t file_off, uint64_t *vaddr);
/* gmi_elf_lookup returns the function symbol containing vaddr, or NULL. */
const gmi_elf_sym_t *gmi_elf_lookup(const gmi_elf_t *e, uint64_t vaddr);
/* gmi_elf_line returns the line-table row covering vaddr, or NULL. */
const gmi_line_row_t *gmi_elf_line(const gmi_elf_t *e, uint64_t vaddr);

#pragma GCC visibility pop

#endif
