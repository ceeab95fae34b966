//! The user agent server core: transactions, dialogs, registrar and gatekeeping, with no
//! sockets and no clock. It is handed datagrams and the current time, and hands back
//! datagrams to send, call events, and the next instant it wants to be woken (the shape of
//! quinn-proto), so every RFC 3261 timer is tested without sleeping.
//!
//! The box also places calls (paging the on-call technician): [`Endpoint::place_call`] and
//! the INVITE client transaction in `uac`, which share the dialog side (BYE both ways, INFO
//! digits, re-INVITEs) with answered calls.

use super::auth::{DigestAuthenticator, Verdict};
use super::message::{
    self, bad_request_context, response_route, split_header_list, uri_of, uri_socket_addr,
    with_to_tag, write_response, Inbound, MessageError, Method, Request, ALLOWED_METHODS,
    MAGIC_COOKIE,
};
use super::registrar::{RegisterRefusal, Registrar, SavedBinding, MIN_EXPIRES};
use super::security::{Admission, AttemptLimiter, Gatekeeper};
use crate::infra::Secret;
use crate::telephony::settings::SipConfig;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use thiserror::Error;
use tracing::{debug, error, info, warn};

/// RFC 3261 timer T1: round-trip estimate.
pub const T1: Duration = Duration::from_millis(500);
/// RFC 3261 timer T2: longest retransmit interval for non-INVITE requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// RFC 3261 timer T4: how long a message stays in the network.
pub const T4: Duration = Duration::from_secs(5);
/// 64·T1: Timers B, F, H, J and L.
pub const TIMEOUT_64T1: Duration = Duration::from_secs(32);
/// Server transactions kept at once; past this, new requests get 503.
const MAX_TRANSACTIONS: usize = 8192;
/// An INVITE the application never answers is given up after this long (480).
const RING_LIMIT: Duration = Duration::from_secs(120);

/// A refusal: status, reason phrase, extra headers.
type Refusal = (u16, &'static str, Vec<(&'static str, String)>);

/// What the endpoint needs from the configuration.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Address written into Contact headers.
    pub contact_addr: SocketAddr,
    pub allowed_peers: Vec<ipnet::IpNet>,
    pub stranger_rate_limit: u32,
    pub max_concurrent_calls: usize,
    /// INVITEs must carry digest credentials of one of `accounts` (407 challenge).
    pub invite_auth: bool,
    /// Registered-ATA mode: new INVITEs only from the address and port of a live REGISTER
    /// binding (403 otherwise).
    pub require_registration: bool,
    /// Calls up at once from one source address (0: no limit beyond `max_concurrent_calls`).
    pub max_calls_per_source: usize,
    /// New INVITEs accepted per minute from one source address (0: no limit).
    pub call_attempts_per_minute: u32,
    /// The user part of the request URI the box answers to (`sip.user`); an INVITE for any
    /// other user gets 404 Not Found. Empty: any user (the ATA's forwarding target varies).
    pub user: String,
    pub realm: String,
    pub accounts: Vec<(String, Secret)>,
    pub max_register_expires: u32,
    pub max_message_bytes: usize,
    pub user_agent: String,
}

impl EndpointConfig {
    /// Builds the endpoint's settings from the `[sip]` section and the bound address.
    pub fn from_config(sip: &SipConfig, bound: SocketAddr) -> Self {
        let ip = match (sip.public_address, bound.ip()) {
            (Some(ip), _) => ip,
            (None, ip) if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
            (None, ip) => ip,
        };
        EndpointConfig {
            contact_addr: SocketAddr::new(ip, bound.port()),
            allowed_peers: sip.allowed_peers.clone(),
            stranger_rate_limit: sip.stranger_rate_limit,
            max_concurrent_calls: sip.max_concurrent_calls,
            invite_auth: sip.require_invite_auth,
            require_registration: sip.require_registration,
            max_calls_per_source: sip.max_calls_per_source,
            call_attempts_per_minute: sip.call_attempts_per_minute,
            user: sip.user.clone(),
            realm: sip.realm.clone(),
            accounts: sip
                .accounts
                .iter()
                .map(|a| (a.username.clone(), a.password.clone()))
                .collect(),
            max_register_expires: sip.max_register_expires,
            max_message_bytes: sip.max_message_bytes,
            user_agent: sip.user_agent.clone(),
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub payload: Vec<u8>,
}

/// Identifies a call for the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

impl std::fmt::Display for CallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call-{}", self.0)
    }
}

/// An incoming INVITE as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    pub call_id: String,
    pub source: SocketAddr,
    /// User part of the Request-URI (the number the caller dialled, on most ATAs).
    pub request_uri_user: Option<String>,
    pub from: String,
    pub to: String,
    pub p_asserted_identity: Option<String>,
    pub remote_party_id: Option<String>,
    pub user_agent: Option<String>,
    /// The SDP offer.
    pub sdp: Vec<u8>,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// The caller sent BYE.
    RemoteBye,
    /// The caller sent CANCEL before the box answered.
    Cancelled,
    /// The box hung up and the peer confirmed the BYE.
    LocalBye,
    /// The box hung up and the BYE was never answered.
    ByeTimeout,
    /// The box answered but the ACK never came (Timer L); the box sent BYE.
    AckTimeout,
    /// The box refused the call with this status.
    Rejected(u16),
    /// A call the box placed was refused by the callee with this final status (486 busy,
    /// 600 busy everywhere, 603 decline, 404, or a 401/407 the box could not answer).
    Refused(u16),
    /// A call the box placed rang out (ring timeout; CANCEL sent).
    NoAnswer,
    /// A call the box placed got no response at all (Timer B).
    Unreachable,
    /// The box hung up a call it placed before it was answered (CANCEL sent).
    Abandoned,
}

impl CallEnd {
    /// A short snake_case name for call records.
    pub fn as_str(self) -> &'static str {
        match self {
            CallEnd::RemoteBye => "remote_hangup",
            CallEnd::Cancelled => "cancelled",
            CallEnd::LocalBye => "local_hangup",
            CallEnd::ByeTimeout => "local_hangup_unconfirmed",
            CallEnd::AckTimeout => "ack_timeout",
            CallEnd::Rejected(_) => "rejected",
            CallEnd::Refused(_) => "refused",
            CallEnd::NoAnswer => "no_answer",
            CallEnd::Unreachable => "unreachable",
            CallEnd::Abandoned => "abandoned",
        }
    }
}

/// What the endpoint tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A new call is ringing: answer or reject it.
    Offered { call: CallKey, offer: IncomingCall },
    /// The caller's ACK arrived: media flows both ways from here.
    Confirmed { call: CallKey },
    /// A re-INVITE (hold, unhold, session refresh): answer with [`Endpoint::answer_reoffer`].
    /// `sdp` is empty for an offerless re-INVITE.
    Reoffer { call: CallKey, sdp: Vec<u8> },
    /// A digit sent as SIP INFO (application/dtmf-relay or application/dtmf).
    Digit {
        call: CallKey,
        digit: char,
        duration_ms: u32,
    },
    /// A call the box placed is ringing (180) or has early media (183, with the callee's
    /// SDP in `sdp`; empty when the response had none).
    Progress {
        call: CallKey,
        status: u16,
        sdp: Vec<u8>,
    },
    /// A call the box placed was answered (2xx, ACK sent): media flows both ways with the
    /// callee's `sdp` (the 2xx's, or the early media's when the 2xx carries none).
    Answered { call: CallKey, sdp: Vec<u8> },
    /// The call is over; nothing more will be reported for it.
    Ended { call: CallKey, reason: CallEnd },
}

