/* SPDX-License-Identifier: GPL-2.0-only */
/* The ABI between the datapath and the control plane: map keys and values, modes, verdicts and drop
 * reasons. src/datapath/abi.ts mirrors every layout here byte for byte; change both together. */
#ifndef MVB_ABI_H
#define MVB_ABI_H

#include <linux/types.h>

/* Modes carry the kernel's uapi values (if_link.h MACVLAN_MODE_*), so masks work the same way. */
#define MVB_MODE_PRIVATE  1
#define MVB_MODE_VEPA     2
#define MVB_MODE_BRIDGE   4
#define MVB_MODE_PASSTHRU 8
#define MVB_MODE_SOURCE   16 /* gets only copies of frames from the sources it lists (mvb_sources), never floods */

/* mvb_child.kind: what the child's device is, so the control plane knows how to make, attach and
 * remove it after a restart. The datapath itself reads only the delivery flags below. */
#define MVB_KIND_VETH   0
#define MVB_KIND_NETKIT 1 /* XDP cannot redirect into it (no ndo_xdp_xmit): its frames are delivered in TC */
#define MVB_KIND_TAP    2 /* macvtap: a tap device, both the child and the redirect target (its reader's fd) */

/* mvb_child.flags */
#define MVB_CHILD_UP         (1 << 0) /* admin UP: its MAC is in mvb_macs */
#define MVB_CHILD_SAME_NETNS (1 << 1) /* child end shares the host end's netns: bpf_redirect_peer can't be used */
#define MVB_CHILD_GRO_SET    (1 << 2) /* control plane only: we turned GRO on at the child end (XDP fast path) */
#define MVB_CHILD_XDP_ARMED  (1 << 3) /* control plane only: the host end takes XDP redirects (see kinds/veth.ts) */
#define MVB_CHILD_MAC_BUSY   (1 << 4) /* control plane only: UP with an address an UP sibling holds (abi.ts) */
#define MVB_CHILD_SPOOFCHK   (1 << 5) /* the child may only send with its own source MAC (the spec's deliberate difference 4) */
#define MVB_CHILD_NODST      (1 << 6) /* a frame from a source this child lists goes to the source children only */
#define MVB_CHILD_MC_EXACT   (1 << 7) /* control plane only: the agent keeps this child's groups in mvb_mc (see
				       * MVB_FLOOD_MC_EXACT, which the datapath reads) */

/* mvb_child.copy */
#define MVB_COPY_PEER (1 << 0) /* into the host end's ingress, then a peer redirect (MVB_FLOOD_PEER's twin) */

/* mvb_port.flags */
#define MVB_PORT_PASSTHRU        (1 << 0)
#define MVB_PORT_ISOLATION_KERNEL (1 << 1) /* private mode behaves exactly like the kernel (no source check) */
#define MVB_PORT_UC_PROMISC      (1 << 2) /* control plane only: the parent keeps its own fdb (a bridge), so
					   * its promiscuity stands in for the unicast filter */
#define MVB_PORT_ALLMULTI_SET    (1 << 3) /* control plane only: we turned the parent's allmulticast on */
#define MVB_PORT_FASTPATH_XDP    (1 << 4) /* control plane only: unicast to children is decided in XDP first */
#define MVB_PORT_KIND_NETKIT     (1 << 5) /* control plane only: new children are netkit pairs */
#define MVB_PORT_KIND_AUTO       (1 << 6) /* control plane only: new children are netkit where the kernel has it */
#define MVB_PORT_KIND_VETH       (1 << 7) /* control plane only: new children are veth pairs (whatever the default) */

/* Key of the MAC table: one entry per UP child, like the kernel's port->vlan_hash. */
struct mvb_mac_key {
	__u32 parent_ifindex;
	__u8 mac[6];
	__u16 pad;
};

/* Value of the MAC table. A copy of what the fast path needs so one lookup is enough. */
struct mvb_mac_val {
	__u32 host_ifindex; /* the host end of the child's pair, or its tap: redirect target */
	__u8 mode;
	__u8 flags;         /* MVB_CHILD_* */
	__u8 kind;          /* MVB_KIND_* (the XDP fast path delivers only into veth children) */
	__u8 pad;
	__u32 slot;         /* the child's counters: its index in mvb_child_ctrs */
};

