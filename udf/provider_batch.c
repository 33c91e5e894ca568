#include "provider_batch.h"
#include "provider_private.h"

#include "clock.h"
#include "dims.h"
#include "grow.h"
#include "guard.h"
#include "log.h"
#include "plugin_services.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  JOB_READY,   /* waiting for its (next) attempt at start_at */
  JOB_RUNNING, /* a transfer in flight */
  JOB_DONE,
  JOB_FAILED,
  JOB_SPLIT /* refused as too large; its inputs went to two new requests */
} job_state;

typedef struct {
  size_t first, count; /* the inputs of this request */
  char *json;
  size_t cost; /* bytes reserved: JSON + expected response (reserve) */
  ce_http_call call;
  ce_guard_ticket ticket;
  job_state state;
  int attempt;
  long long deadline, start_at, t0;
  const char *cls; /* kind of the failure in err */
  char err[320];
  ce_embeddings e; /* its answer, until handed on (JOB_DONE) */
  int answered;    /* e is held */
} job;

typedef struct {
  const ce_config *cfg;
  CURLM *multi;
  const ce_text *in;
  size_t n, next; /* inputs; the first one not yet in a request */
  job **jobs;
  size_t n_jobs, jobs_cap; /* jobs_cap in bytes */
  ce_embed_each each;
  void *each_ctx;
  uint32_t dims; /* of the first answer: every other must match */
  uint8_t *ok;
  size_t inflight;  /* bytes reserved by requests not finished */
  size_t per_input; /* largest answer bytes per input so far; 0: none yet */
  int unfinished;   /* requests formed and not finished */
  int scouted;      /* the one-input request for unknown dims was formed */
  job *scout;       /* ... and is not finished */
} batch;

static ce_ratelimit batch_rl = CE_RATELIMIT_INIT(5, 60);

/* A request is over: gives back what it reserved, reports it once. */
static void finished(batch *b, job *j, job_state s) {
  j->state = s;
  free(j->json);
  j->json = NULL;
  b->inflight -= j->cost;
  b->unfinished--;
  if (b->scout == j)
    b->scout = NULL;
  ce_guard_request_done(b->cfg, &j->ticket);
}

static void fail(batch *b, job *j) {
  finished(b, j, JOB_FAILED);
  ce_server_progress_add(j->count, 0);
  ce_stat_add(CE_STAT_PROVIDER_ERRORS, 1);
  ce_log_limited(&batch_rl, j->cls,
                 "warm-up request of %zu inputs failed: %s; those rows are "
                 "not cached",
                 j->count, j->err);
}

/* The response bytes a request of `count` inputs is counted for: its limit
 * (ce_provider_response_limit: room for float arrays) until an answer came,
 * then a quarter more than the largest answer per input so far. A base64
 * answer is ~6 times smaller than the limit: counted at the limit, 32 MiB
 * let 6 requests of 256 inputs of 768 values fly, whatever `parallel`
 * said. */
static size_t reserve(const batch *b, size_t count) {
  size_t limit =
      ce_provider_response_limit(count, ce_provider_limit_dims(b->cfg));
  if (!b->per_input)
    return limit;
  size_t expected = CE_RESPONSE_FIXED_BYTES + count * (b->per_input / 4 * 5);
  return expected < limit ? expected : limit;
}

/* A new request for inputs [first, first + count), ready to start. */
static job *add_job(batch *b, size_t first, size_t count) {
  job *j = calloc(1, sizeof *j);
  if (!j ||
      ce_grow(&b->jobs, &b->jobs_cap, (b->n_jobs + 1) * sizeof *b->jobs)) {
    free(j);
    return NULL;
  }
  b->jobs[b->n_jobs++] = j;
  j->first = first;
  j->count = count;
  j->state = JOB_READY;
  j->cls = CE_FAIL_LOCAL;
  ce_guard_ticket_init(&j->ticket);
  b->unfinished++;
  j->json = ce_provider_request_json(b->cfg, b->in + first, count);
  if (!j->json) {
    snprintf(j->err, sizeof j->err,
             "could not build the request (invalid UTF-8?)");
    fail(b, j);
    return j;
  }
  j->cost = strlen(j->json) + reserve(b, count);
  b->inflight += j->cost;
  return j;
}

