/* explain.c: gm_explain, "why is this object still alive?"
 *
 * gm_explain prints a shortest chain of references from a root to the object holding a
 * pointer. It never walks a heap that is changing: with gmi_gc.lock and every other
 * gomem lock held and the world stopped (as a collection), it runs a breadth-first
 * search from the roots over the heap, recording for every object reached its parent
 * (an object, or a root range) in a hash table of its own. Mark bits are not touched:
 * outside a collection they must stay clear. The search stops when it reaches the
 * target, so the chain has the fewest hops; among roots, the ranges are visited in the
 * order globals, gm_add_roots ranges, thread-local storage, the roots the collector
 * keeps in metadata (the pin table, finalizer and cleanup records, pool items), other
 * threads' stacks (with the registers saved in their signal frames), and the caller's
 * own stack last (the caller often holds the pointer it asks about). If that finds
 * nothing, a second pass starts from the contents of the objects with a finalizer that
 * nothing reached, as the collector marks them after every other root (finalizer.c).
 * Labels need more than the snapshot: a stack word is attributed to a function by the
 * nearest return address below it (the frame that called out of that function), a
 * register by its slot in the kernel's signal frame (found by the signal restorer's
 * address). Symbols (dladdr, then the ELF .symtab of the object, read with mmap) and
 * allocation sites (heap-profile samples) are looked up after the world restarted;
 * dladdr may take the loader's lock. Memory is mmap'd scratch, never the gomem heap.
 * See gc.c for the collector overview. */
#include "explain.h"
#include "debug_modes.h"
#include "gc_internal.h"
#include "profile.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/ucontext.h>
#include <unistd.h>

/* Root kinds. RK_FINQ is a value, not memory: a queued finalizer's object, which its
 * record keeps hidden (the collector marks it from a scratch copy). RK_FINOBJ is the
 * contents of an unreachable object that has a finalizer: the collector marks what it
 * reaches only after every other root (finalizer.c), so these ranges come second. */
enum { RK_GLOBAL, RK_USER, RK_TLS, RK_STACK, RK_PIN, RK_FINARG, RK_FINQ, RK_POOL, RK_FINOBJ };

typedef struct range_s {
    uintptr_t lo, hi;
    int kind;
    int32_t tid;
    uintptr_t pc;    /* innermost pc of the thread (stack ranges) */
    uintptr_t gregs; /* the signal frame's saved registers, or 0 */
    uintptr_t sp;    /* the interrupted sp: stack words below it are the signal frame */
    /* RK_PIN: the pin counts beside the key array [lo, hi) */
    const uint32_t *pin_counts;
    /* RK_FINARG, RK_FINQ, RK_FINOBJ: the record's object and function; RK_POOL: obj is
     * the pool, victim its item's generation */
    uintptr_t obj, fn;
    bool cleanup, queued, victim;
} range_t;

typedef struct node_s {
    uintptr_t base;
    size_t size;
    int64_t parent; /* node index, or -1 - range index */
    uintptr_t from; /* the word that referenced it */
    gmi_span_t *span;
    size_t slot;
} node_t;

#define MAX_NODES ((size_t)1 << 24)
#define MAX_CHAIN 64

typedef struct ex_s {
    range_t *ranges;
    size_t nranges, capranges;
    node_t *nodes;
    size_t nnodes, capnodes;
    uint64_t *hash; /* node index + 1, 0 = empty; keyed by base */
    size_t caphash;
    uintptr_t target;
    int64_t found;
    int overflow;
    /* while pushing one thread's ranges */
    gmi_thread_t *thr;
    uintptr_t restorer;
    const gmi_maps_t *maps;
    intptr_t tls_off; /* static TLS starts at thread pointer + tls_off (<= 0) */
} ex_t;

static void *scratch_grow(void *old, size_t old_bytes, size_t new_bytes) {
    void *p = gmi_os_reserve(new_bytes, 4096);
    if (p == NULL) return NULL;
    if (old) {
        memcpy(p, old, old_bytes);
        gmi_os_unmap(old, old_bytes);
    }
    return p;
}

