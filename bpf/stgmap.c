// SPDX-License-Identifier: GPL-2.0
/*
 * The storage map objects (sk, task, cgrp) and the map verbs. Several maps
 * may be open at once; the verbs name one by its map id.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "sk_common.h"
#include "stg_common.h"

struct stg_kind {
	const char *name;
	enum owner_kind owner;
	const char *object;	/* file in the BPF directory */
	const char *map;
	const char *small_map;	/* same kind, smaller value (user space only) */
	const char *prog;	/* creates elements on new owners */
	const char *touch_prog;	/* creates elements on existing owners */
	bool prog_needs_cgroup;	/* attached to a cgroup, not globally */
};

static const struct stg_kind kinds[] = {
	{ "sk", OWNER_SK, "sk_storage.bpf.o", "sk_stg", NULL, "sk_create",
	  "sk_touch", true },
	{ "task", OWNER_TASK, "task_storage.bpf.o", "task_stg",
	  "task_stg_small", "task_new", "task_touch", false },
	{ "cgrp", OWNER_CGRP, "cgrp_storage.bpf.o", "cgrp_stg",
	  "cgrp_stg_small", "cgrp_new", "cgrp_touch", false },
};

static const struct stg_kind *find_kind(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

enum owner_kind stgmap_owner_kind(const struct stgmap *m)
{
	return m->kind->owner;
}

static void destroy_link(struct bpf_link **link)
{
	int err;

	if (!*link)
		return;
	err = bpf_link__destroy(*link);
	if (err)
		fprintf(stderr, "bpf-agent: bpf_link__destroy: %s\n",
			strerror(-err));
	*link = NULL;
}

void stgmap_close(struct stgmap *m)
{
	destroy_link(&m->link);
	destroy_link(&m->touch_link);
	bpf_object__close(m->obj);	/* programs and map fds */
	m->obj = NULL;
	m->map_fd = -1;
}

/* The object's .rodata holds a struct bpfh_cfg (task and cgrp objects). */
static int set_cfg(struct bpf_object *obj, __u64 token, char *err,
		   size_t errlen)
{
	struct bpf_map *rodata = bpf_object__find_map_by_name(obj, ".rodata");
	struct bpfh_cfg cfg = { .token = token, .tgid = getpid() };
	size_t size = 0;
	int ret;

	if (!rodata)
		return 0;
	/* libbpf 1.1 hands out the image read-only: replace it whole */
	if (!bpf_map__initial_value(rodata, &size) || size != sizeof(cfg)) {
		snprintf(err, errlen, ".rodata is %zu bytes, want %zu", size,
			 sizeof(cfg));
		return -EINVAL;
	}
	ret = bpf_map__set_initial_value(rodata, &cfg, sizeof(cfg));
	if (ret)
		snprintf(err, errlen, "set .rodata: %s", strerror(-ret));
	return ret;
}

/* Loads only what this map needs: no other map, no unused program. */
static int select_parts(struct stgmap *m, const struct stg_kind *kind,
			bool small, bool via_prog, struct bpf_program **prog,
			struct bpf_program **touch, struct bpf_map **map,
			char *err, size_t errlen)
{
	struct bpf_map *other = NULL;
	int ret;

	*prog = bpf_object__find_program_by_name(m->obj, kind->prog);
	*touch = bpf_object__find_program_by_name(m->obj, kind->touch_prog);
	*map = bpf_object__find_map_by_name(m->obj, small ? kind->small_map :
					    kind->map);
	if (kind->small_map)
		other = bpf_object__find_map_by_name(m->obj, small ?
						     kind->map :
						     kind->small_map);
	if (!*prog || !*touch || !*map || (kind->small_map && !other)) {
		snprintf(err, errlen, "%s: programs or maps missing",
			 kind->object);
		return -ENOENT;
	}
	/* from user space, nothing but the map holds a reference to it */
	ret = bpf_program__set_autoload(*prog, via_prog);
	if (!ret)
		ret = bpf_program__set_autoload(*touch, via_prog);
	if (!ret && other)
		ret = bpf_map__set_autocreate(other, false);
	if (ret)
		snprintf(err, errlen, "set_autoload/autocreate: %s",
			 strerror(-ret));
	return ret;
}

static int attach(struct stgmap *m, struct bpf_program *prog,
		  struct bpf_program *touch, const char *cgroup, char *err,
		  size_t errlen)
{
	int ret, cgfd = -1;

	if (m->kind->prog_needs_cgroup) {
		cgfd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cgfd < 0) {
			ret = -errno;
			snprintf(err, errlen, "open %s: %s", cgroup,
				 strerror(-ret));
			return ret;
		}
		m->link = bpf_program__attach_cgroup(prog, cgfd);
	} else {
		m->link = bpf_program__attach(prog);
	}
	ret = m->link ? 0 : -errno;
	if (!ret) {
		m->touch_link = cgfd >= 0 ?
			bpf_program__attach_cgroup(touch, cgfd) :
			bpf_program__attach(touch);
		ret = m->touch_link ? 0 : -errno;
	}
	if (cgfd >= 0)
		close(cgfd);
	if (ret)
		snprintf(err, errlen, "attach %s/%s: %s", m->kind->prog,
			 m->kind->touch_prog, strerror(-ret));
	return ret;
}

