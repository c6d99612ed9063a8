/* test_survive.c: live data survives. A linked list, a binary search tree, a hash
 * table of strings and an array of pointers to blobs of mixed sizes (small and large,
 * scanned and noscan) are mutated and verified against checksums across 200
 * collections, with garbage allocated (and scribbled on) between them: an object freed
 * while reachable is reused by the garbage and its checksum breaks. */
#include "api/gmtest.h"

#define ITERATIONS 200

static uint64_t rng = 12345;
static uint64_t rnd(uint64_t n) {
    return check_rand(&rng) % n;
}
static int failures_reported;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (failures_reported++ < 20) fprintf(stderr, __VA_ARGS__);                                \
    } while (0)

/* ---------------------------------------------------------------------------------
 * Linked list (a queue: pop at head, push at tail)
 * ------------------------------------------------------------------------------- */

struct lnode {
    struct lnode *next;
    uint64_t idx, val, chk;
};
static struct lnode *list_head, *list_tail;
static uint64_t list_count, list_sum, list_next_idx;

static uint64_t lval(uint64_t idx) {
    return idx * 0x9e3779b97f4a7c15ULL + 17;
}

static void list_push(void) {
    struct lnode *n = gm_alloc(sizeof *n);
    n->idx = list_next_idx++;
    n->val = lval(n->idx);
    n->chk = n->idx ^ n->val ^ 0xC0FFEE;
    if (list_tail)
        list_tail->next = n;
    else
        list_head = n;
    list_tail = n;
    list_count++;
    list_sum += n->val;
}

static void list_pop(int free_it) {
    struct lnode *n = list_head;
    list_head = n->next;
    if (!list_head) list_tail = NULL;
    list_count--;
    list_sum -= n->val;
    if (free_it) gm_free(n);
}

static void list_verify(int it) {
    uint64_t count = 0, sum = 0, expect_idx = list_head ? list_head->idx : 0;
    for (struct lnode *n = list_head; n; n = n->next) {
        if (gm_base(n) != n || n->idx != expect_idx || n->val != lval(n->idx) ||
            n->chk != (n->idx ^ n->val ^ 0xC0FFEE)) {
            FAIL("iteration %d: list node %llu corrupt\n", it, (unsigned long long)count);
            CHECK(!"list node corrupt");
            return;
        }
        expect_idx++;
        count++;
        sum += n->val;
        if (count > list_count) break;
    }
    CHECK_EQ(count, list_count);
    CHECK_EQ(sum, list_sum);
}

/* ---------------------------------------------------------------------------------
 * Binary search tree (unbalanced, random keys)
 * ------------------------------------------------------------------------------- */

struct tnode {
    struct tnode *left, *right;
    uint64_t key, val;
    char *name; /* noscan string, "k<key>" */
};
static struct tnode *tree_root;
static uint64_t tree_count, tree_keysum;
#define KEYSPACE 1000000

static uint64_t tval(uint64_t key) {
    return key * 2654435761u ^ 0xABCDEF;
}

static struct tnode *tree_insert(struct tnode *t, uint64_t key, int *added) {
    if (!t) {
        struct tnode *n = gm_alloc(sizeof *n);
        n->key = key;
        n->val = tval(key);
        n->name = gm_alloc_noscan(24);
        snprintf(n->name, 24, "k%llu", (unsigned long long)key);
        *added = 1;
        return n;
    }
    if (key < t->key)
        t->left = tree_insert(t->left, key, added);
    else if (key > t->key)
        t->right = tree_insert(t->right, key, added);
    return t;
}

static struct tnode *tree_delete(struct tnode *t, uint64_t key, int *removed) {
    if (!t) return NULL;
    if (key < t->key)
        t->left = tree_delete(t->left, key, removed);
    else if (key > t->key)
        t->right = tree_delete(t->right, key, removed);
    else {
        *removed = 1;
        if (!t->left) return t->right;
        if (!t->right) return t->left;
        struct tnode *m = t->right;
        while (m->left)
            m = m->left;
        /* move m's payload into t, then delete m from the right subtree */
        t->key = m->key;
        t->val = m->val;
        t->name = m->name;
        int dummy = 0;
        t->right = tree_delete(t->right, m->key, &dummy);
    }
    return t;
}

