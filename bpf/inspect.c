// SPDX-License-Identifier: GPL-2.0
/*
 * The inspect verb: runs one of the iterator programs of inspect.bpf.o and
 * returns its text records (one per owner with storage, then a trailer).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"

#define INSPECT_OUT_MAX	(32u << 20)

struct inspector {
	struct bpf_object *obj;
};

void inspector_free(struct inspector *insp)
{
	if (!insp)
		return;
	bpf_object__close(insp->obj);
	free(insp);
}

/* Loaded once: CO-RE relocation parses the kernel's BTF, which is slow. */
static int inspector_load(struct agent *a, struct req *r)
{
	struct inspector *insp;

	if (a->insp)
		return 0;
	insp = calloc(1, sizeof(*insp));
	if (!insp)
		return req_fail(r, ENOMEM, "out of memory");
	if (agent_load_object(a, r, "inspect.bpf.o", &insp->obj)) {
		free(insp);
		return -1;
	}
	a->insp = insp;
	return 0;
}

/* Reads the whole iterator output into a NUL-terminated buffer. */
static int read_all(int fd, char **out, size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap + 1), *nbuf;
	ssize_t got;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			if (cap >= INSPECT_OUT_MAX) {
				free(buf);
				return -EFBIG;
			}
			nbuf = realloc(buf, cap * 2 + 1);
			if (!nbuf) {
				free(buf);
				return -ENOMEM;
			}
			buf = nbuf;
			cap *= 2;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			got = -errno;
			free(buf);
			return got;
		}
		if (!got)
			break;
		n += got;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static void reply_records(struct req *r, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;
	size_t n = 0;

	jb_raw(&r->out, ",\"records\":[", 12);
	while (p < end) {
		nl = memchr(p, '\n', end - p);
		if (!nl)
			nl = end;
		if (n++)
			jb_raw(&r->out, ",", 1);
		jb_jstr(&r->out, p, nl - p);
		p = nl + 1;
	}
	jb_raw(&r->out, "]", 1);
}

/*
 * kind=task: every thread in the guest; kind=sk: the agent's socket fds
 * (task_file of its own process); kind=cgrp: the cgroup directory
 * `cgroup` and its descendants.
 */
static int attach_iter(struct agent *a, struct req *r, const char *kind,
		       const char *cgroup, struct bpf_link **link)
{
	union bpf_iter_link_info linfo = {};
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	struct bpf_program *prog;
	const char *name;
	int cgfd = -1, ret;

	if (!strcmp(kind, "task")) {
		name = "inspect_task";
	} else if (!strcmp(kind, "sk")) {
		name = "inspect_sk";
		linfo.task.pid = getpid();
	} else if (!strcmp(kind, "cgrp")) {
		name = "inspect_cgrp";
		cgfd = open(cgroup ? cgroup : "/sys/fs/cgroup",
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cgfd < 0)
			return req_fail(r, errno, "open cgroup: %s",
					strerror(errno));
		linfo.cgroup.cgroup_fd = cgfd;
		linfo.cgroup.order = BPF_CGROUP_ITER_DESCENDANTS_PRE;
	} else {
		return req_fail(r, EINVAL, "kind=%s: not task, cgrp or sk",
				kind);
	}
	if (cgroup && cgfd < 0)
		return req_fail(r, EINVAL, "cgroup is for kind=cgrp");
	opts.link_info = &linfo;
	opts.link_info_len = sizeof(linfo);
	prog = bpf_object__find_program_by_name(a->insp->obj, name);
	*link = prog ? bpf_program__attach_iter(prog, &opts) : NULL;
	ret = *link ? 0 : (prog ? errno : ENOENT);
	if (cgfd >= 0)
		close(cgfd);
	if (ret)
		return req_fail(r, ret, "attach %s: %s", name, strerror(ret));
	return 0;
}

int verb_inspect(struct agent *a, struct req *r)
{
	const char *kind = arg_str(r, "kind");
	struct bpf_link *link = NULL;
	char *buf = NULL;
	size_t len = 0;
	int fd, ret;

	if (!kind)
		return req_fail(r, EINVAL, "missing argument kind");
	/* refused before anything is loaded into the kernel */
	if (strcmp(kind, "task") && strcmp(kind, "sk") && strcmp(kind, "cgrp"))
		return req_fail(r, EINVAL, "kind=%s: not task, cgrp or sk",
				kind);
	if (arg_str(r, "cgroup") && strcmp(kind, "cgrp"))
		return req_fail(r, EINVAL, "cgroup is for kind=cgrp");
	if (inspector_load(a, r) ||
	    attach_iter(a, r, kind, arg_str(r, "cgroup"), &link))
		return -1;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0) {
		ret = req_fail(r, errno, "bpf_iter_create: %s",
			       strerror(errno));
		goto out;
	}
	ret = read_all(fd, &buf, &len);
	close(fd);
	if (ret) {
		ret = req_fail(r, -ret, "read iterator: %s", strerror(-ret));
		goto out;
	}
	reply_records(r, buf, len);
	free(buf);
out:
	bpf_link__destroy(link);
	return ret;
}
