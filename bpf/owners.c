// SPDX-License-Identifier: GPL-2.0
/*
 * Owners of task and cgroup storage: parked threads and child cgroups, and
 * their verbs. (Sockets are in ops.c.)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "agent.h"

/* bookworm's headers predate it (6.9): pidfd of a thread, not a process */
#ifndef PIDFD_THREAD
#define PIDFD_THREAD	O_EXCL
#endif

/*
 * Small stacks: thousands of parked threads must not need much memory. At
 * least the C library's minimum, which aarch64's glibc puts at 128 KiB (64 KiB
 * there is EINVAL).
 */
#define OWNER_STACK	(64 * 1024)

static size_t owner_stack(void)
{
	long min = sysconf(_SC_THREAD_STACK_MIN);

	return min > OWNER_STACK ? (size_t)min : OWNER_STACK;
}

enum { OWNER_STARTING, OWNER_PARKED, OWNER_EXIT };

struct owner_thread {
	pthread_t thread;
	atomic_int state;	/* futex word */
	pid_t tid;
};

static void futex_wait(atomic_int *word, int val)
{
	/* EAGAIN (changed already) and EINTR: the caller checks again */
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(atomic_int *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void *owner_main(void *arg)
{
	struct owner_thread *t = arg;

	int starting = OWNER_STARTING;

	t->tid = gettid();
	/* told to exit before it parked (a failed spawn): it does not park */
	atomic_compare_exchange_strong(&t->state, &starting, OWNER_PARKED);
	futex_wake(&t->state);
	while (atomic_load(&t->state) != OWNER_EXIT)
		futex_wait(&t->state, OWNER_PARKED);
	return NULL;
}

static int grow(void **p, size_t elem, size_t cap)
{
	void *n = realloc(*p, elem * cap);

	if (!n)
		return -ENOMEM;
	*p = n;
	return 0;
}

static int threadset_reserve(struct threadset *s, size_t cap)
{
	if (cap <= s->cap)
		return 0;
	if (grow((void **)&s->t, sizeof(*s->t), cap) ||
	    grow((void **)&s->pidfd, sizeof(*s->pidfd), cap) ||
	    grow((void **)&s->tid, sizeof(*s->tid), cap))
		return -ENOMEM;
	s->cap = cap;
	return 0;
}

/* Starts one thread; it parks on its own. 0 or -errno. */
static int start_one(struct threadset *s, pthread_attr_t *attr)
{
	struct owner_thread *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return -ENOMEM;
	atomic_init(&t->state, OWNER_STARTING);
	ret = pthread_create(&t->thread, attr, owner_main, t);
	if (ret) {
		free(t);
		return -ret;
	}
	s->t[s->n] = t;
	s->pidfd[s->n] = -1;
	s->tid[s->n] = 0;
	s->n++;
	return 0;
}

/* Waits until thread i has parked and opens its pidfd; 0 or -errno. */
static int finish_one(struct threadset *s, size_t i)
{
	struct owner_thread *t = s->t[i];
	int fd;

	while (atomic_load(&t->state) == OWNER_STARTING)
		futex_wait(&t->state, OWNER_STARTING);
	fd = syscall(SYS_pidfd_open, t->tid, PIDFD_THREAD);
	if (fd < 0)
		return -errno;
	s->pidfd[i] = fd;
	s->tid[i] = t->tid;
	return 0;
}

/*
 * All threads are started before any is waited for: a handshake per thread
 * would cost two context switches each, which TCG makes slow.
 */
int threadset_spawn(struct threadset *s, size_t count)
{
	size_t base = s->n, i;
	pthread_attr_t attr;
	int ret;

	ret = threadset_reserve(s, s->n + count);
	if (ret)
		return ret;
	ret = pthread_attr_init(&attr);
	if (ret)
		return -ret;
	ret = -pthread_attr_setstacksize(&attr, owner_stack());
	for (i = 0; !ret && i < count; i++)
		ret = start_one(s, &attr);
	pthread_attr_destroy(&attr);
	for (i = base; !ret && i < s->n; i++)
		ret = finish_one(s, i);
	if (ret) {
		/* all or nothing: keep the set as it was */
		for (i = base; i < s->n; i++) {
			threadset_release(s, i);
			pthread_join(s->t[i]->thread, NULL);
			free(s->t[i]);
		}
		s->n = base;
	}
	return ret;
}

void threadset_release(struct threadset *s, size_t i)
{
	struct owner_thread *t = s->t[i];

	if (s->pidfd[i] >= 0 && close(s->pidfd[i]))
		fprintf(stderr, "bpf-agent: close pidfd: %s\n",
			strerror(errno));
	s->pidfd[i] = -1;
	atomic_store(&t->state, OWNER_EXIT);
	futex_wake(&t->state);
}

size_t threadset_stop(struct threadset *s)
{
	size_t i, n = s->n;

	for (i = 0; i < n; i++) {
		if (atomic_load(&s->t[i]->state) != OWNER_EXIT)
			threadset_release(s, i);
	}
	for (i = 0; i < n; i++) {
		pthread_join(s->t[i]->thread, NULL);
		free(s->t[i]);
	}
	s->n = 0;
	return n;
}

void threadset_free(struct threadset *s)
{
	free(s->t);
	free(s->pidfd);
	free(s->tid);
	memset(s, 0, sizeof(*s));
}

static int cgset_reserve(struct cgset *s, size_t cap)
{
	if (cap <= s->cap)
		return 0;
	if (grow((void **)&s->path, sizeof(*s->path), cap) ||
	    grow((void **)&s->fd, sizeof(*s->fd), cap) ||
	    grow((void **)&s->id, sizeof(*s->id), cap))
		return -ENOMEM;
	s->cap = cap;
	return 0;
}

/*
 * mkdir PARENT/bpfh-oN and hold it open; its inode number is its id. A name
 * that exists is skipped: another set's cgroup (a race's kept owner, see
 * owner_keep) may have it.
 */
static int make_one(struct cgset *s, const char *parent)
{
	struct stat st;
	char *path;
	int fd, ret, tries = 0;

	for (;;) {
		if (asprintf(&path, "%s/bpfh-o%llu", parent, s->next++) < 0)
			return -ENOMEM;
		if (!mkdir(path, 0755))
			break;
		ret = -errno;
		free(path);
		if (ret != -EEXIST || ++tries == 1024)
			return ret;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		rmdir(path);
		free(path);
		return ret;
	}
	s->path[s->n] = path;
	s->fd[s->n] = fd;
	s->id[s->n] = st.st_ino;
	s->n++;
	return 0;
}

int cgset_make(struct cgset *s, const char *parent, size_t count)
{
	size_t base = s->n, i;
	int ret;

	ret = cgset_reserve(s, s->n + count);
	for (i = 0; !ret && i < count; i++)
		ret = make_one(s, parent);
	if (ret) {
		while (s->n > base) {
			cgset_release(s, s->n - 1);
			free(s->path[--s->n]);
		}
	}
	return ret;
}

int cgset_release(struct cgset *s, size_t i)
{
	int ret = 0;

	if (s->fd[i] >= 0 && close(s->fd[i]))
		ret = -errno;
	s->fd[i] = -1;
	if (rmdir(s->path[i]) && !ret)
		ret = -errno;
	return ret;
}

size_t cgset_remove(struct cgset *s, size_t *failed, int *first_errno)
{
	size_t i, removed = 0;
	int ret;

	*failed = 0;
	*first_errno = 0;
	for (i = 0; i < s->n; i++) {
		ret = s->fd[i] >= 0 ? cgset_release(s, i) : 0;
		if (ret) {
			fprintf(stderr, "bpf-agent: remove %s: %s\n",
				s->path[i], strerror(-ret));
			if (!*first_errno)
				*first_errno = -ret;
			(*failed)++;
		} else {
			removed++;
		}
		free(s->path[i]);
	}
	s->n = 0;
	return removed;
}

void cgset_free(struct cgset *s)
{
	free(s->path);
	free(s->fd);
	free(s->id);
	memset(s, 0, sizeof(*s));
}

struct ownerview owner_view(enum owner_kind kind, const struct sockset *socks,
			    const struct threadset *threads,
			    const struct cgset *cgroups)
{
	struct ownerview o = { .kind = kind };

	switch (kind) {
	case OWNER_SK:
		o.fd = socks->fd;
		o.n = socks->n;
		break;
	case OWNER_TASK:
		o.fd = threads->pidfd;
		o.id = threads->tid;
		o.n = threads->n;
		break;
	case OWNER_CGRP:
		o.fd = cgroups->fd;
		o.id = cgroups->id;
		o.n = cgroups->n;
		break;
	}
	return o;
}

struct ownerview agent_owners(const struct agent *a, enum owner_kind kind)
{
	return owner_view(kind, &a->socks, &a->threads, &a->cgroups);
}

int verb_threads_spawn(struct agent *a, struct req *r)
{
	unsigned long long count;
	int err;

	if (arg_u64(r, "count", true, 0, 0, 1u << 16, &count))
		return -1;
	err = threadset_spawn(&a->threads, count);
	if (err)
		return req_fail(r, -err, "thread: %s (none of %llu kept)",
				strerror(-err), count);
	jf_u64(&r->out, "count", count);
	jf_u64(&r->out, "held", a->threads.n);
	return 0;
}

int verb_threads_stop(struct agent *a, struct req *r)
{
	jf_u64(&r->out, "stopped", threadset_stop(&a->threads));
	return 0;
}

int verb_cgroups_make(struct agent *a, struct req *r)
{
	const char *parent = arg_str(r, "parent");
	unsigned long long count;
	int err;

	if (!parent)
		return req_fail(r, EINVAL, "missing argument parent");
	if (arg_u64(r, "count", true, 0, 0, 1u << 16, &count))
		return -1;
	err = cgset_make(&a->cgroups, parent, count);
	if (err)
		return req_fail(r, -err,
				"cgroup under %s: %s (none of %llu kept)",
				parent, strerror(-err), count);
	jf_u64(&r->out, "count", count);
	jf_u64(&r->out, "held", a->cgroups.n);
	return 0;
}

int verb_cgroups_remove(struct agent *a, struct req *r)
{
	size_t removed, failed;
	int first_errno;

	removed = cgset_remove(&a->cgroups, &failed, &first_errno);
	if (failed)
		return req_fail(r, first_errno,
				"%zu cgroups removed, %zu not: %s", removed,
				failed, strerror(first_errno));
	jf_u64(&r->out, "removed", removed);
	return 0;
}

/*
 * Moves owner i of a race round's sets into the agent's own, where the
 * usual verbs release it; the round's set keeps its order otherwise (the
 * last owner takes slot i). Only after the round's threads are joined.
 */
int owner_keep(struct agent *a, enum owner_kind kind, struct sockset *socks,
	       struct threadset *threads, struct cgset *cgroups, size_t i)
{
	struct sockset *ds = &a->socks;
	struct threadset *dt = &a->threads;
	struct cgset *dc = &a->cgroups;
	size_t last;

	switch (kind) {
	case OWNER_SK:
		if (ds->n == ds->cap) {
			if (grow((void **)&ds->fd, sizeof(*ds->fd),
				 ds->cap + 1))
				return -ENOMEM;
			ds->cap++;
		}
		ds->fd[ds->n++] = socks->fd[i];
		last = --socks->n;
		socks->fd[i] = socks->fd[last];
		return 0;
	case OWNER_TASK:
		if (threadset_reserve(dt, dt->n + 1))
			return -ENOMEM;
		dt->t[dt->n] = threads->t[i];
		dt->pidfd[dt->n] = threads->pidfd[i];
		dt->tid[dt->n++] = threads->tid[i];
		last = --threads->n;
		threads->t[i] = threads->t[last];
		threads->pidfd[i] = threads->pidfd[last];
		threads->tid[i] = threads->tid[last];
		return 0;
	case OWNER_CGRP:
		if (cgset_reserve(dc, dc->n + 1))
			return -ENOMEM;
		dc->path[dc->n] = cgroups->path[i];
		dc->fd[dc->n] = cgroups->fd[i];
		dc->id[dc->n++] = cgroups->id[i];
		last = --cgroups->n;
		cgroups->path[i] = cgroups->path[last];
		cgroups->fd[i] = cgroups->fd[last];
		cgroups->id[i] = cgroups->id[last];
		return 0;
	}
	return -EINVAL;
}
