/* Every symbol the library exports: the UDF entry points the server looks up
 * by name. Each glue file defines its own; sql/install.sql creates them. */
#ifndef CE_UDF_ENTRY_POINTS_H
#define CE_UDF_ENTRY_POINTS_H

#include "udf_compat.h"

#define CE_DECLARE_INIT(fn)                                                    \
  CE_EXPORT ce_udf_bool fn##_init(UDF_INIT *initid, UDF_ARGS *args,            \
                                  char *message);                              \
  CE_EXPORT void fn##_deinit(UDF_INIT *initid);                                \
  CE_CHECK_ENTRY(fn##_init, Udf_func_init);                                    \
  CE_CHECK_ENTRY(fn##_deinit, Udf_func_deinit)

#define CE_DECLARE_STRING_FN(fn)                                               \
  CE_DECLARE_INIT(fn);                                                         \
  CE_EXPORT char *fn(UDF_INIT *initid, UDF_ARGS *args, char *result,           \
                     unsigned long *length, ce_udf_flag *is_null,              \
                     ce_udf_flag *error);                                      \
  CE_CHECK_ENTRY(fn, Udf_func_string)

#define CE_DECLARE_INT_FN(fn)                                                  \
  CE_DECLARE_INIT(fn);                                                         \
  CE_EXPORT long long fn(UDF_INIT *initid, UDF_ARGS *args,                     \
                         ce_udf_flag *is_null, ce_udf_flag *error);            \
  CE_CHECK_ENTRY(fn, Udf_func_longlong)

#define CE_DECLARE_REAL_FN(fn)                                                 \
  CE_DECLARE_INIT(fn);                                                         \
  CE_EXPORT double fn(UDF_INIT *initid, UDF_ARGS *args, ce_udf_flag *is_null,  \
                      ce_udf_flag *error);                                     \
  CE_CHECK_ENTRY(fn, Udf_func_double)

/* Aggregates add clear and add to an INT function. */
#define CE_DECLARE_AGGREGATE_PARTS(fn)                                         \
  CE_EXPORT void fn##_clear(UDF_INIT *initid, ce_udf_flag *is_null,            \
                            ce_udf_flag *error);                               \
  CE_EXPORT void fn##_add(UDF_INIT *initid, UDF_ARGS *args,                    \
                          ce_udf_flag *is_null, ce_udf_flag *error);           \
  CE_CHECK_ENTRY(fn##_clear, Udf_func_clear);                                  \
  CE_CHECK_ENTRY(fn##_add, Udf_func_add)

CE_DECLARE_STRING_FN(cached_embed);
CE_DECLARE_STRING_FN(cached_embed_query);
CE_DECLARE_INT_FN(cached_embed_warm);
CE_DECLARE_AGGREGATE_PARTS(cached_embed_warm);
CE_DECLARE_REAL_FN(embedding_cosine);
CE_DECLARE_INT_FN(embedding_dims);
CE_DECLARE_STRING_FN(embedding_to_json);
CE_DECLARE_STRING_FN(cached_embed_stats);

#endif
