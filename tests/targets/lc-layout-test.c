/* lc-layout-test - lc-elfwrite's layout step (tools/lc-elfwrite/layout.c)
 * and notes file check (notesfile.c), unit-tested without any I/O: the
 * manifests are parsed from strings, the notes files built in memory.
 * Prints TAP ("ok N - ..." / "not ok N - ..."); exits 1 when a check fails.
 * Built by its own Makefile rule (it links those two files of the tool). */
#include "layout.h"
#include "manifest.h"
#include "notesfile.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_checks, n_failed;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++n_checks);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		n_failed++;
}

#define HEAD "livecore-manifest 2\n# pid 42\n# starttime 7\n# page-size 4096\n" \
	     "# coredump-filter 0x33\n# freeze pause-us=1\n"

static void parse(const char *text, struct manifest *m)
{
	char *copy = strdup(text), err[256];

	if (!copy || manifest_parse(copy, "test", m, err, sizeof err) < 0) {
		printf("Bail out! test manifest does not parse: %s\n", err);
		exit(1);
	}
	free(copy);
}

static int build(const struct manifest *m, uint64_t stage_size, bool in_place, struct layout *l,
		 char *err, size_t errlen)
{
	struct layout_input in = { m, stage_size, 100, in_place };

	return layout_build(&in, l, err, errlen);
}

/* Three VMAs: r-x skipped by the filter, rw- of 3 pages, r-- of 1 page with
 * the ELF-header rule applied to a 2-page VMA. Extents contiguous. */
static const char *simple =
	HEAD
	"400000-402000 r-xp 00000000 fe:00 1 skip:filter 0 - - - /bin/x\n"
	"600000-603000 rw-p 00000000 00:00 0 dump 12288 - 600000-603000@1000 - \n"
	"700000-702000 r--p 00000000 fe:00 1 dump 4096 - 700000-701000@4000 - /bin/x\n"
	"end 3\n";

static void test_stream(void)
{
	struct manifest m;
	struct layout l;
	char err[256];
	const Elf64_Phdr *p;

	parse(simple, &m);
	check(build(&m, 0x5000, false, &l, err, sizeof err) == 0, "stream: simple layout builds");
	p = l.phdrs;
	check(l.n_phdrs == 4 && l.ehdr.e_phnum == 4 && !l.xnum, "stream: one PT_NOTE + one PT_LOAD per VMA");
	check(l.ehdr.e_type == ET_CORE && l.ehdr.e_machine == ARCH_ELF_MACHINE &&
	      !memcmp(l.ehdr.e_ident, ELFMAG, SELFMAG) && l.ehdr.e_ident[EI_CLASS] == ELFCLASS64 &&
	      l.ehdr.e_phentsize == sizeof(Elf64_Phdr) && l.ehdr.e_shnum == 0,
	      "stream: ELF header is an " ARCH_NAME " ET_CORE without sections");
	check(l.ehdr.e_phoff == 64 && l.phdrs_offset == 64, "stream: program headers right after the ELF header");
	check(p[0].p_type == PT_NOTE && p[0].p_offset == 64 + 4 * 56 && p[0].p_filesz == 100 &&
	      p[0].p_align == 4, "stream: PT_NOTE first, after the program headers, 4-aligned");
	check(l.head_size == 4096, "stream: data starts at the next page");
	check(p[1].p_type == PT_LOAD && p[1].p_flags == (PF_R | PF_X) && p[1].p_filesz == 0 &&
	      p[1].p_memsz == 0x2000 && p[1].p_vaddr == 0x400000,
	      "stream: skipped VMA: PT_LOAD R+X of file size 0");
	check(p[2].p_flags == (PF_R | PF_W) && p[2].p_offset == 4096 && p[2].p_filesz == 0x3000 &&
	      p[2].p_memsz == 0x3000 && p[2].p_align == 4096 && p[2].p_paddr == 0,
	      "stream: dumped VMA at the first data page, flags RW, align page, paddr 0");
	check(p[3].p_flags == PF_R && p[3].p_offset == 4096 + 0x3000 && p[3].p_filesz == 0x1000 &&
	      p[3].p_memsz == 0x2000, "stream: ELF-header rule: file size one page, memory size two");
	check(l.file_size == 4096 + 0x4000, "stream: file size is the end of the last segment");
	check(p[1].p_offset == 4096, "stream: a PT_LOAD of file size 0 sits where the data goes on");
	check(l.n_segments == 2 && l.segments[0].n_pieces == 1 && l.pieces[0].stage_offset == 0x1000 &&
	      l.pieces[0].out_offset == 4096 && l.pieces[1].stage_offset == 0x4000 &&
	      l.pieces[1].length == 0x1000, "stream: pieces map staging extents to output offsets");
	layout_free(&l);
	manifest_free(&m);
}

