/* Text checks before a text goes to the provider: blank detection, UTF-8
 * repair, and cutting to a byte limit on a character boundary. */
#ifndef CE_TEXT_H
#define CE_TEXT_H

#include <stddef.h>

/* 1 when the text is empty or only ASCII white space. */
int ce_text_is_blank(const char *s, size_t len);

/* Copies `in` to `out`, replacing every byte that does not start a valid
 * UTF-8 sequence (overlongs, surrogates and > U+10FFFF included) with U+FFFD.
 * `out` must hold 3 * len bytes. Returns the output length; `*replaced` gets
 * the number of replacements. */
size_t ce_utf8_sanitize(const char *in, size_t len, char *out, size_t *replaced);

/* The largest length <= max that does not split a UTF-8 sequence of valid
 * UTF-8 text `s`; it steps back at most 3 bytes from `max`, so text that is
 * not UTF-8 is cut at `max`. */
size_t ce_utf8_cut(const char *s, size_t len, size_t max);

/* Room ce_text_prepare needs in `out` for a text of `len` bytes. */
size_t ce_text_prepare_cap(size_t len, size_t max);

/* The text as it is sent: cut to `max` bytes on a character boundary, bytes
 * that are not UTF-8 replaced by U+FFFD, cut again (a replacement takes 3
 * bytes). Counts the truncated and invalid_utf8 stats. Returns the length
 * written to `out`. */
size_t ce_text_prepare(const char *raw, size_t len, size_t max, char *out);

#endif
