//! G.711 µ-law (PCMU) and A-law (PCMA) companding, as ITU-T G.711 defines it.
//!
//! The encoders follow the ITU-T G.191 software tools library (`g711.c`); the decoders are
//! 256-entry tables built at compile time from the same reference expansion. Samples are
//! 16-bit linear PCM; G.711 itself only carries 14 (µ-law) or 13 (A-law) bits of them.
//!
//! Note on negative values: G.191 takes the magnitude of a negative sample as its ones'
//! complement (`!x`), which keeps the quantiser symmetric, so µ-law encodes -1 as 0x7F ("negative
//! zero"). The older Sun Microsystems `g711.c` shifts before negating and encodes -1..-8 as 0x7E.
//! Both decode every code identically; we follow the ITU version.

use crate::telephony::settings::Codec;

/// The µ-law code for a zero sample (what an idle line sends).
pub const ULAW_SILENCE: u8 = 0xFF;
/// The A-law code nearest zero (decodes to +8; A-law has no exact zero).
pub const ALAW_SILENCE: u8 = 0xD5;

/// µ-law bias added to the magnitude before the segment search (33 in 14-bit units).
const ULAW_BIAS: i32 = 33;
/// Largest biased 14-bit µ-law magnitude.
const ULAW_CLIP: i32 = 0x1FFF;

/// Expands one µ-law code (G.191 `ulaw_expand`), evaluated at compile time for the table.
const fn ulaw_expand(code: u8) -> i16 {
    let negative = code < 0x80;
    let inverted = !code;
    let exponent = ((inverted >> 4) & 0x07) as i32;
    let mantissa = (inverted & 0x0F) as i32;
    let step = 4 << (exponent + 1);
    let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * ULAW_BIAS;
    if negative {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Expands one A-law code (G.191 `alaw_expand`), evaluated at compile time for the table.
const fn alaw_expand(code: u8) -> i16 {
    let toggled = (code ^ 0x55) & 0x7F;
    let exponent = (toggled >> 4) as i32;
    let mut mantissa = (toggled & 0x0F) as i32;
    if exponent > 0 {
        mantissa += 16;
    }
    mantissa = (mantissa << 4) + 8;
    if exponent > 1 {
        mantissa <<= exponent - 1;
    }
    if code > 127 {
        mantissa as i16
    } else {
        -mantissa as i16
    }
}

/// Builds a decode table; `alaw` picks the expansion (const fns cannot take fn pointers).
const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = if alaw {
            alaw_expand(code as u8)
        } else {
            ulaw_expand(code as u8)
        };
        code += 1;
    }
    table
}

/// µ-law code → linear sample.
static ULAW_TABLE: [i16; 256] = build_table(false);
/// A-law code → linear sample.
static ALAW_TABLE: [i16; 256] = build_table(true);

/// Decodes one µ-law code to a 16-bit linear sample.
#[inline]
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Decodes one A-law code to a 16-bit linear sample.
#[inline]
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

/// Encodes one 16-bit linear sample as µ-law (G.191 `ulaw_compress`).
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    let x = i32::from(sample);
    // Ones' complement magnitude for negatives keeps the quantiser symmetric about -0.5.
    let magnitude = if x < 0 { (!x) >> 2 } else { x >> 2 };
    let biased = (magnitude + ULAW_BIAS).min(ULAW_CLIP);
    // Segment = position of the highest set bit above bit 5 (1..=8).
    let segment = (32 - ((biased >> 6) as u32).leading_zeros()) as i32 + 1;
    let high = (8 - segment) as u8;
    let low = 0x0F - ((biased >> segment) & 0x0F) as u8;
    let code = (high << 4) | low;
    if x >= 0 {
        code | 0x80
    } else {
        code
    }
}

/// Encodes one 16-bit linear sample as A-law (G.191 `alaw_compress`).
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    let x = i32::from(sample);
    let mut ix = if x < 0 { (!x) >> 4 } else { x >> 4 };
    if ix > 15 {
        let mut exponent = 1;
        while ix > 16 + 15 {
            ix >>= 1;
            exponent += 1;
        }
        ix -= 16;
        ix += exponent << 4;
    }
    if x >= 0 {
        ix |= 0x80;
    }
    (ix as u8) ^ 0x55
}

