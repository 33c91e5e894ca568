/* libFuzzer: the config-file parser. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void report(void *ctx, int line, const char *msg) {
  (void)line;
  if (!msg || !memchr(msg, '\0', 4096))
    abort();
  (*(int *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ce_config c;
  int reported = 0;
  ce_config_defaults(&c);
  int malformed = 0;
  int bad = ce_config_parse_ini(&c, (const char *)data, size, report, &reported,
                                &malformed);
  if (bad + malformed != reported)
    abort();
  /* every string field stays terminated, every number in its range */
  if (!memchr(c.endpoint, '\0', sizeof c.endpoint) ||
      !memchr(c.api_key, '\0', sizeof c.api_key) ||
      !memchr(c.redis, '\0', sizeof c.redis) ||
      !memchr(c.provider_off, '\0', sizeof c.provider_off) ||
      !memchr(c.cache_off, '\0', sizeof c.cache_off))
    abort();
  /* a routing setting that was refused never stays at a fallback silently */
  if (c.provider != CE_DIALECT_JINA && c.provider != CE_DIALECT_OPENAI)
    abort();
  if (c.timeout_ms < 100 || c.batch < 1 || c.circuit_failures < 0)
    abort();
  return 0;
}