/// A command the application gave that does not fit the call's state.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("{0} is not a live call")]
    NoSuchCall(CallKey),
    #[error("{0} cannot do that in its current state ({1})")]
    WrongState(CallKey, &'static str),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TxKey(String);

impl TxKey {
    /// RFC 3261 §17.2.3: branch + sent-by + method (ACK and CANCEL folded per their rules by
    /// the caller); pre-3261 peers are keyed on the dialog-identifying headers instead.
    fn of(req: &Request, method: &str) -> TxKey {
        let (host, port) = req.via_sent_by();
        if req.has_rfc3261_branch() {
            TxKey(format!(
                "{}|{}:{}|{}",
                req.branch,
                host,
                port.unwrap_or(5060),
                method
            ))
        } else {
            TxKey(format!(
                "2543|{}|{}|{}|{}|{}",
                req.call_id,
                req.from_tag.as_deref().unwrap_or(""),
                req.cseq,
                req.vias.first().map(String::as_str).unwrap_or(""),
                method
            ))
        }
    }
}

/// The headers every response to one request repeats, with the top Via already rewritten.
#[derive(Debug, Clone)]
struct ResponseHead {
    vias: Vec<String>,
    from: String,
    to: String,
    call_id: String,
    cseq: String,
    destination: SocketAddr,
}

impl ResponseHead {
    fn of(req: &Request, source: SocketAddr, to_tag: Option<&str>) -> Self {
        let (destination, top) = response_route(&req.top_via, source);
        let mut vias = req.vias.clone();
        if let Some(first) = vias.first_mut() {
            *first = top;
        }
        ResponseHead {
            vias,
            from: req.from.clone(),
            to: match to_tag {
                Some(tag) => with_to_tag(&req.to, tag),
                None => req.to.clone(),
            },
            call_id: req.call_id.clone(),
            cseq: format!("{} {}", req.cseq, req.cseq_method),
            destination,
        }
    }

    fn write(
        &self,
        status: u16,
        reason: &str,
        extra: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        write_response(
            status,
            reason,
            &self.vias,
            &self.from,
            &self.to,
            &self.call_id,
            &self.cseq,
            extra,
            body,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InviteTxState {
    /// Provisional responses sent; the final one is up to the application.
    Proceeding,
    /// 2xx sent, retransmitted until the ACK (RFC 6026 Accepted).
    Accepted,
    /// Non-2xx final sent, retransmitted until the ACK (Timer G, H).
    Completed,
    /// ACK received for a non-2xx; absorbing ACK retransmissions (Timer I).
    Confirmed,
}

#[derive(Debug)]
struct InviteServerTx {
    call: CallKey,
    state: InviteTxState,
    head: ResponseHead,
    last_response: Vec<u8>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    deadline: Instant,
    cseq: u32,
}

#[derive(Debug)]
struct NonInviteServerTx {
    last_response: Vec<u8>,
    destination: SocketAddr,
    expires_at: Instant,
}

/// The box's own BYE, retransmitted per Timer E until answered or Timer F.
#[derive(Debug)]
struct ByeClientTx {
    branch: String,
    request: Vec<u8>,
    destination: SocketAddr,
    retransmit_at: Instant,
    interval: Duration,
    deadline: Instant,
    cseq: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// A call the box placed: INVITE sent, not answered yet.
    Calling,
    Ringing,
    /// 200 OK sent for the initial INVITE, waiting for ACK.
    Answered,
    Confirmed,
    /// BYE sent by the box.
    Ending,
}

#[derive(Debug)]
struct Call {
    state: CallState,
    /// Where the INVITE came from (per-source limits).
    source_ip: IpAddr,
    call_id: String,
    local_tag: String,
    remote_tag: String,
    /// Our From in requests we send (the request's To with our tag).
    local_uri_header: String,
    /// Our To in requests we send (the request's From).
    remote_uri_header: String,
    remote_target: String,
    route_set: Vec<String>,
    /// Where requests in this dialog go.
    request_destination: SocketAddr,
    remote_cseq: u32,
    local_cseq: u32,
    invite_cseq: u32,
    invite_tx: TxKey,
    /// The transaction of a re-INVITE waiting for the application's answer.
    reinvite_tx: Option<TxKey>,
    bye: Option<ByeClientTx>,
    ring_deadline: Instant,
    /// The application hung up before the ACK came: BYE goes out once it does (RFC 3261 §15).
    bye_after_ack: bool,
    /// The INVITE client transaction of a call the box placed.
    outbound: Option<Box<uac::Uac>>,
}

/// The UAS core.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    gatekeeper: Gatekeeper,
    attempts: AttemptLimiter,
    auth: DigestAuthenticator,
    registrar: Registrar,
    invite_txs: HashMap<TxKey, InviteServerTx>,
    other_txs: HashMap<TxKey, NonInviteServerTx>,
    calls: HashMap<CallKey, Call>,
    dialogs: HashMap<(String, String, String), CallKey>,
    /// (Call-ID, From tag, CSeq) of INVITEs in progress, to spot merged requests (482).
    pending_invites: HashMap<(String, String, u32), TxKey>,
    next_call: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<CallEvent>,
    stats: EndpointStats,
    /// Client transactions of placed calls that ended on a non-2xx: absorbing its
    /// retransmissions with the same ACK until Timer D.
    uac_completed: HashMap<String, uac::Completed>,
    /// A REGISTER changed the bindings since they were last saved.
    registrations_changed: bool,
    /// Unit tests only: set by a [`PANIC_IN_TIMERS`] datagram.
    #[cfg(test)]
    panic_in_timers: Option<Instant>,
}

/// Unit tests only: a datagram starting with these bytes panics inside the endpoint (past the
/// parser's guard), standing in for a bug in the endpoint.
#[cfg(test)]
pub(crate) const PANIC_IN_ENDPOINT: &[u8] = b"CALLBOX-TEST-PANIC-IN-ENDPOINT";
/// Unit tests only: after a datagram starting with these bytes, the endpoint's next timer run
/// panics (outside any guard: the task running it dies).
#[cfg(test)]
pub(crate) const PANIC_IN_TIMERS: &[u8] = b"CALLBOX-TEST-PANIC-IN-TIMERS";

/// Counters for the status page and the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EndpointStats {
    pub datagrams: u64,
    pub malformed: u64,
    pub bad_requests: u64,
    pub forbidden: u64,
    pub dropped_strangers: u64,
    pub calls_offered: u64,
    pub busy: u64,
    /// New INVITEs refused (403) because their source held no live registration.
    pub unregistered: u64,
    /// Datagrams whose handling panicked (the parser library or the endpoint); each was
    /// dropped and the endpoint went on.
    pub panics: u64,
    /// The last datagram from an allowed peer (the ATA): when, and from where.
    pub last_peer_contact: Option<(Instant, SocketAddr)>,
}

impl Endpoint {
    pub fn new(config: EndpointConfig) -> Self {
        Endpoint {
            gatekeeper: Gatekeeper::new(config.allowed_peers.clone(), config.stranger_rate_limit),
            attempts: AttemptLimiter::new(config.call_attempts_per_minute),
            auth: DigestAuthenticator::new(&config.realm, config.accounts.clone()),
            registrar: Registrar::default(),
            config,
            invite_txs: HashMap::new(),
            other_txs: HashMap::new(),
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            pending_invites: HashMap::new(),
            next_call: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: EndpointStats::default(),
            uac_completed: HashMap::new(),
            registrations_changed: false,
            #[cfg(test)]
            panic_in_timers: None,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Live REGISTER bindings: (address-of-record, contact, seconds left).
    pub fn registrations(&self, now: Instant) -> Vec<(String, String, u64)> {
        self.registrar.snapshot(now)
    }

    /// The live bindings when a REGISTER changed them since the last call (None otherwise),
    /// for the runner to keep across a restart; `now` and `wall` are the same moment.
    pub fn changed_registrations(
        &mut self,
        now: Instant,
        wall: std::time::SystemTime,
    ) -> Option<Vec<SavedBinding>> {
        std::mem::take(&mut self.registrations_changed).then(|| self.registrar.save(now, wall))
    }

    /// Takes back the bindings kept by an earlier run (those still live), so the
    /// registered-ATA mode does not refuse the ATA's calls until its next REGISTER.
    pub fn restore_registrations(
        &mut self,
        now: Instant,
        wall: std::time::SystemTime,
        saved: Vec<SavedBinding>,
    ) {
        self.registrar
            .restore(now, wall, saved, self.config.max_register_expires);
    }

    /// Calls not yet ended.
    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        #[cfg(test)]
        if self.panic_in_timers.is_some() {
            return self.panic_in_timers;
        }
        let invites = self
            .invite_txs
            .values()
            .flat_map(|tx| [tx.retransmit_at, Some(tx.deadline)]);
        let others = self.other_txs.values().map(|tx| Some(tx.expires_at));
        let calls = self.calls.values().flat_map(|call| {
            let ring = (call.state == CallState::Ringing).then_some(call.ring_deadline);
            let bye = call.bye.as_ref().map(|b| b.retransmit_at.min(b.deadline));
            let placed = call.outbound.as_ref().and_then(|u| u.next_timeout(call));
            [ring, bye, placed]
        });
        let completed = self.uac_completed.values().map(|c| Some(c.deadline));
        invites
            .chain(others)
            .chain(calls)
            .chain(completed)
            .flatten()
            .min()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        #[cfg(test)]
        if self.panic_in_timers.is_some() {
            panic!("a stand-in for a bug in the endpoint's timers");
        }
        self.other_txs.retain(|_, tx| tx.expires_at > now);

        let mut retransmit = Vec::new();
        let mut ack_timeouts = Vec::new();
        let mut finished = Vec::new();
        for (key, tx) in self.invite_txs.iter_mut() {
            if tx.deadline <= now {
                if tx.state == InviteTxState::Accepted {
                    ack_timeouts.push(tx.call);
                }
                finished.push(key.clone());
                continue;
            }
            if let Some(at) = tx.retransmit_at {
                if at <= now {
                    retransmit.push(Transmit {
                        destination: tx.head.destination,
                        payload: tx.last_response.clone(),
                    });
                    tx.interval = (tx.interval * 2).min(T2);
                    tx.retransmit_at = Some(now + tx.interval);
                }
            }
        }
        self.transmits.extend(retransmit);
        for key in finished {
            self.remove_invite_tx(&key);
        }
        for call in ack_timeouts {
            warn!(%call, "no ACK for 200 OK within 64*T1; hanging up");
            if let Some(c) = self.calls.get_mut(&call) {
                c.state = CallState::Confirmed;
            }
            self.send_bye(now, call, Some(CallEnd::AckTimeout));
        }

        let mut bye_done = Vec::new();
        let mut ring_expired = Vec::new();
        for (key, call) in self.calls.iter_mut() {
            if call.state == CallState::Ringing && call.ring_deadline <= now {
                ring_expired.push(*key);
            }
            if let Some(bye) = call.bye.as_mut() {
                if bye.deadline <= now {
                    bye_done.push(*key);
                } else if bye.retransmit_at <= now {
                    self.transmits.push_back(Transmit {
                        destination: bye.destination,
                        payload: bye.request.clone(),
                    });
                    bye.interval = (bye.interval * 2).min(T2);
                    bye.retransmit_at = now + bye.interval;
                }
            }
        }
        for call in ring_expired {
            warn!(%call, "application never answered; refusing with 480");
            let _ = self.reject(now, call, 480, "Temporarily Unavailable");
        }
        for call in bye_done {
            warn!(%call, "BYE never answered (Timer F); call closed");
            self.end_call(call, CallEnd::ByeTimeout);
        }
        self.uac_timeouts(now);
    }

    /// Counts a panic caught around this endpoint's handling of a datagram (by the task that
    /// runs it, see `udp.rs`).
    pub fn count_panic(&mut self) {
        self.stats.panics += 1;
    }

    /// Takes one datagram from `source`.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        self.stats.datagrams += 1;
        #[cfg(test)]
        if data.starts_with(PANIC_IN_ENDPOINT) {
            panic!("a stand-in for a bug in the endpoint");
        }
        #[cfg(test)]
        if data.starts_with(PANIC_IN_TIMERS) {
            self.panic_in_timers = Some(now);
            return;
        }
        // A SIP trunk the box called is answered even when it is not an allowed peer.
        let admission = if self.is_outbound_peer(source) {
            Admission::Allowed
        } else {
            self.gatekeeper.admit(now, source.ip())
        };
        match admission {
            Admission::Allowed => self.stats.last_peer_contact = Some((now, source)),
            Admission::Forbidden { log } => {
                self.stats.forbidden += 1;
                if log {
                    warn!(%source, "SIP from a peer outside the allow-list: 403 (rate-limited, logged once a minute)");
                }
                self.refuse_stranger(source, data);
                return;
            }
            Admission::Dropped => {
                self.stats.dropped_strangers += 1;
                return;
            }
        }
        match message::parse(data, self.config.max_message_bytes) {
            Ok(Inbound::KeepAlive) => {}
            Ok(Inbound::Response(resp)) => self.handle_response(now, *resp),
            Ok(Inbound::Request(req)) => self.handle_request(now, source, *req),
            Err(MessageError::BadRequest { reason }) => {
                self.stats.bad_requests += 1;
                warn!(%source, %reason, "bad SIP request: 400");
                self.send_bad_request(source, data, 400, &reason);
            }
            Err(MessageError::Panicked(why)) => {
                self.stats.panics += 1;
                error!(%source, bytes = data.len(), panics = self.stats.panics, %why,
                       "the SIP parser panicked on a datagram: dropped it, the box goes on");
            }
            Err(MessageError::Refused { status, reason }) => {
                self.stats.bad_requests += 1;
                warn!(%source, status, reason, "SIP request refused before parsing");
                self.send_bad_request(source, data, status, reason);
            }
            Err(err) => {
                self.stats.malformed += 1;
                warn!(%source, error = %err, bytes = data.len(), "malformed SIP datagram dropped");
                if matches!(err, MessageError::Syntax(_) | MessageError::StartLine(_)) {
                    self.send_bad_request(source, data, 400, "Malformed message");
                }
            }
        }
    }

    /// Answers a ringing call with 200 OK carrying `sdp`.
    pub fn answer(&mut self, now: Instant, call: CallKey, sdp: &[u8]) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        if c.state != CallState::Ringing {
            return Err(EndpointError::WrongState(call, "not ringing"));
        }
        c.state = CallState::Answered;
        let key = c.invite_tx.clone();
        self.send_final(now, &key, 200, "OK", Some(sdp))
    }

    /// Refuses a ringing call (488 for no common codec, 486, 480, …).
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallKey,
        status: u16,
        reason: &str,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        if c.state != CallState::Ringing {
            return Err(EndpointError::WrongState(call, "not ringing"));
        }
        let key = c.invite_tx.clone();
        self.send_final(now, &key, status, reason, None)?;
        self.end_call(call, CallEnd::Rejected(status));
        Ok(())
    }

    /// Answers a pending re-INVITE with 200 OK and `sdp`.
    pub fn answer_reoffer(
        &mut self,
        now: Instant,
        call: CallKey,
        sdp: &[u8],
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        let key = c
            .reinvite_tx
            .take()
            .ok_or(EndpointError::WrongState(call, "no re-INVITE pending"))?;
        self.send_final(now, &key, 200, "OK", Some(sdp))
    }

    /// Refuses a pending re-INVITE (488 when the new offer is unacceptable); the call goes on
    /// with the media it had.
    pub fn reject_reoffer(
        &mut self,
        now: Instant,
        call: CallKey,
        status: u16,
        reason: &str,
    ) -> Result<(), EndpointError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(EndpointError::NoSuchCall(call))?;
        let key = c
            .reinvite_tx
            .take()
            .ok_or(EndpointError::WrongState(call, "no re-INVITE pending"))?;
        self.send_final(now, &key, status, reason, None)
    }

    /// Hangs up: BYE once the call is answered, 480 while it still rings.
    pub fn hang_up(&mut self, now: Instant, call: CallKey) -> Result<(), EndpointError> {
        let state = self
            .calls
            .get(&call)
            .map(|c| c.state)
            .ok_or(EndpointError::NoSuchCall(call))?;
        match state {
            CallState::Ringing => self.reject(now, call, 480, "Temporarily Unavailable"),
            CallState::Answered => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.bye_after_ack = true;
                }
                Ok(())
            }
            CallState::Confirmed => {
                self.send_bye(now, call, None);
                Ok(())
            }
            CallState::Calling => {
                self.cancel_placed(now, call, CallEnd::Abandoned);
                Ok(())
            }
            CallState::Ending => Ok(()),
        }
    }

    // ----- requests -------------------------------------------------------------------------

    fn handle_request(&mut self, now: Instant, source: SocketAddr, req: Request) {
        match req.method {
            Method::Ack => return self.handle_ack(now, &req),
            Method::Cancel => return self.handle_cancel(now, source, &req),
            _ => {}
        }
        // A retransmission of a request whose transaction is still alive gets the same answer.
        let method = req.method.as_str().to_string();
        let key = TxKey::of(&req, &method);
        if req.method == Method::Invite {
            if let Some(tx) = self.invite_txs.get(&key) {
                debug!(call_id = %req.call_id, "INVITE retransmission absorbed");
                if tx.state != InviteTxState::Confirmed {
                    self.transmits.push_back(Transmit {
                        destination: tx.head.destination,
                        payload: tx.last_response.clone(),
                    });
                }
                return;
            }
        } else if let Some(tx) = self.other_txs.get(&key) {
            self.transmits.push_back(Transmit {
                destination: tx.destination,
                payload: tx.last_response.clone(),
            });
            return;
        }
        if self.invite_txs.len() + self.other_txs.len() >= MAX_TRANSACTIONS {
            warn!("transaction table full: 503");
            let head = ResponseHead::of(&req, source, None);
            let bytes = head.write(
                503,
                "Service Unavailable",
                &[("Retry-After", "5".into())],
                None,
            );
            self.transmits.push_back(Transmit {
                destination: head.destination,
                payload: bytes,
            });
            return;
        }

        if let Some(unsupported) = unsupported_extensions(&req) {
            // RFC 3261 §8.2.2.3, RFC 4475 §3.3.5: 420 naming what the box does not support.
            let extra = [("Unsupported", unsupported)];
            return self.respond_once(now, source, &req, key, 420, "Bad Extension", &extra, None);
        }
        if req.to_tag.is_some() {
            return self.handle_in_dialog(now, source, req, key);
        }
        match req.method.clone() {
            Method::Invite => self.handle_invite(now, source, req, key),
            Method::Options => {
                let extra = self.capability_headers();
                self.respond_once(now, source, &req, key, 200, "OK", &extra, None);
            }
            Method::Register => self.handle_register(now, source, req, key),
            Method::Bye | Method::Info => self.respond_once(
                now,
                source,
                &req,
                key,
                481,
                "Call/Transaction Does Not Exist",
                &[],
                None,
            ),
            Method::NotAllowed(_) | Method::Unknown(_) => {
                self.refuse_method(now, source, &req, key)
            }
            Method::Ack | Method::Cancel => {}
        }
    }

    /// 405 for methods the box knows but does not serve, 501 for the ones it does not know
    /// (RFC 3261 §8.2.1), both with the Allow list.
    fn refuse_method(&mut self, now: Instant, source: SocketAddr, req: &Request, key: TxKey) {
        let (status, reason) = match req.method {
            Method::NotAllowed(_) => (405, "Method Not Allowed"),
            _ => (501, "Not Implemented"),
        };
        let extra = [("Allow", ALLOWED_METHODS.to_string())];
        self.respond_once(now, source, req, key, status, reason, &extra, None);
    }

    fn handle_invite(&mut self, now: Instant, source: SocketAddr, req: Request, key: TxKey) {
        let merged_key = (
            req.call_id.clone(),
            req.from_tag.clone().unwrap_or_default(),
            req.cseq,
        );
        if self.pending_invites.contains_key(&merged_key) {
            // The same request reached us by another path (RFC 3261 §8.2.2.2).
            return self.respond_once(now, source, &req, key, 482, "Loop Detected", &[], None);
        }
        if self.config.require_registration && !self.registrar.has_live_source(now, source) {
            self.stats.unregistered += 1;
            // Allowed peers only reach this (strangers were refused at the gate); still, log
            // the first and then every 64th so a looping host cannot flood the journal.
            if self.stats.unregistered % 64 == 1 {
                warn!(%source, call_id = %req.call_id, refused = self.stats.unregistered,
                      "INVITE from a source with no live registration: 403");
            }
            let extra = [(
                "Warning",
                "399 callbox \"register first: calls are taken from registered sources only\""
                    .to_string(),
            )];
            return self.respond_once(now, source, &req, key, 403, "Forbidden", &extra, None);
        }
        if !self.answers_to(req.uri_user.as_deref()) {
            info!(call_id = %req.call_id, user = req.uri_user.as_deref().unwrap_or(""),
                  "INVITE for another user: 404 Not Found");
            return self.reject_new_invite(now, source, &req, key, 404, "Not Found");
        }
        if !self.invite_authenticated(now, source, &req, key.clone()) {
            return;
        }
        if !accepts_sdp(req.header("Accept")) {
            // RFC 4475 §3.3.15: the answer would be SDP, which the caller cannot take.
            let extra = [("Accept", "application/sdp".to_string())];
            return self.respond_once(now, source, &req, key, 406, "Not Acceptable", &extra, None);
        }
        if !req.body.is_empty() && !is_sdp(req.content_type.as_deref()) {
            let extra = [("Accept", "application/sdp".to_string())];
            return self.respond_once(
                now,
                source,
                &req,
                key,
                415,
                "Unsupported Media Type",
                &extra,
                None,
            );
        }
        if req.body.is_empty() {
            // An offerless INVITE would need the box to offer in the 200 and take the answer
            // in the ACK; no ATA sends one, so it is refused plainly.
            let extra = [(
                "Warning",
                "399 callbox \"an SDP offer is required\"".to_string(),
            )];
            return self.respond_once(
                now,
                source,
                &req,
                key,
                488,
                "Not Acceptable Here",
                &extra,
                None,
            );
        }
        if let Some((status, reason, extra)) = self.source_limit(now, source.ip()) {
            self.stats.busy += 1;
            info!(call_id = %req.call_id, %source, status, "per-source call limit");
            return self.respond_once(now, source, &req, key, status, reason, &extra, None);
        }
        let live = self.calls.len();
        if live >= self.config.max_concurrent_calls {
            self.stats.busy += 1;
            info!(call_id = %req.call_id, live, "at capacity: 486 Busy Here");
            return self.reject_new_invite(now, source, &req, key, 486, "Busy Here");
        }

        let call = CallKey(self.next_call);
        self.next_call += 1;
        let local_tag = message::random_token(12);
        let head = ResponseHead::of(&req, source, Some(&local_tag));
        let remote_target = req
            .contacts
            .first()
            .and_then(|c| uri_of(c))
            .unwrap_or_else(|| format!("sip:{source}"));
        let request_destination = req
            .record_routes
            .first()
            .and_then(|r| uri_of(r))
            .and_then(|u| uri_socket_addr(&u))
            .or_else(|| uri_socket_addr(&remote_target))
            .unwrap_or(source);

        let trying = head.write(100, "Trying", &[], None);
        let contact = self.contact_header();
        let ringing = head.write(180, "Ringing", &[("Contact", contact)], None);
        self.transmits.push_back(Transmit {
            destination: head.destination,
            payload: trying,
        });
        self.transmits.push_back(Transmit {
            destination: head.destination,
            payload: ringing.clone(),
        });

        let remote_tag = req.from_tag.clone().unwrap_or_default();
        self.dialogs.insert(
            (req.call_id.clone(), local_tag.clone(), remote_tag.clone()),
            call,
        );
        self.pending_invites.insert(merged_key, key.clone());
        self.invite_txs.insert(
            key.clone(),
            InviteServerTx {
                call,
                state: InviteTxState::Proceeding,
                head: head.clone(),
                last_response: ringing,
                retransmit_at: None,
                interval: T1,
                deadline: now + RING_LIMIT + TIMEOUT_64T1,
                cseq: req.cseq,
            },
        );
        self.calls.insert(
            call,
            Call {
                state: CallState::Ringing,
                source_ip: source.ip(),
                call_id: req.call_id.clone(),
                local_tag,
                remote_tag,
                local_uri_header: head.to.clone(),
                remote_uri_header: req.from.clone(),
                remote_target,
                route_set: req.record_routes.clone(),
                request_destination,
                remote_cseq: req.cseq,
                local_cseq: 1,
                invite_cseq: req.cseq,
                invite_tx: key,
                reinvite_tx: None,
                bye: None,
                ring_deadline: now + RING_LIMIT,
                bye_after_ack: false,
                outbound: None,
            },
        );
        self.stats.calls_offered += 1;
        info!(%call, call_id = %req.call_id, %source, "incoming call ringing");
        self.events.push_back(CallEvent::Offered {
            call,
            offer: IncomingCall {
                call_id: req.call_id.clone(),
                source,
                request_uri_user: req.uri_user.clone(),
                from: req.from.clone(),
                to: req.to.clone(),
                p_asserted_identity: req.header("P-Asserted-Identity").map(str::to_string),
                remote_party_id: req.header("Remote-Party-ID").map(str::to_string),
                user_agent: req.header("User-Agent").map(str::to_string),
                sdp: req.body.clone(),
            },
        });
    }

    /// With `sip.require_invite_auth`, checks the INVITE's Proxy-Authorization (RFC 3261
    /// §22.3): answers 407 with MD5 and SHA-256 challenges when it has none usable, 403 when
    /// the credentials are wrong. True when the INVITE may go on.
    fn invite_authenticated(
        &mut self,
        now: Instant,
        source: SocketAddr,
        req: &Request,
        key: TxKey,
    ) -> bool {
        if !self.config.invite_auth || !self.auth.required() {
            return true;
        }
        match self
            .auth
            .verify(now, "INVITE", req.header("Proxy-Authorization"))
        {
            Verdict::Accepted(user) => {
                debug!(%user, %source, "INVITE authenticated");
                true
            }
            Verdict::Challenge { stale } => {
                let extra: Vec<(&str, String)> = self
                    .auth
                    .challenge(now, stale)
                    .into_iter()
                    .map(|c| ("Proxy-Authenticate", c))
                    .collect();
                let reason = "Proxy Authentication Required";
                self.respond_once(now, source, req, key, 407, reason, &extra, None);
                false
            }
            Verdict::Rejected => {
                warn!(%source, "INVITE with wrong credentials: 403");
                self.respond_once(now, source, req, key, 403, "Forbidden", &[], None);
                false
            }
        }
    }

    /// The refusal of a new INVITE from `ip` over its per-source limits: 503 with
    /// Retry-After past its attempts a minute, 486 when it already holds its share of lines
    /// (so one host cannot keep every line busy).
    fn source_limit(&mut self, now: Instant, ip: IpAddr) -> Option<Refusal> {
        if !self.attempts.attempt(now, ip) {
            return Some((
                503,
                "Service Unavailable",
                vec![("Retry-After", "60".into())],
            ));
        }
        let max = self.config.max_calls_per_source;
        let held = self.calls.values().filter(|c| c.source_ip == ip).count();
        (max > 0 && held >= max).then(|| (486, "Busy Here", Vec::new()))
    }

    /// A final non-2xx answer to a new INVITE that never becomes a call, kept in a
    /// transaction so its ACK and retransmissions are absorbed.
    /// Whether an INVITE whose request URI names `user` is for the box (`sip.user`).
    fn answers_to(&self, user: Option<&str>) -> bool {
        // RFC 3261 §19.1.4: the user part compares case-sensitively.
        self.config.user.is_empty() || user == Some(self.config.user.as_str())
    }

    fn reject_new_invite(
        &mut self,
        now: Instant,
        source: SocketAddr,
        req: &Request,
        key: TxKey,
        status: u16,
        reason: &str,
    ) {
        let head = ResponseHead::of(req, source, Some(&message::random_token(12)));
        let bytes = head.write(status, reason, &[], None);
        self.transmits.push_back(Transmit {
            destination: head.destination,
            payload: bytes.clone(),
        });
        self.invite_txs.insert(
            key,
            InviteServerTx {
                call: CallKey(0),
                state: InviteTxState::Completed,
                head,
                last_response: bytes,
                retransmit_at: Some(now + T1),
                interval: T1,
                deadline: now + TIMEOUT_64T1,
                cseq: req.cseq,
            },
        );
    }

    fn handle_in_dialog(&mut self, now: Instant, source: SocketAddr, req: Request, key: TxKey) {
        let dialog = (
            req.call_id.clone(),
            req.to_tag.clone().unwrap_or_default(),
            req.from_tag.clone().unwrap_or_default(),
        );
        let Some(call) = self.dialogs.get(&dialog).copied() else {
            if req.method == Method::Options {
                let extra = self.capability_headers();
                return self.respond_once(now, source, &req, key, 200, "OK", &extra, None);
            }
            return self.respond_once(
                now,
                source,
                &req,
                key,
                481,
                "Call/Transaction Does Not Exist",
                &[],
                None,
            );
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return self.respond_once(
                now,
                source,
                &req,
                key,
                481,
                "Call/Transaction Does Not Exist",
                &[],
                None,
            );
        };
        if req.cseq <= c.remote_cseq
            && !(req.method == Method::Bye && c.state == CallState::Answered)
        {
            return self.respond_once(
                now,
                source,
                &req,
                key,
                500,
                "Server Internal Error",
                &[("Retry-After", "1".into())],
                None,
            );
        }
        c.remote_cseq = req.cseq;
        match req.method.clone() {
            Method::Bye => {
                info!(%call, "caller hung up (BYE)");
                self.respond_once(now, source, &req, key, 200, "OK", &[], None);
                self.end_call(call, CallEnd::RemoteBye);
            }
            Method::Invite => {
                if c.reinvite_tx.is_some() || c.state == CallState::Ringing {
                    return self.respond_once(
                        now,
                        source,
                        &req,
                        key,
                        500,
                        "Server Internal Error",
                        &[("Retry-After", "2".into())],
                        None,
                    );
                }
                if c.state == CallState::Ending {
                    return self.respond_once(
                        now,
                        source,
                        &req,
                        key,
                        481,
                        "Call/Transaction Does Not Exist",
                        &[],
                        None,
                    );
                }
                if let Some(target) = req.contacts.first().and_then(|x| uri_of(x)) {
                    c.remote_target = target;
                }
                c.reinvite_tx = Some(key.clone());
                let head = ResponseHead::of(&req, source, None);
                let trying = head.write(100, "Trying", &[], None);
                self.transmits.push_back(Transmit {
                    destination: head.destination,
                    payload: trying.clone(),
                });
                self.invite_txs.insert(
                    key,
                    InviteServerTx {
                        call,
                        state: InviteTxState::Proceeding,
                        head,
                        last_response: trying,
                        retransmit_at: None,
                        interval: T1,
                        deadline: now + RING_LIMIT + TIMEOUT_64T1,
                        cseq: req.cseq,
                    },
                );
                self.events.push_back(CallEvent::Reoffer {
                    call,
                    sdp: req.body.clone(),
                });
            }
            Method::Info => {
                if let Some((digit, duration_ms)) = dtmf_relay_digit(&req) {
                    self.events.push_back(CallEvent::Digit {
                        call,
                        digit,
                        duration_ms,
                    });
                }
                self.respond_once(now, source, &req, key, 200, "OK", &[], None);
            }
            Method::Options => {
                let extra = self.capability_headers();
                self.respond_once(now, source, &req, key, 200, "OK", &extra, None);
            }
            Method::Register => {
                self.respond_once(now, source, &req, key, 400, "Bad Request", &[], None)
            }
            Method::NotAllowed(_) | Method::Unknown(_) => {
                self.refuse_method(now, source, &req, key)
            }
            Method::Ack | Method::Cancel => {}
        }
    }

    fn handle_ack(&mut self, now: Instant, req: &Request) {
        // ACK for a non-2xx final: same branch as the INVITE.
        let key = TxKey::of(req, "INVITE");
        if let Some(tx) = self.invite_txs.get_mut(&key) {
            match tx.state {
                InviteTxState::Completed => {
                    tx.state = InviteTxState::Confirmed;
                    tx.retransmit_at = None;
                    tx.deadline = now + T4;
                    return;
                }
                InviteTxState::Confirmed => return,
                // Some UAs reuse the INVITE branch for the 2xx ACK: fall through to the dialog.
                InviteTxState::Accepted | InviteTxState::Proceeding => {}
            }
        }
        let dialog = (
            req.call_id.clone(),
            req.to_tag.clone().unwrap_or_default(),
            req.from_tag.clone().unwrap_or_default(),
        );
        let Some(call) = self.dialogs.get(&dialog).copied() else {
            debug!(call_id = %req.call_id, "stray ACK ignored");
            return;
        };
        // Stop retransmitting whichever 2xx this ACK acknowledges.
        let acked: Vec<TxKey> = self
            .invite_txs
            .iter()
            .filter(|(_, tx)| {
                tx.call == call && tx.state == InviteTxState::Accepted && tx.cseq == req.cseq
            })
            .map(|(k, _)| k.clone())
            .collect();
        if acked.is_empty() {
            return; // retransmitted ACK
        }
        for k in acked {
            // RFC 6026: stay around for Timer L to absorb late INVITE retransmissions.
            if let Some(tx) = self.invite_txs.get_mut(&k) {
                tx.state = InviteTxState::Confirmed;
                tx.retransmit_at = None;
                tx.deadline = now + TIMEOUT_64T1;
            }
        }
        let mut bye_now = false;
        if let Some(c) = self.calls.get_mut(&call) {
            if c.state == CallState::Answered && req.cseq == c.invite_cseq {
                c.state = CallState::Confirmed;
                info!(%call, "call established (ACK)");
                self.events.push_back(CallEvent::Confirmed { call });
                bye_now = c.bye_after_ack;
            }
        }
        if bye_now {
            self.send_bye(now, call, None);
        }
    }

    fn handle_cancel(&mut self, now: Instant, source: SocketAddr, req: &Request) {
        let cancel_key = TxKey::of(req, "CANCEL");
        if let Some(tx) = self.other_txs.get(&cancel_key) {
            self.transmits.push_back(Transmit {
                destination: tx.destination,
                payload: tx.last_response.clone(),
            });
            return;
        }
        let invite_key = TxKey::of(req, "INVITE");
        let Some(tx) = self.invite_txs.get(&invite_key) else {
            return self.respond_once(
                now,
                source,
                req,
                cancel_key,
                481,
                "Call/Transaction Does Not Exist",
                &[],
                None,
            );
        };
        let call = tx.call;
        let proceeding = tx.state == InviteTxState::Proceeding;
        let to_tag = self.calls.get(&call).map(|c| c.local_tag.clone());
        self.respond_once(
            now,
            source,
            req,
            cancel_key,
            200,
            "OK",
            &[],
            to_tag.as_deref(),
        );
        if proceeding {
            info!(%call, "caller cancelled before answer");
            let is_initial = self
                .calls
                .get(&call)
                .map(|c| c.invite_tx == invite_key)
                .unwrap_or(false);
            let _ = self.send_final(now, &invite_key, 487, "Request Terminated", None);
            if is_initial {
                self.end_call(call, CallEnd::Cancelled);
            } else if let Some(c) = self.calls.get_mut(&call) {
                c.reinvite_tx = None;
            }
        }
    }

    fn handle_register(&mut self, now: Instant, source: SocketAddr, req: Request, key: TxKey) {
        if self.auth.required() {
            match self
                .auth
                .verify(now, "REGISTER", req.header("Authorization"))
            {
                Verdict::Accepted(user) => debug!(%user, %source, "REGISTER authenticated"),
                Verdict::Challenge { stale } => {
                    let challenges = self.auth.challenge(now, stale);
                    let extra: Vec<(&str, String)> = challenges
                        .into_iter()
                        .map(|c| ("WWW-Authenticate", c))
                        .collect();
                    let tag = message::random_token(12);
                    return self.respond_once(
                        now,
                        source,
                        &req,
                        key,
                        401,
                        "Unauthorized",
                        &extra,
                        Some(&tag),
                    );
                }
                Verdict::Rejected => {
                    warn!(%source, "REGISTER with wrong credentials: 403");
                    return self.respond_once(now, source, &req, key, 403, "Forbidden", &[], None);
                }
            }
        }
        if let Some(reason) = unbindable(&req) {
            return self.respond_once(now, source, &req, key, 400, reason, &[], None);
        }
        let aor = uri_of(&req.to).unwrap_or_else(|| req.to.clone());
        let default_expires = req
            .header("Expires")
            .and_then(|e| e.trim().parse::<u32>().ok())
            .unwrap_or(3600);
        let wildcard = req.contacts.iter().any(|c| c.trim() == "*");
        let contacts: Vec<(String, u32)> = req
            .contacts
            .iter()
            .filter(|c| c.trim() != "*")
            .filter_map(|c| {
                let uri = uri_of(c)?;
                let expires = contact_expires(c).unwrap_or(default_expires);
                Some((uri, expires))
            })
            .collect();
        let wildcard_expires = req.header("Expires").and_then(|e| e.trim().parse().ok());
        let result = self.registrar.register(
            now,
            source,
            &aor,
            &req.call_id,
            req.cseq,
            &contacts,
            wildcard,
            wildcard_expires,
            self.config.max_register_expires,
        );
        let tag = message::random_token(12);
        match result {
            Ok(bindings) => {
                self.registrations_changed = true;
                info!(%source, %aor, bindings = bindings.len(), "REGISTER accepted");
                let mut extra: Vec<(&str, String)> = bindings
                    .iter()
                    .map(|(contact, secs)| ("Contact", format!("<{contact}>;expires={secs}")))
                    .collect();
                extra.push(("Date", httpdate_now()));
                self.respond_once(now, source, &req, key, 200, "OK", &extra, Some(&tag));
            }
            Err(RegisterRefusal::IntervalTooBrief) => {
                let extra = [("Min-Expires", MIN_EXPIRES.to_string())];
                self.respond_once(
                    now,
                    source,
                    &req,
                    key,
                    423,
                    "Interval Too Brief",
                    &extra,
                    Some(&tag),
                );
            }
            Err(RegisterRefusal::BadWildcard) => self.respond_once(
                now,
                source,
                &req,
                key,
                400,
                "Invalid Wildcard Contact",
                &[],
                Some(&tag),
            ),
            Err(RegisterRefusal::OutOfOrder) => {
                self.respond_once(now, source, &req, key, 500, "Out Of Order", &[], Some(&tag))
            }
            Err(RegisterRefusal::Full) => self.respond_once(
                now,
                source,
                &req,
                key,
                503,
                "Service Unavailable",
                &[],
                Some(&tag),
            ),
        }
    }

    // ----- responses ------------------------------------------------------------------------

    fn handle_response(&mut self, now: Instant, resp: message::Response) {
        match resp.cseq_method.as_str() {
            "INVITE" => return self.uac_invite_response(now, resp),
            "CANCEL" => return self.uac_cancel_response(&resp),
            _ => {}
        }
        if resp.cseq_method != "BYE" {
            debug!(
                status = resp.status,
                "response to no transaction of ours ignored"
            );
            return;
        }
        let call = self
            .calls
            .iter()
            .find(|(_, c)| {
                c.bye
                    .as_ref()
                    .is_some_and(|b| b.branch == resp.branch && b.cseq == resp.cseq)
            })
            .map(|(k, _)| *k);
        let Some(call) = call else {
            debug!(status = resp.status, "BYE response with no BYE pending");
            return;
        };
        if resp.status >= 200 {
            info!(%call, status = resp.status, "BYE answered");
            self.end_call(call, CallEnd::LocalBye);
        } else if let Some(bye) = self.calls.get_mut(&call).and_then(|c| c.bye.as_mut()) {
            // A provisional answer: keep retransmitting at T2 (RFC 3261 §17.1.2.2).
            bye.interval = T2;
        }
    }

    // ----- helpers --------------------------------------------------------------------------

    /// Sends a final response on an INVITE server transaction.
    fn send_final(
        &mut self,
        now: Instant,
        key: &TxKey,
        status: u16,
        reason: &str,
        sdp: Option<&[u8]>,
    ) -> Result<(), EndpointError> {
        let contact = self.contact_header();
        let caps = self.capability_headers();
        let Some(tx) = self.invite_txs.get_mut(key) else {
            return Err(EndpointError::WrongState(CallKey(0), "transaction gone"));
        };
        if tx.state != InviteTxState::Proceeding {
            return Err(EndpointError::WrongState(
                tx.call,
                "final response already sent",
            ));
        }
        let mut extra: Vec<(&str, String)> = vec![("Contact", contact)];
        if status < 300 {
            extra.extend(caps);
        }
        let body = sdp.map(|s| ("application/sdp", s));
        let bytes = tx.head.write(status, reason, &extra, body);
        tx.state = if status < 300 {
            InviteTxState::Accepted
        } else {
            InviteTxState::Completed
        };
        tx.last_response = bytes.clone();
        tx.interval = T1;
        tx.retransmit_at = Some(now + T1);
        tx.deadline = now + TIMEOUT_64T1;
        self.transmits.push_back(Transmit {
            destination: tx.head.destination,
            payload: bytes,
        });
        Ok(())
    }

    /// Answers a request once and keeps the answer for its retransmissions (Timer J).
    #[allow(clippy::too_many_arguments)]
    fn respond_once(
        &mut self,
        now: Instant,
        source: SocketAddr,
        req: &Request,
        key: TxKey,
        status: u16,
        reason: &str,
        extra: &[(&str, String)],
        to_tag: Option<&str>,
    ) {
        let generated;
        let tag = match to_tag {
            Some(t) => Some(t),
            None if req.to_tag.is_none() && status > 100 => {
                generated = message::random_token(12);
                Some(generated.as_str())
            }
            None => None,
        };
        let head = ResponseHead::of(req, source, tag);
        let mut headers: Vec<(&str, String)> = extra.to_vec();
        headers.push(("Server", self.config.user_agent.clone()));
        let bytes = head.write(status, reason, &headers, None);
        self.transmits.push_back(Transmit {
            destination: head.destination,
            payload: bytes.clone(),
        });
        if req.method == Method::Invite {
            // An INVITE answered with a final error here still needs its ACK absorbed.
            self.invite_txs.insert(
                key,
                InviteServerTx {
                    call: CallKey(0),
                    state: InviteTxState::Completed,
                    head,
                    last_response: bytes,
                    retransmit_at: Some(now + T1),
                    interval: T1,
                    deadline: now + TIMEOUT_64T1,
                    cseq: req.cseq,
                },
            );
        } else {
            self.other_txs.insert(
                key,
                NonInviteServerTx {
                    last_response: bytes,
                    destination: head.destination,
                    expires_at: now + TIMEOUT_64T1,
                },
            );
        }
    }

    fn send_bye(&mut self, now: Instant, call: CallKey, reason_if_unanswered: Option<CallEnd>) {
        let contact = self.contact_header();
        let user_agent = self.config.user_agent.clone();
        let local = self.config.contact_addr;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.bye.is_some() {
            return;
        }
        c.state = CallState::Ending;
        c.local_cseq += 1;
        let branch = format!("{MAGIC_COOKIE}{}", message::random_token(16));
        let mut text = format!(
            "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            c.remote_target
        );
        for route in &c.route_set {
            text.push_str(&format!("Route: {route}\r\n"));
        }
        text.push_str(&format!(
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContact: {contact}\r\nUser-Agent: {user_agent}\r\nContent-Length: 0\r\n\r\n",
            c.local_uri_header, c.remote_uri_header, c.call_id, c.local_cseq
        ));
        let request = text.into_bytes();
        self.transmits.push_back(Transmit {
            destination: c.request_destination,
            payload: request.clone(),
        });
        c.bye = Some(ByeClientTx {
            branch,
            request,
            destination: c.request_destination,
            retransmit_at: now + T1,
            interval: T1,
            deadline: now + TIMEOUT_64T1,
            cseq: c.local_cseq,
        });
        info!(%call, "box hung up (BYE sent)");
        if let Some(reason) = reason_if_unanswered {
            // The peer may be gone; report the real reason now rather than a BYE timeout.
            self.end_call(call, reason);
        }
    }

    fn end_call(&mut self, call: CallKey, reason: CallEnd) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        self.dialogs
            .remove(&(c.call_id.clone(), c.local_tag.clone(), c.remote_tag.clone()));
        self.pending_invites
            .retain(|(cid, tag, _), _| !(cid == &c.call_id && tag == &c.remote_tag));
        // Late answers to a BYE of this call are ignored as strays from here on.
        self.events.push_back(CallEvent::Ended { call, reason });
    }

    fn remove_invite_tx(&mut self, key: &TxKey) {
        self.invite_txs.remove(key);
        self.pending_invites.retain(|_, k| k != key);
    }

    fn refuse_stranger(&mut self, source: SocketAddr, data: &[u8]) {
        // Stateless 403: a stranger gets no transaction, no dialog, no memory beyond its bucket.
        if let Ok(Inbound::Request(req)) = message::parse(data, self.config.max_message_bytes) {
            if req.method == Method::Ack {
                return;
            }
            let head = ResponseHead::of(&req, source, Some(&message::random_token(8)));
            let bytes = head.write(403, "Forbidden", &[], None);
            self.transmits.push_back(Transmit {
                destination: head.destination,
                payload: bytes,
            });
        }
    }

    fn send_bad_request(&mut self, source: SocketAddr, data: &[u8], status: u16, reason: &str) {
        let Some(ctx) = bad_request_context(data) else {
            return;
        };
        let Some(top) = ctx
            .vias
            .first()
            .and_then(|v| rsipstack::sip::typed::Via::parse(v).ok())
        else {
            return;
        };
        let (destination, rewritten) = response_route(&top, source);
        let mut vias = ctx.vias.clone();
        vias[0] = rewritten;
        let phrase: String = reason
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .collect();
        let bytes = write_response(
            status,
            &phrase,
            &vias,
            ctx.from.as_deref().unwrap_or("<sip:unknown@invalid>"),
            ctx.to.as_deref().unwrap_or("<sip:unknown@invalid>"),
            ctx.call_id.as_deref().unwrap_or("unknown"),
            ctx.cseq.as_deref().unwrap_or("0 UNKNOWN"),
            &[],
            None,
        );
        self.transmits.push_back(Transmit {
            destination,
            payload: bytes,
        });
    }

    fn contact_header(&self) -> String {
        format!("<sip:callbox@{}>", self.config.contact_addr)
    }

    fn capability_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Allow", ALLOWED_METHODS.to_string()),
            (
                "Accept",
                "application/sdp, application/dtmf-relay".to_string(),
            ),
            ("Supported", "timer".to_string()),
        ]
    }
}

