//! What the box says and hears on a post-job survey call. **Sans-I/O**, like the engine: the
//! outbound call (telephony's user agent client, run by `crate::app`) speaks each
//! [`SurveyAction::Say`], listens as asked, and feeds back what came
//! ([`SurveyInput`]); [`SurveyScript::result`] is what the call came to.
//!
//! The question: a rating 1-5 by keypad or voice, 9 (or "never call again") to be taken off
//! the list; one re-prompt, then a polite goodbye; after a rating, an optional comment.
//! In the shop's survey language (`[survey] language`): English, or Spanish with its own
//! prompts and rating words ([`SurveyScript::in_language`]).

use std::time::Duration;

use super::engine::Language;

/// What the call hands the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyInput {
    Digit(char),
    /// What the recogniser heard (lowercase words).
    Heard(String),
    /// The listen timed out with nothing.
    NoInput,
    /// The customer hung up.
    HungUp,
}

/// What the call does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyAction {
    Say(String),
    /// Listen for a rating: keypad or a short answer.
    ListenRating {
        timeout: Duration,
    },
    /// Listen for a free comment (open vocabulary), up to `max`.
    ListenComment {
        max: Duration,
    },
    Hangup,
}

/// What the call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyResult {
    Rated { rating: u8, comment: Option<String> },
    NeverCallAgain,
    NoRating,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    NotStarted,
    Rating { tries: u8 },
    Comment { rating: u8 },
    Done,
}

/// The words a spoken rating may be, in the speech model's language: the rating turn's
/// grammar, and what the script reads a heard answer by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingWords {
    /// Each phrase with the rating (1-5) it means.
    ratings: Vec<(String, u8)>,
    /// Phrases that take the number off the list (like pressing 9).
    never: Vec<String>,
}

