//! What the texts must remember across restarts, in `<data_dir>/sms/`:
//!
//! - `opt-out.json` — every number that said STOP (or that the gateway reports unsubscribed),
//!   until it says START. Kept forever: a text to a number that opted out is a legal problem.
//! - `sent.json` — the ledger: per message key, whether the text is in doubt (sent, answer
//!   never recorded), known not sent, sent, or given up. A key marked sent is never sent again.
//!
//! Both are replaced whole with `infra::fs::write_atomic` (fsynced, renamed) after every
//! change, before the change is acted on. A file that does not parse is an error, never an
//! empty list: no texts go out rather than one to a number that opted out, or one twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::SmsError;
use crate::infra::fs::{create_private_dir_all, write_atomic};

const OPT_OUT_FILE: &str = "opt-out.json";
const LEDGER_FILE: &str = "sent.json";

/// One number that asked for no more texts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    pub at: DateTime<Utc>,
    /// How it was recorded: "sms" (an inbound STOP), "gateway" (the gateway refused: the
    /// number unsubscribed there), "cli", "page".
    pub how: String,
}

/// Where one message stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TextState {
    /// Handed to the gateway and no answer recorded: it may have gone out. The next attempt
    /// asks the gateway first (Twilio) or repeats the idempotency key (webhook).
    InDoubt,
    /// The gateway answered that it did not take it (5xx, 429): safe to send again.
    NotSent,
    /// The gateway took it.
    Sent { gateway_id: Option<String> },
    /// The gateway refused it for good (not a mobile number, invalid, opted out there).
    GaveUp { reason: String },
}

/// One message in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// E.164.
    pub to: String,
    pub state: TextState,
    pub attempts: u32,
    pub first_attempt_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub last_error: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct OptOutFile {
    version: u32,
    numbers: BTreeMap<String, OptOut>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LedgerFile {
    version: u32,
    messages: BTreeMap<String, LedgerEntry>,
}

/// See the module docs. The files are the truth: every operation reads them under an
/// exclusive lock (`<dir>/lock`, flock), so `callbox sms opt-out` run beside the daemon is
/// never overwritten by it.
#[derive(Debug)]
pub struct SmsStore {
    dir: PathBuf,
    local: Mutex<()>,
}

/// Both files, read under the lock.
struct Locked<'a> {
    store: &'a SmsStore,
    _file: std::fs::File,
    _local: std::sync::MutexGuard<'a, ()>,
}

impl Locked<'_> {
    fn opt_outs(&self) -> Result<OptOutFile, SmsError> {
        read(&self.store.dir.join(OPT_OUT_FILE))
    }
    fn ledger(&self) -> Result<LedgerFile, SmsError> {
        read(&self.store.dir.join(LEDGER_FILE))
    }
    fn save_opt_outs(&self, f: &OptOutFile) -> Result<(), SmsError> {
        write(&self.store.dir.join(OPT_OUT_FILE), f)
    }
    fn save_ledger(&self, f: &LedgerFile) -> Result<(), SmsError> {
        write(&self.store.dir.join(LEDGER_FILE), f)
    }
}

impl SmsStore {
    /// Opens (creating) the store in `dir`; fails when a file does not parse.
    pub fn open(dir: &Path) -> Result<SmsStore, SmsError> {
        create_private_dir_all(dir).map_err(|e| store_error("creating", dir, &e))?;
        let store = SmsStore {
            dir: dir.to_path_buf(),
            local: Mutex::new(()),
        };
        {
            let l = store.lock()?;
            l.opt_outs()?;
            l.ledger()?;
        }
        Ok(store)
    }

    fn lock(&self) -> Result<Locked<'_>, SmsError> {
        let local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(crate::infra::fs::PRIVATE_FILE_MODE)
            .open(&path)
            .map_err(|e| store_error("opening", &path, &e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| store_error("locking", &path, &e.into()))?;
        Ok(Locked {
            store: self,
            _file: file,
            _local: local,
        })
    }

