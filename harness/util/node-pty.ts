/**
 * node-pty, an optional native dependency: loaded only where a pseudo-terminal must be made on
 * this side (vng, which insists on a terminal-like stdout, runs in one; the shell's tests drive
 * `bpf-harness shell` in one, as a user's terminal would), so that `npm run vm-test` and `npm
 * test` never depend on its build. Missing: one line naming the fix.
 */
import { SetupError } from './errors.js';

export type NodePty = typeof import('node-pty');

export const NODE_PTY_FIX = 'node-pty is not installed (an optional dependency with a native part): run npm install node-pty, and approve its install script if npm asks (npm install-scripts approve node-pty)';

export async function loadNodePty(): Promise<NodePty> {
  try {
    return await import('node-pty');
  } catch {
    throw new SetupError(NODE_PTY_FIX);
  }
}
