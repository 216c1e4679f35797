#!/usr/bin/env bats
# Bad input: random and malformed ioctls, odd read sizes, writes, seeks,
# close() under a blocked read, out-of-range module parameters, writes to
# /sys/module/tcpflow/parameters, stress-ng --dev and trinity.  Every call
# must fail cleanly (or do exactly what the ABI says), the kernel must not
# complain, and nothing may stay behind after rmmod.

load helpers

teardown() {
	tf_dump_on_failure
	tf_churn_stop bi
	pkill -f tcpflow-devtest || true
	pkill -u 65534 || true
	pkill -f stress-ng || true
	sleep 0.2
	# trinity's children hold the device open until they are gone.
	tf_wait_for 10 nobody_gone || true
	pkill -f tcpflow-sock || true
	ip netns del bi 2>/dev/null || true
	[ -e /dev/tcpflow ] && chmod 0600 /dev/tcpflow
	tf_unload
	rm -rf "$T/bi".*
}

nobody_gone() {
	! pgrep -u 65534 >/dev/null || false
}

@test "20000 random ioctls: each gets ENOTTY, EFAULT, EINVAL or does what the ABI says" {
	tf_load
	run tcpflow-devtest open ioctl-fuzz 20000 1 version snapshot
	echo "$output" | head -n 5 | sed 's/^/# /' >&3
	[ "$status" = 0 ]
	[[ ${lines[0]} == "ioctl-fuzz 20000 ok="* ]]
	# Every class was hit.
	[[ ${lines[0]} =~ ok=[1-9][0-9]*\ enotty=[1-9][0-9]*\ efault=[1-9][0-9]*\ einval=[1-9][0-9]*\ other=0$ ]]
	[ "${lines[1]}" = "version 1" ]
	[ "${lines[-1]}" = SYNC ]
	run tcpflow-devtest open-nb ioctl-fuzz 20000 2
	[ "$status" = 0 ]
	tf_unload
	tf_nothing_left
}

@test "device reads of 0 return 0, of 1 and odd sizes whole records or EINVAL" {
	tf_load
	tcpflow-sock listen 127.0.0.1 9601 close-listener
	run tcpflow-devtest open-nb read 0 read 1 read 7 read 39 read 161 read 4097 read 4095 read 65535 drain
	[ "$status" = 0 ]
	# read(2): a zero count returns 0.
	[ "${lines[0]}" = "read 0" ]
	[ "${lines[1]}" = "read EINVAL" ]
	[ "${lines[2]}" = "read EINVAL" ]
	[ "${lines[3]}" = "read EINVAL" ]
	# Whole records only: the sizes add up from 160 (CONN) and 40 (EVENT).
	printf '%s\n' "${lines[@]}" | awk '/^read [0-9]/ { if ($2 % 8) bad = 1 } END { exit bad }'
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^SYNC$')" = 1 ]
	tf_unload
	tf_nothing_left
}

