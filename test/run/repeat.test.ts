// The "repeat with" line must replay the run: every option that changes what runs, or how it is
// judged, is in it; the line is a valid shell command line.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { repeatCommand, shellWord, VM_TEST_DEFAULTS, type RepeatableOptions } from '../../harness/run/repeat.js';
import { runCli } from '../helpers/cli.js';

const everything: RepeatableOptions = {
  mirror: 'file:///srv/mirror',
  scenarios: ['sk-map-free-vs-close-race', 'task-multi-map'],
  sizes: 'stress',
  requireRace: true,
  seed: 77,
  accel: 'tcg',
  channel: 'ttyS1',
  cpus: 4,
  memoryMiB: 4096,
  bootDeadlineS: 400,
  settleDeadlineS: 5,
  faults: [{ fault: 'hold-map' }, { fault: 'leave-elem', scenario: 'task-multi-map' }],
  backend: 'vng',
  overrides: { rounds: 2000, sockets: 8 },
  selftests: { user: { names: ['sk_storage*'] }, deadlineMin: 12, lists: { deny: ['ci/DENYLIST.mine'], allow: ['my allow'] } },
};

/** The words of a repeat line as a POSIX shell splits them. */
function shellWords(line: string): string[] {
  const out = spawnSync('sh', ['-c', `set -- ${line}; for w in "$@"; do printf '%s\\n' "$w"; done`], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`sh could not parse: ${line}: ${out.stderr}`);
  return out.stdout.trimEnd().split('\n');
}

function valueAfter(words: readonly string[], flag: string): string[] {
  return words.flatMap((w, i) => (w === flag ? [words[i + 1] ?? ''] : []));
}

t.test('one kernel: every option that differs from its default is replayed', async (t) => {
  const words = shellWords(repeatCommand(['debian:7.3'], everything));
  t.same(words.slice(0, 4), ['npm', 'run', 'vm-test', '--']);
  const expect: Array<[string, string[]]> = [
    ['--kernel', ['debian:7.3']], ['--sizes', ['stress']], ['--seed', ['77']],
    ['--scenario', ['sk-map-free-vs-close-race', 'task-multi-map']], ['--cpus', ['4']], ['--memory', ['4096']],
    ['--accel', ['tcg']], ['--backend', ['vng']], ['--mirror', ['file:///srv/mirror']], ['--channel', ['ttyS1']],
    ['--boot-deadline', ['400']], ['--settle-deadline', ['5']], ['--set', ['rounds=2000', 'sockets=8']],
    ['--selftest', ['sk_storage*']], ['--selftests-deadline', ['12']], ['--inject-fault', ['hold-map', 'leave-elem:task-multi-map']],
    ['--denylist', ['ci/DENYLIST.mine']], ['--allowlist', ['my allow']],
  ];
  for (const [flag, values] of expect) t.same(valueAfter(words, flag), values, flag);
  t.ok(words.includes('--with-selftests'));
});

t.test('several kernels: the same options, --kernels joined', async (t) => {
  const words = shellWords(repeatCommand(['debian:6.12', 'debian:7.3'], everything));
  t.same(valueAfter(words, '--kernels'), ['debian:6.12,debian:7.3']);
  t.same(valueAfter(words, '--set'), ['rounds=2000', 'sockets=8'], 'the multi-kernel line keeps --set');
  t.ok(words.includes('--with-selftests'), 'and --with-selftests');
  t.same(valueAfter(words, '--cpus'), ['4']);
});

t.test('SSH targets: --target each, with the identity and known_hosts they were run with', async (t) => {
  const words = shellWords(repeatCommand(['debian:7.3', 'ssh://root@h:2222', 'ssh://root@g'], { ...everything, ssh: { identity: '/k/id', knownHosts: '/k/kh' } }));
  t.same(valueAfter(words, '--kernel'), ['debian:7.3']);
  t.same(valueAfter(words, '--target'), ['ssh://root@h:2222', 'ssh://root@g']);
  t.same(valueAfter(words, '--identity'), ['/k/id']);
  t.same(valueAfter(words, '--known-hosts'), ['/k/kh']);
  t.notOk(repeatCommand(['debian:7.3'], { ...everything, ssh: { identity: '/k/id' } }).includes('--identity'), 'no target, no --identity');
});

