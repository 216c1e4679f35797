#!/usr/bin/env bash
# Build tcpflow, boot each Debian kernel under QEMU with a generated
# initramfs, run bats tests in the guest and judge the result.
#
#   scripts/vm-test.sh [--kernel SERIES|all|debug] [--by-table] [--timeout SECS] [--plain] [PATH...]
#
# PATH: .bats files or directories of them (default: tests/vm; with
# --by-table, what lib.sh's kernel table says: all of tests/vm, or the
# core files). A kernel passes when bats exits 0 in the guest and the
# kernel console shows no BUG/WARNING/Oops/KFENCE/... line. Exit 0 only if
# every kernel passed. SERIES is a series of lib.sh's table (5.10, 6.1,
# 6.12, 6.12-rt, 7.2); "all" is every one of them; "debug" is the lockdep/KASAN/kmemleak kernel that
# scripts/debug-kernel.sh builds (make check-debug), which also fails a run
# on any leak kmemleak finds after the tests. The stock kernels boot with
# slab debugging (slub_debug, init_on_free, kfence); --plain boots them as
# a production host does, for benchmarks.
#
# Env: TCPFLOW_VM_TIMEOUT (default: the table's, 5400 s for debug), TCPFLOW_CACHE (see lib.sh),
#      TCPFLOW_VM_NO_MAKE=1 to skip the make calls and use what is already
#      in TCPFLOW_VM_BUILD_DIR (default $TCPFLOW_REPO/build): <rel>/tcpflow.ko,
#      <rel>-fault/tcpflow.ko (the test module, TCPFLOW_FAULT=1, which the
#      guest finds as TCPFLOW_KO_FAULT; built only when a test file names
#      TCPFLOW_KO_FAULT), <rel>-dkms/tcpflow.ko (the module Debian's dkms
#      built, scripts/dkms-check.sh, which the guest finds as
#      TCPFLOW_KO_DKMS; built only when a test file names TCPFLOW_KO_DKMS,
#      and not for the debug kernel) and tools/*.  TCPFLOW_BENCH_*
#      variables are passed to the guest.  TCPFLOW_VM_PROGRAMS names more
#      host programs to copy in (make bench: bpftrace, whose LLVM is
#      about 130 MB the test guests need not carry).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Console lines that fail a run whatever the tests said.
CONSOLE_BAD_PATTERNS=(
	'BUG:' 'WARNING:' 'Oops' 'KFENCE' 'general protection' 'list_add corruption'
	'list_del corruption' 'kernel BUG at' 'UBSAN:' 'soft lockup' 'hung task'
	'blocked for more than' 'Kernel panic'
	# The debug kernel's reports (most also carry BUG: or WARNING:).
	'KASAN:' 'possible circular locking' 'possible recursive locking'
	'inconsistent lock state' 'sleeping function called from invalid context'
	'suspicious RCU usage' 'ODEBUG:' 'unreferenced object'
)

# Host programs copied into the guest (resolved in /usr/sbin:/usr/bin).
GUEST_PROGRAMS=(
	bash dash grep sed gawk find xargs
	ps pgrep pkill kill sysctl free
	flock mount umount unshare nsenter setpriv mountpoint dmesg taskset prlimit
	ip ss tc bridge
	kmod
	tcpdump socat jq busybox
	hping3 stress-ng trinity ethtool
)
# Copied when the host has them; never required.
GUEST_OPTIONAL_PROGRAMS=(diff cmp strace nft iptables)
KMOD_LINKS=(insmod rmmod lsmod modprobe modinfo depmod)
# Reached through /usr/lib/busybox, which is last in the guest's PATH.
BUSYBOX_APPLETS=(poweroff reboot ping ping6 nc arping traceroute hexdump xxd vi less)

GUEST_MODULES=(
	veth tun sch_netem sch_prio sch_ingress sch_htb cls_u32 cls_basic cls_flower
	cls_matchall act_gact af_packet sctp crc32c_generic crc32c_intel dccp dccp_ipv4 dccp_ipv6 ipv6
	inet_diag tcp_diag udp_diag raw_diag sctp_diag dccp_diag unix_diag netlink_diag packet_diag
	nf_tables nft_reject nf_conntrack iptable_filter x_tables
)

