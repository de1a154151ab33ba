#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# One-shot set-up for a fresh Debian 12 machine: Debian packages, npm install, build.
# Idempotent and quick when nothing changed, so `npm test` and `npm run lab` can always call it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the build, the datapath and the tests use.
#   clang/llvm: compile bpf/*.bpf.c; libbpf-dev/libelf-dev/zlib1g-dev: the addon links the system libbpf;
#   iproute2: ip/tc/bridge; ethtool: offload checks; iputils-ping: e2e traffic; procps: sysctl;
#   make/g++/python3: node-gyp; chromium + fonts: the dashboard's browser test (driven by playwright-core).
#   iperf3: TCP throughput in the benchmarks. containernetworking-plugins: the reference CNI plugins
#   (macvlan, host-local, static IPAM) the CNI plugin is tested against and delegates IPAM to.
#   qemu-system-x86, busybox-static, cpio, kmod, xz-utils: the kernel matrix's guests (scripts/guest-kernels.sh);
#   vagrant, vagrant-libvirt: `vagrant validate` of the Vagrantfile (test/vm/vagrant.test.ts).
# MVB_KERNEL_MATRIX=0 (inside the Vagrant VMs: no guests nested in a guest) leaves the matrix out.
PKGS=(clang llvm libbpf-dev libelf-dev zlib1g-dev iproute2 ethtool iputils-ping procps make g++ python3 pkg-config systemd
      chromium fonts-liberation fonts-dejavu-core iperf3 containernetworking-plugins)
MATRIX=${MVB_KERNEL_MATRIX:-1}
[[ $MATRIX == 0 ]] || PKGS+=(qemu-system-x86 busybox-static cpio kmod xz-utils vagrant vagrant-libvirt)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
    echo "bootstrap: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# npm dependencies (npm 11 skips dependencies' install scripts; we build the addon ourselves below).
# (The lock file, not package.json, says when the dependencies changed: a new npm script must not send an
# offline machine, such as the Vagrant VMs, to the registry.)
if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "bootstrap: npm install"
  npm install --no-audit --no-fund --loglevel=error
fi

newer() { # newer OUT SRC...: true when OUT is missing or any SRC is newer
  local out=$1; shift
  [[ -e $out ]] || return 0
  [[ -n $(find "$@" -newer "$out" -type f 2>/dev/null | head -1) ]]
}
if newer bpf/.built bpf; then
  echo "bootstrap: building BPF objects"
  make -s -C bpf && touch bpf/.built
fi
if newer bin/macvlan-bpf-cni native/cni; then
  echo "bootstrap: building the CNI plugin's client"
  cc -O2 -Wall -Wextra -o bin/macvlan-bpf-cni native/cni/cni-client.c
fi
if newer native/build/Release/macvlan_bpf.node native/src native/binding.gyp; then
  echo "bootstrap: building the native addon"
  # Node's headers where this node came from: /usr for Debian's package, the prefix of a tarball install.
  nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  [[ -f $nodedir/include/node/node_api.h ]] || { echo "bootstrap: Node.js headers not found under $nodedir/include/node (Debian: apt-get install libnode-dev)" >&2; exit 1; }
  (cd native && ../node_modules/.bin/node-gyp rebuild --nodedir="$nodedir" --loglevel=error >/dev/null)
fi
if newer dist/.built src tsconfig.json; then
  echo "bootstrap: compiling TypeScript"
  node_modules/.bin/tsc -p tsconfig.json && touch dist/.built
fi

# The kernel matrix's guest kernels (Debian 12's stock and bookworm-backports'), unpacked under .cache/.
if [[ $(id -u) -eq 0 && $MATRIX != 0 ]]; then
  bash scripts/guest-kernels.sh >/dev/null
fi

# The project keeps its state on bpffs; a fresh machine may not have it mounted.
if [[ $(id -u) -eq 0 ]] && ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi
