#include "provider.h"
#include "provider_private.h"

#include "clock.h"
#include "dims.h"
#include "guard.h"
#include "http.h"
#include "stats.h"
#include "task.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

char *ce_provider_request_json(const ce_config *cfg, const ce_text *in,
                               size_t n) {
  json_t *root = json_object(), *input = json_array();
  char *out = NULL;

  if (!root || !input)
    goto done;
  for (size_t i = 0; i < n; i++) {
    json_t *s = json_stringn(in[i].s, in[i].len);
    if (!s || json_array_append_new(input, s))
      goto done;
  }
  json_object_set_new(root, "model", json_string(cfg->model));
  json_object_set(root, "input", input);
  if (cfg->provider == CE_DIALECT_JINA) {
    json_object_set_new(root, "embedding_type", json_string("base64"));
    json_object_set_new(root, "normalized", json_true());
    if (cfg->truncate)
      json_object_set_new(root, "truncate", json_true());
    const char *task =
        ce_task_wire(cfg); /* the call's, if the model takes it */
    if (task)
      json_object_set_new(root, "task", json_string(task));
  } else {
    json_object_set_new(root, "encoding_format", json_string("base64"));
  }
  if (cfg->dimensions)
    json_object_set_new(root, "dimensions", json_integer(cfg->dimensions));
  out = json_dumps(root, JSON_COMPACT);
done:
  json_decref(input);
  json_decref(root);
  return out;
}

/* RFC 6750's b64token characters: what follows "Bearer ". */
static int token_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '+' || c == '/' || c == '=';
}

/* Copies `s` into msg (cap bytes), control characters as spaces, with the
 * configured key and any "Bearer <token>" replaced by "[redacted]". The
 * whole text is scanned before anything is cut, so no part of a key is
 * left at the end of a truncated message either. */
static void copy_msg(char *msg, size_t cap, const char *s, const char *secret) {
  static const char R[] = "[redacted]";
  size_t o = 0, slen = secret ? strlen(secret) : 0;

#define PUT(c)                                                                 \
  do {                                                                         \
    if (o + 1 < cap)                                                           \
      msg[o++] = (c);                                                          \
  } while (0)
#define PUTS(str)                                                              \
  for (const char *p_ = (str); *p_; p_++)                                      \
  PUT(*p_)

  while (*s) {
    if (slen && !strncmp(s, secret, slen)) {
      PUTS(R);
      s += slen;
    } else if (!strncasecmp(s, "bearer", 6) && (s[6] == ' ' || s[6] == '\t')) {
      for (int i = 0; i < 6; i++)
        PUT(s[i]);
      PUT(' ');
      s += 6;
      while (*s == ' ' || *s == '\t')
        s++;
      if (slen && !strncmp(s, secret, slen))
        s += slen;
      while (token_char((unsigned char)*s))
        s++;
      PUTS(R);
    } else {
      PUT((unsigned char)*s < 0x20 ? ' ' : *s);
      s++;
    }
  }
#undef PUTS
#undef PUT
  if (cap)
    msg[o] = '\0';
}

void ce_provider_error_message(const char *body, size_t len,
                               const char *api_key, char *msg, size_t cap) {
  json_t *root = json_loadb(body, len, 0, NULL);
  json_t *m = NULL;

  if (root) {
    json_t *detail = json_object_get(root, "detail");
    json_t *error = json_object_get(root, "error");
    if (json_is_string(detail))
      m = detail;
    else if (json_is_array(detail))
      m = json_object_get(json_array_get(detail, 0), "msg");
    else if (json_is_object(error))
      m = json_object_get(error, "message");
    else if (json_is_string(error))
      m = error;
    if (!json_is_string(m))
      m = json_object_get(root, "message");
  }
  if (json_is_string(m))
    copy_msg(msg, cap, json_string_value(m), api_key);
  else
    snprintf(msg, cap, "no readable message in a %zu-byte body", len);
  json_decref(root);
}

int ce_provider_retryable(long status) {
  return status == 408 || status == 425 || status == 429 || status >= 500;
}

long ce_backoff_ms(int attempt, unsigned *seed) {
  long base = 250L << (attempt < 5 ? attempt : 5);
  if (base > 8000)
    base = 8000;
  /* xorshift: thread-local state, no lock, no global rand() */
  unsigned x = *seed ? *seed : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *seed = x;
  return base / 2 + (long)(x % (unsigned)(base / 2 + 1));
}

size_t ce_provider_response_limit(size_t n, uint32_t dims) {
  size_t d = dims ? dims : CE_MAX_DIMS;
  return CE_RESPONSE_FIXED_BYTES +
         n * (d * CE_RESPONSE_VALUE_BYTES + CE_RESPONSE_ITEM_BYTES);
}

uint32_t ce_provider_limit_dims(const ce_config *cfg) {
  uint32_t d = ce_dims_fixed(cfg);
  if (d)
    return d;
  d = ce_dims_expected(cfg);
  if (!d)
    return 0;
  return d >= CE_MAX_DIMS / 2 ? CE_MAX_DIMS : 2 * d;
}

