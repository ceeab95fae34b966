//! A small RTP peer for tests and benches that measure the box's audio on the wire: it plays
//! the caller's side (scripted speech, optionally mixed with an echo of what the box sends)
//! as PCMU at real time, and records every packet the box sends with its arrival time.
//!
//! sipp does the call control; its SDP points the box's RTP at this peer's port
//! (tests/sipp/call_external_media.xml, `-set rtp_port`).

use std::collections::BTreeMap;
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
    /// RTP timestamp (8 kHz units): where the box put this frame on its media clock.
    pub ts: u32,
    pub samples: Vec<i16>,
}

impl BoxPacket {
    pub fn energy_db(&self) -> f64 {
        energy_db(&self.samples)
    }
}

/// The index of the last 20 ms frame of `samples` at or above `db` dBFS.
pub fn last_frame_at_or_above(samples: &[i16], db: f64) -> Option<usize> {
    (0..samples.len().div_ceil(160))
        .rev()
        .find(|&i| energy_db(&samples[i * 160..((i + 1) * 160).min(samples.len())]) >= db)
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
    /// Echo of the box's audio mixed into the caller's stream: (gain in dB, delay). The line
    /// plays the box's packets out on their RTP timestamps, like an ATA's fixed playout
    /// buffer, and returns each one `delay` (rounded up to whole frames) after its place on
    /// that clock; a packet that reaches the peer after its echo was due is lost to the echo,
    /// as a late packet is at an ATA. So a stall of the box or of this peer never stretches
    /// the echo's delay (a hybrid's echo delay is fixed).
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
        // Echo samples by the caller tick they go out on; the first box packet is tick 0.
        let first_ts = received[0].ts;
        let echo_ticks = script
            .echo
            .map(|(_, delay)| delay.as_micros().div_ceil(TICK.as_micros()) as usize);
        let mut echo_at: BTreeMap<usize, Vec<i16>> = BTreeMap::new();
        let schedule_echo =
            |echo_at: &mut BTreeMap<usize, Vec<i16>>, p: &BoxPacket, tick: usize| {
                let Some(delay_ticks) = echo_ticks else {
                    return;
                };
                let offset = p.ts.wrapping_sub(first_ts);
                // Timestamps before the first packet's (wrapped) are not on this call's clock.
                if offset > u32::MAX / 2 {
                    return;
                }
                let due = offset as usize / FRAME + delay_ticks;
                if due >= tick {
                    echo_at.insert(due, p.samples.clone());
                }
            };
        schedule_echo(&mut echo_at, &received[0], 0);
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
                if let Some((gain_db, _)) = script.echo {
                    let g = 10f64.powf(gain_db / 20.0);
                    if let Some(echo) = echo_at.remove(&tick) {
                        for (f, s) in frame.iter_mut().zip(&echo) {
                            *f = f.saturating_add((f64::from(*s) * g) as i16);
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
            // Everything that has arrived (after a stall, more than one packet).
            while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                if let Some(p) = parse(&buf[..n]) {
                    schedule_echo(&mut echo_at, &p, tick);
                    received.push(p);
                }
                if Instant::now() >= next_tick {
                    break;
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
        ts: u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]),
        samples: payload.iter().map(|&b| g711::ulaw_decode(b)).collect(),
    })
}

/// One thing the caller does when the box has finished a prompt.
#[derive(Debug, Clone)]
pub enum CallerStep {
    /// Press a key (RFC 4733 telephone-event, payload type 101).
    Key(char),
    /// Say this (8 kHz samples).
    Speak(Vec<i16>),
}

/// What an interactive caller saw.
pub struct IvrExchange {
    /// When each step was taken.
    pub steps_at: Vec<Instant>,
    pub received: Vec<BoxPacket>,
    /// Steps not taken because the box stopped prompting (hung up, or never asked).
    pub steps_left: usize,
}

/// How long the box may send no RTP in the middle of a call before the caller takes it as
/// hung up: a second, scaled by `CALLBOX_TEST_TIMEOUT_SCALE`. A loaded machine can hold
/// the box's media loop (or this peer) that long between two packets without anything being
/// wrong; a box that stops sending for good still ends the exchange early, with its steps
/// left untaken, and a box that never sends fails on `wait`.
pub fn hang_up_gap() -> Duration {
    super::scaled(Duration::from_secs(1))
}

/// A box frame at or above this carries prompt audio; G.711 silence decodes far below.
const PROMPT_DB: f64 = -50.0;

