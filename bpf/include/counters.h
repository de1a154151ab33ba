/* SPDX-License-Identifier: GPL-2.0-only */
/* Per-CPU counters. A child's are at its slot in an array (mvb_abi.h), which the decision read with the
 * child's entry; a parent's entry is created by the control plane with the port. The fast path only
 * looks up and adds: no inserts, no locks. */
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

static __always_inline void mvb_count_stack(__u32 parent_ifindex, __u32 bytes)
{
	struct mvb_parent_stats *s = bpf_map_lookup_elem(&mvb_parent_stats, &parent_ifindex);

	if (s) {
		s->stack_packets++;
		s->stack_bytes += bytes;
	}
}

static __always_inline void mvb_count_wire(__u32 parent_ifindex, __u32 bytes)
{
	struct mvb_parent_stats *s = bpf_map_lookup_elem(&mvb_parent_stats, &parent_ifindex);

	if (s) {
		s->wire_packets++;
		s->wire_bytes += bytes;
	}
}

static __always_inline void mvb_count_drop(__u32 parent_ifindex, __u32 reason)
{
	struct mvb_parent_stats *s = bpf_map_lookup_elem(&mvb_parent_stats, &parent_ifindex);

	if (s && reason < MVB_DROP__MAX)
		s->drops[reason]++;
}

#endif
