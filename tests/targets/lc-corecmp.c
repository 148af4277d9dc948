/* lc-corecmp CORE_A CORE_B [ADDR:SIZE...]
 *
 * Compares the memory two ELF core files hold for the same process: for
 * every address that both dump (inside the file part, p_filesz, of a
 * PT_LOAD in each), the bytes must be equal. Addresses only one of them
 * dumps are not compared: gdb's gcore dumps mappings the kernel leaves out
 * (PROT_NONE reservations, for one), and which is right there is not the
 * question asked here.
 *
 * Each ADDR:SIZE names a range that must have been compared in full, so
 * that a core which left out a region the test cares about does not pass by
 * having nothing to compare there.
 *
 * Prints on stdout one line per differing page (at most MAX_REPORTED),
 *   differ 0xPAGE first at 0xADDR: a=0xWORD b=0xWORD
 * then one summary line
 *   compared BYTES bytes in RANGES ranges, DIFF pages differ
 * and on stderr each required range that was not compared in full.
 * Exits 0 when all compared bytes are equal and every ADDR:SIZE was
 * compared, 1 otherwise, 2 on a usage error or an unreadable core.
 * Both files are treated as untrusted: every offset and size is checked
 * against the file before it is used. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_REPORTED 20
#define MAX_REQUIRED 64
#define PAGE 4096u

struct load {
	uint64_t vaddr, filesz, offset;
};

struct core {
	const char *path;
	const unsigned char *map;
	size_t size;
	struct load *loads;
	size_t nloads;
};

struct range {
	uint64_t start, end;
};

static void die(const char *path, const char *what)
{
	fprintf(stderr, "lc-corecmp: %s: %s%s%s\n", path, what, errno ? ": " : "", errno ? strerror(errno) : "");
	exit(2);
}

static void core_open(struct core *c, const char *path)
{
	struct stat st;
	Elf64_Ehdr eh;
	uint64_t phnum;
	int fd;

	c->path = path;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		die(path, "open");
	errno = 0;
	if ((uint64_t)st.st_size < sizeof eh)
		die(path, "shorter than an ELF header");
	c->size = (size_t)st.st_size;
	c->map = mmap(NULL, c->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (c->map == MAP_FAILED)
		die(path, "mmap");
	close(fd);

	memcpy(&eh, c->map, sizeof eh);
	errno = 0;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_type != ET_CORE || eh.e_machine != EM_X86_64)
		die(path, "not an x86-64 ELF core");
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		die(path, "unexpected e_phentsize");
	phnum = eh.e_phnum;
	if (phnum == PN_XNUM) {
		/* more than 65534 segments: the real count is section 0's sh_info */
		Elf64_Shdr sh;

		if (eh.e_shoff == 0 || eh.e_shoff > c->size || c->size - eh.e_shoff < sizeof sh)
			die(path, "PN_XNUM without a section header 0");
		memcpy(&sh, c->map + eh.e_shoff, sizeof sh);
		phnum = sh.sh_info;
	}
	if (eh.e_phoff > c->size || phnum > (c->size - eh.e_phoff) / sizeof(Elf64_Phdr))
		die(path, "program headers lie past the end of the file");

	c->loads = calloc(phnum ? phnum : 1, sizeof *c->loads);
	if (!c->loads)
		die(path, "calloc");
	for (uint64_t i = 0; i < phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, c->map + eh.e_phoff + i * sizeof ph, sizeof ph);
		if (ph.p_type != PT_LOAD || ph.p_filesz == 0)
			continue;
		if (ph.p_offset > c->size || ph.p_filesz > c->size - ph.p_offset) {
			fprintf(stderr, "lc-corecmp: %s: PT_LOAD %" PRIu64 " at 0x%" PRIx64
					" lies past the end of the file\n", path, i, ph.p_vaddr);
			exit(2);
		}
		if (ph.p_filesz > ph.p_memsz || ph.p_vaddr + ph.p_filesz < ph.p_vaddr) {
			fprintf(stderr, "lc-corecmp: %s: PT_LOAD %" PRIu64 " at 0x%" PRIx64
					" has a bad size\n", path, i, ph.p_vaddr);
			exit(2);
		}
		c->loads[c->nloads++] = (struct load){ ph.p_vaddr, ph.p_filesz, ph.p_offset };
	}
}