/* How many inputs one request may hold now. */
static size_t max_inputs(batch *b) {
  uint32_t dims = ce_provider_limit_dims(b->cfg);
  size_t per = ce_provider_response_limit(1, dims) - CE_RESPONSE_FIXED_BYTES;
  size_t most = (CE_BATCH_RESPONSE_MAX - CE_RESPONSE_FIXED_BYTES) / per;
  if (most > (size_t)b->cfg->batch)
    most = (size_t)b->cfg->batch;
  if (!dims && !b->scouted) /* learn the length from one input first */
    most = 1;
  return most ? most : 1;
}

/* Forms the next request from the inputs left, packed by count, estimated
 * tokens and response size. 0, or -1 when nothing may start now. */
static int form(batch *b) {
  if (b->next >= b->n || b->scout || b->unfinished >= b->cfg->parallel ||
      (b->unfinished && b->inflight >= CE_BATCH_INFLIGHT_MAX))
    return -1;
  size_t most = max_inputs(b), count = 0, bytes = 0;
  uint64_t budget = (uint64_t)ce_config_max_request_tokens(b->cfg), tokens = 0;
  while (b->next + count < b->n && count < most) {
    size_t len = b->in[b->next + count].len;
    uint64_t t = ce_provider_tokens_estimate(len, 1);
    if (count && (tokens + t > budget || bytes + len > CE_BATCH_TEXT_MAX))
      break;
    tokens += t;
    bytes += len;
    count++;
  }
  int scout = !ce_dims_expected(b->cfg) && !b->scouted;
  job *j = add_job(b, b->next, count);
  if (!j) {
    ce_log("warm-up: out of memory for a request; %zu rows are not cached",
           b->n - b->next);
    b->next = b->n;
    return -1;
  }
  b->next += count;
  if (scout) {
    b->scouted = 1;
    if (j->state == JOB_READY)
      b->scout = j;
  }
  return 0;
}

/* Starts the attempt of a ready request whose time has come; the guard may
 * put it off (start_at later) instead. */
static void start(batch *b, job *j) {
  const ce_config *cfg = b->cfg;
  long long now = ce_mono_ms();
  long later = 0;
  long remaining =
      ce_provider_time_left(cfg, j->deadline, j->err, sizeof j->err);
  if (!remaining) {
    j->cls = CE_FAIL_TIMEOUT;
    fail(b, j);
    return;
  }
  ce_admit_status rc =
      ce_provider_admit(cfg, b->in + j->first, j->count, remaining, &later,
                        &j->ticket, j->err, sizeof j->err, &j->cls);
  if (rc == CE_ADMIT_LATER) {
    j->start_at = now + (later > 0 ? later : 1);
    return;
  }
  if (rc != CE_ADMIT_GO) {
    fail(b, j);
    return;
  }
  if (ce_http_prepare(
          &j->call, cfg, j->json, remaining,
          ce_provider_response_limit(j->count, ce_provider_limit_dims(cfg)),
          j->err, sizeof j->err)) {
    ce_guard_result(cfg, &j->ticket, CE_GUARD_NOT_SENT, 0);
    j->cls = CE_FAIL_LOCAL;
    fail(b, j);
    return;
  }
  curl_easy_setopt(j->call.easy, CURLOPT_PRIVATE, (char *)j);
  if (curl_multi_add_handle(b->multi, j->call.easy) != CURLM_OK) {
    ce_http_finish(&j->call);
    ce_guard_result(cfg, &j->ticket, CE_GUARD_NOT_SENT, 0);
    snprintf(j->err, sizeof j->err, "could not start an http transfer");
    j->cls = CE_FAIL_LOCAL;
    fail(b, j);
    return;
  }
  j->t0 = now;
  j->state = JOB_RUNNING;
}

