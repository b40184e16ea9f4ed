// SPDX-License-Identifier: GPL-2.0
/*
 * The storage map objects and the map verbs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "sk_common.h"

struct kind {
	const char *name;
	const char *object;	/* file in the BPF directory */
	const char *map;
	const char *prog;	/* creates elements on new owners */
	const char *touch_prog;	/* creates elements on existing owners */
};

static const struct kind kinds[] = {
	{ "sk", "sk_storage.bpf.o", "sk_stg", "sk_create", "sk_touch" },
};

static const struct kind *find_kind(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

void skmap_close(struct skmap *m)
{
	int err;

	if (m->link) {
		err = bpf_link__destroy(m->link);
		if (err)
			fprintf(stderr, "bpf-agent: bpf_link__destroy: %s\n",
				strerror(-err));
	}
	if (m->touch_link) {
		err = bpf_link__destroy(m->touch_link);
		if (err)
			fprintf(stderr, "bpf-agent: bpf_link__destroy: %s\n",
				strerror(-err));
	}
	bpf_object__close(m->obj);	/* programs and map fds */
	m->link = NULL;
	m->touch_link = NULL;
	m->obj = NULL;
	m->map_fd = -1;
}

int skmap_open(struct skmap *m, const char *bpf_dir, const char *kind_name,
	       bool via_prog, const char *cgroup, char *err, size_t errlen)
{
	const struct kind *kind = find_kind(kind_name);
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	struct bpf_program *prog, *touch;
	struct bpf_map *map;
	char path[4096];
	int ret, cgfd;

	memset(m, 0, sizeof(*m));
	m->map_fd = -1;
	if (!kind) {
		snprintf(err, errlen, "unknown kind %s", kind_name);
		return -EINVAL;
	}
	if (via_prog && !cgroup) {
		snprintf(err, errlen, "via=prog needs cgroup=DIR");
		return -EINVAL;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", bpf_dir,
			     kind->object) >= sizeof(path)) {
		snprintf(err, errlen, "BPF directory path too long");
		return -ENAMETOOLONG;
	}
	m->obj = bpf_object__open_file(path, NULL);
	if (!m->obj) {
		ret = -errno;
		snprintf(err, errlen, "open %s: %s", path, strerror(-ret));
		return ret;
	}
	prog = bpf_object__find_program_by_name(m->obj, kind->prog);
	touch = bpf_object__find_program_by_name(m->obj, kind->touch_prog);
	map = bpf_object__find_map_by_name(m->obj, kind->map);
	if (!prog || !touch || !map) {
		snprintf(err, errlen, "%s: no program %s or %s or map %s",
			 path, kind->prog, kind->touch_prog, kind->map);
		ret = -ENOENT;
		goto fail;
	}
	/* from user space, nothing but the map holds a reference to it */
	ret = bpf_program__set_autoload(prog, via_prog);
	if (!ret)
		ret = bpf_program__set_autoload(touch, via_prog);
	if (ret) {
		snprintf(err, errlen, "set_autoload: %s", strerror(-ret));
		goto fail;
	}
	ret = bpf_object__load(m->obj);
	if (ret) {
		snprintf(err, errlen, "load %s: %s", path, strerror(-ret));
		goto fail;
	}
	m->map_fd = bpf_map__fd(map);
	ret = bpf_obj_get_info_by_fd(m->map_fd, &info, &info_len);
	if (ret) {
		ret = -errno;
		snprintf(err, errlen, "map info: %s", strerror(-ret));
		goto fail;
	}
	m->map_id = info.id;
	m->value_size = info.value_size;
	if (m->value_size > SKMAP_VALUE_MAX) {
		snprintf(err, errlen, "value size %u too large", m->value_size);
		ret = -E2BIG;
		goto fail;
	}
	if (!via_prog)
		return 0;
	cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "open %s: %s", cgroup, strerror(-ret));
		goto fail;
	}
	m->link = bpf_program__attach_cgroup(prog, cgfd);
	ret = m->link ? 0 : -errno;
	if (!ret) {
		m->touch_link = bpf_program__attach_cgroup(touch, cgfd);
		ret = m->touch_link ? 0 : -errno;
	}
	close(cgfd);
	if (ret) {
		snprintf(err, errlen, "attach %s/%s to %s: %s", kind->prog,
			 kind->touch_prog, cgroup, strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	skmap_close(m);
	return ret ? ret : -EINVAL;
}

void skmap_create_elems(struct skmap *m, const struct sockset *s,
			size_t *created, size_t *failed, int *first_errno)
{
	char value[SKMAP_VALUE_MAX] = {};
	int one = 1, ret;
	size_t i;
	int fd;

	*created = 0;
	*failed = 0;
	*first_errno = 0;
	for (i = 0; i < s->n; i++) {
		fd = s->fd[i];
		/* with the programs attached, the kernel creates the element */
		if (m->touch_link)
			ret = setsockopt(fd, BPFH_SOL_TOUCH, BPFH_OPT_TOUCH,
					 &one, sizeof(one));
		else
			ret = bpf_map_update_elem(m->map_fd, &fd, value,
						  BPF_NOEXIST);
		if (ret) {
			if (!*first_errno)
				*first_errno = errno;
			(*failed)++;
		} else {
			(*created)++;
		}
	}
}

void skmap_count_elems(struct skmap *m, const struct sockset *s,
		       size_t *present, size_t *absent, size_t *errors,
		       int *first_errno)
{
	char value[SKMAP_VALUE_MAX];
	size_t i;
	int fd;

	*present = 0;
	*absent = 0;
	*errors = 0;
	*first_errno = 0;
	for (i = 0; i < s->n; i++) {
		fd = s->fd[i];
		if (!bpf_map_lookup_elem(m->map_fd, &fd, value)) {
			(*present)++;
		} else if (errno == ENOENT) {
			(*absent)++;
		} else {
			if (!*first_errno)
				*first_errno = errno;
			(*errors)++;
		}
	}
}

int verb_map_open(struct agent *a, struct req *r)
{
	const char *kind = arg_str(r, "kind");
	const char *via = arg_str(r, "via");
	const char *cgroup = arg_str(r, "cgroup");
	bool via_prog;
	char err[512];
	int ret;

	if (!kind || !via)
		return req_fail(r, EINVAL, "missing argument kind or via");
	if (strcmp(via, "user") && strcmp(via, "prog"))
		return req_fail(r, EINVAL, "via=%s: not user or prog", via);
	via_prog = !strcmp(via, "prog");
	if (!via_prog && cgroup)
		return req_fail(r, EINVAL, "cgroup is for via=prog");
	if (a->map_open)
		return req_fail(r, EBUSY, "a map is open already (id %u)",
				a->map.map_id);
	ret = skmap_open(&a->map, a->bpf_dir, kind, via_prog, cgroup, err,
			 sizeof(err));
	if (ret)
		return req_fail(r, -ret, "%s", err);
	a->map_open = true;
	jf_u64(&r->out, "mapId", a->map.map_id);
	jf_u64(&r->out, "valueSize", a->map.value_size);
	return 0;
}

int verb_elems_create(struct agent *a, struct req *r)
{
	size_t created, failed;
	int first_errno;

	if (!a->map_open)
		return req_fail(r, ENOENT, "no map open");
	skmap_create_elems(&a->map, &a->socks, &created, &failed,
			   &first_errno);
	jf_u64(&r->out, "created", created);
	jf_u64(&r->out, "failed", failed);
	jf_int(&r->out, "firstErrno", first_errno);
	return 0;
}

int verb_elems_count(struct agent *a, struct req *r)
{
	size_t present, absent, errors;
	int first_errno;

	if (!a->map_open)
		return req_fail(r, ENOENT, "no map open");
	skmap_count_elems(&a->map, &a->socks, &present, &absent, &errors,
			  &first_errno);
	if (errors)
		return req_fail(r, first_errno,
				"lookup failed on %zu sockets: %s", errors,
				strerror(first_errno));
	jf_u64(&r->out, "present", present);
	jf_u64(&r->out, "absent", absent);
	return 0;
}

int verb_map_close(struct agent *a, struct req *r)
{
	if (!a->map_open)
		return req_fail(r, ENOENT, "no map open");
	jf_u64(&r->out, "mapId", a->map.map_id);
	skmap_close(&a->map);
	a->map_open = false;
	return 0;
}

int verb_map_alive(struct agent *a, struct req *r)
{
	unsigned long long id;
	int fd;

	(void)a;
	if (arg_u64(r, "id", true, 0, 1, UINT32_MAX, &id))
		return -1;
	fd = bpf_map_get_fd_by_id(id);
	if (fd >= 0) {
		close(fd);
		jf_bool(&r->out, "alive", true);
		return 0;
	}
	if (errno != ENOENT)
		return req_fail(r, errno, "bpf_map_get_fd_by_id(%llu): %s", id,
				strerror(errno));
	jf_bool(&r->out, "alive", false);
	return 0;
}
