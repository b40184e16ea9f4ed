// exitSafeTempDir: a harness temp dir goes on every way out: removeTempDir on the normal path,
// and at exit after a signal or an uncaught error (the run's own process, as a user's would die).
import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { projectRoot } from '../../harness/util/paths.js';
import { exitSafeTempDir, removeTempDir } from '../../harness/util/temp-dir.js';
import { tempDir } from '../helpers/temp-dir.js';

const module = join(projectRoot, 'dist', 'harness', 'util', 'temp-dir.js');

/** A node process that makes a temp dir in `parent`, prints it, then runs `then`. */
function child(parent: string, then: string): { proc: ReturnType<typeof spawn>; dir: Promise<string>; exit: Promise<number | string> } {
  const script = `import { exitSafeTempDir } from ${JSON.stringify(module)};
    console.log(exitSafeTempDir(${JSON.stringify(parent)}, 'run-'));
    ${then}`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const dir = new Promise<string>((resolve) => proc.stdout.setEncoding('utf8').once('data', (s: string) => resolve(s.trim())));
  const exit = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  void exit.then(() => clearTimeout(timer));
  return { proc, dir, exit };
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  t.test(`${sig} removes the dir`, async (t) => {
    const parent = tempDir(t, 'tdsig');
    const c = child(parent, 'setInterval(() => {}, 1000);');
    const dir = await c.dir;
    t.ok(existsSync(dir), 'made while the run lives');
    c.proc.kill(sig);
    t.equal(await c.exit, sig === 'SIGINT' ? 130 : 143, 'children.ts exit code');
    t.same(readdirSync(parent), [], 'nothing left');
  });
}

t.test('an uncaught error removes the dir', async (t) => {
  const parent = tempDir(t, 'tderr');
  const c = child(parent, "setTimeout(() => { throw new Error('boom'); }, 10);");
  await c.dir;
  t.equal(await c.exit, 1);
  t.same(readdirSync(parent), [], 'nothing left');
});

t.test('removeTempDir removes it and its exit hook', async (t) => {
  const parent = tempDir(t, 'tdnorm');
  removeTempDir(exitSafeTempDir(parent, 'first-')); // the first installs children.ts's own exit hook, once
  const before = process.listenerCount('exit');
  const dirs = Array.from({ length: 20 }, () => exitSafeTempDir(parent, 'run-'));
  t.equal(process.listenerCount('exit'), before + 20);
  for (const d of dirs) removeTempDir(d);
  t.same(readdirSync(parent), []);
  t.equal(process.listenerCount('exit'), before, 'no listener left per boot');
});
