/* replay.h: the main of a fuzz target's replay build (GM_FUZZ_REPLAY, every build, run
 * by ctest over the committed corpus): each argument is an input file or a directory
 * of them, fed once each to LLVMFuzzerTestOneInput. A target's failure aborts; reaching
 * the end means every input passed. Included by one target file each. */
#ifndef GM_FUZZ_REPLAY_H
#define GM_FUZZ_REPLAY_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay_file runs one input file; returns 0 on success, -1 if unreadable. */
static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

static int fuzz_replay_main(const char *name, int argc, char **argv) {
    int count = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            if (replay_file(argv[i]) == 0)
                count++;
            else {
                fprintf(stderr, "%s: cannot read %s\n", name, argv[i]);
                failed++;
            }
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (replay_file(path) == 0) count++;
        }
        closedir(d);
    }
    printf("%d passed, %d failed\n", count, failed);
    return failed != 0 || count == 0;
}

#endif