t.test('SSH targets alone: no guest is booted, so no guest option is written', async (t) => {
  const words = shellWords(repeatCommand(['ssh://root@h:2222'], { ...everything, ssh: { identity: '/k/id' } }));
  t.same(valueAfter(words, '--target'), ['ssh://root@h:2222']);
  for (const f of ['--cpus', '--memory', '--accel', '--backend', '--mirror', '--channel', '--kernel', '--kernels']) t.notOk(words.includes(f), `no ${f}`);
  for (const f of ['--sizes', '--seed', '--scenario', '--boot-deadline', '--settle-deadline', '--set', '--identity']) t.ok(words.includes(f), `still ${f}`);
});

t.test('defaults stay out, except the guest size, which sets the memcg tolerance', async (t) => {
  const plain: RepeatableOptions = {
    sizes: 'default', seed: 1, accel: VM_TEST_DEFAULTS.accel, backend: VM_TEST_DEFAULTS.backend, cpus: VM_TEST_DEFAULTS.cpus,
    memoryMiB: VM_TEST_DEFAULTS.memoryMiB, bootDeadlineS: VM_TEST_DEFAULTS.bootDeadlineS, settleDeadlineS: VM_TEST_DEFAULTS.settleDeadlineS,
  };
  t.equal(repeatCommand(['debian:7.3'], plain), 'npm run vm-test -- --kernel debian:7.3 --sizes default --seed 1 --cpus 2 --memory 2048');
});

t.test('selftests alone: the selftests command, its own deadline flag, no scenario options', async (t) => {
  const line = repeatCommand(['/src/bpf-next'], { ...everything, noScenarios: true, selftests: { user: { names: ['a b'], allow: ['sk_*'], deny: [] }, deadlineMin: 12, debug: true, lists: { deny: ['d1', 'd2'] } } });
  const words = shellWords(line);
  t.same(words.slice(0, 5), ['npx', 'bpf-harness', 'selftests', '--kernel', '/src/bpf-next']);
  t.same(valueAfter(words, '-t'), ['a b']);
  t.same(valueAfter(words, '-a'), ['sk_*']);
  t.same(valueAfter(words, '--deadline'), ['12']);
  t.same(valueAfter(words, '--denylist'), ['d1', 'd2']);
  t.ok(words.includes('--debug'));
  for (const f of ['--sizes', '--seed', '--scenario', '--settle-deadline', '--set']) t.notOk(words.includes(f), `no ${f}`);
});

t.test('shell words: plain words bare, others single-quoted', async (t) => {
  t.equal(shellWord('debian:7.3'), 'debian:7.3');
  t.equal(shellWord('sk_storage*'), "'sk_storage*'");
  t.equal(shellWord("it's"), `'it'\\''s'`);
});

/** The options a command's --help lists, as typed: --name and -x. */
function helpOptions(command: string): string[] {
  const help = runCli([command, '--help'], 60_000).stdout;
  return [...help.matchAll(/^\s+(--?[\w-]+)/gm)].map((m) => m[1]!);
}

t.test('every vm-test option is either replayed or named here as not changing the run', async (t) => {
  const options = helpOptions('vm-test').map((o) => o.replace(/^--/, ''));
  t.ok(options.length > 10, `vm-test --help lists its options (${options.length})`);
  const notReplayed = new Set(['help', 'version', 'json', 'kernel', 'kernels', 'shell-on-fail']);
  const target = repeatCommand(['debian:7.3', 'ssh://root@127.0.0.1:2222'], { ...everything, ssh: { identity: '/keys/id', knownHosts: '/keys/kh' } });
  const line = repeatCommand(['debian:7.3'], everything) + ' ' + repeatCommand(['a', 'b'], everything) + ' ' + target;
  for (const o of options) {
    if (notReplayed.has(o)) continue;
    const flag = o === 'selftest' ? '--selftest ' : `--${o}`;
    t.ok(line.includes(flag), `--${o} is in the repeat line when set`);
  }
});

t.test('every selftests option is either replayed by its line or named here as not changing the run', async (t) => {
  const options = helpOptions('selftests');
  t.ok(options.length > 10, `selftests --help lists its options (${options.length})`);
  const notReplayed = new Set(['--help', '--version', '--json']);
  const words = shellWords(repeatCommand(['/src/linux'], {
    ...everything,
    noScenarios: true,
    selftests: { user: { names: ['a'], allow: ['b'], deny: ['c'] }, deadlineMin: 12, debug: true, lists: { deny: ['d1'], allow: ['a1'] }, buildHost: { url: 'ssh://root@build:2222', identity: '/keys/id', knownHosts: '/keys/kh' } },
  }));
  t.same(words.slice(0, 3), ['npx', 'bpf-harness', 'selftests']);
  for (const o of options) {
    if (notReplayed.has(o)) continue;
    t.ok(words.includes(o), `${o} is in the selftests repeat line when set`);
  }
});
