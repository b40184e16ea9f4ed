// SPDX-License-Identifier: GPL-2.0
/*
 * The simple verbs: files, cgroups, limits, kernel log, sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/sock_diag.h>

#include "agent.h"

int verb_read(struct agent *a, struct req *r)
{
	const char *path = arg_str(r, "path");
	size_t len = 0, cap = 64 * 1024;
	char *buf, *nbuf;
	ssize_t n;
	int fd, err;

	(void)a;
	if (!path)
		return req_fail(r, EINVAL, "missing argument path");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return req_fail(r, errno, "open %s: %s", path, strerror(errno));
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return req_fail(r, ENOMEM, "out of memory");
	}
	for (;;) {
		if (len == cap) {
			if (cap > READ_MAX) {
				err = req_fail(r, EFBIG, "%s: larger than %u bytes",
					       path, READ_MAX);
				goto out;
			}
			nbuf = realloc(buf, cap * 2);
			if (!nbuf) {
				err = req_fail(r, ENOMEM, "out of memory");
				goto out;
			}
			buf = nbuf;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = req_fail(r, errno, "read %s: %s", path,
				       strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += n;
	}
	if (len > READ_MAX) {
		err = req_fail(r, EFBIG, "%s: larger than %u bytes", path,
			       READ_MAX);
		goto out;
	}
	jf_strn(&r->out, "data", buf, len);
	err = 0;
out:
	free(buf);
	close(fd);
	return err;
}

static int write_file(struct req *r, const char *path, const char *value)
{
	size_t n = strlen(value);
	ssize_t w;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return req_fail(r, errno, "open %s: %s", path, strerror(errno));
	/* one write: kernfs knobs take the value in a single call */
	w = write(fd, value, n);
	if (w < 0) {
		req_fail(r, errno, "write %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if ((size_t)w != n) {
		req_fail(r, EIO, "write %s: short write (%zd of %zu)", path,
			 w, n);
		close(fd);
		return -1;
	}
	if (close(fd))
		return req_fail(r, errno, "close %s: %s", path,
				strerror(errno));
	return 0;
}

int verb_write(struct agent *a, struct req *r)
{
	const char *path = arg_str(r, "path");
	const char *value = arg_str(r, "value");

	(void)a;
	if (!path || !value)
		return req_fail(r, EINVAL, "missing argument path or value");
	return write_file(r, path, value);
}

int verb_mkdir(struct agent *a, struct req *r)
{
	const char *path = arg_str(r, "path");
	bool created = true;

	(void)a;
	if (!path)
		return req_fail(r, EINVAL, "missing argument path");
	if (mkdir(path, 0755)) {
		if (errno != EEXIST)
			return req_fail(r, errno, "mkdir %s: %s", path,
					strerror(errno));
		created = false;
	}
	jf_bool(&r->out, "created", created);
	return 0;
}

int verb_rmdir(struct agent *a, struct req *r)
{
	const char *path = arg_str(r, "path");

	(void)a;
	if (!path)
		return req_fail(r, EINVAL, "missing argument path");
	if (rmdir(path))
		return req_fail(r, errno, "rmdir %s: %s", path,
				strerror(errno));
	return 0;
}

int verb_cgroup_enter(struct agent *a, struct req *r)
{
	const char *path = arg_str(r, "path");
	char procs[4096], pid[32];

	(void)a;
	if (!path)
		return req_fail(r, EINVAL, "missing argument path");
	if ((size_t)snprintf(procs, sizeof(procs), "%s/cgroup.procs", path) >=
	    sizeof(procs))
		return req_fail(r, ENAMETOOLONG, "path too long");
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return write_file(r, procs, pid);
}

int verb_rlimit_nofile(struct agent *a, struct req *r)
{
	unsigned long long n;
	struct rlimit rl;

	(void)a;
	if (arg_u64(r, "n", true, 0, 1, RLIM_INFINITY - 1, &n))
		return -1;
	rl.rlim_cur = n;
	rl.rlim_max = n;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		return req_fail(r, errno, "setrlimit(RLIMIT_NOFILE, %llu): %s",
				n, strerror(errno));
	return 0;
}

/*
 * A /dev/kmsg record is "prio,seq,usec,flags[,...];text\n" followed by
 * " KEY=value\n" dictionary lines; the reply carries the record's first
 * line whole (header and text), without the dictionary.
 */
