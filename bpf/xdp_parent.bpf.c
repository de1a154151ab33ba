// SPDX-License-Identifier: GPL-2.0-only
/* XDP on a parent whose fast path is XDP: frames from the wire, before the skb (macvlan_handle_frame's
 * unicast half). The same decision as tc_parent.bpf.c; what XDP cannot finish passes on to it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "include/xdp_apply.h"

SEC("xdp")
int mvb_parent_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct mvb_frame f;
	struct mvb_verdict v = {};

	if (mvb_parse_eth(data, data_end, len, &f) < 0)
		return XDP_PASS;
	mvb_decide_parent_rx(ctx->ingress_ifindex, &f, &v);
	return mvb_xdp_apply(ctx, &v, len);
}

char LICENSE[] SEC("license") = "GPL";