static uint64_t hash_ptr(uintptr_t p) {
    return (uint64_t)(p >> 3) * 0x9E3779B97F4A7C15ULL;
}

static bool hash_has(const ex_t *x, uintptr_t base) {
    size_t mask = x->caphash - 1;
    for (size_t i = hash_ptr(base) & mask;; i = (i + 1) & mask) {
        uint64_t v = x->hash[i];
        if (v == 0) return false;
        if (x->nodes[v - 1].base == base) return true;
    }
}

static void hash_put(ex_t *x, size_t idx) {
    size_t mask = x->caphash - 1;
    size_t i = hash_ptr(x->nodes[idx].base) & mask;
    while (x->hash[i] != 0)
        i = (i + 1) & mask;
    x->hash[i] = idx + 1;
}

static bool grow_nodes(ex_t *x) {
    if (x->nnodes < x->capnodes && (x->nnodes + 1) * 2 <= x->caphash) return true;
    if (x->nnodes >= MAX_NODES) return false;
    size_t nc = x->capnodes ? x->capnodes * 2 : 65536;
    node_t *n = scratch_grow(x->nodes, x->capnodes * sizeof(node_t), nc * sizeof(node_t));
    uint64_t *h = gmi_os_reserve(nc * 2 * sizeof(uint64_t), 4096);
    if (n == NULL || h == NULL) return false;
    x->nodes = n;
    x->capnodes = nc;
    if (x->hash) gmi_os_unmap(x->hash, x->caphash * sizeof(uint64_t));
    x->hash = h;
    x->caphash = nc * 2;
    for (size_t i = 0; i < x->nnodes; i++)
        hash_put(x, i);
    return true;
}

/* visit records the object holding word w (read at address from) unless seen. */
static void visit(ex_t *x, uintptr_t w, uintptr_t from, int64_t parent) {
    gmi_span_t *s = gmi_span_of(w);
    if (s == NULL) return;
    size_t slot = gmi_span_slot(s, w);
    if (slot >= s->nelems || !gmi_bit_get(s->alloc_bits, slot)) return;
    if (atomic_load_explicit(&s->has_pending, memory_order_relaxed) &&
        ((atomic_load_explicit(&s->pending_bits[slot >> 6], memory_order_relaxed) >> (slot & 63)) &
         1))
        return;
    uintptr_t base = s->start + slot * s->elemsize;
    if (x->caphash && hash_has(x, base)) return;
    if (!grow_nodes(x)) {
        x->overflow = 1;
        return;
    }
    size_t i = x->nnodes++;
    x->nodes[i] = (node_t){base, s->elemsize, parent, from, s, slot};
    hash_put(x, i);
    if (base == x->target) x->found = (int64_t)i;
}

static GMI_NO_ASAN void scan_words(ex_t *x, uintptr_t lo, uintptr_t hi, int64_t parent) {
    lo = (lo + 7) & ~(uintptr_t)7;
    for (uintptr_t a = lo; a + 8 <= hi && x->found < 0 && !x->overflow; a += 8)
        visit(x, *(const uintptr_t *)a, a, parent);
}

static void push_range(ex_t *x, const range_t *rg) {
    if (x->nranges == x->capranges) {
        size_t nc = x->capranges ? x->capranges * 2 : 1024;
        range_t *r = scratch_grow(x->ranges, x->capranges * sizeof(range_t), nc * sizeof(range_t));
        if (r == NULL) {
            x->overflow = 1;
            return;
        }
        x->ranges = r;
        x->capranges = nc;
    }
    x->ranges[x->nranges++] = *rg;
}

static void add_range(ex_t *x, uintptr_t lo, uintptr_t hi, int kind, int32_t tid, uintptr_t pc,
                      uintptr_t gregs, uintptr_t sp) {
    if (lo >= hi) return;
    push_range(
        x, &(range_t){
               .lo = lo, .hi = hi, .kind = kind, .tid = tid, .pc = pc, .gregs = gregs, .sp = sp});
}

