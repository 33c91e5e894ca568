#include "redis_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Copies s[0..n) percent-decoded into out[cap]; -1 if bad or too long. */
static int decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      int hi, lo;
      if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 ||
          (lo = hexval(s[i + 2])) < 0)
        return -1;
      c = (char)(hi * 16 + lo);
      if (!c)
        return -1;
      i += 2;
    }
    if (o + 1 >= cap)
      return -1;
    out[o++] = c;
  }
  out[o] = '\0';
  return 0;
}

static int parse_db(const char *s, size_t n, int *db) {
  if (n == 0)
    return 0;
  if (n > 5)
    return -1;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *db = v;
  return 0;
}

int ce_redis_url_parse(const char *url, ce_redis_url *out, char *err,
                       size_t errlen) {
  memset(out, 0, sizeof *out);
  out->port = 6379;

  if (!strncmp(url, "unix://", 7)) {
    const char *p = url + 7, *q = strchr(p, '?');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    out->is_unix = 1;
    if (n == 0 || p[0] != '/' || decode(p, n, out->path, sizeof out->path)) {
      snprintf(err, errlen, "unix:// needs an absolute socket path");
      return -1;
    }
    if (q) {
      if (strncmp(q, "?db=", 4) || parse_db(q + 4, strlen(q + 4), &out->db)) {
        snprintf(err, errlen, "unix:// accepts only ?db=N after the path");
        return -1;
      }
    }
    return 0;
  }
  if (strncmp(url, "redis://", 8)) {
    snprintf(err, errlen, "expected redis://host[:port][/db] or unix:///path");
    return -1;
  }
  const char *p = url + 8;
  const char *end = p + strlen(p);
  const char *slash = strchr(p, '/');
  const char *hostend = slash ? slash : end;
  const char *at = NULL;
  for (const char *s = p; s < hostend; s++)
    if (*s == '@')
      at = s; /* the last @: a password may contain one percent-encoded */
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon) {
      snprintf(err, errlen, "credentials must be [user]:password@");
      return -1;
    }
    if (decode(p, (size_t)(colon - p), out->user, sizeof out->user) ||
        decode(colon + 1, (size_t)(at - colon - 1), out->password,
               sizeof out->password)) {
      snprintf(err, errlen, "credentials are too long or badly encoded");
      return -1;
    }
    p = at + 1;
  }
  const char *colon = NULL;
  if (*p == '[') { /* [ipv6] */
    const char *close = memchr(p, ']', (size_t)(hostend - p));
    if (!close || (size_t)(close - p - 1) >= sizeof out->host) {
      snprintf(err, errlen, "bad [ipv6] host");
      return -1;
    }
    memcpy(out->host, p + 1, (size_t)(close - p - 1));
    if (close + 1 < hostend) {
      if (close[1] != ':') {
        snprintf(err, errlen, "bad [ipv6] host");
        return -1;
      }
      colon = close + 1;
    }
  } else {
    colon = memchr(p, ':', (size_t)(hostend - p));
    const char *he = colon ? colon : hostend;
    if ((size_t)(he - p) >= sizeof out->host) {
      snprintf(err, errlen, "host name too long");
      return -1;
    }
    memcpy(out->host, p, (size_t)(he - p));
  }
  if (!out->host[0]) {
    snprintf(err, errlen, "missing host");
    return -1;
  }
  if (colon) {
    long port = 0;
    const char *s = colon + 1;
    if (s == hostend)
      port = -1;
    for (; s < hostend && port >= 0; s++)
      port = (*s >= '0' && *s <= '9' && port < 100000) ? port * 10 + (*s - '0')
                                                      : -1;
    if (port < 1 || port > 65535) {
      snprintf(err, errlen, "port must be 1..65535");
      return -1;
    }
    out->port = (int)port;
  }
  if (slash && parse_db(slash + 1, (size_t)(end - slash - 1), &out->db)) {
    snprintf(err, errlen, "database must be a number after /");
    return -1;
  }
  return 0;
}
