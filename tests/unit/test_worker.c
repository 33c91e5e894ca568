/* The background worker (udf/worker.h): jobs run one at a time in the order
 * handed over, at most CE_WORKER_DEPTH wait (submit blocks past that),
 * drain waits for all of them and the worker goes on, finish runs what is
 * queued before it returns, and without a worker a job runs at once in the
 * caller's thread. */
#include "check.h"
#include "worker.h"

#include <pthread.h>
#include <unistd.h>

#define JOBS 200

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int order[JOBS + CE_WORKER_DEPTH + 2], ran, gate_open = 1, running_now,
                                                   most_running;
static pthread_t caller;
static int in_caller;

static void job(void *arg) {
  int i = (int)(long)arg;
  pthread_mutex_lock(&mu);
  running_now++;
  if (running_now > most_running)
    most_running = running_now;
  while (!gate_open)
    pthread_cond_wait(&cv, &mu);
  order[ran++] = i;
  in_caller += pthread_equal(pthread_self(), caller) != 0;
  running_now--;
  pthread_mutex_unlock(&mu);
}

static int ran_now(void) {
  pthread_mutex_lock(&mu);
  int n = ran;
  pthread_mutex_unlock(&mu);
  return n;
}

static void test_order_and_drain(void) {
  ce_worker *w = ce_worker_start();
  CHECK(w != NULL);
  ran = 0;
  for (long i = 0; i < JOBS; i++)
    ce_worker_submit(w, job, (void *)i);
  ce_worker_drain(w);
  CHECK(ran_now() == JOBS); /* all of them, in order, on the worker */
  int in_order = 1;
  for (int i = 0; i < JOBS; i++)
    in_order &= order[i] == i;
  CHECK(in_order);
  CHECK(in_caller == 0);
  CHECK(most_running == 1);
  ce_worker_submit(w, job, (void *)0L); /* still there after a drain */
  ce_worker_finish(w);                  /* and runs it before it ends */
  CHECK(ran_now() == JOBS + 1);
}

static void test_bounded_queue(void) {
  ce_worker *w = ce_worker_start();
  ran = 0;
  pthread_mutex_lock(&mu);
  gate_open = 0; /* the first job holds the worker */
  pthread_mutex_unlock(&mu);
  ce_worker_submit(w, job, (void *)0L);
  while (1) { /* until the worker runs it: the queue is empty again */
    pthread_mutex_lock(&mu);
    int r = running_now;
    pthread_mutex_unlock(&mu);
    if (r)
      break;
    usleep(1000);
  }
  for (long i = 1; i <= CE_WORKER_DEPTH; i++)
    ce_worker_submit(w, job, (void *)i); /* fills the queue, does not block */
  CHECK(ran_now() == 0);
  pthread_mutex_lock(&mu);
  gate_open = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  ce_worker_submit(w, job, (void *)(long)(CE_WORKER_DEPTH + 1));
  ce_worker_finish(w);
  CHECK(ran_now() == CE_WORKER_DEPTH + 2);
  CHECK(order[CE_WORKER_DEPTH + 1] == CE_WORKER_DEPTH + 1);
}

static void test_without_a_worker(void) {
  ran = 0;
  in_caller = 0;
  ce_worker_submit(NULL, job, (void *)7L);
  CHECK(ran_now() == 1 && order[0] == 7);
  CHECK(in_caller == 1);
  ce_worker_drain(NULL);
  ce_worker_finish(NULL);
}

int main(void) {
  caller = pthread_self();
  test_order_and_drain();
  test_bounded_queue();
  test_without_a_worker();
  return CHECK_DONE();
}
