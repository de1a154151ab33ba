#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# A real `vagrant up` of the Vagrantfile's two nodes on a machine with no libvirt service, no KVM and no
# way to download boxes (this project's CI machines): the box from scripts/vagrant-box.sh, libvirtd and
# virtlogd started by hand inside a network namespace of this run (so the management network, its
# dnsmasq and NAT rules, and the nodes' link exist only there), QEMU in software emulation.
#   usage: scripts/vagrant-offline.sh [--keep]     (as root; log: .cache/vagrant/<run>/up.log)
# Everything it makes carries the run's prefix and is removed at the end, also on failure or Ctrl-C:
# the domains and their volumes, the box, the storage pool, the networks, the daemons (by pid), the netns.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[[ $(id -u) -eq 0 ]] || { echo "vagrant-offline: must run as root (libvirtd, network namespace)" >&2; exit 1; }
for t in vagrant libvirtd virtlogd virsh; do
  command -v "$t" >/dev/null || { echo "vagrant-offline: $t is missing: apt-get install vagrant vagrant-libvirt libvirt-daemon-system" >&2; exit 1; }
done
keep=0; [[ ${1:-} == --keep ]] && keep=1
RUN=mvbv$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
BOXFILE=$ROOT/.cache/vagrant/macvlan-bpf-bookworm.box
[[ -f $BOXFILE ]] || bash scripts/vagrant-box.sh "$BOXFILE"
DIR=$ROOT/.cache/vagrant/$RUN
mkdir -p "$DIR/pool" "$DIR/logs"
chmod 755 "$DIR" "$DIR/pool" "$DIR/logs"
LOG=$DIR/up.log
export VAGRANT_HOME=$ROOT/.cache/vagrant/home VAGRANT_DEFAULT_PROVIDER=libvirt LIBVIRT_DEFAULT_URI=qemu:///system
export VAGRANT_DOTFILE_PATH=$DIR/dotvagrant VAGRANT_CHECKPOINT_DISABLE=1
export MVB_BOX=macvlan-bpf/bookworm-$RUN MVB_LIBVIRT_POOL=$RUN MVB_LIBVIRT_PREFIX=${RUN}_ MVB_LIBVIRT_MGMT_NET=$RUN-mgmt
export MVB_VAGRANT_LOGS=$DIR/logs MVB_VAGRANT_DRIVER=${MVB_VAGRANT_DRIVER:-qemu}
IN=(nsenter "--net=/run/netns/$RUN")
pids=()

cleanup() {
  set +e
  echo "vagrant-offline: cleaning up $RUN"
  if [[ $keep == 0 ]]; then
    "${IN[@]}" vagrant destroy -f >>"$LOG" 2>&1
    vagrant box remove -f "$MVB_BOX" >>"$LOG" 2>&1
    for v in $("${IN[@]}" virsh vol-list "$RUN" 2>/dev/null | awk 'NR>2 && $1 {print $1}'); do "${IN[@]}" virsh vol-delete "$v" --pool "$RUN" >/dev/null 2>&1; done
    "${IN[@]}" virsh pool-destroy "$RUN" >/dev/null 2>&1; "${IN[@]}" virsh pool-undefine "$RUN" >/dev/null 2>&1
    "${IN[@]}" virsh net-destroy "$RUN-mgmt" >/dev/null 2>&1; "${IN[@]}" virsh net-undefine "$RUN-mgmt" >/dev/null 2>&1
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    sleep 1
    ip netns del "$RUN" 2>/dev/null
    rm -rf "$DIR/pool" "$DIR/dotvagrant"
    rm -f /var/log/libvirt/qemu/"${RUN}"_*.log
  else
    echo "vagrant-offline: --keep: netns $RUN, libvirtd (pids ${pids[*]}), VAGRANT_HOME=$VAGRANT_HOME VAGRANT_DOTFILE_PATH=$VAGRANT_DOTFILE_PATH"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$RUN"
ip -n "$RUN" link set lo up
# The daemons in the run's netns; libvirt's own state dirs are the package's.
"${IN[@]}" virtlogd -d -p "$DIR/virtlogd.pid"
"${IN[@]}" libvirtd -d -p "$DIR/libvirtd.pid"
for f in virtlogd libvirtd; do for _ in $(seq 50); do [[ -s $DIR/$f.pid ]] && break; sleep 0.1; done; pids+=("$(cat "$DIR/$f.pid")"); done
for _ in $(seq 50); do "${IN[@]}" virsh version >/dev/null 2>&1 && break; sleep 0.2; done
"${IN[@]}" virsh pool-define-as "$RUN" dir --target "$DIR/pool" >/dev/null
"${IN[@]}" virsh pool-start "$RUN" >/dev/null

start=$(date +%s)
set +e
{
  echo "# vagrant-offline $RUN: $(date -u +%FT%TZ), host kernel $(uname -r), $(vagrant --version), vagrant-libvirt $(vagrant plugin list | sed -n 's/vagrant-libvirt (\([^,]*\).*/\1/p'), libvirt $(libvirtd --version | awk '{print $NF}'), driver $MVB_VAGRANT_DRIVER"
  echo "\$ vagrant box add --name $MVB_BOX $(basename "$BOXFILE")"
  vagrant box add -f --name "$MVB_BOX" "$BOXFILE"
  echo "\$ vagrant validate"
  vagrant validate
  echo "\$ vagrant up --no-parallel"
  "${IN[@]}" vagrant up --no-parallel
  echo $? > "$DIR/up.rc"
  echo "\$ vagrant status"
  "${IN[@]}" vagrant status
} 2>&1 | tee "$LOG"
set -e
rc=$(cat "$DIR/up.rc" 2>/dev/null || echo 1)
echo "vagrant-offline: vagrant up exited $rc after $(( $(date +%s) - start )) s; log $LOG" | tee -a "$LOG"
exit "$rc"
