/* A check that survives -DNDEBUG and says what broke before aborting, so a
 * crash file in build-fuzz/artifacts comes with its reason. */
#ifndef LIVEPULL_FUZZ_CHECK_H
#define LIVEPULL_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
      abort();                                                                        \
    }                                                                                 \
  } while (0)

#endif
