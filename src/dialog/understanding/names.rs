//! The caller's name, said ("my name is john smith") or spelled ("j o h n"), and the spoken
//! alphabet spelling uses.

use super::normalize::normalize;

/// How a recogniser writes a letter someone spells out: the letter itself or a word that
/// sounds like it ("bee", "see", "you", "double you").
const LETTER_NAMES: &[(&str, char)] = &[
    ("bee", 'b'),
    ("be", 'b'),
    ("see", 'c'),
    ("sea", 'c'),
    ("cee", 'c'),
    ("dee", 'd'),
    ("ee", 'e'),
    ("eff", 'f'),
    ("ef", 'f'),
    ("gee", 'g'),
    ("aitch", 'h'),
    ("eye", 'i'),
    ("jay", 'j'),
    ("kay", 'k'),
    ("el", 'l'),
    ("ell", 'l'),
    ("em", 'm'),
    ("en", 'n'),
    ("oh", 'o'),
    ("pee", 'p'),
    ("cue", 'q'),
    ("queue", 'q'),
    ("ar", 'r'),
    ("are", 'r'),
    ("es", 's'),
    ("ess", 's'),
    ("tee", 't'),
    ("tea", 't'),
    ("you", 'u'),
    ("vee", 'v'),
    ("ex", 'x'),
    ("why", 'y'),
    ("zee", 'z'),
    ("zed", 'z'),
];

/// The letter a token stands for when spelling: "m" → m, "bee" → b.
pub(crate) fn spoken_letter(token: &str) -> Option<char> {
    let mut chars = token.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return c.is_ascii_lowercase().then_some(c);
    }
    LETTER_NAMES
        .iter()
        .find(|(name, _)| *name == token)
        .map(|(_, c)| *c)
}

/// The word spelled by the tokens from `start`: at least two letters, at least one written as
/// a bare letter (so "see you" is not read as "cu"). "m as in mary" counts as m; "double l"
/// as ll. Returns the word and the tokens it spans.
pub(crate) fn spelled_word(tokens: &[String], start: usize) -> Option<(String, usize)> {
    // Letter names that are everyday words ("it should be s m i t h") cannot start a spelling.
    const ORDINARY_WORDS: &[&str] = &[
        "be", "see", "sea", "you", "are", "why", "oh", "tea", "eye", "queue", "ex", "ee", "es",
    ];
    if tokens
        .get(start)
        .is_some_and(|t| ORDINARY_WORDS.contains(&t.as_str()))
    {
        return None;
    }
    let mut word = String::new();
    let mut bare = false;
    let mut i = start;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        if t == "double" {
            if let Some(c) = tokens.get(i + 1).and_then(|n| spoken_letter(n)) {
                word.push(c);
                word.push(c);
                bare |= tokens[i + 1].len() == 1;
                i += 2;
                continue;
            }
            break;
        }
        let Some(c) = spoken_letter(t) else { break };
        word.push(c);
        bare |= t.len() == 1;
        i += 1;
        // "m as in mary": the example word is not part of the spelling.
        if tokens.get(i).is_some_and(|t| t == "as")
            && tokens.get(i + 1).is_some_and(|t| t == "in")
            && i + 2 < tokens.len()
        {
            i += 3;
        } else if tokens.get(i).is_some_and(|t| t == "for") && i + 1 < tokens.len() {
            // "m for mary".
            i += 2;
        }
    }
    (word.chars().count() >= 2 && bare).then(|| (word, i - start))
}

/// The words spelled letter by letter in `text`, title-cased: "it's spelled s m y t h e" →
/// ["Smythe"]; "j o h n s m i t h" is one run → ["Johnsmith"] only when said without a pause
/// word, so callers spell one word at a time.
pub fn spelled_words(text: &str) -> Vec<String> {
    let n = normalize(text);
    let tokens = n.tokens();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match spelled_word(tokens, i) {
            Some((word, len)) => {
                out.push(surname_case(&word));
                i += len.max(1);
            }
            None => i += 1,
        }
    }
    out
}

