/* lc-coreread CORE ADDR
 * lc-coreread -w CORE ADDR [COUNT [STRIDE]]
 *
 * Finds a target address in an ELF core file by walking its PT_LOADs, for
 * tests that run where there is no gdb (the soft-dirty guest).
 *
 * The first form prints the file offset (decimal) that holds ADDR: the
 * PT_LOAD with p_vaddr <= ADDR < p_vaddr + p_filesz. The second prints
 * COUNT (default 1) 64-bit little-endian words, in decimal, one a line,
 * read at ADDR, ADDR + STRIDE, ... (STRIDE default 8): `-w CORE
 * &lc_generation` reads a global, `-w CORE PAGE+8 N 4096` reads word 1 (the
 * generation, lc_pattern.h) of N pattern pages.
 *
 * Numbers are decimal or 0x-hex. Exits 0 when every address was found, 1
 * when one lies in no PT_LOAD's file part (a message names it), 2 on a
 * usage error or a file that is not a readable ELF64 core. The core is
 * untrusted: every offset and size is checked against the file. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *core_path;

static void fail(const char *what)
{
	fprintf(stderr, "lc-coreread: %s: %s%s%s\n", core_path, what, errno ? ": " : "",
		errno ? strerror(errno) : "");
	exit(2);
}

static int number(const char *arg, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(arg, &end, 0);
	return errno || end == arg || *end || arg[0] == '-' ? -1 : 0;
}

static void read_exactly(int fd, void *buf, size_t len, uint64_t off, const char *what)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail(what);
		if (n == 0) {
			errno = 0;
			fail(what); /* the file ends inside it: truncated */
		}
		got += (size_t)n;
	}
}

int main(int argc, char **argv)
{
	uint64_t addr, count = 1, stride = 8, phnum;
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	struct stat st;
	bool words = false;
	int fd, argi = 1, rc = 0;

	if (argc > 1 && !strcmp(argv[1], "-w")) {
		words = true;
		argi = 2;
	}
	if (argc - argi < 2 || argc - argi > (words ? 4 : 2) || number(argv[argi + 1], &addr) < 0 ||
	    (argc - argi > 2 && (number(argv[argi + 2], &count) < 0 || count == 0)) ||
	    (argc - argi > 3 && number(argv[argi + 3], &stride) < 0)) {
		fprintf(stderr, "usage: lc-coreread CORE ADDR\n"
				"       lc-coreread -w CORE ADDR [COUNT [STRIDE]]\n");
		return 2;
	}
	core_path = argv[argi];
	fd = open(core_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		fail("cannot open");
	read_exactly(fd, &eh, sizeof eh, 0, "no ELF header");
	errno = 0;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_type != ET_CORE || eh.e_phentsize != sizeof(Elf64_Phdr))
		fail("not an ELF64 core file");
	phnum = eh.e_phnum;
	if (phnum == PN_XNUM) {
		/* more than 65535 segments: the count is section 0's sh_info */
		Elf64_Shdr sh0;

		if (!eh.e_shoff || eh.e_shoff > (uint64_t)st.st_size)
			fail("PN_XNUM without a section header");
		read_exactly(fd, &sh0, sizeof sh0, eh.e_shoff, "cannot read section header 0");
		phnum = sh0.sh_info;
	}
	if (eh.e_phoff > (uint64_t)st.st_size || phnum > ((uint64_t)st.st_size - eh.e_phoff) / sizeof *ph)
		fail("program headers past the end of the file");
	ph = malloc(phnum * sizeof *ph + 1);
	if (!ph)
		fail("out of memory");
	read_exactly(fd, ph, phnum * sizeof *ph, eh.e_phoff, "cannot read the program headers");

	for (uint64_t i = 0; i < count; i++, addr += stride) {
		uint64_t need = words ? 8 : 1, off = 0;
		bool found = false;

		for (uint64_t k = 0; k < phnum && !found; k++) {
			if (ph[k].p_type != PT_LOAD || addr < ph[k].p_vaddr ||
			    addr - ph[k].p_vaddr >= ph[k].p_filesz ||
			    ph[k].p_filesz - (addr - ph[k].p_vaddr) < need)
				continue;
			off = ph[k].p_offset + (addr - ph[k].p_vaddr);
			if (off < ph[k].p_offset || off > (uint64_t)st.st_size - need) {
				errno = 0;
				fail("a PT_LOAD lies past the end of the file");
			}
			found = true;
		}
		if (!found) {
			fprintf(stderr, "lc-coreread: %s: 0x%" PRIx64 " is in no PT_LOAD's file part\n",
				core_path, addr);
			rc = 1;
			continue;
		}
		if (words) {
			unsigned char b[8];
			uint64_t v = 0;

			read_exactly(fd, b, sizeof b, off, "cannot read");
			for (int j = 7; j >= 0; j--)
				v = v << 8 | b[j];
			printf("%" PRIu64 "\n", v);
		} else {
			printf("%" PRIu64 "\n", off);
		}
	}
	free(ph);
	close(fd);
	return rc;
}
