/* FNV-1a, 64-bit: a quick hash for what stays inside the process (table
 * shards and buckets, log rate-limit classes, change stamps). Never for
 * anything stored or compared across processes: that is SHA-256
 * (sha256.h). */
#ifndef CE_HASH_H
#define CE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CE_FNV1A_OFFSET 14695981039346656037ULL
#define CE_FNV1A_PRIME 1099511628211ULL

/* `h` (CE_FNV1A_OFFSET to start) continued over `n` bytes. */
static inline uint64_t ce_fnv1a_add(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * CE_FNV1A_PRIME;
  return h;
}

static inline uint64_t ce_fnv1a(const void *data, size_t n) {
  return ce_fnv1a_add(CE_FNV1A_OFFSET, data, n);
}

/* Of a NUL-terminated string (the NUL excluded). */
static inline uint64_t ce_fnv1a_str(const char *s) {
  uint64_t h = CE_FNV1A_OFFSET;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * CE_FNV1A_PRIME;
  return h;
}

/* `h` continued over the 8 bytes of `v`, least significant first (the same
 * on any byte order). */
static inline uint64_t ce_fnv1a_u64(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; i++, v >>= 8)
    h = (h ^ (v & 0xff)) * CE_FNV1A_PRIME;
  return h;
}

#endif