static void test_in_place(void)
{
	struct manifest m;
	struct layout l;
	char err[256];

	parse(simple, &m);
	check(build(&m, 0x5000, true, &l, err, sizeof err) == 0, "in place: simple layout builds");
	check(l.n_moved == 0 && l.moved_bytes == 0, "in place: contiguous extents: nothing moved");
	check(l.phdrs[2].p_offset == 0x1000 && l.phdrs[3].p_offset == 0x4000,
	      "in place: PT_LOADs point at the staged bytes");
	check(l.notes_offset == 0x5000 && l.phdrs[0].p_offset == 0x5000,
	      "in place: notes right after the staging data");
	check(l.phdrs_offset == 0x5000 + 104 && l.ehdr.e_phoff == l.phdrs_offset &&
	      l.file_size == l.phdrs_offset + 4 * 56,
	      "in place: program headers after the notes, 8-aligned, at the end");
	check(l.n_clear == 0, "in place: nothing to clear");
	check(l.phdrs[1].p_offset == 0x1000, "in place: a first PT_LOAD of file size 0 points past the header page");
	layout_free(&l);

	/* the staging file not page-sized at its end: moved data must start on a page */
	check(build(&m, 0x5001, true, &l, err, sizeof err) == 0 && l.notes_offset == 0x6000,
	      "in place: tail starts at the page after an unaligned staging end");
	layout_free(&l);
	manifest_free(&m);
}

static void test_scattered(void)
{
	struct manifest m;
	struct layout l;
	char err[256];
	const char *text =
		HEAD
		/* second half staged before the first: must move */
		"600000-604000 rw-p 00000000 00:00 0 dump 16384 - 600000-602000@3000,602000-604000@1000 - \n"
		/* stays */
		"700000-701000 rw-p 00000000 00:00 0 dump 4096 - 700000-701000@5000 - \n"
		"end 2\n";

	parse(text, &m);
	check(build(&m, 0x6000, true, &l, err, sizeof err) == 0, "scattered: layout builds");
	check(l.n_moved == 1 && l.moved_bytes == 0x4000 && l.segments[0].moved && !l.segments[1].moved,
	      "scattered: only the scattered VMA is moved");
	check(l.phdrs[1].p_offset == 0x6000 && l.phdrs[2].p_offset == 0x5000,
	      "scattered: moved VMA placed past the staging data, the other kept");
	check(l.pieces[0].stage_offset == 0x3000 && l.pieces[0].out_offset == 0x6000 &&
	      l.pieces[1].stage_offset == 0x1000 && l.pieces[1].out_offset == 0x8000,
	      "scattered: its pieces are copied in address order, contiguous");
	check(l.notes_offset == 0xa000, "scattered: notes after the moved copy");
	layout_free(&l);
	check(build(&m, 0x6000, false, &l, err, sizeof err) == 0 && l.phdrs[1].p_offset == 4096 &&
	      l.phdrs[2].p_offset == 4096 + 0x4000,
	      "scattered: stream layout is the same as without scattering");
	layout_free(&l);
	manifest_free(&m);

	/* scattered, and its window holds nothing else: still moved */
	parse(HEAD "600000-604000 rw-p 00000000 00:00 0 dump 16384 - "
	      "600000-602000@3000,602000-604000@1000 - \nend 1\n", &m);
	check(build(&m, 0x5000, true, &l, err, sizeof err) == 0 && l.n_moved == 1 &&
	      l.phdrs[1].p_offset == 0x5000, "scattered: moved even when its window is free");
	layout_free(&l);
	manifest_free(&m);
}

