//! Conversation cases for `tests/dialog_conversations.rs` (emergencies); same builders and seed.

use super::*;

pub fn cases() -> Vec<Case> {
    Vec::new()
}
