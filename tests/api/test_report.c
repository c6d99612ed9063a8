/* test_report: gm_read_size_classes / gm_write_size_class_report count objects and
 * fragmentation per size class; gm_metrics partitions Sys as Go's /memory/classes. */
#include "gmtest.h"

#define N 4096
static void *objs[N];
static void *bigs[4];

static unsigned class_of(size_t size, gm_size_class_usage_t *u) {
    for (unsigned c = 1; c < GM_NUM_SIZE_CLASSES; c++)
        if (u[c].size >= size) return c;
    return 0;
}

int main(void) {
    gm_set_gc_percent(-1); /* nothing is collected behind the test's back */
    gm_size_class_usage_t before[GM_NUM_SIZE_CLASSES], after[GM_NUM_SIZE_CLASSES];
    gm_read_size_classes(before);
    unsigned c = class_of(96, before);
    CHECK_EQ(before[c].size, 96);
    for (int i = 0; i < N; i++)
        objs[i] = gm_alloc(96);
    for (int i = 0; i < 4; i++)
        bigs[i] = gm_alloc(100000);
    gm_read_size_classes(after);
    CHECK_GE(after[c].objects - before[c].objects, N);
    CHECK_GE(after[c].spans, before[c].spans + N * 96 / 8192);
    CHECK_GE(after[0].objects, before[0].objects + 4);
    CHECK_EQ(after[c].capacity_bytes, after[c].capacity_objects * 96);
    CHECK_EQ(after[c].span_bytes, after[c].capacity_bytes + after[c].tail_waste_bytes);
    CHECK_EQ(after[c].free_slot_bytes, after[c].capacity_bytes - after[c].inuse_bytes);
    uint64_t free0 = after[c].free_slot_bytes;

    /* free every other object: half of each span becomes holes */
    for (int i = 0; i < N; i += 2)
        gm_free(objs[i]);
    gm_read_size_classes(after);
    CHECK_GE(after[c].free_slot_bytes, free0 + (N / 2) * 96);
    CHECK_GE(after[c].partial_spans, N * 96 / 8192 - 1);

    char path[] = "/tmp/gomem_report_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w+");
    CHECK(f != NULL);
    CHECK_EQ(gm_write_size_class_report(f), 0);
    rewind(f);
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    unlink(path);
    CHECK(strstr(buf, "# gomem size classes") != NULL);
    CHECK(strstr(buf, "large") != NULL);
    CHECK(strstr(buf, "lost to partly empty spans") != NULL);
    char want[32];
    snprintf(want, sizeof want, "%5u %6u ", c, 96u);
    CHECK(strstr(buf, want) != NULL);
    fputs(buf, stdout);
    CHECK(gm_write_size_class_report(NULL) == -1);

    /* metrics */
    size_t nm = gm_metrics(NULL, 0);
    CHECK_GE(nm, 30);
    gm_metric_t m[64];
    CHECK_EQ(gm_metrics(m, 64), nm);
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    uint64_t total = 0, sum = 0, v = 0;
    for (size_t i = 0; i < nm; i++) {
        printf("%-48s %llu\n", m[i].name, (unsigned long long)m[i].value);
        if (strncmp(m[i].name, "/memory/classes/", 16) == 0) {
            if (strcmp(m[i].name, "/memory/classes/total:bytes") == 0)
                total = m[i].value;
            else if (strcmp(m[i].name, "/memory/classes/heap/released:bytes") != 0)
                sum += m[i].value;
        }
    }
    CHECK_EQ(total, sum);
    CHECK_EQ(total, ms.sys);
    CHECK_EQ(gm_metric_read("/gc/heap/allocs:objects", &v), 0);
    CHECK_GE(v, N);
    CHECK_EQ(gm_metric_read("/gc/gogc:percent", &v), 0);
    CHECK_EQ(v, 0);
    gm_set_gc_percent(100);
    CHECK_EQ(gm_metric_read("/gc/gogc:percent", &v), 0);
    CHECK_EQ(v, 100);
    gm_collect();
    CHECK_EQ(gm_metric_read("/gc/cycles/forced:gc-cycles", &v), 0);
    CHECK_GE(v, 1);
    CHECK_EQ(gm_metric_read("/gc/heap/live:bytes", &v), 0);
    CHECK_GE(v, (N / 2) * 96);
    CHECK(gm_metric_read("/no/such:metric", &v) == -1 && errno == ENOENT);
    CHECK(bigs[0] != NULL && objs[1] != NULL);
    return check_done();
}
