/* TLS to Redis with OpenSSL: a client context from the redis_tls_*
 * settings, and the handshake on an already connected non-blocking socket.
 * The server certificate is always verified (chain and name); there is no
 * setting to turn that off. Sockets are driven through a small BIO of our
 * own that uses send(MSG_NOSIGNAL), so a peer that went away can never
 * raise SIGPIPE in the server. */
#include "redis_private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static BIO_METHOD *sock_method;
static pthread_once_t sock_once = PTHREAD_ONCE_INIT;

static int sock_write(BIO *b, const char *buf, int len) {
  int fd = (int)(intptr_t)BIO_get_data(b);
  BIO_clear_retry_flags(b);
  ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_write(b);
  return (int)n;
}

static int sock_read(BIO *b, char *buf, int len) {
  int fd = (int)(intptr_t)BIO_get_data(b);
  BIO_clear_retry_flags(b);
  ssize_t n = recv(fd, buf, (size_t)len, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_read(b);
  return (int)n;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)b, (void)num, (void)ptr;
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int sock_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void make_method(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                               "cached_embed redis socket");
  if (m && BIO_meth_set_write(m, sock_write) &&
      BIO_meth_set_read(m, sock_read) && BIO_meth_set_ctrl(m, sock_ctrl) &&
      BIO_meth_set_create(m, sock_create)) {
    sock_method = m;
    return;
  }
  BIO_meth_free(m);
}

/* The newest OpenSSL error as text (the queue is per thread). */
static void ssl_reason(char *out, size_t cap) {
  unsigned long e = ERR_get_error();
  if (e)
    ERR_error_string_n(e, out, cap);
  else
    snprintf(out, cap, "%s", errno ? strerror(errno) : "connection closed");
  ERR_clear_error();
}

static int readable(const char *setting, const char *path, char *err,
                    size_t errlen) {
  if (access(path, R_OK) == 0)
    return 0;
  snprintf(err, errlen, "cannot read %s %.200s: %s", setting, path,
           strerror(errno));
  return -1;
}

static int load_files(SSL_CTX *ctx, const ce_config *cfg, char *err,
                      size_t errlen) {
  char why[160];
  const char *ca = cfg->redis_tls_ca_file, *crt = cfg->redis_tls_cert_file,
             *key = cfg->redis_tls_key_file;
  if (ca[0] && (readable("redis_tls_ca_file", ca, err, errlen) ||
                SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1))
    goto bad_ca;
  if (!ca[0] && SSL_CTX_set_default_verify_paths(ctx) != 1)
    goto bad_ca;
  if (!crt[0] && !key[0])
    return 0;
  if (!crt[0] || !key[0]) {
    snprintf(err, errlen,
             "redis_tls_cert_file and redis_tls_key_file go together");
    return -1;
  }
  if (readable("redis_tls_cert_file", crt, err, errlen) ||
      readable("redis_tls_key_file", key, err, errlen))
    return -1;
  if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ssl_reason(why, sizeof why);
    snprintf(err, errlen, "redis_tls_cert_file / redis_tls_key_file: %s", why);
    return -1;
  }
  return 0;
bad_ca:
  if (!err[0] || !strstr(err, "cannot read")) {
    ssl_reason(why, sizeof why);
    snprintf(err, errlen, "redis_tls_ca_file: cannot load CA certificates: %s",
             why);
  }
  return -1;
}

SSL_CTX *ce_tls_context(const ce_config *cfg, char *err, size_t errlen) {
  SSL_CTX *ctx;
  err[0] = '\0';
  pthread_once(&sock_once, make_method);
  ERR_clear_error();
  if (!sock_method || !(ctx = SSL_CTX_new(TLS_client_method()))) {
    snprintf(err, errlen, "cannot create a TLS context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (load_files(ctx, cfg, err, errlen)) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static int is_ip(const char *name) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, name, buf) == 1 ||
         inet_pton(AF_INET6, name, buf) == 1;
}

/* The name the certificate must carry, and SNI for host names. */
static int set_name(SSL *ssl, const char *name) {
  if (is_ip(name))
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 ? 0
                                                                         : -1;
  return SSL_set_tlsext_host_name(ssl, name) == 1 &&
                 SSL_set1_host(ssl, name) == 1
             ? 0
             : -1;
}

static void handshake_error(SSL *ssl, int rc, char *err, size_t errlen) {
  char why[160];
  long v = SSL_get_verify_result(ssl);
  if (v != X509_V_OK) {
    snprintf(err, errlen, "tls: server certificate not accepted: %s",
             X509_verify_cert_error_string(v));
    ERR_clear_error();
    return;
  }
  if (SSL_get_error(ssl, rc) == SSL_ERROR_SYSCALL && !ERR_peek_error())
    snprintf(why, sizeof why, "%s",
             errno ? strerror(errno) : "connection closed");
  else
    ssl_reason(why, sizeof why);
  snprintf(err, errlen, "tls handshake failed: %s", why);
}

SSL *ce_tls_connect(SSL_CTX *ctx, int fd, const char *name,
                    long long deadline_ms, char *err, size_t errlen) {
  SSL *ssl = SSL_new(ctx);
  BIO *bio = ssl ? BIO_new(sock_method) : NULL;
  if (!bio || set_name(ssl, name)) {
    snprintf(err, errlen, "tls: cannot set up the connection");
    BIO_free(bio);
    SSL_free(ssl);
    return NULL;
  }
  BIO_set_data(bio, (void *)(intptr_t)fd);
  SSL_set_bio(ssl, bio, bio);
  ERR_clear_error();
  for (;;) {
    errno = 0;
    int rc = SSL_connect(ssl), e = SSL_get_error(ssl, rc);
    ce_fd_status w = CE_FD_ERROR; /* another TLS error */
    if (rc == 1)
      return ssl;
    if (e == SSL_ERROR_WANT_READ)
      w = ce_fd_wait(fd, POLLIN, deadline_ms);
    else if (e == SSL_ERROR_WANT_WRITE)
      w = ce_fd_wait(fd, POLLOUT, deadline_ms);
    if (w == CE_FD_READY)
      continue;
    if (w == CE_FD_TIMEOUT)
      snprintf(err, errlen, "tls handshake timed out");
    else
      handshake_error(ssl, rc, err, errlen);
    SSL_free(ssl);
    return NULL;
  }
}

void ce_tls_shutdown(void) {
  if (sock_method)
    BIO_meth_free(sock_method);
  sock_method = NULL;
}
