/* Drives a sanitizer build of cached_embed.so the way the server does:
 * dlopen, then from 8 threads at once, several "statements" each: _init with
 * a fresh UDF_ARGS/UDF_INIT, the row function for every row (reusing the
 * statement's buffers), _deinit. Phases, each with its own keys:
 *  1. cached_embed: rows include NULL and blank texts, and a provider fault
 *     is injected while the threads run; every non-NULL result must equal
 *     the expected vector. One statement in four passes the task argument
 *     (`passage`: the configured Jina v2 model takes no task, so the same
 *     vectors under other keys).
 *  2. the aggregate cached_embed_warm (_init, per group _clear, _add per row,
 *     the result, _deinit), local cache off: groups of a few hundred rows
 *     with duplicates, NULL and blank texts and NULL keys, keys shared
 *     across threads. Each group's result must be its number of non-NULL,
 *     non-blank rows; afterwards cached_embed must give every warmed row its
 *     expected vector without a single cache miss.
 *  3. the same with the local cache on (a budget small enough to evict),
 *     half the threads warming and half calling cached_embed on the same
 *     keys at once.
 *  4. embedding_cosine, embedding_dims, embedding_to_json, cached_embed_stats
 *     on the expected vectors, NULL and a 5-byte BLOB; cached_embed_query
 *     on some texts (their expected vectors, as above).
 *  5. concurrent misses, the provider slowed to 50 ms: all threads at once
 *     on the same 40 texts (two of them warming the texts with keys of
 *     their own), then each on 12 texts of its own. Every vector must be
 *     right, none NULL, and the provider must have been sent each text
 *     once (single-flight, shared requests).
 * The config (CACHED_EMBED_CONFIG, written by run_driver.py with small
 * batch and parallel) gets a local_cache_mb line appended before phase 3.
 *
 *   driver SO TEXTS EXPECTED DIMS FAULT_URL
 * TEXTS: one text a line (the last FLIGHT_TEXTS for phase 5 only);
 * EXPECTED: their vectors, DIMS float32 each.
 * CACHED_EMBED_CONFIG must name the config of the servers under test.
 * Exit 0 when all is well, 1 on a wrong result (a line says which), 2 on a
 * usage problem. */
#define _GNU_SOURCE /* memmem, strndup */
#include "udf_compat.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define FLIGHT_SAME 40     /* phase 5: texts every thread misses at once */
#define FLIGHT_DISTINCT 12 /* phase 5: texts of each thread's own */
#define FLIGHT_TEXTS (FLIGHT_SAME + THREADS * FLIGHT_DISTINCT)
#define STATEMENTS 4
#define WARM_STATEMENTS 2
#define WARM_GROUPS 2
#define GROUP_ROWS 300
#define VEC_ROWS 40

typedef ce_udf_bool (*init_fn)(UDF_INIT *, UDF_ARGS *, char *);
typedef void (*deinit_fn)(UDF_INIT *);
typedef char *(*str_fn)(UDF_INIT *, UDF_ARGS *, char *, unsigned long *,
                        ce_udf_flag *, ce_udf_flag *);
typedef long long (*int_fn)(UDF_INIT *, UDF_ARGS *, ce_udf_flag *,
                            ce_udf_flag *);
typedef double (*real_fn)(UDF_INIT *, UDF_ARGS *, ce_udf_flag *, ce_udf_flag *);
typedef void (*clear_fn)(UDF_INIT *, ce_udf_flag *, ce_udf_flag *);
typedef void (*add_fn)(UDF_INIT *, UDF_ARGS *, ce_udf_flag *, ce_udf_flag *);

/* One SQL function's entry points. */
typedef struct {
  init_fn init;
  deinit_fn deinit;
  void *row;
  clear_fn clear; /* aggregates */
  add_fn add;
} udf;

static udf u_embed, u_query, u_warm, u_cosine, u_dims, u_json, u_stats;

static char **texts;
static size_t n_texts;
static uint8_t *expected;
static char **flight_texts; /* phase 5's texts, after the others' */
static uint8_t *flight_expected;
static size_t dims;
static char key_prefix[64], warm_prefix[64], local_prefix[64];
/* rows a warm phase queued: bit 1 = with its key, bit 2 = with a NULL key */
static unsigned char *warmed;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long rows_total, rows_null, rows_wrong, rows_special_bad, init_fail;
static long warm_groups, warm_rows, warm_bad, verify_rows, verify_bad;
static long fn_rows, fn_bad;

static void add_counts(long *dst, long n) {
  pthread_mutex_lock(&mu);
  *dst += n;
  pthread_mutex_unlock(&mu);
}

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

