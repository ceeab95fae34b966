//! WAV files: prompts in (any common format, converted to 8 kHz mono), recordings out.
//!
//! Reading is an in-house RIFF parser so it can take what `hound` cannot: µ-law/A-law files,
//! WAVE_FORMAT_EXTENSIBLE, and recordings whose header sizes were never patched because the
//! box lost power mid-call (a data chunk size of 0 or past the end means "the rest of the
//! file"). Conversion downmixes to mono and resamples with a windowed-sinc low-pass filter, so
//! e.g. espeak-ng's 22 050 Hz output does not alias into the telephone band. The filter is
//! [`Resampler`], which also streams: the TTS feeds it espeak-ng's pipe as it arrives.
//!
//! Writing uses `hound` through [`WavRecorder`], which re-patches the header once a second so a
//! crash loses at most the last second of a recording.

use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::audio_port::{AudioFrame, FRAME_SAMPLES, SAMPLE_RATE};
use super::g711;
use crate::infra::disk::SpaceReserve;

/// Largest WAV file read (a 5-minute 48 kHz stereo prompt is ~55 MB).
pub const MAX_WAV_BYTES: u64 = 64 * 1024 * 1024;

/// What went wrong with a WAV file.
#[derive(Debug, Error)]
pub enum WavError {
    #[error("WAV I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the data partition is down to the queue's reserve (storage.queue_reserve_mb)")]
    DiskReserve,
    #[error("not a RIFF/WAVE file")]
    NotWave,
    #[error("WAV file has no fmt chunk before its data")]
    MissingFormat,
    #[error("WAV fmt chunk is {0} bytes, too short")]
    ShortFormat(usize),
    #[error("WAV file has no data chunk")]
    MissingData,
    #[error("unsupported WAV encoding: format tag {tag:#06x} with {bits} bits per sample")]
    Unsupported { tag: u16, bits: u16 },
    #[error("WAV file claims {0} channels")]
    BadChannels(u16),
    #[error("WAV sample rate {0} Hz is out of range")]
    BadSampleRate(u32),
    #[error("WAV file of {0} bytes is larger than the {MAX_WAV_BYTES}-byte limit")]
    TooLarge(u64),
    #[error("writing WAV: {0}")]
    Write(#[from] hound::Error),
}

const TAG_PCM: u16 = 1;
const TAG_FLOAT: u16 = 3;
const TAG_ALAW: u16 = 6;
const TAG_ULAW: u16 = 7;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

/// The encoding of a WAV file's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Integer PCM: 8-bit unsigned, 16/24/32-bit signed little-endian.
    Pcm(u16),
    /// IEEE float, 32 or 64 bits.
    Float(u16),
    ALaw,
    MuLaw,
}

/// A WAV file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    pub format: SampleFormat,
    pub channels: u16,
    pub sample_rate: u32,
}

impl SampleFormat {
    fn bytes(self) -> usize {
        match self {
            SampleFormat::Pcm(bits) | SampleFormat::Float(bits) => usize::from(bits / 8),
            SampleFormat::ALaw | SampleFormat::MuLaw => 1,
        }
    }

    /// One sample as a float in 16-bit units. `raw` has exactly `self.bytes()` bytes.
    fn decode(self, raw: &[u8]) -> f32 {
        match (self, raw) {
            (SampleFormat::Pcm(8), [b]) => (f32::from(*b) - 128.0) * 256.0,
            (SampleFormat::Pcm(16), [a, b]) => f32::from(i16::from_le_bytes([*a, *b])),
            (SampleFormat::Pcm(24), [a, b, c]) => {
                i32::from_le_bytes([0, *a, *b, *c]) as f32 / 65_536.0
            }
            (SampleFormat::Pcm(32), [a, b, c, d]) => {
                i32::from_le_bytes([*a, *b, *c, *d]) as f32 / 65_536.0
            }
            (SampleFormat::Float(32), [a, b, c, d]) => {
                f32::from_le_bytes([*a, *b, *c, *d]) * 32_768.0
            }
            (SampleFormat::Float(64), [a, b, c, d, e, f, g, h]) => {
                (f64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h]) * 32_768.0) as f32
            }
            (SampleFormat::ALaw, [b]) => f32::from(g711::alaw_decode(*b)),
            (SampleFormat::MuLaw, [b]) => f32::from(g711::ulaw_decode(*b)),
            _ => 0.0,
        }
    }
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn parse_format(fmt: &[u8]) -> Result<WavInfo, WavError> {
    let too_short = || WavError::ShortFormat(fmt.len());
    let mut tag = u16_at(fmt, 0).ok_or_else(too_short)?;
    let channels = u16_at(fmt, 2).ok_or_else(too_short)?;
    let sample_rate = u32_at(fmt, 4).ok_or_else(too_short)?;
    let bits = u16_at(fmt, 14).ok_or_else(too_short)?;
    if tag == TAG_EXTENSIBLE {
        // The real format is the first two bytes of the sub-format GUID.
        tag = u16_at(fmt, 24).ok_or_else(too_short)?;
    }
    let format = match (tag, bits) {
        (TAG_PCM, 8 | 16 | 24 | 32) => SampleFormat::Pcm(bits),
        (TAG_FLOAT, 32 | 64) => SampleFormat::Float(bits),
        (TAG_ALAW, 8) => SampleFormat::ALaw,
        (TAG_ULAW, 8) => SampleFormat::MuLaw,
        _ => return Err(WavError::Unsupported { tag, bits }),
    };
    if !(1..=8).contains(&channels) {
        return Err(WavError::BadChannels(channels));
    }
    if !(1000..=384_000).contains(&sample_rate) {
        return Err(WavError::BadSampleRate(sample_rate));
    }
    Ok(WavInfo {
        format,
        channels,
        sample_rate,
    })
}

