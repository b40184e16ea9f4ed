/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What racecov.bpf.c counts per storage map, shared with the agent
 * (racecov.c), which reads it from the `done` map by map id.
 */
#ifndef BPFH_RACECOV_H
#define BPFH_RACECOV_H

struct racecov_counts {
	__u64 walked;		/* elements the map-free side unlinked (or tried) */
	__u64 destroyed;	/* elements the owner-destroy side unlinked (or tried) */
	__u64 met;		/* elements both sides touched */
	__u64 handshake_map_free;	/* each side unlinked half; map-free freed it */
	__u64 handshake_destroy;	/* ... destroy freed it */
	__u64 handshake_unknown;	/* ... freer not told apart (same task) */
	__u64 late_map_free;	/* met, map-free unlinked both halves and freed it */
	__u64 late_destroy;	/* met, destroy unlinked both halves and freed it */
	__u64 late_unknown;
	__u64 unfreed;		/* both halves unlinked, nobody freed it: a leak */
	__u64 orphaned;		/* half unlinked by its only visitor: a leak */
	__u64 widened;		/* elements whose map-free gap was widened */
	__u64 final;		/* 1: the map-free worker has finished */
	__u64 destroyed_before_walk;	/* owner destroys before the map-free walk began */
};

/* The object's .bss: what the agent sets and reads while it runs. */
struct racecov_globals {
	__u64 widen_ns;		/* agent: busy-wait in the map-free gap, 0 = off */
	__u64 overflow;		/* BPF: records or counts that found no room */
	__u32 walking_id;	/* BPF: map id of the map-free walk seen last */
	__u32 tracking;		/* agent: 1 while a race verb runs, else the programs do nothing */
	__u32 destroying_id;	/* BPF: map id of the owner destroy seen last */
	__u32 agent_tgid;	/* agent: its own process (the owner threads') */
	__u64 released;		/* BPF: owners whose storage goes one grace period later */
	__u32 watch_id;		/* agent: the map whose references map_put follows */
	__u32 pad;
	__s64 watch_refs;	/* BPF: its references after the last put seen */
	__u64 gather_ready;	/* BPF: watched cgroups left with only the agent's reference */
	__u64 gather_released;	/* BPF: watched cgroups whose own css was released */
	__s64 cgroups_freeing;	/* BPF: cgroups released while attached, not yet freed */
};

#endif
