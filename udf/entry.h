/* The cache: Redis key names and the value stored under them.
 *
 * key   = <key_prefix><model>[@<dimensions>][#<task>]:<user key>
 *         (user key NULL -> "sha256:<hex of the text>"; a user key longer
 *          than CE_USER_KEY_MAX bytes -> "key-sha256:<hex of the key>")
 * value = "CEV1" | dims (u32 LE) | SHA-256 of the original text bytes (32)
 *         | dims little-endian float32
 * A value is used only if all of it checks out and the text hash matches,
 * so a changed text, a foreign value or a torn write is a miss. */
#ifndef CE_ENTRY_H
#define CE_ENTRY_H

#include "config.h"
#include "sha256.h"

#include <stddef.h>
#include <stdint.h>

#define CE_ENTRY_MAGIC "CEV1"
#define CE_ENTRY_HEADER (4 + 4 + CE_SHA256_LEN)
#define CE_USER_KEY_MAX 512
/* Longest key ce_key_build writes (with NUL). */
#define CE_KEY_MAX                                                             \
  (sizeof(((ce_config *)0)->key_prefix) + sizeof(((ce_config *)0)->model) +   \
   sizeof(((ce_config *)0)->task) + 32 + CE_USER_KEY_MAX)

typedef enum {
  CE_ENTRY_OK = 0,
  CE_ENTRY_CORRUPT = 1, /* not an entry of ours, wrong size or bad floats */
  CE_ENTRY_STALE = 2    /* a valid entry for another text */
} ce_entry_status;

/* Builds the Redis key; returns its length. `key` NULL = content address. */
size_t ce_key_build(const ce_config *cfg, const char *key, size_t key_len,
                    const uint8_t text_hash[CE_SHA256_LEN], char *out);

static inline size_t ce_entry_size(uint32_t dims) {
  return CE_ENTRY_HEADER + (size_t)dims * 4;
}

/* Writes header + vector into `out` (ce_entry_size(dims) bytes). */
void ce_entry_encode(const uint8_t text_hash[CE_SHA256_LEN],
                     const uint8_t *vec, uint32_t dims, uint8_t *out);

/* Checks a stored value. `want_dims` 0 accepts any 1..CE_MAX_DIMS. On
 * CE_ENTRY_OK `*vec` points into `val` and `*dims` is set. */
ce_entry_status ce_entry_decode(const uint8_t *val, size_t len,
                                const uint8_t text_hash[CE_SHA256_LEN],
                                uint32_t want_dims, const uint8_t **vec,
                                uint32_t *dims);

#endif
