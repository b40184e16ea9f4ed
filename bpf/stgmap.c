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
	/* a held map has no object: its fd is a dup of its own */
	if (m->held && m->map_fd >= 0 && close(m->map_fd))
		fprintf(stderr, "bpf-agent: close held map %u: %s\n",
			m->map_id, strerror(errno));
	m->obj = NULL;
	m->map_fd = -1;
	m->held = false;
}

/*
 * Keeps a second reference to the map without its object: links and
 * programs go as usual, the map stays (what a leaked map reference in the
 * kernel looks like from outside).
 */
static int hold_fd(struct stgmap *dst, const struct stgmap *m)
{
	int fd = fcntl(m->map_fd, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(dst, 0, sizeof(*dst));
	dst->kind = m->kind;
	dst->map_fd = fd;
	dst->map_id = m->map_id;
	dst->value_size = m->value_size;
	dst->token = m->token;
	dst->held = true;
	return 0;
}

/*
 * Closes the map's programs and links now, keeping the map through a dup of
 * its fd (same file: no extra map reference), so that closing it later is
 * the last reference once the programs' deferred frees have put theirs.
 */
int stgmap_close_progs(struct stgmap *m)
{
	struct stgmap kept;
	int ret = hold_fd(&kept, m);

	if (ret)
		return ret;
	destroy_link(&m->link);
	destroy_link(&m->touch_link);
	bpf_object__close(m->obj);
	*m = kept;
	return 0;
}

static int free_slot(struct agent *a)
{
	int slot;

	for (slot = 0; slot < MAX_MAPS && a->map_used[slot]; slot++)
		;
	return slot < MAX_MAPS ? slot : -EBUSY;
}

int stgmap_hold(struct agent *a, const struct stgmap *m)
{
	int slot = free_slot(a), ret;

	if (slot < 0)
		return slot;
	ret = hold_fd(&a->maps[slot], m);
	if (ret)
		return ret;
	a->map_used[slot] = true;
	return slot;
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

/*
 * A program's bpf_*_storage_get(F_CREATE) may give NULL without a word (an
 * allocation that must not wait, a storage lock it could not take): on a
 * 1-CPU TCG guest of a loaded host, 294 of 768 cgroups once got none, and the
 * scenario could not test. Owners still without an element (a lookup with
 * their fd finds none) are touched again, at most TOUCH_PASSES times in all;
 * how many needed it is said on stderr (the console log). Elements still
 * missing then are for elems-count to find.
 */
#define TOUCH_PASSES	4

static void touch_missing(struct stgmap *m, const struct ownerview *o)
{
	char value[STGMAP_VALUE_MAX];
	size_t i, missing, first = 0;
	int pass;

	for (pass = 1; pass < TOUCH_PASSES; pass++) {
		missing = 0;
		for (i = 0; i < o->n; i++) {
			if (!bpf_map_lookup_elem(m->map_fd, &o->fd[i], value) ||
			    errno != ENOENT)
				continue;
			missing++;
			if (touch_owner(m, o, i))
				break;
		}
		if (pass == 1)
			first = missing;
		if (!missing)
			break;
	}
	if (first)
		fprintf(stderr,
			"bpf-agent: %zu of %zu owners got no element from the program's first touch; touched again (%d passes at most)\n",
			first, o->n, TOUCH_PASSES);
}

void stgmap_create_elems(struct stgmap *m, const struct ownerview *o,
			 size_t *created, size_t *failed, int *first_errno)
{
	char value[STGMAP_VALUE_MAX] = {};
	size_t i;
	int ret;

	/* the map's own stamp: found through another map, it is wrong */
	memcpy(value, &m->token, sizeof(m->token));
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
	if (m->touch_link)
		touch_missing(m, o);
}

/* What lookups through a map found on a set of owners. */
struct lookup_counts {
	size_t present;
	size_t absent;
	size_t errors;
	int first_errno;
	size_t wrong;		/* present, but stamped by another map */
	__u64 wrong_stamp;	/* the first wrong stamp found */
	size_t wrong_owner;	/* ... and on which owner */
};

/*
 * Every element's value starts with its map's token (stgmap_create_elems,
 * and the programs from their .rodata): an element found through this map
 * but stamped by another is a lookup that returned someone else's element
 * (a stale owner cache slot, say), whether or not the memory was freed.
 */
static void lookup_elems(struct stgmap *m, const struct ownerview *o,
			 struct lookup_counts *c)
{
	char value[STGMAP_VALUE_MAX];
	__u64 stamp;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < o->n; i++) {
		if (!bpf_map_lookup_elem(m->map_fd, &o->fd[i], value)) {
			c->present++;
			memcpy(&stamp, value, sizeof(stamp));
			if (stamp != m->token && !c->wrong++) {
				c->wrong_stamp = stamp;
				c->wrong_owner = i;
			}
		} else if (errno == ENOENT) {
			c->absent++;
		} else {
			if (!c->first_errno)
				c->first_errno = errno;
			c->errors++;
		}
	}
}

void stgmap_count_elems(struct stgmap *m, const struct ownerview *o,
			size_t *present, size_t *absent, size_t *errors,
			int *first_errno)
{
	struct lookup_counts c;

	lookup_elems(m, o, &c);
	*present = c.present;
	*absent = c.absent;
	*errors = c.errors;
	*first_errno = c.first_errno;
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
	/* a fault's held or stray map is only ever named */
	for (i = 0; i < MAX_MAPS; i++) {
		if (a->map_used[i] && !a->maps[i].held && !a->maps[i].stray) {
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
	slot = free_slot(a);
	if (slot < 0)
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

/* The agent's stray map of a kind (leave-elem), opened on first use. */
static int stray_map(struct agent *a, const struct stgmap *like,
		     struct req *r)
{
	char err[512];
	int slot, ret;

	for (slot = 0; slot < MAX_MAPS; slot++)
		if (a->map_used[slot] && a->maps[slot].stray &&
		    a->maps[slot].kind == like->kind)
			return slot;
	slot = free_slot(a);
	if (slot < 0)
		return req_fail(r, EBUSY, "stray map: %d maps open already",
				MAX_MAPS);
	ret = stgmap_open(&a->maps[slot], a->bpf_dir, like->kind->name, false,
			  false, NULL, ++a->next_token, err, sizeof(err));
	if (ret)
		return req_fail(r, -ret, "stray map: %s", err);
	a->maps[slot].stray = true;
	a->map_used[slot] = true;
	return slot;
}

/*
 * leave-elem: one element per `every` owners in the stray map, which the
 * agent keeps open when the scenario's map is closed. From outside, that is
 * a map free that left one element per N linked (and charged).
 */
static int leave_stray(struct agent *a, int slot, const struct ownerview *o,
		       unsigned long long every, struct req *r)
{
	char value[STGMAP_VALUE_MAX] = {};
	struct stgmap *m;
	size_t i, strayed = 0;
	int s = stray_map(a, &a->maps[slot], r);

	if (s < 0)
		return -1;
	m = &a->maps[s];
	memcpy(value, &m->token, sizeof(m->token));
	for (i = 0; i < o->n; i += every) {
		if (bpf_map_update_elem(m->map_fd, &o->fd[i], value, BPF_ANY))
			return req_fail(r, errno,
					"stray element on owner %zu: %s", i,
					strerror(errno));
		strayed++;
	}
	jf_u64(&r->out, "strayMapId", m->map_id);
	jf_u64(&r->out, "strayed", strayed);
	return 0;
}

/*
 * stale-value: owners 0, N, 2N, ... get their element rewritten with the
 * stamp of another open map of the kind, which is what a lookup served from
 * another map's (stale) cache slot returns. Without such a map: nothing.
 */
static int restamp(struct agent *a, int slot, const struct ownerview *o,
		   unsigned long long every, struct req *r)
{
	char value[STGMAP_VALUE_MAX] = {};
	struct stgmap *m = &a->maps[slot];
	size_t i, restamped = 0;
	int other;

	for (other = MAX_MAPS - 1; other >= 0; other--)
		if (other != slot && a->map_used[other] &&
		    !a->maps[other].held && !a->maps[other].stray &&
		    a->maps[other].kind == m->kind)
			break;
	if (other >= 0) {
		memcpy(value, &a->maps[other].token, sizeof(__u64));
		for (i = 0; i < o->n; i += every) {
			if (bpf_map_update_elem(m->map_fd, &o->fd[i], value,
						BPF_EXIST))
				return req_fail(r, errno,
						"restamp owner %zu: %s", i,
						strerror(errno));
			restamped++;
		}
	}
	jf_u64(&r->out, "restamped", restamped);
	return 0;
}

int verb_elems_create(struct agent *a, struct req *r)
{
	struct ownerview o;
	unsigned long long every, stale;
	size_t created, failed;
	int first_errno, slot = find_map(a, r);

	if (slot < 0 || arg_u64(r, "stray", false, 0, 0, 1u << 20, &every) ||
	    arg_u64(r, "restamp", false, 0, 0, 1u << 20, &stale))
		return -1;
	o = agent_owners(a, stgmap_owner_kind(&a->maps[slot]));
	stgmap_create_elems(&a->maps[slot], &o, &created, &failed,
			    &first_errno);
	jf_u64(&r->out, "created", created);
	jf_u64(&r->out, "failed", failed);
	jf_int(&r->out, "firstErrno", first_errno);
	if (stale && restamp(a, slot, &o, stale, r))
		return -1;
	if (every)
		return leave_stray(a, slot, &o, every, r);
	return 0;
}

int verb_elems_count(struct agent *a, struct req *r)
{
	struct ownerview o;
	struct lookup_counts c;
	int slot = find_map(a, r);

	if (slot < 0)
		return -1;
	o = agent_owners(a, stgmap_owner_kind(&a->maps[slot]));
	lookup_elems(&a->maps[slot], &o, &c);
	if (c.errors)
		return req_fail(r, c.first_errno,
				"lookup failed on %zu owners: %s", c.errors,
				strerror(c.first_errno));
	jf_u64(&r->out, "present", c.present);
	jf_u64(&r->out, "absent", c.absent);
	jf_u64(&r->out, "wrongValue", c.wrong);
	if (c.wrong) {
		jf_u64(&r->out, "wrongStamp", c.wrong_stamp);
		jf_u64(&r->out, "wrongOwner", c.wrong_owner);
		jf_u64(&r->out, "stamp", a->maps[slot].token);
	}
	return 0;
}

/*
 * hold=1 (hold-map): the object goes (programs, links, its map fd), but the
 * slot keeps a second reference to the map until a plain map-close.
 */
int verb_map_close(struct agent *a, struct req *r)
{
	unsigned long long hold;
	struct stgmap held;
	int ret, slot = find_map(a, r);

	if (slot < 0 || arg_u64(r, "hold", false, 0, 0, 1, &hold))
		return -1;
	jf_u64(&r->out, "mapId", a->maps[slot].map_id);
	if (hold && !a->maps[slot].held) {
		ret = hold_fd(&held, &a->maps[slot]);
		if (ret)
			return req_fail(r, -ret, "hold: %s", strerror(-ret));
		stgmap_close(&a->maps[slot]);
		a->maps[slot] = held;
		jf_bool(&r->out, "held", true);
		return 0;
	}
	stgmap_close(&a->maps[slot]);
	a->maps[slot].stray = false;
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
