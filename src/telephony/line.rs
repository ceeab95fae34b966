//! The phone line: joins SIP call control to RTP media and hands each answered call to the
//! layers above as an [`AudioPort`]. It answers (after the configured ring delay), refuses
//! what it cannot take (488 for no common codec, 503 when no RTP port is free), follows
//! re-INVITEs (hold, unhold, refresh), and ends the SIP side when the media side ends and
//! the other way round.
//!
//! It also places calls for the application ([`DialRequest`], paging the on-call
//! technician): binds RTP, sends the offer through the endpoint, and once the callee answers
//! hands back an [`OutboundCall`] whose [`AudioPort`] works like an answered call's.

use crate::telephony::audio_port::{
    port_pair, AudioPort, DigitEvent, DigitSource, EndReason, PortEvent,
};
use crate::telephony::caller_id::{self, CallerId};
use crate::telephony::media::{self, MediaHandle, MediaParams};
use crate::telephony::sdp::{self, Direction, Negotiated};
use crate::telephony::settings::{Codec, MediaConfig, SipConfig};
use crate::telephony::sip::message::uri_socket_addr;
use crate::telephony::sip::udp::SipHandle;
use crate::telephony::sip::{CallEnd, CallEvent, CallKey, IncomingCall, OutgoingCall};
use crate::trade::redact;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// A call the line answered, for the call flow.
#[derive(Debug)]
pub struct AnsweredCall {
    pub key: CallKey,
    pub call_id: String,
    pub caller: CallerId,
    /// The number the caller dialled, E.164 when it could be normalised.
    pub dialled: Option<String>,
    pub codec: Codec,
    pub port: AudioPort,
    /// The media session, for its counters.
    pub media: MediaHandle,
}

/// A call for the line to place: `to` is a SIP URI (`sip:200@192.0.2.10`) or a number the
/// outbound target (the ATA's FXO port, or the trunk) dials.
#[derive(Debug)]
pub struct DialRequest {
    pub to: String,
    /// The answered call, or why there is none.
    pub reply: oneshot::Sender<Result<OutboundCall, DialFailure>>,
}

/// A placed call the callee answered.
#[derive(Debug)]
pub struct OutboundCall {
    pub key: CallKey,
    pub codec: Codec,
    /// The callee's audio and digits in, the box's voice out, hang-up.
    pub port: AudioPort,
    pub media: MediaHandle,
}

/// Why a placed call was not answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DialFailure {
    /// 486 Busy Here / 600 Busy Everywhere.
    #[error("busy ({0})")]
    Busy(u16),
    /// 603 Decline.
    #[error("declined ({0})")]
    Declined(u16),
    /// Another final refusal (404, 480, 401/407 unanswerable, …).
    #[error("refused with {0}")]
    Refused(u16),
    /// It rang out (the box cancelled).
    #[error("no answer")]
    NoAnswer,
    /// Nothing answered the INVITE at all.
    #[error("no response from {0}")]
    Unreachable(String),
    /// The answer's media could not be used (no common codec, bad SDP).
    #[error("unusable media in the answer: {0}")]
    Media(String),
    /// The call could not be placed (no outbound target, bad URI, no RTP port, stopping).
    #[error("cannot place the call: {0}")]
    NotPlaced(String),
}

/// Where a placed call goes: the Request-URI and the address the INVITE is sent to.
pub fn outbound_route(sip: &SipConfig, to: &str) -> Result<(String, SocketAddr), DialFailure> {
    let target: Option<SocketAddr> = if sip.outbound_target.is_empty() {
        None
    } else {
        Some(sip.outbound_target.parse().map_err(|_| {
            DialFailure::NotPlaced(format!(
                "sip.outbound_target `{}` is not ip:port",
                sip.outbound_target
            ))
        })?)
    };
    let to = to.trim();
    if to.starts_with("sip:") {
        if to.chars().any(|c| c.is_control() || c == ' ' || c == '>') {
            return Err(DialFailure::NotPlaced(format!("`{to}` is not a SIP URI")));
        }
        // A URI naming an address is called there; one naming a host goes through the target.
        let destination = uri_socket_addr(to).or(target).ok_or_else(|| {
            DialFailure::NotPlaced(format!(
                "`{to}` names no address and sip.outbound_target is not set"
            ))
        })?;
        return Ok((to.to_string(), destination));
    }
    let digits: String = to
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let number_ok = !digits.is_empty()
        && digits.len() <= 20
        && digits
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == '+') || c == '*' || c == '#');
    if !number_ok {
        return Err(DialFailure::NotPlaced(format!(
            "`{to}` is neither a SIP URI nor a phone number"
        )));
    }
    let destination = target.ok_or_else(|| {
        DialFailure::NotPlaced("sip.outbound_target is not set: nowhere to dial a number".into())
    })?;
    let domain = if sip.outbound_domain.is_empty() {
        destination.to_string()
    } else {
        sip.outbound_domain.clone()
    };
    let user = digits.replace('#', "%23");
    Ok((format!("sip:{user}@{domain}"), destination))
}