@test "/proc/tcpflow read 1, 7 and 4093 bytes at a time gives the same text" {
	tf_load
	for p in 9611 9612 9613; do tcpflow-sock listen 127.0.0.1 $p close-listener; done
	strip_age() { sed -E 's/ [0-9]+\.[0-9]{6}s / AGE /'; }
	cat /proc/tcpflow | strip_age >"$T/bi.cat"
	for bs in 1 7 4093; do
		dd if=/proc/tcpflow bs=$bs status=none | strip_age >"$T/bi.dd"
		cmp "$T/bi.cat" "$T/bi.dd"
	done
	[ "$(grep -c '^conn ' "$T/bi.cat")" -ge 3 ]
	run tcpflow-devtest -d /proc/tcpflow open read-raw 0 seek read-raw 1
	[ "$output" = "read 0
seek ok
read 1" ]
	# Not writable, not even by root.
	run bash -c 'echo x >/proc/tcpflow'
	[ "$status" -ne 0 ]
	tf_unload
	tf_nothing_left
}

@test "close() while another thread is blocked in read, 300 times under churn" {
	tf_load
	tf_churn_start bi 9600
	run tcpflow-devtest close-race 300
	[ "$output" = "close-race 300 ebadf=300 other=0" ]
	tf_churn_stop bi
	sleep 0.2
	# No reference was left behind: rmmod works at once.
	rmmod tcpflow
	tf_nothing_left
}

@test "out-of-range and garbage module parameters are refused with a message, nothing loaded" {
	bad=(
		"max_conns=15 max_conns=15: must be an integer from 16 to 1048576"
		"max_conns=1048577 max_conns=1048577: must be an integer from 16 to 1048576"
		"max_conns=0 max_conns=0: must be an integer from 16 to 1048576"
		"max_conns=-1 max_conns=-1: must be an integer from 16 to 1048576"
		"max_conns=4294967312 max_conns=4294967312: must be an integer from 16 to 1048576"
		"max_conns=abc max_conns=abc: must be an integer from 16 to 1048576"
		"max_conns=12x max_conns=12x: must be an integer from 16 to 1048576"
		"max_events=3 max_events=3: must be an integer from 4 to 1024"
		"max_events=1025 max_events=1025: must be an integer from 4 to 1024"
		"max_events=0x max_events=0x: must be an integer from 4 to 1024"
		"ring_events=8 ring_events=8: must be a power of two from 16 to 1048576"
		"ring_events=2097152 ring_events=2097152: must be a power of two from 16 to 1048576"
		"ring_events=1000 ring_events=1000: must be a power of two from 16 to 1048576"
		"ring_events=4097 ring_events=4097: must be a power of two from 16 to 1048576"
		"ring_events= ring_events=: must be a power of two from 16 to 1048576"
	)
	for b in "${bad[@]}"; do
		param=${b%% *}
		msg=${b#* }
		dmesg -C
		run insmod "$TCPFLOW_KO" "$param"
		[ "$status" -ne 0 ]
		dmesg -t | grep -qxF "tcpflow: $msg" || { echo "# $param: $(dmesg -t)" >&3; false; }
		tf_nothing_left
	done
	# Limits themselves and hex are accepted (within a quarter of RAM:
	# the largest ring of each CPU needs 200 MiB).
	set -- 16 1024 1048576
	if [ "$(footprint_kib "$@")" -le "$(ram_quarter_kib)" ]; then
		tf_load max_conns=16 max_events=1024 ring_events=0x100000
		[ "$(cat /sys/module/tcpflow/parameters/ring_events)" = 1048576 ]
		tf_unload
	else
		tf_load max_conns=16 max_events=1024 ring_events=0x10000
		[ "$(cat /sys/module/tcpflow/parameters/ring_events)" = 65536 ]
		tf_unload
		run insmod "$TCPFLOW_KO" max_conns=16 max_events=1024 ring_events=0x100000
		[ "$status" -ne 0 ]
	fi
	# max_conns at its limit needs 488 MiB: it loads where a quarter of
	# RAM holds that, and is refused (next test) where it does not.
	set -- 1048576 4 16
	if [ "$(footprint_kib "$@")" -le "$(ram_quarter_kib)" ]; then
		tf_load max_conns=$1 max_events=$2 ring_events=$3
		[ "$(cat /sys/module/tcpflow/parameters/max_conns)" = 1048576 ]
		tf_unload
	else
		run insmod "$TCPFLOW_KO" max_conns=$1 max_events=$2 ring_events=$3
		[ "$status" -ne 0 ]
	fi
	tf_nothing_left
}

# footprint_kib MAX_CONNS MAX_EVENTS RING_EVENTS: what the README says
# these parameters allocate, in KiB rounded up: 360 + 32 bytes per event
# for each entry, two hashes of 8-byte buckets (a power of two of them, at
# least max_conns each) and 200 bytes per ring slot, a ring per possible CPU.
footprint_kib() {
	local b=1 cpus
	while ((b < $1)); do b=$((b * 2)); done
	cpus=$(tf_possible_cpus)
	echo $((($1 * (32 * $2 + 360) + 16 * b + 200 * $3 * cpus + 1023) / 1024))
}

# ram_quarter_kib: a quarter of RAM as the module counts it (MemTotal).
ram_quarter_kib() {
	echo $(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 4))
}

@test "parameters that would take more than a quarter of RAM are refused before any allocation" {
	local quarter=$(ram_quarter_kib) need p
	# Each value in range, their product not: 34 GB, and 695 MB.
	for p in "1048576 1024 4096" "1048576 4 1048576"; do
		set -- $p
		need=$(footprint_kib "$@")
		[ "$need" -gt "$quarter" ]
		dmesg -C
		run insmod "$TCPFLOW_KO" max_conns=$1 max_events=$2 ring_events=$3
		[ "$status" -ne 0 ]
		[[ $output == *"Invalid parameters"* ]]
		dmesg -t | grep -qxF "tcpflow: max_conns=$1 max_events=$2 ring_events=$3: need $need KiB, more than a quarter of RAM ($quarter KiB)" ||
			{ echo "# $p: $(dmesg -t)" >&3; false; }
		# Refused before the table, the ring or anything else.
		[ "$(dmesg -t | grep -c '^tcpflow: ')" = 1 ]
		tf_nothing_left
	done
	# A large combination within the bound loads, and says what it took.
	set -- 131072 32 65536
	need=$(footprint_kib "$@")
	[ "$need" -le "$quarter" ]
	dmesg -C
	tf_load max_conns=$1 max_events=$2 ring_events=$3
	dmesg -t | grep -qx "tcpflow: version [0-9.]* loaded: $1 connections x $2 events, $3 live events a CPU, $need KiB"
	# The pool and the ring at least are in vmalloc space (the hashes may
	# come from the slab).
	[ "$(tf_vmalloc_bytes)" -ge $(($1 * (32 * $2 + 360) + 200 * $3)) ]
	tf_unload
	tf_nothing_left
}

@test "parameters are read-only once loaded, for root too" {
	tf_load
	for p in max_conns max_events ring_events; do
		[ "$(stat -c %a /sys/module/tcpflow/parameters/$p)" = 444 ]
		before=$(cat /sys/module/tcpflow/parameters/$p)
		run bash -c "echo 64 >/sys/module/tcpflow/parameters/$p"
		[ "$status" -ne 0 ]
		[[ $output == *"Permission denied"* ]]
		[ "$(cat /sys/module/tcpflow/parameters/$p)" = "$before" ]
	done
	[[ $(head -n 1 /proc/tcpflow) == *" of 8192, "* ]]
}

@test "stress-ng --dev on /dev/tcpflow for 5 s under churn" {
	tf_load
	tf_churn_start bi 9600
	cd /tmp
	run timeout 60 stress-ng --dev 2 --dev-file /dev/tcpflow -t 5 --metrics-brief
	echo "$output" | tail -n 3 | sed 's/^/# /' >&3
	[ "$status" = 0 ]
	[[ $output == *"successful run completed"* ]]
	tf_churn_stop bi
	sleep 0.2
	rmmod tcpflow
	tf_nothing_left
}

# trinity_on PATH SECS: trinity as nobody on one victim path (it takes
# one), file system calls only; prints its last lines, fails unless it ran
# (under emulation it makes a few hundred calls in 15 s, most of the time
# going to its own start-up).
trinity_on() {
	run timeout -k 10 -s INT "$2" setpriv --reuid 65534 --regid 65534 --clear-groups \
		trinity -q -l off -C 2 -V "$1" \
		--disable-fds=sockets,pipes,perf,epoll,eventfd,pseudo,timerfd,testfile,memfd,drm \
		-c read -c readv -c pread64 -c ioctl -c poll -c lseek -c write -c mmap \
		-c fcntl -c newfstat -c close -c dup -c splice -c sendfile
	echo "$output" | tail -n 6 | sed 's/^/# /' >&3
	[[ $output != *"Sorry"* ]]
	syscalls=$(sed -n 's/.*Ran \([0-9]*\) syscalls.*/\1/p' <<<"$output" | tail -n 1)
	[ "${syscalls:-0}" -gt 200 ]
}

@test "trinity as an unprivileged user on /dev/tcpflow (40 s) and /proc/tcpflow (20 s)" {
	tf_load
	tf_churn_start bi 9600
	# The device is root-only: open it up for the fuzzer, which refuses to
	# run as root; the teardown (or rmmod) restores it.
	chmod 0644 /dev/tcpflow
	mkdir -p "$T/bi.trinity"
	chown 65534:65534 "$T/bi.trinity"
	cd "$T/bi.trinity"
	trinity_on /dev/tcpflow 40
	trinity_on /proc/tcpflow 20
	chmod 0600 /dev/tcpflow
	tf_churn_stop bi
	sleep 0.2
	pkill -u 65534 || true
	tf_wait_for 10 nobody_gone
	rmmod tcpflow
	tf_nothing_left
}
