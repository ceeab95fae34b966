//! Phrase lists for the recogniser's closed-set turns (Vosk grammars).

/// Vosk's out-of-grammar token; every grammar includes it so noise is not forced into a phrase.
pub const UNKNOWN: &str = "[unk]";

/// The kind of turn a grammar is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrammarKind<'a> {
    YesNo,
    Digits,
    WindowChoice,
    Triage,
    /// A menu of the given items.
    MenuChoice(&'a [&'a str]),
}

/// The phrases of a grammar: lowercase words and apostrophes only, plus [`UNKNOWN`].
pub fn grammar(_kind: GrammarKind<'_>) -> Vec<String> {
    vec![UNKNOWN.to_string()]
}