/// A placed call not answered yet.
struct PendingDial {
    reply: oneshot::Sender<Result<OutboundCall, DialFailure>>,
    sockets: media::RtpSocketPair,
    destination: SocketAddr,
    /// Its requester stopped waiting and the call was hung up (CANCEL) while it rang.
    abandoned: bool,
}

/// What the line keeps per live call.
struct LiveCall {
    answered_at: Option<Instant>,
    media: Option<MediaHandle>,
    negotiated: Negotiated,
    /// The address the call was signalled from: media is pinned to it (or the allow-list).
    signalled_from: IpAddr,
    local_ip: IpAddr,
    local_port: u16,
    session_id: u64,
    session_version: u64,
    /// Injects SIP INFO digits into the call's port.
    port_events: Option<mpsc::Sender<PortEvent>>,
    /// The ring-delay/answer task, aborted on CANCEL.
    answering: Option<JoinHandle<()>>,
    /// Watches the call flow's hang-up and the media's own end.
    watcher: Option<JoinHandle<()>>,
    /// Fired by the ACK of the 200 OK: only then is the call handed to the call flow.
    confirmed: Option<oneshot::Sender<()>>,
    /// A call the box placed, until the callee answers.
    dialing: Option<PendingDial>,
}

/// What the line needs of the configuration: `[sip]`, `[media]` and the shop's country
/// (`shop.default_country`, the dialling plan caller ID is read with).
#[derive(Debug, Clone)]
pub struct LineSettings {
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub default_country: String,
}

/// Runs the line until the SIP endpoint stops. Once `stopping` is true (the box is shutting
/// down) new calls are refused with 486 Busy Here; calls in progress go on. Calls to place
/// arrive on `dials`.
pub async fn run(
    config: Arc<LineSettings>,
    sip: SipHandle,
    mut events: mpsc::UnboundedReceiver<CallEvent>,
    answered: mpsc::Sender<AnsweredCall>,
    stopping: watch::Receiver<bool>,
    dials: &mut mpsc::Receiver<DialRequest>,
) {
    let mut calls: HashMap<CallKey, LiveCall> = HashMap::new();
    let local_ip = media_ip(&config, &sip);
    let mut sweep = tokio::time::interval(Duration::from_millis(500));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            _ = sweep.tick() => {
                abandon_dials(&sip, &mut calls).await;
                continue;
            }
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            Some(dial) = dials.recv() => {
                if *stopping.borrow() {
                    let _ = dial.reply.send(Err(DialFailure::NotPlaced("the box is stopping".into())));
                } else if let Some((key, live)) = place_call(&config, &sip, local_ip, dial).await {
                    calls.insert(key, live);
                }
                continue;
            }
        };
        match event {
            CallEvent::Progress { call, status, sdp } => {
                info!(%call, status, early_media = !sdp.is_empty(), "placed call ringing");
            }
            CallEvent::Answered { call, sdp } => {
                if let Some(live) = calls.get_mut(&call) {
                    outbound_answered(&config, &sip, call, live, &sdp).await;
                }
            }
            CallEvent::Offered { call, .. } if *stopping.borrow() => {
                info!(%call, "refusing a new call while the box stops or switches releases: 486");
                let _ = sip.reject(call, 486, "Busy Here").await;
            }
            CallEvent::Offered { call, offer } => {
                if let Some(live) =
                    offer_call(&config, &sip, &answered, &stopping, local_ip, call, offer).await
                {
                    calls.insert(call, live);
                }
            }
            CallEvent::Confirmed { call } => {
                if let Some(live) = calls.get_mut(&call) {
                    live.answered_at.get_or_insert_with(Instant::now);
                    if let Some(confirmed) = live.confirmed.take() {
                        let _ = confirmed.send(());
                    }
                }
            }
            CallEvent::Reoffer { call, sdp } => {
                if let Some(live) = calls.get_mut(&call) {
                    reoffer(&config, &sip, call, live, &sdp).await;
                }
            }
            CallEvent::Digit {
                call,
                digit,
                duration_ms,
            } => {
                if let Some(live) = calls.get(&call) {
                    if let Some(tx) = &live.port_events {
                        let at_ms = live
                            .answered_at
                            .map(|t| t.elapsed().as_millis() as u64)
                            .unwrap_or(0);
                        let _ = tx.try_send(PortEvent::Digit(DigitEvent {
                            digit,
                            source: DigitSource::SipInfo,
                            at_ms,
                            duration_ms,
                        }));
                    }
                }
            }
            CallEvent::Ended { call, reason } => {
                if let Some(mut live) = calls.remove(&call) {
                    if let Some(dial) = live.dialing.take() {
                        let failure = dial_failure(reason, dial.destination);
                        info!(%call, %failure, "placed call not answered");
                        let _ = dial.reply.send(Err(failure));
                    }
                    end_media(live, reason);
                }
            }
        }
    }
    for (_, live) in calls.drain() {
        end_media(live, CallEnd::LocalBye);
    }
}

