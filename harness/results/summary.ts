/**
 * summary.json, version 1. Nightly jobs and `compare` read it: add fields, never rename or
 * remove one without bumping `version`.
 */
import type { Check } from './checks.js';
import type { DebugCheckSummary, SiteGrowth } from './debug.js';
import type { RaceCoverageSummary } from './race-coverage.js';

/** 'skip': a BPF selftest its runner skipped (never a scenario's verdict). */
export type Verdict = 'pass' | 'fail' | 'error' | 'skip';

/** One reading of every counter the harness collects, taken at one moment in the guest. */
export interface CounterSnapshot {
  /** memory.current of the scenario's cgroup, bytes. */
  memcgCurrent: number;
  /** Selected memory.stat fields of the scenario's cgroup, bytes. */
  memcgStat: { kernel: number; slab_unreclaimable: number; percpu: number; sock?: number; anon?: number; file?: number };
  /** Sum of SK_MEMINFO_OPTMEM over the scenario's sockets, bytes (absent when no sockets). */
  optmemTotal?: number;
  /** Sockets whose optmem differs from their own baseline (absent when no sockets). */
  optmemChanged?: number;
  /** Active objects of the kmalloc caches that hold storage elements, from /proc/slabinfo. */
  slabActive?: Record<string, number>;
}

/**
 * What the inspector (BPF iterators walking each owner's element list) counted: on the
 * scenario's owners, how many storage structs are attached and how many elements are linked,
 * and how many of those belong to maps that were freed (which must be none).
 */
export interface InspectorCounts {
  kind: string;
  /** Owners the iterator visited (threads, cgroups or socket files). */
  ownersVisited: number;
  /** Owners with a storage struct attached. */
  storages: number;
  /** Elements linked to those storages. */
  elements: number;
  /** Attached storages with no element linked. */
  emptyStorages: number;
  /** Elements of freed maps (or whose map pointer is NULL) still linked. */
  lingeringElements: number;
  /** Up to 8 owners that still hold one. */
  lingeringOwners: string[];
}

/**
 * The signals that can catch lingering storage, as `caughtBy` names them. 'values': a lookup
 * returned an element stamped by another map; 'elements': lookups through a live map missed
 * its elements. Two findings: 'optmem' and 'inspector' see elements that linger; 'memcg' alone
 * is "the cgroup's charge stays up after a drain of its charge caches" (both readings drained,
 * harness/verdict/lingering.ts).
 */
export type Signal = 'optmem' | 'memcg' | 'inspector' | 'maps-freed' | 'kernel log' | 'values' | 'elements';

/** What one drain of the cgroup's per-CPU charge caches handed back, bytes (harness/counters/collect.ts). */
export interface DrainHandedBack {
  /** memory.current before the drain less after. */
  current: number;
  /** memory.stat kernel before the drain less after: on 7.x the charge drift of contended frees. */
  kernel: number;
  /** anon + file before the drain less after: reclaim by memory.high=0 and the agent's own heap moving (no swap: anon only moves by the agent). */
  user: number;
  drainUs: number;
}

/**
 * The memcg figures of a scenario: both readings are taken after a drain of the charge caches,
 * the residue is what the verdict judged, what the drains handed back is kept beside it.
 */
export interface MemcgFigures {
  /** After - before, both drained: memory.current less user pages, memory.stat kernel, slab_unreclaimable (bytes). */
  residue: { current: number; kernel: number; slab: number };
  /** The bound a correct kernel stays within after a drain (verdict/lingering.ts). */
  tolerance: number;
  /** The drain before the judged after-reading. */
  handedBack: DrainHandedBack;
  /** The drain before the baseline reading. */
  baselineHandedBack?: DrainHandedBack;
  /** The same poll's reading just before its drain: what an undrained verdict would have judged. */
  undrainedAfter?: CounterSnapshot;
  /** Debug kernels, when the charge stayed up: the sites whose allocinfo grew most, by bytes. */
  allocinfoGrowth?: SiteGrowth[];
}

