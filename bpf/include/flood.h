/* SPDX-License-Identifier: GPL-2.0-only */
/* Flooding: a frame's copies to the port's UP children, in TC (XDP cannot both pass a frame on and copy
 * it). Every copy is a bpf_clone_redirect to the child's host end, into its ingress (MVB_FLOOD_PEER) or
 * out through its transmit; either way it is queued on this CPU's backlog. How a flood of any size
 * keeps within that backlog, in order, is in mvb_abi.h ("Flooding at scale"). */
#ifndef MVB_FLOOD_H
#define MVB_FLOOD_H

#include <linux/pkt_cls.h>
#include "decide.h"
#include "counters.h"
#include "cb.h"

struct mvb_flood_ctx {
	struct __sk_buff *skb;
	__u32 parent;
	__u32 pslot;   /* the parent's counter slot, when the verdict knew it (else 0: the port says) */
	__u32 mask;
	__u32 exclude;
	__u32 len;
	__u32 n;
	__u32 base;    /* list entries an earlier round walked */
	__u32 visited; /* entries walked here */
	__u32 copies;
	__u32 failed;  /* refused, shed or unjoined */
	__u32 skipped; /* the sender's own entry */
	__u32 shed;    /* count the copies as refused instead of making them */
	__u32 refused; /* of failed: shed */
	struct mvb_mc_key mc; /* mc.mac: the group when the exact filter applies (group = 1) */
	__u32 group;
	__u32 local;   /* a child's transmit (bridge copies): the copies go through the host end's transmit */
	/* The member path (below): the group's listed members, and how many of them the mode reaches. */
	__u32 nmembers;
	__u32 reached;
	__u32 member[MVB_GROUP_LIST_MAX];
};

/* A refused copy, counted on the spot (rare; keeps the loop's state to two counters, see below). */
static __always_inline void mvb_count_flood_fail(__u32 parent, __u32 pslot, __u32 reason)
{
	struct mvb_parent_stats *s = mvb_parent_ctrs_of(parent, pslot);

	if (s && reason < MVB_DROP__MAX)
		s->drops[reason]++;
}

/* One copy of the flood's frame to a child's host end: into its ingress, marked, when `peer` (the child
 * program there hands it to the child end, MVB_FLOOD_PEER), else out through its transmit. A child's
 * own flood (fc->local) always takes the transmit: there the kernel forwards each copy as a local one
 * (dev_forward_skb), refusing one longer than the receiving child's MTU, and the veth does the same; a
 * flood from the wire is not checked (macvlan_broadcast_one), nor is the peer path. Counted. */
static __always_inline void mvb_flood_copy(struct mvb_flood_ctx *fc, __u32 host, __u32 slot, int peer)
{
	__u32 saved = fc->skb->mark;
	long r;

	if (peer && !fc->local) {
		fc->skb->mark = MVB_COPY_MARK;
		r = bpf_clone_redirect(fc->skb, host, BPF_F_INGRESS);
		fc->skb->mark = saved;
	} else {
		r = bpf_clone_redirect(fc->skb, host, 0);
	}
	if (r == 0) {
		fc->copies++;
		mvb_count_flood_copy(slot, fc->len);
	} else {
		fc->failed++;
		mvb_count_flood_fail(fc->parent, fc->pslot, r > 0 ? MVB_DROP_COPY_REFUSED : MVB_DROP_REDIRECT_FAIL);
	}
}

/* One flood step: copy the frame to list entry base + i (mvb_flood_copy). On either path the child end's
 * eth_type_trans marks it broadcast or multicast as the kernel's macvlan does. A copy refused (a
 * positive return: the backlog was full, or the copy is longer than the child's MTU) is counted as
 * copy-refused; a negative return (no device, no clone) as redirect-fail. A shed flood counts its
 * copies as copy-refused, unmade. */
static long mvb_flood_one(__u32 i, void *data)
{
	struct mvb_flood_ctx *fc = data;
	struct mvb_flood_key key = { .parent_ifindex = fc->parent, .idx = fc->base + i };
	struct mvb_flood_val *e;

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
			mvb_count_flood_fail(fc->parent, fc->pslot, MVB_DROP_MC_UNJOINED);
			return 0;
		}
	}
	if (fc->shed) {
		fc->failed++;
		fc->refused++;
		return 0;
	}
	mvb_flood_copy(fc, e->host_ifindex, e->slot, e->flags & MVB_FLOOD_PEER);
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
	mvb_flood_copy(fc, host, c->slot, c->copy & MVB_COPY_PEER);
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
		struct mvb_parent_stats *s = mvb_parent_ctrs_of(fc->parent, fc->pslot);

		if (s)
			s->drops[MVB_DROP_MC_UNJOINED] += unjoined;
	}
	fc->failed += unjoined; /* withheld, as the walk counts them (the mode-filter count is derived) */
	return 1;
}

