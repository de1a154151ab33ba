/* SPDX-License-Identifier: GPL-2.0-only */
/* Per-CPU counters. Entries are created by the control plane with the child or port, so the fast path
 * only looks up and adds: no inserts, no locks, and a deleted child's counters die with it. */
#ifndef MVB_COUNTERS_H
#define MVB_COUNTERS_H

#include "maps.h"

static __always_inline void mvb_count_child_rx(__u32 host_ifindex, __u32 bytes)
{
	struct mvb_child_stats *s = bpf_map_lookup_elem(&mvb_child_stats, &host_ifindex);

	if (s) {
		s->rx_packets++;
		s->rx_bytes += bytes;
	}
}

static __always_inline void mvb_count_flood_copy(__u32 host_ifindex, __u32 bytes)
{
	struct mvb_child_stats *s = bpf_map_lookup_elem(&mvb_child_stats, &host_ifindex);

	if (s) {
		s->rx_packets++;
		s->rx_bytes += bytes;
		s->flood_copies++;
	}
}

static __always_inline void mvb_count_child_tx(__u32 host_ifindex, __u32 bytes)
{
	struct mvb_child_stats *s = bpf_map_lookup_elem(&mvb_child_stats, &host_ifindex);

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
