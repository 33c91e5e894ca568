/* One connection to one Redis server: non-blocking connect with a timeout,
 * optional TLS, pipelined commands formatted by hiredis, replies parsed by
 * hiredis's reader, and every wait a poll() bounded by redis_timeout_ms of
 * no progress. Several connections are driven at once by one poll loop, so
 * a pipeline split over the nodes of a cluster costs one round trip. */
#include "redis_private.h"

#include "clock.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

ce_fd_status ce_fd_wait(int fd, short events, long long deadline_ms) {
  for (;;) {
    long long left = deadline_ms - ce_mono_ms();
    struct pollfd p = {fd, events, 0};
    if (left <= 0)
      return CE_FD_TIMEOUT;
    int rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (rc > 0)
      return CE_FD_READY;
    if (rc == 0)
      return CE_FD_TIMEOUT;
    if (errno != EINTR)
      return CE_FD_ERROR;
  }
}

/* ---- connecting ---- */

static int connect_fd(int family, const struct sockaddr *sa, socklen_t len,
                      long long deadline, char *err, size_t errlen) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
      so = 0;
  socklen_t so_len = sizeof so;
  if (fd < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  if (connect(fd, sa, len) == 0)
    return fd;
  if (errno != EINPROGRESS) {
    snprintf(err, errlen, "%s", strerror(errno));
    close(fd);
    return -1;
  }
  ce_fd_status w = ce_fd_wait(fd, POLLOUT, deadline);
  if (w == CE_FD_READY &&
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &so_len) == 0 && !so)
    return fd;
  snprintf(err, errlen, "%s",
           w == CE_FD_TIMEOUT ? "connect timed out"
                              : strerror(so ? so : errno));
  close(fd);
  return -1;
}

static int dial_tcp(const ce_redis_host *h, long long deadline, char *err,
                    size_t errlen) {
  struct addrinfo hints, *res = NULL;
  char port[8];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof port, "%d", h->port);
  int rc = getaddrinfo(h->host, port, &hints, &res);
  if (rc) {
    snprintf(err, errlen, "cannot resolve host: %s", gai_strerror(rc));
    return -1;
  }
  int fd = -1, one = 1;
  for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next)
    fd = connect_fd(a->ai_family, a->ai_addr, a->ai_addrlen, deadline, err,
                    errlen);
  freeaddrinfo(res);
  if (fd >= 0) {
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  }
  return fd;
}

static int dial_unix(const char *path, long long deadline, char *err,
                     size_t errlen) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) {
    snprintf(err, errlen, "socket path too long");
    return -1;
  }
  strcpy(sa.sun_path, path);
  return connect_fd(AF_UNIX, (struct sockaddr *)&sa, sizeof sa, deadline, err,
                    errlen);
}

ce_rconn *ce_rconn_dial(const ce_rdial *d, char *err, size_t errlen) {
  long long deadline = ce_mono_ms() + d->timeout_ms;
  int fd = d->path ? dial_unix(d->path, deadline, err, errlen)
                   : dial_tcp(d->addr, deadline, err, errlen);
  if (fd < 0)
    return NULL;
  ce_rconn *c = calloc(1, sizeof *c);
  if (!c || !(c->reader = ce_reply_reader_new())) {
    snprintf(err, errlen, "out of memory");
    free(c);
    close(fd);
    return NULL;
  }
  c->fd = fd;
  c->node = -1;
  if (d->tls && !d->path) {
    const char *name =
        d->tls_name && d->tls_name[0] ? d->tls_name : d->addr->host;
    c->ssl = ce_tls_connect(d->tls, fd, name, deadline, err, errlen);
    if (!c->ssl) {
      ce_rconn_close(c);
      return NULL;
    }
  }
  return c;
}

void ce_rconn_close(ce_rconn *c) {
  if (!c)
    return;
  ce_rconn_reset(c);
  if (c->ssl)
    SSL_free(c->ssl); /* no close_notify: the socket may be dead already */
  if (c->fd >= 0)
    close(c->fd);
  if (c->reader)
    redisReaderFree(c->reader);
  free(c->out);
  free(c->rep);
  free(c);
}

/* ---- queueing ---- */

