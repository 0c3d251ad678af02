/* Which process this is, without a system call: a generation number that
 * every forked child bumps (pthread_atfork), so state a parent made (curl
 * handles, random pools) is noticed and replaced in a child. */
#ifndef LIVEPULL_PROCESS_H
#define LIVEPULL_PROCESS_H

/* The current generation: it changes in a child after fork. Registers the
 * fork handler at the first call. */
unsigned long lp_process_generation(void);

#endif
