//! The Spanish branch by voice (`[speech] spanish_model` loaded, `Script::spanish_speech`):
//! the menu said or keyed, what is wrong in the caller's own words (kept in the record as
//! said), then the number to call back on (sí/no to caller ID, or the number said in Spanish
//! words or keyed), then the page or the callback. Without a Spanish model the branch is the
//! keypad menu of `Dialog::spanish_menu_turn`.

use super::{u, Action, Answer, Dialog, Goal, Keypad, Pending, SafetyHazard, Step, YesNo};

/// The Spanish branch's own questions (their re-prompts stay in Spanish).
pub(super) fn is_spanish_step(step: Step) -> bool {
    matches!(
        step,
        Step::SpanishMenu
            | Step::SpanishProblem
            | Step::SpanishConfirmPhone
            | Step::SpanishAskPhone
    )
}

/// The Spanish menu when the box hears Spanish.
const MENU_BY_VOICE: &str = "Hola, soy un asistente automático. Si huele a gas o ve humo, \
     salga de la casa y llame al 911. Para una emergencia, diga emergencia u oprima 1. Para \
     que la oficina le llame, diga llamada u oprima 2. Para dejar un mensaje, diga mensaje u \
     oprima 3.";

impl Dialog {
    fn hears_spanish(&self) -> bool {
        self.script.spanish_speech
    }

    /// The question of a Spanish step when the box hears Spanish; `None` otherwise (the
    /// keypad menu is `menu_question`'s).
    pub(super) fn spanish_question(&self, step: Step) -> Option<(String, Action)> {
        if !self.hears_spanish() {
            return None;
        }
        // Open listening: the wiring hears a Spanish step with the Spanish model, which has
        // no English grammar phrases.
        Some(match step {
            Step::SpanishMenu => (MENU_BY_VOICE.into(), self.listen(None, Keypad::Digit)),
            Step::SpanishProblem => (
                "En pocas palabras, ¿qué pasa? O oprima numeral para seguir.".into(),
                self.listen(None, Keypad::Digit),
            ),
            Step::SpanishConfirmPhone => {
                let phone = self
                    .ctx
                    .caller_id
                    .as_deref()
                    .map(|p| self.script.phone_plan.spoken(p))
                    .unwrap_or_default();
                (
                    format!("¿Le llamamos al {phone}? Diga sí o no, u oprima 1 o 2."),
                    self.listen(None, Keypad::Digit),
                )
            }
            Step::SpanishAskPhone => (
                "Diga su número de teléfono, o márquelo y oprima numeral.".into(),
                self.listen(None, Keypad::UntilHash { max: 16 }),
            ),
            _ => return None,
        })
    }

    /// The re-prompt of a Spanish step when the box hears Spanish.
    pub(super) fn spanish_short_question(&self, step: Step) -> Option<String> {
        if !self.hears_spanish() {
            return None;
        }
        Some(match step {
            Step::SpanishMenu => "Diga emergencia, llamada o mensaje, u oprima 1, 2 o 3.".into(),
            Step::SpanishProblem => "¿Qué pasa? O oprima numeral.".into(),
            Step::SpanishConfirmPhone => "¿A este número? Oprima 1 para sí, 2 para no.".into(),
            Step::SpanishAskPhone => "Su número, por favor, o márquelo y oprima numeral.".into(),
            _ => return None,
        })
    }

    /// A safety hazard heard in Spanish: the safety script (in Spanish) and the alert, first.
    fn spanish_hazard(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let Some((text, hazard)) = answer
            .text()
            .and_then(|t| u::spanish::hazard(t).map(|h| (t, h)))
        else {
            return false;
        };
        self.captured.problem = format!("dijo en español: «{}»", text.trim());
        self.safety(out, Some(hazard));
        true
    }