/// Parses a WAV file in memory into mono samples at the file's own rate.
pub fn decode_wav(bytes: &[u8]) -> Result<(WavInfo, Vec<i16>), WavError> {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(WavError::NotWave);
    }
    let mut pos = 12usize;
    let mut info = None;
    while let (Some(id), Some(size)) = (bytes.get(pos..pos + 4), u32_at(bytes, pos + 4)) {
        let body_start = pos + 8;
        let declared_end = body_start.saturating_add(size as usize);
        if id == b"fmt " {
            let body = bytes
                .get(body_start..declared_end)
                .ok_or(WavError::ShortFormat(
                    bytes.len().saturating_sub(body_start),
                ))?;
            info = Some(parse_format(body)?);
        } else if id == b"data" {
            let info = info.ok_or(WavError::MissingFormat)?;
            // An unfinalised recording says 0 (or garbage): take the rest of the file.
            let end = if size == 0 || declared_end > bytes.len() {
                bytes.len()
            } else {
                declared_end
            };
            let data = bytes.get(body_start..end).unwrap_or(&[]);
            return Ok((info, downmix(info, data)));
        }
        // Chunks are padded to an even length.
        pos = declared_end.saturating_add(size as usize & 1);
    }
    Err(WavError::MissingData)
}

fn downmix(info: WavInfo, data: &[u8]) -> Vec<i16> {
    let width = info.format.bytes();
    let channels = usize::from(info.channels);
    let block = width * channels;
    data.chunks_exact(block)
        .map(|frame| {
            let sum: f32 = frame
                .chunks_exact(width)
                .map(|raw| info.format.decode(raw))
                .sum();
            (sum / channels as f32).round().clamp(-32_768.0, 32_767.0) as i16
        })
        .collect()
}

/// Parses a WAV file in memory and converts it to 8 kHz mono.
pub fn decode_wav_8k_mono(bytes: &[u8]) -> Result<Vec<i16>, WavError> {
    let (info, mono) = decode_wav(bytes)?;
    Ok(resample(&mono, info.sample_rate, SAMPLE_RATE))
}

