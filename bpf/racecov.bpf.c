// SPDX-License-Identifier: GPL-2.0
/*
 * Race coverage of bpf_selem_unlink_nofail() (kernels with the lockless
 * local storage unlink series, 7.2+): for every storage element, did the
 * map-free side (bpf_local_storage_map_free(), b != NULL) and the
 * owner-destroy side (bpf_local_storage_destroy(), b == NULL) both unlink
 * it, did each side unlink only half of it (so that the per-selem state
 * handshake decided who frees it), and who freed it.
 *
 * Per element, a record keyed by the selem pointer collects what each side
 * left in selem->state and which side freed it (kvfree_call_rcu(): what is
 * left of bpf_selem_free() inlined into bpf_selem_unlink_nofail()).
 * Attached and tracking only while the agent's race verb runs (g.tracking);
 * the kernel skips a program that is already running on the CPU, counted as
 * recursion misses, so the counts are a floor: in the sk race a softirq
 * (UDP sockets are destructed in RCU callbacks) that lands while the same
 * program runs for a TCP close in task context on that CPU skips the whole
 * batch; the thread and cgroup races, whose destroys all run in callbacks
 * and work items, miss none.
 * When both sides are done the element is classified into its map's counts;
 * elements only one side touched are classified when the map-free worker
 * leaves bpf_local_storage_map_free(), and the map's counts are then moved
 * to `done`, keyed by the map id (remembered when elements are created, in
 * bpf_local_storage_update()), for the agent to read.
 *
 * Widening (widen_ns > 0): when the map-free worker has just unlinked an
 * element from its bucket (fexit of bpf_obj_free_fields(), called under
 * b->lock with IRQs off), queue the ring buffer's irq_work on this CPU. Its
 * self-IPI is delivered when raw_res_spin_unlock_irqrestore() re-enables
 * IRQs, between the two lock sections of bpf_selem_unlink_nofail(), where no
 * traceable function is called; the interrupt (__sysvec_irq_work; arm64's
 * IPI handler) then
 * busy-waits until the owner-destroy side has been through that element, or
 * widen_ns passed (16 elements per map at most). An owner destroyed
 * meanwhile unlinks the element from its storage while map-free holds it
 * half unlinked. The hold is inside the walk's RCU read section: an owner
 * whose destroy still waits for a grace period cannot come during it.
 *
 * The release counters (drop=release, drop=gather) are at the end of the
 * file.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "racecov.h"

#define SIDE_MAP_FREE	1
#define SIDE_DESTROY	2

/* selem->state bits (include/linux/bpf_local_storage.h, 7.2+) */
#define SELEM_MAP_UNLINKED	(1 << 0)
#define SELEM_STORAGE_UNLINKED	(1 << 1)
#define SELEM_UNLINKED		(SELEM_MAP_UNLINKED | SELEM_STORAGE_UNLINKED)
#define SELEM_TOFREE		(1 << 2)

/* The longest hold, and how many elements of one map are held. */
#define WIDEN_MAX_NS		(20 * 1000 * 1000)
#define WIDEN_MAX_PER_MAP	16

struct selem_rec {
	__u64 smap;
	__u64 pid[3];		/* per side: pid_tgid inside the call */
	__u32 state[3];		/* per side: selem->state when it returned */
	__u8 in[3];		/* per side: inside bpf_selem_unlink_nofail() */
	__u8 done[3];		/* per side: returned from it */
	__u8 freed_by;		/* side that freed it, or 0 */
};

/* The agent reads and writes it through the mmapped .bss. */
struct racecov_globals g;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct selem_rec);
} selems SEC(".maps");

/* Counts of maps being freed (or not yet), keyed by the smap pointer. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct racecov_counts);
} active SEC(".maps");

/* Counts of freed maps, keyed by map id; the agent reads and deletes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct racecov_counts);
} done SEC(".maps");

/* smap pointer -> map id, taken while elements are created. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
} map_ids SEC(".maps");

/* Map-free workers: pid_tgid -> the smap they free. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u64);
} workers SEC(".maps");

/* Per CPU: the next irq_work interrupt holds this element up to ns. */
struct arm {
	__u64 ns;
	__u64 selem;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct arm);
} armed SEC(".maps");

