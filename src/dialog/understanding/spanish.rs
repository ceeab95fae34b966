//! What a Spanish-speaking caller answered, as a Spanish recogniser writes it (`[speech]
//! spanish_model`): lowercase words, numbers as words ("tres uno dos", "treinta y uno"),
//! accents present or not, fillers ("eh", "este", "pues").
//!
//! Only the Spanish branch's questions are read here: the menu (emergencia, llamada,
//! mensaje), sí or no, and a phone number. The English readers ([`super::normalize()`] and
//! the rest) are not used on Spanish text: they collapse "cinco cinco" and know English
//! words only.

use super::language::fold_accents;
use super::triage::SafetyHazard;
use super::yes_no::YesNo;

/// Hesitations a Spanish speaker fills with.
const FILLERS: &[&str] = &[
    "eh", "ehh", "em", "mm", "mmm", "este", "pues", "bueno", "o sea",
];

/// Lowercase, accent-folded word tokens without fillers (never collapsed: digits repeat).
fn words(text: &str) -> Vec<String> {
    fold_accents(&text.to_lowercase())
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && *w != "unk" && !FILLERS.contains(w))
        .map(str::to_string)
        .collect()
}

fn has_phrase(words: &[String], phrase: &str) -> bool {
    let want: Vec<&str> = phrase.split(' ').collect();
    words
        .windows(want.len())
        .any(|w| w.iter().zip(&want).all(|(a, b)| a == b))
}

/// Sí or no ("sí", "claro", "así es", "no, otro número"); `None` when it is neither or both.
pub fn si_no(text: &str) -> Option<YesNo> {
    const YES: &[&str] = &[
        "si",
        "claro",
        "correcto",
        "exacto",
        "asi es",
        "eso es",
        "esta bien",
        "de acuerdo",
        "por supuesto",
        "okay",
        "ok",
        "vale",
    ];
    const NO: &[&str] = &[
        "no",
        "incorrecto",
        "otro numero",
        "otro telefono",
        "equivocado",
    ];
    let w = words(text);
    let yes = YES.iter().any(|p| has_phrase(&w, p));
    // "sí, no hay problema": a yes that goes on; "no" first is a no.
    let no = NO.iter().any(|p| has_phrase(&w, p));
    match (yes, no) {
        (true, false) => Some(YesNo::Yes),
        (false, true) => Some(YesNo::No),
        (true, true) => match w.first().map(String::as_str) {
            Some("si") | Some("claro") => Some(YesNo::Yes),
            Some("no") => Some(YesNo::No),
            _ => None,
        },
        (false, false) => None,
    }
}

/// The Spanish keypad menu by voice: 1 an emergency, 2 a call from the office, 3 a message
/// (the number itself, spoken, counts too).
pub fn menu_choice(text: &str) -> Option<char> {
    let w = words(text);
    let any = |ps: &[&str]| ps.iter().any(|p| has_phrase(&w, p));
    let emergency = any(&["emergencia", "urgencia", "urgente", "uno", "tecnico"]);
    let call = any(&["llamada", "llamar", "llamen", "llame", "llamenme", "dos"]);
    let message = any(&["mensaje", "recado", "tres"]);
    match (emergency, call, message) {
        (true, false, false) => Some('1'),
        (false, true, false) => Some('2'),
        (false, false, true) => Some('3'),
        // "llame al técnico de urgencia" names an emergency first.
        (true, true, false) if any(&["emergencia", "urgencia", "urgente"]) => Some('1'),
        _ => None,
    }
}

