/* SPDX-License-Identifier: GPL-2.0-only */
/* The forwarding decision: macvlan's rules (../shared/spec/macvlan-rules.md §2, §3) as one piece of C
 * shared by every entry program. It only reads maps and the frame and returns a verdict; the entry
 * program turns the verdict into helper calls for its hook (TC now, XDP where it fits). */
#ifndef MVB_DECIDE_H
#define MVB_DECIDE_H

#include "maps.h"
#include "parse.h"

struct mvb_verdict {
	__u32 action; /* enum mvb_action */
	__u32 mask;    /* FLOOD: modes that get a copy */
	__u32 exclude; /* FLOOD: host ifindex that gets none (the sender) */
	__u32 target; /* DELIVER: the child's host-end ifindex; WIRE: the parent's ifindex */
	__u32 reason; /* enum mvb_drop_reason, for DROP */
	__u32 flags;  /* DELIVER: MVB_CHILD_SAME_NETNS when the peer shortcut can't be used */
	__u32 parent; /* the port the frame belongs to, for counters (0 = none) */
	__u32 srccopies; /* source-mode copies to make before the action (UP children listing src) */
	__u32 slot;      /* DELIVER: the target's counter slot (mvb_abi.h) */
	__u32 tx_slot;   /* a child's transmit: the sender's counter slot */
	__u32 pslot;     /* the parent's counter slot when known (a child's transmit), else 0 */
	__u8 src[6];     /* the frame's source, for the source-mode copies */
	__u8 pad[2];
	__u8 dst[6];     /* FLOOD: the group, for the exact multicast filter */
	__u8 group;      /* FLOOD: 1 for a multicast group (not broadcast): the exact filter applies */
	__u8 pad2;
};

static __always_inline int mvb_is_broadcast(const __u8 *mac)
{
	return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}

/* The flood's group, for the per-child filter (the kernel's mc_filter always passes broadcast). */
static __always_inline void mvb_verdict_group(struct mvb_verdict *v, const struct mvb_frame *f)
{
	if (mvb_is_broadcast(f->dst))
		return;
	v->group = 1;
	mvb_mac_copy(v->dst, f->dst);
}

static __always_inline void mvb_verdict_set(struct mvb_verdict *v, __u32 action, __u32 target,
					    __u32 reason, __u32 flags)
{
	v->action = action;
	v->target = target;
	v->reason = reason;
	v->flags = flags;
}

/* A delivery into a child: its host end, and where it is counted (its slot, mvb_abi.h). */
static __always_inline void mvb_verdict_deliver(struct mvb_verdict *v, __u32 host, __u32 slot, __u32 flags)
{
	mvb_verdict_set(v, MVB_ACT_DELIVER, host, 0, flags);
	v->slot = slot;
}

/* What a delivery into a child must know of it: the peer shortcut needs another netns, and XDP cannot
 * redirect into a netkit device. */
static __always_inline __u32 mvb_deliver_flags(__u8 child_flags, __u8 kind)
{
	return (child_flags & MVB_CHILD_SAME_NETNS) | (kind == MVB_KIND_NETKIT ? MVB_DELIVER_TC_ONLY : 0);
}

/* The MAC table's entry for (parent, mac), copied into *out; 0 when there is none. From this CPU's cache
 * when it holds the entry, or that there is none, as of the table's current generation; else from the
 * table, and cached (see mvb_abi.h). A copy rather than a pointer into the cache: a second lookup in the
 * same decision may take the same slot. */
static __always_inline struct mvb_mac_val *mvb_lookup_mac(__u32 parent, const __u8 *mac, struct mvb_mac_val *out)
{
	struct mvb_mac_key key = { .parent_ifindex = parent };
	__u32 zero = 0, slot = (mac[5] ^ parent) & (MVB_MAC_CACHE_SLOTS - 1);
	__u64 *genp = bpf_map_lookup_elem(&mvb_macs_gen, &zero);
	struct mvb_mac_cached *c = bpf_map_lookup_elem(&mvb_mac_cache, &slot);
	struct mvb_mac_val *v;
	__u64 gen = 0;

	if (genp && c) {
		/* Read once, before the table: an entry is tagged with the generation read before it was
		 * looked up, so a change that lands in between leaves it stale, never a stale entry tagged
		 * with the new generation. (A volatile load stays before the lookup; x86 keeps loads in order.) */
		gen = *(volatile __u64 *)genp;
		if (c->valid && c->gen == gen && c->parent_ifindex == parent && mvb_mac_eq(c->mac, mac)) {
			if (c->valid == MVB_MAC_CACHE_NONE)
				return 0;
			*out = c->val;
			return out;
		}
	}
	mvb_mac_copy(key.mac, mac);
	v = bpf_map_lookup_elem(&mvb_macs, &key);
	if (v)
		*out = *v;
	if (genp && c) {
		c->gen = gen;
		c->parent_ifindex = parent;
		mvb_mac_copy(c->mac, mac);
		if (v)
			c->val = *out;
		c->valid = v ? MVB_MAC_CACHE_ENTRY : MVB_MAC_CACHE_NONE;
	}
	return v ? out : 0;
}