/* The MAC table's per-CPU cache (decide.h): the kernel's hash map costs a 12-byte hash, a bucket walk
 * and a key compare on every frame, about 7 % of what the XDP hook allows (docs/benchmarks.md). Each
 * CPU keeps the entries it looked up last, direct-mapped by the MAC's last byte and the parent, each
 * tagged with the table's generation (mvb_macs_gen) when it was read. The control plane writes a new
 * generation after every change to the table, so an entry read before the change is never used after
 * it: what a frame sees is what a hash lookup at its start would have seen (OVS's exact-match cache, on
 * a smaller scale). Only the CPU's own programs write its entries, one at a time. A miss is cached too
 * (MVB_MAC_CACHE_NONE): a child's frames to the wire look up an external MAC the table never has, as do
 * broadcasts from the wire their source; a new MAC in the table is a new generation, so no such entry
 * outlives it. */
#define MVB_MAC_CACHE_SLOTS 256
#define MVB_MAC_CACHE_ENTRY 1 /* mvb_mac_cached.valid: the table's entry, in val */
#define MVB_MAC_CACHE_NONE  2 /* the table had no entry */
struct mvb_mac_cached {
	__u64 gen;     /* mvb_macs_gen when read; with valid = 0 the slot holds nothing (MVB_MAC_CACHE_*) */
	__u32 parent_ifindex;
	__u8 mac[6];
	__u8 valid;
	__u8 pad;
	struct mvb_mac_val val;
};

/* The registry's per-CPU cache, for a child's transmit: what its decision reads of the child's record,
 * direct-mapped by the host end's ifindex and tagged with the generation (mvb_macs_gen, which the control
 * plane renews after every change to the registry as to the MAC table) it was read under, as the MAC
 * table's cache is. A child's every frame looked its record up in the registry's hash map; the cache
 * costs two array lookups instead (docs/benchmarks.md). A child with no record is never cached. */
#define MVB_CHILD_CACHE_SLOTS 256
struct mvb_child_cached {
	__u64 gen;            /* mvb_macs_gen when read */
	__u32 host_ifindex;   /* 0: the slot holds nothing */
	__u32 parent_ifindex;
	__u32 slot;
	__u32 parent_slot;
	__u8 mac[6];
	__u8 mode;
	__u8 flags;
};

/* Registry of all children, UP or DOWN (the kernel's port->vlans), keyed by host-end ifindex. */
struct mvb_child {
	__u32 parent_ifindex;
	__u32 host_ifindex;
	__u32 mtu;
	__u8 mac[6];
	__u8 mode;
	__u8 flags;         /* MVB_CHILD_* */
	__u8 kind;          /* MVB_KIND_* */
	__u8 copy;          /* MVB_COPY_*: how a flood copy reaches it, written by the control plane (its kind
			     * says), as in its flood entry: the member path (flood.h) reads no flood entry */
	__u16 queues;       /* tap children: the queues a reader opens unless told (tap exec, tap args); 0 otherwise */
	__u64 created_ns;   /* creation order, for passthru's "first child" and listings */
	char name[16];      /* the user's name for the child end (IFNAMSIZ) */
	char netns[48];     /* named netns of the child end, "" = the parent's */
	__u32 slot;         /* its counters: the index in mvb_child_ctrs (as in its MAC and flood entries) */
	__u32 parent_slot;  /* its parent's counters: the port's slot in mvb_parent_ctrs (0: ask the port) */
};

