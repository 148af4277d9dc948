/* arch.h for x86-64: a stopped thread's registers and their notes. */
#include "arch.h"

#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/utsname.h>

/* The largest XSAVE area a CPU reports today is about 11 KiB (AMX tiles);
 * the kernel answers PTRACE_GETREGSET with the size it actually has. */
#define XSTATE_MAX (64u << 10)

#ifndef NT_X86_XSAVE_LAYOUT
#define NT_X86_XSAVE_LAYOUT 0x205
#endif

void arch_stop_regs_init(struct arch_stop_regs *p)
{
	memset(p, 0, sizeof *p);
}

void arch_stop_regs_free(struct arch_stop_regs *p)
{
	if (p->pool)
		munmap(p->pool, p->pool_bytes);
	free(p->scratch);
	p->pool = p->scratch = NULL;
	p->pool_slot = p->pool_slots = p->pool_used = p->pool_bytes = 0;
}

void arch_thread_regs_free(struct arch_thread_regs *t)
{
	if (!t->xstate_pooled)
		free(t->xstate);
	t->xstate = NULL;
	t->xstate_size = 0;
	t->xstate_pooled = false;
}

int arch_stop_regs_reserve(struct arch_stop_regs *p, size_t threads)
{
	size_t want = threads + threads / 8 + 64;
	unsigned eax, ebx, ecx = 0, edx;

	if (p->pool || __get_cpuid_max(0, NULL) < 0xd)
		return 0;
	/* ECX: the XSAVE area of every feature the CPU supports (the
	 * kernel's regset is never larger) */
	__cpuid_count(0xd, 0, eax, ebx, ecx, edx);
	(void)eax;
	(void)ebx;
	(void)edx;
	if (ecx < ARCH_FPREGS_SIZE || ecx > XSTATE_MAX)
		return 0;
	p->pool_slot = (ecx + 63u) & ~(size_t)63u;
	p->pool_bytes = want * p->pool_slot;
	p->pool = mmap(NULL, p->pool_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->pool == MAP_FAILED) {
		p->pool = NULL;
		p->pool_slot = p->pool_bytes = 0;
		return -1;
	}
	p->pool_slots = want;
	p->pool_used = 0;
	return 0;
}

static int read_regset(pid_t tid, unsigned type, void *buf, size_t *len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = *len };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)(unsigned long)type, &iov) < 0)
		return -1;
	*len = iov.iov_len;
	return 0;
}

/* NT_X86_XSAVE_LAYOUT (0x205, name "LINUX", Linux 6.12: ba386777a30b,
 * arch/x86/kernel/fpu/xstate.c) is no regset: fill_thread_core_info,
 * which writes each thread's regsets, never sees it, and PTRACE_GETREGSET
 * 0x205 answers EINVAL. elf_core_dump (fs/binfmt_elf.c) writes it once,
 * through elf_coredump_extra_notes_write, after write_note_info: the last
 * note of PT_NOTE, after every thread's notes (the segment's size counts
 * it through elf_coredump_extra_notes_size). Its descriptor: for each bit
 * i >= 2 of fpu_user_cfg.max_features, in ascending order, the 16 bytes
 * { i, xstate_sizes[i], xstate_offsets[i], 0 }, the sizes and offsets
 * being CPUID(0xD, i).EAX and .EBX (setup_xstate_cache). The kernel
 * writes it whenever max_features is not 0; with nothing beyond x87 and
 * SSE the descriptor is empty (a dump failed there before c8161e5304ab).
 * fpu_user_cfg.max_features is also word 0 of NT_X86_XSTATE's software
 * area at byte 464 (update_regset_xstate_info: where gdb reads XCR0), so
 * the layout read here describes exactly the XSAVE area read with it.
 * Seen on 6.18, AMD EPYC with AVX-512, max_features 0xe7: NT_X86_XSTATE
 * 2432 bytes in each thread's notes, then one NT_X86_XSAVE_LAYOUT of 64
 * bytes: components 2 (256 bytes at 576), 5 (64 at 832), 6 (512 at 896),
 * 7 (1024 at 1408). */
#define XSTATE_XFEATURES_OFFSET 464u
#define XSTATE_HEADER_END 576u  /* the FXSAVE area and the XSAVE header */

/* Nothing a process can ask says whether the kernel writes the note in
 * its cores (it is no regset, no flag, and making a kernel core to see
 * is not ours to do): its release says it, 6.12 or later. A distribution
 * kernel with the note backported to an older release gets none from us,
 * as before; readers do without it (gdb then guesses from XCR0 and the
 * NT_X86_XSTATE size). */
static bool kernel_writes_xsave_layout(void)
{
	struct utsname u;
	unsigned major, minor;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 12);
}

static void read_xsave_layout(struct arch_stop_regs *p, const unsigned char *xstate, size_t len)
{
	uint64_t features;
	size_t n = 0;

	p->has_xsave_layout = false;
	p->n_xsave_layout = 0;
	/* without XSAVE (an FXSAVE-only area) max_features is 0: no note */
	if (len < XSTATE_HEADER_END || !kernel_writes_xsave_layout() ||
	    __get_cpuid_max(0, NULL) < 0xd)
		return;
	memcpy(&features, xstate + XSTATE_XFEATURES_OFFSET, sizeof features);
	if (features == 0)
		return;
	for (unsigned i = 2; i < 64; i++) {
		unsigned size, offset, ecx, edx;

		if (!(features >> i & 1))
			continue;
		__cpuid_count(0xd, i, size, offset, ecx, edx);
		(void)ecx;
		(void)edx;
		/* a component outside the area read cannot be what the
		 * kernel describes: no note rather than a wrong one */
		if (size == 0 || offset < XSTATE_HEADER_END || offset > len || size > len - offset)
			return;
		p->xsave_layout[n++] = (struct arch_xfeature){
			.type = i, .size = size, .offset = offset, .flags = 0,
		};
	}
	p->n_xsave_layout = n;
	p->has_xsave_layout = true;
}

