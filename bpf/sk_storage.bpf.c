// SPDX-License-Identifier: GPL-2.0
/*
 * Socket local storage for the map-free-while-owners-live checks.
 *
 * sk_stg holds one 64-byte element per socket. Elements are created either
 * from user space (bpf_map_update_elem with the socket fd as key) or by
 * sk_create, a cgroup/sock_create program, when a socket is created by a task
 * of the cgroup it is attached to, or by sk_touch, a cgroup/setsockopt
 * program, on a socket that already exists (long-lived owners). The element size matters: the harness
 * knows how much socket optmem one element costs with this value type.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "sk_common.h"
#include "stg_common.h"

struct sk_val {
	__u64 words[8];
};

_Static_assert(sizeof(struct sk_val) == 64, "sk_val must be 64 bytes");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sk_val);
} sk_stg SEC(".maps");

/* The token: stamped into every value, so lookups can tell maps apart. */
const volatile struct bpfh_cfg cfg = {};

static void stamp(struct sk_val *v)
{
	if (v)
		v->words[0] = cfg.token;
}

SEC("cgroup/sock_create")
int sk_create(struct bpf_sock *ctx)
{
	/*
	 * The socket is allowed whatever happens: a missing element is
	 * counted by the agent (elems-count), never hidden by a refused
	 * socket.
	 */
	stamp(bpf_sk_storage_get(&sk_stg, ctx, 0,
				 BPF_SK_STORAGE_GET_F_CREATE));
	return 1;
}

SEC("cgroup/setsockopt")
int sk_touch(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (ctx->level != BPFH_SOL_TOUCH || ctx->optname != BPFH_OPT_TOUCH)
		return 1;	/* not ours: the kernel handles it */
	if (sk)
		stamp(bpf_sk_storage_get(&sk_stg, sk, 0,
					 BPF_SK_STORAGE_GET_F_CREATE));
	ctx->optlen = -1;	/* consumed: no kernel handler runs */
	return 1;
}

char _license[] SEC("license") = "GPL";
