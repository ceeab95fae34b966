//! The caller's problem in the trade's words, for the read-back and the job's summary in
//! ServiceTitan: "no heat, furnace blowing cold air", never "uh yeah my heat is not working at
//! all". Built from the triage result and the equipment and symptom words heard; nothing of
//! the caller's text is copied except words from these fixed lists.

use super::normalize::normalize;
use super::triage::{EmergencyKind, RoutineKind, SafetyHazard, Triage};

/// Equipment, in the words a technician writes on a ticket: (what was heard, how it is written).
const EQUIPMENT: &[(&str, &str)] = &[
    ("heat pump", "heat pump"),
    ("mini split", "mini-split"),
    ("water heater", "water heater"),
    ("hot water heater", "water heater"),
    ("air handler", "air handler"),
    ("outside unit", "outdoor unit"),
    ("outdoor unit", "outdoor unit"),
    ("condenser", "outdoor unit"),
    ("compressor", "outdoor unit"),
    ("furnace", "furnace"),
    ("boiler", "boiler"),
    ("thermostat", "thermostat"),
    ("air conditioner", "AC"),
    ("air conditioning", "AC"),
    ("a c", "AC"),
    ("ac", "AC"),
    ("vents", "vents"),
    ("ducts", "ductwork"),
    ("radiator", "radiator"),
];

/// Symptoms: (what was heard, how it is written). The first that matches is kept.
const SYMPTOMS: &[(&[&str], &str)] = &[
    (&["blowing cold", "cold air"], "blowing cold air"),
    (
        &["blowing warm", "warm air", "blowing hot", "hot air"],
        "blowing warm air",
    ),
    (
        &[
            "won't turn on",
            "will not turn on",
            "not turning on",
            "doesn't turn on",
            "won't start",
            "not starting",
            "dead",
        ],
        "not starting",
    ),
    (
        &["won't ignite", "not igniting", "no flame", "pilot"],
        "not igniting",
    ),
    (
        &[
            "keeps shutting off",
            "shuts off",
            "turns off",
            "short cycling",
            "cycling",
        ],
        "shutting off",
    ),
    (&["frozen", "ice", "iced"], "frozen coil"),
    (&["blank", "screen", "display"], "display blank"),
    (&["banging"], "banging noise"),
    (&["squealing", "screeching", "squeaking"], "squealing noise"),
    (&["rattling", "rattle"], "rattling noise"),
    (&["buzzing", "humming"], "buzzing noise"),
    (&["grinding"], "grinding noise"),
    (&["noise", "noisy", "loud", "sound"], "making noise"),
    (
        &["leaking", "leak", "water", "dripping", "puddle"],
        "leaking water",
    ),
    (&["smell", "smells", "odor"], "odor"),
    (
        &[
            "not working",
            "isn't working",
            "stopped working",
            "broken",
            "out",
        ],
        "not working",
    ),
];

/// "no heat, furnace blowing cold air"; `triage` is what the engine decided (keypad choices
/// give a triage with no words).
pub fn trade_summary(text: &str, triage: Option<Triage>) -> String {
    let n = normalize(text);
    let equipment = EQUIPMENT
        .iter()
        .find(|(heard, _)| n.has_any(&[heard]))
        .map(|(_, written)| *written);
    let symptom = SYMPTOMS
        .iter()
        .find(|(heard, _)| n.has_any(heard))
        .map(|(_, written)| *written);
    let head = match triage {
        Some(Triage::Emergency(EmergencyKind::NoHeat) | Triage::Routine(RoutineKind::NoHeat)) => {
            Some("no heat")
        }
        Some(
            Triage::Emergency(EmergencyKind::NoCooling) | Triage::Routine(RoutineKind::NoCooling),
        ) => Some("no cooling"),
        Some(Triage::Emergency(EmergencyKind::WaterLeak)) => Some("water leak"),
        Some(Triage::Routine(RoutineKind::Maintenance)) => Some("maintenance visit"),
        Some(Triage::Routine(RoutineKind::Thermostat)) if equipment != Some("thermostat") => {
            Some("thermostat problem")
        }
        Some(Triage::Safety(h)) => Some(match h {
            SafetyHazard::Gas => "gas smell",
            SafetyHazard::CarbonMonoxide => "carbon monoxide alarm",
            SafetyHazard::Smoke => "smoke",
            SafetyHazard::Burning => "burning smell",
            SafetyHazard::Sparking => "sparking",
        }),
        _ => None,
    };
    // "no heat" already says "not working"; "water leak" already says "leaking water".
    let symptom = symptom.filter(|s| match head {
        Some("no heat" | "no cooling") => *s != "not working",
        Some("water leak") => *s != "leaking water",
        Some("maintenance visit") => false,
        _ => true,
    });
    let detail = match (equipment, symptom) {
        (Some(e), Some(s)) => Some(format!("{e} {s}")),
        (Some(e), None) if head.is_none() => Some(format!("{e} problem")),
        (Some(e), None) => Some(e.to_string()),
        (None, Some(s)) if head.is_none() => Some(s.to_string()),
        (None, _) => None,
    };
    match (head, detail) {
        (Some(h), Some(d)) => format!("{h}, {d}"),
        (Some(h), None) => h.to_string(),
        (None, Some(d)) => d,
        (None, None) => "service call".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_use_the_trades_words() {
        let no_heat = Some(Triage::Emergency(EmergencyKind::NoHeat));
        let cases: &[(&str, Option<Triage>, &str)] = &[
            ("uh yeah my heat is not working at all", no_heat, "no heat"),
            (
                "the furnace is blowing cold air",
                Some(Triage::Routine(RoutineKind::NoHeat)),
                "no heat, furnace blowing cold air",
            ),
            (
                "my furnace is making a banging noise",
                Some(Triage::Routine(RoutineKind::Noise)),
                "furnace banging noise",
            ),
            (
                "the thermostat is blank",
                Some(Triage::Routine(RoutineKind::Thermostat)),
                "thermostat display blank",
            ),
            (
                "my ac is leaking water",
                Some(Triage::Emergency(EmergencyKind::WaterLeak)),
                "water leak, AC",
            ),
            (
                "i'd like to schedule a tune up",
                Some(Triage::Routine(RoutineKind::Maintenance)),
                "maintenance visit",
            ),
            ("blah", None, "service call"),
        ];
        for (text, triage, want) in cases {
            assert_eq!(trade_summary(text, *triage), *want, "{text}");
        }
    }
}
