// Real guests under `--backend vng` (virtme-ng: the host's root over 9p, QEMU started by vng):
// a kernel the harness built (9p and virtio built in, vm/config/base.config) when one is cached,
// and Debian's 7.3, whose 9p, 9pnet_virtio and overlay modules come from its own package into
// vng's initramfs (harness/vm/vng-modules.ts). One small scenario each, one CPU: the boots are
// what is tested (about 30 and 55 s under TCG), the scenarios are vm-test's own.
import t, { type Test } from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseKernelConfig, missingOptions } from '../../harness/kernel/config.js';
import { VNG_BUILT_IN } from '../../harness/backend/vng.js';
import { VNG_MODULE_OPTIONS, kmodRefusal } from '../../harness/vm/vng-modules.js';
import { missingPythonModules } from '../../harness/vm/vng.js';
import { cacheDir } from '../../harness/util/paths.js';
import { parseSummary, runCli } from '../helpers/cli.js';

/** A bzImage of the build cache with 9p and virtio built in, or undefined. */
function cachedBuiltKernel(): string | undefined {
  const builds = join(cacheDir(), 'builds');
  if (!existsSync(builds)) return undefined;
  for (const name of readdirSync(builds).sort()) {
    const dir = join(builds, name);
    const bzImage = join(dir, 'arch', 'x86', 'boot', 'bzImage');
    if (!existsSync(bzImage) || !existsSync(join(dir, 'bpfh-build.json')) || !existsSync(join(dir, '.config'))) continue;
    const config = parseKernelConfig(readFileSync(join(dir, '.config'), 'utf8'));
    if (missingOptions(config, [...VNG_BUILT_IN, ...VNG_MODULE_OPTIONS]).length === 0) return bzImage;
  }
  return undefined;
}

/** The vng QEMUs running now (vng names its guests virtme-ng). */
async function vngQemus(): Promise<string[]> {
  const r = await execa('pgrep', ['-f', '^qemu-system-x86_64 -name virtme-ng'], { reject: false });
  return r.stdout.split('\n').filter(Boolean).sort();
}

const pythonMissing = existsSync('/usr/bin/python3') ? await missingPythonModules() : ['python3'];
const noVng = pythonMissing.length > 0 ? `vng cannot run: the system python lacks ${pythonMissing.join(', ')} (npm run setup installs them)` : false;

/** vm-test under vng, one scenario at small sizes on one CPU; its summary and console. */
async function vngRun(t: Test, kernel: string, scenario: string): Promise<{ summary: ReturnType<typeof parseSummary>; console: string; status: number | null }> {
  const before = await vngQemus();
  const run = runCli(['vm-test', '--backend', 'vng', '--kernel', kernel, '--scenario', scenario, '--sizes', 'small', '--cpus', '1', '--memory', '1024', '--seed', '11', '--json'], 10 * 60_000);
  t.comment(run.stderr.split('\n').filter((l) => /^(backend|booting|guest up|vng:|kept|downloading)/.test(l)).join('\n'));
  const summary = parseSummary(run);
  t.same(await vngQemus(), before, 'no QEMU of vng is left');
  const consolePath = join(summary.resultsDir ?? '', 'console.log');
  return { summary, console: existsSync(consolePath) ? readFileSync(consolePath, 'utf8') : '', status: run.status };
}

const built = cachedBuiltKernel();
const noBuilt = built ? false : 'no kernel with 9p and virtio built in is cached: build one with `npx bpf-harness kernel build --tree <kernel source tree>` (vm/config/base.config builds them in; `npm run test:kernel` builds linux-source-7.3)';

t.test('a kernel the harness built boots under vng and passes', { skip: noVng || noBuilt }, async (t) => {
  // vng takes a bzImage beside its .config for a build tree and, unless told to skip modules,
  // runs depmod there and writes .virtme_mods into it (on a host without kmod it stops there).
  const virtmeMods = join(built!, '..', '..', '..', '..', '.virtme_mods');
  const hadVirtmeMods = existsSync(virtmeMods);
  const { summary, console, status } = await vngRun(t, built!, 'cgrp-map-free-live-owners');
  t.equal(existsSync(virtmeMods), hadVirtmeMods, 'vng wrote no .virtme_mods into the build directory');
  t.equal(summary.backend, 'vng');
  t.equal(summary.kernel.bzImage, built);
  t.equal(summary.aborted, undefined, 'the run was not cut short');
  t.same(summary.scenarios.map((s) => [s.name, s.verdict]), [['cgrp-map-free-live-owners', 'pass']], summary.scenarios.map((s) => s.reason).join('; '));
  t.equal(status, 0);
  // virtme-ng's own init ran (not the harness's initramfs), with the host's root, and no modules:
  // 9p is built in, so vng had no initramfs to make.
  t.match(console, /virtme-init: starting script/, "vng's init ran the guest command");
  t.match(console, /bpfh: vng guest ready, channel \/dev\/vport\d+p\d+/, 'vm/vng-guest.sh found the agent port');
  t.notMatch(console, /virtme initramfs:/, 'no initramfs: 9p is built in');
});

t.test("Debian's 7.3 under vng: 9p from its own package", { skip: noVng || (kmodRefusal('debian:7.3') ? `${kmodRefusal('debian:7.3')} (npm run setup installs kmod)` : false) }, async (t) => {
  const { summary, console, status } = await vngRun(t, 'debian:7.3', 'sk-map-free-live-owners');
  t.equal(summary.backend, 'vng');
  t.match(summary.kernel.release, /^7\.3/);
  t.equal(summary.aborted, undefined, 'the run was not cut short');
  t.same(summary.scenarios.map((s) => [s.name, s.verdict]), [['sk-map-free-live-owners', 'pass']], summary.scenarios.map((s) => s.reason).join('; '));
  t.equal(status, 0);
  for (const m of ['netfs', '9pnet', '9p', '9pnet_virtio', 'overlay']) t.match(console, new RegExp(`virtme initramfs: loading ${m}\\.ko\\.\\.\\.`), `vng's initramfs loaded ${m} from the package`);
  t.match(console, /virtme initramfs: mounting hostfs\.\.\.[\s\S]*bpfh: vng guest ready/, 'the host root came up over the modular 9p and the guest command ran');
});
