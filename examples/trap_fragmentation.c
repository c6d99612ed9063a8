/* trap_fragmentation.c: the trap of fragmentation from mixed object sizes. */
/* The program allocates a burst of objects of many sizes with no collection in
 * between (a load phase, or a large GOGC), then keeps only one in sixteen (a
 * long-lived index over short-lived records). Each survivor pins its whole span: after
 * the collection the heap stays as big as at its peak although the live data is a
 * sixteenth of the objects, and no other size class can reuse the holes.
 * gm_write_size_class_report shows it: every span of every class partly empty, about 8
 * MiB in use in 53 MiB of spans (15% occupancy), and the "lost to partly empty spans"
 * total next to the bytes in use. (With collections during the burst, their freed
 * slots are reused by the burst itself and occupancy ends nearer 60%: the trap is the
 * burst.) */
#include <gomem.h>
#include <stdio.h>

#define N 200000
void *fragment_keep[N / 16]; /* a global: the survivors are reachable */

int main(void) {
    printf("trap: fragmentation from mixed object sizes\n");
    static const size_t sizes[] = {24, 48, 96, 200, 320, 640, 1200, 2500};
    int k = 0;
    int gogc = gm_set_gc_percent(-1); /* the burst: no collection until it ends */
    for (int i = 0; i < N; i++) {
        void *p = gm_alloc(sizes[i % 8]);
        if ((i / 8) % 16 == 0) fragment_keep[k++] = p; /* one in sixteen of each size survives */
    }
    gm_set_gc_percent(gogc);
    gm_collect();
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    printf("live objects %llu, heap in use %.1f MiB, of which allocated %.1f MiB\n\n",
           (unsigned long long)ms.heap_objects, ms.heap_inuse / 1048576.0,
           ms.heap_alloc / 1048576.0);
    gm_write_size_class_report(stdout);
    printf("\n(%d survivors keep their spans alive; compare 'in use' with 'span')\n", k);
    return 0;
}