/* What a walk counted in bulk: the copies the sender's mode withheld (derived rather than counted in the
 * loop, which keeps the callback's state small enough for the verifier to converge) and the shed ones. */
static __always_inline void mvb_flood_count(const struct mvb_flood_ctx *fc)
{
	__u32 filtered = fc->visited - fc->copies - fc->failed - fc->skipped;
	struct mvb_parent_stats *s;

	if (!fc->mask || filtered > fc->visited)
		filtered = 0;
	if (!filtered && !fc->refused)
		return;
	s = mvb_parent_ctrs_of(fc->parent, fc->pslot);
	if (!s)
		return;
	s->drops[MVB_DROP_MODE_FILTER] += filtered;
	s->drops[MVB_DROP_COPY_REFUSED] += fc->refused;
}

/* Walks `count` list entries from fc->base. */
static __always_inline void mvb_flood_walk(struct mvb_flood_ctx *fc, __u32 count)
{
	if (count) {
		bpf_loop(count, mvb_flood_one, fc, 0);
		fc->visited += count;
		fc->base += count;
	}
}

/* This CPU's flood accounting, brought up to date: a deferred flood unseen for MVB_FLOOD_STALE_NS was
 * lost with its carrier. What was copied at once is known to have left the backlog only when a
 * continuation queued after it comes back (an idle gap proves nothing: under load the backlog is
 * drained by ksoftirqd, which can wait behind other work for milliseconds), so after `budget` copies
 * at once the next flood is deferred, and its continuation tells. */
static __always_inline struct mvb_flood_cpu *mvb_flood_cpu_now(__u64 now)
{
	struct mvb_flood_cpu *pc = bpf_map_lookup_elem(&mvb_flood_cpu, &(__u32){ 0 });

	if (!pc)
		return 0;
	if (pc->waiting && now - pc->progress_ns > MVB_FLOOD_STALE_NS) {
		pc->waiting = 0;
		pc->wait_cost = 0;
		pc->drained = pc->queued;
	}
	pc->last_ns = now;
	return pc;
}

static __always_inline void mvb_flood_settings(__u64 *budget, __u32 *chunk)
{
	struct mvb_flood_cfg *cfg = bpf_map_lookup_elem(&mvb_flood_cfg, &(__u32){ 0 });

	*budget = cfg && cfg->budget ? cfg->budget : MVB_FLOOD_BUDGET_DEFAULT;
	*chunk = cfg && cfg->chunk ? cfg->chunk : MVB_FLOOD_CHUNK_DEFAULT;
}

/* The continuation's carrier: the host end of one of the next flood entries whose ingress runs our
 * child program (a veth's host end or a tap; a netkit child's hook is in its transmit), or 0. */
static __always_inline __u32 mvb_flood_carrier(const struct mvb_flood_ctx *fc)
{
	struct mvb_flood_key key = { .parent_ifindex = fc->parent };
	struct mvb_flood_val *e;
	struct mvb_child *c;
	__u32 k;

#pragma unroll
	for (k = 0; k < 4; k++) {
		key.idx = fc->base + k;
		if (key.idx >= fc->n)
			return 0;
		e = bpf_map_lookup_elem(&mvb_flood, &key);
		if (!e)
			continue;
		c = bpf_map_lookup_elem(&mvb_children, &e->host_ifindex);
		if (c && c->kind != MVB_KIND_NETKIT && (c->flags & MVB_CHILD_UP))
			return e->host_ifindex;
	}
	return 0;
}

/* Queues the flood's continuation (entries fc->base on) behind everything this CPU queued so far.
 * 1: queued; 0: no carrier (every child is netkit); -1: refused (the backlog is full, or this CPU holds
 * as many deferred floods as it has slots). */
