#include "flight.h"

#include "cache_entry.h"
#include "cache_key.h"
#include "clock.h"
#include "hex.h"
#include "redis_cache.h"
#include "share.h"
#include "stats.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* A sanity cap on any wait here, whatever a lock's lifetime says. */
#define CE_FLIGHT_WAIT_CAP_MS (3600L * 1000)

/* How long one paying caller may take: a direct or shared request. */
static long flight_pay_ms(const ce_config *cfg) {
  long one = cfg->timeout_ms + CE_SHARE_MARGIN_MS;
  return cfg->share_requests ? 2 * one : one;
}

/* The lock key of an identity into out (CE_LOCK_KEY_MAX); its length. */
static size_t lock_key(const ce_config *cfg, const uint8_t id[CE_SHA256_LEN],
                       char *out) {
  char hex[2 * CE_SHA256_LEN + 1];
  ce_hex(id, CE_SHA256_LEN, hex);
  return (size_t)sprintf(out, "%s" CE_KEY_VERSION "lock:%s", cfg->key_prefix,
                         hex);
}

static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;
static char nonce[33];
static unsigned long owner_seq;

static void make_nonce(void) {
  uint8_t r[16];
  if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    /* No entropy yet: unique enough with the time, pid and an address. */
    uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
                 (uint64_t)(uintptr_t)&owner_seq ^ (uint64_t)ce_mono_ms();
    for (size_t i = 0; i < sizeof r; i++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      r[i] = (uint8_t)(x >> 56);
    }
  }
  ce_hex(r, sizeof r, nonce);
}

/* A value no other caller, in any process, uses: "o:<random>:<n>". */
static size_t lock_owner(char out[CE_LOCK_OWNER_MAX]) {
  pthread_once(&nonce_once, make_nonce);
  unsigned long n = __atomic_add_fetch(&owner_seq, 1, __ATOMIC_RELAXED);
  return (size_t)snprintf(out, CE_LOCK_OWNER_MAX, "o:%s:%lu", nonce, n);
}

static long lock_ms(const ce_config *cfg) {
  return flight_pay_ms(cfg) + CE_LOCK_MARGIN_MS;
}

/* Counts a row served by another's request. */
static void count_waited(uint64_t tokens, size_t text_len) {
  ce_stat_add(CE_STAT_WAITED, 1);
  ce_stat_add(CE_STAT_TOKENS_SAVED,
              tokens ? tokens : ce_stat_tokens_of(text_len));
}

/* ---- waiting for another server's entry ---- */

enum { R_WAITING, R_SERVED, R_GONE, R_ERROR };

/* One identity whose lock another server holds. */
typedef struct {
  const uint8_t *hash;
  const char *key; /* ours */
  size_t key_len;
  char lock[CE_LOCK_KEY_MAX];
  size_t lock_len;
  long long until; /* 0: not known yet (set from the lock's PTTL) */
  int state;
  int answered; /* this round */
  int settled;  /* its outcome was handed on (the warm-up) */
  int errors;   /* rounds Redis did not answer (the warm-up) */
  char *note;   /* the key the holder's "done" note names */
  size_t note_len;
  uint8_t *vec;
  uint32_t dims;
  char *src; /* where the vector is stored */
  size_t src_len;
} remote;

typedef struct {
  remote **r;
  size_t k;
  uint32_t want;
} round_ctx;

static int keep_vector(remote *r, const uint8_t *val, size_t len, uint32_t want,
                       const char *src, size_t src_len) {
  const uint8_t *vec;
  uint32_t dims;
  if (ce_entry_decode(val, len, r->hash, want, &vec, &dims) != CE_ENTRY_OK)
    return -1;
  r->vec = malloc((size_t)dims * 4);
  r->src = malloc(src_len + 1);
  if (!r->vec || !r->src) {
    free(r->vec);
    free(r->src);
    r->vec = NULL;
    r->src = NULL;
    return -1;
  }
  memcpy(r->vec, vec, (size_t)dims * 4);
  memcpy(r->src, src, src_len);
  r->src[src_len] = '\0';
  r->src_len = src_len;
  r->dims = dims;
  r->state = R_SERVED;
  return 0;
}

