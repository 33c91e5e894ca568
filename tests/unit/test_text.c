#include "check.h"
#include "sha256.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>

static void sanitized_n(const char *in, size_t len, const char *want,
                        size_t want_len, size_t want_replaced) {
  char out[64];
  size_t replaced;
  size_t n = ce_utf8_sanitize(in, len, out, &replaced);
  CHECK(n == want_len && !memcmp(out, want, n));
  CHECK(replaced == want_replaced);
}

static void sanitized(const char *in, size_t len, const char *want,
                      size_t want_replaced) {
  sanitized_n(in, len, want, strlen(want), want_replaced);
}

static void test_utf8(void) {
  sanitized("plain", 5, "plain", 0);
  sanitized("caf\xc3\xa9", 5, "caf\xc3\xa9", 0);
  sanitized("\xf0\x9f\x8d\xba beer", 9, "\xf0\x9f\x8d\xba beer", 0);
  sanitized("caf\xe9!", 5, "caf\xef\xbf\xbd!", 1);          /* latin1 */
  sanitized("\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 2);   /* overlong NUL */
  sanitized("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3); /* surrogate */
  sanitized("\xf4\x90\x80\x80", 4,
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 4); /* > U+10FFFF */
  sanitized("ab\xe2\x82", 4, "ab\xef\xbf\xbd\xef\xbf\xbd", 2); /* cut short */
  sanitized_n("a\0b", 3, "a\0b", 3, 0);
}

static void test_cut_and_blank(void) {
  const char *s = "ab\xc3\xa9z"; /* a b é z */
  CHECK(ce_utf8_cut(s, 5, 10) == 5);
  CHECK(ce_utf8_cut(s, 5, 4) == 4);
  CHECK(ce_utf8_cut(s, 5, 3) == 2); /* not inside é */
  CHECK(ce_utf8_cut("\xf0\x9f\x8d\xbax", 5, 3) == 0); /* not inside U+1F37A */
  CHECK(ce_text_is_blank("", 0));
  CHECK(ce_text_is_blank(" \t\r\n\v\f", 6));
  CHECK(!ce_text_is_blank("  x ", 4));
}

static void test_sha256(void) {
  uint8_t h[32];
  char hex[65];
  ce_sha256("", 0, h), ce_hex(h, 32, hex);
  CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ce_sha256("abc", 3, h), ce_hex(h, 32, hex);
  CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  ce_sha256(m, strlen(m), h), ce_hex(h, 32, hex);
  CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  char *mil = malloc(1000000);
  memset(mil, 'a', 1000000);
  ce_sha256(mil, 1000000, h), ce_hex(h, 32, hex);
  CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free(mil);
}

static void test_prepare(void) {
  char out[64];
  CHECK(ce_text_prepare_cap(10, 4) == 12 && ce_text_prepare_cap(3, 4) == 9);
  /* cut at 4 bytes without splitting the é, nothing to repair */
  CHECK(ce_text_prepare("ab\xc3\xa9z", 5, 3, out) == 2 && !memcmp(out, "ab", 2));
  /* a bad byte becomes U+FFFD; the result is cut again to the limit */
  size_t n = ce_text_prepare("abc\xe9", 4, 5, out);
  CHECK(n == 3 && !memcmp(out, "abc", 3));
  n = ce_text_prepare("a\xe9", 2, 8, out);
  CHECK(n == 4 && !memcmp(out, "a\xef\xbf\xbd", 4));
  CHECK(ce_text_prepare("plain", 5, 100, out) == 5 && !memcmp(out, "plain", 5));
}

/* Text that is not UTF-8 is cut at most 3 bytes short of the limit: 70,000
 * continuation bytes used to be cut to nothing. */
static void test_cut_not_utf8(void) {
  size_t len = 70000, max = 65536;
  char *s = malloc(len);
  memset(s, 0x80, len);
  size_t cut = ce_utf8_cut(s, len, max);
  CHECK(cut <= max && cut >= max - 3);
  char *out = malloc(ce_text_prepare_cap(len, max));
  size_t n = ce_text_prepare(s, len, max, out);
  CHECK(n >= max - 3 && n <= max); /* U+FFFD repeated, not an empty text */
  CHECK(n >= 3 && !memcmp(out, "\xef\xbf\xbd", 3));
  free(out);
  free(s);
}

int main(void) {
  test_utf8();
  test_cut_and_blank();
  test_sha256();
  test_prepare();
  test_cut_not_utf8();
  return CHECK_DONE();
}
