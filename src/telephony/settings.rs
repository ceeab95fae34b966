//! The telephony layer's settings: `[sip]` and `[media]`, with their validation.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::infra::settings::SettingIssue;
use crate::infra::Secret;

/// SIP user agent server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// UDP address to listen on.
    pub listen: SocketAddr,
    /// Address written into Contact/SDP when `listen` is a wildcard (0.0.0.0); empty = guess.
    pub public_address: Option<IpAddr>,
    /// Peers (the ATA) allowed to talk to the box: addresses or CIDRs. Others get 403.
    #[serde(deserialize_with = "deserialize_peers")]
    pub allowed_peers: Vec<ipnet::IpNet>,
    /// Requests per second accepted from one address outside the allow-list before dropping.
    pub stranger_rate_limit: u32,
    /// Calls up at once before 486 Busy Here.
    pub max_concurrent_calls: usize,
    /// INVITEs must authenticate (digest, 407 challenge, MD5 or SHA-256) as one of
    /// `accounts`: for ATAs that answer challenges (HT813, SPA3102).
    pub require_invite_auth: bool,
    /// Registered-ATA mode: INVITEs are answered only from the exact address and port a
    /// live REGISTER binding came from (the ATA registers with the box as one of `accounts`);
    /// any other source on the allow-list gets 403. Needs `accounts`.
    pub require_registration: bool,
    /// Calls up at once from one source address before 486 Busy Here, so one host on the
    /// allowed network cannot hold every line. 0: only `max_concurrent_calls` applies.
    pub max_calls_per_source: usize,
    /// New calls (INVITEs) accepted per minute from one source address; past it, 503 with
    /// Retry-After. 0: no limit.
    pub call_attempts_per_minute: u32,
    /// The user part the box answers to; an INVITE for another user gets 404 Not Found.
    /// Empty: any user.
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
    /// Calls the box places (paging the on-call technician): where its INVITEs go, as
    /// `ip:port` — the ATA (its FXO port dials the number out on the shop's line) or a SIP
    /// trunk. Empty: the box places no calls.
    pub outbound_target: String,
    /// Host written in the Request-URI when a number is dialled (`sip:<number>@<domain>`);
    /// empty: the outbound target's address.
    pub outbound_domain: String,
    /// User part of the From of placed calls, and the digest username answering a 401/407
    /// (the trunk account). Empty: "callbox".
    pub outbound_user: String,
    /// Digest password answering a 401/407 to the box's INVITE (trunk account or the ATA's).
    pub outbound_password: Secret,
    /// Seconds a placed call rings before the box gives up (CANCEL).
    pub outbound_ring_timeout_secs: u64,
    /// Issue 15: the box can place a call while a caller is on the line (a SIP trunk, or an
    /// ATA with a second FXO line), so a caller asking for a person can be bridged to the
    /// on-call technician. Off: one line; the caller is paged for and called back.
    pub outbound_while_on_call: bool,
}

/// Accepts bare addresses ("192.168.1.20") as well as CIDRs: an ATA is usually one address.
fn deserialize_peers<'de, D>(deserializer: D) -> Result<Vec<ipnet::IpNet>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let items = Vec::<String>::deserialize(deserializer)?;
    items
        .iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!("`{s}` is not an IP address or CIDR"))
                })
        })
        .collect()
}

/// Credentials an ATA uses for REGISTER digest authentication.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SipAccount {
    pub username: String,
    pub password: Secret,
}

/// Codec to offer or accept.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    /// The RTP/AVP encoding name (RFC 3551), as written in `a=rtpmap` and in the config.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The static payload type RFC 3551 assigns.
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }
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

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
            public_address: None,
            allowed_peers: vec!["127.0.0.0/8".parse().expect("static CIDR")],
            stranger_rate_limit: 5,
            max_concurrent_calls: 2,
            require_invite_auth: false,
            require_registration: false,
            max_calls_per_source: 1,
            call_attempts_per_minute: 20,
            user: String::new(),
            realm: "callbox".into(),
            accounts: Vec::new(),
            max_register_expires: 3600,
            answer_delay_ms: 0,
            max_message_bytes: 8192,
            user_agent: concat!("callbox/", env!("CARGO_PKG_VERSION")).into(),
            outbound_target: String::new(),
            outbound_domain: String::new(),
            outbound_user: String::new(),
            outbound_password: Secret::default(),
            outbound_ring_timeout_secs: 30,
            outbound_while_on_call: false,
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