/* Keys 0..k-1: our keys; k..2k-1: the locks. */
static void on_poll(void *ctx, size_t i, const uint8_t *val, size_t len,
                    long long pttl_ms) {
  round_ctx *rc = ctx;
  remote *r = rc->r[i % rc->k];
  if (i < rc->k) {
    if (val && r->state == R_WAITING)
      keep_vector(r, val, len, rc->want, r->key, r->key_len);
    return;
  }
  r->answered = 1;
  if (r->state != R_WAITING)
    return;
  if (!val) {
    if (!r->note) /* with a note known, its entry decides (note round) */
      r->state = R_GONE;
  } else if (len > 2 && !memcmp(val, "d:", 2)) {
    free(r->note);
    r->note = malloc(len - 2 + 1);
    if (r->note) {
      memcpy(r->note, val + 2, len - 2);
      r->note[len - 2] = '\0';
      r->note_len = len - 2;
    } else {
      r->state = R_GONE;
    }
  } else if (!r->until) { /* held: wait at most its remaining life */
    long long ttl = pttl_ms > 0 ? pttl_ms : 0;
    if (ttl > CE_FLIGHT_WAIT_CAP_MS)
      ttl = CE_FLIGHT_WAIT_CAP_MS;
    r->until = ce_mono_ms() + ttl + CE_LOCK_MARGIN_MS;
  }
}

static void on_note(void *ctx, size_t i, const uint8_t *val, size_t len,
                    long long pttl_ms) {
  round_ctx *rc = ctx;
  remote *r = rc->r[i];
  (void)pttl_ms;
  r->answered = 1;
  if (!val || keep_vector(r, val, len, rc->want, r->note, r->note_len))
    r->state = R_GONE; /* the note names no entry of ours after all */
}

/* One poll of the pending `rs`: our key and the lock, in one pipelined
 * round trip; then the entries that "done" notes name. */
static void poll_round(const ce_config *cfg, remote **rs, size_t k,
                       uint32_t want) {
  const char **keys = calloc(2 * k, sizeof *keys);
  size_t *lens = calloc(2 * k, sizeof *lens);
  remote **notes = malloc(k * sizeof *notes);
  size_t n_notes = 0;
  if (!keys || !lens || !notes) {
    for (size_t i = 0; i < k; i++)
      rs[i]->state = R_ERROR;
    free(keys);
    free(lens);
    free(notes);
    return;
  }
  for (size_t i = 0; i < k; i++) {
    keys[i] = rs[i]->key;
    lens[i] = rs[i]->key_len;
    keys[k + i] = rs[i]->lock;
    lens[k + i] = rs[i]->lock_len;
    rs[i]->answered = 0;
  }
  round_ctx rc = {rs, k, want};
  ce_cache_mget(cfg, keys, lens, 2 * k, on_poll, &rc);
  for (size_t i = 0; i < k; i++) {
    if (rs[i]->state == R_WAITING && !rs[i]->answered)
      rs[i]->state = R_ERROR; /* Redis did not answer */
    if (rs[i]->state == R_WAITING && rs[i]->note) {
      keys[n_notes] = rs[i]->note;
      lens[n_notes] = rs[i]->note_len;
      notes[n_notes++] = rs[i];
      rs[i]->answered = 0;
    }
  }
  if (n_notes) {
    round_ctx nc = {notes, n_notes, want};
    ce_cache_mget(cfg, keys, lens, n_notes, on_note, &nc);
    for (size_t i = 0; i < n_notes; i++)
      if (notes[i]->state == R_WAITING)
        notes[i]->state = R_ERROR;
  }
  free(keys);
  free(lens);
  free(notes);
}

static void remote_free(remote *r) {
  free(r->note);
  free(r->vec);
  free(r->src);
}

/* Sleeps the back-off `*delay` (never past `until`), then doubles it. */
static void back_off(long *delay, long long until) {
  long long left = until - ce_mono_ms();
  ce_sleep_ms(left < *delay ? (long)(left > 0 ? left : 0) : *delay);
  *delay = *delay * 2 > CE_LOCK_POLL_MAX_MS ? CE_LOCK_POLL_MAX_MS : *delay * 2;
}

/* The lock of `r` went without an entry (its holder failed or died), or
 * its "done" note names an entry that is gone: takes the lock (SET NX, or
 * the note swapped for our owner value). CE_LOCK_NOT_OURS: someone else
 * was first. */
