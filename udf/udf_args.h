/* What every glue file's _init and _deinit do alike: check the argument
 * count against the function's signature, set the types the server
 * converts the arguments to, write the message the server shows, and keep
 * a result buffer reused row after row. Glue only: it sees UDF_ARGS. */
#ifndef CE_UDF_ARGS_H
#define CE_UDF_ARGS_H

#include "udf_compat.h"

#include <stddef.h>

/* Writes the message of a failing _init (MYSQL_ERRMSG_SIZE bytes, lower
 * case, no trailing period); returns -1. */
int ce_udf_message(char *message, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets the type the server converts each present argument to, one letter
 * per position: 's' a string, 'i' an integer, '-' as given; arguments past
 * the end of `types` stay as given. */
void ce_udf_arg_types(UDF_ARGS *args, const char *types);

/* When `signature` (e.g. "embedding_dims(v)") is called with min..max
 * arguments: sets their types (ce_udf_arg_types) and returns 0. Else -1
 * with "<signature> expects no arguments / expects 1 argument / expects 2
 * or 3 arguments / takes 2 to 4 arguments, got N" in message. */
int ce_udf_args(UDF_ARGS *args, unsigned min, unsigned max, const char *types,
                const char *signature, char *message);

/* A result buffer in initid->ptr, grown as rows need (grow.h). */
typedef struct ce_udf_buf {
  char *buf;
  size_t cap;
} ce_udf_buf;

/* Puts a new empty ce_udf_buf in initid->ptr: 0, or -1 with "<fn>: out of
 * memory" in message. */
int ce_udf_buf_init(UDF_INIT *initid, const char *fn, char *message);

/* Frees the ce_udf_buf in initid->ptr (if any). */
void ce_udf_buf_deinit(UDF_INIT *initid);

#endif
