#include "provider.h"

#include "clock.h"
#include "dims.h"
#include "guard.h"
#include "http.h"
#include "stats.h"
#include "vector.h"

#include <float.h>
#include <jansson.h>
#include <math.h>
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
    if (cfg->task[0])
      json_object_set_new(root, "task", json_string(cfg->task));
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

/* Decodes one vector into `dst` (cap bytes); returns dims or 0 on error. */
static uint32_t decode_vector(json_t *emb, uint8_t *dst, size_t cap,
                              char *err, size_t errlen) {
  if (json_is_string(emb)) {
    size_t out_len;
    if (ce_base64_decode(json_string_value(emb), json_string_length(emb), dst,
                         cap, &out_len) ||
        out_len % 4) {
      snprintf(err, errlen, "embedding is not base64 of float32 values");
      return 0;
    }
    if (!out_len)
      snprintf(err, errlen, "embedding is empty");
    return (uint32_t)(out_len / 4);
  }
  if (json_is_array(emb)) {
    size_t n = json_array_size(emb);
    if (!n)
      snprintf(err, errlen, "embedding is empty");
    if (n * 4 > cap) {
      snprintf(err, errlen, "embedding has more than %d values", CE_MAX_DIMS);
      return 0;
    }
    for (size_t i = 0; i < n; i++) {
      json_t *v = json_array_get(emb, i);
      double d = json_number_value(v);
      if (!json_is_number(v) || !isfinite(d) || fabs(d) > FLT_MAX) {
        snprintf(err, errlen, "embedding value %zu is not a float32 number",
                 i);
        return 0;
      }
      ce_f32_store(dst + 4 * i, (float)d);
    }
    return (uint32_t)n;
  }
  snprintf(err, errlen, "embedding is neither base64 nor an array");
  return 0;
}

int ce_provider_parse_response(const char *body, size_t len, size_t n,
                               uint32_t want_dims, ce_embeddings *out,
                               char *err, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_loadb(body, len, 0, &jerr);
  uint8_t *vecs = NULL, *seen = NULL, *one = NULL;
  uint32_t dims = 0;
  int rc = -1;

  memset(out, 0, sizeof *out);
  if (!root) {
    snprintf(err, errlen, "response is not JSON (%.60s)", jerr.text);
    return -1;
  }
  json_t *data = json_object_get(root, "data");
  if (!json_is_array(data)) {
    snprintf(err, errlen, "response has no data array");
    goto done;
  }
  if (json_array_size(data) != n) {
    snprintf(err, errlen, "expected %zu embeddings, got %zu", n,
             json_array_size(data));
    goto done;
  }
  one = malloc((size_t)CE_MAX_DIMS * 4);
  seen = calloc(n ? n : 1, 1);
  if (!one || !seen) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *item = json_array_get(data, i);
    json_t *idx = json_object_get(item, "index");
    json_int_t k = json_is_integer(idx) ? json_integer_value(idx) : (json_int_t)i;
    if (idx && !json_is_integer(idx)) {
      snprintf(err, errlen, "data[%zu].index is not an integer", i);
      goto done;
    }
    if (k < 0 || (size_t)k >= n || seen[k]) {
      snprintf(err, errlen, "data[%zu].index %lld is out of range or repeated",
               i, (long long)k);
      goto done;
    }
    seen[k] = 1;
    uint32_t d = decode_vector(json_object_get(item, "embedding"), one,
                               (size_t)CE_MAX_DIMS * 4, err, errlen);
    if (!d)
      goto done;
    if (!dims) {
      if (want_dims && d != want_dims) {
        snprintf(err, errlen, "expected %u dimensions, got %u", want_dims, d);
        goto done;
      }
      dims = d;
      vecs = malloc((size_t)n * dims * 4);
      if (!vecs) {
        snprintf(err, errlen, "out of memory");
        goto done;
      }
    } else if (d != dims) {
      snprintf(err, errlen, "embeddings differ in length: %u and %u", dims, d);
      goto done;
    }
    if (!ce_vec_finite(one, d)) {
      snprintf(err, errlen, "embedding %lld has NaN or infinite values",
               (long long)k);
      goto done;
    }
    memcpy(vecs + (size_t)k * dims * 4, one, (size_t)dims * 4);
  }
  if (n && !dims) {
    snprintf(err, errlen, "empty embeddings");
    goto done;
  }
  json_t *usage = json_object_get(root, "usage");
  json_t *tok = json_object_get(usage, "total_tokens");
  if (!json_is_integer(tok))
    tok = json_object_get(usage, "prompt_tokens");
  out->tokens = json_is_integer(tok) && json_integer_value(tok) > 0
                    ? (uint64_t)json_integer_value(tok)
                    : 0;
  out->vecs = vecs;
  out->dims = dims;
  out->n = n;
  vecs = NULL;
  rc = 0;
done:
  free(vecs);
  free(seen);
  free(one);
  json_decref(root);
  return rc;
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

