/* The cache's Redis key names, and the identity of an entry.
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
 *     shares its entry, which stays bound to its text (cache_entry.h).
 * "The text sent" is the text after charset decoding, UTF-8 repair and the
 * cut to max_text_bytes (text.h), so one text is one entry whatever column
 * it came from. The value stored under a key: cache_entry.h. */
#ifndef CE_CACHE_KEY_H
#define CE_CACHE_KEY_H

#include "config.h"
#include "sha256.h"

#include <stddef.h>
#include <stdint.h>

#define CE_USER_KEY_MAX 512
/* Longest task kept as text in a key; longer ones are hashed. */
#define CE_KEY_TASK_MAX 64
#define CE_KEY_VERSION "v2:"
/* Longest key ce_key_build writes (with NUL): each escaped byte takes 3. */
#define CE_KEY_MAX                                                             \
  (sizeof(((ce_config *)0)->key_prefix) + sizeof CE_KEY_VERSION +              \
   3 * sizeof(((ce_config *)0)->model) + 3 * CE_KEY_TASK_MAX + 32 +            \
   CE_USER_KEY_MAX)

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

#endif