    /// The safety script in Spanish (not barge-in-able, like the English one).
    pub(super) fn spanish_safety_script(hazard: Option<SafetyHazard>) -> &'static str {
        match hazard {
            Some(SafetyHazard::Gas) | None => {
                "Esto es importante. Si huele a gas, salga del edificio ahora con todos. No \
                 prenda ni apague luces ni nada eléctrico, y no use el teléfono adentro. Ya \
                 afuera, llame al 911 o a la línea de emergencias de la compañía de gas."
            }
            Some(SafetyHazard::CarbonMonoxide) => {
                "Esto es importante. Si suena una alarma de monóxido de carbono, saque a todos \
                 del edificio ahora, deje la puerta abierta y llame al 911 desde afuera. No \
                 vuelva a entrar hasta que los bomberos digan que es seguro."
            }
            Some(SafetyHazard::Smoke | SafetyHazard::Burning | SafetyHazard::Sparking) => {
                "Esto es importante. Si ve humo, chispas o llamas, o huele a quemado, apague el \
                 equipo en el termostato solo si puede hacerlo sin peligro, saque a todos del \
                 edificio y llame al 911 desde afuera."
            }
        }
    }

    /// The Spanish menu said or keyed: 1 and 2 go on to what is wrong, 3 is a message.
    pub(super) fn spanish_menu_by_voice(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        if self.spanish_hazard(out, answer) {
            return true;
        }
        let choice = answer
            .key()
            .or_else(|| answer.text().and_then(u::spanish::menu_choice));
        match choice {
            Some(c @ ('1' | '2')) => {
                self.spanish_choice = Some(c);
                if c == '1' {
                    // The page names an emergency even if the caller leaves now.
                    self.captured.problem = "emergency: Spanish-speaking caller".into();
                }
                self.ask(out, Step::SpanishProblem, false);
            }
            Some('3') => self.ask(out, Step::Voicemail, false),
            _ => return false,
        }
        true
    }

    /// What is wrong, as the caller said it in Spanish: kept word for word for the office
    /// (the English summaries do not read Spanish). A key skips it.
    pub(super) fn spanish_problem_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        if self.spanish_hazard(out, answer) {
            return true;
        }
        match (answer.text(), answer.key()) {
            (Some(t), _) if !t.trim().is_empty() => {
                let said = format!("dijo en español: «{}»", t.trim());
                if self.spanish_choice == Some('1') {
                    self.captured.problem = format!("emergency: Spanish-speaking caller, {said}");
                } else {
                    self.captured.callback_reason =
                        Some(format!("Spanish-speaking caller, {said}"));
                }
            }
            (None, Some(_)) => {}
            _ => return false,
        }
        if self.ctx.caller_id.is_some() {
            self.ask(out, Step::SpanishConfirmPhone, false);
        } else {
            self.ask(out, Step::SpanishAskPhone, false);
        }
        true
    }

    /// Sí or no to caller ID (or another number said at once).
    pub(super) fn spanish_confirm_phone(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        if let Some(e164) = answer
            .text()
            .and_then(u::spanish::digits)
            .filter(|d| d.len() >= 7)
            .and_then(|d| self.script.phone_plan.normalise(&d))
        {
            self.captured.callback_phone = Some(e164);
            self.spanish_request(out);
            return true;
        }
        let yes_no = match answer {
            Answer::Said(t) => u::spanish::si_no(t),
            _ => answer.yes_no(),
        };
        match yes_no {
            Some(YesNo::Yes) => {
                self.captured.callback_phone = self.ctx.caller_id.clone();
                self.spanish_request(out);
            }
            Some(YesNo::No) => self.ask(out, Step::SpanishAskPhone, false),
            None => return false,
        }
        true
    }

    /// The number to call back on, said in Spanish words or keyed; read back digit by digit.
    pub(super) fn spanish_phone_turn(&mut self, out: &mut Vec<Action>, answer: &Answer) -> bool {
        let digits = match answer {
            Answer::Said(t) => u::spanish::digits(t),
            Answer::Keys(k) => Some(u::dtmf_digits(k)),
            Answer::Nothing => None,
        };
        let Some(e164) = digits.and_then(|d| self.script.phone_plan.normalise(&d)) else {
            return false;
        };
        let spoken = self.script.phone_plan.spoken(&e164);
        self.say(out, format!("Tengo el {spoken}."), true);
        self.captured.callback_phone = Some(e164);
        self.spanish_request(out);
        true
    }

    /// The page (1) or the callback (2), with what was said and the number.
    fn spanish_request(&mut self, out: &mut Vec<Action>) {
        if self.spanish_choice == Some('1') {
            self.page(out, None);
        } else {
            self.goal = Some(Goal::Callback);
            if self.captured.callback_reason.is_none() {
                self.captured.callback_reason = Some("Spanish-speaking caller".into());
            }
            let p = self.callback(Some("call back in Spanish"));
            self.enqueue(out, p, Pending::Request);
        }
    }
}
