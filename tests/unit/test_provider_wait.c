/* The cost guard's mode wait inside the provider calls, against a tiny HTTP
 * server on loopback (a thread of this test) and the guard on a clock moved
 * ahead, so that its 60 s window ends within a second or two:
 *   - a single call counts the wait in its timeout_ms (it used to start its
 *     request with the whole timeout after waiting: ~2 x timeout_ms);
 *   - the warm-up's scheduler does not block on a waiting request: the
 *     other transfers go on meanwhile (it used to sleep inside its loop);
 *   - each request's answer is handed on as it comes, once the next request
 *     is on its way (the warm-up writes one answer back while the next
 *     requests are in flight; it used to get every answer at the end). */
#define _GNU_SOURCE /* memmem, strcasestr */
#include "check.h"
#include "clock.h"
#include "guard.h"
#include "http.h"
#include "provider.h"
#include "provider_batch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the server: answers every request with one 3-value vector ---- */

static int listen_fd, port;
static volatile long delay_ms;
static pthread_mutex_t arr_mu = PTHREAD_MUTEX_INITIALIZER;
static long long arrivals[64];
static int n_arrivals;

static void *connection(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[65536];
  size_t len = 0;
  for (;;) {
    char *end;
    while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
      ssize_t r = read(fd, buf + len, sizeof buf - len);
      if (r <= 0)
        goto out;
      len += (size_t)r;
    }
    size_t head = (size_t)(end - buf) + 4, body = 0;
    char *cl = strcasestr(buf, "content-length:");
    if (cl && cl < end)
      body = (size_t)strtoul(cl + 15, NULL, 10);
    while (len < head + body) {
      ssize_t r = read(fd, buf + len, sizeof buf - len);
      if (r <= 0)
        goto out;
      len += (size_t)r;
    }
    pthread_mutex_lock(&arr_mu);
    if (n_arrivals < 64)
      arrivals[n_arrivals++] = ce_mono_ms();
    pthread_mutex_unlock(&arr_mu);
    memmove(buf, buf + head + body, len - head - body);
    len -= head + body;
    if (delay_ms)
      ce_sleep_ms(delay_ms);
    const char *json = "{\"data\":[{\"index\":0,\"embedding\":[1,2,3]}],"
                       "\"usage\":{\"total_tokens\":1}}";
    char out[512];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(json), json);
    if (write(fd, out, (size_t)n) != n)
      goto out;
  }
out:
  close(fd);
  return NULL;
}

static void *acceptor(void *arg) {
  (void)arg;
  for (;;) {
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0)
      return NULL;
    pthread_t t;
    pthread_create(&t, NULL, connection, (void *)(intptr_t)fd);
    pthread_detach(t);
  }
}

