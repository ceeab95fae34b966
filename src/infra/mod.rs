//! Plumbing every layer may use and that imports nothing of the crate: the data partition's
//! free space and the queue's reserve, private files and folders, callers' numbers and
//! names masked in the log.

pub mod disk;
pub mod private;
pub mod redact;
