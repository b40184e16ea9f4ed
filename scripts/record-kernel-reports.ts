/**
 * Records real kernel bug reports from a Debian guest for the kernel-log scanner's fixtures
 * (test/fixtures/verdict/, see its README): boots the kernel with bpf/testmod/bpfh_warn.ko in
 * the initramfs and has the agent load it once per report, each step preceded by a
 * `fixture-step:NAME` record written to /dev/kmsg from user space (facility 1, which the
 * scanner ignores). Ends with `echo c > /proc/sysrq-trigger` (a real panic on the console).
 *
 *   node dist/scripts/record-kernel-reports.js debian:7.3 OUTPUT_PREFIX STEP[,STEP...]
 *
 * STEPs are bpfh_warn's reports (bpf/testmod/bpfh_warn.c); a list corruption ends in BUG() and
 * leaves the module loader in a state that breaks the next load, so give it last, one per boot.
 * Writes OUTPUT_PREFIX-boot.kmsg (the boot alone), OUTPUT_PREFIX.kmsg (every record after the
 * boot, read before the panic) and OUTPUT_PREFIX.console.log (the console, panic included).
 * It wires the agent without the console's fatal-error alarm, so the agent can still be asked
 * for the log after an oops.
 */
import { writeFileSync } from 'node:fs';
import { AgentClient } from '../harness/agent/client.js';
import { resolveAndBuildKernel } from '../harness/kernel-build/tree-kernel.js';
import { GuestOps } from '../harness/agent/guest-ops.js';
import { sleep } from '../harness/util/deadline.js';
import { chooseChannel } from '../harness/vm/channel.js';
import { buildGuestInitramfs } from '../harness/vm/guest-image.js';
import { fileEntry } from '../harness/vm/initramfs.js';
import { startGuest } from '../harness/vm/qemu.js';
import { ensureTestModule, TESTMOD_GUEST_PATH } from '../harness/vm/testmod.js';

const STEPS = ['warn', 'warn-fmt', 'refcount', 'kprobe-warn', 'list-add', 'list-del'];

async function main(): Promise<void> {
  const [spec, prefix, stepList] = process.argv.slice(2);
  const steps = (stepList ?? '').split(',').filter((s) => s);
  if (!spec || !prefix || steps.length === 0 || steps.some((s) => !STEPS.includes(s))) throw new Error(`usage: record-kernel-reports.js debian:<series> OUTPUT_PREFIX STEP[,STEP...] (steps: ${STEPS.join(', ')})`);
  const log = (l: string): void => void process.stderr.write(`${l}\n`);
  const kernel = await resolveAndBuildKernel(spec, { log });
  const mod = await ensureTestModule(kernel, { log });
  const image = buildGuestInitramfs([fileEntry(TESTMOD_GUEST_PATH.slice(1), mod.path, 0o644)]);
  const channel = chooseChannel(kernel.config);
  let consoleText = '';
  const guest = await startGuest({ bzImage: kernel.bzImage, initramfs: image.path, accel: 'tcg', channel: channel.kind, cpus: 2, memoryMiB: 1024 }, (t) => {
    consoleText += t;
  });
  try {
    const agent = new AgentClient(guest.agentSocket, () => undefined);
    await agent.ready(180_000);
    const ops = new GuestOps(agent);
    const boot = (await ops.kmsg()).lines;
    writeFileSync(`${prefix}-boot.kmsg`, boot.join('\n') + '\n');
    const reports: string[] = [];
    for (const step of steps) {
      await ops.write('/dev/kmsg', `fixture-step:${step}`);
      const r = await ops.exec('/bin/busybox', ['insmod', TESTMOD_GUEST_PATH, `report=${step}`], { out: '/tmp/insmod.out', timeoutMs: 60_000 });
      log(`${step}: insmod status ${r.status} signal ${r.signal}: ${(await ops.read('/tmp/insmod.out')).trim()}`);
      if (step === 'kprobe-warn') {
        // A map of the code under test, freed by the map-free workqueue: the probe's WARN fires there.
        await ops.openSockets(8);
        await ops.openMap('sk', 'user');
        await ops.createElems();
        await ops.closeMap();
        await ops.closeSockets();
        await sleep(3000);
        const rm = await ops.exec('/bin/busybox', ['rmmod', 'bpfh_warn'], { out: '/tmp/rmmod.out', timeoutMs: 60_000 });
        log(`rmmod status ${rm.status}`);
      }
      await sleep(1000);
      reports.push(...(await ops.kmsg()).lines);
    }
    writeFileSync(`${prefix}.kmsg`, reports.join('\n') + '\n');
    await ops.write('/dev/kmsg', 'fixture-step:sysrq-crash');
    await ops.write('/proc/sysrq-trigger', 'c').catch(() => undefined);
    await Promise.race([guest.exited, sleep(60_000)]);
  } finally {
    guest.kill();
    writeFileSync(`${prefix}.console.log`, consoleText);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
