//! Issue 15: "connect me to someone" on a box that can call out while a caller holds the line
//! (`[sip] outbound_while_on_call`: a SIP trunk, or an ATA with a second line).
//! [`LineBridge`] is the dialog's [`TechnicianBridge`]:
//!
//! 1. the person rung is the paging ladder's first contact now
//!    ([`crate::alert::Dispatcher::first_contact`]: ServiceTitan's on-call technician when
//!    known, else `[alerts] contacts` / the fallback technician);
//! 2. the whisper (the page's own words, `alert::message::spoken`) and the question are
//!    rendered before dialling; the call is placed through the SIP line's [`OutboundLine`]
//!    (the existing UAC) while the caller hears ring-back (`telephony::bridge::ringback_frame`);
//! 3. answered: the technician hears the whisper and "press 1 to take the call, or 2 to pass"
//!    (the page call's own [`converse`]), the caller still hearing ring-back;
//! 4. on 1 the alert is acknowledged in the queue (channel "bridge": the ladder ends, and the
//!    call record's `page` names the technician) and the two legs are relayed
//!    ([`relay`], the sans-IO `telephony::bridge::Relay` deciding) until one hangs up; the box
//!    then hangs up the other;
//! 5. busy, no answer, 2, no key, or no contact: "not taken" — the caller leaves a voicemail
//!    and the ladder pages as usual.
//!
//! The caller hanging up while the technician's phone rings ends the bridge; the line then
//! CANCELs the placed call (a dial nobody waits for, `telephony::line`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::alert::phone::PageCallOutcome;
use crate::app::pager::{converse, dial_outcome, play_to_end, CallingOut};
use crate::dialog::call_flow::{BridgeFuture, BridgeResult, RecordingTap, TechnicianBridge};
use crate::dialog::engine::{BridgeOutcome, BridgeRequest};
use crate::queue::{Outbox, PageAcknowledgement, PageContact};
use crate::telephony::audio_port::{AudioPort, EndReason, PortEvent};
use crate::telephony::bridge::{ringback_frame, BridgeEnd, Leg, Mixer, Relay, RelayCounts};
use crate::trade::redact;

/// What the technician hears after the whisper (the page's words).
pub const TAKE_PROMPT: &str =
    "The caller is holding on the line. Press 1 to take the call, or 2 to pass.";
const TAKEN: &str = "Connecting you now.";

/// Whom to ring now: the ladder's first contact.
pub type ContactSource = Arc<dyn Fn(DateTime<Utc>) -> Option<PageContact> + Send + Sync>;

/// How a bridge is paced.
#[derive(Debug, Clone, Copy)]
pub struct BridgeSettings {
    /// How long the technician has to press a key after the question (asked twice).
    pub answer_wait: Duration,
    /// No media from either leg for this long ends the bridge.
    pub inactivity: Duration,
    /// Longest wait for a leg to confirm its hang-up.
    pub hang_up_grace: Duration,
}

impl Default for BridgeSettings {
    fn default() -> Self {
        BridgeSettings {
            answer_wait: Duration::from_secs(8),
            inactivity: Duration::from_secs(20),
            hang_up_grace: Duration::from_secs(5),
        }
    }
}

/// The [`TechnicianBridge`] over the shop's SIP line.
pub struct LineBridge {
    out: CallingOut,
    contact: ContactSource,
    /// Where the alert is acknowledged when the technician takes the call.
    queue: Outbox,
    shop_name: String,
    settings: BridgeSettings,
}

