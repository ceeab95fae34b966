#!/usr/bin/env bash
# Builds a flashable SD-card image for the box (Raspberry Pi 4, arm64) from Debian's own
# bookworm arm64 packages — mmdebstrap, linux-image-arm64, raspi-firmware — plus the callbox
# arm64 package:
#
#   bash firmware/build-image.sh [--deb target/debian/callbox_…_arm64.deb] [--model ARCHIVE]
#                                [--out DIR] [--size-data MiB]
#
# Output in --out (default target/image/): callbox-pi-arm64.img (MBR: 1 FAT firmware/boot,
# 2 ext4 root, 3 ext4 data at /var/lib/callbox), and vmlinuz + initrd.img + rootfs.manifest for
# firmware/boot-test.sh. No loop devices or mounts: the file systems are made from
# directories (mke2fs -d, mkfs.vfat + mcopy) and copied into the image at their offsets.
#
# What the image does:
#   - callbox.service enabled (the package), SIP on 0.0.0.0:5060, the page on 0.0.0.0:8443;
#     site settings (the ATA's address: CALLBOX_SIP_ALLOWED_PEERS=…) in callbox.env on the
#     FAT partition, editable from any PC after flashing;
#   - the hardware watchdog fed by systemd (RuntimeWatchdogSec), callbox's own WatchdogSec;
#   - journald persistent and size-limited; systemd-timesyncd; systemd-networkd DHCP;
#     avahi (callbox-XXXX.local);
#   - /var/lib/callbox on its own ext4 partition: data=journal, commit=5, noatime, fsck'd at
#     boot; the root file system fsck'd at every boot (fsck.repair=yes), errors=remount-ro;
#   - first boot (callbox-firstboot.service): host name callbox-XXXX from the Ethernet MAC,
#     the data partition grown to the end of the card; then callbox makes its web certificate
#     and setup code on its first start and callbox-console.service prints the page's address,
#     the certificate fingerprint and the setup code on /dev/console and in /etc/issue.
#
# The small English Vosk model: --model ARCHIVE (vosk-model-small-en-us-0.15.zip, checked
# against the pinned sha256); without it the script tries to download it and, when that fails
# (no internet, as on the machine this was written on), says so and builds an image whose box
# answers keypad-only until `callbox model install --small-en-us` is run on it.
#
# Needs root, mmdebstrap, qemu-user-static + binfmt_misc (arm64 maintainer scripts run under
# emulation), e2fsprogs, dosfstools, mtools, fdisk. The base root file system is cached under
# $CALLBOX_CI_CACHE/image (default /var/cache/callbox-ci), keyed by its package list.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "build-image: $*" >&2; }
die() { echo "build-image: ERROR: $*" >&2; exit 1; }

deb=""
model=""
out=target/image
data_mib=1024
model_url=https://alphacephei.com/vosk/models/vosk-model-small-en-us-0.15.zip
model_sha256=$(sed -n '/SMALL_EN_US_SHA256/{n;s/.*"\([0-9a-f]\{64\}\)".*/\1/p}' src/speech/model.rs)
[ ${#model_sha256} -eq 64 ] || die "could not read the pinned model sha256 from src/speech/model.rs"
cache=${CALLBOX_CI_CACHE:-/var/cache/callbox-ci}/image

while [ $# -gt 0 ]; do
    case $1 in
        --deb) deb=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --size-data) data_mib=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap in root mode, chroot)"
for tool in mmdebstrap mke2fs tune2fs mkfs.vfat mcopy sfdisk; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install mmdebstrap e2fsprogs dosfstools mtools fdisk)"
done
if [ "$(uname -m)" != aarch64 ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    update-binfmts --enable qemu-aarch64 2>/dev/null || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] ||
        die "no binfmt_misc handler for arm64 (apt-get install qemu-user-static binfmt-support)"
fi
if [ -z "$deb" ]; then
    deb=$(ls -t "${CARGO_TARGET_DIR:-target}"/debian/callbox_*_arm64.deb 2>/dev/null | head -n1 || true)
    [ -n "$deb" ] || die "no arm64 package: run 'bash scripts/build-arm64.sh build package' or pass --deb"
