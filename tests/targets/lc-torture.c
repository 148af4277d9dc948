/* lc-torture - a target whose memory churns the way real programs' does,
 * with a ledger that says at every instant what each of its words holds,
 * so that lc-torture-check can prove from a core alone that the core shows
 * one instant of the process.
 *
 * usage: lc-torture -o INFOFILE [--threads N] [--mib M] [--no-fork]
 *                   [--quiet-after SECONDS] [--only OPS]
 *
 *   -o INFOFILE       written atomically (INFOFILE.tmp, then rename) once
 *                     every thread runs, KEY=VALUE lines: pid=, ledger=0x...
 *                     (the address of the ledger: lc-torture-check's
 *                     LEDGER_ADDR), slots= (ledger records in use),
 *                     threads= (workers), mib=, large_budget_mib=. Then
 *                     runs until killed.
 *   --threads N       worker threads, 1..64 (default 4).
 *   --mib M           roughly bounds the churned memory (default 96): each
 *                     worker holds about 5 MiB of regions, the main thread
 *                     about 3 MiB of heap blocks, and the large malloc
 *                     buffers (8-64 MiB each) share what is left, at
 *                     least 8 MiB.
 *   --no-fork         no fork(2) children.
 *   --quiet-after S   after S seconds each thread finishes the operation
 *                     it is in and sleeps for good: memory stops changing.
 *   --only OPS        only these operations churn (a comma-separated list
 *                     of remap, fixed, thp, mremap, prot, small, large,
 *                     fork, shared, threads, brk); every region is still
 *                     laid down and stamped once. For regression tests of
 *                     one behaviour.
 *
 * Exit status: none while it runs; 1 when a system call fails (the message
 * names it), 2 on a usage error.
 *
 * What runs, every thread looping without a pause:
 *
 *   workers (N)  each owns its slots and does, round after round:
 *                munmap + mmap of a region at the same address
 *                (MAP_FIXED_NOREPLACE); MAP_FIXED over a live sub-range in
 *                the middle of a bigger mapping; MADV_DONTNEED of 4 KiB
 *                pages there; in a 2 MiB-aligned MADV_HUGEPAGE region,
 *                MADV_DONTNEED of a 4 KiB piece inside the huge page (which
 *                splits it) and then of the whole 2 MiB; mremap grow
 *                (MREMAP_MAYMOVE) or shrink, then mremap move
 *                (MREMAP_MAYMOVE|MREMAP_FIXED onto a PROT_NONE reservation
 *                of its own); mprotect PROT_READ, PROT_NONE and back;
 *                free + malloc of small blocks (1-200 KiB, the thread's
 *                arena) and of one large buffer (8-64 MiB, glibc mmaps it:
 *                free is munmap, and the next malloc of the same size
 *                usually gets the same address back); fork of a child that
 *                stamps a "child" generation over some of the worker's
 *                slots in its copy-on-write copy and _exits (never to be
 *                seen in this process's core). Worker 0 also restamps a
 *                MAP_SHARED|MAP_ANONYMOUS region (children never write it).
 *   spawner      creates short-lived threads, one after another; each
 *                restamps one slot and exits.
 *   main         brk growth and shrink: mallocs BRK_BLOCKS blocks of about
 *                200 KiB from the main arena, stamps them, frees them all
 *                (M_MMAP_THRESHOLD 1 MiB, M_TRIM_THRESHOLD 256 KiB: the
 *                blocks come from brk and freeing them trims it).
 *
 * Slots and stamps. Memory is described by slots: byte ranges [addr,
 * addr+len), len a multiple of 8, each owned by one thread at a time. Word i
 * of a slot stamped with generation g holds stamp(slot, g, i): bit 63 set,
 * bits 62..24 g (bit 62 set: a child's generation), bits 23..0 a hash of
 * (slot, g, i); never zero, and a copy at another slot, offset or
 * generation does not pass. Generations come from one counter (atomic
 * fetch_add), so they are unique. Words are stamped in ascending order with
 * volatile stores; `progress` is stored (release) after every 512 words
 * (4 KiB) and at the end.
 *
 * The ledger (struct ledger, in .bss) has a header (magic, version, sizes,
 * four test vectors of stamp() so that the checker knows it computes the
 * same function) and one record a slot. A record holds two views and `cur`,
 * the index of the one in force: the owner writes the other view whole,
 * then stores `cur` (release). So a core, which shows each thread stopped
 * between two of its stores, always shows a whole view; the only field
 * changed in place is view[cur].progress, during STAMPING. A view is
 * published before each system call (saying what the call may have done
 * already) and after it (saying what it did). Fields, all uint64_t:
 *
 *   kind       what the slot is (enum kind)
 *   phase      what the operation in flight has done so far (enum phase)
 *   owner      the Linux thread id of the thread that published the view
 *   flags      F_BASE_ANY: the content is unknowable until stamped (malloc
 *              just returned it); F_MAY_ABSENT: PROT_NONE may be in force
 *   addr, len  the slot's range
 *   gen        the generation its words hold (0: never stamped)
 *   next_gen   the generation being stamped (STAMPING), else 0
 *   progress   words already stamped with next_gen (STAMPING)
 *   zero_off, zero_len   a sub-range (offsets from addr) that reads zero
 *              instead of stamp(gen): fresh pages not yet stamped
 *   op_off, op_len       the sub-range of the system call in flight
 *   old_addr, old_len    where the words were (GROWING, MOVING), the length
 *              before the cut (SHRINKING)
 *   resv_addr, resv_len  a PROT_NONE reservation never touched: it reads
 *              zero or is absent
 *
 * Phases. "base" is the content at rest: stamp(gen) except zeros in the
 * zero range, anything with F_BASE_ANY. "foreign" is a range this slot lost
 * (unmapped; another thread may have mapped it since): absent, or words that
 * are not stamps of this slot.
 *
 *   EMPTY        the slot holds nothing; not checked
 *   IDLE, MALLOCED, MAPPED, ZAPPED, GROWN, MOVED
 *                at rest: every word is base (the names say how it got
 *                there: malloc returned it, mmap made it, ...)
 *   STAMPING     words [0, progress) are stamp(next_gen); in
 *                [progress, progress + 512) a prefix of stamp(next_gen),
 *                then base; the rest base
 *   UNMAPPING    munmap (or free of an mmapped chunk) of [addr, len) in
 *                flight: all base, or all foreign
 *   UNMAPPED     [addr, len) was unmapped, the new mmap is in flight:
 *                foreign (a fresh mapping there reads zero: foreign too)
 *   MAPPING_FIXED, ZAPPING
 *                MAP_FIXED or MADV_DONTNEED over [op_off, op_len) in
 *                flight: outside it base; inside it all base or all zero
 *   GROWING      mremap(old_addr, old_len -> len, MAYMOVE) in flight: the
 *                old range all base (not moved yet, or grown in place) or
 *                all foreign (moved to an address not yet stored)
 *   SHRINKING    mremap(addr, old_len -> len) in flight: [0, len) base,
 *                [len, old_len) all base or all foreign
 *   MOVING       mremap(old_addr -> addr, MAYMOVE|FIXED) in flight: either
 *                old_addr holds base and addr (the reservation) reads zero
 *                or is absent, or addr holds base and old_addr is foreign
 *   PROTECTING   mprotect flips in flight: base (absent too while
 *                F_MAY_ABSENT)
 *   FREEING      free() of a heap block in flight: anything
 *
 * lc-torture-check.c repeats the ledger's definitions and stamp(): change
 * them together (and LEDGER_VERSION). */