static ce_lock_result take_over(const ce_config *cfg, remote *r,
                                const char *owner, size_t owner_len) {
  if (!r->note)
    return ce_cache_lock(cfg, r->lock, r->lock_len, owner, owner_len,
                         lock_ms(cfg));
  char *was = malloc(r->note_len + 3);
  if (!was)
    return CE_LOCK_NO_REDIS; /* out of memory: pay, as without Redis */
  memcpy(was, "d:", 2);
  memcpy(was + 2, r->note, r->note_len + 1);
  const char *keys[1] = {r->lock}, *vals[1] = {owner};
  size_t lens[1] = {r->lock_len}, val_lens[1] = {owner_len};
  size_t got = ce_cache_lock_end_many(cfg, keys, lens, 1, was, r->note_len + 2,
                                      vals, val_lens, lock_ms(cfg));
  free(was);
  return got ? CE_LOCK_OK : CE_LOCK_NOT_OURS;
}

/* ---- one miss ---- */

static void lead_fail(ce_miss *m, const char *cls, const char *err) {
  if (m->f)
    ce_flight_fail(m->f, cls, err);
  m->f = NULL;
}

/* Another server holds the lock: wait for its entry, or take over. */
static ce_miss_role wait_remote(ce_miss *m, ce_miss_take take, void *ctx,
                                char *err, size_t errlen, const char **cls) {
  const ce_config *cfg = m->cfg;
  remote r;
  remote *rp = &r;
  long delay = CE_LOCK_POLL_MIN_MS;
  long long start = ce_mono_ms();
  memset(&r, 0, sizeof r);
  r.hash = m->hash;
  r.key = m->key;
  r.key_len = m->key_len;
  memcpy(r.lock, m->lock, m->lock_len + 1);
  r.lock_len = m->lock_len;
  long long cap = start + lock_ms(cfg) + CE_LOCK_MARGIN_MS;
  if (m->f)
    ce_flight_extend(m->f, cap + flight_pay_ms(cfg));
  for (int first = 1;; first = 0) {
    if (!first)
      back_off(&delay, r.until ? r.until : cap);
    poll_round(cfg, &rp, 1, m->want_dims);
    if (r.state == R_SERVED) {
      int rc = take(ctx, r.vec, r.dims, r.src, r.src_len);
      count_waited(0, m->text_len);
      if (m->f)
        ce_flight_publish(m->f, r.vec, r.dims, 0, r.src, r.src_len);
      m->f = NULL;
      remote_free(&r);
      if (rc) {
        snprintf(err, errlen, "out of memory for a vector");
        *cls = CE_FAIL_LOCAL;
        return CE_MISS_FAILED;
      }
      return CE_MISS_SERVED;
    }
    if (r.state == R_ERROR) { /* Redis went away: pay, as without it */
      remote_free(&r);
      return CE_MISS_PAY;
    }
    if (r.state == R_GONE) { /* no entry: whoever asks first pays */
      ce_lock_result got = take_over(cfg, &r, m->owner, m->owner_len);
      if (got != CE_LOCK_NOT_OURS) {
        m->locked = got == CE_LOCK_OK;
        if (m->f)
          ce_flight_extend(m->f, ce_mono_ms() + flight_pay_ms(cfg) +
                                     CE_LOCK_MARGIN_MS);
        remote_free(&r);
        return CE_MISS_PAY;
      }
      free(r.note);
      memset(&r, 0, sizeof r); /* someone else took it: wait for them */
      r.hash = m->hash;
      r.key = m->key;
      r.key_len = m->key_len;
      memcpy(r.lock, m->lock, m->lock_len + 1);
      r.lock_len = m->lock_len;
      delay = CE_LOCK_POLL_MIN_MS;
      cap = ce_mono_ms() + lock_ms(cfg) + CE_LOCK_MARGIN_MS;
      continue;
    }
    if (ce_mono_ms() >= (r.until ? r.until : cap)) {
      snprintf(err, errlen,
               "waited %lld ms for another server's request of the same "
               "text (lock %.80s)",
               ce_mono_ms() - start, m->lock);
      *cls = "single-flight wait timed out";
      lead_fail(m, *cls, err);
      remote_free(&r);
      return CE_MISS_FAILED;
    }
  }
}

typedef struct {
  ce_miss_take take;
  void *ctx;
  uint64_t tokens;
} take_ctx;

