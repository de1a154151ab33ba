#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The kernel-matrix guest's second stage, PID 1 on this host's root (read-only 9p, tmpfs overlay):
# the mounts a test run needs, the guest kernel's own modules where modprobe looks, then the command
# from the kernel command line (mvb.cmd=, base64) in the project directory. Its output goes to the
# console and to the writable share "out" (log, rc), and the guest powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=0755 run /run
# /tmp stays the overlay's (writable already): a tmpfs there would hide a project checked out under /tmp.
mkdir -p /dev/pts /dev/shm /sys/fs/bpf /mvb-out
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L out /mvb-out
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p"; }
kdir=$(arg mvb.kdir)
project=$(arg mvb.project)
kver=$(uname -r)
mkdir -p /lib/modules
ln -sfn "$kdir/root/lib/modules/$kver" "/lib/modules/$kver"
# What the kernel loads on demand anyway, and tun, whose /dev/net/tun exists only once it is loaded.
# virtio_net: no udev here to load it for the two NICs. vhost_net: /dev/vhost-net, which tap exec hands on.
modprobe -a tun veth macvlan macvtap bridge sch_ingress cls_bpf 8021q bonding virtio_net vhost_net 2>/dev/null
hostname mvb-guest
ip link set lo up
cmd=$(arg mvb.cmd | base64 -d)
echo "guest: kernel $kver, running: $cmd" | tee /mvb-out/log > /dev/console
cd "$project" && bash -c "$cmd" 2>&1 | tee -a /mvb-out/log > /dev/console
echo "${PIPESTATUS[0]}" > /mvb-out/rc
sync
echo o > /proc/sysrq-trigger
sleep 10
