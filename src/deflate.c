/* deflate.c: the gzip container for heap profiles: growable mmap'd buffers, CRC-32,
 * and a small deflate compressor (RFC 1951, fixed Huffman codes, greedy LZ77 over a
 * 32 KiB window with short hash chains).
 *
 * Profiles are a few hundred KiB at most and mostly repeated varints and symbol
 * names, so fixed codes with matching get most of the gain of a full compressor at a
 * fraction of the code. pprof reads any valid gzip member (RFC 1952).
 * Never calls malloc: every buffer comes from gmi_os_reserve.
 * See malloc.c for the allocator overview. */
#include "profile.h"

#include <errno.h>
#include <string.h>

/* ---------------------------------------------------------------------------------
 * Buffers
 * ------------------------------------------------------------------------------- */

static size_t round_page(size_t n) {
    return (n + 4095) & ~(size_t)4095;
}

void *gmi_profile_scratch_alloc(size_t size) {
    if (size == 0) size = 1;
    return gmi_os_reserve(round_page(size), 4096);
}

void gmi_profile_scratch_free(void *p, size_t size) {
    if (p != NULL) gmi_os_unmap(p, round_page(size == 0 ? 1 : size));
}

/* gmi_pbuf_reserve makes room for more bytes after len; false (and b->failed) when
 * the memory cannot be had. Capacity doubles, so appends are amortized O(1). */
bool gmi_pbuf_reserve(gmi_pbuf_t *b, size_t more) {
    if (b->failed) return false;
    if (b->cap - b->len >= more) return true;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap - b->len < more) {
        if (cap > ((size_t)1 << 40)) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    uint8_t *p = gmi_profile_scratch_alloc(cap);
    if (p == NULL) {
        b->failed = true;
        return false;
    }
    if (b->len) memcpy(p, b->data, b->len);
    gmi_profile_scratch_free(b->data, b->cap);
    b->data = p;
    b->cap = cap;
    return true;
}

