/* notesfile - the notes file lc-freeze writes (an ELF64 ET_CORE for the
 * architecture of the build (arch.h) holding exactly one PT_NOTE program header), checked as hostile input
 * before its PT_NOTE segment is copied verbatim into the core. No I/O: it
 * works on the file's bytes, so lc-layout-test checks it too. */
#ifndef LC_ELFWRITE_NOTESFILE_H
#define LC_ELFWRITE_NOTESFILE_H

#include "notes.h"

#include <stddef.h>
#include <stdint.h>

/* struct elf_prstatus of the architecture (336 bytes on x86-64, 392 on
 * aarch64): what NT_PRSTATUS must hold */
#define NOTESFILE_PRSTATUS_SIZE ((uint32_t)sizeof(struct notes_prstatus))
/* A notes file larger than this is refused (about 64 KiB per thread: far
 * more than any real thread needs, even with AVX-512 state). */
#define NOTESFILE_MAX_SIZE (1ull << 30)

struct notesfile {
	const unsigned char *segment;   /* the PT_NOTE bytes, inside the file's buffer */
	uint64_t size;
	size_t n_notes;
	size_t n_threads;               /* NT_PRSTATUS notes */
};

/* Checks ELF magic, class, data, version, type ET_CORE, machine x86-64,
 * header sizes, exactly one program header and that it is a PT_NOTE lying
 * inside the file, then walks every note: its name and descriptor (padded to
 * 4 bytes) inside the segment, the name NUL-terminated, NT_PRSTATUS of the
 * x86-64 size; at least one thread. Returns 0, or -1 with errno = EINVAL and
 * the reason in err. */
int notesfile_parse(const unsigned char *file, uint64_t file_size, struct notesfile *out,
		    char *err, size_t errlen);

#endif
