/* lc-torture-check CORE LEDGER_ADDR
 * lc-torture-check -l CORE LEDGER_ADDR
 *
 * Proves from a core of lc-torture alone that it shows one instant of the
 * process. Reads lc-torture's ledger (at LEDGER_ADDR, the info file's
 * ledger=) out of the core's PT_LOADs, then checks every word of every
 * slot against what the ledger's view in force allows (lc-torture.c's
 * header comment has the phases and what each allows): at rest every word
 * is stamp(slot, gen, i), or zero where the view says so; with an operation
 * in flight, only what that operation can have left at the instant of the
 * dump (the dumper stops every thread between two system calls, at any
 * user instruction: each thread's stores are a prefix of its program
 * order). "Anything" is accepted only where the operation makes the content
 * unknowable: a block malloc just returned that is not stamped yet, a
 * block free() is taking back.
 *
 * A word is absent when no PT_LOAD covers it, zero when a PT_LOAD covers it
 * beyond its p_filesz. The core is untrusted: every offset and size is
 * checked against the file.
 *
 * Output: for each failure one line (at most 20 are printed)
 *   stale: slot S kind K addr 0x... word W: expected E (phase P, progress N), found F
 * where addr is the start of the range checked (the slot's, or the old
 * range or reservation of an mremap) and W the slot's word index; E is
 * "gen G", "zero", "gen G or gen H", ... and F "gen G", "child gen G",
 * "zero", "absent" or "garbage 0x...". A view the checker cannot make sense
 * of gives "bad ledger: slot S: why", counted as a failure. Then:
 *   slots N words W checked, failures F, explained E
 * (explained: words accepted only because of an operation in flight).
 *
 * With -l it checks nothing and lists the slots instead, one a line:
 *   slot S kind K phase P addr 0x... len N gen G
 * (tests pick a slot at rest to corrupt a copy of a core with).
 *
 * Exit status: 0 no failure, 1 failures, 2 usage error or a core (or a
 * ledger in it) that cannot be read. */
#include "lc_torture_ledger.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINES 20
#define STAMP_STEP 512
#define CHUNK_WORDS (64u * 1024)
#define SLOT_LEN_MAX (256ull << 20)
#define ADDR_LIMIT (1ull << 57)

static const char *const kind_name[K_COUNT] = {
	"none", "remap", "fixed", "mremap", "thp", "prot", "small", "large", "brk", "thread", "shared",
};

static const char *const phase_name[P_COUNT] = {
	"empty", "idle", "malloced", "mapped", "zapped", "grown", "moved", "stamping", "unmapping",
	"unmapped", "mapping-fixed", "zapping", "growing", "shrinking", "moving", "protecting", "freeing",
};

/* a stamp of this slot's word i, of any generation */
static bool stamp_ours(uint64_t slot, uint64_t i, uint64_t w)
{
	return w >> 63 && stamp(slot, (w >> 24) & GEN_MASK, i) == w;
}

/* ---- the core ------------------------------------------------------------ */

struct core {
	const char *path;
	int fd;
	uint64_t size;
	Elf64_Phdr *load; /* the PT_LOADs, by p_vaddr */
	uint64_t nload;
};