/* Source mode (macvlan_forward_source, l.426-449), before any other decision of a frame that enters the
 * port (from the wire, or a bridge child's unicast to a bridge sibling): every UP source child listing
 * the frame's source gets a copy (made by the entry program: v->srccopies), and if any child listing it,
 * UP or DOWN, has nodst, the frame goes nowhere else. Returns that. The list is walked with bpf_loop,
 * whose callback is verified once: unrolled, the walk made tc_parent too complex for 6.1's verifier. */
struct mvb_src_scan {
	struct mvb_mac_key key;
	__u32 up;
	__u32 nodst;
};

static long mvb_src_scan_one(__u32 i, void *data)
{
	struct mvb_src_scan *s = data;
	struct mvb_source_val *sv = bpf_map_lookup_elem(&mvb_sources, &s->key);
	struct mvb_child *c;
	__u32 host;

	if (!sv || i >= MVB_SOURCE_MAX || i >= sv->n)
		return 1;
	host = sv->host[mvb_index(i, MVB_SOURCE_MAX - 1)];
	c = bpf_map_lookup_elem(&mvb_children, &host);
	if (!c)
		return 0;
	if (c->flags & MVB_CHILD_UP)
		s->up++;
	if (c->flags & MVB_CHILD_NODST)
		s->nodst = 1;
	return 0;
}

static __always_inline int mvb_decide_sources(__u32 parent, const struct mvb_frame *f, struct mvb_verdict *v)
{
	struct mvb_src_scan s = { .key = { .parent_ifindex = parent } };
	struct mvb_source_val *sv;
	__u32 zero = 0;
	__u32 *nsources = bpf_map_lookup_elem(&mvb_nsources, &zero);

	if (nsources && *nsources == 0)
		return 0; /* no source lists anywhere: the common case costs no hash */
	mvb_mac_copy(s.key.mac, f->src);
	sv = bpf_map_lookup_elem(&mvb_sources, &s.key);
	if (!sv)
		return 0;
	bpf_loop(MVB_SOURCE_MAX, mvb_src_scan_one, &s, 0);
	v->srccopies = s.up;
	if (s.up)
		mvb_mac_copy(v->src, f->src);
	return s.nodst;
}

/* Parent RX of a broadcast or multicast frame (l.469-497, macvlan_multicast_rx). */
static __always_inline void mvb_decide_parent_rx_group(__u32 parent, const struct mvb_frame *f,
						       struct mvb_verdict *v)
{
	struct mvb_mac_val srcv, *src = mvb_lookup_mac(parent, f->src, &srcv);

	if (src && (src->mode == MVB_MODE_PRIVATE || src->mode == MVB_MODE_PASSTHRU || src->mode == MVB_MODE_SOURCE)) {
		/* A private, passthru or source child's own frame, reflected: "forward to original port", and only
		 * there; not even the parent's stack gets it. No PAUSE check on this path. */
		mvb_verdict_deliver(v, src->host_ifindex, src->slot, mvb_deliver_flags(src->flags, src->kind) |
				(src->mode == MVB_MODE_PASSTHRU ? MVB_DELIVER_PASSTHRU : 0));
		return;
	}
	if (f->proto == 0x8808) {
		/* PAUSE is never flooded; the parent's stack still gets it. The withheld flood is counted. */
		mvb_verdict_set(v, MVB_ACT_STACK, parent, MVB_DROP_PAUSE, 0);
		return;
	}
	/* Who gets a copy depends on the sender (l.314-320): unknown → every mode; a vepa child (its frame
	 * reflected) → vepa and bridge; a bridge child → vepa only, bridge siblings got theirs on the way
	 * out. Strict isolation needs no check here: no child source reaches a private child. */
	if (!src)
		v->mask = MVB_MODE_PRIVATE | MVB_MODE_VEPA | MVB_MODE_BRIDGE | MVB_MODE_PASSTHRU;
	else if (src->mode == MVB_MODE_VEPA)
		v->mask = MVB_MODE_VEPA | MVB_MODE_BRIDGE;
	else
		v->mask = MVB_MODE_VEPA;
	v->exclude = src ? src->host_ifindex : 0;
	mvb_verdict_group(v, f);
	mvb_verdict_set(v, MVB_ACT_FLOOD, parent, 0, MVB_FLOOD_THEN_STACK);
}