static int take_flight(void *ctx, const ce_flight_result *r) {
  take_ctx *tc = ctx;
  tc->tokens = r->tokens;
  return tc->take(tc->ctx, r->vec, r->dims, r->key, r->key_len);
}

ce_miss_role ce_miss_begin(ce_miss *m, const ce_config *cfg,
                           const uint8_t id[CE_SHA256_LEN],
                           const uint8_t hash[CE_SHA256_LEN], size_t text_len,
                           uint32_t want_dims, const char *key, size_t key_len,
                           ce_miss_take take, void *ctx, char *err,
                           size_t errlen, const char **cls) {
  ce_flight *f;
  memset(m, 0, sizeof *m);
  m->cfg = cfg;
  memcpy(m->id, id, CE_SHA256_LEN);
  m->hash = hash;
  m->text_len = text_len;
  m->want_dims = want_dims;
  m->key = key;
  m->key_len = key_len;
  long long now = ce_mono_ms();
  ce_flight_role role =
      ce_flight_claim(id, now + flight_pay_ms(cfg) + CE_LOCK_MARGIN_MS, &f);
  if (role == CE_FLIGHT_WAIT) {
    take_ctx tc = {take, ctx, 0};
    if (ce_flight_wait(f, now + CE_FLIGHT_WAIT_CAP_MS, take_flight, &tc, err,
                       errlen, cls) != CE_FLIGHT_TAKEN)
      return CE_MISS_FAILED;
    count_waited(tc.tokens, text_len);
    return CE_MISS_SERVED;
  }
  m->f = role == CE_FLIGHT_LEAD ? f : NULL; /* ALONE: no single-flight */
  m->lock_len = lock_key(cfg, id, m->lock);
  m->owner_len = lock_owner(m->owner);
  ce_lock_result got = ce_cache_lock(cfg, m->lock, m->lock_len, m->owner,
                                     m->owner_len, lock_ms(cfg));
  if (got == CE_LOCK_OK) {
    m->locked = 1;
    return CE_MISS_PAY;
  }
  if (got == CE_LOCK_NO_REDIS) /* Redis unavailable: pay */
    return CE_MISS_PAY;
  return wait_remote(m, take, ctx, err, errlen, cls);
}

int ce_miss_store(ce_miss *m, const uint8_t *entry, size_t len, long ttl) {
  if (!m->locked)
    return ce_cache_set(m->cfg, m->key, m->key_len, entry, len, ttl);
  m->locked = 0; /* noted, or released when the entry was not stored */
  return ce_cache_set_noting(m->cfg, m->key, m->key_len, entry, len, ttl,
                             m->lock, m->lock_len, m->owner, m->owner_len,
                             CE_LOCK_LINGER_MS);
}

void ce_miss_done(ce_miss *m, const uint8_t *vec, uint32_t dims,
                  uint64_t tokens, int stored) {
  if (m->f)
    ce_flight_publish(m->f, vec, dims, tokens, stored ? m->key : "",
                      stored ? m->key_len : 0);
  m->f = NULL;
  if (!m->locked)
    return;
  char *note = stored ? malloc(m->key_len + 2) : NULL;
  const char *vals[1] = {NULL};
  size_t val_lens[1] = {0};
  const char *keys[1] = {m->lock};
  size_t key_lens[1] = {m->lock_len};
  if (note) {
    memcpy(note, "d:", 2);
    memcpy(note + 2, m->key, m->key_len);
    vals[0] = note;
    val_lens[0] = m->key_len + 2;
  }
  ce_cache_lock_end_many(m->cfg, keys, key_lens, 1, m->owner, m->owner_len,
                         vals, val_lens, CE_LOCK_LINGER_MS);
  free(note);
  m->locked = 0;
}

void ce_miss_fail(ce_miss *m, const char *cls, const char *err) {
  lead_fail(m, cls, err);
  if (m->locked)
    ce_cache_unlock(m->cfg, m->lock, m->lock_len, m->owner, m->owner_len);
  m->locked = 0;
}

/* ---- many misses ---- */

typedef struct {
  ce_claim *c;
  const size_t *which;
} note_ctx;