/// Negotiates, binds RTP and answers (after the ring delay); on any refusal the call is
/// rejected here and nothing is kept.
async fn offer_call(
    config: &Arc<LineSettings>,
    sip: &SipHandle,
    answered: &mpsc::Sender<AnsweredCall>,
    stopping: &watch::Receiver<bool>,
    local_ip: IpAddr,
    call: CallKey,
    offer: IncomingCall,
) -> Option<LiveCall> {
    let text = String::from_utf8_lossy(&offer.sdp);
    let negotiated = match sdp::parse_offer(&text).and_then(|o| sdp::negotiate(&o, &config.media)) {
        Ok(n) => n,
        Err(err) => {
            info!(%call, error = %err, "refusing the call's media offer");
            let _ = sip
                .reject(call, err.sip_status(), reason_phrase(err.sip_status()))
                .await;
            return None;
        }
    };
    let (sockets, local_port, session_id) = match bind_call_rtp(config).await {
        Ok(bound) => bound,
        Err(err) => {
            warn!(%call, error = %err, "no RTP port free: 503");
            let _ = sip.reject(call, 503, "Service Unavailable").await;
            return None;
        }
    };
    let answer = sdp::build_answer(&negotiated, local_ip, local_port, session_id, 1);

    let caller = caller_id::caller_id(
        offer.p_asserted_identity.as_deref(),
        offer.remote_party_id.as_deref(),
        &offer.from,
        &config.default_country,
    );
    // Keep what was dialled even when it is not a full number (an extension, a short code).
    let dialled = caller_id::dialled_number(
        offer.request_uri_user.as_deref().unwrap_or(""),
        &offer.to,
        &config.default_country,
    )
    .or_else(|| offer.request_uri_user.clone().filter(|u| !u.is_empty()));
    info!(
        %call,
        caller = redact::number(caller.number.as_deref()),
        name = redact::name(caller.display_name.as_deref()),
        dialled = dialled.as_deref().unwrap_or(""),
        codec = negotiated.codec.name(),
        "call offered"
    );

    let (port, backend) = port_pair();
    let port_events = backend.events.clone();
    let hang_up = backend.hang_up.clone();
    let signalled_from = offer.source.ip();
    let params = media_params(config, &negotiated, signalled_from);
    let media = media::start(sockets, params, backend);

    let delay = Duration::from_millis(config.sip.answer_delay_ms);
    let sip_for_task = sip.clone();
    let answered_tx = answered.clone();
    let codec = negotiated.codec;
    let media_for_call = media.clone();
    let call_id = offer.call_id.clone();
    let stopping = stopping.clone();
    let (confirmed_tx, confirmed) = oneshot::channel();
    let answering = tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        // Stopped while it rang: busy rather than a call that would be cut short.
        if *stopping.borrow() {
            info!(%call, "refusing a ringing call while shutting down: 486");
            let _ = sip_for_task.reject(call, 486, "Busy Here").await;
            return;
        }
        if let Err(err) = sip_for_task.answer(call, answer.into_bytes()).await {
            warn!(%call, error = %err, "answer failed");
            return;
        }
        // Nothing acts on the call before the caller's ACK: a caller that never completes
        // the handshake is ended by the endpoint (64*T1) and this task aborted with it, so no
        // call flow, record, alert or lead comes of it.
        if confirmed.await.is_err() {
            return;
        }
        let handed = AnsweredCall {
            key: call,
            call_id,
            caller,
            dialled,
            codec,
            port,
            media: media_for_call,
        };
        if answered_tx.send(handed).await.is_err() {
            warn!(%call, "no call flow is running; hanging up");
            let _ = sip_for_task.hang_up(call).await;
        }
    });
    let watcher = tokio::spawn(watch_call_end(sip.clone(), call, hang_up, media.clone()));
    Some(LiveCall {
        answered_at: None,
        media: Some(media),
        negotiated,
        signalled_from,
        local_ip,
        local_port,
        session_id,
        session_version: 1,
        port_events: Some(port_events),
        answering: Some(answering),
        watcher: Some(watcher),
        confirmed: Some(confirmed_tx),
        dialing: None,
    })
}

