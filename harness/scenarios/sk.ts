/**
 * Socket local storage: the case the series review insisted on. Sockets are often long-lived
 * connections; when their map goes away, the elements must go with it, or the memcg and the
 * sockets' optmem stay charged and a re-created map hits the memcg limit.
 */
import { SK } from './owners.js';
import { mapFreeLiveOwners, mapFreeVsRelease, recreateUnderMemcgLimit } from './storage.js';

export const skMapFreeLiveOwners = mapFreeLiveOwners({
  kind: SK,
  name: 'sk-map-free-live-owners',
  summary: 'close the sk storage map while every socket stays open: elements created from user space, then by a cgroup/setsockopt program',
  // One lingering element per socket costs ~400 B of memcg: 4096 sockets exceed the 520 KiB
  // tolerance of a 2-CPU guest 3x, 16384 sockets 12x. optmem is exact at any size.
  owners: { small: 4096, default: 16384, stress: 65536 },
});

export const skMapFreeVsCloseRace = mapFreeVsRelease({
  kind: SK,
  name: 'sk-map-free-vs-close-race',
  summary: 'drop the last map reference at a seeded random moment while threads close the sockets',
  rounds: { small: 10, default: 100, stress: 2000 },
  owners: { small: 512, default: 1024, stress: 1024 },
  vias: ['user'],
});

export const skRecreateUnderMemcgLimit = recreateUnderMemcgLimit({
  kind: SK,
  name: 'sk-recreate-under-memcg-limit',
  summary: 'on long-lived sockets, re-create the map generation after generation (user space and program alternating) under a memory.max just above one generation',
  owners: { small: 4096, default: 8192, stress: 16384 },
  generations: { small: 3, default: 6, stress: 40 },
});

export const SK_SCENARIOS = [skMapFreeLiveOwners, skMapFreeVsCloseRace, skRecreateUnderMemcgLimit] as const;
