#include "inflight.h"

#include "clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PENDING, DONE, FAILED };

struct ce_flight {
  uint8_t id[CE_SHA256_LEN];
  int state;
  int linked; /* in its bucket (only while PENDING) */
  int refs;   /* the leader's (until it ends the entry) + one a waiter */
  unsigned shard;
  long long deadline;
  uint8_t *vec;
  uint32_t dims;
  uint64_t tokens;
  char *key;
  size_t key_len;
  const char *cls;
  char err[200];
  struct ce_flight *next;
};

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* broadcast when an entry of this shard ends */
  ce_flight *bucket[CE_FLIGHT_BUCKETS];
  size_t n;
} shard;

static shard shards[CE_FLIGHT_SHARDS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_shards(void) {
  for (int i = 0; i < CE_FLIGHT_SHARDS; i++) {
    pthread_mutex_init(&shards[i].mu, NULL);
    ce_cond_init_mono(&shards[i].cv);
  }
}

/* The identity is a SHA-256: its bytes are as good as any hash. */
static ce_flight **bucket_of(shard *s, const uint8_t id[CE_SHA256_LEN]) {
  return &s->bucket[id[1] % CE_FLIGHT_BUCKETS];
}

static void unlink_entry(shard *s, ce_flight *f) {
  if (!f->linked)
    return;
  for (ce_flight **p = bucket_of(s, f->id); *p; p = &(*p)->next)
    if (*p == f) {
      *p = f->next;
      break;
    }
  f->linked = 0;
  s->n--;
}

/* Drops a reference (shard lock held); frees the entry with the last. */
static void unref(ce_flight *f) {
  if (--f->refs > 0)
    return;
  free(f->vec);
  free(f->key);
  free(f);
}

ce_flight_role ce_flight_claim(const uint8_t id[CE_SHA256_LEN],
                               long long deadline_ms, ce_flight **out) {
  pthread_once(&once, init_shards);
  shard *s = &shards[id[0] % CE_FLIGHT_SHARDS];
  long long now = ce_mono_ms();
  pthread_mutex_lock(&s->mu);
  for (ce_flight *f = *bucket_of(s, id); f; f = f->next) {
    if (memcmp(f->id, id, CE_SHA256_LEN))
      continue;
    if (f->deadline > now) {
      f->refs++;
      pthread_mutex_unlock(&s->mu);
      *out = f;
      return CE_FLIGHT_WAIT;
    }
    unlink_entry(s, f); /* its leader is stuck: a new one takes over */
    break;
  }
  ce_flight *f = calloc(1, sizeof *f);
  if (!f) {
    pthread_mutex_unlock(&s->mu);
    *out = NULL;
    return CE_FLIGHT_ALONE;
  }
  memcpy(f->id, id, CE_SHA256_LEN);
  f->state = PENDING;
  f->refs = 1;
  f->shard = (unsigned)(s - shards);
  f->deadline = deadline_ms;
  ce_flight **b = bucket_of(s, id);
  f->next = *b;
  *b = f;
  f->linked = 1;
  s->n++;
  pthread_mutex_unlock(&s->mu);
  *out = f;
  return CE_FLIGHT_LEAD;
}

void ce_flight_extend(ce_flight *f, long long deadline_ms) {
  shard *s = &shards[f->shard];
  pthread_mutex_lock(&s->mu);
  if (deadline_ms > f->deadline)
    f->deadline = deadline_ms;
  pthread_mutex_unlock(&s->mu);
}

/* Ends the entry with `state` and wakes its waiters (shard lock held). */
static void end_entry(shard *s, ce_flight *f, int state) {
  f->state = state;
  unlink_entry(s, f);
  pthread_cond_broadcast(&s->cv);
  unref(f);
}

void ce_flight_publish(ce_flight *f, const uint8_t *vec, uint32_t dims,
                       uint64_t tokens, const char *key, size_t key_len) {
  shard *s = &shards[f->shard];
  pthread_mutex_lock(&s->mu);
  if (f->refs == 1) { /* nobody waits, and nobody can join now */
    end_entry(s, f, DONE);
    pthread_mutex_unlock(&s->mu);
    return;
  }
  pthread_mutex_unlock(&s->mu);
  /* Copied without the lock: the waiters read it once DONE. */
  uint8_t *copy = malloc(dims ? (size_t)dims * 4 : 1);
  char *kcopy = malloc(key_len + 1);
  if (!copy || !kcopy) {
    free(copy);
    free(kcopy);
    ce_flight_fail(f, "out of memory", "out of memory for a shared vector");
    return;
  }
  memcpy(copy, vec, (size_t)dims * 4);
  if (key_len)
    memcpy(kcopy, key, key_len);
  kcopy[key_len] = '\0';
  pthread_mutex_lock(&s->mu);
  f->vec = copy;
  f->dims = dims;
  f->tokens = tokens;
  f->key = kcopy;
  f->key_len = key_len;
  end_entry(s, f, DONE);
  pthread_mutex_unlock(&s->mu);
}

void ce_flight_fail(ce_flight *f, const char *cls, const char *err) {
  shard *s = &shards[f->shard];
  pthread_mutex_lock(&s->mu);
  f->cls = cls;
  snprintf(f->err, sizeof f->err, "%s", err);
  end_entry(s, f, FAILED);
  pthread_mutex_unlock(&s->mu);
}

ce_flight_wait_status
ce_flight_wait(ce_flight *f, long long until_ms,
               int (*take)(void *ctx, const ce_flight_result *r), void *ctx,
               char *err, size_t errlen, const char **cls) {
  shard *s = &shards[f->shard];
  long long start = ce_mono_ms();
  ce_flight_wait_status rc;
  pthread_mutex_lock(&s->mu);
  while (f->state == PENDING) {
    long long d = f->deadline < until_ms ? f->deadline : until_ms;
    if (ce_mono_ms() >= d)
      break;
    ce_cond_wait_until(&s->cv, &s->mu, d);
  }
  int state = f->state;
  if (state == PENDING && f->deadline <= ce_mono_ms())
    unlink_entry(s, f); /* the leader is stuck: the next claim leads */
  if (state == FAILED) {
    snprintf(err, errlen, "%s", f->err);
    *cls = f->cls;
  }
  pthread_mutex_unlock(&s->mu);

  if (state == DONE) {
    /* Immutable once DONE, and alive while we hold our reference. */
    ce_flight_result r = {f->vec, f->dims, f->tokens, f->key, f->key_len};
    rc = take(ctx, &r) ? CE_FLIGHT_FAILED : CE_FLIGHT_TAKEN;
    if (rc) {
      snprintf(err, errlen, "out of memory for a shared vector");
      *cls = "out of memory";
    }
  } else if (state == FAILED) {
    rc = CE_FLIGHT_FAILED;
  } else {
    snprintf(err, errlen,
             "waited %lld ms for another session's request of the same "
             "text, which did not finish",
             ce_mono_ms() - start);
    *cls = "single-flight wait timed out";
    rc = CE_FLIGHT_TIMED_OUT;
  }
  pthread_mutex_lock(&s->mu);
  unref(f);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

size_t ce_flight_pending(void) {
  size_t n = 0;
  pthread_once(&once, init_shards);
  for (int i = 0; i < CE_FLIGHT_SHARDS; i++) {
    pthread_mutex_lock(&shards[i].mu);
    n += shards[i].n;
    pthread_mutex_unlock(&shards[i].mu);
  }
  return n;
}
