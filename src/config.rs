//! Configuration: embedded defaults, a TOML file over them, environment variables over single keys.
//!
//! Every key is documented in `firmware/etc/callbox/callbox.toml` (the commented example).
//! `callbox config check` validates a file and names the key and the reason for every error.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::telephony::caller_id::dialling_plan;

/// Where the appliance looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/callbox/callbox.toml";

/// Prefix of the environment variables that override single keys: `CALLBOX_<SECTION>_<KEY>`.
pub const ENV_PREFIX: &str = "CALLBOX_";

/// The whole configuration. Every section has defaults, so an empty file is valid.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub shop: ShopConfig,
    pub storage: StorageConfig,
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub call: CallConfig,
    pub queue: QueueConfig,
    pub triage: TriageConfig,
    pub speech: SpeechConfig,
    pub voice: VoiceConfig,
    pub audio: AudioConfig,
    pub dialog: DialogConfig,
    pub schedule: ScheduleConfig,
    pub log: LogConfig,
    pub servicetitan: ServiceTitanConfig,
    pub alerts: AlertsConfig,
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
    #[serde(deserialize_with = "deserialize_peers")]
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
    pub password: String,
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

/// How calls are answered: which flow, how long, what is recorded.
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
    /// Which call flow runs: the dialog (the product), the pre-speech answering flow, or the
    /// spoken echo stand-in.
    pub mode: CallMode,
    /// Phrases the `echo_turn` flow listens for; empty = open vocabulary.
    pub turn_grammar: Vec<String>,
}

/// The call flow an answered call runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum CallMode {
    /// The dialog engine: triage, booking, callbacks, messages, by voice or keypad.
    #[default]
    Dialog,
    /// Greeting, recording, digits (no speech).
    Answering,
    /// Greet, listen to one turn, say back what was heard (until the dialog issue's flow).
    EchoTurn,
}

/// Speech recognition: voice activity detection, end of turn, the Vosk model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SpeechConfig {
    /// webrtc-vad aggressiveness, 0 (keeps most speech) to 3 (fewest false starts on noise).
    pub vad_aggressiveness: u8,
    /// Consecutive voiced 20 ms frames that start an utterance.
    pub start_frames: u32,
    /// Silence that ends an utterance, in milliseconds.
    pub trailing_silence_ms: u64,
    /// Silence that ends an utterance once a closed-set answer is complete.
    pub short_trailing_silence_ms: u64,
    /// Longest utterance, in milliseconds.
    pub max_utterance_ms: u64,
    /// A question with no answer started by then times out, in milliseconds.
    pub no_speech_timeout_ms: u64,
    /// The Vosk model directory; a relative path is under `storage.data_dir`.
    pub model_dir: PathBuf,
    /// How 8 kHz audio reaches a 16 kHz model: "filter" (in callbox) or "vosk" (the model's
    /// `--allow-upsample=true`).
    pub upsample: crate::speech::asr::Upsample,
}

/// The box's voice: the TTS engine and the prompts it renders.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceConfig {
    /// "espeak-ng" (a separate process: GPL-3 stays out of the binary) or "none" (built-in
    /// WAV prompts only).
    pub engine: VoiceEngine,
    /// The engine's executable, found on PATH when not absolute.
    pub program: PathBuf,
    /// The engine's voice name (espeak-ng `-v`), e.g. "en-us".
    pub voice: String,
    /// Speaking rate in words per minute (espeak-ng `-s`).
    pub rate_wpm: u32,
    /// Gain applied to everything the box says, in dB (negative = quieter).
    pub gain_db: f32,
    /// Where fixed prompts are cached as WAV; unset = `<data_dir>/prompts`.
    pub prompt_cache_dir: Option<PathBuf>,
}

/// Text-to-speech engines.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum VoiceEngine {
    EspeakNg,
    None,
}

/// Audio behaviour on the line: barge-in and echo guard, and the ALSA line interface.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// Stop speaking when the caller talks over the box.
    pub barge_in: bool,
    /// The caller must be this many dB above the box's own voice (as sent) to barge in: the
    /// line's hybrid returns our voice 6-15 dB down, and that echo must not interrupt us.
    pub echo_margin_db: f32,
    /// Consecutive 20 ms frames of caller speech above the echo before barging in.
    pub barge_in_frames: u32,
    /// ALSA PCM device of a USB line interface (e.g. "plughw:1,0"); unset = none.
    pub alsa_device: Option<String>,
}

/// The offline job queue (`<data_dir>/queue`) that holds work until ServiceTitan has it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Days a record stays after it reached ServiceTitan (status page, `queue list`).
    pub retention_days: u32,
    /// Failed sync attempts before a record is set aside for a person instead of retried.
    pub max_attempts_before_attention: u32,
    /// Size at which the queue's mirror file (its recovery log) is rotated, in bytes.
    pub mirror_max_bytes: u64,
    /// Rotated mirror files kept.
    pub mirror_keep_files: usize,
}

/// How the box sorts a caller's problem into emergency or routine (safety hazards always get
/// the safety script; these keys only move the emergency line).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TriageConfig {
    /// No heat at or below this outdoor temperature (°F) is an emergency.
    pub cold_threshold_f: f32,
    /// No cooling at or above this outdoor temperature (°F) is an emergency.
    pub hot_threshold_f: f32,
    /// Words that mark a vulnerable occupant, besides the built-in ones (elderly, baby, infant,
    /// newborn, oxygen, medical, pregnant, disabled, ...). Lowercase recogniser words.
    pub vulnerable_words: Vec<String>,
}

/// What the dialog engine says and how patient it is (see `dialog::engine`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DialogConfig {
    /// First words of every call; `{shop}` is replaced by `shop.name`.
    pub greeting: String,
    /// Said right after the greeting: callers must know they are talking to a machine.
    pub disclosure: String,
    /// The shop's number as it should be spoken when the box cannot help ("five five five,
    /// one two three, four five six seven"); empty = "the shop's main number".
    pub office_phone: String,
    /// Offer the maintenance membership to callers who are not members.
    pub membership_offer: bool,
    /// The membership's name as the shop sells it ("comfort club").
    pub membership_name: String,
    /// Confirmation numbers: this prefix, then `confirmation_length` letters and digits.
    pub confirmation_prefix: String,
    pub confirmation_length: usize,
    /// Re-prompts after silence or a misunderstanding before the keypad-only prompt.
    pub reprompts: u32,
    /// How long the box waits for the caller to start speaking or keying, in seconds.
    pub no_input_timeout_secs: u64,
    /// State/province code put on addresses taken on the phone ("IL").
    pub default_state: String,
}

/// When the box offers appointments when it cannot see live capacity, and how long live
/// capacity stays trustworthy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Days with regular appointments: "mon" … "sun".
    pub business_days: Vec<String>,
    /// First arrival window starts at this local time ("HH:MM").
    pub business_hours_start: String,
    /// Last arrival window ends by this local time ("HH:MM").
    pub business_hours_end: String,
    /// Length of an arrival window, in hours.
    pub arrival_window_hours: u32,
    /// The on-call technician's evening arrival windows, local "HH:MM-HH:MM".
    pub on_call_windows: Vec<String>,
    /// Windows read to the caller at once (2 or 3).
    pub windows_offered: usize,
    /// Cached capacity older than this (seconds) is not trusted: the box offers windows from
    /// the hours above and says the office confirms them.
    pub capacity_max_age_secs: u64,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// tracing filter, e.g. "info" or "callbox=debug".
    pub filter: String,
}

/// ServiceTitan, where queued work goes. Disabled by default: the box then only queues.
///
/// Secrets belong in the environment, not the file: `CALLBOX_SERVICETITAN_CLIENT_SECRET`,
/// `CALLBOX_SERVICETITAN_CLIENT_ID`, `CALLBOX_SERVICETITAN_APP_KEY` (e.g. from a systemd
/// `EnvironmentFile=` readable by root only).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceTitanConfig {
    /// Sync queued work to ServiceTitan. `false`: offline queue only.
    pub enabled: bool,
    /// "production", "integration" (the sandbox) or "custom" (auth_url/api_url).
    pub environment: String,
    /// Token host for "custom" (`https://…`, or `http://` on loopback only).
    pub auth_url: String,
    /// API host for "custom".
    pub api_url: String,
    /// Numeric tenant id.
    pub tenant_id: i64,
    /// The application's key (`ST-App-Key`).
    pub app_key: String,
    /// Client credentials of this tenant and environment.
    pub client_id: String,
    pub client_secret: String,
    /// The app's External Data Application GUID (duplicate-free retries depend on it).
    pub external_data_guid: String,
    pub connect_timeout_secs: u64,
    pub token_timeout_secs: u64,
    pub api_timeout_secs: u64,
    /// Requests in any one-second window; ServiceTitan allows 60.
    pub max_requests_per_second: u32,
    /// Business unit when neither the record nor the job type decides one.
    pub default_business_unit_id: Option<i64>,
    /// Campaign when the dialled number matches none; unset = the tenant's default campaign.
    pub default_campaign_id: Option<i64>,
    /// The dialog's job-type hint (`no_heat`, `no_cooling`, `leak`, …) → ServiceTitan job type id.
    pub job_types: std::collections::BTreeMap<String, i64>,
    /// Hint used when the record's hint is missing or unmapped.
    pub default_job_type_id: Option<i64>,
    /// Put the on-call technician on booked appointments: "never", "when_requested" (the
    /// dialog decides per call), "emergencies", "always".
    pub assign_on_call_technician: String,
    /// When ServiceTitan rejects a job (400): "booking" (a CSR sees it on the Calls screen),
    /// "lead", or "none". The record goes to needs-attention either way.
    pub fallback_on_rejection: String,
    /// Booking provider tag id for bookings (Settings → Integrations → Booking Provider Tags).
    pub booking_provider_id: Option<i64>,
    /// Capacity cache refresh while online, in seconds.
    pub capacity_refresh_secs: u64,
    /// Reference data (job types, business units, campaigns, technicians, shifts) refresh.
    pub reference_refresh_secs: u64,
    /// How often jobs the box booked are checked for dispatcher changes.
    pub poll_changes_secs: u64,
    /// How often a customer's details (locations, membership, upcoming appointments and their
    /// technicians) are fetched again while online, in seconds.
    pub customer_details_refresh_secs: u64,
    /// How many days ahead the appointments behind "when is my technician coming?" are fetched.
    pub customer_details_days_ahead: u32,
    /// Longest `Retry-After` obeyed, in seconds, on every path (API and token endpoint): a
    /// gateway asking for a day is asked again after this long.
    pub retry_after_cap_secs: u64,
}

/// `servicetitan.assign_on_call_technician`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCallPolicy {
    Never,
    WhenRequested,
    Emergencies,
    Always,
}

/// `servicetitan.fallback_on_rejection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionFallback {
    Booking,
    Lead,
    None,
}

impl ServiceTitanConfig {
    pub fn on_call_policy(&self) -> Option<OnCallPolicy> {
        Some(match self.assign_on_call_technician.as_str() {
            "never" => OnCallPolicy::Never,
            "when_requested" => OnCallPolicy::WhenRequested,
            "emergencies" => OnCallPolicy::Emergencies,
            "always" => OnCallPolicy::Always,
            _ => return None,
        })
    }

