/* SPDX-License-Identifier: GPL-2.0-only */
/* A child transmitted a frame (macvlan_queue_xmit): the one decision every child kind's transmit hook
 * runs, a veth host end's ingress (tc_child.bpf.c) or a netkit peer hook (netkit_peer.bpf.c). The skb's
 * ifindex is the child's host-side device, its registry key, on both. */
#ifndef MVB_CHILD_TX_H
#define MVB_CHILD_TX_H

#include "tc_apply.h"
#include "mc_report.h"

static __always_inline int mvb_child_tx(struct __sk_buff *skb)
{
	struct mvb_frame f;
	struct mvb_verdict v = {};

#if !MVB_AT_XMIT
	int cont;

	/* A flood's copy for this child (MVB_FLOOD_PEER): on to the child end, not the child's frame. */
	if (skb->mark == MVB_COPY_MARK) {
		skb->mark = 0;
		return bpf_redirect_peer(skb->ifindex, 0);
	}
	/* A flood's continuation (tc_apply.h) comes into a host end's ingress: not the child's frame. */
	cont = mvb_tc_flood_continue(skb);

	if (cont >= 0)
		return cont;
#endif
	if (mvb_parse_eth((void *)(long)skb->data, (void *)(long)skb->data_end, skb->len, &f) < 0) {
		struct mvb_child *me = bpf_map_lookup_elem(&mvb_children, &(__u32){ skb->ifindex });

		v.parent = me ? me->parent_ifindex : 0;
		mvb_verdict_set(&v, MVB_ACT_DROP, 0, MVB_DROP_MALFORMED, 0);
		return mvb_tc_apply(skb, &v);
	}
	mvb_note_mc_report(skb, &f);
	mvb_decide_child_tx(skb->ifindex, &f, &v);
	if (v.action != MVB_ACT_DROP)
		mvb_count_child_tx(v.tx_slot, skb->len);
	return mvb_tc_apply(skb, &v);
}

#endif
