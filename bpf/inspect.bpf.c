// SPDX-License-Identifier: GPL-2.0
/*
 * The inspector: iterator programs that read each owner's local storage
 * pointer and walk its element list, so the harness counts lingering
 * elements directly instead of through memory counters.
 *
 * One text record per owner whose storage struct is attached:
 *   "<kind> <owner> <map id>...\n"      kind: task, cgrp or sk
 * (the owner is a thread id, a cgroup id, or "tgid/fd" for a socket; one map
 * id per linked element, 0 when the element's map pointer is NULL; a last
 * field "+" when the list was longer than INSPECT_MAX_ELEMS). Owners without
 * storage print nothing. After the last owner, one trailer:
 *   "end <kind> <owners visited> <storages> <elements>\n"
 *
 * Only fields that 6.12 and 7.3 both have are read (the series reworked
 * bpf_local_storage and bpf_local_storage_elem around them), all with CO-RE
 * relocations, so the list is found at its offset on the running kernel.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define INSPECT_MAX_ELEMS	64
#define S_IFMT			00170000
#define S_IFSOCK		0140000

__u64 visited, storages, elems;

static void reset(struct bpf_iter_meta *meta)
{
	if (meta->seq_num == 0) {
		visited = 0;
		storages = 0;
		elems = 0;
	}
}

/* Prints the record of one owner's storage; nothing when there is none. */
static __always_inline void report(struct seq_file *seq, const char *kind,
				   __u64 a, __u64 b, bool pair,
				   struct bpf_local_storage *ls)
{
	struct bpf_local_storage_elem *selem;
	struct bpf_local_storage_map *smap;
	struct hlist_node *node;
	__u32 off, id;
	int i;

	visited++;
	if (!ls)
		return;
	storages++;
	if (pair)
		BPF_SEQ_PRINTF(seq, "%s %llu/%llu", kind, a, b);
	else
		BPF_SEQ_PRINTF(seq, "%s %llu", kind, a);
	off = bpf_core_field_offset(struct bpf_local_storage_elem, snode);
	node = BPF_CORE_READ(ls, list.first);
	for (i = 0; i < INSPECT_MAX_ELEMS && node; i++) {
		selem = (void *)node - off;
		smap = BPF_CORE_READ(selem, sdata.smap);
		id = smap ? BPF_CORE_READ(smap, map.id) : 0;
		BPF_SEQ_PRINTF(seq, " %u", id);
		elems++;
		node = BPF_CORE_READ(node, next);
	}
	if (node)
		BPF_SEQ_PRINTF(seq, " +");
	BPF_SEQ_PRINTF(seq, "\n");
}

static void trailer(struct seq_file *seq, const char *kind)
{
	BPF_SEQ_PRINTF(seq, "end %s %llu %llu %llu\n", kind, visited,
		       storages, elems);
}

SEC("iter/task")
int inspect_task(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	reset(ctx->meta);
	if (!task) {
		trailer(ctx->meta->seq, "task");
		return 0;
	}
	report(ctx->meta->seq, "task", task->pid, 0, false,
	       BPF_CORE_READ(task, bpf_storage));
	return 0;
}

SEC("iter/cgroup")
int inspect_cgrp(struct bpf_iter__cgroup *ctx)
{
	struct cgroup *cgrp = ctx->cgroup;

	reset(ctx->meta);
	if (!cgrp) {
		trailer(ctx->meta->seq, "cgrp");
		return 0;
	}
	report(ctx->meta->seq, "cgrp", BPF_CORE_READ(cgrp, kn, id), 0, false,
	       BPF_CORE_READ(cgrp, bpf_cgrp_storage));
	return 0;
}

SEC("iter/task_file")
int inspect_sk(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct socket *sock;
	struct sock *sk;

	reset(ctx->meta);
	if (!file || !task) {
		trailer(ctx->meta->seq, "sk");
		return 0;
	}
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	report(ctx->meta->seq, "sk", task->tgid, ctx->fd,
	       true,
	       BPF_CORE_READ(sk, sk_bpf_storage));
	return 0;
}

char _license[] SEC("license") = "GPL";
