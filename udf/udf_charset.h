/* The character set a text argument arrives in, as far as the server can
 * tell: MySQL 8.0.19+ converts an argument to utf8mb4 when asked in _init
 * (component service mysql_udf_metadata, reached through the plugin
 * registry); MariaDB has no such service, and there (or when the service is
 * missing at run time) the `charset` setting decides. Glue only: it sees
 * UDF_ARGS. */
#ifndef CE_UDF_CHARSET_H
#define CE_UDF_CHARSET_H

#include "text.h"
#include "udf_compat.h"

/* Call from _init, after the argument's type is set to STRING_RESULT. Asks
 * the server to hand argument `index` over in utf8mb4 and returns
 * CE_CHARSET_UTF8MB4 when it agreed; else (MariaDB, an older MySQL, a
 * binary argument, which has no character set to convert from) returns
 * `setting`. */
ce_charset ce_udf_text_charset(UDF_ARGS *args, unsigned index,
                               ce_charset setting);

#endif
