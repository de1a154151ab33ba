/* SPDX-License-Identifier: GPL-2.0-only */
/* Turns a verdict into an XDP action: the fast path on a parent (`port set PARENT fastpath xdp`). XDP
 * takes only what it can finish alone: unicast to one UP child, redirected into the child's veth before
 * any skb is built, and strict isolation's drop. Everything else goes on to the parent's TC program,
 * which decides again and does the rest: floods (XDP cannot both pass a frame up and copy it), the
 * parent's stack, and passthru (its frames to other MACs need PACKET_HOST forced, which only an skb
 * has). Counters move where the frame ends, once: here for what XDP delivers or drops, in TC for the
 * rest. */
#ifndef MVB_XDP_APPLY_H
#define MVB_XDP_APPLY_H

#include "decide.h"
#include "counters.h"

static __always_inline int mvb_xdp_apply(struct xdp_md *ctx, const struct mvb_verdict *v, __u32 len)
{
	__u32 parent = v->parent;
	long rc;

	if (v->srccopies) /* copies need an skb to clone: TC makes them */
		return XDP_PASS;
	switch (v->action) {
	case MVB_ACT_DELIVER:
		if (v->flags & MVB_DELIVER_TC_ONLY) /* a netkit child: TC's peer redirect delivers it */
			return XDP_PASS;
		if (v->flags & MVB_DELIVER_PASSTHRU)
			return XDP_PASS;
		/* Into the host end's ndo_xdp_xmit: the veth hands the frame to the child end's NAPI (GRO
		 * is on there for children of an XDP parent, or the frame would be dropped). */
		rc = bpf_redirect(v->target, 0);
		if (rc == XDP_REDIRECT)
			mvb_count_child_rx(v->slot, len);
		return rc;
	case MVB_ACT_DROP:
		if (v->reason == MVB_DROP_PRIVATE_SRC || v->reason == MVB_DROP_NODST) {
			mvb_count_drop(parent, v->pslot, v->reason);
			return XDP_DROP;
		}
		return XDP_PASS;
	default:
		return XDP_PASS;
	}
}

#endif