/// Spanish safety cues in priority order (accents folded), as `triage`'s English ones: high
/// recall, the first hazard found wins the script.
const HAZARD_CUES: &[(SafetyHazard, &[&str])] = &[
    (
        SafetyHazard::Gas,
        &[
            "gas",
            "huele a gas",
            "olor a gas",
            "fuga de gas",
            "huevo podrido",
            "huevos podridos",
        ],
    ),
    (
        SafetyHazard::CarbonMonoxide,
        &["monoxido", "alarma de monoxido", "detector de monoxido"],
    ),
    (SafetyHazard::Smoke, &["humo", "humareda"]),
    (
        SafetyHazard::Burning,
        &[
            "quemado",
            "olor a quemado",
            "se quema",
            "se esta quemando",
            "llamas",
            "fuego",
        ],
    ),
    (
        SafetyHazard::Sparking,
        &["chispas", "chispa", "chispea", "chispazos"],
    ),
];

/// Clear negations ("no huele a gas", "no hay humo"): only these take a cue back.
const NEGATIONS: &[&str] = &[
    "no huele a gas",
    "no hay gas",
    "no es gas",
    "no hay humo",
    "no sale humo",
    "no huele a quemado",
    "no hay chispas",
];

/// A safety hazard in what a Spanish-speaking caller said: the safety script before anything
/// else, as for English callers.
pub fn hazard(text: &str) -> Option<SafetyHazard> {
    let w = words(text);
    let mut cleared: Vec<String> = w.clone();
    // Take out the clearly negated phrases, then look for cues in what is left.
    for negation in NEGATIONS {
        let n: Vec<&str> = negation.split(' ').collect();
        let mut i = 0;
        while i + n.len() <= cleared.len() {
            if cleared[i..i + n.len()].iter().zip(&n).all(|(a, b)| a == b) {
                cleared.drain(i..i + n.len());
            } else {
                i += 1;
            }
        }
    }
    HAZARD_CUES
        .iter()
        .find(|(_, cues)| cues.iter().any(|c| has_phrase(&cleared, c)))
        .map(|(h, _)| *h)
}

/// A single digit's word.
fn unit(word: &str) -> Option<u32> {
    Some(match word {
        "cero" => 0,
        "uno" | "una" | "un" => 1,
        "dos" => 2,
        "tres" => 3,
        "cuatro" => 4,
        "cinco" => 5,
        "seis" => 6,
        "siete" => 7,
        "ocho" => 8,
        "nueve" => 9,
        _ => return None,
    })
}

/// Ten to twenty-nine, written as one word ("quince", "veintitrés").
fn teen_or_twenties(word: &str) -> Option<u32> {
    Some(match word {
        "diez" => 10,
        "once" => 11,
        "doce" => 12,
        "trece" => 13,
        "catorce" => 14,
        "quince" => 15,
        "dieciseis" => 16,
        "diecisiete" => 17,
        "dieciocho" => 18,
        "diecinueve" => 19,
        "veinte" => 20,
        "veintiuno" | "veintiun" => 21,
        "veintidos" => 22,
        "veintitres" => 23,
        "veinticuatro" => 24,
        "veinticinco" => 25,
        "veintiseis" => 26,
        "veintisiete" => 27,
        "veintiocho" => 28,
        "veintinueve" => 29,
        _ => return None,
    })
}

/// Thirty to ninety, the tens that take "y" and a unit ("treinta y uno").
fn tens(word: &str) -> Option<u32> {
    Some(match word {
        "treinta" => 30,
        "cuarenta" => 40,
        "cincuenta" => 50,
        "sesenta" => 60,
        "setenta" => 70,
        "ochenta" => 80,
        "noventa" => 90,
        _ => return None,
    })
}

