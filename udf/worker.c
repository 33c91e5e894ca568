#include "worker.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct {
  ce_job_fn fn;
  void *arg;
} job;

struct ce_worker {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t queued; /* a job came, or the owner finishes */
  pthread_cond_t taken;  /* a slot came free, or a job ended */
  job ring[CE_WORKER_DEPTH];
  unsigned head, count;
  int running, finishing;
};

static void *run_jobs(void *arg) {
  ce_worker *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->count && !w->finishing)
      pthread_cond_wait(&w->queued, &w->mu);
    if (!w->count) /* finishing, and nothing left */
      break;
    job j = w->ring[w->head];
    w->head = (w->head + 1) % CE_WORKER_DEPTH;
    w->count--;
    w->running = 1;
    pthread_cond_broadcast(&w->taken);
    pthread_mutex_unlock(&w->mu);
    j.fn(j.arg);
    pthread_mutex_lock(&w->mu);
    w->running = 0;
    pthread_cond_broadcast(&w->taken);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

ce_worker *ce_worker_start(void) {
  ce_worker *w = calloc(1, sizeof *w);
  pthread_attr_t attr;
  if (!w)
    return NULL;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->queued, NULL);
  pthread_cond_init(&w->taken, NULL);
  int rc = pthread_attr_init(&attr);
  if (!rc) {
    pthread_attr_setstacksize(&attr, CE_WORKER_STACK);
    rc = pthread_create(&w->thread, &attr, run_jobs, w);
    pthread_attr_destroy(&attr);
  }
  if (rc) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->queued);
    pthread_cond_destroy(&w->taken);
    free(w);
    return NULL;
  }
  return w;
}

void ce_worker_submit(ce_worker *w, ce_job_fn fn, void *arg) {
  if (!w) {
    fn(arg);
    return;
  }
  pthread_mutex_lock(&w->mu);
  while (w->count == CE_WORKER_DEPTH)
    pthread_cond_wait(&w->taken, &w->mu);
  w->ring[(w->head + w->count) % CE_WORKER_DEPTH] = (job){fn, arg};
  w->count++;
  pthread_cond_signal(&w->queued);
  pthread_mutex_unlock(&w->mu);
}

void ce_worker_drain(ce_worker *w) {
  if (!w)
    return;
  pthread_mutex_lock(&w->mu);
  while (w->count || w->running)
    pthread_cond_wait(&w->taken, &w->mu);
  pthread_mutex_unlock(&w->mu);
}

void ce_worker_finish(ce_worker *w) {
  if (!w)
    return;
  pthread_mutex_lock(&w->mu);
  w->finishing = 1;
  pthread_cond_signal(&w->queued);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL); /* it runs what is queued first */
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->queued);
  pthread_cond_destroy(&w->taken);
  free(w);
}
