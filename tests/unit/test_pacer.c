/* test_pacer.c: table-driven pacer scenarios (in the spirit of Go's TestGcPacer).
 * Every expected goal and trigger below was worked out by hand from the formulas in
 * pacer.c's header; the comments show the arithmetic. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "pacer.h"

#define KiB     ((uint64_t)1 << 10)
#define MiB     ((uint64_t)1 << 20)
#define GiB     ((uint64_t)1 << 30)
#define NONE    UINT64_MAX
#define NOLIMIT INT64_MAX

typedef struct scenario_s {
    const char *name;
    int gogc;
    int64_t limit;
    uint64_t marked, stack, globals;
    int has_mem;
    gmi_pacer_mem_t mem;
    uint64_t want_goal, want_trigger;
    int want_limit_bound;
} scenario_t;

static const scenario_t scenarios[] = {
    /* Empty heap: goal = 4 MiB x GOGC/100; trigger = goal/64*61 (goal - 4 MiB is not
     * larger below 4 MiB + 85 MiB of distance). */
    {"empty GOGC=100", 100, NOLIMIT, 0, 0, 0, 0, {0, 0, 0}, 4 * MiB, 3997696, 0},
    {"empty GOGC=50", 50, NOLIMIT, 0, 0, 0, 0, {0, 0, 0}, 2 * MiB, 1998848, 0},
    {"empty GOGC=200", 200, NOLIMIT, 0, 0, 0, 0, {0, 0, 0}, 8 * MiB, 7995392, 0},
    {"empty GOGC=0", 0, NOLIMIT, 0, 0, 0, 0, {0, 0, 0}, 0, 0, 0},
    {"empty GOGC=off", -1, NOLIMIT, 0, 0, 0, 0, {0, 0, 0}, NONE, NONE, 0},

    /* gctrace example line 1 (§6.2): its GOAL 104 MB came from the cycle before, which
     * found M = 51.5 MiB (printed "51") and S = 1 MiB: 51.5 + (51.5 + 1 + 0) = 104 MiB.
     * Trigger: 51.5 MiB + (52.5 MiB / 64) x 61 = 54001664 + 860160 x 61. */
    {"gctrace line 1 goal",
     100,
     NOLIMIT,
     54001664,
     1 * MiB,
     0,
     0,
     {0, 0, 0},
     104 * MiB,
     106471424,
     0},
    /* Line 2's GOAL 105 MB: after line 1, M = 52 MiB, S = 1 MiB: 52 + 53 = 105 MiB.
     * Trigger: 52 MiB + (53 MiB / 64) x 61 = 54525952 + 52969472. */
    {"gctrace line 2 goal",
     100,
     NOLIMIT,
     52 * MiB,
     1 * MiB,
     0,
     0,
     {0, 0, 0},
     105 * MiB,
     107495424,
     0},
    /* And the goal after line 2: 12 + (12 + 1) = 25 MiB; trigger 12 MiB + 13 MiB/64*61. */
    {"after gctrace line 2",
     100,
     NOLIMIT,
     12 * MiB,
     1 * MiB,
     0,
     0,
     {0, 0, 0},
     25 * MiB,
     25575424,
     0},
    /* Large heap: 1000 + 1000 = 2000 MiB. 61/64 point = 2048000000 < goal - 4 MiB. */
    {"large heap: goal - 4 MiB",
     100,
     NOLIMIT,
     1000 * MiB,
     0,
     0,
     0,
     {0, 0, 0},
     2000 * MiB,
     2000 * MiB - 4 * MiB,
     0},
    /* GOGC=50 with stacks and globals: 100 + (100 + 2 + 2) x 0.5 = 152 MiB;
     * trigger 100 MiB + (52 MiB / 64) x 61 = 104857600 + 51970048. */
    {"GOGC=50 stacks+globals",
     50,
     NOLIMIT,
     100 * MiB,
     2 * MiB,
     2 * MiB,
     0,
     {0, 0, 0},
     152 * MiB,
     156827648,
     0},
    /* GOGC=200: 10 + (10 + 0 + 1) x 2 = 32 MiB; trigger 10 MiB + (22 MiB/64) x 61. */
    {"GOGC=200 globals", 200, NOLIMIT, 10 * MiB, 0, 1 * MiB, 0, {0, 0, 0}, 32 * MiB, 32473088, 0},
    /* Small heaps hit the minimum: 1 + 1 = 2 MiB < 4 MiB; trigger 1 MiB + (3 MiB/64)*61. */
    {"minimum GOGC=100", 100, NOLIMIT, 1 * MiB, 0, 0, 0, {0, 0, 0}, 4 * MiB, 4046848, 0},
    /* 512 KiB + 256 KiB < 2 MiB minimum; trigger 512 KiB + (1.5 MiB/64) x 61. */
    {"minimum GOGC=50", 50, NOLIMIT, 512 * KiB, 0, 0, 0, {0, 0, 0}, 2 * MiB, 2023424, 0},
    /* GOGC=0: goal = M (minimum 0), M >= goal so trigger = goal. */
    {"GOGC=0 live heap", 0, NOLIMIT, 10 * MiB, 1 * MiB, 0, 0, {0, 0, 0}, 10 * MiB, 10 * MiB, 0},
    {"GOGC=off live heap", -1, NOLIMIT, 10 * MiB, 1 * MiB, 0, 0, {0, 0, 0}, NONE, NONE, 0},

    /* Memory limit 100 MiB, no other memory: g = 100 MiB, headroom = g/100*3 = 3 MiB,
     * goal 97 MiB < GOGC goal 100 MiB. Trigger 50 MiB + (47 MiB/64) x 61. */
    {"limit binds", 100, 100 * MiB, 50 * MiB, 0, 0, 0, {0, 0, 0}, 97 * MiB, 99401728, 1},
    /* Limit 200 MiB, mapped 150, free 20, alloc 100: non-heap 30 MiB, g = 170 MiB,
     * headroom 178257920/100*3 = 5347737, limit goal 172910183 > GOGC goal 160 MiB. */
    {"limit above GOGC goal",
     100,
     200 * MiB,
     80 * MiB,
     0,
     0,
     1,
     {150 * MiB, 20 * MiB, 100 * MiB},
     160 * MiB,
     163840000,
     0},
    /* Limit below the live heap: non-heap 5 MiB, overage 56 MiB, g = 3 MiB, headroom
     * 1 MiB -> 2 MiB, raised to M = 100 MiB; M >= goal -> trigger = goal. */
    {"limit below live heap",
     100,
     64 * MiB,
     100 * MiB,
     0,
     0,
     1,
     {120 * MiB, 10 * MiB, 105 * MiB},
     100 * MiB,
     100 * MiB,
     1},
    /* Non-heap + overage exceed the limit: goal = M. */
    {"limit exhausted",
     100,
     64 * MiB,
     100 * MiB,
     0,
     0,
     1,
     {200 * MiB, 10 * MiB, 105 * MiB},
     100 * MiB,
     100 * MiB,
     1},
    /* GOGC off with a 1 GiB limit: g = 1 GiB - 1073741824/100*3 = 1041529570.
     * Trigger: goal - 4 MiB (larger than 100 MiB + 936671970/64*61 = 997623039). */
    {"GOGC=off + limit",
     -1,
     (int64_t)GiB,
     100 * MiB,
     0,
     0,
     0,
     {0, 0, 0},
     1041529570,
     1041529570 - 4 * MiB,
     1},
    /* A limit of 1.5 MiB: g - 1 MiB headroom < headroom, so goal = headroom = 1 MiB. */
    {"tiny limit", 100, 3 * (int64_t)MiB / 2, 0, 0, 0, 0, {0, 0, 0}, 1 * MiB, 999424, 1},
    /* Limit of 0: nothing fits; goal = M. */
    {"zero limit", 100, 0, 3 * MiB, 0, 0, 0, {0, 0, 0}, 3 * MiB, 3 * MiB, 1},
};

