// SPDX-License-Identifier: GPL-2.0
/*
 * The racecov verb and what the race verb uses of it: loads racecov.bpf.o
 * once (kept for the rest of the boot, so its maps are charged before any
 * scenario's baseline), attaches its programs only while a race verb runs
 * (every other scenario runs on an untraced kernel: kvfree_call_rcu() is
 * hot), arms the widening, tells when a map's map-free walk has begun, and
 * reads each freed map's counts. It attaches and detaches only while no
 * cgroup is on its way out (wait_cgroups_quiet()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "racecov.h"

#define RACECOV_MAX_LINKS	24

struct racecov {
	struct bpf_object *obj;
	struct bpf_link *links[RACECOV_MAX_LINKS];
	int nlinks;
	struct ring_buffer *kick;
	volatile struct racecov_globals *g;
	size_t g_len;
	int done_fd;
	int gather_ids_fd;
	unsigned long long misses_at_attach;
};

static unsigned long long total_misses(const struct racecov *c, bool tell);

static long long mono_ms(void)
{
	return mono_us() / 1000;
}

/* The root's dying cgroups (rmdir'ed, not yet released), or -1 unknown. */
static long dying_cgroups(void)
{
	FILE *f = fopen("/sys/fs/cgroup/cgroup.stat", "r");
	char line[256];
	long n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "nr_dying_descendants %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/*
 * Attaching and detaching rewrite the trampolines of the cgroup free paths
 * (text_poke_bp(): an int3, the other CPUs synced, then the instruction).
 * Multi-threaded TCG, rewriting one under a kworker inside
 * css_free_rwork_fn(), once ran the stale int3 (an oops in a fault run: a
 * false alarm no kernel would show). So the tracer is attached and detached
 * only while no cgroup is on its way out: none dying at the root and, when
 * attached, none released and not yet freed (counted by the tracer). At
 * small sizes a race verb ends with its last round's cgroups (63 in a fault
 * run) still dying; they are freed 50-70 ms later. True when quiet; false
 * after deadline_ms, told on stderr.
 */
#define DYING_STILL_MS		300

static bool wait_cgroups_quiet(const struct racecov *c, long long deadline_ms,
			       const char *what)
{
	long long start = mono_ms(), changed = start;
	long dying = dying_cgroups(), last = dying;
	long long freeing = 0;
	int quiet = 0;

	for (;;) {
		dying = dying_cgroups();
		if (dying != last) {
			last = dying;
			changed = mono_ms();
		}
		freeing = c->nlinks ? __atomic_load_n(&c->g->cgroups_freeing,
						      __ATOMIC_ACQUIRE) : 0;
		/*
		 * Twice, 5 ms apart: the last release counts itself on its
		 * way out, just after it left the dying count. A count that
		 * has not moved for DYING_STILL_MS is a machine's long-dead
		 * cgroups (memcgs kept by their charged pages, on a long-up
		 * SSH target), not ours on their way out.
		 */
		quiet = freeing <= 0 &&
			(dying <= 0 || mono_ms() - changed >= DYING_STILL_MS) ?
			quiet + 1 : 0;
		if (quiet == 2)
			return true;
		if (mono_ms() - start > deadline_ms)
			break;
		usleep(5000);
	}
	fprintf(stderr,
		"bpf-agent: racecov: %s with cgroups on their way out after %lld ms: %ld dying, %lld released not freed\n",
		what, deadline_ms, dying, freeing);
	return false;
}

#define QUIET_DEADLINE_MS	10000

/* synchronize_rcu() (membarrier's global command), then time for its callbacks' work. */
static void grace_period(void)
{
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		usleep(50 * 1000);
	usleep(20 * 1000);
}

/* Detaches every program (tracking off first); safe when detached. */
void racecov_detach(struct racecov *c)
{
	int ret;

	if (c->g)
		c->g->tracking = 0;
	if (c->nlinks) {
		wait_cgroups_quiet(c, QUIET_DEADLINE_MS, "detaching");
		/*
		 * Thread storage goes in RCU callbacks (a thread's last put,
		 * then its free, a grace period apart): two grace periods let
		 * those queued by the last round run their unlinks through
		 * the trampolines before they are rewritten.
		 */
		grace_period();
		grace_period();
	}
	while (c->nlinks > 0) {
		ret = bpf_link__destroy(c->links[--c->nlinks]);
		if (ret)
			fprintf(stderr, "bpf-agent: racecov: detach: %s\n",
				strerror(-ret));
	}
}