static void serve(void) {
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(bind(listen_fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(listen(listen_fd, 16) == 0);
  getsockname(listen_fd, (struct sockaddr *)&a, &al);
  port = ntohs(a.sin_port);
  pthread_t t;
  pthread_create(&t, NULL, acceptor, NULL);
  pthread_detach(t);
}

/* ---- the guard's clock: the real one, moved ahead ---- */

static long long offset;
static long long ahead_clock(void) { return ce_mono_ms() + offset; }

static ce_config config(void) {
  ce_config c;
  ce_config_defaults(&c);
  snprintf(c.endpoint, sizeof c.endpoint, "http://127.0.0.1:%d/v1/embeddings",
           port);
  strcpy(c.model, "wait-test-model");
  c.retries = 0;
  c.circuit_failures = 0;
  c.cost_guard_mode = CE_COST_GUARD_WAIT;
  return c;
}

static void test_single_call_counts_the_wait(void) {
  ce_config c = config();
  ce_text t = {"one text", 8};
  ce_embeddings e;
  char err[320];
  const char *cls;
  c.max_requests_per_minute = 1;
  c.timeout_ms = 1500;
  ce_guard_reset();
  delay_ms = 0;
  CHECK(ce_provider_embed(&c, &t, 1, &e, err, sizeof err, &cls) == 0);
  ce_embeddings_free(&e);
  /* the window (started by that request) ends in 800 ms; the server takes
   * 900 ms to answer: with the wait counted, 700 ms are left, too few */
  offset += 60000 - 800;
  delay_ms = 900;
  long long t0 = ce_mono_ms();
  int rc = ce_provider_embed(&c, &t, 1, &e, err, sizeof err, &cls);
  long long took = ce_mono_ms() - t0;
  fprintf(stderr, "single call: rc %d after %lld ms (timeout_ms 1500): %s\n",
          rc, took, rc ? err : "ok");
  CHECK(rc == -1);
  CHECK(strstr(err, "timed out") != NULL);
  if (!rc)
    ce_embeddings_free(&e);
  delay_ms = 0;
}

static void test_batch_goes_on_while_one_request_waits(void) {
  ce_config c = config();
  ce_text in[2] = {{"first text", 10}, {"second text", 11}};
  uint8_t *vecs, ok[2];
  uint32_t dims;
  ce_embeddings e;
  char err[320];
  const char *cls;
  CURLM *multi = ce_http_multi_new();
  c.max_requests_per_minute = 2;
  c.batch = 1;
  c.parallel = 2;
  c.timeout_ms = 10000;
  ce_guard_reset();
  CHECK(ce_provider_embed(&c, in, 1, &e, err, sizeof err, &cls) == 0);
  ce_embeddings_free(&e);
  /* one request left in this window, which ends in 3 s: the first request
   * goes at once, the second waits for the window */
  offset += 60000 - 3000;
  pthread_mutex_lock(&arr_mu);
  n_arrivals = 0;
  pthread_mutex_unlock(&arr_mu);
  long long t0 = ce_mono_ms();
  size_t done = ce_provider_embed_many(&c, multi, in, 2, &vecs, &dims, ok);
  long long took = ce_mono_ms() - t0;
  pthread_mutex_lock(&arr_mu);
  long long first = n_arrivals ? arrivals[0] - t0 : -1;
  int arrived = n_arrivals;
  pthread_mutex_unlock(&arr_mu);
  fprintf(stderr,
          "batch: %zu embedded in %lld ms; first request arrived after %lld "
          "ms\n",
          done, took, first);
  CHECK(done == 2 && ok[0] && ok[1] && dims == 3);
  CHECK(arrived == 2);
  /* not held up by the other request's 3 s wait */
  CHECK(first >= 0 && first < 1500);
  free(vecs);
  curl_multi_cleanup(multi);
}

typedef struct {
  size_t calls, seen[4];
  int arrived_at_first; /* requests at the server during the first answer */
} handed;

static int take_answer(void *ctx, size_t first, size_t count,
                       const uint8_t *vecs, uint32_t dims) {
  handed *h = ctx;
  (void)vecs;
  CHECK(count == 1 && first < 4 && dims == 3);
  if (first < 4)
    h->seen[first]++;
  if (h->calls++ == 0) { /* the third request is sent before this returns */
    long long until = ce_mono_ms() + 2000;
    int n;
    do {
      pthread_mutex_lock(&arr_mu);
      n = n_arrivals;
      pthread_mutex_unlock(&arr_mu);
    } while (n < 3 && ce_mono_ms() < until && (ce_sleep_ms(5), 1));
    h->arrived_at_first = n;
  }
  return 0;
}

static void test_answers_handed_on_while_next_requests_fly(void) {
  ce_config c = config();
  ce_text in[4] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}};
  uint8_t ok[4];
  handed h;
  CURLM *multi = ce_http_multi_new();
  memset(&h, 0, sizeof h);
  c.max_requests_per_minute = 0; /* no cost guard wait here */
  c.batch = 1;
  c.parallel = 2;
  c.timeout_ms = 10000;
  ce_guard_reset();
  delay_ms = 100;
  pthread_mutex_lock(&arr_mu);
  n_arrivals = 0;
  pthread_mutex_unlock(&arr_mu);
  size_t done = ce_provider_embed_each(&c, multi, in, 4, take_answer, &h, ok);
  fprintf(stderr,
          "each: %zu handed on in %zu calls; %d requests at the server "
          "during the first\n",
          done, h.calls, h.arrived_at_first);
  CHECK(done == 4 && h.calls == 4);
  for (int i = 0; i < 4; i++)
    CHECK(ok[i] == 1 && h.seen[i] == 1);
  CHECK(h.arrived_at_first >= 3);
  delay_ms = 0;
  curl_multi_cleanup(multi);
}

int main(void) {
  serve();
  ce_guard_set_clock(ahead_clock, NULL);
  test_single_call_counts_the_wait();
  test_batch_goes_on_while_one_request_waits();
  ce_guard_set_clock(NULL, NULL);
  test_answers_handed_on_while_next_requests_fly();
  close(listen_fd);
  return CHECK_DONE();
}