impl std::fmt::Debug for LineBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineBridge")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl LineBridge {
    pub fn new(
        out: CallingOut,
        contact: ContactSource,
        queue: Outbox,
        shop_name: &str,
        settings: BridgeSettings,
    ) -> Self {
        LineBridge {
            out,
            contact,
            queue,
            shop_name: shop_name.to_string(),
            settings,
        }
    }

    async fn bridge(
        &self,
        caller: &mut AudioPort,
        request: &BridgeRequest,
        record: RecordingTap<'_>,
    ) -> BridgeResult {
        let not_taken = |caller_ended| BridgeResult {
            outcome: BridgeOutcome::NotTaken,
            caller_ended,
            relayed_ms: None,
        };
        let mut tap = Tap::new(record);
        let alert_id = &request.alert_id;
        let Some(contact) = (self.contact)(Utc::now()) else {
            warn!(alert = %alert_id, "bridge: nobody to ring (no on-call technician or contact with a phone)");
            return not_taken(None);
        };
        let to = redact::number(Some(&contact.to));
        let spoken = crate::alert::message::spoken(&request.alert, &self.shop_name);
        // Rendered before dialling (the technician must not answer into silence), while the
        // caller already hears ring-back.
        let mut tone = 0u64;
        let rendered = hold_while(caller, &mut tap, &mut tone, async {
            let whisper = self
                .out
                .render(&crate::app::pager::alert_script(&spoken))
                .await?;
            let question = self.out.render(TAKE_PROMPT).await?;
            Ok::<_, crate::app::pager::VoiceFailed>((whisper, question))
        })
        .await;
        let (whisper, question) = match rendered {
            Err(end) => return not_taken(Some(end)),
            Ok(Ok(frames)) => frames,
            Ok(Err(err)) => {
                warn!(alert = %alert_id, %err, "bridge: the whisper could not be rendered");
                return not_taken(None);
            }
        };
        info!(alert = %alert_id, %to, contact = %contact.name, "bridge: ringing the on-call technician");
        let call = match hold_while(caller, &mut tap, &mut tone, self.out.line.dial(&contact.to))
            .await
        {
            Err(end) => {
                info!(alert = %alert_id, ?end, "bridge: the caller hung up while it rang");
                return not_taken(Some(end));
            }
            Ok(Err(failure)) => {
                info!(alert = %alert_id, %to, %failure, outcome = ?dial_outcome(&failure), "bridge: not answered");
                return not_taken(None);
            }
            Ok(Ok(call)) => call,
        };
        let mut technician = call.port;
        let answer_wait = self.settings.answer_wait;
        let decided = hold_while(
            caller,
            &mut tap,
            &mut tone,
            converse(&mut technician, &whisper, &question, answer_wait),
        )
        .await;
        let outcome = match decided {
            Err(end) => {
                info!(alert = %alert_id, ?end, "bridge: the caller hung up during the whisper");
                let _ = technician.hang_up.send(true);
                return not_taken(Some(end));
            }
            Ok(outcome) => outcome,
        };
        if outcome != PageCallOutcome::Accepted {
            info!(alert = %alert_id, %to, ?outcome, "bridge: the technician did not take the call");
            let _ = technician.hang_up.send(true);
            return not_taken(None);
        }
        let ack = PageAcknowledgement {
            by: contact.name.clone(),
            at: Some(Utc::now()),
            channel: "bridge".into(),
        };
        if let Err(err) = self.queue.acknowledge_alert(alert_id, ack).await {
            // The talk goes on; the ladder may then call them again after the caller hangs up.
            warn!(alert = %alert_id, %err, "bridge: the acknowledgement could not be stored");
        }
        if let Ok(frames) = self.out.render(TAKEN).await {
            play_to_end(&mut technician, &frames).await;
        }
        caller.playback.flush();
        info!(alert = %alert_id, %to, codec = call.codec.name(), "bridge: the technician took the call; relaying");
        let relay_from = tap.ms;
        let (end, counts, caller_ended) = relay(
            caller,
            &mut technician,
            &mut tap,
            self.settings.inactivity,
            self.settings.hang_up_grace,
        )
        .await;
        info!(alert = %alert_id, ?end, counts.caller_to_technician, counts.technician_to_caller, counts.digits_dropped, recorded_ms = tap.ms - relay_from, "bridge: over");
        BridgeResult {
            outcome: BridgeOutcome::Talked,
            caller_ended: Some(caller_ended),
            relayed_ms: Some((relay_from, tap.ms)),
        }
    }
}

