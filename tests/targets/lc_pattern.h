/* lc_pattern - the per-page pattern lc-target lays down and lc-pagecheck
 * (and any other checker) verifies, so that any 4 KiB page found in a
 * staging file or a core can be told right or wrong on its own:
 *
 *   word 0       the page's own address in the target
 *   word 1       its generation (1 when first filled; the dirty writer
 *                rewrites a page with the next value of lc_generation)
 *   words 2..511 lc_pattern_word(address, generation, index)
 *
 * The body depends on the generation too, so a page copied while it was
 * being rewritten (torn) does not pass. Generation 0 never occurs: a page of
 * zeros (a hole) is always bad. */
#ifndef LC_PATTERN_H
#define LC_PATTERN_H

#include <stdint.h>
#include <string.h>

#define LC_PATTERN_PAGE  4096u
#define LC_PATTERN_WORDS (LC_PATTERN_PAGE / 8u)

/* splitmix64's finaliser: cheap, and every input bit moves every output bit */
static inline uint64_t lc_pattern_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline uint64_t lc_pattern_word(uint64_t page_addr, uint64_t gen, unsigned index)
{
	if (index == 0)
		return page_addr;
	if (index == 1)
		return gen;
	return lc_pattern_mix(page_addr ^ (gen * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)index << 52));
}

/* Writes the body first and the generation last, so that a reader that
 * sees the new generation in word 1 of a finished write sees the new body. */
static inline void lc_pattern_fill(volatile uint64_t *page, uint64_t page_addr, uint64_t gen)
{
	page[0] = page_addr;
	for (unsigned i = 2; i < LC_PATTERN_WORDS; i++)
		page[i] = lc_pattern_word(page_addr, gen, i);
	page[1] = gen;
}

/* 0 when page holds the pattern for page_addr with a generation >= min_gen;
 * otherwise 1 + the index of the first wrong word (word 1 below min_gen
 * counts as wrong). *gen_out gets word 1 either way. */
static inline unsigned lc_pattern_check(const void *page, uint64_t page_addr, uint64_t min_gen,
					uint64_t *gen_out)
{
	uint64_t w[LC_PATTERN_WORDS];

	memcpy(w, page, sizeof w);
	if (gen_out)
		*gen_out = w[1];
	if (w[0] != page_addr)
		return 1;
	if (w[1] == 0 || w[1] < min_gen)
		return 2;
	for (unsigned i = 2; i < LC_PATTERN_WORDS; i++)
		if (w[i] != lc_pattern_word(page_addr, w[1], i))
			return i + 1;
	return 0;
}

#endif