int ce_rconn_append(ce_rconn *c, int argc, const char *const *argv,
                    const size_t *lens) {
  char *cmd = NULL;
  int n = redisFormatCommandArgv(&cmd, argc, (const char **)argv, lens);
  if (n < 0)
    return -1;
  if (c->out_len + (size_t)n > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + (size_t)n)
      cap *= 2;
    char *grown = realloc(c->out, cap);
    if (!grown) {
      redisFreeCommand(cmd);
      return -1;
    }
    c->out = grown, c->out_cap = cap;
  }
  if (c->want == c->rep_cap) {
    size_t cap = c->rep_cap ? c->rep_cap * 2 : 16;
    ce_redis_reply **grown = realloc(c->rep, cap * sizeof *grown);
    if (!grown) {
      redisFreeCommand(cmd);
      return -1;
    }
    c->rep = grown, c->rep_cap = cap;
  }
  memcpy(c->out + c->out_len, cmd, (size_t)n);
  c->out_len += (size_t)n;
  c->rep[c->want++] = NULL;
  redisFreeCommand(cmd);
  return 0;
}

void ce_rconn_reset(ce_rconn *c) {
  for (size_t i = 0; i < c->got; i++)
    ce_reply_free(c->rep[i]);
  c->want = c->got = 0;
  c->out_len = c->out_off = 0;
  if (c->out_cap > (256u << 10)) { /* a big warm-up pipeline: give it back */
    free(c->out);
    c->out = NULL, c->out_cap = 0;
  }
}

/* ---- the exchange ---- */

static void fail(ce_rconn *c, ce_rerr e, const char *msg) {
  if (c->err)
    return;
  c->err = e;
  snprintf(c->errstr, sizeof c->errstr, "%s", msg);
}

static int active(const ce_rconn *c) {
  return !c->err && (c->out_off < c->out_len || c->got < c->want);
}

/* Writes what it can; 1 if bytes went out. */
static int do_write(ce_rconn *c) {
  int progress = 0;
  while (c->out_off < c->out_len && !c->err) {
    size_t left = c->out_len - c->out_off;
    int chunk = left > INT_MAX ? INT_MAX : (int)left;
    if (c->ssl) {
      ERR_clear_error();
      int n = SSL_write(c->ssl, c->out + c->out_off, chunk);
      if (n > 0) {
        c->out_off += (size_t)n, progress = 1;
        continue;
      }
      int e = SSL_get_error(c->ssl, n);
      c->ssl_want_write = e == SSL_ERROR_WANT_WRITE;
      if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
        fail(c, CE_RERR_IO, "tls write failed");
      return progress;
    }
    ssize_t n = send(c->fd, c->out + c->out_off, (size_t)chunk, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += (size_t)n, progress = 1;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return progress;
    } else {
      fail(c, CE_RERR_IO, strerror(errno));
    }
  }
  return progress;
}

/* Parses what arrived into replies; -1 on a protocol error. */
static int take_replies(ce_rconn *c) {
  redisReader *r = c->reader;
  while (c->got < c->want) {
    void *reply = NULL;
    if (redisReaderGetReply(r, &reply) != REDIS_OK) {
      fail(c, CE_RERR_PROTO, "bad reply from redis");
      return -1;
    }
    if (!reply)
      break;
    c->rep[c->got++] = reply;
  }
  if (r->len - r->pos > CE_REDIS_MAX_PENDING) {
    fail(c, CE_RERR_PROTO, "reply over 64 MiB");
    return -1;
  }
  return 0;
}

/* Reads one chunk: >0 bytes, 0 would block, -1 failed (c->err set). */
static ssize_t read_some(ce_rconn *c, char *buf, size_t cap) {
  if (c->ssl) {
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, (int)cap);
    if (n > 0)
      return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
      return 0;
    fail(c, CE_RERR_IO,
         e == SSL_ERROR_ZERO_RETURN ? "connection closed by redis"
                                    : "tls read failed");
    return -1;
  }
  for (;;) {
    ssize_t n = recv(c->fd, buf, cap, 0);
    if (n > 0)
      return n;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    fail(c, CE_RERR_IO,
         n == 0 ? "connection closed by redis" : strerror(errno));
    return -1;
  }
}

/* Reads what is there; 1 if bytes came in. */
static int do_read(ce_rconn *c) {
  char buf[16384];
  int progress = 0;
  while (c->got < c->want && !c->err) {
    ssize_t n = read_some(c, buf, sizeof buf);
    if (n <= 0)
      break;
    progress = 1;
    if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
      fail(c, CE_RERR_OOM, "out of memory");
      break;
    }
    if (take_replies(c))
      break;
    if (!c->ssl && (size_t)n < sizeof buf)
      break; /* drained: no need for a recv that says EAGAIN */
  }
  return progress;
}

