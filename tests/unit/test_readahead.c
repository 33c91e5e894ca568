/* The read-ahead lists (udf/readahead.h) without a Redis: what is listed,
 * that a group is found once and taken whole, the memory bound (a quarter
 * of the local cache's budget, the first rows kept), expiry, off with the
 * local cache; the group listed next (the same listing only), and the
 * prefetch one group ahead of the rows (udf/prefetch.h). Fetching from an
 * unreachable Redis fetches nothing (a group is still taken). */
#include "cache_key.h"
#include "check.h"
#include "config.h"
#include "local_cache.h"
#include "prefetch.h"
#include "readahead.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define KEYS 10000

static char names[KEYS][48];
static const char *keys[KEYS];
static size_t lens[KEYS];
static ce_config cfg;

static int fetch(int i) {
  size_t next_len;
  return ce_readahead_fetch(&cfg, keys[i], lens[i], 0, NULL, &next_len, NULL,
                            NULL);
}

static size_t listed(void) {
  size_t bytes, n;
  ce_readahead_usage(&bytes, &n);
  return n;
}

static size_t listed_bytes(void) {
  size_t bytes, n;
  ce_readahead_usage(&bytes, &n);
  return bytes;
}

static void test_groups(void) {
  ce_readahead_configure(4 << 20, 60000);
  ce_readahead_list(keys, lens, 1000, 768);
  CHECK(listed() == 1000);
  CHECK(listed_bytes() <= (1 << 20));
  CHECK(fetch(500) == 0); /* keys 256..511: its group */
  CHECK(listed() == 744);
  CHECK(fetch(256) == -1); /* taken with it */
  CHECK(fetch(511) == -1);
  CHECK(fetch(512) == 0); /* the next group */
  CHECK(fetch(999) == 0); /* the last, short group (768..999) */
  CHECK(listed() == 256);
  CHECK(fetch(0) == 0);
  CHECK(listed() == 0);
  CHECK(fetch(0) == -1);
  /* a key listed twice: the newer group is found first */
  ce_readahead_list(keys, lens, 10, 768);
  ce_readahead_list(keys + 5, lens + 5, 10, 768);
  CHECK(listed() == 20);
  CHECK(fetch(7) == 0); /* the group 5..14 */
  CHECK(listed() == 10);
  CHECK(fetch(14) == -1);
  CHECK(fetch(7) == 0); /* then the group 0..9 */
  CHECK(listed() == 0);
}

static void test_bound(void) {
  /* 256 KiB: lists of 64 KiB at most, groups of 256 KiB / 4 / 3240 = 20 */
  ce_readahead_configure(256 << 10, 60000);
  CHECK(listed() == 0); /* a new budget drops the lists */
  ce_readahead_list(keys, lens, KEYS, 768);
  CHECK(listed() > 100 && listed() < KEYS);
  CHECK(listed_bytes() <= (64 << 10));
  CHECK(fetch(0) == 0);         /* the first rows are kept */
  CHECK(fetch(19) == -1);       /* in the group of 0 */
  CHECK(fetch(20) == 0);        /* groups of 20 */
  CHECK(fetch(KEYS - 1) == -1); /* the last were not listed */
  /* vectors too large for the local cache to keep a group: nothing listed */
  ce_readahead_configure(128 << 10, 60000);
  ce_readahead_list(keys, lens, 100, 16384);
  CHECK(listed() == 0);
  ce_readahead_list(keys, lens, 100, 0); /* dims unknown */
  CHECK(listed() == 0);
}

static void test_expiry_and_off(void) {
  ce_readahead_configure(4 << 20, 50);
  ce_readahead_list(keys, lens, 100, 768);
  CHECK(listed() == 100);
  usleep(120 * 1000);
  CHECK(fetch(3) == -1); /* expired lists are dropped */
  CHECK(listed() == 0);
  ce_readahead_configure(4 << 20, 60000);
  ce_readahead_list(keys, lens, 100, 768);
  CHECK(listed() == 100);
  ce_readahead_configure(0, 60000); /* local cache off */
  CHECK(listed() == 0 && listed_bytes() == 0);
  ce_readahead_list(keys, lens, 100, 768);
  CHECK(listed() == 0);
  CHECK(fetch(3) == -1);
  ce_readahead_configure(4 << 20, 60000);
  ce_readahead_list(keys, lens, 100, 768);
  ce_readahead_clear();
  CHECK(listed() == 0);
}

