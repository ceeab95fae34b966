//! SDP offer/answer (RFC 3264) for G.711 over RTP/AVP.
//!
//! Offers are parsed with Mozilla's `webrtc-sdp`. It is a WebRTC parser and is strict about
//! things ATAs get wrong or that WebRTC never sees (T.38 `m=image … udptl`, session IDs wider than
//! 64 bits, odd attribute syntax); when it fails, or silently drops an `m=` line it does not
//! understand (which would shift every later attribute onto the wrong stream), a small line
//! parser that reads only `c=`, `m=`, `a=rtpmap`, `a=fmtp`, `a=ptime` and direction takes over.

use std::net::{IpAddr, SocketAddr};

use crate::telephony::settings::{Codec, MediaConfig};
use webrtc_sdp::address::ExplicitlyTypedAddress;
use webrtc_sdp::attribute_type::SdpAttribute;
use webrtc_sdp::error::SdpParserError;
use webrtc_sdp::media_type::SdpFormatList;

/// Offers larger than this are refused before parsing; a SIP UDP datagram cannot carry more.
const MAX_SDP_BYTES: usize = 65_535;
/// Packetisation time callbox sends and asks for, in milliseconds.
pub const PTIME_MS: u32 = 20;

/// RFC 3264 media direction, from the point of view of the side that wrote the SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The direction an answerer writes for this offered direction (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// The SDP attribute name (`sendrecv`, …).
    pub fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attribute(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| name.eq_ignore_ascii_case(d.attribute()))
    }

    /// This direction with receiving removed: what an offer with `c=0.0.0.0` really means.
    fn without_receive(self) -> Direction {
        match self {
            Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
            Direction::RecvOnly | Direction::Inactive => Direction::Inactive,
        }
    }
}

/// One `a=rtpmap` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u32>,
}

/// One `m=` line, kept so the answer can reject streams callbox does not take (RFC 3264 §6:
/// the answer has one `m=` line per offered one, in order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaLine {
    pub media: String,
    pub port: u16,
    pub proto: String,
    pub formats: Vec<String>,
}

/// The audio stream of a remote offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaOffer {
    /// Where the peer wants RTP sent (`c=`, media level over session level).
    pub connection: IpAddr,
    pub port: u16,
    /// Payload types in the peer's order of preference (the `m=` line).
    pub payload_types: Vec<u8>,
    pub rtpmaps: Vec<Rtpmap>,
    /// `a=fmtp` parameters per payload type, verbatim.
    pub fmtps: Vec<(u8, String)>,
    /// RFC 4733 telephone-event/8000 payload type, if offered.
    pub telephone_event_pt: Option<u8>,
    pub ptime: Option<u32>,
    pub direction: Direction,
    /// Every `m=` line of the offer, in order.
    pub media_lines: Vec<MediaLine>,
    /// Index in `media_lines` of the audio stream described above.
    pub audio_index: usize,
}

/// The outcome of negotiation: what callbox sends and receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// Payload type of `codec` as the offerer numbered it.
    pub payload_type: u8,
    /// The offerer's telephone-event payload type; `None` = detect DTMF in-band only.
    pub telephone_event_pt: Option<u8>,
    /// Where to send RTP. Port 0 or an unspecified address means: send nothing.
    pub remote: SocketAddr,
    /// Our direction, as written in the answer.
    pub direction: Direction,
    /// The peer put the call on hold (port 0, `c=0.0.0.0`, sendonly or inactive).
    pub hold: bool,
    /// The peer's packetisation time, or 20 ms when it gave none.
    pub remote_ptime: u32,
    pub media_lines: Vec<MediaLine>,
    pub audio_index: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("SDP offer has no audio stream")]
    NoAudio,
    #[error("SDP offer's audio uses {0}; callbox supports RTP/AVP only")]
    UnsupportedTransport(String),
    #[error("no codec in common (offered payload types {offered:?}; callbox takes {accepted})")]
    NoCommonCodec { offered: Vec<u8>, accepted: String },
}

impl SdpError {
    /// The SIP response to an INVITE whose offer failed this way.
    pub fn sip_status(&self) -> u16 {
        match self {
            SdpError::Malformed(_) => 400,
            // 488 Not Acceptable Here: the offer is fine, we just cannot do it.
            SdpError::NoAudio
            | SdpError::UnsupportedTransport(_)
            | SdpError::NoCommonCodec { .. } => 488,
        }
    }
}

/// Parses a remote SDP offer and extracts its first RTP/AVP audio stream.
pub fn parse_offer(text: &str) -> Result<MediaOffer, SdpError> {
    if text.len() > MAX_SDP_BYTES {
        return Err(SdpError::Malformed(format!(
            "{} bytes is larger than any SIP datagram",
            text.len()
        )));
    }
    match parse_with_webrtc_sdp(text) {
        Ok(session) => session.into_offer(),
        Err(why) => {
            tracing::trace!(?why, "webrtc-sdp refused the offer; using the line parser");
            parse_lines(text)?.into_offer()
        }
    }
}

