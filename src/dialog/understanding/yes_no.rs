//! Yes and no in every form a caller uses, spoken or keyed.

use super::normalize::{normalize, Normalized};

/// A caller's answer to a yes/no question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YesNo {
    Yes,
    No,
}

impl YesNo {
    /// Keypad answer: 1 = yes, 2 = no (what the prompts say: "press 1 for yes, 2 for no").
    pub fn from_key(key: char) -> Option<YesNo> {
        match key {
            '1' => Some(YesNo::Yes),
            '2' => Some(YesNo::No),
            _ => None,
        }
    }
}

/// Phrases that answer, longest first where one contains another ("it is not" before "it is",
/// "no problem" before "no"). Negated yeses ("not right") are noes.
const PHRASES: &[(&str, YesNo)] = {
    use YesNo::{No, Yes};
    &[
        ("i don't think so", No),
        ("that's not right", No),
        ("that is not right", No),
        ("that's not correct", No),
        ("that is not correct", No),
        ("that's not it", No),
        ("no thank you", No),
        ("it is not", No),
        ("that's wrong", No),
        ("that is wrong", No),
        ("not really", No),
        ("not quite", No),
        ("not right", No),
        ("not correct", No),
        ("isn't right", No),
        ("isn't correct", No),
        ("no thanks", No),
        ("no way", No),
        ("it's not", No),
        ("it isn't", No),
        ("i don't", No),
        ("do not", No),
        ("no problem", Yes),
        ("why not", Yes),
        ("that's right", Yes),
        ("that is right", Yes),
        ("that's correct", Yes),
        ("that is correct", Yes),
        ("that's it", Yes),
        ("that's fine", Yes),
        ("that works", Yes),
        ("works for me", Yes),
        ("sounds good", Yes),
        ("sounds great", Yes),
        ("go ahead", Yes),
        ("go for it", Yes),
        ("please do", Yes),
        ("let's do it", Yes),
        ("do it", Yes),
        ("book it", Yes),
        ("of course", Yes),
        ("you bet", Yes),
        ("for sure", Yes),
        ("you got it", Yes),
        ("all right", Yes),
        ("i think so", Yes),
        ("i guess", Yes),
        ("i do", Yes),
        ("it is", Yes),
        ("no", No),
        ("nope", No),
        ("nah", No),
        ("naw", No),
        ("negative", No),
        ("incorrect", No),
        ("wrong", No),
        ("don't", No),
        ("yes", Yes),
        ("yeah", Yes),
        ("yep", Yes),
        ("yup", Yes),
        ("ya", Yes),
        ("yah", Yes),
        ("yea", Yes),
        ("yeh", Yes),
        ("yess", Yes),
        ("sure", Yes),
        ("correct", Yes),
        ("right", Yes),
        ("absolutely", Yes),
        ("definitely", Yes),
        ("certainly", Yes),
        ("exactly", Yes),
        ("affirmative", Yes),
        ("perfect", Yes),
        ("okay", Yes),
        ("alright", Yes),
        ("fine", Yes),
        ("great", Yes),
        ("please", Yes),
        ("true", Yes),
        ("confirm", Yes),
    ]
};

/// Every phrase [`yes_no`] understands, for the recogniser's yes/no grammar.
pub(crate) fn answer_phrases() -> impl Iterator<Item = &'static str> {
    PHRASES.iter().map(|(p, _)| *p)
}

/// The caller is unsure; asking again beats guessing.
const UNSURE: &[&str] = &[
    "not sure",
    "don't know",
    "do not know",
    "dunno",
    "maybe",
    "not certain",
    "i'm unsure",
];

/// A change of mind: after one of these the last answer counts ("no wait yes").
const CORRECTIONS: &[&str] = &[
    "wait",
    "sorry",
    "actually",
    "i mean",
    "i meant",
    "scratch that",
];

