/* check.h: the tiny test harness of gomem's suite.
 * CHECK(cond) counts a passed or failed check and reports failures with file:line;
 * CHECK_EQ/CHECK_LE compare unsigned 64-bit values and print both on failure.
 * check_done() prints "N passed, N failed" (the line CI reads) and returns the exit code. */
#ifndef GM_CHECK_H
#define GM_CHECK_H
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

static int check_passed_, check_failed_;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (c) {                                                                                   \
            check_passed_++;                                                                       \
        } else {                                                                                   \
            check_failed_++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
        }                                                                                          \
    } while (0)

#define CHECK_CMP_(a, op, b)                                                                       \
    do {                                                                                           \
        unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);             \
        if (a_ op b_) {                                                                            \
            check_passed_++;                                                                       \
        } else {                                                                                   \
            check_failed_++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s %s %s (%llu vs %llu)\n", __FILE__, __LINE__,  \
                    #a, #op, #b, a_, b_);                                                          \
        }                                                                                          \
    } while (0)
#define CHECK_EQ(a, b) CHECK_CMP_(a, ==, b)
#define CHECK_LE(a, b) CHECK_CMP_(a, <=, b)
#define CHECK_LT(a, b) CHECK_CMP_(a, <, b)
#define CHECK_GE(a, b) CHECK_CMP_(a, >=, b)

static inline int check_done(void) {
    printf("%d passed, %d failed\n", check_passed_, check_failed_);
    fflush(stdout);
    return check_failed_ ? 1 : 0;
}

/* Deterministic random numbers for tests (splitmix64). */
static inline uint64_t check_rand(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
#endif
