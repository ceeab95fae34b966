//! Media hot paths, per 20 ms frame: a call needs 50 of each per second per direction.

use callbox::config::Codec;
use callbox::telephony::dtmf::{key_frequencies, ToneDetector};
use callbox::telephony::g711;
use callbox::telephony::jitter::JitterBuffer;
use callbox::telephony::rtp::{RtpHeader, RtpPacket};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const FRAME: usize = 160;

fn speech_like_frame() -> Vec<i16> {
    (0..FRAME)
        .map(|i| {
            let t = i as f32 / 8000.0;
            (6000.0 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                + 2000.0 * (2.0 * std::f32::consts::PI * 1250.0 * t).sin()) as i16
        })
        .collect()
}

fn g711_benches(c: &mut Criterion) {
    let frame = speech_like_frame();
    let mut group = c.benchmark_group("g711");
    group.throughput(Throughput::Elements(1));
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut encoded = Vec::with_capacity(FRAME);
        group.bench_function(format!("encode_frame/{codec:?}"), |b| {
            b.iter(|| {
                encoded.clear();
                g711::encode_frame(codec, black_box(&frame), &mut encoded);
                black_box(&encoded);
            })
        });
        let payload: Vec<u8> = {
            let mut v = Vec::new();
            g711::encode_frame(codec, &frame, &mut v);
            v
        };
        let mut out = [0i16; FRAME];
        group.bench_function(format!("decode_payload/{codec:?}"), |b| {
            b.iter(|| black_box(g711::decode_payload(codec, black_box(&payload), &mut out)))
        });
    }
    group.finish();
}

fn rtp_benches(c: &mut Criterion) {
    let header = RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: 4711,
        timestamp: 123_456,
        ssrc: 0xDEAD_BEEF,
    };
    let payload = [0xFFu8; FRAME];
    let mut packet = Vec::with_capacity(200);
    header.write(&payload, &mut packet);
    let mut group = c.benchmark_group("rtp");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| black_box(RtpPacket::parse(black_box(&packet))).is_ok())
    });
    let mut out = Vec::with_capacity(200);
    group.bench_function("write", |b| {
        b.iter(|| {
            black_box(&header).write(black_box(&payload), &mut out);
            black_box(&out);
        })
    });
    group.finish();
}

fn jitter_benches(c: &mut Criterion) {
    let frame = speech_like_frame();
    let mut group = c.benchmark_group("jitter");
    group.throughput(Throughput::Elements(1));
    group.bench_function("push_pop_in_order", |b| {
        let mut jb = JitterBuffer::new(3);
        let mut seq = 0u16;
        let mut ts = 0u32;
        // Prime to the target depth so every iteration is one steady-state push + pop.
        for _ in 0..3 {
            jb.push(seq, ts, 1, &frame);
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(FRAME as u32);
        }
        b.iter(|| {
            jb.push(seq, ts, 1, black_box(&frame));
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(FRAME as u32);
            black_box(jb.pop())
        })
    });
    group.finish();
}

fn goertzel_benches(c: &mut Criterion) {
    let (low, high) = key_frequencies('5').unwrap_or((770.0, 1336.0));
    let tone: Vec<i16> = (0..FRAME)
        .map(|i| {
            let t = i as f32 / 8000.0;
            (5000.0 * (2.0 * std::f32::consts::PI * low * t).sin()
                + 6000.0 * (2.0 * std::f32::consts::PI * high * t).sin()) as i16
        })
        .collect();
    let speech = speech_like_frame();
    let mut group = c.benchmark_group("dtmf");
    group.throughput(Throughput::Elements(1));
    group.bench_function("goertzel_frame/tone", |b| {
        let mut detector = ToneDetector::new();
        b.iter(|| black_box(detector.process(black_box(&tone))))
    });
    group.bench_function("goertzel_frame/speech", |b| {
        let mut detector = ToneDetector::new();
        b.iter(|| black_box(detector.process(black_box(&speech))))
    });
    group.finish();
}

criterion_group!(
    benches,
    g711_benches,
    rtp_benches,
    jitter_benches,
    goertzel_benches
);
criterion_main!(benches);