/* Only its irq_work is used: records are reserved and discarded at once. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} kick SEC(".maps");

static struct racecov_counts *counts_of(__u64 smap)
{
	struct racecov_counts zero = {}, *c;

	c = bpf_map_lookup_elem(&active, &smap);
	if (c)
		return c;
	bpf_map_update_elem(&active, &smap, &zero, BPF_NOEXIST);
	c = bpf_map_lookup_elem(&active, &smap);
	if (!c)
		__sync_fetch_and_add(&g.overflow, 1);
	return c;
}

/* Puts one element whose record is complete (or final) into its map's counts. */
static void classify(struct selem_rec *r)
{
	struct racecov_counts *c = counts_of(r->smap);
	__u32 st = r->state[SIDE_MAP_FREE] | r->state[SIDE_DESTROY];
	bool mf = r->done[SIDE_MAP_FREE], d = r->done[SIDE_DESTROY];

	if (!c)
		return;
	if (mf)
		__sync_fetch_and_add(&c->walked, 1);
	if (d)
		__sync_fetch_and_add(&c->destroyed, 1);
	if (!mf || !d) {
		/* half unlinked by its only visitor: nobody will free it */
		if ((st & SELEM_UNLINKED) && !(st & SELEM_TOFREE))
			__sync_fetch_and_add(&c->orphaned, 1);
		return;
	}
	__sync_fetch_and_add(&c->met, 1);
	/*
	 * Each side that unlinked only half sets its bit; the second one turns
	 * SELEM_UNLINKED into SELEM_TOFREE (the bits are replaced) and frees.
	 * A side that unlinked both halves leaves the state alone.
	 */
	if (st & SELEM_TOFREE) {
		if (r->freed_by == SIDE_MAP_FREE)
			__sync_fetch_and_add(&c->handshake_map_free, 1);
		else if (r->freed_by == SIDE_DESTROY)
			__sync_fetch_and_add(&c->handshake_destroy, 1);
		else
			__sync_fetch_and_add(&c->handshake_unknown, 1);
	} else if ((st & SELEM_UNLINKED) == SELEM_UNLINKED) {
		__sync_fetch_and_add(&c->unfreed, 1);
	} else if (r->freed_by == SIDE_MAP_FREE) {
		__sync_fetch_and_add(&c->late_map_free, 1);
	} else if (r->freed_by == SIDE_DESTROY) {
		__sync_fetch_and_add(&c->late_destroy, 1);
	} else {
		__sync_fetch_and_add(&c->late_unknown, 1);
	}
}

static void destroyed_before_walk(__u64 smap)
{
	struct racecov_counts *c = counts_of(smap);

	if (c)
		__sync_fetch_and_add(&c->destroyed_before_walk, 1);
}

static __u64 smap_of(struct bpf_local_storage_elem *selem)
{
	return (__u64)BPF_CORE_READ(selem, sdata.smap);
}

SEC("fentry/bpf_selem_unlink_nofail")
int BPF_PROG(nofail_enter, struct bpf_local_storage_elem *selem, void *b)
{
	__u64 key = (__u64)selem, pid = bpf_get_current_pid_tgid();
	int side = b ? SIDE_MAP_FREE : SIDE_DESTROY;
	struct selem_rec fresh = {}, *r;
	__u64 smap, *worker;
	__u32 *id;

	if (!g.tracking)
		return 0;
	smap = smap_of(selem);
	if (side == SIDE_MAP_FREE) {
		worker = bpf_map_lookup_elem(&workers, &pid);
		if (worker)
			smap = *worker;
	}
	id = bpf_map_lookup_elem(&map_ids, &smap);
	if (id && side == SIDE_MAP_FREE) {
		g.walking_id = *id;
	} else if (id) {
		g.destroying_id = *id;
		/* rounds run one after the other: its walk has not begun */
		if (g.walking_id != *id)
			destroyed_before_walk(smap);
	}
	r = bpf_map_lookup_elem(&selems, &key);
	if (r && smap && r->smap != smap) {
		/* the address was freed and reused by an element of another map */
		classify(r);
		bpf_map_delete_elem(&selems, &key);
		r = NULL;
	}
	if (!r) {
		fresh.smap = smap;
		/* EEXIST: the other side made it just now; use theirs */
		bpf_map_update_elem(&selems, &key, &fresh, BPF_NOEXIST);
		r = bpf_map_lookup_elem(&selems, &key);
		if (!r) {
			__sync_fetch_and_add(&g.overflow, 1);
			return 0;
		}
	}
	if (!r->smap)
		r->smap = smap;
	r->pid[side] = pid;
	r->in[side] = 1;
	return 0;
}

