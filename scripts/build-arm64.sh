#!/usr/bin/env bash
# Builds callbox for the box (Raspberry Pi 4/5, aarch64) on an x86_64 Debian 12 machine with
# plain cargo — rustup's aarch64-unknown-linux-gnu target, Debian's gcc-aarch64-linux-gnu and
# multiarch arm64 -dev packages — and tests it under qemu-user. No container engine needed
# (cross.toml is the same recipe for people who have one).
#
#   bash scripts/build-arm64.sh setup      # apt + rustup (idempotent; needs root or sudo)
#   bash scripts/build-arm64.sh build      # release binary: $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/callbox
#                                          # (ARM64_PROFILE=dev: the unoptimised one, in …/debug/)
#   bash scripts/build-arm64.sh package    # arm64 .deb (cargo-deb) from that binary
#   bash scripts/build-arm64.sh test       # the library's unit tests, under qemu-aarch64
#   bash scripts/build-arm64.sh selfcheck  # --version, config check, model verify, simulate under qemu
#   bash scripts/build-arm64.sh all        # every step above, in that order (the default)
#   bash scripts/build-arm64.sh build package   # several steps, in the order given
#
# Binaries run as `qemu-aarch64 BINARY` WITHOUT -L: with libc6:arm64 installed, the arm64
# dynamic loader and libraries are in their multiarch places (/lib/ld-linux-aarch64.so.1,
# /usr/lib/aarch64-linux-gnu), so the guest finds one glibc. Pointing -L at the cross
# toolchain's sysroot as well mixes two glibc copies and hangs threaded programs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=aarch64-unknown-linux-gnu
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export PKG_CONFIG_aarch64_unknown_linux_gnu=aarch64-linux-gnu-pkg-config
# ARM64_PROFILE=dev builds, packages and self-checks the unoptimised binary instead (CI on
# every run: it shares its compile with the unit tests; the release build is ~40 min cold here).
profile=${ARM64_PROFILE:-release}
case $profile in
    release) profile_dir=release ;;
    dev) profile_dir=debug ;;
    *) profile_dir=$profile ;;
esac
release_dir=$CARGO_TARGET_DIR/$target/$profile_dir

say() { echo "build-arm64: $*" >&2; }
die() { echo "build-arm64: ERROR: $*" >&2; exit 1; }

# ---- setup -----------------------------------------------------------------------------------
setup() {
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root or sudo for dpkg --add-architecture / apt-get"
        sudo=sudo
    fi
    local pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross libc6:arm64 libc6-dev:arm64
        libgcc-s1:arm64 libstdc++6:arm64 libatomic1:arm64 qemu-user-static qemu-user
        binfmt-support pkg-config)
    local missing=()
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        say "dpkg --add-architecture arm64"
        $sudo dpkg --add-architecture arm64
        missing=("${pkgs[@]}")
    else
        for p in "${pkgs[@]}"; do
            dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
        done
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        local attempt
        for attempt in 1 2 3; do
            if $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
                break
            fi
            [ "$attempt" -eq 3 ] && die "apt-get install failed"
            sleep 10
        done
    else
        say "arm64 toolchain and qemu-user already installed"
    fi
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
    # A foreign-architecture chroot (firmware/build-image.sh) needs binfmt_misc; plain
    # `qemu-aarch64 BINARY` below does not.
    if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
        $sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
        $sudo update-binfmts --enable qemu-aarch64 2>/dev/null || true
    fi
    [ -e /lib/ld-linux-aarch64.so.1 ] || die "libc6:arm64 is not installed (/lib/ld-linux-aarch64.so.1 missing)"
}

# ---- build -------------------------------------------------------------------------------------
build() {
    say "cargo build --profile $profile --target $target (into $CARGO_TARGET_DIR)"
    local t0=$SECONDS
    cargo build --locked --profile "$profile" --target "$target" --bin callbox
    [ -x "$release_dir/callbox" ] || die "no $release_dir/callbox after the build"
    [ -f "$release_dir/libvosk.so" ] || die "build.rs did not put libvosk.so beside the binary in $release_dir"
    file "$release_dir/callbox" 2>/dev/null | grep -q 'ARM aarch64' || die "$release_dir/callbox is not an aarch64 binary"
    say "built $release_dir/callbox in $((SECONDS - t0)) s"
}

