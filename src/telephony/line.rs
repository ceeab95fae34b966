//! The phone line: joins SIP call control to RTP media and hands each answered call to the
//! layers above as an [`AudioPort`]. It answers (after the configured ring delay), refuses
//! what it cannot take (488 for no common codec, 503 when no RTP port is free), follows
//! re-INVITEs (hold, unhold, refresh), and ends the SIP side when the media side ends and
//! the other way round.

use crate::telephony::audio_port::{
    port_pair, AudioPort, DigitEvent, DigitSource, EndReason, PortEvent,
};
use crate::telephony::caller_id::{self, CallerId};
use crate::telephony::media::{self, MediaHandle, MediaParams};
use crate::telephony::sdp::{self, Direction, Negotiated};
use crate::telephony::settings::{Codec, MediaConfig, SipConfig};
use crate::telephony::sip::udp::SipHandle;
use crate::telephony::sip::{CallEnd, CallEvent, CallKey, IncomingCall};
use crate::trade::redact;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
/// down) new calls are refused with 486 Busy Here; calls in progress go on.
pub async fn run(
    config: Arc<LineSettings>,
    sip: SipHandle,
    mut events: mpsc::UnboundedReceiver<CallEvent>,
    answered: mpsc::Sender<AnsweredCall>,
    stopping: watch::Receiver<bool>,
) {
    let mut calls: HashMap<CallKey, LiveCall> = HashMap::new();
    let local_ip = media_ip(&config, &sip);
    while let Some(event) = events.recv().await {
        match event {
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
                if let Some(live) = calls.remove(&call) {
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
    let sockets = match media::bind_rtp(
        config.sip.listen.ip(),
        config.media.rtp_port_min,
        config.media.rtp_port_max,
    )
    .await
    {
        Ok(s) => s,
        Err(err) => {
            warn!(%call, error = %err, "no RTP port free: 503");
            let _ = sip.reject(call, 503, "Service Unavailable").await;
            return None;
        }
    };
    let local_port = sockets.local_port();
    let session_id = u64::from(rand::random::<u32>());
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
    })
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
        CallEnd::LocalBye | CallEnd::ByeTimeout | CallEnd::Rejected(_) => EndReason::LocalHangUp,
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