/* A statement's UDF_ARGS of n arguments over its own arrays. */
typedef struct {
  enum Item_result types[5];
  char *argv[5];
  unsigned long lengths[5];
  char maybe_null[5];
  const char *attrs[5];
  unsigned long attr_len[5];
  UDF_ARGS args;
  UDF_INIT init;
  char message[MYSQL_ERRMSG_SIZE];
} stmt;

static void stmt_prepare(stmt *s, unsigned n) {
  static const char *const names[5] = {"a", "b", "c", "d", "e"};
  memset(s, 0, sizeof *s);
  for (int i = 0; i < 5; i++) {
    s->types[i] = STRING_RESULT;
    s->maybe_null[i] = 1;
    s->attrs[i] = names[i];
    s->attr_len[i] = 1;
  }
  s->args = (UDF_ARGS){.arg_count = n,
                       .arg_type = s->types,
                       .args = s->argv,
                       .lengths = s->lengths,
                       .maybe_null = s->maybe_null,
                       .attributes = s->attrs,
                       .attribute_lengths = s->attr_len,
                       .extension = NULL};
  s->init.max_length = 766;
}

static void set_arg(stmt *s, int i, const void *v, size_t len) {
  s->argv[i] = (char *)v;
  s->lengths[i] = v ? len : 0;
}

/* ---- phase 1 and 3: cached_embed rows ---- */

