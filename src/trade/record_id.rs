//! The booking reference: the id a record is queued under, read back to the caller and sent to
//! ServiceTitan as the externalData value. Ids are made by the queue (which knows the largest
//! one stored); this is their shape.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Crockford base32: no I, L, O, U; ascending in ASCII, so ids sort as their numbers do.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ID_PREFIX: &str = "cb-";
const ID_CHARS: usize = 26;
const RANDOM_BITS: u32 = 80;
/// The largest random part of an id (80 bits).
pub(crate) const RANDOM_MASK: u128 = (1u128 << RANDOM_BITS) - 1;

/// Stable, unique, time-ordered id of a record: `cb-` + 26 Crockford base32 characters (a ULID:
/// 48 bits of milliseconds, 80 bits random). Sent to ServiceTitan as the externalData value, so
/// a retry after a timeout finds what the first try created instead of creating it again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordId(String);

impl RecordId {
    /// Parses and validates an id as printed by `callbox queue list`.
    pub fn parse(s: &str) -> Result<RecordId, InvalidRecordId> {
        let s = s.trim();
        let invalid = || InvalidRecordId(s.to_string());
        let body = s.strip_prefix(ID_PREFIX).ok_or_else(invalid)?;
        if body.len() != ID_CHARS || !body.bytes().all(|b| CROCKFORD.contains(&b)) {
            return Err(invalid());
        }
        // 26 characters hold 130 bits; a ULID uses 128, so the first character is at most 7.
        if body.as_bytes()[0] > b'7' {
            return Err(invalid());
        }
        Ok(RecordId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the id was made (the record's enqueue time on the box's clock).
    pub fn timestamp(&self) -> Option<DateTime<Utc>> {
        let (ms, _) = self.parts();
        Utc.timestamp_millis_opt(i64::try_from(ms).ok()?).single()
    }

    /// The id of `ms` milliseconds since the epoch and an 80-bit random part.
    pub(crate) fn from_parts(ms: u64, random: u128) -> RecordId {
        let value = (u128::from(ms & 0xFFFF_FFFF_FFFF) << RANDOM_BITS) | (random & RANDOM_MASK);
        let mut out = String::with_capacity(ID_PREFIX.len() + ID_CHARS);
        out.push_str(ID_PREFIX);
        for i in (0..ID_CHARS).rev() {
            let digit = ((value >> (i * 5)) & 0x1F) as usize;
            out.push(char::from(CROCKFORD[digit]));
        }
        RecordId(out)
    }

    /// Milliseconds since the epoch and the random part.
    pub(crate) fn parts(&self) -> (u64, u128) {
        let body = self.0.strip_prefix(ID_PREFIX).unwrap_or("");
        let mut value: u128 = 0;
        for b in body.bytes() {
            let digit = CROCKFORD.iter().position(|&c| c == b).unwrap_or(0) as u128;
            value = (value << 5) | digit;
        }
        ((value >> RANDOM_BITS) as u64, value & RANDOM_MASK)
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RecordId {
    type Err = InvalidRecordId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordId::parse(s)
    }
}

impl TryFrom<String> for RecordId {
    type Error = InvalidRecordId;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        RecordId::parse(&s)
    }
}

impl From<RecordId> for String {
    fn from(id: RecordId) -> String {
        id.0
    }
}

/// A string that is not a record id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a queue record id (expected cb- and 26 characters, e.g. cb-01J9Z3X5Q8R6T2W4Y7A0B1C3D5)")]
pub struct InvalidRecordId(pub String);
