# SPDX-License-Identifier: GPL-2.0
#
# tcpflow: the human wrapper around kbuild (see Kbuild) and the project's
# own targets.  `make` builds tcpflow.ko for the running kernel (or KDIR)
# and the tools; `make demo` and `make check` are described in README.md.

KERNELRELEASE ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KERNELRELEASE)/build
KREL := $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
		$(KDIR)/include/generated/utsrelease.h 2>/dev/null)
# TCPFLOW_FAULT=1: the test module with fault injection (see Kbuild), in a
# directory of its own so it never shares objects with the release module.
TCPFLOW_FAULT ?= 0
MOD_DIR := $(CURDIR)/build/$(KREL)$(if $(filter 1,$(TCPFLOW_FAULT)),-fault)
TOOLS_DIR := $(CURDIR)/build/tools
# make install: PREFIX for tcpflowctl and the man pages, SYSCONFDIR for
# the modprobe.d and modules-load.d examples (modprobe reads /etc only),
# DESTDIR a staging root (README.md, Install).
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
MAN_DIR := $(CURDIR)/build/man
MODULE_INSTALL_DIR := $(DESTDIR)/lib/modules/$(KREL)/updates

# The one place the version is written: the module (MODULE_VERSION, the
# /proc/tcpflow header), the tools and the man page take it from here.
TCPFLOW_VERSION := 0.1.0

CC ?= cc
TOOLS_CFLAGS := -O2 -g -Wall -Wextra -Werror -std=gnu11 -Iinclude/uapi \
	-DTCPFLOW_VERSION='"$(TCPFLOW_VERSION)"'
TOOLS := tcpflowctl tcpflow-sock tcpflow-devtest tcpflow-load
TOOL_BINS := $(addprefix $(TOOLS_DIR)/,$(TOOLS))
# Each tool is built from its list of sources (TOOL_SRCS_<tool>); its
# headers (TOOL_HDRS_<tool>) and the UAPI headers rebuild it when changed.
TOOL_SRCS_tcpflowctl := $(addprefix tools/tcpflowctl/,main.c source.c \
	snapshot.c json.c table.c filter.c cgroup.c cmd_list.c cmd_show.c \
	cmd_follow.c cmd_leaks.c cmd_stats.c cmd_metrics.c)
