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

# Unit tests, integration tests and doc tests. The integration tests start daemons and sipp
# one at a time (2 shared cores; RTP timing is part of what they check): one test thread.
export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-1}
cargo test --locked --no-fail-fast "$@"
