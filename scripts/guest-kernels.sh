#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Guest kernels for the kernel matrix: Debian 12's stock kernel (6.1: no tcx, no netkit) and
# bookworm-backports' (6.12: tcx, netkit), downloaded from the Debian registry, unpacked under
# .cache/guests/<release>/ with their modules (depmod'ed), and a tiny initramfs that mounts this
# host's root over 9p (read-only, with a tmpfs overlay) and hands over to scripts/guest-init.sh.
# Idempotent: a kernel already unpacked (by the same scripts) is kept. Prints: NAME KERNEL DIR per guest.
set -euo pipefail
trap 'echo "guest-kernels: failed (line $LINENO): see above; the kernel matrix needs Debian'"'"'s kernel packages" >&2' ERR
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache/guests
mkdir -p "$CACHE/debs"

# The backports suite, on the machine's own Debian mirror and key, in a private sources list and state.
BPO_DIR=$CACHE/apt
mkdir -p "$BPO_DIR/lists/partial"
src=/etc/apt/sources.list.d/debian.sources
uri=$(awk '/^URIs:/{print $2; exit}' "$src" 2>/dev/null || true)
key=$(awk '/^Signed-By:/{print $2; exit}' "$src" 2>/dev/null || true)
uri=${uri:-http://deb.debian.org/debian}
key=${key:-/usr/share/keyrings/debian-archive-keyring.gpg}
printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' "$uri" "$key" > "$BPO_DIR/backports.sources"
BPO=(-o "Dir::Etc::sourcelist=$BPO_DIR/backports.sources" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$BPO_DIR/lists")

# The image package linux-image-amd64 points at, in the machine's suite and in backports.
# (apt-cache fails until the suite's lists are fetched: that is an empty answer, not an error.)
image_of() { { apt-cache "$@" depends linux-image-amd64 2>/dev/null || true; } | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
stock=$(image_of)
if [[ -z $stock ]]; then apt-get update -qq; stock=$(image_of); fi
bpo=$(image_of "${BPO[@]}")
if [[ -z $bpo ]]; then apt-get "${BPO[@]}" update -qq; bpo=$(image_of "${BPO[@]}"); fi
[[ -n $stock && -n $bpo ]] || { echo "guest-kernels: cannot find Debian's kernel packages (apt-get update?)" >&2; exit 1; }

# What the initramfs needs before the root is there: virtio PCI, 9p over virtio, overlayfs.
WANT=(virtio_pci 9pnet_virtio 9p overlay)

unpack() { # unpack NAME PACKAGE [apt options of its suite...]
  local name=$1 pkg=$2 dir=$CACHE/$1
  shift 2
  local kver=${pkg#linux-image-}
  # The package and the first stage it was built with: either changing makes it again.
  local stamp; stamp="$pkg $(sha256sum "$ROOT/scripts/guest-initramfs-init" "$0" | sha256sum | cut -c1-12)"
  if [[ -f $dir/ready && $(cat "$dir/ready") == "$stamp" ]]; then echo "$name $kver $dir"; return; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  # apt downloads as _apt where it can: the folder must be theirs to write (it is ours, made here).
  (cd "$CACHE/debs" && { ls "${pkg}"_*.deb >/dev/null 2>&1 || apt-get -q "$@" download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true; })
  ls "$CACHE/debs/${pkg}"_*.deb >/dev/null
  dpkg-deb -x "$CACHE/debs/${pkg}"_*.deb "$dir/root"
  depmod -b "$dir/root" "$kver"
  cp "$dir/root/boot/vmlinuz-$kver" "$dir/vmlinuz"
  # initramfs: busybox, the modules in dependency order (decompressed), /init.
  local ird=$dir/initramfs
  mkdir -p "$ird/bin" "$ird/mods" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/host" "$ird/rw" "$ird/newroot"
  cp /bin/busybox "$ird/bin/busybox"
  : > "$ird/mods/order"
  local m f
  for m in "${WANT[@]}"; do
    # modprobe --show-depends lists insmod lines in load order, dependencies first (builtins: none).
    while read -r _ f _; do
      local base; base=$(basename "$f"); base=${base%.xz}
      grep -qx "$base" "$ird/mods/order" && continue
      if [[ $f == *.xz ]]; then xz -dc "$f" > "$ird/mods/$base"; else cp "$f" "$ird/mods/$base"; fi
      echo "$base" >> "$ird/mods/order"
    done < <(modprobe -d "$dir/root" -S "$kver" --show-depends "$m" 2>/dev/null | grep '^insmod')
  done
  cp "$ROOT/scripts/guest-initramfs-init" "$ird/init"
  chmod 0755 "$ird/init"
  (cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$dir/initrd.gz"
  rm -rf "$ird"
  echo "$stamp" > "$dir/ready"
  echo "$name $kver $dir"
}

unpack stock "$stock"
unpack backports "$bpo" "${BPO[@]}"