/// The answer in an utterance; `None` when there is none, the caller is unsure, or it
/// contradicts itself without a correction ("yeah no"): the engine asks again (or offers the
/// keypad) rather than guess.
///
/// "okay" counts as yes: this is only called after a yes/no question. A bare "one" / "two"
/// mirror the keypad (1 = yes, 2 = no), and "know" alone is the recogniser's "no".
pub fn yes_no(text: &str) -> Option<YesNo> {
    let n = normalize(text);
    if n.has_any(UNSURE) {
        return None;
    }
    match n.text().as_str() {
        "one" | "1" => return Some(YesNo::Yes),
        "two" | "2" | "know" => return Some(YesNo::No),
        _ => {}
    }
    let answers = answers(&n);
    let (&(_, first), &(_, last)) = (answers.first()?, answers.last()?);
    if answers.iter().all(|(_, a)| *a == first) {
        return Some(first);
    }
    let first_at = answers[0].0;
    let corrected = CORRECTIONS
        .iter()
        .any(|c| n.find(c).is_some_and(|at| at > first_at));
    corrected.then_some(last)
}

/// Every answer phrase in order, matched greedily from the left, longest phrase first.
fn answers(n: &Normalized) -> Vec<(usize, YesNo)> {
    let tokens = n.tokens();
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let hit = PHRASES.iter().find_map(|(phrase, answer)| {
            let words: Vec<&str> = phrase.split(' ').collect();
            let fits = tokens.len() - i >= words.len()
                && words
                    .iter()
                    .zip(&tokens[i..])
                    .all(|(w, t)| *w == t.as_str());
            fits.then_some((words.len(), *answer))
        });
        match hit {
            Some((len, answer)) => {
                found.push((i, answer));
                i += len;
            }
            None => i += 1,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use YesNo::{No, Yes};

    #[test]
    fn spoken_answers() {
        let cases: &[(&str, Option<YesNo>)] = &[
            ("yes", Some(Yes)),
            ("yeah", Some(Yes)),
            ("yep", Some(Yes)),
            ("yup", Some(Yes)),
            ("ya", Some(Yes)),
            ("yeah yeah", Some(Yes)),
            ("sure", Some(Yes)),
            ("correct", Some(Yes)),
            ("right", Some(Yes)),
            ("that's right", Some(Yes)),
            ("uh huh", Some(Yes)),
            ("mm hmm", Some(Yes)),
            ("absolutely", Some(Yes)),
            ("please do", Some(Yes)),
            ("go ahead", Some(Yes)),
            ("sounds good", Some(Yes)),
            ("okay", Some(Yes)),
            ("um yes please", Some(Yes)),
            ("yes it is", Some(Yes)),
            ("no problem", Some(Yes)),
            ("yes that's correct", Some(Yes)),
            ("no", Some(No)),
            ("nope", Some(No)),
            ("nope nope", Some(No)),
            ("nah", Some(No)),
            ("not really", Some(No)),
            ("that's wrong", Some(No)),
            ("incorrect", Some(No)),
            ("negative", Some(No)),
            ("no it's not", Some(No)),
            ("that's not right", Some(No)),
            ("no that is not correct", Some(No)),
            ("i don't think so", Some(No)),
            ("uh uh", Some(No)),
            ("know", Some(No)),
            ("no thanks", Some(No)),
            ("no wait yes", Some(Yes)),
            ("yes sorry no", Some(No)),
            ("yeah no", None),
            ("i'm not sure", None),
            ("i don't know", None),
            ("maybe", None),
            ("the furnace", None),
            ("", None),
            ("[unk]", None),
            ("one", Some(Yes)),
            ("two", Some(No)),
        ];
        for (text, want) in cases {
            assert_eq!(yes_no(text), *want, "{text:?}");
        }
    }

    #[test]
    fn keypad_answers() {
        for (key, want) in [('1', Some(Yes)), ('2', Some(No)), ('3', None), ('#', None)] {
            assert_eq!(YesNo::from_key(key), want, "{key}");
        }
    }
}