static void test_gaps_and_clearing(void)
{
	struct manifest m;
	struct layout l;
	char err[256];
	const char *text =
		HEAD
		/* the middle page was never copied: a gap inside a kept window */
		"600000-603000 rw-p 00000000 00:00 0 dump 12288 - 600000-601000@1000,602000-603000@3000 - \n"
		/* staged during pre-copy, then MADV_DONTDUMP: must not stay */
		"700000-702000 rw-p 00000000 00:00 0 skip:dontdump 0 - 700000-702000@4000 - \n"
		/* ELF-header rule, whole VMA staged: only the first page is used */
		"800000-803000 r--p 00000000 fe:00 1 dump 4096 - 800000-803000@6000 - /bin/x\n"
		/* first page not staged: its window covers the unused tail above */
		"900000-902000 rw-p 00000000 00:00 0 dump 8192 - 901000-902000@9000 - \n"
		"end 4\n";

	parse(text, &m);
	check(build(&m, 0xa000, true, &l, err, sizeof err) == 0, "gaps: layout builds");
	check(l.phdrs[1].p_offset == 0x1000 && !l.segments[0].moved,
	      "gaps: a VMA with a gap between its extents stays in place");
	check(l.n_clear == 3 && l.clear[0].offset == 0x2000 && l.clear[0].length == 0x1000,
	      "gaps: the gap is cleared (it must read as zeros)");
	check(l.clear[1].offset == 0x4000 && l.clear[1].length == 0x2000,
	      "gaps: the skipped VMA's staged bytes are cleared");
	check(l.clear[2].offset == 0x7000 && l.clear[2].length == 0x2000,
	      "gaps: the staged bytes past a dump size are cleared");
	check(l.phdrs[3].p_filesz == 0x1000 && l.phdrs[3].p_offset == 0x6000,
	      "gaps: ELF-header rule VMA kept, one page");
	check(!l.segments[2].moved && l.phdrs[4].p_offset == 0x8000 && l.n_moved == 0,
	      "gaps: a window over unused staged bytes stays (they are cleared)");
	check(l.phdrs[2].p_filesz == 0, "gaps: skipped VMA has no bytes in the core");
	layout_free(&l);
	check(build(&m, 0xa000, false, &l, err, sizeof err) == 0 && l.n_clear == 0 &&
	      l.pieces[1].out_offset == 4096 + 0x2000, "gaps: stream keeps the gap as a hole");
	layout_free(&l);
	manifest_free(&m);

	parse(HEAD "900000-902000 rw-p 00000000 00:00 0 dump 8192 - 901000-902000@1000 - \nend 1\n", &m);
	check(build(&m, 0x2000, true, &l, err, sizeof err) == 0 && l.segments[0].moved &&
	      l.phdrs[1].p_offset == 0x2000 && l.pieces[0].out_offset == 0x3000 &&
	      l.n_clear == 0, "gaps: a window that would reach into the header page is moved");
	layout_free(&l);
	manifest_free(&m);
}

/* elfutils reads a whole PT_LOAD and its neighbour in memory as one run of
 * the file when the neighbour starts at or before the first one's end. */
static void test_adjacent(void)
{
	struct manifest m;
	struct layout l;
	char err[256];

	parse(HEAD
	      "600000-602000 rw-p 00000000 00:00 0 dump 8192 - 600000-602000@3000 - \n"
	      "602000-604000 rw-p 00000000 00:00 0 dump 8192 - 602000-604000@1000 - \n"
	      "604000-605000 ---p 00000000 00:00 0 skip:unwritten 0 - - - \n"
	      "end 3\n", &m);
	check(build(&m, 0x5000, true, &l, err, sizeof err) == 0 && !l.segments[0].moved &&
	      l.segments[1].moved && l.phdrs[1].p_offset == 0x3000 && l.phdrs[2].p_offset == 0x5000,
	      "adjacent: a neighbour staged before its predecessor is moved after it");
	check(l.phdrs[3].p_offset == 0x7000 && l.phdrs[3].p_filesz == 0,
	      "adjacent: a PT_LOAD of file size 0 starts where its predecessor ends");
	layout_free(&l);
	manifest_free(&m);

	parse(HEAD
	      "600000-602000 rw-p 00000000 00:00 0 dump 8192 - 600000-601000@5000,601000-602000@4000 - \n"
	      "602000-603000 rw-p 00000000 00:00 0 dump 4096 - 602000-603000@1000 - \n"
	      "603000-604000 rw-p 00000000 00:00 0 dump 4096 - 603000-604000@2000 - \n"
	      "700000-701000 rw-p 00000000 00:00 0 dump 4096 - 700000-701000@3000 - \n"
	      "end 4\n", &m);
	check(build(&m, 0x6000, true, &l, err, sizeof err) == 0 && l.n_moved == 3 &&
	      l.phdrs[1].p_offset == 0x6000 && l.phdrs[2].p_offset == 0x8000 &&
	      l.phdrs[3].p_offset == 0x9000,
	      "adjacent: a run of neighbours after a moved VMA moves with it, in address order");
	check(!l.segments[3].moved && l.phdrs[4].p_offset == 0x3000,
	      "adjacent: a VMA that is not a neighbour stays");
	layout_free(&l);
	manifest_free(&m);

	parse(HEAD
	      "600000-602000 r--p 00000000 fe:00 1 dump 4096 - 600000-601000@3000 - /bin/x\n"
	      "602000-603000 rw-p 00000000 00:00 0 dump 4096 - 602000-603000@1000 - \n"
	      "end 2\n", &m);
	check(build(&m, 0x4000, true, &l, err, sizeof err) == 0 && l.n_moved == 0,
	      "adjacent: after a truncated PT_LOAD (ELF-header rule) the order does not matter");
	layout_free(&l);
	manifest_free(&m);
}

