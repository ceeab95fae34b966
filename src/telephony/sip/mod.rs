//! SIP user agent server (skeleton).
