//! Triage of the caller's problem: safety hazard first, then emergency, then routine.
//!
//! The safety classifier is deliberately high-recall: a missed gas leak is a death, a false
//! alarm is a minute of script and a page to the on-call technician. Any hazard cue counts
//! unless it is *clearly* negated ("i don't smell gas", "no smoke"); doubt ("not sure if it's
//! gas") is not negation, and an unexplained smell is treated as gas.
//!
//! Emergencies: a water leak always; no heat when it is at or below the cold threshold outdoors,
//! no cooling at or above the hot threshold, either when someone vulnerable is home or the
//! caller describes it as severe ("freezing", "forty degrees in the house"). When the outdoor
//! temperature is unknown and the caller gives none, no heat / no cooling is an emergency:
//! failing safe costs a page, failing the other way costs a frozen house or a heat stroke.
//! Below the line they are [`RoutineKind::NoHeat`] / [`RoutineKind::NoCooling`], which
//! [`Triage::is_urgent`] marks for the first window offered.

use super::normalize::{normalize, Normalized};
use super::numbers::parse_number_words;

/// What the caller described, by how fast the shop must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triage {
    /// Read the safety script before anything else, log it, alert the on-call technician.
    Safety(SafetyHazard),
    /// Dispatch the on-call technician tonight.
    Emergency(EmergencyKind),
    /// Book a regular window.
    Routine(RoutineKind),
    /// Nothing recognisable: ask again.
    Unclear,
}

/// A hazard to life that gets the fixed safety script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SafetyHazard {
    Gas,
    CarbonMonoxide,
    Smoke,
    Burning,
    Sparking,
}

/// A failure that cannot wait for business hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmergencyKind {
    NoHeat,
    NoCooling,
    WaterLeak,
}

/// Everything that can wait for a regular window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutineKind {
    /// No heat while it is mild outside and nobody vulnerable is home: first window offered.
    NoHeat,
    /// No cooling while it is mild outside and nobody vulnerable is home: first window offered.
    NoCooling,
    Maintenance,
    Noise,
    Thermostat,
    Other,
}

/// What triage knows besides the words: the weather and the shop's thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageContext {
    /// Outdoor temperature at the service address, when known.
    pub outdoor_temp_f: Option<f32>,
    /// `outdoor_temp_f` is a fresh forecast (NWS within its refresh period), not an aging
    /// value or the climate rule: it wins over an outdoor figure the caller states. Without
    /// one the caller's figure decides (see [`caller_temperature`]).
    pub outdoor_measured: bool,
    /// No heat at or below this outdoor temperature is an emergency.
    pub cold_threshold_f: f32,
    /// No cooling at or above this outdoor temperature is an emergency.
    pub hot_threshold_f: f32,
    /// Known from elsewhere (customer record) that someone vulnerable lives there.
    pub vulnerable_occupant: bool,
    /// Words that mark a vulnerable occupant besides the built-in ones (`triage.vulnerable_words`).
    pub extra_vulnerable_words: Vec<String>,
}

impl Triage {
    /// Whether the caller should be offered the very first window (or the on-call technician).
    pub fn is_urgent(self) -> bool {
        matches!(
            self,
            Triage::Safety(_)
                | Triage::Emergency(_)
                | Triage::Routine(RoutineKind::NoHeat | RoutineKind::NoCooling)
        )
    }
}

/// Indoor temperature (°F) at or below which a stated "in the house" reading makes no heat an
/// emergency whatever the weather.
const INDOOR_COLD_F: f32 = 55.0;
/// Indoor temperature (°F) at or above which a stated reading makes no cooling an emergency.
const INDOOR_HOT_F: f32 = 85.0;

/// Safety cues in priority order: the first hazard found wins the script. Each cue is a phrase
/// as the recogniser writes it, near misses included ("car bun monoxide" still says monoxide).
const HAZARD_CUES: &[(SafetyHazard, &[&str])] = &[
    (
        SafetyHazard::Gas,
        &[
            "gas",
            "gass",
            "gasses",
            "gases",
            "gaz",
            "propane",
            "natural gas",
            "methane",
            "rotten egg",
            "rotten eggs",
            "eggs",
            "sulfur",
            "sulphur",
            "smell guess",
            "smells like guess",
            "gasoline",
        ],
    ),
    (
        SafetyHazard::CarbonMonoxide,
        &[
            "monoxide",
            "carbon alarm",
            "carbon detector",
            "carbon monitor",
            "headache",
            "headaches",
            "dizzy",
            "dizziness",
            "nauseous",
            "nausea",
            "light headed",
            "lightheaded",
            "passed out",
            "fainted",
            "throwing up",
            "vomiting",
        ],
    ),
    (
        SafetyHazard::Smoke,
        &["smoke", "smoking", "smoky", "smokey", "smoked"],
    ),
    (
        SafetyHazard::Burning,
        &[
            "burning",
            "burnt",
            "burned",
            "burn",
            "scorched",
            "scorching",
            "melting",
            "melted",
            "on fire",
            "fire",
            "flames",
            "electrical smell",
            "electric smell",
        ],
    ),
    (
        SafetyHazard::Sparking,
        &[
            "spark",
            "sparks",
            "sparking",
            "sparked",
            "sparky",
            "arcing",
            "shocked",
            "electric shock",
            "electrocuted",
        ],
    ),
];