/// The Require options the box does not support, comma-joined (None when all are known).
fn unsupported_extensions(req: &Request) -> Option<String> {
    let unsupported: Vec<String> = req
        .headers_named("Require")
        .flat_map(split_header_list)
        .filter(|opt| !opt.eq_ignore_ascii_case("timer"))
        .collect();
    (!unsupported.is_empty()).then(|| unsupported.join(", "))
}

/// Whether an Accept header (absent: SDP implied, RFC 3261 §20.1) admits application/sdp.
fn accepts_sdp(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    split_header_list(accept).iter().any(|range| {
        let media = range.split(';').next().unwrap_or("").trim();
        ["application/sdp", "application/*", "*/*"]
            .iter()
            .any(|ok| media.eq_ignore_ascii_case(ok))
    }) || accept.trim().is_empty()
}

fn is_sdp(content_type: Option<&str>) -> bool {
    content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/sdp")
        })
        .unwrap_or(true)
}

/// Why a REGISTER cannot be bound: an address-of-record or Contact that is not a SIP URI
/// (RFC 4475 §3.3.4), or a Contact URI carrying headers (§3.3.14).
fn unbindable(req: &Request) -> Option<&'static str> {
    let is_sip = |uri: &str| {
        let scheme = uri.split(':').next().unwrap_or("");
        scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")
    };
    if !uri_of(&req.to).is_some_and(|u| is_sip(&u)) {
        return Some("Address-of-record is not a SIP URI");
    }
    for contact in req.contacts.iter().filter(|c| c.trim() != "*") {
        match uri_of(contact) {
            Some(uri) if is_sip(&uri) && !message::uri_has_headers(&uri) => {}
            _ => return Some("Contact cannot be bound"),
        }
    }
    None
}