/// Reads a WAV file from disk and converts it to 8 kHz mono.
pub fn read_wav_8k_mono(path: impl AsRef<Path>) -> Result<Vec<i16>, WavError> {
    let file = File::open(path.as_ref())?;
    let len = file.metadata()?.len();
    if len > MAX_WAV_BYTES {
        return Err(WavError::TooLarge(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_WAV_BYTES).read_to_end(&mut bytes)?;
    decode_wav_8k_mono(&bytes)
}

/// Sinc zero crossings on each side of the filter centre: sets the transition band width.
const SINC_ZEROS: f64 = 24.0;
/// Pass band edge as a fraction of the lower of the two rates (0.45 · 8 kHz = 3.6 kHz).
const CUTOFF_FRACTION: f64 = 0.45;
/// Above this many table entries the filter taps are computed per output sample instead.
const MAX_TABLE_ENTRIES: usize = 1 << 20;

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Resamples with a Blackman-windowed sinc low-pass (polyphase when the rate ratio is a
/// small fraction, as it is for 11.025/16/22.05/44.1/48 kHz to 8 kHz).
///
/// The whole-buffer form of [`Resampler`]: the same filter, fed at once and flushed.
pub fn resample(input: &[i16], from_rate: u32, to_rate: u32) -> Vec<i16> {
    if from_rate == to_rate || from_rate == 0 || to_rate == 0 || input.is_empty() {
        return input.to_vec();
    }
    let mut resampler = Resampler::new(from_rate, to_rate);
    let mut output = Vec::with_capacity(resampler.output_len(input.len() as u64));
    resampler.push(input, &mut output);
    resampler.finish(&mut output);
    output
}

/// A streaming windowed-sinc resampler: push input as it arrives (a synthesiser's pipe, a
/// sound card), get every output sample whose filter window is complete. The only DSP of its
/// kind in callbox; [`resample`] is this fed in one go.
///
/// Output sample `n` sits at input position `n · from / to`; its filter reaches `reach` input
/// samples either side, so the stream lags the input by `reach` samples (3.4 ms at 22 050 Hz).
#[derive(Debug, Clone)]
pub struct Resampler {
    /// L: output steps per input step, as a fraction (`to / gcd`).
    phases: u64,
    /// M: input steps per output step (`from / gcd`).
    step: u64,
    reach: i64,
    cutoff: f64,
    half_width: f64,
    /// Per-phase taps, when they fit in [`MAX_TABLE_ENTRIES`].
    table: Option<Vec<Vec<f32>>>,
    /// Input samples from absolute index `base` on (older ones are no longer needed).
    history: Vec<i16>,
    base: u64,
    /// Input samples pushed so far.
    pushed: u64,
    /// Index of the next output sample.
    next_out: u64,
    scratch: Vec<f32>,
    /// Same rate in and out: samples pass through untouched.
    passthrough: bool,
}

impl Resampler {
    /// A resampler from `from_rate` to `to_rate` Hz (a rate of 0 passes samples through).
    pub fn new(from_rate: u32, to_rate: u32) -> Resampler {
        let passthrough = from_rate == to_rate || from_rate == 0 || to_rate == 0;
        let (from, to) = if passthrough {
            (1, 1)
        } else {
            (from_rate, to_rate)
        };
        let g = gcd(u64::from(from), u64::from(to));
        let phases = u64::from(to) / g;
        let step = u64::from(from) / g;
        // Cut-off in cycles per input sample, then the filter's half-length in input samples.
        let cutoff = CUTOFF_FRACTION * f64::from(from.min(to)) / f64::from(from);
        let half_width = SINC_ZEROS / (2.0 * cutoff);
        let reach = half_width.ceil() as i64;
        let taps = (2 * reach + 1) as usize;
        let mut resampler = Resampler {
            phases,
            step,
            reach,
            cutoff,
            half_width,
            table: None,
            history: Vec::new(),
            base: 0,
            pushed: 0,
            next_out: 0,
            scratch: Vec::with_capacity(taps),
            passthrough,
        };
        if !passthrough
            && (phases as usize)
                .checked_mul(taps)
                .is_some_and(|n| n <= MAX_TABLE_ENTRIES)
        {
            let table = (0..phases)
                .map(|p| {
                    let mut t = Vec::with_capacity(taps);
                    resampler.phase_taps(p, &mut t);
                    t
                })
                .collect();
            resampler.table = Some(table);
        }
        resampler
    }

    /// Output samples a whole input of `input_len` samples makes once flushed.
    pub fn output_len(&self, input_len: u64) -> usize {
        (input_len * self.phases).div_ceil(self.step) as usize
    }

    /// Taps for input samples k0 - reach ..= k0 + reach, where the output sits at k0 + p/L.
    fn phase_taps(&self, phase: u64, out: &mut Vec<f32>) {
        out.clear();
        let frac = phase as f64 / self.phases as f64;
        let raw: Vec<f64> = (-self.reach..=self.reach)
            .map(|j| {
                let tau = frac - j as f64;
                if tau.abs() >= self.half_width {
                    return 0.0;
                }
                let x = 2.0 * self.cutoff * tau;
                let sinc = if x == 0.0 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                // Blackman window over [-half_width, half_width].
                let w = std::f64::consts::PI * (tau / self.half_width + 1.0);
                let window = 0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos();
                2.0 * self.cutoff * sinc * window
            })
            .collect();
        // Unity gain at DC for every phase, so no phase-dependent ripple.
        let sum: f64 = raw.iter().sum();
        out.extend(raw.iter().map(|h| (h / sum) as f32));
    }

    /// Feeds input; appends every output sample whose filter window is now complete.
    pub fn push(&mut self, input: &[i16], output: &mut Vec<i16>) {
        if self.passthrough {
            output.extend_from_slice(input);
            return;
        }
        self.history.extend_from_slice(input);
        self.pushed += input.len() as u64;
        self.drain(false, output);
    }

    /// Ends the stream: the last outputs are computed with silence after the input.
    pub fn finish(&mut self, output: &mut Vec<i16>) {
        if self.passthrough {
            return;
        }
        self.drain(true, output);
        self.history.clear();
        self.base = self.pushed;
    }

    fn drain(&mut self, flushing: bool, output: &mut Vec<i16>) {
        let end = if flushing {
            self.output_len(self.pushed) as u64
        } else {
            u64::MAX
        };
        while self.next_out < end {
            let position = self.next_out * self.step;
            let k0 = (position / self.phases) as i64;
            let last_needed = k0 + self.reach;
            if !flushing && last_needed >= self.pushed as i64 {
                break;
            }
            let phase = position % self.phases;
            let mut scratch = std::mem::take(&mut self.scratch);
            let coeffs: &[f32] = match &self.table {
                Some(t) => &t[phase as usize],
                None => {
                    self.phase_taps(phase, &mut scratch);
                    &scratch
                }
            };
            let mut acc = 0f32;
            for (j, &c) in coeffs.iter().enumerate() {
                let k = k0 - self.reach + j as i64;
                // Before the stream and past its end count as silence.
                if k >= self.base as i64 {
                    if let Some(&s) = self.history.get((k - self.base as i64) as usize) {
                        acc += c * f32::from(s);
                    }
                }
            }
            self.scratch = scratch;
            output.push(acc.round().clamp(-32_768.0, 32_767.0) as i16);
            self.next_out += 1;
        }
        // Drop input no future output reaches back to.
        let oldest_needed = ((self.next_out * self.step) / self.phases) as i64 - self.reach;
        if oldest_needed > self.base as i64 {
            let drop = ((oldest_needed - self.base as i64) as usize).min(self.history.len());
            self.history.drain(..drop);
            self.base += drop as u64;
        }
    }
}

/// Cuts 8 kHz audio into 20 ms frames for playback, zero-padding the last one.
pub fn to_frames(samples: &[i16]) -> Vec<Box<AudioFrame>> {
    samples
        .chunks(FRAME_SAMPLES)
        .map(|chunk| {
            let mut frame = Box::new([0i16; FRAME_SAMPLES]);
            frame[..chunk.len()].copy_from_slice(chunk);
            frame
        })
        .collect()
}

fn spec_8k_mono() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// Writes 8 kHz mono 16-bit samples to a WAV file in one go.
pub fn write_wav_8k(path: impl AsRef<Path>, samples: &[i16]) -> Result<(), WavError> {
    let mut recorder = WavRecorder::create(path)?;
    recorder.append(samples)?;
    recorder.close()?;
    Ok(())
}

/// A whole 8 kHz mono 16-bit WAV file in memory, for writing atomically.
pub fn wav_8k_bytes(samples: &[i16]) -> Result<Vec<u8>, WavError> {
    let mut cursor = std::io::Cursor::new(Vec::with_capacity(44 + 2 * samples.len()));
    let mut writer = hound::WavWriter::new(&mut cursor, spec_8k_mono())?;
    for &sample in samples {
        writer.write_sample(sample)?;
    }
    writer.finalize()?;
    Ok(cursor.into_inner())
}

/// Header re-patched after this many samples (1 s), bounding what a crash can lose.
const PATCH_EVERY: u64 = SAMPLE_RATE as u64;

/// A call recording: 8 kHz mono 16-bit, appended frame by frame.
///
/// The header is kept valid as the file grows (patched every second), and the recording is
/// finalised on [`WavRecorder::close`] or, failing that, on drop.
pub struct WavRecorder {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    path: PathBuf,
    samples: u64,
    unpatched: u64,
    /// Free space kept for the queue, looked at every second.
    reserve: Option<SpaceReserve>,
    stopped: Option<RecordingStop>,
}

/// Why a recording ended before the call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingStop {
    /// The data partition reached the queue's reserve: the audio so far is kept, the call
    /// goes on unrecorded, the space left is for bookings.
    DiskReserve,
}

impl RecordingStop {
    /// As written into the call record's `recording_stopped`.
    pub fn name(self) -> &'static str {
        match self {
            RecordingStop::DiskReserve => "disk_reserve",
        }
    }
}

/// Bytes a recording writes between two looks at the free space (one second, with margin).
const BYTES_PER_CHECK: u64 = 2 * PATCH_EVERY * 2;

impl std::fmt::Debug for WavRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavRecorder")
            .field("path", &self.path)
            .field("samples", &self.samples)
            .field("open", &self.writer.is_some())
            .finish()
    }
}

