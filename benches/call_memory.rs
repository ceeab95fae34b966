//! Memory and real-time behaviour of the daemon under simultaneous spoken calls, measured from
//! outside: the release daemon in `call.mode = "echo_turn"` (greet, listen with an open
//! recogniser, say back) with the real Vosk model (`CALLBOX_TEST_VOSK_MODEL`, the Korean test
//! model here) and espeak-ng; sipp places the calls, a Rust RTP peer per call
//! (tests/common/rtp_peer.rs) speaks espeak-ng Korean sentences with pauses and records the
//! box's packets.
//!
//! Phases (each skippable, see below):
//! 1. **idle**: the daemon's memory with the model loaded and the warm pool made.
//! 2. **1, 2 and 4 simultaneous calls** of `CALL_MEMORY_SECS` (default 60) of caller speech:
//!    `/proc/<pid>/smaps_rollup` sampled every 200 ms; the peak RSS above idle, divided by the
//!    calls, is the memory per call (the model's memory is counted once, in idle: it is the
//!    process's own heap, shared by every call). Also per call: the box's RTP pacing (packets
//!    arriving more than 40 ms after the previous one = late; the largest gap), the replies to
//!    the caller's utterances (recognition keeping up: every utterance answered before the
//!    next), the reply latency p50/p95, and the daemon's CPU time over the call.
//! 3. **leak**: `CALL_MEMORY_LEAK_CALLS` (default 50) sequential short calls; RSS after the
//!    1st and after the last, sampled with the daemon idle.
//!
//! 4. **calls + sync**: `CALL_MEMORY_SYNC_CALLS` (default 4) simultaneous calls while
//!    `callbox sync` (the real sync worker, same binary) drains a backlog of
//!    `CALL_MEMORY_SYNC_JOBS` (default 1000, ~100 s of work at 50 requests/s: busy for the
//!    whole phase; 0 skips) new-caller jobs into the ServiceTitan
//!    test server (tests/support/st_server, in this process, on loopback) at its configured
//!    50 requests/s.
//!
//! Every call phase also prints, per call, what the daemon itself measured and wrote in the
//! call record: its packet clock (`rtp.late_ticks` > 20 ms behind, `rtp.max_tick_lag_ms`,
//! `rtp.playback_underruns`: ticks of the box's speech with no frame ready,
//! `rtp.caller_frames_dropped`) and the recogniser's lag per caller turn
//! (`turns[].recognition_ms`: end of speech to result, i.e. the audio it still had to decode
//! plus finalisation), against the issue 18 targets: ≤ 40 MiB per call above idle, no
//! underrun, recognition keeping up.
//!
//! `cargo bench --bench call_memory`. Environment (not `CALLBOX_<SECTION>_<KEY>`: those are
//! config overrides): `CALL_MEMORY_SECS`, `CALL_MEMORY_COUNTS` (e.g. "1,2,4"),
//! `CALL_MEMORY_LEAK_CALLS` (0 skips), `CALL_MEMORY_SYNC_JOBS` (0 skips),
//! `CALL_MEMORY_SYNC_CALLS`, `CALL_MEMORY_WARM` (speech.warm_recognizers),
//! `CALL_MEMORY_RECYCLE_S` (speech.recycle_recognizer_after_s), `CALL_MEMORY_BEAM`
//! (speech.beam), `CALL_MEMORY_MAX_ACTIVE` (speech.max_active),
//! `CALL_MEMORY_ANSWER_SENTENCES` (default 1: each utterance is that many sentences with a
//! 400 ms pause between them, one long answer for the box), `CALLBOX_TEST_BIN` (another
//! build of the daemon, e.g. one built for the board: see benches/README.md for a Pi).
//! Figures go in benches/README.md with the machine.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;
#[path = "../tests/sync_support/mod.rs"]
mod sync_support;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::rtp_peer::{last_frame_at_or_above, CallerScript, Exchange, RtpPeer};
use common::{Daemon, DaemonConfig, Sipp};

const SPEECH_DB: f64 = -40.0;
const PROMPT_DB: f64 = -50.0;
/// The greeting (about 6 s) plays before the caller's first utterance.
const LEAD_IN_MS: u64 = 7500;
/// Silence after each utterance: endpointing, recognition and the reply fit in it (2 s
/// more for each further sentence of a long answer: the box says back what it heard).
const GAP_MS: u64 = 4500;
/// The pause between the sentences of one long answer: a breath, not the end of the turn
/// (speech.trailing_silence_ms is 700).
const ANSWER_PAUSE_MS: u64 = 400;
/// A box packet arriving this long after the previous one is late (the pacing is 20 ms).
const LATE_MS: f64 = 40.0;