/// The code a codec uses for silence.
pub fn silence_code(codec: Codec) -> u8 {
    match codec {
        Codec::Pcmu => ULAW_SILENCE,
        Codec::Pcma => ALAW_SILENCE,
    }
}

/// Encodes linear samples, appending one byte per sample to `out`.
pub fn encode_frame(codec: Codec, samples: &[i16], out: &mut Vec<u8>) {
    out.reserve(samples.len());
    match codec {
        Codec::Pcmu => out.extend(samples.iter().map(|&s| ulaw_encode(s))),
        Codec::Pcma => out.extend(samples.iter().map(|&s| alaw_encode(s))),
    }
}

/// Decodes a payload into `out`; decodes `min(payload.len(), out.len())` samples and returns
/// that count, so a short or long packet can never index out of bounds.
pub fn decode_payload(codec: Codec, payload: &[u8], out: &mut [i16]) -> usize {
    let table = match codec {
        Codec::Pcmu => &ULAW_TABLE,
        Codec::Pcma => &ALAW_TABLE,
    };
    let n = payload.len().min(out.len());
    for (dst, &code) in out[..n].iter_mut().zip(payload) {
        *dst = table[usize::from(code)];
    }
    n
}

/// Decodes a payload, appending the samples to `out`.
pub fn decode_payload_into(codec: Codec, payload: &[u8], out: &mut Vec<i16>) {
    let table = match codec {
        Codec::Pcmu => &ULAW_TABLE,
        Codec::Pcma => &ALAW_TABLE,
    };
    out.extend(payload.iter().map(|&code| table[usize::from(code)]));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct transcription of the Sun Microsystems `ulaw2linear`/`alaw2linear`, an
    /// independent derivation to check the tables against.
    fn sun_ulaw2linear(u: u8) -> i16 {
        let u = !u;
        let mut t: i32 = ((i32::from(u) & 0x0F) << 3) + 0x84;
        t <<= (i32::from(u) & 0x70) >> 4;
        (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
    }

    fn sun_alaw2linear(a: u8) -> i16 {
        let a = a ^ 0x55;
        let mut t: i32 = (i32::from(a) & 0x0F) << 4;
        let seg = (i32::from(a) & 0x70) >> 4;
        match seg {
            0 => t += 8,
            1 => t += 0x108,
            _ => {
                t += 0x108;
                t <<= seg - 1;
            }
        }
        (if a & 0x80 != 0 { t } else { -t }) as i16
    }

    /// Sun `linear2alaw`, to check our A-law encoder against a second reference.
    fn sun_linear2alaw(pcm: i16) -> u8 {
        const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
        let mut v = i32::from(pcm) >> 3;
        let mask: u8 = if v >= 0 {
            0xD5
        } else {
            v = -v - 1;
            0x55
        };
        let seg = SEG_AEND.iter().position(|&end| v <= end).unwrap_or(8);
        if seg >= 8 {
            return 0x7F ^ mask;
        }
        let mut aval = (seg as u8) << 4;
        if seg < 2 {
            aval |= ((v >> 1) & 0x0F) as u8;
        } else {
            aval |= ((v >> seg) & 0x0F) as u8;
        }
        aval ^ mask
    }

    /// Sun `linear2ulaw`. It differs from G.191 only for negative samples (see module docs).
    fn sun_linear2ulaw(pcm: i16) -> u8 {
        const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
        let mut v = i32::from(pcm) >> 2;
        let mask: u8 = if v < 0 {
            v = -v;
            0x7F
        } else {
            0xFF
        };
        v = v.min(8159) + 33;
        let seg = SEG_UEND.iter().position(|&end| v <= end).unwrap_or(8);
        if seg >= 8 {
            return 0x7F ^ mask;
        }
        (((seg as u8) << 4) | ((v >> (seg + 1)) & 0x0F) as u8) ^ mask
    }

    #[test]
    fn ulaw_encoder_matches_sun_reference_for_non_negative_samples() {
        for s in 0..=i16::MAX {
            assert_eq!(ulaw_encode(s), sun_linear2ulaw(s), "sample {s}");
        }
        // The documented divergence: Sun truncates toward -inf before negating.
        assert_eq!(sun_linear2ulaw(-1), 0x7E);
    }

    #[test]
    fn ulaw_reference_values() {
        assert_eq!(ulaw_encode(0), 0xFF);
        // G.191 (ones' complement): -1 is "negative zero". Sun's g711.c gives 0x7E here.
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0xFE), 8);
        assert_eq!(ulaw_decode(0x7E), -8);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(ulaw_encode(8), 0xFE);
        assert_eq!(ulaw_encode(-9), 0x7E);
    }

    #[test]
    fn alaw_reference_values() {
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        // 0x2A has the sign bit clear after the 0x55 toggle: it is the most negative code.
        assert_eq!(alaw_decode(0x2A), -32256);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn tables_match_sun_reference_decoders() {
        for code in 0..=255u8 {
            assert_eq!(
                ulaw_decode(code),
                sun_ulaw2linear(code),
                "µ-law {code:#04x}"
            );
            assert_eq!(
                alaw_decode(code),
                sun_alaw2linear(code),
                "A-law {code:#04x}"
            );
        }
    }

    #[test]
    fn alaw_encoder_matches_sun_reference_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(alaw_encode(s), sun_linear2alaw(s), "sample {s}");
        }
    }

    #[test]
    fn decode_then_encode_is_identity_for_all_codes() {
        for code in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
            // µ-law has two zeros; negative zero (0x7F) re-encodes as positive zero.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(
                ulaw_encode(ulaw_decode(code)),
                expected,
                "µ-law {code:#04x}"
            );
        }
    }

    #[test]
    fn round_trip_error_is_within_half_a_quantisation_step() {
        for s in i16::MIN..=i16::MAX {
            let x = i32::from(s);
            let mag = x.abs();
            // µ-law step is 1/16 of (|x| + bias) within a segment; beyond the top code it clips.
            let u_err = (x - i32::from(ulaw_decode(ulaw_encode(s)))).abs();
            let u_bound = if mag > 32124 + 512 {
                mag - 32124
            } else {
                (mag + 132) / 32 + 4
            };
            assert!(u_err <= u_bound, "µ-law {s}: err {u_err} > {u_bound}");
            let a_err = (x - i32::from(alaw_decode(alaw_encode(s)))).abs();
            let a_bound = if mag > 32256 + 512 {
                mag - 32256
            } else {
                (mag / 32).max(8) + 1
            };
            assert!(a_err <= a_bound, "A-law {s}: err {a_err} > {a_bound}");
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut last_u = ulaw_decode(ulaw_encode(i16::MIN));
        let mut last_a = alaw_decode(alaw_encode(i16::MIN));
        for s in i16::MIN..=i16::MAX {
            let u = ulaw_decode(ulaw_encode(s));
            let a = alaw_decode(alaw_encode(s));
            assert!(u >= last_u && a >= last_a, "not monotonic at {s}");
            last_u = u;
            last_a = a;
        }
    }

    #[test]
    fn slice_helpers_round_trip_and_bound_lengths() {
        let samples: Vec<i16> = (0..160)
            .map(|i| ((i * 397) % 20000 - 10000) as i16)
            .collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut encoded = vec![0xAB];
            encode_frame(codec, &samples, &mut encoded);
            assert_eq!(encoded.len(), 161, "appends after existing bytes");
            let mut decoded = [0i16; 160];
            assert_eq!(decode_payload(codec, &encoded[1..], &mut decoded), 160);
            for (a, b) in samples.iter().zip(decoded.iter()) {
                assert!((i32::from(*a) - i32::from(*b)).abs() <= 400);
            }
            // A short output buffer is filled, not overrun.
            let mut short = [0i16; 10];
            assert_eq!(decode_payload(codec, &encoded[1..], &mut short), 10);
            let mut grown = Vec::new();
            decode_payload_into(codec, &encoded[1..], &mut grown);
            assert_eq!(&grown[..], &decoded[..]);
        }
        assert_eq!(ulaw_decode(silence_code(Codec::Pcmu)), 0);
        assert_eq!(alaw_decode(silence_code(Codec::Pcma)), 8);
    }
}