/* scan_range visits what range r refers to: its words, or the object it names. */
static void scan_range(ex_t *x, size_t r) {
    const range_t *rg = &x->ranges[r];
    if (rg->kind == RK_FINQ)
        visit(x, rg->obj, 0, -1 - (int64_t)r);
    else
        scan_words(x, rg->lo, rg->hi, -1 - (int64_t)r);
}

/* search runs the breadth-first search on from the ranges and nodes not scanned yet:
 * every range is a root (level 0), so the ranges go first. */
static void search(ex_t *x, size_t *next_range, size_t *next_node) {
    for (; *next_range < x->nranges && x->found < 0 && !x->overflow; ++*next_range)
        scan_range(x, *next_range);
    for (; *next_node < x->nnodes && x->found < 0 && !x->overflow; ++*next_node) {
        node_t *nd = &x->nodes[*next_node];
        if (nd->span->spanclass & 1) continue; /* noscan */
        scan_words(x, nd->base, nd->base + nd->size, (int64_t)*next_node);
    }
}

/* The static TLS blocks sit below the thread pointer at the same offsets in every
 * thread; threads.c's TLS range is a generous estimate that may cover the top of the
 * stack, so the offset of the lowest block is measured (for the calling thread) with
 * dl_iterate_phdr, before the world stops. */
static int min_tls(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    intptr_t *off = arg;
    if (info->dlpi_tls_data != NULL) {
        intptr_t o = (intptr_t)((uintptr_t)info->dlpi_tls_data - (uintptr_t)pthread_self());
        if (o < *off && o > -(intptr_t)(1 << 20)) *off = o;
    }
    return 0;
}

static void push_global(uintptr_t lo, uintptr_t hi, void *arg) {
    ex_t *x = arg;
    uintptr_t key;
    add_range(x, lo, hi, gmi_roots_user_key(lo, hi, &key) ? RK_USER : RK_GLOBAL, 0, 0, 0, 0);
}

/* A stopped thread's stack range: find the kernel's signal frame (its first word is the
 * signal restorer's address), whose ucontext holds the interrupted registers. */
static GMI_NO_ASAN void push_thread(uintptr_t lo, uintptr_t hi, void *arg) {
    ex_t *x = arg;
    gmi_thread_t *t = x->thr;
    if (lo == t->tls_lo && hi == t->tls_hi) {
        uintptr_t real = (uintptr_t)t->pthread + (uintptr_t)x->tls_off;
        if (x->tls_off < 0 && real > lo && real < hi) lo = real;
        add_range(x, lo, hi, RK_TLS, t->tid, 0, 0, 0);
        return;
    }
    uintptr_t gregs = 0, sp = lo, pc = 0;
    if (x->restorer) {
        uintptr_t end = hi - lo > 65536 ? lo + 65536 : hi;
        for (uintptr_t a = lo; a + sizeof(ucontext_t) + 8 <= end; a += 8) {
            if (*(const uintptr_t *)a != x->restorer) continue;
            const ucontext_t *uc = (const ucontext_t *)(a + 8);
            uintptr_t isp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
            if (isp < a || isp > hi) continue;
            gregs = (uintptr_t)&uc->uc_mcontext.gregs[0];
            sp = isp;
            pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
            break;
        }
    }
    /* the saved registers first: gomem's handler frames below them hold copies */
    if (gregs) add_range(x, gregs, gregs + 17 * 8, RK_STACK, t->tid, pc, gregs, sp);
    add_range(x, lo, hi, RK_STACK, t->tid, pc, gregs, sp);
}

/* The pin table's keys are roots (pin.c); a finalizer or cleanup record's argument
 * always, and a queued finalizer's object (finalizer.c). */
static void push_pins(ex_t *x) {
    const uintptr_t *keys;
    const uint32_t *counts;
    size_t cap = gmi_pin_table_locked(&keys, &counts);
    if (cap == 0) return;
    push_range(x, &(range_t){.lo = (uintptr_t)keys,
                             .hi = (uintptr_t)(keys + cap),
                             .kind = RK_PIN,
                             .pin_counts = counts});
}

