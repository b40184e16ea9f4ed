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

chan_kind=virtio
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	bpfh.chan=*) chan_kind="${arg#bpfh.chan=}" ;;
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
