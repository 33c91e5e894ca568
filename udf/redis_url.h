/* redis://[[user]:password@]host[:port][/db] and unix:///path[?db=N] */
#ifndef CE_REDIS_URL_H
#define CE_REDIS_URL_H

#include <stddef.h>

typedef struct ce_redis_url {
  int is_unix;
  char host[256];
  int port;
  char path[256];
  char user[128];
  char password[256]; /* never logged */
  int db;
} ce_redis_url;

/* 0, or -1 with a message in `err` that never contains the password. */
int ce_redis_url_parse(const char *url, ce_redis_url *out, char *err,
                       size_t errlen);

#endif
