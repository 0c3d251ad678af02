/* lp_utf8_check against the RFC 3629 reference in ref_utf8.h: the same
 * verdict on every input and, when well-formed, the same code point count.
 * Beside it lp_visible_ascii_span (validation's fast path for the same
 * strings, 8 bytes at a time) against a byte loop. */
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "encode.h"
#include "ref_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  long want = ref_utf8_count(data, size, 0);
  size_t chars = (size_t)-1;
  int ok = lp_utf8_check((const char *)data, size, &chars);
  FUZZ_CHECK(ok == 0 || ok == 1);
  FUZZ_CHECK(ok == (want >= 0));
  if (ok) FUZZ_CHECK(chars == (size_t)want);
  /* chars is optional: NULL must give the same verdict. */
  FUZZ_CHECK(lp_utf8_check((const char *)data, size, NULL) == ok);
  for (size_t start = 0; start < size && start < 8; start++) {   /* every alignment of the words */
    size_t span = 0;
    while (start + span < size && data[start + span] >= 0x21 && data[start + span] <= 0x7E) span++;
    FUZZ_CHECK(lp_visible_ascii_span((const char *)data + start, size - start) == span);
  }
  return 0;
}
