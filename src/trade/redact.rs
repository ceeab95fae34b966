//! Callers' numbers and names as the log shows them: masked by default (`***0142`, `J. D.`),
//! in full only when `log.full_numbers` is on for debugging. The call records keep them whole;
//! the log is read by more people, and kept in more places, than the data directory.

use std::sync::atomic::{AtomicBool, Ordering};

static FULL_NUMBERS: AtomicBool = AtomicBool::new(false);

/// Turns full numbers and names in the log on or off (`log.full_numbers`), process-wide.
pub fn show_full_numbers(on: bool) {
    FULL_NUMBERS.store(on, Ordering::Relaxed);
}

fn full() -> bool {
    FULL_NUMBERS.load(Ordering::Relaxed)
}

/// A caller's number for the log: `(withheld)` when there is none.
pub fn number(number: Option<&str>) -> String {
    match number {
        None => "(withheld)".into(),
        Some(n) if full() => n.to_string(),
        Some(n) => mask_number(n),
    }
}

/// A caller's display name for the log.
pub fn name(name: Option<&str>) -> String {
    match name {
        None => String::new(),
        Some(n) if full() => n.to_string(),
        Some(n) => initials(n),
    }
}

/// Keys a caller pressed: a short menu choice as it is, a longer entry (a phone number, a ZIP)
/// masked like a number.
pub fn keys(keys: &str) -> String {
    if full() || keys.chars().count() <= 4 {
        keys.to_string()
    } else {
        mask_number(keys)
    }
}

/// What a caller said (it may hold their name, number or address): the words only with full
/// numbers on, else how many there were.
pub fn speech(text: &str) -> String {
    if full() {
        text.to_string()
    } else {
        format!("[{} words]", text.split_whitespace().count())
    }
}

/// `***` and the last four digits; `***` alone when there are no more than four
/// ([`crate::trade::phone::masked`], the one rule).
pub fn mask_number(number: &str) -> String {
    crate::trade::phone::masked(number)
}

/// `Jane Q. Doe` → `J. Q. D.`.
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|word| word.chars().find(|c| c.is_alphanumeric()))
        .map(|c| format!("{}.", c.to_uppercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_last_four_digits() {
        assert_eq!(mask_number("+13125550142"), "***0142");
        assert_eq!(mask_number("(312) 555-0142"), "***0142");
        assert_eq!(mask_number("0142"), "***");
        assert_eq!(mask_number(""), "***");
    }

    #[test]
    fn names_become_initials() {
        assert_eq!(initials("Jane Q. Doe"), "J. Q. D.");
        assert_eq!(initials("  \"o'brien\"  "), "O.");
        assert_eq!(initials(""), "");
    }

    #[test]
    fn the_switch_shows_them_whole() {
        // One test touches the process-wide switch, so tests cannot race on it.
        show_full_numbers(false);
        assert_eq!(number(Some("+13125550142")), "***0142");
        assert_eq!(name(Some("Jane Doe")), "J. D.");
        assert_eq!(keys("2"), "2");
        assert_eq!(keys("5125550142"), "***0142");
        assert_eq!(speech("my name is jane doe"), "[5 words]");
        assert_eq!(number(None), "(withheld)");
        show_full_numbers(true);
        assert_eq!(number(Some("+13125550142")), "+13125550142");
        assert_eq!(name(Some("Jane Doe")), "Jane Doe");
        assert_eq!(keys("5125550142"), "5125550142");
        assert_eq!(speech("my name is jane doe"), "my name is jane doe");
        show_full_numbers(false);
    }
}