int stgmap_open(struct stgmap *m, const char *bpf_dir, const char *kind_name,
		bool small, bool via_prog, const char *cgroup, __u64 token,
		char *err, size_t errlen)
{
	const struct stg_kind *kind = find_kind(kind_name);
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	struct bpf_program *prog, *touch;
	struct bpf_map *map;
	char path[4096];
	int ret;

	memset(m, 0, sizeof(*m));
	m->map_fd = -1;
	m->token = token;
	if (!kind) {
		snprintf(err, errlen, "unknown kind %s", kind_name);
		return -EINVAL;
	}
	m->kind = kind;
	if (via_prog && kind->prog_needs_cgroup && !cgroup) {
		snprintf(err, errlen, "via=prog needs cgroup=DIR");
		return -EINVAL;
	}
	if (small && (!kind->small_map || via_prog)) {
		snprintf(err, errlen, "value=small: only %s",
			 kind->small_map ? "via=user" : "task and cgrp");
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
	ret = select_parts(m, kind, small, via_prog, &prog, &touch, &map, err,
			   errlen);
	if (!ret)
		ret = set_cfg(m->obj, token, err, errlen);
	if (ret)
		goto fail;
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
	if (m->value_size > STGMAP_VALUE_MAX) {
		snprintf(err, errlen, "value size %u too large", m->value_size);
		ret = -E2BIG;
		goto fail;
	}
	if (!via_prog)
		return 0;
	ret = attach(m, prog, touch, cgroup, err, errlen);
	if (ret)
		goto fail;
	return 0;
fail:
	stgmap_close(m);
	return ret ? ret : -EINVAL;
}

/* Makes the attached touch program create the element on owner i. */
static int touch_owner(struct stgmap *m, const struct ownerview *o, size_t i)
{
	int one = 1;

	if (o->kind == OWNER_SK)
		return setsockopt(o->fd[i], BPFH_SOL_TOUCH, BPFH_OPT_TOUCH,
				  &one, sizeof(one));
	/*
	 * No kernel prctl takes this option: EINVAL is the expected answer,
	 * after the sys_enter program ran. Whether it made the element is
	 * for elems-count to say.
	 */
	if (prctl(BPFH_PR_TOUCH, o->id[i], m->token, 0, 0) && errno != EINVAL)
		return -1;
	return 0;
}

void stgmap_create_elems(struct stgmap *m, const struct ownerview *o,
			 size_t *created, size_t *failed, int *first_errno)
{
	char value[STGMAP_VALUE_MAX] = {};
	size_t i;
	int ret;

	*created = 0;
	*failed = 0;
	*first_errno = 0;
	for (i = 0; i < o->n; i++) {
		/* with the programs attached, the kernel creates the element */
		if (m->touch_link)
			ret = touch_owner(m, o, i);
		else
			ret = bpf_map_update_elem(m->map_fd, &o->fd[i], value,
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

void stgmap_count_elems(struct stgmap *m, const struct ownerview *o,
			size_t *present, size_t *absent, size_t *errors,
			int *first_errno)
{
	char value[STGMAP_VALUE_MAX];
	size_t i;

	*present = 0;
	*absent = 0;
	*errors = 0;
	*first_errno = 0;
	for (i = 0; i < o->n; i++) {
		if (!bpf_map_lookup_elem(m->map_fd, &o->fd[i], value)) {
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

/*
 * The map a verb works on: map=ID, or the only open map when there is
 * exactly one (what a one-map client never has to name). Slot or -1.
 */
static int find_map(struct agent *a, struct req *r)
{
	unsigned long long id;
	int i, found = -1, open = 0;

	if (arg_str(r, "map")) {
		if (arg_u64(r, "map", true, 0, 1, UINT32_MAX, &id))
			return -1;
		for (i = 0; i < MAX_MAPS; i++)
			if (a->map_used[i] && a->maps[i].map_id == id)
				return i;
		req_fail(r, ENOENT, "no open map with id %llu", id);
		return -1;
	}
	for (i = 0; i < MAX_MAPS; i++) {
		if (a->map_used[i]) {
			found = i;
			open++;
		}
	}
	if (open == 1)
		return found;
	req_fail(r, open ? EINVAL : ENOENT, open ?
		 "%d maps open: name one with map=ID" : "no map open", open);
	return -1;
}

int verb_map_open(struct agent *a, struct req *r)
{
	const char *kind = arg_str(r, "kind");
	const char *via = arg_str(r, "via");
	const char *cgroup = arg_str(r, "cgroup");
	const char *value = arg_str(r, "value");
	bool via_prog, small;
	char err[512];
	int ret, slot;

	if (!kind || !via)
		return req_fail(r, EINVAL, "missing argument kind or via");
	if (strcmp(via, "user") && strcmp(via, "prog"))
		return req_fail(r, EINVAL, "via=%s: not user or prog", via);
	if (value && strcmp(value, "big") && strcmp(value, "small"))
		return req_fail(r, EINVAL, "value=%s: not big or small", value);
	via_prog = !strcmp(via, "prog");
	small = value && !strcmp(value, "small");
	if (!via_prog && cgroup)
		return req_fail(r, EINVAL, "cgroup is for via=prog");
	for (slot = 0; slot < MAX_MAPS && a->map_used[slot]; slot++)
		;
	if (slot == MAX_MAPS)
		return req_fail(r, EBUSY, "%d maps open already", MAX_MAPS);
	ret = stgmap_open(&a->maps[slot], a->bpf_dir, kind, small, via_prog,
			  cgroup, ++a->next_token, err, sizeof(err));
	if (ret)
		return req_fail(r, -ret, "%s", err);
	a->map_used[slot] = true;
	jf_u64(&r->out, "mapId", a->maps[slot].map_id);
	jf_u64(&r->out, "valueSize", a->maps[slot].value_size);
	return 0;
}

int verb_elems_create(struct agent *a, struct req *r)
{
	struct ownerview o;
	size_t created, failed;
	int first_errno, slot = find_map(a, r);

	if (slot < 0)
		return -1;
	o = agent_owners(a, stgmap_owner_kind(&a->maps[slot]));
	stgmap_create_elems(&a->maps[slot], &o, &created, &failed,
			    &first_errno);
	jf_u64(&r->out, "created", created);
	jf_u64(&r->out, "failed", failed);
	jf_int(&r->out, "firstErrno", first_errno);
	return 0;
}

int verb_elems_count(struct agent *a, struct req *r)
{
	struct ownerview o;
	size_t present, absent, errors;
	int first_errno, slot = find_map(a, r);

	if (slot < 0)
		return -1;
	o = agent_owners(a, stgmap_owner_kind(&a->maps[slot]));
	stgmap_count_elems(&a->maps[slot], &o, &present, &absent, &errors,
			   &first_errno);
	if (errors)
		return req_fail(r, first_errno,
				"lookup failed on %zu owners: %s", errors,
				strerror(first_errno));
	jf_u64(&r->out, "present", present);
	jf_u64(&r->out, "absent", absent);
	return 0;
}

int verb_map_close(struct agent *a, struct req *r)
{
	int slot = find_map(a, r);

	if (slot < 0)
		return -1;
	jf_u64(&r->out, "mapId", a->maps[slot].map_id);
	stgmap_close(&a->maps[slot]);
	a->map_used[slot] = false;
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
