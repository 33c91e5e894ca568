#include "text.h"

#include "stats.h"

#include <string.h>

int ce_text_is_blank(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' &&
        c != '\f')
      return 0;
  }
  return 1;
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len) {
  unsigned c = s[0];
  size_t n;
  unsigned cp;

  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, cp = c & 0x07;
  else
    return 0;
  if (len < n)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

size_t ce_utf8_sanitize(const char *in, size_t len, char *out,
                        size_t *replaced) {
  const unsigned char *s = (const unsigned char *)in;
  size_t i = 0, o = 0, bad = 0;

  while (i < len) {
    size_t n = utf8_seq(s + i, len - i);
    if (n) {
      memcpy(out + o, s + i, n);
      o += n;
      i += n;
    } else {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
      bad++;
    }
  }
  *replaced = bad;
  return o;
}

size_t ce_utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max)
    return len;
  /* Step back over continuation bytes to the start of a character: at most
   * 3 (a character has at most 4 bytes); further back it is not UTF-8, and
   * the cut stays at `max`. */
  for (size_t back = 0; back <= 3 && back <= max; back++)
    if (((unsigned char)s[max - back] & 0xC0) != 0x80)
      return max - back;
  return max;
}

size_t ce_text_prepare_cap(size_t len, size_t max) {
  return 3 * (len < max ? len : max);
}

size_t ce_text_prepare(const char *raw, size_t len, size_t max, char *out) {
  size_t cut = ce_utf8_cut(raw, len, max), replaced;
  if (cut < len)
    ce_stat_add(CE_STAT_TRUNCATED, 1);
  size_t m = ce_utf8_sanitize(raw, cut, out, &replaced);
  if (replaced)
    ce_stat_add(CE_STAT_INVALID_UTF8, 1);
  return ce_utf8_cut(out, m, max);
}
