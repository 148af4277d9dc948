/* fuzz.h - what every libFuzzer target here shares: the input copied into
 * a heap buffer of exactly its size plus a NUL (so that AddressSanitizer
 * sees a read one byte past the text), and an assertion that aborts
 * (libFuzzer reports an abort as a crash and keeps the input). */
#ifndef LC_FUZZ_H
#define LC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string: a copy of exactly size + 1 bytes. Text after an
 * embedded NUL is what a reader would never see (the tools refuse a NUL). */
static inline char *fuzz_text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#define FUZZ_ASSERT(cond)                                                                  \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                     \
			abort();                                                            \
		}                                                                           \
	} while (0)

#endif
