/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bpf-agent: the in-guest command server of docs/PROTOCOL.md.
 */
#ifndef BPF_AGENT_H
#define BPF_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#define AGENT_VERSION	"1.0.0"
#define MAX_ARGS	16
#define READ_MAX	(4u << 20)

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

struct bpf_object;
struct bpf_link;

#define SKMAP_VALUE_MAX	4096

/* One loaded storage map object. */
struct skmap {
	struct bpf_object *obj;
	struct bpf_link *link;		/* creates elements on new sockets */
	struct bpf_link *touch_link;	/* ... and on existing ones */
	int map_fd;
	__u32 map_id;
	__u32 value_size;
};

int skmap_open(struct skmap *m, const char *bpf_dir, const char *kind,
	       bool via_prog, const char *cgroup, char *err, size_t errlen);
void skmap_close(struct skmap *m);
/* Counts over a socket set; first_errno is 0 when nothing failed. */
void skmap_create_elems(struct skmap *m, const struct sockset *s,
			size_t *created, size_t *failed, int *first_errno);
void skmap_count_elems(struct skmap *m, const struct sockset *s,
		       size_t *present, size_t *absent, size_t *errors,
		       int *first_errno);

struct agent {
	int in_fd;
	int out_fd;
	bool host_mode;		/* --channel - */
	const char *bpf_dir;
	struct sockset socks;
	struct skmap map;
	bool map_open;
	int kmsg_fd;
};

typedef int (*verb_fn)(struct agent *a, struct req *r);

int verb_read(struct agent *a, struct req *r);
int verb_write(struct agent *a, struct req *r);
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

#endif /* BPF_AGENT_H */
