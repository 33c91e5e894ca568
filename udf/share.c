#include "share.h"

#include "clock.h"
#include "sha256.h"
#include "stats.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  QUEUED, /* waiting to be sent */
  TAKEN,  /* in the request in flight */
  DONE,   /* vector in `vec` */
  FAILED, /* err, cls */
  ALONE   /* send alone (not picked up in time, or the shared request was
             refused as too large) */
};

/* A queued row: its text (a copy) and, later, its outcome. Heap-allocated:
 * the row may give up on it while the sender still holds it. */
typedef struct member {
  struct member *next;
  int state;
  int refs;              /* the row's, and the sender's while TAKEN */
  long long taken_until; /* TAKEN: the sender's bound */
  size_t len;
  uint8_t *vec;
  uint32_t dims;
  uint64_t tokens;
  const char *cls;
  char err[320];
  char text[]; /* len bytes */
} member;

typedef struct lane {
  struct lane *next;
  uint8_t id[CE_SHA256_LEN];
  int busy;  /* a request of this lane is in flight */
  int users; /* rows inside ce_share_embed with this lane */
  member *head, *tail;
  size_t queued;          /* rows in the queue */
  size_t expect;          /* rows the queue waits for (gathering) */
  long long gather_until; /* ... till then */
  pthread_cond_t cv;      /* broadcast when the lane goes idle or rows end */
} lane;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static lane *lanes;

/* What shapes a request or decides where it goes, as one SHA-256. */
static void lane_id(const ce_config *cfg, uint8_t out[CE_SHA256_LEN]) {
  char buf[sizeof cfg->endpoint + sizeof cfg->api_key + sizeof cfg->model +
           sizeof cfg->task + sizeof cfg->ca_file + 64];
  int n = snprintf(buf, sizeof buf, "%s%c%s%c%ld%c%s%c%ld%c%s%c%ld%c%s",
                   cfg->endpoint, 0, cfg->api_key, 0, cfg->provider, 0,
                   cfg->model, 0, cfg->dimensions, 0, cfg->task, 0,
                   cfg->truncate, 0, cfg->ca_file);
  ce_sha256(buf, n > 0 && (size_t)n < sizeof buf ? (size_t)n : sizeof buf, out);
}

/* The lane of `id`, made if needed, with one more user (lock held). */
static lane *lane_get(const uint8_t id[CE_SHA256_LEN]) {
  lane *l;
  for (l = lanes; l; l = l->next)
    if (!memcmp(l->id, id, CE_SHA256_LEN))
      break;
  if (!l) {
    l = calloc(1, sizeof *l);
    if (!l)
      return NULL;
    memcpy(l->id, id, CE_SHA256_LEN);
    ce_cond_init_mono(&l->cv);
    l->next = lanes;
    lanes = l;
  }
  l->users++;
  return l;
}

/* One user fewer. Lanes nobody uses, with nothing in flight, queued or
 * gathered for, are freed (lock held): a lane that is gathering stays
 * until a later call finds it done. */
static void lane_put(lane *l) {
  long long now = ce_mono_ms();
  l->users--;
  for (lane **p = &lanes; *p;) {
    lane *x = *p;
    if (x->users > 0 || x->busy || x->head || now < x->gather_until) {
      p = &x->next;
      continue;
    }
    *p = x->next;
    pthread_cond_destroy(&x->cv);
    free(x);
  }
}

static void member_unref(member *m) {
  if (--m->refs > 0)
    return;
  free(m->vec);
  free(m);
}

static void dequeue(lane *l, member *m) {
  member *prev = NULL;
  for (member *p = l->head; p; prev = p, p = p->next)
    if (p == m) {
      if (prev)
        prev->next = m->next;
      else
        l->head = m->next;
      if (l->tail == m)
        l->tail = prev;
      m->next = NULL;
      l->queued--;
      return;
    }
}

/* Takes the next request's rows off the queue (lock held): up to `batch`
 * inputs, the token budget and CE_SHARE_TEXT_MAX bytes; at least one. */
static size_t take_batch(const ce_config *cfg, lane *l, member **out,
                         size_t cap) {
  uint64_t budget = (uint64_t)ce_config_max_request_tokens(cfg), tokens = 0;
  size_t n = 0, bytes = 0;
  while (l->head && n < cap) {
    member *m = l->head;
    uint64_t t = ce_provider_tokens_estimate(m->len, 1);
    if (n && (tokens + t > budget || bytes + m->len > CE_SHARE_TEXT_MAX))
      break;
    tokens += t;
    bytes += m->len;
    l->head = m->next;
    if (!l->head)
      l->tail = NULL;
    m->next = NULL;
    l->queued--;
    m->state = TAKEN;
    m->refs++;
    m->taken_until = ce_mono_ms() + cfg->timeout_ms + CE_SHARE_MARGIN_MS;
    out[n++] = m;
  }
  return n;
}

