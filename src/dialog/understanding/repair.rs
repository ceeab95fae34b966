//! Repairs ("no i said maple") and meta-commands ("say that again", "talk to a person").

use super::names::spelled_word;
use super::normalize::normalize;

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

impl Meta {
    /// Keypad meta-commands: 0 = operator (the IVR convention callers know), * = repeat.
    pub fn from_key(key: char) -> Option<Meta> {
        match key {
            '0' => Some(Meta::Operator),
            '*' => Some(Meta::Repeat),
            _ => None,
        }
    }
}

/// Words that open a correction; without one an utterance is not a repair.
const CUES: &[&str] = &[
    "no",
    "nope",
    "not",
    "wrong",
    "incorrect",
    "actually",
    "sorry",
    "wait",
    "i said",
    "i meant",
    "i mean",
    "i told you",
    "should be",
    "supposed to be",
];
/// Lead-ins stripped from the front of a correction until none is left.
const LEAD_INS: &[&str] = &[
    "that's not right",
    "that is not right",
    "that's wrong",
    "that is wrong",
    "it should be",
    "should be",
    "it's supposed to be",
    "supposed to be",
    "i told you",
    "i said",
    "i meant",
    "i mean",
    "it's",
    "it is",
    "that's",
    "that is",
    "it was",
    "no",
    "nope",
    "wrong",
    "incorrect",
    "actually",
    "sorry",
    "wait",
    "the",
];
const TAILS: &[&str] = &["please", "instead", "thanks", "thank you"];

/// The corrected value when `text` corrects `previous_value`, in recogniser words
/// (lowercase, numbers as words): "no i said maple" → "maple", "not oak maple" → "maple",
/// "it's maple not oak" → "maple", "no m a p l e" → "maple".
///
/// `None` when `text` has no correction cue (a bare "maple" is a new answer, not a repair:
/// the engine takes it as such), when it only says "no", or when it repeats the old value.
pub fn repair(previous_value: &str, text: &str) -> Option<String> {
    let n = normalize(text);
    if !n.has_any(CUES) {
        return None;
    }
    let previous = normalize(previous_value);
    let previous = previous.tokens();

    // Spelled letters become the word they spell.
    let mut tokens: Vec<String> = Vec::new();
    let mut i = 0;
    while i < n.tokens().len() {
        match spelled_word(n.tokens(), i) {
            Some((word, len)) => {
                tokens.push(word);
                i += len;
            }
            None => {
                tokens.push(n.tokens()[i].clone());
                i += 1;
            }
        }
    }

    // "not oak" / "not oak street": the rejected value goes.
    while let Some(at) = tokens.iter().position(|t| t == "not") {
        let rejected = tokens[at + 1..]
            .iter()
            .zip(previous)
            .take_while(|(a, b)| a == b)
            .count()
            .max(1)
            .min(tokens.len() - at - 1);
        tokens.drain(at..at + 1 + rejected);
    }

    strip_lead_ins(&mut tokens);
    while tokens
        .last()
        .is_some_and(|t| TAILS.contains(&t.as_str()) || t == "you")
    {
        tokens.pop();
    }
    if tokens.is_empty() || tokens.as_slice() == previous {
        return None;
    }
    Some(tokens.join(" "))
}

fn strip_lead_ins(tokens: &mut Vec<String>) {
    loop {
        let lead = LEAD_INS.iter().find(|p| {
            let words: Vec<&str> = p.split(' ').collect();
            tokens.len() >= words.len() && words.iter().zip(tokens.iter()).all(|(w, t)| w == t)
        });
        match lead {
            Some(p) => {
                tokens.drain(..p.split(' ').count());
            }
            None => return,
        }
    }
}

/// Phrases that are meta-commands wherever they appear.
const PHRASES: &[(&str, Meta)] = &[
    ("talk to a person", Meta::Operator),
    ("talk to a real person", Meta::Operator),
    ("talk to someone", Meta::Operator),
    ("talk to somebody", Meta::Operator),
    ("talk to a human", Meta::Operator),
    ("speak to a person", Meta::Operator),
    ("speak to someone", Meta::Operator),
    ("speak to somebody", Meta::Operator),
    ("speak with someone", Meta::Operator),
    ("speak with a person", Meta::Operator),
    ("real person", Meta::Operator),
    ("live person", Meta::Operator),
    ("representative", Meta::Operator),
    ("operator", Meta::Operator),
    ("customer service", Meta::Operator),
    ("start over", Meta::GoBack),
    ("go back", Meta::GoBack),
    ("start again", Meta::GoBack),
    ("from the beginning", Meta::GoBack),
    ("hang up", Meta::Goodbye),
    ("that's all", Meta::Goodbye),
    ("that is all", Meta::Goodbye),
    ("that's everything", Meta::Goodbye),
    ("nothing else", Meta::Goodbye),
    ("good bye", Meta::Goodbye),
    ("goodbye", Meta::Goodbye),
    ("bye", Meta::Goodbye),
    ("i'm done", Meta::Goodbye),
    ("what are my options", Meta::Help),
    ("what can i say", Meta::Help),
    ("i don't understand", Meta::Help),
    ("say that again", Meta::Repeat),
    ("say it again", Meta::Repeat),
    ("repeat that", Meta::Repeat),
    ("can you repeat", Meta::Repeat),
    ("please repeat", Meta::Repeat),
    ("what did you say", Meta::Repeat),
    ("what was that", Meta::Repeat),
    ("come again", Meta::Repeat),
    ("didn't catch", Meta::Repeat),
    ("didn't hear", Meta::Repeat),
    ("one more time", Meta::Repeat),
];

