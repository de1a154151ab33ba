// SPDX-License-Identifier: GPL-2.0-only
/* clsact ingress of a parent: frames from the wire (the kernel's macvlan_handle_frame). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "include/tc_apply.h"

SEC("tc")
int mvb_parent_ingress(struct __sk_buff *skb)
{
	struct mvb_frame f;
	struct mvb_verdict v = {};

	if (mvb_parse_eth((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, &f) < 0) {
		/* Not a whole Ethernet header: not ours to judge, the parent's stack decides. */
		v.parent = skb->ifindex;
		mvb_verdict_set(&v, MVB_ACT_STACK, skb->ifindex, 0, 0);
		return mvb_tc_apply(skb, &v);
	}
	mvb_decide_parent_rx(skb->ifindex, &f, &v);
	return mvb_tc_apply(skb, &v);
}

char LICENSE[] SEC("license") = "GPL";
