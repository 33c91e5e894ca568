#include "provider_batch.h"

#include "clock.h"
#include "guard.h"
#include "log.h"
#include "plugin_services.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { JOB_READY, JOB_RUNNING, JOB_DONE, JOB_FAILED } job_state;

typedef struct {
  size_t first, count; /* the inputs of this request */
  char *json;
  ce_http_call call;
  ce_guard_ticket ticket; /* the attempt in flight */
  job_state state;
  int attempt;
  long long deadline, start_at, t0;
  char err[320];
} job;

static ce_ratelimit batch_rl = CE_RATELIMIT_INIT(5, 60);

/* Copies a request's vectors into place; 0, or -1 on dims trouble. */
static int store(job *j, const ce_embeddings *e, uint8_t **vecs, uint32_t *dims,
                 size_t n, uint8_t *ok) {
  if (!*vecs) {
    *vecs = malloc(n * (size_t)e->dims * 4);
    if (!*vecs) {
      snprintf(j->err, sizeof j->err, "out of memory for %zu vectors", n);
      return -1;
    }
    *dims = e->dims;
  } else if (e->dims != *dims) {
    snprintf(j->err, sizeof j->err, "vectors of %u and %u dimensions", *dims,
             e->dims);
    return -1;
  }
  memcpy(*vecs + j->first * (size_t)*dims * 4, e->vecs,
         j->count * (size_t)*dims * 4);
  memset(ok + j->first, 1, j->count);
  return 0;
}

static void fail(job *j) {
  j->state = JOB_FAILED;
  ce_server_progress_add(j->count, 0);
  ce_stat_add(CE_STAT_PROVIDER_ERRORS, 1);
  ce_log_limited(&batch_rl, j->err,
                 "warm-up request of %zu inputs failed: %s; those rows are "
                 "not cached",
                 j->count, j->err);
}

/* Starts the attempt of a ready job whose time has come. */
static void start(const ce_config *cfg, CURLM *multi, const ce_text *in,
                  job *j) {
  long long now = ce_mono_ms();
  long remaining =
      ce_provider_time_left(cfg, j->deadline, j->err, sizeof j->err);
  if (!remaining) {
    fail(j);
    return;
  }
  if (ce_provider_admit(cfg, in + j->first, j->count, &j->ticket, j->err,
                        sizeof j->err)) {
    fail(j);
    return;
  }
  if (ce_http_prepare(&j->call, cfg, j->json, remaining,
                      ce_provider_response_limit(j->count), j->err,
                      sizeof j->err)) {
    ce_guard_result(cfg, &j->ticket, CE_GUARD_NOT_SENT, 0);
    fail(j);
    return;
  }
  curl_easy_setopt(j->call.easy, CURLOPT_PRIVATE, (char *)j);
  if (curl_multi_add_handle(multi, j->call.easy) != CURLM_OK) {
    ce_http_finish(&j->call);
    ce_guard_result(cfg, &j->ticket, CE_GUARD_NOT_SENT, 0);
    snprintf(j->err, sizeof j->err, "could not start an http transfer");
    fail(j);
    return;
  }
  j->t0 = now;
  j->state = JOB_RUNNING;
}

/* Judges a finished transfer: done, failed, or ready again after a wait. */
static void finish(const ce_config *cfg, CURLM *multi, job *j, CURLcode cc,
                   uint8_t **vecs, uint32_t *dims, size_t n, uint8_t *ok) {
  ce_embeddings e;
  long wait;
  curl_easy_getinfo(j->call.easy, CURLINFO_RESPONSE_CODE, &j->call.status);
  curl_multi_remove_handle(multi, j->call.easy);
  int verdict = ce_provider_judge(cfg, &j->ticket, &j->call, cc, j->t0,
                                  j->count, &e, &wait, j->err, sizeof j->err);
  ce_http_finish(&j->call);
  if (verdict == 0) {
    int rc = store(j, &e, vecs, dims, n, ok);
    ce_embeddings_free(&e);
    if (rc) {
      fail(j);
    } else {
      j->state = JOB_DONE;
      ce_server_progress_add(j->count, 0);
    }
    return;
  }
  wait = ce_provider_retry_delay(cfg, verdict, j->attempt, wait, j->deadline,
                                 j->err, sizeof j->err);
  if (wait < 0) {
    fail(j);
    return;
  }
  j->attempt++;
  j->start_at = ce_mono_ms() + wait;
  j->state = JOB_READY;
  ce_stat_add(CE_STAT_RETRIES, 1);
}

