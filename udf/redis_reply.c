/* RESP replies: hiredis's reader with our own reply objects (bounded), and
 * the few answers the layer reads itself. No I/O. */
#include "redis_private.h"

#include <hiredis/hiredis.h> /* HIREDIS_MAJOR */
#include <stdlib.h>
#include <string.h>

/* hiredis >= 1.0 (Ubuntu 24.04, EPEL 9) counts array elements in a size_t
 * and parses RESP3 types too (doubles and booleans get their own
 * callbacks); 0.14 (Debian 12) counts in an int. */
#if HIREDIS_MAJOR >= 1
typedef size_t elements_t;
#else
typedef int elements_t;
#endif

static ce_redis_reply *new_reply(const redisReadTask *task, int type) {
  ce_redis_reply *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->type = type;
  if (task->parent) {
    ce_redis_reply *parent = task->parent->obj;
    if (!parent || parent->type != CE_REPLY_ARRAY || task->idx < 0 ||
        (size_t)task->idx >= parent->elements) {
      free(r);
      return NULL;
    }
    parent->element[task->idx] = r;
  }
  return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len) {
  char *copy = malloc(len + 1);
  ce_redis_reply *r;
  if (!copy)
    return NULL;
  r = new_reply(task, task->type);
  if (!r) {
    free(copy);
    return NULL;
  }
  memcpy(copy, str, len);
  copy[len] = '\0';
  r->str = copy;
  r->len = len;
  return r;
}

static void *create_array(const redisReadTask *task, elements_t elements) {
  ce_redis_reply *r;
  if ((long long)elements < 0 || (long long)elements > CE_REDIS_MAX_ELEMENTS)
    return NULL; /* the reader reports it as an error */
  r = new_reply(task, CE_REPLY_ARRAY);
  if (!r)
    return NULL;
  if (elements > 0) {
    r->element = calloc((size_t)elements, sizeof *r->element);
    if (!r->element) {
      if (task->parent)
        ((ce_redis_reply *)task->parent->obj)->element[task->idx] = NULL;
      free(r);
      return NULL;
    }
  }
  r->elements = (size_t)elements;
  return r;
}

static void *create_integer(const redisReadTask *task, long long value) {
  ce_redis_reply *r = new_reply(task, CE_REPLY_INTEGER);
  if (r)
    r->integer = value;
  return r;
}

static void *create_nil(const redisReadTask *task) {
  return new_reply(task, CE_REPLY_NIL);
}

#if HIREDIS_MAJOR >= 1
/* RESP3 only: a RESP2 server never sends these; kept as text / integer so
 * that whatever arrives is an object of ours. */
static void *create_double(const redisReadTask *task, double value, char *str,
                           size_t len) {
  (void)value;
  ce_redis_reply *r = create_string(task, str, len);
  if (r)
    r->type = CE_REPLY_STATUS;
  return r;
}

static void *create_bool(const redisReadTask *task, int value) {
  return create_integer(task, value != 0);
}
#endif

void ce_reply_free(ce_redis_reply *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->elements; i++)
    ce_reply_free(r->element[i]);
  free(r->element);
  free(r->str);
  free(r);
}

static void free_object(void *r) { ce_reply_free(r); }

static redisReplyObjectFunctions reply_fns = {.createString = create_string,
                                              .createArray = create_array,
                                              .createInteger = create_integer,
#if HIREDIS_MAJOR >= 1
                                              .createDouble = create_double,
                                              .createBool = create_bool,
#endif
                                              .createNil = create_nil,
                                              .freeObject = free_object};

redisReader *ce_reply_reader_new(void) {
  return redisReaderCreateWithFunctions(&reply_fns);
}

int ce_reply_error_is(const ce_redis_reply *r, const char *code) {
  size_t n = strlen(code);
  return r && r->type == CE_REPLY_ERROR && r->len >= n &&
         !memcmp(r->str, code, n) && (r->len == n || r->str[n] == ' ');
}

/* A decimal number 0..max from s, advancing it; -1 when there is none. */
static long read_number(const char **s, long max) {
  long v = 0;
  const char *p = *s;
  if (*p < '0' || *p > '9')
    return -1;
  for (; *p >= '0' && *p <= '9'; p++)
    if ((v = v * 10 + (*p - '0')) > max)
      return -1;
  *s = p;
  return v;
}

