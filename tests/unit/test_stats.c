/* Counters that issue 10 added: tokens_saved at the provider's usage rate,
 * money at price_per_million_tokens (parsed exactly, printed with six
 * places, no locale), and the JSON carrying them only when a price is set. */
#include "check.h"
#include "config.h"
#include "stats.h"

#include <stdlib.h>

static void test_price_parse(void) {
  uint64_t n = 0;
  CHECK(ce_price_parse("0.02", &n) == 0 && n == 20000000u);
  CHECK(ce_price_parse("1", &n) == 0 && n == 1000000000u);
  CHECK(ce_price_parse(".5", &n) == 0 && n == 500000000u);
  CHECK(ce_price_parse("0.000000001", &n) == 0 && n == 1);
  CHECK(ce_price_parse("1000000", &n) == 0 && n == 1000000000000000ULL);
  CHECK(ce_price_parse("0", &n) == 0 && n == 0);
  const char *bad[] = {
      "",        ".",        "-1",  "+1", "1e3", "abc", "0.1234567891",
      "1000001", "10000000", "1,5", " 1", "1 ",  NULL};
  for (int i = 0; bad[i]; i++) {
    int rc = ce_price_parse(bad[i], &n);
    if (rc == 0)
      fprintf(stderr, "accepted '%s'\n", bad[i]);
    CHECK(rc == -1);
  }
  char err[200];
  ce_config c;
  ce_config_defaults(&c);
  CHECK_STR(c.price_per_million_tokens, "");
  CHECK(ce_config_set(&c, "price_per_million_tokens", "0.13", err,
                      sizeof err) == 0);
  CHECK(ce_config_set(&c, "price_per_million_tokens", "-3", err, sizeof err) ==
        -1);
  CHECK(strstr(err, "price_per_million_tokens must be a decimal") != NULL);
  CHECK_STR(c.price_per_million_tokens, "0.13");
  CHECK(ce_config_set(&c, "share_requests", "off", err, sizeof err) == 0);
  CHECK(c.share_requests == 0);
}

static void test_tokens_of(void) {
  /* no usage reported yet: bytes / 4, at least 1 */
  CHECK(ce_stat_tokens_of(400) == 100);
  CHECK(ce_stat_tokens_of(1) == 1);
  ce_stat_usage(1000, 0); /* no usage: ignored */
  CHECK(ce_stat_tokens_of(400) == 100);
  /* 1000 bytes billed 500 tokens: half a token a byte */
  ce_stat_usage(1000, 500);
  CHECK(ce_stat_tokens_of(400) == 200);
  ce_stat_hit_saved(400);
  CHECK(ce_stat_get(CE_STAT_TOKENS_SAVED) == 200);
}

static void test_money(void) {
  char spent[CE_MONEY_MAX], saved[CE_MONEY_MAX];
  CHECK(ce_stats_money("", spent, saved) == -1);
  CHECK(ce_stats_money("x", spent, saved) == -1);
  ce_stat_add(CE_STAT_PROVIDER_TOKENS, 1234567); /* tokens_saved: 200 */
  CHECK(ce_stats_money("0.02", spent, saved) == 0);
  CHECK_STR(spent, "0.024691"); /* 1,234,567 × 0.02 / 1e6 = 0.02469134 */
  CHECK_STR(saved, "0.000004");
  CHECK(ce_stats_money("1000000", spent, saved) == 0);
  CHECK_STR(spent, "1234567.000000");
  ce_stat_add(CE_STAT_PROVIDER_TOKENS, 1000000000000ULL - 1234567);
  CHECK(ce_stats_money("1000000", spent, saved) == 0); /* no overflow */
  CHECK_STR(spent, "1000000000000.000000");
  char json[4096];
  ce_stats_json(json, sizeof json, NULL, "");
  CHECK(!strstr(json, "\"spent\""));
  CHECK(strstr(json, "\"tokens_saved\":200") != NULL);
  ce_stats_json(json, sizeof json, NULL, "0.5");
  CHECK(strstr(json, "\"spent\":500000.000000,\"saved\":0.000100") != NULL);
}

int main(void) {
  test_price_parse();
  test_tokens_of();
  test_money();
  return CHECK_DONE();
}
