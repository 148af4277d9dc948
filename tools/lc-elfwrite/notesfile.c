#include "notesfile.h"
#include "arch.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int notes_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int notes_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	errno = EINVAL;
	return -1;
}

static uint64_t pad4(uint64_t v)
{
	return (v + 3) & ~(uint64_t)3;
}

int notesfile_parse(const unsigned char *file, uint64_t file_size, struct notesfile *out,
		    char *err, size_t errlen)
{
	Elf64_Ehdr e;
	Elf64_Phdr p;
	uint64_t at = 0;

	memset(out, 0, sizeof *out);
	if (file_size > NOTESFILE_MAX_SIZE)
		return notes_fail(err, errlen, "%" PRIu64 " bytes is too large for a notes file",
				  file_size);
	if (file_size < sizeof e || memcmp(file, ELFMAG, SELFMAG))
		return notes_fail(err, errlen, "not an ELF file");
	memcpy(&e, file, sizeof e);
	if (e.e_ident[EI_CLASS] != ELFCLASS64 || e.e_ident[EI_DATA] != ELFDATA2LSB ||
	    e.e_ident[EI_VERSION] != EV_CURRENT || e.e_version != EV_CURRENT)
		return notes_fail(err, errlen, "not a little-endian ELF64 file of version 1");
	if (e.e_type != ET_CORE || e.e_machine != ARCH_ELF_MACHINE)
		return notes_fail(err, errlen, "not an " ARCH_NAME " core file (type %u, machine %u)",
				  e.e_type, e.e_machine);
	if (e.e_ehsize != sizeof e || e.e_phentsize != sizeof p)
		return notes_fail(err, errlen, "bad ELF header or program header size");
	if (e.e_phnum != 1)
		return notes_fail(err, errlen, "%u program headers, want exactly one PT_NOTE",
				  e.e_phnum);
	if (e.e_phoff > file_size || file_size - e.e_phoff < sizeof p)
		return notes_fail(err, errlen, "program header at 0x%" PRIx64 " lies past the end",
				  (uint64_t)e.e_phoff);
	memcpy(&p, file + e.e_phoff, sizeof p);
	if (p.p_type != PT_NOTE)
		return notes_fail(err, errlen, "the program header is not a PT_NOTE (type %u)",
				  p.p_type);
	if (p.p_offset > file_size || p.p_filesz > file_size - p.p_offset || p.p_filesz == 0)
		return notes_fail(err, errlen,
				  "PT_NOTE at 0x%" PRIx64 " of %" PRIu64 " bytes is empty or lies "
				  "outside the file (%" PRIu64 " bytes)",
				  (uint64_t)p.p_offset, (uint64_t)p.p_filesz, file_size);
	if (p.p_offset % 4)
		return notes_fail(err, errlen, "PT_NOTE at 0x%" PRIx64 " is not 4-aligned",
				  (uint64_t)p.p_offset);
	out->segment = file + p.p_offset;
	out->size = p.p_filesz;
	while (at < out->size) {
		Elf64_Nhdr n;
		uint64_t left = out->size - at, name_len, desc_len;

		if (left < sizeof n)
			return notes_fail(err, errlen, "note %zu: header truncated at 0x%" PRIx64,
					  out->n_notes + 1, at);
		memcpy(&n, out->segment + at, sizeof n);
		name_len = pad4(n.n_namesz);
		desc_len = pad4(n.n_descsz);
		left -= sizeof n;
		if (name_len > left || desc_len > left - name_len)
			return notes_fail(err, errlen,
					  "note %zu at 0x%" PRIx64 ": name (%u bytes) or descriptor "
					  "(%u bytes) runs past the PT_NOTE segment",
					  out->n_notes + 1, at, n.n_namesz, n.n_descsz);
		if (n.n_namesz && out->segment[at + sizeof n + n.n_namesz - 1] != '\0')
			return notes_fail(err, errlen, "note %zu at 0x%" PRIx64 ": name not terminated",
					  out->n_notes + 1, at);
		if (n.n_type == NT_PRSTATUS && n.n_namesz == 5 &&
		    !memcmp(out->segment + at + sizeof n, "CORE", 5)) {
			if (n.n_descsz != NOTESFILE_PRSTATUS_SIZE)
				return notes_fail(err, errlen,
						  "note %zu: NT_PRSTATUS of %u bytes, want %u",
						  out->n_notes + 1, n.n_descsz,
						  NOTESFILE_PRSTATUS_SIZE);
			out->n_threads++;
		}
		at += sizeof n + name_len + desc_len;
		out->n_notes++;
	}
	if (out->n_threads == 0)
		return notes_fail(err, errlen, "no NT_PRSTATUS note: the core would have no thread");
	return 0;
}
