//! Conversation cases for `tests/dialog_conversations.rs` (Spanish by voice, a caller's stated
//! temperature); same builders and seed.
//!
//! - A temperature the caller states decides triage when the box has no fresher source (in
//!   `callbox simulate` the outdoor value stands for the climate rule or an aging forecast
//!   unless `--outdoor-fresh`): "it's ten degrees in here" with no heat on a mild night is an
//!   emergency; the outcome's `caller_temp` says the caller's figure was used. These are in
//!   the shared table ([`cases`]).
//! - With `[speech] spanish_model` configured the Spanish branch takes words as well as keys:
//!   the menu said, what is wrong kept as said, sí/no, a number in Spanish words. They need
//!   that configuration, so they run in [`spanish_by_voice`] with the shared runner and checker.

use super::*;

const PROMISE: &str = "I'm alerting the on-call technician now; keep your phone free";

pub fn cases() -> Vec<Case> {
    vec![
        // A mild night (60 °F by the climate rule): no heat alone is routine...
        case(
            "temp1 no heat on a mild night, no temperature said: routine",
            Some(JANE),
            &["my heat is out", "yes", "yes", "the first one", "yes"],
        )
        .temp(60.0)
        .expect("job", &["job"])
        .never(&["alerting", "on-call"])
        .field("/urgency", "routine"),
        // ...but "ten degrees in here" is a cold house: an emergency, and the on-call is paged.
        case(
            "temp2 no heat and ten degrees in here on a mild night: emergency",
            Some(JANE),
            &[
                "my heat is out and it's ten degrees in here",
                "yes",
                "yes",
                "yes",
            ],
        )
        .temp(60.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&["sounds like an emergency", PROMISE])
        .field("/urgency", "emergency")
        .field("/job_type_hint", "no_heat"),
        // An outdoor figure wins over the climate rule (no fresh forecast): ten below the cold
        // threshold at 45 °F by the rule.
        case(
            "temp3 furnace out and ten degrees outside, no forecast: emergency",
            Some(JANE),
            &[
                "uh the furnace quit and it's ten degrees outside",
                "yes",
                "yes",
                "yes",
            ],
        )
        .temp(45.0)
        .expect("job", &["job", "on_call_alert"])
        .says(&["sounds like an emergency", PROMISE])
        .field("/urgency", "emergency"),
        // Sixty-five in the house and 45 outside: nobody is cold yet, routine.
        case(
            "temp4 no heat but sixty five degrees in the house: routine",
            Some(JANE),
            &[
                "the furnace stopped but it's sixty five degrees in the house",
                "yes",
                "yes",
                "the first one",
                "yes",
            ],
        )
        .temp(45.0)
        .expect("job", &["job"])
        .never(&["alerting"])
        .field("/urgency", "routine"),
    ]
}

/// The shop's configuration with a Spanish model installed (simulate reads words, so the
/// model itself is not loaded; the setting is what turns the Spanish branch to voice).
fn spanish_model_config() -> String {
    format!("{SHOP_CONFIG}[speech]\nspanish_model = \"models/vosk-model-small-es\"\n")
}

fn by_voice_cases() -> Vec<Case> {
    vec![
        case(
            "esv1 hola, emergencia said, the problem in Spanish, sí: a page with the words",
            Some(NEW),
            &[
                "hola buenas noches",
                "es una emergencia",
                "no tengo calefacción y hace mucho frío",
                "sí",
            ],
        )
        .expect("on_call_alert", &["on_call_alert"])
        .says(&[
            "diga emergencia",
            "qué pasa",
            "Le llamamos al 7 7 3",
            "Ya avisé al técnico de guardia; le llamará a este número",
        ])
        .never(&["only speak English", "Sorry"])
        .field("/kind", "on_call_alert")
        .field("/hazard", "emergency")
        .field("/caller/phone_e164", NEW)
        .field("/caller_said", "no tengo calefacción y hace mucho frío"),
        case(
            "esv2 a callback said, no to caller ID, the number in Spanish words (pairs)",
            Some(NEW),
            &[
                "habla español",
                "que me llamen por favor",
                "el aire acondicionado hace mucho ruido",
                "no a otro número",
                "tres doce cincuenta y cinco cinco cero catorce dos",
            ],
        )
        .expect("callback", &["callback"])
        .says(&[
            "Diga su número",
            "Tengo el 3 1 2",
            "la oficina le llamará a primera hora",
        ])
        .field(
            "/reason",
            "Spanish-speaking caller, dijo en español: «el aire acondicionado hace mucho ruido» (call back in Spanish)",
        )
        .field("/caller/callback_phone_e164", "+13125550142"),
        case(
            "esv3 keys still work; a withheld number is asked for and keyed",
            None,
            &["spanish please", "dtmf:1", "dtmf:#", "dtmf:3125550142#"],
        )
        .expect("on_call_alert", &["on_call_alert"])
        .says(&["Diga su número", "Tengo el 3 1 2", "le llamará al 3 1 2"])
        .field("/caller/callback_phone_e164", "+13125550142"),
        case(
            "esv4 mensaje said: the message, in Spanish",
            Some(NEW),
            &["hola", "quiero dejar un mensaje", "necesito una cita"],
        )
        .expect("voicemail", &["voicemail"])
        .says(&["Deje su nombre", "Su mensaje quedó guardado"])
        .field("/transcript", "[Spanish-speaking caller"),
        case(
            "esv5 a word that is no choice is asked again in Spanish, then chosen",
            Some(NEW),
            &["hola", "no sé", "llamada", "dtmf:#", "sí"],
        )
        .expect("callback", &["callback"])
        .says(&[
            "Perdón, no le entendí.",
            "Diga emergencia, llamada o mensaje",
        ])
        .field("/reason", "Spanish-speaking caller (call back in Spanish)"),
        case(
            "esv6 gas said in Spanish: the safety script in Spanish first, then the alert",
            Some(NEW),
            &["hola", "es una emergencia", "huele a gas en la cocina"],
        )
        .expect("safety_alert", &["on_call_alert"])
        .says(&[
            "qué pasa",
            "Esto es importante. Si huele a gas, salga del edificio",
            "Ya avisé al técnico de guardia, que le llamará al 7 7 3",
        ])
        .never(&["This is important", "I've alerted"])
        .field("/hazard", "gas")
        .field("/caller_said", "huele a gas en la cocina"),
    ]
}