impl WavRecorder {
    /// Creates (or truncates) the file and writes a valid empty WAV header.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, WavError> {
        Self::create_within(path, None)
    }

    /// Like [`WavRecorder::create`], keeping `reserve` free on the data partition: refused
    /// with [`WavError::DiskReserve`] when there is no room now, and stopped (the file so far
    /// finalised, see [`WavRecorder::stopped`]) once the free space would fall below it.
    pub fn create_within(
        path: impl AsRef<Path>,
        reserve: Option<SpaceReserve>,
    ) -> Result<Self, WavError> {
        if reserve.as_ref().is_some_and(|r| !r.allows(BYTES_PER_CHECK)) {
            return Err(WavError::DiskReserve);
        }
        let path = path.as_ref().to_path_buf();
        let file = crate::infra::private::new_file().open(&path)?;
        let mut writer = hound::WavWriter::new(BufWriter::new(file), spec_8k_mono())?;
        writer.flush()?;
        Ok(WavRecorder {
            writer: Some(writer),
            path,
            samples: 0,
            unpatched: 0,
            reserve,
            stopped: None,
        })
    }

    /// Why the recording stopped before it was closed, if it did.
    pub fn stopped(&self) -> Option<RecordingStop> {
        self.stopped
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Samples written so far.
    pub fn samples_written(&self) -> u64 {
        self.samples
    }

    pub fn duration_ms(&self) -> u64 {
        self.samples * 1000 / u64::from(SAMPLE_RATE)
    }

    /// Appends samples (normally one frame).
    /// After a [`RecordingStop`] further samples are dropped without error.
    pub fn append(&mut self, samples: &[i16]) -> Result<(), WavError> {
        if self.stopped.is_some() {
            return Ok(());
        }
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| WavError::Io(std::io::Error::other("recording already closed")))?;
        for &s in samples {
            writer.write_sample(s)?;
        }
        self.samples += samples.len() as u64;
        self.unpatched += samples.len() as u64;
        if self.unpatched >= PATCH_EVERY {
            writer.flush()?;
            self.unpatched = 0;
            self.keep_reserve()?;
        }
        Ok(())
    }

    /// Stops the recording (finalising what it has) when the next second would eat into the
    /// queue's reserve.
    fn keep_reserve(&mut self) -> Result<(), WavError> {
        if self
            .reserve
            .as_ref()
            .is_none_or(|r| r.allows(BYTES_PER_CHECK))
        {
            return Ok(());
        }
        self.stopped = Some(RecordingStop::DiskReserve);
        tracing::warn!(
            path = %self.path.display(),
            seconds = self.duration_ms() / 1000,
            "recording stopped: the data partition is down to the queue's reserve \
             (storage.queue_reserve_mb); the call goes on and bookings can still be queued"
        );
        if let Some(writer) = self.writer.take() {
            writer.finalize()?;
        }
        Ok(())
    }

    /// Finalises the file; returns the number of samples recorded.
    pub fn close(mut self) -> Result<u64, WavError> {
        if let Some(writer) = self.writer.take() {
            writer.finalize()?;
        }
        Ok(self.samples)
    }
}

