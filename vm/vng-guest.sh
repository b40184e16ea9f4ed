#!/bin/sh
# The vng backend's guest command (vng --exec): virtme-ng booted the kernel with the host's
# filesystem as root; this sets up what vm/init.sh sets up for the QEMU backend and runs the
# agent from the project directory on the virtio-serial port named bpfh.agent. $1 is the
# project's bpf/build directory; each further HOST:GUEST argument is a host directory the
# guest gets at GUEST, writable through a tmpfs overlay (harness/vm/qemu.ts, GuestShare).
# `--sshd DIR` first (harness/vm/ssh-guest.ts, the shell's guest): load the modules DIR/modules
# lists (virtio_net of a Debian kernel, dependencies first), bring up QEMU's restricted user
# network and start the host's sshd with DIR/sshd_config (this boot's keys, root by key only),
# with DIR/bin on PATH; the agent runs as without it (vm-test's guest for a shell after a scenario).
sshd_dir=
if [ "$1" = --sshd ]; then
	sshd_dir="$2"
	shift 2
fi
bpfdir="$1"
shift
ip link set lo up 2>/dev/null
if [ -n "$sshd_dir" ]; then
	if [ -f "$sshd_dir/modules" ]; then
		while read -r ko; do
			insmod "$ko" || echo "bpfh: cannot load $ko"
		done < "$sshd_dir/modules"
	fi
	ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || echo "bpfh: no network device"
	grep -q " /dev/pts devpts " /proc/mounts || { mkdir -p /dev/pts && mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts; }
	mkdir -p /run/sshd && chmod 755 /run/sshd
	# virtme-init binds a shadow file of locked accounts ('!') over /etc/shadow, and sshd without
	# PAM refuses a locked account even by key: root gets '*' (no password, not locked). Only
	# that bound copy is written: /etc/shadow without a mount of its own is the host's file.
	if grep -q ' /etc/shadow ' /proc/mounts; then
		shadow=$(sed 's/^root:![^:]*:/root:*:/' /etc/shadow) && printf '%s\n' "$shadow" > /etc/shadow ||
			echo "bpfh: cannot unlock root in /etc/shadow"
	else
		echo "bpfh: /etc/shadow is not virtme-init's copy: root left as it is"
	fi
	/usr/sbin/sshd -D -e -f "$sshd_dir/sshd_config" &
	echo "bpfh: sshd started"
	# DIR/bin (the harness's bpftool: the host may have none) goes over /usr/local/sbin, on
	# root's PATH in every login; a mount of the guest's own, nothing is written on the host.
	if [ -d "$sshd_dir/bin" ]; then
		mount -t overlay overlay -o "lowerdir=$sshd_dir/bin:/usr/local/sbin" /usr/local/sbin ||
			echo "bpfh: cannot lay $sshd_dir/bin over /usr/local/sbin"
	fi
fi
grep -q ' /sys/kernel/tracing tracefs ' /proc/mounts || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
n=0
for share in "$@"; do
	n=$((n + 1))
	rw="/tmp/bpfh-share$n"
	mkdir -p "$rw" "${share#*:}" && mount -t tmpfs tmpfs "$rw" && mkdir -p "$rw/upper" "$rw/work" &&
		mount -t overlay overlay -o "lowerdir=${share%%:*},upperdir=$rw/upper,workdir=$rw/work" "${share#*:}" ||
		echo "bpfh: cannot lay an overlay over ${share%%:*}"
done
grep -q ' /sys/fs/cgroup cgroup2 ' /proc/mounts || mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf 2>/dev/null
grep -q ' /sys/kernel/debug debugfs ' /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
chan=
for port in /sys/class/virtio-ports/*; do
	[ "$(cat "$port/name" 2>/dev/null)" = bpfh.agent ] && chan="/dev/${port##*/}"
done
echo "bpfh: vng guest ready, channel ${chan:-none}, kernel $(uname -r)"
[ -n "$chan" ] || exit 1
"$bpfdir/bpf-agent" --channel "$chan" --bpf-dir "$bpfdir"
echo "bpfh: agent exited with status $?"