static int parse_range(const char *arg, struct range *r)
{
	char *end;
	uint64_t size;

	errno = 0;
	r->start = strtoull(arg, &end, 0);
	if (errno || end == arg || *end != ':')
		return -1;
	arg = end + 1;
	size = strtoull(arg, &end, 0);
	if (errno || end == arg || *end || size == 0 || r->start + size < r->start)
		return -1;
	r->end = r->start + size;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Whether [want->start, want->end) is inside the union of done[0..n),
 * sorted by start. */
static int covered(const struct range *want, const struct range *done, size_t n)
{
	uint64_t at = want->start;

	for (size_t i = 0; i < n && at < want->end; i++) {
		if (done[i].start > at)
			break;
		if (done[i].end > at)
			at = done[i].end;
	}
	return at >= want->end;
}

int main(int argc, char **argv)
{
	struct core a, b;
	struct range required[MAX_REQUIRED], *done;
	size_t nrequired = 0, ndone = 0, reported = 0;
	uint64_t compared = 0, differing = 0, last_page = UINT64_MAX;
	int status = 0;

	if (argc < 3 || argc - 3 > MAX_REQUIRED) {
		fprintf(stderr, "usage: lc-corecmp CORE_A CORE_B [ADDR:SIZE...]\n");
		return 2;
	}
	for (int i = 3; i < argc; i++)
		if (parse_range(argv[i], &required[nrequired++]) < 0) {
			fprintf(stderr, "lc-corecmp: bad range \"%s\" (want ADDR:SIZE)\n", argv[i]);
			return 2;
		}
	core_open(&a, argv[1]);
	core_open(&b, argv[2]);
	done = calloc(a.nloads * b.nloads + 1, sizeof *done);
	if (!done)
		die(argv[0], "calloc");

	for (size_t i = 0; i < a.nloads; i++) {
		const struct load *la = &a.loads[i];

		for (size_t j = 0; j < b.nloads; j++) {
			const struct load *lb = &b.loads[j];
			uint64_t start = la->vaddr > lb->vaddr ? la->vaddr : lb->vaddr;
			uint64_t end_a = la->vaddr + la->filesz, end_b = lb->vaddr + lb->filesz;
			uint64_t end = end_a < end_b ? end_a : end_b;

			if (start >= end)
				continue;
			done[ndone++] = (struct range){ start, end };
			compared += end - start;
			/* page by page, so that a difference is reported once a page */
			for (uint64_t at = start; at < end;) {
				uint64_t next = (at & ~(uint64_t)(PAGE - 1)) + PAGE;
				const unsigned char *pa, *pb;
				size_t len;

				if (next > end)
					next = end;
				len = (size_t)(next - at);
				pa = a.map + la->offset + (at - la->vaddr);
				pb = b.map + lb->offset + (at - lb->vaddr);
				if (memcmp(pa, pb, len)) {
					size_t k = 0;
					uint64_t page = at & ~(uint64_t)(PAGE - 1);

					while (pa[k] == pb[k])
						k++;
					if (page != last_page) {
						differing++;
						last_page = page;
					}
					if (reported < MAX_REPORTED) {
						uint64_t wa = 0, wb = 0, w = (at + k) & ~(uint64_t)7;

						/* the aligned word around the first differing
						 * byte, when it lies inside this stretch */
						if (w >= at && w + 8 <= next) {
							memcpy(&wa, pa + (w - at), 8);
							memcpy(&wb, pb + (w - at), 8);
						}
						printf("differ 0x%" PRIx64 " first at 0x%" PRIx64
						       ": a=0x%016" PRIx64 " b=0x%016" PRIx64 "\n",
						       page, at + k, wa, wb);
						reported++;
					}
					status = 1;
				}
				at = next;
			}
		}
	}
	printf("compared %" PRIu64 " bytes in %zu ranges, %" PRIu64 " pages differ\n", compared, ndone,
	       differing);

	qsort(done, ndone, sizeof *done, cmp_range);
	for (size_t i = 0; i < nrequired; i++)
		if (!covered(&required[i], done, ndone)) {
			fprintf(stderr, "lc-corecmp: 0x%" PRIx64 "-0x%" PRIx64 " is not dumped by both cores\n",
				required[i].start, required[i].end);
			status = 1;
		}
	return status;
}
