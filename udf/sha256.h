/* SHA-256 (via libcrypto): binds cache entries to their text and derives
 * content-addressed keys. */
#ifndef CE_SHA256_H
#define CE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define CE_SHA256_LEN 32

void ce_sha256(const void *data, size_t len, uint8_t out[CE_SHA256_LEN]);

#endif