static void test_scenarios(void) {
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        const scenario_t *sc = &scenarios[i];
        gmi_pacer_t p;
        gmi_pacer_init(&p, sc->gogc, sc->limit);
        gmi_pacer_end_cycle(&p, sc->marked, sc->marked / 2, sc->stack, sc->globals,
                            sc->has_mem ? &sc->mem : NULL);
        int ok = p.heap_goal == sc->want_goal && p.trigger == sc->want_trigger &&
                 p.limit_bound == (sc->want_limit_bound != 0);
        if (!ok)
            fprintf(stderr, "scenario \"%s\": goal %llu trigger %llu bound %d\n", sc->name,
                    (unsigned long long)p.heap_goal, (unsigned long long)p.trigger, p.limit_bound);
        CHECK_EQ(p.heap_goal, sc->want_goal);
        CHECK_EQ(p.trigger, sc->want_trigger);
        CHECK_EQ(p.limit_bound, sc->want_limit_bound);
        CHECK_LE(p.trigger, p.heap_goal);
        CHECK_EQ(p.heap_scan, sc->marked / 2);
    }
}

static void test_init_and_cycles(void) {
    gmi_pacer_t p;
    gmi_pacer_init(&p, 100, NOLIMIT);
    CHECK_EQ(p.heap_goal, 4 * MiB);
    CHECK_EQ(p.last_heap_goal, 4 * MiB);

    /* The cycle is paced against the goal at its start; gctrace prints that one. */
    gmi_pacer_start_cycle(&p);
    gmi_pacer_end_cycle(&p, 52 * MiB, 40 * MiB, 1 * MiB, 0, NULL);
    CHECK_EQ(p.last_heap_goal, 4 * MiB);
    CHECK_EQ(p.heap_goal, 105 * MiB);
    gmi_pacer_start_cycle(&p);
    CHECK_EQ(p.last_heap_goal, 105 * MiB);
    gmi_pacer_end_cycle(&p, 12 * MiB, 10 * MiB, 1 * MiB, 0, NULL);
    CHECK_EQ(p.last_heap_goal, 105 * MiB);
    CHECK_EQ(p.heap_goal, 25 * MiB);

    /* Negative settings at init mean off. */
    gmi_pacer_init(&p, -7, -1);
    CHECK_EQ(p.gc_percent, -1);
    CHECK(p.memory_limit == NOLIMIT);
    CHECK_EQ(p.heap_goal, NONE);
    CHECK_EQ(p.trigger, NONE);

    /* init with a limit below the minimum: the limit wins at once. */
    gmi_pacer_init(&p, 100, 3 * (int64_t)MiB);
    CHECK_EQ(p.heap_goal, 2 * MiB); /* 3 MiB - 1 MiB headroom */
    CHECK_EQ(p.limit_bound, 1);
}

