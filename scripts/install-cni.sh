#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The DaemonSet's install step (contrib/kubernetes/macvlan-bpf.yaml): copies the project and its Node.js
# runtime to DEST on the node, then links the CNI plugin into CNI_BIN, atomically (a rename), so a runtime
# never runs a half-installed plugin.
set -eu
DEST=${1:?usage: install-cni.sh DEST CNI_BIN}
CNI_BIN=${2:?usage: install-cni.sh DEST CNI_BIN}
SRC=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DEST" "$CNI_BIN"
cp -a "$SRC/." "$DEST/"
[ -x "$DEST/node" ] || { echo "install-cni: no Node.js runtime at $DEST/node (the image puts one there)" >&2; exit 1; }
# The plugin is the small client (bin/macvlan-bpf-cni, which hands calls to the agent, or runs the plugin
# with DEST/node without one); /opt/macvlan-bpf is DEST as the node sees it (the DaemonSet's host path).
ln -sfn /opt/macvlan-bpf/bin/macvlan-bpf-cni "$CNI_BIN/.macvlan-bpf-cni.new"
mv -Tf "$CNI_BIN/.macvlan-bpf-cni.new" "$CNI_BIN/macvlan-bpf-cni"
echo "install-cni: macvlan-bpf-cni installed in $CNI_BIN"
