#!/usr/bin/env bats
# `make bench-profile`: what churn costs with tcpflow loaded, and where,
# from perf's samples of every CPU (perf record -a -g, the host's perf
# copied into the guest): two runs with nothing loaded and two with
# tcpflow, in the order off, tcpflow, tcpflow, off, so that a drift of the
# guest weighs on both alike; each symbol's busy samples per 1,000
# connections in both, and what grew.  The increase is split into samples
# with tcpflow's code on the stack (its hooks and what they call in the
# kernel), the kernel's code that calls the hooks where it is not inlined
# (netfilter's hook loop, kprobes, the tracepoint), and the rest: the
# kernel's own work, which costs more per connection too (smaller batches
# of segments and wake-ups as the hooks lengthen each step, colder caches,
# and under emulation QEMU's own costs), and varies most from run to run.
# Like bench.bats it measures, never asserts a number: it fails only when
# the workload did not happen, tcpflow did not record it whole, or perf
# recorded nothing.
#
# Under emulation there is no PMU: perf samples on the CPU clock, and what
# an instruction costs is QEMU's, not hardware's.  Nor can a sample
# interrupt code that runs with interrupts off, as tcpflow's hooks mostly
# do: what they spend there is counted where they turn interrupts back
# on, in the hook itself (tcpflow_nf_tcp, tcpflow_probe_state).  So a
# second test times tcpflow's functions with ftrace's function_graph
# tracer, which reads the clock at each entry and return: calls and time
# per call of each function that is not inlined, with its callees and
# without them (own), the tracer's own cost included (about a microsecond
# a call here: a leaf's that does nothing); Debian's kernels have no
# function profiler.
#
# The workload is bench.bats's churn (workload.bash), TCPFLOW_BENCH_SECS
# (default 5) seconds a run, after a one-second warm-up on another port;
# tcpflow with max_conns=TCPFLOW_BENCH_MAX_CONNS (default 262144, as
# bench.bats).

load helpers
load workload

SECS=${TCPFLOW_BENCH_SECS:-5}
MAX_CONNS=${TCPFLOW_BENCH_MAX_CONNS:-262144}

setup() {
	command -v perf >/dev/null || skip "the guest has no perf: make bench-profile copies it in"
	tf_veth_pair bna bnb 10.77.0.1 10.77.0.2
}

teardown() {
	pkill -f 'tcpflow-load server' || true
	pkill -x perf || true
	wait || true
	echo nop >"$TF_TRACEFS/current_tracer" 2>/dev/null || true
	echo >"$TF_TRACEFS/set_ftrace_filter" 2>/dev/null || true
	echo 1408 >"$TF_TRACEFS/buffer_size_kb" 2>/dev/null || true
	tf_dump_on_failure
	tf_unload
	ip netns del bna 2>/dev/null || true
	ip netns del bnb 2>/dev/null || true
}

# IDLE: the symbols of an idle CPU, left out of what churn costs.
IDLE='^(default_idle|native_safe_halt|pv_native_safe_halt|cpu_idle_poll|do_idle|acpi_idle_do_entry|poll_idle)$'

# profile CONFIG PORT: churn on PORT for SECS seconds under perf record -a
# with nothing loaded (off) or tcpflow; adds the connections made to
# $T/CONFIG.conns, "SYMBOL SAMPLES" of every CPU to $T/CONFIG and, for
# tcpflow, the samples with its code on the stack to $T/incl.
profile() {
	local out
	[[ $1 == off ]] || tf_load max_conns="$MAX_CONNS"
	workload churn $(($2 + 5000)) 1 >/dev/null
	perf record -a -g -F 999 -o "$T/perf.data" -- sleep $((SECS + 2)) \
		>/dev/null 2>"$T/perf.err" 3>&- &
	sleep 1
	out=$(workload churn "$2" "$SECS")
	wait
	echo "${out%% *}" >>"$T/$1.conns"
	if [[ $1 == tcpflow ]]; then
		[ "$(tf_header_count untracked)" = 0 ]
		[ "$(tf_header_count events)" = 0 ]
		# Its hooks with what they call in the kernel (perf script
		# prints one paragraph a sample, its stack included).
		perf script -i "$T/perf.data" -F ip,sym 2>/dev/null |
			awk -v RS= '/tcpflow_/ { n++ } END { print n + 0 }' >>"$T/incl"
	fi
	perf report -i "$T/perf.data" --stdio --no-header --no-children -n \
		--sort sym 2>/dev/null |
		awk '$1 ~ /%$/ && $2 ~ /^[0-9]+$/ { print $NF, $2 }' >"$T/report"
	[ -s "$T/report" ]
	cat "$T/report" >>"$T/$1"
	[[ $1 == off ]] || tf_unload
}

# sum FILE: the sum of FILE's numbers, one a line.
sum() {
	awk '{ n += $1 } END { print n + 0 }' "$1"
}