impl TechnicianBridge for LineBridge {
    fn connect<'a>(
        &'a self,
        caller: &'a mut AudioPort,
        request: &'a BridgeRequest,
        record: RecordingTap<'a>,
    ) -> BridgeFuture<'a> {
        Box::pin(self.bridge(caller, request, record))
    }
}

/// The call's recording as the bridge writes it, and how much it wrote (ms).
pub struct Tap<'a> {
    write: RecordingTap<'a>,
    ms: u64,
}

impl<'a> Tap<'a> {
    pub fn new(write: RecordingTap<'a>) -> Self {
        Tap { write, ms: 0 }
    }

    fn write(&mut self, frame: &crate::telephony::audio_port::AudioFrame) {
        (self.write)(&frame[..]);
        self.ms += 20;
    }
}

/// Runs `work` while the caller hears ring-back; `Err` with how the caller's leg ended if
/// they hang up first (`work` is then dropped).
async fn hold_while<F: Future>(
    caller: &mut AudioPort,
    tap: &mut Tap<'_>,
    tone: &mut u64,
    work: F,
) -> Result<F::Output, EndReason> {
    tokio::pin!(work);
    let mut playing = true;
    loop {
        let frame = Box::new(ringback_frame(*tone));
        tokio::select! {
            out = &mut work => return Ok(out),
            played = caller.playback.play(frame), if playing => {
                playing = played;
                *tone += 1;
            }
            event = caller.events.recv() => match event {
                Some(PortEvent::Ended(reason)) => return Err(reason),
                None => return Err(EndReason::RemoteHangUp),
                // The caller's side is recorded while they wait, as in a turn.
                Some(PortEvent::Audio(frame)) => tap.write(&frame),
                Some(PortEvent::Digit(_)) => {}
            },
        }
    }
}

/// Relays the two legs until one ends (or both go quiet past `inactivity`), then hangs up
/// the other; returns how it ended, what was relayed, and how the caller's leg ended. Both
/// legs, mixed, go to `tap` (the call's recording).
pub async fn relay(
    caller: &mut AudioPort,
    technician: &mut AudioPort,
    tap: &mut Tap<'_>,
    inactivity: Duration,
    grace: Duration,
) -> (BridgeEnd, RelayCounts, EndReason) {
    let start = Instant::now();
    let ms = |at: Instant| u64::try_from(at.duration_since(start).as_millis()).unwrap_or(u64::MAX);
    let mut core = Relay::new(0, u64::try_from(inactivity.as_millis()).unwrap_or(u64::MAX));
    let mut caller_end: Option<EndReason> = None;
    let mut mixer = Mixer::new();
    let end = loop {
        let due = core
            .deadline_ms()
            .map_or(start + Duration::from_secs(86_400), |d| {
                start + Duration::from_millis(d)
            });
        let (from, event) = tokio::select! {
            event = caller.events.recv() => (Leg::Caller, event),
            event = technician.events.recv() => (Leg::Technician, event),
            () = tokio::time::sleep_until(due) => {
                match core.on_timeout(ms(Instant::now())) {
                    Some(end) => break end,
                    None => continue,
                }
            }
        };
        let to = match from {
            Leg::Caller => &technician.playback,
            Leg::Technician => &caller.playback,
        };
        match event {
            Some(PortEvent::Audio(frame)) => {
                for mixed in mixer.push(from, &frame) {
                    tap.write(&mixed);
                }
                if core.on_frame(from, ms(Instant::now())).is_some() {
                    // A leg whose playback is full is behind: the frame is dropped, not queued.
                    let _ = to.try_play(frame);
                }
            }
            Some(PortEvent::Digit(_)) => core.on_digit(from),
            Some(PortEvent::Ended(reason)) => {
                if from == Leg::Caller {
                    caller_end = Some(reason);
                }
                break core.on_ended(from);
            }
            None => {
                if from == Leg::Caller {
                    caller_end = Some(EndReason::RemoteHangUp);
                }
                break core.on_ended(from);
            }
        }
    };
    for mixed in mixer.finish() {
        tap.write(&mixed);
    }
    let _ = technician.hang_up.send(true);
    let caller_end = match caller_end {
        Some(reason) => reason,
        None => {
            let _ = caller.hang_up.send(true);
            wait_ended(caller, grace).await
        }
    };
    (end, core.counts(), caller_end)
}

