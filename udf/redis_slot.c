/* Redis Cluster key slots: CRC16 (XMODEM: polynomial 0x1021, initial value
 * 0, no reflection) of the key or of its hash tag, modulo 16384. */
#include "redis_private.h"

#include <string.h>

uint16_t ce_crc16(const char *buf, size_t len) {
  uint16_t crc = 0;
  for (size_t i = 0; i < len; i++) {
    crc ^= (uint16_t)((unsigned char)buf[i] << 8);
    for (int b = 0; b < 8; b++)
      crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc;
}

int ce_redis_key_slot(const char *key, size_t len) {
  const char *open = len ? memchr(key, '{', len) : NULL;
  if (open) {
    size_t rest = len - (size_t)(open - key) - 1;
    const char *close = memchr(open + 1, '}', rest);
    if (close && close > open + 1)
      return ce_crc16(open + 1, (size_t)(close - open - 1)) &
             (CE_REDIS_SLOTS - 1);
  }
  return ce_crc16(key, len) & (CE_REDIS_SLOTS - 1);
}
