//! The caller's name, said ("my name is john smith") or spelled ("j o h n").

/// The caller's name, title-cased.
pub fn person_name(_text: &str) -> Option<String> {
    None
}
