/* A miss paid once, across the sessions of a server and across servers
 * that share Redis. Used by the row function (one miss) and the warm-up
 * (many at once); both key a miss by its entry identity (cache_key.h:
 * ce_entry_identity — model, dimensions, task, text), not by its Redis key.
 *
 * In the server: the first miss of an identity leads (inflight.h); the
 * others wait for its outcome and get the same bytes, or its error at once
 * (they do not retry: fail fast).
 *
 * Across servers: the leader takes a short Redis lock beside the entries,
 * <key_prefix>v2:lock:<identity hex>, SET NX PX with a value unique to it
 * (ce_cache_lock). Got it: it pays, stores its entry, then turns the lock
 * into a note "d:<its key>" for the rest of the lock's lifetime (at least
 * CE_LOCK_LINGER_MS), so that whoever misses the same text meanwhile —
 * waiters, a miss that read Redis just before the entry was stored, a miss
 * under another key — reads the entry instead of paying; on failure it
 * deletes the lock (only its own: compare-and-delete). The row function
 * notes its lock by compare-and-set (a script); the warm-up, which notes
 * thousands, with SET XX (ce_cache_note_many, several times cheaper for
 * Redis): on a lock that expired and was taken by another payer of the
 * same text the note is as true for that payer's waiters. Held by another
 * server: it waits for the entry — its own key and the lock, read together with
 * back-off from CE_LOCK_POLL_MIN_MS to CE_LOCK_POLL_MAX_MS, never past the
 * lock's remaining lifetime (+ margin) — and reads it; a lock that goes
 * without an entry (its holder failed, or died and the lock expired) is
 * taken by whoever asks first, who pays (one takes over; the others go on
 * waiting). Redis unavailable: pay, as without single-flight.
 *
 * Lock lifetime: the longest a holder may pay (a shared request waits for
 * the one in flight, then goes: 2 × (timeout_ms + CE_SHARE_MARGIN_MS)) +
 * CE_LOCK_MARGIN_MS; for a warm-up, what its requests may take. A holder
 * that dies costs at most that. */
#ifndef CE_FLIGHT_H
#define CE_FLIGHT_H

#include "config.h"
#include "inflight.h"

#include <stddef.h>
#include <stdint.h>

#define CE_LOCK_MARGIN_MS 1000
#define CE_LOCK_LINGER_MS 2000
#define CE_LOCK_POLL_MIN_MS 5
#define CE_LOCK_POLL_MAX_MS 100
/* The lock key: <key_prefix>v2:lock:<64 hex> */
#define CE_LOCK_KEY_MAX (sizeof(((ce_config *)0)->key_prefix) + 8 + 64 + 1)
#define CE_LOCK_OWNER_MAX 64

/* ce_miss_begin's answers. */
typedef enum {
  CE_MISS_PAY = 0,    /* the caller pays, then ce_miss_done / _fail */
  CE_MISS_SERVED = 1, /* the vector came from another's request */
  CE_MISS_FAILED = 2  /* err: the leader's error, or the wait's */
} ce_miss_role;

/* A vector from another's request, for the caller to keep: `key` is where
 * it is stored in Redis ("" when nowhere yet), so that the caller stores
 * it under its own key only when that differs. take() returns 0 when it
 * took it. */
typedef int (*ce_miss_take)(void *ctx, const uint8_t *vec, uint32_t dims,
                            const char *key, size_t key_len);

/* ---- one miss (the row function) ---- */

typedef struct ce_miss {
  const ce_config *cfg;
  uint8_t id[CE_SHA256_LEN];
  const uint8_t *hash; /* the text's SHA-256 */
  size_t text_len;
  uint32_t want_dims;
  const char *key; /* the caller's Redis key */
  size_t key_len;
  ce_flight *f; /* ours while we lead */
  int locked;   /* we hold the Redis lock */
  size_t lock_len, owner_len;
  char lock[CE_LOCK_KEY_MAX];
  char owner[CE_LOCK_OWNER_MAX];
} ce_miss;

/* Sets up `m` for a miss of identity `id` (the caller's key, text hash and
 * length, expected dims (0 any) are kept by pointer) and decides who pays.
 * CE_MISS_SERVED: take() got the vector (counted as waited, its tokens as
 * saved). CE_MISS_FAILED: err and *cls. CE_MISS_PAY: the caller pays, then
 * ends `m` with ce_miss_done or ce_miss_fail (exactly once). */
