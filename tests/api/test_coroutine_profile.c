/* test_coroutine_profile: heap-profile sampling on a coroutine's stack. The sampler
 * walks frame pointers, bounded by the thread's stack; on a coroutine's stack (below
 * the thread's, in mmap'd memory) the bound let it follow a frame pointer into the
 * unmapped or protected memory between the two. Here the coroutine calls gm_alloc
 * with rbp pointing into a PROT_NONE page above its stack (as code built without frame
 * pointers may leave it), with every allocation sampled: it crashed the sampler with
 * SIGSEGV; such samples now have no stack, and everything else is recorded. */
#include "api/gmtest.h"

#include <sys/mman.h>
#include <ucontext.h>

#if defined(__x86_64__)
enum { STACK = 256 << 10 };
static ucontext_t main_ctx, co_ctx;
static char *guard; /* a PROT_NONE page above the coroutine's stack */
static void *got[16];

/* alloc_with_rbp calls gm_alloc(64) with rbp set to bad, restoring it after. */
GMT_NOINLINE static void *alloc_with_rbp(uintptr_t bad) {
    void *r;
    __asm__ volatile("push %%rbp\n\t"
                     "mov %1, %%rbp\n\t"
                     "mov $64, %%edi\n\t"
                     "call gm_alloc@PLT\n\t"
                     "pop %%rbp"
                     : "=a"(r)
                     : "r"(bad)
                     : "rdi", "rsi", "rdx", "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
    return r;
}

static void coroutine(void) {
    for (int i = 0; i < 16; i++) {
        /* rsp stays 16-byte aligned at the call: one push of 8, the return address */
        got[i] = i % 2 ? alloc_with_rbp((uintptr_t)guard + 128) : gm_alloc(64);
    }
    swapcontext(&co_ctx, &main_ctx);
}

int main(void) {
    gm_set_mem_profile_rate(1); /* every allocation sampled */
    guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(guard != MAP_FAILED && stack != MAP_FAILED);
    int here;
    if (!((uintptr_t)guard > (uintptr_t)stack + STACK && (uintptr_t)guard < (uintptr_t)&here)) {
        printf("test_coroutine_profile: skipped (mappings not in the expected order)\n");
        return 0;
    }
    getcontext(&co_ctx);
    co_ctx.uc_stack.ss_sp = stack;
    co_ctx.uc_stack.ss_size = STACK;
    co_ctx.uc_link = &main_ctx;
    makecontext(&co_ctx, coroutine, 0);
    CHECK_EQ(gm_add_roots(stack, stack + STACK), 0); /* its stack holds gomem pointers */
    swapcontext(&main_ctx, &co_ctx);
    for (int i = 0; i < 16; i++)
        CHECK(got[i] != NULL && gm_usable_size(got[i]) >= 64);
    gm_memstats_t ms;
    gm_read_memstats(&ms);
    CHECK(ms.mallocs >= 16);
    /* the profile still writes, samples without a stack included */
    char path[] = "/tmp/gomem_coprof_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(gm_write_heap_profile(path), 0);
    unlink(path);
    gm_remove_roots(stack);
    return check_done();
}
#else
int main(void) {
    printf("test_coroutine_profile: x86-64 only (sets rbp by hand)\n");
    return 0;
}
#endif
