#!/usr/bin/env bash
# The nightly job: scripts/nightly.sh TREE [BRANCH]
#
#  1. update TREE: when it is a git checkout with a remote, check out BRANCH (default: the
#     branch checked out) and pull it fast-forward; a tree without a remote is used as it is
#  2. build it with the debug fragment and the BPF selftests' config
#     (bpf-harness kernel build --tree TREE --debug --selftests)
#  3. vm-test --kernel TREE --sizes stress --with-selftests (the scenarios, then the tree's local
#     storage selftests in the same boot), its results directory inside results/nightly-<time>/
#  4. compare with the previous night's summary; exit 1 on a regression, the table in the log
#  5. trend.html in the night's directory (bpf-harness trend): the nights under the results
#     directory and those kept beside the state file (nightly-state/history/), the newest
#     NIGHTLY_TREND_NIGHTS (default 60)
#
# Exit: 0 nothing regressed (or the first night passed), 1 a regression (or the first night
# failed), 2 the job could not run (bad tree, build failure, setup).
#
# Environment (all optional, all documented in the README):
#   NIGHTLY_KERNEL=SPEC     test this kernel instead of building TREE (debian:7.3, a bzImage):
#                           steps 2-3 use a fixed kernel, so a dry run of the job takes a minute
#   NIGHTLY_SIZES=LEVEL     default stress
#   NIGHTLY_SCENARIOS="A B" only these scenarios (default: all)
#   NIGHTLY_SELFTESTS=0     no BPF selftests (they need TREE built; NIGHTLY_KERNEL runs none)
#   NIGHTLY_DEBUG=0         build without the debug fragment (faster; no KASAN, kmemleak, allocinfo)
#   NIGHTLY_VMTEST_ARGS="." more vm-test options, e.g. "--accel tcg --seed 1"
#   NIGHTLY_REQUIRE_RACE=0  a race scenario that never reached the contended unlink path passes
#                           (default: vm-test --require-race fails it)
#   NIGHTLY_RESULTS=DIR     where nightly-<time>/ directories go (default: results/ of the project)
#   NIGHTLY_STATE=FILE      last night's summary.json (default: $NIGHTLY_RESULTS/nightly-state/last-summary.json);
#                           when it is missing, the newest $NIGHTLY_RESULTS/nightly-*/summary.json
#   NIGHTLY_TIMEOUT=S       seconds vm-test may run (default 21600); NIGHTLY_BUILD_MIN: make's minutes (default 240)
#   NIGHTLY_TREND_NIGHTS=N  nights trend.html shows (default 60)
#   NIGHTLY_BOOT_DEADLINE=S, NIGHTLY_SETTLE_DEADLINE=S   vm-test's (default 900 and 120: a KASAN kernel under TCG is slow)
set -uo pipefail

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
	sed -n '2,/^set -uo pipefail/{/^set /d;s/^# \{0,1\}//;p}' "$0"
	exit 0
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if (($# < 1 || $# > 2)); then
	echo "usage: scripts/nightly.sh TREE [BRANCH]   (TREE: a kernel source tree, e.g. a bpf-next checkout)" >&2
	exit 2
fi
TREE="$(cd "$1" 2>/dev/null && pwd)" || { echo "nightly: $1 is not a directory: give a kernel source tree" >&2; exit 2; }
BRANCH="${2:-}"
SIZES="${NIGHTLY_SIZES:-stress}"
RESULTS="${NIGHTLY_RESULTS:-$ROOT/results}"
STATE="${NIGHTLY_STATE:-$RESULTS/nightly-state/last-summary.json}"
STAMP="$(date -u +%Y%m%d-%H%M%S)"
NIGHT="$RESULTS/nightly-$STAMP"
CLI=(node "$ROOT/dist/harness/cli.js")

mkdir -p "$NIGHT" || exit 2
LOG="$NIGHT/nightly.log"
exec > >(tee -a "$LOG") 2>&1
say() { echo "nightly: $*"; }
say "$(date -u +%FT%TZ) tree $TREE${BRANCH:+ branch $BRANCH}, sizes $SIZES, results $NIGHT"

# Setup is quiet when nothing is missing.
bash "$ROOT/scripts/setup.sh" || { say "setup failed"; exit 2; }

# 1. Update the tree.
if git -C "$TREE" rev-parse --git-dir >/dev/null 2>&1; then
	remote="$(git -C "$TREE" remote | head -n1)"
	if [[ -n "$remote" ]]; then
		if [[ -n "$BRANCH" ]]; then
			timeout 600 git -C "$TREE" checkout -q "$BRANCH" || { say "git checkout $BRANCH failed in $TREE: commit or stash local changes there"; exit 2; }
		fi
		cur="$(git -C "$TREE" symbolic-ref --quiet --short HEAD)" || { say "$TREE has a detached HEAD: give the BRANCH to follow"; exit 2; }
		say "updating $TREE: git pull --ff-only $remote $cur"
		timeout 1800 git -C "$TREE" pull -q --ff-only "$remote" "$cur" || { say "git pull of $cur from $remote failed (see above): fix the checkout (it must fast-forward)"; exit 2; }
	else
		[[ -n "$BRANCH" ]] && { timeout 600 git -C "$TREE" checkout -q "$BRANCH" || { say "git checkout $BRANCH failed in $TREE"; exit 2; }; }
		say "$TREE has no remote: used as it is"
	fi
	head="$(git -C "$TREE" log -1 --format='%H %s' 2>/dev/null)" || head="(no commits)"
	say "tree at $head"
	echo "$head" >"$NIGHT/tree-commit.txt"
else
	say "$TREE is not a git checkout: used as it is"
fi

# 2 + 3. Build (debug) and test.
if [[ -n "${NIGHTLY_KERNEL:-}" ]]; then
	KERNEL="$NIGHTLY_KERNEL"
	say "NIGHTLY_KERNEL=$KERNEL: testing it instead of building $TREE"
else
	build_flags=()
	[[ "${NIGHTLY_DEBUG:-1}" != 0 ]] && build_flags+=(--debug)
	[[ "${NIGHTLY_SELFTESTS:-1}" != 0 ]] && build_flags+=(--selftests)
	say "building $TREE ${build_flags[*]}"
	"${CLI[@]}" kernel build --tree "$TREE" "${build_flags[@]}" --deadline "${NIGHTLY_BUILD_MIN:-240}" || { say "kernel build failed (see above)"; exit 2; }
	KERNEL="$TREE"
fi
with_selftests=()
[[ -z "${NIGHTLY_KERNEL:-}" && "${NIGHTLY_SELFTESTS:-1}" != 0 ]] && with_selftests=(--with-selftests)
scen=()
for s in ${NIGHTLY_SCENARIOS:-}; do scen+=(--scenario "$s"); done
# shellcheck disable=SC2206 # word splitting of the extra options is the point
extra=(${NIGHTLY_VMTEST_ARGS:-})
[[ "${NIGHTLY_REQUIRE_RACE:-1}" != 0 ]] && extra=(--require-race "${extra[@]}")
say "vm-test --kernel $KERNEL --sizes $SIZES ${with_selftests[*]} ${scen[*]} ${extra[*]}"
# --json: the summary on stdout (progress on stderr); SIGINT at the deadline lets vm-test write its results.
BPF_HARNESS_RESULTS="$NIGHT" timeout -s INT -k 120 "${NIGHTLY_TIMEOUT:-21600}" "${CLI[@]}" vm-test --kernel "$KERNEL" --sizes "$SIZES" --boot-deadline "${NIGHTLY_BOOT_DEADLINE:-900}" --settle-deadline "${NIGHTLY_SETTLE_DEADLINE:-120}" "${with_selftests[@]}" "${scen[@]}" "${extra[@]}" --json >"$NIGHT/vm-test.json"
vmrc=$?
say "vm-test exit $vmrc"
run_dir="$(node -e 'try { const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(s.resultsDir || ""); } catch {}' "$NIGHT/vm-test.json")"
if [[ -z "$run_dir" || ! -f "$run_dir/summary.json" ]]; then
	say "vm-test left no summary (exit $vmrc): see the log above"
	exit 2
fi
# The run's directory is inside the night's (BPF_HARNESS_RESULTS); its summary beside it.
cp "$run_dir/summary.json" "$NIGHT/summary.json"
rm -f "$NIGHT/vm-test.json"
say "results in $NIGHT"

# 4. Compare with the previous night.
prev=""
if [[ -f "$STATE" ]]; then
	prev="$STATE"
else
	for d in $(ls -1d "$RESULTS"/nightly-2*/ 2>/dev/null | sort -r); do
		d="${d%/}"
		[[ "$d" != "$NIGHT" && -f "$d/summary.json" ]] && { prev="$d/summary.json"; break; }
	done
fi
rc=0
if [[ -n "$prev" ]]; then
	say "comparing with the previous night ($prev)"
	"${CLI[@]}" compare "$prev" "$NIGHT/summary.json" >"$NIGHT/comparison.txt"
	crc=$?
	cat "$NIGHT/comparison.txt"
	case $crc in
	0) say "no regression since the previous night" ;;
	1) say "REGRESSION since the previous night (table above)"; rc=1 ;;
	*) say "compare could not run (exit $crc)"; rc=2 ;;
	esac