/// A call's RTP and RTCP ports (`[media] rtp_port_min..=rtp_port_max` on the SIP address),
/// inbound or placed, with the RTP port and a fresh SDP session id.
async fn bind_call_rtp(
    config: &LineSettings,
) -> Result<(media::RtpSocketPair, u16, u64), media::MediaError> {
    let sockets = media::bind_rtp(
        config.sip.listen.ip(),
        config.media.rtp_port_min,
        config.media.rtp_port_max,
    )
    .await?;
    let local_port = sockets.local_port();
    Ok((sockets, local_port, u64::from(rand::random::<u32>())))
}

/// Placed calls still ringing whose requester stopped waiting (issue 15: the caller a bridge
/// rang for hung up) are hung up: a CANCEL, not a phone ringing for nobody.
async fn abandon_dials(sip: &SipHandle, calls: &mut HashMap<CallKey, LiveCall>) {
    for (call, live) in calls.iter_mut() {
        let Some(dial) = live.dialing.as_mut() else {
            continue;
        };
        if !dial.abandoned && dial.reply.is_closed() {
            dial.abandoned = true;
            info!(%call, "nobody waits for the placed call any more; cancelling it");
            let _ = sip.hang_up(*call).await;
        }
    }
}

/// Binds RTP, offers every configured codec and sends the INVITE; the call is kept until the
/// callee answers or it ends. On failure the reply is sent here and nothing is kept.
async fn place_call(
    config: &Arc<LineSettings>,
    sip: &SipHandle,
    local_ip: IpAddr,
    dial: DialRequest,
) -> Option<(CallKey, LiveCall)> {
    let (target, destination) = match outbound_route(&config.sip, &dial.to) {
        Ok(route) => route,
        Err(failure) => {
            let _ = dial.reply.send(Err(failure));
            return None;
        }
    };
    let (sockets, local_port, session_id) = match bind_call_rtp(config).await {
        Ok(bound) => bound,
        Err(err) => {
            warn!(error = %err, "no RTP port free for a placed call");
            let _ = dial
                .reply
                .send(Err(DialFailure::NotPlaced("no RTP port free".into())));
            return None;
        }
    };
    let offer = sdp::build_offer(&config.media, local_ip, local_port, session_id, 1);
    let user = if config.sip.outbound_user.is_empty() {
        "callbox".to_string()
    } else {
        config.sip.outbound_user.clone()
    };
    let credentials = config
        .sip
        .outbound_password
        .is_set()
        .then(|| (user.clone(), config.sip.outbound_password.clone()));
    let request = OutgoingCall {
        target: target.clone(),
        destination,
        from_user: user,
        credentials,
        sdp: offer.into_bytes(),
        ring_timeout: Duration::from_secs(config.sip.outbound_ring_timeout_secs),
    };
    let key = match sip.place_call(request).await {
        Ok(key) => key,
        Err(err) => {
            let _ = dial
                .reply
                .send(Err(DialFailure::NotPlaced(err.to_string())));
            return None;
        }
    };
    info!(call = %key, to = %redact::number(Some(&dial.to)), %destination, "placing a call");
    let placeholder = Negotiated {
        codec: config.media.codecs.first().copied().unwrap_or(Codec::Pcmu),
        payload_type: 0,
        telephone_event_pt: None,
        remote: destination,
        direction: Direction::SendRecv,
        hold: false,
        remote_ptime: 20,
        media_lines: Vec::new(),
        audio_index: 0,
    };
    Some((
        key,
        LiveCall {
            answered_at: None,
            media: None,
            negotiated: placeholder,
            signalled_from: destination.ip(),
            local_ip,
            local_port,
            session_id,
            session_version: 1,
            port_events: None,
            answering: None,
            watcher: None,
            confirmed: None,
            dialing: Some(PendingDial {
                reply: dial.reply,
                abandoned: false,
                sockets,
                destination,
            }),
        },
    ))
}