/// How a recogniser writes "CO": the word alone is ambiguous ("see"), so it needs an alarm
/// word right after it.
const CO_SPELLINGS: &[&str] = &["co", "c o", "see oh", "sea oh", "c oh", "cee oh", "see o"];
const ALARM_WORDS: &[&str] = &[
    "alarm",
    "alarms",
    "detector",
    "detectors",
    "sensor",
    "monitor",
    "poisoning",
    "beeping",
    "going off",
    "went off",
    "chirping",
    "sounding",
    "reading",
    "levels",
    "level",
];

/// After "gas" these make it an appliance or a bill, not a hazard: "gas furnace", "gas bill".
const GAS_MODIFIED: &[&str] = &[
    "furnace",
    "heater",
    "water",
    "boiler",
    "stove",
    "range",
    "oven",
    "dryer",
    "fireplace",
    "logs",
    "bill",
    "company",
    "pack",
    "valve",
    "line",
    "meter",
    "station",
    "grill",
    "unit",
    "appliance",
    "service",
    "supply",
    "heat",
    "fired",
    "powered",
    "tank",
    "pressure",
];
/// Words that make an appliance mention of gas a hazard after all.
const GAS_TROUBLE: &[&str] = &[
    "smell", "smells", "smelling", "smelled", "odor", "odour", "leak", "leaking", "leaks", "hiss",
    "hissing", "whiff", "fumes",
];
const SMELL_WORDS: &[&str] = &[
    "smell", "smells", "smelling", "smelled", "smelt", "odor", "odour", "stink", "stinks",
    "stinky", "stench", "fumes",
];
/// Smells that are not gas: they keep a vague smell from triggering the gas script.
const BENIGN_SMELLS: &[&str] = &[
    "musty",
    "mold",
    "moldy",
    "mould",
    "mildew",
    "dusty",
    "dust",
    "damp",
    "wet",
    "dirty sock",
    "dirty socks",
    "sewer",
    "dead animal",
    "dead mouse",
];
/// "won't fire", "fire up", "flame sensor": trade words, not fire.
const NOT_FIRE: &[&str] = &[
    "won't fire",
    "not fire",
    "doesn't fire",
    "didn't fire",
    "wouldn't fire",
    "fire up",
    "fires up",
    "fire off",
];

/// Words that negate a cue within the few words before it.
const NEGATORS: &[&str] = &[
    "no", "not", "don't", "doesn't", "didn't", "never", "without", "isn't", "wasn't", "aren't",
    "nothing", "nobody", "none", "can't", "cannot", "neither", "nor",
];
/// After a negator these turn it into doubt: "not sure", "don't know", "can't tell".
const DOUBT_AFTER_NEGATOR: &[&str] = &["sure", "know", "certain", "tell", "say", "remember"];
/// Words that end a negation's reach: a new clause, or doubt.
const SCOPE_BREAKS: &[&str] = &[
    "but", "though", "although", "however", "except", "and", "i", "it", "it's", "that's", "if",
    "whether", "maybe", "might", "could", "now", "actually", "wait",
];
/// How far back a negator reaches: "i don't smell any gas" is three words back.
const NEGATION_REACH: usize = 4;

/// Whether the cue at `at` is clearly negated.
fn negated(tokens: &[String], at: usize) -> bool {
    for k in (at.saturating_sub(NEGATION_REACH)..at).rev() {
        let t = tokens[k].as_str();
        if SCOPE_BREAKS.contains(&t) {
            return false;
        }
        if NEGATORS.contains(&t) {
            let next = tokens.get(k + 1).map_or("", String::as_str);
            return !DOUBT_AFTER_NEGATOR.contains(&next);
        }
    }
    false
}

/// Every start of `phrase` in `tokens`.
fn occurrences<'a>(tokens: &'a [String], phrase: &'a str) -> impl Iterator<Item = usize> + 'a {
    let words: Vec<&str> = phrase.split(' ').collect();
    (0..tokens.len()).filter(move |&i| {
        tokens.len() - i >= words.len()
            && words
                .iter()
                .zip(&tokens[i..])
                .all(|(w, t)| *w == t.as_str())
    })
}

/// Whether `phrase` occurs somewhere not clearly negated.
fn asserted(n: &Normalized, phrase: &str) -> bool {
    occurrences(n.tokens(), phrase).any(|i| !negated(n.tokens(), i))
}

fn asserted_any(n: &Normalized, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| asserted(n, p))
}

/// A gas cue at `at` that is really an appliance, a bill or an empty tank ("gas furnace", "out
/// of propane", "the gas is off").
fn gas_is_harmless(n: &Normalized, at: usize) -> bool {
    let tokens = n.tokens();
    let next = tokens.get(at + 1).map_or("", String::as_str);
    let out_of = at >= 2 && tokens[at - 2] == "out" && tokens[at - 1] == "of";
    let shut_off = tokens[at + 1..].iter().take(3).any(|t| t == "off");
    // "gas water heater is leaking" leaks water; a smell or "gas leak" is still gas.
    let about_gas = !n.has("water") || n.has_any(&["gas leak", "leaking gas", "smell", "smells"]);
    let trouble = n.has_any(GAS_TROUBLE) && about_gas;
    (GAS_MODIFIED.contains(&next) || out_of || shut_off) && !trouble
}

