// SPDX-License-Identifier: GPL-2.0
/*
 * Socket local storage for the map-free-while-owners-live checks.
 *
 * sk_stg holds one 64-byte element per socket. Elements are created either
 * from user space (bpf_map_update_elem with the socket fd as key) or by
 * sk_create, a cgroup/sock_create program, when a socket is created by a task
 * of the cgroup it is attached to. The element size matters: the harness
 * knows how much socket optmem one element costs with this value type.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

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

SEC("cgroup/sock_create")
int sk_create(struct bpf_sock *ctx)
{
	/*
	 * The socket is allowed whatever happens: a missing element is
	 * counted by the agent (elems-count), never hidden by a refused
	 * socket.
	 */
	bpf_sk_storage_get(&sk_stg, ctx, 0, BPF_SK_STORAGE_GET_F_CREATE);
	return 1;
}

char _license[] SEC("license") = "GPL";