SEC("fexit/bpf_selem_unlink_nofail")
int BPF_PROG(nofail_exit, struct bpf_local_storage_elem *selem, void *b)
{
	int side = b ? SIDE_MAP_FREE : SIDE_DESTROY;
	__u64 key = (__u64)selem;
	struct selem_rec *r;

	if (!g.tracking)
		return 0;
	r = bpf_map_lookup_elem(&selems, &key);
	if (!r)
		return 0;
	r->state[side] = BPF_CORE_READ(selem, state.counter);
	r->in[side] = 0;
	r->done[side] = 1;
	if (r->done[SIDE_MAP_FREE] && r->done[SIDE_DESTROY]) {
		classify(r);
		bpf_map_delete_elem(&selems, &key);
	}
	return 0;
}

/*
 * Which side's call frees it: the one inside the call on this task.
 * bpf_selem_free() is inlined into bpf_selem_unlink_nofail(); what is left
 * of it is kfree_rcu(selem, rcu), i.e. kvfree_call_rcu(&selem->rcu, selem).
 */
SEC("fentry/kvfree_call_rcu")
int BPF_PROG(selem_free, struct callback_head *head, void *ptr)
{
	__u64 key = (__u64)ptr, pid = bpf_get_current_pid_tgid();
	struct selem_rec *r;

	if (!g.tracking)
		return 0;
	r = bpf_map_lookup_elem(&selems, &key);
	if (!r)
		return 0;
	if (r->in[SIDE_MAP_FREE] && r->pid[SIDE_MAP_FREE] == pid &&
	    !(r->in[SIDE_DESTROY] && r->pid[SIDE_DESTROY] == pid))
		r->freed_by = SIDE_MAP_FREE;
	else if (r->in[SIDE_DESTROY] && r->pid[SIDE_DESTROY] == pid &&
		 !(r->in[SIDE_MAP_FREE] && r->pid[SIDE_MAP_FREE] == pid))
		r->freed_by = SIDE_DESTROY;
	return 0;
}

/*
 * Every element is created here while its map is alive: remember the map's
 * id (the kernel clears map->id when the last reference goes, before
 * bpf_local_storage_map_free() runs; bpf_map_free_id() is inlined).
 */
SEC("fentry/bpf_local_storage_update")
int BPF_PROG(storage_update, void *owner, struct bpf_local_storage_map *smap)
{
	__u64 key = (__u64)smap;
	__u32 id;

	if (!g.tracking)
		return 0;
	id = BPF_CORE_READ(smap, map.id);
	if (id)
		bpf_map_update_elem(&map_ids, &key, &id, BPF_ANY);
	return 0;
}

SEC("fentry/bpf_local_storage_map_free")
int BPF_PROG(map_free_enter, struct bpf_map *map)
{
	__u64 pid = bpf_get_current_pid_tgid(), smap = (__u64)map;

	if (!g.tracking)
		return 0;
	bpf_map_update_elem(&workers, &pid, &smap, BPF_ANY);
	return 0;
}

static long finish_one(struct bpf_map *m, __u64 *key, struct selem_rec *r,
		       __u64 *smap)
{
	if (r->smap != *smap)
		return 0;
	classify(r);
	bpf_map_delete_elem(m, key);
	return 0;
}

