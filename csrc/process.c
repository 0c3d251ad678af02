/* The fork generation: one counter bumped in each forked child. */
#include "process.h"

#include <pthread.h>

static volatile unsigned long generation = 1;
static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void child_after_fork(void) { generation++; }

/* glibc ties a handler registered by a shared object to that object and
 * drops it when the object is unloaded (lua_close unloads C modules), so a
 * later fork never calls into unmapped code. */
static void register_handler(void) { pthread_atfork(NULL, NULL, child_after_fork); }

unsigned long lp_process_generation(void) {
  pthread_once(&registered, register_handler);
  return generation;
}
