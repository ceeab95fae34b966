//! The user agent client: calls the box places (a page to the on-call technician) through the
//! ATA's FXO port or a SIP trunk. The INVITE client transaction of RFC 3261 §17.1.1 (Timer A
//! retransmissions, Timer B, the ACK of a non-2xx inside the transaction and Timer D), digest
//! answers to 401/407 (§22.2), CANCEL when the ring timeout passes or the box gives up
//! (§9.1: only after a provisional response), and the ACK of the 2xx (§13.2.2.4). Once
//! answered, the call is an ordinary dialog of the endpoint: BYE both ways, INFO digits.

use super::*;
use crate::telephony::sip::auth::Challenge;

/// A call for the box to place.
#[derive(Debug, Clone)]
pub struct OutgoingCall {
    /// The Request-URI: `sip:<number>@<ata>` (the ATA dials the number on its FXO port) or
    /// a URI at the trunk.
    pub target: String,
    /// Where the INVITE is sent (the ATA's or the trunk's address).
    pub destination: SocketAddr,
    /// The user part of the From URI (the shop's number or the trunk account).
    pub from_user: String,
    /// Digest credentials for a 401/407 challenge (a trunk account, or the ATA's).
    pub credentials: Option<(String, Secret)>,
    /// The SDP offer.
    pub sdp: Vec<u8>,
    /// How long to let it ring before CANCEL.
    pub ring_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    /// INVITE sent, no response yet: Timer A retransmits, Timer B gives up.
    Calling,
    /// A provisional response came: the callee's side is ringing.
    Proceeding,
    /// A 2xx came and was ACKed: the call is a dialog now.
    Accepted,
}

/// A CANCEL in flight (non-INVITE client transaction: Timer E, F).
#[derive(Debug)]
struct CancelTx {
    request: Vec<u8>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    deadline: Instant,
}

/// The client side of one placed call.
#[derive(Debug)]
pub(super) struct Uac {
    request: OutgoingCall,
    state: TxState,
    branch: String,
    /// The INVITE as last sent (retransmitted by Timer A).
    invite: Vec<u8>,
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timer B while calling; 64·T1 after a CANCEL with no final response.
    deadline: Instant,
    /// The box wants the call gone before an answer (ring timeout or hang-up): CANCEL goes
    /// out as soon as a provisional response allows, and this is the reason reported.
    cancel_wanted: Option<CallEnd>,
    cancel: Option<CancelTx>,
    /// Digest answers sent; a second challenge after one ends the call.
    auth_tries: u8,
    /// SDP of a 183 (early media), used when the 2xx carries none.
    early_sdp: Vec<u8>,
    /// The ACK of the 2xx, resent for each retransmitted 2xx.
    ack: Option<Vec<u8>>,
    /// Route headers of the INVITE (none: the box sends straight to the destination).
    invite_headers: InviteHeaders,
}

/// What every request of the INVITE transaction repeats.
#[derive(Debug, Clone)]
struct InviteHeaders {
    via: String,
    from: String,
    to: String,
    cseq: u32,
}

/// A placed call that ended on a non-2xx: the ACK, resent for retransmitted finals until
/// Timer D.
#[derive(Debug)]
pub(super) struct Completed {
    ack: Vec<u8>,
    destination: SocketAddr,
    pub(super) deadline: Instant,
}

