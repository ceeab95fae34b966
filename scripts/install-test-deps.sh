#!/usr/bin/env bash
# Install what the integration tests drive the daemon with, from Debian's repositories:
#   sipp (package sip-tester), baresip-core, espeak-ng, sox, python3; and libasound2-dev,
#   which the `alsa` cargo feature (the USB line interface) needs to build.
# Idempotent: does nothing when every tool is already there. Needs root (or sudo).
set -euo pipefail

declare -A pkg_for=(
    [sipp]=sip-tester
    [baresip]=baresip-core
    [espeak-ng]=espeak-ng
    [sox]=sox
    [soxi]=sox
    [python3]=python3
)
missing=()
for tool in "${!pkg_for[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_for[$tool]}")
done
# Not a tool: alsa-sys finds the library's headers through pkg-config.
pkg-config --exists alsa 2>/dev/null || missing+=(libasound2-dev pkg-config)
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-test-deps: sipp, baresip, espeak-ng, sox, python3, libasound2-dev already installed"
    exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "install-test-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-test-deps: need root or sudo to apt-get install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3; do
    if $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
        break
    fi
    [ "$attempt" -eq 3 ] && { echo "install-test-deps: apt-get failed" >&2; exit 1; }
    echo "install-test-deps: apt-get failed, retrying in 10 s" >&2
    sleep 10
done
for tool in "${!pkg_for[@]}"; do
    command -v "$tool" >/dev/null || { echo "install-test-deps: $tool still missing after install" >&2; exit 1; }
done
pkg-config --exists alsa || { echo "install-test-deps: libasound2-dev still missing after install" >&2; exit 1; }
echo "install-test-deps: done"
