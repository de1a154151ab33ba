/* SPDX-License-Identifier: GPL-2.0-only */
/* A child's IGMP or MLD message: it joined or left a group (a report or a leave/done is sent at once
 * when an application joins or leaves, and for the groups of every new IPv6 address). There is no
 * netlink notification of a device's multicast list changing, so the child program marks the child in
 * mvb_mc_dirty and the agent re-reads its list within its poll interval (docs/multicast-filter.md). */
#ifndef MVB_MC_REPORT_H
#define MVB_MC_REPORT_H

#include <linux/in.h>
#include "maps.h"
#include "parse.h"

static __always_inline void mvb_note_mc_report(struct __sk_buff *skb, const struct mvb_frame *f)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *l3 = data + sizeof(struct ethhdr);
	__u32 host = skb->ifindex;
	__u8 one = 1;
	int report = 0;

	if (!mvb_is_multicast(f->dst))
		return;
	if (f->proto == ETH_P_IP) {
		if ((void *)(l3 + 10) > end)
			return;
		report = l3[9] == IPPROTO_IGMP;
	} else if (f->proto == ETH_P_IPV6) {
		/* MLD always carries a hop-by-hop header with the router alert option (RFC 2710, 3810). */
		if ((void *)(l3 + 7) > end)
			return;
		report = l3[6] == 0;
	}
	if (report)
		bpf_map_update_elem(&mvb_mc_dirty, &host, &one, BPF_ANY);
}

#endif