fi
[ -f "$deb" ] || die "$deb not found"
[ "$(dpkg-deb --field "$deb" Architecture)" = arm64 ] || die "$deb is not an arm64 package"
say "package: $deb ($(dpkg-deb --field "$deb" Version))"

mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
t_start=$SECONDS

# ---- the model -----------------------------------------------------------------------------------
model_note=""
if [ -n "$model" ]; then
    [ -f "$model" ] || die "--model $model: no such file"
    echo "$model_sha256  $model" | sha256sum -c --status ||
        die "$model does not have the pinned sha256 $model_sha256 (vosk-model-small-en-us-0.15.zip)"
    say "model: $model (sha256 OK)"
else
    say "no --model: trying to download $model_url"
    if curl -fsSL --max-time 300 -o "$work/model.zip" "$model_url" 2>/dev/null &&
        echo "$model_sha256  $work/model.zip" | sha256sum -c --status; then
        model=$work/model.zip
        say "model: downloaded, sha256 OK"
    else
        model_note="NO ENGLISH MODEL in this image: $model_url could not be downloaded here (no internet?) and no --model ARCHIVE was given; the box answers keypad-only until 'callbox model install --small-en-us' is run on it."
        say "$model_note"
    fi
fi

# ---- 1. the base root file system (cached) -----------------------------------------------------
packages=(systemd systemd-sysv systemd-timesyncd udev dbus kmod iproute2
    linux-image-arm64 raspi-firmware initramfs-tools
    e2fsprogs dosfstools fdisk cloud-guest-utils
    avahi-daemon libnss-mdns openssl ca-certificates espeak-ng adduser less procps)
include=$(IFS=,; echo "${packages[*]}")
key=$(printf '%s\n' bookworm arm64 "${packages[@]}" | sha256sum | cut -c1-12)
base=$cache/base-bookworm-arm64-$key.tar
if [ ! -f "$base" ]; then
    say "mmdebstrap: Debian bookworm arm64 base (once; cached as $base)"
    t0=$SECONDS
    mmdebstrap --architectures=arm64 --variant=minbase --format=tar \
        --components="main non-free-firmware" \
        --include="$include" \
        --customize-hook='echo "callbox" > "$1/etc/hostname"' \
        bookworm "$base.tmp" http://deb.debian.org/debian ||
        die "mmdebstrap failed (Debian mirror unreachable? binfmt?)"
    mv "$base.tmp" "$base"
    say "base made in $((SECONDS - t0)) s"
fi

# ---- 2. the box's root file system -----------------------------------------------------------
root=$work/root
mkdir -p "$root"
tar -C "$root" -xf "$base"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
mount -t proc proc "$root/proc"
trap 'umount -l "$root/proc" 2>/dev/null || true; rm -rf "$work"' EXIT

# Packages added after the cached base (apt inside the image's root, from the same mirror):
# systemd-resolved, so the DNS servers DHCP hands systemd-networkd reach /etc/resolv.conf.
extra=(systemd-resolved libatomic1)
say "apt-get install ${extra[*]} (and callbox's Depends missing from the base: libatomic1)"
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root apt-get update -qq && in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null ||
    die "apt-get install ${extra[*]} in the image's root failed (Debian mirror unreachable?)"
in_root apt-get clean

say "installing $(basename "$deb") (apt: its Depends come from the mirror when the base lacks them)"
cp "$deb" "$root/tmp/callbox.deb"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/callbox.deb </dev/null ||
    die "installing callbox in the image failed"
in_root dpkg-query -W -f='${Status}\n' callbox | grep -q 'install ok installed' || die "callbox is not installed in the image"
in_root apt-get clean
rm -f "$root/tmp/callbox.deb"
[ "$(readlink "$root/opt/callbox/current")" = /usr/lib/callbox ] || die "postinst did not make /opt/callbox/current"
[ -L "$root/etc/systemd/system/multi-user.target.wants/callbox.service" ] || die "callbox.service is not enabled in the image"
# The ATA's SIP password the package made is the same on every card written from this image:
# drop it; callbox-firstboot makes each box its own.
[ -s "$root/etc/callbox/sip-ata.password" ] || die "postinst did not make /etc/callbox/sip-ata.password"
rm -f "$root/etc/callbox/sip-ata.password"

