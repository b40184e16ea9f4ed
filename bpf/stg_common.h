/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the task and cgroup storage objects, the inspector and the agent.
 */
#ifndef STG_COMMON_H
#define STG_COMMON_H

/*
 * An option no kernel prctl() knows (it fails with EINVAL): the agent calls
 * prctl(BPFH_PR_TOUCH, owner, token) and the object whose configured token
 * matches creates an element on the owner (a thread id or a cgroup id) from
 * a tp_btf/sys_enter program. The token tells apart several objects of the
 * same kind that are loaded at once.
 */
#define BPFH_PR_TOUCH	0x62706668
/* prctl's number: the tp_btf/sys_enter programs see the raw syscall id. */
#if defined(__TARGET_ARCH_arm64) || defined(__aarch64__)
#define BPFH_NR_PRCTL	167	/* arm64: asm-generic */
#else
#define BPFH_NR_PRCTL	157	/* x86_64 */
#endif

#if defined(__TARGET_ARCH_arm64) && defined(__bpf__)
/*
 * PT_REGS_PARM*() read arm64's registers through struct user_pt_regs, which
 * the committed (x86) vmlinux.h lacks; CO-RE finds it in the target's BTF.
 */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} __attribute__((preserve_access_index));
#endif

/* Values sized so one element fills most of a 2 KiB slab object. */
#define BPFH_BIG_VALUE		1792
#define BPFH_SMALL_VALUE	16

/* Set by the agent in .rodata before the object is loaded. */
struct bpfh_cfg {
	__u64 token;
	__u32 tgid;	/* the agent: only its owners get elements */
	__u32 pad;
};

#endif