/** One reading of the settle loop (harness/scenarios/settle.ts), every ~200 ms. */
export interface SettleSample {
  /** ms from the last map reference drop to this reading. */
  t: number;
  counters: CounterSnapshot;
  /** Closed maps the kernel had not freed yet. */
  mapsAlive: number;
  /** The inspector: elements linked on the scenario's owners (any map), and those of the freed maps. */
  elements?: number;
  lingeringElements?: number;
  /** Taken after a drain of the cgroup's per-CPU charge caches (a judged memcg reading). */
  drained?: boolean;
}

/** One settle wait: from the drop of mapIds' last reference to settled (settleMs) or the deadline. */
export interface SettleSeries {
  mapIds: number[];
  intervalMs: number;
  deadlineMs: number;
  /** The reading the checks compare against (taken before the elements existed). */
  baseline: CounterSnapshot;
  /** The memcg tolerance the checks applied, bytes. */
  toleranceBytes: number;
  /** null: the deadline passed first. */
  settleMs: number | null;
  samples: SettleSample[];
}

export interface ScenarioResult {
  name: string;
  /** Absent for the harness's own scenarios; 'selftest' for a BPF selftest (test_progs/NAME, test_maps/NAME). */
  kind?: 'selftest';
  verdict: Verdict;
  /** The sentence a user reads on failure; for a pass, what was shown. */
  reason: string;
  params: Record<string, number | string | boolean>;
  seed: number;
  counters: { before: CounterSnapshot | null; after: CounterSnapshot | null; peak?: CounterSnapshot | null };
  /** Time from the last map reference drop until every counter was back, ms (null: never). */
  settleMs: number | null;
  durationMs: number;
  /** Each check that ran: its name, whether it passed and its message. */
  checks: Check[];
  /** Kernel log lines that failed the scenario. */
  kernelLog?: string[];
  /** Throughput figures (race rounds per second, elements per second). */
  rates?: Record<string, number>;
  /** Measured facts beside the verdict: charge per element, memcg sensitivity, tolerance. */
  notes?: Record<string, number | string>;
  /** The inspector's counts with the elements at their peak and after the maps were freed. */
  inspector?: { peak?: InspectorCounts; after?: InspectorCounts };
  /** For a failure: which signals caught it. */
  caughtBy?: Signal[];
  /** Race scenarios: per round, whether map free and owner destroy met on an element (the contended unlink path). */
  raceCoverage?: RaceCoverageSummary;
  /** memcg judged after a drain of the charge caches, and what the drains handed back. */
  memcg?: MemcgFigures;
  /** Every settle wait's readings, in order (several per scenario: user/program, generations). */
  settleSeries?: SettleSeries[];
}

/** A guest booted again mid-run: the scenario that was running ran again in the new boot. */
export interface GuestRestart {
  /** The scenario that was running when the guest died (its result is the new boot's). */
  scenario: string;
  /** The console's fatal line. */
  crash: string;
  /** Why this death allowed a new boot. */
  cause: string;
  /** What the scenario's first run said as the guest died. */
  firstReason: string;
  /** The dead guest's console, in the results directory. */
  console: string;
  /** The new boot, to the agent. */
  bootMs: number;
}

/** The kernel log after the last scenario and the console after power-off (harness/run/after-run.ts). */
export interface AfterRunLog {
  /** From the end of the last scenario (and debug checks) to the last read, ms. */
  waitedMs: number;
  /** A read brought no new kernel record before the deadline. */
  quiet: boolean;
  /** Records overwritten before they were read. */
  lost: number;
  /** The reports found, first lines and context. */
  kernelLog: string[];
  /** Kernel reports on the console after the last read (during power-off). */
  consoleAfterShutdown: string[];
  /** The read failed: why. */
  readError?: string;
  /** The result the findings were added to: the last scenario or selftest that ran before (never after a shell: `Summary.shell.kernelLog`). */
  attributedTo?: string;
}

/**
 * What the kernel log said from the moment a shell opened to power-off (the log read after the
 * user left, the console after power-off): from the scenario's leftovers or from what the user
 * did there, so it is never added to the scenario (harness/run/after-run.ts).
 */
export interface ShellKernelLog {
  /** 'reported': a kernel report; 'unjudged': the log could not be read or lost records. Either makes the exit code 1. */
  verdict: 'clean' | 'reported' | 'unjudged';
  /** The reports found, first lines and context (afterRun's kernelLog, then consoleAfterShutdown). */
  reports: string[];
  /** What was wrong, one line (absent when clean). */
  problem?: string;
}