static void tree_walk(const struct tnode *t, uint64_t *count, uint64_t *sum, uint64_t *last,
                      int *bad) {
    if (!t || *bad) return;
    tree_walk(t->left, count, sum, last, bad);
    char want[24];
    snprintf(want, sizeof want, "k%llu", (unsigned long long)t->key);
    if (gm_base(t) != t || t->val != tval(t->key) || (*count && t->key <= *last) ||
        gm_base(t->name) != t->name || strcmp(t->name, want) != 0) {
        *bad = 1;
        return;
    }
    *last = t->key;
    (*count)++;
    *sum += t->key;
    tree_walk(t->right, count, sum, last, bad);
}

static void tree_verify(int it) {
    uint64_t count = 0, sum = 0, last = 0;
    int bad = 0;
    tree_walk(tree_root, &count, &sum, &last, &bad);
    if (bad) FAIL("iteration %d: tree corrupt after %llu nodes\n", it, (unsigned long long)count);
    CHECK(!bad);
    CHECK_EQ(count, tree_count);
    CHECK_EQ(sum, tree_keysum);
}

static void tree_mutate(int n) {
    for (int i = 0; i < n; i++) {
        uint64_t key = rnd(KEYSPACE);
        if (rnd(2)) {
            int added = 0;
            tree_root = tree_insert(tree_root, key, &added);
            if (added) {
                tree_count++;
                tree_keysum += key;
            }
        } else {
            int removed = 0;
            tree_root = tree_delete(tree_root, key, &removed);
            if (removed) {
                tree_count--;
                tree_keysum -= key;
            }
        }
    }
}

/* ---------------------------------------------------------------------------------
 * Hash table of strings (chained; buckets in a scanned gm_calloc array)
 * ------------------------------------------------------------------------------- */

#define NBUCKETS 4099
#define HMAXID   30000
struct hentry {
    struct hentry *next;
    char *key; /* noscan */
    uint64_t value;
};
static struct hentry **buckets;
static unsigned char *present; /* malloc'd: which ids are in the table */
static uint64_t hcount;

static void hkey(char *buf, size_t n, int id) {
    snprintf(buf, n, "string-key-%d-%s", id,
             (id % 7 == 0) ? "with-a-longer-tail-to-vary-sizes-xxxxxxxxxxxxxxxxxxxxxxxxxx" : "s");
}
static uint64_t hhash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
    return h;
}

static void hash_insert(int id) {
    char k[128];
    hkey(k, sizeof k, id);
    uint64_t h = hhash(k);
    struct hentry *e = gm_alloc(sizeof *e);
    size_t len = strlen(k);
    e->key = gm_alloc_noscan(len + 1);
    memcpy(e->key, k, len + 1);
    e->value = h ^ (uint64_t)id;
    e->next = buckets[h % NBUCKETS];
    buckets[h % NBUCKETS] = e;
    present[id] = 1;
    hcount++;
}

static void hash_delete(int id, int free_it) {
    char k[128];
    hkey(k, sizeof k, id);
    uint64_t h = hhash(k);
    struct hentry **pp = &buckets[h % NBUCKETS];
    while (*pp && strcmp((*pp)->key, k) != 0)
        pp = &(*pp)->next;
    if (!*pp) {
        CHECK(!"hash entry to delete not found");
        return;
    }
    struct hentry *e = *pp;
    *pp = e->next;
    present[id] = 0;
    hcount--;
    if (free_it) {
        gm_free(e->key);
        gm_free(e);
    }
}