/* Per parent ("port"), keyed by parent ifindex. */
struct mvb_port {
	__u32 flags;            /* MVB_PORT_* */
	__u32 passthru_host;    /* host ifindex of the passthru child, 0 if none */
	__u8 mac[6];            /* the parent's MAC when the port was made */
	__u8 promisc_set;       /* we turned promiscuity on and must turn it off */
	__u8 clsact_created;    /* we created the parent's clsact qdisc and must remove it */
	__u32 nchildren;
	__u32 nflood;           /* entries 0..nflood-1 of mvb_flood are this port's UP children */
	__u32 nflood_mode[4];   /* of those, how many in each mode (private, vepa, bridge, passthru): what a
				 * flood that skips the walk (mvb_groups) counts as withheld, as the walk would */
	__u32 nflood_all;       /* of those, how many get every group (no MVB_FLOOD_MC_EXACT): while any
				 * does, a group frame walks the whole list */
	__u32 slot;             /* its counters: the index in mvb_parent_ctrs */
};

/* The flood list: a dense array per parent of its UP children, so a multicast frame is copied by
 * walking indexes 0..nflood-1 instead of the whole table. */
struct mvb_flood_key {
	__u32 parent_ifindex;
	__u32 idx;
};

struct mvb_flood_val {
	__u32 host_ifindex;
	__u8 mode;
	__u8 flags;  /* MVB_FLOOD_MC_EXACT, MVB_FLOOD_PEER */
	__u8 pad[2];
	__u32 slot;  /* the child's counters (mvb_child.slot) */
};

/* mvb_flood_val.flags: the child gets a multicast group (not broadcast) only if mvb_mc holds (child,
 * group): its joined groups are known (an agent watches them) and it is neither ALLMULTI nor PROMISC.
 * Without it the child gets every group (deliberate difference 3). */
#define MVB_FLOOD_MC_EXACT (1 << 0)
/* mvb_flood_val.flags: the child's copies enter its host end's ingress (bpf_clone_redirect with
 * BPF_F_INGRESS, marked MVB_COPY_MARK), where the child program hands them to the child end with
 * bpf_redirect_peer: a veth child in a netns of its own. Measured through BPF_PROG_TEST_RUN, this costs
 * a third less per copy than the host end's transmit (__dev_queue_xmit and veth_xmit, whose cache misses
 * grow with the children: 726 against 390 ns a copy at 1,024 children, 450 against 286 at 8). Without
 * it (a tap, a netkit child, a veth child in the host end's netns, an entry written by an older build)
 * the copy goes out through the host end's transmit. */
#define MVB_FLOOD_PEER (1 << 1)
/* skb->mark of such a copy on its way to the host end's ingress (a continuation's is MVB_CONT_MAGIC
 * with a slot and sequence: never this). The child program clears it before the peer redirect; a
 * frame a child sends with it (only a child in the host end's netns keeps its mark across the veth)
 * is handed back to that same child, never forwarded. */
#define MVB_COPY_MARK 0x4e000000

/* Key of mvb_mc: a group a child joined. */
struct mvb_mc_key {
	__u32 host_ifindex;
	__u8 mac[6];
	__u16 pad;
};

/* mvb_groups, by (parent, group) in an mvb_mac_key: the children of the parent whose exact filter holds
 * the group (mvb_mc), UP or DOWN, so a group frame is copied to its members instead of walking the
 * whole flood list with a lookup per entry (the walk made a new child's IPv6 reports, solicitations
 * and DAD cost O(N) each, O(N^2) for N new children: issue 18). Up to MVB_GROUP_LIST_MAX members are
 * listed; n above it says "many: walk the list". No entry: nobody joined it. */
#define MVB_GROUP_LIST_MAX 8 /* a power of two: the datapath masks its index with it */

struct mvb_group_val {
	__u32 n;
	__u32 host[MVB_GROUP_LIST_MAX];
};

/* Source mode (the kernel's port->vlan_source_hash): by (parent, remote source MAC), the host ends of
 * the source-mode children that list it, UP or DOWN (a DOWN child's nodst still applies). Keyed like
 * mvb_macs. The kernel chains any number; we keep MVB_SOURCE_MAX children per address, which keeps the
 * per-frame walk a short bounded loop (the control plane refuses the next one clearly). */
#define MVB_SOURCE_MAX 16 /* a power of two: the datapath masks its index with it */

