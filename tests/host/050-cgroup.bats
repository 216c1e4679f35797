#!/usr/bin/env bats
# tcpflowctl and the owner's cgroup: cgroup.rec (fixture-gen.c) holds owners
# in cgroups whose ids are the inode numbers of a tree of directories this
# file makes, which TCPFLOW_CGROUP_ROOT points tcpflowctl at instead of the
# host's cgroup2 mount:
#
#   $CGROOT/
#     system.slice/nginx.service/           NGINX    (conns 1, 3)
#     system.slice/nginx.service/worker/    WORKER   (conn 2)
#     system.slice/docker-$DOCKER_ID.scope/ DOCKER   (conn 4)
#     user.slice/user-1000.slice/session-3.scope/         SESSION (conn 5)
#     kubepods.slice/kubepods-burstable.slice/
#       kubepods-burstable-pod1234_abcd.slice/
#         cri-containerd-$POD_ID.scope/     POD      (conn 8)
#
# and 4242424242 (conn 6) is in none of them: a cgroup gone since.

load helpers

DOCKER_ID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
POD_ID=fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210

setup_file() {
	local dirs=(
		system.slice/nginx.service
		system.slice/nginx.service/worker
		"system.slice/docker-$DOCKER_ID.scope"
		user.slice/user-1000.slice/session-3.scope
		"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_abcd.slice/cri-containerd-$POD_ID.scope"
	) ids=() d

	CGROOT=$BATS_FILE_TMPDIR/cgroup
	for d in "${dirs[@]}"; do
		mkdir -p "$CGROOT/$d"
		ids+=("$(stat -c %i "$CGROOT/$d")")
	done
	tf_build_fixtures "${ids[@]}"
	read -r NGINX WORKER DOCKER SESSION POD <<<"${ids[*]}"
	export CGROOT NGINX WORKER DOCKER SESSION POD
}

setup() {
	export TCPFLOW_CGROUP_ROOT=$CGROOT
	REC=$FIXTURES/cgroup.rec
}

@test "list: a Unit column names each owner's systemd unit or container" {
	run_tool -f "$REC"
	expect_output "$(cat <<'END'
ID  State        Age    Local Address:Port  Peer Address:Port       Netns  Role      Handshake  Unit                     Process
 1  LISTEN       15m0s  0.0.0.0:80          0.0.0.0:*          4026531840  listener  -          nginx.service            900/nginx
 2  CLOSE_WAIT   5m0s   10.0.0.5:80         10.0.0.9:50001     4026531840  server    -          nginx.service            901/nginx
 3  CLOSE_WAIT   3m20s  10.0.0.5:80         10.0.0.9:50002     4026531840  server    -          nginx.service            902/nginx
 4  ESTABLISHED  50s    172.17.0.2:40000    10.0.0.7:5432      4026531840  client    -          docker:0123456789ab      1000/app
 5  CLOSE_WAIT   1m40s  10.0.0.5:41000      10.0.0.8:443       4026531840  client    -          session-3.scope          1100/curl
 6  CLOSE_WAIT   6m40s  10.0.0.5:8080       10.0.0.9:50010     4026531840  server    -          cgroup:4242424242        1200/old
 7  CLOSE_WAIT   1m30s  10.0.0.5:8081       10.0.0.9:50011     4026531840  server    -          -                        1300/legacy
 8  ESTABLISHED  20s    10.244.0.5:40001    10.0.0.7:5432      4026531840  client    -          containerd:fedcba987654  1400/kube
END
)"
}

@test "list: no Unit column when no listed connection has a cgroup" {
	run_tool -f "$REC" --pid 1300
	expect_output "ID  State       Age    Local Address:Port  Peer Address:Port       Netns  Role    Handshake  Process
 7  CLOSE_WAIT  1m30s  10.0.0.5:8081       10.0.0.9:50011     4026531840  server  -          1300/legacy"
}