/* One row as the server calls it: args point at the row's values. */
static int call_row(UDF_INIT *init, UDF_ARGS *args, const char *key,
                    const char *text, size_t text_len, const uint8_t *want) {
  char result[766];
  unsigned long length = 0;
  ce_udf_flag is_null = 0, error = 0;
  args->args[0] = (char *)key;
  args->lengths[0] = key ? strlen(key) : 0;
  args->args[1] = (char *)text;
  args->lengths[1] = text ? text_len : 0;
  char *out =
      ((str_fn)u_embed.row)(init, args, result, &length, &is_null, &error);
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

static void row_statements(long id, const char *prefix, int statements) {
  long total = 0, nulls = 0, wrong = 0, special_bad = 0, ifail = 0;
  for (int st = 0; st < statements; st++) {
    enum Item_result types[4] = {STRING_RESULT, STRING_RESULT, INT_RESULT,
                                 STRING_RESULT};
    char *argv[4] = {NULL, NULL, NULL, NULL};
    unsigned long lengths[4] = {0, 0, 0, 0};
    char maybe_null[4] = {1, 1, 1, 1};
    const char *attrs[4] = {"key", "body", "ttl", "task"};
    unsigned long attr_len[4] = {3, 4, 3, 4};
    long long ttl = 600;
    UDF_ARGS args = {.arg_count = st == 2   ? 3
                                  : st == 3 ? 4
                                            : 2,
                     .arg_type = types,
                     .args = argv,
                     .lengths = lengths,
                     .maybe_null = maybe_null,
                     .attributes = attrs,
                     .attribute_lengths = attr_len,
                     .extension = NULL};
    UDF_INIT init;
    char message[MYSQL_ERRMSG_SIZE] = "";
    memset(&init, 0, sizeof init);
    init.max_length = 766;
    if (u_embed.init(&init, &args, message)) {
      fprintf(stderr, "driver: cached_embed_init failed: %s\n", message);
      ifail++;
      continue;
    }
    if (st == 2) {
      argv[2] = (char *)&ttl;
      lengths[2] = sizeof ttl;
    }
    if (st == 3) { /* ttl NULL: the configured one */
      argv[3] = (char *)"passage";
      lengths[3] = 7;
    }
    for (size_t k = 0; k < n_texts + 4; k++) {
      /* each thread walks the rows in its own order; all share the keys */
      size_t i = (k * 7 + (size_t)id * 13) % (n_texts + 4);
      char key[96];
      int rc;
      if (i >= n_texts) {
        static const char *const blank[] = {"", "   ", "\t\n"};
        snprintf(key, sizeof key, "%sspecial", prefix);
        rc = i == n_texts ? call_row(&init, &args, key, NULL, 0, NULL)
                          : call_row(&init, &args, key, blank[i - n_texts - 1],
                                     strlen(blank[i - n_texts - 1]), NULL);
        if (rc) {
          fprintf(stderr, "driver: %s: NULL/blank text gave a vector\n", key);
          special_bad++;
        }
      } else {
        snprintf(key, sizeof key, "%s%zu", prefix, i);
        rc = call_row(&init, &args, key, texts[i], strlen(texts[i]),
                      expected + i * dims * 4);
        if (rc == 1)
          nulls++;
        else if (rc) {
          fprintf(stderr, "driver: %s: wrong vector\n", key);
          wrong++;
        }
      }
      total++;
    }
    u_embed.deinit(&init);
  }
  pthread_mutex_lock(&mu);
  rows_total += total;
  rows_null += nulls;
  rows_wrong += wrong;
  rows_special_bad += special_bad;
  init_fail += ifail;
  pthread_mutex_unlock(&mu);
}

static void *row_worker(void *arg) {
  row_statements((long)arg, key_prefix, STATEMENTS);
  return NULL;
}

/* ---- phase 2 and 3: the aggregate cached_embed_warm ---- */

/* One group (clear, add per row, result) with rows chosen from the thread,
 * statement and group numbers; fails loudly when the result is not the
 * number of non-NULL, non-blank rows. */
static void warm_group(stmt *s, const char *prefix, long id, int st, int g) {
  static const char *const blank[] = {"", "  ", "\t\r\n "};
  ce_udf_flag is_null = 0, error = 0;
  long want = 0;
  size_t idx = 0;
  char key[96];

  u_warm.clear(&s->init, &is_null, &error);
  for (size_t j = 0; j < GROUP_ROWS; j++) {
    if (j % 37 == 5 || j % 41 == 7) { /* a NULL or a blank text */
      snprintf(key, sizeof key, "%sspecial", prefix);
      set_arg(s, 0, key, strlen(key));
      if (j % 37 == 5)
        set_arg(s, 1, NULL, 0);
      else
        set_arg(s, 1, blank[j % 3], strlen(blank[j % 3]));
    } else {
      /* every 10th row repeats the one before; keys overlap across threads */
      if (j % 10 != 9)
        idx = ((size_t)id * 131 + (size_t)st * 53 + (size_t)g * 29 + j * 7) %
              n_texts;
      int null_key = j % 23 == 11;
      snprintf(key, sizeof key, "%s%zu", prefix, idx);
      set_arg(s, 0, null_key ? NULL : key, strlen(key));
      set_arg(s, 1, texts[idx], strlen(texts[idx]));
      __atomic_fetch_or(&warmed[idx], null_key ? 2 : 1, __ATOMIC_RELAXED);
      want++;
    }
    u_warm.add(&s->init, &s->args, &is_null, &error);
    if (error) {
      fprintf(stderr,
              "driver: warm thread %ld stmt %d group %d row %zu: "
              "add set *error\n",
              id, st, g, j);
      add_counts(&warm_bad, 1);
    }
  }
  is_null = 0;
  long long got = ((int_fn)u_warm.row)(&s->init, &s->args, &is_null, &error);
  if (error || is_null || got != want) {
    fprintf(stderr,
            "driver: warm thread %ld stmt %d group %d: result %lld "
            "(null=%d error=%d), want %ld\n",
            id, st, g, got, is_null, error, want);
    add_counts(&warm_bad, 1);
  }
  add_counts(&warm_groups, 1);
  add_counts(&warm_rows, GROUP_ROWS);
}

static void warm_statements(long id, const char *prefix) {
  for (int st = 0; st < WARM_STATEMENTS; st++) {
    stmt *s = malloc(sizeof *s);
    if (!s)
      abort();
    stmt_prepare(s, 2);
    if (u_warm.init(&s->init, &s->args, s->message)) {
      fprintf(stderr, "driver: cached_embed_warm_init failed: %s\n",
              s->message);
      add_counts(&init_fail, 1);
      free(s);
      continue;
    }
    for (int g = 0; g < WARM_GROUPS; g++)
      warm_group(s, prefix, id, st, g);
    u_warm.deinit(&s->init);
    free(s);
  }
}

static void *warm_worker(void *arg) {
  warm_statements((long)arg, warm_prefix);
  return NULL;
}

/* Phase 3: even threads warm, odd threads read the same keys row by row. */
static void *mixed_worker(void *arg) {
  long id = (long)arg;
  if (id % 2)
    row_statements(id, local_prefix, 2);
  else
    warm_statements(id, local_prefix);
  return NULL;
}

/* cached_embed on every warmed row (its key and/or a NULL key); thread id
 * takes the rows i % THREADS == id. */
static const char *verify_prefix;

static void *verify_worker(void *arg) {
  long id = (long)arg, rows = 0, bad = 0;
  stmt *s = malloc(sizeof *s);
  if (!s)
    abort();
  stmt_prepare(s, 2);
  if (u_embed.init(&s->init, &s->args, s->message)) {
    fprintf(stderr, "driver: cached_embed_init failed: %s\n", s->message);
    add_counts(&verify_bad, 1);
    free(s);
    return NULL;
  }
  for (size_t i = (size_t)id; i < n_texts; i += THREADS) {
    char key[96];
    snprintf(key, sizeof key, "%s%zu", verify_prefix, i);
    for (int bit = 1; bit <= 2; bit++) {
      if (!(warmed[i] & bit))
        continue;
      rows++;
      if (call_row(&s->init, &s->args, bit == 1 ? key : NULL, texts[i],
                   strlen(texts[i]), expected + i * dims * 4)) {
        fprintf(stderr,
                "driver: warmed row %s%s: cached_embed gave no or a "
                "wrong vector\n",
                bit == 1 ? "" : "(NULL key) ", key);
        bad++;
      }
    }
  }
  u_embed.deinit(&s->init);
  free(s);
  add_counts(&verify_rows, rows);
  add_counts(&verify_bad, bad);
  return NULL;
}

/* ---- phase 4: vector helpers and stats ---- */

static void fn_fail(long id, const char *what) {
  fprintf(stderr, "driver: thread %ld: %s\n", id, what);
  add_counts(&fn_bad, 1);
}

static double ref_cosine(const uint8_t *a, const uint8_t *b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t k = 0; k < dims; k++) {
    float x, y;
    memcpy(&x, a + 4 * k, 4);
    memcpy(&y, b + 4 * k, 4);
    dot += (double)x * y;
    na += (double)x * x;
    nb += (double)y * y;
  }
  return dot / (sqrt(na) * sqrt(nb));
}

