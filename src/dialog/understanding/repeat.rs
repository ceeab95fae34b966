//! A repeat call: the problem the caller describes is the one an upcoming visit is already
//! booked for ("no heat" again while a no-heat job is queued or on ServiceTitan's schedule).
//!
//! Two problems are the same when they are the same kind of work, whatever the urgency (a
//! no-heat call that was routine at noon and is an emergency at night is still one job). The
//! booked visit is known by its summary: the box's own trade summary for a job it queued ("no
//! heat, furnace blowing cold air"), or ServiceTitan's summary for a job the office booked;
//! either is triaged with the same rules as the caller's words. Maintenance is never a repeat
//! of a repair (a tune-up and a repair are different visits), and "something else" is never
//! the same as anything.

use super::triage::{triage, EmergencyKind, RoutineKind, Triage, TriageContext};

/// The kind of work a call is about, without its urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    NoHeat,
    NoCooling,
    Leak,
    Noise,
    Thermostat,
    Maintenance,
}

/// The kind of work of a triage result; `None` for a hazard (the safety script, never a
/// booking), for "other" and for what triage could not place.
pub fn problem_kind(t: Triage) -> Option<ProblemKind> {
    Some(match t {
        Triage::Emergency(EmergencyKind::NoHeat) | Triage::Routine(RoutineKind::NoHeat) => {
            ProblemKind::NoHeat
        }
        Triage::Emergency(EmergencyKind::NoCooling) | Triage::Routine(RoutineKind::NoCooling) => {
            ProblemKind::NoCooling
        }
        Triage::Emergency(EmergencyKind::WaterLeak) => ProblemKind::Leak,
        Triage::Routine(RoutineKind::Noise) => ProblemKind::Noise,
        Triage::Routine(RoutineKind::Thermostat) => ProblemKind::Thermostat,
        Triage::Routine(RoutineKind::Maintenance) => ProblemKind::Maintenance,
        Triage::Routine(RoutineKind::Other) | Triage::Safety(_) | Triage::Unclear => return None,
    })
}

/// The kind of work a booked visit's summary describes.
pub fn booked_kind(summary: &str) -> Option<ProblemKind> {
    // Only the words matter: no weather, no thresholds, nobody vulnerable.
    let neutral = TriageContext {
        outdoor_temp_f: None,
        outdoor_measured: false,
        cold_threshold_f: f32::MIN,
        hot_threshold_f: f32::MAX,
        vulnerable_occupant: false,
        extra_vulnerable_words: Vec::new(),
    };
    problem_kind(triage(summary, &neutral))
}

/// Whether the caller's problem (`heard`) is the repair a visit with `booked_summary` is
/// already for. Maintenance is left to the booking (it gets its own day, never a repeat).
pub fn is_repeat(heard: Triage, booked_summary: &str) -> bool {
    match problem_kind(heard) {
        None | Some(ProblemKind::Maintenance) => false,
        Some(kind) => booked_kind(booked_summary) == Some(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_kind_of_work_is_a_repeat_whatever_the_urgency() {
        let routine = Triage::Routine(RoutineKind::NoHeat);
        let emergency = Triage::Emergency(EmergencyKind::NoHeat);
        for summary in [
            "no heat, furnace blowing cold air",
            "no heat",
            "furnace not heating",
            "heat pump blowing cold air",
        ] {
            assert!(is_repeat(routine, summary), "{summary}");
            assert!(is_repeat(emergency, summary), "{summary}");
        }
        assert!(is_repeat(
            Triage::Routine(RoutineKind::Noise),
            "furnace banging noise"
        ));
        assert!(is_repeat(
            Triage::Emergency(EmergencyKind::WaterLeak),
            "AC leaking water"
        ));
        assert!(is_repeat(
            Triage::Routine(RoutineKind::Thermostat),
            "thermostat display blank"
        ));
    }

    #[test]
    fn another_kind_of_work_is_not_a_repeat() {
        let no_heat = Triage::Routine(RoutineKind::NoHeat);
        assert!(!is_repeat(no_heat, "AC not cooling"));
        assert!(!is_repeat(no_heat, "furnace tune-up"));
        assert!(!is_repeat(no_heat, "furnace banging noise"));
        assert!(!is_repeat(no_heat, ""));
        assert!(!is_repeat(
            Triage::Routine(RoutineKind::Noise),
            "no heat, furnace blowing cold air"
        ));
    }

    #[test]
    fn maintenance_and_other_are_never_repeats() {
        assert_eq!(
            booked_kind("furnace tune-up"),
            Some(ProblemKind::Maintenance)
        );
        assert!(!is_repeat(
            Triage::Routine(RoutineKind::Maintenance),
            "furnace tune-up"
        ));
        assert!(!is_repeat(
            Triage::Routine(RoutineKind::Other),
            "something else is wrong with my system"
        ));
        assert!(!is_repeat(Triage::Unclear, "no heat"));
    }
}