/// The hazard the caller describes, if any.
fn safety_hazard(n: &Normalized) -> Option<SafetyHazard> {
    let tokens = n.tokens();
    for (hazard, cues) in HAZARD_CUES {
        for cue in *cues {
            for at in occurrences(tokens, cue) {
                if negated(tokens, at) {
                    continue;
                }
                let harmless = match *hazard {
                    SafetyHazard::Gas => {
                        matches!(*cue, "gas" | "propane" | "gass" | "gaz") && gas_is_harmless(n, at)
                    }
                    SafetyHazard::Burning => {
                        (matches!(*cue, "fire") && n.has_any(NOT_FIRE))
                            || (*cue == "burn" && n.has_phrase("burn out"))
                    }
                    _ => false,
                };
                if !harmless {
                    return Some(*hazard);
                }
            }
        }
        if *hazard == SafetyHazard::CarbonMonoxide && carbon_monoxide_alarm(n) {
            return Some(SafetyHazard::CarbonMonoxide);
        }
    }
    // An unexplained smell could be gas: the gas script, unless it is a smell that is not.
    let vague_smell = asserted_any(n, SMELL_WORDS) && !n.has_any(BENIGN_SMELLS);
    vague_smell.then_some(SafetyHazard::Gas)
}

/// "co alarm", "see oh detector", or an alarm going off that is not a water alarm: the CO
/// script fits a smoke alarm too, so an unnamed alarm gets it.
fn carbon_monoxide_alarm(n: &Normalized) -> bool {
    let tokens = n.tokens();
    let named = CO_SPELLINGS.iter().any(|co| {
        occurrences(tokens, co).any(|at| {
            let after = co.split(' ').count() + at;
            let next_two = tokens[after..].iter().take(2).map(String::as_str);
            let alarm_follows = next_two
                .clone()
                .any(|t| ALARM_WORDS.iter().any(|a| a.split(' ').next() == Some(t)));
            alarm_follows && !negated(tokens, at)
        })
    });
    let unnamed = n.has_any(&["alarm", "alarms", "detector"])
        && asserted_any(
            n,
            &["going off", "went off", "beeping", "sounding", "chirping"],
        )
        && !n.has_any(&["water", "leak", "flood", "freeze", "thermostat", "smoke"]);
    named || unnamed
}

const HEAT_WORDS: &[&str] = &[
    "heat",
    "heater",
    "heating",
    "furnace",
    "furnaces",
    "boiler",
    "radiator",
    "radiators",
    "baseboard",
    "baseboards",
    "pilot",
    "burner",
    "burners",
];
const COOL_WORDS: &[&str] = &[
    "ac",
    "a c",
    "a see",
    "air conditioner",
    "air conditioning",
    "air con",
    "central air",
    "cooling",
    "cool",
    "condenser",
    "the air",
    "my air",
];
const HEAT_PUMP: &str = "heat pump";
/// Said of equipment, these mean it has failed.
const FAILURE: &[&str] = &[
    "no",
    "not",
    "isn't",
    "won't",
    "doesn't",
    "didn't",
    "wasn't",
    "can't",
    "stopped",
    "quit",
    "died",
    "dead",
    "broke",
    "broken",
    "out",
    "down",
    "failed",
    "failing",
    "off",
    "shut off",
    "shuts off",
    "shutting off",
    "went out",
    "nothing",
    "isn't working",
    "not working",
    "stopped working",
    "keeps",
    "tripping",
];
/// Complaints that are no heat without naming the equipment.
const COLD_COMPLAINTS: &[&str] = &[
    "no heat",
    "freezing",
    "frozen",
    "house is cold",
    "it's cold",
    "cold in here",
    "cold in the house",
    "blowing cold",
    "cold air",
    "so cold",
    "too cold",
    "really cold",
    "very cold",
    "below zero",
    "below freezing",
];
const HOT_COMPLAINTS: &[&str] = &[
    "no air",
    "no ac",
    "no a c",
    "no cooling",
    "not cooling",
    "won't cool",
    "isn't cooling",
    "blowing hot",
    "blowing warm",
    "hot air",
    "warm air",
    "house is hot",
    "it's hot",
    "hot in here",
    "too hot",
    "so hot",
    "really hot",
    "very hot",
    "sweltering",
    "boiling",
    "not cold",
    "isn't cold",
    "heat stroke",
    "heatstroke",
    "unbearable",
];
/// Words that make a cold complaint an emergency whatever the weather.
const SEVERE_COLD: &[&str] = &[
    "freezing",
    "frozen",
    "pipes",
    "below zero",
    "below freezing",
];
const SEVERE_HEAT: &[&str] = &[
    "heat stroke",
    "heatstroke",
    "sweltering",
    "unbearable",
    "overheating",
];