impl Drop for WavRecorder {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            if let Err(e) = writer.finalize() {
                tracing::warn!(path = %self.path.display(), error = %e, "finalising recording failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a WAV file by hand: fmt fields, then raw data bytes.
    fn wav_bytes(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        let align = channels * bits / 8;
        fmt.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        fmt.extend_from_slice(&align.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&((4 + 8 + fmt.len() + 8 + data.len()) as u32).to_le_bytes());
        out.extend_from_slice(b"WAVE");
        out.extend_from_slice(b"fmt ");
        out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        out.extend_from_slice(&fmt);
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        out
    }

    fn sine(freq: f64, rate: u32, secs: f64, amplitude: f64) -> Vec<i16> {
        let n = (f64::from(rate) * secs) as usize;
        (0..n)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    fn pcm16(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    /// RMS of the middle of a signal (skipping filter edges).
    fn rms(samples: &[i16]) -> f64 {
        let mid = &samples[samples.len() / 4..samples.len() * 3 / 4];
        (mid.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / mid.len() as f64).sqrt()
    }

    #[test]
    fn reads_8k_mono_pcm16_unchanged() {
        let samples: Vec<i16> = (0..800).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
        let bytes = wav_bytes(1, 1, 8000, 16, &pcm16(&samples));
        assert_eq!(decode_wav_8k_mono(&bytes).expect("valid"), samples);
    }

    #[test]
    fn downmixes_stereo_and_reads_8bit() {
        let stereo: Vec<i16> = vec![1000, 3000, -2000, -4000];
        let bytes = wav_bytes(1, 2, 8000, 16, &pcm16(&stereo));
        assert_eq!(
            decode_wav_8k_mono(&bytes).expect("valid"),
            vec![2000, -3000]
        );
        let bytes = wav_bytes(1, 1, 8000, 8, &[128, 255, 0]);
        assert_eq!(
            decode_wav_8k_mono(&bytes).expect("valid"),
            vec![0, 127 * 256, -128 * 256]
        );
    }

    #[test]
    fn reads_ulaw_alaw_float_and_24bit() {
        let bytes = wav_bytes(7, 1, 8000, 8, &[0xFF, 0x80, 0x00]);
        assert_eq!(
            decode_wav_8k_mono(&bytes).expect("µ-law"),
            vec![0, 32124, -32124]
        );
        let bytes = wav_bytes(6, 1, 8000, 8, &[0xD5, 0xAA]);
        assert_eq!(decode_wav_8k_mono(&bytes).expect("A-law"), vec![8, 32256]);
        let floats: Vec<u8> = [0.5f32, -0.25]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let bytes = wav_bytes(3, 1, 8000, 32, &floats);
        assert_eq!(
            decode_wav_8k_mono(&bytes).expect("float"),
            vec![16384, -8192]
        );
        let bytes = wav_bytes(1, 1, 8000, 24, &[0x00, 0x34, 0x12, 0x00, 0x00, 0x80]);
        assert_eq!(
            decode_wav_8k_mono(&bytes).expect("24-bit"),
            vec![0x1234, -32768]
        );
    }

    #[test]
    fn reads_extensible_format() {
        let mut bytes = wav_bytes(0xFFFE, 1, 8000, 16, &pcm16(&[5, 6]));
        // Grow fmt to 40 bytes with the PCM sub-format GUID; rebuild by hand.
        let mut fmt = bytes[20..36].to_vec();
        fmt.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        fmt.extend_from_slice(&16u16.to_le_bytes()); // valid bits
        fmt.extend_from_slice(&4u32.to_le_bytes()); // channel mask
        fmt.extend_from_slice(&[
            1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71,
        ]);
        let data = bytes.split_off(36);
        bytes.truncate(16);
        bytes.extend_from_slice(&40u32.to_le_bytes());
        bytes.extend_from_slice(&fmt);
        bytes.extend_from_slice(&data);
        assert_eq!(decode_wav_8k_mono(&bytes).expect("extensible"), vec![5, 6]);
    }

    #[test]
    fn skips_unknown_chunks_and_odd_padding() {
        let mut bytes = wav_bytes(1, 1, 8000, 16, &pcm16(&[7, 8]));
        let data = bytes.split_off(36);
        bytes.extend_from_slice(b"LIST");
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&[1, 2, 3, 0]); // 3 bytes + pad
        bytes.extend_from_slice(&data);
        assert_eq!(decode_wav_8k_mono(&bytes).expect("valid"), vec![7, 8]);
    }

    #[test]
    fn recovers_audio_from_an_unpatched_header() {
        let samples = vec![1i16, 2, 3, 4];
        let mut bytes = wav_bytes(1, 1, 8000, 16, &pcm16(&samples));
        bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(decode_wav_8k_mono(&bytes).expect("zero size"), samples);
        bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_wav_8k_mono(&bytes).expect("huge size"), samples);
        // A trailing odd byte (crash mid-sample) is ignored.
        bytes.push(9);
        assert_eq!(decode_wav_8k_mono(&bytes).expect("odd tail"), samples);
    }

    #[test]
    fn rejects_corrupt_and_unsupported_files() {
        assert!(matches!(
            decode_wav(b"RIFX....WAVE"),
            Err(WavError::NotWave)
        ));
        assert!(matches!(decode_wav(b""), Err(WavError::NotWave)));
        let good = wav_bytes(1, 1, 8000, 16, &pcm16(&[1]));
        assert!(matches!(
            decode_wav(&good[..36]),
            Err(WavError::MissingData)
        ));
        assert!(matches!(
            decode_wav(&good[..30]),
            Err(WavError::ShortFormat(_))
        ));
        let mut data_first = good[..12].to_vec();
        data_first.extend_from_slice(&good[36..]);
        assert!(matches!(
            decode_wav(&data_first),
            Err(WavError::MissingFormat)
        ));
        assert!(matches!(
            decode_wav(&wav_bytes(2, 1, 8000, 4, &[0; 8])),
            Err(WavError::Unsupported { tag: 2, bits: 4 })
        ));
        assert!(matches!(
            decode_wav(&wav_bytes(1, 0, 8000, 16, &[0; 8])),
            Err(WavError::BadChannels(0))
        ));
        assert!(matches!(
            decode_wav(&wav_bytes(1, 1, 0, 16, &[0; 8])),
            Err(WavError::BadSampleRate(0))
        ));
        assert!(matches!(
            read_wav_8k_mono("/nonexistent/callbox/prompt.wav"),
            Err(WavError::Io(_))
        ));
    }

    #[test]
    fn parser_never_panics_on_mutated_files() {
        let good = wav_bytes(1, 2, 22050, 16, &pcm16(&[1, 2, 3, 4, 5, 6]));
        let mut state = 99u64;
        let mut ok = 0;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut bytes = good.clone();
            let at = (state as usize) % bytes.len();
            bytes[at] = (state >> 32) as u8;
            bytes.truncate((state >> 40) as usize % (good.len() + 1));
            ok += usize::from(decode_wav(&bytes).is_ok());
        }
        assert!(ok > 0);
    }