static void keep_note(void *ctx, size_t j, const uint8_t *val, size_t len,
                      long long pttl_ms) {
  note_ctx *nc = ctx;
  ce_claim *cl = &nc->c[nc->which[j]];
  (void)pttl_ms;
  if (!val || len <= 2 || memcmp(val, "d:", 2) || cl->note)
    return;
  cl->note = malloc(len - 2 + 1);
  if (cl->note) {
    memcpy(cl->note, val + 2, len - 2);
    cl->note[len - 2] = '\0';
  }
}

/* The claims which[0..n) whose locks were refused: a lock already turned
 * into a "done" note is read now (it lives as long as the lock would have;
 * the warm-up's own requests may take longer). */
static void read_notes(const ce_config *cfg, ce_claim *c, const char **locks,
                       size_t *lens, size_t *which, size_t n) {
  note_ctx nc = {c, which};
  ce_cache_mget(cfg, locks, lens, n, keep_note, &nc);
}

void ce_claims_take(ce_claims *cs, const ce_config *cfg, uint32_t want_dims,
                    ce_claim *c, size_t n, long pay_ms) {
  long long now = ce_mono_ms();
  memset(cs, 0, sizeof *cs);
  cs->cfg = cfg;
  cs->want_dims = want_dims;
  cs->lock_ms = pay_ms + CE_LOCK_MARGIN_MS;
  cs->pay_until = now + pay_ms + CE_LOCK_MARGIN_MS;
  cs->owner_len = lock_owner(cs->owner);
  size_t n_lead = 0;
  for (size_t i = 0; i < n; i++) {
    ce_flight_role r = ce_flight_claim(c[i].id, cs->pay_until, &c[i].f);
    c[i].role = r == CE_FLIGHT_WAIT ? CE_CLAIM_WAIT : CE_CLAIM_PAY;
    c[i].locked = 0;
    c[i].note = NULL;
    if (r != CE_FLIGHT_WAIT)
      n_lead++;
  }
  if (!n_lead)
    return;
  /* The locks of the identities we lead, one pipelined round trip per
   * CE_CACHE_PIPELINE. */
  char *locks = malloc(n_lead * CE_LOCK_KEY_MAX);
  const char **keys = malloc(n_lead * sizeof *keys);
  size_t *lens = malloc(n_lead * sizeof *lens);
  size_t *which = malloc(n_lead * sizeof *which);
  int8_t *got = malloc(n_lead);
  if (!locks || !keys || !lens || !which || !got)
    goto done; /* no locks: pay, as without Redis */
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (c[i].role != CE_CLAIM_PAY)
      continue;
    keys[k] = locks + k * CE_LOCK_KEY_MAX;
    lens[k] = lock_key(cfg, c[i].id, locks + k * CE_LOCK_KEY_MAX);
    which[k++] = i;
  }
  ce_cache_lock_many(cfg, keys, lens, k, cs->owner, cs->owner_len, cs->lock_ms,
                     got);
  size_t n_held = 0;
  for (size_t j = 0; j < k; j++) {
    ce_claim *cl = &c[which[j]];
    cl->locked = got[j] == CE_LOCK_OK;
    if (got[j] == CE_LOCK_NOT_OURS) {
      cl->role = CE_CLAIM_HELD;
      if (cl->f) /* our waiters wait for our pay phase, then the lock */
        ce_flight_extend(cl->f,
                         cs->pay_until + lock_ms(cfg) + CE_LOCK_MARGIN_MS);
      keys[n_held] = keys[j];
      lens[n_held] = lens[j];
      which[n_held++] = which[j];
    }
  }
  if (n_held) /* notes of requests that ended: read them now */
    read_notes(cfg, c, keys, lens, which, n_held);
done:
  free(locks);
  free(keys);
  free(lens);
  free(which);
  free(got);
}

