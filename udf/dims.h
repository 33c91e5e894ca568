/* How long a vector of the configured model must be, so that a short or long
 * answer is refused even when a request holds a single input: the configured
 * `dimensions`, else the published size of well-known models, else the size
 * first seen from this endpoint and model in this process. */
#ifndef CE_DIMS_H
#define CE_DIMS_H

#include "config.h"

#include <stdint.h>

/* The expected length, or 0 when not known yet. */
uint32_t ce_dims_expected(const ce_config *cfg);

/* Records the length of a valid answer (first one wins). */
void ce_dims_learn(const ce_config *cfg, uint32_t dims);

/* Published sizes; 0 for a model not in the table. */
uint32_t ce_dims_known(const char *model);

#endif