static void test_setters(void) {
    gmi_pacer_t p;
    gmi_pacer_init(&p, 100, NOLIMIT);
    gmi_pacer_end_cycle(&p, 52 * MiB, 40 * MiB, 1 * MiB, 0, NULL);
    CHECK_EQ(gmi_pacer_set_gc_percent(&p, 50, NULL), 100);
    CHECK_EQ(p.heap_goal, 52 * MiB + 53 * MiB / 2);
    CHECK_EQ(gmi_pacer_set_gc_percent(&p, -5, NULL), 50);
    CHECK_EQ(p.gc_percent, -1);
    CHECK_EQ(p.heap_goal, NONE);
    CHECK_EQ(gmi_pacer_set_gc_percent(&p, 100, NULL), -1);
    CHECK_EQ(p.heap_goal, 105 * MiB);

    CHECK(gmi_pacer_set_memory_limit(&p, -1, NULL) == NOLIMIT); /* query only */
    CHECK_EQ(p.heap_goal, 105 * MiB);
    CHECK(gmi_pacer_set_memory_limit(&p, 100 * (int64_t)MiB, NULL) == NOLIMIT);
    CHECK_EQ(p.heap_goal, 97 * MiB);
    CHECK_EQ(p.limit_bound, 1);
    CHECK(gmi_pacer_set_memory_limit(&p, NOLIMIT, NULL) == 100 * (int64_t)MiB);
    CHECK_EQ(p.heap_goal, 105 * MiB);
    CHECK_EQ(p.limit_bound, 0);
}

static void test_goal_functions(void) {
    gmi_pacer_t p;
    gmi_pacer_init(&p, 100, 200 * (int64_t)MiB);
    p.heap_marked = 80 * MiB;
    gmi_pacer_mem_t mem = {150 * MiB, 20 * MiB, 100 * MiB};
    CHECK_EQ(gmi_pacer_gogc_goal(&p), 160 * MiB);
    CHECK_EQ(gmi_pacer_limit_goal(&p, &mem), 172910183);
    /* heap_free + heap_alloc above mapped_ready (racy reads): non-heap counts as 0. */
    gmi_pacer_mem_t odd = {100 * MiB, 60 * MiB, 60 * MiB};
    CHECK_EQ(gmi_pacer_limit_goal(&p, &odd), 200 * MiB - 6 * MiB);
    p.memory_limit = NOLIMIT;
    CHECK_EQ(gmi_pacer_limit_goal(&p, &mem), NONE);
}