    pub fn rejection_fallback(&self) -> Option<RejectionFallback> {
        Some(match self.fallback_on_rejection.as_str() {
            "booking" => RejectionFallback::Booking,
            "lead" => RejectionFallback::Lead,
            "none" => RejectionFallback::None,
            _ => return None,
        })
    }

    /// The client's environment, or why it is invalid.
    pub fn environment(&self) -> Result<crate::servicetitan::Environment, String> {
        use crate::servicetitan::Environment;
        let env = match self.environment.as_str() {
            "production" => Environment::Production,
            "integration" => Environment::Integration,
            "custom" => Environment::Custom {
                auth_url: self.auth_url.clone(),
                api_url: self.api_url.clone(),
            },
            other => {
                return Err(format!(
                    "`{other}` is not one of production, integration, custom"
                ))
            }
        };
        env.urls().map_err(|e| e.to_string())?;
        Ok(env)
    }
}

impl Default for ServiceTitanConfig {
    fn default() -> Self {
        ServiceTitanConfig {
            enabled: false,
            environment: "production".into(),
            auth_url: String::new(),
            api_url: String::new(),
            tenant_id: 0,
            app_key: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            external_data_guid: String::new(),
            connect_timeout_secs: 5,
            token_timeout_secs: 15,
            api_timeout_secs: 30,
            max_requests_per_second: 50,
            default_business_unit_id: None,
            default_campaign_id: None,
            job_types: std::collections::BTreeMap::new(),
            default_job_type_id: None,
            assign_on_call_technician: "when_requested".into(),
            fallback_on_rejection: "booking".into(),
            booking_provider_id: None,
            capacity_refresh_secs: 60,
            reference_refresh_secs: 3600,
            poll_changes_secs: 300,
            customer_details_refresh_secs: 900,
            customer_details_days_ahead: 7,
            retry_after_cap_secs: 600,
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
            mode: CallMode::Dialog,
            turn_grammar: Vec::new(),
        }
    }
}

impl Default for SpeechConfig {
    fn default() -> Self {
        let ep = crate::speech::endpointer::EndpointerConfig::default();
        SpeechConfig {
            vad_aggressiveness: 2,
            start_frames: ep.start_frames,
            trailing_silence_ms: ep.trailing_silence_ms,
            short_trailing_silence_ms: ep.short_trailing_silence_ms,
            max_utterance_ms: ep.max_utterance_ms,
            no_speech_timeout_ms: ep.no_speech_timeout_ms,
            model_dir: PathBuf::from("models/vosk"),
            upsample: crate::speech::asr::Upsample::Filter,
        }
    }
}

impl SpeechConfig {
    /// The endpointer settings for 20 ms audio-port frames.
    pub fn endpointer(&self) -> crate::speech::endpointer::EndpointerConfig {
        crate::speech::endpointer::EndpointerConfig {
            start_frames: self.start_frames,
            trailing_silence_ms: self.trailing_silence_ms,
            short_trailing_silence_ms: self.short_trailing_silence_ms,
            max_utterance_ms: self.max_utterance_ms,
            no_speech_timeout_ms: self.no_speech_timeout_ms,
            ..Default::default()
        }
    }
}

impl Default for VoiceConfig {
    fn default() -> Self {
        VoiceConfig {
            engine: VoiceEngine::EspeakNg,
            program: PathBuf::from("espeak-ng"),
            voice: "en-us".into(),
            rate_wpm: 160,
            gain_db: 0.0,
            prompt_cache_dir: None,
        }
    }
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            barge_in: true,
            echo_margin_db: 6.0,
            barge_in_frames: 2,
            alsa_device: None,
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            retention_days: 30,
            max_attempts_before_attention: 20,
            mirror_max_bytes: 4 * 1024 * 1024,
            mirror_keep_files: 8,
        }
    }
}

impl Default for TriageConfig {
    fn default() -> Self {
        TriageConfig {
            cold_threshold_f: 40.0,
            hot_threshold_f: 90.0,
            vulnerable_words: Vec::new(),
        }
    }
}

impl Default for DialogConfig {
    fn default() -> Self {
        DialogConfig {
            greeting: "Thanks for calling {shop}.".into(),
            disclosure: "You've reached our after-hours line. I'm an automated assistant, and \
                         I can book service, take a message, or have someone call you back."
                .into(),
            office_phone: String::new(),
            membership_offer: true,
            membership_name: "maintenance membership".into(),
            confirmation_prefix: "CB".into(),
            confirmation_length: 4,
            reprompts: 2,
            no_input_timeout_secs: 6,
            default_state: "IL".into(),
        }
    }
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            business_days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            business_hours_start: "08:00".into(),
            business_hours_end: "17:00".into(),
            arrival_window_hours: 2,
            on_call_windows: ["18:00-20:00", "20:00-22:00", "22:00-00:00"]
                .map(String::from)
                .to_vec(),
            windows_offered: 3,
            capacity_max_age_secs: 900,
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

/// Alerts to the on-call technician when a caller reports gas, CO, smoke, burning or sparking
/// (see `crate::alert`). With no `webhook_url` nothing is sent: the box says so loudly at
/// start-up, and the office still gets the report through the ServiceTitan sync.
///
/// The token is a secret: set `CALLBOX_ALERTS_WEBHOOK_TOKEN` in the environment, not the file.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where alerts are POSTed: `https://…` (plain `http://` only on loopback). Empty = none.
    pub webhook_url: String,
    /// "json" (a JSON document) or "ntfy" (plain text + Title/Priority/Tags headers, for
    /// ntfy.sh or a self-hosted ntfy: `https://ntfy.sh/<topic>`).
    pub format: String,
    /// Sent as `Authorization: Bearer <token>` when set. Never logged.
    pub webhook_token: String,
    /// Named in the alert when ServiceTitan's on-call shift is unknown (offline, no shift).
    pub fallback_name: String,
    /// The fallback technician's phone, E.164 (+13125550100).
    pub fallback_phone: String,
    /// One delivery attempt's time limit, in seconds.
    pub timeout_secs: u64,
    /// Longest wait between delivery retries, in seconds (the wait doubles from 1 s up to it).
    pub retry_max_secs: u64,
}

impl std::fmt::Debug for AlertsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token must never reach a log line, including a `{:?}` of the whole config.
        f.debug_struct("AlertsConfig")
            .field("webhook_url", &self.webhook_url)
            .field("format", &self.format)
            .field(
                "webhook_token",
                &if self.webhook_token.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .field("fallback_name", &self.fallback_name)
            .field("fallback_phone", &self.fallback_phone)
            .field("timeout_secs", &self.timeout_secs)
            .field("retry_max_secs", &self.retry_max_secs)
            .finish()
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhook_url: String::new(),
            format: "json".into(),
            webhook_token: String::new(),
            fallback_name: String::new(),
            fallback_phone: String::new(),
            timeout_secs: 10,
            retry_max_secs: 60,
        }
    }
}

/// How bad a [`ConfigIssue`] is: errors stop the box from starting, warnings are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem with a configuration, named by its key path (`sip.listen`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigIssue {
    /// Dotted key path (`media.rtp_port_min`), or `line N` when a syntax error has no key.
    pub key: String,
    pub reason: String,
    pub severity: Severity,
}

impl ConfigIssue {
    fn error(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigIssue {
            key: key.into(),
            reason: reason.into(),
            severity: Severity::Error,
        }
    }

