//! Configuration: embedded defaults, a TOML file over them, environment variables over single keys.
//!
//! Every key is documented in `firmware/etc/callbox/callbox.toml` (the commented example).
//! `callbox config check` validates a file and names the key and the reason for every error.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The whole configuration. Every section has defaults, so an empty file is valid.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub shop: ShopConfig,
    pub storage: StorageConfig,
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub call: CallConfig,
    pub log: LogConfig,
}

/// The shop the box answers for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShopConfig {
    /// Spoken in the greeting.
    pub name: String,
    /// ISO 3166 country whose dialling plan normalises caller ID to E.164 (e.g. "US").
    pub default_country: String,
    /// IANA timezone of the shop.
    pub timezone: String,
}

/// Where the box keeps its state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Data directory: recordings, queue, caches.
    pub data_dir: PathBuf,
}

/// SIP user agent server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Address written into Contact/SDP when `listen` is a wildcard (0.0.0.0); empty = guess.
    pub public_address: Option<IpAddr>,
    /// Peers (the ATA) allowed to talk to the box: addresses or CIDRs. Others get 403.
    pub allowed_peers: Vec<ipnet::IpNet>,
    /// Requests per second accepted from one address outside the allow-list before dropping.
    pub stranger_rate_limit: u32,
    /// Calls up at once before 486 Busy Here.
    pub max_concurrent_calls: usize,
    /// The user part the box answers to (any when empty).
    pub user: String,
    /// Realm for digest authentication.
    pub realm: String,
    /// Accounts allowed to REGISTER; none means REGISTER is accepted without authentication.
    pub accounts: Vec<SipAccount>,
    /// Longest registration accepted, in seconds.
    pub max_register_expires: u32,
    /// Rings (180 Ringing) before answering, in milliseconds of delay after the INVITE.
    pub answer_delay_ms: u64,
    /// Largest datagram accepted, in bytes; larger ones are dropped.
    pub max_message_bytes: usize,
    /// Server / User-Agent header value.
    pub user_agent: String,
}

/// Credentials an ATA uses for REGISTER digest authentication.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SipAccount {
    pub username: String,
    pub password: String,
}

/// Codec to offer or accept.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Codec {
    Pcmu,
    Pcma,
}

/// RTP media.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Codecs in order of preference.
    pub codecs: Vec<Codec>,
    /// First and last RTP port (even ports used; RTCP on port+1).
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// RFC 4733 telephone-event payload type offered when the peer offers none.
    pub telephone_event_payload_type: u8,
    /// Jitter buffer depth in 20 ms frames.
    pub jitter_buffer_frames: usize,
    /// Hang up when no RTP arrives for this long, in seconds.
    pub rtp_timeout_secs: u64,
    /// Detect DTMF tones in the audio too (for ATAs that send them in-band).
    pub inband_dtmf: bool,
}

/// The call flow before speech exists: greeting, recording, digits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CallConfig {
    /// WAV (8 kHz mono 16-bit, or any rate/channels, converted) played when a call is answered.
    /// Empty = a built-in tone prompt.
    pub greeting_wav: Option<PathBuf>,
    /// Longest call, in seconds.
    pub max_call_secs: u64,
    /// Hang up after this long with no digit, in seconds.
    pub idle_timeout_secs: u64,
    /// Digit that ends the call.
    pub hangup_digit: char,
    /// Record the caller's audio under `<data_dir>/recordings`.
    pub record: bool,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// tracing filter, e.g. "info" or "callbox=debug".
    pub filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            shop: ShopConfig::default(),
            storage: StorageConfig::default(),
            sip: SipConfig::default(),
            media: MediaConfig::default(),
            call: CallConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            name: "the shop".into(),
            default_country: "US".into(),
            timezone: "America/Chicago".into(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./callbox-data"),
        }
    }
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
            public_address: None,
            allowed_peers: vec!["127.0.0.0/8".parse().expect("static CIDR")],
            stranger_rate_limit: 5,
            max_concurrent_calls: 2,
            user: String::new(),
            realm: "callbox".into(),
            accounts: Vec::new(),
            max_register_expires: 3600,
            answer_delay_ms: 0,
            max_message_bytes: 8192,
            user_agent: concat!("callbox/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            rtp_port_min: 10000,
            rtp_port_max: 10999,
            telephone_event_payload_type: 101,
            jitter_buffer_frames: 3,
            rtp_timeout_secs: 30,
            inband_dtmf: true,
        }
    }
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            greeting_wav: None,
            max_call_secs: 600,
            idle_timeout_secs: 60,
            hangup_digit: '#',
            record: true,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            filter: "info".into(),
        }
    }
}
