#!/usr/bin/env bats
# make install puts exactly its files into a DESTDIR, make uninstall takes
# exactly those away; the shipped examples (modprobe.d, modules-load.d)
# and dkms.conf agree with the module and the Makefile.  Builds the module
# for the 6.12 kernel of scripts/lib.sh's table (no VM).

load helpers

setup_file() {
	# shellcheck source=scripts/lib.sh
	source "$REPO/scripts/lib.sh"
	KDIR=$(tcpflow_kdir 6.12)
	REL=$(tcpflow_kver 6.12)
	VERSION=$(sed -n 's/^TCPFLOW_VERSION := //p' "$REPO/Makefile")
	tcpflow_kmake 6.12 -s module tools man >&2
	export KDIR REL VERSION
}

setup() {
	DEST=$BATS_TEST_TMPDIR/dest
	mkdir -p "$DEST"
}

# mk TARGET [VAR=VALUE...]: make TARGET for the 6.12 kernel into $DEST.
mk() {
	run make -C "$REPO" --no-print-directory KDIR="$KDIR" DESTDIR="$DEST" "$@"
	echo "$output"
	[ "$status" -eq 0 ]
}

# The files (and links) under $DEST, one a line, sorted.
files() {
	(cd "$DEST" && find . \( -type f -o -type l \) | sed 's,^\./,,' | LC_ALL=C sort)
}

EXPECTED_FILES() {
	LC_ALL=C sort <<-EOF
		${1:-etc}/modprobe.d/tcpflow.conf
		${1:-etc}/modules-load.d/tcpflow.conf
		lib/modules/$REL/updates/tcpflow.ko
		${2:-usr/local}/sbin/tcpflowctl
		${2:-usr/local}/share/man/man4/tcpflow.4
		${2:-usr/local}/share/man/man8/tcpflowctl.8
		${2:-usr/local}/lib/systemd/system/tcpflow-metrics.service
		${2:-usr/local}/lib/systemd/system/tcpflow-metrics.timer
		${2:-usr/local}/share/tcpflow/prometheus/tcpflow-alerts.yml
	EOF
}

@test "make install puts exactly its files, with their modes, into DESTDIR" {
	mk install
	[ "$(files)" = "$(EXPECTED_FILES)" ]
	[[ $output == *"make: $DEST/lib/modules/$REL has no modules.order: depmod skipped (run 'depmod $REL' on the installed system)"* ]]
	cmp "$REPO/build/$REL/tcpflow.ko" "$DEST/lib/modules/$REL/updates/tcpflow.ko"
	cmp "$REPO/build/tools/tcpflowctl" "$DEST/usr/local/sbin/tcpflowctl"
	cmp "$REPO/packaging/modprobe.d/tcpflow.conf" "$DEST/etc/modprobe.d/tcpflow.conf"
	cmp "$REPO/packaging/modules-load.d/tcpflow.conf" "$DEST/etc/modules-load.d/tcpflow.conf"
	[ "$(stat -c %a "$DEST/usr/local/sbin/tcpflowctl")" = 755 ]
	[ "$(stat -c %a "$DEST/lib/modules/$REL/updates/tcpflow.ko")" = 644 ]
	[ "$(stat -c %a "$DEST/usr/local/share/man/man4/tcpflow.4")" = 644 ]
	[ "$(stat -c %a "$DEST/etc/modprobe.d/tcpflow.conf")" = 644 ]
	# The man pages carry the version, not the placeholder.
	grep -q "^\.TH TCPFLOW 4 .*\"tcpflow $VERSION\"" "$DEST/usr/local/share/man/man4/tcpflow.4"
	grep -q "^\.TH TCPFLOWCTL 8 .*\"tcpflow $VERSION\"" "$DEST/usr/local/share/man/man8/tcpflowctl.8"
	run grep -l @VERSION@ "$DEST/usr/local/share/man/man4/tcpflow.4" "$DEST/usr/local/share/man/man8/tcpflowctl.8"
	[ "$status" -eq 1 ]
}

@test "make uninstall removes every file make install put" {
	mk install
	mk uninstall
	[ "$(files)" = "" ]
}

@test "install-tools and uninstall-tools (beside DKMS) handle all but the module" {
	run make -C "$REPO" --no-print-directory KDIR=/nonexistent DESTDIR="$DEST" install-tools
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(files)" = "$(EXPECTED_FILES | grep -v ^lib/modules/)" ]
	run make -C "$REPO" --no-print-directory KDIR=/nonexistent DESTDIR="$DEST" uninstall-tools
	[ "$status" -eq 0 ]
	[ "$(files)" = "" ]
}

