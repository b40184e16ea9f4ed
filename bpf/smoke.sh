#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Developer smoke run of the agent on the machine it is built on (as root):
#   make -C bpf && sudo bpf/smoke.sh
# It drives `bpf-agent --channel -` through the sk verbs, user space and
# cgroup program, and a short race. Exits non-zero when a reply is ok:false,
# a count is off, or optmem / the map does not go away within 5 s.
# AGENT=... and BPF_DIR=... override the built agent and objects.
set -u

here=$(cd "$(dirname "$0")" && pwd)
agent=${AGENT:-$here/build/bpf-agent}
bpf_dir=${BPF_DIR:-$here/build}
nsock=${SOCKETS:-1000}

cgroot=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
cg=
id=0
reply=

die() {
	echo "smoke: FAIL: $*" >&2
	exit 1
}

cleanup() {
	if [ -n "${AGENT_PID:-}" ]; then
		exec {AGENT[1]}>&- 2>/dev/null
		kill "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
	fi
	[ -n "$cg" ] && [ -d "$cg" ] && rmdir "$cg"
}
trap cleanup EXIT

# call VERB ARGS...: one command, the reply in $reply; dies on ok:false
call() {
	id=$((id + 1))
	echo "$id $*" >&"${AGENT[1]}" || die "agent gone"
	IFS= read -r -t 120 reply <&"${AGENT[0]}" || die "no reply to: $*"
	case "$reply" in
	"{\"id\":$id,\"ok\":true,"*) ;;
	*) die "$* -> $reply" ;;
	esac
}

# field NAME: a number (or true/false) field of $reply
field() {
	sed -n "s/.*\"$1\":\([0-9a-z]*\).*/\1/p" <<<"$reply"
}

# optmem: the optmem array of a sock-meminfo reply, comma separated
optmem() {
	call sock-meminfo
	sed -n 's/.*"optmem":\[\([0-9,]*\)\].*/\1/p' <<<"$reply"
}

optmem_sum() {
	tr , '\n' <<<"$1" | awk '{ s += $1 } END { print s + 0 }'
}

all_zero() {
	[ -z "$1" ] || grep -Eq '^0(,0)*$' <<<"$1"
}

# wait_zero WHAT: optmem of every held socket back to 0 within 5 s
wait_zero() {
	local t0=$(date +%s%N) m
	while :; do
		m=$(optmem)
		all_zero "$m" && break
		[ $(($(date +%s%N) - t0)) -gt 5000000000 ] &&
			die "$1: optmem not back to 0 after 5 s (sum $(optmem_sum "$m"))"
		sleep 0.05
	done
	echo "smoke: $1: optmem back to 0 after $((($(date +%s%N) - t0) / 1000000)) ms"
}

# wait_freed ID...: every map id gone within 5 s
wait_freed() {
	local t0=$(date +%s%N) mid
	for mid in "$@"; do
		while :; do
			call map-alive id="$mid"
			[ "$(field alive)" = false ] && break
			[ $(($(date +%s%N) - t0)) -gt 5000000000 ] &&
				die "map $mid still alive after 5 s"
			sleep 0.05
		done
	done
}

# check_elems WHAT: $nsock held sockets, each charged the same optmem
check_elems() {
	local m sum
	m=$(optmem)
	grep -q '^0\|,0,\|,0$' <<<"$m" && die "$1: a socket has no optmem"
	sum=$(optmem_sum "$m")
	echo "smoke: $1: $nsock elements, $sum B optmem, $((sum / nsock)) B each"
}

[ "$(id -u)" = 0 ] || die "run as root"
[ -x "$agent" ] || die "no agent at $agent (make -C bpf)"
[ -n "$cgroot" ] || die "no cgroup2 mount"

coproc AGENT { exec "$agent" --channel - --bpf-dir "$bpf_dir"; }
IFS= read -r -t 10 reply <&"${AGENT[0]}" || die "no ready line"
case "$reply" in
'{"id":0,"ok":true,"verb":"ready",'*) echo "smoke: $reply" ;;
*) die "bad ready line: $reply" ;;
esac

call read path=/proc/version
call kmsg
call rlimit-nofile n=$((nsock * 2 + 1024))

# elements from user space
call sockets-open count="$nsock"
all_zero "$(optmem)" || die "fresh sockets have optmem"
call map-open kind=sk via=user
mid=$(field mapId)
call elems-create
[ "$(field created)" = "$nsock" ] || die "elems-create: $reply"
check_elems "user"
call elems-count
[ "$(field present)" = "$nsock" ] || die "elems-count: $reply"
call map-close
wait_zero "user"
wait_freed "$mid"
call sockets-close

# elements from the cgroup/sock_create program
cg=$cgroot/bpf-agent-smoke.$$
orig=$cgroot$(sed -n 's/^0:://p' /proc/$AGENT_PID/cgroup)
call mkdir path="$cg"
call cgroup-enter path="$cg"
call map-open kind=sk via=prog cgroup="$cg"
mid=$(field mapId)
call sockets-open count="$nsock"
call elems-count
[ "$(field present)" = "$nsock" ] || die "elems-count (prog): $reply"
check_elems "prog"
call map-close
wait_zero "prog"
wait_freed "$mid"
call sockets-close

# races
for via in user prog; do
	extra=
	[ $via = prog ] && extra="cgroup=$cg"
	call race rounds=5 sockets=200 threads=2 seed=1 via=$via $extra
	[ "$(field created)" = 1000 ] || die "race $via: $reply"
	us=$(field elapsedUs)
	echo "smoke: race via=$via: 5 rounds in $us us ($((us / 5)) us a round)," \
		"dropAfter $(sed -n 's/.*"dropAfter":\(\[[0-9,]*\]\).*/\1/p' <<<"$reply")"
	wait_freed $(sed -n 's/.*"mapIds":\[\([0-9,]*\)\].*/\1/p' <<<"$reply" | tr , ' ')
done

call cgroup-enter path="$orig"
call rmdir path="$cg"
cg=
call kmsg
echo "smoke: ok"