impl Uac {
    pub(super) fn next_timeout(&self, call: &Call) -> Option<Instant> {
        let ring = (self.state != TxState::Accepted && self.cancel_wanted.is_none())
            .then_some(call.ring_deadline);
        let tx = (self.state != TxState::Accepted).then_some(self.deadline);
        let cancel = self
            .cancel
            .as_ref()
            .map(|c| c.retransmit_at.unwrap_or(c.deadline).min(c.deadline));
        [ring, tx, self.retransmit_at, cancel]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The host (and port) part of a SIP URI, for the From of requests to it.
fn uri_host(uri: &str) -> &str {
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    rest.split([';', '?', '>']).next().unwrap_or(rest)
}

impl Endpoint {
    /// Places a call: sends the INVITE and returns the call's key. Progress, the answer and
    /// the end arrive as [`CallEvent`]s; [`Endpoint::hang_up`] cancels it while it rings and
    /// sends BYE once it is answered.
    pub fn place_call(&mut self, now: Instant, request: OutgoingCall) -> CallKey {
        let call = CallKey(self.next_call);
        self.next_call += 1;
        let call_id = format!("{}@callbox", message::random_token(20));
        let local_tag = message::random_token(12);
        let from_host = uri_host(&request.target).to_string();
        let from = format!("<sip:{}@{from_host}>;tag={local_tag}", request.from_user);
        let to = format!("<{}>", request.target);
        let mut uac = Box::new(Uac {
            state: TxState::Calling,
            branch: String::new(),
            invite: Vec::new(),
            retransmit_at: None,
            interval: T1,
            deadline: now + TIMEOUT_64T1,
            cancel_wanted: None,
            cancel: None,
            auth_tries: 0,
            early_sdp: Vec::new(),
            ack: None,
            invite_headers: InviteHeaders {
                via: String::new(),
                from: from.clone(),
                to: to.clone(),
                cseq: 0,
            },
            request,
        });
        self.send_invite(now, &call_id, &mut uac, None);
        info!(%call, target = %uac.request.target, destination = %uac.request.destination,
              "placing a call (INVITE sent)");
        self.calls.insert(
            call,
            Call {
                state: CallState::Calling,
                source_ip: uac.request.destination.ip(),
                call_id,
                local_tag,
                remote_tag: String::new(),
                local_uri_header: from,
                remote_uri_header: to,
                remote_target: uac.request.target.clone(),
                route_set: Vec::new(),
                request_destination: uac.request.destination,
                remote_cseq: 0,
                local_cseq: uac.invite_headers.cseq,
                invite_cseq: uac.invite_headers.cseq,
                invite_tx: TxKey(format!("uac|{}", uac.branch)),
                reinvite_tx: None,
                bye: None,
                ring_deadline: now + uac.request.ring_timeout,
                bye_after_ack: false,
                outbound: Some(uac),
            },
        );
        call
    }

    /// Sends the INVITE anew (first try, or after a challenge with `authorization`): a new
    /// branch and the next CSeq, Timer A and B from `now`.
    fn send_invite(
        &mut self,
        now: Instant,
        call_id: &str,
        uac: &mut Uac,
        authorization: Option<(&str, String)>,
    ) {
        let local = self.config.contact_addr;
        uac.branch = format!("{MAGIC_COOKIE}{}", message::random_token(16));
        uac.invite_headers.cseq += 1;
        uac.invite_headers.via = format!("SIP/2.0/UDP {local};branch={};rport", uac.branch);
        let h = &uac.invite_headers;
        let mut text = format!(
            "INVITE {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\n\
             Call-ID: {call_id}\r\nCSeq: {} INVITE\r\nContact: {}\r\nUser-Agent: {}\r\n\
             Allow: {ALLOWED_METHODS}\r\n",
            uac.request.target,
            h.via,
            h.from,
            h.to,
            h.cseq,
            self.contact_header(),
            self.config.user_agent,
        );
        if let Some((name, value)) = authorization {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n",
            uac.request.sdp.len()
        ));
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(&uac.request.sdp);
        uac.invite = bytes.clone();
        uac.state = TxState::Calling;
        uac.interval = T1;
        uac.retransmit_at = Some(now + T1);
        uac.deadline = now + TIMEOUT_64T1;
        self.transmits.push_back(Transmit {
            destination: uac.request.destination,
            payload: bytes,
        });
    }

    /// Whether `source` is where a call the box placed was sent (its responses are let in
    /// even from outside the allow-list: a SIP trunk).
    pub(super) fn is_outbound_peer(&self, source: SocketAddr) -> bool {
        self.calls.values().any(|c| {
            c.outbound
                .as_ref()
                .is_some_and(|u| u.request.destination == source)
        }) || self.uac_completed.values().any(|c| c.destination == source)
    }

    /// The box gives up on a placed call before it is answered: CANCEL once a provisional
    /// response has come (at once if one has), reported as `reason`.
    pub(super) fn cancel_placed(&mut self, now: Instant, call: CallKey, reason: CallEnd) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(uac) = c.outbound.as_mut() else {
            return;
        };
        if uac.cancel_wanted.is_some() || uac.state == TxState::Accepted {
            return;
        }
        uac.cancel_wanted = Some(reason);
        if uac.state == TxState::Proceeding {
            self.send_cancel(now, call);
        }
        // Still Calling: RFC 3261 §9.1 waits for a provisional response (or Timer B).
    }