@test "list -j: cgroup_id, the cgroup's path and its unit, null where unknown" {
	run_tool -f "$REC" -j
	[ "$(jq -r '"\(.id) \(.cgroup_id) \(.cgroup) \(.unit)"' <<<"$output")" = "1 $NGINX /system.slice/nginx.service nginx.service
2 $WORKER /system.slice/nginx.service/worker nginx.service
3 $NGINX /system.slice/nginx.service nginx.service
4 $DOCKER /system.slice/docker-$DOCKER_ID.scope docker:0123456789ab
5 $SESSION /user.slice/user-1000.slice/session-3.scope session-3.scope
6 4242424242 null null
7 0 null null
8 $POD /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_abcd.slice/cri-containerd-$POD_ID.scope containerd:fedcba987654" ]
	run_tool -f "$FIXTURES/host.rec" -j -a
	[ "$(jq -c '[.cgroup_id, .cgroup, .unit]' <<<"$output" | sort -u)" = "[0,null,null]" ]
}

@test "a recording is resolved only with TCPFLOW_CGROUP_ROOT: it may be another host's" {
	TCPFLOW_CGROUP_ROOT='' run_tool -f "$REC" -H --pid 901
	[ "$output" = "2  CLOSE_WAIT  5m0s  10.0.0.5:80  10.0.0.9:50001  4026531840  server  -  cgroup:$WORKER  901/nginx" ]
	TCPFLOW_CGROUP_ROOT='' run_tool -f "$REC" -j --pid 901
	[ "$(jq -c '[.cgroup_id, .cgroup, .unit]' <<<"$output")" = "[$WORKER,null,null]" ]
	TCPFLOW_CGROUP_ROOT='' run_tool -f "$REC" show 2
	[ "$(line 1)" = "conn 2 server 10.0.0.5:80 10.0.0.9:50001 CLOSE_WAIT 5m0s netns=4026531840 sk=2002 pid=901 comm=nginx cgroup=$WORKER" ]
}

@test "show: the summary line ends with the cgroup's path, or its id when not resolved" {
	run_tool -f "$REC" show 2
	[ "$(line 1)" = "conn 2 server 10.0.0.5:80 10.0.0.9:50001 CLOSE_WAIT 5m0s netns=4026531840 sk=2002 pid=901 comm=nginx cgroup=/system.slice/nginx.service/worker" ]
	run_tool -f "$REC" show 6
	[ "$(line 1)" = "conn 6 server 10.0.0.5:8080 10.0.0.9:50010 CLOSE_WAIT 6m40s netns=4026531840 sk=2006 pid=1200 comm=old cgroup=4242424242" ]
	run_tool -f "$REC" show 7
	[ "$(line 1)" = "conn 7 server 10.0.0.5:8081 10.0.0.9:50011 CLOSE_WAIT 1m30s netns=4026531840 sk=2007 pid=1300 comm=legacy" ]
}

@test "leaks: owners by unit, whatever their pids, a unit's sub-cgroups with it; by pid without a cgroup" {
	run_tool 3 -f "$REC" leaks
	expect_output "$(cat <<'END'
CLOSE_WAIT for 60s or more: 5 connections, 4 owners
Recorded owner     CLOSE_WAIT  Oldest  Local ports (server)
cgroup:4242424242           1  6m40s   8080
nginx.service               2  5m0s    80
session-3.scope             1  1m40s   -
1300/legacy                 1  1m30s   8081

ID  Since FIN  Local Address:Port  Peer Address:Port       Netns  Unit               Recorded owner
 6  6m40s      10.0.0.5:8080       10.0.0.9:50010     4026531840  cgroup:4242424242  1200/old
 2  5m0s       10.0.0.5:80         10.0.0.9:50001     4026531840  nginx.service      901/nginx
 3  3m20s      10.0.0.5:80         10.0.0.9:50002     4026531840  nginx.service      902/nginx
 5  1m40s      10.0.0.5:41000      10.0.0.8:443       4026531840  session-3.scope    1100/curl
 7  1m30s      10.0.0.5:8081       10.0.0.9:50011     4026531840  -                  1300/legacy

TIME_WAIT: none
END
)"
}

