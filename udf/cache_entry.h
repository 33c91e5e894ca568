/* The cache's value: what is stored under a key (cache_key.h).
 *
 * value = "CEV1" | dims (u32 LE) | SHA-256 of the text sent (32)
 *         | dims little-endian float32
 * A value is used only if all of it checks out and the text hash matches,
 * so a changed text, a foreign value or a torn write is a miss. */
#ifndef CE_CACHE_ENTRY_H
#define CE_CACHE_ENTRY_H

#include "sha256.h"

#include <stddef.h>
#include <stdint.h>

#define CE_ENTRY_MAGIC "CEV1"
#define CE_ENTRY_HEADER (4 + 4 + CE_SHA256_LEN)

typedef enum {
  CE_ENTRY_OK = 0,
  CE_ENTRY_CORRUPT = 1, /* not an entry of ours, wrong size or bad floats */
  CE_ENTRY_STALE = 2    /* a valid entry for another text */
} ce_entry_status;

static inline size_t ce_entry_size(uint32_t dims) {
  return CE_ENTRY_HEADER + (size_t)dims * 4;
}

/* Writes header + vector into `out` (ce_entry_size(dims) bytes). */
void ce_entry_encode(const uint8_t text_hash[CE_SHA256_LEN], const uint8_t *vec,
                     uint32_t dims, uint8_t *out);

/* Checks a stored value. `want_dims` 0 accepts any 1..CE_MAX_DIMS. On
 * CE_ENTRY_OK `*vec` points into `val` and `*dims` is set. */
ce_entry_status ce_entry_decode(const uint8_t *val, size_t len,
                                const uint8_t text_hash[CE_SHA256_LEN],
                                uint32_t want_dims, const uint8_t **vec,
                                uint32_t *dims);

#endif