/// Capitalises the first letter of each word: "mary ann" → "Mary Ann".
pub(crate) fn title_case(words: &str) -> String {
    words
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What callers say before their name.
const INTRODUCTIONS: &[&str] = &[
    "my name is",
    "my name's",
    "the name is",
    "name is",
    "name's",
    "this is",
    "it's",
    "it is",
    "i'm",
    "i am",
    "call me",
    "you can call me",
    "last name is",
    "first name is",
];

/// Words that end a name: "this is john calling about my furnace".
const AFTER_NAME: &[&str] = &[
    "and", "calling", "from", "at", "i", "i'm", "my", "here", "speaking", "about", "with", "on",
    "in", "the", "please", "thanks", "thank", "again", "again", "spelled", "spelt",
];

/// Words that are never a name: what follows "it's" / "i'm" when it is not an introduction.
const NOT_NAMES: &[&str] = &[
    "a",
    "an",
    "the",
    "my",
    "not",
    "no",
    "yes",
    "yeah",
    "okay",
    "calling",
    "about",
    "just",
    "so",
    "very",
    "really",
    "too",
    "cold",
    "hot",
    "freezing",
    "broken",
    "leaking",
    "out",
    "working",
    "fine",
    "good",
    "here",
    "home",
    "sorry",
    "still",
    "gonna",
    "going",
    "trying",
    "looking",
    "having",
    "at",
    "on",
    "in",
    "is",
    "was",
    "been",
    "that",
    "this",
    "it",
    "what",
    "who",
    "why",
    "how",
    "when",
    "where",
    "furnace",
    "heat",
    "ac",
    "air",
    "gas",
    "smoke",
    "water",
    "there",
    "we",
    "they",
    "he",
    "she",
    "you",
    "all",
    "done",
    "ready",
    "sure",
    "hello",
    "hi",
    "hey",
    "um",
    "uh",
    "like",
    "well",
    "new",
    "an",
    "regarding",
    "for",
];

/// The caller's name, title-cased: "my name is john smith" → "John Smith", "this is mary" →
/// "Mary", "j o h n" → "John", "j o h n smith" → "John Smith". A bare answer to "what is your
/// name?" ("john smith") is taken as the name; at most three words are kept.
pub fn person_name(text: &str) -> Option<String> {
    let n = normalize(text);
    let tokens = n.tokens();
    let start = INTRODUCTIONS
        .iter()
        .filter_map(|p| n.find(p).map(|at| at + p.split(' ').count()))
        .min()
        .unwrap_or(0);
    let mut words: Vec<String> = Vec::new();
    // Words that count toward the three kept ("de", "la" and "o" do not).
    let mut counted = 0;
    let mut i = start;
    while i < tokens.len() && counted < 3 {
        if let Some((spelled, len)) = spelled_word(tokens, i) {
            // "m c d o n a l d" is written as McDonald, like "mc donald".
            words.push(surname_case(&spelled));
            counted += 1;
            i += len;
            continue;
        }
        let t = tokens[i].as_str();
        let next = tokens.get(i + 1).map(String::as_str).filter(|n| {
            n.len() >= 2 && !AFTER_NAME.contains(n) && !super::numbers::starts_number(n)
        });
        // "o connor" → O'Connor, "mc donald" → McDonald (the recogniser splits them).
        if !words.is_empty() {
            if let (Some(prefix), Some(n)) = (surname_prefix(t), next) {
                words.push(format!("{prefix}{}", title_case(n)));
                counted += 1;
                i += 2;
                continue;
            }
            if PARTICLES.contains(&t) && next.is_some() {
                words.push(title_case(t));
                i += 1;
                continue;
            }
        }
        let stop = AFTER_NAME.contains(&t) || super::numbers::starts_number(t);
        if stop || (words.is_empty() && NOT_NAMES.contains(&t)) || t.len() < 2 {
            break;
        }
        words.push(surname_case(t));
        counted += 1;
        i += 1;
    }
    if words.is_empty() || NOT_NAMES.contains(&words[0].to_lowercase().as_str()) {
        return None;
    }
    Some(words.join(" "))
}

/// Surname particles kept inside a name: "maria de la cruz" → Maria De La Cruz.
const PARTICLES: &[&str] = &[
    "de", "la", "del", "della", "van", "von", "der", "da", "di", "le", "du",
];

/// A split surname prefix: "o" (O'Connor), "mc" (McDonald).
fn surname_prefix(token: &str) -> Option<&'static str> {
    match token {
        "o" => Some("O'"),
        "mc" => Some("Mc"),
        _ => None,
    }
}

