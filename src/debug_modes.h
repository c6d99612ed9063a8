/* debug_modes.h: GOMEMDEBUG=poison / checkptr, the quarantine, and pinning (pin.c).
 * See debug_modes.c. */
#ifndef GMI_DEBUG_MODES_H
#define GMI_DEBUG_MODES_H

#include "internal.h"
#include "gc_internal.h"
#include "profile.h"

#pragma GCC visibility push(hidden) /* see internal.h */

/* gmi_debug_slow routes allocation and freeing off the fast path. Zero unless a debug
 * mode is on or an object was ever pinned: malloc.c tests it once per call (cold). */
enum {
    GMI_DEBUG_ALLOC = 1, /* poison or checkptr: gm_alloc*, gm_realloc, gm_usable_size */
    GMI_DEBUG_FREE = 2,  /* gm_free goes through gmi_debug_free */
};
extern int gmi_debug_slow;

#define GMI_POISON_FREED 0xdf /* every byte of a freed or swept slot in poison mode */

void gmi_debug_init(void); /* from gmi_init_slow, after the environment is read */
void *gmi_debug_alloc(size_t size, unsigned noscan, uintptr_t site);
void gmi_debug_free(void *p);
void *gmi_debug_realloc(void *p, size_t size, uintptr_t site);
size_t gmi_debug_usable_size(const void *p);
/* gmi_debug_poison_slots fills the slots of word w in dead with the freed pattern
 * (span.c's sweep, poison mode). */
void gmi_debug_poison_slots(gmi_span_t *s, size_t w, uint64_t dead);
/* gmi_debug_quarantine_large takes a large span in poison mode instead of the page
 * heap: its object was freed (how = "freed by gm_free") or collected ("collected"),
 * its allocation bit is clear, it is on no list and holds the pattern. site: the
 * allocation site if sampled, else 0. Called with no lock or the central lock of the
 * span's class; may free older spans to the page heap. */
void gmi_debug_quarantine_large(gmi_span_t *s, uintptr_t site, const char *how);
/* gmi_debug_mark_roots marks pinned objects (and what they reach) and quarantined
 * objects (not scanned). World stopped, every lock held, after the main mark. */
void gmi_debug_mark_roots(gmi_mark_result_t *mr);
/* gmi_debug_verify_locked checks the quarantine and the pin table (verify=1). */
void gmi_debug_verify_locked(void);
/* gmi_debug_check_free_span checks the slots of an empty small span for writes after
 * free before the span goes back to the page heap (poison mode). */
void gmi_debug_check_free_span(const gmi_span_t *s);
/* gmi_debug_check_reused checks free pages about to become a large object (poison). */
void gmi_debug_check_reused(const void *p, size_t n);
/* gmi_debug_quarantined: base is a freed object waiting in a poison quarantine (its
 * bitmaps still say allocated). _locked: gmi_quarantine_lock held (gmi_lock_all). */
bool gmi_debug_quarantined(uintptr_t base);
bool gmi_debug_quarantined_locked(uintptr_t base);
/* gmi_debug_report prints one misuse line and aborts under abort=1 or checkptr=1. */
void gmi_debug_report(const char *call, const void *p, const char *why);

extern gmi_lock_t gmi_quarantine_lock;

/* malloc.c: the allocator below the debug branch */
void *gmi_malloc_raw(size_t size, unsigned noscan);
void gmi_free_raw(const char *call, void *p);
gmi_span_t *gmi_malloc_live_object(const void *p, size_t *slot, const char **why);
/* gmi_malloc_slot_live: slot of s holds an object the program may use (allocated, not
 * pending, not on a reuse stack or transfer list); quarantines are the caller's. */
bool gmi_malloc_slot_live(const gmi_span_t *s, size_t slot);

/* pin.c */
extern gmi_lock_t gmi_pin_lock;
/* gmi_pin_forget drops every pin of an object that is being freed; returns the count
 * it held. */
uint32_t gmi_pin_forget(uintptr_t base);
void gmi_pin_mark_locked(gmi_mark_result_t *mr);
void gmi_pin_verify_locked(void);
void gmi_pin_stats(uint64_t *objects, uint64_t *pins);

#pragma GCC visibility pop

#endif
