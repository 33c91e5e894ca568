/* Query vs passage (task.h): the task per dialect and model, the request
 * each dialect sends, prefixes, and the task as part of the cache identity. */
#include "cache_key.h"
#include "check.h"
#include "provider.h"
#include "task.h"
#include "text.h"

#include <jansson.h>
#include <stdlib.h>

static ce_config jina(const char *model) {
  ce_config c;
  ce_config_defaults(&c);
  strcpy(c.model, model);
  return c;
}

static ce_config openai(void) {
  ce_config c;
  ce_config_defaults(&c);
  c.provider = CE_DIALECT_OPENAI;
  strcpy(c.model, "text-embedding-3-small");
  return c;
}

/* The effective task of `name` (NULL: the setting), or "ERR". */
static const char *resolve(const ce_config *c, const char *name) {
  static char out[CE_TASK_MAX + 1];
  char err[160];
  if (ce_task_resolve(c, name, name ? strlen(name) : 0, out, err, sizeof err))
    return "ERR";
  return out;
}

static void test_resolve(void) {
  ce_config j = jina("jina-embeddings-v3"), o = openai();
  CHECK_STR(resolve(&j, "query"), "retrieval.query");
  CHECK_STR(resolve(&j, "passage"), "retrieval.passage");
  CHECK_STR(resolve(&j, "retrieval.query"), "retrieval.query");
  CHECK_STR(resolve(&j, "text-matching"), "text-matching");
  CHECK_STR(resolve(&j, "code.query"), "code.query");
  CHECK_STR(resolve(&j, ""), "");
  CHECK_STR(resolve(&j, NULL), ""); /* no task configured */
  strcpy(j.task, "passage");        /* the setting takes the same names */
  CHECK_STR(resolve(&j, NULL), "retrieval.passage");
  CHECK_STR(resolve(&j, "query"), "retrieval.query");
  CHECK_STR(resolve(&o, "query"), "query");
  CHECK_STR(resolve(&o, "retrieval.passage"), "passage");
  CHECK_STR(resolve(&o, "classification"), "classification");

  /* what is no task name is refused, with what can be shown of it */
  char out[CE_TASK_MAX + 1], err[160], longname[80];
  CHECK(ce_task_resolve(&j, "a b", 3, out, err, sizeof err) == -1);
  CHECK(strstr(err, "letters, digits") && strstr(err, "'a b'"));
  CHECK(ce_task_resolve(&j, "x:y", 3, out, err, sizeof err) == -1);
  CHECK(ce_task_resolve(&j, "caf\xc3\xa9", 5, out, err, sizeof err) == -1);
  CHECK(ce_task_resolve(&j, "q\0x", 3, out, err, sizeof err) == -1);
  memset(longname, 'a', sizeof longname);
  CHECK(ce_task_resolve(&j, longname, CE_TASK_MAX, out, err, sizeof err) == 0);
  CHECK(strlen(out) == CE_TASK_MAX);
  CHECK(ce_task_resolve(&j, longname, CE_TASK_MAX + 1, out, err, sizeof err) ==
        -1);
  CHECK(strstr(err, "...") != NULL);
}

static void test_arg_check(void) {
  char msg[200];
  CHECK(ce_task_arg_check(1, NULL, 0, "f(t)", "f", msg, sizeof msg) == 0);
  CHECK(ce_task_arg_check(1, "", 0, "f(t)", "f", msg, sizeof msg) == 0);
  CHECK(ce_task_arg_check(1, "query", 5, "f(t)", "f", msg, sizeof msg) == 0);
  CHECK(ce_task_arg_check(0, NULL, 0, "f(t)", "f", msg, sizeof msg) == -1);
  CHECK_STR(msg, "f(t): task is not a string");
  CHECK(ce_task_arg_check(1, "no such", 7, "f(t)", "f", msg, sizeof msg) == -1);
  CHECK_STR(msg, "f: task 'no such' is not letters, digits, . - _");
  /* the longest fits in the 80 bytes the server shows */
  CHECK(ce_task_arg_check(1, "\x01 x:yyyyyyyyyyyyyyyyyyyyyyyyyyyy", 32, "f(t)",
                          "cached_embed_warm", msg, sizeof msg) == -1);
  CHECK_STR(msg,
            "cached_embed_warm: task '? x:yyyyyyyyyyyy...' is not letters, "
            "digits, . - _");
  CHECK(strlen(msg) <= 80);
}