const WATER_LEAK: &[&str] = &[
    "leak",
    "leaking",
    "leaks",
    "leaky",
    "leaked",
    "dripping",
    "drip",
    "drips",
    "puddle",
    "puddles",
    "pooling",
    "flooding",
    "flooded",
    "flood",
    "water everywhere",
    "water on the floor",
    "water coming",
    "overflowing",
    "overflow",
    "water damage",
    "condensate",
    "water alarm",
];
/// Leaks that are not water: refrigerant is routine work.
const NOT_WATER: &[&str] = &["freon", "refrigerant", "coolant"];

/// Built-in vulnerable-occupant words; the shop adds more in `triage.vulnerable_words`.
const VULNERABLE: &[&str] = &[
    "elderly",
    "senior",
    "seniors",
    "grandmother",
    "grandma",
    "grandfather",
    "grandpa",
    "granny",
    "old lady",
    "old man",
    "baby",
    "babies",
    "infant",
    "infants",
    "newborn",
    "toddler",
    "pregnant",
    "oxygen",
    "medical",
    "medically",
    "disabled",
    "disability",
    "handicapped",
    "wheelchair",
    "bedridden",
    "hospice",
    "dialysis",
    "chemo",
    "asthma",
    "heart condition",
];

const THERMOSTAT: &[&str] = &[
    "thermostat",
    "t stat",
    "tstat",
    "nest",
    "ecobee",
    "display",
    "screen",
    "blank",
];
const NOISE: &[&str] = &[
    "noise",
    "noises",
    "noisy",
    "loud",
    "banging",
    "bang",
    "rattling",
    "rattle",
    "rattles",
    "squealing",
    "squeal",
    "screeching",
    "grinding",
    "humming",
    "buzzing",
    "clicking",
    "whistling",
    "knocking",
    "vibrating",
    "vibration",
    "thumping",
    "clanking",
    "squeaking",
    "squeaky",
    "roaring",
    "sound",
    "sounds",
];
const MAINTENANCE: &[&str] = &[
    "tune up",
    "tuneup",
    "maintenance",
    "check up",
    "checkup",
    "annual service",
    "inspection",
    "cleaning",
    "clean",
    "filter",
    "filters",
    "seasonal",
    "precision",
];
const OTHER_HVAC: &[&str] = &[
    "furnace",
    "ac",
    "a c",
    "air conditioner",
    "heat pump",
    "boiler",
    "water heater",
    "vent",
    "vents",
    "duct",
    "ducts",
    "unit",
    "system",
    "hvac",
    "humidifier",
    "dehumidifier",
    "estimate",
    "quote",
    "replace",
    "replacement",
    "install",
    "repair",
    "broken",
    "not working",
    "isn't working",
    "come out",
    "look at",
    "fix",
    "service",
    "heat",
    "heating",
    "cooling",
    "air",
    "freon",
    "refrigerant",
];

/// A temperature the caller stated ("it's forty degrees in the house"), and whether it was
/// outdoors.
fn stated_temperature(n: &Normalized) -> Option<(f32, bool)> {
    let at = n.find("degrees")?;
    let tokens = n.tokens();
    let start = (0..at)
        .rev()
        .take_while(|&k| super::numbers::starts_number(&tokens[k]) || tokens[k] == "hundred")
        .last()?;
    let value = parse_number_words(&tokens[start..at].join(" "))?;
    let below = start > 0 && matches!(tokens[start - 1].as_str(), "minus" | "negative");
    let mut f = value as f32;
    if below || n.has_phrase("below zero") {
        f = -f;
    }
    let outdoor = n.has_any(&["outside", "outdoors", "out there"]);
    Some((f, outdoor))
}

/// Words that put a stated temperature inside the house.
const INDOORS: &[&str] = &[
    "inside",
    "indoors",
    "in here",
    "in the house",
    "in my house",
    "in the home",
    "in the room",
    "upstairs",
    "downstairs",
    "in the basement",
];

/// A temperature the caller said, and where: "outdoors" (outside, outdoors, out there: triage
/// takes it over an aging forecast or the climate rule; a fresh forecast wins, see
/// [`TriageContext::outdoor_measured`]), "indoors" (in the house, inside, …: triage weighs it against
/// the indoor limits), or "unsaid" ("it's ten degrees here": triage weighs it as indoors, and
/// the forecast still counts).
pub fn caller_temperature(text: &str) -> Option<(f32, &'static str)> {
    let n = normalize(text);
    let (f, outdoor) = stated_temperature(&n)?;
    let place = if outdoor {
        "outdoors"
    } else if n.has_any(INDOORS) {
        "indoors"
    } else {
        "unsaid"
    };
    Some((f, place))
}