@test "bench-profile: what churn over veth spends with tcpflow loaded, and where, against nothing loaded" {
	local off on port=19000 cfg
	# ABBA: a drift of the guest over the four runs weighs on both alike.
	for cfg in off tcpflow tcpflow off; do
		profile "$cfg" $((port++))
	done
	off=$(sum "$T/off.conns")
	on=$(sum "$T/tcpflow.conns")
	# Busy samples per 1,000 connections, by symbol, in each run.
	awk -v idle="$IDLE" -v off="$off" -v on="$on" -v incl="$(sum "$T/incl")" '
		FNR == 1 { run++ }
		$1 ~ idle { next }
		{ k = 1000 / (run == 1 ? off : on); s[$1, run] += $2 * k
		  all[run] += $2 * k; sym[$1] = 1 }
		END {
			printf "#   busy samples (999 a second a CPU) per 1,000 connections: nothing loaded %.0f (%d connections), tcpflow %.0f (%d): %.3fx\n",
				all[1], off, all[2], on, all[2] / all[1]
			for (f in sym) {
				d = s[f, 2] - s[f, 1]
				printf "%s %.1f %.1f %.1f\n", f, s[f, 1], s[f, 2], d
				if (f ~ /^tcpflow_/) mine += s[f, 2]
				else if (f ~ /^(nf_hook_slow|kprobe_|kretprobe_|__kretprobe|rethook_|arch_rethook|exc_int3|do_int3|ftrace_|__traceiter_inet_sock_set_state|fprobe)/) calls += d
			}
			under = incl * 1000 / on
			printf "#   of that increase (%.0f): tcpflow'"'"'s functions %.0f on their own, %.0f with what they call in the kernel; the kernel'"'"'s code that calls them (what is not inlined of netfilter'"'"'s hook loop, kprobes, the tracepoint) %.0f; the rest %.0f\n",
				all[2] - all[1], mine, under, calls, all[2] - all[1] - under - calls
		}' "$T/off" "$T/tcpflow" >"$T/diff"
	grep '^#' "$T/diff" >&3
	tf_say "#   the symbols that grew most, per 1,000 connections:" \
		"#     $(printf '%-40s %9s %9s %9s' symbol off tcpflow increase)"
	grep -v '^#' "$T/diff" | sort -k4,4nr | awk 'n++ < 25 {
		printf "#     %-40s %9.1f %9.1f %9.1f\n", $1, $2, $3, $4 }' >&3
	tf_say "#   and shrank most:"
	grep -v '^#' "$T/diff" | sort -k4,4n | awk 'n++ < 5 {
		printf "#     %-40s %9.1f %9.1f %9.1f\n", $1, $2, $3, $4 }' >&3
}

@test "bench-profile: tcpflow's functions in churn over veth, by time per call (ftrace's function_graph)" {
	local out
	grep -qw function_graph "$TF_TRACEFS/available_tracers" || skip "this kernel has no function_graph tracer"
	tf_load max_conns="$MAX_CONNS"
	workload churn 19100 1 >/dev/null
	echo 0 >"$TF_TRACEFS/tracing_on"
	echo >"$TF_TRACEFS/trace"
	echo 65536 >"$TF_TRACEFS/buffer_size_kb"
	echo ':mod:tcpflow' >"$TF_TRACEFS/set_ftrace_filter"
	echo function_graph >"$TF_TRACEFS/current_tracer"
	echo 1 >"$TF_TRACEFS/options/funcgraph-tail"
	echo 1 >"$TF_TRACEFS/tracing_on"
	out=$(workload churn 19101 1)
	echo 0 >"$TF_TRACEFS/tracing_on"
	tf_say "#   ${out%% *} connections in 1 s"
	[ "$(tf_header_count untracked)" = 0 ]
	# Each CPU's calls nest: "NAME [tcpflow]() {" opens one that calls
	# others, "TIME us | } /* NAME [tcpflow] */" closes it, and
	# "TIME us | NAME [tcpflow]();" is a leaf.  A function's own time is
	# its time less its traced callees'.  "FUNCTION CALLS TOTAL_US OWN_US",
	# most time first.
	awk '{
		if (!match($0, /tcpflow_[a-z0-9_.]+/))
			next
		f = substr($0, RSTART, RLENGTH)
		cpu = $1
		if ($0 ~ /\) *\{ *$/) {
			sub_us[cpu, ++depth[cpu]] = 0
			next
		}
		t = -1
		for (i = 1; i < NF; i++)
			if ($(i + 1) == "us") { t = $i; break }
		if (t < 0)
			next
		own = t
		if ($0 ~ /\} \/\*/ && depth[cpu] > 0)
			own = t - sub_us[cpu, depth[cpu]--]
		if (depth[cpu] > 0)
			sub_us[cpu, depth[cpu]] += t
		n[f]++; us[f] += t; self[f] += own
	} END {
		for (f in n)
			printf "%s %d %.1f %.1f\n", f, n[f], us[f], self[f]
	}' "$TF_TRACEFS/trace" | sort -k3,3nr >"$T/fgraph"
	if [[ ! -s $T/fgraph ]]; then
		grep -v '^#' "$TF_TRACEFS/trace" | head -n 20 >&2
		false
	fi
	tf_say "#   $(printf '%-34s %9s %11s %9s %9s %9s' function calls total-us per-call own per-conn)"
	awk -v conns="${out%% *}" 'i++ < 30 {
		printf "#   %-34s %9d %11.0f %7.2fus %7.2fus %7.2fus\n", $1, $2, $3, $3 / $2, $4 / $2, $3 / conns
	}' "$T/fgraph" >&3
	tf_say "#   lost to a full trace buffer: $(awk '/^overrun/ { n += $2 } END { print n + 0 }' "$TF_TRACEFS"/per_cpu/cpu*/stats) events"
}
