/* Many texts at once: requests of `batch` inputs with up to `parallel` in
 * flight on one libcurl multi handle. Each request follows the same retry
 * policy as a single call (ce_provider_judge), within timeout_ms of its
 * first attempt; a request that still fails is logged once. With the plugin
 * loaded, a killed statement (plugin_services.h) abandons the transfers in
 * flight and starts no more, and each finished request advances the
 * statement's progress by its inputs. */
#ifndef CE_PROVIDER_BATCH_H
#define CE_PROVIDER_BATCH_H

#include "provider.h"

/* On return *vecs (malloc'd, n * *dims * 4 bytes; NULL if nothing came back)
 * holds the vector of every input i with ok[i] = 1. Returns how many inputs
 * were embedded. `multi` is the caller's: its connections stay open between
 * calls (one statement's flushes reuse them). */
size_t ce_provider_embed_many(const ce_config *cfg, CURLM *multi,
                              const ce_text *in, size_t n, uint8_t **vecs,
                              uint32_t *dims, uint8_t *ok);

#endif