/* NT_PRFPREG's bytes that are the XSAVE area's legacy region as it is
 * (x87, MXCSR, XMM, the padding); the 48 after differ (NT_X86_XSTATE
 * holds its software bytes there) */
#define FPREGS_FROM_XSTATE 464u
_Static_assert(sizeof ((struct arch_stop_regs *)0)->fp_tail == ARCH_FPREGS_SIZE - FPREGS_FROM_XSTATE,
	       "fp_tail is NT_PRFPREG past the legacy region");

/* Thread t's NT_X86_XSTATE: into a slot of the pool where its size is
 * known (p->known, from the first thread read) and fits, else through
 * scratch (XSTATE_MAX bytes: the size the kernel reports is exact there)
 * into memory of its own. */
static int read_xstate(struct arch_stop_regs *p, struct arch_thread_regs *t, pid_t tid)
{
	size_t len;

	if (p->known && p->known <= p->pool_slot && p->pool_used < p->pool_slots) {
		unsigned char *slot = p->pool + p->pool_used * p->pool_slot;

		len = p->pool_slot;
		if (read_regset(tid, NT_X86_XSTATE, slot, &len) < 0)
			return -1;
		if (len == p->known) {
			arch_thread_regs_free(t);
			t->xstate = slot;
			t->xstate_size = len;
			t->xstate_pooled = true;
			p->pool_used++;
			return 0;
		}
	}
	len = XSTATE_MAX;
	if (read_regset(tid, NT_X86_XSTATE, p->scratch, &len) < 0)
		return -1;
	arch_thread_regs_free(t);
	if (!(t->xstate = malloc(len ? len : 1)))
		return -1;
	memcpy(t->xstate, p->scratch, len);
	t->xstate_size = len;
	if (!p->known)
		p->known = len;
	return 0;
}

int arch_read_begin(struct arch_stop_regs *p)
{
	p->known = 0;
	p->fp_checked = p->fp_from_xstate = false;
	if (!p->scratch && !(p->scratch = malloc(XSTATE_MAX)))
		return -1;
	return 0;
}

/* NT_PRFPREG is the XSAVE area's first 464 bytes and a tail the kernel
 * writes the same for every thread (zeros on 6.18, where NT_X86_XSTATE
 * has its software bytes): where the first thread's two regsets show
 * that, the others' NT_PRFPREG is taken from their XSAVE area, one
 * system call fewer a thread. */
int arch_read_thread(struct arch_stop_regs *p, struct arch_thread_regs *t, pid_t tid)
{
	size_t len = sizeof t->regs.r;

	if (read_regset(tid, NT_PRSTATUS, &t->regs.r, &len) < 0)
		return -1;
	if (len != sizeof t->regs.r)
		goto short_read;
	if (read_xstate(p, t, tid) < 0)
		return -1;
	if (p->fp_from_xstate && t->xstate_size >= ARCH_FPREGS_SIZE) {
		memcpy(t->fpregs, t->xstate, FPREGS_FROM_XSTATE);
		memcpy(t->fpregs + FPREGS_FROM_XSTATE, p->fp_tail, sizeof p->fp_tail);
		return 0;
	}
	len = sizeof t->fpregs;
	if (read_regset(tid, NT_PRFPREG, t->fpregs, &len) < 0)
		return -1;
	if (len != sizeof t->fpregs)
		goto short_read;
	/* the first thread shows whether this kernel's NT_PRFPREG is the
	 * XSAVE area's start: then the others' is taken from theirs */
	if (!p->fp_checked && t->xstate_size >= ARCH_FPREGS_SIZE) {
		p->fp_checked = true;
		p->fp_from_xstate = !p->test_fpregs_each && !memcmp(t->fpregs, t->xstate, FPREGS_FROM_XSTATE);
		memcpy(p->fp_tail, t->fpregs + FPREGS_FROM_XSTATE, sizeof p->fp_tail);
	}
	return 0;
short_read:
	errno = EIO;
	return -1;
}

/* Then the XSAVE layout, once for the process: no regset answers it
 * (PTRACE_GETREGSET 0x205 is EINVAL even where the kernel writes the
 * note), so it is what the kernel puts in its note: CPUID leaf 0xD for
 * each component the kernel enables for user space, as NT_X86_XSTATE's
 * own header names them. Left out (has_xsave_layout false, never a
 * failure) on a kernel that writes no such note, or where the CPU's
 * answer does not fit the XSAVE area read. */
void arch_read_end(struct arch_stop_regs *p, const struct arch_thread_regs *first)
{
	free(p->scratch);
	p->scratch = NULL;
	p->has_xsave_layout = false;
	p->n_xsave_layout = 0;
	if (first && first->xstate)
		read_xsave_layout(p, first->xstate, first->xstate_size);
}

size_t arch_thread_notes(const struct arch_thread_regs *t, struct arch_note *out)
{
	out[0] = (struct arch_note){ "CORE", NT_PRFPREG, t->fpregs, sizeof t->fpregs };
	out[1] = (struct arch_note){ "LINUX", NT_X86_XSTATE, t->xstate, t->xstate_size };
	return 2;
}

size_t arch_process_notes(const struct arch_stop_regs *p, struct arch_note *out)
{
	if (!p->has_xsave_layout)
		return 0;
	out[0] = (struct arch_note){ "LINUX", NT_X86_XSAVE_LAYOUT, p->xsave_layout,
				     p->n_xsave_layout * sizeof *p->xsave_layout };
	return 1;
}
