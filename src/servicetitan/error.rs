//! Typed errors of the ServiceTitan client, and how the sync worker should treat each.

use std::collections::BTreeMap;
use std::time::Duration;

/// Everything a ServiceTitan call can end in, other than success.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StError {
    /// 401 after one token renewal, or the token endpoint refused the client credentials.
    #[error("ServiceTitan refused the credentials: {message}")]
    Unauthorized { message: String },
    /// 403: nearly always a scope the app version lacks (the tenant admin must accept it).
    #[error("ServiceTitan forbade the call (missing scope? {scope_hint})")]
    Forbidden { scope_hint: String },
    #[error("ServiceTitan: not found ({what})")]
    NotFound { what: String },
    #[error("ServiceTitan: conflict ({message})")]
    Conflict { message: String },
    /// 400 with ServiceTitan's validation message; retrying the same request cannot succeed.
    #[error("ServiceTitan rejected the request: {}", validation_text(.title, .errors))]
    Validation {
        title: String,
        errors: BTreeMap<String, Vec<String>>,
        trace_id: Option<String>,
    },
    /// 429 still coming after the client's own waits.
    #[error("ServiceTitan rate limit; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// 5xx on a read (on a write it is [`StError::Ambiguous`]).
    #[error("ServiceTitan server error HTTP {status}")]
    Server { status: u16 },
    /// No answer in time on a read.
    #[error("ServiceTitan did not answer in time")]
    Timeout,
    /// The request never reached ServiceTitan (DNS, refused connection, TLS), or a read broke.
    #[error("network error talking to ServiceTitan: {message}")]
    Network { message: String },
    /// A write may or may not have been applied (timeout, 5xx, reset, lost answer). Look the
    /// object up before writing again.
    #[error("ServiceTitan write outcome unknown: {reason}")]
    Ambiguous { reason: String },
    /// A filtered lookup came back with records the filter should have excluded: the API
    /// probably ignored the filter name. The answer cannot be trusted either way.
    #[error("ServiceTitan ignored the `{filter}` filter (unrelated records returned)")]
    FilterIgnored { filter: String },
    /// The record depends on another that has not synced yet (a note on a queued job).
    #[error("waiting: {reason}")]
    NotYet { reason: String },
    #[error("cannot decode ServiceTitan's answer: {message}")]
    Decode { message: String },
    #[error("ServiceTitan client configuration: {message}")]
    Config { message: String },
}

fn validation_text(title: &str, errors: &BTreeMap<String, Vec<String>>) -> String {
    let mut text = title.to_string();
    for (field, messages) in errors {
        text.push_str(&format!("; {field}: {}", messages.join(", ")));
    }
    text
}

impl StError {
    /// The box cannot reach ServiceTitan right now (as opposed to ServiceTitan saying no).
    pub fn is_offline(&self) -> bool {
        matches!(self, StError::Network { .. } | StError::Timeout)
    }

    /// ServiceTitan is out for everyone, not refusing this record: unreachable, timing out,
    /// 5xx, rate limiting, answers lost, or credentials/scopes refused even with a fresh token
    /// (the client renews once before giving up). Never counts against a record.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            StError::Network { .. }
                | StError::Timeout
                | StError::Server { .. }
                | StError::RateLimited { .. }
                | StError::Ambiguous { .. }
                | StError::Unauthorized { .. }
                | StError::Forbidden { .. }
        )
    }

    /// Worth trying again later without changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StError::RateLimited { .. }
                | StError::Server { .. }
                | StError::Timeout
                | StError::Network { .. }
                | StError::Ambiguous { .. }
                | StError::FilterIgnored { .. }
                | StError::Decode { .. }
                | StError::NotYet { .. }
        )
    }

    /// The request itself is wrong for this tenant; a person must look at it.
    pub fn needs_attention(&self) -> bool {
        matches!(
            self,
            StError::Validation { .. } | StError::NotFound { .. } | StError::Conflict { .. }
        )
    }

    /// A write that may have happened; the next attempt must look it up first.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, StError::Ambiguous { .. })
    }

    /// One-line text for the queue's needs-attention reason: ServiceTitan's own message.
    pub fn attention_message(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let validation = StError::Validation {
            title: "One or more validation errors occurred.".into(),
            errors: BTreeMap::from([("CampaignId".into(), vec!["is required".into()])]),
            trace_id: None,
        };
        assert!(validation.needs_attention() && !validation.is_transient());
        assert_eq!(
            validation.to_string(),
            "ServiceTitan rejected the request: One or more validation errors occurred.; CampaignId: is required"
        );
        for e in [
            StError::Timeout,
            StError::Network {
                message: "refused".into(),
            },
        ] {
            assert!(e.is_offline() && e.is_transient() && !e.needs_attention());
        }
        let amb = StError::Ambiguous {
            reason: "HTTP 502".into(),
        };
        assert!(amb.is_ambiguous() && amb.is_transient() && !amb.is_offline());
        assert!(!StError::Unauthorized {
            message: "x".into()
        }
        .is_transient());
        assert!(StError::Server { status: 503 }.is_transient());
        for outage in [
            StError::Server { status: 503 },
            StError::RateLimited {
                retry_after: Duration::from_secs(86_400),
            },
            StError::Unauthorized {
                message: "token endpoint said HTTP 401".into(),
            },
            StError::Forbidden {
                scope_hint: "tn.jpm.jobs:w".into(),
            },
            StError::Timeout,
            amb.clone(),
        ] {
            assert!(outage.is_outage(), "{outage:?}");
        }
        assert!(!validation.is_outage());
        assert!(!StError::Decode {
            message: "x".into()
        }
        .is_outage());
    }
}