/// How the port's call ended, once it reports it (or `LocalHangUp` after `grace`).
async fn wait_ended(port: &mut AudioPort, grace: Duration) -> EndReason {
    let wait = async {
        loop {
            match port.events.recv().await {
                Some(PortEvent::Ended(reason)) => return reason,
                Some(_) => {}
                None => return EndReason::LocalHangUp,
            }
        }
    };
    tokio::time::timeout(grace, wait)
        .await
        .unwrap_or(EndReason::LocalHangUp)
}

/// `flow` with the box's bridge when it has one (`callbox run`): the dialog's settings get
/// the [`LineBridge`] and its script offers the bridge. Other flows are returned as they are.
pub(crate) fn attach(
    flow: crate::app::flow::Flow,
    config: &crate::config::Config,
    line: &crate::app::pager::OutboundLine,
    queue: Option<&Outbox>,
    cache: &Option<Arc<crate::servicetitan::cache::StCache>>,
    alerts: Option<Arc<crate::alert::Dispatcher>>,
) -> crate::app::flow::Flow {
    use crate::app::flow::Flow;
    let (Flow::Dialog(settings), Some(queue)) = (&flow, queue) else {
        return flow;
    };
    let Some(bridge) = box_bridge(config, line.clone(), queue, cache.clone(), alerts) else {
        return flow;
    };
    let mut next = (**settings).clone();
    next.script = Arc::new((*next.script).clone().with_bridge(true));
    next.bridge = Some(bridge as Arc<dyn TechnicianBridge>);
    Flow::Dialog(Arc::new(next))
}

/// The running box's bridge, when `[sip] outbound_while_on_call` is on and the box can dial
/// and speak: the dialog's script then offers the bridge. Whom it rings comes from `alerts`,
/// the box's running dispatcher (a fallback technician changed on the settings page is rung
/// from the next call on); without one (no alert service) from a dispatcher of its own.
pub fn box_bridge(
    config: &crate::config::Config,
    line: crate::app::pager::OutboundLine,
    queue: &Outbox,
    cache: Option<Arc<crate::servicetitan::cache::StCache>>,
    alerts: Option<Arc<crate::alert::Dispatcher>>,
) -> Option<Arc<LineBridge>> {
    if !config.sip.outbound_while_on_call {
        return None;
    }
    if config.sip.outbound_target.is_empty()
        || config.voice.engine == crate::config::VoiceEngine::None
    {
        warn!("sip.outbound_while_on_call is on, but the box cannot dial out (sip.outbound_target) or speak (voice.engine): callers asking for a person are paged for instead");
        return None;
    }
    let dispatcher = match alerts {
        Some(live) => live,
        None => own_dispatcher(config, queue, cache)?,
    };
    let contact: ContactSource = Arc::new(move |now| dispatcher.first_contact(now));
    let voice = Arc::new(crate::speech::tts::EspeakVoice::from_config(&config.voice));
    // The bridge places its call while the caller is on: never wait for the line.
    let out = CallingOut::new(line, voice, Arc::new(|| false));
    info!("bridge: a caller asking for a person is connected to the on-call technician (sip.outbound_while_on_call)");
    Some(Arc::new(LineBridge::new(
        out,
        contact,
        queue.clone(),
        &config.shop.name,
        BridgeSettings::default(),
    )))
}

