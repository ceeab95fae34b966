//! RTP (RFC 3550) packet parsing and writing, bounds-checked and in-house.
//!
//! Everything here is sans-IO: bytes in, a borrowed view out. Parsing never panics on any
//! input (a randomized test below pushes 200k mutated buffers through it), because every byte
//! it sees comes off the network.

use thiserror::Error;

/// Fixed RTP header length, before CSRCs and extension.
pub const HEADER_LEN: usize = 12;
/// The only RTP version in use.
pub const RTP_VERSION: u8 = 2;

/// Why a datagram is not a usable RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("datagram of {0} bytes is shorter than an RTP header")]
    TooShort(usize),
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    #[error("CSRC list of {count} entries runs past the end of the datagram")]
    BadCsrc { count: u8 },
    #[error("header extension runs past the end of the datagram")]
    BadExtension,
    #[error("padding count {count} does not fit a payload of {available} bytes")]
    BadPadding { count: u8, available: usize },
    /// An RTCP packet multiplexed onto the RTP port (RFC 5761); not audio.
    #[error("RTCP packet type {packet_type} on the RTP port")]
    Rtcp { packet_type: u8 },
}

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub version: u8,
    pub padding: bool,
    pub extension: bool,
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub csrc_count: u8,
    /// Payload with CSRCs, extension and padding removed.
    pub payload: &'a [u8],
}

/// True when a datagram on the RTP port is RTCP (RFC 5761 §4): version 2 and a second byte of
/// 192–223, i.e. what would be RTP payload types 64–95 with the marker bit — SR (200) and RR
/// (201) show up as "PT 72/73 with marker". No audio codec uses those payload types.
pub fn looks_like_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && datagram[0] >> 6 == RTP_VERSION && (192..=223).contains(&datagram[1])
}

impl<'a> RtpPacket<'a> {
    /// Parses one datagram. Never panics; all length arithmetic is checked.
    pub fn parse(datagram: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if datagram.len() < HEADER_LEN {
            return Err(RtpError::TooShort(datagram.len()));
        }
        let b0 = datagram[0];
        let b1 = datagram[1];
        let version = b0 >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        if looks_like_rtcp(datagram) {
            return Err(RtpError::Rtcp { packet_type: b1 });
        }
        let padding = b0 & 0x20 != 0;
        let extension = b0 & 0x10 != 0;
        let csrc_count = b0 & 0x0F;
        let marker = b1 & 0x80 != 0;
        let payload_type = b1 & 0x7F;
        let sequence = u16::from_be_bytes([datagram[2], datagram[3]]);
        let timestamp = u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]);
        let ssrc = u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]);

        let mut offset = HEADER_LEN + 4 * usize::from(csrc_count);
        if offset > datagram.len() {
            return Err(RtpError::BadCsrc { count: csrc_count });
        }
        if extension {
            // 4-byte extension header (profile, length in 32-bit words), then the words.
            let header = datagram
                .get(offset..offset + 4)
                .ok_or(RtpError::BadExtension)?;
            let words = usize::from(u16::from_be_bytes([header[2], header[3]]));
            offset = offset
                .checked_add(4 + 4 * words)
                .filter(|&end| end <= datagram.len())
                .ok_or(RtpError::BadExtension)?;
        }
        let mut payload = &datagram[offset..];
        if padding {
            // The last byte counts the padding, itself included; zero is invalid.
            let count = *payload.last().ok_or(RtpError::BadPadding {
                count: 0,
                available: 0,
            })?;
            let pad = usize::from(count);
            if pad == 0 || pad > payload.len() {
                return Err(RtpError::BadPadding {
                    count,
                    available: payload.len(),
                });
            }
            payload = &payload[..payload.len() - pad];
        }
        Ok(RtpPacket {
            version,
            padding,
            extension,
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrc_count,
            payload,
        })
    }

    /// The header fields needed to reply in kind or re-serialise.
    pub fn header(&self) -> RtpHeader {
        RtpHeader {
            marker: self.marker,
            payload_type: self.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        }
    }
}

/// The header of a packet the box sends: no padding, extension or CSRCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    /// 7 bits; higher bits are masked off when writing.
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Appends header and payload to `out` (cleared first), ready for `send_to`.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(HEADER_LEN + payload.len());
        out.push(RTP_VERSION << 6);
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(payload);
    }
}

/// Signed distance from sequence number `from` to `to`, modulo 2^16 (positive: `to` is newer).
#[inline]
pub fn seq_delta(from: u16, to: u16) -> i16 {
    to.wrapping_sub(from) as i16
}

/// Largest forward sequence jump still counted as the same stream (RFC 3550 A.1).
const MAX_DROPOUT: u16 = 3000;
/// Largest backward jump treated as reordering rather than a restart (RFC 3550 A.1).
const MAX_MISORDER: u16 = 100;

