#include "redis_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *s, *e; /* [s, e) */
} span;

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Copies `in` percent-decoded into out[cap]; -1 if bad, too long, or it
 * holds a NUL or a control character. */
static int decode(span in, char *out, size_t cap) {
  size_t o = 0;
  for (const char *p = in.s; p < in.e; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '%') {
      int hi, lo;
      if (in.e - p < 3 || (hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0)
        return -1;
      c = (unsigned char)(hi * 16 + lo);
      p += 2;
    }
    if (c < 0x20 || c == 0x7f || o + 1 >= cap)
      return -1;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  return 0;
}

/* A database number 0..99999; an empty span leaves *db alone. */
static int parse_db(span in, int *db) {
  if (in.s == in.e)
    return 0;
  if (in.e - in.s > 5)
    return -1;
  int v = 0;
  for (const char *p = in.s; p < in.e; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    v = v * 10 + (*p - '0');
  }
  *db = v;
  return 0;
}

static int parse_port(span in, int *port) {
  long v = 0;
  if (in.s == in.e || in.e - in.s > 5)
    return -1;
  for (const char *p = in.s; p < in.e; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    v = v * 10 + (*p - '0');
  }
  if (v < 1 || v > 65535)
    return -1;
  *port = (int)v;
  return 0;
}

static const char *find(span in, char c) {
  return in.s < in.e ? memchr(in.s, c, (size_t)(in.e - in.s)) : NULL;
}

/* host[:port] or [v6][:port]; the host is taken as it is (no escapes). */
static int parse_hostport(span in, int default_port, ce_redis_host *h,
                          char *err, size_t errlen) {
  span host = in, port = {NULL, NULL};
  if (in.s < in.e && *in.s == '[') {
    const char *close = find(in, ']');
    if (!close || (close + 1 < in.e && close[1] != ':')) {
      snprintf(err, errlen, "bad [ipv6] host");
      return -1;
    }
    host = (span){in.s + 1, close};
    if (close + 1 < in.e)
      port = (span){close + 2, in.e};
  } else {
    const char *colon = find(in, ':');
    if (colon) {
      host = (span){in.s, colon};
      port = (span){colon + 1, in.e};
    }
  }
  if (host.s == host.e) {
    snprintf(err, errlen, "missing host");
    return -1;
  }
  if ((size_t)(host.e - host.s) >= sizeof h->host) {
    snprintf(err, errlen, "host name too long");
    return -1;
  }
  for (const char *p = host.s; p < host.e; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("@%,[]?#", *p)) {
      snprintf(err, errlen, "bad character in host name");
      return -1;
    }
  memcpy(h->host, host.s, (size_t)(host.e - host.s));
  h->host[host.e - host.s] = '\0';
  h->port = default_port;
  if (port.s && parse_port(port, &h->port)) {
    snprintf(err, errlen, "port must be 1..65535");
    return -1;
  }
  return 0;
}

/* h1[:p1][,h2[:p2]...]: one host unless `many`. */
static int parse_hosts(span in, int many, int default_port, ce_redis_url *u,
                       char *err, size_t errlen) {
  while (in.s <= in.e) {
    const char *comma = many ? find(in, ',') : NULL;
    span one = {in.s, comma ? comma : in.e};
    if (u->n_hosts == CE_REDIS_MAX_HOSTS) {
      snprintf(err, errlen, "more than %d hosts", CE_REDIS_MAX_HOSTS);
      return -1;
    }
    if (parse_hostport(one, default_port, &u->hosts[u->n_hosts], err, errlen))
      return -1;
    u->n_hosts++;
    if (!comma)
      break;
    in.s = comma + 1;
  }
  return 0;
}

/* user, user:password or :password */
static int parse_userinfo(span in, ce_redis_url *u, char *err, size_t errlen) {
  const char *colon = find(in, ':');
  span user = {in.s, colon ? colon : in.e};
  if (decode(user, u->user, sizeof u->user) ||
      (colon &&
       decode((span){colon + 1, in.e}, u->password, sizeof u->password))) {
    snprintf(err, errlen, "credentials are too long or badly encoded");
    return -1;
  }
  u->has_password = colon != NULL;
  if (!u->user[0] && !u->password[0]) {
    snprintf(err, errlen, "empty credentials before @");
    return -1;
  }
  return 0;
}

static int parse_unix(const char *p, ce_redis_url *u, char *err,
                      size_t errlen) {
  const char *q = strchr(p, '?');
  span path = {p, q ? q : p + strlen(p)};
  u->is_unix = 1;
  if (path.s == path.e || *p != '/' || decode(path, u->path, sizeof u->path)) {
    snprintf(err, errlen, "unix:// needs an absolute socket path");
    return -1;
  }
  if (q && (strncmp(q, "?db=", 4) ||
            parse_db((span){q + 4, q + strlen(q)}, &u->db))) {
    snprintf(err, errlen, "unix:// accepts only ?db=N after the path");
    return -1;
  }
  return 0;
}

/* What follows the hosts: [/db] or, for sentinel, /master[/db]. */
static int parse_path(span in, ce_redis_url *u, char *err, size_t errlen) {
  if (u->mode == CE_REDIS_SENTINEL) {
    const char *slash = in.s < in.e ? find((span){in.s + 1, in.e}, '/') : NULL;
    span name = {in.s < in.e ? in.s + 1 : in.e, slash ? slash : in.e};
    if (name.s == name.e || decode(name, u->master, sizeof u->master)) {
      snprintf(err, errlen,
               "redis-sentinel:// needs /master_name after the hosts");
      return -1;
    }
    in.s = slash ? slash : in.e;
  }
  if (in.s < in.e && parse_db((span){in.s + 1, in.e}, &u->db)) {
    snprintf(err, errlen, "database must be a number after /");
    return -1;
  }
  if (u->mode == CE_REDIS_CLUSTER && u->db) {
    snprintf(err, errlen, "redis cluster has only database 0");
    return -1;
  }
  return 0;
}

static const struct {
  const char *scheme;
  ce_redis_mode mode;
  int tls, many, port;
} SCHEMES[] = {
    {"redis://", CE_REDIS_SINGLE, 0, 0, CE_REDIS_DEFAULT_PORT},
    {"rediss://", CE_REDIS_SINGLE, 1, 0, CE_REDIS_DEFAULT_PORT},
    {"redis-sentinel://", CE_REDIS_SENTINEL, 0, 1, CE_REDIS_SENTINEL_PORT},
    {"redis-cluster://", CE_REDIS_CLUSTER, 0, 1, CE_REDIS_DEFAULT_PORT},
};

int ce_redis_url_parse(const char *url, ce_redis_url *out, char *err,
                       size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!strncmp(url, "unix://", 7))
    return parse_unix(url + 7, out, err, errlen);
  size_t k = 0, n = sizeof SCHEMES / sizeof SCHEMES[0];
  while (k < n && strncmp(url, SCHEMES[k].scheme, strlen(SCHEMES[k].scheme)))
    k++;
  if (k == n) {
    snprintf(err, errlen,
             "expected redis://, rediss://, unix://, "
             "redis-sentinel:// or redis-cluster://");
    return -1;
  }
  out->mode = SCHEMES[k].mode;
  out->tls = SCHEMES[k].tls;
  const char *p = url + strlen(SCHEMES[k].scheme);
  const char *slash = strchr(p, '/');
  span authority = {p, slash ? slash : p + strlen(p)};
  const char *at = NULL;
  for (const char *s = authority.s; s < authority.e; s++)
    if (*s == '@')
      at = s; /* the last @: a password may hold one */
  if (at && parse_userinfo((span){p, at}, out, err, errlen))
    return -1;
  if (at)
    authority.s = at + 1;
  if (parse_hosts(authority, SCHEMES[k].many, SCHEMES[k].port, out, err,
                  errlen))
    return -1;
  return parse_path((span){authority.e, p + strlen(p)}, out, err, errlen);
}

void ce_redis_url_describe(const ce_redis_url *u, char *out, size_t cap) {
  static const char *const kind[] = {"redis", "redis-sentinel",
                                     "redis-cluster"};
  size_t o = 0;
  if (!cap)
    return;
  out[0] = '\0';
  if (u->is_unix) {
    snprintf(out, cap, "redis unix:%s", u->path);
    return;
  }
  o = (size_t)snprintf(out, cap, "%s%s ", kind[u->mode],
                       u->tls ? " (tls)" : "");
  for (size_t i = 0; i < u->n_hosts && o < cap; i++)
    o += (size_t)snprintf(
        out + o, cap - o, "%s%s%s%s:%d", i ? "," : "",
        strchr(u->hosts[i].host, ':') ? "[" : "", u->hosts[i].host,
        strchr(u->hosts[i].host, ':') ? "]" : "", u->hosts[i].port);
  if (u->mode == CE_REDIS_SENTINEL && o < cap)
    snprintf(out + o, cap - o, " master %s", u->master);
}
