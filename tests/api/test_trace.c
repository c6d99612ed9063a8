/* test_trace: gm_trace_start/gm_trace_stop write a Chrome trace event JSON file with
 * the cycles, their phases, counters and forced-cycle events. The JSON is validated
 * with python3's json module when python3 is present. */
#include "gmtest.h"

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
    unlink(path);
    return check_done();
}
