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

static __always_inline void mvb_tc_record(struct __sk_buff *skb, const struct mvb_verdict *v)
{
	/* Visible to BPF_PROG_TEST_RUN in ctx_out; scratch space to the rest of the stack. */
	skb->cb[MVB_CB_ACTION] = v->action;
	skb->cb[MVB_CB_TARGET] = v->target;
	skb->cb[MVB_CB_REASON] = v->reason;
	skb->cb[MVB_CB_FLAGS] = v->flags;
	skb->cb[MVB_CB_COPIES] = 0;
}

struct mvb_flood_ctx {
	struct __sk_buff *skb;
	__u32 parent;
	__u32 mask;
	__u32 exclude;
	__u32 len;
	__u32 n;
	__u32 start;
	__u32 base;    /* entries before this one were walked by an earlier chunk */
	__u32 visited; /* entries walked here */
	__u32 copies;
	__u32 failed;
	__u32 skipped; /* the sender's own entry */
	struct mvb_mc_key mc; /* mc.mac: the group when the exact filter applies (group = 1) */
	__u32 group;
	/* The member path (below): the group's listed members, and how many of them the mode reaches. */
	__u32 nmembers;
	__u32 reached;
	__u32 member[MVB_GROUP_LIST_MAX];
};

/* A refused copy, counted on the spot (rare; keeps the loop's state to two counters, see below). */
static __always_inline void mvb_count_flood_fail(__u32 parent, __u32 reason)
{
	struct mvb_parent_stats *s = bpf_map_lookup_elem(&mvb_parent_stats, &parent);

	if (s && reason < MVB_DROP__MAX)
		s->drops[reason]++;
}

/* One flood step: copy the frame to list entry (start + i) mod n. bpf_clone_redirect to the host end's
 * egress: the veth hands the copy to the child, whose eth_type_trans marks it broadcast or multicast as
 * the kernel's macvlan does. The veth queues each copy on this CPU's backlog, which holds
 * net.core.netdev_max_backlog (1,000) frames until our program returns: past that the veth refuses the
 * copy (NET_XMIT_DROP, a positive return; also its answer to a copy longer than the child's MTU),
 * counted as copy-refused; a negative return (no device, no clone) as redirect-fail. Starting at a random entry spreads
 * such losses over all children instead of always starving the same last ones. */
static long mvb_flood_one(__u32 i, void *data)
{
	struct mvb_flood_ctx *fc = data;
	__u32 idx = fc->start + fc->base + i;
	struct mvb_flood_key key = { .parent_ifindex = fc->parent };
	struct mvb_flood_val *e;
	long r;

	if (idx >= fc->n)
		idx -= fc->n;
	key.idx = idx;
	e = bpf_map_lookup_elem(&mvb_flood, &key);
	if (!e)
		return 0;
	if (e->host_ifindex == fc->exclude) {
		fc->skipped++;
		return 0;
	}
	if (!(e->mode & fc->mask))
		return 0;
	if (fc->group && (e->flags & MVB_FLOOD_MC_EXACT)) {
		/* The exact filter: a group the child has not joined is withheld, counted on the spot and as
		 * failed, so the mode-filter count derived below stays right. */
		fc->mc.host_ifindex = e->host_ifindex;
		if (!bpf_map_lookup_elem(&mvb_mc, &fc->mc)) {
			fc->failed++;
			mvb_count_flood_fail(fc->parent, MVB_DROP_MC_UNJOINED);
			return 0;
		}
	}
	r = bpf_clone_redirect(fc->skb, e->host_ifindex, 0);
	if (r == 0) {
		fc->copies++;
		mvb_count_flood_copy(e->host_ifindex, fc->len);
	} else {
		fc->failed++;
		mvb_count_flood_fail(fc->parent, r > 0 ? MVB_DROP_COPY_REFUSED : MVB_DROP_REDIRECT_FAIL);
	}
	return 0;
}

/* The member path: a group few children joined (mvb_groups), on a port whose every flood entry filters
 * exactly. Copies go to its listed members the sender's mode reaches; every other entry is counted as
 * the walk would count it (withheld by the mode, or unjoined), from the port's per-mode counts. One
 * member step: */