void ce_claims_publish(ce_claims *cs, ce_claim *c, size_t n,
                       const uint8_t *vecs, uint32_t dims, const uint8_t *ok,
                       const uint8_t *stored) {
  /* locks [0, k_note) get notes, [k_note, n) (filled from the end) are
   * released */
  const char **keys = malloc(n * sizeof *keys);
  size_t *lens = malloc(n * sizeof *lens);
  const char **notes = malloc(n * sizeof *notes);
  size_t *note_lens = malloc(n * sizeof *note_lens);
  char *locks = malloc(n * CE_LOCK_KEY_MAX);
  size_t k_note = 0, k_free = n;
  int mem = keys && lens && notes && note_lens && locks;
  for (size_t i = 0; i < n; i++) {
    ce_claim *cl = &c[i];
    int good = ok[i] && vecs;
    if (cl->f) {
      if (good)
        ce_flight_publish(cl->f, vecs + i * (size_t)dims * 4, dims, 0,
                          stored[i] ? cl->key : "",
                          stored[i] ? cl->key_len : 0);
      else
        ce_flight_fail(cl->f, "warm-up request failed",
                       "the warm-up request of this text failed");
      cl->f = NULL;
    }
    if (!cl->locked || !mem)
      continue;
    cl->locked = 0;
    char *note = good && stored[i] ? malloc(cl->key_len + 2) : NULL;
    size_t k = note ? k_note++ : --k_free;
    keys[k] = locks + k * CE_LOCK_KEY_MAX;
    lens[k] = lock_key(cs->cfg, cl->id, locks + k * CE_LOCK_KEY_MAX);
    if (note) {
      memcpy(note, "d:", 2);
      memcpy(note + 2, cl->key, cl->key_len);
      notes[k] = note;
      note_lens[k] = cl->key_len + 2;
    }
  }
  if (k_note) { /* for what the locks had left (pay_until), at least the
                 * linger */
    long long left = cs->pay_until - ce_mono_ms();
    ce_cache_note_many(cs->cfg, keys, lens, k_note, notes, note_lens,
                       left > CE_LOCK_LINGER_MS ? (long)left
                                                : CE_LOCK_LINGER_MS);
  }
  if (k_free < n) /* owner-only: compare-and-delete */
    ce_cache_lock_end_many(cs->cfg, keys + k_free, lens + k_free, n - k_free,
                           cs->owner, cs->owner_len, NULL, NULL, 0);
  for (size_t j = 0; j < k_note; j++)
    free((char *)notes[j]);
  free(keys);
  free(lens);
  free(notes);
  free(note_lens);
  free(locks);
}

typedef struct {
  void (*each)(void *ctx, size_t i, const uint8_t *vec, uint32_t dims,
               const char *key, size_t key_len);
  void *ctx;
  size_t i;
  uint64_t tokens;
} each_ctx;

static int take_each(void *ctx, const ce_flight_result *r) {
  each_ctx *ec = ctx;
  ec->tokens = r->tokens;
  ec->each(ec->ctx, ec->i, r->vec, r->dims, r->key, r->key_len);
  return 0;
}

/* The remotes of the HELD claims among c[0..n) into rs (their "done" notes
 * move there), the claims' indexes into idx; returns how many. */
static size_t held_remotes(const ce_claims *cs, ce_claim *c, size_t n,
                           remote *rs, size_t *idx) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (c[i].role != CE_CLAIM_HELD)
      continue;
    rs[k].hash = c[i].hash;
    rs[k].key = c[i].key;
    rs[k].key_len = c[i].key_len;
    rs[k].lock_len = lock_key(cs->cfg, c[i].id, rs[k].lock);
    if (c[i].note) { /* read when the lock was refused: it may be gone by
                        the time our own requests are over, its entry not */
      rs[k].note = c[i].note;
      rs[k].note_len = strlen(c[i].note);
      c[i].note = NULL;
    }
    idx[k++] = i;
  }
  return k;
}

/* Out of memory for the wait: the notes go, and this server's waiters on
 * the HELD claims get an error. */
static void fail_held(ce_claim *c, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(c[i].note);
    c[i].note = NULL;
    if (c[i].role == CE_CLAIM_HELD && c[i].f) {
      ce_flight_fail(c[i].f, CE_FAIL_LOCAL, "out of memory");
      c[i].f = NULL;
    }
  }
}

/* Waits the back-off (never past the soonest deadline), then polls the
 * remotes of rs[0..k) still waiting, in one round; a remote whose round
 * Redis missed asks again (up to 3 times). Returns how many were polled. */
