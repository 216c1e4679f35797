#!/usr/bin/env bash
# Print the Debian kernel release tcpflow uses for a series: kver.sh SERIES (see lib.sh)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tcpflow_kver "${1:?usage: kver.sh SERIES (see lib.sh)}" ||
	tcpflow_die "no kernel of series $1 in the apt index: run apt-get update"