static __always_inline int mvb_flood_defer(struct __sk_buff *skb, const struct mvb_flood_ctx *fc, struct mvb_flood_cpu *pc, __u32 cost)
{
	struct mvb_flood_cont *c;
	__u32 carrier, slot, tag, saved;
	long r;

	carrier = mvb_flood_carrier(fc);
	if (!carrier)
		return 0;
	pc->seq++;
	slot = (bpf_get_smp_processor_id() & (MVB_CONT_CPUS - 1)) * MVB_CONT_PER_CPU + (pc->seq & (MVB_CONT_PER_CPU - 1));
	c = bpf_map_lookup_elem(&mvb_flood_cont, &slot);
	if (!c || c->tag)
		return -1;
	tag = MVB_CONT_MAGIC | (slot << 12) | (pc->seq & 0xfff);
	c->parent = fc->parent;
	c->mask = fc->mask;
	c->exclude = fc->exclude;
	c->group = fc->group | (fc->local << 1);
	c->n = fc->n;
	c->next = fc->base;
	c->cost = cost;
	c->carried = pc->queued + 1;
	c->tag = tag;
	saved = skb->mark;
	skb->mark = tag;
	r = bpf_clone_redirect(skb, carrier, BPF_F_INGRESS);
	skb->mark = saved;
	if (r) {
		c->tag = 0;
		return -1;
	}
	pc->queued++;
	return 1;
}

/* Sheds the rest of the flood: every copy it would make is counted as copy-refused. */
static __always_inline void mvb_flood_shed(struct mvb_flood_ctx *fc)
{
	fc->shed = 1;
	mvb_flood_walk(fc, fc->base < fc->n ? fc->n - fc->base : 0);
}

/* Sheds a whole flood (none of it walked yet). Shedding happens in a storm, when the CPU is short of
 * time for the copies it does make: walking the list only to count it cost a lookup per entry (about
 * 25 us a frame at 1,024 children, measured with perf). So where the port's counts by mode add up to its
 * list and no entry filters groups exactly, the walk's counts are taken from them: every copy the
 * sender's mode reaches is refused, the sender's own entry skipped, the rest withheld by the mode (as
 * mvb_flood_count derives it). Otherwise (an exact filter to tell unjoined from refused, or counts a
 * reconcile has yet to put right) the list is walked. */
static __always_inline void mvb_flood_shed_whole(struct mvb_flood_ctx *fc, const struct mvb_port *port)
{
	struct mvb_child *s;
	__u32 reached;

	if (!port || fc->base || fc->n != port->nflood || (fc->group && port->nflood_all != port->nflood) ||
	    port->nflood_mode[0] + port->nflood_mode[1] + port->nflood_mode[2] + port->nflood_mode[3] != port->nflood) {
		mvb_flood_shed(fc);
		return;
	}
	reached = mvb_flood_reached(port, fc->mask, fc->exclude);
	fc->shed = 1;
	fc->visited = fc->n;
	fc->base = fc->n;
	fc->failed += reached;
	fc->refused += reached;
	if (fc->exclude) {
		/* In the list, so skipped by the walk, whether its mode is in the mask or not. */
		s = bpf_map_lookup_elem(&mvb_children, &fc->exclude);
		if (s && s->parent_ifindex == fc->parent && (s->flags & MVB_CHILD_UP) && s->mode != MVB_MODE_SOURCE)
			fc->skipped++;
	}
}

/* Copies the frame to the port's eligible UP children (deliberate difference 2: no broadcast
 * work-queue; mvb_abi.h says when a flood is copied at once, deferred or shed). bpf_loop keeps the
 * verifier's cost independent of the number of children. Returns the copies made here; failures are
 * counted, never silent. Out of line (a BPF-to-BPF call): the flood code is most of every TC program and
 * a unicast frame never runs it; inline, it sat between the unicast decision and its redirect (compiled
 * out, the child paths read 1.2-1.4 % faster). A flood pays one call (docs/benchmarks.md, "The flood
 * code out of line"). */
static __noinline __u32 mvb_tc_flood(struct __sk_buff *skb, const struct mvb_verdict *v)
{
	struct mvb_flood_ctx fc = { .skb = skb, .parent = v->target, .pslot = v->pslot, .mask = v->mask, .exclude = v->exclude, .len = skb->len,
				    .local = (v->flags & MVB_FLOOD_THEN_WIRE) ? 1 : 0 };
	__u32 parent = v->target;
	struct mvb_port *port = bpf_map_lookup_elem(&mvb_ports, &parent);
	struct mvb_flood_cpu *pc = mvb_flood_cpu_now(bpf_ktime_get_ns());
	__u32 n = port ? port->nflood : 0;
	__u32 chunk, cost, round;
	__u64 budget;
	int r;

	if (n > MVB_MAX_CHILDREN)
		n = MVB_MAX_CHILDREN;
	fc.n = n;
	if (v->group) {
		fc.group = 1;
		mvb_mac_copy(fc.mc.mac, v->dst);
	}
	/* The member path copies at once: only while no deferred flood of this CPU is ahead of it. */
	if (v->group && port && !(pc && pc->waiting) && mvb_tc_flood_members(&fc, port, v->dst)) {
		/* every entry accounted for: copied, unjoined, or withheld by the mode below */
		fc.visited = n;
		fc.skipped = fc.exclude ? 1 : 0;
	} else if (fc.mask && n) {
		mvb_flood_settings(&budget, &chunk);
		cost = port ? mvb_flood_reached(port, fc.mask, fc.exclude) : n;
		round = cost < chunk ? cost : chunk;
		if (!pc || !cost || (!pc->waiting && pc->queued - pc->drained + cost <= budget)) {
			mvb_flood_walk(&fc, n); /* at once */
		} else if (pc->waiting < MVB_CONT_PER_CPU && pc->wait_cost + round <= budget && (r = mvb_flood_defer(skb, &fc, pc, round)) != 0) {
			if (r > 0) { /* deferred: its continuation makes every copy */
				if (!pc->waiting)
					pc->progress_ns = pc->last_ns;
				pc->waiting++;
				pc->wait_cost += round;
			} else {
				mvb_flood_shed_whole(&fc, port);
			}
		} else if (!pc->waiting && !mvb_flood_carrier(&fc)) {
			mvb_flood_walk(&fc, n); /* nowhere to defer it (netkit children only): at once */
		} else {
			mvb_flood_shed_whole(&fc, port);
		}
		if (pc)
			pc->queued += fc.copies;
	}
	mvb_flood_count(&fc);
	return fc.copies;
}