static void test_wire_and_prefix(void) {
  ce_config c = jina("jina-embeddings-v3");
  strcpy(c.query_prefix, "query: ");
  strcpy(c.passage_prefix, "passage: ");
  CHECK(ce_task_wire(&c) == NULL); /* no task */
  CHECK_STR(ce_task_prefix(&c), "");
  strcpy(c.task, "retrieval.query");
  CHECK_STR(ce_task_wire(&c), "retrieval.query");
  CHECK_STR(ce_task_prefix(&c), ""); /* the task field does the job */
  strcpy(c.model, "jina-embeddings-v4");
  CHECK_STR(ce_task_wire(&c), "retrieval.query");
  strcpy(c.model, "some-new-model"); /* unknown: sent */
  CHECK_STR(ce_task_wire(&c), "retrieval.query");

  /* Jina's API refuses the field for its v2 models: the prefix instead */
  strcpy(c.model, "jina-embeddings-v2-base-en");
  CHECK(ce_task_wire(&c) == NULL);
  CHECK_STR(ce_task_prefix(&c), "query: ");
  strcpy(c.task, "retrieval.passage");
  CHECK_STR(ce_task_prefix(&c), "passage: ");
  strcpy(c.task, "text-matching");
  CHECK_STR(ce_task_prefix(&c), "");

  /* jina-clip-v2 takes retrieval.query only */
  strcpy(c.model, "jina-clip-v2");
  strcpy(c.task, "retrieval.query");
  CHECK_STR(ce_task_wire(&c), "retrieval.query");
  strcpy(c.task, "retrieval.passage");
  CHECK(ce_task_wire(&c) == NULL);

  /* openai: never a task field; the prefixes of the two roles */
  c = openai();
  strcpy(c.query_prefix, "search_query: ");
  strcpy(c.task, "query");
  CHECK(ce_task_wire(&c) == NULL);
  CHECK_STR(ce_task_prefix(&c), "search_query: ");
  strcpy(c.task, "passage");
  CHECK_STR(ce_task_prefix(&c), ""); /* passage_prefix unset */
  strcpy(c.task, "classification");
  CHECK(ce_task_wire(&c) == NULL);
  CHECK_STR(ce_task_prefix(&c), "");
}

static json_t *request(const ce_config *c) {
  ce_text in = {"hoppy citrus IPA", 16};
  char *js = ce_provider_request_json(c, &in, 1);
  json_t *r = js ? json_loads(js, 0, NULL) : NULL;
  free(js);
  return r;
}

/* Every field of an OpenAI request is one of CreateEmbeddingRequest's. */
static int openai_fields_only(json_t *r) {
  static const char *const allowed[] = {"model", "input", "encoding_format",
                                        "dimensions", "user"};
  const char *k;
  json_t *v;
  json_object_foreach(r, k, v) {
    size_t i = 0;
    while (i < 5 && strcmp(k, allowed[i]))
      i++;
    if (i == 5)
      return 0;
  }
  return 1;
}

static void test_request_per_dialect(void) {
  ce_config c = jina("jina-embeddings-v3");
  strcpy(c.task, "retrieval.query");
  json_t *r = request(&c);
  CHECK_STR(json_string_value(json_object_get(r, "task")), "retrieval.query");
  json_decref(r);
  strcpy(c.task, "text-matching");
  r = request(&c);
  CHECK_STR(json_string_value(json_object_get(r, "task")), "text-matching");
  json_decref(r);
  c.task[0] = '\0';
  r = request(&c);
  CHECK(r && !json_object_get(r, "task"));
  json_decref(r);

  strcpy(c.model, "jina-embeddings-v2-base-en");
  strcpy(c.task, "retrieval.query");
  r = request(&c);
  CHECK(r && !json_object_get(r, "task"));
  json_decref(r);

  c = openai();
  c.dimensions = 256;
  for (int i = 0; i < 3; i++) {
    static const char *const tasks[] = {"query", "passage", "text-matching"};
    strcpy(c.task, tasks[i]);
    r = request(&c);
    CHECK(r && !json_object_get(r, "task") && openai_fields_only(r));
    CHECK(json_object_size(r) == 4); /* model, input, encoding_format, dims */
    json_decref(r);
  }
}

