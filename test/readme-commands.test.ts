// Every command line the README prints works as printed: each indented command line that runs
// this project's tools (npm run vm-test, npx bpf-harness ..., scripts/nightly.sh) is run from the
// project's root with its placeholders cut and --help added, the way a new user would try it.
// CI runs this on a clean clone, after `npm test` has run setup (dist/ built, packages there).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../harness/util/paths.js';

const README = readFileSync(join(projectRoot, 'README.md'), 'utf8');

/** The README's indented command lines that run this project's own tools. */
function readmeCommands(): string[] {
  return README.split('\n')
    .filter((l) => /^ {4}\S/.test(l))
    .map((l) => l.trim().replace(/\s+#.*$/, ''))
    .filter((l) => /^(npm run vm-test|npx bpf-harness|scripts\/nightly\.sh)\b/.test(l));
}

/** The words before the first option or placeholder, e.g. `npx bpf-harness kernel build`. */
function commandPart(line: string): string {
  const words = line.split(/\s+/);
  const end = words.findIndex((w, i) => i >= 1 && (w.startsWith('-') || w.startsWith('[') || /^[A-Z]/.test(w)));
  return words.slice(0, end < 0 ? words.length : end).join(' ');
}

const commands = readmeCommands();

t.test('the README shows the commands this test runs', async (t) => {
  const parts = new Set(commands.map(commandPart));
  for (const c of ['npm run vm-test', 'npx bpf-harness kernel build', 'npx bpf-harness selftests', 'npx bpf-harness bisect', 'npx bpf-harness compare', 'scripts/nightly.sh']) {
    t.ok(parts.has(c), `README shows ${c}`);
  }
});

for (const part of new Set(commands.map(commandPart))) {
  t.test(`as printed: ${part} --help`, async (t) => {
    // `npm run vm-test` passes its arguments to the CLI after `--`.
    const line = part === 'npm run vm-test' ? `${part} -- --help` : `${part} --help`;
    const r = spawnSync('bash', ['-c', line], { cwd: projectRoot, encoding: 'utf8', timeout: 120_000, env: { ...process.env, npm_config_yes: 'false' } });
    t.equal(r.status, 0, `${line}: exit 0 (stderr: ${r.stderr.slice(-500)})`);
    t.notMatch(r.stdout + r.stderr, /command not found|not a directory|Unknown argument/, `${line}: no shell or usage error`);
    const sub = part.replace(/^npx bpf-harness /, '').replace(/^npm run /, '');
    if (part.startsWith('npx bpf-harness') || part.startsWith('npm run')) t.match(r.stdout, new RegExp(`bpf-harness ${sub.replace(/ build$/, '')}`), `${line}: the usage of ${sub}`);
    else t.match(r.stdout, /The nightly job/, `${line}: the job's description`);
  });
}