/* 0 when text[0..len) is "[f0,f1,...]" with exactly the floats of vec. */
static int json_matches(const char *text, size_t len, const uint8_t *vec) {
  char *copy = malloc(len + 1), *p, *end;
  int rc = -1;
  if (!copy)
    return -1;
  memcpy(copy, text, len);
  copy[len] = '\0';
  p = copy;
  if (*p++ != '[')
    goto out;
  for (size_t k = 0; k < dims; k++) {
    float want, got = strtof(p, &end);
    memcpy(&want, vec + 4 * k, 4);
    if (end == p || got != want)
      goto out;
    p = end;
    if (*p != (k + 1 < dims ? ',' : ']'))
      goto out;
    p++;
  }
  rc = *p ? -1 : 0;
out:
  free(copy);
  return rc;
}

static void *fn_worker(void *arg) {
  long id = (long)arg, rows = 0;
  static const uint8_t five[5] = {1, 2, 3, 4, 5};
  stmt *c = malloc(sizeof *c), *d = malloc(sizeof *d), *j = malloc(sizeof *j),
       *t = malloc(sizeof *t), *q = malloc(sizeof *q);
  if (!c || !d || !j || !t || !q)
    abort();
  for (int round = 0; round < 3; round++) {
    stmt_prepare(c, 2);
    stmt_prepare(d, 1);
    stmt_prepare(j, 1);
    stmt_prepare(t, 0);
    stmt_prepare(q, 1);
    if (u_cosine.init(&c->init, &c->args, c->message) ||
        u_dims.init(&d->init, &d->args, d->message) ||
        u_json.init(&j->init, &j->args, j->message) ||
        u_stats.init(&t->init, &t->args, t->message) ||
        u_query.init(&q->init, &q->args, q->message)) {
      /* the ones that did succeed leak here; the run fails anyway */
      fn_fail(id, "an init of the vector helpers or stats failed");
      break;
    }
    for (size_t r = 0; r < VEC_ROWS; r++) {
      size_t a = ((size_t)id * 61 + (size_t)round * 17 + r * 11) % n_texts;
      size_t b = (a + 1 + r) % n_texts;
      const uint8_t *va = expected + a * dims * 4,
                    *vb = expected + b * dims * 4;
      ce_udf_flag is_null, error = 0;
      char result[766], msg[160];
      unsigned long length;
      double cs;
      long long n;
      char *out;
      rows++;

      /* cosine: itself, another vector, NULL, 5 bytes, differing lengths */
      set_arg(c, 0, va, dims * 4);
      set_arg(c, 1, va, dims * 4);
      is_null = 1;
      cs = ((real_fn)u_cosine.row)(&c->init, &c->args, &is_null, &error);
      if (is_null || error || fabs(cs - 1.0) > 1e-6) {
        snprintf(msg, sizeof msg,
                 "embedding_cosine(v%zu, v%zu) = %.9f "
                 "(null=%d), want 1",
                 a, a, cs, is_null);
        fn_fail(id, msg);
      }
      set_arg(c, 1, vb, dims * 4);
      is_null = 1;
      cs = ((real_fn)u_cosine.row)(&c->init, &c->args, &is_null, &error);
      double want = ref_cosine(va, vb);
      if (is_null || error || fabs(cs - want) > 1e-6) {
        snprintf(msg, sizeof msg,
                 "embedding_cosine(v%zu, v%zu) = %.9f "
                 "(null=%d), want %.9f",
                 a, b, cs, is_null, want);
        fn_fail(id, msg);
      }
      for (int k = 0; k < 3; k++) {
        if (k == 0)
          set_arg(c, r % 2, NULL, 0);
        else if (k == 1)
          set_arg(c, r % 2, five, sizeof five);
        else
          set_arg(c, r % 2, va, (dims - 1) * 4);
        is_null = 0;
        ((real_fn)u_cosine.row)(&c->init, &c->args, &is_null, &error);
        if (!is_null || error) {
          snprintf(msg, sizeof msg,
                   "embedding_cosine with a %s argument is "
                   "not NULL",
                   k == 0   ? "NULL"
                   : k == 1 ? "5-byte"
                            : "shorter");
          fn_fail(id, msg);
        }
        set_arg(c, 0, va, dims * 4);
        set_arg(c, 1, vb, dims * 4);
      }

      /* dims */
      set_arg(d, 0, va, dims * 4);
      is_null = 1;
      n = ((int_fn)u_dims.row)(&d->init, &d->args, &is_null, &error);
      if (is_null || error || n != (long long)dims) {
        snprintf(msg, sizeof msg,
                 "embedding_dims(v%zu) = %lld (null=%d), "
                 "want %zu",
                 a, n, is_null, dims);
        fn_fail(id, msg);
      }
      for (int k = 0; k < 2; k++) {
        set_arg(d, 0, k ? (const void *)five : NULL, k ? sizeof five : 0);
        is_null = 0;
        ((int_fn)u_dims.row)(&d->init, &d->args, &is_null, &error);
        if (!is_null || error)
          fn_fail(id, k ? "embedding_dims of 5 bytes is not NULL"
                        : "embedding_dims(NULL) is not NULL");
      }

      /* to_json */
      set_arg(j, 0, va, dims * 4);
      is_null = 1;
      length = 0;
      out = ((str_fn)u_json.row)(&j->init, &j->args, result, &length, &is_null,
                                 &error);
      if (is_null || error || !out || json_matches(out, length, va)) {
        snprintf(msg, sizeof msg,
                 "embedding_to_json(v%zu) does not parse "
                 "back to its floats (null=%d, %lu bytes)",
                 a, is_null, length);
        fn_fail(id, msg);
      }
      for (int k = 0; k < 2; k++) {
        set_arg(j, 0, k ? (const void *)five : NULL, k ? sizeof five : 0);
        is_null = 0;
        ((str_fn)u_json.row)(&j->init, &j->args, result, &length, &is_null,
                             &error);
        if (!is_null || error)
          fn_fail(id, k ? "embedding_to_json of 5 bytes is not NULL"
                        : "embedding_to_json(NULL) is not NULL");
      }

      /* stats */
      is_null = 1;
      length = 0;
      out = ((str_fn)u_stats.row)(&t->init, &t->args, result, &length, &is_null,
                                  &error);
      if (is_null || error || !out || length < 2 || out[0] != '{' ||
          out[length - 1] != '}' || !memmem(out, length, "\"circuit\"", 9))
        fn_fail(id, "cached_embed_stats() is not a JSON object with "
                    "\"circuit\"");

      /* the query form: no task reaches a Jina v2 model, no prefix is set */
      if (r % 4 == 0) {
        set_arg(q, 0, texts[a], strlen(texts[a]));
        is_null = 1;
        length = 0;
        out = ((str_fn)u_query.row)(&q->init, &q->args, result, &length,
                                    &is_null, &error);
        if (is_null || error || !out || length != dims * 4 ||
            memcmp(out, va, dims * 4)) {
          snprintf(msg, sizeof msg,
                   "cached_embed_query(text %zu) is not its "
                   "vector (null=%d, %lu bytes)",
                   a, is_null, length);
          fn_fail(id, msg);
        }
      }
    }
    u_query.deinit(&q->init);
    u_cosine.deinit(&c->init);
    u_dims.deinit(&d->init);
    u_json.deinit(&j->init);
    u_stats.deinit(&t->init);
  }
  free(c);
  free(d);
  free(j);
  free(t);
  free(q);
  add_counts(&fn_rows, rows);
  return NULL;
}