/* A shared request that failed where its rows alone may not: refused as
 * too large ("provider answered 413: ...", or 400/422 saying so), or a
 * failure its retries did not absorb (429, 5xx, a network error, a
 * timeout, a bad answer), which requests of one row each would meet one by
 * one — not a verdict on every row (401, 403 and other 4xx, the circuit,
 * the cost guard, a disabled provider). */
static int worth_alone(const char *err, const char *cls) {
  static const char *const final[] = {CE_FAIL_CIRCUIT, CE_FAIL_BUDGET,
                                      CE_FAIL_OFF, CE_FAIL_LOCAL};
  long status;
  const char *msg = strstr(err, ": ");
  for (size_t i = 0; i < sizeof final / sizeof final[0]; i++)
    if (cls && !strcmp(cls, final[i]))
      return 0;
  if (sscanf(err, "provider answered %ld: ", &status) == 1)
    return ce_provider_retryable(status) ||
           (msg && ce_provider_too_large(status, msg + 2));
  return 1;
}

/* One row's outcome of a shared request, made without the lock. */
typedef struct {
  int state; /* DONE, FAILED or ALONE */
  uint8_t *vec;
  uint32_t dims;
  uint64_t tokens;
  const char *cls;
  const char *err;
} outcome;

/* Sends the rows `ms` as one request (lock NOT held: their texts do not
 * change, and the sender's references keep them alive) and fills `res`. */
static void send_batch(const ce_config *cfg, member **ms, size_t n,
                       outcome *res, char *err, size_t errlen) {
  ce_text *in = malloc(n * sizeof *in);
  ce_embeddings e;
  const char *cls = CE_FAIL_LOCAL;
  size_t bytes = 0;
  int rc = -1;
  if (in) {
    for (size_t i = 0; i < n; i++) {
      in[i].s = ms[i]->text;
      in[i].len = ms[i]->len;
      bytes += ms[i]->len;
    }
    if (n > 1)
      ce_stat_add(CE_STAT_SHARED_REQUESTS, 1);
    rc = ce_provider_embed(cfg, in, n, &e, err, errlen, &cls);
    free(in);
  } else {
    snprintf(err, errlen, "out of memory for a shared request");
  }
  int alone = rc && n > 1 && worth_alone(err, cls);
  for (size_t i = 0; i < n; i++) {
    outcome *o = &res[i];
    memset(o, 0, sizeof *o);
    o->state = alone ? ALONE : FAILED;
    o->cls = cls;
    o->err = err;
    if (rc)
      continue;
    size_t vb = (size_t)e.dims * 4;
    o->vec = malloc(vb ? vb : 1);
    if (!o->vec) {
      o->cls = CE_FAIL_LOCAL;
      o->err = "out of memory for a shared vector";
      continue;
    }
    memcpy(o->vec, e.vecs + i * vb, vb);
    o->dims = e.dims;
    o->tokens = bytes ? e.tokens * ms[i]->len / bytes : 0;
    o->state = DONE;
  }
  if (rc == 0)
    ce_embeddings_free(&e);
}

/* Hands each row still waiting its outcome, and drops the sender's
 * references (lock held). */
static void apply(member **ms, size_t n, outcome *res) {
  for (size_t i = 0; i < n; i++) {
    member *m = ms[i];
    if (m->state == TAKEN) {
      m->state = res[i].state;
      m->vec = res[i].vec;
      m->dims = res[i].dims;
      m->tokens = res[i].tokens;
      m->cls = res[i].cls;
      snprintf(m->err, sizeof m->err, "%s", res[i].err ? res[i].err : "");
    } else {
      free(res[i].vec); /* the row gave up waiting */
    }
    member_unref(m);
  }
}

/* A request of `n` rows sent at `t0` has ended (lock held): the lane is
 * idle. Its rows will soon come back with their next misses; the queue
 * waits for them a little (a tenth of that request's time, at most
 * CE_SHARE_GATHER_MS) so that the next request carries them and the rows
 * queued meanwhile, instead of two groups of sessions taking turns, each
 * waiting for the other's request. */
static void lane_idle(lane *l, size_t n, long long t0) {
  long long now = ce_mono_ms(), gather = (now - t0) / 10;
  l->busy = 0;
  l->expect = l->queued + n;
  l->gather_until =
      now + (gather < CE_SHARE_GATHER_MS ? gather : CE_SHARE_GATHER_MS);
  pthread_cond_broadcast(&l->cv);
}

/* Whether the queue should go now (lock held; the lane is idle). */
static int queue_ready(const lane *l) {
  return l->queued >= l->expect || ce_mono_ms() >= l->gather_until;
}

/* The first queued row of an idle lane sends the queue (lock held on entry
 * and on return). */