static void test_prefixed_text(void) {
  char out[64];
  const char *sent;
  size_t len;
  unsigned flags;
  CHECK(ce_text_prepare_prefixed("query: ", 7, "hoppy IPA", 9, 100,
                                 CE_CHARSET_AUTO, out, &sent, &len,
                                 &flags) == 0);
  CHECK(sent == out && len == 16 && !memcmp(sent, "query: hoppy IPA", 16));
  /* the cut is the text's; latin1 is decoded after the prefix */
  CHECK(ce_text_prepare_prefixed("q: ", 3, "caf\xe9 noir", 9, 5,
                                 CE_CHARSET_AUTO, out, &sent, &len,
                                 &flags) == 0);
  CHECK(len == 8 && !memcmp(sent, "q: caf\xc3\xa9", 8));
  CHECK(flags & CE_TEXT_CUT && flags & CE_TEXT_LATIN1);
  /* no prefix: as ce_text_prepare, no copy */
  const char *raw = "plain";
  CHECK(ce_text_prepare_prefixed("", 0, raw, 5, 100, CE_CHARSET_AUTO, out,
                                 &sent, &len, &flags) == 0);
  CHECK(sent == raw && len == 5);
  CHECK(ce_text_prepare_prefixed("q: ", 3, "a\0b", 3, 100, CE_CHARSET_AUTO, out,
                                 &sent, &len, &flags) == -1);
}

/* The task is part of the key and of the entry's identity. */
static void test_identity(void) {
  ce_config c = jina("jina-embeddings-v3");
  char kq[CE_KEY_MAX], kp[CE_KEY_MAX], kn[CE_KEY_MAX];
  uint8_t h[32], h2[32], iq[32], ip[32], in[32], x[32];
  ce_sha256("text", 4, h);
  ce_sha256("other", 5, h2);

  strcpy(c.task, resolve(&c, "query"));
  ce_key_build(&c, NULL, 0, NULL, 0, h, kq);
  ce_entry_identity(&c, NULL, 0, h, iq);
  strcpy(c.task, resolve(&c, "passage"));
  ce_key_build(&c, NULL, 0, NULL, 0, h, kp);
  ce_entry_identity(&c, NULL, 0, h, ip);
  c.task[0] = '\0';
  ce_key_build(&c, NULL, 0, NULL, 0, h, kn);
  ce_entry_identity(&c, NULL, 0, h, in);
  CHECK(strstr(kq, "jina-embeddings-v3#retrieval.query:sha256:") != NULL);
  CHECK(strstr(kp, "jina-embeddings-v3#retrieval.passage:sha256:") != NULL);
  CHECK(strcmp(kq, kp) && strcmp(kq, kn) && strcmp(kp, kn));
  CHECK(memcmp(iq, ip, 32) && memcmp(iq, in, 32) && memcmp(ip, in, 32));

  /* a task given to the call is the same as that task in the settings */
  ce_entry_identity(&c, "retrieval.query", 15, h, x);
  CHECK(!memcmp(x, iq, 32));
  /* model, dimensions and text each change it; nothing else does */
  ce_entry_identity(&c, NULL, 0, h2, x);
  CHECK(memcmp(x, in, 32));
  c.dimensions = 256;
  ce_entry_identity(&c, NULL, 0, h, x);
  CHECK(memcmp(x, in, 32));
  c.dimensions = 0;
  strcpy(c.model, "jina-embeddings-v4");
  ce_entry_identity(&c, NULL, 0, h, x);
  CHECK(memcmp(x, in, 32));
  strcpy(c.model, "jina-embeddings-v3");
  strcpy(c.key_prefix, "other:");
  c.ttl = 5;
  ce_entry_identity(&c, NULL, 0, h, x);
  CHECK(!memcmp(x, in, 32));
}

static void test_settings(void) {
  ce_config c;
  char err[200];
  ce_config_defaults(&c);
  CHECK(!c.query_prefix[0] && !c.passage_prefix[0]); /* unset by default */
  CHECK(ce_config_set(&c, "query_prefix", "query: ", err, sizeof err) == 0);
  CHECK_STR(c.query_prefix, "query: ");
  CHECK(ce_config_set(&c, "passage-prefix",
                      "Represent this sentence for searching relevant "
                      "passages: ",
                      err, sizeof err) == 0);
  CHECK(ce_config_set(&c, "query_prefix", "caf\xe9", err, sizeof err) == -1);
  CHECK_STR(c.query_prefix, "query: "); /* a bad value changes nothing */
  CHECK(ce_config_set(&c, "task", "passage", err, sizeof err) == 0);
  CHECK(ce_config_set(&c, "task", "retrieval passage", err, sizeof err) == -1);
  CHECK_STR(c.task, "passage");
  /* the file keeps a quoted trailing space */
  ce_config_defaults(&c);
  const char *ini = "[cached_embed]\nquery_prefix = \"search_query: \"\n";
  CHECK(ce_config_parse_ini(&c, ini, strlen(ini), NULL, NULL, NULL) == 0);
  CHECK_STR(c.query_prefix, "search_query: ");
}

int main(void) {
  test_resolve();
  test_arg_check();
  test_wire_and_prefix();
  test_request_per_dialect();
  test_prefixed_text();
  test_identity();
  test_settings();
  return CHECK_DONE();
}