/* A counter of cached_embed_stats(), or -1. */
static long long stat_value(const char *name) {
  stmt *s = malloc(sizeof *s);
  long long v = -1;
  char pat[64], result[766];
  unsigned long length = 0;
  ce_udf_flag is_null = 0, error = 0;
  if (!s)
    return -1;
  stmt_prepare(s, 0);
  if (!u_stats.init(&s->init, &s->args, s->message)) {
    char *out = ((str_fn)u_stats.row)(&s->init, &s->args, result, &length,
                                      &is_null, &error);
    snprintf(pat, sizeof pat, "\"%s\":", name);
    if (out && !is_null) {
      char *copy = strndup(out, length), *p = copy ? strstr(copy, pat) : NULL;
      if (p)
        v = strtoll(p + strlen(pat), NULL, 10);
      free(copy);
    }
    u_stats.deinit(&s->init);
  }
  free(s);
  return v;
}

/* ---- main ---- */

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
  struct curl_slist *h =
      curl_slist_append(NULL, "Content-Type: application/json");
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

static void run_threads(void *(*fn)(void *)) {
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++)
    if (pthread_create(&t[i], NULL, fn, (void *)i)) {
      fprintf(stderr, "driver: pthread_create failed\n");
      exit(2);
    }
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
}

/* Warms with `prefix` (fn runs the threads), then checks every warmed row
 * with cached_embed: no cache miss may happen while checking. */