static void test_bad_input(void)
{
	struct manifest m;
	struct layout l;
	char err[256] = "";

	parse(simple, &m);
	errno = 0;
	check(build(&m, 0x4800, true, &l, err, sizeof err) < 0 && errno == EINVAL &&
	      strstr(err, "past the end of the staging file"),
	      "bad: extent past the end of the staging file refused (%s)", err);
	check(build(&m, 0x4800, false, &l, err, sizeof err) < 0,
	      "bad: the same in the stream layout");
	check(build(&m, 100, false, &l, err, sizeof err) < 0 && strstr(err, "header page"),
	      "bad: staging file shorter than its header page (%s)", err);
	manifest_free(&m);

	parse(HEAD
	      "600000-602000 rw-p 00000000 00:00 0 dump 8192 - 600000-602000@1000 - \n"
	      "700000-702000 rw-p 00000000 00:00 0 dump 8192 - 700000-702000@2000 - \n"
	      "end 2\n", &m);
	check(build(&m, 0x10000, true, &l, err, sizeof err) < 0 && strstr(err, "share staging bytes"),
	      "bad: two extents sharing staging bytes refused (%s)", err);
	manifest_free(&m);

	/* sizes that do not fit a file: offsets would pass INT64_MAX */
	parse(HEAD
	      "100000000000-500000000000 rw-p 00000000 00:00 0 dump 70368744177664 - - - \n"
	      "500000000000-7ff000000000 rw-p 00000000 00:00 0 dump 52707838230528 - - - \n"
	      "800000000000-c00000000000 rw-p 00000000 00:00 0 dump 70368744177664 - - - \n"
	      "end 3\n", &m);
	check(build(&m, 0x1000, false, &l, err, sizeof err) == 0,
	      "large: 192 TiB of dumped mappings still lay out");
	layout_free(&l);
	manifest_free(&m);
	{
		/* 2^62 + 2^62 bytes: past off_t */
		char text[1024];

		snprintf(text, sizeof text, HEAD
			 "4000000000000000-8000000000000000 rw-p 00000000 00:00 0 dump 4611686018427387904 - - - \n"
			 "8000000000000000-c000000000000000 rw-p 00000000 00:00 0 dump 4611686018427387904 - - - \n"
			 "end 2\n");
		parse(text, &m);
		check(build(&m, 0x1000, false, &l, err, sizeof err) < 0 && strstr(err, "larger than"),
		      "bad: a core larger than off_t refused (%s)", err);
		check(build(&m, 0x1000, true, &l, err, sizeof err) < 0,
		      "bad: the same in place");
		manifest_free(&m);
	}
}