static void push_fin_record(const gmi_fin_view_t *v, void *arg) {
    ex_t *x = arg;
    range_t rg = {.obj = v->obj, .fn = v->fn, .cleanup = v->cleanup, .queued = v->queued};
    if (v->queued && !v->cleanup && v->obj != 0) {
        rg.kind = RK_FINQ;
        push_range(x, &rg);
    }
    rg.kind = RK_FINARG;
    rg.lo = (uintptr_t)v->arg;
    rg.hi = rg.lo + sizeof(uintptr_t);
    push_range(x, &rg);
}

static void push_pool_item(const void *pool, const uintptr_t *cell, bool victim, void *arg) {
    push_range(arg, &(range_t){.lo = (uintptr_t)cell,
                               .hi = (uintptr_t)(cell + 1),
                               .kind = RK_POOL,
                               .obj = (uintptr_t)pool,
                               .victim = victim});
}

/* Second pass (finalizer.c, step 3): every object with a finalizer that no root
 * reaches has its contents marked, so what it reaches survives the next collection. */
typedef struct pending_arg_s {
    ex_t *x;
    uintptr_t target_fn; /* the target's own finalizer, if it is one of these */
} pending_arg_t;

static void push_pending(const gmi_fin_view_t *v, void *arg) {
    pending_arg_t *pa = arg;
    ex_t *x = pa->x;
    if (v->queued || v->cleanup || v->obj == 0) return;
    if (x->caphash && hash_has(x, v->obj)) return; /* reached: not a candidate */
    if (v->obj == x->target) pa->target_fn = v->fn;
    gmi_span_t *s = gmi_span_of(v->obj);
    if (s == NULL || (s->spanclass & 1)) return; /* noscan: reaches nothing */
    push_range(x, &(range_t){.lo = v->obj,
                             .hi = v->obj + s->elemsize,
                             .kind = RK_FINOBJ,
                             .obj = v->obj,
                             .fn = v->fn});
}

typedef struct threads_arg_s {
    ex_t *x;
    int tls; /* pass 1: TLS ranges only; pass 2: stacks */
} threads_arg_t;

static void tls_only(uintptr_t lo, uintptr_t hi, void *arg) {
    ex_t *x = arg;
    if (lo == x->thr->tls_lo && hi == x->thr->tls_hi) push_thread(lo, hi, arg);
}
static void stack_only(uintptr_t lo, uintptr_t hi, void *arg) {
    ex_t *x = arg;
    if (!(lo == x->thr->tls_lo && hi == x->thr->tls_hi)) push_thread(lo, hi, arg);
}

static void each_thread(gmi_thread_t *t, void *arg) {
    threads_arg_t *ta = arg;
    if (t->internal || t == gmi_tls_thread) return;
    ta->x->thr = t;
    gmi_thread_scan_ranges(t, ta->tls ? tls_only : stack_only, ta->x);
}

/* ---------------------------------------------------------------------------------
 * Labels (world stopped: they read stacks)
 * ------------------------------------------------------------------------------- */

static const char *const reg_names[] = {"r8",  "r9",  "r10", "r11", "r12", "r13",
                                        "r14", "r15", "rdi", "rsi", "rbp", "rbx",
                                        "rdx", "rax", "rcx", "rsp", "rip"};

/* is_return_address: v points into executable code right after a call instruction. */
static GMI_NO_ASAN bool is_return_address(const gmi_maps_t *maps, uintptr_t v) {
    const gmi_mapping_t *m = gmi_maps_find(maps, v);
    if (m == NULL || !m->exec || v - m->start < 8) return false;
    const uint8_t *c = (const uint8_t *)v;
    if (c[-5] == 0xE8) return true;                           /* call rel32 */
    if (c[-2] == 0xFF && (c[-1] & 0x38) == 0x10) return true; /* call *%reg */
    if (c[-3] == 0xFF && (c[-2] & 0x38) == 0x10) return true; /* call *d8(%reg) */
    if (c[-6] == 0xFF && (c[-5] & 0x38) == 0x10) return true; /* call *d32(%rip) */
    if (c[-7] == 0xFF && (c[-6] & 0x38) == 0x10) return true; /* call *d32(%reg,...) */
    return false;
}