# ---- package -----------------------------------------------------------------------------------
package() {
    command -v cargo-deb >/dev/null || die "cargo-deb is not installed (cargo install cargo-deb --version 3.8.0 --locked)"
    [ -x "$release_dir/callbox" ] || die "build first: no $release_dir/callbox"
    # cargo-deb strips with the target's strip (aarch64-linux-gnu-strip, from binutils-aarch64-linux-gnu).
    local log out
    # (not `tee /dev/stderr`: when stderr is a log file, opening it again truncates it)
    log=$(cargo deb --no-build --profile "$profile" --target "$target" --locked 2>&1) ||
        { printf '%s\n' "$log" >&2; die "cargo deb failed"; }
    printf '%s\n' "$log" >&2
    out=$(printf '%s\n' "$log" | tail -n1)
    [ -f "$out" ] || die "cargo deb did not report a package file (last line: $out)"
    # (not `dpkg-deb --info | grep -q`: grep's early exit kills dpkg-deb with SIGPIPE under pipefail)
    [ "$(dpkg-deb --field "$out" Architecture)" = arm64 ] || die "$out is not an arm64 package"
    say "package: $out ($(du -h "$out" | cut -f1))"
}

# ---- test ------------------------------------------------------------------------------------
test_lib() {
    [ -e /lib/ld-linux-aarch64.so.1 ] || die "libc6:arm64 is not installed: run '$0 setup'"
    say "cargo test --lib --target $target (runner: qemu-aarch64, no -L)"
    local t0=$SECONDS
    # Skipped under qemu-user only: qemu-aarch64 runs glibc's posix_spawn (clone with CLONE_VM)
    # as a plain fork, so spawning a missing program "succeeds" and the child exits 127
    # instead of Command::spawn failing with ENOENT (checked with a 3-line program: native
    # says "No such file or directory", qemu-aarch64 says spawn OK). The test asserts that
    # error; it passes natively (x86_64 CI) and on the Pi.
    local skip=(--skip speech::tts::tests::missing_engine_falls_back_to_built_in_prompts)
    RUST_TEST_THREADS=${RUST_TEST_THREADS:-2} cargo test --locked --lib --target "$target" -- "${skip[@]}"
    say "unit tests under qemu: $((SECONDS - t0)) s"
}

# ---- self-checks -------------------------------------------------------------------------------
selfcheck() {
    local bin=$release_dir/callbox
    [ -x "$bin" ] || die "build first: no $bin"
    local qemu=(qemu-aarch64)
    local work=$CARGO_TARGET_DIR/arm64-selfcheck
    rm -rf "$work" && mkdir -p "$work"

    say "self-check: callbox --version"
    local version
    version=$(timeout 120 "${qemu[@]}" "$bin" --version) || die "callbox --version failed under qemu"
    echo "$version"
    echo "$version" | grep -q "^callbox $(cargo_version)" || die "--version says '$version', expected callbox $(cargo_version)"

    say "self-check: callbox config check firmware/etc/callbox/callbox.toml"
    # The example reads the ATA's password from /etc/callbox/sip-ata.password, which the
    # package makes: check a copy that reads a stand-in instead.
    printf 'stand-in\n' >"$work/sip-ata.password" && chmod 0600 "$work/sip-ata.password"
    sed "s|/etc/callbox/sip-ata.password|$work/sip-ata.password|" firmware/etc/callbox/callbox.toml \
        >"$work/callbox.toml"
    timeout 120 "${qemu[@]}" "$bin" config check "$work/callbox.toml" ||
        die "config check of the example config failed under qemu"

    say "self-check: callbox model verify --load on the test model"
    local model
    model=${CALLBOX_TEST_VOSK_MODEL:-$(bash scripts/install-test-model.sh)}
    [ -d "$model" ] || die "no test model at $model"
    # The test model is a directory installed by hand (no manifest: a warning, not an error);
    # --load loads it through libvosk and decodes phone audio.
    local verify_out
    verify_out=$(timeout 900 "${qemu[@]}" "$bin" model verify --load "$model" 2>&1) ||
        { echo "$verify_out" >&2; die "model verify --load failed under qemu"; }
    echo "$verify_out"
    echo "$verify_out" | grep -q "layout OK" || die "model verify did not report the layout"

    say "self-check: callbox simulate (a no-heat call, keypad and speech lines)"
    local out
    out=$(printf '%s\n' "my furnace is not working" "dtmf:1" "hangup" |
        timeout 600 "${qemu[@]}" "$bin" simulate --caller-id +13125550142 --data-dir "$work/sim" \
            --now 2026-01-14T03:00:00Z --seed tests/conversations/seed.json --offline) ||
        die "simulate failed under qemu"
    echo "$out" | tail -n 5
    echo "$out" | grep -q '^callbox: ' || die "simulate: the box said nothing"
    echo "$out" | tail -n1 | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d.get("outcome"), d; print("simulate outcome:", d["outcome"], "records:", len(d.get("record_ids") or []))' ||
        die "simulate did not end with its JSON outcome line"
    say "self-checks passed"
}

cargo_version() {
    sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1
}

[ $# -gt 0 ] || set -- all
for step in "$@"; do
    case $step in
        setup) setup ;;
        build) build ;;
        package) package ;;
        test) test_lib ;;
        selfcheck) selfcheck ;;
        all) setup; build; package; test_lib; selfcheck ;;
        *) die "unknown step '$step' (setup, build, package, test, selfcheck, all)" ;;
    esac
done