static long mvb_member_one(__u32 i, void *data)
{
	struct mvb_flood_ctx *fc = data;
	struct mvb_child *c;
	__u32 host;
	long r;

	if (i >= fc->nmembers)
		return 1;
	host = fc->member[mvb_index(i, MVB_GROUP_LIST_MAX - 1)];
	if (host == fc->exclude)
		return 0;
	c = bpf_map_lookup_elem(&mvb_children, &host);
	/* UP and not source mode: what puts a child in the flood list. */
	if (!c || c->parent_ifindex != fc->parent || !(c->flags & MVB_CHILD_UP) || c->mode == MVB_MODE_SOURCE || !(c->mode & fc->mask))
		return 0;
	fc->reached++;
	r = bpf_clone_redirect(fc->skb, host, 0);
	if (r == 0) {
		fc->copies++;
		mvb_count_flood_copy(host, fc->len);
	} else {
		fc->failed++;
		mvb_count_flood_fail(fc->parent, r > 0 ? MVB_DROP_COPY_REFUSED : MVB_DROP_REDIRECT_FAIL);
	}
	return 0;
}

/* The flood entries the sender's mode reaches, the sender aside (it is in the list when UP and not
 * source mode). */
static __always_inline __u32 mvb_flood_reached(const struct mvb_port *port, __u32 mask, __u32 exclude)
{
	struct mvb_child *s;
	__u32 n = 0;

	if (mask & MVB_MODE_PRIVATE)
		n += port->nflood_mode[0];
	if (mask & MVB_MODE_VEPA)
		n += port->nflood_mode[1];
	if (mask & MVB_MODE_BRIDGE)
		n += port->nflood_mode[2];
	if (mask & MVB_MODE_PASSTHRU)
		n += port->nflood_mode[3];
	if (exclude) {
		s = bpf_map_lookup_elem(&mvb_children, &exclude);
		if (s && (s->flags & MVB_CHILD_UP) && s->mode != MVB_MODE_SOURCE && (s->mode & mask) && n)
			n--;
	}
	return n;
}

/* Copies a group frame to its members when that needs no walk; returns 0 (and makes no copy) when the
 * walk is needed: some entry gets every group, or many joined the group. */
static __always_inline int mvb_tc_flood_members(struct mvb_flood_ctx *fc, const struct mvb_port *port, const __u8 *group)
{
	struct mvb_mac_key key = { .parent_ifindex = fc->parent };
	struct mvb_group_val *g;
	__u32 reached, unjoined;

	if (port->nflood_all)
		return 0;
	mvb_mac_copy(key.mac, group);
	g = bpf_map_lookup_elem(&mvb_groups, &key);
	if (g) {
		if (g->n > MVB_GROUP_LIST_MAX)
			return 0;
		fc->nmembers = g->n;
		__builtin_memcpy(fc->member, g->host, sizeof(fc->member));
	}
	if (fc->nmembers && fc->mask)
		bpf_loop(MVB_GROUP_LIST_MAX, mvb_member_one, fc, 0);
	reached = fc->mask ? mvb_flood_reached(port, fc->mask, fc->exclude) : 0;
	unjoined = reached > fc->reached ? reached - fc->reached : 0;
	if (unjoined) {
		struct mvb_parent_stats *s = bpf_map_lookup_elem(&mvb_parent_stats, &fc->parent);

		if (s)
			s->drops[MVB_DROP_MC_UNJOINED] += unjoined;
	}
	fc->failed += unjoined; /* withheld, as the walk counts them (the mode-filter count is derived) */
	return 1;
}

/* The copies the sender's mode withheld: derived rather than counted in the loop, which keeps the
 * callback's state small enough for the verifier to converge (l.314-320). */
static __always_inline void mvb_flood_count_filtered(const struct mvb_flood_ctx *fc)
{
	__u32 filtered = fc->visited - fc->copies - fc->failed - fc->skipped;

	if (!fc->mask || filtered > fc->visited)
		filtered = 0;
	if (filtered) {
		struct mvb_parent_stats *s = bpf_map_lookup_elem(&mvb_parent_stats, &fc->parent);

		if (s)
			s->drops[MVB_DROP_MODE_FILTER] += filtered;
	}
}

