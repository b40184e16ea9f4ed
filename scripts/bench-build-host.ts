/**
 * What --build-host costs besides make: the first sync of a tree (the host's workspace for it
 * removed first), a sync after one file changed (its mtime moved, then put back: the tree is
 * not edited), and make that has nothing to do here and there (a trivial Makefile, and
 * olddefconfig on a configured O= directory), each the median of a few runs. Figures only.
 *
 *   node dist/scripts/bench-build-host.js --tree DIR --build-host ssh://user@host[:port] [--identity FILE] [--known-hosts FILE]
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { BuildHost } from '../harness/build-host/build-host.js';
import { shq } from '../harness/ssh/ssh.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await fn();
  return Date.now() - t0;
}

async function main(): Promise<void> {
  const treeArg = arg('tree');
  const url = arg('build-host');
  if (!treeArg || !url) {
    process.stderr.write('usage: bench-build-host --tree DIR --build-host ssh://user@host[:port] [--identity FILE] [--known-hosts FILE]\n');
    process.exit(2);
  }
  const tree = resolve(treeArg);
  const log = (l: string): void => void process.stderr.write(`${l}\n`);
  const host = await BuildHost.open({ url, identity: arg('identity'), knownHosts: arg('known-hosts') }, log);
  try {
    const ws = host.workspace(tree);
    await host.conn.run(`rm -rf ${shq(ws)}`, 600_000);
    const first = await host.sync(tree, { deadlineMs: 3_600_000 });
    console.log(`first sync: ${first.files} files, ${mib(first.bytes)} (${mib(first.wireBytes)} on the wire) in ${sec(first.ms)} (listing and comparing ${sec(first.listMs)})`);

    const one = (await execa('sh', ['-c', 'ls kernel/*.c | head -n 1'], { cwd: tree })).stdout.trim();
    const st = statSync(join(tree, one));
    utimesSync(join(tree, one), st.atime, new Date());
    try {
      const step = await host.sync(tree, { deadlineMs: 600_000 });
      console.log(`one file changed (${one}): ${step.files} file sent, ${mib(step.wireBytes)} on the wire, in ${sec(step.ms)} (listing and comparing ${sec(step.listMs)})`);
    } finally {
      utimesSync(join(tree, one), st.atime, st.mtime);
    }
    const back = await host.sync(tree, { deadlineMs: 600_000 });
    console.log(`nothing changed: ${back.files === 1 ? 'the file put back' : `${back.files} files`} in ${sec(back.ms)}`);

    const noop = mkdtempSync(join(tmpdir(), 'bpfh-noop-'));
    writeFileSync(join(noop, 'Makefile'), 'all:\n\t@:\n');
    await host.sync(noop, { deadlineMs: 60_000, minFreeBytes: 0 });
    const runs = 5;
    const here: number[] = [];
    const there: number[] = [];
    for (let i = 0; i < runs; i++) {
      here.push(await timed(() => execa('make', ['-s', '-C', noop])));
      there.push(await timed(() => host.run(['make', '-s', '-C', noop], { cwd: noop, deadlineMs: 60_000 })));
    }
    console.log(`make with nothing to do (trivial Makefile, median of ${runs}): here ${sec(median(here))}, on the host ${sec(median(there))}`);

    const out = join(noop, 'out');
    mkdirSync(out);
    await host.outDir(out, tree);
    await execa('make', ['-s', '-C', tree, `O=${out}`, 'defconfig'], { timeout: 600_000 });
    await host.run(['make', '-s', '-C', tree, `O=${out}`, 'defconfig'], { cwd: tree, deadlineMs: 600_000 });
    const kHere: number[] = [];
    const kThere: number[] = [];
    for (let i = 0; i < 3; i++) {
      kHere.push(await timed(() => execa('make', ['-s', '-C', tree, `O=${out}`, 'olddefconfig'], { timeout: 300_000 })));
      kThere.push(await timed(() => host.run(['make', '-s', '-C', tree, `O=${out}`, 'olddefconfig'], { cwd: tree, deadlineMs: 300_000 })));
    }
    console.log(`make olddefconfig on a configured O= (median of 3): here ${sec(median(kHere))}, on the host ${sec(median(kThere))}`);
    const load = (await execa('cat', ['/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
    console.log(`load average here while measuring: ${load}`);
    rmSync(noop, { recursive: true, force: true });
  } finally {
    host.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-build-host: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
