#include "check.h"
#include "hex.h"
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
  sanitized("caf\xe9!", 5, "caf\xef\xbf\xbd!", 1);         /* latin1 */
  sanitized("\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 2); /* overlong NUL */
  sanitized("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
            3); /* surrogate */
  sanitized("\xf4\x90\x80\x80", 4,
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
            4);                                                /* > U+10FFFF */
  sanitized("ab\xe2\x82", 4, "ab\xef\xbf\xbd\xef\xbf\xbd", 2); /* cut short */
  sanitized_n("a\0b", 3, "a\0b", 3, 0);
}

static void test_cut_and_blank(void) {
  const char *s = "ab\xc3\xa9z"; /* a b é z */
  CHECK(ce_utf8_cut(s, 5, 10) == 5);
  CHECK(ce_utf8_cut(s, 5, 4) == 4);
  CHECK(ce_utf8_cut(s, 5, 3) == 2);                   /* not inside é */
  CHECK(ce_utf8_cut("\xf0\x9f\x8d\xbax", 5, 3) == 0); /* not inside U+1F37A */
  CHECK(ce_text_is_blank("", 0));
  CHECK(ce_text_is_blank(" \t\r\n\v\f", 6));
  CHECK(!ce_text_is_blank("  x ", 4));
}

static void test_sha256(void) {
  uint8_t h[32];
  char hex[65];
  ce_sha256("", 0, h), ce_hex(h, 32, hex);
  CHECK_STR(hex,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ce_sha256("abc", 3, h), ce_hex(h, 32, hex);
  CHECK_STR(hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  ce_sha256(m, strlen(m), h), ce_hex(h, 32, hex);
  CHECK_STR(hex,
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  char *mil = malloc(1000000);
  memset(mil, 'a', 1000000);
  ce_sha256(mil, 1000000, h), ce_hex(h, 32, hex);
  CHECK_STR(hex,
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free(mil);
}

/* Prepares with `cs`; returns the text sent as a NUL-terminated copy in
 * `buf` (or NULL when refused) and its flags. */
static const char *prep(const char *raw, size_t len, size_t max, ce_charset cs,
                        char *buf, unsigned *flags) {
  static char out[1024];
  const char *sent;
  size_t n;
  if (ce_text_prepare(raw, len, max, cs, out, &sent, &n, flags))
    return NULL;
  memcpy(buf, sent, n);
  buf[n] = '\0';
  return buf;
}

static void test_prepare(void) {
  char buf[1024];
  unsigned f;
  const char *sent;
  size_t n;
  CHECK(ce_text_prepare_cap(10, 4) == 12 && ce_text_prepare_cap(3, 4) == 9);
  /* cut at 4 bytes without splitting the é, nothing to repair */
  CHECK_STR(prep("ab\xc3\xa9z", 5, 3, CE_CHARSET_AUTO, buf, &f), "ab");
  CHECK(f == CE_TEXT_CUT);
  /* utf8mb4: a bad byte becomes U+FFFD; the result is cut again */
  CHECK_STR(prep("abc\xe9", 4, 5, CE_CHARSET_UTF8MB4, buf, &f), "abc");
  CHECK(f == (CE_TEXT_REPAIRED | CE_TEXT_CUT));
  CHECK_STR(prep("a\xe9", 2, 8, CE_CHARSET_UTF8MB4, buf, &f), "a\xef\xbf\xbd");
  CHECK(f == CE_TEXT_REPAIRED);
  /* valid UTF-8 goes as it is, without a copy */
  char out[64];
  CHECK(ce_text_prepare("plain", 5, 100, CE_CHARSET_AUTO, out, &sent, &n, &f) ==
        0);
  CHECK(sent != out && n == 5 && !memcmp(sent, "plain", 5) && f == 0);
  CHECK(ce_text_prepare("caf\xc3\xa9", 5, 100, CE_CHARSET_UTF8MB4, out, &sent,
                        &n, &f) == 0);
  CHECK(sent != out && n == 5 && f == 0);
}

/* The same text from a latin1 and a utf8mb4 column is one text sent. */
static void test_charsets(void) {
  char buf[1024];
  unsigned f;
  const char *latin1 = "Wei\xdf"
                       "bier aus M\xfc"
                       "nchen";
  const char *utf8 = "Wei\xc3\x9f"
                     "bier aus M\xc3\xbc"
                     "nchen";
  CHECK_STR(prep(latin1, strlen(latin1), 100, CE_CHARSET_AUTO, buf, &f), utf8);
  CHECK(f == CE_TEXT_LATIN1);
  CHECK_STR(prep(utf8, strlen(utf8), 100, CE_CHARSET_AUTO, buf, &f), utf8);
  CHECK(f == 0);
  CHECK_STR(prep(latin1, strlen(latin1), 100, CE_CHARSET_LATIN1, buf, &f),
            utf8);
  CHECK_STR(prep(latin1, strlen(latin1), 100, CE_CHARSET_UTF8MB4, buf, &f),
            "Wei\xef\xbf\xbd"
            "bier aus M\xef\xbf\xbd"
            "nchen");
  /* where auto cannot know: latin1 bytes that form valid UTF-8 ("Âº" stored
   * as C2 BA) are read as UTF-8 ("º"); latin1 reads them as stored */
  CHECK_STR(prep("12\xc2\xba Plato", 10, 100, CE_CHARSET_AUTO, buf, &f),
            "12\xc2\xba Plato");
  CHECK_STR(prep("12\xc2\xba Plato", 10, 100, CE_CHARSET_LATIN1, buf, &f),
            "12\xc3\x82\xc2\xba Plato");
  /* ASCII reads the same in every character set, without a copy */
  CHECK_STR(prep("ipa", 3, 100, CE_CHARSET_LATIN1, buf, &f), "ipa");
  CHECK(f == 0);
  /* NUL bytes: a wide character set (utf16 "Bier"), refused in every mode */
  CHECK(!prep("\0B\0i\0e\0r", 8, 100, CE_CHARSET_AUTO, buf, &f));
  CHECK(!prep("\0B\0i\0e\0r", 8, 100, CE_CHARSET_LATIN1, buf, &f));
  CHECK(!prep("B\0\0\0", 4, 100, CE_CHARSET_UTF8MB4, buf, &f)); /* utf32le */
  CHECK(!prep("a\0b", 3, 100, CE_CHARSET_AUTO, buf, &f));
  /* latin1 grows (é: 1 byte -> 2): cut again on a character boundary */
  CHECK_STR(prep("\xe9\xe9\xe9", 3, 5, CE_CHARSET_LATIN1, buf, &f),
            "\xc3\xa9\xc3\xa9");
  CHECK(f == (CE_TEXT_LATIN1 | CE_TEXT_CUT));
  CHECK_STR(prep("\x80\x80", 2, 5, CE_CHARSET_AUTO, buf, &f), "\xe2\x82\xac");
  /* a text longer than the limit is read as latin1 only up to the limit */
  CHECK_STR(prep("abcd\xe9", 5, 3, CE_CHARSET_AUTO, buf, &f), "abc");
  CHECK(f == CE_TEXT_CUT);
}

/* Every latin1 byte maps as MySQL's latin1 does: cp1252, with the five
 * bytes cp1252 leaves undefined (0x81 0x8D 0x8F 0x90 0x9D) kept as the C1
 * controls U+0081 ... U+009D. Table from Python's cp1252 codec. */
static const char *const LATIN1_UTF8[256] = {
    "\x00",         "\x01",         "\x02",         "\x03",
    "\x04",         "\x05",         "\x06",         "\x07",
    "\x08",         "\x09",         "\x0a",         "\x0b",
    "\x0c",         "\x0d",         "\x0e",         "\x0f",
    "\x10",         "\x11",         "\x12",         "\x13",
    "\x14",         "\x15",         "\x16",         "\x17",
    "\x18",         "\x19",         "\x1a",         "\x1b",
    "\x1c",         "\x1d",         "\x1e",         "\x1f",
    "\x20",         "\x21",         "\x22",         "\x23",
    "\x24",         "\x25",         "\x26",         "\x27",
    "\x28",         "\x29",         "\x2a",         "\x2b",
    "\x2c",         "\x2d",         "\x2e",         "\x2f",
    "\x30",         "\x31",         "\x32",         "\x33",
    "\x34",         "\x35",         "\x36",         "\x37",
    "\x38",         "\x39",         "\x3a",         "\x3b",
    "\x3c",         "\x3d",         "\x3e",         "\x3f",
    "\x40",         "\x41",         "\x42",         "\x43",
    "\x44",         "\x45",         "\x46",         "\x47",
    "\x48",         "\x49",         "\x4a",         "\x4b",
    "\x4c",         "\x4d",         "\x4e",         "\x4f",
    "\x50",         "\x51",         "\x52",         "\x53",
    "\x54",         "\x55",         "\x56",         "\x57",
    "\x58",         "\x59",         "\x5a",         "\x5b",
    "\x5c",         "\x5d",         "\x5e",         "\x5f",
    "\x60",         "\x61",         "\x62",         "\x63",
    "\x64",         "\x65",         "\x66",         "\x67",
    "\x68",         "\x69",         "\x6a",         "\x6b",
    "\x6c",         "\x6d",         "\x6e",         "\x6f",
    "\x70",         "\x71",         "\x72",         "\x73",
    "\x74",         "\x75",         "\x76",         "\x77",
    "\x78",         "\x79",         "\x7a",         "\x7b",
    "\x7c",         "\x7d",         "\x7e",         "\x7f",
    "\xe2\x82\xac", "\xc2\x81",     "\xe2\x80\x9a", "\xc6\x92",
    "\xe2\x80\x9e", "\xe2\x80\xa6", "\xe2\x80\xa0", "\xe2\x80\xa1",
    "\xcb\x86",     "\xe2\x80\xb0", "\xc5\xa0",     "\xe2\x80\xb9",
    "\xc5\x92",     "\xc2\x8d",     "\xc5\xbd",     "\xc2\x8f",
    "\xc2\x90",     "\xe2\x80\x98", "\xe2\x80\x99", "\xe2\x80\x9c",
    "\xe2\x80\x9d", "\xe2\x80\xa2", "\xe2\x80\x93", "\xe2\x80\x94",
    "\xcb\x9c",     "\xe2\x84\xa2", "\xc5\xa1",     "\xe2\x80\xba",
    "\xc5\x93",     "\xc2\x9d",     "\xc5\xbe",     "\xc5\xb8",
    "\xc2\xa0",     "\xc2\xa1",     "\xc2\xa2",     "\xc2\xa3",
    "\xc2\xa4",     "\xc2\xa5",     "\xc2\xa6",     "\xc2\xa7",
    "\xc2\xa8",     "\xc2\xa9",     "\xc2\xaa",     "\xc2\xab",
    "\xc2\xac",     "\xc2\xad",     "\xc2\xae",     "\xc2\xaf",
    "\xc2\xb0",     "\xc2\xb1",     "\xc2\xb2",     "\xc2\xb3",
    "\xc2\xb4",     "\xc2\xb5",     "\xc2\xb6",     "\xc2\xb7",
    "\xc2\xb8",     "\xc2\xb9",     "\xc2\xba",     "\xc2\xbb",
    "\xc2\xbc",     "\xc2\xbd",     "\xc2\xbe",     "\xc2\xbf",
    "\xc3\x80",     "\xc3\x81",     "\xc3\x82",     "\xc3\x83",
    "\xc3\x84",     "\xc3\x85",     "\xc3\x86",     "\xc3\x87",
    "\xc3\x88",     "\xc3\x89",     "\xc3\x8a",     "\xc3\x8b",
    "\xc3\x8c",     "\xc3\x8d",     "\xc3\x8e",     "\xc3\x8f",
    "\xc3\x90",     "\xc3\x91",     "\xc3\x92",     "\xc3\x93",
    "\xc3\x94",     "\xc3\x95",     "\xc3\x96",     "\xc3\x97",
    "\xc3\x98",     "\xc3\x99",     "\xc3\x9a",     "\xc3\x9b",
    "\xc3\x9c",     "\xc3\x9d",     "\xc3\x9e",     "\xc3\x9f",
    "\xc3\xa0",     "\xc3\xa1",     "\xc3\xa2",     "\xc3\xa3",
    "\xc3\xa4",     "\xc3\xa5",     "\xc3\xa6",     "\xc3\xa7",
    "\xc3\xa8",     "\xc3\xa9",     "\xc3\xaa",     "\xc3\xab",
    "\xc3\xac",     "\xc3\xad",     "\xc3\xae",     "\xc3\xaf",
    "\xc3\xb0",     "\xc3\xb1",     "\xc3\xb2",     "\xc3\xb3",
    "\xc3\xb4",     "\xc3\xb5",     "\xc3\xb6",     "\xc3\xb7",
    "\xc3\xb8",     "\xc3\xb9",     "\xc3\xba",     "\xc3\xbb",
    "\xc3\xbc",     "\xc3\xbd",     "\xc3\xbe",     "\xc3\xbf",
};

static void test_latin1_all_bytes(void) {
  char out[4];
  for (int b = 0; b < 256; b++) {
    char in = (char)b;
    size_t n = ce_latin1_to_utf8(&in, 1, out);
    size_t want = b ? strlen(LATIN1_UTF8[b]) : 1;
    CHECK(n == want && !memcmp(out, b ? LATIN1_UTF8[b] : "\0", want));
    if (n != want || memcmp(out, b ? LATIN1_UTF8[b] : "\0", want))
      fprintf(stderr, "latin1 byte 0x%02x\n", b);
    CHECK(ce_utf8_valid(out, n));
  }
  /* all 256 in one text: the table's characters one after the other */
  char all[256], big[768], want[768];
  size_t w = 1;
  want[0] = '\0';
  for (int b = 0; b < 256; b++) {
    all[b] = (char)b;
    if (b) {
      memcpy(want + w, LATIN1_UTF8[b], strlen(LATIN1_UTF8[b]));
      w += strlen(LATIN1_UTF8[b]);
    }
  }
  CHECK(w == 401); /* 128 ASCII, 17 three-byte, 111 two-byte */
  CHECK(ce_latin1_to_utf8(all, 256, big) == w && !memcmp(big, want, w));
  CHECK(ce_utf8_valid(big, w));
  /* a non-ASCII byte at every offset around the 8-byte ASCII steps */
  for (int p = 0; p < 22; p++) {
    char t[24], u[72];
    memset(t, 'a', sizeof t);
    memcpy(t + p, "\xc3\xa9", 2);
    CHECK(ce_utf8_valid(t, sizeof t));
    CHECK(!ce_utf8_valid(t, (size_t)p + 1)); /* cut inside the é */
    t[p + 1] = 'a';                          /* a lone lead byte */
    CHECK(!ce_utf8_valid(t, sizeof t));
    t[p] = (char)0xe9; /* latin1 é */
    char expect[72];
    memset(expect, 'a', sizeof expect);
    memcpy(expect + p, "\xc3\xa9", 2);
    CHECK(ce_latin1_to_utf8(t, sizeof t, u) == sizeof t + 1);
    CHECK(!memcmp(u, expect, sizeof t + 1));
  }
  CHECK(ce_utf8_valid("", 0) && ce_utf8_valid("abc", 3));
  CHECK(!ce_utf8_valid("\xc2", 1) && !ce_utf8_valid("\xed\xa0\x80", 3) &&
        !ce_utf8_valid("\xc0\x80", 2) && !ce_utf8_valid("a\x80", 2));
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
  const char *sent;
  size_t n;
  unsigned f;
  CHECK(ce_text_prepare(s, len, max, CE_CHARSET_UTF8MB4, out, &sent, &n, &f) ==
        0);
  CHECK(n >= max - 3 && n <= max); /* U+FFFD repeated, not an empty text */
  CHECK(n >= 3 && !memcmp(sent, "\xef\xbf\xbd", 3));
  CHECK(ce_text_prepare(s, len, max, CE_CHARSET_AUTO, out, &sent, &n, &f) == 0);
  CHECK(n >= max - 2 && n <= max && !memcmp(sent, "\xe2\x82\xac", 3)); /* € */
  free(out);
  free(s);
}

int main(void) {
  test_utf8();
  test_cut_and_blank();
  test_sha256();
  test_prepare();
  test_charsets();
  test_latin1_all_bytes();
  test_cut_not_utf8();
  return CHECK_DONE();
}
