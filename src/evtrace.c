/* evtrace.c: the GC event trace, GOMEMTRACE=path and gm_trace_start/gm_trace_stop.
 *
 * The output is the Chrome trace event format (a JSON object with a "traceEvents"
 * array) that Perfetto (ui.perfetto.dev) and chrome://tracing open:
 *   - each cycle as a complete event "GC N" on the thread that ran it, with nested
 *     phases "sweep termination", "stop the world", "mark", "mark termination";
 *   - "stopped (GC N)" on every mutator thread the cycle stopped;
 *   - "sweep" batches on the background sweeper's thread;
 *   - counters "heap live", "heap goal", "heap in use", "heap released", "RSS" sampled
 *     at the start and the end of every cycle (bytes);
 *   - instant events for forced cycles (gm_collect) and scavenger passes.
 * Recording appends fixed-size records to a buffer mapped once with mmap; formatting
 * (gmi_snprintf) and write(2) happen after the world restarts, from the collector's
 * after_world_start hook, at most every FLUSH_NS or when the buffer is half full, and
 * at gm_trace_stop. The writer never allocates from the gomem heap and never uses stdio.
 * A full buffer drops records (counted in the trailer's "droppedRecords").
 * Locking: gmi_evtrace_lock is a leaf taken last by gmi_lock_all; the cycle hook reads
 * the page heap and the thread registry before taking it.
 * See gc.c for the collector overview. */
#include "evtrace.h"
#include "gc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { R_CYCLE = 1, R_PHASE, R_STOPPED, R_SWEEP, R_SCAV, R_COUNTER, R_FORCED };
enum { C_LIVE, C_GOAL, C_INUSE, C_RELEASED, C_RSS, C_MARKED, NCOUNTERS };
static const char *const counter_names[NCOUNTERS] = {"heap live",     "heap goal", "heap in use",
                                                     "heap released", "RSS",       "heap marked"};
static const char *const phase_names[4] = {"sweep termination", "stop the world", "mark",
                                           "mark termination"};

typedef struct rec_s {
    uint8_t kind;
    uint8_t sub; /* phase or counter index */
    uint16_t pad;
    int32_t tid;
    uint64_t t0, t1;
    uint64_t a, b;
} rec_t;

#define NRECS     16384                  /* 640 KiB of records */
#define OUTBUF    (64 * 1024)            /* formatting buffer */
#define FLUSH_NS  (200 * 1000 * 1000ULL) /* write at least every 200 ms of cycles */
#define MAX_NAMED 128

gmi_lock_t gmi_evtrace_lock = {PTHREAD_MUTEX_INITIALIZER};

static struct {
    _Atomic int active;
    int fd;
    int pid;
    int first;   /* no event written yet: no comma before the next one */
    rec_t *recs; /* NRECS records, mapped at the first start */
    size_t n;
    uint64_t dropped;
    uint64_t last_flush;
    char *out; /* OUTBUF bytes */
    size_t outlen;
    int io_error;
    int32_t named[MAX_NAMED]; /* tids that got a thread_name event */
    int nnamed;
    int32_t sweeper_tid;
} ev GMI_STATE;

static int32_t my_tid(void) {
    return (int32_t)syscall(SYS_gettid);
}

/* ---------------------------------------------------------------------------------
 * Output (gmi_evtrace_lock held)
 * ------------------------------------------------------------------------------- */

static void out_flush(void) {
    size_t off = 0;
    while (off < ev.outlen && !ev.io_error) {
        ssize_t w = write(ev.fd, ev.out + off, ev.outlen - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            ev.io_error = 1;
            break;
        }
        off += (size_t)w;
    }
    ev.outlen = 0;
}

/* out_event appends one formatted JSON object (with the separating comma); events
 * are under 1 KiB. A macro over gmi_snprintf, so the format is checked. */
static char *out_begin(void) {
    if (OUTBUF - ev.outlen < 1024) out_flush();
    if (!ev.first) {
        ev.out[ev.outlen++] = ',';
        ev.out[ev.outlen++] = '\n';
    }
    return ev.out + ev.outlen;
}

static void out_end(int m) {
    if (m > 0 && (size_t)m < OUTBUF - ev.outlen) ev.outlen += (size_t)m;
    ev.first = 0;
}

