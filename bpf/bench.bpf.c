// SPDX-License-Identifier: GPL-2.0-only
/* Benchmark helpers, not part of the datapath: a live-frame generator, counting receivers, the XDP_DROP
 * limit and the empty programs that are the BPF_PROG_TEST_RUN harness floor. Each receiver loads its
 * own copy of this object, so its count is its own. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "include/mvb_abi.h"

struct mvb_bench_count {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mvb_bench_count);
} mvb_bench_count SEC(".maps");

static __always_inline void count(__u64 bytes)
{
	__u32 k = 0;
	struct mvb_bench_count *c = bpf_map_lookup_elem(&mvb_bench_count, &k);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* The generator: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES runs it on a frame template and
 * XDP_TX sends each run's frame out of the interface given as ingress_ifindex. */
SEC("xdp")
int mvb_bench_xdp_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

/* The limit: count at the parent's driver and drop, before any skb exists. */
SEC("xdp")
int mvb_bench_xdp_count_drop(struct xdp_md *ctx)
{
	count(ctx->data_end - ctx->data);
	return XDP_DROP;
}

/* A receiver: counts what reached its interface's TC ingress and ends it there, so every datapath's
 * delivery is measured up to the same point. */
SEC("tc")
int mvb_bench_tc_count(struct __sk_buff *skb)
{
	count(skb->len);
	return TC_ACT_SHOT;
}

/* Hook limits: programs that do nothing but redirect every frame into one child (the target set by
 * the benchmark in mvb_bench_target), measured on the same topology as the datapaths, so each
 * macvlan-bpf mode is read against what its own hook allows. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} mvb_bench_target SEC(".maps");

static __always_inline __u32 target(void)
{
	__u32 k = 0;
	__u32 *t = bpf_map_lookup_elem(&mvb_bench_target, &k);

	return t ? *t : 0;
}

SEC("xdp")
int mvb_bench_xdp_redirect(struct xdp_md *ctx)
{
	return bpf_redirect(target(), 0);
}

/* Into the target's peer (a veth's host end → its child end in the child's netns): the limit on the
 * paths into a child, from the wire and from a sibling child. */
SEC("tc")
int mvb_bench_tc_redirect_peer(struct __sk_buff *skb)
{
	return bpf_redirect_peer(target(), 0);
}

/* Out through the target's transmit (the parent, from a child's host end): the limit on child →
 * external. */
SEC("tc")
int mvb_bench_tc_redirect(struct __sk_buff *skb)
{
	return bpf_redirect(target(), 0);
}

/* The same limits with the one lookup no datapath that keeps a MAC table can skip: the frame's
 * destination looked up in a hash map of the MAC table's shape (key, value and size as mvb_macs),
 * holding the one child, and the frame redirected to the host end it names. What lies between this
 * and the bare redirect is the table's hash lookup; what lies between this and macvlan-bpf is the rest
 * of the decision and its counters. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mvb_mac_key);
	__type(value, struct mvb_mac_val);
	__uint(max_entries, 65536);
} mvb_bench_macs SEC(".maps");

/* The host end the frame's destination names, or 0 (no entry, or no whole Ethernet header). */
static __always_inline __u32 lookup(__u32 parent, void *data, void *data_end)
{
	struct mvb_mac_key key = { .parent_ifindex = parent };
	struct mvb_mac_val *v;

	if (data + 14 > data_end)
		return 0;
	__builtin_memcpy(key.mac, data, 6);
	v = bpf_map_lookup_elem(&mvb_bench_macs, &key);
	return v ? v->host_ifindex : 0;
}

SEC("xdp")
int mvb_bench_xdp_lookup_redirect(struct xdp_md *ctx)
{
	__u32 host = lookup(ctx->ingress_ifindex, (void *)(long)ctx->data, (void *)(long)ctx->data_end);

	return host ? bpf_redirect(host, 0) : XDP_PASS;
}

/* A destination in the table goes into that child (its host end's peer), any other out through the
 * target's transmit (the parent): the datapath's own split, on every path a TC hook decides. */
SEC("tc")
int mvb_bench_tc_lookup_redirect(struct __sk_buff *skb)
{
	__u32 host = lookup(skb->ifindex, (void *)(long)skb->data, (void *)(long)skb->data_end);

	return host ? bpf_redirect_peer(host, 0) : bpf_redirect(target(), 0);
}

/* Harness floors for per-packet cost. */
SEC("xdp")
int mvb_bench_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int mvb_bench_tc_ok(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