/* Attaches every program: 0, or -errno with none attached. */
int racecov_attach(struct racecov *c, char *err, size_t errlen)
{
	struct bpf_program *prog;
	int ret;

	if (c->nlinks)
		return 0;
	if (wait_cgroups_quiet(c, QUIET_DEADLINE_MS, "attaching"))
		grace_period(); /* the frees of the last released wait for one */
	/* releases counted from now on (none left over from a timed-out wait) */
	c->g->cgroups_freeing = 0;
	c->misses_at_attach = total_misses(c, false);
	bpf_object__for_each_program(prog, c->obj) {
		struct bpf_link *link = bpf_program__attach(prog);

		if (!link || c->nlinks == RACECOV_MAX_LINKS) {
			ret = link ? E2BIG : errno;
			bpf_link__destroy(link);
			snprintf(err, errlen, "racecov: attach %s: %s",
				 bpf_program__name(prog), strerror(ret));
			racecov_detach(c);
			return -ret;
		}
		c->links[c->nlinks++] = link;
	}
	return 0;
}

/*
 * The tracing links of the tracer's programs that the kernel has, found by
 * walking every link id (what bpftool link would list): what shows that
 * nothing is left attached between race scenarios. -errno on failure.
 */
long racecov_kernel_links(const struct racecov *c)
{
	struct bpf_program *prog;
	__u32 id = 0, ids[RACECOV_MAX_LINKS];
	long n = 0, nprogs = 0, i;
	int fd;

	bpf_object__for_each_program(prog, c->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (nprogs == RACECOV_MAX_LINKS ||
		    bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
			return -EINVAL;
		ids[nprogs++] = info.id;
	}
	while (!bpf_link_get_next_id(id, &id)) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);

		fd = bpf_link_get_fd_by_id(id);
		if (fd < 0)
			continue;	/* gone meanwhile */
		if (!bpf_obj_get_info_by_fd(fd, &info, &len))
			for (i = 0; i < nprogs; i++)
				if (info.prog_id == ids[i])
					n++;
		close(fd);
	}
	return errno == ENOENT ? n : -errno;
}

void racecov_free(struct racecov *c)
{
	if (!c)
		return;
	racecov_detach(c);
	ring_buffer__free(c->kick);
	if (c->g)
		munmap((void *)c->g, c->g_len);
	bpf_object__close(c->obj);
	free(c);
}

/*
 * Kernels without the series (6.12) have no bpf_selem_unlink_nofail(): the
 * race coverage does not apply. NULL when it does, else the reason.
 */
static const char *not_applicable(void)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	int id;

	if (!vmlinux)
		return "the kernel has no BTF";
	id = btf__find_by_name_kind(vmlinux, "bpf_selem_unlink_nofail",
				    BTF_KIND_FUNC);
	btf__free(vmlinux);
	if (id < 0)
		return "the kernel has no bpf_selem_unlink_nofail(): no lockless unlink series";
	return NULL;
}

static int kick_ignored(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

/*
 * The object's .bss, mapped here: libbpf (before 1.2) remaps global data
 * after load only for skeletons, so bpf_map__initial_value() would still
 * point at the pre-load copy.
 */
static volatile struct racecov_globals *globals_of(struct bpf_object *obj,
						   size_t *len)
{
	long page = sysconf(_SC_PAGESIZE);
	struct bpf_map *m;
	void *p;

	bpf_object__for_each_map(m, obj) {
		const char *name = bpf_map__name(m);
		size_t n = strlen(name);

		if (n < 4 || strcmp(name + n - 4, ".bss"))
			continue;
		if (bpf_map__value_size(m) < sizeof(struct racecov_globals) ||
		    page <= 0)
			return NULL;
		*len = ((size_t)bpf_map__value_size(m) + page - 1) & ~(size_t)(page - 1);
		p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 bpf_map__fd(m), 0);
		return p == MAP_FAILED ? NULL : p;
	}
	return NULL;
}

static int racecov_load(struct agent *a, struct req *r)
{
	struct racecov *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return req_fail(r, ENOMEM, "out of memory");
	if (agent_load_object(a, r, "racecov.bpf.o", &c->obj)) {
		free(c);
		return -1;
	}
	c->g = globals_of(c->obj, &c->g_len);
	c->done_fd = bpf_object__find_map_fd_by_name(c->obj, "done");
	c->gather_ids_fd = bpf_object__find_map_fd_by_name(c->obj, "gather_ids");
	c->kick = ring_buffer__new(bpf_object__find_map_fd_by_name(c->obj, "kick"),
				   kick_ignored, NULL, NULL);
	if (!c->g || c->done_fd < 0 || c->gather_ids_fd < 0 || !c->kick) {
		racecov_free(c);
		return req_fail(r, EINVAL, "racecov.bpf.o: .bss, done, gather_ids or kick missing");
	}
	a->cov = c;
	return 0;
}

int verb_racecov(struct agent *a, struct req *r)
{
	const char *why = not_applicable();
	long links;

	jf_bool(&r->out, "applicable", !why);
	if (why) {
		jf_str(&r->out, "reason", why);
		return 0;
	}
	if (!a->cov && racecov_load(a, r))
		return -1;
	links = racecov_kernel_links(a->cov);
	if (links < 0)
		return req_fail(r, (int)-links, "racecov: list links: %s",
				strerror((int)-links));
	/* attached only while a race verb runs: 0 here */
	jf_u64(&r->out, "links", (unsigned long long)links);
	jf_u64(&r->out, "misses", racecov_misses(a->cov));
	return 0;
}