static void test_xnum(void)
{
	size_t n = 70000, len = n * 96 + 1024, at;
	char *text = malloc(len);
	struct manifest m;
	struct layout l;
	char err[256];

	at = (size_t)snprintf(text, len, HEAD);
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(text + at, len - at,
				       "%zx-%zx rw-p 00000000 00:00 0 dump 4096 - - - \n",
				       0x10000000 + i * 0x2000, 0x10001000 + i * 0x2000);
	snprintf(text + at, len - at, "end %zu\n", n);
	parse(text, &m);
	check(build(&m, 0x1000, false, &l, err, sizeof err) == 0, "xnum: 70000 VMAs lay out");
	check(l.xnum && l.ehdr.e_phnum == PN_XNUM && l.ehdr.e_shnum == 1 &&
	      l.ehdr.e_shentsize == sizeof(Elf64_Shdr) && l.shdr.sh_info == n + 1 &&
	      l.shdr.sh_type == SHT_NULL, "xnum: e_phnum = PN_XNUM, section header 0 holds the count");
	check(l.ehdr.e_shoff == 64 + (n + 1) * 56 && l.notes_offset == l.ehdr.e_shoff + 64,
	      "xnum: section header after the program headers, then the notes (stream)");
	check(l.phdrs[n].p_offset == l.head_size + (n - 1) * 4096 && l.file_size == l.head_size + n * 4096,
	      "xnum: the last VMA is where it should be");
	layout_free(&l);
	check(build(&m, 0x1000, true, &l, err, sizeof err) == 0 && l.xnum &&
	      l.ehdr.e_shoff == l.phdrs_offset + (n + 1) * 56 && l.file_size == l.ehdr.e_shoff + 64,
	      "xnum: in place, section header 0 at the very end");
	layout_free(&l);
	manifest_free(&m);

	/* 65534 VMAs + PT_NOTE = 65535 = PN_XNUM: already extended, as the kernel does */
	n = 65534;
	at = (size_t)snprintf(text, len, HEAD);
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(text + at, len - at,
				       "%zx-%zx rw-p 00000000 00:00 0 skip:filter 0 - - - \n",
				       0x10000000 + i * 0x2000, 0x10001000 + i * 0x2000);
	snprintf(text + at, len - at, "end %zu\n", n);
	parse(text, &m);
	check(build(&m, 0x1000, false, &l, err, sizeof err) == 0 && l.xnum && l.shdr.sh_info == 65535,
	      "xnum: exactly 65535 program headers uses PN_XNUM");
	layout_free(&l);
	manifest_free(&m);
	text[0] = 0;
	n = 65533;
	at = (size_t)snprintf(text, len, HEAD);
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(text + at, len - at,
				       "%zx-%zx rw-p 00000000 00:00 0 skip:filter 0 - - - \n",
				       0x10000000 + i * 0x2000, 0x10001000 + i * 0x2000);
	snprintf(text + at, len - at, "end %zu\n", n);
	parse(text, &m);
	check(build(&m, 0x1000, false, &l, err, sizeof err) == 0 && !l.xnum && l.ehdr.e_phnum == 65534,
	      "xnum: 65534 program headers fit e_phnum");
	layout_free(&l);
	manifest_free(&m);
	free(text);
}

/* ---- notes file ------------------------------------------------------- */

static size_t add_note(unsigned char *buf, size_t at, const char *name, unsigned type, size_t descsz)
{
	Elf64_Nhdr n = { (Elf64_Word)strlen(name) + 1, (Elf64_Word)descsz, type };

	memcpy(buf + at, &n, sizeof n);
	at += sizeof n;
	memcpy(buf + at, name, n.n_namesz);
	at += (n.n_namesz + 3) & ~3u;
	memset(buf + at, 0xab, descsz);
	return at + ((descsz + 3) & ~3u);
}

/* A notes file: ELF header, one PT_NOTE, notes; returns its size. */
static size_t make_notes(unsigned char *buf, int prstatus_size)
{
	Elf64_Ehdr e = { 0 };
	Elf64_Phdr p = { 0 };
	size_t at = sizeof e + sizeof p;

	memcpy(e.e_ident, ELFMAG, SELFMAG);
	e.e_ident[EI_CLASS] = ELFCLASS64;
	e.e_ident[EI_DATA] = ELFDATA2LSB;
	e.e_ident[EI_VERSION] = EV_CURRENT;
	e.e_type = ET_CORE;
	e.e_machine = ARCH_ELF_MACHINE;
	e.e_version = EV_CURRENT;
	e.e_phoff = sizeof e;
	e.e_ehsize = sizeof e;
	e.e_phentsize = sizeof p;
	e.e_phnum = 1;
	if (prstatus_size)
		at = add_note(buf, at, "CORE", NT_PRSTATUS, (size_t)prstatus_size);
	at = add_note(buf, at, "CORE", NT_PRPSINFO, 136);
	at = add_note(buf, at, "LINUX", NT_X86_XSTATE, 2696);
	p.p_type = PT_NOTE;
	p.p_offset = sizeof e + sizeof p;
	p.p_filesz = at - p.p_offset;
	memcpy(buf, &e, sizeof e);
	memcpy(buf + sizeof e, &p, sizeof p);
	return at;
}

