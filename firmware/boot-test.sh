#!/usr/bin/env bash
# Boots the image firmware/build-image.sh made — its root file system and data partition,
# with Debian's arm64 kernel and initrd from that root file system — in qemu-system-aarch64
# (the `virt` machine, software emulation), with qemu's user network forwarding
#   127.0.0.1:$SIP_PORT/udp -> the box's 5060 and 127.0.0.1:$WEB_PORT/tcp -> the box's 8443,
# and within a bounded time checks that the box
#   1. answers SIP OPTIONS (200 with an Allow header),
#   2. takes a call from sipp (INVITE -> 200 with PCMU -> ACK -> caller BYE -> 200),
#   3. answers GET /healthz on its web page over HTTPS,
#   4. printed its host name, page address and setup code on the console (first boot).
#
#   bash firmware/boot-test.sh [--image target/image/callbox-pi-arm64.img] [--timeout SECS]
#
# The image is not changed: the test boots a sparse copy, with callbox.env on its FAT
# partition rewritten (mtools, no mount) so that qemu's host address 10.0.2.2 is the one SIP
# peer the box accepts — as an installer points it at the ATA.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

image=target/image/callbox-pi-arm64.img
timeout_s=${CALLBOX_BOOT_TIMEOUT:-1200}
while [ $# -gt 0 ]; do
    case $1 in
        --image) image=$2; shift 2 ;;
        --timeout) timeout_s=$2; shift 2 ;;
        *) echo "boot-test: unknown argument $1" >&2; exit 2 ;;
    esac
done

say() { echo "boot-test: [$(( SECONDS - t_start ))s] $*"; }
t_start=$SECONDS
fail() {
    echo "boot-test: FAIL after $(( SECONDS - t_start ))s: $*" >&2
    if [ -f "${console:-}" ]; then
        echo "---- console (last 60 lines) ----" >&2
        tail -n 60 "$console" | tr -d '\r' >&2
    fi
    exit 1
}

dir=$(dirname "$image")
for f in "$image" "$dir/vmlinuz" "$dir/initrd.img"; do
    [ -f "$f" ] || fail "$f missing: run firmware/build-image.sh first"
done
for tool in qemu-system-aarch64 sipp curl python3 mcopy sfdisk; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install qemu-system-arm sip-tester curl mtools fdisk)"
done

work=$(mktemp -d /tmp/callbox-boot-test.XXXXXX)
console=$work/console.log
qemu_pid=""
cleanup() {
    local rc=$?
    if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill "$qemu_pid" 2>/dev/null || true
        wait "$qemu_pid" 2>/dev/null || true
    fi
    if [ -f "$console" ]; then
        mkdir -p target/boot-test && tr -d '\r' <"$console" >target/boot-test/console.log &&
            echo "boot-test: console log kept in target/boot-test/console.log" >&2
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

free_port() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, getattr(socket, sys.argv[1])); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' "$1"; }
sip_port=${SIP_PORT:-$(free_port SOCK_DGRAM)}
web_port=${WEB_PORT:-$(free_port SOCK_STREAM)}

# ---- the disk: a sparse copy with the test's site settings ----------------------------------------
cp --sparse=always "$image" "$work/disk.img"
p1_start=$(sfdisk --dump "$work/disk.img" | sed -n 's/.*1 : start= *\([0-9]*\),.*/\1/p')
[ -n "$p1_start" ] || fail "no partition 1 in $image"
cat >"$work/callbox.env" <<'EOF'
# boot-test.sh: qemu's user network delivers the host's packets from 10.0.2.2
CALLBOX_SIP_ALLOWED_PEERS=10.0.2.2
# The shipped config wants the ATA registered and authenticated (tests/sip_security.rs covers
# that mode); this test's sipp call is a plain INVITE through qemu's port forward.
CALLBOX_SIP_REQUIRE_REGISTRATION=false
CALLBOX_SIP_REQUIRE_INVITE_AUTH=false
EOF
mcopy -o -i "$work/disk.img@@$((p1_start * 512))" "$work/callbox.env" ::/callbox.env ||
    fail "could not write callbox.env into the FAT partition"

# ---- boot ------------------------------------------------------------------------------------------
say "booting $image in qemu-system-aarch64 (virt, 2 vCPUs, 1 GiB, TCG); SIP 127.0.0.1:$sip_port/udp, web 127.0.0.1:$web_port/tcp"
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -accel tcg,thread=multi \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
    -append "root=LABEL=callbox-root rootfstype=ext4 fsck.repair=yes rootwait console=ttyAMA0 panic=10" \
    -drive "file=$work/disk.img,format=raw,if=none,id=disk0,cache=unsafe" -device virtio-blk-pci,drive=disk0 \
    -netdev "user,id=net0,hostfwd=udp:127.0.0.1:$sip_port-:5060,hostfwd=tcp:127.0.0.1:$web_port-:8443" \
    -device virtio-net-pci,netdev=net0,mac=52:54:00:12:ab:cd \
    -device i6300esb -no-reboot -nographic </dev/null >"$console" 2>&1 &