static void hash_verify(int it) {
    uint64_t walked = 0;
    int bad = 0;
    for (int b = 0; b < NBUCKETS && !bad; b++)
        for (struct hentry *e = buckets[b]; e && walked <= hcount; e = e->next) {
            if (gm_base(e) != e || gm_base(e->key) != e->key ||
                hhash(e->key) % NBUCKETS != (uint64_t)b) {
                bad = 1;
                break;
            }
            walked++;
        }
    for (int id = 0; id < HMAXID && !bad; id++) {
        char k[128];
        hkey(k, sizeof k, id);
        uint64_t h = hhash(k);
        struct hentry *e = buckets[h % NBUCKETS];
        for (uint64_t steps = 0; e && strcmp(e->key, k) != 0 && steps <= hcount; steps++)
            e = e->next;
        if ((e != NULL) != present[id] || (e && e->value != (h ^ (uint64_t)id))) bad = 1;
    }
    if (bad) FAIL("iteration %d: hash table corrupt\n", it);
    CHECK(!bad);
    CHECK_EQ(walked, hcount);
}

/* ---------------------------------------------------------------------------------
 * Array of pointers to blobs of mixed sizes
 * ------------------------------------------------------------------------------- */

#define NBLOBS 10000
static void **blobs;        /* gm_alloc'd, scanned, large */
static size_t *blob_size;   /* malloc'd */
static uint64_t *blob_seed; /* malloc'd */
static unsigned char *blob_noscan;
static size_t *blob_dirty; /* bytes ever written into this object (a shrink keeps them) */
static uint64_t blob_seed_next = 1;

static size_t blob_random_size(void) {
    uint64_t r = rnd(1000);
    if (r < 3) return 32769 + rnd(1000000);
    if (r < 50) return 2048 + rnd(30000);
    return 1 + rnd(2000);
}

static void blob_new(int i) {
    size_t n = blob_random_size();
    int noscan = (int)rnd(2);
    void *p = noscan ? gm_alloc_noscan(n) : gm_alloc(n);
    if (!p) {
        CHECK(p != NULL);
        return;
    }
    if (!gmt_all_zero(p, n)) {
        FAIL("blob of %zu bytes not zeroed\n", n);
        CHECK(!"new blob not zeroed");
    }
    blob_seed[i] = blob_seed_next++;
    blob_size[i] = n;
    blob_noscan[i] = (unsigned char)noscan;
    blob_dirty[i] = n;
    gmt_fill(p, n, blob_seed[i]);
    blobs[i] = p;
}

static int blob_ok(int i) {
    void *p = blobs[i];
    return gm_base(p) == p && gm_usable_size(p) >= blob_size[i] &&
           gmt_verify(p, blob_size[i], blob_seed[i]) == GMT_OK;
}

static void blobs_verify(int it, int full) {
    int bad = 0;
    for (int i = 0; i < NBLOBS; i++) {
        if (!full && rnd(20) != 0) continue;
        if (!blob_ok(i)) {
            if (bad++ < 5)
                FAIL("iteration %d: blob %d (%zu bytes, %s) corrupt or freed\n", it, i,
                     blob_size[i], blob_noscan[i] ? "noscan" : "scan");
        }
    }
    CHECK_EQ(bad, 0);
}

static void blobs_mutate(void) {
    for (int k = 0; k < NBLOBS / 100; k++) {
        int i = (int)rnd(NBLOBS);
        switch (rnd(3)) {
        case 0: /* drop: the collector reclaims it */
            blob_new(i);
            break;
        case 1: /* explicit free */
            gm_free(blobs[i]);
            blob_new(i);
            break;
        default: { /* realloc: contents kept, the rest zero */
            size_t n = blob_random_size();
            uint8_t *q = gm_realloc(blobs[i], n);
            if (!q) {
                CHECK(q != NULL);
                break;
            }
            size_t keep = n < blob_size[i] ? n : blob_size[i];
            if (gmt_verify(q, keep, blob_seed[i]) != GMT_OK) {
                FAIL("realloc lost contents\n");
                CHECK(!"realloc lost contents");
            }
            /* bytes past everything ever written are zero ("past the old size": a
             * shrink that returned the object as is leaves its old bytes in place) */
            size_t dirty = blob_dirty[i] > blob_size[i] ? blob_dirty[i] : blob_size[i];
            if (n > dirty && !gmt_all_zero(q + dirty, n - dirty)) {
                FAIL("realloc %zu -> %zu (%s): tail not zero\n", blob_size[i], n,
                     q == blobs[i] ? "in place" : "moved");
                CHECK(!"realloc tail not zero");
            }
            if (n > blob_dirty[i]) blob_dirty[i] = n;
            if (q != blobs[i] && blob_dirty[i] > n)
                blob_dirty[i] =
                    gm_usable_size(q) < blob_dirty[i] ? gm_usable_size(q) : blob_dirty[i];
            blob_seed[i] = blob_seed_next++;
            blob_size[i] = n;
            gmt_fill(q, n, blob_seed[i]);
            blobs[i] = q;
        }
        }
    }
}

