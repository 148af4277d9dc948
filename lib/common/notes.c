#include "notes.h"
#include "arch.h"
#include "xio.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The layouts the kernel writes (include/uapi/linux/elfcore.h): those of
 * every 64-bit architecture but for pr_reg's length. */
_Static_assert(sizeof(struct notes_prstatus) == 112 + 8 * NOTES_NREGS + 8,
	       "elf_prstatus: 112 bytes, pr_reg, pr_fpvalid and its padding");
_Static_assert(offsetof(struct notes_prstatus, sigpend) == 16, "pr_sigpend");
_Static_assert(offsetof(struct notes_prstatus, pid) == 32, "pr_pid");
_Static_assert(offsetof(struct notes_prstatus, utime) == 48, "pr_utime");
_Static_assert(offsetof(struct notes_prstatus, reg) == 112, "pr_reg");
_Static_assert(offsetof(struct notes_prstatus, fpvalid) == 112 + 8 * NOTES_NREGS, "pr_fpvalid");
_Static_assert(sizeof(struct arch_regs) == 8 * NOTES_NREGS, "pr_reg is struct arch_regs");
_Static_assert(sizeof(struct notes_prpsinfo) == 136, "elf_prpsinfo is 136 bytes");
_Static_assert(offsetof(struct notes_prpsinfo, flag) == 8, "pr_flag");
_Static_assert(offsetof(struct notes_prpsinfo, uid) == 16, "pr_uid");
_Static_assert(offsetof(struct notes_prpsinfo, pid) == 24, "pr_pid");
_Static_assert(offsetof(struct notes_prpsinfo, fname) == 40, "pr_fname");
_Static_assert(offsetof(struct notes_prpsinfo, psargs) == 56, "pr_psargs");
_Static_assert(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) == NOTES_FILE_OFFSET, "header sizes");

/* NT_FILE counts file offsets in the kernel's pages (fill_files_note:
 * PAGE_SIZE, vm_pgoff): 4 KiB on x86-64, 4, 16 or 64 KiB on arm64. The
 * process dumped runs on the kernel this runs on. */
static uint64_t nt_file_page(void)
{
	long page = sysconf(_SC_PAGESIZE);

	return page > 0 ? (uint64_t)page : 4096u;
}

static size_t pad4(size_t n)
{
	return (n + 3u) & ~(size_t)3u;
}

static size_t add(struct notes_note *list, size_t i, const char *name, uint32_t type,
		  const void *desc, size_t size)
{
	list[i].name = name;
	list[i].type = type;
	list[i].desc = desc;
	list[i].desc_size = size;
	return i + 1;
}

static size_t add_arch(struct notes_note *list, size_t i, const struct arch_note *notes, size_t n)
{
	for (size_t k = 0; k < n; k++)
		i = add(list, i, notes[k].name, notes[k].type, notes[k].desc, notes[k].desc_size);
	return i;
}

size_t notes_list_count(const struct notes_process *p)
{
	size_t n = 4 + p->n_extra;

	for (size_t t = 0; t < p->n_threads; t++)
		n += 1 + p->threads[t].n_regsets;
	return n;
}

long notes_list(const struct notes_process *p, struct notes_note *list, size_t max)
{
	size_t i = 0;

	if (p->n_threads == 0 || max < notes_list_count(p)) {
		errno = p->n_threads == 0 ? EINVAL : ENOSPC;
		return -1;
	}
	i = add(list, i, "CORE", NOTES_NT_PRSTATUS, &p->threads[0].prstatus,
		sizeof p->threads[0].prstatus);
	i = add(list, i, "CORE", NOTES_NT_PRPSINFO, &p->psinfo, sizeof p->psinfo);
	i = add(list, i, "CORE", NOTES_NT_SIGINFO, p->siginfo, sizeof p->siginfo);
	i = add(list, i, "CORE", NOTES_NT_AUXV, p->auxv, p->auxv_size);
	i = add(list, i, "CORE", NOTES_NT_FILE, p->file, p->file_size);
	i = add_arch(list, i, p->threads[0].regsets, p->threads[0].n_regsets);
	for (size_t t = 1; t < p->n_threads; t++) {
		i = add(list, i, "CORE", NOTES_NT_PRSTATUS, &p->threads[t].prstatus,
			sizeof p->threads[t].prstatus);
		i = add_arch(list, i, p->threads[t].regsets, p->threads[t].n_regsets);
	}
	/* no regsets: the kernel writes them once, after every thread's
	 * notes (elf_coredump_extra_notes_write; arch/x86_64/regs.c) */
	return (long)add_arch(list, i, p->extra, p->n_extra);
}

