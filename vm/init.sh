#!/bin/busybox sh
# PID 1 of the test guest. It sets up the minimum the agent needs, runs the agent on its own
# channel and powers the machine off when the agent ends, whatever happened: the host judges
# by what the agent said, never by the guest staying up.
/bin/busybox --install -s /bin
export PATH=/bin

mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# cgroup v2 only: the elements are charged to the memcg of the map's creator, and the
# scenarios read memory.current / memory.stat of their own child cgroups.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
# Debug kernels: kmemleak's report and scan trigger live in debugfs.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
# Loopback: the BPF selftests connect sockets to 127.0.0.1 and ::1.
ip link set lo up 2>/dev/null

# bpfh.share=TAG:PATH: a read-only 9p export of the host mounted at PATH, under an overlay
# with a tmpfs upper layer, so programs may write beside their files and the host's stay as
# they are (harness/vm/qemu.ts, GuestShare).
mount_share() {
	tag="${1%%:*}"
	at="${1#*:}"
	mkdir -p "/bpfh/9p/$tag" "/bpfh/rw/$tag" "$at" || return 1
	mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 "$tag" "/bpfh/9p/$tag" || return 1
	mount -t tmpfs tmpfs "/bpfh/rw/$tag" && mkdir -p "/bpfh/rw/$tag/upper" "/bpfh/rw/$tag/work" &&
		mount -t overlay overlay -o "lowerdir=/bpfh/9p/$tag,upperdir=/bpfh/rw/$tag/upper,workdir=/bpfh/rw/$tag/work" "$at" && return 0
	echo "bpfh: no overlay for $tag, mounting it read-only"
	mount --bind "/bpfh/9p/$tag" "$at"
}

# Modules of a Debian kernel that the guest needs (virtio_net for the network), dependencies
# first, uncompressed (harness/kernel/modules.ts); none in the default image.
if [ -f /lib/modules/bpfh/order ]; then
	for ko in $(cat /lib/modules/bpfh/order); do
		insmod "/lib/modules/bpfh/$ko" || echo "bpfh: cannot load $ko"
	done
fi

# bpfh.net=1: QEMU's restricted user network (harness/vm/network.ts), and an sshd when the
# image has one (harness/vm/ssh-guest.ts); bpfh.sshd=nobpf starts it without CAP_BPF,
# CAP_SYS_ADMIN and CAP_PERFMON in its bounding set, so that its root logins cannot use bpf().
start_sshd() {
	[ -x /usr/sbin/sshd ] && [ -f /etc/ssh/sshd_config ] || return 0
	mkdir -p /dev/pts /run/sshd && mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
	chmod 755 /run/sshd
	if [ "$1" = nobpf ]; then
		/usr/bin/setpriv --bounding-set -bpf,-sys_admin,-perfmon --inh-caps -bpf,-sys_admin,-perfmon /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config &
	else
		/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config &
	fi
	echo "bpfh: sshd started ($1)"
}

chan_kind=virtio
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	bpfh.chan=*) chan_kind="${arg#bpfh.chan=}" ;;
	bpfh.net=1)
		ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 || echo "bpfh: no network device"
		;;
	bpfh.sshd=*) start_sshd "${arg#bpfh.sshd=}" ;;
	bpfh.share=*)
		if mount_share "${arg#bpfh.share=}"; then
			echo "bpfh: shared ${arg#bpfh.share=}"
		else
			echo "bpfh: cannot mount share ${arg#bpfh.share=}"
		fi
		;;
	esac
done

chan=
if [ "$chan_kind" = ttyS1 ]; then
	chan=/dev/ttyS1
	stty -F "$chan" raw -echo 2>/dev/null
else
	# The host names the port; the guest numbering (vport0p1, vport1p1, ...) is not stable.
	for port in /sys/class/virtio-ports/*; do
		[ "$(cat "$port/name" 2>/dev/null)" = bpfh.agent ] && chan="/dev/${port##*/}"
	done
fi

echo "bpfh: init ready, channel ${chan:-none} ($chan_kind), kernel $(uname -r)"
if [ -n "$chan" ]; then
	/bin/bpf-agent --channel "$chan" --bpf-dir /bpf
	echo "bpfh: agent exited with status $?"
else
	echo "bpfh: no agent channel found"
fi
sync
poweroff -f
