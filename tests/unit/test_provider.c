#include "base64.h"
#include "check.h"
#include "http.h"
#include "provider.h"
#include "provider_private.h"
#include "vector.h"

#include <jansson.h>
#include <stdlib.h>

/* A response body with vectors v_i = [i+1, -(i+1), 0.5] in the given order. */
static char *response(const int *order, int n, int base64, const char *extra) {
  static char body[8192];
  size_t o = 0;
  o += (size_t)sprintf(body + o, "{\"object\":\"list\",\"data\":[");
  for (int j = 0; j < n; j++) {
    int i = order[j];
    float v[3] = {(float)(i + 1), -(float)(i + 1), 0.5f};
    o += (size_t)sprintf(
        body + o,
        "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":", j ? "," : "",
        i);
    if (base64) {
      uint8_t raw[12];
      char b64[32];
      for (int k = 0; k < 3; k++)
        ce_f32_store(raw + 4 * k, v[k]);
      ce_base64_encode(raw, 12, b64);
      o += (size_t)sprintf(body + o, "\"%s\"}", b64);
    } else {
      o += (size_t)sprintf(body + o, "[%g,%g,%g]}", v[0], v[1], v[2]);
    }
  }
  sprintf(body + o, "],\"usage\":{\"total_tokens\":42}%s}", extra ? extra : "");
  return body;
}

static int vec_is(const ce_embeddings *e, size_t i) {
  const uint8_t *p = e->vecs + i * e->dims * 4;
  return ce_f32_load(p) == (float)(i + 1) &&
         ce_f32_load(p + 4) == -(float)(i + 1) && ce_f32_load(p + 8) == 0.5f;
}

