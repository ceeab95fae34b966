//! A secret setting (API credentials, tokens, passwords): it never shows its value by
//! accident. `Debug` and `Serialize` (what `callbox config show` prints) give only `set` or
//! `unset`; the value comes out only through an explicit [`Secret::expose`].

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret string. Empty means unset.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that must send it (a header, a form, a digest).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when a value (anything but whitespace) is present.
    pub fn is_set(&self) -> bool {
        !self.0.trim().is_empty()
    }

    /// What may be shown instead of the value: `set` or `unset`.
    pub fn shown(&self) -> &'static str {
        if self.is_set() {
            "set"
        } else {
            "unset"
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.shown())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.shown())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_serialize_show_only_whether_it_is_set() {
        let secret = Secret::from("hunter2-value");
        assert_eq!(format!("{secret:?}"), "set");
        assert_eq!(format!("{:?}", Secret::default()), "unset");
        assert_eq!(format!("{:?}", Secret::from("  ")), "unset");
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(json, "\"set\"");
        assert!(!format!("{:#?}", Some(&secret)).contains("hunter2"));
    }

    #[test]
    fn the_value_comes_out_only_when_asked() {
        let secret: Secret = serde_json::from_str("\"hunter2-value\"").unwrap();
        assert_eq!(secret.expose(), "hunter2-value");
        assert!(secret.is_set());
    }
}
