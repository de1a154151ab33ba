/* SPDX-License-Identifier: GPL-2.0-only */
/* The verdict's record in skb->cb (mvb_abi.h, MVB_CB_*), where BPF_PROG_TEST_RUN reads it. */
#ifndef MVB_CB_H
#define MVB_CB_H

#include <linux/bpf.h>
#include <stddef.h>

/* skb->cb[i] = v, always as one store at a constant offset from the context pointer, the only form the
 * verifier accepts for a context field. Written in C, clang may merge the stores that several paths
 * make to one field into a single store through an address it computed into another register first,
 * which the verifier refuses ("dereference of modified ctx ptr"): a build that dropped one counter call
 * from the child program was refused so. An asm store can be neither merged nor rewritten. */
#define mvb_cb_set(skb, i, v)                                                                        \
	asm volatile("*(u32 *)(%[ctx] + %[off]) = %[val]"                                            \
		     :                                                                                \
		     : [ctx] "r"(skb), [off] "i"(offsetof(struct __sk_buff, cb) + 4 * (i)),            \
		       [val] "r"((__u32)(v))                                                          \
		     : "memory")

#endif
