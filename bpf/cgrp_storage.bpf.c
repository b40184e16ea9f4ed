// SPDX-License-Identifier: GPL-2.0
/*
 * Cgroup local storage for the map-free-while-owners-live checks.
 *
 * cgrp_stg holds one BPFH_BIG_VALUE-byte element per cgroup, cgrp_stg_small
 * (user space only) a BPFH_SMALL_VALUE-byte one. Elements are created from
 * user space (bpf_map_update_elem with a cgroup directory fd as key) or by a
 * program: cgrp_new on cgroups the agent creates (tp_btf/cgroup_mkdir),
 * cgrp_touch on cgroups that already exist (tp_btf/sys_enter, when the agent
 * calls prctl(BPFH_PR_TOUCH, cgroup id, token)).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "stg_common.h"

struct cgrp_val {
	__u8 bytes[BPFH_BIG_VALUE];
};

struct cgrp_val_small {
	__u8 bytes[BPFH_SMALL_VALUE];
};

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgrp_val);
} cgrp_stg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgrp_val_small);
} cgrp_stg_small SEC(".maps");

const volatile struct bpfh_cfg cfg = {};

/* The object's token starts every value: lookups can tell maps apart. */
static void stamp(struct cgrp_val *v)
{
	if (v)
		*(__u64 *)v->bytes = cfg.token;
}

struct cgroup *bpf_cgroup_from_id(u64 cgid) __ksym;
void bpf_cgroup_release(struct cgroup *cgrp) __ksym;

static bool from_agent(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == cfg.tgid;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgrp_new, struct cgroup *cgrp, const char *path)
{
	if (from_agent())
		stamp(bpf_cgrp_storage_get(&cgrp_stg, cgrp, 0,
					   BPF_LOCAL_STORAGE_GET_F_CREATE));
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(cgrp_touch, struct pt_regs *regs, long id)
{
	struct cgroup *cgrp;

	if (id != BPFH_NR_PRCTL || PT_REGS_PARM1(regs) != BPFH_PR_TOUCH ||
	    PT_REGS_PARM3(regs) != cfg.token || !from_agent())
		return 0;
	cgrp = bpf_cgroup_from_id(PT_REGS_PARM2(regs));
	if (!cgrp)
		return 0;
	stamp(bpf_cgrp_storage_get(&cgrp_stg, cgrp, 0,
				   BPF_LOCAL_STORAGE_GET_F_CREATE));
	bpf_cgroup_release(cgrp);
	return 0;
}

char _license[] SEC("license") = "GPL";
