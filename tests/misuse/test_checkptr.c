/* test_checkptr.c: GOMEMDEBUG=checkptr=1 and gm_checkptr. A pointer that is not the
 * base of a live object, passed where one is required, prints one line naming the
 * call and the pointer and aborts; gm_checkptr aborts with one line naming the call,
 * the pointer and the object when a range leaves its object (in every mode); a pinned
 * object freed with gm_free is one warning line. Each case runs in a child. */
#include "api/gmtest.h"

static char out[8192];

static int child(const char *what) {
    uint8_t *p = gm_alloc(100); /* usable size 112 */
    printf("PTR %p\n", (void *)p);
    fflush(stdout);
    if (!strcmp(what, "free-interior"))
        gm_free(p + 8);
    else if (!strcmp(what, "realloc-freed")) {
        gm_free(p);
        (void)gm_realloc(p, 10);
    } else if (!strcmp(what, "usable-interior"))
        (void)gm_usable_size(p + 1);
    else if (!strcmp(what, "range-out"))
        gm_checkptr(p, p + 100, 20);
    else if (!strcmp(what, "range-in")) {
        gm_checkptr(p, p, 112);
        gm_checkptr(p, p + 50, 62);
        gm_checkptr(p, p + 112, 0);
    } else if (!strcmp(what, "pinned-free")) {
        gm_pin(p);
        gm_free(p);
        gm_collect();
    } else if (!strcmp(what, "pin-interior"))
        (void)gm_pin(p + 4);
    else
        return 99;
    return 0;
}

static int lines(const char *s) {
    int n = 0;
    for (const char *c = s; (c = strstr(c, "gomem:")) != NULL; c++)
        n++;
    return n;
}

static void expect(const char *what, const char *env, int aborts, const char *call, size_t off) {
    int st = gmt_run_self(what, env, out, sizeof out, 1, 60);
    const char *c = strstr(out, "PTR ");
    uint8_t *p = c ? (uint8_t *)strtoul(c + 4, NULL, 16) : NULL;
    int ok_status = aborts ? (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT)
                           : (WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(ok_status);
    if (call == NULL) {
        CHECK_EQ(lines(out), 0);
    } else {
        CHECK_EQ(lines(out), 1);
        CHECK(strstr(out, call) != NULL);
        CHECK(p != NULL && gmt_contains_ptr(out, p + off));
        if (!strcmp(call, "gm_checkptr")) CHECK(gmt_contains_ptr(out, p)); /* the object */
    }
    if (check_failed_) fprintf(stderr, "%s: status 0x%x output: %s\n", what, st, out);
}

int main(int argc, char **argv) {
    if (argc > 1) return child(argv[1]);
    const char *cp = "GOMEMDEBUG=checkptr=1";
    expect("free-interior", cp, 1, "gm_free", 8);
    expect("realloc-freed", cp, 1, "gm_realloc", 0);
    expect("usable-interior", cp, 1, "gm_usable_size", 1);
    expect("pin-interior", cp, 1, "gm_pin", 4);
    expect("range-out", cp, 1, "gm_checkptr", 100);
    expect("range-out", NULL, 1, "gm_checkptr", 100); /* gm_checkptr checks in every mode */
    expect("range-in", cp, 0, NULL, 0);
    expect("pinned-free", cp, 0, "gm_free", 0);
    expect("pinned-free", NULL, 0, NULL, 0); /* the warning is checkptr's */
    return check_done();
}
