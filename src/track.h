/* track.h: Valgrind client requests (memcheck), compiled in by -DGM_TRACK_VALGRIND=ON.
 *
 * Without GM_TRACK_VALGRIND every macro is empty and the library is byte-identical to a
 * build without this header. With it, memcheck sees gomem objects as heap blocks:
 *  - GMI_TRACK_ALLOC(p, n): an object of n bytes (its whole slot) was handed out, zeroed.
 *    Issued after the allocation bit is set (the signal-safety order of malloc.c is kept)
 *    and before the slot is zeroed, so that zeroing a reused slot is a legal write.
 *  - GMI_TRACK_FREE(p): the object was freed, by gm_free (local, remote or large) or by
 *    the sweeper (a dead slot). Later accesses are reported as invalid reads/writes.
 *  - GMI_TRACK_SCAN_BEGIN/END, GMI_TRACK_SCAN_WORD(v): the conservative scan reads stack
 *    words that are undefined and may read memory memcheck considers inaccessible; it
 *    runs with error reporting disabled for its thread, and each word read is declared
 *    defined before it is used (the program's own memory keeps its state).
 * See malloc.c for the allocator overview. */
#ifndef GMI_TRACK_H
#define GMI_TRACK_H

#ifndef GM_TRACK_VALGRIND
#define GM_TRACK_VALGRIND 0 /* "#if GM_TRACK_VALGRIND" in the sources, -Wundef clean */
#endif

#if GM_TRACK_VALGRIND
#include <valgrind/valgrind.h>
#include <valgrind/memcheck.h>
#define GMI_TRACK_ALLOC(p, n)   VALGRIND_MALLOCLIKE_BLOCK((p), (n), 0, 1)
#define GMI_TRACK_FREE(p)       VALGRIND_FREELIKE_BLOCK((p), 0)
#define GMI_TRACK_SCAN_BEGIN()  VALGRIND_DISABLE_ERROR_REPORTING
#define GMI_TRACK_SCAN_END()    VALGRIND_ENABLE_ERROR_REPORTING
#define GMI_TRACK_SCAN_WORD(v)  VALGRIND_MAKE_MEM_DEFINED(&(v), sizeof(v))
#define GMI_TRACK_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED_IF_ADDRESSABLE((p), (n))
#define GMI_TRACK_ACTIVE        1
#else
#define GMI_TRACK_ALLOC(p, n)   ((void)0)
#define GMI_TRACK_FREE(p)       ((void)0)
#define GMI_TRACK_SCAN_BEGIN()  ((void)0)
#define GMI_TRACK_SCAN_END()    ((void)0)
#define GMI_TRACK_SCAN_WORD(v)  ((void)0)
#define GMI_TRACK_DEFINED(p, n) ((void)0)
#define GMI_TRACK_ACTIVE        0
#endif

#endif