TOOL_HDRS_tcpflowctl := tools/tcpflowctl/tcpflowctl.h
TOOL_SRCS_tcpflow-sock := tools/tcpflow-sock.c
TOOL_SRCS_tcpflow-devtest := tools/tcpflow-devtest.c
TOOL_SRCS_tcpflow-load := tools/tcpflow-load.c
UAPI_HDRS := $(wildcard include/uapi/linux/*.h)

.PHONY: all modules module tools man clean modules_install install \
	uninstall modules_uninstall install-tools uninstall-tools dkms-source \
	check check-all check-host check-debug check-reliability check-dkms \
	demo bench bench-locks bench-profile style warn-check check-kdir

all: module tools
	@cp $(MOD_DIR)/tcpflow.ko $(CURDIR)/tcpflow.ko
	@echo "built tcpflow.ko for $(KREL) and build/tools/tcpflowctl"

modules: module

check-kdir:
	@test -f $(KDIR)/Makefile || { \
	 echo "make: no kernel build tree at $(KDIR): install linux-headers-$(KERNELRELEASE), or run 'make KDIR=/path/to/headers', or use 'make demo' / 'make check' to test in a VM" >&2; \
	 exit 1; }

# kbuild writes objects beside the sources: build each kernel's module from a
# copy under build/<release>/ (build/<release>-fault/ for the test module)
# so two kernels or two builds never share objects.
module: check-kdir
	@mkdir -p $(MOD_DIR)
	@cp -a Kbuild module include $(MOD_DIR)/
	$(MAKE) -C $(KDIR) M=$(MOD_DIR) TCPFLOW_FAULT=$(TCPFLOW_FAULT) \
		TCPFLOW_VERSION=$(TCPFLOW_VERSION) modules

tools: $(TOOL_BINS) $(TOOLS_DIR)/tcpflowctl.8

# The module's man page; tcpflowctl's is built with the tools.
man: $(MAN_DIR)/tcpflow.4 $(TOOLS_DIR)/tcpflowctl.8

.SECONDEXPANSION:
$(TOOL_BINS): $(TOOLS_DIR)/%: $$(TOOL_SRCS_%) $$(TOOL_HDRS_%) $(UAPI_HDRS) Makefile
	@mkdir -p $(TOOLS_DIR)
	$(CC) $(TOOLS_CFLAGS) -o $@ $(TOOL_SRCS_$*)

$(TOOLS_DIR)/tcpflowctl.8: tools/tcpflowctl/tcpflowctl.8 Makefile
	@mkdir -p $(TOOLS_DIR)
	sed 's/@VERSION@/$(TCPFLOW_VERSION)/' $< >$@

$(MAN_DIR)/tcpflow.4: module/tcpflow.4 Makefile
	@mkdir -p $(MAN_DIR)
	sed 's/@VERSION@/$(TCPFLOW_VERSION)/' $< >$@

# The module goes to updates/, which depmod ranks above the kernel's own
# tree, as DKMS's does.  depmod: for the running system (no DESTDIR), or
# for a DESTDIR that holds the kernel's whole modules directory
# (modules.order); a staging DESTDIR (a package being built) has none,
# and depmod is then the package's postinst's job: skipped, with a word.
modules_install: module
	install -D -m 0644 $(MOD_DIR)/tcpflow.ko $(MODULE_INSTALL_DIR)/tcpflow.ko
	$(call tcpflow_depmod)

modules_uninstall: check-kdir
	rm -f $(MODULE_INSTALL_DIR)/tcpflow.ko
	$(call tcpflow_depmod)

define tcpflow_depmod
	@if [ -z "$(DESTDIR)" ]; then \
	  echo "depmod -a $(KREL)"; depmod -a $(KREL); \
	elif [ -f $(DESTDIR)/lib/modules/$(KREL)/modules.order ]; then \
	  echo "depmod -b $(DESTDIR) $(KREL)"; depmod -b $(DESTDIR) $(KREL); \
	else \
	  echo "make: $(DESTDIR)/lib/modules/$(KREL) has no modules.order: depmod skipped (run 'depmod $(KREL)' on the installed system)"; \
	fi
endef

# What make install puts, besides the module: PATH DESTINATION MODE.
# The files under SYSCONFDIR are examples with everything commented out:
# installed only where no such file is (never over a user's), and removed
# by make uninstall only while unchanged.
INSTALL_FILES := \
	$(TOOLS_DIR)/tcpflowctl:$(PREFIX)/sbin/tcpflowctl:0755 \
	$(TOOLS_DIR)/tcpflowctl.8:$(PREFIX)/share/man/man8/tcpflowctl.8:0644 \
	$(MAN_DIR)/tcpflow.4:$(PREFIX)/share/man/man4/tcpflow.4:0644 \
	packaging/systemd/tcpflow-metrics.service:$(PREFIX)/lib/systemd/system/tcpflow-metrics.service:0644 \
	packaging/systemd/tcpflow-metrics.timer:$(PREFIX)/lib/systemd/system/tcpflow-metrics.timer:0644 \
	packaging/prometheus/tcpflow-alerts.yml:$(PREFIX)/share/tcpflow/prometheus/tcpflow-alerts.yml:0644
INSTALL_CONF := \
	packaging/modprobe.d/tcpflow.conf:$(SYSCONFDIR)/modprobe.d/tcpflow.conf \
	packaging/modules-load.d/tcpflow.conf:$(SYSCONFDIR)/modules-load.d/tcpflow.conf
tcpflow_word = $(word $(2),$(subst :, ,$(1)))

install: modules_install install-tools

# All of make install but the module (which DKMS may install instead).
install-tools: tools man
	@$(foreach f,$(INSTALL_FILES),\
	  echo "install $(DESTDIR)$(call tcpflow_word,$(f),2)"; \
	  install -D -m $(call tcpflow_word,$(f),3) $(call tcpflow_word,$(f),1) \
		$(DESTDIR)$(call tcpflow_word,$(f),2) || exit 1;)
	@$(foreach f,$(INSTALL_CONF),\
	  dst=$(DESTDIR)$(call tcpflow_word,$(f),2); \
	  if [ -e $$dst ]; then echo "make: $$dst exists: kept"; \
	  else echo "install $$dst"; \
	    install -D -m 0644 $(call tcpflow_word,$(f),1) $$dst || exit 1; fi;)

uninstall: modules_uninstall uninstall-tools

uninstall-tools:
	@$(foreach f,$(INSTALL_FILES),\
	  echo "rm -f $(DESTDIR)$(call tcpflow_word,$(f),2)"; \
	  rm -f $(DESTDIR)$(call tcpflow_word,$(f),2);)
	@$(foreach f,$(INSTALL_CONF),\
	  dst=$(DESTDIR)$(call tcpflow_word,$(f),2); \
	  if [ ! -e $$dst ]; then :; \
	  elif cmp -s $(call tcpflow_word,$(f),1) $$dst; then \
	    echo "rm -f $$dst"; rm -f $$dst; \
	  else echo "make: $$dst was changed: kept"; fi;)

# The module's sources as DKMS wants them and nothing else, in
# build/dkms/src/tcpflow-<version>/ (a source tree for dkms add; see
# scripts/dkms-check.sh and README.md, Install).
DKMS_SRC := $(CURDIR)/build/dkms/src/tcpflow-$(TCPFLOW_VERSION)
dkms-source:
	@grep -qx 'PACKAGE_VERSION="$(TCPFLOW_VERSION)"' dkms.conf || { \
	 echo "make: dkms.conf's PACKAGE_VERSION is not $(TCPFLOW_VERSION), the Makefile's TCPFLOW_VERSION" >&2; exit 1; }
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)
	cp -a Makefile Kbuild dkms.conf module include $(DKMS_SRC)/
	@echo "dkms source tree: $(DKMS_SRC)"

clean:
	rm -rf build tcpflow.ko

# ---- the project's own targets -------------------------------------------

# The README's first command: set up, boot a VM, show tcpflow at work.
# KERNEL=5.10|6.1|6.12|6.12-rt|7.2 picks the kernel (default 6.12).
KERNEL ?= 6.12
demo:
	TCPFLOW_DEMO_KERNEL=$(KERNEL) scripts/demo.sh

# The README's second command: set up, then the tests on every kernel of
# scripts/lib.sh's table (the whole VM suite, or its core files where the
# table says so, to stay inside CI's time), the debug kernel included when
# this machine has built it (a cold build does not fit in CI's time with
# the rest: make check-debug).
check:
	scripts/setup.sh
	$(MAKE) warn-check
	$(MAKE) style
	$(MAKE) check-host
	scripts/vm-test.sh --kernel all --by-table
	@if scripts/debug-kernel.sh --cached >/dev/null; then \
	  scripts/vm-test.sh --kernel debug; \
	else \
	  echo "make check: the debug kernel is not built on this machine: skipped (make check-debug builds it, about 25 minutes)"; \
	fi

# The full matrix: the whole VM suite on every kernel (about 50 minutes).
check-all:
	scripts/setup.sh
	$(MAKE) warn-check
	$(MAKE) style
	$(MAKE) check-host
	scripts/vm-test.sh --kernel all

# What tcpflow costs bulk transfers and connection churn, as ratios measured
# in one boot (see README, Overhead).  Not a test: nothing fails on a ratio.
bench:
	scripts/bench.sh

# How often tcpflow's locks are contended during churn, from the lock
# statistics of the debug kernel (CONFIG_LOCK_STAT): builds it once (see
# check-debug), then tests/bench/locks.bats.  make bench runs that part too
# when the debug kernel is built.
bench-locks:
	scripts/setup.sh
	scripts/debug-kernel.sh
	scripts/vm-test.sh --kernel debug tests/bench/locks.bats

# Where churn spends its CPU with tcpflow loaded: perf record -a -g in the
# guest (the host's perf copied in) on Debian's 6.12, or
# TCPFLOW_BENCH_KERNEL's series.  Not a test: it prints the profile.
bench-profile:
	TCPFLOW_SETUP_PACKAGES="$${TCPFLOW_SETUP_PACKAGES:-} linux-perf" scripts/setup.sh
	TCPFLOW_VM_PROGRAMS="$${TCPFLOW_VM_PROGRAMS:-} perf" TCPFLOW_VM_MEM=$${TCPFLOW_VM_MEM:-4G} \
	  scripts/vm-test.sh --plain --kernel $${TCPFLOW_BENCH_KERNEL:-6.12} tests/bench/profile.bats

# The reliability suite (rmmod under load, floods, bad input, security,
# hotplug and wake-ups) on both kernels: 10-15 minutes per kernel under
# emulation, so not part of make check (see README, Reliability).
check-reliability:
	scripts/setup.sh
	scripts/vm-test.sh --kernel all tests/reliability/*.bats

# Build the lockdep/KASAN/kmemleak kernel once (cached outside the checkout,
# see scripts/debug-kernel.sh), then run the VM suite on it.
check-debug:
	scripts/setup.sh
	scripts/debug-kernel.sh
	scripts/vm-test.sh --kernel debug

check-host: tools
	bats --tap tests/host

# No warnings with W=1, and sparse clean, against every supported kernel,
# for the release module and the test module (TCPFLOW_FAULT=1).
warn-check:
	scripts/warn-check.sh

# Debian's dkms builds the module against every kernel of the table, in a
# private DKMS tree (scripts/dkms-check.sh); build/<release>-dkms/tcpflow.ko
# is what tests/vm/011-dkms.bats loads.
check-dkms:
	scripts/dkms-check.sh

style:
	scripts/style.sh