struct mvb_source_val {
	__u32 n;                     /* host[0..n-1] are live */
	__u32 host[MVB_SOURCE_MAX];
};

/* What the decision asks the entry program to do with a frame. */
enum mvb_action {
	MVB_ACT_STACK = 1,   /* the parent's own stack (TC_ACT_UNSPEC on the parent: the next program, then the stack) */
	MVB_ACT_DELIVER = 2, /* into one child (target = its host end) */
	MVB_ACT_WIRE = 3,    /* out of the parent (target = parent) */
	MVB_ACT_DROP = 4,    /* dropped, counted under reason */
	MVB_ACT_FLOOD = 5,   /* copies to the port's UP children in mode mask (not exclude), then flags say
			      * where the frame itself goes: the parent's stack or the wire */
};

/* mvb_verdict.flags for MVB_ACT_DELIVER, besides MVB_CHILD_SAME_NETNS */
#define MVB_DELIVER_TC_ONLY (1 << 6) /* the target takes no XDP redirect (a netkit child) */
#define MVB_DELIVER_PASSTHRU (1 << 7) /* a passthru port's delivery: its frames to other MACs need PACKET_HOST forced, which only
				     * an skb has, so XDP passes them all to TC */

/* mvb_verdict.flags for MVB_ACT_FLOOD */
#define MVB_FLOOD_THEN_STACK (1 << 4)
#define MVB_FLOOD_THEN_WIRE  (1 << 5)

/* Drop reasons: indexes into mvb_parent_stats.drops. Names in abi.ts. */
enum mvb_drop_reason {
	MVB_DROP_NONE = 0,
	MVB_DROP_CHILD_DOWN = 1,     /* passthru child DOWN: the kernel drops all unicast */
	MVB_DROP_PRIVATE_SRC = 2,    /* strict isolation: a sibling's frame to a private child */
	MVB_DROP_MODE_FILTER = 3,    /* a flood copy excluded by the sender's mode (issue 3) */
	MVB_DROP_REDIRECT_FAIL = 4,  /* the redirect helper refused */
	MVB_DROP_MALFORMED = 5,      /* shorter than an Ethernet header */
	MVB_DROP_PAUSE = 6,          /* 802.3x PAUSE is never flooded */
	MVB_DROP_UNKNOWN_CHILD = 7,  /* a frame on a host end that is not in the registry */
	MVB_DROP_NO_DEST = 8,        /* a frame with nowhere to go */
	MVB_DROP_SPOOF = 9,          /* spoofchk: a child sent with a source MAC not its own */
	MVB_DROP_COPY_REFUSED = 10,  /* a flood copy the child's veth refused: the per-CPU backlog
				      * was full, or the copy is longer than the child's MTU */
	MVB_DROP_NODST = 11,         /* the frame came from a source a nodst source child lists: only the
				      * source children got it (copies), as in the kernel */
	MVB_DROP_MC_UNJOINED = 12,   /* a flood copy of a group the child has not joined (exact filter) */
	MVB_DROP__MAX = 16,
};

/* Per child counters (per-CPU), in mvb_child_ctrs at the child's slot. A slot is an array index the
 * control plane gives a child when it makes it (the lowest free one, zeroed then), written into the
 * child's registry, MAC and flood entries: the frame's decision already holds the entry, so counting is an
 * array index, not a hash of the ifindex in a second map (two hash lookups fewer on a child's path,
 * docs/benchmarks.md). Slot 0 is given to no child: an entry that has none counts there, unread.
 * A parent's counters are the same in mvb_parent_ctrs, at its port's slot, which each of its children's
 * records repeats (a child's frame to the wire counts with no port lookup). */
struct mvb_child_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 flood_copies;
};

/* Per parent counters (per-CPU), in mvb_parent_ctrs at the port's slot. */
struct mvb_parent_stats {
	__u64 stack_packets; /* frames passed to the parent's own stack */
	__u64 stack_bytes;
	__u64 wire_packets;  /* frames sent out of the parent by children */
	__u64 wire_bytes;
	__u64 drops[MVB_DROP__MAX];
};