/* The passthru branch: every unicast frame, whatever its destination, goes to the port's one child; while
 * it is DOWN the kernel drops it rather than giving it to the parent's stack (l.514-517). */
static __always_inline void mvb_decide_passthru(const struct mvb_port *port, struct mvb_verdict *v)
{
	__u32 host = port->passthru_host;
	struct mvb_child *pt = bpf_map_lookup_elem(&mvb_children, &host);

	if (!pt || !(pt->flags & MVB_CHILD_UP)) {
		mvb_verdict_set(v, MVB_ACT_DROP, 0, MVB_DROP_CHILD_DOWN, 0);
		return;
	}
	mvb_verdict_deliver(v, host, pt->slot, mvb_deliver_flags(pt->flags, pt->kind) | MVB_DELIVER_PASSTHRU);
}

/* Parent RX: a frame arrived at the parent from the wire (macvlan_handle_frame). The common case, unicast
 * to an UP child, costs one hash lookup (the MAC table) before the counters: the port is looked up only
 * where its flags decide (a miss, or a private destination), since a MAC entry exists only while its
 * port does, and a passthru port's one entry is its passthru child. */
static __always_inline void mvb_decide_parent_rx(__u32 parent, const struct mvb_frame *f,
						 struct mvb_verdict *v)
{
	struct mvb_port *port;
	struct mvb_mac_val dstv, srcv, *dst, *src;

	v->parent = parent;
	if (mvb_decide_sources(parent, f, v)) {
		/* Source lists exist only under a port of ours (keyed by it), so no port check is needed first. */
		mvb_verdict_set(v, MVB_ACT_DROP, 0, MVB_DROP_NODST, 0);
		return;
	}

	if (mvb_is_multicast(f->dst)) {
		if (!bpf_map_lookup_elem(&mvb_ports, &parent)) {
			/* Not a parent of ours (a stale attachment): behave as if we were not there. */
			mvb_verdict_set(v, MVB_ACT_STACK, parent, 0, 0);
			return;
		}
		mvb_decide_parent_rx_group(parent, f, v);
		return;
	}

	dst = mvb_lookup_mac(parent, f->dst, &dstv);
	if (!dst) {
		/* No UP child owns the MAC: the parent's own stack (a DOWN child's MAC lands here too), unless
		 * the port is passthru; nor is a port that isn't ours (a stale attachment) anything to us. */
		port = bpf_map_lookup_elem(&mvb_ports, &parent);
		if (port && (port->flags & MVB_PORT_PASSTHRU))
			mvb_decide_passthru(port, v);
		else
			mvb_verdict_set(v, MVB_ACT_STACK, parent, 0, 0);
		return;
	}
	if (dst->mode == MVB_MODE_PASSTHRU) {
		/* The passthru child itself (UP: it is in the table). */
		mvb_verdict_deliver(v, dst->host_ifindex, dst->slot, mvb_deliver_flags(dst->flags, dst->kind) | MVB_DELIVER_PASSTHRU);
		return;
	}
	if (dst->mode == MVB_MODE_SOURCE) {
		/* A source child takes no frames by destination (l.510-511): it gets only its copies. */
		mvb_verdict_set(v, MVB_ACT_STACK, parent, 0, 0);
		return;
	}

	if (dst->mode == MVB_MODE_PRIVATE) {
		/* Deliberate difference 1: the kernel never checks a unicast source, so private children
		 * reach each other through a hairpinning switch. We drop a sibling's frame to a private
		 * child; a child's own frame reflected back to it is still delivered. */
		port = bpf_map_lookup_elem(&mvb_ports, &parent);
		src = port && !(port->flags & MVB_PORT_ISOLATION_KERNEL) ? mvb_lookup_mac(parent, f->src, &srcv) : 0;
		if (src && src->host_ifindex != dst->host_ifindex) {
			mvb_verdict_set(v, MVB_ACT_DROP, 0, MVB_DROP_PRIVATE_SRC, 0);
			return;
		}
	}