/* A continuation reached a child program's hook (mvb_tc_flood_continue): the deferred flood's next
 * round, queued again behind its copies until the flood is done; the clone ends here. -1 when skb->mark
 * names no continuation of ours in flight. Out of line, as mvb_tc_flood. */
static __noinline int mvb_tc_flood_resume(struct __sk_buff *skb)
{
	__u32 mark = skb->mark;
	__u32 slot = (mark >> 12) & 0xfff;
	struct mvb_flood_ctx fc = { .skb = skb };
	struct mvb_flood_cont *c;
	struct mvb_flood_cpu *pc;
	__u32 chunk, left, cost;
	__u64 budget;

	c = bpf_map_lookup_elem(&mvb_flood_cont, &slot);
	if (!c || !c->tag || c->tag != mark)
		return -1;
	fc.parent = c->parent;
	fc.mask = c->mask;
	fc.exclude = c->exclude;
	fc.group = c->group & 1;
	fc.local = (c->group >> 1) & 1;
	fc.n = c->n < MVB_MAX_CHILDREN ? c->n : MVB_MAX_CHILDREN;
	fc.base = c->next;
	cost = c->cost;
	pc = bpf_map_lookup_elem(&mvb_flood_cpu, &(__u32){ 0 });
	if (pc) {
		if (c->carried > pc->drained)
			pc->drained = c->carried; /* all that was queued before it has left the backlog */
		pc->last_ns = pc->progress_ns = bpf_ktime_get_ns();
	}
	c->tag = 0;
	skb->mark = 0;
	fc.len = skb->len;
	if (fc.group && bpf_skb_load_bytes(skb, 0, fc.mc.mac, sizeof(fc.mc.mac)) < 0)
		fc.mask = 0;
	mvb_flood_settings(&budget, &chunk);
	left = fc.base < fc.n ? fc.n - fc.base : 0;
	if (fc.mask && pc) {
		mvb_flood_walk(&fc, left < chunk ? left : chunk);
		pc->queued += fc.copies;
		if (left > chunk && mvb_flood_defer(skb, &fc, pc, cost) <= 0)
			mvb_flood_shed(&fc); /* can't be queued again: the rest is shed, counted */
		else if (left > chunk)
			goto out; /* still waiting */
	}
	if (pc && pc->waiting) {
		pc->waiting--;
		pc->wait_cost = pc->wait_cost > cost ? pc->wait_cost - cost : 0;
	}
out:
	mvb_flood_count(&fc);
	mvb_cb_set(skb, MVB_CB_ACTION, MVB_ACT_FLOOD);
	mvb_cb_set(skb, MVB_CB_TARGET, fc.parent);
	mvb_cb_set(skb, MVB_CB_REASON, 0);
	mvb_cb_set(skb, MVB_CB_FLAGS, 0);
	mvb_cb_set(skb, MVB_CB_COPIES, fc.copies);
	/* Consumed, not dropped: the clone was ours and did its work. */
	return TC_ACT_STOLEN;
}

/* A flood's continuation, or -1: the frame is an ordinary one (every unicast frame: one compare). */
static __always_inline int mvb_tc_flood_continue(struct __sk_buff *skb)
{
	if ((skb->mark & MVB_CONT_MAGIC_MASK) != MVB_CONT_MAGIC)
		return -1;
	return mvb_tc_flood_resume(skb);
}

#endif