    #[test]
    fn resamples_22050_to_8000_keeping_the_voice_band() {
        let input = sine(1000.0, 22_050, 1.0, 10_000.0);
        let out = resample(&input, 22_050, 8000);
        assert_eq!(out.len(), 8000);
        let gain_db = 20.0 * (rms(&out) / rms(&input)).log10();
        assert!(gain_db.abs() < 0.2, "1 kHz gain {gain_db} dB");
        // And the waveform is a 1 kHz sine at 8 kHz: compare with the ideal one.
        let ideal = sine(1000.0, 8000, 1.0, 10_000.0);
        let lag = (0..8)
            .min_by_key(|&lag| {
                out[100..7800]
                    .iter()
                    .zip(&ideal[100 - lag..7800 - lag])
                    .map(|(&a, &b)| (i64::from(a) - i64::from(b)).abs())
                    .sum::<i64>()
            })
            .unwrap_or(0);
        let worst = out[100..7800]
            .iter()
            .zip(&ideal[100 - lag..7800 - lag])
            .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
            .max()
            .unwrap_or(i32::MAX);
        assert!(worst < 150, "worst deviation {worst}");
        let edge = resample(&sine(3000.0, 22_050, 1.0, 10_000.0), 22_050, 8000);
        let edge_db = 20.0 * (rms(&edge) / 10_000.0 * 2f64.sqrt()).log10();
        assert!(edge_db > -3.0, "3 kHz gain {edge_db} dB");
    }

