// SPDX-License-Identifier: GPL-2.0-only
/* clsact ingress of a child's host end: everything the child transmits (macvlan_queue_xmit). The host
 * end itself has no stack of its own to speak of: nothing here ever returns TC_ACT_OK. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "include/tc_apply.h"
#include "include/mc_report.h"

SEC("tc")
int mvb_child_ingress(struct __sk_buff *skb)
{
	struct mvb_frame f;
	struct mvb_verdict v = {};

	if (mvb_parse_eth((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, &f) < 0) {
		struct mvb_child *me = bpf_map_lookup_elem(&mvb_children, &(__u32){ skb->ifindex });

		v.parent = me ? me->parent_ifindex : 0;
		mvb_verdict_set(&v, MVB_ACT_DROP, 0, MVB_DROP_MALFORMED, 0);
		return mvb_tc_apply(skb, &v);
	}
	mvb_note_mc_report(skb, &f);
	mvb_decide_child_tx(skb->ifindex, &f, &v);
	if (v.action != MVB_ACT_DROP)
		mvb_count_child_tx(skb->ifindex, skb->len);
	return mvb_tc_apply(skb, &v);
}

char LICENSE[] SEC("license") = "GPL";