/// One name word as it is written: "o'connor" → O'Connor, "mcdonald" → McDonald.
fn surname_case(word: &str) -> String {
    if let Some((head, tail)) = word.split_once('\'') {
        if head == "o" && !tail.is_empty() {
            return format!("O'{}", title_case(tail));
        }
    }
    match word.strip_prefix("mc") {
        Some(rest) if rest.len() >= 3 => format!("Mc{}", title_case(rest)),
        _ => title_case(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("my name is john smith", Some("John Smith")),
            ("this is mary", Some("Mary")),
            ("it's bob jones", Some("Bob Jones")),
            ("um hi this is mary calling about my furnace", Some("Mary")),
            ("i'm dave", Some("Dave")),
            ("john smith", Some("John Smith")),
            ("j o h n", Some("John")),
            ("j o h n smith", Some("John Smith")),
            ("my name is jay oh aitch n", Some("John")),
            ("it's s m i t h", Some("Smith")),
            ("m as in mary a r k", Some("Mark")),
            ("b o b b y", Some("Bobby")),
            ("a l l e n", Some("Allen")),
            ("a double l e n", Some("Allen")),
            ("my name is maria de la cruz", Some("Maria De La Cruz")),
            ("its mary o connor", Some("Mary O'Connor")),
            ("this is sean o'connor", Some("Sean O'Connor")),
            ("it's angus mc donald", Some("Angus McDonald")),
            ("angus mcdonald", Some("Angus McDonald")),
            ("de la cruz", Some("De La Cruz")),
            ("yes this is john", Some("John")),
            ("my name's anne marie", Some("Anne Marie")),
            ("it's cold in here", None),
            ("i'm calling about my furnace", None),
            ("this is about my heat", None),
            ("the furnace is out", None),
            ("", None),
            ("um", None),
            ("one twenty three maple", None),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(text, want)| (text, person_name(text), want.map(str::to_string)))
            .filter(|(_, got, want)| got != want)
            .collect();
        assert!(wrong.is_empty(), "(text, got, want): {wrong:#?}");
    }

    #[test]
    fn spelling() {
        let cases: &[(&str, Option<(&str, usize)>)] = &[
            ("m a p l e", Some(("maple", 5))),
            ("m a p l e street", Some(("maple", 5))),
            ("see you", None),
            ("m", None),
            ("double you", None),
            ("o a k", Some(("oak", 3))),
            ("be s m i t h", None),
            ("s m i t h", Some(("smith", 5))),
        ];
        for (text, want) in cases {
            let n = normalize(text);
            let got = spelled_word(n.tokens(), 0);
            assert_eq!(
                got.as_ref().map(|(w, l)| (w.as_str(), *l)),
                *want,
                "{text:?}"
            );
        }
        assert_eq!(title_case("martin luther king"), "Martin Luther King");
    }

    #[test]
    fn spelled_words_in_a_correction() {
        assert_eq!(spelled_words("it's spelled s m y t h e"), vec!["Smythe"]);
        assert_eq!(spelled_words("can you spell that"), Vec::<String>::new());
        assert_eq!(spelled_words("no it's j o n"), vec!["Jon"]);
        assert_eq!(spelled_words("m c d o n a l d"), vec!["McDonald"]);
        assert_eq!(
            person_name("my name is angus m c d o n a l d").as_deref(),
            Some("Angus McDonald")
        );
    }
}
