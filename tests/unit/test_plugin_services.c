/* plugin_services: no-ops without the plugin; with fake server ops, on_error
 * and progress calls; and a warm-up batch whose statement is killed while
 * its request hangs on a socket that never answers: it returns at once, the
 * transfer abandoned, nothing counted as a provider failure. */
#include "check.h"
#include "clock.h"
#include "guard.h"
#include "http.h"
#include "plugin_services.h"
#include "provider_batch.h"
#include "stats.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int kill_after_calls = -1, killed_calls, starts, ends;
static unsigned long long last_done, last_total;
static char failed[600];

static int fake_killed(void) {
  killed_calls++;
  return kill_after_calls >= 0 && killed_calls > kill_after_calls;
}
static void fake_start(void) { starts++; }
static void fake_report(unsigned long long done, unsigned long long total) {
  last_done = done, last_total = total;
}
static void fake_end(void) { ends++; }
static void fake_fail(const char *msg) {
  snprintf(failed, sizeof failed, "%s", msg);
}
static int killed_errors;
static void fake_fail_killed(void) { killed_errors++; }

static const ce_server_ops fake = {fake_killed, fake_start, fake_report,
                                   fake_end,    fake_fail,  fake_fail_killed};

static void test_without_the_plugin(void) {
  ce_config c;
  char msg[300];
  ce_config_defaults(&c);
  CHECK(!ce_server_attached() && !ce_server_killed());
  CHECK(ce_server_fail_if_killed() == 0);
  ce_server_progress_add(1, 2);
  ce_server_progress_end();
  CHECK(ce_on_error_check(&c, msg, sizeof msg) == 0);
  c.on_error = CE_ON_ERROR_ERROR;
  CHECK(ce_on_error_check(&c, msg, sizeof msg) == -1);
  CHECK(strstr(msg, "on_error = error needs the cached_embed plugin"));
  CHECK(ce_on_error_fail(&c, "cached_embed", "k", "why") == 0);
}

static void test_with_the_plugin(void) {
  ce_config c;
  char msg[300];
  ce_config_defaults(&c);
  ce_server_attach(&fake);
  CHECK(ce_server_attached());
  CHECK(ce_on_error_fail(&c, "cached_embed", "k1", "provider down") == 0);
  CHECK(!failed[0]); /* on_error = null: the row is NULL */
  c.on_error = CE_ON_ERROR_ERROR;
  CHECK(ce_on_error_check(&c, msg, sizeof msg) == 0);
  CHECK(ce_on_error_fail(&c, "cached_embed", "k1", "provider down") == 1);
  CHECK_STR(failed,
            "cached_embed: row key 'k1': provider down (on_error = error)");

  ce_server_progress_add(0, 10);
  ce_server_progress_add(4, 0);
  CHECK(starts == 1 && last_done == 4 && last_total == 10);
  ce_server_progress_add(20, 0); /* never past the total */
  CHECK(last_done == 10);
  ce_server_progress_add(0, 10);
  ce_server_progress_settle();
  CHECK(starts == 1 && last_done == 20 && last_total == 20);
  ce_server_progress_end();
  CHECK(ends == 1);
  ce_server_progress_end(); /* once per statement */
  CHECK(ends == 1);
  ce_server_progress_add(0, 3);
  CHECK(starts == 2 && last_done == 0 && last_total == 3);
  kill_after_calls = -1;
  CHECK(ce_server_fail_if_killed() == 0 && killed_errors == 0);
  killed_calls = 0, kill_after_calls = 0;
  CHECK(ce_server_fail_if_killed() == 1 && killed_errors == 1);
  kill_after_calls = -1;
  ce_server_attach(NULL); /* UNINSTALL during the statement */
  ce_server_progress_end();
  CHECK(ends == 2); /* what was started is ended */
}

/* A listening socket nobody accepts: connections complete, requests hang. */
static int silent_listener(int *port) {
  struct sockaddr_in a = {0};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 16) ||
      getsockname(fd, (struct sockaddr *)&a, &len))
    return -1;
  *port = ntohs(a.sin_port);
  return fd;
}

static void test_kill_abandons_transfers(void) {
  int port;
  int fd = silent_listener(&port);
  CHECK(fd >= 0);
  ce_config c;
  ce_config_defaults(&c);
  snprintf(c.endpoint, sizeof c.endpoint, "http://127.0.0.1:%d/v1/embeddings",
           port);
  c.batch = 2;
  c.parallel = 2;
  c.timeout_ms = 20000;
  c.circuit_failures = 1; /* one counted failure would open it */
  ce_text in[6] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}, {"f", 1}};
  uint8_t ok[6], *vecs = NULL;
  uint32_t dims = 0;
  CURLM *multi = ce_http_multi_new();
  uint64_t errors = ce_stat_get(CE_STAT_PROVIDER_ERRORS);

  ce_server_attach(&fake);
  killed_calls = 0;
  kill_after_calls = 3; /* killed after a few turns of the loop */
  long long t0 = ce_mono_ms();
  size_t done = ce_provider_embed_many(&c, multi, in, 6, &vecs, &dims, ok);
  long long took = ce_mono_ms() - t0;
  ce_server_attach(NULL);

  CHECK(done == 0 && vecs == NULL);
  for (int i = 0; i < 6; i++)
    CHECK(ok[i] == 0);
  CHECK(took < 5000); /* not the 20 s timeout */
  CHECK(ce_stat_get(CE_STAT_PROVIDER_ERRORS) == errors);
  CHECK_STR(ce_guard_circuit_state(), "closed");
  curl_multi_cleanup(multi);
  close(fd);
  ce_http_shutdown();
}

int main(void) {
  test_without_the_plugin();
  test_with_the_plugin();
  test_kill_abandons_transfers();
  return CHECK_DONE();
}