/* garbage: about 3 MiB of short-lived objects, checked zero and then scribbled on. */
static void make_garbage(void) {
    size_t total = 0;
    int bad = 0;
    while (total < (3u << 20)) {
        size_t n = blob_random_size();
        if (n > 300000) n = 300000;
        int kind = (int)rnd(3);
        uint8_t *p = kind == 0 ? gm_alloc_noscan(n) : kind == 1 ? gm_alloc(n) : gm_calloc(1, n);
        if (!p) {
            CHECK(p != NULL);
            return;
        }
        if (!gmt_all_zero(p, n)) bad++;
        memset(p, 0xAB, n);
        total += n;
    }
    if (bad) FAIL("%d garbage objects were not zeroed\n", bad);
    CHECK_EQ(bad, 0);
}

int main(void) {
    gm_init();
    double t0 = gmt_now();
    gm_memstats_t *ms = malloc(sizeof *ms);
    gm_read_memstats(ms);
    uint32_t gc0 = ms->num_gc;

    for (int i = 0; i < 20000; i++)
        list_push();
    tree_mutate(40000);
    buckets = gm_calloc(NBUCKETS, sizeof *buckets);
    present = calloc(HMAXID, 1);
    for (int id = 0; id < HMAXID; id += 2)
        hash_insert(id);
    blobs = gm_alloc(NBLOBS * sizeof(void *));
    blob_size = malloc(NBLOBS * sizeof *blob_size);
    blob_seed = malloc(NBLOBS * sizeof *blob_seed);
    blob_noscan = malloc(NBLOBS);
    blob_dirty = malloc(NBLOBS * sizeof *blob_dirty);
    for (int i = 0; i < NBLOBS; i++)
        blob_new(i);

    for (int it = 0; it < ITERATIONS; it++) {
        make_garbage();
        /* mutate everything a little */
        for (int k = 0; k < 200; k++) {
            list_pop(k & 1);
            list_push();
        }
        tree_mutate(300);
        for (int k = 0; k < 100; k++) {
            int id = (int)rnd(HMAXID);
            if (present[id])
                hash_delete(id, (int)rnd(2));
            else
                hash_insert(id);
        }
        blobs_mutate();
        make_garbage();
        gm_collect();
        list_verify(it);
        tree_verify(it);
        if (it % 10 == 0) hash_verify(it);
        blobs_verify(it, it % 20 == 19);
        if (failures_reported > 20) break;
    }
    list_verify(-1);
    tree_verify(-1);
    hash_verify(-1);
    blobs_verify(-1, 1);
    gm_read_memstats(ms);
    CHECK_GE(ms->num_gc - gc0, ITERATIONS);
    CHECK_GE(ms->num_forced_gc, ITERATIONS);
    CHECK_LE(ms->heap_alloc, 400u << 20);
    fprintf(stderr, "test_survive: %u collections, heap_alloc %llu MiB, %.1f s\n", ms->num_gc - gc0,
            (unsigned long long)(ms->heap_alloc >> 20), gmt_now() - t0);
    free(ms);
    return check_done();
}