int verb_kmsg(struct agent *a, struct req *r)
{
	static char rec[16384];
	size_t nlines = 0;
	unsigned long long lost = 0;
	const char *text, *end;
	ssize_t n;

	if (a->kmsg_fd < 0) {
		a->kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK |
				  O_CLOEXEC);
		if (a->kmsg_fd < 0)
			return req_fail(r, errno, "open /dev/kmsg: %s",
					strerror(errno));
	}
	jb_raw(&r->out, ",\"lines\":[", 10);
	for (;;) {
		n = read(a->kmsg_fd, rec, sizeof(rec) - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE) {	/* overwritten records */
				lost++;
				continue;
			}
			if (errno == EAGAIN)
				break;
			return req_fail(r, errno, "read /dev/kmsg: %s",
					strerror(errno));
		}
		if (n == 0)
			break;
		rec[n] = '\0';
		/* the whole record line: the host reads level, seq and time */
		text = rec;
		end = memchr(text, '\n', rec + n - text);
		if (!end)
			end = rec + n;
		if (nlines++)
			jb_raw(&r->out, ",", 1);
		jb_jstr(&r->out, text, end - text);
	}
	jb_raw(&r->out, "]", 1);
	jf_u64(&r->out, "lost", lost);
	return 0;
}

int sock_open_nth(size_t i, unsigned int tcp_pct)
{
	/* exactly floor(count * tcp_pct / 100) TCP sockets, spread out */
	bool tcp = (i + 1) * tcp_pct / 100 > i * tcp_pct / 100;
	int fd;

	fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC,
		    0);
	return fd < 0 ? -errno : fd;
}

int sockset_open(struct sockset *s, size_t count, unsigned int tcp_pct)
{
	size_t i, base = s->n;
	int *nfd, fd;

	if (s->n + count > s->cap) {
		nfd = realloc(s->fd, (s->n + count) * sizeof(*nfd));
		if (!nfd)
			return -ENOMEM;
		s->fd = nfd;
		s->cap = s->n + count;
	}
	for (i = 0; i < count; i++) {
		fd = sock_open_nth(i, tcp_pct);
		if (fd < 0) {
			/* all or nothing: keep the set as it was */
			while (s->n > base)
				close(s->fd[--s->n]);
			return fd;
		}
		s->fd[s->n++] = fd;
	}
	return 0;
}

size_t sockset_close(struct sockset *s)
{
	size_t i, closed = 0;

	for (i = 0; i < s->n; i++) {
		if (close(s->fd[i]))
			fprintf(stderr, "bpf-agent: close socket %d: %s\n",
				s->fd[i], strerror(errno));
		else
			closed++;
	}
	s->n = 0;
	return closed;
}

void sockset_free(struct sockset *s)
{
	free(s->fd);
	memset(s, 0, sizeof(*s));
}

int verb_sockets_open(struct agent *a, struct req *r)
{
	unsigned long long count, tcp, ntcp;
	int err;

	if (arg_u64(r, "count", true, 0, 0, 1u << 24, &count) ||
	    arg_u64(r, "tcp", false, 50, 0, 100, &tcp))
		return -1;
	err = sockset_open(&a->socks, count, tcp);
	if (err)
		return req_fail(r, -err, "socket: %s (none of %llu kept)",
				strerror(-err), count);
	ntcp = count * tcp / 100;
	jf_u64(&r->out, "count", count);
	jf_u64(&r->out, "tcp", ntcp);
	jf_u64(&r->out, "udp", count - ntcp);
	jf_u64(&r->out, "held", a->socks.n);
	return 0;
}

int verb_sockets_close(struct agent *a, struct req *r)
{
	jf_u64(&r->out, "closed", sockset_close(&a->socks));
	return 0;
}

int verb_sock_meminfo(struct agent *a, struct req *r)
{
	__u32 mem[SK_MEMINFO_VARS];
	socklen_t len;
	size_t i;

	jb_raw(&r->out, ",\"optmem\":[", 11);
	for (i = 0; i < a->socks.n; i++) {
		len = sizeof(mem);
		if (getsockopt(a->socks.fd[i], SOL_SOCKET, SO_MEMINFO, mem,
			       &len))
			return req_fail(r, errno, "SO_MEMINFO on socket %zu: %s",
					i, strerror(errno));
		if (len <= SK_MEMINFO_OPTMEM * sizeof(__u32))
			return req_fail(r, EPROTO, "SO_MEMINFO too short (%u)",
					(unsigned int)len);
		jb_printf(&r->out, i ? ",%u" : "%u", mem[SK_MEMINFO_OPTMEM]);
	}
	jb_raw(&r->out, "]", 1);
	return 0;
}
