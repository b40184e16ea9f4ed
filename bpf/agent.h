/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bpf-agent: the in-guest command server of docs/PROTOCOL.md.
 */
#ifndef BPF_AGENT_H
#define BPF_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <linux/types.h>

#define AGENT_VERSION	"1.6.0"
#define MAX_ARGS	16
#define READ_MAX	(4u << 20)

/* CLOCK_MONOTONIC in microseconds: the agent's deadlines and elapsed times. */
static inline long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A spin-wait's pause: lets the sibling hyperthread (or vCPU) run. */
static inline void cpu_relax(void)
{
#if defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__builtin_ia32_pause();
#endif
}

/* A growing output buffer; oom is sticky and checked once per reply. */
struct jbuf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;
};

void jb_free(struct jbuf *jb);
void jb_raw(struct jbuf *jb, const char *s, size_t n);
void jb_printf(struct jbuf *jb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A JSON string literal; bytes that are not valid UTF-8 become \u00XX. */
void jb_jstr(struct jbuf *jb, const char *s, size_t n);

/* Reply fields, each appended as ,"key":value */
void jf_str(struct jbuf *jb, const char *key, const char *s);
void jf_strn(struct jbuf *jb, const char *key, const char *s, size_t n);
void jf_int(struct jbuf *jb, const char *key, long long v);
void jf_u64(struct jbuf *jb, const char *key, unsigned long long v);
void jf_bool(struct jbuf *jb, const char *key, bool v);
void jf_u64_array(struct jbuf *jb, const char *key,
		  const unsigned long long *v, size_t n);

struct arg {
	const char *key;
	const char *val;
};

/* One command being served. */
struct req {
	unsigned long long id;
	const char *verb;
	struct arg args[MAX_ARGS];
	int nargs;
	struct jbuf out;	/* extra reply fields */
	bool out_on_error;	/* out is complete even when failing */
	char error[512];
	int errnum;
};

/* Always returns -1, for "return req_fail(...)". */
int req_fail(struct req *r, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *arg_str(struct req *r, const char *key);
/*
 * Parses key as a decimal integer in [min, max]; dflt when absent and not
 * required. Returns 0, or -1 with the failure recorded in r.
 */
int arg_u64(struct req *r, const char *key, bool required,
	    unsigned long long dflt, unsigned long long min,
	    unsigned long long max, unsigned long long *out);

/* Sockets held by the agent or by a race round. */
struct sockset {
	int *fd;
	size_t n;
	size_t cap;
};

/* Opens socket number i of a set with tcp_pct percent TCP; fd or -errno. */
int sock_open_nth(size_t i, unsigned int tcp_pct);
int sockset_open(struct sockset *s, size_t count, unsigned int tcp_pct);
size_t sockset_close(struct sockset *s);
void sockset_free(struct sockset *s);

/* Owner threads the agent spawns and keeps parked until told to exit. */
struct owner_thread;

struct threadset {
	struct owner_thread **t;
	int *pidfd;		/* pidfd_open(tid, PIDFD_THREAD): the map key */
	__u64 *tid;		/* what a program finds the thread by */
	size_t n;
	size_t cap;
};

/* Threads all or nothing, like sockets; 0 or -errno. */
int threadset_spawn(struct threadset *s, size_t count);
/* Tells thread i to exit (after closing its pidfd); it is joined later. */
void threadset_release(struct threadset *s, size_t i);
/* Joins every thread (releasing those still parked) and empties the set. */
size_t threadset_stop(struct threadset *s);
void threadset_free(struct threadset *s);

/* Child cgroups the agent made, with their directories held open. */
struct cgset {
	char **path;
	int *fd;		/* the map key */
	__u64 *id;		/* cgroup id (the directory's inode number) */
	size_t n;
	size_t cap;
	unsigned long long next;	/* names are PARENT/bpfh-o<next> */
};

int cgset_make(struct cgset *s, const char *parent, size_t count);
/* Closes the directory of cgroup i and removes it; 0 or -errno. */
int cgset_release(struct cgset *s, size_t i);
/* Removes every cgroup; the count removed, failures on stderr. */
size_t cgset_remove(struct cgset *s, size_t *failed, int *first_errno);
void cgset_free(struct cgset *s);

enum owner_kind {
	OWNER_SK,
	OWNER_TASK,
	OWNER_CGRP,
};

/* The owners of one kind as a map sees them. */
struct ownerview {
	enum owner_kind kind;
	const int *fd;		/* map keys */
	const __u64 *id;	/* thread or cgroup ids (NULL for sockets) */
	size_t n;
};

struct bpf_object;
struct bpf_link;
struct stg_kind;

#define STGMAP_VALUE_MAX	4096
#define MAX_MAPS		16

/* One loaded storage map object. */
struct stgmap {
	const struct stg_kind *kind;
	struct bpf_object *obj;
	struct bpf_link *link;		/* creates elements on new owners */
	struct bpf_link *touch_link;	/* ... and on existing ones */
	int map_fd;
	__u32 map_id;
	__u32 value_size;
	__u64 token;			/* tells the touch programs apart */
	/*
	 * Injected faults (docs/PROTOCOL.md): held, only an extra map
	 * reference is left (the object is closed); stray, the map that
	 * leave-elem puts its stray elements in.
	 */
	bool held;
	bool stray;
};

int stgmap_open(struct stgmap *m, const char *bpf_dir, const char *kind,
		bool small, bool via_prog, const char *cgroup, __u64 token,
		char *err, size_t errlen);
void stgmap_close(struct stgmap *m);
int stgmap_close_progs(struct stgmap *m);
enum owner_kind stgmap_owner_kind(const struct stgmap *m);
/* Counts over a set of owners; first_errno is 0 when nothing failed. */
void stgmap_create_elems(struct stgmap *m, const struct ownerview *o,
			 size_t *created, size_t *failed, int *first_errno);
void stgmap_count_elems(struct stgmap *m, const struct ownerview *o,
			size_t *present, size_t *absent, size_t *errors,
			int *first_errno);

struct inspector;

struct agent {
	int in_fd;
	int out_fd;
	bool host_mode;		/* --channel - */
	const char *bpf_dir;
	struct sockset socks;
	struct threadset threads;
	struct cgset cgroups;
	struct stgmap maps[MAX_MAPS];
	bool map_used[MAX_MAPS];
	__u64 next_token;
	struct inspector *insp;
	struct racecov *cov;	/* race coverage tracer, once loaded */
	int kmsg_fd;
};

struct bpf_object;

/*
 * Opens <bpf_dir>/<name> and loads it (CO-RE relocated against the running
 * kernel) into *obj. On failure *obj is NULL, r says why, and it returns -1.
 */
int agent_load_object(const struct agent *a, struct req *r, const char *name,
		      struct bpf_object **obj);

/* The owners the agent holds for maps of this kind. */
/* One view over whichever of the three owner sets `kind` names. */
struct ownerview owner_view(enum owner_kind kind, const struct sockset *socks,
			    const struct threadset *threads,
			    const struct cgset *cgroups);
struct ownerview agent_owners(const struct agent *a, enum owner_kind kind);
void inspector_free(struct inspector *insp);

/*
 * Fault injection: keeps an extra reference to m's map in a free slot of
 * the agent's map table (as a held map, closed by map-close). Slot or
 * -errno.
 */
int stgmap_hold(struct agent *a, const struct stgmap *m);
/*
 * Fault injection: moves owner i of a race round's sets into the agent's
 * own (released by sockets-close, threads-stop, cgroups-remove). 0 or
 * -errno.
 */
int owner_keep(struct agent *a, enum owner_kind kind, struct sockset *socks,
	       struct threadset *threads, struct cgset *cgroups, size_t i);

/* Race coverage (racecov.c, racecov.bpf.c). */
struct racecov;
struct racecov_counts;
void racecov_free(struct racecov *c);
int racecov_attach(struct racecov *c, char *err, size_t errlen);
void racecov_detach(struct racecov *c);
long racecov_kernel_links(const struct racecov *c);
void racecov_watch(struct racecov *c, __u32 map_id);
bool racecov_wait_refs(struct racecov *c, __u32 map_id, long long refs,
		       unsigned long long timeout_us);
void racecov_arm(struct racecov *c, bool tracking, __u64 widen_ns);
__u32 racecov_walking(const struct racecov *c);
__u32 racecov_destroying(const struct racecov *c);
unsigned long long racecov_released(const struct racecov *c);
int racecov_gather_watch(struct racecov *c, const __u64 *ids, size_t n);
void racecov_gather_unwatch(struct racecov *c, const __u64 *ids, size_t n);
unsigned long long racecov_gather_ready(const struct racecov *c);
unsigned long long racecov_gather_released(const struct racecov *c);
void racecov_drain(struct racecov *c);
unsigned long long racecov_overflow(const struct racecov *c);
unsigned long long racecov_misses(const struct racecov *c);
unsigned long long racecov_misses_since_attach(const struct racecov *c);
int racecov_take(struct racecov *c, __u32 map_id, struct racecov_counts *out);

typedef int (*verb_fn)(struct agent *a, struct req *r);

int verb_read(struct agent *a, struct req *r);
int verb_exec(struct agent *a, struct req *r);
int verb_write(struct agent *a, struct req *r);
int verb_memcg_drain(struct agent *a, struct req *r);
int verb_mkdir(struct agent *a, struct req *r);
int verb_rmdir(struct agent *a, struct req *r);
int verb_cgroup_enter(struct agent *a, struct req *r);
int verb_rlimit_nofile(struct agent *a, struct req *r);
int verb_kmsg(struct agent *a, struct req *r);
int verb_sockets_open(struct agent *a, struct req *r);
int verb_sockets_close(struct agent *a, struct req *r);
int verb_sock_meminfo(struct agent *a, struct req *r);
int verb_map_open(struct agent *a, struct req *r);
int verb_elems_create(struct agent *a, struct req *r);
int verb_elems_count(struct agent *a, struct req *r);
int verb_map_close(struct agent *a, struct req *r);
int verb_map_alive(struct agent *a, struct req *r);
int verb_race(struct agent *a, struct req *r);
int verb_threads_spawn(struct agent *a, struct req *r);
int verb_threads_stop(struct agent *a, struct req *r);
int verb_cgroups_make(struct agent *a, struct req *r);
int verb_cgroups_remove(struct agent *a, struct req *r);
int verb_inspect(struct agent *a, struct req *r);
int verb_racecov(struct agent *a, struct req *r);
int verb_keep(struct agent *a, struct req *r);

#endif /* BPF_AGENT_H */
