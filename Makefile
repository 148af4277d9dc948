# livecore - one non-recursive Makefile (STYLE.md: scdoc's layout, but a
# `check` that fails when a test fails).
#
#   make                      build the tools, test targets and man pages
#   make check                run the whole bats suite against this build
#   make test                 install missing packages (as root), then check
#   make demo                 dump a running demo program, read it with gdb
#   make fuzz                 run each parser's fuzz target (FUZZ_SECONDS)
#   make check-asan           the suite against an ASan+UBSan build (build-asan/)
#   make ARCH=aarch64         cross-build for arm64 into build-aarch64/
#   make check-vm             the soft-dirty tests in an x86-64 6.1 guest (QEMU)
#   make check-vm-arm64       the arm64 tests in an arm64 6.12 guest (QEMU TCG)
#   make install              PREFIX=/usr/local DESTDIR= BINDIR= MANDIR=
#   make install-caps         install with file capabilities (permitted set
#                             only), executable by group $(LIVECORE_GROUP)
#
# CI passes CFLAGS_EXTRA=-Werror.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
LIVECORE_GROUP ?= livecore

CC      ?= cc
# What differs by architecture (lib/common/arch.h): the directory of the
# compiler's target, x86_64 or aarch64. A cross build names one or the
# other: `make ARCH=aarch64` uses Debian's cross compiler
# (aarch64-linux-gnu-gcc) unless CC says otherwise, and builds into
# build-aarch64/ (BUILD) beside the native build/.
HOST_ARCH := $(shell uname -m)
ifeq ($(origin CC),default)
ifneq ($(ARCH),)
ifneq ($(ARCH),$(HOST_ARCH))
CC      := $(ARCH)-linux-gnu-gcc
endif
endif
endif
ARCH    ?= $(shell $(CC) -dumpmachine | sed 's/-.*//')
ARCH_DIR := lib/common/arch/$(ARCH)
ifeq ($(wildcard $(ARCH_DIR)/arch.c),)
$(error livecore is not built for $(ARCH): no $(ARCH_DIR)/ (lib/common/arch.h))
endif
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Ilib/common -I$(ARCH_DIR) $(CFLAGS_EXTRA)
LDLIBS_COMMON = -lcap -lpthread

ifeq ($(ARCH),$(HOST_ARCH))
BUILD   ?= build
else
BUILD   ?= build-$(ARCH)
endif
TOOLS   := lc-maps lc-precopy lc-freeze lc-elfwrite

