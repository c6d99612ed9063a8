/* freeloop.c: the explicit-free path, one thread, counted by callgrind.
 *
 * A window of 4096 objects of churn's sizes (16..512 bytes, weighted to the small end);
 * each step frees a random one (after reading its first word, as churn does) and puts a
 * new object of a random size in its place. One thread, so callgrind's counts are the
 * same on every run and every machine: instructions per free and per allocation, for
 * gomem and for the malloc back-ends side by side.
 *
 *   cmake --build build/release --target bench_freeloop        (gomem, in the build tree)
 *   valgrind --tool=callgrind build/release/bench/micro/bench_freeloop 1000000
 *   gcc -O2 -DBACKEND_JEMALLOC -Ibench bench/micro/freeloop.c -ljemalloc -pthread -ldl \
 *       -o /tmp/freeloop.jemalloc && valgrind --tool=callgrind /tmp/freeloop.jemalloc 1000000
 *
 * then `callgrind_annotate` gives gm_free / gm_alloc (or free / malloc) instructions;
 * divide by the step count. Usage: freeloop [steps]   (default 1000000) */
#include "../backend.h"

enum { WINDOW = 4096 };
static void *window[WINDOW];

static uint64_t *make(uint64_t r) {
    size_t size = bk_churn_sizes[r & 15];
    uint64_t *o = bk_check(bk_alloc(size), size);
    o[0] = r;
    o[size / 8 - 1] = ~r;
    return o;
}

int main(int argc, char **argv) {
    long steps = argc > 1 ? atol(argv[1]) : 1000000;
    if (steps < 1) {
        fprintf(stderr, "usage: freeloop [steps]\n");
        return 2;
    }
    bk_init();
    uint64_t rng = 88172645463325252ull, sum = 0, want = 0;
    for (int i = 0; i < WINDOW; i++) {
        uint64_t r = bk_xorshift(&rng);
        window[i] = make(r);
        want += r;
    }
    for (long n = 0; n < steps; n++) {
        uint64_t r = bk_xorshift(&rng);
        size_t slot = (r >> 8) % WINDOW;
        uint64_t *old = window[slot];
        sum += old[0];
        bk_free(old);
        window[slot] = make(r);
        want += r;
    }
    for (int i = 0; i < WINDOW; i++) {
        uint64_t *o = window[i];
        sum += o[0];
        bk_free(o);
    }
    return bk_result("freeloop", sum == want);
}
