#!/usr/bin/env bash
# checkpatch.pl --strict on the kernel code and the UAPI header.
# checkpatch comes from Debian's linux-source-6.12 package: downloaded (not
# installed) and the three files it needs extracted into the cache.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src_pkg=linux-source-6.12
ver=$(apt-cache show --no-all-versions "$src_pkg" 2>/dev/null |
	sed -n 's/^Version: //p' | head -n 1)
[[ -n $ver ]] || tcpflow_die "$src_pkg is not in the apt index: run scripts/setup.sh"
dir=$TCPFLOW_CACHE/checkpatch/$ver
if [[ ! -x $dir/scripts/checkpatch.pl ]]; then
	tcpflow_log "extracting checkpatch.pl from $src_pkg $ver"
	tmp=$(mktemp -d)
	chmod 755 "$tmp"	# apt downloads as user _apt
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download -q "$src_pkg=$ver" >/dev/null)
	dpkg-deb --fsys-tarfile "$tmp"/*.deb |
		tar -x -C "$tmp" ./usr/src/linux-source-6.12.tar.xz
	mkdir -p "$dir"
	tar -xJf "$tmp/usr/src/linux-source-6.12.tar.xz" -C "$dir" \
		--strip-components=1 \
		linux-source-6.12/scripts/checkpatch.pl \
		linux-source-6.12/scripts/spelling.txt \
		linux-source-6.12/scripts/const_structs.checkpatch
fi

cd "$TCPFLOW_REPO"
"$dir/scripts/checkpatch.pl" --no-tree --strict --quiet --show-types \
	--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG \
	-f module/*.c module/*.h include/uapi/linux/tcpflow.h tools/*.c
echo "style: checkpatch --strict clean"