    #[test]
    fn streaming_resampler_matches_the_whole_buffer_form() {
        let input = sine(700.0, 22_050, 0.7, 9000.0);
        let whole = resample(&input, 22_050, 8000);
        let mut streamed = Vec::new();
        let mut r = Resampler::new(22_050, 8000);
        // Odd chunk sizes, as a pipe delivers them.
        for chunk in input.chunks(517) {
            r.push(chunk, &mut streamed);
        }
        let before_finish = streamed.len();
        r.finish(&mut streamed);
        assert_eq!(streamed, whole);
        // The stream lags by the filter's reach only: nearly everything came out before finish.
        assert!(
            whole.len() - before_finish < 40,
            "{before_finish} of {}",
            whole.len()
        );
        // A new chunk after one frame's worth of input already yields samples.
        let mut r = Resampler::new(22_050, 8000);
        let mut out = Vec::new();
        r.push(&input[..441 + 80], &mut out);
        assert!(out.len() >= 160, "{}", out.len());
    }

    #[test]
    fn resampling_rejects_frequencies_that_would_alias() {
        // 5 kHz and 6 kHz would fold to 3 kHz and 2 kHz with naive decimation.
        for (rate, freq) in [
            (22_050, 5000.0),
            (22_050, 6000.0),
            (44_100, 7000.0),
            (48_000, 4500.0),
        ] {
            let input = sine(freq, rate, 1.0, 10_000.0);
            let out = resample(&input, rate, 8000);
            let gain_db = 20.0 * (rms(&out) / rms(&input)).log10();
            assert!(gain_db < -40.0, "{freq} Hz at {rate}: {gain_db} dB");
        }
    }