    fn warning(key: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigIssue {
            key: key.into(),
            reason: reason.into(),
            severity: Severity::Warning,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` named a file that does not exist.
    #[error("config file {path} does not exist")]
    NotFound { path: PathBuf },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not text (binary garbage, wrong encoding).
    #[error("config file {path} is not UTF-8 text: {reason}")]
    NotText { path: PathBuf, reason: String },
    /// An environment override did not parse.
    #[error("environment variable {var} (key {key}): {reason}")]
    Env {
        var: String,
        key: String,
        reason: String,
    },
    /// The file (with overrides) parsed but has errors; every error is listed.
    #[error("invalid configuration{}:{}", source_suffix(.path), IssueList(.issues))]
    Invalid {
        path: Option<PathBuf>,
        issues: Vec<ConfigIssue>,
    },
}

fn source_suffix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" in {}", p.display()),
        None => String::new(),
    }
}

struct IssueList<'a>(&'a [ConfigIssue]);

impl fmt::Display for IssueList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for issue in self.0 {
            write!(f, "\n  {issue}")?;
        }
        Ok(())
    }
}

/// Directories under `storage.data_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPaths {
    pub root: PathBuf,
    /// Caller audio, one WAV per call (`call.record`).
    pub recordings: PathBuf,
    /// One record per call (caller ID, digits, outcome) waiting for the job queue.
    pub calls: PathBuf,
    /// The offline job queue (sled database and its mirror).
    pub queue: PathBuf,
}

impl DataPaths {
    /// Creates every directory (and parents) if missing.
    pub fn create_all(&self) -> std::io::Result<()> {
        for dir in [&self.root, &self.recordings, &self.calls, &self.queue] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(())
    }
}

impl Config {
    /// Loads the configuration: embedded defaults, then the file, then `CALLBOX_<SECTION>_<KEY>`
    /// environment variables.
    ///
    /// `path` is `--config`: when given it must exist. When `None`, [`DEFAULT_CONFIG_PATH`] is read
    /// if present, else the defaults are used alone. Warnings are logged, errors returned.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut env = Vec::new();
        for (name, value) in std::env::vars_os() {
            // Only our variables matter; a non-UTF-8 one of ours must not be silently ignored.
            let Ok(name) = name.into_string() else {
                continue;
            };
            if !name.starts_with(ENV_PREFIX) {
                continue;
            }
            match value.into_string() {
                Ok(value) => env.push((name, value)),
                Err(_) => {
                    return Err(ConfigError::Env {
                        key: env_key_hint(&name),
                        var: name,
                        reason: "value is not valid UTF-8".into(),
                    })
                }
            }
        }
        let config = Self::load_with(path, Path::new(DEFAULT_CONFIG_PATH), &env)?;
        for issue in config.validate() {
            tracing::warn!(key = %issue.key, "config: {}", issue.reason);
        }
        Ok(config)
    }

    /// [`Config::load`] with the default path and environment passed in, so tests need not touch
    /// the process environment or `/etc`.
    fn load_with(
        path: Option<&Path>,
        default_path: &Path,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let (file, mut table) = match path {
            Some(p) => {
                if !p.exists() {
                    return Err(ConfigError::NotFound {
                        path: p.to_path_buf(),
                    });
                }
                (Some(p.to_path_buf()), read_table(p)?)
            }
            None if default_path.exists() => {
                (Some(default_path.to_path_buf()), read_table(default_path)?)
            }
            None => (None, toml::Table::new()),
        };
        let invalid = |issues: Vec<ConfigIssue>| ConfigError::Invalid {
            path: file.clone(),
            issues,
        };

        let structural = check_structure(&mut table);
        if !structural.is_empty() {
            return Err(invalid(structural));
        }
        apply_env(&mut table, env)?;
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    invalid(vec![ConfigIssue::error("(config)", e.message())])
                })?;
        let errors: Vec<ConfigIssue> = config
            .validate()
            .into_iter()
            .filter(ConfigIssue::is_error)
            .collect();
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(invalid(errors))
        }
    }

    /// The directories the box writes under `storage.data_dir`.
    pub fn data_paths(&self) -> DataPaths {
        let root = self.storage.data_dir.clone();
        DataPaths {
            recordings: root.join("recordings"),
            calls: root.join("calls"),
            queue: root.join("queue"),
            root,
        }
    }

    /// The speech model directory: `speech.model_dir`, under `storage.data_dir` when relative.
    pub fn model_dir(&self) -> PathBuf {
        self.storage.data_dir.join(&self.speech.model_dir)
    }

    /// Semantic checks on a parsed configuration. Returns every problem, errors and warnings.
    pub fn validate(&self) -> Vec<ConfigIssue> {
        let mut v = Vec::new();
        self.validate_shop(&mut v);
        if self.storage.data_dir.as_os_str().is_empty() {
            v.push(ConfigIssue::error("storage.data_dir", "must not be empty"));
        }
        self.validate_sip(&mut v);
        self.validate_media(&mut v);
        self.validate_call(&mut v);
        self.validate_servicetitan(&mut v);
        self.validate_queue(&mut v);
        self.validate_triage(&mut v);
        self.validate_speech(&mut v);
        self.validate_voice(&mut v);
        self.validate_audio(&mut v);
        self.validate_dialog(&mut v);
        self.validate_schedule(&mut v);
        self.validate_alerts(&mut v);
        if self.log.filter.trim().is_empty() {
            v.push(ConfigIssue::error(
                "log.filter",
                "must not be empty (e.g. \"info\")",
            ));
        } else if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.log.filter) {
            v.push(ConfigIssue::error(
                "log.filter",
                format!("not a valid tracing filter: {e}"),
            ));
        }
        v
    }

    fn validate_shop(&self, v: &mut Vec<ConfigIssue>) {
        let shop = &self.shop;
        if shop.name.trim().is_empty() {
            v.push(ConfigIssue::warning(
                "shop.name",
                "is empty; the greeting will not name the shop",
            ));
        }
        if dialling_plan(&shop.default_country).is_none() {
            v.push(ConfigIssue::error(
                "shop.default_country",
                format!(
                    "unsupported country `{}` (supported: {})",
                    shop.default_country,
                    crate::telephony::caller_id::DIALLING_PLANS
                        .iter()
                        .map(|p| p.country)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if !looks_like_iana_timezone(&shop.timezone) {
            v.push(ConfigIssue::error(
                "shop.timezone",
                format!(
                    "`{}` is not an IANA timezone name (e.g. \"America/Chicago\" or \"UTC\")",
                    shop.timezone
                ),
            ));
        }
    }

    fn validate_sip(&self, v: &mut Vec<ConfigIssue>) {
        let sip = &self.sip;
        if sip.listen.port() == 0 {
            v.push(ConfigIssue::error(
                "sip.listen",
                "port must not be 0 (the ATA needs a fixed port, usually 5060)",
            ));
        }
        if let Some(addr) = sip.public_address {
            if addr.is_unspecified() || addr.is_multicast() {
                v.push(ConfigIssue::error(
                    "sip.public_address",
                    format!("{addr} cannot be reached by the ATA; give the box's own address"),
                ));
            }
        }
        if sip.allowed_peers.is_empty() {
            v.push(ConfigIssue::error(
                "sip.allowed_peers",
                "must list at least one address or CIDR (the ATA)",
            ));
        }
        for net in &sip.allowed_peers {
            if net.prefix_len() == 0 {
                v.push(ConfigIssue::warning(
                    "sip.allowed_peers",
                    format!("{net} lets anyone on the network place calls to the box"),
                ));
            }
        }
        if sip.max_concurrent_calls < 1 {
            v.push(ConfigIssue::error(
                "sip.max_concurrent_calls",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("sip.user", &sip.user),
            ("sip.realm", &sip.realm),
            ("sip.user_agent", &sip.user_agent),
        ] {
            // These end up inside SIP headers; control characters would split or corrupt them.
            if value.chars().any(char::is_control) {
                v.push(ConfigIssue::error(
                    key,
                    "must not contain control characters",
                ));
            }
        }
        if sip.user.contains(['@', ' ', ':']) {
            v.push(ConfigIssue::error(
                "sip.user",
                "must be a bare SIP user part (no `@`, `:` or spaces)",
            ));
        }
        if !sip.accounts.is_empty() && sip.realm.trim().is_empty() {
            v.push(ConfigIssue::error(
                "sip.realm",
                "must not be empty when sip.accounts are configured",
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, account) in sip.accounts.iter().enumerate() {
            let key = format!("sip.accounts[{i}].username");
            if account.username.trim().is_empty() {
                v.push(ConfigIssue::error(key, "must not be empty"));
            } else if !seen.insert(account.username.as_str()) {
                v.push(ConfigIssue::error(
                    key,
                    format!("duplicate username `{}`", account.username),
                ));
            }
            if account.password.is_empty() {
                v.push(ConfigIssue::warning(
                    format!("sip.accounts[{i}].password"),
                    "is empty",
                ));
            }
        }
        if sip.max_register_expires == 0 {
            v.push(ConfigIssue::error(
                "sip.max_register_expires",
                "must be greater than 0",
            ));
        }
        // 1024: below that even a bare INVITE with SDP does not fit; 65507: largest UDP payload.
        if !(1024..=65507).contains(&sip.max_message_bytes) {
            v.push(ConfigIssue::error(
                "sip.max_message_bytes",
                format!(
                    "must be between 1024 and 65507 ({} given)",
                    sip.max_message_bytes
                ),
            ));
        }
        if sip.answer_delay_ms > 60_000 {
            v.push(ConfigIssue::warning(
                "sip.answer_delay_ms",
                format!(
                    "{} ms is over a minute; most ATAs give up before that",
                    sip.answer_delay_ms
                ),
            ));
        }
    }

    fn validate_media(&self, v: &mut Vec<ConfigIssue>) {
        let media = &self.media;
        if media.codecs.is_empty() {
            v.push(ConfigIssue::error(
                "media.codecs",
                "must list at least one codec (PCMU, PCMA)",
            ));
        }
        let mut seen = Vec::new();
        for codec in &media.codecs {
            if seen.contains(codec) {
                v.push(ConfigIssue::error(
                    "media.codecs",
                    format!("{} is listed twice", codec.name()),
                ));
            }
            seen.push(*codec);
        }
        let (min, max) = (media.rtp_port_min, media.rtp_port_max);
        if min < 1024 {
            v.push(ConfigIssue::error(
                "media.rtp_port_min",
                format!("must be at least 1024 ({min} is a privileged port)"),
            ));
        }
        if min % 2 != 0 {
            // RTP uses even ports, RTCP the odd one above (RFC 3550 §11).
            v.push(ConfigIssue::error(
                "media.rtp_port_min",
                format!("must be even ({min} given)"),
            ));
        }
        if min >= max {
            v.push(ConfigIssue::error(
                "media.rtp_port_min",
                format!("must be less than media.rtp_port_max ({min} >= {max})"),
            ));
        } else {
            // Each call takes an even RTP port and the RTCP port above it.
            let pairs = (usize::from(max) - usize::from(min)).div_ceil(2);
            if pairs < self.sip.max_concurrent_calls {
                v.push(ConfigIssue::error(
                    "media.rtp_port_max",
                    format!(
                        "range {min}-{max} holds {pairs} RTP/RTCP port pairs, fewer than sip.max_concurrent_calls ({})",
                        self.sip.max_concurrent_calls
                    ),
                ));
            }
        }
        if !(96..=127).contains(&media.telephone_event_payload_type) {
            v.push(ConfigIssue::error(
                "media.telephone_event_payload_type",
                format!(
                    "must be a dynamic payload type in 96..=127 ({} given)",
                    media.telephone_event_payload_type
                ),
            ));
        }
        if !(1..=10).contains(&media.jitter_buffer_frames) {
            v.push(ConfigIssue::error(
                "media.jitter_buffer_frames",
                format!(
                    "must be between 1 and 10 frames ({} given)",
                    media.jitter_buffer_frames
                ),
            ));
        }
        if media.rtp_timeout_secs == 0 {
            v.push(ConfigIssue::error(
                "media.rtp_timeout_secs",
                "must be greater than 0",
            ));
        }
    }

    fn validate_call(&self, v: &mut Vec<ConfigIssue>) {
        let call = &self.call;
        if let Some(wav) = &call.greeting_wav {
            if wav.as_os_str().is_empty() {
                v.push(ConfigIssue::error(
                    "call.greeting_wav",
                    "is empty; remove the key to use the built-in prompt",
                ));
            } else if !wav.is_file() {
                v.push(ConfigIssue::error(
                    "call.greeting_wav",
                    format!("file {} does not exist", wav.display()),
                ));
            }
        }
        if call.max_call_secs == 0 {
            v.push(ConfigIssue::error(
                "call.max_call_secs",
                "must be greater than 0",
            ));
        }
        if call.idle_timeout_secs == 0 {
            v.push(ConfigIssue::error(
                "call.idle_timeout_secs",
                "must be greater than 0",
            ));
        }
        if !matches!(call.hangup_digit, '0'..='9' | '*' | '#' | 'A'..='D') {
            v.push(ConfigIssue::error(
                "call.hangup_digit",
                format!(
                    "`{}` is not a DTMF digit (0-9, *, #, A-D)",
                    call.hangup_digit.escape_default()
                ),
            ));
        }
    }

    fn validate_triage(&self, v: &mut Vec<ConfigIssue>) {
        let triage = &self.triage;
        // Outdoor temperatures a shop in North America can meet; outside that it is a typo
        // (Celsius, a missing digit) that would silently turn every call into an emergency.
        for (key, value) in [
            ("triage.cold_threshold_f", triage.cold_threshold_f),
            ("triage.hot_threshold_f", triage.hot_threshold_f),
        ] {
            if !value.is_finite() || !(-40.0..=130.0).contains(&value) {
                v.push(ConfigIssue::error(
                    key,
                    format!("must be between -40 and 130 °F ({value} given)"),
                ));
            }
        }
        if triage.cold_threshold_f >= triage.hot_threshold_f {
            v.push(ConfigIssue::error(
                "triage.cold_threshold_f",
                format!(
                    "must be below triage.hot_threshold_f ({} >= {})",
                    triage.cold_threshold_f, triage.hot_threshold_f
                ),
            ));
        }
        for (i, word) in triage.vulnerable_words.iter().enumerate() {
            // Matched against recogniser output, which is lowercase words: anything else
            // would never match and the shop would believe it does.
            let ok = !word.trim().is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == ' ' || c == '\'');
            if !ok {
                v.push(ConfigIssue::error(
                    format!("triage.vulnerable_words[{i}]"),
                    format!("`{word}` must be lowercase words (a-z, spaces, apostrophes)"),
                ));
            }
        }
    }
}

impl Config {
    fn validate_dialog(&self, v: &mut Vec<ConfigIssue>) {
        let d = &self.dialog;
        if d.greeting.trim().is_empty() {
            v.push(ConfigIssue::error("dialog.greeting", "must not be empty"));
        }
        // A caller has a right to know it is a machine; an empty disclosure would hide it.
        if d.disclosure.trim().is_empty() {
            v.push(ConfigIssue::error(
                "dialog.disclosure",
                "must not be empty: callers must hear that this is an automated assistant",
            ));
        }
        if d.membership_offer && d.membership_name.trim().is_empty() {
            v.push(ConfigIssue::error(
                "dialog.membership_name",
                "must not be empty while dialog.membership_offer is on",
            ));
        }
        if !(1..=4).contains(&d.confirmation_prefix.len())
            || !d
                .confirmation_prefix
                .chars()
                .all(|c| c.is_ascii_uppercase())
        {
            v.push(ConfigIssue::error(
                "dialog.confirmation_prefix",
                "must be 1 to 4 capital letters (A-Z)",
            ));
        }
        // Short enough to say and write down, long enough not to collide within a season.
        if !(3..=8).contains(&d.confirmation_length) {
            v.push(ConfigIssue::error(
                "dialog.confirmation_length",
                format!("must be 3 to 8 ({} given)", d.confirmation_length),
            ));
        }
        if d.reprompts > 5 {
            v.push(ConfigIssue::error(
                "dialog.reprompts",
                format!("must be 0 to 5 ({} given)", d.reprompts),
            ));
        }
        if !(2..=30).contains(&d.no_input_timeout_secs) {
            v.push(ConfigIssue::error(
                "dialog.no_input_timeout_secs",
                format!("must be 2 to 30 ({} given)", d.no_input_timeout_secs),
            ));
        }
        if d.default_state.len() != 2 || !d.default_state.chars().all(|c| c.is_ascii_uppercase()) {
            v.push(ConfigIssue::error(
                "dialog.default_state",
                format!(
                    "`{}` must be a two-letter state code (\"IL\")",
                    d.default_state
                ),
            ));
        }
    }

    fn validate_schedule(&self, v: &mut Vec<ConfigIssue>) {
        let s = &self.schedule;
        if self.shop.timezone.parse::<chrono_tz::Tz>().is_err()
            && looks_like_iana_timezone(&self.shop.timezone)
        {
            v.push(ConfigIssue::error(
                "shop.timezone",
                format!("`{}` is not in the timezone database", self.shop.timezone),
            ));
        }
        if s.business_days.is_empty() {
            v.push(ConfigIssue::error(
                "schedule.business_days",
                "must name at least one day",
            ));
        }
        for (i, day) in s.business_days.iter().enumerate() {
            if crate::dialog::schedule::parse_weekday(day).is_none() {
                v.push(ConfigIssue::error(
                    format!("schedule.business_days[{i}]"),
                    format!("`{day}` is not one of mon, tue, wed, thu, fri, sat, sun"),
                ));
            }
        }
        let start = crate::dialog::schedule::parse_clock(&s.business_hours_start);
        let end = crate::dialog::schedule::parse_clock(&s.business_hours_end);
        if start.is_none() {
            v.push(ConfigIssue::error(
                "schedule.business_hours_start",
                format!("`{}` is not a time HH:MM", s.business_hours_start),
            ));
        }
        if end.is_none() {
            v.push(ConfigIssue::error(
                "schedule.business_hours_end",
                format!("`{}` is not a time HH:MM", s.business_hours_end),
            ));
        }
        if !(1..=8).contains(&s.arrival_window_hours) {
            v.push(ConfigIssue::error(
                "schedule.arrival_window_hours",
                format!("must be 1 to 8 ({} given)", s.arrival_window_hours),
            ));
        } else if let (Some(a), Some(b)) = (start, end) {
            if b <= a || (b - a) < chrono::Duration::hours(i64::from(s.arrival_window_hours)) {
                v.push(ConfigIssue::error(
                    "schedule.business_hours_end",
                    "must leave room for at least one arrival window after business_hours_start",
                ));
            }
        }
        for (i, w) in s.on_call_windows.iter().enumerate() {
            if crate::dialog::schedule::parse_clock_range(w).is_none() {
                v.push(ConfigIssue::error(
                    format!("schedule.on_call_windows[{i}]"),
                    format!("`{w}` is not a window HH:MM-HH:MM"),
                ));
            }
        }
        if !(2..=3).contains(&s.windows_offered) {
            v.push(ConfigIssue::error(
                "schedule.windows_offered",
                format!("must be 2 or 3 ({} given)", s.windows_offered),
            ));
        }
        if s.capacity_max_age_secs < 60 {
            v.push(ConfigIssue::error(
                "schedule.capacity_max_age_secs",
                "must be at least 60",
            ));
        }
    }

    fn validate_servicetitan(&self, v: &mut Vec<ConfigIssue>) {
        let st = &self.servicetitan;
        let key = |k: &str| format!("servicetitan.{k}");
        // Shape checks apply always (a typo should not wait until the day sync is enabled).
        let env = st.environment();
        if let Err(reason) = &env {
            v.push(ConfigIssue::error(
                if ["production", "integration", "custom"].contains(&st.environment.as_str()) {
                    key("api_url")
                } else {
                    key("environment")
                },
                reason.clone(),
            ));
        }
        if !(1..=60).contains(&st.max_requests_per_second) {
            v.push(ConfigIssue::error(
                key("max_requests_per_second"),
                format!(
                    "must be between 1 and 60, ServiceTitan's limit ({} given)",
                    st.max_requests_per_second
                ),
            ));
        }
        for (k, secs) in [
            ("connect_timeout_secs", st.connect_timeout_secs),
            ("token_timeout_secs", st.token_timeout_secs),
            ("api_timeout_secs", st.api_timeout_secs),
            ("capacity_refresh_secs", st.capacity_refresh_secs),
            ("reference_refresh_secs", st.reference_refresh_secs),
            ("poll_changes_secs", st.poll_changes_secs),
            (
                "customer_details_refresh_secs",
                st.customer_details_refresh_secs,
            ),
        ] {
            if secs == 0 {
                v.push(ConfigIssue::error(key(k), "must be greater than 0"));
            }
        }
        if !(1..=86_400).contains(&st.retry_after_cap_secs) {
            v.push(ConfigIssue::error(
                key("retry_after_cap_secs"),
                format!(
                    "must be between 1 and 86400 seconds ({} given)",
                    st.retry_after_cap_secs
                ),
            ));
        }
        if !(1..=31).contains(&st.customer_details_days_ahead) {
            v.push(ConfigIssue::error(
                key("customer_details_days_ahead"),
                format!(
                    "must be between 1 and 31 days ({} given)",
                    st.customer_details_days_ahead
                ),
            ));
        }
        if st.api_timeout_secs > 100 {
            v.push(ConfigIssue::warning(
                key("api_timeout_secs"),
                "ServiceTitan's own timeout is 100 s; waiting longer gains nothing",
            ));
        }
        if st.on_call_policy().is_none() {
            v.push(ConfigIssue::error(
                key("assign_on_call_technician"),
                format!(
                    "`{}` is not one of never, when_requested, emergencies, always",
                    st.assign_on_call_technician
                ),
            ));
        }
        if st.rejection_fallback().is_none() {
            v.push(ConfigIssue::error(
                key("fallback_on_rejection"),
                format!(
                    "`{}` is not one of booking, lead, none",
                    st.fallback_on_rejection
                ),
            ));
        }
        for (hint, id) in &st.job_types {
            if *id <= 0 {
                v.push(ConfigIssue::error(
                    format!("servicetitan.job_types.{hint}"),
                    "must be a ServiceTitan job type id (> 0)",
                ));
            }
        }
        for (k, id) in [
            ("default_business_unit_id", st.default_business_unit_id),
            ("default_campaign_id", st.default_campaign_id),
            ("default_job_type_id", st.default_job_type_id),
            ("booking_provider_id", st.booking_provider_id),
        ] {
            if id.is_some_and(|i| i <= 0) {
                v.push(ConfigIssue::error(
                    key(k),
                    "must be a ServiceTitan id (> 0)",
                ));
            }
        }
        if !st.enabled {
            return;
        }
        if st.tenant_id <= 0 {
            v.push(ConfigIssue::error(
                key("tenant_id"),
                "must be set (the numeric tenant id) when servicetitan.enabled",
            ));
        }
        for (k, value) in [
            ("app_key", &st.app_key),
            ("client_id", &st.client_id),
            ("client_secret", &st.client_secret),
        ] {
            if value.trim().is_empty() {
                v.push(ConfigIssue::error(
                    key(k),
                    format!(
                        "must be set when servicetitan.enabled (tip: {})",
                        env_var_name("servicetitan", k)
                    ),
                ));
            }
        }
        if !looks_like_guid(&st.external_data_guid) {
            v.push(ConfigIssue::error(
                key("external_data_guid"),
                "must be the app's External Data Application GUID \
                 (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx); retries rely on it to avoid duplicates",
            ));
        }
        if st.rejection_fallback() == Some(RejectionFallback::Booking)
            && st.booking_provider_id.is_none()
        {
            v.push(ConfigIssue::error(
                key("booking_provider_id"),
                "must be set when fallback_on_rejection = \"booking\"",
            ));
        }
    }
}

impl Config {
    fn validate_queue(&self, v: &mut Vec<ConfigIssue>) {
        let queue = &self.queue;
        if queue.retention_days == 0 {
            v.push(ConfigIssue::error(
                "queue.retention_days",
                "must be at least 1 (synced records are kept this many days)",
            ));
        } else if queue.retention_days > 3650 {
            v.push(ConfigIssue::error(
                "queue.retention_days",
                format!(
                    "must be at most 3650 ({} given); the queue is not an archive",
                    queue.retention_days
                ),
            ));
        }
        if queue.max_attempts_before_attention == 0 {
            v.push(ConfigIssue::error(
                "queue.max_attempts_before_attention",
                "must be at least 1",
            ));
        }
        // Below 64 KiB a single record with a long transcript could force a rotation per write.
        if queue.mirror_max_bytes < 64 * 1024 {
            v.push(ConfigIssue::error(
                "queue.mirror_max_bytes",
                format!("must be at least 65536 ({} given)", queue.mirror_max_bytes),
            ));
        }
        if queue.mirror_keep_files == 0 {
            v.push(ConfigIssue::error(
                "queue.mirror_keep_files",
                "must be at least 1",
            ));
        }
    }
}

/// 8-4-4-4-12 hex digits.
fn looks_like_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl Config {
    fn validate_voice(&self, v: &mut Vec<ConfigIssue>) {
        let voice = &self.voice;
        if voice.engine != VoiceEngine::None {
            if voice.program.as_os_str().is_empty() {
                v.push(ConfigIssue::error("voice.program", "must not be empty"));
            }
            // The voice name becomes one argument of the engine's command line.
            if voice.voice.is_empty()
                || voice.voice.starts_with('-')
                || voice.voice.chars().any(|c| c.is_control() || c == ' ')
            {
                v.push(ConfigIssue::error(
                    "voice.voice",
                    format!(
                        "`{}` is not a voice name (e.g. \"en-us\")",
                        voice.voice.escape_default()
                    ),
                ));
            }
        }
        // espeak-ng accepts 80-450 words per minute.
        if !(80..=450).contains(&voice.rate_wpm) {
            v.push(ConfigIssue::error(
                "voice.rate_wpm",
                format!("must be between 80 and 450 ({} given)", voice.rate_wpm),
            ));
        }
        if !(-30.0..=20.0).contains(&voice.gain_db) {
            v.push(ConfigIssue::error(
                "voice.gain_db",
                format!("must be between -30 and 20 dB ({} given)", voice.gain_db),
            ));
        }
        if voice
            .prompt_cache_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            v.push(ConfigIssue::error(
                "voice.prompt_cache_dir",
                "is empty; remove the key to use <data_dir>/prompts",
            ));
        }
    }

    fn validate_speech(&self, v: &mut Vec<ConfigIssue>) {
        let sp = &self.speech;
        if sp.vad_aggressiveness > 3 {
            v.push(ConfigIssue::error(
                "speech.vad_aggressiveness",
                format!("must be 0-3 ({} given)", sp.vad_aggressiveness),
            ));
        }
        if !(1..=50).contains(&sp.start_frames) {
            v.push(ConfigIssue::error(
                "speech.start_frames",
                format!("must be 1-50 frames of 20 ms ({} given)", sp.start_frames),
            ));
        }
        if !(100..=10_000).contains(&sp.trailing_silence_ms) {
            v.push(ConfigIssue::error(
                "speech.trailing_silence_ms",
                format!("must be 100-10000 ms ({} given)", sp.trailing_silence_ms),
            ));
        }
        if sp.short_trailing_silence_ms < 20
            || sp.short_trailing_silence_ms > sp.trailing_silence_ms
        {
            v.push(ConfigIssue::error(
                "speech.short_trailing_silence_ms",
                format!(
                    "must be at least 20 ms and at most speech.trailing_silence_ms ({} given)",
                    sp.short_trailing_silence_ms
                ),
            ));
        }
        if sp.max_utterance_ms <= sp.trailing_silence_ms || sp.max_utterance_ms > 120_000 {
            v.push(ConfigIssue::error(
                "speech.max_utterance_ms",
                format!(
                    "must be above speech.trailing_silence_ms and at most 120000 ms ({} given)",
                    sp.max_utterance_ms
                ),
            ));
        }
        if !(500..=120_000).contains(&sp.no_speech_timeout_ms) {
            v.push(ConfigIssue::error(
                "speech.no_speech_timeout_ms",
                format!("must be 500-120000 ms ({} given)", sp.no_speech_timeout_ms),
            ));
        }
        if sp.model_dir.as_os_str().is_empty() {
            v.push(ConfigIssue::error(
                "speech.model_dir",
                "must not be empty (a relative path is under storage.data_dir)",
            ));
        }
    }

    fn validate_audio(&self, v: &mut Vec<ConfigIssue>) {
        let audio = &self.audio;
        if !(0.0..=30.0).contains(&audio.echo_margin_db) {
            v.push(ConfigIssue::error(
                "audio.echo_margin_db",
                format!(
                    "must be between 0 and 30 dB ({} given)",
                    audio.echo_margin_db
                ),
            ));
        }
        // Past 5 frames barge-in cannot stop the box within 100 ms of the caller's first word.
        if !(1..=5).contains(&audio.barge_in_frames) {
            v.push(ConfigIssue::error(
                "audio.barge_in_frames",
                format!("must be between 1 and 5 ({} given)", audio.barge_in_frames),
            ));
        }
        if let Some(device) = &audio.alsa_device {
            if device.trim().is_empty() || device.chars().any(char::is_control) {
                v.push(ConfigIssue::error(
                    "audio.alsa_device",
                    "is not a PCM device name (e.g. \"plughw:1,0\"); remove the key for none",
                ));
            }
        }
    }
}

/// Checks a configuration file's text: syntax, unknown keys, value types, then every semantic
/// rule. Returns all issues found (empty = valid). Used by `callbox config check FILE`.
impl Config {
    fn validate_alerts(&self, v: &mut Vec<ConfigIssue>) {
        let a = &self.alerts;
        let format = crate::alert::Format::parse(&a.format);
        if format.is_none() {
            v.push(ConfigIssue::error(
                "alerts.format",
                format!("`{}` is not one of json, ntfy", a.format),
            ));
        }
        if a.webhook_url.trim().is_empty() {
            if !a.webhook_token.is_empty() {
                v.push(ConfigIssue::error(
                    "alerts.webhook_token",
                    "is set but alerts.webhook_url is empty: there is nowhere to send alerts",
                ));
            }
        } else if let Err(reason) = crate::alert::check_webhook_url(&a.webhook_url, format) {
            v.push(ConfigIssue::error("alerts.webhook_url", reason));
        }
        // A header value cannot hold control characters; a pasted token with a newline would
        // fail every delivery at 2 am instead of here.
        if a.webhook_token.chars().any(|c| c.is_control() || c == ' ') {
            v.push(ConfigIssue::error(
                "alerts.webhook_token",
                "contains spaces or control characters (a stray newline from a paste?)",
            ));
        }
        if !a.fallback_phone.is_empty() && !crate::alert::looks_like_e164(&a.fallback_phone) {
            v.push(ConfigIssue::error(
                "alerts.fallback_phone",
                format!(
                    "`{}` is not an E.164 number (+ and 8-15 digits, e.g. +13125550100)",
                    a.fallback_phone
                ),
            ));
        }
        for (k, secs) in [
            ("timeout_secs", a.timeout_secs),
            ("retry_max_secs", a.retry_max_secs),
        ] {
            if secs == 0 {
                v.push(ConfigIssue::error(
                    format!("alerts.{k}"),
                    "must be greater than 0",
                ));
            }
        }
        if a.retry_max_secs > 900 {
            v.push(ConfigIssue::warning(
                "alerts.retry_max_secs",
                "over 15 minutes between retries: a gas report could wait that long once the \
                 channel is back",
            ));
        }
    }
}

pub fn check(text: &str) -> Vec<ConfigIssue> {
    let mut table = match parse_table(text) {
        Ok(t) => t,
        Err(issue) => return vec![issue],
    };
    let mut issues = check_structure(&mut table);
    // Bad keys were removed above, so the rest still deserializes and gets its semantic checks.
    match toml::Value::Table(table).try_into::<Config>() {
        Ok(config) => issues.extend(config.validate()),
        Err(e) => issues.push(ConfigIssue::error("(config)", e.message())),
    }
    issues
}

/// [`check`] on raw bytes, for files that may not be text at all.
pub fn check_bytes(bytes: &[u8]) -> Vec<ConfigIssue> {
    match std::str::from_utf8(bytes) {
        Ok(text) => check(text),
        Err(e) => vec![ConfigIssue::error("(file)", not_text_reason(&e))],
    }
}

/// The environment variable that overrides `section.key`.
pub fn env_var_name(section: &str, key: &str) -> String {
    format!("{ENV_PREFIX}{}_{}", section, key).to_uppercase()
}

fn not_text_reason(e: &std::str::Utf8Error) -> String {
    format!(
        "not UTF-8 text (invalid byte at offset {}); is this really a TOML file?",
        e.valid_up_to()
    )
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| ConfigError::NotText {
        path: path.to_path_buf(),
        reason: not_text_reason(&e),
    })?;
    parse_table(text).map_err(|issue| ConfigError::Invalid {
        path: Some(path.to_path_buf()),
        issues: vec![issue],
    })
}

/// TOML syntax check. toml reports a byte span; map it to the key being defined there.
fn parse_table(text: &str) -> Result<toml::Table, ConfigIssue> {
    text.parse::<toml::Table>().map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start).min(text.len());
        let (line, column) = line_column(text, offset);
        ConfigIssue::error(
            key_at_line(text, line),
            format!("{} (line {line}, column {column})", one_line(e.message())),
        )
    })
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    // The span may fall inside a multi-byte character of a corrupt file; back up to a boundary.
    let mut offset = offset;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Best-effort key path of line `line` (1-based): the last `[section]` header above it plus the
/// key assigned on that line.
fn key_at_line(text: &str, line: usize) -> String {
    let mut section = String::new();
    let mut key = None;
    for (i, l) in text.lines().enumerate().take(line) {
        let t = l.trim();
        if let Some(h) = t.strip_prefix('[') {
            let h = h.trim_start_matches('[');
            let name = h.split(']').next().unwrap_or("").trim();
            section = name.trim_matches('"').to_string();
            if i + 1 == line {
                key = Some(String::new());
            }
        } else if i + 1 == line {
            key = t
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string());
        }
    }
    match key {
        Some(k) if !k.is_empty() && !section.is_empty() => format!("{section}.{k}"),
        Some(k) if !k.is_empty() => k,
        Some(_) if !section.is_empty() => section,
        _ => format!("line {line}"),
    }
}

/// Every section and key the configuration accepts, with a value of the right TOML type.
/// Built from the defaults with optional values filled in, so it cannot drift from the structs.
fn key_template() -> toml::Table {
    let mut c = Config::default();
    c.sip.public_address = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    c.sip.accounts = vec![SipAccount {
        username: "ata".into(),
        password: "secret".into(),
    }];
    c.call.greeting_wav = Some(PathBuf::from("greeting.wav"));
    c.triage.vulnerable_words = vec!["grandmother".into()];
    c.servicetitan.default_business_unit_id = Some(1);
    c.servicetitan.default_campaign_id = Some(1);
    c.servicetitan.default_job_type_id = Some(1);
    c.servicetitan.booking_provider_id = Some(1);
    c.servicetitan.job_types.insert("no_heat".into(), 1);
    c.voice.prompt_cache_dir = Some(PathBuf::from("prompts"));
    c.audio.alsa_device = Some("default".into());
    match toml::Value::try_from(&c) {
        Ok(toml::Value::Table(t)) => t,
        // Serializing plain structs of strings and numbers cannot fail.
        _ => toml::Table::new(),
    }
}

/// Unknown sections/keys and values of the wrong type. Offending keys are removed from `table`
/// so the remainder can still be checked.
fn check_structure(table: &mut toml::Table) -> Vec<ConfigIssue> {
    let template = key_template();
    let mut issues = Vec::new();
    let sections: Vec<String> = table.keys().cloned().collect();
    for section in sections {
        let Some(template_section) = template.get(&section).and_then(toml::Value::as_table) else {
            issues.push(ConfigIssue::error(
                section.clone(),
                format!(
                    "unknown section `[{section}]`{}",
                    did_you_mean(&section, template.keys())
                ),
            ));
            table.remove(&section);
            continue;
        };
        let Some(user_section) = table.get_mut(&section).and_then(toml::Value::as_table_mut) else {
            issues.push(ConfigIssue::error(
                section.clone(),
                format!("must be a table (`[{section}]`)"),
            ));
            table.remove(&section);
            continue;
        };
        let keys: Vec<String> = user_section.keys().cloned().collect();
        for key in keys {
            let path = format!("{section}.{key}");
            if !template_section.contains_key(&key) {
                let mut hint = did_you_mean(&key, template_section.keys());
                if hint.is_empty() {
                    // Right key, wrong section: common when copying snippets around.
                    if let Some((other, _)) = template
                        .iter()
                        .find(|(_, t)| t.as_table().is_some_and(|t| t.contains_key(&key)))
                    {
                        hint = format!(" (did you mean `{other}.{key}`?)");
                    }
                }
                issues.push(ConfigIssue::error(
                    path.clone(),
                    format!("unknown key `{path}`{hint}"),
                ));
                user_section.remove(&key);
                continue;
            }
            let Some(value) = user_section.get(&key) else {
                continue;
            };
            if let Err(reason) = check_one_key(&section, &key, value.clone()) {
                issues.push(ConfigIssue::error(path, reason));
                user_section.remove(&key);
            }
        }
    }
    issues
}

/// Deserializes a config holding only `section.key = value`: isolates type errors per key.
fn check_one_key(section: &str, key: &str, value: toml::Value) -> Result<(), String> {
    let mut inner = toml::Table::new();
    inner.insert(key.to_string(), value);
    let mut outer = toml::Table::new();
    outer.insert(section.to_string(), toml::Value::Table(inner));
    toml::Value::Table(outer)
        .try_into::<Config>()
        .map(|_| ())
        .map_err(|e| one_line(e.message()))
}

/// toml's messages span several lines; an issue is printed on one.
fn one_line(message: &str) -> String {
    message.trim_end().replace('\n', "; ")
}

fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a String>) -> String {
    let best = candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

/// Levenshtein distance, for "did you mean" hints on short key names.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Best guess at the key a `CALLBOX_…` variable names, for error messages.
fn env_key_hint(var: &str) -> String {
    var.strip_prefix(ENV_PREFIX)
        .unwrap_or(var)
        .to_lowercase()
        .replacen('_', ".", 1)
}

/// Applies `CALLBOX_<SECTION>_<KEY>` overrides. The value is converted to the TOML type of the
/// key's default (string, integer, bool; lists are comma-separated; lists of tables are TOML
/// inline arrays) and then type-checked on its own so the error names the variable.
fn apply_env(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    let template = key_template();
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let rest = rest.to_lowercase();
        // Section names contain no `_`, so the first `_` splits section from key.
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        // Other CALLBOX_ variables (e.g. CALLBOX_CONFIG for the CLI) are not ours to judge.
        let Some(template_section) = template.get(section).and_then(toml::Value::as_table) else {
            continue;
        };
        let env_err = |reason: String| ConfigError::Env {
            var: var.clone(),
            key: format!("{section}.{key}"),
            reason,
        };
        let Some(kind) = template_section.get(key) else {
            return Err(env_err(format!(
                "unknown key{}",
                did_you_mean(key, template_section.keys())
            )));
        };
        let value = env_value(kind, raw).map_err(env_err)?;
        check_one_key(section, key, value.clone()).map_err(env_err)?;
        let entry = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(t) = entry.as_table_mut() {
            t.insert(key.to_string(), value);
        }
    }
    Ok(())
}