/* Tracks (and widens, widen_ns > 0) from now on; false = everything off. */
void racecov_arm(struct racecov *c, bool tracking, __u64 widen_ns)
{
	c->g->widen_ns = widen_ns;
	c->g->agent_tgid = getpid();
	c->g->tracking = tracking;
}

__u32 racecov_walking(const struct racecov *c)
{
	return __atomic_load_n(&c->g->walking_id, __ATOMIC_ACQUIRE);
}

unsigned long long racecov_released(const struct racecov *c)
{
	return __atomic_load_n(&c->g->released, __ATOMIC_ACQUIRE);
}

__u32 racecov_destroying(const struct racecov *c)
{
	return __atomic_load_n(&c->g->destroying_id, __ATOMIC_ACQUIRE);
}

/* Consumes the kick records (all discarded) so the ring never fills. */
void racecov_drain(struct racecov *c)
{
	ring_buffer__consume(c->kick);
}

unsigned long long racecov_overflow(const struct racecov *c)
{
	return c->g->overflow;
}

static unsigned long long total_misses(const struct racecov *c, bool tell)
{
	unsigned long long misses = 0;
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, c->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
			continue;
		misses += info.recursion_misses;
		if (tell && info.recursion_misses)
			fprintf(stderr, "bpf-agent: racecov: %s: %llu recursion misses\n",
				bpf_program__name(prog),
				(unsigned long long)info.recursion_misses);
	}
	return misses;
}

/*
 * Calls of the tracer's programs the kernel skipped (a program already
 * running on that CPU) since it was loaded: the counts may then miss a side.
 */
unsigned long long racecov_misses(const struct racecov *c)
{
	return total_misses(c, true);
}

/* The same, since the programs were last attached (the race verb's own). */
unsigned long long racecov_misses_since_attach(const struct racecov *c)
{
	return total_misses(c, false) - c->misses_at_attach;
}

/*
 * via=prog rounds whose programs were closed before the race: waits until
 * the programs' references to map_id are gone (their free is deferred by
 * grace periods) and only the agent's file is left, so that closing it is
 * the drop. false when timeout_us passed first.
 */
bool racecov_wait_refs(struct racecov *c, __u32 map_id, long long refs,
		       unsigned long long timeout_us)
{
	struct timespec ts = { 0, 1000 * 1000 };
	unsigned long long waited;

	for (waited = 0; waited < timeout_us; waited += 1000) {
		if (__atomic_load_n(&c->g->watch_refs, __ATOMIC_ACQUIRE) == refs &&
		    __atomic_load_n(&c->g->watch_id, __ATOMIC_ACQUIRE) == map_id)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* Follows map_id's puts from now on (0: none); refs start unknown. */
void racecov_watch(struct racecov *c, __u32 map_id)
{
	__atomic_store_n(&c->g->watch_refs, -1, __ATOMIC_RELEASE);
	__atomic_store_n(&c->g->watch_id, map_id, __ATOMIC_RELEASE);
}

/* The counts of a freed map: 0, or -ENOENT while its map-free runs. */
int racecov_take(struct racecov *c, __u32 map_id, struct racecov_counts *out)
{
	if (bpf_map_lookup_elem(c->done_fd, &map_id, out))
		return -errno;
	bpf_map_delete_elem(c->done_fd, &map_id);
	return 0;
}

/*
 * drop=gather: watches the cgroups with these ids until only the agent's
 * reference is left on each (counted in racecov_gather_ready()). 0 or
 * -errno (then none is watched).
 */
int racecov_gather_watch(struct racecov *c, const __u64 *ids, size_t n)
{
	__u64 one = 1;	/* watched */
	size_t i;
	int ret;

	for (i = 0; i < n; i++) {
		if (bpf_map_update_elem(c->gather_ids_fd, &ids[i], &one, BPF_ANY)) {
			ret = -errno;
			racecov_gather_unwatch(c, ids, i);
			return ret;
		}
	}
	return 0;
}

/* Stops watching them (those released are already gone from the map). */
void racecov_gather_unwatch(struct racecov *c, const __u64 *ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		bpf_map_delete_elem(c->gather_ids_fd, &ids[i]);
}

/* Watched cgroups seen with only the agent's reference left, since load. */
unsigned long long racecov_gather_ready(const struct racecov *c)
{
	return __atomic_load_n(&c->g->gather_ready, __ATOMIC_ACQUIRE);
}


/* Watched cgroups whose own css was released, since load. */
unsigned long long racecov_gather_released(const struct racecov *c)
{
	return __atomic_load_n(&c->g->gather_released, __ATOMIC_ACQUIRE);
}
