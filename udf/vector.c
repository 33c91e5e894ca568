#include "vector.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float ce_f32_load(const uint8_t *p) {
  uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

void ce_f32_store(uint8_t *p, float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  p[0] = (uint8_t)u;
  p[1] = (uint8_t)(u >> 8);
  p[2] = (uint8_t)(u >> 16);
  p[3] = (uint8_t)(u >> 24);
}

int ce_vec_finite(const uint8_t *vec, size_t dims) {
  for (size_t i = 0; i < dims; i++)
    if (!isfinite(ce_f32_load(vec + 4 * i)))
      return 0;
  return 1;
}

int ce_vec_cosine(const uint8_t *a, const uint8_t *b, size_t dims,
                  double *out) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < dims; i++) {
    double x = ce_f32_load(a + 4 * i), y = ce_f32_load(b + 4 * i);
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na == 0 || nb == 0 || !isfinite(dot) || !isfinite(na) || !isfinite(nb))
    return -1;
  double c = dot / (sqrt(na) * sqrt(nb));
  /* Rounding can push identical vectors a hair past 1. */
  *out = c > 1 ? 1 : c < -1 ? -1 : c;
  return 0;
}

/* Longest float32 text: "-1.17549435e-38" plus a separator. */
#define CE_F32_TEXT_MAX 16

size_t ce_vec_json_cap(size_t dims) { return 3 + dims * CE_F32_TEXT_MAX; }

static int f32_shortest(float v, char *buf, size_t cap) {
  int n = 0;
  if (!isfinite(v))
    return snprintf(buf, cap, "null"); /* not valid in a vector; visible */
  for (int prec = 1; prec <= 9; prec++) {
    n = snprintf(buf, cap, "%.*g", prec, (double)v);
    if (strtof(buf, NULL) == v)
      break;
  }
  return n;
}

size_t ce_vec_to_json(const uint8_t *vec, size_t dims, char *out, size_t cap) {
  size_t o = 0;
  char num[32];

  if (cap < 3)
    return 0;
  out[o++] = '[';
  for (size_t i = 0; i < dims; i++) {
    int n = f32_shortest(ce_f32_load(vec + 4 * i), num, sizeof num);
    if (o + (size_t)n + 3 > cap)
      return 0;
    if (i)
      out[o++] = ',';
    memcpy(out + o, num, (size_t)n);
    o += (size_t)n;
  }
  out[o++] = ']';
  out[o] = '\0';
  return o;
}
