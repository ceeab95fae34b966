#!/bin/sh
# Rebuilds us-zip-cities.tsv.gz from GeoNames' US postal-code export (US.txt, from
# https://download.geonames.org/export/zip/US.zip): one line per ZIP, "ZIP<TAB>City<TAB>ST",
# sorted by ZIP; military APO/FPO rows (no state) left out; the first place of a ZIP kept.
# Usage: assets/zip/build.sh path/to/US.txt
set -eu
src=${1:?usage: build.sh US.txt}
out=$(dirname "$0")/us-zip-cities.tsv.gz
LC_ALL=C awk -F'\t' '$5 != "" && $2 ~ /^[0-9][0-9][0-9][0-9][0-9]$/ { print $2 "\t" $3 "\t" $5 }' "$src" \
  | LC_ALL=C sort -s -t "$(printf '\t')" -k1,1 -u \
  | gzip -9 -n > "$out"
echo "$out: $(gzip -dc "$out" | wc -l) ZIPs, $(wc -c < "$out") bytes"