impl SipConfig {
    /// Checks `[sip]`; problems are pushed onto `v`.
    pub fn validate(&self, v: &mut Vec<SettingIssue>) {
        let sip = self;
        if sip.listen.port() == 0 {
            v.push(SettingIssue::error(
                "sip.listen",
                "port must not be 0 (the ATA needs a fixed port, usually 5060)",
            ));
        }
        if let Some(addr) = sip.public_address {
            if addr.is_unspecified() || addr.is_multicast() {
                v.push(SettingIssue::error(
                    "sip.public_address",
                    format!("{addr} cannot be reached by the ATA; give the box's own address"),
                ));
            }
        }
        if sip.allowed_peers.is_empty() {
            v.push(SettingIssue::error(
                "sip.allowed_peers",
                "must list at least one address or CIDR (the ATA)",
            ));
        }
        for net in &sip.allowed_peers {
            if net.prefix_len() == 0 {
                v.push(SettingIssue::warning(
                    "sip.allowed_peers",
                    format!("{net} lets anyone on the network place calls to the box"),
                ));
            }
        }
        if sip.require_invite_auth && sip.accounts.is_empty() {
            v.push(SettingIssue::error(
                "sip.require_invite_auth",
                "needs at least one of sip.accounts for the ATA to authenticate as",
            ));
        }
        if !sip.outbound_target.is_empty() && sip.outbound_target.parse::<SocketAddr>().is_err() {
            v.push(SettingIssue::error(
                "sip.outbound_target",
                "must be an IP address and port (the ATA's or the trunk's, e.g. 192.168.1.20:5060)",
            ));
        }
        if !(5..=300).contains(&sip.outbound_ring_timeout_secs) {
            v.push(SettingIssue::error(
                "sip.outbound_ring_timeout_secs",
                "must be between 5 and 300 seconds",
            ));
        }
        if sip.outbound_while_on_call && sip.outbound_target.is_empty() {
            v.push(SettingIssue::error(
                "sip.outbound_while_on_call",
                "needs sip.outbound_target (the trunk or the ATA's second line) to call out on",
            ));
        }
        if sip.require_registration && sip.accounts.is_empty() {
            v.push(SettingIssue::error(
                "sip.require_registration",
                "needs at least one of sip.accounts: a registration anyone could make proves \
                 nothing about who calls",
            ));
        }
        if sip.max_concurrent_calls < 1 {
            v.push(SettingIssue::error(
                "sip.max_concurrent_calls",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("sip.user", &sip.user),
            ("sip.realm", &sip.realm),
            ("sip.user_agent", &sip.user_agent),
            ("sip.outbound_domain", &sip.outbound_domain),
            ("sip.outbound_user", &sip.outbound_user),
        ] {
            // These end up inside SIP headers; control characters would split or corrupt them.
            if value.chars().any(char::is_control) {
                v.push(SettingIssue::error(
                    key,
                    "must not contain control characters",
                ));
            }
        }
        if sip.user.contains(['@', ' ', ':']) {
            v.push(SettingIssue::error(
                "sip.user",
                "must be a bare SIP user part (no `@`, `:` or spaces)",
            ));
        }
        if !sip.accounts.is_empty() && sip.realm.trim().is_empty() {
            v.push(SettingIssue::error(
                "sip.realm",
                "must not be empty when sip.accounts are configured",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, account) in sip.accounts.iter().enumerate() {
            let key = format!("sip.accounts[{i}].username");
            if account.username.trim().is_empty() {
                v.push(SettingIssue::error(key, "must not be empty"));
            } else if !seen.insert(account.username.as_str()) {
                v.push(SettingIssue::error(
                    key,
                    format!("duplicate username `{}`", account.username),
                ));
            }
            if account.password.expose().is_empty() {
                v.push(SettingIssue::warning(
                    format!("sip.accounts[{i}].password"),
                    "is empty",
                ));
            }
        }
        if sip.max_register_expires == 0 {
            v.push(SettingIssue::error(
                "sip.max_register_expires",
                "must be greater than 0",
            ));
        }
        // 1024: below that even a bare INVITE with SDP does not fit; 65507: largest UDP payload.
        if !(1024..=65507).contains(&sip.max_message_bytes) {
            v.push(SettingIssue::error(
                "sip.max_message_bytes",
                format!(
                    "must be between 1024 and 65507 ({} given)",
                    sip.max_message_bytes
                ),
            ));
        }
        if sip.answer_delay_ms > 60_000 {
            v.push(SettingIssue::warning(
                "sip.answer_delay_ms",
                format!(
                    "{} ms is over a minute; most ATAs give up before that",
                    sip.answer_delay_ms
                ),
            ));
        }
    }
}

impl MediaConfig {
    /// Checks `[media]`; each call needs an RTP/RTCP port pair, so the range is checked
    /// against `sip.max_concurrent_calls`.
    pub fn validate(&self, max_concurrent_calls: usize, v: &mut Vec<SettingIssue>) {
        let media = self;
        if media.codecs.is_empty() {
            v.push(SettingIssue::error(
                "media.codecs",
                "must list at least one codec (PCMU, PCMA)",
            ));
        }
        let mut seen = Vec::new();
        for codec in &media.codecs {
            if seen.contains(codec) {
                v.push(SettingIssue::error(
                    "media.codecs",
                    format!("{} is listed twice", codec.name()),
                ));
            }
            seen.push(*codec);
        }
        let (min, max) = (media.rtp_port_min, media.rtp_port_max);
        if min < 1024 {
            v.push(SettingIssue::error(
                "media.rtp_port_min",
                format!("must be at least 1024 ({min} is a privileged port)"),
            ));
        }
        if min % 2 != 0 {
            // RTP uses even ports, RTCP the odd one above (RFC 3550 §11).
            v.push(SettingIssue::error(
                "media.rtp_port_min",
                format!("must be even ({min} given)"),
            ));
        }
        if min >= max {
            v.push(SettingIssue::error(
                "media.rtp_port_min",
                format!("must be less than media.rtp_port_max ({min} >= {max})"),
            ));
        } else {
            // Each call takes an even RTP port and the RTCP port above it.
            let pairs = (usize::from(max) - usize::from(min)).div_ceil(2);
            if pairs < max_concurrent_calls {
                v.push(SettingIssue::error(
                    "media.rtp_port_max",
                    format!(
                        "range {min}-{max} holds {pairs} RTP/RTCP port pairs, fewer than sip.max_concurrent_calls ({})",
                        max_concurrent_calls
                    ),
                ));
            }
        }
        if !(96..=127).contains(&media.telephone_event_payload_type) {
            v.push(SettingIssue::error(
                "media.telephone_event_payload_type",
                format!(
                    "must be a dynamic payload type in 96..=127 ({} given)",
                    media.telephone_event_payload_type
                ),
            ));
        }
        if !(1..=10).contains(&media.jitter_buffer_frames) {
            v.push(SettingIssue::error(
                "media.jitter_buffer_frames",
                format!(
                    "must be between 1 and 10 frames ({} given)",
                    media.jitter_buffer_frames
                ),
            ));
        }
        if media.rtp_timeout_secs == 0 {
            v.push(SettingIssue::error(
                "media.rtp_timeout_secs",
                "must be greater than 0",
            ));
        }
    }
}

/// `shop.default_country` decides the dialling plan caller ID is normalised with; the reason
/// when telephony has no plan for it.
pub fn check_default_country(country: &str) -> Result<(), String> {
    if super::caller_id::dialling_plan(country).is_some() {
        return Ok(());
    }
    Err(format!(
        "unsupported country `{country}` (supported: {})",
        super::caller_id::DIALLING_PLANS
            .iter()
            .map(|p| p.country)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