    fn send_cancel(&mut self, now: Instant, call: CallKey) {
        let user_agent = self.config.user_agent.clone();
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(uac) = c.outbound.as_mut() else {
            return;
        };
        if uac.cancel.is_some() {
            return;
        }
        let h = &uac.invite_headers;
        let request = format!(
            "CANCEL {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\n\
             Call-ID: {}\r\nCSeq: {} CANCEL\r\nUser-Agent: {user_agent}\r\nContent-Length: 0\r\n\r\n",
            uac.request.target, h.via, h.from, h.to, c.call_id, h.cseq
        )
        .into_bytes();
        self.transmits.push_back(Transmit {
            destination: uac.request.destination,
            payload: request.clone(),
        });
        uac.cancel = Some(CancelTx {
            request,
            retransmit_at: Some(now + T1),
            interval: T1,
            deadline: now + TIMEOUT_64T1,
        });
        // §9.1: without a final response to the INVITE within 64·T1 of the CANCEL, the
        // transaction is given up.
        uac.deadline = now + TIMEOUT_64T1;
        info!(%call, "placed call cancelled (CANCEL sent)");
    }

    /// The ACK of a non-2xx final response: same branch, Request-URI and From as the INVITE,
    /// the response's To (RFC 3261 §17.1.1.3).
    fn ack_for_failure(uac: &Uac, call_id: &str, to: &str) -> Vec<u8> {
        let h = &uac.invite_headers;
        format!(
            "ACK {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
            uac.request.target, h.via, h.from, h.cseq
        )
        .into_bytes()
    }

    pub(super) fn uac_invite_response(&mut self, now: Instant, resp: message::Response) {
        if let Some(done) = self.uac_completed.get(&resp.branch) {
            if resp.status >= 300 {
                debug!(
                    status = resp.status,
                    "retransmitted final answered with the same ACK"
                );
                self.transmits.push_back(Transmit {
                    destination: done.destination,
                    payload: done.ack.clone(),
                });
            }
            return;
        }
        let found = self.calls.iter().find_map(|(k, c)| {
            c.outbound
                .as_ref()
                .filter(|u| u.branch == resp.branch && c.call_id == resp.call_id)
                .map(|_| *k)
        });
        let Some(call) = found else {
            debug!(
                status = resp.status,
                "INVITE response to no call of ours ignored"
            );
            return;
        };
        match resp.status {
            100..=199 => self.uac_provisional(now, call, resp),
            200..=299 => self.uac_answered(now, call, resp),
            _ => self.uac_failed(now, call, resp),
        }
    }

    fn uac_provisional(&mut self, now: Instant, call: CallKey, resp: message::Response) {
        let Some(uac) = self.calls.get_mut(&call).and_then(|c| c.outbound.as_mut()) else {
            return;
        };
        if uac.state == TxState::Accepted {
            return;
        }
        let first = uac.state == TxState::Calling;
        uac.state = TxState::Proceeding;
        uac.retransmit_at = None;
        if uac.cancel.is_none() {
            // No Timer B once the far end is ringing: the ring timeout governs.
            uac.deadline = now + uac.request.ring_timeout + TIMEOUT_64T1;
        }
        let has_sdp = !resp.body.is_empty() && is_sdp(resp.content_type.as_deref());
        if has_sdp {
            uac.early_sdp = resp.body.clone();
        }
        let wants_cancel = uac.cancel_wanted.is_some();
        if first {
            debug!(%call, status = resp.status, "placed call proceeding");
        }
        if resp.status > 100 {
            self.events.push_back(CallEvent::Progress {
                call,
                status: resp.status,
                sdp: if has_sdp { resp.body } else { Vec::new() },
            });
        }
        if wants_cancel {
            self.send_cancel(now, call);
        }
    }

