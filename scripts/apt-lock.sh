#!/usr/bin/env bash
# Sourced by setup.sh: apt_get runs apt-get once the system's apt and dpkg locks are free.
# Another apt-get (unattended-upgrades, a second CI job) holding them makes apt-get fail at once
# with exit 100; instead this waits, saying so once, up to BPF_HARNESS_APT_LOCK_DEADLINE seconds
# (default 300), then exits 2 naming the process that holds the lock.

APT_LOCKS=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)

# "PID (comm) holds PATH" for the first held lock, nothing when all are free. apt takes POSIX
# (fcntl) locks, which /proc/locks lists by device and inode.
apt_lock_holder() {
	local path dev inode major minor pid
	for path in "${APT_LOCKS[@]}"; do
		[ -e "$path" ] || continue
		read -r dev inode < <(stat -c '%D %i' "$path") || continue
		printf -v major '%02x' $((16#$dev >> 8))
		printf -v minor '%02x' $((16#$dev & 255))
		pid=$(awk -v id="$major:$minor:$inode" '$2 == "POSIX" && $6 == id { print $5; exit }
			$2 == "->" && $3 == "POSIX" && $7 == id { print $6; exit }' /proc/locks)
		if [ -n "$pid" ]; then
			echo "$pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo '?')) holds $path"
			return 0
		fi
	done
}

apt_get() {
	local deadline_s=${BPF_HARNESS_APT_LOCK_DEADLINE:-300} started=$SECONDS holder said=0 rc
	if ! [[ $deadline_s =~ ^[0-9]+$ ]]; then
		echo "bpf-harness setup: BPF_HARNESS_APT_LOCK_DEADLINE=$deadline_s: give a whole number of seconds" >&2
		exit 2
	fi
	while :; do
		holder=$(apt_lock_holder)
		if [ -z "$holder" ]; then
			rc=0
			${sudo[@]+"${sudo[@]}"} apt-get -o DPkg::Lock::Timeout=10 "$@" || rc=$?
			# Lost the lock to another apt-get between the look and the run: wait again.
			[ "$rc" -ne 0 ] && holder=$(apt_lock_holder) && [ -n "$holder" ] || return "$rc"
		fi
		# SECONDS counts whole seconds: ">" makes the wait at least deadline_s long.
		if ((SECONDS - started > deadline_s)); then
			echo "bpf-harness setup: the apt lock is still held after ${deadline_s} s: $holder; let it finish (or stop it) and run again, or raise BPF_HARNESS_APT_LOCK_DEADLINE" >&2
			exit 2
		fi
		if ((!said)); then
			echo "bpf-harness setup: waiting up to ${deadline_s} s for the apt lock: $holder" >&2
			said=1
		fi
		sleep 1
	done
}
