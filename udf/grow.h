/* Growing a buffer that is reused row after row. */
#ifndef CE_GROW_H
#define CE_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* Makes the malloc'd buffer *bufp (of *cap bytes) hold at least `need`
 * bytes, doubling so that a buffer reused across rows soon stops moving.
 * 0, or -1 with the buffer unchanged. */
static inline int ce_grow(void *bufp, size_t *cap, size_t need) {
  void **buf = (void **)bufp;
  size_t c = *cap ? *cap : 64;
  if (*cap >= need)
    return 0;
  while (c < need)
    c = c > SIZE_MAX / 2 ? need : c * 2;
  void *b = realloc(*buf, c);
  if (!b)
    return -1;
  *buf = b;
  *cap = c;
  return 0;
}

#endif