/// Triage of one utterance: [`Triage::Safety`] before anything else, then emergencies, then
/// routine work. [`Triage::Unclear`] when nothing in it names a problem.
pub fn triage(text: &str, context: &TriageContext) -> Triage {
    let n = normalize(text);
    if let Some(hazard) = safety_hazard(&n) {
        return Triage::Safety(hazard);
    }
    let vulnerable = context.vulnerable_occupant
        || asserted_any(&n, VULNERABLE)
        || context
            .extra_vulnerable_words
            .iter()
            .any(|w| asserted(&n, w.trim()));
    let stated = stated_temperature(&n);
    let (no_heat, no_cooling) = equipment_failures(&n, context);

    if no_heat {
        let severe = n.has_any(SEVERE_COLD);
        let weather = match (stated, context.outdoor_temp_f) {
            (Some((_, true)), Some(t)) if context.outdoor_measured => t <= context.cold_threshold_f,
            (Some((f, true)), _) => f <= context.cold_threshold_f,
            (Some((f, false)), outdoor) => {
                f <= INDOOR_COLD_F || outdoor.is_some_and(|t| t <= context.cold_threshold_f)
            }
            (None, Some(t)) => t <= context.cold_threshold_f,
            (None, None) => true,
        };
        if vulnerable || severe || weather {
            return Triage::Emergency(EmergencyKind::NoHeat);
        }
    }
    if no_cooling {
        let severe = n.has_any(SEVERE_HEAT);
        let weather = match (stated, context.outdoor_temp_f) {
            (Some((_, true)), Some(t)) if context.outdoor_measured => t >= context.hot_threshold_f,
            (Some((f, true)), _) => f >= context.hot_threshold_f,
            (Some((f, false)), outdoor) => {
                f >= INDOOR_HOT_F || outdoor.is_some_and(|t| t >= context.hot_threshold_f)
            }
            (None, Some(t)) => t >= context.hot_threshold_f,
            (None, None) => true,
        };
        if vulnerable || severe || weather {
            return Triage::Emergency(EmergencyKind::NoCooling);
        }
    }
    if asserted_any(&n, WATER_LEAK) && !n.has_any(NOT_WATER) {
        return Triage::Emergency(EmergencyKind::WaterLeak);
    }
    if no_heat {
        return Triage::Routine(RoutineKind::NoHeat);
    }
    if no_cooling {
        return Triage::Routine(RoutineKind::NoCooling);
    }
    routine(&n)
}

/// Words of a caller who says it cannot wait: "this is an emergency", "I need the on-call
/// tech", "I need to speak to someone right now".
const WANTS_ON_CALL: &[&str] = &[
    "emergency",
    "on call",
    "on-call",
    "oncall",
    "right now",
    "right away",
    "urgent",
    "urgently",
    "asap",
    "can't wait",
    "cannot wait",
    "immediately",
];

/// Whether the caller asks for the on-call technician or says it cannot wait (unless clearly
/// negated: "it's not an emergency"). A hazard is [`triage`]'s, not this.
pub fn wants_on_call(text: &str) -> bool {
    let n = normalize(text);
    asserted_any(&n, WANTS_ON_CALL)
}

/// (no heat, no cooling) from the words. A heat pump is either: the words ("not cooling",
/// "cold") decide, else the season (outdoor temperature nearer which threshold).
fn equipment_failures(n: &Normalized, context: &TriageContext) -> (bool, bool) {
    let failure = n.has_any(FAILURE);
    let heat_pump = n.has_phrase(HEAT_PUMP);
    let heat_named = n
        .tokens()
        .iter()
        .enumerate()
        .any(|(i, t)| HEAT_WORDS.contains(&t.as_str()) && !is_other_equipment(n, i));
    let cool_named = n.has_any(COOL_WORDS);
    let cold = n.has_any(COLD_COMPLAINTS);
    let hot = n.has_any(HOT_COMPLAINTS);
    // "the air isn't cold" is a cooling complaint, not a cold house.
    let cold = cold && !(hot && n.has_any(&["not cold", "isn't cold"]));
    let mut no_heat = cold || (heat_named && failure && !hot);
    let mut no_cooling = hot || (cool_named && failure && !cold);
    if heat_pump && failure && !no_heat && !no_cooling {
        let midpoint = (context.cold_threshold_f + context.hot_threshold_f) / 2.0;
        if context.outdoor_temp_f.is_some_and(|t| t >= midpoint) {
            no_cooling = true;
        } else {
            no_heat = true;
        }
    }
    if no_heat && no_cooling {
        // Both named and failing ("heat and ac are out"): cold complaints decide, else heat.
        no_cooling = hot && !cold;
        no_heat = !no_cooling;
    }
    (no_heat, no_cooling)
}

/// "heat pump" (heating or cooling, decided apart) and "water heater" (hot water, not space
/// heating) are not heat words.
fn is_other_equipment(n: &Normalized, at: usize) -> bool {
    let tokens = n.tokens();
    match tokens[at].as_str() {
        "heat" => tokens.get(at + 1).is_some_and(|t| t == "pump"),
        "heater" => at > 0 && tokens[at - 1] == "water",
        _ => false,
    }
}

fn routine(n: &Normalized) -> Triage {
    if n.has_any(THERMOSTAT) {
        Triage::Routine(RoutineKind::Thermostat)
    } else if n.has_any(NOISE) {
        Triage::Routine(RoutineKind::Noise)
    } else if n.has_any(MAINTENANCE) {
        Triage::Routine(RoutineKind::Maintenance)
    } else if n.has_any(OTHER_HVAC) || asserted_any(n, SMELL_WORDS) {
        Triage::Routine(RoutineKind::Other)
    } else {
        Triage::Unclear
    }
}

