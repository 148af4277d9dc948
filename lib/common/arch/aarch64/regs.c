/* arch.h for aarch64: a stopped thread's registers and their notes. */
#include "arch.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

/* include/uapi/linux/elf.h; glibc 2.36 names those up to 0x40a */
#define NT_ARM_SSVE 0x40b
#define NT_ARM_ZA 0x40c
#define NT_ARM_ZT 0x40d
#define NT_ARM_FPMR 0x40e
#define NT_ARM_POE 0x40f
#define NT_ARM_GCS 0x410

/* The regsets after NT_PRSTATUS in aarch64_regsets, the table the
 * kernel's own core walks (arch/arm64/kernel/ptrace.c; fs/binfmt_elf.c,
 * fill_thread_core_info), in its order, as of Linux 6.13. Every one has
 * a note type; the kernel writes those whose read succeeds: a feature
 * the CPU or the kernel lacks (SVE, SME, PAC, POE, GCS, a newer table
 * entry) answers an error, to ptrace as to the core, and is left out. */
static const uint32_t regset_order[] = {
	NT_PRFPREG, NT_ARM_TLS, NT_ARM_HW_BREAK, NT_ARM_HW_WATCH, NT_ARM_FPMR,
	NT_ARM_SYSTEM_CALL, NT_ARM_SVE, NT_ARM_SSVE, NT_ARM_ZA, NT_ARM_ZT,
	NT_ARM_PAC_MASK, NT_ARM_PAC_ENABLED_KEYS, NT_ARM_PACA_KEYS, NT_ARM_PACG_KEYS,
	NT_ARM_TAGGED_ADDR_CTRL, NT_ARM_POE, NT_ARM_GCS,
};
_Static_assert(sizeof regset_order / sizeof *regset_order <= ARCH_THREAD_NOTES_MAX,
	       "ARCH_THREAD_NOTES_MAX holds every regset");

/* The largest regset: SVE at the architecture's largest vector length
 * (SVE_PT_SIZE(SVE_VQ_MAX), about 274 KiB), ZA at SME's (64 KiB) */
#define SCRATCH_SIZE (512u << 10)

/* SVE, streaming SVE and ZA are as long as their vector length: the
 * kernel's note holds the bytes its header's first word counts (struct
 * user_sve_header, user_za_header: __u32 size), which PTRACE_GETREGSET's
 * iov_len does not say (it answers the table's maximum). */
static bool sized_by_header(uint32_t type)
{
	return type == NT_ARM_SVE || type == NT_ARM_SSVE || type == NT_ARM_ZA;
}

void arch_stop_regs_init(struct arch_stop_regs *p)
{
	memset(p, 0, sizeof *p);
}

void arch_stop_regs_free(struct arch_stop_regs *p)
{
	free(p->scratch);
	p->scratch = NULL;
}

void arch_thread_regs_free(struct arch_thread_regs *t)
{
	free(t->data);
	t->data = NULL;
	t->n_sets = 0;
}

/* Each thread's regsets are malloc'd at the size they turn out to have
 * (a few KiB): nothing is set aside before the stop yet. */
int arch_stop_regs_reserve(struct arch_stop_regs *p, size_t threads)
{
	(void)p;
	(void)threads;
	return 0;
}

int arch_read_begin(struct arch_stop_regs *p)
{
	p->known = false;
	p->n_present = 0;
	if (!p->scratch && !(p->scratch = malloc(SCRATCH_SIZE)))
		return -1;
	return 0;
}

/* One regset into p->scratch; its size, 0 when this kernel or CPU has no
 * such regset (or, for this thread, none in force), -1 when the thread is
 * gone. */
static long read_one(struct arch_stop_regs *p, pid_t tid, uint32_t type)
{
	struct iovec iov = { .iov_base = p->scratch, .iov_len = SCRATCH_SIZE };
	uint32_t size;

	if (ptrace(PTRACE_GETREGSET, tid, (void *)(unsigned long)type, &iov) < 0)
		return errno == ESRCH ? -1 : 0;
	if (sized_by_header(type) && iov.iov_len >= sizeof size) {
		memcpy(&size, p->scratch, sizeof size);
		if (size < iov.iov_len)
			iov.iov_len = size;
	}
	return (long)iov.iov_len;
}

/* The first thread is asked for every regset of the table, the others
 * for those the first one had: which exist is the kernel's and the CPU's
 * matter, not a thread's. */
int arch_read_thread(struct arch_stop_regs *p, struct arch_thread_regs *t, pid_t tid)
{
	struct iovec iov = { .iov_base = &t->regs.r, .iov_len = sizeof t->regs.r };
	const uint32_t *types = p->known ? p->present : regset_order;
	size_t n = p->known ? p->n_present : sizeof regset_order / sizeof *regset_order;
	size_t total = 0, cap = 0;
	unsigned char *data = NULL;

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return -1;
	if (iov.iov_len != sizeof t->regs.r) {
		errno = EIO;
		return -1;
	}
	arch_thread_regs_free(t);
	if (!p->known)
		p->n_present = 0;
	for (size_t i = 0; i < n; i++) {
		long len = read_one(p, tid, types[i]);

		if (len < 0)
			goto fail;
		if (len == 0)
			continue;
		if (total + (size_t)len > cap) {
			size_t want = (total + (size_t)len) * 2;
			unsigned char *more = realloc(data, want);

			if (!more)
				goto fail;
			data = more;
			cap = want;
		}
		memcpy(data + total, p->scratch, (size_t)len);
		t->sets[t->n_sets++] = (struct arch_regset){
			.type = types[i], .size = (uint32_t)len, .offset = total,
		};
		/* notes are 4-byte aligned; every regset is a multiple of 4 */
		total += ((size_t)len + 3u) & ~(size_t)3u;
		if (!p->known)
			p->present[p->n_present++] = types[i];
	}
	p->known = true;
	t->data = data;
	return 0;
fail:
	free(data);
	t->n_sets = 0;
	return -1;
}

void arch_read_end(struct arch_stop_regs *p, const struct arch_thread_regs *first)
{
	(void)first;
	free(p->scratch);
	p->scratch = NULL;
}

size_t arch_thread_notes(const struct arch_thread_regs *t, struct arch_note *out)
{
	for (size_t i = 0; i < t->n_sets; i++)
		out[i] = (struct arch_note){
			.name = t->sets[i].type == NT_PRFPREG ? "CORE" : "LINUX",
			.type = t->sets[i].type,
			.desc = t->data + t->sets[i].offset,
			.desc_size = t->sets[i].size,
		};
	return t->n_sets;
}

size_t arch_process_notes(const struct arch_stop_regs *p, struct arch_note *out)
{
	(void)p;
	(void)out;
	return 0;
}