static void send_queue(const ce_config *cfg, lane *l) {
  size_t cap = cfg->batch > 0 ? (size_t)cfg->batch : 1;
  member **batch = malloc(cap * sizeof *batch);
  outcome *res = malloc(cap * sizeof *res);
  char err[320];
  if (!batch || !res) {
    free(batch);
    free(res);
    batch = NULL;
    res = NULL;
  }
  member *one[1];
  outcome one_res[1];
  size_t n = take_batch(cfg, l, batch ? batch : one, batch ? cap : 1);
  long long t0 = ce_mono_ms();
  l->busy = 1;
  pthread_mutex_unlock(&mu);
  send_batch(cfg, batch ? batch : one, n, res ? res : one_res, err, sizeof err);
  pthread_mutex_lock(&mu);
  apply(batch ? batch : one, n, res ? res : one_res);
  lane_idle(l, n, t0);
  free(batch);
  free(res);
}

/* The row's wait in the queue; returns with its member's final state (or
 * ALONE, FAILED on a timeout while TAKEN). Lock held throughout. */
static void wait_turn(const ce_config *cfg, lane *l, member *me) {
  long long queued_until = ce_mono_ms() + cfg->timeout_ms + CE_SHARE_MARGIN_MS;
  for (;;) {
    long long now = ce_mono_ms();
    int first = me->state == QUEUED && !l->busy && l->head == me;
    if (first && queue_ready(l)) {
      /* The lane is idle and we are first: we send the queue. */
      send_queue(cfg, l);
      continue;
    }
    if (me->state == QUEUED && now >= queued_until) {
      dequeue(l, me); /* not picked up in time: send alone */
      me->state = ALONE;
      pthread_cond_broadcast(&l->cv); /* the next one may be first now */
      return;
    }
    if (me->state == TAKEN && now >= me->taken_until) {
      snprintf(me->err, sizeof me->err,
               "a shared request did not finish within %ld ms",
               cfg->timeout_ms + CE_SHARE_MARGIN_MS);
      me->cls = CE_FAIL_TIMEOUT;
      me->state = FAILED;
      return; /* the sender still holds its reference */
    }
    if (me->state != QUEUED && me->state != TAKEN)
      return;
    long long until = me->state == TAKEN ? me->taken_until : queued_until;
    if (first && l->gather_until < until)
      until = l->gather_until;
    ce_cond_wait_until(&l->cv, &mu, until);
  }
}

int ce_share_embed(const ce_config *cfg, const ce_text *text,
                   ce_embeddings *out, char *err, size_t errlen,
                   const char **cls) {
  uint8_t id[CE_SHA256_LEN];
  if (!cfg->share_requests)
    return ce_provider_embed(cfg, text, 1, out, err, errlen, cls);
  lane_id(cfg, id);
  pthread_mutex_lock(&mu);
  lane *l = lane_get(id);
  if (!l) {
    pthread_mutex_unlock(&mu);
    return ce_provider_embed(cfg, text, 1, out, err, errlen, cls);
  }
  if (!l->busy && !l->head && queue_ready(l)) {
    /* Nothing in flight, nobody to wait for: send at once, alone. */
    long long t0 = ce_mono_ms();
    l->busy = 1;
    pthread_mutex_unlock(&mu);
    int rc = ce_provider_embed(cfg, text, 1, out, err, errlen, cls);
    pthread_mutex_lock(&mu);
    lane_idle(l, 1, t0);
    lane_put(l);
    pthread_mutex_unlock(&mu);
    return rc;
  }
  member *me = malloc(sizeof *me + text->len);
  if (!me) {
    lane_put(l);
    pthread_mutex_unlock(&mu);
    return ce_provider_embed(cfg, text, 1, out, err, errlen, cls);
  }
  memset(me, 0, sizeof *me);
  memcpy(me->text, text->s, text->len);
  me->len = text->len;
  me->refs = 1;
  me->state = QUEUED;
  if (l->tail)
    l->tail->next = me;
  else
    l->head = me;
  l->tail = me;
  l->queued++;
  if (!l->busy) /* the first in the queue may be gathering: it counts */
    pthread_cond_broadcast(&l->cv);
  wait_turn(cfg, l, me);
  int state = me->state;
  int rc = -1;
  memset(out, 0, sizeof *out);
  if (state == DONE) {
    out->vecs = me->vec; /* handed over */
    me->vec = NULL;
    out->dims = me->dims;
    out->n = 1;
    out->tokens = me->tokens;
    rc = 0;
  } else if (state == FAILED) {
    snprintf(err, errlen, "%s", me->err);
    *cls = me->cls;
  }
  member_unref(me);
  lane_put(l);
  pthread_mutex_unlock(&mu);
  if (state == ALONE)
    rc = ce_provider_embed(cfg, text, 1, out, err, errlen, cls);
  return rc;
}

void ce_share_shutdown(void) {
  pthread_mutex_lock(&mu);
  for (lane **p = &lanes; *p;) {
    lane *x = *p;
    if (x->users > 0 || x->busy || x->head) {
      p = &x->next;
      continue;
    }
    *p = x->next;
    pthread_cond_destroy(&x->cv);
    free(x);
  }
  pthread_mutex_unlock(&mu);
}
