/* Standard base64 (RFC 4648, '=' padding): how the providers send vectors
 * (encoding_format / embedding_type "base64"). */
#ifndef CE_BASE64_H
#define CE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Writes the base64 of `len` bytes and a NUL into `out` (4 * ((len + 2) / 3)
 * + 1 bytes); returns the length written (NUL excluded). */
size_t ce_base64_encode(const uint8_t *in, size_t len, char *out);

/* Decodes `len` characters into `out` (at most `cap` bytes): accepts
 * missing padding and rejects any other character. 0 with *out_len set, or
 * -1 (invalid, or over `cap`). */
int ce_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                     size_t *out_len);

#endif