size_t notes_note_size(const struct notes_note *n)
{
	return sizeof(Elf64_Nhdr) + pad4(strlen(n->name) + 1) + pad4(n->desc_size);
}

size_t notes_size(const struct notes_note *list, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += notes_note_size(&list[i]);
	return total;
}

void notes_encode(const struct notes_note *list, size_t n, unsigned char *buf)
{
	size_t at = 0;

	for (size_t i = 0; i < n; i++) {
		const struct notes_note *note = &list[i];
		size_t namesz = strlen(note->name) + 1;
		Elf64_Nhdr h = {
			.n_namesz = (Elf64_Word)namesz,
			.n_descsz = (Elf64_Word)note->desc_size,
			.n_type = note->type,
		};
		size_t size = notes_note_size(note);

		memset(buf + at, 0, size);
		memcpy(buf + at, &h, sizeof h);
		memcpy(buf + at + sizeof h, note->name, namesz);
		if (note->desc_size)
			memcpy(buf + at + sizeof h + pad4(namesz), note->desc, note->desc_size);
		at += size;
	}
}

int notes_write_file(int fd, const struct notes_note *list, size_t n)
{
	size_t size = notes_size(list, n);
	unsigned char *buf = malloc(NOTES_FILE_OFFSET + size);
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int rc;

	if (!buf)
		return -1;
	memset(&eh, 0, sizeof eh);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = ET_CORE;
	eh.e_machine = ARCH_ELF_MACHINE;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof eh;
	eh.e_ehsize = sizeof eh;
	eh.e_phentsize = sizeof ph;
	eh.e_phnum = 1;

	memset(&ph, 0, sizeof ph);
	ph.p_type = PT_NOTE;
	ph.p_offset = NOTES_FILE_OFFSET;
	ph.p_filesz = size;
	ph.p_align = 4;

	memcpy(buf, &eh, sizeof eh);
	memcpy(buf + sizeof eh, &ph, sizeof ph);
	notes_encode(list, n, buf + NOTES_FILE_OFFSET);
	rc = xio_write_full(fd, buf, NOTES_FILE_OFFSET + size);
	free(buf);
	return rc;
}

size_t notes_file_size(const struct notes_file_entry *e, size_t n)
{
	size_t size = 2 * sizeof(uint64_t) + n * 3 * sizeof(uint64_t);

	for (size_t i = 0; i < n; i++)
		size += strlen(e[i].name) + 1;
	return size;
}

void notes_file_encode(const struct notes_file_entry *e, size_t n, unsigned char *buf)
{
	uint64_t page = nt_file_page(), head[2] = { n, page };
	size_t at = sizeof head;

	memcpy(buf, head, sizeof head);
	for (size_t i = 0; i < n; i++) {
		uint64_t triple[3] = { e[i].start, e[i].end, e[i].offset / page };

		memcpy(buf + at, triple, sizeof triple);
		at += sizeof triple;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(e[i].name) + 1;

		memcpy(buf + at, e[i].name, len);
		at += len;
	}
}

int notes_state_number(char stat_state)
{
	switch (stat_state) {
	case 'S': return 1;
	case 'D': return 2;
	case 'T': case 't': return 3;
	case 'Z': case 'X': return 4;
	case 'W': return 5;
	default: return 0;
	}
}
