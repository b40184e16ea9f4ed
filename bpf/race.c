// SPDX-License-Identifier: GPL-2.0
/*
 * The race verb: per round, the owners of a fresh map's elements are
 * destroyed by closer threads (sockets closed, threads told to exit,
 * cgroups removed) while a dropper thread closes the map object (the last
 * map reference) after a seeded pseudo-random number of owner releases.
 */
#include <errno.h>
#include <pthread.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "agent.h"
#include "racecov.h"

#define RACE_MAX_THREADS	64
/* How long closers wait for the map-free walk before they go on anyway. */
#define WALK_WAIT_US		(5 * 1000 * 1000)
/* How long a via=prog round waits for its closed programs' map references. */
#define PROG_REFS_WAIT_US	(10 * 1000 * 1000)
/* How long a drop=gather round waits for its cgroups' other references. */
#define GATHER_WAIT_US		(10 * 1000 * 1000)
/*
 * How long its gather keeps a CPU: two grace periods, 20-60 ms under TCG on
 * an idle host, longer on a loaded one; below the 950 ms of each second a
 * SCHED_FIFO thread may have.
 */
#define GATHER_HOG_US		(1000 * 1000)
/* How long the coverage of the last rounds may take to be final. */
#define COVERAGE_WAIT_US	(30 * 1000 * 1000)

/* One round's owners, whatever their kind. */
struct round_owners {
	enum owner_kind kind;
	struct sockset socks;
	struct threadset threads;
	struct cgset cgroups;
	bool keep_first;	/* hold-map fault: owner 0 is not released */
};

struct race_round {
	struct round_owners *own;
	size_t n;		/* owners */
	unsigned int threads;
	struct stgmap *map;
	atomic_uint arrived;	/* start gate */
	atomic_size_t tickets;	/* closes started or about to start */
	atomic_size_t closed;	/* closes done */
	atomic_bool dropping;
	atomic_size_t close_errors;
	size_t target;		/* drop after this many closes */
	size_t observed;	/* closes done when dropping */
	bool yield;		/* more threads than CPUs: do not hog one */
	struct racecov *cov;	/* with after_walk: tells when the walk began */
	bool after_walk;	/* late releases wait for the map-free walk */
	bool drop_on_destroy;	/* the drop waits for the first owner destroy */
	bool drop_on_release;	/* ... for every owner's last grace period */
	int gather_fd;		/* drop=gather: cgroup array holding each cgroup, or -1 */
	unsigned long long ready0;	/* the tracer's gather_ready count before */
	unsigned long long gather_released0;	/* ... and its gather_released */
	atomic_bool gathered;	/* the gather put every cgroup's last reference */
	unsigned long long released0;	/* the tracer's release count before */
	bool pin;		/* dropper on CPU 0, closers on the others */
	long ncpus;
	__u32 map_id;
	atomic_size_t wait_timeouts;
	atomic_bool gave_up;	/* a wait timed out: the round waits no more */
};

struct closer {
	struct race_round *rr;
	unsigned int index;
	pthread_t thread;
};