/* Flooding at scale (issue 18; the code is flood.h). Every copy goes onto this CPU's backlog (into the
 * child's host end, MVB_FLOOD_PEER, or through its veth), which holds net.core.netdev_max_backlog
 * (1,000) frames and refuses more until it is drained.
 * So a CPU keeps at most `budget` flood copies queued there at once:
 * - a flood that fits, while no other waits, is copied at once (the common case: one lookup more);
 * - a larger one, or any while another waits, is deferred: one clone of the frame, tagged in
 *   skb->mark, goes into the ingress of a child's host end (a veth or tap: our child program runs
 *   there), behind the copies queued so far. When the backlog reaches it they have left; the program
 *   there makes the next `chunk` list entries' copies and queues the clone again behind them, until the
 *   flood is done. Deferred floods advance in the order they came, by the same entries per round, so
 *   each child still gets every flood's copy in order;
 * - while deferred floods already hold the budget, a new flood is shed: its copies are counted as
 *   copy-refused and not made (the kernel drops the frames past its broadcast queue instead).
 * The state lives per CPU: a continuation is queued on, and comes back to, this CPU's backlog. */
#define MVB_FLOOD_BUDGET_DEFAULT 512
#define MVB_FLOOD_CHUNK_DEFAULT  8   /* MVB_FLOOD_BUDGET_DEFAULT / MVB_CONT_PER_CPU: every deferred flood's round fits */
#define MVB_FLOOD_STALE_NS  20000000ULL /* a continuation not seen for 20 ms was lost (its carrier deleted
					  * with it queued): the CPU's accounting starts again */
#define MVB_CONT_MAGIC      0x4d000000 /* skb->mark of a continuation: 0x4d, slot (12 bits), sequence (12) */
#define MVB_CONT_MAGIC_MASK 0xff000000
#define MVB_CONT_PER_CPU    64  /* slots per CPU (a power of two): deferred floods one CPU holds at most */
#define MVB_CONT_CPUS       64  /* CPUs with slots of their own (a power of two; slots fit the tag's 12 bits); more share them */
#define MVB_CONT_SLOTS      (MVB_CONT_PER_CPU * MVB_CONT_CPUS)

/* mvb_flood_cfg[0], written by the control plane; 0 means the default. */
struct mvb_flood_cfg {
	__u32 budget; /* flood copies one CPU keeps on its backlog at once */
	__u32 chunk;  /* list entries a deferred flood walks per round */
};

/* mvb_flood_cpu[0], per CPU. */
struct mvb_flood_cpu {
	__u32 seq;       /* continuation tags */
	__u32 waiting;   /* deferred floods not done */
	__u32 wait_cost; /* the copies those make per round, at most */
	__u32 pad;
	__u64 queued;    /* copies and continuations this CPU put on its backlog */
	__u64 drained;   /* of those, how many are known to have left it */
	__u64 last_ns;   /* when a flood or continuation last ran */
	__u64 progress_ns; /* when a deferred flood last advanced */
};

/* mvb_flood_cont, by slot: a deferred flood while its continuation waits in the backlog. */
struct mvb_flood_cont {
	__u32 tag;     /* the continuation's skb->mark; 0: free */
	__u32 parent;
	__u32 mask;
	__u32 exclude;
	__u32 group;   /* bit 0: the exact group filter applies (the group is the frame's destination);
			* bit 1: a child's own flood (its copies take the host ends' transmit) */
	__u32 n;       /* list entries the flood walks */
	__u32 next;    /* entries done */
	__u32 cost;    /* what it counts in wait_cost */
	__u64 carried; /* mvb_flood_cpu.queued when it was queued: all that is before it */
};

/* The verdict is also written to skb->cb[0..3] so BPF_PROG_TEST_RUN can read what was decided: the
 * redirect target itself is invisible to a test run. */
#define MVB_CB_ACTION 0
#define MVB_CB_TARGET 1
#define MVB_CB_REASON 2
#define MVB_CB_FLAGS  3
#define MVB_CB_COPIES 4 /* copies made: flood and source-mode */

#endif
