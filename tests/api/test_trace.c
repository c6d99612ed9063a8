/* test_trace: gm_trace_start/gm_trace_stop write a Chrome trace event JSON file with
 * the cycles, their phases, counters and forced-cycle events. The JSON is validated
 * with python3's json module when python3 is present. Also: the "heap goal" counter
 * written after a cycle is the goal then in force (MemStats.NextGC); a trace goes to
 * a pipe or /dev/null as well as to a file; every stopped thread gets its span, past
 * any fixed number of threads. */
#include "gmtest.h"

#include <pthread.h>

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t r = fread(b, 1, (size_t)n, f);
    b[r] = 0;
    fclose(f);
    *len = r;
    return b;
}

static size_t count(const char *hay, const char *needle) {
    size_t k = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        k++;
    return k;
}

GMT_NOINLINE static void churn(int rounds) {
    for (int r = 0; r < rounds; r++) {
        void *keep[64];
        for (int i = 0; i < 20000; i++) {
            void *p = gm_alloc(16 + (size_t)(i % 200));
            keep[i % 64] = p;
        }
        (void)keep;
    }
}

/* goal_values collects the "heap goal" counters of a trace, in time order. */
static size_t goal_values(const char *s, uint64_t *out, size_t max) {
    double ts[256];
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, "\"name\":\"heap goal\"")) != NULL && n < max; p++) {
        const char *t = strstr(p, "\"ts\":"), *b = strstr(p, "\"bytes\":");
        if (t == NULL || b == NULL) break;
        double tv = strtod(t + 5, NULL);
        uint64_t bv = strtoull(b + 8, NULL, 10);
        size_t i = n++; /* insertion by time: the file is in order of flushes */
        while (i > 0 && ts[i - 1] > tv) {
            ts[i] = ts[i - 1];
            out[i] = out[i - 1];
            i--;
        }
        ts[i] = tv;
        out[i] = bv;
    }
    return n;
}

/* The goal counter after each cycle equals NextGC read after it. The live heap grows
 * by 4 MiB before each cycle, past the 8 MiB floor of GOGC=200, so every goal differs
 * from the one before (a counter one cycle behind fails). */
GMT_NOINLINE static void goal_counter_follows_next_gc(const char *path) {
    if (gmt_gcstress()) return;       /* cycles of its own would interleave */
    int old = gm_set_gc_percent(200); /* goal 3x live: no cycle but ours */
    enum { CYCLES = 6 };
    void **keep = calloc(CYCLES * 4, sizeof(void *));
    CHECK_EQ(gm_add_roots(keep, keep + CYCLES * 4), 0);
    uint64_t want[CYCLES], got[CYCLES + 8];
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    uint32_t gc0 = ms.num_gc;
    CHECK_EQ(gm_trace_start(path), 0);
    for (int c = 0; c < CYCLES; c++) {
        for (int i = 0; i < 4; i++)
            keep[c * 4 + i] = gm_alloc(1 << 20);
        gm_collect();
        gm_read_memstats(&ms);
        want[c] = ms.next_gc;
    }
    CHECK_EQ(gm_trace_stop(), 0);
    CHECK_EQ(ms.num_gc - gc0, (uint32_t)CYCLES);
    size_t len = 0;
    char *s = read_all(path, &len);
    CHECK(s != NULL);
    size_t n = s ? goal_values(s, got, CYCLES + 8) : 0;
    /* one counter at the start, one per cycle, one at the stop */
    CHECK_EQ(n, (size_t)CYCLES + 2);
    if (n == (size_t)CYCLES + 2) {
        for (int c = 0; c < CYCLES; c++) {
            CHECK_EQ(got[c + 1], want[c]);
            if (c > 0) CHECK(want[c] != want[c - 1]);
        }
    }
    free(s);
    gm_remove_roots(keep);
    free(keep);
    gm_set_gc_percent(old);
}

/* A trace written into a pipe: a reader thread drains it; the JSON arrives whole. */
struct pipe_reader {
    int fd;
    char *buf;
    size_t len, cap;
};

static void *drain_pipe(void *arg) {
    struct pipe_reader *r = arg;
    for (;;) {
        if (r->len + 65536 > r->cap) {
            r->cap = r->cap ? 2 * r->cap : 1 << 20;
            r->buf = realloc(r->buf, r->cap);
        }
        ssize_t k = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
        if (k <= 0) break;
        r->len += (size_t)k;
    }
    r->buf[r->len] = 0;
    return NULL;
}

GMT_NOINLINE static void trace_to_pipe_and_null(void) {
    CHECK_EQ(gm_trace_start("/dev/null"), 0);
    gm_collect();
    CHECK_EQ(gm_trace_stop(), 0);

    int pfd[2];
    CHECK_EQ(pipe(pfd), 0);
    struct pipe_reader r = {.fd = pfd[0]};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, drain_pipe, &r), 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", pfd[1]);
    CHECK_EQ(gm_trace_start(path), 0);
    gm_collect();
    gm_collect();
    CHECK_EQ(gm_trace_stop(), 0);
    close(pfd[1]);
    pthread_join(th, NULL);
    close(pfd[0]);
    CHECK(r.len > 100);
    CHECK(strncmp(r.buf, "{\"displayTimeUnit\"", 18) == 0);
    CHECK_GE(count(r.buf, "\"name\":\"mark\""), 2);
    CHECK(strstr(r.buf, "droppedRecords") != NULL);
    free(r.buf);
}

