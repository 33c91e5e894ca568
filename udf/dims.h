/* How long a vector of the configured model must be, so that a short or long
 * answer is refused even when a request holds a single input: the configured
 * `dimensions`, else the published size of well-known models, else the size
 * learned from this endpoint and model in this process.
 *
 * A learned size can change: when the model behind an endpoint is replaced
 * by one of another size, CE_DIMS_RELEARN consecutive well-formed answers
 * (each internally consistent) agreeing on the new size replace it, with one
 * log line. Until then answers of the other size are refused, so a single
 * bad answer never changes it. A configured or published size never
 * changes. */
#ifndef CE_DIMS_H
#define CE_DIMS_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define CE_DIMS_RELEARN 3

/* The expected length, or 0 when not known yet. */
uint32_t ce_dims_expected(const ce_config *cfg);

/* The configured or published length (never changes), or 0. */
uint32_t ce_dims_fixed(const ce_config *cfg);

/* Judges the length of a well-formed answer (all its vectors `dims` long):
 * 0 = accepted (learned when first seen, or the learned size replaced
 * after CE_DIMS_RELEARN agreeing answers), -1 = refused with
 * "expected E dimensions, got D" in err. Thread-safe. */
int ce_dims_check(const ce_config *cfg, uint32_t dims, char *err,
                  size_t errlen);

#endif
