/* Start-up bench: runs a command N times in a row (posix_spawnp, stdout and
 * stderr to /dev/null, no shell in between) and prints the mean wall time
 * per run as ns_per_call=..., the children's CPU time as cpu_ns_per_call=...
 * Fails if any run exits non-zero, so a broken command cannot look fast.
 *   spawn N COMMAND [ARG...] */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: spawn N COMMAND [ARG...]\n");
    return 2;
  }
  long n = strtol(argv[1], NULL, 10);
  if (n < 1) {
    fprintf(stderr, "spawn: N must be a positive number\n");
    return 2;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    pid_t pid;
    int status;
    if (posix_spawnp(&pid, argv[2], &fa, NULL, argv + 2, environ) != 0) {
      perror("spawn: posix_spawnp");
      return 1;
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "spawn: run %ld of %s failed (status %d)\n", i + 1, argv[2], status);
      return 1;
    }
  }
  double wall = now_ns() - t0;
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  double cpu = ((double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec)) * 1e3;
  printf("ns_per_call=%.0f cpu_ns_per_call=%.0f\n", wall / (double)n, cpu / (double)n);
  posix_spawn_file_actions_destroy(&fa);
  return 0;
}
