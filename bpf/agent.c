// SPDX-License-Identifier: GPL-2.0
/*
 * bpf-agent: reads one command a line from its channel, does it and answers
 * one JSON object a line (docs/PROTOCOL.md). Diagnostics go to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/reboot.h>
#include <sys/utsname.h>

#include <bpf/libbpf.h>

#include "agent.h"

int agent_load_object(const struct agent *a, struct req *r, const char *name,
		      struct bpf_object **obj)
{
	char path[4096];
	int ret;

	*obj = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", a->bpf_dir, name) >=
	    sizeof(path))
		return req_fail(r, ENAMETOOLONG, "BPF directory path too long");
	*obj = bpf_object__open_file(path, NULL);
	if (!*obj) {
		ret = errno;
		return req_fail(r, ret, "open %s: %s", path, strerror(ret));
	}
	ret = bpf_object__load(*obj);
	if (ret) {
		bpf_object__close(*obj);
		*obj = NULL;
		return req_fail(r, -ret, "load %s: %s", path, strerror(-ret));
	}
	return 0;
}

#define LINE_MAX_LEN	(64 * 1024)

static int verb_poweroff(struct agent *a, struct req *r);

static const struct verb {
	const char *name;
	const char *keys;	/* allowed argument keys, comma separated */
	verb_fn fn;
} verbs[] = {
	{ "read", "path", verb_read },
	{ "write", "path,value", verb_write },
	{ "memcg-drain", "path", verb_memcg_drain },
	{ "mkdir", "path", verb_mkdir },
	{ "rmdir", "path", verb_rmdir },
	{ "cgroup-enter", "path", verb_cgroup_enter },
	{ "rlimit-nofile", "n", verb_rlimit_nofile },
	{ "kmsg", "", verb_kmsg },
	{ "sockets-open", "count,tcp", verb_sockets_open },
	{ "sockets-close", "", verb_sockets_close },
	{ "sock-meminfo", "", verb_sock_meminfo },
	{ "threads-spawn", "count", verb_threads_spawn },
	{ "threads-stop", "", verb_threads_stop },
	{ "cgroups-make", "parent,count", verb_cgroups_make },
	{ "cgroups-remove", "", verb_cgroups_remove },
	{ "map-open", "kind,via,cgroup,value", verb_map_open },
	{ "elems-create", "map,stray,restamp", verb_elems_create },
	{ "elems-count", "map", verb_elems_count },
	{ "map-close", "map,hold", verb_map_close },
	{ "map-alive", "id", verb_map_alive },
	{ "race", "rounds,sockets,owners,threads,seed,kind,via,cgroup,tcp,hold,widen,"
	  "after,pin,drop,seeded,progs",
	  verb_race },
	{ "inspect", "kind,cgroup", verb_inspect },
	{ "racecov", "", verb_racecov },
	{ "keep", "dir", verb_keep },
	{ "exec", "path,args,env,cwd,out,timeout", verb_exec },
	{ "poweroff", "", verb_poweroff },
};

static int write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= w;
	}
	return 0;
}

/* Sends a complete reply line; a channel that cannot be written ends us. */
static void send_line(struct agent *a, struct jbuf *line)
{
	int err;

	if (line->oom) {
		fprintf(stderr, "bpf-agent: out of memory building a reply\n");
		exit(1);
	}
	jb_raw(line, "\n", 1);
	err = line->oom ? -ENOMEM : write_all(a->out_fd, line->p, line->len);
	if (err) {
		fprintf(stderr, "bpf-agent: channel write: %s\n", strerror(-err));
		exit(1);
	}
}

