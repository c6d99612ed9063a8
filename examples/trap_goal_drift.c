/* trap_goal_drift.c: the trap of a heap goal that drifts upward as live data grows. */
/* With GOGC=100 the next collection starts when the heap reaches twice the live heap.
 * A cache that is never trimmed makes the live heap grow, so the goal, and with it the
 * memory the process may use before collecting, grows too: RSS follows the goal, not
 * the data the program actually needs. gctrace's "MB goal" column and
 * /gc/heap/goal:bytes show the drift; GOMEMLIMIT caps it. */
#include <gomem.h>
#include <stdio.h>

typedef struct entry {
    struct entry *next;
    char payload[200];
} entry_t;

entry_t *cache; /* grows forever: nothing is ever evicted */
void *volatile garbage_sink;

int main(void) {
    printf("trap: the heap goal follows the live heap up (run with GODEBUG=gctrace=1)\n");
    for (int phase = 0; phase < 8; phase++) {
        for (int i = 0; i < 20000; i++) { /* the cache keeps 20000 more entries */
            entry_t *e = gm_alloc(sizeof(entry_t));
            e->next = cache;
            cache = e;
        }
        for (int i = 0; i < 200000; i++)
            garbage_sink = gm_alloc(64); /* short-lived garbage */
        uint64_t live = 0, goal = 0, sys = 0;
        gm_metric_read("/gc/heap/live:bytes", &live);
        gm_metric_read("/gc/heap/goal:bytes", &goal);
        gm_metric_read("/memory/classes/total:bytes", &sys);
        printf("phase %d: live %5.1f MiB  goal %5.1f MiB  memory from the OS %5.1f MiB\n", phase,
               live / 1048576.0, goal / 1048576.0, sys / 1048576.0);
    }
    return 0;
}