/* Copies per softirq round (mvb_flood_cfg; see mvb_abi.h). */
static __always_inline __u32 mvb_flood_chunk(void)
{
	struct mvb_flood_cfg *cfg = bpf_map_lookup_elem(&mvb_flood_cfg, &(__u32){ 0 });
	__u32 chunk = cfg ? cfg->chunk : 0;

	return chunk ? chunk : MVB_FLOOD_CHUNK_DEFAULT;
}

/* The continuation's carrier: the host end of one of the next flood entries whose ingress runs our
 * child program (a veth's host end or a tap; a netkit child's hook is in its transmit), or 0. */
static __always_inline __u32 mvb_flood_carrier(const struct mvb_flood_ctx *fc)
{
	struct mvb_flood_key key = { .parent_ifindex = fc->parent };
	struct mvb_flood_val *e;
	struct mvb_child *c;
	__u32 k, idx;

#pragma unroll
	for (k = 0; k < 4; k++) {
		if (fc->base + k >= fc->n)
			return 0;
		idx = fc->start + fc->base + k;
		if (idx >= fc->n)
			idx -= fc->n;
		key.idx = idx;
		e = bpf_map_lookup_elem(&mvb_flood, &key);
		if (!e)
			continue;
		c = bpf_map_lookup_elem(&mvb_children, &e->host_ifindex);
		if (c && c->kind != MVB_KIND_NETKIT && (c->flags & MVB_CHILD_UP))
			return e->host_ifindex;
	}
	return 0;
}

/* Queues the rest of the flood (entries fc->base on) behind the copies made so far; 0 when it can't
 * (no carrier, or the carrier refused the clone: the backlog is full), and the caller goes on inline. */
static __always_inline int mvb_flood_defer(struct __sk_buff *skb, const struct mvb_flood_ctx *fc)
{
	__u32 *seq = bpf_map_lookup_elem(&mvb_flood_seq, &(__u32){ 0 });
	struct mvb_flood_cont *c;
	__u32 carrier, slot, tag, saved;
	long r;

	carrier = mvb_flood_carrier(fc);
	if (!seq || !carrier)
		return 0;
	*seq += 1;
	slot = (bpf_get_smp_processor_id() & (MVB_CONT_CPUS - 1)) * MVB_CONT_PER_CPU + (*seq & (MVB_CONT_PER_CPU - 1));
	c = bpf_map_lookup_elem(&mvb_flood_cont, &slot);
	if (!c)
		return 0;
	tag = MVB_CONT_MAGIC | (slot << 12) | (*seq & 0xfff);
	c->parent = fc->parent;
	c->mask = fc->mask;
	c->exclude = fc->exclude;
	c->group = fc->group;
	c->start = fc->start;
	c->n = fc->n;
	c->next = fc->base;
	c->tag = tag;
	saved = skb->mark;
	skb->mark = tag;
	r = bpf_clone_redirect(skb, carrier, BPF_F_INGRESS);
	skb->mark = saved;
	if (r) {
		c->tag = 0;
		return 0;
	}
	return 1;
}

/* Walks the flood list from entry fc->base to its end: a chunk now and the rest from a continuation,
 * or all of it now when no continuation can be queued. */
static __always_inline void mvb_flood_walk(struct __sk_buff *skb, struct mvb_flood_ctx *fc)
{
	__u32 chunk = mvb_flood_chunk();
	__u32 left = fc->base < fc->n ? fc->n - fc->base : 0;

	if (left > chunk) {
		bpf_loop(chunk, mvb_flood_one, fc, 0);
		fc->visited += chunk;
		fc->base += chunk;
		if (mvb_flood_defer(skb, fc))
			return;
		left -= chunk;
	}
	bpf_loop(left, mvb_flood_one, fc, 0);
	fc->visited += left;
}

/* Copies the frame to the port's eligible UP children (deliberate difference 2: no broadcast
 * work-queue; a flood longer than a chunk goes on in later softirq rounds, see mvb_abi.h). bpf_loop keeps
 * the verifier's cost independent of the number of children. Returns the copies made here; failures
 * are counted, never silent. */