    /// Whether `number` opted out; a store that cannot be read is an error.
    pub fn opted_out(&self, number: &str) -> Result<bool, SmsError> {
        Ok(self.lock()?.opt_outs()?.numbers.contains_key(number))
    }

    /// Whether `number` opted out. A store that cannot be read answers yes: no text then.
    pub fn is_opted_out(&self, number: &str) -> bool {
        self.lock()
            .and_then(|l| l.opt_outs())
            .map(|f| f.numbers.contains_key(number))
            .unwrap_or(true)
    }

    /// Every opted-out number, for `callbox sms opt-outs`.
    pub fn opt_outs(&self) -> Result<Vec<(String, OptOut)>, SmsError> {
        Ok(self.lock()?.opt_outs()?.numbers.into_iter().collect())
    }

    /// Records that `number` (E.164) wants no more texts; durable when it returns. `false`
    /// when it already had.
    pub fn opt_out(&self, number: &str, at: DateTime<Utc>, how: &str) -> Result<bool, SmsError> {
        let l = self.lock()?;
        let mut f = l.opt_outs()?;
        if f.numbers.contains_key(number) {
            return Ok(false);
        }
        f.version = 1;
        f.numbers.insert(
            number.to_string(),
            OptOut {
                at,
                how: how.to_string(),
            },
        );
        l.save_opt_outs(&f)?;
        Ok(true)
    }

    /// `number` said START: texts may go to it again. `false` when it had not opted out.
    pub fn opt_in(&self, number: &str) -> Result<bool, SmsError> {
        let l = self.lock()?;
        let mut f = l.opt_outs()?;
        if f.numbers.remove(number).is_none() {
            return Ok(false);
        }
        l.save_opt_outs(&f)?;
        Ok(true)
    }

    /// The ledger's entry for `key`. A store that cannot be read is an error.
    pub fn entry(&self, key: &str) -> Result<Option<LedgerEntry>, SmsError> {
        Ok(self.lock()?.ledger()?.messages.remove(key))
    }

    /// An attempt is about to hand `key` to the gateway: noted durably as in doubt first.
    pub fn begin(&self, key: &str, to: &str, now: DateTime<Utc>) -> Result<LedgerEntry, SmsError> {
        self.change(key, |old| {
            let mut e = old.unwrap_or(LedgerEntry {
                to: to.to_string(),
                state: TextState::NotSent,
                attempts: 0,
                first_attempt_at: now,
                updated_at: now,
                last_error: None,
            });
            e.state = TextState::InDoubt;
            e.attempts = e.attempts.saturating_add(1);
            e.updated_at = now;
            e
        })
    }

    /// What came of the attempt on `key`.
    pub fn finish(
        &self,
        key: &str,
        state: TextState,
        error: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<LedgerEntry, SmsError> {
        self.change(key, move |old| {
            let mut e = old.unwrap_or(LedgerEntry {
                to: String::new(),
                state: TextState::NotSent,
                attempts: 0,
                first_attempt_at: now,
                updated_at: now,
                last_error: None,
            });
            e.state = state;
            e.last_error = error;
            e.updated_at = now;
            e
        })
    }

    /// Forgets ledger entries last changed before `before` (the keys they hold can no longer
    /// come back: the booking texter ignores records older than that). Returns how many.
    pub fn prune(&self, before: DateTime<Utc>) -> Result<usize, SmsError> {
        let l = self.lock()?;
        let mut f = l.ledger()?;
        let n = f.messages.len();
        f.messages
            .retain(|_, e| e.updated_at >= before || e.state == TextState::InDoubt);
        let removed = n - f.messages.len();
        if removed > 0 {
            l.save_ledger(&f)?;
        }
        Ok(removed)
    }

    fn change(
        &self,
        key: &str,
        f: impl FnOnce(Option<LedgerEntry>) -> LedgerEntry,
    ) -> Result<LedgerEntry, SmsError> {
        let l = self.lock()?;
        let mut ledger = l.ledger()?;
        let entry = f(ledger.messages.remove(key));
        ledger.version = 1;
        ledger.messages.insert(key.to_string(), entry.clone());
        l.save_ledger(&ledger)?;
        Ok(entry)
    }
}

fn read<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T, SmsError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            SmsError::Store(format!(
                "{} does not parse ({e}); no texts are sent until it is fixed or removed",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(store_error("reading", path, &e)),
    }
}

fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), SmsError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| SmsError::Store(format!("encoding {}: {e}", path.display())))?;
    write_atomic(path, &bytes).map_err(|e| store_error("writing", path, &e))
}

