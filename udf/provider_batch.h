/* Many texts at once: requests of up to `batch` inputs with up to `parallel`
 * in flight on one libcurl multi handle, driven by one loop that never
 * blocks on anything but the sockets: a request the guard tells to wait
 * (cost guard mode wait, a half-open circuit deciding) is scheduled for
 * later while the other transfers go on.
 *
 * Requests are packed in input order: at most `batch` inputs, at most
 * max_request_tokens estimated tokens (ce_provider_tokens_estimate) and
 * CE_BATCH_TEXT_MAX bytes of text (an input over either goes alone), and no
 * more inputs than a response of CE_BATCH_RESPONSE_MAX bytes can hold
 * (ce_provider_response_limit). While
 * the model's vector length is not known (no `dimensions`, not a
 * well-known model, nothing learned yet), the first request holds one
 * input and the others wait for it, so that they are sized by the length
 * it brings back. A request refused as too large is split in halves, each
 * sent again. Each request follows the same retry policy as a single call
 * (ce_provider_judge), within timeout_ms of its first attempt; a request
 * that still fails is logged once (rate-limited by kind). With the plugin
 * loaded, a killed statement (plugin_services.h) abandons the transfers in
 * flight and starts no more, and each finished request advances the
 * statement's progress by its inputs.
 *
 * Memory: a request holds its JSON and, while it runs, a response of at
 * most its limit (room for float arrays); new requests start only while
 * the requests not yet finished are counted for less than
 * CE_BATCH_INFLIGHT_MAX, whatever `batch` and `parallel` say. A request is
 * counted for its JSON and its response limit until the first answer of
 * the call came, then for its JSON and a quarter more than the largest
 * answer per input so far (base64 answers are ~6 times smaller than the
 * limit). So at most CE_BATCH_INFLIGHT_MAX plus one request, as long as a
 * provider's answers keep their size per input (a provider that answers
 * in base64 and then in float arrays within one call could take up to
 * `parallel` limits); on top, the vectors of the answers received in one
 * turn of the loop until they are handed on (fewer bytes than those
 * answers). */
#ifndef CE_PROVIDER_BATCH_H
#define CE_PROVIDER_BATCH_H

#include "provider.h"

#include <curl/curl.h>

#define CE_BATCH_RESPONSE_MAX ((size_t)16 << 20)
#define CE_BATCH_TEXT_MAX ((size_t)4 << 20)
#define CE_BATCH_INFLIGHT_MAX ((size_t)32 << 20)

/* Takes the `count` vectors (of `dims`) of inputs [first, first + count)
 * as their request's answer comes; 0, or -1 when it cannot (out of memory:
 * those inputs count as failed). */
typedef int (*ce_embed_each)(void *ctx, size_t first, size_t count,
                             const uint8_t *vecs, uint32_t dims);

/* Embeds in[0..n): each answer goes to `each` as it comes, once the
 * requests that may start have started, so that what the caller does with
 * it overlaps the requests in flight; every answer has the dims of the
 * first (a request answering with others fails). ok[i] = 1 for each input
 * handed on. Returns how many were. `multi` is the caller's: its
 * connections stay open between calls (one statement's flushes reuse
 * them). */
size_t ce_provider_embed_each(const ce_config *cfg, CURLM *multi,
                              const ce_text *in, size_t n, ce_embed_each each,
                              void *ctx, uint8_t *ok);

/* ce_provider_embed_each, gathered: on return *vecs (malloc'd, n * *dims * 4
 * bytes; NULL if nothing came back) holds the vector of every input i with
 * ok[i] = 1. Returns how many inputs were embedded. */
size_t ce_provider_embed_many(const ce_config *cfg, CURLM *multi,
                              const ce_text *in, size_t n, uint8_t **vecs,
                              uint32_t *dims, uint8_t *ok);

#endif