static void test_next_group(void) {
  char next[CE_KEY_MAX];
  size_t next_len;
  ce_readahead_configure(4 << 20, 60000);
  ce_readahead_list(keys, lens, 600, 768); /* 0..255, 256..511, 512..599 */
  ce_readahead_list(keys + 1000, lens + 1000, 10, 768); /* another listing */
  CHECK(ce_readahead_fetch(&cfg, keys[300], lens[300], 0, next, &next_len, NULL,
                           NULL) == 0);
  CHECK(next_len == lens[512] && !memcmp(next, keys[512], next_len));
  CHECK(ce_readahead_fetch(&cfg, keys[0], lens[0], 0, next, &next_len, NULL,
                           NULL) == 0);
  /* the next one still listed: 256..511 is gone */
  CHECK(next_len == lens[512] && !memcmp(next, keys[512], next_len));
  CHECK(ce_readahead_fetch(&cfg, keys[599], lens[599], 0, next, &next_len, NULL,
                           NULL) == 0);
  CHECK(next_len == 0); /* the last of its listing: not the other listing's */
  CHECK(ce_readahead_fetch(&cfg, keys[599], lens[599], 0, next, &next_len, NULL,
                           NULL) == -1);
  ce_readahead_clear();
}

static void test_prefetch(void) {
  ce_prefetch *pf = NULL;
  ce_readahead_configure(4 << 20, 60000);
  CHECK(ce_prefetch_miss(&pf, &cfg, keys[0], lens[0], 0) == -1); /* unlisted */
  CHECK(pf == NULL);
  ce_readahead_list(keys, lens, 1000, 768); /* groups of 256: 4 */
  CHECK(ce_prefetch_miss(&pf, &cfg, keys[0], lens[0], 0) == 0);
  CHECK(pf != NULL); /* group 0 fetched, group 1 handed to the thread */
  /* the rows reach group 1 (its vectors are not in this test's local
   * cache: no Redis): it came from the thread, group 2 goes to it */
  CHECK(ce_prefetch_miss(&pf, &cfg, keys[256], lens[256], 768) == 0);
  CHECK(listed() <= 1000 - 2 * 256); /* group 2 may still be on its way */
  CHECK(ce_prefetch_miss(&pf, &cfg, keys[600], lens[600], 768) == 0);
  ce_prefetch_free(pf); /* waits for group 3 */
  CHECK(listed() == 0);
  /* rows in another order: a miss of an unlisted key without a group in
   * flight is a miss */
  pf = NULL;
  ce_readahead_list(keys, lens, 600, 768);
  CHECK(ce_prefetch_miss(&pf, &cfg, keys[300], lens[300], 0) == 0);
  CHECK(ce_prefetch_miss(&pf, &cfg, keys[9000], lens[9000], 0) == 0);
  CHECK(ce_prefetch_miss(&pf, &cfg, keys[9001], lens[9001], 0) == -1);
  CHECK(ce_prefetch_miss(&pf, &cfg, keys[10], lens[10], 0) == 0);
  ce_prefetch_free(pf);
  CHECK(listed() == 0);
  ce_prefetch_free(NULL);
}

int main(void) {
  ce_config_defaults(&cfg);
  snprintf(cfg.redis, sizeof cfg.redis,
           "unix:///nonexistent/ce-readahead.sock");
  cfg.redis_timeout_ms = 50;
  for (int i = 0; i < KEYS; i++) {
    lens[i] = (size_t)snprintf(names[i], sizeof names[i],
                               "cached_embed:v2:jina:row:%d", i);
    keys[i] = names[i];
  }
  ce_local_configure(4 << 20, 60000);
  test_groups();
  test_bound();
  test_expiry_and_off();
  test_next_group();
  test_prefetch();
  ce_readahead_clear();
  ce_local_clear();
  return CHECK_DONE();
}