fn store_error(what: &str, path: &Path, e: &std::io::Error) -> SmsError {
    SmsError::Store(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn opt_outs_and_the_ledger_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SmsStore::open(dir.path()).expect("open");
        assert!(store
            .opt_out("+13125550142", t("2026-01-14T03:00:00Z"), "sms")
            .expect("stop"));
        assert!(!store
            .opt_out("+13125550142", t("2026-01-14T04:00:00Z"), "cli")
            .expect("again"));
        store
            .begin("booking-1", "+13125550199", t("2026-01-14T03:00:00Z"))
            .expect("begin");
        drop(store);
        let store = SmsStore::open(dir.path()).expect("reopen");
        assert!(store.is_opted_out("+13125550142"));
        assert_eq!(store.opt_outs().expect("read")[0].1.how, "sms");
        let e = store.entry("booking-1").expect("read").expect("kept");
        assert_eq!(e.state, TextState::InDoubt);
        assert_eq!(e.attempts, 1);
        assert!(store.opt_in("+13125550142").expect("start"));
        assert!(!store.is_opted_out("+13125550142"));
    }

    #[test]
    fn two_handles_on_one_directory_see_each_others_changes() {
        // `callbox sms opt-out` beside the running box: neither overwrites the other.
        let dir = tempfile::tempdir().expect("tempdir");
        let daemon = SmsStore::open(dir.path()).expect("open");
        let cli = SmsStore::open(dir.path()).expect("open");
        daemon
            .begin("k", "+13125550142", t("2026-01-14T03:00:00Z"))
            .expect("begin");
        cli.opt_out("+13125550199", t("2026-01-14T03:00:00Z"), "cli")
            .expect("stop");
        daemon
            .finish(
                "k",
                TextState::Sent { gateway_id: None },
                None,
                t("2026-01-14T03:00:01Z"),
            )
            .expect("sent");
        assert!(daemon.is_opted_out("+13125550199"));
        assert!(cli.entry("k").expect("read").is_some());
        assert_eq!(
            SmsStore::open(dir.path())
                .expect("open")
                .opt_outs()
                .expect("read")
                .len(),
            1
        );
    }

    #[test]
    fn a_damaged_opt_out_file_stops_every_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(OPT_OUT_FILE), b"{\"numbers\": [").expect("write");
        let err = SmsStore::open(dir.path()).expect_err("must not open");
        assert!(err.to_string().contains("opt-out.json"), "{err}");
    }

    #[test]
    fn prune_keeps_recent_and_in_doubt_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SmsStore::open(dir.path()).expect("open");
        let old = t("2026-01-01T00:00:00Z");
        store.begin("a", "+13125550142", old).expect("begin");
        store
            .finish("a", TextState::Sent { gateway_id: None }, None, old)
            .expect("sent");
        store.begin("b", "+13125550142", old).expect("in doubt");
        store
            .begin("c", "+13125550142", t("2026-02-01T00:00:00Z"))
            .expect("recent");
        assert_eq!(store.prune(t("2026-01-15T00:00:00Z")).expect("prune"), 1);
        assert!(store.entry("a").expect("read").is_none());
        assert!(store.entry("b").expect("read").is_some());
        assert!(store.entry("c").expect("read").is_some());
    }
}