/* splitmix64: small, fast, and a seed gives the same sequence anywhere. */
static __u64 splitmix64(__u64 *state)
{
	__u64 z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The number of closes after which round `round` drops the map: [0, n]. */
static size_t drop_target(__u64 seed, __u64 round, size_t n)
{
	__u64 state = seed ^ (round * 0xd1b54a32d192ed03ULL);

	return splitmix64(&state) % ((__u64)n + 1);
}

/* mono_us() in the unsigned type of the race's deadlines */
static __u64 now_us(void)
{
	return (__u64)mono_us();
}

/*
 * Waits until the tracer has seen this round's map in `seen` (or gives up
 * after WALK_WAIT_US, counted in walkTimeouts). after=walk: the releases
 * beyond the target wait until the map-free worker has begun to unlink this
 * round's elements (it first waits for an RCU grace period, by which time
 * releases started at the drop are long done). drop=destroy: the dropper
 * waits until the first owner's storage is being destroyed (cgroups are
 * freed several grace periods and work items after rmdir).
 */
static void wait_for(struct race_round *rr,
		     __u32 (*seen)(const struct racecov *c))
{
	__u64 deadline = now_us() + WALK_WAIT_US;

	while (seen(rr->cov) != rr->map_id) {
		if (atomic_load(&rr->gave_up))
			return;
		if (now_us() > deadline) {
			/* once per round: the other releases do not wait again */
			atomic_store(&rr->gave_up, true);
			atomic_fetch_add(&rr->wait_timeouts, 1);
			return;
		}
		cpu_relax();
		if (rr->yield)
			sched_yield();
	}
}

/*
 * drop=release: the map goes when every owner has entered its last grace
 * period, so the map-free walk (which begins a grace period after the drop)
 * runs while the owners' storage is being destroyed.
 */
static void wait_for_released(struct race_round *rr)
{
	__u64 deadline = now_us() + WALK_WAIT_US;

	while (racecov_released(rr->cov) - rr->released0 < rr->n) {
		if (now_us() > deadline) {
			atomic_fetch_add(&rr->wait_timeouts, 1);
			return;
		}
		cpu_relax();
		if (rr->yield)
			sched_yield();
	}
}

static void relax(const struct race_round *rr)
{
	if (rr->yield)
		sched_yield();
	else
		cpu_relax();
}

/*
 * A spinning start gate: every thread is running when the race starts, none
 * is still being woken up from a futex.
 */
static void gate(struct race_round *rr)
{
	atomic_fetch_add(&rr->arrived, 1);
	while (atomic_load(&rr->arrived) < rr->threads + 1)
		relax(rr);
}

/* Destroys owner i: 0 or -1 (counted in closeErrors). */
static int release_owner(struct round_owners *o, size_t i)
{
	if (o->keep_first && i == 0)
		return 0;
	switch (o->kind) {
	case OWNER_SK:
		return close(o->socks.fd[i]) ? -1 : 0;
	case OWNER_TASK:
		/* the thread exits on its own, concurrently */
		threadset_release(&o->threads, i);
		return 0;
	case OWNER_CGRP:
		return cgset_release(&o->cgroups, i) ? -1 : 0;
	}
	return -1;
}

/*
 * A closer releases owners i, i + threads, ... A release beyond the target
 * waits until the dropper has begun to drop the map, so exactly `target`
 * closes are done when the last map reference goes, and the remaining
 * closes run against the map being freed.
 */
/*
 * pin=1: the map's last reference is dropped on CPU 0, so the map-free work
 * runs on CPU 0's kworker; closers on the other CPUs destroy owners truly in
 * parallel with it (on one CPU they would only interleave at its
 * cond_resched() between elements).
 */
static void pin_to(const struct race_round *rr, long cpu)
{
	cpu_set_t set;
	int ret;

	if (!rr->pin || rr->ncpus < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (ret)
		fprintf(stderr, "bpf-agent: race: pin to CPU %ld: %s\n", cpu,
			strerror(ret));
}

/*
 * pin=1 also needs the map-free work on CPU 0: bpf_map_put() queues it on
 * system_dfl_wq, an unbound workqueue, whose worker runs anywhere in the
 * affinity pod of the CPU that queued it (CPU 0: the drop's RCU callback).
 * The default scope makes one pod of the CPUs that share a last-level cache:
 * both CPUs of the test guests (x86 and arm64 alike) and of most real
 * machines. On an arm64 guest the worker ran on CPU 1, where the closers are,
 * in whole runs: the hold then stopped the very CPU whose destroys it waited
 * for. The "cpu" scope makes a pod of each CPU for the verb's duration; the
 * old scope is put back after (and by a target's guardian).
 * No such parameter (kernels before 6.5): nothing changed, as before.
 */
#define WQ_SCOPE_PARAM	"/sys/module/workqueue/parameters/default_affinity_scope"

/* Writes scope to the parameter: 0, or -errno. */
static int wq_scope_write(const char *scope)
{
	size_t len = strlen(scope);
	FILE *f = fopen(WQ_SCOPE_PARAM, "w");
	int ret = 0;

	if (!f)
		return -errno;
	if (fwrite(scope, 1, len, f) != len)
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

/*
 * Sets the "cpu" scope and puts the old one in saved (empty when nothing
 * was changed): 0, or -errno (no such parameter: -ENOENT).
 */
static int wq_scope_per_cpu(char *saved, size_t len)
{
	FILE *f = fopen(WQ_SCOPE_PARAM, "r");
	int ret;

	saved[0] = '\0';
	if (!f)
		return -errno;
	if (!fgets(saved, (int)len, f)) {
		ret = ferror(f) ? -EIO : -ENODATA;
		fclose(f);
		saved[0] = '\0';
		return ret;
	}
	fclose(f);
	saved[strcspn(saved, "\n")] = '\0';
	if (!strcmp(saved, "cpu")) {
		saved[0] = '\0';
		return 0;
	}
	ret = wq_scope_write("cpu");
	if (ret)
		saved[0] = '\0';
	return ret;
}

static void wq_scope_restore(const char *saved)
{
	int ret;

	if (!saved[0])
		return;
	ret = wq_scope_write(saved);
	if (ret)
		fprintf(stderr, "bpf-agent: race: restore %s to %s: %s\n",
			WQ_SCOPE_PARAM, saved, strerror(-ret));
}

/*
 * pin=1 with threads as owners: they exit (and queue their last RCU
 * callback) off CPU 0 too, so their storage is destroyed while CPU 0 holds
 * the map-free gap open.
 */
static void pin_owner_threads(const struct race_round *rr)
{
	cpu_set_t set;
	long cpu;
	size_t i;

	if (!rr->pin || rr->ncpus < 2 || rr->own->kind != OWNER_TASK)
		return;
	CPU_ZERO(&set);
	for (cpu = 1; cpu < rr->ncpus && cpu < CPU_SETSIZE; cpu++)
		CPU_SET(cpu, &set);
	for (i = 0; i < rr->own->threads.n; i++) {
		if (sched_setaffinity((pid_t)rr->own->threads.tid[i], sizeof(set),
				      &set))
			fprintf(stderr, "bpf-agent: race: pin thread %llu: %s\n",
				(unsigned long long)rr->own->threads.tid[i],
				strerror(errno));
	}
}

/* Sets this thread's policy: SCHED_FIFO (priority 1) or back to SCHED_OTHER. */
static bool set_fifo(bool fifo)
{
	struct sched_param p = { .sched_priority = fifo ? 1 : 0 };
	int ret;

	ret = pthread_setschedparam(pthread_self(),
				    fifo ? SCHED_FIFO : SCHED_OTHER, &p);
	if (ret)
		fprintf(stderr, "bpf-agent: race: %s: %s\n",
			fifo ? "SCHED_FIFO" : "SCHED_OTHER", strerror(ret));
	return !ret;
}

/*
 * drop=gather, run by closer 0 (on a CPU other than the dropper's) once its
 * share is removed. It waits until every cgroup is removed and the agent's
 * reference is the only one left on each (the tracer counts them), then
 * puts them all at once, as a SCHED_FIFO thread: every cgroup's own css is
 * released on this CPU, so its free (with the storage destroy) is queued a
 * grace period later on this CPU's cgroup_free work queue, whose kworker
 * cannot run while this thread spins here. The dropper, once a grace period
 * has passed since the releases (their frees are queued, or about to be),
 * drops the map; its map-free work runs on the other CPU, and when its walk
 * begins this thread stops spinning: the queued destroys then run here
 * while the walk holds its gap open there. (Otherwise the destroys either
 * come before the walk, or a grace period after it begins, which the walk's
 * own RCU read section holds off.) A wait that times out is counted in
 * waitTimeouts and the round goes on. Without pin=1 on 2 CPUs or more there
 * is no such hold: the puts are still gathered.
 */
static void gather(struct race_round *rr)
{
	struct timespec ts = { 0, 50 * 1000 };
	__u64 deadline = now_us() + GATHER_WAIT_US;
	bool hold, fifo;
	__u32 i;

	while (atomic_load_explicit(&rr->closed, memory_order_acquire) < rr->n &&
	       now_us() < deadline)
		relax(rr);
	/* several grace periods and work items: sleep, do not spin */
	while (racecov_gather_ready(rr->cov) - rr->ready0 < rr->n) {
		if (now_us() > deadline) {
			atomic_fetch_add(&rr->wait_timeouts, 1);
			break;
		}
		nanosleep(&ts, NULL);
	}
	/* one CPU: the map-free work could not run while this thread spins */
	hold = rr->pin && rr->ncpus >= 2;
	fifo = hold && set_fifo(true);
	for (i = 0; i < rr->n; i++)
		if (bpf_map_delete_elem(rr->gather_fd, &i))
			atomic_fetch_add(&rr->close_errors, 1);
	/* the releases run in this CPU's kworker: sleep while they do */
	while (racecov_gather_released(rr->cov) - rr->gather_released0 < rr->n) {
		if (now_us() > deadline) {
			atomic_fetch_add(&rr->wait_timeouts, 1);
			break;
		}
		nanosleep(&ts, NULL);
	}
	atomic_store_explicit(&rr->gathered, true, memory_order_release);
	deadline = now_us() + GATHER_HOG_US;
	while (hold && racecov_walking(rr->cov) != rr->map_id) {
		if (now_us() > deadline) {
			atomic_fetch_add(&rr->wait_timeouts, 1);
			break;
		}
		cpu_relax();
	}
	if (fifo)
		set_fifo(false);
}

static void *closer_fn(void *arg)
{
	struct closer *c = arg;
	struct race_round *rr = c->rr;
	size_t i;

	pin_to(rr, rr->ncpus > 1 ? 1 + c->index % (rr->ncpus - 1) : 0);
	gate(rr);
	for (i = c->index; i < rr->n; i += rr->threads) {
		if (atomic_fetch_add(&rr->tickets, 1) >= rr->target) {
			while (!atomic_load_explicit(&rr->dropping,
						     memory_order_acquire))
				relax(rr);
			if (rr->after_walk)
				wait_for(rr, racecov_walking);
		}
		if (release_owner(rr->own, i))
			atomic_fetch_add(&rr->close_errors, 1);
		atomic_fetch_add_explicit(&rr->closed, 1, memory_order_release);
	}
	if (rr->gather_fd >= 0 && c->index == 0)
		gather(rr);
	return NULL;
}

static void *dropper_fn(void *arg)
{
	struct race_round *rr = arg;

	pin_to(rr, 0);
	gate(rr);
	while (atomic_load_explicit(&rr->closed, memory_order_acquire) <
	       rr->target)
		relax(rr);
	if (rr->drop_on_destroy)
		wait_for(rr, racecov_destroying);
	if (rr->gather_fd >= 0) {
		struct timespec ts = { 0, 50 * 1000 };

		/* the gather waits for grace periods: do not hog this CPU */
		while (!atomic_load_explicit(&rr->gathered, memory_order_acquire))
			nanosleep(&ts, NULL);
		/* a grace period after the releases: their frees are queued */
		if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
			fprintf(stderr, "bpf-agent: race: membarrier: %s\n",
				strerror(errno));
	}
	if (rr->drop_on_release)
		wait_for_released(rr);
	rr->observed = atomic_load(&rr->closed);
	atomic_store_explicit(&rr->dropping, true, memory_order_release);
	stgmap_close(rr->map);
	return NULL;
}

/*
 * Runs the racing part of one round: every owner is released and the map
 * is closed. Returns 0 or -errno (then nothing was started and the caller
 * still owns the owners and the map).
 */
static int race_once(struct race_round *rr, char *err, size_t errlen)
{
	struct closer closers[RACE_MAX_THREADS];
	pthread_t dropper;
	unsigned int i, started;
	int ret;

	/*
	 * The dropper first: once it runs, the round cannot be abandoned,
	 * so a failure to start a closer is handled by closing its share
	 * from here (after the others: the gate counts it as arrived).
	 */
	ret = pthread_create(&dropper, NULL, dropper_fn, rr);
	if (ret) {
		snprintf(err, errlen, "pthread_create: %s", strerror(ret));
		return -ret;
	}
	started = 0;
	for (i = 0; i < rr->threads; i++) {
		closers[i].rr = rr;
		closers[i].index = i;
		ret = pthread_create(&closers[i].thread, NULL, closer_fn,
				     &closers[i]);
		if (ret) {
			fprintf(stderr, "bpf-agent: race: pthread_create: %s\n",
				strerror(ret));
			break;
		}
		started++;
	}
	/*
	 * Missing closers: this thread takes their places. All of them pass
	 * the gate at once, then close their shares one after the other.
	 */
	if (started < rr->threads) {
		atomic_fetch_add(&rr->arrived, rr->threads - started - 1);
		for (i = started; i < rr->threads; i++)
			closer_fn(&closers[i]);
	}
	for (i = 0; i < started; i++)
		pthread_join(closers[i].thread, NULL);
	pthread_join(dropper, NULL);
	return 0;
}

/*
 * drop=gather: the agent takes a reference on each of the round's cgroups
 * (a cgroup array entry per directory fd) and the tracer watches them.
 * 0 or -errno (then nothing is held).
 */
static int gather_hold(struct race_round *rr, const struct cgset *cg,
		       struct racecov *cov)
{
	__u32 i;
	int fd, ret;

	fd = bpf_map_create(BPF_MAP_TYPE_CGROUP_ARRAY, "bpfh_gather",
			    sizeof(__u32), sizeof(__u32), cg->n, NULL);
	if (fd < 0)
		return -errno;
	for (i = 0; i < cg->n; i++) {
		if (bpf_map_update_elem(fd, &i, &cg->fd[i], BPF_ANY)) {
			ret = -errno;
			close(fd);
			return ret;
		}
	}
	rr->ready0 = racecov_gather_ready(cov);
	rr->gather_released0 = racecov_gather_released(cov);
	ret = racecov_gather_watch(cov, cg->id, cg->n);
	if (ret) {
		close(fd);
		return ret;
	}
	rr->gather_fd = fd;
	return 0;
}

/* After the round: what the gather did not put goes with the array. */
static void gather_end(struct race_round *rr, const struct cgset *cg,
		       struct racecov *cov)
{
	if (rr->gather_fd < 0)
		return;
	racecov_gather_unwatch(cov, cg->id, cg->n);
	close(rr->gather_fd);
	rr->gather_fd = -1;
}

static int owners_make(struct round_owners *o, size_t n, unsigned int tcp,
		       const char *parent)
{
	switch (o->kind) {
	case OWNER_SK:
		return sockset_open(&o->socks, n, tcp);
	case OWNER_TASK:
		return threadset_spawn(&o->threads, n);
	case OWNER_CGRP:
		return cgset_make(&o->cgroups, parent, n);
	}
	return -EINVAL;
}

static struct ownerview owners_view(struct round_owners *o)
{
	return owner_view(o->kind, &o->socks, &o->threads, &o->cgroups);
}

/*
 * After a round (raced or abandoned): joins exited threads, removes what
 * is left, and empties the sets for the next round.
 */
static void owners_reap(struct round_owners *o)
{
	size_t failed;
	int first_errno;

	sockset_close(&o->socks);
	threadset_stop(&o->threads);
	cgset_remove(&o->cgroups, &failed, &first_errno);
}

static void owners_free(struct round_owners *o)
{
	sockset_free(&o->socks);
	threadset_free(&o->threads);
	cgset_free(&o->cgroups);
}

/*
 * progs=first: closes the round's programs and waits until their map
 * references are gone (a timeout is counted in prog_waits). 0 or -errno.
 */
static int round_closes_progs(struct racecov *cov, struct stgmap *map,
			      size_t *prog_waits)
{
	int ret;

	racecov_watch(cov, map->map_id);
	ret = stgmap_close_progs(map);
	if (!ret && !racecov_wait_refs(cov, map->map_id, 1, PROG_REFS_WAIT_US))
		(*prog_waits)++;
	racecov_watch(cov, 0);
	return ret;
}

static int parse_kind(const char *kind, enum owner_kind *out)
{
	if (!kind || !strcmp(kind, "sk"))
		*out = OWNER_SK;
	else if (!strcmp(kind, "task"))
		*out = OWNER_TASK;
	else if (!strcmp(kind, "cgrp"))
		*out = OWNER_CGRP;
	else
		return -1;
	return 0;
}

static void reply_round_coverage(struct jbuf *out, __u32 map_id,
				 const struct racecov_counts *k, bool final)
{
	jb_printf(out, "{\"mapId\":%u,\"final\":%s", map_id,
		  final ? "true" : "false");
	if (final)
		jb_printf(out, ",\"walked\":%llu,\"destroyed\":%llu,\"met\":%llu,"
			  "\"handshakeMapFree\":%llu,\"handshakeDestroy\":%llu,"
			  "\"handshakeUnknown\":%llu,\"lateMapFree\":%llu,"
			  "\"lateDestroy\":%llu,\"lateUnknown\":%llu,"
			  "\"unfreed\":%llu,\"orphaned\":%llu,\"widened\":%llu,"
			  "\"destroyedBeforeWalk\":%llu",
			  (unsigned long long)k->walked,
			  (unsigned long long)k->destroyed,
			  (unsigned long long)k->met,
			  (unsigned long long)k->handshake_map_free,
			  (unsigned long long)k->handshake_destroy,
			  (unsigned long long)k->handshake_unknown,
			  (unsigned long long)k->late_map_free,
			  (unsigned long long)k->late_destroy,
			  (unsigned long long)k->late_unknown,
			  (unsigned long long)k->unfreed,
			  (unsigned long long)k->orphaned,
			  (unsigned long long)k->widened,
			  (unsigned long long)k->destroyed_before_walk);
	jb_raw(out, "}", 1);
}

/*
 * Per round, the coverage counts of its map, once its map-free worker has
 * finished (the last rounds' maps may still be in their grace periods).
 */
static bool is_held(unsigned long long id, const unsigned long long *held,
		    size_t nheld)
{
	size_t i;

	for (i = 0; i < nheld; i++)
		if (held[i] == id)
			return true;
	return false;
}

static void reply_coverage(struct req *r, struct racecov *cov,
			   const unsigned long long *map_ids, size_t rounds,
			   __u64 widen_ns, bool after_walk, const char *drop,
			   size_t wait_timeouts, const unsigned long long *held,
			   size_t nheld)
{
	__u64 deadline = now_us() + COVERAGE_WAIT_US;
	struct racecov_counts k;
	size_t i;
	int ret;

	jb_printf(&r->out, ",\"coverage\":{\"widenNs\":%llu,\"after\":\"%s\","
		  "\"drop\":\"%s\",\"waitTimeouts\":%zu,\"rounds\":[",
		  (unsigned long long)widen_ns, after_walk ? "walk" : "drop",
		  drop, wait_timeouts);
	for (i = 0; i < rounds; i++) {
		memset(&k, 0, sizeof(k));
		/* a map the hold-map fault keeps is not freed: not waited for */
		while ((ret = racecov_take(cov, map_ids[i], &k)) == -ENOENT &&
		       !is_held(map_ids[i], held, nheld) && now_us() < deadline)
			usleep(20 * 1000);
		if (i)
			jb_raw(&r->out, ",", 1);
		reply_round_coverage(&r->out, map_ids[i], &k, !ret);
	}
	jb_printf(&r->out, "],\"overflow\":%llu,\"misses\":%llu,"
		  "\"missesDuring\":%llu}", racecov_overflow(cov),
		  racecov_misses(cov), racecov_misses_since_attach(cov));
}

int verb_race(struct agent *a, struct req *r)
{
	unsigned long long rounds, nown, threads, seed, tcp, widen_ns, pin;
	unsigned long long *map_ids = NULL, *drop_after = NULL;
	unsigned long long *drop_target_v = NULL;
	unsigned long long hold, *held_ids = NULL, nheld = 0, seeded;
	long tracer_links = -1;
	unsigned long long created = 0, failed = 0, close_errors = 0;
	unsigned long long done = 0;
	const char *via = arg_str(r, "via");
	const char *cgroup = arg_str(r, "cgroup");
	const char *kind = arg_str(r, "kind");
	const char *after = arg_str(r, "after");
	const char *drop = arg_str(r, "drop");
	const char *progs = arg_str(r, "progs");
	bool progs_first, gather_drop;
	size_t wait_timeouts = 0;
	bool after_walk;
	const char *count_key = arg_str(r, "owners") ? "owners" : "sockets";
	struct round_owners own = {};
	struct ownerview view;
	struct race_round rr;
	struct stgmap map;
	__u64 t0, race_us = 0;
	size_t present, absent, errors, c, f;
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool via_prog, round_seeded, forced_seeded;
	size_t prog_waits = 0;
	char wq_scope_was[32] = "";
	char err[512];
	int ret = -1, first_errno;

	if (arg_u64(r, "rounds", true, 0, 1, 1000000, &rounds) ||
	    arg_u64(r, count_key, true, 0, 1, 1u << 20, &nown) ||
	    arg_u64(r, "threads", true, 0, 1, RACE_MAX_THREADS, &threads) ||
	    arg_u64(r, "seed", true, 0, 0, UINT64_MAX, &seed) ||
	    arg_u64(r, "tcp", false, 50, 0, 100, &tcp) ||
	    arg_u64(r, "hold", false, 0, 0, 1000000, &hold) ||
	    arg_u64(r, "widen", false, 0, 0, 20000000, &widen_ns) ||
	    arg_u64(r, "pin", false, 0, 0, 1, &pin) ||
	    arg_u64(r, "seeded", false, 0, 0, 1000000, &seeded))
		return -1;
	if (progs && strcmp(progs, "last") && strcmp(progs, "first"))
		return req_fail(r, EINVAL, "progs must be last or first");
	progs_first = progs && !strcmp(progs, "first");
	if (after && strcmp(after, "drop") && strcmp(after, "walk"))
		return req_fail(r, EINVAL, "after must be drop or walk");
	after_walk = after && !strcmp(after, "walk");
	if (drop && strcmp(drop, "seeded") && strcmp(drop, "end") &&
	    strcmp(drop, "destroy") && strcmp(drop, "release") &&
	    strcmp(drop, "gather"))
		return req_fail(r, EINVAL, "drop must be seeded, end, destroy, release or gather");
	gather_drop = drop && !strcmp(drop, "gather");
	if (drop && (!strcmp(drop, "destroy") || !strcmp(drop, "release") ||
		     gather_drop) && !a->cov)
		return req_fail(r, EINVAL, "drop=destroy, release and gather need the racecov verb first");
	if ((after_walk || widen_ns || progs_first) && !a->cov)
		return req_fail(r, EINVAL, "after=walk, widen and progs=first need the racecov verb first");
	if (arg_str(r, "owners") && arg_str(r, "sockets"))
		return req_fail(r, EINVAL, "owners and sockets: give one");
	if (parse_kind(kind, &own.kind))
		return req_fail(r, EINVAL, "kind must be sk, task or cgrp");
	if (!via || (strcmp(via, "user") && strcmp(via, "prog")))
		return req_fail(r, EINVAL, "via must be user or prog");
	via_prog = !strcmp(via, "prog");
	if (own.kind == OWNER_CGRP && !cgroup)
		return req_fail(r, EINVAL, "kind=cgrp needs cgroup=PARENT");
	if (own.kind == OWNER_SK && via_prog && !cgroup)
		return req_fail(r, EINVAL, "via=prog needs cgroup=DIR");
	if (own.kind != OWNER_CGRP && !via_prog && cgroup)
		return req_fail(r, EINVAL, "cgroup is for via=prog");
	if (progs_first && !via_prog)
		return req_fail(r, EINVAL, "progs=first is for via=prog");
	if (gather_drop && own.kind != OWNER_CGRP)
		return req_fail(r, EINVAL, "drop=gather is for kind=cgrp");

	map_ids = calloc(rounds, sizeof(*map_ids));
	drop_after = calloc(rounds, sizeof(*drop_after));
	drop_target_v = calloc(rounds, sizeof(*drop_target_v));
	held_ids = calloc(rounds, sizeof(*held_ids));
	if (!map_ids || !drop_after || !drop_target_v || !held_ids) {
		req_fail(r, ENOMEM, "out of memory");
		goto out;
	}

	if (pin && ncpus >= 2) {
		ret = wq_scope_per_cpu(wq_scope_was, sizeof(wq_scope_was));
		if (ret && ret != -ENOENT)
			fprintf(stderr, "bpf-agent: race: %s: %s\n",
				WQ_SCOPE_PARAM, strerror(-ret));
	}
	if (a->cov) {
		/* traced only while this verb runs; detached on every way out */
		ret = racecov_attach(a->cov, err, sizeof(err));
		if (ret) {
			req_fail(r, -ret, "%s", err);
			goto out;
		}
		racecov_arm(a->cov, true, widen_ns);
	}
	t0 = now_us();
	for (done = 0; done < rounds; done++) {
		ret = stgmap_open(&map, a->bpf_dir, kind ? kind : "sk", false,
				  via_prog, cgroup, ++a->next_token, err,
				  sizeof(err));
		if (ret) {
			req_fail(r, -ret, "round %llu: %s", done, err);
			goto fail;
		}
		ret = owners_make(&own, nown, tcp, cgroup);
		if (ret) {
			stgmap_close(&map);
			req_fail(r, -ret, "round %llu: owners: %s", done,
				 strerror(-ret));
			goto fail;
		}
		view = owners_view(&own);
		if (via_prog) {
			/* the program made them when the owners were made */
			stgmap_count_elems(&map, &view, &present, &absent,
					   &errors, &first_errno);
			created += present;
			failed += absent + errors;
			/*
			 * progs=first: the programs go now, so the map's last
			 * reference is the agent's and the drop is steered
			 * like a user-space round's; else it goes with the
			 * programs, grace periods after the drop.
			 */
			ret = progs_first ?
			      round_closes_progs(a->cov, &map, &prog_waits) : 0;
			if (ret) {
				owners_reap(&own);
				stgmap_close(&map);
				req_fail(r, -ret, "round %llu: close programs: %s",
					 done, strerror(-ret));
				goto fail;
			}
		} else {
			stgmap_create_elems(&map, &view, &c, &f, &first_errno);
			created += c;
			failed += f;
		}

		memset(&rr, 0, sizeof(rr));
		rr.own = &own;
		rr.n = view.n;
		rr.threads = threads;
		rr.map = &map;
		/*
		 * drop=end: every owner is released first. Owners whose storage
		 * is destroyed a grace period after their release (threads,
		 * cgroups) then meet the map-free walk, which also begins a
		 * grace period after the drop.
		 */
		rr.drop_on_destroy = drop && !strcmp(drop, "destroy");
		rr.drop_on_release = drop && !strcmp(drop, "release");
		rr.gather_fd = -1;
		rr.released0 = a->cov ? racecov_released(a->cov) : 0;
		pin_owner_threads(&rr);
		/* seeded=N: the first N rounds drop at the seeded target */
		forced_seeded = done < seeded;
		round_seeded = !drop || !strcmp(drop, "seeded") || forced_seeded;
		if (round_seeded) {
			rr.drop_on_destroy = false;
			rr.drop_on_release = false;
		}
		rr.target = round_seeded ? drop_target(seed, done, view.n) : view.n;
		rr.yield = ncpus < 0 || (unsigned long long)ncpus < threads + 1;
		rr.cov = a->cov;
		rr.pin = pin;
		rr.ncpus = ncpus;
		rr.after_walk = after_walk && !forced_seeded;
		rr.map_id = map.map_id;
		map_ids[done] = map.map_id;
		drop_target_v[done] = rr.target;
		/*
		 * hold=N (hold-map fault): every Nth round keeps an extra map
		 * reference and owner 0 with its element, as a leaked map
		 * reference would; the agent's own sets and map table get them.
		 */
		own.keep_first = hold && done % hold == 0;
		if (own.keep_first) {
			ret = stgmap_hold(a, &map);
			if (ret < 0) {
				owners_reap(&own);
				stgmap_close(&map);
				req_fail(r, -ret, "round %llu: hold: %s", done,
					 strerror(-ret));
				goto fail;
			}
			held_ids[nheld++] = map.map_id;
			/* its map is not freed: nothing to wait for */
			rr.after_walk = false;
			rr.drop_on_destroy = false;
			rr.drop_on_release = false;
		}

		if (gather_drop && !round_seeded && !own.keep_first) {
			ret = gather_hold(&rr, &own.cgroups, a->cov);
			if (ret) {
				owners_reap(&own);
				stgmap_close(&map);
				req_fail(r, -ret, "round %llu: gather: %s", done,
					 strerror(-ret));
				goto fail;
			}
		}
		race_us -= now_us();
		ret = race_once(&rr, err, sizeof(err));
		race_us += now_us();
		gather_end(&rr, &own.cgroups, a->cov);
		if (ret) {
			owners_reap(&own);
			stgmap_close(&map);
			req_fail(r, -ret, "round %llu: %s", done, err);
			goto fail;
		}
		ret = 0;
		if (own.keep_first)
			ret = owner_keep(a, own.kind, &own.socks,
					 &own.threads, &own.cgroups, 0);
		own.keep_first = false;
		own.socks.n = 0;	/* closed by the closers */
		owners_reap(&own);
		if (ret) {
			req_fail(r, -ret, "round %llu: keep: %s", done,
				 strerror(-ret));
			goto fail;
		}
		drop_after[done] = rr.observed;
		close_errors += atomic_load(&rr.close_errors);
		wait_timeouts += atomic_load(&rr.wait_timeouts);
		if (a->cov)
			racecov_drain(a->cov);
	}
	ret = 0;
	goto report;
fail:
	ret = -1;
	/* what happened before the failure is still reported, exactly */
	r->out_on_error = true;
report:
	jf_u64(&r->out, "rounds", done);
	jf_u64(&r->out, "created", created);
	jf_u64(&r->out, "failed", failed);
	jf_u64(&r->out, "elapsedUs", now_us() - t0);
	jf_u64(&r->out, "raceUs", race_us);
	jf_u64_array(&r->out, "mapIds", map_ids, done);
	jf_u64_array(&r->out, "dropAfter", drop_after, done);
	jf_u64_array(&r->out, "dropTarget", drop_target_v, done);
	jf_u64(&r->out, "closeErrors", close_errors);
	if (wq_scope_was[0])
		jf_str(&r->out, "wqScopeWas", wq_scope_was);
	if (hold)
		jf_u64_array(&r->out, "heldMapIds", held_ids, nheld);
	if (a->cov) {
		/*
		 * Tracking (and widening: the last round's map-free walk runs
		 * now) until the last map's free is counted.
		 */
		reply_coverage(r, a->cov, map_ids, done, widen_ns, after_walk,
			       drop ? drop : "seeded", wait_timeouts + prog_waits,
			       held_ids, nheld);
		racecov_arm(a->cov, false, 0);
		tracer_links = racecov_kernel_links(a->cov);
		if (tracer_links >= 0)
			jf_u64(&r->out, "tracerLinks",
			       (unsigned long long)tracer_links);
	}
out:
	if (a->cov)
		racecov_detach(a->cov);
	wq_scope_restore(wq_scope_was);
	owners_free(&own);
	free(map_ids);
	free(drop_after);
	free(drop_target_v);
	free(held_ids);
	return ret;
}