/// `expires=` parameter of one Contact value.
fn contact_expires(contact: &str) -> Option<u32> {
    let after = match contact.rfind('>') {
        Some(i) => &contact[i + 1..],
        None => contact,
    };
    after.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("expires")
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

/// A digit from SIP INFO: `application/dtmf-relay` (`Signal=5\r\nDuration=160`) or
/// `application/dtmf` (`5`).
fn dtmf_relay_digit(req: &Request) -> Option<(char, u32)> {
    let ct = req.content_type.as_deref()?.to_ascii_lowercase();
    let body = std::str::from_utf8(&req.body).ok()?;
    let valid = |c: char| matches!(c, '0'..='9' | '*' | '#' | 'A'..='D');
    if ct.starts_with("application/dtmf-relay") {
        let mut digit = None;
        let mut duration = 0;
        for line in body.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "signal" => digit = v.trim().chars().next().map(|c| c.to_ascii_uppercase()),
                "duration" => duration = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
        let digit = match digit? {
            c if valid(c) => c,
            _ => return None,
        };
        Some((digit, duration))
    } else if ct.starts_with("application/dtmf") {
        let c = body.trim().chars().next()?.to_ascii_uppercase();
        valid(c).then_some((c, 0))
    } else {
        None
    }
}

/// RFC 7231 date for REGISTER responses.
fn httpdate_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let (y, mo, d) = civil_from_days(days as i64);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{weekday}, {d:02} {month} {y} {h:02}:{m:02}:{s:02} GMT")
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

mod uac;
pub use uac::OutgoingCall;

#[cfg(test)]
mod rfc4475;
#[cfg(test)]
mod tests;
