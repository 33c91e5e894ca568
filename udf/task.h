/* Query vs passage: what a task means for the configured dialect and model.
 *
 * A call's task is the SQL task argument (`query`, `passage`, or a
 * provider's own name such as Jina's `text-matching`), else the `task`
 * setting; '' is no task. It resolves to
 *   - the effective task: the dialect's name for it, part of the cache
 *     identity (cache_key.h). Jina dialect: query -> retrieval.query,
 *     passage -> retrieval.passage; openai dialect: retrieval.query -> query,
 *     retrieval.passage -> passage; any other name as given;
 *   - the request's `task` field (ce_task_wire): Jina dialect only (OpenAI's
 *     request schema allows no such field), and not for the models Jina's
 *     API refuses it for: jina-embeddings-v2-* (422 "extra inputs are not
 *     permitted"), and jina-clip-v2 but for retrieval.query;
 *   - a prefix put before the text (ce_task_prefix): query_prefix or
 *     passage_prefix, for a query or passage task that the request does not
 *     carry (the openai dialect; Jina v2 models). The prefix is part of the
 *     text sent, so the entry is bound to it.
 * The glue resolves the task per row and keeps the effective task in its
 * statement's copy of the settings (cfg->task): the request builder, the
 * key and the identity read it from there. */
#ifndef CE_TASK_H
#define CE_TASK_H

#include "config.h"

#include <stddef.h>

/* Resolves `name` (len bytes; NULL = the `task` setting, cfg->task) into
 * `out` (CE_TASK_MAX + 1 bytes), "" for no task. 0, or -1 with a message
 * when `name` is not a task name (config.h: ce_task_name_valid). */
int ce_task_resolve(const ce_config *cfg, const char *name, size_t len,
                    char *out, char *err, size_t errlen);

/* The init-time check of a task argument: `is_string` (its type; a NULL
 * constant is a string) and, when it is a constant (`value` not NULL), a
 * task name or ''. 0, or -1 with a message in msg that names `signature`
 * (a wrong type) or the function `fn` (a bad name). The server shows 80
 * bytes of it: the messages fit. */
int ce_task_arg_check(int is_string, const char *value, size_t len,
                      const char *signature, const char *fn, char *msg,
                      size_t cap);

/* The `task` field of a request made with `cfg` (cfg->task the effective
 * task), or NULL when the request carries none. */
const char *ce_task_wire(const ce_config *cfg);

/* The prefix of texts embedded with `cfg` (cfg->task the effective task):
 * "" when none applies. */
const char *ce_task_prefix(const ce_config *cfg);

#endif