static void send_reply(struct agent *a, struct req *r, bool ok)
{
	struct jbuf line = {};

	if (ok && r->out.oom) {
		ok = false;
		req_fail(r, ENOMEM, "out of memory building the reply");
		jb_free(&r->out);
	}
	jb_printf(&line, "{\"id\":%llu,\"ok\":%s,\"verb\":", r->id,
		  ok ? "true" : "false");
	jb_jstr(&line, r->verb, strlen(r->verb));
	if (!ok) {
		jf_str(&line, "error", r->error);
		jf_int(&line, "errno", r->errnum);
	}
	if (r->out.len && !r->out.oom && (ok || r->out_on_error))
		jb_raw(&line, r->out.p, r->out.len);
	jb_raw(&line, "}", 1);
	send_line(a, &line);
	jb_free(&line);
}

static void send_ready(struct agent *a)
{
	struct jbuf line = {};
	struct utsname u;
	long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	long page = sysconf(_SC_PAGESIZE);

	if (uname(&u)) {
		fprintf(stderr, "bpf-agent: uname: %s\n", strerror(errno));
		strcpy(u.release, "unknown");
	}
	jb_printf(&line, "{\"id\":0,\"ok\":true,\"verb\":\"ready\"");
	jf_str(&line, "release", u.release);
	jf_int(&line, "ncpus", ncpus);
	jf_int(&line, "pageSize", page);
	jf_str(&line, "agent", AGENT_VERSION);
	jb_printf(&line, ",\"libbpf\":\"%u.%u\"", libbpf_major_version(),
		  libbpf_minor_version());
	jb_raw(&line, "}", 1);
	send_line(a, &line);
	jb_free(&line);
}

static bool key_allowed(const char *keys, const char *key)
{
	size_t n = strlen(key);
	const char *p = keys;

	while (*p) {
		if (!strncmp(p, key, n) && (p[n] == ',' || !p[n]))
			return true;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return false;
}

static char *next_word(char **s)
{
	char *p = *s, *w;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return NULL;
	w = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	*s = p;
	return w;
}

static void serve_line(struct agent *a, char *line)
{
	const struct verb *v = NULL;
	struct req r = { .verb = "" };
	char *p = line, *w, *eq, *end;
	size_t i;
	int j, ret;

	w = next_word(&p);
	if (!w)
		return;		/* blank line */
	errno = 0;
	r.id = strtoull(w, &end, 10);
	if (*w < '0' || *w > '9' || *end || errno || !r.id) {
		r.id = 0;
		req_fail(&r, EINVAL, "bad command id");
		goto reply;
	}
	w = next_word(&p);
	if (!w) {
		req_fail(&r, EINVAL, "missing verb");
		goto reply;
	}
	r.verb = w;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].name, w))
			v = &verbs[i];
	if (!v) {
		req_fail(&r, EINVAL, "unknown verb");
		goto reply;
	}
	while ((w = next_word(&p))) {
		eq = strchr(w, '=');
		if (!eq || eq == w) {
			req_fail(&r, EINVAL, "bad argument %s", w);
			goto reply;
		}
		*eq = '\0';
		if (!key_allowed(v->keys, w)) {
			req_fail(&r, EINVAL, "unknown argument %s", w);
			goto reply;
		}
		for (j = 0; j < r.nargs; j++) {
			if (!strcmp(r.args[j].key, w)) {
				req_fail(&r, EINVAL, "argument %s repeated", w);
				goto reply;
			}
		}
		if (r.nargs == MAX_ARGS) {
			req_fail(&r, E2BIG, "too many arguments");
			goto reply;
		}
		r.args[r.nargs].key = w;
		r.args[r.nargs].val = eq + 1;
		r.nargs++;
	}
	ret = v->fn(a, &r);
	/*
	 * Give back what the command freed (libbpf's BTF parsing, large
	 * replies) before the host reads memory.current again: free heap
	 * pages would otherwise stay charged to the scenario's memcg.
	 */
	malloc_trim(0);
	if (!ret) {
		send_reply(a, &r, true);
		jb_free(&r.out);
		return;
	}
reply:
	send_reply(a, &r, false);
	jb_free(&r.out);
}

