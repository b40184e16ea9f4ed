/**
 * Cgroup local storage: elements on live cgroups (keyed by a cgroup directory fd from user
 * space, made by a tp_btf program from the kernel, and on new cgroups by a tp_btf/cgroup_mkdir
 * program in the race). Cgroups outlive maps as a rule; a freed map must leave none behind.
 */
import { CGRP } from './owners.js';
import { mapFreeLiveOwners, mapFreeVsRelease, recreateUnderMemcgLimit } from './storage.js';

export const cgrpMapFreeLiveOwners = mapFreeLiveOwners({
  kind: CGRP,
  name: 'cgrp-map-free-live-owners',
  summary: 'close the cgroup storage map while every cgroup stays: elements from user space (directory fd key), then by a tp_btf/sys_enter program',
  // An element costs 2.0-2.6 KiB of memcg on 6.12 and 2.1-2.9 KiB on 7.3 (1792-byte value,
  // measured): 768 cgroups exceed the 520 KiB tolerance of a 2-CPU guest at least 2.9x (512 gave
  // 1.96x once on 6.12), 1024 cgroups 3.9x.
  owners: { small: 768, default: 1024, stress: 4096 },
});

export const cgrpMapFreeVsRmdirRace = mapFreeVsRelease({
  kind: CGRP,
  name: 'cgrp-map-free-vs-rmdir-race',
  summary: 'drop the last map reference at a seeded random moment while threads remove the cgroups holding elements',
  // small: 10, so that 8 rounds are gathered (the first of each creation path is not) and the
  // tests' "most gathered rounds reach the contended path" is not decided by one odd round.
  rounds: { small: 10, default: 30, stress: 1000 },
  owners: { small: 64, default: 128, stress: 256 },
  vias: ['user', 'prog'],
  // The gather's watch list (gather_ids in bpf/racecov.bpf.c) holds 4096 cgroups.
  ownersMax: 4096,
});

export const cgrpRecreateUnderMemcgLimit = recreateUnderMemcgLimit({
  kind: CGRP,
  name: 'cgrp-recreate-under-memcg-limit',
  summary: 'on long-lived cgroups, re-create the cgroup storage map generation after generation under a memory.max just above one generation',
  owners: { small: 512, default: 768, stress: 2048 },
  generations: { small: 3, default: 6, stress: 40 },
});

export const CGRP_SCENARIOS = [cgrpMapFreeLiveOwners, cgrpMapFreeVsRmdirRace, cgrpRecreateUnderMemcgLimit] as const;
