//! How a layer reports a problem with its settings without knowing the configuration module:
//! the key path, the reason, and how bad it is.

/// How bad a [`SettingIssue`] is: errors stop the box from starting, warnings are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem with a setting, named by its key path (`sip.listen`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SettingIssue {
    /// Dotted key path (`media.rtp_port_min`), or `line N` when a syntax error has no key.
    pub key: String,
    pub reason: String,
    pub severity: Severity,
}

impl SettingIssue {
    pub fn error(key: impl Into<String>, reason: impl Into<String>) -> Self {
        SettingIssue {
            key: key.into(),
            reason: reason.into(),
            severity: Severity::Error,
        }
    }

    pub fn warning(key: impl Into<String>, reason: impl Into<String>) -> Self {
        SettingIssue {
            key: key.into(),
            reason: reason.into(),
            severity: Severity::Warning,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issue_reads_key_then_reason() {
        let issue = SettingIssue::warning("sip.allowed_peers", "lets anyone in");
        assert_eq!(issue.to_string(), "sip.allowed_peers: lets anyone in");
        assert!(!issue.is_error());
        assert!(SettingIssue::error("a", "b").is_error());
    }
}
