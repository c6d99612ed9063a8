/* test_limiter.c: the GC CPU limiter's bucket (limiter.c), driven with made-up times.
 * The bucket holds 1 CPU-second per CPU; a cycle's GC CPU fills it and the time
 * outside GC drains it; a cycle paced by the memory limit may start while its expected
 * cost still fits. A cycle that starts with the bucket emptied by a long quiet stretch
 * must fill it by its own cost once (it was counted twice: a 0.7 s cycle on 2 CPUs
 * then engaged the limiter at once). Links libgomem.a. */
#include "internal.h"
#include "gc_internal.h"
#include "finalizer.h"
#include "check.h"
#include <gomem.h>

#define SEC 1000000000ull

int main(void) {
    gm_init();
    gmi_gc.ncpu = 2; /* a bucket of 2 CPU-seconds, whatever this machine has */
    uint64_t t = 1000 * SEC;
    gmi_limiter_cycle_done(0, t); /* starts the clock */

    /* 10 s of mutator time empty the bucket; then a cycle of 0.7 CPU-s */
    t += 10 * SEC;
    gmi_limiter_cycle_done(7 * SEC / 10, t);
    CHECK(gmi_limiter_allow(t, true)); /* 0.7 + 0.7 <= 2 */
    CHECK(!gmi_limiter_limiting());

    /* a little mutator time, then a cheap cycle: still well inside */
    t += SEC / 10; /* 0.2 CPU-s, 0.1 of it GC */
    gmi_limiter_cycle_done(SEC / 10, t);
    CHECK(gmi_limiter_allow(t, true));

    /* back-to-back cycles that take all of both CPUs fill it: the limiter engages
     * for a cycle the memory limit paces, never for one GOGC paces */
    int allowed = 0;
    for (int i = 0; i < 4; i++) {
        t += SEC / 2;
        gmi_limiter_cycle_done(SEC, t); /* 0.5 s of wall on 2 CPUs, all GC */
        allowed += gmi_limiter_allow(t, true);
    }
    CHECK(allowed < 4);
    CHECK(gmi_limiter_limiting());
    CHECK(gmi_limiter_allow(t, false));
    uint64_t engaged = gmi_limiter_engagements();
    CHECK(engaged >= 1);

    /* a quiet second and a half empties it again and ends the engagement */
    t += 3 * SEC / 2 + SEC;
    CHECK(gmi_limiter_allow(t, true));
    CHECK(!gmi_limiter_limiting());
    return check_done();
}
