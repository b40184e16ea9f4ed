// SPDX-License-Identifier: GPL-2.0
/*
 * The keep verb: what a user looks at after a scenario, in a shell in the
 * guest (bpf-harness shell --after, vm-test --shell-on-fail). Every local
 * storage map the kernel still has is pinned in a bpffs directory (the pin
 * is a reference: the map stays until the guest stops, whoever else drops
 * theirs), and the owners the agent holds are listed with what finds them
 * from a shell: its pid for the sockets (/proc/PID/fd), the thread ids, the
 * cgroup paths and ids. The owners stay alive because the host does not
 * release them; the agent only reports.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <bpf/bpf.h>

#include "agent.h"

#define KEEP_DIR_DEFAULT	"/sys/fs/bpf/bpfh"

/* uapi values; the build host's linux/bpf.h may predate cgrp storage (6.2). */
static const struct {
	__u32 type;
	const char *name;
} storage_types[] = {
	{ 24, "sk_storage" },
	{ 28, "inode_storage" },
	{ 29, "task_storage" },
	{ 32, "cgrp_storage" },
};

static const char *storage_type_name(__u32 type)
{
	size_t i;

	for (i = 0; i < sizeof(storage_types) / sizeof(storage_types[0]); i++)
		if (storage_types[i].type == type)
			return storage_types[i].name;
	return NULL;
}

/*
 * Pins map `id` at dir/TYPE-ID when it is a local storage map; appends its
 * record to the reply. 0 when done or not a storage map, -errno otherwise
 * (ENOENT: freed meanwhile, not an error of the verb).
 */
static int keep_map(struct req *r, const char *dir, __u32 id, bool *first)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[512];
	const char *type;
	int fd, err = 0;

	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		goto out;
	}
	type = storage_type_name(info.type);
	if (!type)
		goto out;
	if (snprintf(path, sizeof(path), "%s/%s-%u", dir, type, id) >=
	    (int)sizeof(path)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	if (bpf_obj_pin(fd, path) && errno != EEXIST) {
		err = -errno;
		goto out;
	}
	jb_printf(&r->out, "%s{\"id\":%u,\"type\":\"%s\"", *first ? "" : ",",
		  id, type);
	jf_str(&r->out, "name", info.name);
	jf_str(&r->out, "pin", path);
	jb_raw(&r->out, "}", 1);
	*first = false;
out:
	close(fd);
	return err;
}

static int keep_maps(struct req *r, const char *dir)
{
	bool first = true;
	__u32 id = 0;
	int err;

	jb_printf(&r->out, ",\"maps\":[");
	for (;;) {
		if (bpf_map_get_next_id(id, &id)) {
			if (errno == ENOENT)
				break;
			return req_fail(r, errno, "bpf_map_get_next_id after %u: %s",
					id, strerror(errno));
		}
		err = keep_map(r, dir, id, &first);
		if (err)
			return req_fail(r, -err, "pinning map %u in %s: %s", id,
					dir, strerror(-err));
	}
	jb_raw(&r->out, "]", 1);
	return 0;
}

static void list_owners(struct agent *a, struct req *r)
{
	size_t i;

	jf_int(&r->out, "pid", getpid());
	jb_printf(&r->out, ",\"sockets\":[");
	for (i = 0; i < a->socks.n; i++)
		jb_printf(&r->out, i ? ",%d" : "%d", a->socks.fd[i]);
	jb_printf(&r->out, "],\"threads\":[");
	for (i = 0; i < a->threads.n; i++)
		jb_printf(&r->out, i ? ",%llu" : "%llu",
			  (unsigned long long)a->threads.tid[i]);
	jb_printf(&r->out, "],\"cgroups\":[");
	for (i = 0; i < a->cgroups.n; i++) {
		jb_printf(&r->out, "%s{\"id\":%llu", i ? "," : "",
			  (unsigned long long)a->cgroups.id[i]);
		jf_str(&r->out, "path", a->cgroups.path[i]);
		jb_raw(&r->out, "}", 1);
	}
	jb_raw(&r->out, "]", 1);
}

int verb_keep(struct agent *a, struct req *r)
{
	const char *dir = arg_str(r, "dir");

	if (!dir)
		dir = KEEP_DIR_DEFAULT;
	if (dir[0] != '/')
		return req_fail(r, EINVAL, "dir must be an absolute path");
	if (mkdir(dir, 0700) && errno != EEXIST)
		return req_fail(r, errno, "mkdir %s: %s", dir, strerror(errno));
	jf_str(&r->out, "dir", dir);
	if (keep_maps(r, dir))
		return -1;
	list_owners(a, r);
	return 0;
}
