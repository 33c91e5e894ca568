/* Text checks before a text goes to the provider: blank detection, the
 * argument's character set (UTF-8 or MySQL's latin1, i.e. cp1252), UTF-8
 * repair, and cutting to a byte limit on a character boundary. The text so
 * prepared is "the text sent": the provider gets it, and the cache entry
 * and the content-addressed key are bound to it (cache_entry.h,
 * cache_key.h). */
#ifndef CE_TEXT_H
#define CE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* How argument bytes are read (setting `charset`). */
typedef enum {
  CE_CHARSET_AUTO = 0,    /* valid UTF-8 as UTF-8, anything else as latin1 */
  CE_CHARSET_UTF8MB4 = 1, /* UTF-8; invalid bytes become U+FFFD */
  CE_CHARSET_LATIN1 = 2   /* MySQL's latin1 (cp1252) */
} ce_charset;

/* A text as it is sent (ce_text_prepare): bytes, not NUL-terminated. */
typedef struct ce_text {
  const char *s; /* valid UTF-8 */
  size_t len;
} ce_text;

/* What ce_text_prepare did (flags), for the stats of texts actually sent. */
#define CE_TEXT_CUT 1u      /* cut to the byte limit */
#define CE_TEXT_REPAIRED 2u /* bytes that are not UTF-8 became U+FFFD */
#define CE_TEXT_LATIN1 4u   /* decoded from latin1 (bytes >= 0x80 present) */

/* 1 when the text is empty or only ASCII white space. */
int ce_text_is_blank(const char *s, size_t len);

/* 1 when all of `s` is valid UTF-8 (no overlongs, surrogates or code points
 * over U+10FFFF). */
int ce_utf8_valid(const char *s, size_t len);

/* Copies `in` to `out`, replacing every byte that does not start a valid
 * UTF-8 sequence (overlongs, surrogates and > U+10FFFF included) with U+FFFD.
 * `out` must hold 3 * len bytes. Returns the output length; `*replaced` gets
 * the number of replacements. */
size_t ce_utf8_sanitize(const char *in, size_t len, char *out,
                        size_t *replaced);

/* Decodes MySQL latin1 (cp1252; the five bytes cp1252 leaves undefined,
 * 0x81 0x8D 0x8F 0x90 0x9D, map to U+0081 ... U+009D as MySQL maps them)
 * to UTF-8. `out` must hold 3 * len bytes. Returns the output length. */
size_t ce_latin1_to_utf8(const char *in, size_t len, char *out);

/* The largest length <= max that does not split a UTF-8 sequence of valid
 * UTF-8 text `s`; it steps back at most 3 bytes from `max`, so text that is
 * not UTF-8 is cut at `max`. */
size_t ce_utf8_cut(const char *s, size_t len, size_t max);

/* Room ce_text_prepare needs in `out` for a text of `len` bytes. */
size_t ce_text_prepare_cap(size_t len, size_t max);

/* The text as it is sent: read per `cs`, cut to `max` bytes on a character
 * boundary. Returns 0 with `*sent`/`*sent_len` set — `*sent` is `raw` itself
 * when nothing had to change, else `out` (ce_text_prepare_cap bytes) — and
 * CE_TEXT_* bits in `*flags`; or -1 when the text holds NUL bytes (a
 * utf16/ucs2/utf32 argument, which no setting can read: the caller returns
 * NULL and names CONVERT(col USING utf8mb4)). Counts nothing: see
 * ce_text_count and CE_STAT_WIDE_TEXTS. */
int ce_text_prepare(const char *raw, size_t len, size_t max, ce_charset cs,
                    char *out, const char **sent, size_t *sent_len,
                    unsigned *flags);

/* ce_text_prepare, then `prefix` (plen bytes, UTF-8; task.h) put before
 * the result: `out` holds plen + ce_text_prepare_cap(len, max) bytes. With
 * plen 0 this is ce_text_prepare; else *sent is `out`. The cut applies to
 * the text, not to the prefix. */
int ce_text_prepare_prefixed(const char *prefix, size_t plen, const char *raw,
                             size_t len, size_t max, ce_charset cs, char *out,
                             const char **sent, size_t *sent_len,
                             unsigned *flags);

/* For a text ce_text_prepare refused (NUL bytes): counts it
 * (wide_charset_texts) and logs one rate-limited line naming the row's key
 * (`key` NULL: content-addressed), the fix (CONVERT(col USING utf8mb4)) and
 * `outcome` ("returning NULL", "row skipped"). */
void ce_text_refuse_wide(const char *key, size_t key_len, const char *outcome);

/* Counts a prepared text's CE_TEXT_* flags in the stats (truncated,
 * invalid_utf8, latin1_texts): call it for a text that is sent. */
void ce_text_count(unsigned flags);

#endif