/// Words that are meta-commands only when they are the whole utterance: "help" alone is a
/// request for help, "help with my furnace" is a problem; "back" alone is go back, "the back
/// bedroom" is not.
const ALONE: &[(&str, Meta)] = &[
    ("agent", Meta::Operator),
    ("person", Meta::Operator),
    ("human", Meta::Operator),
    ("someone", Meta::Operator),
    ("back", Meta::GoBack),
    ("previous", Meta::GoBack),
    ("restart", Meta::GoBack),
    ("help", Meta::Help),
    ("options", Meta::Help),
    ("menu", Meta::Help),
    ("what", Meta::Repeat),
    ("huh", Meta::Repeat),
    ("pardon", Meta::Repeat),
    ("pardon me", Meta::Repeat),
    ("sorry", Meta::Repeat),
    ("repeat", Meta::Repeat),
    ("again", Meta::Repeat),
    ("excuse me", Meta::Repeat),
];
/// Politeness around a lone meta word: "an agent please", "i want a human".
const POLITE: &[&str] = &[
    "a", "an", "the", "please", "i", "want", "need", "can", "could", "you", "me", "give", "get",
    "just", "to", "go", "my",
];

/// Every phrase [`meta_intent`] understands, for the recogniser's grammars.
pub(crate) fn meta_phrases() -> impl Iterator<Item = &'static str> {
    PHRASES.iter().chain(ALONE).map(|(p, _)| *p)
}

/// The meta-command in an utterance, if it is one. Operator wins over the others: a caller
/// who asks for a person gets one.
pub fn meta_intent(text: &str) -> Option<Meta> {
    let n = normalize(text);
    let found: Vec<Meta> = PHRASES
        .iter()
        .filter(|(p, _)| n.has_phrase(p))
        .map(|(_, m)| *m)
        .collect();
    if found.contains(&Meta::Operator) {
        return Some(Meta::Operator);
    }
    if let Some(m) = found.first() {
        return Some(*m);
    }
    let core: Vec<&str> = n
        .tokens()
        .iter()
        .map(String::as_str)
        .filter(|t| !POLITE.contains(t))
        .collect();
    let core = core.join(" ");
    ALONE.iter().find(|(w, _)| *w == core).map(|(_, m)| *m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("oak", "no i said maple", Some("maple")),
            ("oak", "not oak maple", Some("maple")),
            ("oak", "it's maple not oak", Some("maple")),
            ("oak", "no, m a p l e", Some("maple")),
            ("oak", "no it's maple", Some("maple")),
            ("oak", "no no no maple", Some("maple")),
            ("oak", "that's wrong it's maple", Some("maple")),
            ("oak", "that's not right i said maple", Some("maple")),
            ("oak", "no i said m as in mary a p l e", Some("maple")),
            (
                "oak street",
                "not oak street maple street",
                Some("maple street"),
            ),
            (
                "one twenty four maple",
                "no i said one twenty three maple",
                Some("one twenty three maple"),
            ),
            ("smith", "actually it's smyth", Some("smyth")),
            ("smith", "it should be s m y t h", Some("smyth")),
            ("john", "no j o n", Some("jon")),
            ("oak", "maple", None),
            ("oak", "no", None),
            ("oak", "nope", None),
            ("oak", "no i said oak", None),
            ("oak", "", None),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(prev, text, want)| (prev, text, repair(prev, text), want.map(str::to_string)))
            .filter(|(_, _, got, want)| got != want)
            .collect();
        assert!(wrong.is_empty(), "(previous, text, got, want): {wrong:#?}");
    }

    #[test]
    fn meta_commands() {
        use Meta::*;
        let cases: &[(&str, Option<Meta>)] = &[
            ("say that again", Some(Repeat)),
            ("what", Some(Repeat)),
            ("pardon", Some(Repeat)),
            ("sorry what was that", Some(Repeat)),
            ("huh", Some(Repeat)),
            ("i didn't catch that", Some(Repeat)),
            ("can you repeat that please", Some(Repeat)),
            ("talk to a person", Some(Operator)),
            ("representative", Some(Operator)),
            ("representative representative", Some(Operator)),
            ("agent", Some(Operator)),
            ("an agent please", Some(Operator)),
            ("i want to speak to someone", Some(Operator)),
            ("operator", Some(Operator)),
            ("just let me talk to a real person", Some(Operator)),
            ("start over", Some(GoBack)),
            ("go back", Some(GoBack)),
            ("back", Some(GoBack)),
            ("that's all", Some(Goodbye)),
            ("bye", Some(Goodbye)),
            ("okay bye bye", Some(Goodbye)),
            ("hang up", Some(Goodbye)),
            ("no thanks that's all", Some(Goodbye)),
            ("help", Some(Help)),
            ("what are my options", Some(Help)),
            ("i need help with my furnace", None),
            ("the back bedroom is cold", None),
            ("what time is the technician coming", None),
            ("yes", None),
            ("", None),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(text, want)| (text, meta_intent(text), *want))
            .filter(|(_, got, want)| got != want)
            .collect();
        assert!(wrong.is_empty(), "(text, got, want): {wrong:#?}");
        assert_eq!(Meta::from_key('0'), Some(Operator));
        assert_eq!(Meta::from_key('*'), Some(Repeat));
        assert_eq!(Meta::from_key('5'), None);
    }
}
