//! TTS time to first audio: from asking [`EspeakVoice`] to speak to the first 20 ms frame of
//! 8 kHz audio, through the process spawn, espeak-ng's pipe and the streaming resampler.
//!
//! - **cold**: espeak-ng's program and voice data evicted from the page cache first
//!   (`posix_fadvise(DONTNEED)` on those files only, via python3), as after a reboot;
//! - **warm**: the same files cached, as on a box that has been speaking.
//!
//! 20 runs each, a different sentence every run. `cargo bench --bench tts_first_audio`.

use std::time::Instant;

use callbox::speech::tts::{EspeakVoice, Voice};

const RUNS: usize = 20;

const SENTENCES: [&str; 5] = [
    "Your technician Maria will arrive between three and five this afternoon.",
    "Is the address twelve forty Elm Street, Springfield?",
    "I have you down for a furnace repair tomorrow at nine.",
    "Please hold while I check the schedule.",
    "Thank you for calling. Goodbye.",
];

fn evict_espeak_from_page_cache() {
    let script = r#"
import os
paths = ["/usr/bin/espeak-ng"]
for root in ("/usr/lib/x86_64-linux-gnu/espeak-ng-data", "/usr/lib/aarch64-linux-gnu/espeak-ng-data",
             "/usr/share/espeak-ng-data", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"):
    if not os.path.isdir(root):
        continue
    if root.endswith("-gnu"):
        paths += [os.path.join(root, f) for f in os.listdir(root) if f.startswith(("libespeak-ng", "libpcaudio", "libsonic"))]
        continue
    for d, _, files in os.walk(root):
        paths += [os.path.join(d, f) for f in files]
for p in paths:
    try:
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    except OSError:
        pass
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("warning: could not evict espeak-ng from the page cache");
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn first_audio_ms(voice: &EspeakVoice, text: &str) -> (f64, f64) {
    let started = Instant::now();
    let mut stream = voice.speak(text).expect("espeak-ng starts");
    let first = stream.next_frame().await.expect("a frame").expect("audio");
    let first_ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(first);
    let rest = stream.collect().await.expect("audio");
    let audio_ms = (rest.len() + 160) as f64 / 8.0;
    (first_ms, audio_ms)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let voice = EspeakVoice::new("espeak-ng", "en-us", 160, 0.0);
    runtime.block_on(async {
        for (label, cold) in [("cold", true), ("warm", false)] {
            let mut firsts = Vec::new();
            let mut audio = 0.0;
            if !cold {
                let _ = first_audio_ms(&voice, "warm up").await;
            }
            for run in 0..RUNS {
                if cold {
                    evict_espeak_from_page_cache();
                }
                let text = format!("{} Number {run}.", SENTENCES[run % SENTENCES.len()]);
                let (first, len) = first_audio_ms(&voice, &text).await;
                firsts.push(first);
                audio += len;
            }
            firsts.sort_by(f64::total_cmp);
            println!(
                "tts_first_audio {label}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms over {RUNS} runs (mean utterance {:.0} ms of audio)",
                percentile(&firsts, 0.5),
                percentile(&firsts, 0.95),
                firsts[firsts.len() - 1],
                audio / RUNS as f64
            );
        }
    });
}
