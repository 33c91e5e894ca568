#include "sha256.h"

/* OpenSSL's SHA-256 uses the CPU's SHA extensions where present: 0.4 us for
 * a 250-byte text here against 1.0 us for a portable C version, and the hash
 * is on every row's path. libcrypto is already in the server process (TLS). */
#include <openssl/sha.h>

void ce_sha256(const void *data, size_t len, uint8_t out[CE_SHA256_LEN]) {
  SHA256(data, len, out);
}
