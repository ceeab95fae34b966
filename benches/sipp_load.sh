#!/usr/bin/env bash
# SIP load run: sipp calls the release-built daemon at RATE calls/s until CALLS calls were made.
# Each call: INVITE -> 200 -> ACK, RTP (looped speech, PCMU) for HOLD_MS, caller BYE.
# Exits non-zero if any call failed or the daemon died; writes a summary to
# target/sipp-load/summary.txt (and stdout).
#
#   benches/sipp_load.sh                     # 20 calls/s for 60 s (1200 calls), 2 s calls
#   RATE=20 CALLS=400 benches/sipp_load.sh   # 20 s
#   TARGET=127.0.0.1:5070 benches/sipp_load.sh   # against an already running daemon
#
# Needs sipp, espeak-ng, sox, python3 (scripts/install-test-deps.sh). Traffic: 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RATE=${RATE:-20}
CALLS=${CALLS:-1200}
HOLD_MS=${HOLD_MS:-2000}
MAX_CONCURRENT=${MAX_CONCURRENT:-400}
TARGET=${TARGET:-}
target_dir=${CARGO_TARGET_DIR:-target}
out=$target_dir/sipp-load
rm -rf "$out"; mkdir -p "$out"
out=$(cd "$out" && pwd)

bash tests/assets/gen-assets.sh "$out/assets" >/dev/null

pick_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

daemon_pid=""
cleanup() { if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

if [ -z "$TARGET" ]; then
    cargo build --release --locked --bin callbox
    port=$(pick_port)
    TARGET=127.0.0.1:$port
    cat > "$out/callbox.toml" <<TOML
[storage]
data_dir = "$out/data"
[sip]
listen = "$TARGET"
max_concurrent_calls = $MAX_CONCURRENT
# One sipp host makes every call: no per-source limits (issue 17) in the bench.
max_calls_per_source = 0
call_attempts_per_minute = 0
[media]
rtp_port_min = 30000
rtp_port_max = 39999
[call]
mode = "answering"   # the load run measures SIP and media, not the dialog
[log]
filter = "warn"
TOML
    "$target_dir/release/callbox" run --config "$out/callbox.toml" 2>"$out/callbox.log" &
    daemon_pid=$!
    for _ in $(seq 100); do
        grep -q listening "$out/callbox.log" 2>/dev/null && break
        kill -0 "$daemon_pid" || { echo "callbox exited:"; cat "$out/callbox.log"; exit 1; }
        sleep 0.1
    done
    sleep 0.5
fi

echo "load: $CALLS calls at $RATE/s, ${HOLD_MS} ms each with RTP, against $TARGET"
cpu_ticks() { # utime + stime of the daemon, in clock ticks
    if [ -n "$daemon_pid" ] && [ -r "/proc/$daemon_pid/stat" ]; then
        awk '{print $14 + $15}' "/proc/$daemon_pid/stat"
    else
        echo 0
    fi
}
ticks0=$(cpu_ticks)
t0=$(date +%s.%N)
rc=0
(cd "$out/assets" && sipp "$TARGET" -sf "$OLDPWD/tests/sipp/call_hold.xml" \
    -i 127.0.0.1 -mi 127.0.0.1 -p "$(pick_port)" -mp 26000 -s callbox \
    -r "$RATE" -m "$CALLS" -l "$MAX_CONCURRENT" -d "$HOLD_MS" \
    -timeout "$(( CALLS / RATE + 60 ))s" -timeout_error -nostdin \
    -trace_err -error_file "$out/sipp-errors.log" \
    -trace_stat -stf "$out/sipp-stats.csv" -fd 1 \
    >"$out/sipp.out" 2>&1) || rc=$?
t1=$(date +%s.%N)
ticks1=$(cpu_ticks)
wall=$(python3 -c "print(f'{$t1-$t0:.1f}')")

# sipp's statistics CSV: totals from the last row, peak concurrency over all rows
read -r ok failed rate peak retrans rt <<<"$(python3 - "$out/sipp-stats.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, body = rows[0], [r for r in rows[1:] if len(r) >= len(rows[0]) - 1]
col = lambda name, r: r[head.index(name)]
last = body[-1]
peak = max(int(col("CurrentCall", r)) for r in body)
print(col("SuccessfulCall(C)", last), col("FailedCall(C)", last), col("CallRate(C)", last),
      peak, col("Retransmissions(C)", last), col("ResponseTime1(C)", last))
PY
)"
cpu_s=$(python3 -c "print(f'{($ticks1-$ticks0)/$(getconf CLK_TCK):.1f}')")
alive=yes
if [ -n "$daemon_pid" ] && ! kill -0 "$daemon_pid" 2>/dev/null; then alive=no; fi
records=n/a
if [ -n "$daemon_pid" ]; then
    sleep 2   # records are written as calls end
    records=$(find "$out/data/calls" -name '*.json' 2>/dev/null | wc -l)
fi
cpu=$(grep -m1 -E 'model name|Model|CPU part' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
    echo "sipp load run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "  target:        $TARGET (callbox release build)"
    echo "  offered:       $CALLS calls at $RATE calls/s, ${HOLD_MS} ms each, PCMU RTP both ways"
    echo "  successful:    $ok"
    echo "  failed:        $failed"
    echo "  call records:  $records"
    echo "  wall time:     ${wall} s; sipp's mean call rate $rate calls/s; peak $peak calls up at once"
    echo "  INVITE->200:   $rt (mean, sipp ResponseTime1); SIP retransmissions: $retrans"
    echo "  daemon CPU:    ${cpu_s} s user+sys over the run ($(python3 -c "print(f'{100*$cpu_s/max($wall,1e-9):.0f}')")% of one core)"
    echo "  sipp exit:     $rc"
    echo "  daemon alive:  $alive"
    echo "  machine:       $cpu; nproc=$(nproc); $(uname -m); $(grep MemTotal /proc/meminfo | awk '{printf "%.0f GiB RAM", $2/1048576}')"
} | tee "$out/summary.txt"
if [ "$records" != n/a ] && [ "$records" -lt "$ok" ]; then
    echo "load: only $records call records for $ok successful calls"
    rc=1
fi
if [ "$rc" -ne 0 ] || [ "$failed" != 0 ] || [ "$alive" != yes ]; then
    echo "load: FAILED (sipp errors: $out/sipp-errors.log, daemon log: $out/callbox.log)"
    exit 1
fi
echo "load: OK"
