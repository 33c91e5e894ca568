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

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ce_base64_encode(const uint8_t *in, size_t len, char *out) {
  size_t o = 0, i = 0;
  for (; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = B64[(v >> 6) & 63];
    out[o++] = B64[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)in[i + 1] << 8;
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = i + 1 < len ? B64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

/* The value of each base64 character, -1 for any other byte. */
static const signed char B64_VALUE[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

int ce_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                     size_t *out_len) {
  const unsigned char *p = (const unsigned char *)in;
  size_t o = 0, i = 0;

  while (len > 0 && in[len - 1] == '=')
    len--;
  if (len % 4 == 1 || (len / 4) * 3 + (len % 4 ? len % 4 - 1 : 0) > cap)
    return -1;
  /* Whole groups of 4 characters -> 3 bytes: the hot loop for vectors. */
  for (; i + 4 <= len; i += 4) {
    int a = B64_VALUE[p[i]], b = B64_VALUE[p[i + 1]], c = B64_VALUE[p[i + 2]],
        d = B64_VALUE[p[i + 3]];
    if ((a | b | c | d) < 0)
      return -1;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
                 (uint32_t)d;
    out[o++] = (uint8_t)(v >> 16);
    out[o++] = (uint8_t)(v >> 8);
    out[o++] = (uint8_t)v;
  }
  if (i < len) { /* 2 or 3 characters left: 1 or 2 bytes */
    int a = B64_VALUE[p[i]], b = B64_VALUE[p[i + 1]];
    int c = i + 2 < len ? B64_VALUE[p[i + 2]] : 0;
    if ((a | b | c) < 0)
      return -1;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
    out[o++] = (uint8_t)(v >> 16);
    if (i + 2 < len)
      out[o++] = (uint8_t)(v >> 8);
  }
  *out_len = o;
  return 0;
}