#define out_event(...)                                                                             \
    do {                                                                                           \
        char *p_ = out_begin();                                                                    \
        out_end(gmi_snprintf(p_, OUTBUF - ev.outlen, __VA_ARGS__));                                \
    } while (0)

/* Timestamps in microseconds since initialization, with ns precision: "%llu.%03llu". */
#define TS(t) (unsigned long long)(rel(t) / 1000), (unsigned long long)(rel(t) % 1000)
static uint64_t rel(uint64_t t) {
    return t > gmi_gc.start_ns ? t - gmi_gc.start_ns : 0;
}

static void name_thread(int32_t tid) {
    for (int i = 0; i < ev.nnamed; i++)
        if (ev.named[i] == tid) return;
    if (ev.nnamed < MAX_NAMED) ev.named[ev.nnamed++] = tid;
    if (tid == ev.sweeper_tid)
        out_event("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":"
                  "\"gomem background sweeper\"}}",
                  ev.pid, tid);
    else
        out_event("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":"
                  "\"thread %d\"}}",
                  ev.pid, tid, tid);
}

static void format_rec(const rec_t *r) {
    uint64_t d = r->t1 > r->t0 ? r->t1 - r->t0 : 0;
    unsigned long long dus = d / 1000, dns = d % 1000;
    if (r->kind != R_COUNTER) name_thread(r->tid);
    switch (r->kind) {
    case R_CYCLE:
        out_event("{\"name\":\"GC %llu\",\"cat\":\"gc\",\"ph\":\"X\",\"ts\":%llu.%03llu,"
                  "\"dur\":%llu.%03llu,\"pid\":%d,\"tid\":%d,\"args\":{\"forced\":%s,"
                  "\"marked\":%llu}}",
                  (unsigned long long)r->a, TS(r->t0), dus, dns, ev.pid, r->tid,
                  (r->b & 1) ? "true" : "false", (unsigned long long)(r->b >> 1));
        break;
    case R_PHASE:
        out_event("{\"name\":\"%s\",\"cat\":\"gc\",\"ph\":\"X\",\"ts\":%llu.%03llu,"
                  "\"dur\":%llu.%03llu,\"pid\":%d,\"tid\":%d,\"args\":{\"gc\":%llu}}",
                  phase_names[r->sub & 3], TS(r->t0), dus, dns, ev.pid, r->tid,
                  (unsigned long long)r->a);
        break;
    case R_STOPPED:
        out_event("{\"name\":\"stopped (GC %llu)\",\"cat\":\"stw\",\"ph\":\"X\",\"ts\":%llu.%03llu,"
                  "\"dur\":%llu.%03llu,\"pid\":%d,\"tid\":%d}",
                  (unsigned long long)r->a, TS(r->t0), dus, dns, ev.pid, r->tid);
        break;
    case R_SWEEP:
        out_event("{\"name\":\"sweep\",\"cat\":\"sweep\",\"ph\":\"X\",\"ts\":%llu.%03llu,"
                  "\"dur\":%llu.%03llu,\"pid\":%d,\"tid\":%d,\"args\":{\"spans\":%llu}}",
                  TS(r->t0), dus, dns, ev.pid, r->tid, (unsigned long long)r->a);
        break;
    case R_SCAV:
        out_event("{\"name\":\"scavenge\",\"cat\":\"scavenger\",\"ph\":\"X\",\"ts\":%llu.%03llu,"
                  "\"dur\":%llu.%03llu,\"pid\":%d,\"tid\":%d,\"args\":{\"released\":%llu}}",
                  TS(r->t0), dus, dns, ev.pid, r->tid, (unsigned long long)r->a);
        out_event("{\"name\":\"scavenger released %llu bytes\",\"cat\":\"scavenger\","
                  "\"ph\":\"i\",\"s\":\"p\",\"ts\":%llu.%03llu,\"pid\":%d,\"tid\":%d}",
                  (unsigned long long)r->a, TS(r->t1), ev.pid, r->tid);
        break;
    case R_COUNTER:
        out_event("{\"name\":\"%s\",\"cat\":\"heap\",\"ph\":\"C\",\"ts\":%llu.%03llu,\"pid\":%d,"
                  "\"args\":{\"bytes\":%llu}}",
                  counter_names[r->sub % NCOUNTERS], TS(r->t0), ev.pid, (unsigned long long)r->a);
        break;
    case R_FORCED:
        out_event("{\"name\":\"forced GC %llu (gm_collect)\",\"cat\":\"gc\",\"ph\":\"i\","
                  "\"s\":\"t\",\"ts\":%llu.%03llu,\"pid\":%d,\"tid\":%d}",
                  (unsigned long long)r->a, TS(r->t0), ev.pid, r->tid);
        break;
    }
}

