/* Drives a sanitizer build of cached_embed.so the way the server does:
 * dlopen, then from 8 threads at once, several "statements" each:
 * cached_embed_init with a fresh UDF_ARGS/UDF_INIT, the row function for
 * every row (reusing the statement's buffers), cached_embed_deinit. Rows
 * include NULL and blank texts, and a provider fault is injected while the
 * threads run. Every non-NULL result must equal the expected vector.
 *
 *   driver SO TEXTS EXPECTED DIMS FAULT_URL
 * TEXTS: one text a line; EXPECTED: their vectors, DIMS float32 each.
 * CACHED_EMBED_CONFIG must name the config of the servers under test.
 * Exit 0 when all is well, 1 on a wrong vector, 2 on a usage problem. */
#include "udf_compat.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define STATEMENTS 4

typedef ce_udf_bool (*init_fn)(UDF_INIT *, UDF_ARGS *, char *);
typedef void (*deinit_fn)(UDF_INIT *);
typedef char *(*row_fn)(UDF_INIT *, UDF_ARGS *, char *, unsigned long *,
                        ce_udf_flag *, ce_udf_flag *);

static init_fn f_init;
static deinit_fn f_deinit;
static row_fn f_row;

static char **texts;
static size_t n_texts;
static uint8_t *expected;
static size_t dims;
static char key_prefix[64];

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long rows_total, rows_null, rows_wrong, rows_special_bad, init_fail;

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b) {
    b[n] = '\0';
    *len = (size_t)n;
  }
  return b;
}

/* One row as the server calls it: args point at the row's values. */
static int call_row(UDF_INIT *init, UDF_ARGS *args, const char *key,
                    const char *text, size_t text_len, const uint8_t *want) {
  char result[766];
  unsigned long length = 0;
  ce_udf_flag is_null = 0, error = 0;
  args->args[0] = (char *)key;
  args->lengths[0] = strlen(key);
  args->args[1] = (char *)text;
  args->lengths[1] = text ? text_len : 0;
  char *out = f_row(init, args, result, &length, &is_null, &error);
  if (error)
    return -1;
  if (!want) /* NULL or blank text: must be NULL */
    return is_null ? 0 : -2;
  if (is_null)
    return 1;
  if (!out || length != dims * 4 || memcmp(out, want, dims * 4))
    return -1;
  return 0;
}

static void *worker(void *arg) {
  long id = (long)arg;
  long total = 0, nulls = 0, wrong = 0, special_bad = 0, ifail = 0;
  for (int stmt = 0; stmt < STATEMENTS; stmt++) {
    enum Item_result types[3] = {STRING_RESULT, STRING_RESULT, INT_RESULT};
    char *argv[3] = {NULL, NULL, NULL};
    unsigned long lengths[3] = {0, 0, 0};
    char maybe_null[3] = {1, 1, 1};
    const char *attrs[3] = {"key", "body", "ttl"};
    unsigned long attr_len[3] = {3, 4, 3};
    long long ttl = 600;
    UDF_ARGS args = {.arg_count = stmt == 2 ? 3 : 2, .arg_type = types,
                     .args = argv, .lengths = lengths,
                     .maybe_null = maybe_null, .attributes = attrs,
                     .attribute_lengths = attr_len, .extension = NULL};
    UDF_INIT init;
    char message[MYSQL_ERRMSG_SIZE] = "";
    memset(&init, 0, sizeof init);
    init.max_length = 766;
    if (f_init(&init, &args, message)) {
      fprintf(stderr, "driver: init failed: %s\n", message);
      ifail++;
      continue;
    }
    if (stmt == 2) {
      argv[2] = (char *)&ttl;
      lengths[2] = sizeof ttl;
    }
    for (size_t k = 0; k < n_texts + 4; k++) {
      /* each thread walks the rows in its own order; all share the keys */
      size_t i = (k * 7 + (size_t)id * 13) % (n_texts + 4);
      char key[96];
      int rc;
      if (i >= n_texts) {
        static const char *const blank[] = {"", "   ", "\t\n"};
        snprintf(key, sizeof key, "%sspecial", key_prefix);
        rc = i == n_texts ? call_row(&init, &args, key, NULL, 0, NULL)
                          : call_row(&init, &args, key, blank[i - n_texts - 1],
                                     strlen(blank[i - n_texts - 1]), NULL);
        if (rc)
          special_bad++;
      } else {
        snprintf(key, sizeof key, "%s%zu", key_prefix, i);
        rc = call_row(&init, &args, key, texts[i], strlen(texts[i]),
                      expected + i * dims * 4);
        if (rc == 1)
          nulls++;
        else if (rc)
          wrong++;
      }
      total++;
    }
    f_deinit(&init);
  }
  pthread_mutex_lock(&mu);
  rows_total += total;
  rows_null += nulls;
  rows_wrong += wrong;
  rows_special_bad += special_bad;
  init_fail += ifail;
  pthread_mutex_unlock(&mu);
  return NULL;
}