/// A dispatcher for the bridge's lookups only, when the box runs no alert service.
fn own_dispatcher(
    config: &crate::config::Config,
    queue: &Outbox,
    cache: Option<Arc<crate::servicetitan::cache::StCache>>,
) -> Option<Arc<crate::alert::Dispatcher>> {
    let settings = match crate::alert::AlertSettings::from_settings(
        &config.alerts,
        &config.shop.name,
        &config.shop.timezone,
    ) {
        Ok(settings) => settings,
        Err(err) => {
            warn!(%err, "bridge: [alerts] unusable; no bridge");
            return None;
        }
    };
    let directory = crate::app::services::on_call_directory(cache);
    let dispatcher = match crate::alert::Dispatcher::new(settings, queue.clone(), directory) {
        Ok(d) => Arc::new(d),
        Err(err) => {
            warn!(%err, "bridge: no on-call lookup; no bridge");
            return None;
        }
    };
    Some(dispatcher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::audio_port::{port_pair, DigitEvent, DigitSource, PortBackend};

    /// The bridge rings whom the box's running dispatcher names now: a fallback technician
    /// changed on the settings page (`Dispatcher::set_fallback`) is rung without a restart.
    #[tokio::test]
    async fn the_bridge_rings_the_fallback_the_running_dispatcher_has_now() {
        crate::infra::http::install_crypto_provider();
        let dir = tempfile::tempdir().expect("tempdir");
        let (queue, _) =
            Outbox::open(dir.path(), crate::queue::QueueOptions::default()).expect("queue");
        let mut config = crate::config::Config::default();
        config.sip.outbound_while_on_call = true;
        config.sip.outbound_target = "127.0.0.1:5062".into();
        config.alerts.fallback_name = "Mike".into();
        config.alerts.fallback_phone = "+13125550100".into();
        let settings = crate::alert::AlertSettings::from_settings(
            &config.alerts,
            &config.shop.name,
            &config.shop.timezone,
        )
        .expect("alert settings");
        let live = Arc::new(
            crate::alert::Dispatcher::new(
                settings,
                queue.clone(),
                Arc::new(crate::alert::NoOnCall),
            )
            .expect("dispatcher"),
        );
        let bridge = box_bridge(
            &config,
            crate::app::pager::OutboundLine::new(),
            &queue,
            None,
            Some(live.clone()),
        )
        .expect("a bridge");
        let rung = |b: &LineBridge| (b.contact)(Utc::now()).map(|c| (c.name, c.to));
        assert_eq!(
            rung(&bridge),
            Some(("Mike".to_string(), "+13125550100".to_string()))
        );
        live.set_fallback(Some(crate::alert::OnCallTech {
            name: "Ana".into(),
            phone: Some("+13125550199".into()),
            source: "fallback",
        }));
        assert_eq!(
            rung(&bridge),
            Some(("Ana".to_string(), "+13125550199".to_string())),
            "the settings page's change reaches the bridge without a restart"
        );
    }

    /// A leg's media as the relay sees it: frames in on `events`, frames the relay plays
    /// drained from `backend.playback` one per 20 ms.
    fn frame(v: i16) -> PortEvent {
        PortEvent::Audio(Box::new([v; crate::telephony::audio_port::FRAME_SAMPLES]))
    }

    async fn next_played(backend: &mut PortBackend) -> Option<i16> {
        for _ in 0..50 {
            if let Some(f) = backend.playback.next_frame() {
                return Some(f[0]);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    #[tokio::test(start_paused = true)]
    async fn audio_crosses_both_ways_digits_are_dropped_and_a_hang_up_ends_the_other_leg() {
        let (mut caller, mut caller_media) = port_pair();
        let (mut tech, mut tech_media) = port_pair();
        let run = tokio::spawn(async move {
            let mut recording: Vec<i16> = Vec::new();
            let mut write = |s: &[i16]| recording.extend_from_slice(s);
            let mut tap = Tap::new(&mut write);
            let out = relay(
                &mut caller,
                &mut tech,
                &mut tap,
                Duration::from_secs(20),
                Duration::from_secs(5),
            )
            .await;
            let tapped_ms = tap.ms;
            (out, tech.hang_up.borrow().to_owned(), recording, tapped_ms)
        });
        caller_media.events.send(frame(1111)).await.expect("caller");
        assert_eq!(next_played(&mut tech_media).await, Some(1111));
        tech_media.events.send(frame(-2222)).await.expect("tech");
        assert_eq!(next_played(&mut caller_media).await, Some(-2222));
        tech_media
            .events
            .send(PortEvent::Digit(DigitEvent {
                digit: '5',
                source: DigitSource::Rfc4733,
                at_ms: 0,
                duration_ms: 100,
            }))
            .await
            .expect("digit");
        // A frame after the digit, heard by the caller: the digit has been handled (in order).
        tech_media.events.send(frame(-3333)).await.expect("tech");
        assert_eq!(next_played(&mut caller_media).await, Some(-3333));
        caller_media
            .events
            .send(PortEvent::Ended(EndReason::RemoteHangUp))
            .await
            .expect("end");
        let ((end, counts, caller_end), tech_hung_up, recording, tapped_ms) =
            run.await.expect("relay");
        // The call's recording has both legs mixed: the caller's 1111 with the technician's
        // -2222, then the technician's -3333 alone (the caller sent nothing more).
        let frames: Vec<i16> = recording
            .chunks(crate::telephony::audio_port::FRAME_SAMPLES)
            .map(|f| f[0])
            .collect();
        assert_eq!(frames, [-1111, -3333]);
        assert_eq!(tapped_ms, 40);
        assert_eq!(end, BridgeEnd::HungUp(Leg::Caller));
        assert_eq!(caller_end, EndReason::RemoteHangUp);
        assert!(tech_hung_up, "the technician's leg is hung up");
        assert_eq!(
            (
                counts.caller_to_technician,
                counts.technician_to_caller,
                counts.digits_dropped
            ),
            (1, 2, 1)
        );
        assert!(
            !*caller_media.hang_up.borrow(),
            "the caller left on their own"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_technician_hanging_up_hangs_up_the_caller() {
        let (mut caller, caller_media) = port_pair();
        let (mut tech, tech_media) = port_pair();
        let mut caller_hang_up = caller_media.hang_up.clone();
        let caller_events = caller_media.events.clone();
        // The caller's media confirms the box's hang-up, as the media session does.
        tokio::spawn(async move {
            let _ = caller_hang_up.wait_for(|h| *h).await;
            let _ = caller_events
                .send(PortEvent::Ended(EndReason::LocalHangUp))
                .await;
        });
        tech_media
            .events
            .send(PortEvent::Ended(EndReason::RemoteHangUp))
            .await
            .expect("end");
        let mut write = |_: &[i16]| {};
        let (end, _, caller_end) = relay(
            &mut caller,
            &mut tech,
            &mut Tap::new(&mut write),
            Duration::from_secs(20),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(end, BridgeEnd::HungUp(Leg::Technician));
        assert_eq!(caller_end, EndReason::LocalHangUp);
        assert!(*caller_media.hang_up.borrow());
    }

    #[tokio::test(start_paused = true)]
    async fn both_legs_silent_past_the_inactivity_timeout_end_it() {
        let (mut caller, _caller_media) = port_pair();
        let (mut tech, _tech_media) = port_pair();
        let started = Instant::now();
        let mut write = |_: &[i16]| {};
        let (end, _, caller_end) = relay(
            &mut caller,
            &mut tech,
            &mut Tap::new(&mut write),
            Duration::from_secs(20),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(end, BridgeEnd::Inactive);
        // 20 s of nothing, then the 5 s grace for the caller's leg to confirm.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(20) && took <= Duration::from_secs(26),
            "{took:?}"
        );
        assert_eq!(caller_end, EndReason::LocalHangUp);
    }
}