install -d -m 0755 "$root/etc/systemd/system/callbox.service.d" "$root/etc/systemd/system.conf.d" \
    "$root/etc/systemd/journald.conf.d" "$root/etc/systemd/network" "$root/etc/issue.d" \
    "$root/usr/local/sbin"
cp -r firmware/image/rootfs/. "$root/"
chmod 0755 "$root"/usr/local/sbin/callbox-*
in_root systemctl enable systemd-networkd.service systemd-resolved.service systemd-timesyncd.service avahi-daemon.service \
    callbox-firstboot.service callbox-console.service >/dev/null 2>&1 ||
    die "could not enable the image's units"
in_root systemctl disable systemd-networkd-wait-online.service >/dev/null 2>&1 || true
# No interactive first-boot questions (locale, time zone, root password) on an appliance: the
# box's time zone is shop.timezone, and nobody logs in as root with a password.
in_root systemctl mask systemd-firstboot.service >/dev/null 2>&1 || ln -sf /dev/null "$root/etc/systemd/system/systemd-firstboot.service"
ln -sf /usr/share/zoneinfo/Etc/UTC "$root/etc/localtime"
[ -f "$root/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"

# fstab: labels, so the same image boots from an SD card (mmcblk0) and in qemu (vda).
cat >"$root/etc/fstab" <<'EOF'
# callbox appliance. Root: fsck at every boot (fsck.repair=yes on the kernel command line),
# read-only on errors. Data: its own partition, journalled data and a 5 s commit so a power
# cut loses at most seconds and never tears a file; required (callbox never writes into the
# root's mount point instead).
LABEL=callbox-root  /                 ext4  defaults,noatime,errors=remount-ro,commit=15          0 1
LABEL=CB-BOOT       /boot/firmware    vfat  defaults,noatime,umask=0077,flush                     0 2
LABEL=callbox-data  /var/lib/callbox  ext4  noatime,data=journal,commit=5,nodev,nosuid,noexec,errors=remount-ro 0 2
tmpfs               /tmp              tmpfs defaults,nosuid,nodev,size=64m                        0 0
EOF

# raspi-firmware: the Pi's firmware, config.txt and cmdline.txt in /boot/firmware.
cat >"$root/etc/default/raspi-firmware" <<'EOF'
# callbox: see firmware/build-image.sh
ROOTPART=LABEL=callbox-root
CONSOLES="ttyS1,115200 tty0"
KERNEL_ARGS="fsck.repair=yes rootwait"
EOF
# initramfs: Debian's default (MODULES=most) finds the root by label on an SD card (mmc) and on
# a virtio disk (qemu); the kernel's postinst made it in the base.
say "initramfs and the Pi's /boot/firmware (raspi-firmware hook)"
t0=$SECONDS
kver=$(ls "$root/lib/modules" | sort -V | tail -n1)
if [ ! -f "$root/boot/initrd.img-$kver" ]; then
    in_root update-initramfs -c -k "$kver" >/dev/null || die "update-initramfs failed"
fi
in_root /etc/kernel/postinst.d/z50-raspi-firmware "$kver" >/dev/null 2>&1 ||
    say "warning: the raspi-firmware hook failed; copying kernel, initrd and DTBs into /boot/firmware by hand"
fw=$root/boot/firmware
[ -f "$fw/vmlinuz" ] || cp "$root/boot/vmlinuz-$kver" "$fw/vmlinuz"
[ -f "$fw/initrd.img" ] || cp "$root/boot/initrd.img-$kver" "$fw/initrd.img"
ls "$fw"/bcm2711-rpi-4-b.dtb >/dev/null 2>&1 || cp "$root/usr/lib/linux-image-$kver/broadcom/"bcm2711-rpi-*.dtb "$fw/" 2>/dev/null || true
[ -f "$fw/start4.elf" ] || die "no Pi 4 firmware (start4.elf) in /boot/firmware: is raspi-firmware installed?"
[ -f "$fw/bcm2711-rpi-4-b.dtb" ] || die "no bcm2711-rpi-4-b.dtb in /boot/firmware"
[ -f "$fw/config.txt" ] || die "raspi-firmware wrote no config.txt"
echo "console=ttyS1,115200 console=tty1 root=LABEL=callbox-root rootfstype=ext4 fsck.repair=yes rootwait" >"$fw/cmdline.txt"
cp firmware/image/callbox.env "$fw/callbox.env"
say "boot files in $((SECONDS - t0)) s: $(ls "$fw" | tr '\n' ' ' | cut -c1-200)"

# The English model, into the data partition's tree (the box's speech.model_dir).
data=$root/var/lib/callbox
if [ -n "$model" ]; then
    say "installing the English model (callbox model install, under emulation)"
    cp "$model" "$root/tmp/model.zip"
    in_root /usr/bin/callbox model install --dir /var/lib/callbox/models/vosk /tmp/model.zip ||
        die "callbox model install failed"
    rm -f "$root/tmp/model.zip"
    in_root chown -R callbox:callbox /var/lib/callbox
else
    echo "$model_note" >"$root/etc/callbox/NO-ENGLISH-MODEL"
fi

# Manifest, kernel and initrd for boot-test.sh; then trim what the box never needs.
in_root dpkg-query -W -f='${Package} ${Version}\n' >"$out/rootfs.manifest"
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img"
umount -l "$root/proc"
rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* "$root/tmp/"*
: >"$root/etc/machine-id"   # systemd makes a fresh one on first boot

# ---- 3. the file systems, from directories ----------------------------------------------------
say "file systems (mkfs.vfat + mcopy, mke2fs -d)"
mv "$fw" "$work/bootfs" && mkdir -m 0755 "$fw"
mv "$data" "$work/datafs" && mkdir -m 0700 "$data"
boot_mib=256
root_used=$(du -s -BM "$root" | cut -dM -f1)
root_mib=$(( (root_used * 13 / 10 + 400 + 3) / 4 * 4 ))
mkfs.vfat -C -n CB-BOOT -F 32 "$work/boot.img" $((boot_mib * 1024)) >/dev/null
mcopy -s -i "$work/boot.img" "$work/bootfs/"* ::/
mke2fs -q -t ext4 -L callbox-root -d "$root" -E root_owner=0:0 "$work/root.img" "${root_mib}M" ||
    die "mke2fs -d of the root failed"
mke2fs -q -t ext4 -L callbox-data -d "$work/datafs" -E root_owner=0:0 "$work/data.img" "${data_mib}M" ||
    die "mke2fs -d of the data partition failed"
tune2fs -o journal_data -c 1 "$work/data.img" >/dev/null   # data=journal by default; fsck every mount
tune2fs -c 1 "$work/root.img" >/dev/null

# ---- 4. the image: MBR, FAT first (the Pi's boot ROM wants it), partitions 4 MiB aligned ----
img=$out/callbox-pi-arm64.img
start1=4; start2=$((start1 + boot_mib)); start3=$((start2 + root_mib)); total=$((start3 + data_mib + 4))
rm -f "$img"
truncate -s "${total}M" "$img"
sfdisk --quiet "$img" <<EOF
label: dos
unit: sectors
start=$((start1 * 2048)), size=$((boot_mib * 2048)), type=c, bootable
start=$((start2 * 2048)), size=$((root_mib * 2048)), type=83
start=$((start3 * 2048)), size=$((data_mib * 2048)), type=83
EOF
dd if="$work/boot.img" of="$img" bs=1M seek=$start1 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img" bs=1M seek=$start2 conv=notrunc,sparse status=none
dd if="$work/data.img" of="$img" bs=1M seek=$start3 conv=notrunc,sparse status=none
sfdisk --list "$img" | sed 's/^/  /' >&2
say "image: $img ($((total)) MiB; boot ${boot_mib} MiB, root ${root_mib} MiB, data ${data_mib} MiB, grown to the card on first boot)"
say "kernel for boot-test.sh: $out/vmlinuz, $out/initrd.img ($kver)"
[ -z "$model_note" ] || say "$model_note"
say "done in $((SECONDS - t_start)) s. Flash with: dd if=$img of=/dev/sdX bs=4M conv=fsync status=progress"