#include "lc_torture_ledger.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define PAGE (4 * KIB)
#define HUGE_PAGE (2 * MIB)
#define STAMP_STEP 512 /* words between two progress stores: 4 KiB */
#define CHILD_WORDS 8192 /* words a fork child stamps at the start of a slot */

#define MAX_WORKERS 64
#define SMALL_SLOTS 6
#define THREAD_SLOTS 4
#define BRK_BLOCKS 16

#define REMAP_LEN (512 * KIB)
#define FIXED_LEN (1 * MIB)
#define MREMAP_LEN (512 * KIB) /* grows to twice this and back */
#define THP_LEN HUGE_PAGE
#define PROT_LEN (128 * KIB)
#define SHARED_LEN (512 * KIB)
#define THREAD_LEN (64 * KIB)
#define BRK_LEN (200 * KIB)

static struct ledger ledger;

/* ---- process-wide state -------------------------------------------------- */

static const char *info_path;
static uint64_t generation; /* the last generation handed out */
static uint64_t quiet_at_ns; /* CLOCK_MONOTONIC; 0: never quiet */
static uint64_t large_budget_left; /* bytes the large buffers may still take */
static bool forks = true;

struct slot {
	unsigned id;
	struct view v; /* what the owner last published */
};

static struct slot slots[SLOTS_MAX];
static unsigned slots_used;

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "lc-torture: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A memory call failed: which VMAs covered its range, and their VmFlags
 * (mremap fails with EFAULT when the range is not one whole VMA: a hole
 * there, or a split the process did not make). */
