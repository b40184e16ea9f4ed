// SPDX-License-Identifier: GPL-2.0
/*
 * Task local storage for the map-free-while-owners-live checks.
 *
 * task_stg holds one BPFH_BIG_VALUE-byte element per thread, task_stg_small
 * (user space only) a BPFH_SMALL_VALUE-byte one, so that maps of different
 * element sizes can share a task's storage. Elements are created from user
 * space (bpf_map_update_elem with a pidfd as key) or by a program:
 * task_new on threads the agent creates (tp_btf/task_newtask), task_touch on
 * threads that already exist (tp_btf/sys_enter, when the agent calls
 * prctl(BPFH_PR_TOUCH, tid, token)).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "stg_common.h"

struct task_val {
	__u8 bytes[BPFH_BIG_VALUE];
};

struct task_val_small {
	__u8 bytes[BPFH_SMALL_VALUE];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_val);
} task_stg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_val_small);
} task_stg_small SEC(".maps");

const volatile struct bpfh_cfg cfg = {};

/* The object's token starts every value: lookups can tell maps apart. */
static void stamp(struct task_val *v)
{
	if (v)
		*(__u64 *)v->bytes = cfg.token;
}

struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
void bpf_task_release(struct task_struct *p) __ksym;

static bool from_agent(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == cfg.tgid;
}

SEC("tp_btf/task_newtask")
int BPF_PROG(task_new, struct task_struct *task, u64 clone_flags)
{
	if (from_agent())
		stamp(bpf_task_storage_get(&task_stg, task, 0,
					   BPF_LOCAL_STORAGE_GET_F_CREATE));
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(task_touch, struct pt_regs *regs, long id)
{
	struct task_struct *task;

	if (id != BPFH_NR_PRCTL || PT_REGS_PARM1(regs) != BPFH_PR_TOUCH ||
	    PT_REGS_PARM3(regs) != cfg.token || !from_agent())
		return 0;
	task = bpf_task_from_pid(PT_REGS_PARM2(regs));
	if (!task)
		return 0;
	stamp(bpf_task_storage_get(&task_stg, task, 0,
				   BPF_LOCAL_STORAGE_GET_F_CREATE));
	bpf_task_release(task);
	return 0;
}

char _license[] SEC("license") = "GPL";