static int verb_poweroff(struct agent *a, struct req *r)
{
	if (a->host_mode)
		return req_fail(r, EPERM,
				"refused with --channel - (not in a guest)");
	sync();
	send_reply(a, r, true);
	if (isatty(a->out_fd))
		tcdrain(a->out_fd);
	reboot(RB_POWER_OFF);
	fprintf(stderr, "bpf-agent: reboot(RB_POWER_OFF): %s\n",
		strerror(errno));
	exit(1);
}

static void serve(struct agent *a)
{
	char *buf = malloc(LINE_MAX_LEN + 1);
	size_t len = 0, start;
	bool skipping = false;
	struct req r = { .verb = "" };
	ssize_t n;
	char *nl;

	if (!buf) {
		fprintf(stderr, "bpf-agent: out of memory\n");
		exit(1);
	}
	for (;;) {
		n = read(a->in_fd, buf + len, LINE_MAX_LEN - len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "bpf-agent: channel read: %s\n",
				strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += n;
		start = 0;
		while ((nl = memchr(buf + start, '\n', len - start))) {
			*nl = '\0';
			if (nl > buf + start && nl[-1] == '\r')
				nl[-1] = '\0';
			if (!skipping)
				serve_line(a, buf + start);
			skipping = false;
			start = nl - buf + 1;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len == LINE_MAX_LEN) {
			/* drop the rest of an overlong line, say so once */
			if (!skipping) {
				req_fail(&r, E2BIG, "command line too long");
				send_reply(a, &r, false);
			}
			skipping = true;
			len = 0;
		}
	}
	free(buf);
}

static void cleanup_cgroups(struct cgset *s)
{
	size_t failed;
	int first_errno;

	cgset_remove(s, &failed, &first_errno);
	cgset_free(s);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int open_channel(struct agent *a, const char *dev)
{
	struct termios t;
	int fd;

	if (!strcmp(dev, "-")) {
		a->in_fd = STDIN_FILENO;
		a->out_fd = STDOUT_FILENO;
		a->host_mode = true;
		return 0;
	}
	fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "bpf-agent: open %s: %s\n", dev,
			strerror(errno));
		return -1;
	}
	if (isatty(fd)) {
		if (tcgetattr(fd, &t)) {
			fprintf(stderr, "bpf-agent: tcgetattr %s: %s\n", dev,
				strerror(errno));
			close(fd);
			return -1;
		}
		cfmakeraw(&t);
		if (tcsetattr(fd, TCSANOW, &t)) {
			fprintf(stderr, "bpf-agent: tcsetattr %s: %s\n", dev,
				strerror(errno));
			close(fd);
			return -1;
		}
	}
	a->in_fd = fd;
	a->out_fd = fd;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bpf-agent --channel DEV|- [--bpf-dir DIR]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "channel", required_argument, NULL, 'c' },
		{ "bpf-dir", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct agent a = { .bpf_dir = "/bpf", .kmsg_fd = -1 };
	const char *channel = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "c:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			channel = optarg;
			break;
		case 'b':
			a.bpf_dir = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (!channel || optind != argc) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/*
	 * The agent's own memory is charged to the scenario's memcg. A fixed
	 * mmap threshold keeps glibc from raising it after the first large
	 * reply (inspector records, optmem arrays), so large buffers are
	 * always unmapped when freed instead of staying on the heap and
	 * looking like lingering memory.
	 */
	if (!mallopt(M_MMAP_THRESHOLD, 64 * 1024) ||
	    !mallopt(M_TRIM_THRESHOLD, 128 * 1024))
		fprintf(stderr, "bpf-agent: mallopt failed\n");
	libbpf_set_print(libbpf_print);
	if (open_channel(&a, channel))
		return 1;
	send_ready(&a);
	serve(&a);
	for (c = 0; c < MAX_MAPS; c++)
		if (a.map_used[c])
			stgmap_close(&a.maps[c]);
	inspector_free(a.insp);
	racecov_free(a.cov);
	sockset_close(&a.socks);
	sockset_free(&a.socks);
	threadset_stop(&a.threads);
	threadset_free(&a.threads);
	cleanup_cgroups(&a.cgroups);
	return 0;
}
