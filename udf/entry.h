/* The cache: Redis key names and the value stored under them.
 *
 * key   = <key_prefix>v2:<model>[@<dimensions>][#<task>]:<user key>
 *   - "v2:" versions the layout: keys of the first layout
 *     (<key_prefix><model>...:<user key>) are never read as keys of this one;
 *   - <model> and <task> are percent-encoded: '%', ':', '@', '#', '{', '}',
 *     space, control bytes and 0x7F become %XX, so the identity part holds
 *     no separator and the first ':' after "v2:" ends it whatever the names
 *     (model "a:b" + key "c" and model "a" + key "b:c" differ); a task over
 *     CE_KEY_TASK_MAX bytes becomes "sha256-<hex of the task>";
 *   - <dimensions> appears when configured, <task> when one applies: the
 *     call's effective task (task.h), so a query and a passage embedding of
 *     one text are two entries;
 *   - the user key comes last, as given (binary-safe); NULL ->
 *     "sha256:<hex of the text sent>"; longer than CE_USER_KEY_MAX bytes ->
 *     "key-sha256:<hex of the key>". A user key spelled like one of these
 *     shares its entry, which stays bound to its text (below).
 * value = "CEV1" | dims (u32 LE) | SHA-256 of the text sent (32)
 *         | dims little-endian float32
 * "The text sent" is the text after charset decoding, UTF-8 repair and the
 * cut to max_text_bytes (text.h), so one text is one entry whatever column
 * it came from. A value is used only if all of it checks out and the text
 * hash matches, so a changed text, a foreign value or a torn write is a
 * miss. */
#ifndef CE_ENTRY_H
#define CE_ENTRY_H

#include "config.h"
#include "sha256.h"

#include <stddef.h>
#include <stdint.h>

#define CE_ENTRY_MAGIC "CEV1"
#define CE_ENTRY_HEADER (4 + 4 + CE_SHA256_LEN)
#define CE_USER_KEY_MAX 512
/* Longest task kept as text in a key; longer ones are hashed. */
#define CE_KEY_TASK_MAX 64
#define CE_KEY_VERSION "v2:"
/* Longest key ce_key_build writes (with NUL): each escaped byte takes 3. */
#define CE_KEY_MAX                                                             \
  (sizeof(((ce_config *)0)->key_prefix) + sizeof CE_KEY_VERSION +             \
   3 * sizeof(((ce_config *)0)->model) + 3 * CE_KEY_TASK_MAX + 32 +           \
   CE_USER_KEY_MAX)

typedef enum {
  CE_ENTRY_OK = 0,
  CE_ENTRY_CORRUPT = 1, /* not an entry of ours, wrong size or bad floats */
  CE_ENTRY_STALE = 2    /* a valid entry for another text */
} ce_entry_status;

/* Builds the Redis key into `out` (CE_KEY_MAX bytes); returns its length.
 * `task` NULL = the configured task (cfg->task); `key` NULL = content
 * address (from `text_hash`). */
size_t ce_key_build(const ce_config *cfg, const char *task, size_t task_len,
                    const char *key, size_t key_len,
                    const uint8_t text_hash[CE_SHA256_LEN], char *out);

/* The identity of an entry: what decides its vector — the model, the
 * dimensions, the effective task (task.h; `task` NULL = cfg->task) and the
 * SHA-256 of the text sent — as one SHA-256 into `out`. Rows with equal
 * identities get the same vector whatever their user keys, so requests in
 * flight can be shared by identity; the key (ce_key_build) carries the same
 * model, dimensions and task. */
void ce_entry_identity(const ce_config *cfg, const char *task, size_t task_len,
                       const uint8_t text_hash[CE_SHA256_LEN],
                       uint8_t out[CE_SHA256_LEN]);

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
