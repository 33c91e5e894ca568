/* One background thread that runs jobs one at a time, in the order they were
 * handed over, while the caller goes on: the row function's read-ahead
 * fetches the next group of rows from Redis while this group's rows are
 * written (prefetch.h).
 *
 * At most CE_WORKER_DEPTH jobs wait at once: ce_worker_submit blocks while
 * the queue is full, so what waiting jobs hold is bounded. A job must end by
 * itself (the warm-up's do: every Redis call has its timeout). Owned by the
 * thread that started it; only that thread submits and finishes. */
#ifndef CE_WORKER_H
#define CE_WORKER_H

#define CE_WORKER_DEPTH 2
/* The thread's stack: a job runs the same code as a server thread's
 * statement (Redis, TLS), which mariadbd gives 299 KiB by default. */
#define CE_WORKER_STACK ((size_t)512 << 10)

typedef struct ce_worker ce_worker;
typedef void (*ce_job_fn)(void *arg);

/* Starts the thread; NULL when it cannot be had (out of memory, thread
 * limit): the caller then runs its jobs itself (ce_worker_submit does). */
ce_worker *ce_worker_start(void);

/* Queues fn(arg), waiting while CE_WORKER_DEPTH jobs wait already; with
 * w == NULL runs it now, in the caller's thread. */
void ce_worker_submit(ce_worker *w, ce_job_fn fn, void *arg);

/* Waits until every job queued has run (NULL: nothing); what they wrote
 * is then visible to the caller. */
void ce_worker_drain(ce_worker *w);

/* Waits until every job queued has run, then ends the thread and frees w
 * (NULL: nothing). What the jobs wrote is then visible to the caller. */
void ce_worker_finish(ce_worker *w);

#endif