/// The callee answered: negotiate its SDP, start media, hand the port to whoever dialled.
async fn outbound_answered(
    config: &Arc<LineSettings>,
    sip: &SipHandle,
    call: CallKey,
    live: &mut LiveCall,
    answer: &[u8],
) {
    let Some(dial) = live.dialing.take() else {
        return;
    };
    let text = String::from_utf8_lossy(answer);
    let negotiated = match sdp::parse_offer(&text).and_then(|o| sdp::negotiate(&o, &config.media)) {
        Ok(n) => n,
        Err(err) => {
            warn!(%call, error = %err, "placed call answered with unusable media; hanging up");
            let _ = dial.reply.send(Err(DialFailure::Media(err.to_string())));
            let _ = sip.hang_up(call).await;
            return;
        }
    };
    let (port, backend) = port_pair();
    live.port_events = Some(backend.events.clone());
    let hang_up = backend.hang_up.clone();
    let params = media_params(config, &negotiated, live.signalled_from);
    let media = media::start(dial.sockets, params, backend);
    live.answered_at = Some(Instant::now());
    live.media = Some(media.clone());
    live.watcher = Some(tokio::spawn(watch_call_end(
        sip.clone(),
        call,
        hang_up,
        media.clone(),
    )));
    info!(%call, codec = negotiated.codec.name(), "placed call answered");
    let codec = negotiated.codec;
    live.negotiated = negotiated;
    let handed = OutboundCall {
        key: call,
        codec,
        port,
        media,
    };
    if dial.reply.send(Ok(handed)).is_err() {
        warn!(%call, "nobody waits for the placed call any more; hanging up");
        let _ = sip.hang_up(call).await;
    }
}

fn dial_failure(reason: CallEnd, destination: SocketAddr) -> DialFailure {
    match reason {
        CallEnd::Refused(status @ (486 | 600)) => DialFailure::Busy(status),
        CallEnd::Refused(status @ 603) => DialFailure::Declined(status),
        CallEnd::Refused(status) => DialFailure::Refused(status),
        CallEnd::NoAnswer => DialFailure::NoAnswer,
        CallEnd::Unreachable => DialFailure::Unreachable(destination.to_string()),
        other => DialFailure::NotPlaced(format!("ended before an answer: {}", other.as_str())),
    }
}

/// Sends BYE when the call flow hangs up or the media gives up (no RTP for too long).
async fn watch_call_end(
    sip: SipHandle,
    call: CallKey,
    mut hang_up: watch::Receiver<bool>,
    media: MediaHandle,
) {
    tokio::select! {
        _ = hang_up.wait_for(|h| *h) => {}
        reason = media.ended() => {
            info!(%call, ?reason, "media ended");
        }
    }
    if let Err(err) = sip.hang_up(call).await {
        warn!(%call, error = %err, "hang-up failed");
    }
}

async fn reoffer(
    config: &LineSettings,
    sip: &SipHandle,
    call: CallKey,
    live: &mut LiveCall,
    sdp_bytes: &[u8],
) {
    let text = String::from_utf8_lossy(sdp_bytes);
    let negotiated = if sdp_bytes.is_empty() {
        // Offerless re-INVITE (session refresh): offer what we have now.
        Ok(live.negotiated.clone())
    } else {
        sdp::parse_offer(&text).and_then(|o| sdp::negotiate(&o, &config.media))
    };
    match negotiated {
        Ok(n) => {
            live.session_version += 1;
            let answer = sdp::build_answer(
                &n,
                live.local_ip,
                live.local_port,
                live.session_id,
                live.session_version,
            );
            if let Some(media) = &live.media {
                media.update(media_params(config, &n, live.signalled_from));
            }
            info!(%call, direction = ?n.direction, hold = n.hold, "re-INVITE accepted");
            live.negotiated = n;
            let _ = sip.answer_reoffer(call, answer.into_bytes()).await;
        }
        Err(err) => {
            info!(%call, error = %err, "re-INVITE refused; media unchanged");
            let _ = sip.reject_reoffer(call, 488, "Not Acceptable Here").await;
        }
    }
}

