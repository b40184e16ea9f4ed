/**
 * Task local storage: elements on live threads (keyed by a thread pidfd from user space, made
 * by a tp_btf program from the kernel). Threads outlive maps all the time (daemons with
 * per-thread state); a freed map must take its elements off every live thread.
 */
import { TASK } from './owners.js';
import { mapFreeLiveOwners, mapFreeVsRelease, recreateUnderMemcgLimit } from './storage.js';

export const taskMapFreeLiveOwners = mapFreeLiveOwners({
  kind: TASK,
  name: 'task-map-free-live-owners',
  summary: 'close the task storage map while every thread stays alive: elements from user space (pidfd key), then by a tp_btf/sys_enter program',
  // An element costs 2.3-2.5 KiB of memcg on 6.12 and 2.7-3.4 KiB on 7.3 (1792-byte value,
  // measured): 768 threads exceed the 520 KiB tolerance of a 2-CPU guest at least 3.3x (512
  // left too thin a margin), 1024 threads 4.4x.
  owners: { small: 768, default: 1024, stress: 4096 },
});

export const taskMapFreeVsExitRace = mapFreeVsRelease({
  kind: TASK,
  name: 'task-map-free-vs-exit-race',
  summary: 'drop the last map reference at a seeded random moment while the threads holding elements exit',
  // small: 12, since about half of the rounds reach the contended path (15-22 of 30): with 6, a
  // loaded host saw 0 of 6, and the tests that ask for at least one would cry wolf.
  rounds: { small: 12, default: 30, stress: 1000 },
  owners: { small: 64, default: 128, stress: 256 },
  vias: ['user', 'prog'],
});

export const taskRecreateUnderMemcgLimit = recreateUnderMemcgLimit({
  kind: TASK,
  name: 'task-recreate-under-memcg-limit',
  summary: 'on long-lived threads, re-create the task storage map generation after generation under a memory.max just above one generation',
  owners: { small: 512, default: 768, stress: 2048 },
  generations: { small: 3, default: 6, stress: 40 },
});

export const TASK_SCENARIOS = [taskMapFreeLiveOwners, taskMapFreeVsExitRace, taskRecreateUnderMemcgLimit] as const;