/* A request refused as too large: two requests of half the inputs each. */
static void split(batch *b, job *j) {
  size_t half = j->count / 2;
  ce_log_limited(&batch_rl, "request too large",
                 "warm-up request of %zu inputs refused as too large (%s); "
                 "sending it again as two of %zu and %zu",
                 j->count, j->err, half, j->count - half);
  finished(b, j, JOB_SPLIT);
  if (!add_job(b, j->first, half) ||
      !add_job(b, j->first + half, j->count - half))
    ce_log("warm-up: out of memory for a request; %zu rows are not cached",
           j->count);
}

/* Judges a finished transfer: done, failed, split, or ready again after a
 * wait. */
static void finish(batch *b, job *j, CURLcode cc) {
  const ce_config *cfg = b->cfg;
  ce_embeddings e;
  long wait;
  curl_easy_getinfo(j->call.easy, CURLINFO_RESPONSE_CODE, &j->call.status);
  curl_multi_remove_handle(b->multi, j->call.easy);
  ce_verdict verdict =
      ce_provider_judge(cfg, &j->ticket, &j->call, cc, j->t0, j->count, &e,
                        &wait, j->err, sizeof j->err, &j->cls);
  size_t body = j->call.len;
  ce_http_finish(&j->call);
  if (verdict == CE_VERDICT_OK) {
    if (body / j->count > b->per_input)
      b->per_input = body / j->count;
    size_t bytes = 0;
    for (size_t i = 0; i < j->count; i++)
      bytes += b->in[j->first + i].len;
    ce_stat_usage(bytes, e.tokens);
    if (b->dims && e.dims != b->dims) {
      snprintf(j->err, sizeof j->err, "vectors of %u and %u dimensions",
               b->dims, e.dims);
      j->cls = CE_FAIL_RESPONSE;
      ce_embeddings_free(&e);
      fail(b, j);
      return;
    }
    b->dims = e.dims;
    j->e = e; /* handed on by deliver(), once the next requests started */
    j->answered = 1;
    finished(b, j, JOB_DONE);
    ce_server_progress_add(j->count, 0);
    return;
  }
  if (verdict == CE_VERDICT_TOO_LARGE && j->count > 1) {
    split(b, j);
    return;
  }
  wait = ce_provider_retry_delay(cfg, verdict, j->attempt, wait, j->deadline,
                                 j->err, sizeof j->err);
  if (wait < 0) {
    fail(b, j);
    return;
  }
  j->attempt++;
  j->start_at = ce_mono_ms() + wait;
  j->state = JOB_READY;
  ce_stat_add(CE_STAT_RETRIES, 1);
}

/* KILL QUERY: every transfer in flight is dropped (its connection closed,
 * its answer never read) and nothing more starts. Not a provider failure:
 * the guard gets the tickets back unjudged, and the circuit counts none of
 * these requests. */
static void abandon(batch *b) {
  int running = 0, waiting = 0;
  for (size_t i = 0; i < b->n_jobs; i++) {
    job *j = b->jobs[i];
    if (j->state == JOB_RUNNING) {
      curl_multi_remove_handle(b->multi, j->call.easy);
      ce_http_finish(&j->call);
      ce_guard_result(b->cfg, &j->ticket, CE_GUARD_NOT_SENT, 0);
      running++;
    } else if (j->state == JOB_READY) {
      waiting++;
    } else {
      continue;
    }
    ce_guard_ticket_init(&j->ticket); /* counted nowhere */
    finished(b, j, JOB_FAILED);
  }
  ce_log("warm-up: statement killed; %d requests in flight abandoned, %d "
         "not started, %zu inputs not sent",
         running, waiting, b->n - b->next);
  b->next = b->n;
}

/* Starts what may start; returns the earliest time a waiting request is
 * due (-1: none) in *next_start, and whether anything is left to do. */
static int schedule(batch *b, long long *next_start) {
  int active = 0;
  *next_start = -1;
  while (form(b) == 0)
    ;
  for (size_t i = 0; i < b->n_jobs; i++) {
    job *j = b->jobs[i];
    long long now = ce_mono_ms();
    if (j->state == JOB_READY) {
      if (!j->deadline) /* the budget starts at the first attempt */
        j->deadline = now + b->cfg->timeout_ms;
      if (j->start_at <= now)
        start(b, j);
      if (j->state == JOB_READY &&
          (*next_start < 0 || j->start_at < *next_start))
        *next_start = j->start_at;
    }
    active |= j->state == JOB_READY || j->state == JOB_RUNNING;
  }
  return active || b->next < b->n;
}