static long verify_misses;

static void warm_phase(void *(*fn)(void *), const char *prefix) {
  memset(warmed, 0, n_texts);
  run_threads(fn);
  long long before = stat_value("misses");
  verify_prefix = prefix;
  run_threads(verify_worker);
  long long after = stat_value("misses");
  if (before < 0 || after < 0 || after != before) {
    fprintf(stderr,
            "driver: checking the warmed rows of %s missed the cache "
            "%lld times (stats %lld -> %lld)\n",
            prefix, after - before, before, after);
    verify_misses += before < 0 || after < 0 ? 1 : after - before;
  }
}

/* ---- phase 5: concurrent misses (single-flight, shared requests) ---- */

static pthread_barrier_t flight_start;
static char flight_prefix[64];
static long flight_rows, flight_null, flight_wrong, flight_warm_bad;

/* Rows `first` .. `first + n`, one statement; keys of this thread's own
 * when `own_keys`, else the keys all threads use. */
static void flight_rows_of(long id, const char *tag, size_t first, size_t n,
                           int own_keys) {
  stmt *s = malloc(sizeof *s);
  long rows = 0, nulls = 0, wrong = 0;
  if (!s)
    abort();
  stmt_prepare(s, 2);
  if (u_embed.init(&s->init, &s->args, s->message)) {
    fprintf(stderr, "driver: cached_embed_init failed: %s\n", s->message);
    add_counts(&init_fail, 1);
    free(s);
    return;
  }
  for (size_t i = first; i < first + n; i++) {
    char key[128];
    snprintf(key, sizeof key, "%s%s:%ld:%zu", flight_prefix, tag,
             own_keys ? id : -1L, i);
    int rc = call_row(&s->init, &s->args, key, flight_texts[i],
                      strlen(flight_texts[i]), flight_expected + i * dims * 4);
    rows++;
    if (rc == 1)
      nulls++;
    else if (rc) {
      fprintf(stderr, "driver: %s: wrong vector\n", key);
      wrong++;
    }
  }
  u_embed.deinit(&s->init);
  free(s);
  add_counts(&flight_rows, rows);
  add_counts(&flight_null, nulls);
  add_counts(&flight_wrong, wrong);
}

/* The same texts warmed with this thread's own keys, one group. */
static void flight_warm(long id) {
  stmt *s = malloc(sizeof *s);
  ce_udf_flag is_null = 0, error = 0;
  if (!s)
    abort();
  stmt_prepare(s, 2);
  if (u_warm.init(&s->init, &s->args, s->message)) {
    add_counts(&init_fail, 1);
    free(s);
    return;
  }
  u_warm.clear(&s->init, &is_null, &error);
  char key[128];
  for (size_t i = 0; i < FLIGHT_SAME; i++) {
    snprintf(key, sizeof key, "%swarm:%ld:%zu", flight_prefix, id, i);
    set_arg(s, 0, key, strlen(key));
    set_arg(s, 1, flight_texts[i], strlen(flight_texts[i]));
    u_warm.add(&s->init, &s->args, &is_null, &error);
  }
  long long got = ((int_fn)u_warm.row)(&s->init, &s->args, &is_null, &error);
  if (got != FLIGHT_SAME) {
    fprintf(stderr,
            "driver: concurrent warm-up of thread %ld cached %lld "
            "rows, want %d\n",
            id, got, FLIGHT_SAME);
    add_counts(&flight_warm_bad, 1);
  }
  u_warm.deinit(&s->init);
  free(s);
  /* and read back with its keys: every row a hit */
  for (size_t i = 0; i < FLIGHT_SAME; i++) {
    stmt r;
    stmt_prepare(&r, 2);
    if (u_embed.init(&r.init, &r.args, r.message))
      continue;
    snprintf(key, sizeof key, "%swarm:%ld:%zu", flight_prefix, id, i);
    if (call_row(&r.init, &r.args, key, flight_texts[i],
                 strlen(flight_texts[i]), flight_expected + i * dims * 4)) {
      fprintf(stderr, "driver: %s: not the vector after the warm-up\n", key);
      add_counts(&flight_warm_bad, 1);
    }
    u_embed.deinit(&r.init);
  }
}