usage() {
	sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

# ---------------------------------------------------------------- arguments
parse_args() {
	KERNEL_ARG=all
	TIMEOUT_ARG=${TCPFLOW_VM_TIMEOUT:-}
	PLAIN=0
	BY_TABLE=0
	TEST_PATHS=()
	while (($#)); do
		case $1 in
		--kernel) KERNEL_ARG=${2:?--kernel needs a series, all or debug}; shift 2 ;;
		--kernel=*) KERNEL_ARG=${1#*=}; shift ;;
		--timeout) TIMEOUT_ARG=${2:?--timeout needs seconds}; shift 2 ;;
		--timeout=*) TIMEOUT_ARG=${1#*=}; shift ;;
		--plain) PLAIN=1; shift ;;
		--by-table) BY_TABLE=1; shift ;;
		-h | --help) usage 0 ;;
		--) shift; TEST_PATHS+=("$@"); break ;;
		-*) printf 'unknown option: %s\n' "$1" >&2; usage 2 >&2 ;;
		*) TEST_PATHS+=("$1"); shift ;;
		esac
	done
	[[ -z $TIMEOUT_ARG || $TIMEOUT_ARG =~ ^[1-9][0-9]*$ ]] || tcpflow_die "--timeout must be a positive number of seconds, got '$TIMEOUT_ARG'"
	((!BY_TABLE || ${#TEST_PATHS[@]} == 0)) || tcpflow_die "--by-table takes no test paths"
	if [[ $KERNEL_ARG == all ]]; then
		SERIES=("${TCPFLOW_ALL_SERIES[@]}")
	elif [[ $KERNEL_ARG == debug ]]; then
		SERIES=(debug)
	else
		tcpflow_check_series "$KERNEL_ARG"
		SERIES=("$KERNEL_ARG")
	fi
	((${#TEST_PATHS[@]})) || TEST_PATHS=("$TCPFLOW_REPO/tests/vm")
	ARG_PATHS=("${TEST_PATHS[@]}")
}

# select_tests SERIES: TEST_PATHS (absolute), NEED_FAULT and NEED_DKMS for
# SERIES.
select_tests() {
	local series=$1 t i
	TEST_PATHS=("${ARG_PATHS[@]}")
	if ((BY_TABLE)) && [[ $series != debug && $(tcpflow_series_field "$series" 4) == core ]]; then
		TEST_PATHS=()
		for t in "${TCPFLOW_CORE_TESTS[@]}"; do
			TEST_PATHS+=("$TCPFLOW_REPO/tests/vm/$t.bats")
		done
	fi
	for i in "${!TEST_PATHS[@]}"; do
		[[ -e ${TEST_PATHS[i]} ]] || tcpflow_die "no such test file or directory: ${TEST_PATHS[i]}"
		TEST_PATHS[i]=$(realpath -- "${TEST_PATHS[i]}")
	done
	# The fault-injection test module is built only for tests that use it.
	NEED_FAULT=0
	tests_name TCPFLOW_KO_FAULT && NEED_FAULT=1
	# So is the module dkms builds; the debug kernel has none (no
	# headers package: its tests that want one skip).
	NEED_DKMS=0
	[[ $series != debug ]] && tests_name TCPFLOW_KO_DKMS && NEED_DKMS=1
	return 0
}

# tests_name VAR: a .bats file among TEST_PATHS names VAR.
tests_name() {
	grep -rqs --include='*.bats' "$1" -- "${TEST_PATHS[@]}"
}

# ---------------------------------------------------------------- build
# Sets MODULE_KO, MODULE_KO_FAULT (the test module with fault injection,
# TCPFLOW_FAULT=1: see Kbuild), MODULE_KO_DKMS (built by Debian's dkms) and
# TOOLS_DIR for release $1 of series $3, built against tree $2.
build_tcpflow() {
	local rel=$1 kdir=$2 series=$3 kmake
	local build_dir=${TCPFLOW_VM_BUILD_DIR:-$TCPFLOW_REPO/build}
	MODULE_KO="$build_dir/$rel/tcpflow.ko"
	MODULE_KO_FAULT="$build_dir/$rel-fault/tcpflow.ko"
	MODULE_KO_DKMS="$build_dir/$rel-dkms/tcpflow.ko"
	TOOLS_DIR="$build_dir/tools"
	if [[ ${TCPFLOW_VM_NO_MAKE:-0} != 1 ]]; then
		[[ -d $kdir ]] || tcpflow_die "missing $kdir: run scripts/setup.sh"
		[[ -f $TCPFLOW_REPO/Makefile ]] || tcpflow_die "no $TCPFLOW_REPO/Makefile to build the module with"
		kmake=(make -C "$TCPFLOW_REPO" --no-print-directory KDIR="$kdir")
		[[ $series == debug ]] || kmake=(tcpflow_kmake "$series")
		tcpflow_log "building module for $rel"
		"${kmake[@]}" module >&2 || tcpflow_die "make module KDIR=$kdir failed"
		if ((NEED_FAULT)); then
			tcpflow_log "building the fault-injection test module for $rel"
			"${kmake[@]}" module TCPFLOW_FAULT=1 >&2 ||
				tcpflow_die "make module KDIR=$kdir TCPFLOW_FAULT=1 failed"
		fi
		if ((NEED_DKMS)); then
			tcpflow_log "building the module with dkms for $rel"
			"$TCPFLOW_REPO/scripts/dkms-check.sh" "$series" >&2 ||
				tcpflow_die "scripts/dkms-check.sh $series failed"
		fi
		tcpflow_log "building tools"
		make -C "$TCPFLOW_REPO" --no-print-directory tools >&2 || tcpflow_die "make tools failed"
	fi
	[[ -f $MODULE_KO ]] || tcpflow_die "missing $MODULE_KO: run make -C $TCPFLOW_REPO module KDIR=$kdir"
	((!NEED_FAULT)) || [[ -f $MODULE_KO_FAULT ]] || tcpflow_die "missing $MODULE_KO_FAULT: run make -C $TCPFLOW_REPO module KDIR=$kdir TCPFLOW_FAULT=1"
	((!NEED_DKMS)) || [[ -f $MODULE_KO_DKMS ]] || tcpflow_die "missing $MODULE_KO_DKMS: run $TCPFLOW_REPO/scripts/dkms-check.sh $series"
}

# ---------------------------------------------------------------- initramfs
# Host files (by host path) to copy into the guest; filled by add_file and
# add_elfs, written by copy_files.
declare -A GUEST_FILES=()
# Where the guest's libraries come from (the host's multiarch directories).
LIB_DIRS=(/usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib /usr/lib64 /lib64)
ELF_INTERP=/lib64/ld-linux-x86-64.so.2

add_file() {
	GUEST_FILES[$1]=1
}

# Add ELF files plus the closure of their DT_NEEDED libraries and the
# dynamic loader. One readelf per round (ldd costs an exec per file).
add_elfs() {
	local -a todo=("$@")
	local -A seen=()
	local f name d found
	while ((${#todo[@]})); do
		for f in "${todo[@]}"; do add_file "$f"; done
		local -a next=()
		while read -r name; do
			[[ -n ${seen[$name]:-} ]] && continue
			seen[$name]=1
			found=
			for d in "${LIB_DIRS[@]}"; do
				if [[ -e $d/$name ]]; then found=$d/$name; break; fi
			done
			[[ -n $found ]] || tcpflow_die "cannot find library $name (needed by one of: ${todo[*]})"
			[[ -n ${GUEST_FILES[$found]:-} ]] || next+=("$found")
		done < <(readelf -d -- "${todo[@]}" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p' | sort -u)
		todo=("${next[@]}")
	done
	add_file "$ELF_INTERP"
}

# Copy GUEST_FILES (following symlinks) into the merged-usr guest root,
# where /bin, /sbin, /lib and /lib64 all live under /usr. One tar pipe.
copy_files() {
	((${#GUEST_FILES[@]})) || return 0
	printf '%s\0' "${!GUEST_FILES[@]}" |
		tar -C / --null --no-recursion --dereference --absolute-names -T - -cf - \
			--transform 's,^/\(bin\|sbin\|lib\|lib64\)/,usr/\1/,;s,^/,,' |
		tar -C "$ROOT" --skip-old-files -xf - ||
		tcpflow_die "copying host files into $ROOT failed"
}

host_program() {
	PATH=/usr/sbin:/usr/bin:/sbin:/bin type -P "$1"
}

install_programs() {
	local p path
	local -a elfs=()
	for p in "${GUEST_PROGRAMS[@]}"; do
		path=$(host_program "$p") || tcpflow_die "host has no '$p': run scripts/setup.sh"
		elfs+=("$path")
	done
	for p in "${GUEST_OPTIONAL_PROGRAMS[@]}"; do
		if path=$(host_program "$p"); then elfs+=("$path"); fi
	done
	for p in ${TCPFLOW_VM_PROGRAMS:-}; do
		path=$(host_program "$p") || tcpflow_die "host has no '$p' (TCPFLOW_VM_PROGRAMS)"
		elfs+=("$path")
	done
	while read -r path; do
		[[ -f $path && -x $path ]] && elfs+=("$path")
	done < <(dpkg-query -L coreutils | grep -E '^/(usr/)?s?bin/')
	# glibc dlopens libgcc_s for pthread_cancel and backtraces.
	[[ -e /usr/lib/x86_64-linux-gnu/libgcc_s.so.1 ]] && elfs+=(/usr/lib/x86_64-linux-gnu/libgcc_s.so.1)
	add_elfs "${elfs[@]}"
	add_file /usr/bin/bats
	copy_files
	ln -sf gawk "$ROOT/usr/bin/awk"
	ln -sf dash "$ROOT/usr/bin/sh"
	for p in "${KMOD_LINKS[@]}"; do
		ln -sf ../bin/kmod "$ROOT/usr/sbin/$p"
	done
	# tc: netem distribution tables and action plugins.
	if [[ -d /usr/lib/x86_64-linux-gnu/tc ]]; then
		cp -a /usr/lib/x86_64-linux-gnu/tc "$ROOT/usr/lib/x86_64-linux-gnu/"
		ln -sfn x86_64-linux-gnu/tc "$ROOT/usr/lib/tc"
	fi
	# bats
	cp -a /usr/lib/bats-core "$ROOT/usr/lib/"
	mkdir -p "$ROOT/usr/libexec"
	cp -a /usr/libexec/bats-core "$ROOT/usr/libexec/"
	# A few busybox applets, last in PATH so they never shadow real tools.
	mkdir -p "$ROOT/usr/lib/busybox"
	for p in "${BUSYBOX_APPLETS[@]}"; do
		ln -s ../../bin/busybox "$ROOT/usr/lib/busybox/$p"
	done
}

install_tcpflow() {
	mkdir -p "$ROOT/usr/lib/tcpflow" "$ROOT/usr/local/bin"
	cp "$MODULE_KO" "$ROOT/usr/lib/tcpflow/tcpflow.ko"
	((!NEED_FAULT)) || cp "$MODULE_KO_FAULT" "$ROOT/usr/lib/tcpflow/tcpflow-fault.ko"
	((!NEED_DKMS)) || cp "$MODULE_KO_DKMS" "$ROOT/usr/lib/tcpflow/tcpflow-dkms.ko"
	local f
	local -a elfs=()
	GUEST_FILES=()
	for f in "$TOOLS_DIR"/*; do
		[[ -f $f && -x $f ]] || continue
		cp -L "$f" "$ROOT/usr/local/bin/"
		elfs+=("$f")
	done
	# Libraries the tools need beyond the ones already in the image.
	if ((${#elfs[@]})); then
		add_elfs "${elfs[@]}"
		for f in "${elfs[@]}"; do unset "GUEST_FILES[$f]"; done
		copy_files
	fi
}

install_etc() {
	mkdir -p "$ROOT/etc"
	cat >"$ROOT/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/bash
		tcpdump:x:100:101::/nonexistent:/usr/sbin/nologin
		nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	EOF
	cat >"$ROOT/etc/group" <<-'EOF'
		root:x:0:
		tcpdump:x:101:
		nogroup:x:65534:
	EOF
	printf 'passwd: files\ngroup: files\nhosts: files\nservices: files\nprotocols: files\n' >"$ROOT/etc/nsswitch.conf"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
	echo tcpflow-vm >"$ROOT/etc/hostname"
	local f
	for f in /etc/protocols /etc/services; do
		[[ -f $f ]] && cp "$f" "$ROOT/etc/"
	done
	[[ -d /etc/iproute2 ]] && cp -a /etc/iproute2 "$ROOT/etc/"
	: >"$ROOT/etc/fstab"
}

# Print module names, one per line, from $1 (modules.dep) that the closure
# of "$@" (after $1) needs, as paths relative to the modules directory.
module_closure() {
	local dep=$1
	shift
	awk -v want="$*" '
		function base(p,  b) { b = p; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b); gsub(/-/, "_", b); return b }
		BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) { g = w[i]; gsub(/-/, "_", g); wanted[g] = 1 } }
		{
			sub(/:$/, "", $1); m = $1; sub(/:.*/, "", m)
			mod = base(m); path[mod] = m
			deps[mod] = ""
			for (i = 2; i <= NF; i++) deps[mod] = deps[mod] " " base($i)
		}
		END {
			for (g in wanted) if (g in path) stack[++sp] = g
			while (sp > 0) {
				g = stack[sp--]
				if (g in seen) continue
				seen[g] = 1; print path[g]
				k = split(deps[g], d, " ")
				for (i = 1; i <= k; i++) if (!(d[i] in seen)) stack[++sp] = d[i]
			}
		}' "$dep"
}

# Copy GUEST_MODULES (those the kernel has as modules) from the kernel's
# unpacked root $2. A kernel with everything built in may have no modules
# directory: the guest still gets one, depmod'ed, for modprobe and tcpflow.
install_modules() {
	local rel=$1 kroot=$2 src dst m
	src="$kroot/lib/modules/$rel"
	dst="$ROOT/usr/lib/modules/$rel"
	if [[ ! -d $src ]]; then
		mkdir -p "$dst"
		depmod -b "$ROOT" "$rel" || tcpflow_die "depmod -b $ROOT $rel failed"
		return 0
	fi
	[[ -f $src/modules.dep ]] || tcpflow_die "missing $src/modules.dep: run scripts/setup.sh"
	mkdir -p "$dst"
	cp "$src"/modules.builtin "$src"/modules.builtin.modinfo "$src"/modules.order "$dst/"
	while read -r m; do
		mkdir -p "$dst/${m%/*}"
		cp "$src/$m" "$dst/$m"
	done < <(module_closure "$src/modules.dep" "${GUEST_MODULES[@]}")
	depmod -b "$ROOT" "$rel" || tcpflow_die "depmod -b $ROOT $rel failed"
}

# Copy the test paths under /tests; sets GUEST_TESTS to their guest paths.
# The tests' library (tests/lib) goes to /tests/lib, where helpers.bash
# finds it from a suite's directory or beside a lone file.
install_tests() {
	local p name h
	GUEST_TESTS=()
	mkdir -p "$ROOT/tests"
	cp -a "$TCPFLOW_REPO/tests/lib" "$ROOT/tests/lib"
	for p in "${TEST_PATHS[@]}"; do
		name=${p##*/}
		[[ -e $ROOT/tests/$name ]] && tcpflow_die "two test paths are both named '$name'"
		if [[ -d $p ]]; then
			cp -aL "$p" "$ROOT/tests/$name"	# helpers may be links
		else
			cp "$p" "$ROOT/tests/$name"
			# Helpers next to a lone .bats file (load helpers.bash).
			for h in "${p%/*}"/*.bash; do
				[[ -f $h && ! -e $ROOT/tests/${h##*/} ]] && cp "$h" "$ROOT/tests/"
			done
		fi
		GUEST_TESTS+=("/tests/$name")
	done
}

# write_init REL KMEMLEAK: the guest's /init is scripts/vm-init.sh; what it
# needs of this run goes to /etc/tcpflow-vm.env, as assignments quoted with
# %q for it to source. KMEMLEAK=1 checks for leaks after the tests.
write_init() {
	local rel=$1 kmemleak=$2 tests v
	printf -v tests '%q ' "${GUEST_TESTS[@]}"
	{
		echo '# Generated by scripts/vm-test.sh, read by /init (scripts/vm-init.sh).'
		printf 'export TCPFLOW_KERNEL=%q\n' "$rel"
		printf 'TESTS=(%s)\n' "${tests% }"
		printf 'KMEMLEAK=%q\n' "$kmemleak"
		# A production host's boot for a benchmark: no pinned keys.
		printf 'PIN_KEYS=%q\n' "$((!PLAIN))"
		# Set only when the guest has it: tests/vm/011-dkms.bats skips
		# without it.
		((!NEED_DKMS)) || echo 'export TCPFLOW_KO_DKMS=/lib/tcpflow/tcpflow-dkms.ko'
		# The benchmark's knobs reach the guest (tests/bench/bench.bats).
		for v in ${!TCPFLOW_BENCH_@}; do
			printf 'export %s=%q\n' "$v" "${!v}"
		done
	} >"$ROOT/etc/tcpflow-vm.env"
	install -m 0755 "$TCPFLOW_REPO/scripts/vm-init.sh" "$ROOT/init"
}

# build_initramfs REL OUT KROOT KMEMLEAK
build_initramfs() {
	local rel=$1 out=$2 kroot=$3 kmemleak=$4
	ROOT="$out/root"
	rm -rf "$ROOT"
	mkdir -p "$ROOT"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,run,root,etc,mnt}
	ln -s usr/bin "$ROOT/bin"
	ln -s usr/sbin "$ROOT/sbin"
	ln -s usr/lib "$ROOT/lib"
	ln -s usr/lib64 "$ROOT/lib64"
	install_programs
	install_tcpflow
	install_etc
	install_modules "$rel" "$kroot"
	install_tests
	write_init "$rel" "$kmemleak"
	(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --quiet | zstd -q -T0 -3 >"$out/initramfs.cpio.zst")
}

# ---------------------------------------------------------------- boot
# boot_vm REL OUT SERIES KERNEL_IMAGE KERNEL_ROOT
boot_vm() {
	local rel=$1 out=$2 series=$3 image=$4 kroot=$5 cmdline slab='' mem=${TCPFLOW_VM_MEM:-1G}
	cmdline="console=ttyS0 panic_on_warn=1 oops=panic panic=-1"
	case $series in
	debug)
		# KASAN already poisons and checks what slub_debug would; its
		# shadow, lockdep and kmemleak need the extra memory.
		cmdline+=" kasan.fault=panic"
		mem=${TCPFLOW_VM_MEM:-2G}
		;;
	*)
		slab=" slub_debug=FZPU init_on_free=1"
		if grep -qsx 'CONFIG_KFENCE=y' "$kroot/boot/config-$rel" \
			"$kroot/lib/modules/$rel/config"; then
			slab+=" kfence.sample_interval=100"
		fi
		;;
	esac
	# A benchmark measures the kernel as a production host boots it
	# (--plain): slab debugging records a stack trace at every allocation
	# and free.
	((PLAIN)) || cmdline+=$slab
	rm -f "$out/console.log" "$out/verdict" "$out/tap.log" "$out/qemu.pid"
	: >"$out/verdict"
	QEMU_PIDFILE="$out/qemu.pid"
	# In the background and waited for, so that the INT/TERM trap runs at
	# once (bash defers traps until a foreground command ends).
	timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -pidfile "$QEMU_PIDFILE" \
		-machine q35 -cpu max -smp 2 -m "$mem" \
		-display none -monitor none -nic none -no-reboot \
		-kernel "$image" \
		-initrd "$out/initramfs.cpio.zst" \
		-append "$cmdline" \
		-serial "file:$out/console.log" \
		-serial "file:$out/verdict" \
		-serial stdio </dev/null | tee "$out/tap.log" &
	wait "$!"
}

# Stop a QEMU this script started (on Ctrl-C or kill).
stop_vm() {
	local pid
	[[ -n ${QEMU_PIDFILE:-} && -s $QEMU_PIDFILE ]] || return 0
	pid=$(<"$QEMU_PIDFILE")
	if [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"-pidfile $QEMU_PIDFILE "* ]]; then
		kill "$pid" 2>/dev/null || true
	fi
}

# Print the console lines matching a bad pattern; fail if there are none.
console_problems() {
	local args=() p
	for p in "${CONSOLE_BAD_PATTERNS[@]}"; do args+=(-e "$p"); done
	grep -a -F "${args[@]}" "$1"
}

# first_problem CONSOLE PROBLEMS: the first problem line and the first RIP
# the console shows, one line.
first_problem() {
	{
		head -n 1 <<<"$2"
		grep -a -m 1 'RIP: ' "$1" || true
	} | tr -d '\r' | sed 's/^\[ *[0-9.]*\] //' | cut -c 1-120 | paste -s -d '|' | sed 's/|/; /'
}

# tests_began TAPLOG...: bats printed its plan in one of these TAP logs.
tests_began() {
	grep -aqs '^1\.\.[0-9]' "$@"
}

# Did the guest die of the emulator's text-patching fault?  Under software
# emulation a vCPU can run a stale copy of kernel text that another vCPU is
# patching with int3 (static keys and kprobes, at boot and at each insmod
# and rmmod): the kernel then oopses at an int3 that its text no longer
# holds (KERNEL-FACTS.md).  Such a run is booted again, once:
# - before bats printed its plan, any 'Oops: int3' (no test has loaded
#   tcpflow yet);
# - during the tests, only that exact signature: the console's first
#   problem is an 'Oops: int3', each such oops's Code: line shows a byte
#   other than cc (int3) just before the trapping address, and no
#   tcpflow function or module is on its call trace (the task may be one
#   of the tests' tcpflow-* helpers).  On hardware, or for
#   an int3 the kernel really holds, that cannot happen; any other oops
#   fails the run.
emulator_fault() {
	grep -aqF 'Oops: int3' "$1/console.log" 2>/dev/null || return 1
	tests_began "$1/tap.log" || return 0
	console_problems "$1/console.log" | head -n 1 | grep -qF 'Oops: int3' ||
		return 1
	tr -d '\r' <"$1/console.log" | awk '
		/Oops: int3/ { n++; inoops = 1; code = 0; next }
		!inoops { next }
		/---\[ end trace/ { inoops = 0; next }
		/Modules linked in:/ { next }
		# A frame of tcpflow: "tcpflow_x+0x1/0x2 [tcpflow]", or a RIP
		# in it; not the task name ("Comm: tcpflow-sock").
		/tcpflow_[a-z0-9_]*\+0x|\[tcpflow\]/ { bad = 1 }
		/ Code: / && !code {
			code = 1
			if (!match($0, / [0-9a-f][0-9a-f] <[0-9a-f][0-9a-f]>/) ||
			    substr($0, RSTART + 1, 2) == "cc")
				bad = 1
		}
		END { exit !(n && !bad) }'
}

# fault_summary OUT: what the first boot died of and after how many tests,
# one line.  Never fails (set -e): a boot that died before its first test
# has no result line, and grep -c then exits 1.
fault_summary() {
	local n
	n=$(grep -acE '^(not )?ok ' "$1/tap.log" 2>/dev/null) || n=0
	printf '%s after %s tests\n' \
		"$(first_problem "$1/console.log" "$(console_problems "$1/console.log" || true)")" "$n"
}

# boot_again OUT BOOTS: after BOOTS boots, the last of which died of the
# emulator fault (emulator_fault), is another boot allowed?  A death
# before bats printed its plan costs seconds and proves nothing about
# tcpflow, so up to four boots in all (6.12-rt has died so at boot, in
# sched_clock_init_late()'s static key flips, in two runs of four); a
# death during the tests only the once: a second one fails the run.
boot_again() {
	if ! tests_began "$1/tap.log"; then
		(($2 < 4))
	elif tests_began "$1"/tap.emulator-fault.*.log; then
		# Only the first boot may have died during the tests; earlier
		# boots that died before them do not count.
		return 1
	fi
}

# prepared_release SERIES: the release of SERIES the apt index names today
# (scripts/lib.sh resolves it, reading only), if setup.sh has already
# unpacked its image and prepared its build tree; fails otherwise. So a run
# installs nothing and fetches nothing once a kernel is prepared.
prepared_release() {
	local rel kdir
	rel=$(tcpflow_kver "$1" 2>/dev/null) || return 1
	kdir=$(tcpflow_kdir "$1") || return 1
	[[ -f $(tcpflow_vmlinuz "$rel") && -f $kdir/Makefile &&
		-f $(tcpflow_kernel_root "$rel")/lib/modules/$rel/modules.dep ]] || return 1
	printf '%s\n' "$rel"
}

# ---------------------------------------------------------------- main
run_kernel() {
	local series=$1 rel out qrc=0 line verdict ntests leaks problems start boots summary
	local kdir image kroot kmemleak=0 dk
	select_tests "$series"
	# The debug kernel runs the suite about three times slower.
	TIMEOUT=${TIMEOUT_ARG:-5400}
	if [[ $series == debug ]]; then
		dk=$("$TCPFLOW_REPO/scripts/debug-kernel.sh" --cached) ||
			tcpflow_die "the debug kernel is not built: run make check-debug (or scripts/debug-kernel.sh) first"
		rel=$(<"$dk/release")
		kdir="$dk/linux"
		image="$kdir/arch/x86/boot/bzImage"
		kroot="$dk/root"
		kmemleak=1
	else
		rel=$(prepared_release "$series") || {
			tcpflow_log "kernel $series is not prepared here: running scripts/setup.sh for it"
			rel=$(TCPFLOW_KERNELS=$series TCPFLOW_SETUP_SPARSE=0 "$TCPFLOW_REPO/scripts/setup.sh" | awk 'END { print $1 }')
			[[ -n $rel ]] || tcpflow_die "scripts/setup.sh did not resolve kernel $series"
		}
		kdir=$(tcpflow_kdir "$series")
		image=$(tcpflow_vmlinuz "$rel")
		TIMEOUT=${TIMEOUT_ARG:-$(tcpflow_series_field "$series" 5)}
		kroot=$(tcpflow_kernel_root "$rel")
	fi
	out="$TCPFLOW_REPO/build/vm/$rel"
	mkdir -p "$out"
	# boot_again reads the earlier boots' logs of this run only.
	rm -f "$out"/console.emulator-fault*.log "$out"/tap.emulator-fault*.log
	build_tcpflow "$rel" "$kdir" "$series"
	tcpflow_log "building initramfs for $rel"
	build_initramfs "$rel" "$out" "$kroot" "$kmemleak"
	tcpflow_log "booting $rel (timeout ${TIMEOUT}s)"
	start=$SECONDS
	boot_vm "$rel" "$out" "$series" "$image" "$kroot" || qrc=$?
	boots=1
	while emulator_fault "$out" && boot_again "$out" "$boots"; do
		cp "$out/console.log" "$out/console.emulator-fault.$boots.log"
		cp "$out/tap.log" "$out/tap.emulator-fault.$boots.log" 2>/dev/null || true
		summary=$(fault_summary "$out")
		EMULATOR_FAULT[$series]+="${EMULATOR_FAULT[$series]:+; }boot $boots: $summary"
		tcpflow_log "$rel: QEMU's software emulation ran an int3 the kernel's text no longer holds (boot $boots: $summary; KERNEL-FACTS.md), not tcpflow: booting again (console: $out/console.emulator-fault.$boots.log)"
		qrc=0
		boots=$((boots + 1))
		boot_vm "$rel" "$out" "$series" "$image" "$kroot" || qrc=$?
	done
	ELAPSED[$series]=$((SECONDS - start))
	RELEASE[$series]=$rel
	CONSOLE[$series]="$out/console.log"

	local reasons=()
	((qrc == 124 || qrc == 137)) && reasons+=("timed out after ${TIMEOUT}s (a hang after the last test result usually means a test left a background process holding bats' fd 3: start them with 3>&-)")
	((qrc != 0 && qrc != 124 && qrc != 137)) && reasons+=("qemu exited $qrc")
	line=$(tr -d '\r' <"$out/verdict" | grep -a '^TCPFLOW-VERDICT ' | tail -n1) || line=
	verdict=$(sed -n 's/.* rc=\([0-9]*\).*/\1/p' <<<"$line")
	ntests=$(sed -n 's/.* tests=\([0-9]*\).*/\1/p' <<<"$line")
	leaks=$(sed -n 's/.* kmemleak=\([0-9]*\).*/\1/p' <<<"$line")
	if [[ -z $verdict ]]; then
		reasons+=("no verdict from the guest (crash, panic or timeout)")
	elif [[ $verdict != 0 ]]; then
		reasons+=("bats exited $verdict")
	elif [[ ${ntests:-0} == 0 ]]; then
		reasons+=("no test ran")
	fi
	[[ ${leaks:-0} == 0 ]] || reasons+=("kmemleak reports $leaks unreferenced objects")
	if problems=$(console_problems "$out/console.log"); then
		# The first one in the summary too: it is what a CI log's tail
		# keeps.
		reasons+=("kernel console reports problems, first: $(first_problem "$out/console.log" "$problems")")
		printf '%s: console problems in %s:\n' "$rel" "$out/console.log" >&2
		printf '%s\n' "$problems" | head -n 40 | sed 's/^/    /' >&2 || true
	fi
	if ((${#reasons[@]})); then
		local joined
		printf -v joined '%s; ' "${reasons[@]}"
		RESULT[$series]="FAIL (${joined%; })"
	else
		RESULT[$series]=PASS
	fi
}

# One run at a time per tree: runs share build/ and build/vm/<rel>/.
take_lock() {
	mkdir -p "$TCPFLOW_REPO/build"
	exec {LOCK_FD}>"$TCPFLOW_REPO/build/.vm-test.lock"
	if ! flock -n "$LOCK_FD"; then
		tcpflow_log "another vm-test.sh is running in $TCPFLOW_REPO: waiting"
		flock "$LOCK_FD"
	fi
}

main() {
	parse_args "$@"
	take_lock
	trap 'stop_vm; exit 130' INT
	trap 'stop_vm; exit 143' TERM
	# set -e ends the run at a failing command with no word of why: say
	# which, so that a CI log's tail shows it.
	set -E
	trap 'tcpflow_log "vm-test.sh line $LINENO: \"$BASH_COMMAND\" failed (exit $?): the run stops here"' ERR
	declare -gA RESULT=() ELAPSED=() RELEASE=() CONSOLE=() EMULATOR_FAULT=()
	local s failed=0
	# Not "run_kernel || ...": that would disable set -e inside it.
	for s in "${SERIES[@]}"; do
		run_kernel "$s"
	done
	echo
	for s in "${SERIES[@]}"; do
		[[ ${RESULT[$s]} == PASS ]] || failed=1
		printf 'vm-test %s %s: %s in %ss, console: %s\n' "$s" "${RELEASE[$s]}" \
			"${RESULT[$s]}" "${ELAPSED[$s]}" "${CONSOLE[$s]}"
		[[ -z ${EMULATOR_FAULT[$s]:-} ]] ||
			printf 'vm-test %s: booted again after the emulator fault: %s\n' \
				"$s" "${EMULATOR_FAULT[$s]}"
	done
	return "$failed"
}

# Run, not sourced (tests/host/060-emulator-fault.bats sources it for its
# functions).  The exit on the same line keeps bash from reading this file
# again once main returns: editing it during a run is then harmless.
[[ ${BASH_SOURCE[0]} != "$0" ]] || { main "$@"; exit; }