/* Hands the answers received on to `each`. Called once the requests that
 * may start have started, so that the caller's work on these vectors
 * (the warm-up's writes to Redis) overlaps the requests in flight. */
static void deliver(batch *b) {
  for (size_t i = 0; i < b->n_jobs; i++) {
    job *j = b->jobs[i];
    if (!j->answered)
      continue;
    j->answered = 0;
    if (b->each(b->each_ctx, j->first, j->count, j->e.vecs, j->e.dims)) {
      j->state = JOB_FAILED;
      ce_log_limited(&batch_rl, CE_FAIL_LOCAL,
                     "warm-up: out of memory for the vectors of %zu inputs; "
                     "those rows are not cached",
                     j->count);
    } else {
      memset(b->ok + j->first, 1, j->count);
    }
    ce_embeddings_free(&j->e);
  }
}

size_t ce_provider_embed_each(const ce_config *cfg, CURLM *multi,
                              const ce_text *in, size_t n, ce_embed_each each,
                              void *ctx, uint8_t *ok) {
  batch b;
  size_t done = 0;

  memset(&b, 0, sizeof b);
  b.cfg = cfg;
  b.multi = multi;
  b.in = in;
  b.n = n;
  b.each = each;
  b.each_ctx = ctx;
  b.ok = ok;
  memset(ok, 0, n);
  if (!multi) {
    ce_log("warm-up: no http multi handle");
    return 0;
  }
  for (;;) {
    long long next_start;
    if (ce_server_killed()) {
      abandon(&b);
      break;
    }
    if (!schedule(&b, &next_start))
      break;
    int still;
    curl_multi_perform(multi, &still);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      char *priv = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
      finish(&b, (job *)priv, msg->data.result);
    }
    int more = schedule(&b, &next_start);
    curl_multi_perform(multi, &still); /* the new requests go out first */
    deliver(&b);
    if (!more)
      break;
    /* Sleep until a socket is ready, a request is due, or 100 ms pass. */
    long wait_ms = 100;
    long long now = ce_mono_ms();
    if (next_start >= 0 && next_start - now < wait_ms)
      wait_ms = (long)(next_start - now);
    if (wait_ms > 0)
      curl_multi_poll(multi, NULL, 0, (int)wait_ms, NULL);
  }
  for (size_t i = 0; i < b.n_jobs; i++) {
    job *j = b.jobs[i];
    if (j->state == JOB_RUNNING) { /* only on an early exit */
      curl_multi_remove_handle(multi, j->call.easy);
      ce_http_finish(&j->call);
    }
    if (j->state == JOB_DONE)
      done += j->count;
    if (j->answered) /* only on an early exit */
      ce_embeddings_free(&j->e);
    free(j->json);
    free(j);
  }
  free(b.jobs);
  return done;
}

typedef struct {
  uint8_t **vecs;
  uint32_t *dims;
  size_t n;
} gather_ctx;

/* ce_embed_each of ce_provider_embed_many: each answer into its place. */
static int gather_vectors(void *ctx, size_t first, size_t count,
                          const uint8_t *vecs, uint32_t dims) {
  gather_ctx *g = ctx;
  if (!*g->vecs) {
    *g->vecs = malloc(g->n * (size_t)dims * 4);
    if (!*g->vecs)
      return -1;
    *g->dims = dims;
  }
  memcpy(*g->vecs + first * (size_t)dims * 4, vecs, count * (size_t)dims * 4);
  return 0;
}

size_t ce_provider_embed_many(const ce_config *cfg, CURLM *multi,
                              const ce_text *in, size_t n, uint8_t **vecs,
                              uint32_t *dims, uint8_t *ok) {
  gather_ctx g = {vecs, dims, n};
  *vecs = NULL;
  *dims = 0;
  return ce_provider_embed_each(cfg, multi, in, n, gather_vectors, &g, ok);
}