@test "PREFIX and SYSCONFDIR move what they name, and uninstall finds it there" {
	mk install PREFIX=/usr SYSCONFDIR=/usr/share/doc/tcpflow/examples
	[ "$(files)" = "$(EXPECTED_FILES usr/share/doc/tcpflow/examples usr)" ]
	mk uninstall PREFIX=/usr SYSCONFDIR=/usr/share/doc/tcpflow/examples
	[ "$(files)" = "" ]
}

@test "a DESTDIR holding the kernel's modules directory gets depmod, before and after" {
	mkdir -p "$DEST/lib/modules/$REL"
	: >"$DEST/lib/modules/$REL/modules.order"
	: >"$DEST/lib/modules/$REL/modules.builtin"
	mk install
	[[ $output == *"depmod -b $DEST $REL"* ]]
	grep -qx "updates/tcpflow.ko:" "$DEST/lib/modules/$REL/modules.dep"
	mk uninstall
	[ ! -e "$DEST/lib/modules/$REL/updates/tcpflow.ko" ]
	run ! grep -q tcpflow "$DEST/lib/modules/$REL/modules.dep"
}

@test "an edited /etc file is neither replaced by install nor removed by uninstall" {
	mkdir -p "$DEST/etc/modprobe.d"
	echo 'options tcpflow max_conns=65536' >"$DEST/etc/modprobe.d/tcpflow.conf"
	mk install
	[[ $output == *"make: $DEST/etc/modprobe.d/tcpflow.conf exists: kept"* ]]
	[ "$(cat "$DEST/etc/modprobe.d/tcpflow.conf")" = 'options tcpflow max_conns=65536' ]
	# The other example, installed unchanged, then edited: kept too.
	echo tcpflow >>"$DEST/etc/modules-load.d/tcpflow.conf"
	mk uninstall
	[[ $output == *"make: $DEST/etc/modprobe.d/tcpflow.conf was changed: kept"* ]]
	[[ $output == *"make: $DEST/etc/modules-load.d/tcpflow.conf was changed: kept"* ]]
	[ "$(files)" = "$(printf '%s\n' etc/modprobe.d/tcpflow.conf etc/modules-load.d/tcpflow.conf)" ]
}

@test "the modprobe.d example names every parameter of the module, each commented out, with its default" {
	local parm want got
	# The release module's parameters, as modinfo reads them.
	want=$(modinfo -F parm "$REPO/build/$REL/tcpflow.ko" | cut -d: -f1 | LC_ALL=C sort)
	[ -n "$want" ]
	got=$(sed -n 's/^#options tcpflow \([a-z_]*\)=.*/\1/p' "$REPO/packaging/modprobe.d/tcpflow.conf" | LC_ALL=C sort)
	[ "$got" = "$want" ]
	# Nothing is set: no uncommented line.
	run grep -v '^#' "$REPO/packaging/modprobe.d/tcpflow.conf"
	[ "$status" -eq 1 ]
	run grep -v '^#' "$REPO/packaging/modules-load.d/tcpflow.conf"
	[ "$status" -eq 1 ]
	grep -qx '#tcpflow' "$REPO/packaging/modules-load.d/tcpflow.conf"
	# Each default as the module states it in its description.
	for parm in max_conns=8192 max_events=32 ring_events=4096; do
		grep -qx "#options tcpflow $parm" "$REPO/packaging/modprobe.d/tcpflow.conf"
		modinfo -F parm "$REPO/build/$REL/tcpflow.ko" |
			grep -q "^${parm%%=*}:.*default ${parm#*=})"
	done
	grep -qx '#options tcpflow absolute_seq=0' "$REPO/packaging/modprobe.d/tcpflow.conf"
	grep -qx '#options tcpflow ports=' "$REPO/packaging/modprobe.d/tcpflow.conf"
}

@test "dkms.conf's PACKAGE_VERSION is the Makefile's TCPFLOW_VERSION" {
	[ -n "$VERSION" ]
	grep -qx "PACKAGE_VERSION=\"$VERSION\"" "$REPO/dkms.conf"
	grep -qx 'PACKAGE_NAME="tcpflow"' "$REPO/dkms.conf"
	grep -qx 'DEST_MODULE_LOCATION\[0\]="/updates/dkms"' "$REPO/dkms.conf"
	grep -qx 'AUTOINSTALL="yes"' "$REPO/dkms.conf"
}
