/* SPDX-License-Identifier: GPL-2.0-only */
/* Per-CPU counters, in arrays at the slots the control plane gives children and ports (mvb_abi.h): the
 * decision read a child's slot with its entry. The fast path only looks up and adds: no inserts, no
 * locks. */
#ifndef MVB_COUNTERS_H
#define MVB_COUNTERS_H

#include "maps.h"

static __always_inline void mvb_count_child_rx(__u32 slot, __u32 bytes)
{
	struct mvb_child_stats *s = bpf_map_lookup_elem(&mvb_child_ctrs, &slot);

	if (s) {
		s->rx_packets++;
		s->rx_bytes += bytes;
	}
}

static __always_inline void mvb_count_flood_copy(__u32 slot, __u32 bytes)
{
	struct mvb_child_stats *s = bpf_map_lookup_elem(&mvb_child_ctrs, &slot);

	if (s) {
		s->rx_packets++;
		s->rx_bytes += bytes;
		s->flood_copies++;
	}
}

static __always_inline void mvb_count_child_tx(__u32 slot, __u32 bytes)
{
	struct mvb_child_stats *s = bpf_map_lookup_elem(&mvb_child_ctrs, &slot);

	if (s) {
		s->tx_packets++;
		s->tx_bytes += bytes;
	}
}

/* A parent's counters: at the slot the decision already knows (a child's record names its parent's),
 * else (pslot 0) at the one its port entry names. */
static __always_inline struct mvb_parent_stats *mvb_parent_ctrs_of(__u32 parent_ifindex, __u32 pslot)
{
	if (!pslot) {
		struct mvb_port *port = bpf_map_lookup_elem(&mvb_ports, &parent_ifindex);

		if (!port)
			return 0;
		pslot = port->slot;
	}
	return bpf_map_lookup_elem(&mvb_parent_ctrs, &pslot);
}

static __always_inline void mvb_count_stack(__u32 parent_ifindex, __u32 pslot, __u32 bytes)
{
	struct mvb_parent_stats *s = mvb_parent_ctrs_of(parent_ifindex, pslot);

	if (s) {
		s->stack_packets++;
		s->stack_bytes += bytes;
	}
}

static __always_inline void mvb_count_wire(__u32 parent_ifindex, __u32 pslot, __u32 bytes)
{
	struct mvb_parent_stats *s = mvb_parent_ctrs_of(parent_ifindex, pslot);

	if (s) {
		s->wire_packets++;
		s->wire_bytes += bytes;
	}
}

static __always_inline void mvb_count_drop(__u32 parent_ifindex, __u32 pslot, __u32 reason)
{
	struct mvb_parent_stats *s = mvb_parent_ctrs_of(parent_ifindex, pslot);

	if (s && reason < MVB_DROP__MAX)
		s->drops[reason]++;
}

#endif