/// What the caller says, one answer a line (shared with benches/recogniser_memory.py).
const SENTENCES: &str = include_str!("caller_sentences.txt");

fn sentences() -> Vec<&'static str> {
    SENTENCES
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The caller's side of one call: the greeting's silence, then sentences with gaps until
/// `speech_secs` of caller time have passed. Returns the audio and the frame index of each
/// utterance's last voiced frame.
struct Script {
    speech: Vec<i16>,
    ends: Vec<usize>,
    duration: Duration,
}

fn script(voices: &[Vec<i16>], speech_secs: u64, gap_ms: u64) -> Script {
    let mut speech = vec![0i16; (LEAD_IN_MS * 8) as usize];
    let mut ends = Vec::new();
    let stop = ((LEAD_IN_MS + speech_secs * 1000) * 8) as usize;
    let mut k = 0;
    while speech.len() < stop {
        let pad = (160 - speech.len() % 160) % 160;
        speech.extend(std::iter::repeat_n(0, pad));
        speech.extend(&voices[k % voices.len()]);
        let last = last_frame_at_or_above(&speech, SPEECH_DB).expect("voiced frame");
        ends.push(last);
        speech.extend(std::iter::repeat_n(0, (gap_ms * 8) as usize));
        k += 1;
    }
    let duration = Duration::from_millis(speech.len() as u64 / 8 + 500);
    Script {
        speech,
        ends,
        duration,
    }
}

/// The caller's answers: `per_answer` sentences each, a short pause between them.
fn answers(sentences: &[Vec<i16>], per_answer: usize) -> Vec<Vec<i16>> {
    (0..sentences.len())
        .map(|first| {
            let mut answer = Vec::new();
            for k in 0..per_answer {
                if k > 0 {
                    answer.extend(std::iter::repeat_n(0, (ANSWER_PAUSE_MS * 8) as usize));
                }
                answer.extend(&sentences[(first + k) % sentences.len()]);
            }
            answer
        })
        .collect()
}

/// `/proc/<pid>/smaps_rollup`, in KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Mem {
    rss: u64,
    pss: u64,
    shared: u64,
    private: u64,
}

fn mem_of(pid: u32) -> Mem {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Mem {
        rss: field("Rss"),
        pss: field("Pss"),
        shared: field("Shared_Clean") + field("Shared_Dirty"),
        private: field("Private_Clean") + field("Private_Dirty"),
    }
}

/// utime + stime of the process, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Samples the daemon's memory every 200 ms until stopped; keeps the peak.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<Mutex<Mem>>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(Mutex::new(Mem::default()));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let m = mem_of(pid);
                if let Ok(mut peak) = p.lock() {
                    if m.rss > peak.rss {
                        *peak = m;
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        Sampler { stop, peak, thread }
    }

    fn finish(self) -> Mem {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let peak = *self.peak.lock().expect("peak");
        peak
    }
}

/// What one call showed on the wire.
#[derive(Debug, Default)]
struct CallStats {
    ok: bool,
    packets: usize,
    late: usize,
    max_gap_ms: f64,
    utterances: usize,
    replies: usize,
    latencies_ms: Vec<f64>,
}

fn call_stats(exchange: &Exchange, ends: &[usize], ok: bool) -> CallStats {
    let mut late = 0;
    let mut max_gap_ms: f64 = 0.0;
    for pair in exchange.received.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at).as_secs_f64() * 1000.0;
        if gap > LATE_MS {
            late += 1;
        }
        max_gap_ms = max_gap_ms.max(gap);
    }
    let mut latencies_ms = Vec::new();
    let mut utterances = 0;
    for (k, &end) in ends.iter().enumerate() {
        let Some((speech_end, _)) = exchange.sent.get(end) else {
            continue;
        };
        utterances += 1;
        let next_start = ends
            .get(k + 1)
            .and_then(|&e| exchange.sent.get(e.saturating_sub(20)))
            .map(|(t, _)| *t)
            .unwrap_or_else(Instant::now);
        if let Some(p) = exchange
            .received
            .iter()
            .find(|p| p.at > *speech_end && p.energy_db() >= PROMPT_DB)
        {
            if p.at < next_start {
                latencies_ms.push(p.at.duration_since(*speech_end).as_secs_f64() * 1000.0);
            }
        }
    }
    CallStats {
        ok,
        packets: exchange.received.len(),
        late,
        max_gap_ms,
        utterances,
        replies: latencies_ms.len(),
        latencies_ms,
    }
}