	mvb_verdict_deliver(v, dst->host_ifindex, dst->slot, mvb_deliver_flags(dst->flags, dst->kind));
}

/* What a child's transmit reads of its record (mvb_child_cached); 0 when it has none. This CPU's cache
 * slot for the child, filled from the registry unless it holds the child as of the current generation:
 * mvb_lookup_mac's scheme, keyed by the host end's ifindex. A pointer into the cache, not a copy: a
 * decision looks up one child. (Both arrays always have the entry: the null checks are the verifier's.) */
static __always_inline struct mvb_child_cached *mvb_lookup_child_tx(__u32 host)
{
	__u32 zero = 0, slot = host & (MVB_CHILD_CACHE_SLOTS - 1);
	__u64 *genp = bpf_map_lookup_elem(&mvb_macs_gen, &zero);
	struct mvb_child_cached *c = bpf_map_lookup_elem(&mvb_child_cache, &slot);
	struct mvb_child *me;
	__u64 gen;

	if (!genp || !c)
		return 0;
	gen = *(volatile __u64 *)genp; /* before the registry, as in mvb_lookup_mac */
	if (c->host_ifindex == host && c->gen == gen)
		return c;
	me = bpf_map_lookup_elem(&mvb_children, &host);
	if (!me)
		return 0;
	c->gen = gen;
	c->host_ifindex = host;
	c->parent_ifindex = me->parent_ifindex;
	c->slot = me->slot;
	c->parent_slot = me->parent_slot;
	mvb_mac_copy(c->mac, me->mac);
	c->mode = me->mode;
	c->flags = me->flags;
	return c;
}

/* Child TX: a child sent a frame; it arrives on the child's host end (macvlan_queue_xmit). Only bridge
 * mode switches locally, and only to an UP bridge-mode sibling; everything else leaves by the wire,
 * never to the parent's own stack. */
static __always_inline void mvb_decide_child_tx(__u32 host, const struct mvb_frame *f,
						struct mvb_verdict *v)
{
	struct mvb_child_cached *me = mvb_lookup_child_tx(host);
	struct mvb_mac_val dstv, *dst;

	if (!me) {
		v->parent = 0;
		mvb_verdict_set(v, MVB_ACT_DROP, 0, MVB_DROP_UNKNOWN_CHILD, 0);
		return;
	}
	v->parent = me->parent_ifindex;
	v->tx_slot = me->slot;
	v->pslot = me->parent_slot;

	/* spoofchk (the spec's deliberate difference 4): the kernel never looks at a child's source MAC; with the
	 * option on, a frame that does not carry the child's own goes nowhere, unicast or multicast. */
	if ((me->flags & MVB_CHILD_SPOOFCHK) && !mvb_mac_eq(f->src, me->mac)) {
		mvb_verdict_set(v, MVB_ACT_DROP, 0, MVB_DROP_SPOOF, 0);
		return;
	}

	if (me->mode == MVB_MODE_BRIDGE && mvb_is_multicast(f->dst)) {
		/* Bridge multicast: a copy to every other UP bridge sibling, then the wire (l.547-551). */
		v->mask = f->proto == 0x8808 ? 0 : MVB_MODE_BRIDGE;
		v->exclude = host;
		mvb_verdict_group(v, f);
		mvb_verdict_set(v, MVB_ACT_FLOOD, me->parent_ifindex, 0, MVB_FLOOD_THEN_WIRE);
		return;
	}
	if (me->mode == MVB_MODE_BRIDGE) {
		dst = mvb_lookup_mac(me->parent_ifindex, f->dst, &dstv);
		if (dst && dst->mode == MVB_MODE_BRIDGE) {
			/* dev_forward_skb into the parent's receive path: source-mode copies apply. */
			if (mvb_decide_sources(me->parent_ifindex, f, v)) {
				mvb_verdict_set(v, MVB_ACT_DROP, 0, MVB_DROP_NODST, 0);
				return;
			}
			mvb_verdict_deliver(v, dst->host_ifindex, dst->slot, mvb_deliver_flags(dst->flags, dst->kind));
			return;
		}
	}
	mvb_verdict_set(v, MVB_ACT_WIRE, me->parent_ifindex, 0, 0);
}

#endif