SEC("fexit/bpf_local_storage_map_free")
int BPF_PROG(map_free_exit, struct bpf_map *map)
{
	__u64 pid = bpf_get_current_pid_tgid(), smap = (__u64)map;
	struct racecov_counts *c;
	__u32 *id;

	if (!g.tracking)
		return 0;
	bpf_map_delete_elem(&workers, &pid);
	bpf_for_each_map_elem(&selems, finish_one, &smap, 0);
	id = bpf_map_lookup_elem(&map_ids, &smap);
	c = counts_of(smap);
	if (id && c) {
		c->final = 1;
		bpf_map_update_elem(&done, id, c, BPF_ANY);
	}
	bpf_map_delete_elem(&active, &smap);
	bpf_map_delete_elem(&map_ids, &smap);
	return 0;
}

/*
 * Under b->lock of the map-free worker, right after it unlinked the element
 * from the bucket: arm the busy-wait and raise the irq_work that runs it as
 * soon as the lock section ends.
 */
SEC("fexit/bpf_obj_free_fields")
int BPF_PROG(free_fields_exit, const struct btf_record *rec, void *obj)
{
	__u64 pid = bpf_get_current_pid_tgid(), key, ns = g.widen_ns;
	struct racecov_counts *c;
	struct selem_rec *r;
	struct arm *cpu_armed;
	__u32 zero = 0;
	void *kick_rec;

	if (!ns || !g.tracking)
		return 0;
	key = (__u64)obj - bpf_core_field_offset(struct bpf_local_storage_elem, sdata) -
	      bpf_core_field_offset(struct bpf_local_storage_data, data);
	r = bpf_map_lookup_elem(&selems, &key);
	if (!r || !r->in[SIDE_MAP_FREE] || r->pid[SIDE_MAP_FREE] != pid ||
	    r->done[SIDE_DESTROY])
		return 0;
	c = counts_of(r->smap);
	cpu_armed = bpf_map_lookup_elem(&armed, &zero);
	if (!c || !cpu_armed || c->widened >= WIDEN_MAX_PER_MAP)
		return 0;
	kick_rec = bpf_ringbuf_reserve(&kick, 8, 0);
	if (!kick_rec)
		return 0;
	cpu_armed->ns = ns > WIDEN_MAX_NS ? WIDEN_MAX_NS : ns;
	cpu_armed->selem = key;
	__sync_fetch_and_add(&c->widened, 1);
	bpf_ringbuf_discard(kick_rec, BPF_RB_FORCE_WAKEUP);
	return 0;
}

struct spin_ctx {
	__u64 until;
	__u64 selem;
};

/* Until the owner's destroy has been through this element, or time is up. */
static long spin_step(__u64 i, struct spin_ctx *s)
{
	struct selem_rec *r = bpf_map_lookup_elem(&selems, &s->selem);

	if (!r || r->done[SIDE_DESTROY])
		return 1;
	return bpf_ktime_get_ns() >= s->until;
}

/* Holds this CPU in its irq_work interrupt when the arming asked for it. */
static void kick_hold(void)
{
	struct spin_ctx s;
	__u32 zero = 0;
	struct arm *cpu_armed = bpf_map_lookup_elem(&armed, &zero);

	if (!cpu_armed || !cpu_armed->ns)
		return;
	s.until = bpf_ktime_get_ns() + cpu_armed->ns;
	s.selem = cpu_armed->selem;
	cpu_armed->ns = 0;
	bpf_loop(1 << 23, spin_step, &s, 0);
}

#if defined(__TARGET_ARCH_arm64)
/*
 * arm64 has no irq_work vector: its self-IPI goes through the IPI handler,
 * which names the IPI to the ipi_entry tracepoint ("IRQ work interrupts",
 * ipi_types[] in arch/arm64/kernel/smp.c) before irq_work_run() (in a file
 * built without ftrace). Other IPIs pass through untouched.
 */
