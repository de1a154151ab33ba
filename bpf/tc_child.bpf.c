// SPDX-License-Identifier: GPL-2.0-only
/* clsact ingress of a veth child's host end: everything the child transmits (macvlan_queue_xmit). The
 * host end itself has no stack of its own to speak of: nothing here ever returns TC_ACT_OK. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "include/child_tx.h"

SEC("tc")
int mvb_child_ingress(struct __sk_buff *skb)
{
	return mvb_child_tx(skb);
}

char LICENSE[] SEC("license") = "GPL";