    #[test]
    fn resamples_other_rates() {
        for rate in [11_025, 16_000, 44_100, 48_000, 6000, 22_051] {
            let input = sine(500.0, rate, 0.5, 8000.0);
            let out = resample(&input, rate, 8000);
            assert_eq!(out.len(), (input.len() * 8000).div_ceil(rate as usize));
            let gain_db = 20.0 * (rms(&out) / rms(&input)).log10();
            assert!(gain_db.abs() < 0.3, "{rate} Hz: {gain_db} dB");
        }
        assert_eq!(resample(&[1, 2, 3], 8000, 8000), vec![1, 2, 3]);
    }

    #[test]
    fn reads_a_22050_stereo_file_into_8k_mono() {
        let left = sine(440.0, 22_050, 0.5, 8000.0);
        let interleaved: Vec<i16> = left.iter().flat_map(|&s| [s, s]).collect();
        let bytes = wav_bytes(1, 2, 22_050, 16, &pcm16(&interleaved));
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prompt.wav");
        std::fs::write(&path, bytes).expect("write");
        let out = read_wav_8k_mono(&path).expect("read");
        assert_eq!(out.len(), 4000);
        assert!((rms(&out) - 8000.0 / 2f64.sqrt()).abs() < 100.0);
    }

    #[test]
    fn recorder_writes_a_readable_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("call.wav");
        let mut rec = WavRecorder::create(&path).expect("create");
        for i in 0..10 {
            rec.append(&[i as i16; FRAME_SAMPLES]).expect("append");
        }
        assert_eq!(rec.duration_ms(), 200);
        assert_eq!(rec.close().expect("close"), 1600);
        let back = read_wav_8k_mono(&path).expect("read");
        assert_eq!(back.len(), 1600);
        assert_eq!(back[159], 0);
        assert_eq!(back[160], 1);
        // hound agrees the file is a proper 8 kHz mono 16-bit WAV.
        let reader = hound::WavReader::open(&path).expect("hound");
        assert_eq!(reader.spec(), spec_8k_mono());
        assert_eq!(reader.len(), 1600);
    }

    #[test]
    fn a_recording_is_private_and_refused_at_the_reserve() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("call.wav");
        let room = SpaceReserve::new(dir.path(), 0);
        let mut rec = WavRecorder::create_within(&path, Some(room)).expect("create");
        rec.append(&[1; FRAME_SAMPLES]).expect("append");
        assert_eq!(rec.stopped(), None);
        rec.close().expect("close");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let no_room = SpaceReserve::new(dir.path(), u64::MAX);
        let refused = dir.path().join("refused.wav");
        assert!(matches!(
            WavRecorder::create_within(&refused, Some(no_room)),
            Err(WavError::DiskReserve)
        ));
        assert!(!refused.exists(), "no file is started below the reserve");
    }

    #[test]
    fn recorder_finalises_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dropped.wav");
        {
            let mut rec = WavRecorder::create(&path).expect("create");
            rec.append(&[3; 480]).expect("append");
        }
        let reader = hound::WavReader::open(&path).expect("finalised");
        assert_eq!(reader.len(), 480);
    }

    #[test]
    fn a_crashed_recording_keeps_all_but_the_last_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("crash.wav");
        let mut rec = WavRecorder::create(&path).expect("create");
        for _ in 0..60 {
            rec.append(&[5; FRAME_SAMPLES]).expect("append"); // 1.2 s
        }
        // Simulate power loss: no finalize, no drop.
        std::mem::forget(rec);
        let reader = hound::WavReader::open(&path).expect("header valid without finalize");
        assert!(
            reader.len() >= 8000,
            "at least the first second: {}",
            reader.len()
        );
        assert!(read_wav_8k_mono(&path).expect("read").len() >= 8000);
    }

    #[test]
    fn frames_pad_the_tail() {
        let frames = to_frames(&[1; 200]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1][39], 1);
        assert_eq!(frames[1][40], 0);
        assert!(to_frames(&[]).is_empty());
    }

    #[test]
    fn write_wav_8k_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.wav");
        let samples: Vec<i16> = (0..500).map(|i| (i * 61 % 30_000) as i16).collect();
        write_wav_8k(&path, &samples).expect("write");
        assert_eq!(read_wav_8k_mono(&path).expect("read"), samples);
        let bytes = wav_8k_bytes(&samples).expect("encode");
        assert_eq!(bytes, std::fs::read(&path).expect("file"));
    }
}
