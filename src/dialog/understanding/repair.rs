//! Repairs ("no i said maple") and meta-commands ("say that again", "talk to a person").

/// A request about the conversation itself rather than its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// "say that again", "what", "pardon".
    Repeat,
    /// "talk to a person", "representative", "agent".
    Operator,
    /// "start over", "go back".
    GoBack,
    /// "that's all", "bye", "hang up".
    Goodbye,
    /// "help", "what are my options".
    Help,
}

/// The corrected value when `text` corrects `previous_value`, in recogniser words.
pub fn repair(_previous_value: &str, _text: &str) -> Option<String> {
    None
}

/// The meta-command in an utterance, if it is one.
pub fn meta_intent(_text: &str) -> Option<Meta> {
    None
}