/* All threads at once: the same texts (rows with the same keys, two
 * threads warming them with keys of their own: one entry identity, several
 * keys), then each thread's own texts. */
static void *flight_worker(void *arg) {
  long id = (long)arg;
  pthread_barrier_wait(&flight_start);
  if (id >= THREADS - 2)
    flight_warm(id);
  else
    flight_rows_of(id, "same", 0, FLIGHT_SAME, 0);
  pthread_barrier_wait(&flight_start);
  flight_rows_of(id, "own", FLIGHT_SAME + (size_t)id * FLIGHT_DISTINCT,
                 FLIGHT_DISTINCT, 1);
  return NULL;
}

/* Returns the provider inputs the phase made (-1: stats unreadable). */
static long long flight_phase(const char *config_url) {
  snprintf(flight_prefix, sizeof flight_prefix,
           "sanflight%ld:", (long)getpid());
  /* a provider slow enough that the threads' misses overlap */
  inject_fault(config_url, "{\"latency_ms\": 50}");
  pthread_barrier_init(&flight_start, NULL, THREADS);
  long long before = stat_value("provider_inputs");
  run_threads(flight_worker);
  long long after = stat_value("provider_inputs");
  pthread_barrier_destroy(&flight_start);
  inject_fault(config_url, "{\"latency_ms\": 0}");
  return before < 0 || after < 0 ? -1 : after - before;
}

/* Every init refuses a wrong argument count and names its signature. */
static int check_arg_counts(void) {
  static const struct {
    udf *f;
    unsigned n;
    const char *want;
  } cases[] = {
      {&u_embed, 0,
       "cached_embed(key, text [, ttl_seconds [, task]]) "
       "takes 2 to 4 arguments"},
      {&u_embed, 5, "takes 2 to 4 arguments, got 5"},
      {&u_query, 2, "cached_embed_query(text) expects 1 argument"},
      {&u_warm, 1,
       "cached_embed_warm(key, text [, task]) expects 2 or 3 "
       "arguments"},
      {&u_cosine, 1, "embedding_cosine(a, b) expects 2 arguments"},
      {&u_dims, 2, "embedding_dims(v) expects 1 argument"},
      {&u_json, 0, "embedding_to_json(v) expects 1 argument"},
      {&u_stats, 1, "cached_embed_stats() expects no arguments"},
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    stmt s;
    stmt_prepare(&s, cases[i].n);
    if (!cases[i].f->init(&s.init, &s.args, s.message) ||
        !strstr(s.message, cases[i].want)) {
      fprintf(stderr, "driver: init with %u arguments: got '%s', want '%s'\n",
              cases[i].n, s.message, cases[i].want);
      bad++;
    }
  }
  return bad;
}

static int load(void *so, udf *f, const char *name, int aggregate) {
  char sym[64];
  snprintf(sym, sizeof sym, "%s_init", name);
  f->init = (init_fn)dlsym(so, sym);
  snprintf(sym, sizeof sym, "%s_deinit", name);
  f->deinit = (deinit_fn)dlsym(so, sym);
  f->row = dlsym(so, name);
  if (aggregate) {
    snprintf(sym, sizeof sym, "%s_clear", name);
    f->clear = (clear_fn)dlsym(so, sym);
    snprintf(sym, sizeof sym, "%s_add", name);
    f->add = (add_fn)dlsym(so, sym);
  }
  if (!f->init || !f->deinit || !f->row ||
      (aggregate && (!f->clear || !f->add))) {
    fprintf(stderr, "driver: entry points of %s missing\n", name);
    return -1;
  }
  return 0;
}

/* Appends a line to the plugin's config and waits until it is re-read (the
 * plugin looks at most once a second). */
