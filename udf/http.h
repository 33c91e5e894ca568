/* One HTTP POST to the embeddings endpoint with libcurl: easy handles come
 * from a pool shared by all threads so keep-alive connections survive across
 * rows and statements. Every call has connect and total timeouts, no signals,
 * only http/https, TLS peer verification, and a cap on the response size. */
#ifndef CE_HTTP_H
#define CE_HTTP_H

#include "config.h"

#include <curl/curl.h>
#include <stddef.h>

#define CE_HTTP_POOL_MAX 32

typedef struct ce_http_call {
  CURL *easy;
  struct curl_slist *headers;
  char *body; /* response body, NUL-terminated */
  size_t len, cap, limit;
  long status;
  long retry_after_ms; /* -1 when absent */
  int overflow;        /* the response passed `limit` */
  char errbuf[CURL_ERROR_SIZE];
} ce_http_call;

/* Readies `c` to POST `json` (must outlive the call) to cfg->endpoint within
 * `timeout_ms`; `limit` caps the response body. 0 or -1 (message in err). */
int ce_http_prepare(ce_http_call *c, const ce_config *cfg, const char *json,
                    long timeout_ms, size_t limit, char *err, size_t errlen);

/* Blocking transfer; fills status, body, retry_after_ms. */
CURLcode ce_http_perform(ce_http_call *c);

/* A one-line description of a failed transfer (no URL credentials, no
 * headers). */
const char *ce_http_strerror(const ce_http_call *c, CURLcode rc);

/* Frees the body and headers and returns the handle to the pool. */
void ce_http_finish(ce_http_call *c);

/* Parses a Retry-After value: delta-seconds or an HTTP date. -1 if bad. */
long ce_retry_after_ms(const char *value, size_t len);

/* A multi handle for concurrent transfers (libcurl initialised first). */
CURLM *ce_http_multi_new(void);

void ce_http_shutdown(void);

#endif
