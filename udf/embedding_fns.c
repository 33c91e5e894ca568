/* The vector helpers over float32 BLOBs (the layout cached_embed returns):
 *   embedding_cosine(a, b)  REAL     cosine similarity in [-1, 1]
 *   embedding_dims(v)       INTEGER  number of float32 values
 *   embedding_to_json(v)    STRING   "[v0,v1,...]", shortest round-trip text,
 *                                    accepted by VEC_FromText /
 * STRING_TO_VECTOR NULL in, a BLOB whose length is 0 or not a multiple of 4 or
 * over CE_MAX_DIMS floats, differing lengths or a zero-norm vector (cosine)
 * give NULL (is_null), never *error. */
#include "udf_args.h"
#include "udf_entry_points.h"

#include "config.h"
#include "grow.h"
#include "vector.h"

#include <stdint.h>

#define COSINE_SIGNATURE "embedding_cosine(a, b)"
#define DIMS_SIGNATURE "embedding_dims(v)"
#define JSON_SIGNATURE "embedding_to_json(v)"

/* The number of float32 values in argument i, or 0 when it is NULL, its
 * length is not a positive multiple of 4, or it holds more than CE_MAX_DIMS
 * values (no vector is that long: a bigger BLOB is not one, and its text
 * would take 16 bytes a value). */
static size_t vec_dims(UDF_ARGS *args, unsigned i) {
  if (!args->args[i])
    return 0;
  unsigned long len = args->lengths[i];
  if (len == 0 || len % 4 || len / 4 > CE_MAX_DIMS)
    return 0;
  return (size_t)(len / 4);
}

/* ---- embedding_cosine(a, b) ---- */

CE_EXPORT ce_udf_bool embedding_cosine_init(UDF_INIT *initid, UDF_ARGS *args,
                                            char *message) {
  /* Every argument is read as a binary string. */
  if (ce_udf_args(args, 2, 2, "ss", COSINE_SIGNATURE, message))
    return 1;
  initid->maybe_null = 1;
  initid->decimals = 31; /* NOT_FIXED_DEC: no fixed number of decimals */
  initid->max_length = 24;
  initid->const_item = 0;
  initid->ptr = NULL;
  return 0;
}

CE_EXPORT void embedding_cosine_deinit(UDF_INIT *initid) { (void)initid; }

CE_EXPORT double embedding_cosine(UDF_INIT *initid, UDF_ARGS *args,
                                  ce_udf_flag *is_null, ce_udf_flag *error) {
  (void)initid;
  (void)error;
  size_t da = vec_dims(args, 0), db = vec_dims(args, 1);
  double c;
  if (!da || da != db ||
      ce_vec_cosine((const uint8_t *)args->args[0],
                    (const uint8_t *)args->args[1], da, &c)) {
    *is_null = 1;
    return 0.0;
  }
  *is_null = 0;
  return c;
}

/* ---- embedding_dims(v) ---- */

CE_EXPORT ce_udf_bool embedding_dims_init(UDF_INIT *initid, UDF_ARGS *args,
                                          char *message) {
  if (ce_udf_args(args, 1, 1, "s", DIMS_SIGNATURE, message))
    return 1;
  initid->maybe_null = 1;
  initid->max_length = 11;
  initid->const_item = 0;
  initid->ptr = NULL;
  return 0;
}

CE_EXPORT void embedding_dims_deinit(UDF_INIT *initid) { (void)initid; }

CE_EXPORT long long embedding_dims(UDF_INIT *initid, UDF_ARGS *args,
                                   ce_udf_flag *is_null, ce_udf_flag *error) {
  (void)initid;
  (void)error;
  size_t d = vec_dims(args, 0);
  if (!d) {
    *is_null = 1;
    return 0;
  }
  *is_null = 0;
  return (long long)d;
}

/* ---- embedding_to_json(v) ---- */

CE_EXPORT ce_udf_bool embedding_to_json_init(UDF_INIT *initid, UDF_ARGS *args,
                                             char *message) {
  if (ce_udf_args(args, 1, 1, "s", JSON_SIGNATURE, message) ||
      ce_udf_buf_init(initid, "embedding_to_json", message))
    return 1;
  initid->maybe_null = 1;
  initid->const_item = 0;
  /* Longest text of the longest vector cached_embed can return. */
  initid->max_length = (unsigned long)ce_vec_json_cap(CE_MAX_DIMS);
  return 0;
}

CE_EXPORT void embedding_to_json_deinit(UDF_INIT *initid) {
  ce_udf_buf_deinit(initid);
}

CE_EXPORT char *embedding_to_json(UDF_INIT *initid, UDF_ARGS *args,
                                  char *result, unsigned long *length,
                                  ce_udf_flag *is_null, ce_udf_flag *error) {
  ce_udf_buf *st = (ce_udf_buf *)initid->ptr; /* the row's text */
  size_t d = vec_dims(args, 0);
  (void)result;
  (void)error;
  *is_null = 1;
  if (!d)
    return NULL;
  if (ce_grow(&st->buf, &st->cap, ce_vec_json_cap(d)))
    return NULL;
  size_t n =
      ce_vec_to_json((const uint8_t *)args->args[0], d, st->buf, st->cap);
  if (!n)
    return NULL;
  *is_null = 0;
  *length = (unsigned long)n;
  return st->buf;
}
