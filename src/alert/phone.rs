//! The seam between the paging ladder (this layer) and a phone call placed over the shop's own
//! line (telephony's SIP user agent client, wired in `crate::app`). The ladder decides whom to
//! call and what to say; a [`PhonePager`] places one call, speaks the alert, asks "press 1 to
//! accept, 2 to pass", and says what came of it. Nothing here does I/O.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// One page call to one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCallRequest {
    /// A SIP URI (`sip:200@192.0.2.10`) or a phone number the ATA or trunk dials (E.164 or the
    /// digits the line expects).
    pub to: String,
    /// What the box says, in full; spoken, repeated, then the accept/pass prompt.
    pub spoken: String,
    /// The alert's record id (for the log and the call's record).
    pub alert_id: String,
}

/// What one page call came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum PageCallOutcome {
    /// The contact answered and pressed 1 (or said "accept"/"yes"): the ladder ends.
    Accepted,
    /// The contact answered and pressed 2: next contact.
    Passed,
    /// Answered but gave no answer within the prompt's time, or hung up during the alert.
    NoResponse,
    /// Rang out (no answer within the ring timeout).
    NoAnswer,
    /// 486 Busy Here / 600 Busy Everywhere.
    Busy,
    /// 603 Decline or another final refusal.
    Declined,
    /// The call could not be placed (line in use past the wait, network, auth, config).
    Failed(String),
}

impl PageCallOutcome {
    /// Whether this outcome ends the ladder.
    pub fn acknowledged(&self) -> bool {
        matches!(self, PageCallOutcome::Accepted)
    }
}

/// A boxed future, `Send`, borrowing the pager and the request.
pub type PageCallFuture<'a> = Pin<Box<dyn Future<Output = PageCallOutcome> + Send + 'a>>;

/// Places page calls. `crate::app` implements it over telephony's outbound calls; tests use a
/// scripted one.
pub trait PhonePager: Send + Sync {
    fn page<'a>(&'a self, request: &'a PageCallRequest) -> PageCallFuture<'a>;

    /// Resolves once a page call can be placed now (true), or when the line stayed busy past
    /// the pager's patience (false). The ladder waits here before it decides what the call
    /// says: a caller still on the line may yet leave a voicemail. Default: always free.
    fn line_free(&self) -> LineFreeFuture<'_> {
        Box::pin(std::future::ready(true))
    }
}

/// A boxed future, `Send`, borrowing the pager: whether the line is free.
pub type LineFreeFuture<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
