/* trap_queue_retention.c: the trap of a queue that keeps references to consumed items. */
/* A ring-buffer queue advances its head when an item is consumed but leaves the
 * pointer in the slot. With a garbage collector that slot keeps the consumed item, and
 * everything the item points to, alive until the slot is overwritten: a queue sized for
 * bursts retains the last burst forever. gm_explain shows the chain that holds a
 * consumed item: the global queue, its slot array, the item. Fix: clear the slot
 * (q->slot[head] = NULL) when consuming. */
#include <gomem.h>
#include <stdio.h>
#include <string.h>

typedef struct item {
    char *body; /* 16 KiB each */
    int id;
} item_t;

typedef struct queue {
    item_t **slot;
    size_t cap, head, tail;
} queue_t;

queue_t *work_queue; /* a global: a root */

static void push(item_t *it) {
    work_queue->slot[work_queue->tail++ % work_queue->cap] = it;
}

static item_t *pop(void) {
    item_t *it = work_queue->slot[work_queue->head++ % work_queue->cap];
    /* the trap: the slot still points at it (fix: slot[...] = NULL) */
    return it;
}

static __attribute__((noinline)) void burst(int n) {
    for (int i = 0; i < n; i++) {
        item_t *it = gm_alloc(sizeof(item_t));
        it->body = gm_alloc_noscan(16 * 1024);
        it->id = i;
        push(it);
    }
}

static __attribute__((noinline)) uintptr_t consume_all(void) {
    uintptr_t one = 0;
    while (work_queue->head < work_queue->tail) {
        item_t *it = pop();
        memset(it->body, 0, 16);                             /* "process" it */
        if (it->id == 7) one = (uintptr_t)it->body ^ 0x5555; /* remember one, hidden */
    }
    return one;
}

int main(void) {
    printf("trap: a queue that keeps references to consumed items\n");
    work_queue = gm_alloc(sizeof(queue_t));
    work_queue->cap = 4096;
    work_queue->slot = gm_alloc(work_queue->cap * sizeof(item_t *));
    burst(4000);
    uintptr_t hidden = consume_all();
    gm_collect();
    uint64_t live = 0;
    gm_metric_read("/gc/heap/live:bytes", &live);
    printf("queue empty, yet heap live after a collection: %.1f MiB\n", live / 1048576.0);
    printf("why is a consumed item's body still alive?\n");
    gm_explain((void *)(hidden ^ 0x5555), stdout);
    return 0;
}
