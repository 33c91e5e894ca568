#include "text.h"

#include "log.h"
#include "stats.h"

#include <stdio.h>
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

int ce_utf8_valid(const char *in, size_t len) {
  const unsigned char *s = (const unsigned char *)in;
  size_t i = 0;
  while (i < len) {
    /* ASCII, 8 bytes at a time (most text is mostly ASCII). */
    uint64_t w;
    while (i + 8 <= len && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ULL)))
      i += 8;
    if (i == len)
      break;
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t n = utf8_seq(s + i, len - i);
    if (!n)
      return 0;
    i += n;
  }
  return 1;
}

/* cp1252 at 0x80..0x9F; MySQL's latin1 keeps the five bytes cp1252 leaves
 * undefined as the C1 controls of the same number. 0xA0..0xFF are
 * U+00A0..U+00FF, 0x00..0x7F ASCII. */
static const uint16_t CP1252_80[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

size_t ce_latin1_to_utf8(const char *in, size_t len, char *out) {
  const unsigned char *s = (const unsigned char *)in;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    uint64_t w; /* ASCII, 8 bytes at a time */
    while (i + 8 <= len &&
           (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ULL))) {
      memcpy(out + o, &w, 8);
      o += 8;
      i += 8;
    }
    if (i == len)
      break;
    unsigned c = s[i];
    if (c < 0x80) {
      out[o++] = (char)c;
      continue;
    }
    if (c < 0xA0)
      c = CP1252_80[c - 0x80];
    if (c < 0x800) {
      out[o++] = (char)(0xC0 | (c >> 6));
      out[o++] = (char)(0x80 | (c & 0x3F));
    } else {
      out[o++] = (char)(0xE0 | (c >> 12));
      out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
      out[o++] = (char)(0x80 | (c & 0x3F));
    }
  }
  return o;
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

int ce_text_prepare(const char *raw, size_t len, size_t max, ce_charset cs,
                    char *out, const char **sent, size_t *sent_len,
                    unsigned *flags) {
  size_t n, replaced = 0;
  int valid = 0; /* 1: all of raw is known to be valid UTF-8 */

  *flags = 0;
  if (memchr(raw, '\0', len))
    return -1;
  if (cs == CE_CHARSET_AUTO) {
    valid = ce_utf8_valid(raw, len);
    cs = valid ? CE_CHARSET_UTF8MB4 : CE_CHARSET_LATIN1;
  }
  if (len > max)
    *flags |= CE_TEXT_CUT;

  if (cs == CE_CHARSET_LATIN1) {
    /* Every byte becomes at least one: the first `max` are enough. */
    size_t take = len < max ? len : max;
    n = ce_latin1_to_utf8(raw, take, out);
    if (n == take) { /* plain ASCII: nothing to decode, no copy */
      *sent = raw;
      *sent_len = take;
      return 0;
    }
    *flags |= CE_TEXT_LATIN1;
  } else {
    size_t cut = ce_utf8_cut(raw, len, max);
    if (valid || ce_utf8_valid(raw, cut)) { /* as it is, no copy */
      *sent = raw;
      *sent_len = cut;
      return 0;
    }
    n = ce_utf8_sanitize(raw, cut, out, &replaced);
    if (replaced)
      *flags |= CE_TEXT_REPAIRED;
  }
  /* A replacement or a decoded character may take more bytes than it had:
   * cut again, on a character boundary of what is now valid UTF-8. */
  size_t m = ce_utf8_cut(out, n, max);
  if (m < n)
    *flags |= CE_TEXT_CUT;
  *sent = out;
  *sent_len = m;
  return 0;
}

void ce_text_count(unsigned flags) {
  if (flags & CE_TEXT_CUT)
    ce_stat_add(CE_STAT_TRUNCATED, 1);
  if (flags & CE_TEXT_REPAIRED)
    ce_stat_add(CE_STAT_INVALID_UTF8, 1);
  if (flags & CE_TEXT_LATIN1)
    ce_stat_add(CE_STAT_LATIN1_TEXTS, 1);
}

void ce_text_refuse_wide(const char *key, size_t key_len, const char *outcome) {
  static ce_ratelimit rl = CE_RATELIMIT_INIT(5, 60);
  char who[120];
  ce_stat_add(CE_STAT_WIDE_TEXTS, 1);
  if (key)
    snprintf(who, sizeof who, "row key '%.*s'",
             (int)(key_len < 80 ? key_len : 80), key);
  else
    snprintf(who, sizeof who, "a row with a NULL key");
  ce_log_limited(&rl, outcome,
                 "%s: the text holds NUL bytes (a utf16, ucs2 or utf32 "
                 "column?); pass CONVERT(col USING utf8mb4); %s",
                 who, outcome);
}

int ce_text_prepare_prefixed(const char *prefix, size_t plen, const char *raw,
                             size_t len, size_t max, ce_charset cs, char *out,
                             const char **sent, size_t *sent_len,
                             unsigned *flags) {
  if (ce_text_prepare(raw, len, max, cs, out + plen, sent, sent_len, flags))
    return -1;
  if (!plen)
    return 0;
  if (*sent != out + plen)
    memcpy(out + plen, *sent, *sent_len);
  memcpy(out, prefix, plen);
  *sent = out;
  *sent_len += plen;
  return 0;
}
