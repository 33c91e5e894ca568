#include "task.h"

#include <stdio.h>
#include <string.h>

typedef enum { ROLE_OTHER, ROLE_QUERY, ROLE_PASSAGE } role;

static int is(const char *s, size_t len, const char *word) {
  return len == strlen(word) && !memcmp(s, word, len);
}

/* Both dialects' words for the two sides of a search. */
static role role_of(const char *s, size_t len) {
  if (is(s, len, "query") || is(s, len, "retrieval.query"))
    return ROLE_QUERY;
  if (is(s, len, "passage") || is(s, len, "retrieval.passage"))
    return ROLE_PASSAGE;
  return ROLE_OTHER;
}

/* The start of `name` (cap - 1 bytes at most) with every byte that is not
 * printable ASCII as '?': fit for a message. */
static void printable(const char *name, size_t len, char *out, size_t cap) {
  size_t n = 0;
  for (; n < len && n + 1 < cap; n++)
    out[n] = name[n] >= 0x20 && name[n] < 0x7f ? name[n] : '?';
  out[n] = '\0';
}

/* Why `name` is no task name, with as much of it as is printable. */
static void bad_name(const char *name, size_t len, char *err, size_t errlen) {
  char shown[41];
  printable(name, len, shown, sizeof shown);
  snprintf(err, errlen,
           "task must be 1 to %d letters, digits, '.', '-' or '_', got '%s'%s",
           CE_TASK_MAX, shown, len >= sizeof shown ? "..." : "");
}

int ce_task_resolve(const ce_config *cfg, const char *name, size_t len,
                    char *out, char *err, size_t errlen) {
  int jina = cfg->provider == CE_DIALECT_JINA;
  if (!name) {
    name = cfg->task;
    len = strlen(cfg->task);
  }
  out[0] = '\0';
  if (!len)
    return 0;
  if (!ce_task_name_valid(name, len)) {
    bad_name(name, len, err, errlen);
    return -1;
  }
  switch (role_of(name, len)) {
  case ROLE_QUERY:
    strcpy(out, jina ? "retrieval.query" : "query");
    break;
  case ROLE_PASSAGE:
    strcpy(out, jina ? "retrieval.passage" : "passage");
    break;
  default:
    memcpy(out, name, len);
    out[len] = '\0';
  }
  return 0;
}

int ce_task_arg_check(int is_string, const char *value, size_t len,
                      const char *signature, const char *fn, char *msg,
                      size_t cap) {
  if (!is_string) {
    snprintf(msg, cap, "%s: task is not a string", signature);
    return -1;
  }
  if (value && len && !ce_task_name_valid(value, len)) {
    char shown[17];
    printable(value, len, shown, sizeof shown);
    snprintf(msg, cap, "%s: task '%s%s' is not letters, digits, . - _", fn,
             shown, len >= sizeof shown ? "..." : "");
    return -1;
  }
  return 0;
}

const char *ce_task_wire(const ce_config *cfg) {
  if (cfg->provider != CE_DIALECT_JINA || !cfg->task[0])
    return NULL;
  if (!strncmp(cfg->model, "jina-embeddings-v2-", 19))
    return NULL;
  if (!strcmp(cfg->model, "jina-clip-v2") &&
      strcmp(cfg->task, "retrieval.query"))
    return NULL;
  return cfg->task;
}

const char *ce_task_prefix(const ce_config *cfg) {
  if (ce_task_wire(cfg))
    return "";
  switch (role_of(cfg->task, strlen(cfg->task))) {
  case ROLE_QUERY:
    return cfg->query_prefix;
  case ROLE_PASSAGE:
    return cfg->passage_prefix;
  default:
    return "";
  }
}
