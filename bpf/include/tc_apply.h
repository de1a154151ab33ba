/* SPDX-License-Identifier: GPL-2.0-only */
/* Turns a verdict into TC actions. TC (not XDP) carries the per-packet work because it keeps the skb's
 * offload state (CHECKSUM_PARTIAL, GSO) intact, so TCP from a veth child works with default offloads. */
#ifndef MVB_TC_APPLY_H
#define MVB_TC_APPLY_H

/* 1 in an entry that runs in a device's transmit (netkit's peer hook) rather than at a TC ingress. */
#ifndef MVB_AT_XMIT
#define MVB_AT_XMIT 0
#endif

#include <linux/pkt_cls.h>
#include <linux/if_packet.h>
#include "decide.h"
#include "counters.h"
#include "flood.h"
#include "cb.h"

static __always_inline void mvb_tc_record(struct __sk_buff *skb, const struct mvb_verdict *v)
{
	/* Visible to BPF_PROG_TEST_RUN in ctx_out; scratch space to the rest of the stack. */
	mvb_cb_set(skb, MVB_CB_ACTION, v->action);
	mvb_cb_set(skb, MVB_CB_TARGET, v->target);
	mvb_cb_set(skb, MVB_CB_REASON, v->reason);
	mvb_cb_set(skb, MVB_CB_FLAGS, v->flags);
	mvb_cb_set(skb, MVB_CB_COPIES, 0);
}

/* Source-mode copies (see mvb_decide_sources), made before the frame itself goes on. Through the host
 * end's egress like a flood copy, so the child's eth_type_trans types it: host for its own MAC, else
 * broadcast, multicast or other-host (the kernel keeps the parent's type for the last: a frame to the
 * parent's MAC reaches a source child as PACKET_HOST there, here as PACKET_OTHERHOST). */
struct mvb_src_copy_ctx {
	struct __sk_buff *skb;
	struct mvb_mac_key key;
	__u32 copies;
};

static long mvb_src_copy_one(__u32 i, void *data)
{
	struct mvb_src_copy_ctx *sc = data;
	struct mvb_source_val *sv = bpf_map_lookup_elem(&mvb_sources, &sc->key);
	struct mvb_child *c;
	__u32 host;
	long r;

	if (!sv || i >= MVB_SOURCE_MAX || i >= sv->n)
		return 1;
	host = sv->host[mvb_index(i, MVB_SOURCE_MAX - 1)];
	c = bpf_map_lookup_elem(&mvb_children, &host);
	if (!c || !(c->flags & MVB_CHILD_UP))
		return 0;
	r = bpf_clone_redirect(sc->skb, host, 0);
	if (r == 0) {
		sc->copies++;
		mvb_count_flood_copy(c->slot, sc->skb->len);
	} else {
		mvb_count_flood_fail(sc->key.parent_ifindex, 0, r > 0 ? MVB_DROP_COPY_REFUSED : MVB_DROP_REDIRECT_FAIL);
	}
	return 0;
}

/* Out of line, as the flood (flood.h). */
static __noinline __u32 mvb_tc_source_copies(struct __sk_buff *skb, const struct mvb_verdict *v)
{
	struct mvb_src_copy_ctx sc = { .skb = skb, .key = { .parent_ifindex = v->parent } };

	mvb_mac_copy(sc.key.mac, v->src);
	bpf_loop(MVB_SOURCE_MAX, mvb_src_copy_one, &sc, 0);
	return sc.copies;
}

static __always_inline int mvb_tc_apply(struct __sk_buff *skb, const struct mvb_verdict *v)
{
	__u32 srccopies = 0;

	mvb_tc_record(skb, v);
	if (v->srccopies)
		srccopies = mvb_tc_source_copies(skb, v);
	mvb_cb_set(skb, MVB_CB_COPIES, srccopies);
	switch (v->action) {
	case MVB_ACT_FLOOD:
		mvb_cb_set(skb, MVB_CB_COPIES, srccopies + mvb_tc_flood(skb, v));
		if (v->flags & MVB_FLOOD_THEN_WIRE) {
			mvb_count_wire(v->parent, v->pslot, skb->len);
			return bpf_redirect(v->parent, 0);
		}
		mvb_count_stack(v->parent, v->pslot, skb->len);
		return TC_ACT_UNSPEC;
	case MVB_ACT_STACK:
		if (v->reason) /* the frame goes on, but something it would have had was withheld */
			mvb_count_drop(v->parent, v->pslot, v->reason);
		mvb_count_stack(v->parent, v->pslot, skb->len);
		/* Not TC_ACT_OK: that would end the hook's chain (tcx_pass, or cls_bpf's verdict), and a
		 * program attached after ours on the parent (a firewall, Cilium) would never see the frames
		 * that are not ours. TC_ACT_UNSPEC is tcx's TCX_NEXT and cls_bpf's "next filter", and the
		 * stack when nothing follows. */
		return TC_ACT_UNSPEC;
	case MVB_ACT_DELIVER:
		/* The kernel forces PACKET_HOST on unicast delivery (l.526-531): a passthru child must
		 * accept frames to any MAC, and the redirect below skips eth_type_trans in the child. A
		 * multicast echo keeps its broadcast/multicast type. */
		if (skb->pkt_type != PACKET_BROADCAST && skb->pkt_type != PACKET_MULTICAST)
			bpf_skb_change_type(skb, PACKET_HOST);
		mvb_count_child_rx(v->slot, skb->len);
		/* The peer shortcut enters the child's netns without a second backlog pass; it refuses a
		 * peer in the same netns, so such children take the veth's normal transmit path. It works
		 * only at an ingress hook: a program in a device's transmit (a netkit child's) redirects to
		 * the target's transmit, which hands the frame to its peer. */
		if (MVB_AT_XMIT || (v->flags & MVB_CHILD_SAME_NETNS))
			return bpf_redirect(v->target, 0);
		return bpf_redirect_peer(v->target, 0);
	case MVB_ACT_WIRE:
		mvb_count_wire(v->parent, v->pslot, skb->len);
		return bpf_redirect(v->target, 0);
	default:
		mvb_count_drop(v->parent, v->pslot, v->reason);
		return TC_ACT_SHOT;
	}
}

#endif
