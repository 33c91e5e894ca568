/* Single-flight in a server: a table of the entries being embedded right
 * now, keyed by their identity (cache_key.h: ce_entry_identity), split in
 * shards with a mutex and a condition variable each.
 *
 * The first caller to claim an identity leads: it gets the vector (from
 * the provider, or from another server's request: flight.h) and ends its
 * claim once, with ce_flight_publish or ce_flight_fail. Whoever claims the
 * same identity meanwhile waits for that outcome on the shard's condition
 * variable (no polling) and gets the same bytes, or the leader's error at
 * once: waiters of a failed request do not retry it (fail fast), so a
 * failing provider sees one request per identity, not one per session.
 *
 * Every entry has a deadline, set by its leader and pushed back while it
 * works (ce_flight_extend). A waiter never waits past it (nor past its own
 * bound), so a leader that never ends its claim (a stuck thread) costs its
 * waiters at most that long; a claim of an identity whose entry is past its
 * deadline replaces that entry. An ended entry leaves the table at once;
 * its waiters hold references, and the last one frees it. */
#ifndef CE_INFLIGHT_H
#define CE_INFLIGHT_H

#include "sha256.h"

#include <stddef.h>
#include <stdint.h>

#define CE_FLIGHT_SHARDS 64
#define CE_FLIGHT_BUCKETS 64 /* per shard */

typedef struct ce_flight ce_flight;

/* ce_flight_claim's answers. */
typedef enum {
  CE_FLIGHT_ALONE = -1, /* out of memory: go on without single-flight */
  CE_FLIGHT_LEAD = 0,
  CE_FLIGHT_WAIT = 1
} ce_flight_role;

/* ce_flight_wait's answers. */
typedef enum {
  CE_FLIGHT_TAKEN = 0,    /* take() was called and returned 0 */
  CE_FLIGHT_FAILED = 1,   /* the leader failed, or take() returned non-zero */
  CE_FLIGHT_TIMED_OUT = 2 /* no outcome in time */
} ce_flight_wait_status;

/* The outcome a waiter reads (valid during its `take` call). */
typedef struct ce_flight_result {
  const uint8_t *vec; /* dims float32 */
  uint32_t dims;
  uint64_t tokens; /* the provider's usage for this input, or an estimate */
  const char *key; /* the Redis key the leader stored it under ("" none) */
  size_t key_len;
} ce_flight_result;

/* Claims `id`, with `deadline_ms` (ce_mono_ms time) for a new entry.
 * CE_FLIGHT_LEAD: *out is the caller's own new entry, to end with
 * ce_flight_publish or ce_flight_fail. CE_FLIGHT_WAIT: *out is the
 * leader's entry, to pass to ce_flight_wait. CE_FLIGHT_ALONE: *out NULL. */
ce_flight_role ce_flight_claim(const uint8_t id[CE_SHA256_LEN],
                               long long deadline_ms, ce_flight **out);

/* Leader: moves the entry's deadline to `deadline_ms` (never earlier). */
void ce_flight_extend(ce_flight *f, long long deadline_ms);

/* Leader: the vector (copied) and what goes with it; wakes the waiters and
 * gives up the leader's reference. `key` may be NULL. Out of memory for
 * the copy: the waiters get an error instead. */
void ce_flight_publish(ce_flight *f, const uint8_t *vec, uint32_t dims,
                       uint64_t tokens, const char *key, size_t key_len);

/* Leader: the request failed; `cls` (a constant string, the log class)
 * and `err` go to every waiter. Gives up the leader's reference. */
void ce_flight_fail(ce_flight *f, const char *cls, const char *err);

/* Waiter: blocks until the leader ends the entry, its deadline passes or
 * `until_ms` comes, whichever is first, then gives up the reference.
 * CE_FLIGHT_FAILED comes with the leader's message in err and its class in
 * *cls (or the caller's out of memory); CE_FLIGHT_TIMED_OUT with err saying
 * so (the entry is dropped from the table if its own deadline passed, so
 * the next claim leads). */
ce_flight_wait_status
ce_flight_wait(ce_flight *f, long long until_ms,
               int (*take)(void *ctx, const ce_flight_result *r), void *ctx,
               char *err, size_t errlen, const char **cls);

/* Entries in the table now (tests). */
size_t ce_flight_pending(void);

#endif