    fn uac_answered(&mut self, now: Instant, call: CallKey, resp: message::Response) {
        let local = self.config.contact_addr;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(uac) = c.outbound.as_mut() else {
            return;
        };
        if uac.state == TxState::Accepted {
            // A retransmitted 2xx: our ACK was lost.
            if let Some(ack) = &uac.ack {
                self.transmits.push_back(Transmit {
                    destination: c.request_destination,
                    payload: ack.clone(),
                });
            }
            return;
        }
        uac.state = TxState::Accepted;
        uac.retransmit_at = None;
        uac.cancel = None;
        c.state = CallState::Confirmed;
        c.remote_tag = resp.to_tag.clone().unwrap_or_default();
        c.remote_uri_header = resp.to.clone();
        if let Some(target) = resp.contacts.first().and_then(|x| uri_of(x)) {
            c.remote_target = target;
        }
        // §12.1.2: the route set is the Record-Route list in reverse.
        c.route_set = resp.record_routes.iter().rev().cloned().collect();
        c.request_destination = c
            .route_set
            .first()
            .and_then(|r| uri_of(r))
            .and_then(|u| uri_socket_addr(&u))
            .or_else(|| uri_socket_addr(&c.remote_target))
            .unwrap_or(uac.request.destination);
        let branch = format!("{MAGIC_COOKIE}{}", message::random_token(16));
        let mut ack = format!(
            "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            c.remote_target
        );
        for route in &c.route_set {
            ack.push_str(&format!("Route: {route}\r\n"));
        }
        ack.push_str(&format!(
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
            c.local_uri_header, c.remote_uri_header, c.call_id, c.invite_cseq
        ));
        let ack = ack.into_bytes();
        uac.ack = Some(ack.clone());
        self.transmits.push_back(Transmit {
            destination: c.request_destination,
            payload: ack,
        });
        self.dialogs.insert(
            (c.call_id.clone(), c.local_tag.clone(), c.remote_tag.clone()),
            call,
        );
        let sdp = if resp.body.is_empty() {
            std::mem::take(&mut uac.early_sdp)
        } else {
            resp.body
        };
        if let Some(reason) = uac.cancel_wanted {
            // The answer crossed our CANCEL: ACK it, then hang up (§15).
            info!(%call, "placed call answered as it was cancelled; hanging up");
            self.send_bye(now, call, Some(reason));
            return;
        }
        info!(%call, "placed call answered (ACK sent)");
        self.events.push_back(CallEvent::Answered { call, sdp });
    }