static short events_of(const ce_rconn *c) {
  short ev = POLLIN;
  if (c->out_off < c->out_len && (!c->ssl || c->ssl_want_write))
    ev |= POLLOUT;
  return ev;
}

void ce_rconn_exchange(ce_rconn *const *cs, size_t n, long timeout_ms) {
  struct pollfd fds[CE_REDIS_MAX_NODES];
  ce_rconn *who[CE_REDIS_MAX_NODES];
  if (n > CE_REDIS_MAX_NODES)
    n = CE_REDIS_MAX_NODES;
  for (size_t i = 0; i < n; i++)
    if (active(cs[i]))
      do_write(cs[i]);
  long long deadline = ce_mono_ms() + timeout_ms;
  for (;;) {
    nfds_t k = 0;
    for (size_t i = 0; i < n; i++)
      if (active(cs[i])) {
        fds[k] = (struct pollfd){cs[i]->fd, events_of(cs[i]), 0};
        who[k++] = cs[i];
      }
    if (!k)
      return;
    long long left = deadline - ce_mono_ms();
    int rc = left > 0 ? poll(fds, k, left > INT_MAX ? INT_MAX : (int)left) : 0;
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0) {
      for (nfds_t j = 0; j < k; j++)
        fail(who[j], rc == 0 ? CE_RERR_TIMEOUT : CE_RERR_IO,
             rc == 0 ? "timed out" : strerror(errno));
      return;
    }
    int progress = 0;
    for (nfds_t j = 0; j < k; j++) {
      if (!fds[j].revents)
        continue;
      if (who[j]->out_off < who[j]->out_len)
        progress |= do_write(who[j]);
      progress |= do_read(who[j]);
    }
    if (progress)
      deadline = ce_mono_ms() + timeout_ms;
  }
}

/* ---- set-up commands ---- */

static void add_str(const char **argv, size_t *lens, int *argc, const char *s) {
  argv[*argc] = s;
  lens[(*argc)++] = strlen(s);
}

int ce_rconn_setup(ce_rconn *c, const char *user, const char *password,
                   int has_password, int db, int want_master, long timeout_ms,
                   char *err, size_t errlen) {
  const char *argv[3];
  size_t lens[3];
  char dbs[16];
  int argc = 0, n_auth = 0, rc = 0;
  if (user[0] || has_password) {
    add_str(argv, lens, &argc, "AUTH");
    if (user[0])
      add_str(argv, lens, &argc, user);
    add_str(argv, lens, &argc, password);
    n_auth = 1;
    if (ce_rconn_append(c, argc, argv, lens))
      goto oom;
  }
  if (db) {
    snprintf(dbs, sizeof dbs, "%d", db);
    argc = 0;
    add_str(argv, lens, &argc, "SELECT");
    add_str(argv, lens, &argc, dbs);
    if (ce_rconn_append(c, argc, argv, lens))
      goto oom;
  }
  if (want_master) {
    argc = 0;
    add_str(argv, lens, &argc, "ROLE");
    if (ce_rconn_append(c, argc, argv, lens))
      goto oom;
  }
  if (!c->want)
    return 0;
  ce_rconn_exchange(&c, 1, timeout_ms);
  if (c->err) {
    snprintf(err, errlen, "%s", c->errstr);
    ce_rconn_reset(c);
    return -1;
  }
  for (size_t i = 0; i < c->got && !rc; i++) {
    const ce_redis_reply *r = c->rep[i];
    const char *what = (int)i < n_auth          ? "AUTH"
                       : db && (int)i == n_auth ? "SELECT"
                                                : "ROLE";
    if (r->type == CE_REPLY_ERROR)
      snprintf(err, errlen, "%s refused: %.100s", what, r->str), rc = -1;
    else if (!strcmp(what, "ROLE") && !ce_reply_role_is_master(r))
      snprintf(err, errlen, "not a master (ROLE): fail-over under way"),
          rc = -1;
  }
  ce_rconn_reset(c);
  if (rc)
    c->err = CE_RERR_SETUP;
  return rc;
oom:
  snprintf(err, errlen, "out of memory");
  ce_rconn_reset(c);
  return -1;
}