size_t ce_provider_response_limit(size_t n) {
  /* A float array of CE_MAX_DIMS values as text is about 20 bytes a value. */
  return ((size_t)1 << 20) + n * (size_t)CE_MAX_DIMS * 20;
}

void ce_embeddings_free(ce_embeddings *e) {
  free(e->vecs);
  memset(e, 0, sizeof *e);
}

/* The verdict on one attempt, without side effects but the message. */
static int judge(const ce_config *cfg, ce_http_call *call, CURLcode cc,
                 long long t0_ms, size_t n, ce_embeddings *out, long *wait_ms,
                 int *outcome, char *err, size_t errlen) {
  *wait_ms = -1;
  *outcome = CE_GUARD_FAIL;
  if (cc != CURLE_OK) {
    snprintf(err, errlen, "provider request failed: %s",
             ce_http_strerror(call, cc));
    return call->overflow ? -1 : 1;
  }
  ce_stat_latency((uint64_t)(ce_mono_ms() - t0_ms) * 1000);
  if (call->status == 200) {
    char why[160];
    if (ce_provider_parse_response(call->body ? call->body : "", call->len, n,
                                   ce_dims_fixed(cfg), out, why, sizeof why) ||
        ce_dims_check(cfg, out->dims, why, sizeof why)) {
      ce_embeddings_free(out);
      snprintf(err, errlen, "provider sent a bad response: %s", why);
      return -1;
    }
    ce_stat_add(CE_STAT_PROVIDER_INPUTS, n);
    ce_stat_add(CE_STAT_PROVIDER_TOKENS, out->tokens);
    *outcome = CE_GUARD_OK;
    return 0;
  }
  char msg[200];
  ce_provider_error_message(call->body ? call->body : "", call->len,
                            cfg->api_key, msg, sizeof msg);
  snprintf(err, errlen, "provider answered %ld: %s", call->status, msg);
  *wait_ms = call->retry_after_ms;
  *outcome = ce_guard_outcome_for_status(call->status);
  return ce_provider_retryable(call->status) ? 1 : -1;
}

int ce_provider_judge(const ce_config *cfg, ce_guard_ticket *ticket,
                      ce_http_call *call, CURLcode cc, long long t0_ms,
                      size_t n, ce_embeddings *out, long *wait_ms, char *err,
                      size_t errlen) {
  int outcome;
  ce_stat_add(CE_STAT_PROVIDER_REQUESTS, 1);
  int verdict =
      judge(cfg, call, cc, t0_ms, n, out, wait_ms, &outcome, err, errlen);
  /* The circuit breaker and cost guard (guard.h) see every attempt. */
  ce_guard_result(cfg, ticket, outcome, verdict == 0 ? out->tokens : 0);
  return verdict;
}

int ce_provider_admit(const ce_config *cfg, const ce_text *in, size_t n,
                      ce_guard_ticket *ticket, char *err, size_t errlen) {
  size_t text_bytes = 0;
  /* A bad endpoint, dialect or key: no request at all (fail closed). */
  if (cfg->provider_off[0]) {
    snprintf(err, errlen, "provider disabled: %s", cfg->provider_off);
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    text_bytes += in[i].len;
  if (ce_guard_admit(cfg, n, text_bytes, ticket, err, errlen) == 0)
    return 0;
  ce_stat_add(CE_STAT_GUARD_REJECTS, 1);
  return -1;
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

long ce_provider_retry_delay(const ce_config *cfg, int verdict, int attempt,
                             long retry_after_ms, long long deadline_ms,
                             char *err, size_t errlen) {
  if (verdict < 0 || attempt >= cfg->retries)
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
                      ce_embeddings *out, char *err, size_t errlen) {
  char *json = ce_provider_request_json(cfg, in, n);
  long long deadline = ce_mono_ms() + cfg->timeout_ms;
  int rc = -1;

  memset(out, 0, sizeof *out);
  err[0] = '\0';
  if (!json) {
    snprintf(err, errlen, "could not build the request (invalid UTF-8?)");
    return -1;
  }
  for (int attempt = 0;; attempt++) {
    long remaining = ce_provider_time_left(cfg, deadline, err, errlen);
    ce_http_call call;
    ce_guard_ticket ticket;
    long wait;

    if (!remaining)
      break;
    if (ce_provider_admit(cfg, in, n, &ticket, err, errlen))
      break;
    if (ce_http_prepare(&call, cfg, json, remaining,
                        ce_provider_response_limit(n), err, errlen)) {
      ce_guard_result(cfg, &ticket, CE_GUARD_NOT_SENT, 0);
      break;
    }
    long long t0 = ce_mono_ms();
    CURLcode cc = ce_http_perform(&call);
    int verdict = ce_provider_judge(cfg, &ticket, &call, cc, t0, n, out,
                                    &wait, err, errlen);
    ce_http_finish(&call);
    if (verdict == 0) {
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
  free(json);
  if (rc)
    ce_stat_add(CE_STAT_PROVIDER_ERRORS, 1);
  return rc;
}