static size_t discard(char *p, size_t s, size_t n, void *u) {
  (void)p;
  (void)u;
  return s * n;
}

/* POSTs a fault to the embedding server's control API. */
static int inject_fault(const char *url, const char *json) {
  CURL *c = curl_easy_init();
  long status = 0;
  if (!c)
    return -1;
  struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  return rc == CURLE_OK && status == 200 ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: driver SO TEXTS EXPECTED DIMS FAULT_URL\n");
    return 2;
  }
  size_t tlen, elen;
  char *tbuf = slurp(argv[2], &tlen);
  expected = (uint8_t *)slurp(argv[3], &elen);
  dims = (size_t)strtoul(argv[4], NULL, 10);
  if (!tbuf || !expected || !dims) {
    fprintf(stderr, "driver: cannot read %s / %s\n", argv[2], argv[3]);
    return 2;
  }
  for (char *p = tbuf; *p; p++)
    n_texts += *p == '\n';
  texts = calloc(n_texts, sizeof *texts);
  char *save = NULL, *line = strtok_r(tbuf, "\n", &save);
  for (size_t i = 0; line && i < n_texts; i++, line = strtok_r(NULL, "\n", &save))
    texts[i] = line;
  if (elen != n_texts * dims * 4) {
    fprintf(stderr, "driver: %zu texts but %zu bytes of vectors\n", n_texts, elen);
    return 2;
  }
  snprintf(key_prefix, sizeof key_prefix, "san%ld:", (long)getpid());

  curl_global_init(CURL_GLOBAL_DEFAULT);
  void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!so) {
    fprintf(stderr, "driver: dlopen: %s\n", dlerror());
    return 2;
  }
  f_init = (init_fn)dlsym(so, "cached_embed_init");
  f_deinit = (deinit_fn)dlsym(so, "cached_embed_deinit");
  f_row = (row_fn)dlsym(so, "cached_embed");
  if (!f_init || !f_deinit || !f_row) {
    fprintf(stderr, "driver: entry points missing\n");
    return 2;
  }

  /* A wrong argument count must be refused with the signature. */
  {
    UDF_ARGS a;
    UDF_INIT in;
    char msg[MYSQL_ERRMSG_SIZE] = "";
    memset(&a, 0, sizeof a);
    memset(&in, 0, sizeof in);
    if (!f_init(&in, &a, msg) || !strstr(msg, "expects 2 or 3 arguments")) {
      fprintf(stderr, "driver: init accepted 0 arguments\n");
      return 1;
    }
  }

  /* a provider fault for the first 4 attempts, which the threads race for */
  int fault_ok = inject_fault(argv[5], "{\"faults\":[{\"status\":500,\"count\":4}]}");
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++)
    pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);

  dlclose(so);
  curl_global_cleanup();
  printf("driver: threads=%d rows=%ld null=%ld wrong=%ld special_bad=%ld "
         "init_failed=%ld fault_injected=%s\n",
         THREADS, rows_total, rows_null, rows_wrong, rows_special_bad,
         init_fail, fault_ok ? "no" : "yes");
  free(texts);
  free(tbuf);
  free(expected);
  /* at most the 4 failing attempts' rows may be NULL */
  return rows_wrong || rows_special_bad || init_fail || rows_null > 4 ||
                 fault_ok
             ? 1
             : 0;
}
