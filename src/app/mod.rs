//! The composition root: the one place that knows every layer. It opens the stores, starts
//! every long-running service under the supervisor, hands answered calls to their call flow,
//! and holds the bodies of the command-line subcommands (`main.rs` only parses).
//!
//! - `run` — `callbox run`: stores, services, SIP, calls.
//! - `flow` — the call flow prepared at start-up; `calls` — one answered call and its record.
//! - `services` — compaction, alerts, sync as supervised services; `supervisor` runs them and
//!   keeps their status; `status` — the shared status handle and `<data_dir>/run/status.json`.
//! - `notify` — systemd's notify protocol (READY, WATCHDOG, STOPPING, STATUS).
//! - `lookup` — the ServiceTitan cache served through the dialog's and the alerts' traits.
//! - `simulate` — `callbox simulate`: the real engine, queue and cache from stdin.
//! - `pager` — page calls over the shop's line (the alert layer's `PhonePager`).
//! - `call_pages` — who took a call's on-call page, noted in the caller's call record.
//! - `update` — what `callbox update apply` asks of the running box (idle, restart, health).
//! - `commands` — one function per subcommand.

pub mod bridge;
pub mod call_pages;
mod calls;
pub mod commands;
pub mod console;
mod flow;
pub mod housekeeping;
pub mod logging;
pub mod lookup;
pub mod notify;
pub mod pager;
mod run;
mod services;
pub mod shutdown;
pub mod simulate;
pub mod sms;
mod speech_pool;
pub mod status;
mod stores;
pub mod supervisor;
pub mod survey;
pub mod survey_call;
pub mod update;
pub mod weather;

pub use logging::init_logging;
pub use run::run;
