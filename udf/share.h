/* Shared requests for concurrent misses of different texts (group commit).
 *
 * Row calls that must pay for one text each go through a lane per provider
 * identity (endpoint, API key, dialect, model, dimensions, task, truncate,
 * CA file: whatever shapes the request or where it goes). A lane has at
 * most one request in flight:
 *   - a row that finds its lane idle, with nobody queued, sends its text at
 *     once, alone: a lone session pays no added latency;
 *   - a row that finds a request in flight queues its text (a copy); when
 *     that request returns, the first queued row sends the queue as one
 *     request — up to `batch` inputs, max_request_tokens estimated tokens
 *     and CE_SHARE_TEXT_MAX bytes — and hands each row its vector. It
 *     first waits for the rows of the request that just ended to queue
 *     their next misses, at most a tenth of that request's time and
 *     CE_SHARE_GATHER_MS (a lone session never waits: it finds the lane
 *     idle and empty).
 * So busy sessions share requests, and a lane makes one request per
 * provider round trip whatever the number of sessions.
 *
 * Bounds: a queued row not picked up within its timeout_ms (+ margin)
 * sends alone; a row whose shared request is in flight waits at most the
 * sender's timeout_ms (+ margin). A shared request that fails gives every
 * row its error when the failure is a verdict on all of them (401, 403 and
 * other 4xx, the circuit, the cost guard); otherwise — refused as too
 * large, or 429 / 5xx / network / timeout after its retries — each row
 * sends alone (with its own timeout_ms), as it would have without sharing.
 * Setting share_requests = off: every row sends alone, as before. Rows of one
 * identity never meet here: single-flight (inflight.h) lets one of them pay. */
#ifndef CE_SHARE_H
#define CE_SHARE_H

#include "config.h"
#include "provider.h"

#define CE_SHARE_TEXT_MAX ((size_t)4 << 20)
#define CE_SHARE_MARGIN_MS 1000
#define CE_SHARE_GATHER_MS 10

/* Embeds one text (the row's), alone or in a shared request. 0: `out`
 * holds its vector (n = 1; tokens: its share of the request's usage, by
 * text length; 0 when the provider reported none); free it with
 * ce_embeddings_free. -1: err and *cls as ce_provider_embed. */
int ce_share_embed(const ce_config *cfg, const ce_text *text,
                   ce_embeddings *out, char *err, size_t errlen,
                   const char **cls);

/* Frees the lanes nobody uses (library unload). */
void ce_share_shutdown(void);

#endif
