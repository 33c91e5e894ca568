/* The `redis` setting: every URL form, and what is refused. */
#include "check.h"
#include "redis_url.h"

static ce_redis_url u;
static char err[160];

static int parse(const char *url) {
  int rc = ce_redis_url_parse(url, &u, err, sizeof err);
  if (rc)
    fprintf(stderr, "  %s: %s\n", url, err);
  return rc;
}

static void host_is(size_t i, const char *host, int port) {
  CHECK(i < u.n_hosts);
  CHECK_STR(u.hosts[i].host, host);
  CHECK(u.hosts[i].port == port);
}

static void bad(const char *url) {
  CHECK(ce_redis_url_parse(url, &u, err, sizeof err) == -1);
  CHECK(!strstr(err, "hunter2") && !strstr(err, "alice"));
}

static void test_single(void) {
  CHECK(parse("redis://127.0.0.1:6379/0") == 0);
  CHECK(u.mode == CE_REDIS_SINGLE && !u.tls && !u.is_unix && u.n_hosts == 1);
  host_is(0, "127.0.0.1", 6379);
  CHECK(parse("redis://localhost") == 0 && u.db == 0 && !u.has_password);
  host_is(0, "localhost", 6379);
  CHECK(parse("redis://:hunter2@cache:6380/3") == 0 && u.db == 3);
  CHECK_STR(u.password, "hunter2");
  CHECK(u.has_password && !u.user[0]);
  CHECK(parse("redis://app:p%40ss@cache/2") == 0 && u.db == 2);
  CHECK_STR(u.user, "app");
  CHECK_STR(u.password, "p@ss");
  CHECK(parse("redis://cached_embed@cache/1") == 0); /* ACL user, no password */
  CHECK_STR(u.user, "cached_embed");
  CHECK(!u.has_password && !u.password[0]);
  CHECK(parse("redis://[::1]:7000/") == 0);
  host_is(0, "::1", 7000);
  CHECK(parse("rediss://alice:hunter2@redis.example.com:6390/4") == 0);
  CHECK(u.tls && u.mode == CE_REDIS_SINGLE && u.db == 4);
  host_is(0, "redis.example.com", 6390);
  CHECK(parse("unix:///run/redis/redis.sock") == 0 && u.is_unix);
  CHECK_STR(u.path, "/run/redis/redis.sock");
  CHECK(parse("unix:///tmp/r.sock?db=4") == 0 && u.db == 4);
}

static void test_sentinel(void) {
  CHECK(parse("redis-sentinel://10.0.0.1,10.0.0.2:26380,[::1]/mymaster") == 0);
  CHECK(u.mode == CE_REDIS_SENTINEL && u.n_hosts == 3 && u.db == 0);
  host_is(0, "10.0.0.1", 26379);
  host_is(1, "10.0.0.2", 26380);
  host_is(2, "::1", 26379);
  CHECK_STR(u.master, "mymaster");
  CHECK(parse("redis-sentinel://alice:hunter2@s1:5000/my%2Fmaster/7") == 0);
  CHECK_STR(u.master, "my/master");
  CHECK(u.db == 7 && !u.tls);
  CHECK_STR(u.user, "alice");
}

static void test_cluster(void) {
  CHECK(parse("redis-cluster://:hunter2@n1:7000,n2:7001,n3") == 0);
  CHECK(u.mode == CE_REDIS_CLUSTER && u.n_hosts == 3);
  host_is(2, "n3", 6379);
  CHECK(parse("redis-cluster://n1:7000/") == 0 && u.db == 0);
  CHECK(parse("redis-cluster://n1:7000/0") == 0);
}

static void test_describe(void) {
  char d[256];
  CHECK(parse("redis-cluster://alice:hunter2@n1:7000,[::1]:7001") == 0);
  ce_redis_url_describe(&u, d, sizeof d);
  CHECK_STR(d, "redis-cluster n1:7000,[::1]:7001");
  CHECK(parse("rediss://alice:hunter2@h:6390") == 0);
  ce_redis_url_describe(&u, d, sizeof d);
  CHECK_STR(d, "redis (tls) h:6390");
  CHECK(parse("redis-sentinel://:hunter2@s1/mymaster") == 0);
  ce_redis_url_describe(&u, d, sizeof d);
  CHECK_STR(d, "redis-sentinel s1:26379 master mymaster");
}

static void test_bad(void) {
  bad("http://localhost");
  bad("redis://");
  bad("rediss://");
  bad("redis://host:0");
  bad("redis://host:99999");
  bad("redis://host:12ab");
  bad("redis://host/notanumber");
  bad("redis://a,b"); /* one host only */
  bad("redis://:hunter2%zz@host");
  bad("redis://alice:hunter2%00@host");
  bad("redis://@host");
  bad("redis://host name");
  bad("unix://relative.sock");
  bad("unix:///tmp/r.sock?x=1");
  bad("redis-sentinel://alice:hunter2@h1,h2"); /* no master name */
  bad("redis-sentinel://h1/");
  bad("redis-sentinel://h1/m/x");
  bad("redis-cluster://alice:hunter2@h1:7000/3"); /* only db 0 */
  bad("redis-cluster://h1,,h2");
  bad("redis-cluster://h1,");
  bad("redis-cluster://"
      "h0,h1,h2,h3,h4,h5,h6,h7,h8,h9,h10,h11,h12,h13,h14,h15,h16");
  bad("redis://[::1");
  bad("redis://[::1]x");
}

int main(void) {
  test_single();
  test_sentinel();
  test_cluster();
  test_describe();
  test_bad();
  return CHECK_DONE();
}
