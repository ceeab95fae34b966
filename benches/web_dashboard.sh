#!/usr/bin/env bash
# The web page under load (issue 12): GET / (dashboard) and GET /calls response times, p50/p95
# over REQUESTS requests each with a logged-in session, while CALLS_STORED call records are
# stored and SIPP_CALLS sipp calls are in progress (RTP both ways, recorded); and the
# dashboard's total transfer size (HTML + the CSS, JS and images it loads).
#
#   benches/web_dashboard.sh                          # 10000 stored calls, 4 calls up, 300 requests
#   CALLS_STORED=2000 REQUESTS=200 benches/web_dashboard.sh
#   CALLBOX_BIN=target/debug/callbox benches/web_dashboard.sh   # dry run on another build
#
# Builds `callbox` in release, seeds a fresh data dir (benches/seed_calls.py), starts the
# daemon on free loopback ports (call.mode "answering": the media path and the recording run,
# the dialog does not), sets the admin password with the setup code, logs in, starts the sipp
# calls (tests/sipp/call_hold.xml, held for HOLD_MS), and measures over one kept-alive HTTPS
# connection (python3's http.client), as a browser's requests to the box go. Exits non-zero
# if a request fails, the calls list does not count every stored call, or fewer than
# SIPP_CALLS calls were up during the whole measurement.
# Results: target/web-bench/summary.txt (and stdout), the daemon's log beside it.
# Needs sipp, espeak-ng, sox, python3 (scripts/install-test-deps.sh). Traffic: 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CALLS_STORED=${CALLS_STORED:-10000}
SIPP_CALLS=${SIPP_CALLS:-4}
REQUESTS=${REQUESTS:-300}
HOLD_MS=${HOLD_MS:-300000}
target_dir=${CARGO_TARGET_DIR:-target}
out=$target_dir/web-bench
rm -rf "$out"; mkdir -p "$out"
out=$(cd "$out" && pwd)

pick_port() { # pick_port udp|tcp
    python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1]=='udp' else socket.SOCK_STREAM); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" "$1"
}

daemon_pid=""
sipp_pid=""
cleanup() {
    if [ -n "$sipp_pid" ]; then kill "$sipp_pid" 2>/dev/null || true; wait "$sipp_pid" 2>/dev/null || true; fi
    if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ -n "${CALLBOX_BIN:-}" ]; then
    bin=$CALLBOX_BIN    # another build (a dry run with target/debug/callbox; not for figures)
else
    cargo build --release --locked --bin callbox
    bin=$target_dir/release/callbox
fi
bash tests/assets/gen-assets.sh "$out/assets" >/dev/null
python3 benches/seed_calls.py "$out/data" --calls "$CALLS_STORED" --days 60

sip_port=$(pick_port udp)
web_port=$(pick_port tcp)
cat > "$out/callbox.toml" <<TOML
[storage]
data_dir = "$out/data"
[sip]
listen = "127.0.0.1:$sip_port"
max_concurrent_calls = $(( SIPP_CALLS + 4 ))
# One sipp host makes every call: no per-source limits (issue 17) in the bench.
max_calls_per_source = 0
call_attempts_per_minute = 0
[media]
rtp_port_min = 30000
rtp_port_max = 30999
[call]
mode = "answering"          # the media path and the recording, as a call in progress costs
idle_timeout_secs = 900     # sipp's callers press no key
max_call_secs = 900
[web]
listen = "127.0.0.1:$web_port"
[log]
filter = "info"
TOML
"$bin" run --config "$out/callbox.toml" 2>"$out/callbox.log" &
daemon_pid=$!
for _ in $(seq 300); do
    [ -f "$out/data/web/setup-code" ] && curl -sk -o /dev/null "https://127.0.0.1:$web_port/healthz" && break
    kill -0 "$daemon_pid" || { echo "callbox exited:"; cat "$out/callbox.log"; exit 1; }
    sleep 0.1
done