fn env_value(kind: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    let raw_trimmed = raw.trim();
    Ok(match kind {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        toml::Value::Integer(_) => toml::Value::Integer(
            raw_trimmed
                .parse()
                .map_err(|_| format!("`{raw}` is not a whole number"))?,
        ),
        toml::Value::Float(_) => toml::Value::Float(
            raw_trimmed
                .parse()
                .map_err(|_| format!("`{raw}` is not a number"))?,
        ),
        toml::Value::Boolean(_) => {
            toml::Value::Boolean(match raw_trimmed.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => return Err(format!("`{raw}` is not true or false")),
            })
        }
        toml::Value::Array(items) if items.iter().any(toml::Value::is_table) => {
            // Lists of tables (sip.accounts) cannot be comma lists; take TOML inline syntax.
            let doc: toml::Table = format!("v = {raw}")
                .parse()
                .map_err(|e: toml::de::Error| {
                    format!(
                        "expected a TOML inline array like [{{username = \"a\", password = \"b\"}}]: {}",
                        one_line(e.message())
                    )
                })?;
            doc.get("v")
                .cloned()
                .unwrap_or(toml::Value::Array(Vec::new()))
        }
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        toml::Value::Datetime(_) | toml::Value::Table(_) => {
            return Err("this key cannot be set from the environment".into())
        }
    })
}

