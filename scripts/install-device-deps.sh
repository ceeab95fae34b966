#!/usr/bin/env bash
# Installs what the device checks need (tests/package/deb-install.sh, scripts/build-arm64.sh,
# firmware/build-image.sh, firmware/boot-test.sh): cargo-deb (crates.io, pinned), and from
# Debian mmdebstrap, qemu-system-arm (+ ipxe-qemu's virtio ROM), qemu-user-static,
# binfmt-support, e2fsprogs, dosfstools, mtools, fdisk, curl, sipp. The arm64 cross toolchain
# and multiarch libraries come from `scripts/build-arm64.sh setup`.
# Idempotent: does nothing when everything is there. Needs root (or sudo).
set -euo pipefail

cargo_deb_version=3.8.0
declare -A pkg_for=(
    [mmdebstrap]=mmdebstrap
    [qemu-system-aarch64]=qemu-system-arm
    [qemu-aarch64-static]=qemu-user-static
    [update-binfmts]=binfmt-support
    [mke2fs]=e2fsprogs
    [mkfs.vfat]=dosfstools
    [mcopy]=mtools
    [sfdisk]=fdisk
    [curl]=curl
    [sipp]=sip-tester
    [readelf]=binutils
    [file]=file
)
missing=()
for tool in "${!pkg_for[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_for[$tool]}")
done
dpkg-query -W -f='${Status}' ipxe-qemu 2>/dev/null | grep -q "install ok installed" || missing+=(ipxe-qemu)   # virtio-net ROM
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "install-device-deps: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    for attempt in 1 2 3; do
        if $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
            break
        fi
        [ "$attempt" -eq 3 ] && { echo "install-device-deps: apt-get failed" >&2; exit 1; }
        sleep 10
    done
fi
if [ "$(cargo deb --version 2>/dev/null | awk '{print $2}')" != "$cargo_deb_version" ]; then
    echo "install-device-deps: cargo install cargo-deb $cargo_deb_version"
    nice -n 19 cargo install --locked cargo-deb --version "$cargo_deb_version"
fi
echo "install-device-deps: done (cargo-deb $(cargo deb --version | awk '{print $2}'))"