static size_t poll_held(const ce_claims *cs, remote *rs, size_t k,
                        remote **pending, long *delay, long long cap) {
  long long soonest = cap;
  for (size_t j = 0; j < k; j++)
    if (rs[j].until && rs[j].until < soonest)
      soonest = rs[j].until;
  back_off(delay, soonest);
  size_t m = 0;
  for (size_t j = 0; j < k; j++)
    if (rs[j].state == R_WAITING)
      pending[m++] = &rs[j];
  if (!m)
    return 0;
  poll_round(cs->cfg, pending, m, cs->want_dims);
  for (size_t j = 0; j < m; j++) /* a round Redis missed: ask again */
    if (pending[j]->state == R_ERROR && ++pending[j]->errors < 3)
      pending[j]->state = R_WAITING;
  return m;
}

/* Hands on the outcome of remote r, of claim i (cl): its vector to `each`
 * and this server's waiters. A wait that gave nothing keeps the claim's
 * flight: the caller pays for it and publishes. */
static void settle_remote(each_ctx *ec, remote *r, ce_claim *cl, size_t i) {
  r->settled = 1;
  if (r->state == R_SERVED) {
    ec->each(ec->ctx, i, r->vec, r->dims, r->src, r->src_len);
    count_waited(0, cl->text_len);
    if (cl->f)
      ce_flight_publish(cl->f, r->vec, r->dims, 0, r->src, r->src_len);
    cl->f = NULL;
  } /* else the caller pays for it and publishes (f kept) */
  if (r->state == R_WAITING)
    r->state = R_GONE;
}

/* The HELD claims: poll their locks and keys together until each is
 * served, gone or out of time. */
static void settle_held(ce_claims *cs, ce_claim *c, size_t n, each_ctx *ec) {
  remote *rs = calloc(n, sizeof *rs);
  remote **pending = malloc(n * sizeof *pending);
  size_t *idx = malloc(n * sizeof *idx);
  size_t k = 0;
  long delay = CE_LOCK_POLL_MIN_MS;
  long long cap = ce_mono_ms() + cs->lock_ms + CE_LOCK_MARGIN_MS;
  if (!rs || !pending || !idx)
    fail_held(c, n);
  else
    k = held_remotes(cs, c, n, rs, idx);
  while (k && poll_held(cs, rs, k, pending, &delay, cap)) {
    long long now = ce_mono_ms();
    size_t left = 0;
    for (size_t j = 0; j < k; j++) {
      remote *r = &rs[j];
      if (r->state == R_WAITING && now < (r->until ? r->until : cap))
        left++;
      else if (!r->settled)
        settle_remote(ec, r, &c[idx[j]], idx[j]);
    }
    if (!left)
      break;
  }
  for (size_t j = 0; j < k; j++)
    remote_free(&rs[j]);
  free(rs);
  free(pending);
  free(idx);
}

void ce_claims_settle(ce_claims *cs, ce_claim *c, size_t n,
                      void (*each)(void *ctx, size_t i, const uint8_t *vec,
                                   uint32_t dims, const char *key,
                                   size_t key_len),
                      void *ctx) {
  each_ctx ec = {each, ctx, 0, 0};
  char err[240];
  const char *cls;
  /* The HELD claims first: they wait on Redis alone, while this server's
   * other sessions may be waiting on them (in-server, we lead them): were
   * we to wait on theirs first, two warm-ups could each wait on the other
   * until the deadlines. */
  settle_held(cs, c, n, &ec);
  for (size_t i = 0; i < n; i++) {
    if (c[i].role != CE_CLAIM_WAIT || !c[i].f)
      continue;
    ec.i = i;
    if (ce_flight_wait(c[i].f, ce_mono_ms() + CE_FLIGHT_WAIT_CAP_MS, take_each,
                       &ec, err, sizeof err, &cls) == CE_FLIGHT_TAKEN)
      count_waited(ec.tokens, c[i].text_len);
    c[i].f = NULL;
  }
}

static int take_nothing(void *ctx, const ce_flight_result *r) {
  (void)ctx, (void)r;
  return 1;
}

void ce_claims_drop(ce_claims *cs, ce_claim *c, size_t n) {
  char err[240];
  const char *cls;
  (void)cs;
  for (size_t i = 0; i < n; i++) {
    if (c[i].role == CE_CLAIM_WAIT && c[i].f)
      ce_flight_wait(c[i].f, 0, take_nothing, NULL, err, sizeof err, &cls);
    else if (c[i].f)
      ce_flight_fail(c[i].f, CE_FAIL_LOCAL,
                     "the warm-up that led this text stopped");
    c[i].f = NULL;
    free(c[i].note);
    c[i].note = NULL;
  }
}
