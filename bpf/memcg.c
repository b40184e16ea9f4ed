// SPDX-License-Identifier: GPL-2.0
/*
 * memcg-drain: hand the scenario cgroup's per-CPU charge caches back to it.
 *
 * Writing memory.high makes the kernel (mm/memcontrol.c, memory_high_write) call
 * drain_all_stock() on the cgroup as soon as its usage is above the new high: the memcg stock's
 * pre-charged pages are uncharged and each CPU's object stock slot is flushed (whole pages
 * uncharged, the sub-page rest added to objcg->nr_charged_bytes). Writing 0 guarantees the
 * drain; "max" right after ends the limit. Both writes go through one descriptor, back to back,
 * so the agent charges nothing while its cgroup is over its high limit and is never throttled
 * on return to user space (mem_cgroup_handle_over_high). memory.current is read before and after:
 * the read's own accounted seq buffer takes a fresh object stock slot, which collects
 * objcg->nr_charged_bytes and uncharges its whole pages, so the second value is the drained one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static int read_u64_file(struct req *r, const char *path,
			 unsigned long long *v)
{
	char buf[64], *end;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return req_fail(r, errno, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		req_fail(r, errno, "read %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	buf[n] = '\0';
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno || end == buf)
		return req_fail(r, EINVAL, "%s: not a number", path);
	return 0;
}

static int pwrite_all(struct req *r, int fd, const char *path, const char *s)
{
	size_t n = strlen(s);
	ssize_t w = pwrite(fd, s, n, 0);

	if (w < 0)
		return req_fail(r, errno, "write %s to %s: %s", s, path,
				strerror(errno));
	if ((size_t)w != n)
		return req_fail(r, EIO, "write %s to %s: short write", s, path);
	return 0;
}

int verb_memcg_drain(struct agent *a, struct req *r)
{
	const char *cg = arg_str(r, "path");
	unsigned long long before, after;
	char high[512], current[512];
	long long t0, t1, t2;
	int fd, err;

	(void)a;
	if (!cg)
		return req_fail(r, EINVAL, "missing argument path");
	if (snprintf(high, sizeof(high), "%s/memory.high", cg) >= (int)sizeof(high) ||
	    snprintf(current, sizeof(current), "%s/memory.current", cg) >= (int)sizeof(current))
		return req_fail(r, ENAMETOOLONG, "path too long");
	if (read_u64_file(r, current, &before))
		return -1;
	fd = open(high, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return req_fail(r, errno, "open %s: %s", high, strerror(errno));
	t0 = mono_us();
	err = pwrite_all(r, fd, high, "0");
	t1 = mono_us();
	/* Lift the limit whatever happened: a cgroup left at high 0 throttles the agent. */
	if (pwrite_all(r, fd, high, "max"))
		err = -1;
	t2 = mono_us();
	if (close(fd) && !err)
		return req_fail(r, errno, "close %s: %s", high, strerror(errno));
	if (err)
		return -1;
	if (read_u64_file(r, current, &after))
		return -1;
	jf_u64(&r->out, "currentBefore", before);
	jf_u64(&r->out, "currentAfter", after);
	jf_int(&r->out, "drainUs", t1 - t0);
	jf_int(&r->out, "restoreUs", t2 - t1);
	return 0;
}
