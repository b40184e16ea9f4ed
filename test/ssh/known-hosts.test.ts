// Host key verification against known_hosts files written by OpenSSH's own tools (ssh-keygen
// makes the keys, `ssh-keygen -H` hashes the file), the target URL, ~/.ssh/config's
// and IdentityFile lines.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { hostKeyName, hostsFieldMatches, parseKnownHosts, verifyHostKey } from '../../harness/ssh/known-hosts.js';
import { identityFilesFor } from '../../harness/ssh/ssh-config.js';
import { keyTypeOf, parseTargetUrl } from '../../harness/ssh/ssh.js';
import { tempDir } from '../helpers/temp-dir.js';

const dir = tempDir(t, 'kh');

async function newKey(name: string): Promise<{ type: string; blob: Buffer; line: string }> {
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, name)]);
  const [type, b64] = readFileSync(join(dir, `${name}.pub`), 'utf8').split(/\s+/);
  return { type: type!, blob: Buffer.from(b64!, 'base64'), line: `${type} ${b64}` };
}

t.test('known_hosts: plain, [host]:port, hashed by ssh-keygen -H, changed, revoked, unknown', async (t) => {
  const key = await newKey('a');
  const other = await newKey('b');
  t.equal(keyTypeOf(key.blob), 'ssh-ed25519', 'the key type is read from the blob');
  t.equal(hostKeyName('127.0.0.1', 2222), '[127.0.0.1]:2222');
  t.equal(hostKeyName('box', 22), 'box');

  const plain = join(dir, 'plain');
  writeFileSync(plain, `# comment\nother.example ${other.line}\n[127.0.0.1]:2222 ${key.line}\n`);
  t.match(verifyHostKey([plain], '127.0.0.1', 2222, key.type, key.blob), { ok: true, line: 3 });
  const unknown = verifyHostKey([plain], '127.0.0.1', 2223, key.type, key.blob);
  t.match(unknown, { ok: false, kind: 'unknown' }, 'another port is another host');
  t.match(unknown.ok ? '' : unknown.message, /not known .*SHA256:.*ssh-keyscan -p 2223 127\.0\.0\.1 >> ~\/\.ssh\/known_hosts/);
  const changed = verifyHostKey([plain], '127.0.0.1', 2222, other.type, other.blob);
  t.match(changed, { ok: false, kind: 'changed' });
  t.match(changed.ok ? '' : changed.message, /CHANGED.*plain:3.*ssh-keygen -R '\[127\.0\.0\.1\]:2222'/);

  // The same file hashed by OpenSSH itself.
  const hashed = join(dir, 'hashed');
  writeFileSync(hashed, readFileSync(plain));
  await execa('ssh-keygen', ['-H', '-f', hashed]);
  const text = readFileSync(hashed, 'utf8');
  t.match(text, /^\|1\|/m, 'ssh-keygen -H hashed the names');
  t.notMatch(text, /127\.0\.0\.1/, 'no plain name is left');
  t.match(verifyHostKey([hashed], '127.0.0.1', 2222, key.type, key.blob), { ok: true });
  t.match(verifyHostKey([hashed], '127.0.0.1', 2222, other.type, other.blob), { ok: false, kind: 'changed' });
  t.match(verifyHostKey([hashed], '127.0.0.2', 2222, key.type, key.blob), { ok: false, kind: 'unknown' });

  const revoked = join(dir, 'revoked');
  writeFileSync(revoked, `@revoked * ${key.line}\n[127.0.0.1]:2222 ${key.line}\n`);
  t.match(verifyHostKey([revoked], '127.0.0.1', 2222, key.type, key.blob), { ok: false, kind: 'revoked' });
  t.match(verifyHostKey([join(dir, 'missing'), plain], '127.0.0.1', 2222, key.type, key.blob), { ok: true }, 'a missing file is skipped');
});

t.test('host patterns', async (t) => {
  t.ok(hostsFieldMatches('*.lab,!bad.lab', 'box.lab'));
  t.notOk(hostsFieldMatches('*.lab,!bad.lab', 'bad.lab'), 'a negated pattern wins');
  t.ok(hostsFieldMatches('box?', 'box1'));
  t.notOk(hostsFieldMatches('box?', 'box12'));
  t.equal(parseKnownHosts('@cert-authority *.lab ssh-ed25519 AAAA\nbroken\n')[0]?.marker, '@cert-authority');
});

t.test('ssh config: IdentityFile of every matching Host block, ~ expanded, Match skipped', async (t) => {
  const cfg = ['IdentityFile ~/.ssh/global', 'Host lab-*  !lab-old', '  IdentityFile ~/.ssh/lab_%h', 'Host other', '  IdentityFile /k/other', 'Match user root', '  IdentityFile /k/match'].join('\n');
  const files = identityFilesFor(cfg, { host: 'lab-1', port: 22, user: 'root' });
  t.equal(files.length, 2);
  t.match(files[0], /\/\.ssh\/global$/);
  t.match(files[1], /\/\.ssh\/lab_lab-1$/);
  t.same(identityFilesFor(cfg, { host: 'lab-old', port: 22, user: 'root' }).length, 1, 'negated host');
});

t.test('target URLs', async (t) => {
  t.same(parseTargetUrl('ssh://root@127.0.0.1:2222'), { url: 'ssh://root@127.0.0.1:2222', user: 'root', host: '127.0.0.1', port: 2222 });
  t.same(parseTargetUrl('ssh://root@[::1]:22').host, '::1');
  t.equal(parseTargetUrl('ssh://me@box.lab').port, 22);
  t.throws(() => parseTargetUrl('ssh://box.lab'), /give ssh:\/\/user@host/);
  t.throws(() => parseTargetUrl('ssh://root@box:99999'), /1-65535/);
});
