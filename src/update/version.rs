//! Release versions: `MAJOR.MINOR.PATCH`, compared as numbers. Pre-release and build suffixes
//! are refused: a box only ever installs releases, and "newer" must never be a matter of
//! string order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version {text:?}: {reason} (expected MAJOR.MINOR.PATCH, e.g. 1.4.2)")]
pub struct VersionError {
    pub text: String,
    pub reason: &'static str,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The version of this binary.
    pub fn running() -> Self {
        env!("CARGO_PKG_VERSION")
            .parse()
            .unwrap_or(Version::new(0, 0, 0))
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| VersionError {
            text: text.to_string(),
            reason,
        };
        let mut parts = text.split('.');
        let mut next = || -> Result<u32, VersionError> {
            let part = parts.next().ok_or_else(|| error("too few parts"))?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error("each part is a number"));
            }
            if part.len() > 1 && part.starts_with('0') {
                return Err(error("no leading zeros"));
            }
            part.parse().map_err(|_| error("number too large"))
        };
        let version = Version::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(error("too many parts"));
        }
        Ok(version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(v("1.10.0") > v("1.9.9"));
        assert!(v("2.0.0") > v("1.99.99"));
        assert_eq!(v("0.3.1"), Version::new(0, 3, 1));
        assert_eq!(v("12.0.7").to_string(), "12.0.7");
    }

    #[test]
    fn anything_but_three_plain_numbers_is_refused() {
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "1.2.x",
            "v1.2.3",
            "1.2.3-rc1",
            "01.2.3",
            "1..3",
            "1.2.-3",
            "99999999999.0.0",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_running_version_parses() {
        assert_eq!(Version::running().to_string(), env!("CARGO_PKG_VERSION"));
    }
}