LIB_SRC := $(wildcard lib/common/*.c $(ARCH_DIR)/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A   := $(BUILD)/libcommon.a

# Test targets: every tests/targets/*.c is one program.
TARGET_SRC := $(wildcard tests/targets/*.c)
TARGET_BIN := $(TARGET_SRC:tests/targets/%.c=$(BUILD)/targets/%)

MAN_SRC := $(wildcard doc/*.scd)
MAN_OUT := $(MAN_SRC:.scd=)

TOOL_BIN := $(TOOLS:%=$(BUILD)/bin/%)

all: $(TOOL_BIN) $(BUILD)/bin/livecore.sh $(TARGET_BIN) $(BUILD)/demo/lc-demo man

# every header: a tool's own (tools/lc-precopy/passes.h) changes its
# structures as much as the library's do
$(BUILD)/%.o: %.c $(wildcard lib/common/*.h $(ARCH_DIR)/*.h tools/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# Each tool links its own directory's objects and the common library.
# lc-elfwrite additionally uses libseccomp (its allow-list).
define tool_rule
$(1)_OBJ := $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard tools/$(1)/*.c))
$(BUILD)/bin/$(1): $$($(1)_OBJ) $(LIB_A)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$($(1)_OBJ) $(LIB_A) $$(LDLIBS_$(subst -,_,$(1))) $(LDLIBS_COMMON)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))
LDLIBS_lc_elfwrite = -lseccomp

$(BUILD)/bin/livecore.sh: livecore.sh
	@mkdir -p $(dir $@)
	cp $< $@
	chmod 755 $@

$(BUILD)/targets/%: tests/targets/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O0 -g -fno-omit-frame-pointer -o $@ $< -lpthread $(LDLIBS_TARGET_$(subst -,_,$*))
# the launcher that applies a container runtime's seccomp profile
LDLIBS_TARGET_lc_seccomp_profile = -lseccomp
# the targets' shared headers (lc_pattern.h)
$(TARGET_BIN): $(wildcard tests/targets/*.h)
# lc-manifest-check drives lib/common's manifest reader, lc-stagemap-unit
# its staged model: they link the library.
LIB_TEST_TARGETS := lc-manifest-check lc-stagemap-unit
$(LIB_TEST_TARGETS:%=$(BUILD)/targets/%): $(BUILD)/targets/%: tests/targets/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(LDLIBS_COMMON)

$(BUILD)/demo/lc-demo: demo/lc-demo.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 -g -fno-omit-frame-pointer -o $@ $< -lpthread

# The Go test target (Debian's golang-go), standard library only: no module
# download, nothing written under $HOME. Built into `all` only where go is
# installed; readers-go.bats skips ("needs: go") where it is not. -N -l keep
# every function a frame of its own for dlv.
GO      ?= go
GO_ENV   = GOCACHE="$(abspath $(BUILD))/go/cache" GOPATH="$(abspath $(BUILD))/go/path" \
	   GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GO111MODULE=on CGO_ENABLED=0 \
	   GOARCH=$(if $(filter aarch64,$(ARCH)),arm64,amd64)
ifneq ($(shell command -v $(GO) 2>/dev/null),)
all: go-target
endif
go-target: $(BUILD)/targets/lcgo
$(BUILD)/targets/lcgo: tests/targets/go/lcgo/main.go tests/targets/go/lcgo/go.mod
	@mkdir -p $(dir $@)
	cd tests/targets/go/lcgo && $(GO_ENV) $(GO) build -gcflags='all=-N -l' -o "$(abspath $@)" .
.PHONY: go-target

# The JVM test target (tests/bats/jvm.bats), built where a JDK is
# installed; jvm.bats skips ("needs: javac") where it is not.
JAVAC ?= javac
ifneq ($(shell command -v $(JAVAC) 2>/dev/null),)
all: java-target
endif
java-target: $(BUILD)/java/LcAlloc.class
$(BUILD)/java/LcAlloc.class: tests/targets/java/LcAlloc.java
	@mkdir -p $(dir $@)
	$(JAVAC) -d $(dir $@) $<
.PHONY: java-target

# lc-layout-test unit-tests lc-elfwrite's layout and notes file check
# without I/O: unlike the other test programs it links those two files of
# the tool and the common library.
LAYOUT_TEST_OBJ := $(BUILD)/tools/lc-elfwrite/layout.o $(BUILD)/tools/lc-elfwrite/notesfile.o
$(BUILD)/targets/lc-layout-test: tests/targets/lc-layout-test.c $(LAYOUT_TEST_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itools/lc-elfwrite -o $@ $< $(LAYOUT_TEST_OBJ) $(LIB_A) $(LDLIBS_COMMON)

man: $(MAN_OUT)
doc/%: doc/%.scd
	scdoc < $< > $@

# The whole suite, with the fresh build first on PATH; tests/run-bats.sh
# ends with "bats: N passed, N failed, N skipped" and exits non-zero
# when any test fails, and so does make.
check: all
	PATH="$(CURDIR)/$(BUILD)/bin:$$PATH" LIVECORE_BUILD="$(CURDIR)/$(BUILD)" \
		sh tests/run-bats.sh $(BATS_FLAGS) tests/bats

# The README's test command: installs missing packages (as root), builds,
# runs the whole suite.
test:
	sh tests/deps.sh
	$(MAKE) check

# The soft-dirty path on a kernel that has it: Debian's 6.1 under QEMU
# (tests/vm/run-guest.sh); runs the tests tagged needs:soft-dirty there.
check-vm: all
	sh tests/deps.sh vm
	LIVECORE_BUILD=$(CURDIR)/$(BUILD) bash tests/vm/run-guest.sh

# The same toolkit on arm64: the cross build (build-aarch64/) in Debian's
# arm64 6.12 kernel (bookworm-backports) under qemu-system-aarch64 (TCG);
# runs the tests tagged vm:arm64 there, then reads the guest's core on
# this host with gdb-multiarch (tests/vm/run-guest.sh aarch64); then the
# same kernel with 16 KiB pages, the tests tagged vm:arm64-16k.
check-vm-arm64:
	sh tests/deps.sh vm-arm64
	$(MAKE) ARCH=aarch64 BUILD=build-aarch64 all
	LIVECORE_BUILD=$(CURDIR)/build-aarch64 bash tests/vm/run-guest.sh aarch64
	LIVECORE_BUILD=$(CURDIR)/build-aarch64 KERNEL_FLAVOUR=16k bash tests/vm/run-guest.sh aarch64

# Dump a running demo program live and read the core with gdb.
demo:
	sh tests/deps.sh
	$(MAKE) all
	LIVECORE_BUILD=$(BUILD) sh demo/run.sh

# Fuzzing (tests/fuzz/): a libFuzzer target per parser, built with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz/, each run
# FUZZ_SECONDS from its committed seeds (tests/fuzz/run.sh). Longer:
#   make fuzz FUZZ_SECONDS=600
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 5
FUZZ_BUILD   := build-fuzz
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CFLAGS  := -g -O1 -std=c17 -D_GNU_SOURCE -Wall -Wextra $(CFLAGS_EXTRA) -Ilib/common -I$(ARCH_DIR) \
	-Itools/lc-elfwrite -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIB_SRC := lib/common/manifest.c lib/common/xio.c lib/common/procfs.c lib/common/stage.c \
	tools/lc-elfwrite/layout.c tools/lc-elfwrite/notesfile.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
$(FUZZ_BUILD)/obj/%.o: %.c $(wildcard lib/common/*.h $(ARCH_DIR)/*.h tools/lc-elfwrite/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ)
fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
.SECONDARY: $(FUZZ_LIB_OBJ)
fuzz: fuzz-build
	sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
.PHONY: fuzz fuzz-build

# The bats suite against a build of the tools with AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/; build/ is not touched). The
# programs the tests dump stay plain builds (copied from build/targets):
# ASan's shadow mappings would make every dumped core terabytes long; the
# test programs that link the library are built with the sanitizers.
# LeakSanitizer is off for the suite: the tools are one-shot processes
# that return from main on an error without freeing what they parsed; the
# parsers' leaks are the fuzz targets' business (libFuzzer checks each input).
ASAN_BUILD  := build-asan
ASAN_CFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_OWN_TARGETS := lc-manifest-check lc-layout-test lc-stagemap-unit
ASAN_BATS   ?= tests/bats
check-asan: all
	$(MAKE) BUILD=$(ASAN_BUILD) CFLAGS_EXTRA="$(ASAN_CFLAGS) $(CFLAGS_EXTRA)" \
		$(TOOLS:%=$(ASAN_BUILD)/bin/%) $(ASAN_BUILD)/bin/livecore.sh \
		$(ASAN_OWN_TARGETS:%=$(ASAN_BUILD)/targets/%)
	for f in $(BUILD)/targets/*; do \
		case " $(ASAN_OWN_TARGETS) " in *" $${f##*/} "*) continue ;; esac; \
		cp -p "$$f" $(ASAN_BUILD)/targets/ || exit 1; \
	done
	PATH="$(CURDIR)/$(ASAN_BUILD)/bin:$$PATH" LIVECORE_BUILD="$(CURDIR)/$(ASAN_BUILD)" \
		ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		sh tests/run-bats.sh $(BATS_FLAGS) $(ASAN_BATS)