/* 80 threads wait through a collection: each gets its "stopped" span (a fixed table
 * of 64 dropped the rest without counting them). */
enum { WAITERS = 80 };
static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cv = PTHREAD_COND_INITIALIZER;
static int waiting, released;

static void *waiter(void *arg) {
    (void)arg;
    gm_free(gm_alloc(32)); /* registered with gomem */
    pthread_mutex_lock(&wait_mu);
    waiting++;
    pthread_cond_broadcast(&wait_cv);
    while (!released)
        pthread_cond_wait(&wait_cv, &wait_mu);
    pthread_mutex_unlock(&wait_mu);
    return NULL;
}

GMT_NOINLINE static void stopped_span_per_thread(const char *path) {
    pthread_t th[WAITERS];
    int made = 0;
    for (int i = 0; i < WAITERS; i++) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 256 << 10);
        if (pthread_create(&th[i], &at, waiter, NULL) == 0) made++;
        pthread_attr_destroy(&at);
    }
    CHECK_EQ(made, WAITERS);
    pthread_mutex_lock(&wait_mu);
    while (waiting < made)
        pthread_cond_wait(&wait_cv, &wait_mu);
    pthread_mutex_unlock(&wait_mu);
    CHECK_EQ(gm_trace_start(path), 0);
    gm_collect();
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    char name[64];
    snprintf(name, sizeof name, "\"name\":\"stopped (GC %u)\"", ms.num_gc);
    CHECK_EQ(gm_trace_stop(), 0);
    pthread_mutex_lock(&wait_mu);
    released = 1;
    pthread_cond_broadcast(&wait_cv);
    pthread_mutex_unlock(&wait_mu);
    for (int i = 0; i < made; i++)
        pthread_join(th[i], NULL);
    size_t len = 0;
    char *s = read_all(path, &len);
    CHECK(s != NULL);
    if (s) {
        CHECK_GE(count(s, name), (size_t)made);
        CHECK(strstr(s, "droppedRecords\":\"0\"") != NULL);
    }
    free(s);
}

int main(void) {
    char path[] = "/tmp/gomem_trace_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);

    CHECK_EQ(gm_trace_start(path), 0);
    CHECK(gm_trace_start(path) == -1 && errno == EBUSY);
    churn(50);
    gm_collect();
    gm_collect();
    gm_collect();
    CHECK(gm_free_os_memory() > 0); /* a scavenger event */
    /* a second start on the running trace's file, once some of it is written, must
     * leave the file alone (it emptied it: the JSON then began with NUL bytes) */
    usleep(250 * 1000); /* a cycle after FLUSH_NS writes the buffer out */
    gm_collect();
    CHECK(gm_trace_start(path) == -1 && errno == EBUSY);
    CHECK_EQ(gm_trace_stop(), 0);
    CHECK(gm_trace_stop() == -1 && errno == EINVAL);

    size_t len = 0;
    char *s = read_all(path, &len);
    CHECK(s != NULL && len > 100);
    if (s) {
        CHECK(strncmp(s, "{\"displayTimeUnit\"", 18) == 0);
        CHECK(strstr(s, "\"traceEvents\":[") != NULL);
        CHECK_GE(count(s, "\"name\":\"mark\""), 3);
        CHECK_GE(count(s, "\"name\":\"stop the world\""), 3);
        CHECK_GE(count(s, "\"name\":\"mark termination\""), 3);
        CHECK_GE(count(s, "\"name\":\"sweep termination\""), 3);
        CHECK_GE(count(s, "(gm_collect)"), 3);
        CHECK_GE(count(s, "\"name\":\"heap live\""), 3);
        CHECK_GE(count(s, "\"name\":\"heap goal\""), 3);
        CHECK_GE(count(s, "\"name\":\"RSS\""), 3);
        CHECK_GE(count(s, "\"name\":\"heap released\""), 3);
        CHECK_GE(count(s, "\"name\":\"heap in use\""), 3);
        CHECK_GE(count(s, "\"name\":\"scavenge\""), 1);
        CHECK(strstr(s, "\"ph\":\"C\"") != NULL);
        CHECK(strstr(s, "droppedRecords\":\"0\"") != NULL);
        const char *end = s + len;
        while (end > s && (end[-1] == '\n' || end[-1] == ' '))
            end--;
        CHECK(end > s && end[-1] == '}');
        free(s);
    }
    /* Validate the JSON and the event fields with Python when it is installed. */
    if (system("command -v python3 >/dev/null 2>&1") == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "python3 -c \"import json,sys; d=json.load(open('%s')); ev=d['traceEvents']; "
                 "assert all('ph' in e and 'name' in e for e in ev); "
                 "x=[e for e in ev if e['ph']=='X']; assert x and all(e['dur']>=0 for e in x); "
                 "assert any(e['name'].startswith('GC ') for e in x)\"",
                 path);
        CHECK_EQ(system(cmd), 0);
    }
    /* a second trace session after the first works, and a bad path fails cleanly */
    CHECK_EQ(gm_trace_start(path), 0);
    gm_collect();
    CHECK_EQ(gm_trace_stop(), 0);
    CHECK(gm_trace_start("/nonexistent-dir/x.json") == -1);
    goal_counter_follows_next_gc(path);
    trace_to_pipe_and_null();
    stopped_span_per_thread(path);
    unlink(path);
    return check_done();
}
