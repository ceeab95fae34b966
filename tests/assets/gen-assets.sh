#!/usr/bin/env bash
# Generate the audio and RTP assets the integration tests play, into OUTDIR.
# Needs espeak-ng, sox and python3 (scripts/install-test-deps.sh installs them).
# Nothing here is committed: every file is rebuilt from this script.
#
#   speech.wav      "Hello, my furnace is not working" — 8 kHz mono 16-bit, padded to whole 20 ms frames
#   speech.ulaw     the same as raw G.711 µ-law, for sipp's rtp_stream (PT 0)
#   speech_ref.wav  speech.ulaw decoded back to 16-bit: what the box should record
#   speech.alaw, speech_ref_alaw.wav   the same for G.711 A-law (PT 8)
#   dtmf456.ulaw    in-band DTMF 4, 5, 6 as raw µ-law (no telephone-events)
#   dtmf123.pcap    RFC 4733 telephone-events 1, 2, 3 (PT 101) with PCMU silence around them
#   dtmf_pound.pcap RFC 4733 '#'
#   silence.pcap    2 s of PCMU silence (keeps RTP flowing while DTMF goes by SIP INFO)
#   dtmf1.pcap, dtmf2.pcap  RFC 4733 '1' / '2' (a technician accepting / passing a page)
#   dtmf4.pcap      RFC 4733 '4' (a customer rating a survey call)
#   tone.wav        3 s 440 Hz, 8 kHz mono 16-bit (baresip's audio source)
set -euo pipefail
out=${1:?usage: gen-assets.sh OUTDIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in espeak-ng sox python3; do
    command -v "$tool" >/dev/null || { echo "gen-assets: $tool not found (run scripts/install-test-deps.sh)" >&2; exit 1; }
done

# --- speech -------------------------------------------------------------
espeak-ng -v en-us -s 150 -w "$tmp/speech_raw.wav" "Hello, my furnace is not working"
sox "$tmp/speech_raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$tmp/speech8k.wav" norm -3
# pad to a whole number of 160-sample frames so rtp_stream sends no partial packet
samples=$(soxi -s "$tmp/speech8k.wav")
pad=$(( (160 - samples % 160) % 160 ))
sox "$tmp/speech8k.wav" "$out/speech.wav" pad 0 "${pad}s"
sox "$out/speech.wav" -t ul -r 8000 -c 1 "$out/speech.ulaw"
sox -t ul -r 8000 -c 1 "$out/speech.ulaw" -b 16 -e signed-integer "$out/speech_ref.wav"
sox "$out/speech.wav" -t al -r 8000 -c 1 "$out/speech.alaw"
sox -t al -r 8000 -c 1 "$out/speech.alaw" -b 16 -e signed-integer "$out/speech_ref_alaw.wav"

# --- in-band DTMF 4 5 6: 150 ms tone, 150 ms silence, 500 ms lead-in/out --
declare -A low=([4]=770 [5]=770 [6]=770) high=([4]=1209 [5]=1336 [6]=1477)
parts=("$tmp/sil500.wav")
sox -n -r 8000 -c 1 -b 16 "$tmp/sil500.wav" trim 0 0.5
sox -n -r 8000 -c 1 -b 16 "$tmp/sil150.wav" trim 0 0.15
for d in 4 5 6; do
    sox -n -r 8000 -c 2 -b 16 "$tmp/pair$d.wav" synth 0.15 sine "${low[$d]}" sine "${high[$d]}"
    sox "$tmp/pair$d.wav" -c 1 "$tmp/tone$d.wav" remix 1v0.35,2v0.35
    parts+=("$tmp/tone$d.wav" "$tmp/sil150.wav")
done
parts+=("$tmp/sil500.wav")
sox "${parts[@]}" "$tmp/dtmf456.wav"
sox "$tmp/dtmf456.wav" -t ul -r 8000 -c 1 "$out/dtmf456.ulaw"

# --- RFC 4733 telephone-events -------------------------------------------
python3 "$here/rtp_pcap.py" "$out/dtmf123.pcap" 123
python3 "$here/rtp_pcap.py" "$out/dtmf_pound.pcap" '#' --lead-ms 300 --tail-ms 300
python3 "$here/rtp_pcap.py" "$out/silence.pcap" '' --lead-ms 1000 --tail-ms 1000
# the technician's answer to a page call (tests/sip_outbound.rs): 1 accepts, 2 passes;
# 4 is a customer's rating on a survey call (tests/survey.rs)
python3 "$here/rtp_pcap.py" "$out/dtmf1.pcap" 1 --lead-ms 300 --tail-ms 2000
python3 "$here/rtp_pcap.py" "$out/dtmf2.pcap" 2 --lead-ms 300 --tail-ms 2000
python3 "$here/rtp_pcap.py" "$out/dtmf4.pcap" 4 --lead-ms 300 --tail-ms 2000

# --- a plain tone for baresip -------------------------------------------
sox -n -r 8000 -c 1 -b 16 "$out/tone.wav" synth 3 sine 440 vol 0.5

echo "gen-assets: wrote $(ls "$out" | wc -l) files to $out"
