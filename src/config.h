/* config.h: compile-time constants of gomem.
 * See malloc.c for the allocator overview and gc.c for the collector overview. */
#ifndef GMI_CONFIG_H
#define GMI_CONFIG_H

/* Debug level: 0 release, 1 cheap asserts, 2 internal asserts, 3 expensive walks. */
#ifndef GM_DEBUG
#define GM_DEBUG 0
#endif

#define GMI_PAGE_SHIFT 13 /* a heap page (not the OS page) is 8 KiB, as Go's */
#define GMI_PAGE_SIZE  (1UL << GMI_PAGE_SHIFT)
#define GMI_PAGE_MASK  (GMI_PAGE_SIZE - 1)

#define GMI_ARENA_SHIFT     26 /* address space is reserved in 64 MiB arenas */
#define GMI_ARENA_SIZE      (1UL << GMI_ARENA_SHIFT)
#define GMI_PAGES_PER_ARENA (GMI_ARENA_SIZE / GMI_PAGE_SIZE) /* 8192 */

#define GMI_ADDR_BITS     48 /* user-space virtual addresses on x86-64 and arm64 Linux */
#define GMI_ARENA_MAP_LEN (1UL << (GMI_ADDR_BITS - GMI_ARENA_SHIFT))

#define GMI_CHUNK_PAGES 512 /* the page heap grows in 4 MiB chunks */

#define GMI_NUM_CLASSES      68                    /* class 0 = large */
#define GMI_NUM_SPAN_CLASSES (GMI_NUM_CLASSES * 2) /* class << 1 | noscan */
#define GMI_MAX_SMALL_SIZE   32768
#define GMI_MAX_SLOTS        1024 /* most objects in one span (class 1: 8 B in 8 KiB) */
#define GMI_MAX_BITMAP_WORDS (GMI_MAX_SLOTS / 64)

#define GMI_OBLET_BYTES        (128 * 1024) /* large objects are scanned in chunks of this */
#define GMI_LIVE_DEBT_MAX      (64 * 1024)  /* remote frees batched per thread before heap_live */
#define GMI_REUSE_SLOTS        64   /* most objects a thread keeps per span class for reuse */
#define GMI_REUSE_BYTES        8192 /* ... and most bytes (malloc.c) */
#define GMI_REUSE_SPAN_CLASSES 66   /* span classes with reuse stacks: sizes up to 1 KiB */
#define GMI_TRANSFER_STACKS    2    /* a transfer list holds this many full reuse stacks */
#define GMI_ROOT_BLOCK_BYTES   (128 * 1024) /* root ranges are pushed in blocks of at most this */

#define GMI_CACHE_LINE 64

/* Largest request gomem accepts: anything bigger cannot be mapped anyway, and keeping
 * well below SIZE_MAX means page rounding can never overflow. */
#define GMI_MAX_ALLOC_SIZE ((size_t)1 << 46)

#endif
