/* The provider's 200 answer, read in one pass over the body without building
 * a JSON tree (ce_provider_parse_response, declared in provider.h). What is
 * kept: `data[].index`, `data[].embedding` (base64 text or an array of
 * numbers, decoded straight into one scratch vector, then into place) and
 * `usage.total_tokens` / `prompt_tokens`; everything else is checked for
 * syntax and skipped. Memory: the n vectors (allocated only when the body
 * is long enough to hold them: two bytes a value at the least) and one
 * vector of scratch, whatever the body holds. */
#define _GNU_SOURCE /* strtod_l */
#include "provider.h"

#include "base64.h"
#include "vector.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32
#define KEY_MAX 32
#define NUMBER_MAX 128
/* The longest base64 text of a vector of CE_MAX_DIMS floats. */
#define B64_MAX (((size_t)CE_MAX_DIMS * 4 + 2) / 3 * 4)

typedef struct {
  const char *p, *start, *end;
  char *err;
  size_t errlen;
  const char *cls; /* the format of the message in err */
} reader;

typedef struct {
  size_t n;
  uint32_t want, dims;
  uint8_t *vecs, *seen, *one;
  char *b64; /* an embedding's text when it holds escapes */
  size_t items;
  int has_data;
  uint64_t total_tokens, prompt_tokens;
} parse_state;

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void) {
  c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

__attribute__((format(printf, 2, 3))) static int fail(reader *r,
                                                      const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err, r->errlen, fmt, ap);
  va_end(ap);
  r->cls = fmt;
  return -1;
}

static int syntax(reader *r, const char *what) {
  return fail(r, "response is not JSON (%s at byte %zu)", what,
              (size_t)(r->p - r->start));
}

