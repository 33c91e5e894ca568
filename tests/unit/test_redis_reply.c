/* The Redis layer's pure parts and one connection over a socketpair: CRC16
 * and key slots, the bounded reply reader, MOVED/ASK, CLUSTER SLOTS,
 * sentinel and ROLE answers, and the pipelined exchange (in order, across
 * partial reads, on a peer that closes, a peer that says nothing). */
#include "check.h"
#include "redis_private.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_slots(void) {
  CHECK(ce_crc16("123456789", 9) == 0x31C3); /* the XMODEM check value */
  CHECK(ce_redis_key_slot("foo", 3) == 12182);
  CHECK(ce_redis_key_slot("bar", 3) == 5061);
  CHECK(ce_redis_key_slot("", 0) == 0);
  /* hash tags: the first {...} that is not empty */
  CHECK(ce_redis_key_slot("{user1000}.following", 20) ==
        ce_redis_key_slot("{user1000}.followers", 20));
  CHECK(ce_redis_key_slot("{user1000}.following", 20) ==
        ce_redis_key_slot("user1000", 8));
  CHECK(ce_redis_key_slot("foo{bar}{zap}", 13) == ce_redis_key_slot("bar", 3));
  CHECK(ce_redis_key_slot("foo{}{bar}", 10) ==
        (ce_crc16("foo{}{bar}", 10) & 16383));
  CHECK(ce_redis_key_slot("foo{{bar}}zap", 13) == ce_redis_key_slot("{bar", 4));
  CHECK(ce_redis_key_slot("foo{bar", 7) == (ce_crc16("foo{bar", 7) & 16383));
}

/* Parses `bytes` fed one byte at a time; the one reply, or NULL. */
static ce_redis_reply *parse1(const char *bytes, size_t len) {
  redisReader *r = ce_reply_reader_new();
  void *reply = NULL;
  int bad = 0;
  for (size_t i = 0; i < len && !reply && !bad; i++)
    bad = redisReaderFeed(r, bytes + i, 1) != REDIS_OK ||
          redisReaderGetReply(r, &reply) != REDIS_OK;
  redisReaderFree(r);
  return bad ? NULL : reply;
}
#define PARSE(lit) parse1(lit, sizeof lit - 1)

static void test_reader(void) {
  ce_redis_reply *r = PARSE("*4\r\n:42\r\n$3\r\nf\0o\r\n$-1\r\n+OK\r\n");
  CHECK(r && r->type == CE_REPLY_ARRAY && r->elements == 4);
  if (r && r->elements == 4) {
    CHECK(r->element[0]->type == CE_REPLY_INTEGER &&
          r->element[0]->integer == 42);
    CHECK(r->element[1]->type == CE_REPLY_STRING && r->element[1]->len == 3 &&
          !memcmp(r->element[1]->str, "f\0o", 3));
    CHECK(r->element[2]->type == CE_REPLY_NIL);
    CHECK(r->element[3]->type == CE_REPLY_STATUS);
    CHECK_STR(r->element[3]->str, "OK");
  }
  ce_reply_free(r);
  CHECK(PARSE("*2000000\r\n") == NULL); /* over CE_REDIS_MAX_ELEMENTS */
  CHECK(PARSE("*-7\r\n") == NULL);
  CHECK(PARSE("?what\r\n") == NULL);
  CHECK(PARSE("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n") ==
        NULL);
  r = PARSE("*0\r\n");
  CHECK(r && r->type == CE_REPLY_ARRAY && r->elements == 0);
  ce_reply_free(r);
}

static void test_redirect(void) {
  ce_redis_host to;
  int ask = -1, slot = -1;
  ce_redis_reply *r = PARSE("-MOVED 3999 127.0.0.1:6381\r\n");
  CHECK(ce_reply_redirect(r, &ask, &slot, &to) == 0 && !ask && slot == 3999 &&
        to.port == 6381);
  CHECK_STR(to.host, "127.0.0.1");
  ce_reply_free(r);
  r = PARSE("-ASK 16383 ::1:7002\r\n");
  CHECK(ce_reply_redirect(r, &ask, &slot, &to) == 0 && ask && slot == 16383);
  CHECK_STR(to.host, "::1");
  ce_reply_free(r);
  r = PARSE("-MOVED 12 :7001\r\n"); /* same host as the node asked */
  CHECK(ce_reply_redirect(r, &ask, &slot, &to) == 0 && !to.host[0] &&
        to.port == 7001);
  CHECK(ce_reply_error_is(r, "MOVED") && !ce_reply_error_is(r, "MOVE"));
  ce_reply_free(r);
  const char *bad[] = {"-MOVED\r\n",           "-ASK\r\n",
                       "-MOVED 16384 h:1\r\n", "-MOVED 12 h\r\n",
                       "-MOVED 12 h:0\r\n",    "-MOVEDX 12 h:1\r\n",
                       "-MOVED  12 h:1\r\n",   "+MOVED 12 h:1\r\n",
                       "-MOVED 12 h:1x\r\n",   "-ERR MOVED 1 h:1\r\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r = parse1(bad[i], strlen(bad[i]));
    CHECK(r && ce_reply_redirect(r, &ask, &slot, &to) == -1);
    ce_reply_free(r);
  }
}