impl RatingWords {
    /// `ratings` outside 1-5 are dropped; phrases are lowercased and trimmed.
    pub fn new<S: AsRef<str>>(
        ratings: impl IntoIterator<Item = (S, u8)>,
        never: impl IntoIterator<Item = S>,
    ) -> RatingWords {
        let clean = |s: &str| s.trim().to_lowercase();
        RatingWords {
            ratings: ratings
                .into_iter()
                .filter(|(_, n)| (1..=5).contains(n))
                .map(|(p, n)| (clean(p.as_ref()), n))
                .filter(|(p, _)| !p.is_empty())
                .collect(),
            never: never
                .into_iter()
                .map(|p| clean(p.as_ref()))
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// English: "one" to "five", and "never call again" / "stop calling".
    pub fn english() -> RatingWords {
        RatingWords::new(
            [
                ("one", 1),
                ("two", 2),
                ("three", 3),
                ("four", 4),
                ("five", 5),
            ],
            ["never call again", "stop calling"],
        )
    }

    /// Spanish: "uno" to "cinco", and "no me llamen" / "no vuelvan a llamar" / "nunca".
    pub fn spanish() -> RatingWords {
        RatingWords::new(
            [
                ("uno", 1),
                ("una", 1),
                ("dos", 2),
                ("tres", 3),
                ("cuatro", 4),
                ("cinco", 5),
            ],
            ["no me llamen", "no vuelvan a llamar", "nunca"],
        )
    }

    /// The rating words of `language`.
    pub fn of(language: Language) -> RatingWords {
        match language {
            Language::English => RatingWords::english(),
            Language::Spanish => RatingWords::spanish(),
        }
    }

    /// The rating turn's grammar: every phrase once.
    pub fn grammar(&self) -> Vec<String> {
        let mut phrases: Vec<String> = self
            .ratings
            .iter()
            .map(|(p, _)| p.clone())
            .chain(self.never.iter().cloned())
            .collect();
        phrases.dedup();
        phrases
    }

    fn rating(&self, word: &str) -> Option<u8> {
        self.ratings
            .iter()
            .find(|(p, _)| p == word)
            .map(|(_, n)| *n)
    }
}

impl Default for RatingWords {
    fn default() -> Self {
        RatingWords::english()
    }
}

/// One survey call's script.
#[derive(Debug, Clone)]
pub struct SurveyScript {
    shop_name: String,
    step: Step,
    result: Option<SurveyResult>,
    /// No recogniser on the call: the rating by keypad only, no comment asked for.
    keypad_only: bool,
    words: RatingWords,
    language: Language,
}

/// One of the lines the script says, in its language.
#[derive(Debug, Clone, Copy)]
enum Line<'a> {
    Opening { shop: &'a str },
    Reprompt,
    AskComment,
    ThanksForComment,
    Thanks,
    ThanksForRating,
    NeverAgain,
    NoRating,
}

const RATING_TIMEOUT: Duration = Duration::from_secs(8);
const COMMENT_MAX: Duration = Duration::from_secs(30);

impl SurveyScript {
    pub fn new(shop_name: &str) -> SurveyScript {
        SurveyScript {
            shop_name: shop_name.trim().to_string(),
            step: Step::NotStarted,
            result: None,
            keypad_only: false,
            words: RatingWords::english(),
            language: Language::English,
        }
    }

    /// The script in `language`: its prompts and its rating words (a model's own words,
    /// [`SurveyScript::with_words`], may follow).
    pub fn in_language(mut self, language: Language) -> SurveyScript {
        self.language = language;
        self.words = RatingWords::of(language);
        self
    }

    /// The script's language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// `line` in the script's language.
    fn line(&self, line: Line<'_>) -> String {
        let spanish = self.language == Language::Spanish;
        let keypad = self.keypad_only;
        match (line, spanish) {
            (Line::Opening { shop }, false) => {
                let answer = if keypad {
                    "Press a number"
                } else {
                    "Press or say a number"
                };
                format!(
                    "Hi, this is {shop}'s automated line, calling about your recent service \
                     visit. On a scale of one to five, how did we do? {answer} from one to five. \
                     To never get these calls again, press nine."
                )
            }
            (Line::Opening { shop }, true) => {
                let answer = if keypad {
                    "Oprima un número"
                } else {
                    "Oprima o diga un número"
                };
                format!(
                    "Hola, le llama la línea automática de {shop} por su visita de servicio \
                     reciente. Del uno al cinco, ¿cómo lo hicimos? {answer} del uno al cinco. \
                     Para no recibir más estas llamadas, oprima nueve."
                )
            }
            (Line::Reprompt, false) => {
                let answer = if keypad { "press" } else { "press or say" };
                format!(
                    "Please {answer} a number from one to five, or press nine to never be \
                     called again."
                )
            }
            (Line::Reprompt, true) => {
                let answer = if keypad { "oprima" } else { "oprima o diga" };
                format!(
                    "Por favor, {answer} un número del uno al cinco, u oprima nueve para no \
                     recibir más llamadas."
                )
            }
            (Line::AskComment, false) => {
                "Thank you. If you'd like to tell us more, say it now; or just hang up.".into()
            }
            (Line::AskComment, true) => {
                "Gracias. Si quiere contarnos algo más, dígalo ahora; o simplemente cuelgue.".into()
            }
            (Line::ThanksForComment, false) => "Thank you, we'll pass that on. Goodbye.".into(),
            (Line::ThanksForComment, true) => {
                "Gracias, se lo pasaremos a la oficina. Adiós.".into()
            }
            (Line::Thanks, false) => "Thank you. Goodbye.".into(),
            (Line::Thanks, true) => "Gracias. Adiós.".into(),
            (Line::ThanksForRating, false) => "Thank you for your rating. Goodbye.".into(),
            (Line::ThanksForRating, true) => "Gracias por su calificación. Adiós.".into(),
            (Line::NeverAgain, false) => "Understood. We won't call you again. Goodbye.".into(),
            (Line::NeverAgain, true) => "Entendido. No le volveremos a llamar. Adiós.".into(),
            (Line::NoRating, false) => "No problem. Thank you for choosing us. Goodbye.".into(),
            (Line::NoRating, true) => "No hay problema. Gracias por preferirnos. Adiós.".into(),
        }
    }

    /// The script for a recogniser whose language says the ratings with `words`.
    pub fn with_words(mut self, words: RatingWords) -> SurveyScript {
        self.words = words;
        self
    }

    /// The rating turn's grammar.
    pub fn rating_grammar(&self) -> Vec<String> {
        self.words.grammar()
    }

    /// The script for a call without a recogniser: "press a number", and no comment asked
    /// for (nothing would hear it).
    pub fn keypad_only(shop_name: &str) -> SurveyScript {
        SurveyScript {
            keypad_only: true,
            ..SurveyScript::new(shop_name)
        }
    }

    /// The opening: who is calling, why, and the question.
    pub fn start(&mut self) -> Vec<SurveyAction> {
        self.step = Step::Rating { tries: 0 };
        let shop = match (self.shop_name.is_empty(), self.language) {
            (true, Language::English) => "your heating and cooling company",
            (true, Language::Spanish) => "su compañía de calefacción y aire acondicionado",
            (false, _) => &self.shop_name,
        };
        vec![
            SurveyAction::Say(self.line(Line::Opening { shop })),
            SurveyAction::ListenRating {
                timeout: RATING_TIMEOUT,
            },
        ]
    }

    pub fn handle(&mut self, input: SurveyInput) -> Vec<SurveyAction> {
        match (self.step, input) {
            (Step::Done | Step::NotStarted, _) => vec![],
            (Step::Rating { .. }, SurveyInput::HungUp) => self.finish(SurveyResult::NoRating, None),
            (Step::Comment { rating }, SurveyInput::HungUp) => self.finish(
                SurveyResult::Rated {
                    rating,
                    comment: None,
                },
                None,
            ),
            (Step::Comment { rating }, SurveyInput::NoInput) => self.finish(
                SurveyResult::Rated {
                    rating,
                    comment: None,
                },
                Some(Line::Thanks),
            ),
            (Step::Comment { rating }, SurveyInput::Heard(text)) => {
                let comment = Some(text.trim().to_string()).filter(|c| !c.is_empty());
                self.finish(
                    SurveyResult::Rated { rating, comment },
                    Some(Line::ThanksForComment),
                )
            }
            (Step::Comment { rating }, SurveyInput::Digit(_)) => self.finish(
                SurveyResult::Rated {
                    rating,
                    comment: None,
                },
                Some(Line::Thanks),
            ),
            (Step::Rating { tries }, input) => match read_answer(&input, &self.words) {
                Some(Answer::Rating(rating)) if self.keypad_only => self.finish(
                    SurveyResult::Rated {
                        rating,
                        comment: None,
                    },
                    Some(Line::ThanksForRating),
                ),
                Some(Answer::Rating(rating)) => {
                    self.step = Step::Comment { rating };
                    vec![
                        SurveyAction::Say(self.line(Line::AskComment)),
                        SurveyAction::ListenComment { max: COMMENT_MAX },
                    ]
                }
                Some(Answer::Never) => {
                    self.finish(SurveyResult::NeverCallAgain, Some(Line::NeverAgain))
                }
                None if tries == 0 => {
                    self.step = Step::Rating { tries: 1 };
                    vec![
                        SurveyAction::Say(self.line(Line::Reprompt)),
                        SurveyAction::ListenRating {
                            timeout: RATING_TIMEOUT,
                        },
                    ]
                }
                None => self.finish(SurveyResult::NoRating, Some(Line::NoRating)),
            },
        }
    }

    /// What the call came to, once it is over.
    pub fn result(&self) -> Option<&SurveyResult> {
        self.result.as_ref()
    }

    fn finish(&mut self, result: SurveyResult, goodbye: Option<Line<'_>>) -> Vec<SurveyAction> {
        self.step = Step::Done;
        self.result = Some(result);
        let mut out = Vec::new();
        if let Some(g) = goodbye {
            out.push(SurveyAction::Say(self.line(g)));
        }
        out.push(SurveyAction::Hangup);
        out
    }
}

enum Answer {
    Rating(u8),
    Never,
}

fn read_answer(input: &SurveyInput, spoken: &RatingWords) -> Option<Answer> {
    match input {
        SurveyInput::Digit('9') => Some(Answer::Never),
        SurveyInput::Digit(d) => d
            .to_digit(10)
            .and_then(|n| u8::try_from(n).ok())
            .filter(|n| (1..=5).contains(n))
            .map(Answer::Rating),
        SurveyInput::Heard(text) => {
            let text = text.trim().to_lowercase();
            if spoken.never.iter().any(|p| text.contains(p.as_str())) {
                return Some(Answer::Never);
            }
            if let Some(n) = spoken.rating(&text) {
                return Some(Answer::Rating(n));
            }
            if [
                "never",
                "stop calling",
                "don't call",
                "do not call",
                "remove me",
            ]
            .iter()
            .any(|p| text.contains(p))
            {
                return Some(Answer::Never);
            }
            let words: Vec<&str> = text
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            let number = |w: &str| match w {
                _ if spoken.rating(w).is_some() => spoken.rating(w),
                "1" | "one" => Some(1),
                "2" | "two" => Some(2),
                "3" | "three" => Some(3),
                "4" | "four" => Some(4),
                "5" | "five" => Some(5),
                _ => None,
            };
            // The last number said ("four, maybe five" → 5); "to"/"for" only said alone.
            words
                .iter()
                .rev()
                .find_map(|w| number(w))
                .or(match words.as_slice() {
                    ["to" | "too"] => Some(2),
                    ["for"] => Some(4),
                    _ => None,
                })
                .map(Answer::Rating)
        }
        SurveyInput::NoInput | SurveyInput::HungUp => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn says(actions: &[SurveyAction]) -> String {
        actions
            .iter()
            .filter_map(|a| match a {
                SurveyAction::Say(s) => Some(s.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_keypad_rating_and_a_spoken_comment() {
        let mut s = SurveyScript::new("Acme Heating");
        let open = s.start();
        assert!(says(&open).contains("Acme Heating"));
        assert!(says(&open).contains("press nine"));
        let next = s.handle(SurveyInput::Digit('4'));
        assert!(matches!(
            next.last(),
            Some(SurveyAction::ListenComment { .. })
        ));
        let end = s.handle(SurveyInput::Heard("the technician was great".into()));
        assert_eq!(end.last(), Some(&SurveyAction::Hangup));
        assert_eq!(
            s.result(),
            Some(&SurveyResult::Rated {
                rating: 4,
                comment: Some("the technician was great".into())
            })
        );
    }

    #[test]
    fn a_spoken_rating_then_hang_up() {
        let mut s = SurveyScript::new("Acme");
        s.start();
        s.handle(SurveyInput::Heard("i'd say five".into()));
        assert_eq!(s.handle(SurveyInput::HungUp), vec![SurveyAction::Hangup]);
        assert_eq!(
            s.result(),
            Some(&SurveyResult::Rated {
                rating: 5,
                comment: None
            })
        );
    }

    #[test]
    fn keypad_only_asks_no_comment() {
        let mut s = SurveyScript::keypad_only("Acme");
        let open = says(&s.start());
        assert!(open.contains("Press a number from one to five"), "{open}");
        assert!(!open.contains("say a number"), "{open}");
        let end = s.handle(SurveyInput::Digit('3'));
        assert_eq!(end.last(), Some(&SurveyAction::Hangup));
        assert!(!end
            .iter()
            .any(|a| matches!(a, SurveyAction::ListenComment { .. })));
        assert_eq!(
            s.result(),
            Some(&SurveyResult::Rated {
                rating: 3,
                comment: None
            })
        );
    }

    #[test]
    fn nine_or_never_takes_the_number_off_the_list() {
        for input in [
            SurveyInput::Digit('9'),
            SurveyInput::Heard("please never call me again".into()),
        ] {
            let mut s = SurveyScript::new("Acme");
            s.start();
            let end = s.handle(input);
            assert!(says(&end).contains("won't call you again"));
            assert_eq!(s.result(), Some(&SurveyResult::NeverCallAgain));
        }
    }

    #[test]
    fn one_reprompt_then_goodbye_without_a_rating() {
        let mut s = SurveyScript::new("Acme");
        s.start();
        let again = s.handle(SurveyInput::Digit('7'));
        assert!(says(&again).contains("one to five"));
        assert!(s.result().is_none());
        let end = s.handle(SurveyInput::NoInput);
        assert_eq!(end.last(), Some(&SurveyAction::Hangup));
        assert_eq!(s.result(), Some(&SurveyResult::NoRating));
        // "thanks for coming" is not a rating of 4.
        let mut s = SurveyScript::new("Acme");
        s.start();
        s.handle(SurveyInput::Heard("thanks for coming".into()));
        assert!(s.result().is_none());
    }

    /// `[survey] language = "es"`: Spanish prompts, Spanish rating words (the grammar),
    /// "no me llamen" off the list; keys as in English.
    #[test]
    fn a_spanish_survey_speaks_and_hears_spanish() {
        let mut s = SurveyScript::new("Acme").in_language(Language::Spanish);
        assert_eq!(s.language(), Language::Spanish);
        let open = says(&s.start());
        assert!(
            open.contains("Oprima o diga un número del uno al cinco"),
            "{open}"
        );
        assert!(open.contains("oprima nueve"), "{open}");
        assert!(!open.contains("press"), "{open}");
        assert_eq!(
            s.rating_grammar(),
            vec![
                "uno",
                "una",
                "dos",
                "tres",
                "cuatro",
                "cinco",
                "no me llamen",
                "no vuelvan a llamar",
                "nunca"
            ]
        );
        let next = s.handle(SurveyInput::Heard("eh creo que cuatro".into()));
        assert!(says(&next).contains("contarnos algo más"), "{next:?}");
        let end = s.handle(SurveyInput::Heard("el técnico fue muy amable".into()));
        assert!(says(&end).contains("Adiós"), "{end:?}");
        assert_eq!(
            s.result(),
            Some(&SurveyResult::Rated {
                rating: 4,
                comment: Some("el técnico fue muy amable".into())
            })
        );

        let mut s = SurveyScript::new("").in_language(Language::Spanish);
        assert!(says(&s.start()).contains("su compañía de calefacción"));
        let end = s.handle(SurveyInput::Heard("por favor no me llamen más".into()));
        assert!(says(&end).contains("No le volveremos a llamar"), "{end:?}");
        assert_eq!(s.result(), Some(&SurveyResult::NeverCallAgain));

        // Keypad-only in Spanish: a key rates, a miss re-prompts in Spanish, then goodbye.
        let mut s = SurveyScript::keypad_only("Acme").in_language(Language::Spanish);
        let open = says(&s.start());
        assert!(open.contains("Oprima un número"), "{open}");
        let again = says(&s.handle(SurveyInput::Digit('7')));
        assert!(again.contains("Por favor, oprima un número"), "{again}");
        let end = says(&s.handle(SurveyInput::Digit('5')));
        assert!(end.contains("Gracias por su calificación"), "{end}");
        assert_eq!(
            s.result(),
            Some(&SurveyResult::Rated {
                rating: 5,
                comment: None
            })
        );
        // A word that is no number is no rating.
        let mut s = SurveyScript::new("Acme").in_language(Language::Spanish);
        s.start();
        s.handle(SurveyInput::Heard("gracias".into()));
        assert!(s.result().is_none());
    }

    #[test]
    fn a_models_own_rating_words_are_the_grammar_and_are_read() {
        let words = RatingWords::new([("하나", 1), ("둘", 2), ("넷", 4), ("열", 10)], ["그만"]);
        let mut s = SurveyScript::new("Acme").with_words(words);
        assert_eq!(s.rating_grammar(), vec!["하나", "둘", "넷", "그만"]);
        s.start();
        s.handle(SurveyInput::Heard(" 넷 ".into()));
        s.handle(SurveyInput::NoInput);
        assert_eq!(
            s.result(),
            Some(&SurveyResult::Rated {
                rating: 4,
                comment: None
            })
        );
        let mut s = SurveyScript::new("Acme").with_words(RatingWords::new([("둘", 2)], ["그만"]));
        s.start();
        s.handle(SurveyInput::Heard("그만".into()));
        assert_eq!(s.result(), Some(&SurveyResult::NeverCallAgain));
        // A grammar miss (empty or [unk]) is no rating: the question is asked again.
        let mut s = SurveyScript::new("Acme").with_words(RatingWords::english());
        s.start();
        let again = s.handle(SurveyInput::Heard(String::new()));
        assert!(says(&again).contains("press or say"), "{again:?}");
        assert!(s.result().is_none());
        assert!(RatingWords::english()
            .grammar()
            .contains(&"four".to_string()));
    }
}