else
	say "no previous night to compare with: this night is the baseline"
	echo "no previous night: this run is the baseline (vm-test exit $vmrc)" >"$NIGHT/comparison.txt"
	((vmrc == 0)) || rc=1
fi
# 5. The trend across nights (a page; it never changes the exit status). Each night's summary
# and commit are also kept beside the state file, the newest NIGHTLY_TREND_NIGHTS of them: a job
# that keeps only the state directory between nights (a CI cache) still has them.
keep="${NIGHTLY_TREND_NIGHTS:-60}"
hist="$(dirname "$STATE")/history"
mkdir -p "$hist/nightly-$STAMP" && cp "$NIGHT/summary.json" "$hist/nightly-$STAMP/" && { [[ ! -f "$NIGHT/tree-commit.txt" ]] || cp "$NIGHT/tree-commit.txt" "$hist/nightly-$STAMP/"; }
ls -1d "$hist"/nightly-2* 2>/dev/null | sort | head -n "-$keep" | xargs -r rm -rf
"${CLI[@]}" trend "$RESULTS" "$hist" --out "$NIGHT/trend.html" --last "$keep" || say "trend.html could not be written (see above)"
# The next night compares with this one.
mkdir -p "$(dirname "$STATE")" && cp "$NIGHT/summary.json" "$STATE.tmp" && mv "$STATE.tmp" "$STATE"
say "exit $rc"
exit $rc
