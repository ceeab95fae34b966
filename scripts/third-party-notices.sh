#!/usr/bin/env bash
# The Rust crates compiled into callbox (normal dependencies for the x86_64 and aarch64 Linux
# targets), with their versions, licences and sources, written between the markers of
# THIRD-PARTY-NOTICES.md, then their licence texts to THIRD-PARTY-LICENCES.txt
# (scripts/third-party-licences.py). `--check` only compares and fails when either is stale
# (after a dependency change: run this script and commit both files).
set -euo pipefail
cd "$(dirname "$0")/.."
file=THIRD-PARTY-NOTICES.md
begin='<!-- crates: begin (scripts/third-party-notices.sh) -->'
end='<!-- crates: end -->'

table=$(
    echo '| crate | version | licence | source |'
    echo '| --- | --- | --- | --- |'
    cargo tree --locked -e normal --prefix none -f '{p}|{l}|{r}' \
        --target x86_64-unknown-linux-gnu --target aarch64-unknown-linux-gnu |
        sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u |
        awk -F'|' '$1 !~ /^callbox / && NF >= 2 {
            split($1, p, " "); v = p[2]; sub(/^v/, "", v)
            src = ($3 == "") ? "crates.io" : $3
            printf "| %s | %s | %s | %s |\n", p[1], v, $2, src
        }'
)
new=$(awk -v b="$begin" -v e="$end" -v t="$table" '
    $0 == b { print; print t; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$file")
if [ "${1:-}" = --check ]; then
    if [ "$new" != "$(cat "$file")" ]; then
        echo "$file: the crate list is stale; run scripts/third-party-notices.sh and commit it" >&2
        diff <(cat "$file") <(echo "$new") | head -20 >&2 || true
        exit 1
    fi
    echo "$file: the crate list is current"
    exec python3 scripts/third-party-licences.py --check
fi
printf '%s\n' "$new" >"$file"
exec python3 scripts/third-party-licences.py