@test "leaks: two cgroups not resolved are two owners, each by its id" {
	TCPFLOW_CGROUP_ROOT='' run_tool 3 -f "$REC" -H leaks --port 80
	[ "$(sed -n 2,3p <<<"$output")" = "cgroup:$WORKER  1  5m0s   80
cgroup:$NGINX  1  3m20s  80" ]
}

@test "leaks -j: each close_wait_owner with the cgroup of its oldest connection" {
	run_tool 3 -f "$REC" -j leaks
	[ "$(jq -r 'select(.type == "close_wait_owner") | "\(.unit) \(.cgroup) \(.cgroup_id) \(.pid) \(.close_wait)"' <<<"$output")" = "null null 4242424242 1200 1
nginx.service /system.slice/nginx.service/worker $WORKER 901 2
session-3.scope /user.slice/user-1000.slice/session-3.scope $SESSION 1100 1
null null 0 1300 1" ]
	[ "$(jq -r 'select(.type == "close_wait") | "\(.id) \(.unit)"' <<<"$output")" = "6 null
2 nginx.service
3 nginx.service
5 session-3.scope
7 null" ]
}

@test "--cgroup: a path takes its cgroup and those below, a unit or cgroup:ID its cgroups; repeatable" {
	ids() { awk '{ printf "%s ", $1 }' <<<"$output"; }

	run_tool -f "$REC" -H --cgroup nginx.service
	[ "$(ids)" = "1 2 3 " ]
	run_tool -f "$REC" -H --cgroup /system.slice
	[ "$(ids)" = "1 2 3 4 " ]
	run_tool -f "$REC" -H --cgroup /system.slice/nginx.service/worker/
	[ "$(ids)" = "2 " ]
	run_tool -f "$REC" -H --cgroup /system
	[ -z "$output" ]
	run_tool -f "$REC" -H --cgroup /
	[ "$(ids)" = "1 2 3 4 5 8 " ]
	run_tool -f "$REC" -H --cgroup docker:0123456789ab --cgroup session-3.scope
	[ "$(ids)" = "4 5 " ]
	run_tool -f "$REC" -H --cgroup cgroup:4242424242
	[ "$(ids)" = "6 " ]
	run_tool -f "$REC" -H -s established --cgroup /kubepods.slice
	[ "$(ids)" = "8 " ]
	run_tool 3 -f "$REC" -H leaks --cgroup nginx.service
	[ "$(line 1)" = "CLOSE_WAIT for 60s or more: 2 connections, 1 owner" ]
	[ "$(line 2)" = "nginx.service  2  5m0s  80" ]
}

@test "--cgroup: bad usage" {
	run_tool 2 -f "$REC" --cgroup ''
	[ "$stderr" = "tcpflowctl: bad cgroup '': a path or a unit expected" ]
	run_tool 2 -f "$REC" --cgroup
	[ "$stderr" = "tcpflowctl: option '--cgroup' needs an argument (try -h)" ]
	run_tool 2 -f "$REC" show --cgroup nginx.service 1
	[ "$stderr" = "tcpflowctl: show: option '--cgroup' does not apply (try -h)" ]
	run_tool 2 -f "$REC" stats --cgroup nginx.service
	[ "$stderr" = "tcpflowctl: stats: option '--cgroup' does not apply (try -h)" ]
}

@test "metrics: CLOSE_WAIT by owner and the unit its cgroup names" {
	run_tool -f "$REC" metrics
	[ "$(grep '^tcpflow_close_wait_connections{' <<<"$output")" = 'tcpflow_close_wait_connections{comm="old",unit="cgroup:4242424242"} 1
tcpflow_close_wait_connections{comm="nginx",unit="nginx.service"} 2
tcpflow_close_wait_connections{comm="curl",unit="session-3.scope"} 1
tcpflow_close_wait_connections{comm="legacy",unit="-"} 1' ]
}
