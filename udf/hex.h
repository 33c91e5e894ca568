/* Lower-case hex of bytes: content-addressed keys (cache_key.h), lock keys
 * and owners (flight.h). */
#ifndef CE_HEX_H
#define CE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex of `n` bytes into `out` (2n + 1 bytes, NUL-terminated). */
void ce_hex(const uint8_t *bytes, size_t n, char *out);

#endif