/** vm-test --shell-on-fail, shell --after: where the run stopped for a shell in the guest (harness/run/shell-stop.ts). */
export interface ShellSession {
  /** The scenario the run stopped at; its verdict in `scenarios` is the one it had when the shell opened. */
  scenario: string;
  /** 'failed': --shell-on-fail's first failure; 'named': shell --after SCENARIO. */
  stoppedBecause: 'failed' | 'named';
  /** The failure showed only once the scenario's owners were released (its teardown's kernel log). */
  ownersReleased: boolean;
  /** The scenarios of the run that did not run because it stopped here. */
  notRun: string[];
  /** Files in the run's directory: what the guest showed (the banner first), what the user typed. */
  transcript: string;
  input: string;
  /** How long the user was in the guest, ms (absent when the run ended while they were). */
  durationMs?: number;
  /** Set once the kernel log after the shell was read. */
  kernelLog?: ShellKernelLog;
}

/** An SSH target (vm-test --target ssh://user@host[:port]). */
export interface TargetSummary {
  url: string;
  user: string;
  host: string;
  port: number;
  /** The host key that known_hosts vouched for: type and SHA256 fingerprint. */
  hostKey: string;
  /** Records of the target's kernel log from before the run (the first ones in kernel.log). */
  kernelLogBefore?: number;
  /**
   * Whether the harness saw the target's temporary directory removed at the end. false: it could
   * not look (the connection was gone); the guardian on the target removes it anyway (`leftOver`).
   */
  cleanedUp?: boolean;
  leftOver?: string;
}

export interface Summary {
  version: 1;
  tool: string;
  startedAt: string;
  kernel: { spec: string; release: string; bzImage: string };
  /** 'native' and 'ssh': an SSH target's running kernel (`target`). */
  accel: 'kvm' | 'tcg' | 'native';
  backend: 'qemu' | 'vng' | 'ssh';
  channel: 'virtio' | 'ttyS1' | 'ssh';
  /** vm-test --target: the machine the scenarios ran on instead of a guest. */
  target?: TargetSummary;
  exitCode: number;
  /** Set when the run ended early: a panic, a deadline, Ctrl-C, a setup error. */
  aborted?: string;
  scenarios: ScenarioResult[];
  timings: Record<string, number>;
  /** The command that repeats this run with the same seed. */
  repeat: string;
  /** Kernel reports seen while booting, before any scenario ran (shown, never a verdict). */
  bootKernelLog?: string[];
  /** Boot attempts whose kernel crashed before the agent answered (the run booted again). */
  bootCrashes?: string[];
  /** Guests that died of an emulator artifact mid-run and were booted again (harness/run/guest-restart.ts). */
  guestRestarts?: GuestRestart[];
  /** Where the run's files are. */
  resultsDir?: string;
  /** Runs with the tree's BPF selftests: what ran (their results are among `scenarios`, kind 'selftest'). */
  selftests?: {
    tree: string;
    dir: string;
    llvm: string;
    /** test_progs' filter arguments from -t/-a/-d (or the default), before the lists. */
    selection: string[];
    /** The test lists applied, in order: the tree's DENYLIST/ALLOWLIST files, then --denylist/--allowlist (absent in older runs). */
    lists?: Array<{ label: string; kind: 'deny' | 'allow'; origin: 'tree' | 'user'; entries: number }>;
    /** Selected tests (or TEST/SUBTEST entries) a list took out, with the list and its entry. */
    removed?: Array<{ test: string; list: string; entry: string; subtests?: boolean }>;
    /** test_progs' watchdog and workers: -w SECONDS, --workers=N. */
    runnerArgs?: string[];
  };
  /** Debug kernels only: the allocinfo counter and kmemleak verdicts (harness/verdict/debug-kernel.ts). */
  debug?: DebugCheckSummary;
  /** The kernel log read once more after the last scenario, and the console after power-off (harness/run/after-run.ts). */
  afterRun?: AfterRunLog;
  /** The run stopped for a shell in the guest (vm-test --shell-on-fail, shell --after). */
  shell?: ShellSession;
}