SEC("tp_btf/ipi_entry")
int BPF_PROG(kick_irq_work, const char *reason)
{
	__u64 head;

	/* "IRQ work" as a little-endian word: no memcmp() in BPF */
	if (bpf_probe_read_kernel(&head, sizeof(head), reason) ||
	    head != 0x6b726f7720515249ULL)
		return 0;
	kick_hold();
	return 0;
}
#else
/*
 * The irq_work interrupt itself (bpf_ringbuf_notify() is not traceable);
 * while this CPU is armed, no other irq_work can have raised it: IRQs were
 * off from the arming to here.
 */
SEC("fentry/__sysvec_irq_work")
int BPF_PROG(kick_irq_work, struct pt_regs *regs)
{
	kick_hold();
	return 0;
}
#endif

/*
 * The owner's storage is destroyed one grace period from now (drop=release):
 * for a thread, delayed_put_task_struct() puts its last reference, which
 * queues __put_task_struct_rcu_cb() (free_task(), with the storage) for the
 * next grace period (put_task_struct() always defers since 6.x); for a
 * cgroup, its own css is released and css_free_rwork_fn (with the storage)
 * runs a grace period later. Dropping the map then makes its map-free walk,
 * which begins after a grace period of its own, start when the owners'
 * destroys do. (put_task_struct_rcu_user() was one grace period too early:
 * the threads' storage went a grace period after the walk, which holds off
 * grace periods while it holds the gap.)
 */
SEC("fentry/delayed_put_task_struct")
int BPF_PROG(task_released, struct callback_head *rhp)
{
	struct task_struct *task;

	if (!g.tracking)
		return 0;
	task = (void *)rhp - bpf_core_field_offset(struct task_struct, rcu);
	if (BPF_CORE_READ(task, tgid) == g.agent_tgid)
		__sync_fetch_and_add(&g.released, 1);
	return 0;
}

/*
 * A reference to the watched map is put (via=prog rounds whose programs go
 * before the race): the agent waits until only its own file is left.
 */
SEC("fentry/bpf_map_put")
int BPF_PROG(map_put, struct bpf_map *map)
{
	if (!g.tracking || !g.watch_id || BPF_CORE_READ(map, id) != g.watch_id)
		return 0;
	__sync_lock_test_and_set(&g.watch_refs,
				 BPF_CORE_READ(map, refcnt.counter) - 1);
	return 0;
}

/*
 * drop=gather (cgroups): the agent holds one reference on each of the
 * round's cgroups (a cgroup array entry) while they are removed, and puts
 * them all at once when nothing else holds them: then every cgroup's own
 * css is released in the same moment on the agent's CPU, and their storage
 * frees are queued there together a grace period later, where the agent
 * keeps them waiting until the map-free walk begins (bpf/race.c, gather()).
 * Without it each cgroup's release waits for its own chain (its
 * controllers' css freed, its BPF state released: several grace periods and
 * work items after its rmdir), and the destroys trickle in one by one.
 * The other references go in css_free_rwork_fn() (a controller's css, which
 * holds its cgroup) and cgroup_bpf_release(); after each, a watched cgroup
 * whose own css, killed, counts 1 has only the agent's reference left.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);	/* cgroup id */
	__type(value, __u64);	/* GATHER_WATCHED, then GATHER_READY */
} gather_ids SEC(".maps");

#define GATHER_WATCHED	1
#define GATHER_READY	2

/*
 * css_free_rwork_fn() workers: pid_tgid -> the cgroup of the css it frees,
 * or CSS_FREEING_OWN for a cgroup's own css whose release was seen.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u64);
} css_freeing SEC(".maps");

#define CSS_FREEING_OWN	1

/*
 * Cgroups whose own css was released while the tracer is attached and
 * whose free (css_free_rwork_fn, a grace period later) has not returned,
 * counted in g.cgroups_freeing whether or not a verb tracks: the agent
 * detaches only once it is 0. Detaching rewrites the trampoline that
 * css_free_rwork_fn() returns into; multi-threaded TCG, rewriting it under a
 * kworker inside the function, once ran a stale int3 (an oops in a fault
 * run: a false alarm).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);	/* the css */
	__type(value, __u8);
} own_css_released SEC(".maps");

