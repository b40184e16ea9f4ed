import t from 'tap';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { assertConfig, missingOptions, parseKernelConfig, REQUIRED_BASE } from '../../harness/kernel/config.js';
import { SetupError } from '../../harness/util/errors.js';
import { projectRoot } from '../../harness/util/paths.js';

const fixture = (name: string): string => join(projectRoot, 'test', 'fixtures', 'kernel', name);

const text73 = readFileSync(fixture('config-7.3-amd64.trimmed'), 'utf8');
const text612 = readFileSync(fixture('config-6.12.117+deb13-amd64.trimmed'), 'utf8');

t.test('parses Debian 7.3 config values of every kind', async (t) => {
  const c = parseKernelConfig(text73);
  t.equal(c.get('CONFIG_BPF_SYSCALL'), 'y');
  t.equal(c.get('CONFIG_BINFMT_MISC'), 'm');
  t.equal(c.get('CONFIG_HZ'), '250', 'numbers stay text');
  t.equal(c.get('CONFIG_NR_CPUS'), '8192');
  t.equal(c.get('CONFIG_CC_VERSION_TEXT'), '"x86_64-linux-gnu-gcc-16 (Debian 16.2.0-3) 16.2.0"', 'strings keep their quotes');
  t.equal(c.get('CONFIG_LOCALVERSION'), '""', 'the empty string is a value');
  t.notOk(c.has('CONFIG_BPF_JIT_ALWAYS_ON'), '"is not set" leaves the option absent');
  t.notOk(c.has('CONFIG_IKCONFIG'));
  t.notOk([...c.keys()].some((k) => !k.startsWith('CONFIG_')), 'comments are not options');
  const setLines = text73.split('\n').filter((l) => /^CONFIG_/.test(l)).length;
  t.equal(c.size, setLines, 'one entry per CONFIG_X= line');
});

t.test('tolerates CRLF and blank lines', async (t) => {
  const c = parseKernelConfig('CONFIG_A=y\r\n\r\n# CONFIG_B is not set\r\nCONFIG_C="x y"\r\n');
  t.same([...c.entries()], [['CONFIG_A', 'y'], ['CONFIG_C', '"x y"']]);
});

t.test('both real Debian configs have everything REQUIRED_BASE asks for', async (t) => {
  t.same(missingOptions(parseKernelConfig(text73), REQUIRED_BASE), []);
  t.same(missingOptions(parseKernelConfig(text612), REQUIRED_BASE), []);
  t.ok(REQUIRED_BASE.includes('CONFIG_BPF_SYSCALL') && REQUIRED_BASE.includes('CONFIG_DEBUG_INFO_BTF') && REQUIRED_BASE.includes('CONFIG_MEMCG'));
});

t.test('missingOptions: =y by default, and the =y|m, =n, =value forms', async (t) => {
  const c = parseKernelConfig(text612);
  t.same(missingOptions(c, ['CONFIG_BINFMT_MISC']), ['CONFIG_BINFMT_MISC'], 'a module is not =y');
  t.same(missingOptions(c, ['CONFIG_BINFMT_MISC=y|m']), []);
  t.same(missingOptions(c, ['CONFIG_KASAN=n', 'CONFIG_IKCONFIG=n']), [], 'unset counts as =n');
  t.same(missingOptions(c, ['CONFIG_BPF_SYSCALL=n']), ['CONFIG_BPF_SYSCALL']);
  t.same(missingOptions(c, ['CONFIG_HZ=250', 'CONFIG_HZ=1000']), ['CONFIG_HZ'], 'exact values');
  t.same(missingOptions(c, ['CONFIG_NO_SUCH_OPTION', 'CONFIG_VIRTIO_CONSOLE', 'CONFIG_NO_SUCH_OPTION=y|m']), ['CONFIG_NO_SUCH_OPTION'], 'each name once');
  // Real differences between the two kernels.
  t.same(missingOptions(c, ['CONFIG_PROC_SYSCTL', 'CONFIG_PREEMPT_LAZY']), ['CONFIG_PREEMPT_LAZY']);
  t.same(missingOptions(parseKernelConfig(text73), ['CONFIG_PROC_SYSCTL', 'CONFIG_PREEMPT_LAZY']), ['CONFIG_PROC_SYSCTL']);
});

t.test('assertConfig names every missing option in one line', async (t) => {
  const config = parseKernelConfig(text73.replace(/^CONFIG_BPF_SYSCALL=y$/m, '# CONFIG_BPF_SYSCALL is not set').replace(/^CONFIG_MEMCG=y$/m, ''));
  const kernel = { spec: '/kernels/bzImage', config };
  t.throws(() => assertConfig(kernel, []), new SetupError('kernel /kernels/bzImage lacks CONFIG_BPF_SYSCALL, CONFIG_MEMCG: rebuild it with them (=y)'));
  const err = (() => {
    try {
      assertConfig(kernel, ['CONFIG_BINFMT_MISC']);
    } catch (e) {
      return e as SetupError;
    }
    return undefined;
  })();
  t.ok(err instanceof SetupError && err.exitCode === 2);
  t.match(err?.message, /CONFIG_MEMCG, CONFIG_BINFMT_MISC \(a module here\): rebuild it with them \(=y\)$/);
  t.notMatch(err?.message, /\n/);
  t.doesNotThrow(() => assertConfig({ spec: 'debian:7.3', config: parseKernelConfig(text73) }, ['CONFIG_VIRTIO_CONSOLE', 'CONFIG_KASAN=n']));
  t.throws(() => assertConfig({ spec: 'debian:6.12', config: parseKernelConfig(text612) }, ['CONFIG_PREEMPT_LAZY']), {
    message: 'kernel debian:6.12 lacks CONFIG_PREEMPT_LAZY: rebuild it with it (=y)',
  });
});