static void ws(reader *r) {
  while (r->p < r->end &&
         (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
    r->p++;
}

/* The next character after white space, or -1 at the end. */
static int peek(reader *r) {
  ws(r);
  return r->p < r->end ? (unsigned char)*r->p : -1;
}

static int expect(reader *r, char c) {
  if (peek(r) != (unsigned char)c) {
    char what[24];
    snprintf(what, sizeof what, "'%c' expected", c);
    return syntax(r, what);
  }
  r->p++;
  return 0;
}

/* After an element of an array or object: 1 when `close` ended it, 0 after
 * a ',', -1 on anything else. */
static int next(reader *r, char close) {
  int c = peek(r);
  if (c == ',' || c == (unsigned char)close) {
    r->p++;
    return c == (unsigned char)close;
  }
  return syntax(r,
                close == ']' ? "',' or ']' expected" : "',' or '}' expected");
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

/* Appends one byte to out (cap), counting past the end in *len. */
static void put(char *out, size_t cap, size_t *len, char c) {
  if (out && *len < cap)
    out[*len] = c;
  (*len)++;
}

/* How many bytes from s (before end) need no unescaping: up to the first
 * '"', '\\' or control character. memchr and eight bytes at a time: the
 * base64 vectors of an answer are most of its bytes. */
static size_t plain_run(const char *s, const char *end) {
  const char *q = memchr(s, '"', (size_t)(end - s));
  if (!q)
    q = end;
  const char *bs = memchr(s, '\\', (size_t)(q - s));
  size_t n = (size_t)((bs ? bs : q) - s), i = 0;
  for (; i + 8 <= n; i += 8) { /* a byte below 0x20 in the word? */
    uint64_t x;
    memcpy(&x, s + i, 8);
    if ((x - 0x2020202020202020ULL) & ~x & 0x8080808080808080ULL)
      break;
  }
  while (i < n && (unsigned char)s[i] >= 0x20)
    i++;
  return i;
}

/* Appends n bytes (put, for a run). */
static void put_run(char *out, size_t cap, size_t *len, const char *s,
                    size_t n) {
  if (out && *len < cap)
    memcpy(out + *len, s, n < cap - *len ? n : cap - *len);
  *len += n;
}

static void put_utf8(char *out, size_t cap, size_t *len, unsigned cp) {
  if (cp < 0x80) {
    put(out, cap, len, (char)cp);
  } else if (cp < 0x800) {
    put(out, cap, len, (char)(0xC0 | (cp >> 6)));
    put(out, cap, len, (char)(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    put(out, cap, len, (char)(0xE0 | (cp >> 12)));
    put(out, cap, len, (char)(0x80 | ((cp >> 6) & 0x3F)));
    put(out, cap, len, (char)(0x80 | (cp & 0x3F)));
  } else {
    put(out, cap, len, (char)(0xF0 | (cp >> 18)));
    put(out, cap, len, (char)(0x80 | ((cp >> 12) & 0x3F)));
    put(out, cap, len, (char)(0x80 | ((cp >> 6) & 0x3F)));
    put(out, cap, len, (char)(0x80 | (cp & 0x3F)));
  }
}

/* A string at r->p. Its unescaped bytes go to out (at most cap; NULL to
 * skip); *len gets the full length; *raw (may be NULL) the text between
 * the quotes and *escaped whether it holds escapes. */
static int string(reader *r, char *out, size_t cap, size_t *len,
                  const char **raw, int *escaped) {
  if (peek(r) != '"')
    return syntax(r, "string expected");
  const char *s = ++r->p;
  int esc = 0;
  *len = 0;
  while (r->p < r->end && *r->p != '"') {
    unsigned char c = (unsigned char)*r->p;
    if (c < 0x20)
      return syntax(r, "control character in a string");
    if (c != '\\') { /* a run of plain bytes (a base64 vector), at once */
      size_t n = plain_run(r->p, r->end);
      put_run(out, cap, len, r->p, n);
      r->p += n;
      continue;
    }
    esc = 1;
    if (r->end - r->p < 2)
      return syntax(r, "cut escape");
    char e = r->p[1];
    r->p += 2;
    switch (e) {
    case '"':
    case '\\':
    case '/':
      put(out, cap, len, e);
      break;
    case 'b':
      put(out, cap, len, '\b');
      break;
    case 'f':
      put(out, cap, len, '\f');
      break;
    case 'n':
      put(out, cap, len, '\n');
      break;
    case 'r':
      put(out, cap, len, '\r');
      break;
    case 't':
      put(out, cap, len, '\t');
      break;
    case 'u': {
      unsigned cp, lo;
      if (r->end - r->p < 4 || hex4(r->p, &cp))
        return syntax(r, "bad \\u escape");
      r->p += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && r->end - r->p >= 6 &&
          r->p[0] == '\\' && r->p[1] == 'u' && !hex4(r->p + 2, &lo) &&
          lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        r->p += 6;
      }
      put_utf8(out, cap, len, cp);
      break;
    }
    default:
      return syntax(r, "bad escape");
    }
  }
  if (r->p >= r->end)
    return syntax(r, "unterminated string");
  if (raw)
    *raw = s;
  if (escaped)
    *escaped = esc;
  r->p++;
  return 0;
}

/* A number at r->p, by JSON's grammar. *is_int: no fraction or exponent
 * (then *iv holds it, or *is_int is 0 when it does not fit). */
static int number(reader *r, double *d, int *is_int, long long *iv) {
  const char *s = r->p, *p = s;
  int integral = 1;
  if (p < r->end && *p == '-')
    p++;
  if (p < r->end && *p == '0')
    p++;
  else if (p < r->end && *p >= '1' && *p <= '9')
    while (p < r->end && *p >= '0' && *p <= '9')
      p++;
  else
    return syntax(r, "bad number");
  if (p < r->end && *p == '.') {
    integral = 0;
    p++;
    if (p >= r->end || *p < '0' || *p > '9')
      return syntax(r, "bad number");
    while (p < r->end && *p >= '0' && *p <= '9')
      p++;
  }
  if (p < r->end && (*p == 'e' || *p == 'E')) {
    integral = 0;
    p++;
    if (p < r->end && (*p == '+' || *p == '-'))
      p++;
    if (p >= r->end || *p < '0' || *p > '9')
      return syntax(r, "bad number");
    while (p < r->end && *p >= '0' && *p <= '9')
      p++;
  }
  r->p = p;
  if (!d)
    return 0;
  char buf[NUMBER_MAX + 1];
  size_t n = (size_t)(p - s);
  if (n > NUMBER_MAX) { /* valid JSON, but no float32 needs that much */
    *d = NAN;
    *is_int = 0;
    return 0;
  }
  memcpy(buf, s, n);
  buf[n] = '\0';
  pthread_once(&c_locale_once, c_locale_init);
  *d = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
  *is_int = integral;
  if (integral) {
    char *end;
    errno = 0;
    *iv = strtoll(buf, &end, 10);
    if (errno)
      *is_int = 0;
  }
  return 0;
}

static int literal(reader *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n))
    return syntax(r, "bad literal");
  r->p += n;
  return 0;
}

/* Any value, checked and skipped. */
static int skip(reader *r, int depth) {
  size_t len;
  int c = peek(r);
  if (depth > MAX_DEPTH)
    return fail(r, "response is nested more than %d deep", MAX_DEPTH);
  switch (c) {
  case '"':
    return string(r, NULL, 0, &len, NULL, NULL);
  case '{':
    r->p++;
    if (peek(r) == '}') {
      r->p++;
      return 0;
    }
    for (;;) {
      if (string(r, NULL, 0, &len, NULL, NULL) || expect(r, ':') ||
          skip(r, depth + 1) || (c = next(r, '}')) < 0)
        return -1;
      if (c)
        return 0;
    }
  case '[':
    r->p++;
    if (peek(r) == ']') {
      r->p++;
      return 0;
    }
    for (;;) {
      if (skip(r, depth + 1) || (c = next(r, ']')) < 0)
        return -1;
      if (c)
        return 0;
    }
  case 't':
    return literal(r, "true");
  case 'f':
    return literal(r, "false");
  case 'n':
    return literal(r, "null");
  default:
    if (c == '-' || (c >= '0' && c <= '9'))
      return number(r, NULL, NULL, NULL);
    return syntax(r, c < 0 ? "value expected, end of input" : "value expected");
  }
}

/* Iterates the members of an object: *key (cap KEY_MAX, NUL-terminated,
 * empty when longer) for each; 1 per member, 0 at the end, -1 on error.
 * `first` is 1 on the first call. */
static int member(reader *r, int *first, char *key) {
  size_t len;
  if (*first) {
    *first = 0;
    if (expect(r, '{'))
      return -1;
    if (peek(r) == '}') {
      r->p++;
      return 0;
    }
  } else {
    int c = next(r, '}');
    if (c)
      return c > 0 ? 0 : -1;
  }
  if (string(r, key, KEY_MAX - 1, &len, NULL, NULL) || expect(r, ':'))
    return -1;
  key[len < KEY_MAX ? len : 0] = '\0';
  return 1;
}

/* Decodes base64 text into ps->one; dims or 0 with err. */
static uint32_t decode_base64(reader *r, parse_state *ps) {
  const char *raw;
  size_t len, out_len;
  int escaped;
  const char *at = r->p;
  if (string(r, NULL, 0, &len, &raw, &escaped))
    return 0;
  if (len > B64_MAX) {
    fail(r, "embedding has more than %d values", CE_MAX_DIMS);
    return 0;
  }
  if (escaped) { /* e.g. "\/" for '/': read it again, unescaped */
    r->p = at;
    if (string(r, ps->b64, B64_MAX, &len, NULL, NULL))
      return 0;
    raw = ps->b64;
  }
  if (ce_base64_decode(raw, len, ps->one, (size_t)CE_MAX_DIMS * 4, &out_len) ||
      out_len % 4) {
    fail(r, "embedding is not base64 of float32 values");
    return 0;
  }
  if (!out_len) {
    fail(r, "embedding is empty");
    return 0;
  }
  return (uint32_t)(out_len / 4);
}

/* Decodes an array of numbers into ps->one; dims or 0 with err. */
static uint32_t decode_floats(reader *r, parse_state *ps) {
  size_t n = 0;
  r->p++; /* '[' */
  if (peek(r) == ']') {
    r->p++;
    {
      fail(r, "embedding is empty");
      return 0;
    }
  }
  for (;;) {
    double d;
    int is_int;
    long long iv;
    int c = peek(r);
    if (n >= CE_MAX_DIMS) {
      fail(r, "embedding has more than %d values", CE_MAX_DIMS);
      return 0;
    }
    if (!(c == '-' || (c >= '0' && c <= '9'))) {
      fail(r, "embedding value %zu is not a float32 number", n);
      return 0;
    }
    if (number(r, &d, &is_int, &iv))
      return 0;
    if (!isfinite(d) || fabs(d) > FLT_MAX) {
      fail(r, "embedding value %zu is not a float32 number", n);
      return 0;
    }
    ce_f32_store(ps->one + 4 * n++, (float)d);
    if ((c = next(r, ']')) < 0)
      return 0;
    if (c)
      return (uint32_t)n;
  }
}

static int take_index(reader *r, parse_state *ps, size_t i, long long k) {
  if (k < 0 || (size_t)k >= ps->n || ps->seen[k])
    return fail(r, "data[%zu].index %lld is out of range or repeated", i, k);
  ps->seen[k] = 1;
  return 0;
}

/* data[i]: places its vector. */
static int item(reader *r, parse_state *ps, size_t i, size_t len) {
  char key[KEY_MAX];
  int first = 1, m, has_index = 0;
  long long k = (long long)i;
  uint32_t d = 0;

  if (peek(r) != '{')
    return fail(r, "data[%zu] is not an object", i);
  while ((m = member(r, &first, key)) == 1) {
    if (!strcmp(key, "index")) {
      double dv;
      int is_int = 0;
      int c = peek(r);
      if (has_index)
        return fail(r, "data[%zu] has two indexes", i);
      if (!(c == '-' || (c >= '0' && c <= '9')) ||
          number(r, &dv, &is_int, &k) || !is_int)
        return fail(r, "data[%zu].index is not an integer", i);
      if (take_index(r, ps, i, k))
        return -1;
      has_index = 1;
    } else if (!strcmp(key, "embedding")) {
      int c = peek(r);
      if (d)
        return fail(r, "data[%zu] has two embeddings", i);
      if (c == '"')
        d = decode_base64(r, ps);
      else if (c == '[')
        d = decode_floats(r, ps);
      else
        return fail(r, "embedding is neither base64 nor an array");
      if (!d)
        return -1;
    } else if (skip(r, 2)) {
      return -1;
    }
  }
  if (m < 0)
    return -1;
  if (!has_index && take_index(r, ps, i, k))
    return -1;
  if (!d)
    return fail(r, "embedding is neither base64 nor an array");
  if (!ps->dims) {
    if (ps->want && d != ps->want)
      return fail(r, "expected %u dimensions, got %u", ps->want, d);
    /* n vectors of d values take two bytes a value at the very least. */
    if ((uint64_t)ps->n * d > len / 2)
      return fail(r, "%zu embeddings of %u values cannot fit in %zu bytes",
                  ps->n, d, len);
    ps->dims = d;
    ps->vecs = malloc(ps->n * (size_t)d * 4);
    if (!ps->vecs)
      return fail(r, "out of memory");
  } else if (d != ps->dims) {
    return fail(r, "embeddings differ in length: %u and %u", ps->dims, d);
  }
  if (!ce_vec_finite(ps->one, d))
    return fail(r, "embedding %lld has NaN or infinite values", k);
  memcpy(ps->vecs + (size_t)k * d * 4, ps->one, (size_t)d * 4);
  return 0;
}

static int data(reader *r, parse_state *ps, size_t len) {
  size_t count = 0;
  if (ps->has_data)
    return fail(r, "response has two data arrays");
  ps->has_data = 1;
  if (peek(r) != '[')
    return fail(r, "response has no data array");
  r->p++;
  if (peek(r) != ']') {
    for (;;) {
      /* Items past n are only counted, for the message. */
      if (count < ps->n ? item(r, ps, count, len) : skip(r, 1))
        return -1;
      count++;
      int c = next(r, ']');
      if (c < 0)
        return -1;
      if (c)
        break;
    }
  } else {
    r->p++;
  }
  if (count != ps->n)
    return fail(r, "expected %zu embeddings, got %zu", ps->n, count);
  return 0;
}

static int usage(reader *r, parse_state *ps) {
  char key[KEY_MAX];
  int first = 1, m;
  if (peek(r) != '{')
    return skip(r, 1);
  while ((m = member(r, &first, key)) == 1) {
    uint64_t *slot = !strcmp(key, "total_tokens")    ? &ps->total_tokens
                     : !strcmp(key, "prompt_tokens") ? &ps->prompt_tokens
                                                     : NULL;
    int c = peek(r);
    if (slot && (c == '-' || (c >= '0' && c <= '9'))) {
      double d;
      int is_int = 0;
      long long iv = 0;
      if (number(r, &d, &is_int, &iv))
        return -1;
      *slot = is_int && iv > 0 ? (uint64_t)iv : 0;
    } else if (skip(r, 2)) {
      return -1;
    }
  }
  return m;
}

int ce_provider_parse_response(const char *body, size_t len, size_t n,
                               uint32_t want_dims, ce_embeddings *out,
                               char *err, size_t errlen, const char **cls) {
  reader r = {body, body, body + len, err, errlen, NULL};
  parse_state ps;
  char key[KEY_MAX];
  int first = 1, m, rc = -1;

  memset(out, 0, sizeof *out);
  memset(&ps, 0, sizeof ps);
  ps.n = n;
  ps.want = want_dims;
  ps.one = malloc((size_t)CE_MAX_DIMS * 4);
  ps.b64 = malloc(B64_MAX + 1);
  ps.seen = calloc(n ? n : 1, 1);
  if (!ps.one || !ps.b64 || !ps.seen) {
    fail(&r, "out of memory");
    goto done;
  }
  if (peek(&r) != '{') { /* JSON of another kind: no data array */
    if (!skip(&r, 0)) {
      if (peek(&r) >= 0)
        syntax(&r, "end of input expected");
      else
        fail(&r, "response has no data array");
    }
    goto done;
  }
  while ((m = member(&r, &first, key)) == 1) {
    if (!strcmp(key, "data")    ? data(&r, &ps, len)
        : !strcmp(key, "usage") ? usage(&r, &ps)
                                : skip(&r, 1))
      goto done;
  }
  if (m < 0)
    goto done;
  if (peek(&r) >= 0) {
    syntax(&r, "end of input expected");
    goto done;
  }
  if (!ps.has_data) {
    fail(&r, "response has no data array");
    goto done;
  }
  if (n && !ps.dims) {
    fail(&r, "empty embeddings");
    goto done;
  }
  out->tokens = ps.total_tokens ? ps.total_tokens : ps.prompt_tokens;
  out->vecs = ps.vecs;
  out->dims = ps.dims;
  out->n = n;
  ps.vecs = NULL;
  rc = 0;
done:
  if (cls)
    *cls = r.cls;
  free(ps.vecs);
  free(ps.seen);
  free(ps.one);
  free(ps.b64);
  return rc;
}
