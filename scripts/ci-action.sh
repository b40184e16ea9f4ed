#!/usr/bin/env bash
# The reusable GitHub action (action.yml) as a script: its steps call this with the action's
# inputs in the environment, as a workflow passes them (GitHub's INPUT_* convention, hyphens as
# underscores), and GitHub's own GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE.
#
#   INPUT_KERNEL            a kernel spec (debian:7.3, a bzImage, a build tree); or
#   INPUT_TREE              a kernel source tree in the workspace: built first (kernel build)
#   INPUT_SCENARIOS         scenario names, space or comma separated (default: all)
#   INPUT_SIZES             small, default or stress (default: default)
#   INPUT_SELFTESTS         true: the tree's BPF selftests after the scenarios (needs INPUT_TREE)
#   INPUT_DEBUG             true: build the tree with the debug fragment (needs INPUT_TREE)
#   INPUT_PREVIOUS_SUMMARY  a summary.json or results directory to compare with (bpf-harness compare)
#   INPUT_VM_TEST_ARGS      more vm-test options, e.g. "--cpus 1 --accel tcg --seed 1"
#   INPUT_RESULTS           where the run's results directory goes (default: bpf-harness-results
#                           under GITHUB_WORKSPACE, else under the current directory)
#
# Outputs (GITHUB_OUTPUT): results-dir, summary, verdict (pass, fail, regression, error),
# exit-code. The job summary (GITHUB_STEP_SUMMARY) gets the verdict, the table and the
# comparison. Exit: with a previous summary, compare's (1 on a regression); without, vm-test's
# (1 when anything failed); 2 when it could not run (bad input: one line naming the fix).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CLI=(node "$ROOT/dist/harness/cli.js")
say() { echo "bpf-harness action: $*"; }
output() { [[ -n "${GITHUB_OUTPUT:-}" ]] && echo "$1=$2" >>"$GITHUB_OUTPUT"; return 0; }
summary() { [[ -n "${GITHUB_STEP_SUMMARY:-}" ]] && cat >>"$GITHUB_STEP_SUMMARY"; return 0; }
finish() { # verdict exit-code
	output verdict "$1"
	output exit-code "$2"
	say "verdict $1, exit $2"
	exit "$2"
}
bad_input() {
	echo "bpf-harness action: $*" >&2
	printf '## bpf-harness: could not run\n\n%s\n' "$*" | summary
	finish error 2
}
is_bool() { [[ "$1" == true || "$1" == false ]]; }

KERNEL="${INPUT_KERNEL:-}"
TREE="${INPUT_TREE:-}"
SIZES="${INPUT_SIZES:-default}"
SELFTESTS="${INPUT_SELFTESTS:-false}"
DEBUG="${INPUT_DEBUG:-false}"
PREVIOUS="${INPUT_PREVIOUS_SUMMARY:-}"
RESULTS="${INPUT_RESULTS:-${GITHUB_WORKSPACE:-$PWD}/bpf-harness-results}"

# Bad input: one line naming the fix, before anything is installed, built or booted.
[[ -n "$KERNEL" && -n "$TREE" ]] && bad_input "give either kernel (a spec or bzImage) or tree (a source tree to build), not both"
[[ "$SIZES" =~ ^(small|default|stress)$ ]] || bad_input "sizes: '$SIZES': give small, default or stress"
is_bool "$SELFTESTS" || bad_input "selftests: '$SELFTESTS': give true or false"
is_bool "$DEBUG" || bad_input "debug: '$DEBUG': give true or false"
if [[ -z "$TREE" ]]; then
	[[ "$SELFTESTS" == true ]] && bad_input "selftests: true needs tree (the BPF selftests are built from a kernel source tree)"
	[[ "$DEBUG" == true ]] && bad_input "debug: true needs tree (it is how the tree is built; a given kernel is tested as it is)"
	KERNEL="${KERNEL:-debian:7.3}"
else
	TREE="$(cd "$TREE" 2>/dev/null && pwd)" || bad_input "tree: ${INPUT_TREE} is not a directory: give the path of a kernel source tree in the workspace (actions/checkout it first)"
fi
if [[ -n "$PREVIOUS" && ! -e "$PREVIOUS" ]]; then
	bad_input "previous-summary: $PREVIOUS does not exist: give a summary.json or results directory of an earlier run (e.g. downloaded with actions/download-artifact), or leave it empty"
fi
scen=()
for s in ${INPUT_SCENARIOS//,/ }; do scen+=(--scenario "$s"); done
# shellcheck disable=SC2206 # word splitting of the extra options is the point
extra=(${INPUT_VM_TEST_ARGS:-})

bash "$ROOT/scripts/setup.sh" || bad_input "setup failed (see above)"

if [[ -n "$TREE" ]]; then
	build_flags=()
	[[ "$DEBUG" == true ]] && build_flags+=(--debug)
	[[ "$SELFTESTS" == true ]] && build_flags+=(--selftests)
	say "kernel build --tree $TREE ${build_flags[*]}"
	"${CLI[@]}" kernel build --tree "$TREE" "${build_flags[@]}" || { printf '## bpf-harness: the kernel build failed\n\nSee the job log.\n' | summary; finish error 2; }
	KERNEL="$TREE"
fi
with_selftests=()
[[ "$SELFTESTS" == true ]] && with_selftests=(--with-selftests)

mkdir -p "$RESULTS" || bad_input "results: cannot create $RESULTS"
say "vm-test --kernel $KERNEL --sizes $SIZES ${with_selftests[*]} ${scen[*]} ${extra[*]}"
# --json: the summary on stdout (progress on stderr), the run's directory inside RESULTS.
BPF_HARNESS_RESULTS="$RESULTS" "${CLI[@]}" vm-test --kernel "$KERNEL" --sizes "$SIZES" "${with_selftests[@]}" "${scen[@]}" "${extra[@]}" --json >"$RESULTS/vm-test.json"
vmrc=$?
run_dir="$(node -e 'try { const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(s.resultsDir || ""); } catch {}' "$RESULTS/vm-test.json")"
rm -f "$RESULTS/vm-test.json"
if [[ -z "$run_dir" || ! -f "$run_dir/summary.json" ]]; then
	printf '## bpf-harness: no result\n\nvm-test exited %s before it wrote a summary: see the job log.\n' "$vmrc" | summary
	finish error 2
fi
output results-dir "$run_dir"
output summary "$run_dir/summary.json"
table="$(node "$ROOT/dist/scripts/ci-report.js" table "$run_dir/summary.json")"
echo "$table"

rc=$vmrc
verdict=pass
((vmrc == 0)) || verdict=fail
((vmrc == 2)) && verdict=error
comparison=""
if [[ -n "$PREVIOUS" ]]; then
	say "compare $PREVIOUS $run_dir/summary.json"
	comparison="$("${CLI[@]}" compare "$PREVIOUS" "$run_dir/summary.json" 2>&1)"
	crc=$?
	echo "$comparison" >"$run_dir/comparison.txt"
	echo "$comparison"
	case $crc in
	0) ((vmrc == 2)) || rc=0 ;; # what failed before too is in the table, not a regression
	1) rc=1; verdict=regression ;;
	*) rc=2; verdict=error ;;
	esac
fi
{
	echo "## bpf-harness: ${verdict^^} ($KERNEL, sizes $SIZES)"
	echo
	echo '```text'
	echo "$table"
	echo '```'
	if [[ -n "$comparison" ]]; then
		echo
		echo "### compared with $PREVIOUS"
		echo
		echo '```text'
		echo "$comparison"
		echo '```'
	fi
} | summary
finish "$verdict" "$rc"