/// Receive-side loss accounting per RFC 3550 A.1/A.3: extended highest sequence, expected and
/// received counts, so "lost" in the call log means what RTCP receivers report.
#[derive(Debug, Clone, Default)]
pub struct SequenceTracker {
    started: bool,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    received: u64,
    /// `seq + 1` of a packet after a large jump, awaiting confirmation of a restart.
    bad_seq: Option<u16>,
    /// Loss accumulated before restarts.
    lost_before: i64,
}

impl SequenceTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an arriving sequence number. Returns false for a packet outside the
    /// accepted window (a lone stray; two in a row from a new run restart the count).
    pub fn record(&mut self, seq: u16) -> bool {
        if !self.started {
            self.restart(seq);
            return true;
        }
        let delta = seq.wrapping_sub(self.max_seq);
        if delta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(1 << 16);
            }
            self.max_seq = seq;
        } else if delta <= u16::MAX - MAX_MISORDER {
            // A big jump: the sender restarted, or a stray. Restart only on a second in-order one.
            if self.bad_seq == Some(seq) {
                self.lost_before += self.lost();
                self.restart(seq);
                return true;
            }
            self.bad_seq = Some(seq.wrapping_add(1));
            return false;
        }
        // else: duplicate or reordered; counted as received like RFC 3550 does.
        self.received += 1;
        true
    }

    fn restart(&mut self, seq: u16) {
        self.started = true;
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.cycles = 0;
        self.received = 1;
        self.bad_seq = None;
    }

    /// Packets expected since the first one, from the extended highest sequence number.
    pub fn expected(&self) -> u64 {
        if !self.started {
            return 0;
        }
        let extended = u64::from(self.cycles) + u64::from(self.max_seq);
        (extended + 1).saturating_sub(u64::from(self.base_seq))
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative loss (negative when duplicates outnumber losses, as in RFC 3550).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Cumulative loss including runs before any sequence restart.
    pub fn total_lost(&self) -> i64 {
        self.lost_before + self.lost()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            marker,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc,
        }
        .write(payload, &mut out);
        out
    }

    #[test]
    fn round_trips_a_header() {
        let bytes = packet(true, 0, 0xFFFE, 0xDEAD_BEEF, 0x1234_5678, &[1, 2, 3]);
        assert_eq!(&bytes[..2], &[0x80, 0x80]);
        let p = RtpPacket::parse(&bytes).expect("valid");
        assert_eq!(p.version, 2);
        assert!(p.marker && !p.padding && !p.extension);
        assert_eq!(p.payload_type, 0);
        assert_eq!(p.sequence, 0xFFFE);
        assert_eq!(p.timestamp, 0xDEAD_BEEF);
        assert_eq!(p.ssrc, 0x1234_5678);
        assert_eq!(p.csrc_count, 0);
        assert_eq!(p.payload, &[1, 2, 3]);
        let mut again = Vec::new();
        p.header().write(p.payload, &mut again);
        assert_eq!(again, bytes);
    }

    #[test]
    fn write_masks_payload_type_and_clears_buffer() {
        let mut out = vec![9; 50];
        RtpHeader {
            marker: false,
            payload_type: 0xFF,
            sequence: 1,
            timestamp: 2,
            ssrc: 3,
        }
        .write(&[], &mut out);
        assert_eq!(out.len(), HEADER_LEN);
        assert_eq!(out[1], 0x7F);
    }

    #[test]
    fn crafted_extension_packet_that_panics_webrtc_rtp_parses() {
        let bytes = [
            0x90, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xBE, 0xDE,
            0x00, 0x01, 0x1F, 0x00, 0x00, 0x00,
        ];
        let p = RtpPacket::parse(&bytes).expect("valid packet with one-word extension");
        assert!(p.extension);
        assert_eq!(p.sequence, 1);
        assert_eq!(p.ssrc, 1);
        assert!(p.payload.is_empty());
    }

    #[test]
    fn skips_csrcs_and_extension() {
        let mut bytes = vec![0x92, 0x08, 0, 7, 0, 0, 0, 160, 0, 0, 0, 42];
        bytes.extend_from_slice(&[0xAA; 8]); // two CSRCs
        bytes.extend_from_slice(&[0xBE, 0xDE, 0x00, 0x02]);
        bytes.extend_from_slice(&[0xCC; 8]); // two extension words
        bytes.extend_from_slice(&[5, 6, 7]);
        let p = RtpPacket::parse(&bytes).expect("valid");
        assert_eq!(p.csrc_count, 2);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.payload, &[5, 6, 7]);
    }

    #[test]
    fn rejects_truncated_headers() {
        assert_eq!(RtpPacket::parse(&[]), Err(RtpError::TooShort(0)));
        assert_eq!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::TooShort(11)));
        // CC = 15 needs 60 more bytes.
        let mut bytes = vec![0x8F, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        bytes.extend_from_slice(&[0; 20]);
        assert_eq!(
            RtpPacket::parse(&bytes),
            Err(RtpError::BadCsrc { count: 15 })
        );
        // Extension flag with no room for the extension header.
        let bytes = [0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE];
        assert_eq!(RtpPacket::parse(&bytes), Err(RtpError::BadExtension));
        // Extension length of 0xFFFF words.
        let bytes = [
            0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0xFF, 0xFF, 1,
        ];
        assert_eq!(RtpPacket::parse(&bytes), Err(RtpError::BadExtension));
    }

    #[test]
    fn rejects_other_versions() {
        let mut bytes = packet(false, 0, 1, 1, 1, &[0; 4]);
        bytes[0] = 0x40;
        assert_eq!(RtpPacket::parse(&bytes), Err(RtpError::BadVersion(1)));
        bytes[0] = 0x00; // e.g. a STUN packet
        assert_eq!(RtpPacket::parse(&bytes), Err(RtpError::BadVersion(0)));
    }

    #[test]
    fn strips_padding_and_rejects_bad_counts() {
        let mut bytes = packet(false, 0, 1, 1, 1, &[1, 2, 3, 0, 0, 3]);
        bytes[0] |= 0x20;
        let p = RtpPacket::parse(&bytes).expect("valid padding");
        assert!(p.padding);
        assert_eq!(p.payload, &[1, 2, 3]);
        let last = bytes.len() - 1;
        bytes[last] = 0;
        assert!(matches!(
            RtpPacket::parse(&bytes),
            Err(RtpError::BadPadding { count: 0, .. })
        ));
        bytes[last] = 7;
        assert!(matches!(
            RtpPacket::parse(&bytes),
            Err(RtpError::BadPadding { count: 7, .. })
        ));
        // Padding flag on a header with no payload at all.
        let mut bare = packet(false, 0, 1, 1, 1, &[]);
        bare[0] |= 0x20;
        assert!(matches!(
            RtpPacket::parse(&bare),
            Err(RtpError::BadPadding { .. })
        ));
    }

    #[test]
    fn recognises_rtcp_on_the_rtp_port() {
        // RTCP receiver report: V=2, RC=1, PT=201, length 7.
        let rr = [
            0x81, 201, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0,
        ];
        assert!(looks_like_rtcp(&rr));
        assert_eq!(
            RtpPacket::parse(&rr),
            Err(RtpError::Rtcp { packet_type: 201 })
        );
        let sr = [0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0];
        assert!(looks_like_rtcp(&sr));
        // PT 8 with marker is audio, not RTCP.
        assert!(!looks_like_rtcp(&packet(true, 8, 1, 1, 1, &[0])));
        assert!(!looks_like_rtcp(&[0x80]));
    }

    #[test]
    fn seq_delta_wraps() {
        assert_eq!(seq_delta(65535, 0), 1);
        assert_eq!(seq_delta(0, 65535), -1);
        assert_eq!(seq_delta(100, 90), -10);
    }

    #[test]
    fn tracker_counts_loss_across_wraparound() {
        let mut t = SequenceTracker::new();
        for seq in (65530u16..=65535).chain(0..10) {
            if seq == 65533 || seq == 2 {
                continue; // lost
            }
            assert!(t.record(seq));
        }
        assert_eq!(t.expected(), 16);
        assert_eq!(t.received(), 14);
        assert_eq!(t.lost(), 2);
    }

    #[test]
    fn tracker_needs_two_packets_to_accept_a_restart() {
        let mut t = SequenceTracker::new();
        for seq in 100..110 {
            t.record(seq);
        }
        assert!(!t.record(40_000), "lone stray is rejected");
        assert!(t.record(110), "stream continues");
        assert!(!t.record(50_000));
        assert!(t.record(50_001), "second in a row restarts");
        assert!(t.record(50_003));
        assert_eq!(t.lost(), 1);
        assert_eq!(t.total_lost(), 1);
    }

    /// xorshift64*: deterministic, dependency-free randomness for the no-panic test.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    #[test]
    fn parse_never_panics_on_random_or_mutated_input() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let seed = packet(true, 0, 1, 160, 7, &[0x55; 40]);
        let mut buf = Vec::with_capacity(128);
        let mut parsed = 0u32;
        for i in 0..200_000u32 {
            buf.clear();
            if i % 2 == 0 {
                let len = (rng.next() % 100) as usize;
                buf.extend((0..len).map(|_| rng.next() as u8));
                if let Some(b) = buf.first_mut() {
                    *b = (*b & 0x3F) | 0x80; // mostly version 2
                }
            } else {
                buf.extend_from_slice(&seed);
                for _ in 0..(rng.next() % 4 + 1) {
                    let at = (rng.next() as usize) % buf.len();
                    buf[at] = rng.next() as u8;
                }
                buf.truncate((rng.next() as usize) % (seed.len() + 1));
            }
            if let Ok(p) = RtpPacket::parse(&buf) {
                assert!(p.payload.len() <= buf.len());
                parsed += 1;
            }
        }
        assert!(
            parsed > 1000,
            "the mutator should still produce valid packets"
        );
    }
}