uint64_t ce_provider_tokens_estimate(size_t bytes, size_t n) {
  return (uint64_t)bytes / 2 + n;
}

/* Case-insensitive substring test. */
static int has_word(const char *s, const char *w) {
  size_t n = strlen(w);
  for (; *s; s++)
    if (!strncasecmp(s, w, n))
      return 1;
  return 0;
}

int ce_provider_too_large(long status, const char *msg) {
  static const char *const what[] = {"token",   "input",   "item", "batch",
                                     "payload", "request", "size"};
  static const char *const over[] = {"max",      "exceed",    "too many",
                                     "too long", "too large", "larger than",
                                     "at most",  "limit"};
  int w = 0, o = 0;
  if (status == 413)
    return 1;
  if (status != 400 && status != 422)
    return 0;
  for (size_t i = 0; i < sizeof what / sizeof what[0]; i++)
    w |= has_word(msg, what[i]);
  for (size_t i = 0; i < sizeof over / sizeof over[0]; i++)
    o |= has_word(msg, over[i]);
  return w && o;
}

void ce_embeddings_free(ce_embeddings *e) {
  free(e->vecs);
  memset(e, 0, sizeof *e);
}

/* The kind of an error answer, a constant string. */
static const char *status_class(long status) {
  if (status == 429)
    return "provider answered 429";
  if (status == 401 || status == 403)
    return "provider answered 401/403";
  if (status >= 500)
    return "provider answered 5xx";
  return "provider answered 4xx";
}

/* The verdict on one attempt, without side effects but the message. */
static ce_verdict judge(const ce_config *cfg, ce_http_call *call, CURLcode cc,
                        long long t0_ms, size_t n, ce_embeddings *out,
                        long *wait_ms, ce_guard_outcome *outcome, char *err,
                        size_t errlen, const char **cls) {
  *wait_ms = -1;
  *outcome = CE_GUARD_FAIL;
  if (cc == CURLE_FILESIZE_EXCEEDED) /* announced by its Content-Length */
    call->overflow = 1;
  if (cc != CURLE_OK) {
    *cls = call->overflow ? CE_FAIL_TOO_BIG : curl_easy_strerror(cc);
    if (call->overflow)
      snprintf(err, errlen,
               "provider sent a bad response: larger than %zu bytes for %zu "
               "inputs",
               call->limit, n);
    else
      snprintf(err, errlen, "provider request failed: %s",
               ce_http_strerror(call, cc));
    return call->overflow ? CE_VERDICT_FINAL : CE_VERDICT_RETRY;
  }
  ce_stat_latency((uint64_t)(ce_mono_ms() - t0_ms) * 1000);
  if (call->status == 200) {
    char why[160];
    *cls = NULL;
    if (ce_provider_parse_response(call->body ? call->body : "", call->len, n,
                                   ce_dims_fixed(cfg), out, why, sizeof why,
                                   cls) ||
        ce_dims_check(cfg, out->dims, why, sizeof why)) {
      ce_embeddings_free(out);
      snprintf(err, errlen, "provider sent a bad response: %s", why);
      if (!*cls)
        *cls = "provider sent vectors of another length";
      return CE_VERDICT_FINAL;
    }
    ce_stat_add(CE_STAT_PROVIDER_INPUTS, n);
    ce_stat_add(CE_STAT_PROVIDER_TOKENS, out->tokens);
    *outcome = CE_GUARD_OK;
    return CE_VERDICT_OK;
  }
  char msg[200];
  ce_provider_error_message(call->body ? call->body : "", call->len,
                            cfg->api_key, msg, sizeof msg);
  snprintf(err, errlen, "provider answered %ld: %s", call->status, msg);
  *cls = status_class(call->status);
  *wait_ms = call->retry_after_ms;
  *outcome = ce_guard_outcome_for_status(call->status);
  if (ce_provider_retryable(call->status))
    return CE_VERDICT_RETRY;
  return ce_provider_too_large(call->status, msg) ? CE_VERDICT_TOO_LARGE
                                                  : CE_VERDICT_FINAL;
}

ce_verdict ce_provider_judge(const ce_config *cfg, ce_guard_ticket *ticket,
                             ce_http_call *call, CURLcode cc, long long t0_ms,
                             size_t n, ce_embeddings *out, long *wait_ms,
                             char *err, size_t errlen, const char **cls) {
  ce_guard_outcome outcome;
  ce_stat_add(CE_STAT_PROVIDER_REQUESTS, 1);
  ce_verdict verdict =
      judge(cfg, call, cc, t0_ms, n, out, wait_ms, &outcome, err, errlen, cls);
  /* The circuit breaker and cost guard (guard.h) see every attempt. */
  ce_guard_result(cfg, ticket, outcome,
                  verdict == CE_VERDICT_OK ? out->tokens : 0);
  return verdict;
}