/// IANA zone names are `UTC`, or `Area/Location[/Sub]` with a known area. Checking the real
/// zone database would need tzdata on the box; this catches typos like "CST" or "Chicago".
fn looks_like_iana_timezone(tz: &str) -> bool {
    const AREAS: &[&str] = &[
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
        "Etc",
    ];
    if matches!(tz, "UTC" | "Etc/UTC" | "GMT") {
        return true;
    }
    let mut parts = tz.split('/');
    let Some(area) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    AREAS.contains(&area)
        && !rest.is_empty()
        && rest.len() <= 2
        && rest.iter().all(|p| {
            !p.is_empty()
                && p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../firmware/etc/callbox/callbox.toml");

    fn errors(text: &str) -> Vec<ConfigIssue> {
        check(text)
            .into_iter()
            .filter(ConfigIssue::is_error)
            .collect()
    }

    /// Asserts `text` yields an error on `key` whose reason contains `reason`.
    fn assert_error(text: &str, key: &str, reason: &str) {
        let issues = errors(text);
        assert!(
            issues
                .iter()
                .any(|i| i.key == key && i.reason.contains(reason)),
            "expected `{key}: …{reason}…` for {text:?}, got {issues:#?}"
        );
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load_with(None, Path::new("/nonexistent/callbox.toml"), &env(pairs))
    }

    #[test]
    fn defaults_have_no_issues() {
        assert_eq!(Config::default().validate(), vec![]);
        assert_eq!(check(""), vec![]);
    }

    #[test]
    fn example_parses_to_defaults_except_deliberate_differences() {
        let parsed: Config = toml::from_str(EXAMPLE).unwrap();
        let mut expected = Config::default();
        expected.storage.data_dir = PathBuf::from("/var/lib/callbox");
        expected.sip.listen = "0.0.0.0:5060".parse().unwrap();
        expected.sip.allowed_peers = vec!["192.168.1.0/24".parse().unwrap()];
        assert_eq!(parsed, expected);
    }

    #[test]
    fn example_passes_check_without_warnings() {
        assert_eq!(check(EXAMPLE), vec![]);
    }

    #[test]
    fn example_documents_every_key_with_its_env_var() {
        // Uncomment `# key = value` and `# [[table]]` lines: then every key must be present,
        // in the right section, and of the right type.
        let uncommented: String = EXAMPLE
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with("[[")
                        || rest.split_once(" = ").is_some_and(|(k, _)| {
                            k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                        }) =>
                {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut table: toml::Table = uncommented.parse().unwrap();
        assert_eq!(check_structure(&mut table), vec![]);
        for (section, keys) in key_template() {
            let keys = keys.as_table().unwrap();
            for key in keys.keys() {
                assert!(
                    table.get(&section).and_then(|s| s.get(key)).is_some(),
                    "{section}.{key} is not in the example file"
                );
                let var = env_var_name(&section, key);
                assert!(EXAMPLE.contains(&var), "{var} is not in the example file");
            }
        }
    }

    #[test]
    fn alerts_are_validated_with_key_and_reason() {
        for (text, key, reason) in [
            (
                "[alerts]\nformat = \"slack\"",
                "alerts.format",
                "not one of json, ntfy",
            ),
            (
                "[alerts]\nwebhook_url = \"hooks.example.com/x\"",
                "alerts.webhook_url",
                "not a URL",
            ),
            (
                "[alerts]\nwebhook_url = \"http://hooks.example.com/x\"",
                "alerts.webhook_url",
                "plain http",
            ),
            (
                "[alerts]\nwebhook_url = \"https://ntfy.sh/\"\nformat = \"ntfy\"",
                "alerts.webhook_url",
                "topic",
            ),
            (
                "[alerts]\nwebhook_token = \"abc\"",
                "alerts.webhook_token",
                "webhook_url is empty",
            ),
            (
                "[alerts]\nwebhook_url = \"https://x.example/h\"\nwebhook_token = \"abc\\n\"",
                "alerts.webhook_token",
                "control characters",
            ),
            (
                "[alerts]\nfallback_phone = \"312-555-0100\"",
                "alerts.fallback_phone",
                "E.164",
            ),
            (
                "[alerts]\ntimeout_secs = 0",
                "alerts.timeout_secs",
                "greater than 0",
            ),
            (
                "[alerts]\nretry_max_secs = 0",
                "alerts.retry_max_secs",
                "greater than 0",
            ),
            ("[alerts]\nwebhook = \"x\"", "alerts.webhook", "unknown key"),
        ] {
            assert_error(text, key, reason);
        }
        let good = "[alerts]\nwebhook_url = \"https://ntfy.sh/acme-oncall-7f3k\"\n\
                    format = \"ntfy\"\nfallback_name = \"Mike\"\n\
                    fallback_phone = \"+13125550100\"";
        assert_eq!(check(good), vec![]);
    }

    #[test]
    fn alerts_token_comes_from_the_environment() {
        let c = load_env(&[
            (
                "CALLBOX_ALERTS_WEBHOOK_URL",
                "https://hooks.example.com/oncall",
            ),
            ("CALLBOX_ALERTS_WEBHOOK_TOKEN", "tok-123"),
        ])
        .unwrap();
        assert_eq!(c.alerts.webhook_token, "tok-123");
        let err = load_env(&[("CALLBOX_ALERTS_FORMAT", "sms")]).unwrap_err();
        assert!(err.to_string().contains("alerts.format"), "{err}");
    }

    #[test]
    fn key_template_covers_optional_keys() {
        let t = key_template();
        assert!(t["sip"].get("public_address").is_some());
        assert!(t["sip"].get("accounts").is_some());
        assert!(t["call"].get("greeting_wav").is_some());
        assert!(t["servicetitan"].get("booking_provider_id").is_some());
        assert!(t["servicetitan"].get("job_types").is_some());
    }

    const ST_ENABLED: &str = "[servicetitan]\nenabled = true\nenvironment = \"integration\"\n\
        tenant_id = 123\napp_key = \"ak\"\nclient_id = \"cid\"\nclient_secret = \"cs\"\n\
        external_data_guid = \"0f8fad5b-d9cb-469f-a165-70867728950e\"\n\
        booking_provider_id = 7\njob_types = { no_heat = 101, no_cooling = 102 }\n";

    #[test]
    fn servicetitan_enabled_config_is_valid_and_parses() {
        assert_eq!(errors(ST_ENABLED), vec![]);
        let c: Config = toml::from_str(ST_ENABLED).unwrap();
        assert_eq!(c.servicetitan.job_types["no_cooling"], 102);
        assert_eq!(
            c.servicetitan.environment().unwrap(),
            crate::servicetitan::Environment::Integration
        );
        assert_eq!(
            c.servicetitan.on_call_policy(),
            Some(OnCallPolicy::WhenRequested)
        );
        assert_eq!(
            c.servicetitan.rejection_fallback(),
            Some(RejectionFallback::Booking)
        );
    }

    #[test]
    fn servicetitan_rules() {
        let cases: &[(&str, &str, &str)] = &[
            ("[servicetitan]\nenabled = true", "servicetitan.tenant_id", "must be set"),
            ("[servicetitan]\nenabled = true", "servicetitan.client_secret", "CALLBOX_SERVICETITAN_CLIENT_SECRET"),
            ("[servicetitan]\nenabled = true", "servicetitan.external_data_guid", "GUID"),
            ("[servicetitan]\nenabled = true", "servicetitan.booking_provider_id", "booking"),
            ("[servicetitan]\nenvironment = \"staging\"", "servicetitan.environment", "not one of"),
            (
                "[servicetitan]\nenvironment = \"custom\"\nauth_url = \"http://10.1.2.3\"\napi_url = \"https://x.example\"",
                "servicetitan.api_url",
                "loopback",
            ),
            ("[servicetitan]\nmax_requests_per_second = 61", "servicetitan.max_requests_per_second", "between 1 and 60"),
            ("[servicetitan]\nmax_requests_per_second = 0", "servicetitan.max_requests_per_second", "between 1 and 60"),
            ("[servicetitan]\napi_timeout_secs = 0", "servicetitan.api_timeout_secs", "greater than 0"),
            ("[servicetitan]\nassign_on_call_technician = \"sometimes\"", "servicetitan.assign_on_call_technician", "not one of"),
            ("[servicetitan]\nfallback_on_rejection = \"email\"", "servicetitan.fallback_on_rejection", "not one of"),
            ("[servicetitan]\njob_types = { no_heat = 0 }", "servicetitan.job_types.no_heat", "job type id"),
            ("[servicetitan]\ndefault_campaign_id = -1", "servicetitan.default_campaign_id", "> 0"),
            ("[servicetitan]\ncustomer_details_refresh_secs = 0", "servicetitan.customer_details_refresh_secs", "greater than 0"),
            ("[servicetitan]\ncustomer_details_days_ahead = 0", "servicetitan.customer_details_days_ahead", "between 1 and 31"),
            ("[servicetitan]\ncustomer_details_days_ahead = 45", "servicetitan.customer_details_days_ahead", "between 1 and 31"),
            ("[servicetitan]\nretry_after_cap_secs = 0", "servicetitan.retry_after_cap_secs", "between 1 and 86400"),
            ("[servicetitan]\nretry_after_cap_secs = 86401", "servicetitan.retry_after_cap_secs", "between 1 and 86400"),
        ];
        for (text, key, reason) in cases {
            assert_error(text, key, reason);
        }
        let custom = "[servicetitan]\nenvironment = \"custom\"\nauth_url = \"http://127.0.0.1:9\"\napi_url = \"http://127.0.0.1:9\"";
        assert_eq!(errors(custom), vec![]);
    }

    #[test]
    fn servicetitan_secret_from_environment() {
        let c = load_env(&[
            ("CALLBOX_SERVICETITAN_CLIENT_SECRET", "s3cret"),
            ("CALLBOX_SERVICETITAN_TENANT_ID", "42"),
        ])
        .unwrap();
        assert_eq!(c.servicetitan.client_secret, "s3cret");
        assert_eq!(c.servicetitan.tenant_id, 42);
    }

    #[test]
    fn semantic_rules() {
        let cases: &[(&str, &str, &str)] = &[
            ("[sip]\nlisten = \"0.0.0.0:0\"", "sip.listen", "port must not be 0"),
            ("[sip]\npublic_address = \"0.0.0.0\"", "sip.public_address", "cannot be reached"),
            ("[sip]\nallowed_peers = []", "sip.allowed_peers", "at least one"),
            ("[sip]\nmax_concurrent_calls = 0", "sip.max_concurrent_calls", "at least 1"),
            ("[sip]\nuser = \"a@b\"", "sip.user", "bare SIP user"),
            ("[sip]\nuser_agent = \"x\\r\\nVia: evil\"", "sip.user_agent", "control"),
            ("[sip]\nmax_register_expires = 0", "sip.max_register_expires", "greater than 0"),
            ("[sip]\nmax_message_bytes = 100", "sip.max_message_bytes", "between 1024 and 65507"),
            (
                "[sip]\nrealm = \"\"\n[[sip.accounts]]\nusername = \"a\"\npassword = \"b\"",
                "sip.realm",
                "must not be empty",
            ),
            (
                "[[sip.accounts]]\nusername = \"\"\npassword = \"b\"",
                "sip.accounts[0].username",
                "must not be empty",
            ),
            (
                "[[sip.accounts]]\nusername = \"a\"\npassword = \"b\"\n[[sip.accounts]]\nusername = \"a\"\npassword = \"c\"",
                "sip.accounts[1].username",
                "duplicate username `a`",
            ),
            ("[media]\ncodecs = []", "media.codecs", "at least one"),
            ("[media]\ncodecs = [\"PCMU\", \"PCMA\", \"PCMU\"]", "media.codecs", "PCMU is listed twice"),
            ("[media]\nrtp_port_min = 1000", "media.rtp_port_min", "at least 1024"),
            ("[media]\nrtp_port_min = 10001", "media.rtp_port_min", "must be even"),
            (
                "[media]\nrtp_port_min = 10000\nrtp_port_max = 9000",
                "media.rtp_port_min",
                "must be less than media.rtp_port_max (10000 >= 9000)",
            ),
            (
                "[media]\nrtp_port_min = 10000\nrtp_port_max = 10001\n[sip]\nmax_concurrent_calls = 2",
                "media.rtp_port_max",
                "1 RTP/RTCP port pairs",
            ),
            ("[media]\ntelephone_event_payload_type = 95", "media.telephone_event_payload_type", "96..=127"),
            ("[media]\ntelephone_event_payload_type = 128", "media.telephone_event_payload_type", "96..=127"),
            ("[media]\njitter_buffer_frames = 0", "media.jitter_buffer_frames", "between 1 and 10"),
            ("[media]\njitter_buffer_frames = 11", "media.jitter_buffer_frames", "between 1 and 10"),
            ("[media]\nrtp_timeout_secs = 0", "media.rtp_timeout_secs", "greater than 0"),
            ("[call]\nmax_call_secs = 0", "call.max_call_secs", "greater than 0"),
            ("[call]\nidle_timeout_secs = 0", "call.idle_timeout_secs", "greater than 0"),
            ("[call]\nhangup_digit = \"x\"", "call.hangup_digit", "not a DTMF digit"),
            ("[call]\nhangup_digit = \"a\"", "call.hangup_digit", "not a DTMF digit"),
            ("[call]\ngreeting_wav = \"/nonexistent/hello.wav\"", "call.greeting_wav", "does not exist"),
            ("[call]\ngreeting_wav = \"\"", "call.greeting_wav", "is empty"),
            ("[call]\nmode = \"chat\"", "call.mode", "chat"),
            ("[voice]\nengine = \"festival\"", "voice.engine", "festival"),
            ("[voice]\nvoice = \"-x\"", "voice.voice", "not a voice name"),
            ("[voice]\nrate_wpm = 20", "voice.rate_wpm", "between 80 and 450"),
            ("[voice]\ngain_db = 40.0", "voice.gain_db", "between -30 and 20"),
            ("[voice]\nprompt_cache_dir = \"\"", "voice.prompt_cache_dir", "is empty"),
            ("[audio]\necho_margin_db = -1.0", "audio.echo_margin_db", "between 0 and 30"),
            ("[audio]\nbarge_in_frames = 0", "audio.barge_in_frames", "between 1 and 5"),
            ("[audio]\nalsa_device = \" \"", "audio.alsa_device", "not a PCM device"),
            ("[shop]\ndefault_country = \"XX\"", "shop.default_country", "unsupported country `XX`"),
            ("[shop]\ntimezone = \"CST\"", "shop.timezone", "not an IANA timezone"),
            ("[shop]\ntimezone = \"Chicago\"", "shop.timezone", "not an IANA timezone"),
            ("[shop]\ntimezone = \"Mars/Olympus\"", "shop.timezone", "not an IANA timezone"),
            ("[storage]\ndata_dir = \"\"", "storage.data_dir", "must not be empty"),
            ("[log]\nfilter = \"\"", "log.filter", "must not be empty"),
            ("[queue]\nretention_days = 0", "queue.retention_days", "at least 1"),
            ("[queue]\nretention_days = 9999", "queue.retention_days", "at most 3650"),
            (
                "[queue]\nmax_attempts_before_attention = 0",
                "queue.max_attempts_before_attention",
                "at least 1",
            ),
            ("[queue]\nmirror_max_bytes = 1000", "queue.mirror_max_bytes", "at least 65536"),
            ("[queue]\nmirror_keep_files = 0", "queue.mirror_keep_files", "at least 1"),
            ("[log]\nfilter = \"callbox=loud\"", "log.filter", "not a valid tracing filter"),
            ("[triage]\ncold_threshold_f = -60", "triage.cold_threshold_f", "between -40 and 130"),
            ("[triage]\nhot_threshold_f = 300", "triage.hot_threshold_f", "between -40 and 130"),
            (
                "[triage]\ncold_threshold_f = 95\nhot_threshold_f = 90",
                "triage.cold_threshold_f",
                "must be below triage.hot_threshold_f",
            ),
            ("[triage]\nvulnerable_words = [\"Grandma\"]", "triage.vulnerable_words[0]", "lowercase"),
            ("[triage]\nvulnerable_words = [\" \"]", "triage.vulnerable_words[0]", "lowercase"),
        ];
        for (text, key, reason) in cases {
            assert_error(text, key, reason);
        }
    }

    #[test]
    fn accepted_values() {
        for text in [
            "[call]\nhangup_digit = \"*\"",
            "[call]\nhangup_digit = \"D\"",
            "[shop]\ntimezone = \"UTC\"",
            "[triage]\ncold_threshold_f = 35\nhot_threshold_f = 95",
            "[triage]\ncold_threshold_f = 32.5\nvulnerable_words = [\"dialysis\", \"heart condition\"]",
            "[shop]\ntimezone = \"America/Argentina/Buenos_Aires\"",
            "[shop]\ntimezone = \"Etc/GMT+5\"",
            "[shop]\ndefault_country = \"gb\"",
            "[media]\nrtp_port_min = 1024\nrtp_port_max = 1027",
            "[sip]\nlisten = \"[::]:5060\"\nallowed_peers = [\"192.168.1.20\", \"fd00::/8\"]",
        ] {
            assert_eq!(errors(text), vec![], "{text}");
        }
    }

    #[test]
    fn warnings_are_not_errors() {
        let issues = check("[sip]\nallowed_peers = [\"0.0.0.0/0\"]\n[shop]\nname = \"\"");
        assert_eq!(issues.len(), 2, "{issues:#?}");
        assert!(issues.iter().all(|i| !i.is_error()));
        assert!(issues.iter().any(|i| i.key == "sip.allowed_peers"));
    }

    #[test]
    fn greeting_wav_that_exists_is_fine() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let text = format!("[call]\ngreeting_wav = {:?}", file.path().to_str().unwrap());
        assert_eq!(errors(&text), vec![]);
    }

    #[test]
    fn all_errors_are_collected() {
        let text = "[sip]\nlisen = \"0.0.0.0:5060\"\nmax_concurrent_calls = \"two\"\n\
                    [media]\njitter_buffer_frames = 0\nrtp_timeout_secs = 0\n\
                    [call]\nhangup_digit = \"x\"\n[bogus]\nx = 1";
        let keys: Vec<String> = errors(text).into_iter().map(|i| i.key).collect();
        for key in [
            "sip.lisen",
            "sip.max_concurrent_calls",
            "media.jitter_buffer_frames",
            "media.rtp_timeout_secs",
            "call.hangup_digit",
            "bogus",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
    }

    #[test]
    fn unknown_key_suggests_the_right_one() {
        assert_error(
            "[sip]\nlisen = \"0.0.0.0:5060\"",
            "sip.lisen",
            "unknown key `sip.lisen` (did you mean `listen`?)",
        );
        assert_error(
            "[media]\nlisten = \"0.0.0.0:5060\"",
            "media.listen",
            "(did you mean `sip.listen`?)",
        );
        assert_error(
            "[mdia]\ncodecs = []",
            "mdia",
            "unknown section `[mdia]` (did you mean `media`?)",
        );
        assert_error(
            "[sip]\nzzzzzz = 1",
            "sip.zzzzzz",
            "unknown key `sip.zzzzzz`",
        );
        assert_error("sip = 5", "sip", "must be a table");
    }

    #[test]
    fn type_errors_name_the_key() {
        assert_error(
            "[sip]\nlisten = \"garbage\"",
            "sip.listen",
            "invalid socket address",
        );
        assert_error(
            "[sip]\nallowed_peers = [\"300.1.1.1/8\"]",
            "sip.allowed_peers",
            "",
        );
        assert_error("[media]\ncodecs = [\"G729\"]", "media.codecs", "G729");
        assert_error("[media]\nrtp_port_min = 70000", "media.rtp_port_min", "");
        assert_error("[media]\ninband_dtmf = \"yes\"", "media.inband_dtmf", "");
        assert_error(
            "[[sip.accounts]]\nusername = \"a\"",
            "sip.accounts",
            "password",
        );
    }

    #[test]
    fn syntax_errors_name_the_line_and_key() {
        assert_error("[sip]\nlisten = \"0.0.0.0:5060\n", "sip.listen", "line 2");
        assert_error("[media]\ncodecs = [\"PCMU\",", "media.codecs", "line 2");
        assert_error("[sip\n", "sip", "invalid table header; expected");
        assert_error("= 1\n", "line 1", "line 1");
    }

    #[test]
    fn corrupt_files_give_errors_not_panics() {
        let issues = check_bytes(&[0xff, 0xfe, 0x00, 0x01, 0x80]);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].reason.contains("not UTF-8"), "{issues:?}");
        assert!(!errors("\0\u{1}\u{2}binary").is_empty());
        // Every truncation of the example either checks clean or reports errors; never panics.
        let mut truncated_with_errors = 0;
        // Every 7th byte keeps this quick in debug builds while hitting every line and token kind.
        for end in (0..EXAMPLE.len())
            .step_by(7)
            .filter(|&i| EXAMPLE.is_char_boundary(i))
        {
            if !errors(&EXAMPLE[..end]).is_empty() {
                truncated_with_errors += 1;
            }
        }
        assert!(truncated_with_errors > 0);
    }

    #[test]
    fn issue_display() {
        let issue = errors("[media]\nrtp_port_min = 10000\nrtp_port_max = 9000")
            .into_iter()
            .find(|i| i.key == "media.rtp_port_min")
            .unwrap();
        assert_eq!(
            issue.to_string(),
            "media.rtp_port_min: must be less than media.rtp_port_max (10000 >= 9000)"
        );
    }

    #[test]
    fn env_overrides_single_keys() {
        let c = load_env(&[
            ("CALLBOX_SIP_LISTEN", "0.0.0.0:5070"),
            ("CALLBOX_STORAGE_DATA_DIR", "/var/lib/callbox"),
            ("CALLBOX_SIP_ALLOWED_PEERS", "192.168.1.20, 10.0.0.0/24"),
            ("CALLBOX_MEDIA_CODECS", "PCMA,PCMU"),
            ("CALLBOX_MEDIA_INBAND_DTMF", "no"),
            ("CALLBOX_SIP_MAX_CONCURRENT_CALLS", "4"),
            ("CALLBOX_SIP_PUBLIC_ADDRESS", "192.168.1.10"),
            ("CALLBOX_CALL_HANGUP_DIGIT", "*"),
            ("CALLBOX_SHOP_NAME", "Cool Air HVAC"),
            (
                "CALLBOX_SIP_ACCOUNTS",
                r#"[{username = "ht813", password = "pw"}]"#,
            ),
            // Not a config key: belongs to the CLI, must be ignored.
            ("CALLBOX_CONFIG", "/tmp/x.toml"),
            ("PATH", "/usr/bin"),
        ])
        .unwrap();
        assert_eq!(c.sip.listen, "0.0.0.0:5070".parse().unwrap());
        assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/callbox"));
        assert_eq!(
            c.sip.allowed_peers,
            vec![
                "192.168.1.20/32".parse().unwrap(),
                "10.0.0.0/24".parse().unwrap()
            ]
        );
        assert_eq!(c.media.codecs, vec![Codec::Pcma, Codec::Pcmu]);
        assert!(!c.media.inband_dtmf);
        assert_eq!(c.sip.max_concurrent_calls, 4);
        assert_eq!(c.sip.public_address, Some("192.168.1.10".parse().unwrap()));
        assert_eq!(c.call.hangup_digit, '*');
        assert_eq!(c.shop.name, "Cool Air HVAC");
        assert_eq!(c.sip.accounts[0].username, "ht813");
        // Untouched keys keep their defaults.
        assert_eq!(c.media.rtp_port_min, 10000);
    }

    #[test]
    fn env_overrides_beat_the_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut file,
            b"[sip]\nlisten = \"0.0.0.0:5060\"\nmax_concurrent_calls = 3\n",
        )
        .unwrap();
        let c = Config::load_with(
            Some(file.path()),
            Path::new("/nonexistent"),
            &env(&[("CALLBOX_SIP_LISTEN", "127.0.0.1:5080")]),
        )
        .unwrap();
        assert_eq!(c.sip.listen.port(), 5080);
        assert_eq!(c.sip.max_concurrent_calls, 3);
    }

    #[test]
    fn bad_env_values_name_the_variable() {
        for (var, value, reason) in [
            ("CALLBOX_SIP_LISTEN", "nonsense", "invalid socket address"),
            (
                "CALLBOX_SIP_MAX_CONCURRENT_CALLS",
                "two",
                "not a whole number",
            ),
            ("CALLBOX_SIP_MAX_CONCURRENT_CALLS", "-1", ""),
            ("CALLBOX_MEDIA_INBAND_DTMF", "maybe", "not true or false"),
            ("CALLBOX_MEDIA_CODECS", "PCMU,G729", "G729"),
            ("CALLBOX_SIP_ALLOWED_PEERS", "10.0.0.0/33", ""),
            ("CALLBOX_CALL_HANGUP_DIGIT", "##", ""),
            ("CALLBOX_SIP_ACCOUNTS", "ht813:pw", "TOML inline array"),
            ("CALLBOX_SIP_LISEN", "0.0.0.0:5060", "did you mean `listen`"),
        ] {
            match load_env(&[(var, value)]) {
                Err(ConfigError::Env {
                    var: v, reason: r, ..
                }) => {
                    assert_eq!(v, var);
                    assert!(r.contains(reason), "{var}={value}: {r}");
                }
                other => panic!("{var}={value}: expected Env error, got {other:?}"),
            }
        }
    }

    #[test]
    fn env_override_that_breaks_a_rule_is_invalid() {
        let err = load_env(&[("CALLBOX_MEDIA_JITTER_BUFFER_FRAMES", "0")]).unwrap_err();
        match err {
            ConfigError::Invalid { issues, .. } => {
                assert_eq!(issues[0].key, "media.jitter_buffer_frames")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn explicit_path_must_exist() {
        let err = Config::load_with(
            Some(Path::new("/nonexistent/x.toml")),
            Path::new("/nonexistent"),
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }), "{err}");
    }

    #[test]
    fn default_path_used_when_present_else_defaults() {
        assert_eq!(load_env(&[]).unwrap(), Config::default());
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"[shop]\nname = \"Acme\"\n").unwrap();
        let c = Config::load_with(None, file.path(), &[]).unwrap();
        assert_eq!(c.shop.name, "Acme");
    }

    #[test]
    fn bad_files_report_the_path() {
        let mut bin = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut bin, &[0xde, 0xad, 0xbe, 0xef, 0xff]).unwrap();
        let err = Config::load_with(Some(bin.path()), Path::new("/nonexistent"), &[]).unwrap_err();
        assert!(matches!(err, ConfigError::NotText { .. }), "{err}");

        let mut bad = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut bad,
            b"[sip]\nlisen = 1\n[media]\njitter_buffer_frames = 0\n",
        )
        .unwrap();
        let err = Config::load_with(Some(bad.path()), Path::new("/nonexistent"), &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&bad.path().display().to_string()), "{text}");
        assert!(text.contains("sip.lisen"), "{text}");
    }

    #[test]
    fn data_paths_under_data_dir() {
        let mut c = Config::default();
        c.storage.data_dir = PathBuf::from("/var/lib/callbox");
        let p = c.data_paths();
        assert_eq!(p.recordings, PathBuf::from("/var/lib/callbox/recordings"));
        assert_eq!(p.calls, PathBuf::from("/var/lib/callbox/calls"));
        assert_eq!(p.queue, PathBuf::from("/var/lib/callbox/queue"));
        let dir = tempfile::tempdir().unwrap();
        c.storage.data_dir = dir.path().join("data");
        c.data_paths().create_all().unwrap();
        assert!(dir.path().join("data/recordings").is_dir());
        assert!(dir.path().join("data/calls").is_dir());
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("lisen", "listen"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }

    #[test]
    fn speech_rules() {
        assert_error(
            "[speech]\nvad_aggressiveness = 4",
            "speech.vad_aggressiveness",
            "0-3",
        );
        assert_error("[speech]\nstart_frames = 0", "speech.start_frames", "1-50");
        assert_error(
            "[speech]\ntrailing_silence_ms = 500\nshort_trailing_silence_ms = 600",
            "speech.short_trailing_silence_ms",
            "at most",
        );
        assert_error(
            "[speech]\nmax_utterance_ms = 600",
            "speech.max_utterance_ms",
            "above speech.trailing_silence_ms",
        );
        assert_error(
            "[speech]\nno_speech_timeout_ms = 0",
            "speech.no_speech_timeout_ms",
            "500",
        );
        assert_error(
            "[speech]\nmodel_dir = \"\"",
            "speech.model_dir",
            "must not be empty",
        );
        assert_error(
            "[speech]\nupsample = \"linear\"",
            "speech.upsample",
            "filter",
        );
        let c: Config = toml::from_str("[speech]\nupsample = \"vosk\"").unwrap();
        assert_eq!(c.speech.upsample, crate::speech::asr::Upsample::Vosk);
        let mut c = Config::default();
        c.storage.data_dir = PathBuf::from("/var/lib/callbox");
        assert_eq!(c.model_dir(), PathBuf::from("/var/lib/callbox/models/vosk"));
        c.speech.model_dir = PathBuf::from("/opt/model");
        assert_eq!(c.model_dir(), PathBuf::from("/opt/model"));
        assert_eq!(c.speech.endpointer().trailing_silence_ms, 700);
    }
}