fn end_media(mut live: LiveCall, reason: CallEnd) {
    if let Some(task) = live.answering.take() {
        task.abort();
    }
    if let Some(task) = live.watcher.take() {
        task.abort();
    }
    let end = match reason {
        CallEnd::RemoteBye | CallEnd::Cancelled => EndReason::RemoteHangUp,
        CallEnd::LocalBye
        | CallEnd::ByeTimeout
        | CallEnd::Rejected(_)
        | CallEnd::Abandoned
        | CallEnd::NoAnswer
        | CallEnd::Refused(_)
        | CallEnd::Unreachable => EndReason::LocalHangUp,
        CallEnd::AckTimeout => EndReason::TransportFailed("no ACK from the caller's side".into()),
    };
    if let Some(media) = live.media.take() {
        media.stop(end);
    }
}

fn media_params(config: &LineSettings, n: &Negotiated, signalled_from: IpAddr) -> MediaParams {
    MediaParams {
        codec: n.codec,
        payload_type: n.payload_type,
        telephone_event_pt: n.telephone_event_pt,
        remote: media::pinned_remote(n.remote, signalled_from, &config.sip.allowed_peers),
        send: matches!(n.direction, Direction::SendRecv | Direction::SendOnly) && !n.hold,
        receive: matches!(n.direction, Direction::SendRecv | Direction::RecvOnly),
        inband_dtmf: config.media.inband_dtmf,
        jitter_frames: config.media.jitter_buffer_frames,
        rtp_timeout: Duration::from_secs(config.media.rtp_timeout_secs),
    }
}

/// The address RTP binds to and SDP announces.
fn media_ip(config: &LineSettings, sip: &SipHandle) -> IpAddr {
    match config.sip.public_address {
        Some(ip) => ip,
        None => {
            let ip = sip.local_addr().ip();
            if ip.is_unspecified() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                ip
            }
        }
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        488 => "Not Acceptable Here",
        503 => "Service Unavailable",
        _ => "Not Acceptable Here",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(target: &str, domain: &str) -> SipConfig {
        SipConfig {
            outbound_target: target.into(),
            outbound_domain: domain.into(),
            ..SipConfig::default()
        }
    }

    #[test]
    fn numbers_go_to_the_outbound_target() {
        let ata = sip("192.168.1.20:5062", "");
        assert_eq!(
            outbound_route(&ata, "+1 (312) 555-0142"),
            Ok((
                "sip:+13125550142@192.168.1.20:5062".into(),
                "192.168.1.20:5062".parse().expect("addr")
            ))
        );
        let trunk = sip("203.0.113.5:5060", "trunk.example.com");
        assert_eq!(
            outbound_route(&trunk, "3125550142").map(|r| r.0),
            Ok("sip:3125550142@trunk.example.com".into())
        );
        assert!(matches!(
            outbound_route(&sip("", ""), "3125550142"),
            Err(DialFailure::NotPlaced(_))
        ));
        for bad in ["call the tech", "", "12+34", "555;x"] {
            assert!(
                matches!(outbound_route(&ata, bad), Err(DialFailure::NotPlaced(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sip_uris_with_an_address_are_called_there() {
        let ata = sip("192.168.1.20:5062", "");
        assert_eq!(
            outbound_route(&ata, "sip:200@127.0.0.1:5099"),
            Ok((
                "sip:200@127.0.0.1:5099".into(),
                "127.0.0.1:5099".parse().expect("addr")
            ))
        );
        assert_eq!(
            outbound_route(&ata, "sip:tech@pbx.example.com").map(|r| r.1),
            Ok("192.168.1.20:5062".parse().expect("addr"))
        );
        assert!(outbound_route(&sip("", ""), "sip:tech@pbx.example.com").is_err());
        assert!(outbound_route(&ata, "sip:a b@1.2.3.4").is_err());
    }

    #[test]
    fn unanswered_ends_become_dial_failures() {
        let at: SocketAddr = "192.0.2.1:5060".parse().expect("addr");
        assert_eq!(
            dial_failure(CallEnd::Refused(486), at),
            DialFailure::Busy(486)
        );
        assert_eq!(
            dial_failure(CallEnd::Refused(600), at),
            DialFailure::Busy(600)
        );
        assert_eq!(
            dial_failure(CallEnd::Refused(603), at),
            DialFailure::Declined(603)
        );
        assert_eq!(
            dial_failure(CallEnd::Refused(404), at),
            DialFailure::Refused(404)
        );
        assert_eq!(dial_failure(CallEnd::NoAnswer, at), DialFailure::NoAnswer);
        assert_eq!(
            dial_failure(CallEnd::Unreachable, at),
            DialFailure::Unreachable("192.0.2.1:5060".into())
        );
    }
}
