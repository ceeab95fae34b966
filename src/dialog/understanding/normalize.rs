//! Text as the recogniser produced it, made uniform: lowercase word tokens, no fillers, no
//! stutters. Every other function in this module starts here.

/// An utterance as word tokens: lowercase, fillers and repetitions removed.
///
/// Besides dropping noise it folds a few spellings the rest of the module would otherwise
/// have to repeat everywhere: "dont" → "don't", "ok" → "okay", "uh huh" / "mm hmm" → "yes",
/// a bare "uh uh" → "no", and the recogniser's "`[unk]`" is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Normalized {
    tokens: Vec<String>,
}

impl Normalized {
    /// The word tokens, in order.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The tokens joined by single spaces.
    pub fn text(&self) -> String {
        self.tokens.join(" ")
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether `word` is one of the tokens.
    pub fn has(&self, word: &str) -> bool {
        self.tokens.iter().any(|t| t == word)
    }

    /// Where the words of `phrase` first occur together, in order.
    pub fn find(&self, phrase: &str) -> Option<usize> {
        find_phrase(&self.tokens, phrase)
    }

    /// Whether the words of `phrase` occur together, in order.
    pub fn has_phrase(&self, phrase: &str) -> bool {
        self.find(phrase).is_some()
    }

    /// Whether any of `phrases` occurs.
    pub fn has_any(&self, phrases: &[&str]) -> bool {
        phrases.iter().any(|p| self.has_phrase(p))
    }
}

/// Start of the first occurrence of `phrase`'s words in `tokens`.
pub(crate) fn find_phrase(tokens: &[String], phrase: &str) -> Option<usize> {
    let words: Vec<&str> = phrase.split_whitespace().collect();
    if words.is_empty() || words.len() > tokens.len() {
        return None;
    }
    (0..=tokens.len() - words.len()).find(|&i| {
        words
            .iter()
            .zip(&tokens[i..])
            .all(|(w, t)| *w == t.as_str())
    })
}

/// Hesitations that carry nothing anywhere in an utterance.
const FILLERS: &[&str] = &[
    "um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "ahh", "hmm", "hm", "mm", "mmm",
];

/// Discourse openers dropped at the start ("so my furnace ..."), unless they are all there is:
/// a bare "okay" is an answer.
const OPENERS: &[&str] = &[
    "so",
    "well",
    "okay",
    "like",
    "hi",
    "hello",
    "hey",
    "yo",
    "alright",
    "anyway",
    "basically",
];

/// Apostrophe-less spellings (typed text, some recogniser vocabularies) of contractions.
const CONTRACTIONS: &[(&str, &str)] = &[
    ("dont", "don't"),
    ("doesnt", "doesn't"),
    ("didnt", "didn't"),
    ("isnt", "isn't"),
    ("wasnt", "wasn't"),
    ("arent", "aren't"),
    ("wont", "won't"),
    ("cant", "can't"),
    ("couldnt", "couldn't"),
    ("wouldnt", "wouldn't"),
    ("thats", "that's"),
    ("whats", "what's"),
    ("its", "it's"),
    ("im", "i'm"),
    ("ive", "i've"),
    ("theres", "there's"),
    ("hes", "he's"),
    ("shes", "she's"),
    ("ok", "okay"),
    ("okey", "okay"),
];

/// Lowercases, splits into word tokens, drops fillers and collapses repetitions
/// ("the the furnace" → "the furnace"). Numbers, digits and single letters are never
/// collapsed: "five five five" and "b o b b y" mean every word.
pub fn normalize(text: &str) -> Normalized {
    let mut tokens = split_words(text);
    fold_backchannels(&mut tokens);
    remove_you_know(&mut tokens);
    tokens.retain(|t| !FILLERS.contains(&t.as_str()));
    while tokens.len() > 1 && OPENERS.contains(&tokens[0].as_str()) {
        tokens.remove(0);
    }
    collapse_repetitions(&mut tokens);
    Normalized { tokens }
}

/// Lowercase word tokens: letters, digits and inner apostrophes; everything else separates.
fn split_words(text: &str) -> Vec<String> {
    let lower = text.to_lowercase().replace(['\u{2019}', '`'], "'");
    lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty() && *w != "unk")
        .map(|w| {
            CONTRACTIONS
                .iter()
                .find(|(from, _)| *from == w)
                .map_or_else(|| w.to_string(), |(_, to)| (*to).to_string())
        })
        .collect()
}