/// One line per call: what the caller's side saw of the box (sipp, the box's packets and their
/// pacing, the replies).
fn print_calls(calls: &[CallStats]) {
    for (i, c) in calls.iter().enumerate() {
        println!(
            "  call {}: sipp {}, {} box packets, {} late (> {LATE_MS} ms), largest gap {:.0} ms, replies {}/{} utterances",
            i + 1,
            if c.ok { "ok" } else { "FAILED" },
            c.packets,
            c.late,
            c.max_gap_ms,
            c.replies,
            c.utterances
        );
    }
}

/// Places `n` calls at once, each speaking `script`; returns each call's figures.
fn place_calls(daemon: &Daemon, n: usize, script: &Arc<Script>) -> Vec<CallStats> {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let script = script.clone();
            let sip = daemon.sip;
            std::thread::spawn(move || {
                // Stagger the calls a little, as real ones are.
                std::thread::sleep(Duration::from_millis(300 * i as u64));
                let peer = RtpPeer::bind();
                let sipp = Sipp::new(sip, "call_external_media.xml")
                    .args(["-set", "rtp_port", &peer.port.to_string()])
                    .args([
                        "-d",
                        &(script.duration.as_millis() as u64 + 300).to_string(),
                    ])
                    .timeout(script.duration + Duration::from_secs(60))
                    .spawn();
                let exchange = peer.run(
                    &CallerScript {
                        speech: script.speech.clone(),
                        echo: None,
                        duration: script.duration,
                    },
                    Duration::from_secs(30),
                );
                let run = sipp.wait();
                call_stats(&exchange, &script.ends, run.success())
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Waits until the daemon has written `n` call records (the calls are over and released).
fn settle(daemon: &Daemon, n: usize) {
    daemon.wait_records(n, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Per-call memory target of issue 18, MiB above idle.
const TARGET_MIB_PER_CALL: f64 = 40.0;

/// What the daemon measured itself, from the last `n` call records (newest last).
fn print_daemon_figures(daemon: &Daemon, n: usize) {
    let mut records = daemon.call_records();
    records.sort_by_key(|r| r["answered_at"].as_str().unwrap_or_default().to_string());
    let start = records.len().saturating_sub(n);
    let num = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    for (i, r) in records[start..].iter().enumerate() {
        let rtp = &r["rtp"];
        let mut lags: Vec<f64> = r["turns"]
            .as_array()
            .map(|turns| {
                turns
                    .iter()
                    .filter_map(|t| t["recognition_ms"].as_u64())
                    .map(|ms| ms as f64)
                    .collect()
            })
            .unwrap_or_default();
        lags.sort_by(f64::total_cmp);
        println!(
            "  call {} (daemon): {} packets out, {} ticks late (> 20 ms), worst tick {} ms, {} playback underruns, {} caller frames dropped; recognition over {} turns: p50 {:.0} ms, max {:.0} ms",
            i + 1,
            num(&rtp["packets_out"]),
            num(&rtp["late_ticks"]),
            num(&rtp["max_tick_lag_ms"]),
            num(&rtp["playback_underruns"]),
            num(&rtp["caller_frames_dropped"]),
            lags.len(),
            percentile(&lags, 0.5),
            lags.last().copied().unwrap_or(f64::NAN)
        );
    }
}

/// The memory verdict against the target, for the summary lines.
fn verdict(per_call_mib: f64) -> &'static str {
    if per_call_mib <= TARGET_MIB_PER_CALL {
        "met"
    } else {
        "NOT met"
    }
}

/// `callbox sync` against the ServiceTitan test server with a backlog of `jobs` new-caller
/// jobs in its own queue; the process is ended when dropped.
struct SyncBacklog {
    server: support::st_server::StServer,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl SyncBacklog {
    fn start(jobs: usize) -> SyncBacklog {
        let server_config = support::st_server::StServerConfig::default();
        let seed = support::st_server::seed::hvac_shop(&server_config);
        let server = support::st_server::StServer::start_seeded(server_config, seed);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sync_support::config(&server, dir.path());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (outbox, _) = callbox::queue::Outbox::open(
                &dir.path().join("queue"),
                callbox::queue::QueueOptions::from_settings(&config.queue),
            )
            .expect("queue");
            for n in 0..jobs {
                outbox
                    .enqueue(callbox::queue::Payload::Job(sync_support::job(n)))
                    .await
                    .expect("enqueue");
            }
        });
        drop(rt);
        // Only what the sync reads; secrets serialise as "set", so they are written out here.
        let mut file = toml::Table::new();
        let whole = toml::Value::try_from(&config).expect("config as TOML");
        for section in ["storage", "servicetitan", "queue", "shop"] {
            if let Some(v) = whole.get(section) {
                file.insert(section.into(), v.clone());
            }
        }
        if let Some(toml::Value::Table(st)) = file.get_mut("servicetitan") {
            let st_config = &config.servicetitan;
            for (key, secret) in [
                ("app_key", &st_config.app_key),
                ("client_id", &st_config.client_id),
                ("client_secret", &st_config.client_secret),
            ] {
                st.insert(key.into(), secret.expose().into());
            }
        }
        let path = dir.path().join("callbox.toml");
        std::fs::write(&path, toml::to_string(&file).expect("TOML")).expect("write");
        let log = std::fs::File::create(dir.path().join("sync.log")).expect("log");
        let child = Command::new(common::callbox_bin())
            .args(["sync", "--config"])
            .arg(&path)
            .current_dir(dir.path())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("callbox sync");
        SyncBacklog {
            server,
            child,
            _dir: dir,
        }
    }

    fn synced(&self) -> usize {
        self.server.jobs().len()
    }

    /// The end of `callbox sync`'s log (to show why nothing reached the server).
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self._dir.path().join("sync.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }
}

impl Drop for SyncBacklog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo test --benches` runs this once in test mode: it needs the model and minutes.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let model = std::env::var("CALLBOX_TEST_VOSK_MODEL")
        .expect("CALLBOX_TEST_VOSK_MODEL: the Vosk model directory");
    let secs = env_num("CALL_MEMORY_SECS", 60);
    let counts: Vec<usize> = std::env::var("CALL_MEMORY_COUNTS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let leak_calls = env_num("CALL_MEMORY_LEAK_CALLS", 50) as usize;
    let mut cfg = DaemonConfig::new()
        .set("call.mode", "echo_turn")
        .set("shop.name", "Cool Air")
        .set("speech.model_dir", model.as_str())
        .set("media.jitter_buffer_frames", 2)
        .set("call.max_call_secs", 3600)
        .set("sip.max_concurrent_calls", 4)
        .set("sip.max_calls_per_source", 0)
        .set("sip.call_attempts_per_minute", 0)
        .set("log.filter", "info");
    if let Ok(warm) = std::env::var("CALL_MEMORY_WARM") {
        cfg = cfg.set(
            "speech.warm_recognizers",
            warm.parse::<i64>().expect("number"),
        );
    }
    if let Ok(recycle) = std::env::var("CALL_MEMORY_RECYCLE_S") {
        cfg = cfg.set(
            "speech.recycle_recognizer_after_s",
            recycle.parse::<i64>().expect("number"),
        );
    }
    if let Ok(beam) = std::env::var("CALL_MEMORY_BEAM") {
        cfg = cfg.set("speech.beam", beam.parse::<f64>().expect("number"));
    }
    if let Ok(max_active) = std::env::var("CALL_MEMORY_MAX_ACTIVE") {
        cfg = cfg.set(
            "speech.max_active",
            max_active.parse::<i64>().expect("number"),
        );
    }
    let daemon = Daemon::start(cfg);
    let pid = daemon.pid();
    // Let start-up finish (model load, recogniser pool) before the idle reading.
    let ready = Instant::now() + Duration::from_secs(120);
    while !daemon.log().contains("speech recogniser pool") && Instant::now() < ready {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let idle = mem_of(pid);
    println!(
        "call_memory: idle with the model loaded: RSS {:.0} MiB, PSS {:.0} MiB, shared {:.0} MiB, private {:.0} MiB",
        mib(idle.rss),
        mib(idle.pss),
        mib(idle.shared),
        mib(idle.private)
    );
    let sentences: Vec<Vec<i16>> = sentences()
        .iter()
        .map(|t| common::spoken_trimmed("ko", t, SPEECH_DB - 6.0))
        .collect();
    let per_answer = env_num("CALL_MEMORY_ANSWER_SENTENCES", 1).max(1) as usize;
    let voices = answers(&sentences, per_answer);
    let gap_ms = GAP_MS + 2000 * (per_answer as u64 - 1);
    let long = Arc::new(script(&voices, secs, gap_ms));
    let mut records = 0;
    for &n in &counts {
        let before = mem_of(pid);
        let cpu0 = cpu_secs(pid);
        let t0 = Instant::now();
        let sampler = Sampler::start(pid);
        let calls = place_calls(&daemon, n, &long);
        let peak = sampler.finish();
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_secs(pid) - cpu0;
        records += n;
        settle(&daemon, records);
        let after = mem_of(pid);
        let mut lat: Vec<f64> = calls.iter().flat_map(|c| c.latencies_ms.clone()).collect();
        lat.sort_by(f64::total_cmp);
        let per_call = mib(peak.rss.saturating_sub(idle.rss)) / n as f64;
        println!(
            "call_memory: {n} simultaneous call(s) of {secs} s speech: peak RSS {:.0} MiB (PSS {:.0}), {:.1} MiB per call above idle; before {:.0} MiB, after {:.0} MiB; daemon CPU {:.1} s over {:.1} s ({:.0} % of one core)",
            mib(peak.rss),
            mib(peak.pss),
            per_call,
            mib(before.rss),
            mib(after.rss),
            cpu,
            wall,
            100.0 * cpu / wall
        );
        print_calls(&calls);
        println!(
            "  reply latency over {} turns: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.95),
            lat.last().copied().unwrap_or(f64::NAN)
        );
        print_daemon_figures(&daemon, n);
        println!(
            "  memory target (<= {TARGET_MIB_PER_CALL} MiB per call above idle) with {n} call(s): {} ({per_call:.1} MiB)",
            verdict(per_call)
        );
    }

    let sync_jobs = env_num("CALL_MEMORY_SYNC_JOBS", 1000) as usize;
    if sync_jobs > 0 {
        let n = env_num("CALL_MEMORY_SYNC_CALLS", 4) as usize;
        let sync = SyncBacklog::start(sync_jobs);
        // Let the sync start working (token, reference data) before the calls.
        std::thread::sleep(Duration::from_secs(3));
        let synced_before = sync.synced();
        let cpu0 = cpu_secs(pid);
        let t0 = Instant::now();
        let sampler = Sampler::start(pid);
        let calls = place_calls(&daemon, n, &long);
        let peak = sampler.finish();
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_secs(pid) - cpu0;
        let synced = sync.synced() - synced_before;
        if sync.synced() >= sync_jobs {
            println!("  the backlog ran out during the calls: raise CALL_MEMORY_SYNC_JOBS");
        }
        if synced == 0 {
            println!(
                "  callbox sync pushed nothing; its log:\n{}",
                sync.log_tail()
            );
        }
        drop(sync);
        records += n;
        settle(&daemon, records);
        let per_call = mib(peak.rss.saturating_sub(idle.rss)) / n as f64;
        println!(
            "call_memory: {n} simultaneous call(s) of {secs} s speech while `callbox sync` drained a backlog of {sync_jobs} jobs ({synced} reached the ServiceTitan test server during the calls, {:.1} jobs/s): peak RSS {:.0} MiB, {per_call:.1} MiB per call above idle; daemon CPU {cpu:.1} s over {wall:.1} s ({:.0} % of one core)",
            synced as f64 / wall,
            mib(peak.rss),
            100.0 * cpu / wall
        );
        print_calls(&calls);
        print_daemon_figures(&daemon, n);
    }

    if leak_calls > 0 {
        // One utterance and its reply after the greeting: about 15 s a call.
        let short = Arc::new(script(&voices, 1, gap_ms));
        let mut readings = Vec::new();
        let t0 = Instant::now();
        for k in 1..=leak_calls {
            let calls = place_calls(&daemon, 1, &short);
            records += 1;
            settle(&daemon, records);
            let m = mem_of(pid);
            if !calls.iter().all(|c| c.ok) {
                println!("  leak call {k}: sipp FAILED");
            }
            if k == 1 || k % 10 == 0 || k == leak_calls {
                println!(
                    "  leak call {k}: RSS {:.1} MiB, PSS {:.1} MiB ({:.0} s)",
                    mib(m.rss),
                    mib(m.pss),
                    t0.elapsed().as_secs_f64()
                );
            }
            readings.push(m.rss);
        }
        let first = readings[0];
        let last = readings[readings.len() - 1];
        let max = readings.iter().copied().max().unwrap_or(0);
        println!(
            "call_memory: leak check over {leak_calls} sequential calls: RSS after the 1st {:.1} MiB, after the last {:.1} MiB (growth {:+.1} MiB), highest {:.1} MiB",
            mib(first),
            mib(last),
            mib(last) - mib(first),
            mib(max)
        );
    }
    println!("  daemon log tail:\n{}", daemon.log_tail(5));
}