static void flush_locked(void) {
    for (size_t i = 0; i < ev.n; i++)
        format_rec(&ev.recs[i]);
    ev.n = 0;
    out_flush();
    ev.last_flush = gmi_os_nanotime();
}

static rec_t *rec_new_locked(void) {
    if (ev.n == NRECS) {
        ev.dropped++;
        return NULL;
    }
    rec_t *r = &ev.recs[ev.n++];
    memset(r, 0, sizeof(*r));
    return r;
}

static void add_span(uint8_t kind, uint8_t sub, int32_t tid, uint64_t t0, uint64_t t1, uint64_t a,
                     uint64_t b) {
    rec_t *r = rec_new_locked();
    if (r == NULL) return;
    r->kind = kind;
    r->sub = sub;
    r->tid = tid;
    r->t0 = t0;
    r->t1 = t1;
    r->a = a;
    r->b = b;
}

/* ---------------------------------------------------------------------------------
 * Recording
 * ------------------------------------------------------------------------------- */

/* The threads a cycle stopped, listed under the registry lock. The array is kept
 * from cycle to cycle and doubled when a cycle finds more threads: only the thread
 * that runs a cycle (holding gmi_gc.lock) uses it. A thread that finds no memory
 * for its entry is counted as a dropped record. */
typedef struct stopped_s {
    int32_t self;
    size_t n;
    uint64_t lost;
} stopped_t;

static int32_t *stopped_tids;
static size_t stopped_cap;

static void collect_tid(gmi_thread_t *t, void *arg) {
    stopped_t *st = arg;
    if (t->internal || t->tid == st->self) return;
    if (st->n == stopped_cap) {
        size_t ncap = stopped_cap ? 2 * stopped_cap : 1024;
        int32_t *nt = gmi_os_reserve(ncap * sizeof *nt, 4096);
        if (nt == NULL) {
            st->lost++;
            return;
        }
        if (stopped_tids != NULL) {
            memcpy(nt, stopped_tids, st->n * sizeof *nt);
            gmi_os_unmap(stopped_tids, stopped_cap * sizeof *nt);
        }
        stopped_tids = nt;
        stopped_cap = ncap;
    }
    stopped_tids[st->n++] = t->tid;
}

/* sample_heap reads the counters that need the page heap lock (caller holds no lock
 * below it). */
static void sample_heap(uint64_t *inuse, uint64_t *released) {
    size_t sys, in, rel_, si, ss, other;
    gmi_lock(&gmi_heap_lock);
    gmi_heap_stats_locked(&sys, &in, &rel_, &si, &ss, &other);
    gmi_unlock(&gmi_heap_lock);
    *inuse = in;
    *released = rel_;
}

static void add_counters_locked(uint64_t t, const uint64_t *v, int n) {
    for (int i = 0; i < n; i++)
        add_span(R_COUNTER, (uint8_t)i, 0, t, t, v[i], 0);
}

