#!/usr/bin/env bash
# The matrix nightly's build job (.github/workflows/nightly.yml):
#   scripts/nightly-build.sh TREE OUT
# brings TREE up to date (git pull --ff-only of the branch checked out, when it has a remote) and
# builds it once per flavor the test jobs use, each in its own O= directory so that both stay
# incremental from night to night (and share objects through ccache when it is installed):
#   debug  kernel build --tree TREE --debug --selftests   (the default build directory: the
#          selftests job's vm-test --kernel TREE --with-selftests finds it there)
#   plain  kernel build --tree TREE --out $BPF_HARNESS_CACHE/builds/nightly-plain
# and copies each bzImage with its .config to OUT/<flavor>/{bzImage,config} (what the test jobs
# download: vm-test --kernel OUT/<flavor>/bzImage finds the config beside it), the tree's commit
# to OUT/tree-commit.txt.
# Environment: NIGHTLY_BUILD_MIN (make's minutes, default 240), NIGHTLY_FLAVORS (default "debug plain").
# Exit 0 built, 2 it could not (bad tree, failed pull or build).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLI=(node "$ROOT/dist/harness/cli.js")
say() { echo "nightly-build: $*"; }
if (($# != 2)); then
	echo "usage: scripts/nightly-build.sh TREE OUT   (TREE: a kernel source tree; OUT: where the kernels go)" >&2
	exit 2
fi
TREE="$(cd "$1" 2>/dev/null && pwd)" || { echo "nightly-build: $1 is not a directory: give a kernel source tree" >&2; exit 2; }
OUT="$2"
CACHE="${BPF_HARNESS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bpf-storage-harness}"
mkdir -p "$OUT" || exit 2

bash "$ROOT/scripts/setup.sh" || { say "setup failed"; exit 2; }

if git -C "$TREE" rev-parse --git-dir >/dev/null 2>&1; then
	remote="$(git -C "$TREE" remote | head -n1)"
	if [[ -n "$remote" ]]; then
		cur="$(git -C "$TREE" symbolic-ref --quiet --short HEAD)" || { say "$TREE has a detached HEAD: check out the branch to follow"; exit 2; }
		say "updating $TREE: git pull --ff-only $remote $cur"
		timeout 1800 git -C "$TREE" pull -q --ff-only "$remote" "$cur" || { say "git pull of $cur from $remote failed: fix the checkout (it must fast-forward)"; exit 2; }
	fi
	git -C "$TREE" log -1 --format='%H %s' >"$OUT/tree-commit.txt"
	say "tree at $(cat "$OUT/tree-commit.txt")"
fi

for flavor in ${NIGHTLY_FLAVORS:-debug plain}; do
	case $flavor in
	debug) flags=(--debug --selftests) ;;
	plain) flags=(--out "$CACHE/builds/nightly-plain") ;;
	*) say "NIGHTLY_FLAVORS: unknown flavor $flavor: give debug and/or plain"; exit 2 ;;
	esac
	say "kernel build --tree $TREE ${flags[*]}"
	# The last line kernel build prints is the bzImage; its O= directory holds the .config.
	bz="$("${CLI[@]}" kernel build --tree "$TREE" "${flags[@]}" --deadline "${NIGHTLY_BUILD_MIN:-240}" | tee /dev/stderr | tail -n1)"
	[[ -f "$bz" ]] || { say "kernel build ($flavor) failed (see above)"; exit 2; }
	mkdir -p "$OUT/$flavor"
	cp "$bz" "$OUT/$flavor/bzImage" && cp "$(dirname "$bz")/../../../.config" "$OUT/$flavor/config" || { say "could not copy the $flavor kernel"; exit 2; }
	say "$flavor: $bz"
done
exit 0
