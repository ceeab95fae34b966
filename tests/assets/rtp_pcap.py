#!/usr/bin/env python3
"""Write a pcap of RTP packets for sipp's <exec play_pcap_audio="..."/>.

Stdlib only. The stream is PCMU (PT 0) silence in 20 ms packets, with RFC 4733
telephone-event packets (PT 101 by default) for each requested digit, the way an
ATA sends them: the audio stops during the event, event packets every 20 ms carry
the event's start timestamp and a growing duration, and the end packet (E bit)
is sent three times. sipp rewrites the UDP ports, so the addresses here are
placeholders (127.0.0.1:10000 -> 127.0.0.1:20000).

usage: rtp_pcap.py OUT.pcap DIGITS [--pt 101] [--lead-ms 500] [--tone-ms 160]
                   [--gap-ms 300] [--tail-ms 500]
"""
import argparse
import struct

EVENTS = {d: i for i, d in enumerate("0123456789*#")}
EVENTS.update({"A": 12, "B": 13, "C": 14, "D": 15})
PTIME_MS = 20
SAMPLES = 160  # per 20 ms at 8 kHz
ULAW_SILENCE = b"\xff" * SAMPLES


def ip_checksum(header: bytes) -> int:
    total = 0
    for i in range(0, len(header), 2):
        total += (header[i] << 8) + header[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def frame(payload: bytes) -> bytes:
    src, dst = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])
    udp = struct.pack("!HHHH", 10000, 20000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    eth = b"\x00" * 12 + b"\x08\x00"
    return eth + ip + udp


class Stream:
    def __init__(self, pt_event: int):
        self.pt_event = pt_event
        self.seq = 1000
        self.ts = 16000
        self.ssrc = 0x4CA11B0C
        self.t_ms = 0
        self.packets = []  # (time_ms, bytes)

    def rtp(self, pt: int, marker: bool, ts: int, payload: bytes) -> None:
        hdr = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq & 0xFFFF, ts & 0xFFFFFFFF, self.ssrc)
        self.packets.append((self.t_ms, hdr + payload))
        self.seq += 1

    def silence(self, ms: int) -> None:
        for _ in range(max(ms // PTIME_MS, 0)):
            self.rtp(0, False, self.ts, ULAW_SILENCE)
            self.ts += SAMPLES
            self.t_ms += PTIME_MS

    def digit(self, digit: str, ms: int) -> None:
        event = EVENTS[digit.upper()]
        start_ts = self.ts
        n = max(ms // PTIME_MS, 1)
        volume = 10
        for i in range(1, n + 1):
            duration = i * SAMPLES
            payload = struct.pack("!BBH", event, volume & 0x3F, duration)
            self.rtp(self.pt_event, i == 1, start_ts, payload)
            if i < n:
                self.t_ms += PTIME_MS
        end = struct.pack("!BBH", event, 0x80 | (volume & 0x3F), n * SAMPLES)
        for _ in range(3):  # end packet, retransmitted twice (RFC 4733 2.5.1.4)
            self.rtp(self.pt_event, False, start_ts, end)
        self.t_ms += PTIME_MS
        self.ts = start_ts + n * SAMPLES


def write_pcap(path: str, packets) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # DLT_EN10MB
        base = 1_700_000_000
        for t_ms, rtp in packets:
            data = frame(rtp)
            sec, usec = base + t_ms // 1000, (t_ms % 1000) * 1000
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)))
            f.write(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("digits")
    ap.add_argument("--pt", type=int, default=101)
    ap.add_argument("--lead-ms", type=int, default=500)
    ap.add_argument("--tone-ms", type=int, default=160)
    ap.add_argument("--gap-ms", type=int, default=300)
    ap.add_argument("--tail-ms", type=int, default=500)
    args = ap.parse_args()
    s = Stream(args.pt)
    s.silence(args.lead_ms)
    for d in args.digits:
        s.digit(d, args.tone_ms)
        s.silence(args.gap_ms)
    s.silence(args.tail_ms)
    write_pcap(args.out, s.packets)


if __name__ == "__main__":
    main()