/// The Spanish branch by voice, through `callbox simulate` with `[speech] spanish_model`; and
/// the stated temperature's record (`caller_temp`: the caller's figure, and that triage used
/// it). Both checked by the shared checker.
#[test]
fn spanish_by_voice_and_the_stated_temperature_record() {
    let config = spanish_model_config();
    let mut failures = Vec::new();
    for c in by_voice_cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = run_with(&c, dir.path(), &config);
        let errs = check(&c, &r);
        if !errs.is_empty() {
            failures.push(format!(
                "--- {}\n  {}\n{}",
                c.name,
                errs.join("\n  "),
                r.stdout
            ));
        }
    }
    // Without the model the same words at the Spanish menu are misses (keys only).
    let keyed = case("esv-off", Some(NEW), &["hola", "emergencia", "dtmf:2"])
        .expect("callback", &["callback"])
        .says(&["Perdón, no le entendí."]);
    let dir = tempfile::tempdir().expect("tempdir");
    let errs = check(&keyed, &run(&keyed, dir.path()));
    if !errs.is_empty() {
        failures.push(format!("--- {}\n  {}", keyed.name, errs.join("\n  ")));
    }
    // The record of the temperature the caller said: source "caller", where, and used.
    for (c, place) in cases()
        .iter()
        .zip([None, Some("indoors"), Some("outdoors"), Some("indoors")])
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = run(c, dir.path());
        let got = &r.outcome["caller_temp"];
        let right = match place {
            None => got.is_null(),
            Some(place) => {
                got["source"] == "caller" && got["place"] == place && got["used"] == true
            }
        };
        if !right {
            failures.push(format!("{}: caller_temp {got}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// With a fresh forecast (`callbox simulate --outdoor-fresh`, the daemon's `nws` source) the
/// forecast decides over an outdoor figure the caller states, and the record says the
/// caller's figure was not used; without one the caller's figure decides.
#[test]
fn a_fresh_forecast_wins_over_an_outdoor_figure_the_caller_states() {
    let said = "uh the furnace quit and it's ten degrees outside";
    let cases: [(bool, &[&str], &str, bool); 2] = [
        (
            true,
            &[said, "yes", "yes", "the first one", "yes"],
            "routine",
            false,
        ),
        (false, &[said, "yes", "yes", "yes"], "emergency", true),
    ];
    for (fresh, lines, urgency, used) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = callbox::config::Config::default();
        config.storage.data_dir = dir.path().join("data");
        let opts = callbox::app::simulate::SimulateOptions {
            caller_id: Some(JANE.into()),
            now: Some(NOW.parse().expect("now")),
            seed: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conversations/seed.json")),
            offline: true,
            outdoor_temp_f: Some(45.0),
            outdoor_measured: fresh,
            ..Default::default()
        };
        let input = lines.join("\n") + "\n";
        let mut out = Vec::new();
        callbox::app::simulate::run(&config, &opts, &mut input.as_bytes(), &mut out)
            .expect("simulate");
        let stdout = String::from_utf8_lossy(&out).into_owned();
        let last = stdout.lines().last().unwrap_or_default();
        let outcome: Value = serde_json::from_str(last).expect("outcome JSON");
        assert_eq!(outcome["outcome"], "job", "fresh {fresh}: {stdout}");
        assert_eq!(
            outcome["records"][0]["urgency"], urgency,
            "fresh {fresh}: {stdout}"
        );
        assert_eq!(outcome["caller_temp"]["place"], "outdoors", "{stdout}");
        assert_eq!(
            outcome["caller_temp"]["used"], used,
            "fresh {fresh}: {stdout}"
        );
    }
}