void gmi_pbuf_append(gmi_pbuf_t *b, const void *p, size_t n) {
    if (n == 0 || !gmi_pbuf_reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void gmi_pbuf_free(gmi_pbuf_t *b) {
    gmi_profile_scratch_free(b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

/* ---------------------------------------------------------------------------------
 * CRC-32 (IEEE 802.3, reflected, as gzip uses)
 * ------------------------------------------------------------------------------- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* gmi_crc32 continues crc (start with 0) over p[0..n). */
uint32_t gmi_crc32(uint32_t crc, const uint8_t *p, size_t n) {
    pthread_once(&crc_once, crc_table_init);
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---------------------------------------------------------------------------------
 * Bit output: deflate packs bits from the least significant end of each byte
 * ------------------------------------------------------------------------------- */

typedef struct bitwriter_s {
    gmi_pbuf_t *out;
    uint64_t bits;
    unsigned nbits;
} bitwriter_t;

/* put_bits writes the low n (<= 32) bits of v. The caller reserved the space. */
static inline void put_bits(bitwriter_t *w, uint32_t v, unsigned n) {
    w->bits |= (uint64_t)v << w->nbits;
    w->nbits += n;
    while (w->nbits >= 8) {
        w->out->data[w->out->len++] = (uint8_t)w->bits;
        w->bits >>= 8;
        w->nbits -= 8;
    }
}

/* Huffman codes are sent most significant bit first: reverse them. */
static inline uint32_t reverse_bits(uint32_t code, unsigned len) {
    uint32_t r = 0;
    for (unsigned i = 0; i < len; i++) {
        r = (r << 1) | (code & 1);
        code >>= 1;
    }
    return r;
}

/* put_litlen sends literal/length symbol sym (0..285) with the fixed code of RFC 1951
 * section 3.2.6. */
static void put_litlen(bitwriter_t *w, unsigned sym) {
    if (sym <= 143)
        put_bits(w, reverse_bits(0x30 + sym, 8), 8);
    else if (sym <= 255)
        put_bits(w, reverse_bits(0x190 + sym - 144, 9), 9);
    else if (sym <= 279)
        put_bits(w, reverse_bits(sym - 256, 7), 7);
    else
        put_bits(w, reverse_bits(0xC0 + sym - 280, 8), 8);
}

static const uint16_t len_base[29] = {3,  4,  5,  6,   7,   8,   9,   10,  11, 13,
                                      15, 17, 19, 23,  27,  31,  35,  43,  51, 59,
                                      67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {
    1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
    193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static void put_match(bitwriter_t *w, unsigned len, unsigned dist) {
    unsigned lc = 28;
    while (len_base[lc] > len)
        lc--;
    put_litlen(w, 257 + lc);
    if (len_extra[lc]) put_bits(w, len - len_base[lc], len_extra[lc]);
    unsigned dc = 29;
    while (dist_base[dc] > dist)
        dc--;
    put_bits(w, reverse_bits(dc, 5), 5);
    if (dist_extra[dc]) put_bits(w, dist - dist_base[dc], dist_extra[dc]);
}

/* ---------------------------------------------------------------------------------
 * Compression
 * ------------------------------------------------------------------------------- */

#define WINDOW    32768
#define HASH_BITS 15
#define MAX_CHAIN 16
#define MIN_MATCH 3
#define MAX_MATCH 258

static inline uint32_t hash3(const uint8_t *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* deflate_fixed appends one final fixed-Huffman block for in[0..n) to out. Falls back
 * to stored blocks when the scratch tables cannot be had. */
static void deflate_fixed(gmi_pbuf_t *out, const uint8_t *in, size_t n) {
    /* Worst case: every byte a 9-bit literal. */
    if (!gmi_pbuf_reserve(out, n + n / 8 + 64)) return;
    size_t tables = ((size_t)1 << HASH_BITS) * sizeof(int32_t) + WINDOW * sizeof(int32_t);
    int32_t *head = gmi_profile_scratch_alloc(tables);
    bitwriter_t w = {out, 0, 0};
    if (head == NULL) {
        /* Stored blocks of at most 65535 bytes each. */
        size_t pos = 0;
        do {
            size_t k = n - pos > 65535 ? 65535 : n - pos;
            put_bits(&w, pos + k == n ? 1 : 0, 1);
            put_bits(&w, 0, 2);
            put_bits(&w, 0, 5); /* to a byte boundary (nbits was 0 or after a block: 0) */
            w.nbits = 0;
            w.bits = 0;
            uint8_t hdr[4] = {(uint8_t)k, (uint8_t)(k >> 8), (uint8_t)~k, (uint8_t)(~k >> 8)};
            memcpy(out->data + out->len, hdr, 4);
            memcpy(out->data + out->len + 4, in + pos, k);
            out->len += 4 + k;
            pos += k;
        } while (pos < n);
        return;
    }
    int32_t *prev = head + ((size_t)1 << HASH_BITS);
    for (size_t i = 0; i < ((size_t)1 << HASH_BITS); i++)
        head[i] = -1;

    put_bits(&w, 1, 1); /* BFINAL */
    put_bits(&w, 1, 2); /* BTYPE = 01, fixed codes */
    size_t pos = 0;
    while (pos < n) {
        unsigned best_len = 0, best_dist = 0;
        if (n - pos >= MIN_MATCH) {
            uint32_t h = hash3(in + pos);
            int32_t cand = head[h];
            size_t limit = n - pos > MAX_MATCH ? MAX_MATCH : n - pos;
            for (int chain = 0; cand >= 0 && chain < MAX_CHAIN; chain++) {
                size_t dist = pos - (size_t)cand;
                if (dist > WINDOW - 1) break;
                if (in[cand + best_len] == in[pos + best_len]) {
                    size_t l = 0;
                    while (l < limit && in[cand + l] == in[pos + l])
                        l++;
                    if (l > best_len) {
                        best_len = (unsigned)l;
                        best_dist = (unsigned)dist;
                        if (l == limit) break;
                    }
                }
                int32_t nx = prev[cand & (WINDOW - 1)];
                if (nx >= cand) break;
                cand = nx;
            }
            prev[pos & (WINDOW - 1)] = head[h];
            head[h] = (int32_t)pos;
        }
        if (best_len >= MIN_MATCH) {
            put_match(&w, best_len, best_dist);
            /* Index the positions inside the match so later data can refer to them. */
            size_t end = pos + best_len;
            for (pos++; pos < end; pos++) {
                if (n - pos >= MIN_MATCH) {
                    uint32_t h = hash3(in + pos);
                    prev[pos & (WINDOW - 1)] = head[h];
                    head[h] = (int32_t)pos;
                }
            }
        } else {
            put_litlen(&w, in[pos]);
            pos++;
        }
    }
    put_litlen(&w, 256); /* end of block */
    if (w.nbits) put_bits(&w, 0, 8 - w.nbits);
    gmi_profile_scratch_free(head, tables);
}

/* gmi_gzip appends a gzip member (RFC 1952: header, deflate data, CRC-32, size). */
void gmi_gzip(gmi_pbuf_t *out, const uint8_t *in, size_t n) {
    static const uint8_t header[10] = {0x1f, 0x8b, 8 /* deflate */, 0, 0, 0, 0, 0, 0, 3 /* Unix */};
    gmi_pbuf_append(out, header, sizeof header);
    deflate_fixed(out, in, n);
    uint32_t crc = gmi_crc32(0, in, n);
    uint32_t isize = (uint32_t)n;
    uint8_t trailer[8] = {(uint8_t)crc,           (uint8_t)(crc >> 8),   (uint8_t)(crc >> 16),
                          (uint8_t)(crc >> 24),   (uint8_t)isize,        (uint8_t)(isize >> 8),
                          (uint8_t)(isize >> 16), (uint8_t)(isize >> 24)};
    gmi_pbuf_append(out, trailer, sizeof trailer);
}
