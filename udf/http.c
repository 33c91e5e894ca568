#include "http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ok;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[CE_HTTP_POOL_MAX];
static int pool_n;

static void global_init(void) {
  global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static CURL *handle_get(void) {
  CURL *h = NULL;
  pthread_mutex_lock(&pool_mu);
  if (pool_n > 0)
    h = pool[--pool_n];
  pthread_mutex_unlock(&pool_mu);
  if (h)
    curl_easy_reset(h); /* options cleared, connections kept */
  else
    h = curl_easy_init();
  return h;
}

static void handle_put(CURL *h) {
  pthread_mutex_lock(&pool_mu);
  if (pool_n < CE_HTTP_POOL_MAX) {
    pool[pool_n++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&pool_mu);
  if (h)
    curl_easy_cleanup(h);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  ce_http_call *c = ud;
  size_t n = size * nmemb;
  if (c->len + n > c->limit) {
    c->overflow = 1;
    return 0; /* aborts the transfer */
  }
  if (c->len + n + 1 > c->cap) {
    size_t cap = c->cap ? c->cap : 16384;
    while (cap < c->len + n + 1)
      cap *= 2;
    char *b = realloc(c->body, cap);
    if (!b)
      return 0;
    c->body = b;
    c->cap = cap;
  }
  memcpy(c->body + c->len, data, n);
  c->len += n;
  c->body[c->len] = '\0';
  return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud) {
  ce_http_call *c = ud;
  size_t n = size * nmemb;
  static const char name[] = "retry-after:";
  if (n > sizeof name - 1 && !strncasecmp(data, name, sizeof name - 1))
    c->retry_after_ms =
        ce_retry_after_ms(data + sizeof name - 1, n - (sizeof name - 1));
  /* A new response (after a redirect or 100-continue) starts clean. */
  if (n >= 5 && !strncmp(data, "HTTP/", 5))
    c->retry_after_ms = -1;
  return n;
}

/* Appends one header: 0, or -1 with the list kept intact. */
static int add_header(struct curl_slist **list, const char *h) {
  struct curl_slist *l = curl_slist_append(*list, h);
  if (!l)
    return -1;
  *list = l;
  return 0;
}

long ce_retry_after_ms(const char *value, size_t len) {
  char buf[64];
  size_t i = 0, o = 0;
  while (i < len && isspace((unsigned char)value[i]))
    i++;
  while (i < len && o < sizeof buf - 1 && value[i] != '\r' && value[i] != '\n')
    buf[o++] = value[i++];
  while (o > 0 && isspace((unsigned char)buf[o - 1]))
    o--;
  buf[o] = '\0';
  if (!o)
    return -1;
  if (isdigit((unsigned char)buf[0])) {
    char *end;
    long s = strtol(buf, &end, 10);
    if (*end || s < 0)
      return -1;
    return s > 86400 ? 86400000L : s * 1000;
  }
  time_t when = curl_getdate(buf, NULL);
  if (when < 0)
    return -1;
  long delta = (long)(when - time(NULL));
  return delta < 0 ? 0 : delta > 86400 ? 86400000L : delta * 1000;
}

int ce_http_prepare(ce_http_call *c, const ce_config *cfg, const char *json,
                    long timeout_ms, size_t limit, char *err, size_t errlen) {
  char auth[sizeof cfg->api_key + 32];

  memset(c, 0, sizeof *c);
  c->retry_after_ms = -1;
  c->limit = limit;
  pthread_once(&global_once, global_init);
  if (!global_ok) {
    snprintf(err, errlen, "libcurl failed to initialise");
    return -1;
  }
  c->easy = handle_get();
  if (!c->easy) {
    snprintf(err, errlen, "out of memory for an http handle");
    return -1;
  }
  int ok = !add_header(&c->headers, "Content-Type: application/json") &&
           !add_header(&c->headers, "Accept: application/json") &&
           /* "Expect: 100-continue" would cost a round trip per batch. */
           !add_header(&c->headers, "Expect:");
  if (ok && cfg->api_key[0]) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->api_key);
    ok = !add_header(&c->headers, auth);
    memset(auth, 0, sizeof auth);
  }
  if (!ok) {
    ce_http_finish(c);
    snprintf(err, errlen, "out of memory for http headers");
    return -1;
  }
  CURL *h = c->easy;
  curl_easy_setopt(h, CURLOPT_URL, cfg->endpoint);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (cfg->ca_file[0])
    curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "cached_embed/1.0");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
  /* A Content-Length over the limit fails at once (else: on_body). */
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)limit);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
  return 0;
}

CURLcode ce_http_perform(ce_http_call *c) {
  CURLcode rc = curl_easy_perform(c->easy);
  curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
  return rc;
}

const char *ce_http_strerror(const ce_http_call *c, CURLcode rc) {
  if (c->overflow)
    return "response larger than the size cap";
  return c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
}

void ce_http_finish(ce_http_call *c) {
  if (c->easy) {
    /* The Authorization header must not linger in a pooled handle. */
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
    handle_put(c->easy);
  }
  curl_slist_free_all(c->headers);
  free(c->body);
  memset(c, 0, sizeof *c);
}

CURLM *ce_http_multi_new(void) {
  pthread_once(&global_once, global_init);
  return global_ok ? curl_multi_init() : NULL;
}

void ce_http_shutdown(void) {
  pthread_mutex_lock(&pool_mu);
  while (pool_n > 0)
    curl_easy_cleanup(pool[--pool_n]);
  pthread_mutex_unlock(&pool_mu);
  if (global_ok)
    curl_global_cleanup();
  global_ok = 0;
}
