#!/usr/bin/env bash
# checkpatch.pl --strict on the kernel code and the UAPI header, then a
# check of the bats tests: no .bats or .bash file under tests/ may hold a
# bare `! cmd` line (bash exempts a negated pipeline from set -e, so such a
# line asserts nothing unless it is the last of its test or function; write
# `run ! cmd` or `! cmd || false`). Each offender is printed as file:line.
# Then shellcheck on every shell script: scripts/*.sh and the tests'
# .bash/.sh libraries in full, the .bats files for errors only (bats's own
# semantics, each @test a subshell, read to shellcheck as lost assignments).
# Last, mandoc -T lint on the man pages (tcpflow.4, tcpflowctl.8): not one
# message, style notes included.
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
checkpatch=("$dir/scripts/checkpatch.pl" --no-tree --strict --quiet
	--show-types)
"${checkpatch[@]}" --ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG \
	-f module/*.c module/*.h include/uapi/linux/tcpflow.h \
	tools/*.c tools/*/*.c tools/*/*.h
# The names tables are X-macros: a list of X(...) rows is a "complex
# macro" that reuses its argument, and a row's X may ignore a column.
"${checkpatch[@]}" --ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG \
	--ignore COMPLEX_MACRO,MACRO_ARG_REUSE,MACRO_ARG_UNUSED \
	-f include/uapi/linux/tcpflow_names.h
echo "style: checkpatch --strict clean"

# A negated command at the start of a line, or after && or ||, unless the
# line ends in `|| false`. Comment lines are skipped.
# shellcheck disable=SC2016 # an awk program, not shell
bang=$(find tests \( -name '*.bats' -o -name '*.bash' \) -type f -print0 |
	sort -z | xargs -0 -r awk '
		/^[[:space:]]*#/ { next }
		(/^[[:space:]]*![[:space:]]/ || /(&&|\|\|)[[:space:]]*![[:space:]]/) &&
		    !/\|\|[[:space:]]*false[[:space:]]*$/ {
			print FILENAME ":" FNR ": " $0
		}')
if [[ -n $bang ]]; then
	printf '%s\n' "$bang" >&2
	tcpflow_die "bare '! cmd' lines in tests never fail under set -e: write 'run ! cmd' or '! cmd || false'"
fi
echo "style: no bare '! cmd' line in tests"

# Files, not the links to them (tests/*/helpers.bash). From the top of the
# tree, where the scripts' "# shellcheck source=scripts/lib.sh" point.
mapfile -d '' scripts < <(find scripts -name '*.sh' -type f -print0 | sort -z)
mapfile -d '' libs < <(find tests \( -name '*.bash' -o -name '*.sh' \) \
	-type f -print0 | sort -z)
mapfile -d '' bats < <(find tests -name '*.bats' -type f -print0 | sort -z)
shellcheck -x "${scripts[@]}" ||
	tcpflow_die "shellcheck: scripts/ is not clean"
shellcheck -x --shell=bash "${libs[@]}" ||
	tcpflow_die "shellcheck: the tests' libraries are not clean"
shellcheck --shell=bash --severity=error "${bats[@]}" ||
	tcpflow_die "shellcheck: errors in .bats files"
echo "style: shellcheck clean (${#scripts[@]} scripts, ${#libs[@]} test libraries, ${#bats[@]} .bats files for errors)"

mans=(module/tcpflow.4 tools/tcpflowctl/tcpflowctl.8)
command -v mandoc >/dev/null || tcpflow_die "no mandoc: run scripts/setup.sh"
lint=$(mandoc -T lint "${mans[@]}" 2>&1) || true
if [[ -n $lint ]]; then
	printf '%s\n' "$lint" >&2
	tcpflow_die "mandoc -T lint: the man pages are not clean"
fi
echo "style: mandoc -T lint clean (${mans[*]})"