static __always_inline __u32 mvb_tc_flood(struct __sk_buff *skb, const struct mvb_verdict *v)
{
	struct mvb_flood_ctx fc = { .skb = skb, .parent = v->target, .mask = v->mask, .exclude = v->exclude, .len = skb->len };
	__u32 parent = v->target;
	struct mvb_port *port = bpf_map_lookup_elem(&mvb_ports, &parent);
	__u32 n = port ? port->nflood : 0;

	if (n > MVB_MAX_CHILDREN)
		n = MVB_MAX_CHILDREN;
	fc.n = n;
	if (v->group) {
		fc.group = 1;
		mvb_mac_copy(fc.mc.mac, v->dst);
	}
	if (v->group && port && mvb_tc_flood_members(&fc, port, v->dst)) {
		/* every entry accounted for: copied, unjoined, or withheld by the mode below */
		fc.visited = n;
		fc.skipped = fc.exclude ? 1 : 0;
	} else {
		fc.start = n > 1 ? bpf_get_prandom_u32() % n : 0;
		if (fc.mask && n)
			mvb_flood_walk(skb, &fc);
	}
	mvb_flood_count_filtered(&fc);
	return fc.copies;
}

/* A continuation reached a child program's hook (see mvb_abi.h): the next chunk of its flood, and the
 * clone ends here. -1 when skb->mark is no continuation of ours in flight: the frame is an ordinary one. */
static __always_inline int mvb_tc_flood_continue(struct __sk_buff *skb)
{
	__u32 mark = skb->mark;
	__u32 slot = (mark >> 12) & 0xfff;
	struct mvb_flood_ctx fc = { .skb = skb };
	struct mvb_flood_cont *c;

	if ((mark & MVB_CONT_MAGIC_MASK) != MVB_CONT_MAGIC)
		return -1;
	c = bpf_map_lookup_elem(&mvb_flood_cont, &slot);
	if (!c || !c->tag || c->tag != mark)
		return -1;
	fc.parent = c->parent;
	fc.mask = c->mask;
	fc.exclude = c->exclude;
	fc.group = c->group;
	fc.start = c->start;
	fc.n = c->n < MVB_MAX_CHILDREN ? c->n : MVB_MAX_CHILDREN;
	fc.base = c->next;
	c->tag = 0;
	skb->mark = 0;
	fc.len = skb->len;
	if (fc.group && bpf_skb_load_bytes(skb, 0, fc.mc.mac, sizeof(fc.mc.mac)) < 0)
		return TC_ACT_STOLEN;
	if (fc.mask)
		mvb_flood_walk(skb, &fc);
	mvb_flood_count_filtered(&fc);
	skb->cb[MVB_CB_ACTION] = MVB_ACT_FLOOD;
	skb->cb[MVB_CB_TARGET] = fc.parent;
	skb->cb[MVB_CB_REASON] = 0;
	skb->cb[MVB_CB_FLAGS] = 0;
	skb->cb[MVB_CB_COPIES] = fc.copies;
	/* Consumed, not dropped: the clone was ours and did its work. */
	return TC_ACT_STOLEN;
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
		mvb_count_flood_copy(host, sc->skb->len);
	} else {
		mvb_count_flood_fail(sc->key.parent_ifindex, r > 0 ? MVB_DROP_COPY_REFUSED : MVB_DROP_REDIRECT_FAIL);
	}
	return 0;
}

static __always_inline __u32 mvb_tc_source_copies(struct __sk_buff *skb, const struct mvb_verdict *v)
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
	skb->cb[MVB_CB_COPIES] = srccopies;
	switch (v->action) {
	case MVB_ACT_FLOOD:
		skb->cb[MVB_CB_COPIES] = srccopies + mvb_tc_flood(skb, v);
		if (v->flags & MVB_FLOOD_THEN_WIRE) {
			mvb_count_wire(v->parent, skb->len);
			return bpf_redirect(v->parent, 0);
		}
		mvb_count_stack(v->parent, skb->len);
		return TC_ACT_UNSPEC;
	case MVB_ACT_STACK:
		if (v->reason) /* the frame goes on, but something it would have had was withheld */
			mvb_count_drop(v->parent, v->reason);
		mvb_count_stack(v->parent, skb->len);
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
		mvb_count_child_rx(v->target, skb->len);
		/* The peer shortcut enters the child's netns without a second backlog pass; it refuses a
		 * peer in the same netns, so such children take the veth's normal transmit path. It works
		 * only at an ingress hook: a program in a device's transmit (a netkit child's) redirects to
		 * the target's transmit, which hands the frame to its peer. */
		if (MVB_AT_XMIT || (v->flags & MVB_CHILD_SAME_NETNS))
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