void gmi_evtrace_cycle(const gmi_evtrace_cycle_t *c) {
    if (!atomic_load_explicit(&ev.active, memory_order_relaxed)) return;
    stopped_t st = {.self = my_tid()};
    gmi_lock(&gmi_threads_lock);
    gmi_threads_each(collect_tid, &st);
    gmi_unlock(&gmi_threads_lock);
    uint64_t v[NCOUNTERS];
    v[C_LIVE] = atomic_load(&gmi_gc.heap_live);
    v[C_GOAL] = c->goal;
    sample_heap(&v[C_INUSE], &v[C_RELEASED]);
    v[C_RSS] = gmi_os_rss();
    v[C_MARKED] = c->marked;

    gmi_lock(&gmi_evtrace_lock);
    if (!ev.active) {
        gmi_unlock(&gmi_evtrace_lock);
        return;
    }
    int32_t tid = st.self;
    uint64_t before = c->heap0;
    add_counters_locked(c->t_begin, &before, 1);
    if (c->forced) add_span(R_FORCED, 0, tid, c->t_begin, c->t_begin, c->num, 0);
    add_span(R_CYCLE, 0, tid, c->t_begin, c->t_end, c->num, (c->marked << 1) | (c->forced ? 1 : 0));
    add_span(R_PHASE, 0, tid, c->t_begin, c->t_stop, c->num, 0);
    add_span(R_PHASE, 1, tid, c->t_stop, c->t_stopped, c->num, 0);
    add_span(R_PHASE, 2, tid, c->t_stopped, c->t_marked, c->num, 0);
    add_span(R_PHASE, 3, tid, c->t_marked, c->t_end, c->num, 0);
    for (size_t i = 0; i < st.n; i++)
        add_span(R_STOPPED, 0, stopped_tids[i], c->t_stop, c->t_end, c->num, 0);
    ev.dropped += st.lost;
    add_counters_locked(c->t_end, v, NCOUNTERS);
    if (ev.n >= NRECS / 2 || c->t_end - ev.last_flush >= FLUSH_NS) flush_locked();
    gmi_unlock(&gmi_evtrace_lock);
}

void gmi_evtrace_sweep(uint64_t t0, uint64_t t1, uint64_t nspans) {
    if (nspans == 0 || !atomic_load_explicit(&ev.active, memory_order_relaxed)) return;
    int32_t tid = my_tid();
    gmi_lock(&gmi_evtrace_lock);
    ev.sweeper_tid = tid;
    if (ev.active) add_span(R_SWEEP, 0, tid, t0, t1, nspans, 0);
    gmi_unlock(&gmi_evtrace_lock);
}

void gmi_evtrace_scavenge(uint64_t t0, uint64_t t1, uint64_t bytes) {
    if (!atomic_load_explicit(&ev.active, memory_order_relaxed)) return;
    int32_t tid = my_tid();
    gmi_lock(&gmi_evtrace_lock);
    if (ev.active) add_span(R_SCAV, 0, tid, t0, t1, bytes, 0);
    gmi_unlock(&gmi_evtrace_lock);
}

/* ---------------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------------- */

