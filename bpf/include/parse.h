/* SPDX-License-Identifier: GPL-2.0-only */
/* Frame parsing. The decision needs only the Ethernet addresses: macvlan switches on MACs, never on
 * VLAN tags or L3 (a tagged frame is dispatched on its MACs, as the kernel does when no VLAN device
 * sits on the parent). */
#ifndef MVB_PARSE_H
#define MVB_PARSE_H

#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>

struct mvb_frame {
	const __u8 *dst;
	const __u8 *src;
	__u16 proto; /* host order, outermost ethertype */
	__u32 len;
};

/* Returns 0 and fills f when the frame holds a whole Ethernet header, -1 otherwise. */
static __always_inline int mvb_parse_eth(void *data, void *data_end, __u32 len, struct mvb_frame *f)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	f->dst = eth->h_dest;
	f->src = eth->h_source;
	f->proto = bpf_ntohs(eth->h_proto);
	f->len = len;
	return 0;
}

/* i & mask, kept in the program: the empty asm hides what the compiler knows of i, so it cannot fold the
 * mask into an earlier comparison the verifier does not connect to the access. */
static __always_inline __u32 mvb_index(__u32 i, __u32 mask)
{
	asm volatile("" : "+r"(i));
	return i & mask;
}

static __always_inline int mvb_is_multicast(const __u8 *mac)
{
	return mac[0] & 1; /* the group bit covers broadcast too */
}

static __always_inline int mvb_mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5];
}

static __always_inline void mvb_mac_copy(__u8 *to, const __u8 *from)
{
	to[0] = from[0]; to[1] = from[1]; to[2] = from[2];
	to[3] = from[3]; to[4] = from[4]; to[5] = from[5];
}

#endif
