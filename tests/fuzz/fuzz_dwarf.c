/* fuzz_dwarf.c: libFuzzer target for the DWARF line-table reader (dwarf_line.c), which
 * parses the .debug_line of every object the program has loaded when a heap profile
 * is written: input from files gomem does not control.
 *
 * Input: two bytes (little-endian) giving the length n of a .debug_line_str image, n
 * bytes of it, then the .debug_line section. Both are copied into buffers of exactly
 * their size (the string section with the terminating NUL the reader relies on), so
 * ASan catches any read past either. Checked: no crash, no UB, no hang (libFuzzer's
 * timeout), and the table built is ordered and answers lookups inside its own rows.
 *
 *   cmake -DGM_BUILD_FUZZ=ON (clang) builds fuzz_dwarf; `make test` replays the seeds
 *   (tests/fuzz/corpus/dwarf: sections of gcc's DWARF 4 and 5 output, and the two
 *   malformed tables that crashed and hung the reader, 2026-11-26). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (n > size) n = size;
    uint8_t *str = malloc(n + 1);
    uint8_t *sec = malloc(size - n + 1);
    if (str == NULL || sec == NULL) abort();
    memcpy(str, data, n);
    str[n] = 0;
    memcpy(sec, data + n, size - n);
    gmi_elf_t e;
    memset(&e, 0, sizeof e);
    if (gmi_elf_dwarf_lines(&e, sec, size - n, n ? str : NULL, n)) {
        for (size_t i = 0; i + 1 < e.nrows; i++)
            if (e.rows[i].addr > e.rows[i + 1].addr) {
                fprintf(stderr, "fuzz_dwarf: rows out of order at %zu\n", i);
                abort();
            }
        for (size_t i = 0; i < e.nrows; i += 1 + e.nrows / 16) {
            const gmi_line_row_t *r = gmi_elf_line(&e, e.rows[i].addr);
            if (r != NULL && (r < e.rows || r >= e.rows + e.nrows)) abort();
            if (r != NULL && r->file < e.nfiles && e.files[r->file] == NULL) abort();
        }
        gmi_elf_free(&e);
    }
    free(str);
    free(sec);
    return 0;
}

#ifdef GM_FUZZ_REPLAY
#include "replay.h"

int main(int argc, char **argv) {
    return fuzz_replay_main("fuzz_dwarf", argc, argv);
}
#endif
