/* A minimal stand-in for MySQL 8.x/9.x's <mysql/udf_registration_types.h>,
 * written for cached_embed from the documented loadable-function API (MySQL
 * Reference Manual, "Adding a Loadable Function": UDF_INIT, UDF_ARGS, the
 * Item_result codes and the entry point signatures). Not the server's file:
 * it declares only what the API documents, so the glue can be compiled the
 * MySQL way (bool / unsigned char flags) on a machine without MySQL.
 * Used by the compile test in tests/CMakeLists.txt; never installed. */
#ifndef CE_COMPAT_MYSQL_UDF_REGISTRATION_TYPES_H
#define CE_COMPAT_MYSQL_UDF_REGISTRATION_TYPES_H

#ifndef __cplusplus
#include <stdbool.h>
#endif

/* Type of an argument or of the result. */
enum Item_result {
  INVALID_RESULT = -1,
  STRING_RESULT = 0,
  REAL_RESULT,
  INT_RESULT,
  ROW_RESULT,
  DECIMAL_RESULT
};

/* The arguments of one call. */
typedef struct UDF_ARGS {
  unsigned int arg_count;          /* number of arguments */
  enum Item_result *arg_type;      /* type of each argument */
  char **args;                     /* pointer to each argument */
  unsigned long *lengths;          /* length of each string argument */
  char *maybe_null;                /* 1 where the argument may be NULL */
  char **attributes;               /* the argument's name / expression */
  unsigned long *attribute_lengths;
  void *extension;                 /* character set etc. (MySQL 8.0.19+) */
} UDF_ARGS;

/* Per-statement state, filled in by xxx_init. */
typedef struct UDF_INIT {
  bool maybe_null;          /* true if the function can return NULL */
  unsigned int decimals;    /* digits after the point */
  unsigned long max_length; /* longest result */
  char *ptr;                /* free for the function's own state */
  bool const_item;          /* true if the result is always the same */
  void *extension;
} UDF_INIT;

enum Item_udftype { UDFTYPE_FUNCTION = 1, UDFTYPE_AGGREGATE };

/* The entry points' signatures. */
typedef void (*Udf_func_clear)(UDF_INIT *, unsigned char *, unsigned char *);
typedef void (*Udf_func_add)(UDF_INIT *, UDF_ARGS *, unsigned char *,
                             unsigned char *);
typedef void (*Udf_func_deinit)(UDF_INIT *);
typedef bool (*Udf_func_init)(UDF_INIT *, UDF_ARGS *, char *);
typedef void (*Udf_func_any)(void);
typedef double (*Udf_func_double)(UDF_INIT *, UDF_ARGS *, unsigned char *,
                                  unsigned char *);
typedef long long (*Udf_func_longlong)(UDF_INIT *, UDF_ARGS *,
                                       unsigned char *, unsigned char *);
typedef char *(*Udf_func_string)(UDF_INIT *, UDF_ARGS *, char *,
                                 unsigned long *, unsigned char *,
                                 unsigned char *);

#endif