static int ranges;
static char seen[512];
static void on_range(void *ctx, int first, int last, const ce_redis_host *m) {
  (void)ctx;
  size_t n = strlen(seen);
  snprintf(seen + n, sizeof seen - n, "%d-%d@%.40s:%d;", first, last, m->host,
           m->port);
  ranges++;
}

static void test_cluster_slots(void) {
  ce_redis_reply *r = PARSE(
      "*2\r\n"
      "*4\r\n:0\r\n:8191\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
      "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$3\r\nid2\r\n"
      "*3\r\n:8192\r\n:16383\r\n*2\r\n$0\r\n\r\n:7001\r\n");
  seen[0] = 0, ranges = 0;
  CHECK(ce_reply_slots(r, on_range, NULL) == 2 && ranges == 2);
  CHECK_STR(seen, "0-8191@127.0.0.1:7000;8192-16383@:7001;");
  ce_reply_free(r);
  r = PARSE(
      "*1\r\n*3\r\n:9\r\n:3\r\n*2\r\n$1\r\nh\r\n:1\r\n"); /* last < first */
  CHECK(ce_reply_slots(r, on_range, NULL) == -1);
  ce_reply_free(r);
  r = PARSE("*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n");
  CHECK(ce_reply_slots(r, on_range, NULL) == -1);
  ce_reply_free(r);
  r = PARSE("-ERR This instance has cluster support disabled\r\n");
  CHECK(ce_reply_slots(r, on_range, NULL) == -1);
  ce_reply_free(r);
}

static void test_sentinel_and_role(void) {
  ce_redis_host h;
  ce_redis_reply *r = PARSE("*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n");
  CHECK(ce_reply_master_addr(r, &h) == 0 && h.port == 6380);
  CHECK_STR(h.host, "127.0.0.1");
  ce_reply_free(r);
  r = PARSE("*-1\r\n");
  CHECK(ce_reply_master_addr(r, &h) == -1);
  ce_reply_free(r);
  r = PARSE("*2\r\n$1\r\nh\r\n$5\r\n70000\r\n");
  CHECK(ce_reply_master_addr(r, &h) == -1);
  ce_reply_free(r);
  r = PARSE("*3\r\n$6\r\nmaster\r\n:10\r\n*0\r\n");
  CHECK(ce_reply_role_is_master(r));
  ce_reply_free(r);
  r = PARSE("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$"
            "9\r\nconnected\r\n:10\r\n");
  CHECK(!ce_reply_role_is_master(r));
  ce_reply_free(r);
}

/* A connection whose other end is `peer` (a socketpair). */
static ce_rconn *pair_conn(int *peer) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
    return NULL;
  ce_rconn *c = calloc(1, sizeof *c);
  c->fd = sv[0];
  c->reader = ce_reply_reader_new();
  *peer = sv[1];
  return c;
}

static void append_get(ce_rconn *c, const char *key) {
  const char *argv[2] = {"GET", key};
  size_t lens[2] = {3, strlen(key)};
  CHECK(ce_rconn_append(c, 2, argv, lens) == 0);
}

static void test_exchange(void) {
  int peer;
  char buf[256];
  ce_rconn *c = pair_conn(&peer);
  /* the answers are there before the question: read in order */
  const char answers[] = "$1\r\na\r\n$-1\r\n-WRONGTYPE x\r\n";
  CHECK(write(peer, answers, sizeof answers - 1) ==
        (ssize_t)sizeof answers - 1);
  append_get(c, "k1"), append_get(c, "k2"), append_get(c, "k3");
  ce_rconn_exchange(&c, 1, 1000);
  CHECK(!c->err && c->got == 3);
  CHECK(c->rep[0]->type == CE_REPLY_STRING && c->rep[1]->type == CE_REPLY_NIL &&
        ce_reply_error_is(c->rep[2], "WRONGTYPE"));
  ssize_t n = read(peer, buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  CHECK_STR(buf,
            "*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*2\r\n$3\r\nGET\r\n$2\r\nk2\r\n"
            "*2\r\n$3\r\nGET\r\n$2\r\nk3\r\n");
  ce_rconn_reset(c);
  /* a peer that says nothing: timed out, not stuck */
  append_get(c, "k4");
  ce_rconn_exchange(&c, 1, 100);
  CHECK(c->err == CE_RERR_TIMEOUT && c->got == 0);
  ce_rconn_close(c);
  close(peer);

  /* a peer that closes: an I/O error (on the write or the read) */
  c = pair_conn(&peer);
  CHECK(write(peer, "+OK\r\n", 5) == 5);
  close(peer);
  append_get(c, "a"), append_get(c, "b");
  ce_rconn_exchange(&c, 1, 1000);
  CHECK(c->err == CE_RERR_IO && c->got <= 1);
  ce_rconn_close(c);

  /* garbage: a protocol error */
  c = pair_conn(&peer);
  CHECK(write(peer, "!!!\r\n", 5) == 5);
  append_get(c, "a");
  ce_rconn_exchange(&c, 1, 1000);
  CHECK(c->err == CE_RERR_PROTO);
  ce_rconn_close(c);
  close(peer);
}

int main(void) {
  test_slots();
  test_reader();
  test_redirect();
  test_cluster_slots();
  test_sentinel_and_role();
  test_exchange();
  return CHECK_DONE();
}