/// The words triage listens for, for the recogniser's triage grammar: every cue word, once.
pub fn symptom_words() -> Vec<&'static str> {
    let lists: [&[&str]; 16] = [
        CO_SPELLINGS,
        ALARM_WORDS,
        GAS_TROUBLE,
        SMELL_WORDS,
        HEAT_WORDS,
        COOL_WORDS,
        FAILURE,
        COLD_COMPLAINTS,
        HOT_COMPLAINTS,
        WATER_LEAK,
        VULNERABLE,
        THERMOSTAT,
        NOISE,
        MAINTENANCE,
        OTHER_HVAC,
        NEGATORS,
    ];
    let mut words: Vec<&'static str> = HAZARD_CUES
        .iter()
        .flat_map(|(_, cues)| cues.iter())
        .chain(lists.iter().flat_map(|l| l.iter()))
        .flat_map(|p| p.split(' '))
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

impl TriageContext {
    /// The context for one call: the shop's thresholds plus what is known about this caller.
    pub fn from_config(
        config: &crate::dialog::settings::TriageConfig,
        outdoor_temp_f: Option<f32>,
        vulnerable_occupant: bool,
    ) -> Self {
        TriageContext {
            outdoor_temp_f,
            outdoor_measured: false,
            cold_threshold_f: config.cold_threshold_f,
            hot_threshold_f: config.hot_threshold_f,
            vulnerable_occupant,
            extra_vulnerable_words: config.vulnerable_words.clone(),
        }
    }
}

impl Default for TriageContext {
    fn default() -> Self {
        TriageContext::from_config(
            &crate::dialog::settings::TriageConfig::default(),
            None,
            false,
        )
    }
}

#[cfg(test)]
mod caller_temperature_tests {
    use super::caller_temperature;

