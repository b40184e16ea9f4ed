/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the BPF object and the agent. */
#ifndef SK_COMMON_H
#define SK_COMMON_H

/*
 * A socket option level no kernel protocol uses: setsockopt() at this level
 * is the agent's way to make sk_touch create an element on a socket that
 * already exists. The program consumes the call (optlen = -1), so the
 * kernel's own handlers never see it.
 */
#define BPFH_SOL_TOUCH	0xb9f5
#define BPFH_OPT_TOUCH	1

#endif
