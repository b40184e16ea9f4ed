/** vng from its Debian package with the system python, as on a bookworm host. */
import t from 'tap';
import { existsSync } from 'node:fs';
import { locateVng, missingPythonModules, VNG_MISSING } from '../../harness/vm/vng.js';

t.test('the missing-vng line names the fix', async (t) => {
  t.match(VNG_MISSING, /^vng \(virtme-ng\) is not installed: apt-get install virtme-ng/);
});

t.test('vng runs from its unpacked package', async (t) => {
  const missing = await missingPythonModules();
  if (missing.length > 0 || !existsSync('/usr/bin/python3')) {
    t.comment(`skipped: the system python lacks ${missing.join(", ")}`);
    return;
  }
  let vng;
  try {
    vng = await locateVng({ fetch: true, log: (l) => t.comment(l) });
  } catch (e) {
    t.comment(`not available: ${(e as Error).message}`);
    return;
  }
  t.match(vng.version, /^\d+\.\d+/);
  t.comment(`vng ${vng.version} from ${vng.from}`);
});
