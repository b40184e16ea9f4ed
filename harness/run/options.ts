/** What a vm-test run is asked to do: the options of every stage (vm-test.ts). */
import type { BackendRequest } from '../backend/registry.js';
import type { BuildHostChoice } from '../build-host/build-host.js';
import type { BuiltKernel } from '../kernel-build/kernel-build.js';
import type { Summary } from '../results/summary.js';
import type { FaultRequest } from '../scenarios/faults.js';
import type { SizeLevel } from '../scenarios/types.js';
import type { Selection } from '../selftests/selection.js';
import type { AccelRequest } from '../vm/accel.js';
import type { ChannelKind } from '../vm/channel.js';
import type { RunFault } from './guest-restart.js';
import type { ShellStop } from './shell-stop.js';

export interface VmTestOptions {
  kernel: string;
  mirror?: string;
  scenarios?: string[];
  sizes: SizeLevel;
  seed: number;
  accel: AccelRequest;
  channel?: ChannelKind;
  cpus: number;
  memoryMiB: number;
  bootDeadlineS: number;
  settleDeadlineS: number;
  /** Harness self-test only: the kernel-log faults of after-run.ts and guest-restart.ts's stray int3, for the whole run. */
  fault?: RunFault;
  /** Harness self-test only: the scenarios' faults (ScenarioContext.fault, scenarios/faults.ts). */
  faults?: FaultRequest[];
  /** A race scenario whose rounds never reached the contended unlink path fails. */
  requireRace?: boolean;
  /** qemu (default), vng, or auto (vng for a tree when present). */
  backend?: BackendRequest;
  /** Scenario parameters set on the command line (--set name=value). */
  overrides?: Record<string, number>;
  json: boolean;
  /**
   * For vm-test --kernels: called with the live Summary as soon as it exists (it is final
   * once vmTest settles), so an interrupted multi-kernel run can still write it.
   */
  onSummary?: (summary: Summary) => void;
  /** For vm-test --kernels under --json: print no report of this kernel (stdout stays one document). */
  quiet?: boolean;
  /** Put before every progress line of this run: several SSH targets run at once and their lines interleave. */
  logPrefix?: string;
  /** Where the run's directory is made (default results/); bisect keeps each step's runs together. */
  resultsRoot?: string;
  /**
   * Also run the tree's BPF selftests in the same boot, after the scenarios (vm-test
   * --with-selftests, and `bpf-harness selftests` with no scenario at all).
   */
  selftests?: SelftestsRequest;
  /** Run none of the harness's own scenarios (`bpf-harness selftests`). */
  noScenarios?: boolean;
  /** SSH targets (`kernel` is ssh://...): --identity and --known-hosts. */
  ssh?: { identity?: string; knownHosts?: string };
  /** --shell-on-fail, `shell --after`: where the run stops for a shell in the guest (run/shell-stop.ts). */
  shell?: ShellStop;
}

export interface SelftestsRequest {
  /** What the user asked for (-t/-a/-d); effectiveSelection() fills in the default. */
  user: Partial<Selection>;
  /** Minutes each runner (test_progs, test_maps) may run in the guest. */
  deadlineMin: number;
  /** --denylist/--allowlist FILEs, applied after the tree's DENYLIST/ALLOWLIST files (selftests/lists.ts). */
  lists?: { deny?: string[]; allow?: string[] };
  /** Debug kernel; undefined: as the tree's last selftests build. */
  debug?: boolean;
  /** The kernel already built with the selftests' config (bisect steps): --kernel is its bzImage. */
  build?: BuiltKernel;
  /** --build-host: the kernel (when it needs a build) and the selftests are built there. */
  buildHost?: BuildHostChoice;
}
