/**
 * npm run bench: what the harness costs over QEMU itself. Boots the same kernel and initramfs
 * once bare (qemu-system-x86_64 -kernel -initrd, until vm/init.sh prints its marker) and once
 * through `vm-test`, and prints boot time, time to a verdict, their ratio and the scenarios'
 * throughput figures. Figures only; no pass/fail.
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { resolveAndBuildKernel } from '../harness/kernel-build/tree-kernel.js';
import type { Summary } from '../harness/results/summary.js';
import { INIT_MARKER } from '../harness/vm/accel.js';
import { chooseChannel } from '../harness/vm/channel.js';
import { buildGuestInitramfs } from '../harness/vm/guest-image.js';
import { kernelCommandLine, QEMU_BINARY } from '../harness/vm/qemu.js';
import { projectRoot } from '../harness/util/paths.js';

const kernelSpec = process.argv[2] ?? 'debian:7.3';
const sizes = process.argv[3] ?? 'small';

async function bareBootMs(bzImage: string, initramfs: string, channel: 'virtio' | 'ttyS1'): Promise<number> {
  const spec = { bzImage, initramfs, accel: 'tcg' as const, channel, cpus: 2, memoryMiB: 2048 };
  const args = ['-nodefaults', '-no-reboot', '-display', 'none', '-machine', 'q35,accel=tcg', '-smp', '2', '-m', '2048M',
    '-kernel', bzImage, '-initrd', initramfs, '-append', kernelCommandLine(spec), '-serial', 'stdio'];
  const started = Date.now();
  const child = spawn(QEMU_BINARY, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('bare boot: no init marker within 180 s'));
    }, 180_000);
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      seen += text;
      if (seen.includes(INIT_MARKER)) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve(Date.now() - started);
      }
    });
  });
}

const kernel = await resolveAndBuildKernel(kernelSpec, { log: () => undefined });
const image = buildGuestInitramfs();
const bare = await bareBootMs(kernel.bzImage, image.path, chooseChannel(kernel.config).kind);

const started = Date.now();
const run = spawnSync(process.execPath, [join(projectRoot, 'dist', 'harness', 'cli.js'), 'vm-test', '--kernel', kernelSpec, '--sizes', sizes, '--accel', 'tcg', '--json', '--seed', '1'], { encoding: 'utf8', maxBuffer: 64 << 20 });
const verdictMs = Date.now() - started;
const summary = JSON.parse(run.stdout) as Summary;
const bootMs = summary.timings.bootMs ?? NaN;

const rows: Array<[string, string]> = [
  ['kernel', `${kernelSpec} (${summary.kernel.release}), TCG, sizes ${sizes}`],
  ['bare QEMU boot to init', `${(bare / 1000).toFixed(2)} s`],
  ['harness boot to agent', `${(bootMs / 1000).toFixed(2)} s (ratio ${(bootMs / bare).toFixed(2)})`],
  ['harness time to verdict', `${(verdictMs / 1000).toFixed(2)} s (ratio to bare boot ${(verdictMs / bare).toFixed(2)})`],
  ['exit code', String(run.status)],
];
for (const s of summary.scenarios) {
  const rates = Object.entries(s.rates ?? {}).map(([k, v]) => `${k} ${v}`).join(', ');
  rows.push([`  ${s.name}`, `${s.verdict}, ${(s.durationMs / 1000).toFixed(1)} s, settle ${s.settleMs ?? '-'} ms${rates ? `, ${rates}` : ''}`]);
}
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