static _Noreturn void unreadable(const struct core *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lc-torture-check: %s: ", c->path);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void read_exactly(const struct core *c, void *buf, size_t len, uint64_t off, const char *what)
{
	size_t got = 0;

	if (off > c->size || len > c->size - off)
		unreadable(c, "%s: past the end of the file", what);
	while (got < len) {
		ssize_t n = pread(c->fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			unreadable(c, "%s: %s", what, strerror(errno));
		if (n == 0)
			unreadable(c, "%s: the file ends inside it", what);
		got += (size_t)n;
	}
}

static int by_vaddr(const void *a, const void *b)
{
	const Elf64_Phdr *x = a, *y = b;

	return x->p_vaddr < y->p_vaddr ? -1 : x->p_vaddr > y->p_vaddr;
}

static void core_open(struct core *c)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	struct stat st;
	uint64_t phnum;

	c->fd = open(c->path, O_RDONLY | O_CLOEXEC);
	if (c->fd < 0 || fstat(c->fd, &st) < 0)
		unreadable(c, "cannot open: %s", strerror(errno));
	c->size = (uint64_t)st.st_size;
	read_exactly(c, &eh, sizeof eh, 0, "the ELF header");
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_type != ET_CORE || eh.e_phentsize != sizeof(Elf64_Phdr))
		unreadable(c, "not a little-endian ELF64 core file");
	phnum = eh.e_phnum;
	if (phnum == PN_XNUM) {
		/* more than 65535 segments: the count is section 0's sh_info */
		Elf64_Shdr sh0;

		if (!eh.e_shoff)
			unreadable(c, "PN_XNUM without a section header");
		read_exactly(c, &sh0, sizeof sh0, eh.e_shoff, "section header 0");
		phnum = sh0.sh_info;
	}
	if (eh.e_phoff > c->size || phnum > (c->size - eh.e_phoff) / sizeof *ph)
		unreadable(c, "program headers past the end of the file");
	ph = malloc(phnum * sizeof *ph + 1);
	c->load = malloc(phnum * sizeof *ph + 1);
	if (!ph || !c->load)
		unreadable(c, "out of memory");
	read_exactly(c, ph, phnum * sizeof *ph, eh.e_phoff, "the program headers");
	c->nload = 0;
	for (uint64_t k = 0; k < phnum; k++) {
		if (ph[k].p_type != PT_LOAD)
			continue;
		if (ph[k].p_filesz > ph[k].p_memsz || ph[k].p_vaddr > UINT64_MAX - ph[k].p_memsz ||
		    ph[k].p_offset > c->size || ph[k].p_filesz > c->size - ph[k].p_offset)
			unreadable(c, "PT_LOAD %" PRIu64 " (vaddr 0x%" PRIx64 ") lies past the end of the file", k,
				   (uint64_t)ph[k].p_vaddr);
		c->load[c->nload++] = ph[k];
	}
	free(ph);
	qsort(c->load, c->nload, sizeof *c->load, by_vaddr);
}

