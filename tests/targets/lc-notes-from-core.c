/* lc-notes-from-core - test helper for lc-elfwrite: takes the PT_NOTE
 * segment of a core (gdb's gcore or the kernel's) and wraps it in a minimal
 * ELF64 ET_CORE holding only that one PT_NOTE program header: the notes file
 * format lc-freeze writes. Lets the lc-elfwrite tests run before, and
 * independently of, lc-freeze.
 *
 *   lc-notes-from-core CORE NOTES */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what)
{
	fprintf(stderr, "lc-notes-from-core: %s%s%s\n", what, errno ? ": " : "",
		errno ? strerror(errno) : "");
	exit(1);
}

int main(int argc, char **argv)
{
	FILE *in, *out;
	Elf64_Ehdr e, ne;
	Elf64_Phdr p, np;
	unsigned char *notes = NULL;
	int found = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: lc-notes-from-core CORE NOTES\n");
		return 2;
	}
	in = fopen(argv[1], "rb");
	if (!in)
		die("cannot open the core");
	if (fread(&e, sizeof e, 1, in) != 1 || memcmp(e.e_ident, ELFMAG, SELFMAG) ||
	    e.e_ident[EI_CLASS] != ELFCLASS64 || e.e_type != ET_CORE)
		die("not an ELF64 core");
	for (unsigned i = 0; i < e.e_phnum && !found; i++) {
		if (fseek(in, (long)(e.e_phoff + (uint64_t)i * e.e_phentsize), SEEK_SET) < 0 ||
		    fread(&p, sizeof p, 1, in) != 1)
			die("cannot read a program header");
		if (p.p_type != PT_NOTE)
			continue;
		notes = malloc(p.p_filesz);
		if (!notes || fseek(in, (long)p.p_offset, SEEK_SET) < 0 ||
		    fread(notes, 1, p.p_filesz, in) != p.p_filesz)
			die("cannot read the notes");
		found = 1;
	}
	if (!found) {
		errno = 0;
		die("the core has no PT_NOTE");
	}
	memset(&ne, 0, sizeof ne);
	memcpy(ne.e_ident, e.e_ident, EI_NIDENT);
	ne.e_type = ET_CORE;
	ne.e_machine = e.e_machine;
	ne.e_version = EV_CURRENT;
	ne.e_phoff = sizeof ne;
	ne.e_ehsize = sizeof ne;
	ne.e_phentsize = sizeof np;
	ne.e_phnum = 1;
	memset(&np, 0, sizeof np);
	np.p_type = PT_NOTE;
	np.p_offset = sizeof ne + sizeof np;
	np.p_filesz = p.p_filesz;
	np.p_align = 4;
	out = fopen(argv[2], "wbx");
	if (!out)
		die("cannot create the notes file");
	if (fwrite(&ne, sizeof ne, 1, out) != 1 || fwrite(&np, sizeof np, 1, out) != 1 ||
	    fwrite(notes, 1, p.p_filesz, out) != p.p_filesz || fclose(out) == EOF)
		die("cannot write the notes file");
	fclose(in);
	free(notes);
	return 0;
}