/// Chooses codec, telephone-event and direction for the answer: the first of the box's codecs
/// (in `prefs.codecs` order) that the offer carries, matched by static payload type or rtpmap name.
pub fn negotiate(offer: &MediaOffer, prefs: &MediaConfig) -> Result<Negotiated, SdpError> {
    let chosen = prefs.codecs.iter().find_map(|&codec| {
        offer
            .payload_types
            .iter()
            .find(|&&pt| codec_of(pt, &offer.rtpmaps) == Some(codec))
            .map(|&pt| (codec, pt))
    });
    let Some((codec, payload_type)) = chosen else {
        return Err(SdpError::NoCommonCodec {
            offered: offer.payload_types.clone(),
            accepted: prefs
                .codecs
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let port_zero = offer.port == 0;
    let no_address = offer.connection.is_unspecified();
    // RFC 2543 hold: c=0.0.0.0 means "do not send to me", whatever the direction says.
    let their_direction = if port_zero {
        Direction::Inactive
    } else if no_address {
        offer.direction.without_receive()
    } else {
        offer.direction
    };
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event_pt: offer.telephone_event_pt,
        remote: SocketAddr::new(offer.connection, offer.port),
        direction: their_direction.answer(),
        hold: port_zero
            || no_address
            || matches!(offer.direction, Direction::SendOnly | Direction::Inactive),
        remote_ptime: offer.ptime.unwrap_or(PTIME_MS),
        media_lines: offer.media_lines.clone(),
        audio_index: offer.audio_index,
    })
}

/// Writes the SDP answer (CRLF line endings). Streams other than the negotiated audio are
/// rejected with port 0; a disabled (port 0) audio offer is answered with port 0 too.
pub fn build_answer(
    neg: &Negotiated,
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    session_version: u64,
) -> String {
    let mut sdp = session_header(local_ip, session_id, session_version);
    for (i, line) in neg.media_lines.iter().enumerate() {
        if i == neg.audio_index {
            // RFC 3264 §6: a stream offered with port 0 must be answered with port 0.
            let port = if neg.remote.port() == 0 {
                0
            } else {
                local_port
            };
            write_audio(
                &mut sdp,
                port,
                &[(neg.payload_type, neg.codec)],
                neg.telephone_event_pt,
                neg.direction,
            );
        } else {
            let first = line.formats.first().map_or("0", String::as_str);
            sdp.push_str(&format!("m={} 0 {} {first}\r\n", line.media, line.proto));
        }
    }
    sdp
}

/// Writes an offer with every configured codec (static payload types) and telephone-event,
/// for INVITEs that arrive without SDP (the offer then goes in our 200 OK).
pub fn build_offer(
    prefs: &MediaConfig,
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    session_version: u64,
) -> String {
    let mut sdp = session_header(local_ip, session_id, session_version);
    let codecs: Vec<(u8, Codec)> = prefs
        .codecs
        .iter()
        .map(|&c| (c.static_payload_type(), c))
        .collect();
    write_audio(
        &mut sdp,
        local_port,
        &codecs,
        Some(prefs.telephone_event_payload_type),
        Direction::SendRecv,
    );
    sdp
}

fn session_header(ip: IpAddr, session_id: u64, session_version: u64) -> String {
    let family = match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    format!(
        "v=0\r\no=callbox {session_id} {session_version} IN {family} {ip}\r\ns=callbox\r\n\
         c=IN {family} {ip}\r\nt=0 0\r\n"
    )
}

fn write_audio(
    sdp: &mut String,
    port: u16,
    codecs: &[(u8, Codec)],
    telephone_event_pt: Option<u8>,
    direction: Direction,
) {
    let mut pts: Vec<String> = codecs.iter().map(|(pt, _)| pt.to_string()).collect();
    pts.extend(telephone_event_pt.map(|pt| pt.to_string()));
    sdp.push_str(&format!("m=audio {port} RTP/AVP {}\r\n", pts.join(" ")));
    for (pt, codec) in codecs {
        sdp.push_str(&format!("a=rtpmap:{pt} {}/8000\r\n", codec.name()));
    }
    if let Some(pt) = telephone_event_pt {
        sdp.push_str(&format!(
            "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n"
        ));
    }
    sdp.push_str(&format!(
        "a=ptime:{PTIME_MS}\r\na={}\r\n",
        direction.attribute()
    ));
}

/// Which G.711 codec a payload type is: by rtpmap when present (dynamic or remapped static),
/// else by RFC 3551's static assignment.
fn codec_of(pt: u8, rtpmaps: &[Rtpmap]) -> Option<Codec> {
    match rtpmaps.iter().find(|r| r.payload_type == pt) {
        Some(r) => {
            let mono = r.channels.is_none_or(|c| c == 1);
            if r.clock_rate != 8000 || !mono {
                return None;
            }
            [Codec::Pcmu, Codec::Pcma]
                .into_iter()
                .find(|c| r.encoding.eq_ignore_ascii_case(c.name()))
        }
        None => [Codec::Pcmu, Codec::Pcma]
            .into_iter()
            .find(|c| c.static_payload_type() == pt),
    }
}

/// What both parsers produce: the few fields callbox needs, per `m=` section.
#[derive(Debug, Default)]
struct RawSession {
    connection: Option<Result<IpAddr, String>>,
    direction: Option<Direction>,
    ptime: Option<u32>,
    media: Vec<RawMedia>,
}

#[derive(Debug, Default)]
struct RawMedia {
    line: MediaLine,
    connection: Option<Result<IpAddr, String>>,
    direction: Option<Direction>,
    ptime: Option<u32>,
    rtpmaps: Vec<Rtpmap>,
    fmtps: Vec<(u8, String)>,
}

impl RawSession {
    fn into_offer(self) -> Result<MediaOffer, SdpError> {
        let media_lines: Vec<MediaLine> = self.media.iter().map(|m| m.line.clone()).collect();
        let is_audio = |m: &&RawMedia| m.line.media.eq_ignore_ascii_case("audio");
        let Some(first_audio) = self.media.iter().find(is_audio) else {
            return Err(SdpError::NoAudio);
        };
        let Some((audio_index, audio)) = self
            .media
            .iter()
            .enumerate()
            .find(|(_, m)| is_audio(m) && m.line.proto.eq_ignore_ascii_case("RTP/AVP"))
        else {
            return Err(SdpError::UnsupportedTransport(
                first_audio.line.proto.clone(),
            ));
        };
        let connection = match audio.connection.as_ref().or(self.connection.as_ref()) {
            Some(Ok(ip)) => *ip,
            Some(Err(e)) => return Err(SdpError::Malformed(e.clone())),
            None => {
                return Err(SdpError::Malformed(
                    "no c= line for the audio stream".into(),
                ))
            }
        };
        let mut payload_types = Vec::with_capacity(audio.line.formats.len());
        for f in &audio.line.formats {
            match f.parse::<u8>() {
                Ok(pt) if pt <= 127 => payload_types.push(pt),
                _ => {
                    return Err(SdpError::Malformed(format!(
                        "payload type `{f}` in m=audio is not 0-127"
                    )))
                }
            }
        }
        if payload_types.is_empty() {
            return Err(SdpError::Malformed("m=audio has no payload types".into()));
        }
        let telephone_event_pt = audio
            .rtpmaps
            .iter()
            .find(|r| {
                r.encoding.eq_ignore_ascii_case("telephone-event")
                    && r.clock_rate == 8000
                    && payload_types.contains(&r.payload_type)
            })
            .map(|r| r.payload_type);
        Ok(MediaOffer {
            connection,
            port: audio.line.port,
            telephone_event_pt,
            ptime: audio.ptime.or(self.ptime),
            direction: audio
                .direction
                .or(self.direction)
                .unwrap_or(Direction::SendRecv),
            rtpmaps: audio.rtpmaps.clone(),
            fmtps: audio.fmtps.clone(),
            payload_types,
            media_lines,
            audio_index,
        })
    }
}

/// Why `webrtc-sdp`'s result was not used (the line parser runs instead). Kept unformatted:
/// it is only logged at trace level, and formatting costs on every malformed offer.
#[derive(Debug)]
enum WebrtcSdpRefused {
    Parse,
    DroppedMediaLine,
    PortOutOfRange,
}

/// Parses with `webrtc-sdp`; refuses (so the line parser runs) when it dropped an `m=` line.
fn parse_with_webrtc_sdp(text: &str) -> Result<RawSession, WebrtcSdpRefused> {
    let session = webrtc_sdp::parse_sdp(text, false).map_err(|_| WebrtcSdpRefused::Parse)?;
    let dropped_media = session.warnings.iter().any(|w| match w {
        SdpParserError::Line { line, .. } | SdpParserError::Unsupported { line, .. } => {
            line.trim_start().starts_with("m=")
        }
        SdpParserError::Sequence { .. } => false,
    });
    if dropped_media {
        return Err(WebrtcSdpRefused::DroppedMediaLine);
    }
    let ip_of = |c: &webrtc_sdp::SdpConnection| match &c.address {
        ExplicitlyTypedAddress::Ip(ip) => Ok(*ip),
        ExplicitlyTypedAddress::Fqdn { domain, .. } => Err(format!(
            "c= names host `{domain}`; callbox needs an IP address"
        )),
    };
    let mut raw = RawSession {
        connection: session.connection.as_ref().map(ip_of),
        ..RawSession::default()
    };
    for attr in &session.attribute {
        apply_webrtc_attribute(attr, &mut raw.direction, &mut raw.ptime, None);
    }
    for m in &session.media {
        let formats = match m.get_formats() {
            SdpFormatList::Integers(v) => v.iter().map(u32::to_string).collect(),
            SdpFormatList::Strings(v) => v.clone(),
            SdpFormatList::Unknown(s) => s.split_whitespace().map(str::to_string).collect(),
        };
        let mut media = RawMedia {
            line: MediaLine {
                media: m.get_type().to_string(),
                port: u16::try_from(m.get_port()).map_err(|_| WebrtcSdpRefused::PortOutOfRange)?,
                proto: m.get_proto().to_string(),
                formats,
            },
            connection: m.get_connection().as_ref().map(ip_of),
            ..RawMedia::default()
        };
        for attr in m.get_attributes() {
            let mut codecs = (&mut media.rtpmaps, &mut media.fmtps);
            apply_webrtc_attribute(
                attr,
                &mut media.direction,
                &mut media.ptime,
                Some(&mut codecs),
            );
        }
        raw.media.push(media);
    }
    Ok(raw)
}

type CodecAttrs<'a> = (&'a mut Vec<Rtpmap>, &'a mut Vec<(u8, String)>);

fn apply_webrtc_attribute(
    attr: &SdpAttribute,
    direction: &mut Option<Direction>,
    ptime: &mut Option<u32>,
    codecs: Option<&mut CodecAttrs<'_>>,
) {
    match attr {
        SdpAttribute::Sendrecv => *direction = Some(Direction::SendRecv),
        SdpAttribute::Sendonly => *direction = Some(Direction::SendOnly),
        SdpAttribute::Recvonly => *direction = Some(Direction::RecvOnly),
        SdpAttribute::Inactive => *direction = Some(Direction::Inactive),
        SdpAttribute::Ptime(p) => *ptime = u32::try_from(*p).ok(),
        SdpAttribute::Rtpmap(r) => {
            if let Some((rtpmaps, _)) = codecs {
                rtpmaps.push(Rtpmap {
                    payload_type: r.payload_type,
                    encoding: r.codec_name.clone(),
                    clock_rate: r.frequency,
                    channels: r.channels,
                });
            }
        }
        SdpAttribute::Fmtp(f) => {
            if let Some((_, fmtps)) = codecs {
                // webrtc-sdp keeps fmtp parsed per codec family; the text form is what we need.
                let text = attr.to_string();
                let params = text
                    .split_once(' ')
                    .map_or(String::new(), |(_, p)| p.to_string());
                fmtps.push((f.payload_type, params));
            }
        }
        _ => {}
    }
}

/// The fallback parser: reads only what callbox needs and ignores every other line.
fn parse_lines(text: &str) -> Result<RawSession, SdpError> {
    let mut lines = text.lines().map(|l| l.trim()).filter(|l| !l.is_empty());
    if lines.next() != Some("v=0") {
        return Err(SdpError::Malformed("does not start with v=0".into()));
    }
    let mut raw = RawSession::default();
    for line in lines {
        let Some((kind, value)) = line.split_once('=') else {
            return Err(SdpError::Malformed(format!("line without `=`: {line:.40}")));
        };
        let value = value.trim();
        let current = raw.media.last_mut();
        match kind {
            "m" => raw.media.push(parse_m_line(value)?),
            "c" => {
                let conn = Some(parse_c_line(value));
                match current {
                    Some(m) => m.connection = conn,
                    None => raw.connection = conn,
                }
            }
            "a" => {
                let (name, arg) = match value.split_once(':') {
                    Some((n, a)) => (n.trim(), Some(a.trim())),
                    None => (value, None),
                };
                if let Some(dir) = Direction::from_attribute(name) {
                    match current {
                        Some(m) => m.direction = Some(dir),
                        None => raw.direction = Some(dir),
                    }
                    continue;
                }
                let (Some(arg), Some(m)) = (arg, current) else {
                    // Session-level ptime is not standard but seen; everything else is ignored.
                    if let (Some(arg), true) = (arg, name.eq_ignore_ascii_case("ptime")) {
                        raw.ptime = arg.parse().ok();
                    }
                    continue;
                };
                if name.eq_ignore_ascii_case("ptime") {
                    m.ptime = arg.parse().ok();
                } else if name.eq_ignore_ascii_case("rtpmap") {
                    // An rtpmap we cannot read is skipped, not fatal: it is usually a codec
                    // callbox would not pick anyway, and the static PTs still work.
                    if let Some(r) = parse_rtpmap(arg) {
                        m.rtpmaps.push(r);
                    }
                } else if name.eq_ignore_ascii_case("fmtp") {
                    let (pt, params) = arg.split_once(char::is_whitespace).unwrap_or((arg, ""));
                    if let Ok(pt) = pt.parse::<u8>() {
                        m.fmtps.push((pt, params.trim().to_string()));
                    }
                }
            }
            _ if kind.len() == 1 => {}
            _ => {
                return Err(SdpError::Malformed(format!(
                    "line type `{kind:.10}` is not one letter"
                )))
            }
        }
    }
    Ok(raw)
}

fn parse_m_line(value: &str) -> Result<RawMedia, SdpError> {
    let mut tokens = value.split_whitespace();
    let (Some(media), Some(port), Some(proto)) = (tokens.next(), tokens.next(), tokens.next())
    else {
        return Err(SdpError::Malformed(format!("short m= line: {value:.60}")));
    };
    // `port/count` (RFC 4566) is for layered multicast; the first port is the one that matters.
    let port = port.split('/').next().unwrap_or(port);
    let port: u16 = port
        .parse()
        .map_err(|_| SdpError::Malformed(format!("bad port in m= line: {value:.60}")))?;
    Ok(RawMedia {
        line: MediaLine {
            media: media.to_string(),
            port,
            proto: proto.to_string(),
            formats: tokens.map(str::to_string).collect(),
        },
        ..RawMedia::default()
    })
}

fn parse_c_line(value: &str) -> Result<IpAddr, String> {
    let mut tokens = value.split_whitespace();
    let (Some(net), Some(_family), Some(addr)) = (tokens.next(), tokens.next(), tokens.next())
    else {
        return Err(format!("short c= line: {value:.60}"));
    };
    if !net.eq_ignore_ascii_case("IN") {
        return Err(format!("c= network type `{net:.10}` is not IN"));
    }
    // Multicast `addr/ttl` form: the address is what matters.
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse()
        .map_err(|_| format!("c= address `{addr:.60}` is not an IP address"))
}

fn parse_rtpmap(value: &str) -> Option<Rtpmap> {
    let (pt, rest) = value.split_once(char::is_whitespace)?;
    let payload_type: u8 = pt.parse().ok().filter(|pt| *pt <= 127)?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?.to_string();
    let clock_rate = parts.next()?.parse().ok()?;
    let channels = match parts.next() {
        Some(c) => Some(c.parse().ok()?),
        None => None,
    };
    Some(Rtpmap {
        payload_type,
        encoding,
        clock_rate,
        channels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Grandstream HT813 FXO port forwarding a PSTN call (firmware 1.0.x defaults).
    const HT813: &str = "v=0\r\n\
o=3125550142 8000 8000 IN IP4 192.168.1.20\r\n\
s=SIP Call\r\n\
c=IN IP4 192.168.1.20\r\n\
t=0 0\r\n\
m=audio 5004 RTP/AVP 0 8 4 18 9 97 2 123 101\r\n\
a=sendrecv\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:4 G723/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:97 iLBC/8000\r\n\
a=fmtp:97 mode=20\r\n\
a=rtpmap:2 G726-32/8000\r\n\
a=rtpmap:123 opus/48000/2\r\n\
a=fmtp:123 maxplaybackrate=16000; sprop-maxcapturerate=16000; maxaveragebitrate=12000; useinbandfec=1\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n";

    /// Cisco SPA112: PCMA not first, G729a, silenceSupp.
    const CISCO_SPA: &str = "v=0\r\n\
o=- 78129 78129 IN IP4 192.168.1.30\r\n\
s=-\r\n\
c=IN IP4 192.168.1.30\r\n\
t=0 0\r\n\
m=audio 16450 RTP/AVP 8 0 2 18 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:2 G726-32/8000\r\n\
a=rtpmap:18 G729a/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:30\r\n\
a=silenceSupp:off - - - -\r\n\
a=sendrecv\r\n";

    /// Obihai OBi200: session-level direction, no rtpmap for static PTs, DTMF PT 100.
    const OBIHAI: &str = "v=0\n\
o=- 47126 1 IN IP4 192.168.1.40\n\
s=-\n\
c=IN IP4 192.168.1.40\n\
t=0 0\n\
a=sendrecv\n\
m=audio 16600 RTP/AVP 0 8 18 100\n\
a=rtpmap:18 G729/8000\n\
a=fmtp:18 annexb=no\n\
a=rtpmap:100 telephone-event/8000\n\
a=fmtp:100 0-15\n";

    /// sipp's built-in uac scenario.
    const SIPP: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

    /// baresip with many codecs, a video stream, and WebRTC-style extras.
    const BARESIP: &str = "v=0\r\n\
o=- 1680963341 1680963342 IN IP4 192.168.1.50\r\n\
s=-\r\n\
c=IN IP4 192.168.1.50\r\n\
t=0 0\r\n\
a=tool:baresip 3.10.1\r\n\
m=audio 10000 RTP/AVP 96 97 9 98 0 8 101\r\n\
b=AS:128\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:97 L16/48000/2\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:98 speex/16000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp-rsize\r\n\
a=ssrc:3523749216 cname:3ab0f1a2@192.168.1.50\r\n\
a=sendrecv\r\n\
a=label:1\r\n\
a=ptime:20\r\n\
m=video 10002 RTP/AVP 100\r\n\
a=rtpmap:100 H264/90000\r\n\
a=fmtp:100 packetization-mode=0;profile-level-id=42e01f\r\n\
a=sendrecv\r\n";

    /// A T.38-capable gateway offering fax after audio: webrtc-sdp drops the m=image line.
    const WITH_T38: &str = "v=0\r\n\
o=- 1 1 IN IP4 192.168.1.20\r\n\
s=-\r\n\
c=IN IP4 192.168.1.20\r\n\
t=0 0\r\n\
m=audio 5004 RTP/AVP 8 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
m=image 5006 udptl t38\r\n\
a=T38FaxVersion:0\r\n\
a=sendonly\r\n";

    /// Session ID wider than 64 bits, as some gateways write a timestamp in nanoseconds.
    const HUGE_ORIGIN: &str = "v=0\r\n\
o=- 123456789012345678901234 1 IN IP4 10.0.0.5\r\n\
s=-\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendonly\r\n";

    fn prefs(codecs: &[Codec]) -> MediaConfig {
        MediaConfig {
            codecs: codecs.to_vec(),
            ..MediaConfig::default()
        }
    }

    fn ip(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn ht813_offer() {
        assert!(parse_with_webrtc_sdp(HT813).is_ok(), "primary parser path");
        let o = parse_offer(HT813).unwrap();
        assert_eq!(o.connection, ip(192, 168, 1, 20));
        assert_eq!(o.port, 5004);
        assert_eq!(o.payload_types, vec![0, 8, 4, 18, 9, 97, 2, 123, 101]);
        assert_eq!(o.telephone_event_pt, Some(101));
        assert_eq!(o.ptime, Some(20));
        assert_eq!(o.direction, Direction::SendRecv);
        assert!(
            o.fmtps.contains(&(101, "0-15".to_string())),
            "{:?}",
            o.fmtps
        );
        let n = negotiate(&o, &MediaConfig::default()).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
        assert_eq!(n.remote, "192.168.1.20:5004".parse().unwrap());
        assert_eq!(n.direction, Direction::SendRecv);
        assert!(!n.hold);
    }

    #[test]
    fn our_preference_order_wins_over_theirs() {
        let o = parse_offer(CISCO_SPA).unwrap();
        assert_eq!(o.ptime, Some(30));
        let n = negotiate(&o, &prefs(&[Codec::Pcmu, Codec::Pcma])).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
        assert_eq!(n.remote_ptime, 30);
        let n = negotiate(&o, &prefs(&[Codec::Pcma, Codec::Pcmu])).unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcma, 8));
    }

    #[test]
    fn obihai_session_level_direction_and_static_pts() {
        let o = parse_offer(OBIHAI).unwrap();
        assert_eq!(o.direction, Direction::SendRecv);
        assert_eq!(o.telephone_event_pt, Some(100));
        let n = negotiate(&o, &prefs(&[Codec::Pcma])).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt),
            (Codec::Pcma, 8, Some(100))
        );
        assert_eq!(n.remote_ptime, 20);
    }

    #[test]
    fn sipp_offer_without_telephone_event() {
        let o = parse_offer(SIPP).unwrap();
        let n = negotiate(&o, &MediaConfig::default()).unwrap();
        assert_eq!(n.telephone_event_pt, None);
        let answer = build_answer(&n, ip(127, 0, 0, 1), 10000, 1, 1);
        assert!(answer.contains("m=audio 10000 RTP/AVP 0\r\n"), "{answer}");
        assert!(!answer.contains("telephone-event"));
    }

    #[test]
    fn baresip_many_codecs_and_video_rejected() {
        let o = parse_offer(BARESIP).unwrap();
        assert_eq!(o.media_lines.len(), 2);
        assert_eq!(o.audio_index, 0);
        let n = negotiate(&o, &MediaConfig::default()).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt),
            (Codec::Pcmu, 0, Some(101))
        );
        let answer = build_answer(&n, ip(192, 168, 1, 2), 10002, 7, 8);
        assert!(answer.ends_with("m=video 0 RTP/AVP 100\r\n"), "{answer}");
        assert_eq!(answer.matches("m=").count(), 2);
    }

    #[test]
    fn t38_line_forces_fallback_parser_and_is_rejected_in_answer() {
        assert!(parse_with_webrtc_sdp(WITH_T38).is_err());
        let o = parse_offer(WITH_T38).unwrap();
        // The fax stream's sendonly must not leak onto the audio stream.
        assert_eq!(o.direction, Direction::SendRecv);
        assert_eq!(o.telephone_event_pt, Some(101));
        let n = negotiate(&o, &MediaConfig::default()).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        let answer = build_answer(&n, ip(192, 168, 1, 2), 10000, 1, 1);
        assert!(answer.ends_with("m=image 0 udptl t38\r\n"), "{answer}");
    }

    #[test]
    fn huge_origin_session_id_uses_fallback() {
        assert!(parse_with_webrtc_sdp(HUGE_ORIGIN).is_err());
        let o = parse_offer(HUGE_ORIGIN).unwrap();
        assert_eq!(o.direction, Direction::SendOnly);
        assert_eq!(o.port, 40000);
    }

    #[test]
    fn dynamic_payload_type_matched_by_name() {
        let sdp = SIPP.replace("RTP/AVP 0", "RTP/AVP 110 111").replace(
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:110 PCMA/8000\r\na=rtpmap:111 telephone-event/8000",
        );
        let o = parse_offer(&sdp).unwrap();
        let n = negotiate(&o, &MediaConfig::default()).unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event_pt),
            (Codec::Pcma, 110, Some(111))
        );
    }

    #[test]
    fn remapped_static_payload_type_is_not_g711() {
        // PT 0 bound to something else must not be taken as PCMU.
        let sdp = SIPP.replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:0 G729/8000");
        let o = parse_offer(&sdp).unwrap();
        assert!(matches!(
            negotiate(&o, &MediaConfig::default()),
            Err(SdpError::NoCommonCodec { .. })
        ));
    }

    #[test]
    fn telephone_event_at_other_rates_ignored() {
        let sdp = SIPP.replace("RTP/AVP 0", "RTP/AVP 0 102 101").replace(
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:102 telephone-event/48000\r\na=rtpmap:101 telephone-event/8000",
        );
        let o = parse_offer(&sdp).unwrap();
        assert_eq!(o.telephone_event_pt, Some(101));
    }

    #[test]
    fn no_common_codec_is_488() {
        let sdp = SIPP
            .replace("RTP/AVP 0", "RTP/AVP 18 9")
            .replace("a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000");
        let o = parse_offer(&sdp).unwrap();
        let err = negotiate(&o, &MediaConfig::default()).unwrap_err();
        assert!(matches!(err, SdpError::NoCommonCodec { .. }));
        assert_eq!(err.sip_status(), 488);
    }

    #[test]
    fn directions_answered_per_rfc3264() {
        for (offered, answered, hold) in [
            ("sendrecv", Direction::SendRecv, false),
            ("sendonly", Direction::RecvOnly, true),
            ("recvonly", Direction::SendOnly, false),
            ("inactive", Direction::Inactive, true),
        ] {
            let sdp = format!("{SIPP}a={offered}\r\n");
            let o = parse_offer(&sdp).unwrap();
            let n = negotiate(&o, &MediaConfig::default()).unwrap();
            assert_eq!((n.direction, n.hold), (answered, hold), "{offered}");
            let answer = build_answer(&n, ip(10, 0, 0, 1), 10000, 1, 1);
            assert!(
                answer.ends_with(&format!("a={}\r\n", answered.attribute())),
                "{answer}"
            );
        }
    }

    #[test]
    fn old_style_hold_c_zero() {
        let sdp = SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        let n = negotiate(&parse_offer(&sdp).unwrap(), &MediaConfig::default()).unwrap();
        assert!(n.hold);
        // They still send (music on hold) but must not be sent to.
        assert_eq!(n.direction, Direction::RecvOnly);
        let sdp = format!("{sdp}a=recvonly\r\n");
        let n = negotiate(&parse_offer(&sdp).unwrap(), &MediaConfig::default()).unwrap();
        assert_eq!(n.direction, Direction::Inactive);
    }

    #[test]
    fn port_zero_is_hold_and_answered_with_port_zero() {
        let sdp = SIPP.replace("m=audio 6000", "m=audio 0");
        let n = negotiate(&parse_offer(&sdp).unwrap(), &MediaConfig::default()).unwrap();
        assert!(n.hold);
        assert_eq!(n.direction, Direction::Inactive);
        let answer = build_answer(&n, ip(10, 0, 0, 1), 10000, 1, 1);
        assert!(answer.contains("m=audio 0 RTP/AVP 0\r\n"), "{answer}");
    }

    #[test]
    fn media_level_connection_overrides_session() {
        let sdp = format!("{SIPP}c=IN IP4 10.1.2.3\r\n");
        assert_eq!(parse_offer(&sdp).unwrap().connection, ip(10, 1, 2, 3));
    }

    #[test]
    fn srtp_only_audio_is_unsupported_transport() {
        let sdp = SIPP.replace("RTP/AVP", "RTP/SAVP");
        let err = parse_offer(&sdp).unwrap_err();
        assert_eq!(err, SdpError::UnsupportedTransport("RTP/SAVP".into()));
        assert_eq!(err.sip_status(), 488);
    }

    #[test]
    fn srtp_then_plain_audio_uses_the_plain_one() {
        let plain = "m=audio 6002 RTP/AVP 8\r\n";
        let sdp = format!(
            "{}{plain}",
            SIPP.replace("m=audio 6000 RTP/AVP", "m=audio 6000 RTP/SAVP")
        );
        let o = parse_offer(&sdp).unwrap();
        assert_eq!((o.audio_index, o.port), (1, 6002));
        let n = negotiate(&o, &MediaConfig::default()).unwrap();
        let answer = build_answer(&n, ip(10, 0, 0, 1), 10000, 1, 1);
        assert!(
            answer.contains("m=audio 0 RTP/SAVP 0\r\nm=audio 10000 RTP/AVP 8\r\n"),
            "{answer}"
        );
    }

    #[test]
    fn no_audio_stream() {
        let sdp = SIPP.replace("m=audio 6000 RTP/AVP 0", "m=video 6000 RTP/AVP 96");
        assert_eq!(parse_offer(&sdp).unwrap_err(), SdpError::NoAudio);
    }

    #[test]
    fn missing_connection_is_malformed() {
        let sdp = SIPP.replace("c=IN IP4 127.0.0.1\r\n", "");
        assert!(matches!(parse_offer(&sdp), Err(SdpError::Malformed(_))));
    }

    #[test]
    fn garbage_is_an_error() {
        for text in [
            "",
            "hello",
            "v=0",
            "\0\0\0",
            "v=0\r\nm=audio x RTP/AVP 0\r\n",
            &"a".repeat(70_000),
        ] {
            assert!(parse_offer(text).is_err(), "{text:.20}");
        }
    }

    #[test]
    fn answer_format() {
        let o = parse_offer(HT813).unwrap();
        let n = negotiate(&o, &MediaConfig::default()).unwrap();
        let answer = build_answer(&n, ip(192, 168, 1, 2), 10000, 42, 43);
        assert_eq!(
            answer,
            "v=0\r\n\
o=callbox 42 43 IN IP4 192.168.1.2\r\n\
s=callbox\r\n\
c=IN IP4 192.168.1.2\r\n\
t=0 0\r\n\
m=audio 10000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n"
        );
        // Our own answer must be something both parsers accept.
        assert!(parse_with_webrtc_sdp(&answer).is_ok());
        assert_eq!(parse_offer(&answer).unwrap().payload_types, vec![0, 101]);
    }

    #[test]
    fn offer_round_trips_through_negotiation() {
        let offer = build_offer(&MediaConfig::default(), ip(10, 0, 0, 1), 10000, 1, 1);
        assert!(
            offer.contains("m=audio 10000 RTP/AVP 0 8 101\r\n"),
            "{offer}"
        );
        let o = parse_offer(&offer).unwrap();
        let n = negotiate(&o, &prefs(&[Codec::Pcma])).unwrap();
        assert_eq!((n.payload_type, n.telephone_event_pt), (8, Some(101)));
    }

    /// Small enough that 100k mutations stay fast in a debug build, yet it has every line
    /// type both parsers read.
    const FUZZ_SEED: &str = "v=0\r\n\
o=- 8000 8000 IN IP4 192.168.1.20\r\n\
s=-\r\n\
c=IN IP4 192.168.1.20\r\n\
t=0 0\r\n\
m=audio 5004 RTP/AVP 0 8 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

    #[test]
    fn mutated_offers_never_panic() {
        assert!(parse_offer(FUZZ_SEED).is_ok());
        let seed = FUZZ_SEED.as_bytes();
        let interesting: &[u8] = b"=:/ \r\n0189amcv-";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut parsed = 0u32;
        for _ in 0..100_000 {
            let mut bytes = seed.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let r = next();
                let i = (r as usize) % bytes.len().max(1);
                match (r >> 32) % 4 {
                    0 => bytes[i] = interesting[(r >> 40) as usize % interesting.len()],
                    1 => bytes[i] = (r >> 48) as u8,
                    2 => {
                        let end = (i + (r >> 40) as usize % 16).min(bytes.len());
                        bytes.drain(i..end);
                    }
                    _ => bytes.truncate(i),
                }
                if bytes.is_empty() {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(o) = parse_offer(&text) {
                parsed += 1;
                let _ = negotiate(&o, &MediaConfig::default());
            }
        }
        // Most single-byte mutations leave a usable offer; if none parse, the mutator is broken.
        assert!(parsed > 1000, "only {parsed} mutated offers parsed");
    }
}
