#!/usr/bin/env bats
# tcpflowctl metrics on the recorded fixtures: the exact text, what
# Prometheus's own tools say of it and of the alerting rules, the systemd
# units, and the real node_exporter serving it from its textfile collector.

load helpers
# shellcheck source=tests/lib/wait.bash
. "$REPO/tests/lib/wait.bash"

PKG=$REPO/packaging

setup_file() {
	tf_build_fixtures
}

teardown() {
	if [[ -n ${NE_PID:-} ]]; then
		kill "$NE_PID" 2>/dev/null || true
		wait "$NE_PID" 2>/dev/null || true
	fi
}

# prom_samples FILE: FILE's tcpflow_ samples, one per line, sorted, labels
# in name order and values as numbers: the same text for the same samples
# however an exporter orders labels or writes floats.
prom_samples() {
	gawk '/^tcpflow_/ {
		v = $NF
		line = substr($0, 1, length($0) - length(v) - 1)
		name = line
		lbl = ""
		if ((i = index(line, "{"))) {
			name = substr(line, 1, i - 1)
			lbl = substr(line, i + 1, length(line) - i - 1)
		}
		n = split(lbl, a, /",/)
		for (k = 1; k < n; k++)
			a[k] = a[k] "\""
		asort(a)
		out = ""
		for (k = 1; k <= n; k++)
			out = out (k > 1 ? "," : "") a[k]
		printf "%s{%s} %.17g\n", name, out, v + 0
	}' "$1" | sort
}

@test "metrics -f: every family with HELP and TYPE, exact values" {
	run_tool -f "$FIXTURES/host.rec" metrics
	expect_output "$(cat <<'END'
# HELP tcpflow_connections Connections tcpflow holds that are not closed, by TCP state and role.
# TYPE tcpflow_connections gauge
tcpflow_connections{state="ESTABLISHED",role="-"} 1
tcpflow_connections{state="ESTABLISHED",role="client"} 1
tcpflow_connections{state="TIME_WAIT",role="client"} 4
tcpflow_connections{state="CLOSE_WAIT",role="server"} 2
tcpflow_connections{state="LISTEN",role="listener"} 3
# HELP tcpflow_transitions_total State transitions in the histories tcpflow holds, by old and new state.
# TYPE tcpflow_transitions_total counter
tcpflow_transitions_total{from="SYN_SENT",to="ESTABLISHED"} 5
tcpflow_transitions_total{from="CLOSE",to="SYN_SENT"} 5
tcpflow_transitions_total{from="ESTABLISHED",to="FIN_WAIT1"} 4
tcpflow_transitions_total{from="ESTABLISHED",to="CLOSE_WAIT"} 4
tcpflow_transitions_total{from="SYN_RECV",to="ESTABLISHED"} 4
tcpflow_transitions_total{from="FIN_WAIT1",to="FIN_WAIT2"} 4
tcpflow_transitions_total{from="FIN_WAIT2",to="TIME_WAIT"} 4
tcpflow_transitions_total{from="LISTEN",to="SYN_RECV"} 4
tcpflow_transitions_total{from="CLOSE",to="LISTEN"} 3
tcpflow_transitions_total{from="CLOSE_WAIT",to="LAST_ACK"} 2
tcpflow_transitions_total{from="LAST_ACK",to="CLOSE"} 2
# HELP tcpflow_close_wait_connections Connections in CLOSE_WAIT (the peer closed, this end did not), by recorded owner.
# TYPE tcpflow_close_wait_connections gauge
tcpflow_close_wait_connections{comm="leaky",unit="-"} 2
# HELP tcpflow_close_wait_oldest_seconds Time since the oldest CLOSE_WAIT connection of each recorded owner entered it.
# TYPE tcpflow_close_wait_oldest_seconds gauge
tcpflow_close_wait_oldest_seconds{comm="leaky",unit="-"} 120
# HELP tcpflow_time_wait_connections Connections in TIME_WAIT, by peer address (the top peers, the rest as other).
# TYPE tcpflow_time_wait_connections gauge
tcpflow_time_wait_connections{peer="127.0.0.1"} 2
tcpflow_time_wait_connections{peer="10.0.0.7"} 2
# HELP tcpflow_handshake_seconds Time from the first SYN to ESTABLISHED, by role.
# TYPE tcpflow_handshake_seconds histogram
tcpflow_handshake_seconds_bucket{role="client",le="0.0001"} 2
tcpflow_handshake_seconds_bucket{role="client",le="0.00025"} 2
tcpflow_handshake_seconds_bucket{role="client",le="0.0005"} 3
tcpflow_handshake_seconds_bucket{role="client",le="0.001"} 3
tcpflow_handshake_seconds_bucket{role="client",le="0.0025"} 4
tcpflow_handshake_seconds_bucket{role="client",le="0.005"} 4
tcpflow_handshake_seconds_bucket{role="client",le="0.01"} 4
tcpflow_handshake_seconds_bucket{role="client",le="0.025"} 4
tcpflow_handshake_seconds_bucket{role="client",le="0.05"} 4
tcpflow_handshake_seconds_bucket{role="client",le="0.1"} 4
tcpflow_handshake_seconds_bucket{role="client",le="0.25"} 4
tcpflow_handshake_seconds_bucket{role="client",le="0.5"} 4
tcpflow_handshake_seconds_bucket{role="client",le="1"} 4
tcpflow_handshake_seconds_bucket{role="client",le="2.5"} 5
tcpflow_handshake_seconds_bucket{role="client",le="5"} 5
tcpflow_handshake_seconds_bucket{role="client",le="10"} 5
tcpflow_handshake_seconds_bucket{role="client",le="+Inf"} 5
tcpflow_handshake_seconds_sum{role="client"} 1.004411
tcpflow_handshake_seconds_count{role="client"} 5
tcpflow_handshake_seconds_bucket{role="server",le="0.0001"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.00025"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.0005"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.001"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.0025"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.005"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.01"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.025"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.05"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.1"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.25"} 4
tcpflow_handshake_seconds_bucket{role="server",le="0.5"} 4
tcpflow_handshake_seconds_bucket{role="server",le="1"} 4
tcpflow_handshake_seconds_bucket{role="server",le="2.5"} 4
tcpflow_handshake_seconds_bucket{role="server",le="5"} 4
tcpflow_handshake_seconds_bucket{role="server",le="10"} 4
tcpflow_handshake_seconds_bucket{role="server",le="+Inf"} 4
tcpflow_handshake_seconds_sum{role="server"} 0.000116
tcpflow_handshake_seconds_count{role="server"} 4
# HELP tcpflow_table_connections Connections tcpflow holds, live and closed histories.
# TYPE tcpflow_table_connections gauge
tcpflow_table_connections 13
# HELP tcpflow_table_closed_connections Closed histories tcpflow holds (reused first when the table is full).
# TYPE tcpflow_table_closed_connections gauge
tcpflow_table_closed_connections 2
# HELP tcpflow_events_total Events tcpflow recorded.
# TYPE tcpflow_events_total counter
tcpflow_events_total 63
# HELP tcpflow_events_dropped_total Events tcpflow lost: a history full, a connection untracked.
# TYPE tcpflow_events_dropped_total counter
tcpflow_events_dropped_total 0
END
)"
}