fn telephone_event(key: char) -> u8 {
    match key {
        '0'..='9' => key as u8 - b'0',
        '*' => 10,
        '#' => 11,
        _ => panic!("no telephone-event for {key:?}"),
    }
}

impl RtpPeer {
    /// Plays an interactive caller: each time the box has spoken and then been quiet for
    /// `quiet` (its prompt is over and it is listening), takes the next step. Returns when the
    /// box stops sending RTP for a second (it hung up) or `limit` has passed.
    pub fn run_interactive(
        &self,
        steps: &[CallerStep],
        quiet: Duration,
        wait: Duration,
        limit: Duration,
    ) -> IvrExchange {
        self.socket
            .set_read_timeout(Some(Duration::from_millis(2)))
            .expect("timeout");
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + wait;
        let mut received = Vec::new();
        let remote: SocketAddr = loop {
            assert!(
                Instant::now() < deadline,
                "the box sent no RTP to 127.0.0.1:{} within {wait:?}",
                self.port
            );
            if let Ok((n, from)) = self.socket.recv_from(&mut buf) {
                if let Some(p) = parse(&buf[..n]) {
                    received.push(p);
                    break from;
                }
            }
        };
        let start = Instant::now();
        let ssrc = 0x2345_6789u32;
        let (mut seq, mut ts) = (2000u16, 0u32);
        let mut next_tick = start;
        let mut last_packet = start;
        let mut last_loud: Option<Instant> = None;
        let mut heard_prompt = false;
        let mut steps = steps.iter();
        let mut steps_at = Vec::new();
        let mut speaking: Vec<i16> = Vec::new();
        // Frames of an RFC 4733 event still to send: (event, packet index).
        let mut key: Option<(u8, u32)> = None;
        let mut left = steps.len();
        let gap = hang_up_gap();
        loop {
            let now = Instant::now();
            if now > start + limit || now.duration_since(last_packet) > gap {
                break;
            }
            if now >= next_tick {
                next_tick += TICK;
                let mut packet = Vec::with_capacity(172);
                if let Some((event, n)) = key {
                    // 100 ms of tone (5 packets), then the end packet three times; all with
                    // the event's start timestamp.
                    let end = n >= 5;
                    let duration = ((n.min(5) + 1) * FRAME as u32) as u16;
                    packet.extend_from_slice(&[0x80, if n == 0 { 0x80 | 101 } else { 101 }]);
                    packet.extend_from_slice(&seq.to_be_bytes());
                    packet.extend_from_slice(&ts.to_be_bytes());
                    packet.extend_from_slice(&ssrc.to_be_bytes());
                    packet.extend_from_slice(&[event, if end { 0x80 | 10 } else { 10 }]);
                    packet.extend_from_slice(&duration.to_be_bytes());
                    key = if n >= 7 { None } else { Some((event, n + 1)) };
                    if key.is_none() {
                        ts = ts.wrapping_add(FRAME as u32 * 6);
                    }
                } else {
                    let mut frame = [0i16; FRAME];
                    let take = speaking.len().min(FRAME);
                    frame[..take].copy_from_slice(&speaking[..take]);
                    speaking.drain(..take);
                    packet.extend_from_slice(&[0x80, 0x00]);
                    packet.extend_from_slice(&seq.to_be_bytes());
                    packet.extend_from_slice(&ts.to_be_bytes());
                    packet.extend_from_slice(&ssrc.to_be_bytes());
                    packet.extend(frame.iter().map(|&s| g711::ulaw_encode(s)));
                    ts = ts.wrapping_add(FRAME as u32);
                }
                seq = seq.wrapping_add(1);
                let _ = self.socket.send_to(&packet, remote);
            }
            if let Ok((n, _)) = self.socket.recv_from(&mut buf) {
                if let Some(p) = parse(&buf[..n]) {
                    last_packet = p.at;
                    if p.energy_db() >= PROMPT_DB {
                        last_loud = Some(p.at);
                        heard_prompt = true;
                    }
                    received.push(p);
                }
            }
            let idle = key.is_none() && speaking.is_empty();
            let prompt_over = heard_prompt
                && last_loud.is_some_and(|t| Instant::now().duration_since(t) >= quiet);
            if idle && prompt_over {
                match steps.next() {
                    Some(CallerStep::Key(k)) => key = Some((telephone_event(*k), 0)),
                    Some(CallerStep::Speak(samples)) => speaking = samples.clone(),
                    None => {}
                }
                if left > 0 {
                    left -= 1;
                    steps_at.push(Instant::now());
                }
                heard_prompt = false;
            }
        }
        IvrExchange {
            steps_at,
            received,
            steps_left: left,
        }
    }
}