/// The digits a caller said, in order, as a phone number or a code is read in Spanish: one
/// digit at a time ("tres uno dos"), in pairs ("treinta y uno, veinticinco, cero cuatro") or
/// both; digits the recogniser wrote as figures count too. `None` when nothing in it is a
/// number.
pub fn digits(text: &str) -> Option<String> {
    let w = words(text);
    let mut out = String::new();
    let mut i = 0;
    while i < w.len() {
        let word = w[i].as_str();
        if word.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(word);
        } else if let Some(d) = unit(word) {
            out.push_str(&d.to_string());
        } else if let Some(n) = teen_or_twenties(word) {
            out.push_str(&n.to_string());
        } else if let Some(t) = tens(word) {
            // "treinta y uno" is 31; "treinta" alone is 30.
            match (w.get(i + 1).map(String::as_str), w.get(i + 2)) {
                (Some("y"), Some(next)) if unit(next).is_some_and(|u| u > 0) => {
                    out.push_str(&(t + unit(next).unwrap_or(0)).to_string());
                    i += 2;
                }
                _ => out.push_str(&t.to_string()),
            }
        } else if word == "cien" {
            out.push_str("100");
        }
        i += 1;
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_and_no_as_a_recogniser_writes_them() {
        let cases = [
            ("sí", Some(YesNo::Yes)),
            ("si", Some(YesNo::Yes)),
            ("eh sí claro", Some(YesNo::Yes)),
            ("así es", Some(YesNo::Yes)),
            ("está bien", Some(YesNo::Yes)),
            ("no", Some(YesNo::No)),
            ("no otro número", Some(YesNo::No)),
            ("no es incorrecto", Some(YesNo::No)),
            ("sí no hay problema", Some(YesNo::Yes)),
            ("buenas noches", None),
            ("", None),
        ];
        let got: Vec<_> = cases.iter().map(|(t, _)| (*t, si_no(t))).collect();
        assert_eq!(got, cases.to_vec());
    }

    #[test]
    fn safety_hazards_in_spanish() {
        let cases = [
            ("huele a gas en la cocina", Some(SafetyHazard::Gas)),
            ("creo que hay una fuga de gas", Some(SafetyHazard::Gas)),
            ("huele a huevo podrido", Some(SafetyHazard::Gas)),
            (
                "suena la alarma de monóxido",
                Some(SafetyHazard::CarbonMonoxide),
            ),
            ("sale humo del calentador", Some(SafetyHazard::Smoke)),
            ("huele a quemado", Some(SafetyHazard::Burning)),
            ("el aparato echa chispas", Some(SafetyHazard::Sparking)),
            ("no huele a gas pero no calienta", None),
            ("no hay humo, solo hace ruido", None),
            ("no tengo calefacción", None),
            ("", None),
        ];
        let got: Vec<_> = cases.iter().map(|(t, _)| (*t, hazard(t))).collect();
        assert_eq!(got, cases.to_vec());
    }

    #[test]
    fn the_menu_by_voice() {
        let cases = [
            ("emergencia", Some('1')),
            ("es una emergencia", Some('1')),
            ("uno", Some('1')),
            ("que me llamen por favor", Some('2')),
            ("una llamada", Some('2')),
            ("dos", Some('2')),
            ("quiero dejar un mensaje", Some('3')),
            ("tres", Some('3')),
            ("llame al técnico de urgencia", Some('1')),
            ("no sé", None),
            ("", None),
        ];
        let got: Vec<_> = cases.iter().map(|(t, _)| (*t, menu_choice(t))).collect();
        assert_eq!(got, cases.to_vec());
    }

    #[test]
    fn numbers_in_spanish_words() {
        let cases = [
            (
                "tres uno dos cinco cinco cinco cero uno cuatro dos",
                Some("3125550142"),
            ),
            // In pairs, as many callers read a number.
            (
                "tres doce cincuenta y cinco cinco cero catorce dos",
                Some("3125550142"),
            ),
            (
                "siete siete tres, cinco cinco cinco, cero uno noventa y nueve",
                Some("7735550199"),
            ),
            ("treinta", Some("30")),
            ("veintitrés", Some("23")),
            ("mi número es 312 555 0142", Some("3125550142")),
            ("no sé", None),
        ];
        let got: Vec<_> = cases.iter().map(|(t, _)| (*t, digits(t))).collect();
        let want: Vec<_> = cases
            .iter()
            .map(|(t, w)| (*t, w.map(str::to_string)))
            .collect();
        assert_eq!(got, want);
    }
}
