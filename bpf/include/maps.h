/* SPDX-License-Identifier: GPL-2.0-only */
/* The datapath's state. Every map but the MAC table's per-CPU cache is pinned by name under the
 * instance's pin root (/sys/fs/bpf/macvlan-bpf by default), so each entry object shares them and they
 * outlive any process. */
#ifndef MVB_MAPS_H
#define MVB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "mvb_abi.h"

/* Sized for many parents with many children; the kernel's table is unlimited (chained). */
#define MVB_MAX_CHILDREN 65536
#define MVB_MAX_PARENTS 1024
#define MVB_CHILD_SLOTS (MVB_MAX_CHILDREN + 1) /* counter slots: one per child, and 0 (see mvb_abi.h) */
#define MVB_PARENT_SLOTS (MVB_MAX_PARENTS + 1) /* one per port, and 0 */

/* UP children by (parent, MAC): the kernel's vlan_hash. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mvb_mac_key);
	__type(value, struct mvb_mac_val);
	__uint(max_entries, MVB_MAX_CHILDREN);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_macs SEC(".maps");

/* The generation of the MAC table and the registry, written by the control plane after every change to
 * mvb_macs or mvb_children (a new random value each time), and each CPU's cache of the table's entries
 * (see mvb_abi.h; the registry's is below). The cache is not pinned:
 * each entry object has its own, which a new build starts empty; the generation is shared. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_macs_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mvb_mac_cached);
	__uint(max_entries, MVB_MAC_CACHE_SLOTS);
} mvb_mac_cache SEC(".maps");

/* All children by host-end ifindex: the kernel's port->vlans. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct mvb_child);
	__uint(max_entries, MVB_MAX_CHILDREN);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_children SEC(".maps");

/* Each CPU's cache of the registry, for a child's transmit (mvb_abi.h); not pinned, as the MAC cache. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mvb_child_cached);
	__uint(max_entries, MVB_CHILD_CACHE_SLOTS);
} mvb_child_cache SEC(".maps");

/* Parents by ifindex: the kernel's macvlan_port. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct mvb_port);
	__uint(max_entries, MVB_MAX_PARENTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_ports SEC(".maps");

/* Per-parent dense lists of UP children for flooding (see mvb_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mvb_flood_key);
	__type(value, struct mvb_flood_val);
	__uint(max_entries, MVB_MAX_CHILDREN);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_flood SEC(".maps");

/* Source-mode lists by (parent, remote source MAC): the kernel's vlan_source_hash (see mvb_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mvb_mac_key);
	__type(value, struct mvb_source_val);
	__uint(max_entries, MVB_MAX_CHILDREN);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_sources SEC(".maps");

/* How many mvb_sources entries there are, on every parent: while none, a frame needs no source lookup
 * (a miss in mvb_sources cost every unicast frame a hash of its source; an array slot is read inline).
 * The control plane counts an entry before adding it and after deleting it, so the count may be high
 * for a moment, never low. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_nsources SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mvb_child_stats);
	__uint(max_entries, MVB_CHILD_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_child_ctrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mvb_parent_stats);
	__uint(max_entries, MVB_PARENT_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_parent_ctrs SEC(".maps");

/* The groups each child joined (exact multicast filter, see mvb_abi.h), kept by the agent from the child
 * end's multicast list. Allocated as used: a few groups per child. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mvb_mc_key);
	__type(value, __u8);
	__uint(max_entries, MVB_MAX_CHILDREN * 8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_mc SEC(".maps");

/* Members of each joined group by (parent, group), for floods that need not walk (see mvb_abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mvb_mac_key);
	__type(value, struct mvb_group_val);
	__uint(max_entries, MVB_MAX_CHILDREN * 8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_groups SEC(".maps");

/* Children that sent an IGMP or MLD message (a join or a leave announces itself so) since the agent last
 * looked: it re-reads their groups at once instead of at its next sweep. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u8);
	__uint(max_entries, MVB_MAX_CHILDREN);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_mc_dirty SEC(".maps");

/* Control plane only, read by no program: settings of kernel macvlan's broadcast queue, which we do not
 * have (flooding is synchronous: deliberate difference 2), kept so they are reported as they were set,
 * like `ip -d link show` does. A child's requested bcqueuelen by host ifindex (absent: the kernel's
 * default, 1000); a port's bc_cutoff by parent ifindex (absent: 1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, MVB_MAX_CHILDREN);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_bcqueuelen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __s32);
	__uint(max_entries, MVB_MAX_PARENTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_bc_cutoff SEC(".maps");

/* Flooding at scale (see mvb_abi.h): settings, each CPU's accounting, and the deferred floods' state. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mvb_flood_cfg);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_flood_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct mvb_flood_cpu);
	__uint(max_entries, 1);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_flood_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mvb_flood_cont);
	__uint(max_entries, MVB_CONT_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mvb_flood_cont SEC(".maps");

#endif