    #[test]
    fn a_stated_temperature_is_read_with_where_it_is() {
        let cases = [
            ("it's ten degrees here", Some((10.0, "unsaid"))),
            ("it is minus five degrees outside", Some((-5.0, "outdoors"))),
            ("it's forty degrees in the house", Some((40.0, "indoors"))),
            (
                "ninety five degrees inside and the ac is off",
                Some((95.0, "indoors")),
            ),
            (
                "it's twelve degrees out there and no heat",
                Some((12.0, "outdoors")),
            ),
            ("my furnace is out", None),
            ("it's freezing", None),
        ];
        let got: Vec<_> = cases
            .iter()
            .map(|(text, _)| (*text, caller_temperature(text)))
            .collect();
        let want: Vec<_> = cases.iter().map(|(t, w)| (*t, *w)).collect();
        assert_eq!(got, want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EmergencyKind::*;
    use SafetyHazard::*;

    fn ctx(outdoor: Option<f32>) -> TriageContext {
        TriageContext {
            outdoor_temp_f: outdoor,
            ..TriageContext::default()
        }
    }

    /// The caller's outdoor figure decides only when the box has no fresh forecast; an
    /// indoor figure counts whatever the forecast says.
    #[test]
    fn a_stated_temperature_counts_unless_the_forecast_is_fresh() {
        let measured = |t: f32| TriageContext {
            outdoor_temp_f: Some(t),
            outdoor_measured: true,
            ..TriageContext::default()
        };
        let cases: &[(&str, TriageContext, Triage)] = &[
            // Climate rule / aging value (not measured): the caller's figure wins.
            (
                "no heat it's ten degrees outside",
                ctx(Some(45.0)),
                Triage::Emergency(NoHeat),
            ),
            (
                "no heat it's ten degrees outside",
                measured(45.0),
                Triage::Routine(RoutineKind::NoHeat),
            ),
            (
                "no heat it's fifty degrees outside",
                ctx(Some(5.0)),
                Triage::Routine(RoutineKind::NoHeat),
            ),
            (
                "no heat it's fifty degrees outside",
                measured(5.0),
                Triage::Emergency(NoHeat),
            ),
            (
                "the ac quit it's one hundred five degrees out there",
                ctx(Some(70.0)),
                Triage::Emergency(NoCooling),
            ),
            (
                "the ac quit it's one hundred five degrees out there",
                measured(70.0),
                Triage::Routine(RoutineKind::NoCooling),
            ),
            // Indoors (or unsaid): the house's own temperature, whatever the forecast.
            (
                "my heat is out it's ten degrees in here",
                measured(45.0),
                Triage::Emergency(NoHeat),
            ),
            (
                "my heat is out it's ten degrees in here",
                ctx(Some(45.0)),
                Triage::Emergency(NoHeat),
            ),
            (
                "the furnace quit it's sixty five degrees in the house",
                ctx(Some(45.0)),
                Triage::Routine(RoutineKind::NoHeat),
            ),
        ];
        let got: Vec<_> = cases
            .iter()
            .map(|(said, c, _)| (*said, c.outdoor_measured, triage(said, c)))
            .collect();
        let want: Vec<_> = cases
            .iter()
            .map(|(said, c, w)| (*said, c.outdoor_measured, *w))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn asking_for_the_on_call_technician_is_heard() {
        for said in [
            "this is an emergency",
            "i need the on call tech",
            "i need to speak to someone right now",
            "it's urgent",
        ] {
            assert!(wants_on_call(said), "{said}");
        }
        for said in [
            "it's not an emergency",
            "whenever is fine",
            "i'd like to speak to someone about a quote",
        ] {
            assert!(!wants_on_call(said), "{said}");
        }
    }

    #[test]
    fn safety_is_high_recall() {
        let cases: &[(&str, SafetyHazard)] = &[
            ("i smell gas", Gas),
            ("smells like rotten eggs", Gas),
            ("it smells like rotten egg in the basement", Gas),
            ("there's a gas smell", Gas),
            ("gas leak", Gas),
            ("gas", Gas),
            ("i think i smell gass", Gas),
            ("um i smell guess near the furnace", Gas),
            ("smells like sulfur", Gas),
            ("the gas furnace smells funny", Gas),
            ("i'm not sure if it's gas", Gas),
            ("i don't know if that's gas or not", Gas),
            ("there's a weird smell coming from the furnace", Gas),
            ("something smells strange", Gas),
            ("no i smell gas", Gas),
            ("i don't smell gas but the furnace is sparking", Sparking),
            ("carbon monoxide detector is beeping", CarbonMonoxide),
            ("co alarm going off", CarbonMonoxide),
            ("the c o detector went off", CarbonMonoxide),
            ("see oh alarm", CarbonMonoxide),
            ("car bun monoxide", CarbonMonoxide),
            ("my carbon alarm is chirping", CarbonMonoxide),
            ("the alarm is going off", CarbonMonoxide),
            ("we all have headaches and the heat is on", CarbonMonoxide),
            ("the furnace is sparking", Sparking),
            ("i saw sparks", Sparking),
            ("the outside unit is arcing", Sparking),
            ("burning smell from the vents", Burning),
            ("smells like something burning", Burning),
            ("it smells burnt", Burning),
            ("the wires are melting", Burning),
            ("the furnace is on fire", Burning),
            ("there's smoke", Smoke),
            ("there is smoke coming out of the vents", Smoke),
            ("the smoke detector is going off", Smoke),
            ("the the furnace is smoking", Smoke),
            ("no heat and there's smoke", Smoke),
            ("no gas smell but there is smoke", Smoke),
            ("my furnace smells like gas", Gas),
            ("i think there might be a gas leak", Gas),
            ("there's no heat and it smells like gas", Gas),
            ("we smelled gas earlier", Gas),
            ("the water heater is leaking gas", Gas),
            (
                "no it doesn't smell like gas it smells like burning",
                Burning,
            ),
            ("the outside unit caught fire", Burning),
            ("i got shocked touching the unit", Sparking),
            ("smoke detector chirping", Smoke),
            ("my alarm keeps beeping", CarbonMonoxide),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(text, want)| (text, triage(text, &ctx(None)), Triage::Safety(*want)))
            .filter(|(_, got, want)| got != want)
            .collect();
        assert!(wrong.is_empty(), "(text, got, want): {wrong:#?}");
    }

    #[test]
    fn clear_negation_and_trade_words_are_not_hazards() {
        let cases: &[(&str, Triage)] = &[
            ("no gas smell", Triage::Unclear),
            ("i don't smell gas", Triage::Unclear),
            ("there is no smell of gas", Triage::Unclear),
            ("it doesn't smell like gas", Triage::Unclear),
            ("no smoke or sparks", Triage::Unclear),
            ("nothing is burning", Triage::Unclear),
            ("my gas furnace won't turn on", Triage::Emergency(NoHeat)),
            (
                "we ran out of propane and there's no heat",
                Triage::Emergency(NoHeat),
            ),
            ("the furnace won't fire", Triage::Emergency(NoHeat)),
            (
                "the flame sensor needs cleaning",
                Triage::Routine(RoutineKind::Maintenance),
            ),
            (
                "the house smells musty",
                Triage::Routine(RoutineKind::Other),
            ),
            ("my gas bill is too high", Triage::Unclear),
            (
                "my gas water heater has no hot water",
                Triage::Routine(RoutineKind::Other),
            ),
            ("the burners won't light", Triage::Emergency(NoHeat)),
            ("the furnace won't fire up", Triage::Emergency(NoHeat)),
            (
                "the thermostat is beeping",
                Triage::Routine(RoutineKind::Thermostat),
            ),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(text, want)| (text, triage(text, &ctx(None)), *want))
            .filter(|(_, got, want)| got != want)
            .collect();
        assert!(wrong.is_empty(), "(text, got, want): {wrong:#?}");
    }

    #[test]
    fn emergencies_follow_thresholds_and_vulnerable_occupants() {
        use RoutineKind as R;
        let cases: &[(&str, Option<f32>, Triage)] = &[
            ("no heat", Some(30.0), Triage::Emergency(NoHeat)),
            ("no heat", Some(40.0), Triage::Emergency(NoHeat)),
            ("no heat", Some(55.0), Triage::Routine(R::NoHeat)),
            ("no heat", None, Triage::Emergency(NoHeat)),
            (
                "the furnace isn't working",
                Some(20.0),
                Triage::Emergency(NoHeat),
            ),
            ("furnace quit", Some(60.0), Triage::Routine(R::NoHeat)),
            (
                "no heat and my elderly mother lives here",
                Some(60.0),
                Triage::Emergency(NoHeat),
            ),
            (
                "no heat we have a newborn",
                Some(60.0),
                Triage::Emergency(NoHeat),
            ),
            (
                "heat is out and my wife is pregnant",
                Some(60.0),
                Triage::Emergency(NoHeat),
            ),
            (
                "heater stopped and my dad is on oxygen",
                Some(60.0),
                Triage::Emergency(NoHeat),
            ),
            (
                "no heat nobody elderly here",
                Some(60.0),
                Triage::Routine(R::NoHeat),
            ),
            (
                "no heat it's forty degrees in the house",
                Some(60.0),
                Triage::Emergency(NoHeat),
            ),
            (
                "no heat it's sixty eight degrees inside",
                None,
                Triage::Routine(R::NoHeat),
            ),
            (
                "no heat it's fifty degrees outside",
                None,
                Triage::Routine(R::NoHeat),
            ),
            (
                "the pipes are freezing the heat is out",
                Some(60.0),
                Triage::Emergency(NoHeat),
            ),
            ("ac not working", Some(95.0), Triage::Emergency(NoCooling)),
            (
                "the a c is blowing warm air",
                Some(90.0),
                Triage::Emergency(NoCooling),
            ),
            (
                "air conditioner quit",
                Some(80.0),
                Triage::Routine(R::NoCooling),
            ),
            (
                "the air isn't cold",
                Some(80.0),
                Triage::Routine(R::NoCooling),
            ),
            (
                "ac is out and my baby is here",
                Some(80.0),
                Triage::Emergency(NoCooling),
            ),
            ("no cooling", None, Triage::Emergency(NoCooling)),
            (
                "it's ninety degrees in the house the ac died",
                Some(75.0),
                Triage::Emergency(NoCooling),
            ),
            (
                "heat pump stopped working",
                Some(95.0),
                Triage::Emergency(NoCooling),
            ),
            (
                "heat pump stopped working",
                Some(20.0),
                Triage::Emergency(NoHeat),
            ),
            (
                "water leaking from the furnace",
                Some(60.0),
                Triage::Emergency(WaterLeak),
            ),
            (
                "there's water on the floor by the unit",
                Some(60.0),
                Triage::Emergency(WaterLeak),
            ),
            (
                "the ceiling is dripping",
                None,
                Triage::Emergency(WaterLeak),
            ),
            (
                "my gas water heater is leaking",
                None,
                Triage::Emergency(WaterLeak),
            ),
            (
                "the ac is leaking freon",
                Some(70.0),
                Triage::Routine(R::Other),
            ),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(text, outdoor, want)| (text, outdoor, triage(text, &ctx(*outdoor)), *want))
            .filter(|(_, _, got, want)| got != want)
            .collect();
        assert!(wrong.is_empty(), "(text, outdoor, got, want): {wrong:#?}");
    }

    #[test]
    fn shop_words_and_known_occupants() {
        let mut c = ctx(Some(60.0));
        assert_eq!(triage("no heat", &c), Triage::Routine(RoutineKind::NoHeat));
        c.extra_vulnerable_words = vec!["dialysis".into(), "heart surgery".into()];
        assert_eq!(
            triage("no heat he just had heart surgery", &c),
            Triage::Emergency(NoHeat)
        );
        c.extra_vulnerable_words.clear();
        c.vulnerable_occupant = true;
        assert_eq!(triage("no heat", &c), Triage::Emergency(NoHeat));
    }

    #[test]
    fn routine_work() {
        use RoutineKind::*;
        let cases: &[(&str, Triage)] = &[
            ("i need a tune up", Triage::Routine(Maintenance)),
            ("annual maintenance please", Triage::Routine(Maintenance)),
            (
                "the furnace is making a banging noise",
                Triage::Routine(Noise),
            ),
            ("the outside unit is really loud", Triage::Routine(Noise)),
            ("my thermostat screen is blank", Triage::Routine(Thermostat)),
            ("i want a quote for a new system", Triage::Routine(Other)),
            ("hello", Triage::Unclear),
            ("", Triage::Unclear),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .map(|(text, want)| (text, triage(text, &ctx(Some(60.0))), *want))
            .filter(|(_, got, want)| got != want)
            .collect();
        assert!(wrong.is_empty(), "(text, got, want): {wrong:#?}");
        assert!(Triage::Routine(NoHeat).is_urgent());
        assert!(!Triage::Routine(Noise).is_urgent());
    }

    #[test]
    fn symptom_words_are_single_lowercase_words() {
        let words = symptom_words();
        assert!(words.contains(&"gas") && words.contains(&"monoxide"));
        assert!(words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '\'')));
    }
}
