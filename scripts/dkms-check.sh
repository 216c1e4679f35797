#!/usr/bin/env bash
# Debian's dkms builds and installs tcpflow from dkms.conf against each
# kernel of scripts/lib.sh's table, as it would on a user's host for each
# installed kernel, but in a private DKMS tree under build/dkms/
# (--dkmstree, --sourcetree, --installtree, and install --no-depmod):
# nothing is written to the host's /var/lib/dkms, /usr/src or /lib/modules.
#
#   scripts/dkms-check.sh [SERIES...]     (default: every series)
#
# For each kernel it prints where dkms installed the module (the private
# tree's <release>/updates/dkms/, dkms.conf's DEST_MODULE_LOCATION) and
# copies it to
# build/<release>-dkms/tcpflow.ko (decompressed, when dkms compressed it as
# the host's modules of that release are), checking its version and
# vermagic: the module tests/vm/011-dkms.bats loads (scripts/vm-test.sh
# passes it to the guest as TCPFLOW_KO_DKMS).
#
# Env: TCPFLOW_DKMS_JOBS  make jobs per build (default 1: the machine's
#      cores are usually busy with VMs).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v dkms >/dev/null || tcpflow_die "no dkms: run scripts/setup.sh"
ver=$(sed -n 's/^TCPFLOW_VERSION := //p' "$TCPFLOW_REPO/Makefile")
[[ -n $ver ]] || tcpflow_die "no TCPFLOW_VERSION in $TCPFLOW_REPO/Makefile"
conf_ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$TCPFLOW_REPO/dkms.conf")
[[ $conf_ver == "$ver" ]] ||
	tcpflow_die "dkms.conf's PACKAGE_VERSION is '$conf_ver', the Makefile's TCPFLOW_VERSION '$ver': make them agree"

series=("$@")
((${#series[@]})) || series=("${TCPFLOW_ALL_SERIES[@]}")
for s in "${series[@]}"; do
	tcpflow_check_series "$s"
done

top=$TCPFLOW_REPO/build/dkms
dkms_args=(--dkmstree "$top/tree" --sourcetree "$top/src"
	--installtree "$top/install" -j "${TCPFLOW_DKMS_JOBS:-1}")
# A fresh tree each run: dkms refuses to build a version twice.
rm -rf "$top/tree" "$top/install"
mkdir -p "$top/tree" "$top/install"
make -C "$TCPFLOW_REPO" --no-print-directory dkms-source >&2
# The source tree is already where --sourcetree says: dkms add copies nothing.
dkms add -m tcpflow -v "$ver" "${dkms_args[@]}" >&2 ||
	tcpflow_die "dkms add failed"

failed=()
for s in "${series[@]}"; do
	rel=$(tcpflow_kver "$s") || tcpflow_die "cannot resolve kernel $s: run scripts/setup.sh"
	kdir=$(tcpflow_kdir "$s")
	[[ -f $kdir/Makefile ]] || tcpflow_die "no build tree for $rel at $kdir: run scripts/setup.sh"
	tcpflow_log "dkms build tcpflow $ver for $rel ($kdir)"
	# sign_file: dkms would sign with a key it makes in /var/lib/dkms,
	# the host's; the module is left unsigned, as make builds it.
	# TCPFLOW_DKMS_CC: dkms.conf says why.
	if ! TCPFLOW_DKMS_CC=$(tcpflow_kcc "$kdir") sign_file=/nonexistent \
		dkms build -m tcpflow -v "$ver" -k "$rel" --kernelsourcedir "$kdir" \
		"${dkms_args[@]}" >&2; then
		tail -n 40 "$top/tree/tcpflow/$ver/build/make.log" >&2 || true
		failed+=("$s")
		continue
	fi
	# --no-depmod: dkms's depmod would be the host's (no -b).
	mkdir -p "$top/install/$rel"
	if ! sign_file=/nonexistent dkms install -m tcpflow -v "$ver" -k "$rel" \
		--kernelsourcedir "$kdir" --no-depmod "${dkms_args[@]}" >&2; then
		failed+=("$s")
		continue
	fi
	# dkms compresses the module as the host's modules of that release
	# are (xz for Debian's bookworm kernels), else leaves it as is.
	dest=$top/install/$rel/updates/dkms
	ko=
	for f in "$dest/tcpflow.ko"{,.xz,.zst,.gz}; do
		[[ -f $f ]] && ko=$f
	done
	if [[ -z $ko ]]; then
		tcpflow_log "$rel: dkms install succeeded but put no tcpflow.ko in $dest"
		failed+=("$s")
		continue
	fi
	out=$TCPFLOW_REPO/build/$rel-dkms
	mkdir -p "$out"
	case $ko in
	*.xz) xz -dc "$ko" >"$out/tcpflow.ko" ;;
	*.zst) zstd -qdc "$ko" >"$out/tcpflow.ko" ;;
	*.gz) gzip -dc "$ko" >"$out/tcpflow.ko" ;;
	*) cp "$ko" "$out/tcpflow.ko" ;;
	esac
	got_ver=$(modinfo -F version "$out/tcpflow.ko")
	magic=$(modinfo -F vermagic "$out/tcpflow.ko")
	if [[ $got_ver != "$ver" || $magic != "$rel "* ]]; then
		tcpflow_log "$rel: $ko has version '$got_ver', vermagic '$magic'"
		failed+=("$s")
		continue
	fi
	printf 'dkms %s %s: %s -> build/%s-dkms/tcpflow.ko\n' "$s" "$rel" "$ko" "$rel"
done
if ((${#failed[@]})); then
	tcpflow_die "dkms could not build tcpflow for: ${failed[*]}"
fi
echo "dkms: tcpflow $ver built and installed for ${series[*]}"
