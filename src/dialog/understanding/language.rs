//! A caller who speaks Spanish: "hola", "habla español", "no hablo inglés", "spanish please".
//!
//! The box's recogniser is an English model, so what it writes for Spanish speech is a guess:
//! the cues are the words an English model (or a caller switching to English for one word)
//! plausibly produces, with and without accents. A caller it misses still reaches Spanish by
//! the keypad (the keypad menu ends "para español, oprima asterisco").

use super::normalize::normalize;

/// Phrases that ask for Spanish (accents folded before matching).
const SPANISH_CUES: &[&str] = &[
    "hola",
    "espanol",
    "en espanol",
    "habla espanol",
    "hablo espanol",
    "no hablo ingles",
    "no hablo english",
    "spanish",
    "in spanish",
    "speak spanish",
    "senor",
    "senora",
    "buenas noches",
    "buenos dias",
    "buenas tardes",
];

/// Spanish accents folded ("español" → "espanol"), as callers' text and recognisers may or
/// may not write them.
pub fn fold_accents(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'Ó' => 'o',
            'ú' | 'Ú' | 'ü' | 'Ü' => 'u',
            'ñ' | 'Ñ' => 'n',
            c => c,
        })
        .collect()
}

/// Whether the caller asked for (or spoke) Spanish.
pub fn wants_spanish(text: &str) -> bool {
    let n = normalize(&fold_accents(text));
    // "no spanish" / "not spanish" is an English speaker saying what they do not want.
    if n.has_any(&[
        "no spanish",
        "not spanish",
        "don't speak spanish",
        "english please",
    ]) {
        return false;
    }
    n.has_any(SPANISH_CUES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanish_cues_as_a_recogniser_writes_them() {
        for said in [
            "hola",
            "hola buenas noches",
            "habla español",
            "habla espanol",
            "uh no hablo inglés",
            "no hablo ingles",
            "spanish please",
            "do you have someone who speaks spanish",
            "en español por favor",
        ] {
            assert!(wants_spanish(said), "{said}");
        }
    }

    #[test]
    fn english_callers_are_not_sent_to_spanish() {
        for said in [
            "my furnace is not working",
            "hello",
            "i don't speak spanish",
            "no spanish english please",
            "the heat is out at my house on espanola drive",
            "",
        ] {
            assert!(!wants_spanish(said), "{said}");
        }
    }
}