ce_miss_role ce_miss_begin(ce_miss *m, const ce_config *cfg,
                           const uint8_t id[CE_SHA256_LEN],
                           const uint8_t hash[CE_SHA256_LEN], size_t text_len,
                           uint32_t want_dims, const char *key, size_t key_len,
                           ce_miss_take take, void *ctx, char *err,
                           size_t errlen, const char **cls);

/* The caller paid: stores its entry (`len` bytes, ce_entry_encode) under
 * its key with `ttl` and, holding the lock, turns the lock into the done
 * note in the same round trip (ce_cache_set_noting). 0 stored, -1 not. */
int ce_miss_store(ce_miss *m, const uint8_t *entry, size_t len, long ttl);

/* The caller paid: hands the vector to this server's waiters; `stored`:
 * the caller stored it under its key (then the lock becomes the "done"
 * note, else it is released; nothing more when ce_miss_store ended it).
 * `tokens`: the provider's usage for it. */
void ce_miss_done(ce_miss *m, const uint8_t *vec, uint32_t dims,
                  uint64_t tokens, int stored);

/* The caller's request failed: its waiters get the error; the lock goes. */
void ce_miss_fail(ce_miss *m, const char *cls, const char *err);

/* ---- many misses (the warm-up) ---- */

/* The roles of a claim (ce_claims_take). */
typedef enum {
  CE_CLAIM_PAY = 0,  /* ours to pay: ce_claims_publish */
  CE_CLAIM_WAIT = 1, /* another session of this server pays */
  CE_CLAIM_HELD = 2  /* we lead here; another server holds the lock */
} ce_claim_role;

typedef struct ce_claim {
  /* set by the caller */
  uint8_t id[CE_SHA256_LEN];
  const uint8_t *hash;
  size_t text_len;
  const char *key; /* a key of its rows, where a vector may appear */
  size_t key_len;
  /* set by ce_claims_take */
  ce_claim_role role;
  int locked;
  ce_flight *f;
  char *note; /* HELD by a "done" note: the key it names (malloc'd) */
} ce_claim;

/* The shared part of a warm-up's claims. */
typedef struct ce_claims {
  const ce_config *cfg;
  uint32_t want_dims;
  long long pay_until; /* the PAY claims' deadline */
  long lock_ms;
  size_t owner_len;
  char owner[CE_LOCK_OWNER_MAX];
} ce_claims;

/* Claims n identities before embedding: in this server, then the Redis
 * locks of those we lead, pipelined. `pay_ms`: the longest the caller's
 * embedding of its PAY claims may take. Sets every claim's role. */
void ce_claims_take(ce_claims *cs, const ce_config *cfg, uint32_t want_dims,
                    ce_claim *c, size_t n, long pay_ms);

/* After embedding the PAY claims c[0..n): the vector of claim i at
 * vecs + i * dims * 4 when ok[i]; stored[i]: it is stored under c[i].key.
 * Wakes this server's waiters and ends the locks, pipelined. */
void ce_claims_publish(ce_claims *cs, ce_claim *c, size_t n,
                       const uint8_t *vecs, uint32_t dims, const uint8_t *ok,
                       const uint8_t *stored);

/* For the WAIT and HELD claims c[0..n), once the caller's own are
 * published: waits for each outcome (bounded: their leaders' deadlines,
 * the locks' lifetimes) and calls each(ctx, i, ...) for every claim that
 * got a vector (counted as waited). A HELD claim whose wait gives nothing
 * (its lock goes without an entry, or Redis stops answering) keeps its
 * flight (f): the caller pays for it, as the row function does, and ends
 * it with ce_claims_publish (vectors or failure). */
void ce_claims_settle(ce_claims *cs, ce_claim *c, size_t n,
                      void (*each)(void *ctx, size_t i, const uint8_t *vec,
                                   uint32_t dims, const char *key,
                                   size_t key_len),
                      void *ctx);

/* Gives up the WAIT and HELD claims c[0..n) without waiting (a killed
 * statement, out of memory): waiters of our HELD claims get an error. */
void ce_claims_drop(ce_claims *cs, ce_claim *c, size_t n);

#endif