echo "web bench: $SIPP_CALLS sipp calls of ${HOLD_MS} ms to 127.0.0.1:$sip_port"
(cd "$out/assets" && exec sipp "127.0.0.1:$sip_port" -sf "$OLDPWD/tests/sipp/call_hold.xml" \
    -i 127.0.0.1 -mi 127.0.0.1 -p "$(pick_port udp)" -mp 26000 -s callbox \
    -r "$SIPP_CALLS" -m "$SIPP_CALLS" -l "$SIPP_CALLS" -d "$HOLD_MS" \
    -timeout "$(( HOLD_MS / 1000 + 60 ))s" -nostdin -trace_err -error_file "$out/sipp-errors.log" \
    >"$out/sipp.out" 2>&1) &
sipp_pid=$!

rc=0
python3 - "$web_port" "$out/data/web/setup-code" "$SIPP_CALLS" "$REQUESTS" "$CALLS_STORED" \
    "$out/measure.json" <<'PY' || rc=$?
import gzip, http.client, json, math, re, ssl, statistics, sys, time

port, code_file, want_calls, requests, stored, result_file = sys.argv[1:7]
want_calls, requests, stored = int(want_calls), int(requests), int(stored)
ctx = ssl._create_unverified_context()  # the box's self-signed certificate
conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=30)
cookie, csrf = None, None