/* "host:port" (the last colon: IPv6 addresses come without brackets). */
static int parse_addr(const char *s, size_t len, ce_redis_host *to) {
  const char *colon = NULL;
  for (size_t i = 0; i < len; i++)
    if (s[i] == ':')
      colon = s + i;
  if (!colon || (size_t)(colon - s) >= sizeof to->host ||
      memchr(s, '\0', (size_t)(colon - s)))
    return -1;
  const char *p = colon + 1;
  long port = read_number(&p, 65535);
  if (port < 1 || p != s + len)
    return -1;
  memcpy(to->host, s, (size_t)(colon - s));
  to->host[colon - s] = '\0';
  to->port = (int)port;
  return 0;
}

int ce_reply_redirect(const ce_redis_reply *r, int *ask, int *slot,
                      ce_redis_host *to) {
  const char *p;
  if (ce_reply_error_is(r, "MOVED") && r->len > 6)
    *ask = 0, p = r->str + 6;
  else if (ce_reply_error_is(r, "ASK") && r->len > 4)
    *ask = 1, p = r->str + 4;
  else
    return -1;
  long s = read_number(&p, CE_REDIS_SLOTS - 1);
  if (s < 0 || *p != ' ')
    return -1;
  *slot = (int)s;
  p++;
  return parse_addr(p, r->len - (size_t)(p - r->str), to);
}

static int as_slot(const ce_redis_reply *r) {
  return r && r->type == CE_REPLY_INTEGER && r->integer >= 0 &&
                 r->integer < CE_REDIS_SLOTS
             ? (int)r->integer
             : -1;
}

/* [host, port, id, ...] of a CLUSTER SLOTS range. */
static int slot_node(const ce_redis_reply *n, ce_redis_host *h) {
  if (!n || n->type != CE_REPLY_ARRAY || n->elements < 2 || !n->element[0] ||
      n->element[0]->type != CE_REPLY_STRING || !n->element[1] ||
      n->element[1]->type != CE_REPLY_INTEGER ||
      n->element[0]->len >= sizeof h->host ||
      memchr(n->element[0]->str, '\0', n->element[0]->len) ||
      n->element[1]->integer < 1 || n->element[1]->integer > 65535)
    return -1;
  memcpy(h->host, n->element[0]->str, n->element[0]->len + 1);
  if (!strcmp(h->host, "?"))
    h->host[0] = '\0'; /* unknown endpoint: the node that answered */
  h->port = (int)n->element[1]->integer;
  return 0;
}

int ce_reply_slots(const ce_redis_reply *r,
                   void (*each)(void *ctx, int first, int last,
                                const ce_redis_host *master),
                   void *ctx) {
  if (!r || r->type != CE_REPLY_ARRAY)
    return -1;
  for (size_t i = 0; i < r->elements; i++) {
    const ce_redis_reply *e = r->element[i];
    ce_redis_host h;
    if (!e || e->type != CE_REPLY_ARRAY || e->elements < 3)
      return -1;
    int first = as_slot(e->element[0]), last = as_slot(e->element[1]);
    if (first < 0 || last < first || slot_node(e->element[2], &h))
      return -1;
    each(ctx, first, last, &h);
  }
  return (int)r->elements;
}

int ce_reply_master_addr(const ce_redis_reply *r, ce_redis_host *out) {
  if (!r || r->type != CE_REPLY_ARRAY || r->elements != 2 || !r->element[0] ||
      r->element[0]->type != CE_REPLY_STRING || !r->element[1] ||
      r->element[1]->type != CE_REPLY_STRING || !r->element[0]->len ||
      r->element[0]->len >= sizeof out->host ||
      memchr(r->element[0]->str, '\0', r->element[0]->len))
    return -1;
  const char *p = r->element[1]->str;
  long port = read_number(&p, 65535);
  if (port < 1 || *p)
    return -1;
  memcpy(out->host, r->element[0]->str, r->element[0]->len + 1);
  out->port = (int)port;
  return 0;
}

int ce_reply_role_is_master(const ce_redis_reply *r) {
  return r && r->type == CE_REPLY_ARRAY && r->elements >= 1 && r->element[0] &&
         r->element[0]->type == CE_REPLY_STRING &&
         !strcmp(r->element[0]->str, "master");
}