static int trace_start(const char *path) {
    if (path == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* not truncated until this start is sure to be the one: a second start naming the
     * running trace's file emptied it under the running writer */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    uint64_t v[NCOUNTERS];
    v[C_LIVE] = atomic_load(&gmi_gc.heap_live);
    v[C_GOAL] = gmi_gc.pacer.heap_goal;
    sample_heap(&v[C_INUSE], &v[C_RELEASED]);
    v[C_RSS] = gmi_os_rss();
    gmi_lock(&gmi_evtrace_lock);
    int err = 0;
    if (ev.active) {
        err = EBUSY;
    } else if (ev.recs == NULL || ev.out == NULL) {
        if (ev.recs == NULL) ev.recs = gmi_os_reserve(NRECS * sizeof(rec_t), 4096);
        if (ev.out == NULL) ev.out = gmi_os_reserve(OUTBUF, 4096);
        if (ev.recs == NULL || ev.out == NULL) err = ENOMEM;
    }
    /* a regular file is emptied here; a pipe, FIFO or /dev/null cannot be, and need not */
    struct stat sb;
    if (err == 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && ftruncate(fd, 0) != 0)
        err = errno;
    if (err != 0) {
        gmi_unlock(&gmi_evtrace_lock);
        close(fd);
        errno = err;
        return -1;
    }
    ev.fd = fd;
    ev.pid = (int)getpid();
    ev.n = 0;
    ev.dropped = 0;
    ev.outlen = 0;
    ev.io_error = 0;
    ev.nnamed = 0;
    ev.first = 1;
    static const char head[] = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
    memcpy(ev.out, head, sizeof(head) - 1);
    ev.outlen = sizeof(head) - 1;
    out_event("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":\"gomem heap "
              "(pid %d)\"}}",
              ev.pid, ev.pid);
    add_counters_locked(gmi_os_nanotime(), v, C_RSS + 1);
    ev.last_flush = gmi_os_nanotime();
    atomic_store(&ev.active, 1);
    gmi_unlock(&gmi_evtrace_lock);
    return 0;
}

/* write_size_classes appends the occupancy of every size class in use as the top-level
 * key "gomemSizeClasses" (trace viewers ignore it; tools/gomem-report draws it):
 * [class, size, spans, partial spans, objects, slots, in use, free slot, tail, span]. */
static void write_size_classes_locked(const gm_size_class_usage_t *u) {
    static const char head[] = "\n],\"gomemSizeClasses\":[";
    if (OUTBUF - ev.outlen < 1024) out_flush();
    memcpy(ev.out + ev.outlen, head, sizeof(head) - 1);
    ev.outlen += sizeof(head) - 1;
    int first = 1;
    for (int c = 0; c < GM_NUM_SIZE_CLASSES; c++) {
        const gm_size_class_usage_t *e = &u[c];
        if (e->spans == 0) continue;
        if (OUTBUF - ev.outlen < 1024) out_flush();
        ev.outlen += (size_t)gmi_snprintf(
            ev.out + ev.outlen, OUTBUF - ev.outlen,
            "%s\n[%d,%u,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu]", first ? "" : ",", c, e->size,
            (unsigned long long)e->spans, (unsigned long long)e->partial_spans,
            (unsigned long long)e->objects, (unsigned long long)e->capacity_objects,
            (unsigned long long)e->inuse_bytes, (unsigned long long)e->free_slot_bytes,
            (unsigned long long)e->tail_waste_bytes, (unsigned long long)e->span_bytes);
        first = 0;
    }
}

static int trace_stop(void) {
    gm_size_class_usage_t u[GM_NUM_SIZE_CLASSES];
    gm_read_size_classes(u); /* stops the world: before taking the trace lock */
    uint64_t v[NCOUNTERS];
    v[C_LIVE] = atomic_load(&gmi_gc.heap_live);
    v[C_GOAL] = gmi_gc.pacer.heap_goal;
    sample_heap(&v[C_INUSE], &v[C_RELEASED]);
    v[C_RSS] = gmi_os_rss();
    gmi_lock(&gmi_evtrace_lock);
    if (!ev.active) {
        gmi_unlock(&gmi_evtrace_lock);
        errno = EINVAL;
        return -1;
    }
    add_counters_locked(gmi_os_nanotime(), v, C_RSS + 1);
    atomic_store(&ev.active, 0);
    flush_locked();
    write_size_classes_locked(u);
    char tail[128];
    int k = gmi_snprintf(tail, sizeof tail, "],\"otherData\":{\"droppedRecords\":\"%llu\"}}\n",
                         (unsigned long long)ev.dropped);
    if (OUTBUF - ev.outlen < sizeof tail) out_flush();
    memcpy(ev.out + ev.outlen, tail, (size_t)k);
    ev.outlen += (size_t)k;
    out_flush();
    int err = ev.io_error;
    close(ev.fd);
    ev.fd = -1;
    gmi_unlock(&gmi_evtrace_lock);
    if (err) {
        errno = EIO;
        return -1;
    }
    return 0;
}

static const char *env_trace_path; /* GOMEMTRACE, for the message at exit */

static void stop_at_exit(void) {
    if (atomic_load(&ev.active) && trace_stop() != 0)
        gmi_error("trace: cannot write GOMEMTRACE=%s: the file is incomplete (write error)",
                  env_trace_path);
}

void gmi_evtrace_init(void) {
    const char *p = gmi_getenv("GOMEMTRACE");
    if (p == NULL || p[0] == 0) return;
    env_trace_path = p;
    if (trace_start(p) != 0) {
        gmi_error("trace: cannot write GOMEMTRACE=%s (errno %d)", p, errno);
        return;
    }
    atexit(stop_at_exit);
}

void gmi_evtrace_fork_child(void) {
    gmi_lock_init(&gmi_evtrace_lock);
    if (atomic_load(&ev.active)) {
        atomic_store(&ev.active, 0);
        close(ev.fd); /* the parent's trace: the child does not write to it */
        ev.fd = -1;
    }
}

/* ---------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------- */

GM_API int gm_trace_start(const char *path) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    int cancel = gmi_nocancel_begin();
    int rc = trace_start(path);
    gmi_nocancel_end(cancel);
    return rc;
}

GM_API int gm_trace_stop(void) {
    if (!atomic_load(&gmi_initialized)) gmi_init_slow();
    int cancel = gmi_nocancel_begin();
    int rc = trace_stop();
    gmi_nocancel_end(cancel);
    return rc;
}