def call(method, path, body=None, extra=None):
    headers = {"Accept-Encoding": "gzip"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if cookie:
        headers["Cookie"] = cookie
    if csrf and method != "GET":
        headers["X-CSRF-Token"] = csrf
    headers.update(extra or {})
    t0 = time.perf_counter()
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    answer = conn.getresponse()
    wire = answer.read()
    elapsed = time.perf_counter() - t0
    body = gzip.decompress(wire) if answer.getheader("Content-Encoding") == "gzip" else wire
    return answer, wire, body, elapsed

def fail(message):
    print(f"web bench: FAILED: {message}", file=sys.stderr)
    sys.exit(1)

password = "bench-password-2026"
code = open(code_file).read().strip()
answer, _, body, _ = call("POST", "/api/setup", {"setup_code": code, "password": password})
if answer.status != 200:
    fail(f"setup: {answer.status} {body[:200]!r}")
answer, _, body, _ = call("POST", "/api/session", {"password": password})
if answer.status != 200:
    fail(f"login: {answer.status} {body[:200]!r}")
cookie = answer.getheader("Set-Cookie").split(";")[0]
csrf = json.loads(body)["csrf_token"]

def calls_up():
    answer, _, body, _ = call("GET", "/api/status")
    return json.loads(body).get("calls_in_progress", -1) if answer.status == 200 else -1

deadline = time.time() + 60
while calls_up() < want_calls:
    if time.time() > deadline:
        fail(f"only {calls_up()} of {want_calls} sipp calls came up")
    time.sleep(0.5)

answer, _, body, first_query = call("GET", "/api/calls?limit=1")  # the first since start
if answer.status != 200:
    fail(f"/api/calls: {answer.status}")
total = json.loads(body).get("total")
if total != stored:
    fail(f"the calls list counts {total} calls, {stored} are stored")

def measure(path, marker):
    for _ in range(10):  # warm-up: caches, connection
        call("GET", path)
    times = []
    for _ in range(requests):
        answer, _, body, elapsed = call("GET", path)
        if answer.status != 200 or marker not in body:
            fail(f"GET {path}: {answer.status}, {marker!r} {'missing' if marker not in body else 'present'}")
        times.append(elapsed * 1000)
    times.sort()
    pct = lambda p: times[max(0, math.ceil(p / 100 * len(times)) - 1)]  # nearest rank
    return {"n": len(times), "p50_ms": pct(50), "p95_ms": pct(95), "max_ms": times[-1],
            "mean_ms": statistics.fmean(times)}

def fresh_connections(path, n=50):
    """GET path on a new connection each time: the TLS handshake included, as a phone's
    first visit pays it."""
    global conn
    kept, times = conn, []
    for _ in range(n):
        conn = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx, timeout=30)
        answer, _, _, elapsed = call("GET", path)
        conn.close()
        if answer.status != 200:
            fail(f"GET {path} on a new connection: {answer.status}")
        times.append(elapsed * 1000)
    conn = kept
    times.sort()
    return {"n": n, "p50_ms": times[n // 2 - 1], "p95_ms": times[max(0, math.ceil(0.95 * n) - 1)]}

up_before = calls_up()
figures = {
    "dashboard": measure("/", b'id="queue-counts"'),
    "calls": measure("/calls", b'id="calls"'),
    "dashboard_new_connection": fresh_connections("/"),
    "first_calls_query_ms": first_query * 1000,
}
up_after = calls_up()
if min(up_before, up_after) < want_calls:
    fail(f"calls in progress fell to {min(up_before, up_after)} during the measurement")

# The dashboard as a browser loads it: the HTML and every same-origin stylesheet, script and
# image it names. Bytes on the wire (gzip when the box sends it) and unpacked.
answer, wire, html, _ = call("GET", "/")
assets = sorted(set(re.findall(rb'(?:href|src)="(/[^"]+\.(?:css|js|svg|png|ico|woff2?))"', html)))
transfer = {"html": {"wire": len(wire), "bytes": len(html),
                     "encoding": answer.getheader("Content-Encoding") or "identity"}}
for asset in assets:
    answer, wire, body, _ = call("GET", asset.decode())
    if answer.status != 200:
        fail(f"GET {asset.decode()}: {answer.status}")
    transfer[asset.decode()] = {"wire": len(wire), "bytes": len(body),
                                "encoding": answer.getheader("Content-Encoding") or "identity"}
figures["transfer"] = transfer
figures["transfer_total"] = {"wire": sum(v["wire"] for v in transfer.values()),
                             "bytes": sum(v["bytes"] for v in transfer.values())}
figures["calls_in_progress"] = [up_before, up_after]
figures["calls_stored"] = total
json.dump(figures, open(result_file, "w"), indent=2)
PY

daemon_cpu=$(awk '{printf "%.1f", ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/$daemon_pid/stat" 2>/dev/null || echo n/a)
alive=yes
kill -0 "$daemon_pid" 2>/dev/null || alive=no
cpu=$(grep -m1 -E 'model name|Model|CPU part' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
    echo "web page bench $(date -u +%Y-%m-%dT%H:%M:%SZ), callbox $(git rev-parse --short HEAD) ($bin)"
    if [ -f "$out/measure.json" ] && [ "$rc" -eq 0 ]; then
        python3 - "$out/measure.json" "$REQUESTS" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
for name, path in [("dashboard", "GET /"), ("calls", "GET /calls")]:
    m = f[name]
    print(f"  {path:<11} n={m['n']}  p50 {m['p50_ms']:.1f} ms  p95 {m['p95_ms']:.1f} ms  "
          f"max {m['max_ms']:.1f} ms  mean {m['mean_ms']:.1f} ms")
m = f["dashboard_new_connection"]
print(f"  GET / on a new TLS connection each: n={m['n']}  p50 {m['p50_ms']:.1f} ms  p95 {m['p95_ms']:.1f} ms")
print(f"  first calls query after start: {f['first_calls_query_ms']:.0f} ms")
t = f["transfer_total"]
print(f"  dashboard transfer: {t['wire']} bytes on the wire ({t['bytes']} unpacked):")
for item, v in f["transfer"].items():
    print(f"    {item:<18} {v['wire']:>7} bytes ({v['encoding']}; {v['bytes']} unpacked)")
print(f"  stored calls counted by the page: {f['calls_stored']}; "
      f"calls in progress before/after: {f['calls_in_progress'][0]}/{f['calls_in_progress'][1]}")
PY
    fi
    index=$(grep -m1 "call index built" "$out/callbox.log" | sed 's/.*INFO //' || true)
    echo "  at start:       ${index:-no \"call index built\" line in the log}"
    echo "  daemon CPU:     ${daemon_cpu} s user+sys since start (incl. start-up); alive: $alive"
    echo "  machine:        $cpu; nproc=$(nproc); $(uname -m); $(grep MemTotal /proc/meminfo | awk '{printf "%.0f GiB RAM", $2/1048576}')"
} | tee "$out/summary.txt"
if [ "$rc" -ne 0 ] || [ "$alive" != yes ]; then
    echo "web bench: FAILED (daemon log: $out/callbox.log, sipp: $out/sipp.out)"
    exit 1
fi
echo "web bench: OK"
