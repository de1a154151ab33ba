/* SPDX-License-Identifier: GPL-2.0-only */
/* Turns a verdict into TC actions. TC (not XDP) carries the per-packet work because it keeps the skb's
 * offload state (CHECKSUM_PARTIAL, GSO) intact, so TCP from a veth child works with default offloads. */
#ifndef MVB_TC_APPLY_H
#define MVB_TC_APPLY_H

#include <linux/pkt_cls.h>
#include <linux/if_packet.h>
#include "decide.h"
#include "counters.h"

static __always_inline void mvb_tc_record(struct __sk_buff *skb, const struct mvb_verdict *v)
{
	/* Visible to BPF_PROG_TEST_RUN in ctx_out; scratch space to the rest of the stack. */
	skb->cb[MVB_CB_ACTION] = v->action;
	skb->cb[MVB_CB_TARGET] = v->target;
	skb->cb[MVB_CB_REASON] = v->reason;
	skb->cb[MVB_CB_FLAGS] = v->flags;
}

static __always_inline int mvb_tc_apply(struct __sk_buff *skb, const struct mvb_verdict *v)
{
	mvb_tc_record(skb, v);
	switch (v->action) {
	case MVB_ACT_STACK:
		mvb_count_stack(v->parent, skb->len);
		return TC_ACT_OK;
	case MVB_ACT_DELIVER:
		/* The kernel forces PACKET_HOST on delivery (l.526-531): a passthru child must accept
		 * frames to any MAC, and the redirect below skips eth_type_trans in the child. */
		bpf_skb_change_type(skb, PACKET_HOST);
		mvb_count_child_rx(v->target, skb->len);
		/* The peer shortcut enters the child's netns without a second backlog pass; it refuses a
		 * peer in the same netns, so such children take the veth's normal transmit path. */
		if (v->flags & MVB_CHILD_SAME_NETNS)
			return bpf_redirect(v->target, 0);
		return bpf_redirect_peer(v->target, 0);
	case MVB_ACT_WIRE:
		mvb_count_wire(v->parent, skb->len);
		return bpf_redirect(v->target, 0);
	default:
		mvb_count_drop(v->parent, v->reason);
		return TC_ACT_SHOT;
	}
}

#endif