.PHONY: check-asan

# Benchmarks (bench/run.sh, docs/BENCHMARKS.md): livecore's pause as the
# target feels it, beside gcore's, in one run (about 15 minutes; root).
#   make bench BENCH_FULL=1 BENCH_LARGE=1   the whole matrix, 8 GiB too
BENCH_BIN := $(BUILD)/bench/bench-target $(BUILD)/bench/bench-run $(BUILD)/bench/raw-read \
	$(BUILD)/bench/ptrace-floor
$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -lpthread
bench: $(TOOL_BIN) $(BUILD)/bin/livecore.sh $(BENCH_BIN)
	LIVECORE_BUILD=$(CURDIR)/$(BUILD) sh bench/run.sh
# Processes that share memory: a segment another process writes, and a
# PostgreSQL backend under pgbench (bench/services.sh; root, postgresql)
bench-services: all
	LIVECORE_BUILD=$(CURDIR)/$(BUILD) bash bench/services.sh
# Processes that write as fast as livecore copies: a target at stated
# write rates, a busy JVM (bench/writers.sh; root; java for the JVM rows)
bench-writers: all $(BENCH_BIN)
	LIVECORE_BUILD=$(CURDIR)/$(BUILD) bash bench/writers.sh
.PHONY: bench bench-services bench-writers

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(TOOL_BIN) $(BUILD)/bin/livecore.sh $(DESTDIR)$(BINDIR)/
	install -m 644 $(filter %.1,$(MAN_OUT)) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(filter %.5,$(MAN_OUT)) $(DESTDIR)$(MANDIR)/man5/

# File capabilities in the permitted set only (no "+e"): each tool raises a
# capability around the one open that needs it and drops it for good after.
# Only members of $(LIVECORE_GROUP) may execute the privileged binaries.
install-caps: install
	getent group $(LIVECORE_GROUP) >/dev/null || groupadd --system $(LIVECORE_GROUP)
	for t in lc-maps lc-precopy lc-freeze; do \
		chgrp $(LIVECORE_GROUP) $(DESTDIR)$(BINDIR)/$$t && \
		chmod 750 $(DESTDIR)$(BINDIR)/$$t || exit 1; \
	done
	setcap cap_sys_ptrace,cap_dac_read_search=p $(DESTDIR)$(BINDIR)/lc-maps
	setcap cap_sys_ptrace,cap_dac_read_search,cap_dac_override=p $(DESTDIR)$(BINDIR)/lc-precopy
	setcap cap_sys_ptrace,cap_dac_read_search,cap_dac_override,cap_sys_nice=p $(DESTDIR)$(BINDIR)/lc-freeze

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) $(ASAN_BUILD) $(MAN_OUT)

.PHONY: all man check check-vm check-vm-arm64 test demo install install-caps clean