ce_admit_status ce_provider_admit(const ce_config *cfg, const ce_text *in,
                                  size_t n, long wait_ms, long *later_ms,
                                  ce_guard_ticket *ticket, char *err,
                                  size_t errlen, const char **cls) {
  size_t text_bytes = 0;
  /* A bad endpoint, dialect or key: no request at all (fail closed). */
  if (cfg->provider_off[0]) {
    snprintf(err, errlen, "provider disabled: %s", cfg->provider_off);
    *cls = CE_FAIL_OFF;
    return CE_ADMIT_OFF;
  }
  for (size_t i = 0; i < n; i++)
    text_bytes += in[i].len;
  ce_admit_status rc = ce_guard_admit(cfg, n, text_bytes, wait_ms, later_ms,
                                      ticket, err, errlen);
  if (rc == CE_ADMIT_CIRCUIT || rc == CE_ADMIT_BUDGET) {
    *cls = rc == CE_ADMIT_CIRCUIT ? CE_FAIL_CIRCUIT : CE_FAIL_BUDGET;
    ce_stat_add(CE_STAT_GUARD_REJECTS, 1);
  }
  return rc;
}

static __thread unsigned jitter_seed;

long ce_provider_time_left(const ce_config *cfg, long long deadline_ms,
                           char *err, size_t errlen) {
  long left = (long)(deadline_ms - ce_mono_ms());
  if (left > 0)
    return left;
  size_t l = strlen(err);
  snprintf(err + l, errlen - l, "%stimeout of %ld ms used up", l ? "; " : "",
           cfg->timeout_ms);
  return 0;
}

long ce_provider_retry_delay(const ce_config *cfg, ce_verdict verdict,
                             int attempt, long retry_after_ms,
                             long long deadline_ms, char *err, size_t errlen) {
  if (verdict != CE_VERDICT_RETRY || attempt >= cfg->retries)
    return -1;
  if (!jitter_seed)
    jitter_seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&jitter_seed;
  long wait = retry_after_ms >= 0 ? retry_after_ms
                                  : ce_backoff_ms(attempt, &jitter_seed);
  if (ce_mono_ms() + wait >= deadline_ms) {
    size_t l = strlen(err);
    snprintf(err + l, errlen - l, "; no time left to retry in %ld ms",
             cfg->timeout_ms);
    return -1;
  }
  return wait;
}

int ce_provider_embed(const ce_config *cfg, const ce_text *in, size_t n,
                      ce_embeddings *out, char *err, size_t errlen,
                      const char **cls) {
  char *json = ce_provider_request_json(cfg, in, n);
  long long deadline = ce_mono_ms() + cfg->timeout_ms;
  ce_guard_ticket ticket;
  int rc = -1;

  memset(out, 0, sizeof *out);
  err[0] = '\0';
  *cls = CE_FAIL_LOCAL;
  if (!json) {
    snprintf(err, errlen, "could not build the request (invalid UTF-8?)");
    return -1;
  }
  ce_guard_ticket_init(&ticket);
  for (int attempt = 0;; attempt++) {
    ce_http_call call;
    long wait;

    long remaining = ce_provider_time_left(cfg, deadline, err, errlen);
    if (!remaining) {
      *cls = CE_FAIL_TIMEOUT;
      break;
    }
    if (ce_provider_admit(cfg, in, n, remaining, NULL, &ticket, err, errlen,
                          cls) != CE_ADMIT_GO)
      break;
    /* Again: the guard may have waited (cost guard wait, half-open). */
    remaining = ce_provider_time_left(cfg, deadline, err, errlen);
    if (!remaining) {
      ce_guard_result(cfg, &ticket, CE_GUARD_NOT_SENT, 0);
      *cls = CE_FAIL_TIMEOUT;
      break;
    }
    if (ce_http_prepare(
            &call, cfg, json, remaining,
            ce_provider_response_limit(n, ce_provider_limit_dims(cfg)), err,
            errlen)) {
      ce_guard_result(cfg, &ticket, CE_GUARD_NOT_SENT, 0);
      *cls = CE_FAIL_LOCAL;
      break;
    }
    long long t0 = ce_mono_ms();
    CURLcode cc = ce_http_perform(&call);
    ce_verdict verdict = ce_provider_judge(cfg, &ticket, &call, cc, t0, n, out,
                                           &wait, err, errlen, cls);
    ce_http_finish(&call);
    if (verdict == CE_VERDICT_OK) {
      size_t bytes = 0;
      for (size_t i = 0; i < n; i++)
        bytes += in[i].len;
      ce_stat_usage(bytes, out->tokens);
      rc = 0;
      break;
    }
    wait = ce_provider_retry_delay(cfg, verdict, attempt, wait, deadline, err,
                                   errlen);
    if (wait < 0)
      break;
    ce_sleep_ms(wait);
    ce_stat_add(CE_STAT_RETRIES, 1);
  }
  ce_guard_request_done(cfg, &ticket);
  free(json);
  if (rc)
    ce_stat_add(CE_STAT_PROVIDER_ERRORS, 1);
  return rc;
}
