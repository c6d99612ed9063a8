/* service.c: a service-like workload for the memory limit and the scavenger: a cache
 * of entries (a hash table of pointer-bearing nodes, each with a pointer-free value of
 * 256 B .. 16 KiB) under constant churn: every operation looks a random key up and, on
 * a miss, inserts a fresh entry and evicts a random one when the cache is over budget.
 * Phase 1 holds about 160 MiB of values; phase 2 (the phase change) shrinks the budget
 * to 40 MiB with the same churn, as a service whose working set falls. Reported: ops/s
 * per phase, peak RSS (VmHWM) and the steady RSS (mean of samples in the last half of
 * each phase). Build: see the "Service workload" section of bench/RESULTS.md. */
#include "backend.h"

#include <stdio.h>
#include <string.h>

#define NBUCKETS (1u << 16)

typedef struct entry_s {
    struct entry_s *next;
    uint64_t key;
    size_t len;
    unsigned char *val;
} entry_t;

static entry_t **table; /* a scanned root */
static uint64_t rng = 88172645463325252ull;
static size_t cache_bytes, nentries;

static uint64_t xs(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t rss_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t v = 0, n = strlen(field);
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, n)) v = (size_t)strtoull(line + n, NULL, 10);
    fclose(f);
    return v;
}

static void evict_one(void) {
    for (;;) {
        entry_t **pp = &table[xs() % NBUCKETS];
        if (*pp == NULL) continue;
        entry_t *e = *pp;
        *pp = e->next;
        cache_bytes -= e->len;
        nentries--;
        if (!BK_IS_GC) {
            bk_free(e->val);
            bk_free(e);
        }
        return;
    }
}

static double run_phase(const char *name, size_t budget, uint64_t ops, size_t keyspace) {
    uint64_t t0 = bk_now_ns();
    double rss_sum = 0;
    int rss_n = 0;
    for (uint64_t i = 0; i < ops; i++) {
        uint64_t key = xs() % keyspace;
        entry_t *e = table[key % NBUCKETS];
        while (e && e->key != key) e = e->next;
        if (e) {
            e->val[key % e->len] ^= 1; /* a hit touches the value */
        } else {
            size_t len = 256 + (xs() % 64) * 256;
            e = bk_alloc(sizeof *e);
            e->key = key;
            e->len = len;
            e->val = bk_alloc_atomic(len);
            memset(e->val, (int)key, len);
            e->next = table[key % NBUCKETS];
            table[key % NBUCKETS] = e;
            cache_bytes += len;
            nentries++;
            while (cache_bytes > budget) evict_one();
        }
        /* every request also makes short-lived garbage (a parsed request, a reply) */
        unsigned char *tmp = bk_alloc_atomic(512 + (i & 1023));
        tmp[0] = (unsigned char)i;
        if (!BK_IS_GC) bk_free(tmp);
        bk_poll();
        if ((i & 16383) == 0 && i >= ops / 2) {
            rss_sum += (double)rss_kib("VmRSS:");
            rss_n++;
        }
    }
    double secs = (double)(bk_now_ns() - t0) / 1e9;
    printf("%s %s: %.0f ops/s, %zu entries, %zu MiB cached, steady RSS %.0f MiB\n", BK_NAME, name,
           (double)ops / secs, nentries, cache_bytes >> 20, rss_n ? rss_sum / rss_n / 1024 : 0.0);
    return (double)ops / secs;
}

int main(int argc, char **argv) {
    bk_init();
    uint64_t ops = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;
    table = bk_alloc(NBUCKETS * sizeof(entry_t *));
    uint64_t t0 = bk_now_ns();
    double a = run_phase("phase1", (size_t)160 << 20, ops, 200000);
    double b = run_phase("phase2", (size_t)40 << 20, ops, 100000);
    double secs = (double)(bk_now_ns() - t0) / 1e9;
    bk_finish();
    printf("%s total: %.2f s, phase1 %.0f ops/s, phase2 %.0f ops/s, peak RSS %zu MiB, final RSS %zu MiB\n",
           BK_NAME, secs, a, b, rss_kib("VmHWM:") >> 10, rss_kib("VmRSS:") >> 10);
    return 0;
}
