// SPDX-License-Identifier: GPL-2.0-only
/* A netkit child's peer hook (BPF_NETKIT_PEER on its primary): everything the child transmits, decided
 * in the child's own transmit (netkit_xmit, which has set skb->dev to the primary), before any backlog
 * round. The same decision as a veth child's host-end ingress; only the way into a sibling differs
 * (MVB_AT_XMIT: the peer shortcut exists only at an ingress hook). netkit's return codes are TC's:
 * TC_ACT_SHOT drops, TC_ACT_REDIRECT redirects, TC_ACT_UNSPEC (NETKIT_NEXT) passes to the primary. */
#define MVB_AT_XMIT 1
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "include/child_tx.h"

SEC("tc")
int mvb_child_netkit(struct __sk_buff *skb)
{
	return mvb_child_tx(skb);
}

char LICENSE[] SEC("license") = "GPL";