static int config_append(const char *line) {
  const char *path = getenv("CACHED_EMBED_CONFIG");
  FILE *f = path ? fopen(path, "a") : NULL;
  if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f)) {
    fprintf(stderr, "driver: cannot append to the config %s\n",
            path ? path : "(CACHED_EMBED_CONFIG unset)");
    return -1;
  }
  usleep(1200 * 1000);
  return 0;
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
  warmed = calloc(n_texts, 1);
  char *save = NULL, *line = strtok_r(tbuf, "\n", &save);
  for (size_t i = 0; line && i < n_texts;
       i++, line = strtok_r(NULL, "\n", &save))
    texts[i] = line;
  if (elen != n_texts * dims * 4 || n_texts <= FLIGHT_TEXTS) {
    fprintf(stderr, "driver: %zu texts but %zu bytes of vectors\n", n_texts,
            elen);
    return 2;
  }
  /* the last FLIGHT_TEXTS texts are phase 5's alone: embedded by no other
   * phase, so that each must be paid exactly once there */
  n_texts -= FLIGHT_TEXTS;
  flight_texts = texts + n_texts;
  flight_expected = expected + n_texts * dims * 4;
  snprintf(key_prefix, sizeof key_prefix, "san%ld:", (long)getpid());
  snprintf(warm_prefix, sizeof warm_prefix, "sanwarm%ld:", (long)getpid());
  snprintf(local_prefix, sizeof local_prefix, "sanlocal%ld:", (long)getpid());

  curl_global_init(CURL_GLOBAL_DEFAULT);
  void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!so) {
    fprintf(stderr, "driver: dlopen: %s\n", dlerror());
    return 2;
  }
  if (load(so, &u_embed, "cached_embed", 0) ||
      load(so, &u_query, "cached_embed_query", 0) ||
      load(so, &u_warm, "cached_embed_warm", 1) ||
      load(so, &u_cosine, "embedding_cosine", 0) ||
      load(so, &u_dims, "embedding_dims", 0) ||
      load(so, &u_json, "embedding_to_json", 0) ||
      load(so, &u_stats, "cached_embed_stats", 0))
    return 2;

  int args_bad = check_arg_counts();

  /* phase 1: a provider fault for the first 4 attempts, which the threads
   * race for */
  int fault_ok =
      inject_fault(argv[5], "{\"faults\":[{\"status\":500,\"count\":4}]}");
  run_threads(row_worker);

  /* phase 2: warm-up, local cache off (as run_driver.py configures it) */
  long long inputs0 = stat_value("provider_inputs");
  long long requests0 = stat_value("provider_requests");
  warm_phase(warm_worker, warm_prefix);
  long long inputs1 = stat_value("provider_inputs");
  long long requests1 = stat_value("provider_requests");

  /* phase 3: local cache on, small enough to evict; warm-up and rows */
  int cfg_bad = config_append("local_cache_mb = 2");
  warm_phase(mixed_worker, local_prefix);
  long long local_hits = stat_value("hits_local");

  /* phase 4: vector helpers and stats */
  run_threads(fn_worker);

  /* phase 5: concurrent misses of the same and of distinct texts: each
   * text paid once, every vector right */
  char config_url[512];
  snprintf(config_url, sizeof config_url, "%.*sconfig",
           (int)(strlen(argv[5]) - strlen("faults")), argv[5]);
  long long flight_inputs = flight_phase(config_url);
  long long flight_want = FLIGHT_SAME + (long long)THREADS * FLIGHT_DISTINCT;
  long long shared = stat_value("shared_requests"),
            waited = stat_value("waited");

  dlclose(so);
  curl_global_cleanup();
  printf("driver: threads=%d rows=%ld null=%ld wrong=%ld special_bad=%ld "
         "init_failed=%ld fault_injected=%s\n",
         THREADS, rows_total, rows_null, rows_wrong, rows_special_bad,
         init_fail, fault_ok ? "no" : "yes");
  printf("driver: warm groups=%ld rows=%ld bad=%ld; warm-up phase 2 sent %lld "
         "inputs in %lld requests; checked rows=%ld bad=%ld misses=%ld; "
         "local hits=%lld\n",
         warm_groups, warm_rows, warm_bad, inputs1 - inputs0,
         requests1 - requests0, verify_rows, verify_bad, verify_misses,
         local_hits);
  printf("driver: vector helper rows=%ld bad=%ld; bad arg-count inits=%d\n",
         fn_rows, fn_bad, args_bad);
  printf("driver: concurrent misses: rows=%ld null=%ld wrong=%ld warm bad=%ld; "
         "provider inputs %lld for %lld distinct texts; shared requests "
         "%lld, waited %lld\n",
         flight_rows, flight_null, flight_wrong, flight_warm_bad, flight_inputs,
         flight_want, shared, waited);
  free(texts);
  free(tbuf);
  free(expected);
  free(warmed);
  /* NULL only for the one request the 4 failing attempts can fail: the
   * rows in it and those waiting for its texts, at most one a thread */
  return rows_wrong || rows_special_bad || init_fail || rows_null > THREADS ||
                 flight_null || flight_wrong || flight_warm_bad ||
                 flight_inputs != flight_want || fault_ok || warm_bad ||
                 verify_bad || verify_misses || !verify_rows || fn_bad ||
                 !fn_rows || args_bad || cfg_bad || local_hits <= 0
             ? 1
             : 0;
}
