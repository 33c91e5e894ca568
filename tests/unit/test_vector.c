#include "base64.h"
#include "check.h"
#include "vector.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static void test_base64(void) {
  uint8_t in[16], out[32];
  char enc[64];
  size_t n;
  for (int i = 0; i < 16; i++)
    in[i] = (uint8_t)(i * 37 + 5);
  for (size_t len = 0; len <= 16; len++) {
    size_t e = ce_base64_encode(in, len, enc);
    CHECK(e == (len + 2) / 3 * 4);
    CHECK(ce_base64_decode(enc, e, out, sizeof out, &n) == 0);
    CHECK(n == len && !memcmp(in, out, len));
  }
  CHECK_STR((ce_base64_encode((const uint8_t *)"foobar", 6, enc), enc),
            "Zm9vYmFy");
  CHECK_STR((ce_base64_encode((const uint8_t *)"fo", 2, enc), enc), "Zm8=");
  CHECK(ce_base64_decode("Zm8", 3, out, sizeof out, &n) == 0 && n == 2);
  CHECK(ce_base64_decode("Zm9v!mFy", 8, out, sizeof out, &n) == -1);
  CHECK(ce_base64_decode("Z", 1, out, sizeof out, &n) == -1);
  CHECK(ce_base64_decode("Zm9vYmFy", 8, out, 5, &n) == -1); /* over cap */
}

static void test_float_codec(void) {
  uint8_t b[4];
  ce_f32_store(b, 1.0f);
  CHECK(b[0] == 0 && b[1] == 0 && b[2] == 0x80 && b[3] == 0x3f);
  CHECK(ce_f32_load(b) == 1.0f);
  ce_f32_store(b, -0.15625f);
  CHECK(ce_f32_load(b) == -0.15625f);
  uint8_t v[12];
  ce_f32_store(v, 1), ce_f32_store(v + 4, 2), ce_f32_store(v + 8, NAN);
  CHECK(ce_vec_finite(v, 2));
  CHECK(!ce_vec_finite(v, 3));
  ce_f32_store(v + 8, INFINITY);
  CHECK(!ce_vec_finite(v, 3));
}

static void test_cosine(void) {
  uint8_t a[12], b[12], z[12] = {0};
  double c;
  float av[3] = {0.3f, -1.5f, 2.0f};
  for (int i = 0; i < 3; i++)
    ce_f32_store(a + 4 * i, av[i]), ce_f32_store(b + 4 * i, -av[i]);
  CHECK(ce_vec_cosine(a, a, 3, &c) == 0 && c == 1.0);
  CHECK(ce_vec_cosine(a, b, 3, &c) == 0 && c == -1.0);
  CHECK(ce_vec_cosine(a, z, 3, &c) == -1);
  ce_f32_store(b, 0), ce_f32_store(b + 4, 0), ce_f32_store(b + 8, 1);
  CHECK(ce_vec_cosine(a, b, 3, &c) == 0 &&
        fabs(c - 2.0 / sqrt(0.09 + 2.25 + 4)) < 1e-6);
}

static void test_json(void) {
  uint8_t v[16];
  char out[128];
  ce_f32_store(v, 0.1f), ce_f32_store(v + 4, -2), ce_f32_store(v + 8, 1e-30f),
      ce_f32_store(v + 12, 3.4028235e38f);
  size_t n = ce_vec_to_json(v, 4, out, sizeof out);
  CHECK(n == strlen(out));
  CHECK_STR(out, "[0.1,-2,1e-30,3.4028235e+38]");
  CHECK(ce_vec_to_json(v, 4, out, 10) == 0); /* too small: refused */
  CHECK(ce_vec_to_json(v, 0, out, sizeof out) == 2 && !strcmp(out, "[]"));

  /* Every float read back is bit-identical. */
  srand(7);
  size_t dims = 2000;
  uint8_t *r = malloc(dims * 4);
  char *js = malloc(ce_vec_json_cap(dims));
  for (size_t i = 0; i < dims; i++) {
    uint32_t u;
    float f;
    do {
      u = (uint32_t)rand() << 16 ^ (uint32_t)rand();
      memcpy(&f, &u, 4);
    } while (!isfinite(f)); /* random bit patterns, finite ones */
    memcpy(r + 4 * i, &u, 4);
  }
  CHECK(ce_vec_to_json(r, dims, js, ce_vec_json_cap(dims)) > 0);
  char *p = js + 1;
  int same = 1;
  for (size_t i = 0; i < dims; i++) {
    char *end;
    float f = strtof(p, &end);
    if (memcmp(&f, r + 4 * i, 4))
      same = 0;
    p = end + 1;
  }
  CHECK(same);
  free(r);
  free(js);
}

int main(void) {
  test_base64();
  test_float_codec();
  test_cosine();
  test_json();
  return CHECK_DONE();
}