static void test_notes(void)
{
	static unsigned char buf[8192];
	struct notesfile nf;
	char err[256] = "";
	size_t size = make_notes(buf, NOTESFILE_PRSTATUS_SIZE);
	Elf64_Ehdr *e = (Elf64_Ehdr *)buf;
	Elf64_Phdr *p = (Elf64_Phdr *)(buf + 64);
	Elf64_Nhdr *n = (Elf64_Nhdr *)(buf + 120);

	check(notesfile_parse(buf, size, &nf, err, sizeof err) == 0 && nf.n_notes == 3 &&
	      nf.n_threads == 1 && nf.segment == buf + 120 && nf.size == size - 120,
	      "notes: a good notes file passes (%s)", err);
	check(notesfile_parse(buf, 40, &nf, err, sizeof err) < 0, "notes: truncated ELF header refused");
	buf[0] = 'X';
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0 && strstr(err, "not an ELF"),
	      "notes: bad magic refused (%s)", err);
	buf[0] = 0x7f;
	e->e_ident[EI_CLASS] = ELFCLASS32;
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0, "notes: ELF32 refused (%s)", err);
	e->e_ident[EI_CLASS] = ELFCLASS64;
	e->e_type = ET_EXEC;
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0, "notes: not ET_CORE refused (%s)", err);
	e->e_type = ET_CORE;
	e->e_phnum = 2;
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0, "notes: two program headers refused (%s)", err);
	e->e_phnum = 1;
	e->e_phoff = size - 10;
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0, "notes: program header past the end refused (%s)", err);
	e->e_phoff = 64;
	p->p_filesz += 4;
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0 && strstr(err, "outside the file"),
	      "notes: PT_NOTE past the end of the file refused (%s)", err);
	p->p_filesz -= 4;
	p->p_type = PT_LOAD;
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0, "notes: a PT_LOAD instead refused (%s)", err);
	p->p_type = PT_NOTE;
	p->p_offset = 0xffffffffffffff00ull;
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0, "notes: PT_NOTE offset overflow refused (%s)", err);
	p->p_offset = 120;
	n->n_descsz = 0x7ffffff0;
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0 && strstr(err, "runs past"),
	      "notes: descriptor size past the segment refused (%s)", err);
	n->n_descsz = NOTESFILE_PRSTATUS_SIZE;
	n->n_namesz = 0xfffffffe;
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0 && strstr(err, "runs past"),
	      "notes: name size past the segment (and overflowing) refused (%s)", err);
	n->n_namesz = 5;
	buf[120 + 12 + 4] = 'X';
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0 && strstr(err, "not terminated"),
	      "notes: unterminated name refused (%s)", err);
	buf[120 + 12 + 4] = 0;
	check(notesfile_parse(buf, size - 4, &nf, err, sizeof err) < 0, "notes: file cut short refused (%s)", err);

	size = make_notes(buf, 200);
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0 && strstr(err, "NT_PRSTATUS of 200"),
	      "notes: NT_PRSTATUS of the wrong size refused (%s)", err);
	size = make_notes(buf, 0);
	check(notesfile_parse(buf, size, &nf, err, sizeof err) < 0 && strstr(err, "no NT_PRSTATUS"),
	      "notes: no thread refused (%s)", err);
}

static void test_pflags(void)
{
	check(layout_pflags("rwxp") == 7 && layout_pflags("r--s") == 4 && layout_pflags("-w-p") == 2 &&
	      layout_pflags("--xp") == 1 && layout_pflags("---p") == 0,
	      "p_flags: R=4, W=2, X=1 from the permissions");
}

int main(void)
{
	test_pflags();
	test_stream();
	test_in_place();
	test_scattered();
	test_gaps_and_clearing();
	test_adjacent();
	test_bad_input();
	test_xnum();
	test_notes();
	printf("1..%d\n", n_checks);
	return n_failed ? 1 : 0;
}
