#!/usr/bin/env bash
# The README's test command: on a fresh Debian 12 machine with the Rust toolchain, install the
# SIP/audio tools the tests drive the daemon with and the browser the web page's tests drive
# (Debian's chromium, playwright-core from npm), then build and run every test: unit tests,
# and the integration tests in tests/ that start the real `callbox` binary and call it with
# sipp and baresip over 127.0.0.1, or open its web page in headless Chromium.
#
# .ci/run calls this same script, so the README and CI cannot drift apart.
# Extra arguments go to `cargo test` (e.g. `scripts/setup-and-test.sh --test sip_calls`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-test-deps.sh
bash scripts/install-browser-deps.sh
export CALLBOX_TEST_VOSK_MODEL=${CALLBOX_TEST_VOSK_MODEL:-$(bash scripts/install-test-model.sh)}

# Unit tests, integration tests and doc tests. Within a test binary the tests run one at a
# time (they start daemons and sipp; RTP timing is part of what they check): one test thread.
# With no arguments the test binaries run in two lanes at once (CALLBOX_TEST_LANES=1: one):
# the calls that spend most of their time in real call time (spoken prompts, silences, ring
# timers, injected outage waits) in one, everything else in the other; the wall time is the
# longer lane's instead of the sum (.ci/run's test step: 30 -> 20 min on 2 cores).
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-1}
# The real-call lane: mostly waiting on call time, little CPU.
realtime_lane=(dialog_sip bridge_daemon paging_daemon speech_sip survey sip_outbound sync_faults)

if [ $# -gt 0 ] || [ "${CALLBOX_TEST_LANES:-2}" = 1 ]; then
    exec cargo test --locked --no-fail-fast "$@"
fi

# Build every test first (one build, both lanes' binaries), then run the lanes.
cargo test --locked --no-run
other_lane=()
for f in tests/*.rs; do
    name=$(basename "$f" .rs)
    case " ${realtime_lane[*]} " in
        *" $name "*) ;;
        *) other_lane+=(--test "$name") ;;
    esac
done
lane_log=$(mktemp "${TMPDIR:-/tmp}/callbox-realtime-lane.XXXXXX")
trap 'rm -f "$lane_log"' EXIT
realtime_args=()
for name in "${realtime_lane[@]}"; do realtime_args+=(--test "$name"); done
cargo test --locked --no-fail-fast "${realtime_args[@]}" >"$lane_log" 2>&1 &
realtime_pid=$!
rc=0
cargo test --locked --no-fail-fast --lib --bins "${other_lane[@]}" || rc=$?
cargo test --locked --no-fail-fast --doc || rc=$?
wait "$realtime_pid" || rc=$?
echo
echo "================ real-call lane (${realtime_lane[*]}) ================"
cat "$lane_log"
exit $rc
