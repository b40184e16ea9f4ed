// A launcher (vng's place in vm/qemu.ts) that ends before QEMU connects to the agent socket:
// the boot fails as a GuestError whose console tail holds what the launcher printed (vng says
// why it stopped there: "not a valid pts", "depmod: not found"), with its own exit status, in
// a pseudo-terminal and with pipes alike. The launcher here is a plain shell: what is tested is
// the harness's handling of a program that exits, not a guest.
import t from 'tap';
import { bootGuest } from '../../harness/vm/session.js';
import type { GuestSpec, Launcher } from '../../harness/vm/qemu.js';
import { GuestError } from '../../harness/util/errors.js';
import { loadNodePty, NODE_PTY_FIX } from '../../harness/util/node-pty.js';

const spec: GuestSpec = { bzImage: '/nonexistent/bzImage', initramfs: '/nonexistent/initrd', accel: 'tcg', channel: 'virtio', cpus: 1, memoryMiB: 512 };

function failingLauncher(terminal: boolean): Launcher {
  return () => ({ cmd: '/bin/sh', args: ['-c', 'echo "ERROR: the launcher stops here"; exit 3'], terminal, name: 'vng' });
}

for (const terminal of [false, true]) {
  t.test(`a launcher that exits first (${terminal ? 'pseudo-terminal' : 'pipes'}): a GuestError with its words`, async (t) => {
    if (terminal) {
      try {
        await loadNodePty();
      } catch (err) {
        t.equal((err as Error).message, NODE_PTY_FIX);
        return;
      }
    }
    let seen = '';
    const err = await bootGuest(spec, { bootDeadlineMs: 20_000, recordAgent: () => undefined, onConsole: (text) => (seen += text), launcher: failingLauncher(terminal) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof GuestError, 'a GuestError (exit 1 with the console tail), not an internal error');
    t.match((err as Error).message, /^guest did not start: vng exited \(3\) before QEMU connected to the agent socket$/);
    t.match((err as GuestError).consoleTail, /ERROR: the launcher stops here/);
    // What the run's console.log gets: the terminal's line discipline adds \r to every line.
    t.equal(seen, 'ERROR: the launcher stops here\n', 'the console as printed, without carriage returns');
  });
}