static void test_parse(void) {
  ce_embeddings e;
  char err[160];
  int in_order[3] = {0, 1, 2}, shuffled[3] = {2, 0, 1};

  for (int b64 = 0; b64 <= 1; b64++) {
    const char *body = response(shuffled, 3, b64, NULL);
    CHECK(ce_provider_parse_response(body, strlen(body), 3, 0, &e, err,
                                     sizeof err, NULL) == 0);
    CHECK(e.n == 3 && e.dims == 3 && e.tokens == 42);
    CHECK(vec_is(&e, 0) && vec_is(&e, 1) && vec_is(&e, 2));
    ce_embeddings_free(&e);
  }
  const char *body = response(in_order, 3, 1, NULL);
  CHECK(ce_provider_parse_response(body, strlen(body), 4, 0, &e, err,
                                   sizeof err, NULL) == -1);
  CHECK_STR(err, "expected 4 embeddings, got 3");
  CHECK(ce_provider_parse_response(body, strlen(body), 2, 0, &e, err,
                                   sizeof err, NULL) == -1);
  CHECK(ce_provider_parse_response(body, strlen(body), 3, 768, &e, err,
                                   sizeof err, NULL) == -1);
  CHECK_STR(err, "expected 768 dimensions, got 3");
  CHECK(ce_provider_parse_response(body, strlen(body) - 5, 3, 0, &e, err,
                                   sizeof err, NULL) == -1);
  CHECK(!strncmp(err, "response is not JSON", 20));
  CHECK(e.vecs == NULL);

  const char *cases[][2] = {
      {"{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":1,"
       "\"embedding\":[1]}]}",
       "embeddings differ in length: 2 and 1"},
      {"{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":0,"
       "\"embedding\":[1,2]}]}",
       "data[1].index 0 is out of range or repeated"},
      {"{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":5,"
       "\"embedding\":[1,2]}]}",
       "data[1].index 5 is out of range or repeated"},
      {"{\"data\":[{\"index\":0,\"embedding\":[1,\"x\"]},{\"index\":1,"
       "\"embedding\":[1,2]}]}",
       "embedding value 1 is not a float32 number"},
      {"{\"data\":[{\"index\":0,\"embedding\":[1,1e300]},{\"index\":1,"
       "\"embedding\":[1,2]}]}",
       "embedding value 1 is not a float32 number"},
      {"{\"data\":[{\"index\":0,\"embedding\":\"AAA*\"},{\"index\":1,"
       "\"embedding\":[1,2]}]}",
       "embedding is not base64 of float32 values"},
      {"{\"data\":[{\"index\":0,\"embedding\":\"AAAAAAA=\"},{\"index\":1,"
       "\"embedding\":[1,2]}]}",
       "embedding is not base64 of float32 values"},
      {"{\"data\":[{\"index\":0,\"embedding\":\"AADAfwAAgD8=\"},{\"index\":1,"
       "\"embedding\":[1,2]}]}",
       "embedding 0 has NaN or infinite values"},
      {"{\"data\":[{\"index\":0,\"embedding\":[]},{\"index\":1,\"embedding\":[]"
       "}]}",
       "embedding is empty"},
      {"{\"data\":[{\"index\":0,\"embedding\":null},{\"index\":1,\"embedding\":"
       "[1,2]}]}",
       "embedding is neither base64 nor an array"},
      {"{\"data\":[{\"index\":\"0\",\"embedding\":[1,2]},{\"index\":1,"
       "\"embedding\":[1,2]}]}",
       "data[0].index is not an integer"},
      {"{\"model\":\"x\"}", "response has no data array"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = ce_provider_parse_response(cases[i][0], strlen(cases[i][0]), 2, 0,
                                        &e, err, sizeof err, NULL);
    CHECK(rc == -1);
    if (strcmp(err, cases[i][1]))
      fprintf(stderr, "  case %zu: got '%s'\n", i, err);
    CHECK_STR(err, cases[i][1]);
  }
  /* an absent index is taken as the position */
  const char *noidx =
      "{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]}";
  CHECK(ce_provider_parse_response(noidx, strlen(noidx), 2, 0, &e, err,
                                   sizeof err, NULL) == 0);
  CHECK(e.tokens == 0 && ce_f32_load(e.vecs + 8) == 3);
  ce_embeddings_free(&e);
}

/* The streaming reader: JSON details, and memory bounded by the body. */
static void test_parse_stream(void) {
  ce_embeddings e;
  char err[200];

  /* escaped base64 ("\/" for '/'), members in any order, unknown members
   * of every type skipped, white space everywhere */
  const char *ok =
      " { \"model\" : \"m\\u00e9\" , \"x\":[{\"a\":[true,false,null,-1.5e3]}],"
      "\"data\" : [ {\"embedding\" : "
      "\"AACAPwAAAED\\/\\/\\/\\/\\/\",\"index\":0,"
      "\"object\":\"embedding\"} ] , \"usage\":{\"prompt_tokens\":7,\"n\":{}} "
      "} ";
  CHECK(ce_provider_parse_response(ok, strlen(ok), 1, 0, &e, err, sizeof err,
                                   NULL) == -1);
  CHECK_STR(err, "embedding 0 has NaN or infinite values"); /* 0xffffffff */
  const char *ok2 =
      "{\"data\":[{\"embedding\":\"AACAPwAAAED\\/\\/38\\/\",\"index\":0}],"
      "\"usage\":{\"prompt_tokens\":7}}";
  CHECK(ce_provider_parse_response(ok2, strlen(ok2), 1, 0, &e, err, sizeof err,
                                   NULL) == 0);
  CHECK(e.dims == 3 && e.tokens == 7 && ce_f32_load(e.vecs) == 1.0f &&
        ce_f32_load(e.vecs + 4) == 2.0f);
  ce_embeddings_free(&e);

  const char *cases[][2] = {
      {"{\"data\":[{\"embedding\":[1,2]}],\"data\":[]}",
       "response has two data arrays"},
      {"{\"data\":{}}", "response has no data array"},
      {"[1,2]", "response has no data array"},
      {"{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[1,2]}]}",
       "expected 1 embeddings, got 2"},
      {"{\"data\":[{\"embedding\":[1,2]}]} x",
       "response is not JSON (end of input expected at byte 31)"},
      {"{\"data\":[{\"embedding\":[1,2],}]}",
       "response is not JSON (string expected at byte 28)"},
      {"{\"data\":[{\"embedding\":[01]}]}",
       "response is not JSON (',' or ']' expected at byte 24)"},
      {"{\"data\":[{\"embedding\":[NaN]}]}",
       "embedding value 0 is not a float32 number"},
      {"{\"data\":[{\"embedding\":\"ab\\q\"}]}",
       "response is not JSON (bad escape at byte 27)"},
      {"{\"data\":[{\"embedding\":\"ab\ncd\"}]}",
       "response is not JSON (control character in a string at byte 25)"},
      {"{\"data\":[1]}", "data[0] is not an object"},
      {"{\"data\":[{\"index\":1.0,\"embedding\":[1]}]}",
       "data[0].index is not an integer"},
      {"{\"data\":[{\"index\":0,\"index\":0,\"embedding\":[1]}]}",
       "data[0] has two indexes"},
      {"{\"data\":[{\"embedding\":[1],\"embedding\":[1]}]}",
       "data[0] has two embeddings"},
      {"{\"data\":[{\"embedding\":[1,2]}]",
       "response is not JSON (',' or '}' expected at byte 29)"},
      {"", "response is not JSON (value expected, end of input at byte 0)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *cls = NULL;
    int rc = ce_provider_parse_response(cases[i][0], strlen(cases[i][0]), 1, 0,
                                        &e, err, sizeof err, &cls);
    /* the kind of failure is the message's format, not the message */
    CHECK(cls != NULL && cls != err && (strchr(cls, '%') || !strcmp(cls, err)));
    CHECK(rc == -1 && e.vecs == NULL);
    if (strcmp(err, cases[i][1]))
      fprintf(stderr, "  case %zu: got '%s'\n", i, err);
    CHECK_STR(err, cases[i][1]);
  }

  /* nesting is bounded */
  char deep[200] = "{\"x\":";
  for (int i = 0; i < 40; i++)
    strcat(deep, "[");
  CHECK(ce_provider_parse_response(deep, strlen(deep), 1, 0, &e, err,
                                   sizeof err, NULL) == -1);
  CHECK_STR(err, "response is nested more than 32 deep");

  /* a vector longer than CE_MAX_DIMS, as numbers: refused at value 16384 */
  size_t cap = 64 + 2 * (CE_MAX_DIMS + 10);
  char *big = malloc(cap);
  size_t o = (size_t)sprintf(big, "{\"data\":[{\"embedding\":[0");
  for (int i = 0; i < CE_MAX_DIMS + 5; i++)
    o += (size_t)sprintf(big + o, ",0");
  o += (size_t)sprintf(big + o, "]}]}");
  CHECK(ce_provider_parse_response(big, o, 1, 0, &e, err, sizeof err, NULL) ==
        -1);
  CHECK_STR(err, "embedding has more than 16384 values");
  /* n vectors must fit in the body before any is allocated: 2000 inputs of
   * 16384 values cannot come in a 33 kB body */
  o = (size_t)sprintf(big, "{\"data\":[{\"embedding\":[0");
  for (int i = 1; i < CE_MAX_DIMS; i++)
    o += (size_t)sprintf(big + o, ",0");
  o += (size_t)sprintf(big + o, "]}]}");
  CHECK(ce_provider_parse_response(big, o, 2000, 0, &e, err, sizeof err,
                                   NULL) == -1);
  CHECK(strstr(err, "2000 embeddings of 16384 values cannot fit in") != NULL);
  CHECK(ce_provider_parse_response(big, o, 1, 0, &e, err, sizeof err, NULL) ==
        0);
  CHECK(e.dims == CE_MAX_DIMS);
  ce_embeddings_free(&e);
  free(big);
}

static void test_limits(void) {
  /* 768 values as base64 are 4,096 characters; the limit allows 6 times
   * that (indented float arrays) and no more */
  CHECK(ce_provider_response_limit(1, 768) == 65536 + 768 * 32 + 512);
  CHECK(ce_provider_response_limit(256, 768) == 65536 + 256 * (768 * 32 + 512));
  CHECK(ce_provider_response_limit(256, 768) < 7u << 20);
  /* unknown length: as for the longest vector */
  CHECK(ce_provider_response_limit(1, 0) ==
        ce_provider_response_limit(1, CE_MAX_DIMS));
  CHECK(ce_provider_tokens_estimate(1000, 3) == 503);

  const struct {
    long status;
    const char *msg;
    int large;
  } answers[] = {
      {400, "Requested 453357 tokens, max 300000 tokens per request",
       1}, /* OpenAI */
      {400, "input length is larger than the largest allowed size 2048",
       1},                                                        /* Jina */
      {422, "Each input list can contain at most 512 items.", 1}, /* Jina v4 */
      {400, "Too many tokens in batch. Max is 16384 got 17555",
       1}, /* Mistral */
      {400, "Request payload size exceeds the limit: 4194304 bytes.",
       1}, /* Gemini */
      {413, "request body too large", 1},
      {413, "", 1},
      {400, "input 3 is too long: 9000 tokens > 8192; set truncate to true", 1},
      {400, "input must not be empty", 0},
      {422, "field required", 0},
      {400, "dimensions must be between 1 and 768, got 0", 0},
      {401, "invalid api key", 0},
      {429, "Rate limit reached: max 500 requests per minute", 0},
      {500, "the request was too large for our servers", 0},
  };
  for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
    if (ce_provider_too_large(answers[i].status, answers[i].msg) !=
        answers[i].large)
      fprintf(stderr, "  too_large %ld '%s'\n", answers[i].status,
              answers[i].msg);
    CHECK(ce_provider_too_large(answers[i].status, answers[i].msg) ==
          answers[i].large);
  }
}

static void test_errors(void) {
  char msg[200];
  const char *bodies[][2] = {
      {"{\"detail\":\"Invalid API key\"}", "Invalid API key"},
      {"{\"detail\":[{\"loc\":[\"body\",\"model\"],\"msg\":\"field "
       "required\"}]}",
       "field required"},
      {"{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"x\"}}",
       "Rate limit reached"},
      {"{\"error\":\"model not found\"}", "model not found"},
      {"{\"message\":\"bad\\nline\"}", "bad line"},
      {"<html>502 Bad Gateway</html>", "no readable message in a 28-byte body"},
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    ce_provider_error_message(bodies[i][0], strlen(bodies[i][0]), NULL, msg,
                              sizeof msg);
    CHECK_STR(msg, bodies[i][1]);
  }
  CHECK(ce_provider_retryable(429) && ce_provider_retryable(500) &&
        ce_provider_retryable(503) && ce_provider_retryable(408));
  CHECK(!ce_provider_retryable(400) && !ce_provider_retryable(401) &&
        !ce_provider_retryable(402) && !ce_provider_retryable(403) &&
        !ce_provider_retryable(404) && !ce_provider_retryable(413) &&
        !ce_provider_retryable(422));
}

/* A key a gateway echoes never reaches the log, whole or in part. */
static void test_error_redaction(void) {
  const char *key = "sk-proj-Secret/Key+0123456789abcdef";
  char msg[200], small[24];
  const char *bodies[][2] = {
      {"{\"detail\":\"bad key sk-proj-Secret/Key+0123456789abcdef\"}",
       "bad key [redacted]"},
      {"{\"error\":{\"message\":\"got Authorization: Bearer "
       "sk-proj-Secret/Key+0123456789abcdef.\"}}",
       "got Authorization: Bearer [redacted]"},
      {"{\"detail\":\"(Authorization: bearer\\tother-token_1~x=)\"}",
       "(Authorization: bearer [redacted])"},
      {"{\"message\":\"twice: sk-proj-Secret/Key+0123456789abcdef and "
       "sk-proj-Secret/Key+0123456789abcdef\"}",
       "twice: [redacted] and [redacted]"},
      {"{\"detail\":\"a bearer of bad news\"}", "a bearer [redacted] bad news"},
      {"{\"detail\":\"nothing secret\"}", "nothing secret"},
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    ce_provider_error_message(bodies[i][0], strlen(bodies[i][0]), key, msg,
                              sizeof msg);
    CHECK_STR(msg, bodies[i][1]);
  }
  /* a message cut to fit keeps no prefix of the key */
  const char *cut =
      "{\"detail\":\"prefix sk-proj-Secret/Key+0123456789abcdef\"}";
  ce_provider_error_message(cut, strlen(cut), key, small, sizeof small);
  CHECK_STR(small, "prefix [redacted]");
  const char *cut2 = "{\"detail\":\"a longer prefix here "
                     "sk-proj-Secret/Key+0123456789abcdef\"}";
  ce_provider_error_message(cut2, strlen(cut2), key, small, sizeof small);
  CHECK(strlen(small) == sizeof small - 1 && !strstr(small, "sk-"));
  /* a key with characters outside a bearer token is still removed whole */
  const char *odd = "{\"detail\":\"Bearer k!ey:with@odd#chars rest\"}";
  ce_provider_error_message(odd, strlen(odd), "k!ey:with@odd#chars", msg,
                            sizeof msg);
  CHECK_STR(msg, "Bearer [redacted] rest");
}

static void test_retry_timing(void) {
  CHECK(ce_retry_after_ms(" 3\r\n", 4) == 3000);
  CHECK(ce_retry_after_ms("0", 1) == 0);
  CHECK(ce_retry_after_ms("abc", 3) == -1);
  CHECK(ce_retry_after_ms("-4", 2) == -1);
  CHECK(ce_retry_after_ms("", 0) == -1);
  CHECK(ce_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 29) == 0); /* past */
  unsigned seed = 1;
  for (int a = 0; a < 8; a++) {
    long base = 250L << (a < 5 ? a : 5);
    if (base > 8000)
      base = 8000;
    for (int k = 0; k < 50; k++) {
      long d = ce_backoff_ms(a, &seed);
      CHECK(d >= base / 2 && d <= base);
    }
  }
}

