#!/usr/bin/env bash
# Installs what the harness needs, idempotently and quietly when nothing is missing:
# Debian/Ubuntu packages (apt-get, with sudo when not root), npm packages, the TypeScript
# build, and the guest agent and BPF objects (bpf/Makefile). The default kernel is fetched
# and cached by the harness itself on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

# qemu-system-x86: the VM. busybox-static: the guest's userland. clang, libbpf-dev, libelf-dev,
# zlib1g-dev, libzstd-dev, gcc, make: the BPF objects and the static agent. Debian kernels are
# fetched with apt-get download and unpacked with dpkg-deb (always there with apt);
# debian-archive-keyring verifies them (Ubuntu hosts lack it by default). cpio: the tests
# check our initramfs writer against it.
# flex, bison, bc, libssl-dev: kernel builds from a tree (bpf-harness kernel build);
# debootstrap: its trixie build root when the host's pahole is too old for the tree.
# python3-requests, -argcomplete, -pkg-resources: virtme-ng (--backend vng) run from its Debian package;
# kmod: vng picks a Debian kernel's 9p modules for its initramfs with depmod and modprobe.
# ccache: kernel builds share objects through it (harness/kernel-build/ccache.ts).
# openssh-server, openssh-client: the sshd of the SSH target tests' guest and ssh-keygen; xz-utils:
# Debian kernels' modules (the guest's network driver) are xz-compressed.
PACKAGES=(qemu-system-x86 openssh-server openssh-client xz-utils busybox-static clang llvm libbpf-dev libelf-dev zlib1g-dev libzstd-dev gcc make debian-archive-keyring cpio flex bison bc libssl-dev debootstrap python3-requests python3-argcomplete python3-pkg-resources kmod ccache)
# BPF_HARNESS_SETUP_SELFTESTS=1 (npm run test:kernel): clang-19, llvm-19(-dev) and lld-19 for a 7.x tree's BPF
# selftests (the tree's LLVM minimum is 17.0.1; bookworm's default clang is 14), pkg-config and rsync for
# their Makefile. Not for everyone: several hundred MB (llvm-19-dev alone 350 MB).
if [ "${BPF_HARNESS_SETUP_SELFTESTS:-0}" = 1 ]; then
	PACKAGES+=(clang-19 llvm-19 llvm-19-dev lld-19 pkg-config rsync)
fi
# BPF_HARNESS_SETUP_ARM64=1 (npm test): aarch64 SSH targets. gcc-aarch64-linux-gnu and libc6-dev-arm64-cross
# cross-build the agent for them (harness/cross/; Debian's arm64 libraries come through the harness's own private
# apt, never the system's sources); qemu-system-arm boots the arm64 target guest of the tests.
if [ "${BPF_HARNESS_SETUP_ARM64:-0}" = 1 ]; then
	PACKAGES+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm)
fi
# BPF_HARNESS_SETUP_BROWSER=1 (npm test): a headless chromium opens the report and trend pages
# in test/report/browser.test.ts. Not for vm-test: the pages need no browser to be written.
if [ "${BPF_HARNESS_SETUP_BROWSER:-0}" = 1 ]; then
	PACKAGES+=(chromium)
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
else
	missing=("${PACKAGES[@]}")
fi

if ((${#missing[@]})); then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "bpf-harness setup: no apt-get on this host; install these packages (or their equivalents) by hand: ${missing[*]}" >&2
		exit 2
	fi
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || { echo "bpf-harness setup: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2; exit 2; }
		sudo=(sudo)
	fi
	echo "bpf-harness setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck source=apt-lock.sh
	. scripts/apt-lock.sh
	apt_get update -qq >/dev/null
	apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages: only when the lock changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "bpf-harness setup: installing npm packages"
	npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# TypeScript: incremental, a no-op when nothing changed.
npx tsc -p tsconfig.json
# The bin npx runs: npm marks it executable only when it first links the package, so a dist/
# rebuilt from scratch afterwards would leave `npx bpf-harness` with "Permission denied".
chmod +x dist/harness/cli.js

# Agent and BPF objects: make rebuilds only what changed.
make -s -C bpf