typedef struct root_label_s {
    int kind;
    int32_t tid;
    int reg;        /* register index, -1 */
    int sigframe;   /* in the signal frame but not a general register */
    uintptr_t pc;   /* stack: the frame's function */
    uintptr_t word; /* address of the root word */
    uintptr_t lo, hi;
    uint32_t pins;     /* RK_PIN: the object's pin count */
    uintptr_t obj, fn; /* finalizer kinds: the record's object and function; pool */
    bool cleanup, queued, victim;
} root_label_t;

static GMI_NO_ASAN void label_root(const ex_t *x, const range_t *r, uintptr_t word,
                                   root_label_t *l) {
    memset(l, 0, sizeof *l);
    l->kind = r->kind;
    l->tid = r->tid;
    l->reg = -1;
    l->word = word;
    l->lo = r->lo;
    l->hi = r->hi;
    l->obj = r->obj;
    l->fn = r->fn;
    l->cleanup = r->cleanup;
    l->queued = r->queued;
    l->victim = r->victim;
    if (r->kind == RK_PIN) l->pins = r->pin_counts[(word - r->lo) / sizeof(uintptr_t)];
    if (r->kind != RK_STACK) return;
    if (r->gregs && word >= r->gregs && word < r->gregs + 17 * 8) {
        l->reg = (int)((word - r->gregs) / 8);
        return;
    }
    if (word < r->sp) {
        l->sigframe = 1;
        return;
    }
    l->pc = r->pc;
    uintptr_t stop = word - r->sp > 65536 ? word - 65536 : r->sp;
    for (uintptr_t a = word; a > stop;) {
        a -= 8;
        uintptr_t v = *(const uintptr_t *)a;
        if (is_return_address(x->maps, v)) {
            l->pc = v - 1; /* inside the call instruction: the right function */
            break;
        }
    }
}

/* ---------------------------------------------------------------------------------
 * Symbols (world running)
 * ------------------------------------------------------------------------------- */

/* elf_symbol finds the symbol (function or data) containing addr in the loaded object
 * holding it: dladdr for the object, then its .symtab (or .dynsym) read through mmap.
 * Writes the name into name (or "" if none) and returns the object's path. */
static const char *elf_symbol(uintptr_t addr, char *name, size_t n, uintptr_t *off) {
    name[0] = 0;
    *off = 0;
    Dl_info di;
    if (dladdr((void *)addr, &di) == 0) return "?";
    const char *path = di.dli_fname && di.dli_fname[0] ? di.dli_fname : "/proc/self/exe";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        void *map = MAP_FAILED;
        if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(ElfW(Ehdr)))
            map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (map != MAP_FAILED) {
            const uint8_t *b = map;
            const ElfW(Ehdr) *eh = map;
            size_t size = (size_t)st.st_size;
            uintptr_t rel = eh->e_type == ET_EXEC ? addr : addr - (uintptr_t)di.dli_fbase;
            const ElfW(Sym) *best = NULL;
            const char *best_str = NULL;
            if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
                eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) <= size) {
                const ElfW(Shdr) *sh = (const ElfW(Shdr) *)(b + eh->e_shoff);
                for (int pass = 0; pass < 2 && best == NULL; pass++) {
                    unsigned want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
                    for (unsigned i = 0; i < eh->e_shnum; i++) {
                        if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum) continue;
                        const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
                        if (sh[i].sh_offset + sh[i].sh_size > size ||
                            strs->sh_offset + strs->sh_size > size)
                            continue;
                        const ElfW(Sym) *sy = (const ElfW(Sym) *)(b + sh[i].sh_offset);
                        size_t ns = sh[i].sh_size / sizeof(ElfW(Sym));
                        for (size_t k = 0; k < ns; k++) {
                            int ty = ELF64_ST_TYPE(sy[k].st_info);
                            if ((ty != STT_FUNC && ty != STT_OBJECT && ty != STT_TLS) ||
                                sy[k].st_shndx == SHN_UNDEF)
                                continue;
                            if (ty == STT_TLS) continue;
                            uintptr_t v = sy[k].st_value, sz = sy[k].st_size ? sy[k].st_size : 1;
                            if (rel >= v && rel < v + sz && sy[k].st_name < strs->sh_size) {
                                best = &sy[k];
                                best_str = (const char *)b + strs->sh_offset + sy[k].st_name;
                                break;
                            }
                        }
                        if (best) break;
                    }
                }
            }
            if (best) {
                snprintf(name, n, "%s", best_str);
                *off = rel - best->st_value;
            }
            munmap(map, size);
        }
    }
    if (name[0] == 0 && di.dli_sname) {
        snprintf(name, n, "%s", di.dli_sname);
        *off = addr - (uintptr_t)di.dli_saddr;
    }
    return di.dli_fname && di.dli_fname[0] ? di.dli_fname : "(main program)";
}