/* Sweep-distance floor (Go's sweepDistMinTrigger): GOGC=0 with heap_live + 1 MiB. */
static void test_sweep_floor(void) {
    gmi_pacer_t p;
    gmi_pacer_init(&p, 0, NOLIMIT);
    p.sweep_dist_min_trigger = 11 * MiB;
    gmi_pacer_end_cycle(&p, 10 * MiB, 0, 0, 0, NULL);
    CHECK_EQ(p.heap_goal, 11 * MiB);
    CHECK_EQ(p.trigger, 11 * MiB);
    /* GOGC=100, 4 MiB live: floor 9 MiB above the 8 MiB goal raises goal and trigger. */
    gmi_pacer_init(&p, 100, NOLIMIT);
    p.sweep_dist_min_trigger = 9 * MiB;
    gmi_pacer_end_cycle(&p, 4 * MiB, 0, 0, 0, NULL);
    CHECK_EQ(p.heap_goal, 9 * MiB);
    CHECK_EQ(p.trigger, 9 * MiB);
    /* The floor is not applied to a goal set by the memory limit. */
    gmi_pacer_init(&p, 100, 20 * (int64_t)MiB);
    p.sweep_dist_min_trigger = 50 * MiB;
    gmi_pacer_end_cycle(&p, 10 * MiB, 0, 0, 0, NULL);
    CHECK_EQ(p.heap_goal, 19 * MiB);
    CHECK_EQ(p.limit_bound, 1);
    CHECK_LE(p.trigger, 19 * MiB);
}

/* Random inputs: invariants hold and nothing wraps, including GOGC near INT_MAX. */
static void test_invariants(void) {
    uint64_t seed = 42;
    for (int i = 0; i < 200000; i++) {
        gmi_pacer_t p;
        int gogc;
        switch (check_rand(&seed) % 5) {
        case 0:
            gogc = -1;
            break;
        case 1:
            gogc = 0;
            break;
        case 2:
            gogc = 2147483647;
            break;
        default:
            gogc = (int)(check_rand(&seed) % 1000);
            break;
        }
        int64_t limit = check_rand(&seed) % 3
                            ? INT64_MAX
                            : (int64_t)(check_rand(&seed) >> (1 + check_rand(&seed) % 63));
        gmi_pacer_init(&p, gogc, limit);
        uint64_t shift = check_rand(&seed) % 64;
        uint64_t m = check_rand(&seed) >> shift;
        uint64_t s = check_rand(&seed) >> (check_rand(&seed) % 64);
        uint64_t g = check_rand(&seed) >> (check_rand(&seed) % 64);
        gmi_pacer_mem_t mem = {check_rand(&seed) >> (check_rand(&seed) % 64),
                               check_rand(&seed) >> (check_rand(&seed) % 64),
                               check_rand(&seed) >> (check_rand(&seed) % 64)};
        gmi_pacer_end_cycle(&p, m, m, s, g, check_rand(&seed) % 2 ? &mem : NULL);
        int ok = p.trigger <= p.heap_goal;
        if (p.heap_goal != NONE) {
            ok = ok && (p.heap_goal >= m || p.heap_goal == UINT64_MAX);
            ok = ok && p.trigger >= (m < p.heap_goal ? m : p.heap_goal);
        } else {
            /* No goal: both knobs off, or the GOGC goal saturated past 2^64. */
            ok = ok && p.trigger == NONE && limit == INT64_MAX;
        }
        if (gogc >= 0 && !p.limit_bound)
            ok = ok && p.heap_goal >= GMI_HEAP_MINIMUM * (uint64_t)gogc / 100;
        if (!ok) {
            CHECK(ok);
            fprintf(stderr, "gogc %d limit %lld m %llu s %llu g %llu -> goal %llu trig %llu\n",
                    gogc, (long long)limit, (unsigned long long)m, (unsigned long long)s,
                    (unsigned long long)g, (unsigned long long)p.heap_goal,
                    (unsigned long long)p.trigger);
            return;
        }
    }
    CHECK(1);
}

int main(void) {
    test_scenarios();
    test_init_and_cycles();
    test_setters();
    test_goal_functions();
    test_sweep_floor();
    test_invariants();
    return check_done();
}