static void test_request(void) {
  ce_config c;
  ce_text in[2] = {{"hello", 5}, {"caf\xc3\xa9 \"q\"", 9}};
  ce_config_defaults(&c);
  char *js = ce_provider_request_json(&c, in, 2);
  json_t *r = json_loads(js, 0, NULL);
  CHECK(r != NULL);
  CHECK_STR(json_string_value(json_object_get(r, "model")),
            "jina-embeddings-v2-base-en");
  CHECK_STR(json_string_value(json_object_get(r, "embedding_type")), "base64");
  CHECK(json_is_true(json_object_get(r, "normalized")));
  CHECK(json_is_true(json_object_get(r, "truncate")));
  CHECK(!json_object_get(r, "encoding_format") && !json_object_get(r, "task") &&
        !json_object_get(r, "dimensions"));
  CHECK_STR(json_string_value(json_array_get(json_object_get(r, "input"), 1)),
            "caf\xc3\xa9 \"q\"");
  json_decref(r);
  free(js);

  c.provider = CE_DIALECT_OPENAI;
  c.dimensions = 512;
  strcpy(c.task, "retrieval.query"); /* jina only */
  js = ce_provider_request_json(&c, in, 1);
  r = json_loads(js, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(r, "encoding_format")), "base64");
  CHECK(json_integer_value(json_object_get(r, "dimensions")) == 512);
  CHECK(!json_object_get(r, "embedding_type") && !json_object_get(r, "task") &&
        !json_object_get(r, "normalized"));
  CHECK(!strstr(js, c.api_key[0] ? c.api_key : "Bearer"));
  json_decref(r);
  free(js);

  ce_text bad = {"caf\xe9", 4}; /* invalid UTF-8 is refused, not sent */
  CHECK(ce_provider_request_json(&c, &bad, 1) == NULL);
}

int main(void) {
  test_parse();
  test_parse_stream();
  test_limits();
  test_errors();
  test_error_redaction();
  test_retry_timing();
  test_request();
  return CHECK_DONE();
}