static _Noreturn void die_range(const char *what, uint64_t addr, uint64_t len)
{
	int saved = errno;
	char text[512];
	FILE *smaps = fopen("/proc/self/smaps", "r");
	bool inside = false;

	fprintf(stderr, "lc-torture: %s of [0x%" PRIx64 ", 0x%" PRIx64 ") failed; the VMAs there:\n", what, addr,
		addr + len);
	while (smaps && fgets(text, sizeof text, smaps)) {
		unsigned long long start, end;
		int used = 0;

		if (sscanf(text, "%llx-%llx %n", &start, &end, &used) == 2 && used > 0)
			inside = start < addr + len && end > addr;
		if (inside && (used > 0 || !strncmp(text, "VmFlags:", 8)))
			fprintf(stderr, "  %s", text);
	}
	if (smaps)
		fclose(smaps);
	errno = saved;
	die(what);
}

static uint64_t gen_next(void)
{
	return __atomic_add_fetch(&generation, 1, __ATOMIC_RELAXED);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		die("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Between two operations: every slot the caller owns is at rest. */
static void quiet_check(void)
{
	if (!quiet_at_ns || now_ns() < quiet_at_ns)
		return;
	for (;;)
		pause();
}

static uint64_t rng_next(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* ---- the owner's side of the ledger -------------------------------------- */

/* Main thread only, before the other threads start. */
static struct slot *slot_new(enum kind kind)
{
	struct slot *s;

	if (slots_used >= SLOTS_MAX) {
		errno = ENOSPC;
		die("too many slots (fewer --threads)");
	}
	s = &slots[slots_used];
	s->id = slots_used++;
	s->v.kind = kind;
	s->v.phase = P_EMPTY;
	ledger.nslots = slots_used;
	return s;
}

/* Writes the view not in force, whole, then makes it the one in force: a
 * core never shows half a view. */
static void publish(struct slot *s)
{
	struct record *r = &ledger.record[s->id];
	uint64_t next = 1 - __atomic_load_n(&r->cur, __ATOMIC_RELAXED);
	volatile uint64_t *dst = (volatile uint64_t *)&r->view[next];
	const uint64_t *src = (const uint64_t *)&s->v;

	s->v.owner = (uint64_t)gettid();
	for (size_t k = 0; k < sizeof s->v / sizeof(uint64_t); k++)
		dst[k] = src[k];
	__atomic_store_n(&r->publishes, r->publishes + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&r->cur, next, __ATOMIC_RELEASE);
}

/* Restamps the whole slot with a new generation. The slot is at rest. */
static void stamp_slot(struct slot *s)
{
	uint64_t g = gen_next(), n = s->v.len / 8, *progress;
	volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)s->v.addr;

	s->v.next_gen = g;
	s->v.progress = 0;
	s->v.phase = P_STAMPING;
	publish(s);
	progress = &ledger.record[s->id].view[ledger.record[s->id].cur].progress;
	for (uint64_t i = 0; i < n; i++) {
		w[i] = stamp(s->id, g, i);
		if (i % STAMP_STEP == STAMP_STEP - 1)
			__atomic_store_n(progress, i + 1, __ATOMIC_RELEASE);
	}
	__atomic_store_n(progress, n, __ATOMIC_RELEASE);
	s->v.gen = g;
	s->v.next_gen = 0;
	s->v.progress = 0;
	s->v.zero_off = s->v.zero_len = 0;
	s->v.flags &= ~(uint64_t)F_BASE_ANY;
	s->v.phase = P_IDLE;
	publish(s);
}

/* A fresh mapping of the slot: all zero until stamped. */
static void slot_mapped(struct slot *s, void *p, uint64_t len)
{
	s->v.addr = (uint64_t)(uintptr_t)p;
	s->v.len = len;
	s->v.zero_off = 0;
	s->v.zero_len = len;
	s->v.phase = P_MAPPED;
	publish(s);
}

static void *map_anon(uint64_t len, int prot, int flags)
{
	void *p = mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* ---- the operations: each starts and ends with its slot at rest ------- */

static void *slot_ptr(const struct slot *s, uint64_t off)
{
	return (void *)(uintptr_t)(s->v.addr + off);
}

/* munmap + mmap at the same address: same range in /proc/PID/maps, new
 * pages. Another thread may take the hole first; then it lands elsewhere. */
static void op_remap(struct slot *s)
{
	void *old = slot_ptr(s, 0), *p;

	s->v.phase = P_UNMAPPING;
	publish(s);
	if (munmap(old, s->v.len) < 0)
		die_range("munmap", s->v.addr, s->v.len);
	s->v.phase = P_UNMAPPED;
	publish(s);
	p = mmap(old, s->v.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED && errno == EEXIST)
		p = map_anon(s->v.len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	else if (p == MAP_FAILED)
		die("mmap MAP_FIXED_NOREPLACE");
	slot_mapped(s, p, s->v.len);
	stamp_slot(s);
}

/* MAP_FIXED or MADV_DONTNEED over [off, off + len): the range reads zero
 * afterwards. */
static void op_replace(struct slot *s, uint64_t off, uint64_t len, bool fixed)
{
	s->v.op_off = off;
	s->v.op_len = len;
	s->v.phase = fixed ? P_MAPPING_FIXED : P_ZAPPING;
	publish(s);
	if (fixed) {
		void *p = mmap(slot_ptr(s, off), len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

		if (p == MAP_FAILED)
			die("mmap MAP_FIXED");
		if (p != slot_ptr(s, off)) {
			errno = EINVAL;
			die("mmap MAP_FIXED returned another address");
		}
	} else if (madvise(slot_ptr(s, off), len, MADV_DONTNEED) < 0) {
		die("madvise MADV_DONTNEED");
	}
	s->v.zero_off = off;
	s->v.zero_len = len;
	s->v.op_off = s->v.op_len = 0;
	s->v.phase = fixed ? P_MAPPED : P_ZAPPED;
	publish(s);
	stamp_slot(s);
}

static void op_grow(struct slot *s)
{
	uint64_t old_len = s->v.len;
	void *q;

	s->v.old_addr = s->v.addr;
	s->v.old_len = old_len;
	s->v.addr = 0; /* unknown until mremap returns */
	s->v.len = 2 * old_len;
	s->v.phase = P_GROWING;
	publish(s);
	q = mremap((void *)(uintptr_t)s->v.old_addr, old_len, 2 * old_len, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		die_range("mremap grow", s->v.old_addr, old_len);
	s->v.addr = (uint64_t)(uintptr_t)q;
	s->v.old_addr = s->v.old_len = 0;
	s->v.zero_off = old_len;
	s->v.zero_len = old_len;
	s->v.phase = P_GROWN;
	publish(s);
	stamp_slot(s);
}

static void op_shrink(struct slot *s)
{
	s->v.old_len = s->v.len;
	s->v.len /= 2;
	s->v.phase = P_SHRINKING;
	publish(s);
	if (mremap(slot_ptr(s, 0), s->v.old_len, s->v.len, 0) != slot_ptr(s, 0))
		die_range("mremap shrink", s->v.addr, s->v.old_len);
	s->v.old_len = 0;
	s->v.phase = P_IDLE;
	publish(s);
}

/* Moves the slot onto a PROT_NONE reservation of its size: MREMAP_FIXED
 * unmaps whatever is at the destination, so it must be the slot's own. */
static void op_move(struct slot *s)
{
	void *r = map_anon(s->v.len, PROT_NONE, MAP_PRIVATE), *q;

	s->v.resv_addr = (uint64_t)(uintptr_t)r;
	s->v.resv_len = s->v.len;
	publish(s);
	s->v.old_addr = s->v.addr;
	s->v.old_len = s->v.len;
	s->v.addr = s->v.resv_addr;
	s->v.resv_addr = s->v.resv_len = 0;
	s->v.phase = P_MOVING;
	publish(s);
	q = mremap((void *)(uintptr_t)s->v.old_addr, s->v.len, s->v.len, MREMAP_MAYMOVE | MREMAP_FIXED, r);
	if (q == MAP_FAILED)
		die_range("mremap move", s->v.old_addr, s->v.len);
	if (q != r) {
		errno = EINVAL;
		die("mremap MREMAP_FIXED returned another address");
	}
	s->v.old_addr = s->v.old_len = 0;
	s->v.phase = P_MOVED;
	publish(s);
	stamp_slot(s);
}

static void op_protect(struct slot *s)
{
	volatile uint64_t *w = slot_ptr(s, 0);
	uint64_t n = s->v.len / 8;

	s->v.phase = P_PROTECTING;
	publish(s);
	if (mprotect(slot_ptr(s, 0), s->v.len, PROT_READ) < 0)
		die_range("mprotect PROT_READ", s->v.addr, s->v.len);
	/* read while read-only: the target checks its own bookkeeping */
	if (w[0] != stamp(s->id, s->v.gen, 0) || w[n - 1] != stamp(s->id, s->v.gen, n - 1)) {
		fprintf(stderr, "lc-torture: slot %u does not hold generation %" PRIu64 "\n", s->id, s->v.gen);
		abort();
	}
	s->v.flags |= F_MAY_ABSENT;
	publish(s);
	if (mprotect(slot_ptr(s, 0), s->v.len, PROT_NONE) < 0)
		die_range("mprotect PROT_NONE", s->v.addr, s->v.len);
	if (mprotect(slot_ptr(s, 0), s->v.len, PROT_READ | PROT_WRITE) < 0)
		die_range("mprotect PROT_READ|PROT_WRITE", s->v.addr, s->v.len);
	s->v.flags &= ~(uint64_t)F_MAY_ABSENT;
	s->v.phase = P_IDLE;
	publish(s);
	stamp_slot(s);
}

/* glibc's chunk header: IS_MMAPPED (bit 1 of the size word before the
 * block) says free() will munmap it and that malloc got it from mmap, so
 * it reads zero. */
static bool chunk_is_mmapped(const void *p)
{
	return ((const size_t *)p)[-1] & 2;
}

static void heap_free(struct slot *s)
{
	void *p = slot_ptr(s, 0);

	if (s->v.phase == P_EMPTY)
		return;
	s->v.phase = chunk_is_mmapped(p) ? P_UNMAPPING : P_FREEING;
	publish(s);
	free(p);
	s->v.addr = s->v.len = 0;
	s->v.phase = P_EMPTY;
	publish(s);
}

static void heap_alloc(struct slot *s, uint64_t len)
{
	void *p = malloc(len);

	if (!p)
		die("malloc");
	s->v.addr = (uint64_t)(uintptr_t)p;
	s->v.len = len;
	if (chunk_is_mmapped(p)) {
		s->v.zero_off = 0;
		s->v.zero_len = len;
	} else {
		s->v.flags |= F_BASE_ANY;
	}
	s->v.phase = P_MALLOCED;
	publish(s);
	stamp_slot(s);
}

/* ---- workers ------------------------------------------------------------- */

struct worker {
	unsigned index;
	uint64_t rng, large_held;
	struct slot *remap, *fixed, *mremap, *thp, *prot, *large, *shared;
	struct slot *small[SMALL_SLOTS];
};

static struct worker workers[MAX_WORKERS];
/* --only: which operations churn (bit k: op_names[k]) */
enum { OP_REMAP, OP_FIXED, OP_THP, OP_MREMAP, OP_PROT, OP_SMALL, OP_LARGE, OP_FORK, OP_SHARED,
       OP_THREADS, OP_BRK };
static unsigned ops = ~0u;
#define DOES(op) (ops & (1u << (op)))
static unsigned nworkers = 4;
static struct slot *thread_slots[THREAD_SLOTS];
static struct slot *brk_slots[BRK_BLOCKS];

static uint64_t large_reserve(uint64_t want)
{
	for (uint64_t len = want; len >= 8 * MIB; len /= 2) {
		uint64_t left = __atomic_load_n(&large_budget_left, __ATOMIC_RELAXED);

		while (left >= len)
			if (__atomic_compare_exchange_n(&large_budget_left, &left, left - len, false,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
				return len;
	}
	return 0;
}

/* The same size for four rounds in a row (the same address, most of the
 * time), then the next of 8, 16, 32, 64 MiB. */
static void op_large(struct worker *w, unsigned round)
{
	static const uint64_t sizes[] = { 8 * MIB, 16 * MIB, 32 * MIB, 64 * MIB };
	uint64_t len;

	heap_free(w->large);
	__atomic_add_fetch(&large_budget_left, w->large_held, __ATOMIC_RELAXED);
	w->large_held = 0;
	len = large_reserve(sizes[(round / 4 + w->index) % 4]);
	if (!len)
		return;
	w->large_held = len;
	heap_alloc(w->large, len);
}

static void op_small(struct worker *w, struct slot *s)
{
	heap_free(s);
	heap_alloc(s, (1 + rng_next(&w->rng) % 200) * KIB);
}

static void child_stamp(const struct slot *s, uint64_t g)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)s->v.addr;
	uint64_t n = s->v.len / 8 < CHILD_WORDS ? s->v.len / 8 : CHILD_WORDS;

	if (s->v.phase != P_IDLE)
		return;
	for (uint64_t i = 0; i < n; i++)
		p[i] = stamp(s->id, g, i);
}

/* The child writes a child generation into its copy of some of the
 * worker's slots (at rest: the worker is here) and exits. */
static void op_fork(struct worker *w)
{
	uint64_t g = gen_next() | CHILD_GEN;
	int status;
	pid_t child = fork(), got;

	if (child < 0)
		die("fork");
	if (child == 0) {
		child_stamp(w->remap, g);
		child_stamp(w->thp, g);
		child_stamp(w->mremap, g);
		child_stamp(w->large, g);
		child_stamp(w->small[0], g);
		_exit(0);
	}
	do
		got = waitpid(child, &status, 0);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = ECHILD;
		die("the fork child did not exit 0");
	}
}

static void worker_setup(struct worker *w)
{
	char *p, *aligned;

	slot_mapped(w->remap, map_anon(REMAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE), REMAP_LEN);
	stamp_slot(w->remap);

	p = map_anon(FIXED_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	if (madvise(p, FIXED_LEN, MADV_NOHUGEPAGE) < 0)
		die("madvise MADV_NOHUGEPAGE");
	slot_mapped(w->fixed, p, FIXED_LEN);
	stamp_slot(w->fixed);

	slot_mapped(w->mremap, map_anon(MREMAP_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE), MREMAP_LEN);
	stamp_slot(w->mremap);

	/* a 2 MiB-aligned huge page: map 4 MiB, keep the aligned 2 */
	p = map_anon(THP_LEN + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	aligned = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
	if ((aligned > p && munmap(p, (size_t)(aligned - p)) < 0) ||
	    (p + THP_LEN + HUGE_PAGE > aligned + THP_LEN &&
	     munmap(aligned + THP_LEN, (size_t)(p + THP_LEN + HUGE_PAGE - (aligned + THP_LEN))) < 0))
		die("munmap around the huge page");
	if (madvise(aligned, THP_LEN, MADV_HUGEPAGE) < 0)
		die("madvise MADV_HUGEPAGE");
	slot_mapped(w->thp, aligned, THP_LEN);
	stamp_slot(w->thp);

	slot_mapped(w->prot, map_anon(PROT_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE), PROT_LEN);
	stamp_slot(w->prot);

	if (w->shared) {
		slot_mapped(w->shared, map_anon(SHARED_LEN, PROT_READ | PROT_WRITE, MAP_SHARED), SHARED_LEN);
		stamp_slot(w->shared);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	worker_setup(w);
	for (unsigned round = 0;; round++) {
		uint64_t r = rng_next(&w->rng);

		quiet_check();
		if (!(ops & ~(1u << OP_THREADS | 1u << OP_BRK)))
			pause();        /* nothing for workers to do */
		if (DOES(OP_REMAP))
			op_remap(w->remap);
		quiet_check();
		if (DOES(OP_FIXED)) {
			/* MAP_FIXED over 16..79 pages in the middle, never at an end */
			op_replace(w->fixed, (1 + r % 64) * PAGE, (16 + (r >> 8) % 64) * PAGE, true);
			quiet_check();
			op_replace(w->fixed, (r >> 16) % (FIXED_LEN / PAGE - 3) * PAGE,
				   (1 + (r >> 24) % 3) * PAGE, false);
		}
		quiet_check();
		if (DOES(OP_THP)) {
			/* a 4 KiB piece inside the huge page (splits it), then
			 * all 2 MiB (the next fault gets a huge page again) */
			op_replace(w->thp, (r >> 32) % (HUGE_PAGE / PAGE) * PAGE, PAGE, false);
			quiet_check();
			op_replace(w->thp, 0, HUGE_PAGE, false);
		}
		quiet_check();
		if (DOES(OP_MREMAP)) {
			if (w->mremap->v.len == MREMAP_LEN)
				op_grow(w->mremap);
			else
				op_shrink(w->mremap);
			quiet_check();
			op_move(w->mremap);
		}
		quiet_check();
		if (DOES(OP_PROT))
			op_protect(w->prot);
		for (unsigned k = 0; DOES(OP_SMALL) && k < SMALL_SLOTS; k++) {
			quiet_check();
			op_small(w, w->small[k]);
		}
		quiet_check();
		if (DOES(OP_LARGE))
			op_large(w, round);
		if (forks && DOES(OP_FORK)) {
			quiet_check();
			op_fork(w);
		}
		if (w->shared && DOES(OP_SHARED)) {
			quiet_check();
			stamp_slot(w->shared);
		}
	}
	return NULL;
}

/* ---- thread churn -------------------------------------------------------- */

static void *short_lived(void *arg)
{
	stamp_slot(arg);
	return NULL;
}

static void *spawner_main(void *arg)
{
	(void)arg;
	for (unsigned k = 0; k < THREAD_SLOTS; k++) {
		slot_mapped(thread_slots[k], map_anon(THREAD_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE),
			    THREAD_LEN);
		stamp_slot(thread_slots[k]);
	}
	for (unsigned k = 0;; k = (k + 1) % THREAD_SLOTS) {
		pthread_t t;
		int rc;

		quiet_check();
		if (!DOES(OP_THREADS))
			pause();
		rc = pthread_create(&t, NULL, short_lived, thread_slots[k]);
		if (rc) {
			errno = rc;
			die("pthread_create a short-lived thread");
		}
		rc = pthread_join(t, NULL);
		if (rc) {
			errno = rc;
			die("pthread_join");
		}
	}
	return NULL;
}

/* ---- main: brk growth and shrink ---------------------------------------- */

static _Noreturn void brk_loop(void)
{
	uint64_t rng = 0x2545f4914f6cdd1dull;

	for (;;) {
		for (unsigned k = 0; k < BRK_BLOCKS; k++) {
			quiet_check();
			heap_alloc(brk_slots[k], BRK_LEN + (rng_next(&rng) % 17) * KIB - 8 * KIB);
		}
		if (!DOES(OP_BRK))
			for (;;)
				pause();        /* the blocks stay, stamped once */
		for (unsigned k = 0; k < BRK_BLOCKS; k++) {
			quiet_check();
			heap_free(brk_slots[k]);
		}
	}
}

static void write_info(uint64_t mib)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", info_path);
	f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	fprintf(f, "pid=%d\nledger=0x%" PRIxPTR "\nslots=%u\nthreads=%u\nmib=%" PRIu64 "\nlarge_budget_mib=%" PRIu64
		   "\n",
		(int)getpid(), (uintptr_t)&ledger, slots_used, nworkers, mib,
		__atomic_load_n(&large_budget_left, __ATOMIC_RELAXED) / MIB);
	if (fflush(f) == EOF || fsync(fileno(f)) < 0 || fclose(f) == EOF)
		die(tmp);
	if (rename(tmp, info_path) < 0)
		die(info_path);
}

static int usage(void)
{
	fprintf(stderr, "usage: lc-torture -o INFOFILE [--threads N] [--mib M] [--no-fork] "
			"[--quiet-after SECONDS] [--only OPS]\n");
	return 2;
}

static const char *const op_names[] = { "remap", "fixed", "thp", "mremap", "prot", "small",
					"large", "fork", "shared", "threads", "brk" };

static int parse_ops(char *list)
{
	char *save, *name;

	ops = 0;
	for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		unsigned k = 0;

		while (k < sizeof op_names / sizeof op_names[0] && strcmp(name, op_names[k]))
			k++;
		if (k == sizeof op_names / sizeof op_names[0])
			return -1;
		ops |= 1u << k;
	}
	return ops ? 0 : -1;
}

static int number(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(arg, &end, 10);
	return errno || end == arg || *end || arg[0] == '-' || *out < min || *out > max ? -1 : 0;
}

static void start(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, fn, arg);

	if (rc) {
		errno = rc;
		die("pthread_create");
	}
	pthread_detach(t);
}

int main(int argc, char **argv)
{
	uint64_t mib = 96, threads = 4, quiet_after = 0, fixed;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-o") && v) {
			info_path = argv[++i];
		} else if (!strcmp(a, "--threads") && v) {
			if (number(argv[++i], 1, MAX_WORKERS, &threads) < 0)
				return usage();
		} else if (!strcmp(a, "--mib") && v) {
			if (number(argv[++i], 1, 1 << 20, &mib) < 0)
				return usage();
		} else if (!strcmp(a, "--quiet-after") && v) {
			if (number(argv[++i], 1, 1 << 30, &quiet_after) < 0)
				return usage();
		} else if (!strcmp(a, "--no-fork")) {
			forks = false;
		} else if (!strcmp(a, "--only") && v) {
			if (parse_ops(argv[++i]) < 0)
				return usage();
		} else {
			return usage();
		}
	}
	if (!info_path)
		return usage();
	nworkers = (unsigned)threads;

	/* before any other malloc: blocks under 1 MiB come from the heaps
	 * (brk for the main arena), larger ones from mmap; freeing the top
	 * of a heap trims it past 256 KiB. Setting them also turns glibc's
	 * dynamic mmap threshold off. */
	if (!mallopt(M_MMAP_THRESHOLD, (int)MIB) || !mallopt(M_TRIM_THRESHOLD, (int)(256 * KIB))) {
		errno = EINVAL;
		die("mallopt");
	}

	ledger.magic = LEDGER_MAGIC;
	ledger.version = LEDGER_VERSION;
	ledger.slots_max = SLOTS_MAX;
	ledger.record_size = sizeof(struct record);
	ledger.view_size = sizeof(struct view);
	for (unsigned k = 0; k < 4; k++) {
		uint64_t sl = 1 + k * 300, g = (k == 3 ? CHILD_GEN : 0) | (1 + k * 123456789ull), i = k * 70001;

		ledger.vectors[k][0] = sl;
		ledger.vectors[k][1] = g;
		ledger.vectors[k][2] = i;
		ledger.vectors[k][3] = stamp(sl, g, i);
	}

	for (unsigned k = 0; k < nworkers; k++) {
		struct worker *w = &workers[k];

		w->index = k;
		w->rng = 0x9e3779b97f4a7c15ull * (k + 1);
		w->remap = slot_new(K_REMAP);
		w->fixed = slot_new(K_FIXED);
		w->mremap = slot_new(K_MREMAP);
		w->thp = slot_new(K_THP);
		w->prot = slot_new(K_PROT);
		w->large = slot_new(K_LARGE);
		for (unsigned j = 0; j < SMALL_SLOTS; j++)
			w->small[j] = slot_new(K_SMALL);
	}
	workers[0].shared = slot_new(K_SHARED);
	for (unsigned k = 0; k < THREAD_SLOTS; k++)
		thread_slots[k] = slot_new(K_THREAD);
	for (unsigned k = 0; k < BRK_BLOCKS; k++)
		brk_slots[k] = slot_new(K_BRK);
	for (unsigned k = 0; k < slots_used; k++)
		publish(&slots[k]);

	/* what the fixed regions hold (the mremap slot at its largest, its
	 * reservation, small blocks at their mean), the rest for the large
	 * buffers */
	fixed = nworkers * (REMAP_LEN + FIXED_LEN + 3 * MREMAP_LEN + THP_LEN + PROT_LEN + SMALL_SLOTS * 100 * KIB) +
		SHARED_LEN + THREAD_SLOTS * THREAD_LEN + BRK_BLOCKS * BRK_LEN;
	large_budget_left = mib * MIB > fixed + 8 * MIB ? mib * MIB - fixed : 8 * MIB;
	if (quiet_after)
		quiet_at_ns = now_ns() + quiet_after * 1000000000ull;

	for (unsigned k = 0; k < nworkers; k++)
		start(worker_main, &workers[k]);
	start(spawner_main, NULL);
	write_info(mib);
	brk_loop();
}