@test "metrics --top: owners and peers past N summed as other, label values escaped" {
	run_tool -f "$FIXTURES/busy.rec" metrics --top 3
	[ "$(grep -E '^tcpflow_(connections|close_wait|time_wait)' <<<"$output")" = 'tcpflow_connections{state="TIME_WAIT",role="client"} 98
tcpflow_connections{state="CLOSE_WAIT",role="-"} 1
tcpflow_connections{state="CLOSE_WAIT",role="server"} 13
tcpflow_close_wait_connections{comm="-",unit="-"} 1
tcpflow_close_wait_connections{comm="app11",unit="-"} 1
tcpflow_close_wait_connections{comm="app10",unit="-"} 1
tcpflow_close_wait_connections{comm="other",unit="other"} 11
tcpflow_close_wait_oldest_seconds{comm="-",unit="-"} 1000
tcpflow_close_wait_oldest_seconds{comm="app11",unit="-"} 120
tcpflow_close_wait_oldest_seconds{comm="app10",unit="-"} 110
tcpflow_close_wait_oldest_seconds{comm="other",unit="other"} 100
tcpflow_time_wait_connections{peer="2001:db8::7"} 20
tcpflow_time_wait_connections{peer="192.0.2.12"} 12
tcpflow_time_wait_connections{peer="192.0.2.11"} 11
tcpflow_time_wait_connections{peer="other"} 55' ]
	# the default: 10 owners and 10 peers, and other
	run_tool -f "$FIXTURES/busy.rec" metrics
	[ "$(grep -c '^tcpflow_close_wait_connections{' <<<"$output")" -eq 11 ]
	[ "$(grep -c '^tcpflow_time_wait_connections{' <<<"$output")" -eq 11 ]
	[ "$(grep '^tcpflow_time_wait_connections{peer="other"}' <<<"$output")" = 'tcpflow_time_wait_connections{peer="other"} 6' ]
	run_tool -f "$FIXTURES/busy.rec" metrics --top 20
	[ "$(grep -F 'q\"b\\s' <<<"$output")" = 'tcpflow_close_wait_connections{comm="q\"b\\s",unit="-"} 1
tcpflow_close_wait_oldest_seconds{comm="q\"b\\s",unit="-"} 5' ]
	run_tool -f "$FIXTURES/busy.rec" metrics --top 0
	[ "$(grep -E '^tcpflow_(close_wait|time_wait)' <<<"$output")" = 'tcpflow_close_wait_connections{comm="other",unit="other"} 14
tcpflow_close_wait_oldest_seconds{comm="other",unit="other"} 1000
tcpflow_time_wait_connections{peer="other"} 98' ]
}

@test "metrics: a recording leaves out what describes the reading host" {
	run_tool -f "$FIXTURES/host.rec" metrics
	[[ $output != *tcpflow_local_ports* ]]
	[[ $output != *tcpflow_module_info* ]]
	[[ $output != *tcpflow_connections_untracked_total* ]]
	run_tool -f "$FIXTURES/unnamed.rec" metrics
	[ "$(grep -E '^tcpflow_(connections|transitions_total)\{' <<<"$output")" = 'tcpflow_connections{state="STATE_14",role="-"} 1
tcpflow_transitions_total{from="STATE_13",to="STATE_14"} 1' ]
}

@test "metrics: promtool check metrics finds nothing to say" {
	local rec

	for rec in host busy stream unnamed; do
		"$TCPFLOWCTL" -f "$FIXTURES/$rec.rec" metrics >"$BATS_TEST_TMPDIR/$rec.prom"
		run promtool check metrics <"$BATS_TEST_TMPDIR/$rec.prom"
		echo "$rec: $output"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
	done
}

@test "metrics: bad usage" {
	run_tool 2 -f "$FIXTURES/host.rec" metrics --top x
	[ "$stderr" = "tcpflowctl: bad --top 'x': 0 to 10000 expected" ]
	run_tool 2 -f "$FIXTURES/host.rec" -j metrics
	[ "$(jq -r .error <<<"$output")" = "metrics: option '-j' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" stats --top 3
	[ "$stderr" = "tcpflowctl: stats: option '--top' does not apply (try -h)" ]
	run_tool 2 -f "$FIXTURES/host.rec" list -o x.prom
	[ "$stderr" = "tcpflowctl: list: option '-o' does not apply (try -h)" ]
}

@test "metrics -o: replaces the file by a rename, world-readable, no temporary left" {
	local dir=$BATS_TEST_TMPDIR/textfile ino

	mkdir "$dir"
	echo old >"$dir/tcpflow.prom"
	ino=$(stat -c %i "$dir/tcpflow.prom")
	(umask 077 && "$TCPFLOWCTL" -f "$FIXTURES/host.rec" metrics -o "$dir/tcpflow.prom")
	run_tool -f "$FIXTURES/host.rec" metrics
	[ "$(cat "$dir/tcpflow.prom")" = "$output" ]
	[ "$(stat -c %i "$dir/tcpflow.prom")" != "$ino" ]
	[ "$(stat -c %a "$dir/tcpflow.prom")" = 644 ]
	[ "$(ls -A "$dir")" = tcpflow.prom ]
}

@test "metrics -o: an error leaves the file as it was" {
	local dir=$BATS_TEST_TMPDIR/textfile

	mkdir "$dir"
	echo old >"$dir/tcpflow.prom"
	run_tool 1 -f "$FIXTURES/truncated.rec" metrics -o "$dir/tcpflow.prom"
	run_tool 1 -f "$FIXTURES/host.rec" metrics -o "$dir/missing/tcpflow.prom"
	[[ $stderr == "tcpflowctl: $dir/missing/.tcpflow-metrics."*": No such file or directory" ]]
	[ "$(cat "$dir/tcpflow.prom")" = old ]
	[ "$(ls -A "$dir")" = tcpflow.prom ]
}

@test "alerting rules: promtool check rules and the unit tests of each alert" {
	run promtool check rules "$PKG/prometheus/tcpflow-alerts.yml"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"SUCCESS: 4 rules found"* ]]
	cd "$PKG/prometheus"
	run promtool test rules tcpflow-alerts.test.yml
	echo "$output"
	[ "$status" -eq 0 ]
	# every alert of the rules file is tested
	diff <(grep -oP '^\s+- alert: \K\w+' tcpflow-alerts.yml | sort) \
		<(grep -oP '^\s+alertname: \K\w+' tcpflow-alerts.test.yml | sort -u)
}

@test "systemd units: systemd-analyze verify, and the service's command writes the file" {
	local dir=$BATS_TEST_TMPDIR/units out=$BATS_TEST_TMPDIR/textfile exec
	local -a args

	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	mkdir "$dir" "$out"
	# systemd finds tcpflowctl in /usr/{local/,}{s,}bin once installed:
	# here, the one just built
	sed "s|^ExecStart=tcpflowctl |ExecStart=$TCPFLOWCTL |" \
		"$PKG/systemd/tcpflow-metrics.service" >"$dir/tcpflow-metrics.service"
	cp "$PKG/systemd/tcpflow-metrics.timer" "$dir/"
	run systemd-analyze verify --man=no "$dir/tcpflow-metrics.service" \
		"$dir/tcpflow-metrics.timer"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# ExecStart= as written, reading the fixture into a directory of ours
	exec=$(sed -n 's/^ExecStart=tcpflowctl //p' "$PKG/systemd/tcpflow-metrics.service")
	[[ $exec == *" -o /var/lib/prometheus/node-exporter/tcpflow.prom" ]]
	read -ra args <<<"${exec//\/var\/lib\/prometheus\/node-exporter/$out}"
	"$TCPFLOWCTL" -f "$FIXTURES/host.rec" "${args[@]}"
	run_tool -f "$FIXTURES/host.rec" metrics
	[ "$(cat "$out/tcpflow.prom")" = "$output" ]
}

# A TCP port nothing on this host listens on.
free_port() {
	local port

	for port in $(shuf -i 20000-60000 -n 50); do
		[[ -z $(ss -Htln "sport = :$port") ]] && {
			echo "$port"
			return 0
		}
	done
	return 1
}

@test "node_exporter's textfile collector serves the tcpflow_ series with their values" {
	local dir=$BATS_TEST_TMPDIR/textfile port url

	command -v prometheus-node-exporter >/dev/null || skip "no prometheus-node-exporter"
	mkdir "$dir"
	"$TCPFLOWCTL" -f "$FIXTURES/host.rec" metrics -o "$dir/tcpflow.prom"
	port=$(free_port)
	url=http://127.0.0.1:$port/metrics
	prometheus-node-exporter --collector.disable-defaults \
		--collector.textfile --collector.textfile.directory="$dir" \
		--web.listen-address="127.0.0.1:$port" \
		>"$BATS_TEST_TMPDIR/node-exporter.log" 2>&1 3>&- &
	NE_PID=$!
	tf_wait_for 20 curl -sf -o "$BATS_TEST_TMPDIR/scrape" "$url"
	# read without an error, the file's samples exactly
	grep -qx 'node_textfile_scrape_error 0' "$BATS_TEST_TMPDIR/scrape"
	grep -qx "node_textfile_mtime_seconds{file=\"$dir/tcpflow.prom\"} .*" \
		"$BATS_TEST_TMPDIR/scrape"
	diff -u <(prom_samples "$dir/tcpflow.prom") \
		<(prom_samples "$BATS_TEST_TMPDIR/scrape")
	[ "$(prom_samples "$BATS_TEST_TMPDIR/scrape" | wc -l)" -eq 62 ]
	# as a Prometheus would see a few of them
	grep -qx 'tcpflow_connections{role="server",state="CLOSE_WAIT"} 2' "$BATS_TEST_TMPDIR/scrape"
	grep -qx 'tcpflow_close_wait_oldest_seconds{comm="leaky",unit="-"} 120' "$BATS_TEST_TMPDIR/scrape"
	grep -qx 'tcpflow_time_wait_connections{peer="10.0.0.7"} 2' "$BATS_TEST_TMPDIR/scrape"
	grep -qx 'tcpflow_handshake_seconds_bucket{role="client",le="0.0005"} 3' "$BATS_TEST_TMPDIR/scrape"
	grep -qx 'tcpflow_handshake_seconds_count{role="server"} 4' "$BATS_TEST_TMPDIR/scrape"
	grep -qx '# TYPE tcpflow_transitions_total counter' "$BATS_TEST_TMPDIR/scrape"
	# a new file: the next scrape serves it
	"$TCPFLOWCTL" -f "$FIXTURES/busy.rec" metrics -o "$dir/tcpflow.prom"
	curl -sf -o "$BATS_TEST_TMPDIR/scrape" "$url"
	diff -u <(prom_samples "$dir/tcpflow.prom") \
		<(prom_samples "$BATS_TEST_TMPDIR/scrape")
	grep -qx 'tcpflow_time_wait_connections{peer="other"} 6' "$BATS_TEST_TMPDIR/scrape"
	kill "$NE_PID"
	tf_wait_for 10 tf_pid_done "$NE_PID"
}
