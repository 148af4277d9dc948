/* lc_torture_ledger - the ledger lc-torture keeps in its memory and
 * lc-torture-check reads back from a core of it (lc-torture.c says what
 * each field means and how a record is published), and the stamp every
 * word of a slot holds. One definition for the writer and the checker: a
 * core is read with the layout it was written with. */
#ifndef LC_TORTURE_LEDGER_H
#define LC_TORTURE_LEDGER_H

#include <stdint.h>

#define LEDGER_MAGIC 0x525554524f54434cull /* "LCTORTUR" little-endian */
#define LEDGER_VERSION 1
#define SLOTS_MAX 1024
#define GEN_MASK (((uint64_t)1 << 39) - 1)
#define CHILD_GEN ((uint64_t)1 << 38)

enum flag { F_BASE_ANY = 1, F_MAY_ABSENT = 2 };

enum kind { K_NONE, K_REMAP, K_FIXED, K_MREMAP, K_THP, K_PROT, K_SMALL, K_LARGE, K_BRK, K_THREAD, K_SHARED, K_COUNT };

enum phase {
	P_EMPTY, P_IDLE, P_MALLOCED, P_MAPPED, P_ZAPPED, P_GROWN, P_MOVED, P_STAMPING, P_UNMAPPING,
	P_UNMAPPED, P_MAPPING_FIXED, P_ZAPPING, P_GROWING, P_SHRINKING, P_MOVING, P_PROTECTING, P_FREEING,
	P_COUNT
};

struct view {
	uint64_t kind, phase, owner, flags;
	uint64_t addr, len;
	uint64_t gen, next_gen, progress;
	uint64_t zero_off, zero_len;
	uint64_t op_off, op_len;
	uint64_t old_addr, old_len;
	uint64_t resv_addr, resv_len;
};

struct record {
	uint64_t cur, publishes;
	struct view view[2];
};

struct ledger {
	uint64_t magic, version, nslots, slots_max, record_size, view_size;
	uint64_t vectors[4][4]; /* slot, gen, word, stamp(slot, gen, word) */
	struct record record[SLOTS_MAX];
};

/* splitmix64's finaliser over (slot, gen, word): every input bit moves the
 * 24 bits kept */
static inline uint64_t stamp(uint64_t slot, uint64_t gen, uint64_t i)
{
	uint64_t x = ((slot << 40) ^ gen) * 0x9e3779b97f4a7c15ull + i * 0xc2b2ae3d27d4eb4full;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return 1ull << 63 | (gen & GEN_MASK) << 24 | (x & 0xffffff);
}

#endif
