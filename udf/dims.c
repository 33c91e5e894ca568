#include "dims.h"

#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *model;
  uint32_t dims;
} KNOWN[] = {
    {"jina-embeddings-v2-base-en", 768},
    {"jina-embeddings-v2-base-de", 768},
    {"jina-embeddings-v2-base-es", 768},
    {"jina-embeddings-v2-base-zh", 768},
    {"jina-embeddings-v2-base-code", 768},
    {"jina-embeddings-v2-small-en", 512},
    {"jina-embeddings-v3", 1024},
    {"jina-embeddings-v4", 2048},
    {"jina-clip-v2", 1024},
    {"text-embedding-3-small", 1536},
    {"text-embedding-3-large", 3072},
    {"text-embedding-ada-002", 1536},
    {"nomic-embed-text", 768},
    {"all-minilm", 384},
};

#define LEARNED_MAX 32

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char id[sizeof(((ce_config *)0)->endpoint) + sizeof(((ce_config *)0)->model)];
  uint32_t dims;
  uint32_t candidate; /* another size seen in the latest answers */
  unsigned votes;     /* consecutive answers of that size */
} learned[LEARNED_MAX];
static int n_learned;

/* Published sizes; 0 for a model not in the table. */
static uint32_t known(const char *model) {
  for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
    if (!strcmp(KNOWN[i].model, model))
      return KNOWN[i].dims;
  return 0;
}

uint32_t ce_dims_fixed(const ce_config *cfg) {
  if (cfg->dimensions)
    return (uint32_t)cfg->dimensions;
  return known(cfg->model);
}

static void make_id(const ce_config *cfg, char *id, size_t cap) {
  snprintf(id, cap, "%s %s", cfg->endpoint, cfg->model);
}

/* The slot of `id`, or -1. Called with `mu` held. */
static int find(const char *id) {
  for (int i = 0; i < n_learned; i++)
    if (!strcmp(learned[i].id, id))
      return i;
  return -1;
}

uint32_t ce_dims_expected(const ce_config *cfg) {
  char id[sizeof learned[0].id];
  uint32_t d = ce_dims_fixed(cfg);

  if (d)
    return d;
  make_id(cfg, id, sizeof id);
  pthread_mutex_lock(&mu);
  int i = find(id);
  if (i >= 0)
    d = learned[i].dims;
  pthread_mutex_unlock(&mu);
  return d;
}

int ce_dims_check(const ce_config *cfg, uint32_t dims, char *err,
                  size_t errlen) {
  char id[sizeof learned[0].id];
  uint32_t fixed = ce_dims_fixed(cfg), was = 0;
  int rc = 0;

  if (fixed) {
    if (dims == fixed)
      return 0;
    snprintf(err, errlen, "expected %u dimensions, got %u", fixed, dims);
    return -1;
  }
  make_id(cfg, id, sizeof id);
  pthread_mutex_lock(&mu);
  int i = find(id);
  if (i < 0) {
    if (n_learned < LEARNED_MAX) {
      memcpy(learned[n_learned].id, id, sizeof id);
      learned[n_learned].dims = dims;
      learned[n_learned].candidate = 0;
      learned[n_learned++].votes = 0;
    }
  } else if (learned[i].dims == dims) {
    learned[i].votes = 0;
  } else {
    if (learned[i].candidate != dims) {
      learned[i].candidate = dims;
      learned[i].votes = 0;
    }
    if (++learned[i].votes >= CE_DIMS_RELEARN) {
      was = learned[i].dims;
      learned[i].dims = dims;
      learned[i].votes = 0;
    } else {
      snprintf(err, errlen, "expected %u dimensions, got %u", learned[i].dims,
               dims);
      rc = -1;
    }
  }
  pthread_mutex_unlock(&mu);
  if (was)
    ce_log("model '%.100s' now answers %u dimensions (was %u): %d answers in "
           "a row agreed; vectors cached at %u are embedded again",
           cfg->model, dims, was, CE_DIMS_RELEARN, was);
  return rc;
}
