/* test_sizeclass.c: size-class invariants against the reference table. */
#include "check.h"
#include "internal.h"

#include <string.h>

int main(void) {
    /* The table matches Go's (reference go-size-classes.tsv) where it can be read. */
    FILE *f = fopen("../../../shared/reference/go-size-classes.tsv", "r");
    if (f == NULL) f = fopen("/work/shared/reference/go-size-classes.tsv", "r");
    if (f) {
        char line[256];
        int rows = 0;
        if (fgets(line, sizeof line, f)) { /* header */
        }
        while (fgets(line, sizeof line, f)) {
            int cls, size, span, pages, objs;
            if (sscanf(line, "%d %d %d %d %d", &cls, &size, &span, &pages, &objs) != 5) continue;
            CHECK_EQ(gmi_class_to_size[cls], size);
            CHECK_EQ(gmi_class_to_npages[cls], pages);
            CHECK_EQ(gmi_class_to_nelems[cls], objs);
            rows++;
        }
        fclose(f);
        CHECK_EQ(rows, 67);
    }
    /* Structural invariants, always checked. */
    CHECK_EQ(gmi_class_to_size[GMI_NUM_CLASSES - 1], GMI_MAX_SMALL_SIZE);
    for (int c = 1; c < GMI_NUM_CLASSES; c++) {
        size_t span = (size_t)gmi_class_to_npages[c] * GMI_PAGE_SIZE;
        CHECK(gmi_class_to_size[c] > gmi_class_to_size[c - 1]);
        CHECK_EQ(gmi_class_to_nelems[c], span / gmi_class_to_size[c]);
        CHECK_LE(gmi_class_to_nelems[c], GMI_MAX_SLOTS);
        CHECK_LE(span - (size_t)gmi_class_to_nelems[c] * gmi_class_to_size[c], span / 8);
        /* the magic division is exact for every object start and every byte */
        int bad = 0;
        for (size_t off = 0; off < span; off++)
            if ((((uint64_t)off * gmi_class_to_divmul[c]) >> 32) != off / gmi_class_to_size[c])
                bad++;
        CHECK_EQ(bad, 0);
    }
    /* size -> class: smallest class that fits, 16-byte alignment for sizes >= 16 */
    int bad_fit = 0, bad_align = 0;
    for (size_t sz = 1; sz <= GMI_MAX_SMALL_SIZE; sz++) {
        unsigned c = gmi_size_to_class(sz);
        if (gmi_class_to_size[c] < sz) bad_fit++;
        if (c > 1 && gmi_class_to_size[c - 1] >= sz && !(c - 1 == 3 && sz >= 16)) bad_fit++;
        if (sz >= 16 && gmi_class_to_size[c] % 16 != 0) bad_align++;
    }
    CHECK_EQ(bad_fit, 0);
    CHECK_EQ(bad_align, 0);
    CHECK_EQ(gmi_size_to_class(1), 1);
    CHECK_EQ(gmi_size_to_class(17), 4);
    CHECK_EQ(gmi_size_to_class(1024), 32);
    CHECK_EQ(gmi_size_to_class(1025), 33);
    return check_done();
}
