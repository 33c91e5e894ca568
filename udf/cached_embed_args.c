/* The glue's shared _init / _deinit steps (udf_args.h). */
#include "udf_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int ce_udf_message(char *message, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, MYSQL_ERRMSG_SIZE, fmt, ap);
  va_end(ap);
  return -1;
}

void ce_udf_arg_types(UDF_ARGS *args, const char *types) {
  for (unsigned i = 0; i < args->arg_count && types[i]; i++) {
    if (types[i] == 's')
      args->arg_type[i] = STRING_RESULT;
    else if (types[i] == 'i')
      args->arg_type[i] = INT_RESULT;
  }
}

int ce_udf_args(UDF_ARGS *args, unsigned min, unsigned max, const char *types,
                const char *signature, char *message) {
  unsigned got = args->arg_count;
  if (got >= min && got <= max) {
    ce_udf_arg_types(args, types);
    return 0;
  }
  if (max == 0)
    return ce_udf_message(message, "%s expects no arguments, got %u", signature,
                          got);
  if (min == max)
    return ce_udf_message(message, "%s expects %u argument%s, got %u",
                          signature, min, min == 1 ? "" : "s", got);
  if (max == min + 1)
    return ce_udf_message(message, "%s expects %u or %u arguments, got %u",
                          signature, min, max, got);
  return ce_udf_message(message, "%s takes %u to %u arguments, got %u",
                        signature, min, max, got);
}

int ce_udf_buf_init(UDF_INIT *initid, const char *fn, char *message) {
  ce_udf_buf *b = calloc(1, sizeof *b);
  if (!b)
    return ce_udf_message(message, "%s: out of memory", fn);
  initid->ptr = (char *)b;
  return 0;
}

void ce_udf_buf_deinit(UDF_INIT *initid) {
  ce_udf_buf *b = (ce_udf_buf *)initid->ptr;
  if (!b)
    return;
  free(b->buf);
  free(b);
  initid->ptr = NULL;
}
