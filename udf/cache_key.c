#include "cache_key.h"

#include "hex.h"

#include <stdio.h>
#include <string.h>

/* Appends `s` percent-encoded: no byte of it can be read as a separator. */
static size_t put_escaped(char *out, const char *s, size_t n) {
  static const char HEX[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c == 0x7F || c == '%' || c == ':' || c == '@' ||
        c == '#' || c == '{' || c == '}') {
      out[o++] = '%';
      out[o++] = HEX[c >> 4];
      out[o++] = HEX[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  return o;
}

static size_t put_hashed(char *out, const char *label, const void *data,
                         size_t n) {
  uint8_t h[CE_SHA256_LEN];
  char hex[2 * CE_SHA256_LEN + 1];
  ce_sha256(data, n, h);
  ce_hex(h, CE_SHA256_LEN, hex);
  return (size_t)sprintf(out, "%s%s", label, hex);
}

/* What decides an entry's vector but its text: <model>[@<dimensions>]
 * [#<task>], escaped. Returns its length. */
static size_t put_identity(char *out, const ce_config *cfg, const char *task,
                           size_t task_len) {
  size_t o = 0;
  if (!task) {
    task = cfg->task;
    task_len = strlen(cfg->task);
  }
  o += put_escaped(out + o, cfg->model, strlen(cfg->model));
  if (cfg->dimensions)
    o += (size_t)sprintf(out + o, "@%ld", cfg->dimensions);
  if (task_len) {
    out[o++] = '#';
    if (task_len > CE_KEY_TASK_MAX)
      o += put_hashed(out + o, "sha256-", task, task_len);
    else
      o += put_escaped(out + o, task, task_len);
  }
  return o;
}

void ce_entry_identity(const ce_config *cfg, const char *task, size_t task_len,
                       const uint8_t text_hash[CE_SHA256_LEN],
                       uint8_t out[CE_SHA256_LEN]) {
  char buf[CE_KEY_MAX + CE_SHA256_LEN];
  size_t n = put_identity(buf, cfg, task, task_len);
  buf[n++] = ':';
  memcpy(buf + n, text_hash, CE_SHA256_LEN);
  ce_sha256(buf, n + CE_SHA256_LEN, out);
}

size_t ce_key_build(const ce_config *cfg, const char *task, size_t task_len,
                    const char *key, size_t key_len,
                    const uint8_t text_hash[CE_SHA256_LEN], char *out) {
  size_t o = (size_t)sprintf(out, "%s" CE_KEY_VERSION, cfg->key_prefix);
  char hex[2 * CE_SHA256_LEN + 1];

  o += put_identity(out + o, cfg, task, task_len);
  out[o++] = ':';
  if (!key) {
    ce_hex(text_hash, CE_SHA256_LEN, hex);
    o += (size_t)sprintf(out + o, "sha256:%s", hex);
  } else if (key_len > CE_USER_KEY_MAX) {
    o += put_hashed(out + o, "key-sha256:", key, key_len);
  } else {
    memcpy(out + o, key, key_len); /* binary-safe: Redis keys are bytes */
    o += key_len;
  }
  out[o] = '\0';
  return o;
}
