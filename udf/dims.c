#include "dims.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *model;
  uint32_t dims;
} KNOWN[] = {
    {"jina-embeddings-v2-base-en", 768}, {"jina-embeddings-v2-base-de", 768},
    {"jina-embeddings-v2-base-es", 768}, {"jina-embeddings-v2-base-zh", 768},
    {"jina-embeddings-v2-base-code", 768}, {"jina-embeddings-v2-small-en", 512},
    {"jina-embeddings-v3", 1024},        {"jina-embeddings-v4", 2048},
    {"jina-clip-v2", 1024},              {"text-embedding-3-small", 1536},
    {"text-embedding-3-large", 3072},    {"text-embedding-ada-002", 1536},
    {"nomic-embed-text", 768},           {"all-minilm", 384},
};

#define LEARNED_MAX 32

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char id[sizeof(((ce_config *)0)->endpoint) + sizeof(((ce_config *)0)->model)];
  uint32_t dims;
} learned[LEARNED_MAX];
static int n_learned;

uint32_t ce_dims_known(const char *model) {
  for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++)
    if (!strcmp(KNOWN[i].model, model))
      return KNOWN[i].dims;
  return 0;
}

static void make_id(const ce_config *cfg, char *id, size_t cap) {
  snprintf(id, cap, "%s %s", cfg->endpoint, cfg->model);
}

uint32_t ce_dims_expected(const ce_config *cfg) {
  char id[sizeof learned[0].id];
  uint32_t d = 0;

  if (cfg->dimensions)
    return (uint32_t)cfg->dimensions;
  if ((d = ce_dims_known(cfg->model)))
    return d;
  make_id(cfg, id, sizeof id);
  pthread_mutex_lock(&mu);
  for (int i = 0; i < n_learned; i++)
    if (!strcmp(learned[i].id, id))
      d = learned[i].dims;
  pthread_mutex_unlock(&mu);
  return d;
}

void ce_dims_learn(const ce_config *cfg, uint32_t dims) {
  char id[sizeof learned[0].id];

  if (cfg->dimensions || ce_dims_known(cfg->model))
    return;
  make_id(cfg, id, sizeof id);
  pthread_mutex_lock(&mu);
  int found = 0;
  for (int i = 0; i < n_learned; i++)
    found |= !strcmp(learned[i].id, id);
  if (!found && n_learned < LEARNED_MAX) {
    memcpy(learned[n_learned].id, id, sizeof id);
    learned[n_learned++].dims = dims;
  }
  pthread_mutex_unlock(&mu);
}