/* KILL QUERY: every transfer in flight is dropped (its connection closed,
 * its answer never read) and nothing more starts. Not a provider failure:
 * the guard gets the tickets back unjudged. */
static void abandon(const ce_config *cfg, CURLM *multi, job *jobs,
                    size_t n_jobs) {
  int running = 0, waiting = 0;
  for (size_t i = 0; i < n_jobs; i++) {
    job *j = &jobs[i];
    if (j->state == JOB_RUNNING) {
      curl_multi_remove_handle(multi, j->call.easy);
      ce_http_finish(&j->call);
      ce_guard_result(cfg, &j->ticket, CE_GUARD_NOT_SENT, 0);
      running++;
    } else if (j->state == JOB_READY) {
      waiting++;
    } else {
      continue;
    }
    j->state = JOB_FAILED;
  }
  ce_log("warm-up: statement killed; %d requests in flight abandoned, %d "
         "not started",
         running, waiting);
}

size_t ce_provider_embed_many(const ce_config *cfg, CURLM *multi,
                              const ce_text *in, size_t n, uint8_t **vecs,
                              uint32_t *dims, uint8_t *ok) {
  size_t per = (size_t)cfg->batch, n_jobs = (n + per - 1) / per, done = 0;
  job *jobs = calloc(n_jobs ? n_jobs : 1, sizeof *jobs);

  *vecs = NULL;
  *dims = 0;
  memset(ok, 0, n);
  if (!jobs || !multi) {
    ce_log("warm-up: out of memory for %zu requests", n_jobs);
    goto out;
  }
  for (size_t i = 0; i < n_jobs; i++) {
    jobs[i].first = i * per;
    jobs[i].count = i * per + per <= n ? per : n - i * per;
    jobs[i].json = ce_provider_request_json(cfg, in + jobs[i].first,
                                            jobs[i].count);
    if (!jobs[i].json) {
      snprintf(jobs[i].err, sizeof jobs[i].err,
               "could not build the request (invalid UTF-8?)");
      fail(&jobs[i]);
    }
  }

  for (;;) {
    if (ce_server_killed()) {
      abandon(cfg, multi, jobs, n_jobs);
      break;
    }
    long long now = ce_mono_ms();
    long long next_start = -1;
    int running = 0, pending = 0;
    for (size_t i = 0; i < n_jobs; i++)
      running += jobs[i].state == JOB_RUNNING;
    for (size_t i = 0; i < n_jobs; i++) {
      job *j = &jobs[i];
      if (j->state != JOB_READY)
        continue;
      pending++;
      if (!j->deadline) /* the budget starts at the first attempt */
        j->deadline = now + cfg->timeout_ms;
      if (j->start_at <= now && running < cfg->parallel) {
        start(cfg, multi, in, j);
        running += j->state == JOB_RUNNING;
      } else if (j->start_at > now &&
                 (next_start < 0 || j->start_at < next_start)) {
        next_start = j->start_at;
      }
    }
    if (!running && !pending)
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
      finish(cfg, multi, (job *)priv, msg->data.result, vecs, dims, n, ok);
    }
    /* Done when nothing runs or waits any more: no idle wait at the end. */
    int active = 0;
    for (size_t i = 0; i < n_jobs; i++)
      active |= jobs[i].state == JOB_RUNNING || jobs[i].state == JOB_READY;
    if (!active)
      break;
    /* Sleep until a socket is ready, a retry is due, or 100 ms pass. */
    long wait_ms = 100;
    if (next_start >= 0 && next_start - ce_mono_ms() < wait_ms)
      wait_ms = (long)(next_start - ce_mono_ms());
    if (wait_ms > 0)
      curl_multi_poll(multi, NULL, 0, (int)wait_ms, NULL);
  }

out:
  for (size_t i = 0; i < n_jobs && jobs; i++) {
    if (jobs[i].state == JOB_RUNNING) { /* only on an early exit */
      curl_multi_remove_handle(multi, jobs[i].call.easy);
      ce_http_finish(&jobs[i].call);
    }
    if (jobs[i].state == JOB_DONE)
      done += jobs[i].count;
    free(jobs[i].json);
  }
  free(jobs);
  return done;
}