static void print_site(FILE *out, uintptr_t pc) {
    char name[256];
    uintptr_t off;
    const char *obj = elf_symbol(pc, name, sizeof name, &off);
    const char *base = strrchr(obj, '/');
    if (name[0])
        fprintf(out, "%s+0x%lx (%s)", name, (unsigned long)off, base ? base + 1 : obj);
    else
        fprintf(out, "0x%lx (%s)", (unsigned long)pc, base ? base + 1 : obj);
}

/* ---------------------------------------------------------------------------------
 * gm_explain
 * ------------------------------------------------------------------------------- */

typedef struct hop_s {
    uintptr_t base, from;
    size_t size;
    gmi_span_t *span;
    size_t slot;
} hop_t;

static GMI_NOINLINE int explain(const void *ptr, FILE *out, uintptr_t caller_lo,
                                uintptr_t caller_pc) {
    ex_t x;
    memset(&x, 0, sizeof x);
    x.found = -1;
    gmi_maps_t maps;
    if (gmi_maps_read(&maps) != 0) memset(&maps, 0, sizeof maps);
    x.maps = &maps;
    int sig = gmi_config.stop_signal ? gmi_config.stop_signal : SIGRTMIN + 6;
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) == 0) x.restorer = (uintptr_t)sa.sa_restorer;
    gmi_each_object(min_tls, &x.tls_off);

    hop_t chain[MAX_CHAIN];
    int nchain = 0, truncated = 0, found = 0;
    size_t hops = 0; /* objects on the chain; only the nchain nearest the target are kept */
    root_label_t root;
    size_t target_size = 0, searched = 0;
    uintptr_t target_fn = 0; /* the unreachable target's finalizer, if it has one */

    int gate = gmi_dl_gate_enter(true); /* the snapshot stays valid until the restart */
    uint32_t gate_prev = gmi_dl_gate_set_state(GMI_GATE_SNAPSHOT); /* as a cycle's */
    gmi_roots_snapshot();
    gmi_dl_gate_set_state(GMI_GATE_EXPLAIN);
    gmi_lock(&gmi_gc.lock);
    gmi_lock_all();
    gmi_world_stop();
    gmi_span_t *ts = gmi_span_of((uintptr_t)ptr);
    size_t tslot = ts ? gmi_span_slot(ts, (uintptr_t)ptr) : 0;
    /* live: allocated, and not freed onto a reuse stack, pending or quarantined */
    bool live = ts && tslot < ts->nelems && gmi_malloc_slot_live(ts, tslot) &&
                !(gmi_debug_slow && gmi_debug_quarantined_locked(ts->start + tslot * ts->elemsize));
    if (live) {
        x.target = ts->start + tslot * ts->elemsize;
        target_size = ts->elemsize;
        /* roots, in order of preference among equally short chains */
        gmi_roots_each(push_global, &x);
        threads_arg_t ta = {&x, 1};
        gmi_threads_each(each_thread, &ta);
        push_pins(&x);
        gmi_finalizer_each_locked(push_fin_record, &x);
        gmi_pool_each_item_locked(push_pool_item, &x);
        ta.tls = 0;
        gmi_threads_each(each_thread, &ta);
        gmi_thread_t *self = gmi_tls_thread;
        if (self) {
            uintptr_t tlo = self->tls_lo, real = (uintptr_t)self->pthread + (uintptr_t)x.tls_off;
            if (x.tls_off < 0 && real > tlo && real < self->tls_hi) tlo = real;
            if (tlo < self->tls_hi) add_range(&x, tlo, self->tls_hi, RK_TLS, self->tid, 0, 0, 0);
            if (caller_lo < self->stack_hi)
                add_range(&x, caller_lo, self->stack_hi, RK_STACK, self->tid, caller_pc, 0,
                          caller_lo);
        }
        size_t next_range = 0, next_node = 0;
        search(&x, &next_range, &next_node);
        if (x.found < 0 && !x.overflow) { /* what unreachable finalizable objects keep */
            pending_arg_t pa = {&x, 0};
            gmi_finalizer_each_locked(push_pending, &pa);
            search(&x, &next_range, &next_node);
            target_fn = pa.target_fn;
        }
        searched = x.nnodes;
        if (x.found >= 0) {
            found = 1;
            hop_t rev[MAX_CHAIN];
            int64_t i = x.found;
            int k = 0;
            while (i >= 0) {
                node_t *nd = &x.nodes[i];
                hops++;
                if (k < MAX_CHAIN) /* keep the MAX_CHAIN hops next to the target */
                    rev[k++] = (hop_t){nd->base, nd->from, nd->size, nd->span, nd->slot};
                else
                    truncated = 1;
                if (nd->parent < 0) {
                    label_root(&x, &x.ranges[-1 - nd->parent], nd->from, &root);
                    break;
                }
                i = nd->parent;
            }
            for (int j = 0; j < k; j++)
                chain[j] = rev[k - 1 - j];
            nchain = k;
        }
    }
    gmi_world_start();
    gmi_unlock_all();
    gmi_unlock(&gmi_gc.lock);
    gmi_dl_gate_set_state(gate_prev);
    gmi_dl_gate_leave(gate);

    if (x.nodes) gmi_os_unmap(x.nodes, x.capnodes * sizeof(node_t));
    if (x.hash) gmi_os_unmap(x.hash, x.caphash * sizeof(uint64_t));
    if (x.ranges) gmi_os_unmap(x.ranges, x.capranges * sizeof(range_t));

    if (!live) {
        fprintf(out, "gm_explain(%p): not inside a live gomem object\n", ptr);
        gmi_maps_free(&maps);
        errno = EINVAL;
        return -1;
    }
    if (!found) {
        fprintf(out,
                "gm_explain(%p): object %p (%zu bytes) is not reachable from any root%s: ", ptr,
                (void *)x.target, target_size,
                x.overflow ? " (search stopped: out of scratch memory)" : "");
        if (target_fn) {
            fprintf(out, "the next collection queues its finalizer ");
            print_site(out, target_fn);
            fprintf(out, " (keeping the object until it has run)\n");
        } else {
            fprintf(out, "the next collection frees it\n");
        }
        fflush(out);
        gmi_maps_free(&maps);
        return 1;
    }
    fprintf(
        out,
        "gm_explain(%p): object %p (%zu bytes) is reachable in %zu hop%s (%zu objects searched)\n",
        ptr, (void *)x.target, target_size, hops, hops == 1 ? "" : "s", searched);
    char name[256];
    uintptr_t off;
    fprintf(out, "  root: ");
    switch (root.kind) {
    case RK_GLOBAL: {
        const char *obj = elf_symbol(root.word, name, sizeof name, &off);
        if (name[0])
            fprintf(out, "global %s+%lu in %s", name, (unsigned long)off, obj);
        else
            fprintf(out, "global data at %p in %s", (void *)root.word, obj);
        break;
    }
    case RK_USER:
        fprintf(out, "gm_add_roots range [%p, %p) at +%lu", (void *)root.lo, (void *)root.hi,
                (unsigned long)(root.word - root.lo));
        break;
    case RK_TLS:
        fprintf(out, "thread-local storage of thread %d at %p", root.tid, (void *)root.word);
        break;
    case RK_STACK:
        if (root.reg >= 0) {
            fprintf(out, "register %s of thread %d (saved when the world stopped)",
                    reg_names[root.reg], root.tid);
        } else if (root.sigframe) {
            fprintf(out, "signal frame of thread %d at %p (vector registers or gomem's handler)",
                    root.tid, (void *)root.word);
        } else {
            fprintf(out, "stack of thread %d at %p, frame of ", root.tid, (void *)root.word);
            if (root.pc)
                print_site(out, root.pc);
            else
                fprintf(out, "?");
        }
        break;
    case RK_PIN:
        fprintf(out, "pinned by gm_pin (%u pin%s)", root.pins, root.pins == 1 ? "" : "s");
        break;
    case RK_FINQ:
        fprintf(out, "finalizer queue (object %p awaiting its finalizer ", (void *)root.obj);
        print_site(out, root.fn);
        fprintf(out, ")");
        break;
    case RK_FINARG:
        fprintf(out, "%sargument of the %s ", root.queued ? "finalizer queue (" : "",
                root.cleanup ? "cleanup" : "finalizer");
        print_site(out, root.fn);
        if (root.obj && !(root.queued && root.cleanup)) /* a queued cleanup's object is freed */
            fprintf(out, " %s object %p", root.queued ? "of" : "set on", (void *)root.obj);
        if (root.queued) fprintf(out, ", awaiting its run)");
        break;
    case RK_POOL:
        fprintf(out, "gm_pool %p (%s)", (void *)root.obj,
                root.victim ? "put before the last collection: the next one drops it"
                            : "put since the last collection: kept by the next one, dropped by "
                              "the one after");
        break;
    case RK_FINOBJ:
        fprintf(out, "finalizer pending (object %p, reached by no other root, has the finalizer ",
                (void *)root.obj);
        print_site(out, root.fn);
        fprintf(out, ": what it reaches stays until the finalizer has run), word at +%lu",
                (unsigned long)(root.word - root.obj));
        break;
    default:
        fprintf(out, "(not identified)");
        break;
    }
    fprintf(out, "\n");
    if (truncated)
        fprintf(out, "  -> ... %zu objects nearest the root not shown\n", hops - (size_t)nchain);
    for (int j = 0; j < nchain; j++) {
        fprintf(out, "  %s %p (%zu bytes)", j + 1 == nchain ? "=>" : "->", (void *)chain[j].base,
                chain[j].size);
        if (j > 0)
            fprintf(out, " at +%lu of %p", (unsigned long)(chain[j].from - chain[j - 1].base),
                    (void *)chain[j - 1].base);
        uintptr_t site = gmi_profile_alloc_site(chain[j].span, chain[j].slot);
        if (site) {
            fprintf(out, ", allocated at ");
            print_site(out, site);
        }
        if (j + 1 == nchain) fprintf(out, " [target]");
        fprintf(out, "\n");
    }
    fflush(out);
    gmi_maps_free(&maps);
    return 0;
}

GM_API int gm_explain(const void *ptr, FILE *out) {
    if (out == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    (void)gmi_thread_get();
    /* the caller's frames start above this function's frame record: this frame's own
     * copies of ptr (argument registers spilled here) are not roots */
    uintptr_t lo = (uintptr_t)__builtin_frame_address(0) + 16;
    int cancel = gmi_nocancel_begin(); /* stdio with the world stopped */
    int rc = explain(ptr, out, lo, (uintptr_t)__builtin_return_address(0) - 1);
    gmi_nocancel_end(cancel);
    return rc;
}