#define PERCPU_REF_ATOMIC	1UL	/* __PERCPU_REF_ATOMIC: killed, switched */

static void note_if_only_agent_ref(struct cgroup *cgrp)
{
	__u64 id = BPF_CORE_READ(cgrp, kn, id);
	unsigned long ptr;
	__u64 *state;

	state = bpf_map_lookup_elem(&gather_ids, &id);
	if (!state || *state != GATHER_WATCHED)
		return;
	ptr = BPF_CORE_READ(cgrp, self.refcnt.percpu_count_ptr);
	if (!(ptr & PERCPU_REF_ATOMIC) ||
	    BPF_CORE_READ(cgrp, self.refcnt.data, count.counter) != 1)
		return;
	/* counted once: two CPUs may both see 1 */
	if (__sync_val_compare_and_swap(state, GATHER_WATCHED, GATHER_READY) ==
	    GATHER_WATCHED)
		__sync_fetch_and_add(&g.gather_ready, 1);
}

SEC("fentry/css_free_rwork_fn")
int BPF_PROG(css_free_enter, struct work_struct *work)
{
	__u64 pid = bpf_get_current_pid_tgid(), cgrp;
	struct cgroup_subsys_state *css;

	css = (void *)work - bpf_core_field_offset(struct cgroup_subsys_state, destroy_rwork) -
	      bpf_core_field_offset(struct rcu_work, work);
	if (!BPF_CORE_READ(css, ss)) {
		__u64 key = (__u64)css, own = CSS_FREEING_OWN;

		if (!bpf_map_delete_elem(&own_css_released, &key))
			bpf_map_update_elem(&css_freeing, &pid, &own, BPF_ANY);
		return 0;
	}
	if (!g.tracking)
		return 0;
	cgrp = (__u64)BPF_CORE_READ(css, cgroup);
	bpf_map_update_elem(&css_freeing, &pid, &cgrp, BPF_ANY);
	return 0;
}

/* The css may be freed now; its cgroup is not while the agent holds it. */
SEC("fexit/css_free_rwork_fn")
int BPF_PROG(css_free_exit, struct work_struct *work)
{
	__u64 pid = bpf_get_current_pid_tgid(), *cgrp;

	cgrp = bpf_map_lookup_elem(&css_freeing, &pid);
	if (!cgrp)
		return 0;
	if (*cgrp == CSS_FREEING_OWN)
		__sync_fetch_and_sub(&g.cgroups_freeing, 1);
	else if (g.tracking)
		note_if_only_agent_ref((struct cgroup *)*cgrp);
	bpf_map_delete_elem(&css_freeing, &pid);
	return 0;
}

SEC("fexit/cgroup_bpf_release")
int BPF_PROG(cgroup_bpf_released, struct work_struct *work)
{
	if (!g.tracking)
		return 0;
	note_if_only_agent_ref((void *)work - bpf_core_field_offset(struct cgroup, bpf.release_work));
	return 0;
}

/*
 * A cgroup's own css released (drop=release, drop=gather): counted on the
 * way out, once css_release_work_fn() has queued its free (the css is freed
 * a grace period later, so it can still be read here).
 */
SEC("fexit/css_release_work_fn")
int BPF_PROG(css_released, struct work_struct *work)
{
	struct cgroup_subsys_state *css;
	__u64 id, key;
	__u8 one = 1;

	css = (void *)work - bpf_core_field_offset(struct cgroup_subsys_state, destroy_work);
	if (BPF_CORE_READ(css, ss))
		return 0;
	key = (__u64)css;
	if (!bpf_map_update_elem(&own_css_released, &key, &one, BPF_NOEXIST))
		__sync_fetch_and_add(&g.cgroups_freeing, 1);
	if (!g.tracking)
		return 0;
	__sync_fetch_and_add(&g.released, 1);
	/* a watched one (drop=gather): counted apart from any other cgroup's */
	id = BPF_CORE_READ(css, cgroup, kn, id);
	if (!bpf_map_delete_elem(&gather_ids, &id))
		__sync_fetch_and_add(&g.gather_released, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