qemu_pid=$!
deadline=$(( t_start + timeout_s ))

options_ok() {
    python3 - "$sip_port" <<'EOF'
import socket, sys, random
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.bind(("127.0.0.1", 0))
lp = s.getsockname()[1]
branch = "z9hG4bK-boot-%08x" % random.getrandbits(32)
msg = (f"OPTIONS sip:callbox@127.0.0.1:{port} SIP/2.0\r\n"
       f"Via: SIP/2.0/UDP 127.0.0.1:{lp};rport;branch={branch}\r\n"
       f"From: <sip:probe@127.0.0.1:{lp}>;tag=probe{lp}\r\n"
       f"To: <sip:callbox@127.0.0.1:{port}>\r\n"
       f"Call-ID: boot-test-{branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
s.sendto(msg.encode(), ("127.0.0.1", port))
try:
    data, _ = s.recvfrom(65535)
except socket.timeout:
    sys.exit(1)
text = data.decode(errors="replace")
print(text.split("\r\n")[0])
sys.exit(0 if text.startswith("SIP/2.0 200") and "INVITE" in text else 3)
EOF
}

# ---- 1. OPTIONS ---------------------------------------------------------------------------------
say "waiting for the box to answer SIP OPTIONS (up to ${timeout_s}s from the start)"
while :; do
    kill -0 "$qemu_pid" 2>/dev/null || fail "qemu exited before the box answered"
    if status=$(options_ok 2>/dev/null); then
        say "OPTIONS answered: $status"
        break
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "no answer to OPTIONS within ${timeout_s}s"
    sleep 5
done
grep -a -E 'Linux version|Welcome to|callbox-firstboot|Started.*callbox' "$console" | tr -d '\r' | sed 's/^/  console: /' | head -n 12

# ---- 2. a sipp call -------------------------------------------------------------------------------
say "sipp call through the forwarded port"
sipp_local=$(free_port SOCK_DGRAM)
scenario=$PWD/firmware/boot-test/call.xml
if ! (cd "$work" && timeout 120 sipp "127.0.0.1:$sip_port" -sf "$scenario" \
    -i 127.0.0.1 -p "$sipp_local" -s callbox -m 1 -timeout 90s -timeout_error -nostdin \
    -trace_err -trace_msg -trace_logs >"$work/sipp.out" 2>&1); then
    cat "$work"/*messages.log 2>/dev/null | tail -n 60 >&2 || true
    cat "$work"/*errors.log 2>/dev/null | tail -n 20 >&2 || true
    fail "the sipp call failed"
fi
grep -h "answer offers PCMU" "$work"/*logs.log 2>/dev/null | head -n1 | sed 's/^/  sipp: /'
grep -E "Successful call|Failed call" "$work/sipp.out" | tail -n 2 | sed 's/^/  sipp: /' || true
say "sipp call: INVITE/200/ACK/BYE/200 OK"

# ---- 3. /healthz ---------------------------------------------------------------------------------
say "GET https://127.0.0.1:$web_port/healthz"
health=""
while :; do
    if health=$(curl -ks --max-time 10 -w ' (HTTP %{http_code})' "https://127.0.0.1:$web_port/healthz"); then
        case $health in *"(HTTP 200)") break ;; esac
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "/healthz did not answer 200 within ${timeout_s}s (last: ${health:-no answer})"
    sleep 5
done
say "healthz: $health"

# ---- 4. the first-boot console message -------------------------------------------------------------
while ! grep -aq "Setup code:" "$console"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the console never showed the setup code"
    sleep 5
done
sleep 2
sed -n '/================ callbox/,/^=\{41\}/p' "$console" | tr -d '\r' | sed 's/^/  console: /'
# The journal's copy (forwarded to the console as "callbox-console[pid]: ...") never carries
# the setup code or the ATA's password; the screen's own copy does.
if grep -a "callbox-console\[" "$console" | grep -aE "Setup code: +[A-Z0-9]{4}-|password [0-9a-f]{8,}"; then
    fail "a secret (setup code or ATA password) went to the journal"
fi
grep -aq "ATA account: *user ht813, password [0-9a-f]\{8,\}" "$console" || fail "the screen does not show the ATA's password"
grep -aq "Box: *callbox-abcd" "$console" || fail "the host name is not callbox-abcd (from the MAC 52:54:00:12:ab:cd)"
grep -aq "callbox-firstboot.*host name callbox-abcd" "$console" || fail "callbox-firstboot did not report the host name"
if grep -a "FAILED" "$console" | grep -av "Failed call"; then
    fail "a unit failed during boot (console above)"
fi
grep -a -i "watchdog" "$console" | tr -d '\r' | head -n 3 | sed 's/^/  console: /' || true
say "PASS: booted, OPTIONS, sipp call, /healthz and the first-boot console message in $(( SECONDS - t_start ))s"
