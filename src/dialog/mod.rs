//! The call flow (skeleton).
