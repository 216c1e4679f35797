#!/usr/bin/env bash
# Print the Debian kernel release tcpflow uses for a series: kver.sh 6.1|6.12
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tcpflow_kver "${1:?usage: kver.sh 6.1|6.12}" ||
	tcpflow_die "no kernel of series $1 in the apt index: run apt-get update"
