//! A small RTP peer for tests and benches that measure the box's audio on the wire: it plays
//! the caller's side (scripted speech, optionally mixed with an echo of what the box sends)
//! as PCMU at real time, and records every packet the box sends with its arrival time.
//!
//! sipp does the call control; its SDP points the box's RTP at this peer's port
//! (tests/sipp/call_external_media.xml, `-set rtp_port`).

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use callbox::telephony::g711;

pub const FRAME: usize = 160;
pub const TICK: Duration = Duration::from_millis(20);

/// One packet the box sent.
#[derive(Debug, Clone)]
pub struct BoxPacket {
    pub at: Instant,
    pub seq: u16,
    pub samples: Vec<i16>,
}

impl BoxPacket {
    pub fn energy_db(&self) -> f64 {
        energy_db(&self.samples)
    }
}

/// Energy of samples in dBFS.
pub fn energy_db(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return -100.0;
    }
    let mean = samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>()
        / samples.len() as f64
        / (32768.0 * 32768.0);
    if mean <= 1e-10 {
        -100.0
    } else {
        10.0 * mean.log10()
    }
}

/// What the caller sends and how the line behaves.
pub struct CallerScript {
    /// 8 kHz caller speech, sent from the first tick (silence after it ends).
    pub speech: Vec<i16>,
    /// Echo of the box's audio mixed into the caller's stream: (gain in dB, delay).
    pub echo: Option<(f64, Duration)>,
    /// How long to run after the first packet from the box.
    pub duration: Duration,
}

/// What happened on the wire.
pub struct Exchange {
    /// When each caller frame was sent, with its samples.
    pub sent: Vec<(Instant, Vec<i16>)>,
    pub received: Vec<BoxPacket>,
}

impl Exchange {
    /// Send time of the first caller frame at or above `threshold_db` at or after `from`.
    pub fn first_loud_sent(&self, from: usize, threshold_db: f64) -> Option<(usize, Instant)> {
        self.sent
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, (_, s))| energy_db(s) >= threshold_db)
            .map(|(i, (t, _))| (i, *t))
    }
}

pub struct RtpPeer {
    socket: UdpSocket,
    pub port: u16,
}

impl RtpPeer {
    /// Binds an even port on 127.0.0.1 (RTP convention; the box does not care).
    pub fn bind() -> RtpPeer {
        for _ in 0..200 {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
            let port = socket.local_addr().expect("addr").port();
            if port % 2 == 0 {
                return RtpPeer { socket, port };
            }
            if let Ok(socket) = UdpSocket::bind(("127.0.0.1", port + 1)) {
                return RtpPeer {
                    socket,
                    port: port + 1,
                };
            }
        }
        panic!("no even UDP port on 127.0.0.1");
    }

    /// Waits (up to `wait`) for the box's first packet, then sends the script at real time
    /// and records the box's packets until `script.duration` has passed.
    pub fn run(&self, script: &CallerScript, wait: Duration) -> Exchange {
        self.socket
            .set_read_timeout(Some(Duration::from_millis(2)))
            .expect("timeout");
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + wait;
        let mut received = Vec::new();
        let remote: SocketAddr = loop {
            if Instant::now() > deadline {
                panic!(
                    "the box sent no RTP to 127.0.0.1:{} within {wait:?}",
                    self.port
                );
            }
            if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                if let Some(p) = parse(&buf[..n]) {
                    received.push(p);
                    break from;
                }
            }
        };
        let start = Instant::now();
        let end = start + script.duration;
        let mut next_tick = start;
        let mut tick = 0usize;
        let mut sent = Vec::new();
        let mut echo_queue: VecDeque<BoxPacket> = received.iter().cloned().collect();
        let ssrc = 0x1234_5678u32;
        let mut seq = 1000u16;
        let mut ts = 0u32;
        while Instant::now() < end {
            let now = Instant::now();
            if now >= next_tick {
                let mut frame = vec![0i16; FRAME];
                if let Some(chunk) = script.speech.chunks(FRAME).nth(tick) {
                    frame[..chunk.len()].copy_from_slice(chunk);
                }
                if let Some((gain_db, delay)) = script.echo {
                    let g = 10f64.powf(gain_db / 20.0);
                    // The oldest box frame that has been on the line for `delay`.
                    if echo_queue
                        .front()
                        .is_some_and(|p| now.duration_since(p.at) >= delay)
                    {
                        if let Some(p) = echo_queue.pop_front() {
                            for (f, s) in frame.iter_mut().zip(&p.samples) {
                                *f = f.saturating_add((f64::from(*s) * g) as i16);
                            }
                        }
                    }
                }
                let mut packet = vec![0x80, 0x00];
                packet.extend_from_slice(&seq.to_be_bytes());
                packet.extend_from_slice(&ts.to_be_bytes());
                packet.extend_from_slice(&ssrc.to_be_bytes());
                packet.extend(frame.iter().map(|&s| g711::ulaw_encode(s)));
                let _ = self.socket.send_to(&packet, remote);
                sent.push((Instant::now(), frame));
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(FRAME as u32);
                tick += 1;
                next_tick += TICK;
            }
            if let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                if let Some(p) = parse(&buf[..n]) {
                    echo_queue.push_back(p.clone());
                    received.push(p);
                }
            }
        }
        Exchange { sent, received }
    }
}

fn parse(datagram: &[u8]) -> Option<BoxPacket> {
    if datagram.len() < 12 || datagram[0] >> 6 != 2 {
        return None;
    }
    let pt = datagram[1] & 0x7F;
    if pt != 0 {
        return None;
    }
    let cc = usize::from(datagram[0] & 0x0F);
    let payload = datagram.get(12 + 4 * cc..)?;
    Some(BoxPacket {
        at: Instant::now(),
        seq: u16::from_be_bytes([datagram[2], datagram[3]]),
        samples: payload.iter().map(|&b| g711::ulaw_decode(b)).collect(),
    })
}