/* Index of the last PT_LOAD starting at or below addr, or nload. */
static uint64_t core_find(const struct core *c, uint64_t addr)
{
	uint64_t lo = 0, hi = c->nload;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (c->load[mid].p_vaddr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : c->nload;
}

/* The n words at addr (n * 8 does not wrap: the ledger's ranges are
 * checked first); absent[k] is set for a word no PT_LOAD covers whole. */
static void core_words(const struct core *c, uint64_t addr, uint64_t n, uint64_t *buf, unsigned char *absent)
{
	uint64_t pos = addr, end = addr + n * 8;

	memset(absent, 0, n);
	while (pos < end) {
		uint64_t k = core_find(c, pos), stop, file_end;
		const Elf64_Phdr *p = k < c->nload ? &c->load[k] : NULL;

		if (!p || pos - p->p_vaddr >= p->p_memsz) {
			uint64_t next = k < c->nload ? k + 1 : 0;

			stop = next < c->nload && c->load[next].p_vaddr < end ? c->load[next].p_vaddr : end;
			memset((char *)buf + (pos - addr), 0, stop - pos);
			for (uint64_t w = (pos - addr) / 8; w <= (stop - 1 - addr) / 8; w++)
				absent[w] = 1;
			pos = stop;
			continue;
		}
		stop = p->p_vaddr + p->p_memsz < end ? p->p_vaddr + p->p_memsz : end;
		file_end = p->p_vaddr + p->p_filesz < stop ? p->p_vaddr + p->p_filesz : stop;
		if (pos < file_end) {
			read_exactly(c, (char *)buf + (pos - addr), file_end - pos, p->p_offset + (pos - p->p_vaddr),
				     "a PT_LOAD's bytes");
			pos = file_end;
		}
		if (pos < stop) {
			memset((char *)buf + (pos - addr), 0, stop - pos);
			pos = stop;
		}
	}
}

/* ---- the rules ----------------------------------------------------------- */

enum rule {
	R_BASE,    /* the content at rest */
	R_STAMP,   /* being stamped: next_gen up to progress, base after */
	R_FOREIGN, /* lost by the slot: absent or not a stamp of this slot */
	R_ZERO,    /* fresh pages the operation in flight made */
	R_VOID,    /* an untouched reservation: zero or absent */
	R_ANY,
};

struct part {
	uint64_t addr, first, n; /* n words at addr, the slot's words first.. */
	enum rule rule;
};

struct check {
	const struct core *core;
	uint64_t id;
	const struct view *v;
	uint64_t words, explained, failures;
	unsigned lines;
};

static uint64_t *chunk_buf;
static unsigned char *chunk_absent;

static void line(struct check *k, const char *fmt, ...)
{
	va_list ap;

	k->failures++;
	if (k->lines >= MAX_LINES)
		return;
	k->lines++;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* what the slot's word i holds at rest; *any when it is unknowable */
static uint64_t base_of(const struct check *k, uint64_t i, bool *any)
{
	const struct view *v = k->v;
	uint64_t off = i * 8;

	*any = v->flags & F_BASE_ANY;
	if (v->gen == 0 || (off >= v->zero_off && off - v->zero_off < v->zero_len))
		return 0;
	return stamp(k->id, v->gen, i);
}

static const struct ledger *the_ledger;

/* A word that is no stamp of this slot's word i: another slot's, at the
 * same index or at the index its current view puts at this address? */
static bool stamp_elsewhere(uint64_t addr, uint64_t i, uint64_t w, uint64_t *slot, uint64_t *index)
{
	uint64_t g = (w >> 24) & GEN_MASK;

	if (!(w >> 63))
		return false;
	for (uint64_t s = 0; s < the_ledger->nslots; s++) {
		const struct record *r = &the_ledger->record[s];
		const struct view *v = &r->view[r->cur & 1];

		if (stamp(s, g, i) == w) {
			*slot = s;
			*index = i;
			return true;
		}
		if (addr >= v->addr && addr - v->addr < v->len && (addr - v->addr) % 8 == 0 &&
		    stamp(s, g, (addr - v->addr) / 8) == w) {
			*slot = s;
			*index = (addr - v->addr) / 8;
			return true;
		}
	}
	return false;
}

static void describe_value(char *out, size_t size, uint64_t id, uint64_t addr, uint64_t i, uint64_t w,
			   bool absent)
{
	uint64_t g = (w >> 24) & GEN_MASK, slot, index;
	const char *child = g & CHILD_GEN ? "child " : "";

	if (absent)
		snprintf(out, size, "absent");
	else if (w == 0)
		snprintf(out, size, "zero");
	else if (stamp_ours(id, i, w))
		snprintf(out, size, "%sgen %" PRIu64, child, g & ~CHILD_GEN);
	else if (stamp_elsewhere(addr, i, w, &slot, &index))
		snprintf(out, size, "%sgen %" PRIu64 " of slot %" PRIu64 " word %" PRIu64, child, g & ~CHILD_GEN, slot,
			 index);
	else
		snprintf(out, size, "garbage 0x%016" PRIx64, w);
}

static void describe_base(char *out, size_t size, const struct check *k, uint64_t i)
{
	bool any;
	uint64_t b = base_of(k, i, &any);

	if (any)
		snprintf(out, size, "anything");
	else if (b == 0)
		snprintf(out, size, "zero");
	else
		snprintf(out, size, "gen %" PRIu64, k->v->gen);
}

/* 0: refused; 1: accepted; 2: accepted only because of the operation in
 * flight. *window is the STAMPING rule's state: still in the prefix of
 * next_gen inside the window past progress. */
static int judge(const struct check *k, enum rule rule, uint64_t i, uint64_t w, bool absent, bool *window)
{
	const struct view *v = k->v;
	uint64_t b;
	bool any;

	switch (rule) {
	case R_STAMP:
		if (i < v->progress)
			return !absent && w == stamp(k->id, v->next_gen, i) ? 2 : 0;
		if (i - v->progress < STAMP_STEP && *window) {
			if (!absent && w == stamp(k->id, v->next_gen, i))
				return 2;
			*window = false;
		}
		/* past the stamped prefix: the old content */
		/* fall through */
	case R_BASE:
		b = base_of(k, i, &any);
		if (any)
			return 2;
		if (absent)
			return v->flags & F_MAY_ABSENT ? 2 : 0;
		return w == b;
	case R_FOREIGN:
		return absent || !stamp_ours(k->id, i, w) ? 2 : 0;
	case R_ZERO:
		return !absent && w == 0 ? 2 : 0;
	case R_VOID:
		return absent || w == 0;
	case R_ANY:
		return 2;
	}
	return 0;
}

static void refusal(struct check *k, const struct part *p, uint64_t i, uint64_t w, bool absent)
{
	const struct view *v = k->v;
	char expected[96], found[96], base[48];

	describe_base(base, sizeof base, k, i);
	switch (p->rule) {
	case R_STAMP:
		if (i < v->progress)
			snprintf(expected, sizeof expected, "gen %" PRIu64, v->next_gen);
		else if (i - v->progress < STAMP_STEP)
			snprintf(expected, sizeof expected, "gen %" PRIu64 " or %s", v->next_gen, base);
		else
			snprintf(expected, sizeof expected, "%s", base);
		break;
	case R_BASE:
		snprintf(expected, sizeof expected, "%s", base);
		break;
	case R_FOREIGN:
		snprintf(expected, sizeof expected, "absent or not this slot's (unmapped)");
		break;
	case R_ZERO:
		snprintf(expected, sizeof expected, "zero");
		break;
	case R_VOID:
		snprintf(expected, sizeof expected, "zero or absent (reservation)");
		break;
	case R_ANY:
		snprintf(expected, sizeof expected, "anything");
		break;
	}
	describe_value(found, sizeof found, k->id, p->addr + (i - p->first) * 8, i, w, absent);
	line(k, "stale: slot %" PRIu64 " kind %s addr 0x%" PRIx64 " word %" PRIu64 ": expected %s (phase %s, progress %" PRIu64
		"), found %s\n",
	     k->id, kind_name[v->kind], p->addr - p->first * 8, i, expected, phase_name[v->phase], v->progress,
	     found);
}

/* Checks the parts; with report, counts and prints. Returns the refusals. */
static uint64_t check_parts(struct check *k, const struct part *parts, unsigned nparts, bool report)
{
	uint64_t refused = 0;

	for (unsigned q = 0; q < nparts; q++) {
		const struct part *p = &parts[q];
		bool window = true;

		for (uint64_t done = 0; done < p->n;) {
			uint64_t n = p->n - done < CHUNK_WORDS ? p->n - done : CHUNK_WORDS;

			core_words(k->core, p->addr + done * 8, n, chunk_buf, chunk_absent);
			for (uint64_t j = 0; j < n; j++) {
				uint64_t i = p->first + done + j;
				int verdict = judge(k, p->rule, i, chunk_buf[j], chunk_absent[j], &window);

				if (!verdict)
					refused++;
				if (!report)
					continue;
				k->words++;
				if (verdict == 2)
					k->explained++;
				else if (!verdict)
					refusal(k, p, i, chunk_buf[j], chunk_absent[j]);
			}
			done += n;
		}
	}
	return refused;
}

/* One system call in flight: the memory is as before it or as after it,
 * all of it; report against the hypothesis that fits best. */
static void check_either(struct check *k, const struct part *before, unsigned nbefore, const struct part *after,
			 unsigned nafter)
{
	uint64_t fb = check_parts(k, before, nbefore, false);

	if (fb == 0 || check_parts(k, after, nafter, false) >= fb)
		check_parts(k, before, nbefore, true);
	else
		check_parts(k, after, nafter, true);
}

static bool in_len(uint64_t off, uint64_t len, uint64_t total)
{
	return off <= total && len <= total - off && off % 8 == 0 && len % 8 == 0;
}

static bool range_ok(uint64_t addr, uint64_t len)
{
	return addr % 8 == 0 && len % 8 == 0 && len <= SLOT_LEN_MAX && addr < ADDR_LIMIT && len <= ADDR_LIMIT - addr;
}

/* Why the view cannot be checked, or NULL. */
static const char *view_invalid(const struct view *v)
{
	if (v->kind >= K_COUNT || v->phase >= P_COUNT)
		return "unknown kind or phase";
	if (v->phase == P_EMPTY)
		return NULL;
	if (v->flags & ~(uint64_t)(F_BASE_ANY | F_MAY_ABSENT))
		return "unknown flags";
	if (v->gen & ~GEN_MASK || v->gen & CHILD_GEN || v->next_gen & ~GEN_MASK || v->next_gen & CHILD_GEN)
		return "a generation out of range";
	if (!range_ok(v->addr, v->len) || (v->addr == 0 && v->phase != P_GROWING))
		return "addr or len out of range";
	if (!in_len(v->zero_off, v->zero_len, v->len) || !in_len(v->op_off, v->op_len, v->len))
		return "zero or op range outside the slot";
	if (v->resv_len && !range_ok(v->resv_addr, v->resv_len))
		return "reservation out of range";
	switch (v->phase) {
	case P_STAMPING:
		if (!v->next_gen || v->progress > v->len / 8)
			return "stamping without next_gen, or progress past the end";
		break;
	case P_GROWING:
		if (!range_ok(v->old_addr, v->old_len) || v->old_len > v->len)
			return "growing: old range out of range";
		break;
	case P_SHRINKING:
		if (v->old_len < v->len || !range_ok(v->addr, v->old_len))
			return "shrinking: old length out of range";
		break;
	case P_MOVING:
		if (!range_ok(v->old_addr, v->old_len) || v->old_len != v->len)
			return "moving: old range out of range";
		break;
	default:
		break;
	}
	return NULL;
}

static void check_slot(struct check *k)
{
	const struct view *v = k->v;
	uint64_t n = v->len / 8;
	const char *why = view_invalid(v);
	struct part whole = { v->addr, 0, n, R_BASE };

	if (why) {
		line(k, "bad ledger: slot %" PRIu64 ": %s\n", k->id, why);
		return;
	}
	switch (v->phase) {
	case P_EMPTY:
		return;
	case P_IDLE:
	case P_MALLOCED:
	case P_MAPPED:
	case P_ZAPPED:
	case P_GROWN:
	case P_MOVED:
	case P_PROTECTING:
		check_parts(k, &whole, 1, true);
		break;
	case P_STAMPING:
		whole.rule = R_STAMP;
		check_parts(k, &whole, 1, true);
		break;
	case P_UNMAPPING: {
		struct part lost = { v->addr, 0, n, R_FOREIGN };

		check_either(k, &whole, 1, &lost, 1);
		break;
	}
	case P_UNMAPPED:
		whole.rule = R_FOREIGN;
		check_parts(k, &whole, 1, true);
		break;
	case P_MAPPING_FIXED:
	case P_ZAPPING: {
		uint64_t a = v->op_off / 8, b = (v->op_off + v->op_len) / 8;
		struct part after[3] = {
			{ v->addr, 0, a, R_BASE },
			{ v->addr + a * 8, a, b - a, R_ZERO },
			{ v->addr + b * 8, b, n - b, R_BASE },
		};

		check_either(k, &whole, 1, after, 3);
		break;
	}
	case P_GROWING: {
		struct part before = { v->old_addr, 0, v->old_len / 8, R_BASE };
		struct part lost = { v->old_addr, 0, v->old_len / 8, R_FOREIGN };

		check_either(k, &before, 1, &lost, 1);
		break;
	}
	case P_SHRINKING: {
		struct part kept = { v->addr, 0, n, R_BASE };
		struct part before = { v->addr + n * 8, n, v->old_len / 8 - n, R_BASE };
		struct part lost = { v->addr + n * 8, n, v->old_len / 8 - n, R_FOREIGN };

		check_parts(k, &kept, 1, true);
		check_either(k, &before, 1, &lost, 1);
		break;
	}
	case P_MOVING: {
		struct part before[2] = { { v->old_addr, 0, n, R_BASE }, { v->addr, 0, n, R_VOID } };
		struct part after[2] = { { v->addr, 0, n, R_BASE }, { v->old_addr, 0, n, R_FOREIGN } };

		check_either(k, before, 2, after, 2);
		break;
	}
	case P_FREEING:
		whole.rule = R_ANY;
		check_parts(k, &whole, 1, true);
		break;
	}
	if (v->resv_len) {
		struct part resv = { v->resv_addr, 0, v->resv_len / 8, R_VOID };

		check_parts(k, &resv, 1, true);
	}
}

static int number(const char *arg, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(arg, &end, 0);
	return errno || end == arg || *end || arg[0] == '-' ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct core c = { 0 };
	static struct ledger l;
	uint64_t ledger_addr, n, total_words = 0, total_explained = 0, total_failures = 0;
	unsigned lines = 0;
	bool list = argc == 4 && !strcmp(argv[1], "-l");

	if (list) {
		argv++;
		argc--;
	}
	if (argc != 3 || number(argv[2], &ledger_addr) < 0 || ledger_addr % 8 || ledger_addr >= ADDR_LIMIT) {
		fprintf(stderr, "usage: lc-torture-check [-l] CORE LEDGER_ADDR\n");
		return 2;
	}
	c.path = argv[1];
	core_open(&c);
	chunk_buf = malloc(CHUNK_WORDS * sizeof *chunk_buf);
	chunk_absent = malloc(CHUNK_WORDS);
	if (!chunk_buf || !chunk_absent)
		unreadable(&c, "out of memory");

	n = sizeof l / 8;
	for (uint64_t done = 0; done < n; done += CHUNK_WORDS) {
		uint64_t m = n - done < CHUNK_WORDS ? n - done : CHUNK_WORDS;

		core_words(&c, ledger_addr + done * 8, m, chunk_buf, chunk_absent);
		if (memchr(chunk_absent, 1, m))
			unreadable(&c, "the ledger at 0x%" PRIx64 " is not (all) in the core", ledger_addr);
		memcpy((uint64_t *)&l + done, chunk_buf, m * 8);
	}
	if (l.magic != LEDGER_MAGIC || l.version != LEDGER_VERSION || l.slots_max != SLOTS_MAX ||
	    l.record_size != sizeof(struct record) || l.view_size != sizeof(struct view) || l.nslots > SLOTS_MAX)
		unreadable(&c, "no lc-torture ledger (version %d) at 0x%" PRIx64, LEDGER_VERSION, ledger_addr);
	for (unsigned k = 0; k < 4; k++)
		if (stamp(l.vectors[k][0], l.vectors[k][1], l.vectors[k][2]) != l.vectors[k][3])
			unreadable(&c, "the ledger's stamp() test vector %u differs from this checker's: "
				       "lc-torture.c and lc-torture-check.c disagree", k);

	the_ledger = &l;
	if (list) {
		for (uint64_t id = 0; id < l.nslots; id++) {
			const struct record *r = &l.record[id];
			const struct view *v = &r->view[r->cur & 1];

			if (v->kind >= K_COUNT || v->phase >= P_COUNT)
				continue;
			printf("slot %" PRIu64 " kind %s phase %s addr 0x%" PRIx64 " len %" PRIu64
			       " gen %" PRIu64 "\n", id, kind_name[v->kind], phase_name[v->phase], v->addr,
			       v->len, v->gen);
		}
		return 0;
	}
	for (uint64_t id = 0; id < l.nslots; id++) {
		const struct record *r = &l.record[id];
		struct check k = { .core = &c, .id = id, .lines = lines };

		if (r->cur > 1) {
			k.v = &r->view[0];
			line(&k, "bad ledger: slot %" PRIu64 ": view index %" PRIu64 "\n", id, r->cur);
		} else {
			k.v = &r->view[r->cur];
			check_slot(&k);
		}
		lines = k.lines;
		total_words += k.words;
		total_explained += k.explained;
		total_failures += k.failures;
	}
	printf("slots %" PRIu64 " words %" PRIu64 " checked, failures %" PRIu64 ", explained %" PRIu64 "\n", l.nslots,
	       total_words, total_failures, total_explained);
	return total_failures ? 1 : 0;
}