    fn uac_failed(&mut self, now: Instant, call: CallKey, resp: message::Response) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let call_id = c.call_id.clone();
        let Some(uac) = c.outbound.as_mut() else {
            return;
        };
        if uac.state == TxState::Accepted {
            return;
        }
        let ack = Self::ack_for_failure(uac, &call_id, &resp.to);
        let destination = uac.request.destination;
        self.transmits.push_back(Transmit {
            destination,
            payload: ack.clone(),
        });
        self.uac_completed.insert(
            uac.branch.clone(),
            Completed {
                ack,
                destination,
                deadline: now + TIMEOUT_64T1,
            },
        );
        if matches!(resp.status, 401 | 407) && uac.cancel_wanted.is_none() {
            if let Some(authorization) = answer_challenge(uac, &resp) {
                uac.auth_tries += 1;
                let Some(mut uac) = c.outbound.take() else {
                    return;
                };
                self.send_invite(now, &call_id, &mut uac, Some(authorization));
                if let Some(c) = self.calls.get_mut(&call) {
                    c.local_cseq = uac.invite_headers.cseq;
                    c.invite_cseq = uac.invite_headers.cseq;
                    c.outbound = Some(uac);
                }
                info!(%call, status = resp.status, "placed call challenged; answered with digest");
                return;
            }
        }
        let reason = uac.cancel_wanted.unwrap_or(CallEnd::Refused(resp.status));
        info!(%call, status = resp.status, ?reason, "placed call not answered");
        self.end_call(call, reason);
    }

    pub(super) fn uac_cancel_response(&mut self, resp: &message::Response) {
        for c in self.calls.values_mut() {
            if let Some(uac) = c.outbound.as_mut() {
                if uac.branch == resp.branch {
                    if let Some(cancel) = uac.cancel.as_mut() {
                        if resp.status >= 200 {
                            cancel.retransmit_at = None;
                        } else {
                            cancel.interval = T2;
                        }
                    }
                }
            }
        }
    }

    /// Timer A, B, D, the CANCEL's E and F, and the ring timeout.
    pub(super) fn uac_timeouts(&mut self, now: Instant) {
        self.uac_completed.retain(|_, c| c.deadline > now);
        let mut ring_out = Vec::new();
        let mut gone = Vec::new();
        for (key, c) in self.calls.iter_mut() {
            let Some(uac) = c.outbound.as_mut() else {
                continue;
            };
            if uac.state == TxState::Accepted {
                continue;
            }
            if uac.deadline <= now {
                // Never a response at all: unreachable, whatever the box wanted meanwhile
                // (a hang-up of its own stays one).
                let reason = match (uac.state, uac.cancel_wanted) {
                    (_, Some(CallEnd::Abandoned)) => CallEnd::Abandoned,
                    (TxState::Calling, _) => CallEnd::Unreachable,
                    (_, wanted) => wanted.unwrap_or(CallEnd::NoAnswer),
                };
                gone.push((*key, reason));
                continue;
            }
            if uac.retransmit_at.is_some_and(|at| at <= now) {
                self.transmits.push_back(Transmit {
                    destination: uac.request.destination,
                    payload: uac.invite.clone(),
                });
                // Timer A doubles without the T2 cap of non-INVITE requests.
                uac.interval *= 2;
                uac.retransmit_at = Some(now + uac.interval);
            }
            if let Some(cancel) = uac.cancel.as_mut() {
                if cancel.retransmit_at.is_some_and(|at| at <= now) {
                    self.transmits.push_back(Transmit {
                        destination: uac.request.destination,
                        payload: cancel.request.clone(),
                    });
                    cancel.interval = (cancel.interval * 2).min(T2);
                    cancel.retransmit_at =
                        Some(now + cancel.interval).filter(|t| *t < cancel.deadline);
                }
            }
            if uac.cancel_wanted.is_none() && c.ring_deadline <= now {
                ring_out.push(*key);
            }
        }
        for (call, reason) in gone {
            warn!(%call, ?reason, "placed call given up (no final response)");
            self.end_call(call, reason);
        }
        for call in ring_out {
            info!(%call, "placed call rang out; cancelling");
            self.cancel_placed(now, call, CallEnd::NoAnswer);
        }
    }
}

/// The Authorization (401) or Proxy-Authorization (407) answering `resp`'s challenge, when
/// the call has credentials and has not answered one already (a stale nonce may be answered
/// once more).
fn answer_challenge(uac: &Uac, resp: &message::Response) -> Option<(&'static str, String)> {
    let (username, password) = uac.request.credentials.as_ref()?;
    let (challenge_header, answer_header) = if resp.status == 401 {
        ("WWW-Authenticate", "Authorization")
    } else {
        ("Proxy-Authenticate", "Proxy-Authorization")
    };
    let challenge = Challenge::strongest(resp.headers_named(challenge_header))?;
    let limit = if challenge.stale { 2 } else { 1 };
    if uac.auth_tries >= limit {
        return None;
    }
    let cnonce = message::random_token(16);
    let value = challenge.answer(
        username,
        password,
        "INVITE",
        &uac.request.target,
        &cnonce,
        1,
    );
    Some((answer_header, value))
}

#[cfg(test)]
mod tests;
