/* trap_pool_growth.c: the trap of an object pool whose buffers keep growing. */
/* A pool reuses buffers to "save allocations", but a buffer grown for one big request
 * goes back to the pool at its grown size: after a while every pooled buffer has the
 * size of the largest request ever seen, and the live heap is pool_size x max_request
 * although most requests are small. gomem shows it: heap live (gctrace's third number,
 * /gc/heap/live:bytes) climbs in steps although the program's working set does not,
 * and the size-class report puts the bytes in the large class. The fix: drop buffers
 * above a cap instead of pooling them (or use gm_pool_*, which the collector clears). */
#include <gomem.h>
#include <stdio.h>
#include <string.h>

#define POOL 64
typedef struct buf {
    size_t cap;
    char *data;
} buf_t;

buf_t *pool[POOL]; /* a global: the pool is reachable */
static int npool;

static buf_t *get(size_t need) {
    buf_t *b = npool ? pool[--npool] : gm_alloc(sizeof(buf_t));
    if (b->cap < need) { /* grow, and never shrink: the trap */
        b->data = gm_realloc(b->data, need);
        b->cap = need;
    }
    return b;
}

static void put(buf_t *b) {
    if (npool < POOL) pool[npool++] = b;
}

int main(void) {
    printf("trap: a pool whose buffers keep growing\n");
    uint64_t live, seq = 1;
    for (int round = 0; round < 8; round++) {
        for (int batch = 0; batch < 300; batch++) {
            /* 64 requests in flight; mostly 1 KiB, one in 2000 needs 256 KiB */
            buf_t *held[POOL];
            for (int k = 0; k < POOL; k++) {
                seq = seq * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t need = (seq >> 33) % 2000 == 0 ? 256 * 1024 : 1024;
                held[k] = get(need);
                memset(held[k]->data, k, need);
            }
            for (int k = 0; k < POOL; k++)
                put(held[k]);
        }
        gm_collect();
        gm_metric_read("/gc/heap/live:bytes", &live);
        printf("round %d: heap live after a collection %6.1f MiB (requests are mostly 1 KiB)\n",
               round, live / 1048576.0);
    }
    printf("\nsize classes: the pooled buffers sit in the large class\n");
    gm_write_size_class_report(stdout);
    return 0;
}