/// "uh huh" and "mm hmm" are yeses that look like fillers; settle them before fillers go.
fn fold_backchannels(tokens: &mut Vec<String>) {
    const YES: &[&[&str]] = &[
        &["uh", "huh"],
        &["mm", "hmm"],
        &["mm", "hm"],
        &["mhm"],
        &["mmhmm"],
        &["uhhuh"],
        &["um", "hum"],
    ];
    const NO: &[&[&str]] = &[&["uh", "uh"], &["unh", "unh"], &["uh", "uh", "uh"]];
    // A bare "uh uh" is a no; inside a sentence it is hesitation.
    if NO
        .iter()
        .any(|p| tokens.iter().map(String::as_str).eq(p.iter().copied()))
    {
        *tokens = vec!["no".to_string()];
        return;
    }
    let mut i = 0;
    while i < tokens.len() {
        let hit = YES.iter().find(|p| {
            tokens.len() - i >= p.len() && p.iter().zip(&tokens[i..]).all(|(a, b)| *a == b)
        });
        match hit {
            Some(p) => {
                tokens.splice(i..i + p.len(), ["yes".to_string()]);
                i += 1;
            }
            None => i += 1,
        }
    }
}

/// "you know" is filler, except in "do you know" / "did you know".
fn remove_you_know(tokens: &mut Vec<String>) {
    let mut i = 0;
    while i + 1 < tokens.len() {
        let asked = i > 0 && matches!(tokens[i - 1].as_str(), "do" | "did" | "don't");
        if tokens[i] == "you" && tokens[i + 1] == "know" && !asked {
            tokens.drain(i..i + 2);
        } else {
            i += 1;
        }
    }
}

/// Tokens whose repetition means something: digits and number words (phone numbers, "five five
/// five") and single letters (spelled names).
fn repetition_is_meaningful(token: &str) -> bool {
    token.chars().count() == 1
        || token.chars().all(|c| c.is_ascii_digit())
        || super::numbers::is_number_word(token)
}

/// Collapses stutters: an n-gram (n = 3, 2, 1) said twice in a row is kept once.
fn collapse_repetitions(tokens: &mut Vec<String>) {
    for n in (1..=3).rev() {
        let mut i = 0;
        while i + 2 * n <= tokens.len() {
            let same = tokens[i..i + n] == tokens[i + n..i + 2 * n];
            let meaningful = tokens[i..i + n].iter().all(|t| repetition_is_meaningful(t));
            if same && !meaningful {
                tokens.drain(i + n..i + 2 * n);
            } else {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_recogniser_output() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("`[unk]`", ""),
            ("Yes.", "yes"),
            ("um yeah", "yeah"),
            ("uh the the furnace is is out", "the furnace is out"),
            ("so um my heat is out", "my heat is out"),
            ("well okay so the ac quit", "the ac quit"),
            ("okay", "okay"),
            ("ok", "okay"),
            (
                "like my furnace is making a noise",
                "my furnace is making a noise",
            ),
            ("it smells like rotten eggs", "it smells like rotten eggs"),
            ("it's uh you know leaking", "it's leaking"),
            (
                "do you know when he is coming",
                "do you know when he is coming",
            ),
            (
                "five five five one two one two",
                "five five five one two one two",
            ),
            ("b o b b y", "b o b b y"),
            ("five five one two one two", "five five one two one two"),
            ("five five five", "five five five"),
            ("i smell i smell gas", "i smell gas"),
            (
                "the furnace the furnace is sparking",
                "the furnace is sparking",
            ),
            ("yeah yeah", "yeah"),
            ("nope nope", "nope"),
            ("no no no", "no"),
            ("uh huh", "yes"),
            ("mm hmm that's right", "yes that's right"),
            ("uh uh", "no"),
            ("uh uh i smell gas", "i smell gas"),
            ("I DONT smell gas", "i don't smell gas"),
            ("that\u{2019}s right", "that's right"),
            ("a/c not working", "a c not working"),
            ("one-twenty-three maple st.", "one twenty three maple st"),
            ("hello my name is john", "my name is john"),
            ("hello", "hello"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input).text(), *want, "input {input:?}");
        }
    }

    #[test]
    fn phrase_lookup() {
        let n = normalize("i smell gas in the basement");
        assert!(n.has("gas"));
        assert!(n.has_phrase("smell gas"));
        assert!(!n.has_phrase("gas smell"));
        assert_eq!(n.find("the basement"), Some(4));
        assert!(n.has_any(&["no heat", "in the"]));
        assert!(!n.has_phrase(""));
    }
}
